//! Shared set-up of the AWS integration tests: real servers on 127.0.0.1 only (moto's
//! server for S3/DynamoDB/SNS/SQS/CloudWatch Logs, `cargo lambda watch` for the Lambda),
//! started by `scripts/test.sh`, which exports their endpoints.
//!
//! Each test makes its own bucket, table, topic and queue (unique names), so tests run in
//! parallel against one moto server without resets.
#![allow(dead_code)]

pub mod fault_proxy;

use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_dynamodb::types::AttributeValue;
use gridwatch::aws::dynamo_table::DynamoTable;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

pub const AWS_ENDPOINT_VAR: &str = "GRIDWATCH_TEST_AWS_ENDPOINT";
pub const LAMBDA_ENDPOINT_VAR: &str = "GRIDWATCH_TEST_LAMBDA_ENDPOINT";

/// The endpoint in `var`, which must be on 127.0.0.1 / localhost. Without it the test is
/// skipped with a note, except under CI (`CI` set), where that is a failure.
pub fn endpoint(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(url) if !url.trim().is_empty() => {
            let url = url.trim().trim_end_matches('/').to_string();
            let host = url.split("://").nth(1).unwrap_or("").split(['/', ':']).next().unwrap_or("");
            assert!(
                host == "127.0.0.1" || host == "localhost",
                "{var}={url}: the AWS tests only talk to servers on this machine (127.0.0.1)"
            );
            Some(url)
        }
        _ => {
            let note = format!("{var} is not set: run scripts/test.sh to start moto and cargo-lambda on 127.0.0.1");
            if std::env::var_os("CI").is_some() {
                panic!("{note} (CI is set, so skipping is a failure)");
            }
            eprintln!("note: skipping: {note}");
            None
        }
    }
}

/// POSTs JSON to one of moto's own endpoints (`/moto-api/...`: queued Athena results and
/// the like), which the SDK has no call for; panics unless moto answers 2xx.
pub fn moto_post(endpoint: &str, path: &str, body: &serde_json::Value) {
    use std::io::{Read, Write};
    let host = endpoint.trim_start_matches("http://");
    let body = body.to_string();
    let mut stream = std::net::TcpStream::connect(host).unwrap();
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 20"), "{response}");
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A name no other test (or earlier run against the same server) uses: lowercase, digits, dashes.
pub fn unique(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_micros()).unwrap_or(0) % 1_000_000_000;
    format!("{prefix}-{}-{t}-{n}", std::process::id())
}

/// SDK configuration for moto: fixed test credentials, us-east-1, the given endpoint.
pub async fn sdk(endpoint: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(gridwatch::aws::sdk::http_client())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(aws_sdk_s3::config::Credentials::new("test", "test", None, None, "gridwatch-tests"))
        .load()
        .await
}

/// One test's resources on moto.
pub struct Env {
    pub endpoint: String,
    pub sdk: SdkConfig,
    pub s3: aws_sdk_s3::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub sns: aws_sdk_sns::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub logs: aws_sdk_cloudwatchlogs::Client,
    pub bucket: String,
    pub table: DynamoTable,
    pub topic_arn: String,
    pub queue_url: String,
}

impl Env {
    /// Bucket, table (with the status index), topic, and a queue subscribed to the topic.
    pub async fn create(endpoint: &str) -> Env {
        let sdk = sdk(endpoint).await;
        let s3 = gridwatch::aws::sdk::s3_client(&sdk);
        let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
        let sns = aws_sdk_sns::Client::new(&sdk);
        let sqs = aws_sdk_sqs::Client::new(&sdk);
        let logs = aws_sdk_cloudwatchlogs::Client::new(&sdk);
        let bucket = unique("gw-bucket");
        s3.create_bucket().bucket(&bucket).send().await.expect("create bucket");
        let table = DynamoTable::new(dynamodb.clone(), unique("GridAnalysis"));
        table.create().await.expect("create table");
        let (topic_arn, queue_url) = topic_with_queue(&sns, &sqs, &unique("gw-alerts")).await;
        Env { endpoint: endpoint.to_string(), sdk, s3, dynamodb, sns, sqs, logs, bucket, table, topic_arn, queue_url }
    }

    pub fn handler_config(&self) -> gridwatch::aws::handler::HandlerConfig {
        gridwatch::aws::handler::HandlerConfig {
            table: self.table.name().to_string(),
            topic_arn: Some(self.topic_arn.clone()),
            analysis: gridwatch::config::AnalysisConfig::default(),
        }
    }

    pub fn pipeline(&self) -> gridwatch::aws::handler::LambdaHandler {
        gridwatch::aws::handler::LambdaHandler::new(&self.sdk, self.handler_config())
    }

    pub async fn put(&self, key: &str, body: impl Into<Vec<u8>>) {
        gridwatch::aws::s3io::put_bytes(&self.s3, &self.bucket, key, body.into(), "text/csv").await.expect("put object");
    }

    pub async fn get(&self, key: &str) -> Option<Vec<u8>> {
        match self.s3.get_object().bucket(&self.bucket).key(key).send().await {
            Ok(out) => Some(out.body.collect().await.expect("read body").into_bytes().to_vec()),
            Err(_) => None,
        }
    }

    /// Every message on the alert queue, unwrapped from SNS's envelope, waiting up to
    /// `wait` for the first one.
    pub async fn alert_messages(&self, wait: std::time::Duration) -> Vec<serde_json::Value> {
        let deadline = std::time::Instant::now() + wait;
        let mut out = Vec::new();
        loop {
            let got = self
                .sqs
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(10)
                .wait_time_seconds(0)
                .send()
                .await
                .expect("receive message");
            let messages = got.messages.unwrap_or_default();
            let empty = messages.is_empty();
            for m in messages {
                let envelope: serde_json::Value = serde_json::from_str(m.body().unwrap_or("{}")).expect("SNS envelope is JSON");
                let inner = envelope.get("Message").and_then(|v| v.as_str()).unwrap_or("{}");
                let mut msg: serde_json::Value = serde_json::from_str(inner).expect("alert message is JSON");
                msg["_subject"] = envelope.get("Subject").cloned().unwrap_or_default();
                // {"priority": {"Type": "String", "Value": "high"}, ...} -> {"priority": "high", ...}
                let attrs = envelope.get("MessageAttributes").and_then(|a| a.as_object()).cloned().unwrap_or_default();
                msg["_attributes"] = attrs.into_iter().map(|(k, v)| (k, v["Value"].clone())).collect::<serde_json::Map<_, _>>().into();
                out.push(msg);
                if let Some(h) = m.receipt_handle() {
                    self.sqs.delete_message().queue_url(&self.queue_url).receipt_handle(h).send().await.expect("delete message");
                }
            }
            if empty && (!out.is_empty() || std::time::Instant::now() >= deadline) {
                return out;
            }
            if empty {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }

    /// Every item of the given partitions plus the index partition, by key (Query only).
    pub async fn dump(&self, locations: &[&str]) -> BTreeMap<(String, String), BTreeMap<String, AttributeValue>> {
        let mut out = BTreeMap::new();
        let mut partitions: Vec<&str> = locations.to_vec();
        partitions.push(gridwatch::store::items::INDEX_PARTITION);
        for p in partitions {
            for item in self.table.partition(p).await.expect("query partition") {
                let key = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
                out.insert((key("location"), key("timestamp")), item.into_iter().collect());
            }
        }
        out
    }
}

/// The S3 event S3 would send for these keys, as the Lambda receives it.
pub fn s3_event(bucket: &str, keys: &[&str]) -> serde_json::Value {
    serde_json::to_value(gridwatch::aws::event::put_event(bucket, keys)).expect("event to JSON")
}

pub const CSV_HEADER: &str = "timestamp,location,load_mw,generation_mw,voltage_kv,frequency_hz,solar_mw,wind_mw";

/// A day of 15-minute readings for two substations; `sub_b` has a voltage sag (12.9 kV)
/// from 10:00 to 11:00, which is one critical undervoltage alert.
pub fn day_csv(day: &str) -> String {
    let mut out = String::from(CSV_HEADER);
    out.push('\n');
    for q in 0..96 {
        let (h, m) = (q / 4, (q % 4) * 15);
        for loc in ["sub_a", "sub_b"] {
            let load = 40.0 + 10.0 * ((q as f64) / 96.0 * std::f64::consts::TAU).sin();
            let v = if loc == "sub_b" && (40..44).contains(&q) { 12.9 } else { 13.8 };
            out.push_str(&format!("{day}T{h:02}:{m:02}:00Z,{loc},{load:.2},{:.2},{v:.3},60.000,5.00,3.00\n", load + 15.0));
        }
    }
    out
}

/// Creates (or finds) an SNS topic and subscribes a new SQS queue to it, so a test can
/// receive what was published. Returns (topic ARN, queue URL).
pub async fn topic_with_queue(sns: &aws_sdk_sns::Client, sqs: &aws_sdk_sqs::Client, topic: &str) -> (String, String) {
    let topic_arn =
        sns.create_topic().name(topic).send().await.expect("create topic").topic_arn().expect("topic arn").to_string();
    let queue_url = sqs
        .create_queue()
        .queue_name(unique(&format!("{topic}-q")))
        .send()
        .await
        .expect("create queue")
        .queue_url()
        .expect("queue url")
        .to_string();
    let queue_arn = sqs
        .get_queue_attributes()
        .queue_url(&queue_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("queue attributes")
        .attributes()
        .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn).cloned())
        .expect("queue arn");
    sns.subscribe().topic_arn(&topic_arn).protocol("sqs").endpoint(queue_arn).send().await.expect("subscribe queue");
    (topic_arn, queue_url)
}
