//! S3 I/O: a streaming reader for the engine (never buffers a whole object) and uploads
//! (single PutObject for small bodies, multipart above a threshold).

use super::error_text;
use crate::store::object_keys;
use anyhow::{anyhow, bail, Result};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use aws_sdk_s3::Client;
use std::io::Read;
use std::path::Path;
use std::pin::Pin;
use tokio::io::AsyncBufRead;
use tokio_util::io::SyncIoBridge;

/// Part size of multipart uploads (S3's minimum is 5 MiB).
pub const DEFAULT_PART_SIZE: u64 = 8 * 1024 * 1024;
/// Bodies above this size are uploaded in parts.
pub const MULTIPART_THRESHOLD: u64 = 16 * 1024 * 1024;
/// How many times a broken download is resumed before the read fails.
const MAX_RESUMES: u32 = 5;

/// The content type of a data file, from its name. Gzip files stay `application/gzip`
/// (no Content-Encoding: clients must not decompress them on download).
pub fn content_type_for(name: &str) -> &'static str {
    let lower = name.to_ascii_lowercase();
    if lower.ends_with(".gz") {
        "application/gzip"
    } else if lower.ends_with(".csv") {
        "text/csv"
    } else if lower.ends_with(".jsonl") || lower.ends_with(".ndjson") {
        "application/x-ndjson"
    } else if lower.ends_with(".json") {
        "application/json"
    } else {
        "application/octet-stream"
    }
}

type Body = Pin<Box<dyn AsyncBufRead + Send>>;

/// A blocking [`Read`] over an S3 object for the engine, to be used on a blocking thread
/// (`spawn_blocking`). The body streams through [`SyncIoBridge`]; when the connection
/// breaks, the read resumes with a ranged GET pinned to the object's ETag.
pub struct S3Reader {
    client: Client,
    bucket: String,
    key: String,
    etag: Option<String>,
    length: Option<u64>,
    position: u64,
    resumes: u32,
    handle: tokio::runtime::Handle,
    body: SyncIoBridge<Body>,
}

impl std::fmt::Debug for S3Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Reader").field("bucket", &self.bucket).field("key", &self.key).field("position", &self.position).finish()
    }
}

impl S3Reader {
    /// Starts the download (in async context: errors such as NoSuchKey show here).
    pub async fn open(client: &Client, bucket: &str, key: &str) -> Result<Self> {
        let out = client
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| anyhow!("cannot read s3://{bucket}/{key}: {}", error_text(&e)))?;
        let length = out.content_length().and_then(|l| u64::try_from(l).ok());
        let etag = out.e_tag().map(str::to_string);
        let body: Body = Box::pin(out.body.into_async_read());
        let handle = tokio::runtime::Handle::current();
        Ok(Self {
            client: client.clone(),
            bucket: bucket.into(),
            key: key.into(),
            etag,
            length,
            position: 0,
            resumes: 0,
            body: SyncIoBridge::new_with_handle(body, handle.clone()),
            handle,
        })
    }

    pub fn length(&self) -> Option<u64> {
        self.length
    }

    fn resume(&mut self) -> std::io::Result<()> {
        let mut request = self.client.get_object().bucket(&self.bucket).key(&self.key).range(format!("bytes={}-", self.position));
        if let Some(etag) = &self.etag {
            request = request.if_match(etag);
        }
        let out = self
            .handle
            .block_on(request.send())
            .map_err(|e| std::io::Error::other(format!("cannot resume s3://{}/{}: {}", self.bucket, self.key, error_text(&e))))?;
        let body: Body = Box::pin(out.body.into_async_read());
        self.body = SyncIoBridge::new_with_handle(body, self.handle.clone());
        Ok(())
    }
}

impl Read for S3Reader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            match self.body.read(buf) {
                Ok(n) => {
                    if n == 0 && self.length.is_some_and(|len| self.position < len) && self.resumes < MAX_RESUMES {
                        // Early end of stream: the connection was cut.
                        self.resumes += 1;
                        self.resume()?;
                        continue;
                    }
                    self.position += n as u64;
                    return Ok(n);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) if self.resumes < MAX_RESUMES && self.length.is_some() => {
                    tracing::warn!(bucket = %self.bucket, key = %self.key, position = self.position, error = %e, "download broke; resuming");
                    self.resumes += 1;
                    self.resume()?;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// Stores a small body in one PutObject.
pub async fn put_bytes(client: &Client, bucket: &str, key: &str, body: Vec<u8>, content_type: &str) -> Result<()> {
    object_keys::validate_key(key)?;
    client
        .put_object()
        .bucket(bucket)
        .key(key)
        .content_type(content_type)
        .body(ByteStream::from(body))
        .send()
        .await
        .map_err(|e| anyhow!("cannot write s3://{bucket}/{key}: {}", error_text(&e)))?;
    Ok(())
}

/// The size of an object, or None when it does not exist.
pub async fn object_size(client: &Client, bucket: &str, key: &str) -> Result<Option<u64>> {
    Ok(object_head(client, bucket, key).await?.map(|(size, _)| size))
}

/// The size and ETag of an object, or None when it does not exist.
pub async fn object_head(client: &Client, bucket: &str, key: &str) -> Result<Option<(u64, String)>> {
    match client.head_object().bucket(bucket).key(key).send().await {
        Ok(out) => {
            let size = out.content_length().and_then(|l| u64::try_from(l).ok()).unwrap_or(0);
            Ok(Some((size, out.e_tag().unwrap_or_default().to_string())))
        }
        Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 404) => Ok(None),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => Ok(None),
        Err(e) => Err(anyhow!("cannot look up s3://{bucket}/{key}: {}", error_text(&e))),
    }
}

/// Deletes a derived object (`results/`, `rejected/`, `work/` only: raw data is never deleted).
pub async fn delete_derived(client: &Client, bucket: &str, key: &str) -> Result<()> {
    object_keys::ensure_derived(key)?;
    client
        .delete_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| anyhow!("cannot delete s3://{bucket}/{key}: {}", error_text(&e)))?;
    Ok(())
}

/// Uploads a local file: one PutObject up to [`MULTIPART_THRESHOLD`], parts of
/// `part_size` above it (the upload is aborted on failure, leaving no orphan parts).
/// `progress` is called with the bytes sent so far.
pub async fn upload_file(
    client: &Client,
    bucket: &str,
    key: &str,
    path: &Path,
    content_type: &str,
    part_size: u64,
    progress: &(dyn Fn(u64) + Send + Sync),
) -> Result<()> {
    object_keys::validate_key(key)?;
    let size = tokio::fs::metadata(path).await.map_err(|e| anyhow!("cannot read {}: {e}", path.display()))?.len();
    let part_size = part_size.max(5 * 1024 * 1024);
    if size <= MULTIPART_THRESHOLD.max(part_size) {
        let body = ByteStream::from_path(path).await.map_err(|e| anyhow!("cannot read {}: {e}", path.display()))?;
        client
            .put_object()
            .bucket(bucket)
            .key(key)
            .content_type(content_type)
            .body(body)
            .send()
            .await
            .map_err(|e| anyhow!("cannot upload {} to s3://{bucket}/{key}: {}", path.display(), error_text(&e)))?;
        progress(size);
        return Ok(());
    }
    let created = client
        .create_multipart_upload()
        .bucket(bucket)
        .key(key)
        .content_type(content_type)
        .send()
        .await
        .map_err(|e| anyhow!("cannot start the upload of {} to s3://{bucket}/{key}: {}", path.display(), error_text(&e)))?;
    let upload_id = created.upload_id().ok_or_else(|| anyhow!("S3 returned no upload id for s3://{bucket}/{key}"))?.to_string();
    let result = upload_parts(client, bucket, key, path, size, part_size, &upload_id, progress).await;
    match result {
        Ok(parts) => {
            client
                .complete_multipart_upload()
                .bucket(bucket)
                .key(key)
                .upload_id(&upload_id)
                .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
                .send()
                .await
                .map_err(|e| anyhow!("cannot complete the upload of s3://{bucket}/{key}: {}", error_text(&e)))?;
            Ok(())
        }
        Err(e) => {
            let _ = client.abort_multipart_upload().bucket(bucket).key(key).upload_id(&upload_id).send().await;
            Err(e)
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn upload_parts(
    client: &Client,
    bucket: &str,
    key: &str,
    path: &Path,
    size: u64,
    part_size: u64,
    upload_id: &str,
    progress: &(dyn Fn(u64) + Send + Sync),
) -> Result<Vec<CompletedPart>> {
    let mut parts = Vec::new();
    let mut offset = 0u64;
    let mut number = 1i32;
    while offset < size {
        let len = part_size.min(size - offset);
        let body = ByteStream::read_from()
            .path(path)
            .offset(offset)
            .length(aws_sdk_s3::primitives::Length::Exact(len))
            .build()
            .await
            .map_err(|e| anyhow!("cannot read {} at byte {offset}: {e}", path.display()))?;
        let out = client
            .upload_part()
            .bucket(bucket)
            .key(key)
            .upload_id(upload_id)
            .part_number(number)
            .content_length(len as i64)
            .body(body)
            .send()
            .await
            .map_err(|e| anyhow!("cannot upload part {number} of {}: {}", path.display(), error_text(&e)))?;
        parts.push(CompletedPart::builder().part_number(number).set_e_tag(out.e_tag().map(str::to_string)).build());
        offset += len;
        number += 1;
        progress(offset);
    }
    Ok(parts)
}

/// Percent-decodes an S3 event key (`+` is a space, as in form encoding).
pub fn decode_event_key(raw: &str) -> Result<String> {
    // percent-encoding passes a malformed escape through as text; S3 never writes one.
    let bytes = raw.as_bytes();
    let bad = (0..bytes.len())
        .find(|&i| bytes[i] == b'%' && !bytes.get(i + 1..i + 3).is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)));
    if let Some(i) = bad {
        bail!("object key {raw:?}: bad percent escape at byte {i}");
    }
    percent_encoding::percent_decode_str(&raw.replace('+', " "))
        .decode_utf8()
        .map(|key| key.into_owned())
        .map_err(|_| anyhow!("object key {raw:?} is not valid UTF-8 once decoded"))
}

/// What S3 leaves unescaped in event keys (a space is written as `+`).
const EVENT_KEY: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~').remove(b'/').remove(b' ');

/// The inverse of [`decode_event_key`], as S3 encodes keys in event notifications.
pub fn encode_event_key(key: &str) -> String {
    percent_encoding::utf8_percent_encode(key, EVENT_KEY).to_string().replace(' ', "+")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_keys_decode_like_s3_encodes_them() {
        assert_eq!(decode_event_key("raw/grid+data%2B1.csv").unwrap(), "raw/grid data+1.csv");
        assert_eq!(decode_event_key("raw/%C3%A9t%C3%A9.csv").unwrap(), "raw/été.csv");
        assert!(decode_event_key("raw/%zz.csv").is_err());
        assert!(decode_event_key("raw/%ff.csv").is_err());
        assert!(decode_event_key("raw/%4").is_err());
        for key in ["raw/a b+c.csv", "raw/été/x=1&y.csv.gz"] {
            assert_eq!(decode_event_key(&encode_event_key(key)).unwrap(), key);
        }
    }

    #[test]
    fn content_types() {
        assert_eq!(content_type_for("a.csv"), "text/csv");
        assert_eq!(content_type_for("a.CSV.gz"), "application/gzip");
        assert_eq!(content_type_for("a.jsonl"), "application/x-ndjson");
    }
}

/// One bucket behind the [`crate::store::ObjectStore`] interface of the processing recipe.
#[derive(Debug, Clone)]
pub struct S3Bucket {
    client: Client,
    bucket: String,
}

impl S3Bucket {
    pub fn new(client: Client, bucket: impl Into<String>) -> Self {
        Self { client, bucket: bucket.into() }
    }
}

fn s3_store_error(e: anyhow::Error) -> crate::store::StoreError {
    use crate::store::StoreError;
    let text = format!("{e:#}");
    if text.contains("SlowDown") || text.contains("Throttl") {
        StoreError::Throttled(text)
    } else if text.contains("NoSuchKey") || text.contains("NoSuchBucket") || text.contains("NotFound") {
        StoreError::NotFound(text)
    } else if text.contains("AccessDenied") {
        StoreError::ReadOnly(text)
    } else if text.contains("refusing") || text.contains("object key") {
        StoreError::Invalid(text)
    } else {
        StoreError::Transient(text)
    }
}

#[async_trait::async_trait]
impl crate::store::ObjectStore for S3Bucket {
    async fn open(&self, key: &str) -> crate::store::StoreResult<(Box<dyn Read + Send>, Option<u64>)> {
        let reader = S3Reader::open(&self.client, &self.bucket, key).await.map_err(s3_store_error)?;
        let len = reader.length();
        Ok((Box::new(reader), len))
    }
    async fn put(&self, key: &str, body: Vec<u8>, content_type: &str) -> crate::store::StoreResult<()> {
        put_bytes(&self.client, &self.bucket, key, body, content_type).await.map_err(s3_store_error)
    }
    async fn put_file(&self, key: &str, path: &Path, content_type: &str) -> crate::store::StoreResult<()> {
        upload_file(&self.client, &self.bucket, key, path, content_type, DEFAULT_PART_SIZE, &|_| {}).await.map_err(s3_store_error)
    }
    async fn delete_derived(&self, key: &str) -> crate::store::StoreResult<()> {
        delete_derived(&self.client, &self.bucket, key).await.map_err(s3_store_error)
    }
    async fn list(&self, prefix: &str) -> crate::store::StoreResult<Vec<String>> {
        let mut keys = Vec::new();
        let mut pages = self.client.list_objects_v2().bucket(&self.bucket).prefix(prefix).into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| s3_store_error(anyhow!("cannot list s3://{}/{prefix}: {}", self.bucket, error_text(&e))))?;
            keys.extend(page.contents().iter().filter_map(|o| o.key().map(str::to_string)));
        }
        keys.sort();
        Ok(keys)
    }
    fn bucket_name(&self) -> &str {
        &self.bucket
    }
}
