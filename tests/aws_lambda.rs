//! The Lambda binary running under `cargo lambda watch` (the real runtime API emulator),
//! invoked through aws-sdk-lambda exactly as the dashboard's reprocess does, against
//! moto's S3/DynamoDB/SNS/SQS/CloudWatch Logs. Also measures the Lambda's init time and
//! per-MB processing time under the emulator.
//!
//! `scripts/test.sh` starts cargo-lambda with fixed resource names in the function's
//! environment (GRIDWATCH_TEST_LAMBDA_TABLE / _BUCKET / _TOPIC), builds the function
//! first, and sends one warm-up invocation whose response (with `init_ms`) it keeps in
//! GRIDWATCH_TEST_LAMBDA_WARMUP. Everything using that one function runs in one test.

mod aws_common;

use aws_common::{day_csv, endpoint, Env, AWS_ENDPOINT_VAR, LAMBDA_ENDPOINT_VAR};
use gridwatch::aws::event::{EventResponse, RecordStatus};
use gridwatch::aws::dashboard_store::{AwsStore, AwsStoreOptions};
use gridwatch::aws::dynamo_table::DynamoTable;
use gridwatch::backend::GridStore;
use std::time::{Duration, Instant};

fn var(name: &str, default: &str) -> String {
    std::env::var(name).ok().filter(|v| !v.is_empty()).unwrap_or_else(|| default.to_string())
}

/// The fixed resources the function under cargo-lambda was started with (created here if missing).
async fn lambda_env(aws_endpoint: &str) -> Env {
    let sdk = aws_common::sdk(aws_endpoint).await;
    let s3 = gridwatch::aws::sdk::s3_client(&sdk);
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    let sns = aws_sdk_sns::Client::new(&sdk);
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let logs = aws_sdk_cloudwatchlogs::Client::new(&sdk);
    let bucket = var("GRIDWATCH_TEST_LAMBDA_BUCKET", "gw-lambda-bucket");
    let _ = s3.create_bucket().bucket(&bucket).send().await;
    let table = DynamoTable::new(dynamodb.clone(), var("GRIDWATCH_TEST_LAMBDA_TABLE", "gw-lambda-table"));
    if dynamodb.describe_table().table_name(table.name()).send().await.is_err() {
        table.create().await.expect("create the Lambda's table");
    }
    let (topic_arn, queue_url) = aws_common::topic_with_queue(&sns, &sqs, &var("GRIDWATCH_TEST_LAMBDA_TOPIC", "gw-lambda-alerts")).await;
    Env { endpoint: aws_endpoint.to_string(), sdk, s3, dynamodb, sns, sqs, logs, bucket, table, topic_arn, queue_url }
}

/// A Lambda client for cargo-lambda's Invoke endpoint.
async fn lambda_client(lambda_endpoint: &str) -> aws_sdk_lambda::Client {
    let sdk = aws_common::sdk(lambda_endpoint).await;
    gridwatch::aws::dashboard_store::lambda_client(&sdk)
}

fn store(env: &Env, lambda: aws_sdk_lambda::Client, function: &str, read_only: bool) -> AwsStore {
    AwsStore::from_clients(
        env.dynamodb.clone(),
        lambda,
        AwsStoreOptions {
            table: env.table.name().to_string(),
            function: Some(function.to_string()),
            bucket: Some(env.bucket.clone()),
            read_only,
            label: "(moto + cargo-lambda)".into(),
            ..Default::default()
        },
    )
}

/// Synthetic readings (CSV, from the project's generator).
fn generated_csv(substations: usize, days: u32) -> Vec<u8> {
    use gridwatch::simulator::generator::{write_readings, Generator, GeneratorConfig, DataFormat};
    let generator = Generator::new(GeneratorConfig { substations, days, ..GeneratorConfig::default() });
    let mut out = Vec::new();
    write_readings(DataFormat::Csv, false, generator.readings(), &mut out).unwrap();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lambda_binary_under_cargo_lambda_reprocesses_and_logs() {
    let Some(aws_ep) = endpoint(AWS_ENDPOINT_VAR) else { return };
    let Some(lambda_ep) = endpoint(LAMBDA_ENDPOINT_VAR) else { return };
    let function = var("GRIDWATCH_TEST_LAMBDA_FUNCTION", "gridwatch-lambda");
    let env = lambda_env(&aws_ep).await;
    let lambda = lambda_client(&lambda_ep).await;
    let mut report = Vec::new();
    if let Ok(path) = std::env::var("GRIDWATCH_TEST_LAMBDA_WARMUP")
        && let Ok(text) = std::fs::read_to_string(&path)
    {
        // "<seconds of the first invoke> <response JSON>", written by scripts/test.sh.
        let (secs, json) = text.split_once(' ').unwrap_or(("?", ""));
        let warm: EventResponse = serde_json::from_str(json).expect("warm-up response");
        report.push(format!(
            "LAMBDA init (process start to ready, debug build): {:.1} ms; first invoke round trip {secs} s",
            warm.init_ms.unwrap_or(f64::NAN)
        ));
    }

    // 1. Upload, then the reprocess path: Invoke with an S3 event through the SDK.
    let key = format!("raw/{}/grid_data_2025-01-14.csv", aws_common::unique("run"));
    env.put(&key, day_csv("2025-01-14")).await;
    let store = store(&env, lambda.clone(), &function, false);
    let started = Instant::now();
    let response = store.invoke(&env.bucket, &[&key]).await.expect("invoke");
    let first_ms = started.elapsed().as_secs_f64() * 1000.0;
    assert_eq!(response.records.len(), 1, "{response:?}");
    assert_eq!(response.records[0].status, Some(RecordStatus::Processed), "{response:?}");
    assert_eq!(response.records[0].rollups_written, 48);
    if let Some(init) = response.init_ms {
        report.push(format!("LAMBDA init (cold container, this invoke): {init:.1} ms"));
    }
    report.push(format!("LAMBDA small file ({} bytes) invoke round trip: {first_ms:.0} ms", day_csv("2025-01-14").len()));
    let messages = env.alert_messages(Duration::from_secs(5)).await;
    assert!(messages.iter().any(|m| m["source"] == format!("s3://{}/{key}", env.bucket)), "{messages:?}");
    assert!(env.get(&gridwatch::store::object_keys::results_key(&key)).await.is_some());

    // 2. The dashboard's `r`: finds the substation's latest raw object in the index and
    //    invokes the Lambda with it; the alert is not published again.
    let done = store.reprocess("sub_b").await.expect("reprocess");
    assert!(done.contains("1 processed") && done.contains(&key), "{done}");
    let again = env.alert_messages(Duration::from_secs(2)).await;
    assert!(again.iter().all(|m| m["source"] != format!("s3://{}/{key}", env.bucket)), "published twice: {again:?}");
    // Read-only: refused, nothing invoked.
    let ro = store_read_only(&env, lambda.clone(), &function).reprocess("sub_b").await.unwrap_err().to_string();
    assert!(ro.contains("read-only"), "{ro}");

    // 3. Errors come back clearly: a failing record (HTTP 500 from the emulator, a
    //    function error on AWS), and an unknown function (404).
    let missing = store.invoke(&env.bucket, &["raw/does-not-exist.csv"]).await.unwrap_err().to_string();
    assert!(missing.contains("raw/does-not-exist.csv") && missing.contains("NoSuchKey"), "{missing}");
    let unknown = self::store(&env, lambda.clone(), "no-such-function", false).invoke(&env.bucket, &[&key]).await.unwrap_err().to_string();
    assert!(unknown.contains("no-such-function"), "{unknown}");

    // 4. Per-MB processing time under the emulator (S3 and DynamoDB on moto).
    let big = generated_csv(20, 14);
    let big_key = format!("raw/{}/two_weeks.csv", aws_common::unique("perf"));
    let mb = big.len() as f64 / 1_048_576.0;
    let engine_only = {
        let started = Instant::now();
        let mut sink = gridwatch::analysis::engine::CollectSink::default();
        gridwatch::analysis::engine::analyze_stream(&big[..], "raw/perf.csv", &Default::default(), &mut sink).unwrap();
        started.elapsed().as_secs_f64() * 1000.0
    };
    report.push(format!("ENGINE alone on the same bytes (this test binary's build, no I/O): {:.0} ms/MB", engine_only / mb));
    env.put(&big_key, big).await;
    let started = Instant::now();
    let response = store.invoke(&env.bucket, &[&big_key]).await.expect("invoke big");
    let wall = started.elapsed().as_secs_f64();
    let r = &response.records[0];
    assert_eq!(r.status, Some(RecordStatus::Processed), "{r:?}");
    report.push(format!(
        "LAMBDA {mb:.2} MB ({} rows, {} rollups): handler {:.0} ms = {:.0} ms/MB; invoke round trip {:.0} ms/MB",
        r.rows_read,
        r.rollups_written,
        r.duration_ms,
        r.duration_ms / mb,
        wall * 1000.0 / mb
    ));
    report.push(format!("LAMBDA phases (ms): {:?}", r.phases_ms));

    // 5. The dashboard's log tail reads what the Lambda logged: its stdout lines (JSON, no
    //    ANSI) are shipped to a CloudWatch log group as Lambda's log delivery would.
    if let Ok(path) = std::env::var("GRIDWATCH_TEST_LAMBDA_LOG") {
        use gridwatch::backend::{LogLevel, LogSource};
        let text = std::fs::read_to_string(&path).expect("cargo-lambda log");
        assert!(!text.contains("\u{1b}[") || text.lines().filter(|l| l.starts_with('{')).all(|l| !l.contains('\u{1b}')), "ANSI in JSON logs");
        let json_lines: Vec<&str> = text.lines().filter(|l| l.starts_with('{')).collect();
        assert!(json_lines.iter().all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok()), "every log line is JSON");
        let group = format!("/aws/lambda/{}", aws_common::unique(&function));
        env.logs.create_log_group().log_group_name(&group).send().await.unwrap();
        env.logs.create_log_stream().log_group_name(&group).log_stream_name("s").send().await.unwrap();
        let now = chrono::Utc::now().timestamp_millis();
        let events: Vec<_> = json_lines
            .iter()
            .enumerate()
            .map(|(i, l)| {
                aws_sdk_cloudwatchlogs::types::InputLogEvent::builder().timestamp(now - 1000 + i as i64).message(*l).build().unwrap()
            })
            .collect();
        for chunk in events.chunks(500) {
            env.logs.put_log_events().log_group_name(&group).log_stream_name("s").set_log_events(Some(chunk.to_vec())).send().await.unwrap();
        }
        let mut tail = gridwatch::aws::logs::CloudWatchTail::new(env.logs.clone(), group, Duration::from_secs(600));
        let lines = tail.poll().await.unwrap();
        assert!(lines.iter().any(|l| l.message.starts_with(&format!("processed {key}"))), "{lines:?}");
        assert!(lines.iter().any(|l| l.level == LogLevel::Error && l.message.starts_with("ALARM HIGH undervoltage")), "{lines:?}");
        assert!(lines.iter().any(|l| l.level == LogLevel::Error && l.message.contains("NoSuchKey")), "{lines:?}");
        assert!(tail.poll().await.unwrap().is_empty(), "no duplicates");
    } else {
        eprintln!("note: GRIDWATCH_TEST_LAMBDA_LOG not set: the log-tail part needs scripts/test.sh");
    }
    for l in &report {
        println!("{l}");
        eprintln!("{l}");
    }
}

fn store_read_only(env: &Env, lambda: aws_sdk_lambda::Client, function: &str) -> AwsStore {
    store(env, lambda, function, true)
}

/// `gridwatch upload`'s transfer: multipart above the threshold, content type, intact bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multipart_upload_of_a_large_file() {
    let Some(aws_ep) = endpoint(AWS_ENDPOINT_VAR) else { return };
    let env = Env::create(&aws_ep).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.csv");
    let data = generated_csv(50, 60);
    assert!(data.len() as u64 > gridwatch::aws::s3io::MULTIPART_THRESHOLD, "{} bytes", data.len());
    std::fs::write(&path, &data).unwrap();
    let sent = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let seen = sent.clone();
    let progress = move |n: u64| seen.store(n, std::sync::atomic::Ordering::SeqCst);
    gridwatch::aws::s3io::upload_file(&env.s3, &env.bucket, "raw/big.csv", &path, "text/csv", 5 * 1024 * 1024, &progress)
        .await
        .expect("multipart upload");
    assert_eq!(sent.load(std::sync::atomic::Ordering::SeqCst), data.len() as u64);
    let head = env.s3.head_object().bucket(&env.bucket).key("raw/big.csv").send().await.unwrap();
    assert_eq!(head.content_type(), Some("text/csv"));
    assert!(head.e_tag().unwrap_or("").contains('-'), "a multipart ETag: {:?}", head.e_tag());
    assert_eq!(env.get("raw/big.csv").await.unwrap(), data);
    // Not-found lookups for skip/overwrite.
    assert_eq!(gridwatch::aws::s3io::object_size(&env.s3, &env.bucket, "raw/none.csv").await.unwrap(), None);
    assert_eq!(gridwatch::aws::s3io::object_size(&env.s3, &env.bucket, "raw/big.csv").await.unwrap(), Some(data.len() as u64));
}
