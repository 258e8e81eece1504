//! The Lambda's handler against moto's real S3, DynamoDB, SNS, SQS and CloudWatch Logs
//! servers on 127.0.0.1: an upload and its S3 event, the same event twice, malformed
//! objects, and the dashboard's AWS store and log tail reading what the handler wrote.
//!
//! Run by `scripts/test.sh` (which starts moto and exports GRIDWATCH_TEST_AWS_ENDPOINT).

mod aws_common;

use aws_common::{day_csv, endpoint, s3_event, Env, AWS_ENDPOINT_VAR, CSV_HEADER};
use chrono::{DateTime, Utc};
use gridwatch::aws::event::RecordStatus;
use gridwatch::model::{AlertRule, AlertStatus, FileReport};

fn ts(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_event_writes_rollups_results_rejected_rows_and_one_alert() {
    let Some(ep) = endpoint(AWS_ENDPOINT_VAR) else { return };
    let env = Env::create(&ep).await;
    // A key with a space and a plus: S3 sends it URL-encoded ("site+1/day%2B1.csv").
    let key = "raw/site 1/day+1.csv";
    let mut body = day_csv("2025-01-14");
    body.push_str("2025-01-14T23:59:00Z,sub_a,not-a-number,1,13.8,60,0,0\n");
    body.push_str("2025-01-14T23:59:00Z,sub_a,1,1,13.8\n");
    env.put(key, body).await;
    env.put("results/not-for-us.json", "{}").await;

    let response = env.pipeline().handle(&s3_event(&env.bucket, &[key, "results/not-for-us.json"])).await;
    assert_eq!(response.records.len(), 2, "{response:?}");
    let r = &response.records[0];
    assert_eq!(r.status, Some(RecordStatus::Processed), "{r:?}");
    assert_eq!(r.key, key);
    assert_eq!((r.rows_read, r.rows_rejected), (194, 2));
    assert_eq!(r.rollups_written, 48);
    assert_eq!((r.alerts, r.new_alerts), (1, 1));
    assert_eq!(response.records[1].status, Some(RecordStatus::Ignored));
    assert!(response.records[1].message.contains("only objects under raw/"), "{:?}", response.records[1]);

    // Rollups in DynamoDB, with the seed's attributes.
    let a = env.table.rollups("sub_a", ts("2025-01-14T00:00:00Z"), ts("2025-01-15T00:00:00Z")).await.unwrap();
    assert_eq!(a.len(), 24);
    assert!(a.iter().all(|r| r.count == 4 && r.alert_status == AlertStatus::Normal));
    let b = env.table.rollups("sub_b", ts("2025-01-14T10:00:00Z"), ts("2025-01-14T11:00:00Z")).await.unwrap();
    assert_eq!(b.len(), 1);
    assert_eq!(b[0].alert_status, AlertStatus::Critical);
    assert!((b[0].voltage_avg_kv - 12.9).abs() < 1e-9);
    // The sparse index holds the critical hour and nothing normal.
    let critical = env.table.rollups_with_status(AlertStatus::Critical, None, None).await.unwrap();
    assert_eq!(critical.iter().map(|r| (r.location.as_str(), r.timestamp)).collect::<Vec<_>>(), [("sub_b", ts("2025-01-14T10:00:00Z"))]);
    assert!(env.table.rollups_with_status(AlertStatus::Warning, None, None).await.unwrap().is_empty());
    // The forecast, the alert episode and the index.
    assert_eq!(env.table.forecast("sub_a").await.unwrap().len(), 24);
    let alerts = env.table.alerts(ts("2025-01-14T00:00:00Z")).await.unwrap();
    assert_eq!(alerts.len(), 1);
    assert_eq!((alerts[0].location.as_str(), alerts[0].rule), ("sub_b", AlertRule::Undervoltage));
    let subs = env.table.substations().await.unwrap();
    assert_eq!(subs.iter().map(|(s, _)| s.location.as_str()).collect::<Vec<_>>(), ["sub_a", "sub_b"]);
    assert!(subs.iter().all(|(s, bucket)| s.source_key == key && bucket.as_deref() == Some(env.bucket.as_str())));
    assert_eq!(subs[0].0.last_reading, ts("2025-01-14T23:45:00Z"));

    // The detailed report and the rejected rows in S3; the raw object untouched.
    let report: FileReport = serde_json::from_slice(&env.get("results/site 1/day+1_analysis.json").await.expect("results JSON")).unwrap();
    assert_eq!((report.rows_read, report.rows_rejected, report.locations.len()), (194, 2, 2));
    assert_eq!(report.forecasts.len(), 48);
    let rejected = String::from_utf8(env.get("rejected/site 1/day+1.csv").await.expect("rejected rows")).unwrap();
    let lines: Vec<&str> = rejected.lines().collect();
    assert_eq!(lines[0], "line,field,reason,raw");
    assert!(lines[1].starts_with("194,load_mw,") && lines[1].contains("not-a-number"), "{rejected}");
    assert!(lines[2].starts_with("195,"), "{rejected}");
    assert!(env.get(key).await.is_some(), "the raw object stays");

    // Exactly one SNS message, received through the subscribed SQS queue.
    let messages = env.alert_messages(std::time::Duration::from_secs(5)).await;
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_eq!(messages[0]["_subject"], "gridwatch CRITICAL undervoltage at sub_b");
    assert_eq!(messages[0]["alert"]["rule"], "undervoltage");
    assert_eq!(messages[0]["source"], format!("s3://{}/{key}", env.bucket));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_event_twice_leaves_identical_items_and_publishes_once() {
    let Some(ep) = endpoint(AWS_ENDPOINT_VAR) else { return };
    let env = Env::create(&ep).await;
    let key = "raw/grid_data_2025-01-14.csv";
    env.put(key, day_csv("2025-01-14")).await;
    let event = s3_event(&env.bucket, &[key]);
    let pipeline = env.pipeline();

    let first = pipeline.handle(&event).await;
    assert_eq!(first.records[0].status, Some(RecordStatus::Processed), "{first:?}");
    assert_eq!(first.records[0].new_alerts, 1);
    let items_after_first = env.dump(&["sub_a", "sub_b"]).await;
    let results_after_first = env.get("results/grid_data_2025-01-14_analysis.json").await.unwrap();
    assert!(items_after_first.len() > 48 + 48 + 2, "rollups, forecasts, alert, index: {}", items_after_first.len());

    let second = pipeline.handle(&event).await;
    assert_eq!(second.records[0].status, Some(RecordStatus::Processed), "{second:?}");
    assert_eq!((second.records[0].alerts, second.records[0].new_alerts), (1, 0));
    let items_after_second = env.dump(&["sub_a", "sub_b"]).await;
    assert_eq!(items_after_first.len(), items_after_second.len());
    for (key, item) in &items_after_first {
        assert_eq!(Some(item), items_after_second.get(key), "item {key:?} changed");
    }
    assert_eq!(env.get("results/grid_data_2025-01-14_analysis.json").await.unwrap(), results_after_first);
    let messages = env.alert_messages(std::time::Duration::from_secs(3)).await;
    assert_eq!(messages.len(), 1, "one alert, published once: {messages:?}");

    // An older file for the same substations does not move the index back in time.
    env.put("raw/grid_data_2025-01-13.csv", day_csv("2025-01-13")).await;
    let older = pipeline.handle(&s3_event(&env.bucket, &["raw/grid_data_2025-01-13.csv"])).await;
    assert_eq!(older.records[0].status, Some(RecordStatus::Processed));
    let subs = env.table.substations().await.unwrap();
    assert!(subs.iter().all(|(s, _)| s.source_key == key && s.last_reading == ts("2025-01-14T23:45:00Z")), "{subs:?}");
    assert_eq!(older.records[0].new_alerts, 1, "the 13th's sag is a different episode");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_objects_give_clear_errors_and_lose_nothing() {
    let Some(ep) = endpoint(AWS_ENDPOINT_VAR) else { return };
    let env = Env::create(&ep).await;
    let good = "raw/good.csv";
    env.put(good, day_csv("2025-01-14")).await;
    let garbage: Vec<u8> = (0..4096u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
    env.put("raw/garbage.csv", garbage.clone()).await;
    env.put("raw/no_voltage.csv", "timestamp,location,load_mw,generation_mw,frequency_hz,solar_mw,wind_mw\n2025-01-14T00:00:00Z,x,1,1,60,0,0\n").await;
    // A gzip file cut in the middle.
    let mut gz = Vec::new();
    {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(&mut gz, flate2::Compression::default());
        enc.write_all(day_csv("2025-01-15").as_bytes()).unwrap();
        enc.finish().unwrap();
    }
    let cut = gz[..gz.len() / 2].to_vec();
    env.put("raw/truncated.csv.gz", cut.clone()).await;
    env.put("raw/empty.csv", Vec::new()).await;
    env.put("raw/bad_rows.jsonl", format!(
        "{}\n{}\n",
        r#"{"timestamp":"2025-01-14T00:00:00Z","location":"j","load_mw":1,"generation_mw":2,"voltage_kv":13.8,"frequency_hz":60,"solar_mw":0,"wind_mw":0}"#,
        r#"{"timestamp":"2025-01-14T00:15:00Z","location":"j","load_mw":"x"}"#
    )).await;

    let keys = ["raw/garbage.csv", "raw/no_voltage.csv", "raw/truncated.csv.gz", "raw/missing.csv", good, "raw/empty.csv", "raw/bad_rows.jsonl"];
    let mut event = s3_event(&env.bucket, &keys);
    event["Records"].as_array_mut().unwrap().push(serde_json::json!({"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": env.bucket}}}));
    let response = env.pipeline().handle(&event).await;
    assert_eq!(response.records.len(), keys.len() + 1);
    let by_key = |k: &str| response.records.iter().find(|r| r.key == k).unwrap_or_else(|| panic!("no record for {k}: {response:?}"));

    // Malformed files: analysed as far as possible, the reason stored and returned.
    for k in ["raw/garbage.csv", "raw/no_voltage.csv", "raw/truncated.csv.gz", "raw/empty.csv"] {
        let r = by_key(k);
        assert_eq!(r.status, Some(RecordStatus::FileError), "{r:?}");
        assert!(r.message.contains(k), "the message names the file: {r:?}");
        let report: FileReport = serde_json::from_slice(&env.get(&gridwatch::keys::results_key(k)).await.expect("report stored")).unwrap();
        assert!(report.file_error.is_some(), "{k}: {report:?}");
    }
    assert!(by_key("raw/no_voltage.csv").message.contains("voltage_kv"), "{:?}", by_key("raw/no_voltage.csv"));
    // The truncated gzip: the rows before the cut were analysed and stored.
    let t = by_key("raw/truncated.csv.gz");
    assert!(t.rows_read > 0 && t.rollups_written > 0, "{t:?}");
    // A missing object is a failed record with S3's reason; the others still ran.
    let missing = by_key("raw/missing.csv");
    assert_eq!(missing.status, Some(RecordStatus::Failed));
    assert!(missing.message.contains("raw/missing.csv") && missing.message.contains("NoSuchKey"), "{missing:?}");
    assert!(response.records.last().unwrap().message.contains("object key"), "{:?}", response.records.last());
    assert_eq!(by_key(good).status, Some(RecordStatus::Processed));
    // Bad rows of a good file: the row, its line and field in rejected/.
    let j = by_key("raw/bad_rows.jsonl");
    assert_eq!((j.status, j.rows_read, j.rows_rejected), (Some(RecordStatus::Processed), 2, 1), "{j:?}");
    let rejected = String::from_utf8(env.get("rejected/bad_rows.csv").await.unwrap()).unwrap();
    assert!(rejected.lines().nth(1).unwrap().starts_with("2,"), "{rejected}");
    // Nothing lost: every raw object is still there, byte for byte.
    assert_eq!(env.get("raw/garbage.csv").await.unwrap(), garbage);
    assert_eq!(env.get("raw/truncated.csv.gz").await.unwrap(), cut);
    assert_eq!(env.get(good).await.unwrap(), day_csv("2025-01-14").into_bytes());
    assert!(response.any_failed(), "the Lambda reports the failure so that the event is retried");
    let _ = CSV_HEADER;
}
