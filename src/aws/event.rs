//! The Lambda's input (S3 event notifications) and output (what happened per record).

use aws_lambda_events::event::s3::{S3Event, S3EventRecord};
use serde::{Deserialize, Serialize};

/// One object named by an event record (key already URL-decoded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRef {
    pub bucket: String,
    pub key: String,
    pub event_name: String,
}

/// What the handler did with one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordStatus {
    /// Analysed and stored.
    Processed,
    /// Analysed as far as the file allowed; the file itself is malformed (the report,
    /// stored in `results/`, says why). Retrying would not help.
    FileError,
    /// Not for gridwatch (outside `raw/`, not an object-created event, a test event), or a
    /// shard's order of an upload since replaced.
    Ignored,
    /// Too large for one invocation: split into shards, one order each under `work/`
    /// (see [`crate::store::fanout`]); each order's invocation analyses its shard.
    Sharded,
    /// Could not be processed (S3/DynamoDB/SNS failure, unreadable record): retry.
    Failed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct RecordResult {
    pub index: usize,
    #[serde(default)]
    pub bucket: String,
    #[serde(default)]
    pub key: String,
    pub status: Option<RecordStatus>,
    /// One line for the operator: what happened, or the error.
    pub message: String,
    #[serde(default)]
    pub bytes: u64,
    #[serde(default)]
    pub rows_read: u64,
    #[serde(default)]
    pub rows_rejected: u64,
    #[serde(default)]
    pub rollups_written: u64,
    #[serde(default)]
    pub alerts: u64,
    /// Alerts notified by this invocation (0 when the event is delivered again).
    #[serde(default)]
    pub new_alerts: u64,
    #[serde(default)]
    pub locations: Vec<String>,
    #[serde(default)]
    pub results_key: Option<String>,
    #[serde(default)]
    pub rejected_key: Option<String>,
    #[serde(default)]
    pub duration_ms: f64,
    /// Where the time went: `stream_and_rollups` (read, parse, analyse, BatchWriteItem),
    /// `history`, `forecast`, `alerts`, `index`, `s3_outputs` (milliseconds).
    #[serde(default)]
    pub phases_ms: std::collections::BTreeMap<String, f64>,
}

/// The Lambda's response: one entry per event record, in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct EventResponse {
    pub records: Vec<RecordResult>,
    /// Set on a container's first invocation: milliseconds from process start to ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_ms: Option<f64>,
    #[serde(default)]
    pub cold_start: bool,
}

impl EventResponse {
    pub fn count(&self, status: RecordStatus) -> usize {
        self.records.iter().filter(|r| r.status == Some(status)).count()
    }
    pub fn any_failed(&self) -> bool {
        self.count(RecordStatus::Failed) > 0
    }
    /// One line: "3 record(s): 2 processed, 1 ignored".
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        for (status, name) in [
            (RecordStatus::Processed, "processed"),
            (RecordStatus::FileError, "malformed"),
            (RecordStatus::Ignored, "ignored"),
            (RecordStatus::Sharded, "split into shards"),
            (RecordStatus::Failed, "failed"),
        ] {
            let n = self.count(status);
            if n > 0 {
                parts.push(format!("{n} {name}"));
            }
        }
        format!("{} record(s): {}", self.records.len(), if parts.is_empty() { "none".into() } else { parts.join(", ") })
    }
}

/// Reads the records of an event leniently: each record on its own, so one malformed
/// record does not hide the others. `Err` carries why a record is unusable.
pub fn records(event: &serde_json::Value) -> Result<Vec<Result<ObjectRef, String>>, String> {
    if event.get("Event").and_then(|e| e.as_str()) == Some("s3:TestEvent") {
        return Ok(Vec::new());
    }
    let list = event
        .get("Records")
        .and_then(|r| r.as_array())
        .ok_or_else(|| "the event has no \"Records\" array: not an S3 event notification".to_string())?;
    Ok(list.iter().map(record).collect())
}

fn record(value: &serde_json::Value) -> Result<ObjectRef, String> {
    let (bucket, raw_key, event_name) = match serde_json::from_value::<S3EventRecord>(value.clone()) {
        Ok(r) => (r.s3.bucket.name, r.s3.object.key, r.event_name.unwrap_or_default()),
        Err(_) => {
            let s3 = value.get("s3");
            let text = |v: Option<&serde_json::Value>| v.and_then(|v| v.as_str()).map(str::to_string);
            (
                text(s3.and_then(|s| s.get("bucket")).and_then(|b| b.get("name"))),
                text(s3.and_then(|s| s.get("object")).and_then(|o| o.get("key"))),
                text(value.get("eventName")).unwrap_or_default(),
            )
        }
    };
    let bucket = bucket.filter(|b| !b.is_empty()).ok_or("the record names no bucket (s3.bucket.name)")?;
    let raw_key = raw_key.filter(|k| !k.is_empty()).ok_or("the record names no object key (s3.object.key)")?;
    let key = super::s3io::decode_event_key(&raw_key).map_err(|e| e.to_string())?;
    Ok(ObjectRef { bucket, key, event_name })
}

/// An `ObjectCreated:Put` event for objects, shaped like S3's own notifications (keys
/// URL-encoded). The dashboard's reprocess invokes the Lambda with it.
pub fn put_event(bucket: &str, keys: &[&str]) -> S3Event {
    let mut event = S3Event::default();
    for key in keys {
        let mut r = S3EventRecord::default();
        r.event_version = Some("2.1".into());
        r.event_source = Some("aws:s3".into());
        r.event_time = chrono::Utc::now();
        r.event_name = Some("ObjectCreated:Put".into());
        r.s3.schema_version = Some("1.0".into());
        r.s3.configuration_id = Some("gridwatch-reprocess".into());
        r.s3.bucket.name = Some(bucket.into());
        r.s3.bucket.arn = Some(format!("arn:aws:s3:::{bucket}"));
        r.s3.object.key = Some(super::s3io::encode_event_key(key));
        event.records.push(r);
    }
    event
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_records_one_by_one() {
        let mut value = serde_json::to_value(put_event("b", &["raw/a b.csv", "results/x.json"])).unwrap();
        value["Records"].as_array_mut().unwrap().push(serde_json::json!({"s3": {"bucket": {"name": "b"}}}));
        value["Records"].as_array_mut().unwrap().push(serde_json::json!({"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": "b"}, "object": {"key": "raw/minimal.csv"}}}));
        let recs = records(&value).unwrap();
        assert_eq!(recs.len(), 4);
        assert_eq!(recs[0].as_ref().unwrap().key, "raw/a b.csv");
        assert_eq!(recs[0].as_ref().unwrap().event_name, "ObjectCreated:Put");
        assert!(recs[2].as_ref().unwrap_err().contains("object key"));
        assert_eq!(recs[3].as_ref().unwrap().key, "raw/minimal.csv");
        assert!(records(&serde_json::json!({"x": 1})).is_err());
        assert!(records(&serde_json::json!({"Event": "s3:TestEvent"})).unwrap().is_empty());
    }
}
