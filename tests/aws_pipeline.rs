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
    // The sparse index holds the critical hour and nothing normal (the alarm clears at the
    // 11:00 reading: 15 minutes, the off-delay, after the last reading below the limit).
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
    assert_eq!(messages[0]["_subject"], "gridwatch HIGH undervoltage at sub_b");
    assert_eq!(messages[0]["alert"]["rule"], "undervoltage");
    // Attributes for SNS subscription filter policies.
    let attrs = &messages[0]["_attributes"];
    assert_eq!((attrs["priority"].as_str(), attrs["rule"].as_str()), (Some("high"), Some("undervoltage")), "{attrs}");
    assert_eq!((attrs["substation"].as_str(), attrs["state"].as_str()), (Some("sub_b"), Some("returned_to_normal")), "{attrs}");
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

    // SNS failing (here: a topic that does not exist) fails the record, and the claim on
    // the notification is given back, so the retry still publishes the alert.
    let broken = gridwatch::aws::handler::LambdaHandler::new(
        &env.sdk,
        gridwatch::aws::handler::HandlerConfig { topic_arn: Some(format!("{}-missing", env.topic_arn)), ..env.handler_config() },
    );
    let failed = broken.handle(&event).await;
    assert_eq!(failed.records[0].status, Some(RecordStatus::Failed), "{failed:?}");
    assert!(failed.records[0].message.contains("cannot publish"), "{failed:?}");

    // A forecast stored by an older version, one item per hour, is replaced by the one item.
    let legacy: Vec<_> = (0..24)
        .map(|h| {
            let hour = ts("2025-01-14T00:00:00Z") + chrono::Duration::hours(h);
            std::collections::HashMap::from([
                ("location".to_string(), aws_sdk_dynamodb::types::AttributeValue::S("sub_a".into())),
                ("timestamp".to_string(), aws_sdk_dynamodb::types::AttributeValue::S(format!("F#{}", gridwatch::model::format_ts(hour)))),
                ("kind".to_string(), aws_sdk_dynamodb::types::AttributeValue::S("forecast".into())),
                ("load_mw".to_string(), aws_sdk_dynamodb::types::AttributeValue::N("1".into())),
            ])
        })
        .collect();
    env.table.batch_put(legacy).await.unwrap();

    let first = pipeline.handle(&event).await;
    assert_eq!(first.records[0].status, Some(RecordStatus::Processed), "{first:?}");
    assert_eq!(first.records[0].new_alerts, 1);
    let items_after_first = env.dump(&["sub_a", "sub_b"]).await;
    let results_after_first = env.get("results/grid_data_2025-01-14_analysis.json").await.unwrap();
    assert!(items_after_first.len() > 48 + 2 + 2, "rollups, forecasts, alert, index: {}", items_after_first.len());
    let forecasts: Vec<_> = items_after_first.iter().filter(|((_, sk), _)| sk.starts_with("F#")).collect();
    assert_eq!(forecasts.len(), 2, "one forecast item per substation, the per-hour ones gone: {forecasts:?}");
    for (_, item) in forecasts {
        assert_eq!(item["load_mw"].as_l().map(Vec::len), Ok(24), "{item:?}");
    }

    let second = pipeline.handle(&event).await;
    assert_eq!(second.records[0].status, Some(RecordStatus::Processed), "{second:?}");
    assert_eq!((second.records[0].alerts, second.records[0].new_alerts), (1, 0));
    let items_after_second = env.dump(&["sub_a", "sub_b"]).await;
    assert_eq!(items_after_first.len(), items_after_second.len());
    for (key, item) in &items_after_first {
        assert_eq!(Some(item), items_after_second.get(key), "item {key:?} changed");
    }
    assert_eq!(env.get("results/grid_data_2025-01-14_analysis.json").await.unwrap(), results_after_first);
    // The Athena copy: one gzip JSON-lines object for the day, holding every rollup once.
    let athena_key = gridwatch::store::athena_layout::partition_key(key, chrono::NaiveDate::from_ymd_opt(2025, 1, 14).unwrap());
    let body = env.get(&athena_key).await.expect("Athena object");
    let mut text = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&body[..]), &mut text).unwrap();
    assert_eq!(text.lines().count(), 48, "2 substations x 24 hours");
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
        let report: FileReport = serde_json::from_slice(&env.get(&gridwatch::store::object_keys::results_key(k)).await.expect("report stored")).unwrap();
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

/// An AwsStore whose DynamoDB requests are counted.
fn counted_store(env: &Env, read_only: bool) -> (gridwatch::aws::dashboard_store::AwsStore, gridwatch::aws::counter::RequestCounter) {
    let counter = gridwatch::aws::counter::RequestCounter::new();
    let ddb = aws_sdk_dynamodb::Client::from_conf(aws_sdk_dynamodb::config::Builder::from(&env.sdk).interceptor(counter.clone()).build());
    let opts = gridwatch::aws::dashboard_store::AwsStoreOptions {
        table: env.table.name().to_string(),
        function: Some("gridwatch-lambda".into()),
        bucket: Some(env.bucket.clone()),
        read_only,
        label: "(moto)".into(),
        ..Default::default()
    };
    (gridwatch::aws::dashboard_store::AwsStore::from_clients(ddb, gridwatch::aws::dashboard_store::lambda_client(&env.sdk), opts), counter)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_store_reads_what_the_handler_wrote() {
    use gridwatch::backend::GridStore;
    let Some(ep) = endpoint(AWS_ENDPOINT_VAR) else { return };
    let env = Env::create(&ep).await;
    let key = "raw/grid_data_2025-01-14.csv";
    env.put(key, day_csv("2025-01-14")).await;
    env.pipeline().handle(&s3_event(&env.bucket, &[key])).await;

    let (store, counter) = counted_store(&env, true);
    let subs = store.substations().await.unwrap();
    assert_eq!(subs.len(), 2);
    assert_eq!(subs[1].latest.timestamp, ts("2025-01-14T23:00:00Z"));
    assert_eq!(counter.take().into_iter().collect::<Vec<_>>(), [("Query".to_string(), 1)], "one Query lists every substation");
    let rollups = store.rollups("sub_b", ts("2025-01-14T06:00:00Z"), ts("2025-01-14T12:00:00Z")).await.unwrap();
    assert_eq!(rollups.first().map(|r| r.timestamp), Some(ts("2025-01-14T06:00:00Z")));
    assert_eq!(rollups.len(), 6);
    assert_eq!(store.forecast("sub_b").await.unwrap().first().map(|p| p.timestamp), Some(ts("2025-01-15T00:00:00Z")));
    let alerts = store.alerts(ts("2025-01-14T10:30:00Z")).await.unwrap();
    assert_eq!(alerts.len(), 1);
    assert!(store.alerts(ts("2025-01-14T12:00:00Z")).await.unwrap().is_empty(), "the episode ended at 10:45");
    let ops = counter.take();
    assert!(ops.keys().all(|op| op == "Query"), "the dashboard only queries: {ops:?}");
    // Read-only: reprocess is refused before any request.
    let err = store.reprocess("sub_b").await.unwrap_err().to_string();
    assert!(err.contains("read-only"), "{err}");
    assert_eq!(counter.total(), 0);
    assert!(store.describe().contains("read-only"));
}

/// Rollups, forecast, index item and an alert for `n` substations, as the Lambda writes them.
async fn seed_substations(env: &Env, n: usize, hours: i64, last_hour: DateTime<Utc>) {
    use gridwatch::aws::attrs;
    use gridwatch::model::{ForecastPoint, HourlyRollup, SubstationState};
    let template = {
        let mut sink = gridwatch::analysis::engine::CollectSink::default();
        gridwatch::analysis::engine::analyze_stream(day_csv("2025-01-14").as_bytes(), "t", &Default::default(), &mut sink).unwrap();
        sink.rollups[0].clone()
    };
    let mut items = Vec::new();
    let mut states = Vec::new();
    for i in 0..n {
        let location = format!("substation_{i:03}");
        for h in 0..hours {
            let r = HourlyRollup { location: location.clone(), timestamp: last_hour - chrono::Duration::hours(hours - 1 - h), ..template.clone() };
            items.push(attrs::rollup_item(&r));
        }
        let forecast: Vec<ForecastPoint> = (1..=24)
            .map(|h| ForecastPoint { location: location.clone(), timestamp: last_hour + chrono::Duration::hours(h), load_mw: 40.0 })
            .collect();
        items.extend(attrs::forecast_item(&location, &forecast));
        let latest = HourlyRollup { location: location.clone(), timestamp: last_hour, ..template.clone() };
        states.push(SubstationState {
            location,
            last_reading: last_hour + chrono::Duration::minutes(45),
            latest,
            updated_at: Utc::now(),
            source_key: format!("raw/substation_{i:03}.csv"),
        });
    }
    env.table.batch_put(items).await.unwrap();
    let index: Vec<_> = states.iter().map(|s| attrs::state_item(s, &env.bucket)).collect();
    if let Some(item) = index.first() {
        let size = attrs::item_size(item);
        assert!(size < 1400, "index items stay small: {size} bytes");
        eprintln!("INDEX item size: {size} bytes -> {} substations per 1 MB Query page", 1_000_000 / size);
    }
    env.table.batch_put(index).await.unwrap();
}

/// Counts the DynamoDB requests of the dashboard's real poller (tui::collect::Poller) for
/// `n` substations with 30 rows on screen: first poll, idle poll, poll after new data.
async fn poll_cost(n: usize) -> Option<(u64, u64, u64, usize)> {
    use gridwatch::tui::app::Interest;
    use gridwatch::tui::collect::Poller;
    let ep = endpoint(AWS_ENDPOINT_VAR)?;
    let env = Env::create(&ep).await;
    let last = ts("2025-01-14T23:00:00Z");
    seed_substations(&env, n, 24, last).await;
    let (store, counter) = counted_store(&env, true);
    let names: Vec<String> = (0..n).map(|i| format!("substation_{i:03}")).collect();
    let interest = Interest {
        locations: names.iter().take(30).cloned().collect(),
        forecasts: names.first().cloned().into_iter().collect(),
        span: chrono::Duration::hours(24),
        zoom: chrono::Duration::hours(24),
        end: None,
    };
    let mut poller = Poller::new(chrono::Duration::minutes(15));
    let now = last + chrono::Duration::hours(1);
    let (_, err) = poller.poll(&store, now, &interest).await;
    assert!(err.is_none(), "{err:?}");
    let first = counter.take().values().sum();
    let (_, err) = poller.poll(&store, now, &interest).await;
    assert!(err.is_none(), "{err:?}");
    let idle_ops = counter.take();
    let idle = idle_ops.values().sum();
    // New data for every substation (the next hour), as after a round of uploads.
    seed_substations(&env, n, 1, last + chrono::Duration::hours(1)).await;
    let (msgs, err) = poller.poll(&store, now + chrono::Duration::hours(1), &interest).await;
    assert!(err.is_none(), "{err:?}");
    let after = counter.take();
    assert!(after.keys().chain(idle_ops.keys()).all(|op| op == "Query"), "{after:?}");
    Some((first, idle, after.values().sum(), msgs.len()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poll_cost_for_10_and_200_substations() {
    let mut lines = Vec::new();
    for n in [10usize, 200] {
        let Some((first, idle, after, _)) = poll_cost(n).await else { return };
        let visible = n.min(30) as u64;
        // Index: 1 Query (one page); rollups: one per visible substation; forecast: 1; alerts: 1.
        // The index and the operator states (acknowledged, shelved, out of service).
        assert_eq!(idle, 2, "an idle poll is two Queries whatever the number of substations (n={n})");
        assert!(first <= 2 + visible + 2, "n={n}: first poll {first}");
        assert!(after <= 2 + visible + 2, "n={n}: poll after new data {after}");
        lines.push(format!("POLL COST substations={n:>3} visible={visible}: first poll {first} requests, idle poll {idle}, poll after new data for all {after}"));
    }
    for l in &lines {
        println!("{l}");
        eprintln!("{l}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_tail_follows_a_log_group_without_duplicates() {
    use aws_sdk_cloudwatchlogs::types::InputLogEvent;
    use gridwatch::backend::{LogLevel, LogSource};
    let Some(ep) = endpoint(AWS_ENDPOINT_VAR) else { return };
    let env = Env::create(&ep).await;
    let group = format!("/aws/lambda/{}", aws_common::unique("gw-fn"));
    env.logs.create_log_group().log_group_name(&group).send().await.unwrap();
    let now = Utc::now().timestamp_millis();
    let put = |stream: &'static str, lines: Vec<(i64, String)>| {
        let (logs, group) = (env.logs.clone(), group.clone());
        async move {
            let _ = logs.create_log_stream().log_group_name(&group).log_stream_name(stream).send().await;
            let events: Vec<InputLogEvent> = lines.into_iter().map(|(t, m)| InputLogEvent::builder().timestamp(t).message(m).build().unwrap()).collect();
            logs.put_log_events().log_group_name(&group).log_stream_name(stream).set_log_events(Some(events)).send().await.unwrap();
        }
    };
    put("2026/11/26/[$LATEST]a", vec![
        (now - 3000, "START RequestId: 1 Version: $LATEST".into()),
        (now - 2900, r#"{"timestamp":"x","level":"INFO","message":"processed raw/a.csv: 96 rows (0 rejected), 1 substation(s), 24 hourly rollups, status normal in 12 ms"}"#.into()),
        (now - 2800, r#"{"level":"ERROR","message":"ALERT CRITICAL undervoltage: sub_b 12.9 kV"}"#.into()),
    ]).await;
    let mut tail = gridwatch::aws::logs::CloudWatchTail::new(env.logs.clone(), group.clone(), std::time::Duration::from_secs(60));
    let first = tail.poll().await.unwrap();
    assert_eq!(first.iter().map(|l| l.level).collect::<Vec<_>>(), [LogLevel::Info, LogLevel::Error], "{first:?}");
    assert!(first[0].message.starts_with("processed raw/a.csv"));
    assert!(tail.poll().await.unwrap().is_empty(), "nothing new, nothing repeated");
    // A second container's stream, with an event older than the newest one already seen.
    put("2026/11/26/[$LATEST]b", vec![(now - 2850, r#"{"level":"WARN","message":"raw/b.csv: 2 row(s) rejected, see rejected/b.csv"}"#.into())]).await;
    let late = tail.poll().await.unwrap();
    assert_eq!(late.len(), 1, "{late:?}");
    assert_eq!(late[0].level, LogLevel::Warn);
    // A missing log group is a clear error (and the tail backs off instead of hammering).
    let mut missing = gridwatch::aws::logs::CloudWatchTail::new(env.logs.clone(), "/aws/lambda/none", std::time::Duration::from_secs(60));
    let err = missing.poll().await.unwrap_err().to_string();
    assert!(err.contains("/aws/lambda/none") && err.contains("next try in"), "{err}");
    assert!(missing.poll().await.unwrap().is_empty());
    assert_eq!(missing.requests(), 1);
}

/// Rounds every float to 12 significant digits (DynamoDB's number text and SQLite's JSON
/// may spell the same f64 differently only past that).
fn normalised<T: serde::Serialize>(v: &T) -> serde_json::Value {
    fn walk(v: serde_json::Value) -> serde_json::Value {
        match v {
            serde_json::Value::Number(n) if n.is_f64() => {
                let f = n.as_f64().unwrap();
                serde_json::json!(format!("{f:.11e}").parse::<f64>().unwrap())
            }
            serde_json::Value::Array(a) => a.into_iter().map(walk).collect(),
            serde_json::Value::Object(o) => o.into_iter().map(|(k, v)| (k, walk(v))).collect(),
            other => other,
        }
    }
    walk(serde_json::to_value(v).unwrap())
}

/// One recipe, two backends: the same daily files through the local backend (SQLite + a
/// folder) and through the Lambda's handler (DynamoDB + S3 on moto) give the same rollups,
/// forecasts, alarm episodes and substation states, item for item.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_local_backend_and_the_lambda_store_the_same_items() {
    use gridwatch::backend::GridStore;
    use gridwatch::simulator::generator::{self, DataFormat, Generator, GeneratorConfig};
    let Some(ep) = endpoint(AWS_ENDPOINT_VAR) else { return };
    let env = Env::create(&ep).await;
    let dir = tempfile::tempdir().unwrap();
    let local = gridwatch::local::LocalBackend::open(gridwatch::local::DataDir::new(dir.path().join("data")), env.handler_config().analysis).unwrap();
    let g = Generator::new(GeneratorConfig { substations: 3, days: 3, marginal: true, anomalies_per_week: 20.0, ..GeneratorConfig::default() });
    let lambda = env.pipeline();
    for day in 0..3 {
        let from = g.config().start + chrono::Duration::days(day);
        let readings = (0..96).flat_map(|k| g.readings_at(from + chrono::Duration::minutes(15 * k)));
        let mut body = Vec::new();
        generator::write_readings(DataFormat::Csv, true, readings, &mut body).unwrap();
        let name = format!("day_{day}.csv");
        let key = format!("raw/{name}");
        env.put(&key, body.clone()).await;
        let r = lambda.handle(&s3_event(&env.bucket, &[&key])).await;
        assert_eq!(r.records[0].status, Some(RecordStatus::Processed), "{r:?}");
        std::fs::write(dir.path().join(&name), &body).unwrap();
        local.process(&local.import(&dir.path().join(&name), false).unwrap()).await.unwrap();
    }
    let (from, to) = (ts("2025-01-01T00:00:00Z"), ts("2025-02-01T00:00:00Z"));
    let mut states_local = local.substations().await.unwrap();
    let mut states_aws: Vec<_> = env.table.substations().await.unwrap().into_iter().map(|(s, _)| s).collect();
    assert_eq!(states_local.len(), 3);
    for s in states_local.iter_mut().chain(states_aws.iter_mut()) {
        s.updated_at = from; // the wall clock of the write
    }
    assert_eq!(normalised(&states_local), normalised(&states_aws));
    for s in &states_local {
        let loc = s.location.as_str();
        let (a, b) = (local.rollups(loc, from, to).await.unwrap(), env.table.rollups(loc, from, to).await.unwrap());
        assert_eq!(a.len(), 72, "{loc}");
        assert_eq!(normalised(&a), normalised(&b), "rollups of {loc}");
        assert_eq!(normalised(&local.forecast(loc).await.unwrap()), normalised(&env.table.forecast(loc).await.unwrap()), "forecast of {loc}");
    }
    let sort = |mut v: Vec<gridwatch::model::Alert>| {
        v.sort_by_key(|a| a.id());
        v
    };
    let alarms_local = sort(local.alerts(from).await.unwrap());
    assert!(!alarms_local.is_empty(), "the data has alarms to compare");
    assert_eq!(normalised(&alarms_local), normalised(&sort(env.table.alerts(from).await.unwrap())));
}

/// Shelving and out-of-service set through one operator's dashboard store are seen by a
/// second one on the same table; a read-only store refuses them; and while the substation
/// is out of service its new activations are stored but not published.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_actions_are_shared_between_dashboards_and_suppress_notifications() {
    use gridwatch::backend::GridStore;
    use gridwatch::store::operator::{ActionKind, OperatorAction};
    let Some(ep) = endpoint(AWS_ENDPOINT_VAR) else { return };
    let env = Env::create(&ep).await;
    let (one, _) = counted_store(&env, false);
    let (two, counter) = counted_store(&env, false);
    let (viewer, _) = counted_store(&env, true);
    let at = chrono::Utc::now();
    let act = |location: &str, rule, kind| OperatorAction { location: location.into(), rule, kind, by: "ana@jump".into(), at, reason: "maintenance".into() };
    one.operator_action(&act("sub_b", None, ActionKind::OutOfService)).await.unwrap();
    one.operator_action(&act("sub_a", Some(AlertRule::Overload), ActionKind::Shelve { until: at + chrono::Duration::hours(1) })).await.unwrap();
    let states = two.operator_states().await.unwrap();
    assert_eq!(counter.take().into_iter().collect::<Vec<_>>(), [("Query".to_string(), 1)], "one Query reads every operator state");
    assert!(states.iter().any(|s| s.location == "sub_b" && s.rule.is_none() && s.out_of_service && s.by == "ana@jump"), "{states:?}");
    assert!(states.iter().any(|s| s.location == "sub_a" && s.rule == Some(AlertRule::Overload) && s.is_shelved(at)), "{states:?}");
    let refused = viewer.operator_action(&act("sub_b", None, ActionKind::ReturnToService)).await.unwrap_err();
    assert!(matches!(refused, gridwatch::store::StoreError::ReadOnly(_)), "{refused}");

    // sub_b's sag (day_csv) is stored, not published: its substation is out of service.
    let key = "raw/grid_data_2025-01-14.csv";
    env.put(key, day_csv("2025-01-14")).await;
    let r = env.pipeline().handle(&s3_event(&env.bucket, &[key])).await;
    assert_eq!((r.records[0].alerts, r.records[0].new_alerts), (1, 1), "{r:?}");
    assert!(env.alert_messages(std::time::Duration::from_secs(2)).await.is_empty());
    assert_eq!(two.alerts(ts("2025-01-14T00:00:00Z")).await.unwrap().len(), 1);
}

/// A file that activates more alarms than `digest_over` is announced with one digest
/// message (counts per substation and rule), not one message per alarm.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_new_alarms_in_one_file_are_one_digest_message() {
    let Some(ep) = endpoint(AWS_ENDPOINT_VAR) else { return };
    let env = Env::create(&ep).await;
    let mut body = String::from(CSV_HEADER);
    body.push('\n');
    // 12 substations, each with a deep sag (past the escalation limit: raised at once).
    for i in 0..12 {
        for q in 0..4 {
            let v = if q == 1 { 12.8 } else { 13.8 };
            body.push_str(&format!("2025-01-14T00:{:02}:00Z,s{i:02},50,100,{v},60,0,0\n", q * 15));
        }
    }
    let key = "raw/storm.csv";
    env.put(key, body).await;
    let r = env.pipeline().handle(&s3_event(&env.bucket, &[key])).await;
    assert_eq!(r.records[0].new_alerts, 12, "{r:?}");
    let messages = env.alert_messages(std::time::Duration::from_secs(5)).await;
    assert_eq!(messages.len(), 1, "{messages:?}");
    let m = &messages[0];
    assert_eq!(m["digest"]["alarms"], 12);
    assert_eq!(m["digest"]["flood"], true, "12 in 10 minutes is a flood");
    assert_eq!(m["digest"]["counts"]["s03"]["undervoltage"], 1);
    assert_eq!((m["_attributes"]["rule"].as_str(), m["_attributes"]["priority"].as_str()), (Some("digest"), Some("high")));
    assert_eq!(m["_attributes"]["state"].as_str(), Some("flood"));
}

/// File A (00:00, 00:15) and file B (00:30 ... 01:30) of one substation, with an
/// undervoltage from 00:15 to 00:45 that spans both.
const SPAN_A: [&str; 2] = ["2025-01-14T00:00:00Z,s1,10,12,13.8,60.01,1,2", "2025-01-14T00:15:00Z,s1,11,13,12.0,59.98,1.5,2"];
const SPAN_B: [&str; 5] = [
    "2025-01-14T00:30:00Z,s1,7,12,12.0,60.02,0,3",
    "2025-01-14T00:45:00Z,s1,9,10,12.0,60,2,0",
    "2025-01-14T01:00:00Z,s1,8,10,13.8,60,2,0",
    "2025-01-14T01:15:00Z,s1,8,10,13.8,60,2,0",
    "2025-01-14T01:30:00Z,s1,8,10,13.8,60,2,0",
];

fn csv_of(rows: &[&str]) -> String {
    format!("{CSV_HEADER}\n{}\n", rows.join("\n"))
}

async fn process(env: &Env, pipeline: &gridwatch::aws::handler::LambdaHandler, key: &str, rows: &[&str]) -> gridwatch::aws::event::EventResponse {
    env.put(key, csv_of(rows)).await;
    let r = pipeline.handle(&s3_event(&env.bucket, &[key])).await;
    assert_eq!(r.records[0].status, Some(RecordStatus::Processed), "{r:?}");
    r
}

/// The substation's items, its per-file parts and what each file fed.
async fn dump_with_parts(env: &Env, sources: &[&str]) -> std::collections::BTreeMap<(String, String), std::collections::BTreeMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
    let mut partitions = vec!["s1".to_string(), "P#s1".to_string()];
    partitions.extend(sources.iter().map(|s| format!("S#{s}")));
    let names: Vec<&str> = partitions.iter().map(String::as_str).collect();
    env.dump(&names).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlapping_files_merge_in_any_order_and_a_spanning_alarm_is_published_once() {
    let Some(ep) = endpoint(AWS_ENDPOINT_VAR) else { return };
    let (ab, ba, one) = (Env::create(&ep).await, Env::create(&ep).await, Env::create(&ep).await);
    let (pab, pba, pone) = (ab.pipeline(), ba.pipeline(), one.pipeline());
    let announced = process(&ab, &pab, "raw/a.csv", &SPAN_A).await.records[0].new_alerts
        + process(&ab, &pab, "raw/b.csv", &SPAN_B).await.records[0].new_alerts;
    process(&ba, &pba, "raw/b.csv", &SPAN_B).await;
    process(&ba, &pba, "raw/a.csv", &SPAN_A).await;
    let all: Vec<&str> = SPAN_A.iter().chain(&SPAN_B).copied().collect();
    process(&one, &pone, "raw/all.csv", &all).await;

    let (from, to) = (ts("2025-01-14T00:00:00Z"), ts("2025-01-15T00:00:00Z"));
    let merged = ab.table.rollups("s1", from, to).await.unwrap();
    assert_eq!(normalised(&merged), normalised(&ba.table.rollups("s1", from, to).await.unwrap()), "A then B = B then A");
    let whole = one.table.rollups("s1", from, to).await.unwrap();
    assert_eq!(merged.len(), 2);
    assert_eq!(merged[0].count, 4, "the hour holds both files' readings: {:?}", merged[0]);
    for (m, w) in merged.iter().zip(&whole) {
        assert_eq!((m.count, m.load_min_mw, m.load_peak_mw, m.voltage_min_kv, m.alert_status), (w.count, w.load_min_mw, w.load_peak_mw, w.voltage_min_kv, w.alert_status));
        for (got, want) in [(m.load_avg_mw, w.load_avg_mw), (m.voltage_avg_kv, w.voltage_avg_kv), (m.renewable_penetration, w.renewable_penetration), (m.stability_score, w.stability_score)] {
            assert!((got - want).abs() < 1e-12 * want.abs().max(1.0), "{got} vs {want}");
        }
    }
    // The spanning undervoltage: one episode, one SNS message.
    assert_eq!(announced, 1);
    assert_eq!(ab.table.alerts(from).await.unwrap().len(), 1);
    assert_eq!(ab.alert_messages(std::time::Duration::from_secs(3)).await.len(), 1);

    // Either file again (the earlier one last): the same items, nothing published.
    let before = dump_with_parts(&ab, &["raw/a.csv", "raw/b.csv"]).await;
    assert!(before.keys().any(|(pk, _)| pk == "P#s1"), "the parts are stored: {:?}", before.keys());
    let again = process(&ab, &pab, "raw/b.csv", &SPAN_B).await.records[0].new_alerts
        + process(&ab, &pab, "raw/a.csv", &SPAN_A).await.records[0].new_alerts;
    assert_eq!(again, 0);
    assert_eq!(before, dump_with_parts(&ab, &["raw/a.csv", "raw/b.csv"]).await);
    assert!(ab.alert_messages(std::time::Duration::from_secs(2)).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_version_of_an_object_replaces_its_own_part_alarms_included() {
    let Some(ep) = endpoint(AWS_ENDPOINT_VAR) else { return };
    let env = Env::create(&ep).await;
    let pipeline = env.pipeline();
    let long: Vec<String> = (0..12)
        .map(|i| {
            let v = if (5..=7).contains(&i) { "12.0" } else { "13.8" };
            format!("2025-01-14T{:02}:{:02}:00Z,s1,10,12,{v},60,1,2", i / 4, (i % 4) * 15)
        })
        .collect();
    let long: Vec<&str> = long.iter().map(String::as_str).collect();
    assert_eq!(process(&env, &pipeline, "raw/x.csv", &long).await.records[0].new_alerts, 1);
    process(&env, &pipeline, "raw/other.csv", &["2025-01-14T00:05:00Z,s1,30,32,13.8,60,1,2"]).await;
    let (from, to) = (ts("2025-01-14T00:00:00Z"), ts("2025-01-15T00:00:00Z"));
    assert_eq!(env.table.rollups("s1", from, to).await.unwrap().len(), 3);

    // The new version of raw/x.csv: the first hour only, no sag.
    process(&env, &pipeline, "raw/x.csv", &long[..4]).await;
    let rollups = env.table.rollups("s1", from, to).await.unwrap();
    assert_eq!(rollups.len(), 1, "the hours only the old version fed are gone: {rollups:?}");
    assert_eq!((rollups[0].count, rollups[0].load_peak_mw), (5, 30.0), "the other file's reading stays");
    assert!(env.table.alerts(from).await.unwrap().is_empty(), "the alarm the new version does not have is gone");
    let (state, _) = env.table.substation("s1").await.unwrap().unwrap();
    assert_eq!(state.last_reading, ts("2025-01-14T00:45:00Z"), "the index follows the new version");
    let parts = env.table.partition("P#s1").await.unwrap();
    assert_eq!(parts.len(), 2, "one part per file of the first hour: {parts:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forecast_is_one_item_that_only_moves_forward() {
    use gridwatch::model::ForecastPoint;
    let Some(ep) = endpoint(AWS_ENDPOINT_VAR) else { return };
    let env = Env::create(&ep).await;
    let day = |first: &str| -> Vec<ForecastPoint> {
        (0..24)
            .map(|h| ForecastPoint { location: "s1".into(), timestamp: ts(first) + chrono::Duration::hours(h), load_mw: 40.0 + h as f64 / 4.0 })
            .collect()
    };
    let (older, newer) = (day("2025-01-14T00:00:00Z"), day("2025-01-15T00:00:00Z"));
    assert!(env.table.replace_forecast("s1", &older).await.unwrap());
    assert_eq!(env.table.forecast("s1").await.unwrap(), older);
    assert!(env.table.replace_forecast("s1", &newer).await.unwrap());
    assert!(!env.table.replace_forecast("s1", &older).await.unwrap(), "an older forecast does not replace a newer one");
    assert!(env.table.replace_forecast("s1", &newer).await.unwrap(), "the same forecast again (a retry) is written");
    assert_eq!(env.table.forecast("s1").await.unwrap(), newer);
    let items = env.dump(&["s1"]).await;
    assert_eq!(items.keys().filter(|(_, sk)| sk.starts_with("F#")).count(), 1);
    let forecast: gridwatch::aws::attrs::Item = items[&("s1".to_string(), "F#next".to_string())].clone().into_iter().collect();
    assert!(gridwatch::aws::attrs::item_size(&forecast) < 1024, "one write unit");
}

/// Rollups of substation `location`, hours 0..hours of 2025-01-14, as file `seed` would feed
/// them (each file its own loads, voltages and reading counts).
fn file_rollups(location: &str, seed: u64, hours: i64) -> Vec<gridwatch::model::HourlyRollup> {
    let template = {
        let mut sink = gridwatch::analysis::engine::CollectSink::default();
        gridwatch::analysis::engine::analyze_stream(day_csv("2025-01-14").as_bytes(), "t", &Default::default(), &mut sink).unwrap();
        sink.rollups[0].clone()
    };
    (0..hours)
        .map(|h| {
            let k = (seed * 7 + h as u64) as f64;
            gridwatch::model::HourlyRollup {
                location: location.into(),
                timestamp: ts("2025-01-14T00:00:00Z") + chrono::Duration::hours(h),
                count: 1 + (seed + h as u64) % 4,
                load_avg_mw: 40.0 + k,
                load_min_mw: 30.0 + k,
                load_peak_mw: 50.0 + k,
                voltage_min_kv: 13.0 + k / 100.0,
                ..template.clone()
            }
        })
        .collect()
}

/// A table handle on the test's table whose requests and writes are counted.
fn counted_table(env: &Env) -> (gridwatch::aws::dynamo_table::DynamoTable, gridwatch::aws::counter::RequestCounter) {
    let counter = gridwatch::aws::counter::RequestCounter::new();
    let ddb = aws_sdk_dynamodb::Client::from_conf(aws_sdk_dynamodb::config::Builder::from(&env.sdk).interceptor(counter.clone()).build());
    (gridwatch::aws::dynamo_table::DynamoTable::new(ddb, env.table.name()), counter)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_hour_one_file_feeds_is_one_item_written_once() {
    let Some(ep) = endpoint(AWS_ENDPOINT_VAR) else { return };
    let env = Env::create(&ep).await;
    let (table, counter) = counted_table(&env);
    let cfg = gridwatch::config::AnalysisConfig::default();
    let rollups = file_rollups("s1", 1, 6);
    let mut stored = table.put_source_rollups("raw/a.csv", &rollups, &cfg).await.unwrap();
    stored.sort_by_key(|r| r.timestamp);
    assert_eq!(normalised(&stored), normalised(&rollups), "what the hours hold now");
    let (from, to) = (ts("2025-01-14T00:00:00Z"), ts("2025-01-15T00:00:00Z"));
    assert_eq!(normalised(&env.table.rollups("s1", from, to).await.unwrap()), normalised(&rollups));
    assert!(env.table.partition("P#s1").await.unwrap().is_empty(), "no parts for hours one file feeds");
    let writes = counter.dynamo_writes();
    assert_eq!((writes.items, writes.write_units), (6, 6), "one item, one write unit per hour: {writes:?}");

    // The same file again (a retry): nothing is written; its new version: only what changed.
    counter.take();
    table.put_source_rollups("raw/a.csv", &rollups, &cfg).await.unwrap();
    assert_eq!(counter.dynamo_writes().items, 0, "an unchanged hour is not written again");
    let mut changed = rollups.clone();
    changed[2].load_peak_mw += 1.0;
    table.put_source_rollups("raw/a.csv", &changed, &cfg).await.unwrap();
    assert_eq!(counter.dynamo_writes().items, 1);
    assert_eq!(env.table.rollups("s1", from, to).await.unwrap()[2].load_peak_mw, changed[2].load_peak_mw);
}

/// A source's listing written in several chunks (10 substations, 3 items a chunk) is read
/// back whole: a new version feeding 4 of the substations takes back the hours of the other
/// 6, the last chunks' included, and its listing replaces the old one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listing_written_in_chunks_is_taken_back_whole() {
    let Some(ep) = endpoint(AWS_ENDPOINT_VAR) else { return };
    let env = Env::create(&ep).await;
    let (table, counter) = counted_table(&env);
    let table = table.with_listing_chunk(3);
    let cfg = gridwatch::config::AnalysisConfig::default();
    let names: Vec<String> = (0..10).map(|i| format!("s{i:02}")).collect();
    let rollups: Vec<_> = names.iter().zip(1..).flat_map(|(name, seed)| file_rollups(name, seed, 2)).collect();
    let fed = |rollups: &[gridwatch::model::HourlyRollup]| {
        let mut hours = gridwatch::store::items::SourceHours::default();
        hours.observe(rollups);
        hours
    };
    let no_alarms = gridwatch::store::items::AlarmKeys::default();
    table.put_source_rollups("raw/x.csv", &rollups, &cfg).await.unwrap();
    table.retire_source("raw/x.csv", &fed(&rollups), &no_alarms, &gridwatch::store::items::ListingScope::Whole, &cfg).await.unwrap();
    assert_eq!(env.table.partition("S#raw/x.csv").await.unwrap().len(), 10, "every substation listed");

    let kept = &rollups[..8];
    table.put_source_rollups("raw/x.csv", kept, &cfg).await.unwrap();
    let left = table.retire_source("raw/x.csv", &fed(kept), &no_alarms, &gridwatch::store::items::ListingScope::Whole, &cfg).await.unwrap();
    assert_eq!(left, 12, "6 substations' 2 hours each are taken back");
    let (from, to) = (ts("2025-01-14T00:00:00Z"), ts("2025-01-15T00:00:00Z"));
    for (i, name) in names.iter().enumerate() {
        let hours = env.table.rollups(name, from, to).await.unwrap().len();
        assert_eq!(hours, if i < 4 { 2 } else { 0 }, "{name}");
    }
    let listing = env.table.partition("S#raw/x.csv").await.unwrap();
    assert_eq!(listing.len(), 4, "the new version's listing: {listing:?}");

    // A retry of that version: its spans are all fed still, so only the listing is read.
    counter.take();
    assert_eq!(table.retire_source("raw/x.csv", &fed(kept), &no_alarms, &gridwatch::store::items::ListingScope::Whole, &cfg).await.unwrap(), 0);
    let requests = counter.take();
    assert_eq!(requests.get("Query"), Some(&1), "the listing, no rollup or part: {requests:?}");
    assert_eq!(requests.get("BatchWriteItem"), None, "the listing is as it would be written: {requests:?}");
    assert_eq!(env.table.partition("S#raw/x.csv").await.unwrap(), listing, "the listing is unchanged");
}

/// Files racing for the same hours (new hours, hours one of them has alone, shared hours,
/// with a duplicate delivery of one of them) end with every hour the merge of every file's
/// rollup, as if they had come one after another.
///
/// Two distinct files race at a time: moto undoes a failed TransactWriteItems by restoring
/// a copy of the whole table taken when the transaction began, which also undoes the writes
/// other requests made meanwhile (DynamoDB's transactions are serializable and do not), so
/// on moto only races with no failing transaction give a meaningful result. With two files
/// an hour turns shared once, by the file that lost the solo put, and nothing can change the
/// solo item under that transaction (the duplicate writes the same revision).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn files_racing_for_the_same_hours_merge_as_if_they_came_in_turn() {
    use gridwatch::analysis::hour_stats;
    let Some(ep) = endpoint(AWS_ENDPOINT_VAR) else { return };
    let env = Env::create(&ep).await;
    let cfg = gridwatch::config::AnalysisConfig::default();
    let (from, to) = (ts("2025-01-14T00:00:00Z"), ts("2025-01-15T00:00:00Z"));
    for round in 0..9u64 {
        let location = format!("race_{round}");
        let files: Vec<(String, Vec<gridwatch::model::HourlyRollup>)> =
            (0..3u64).map(|f| (format!("raw/f{f}.csv"), file_rollups(&location, round * 10 + f, 6 + f as i64))).collect();
        // Already stored: nothing; f0 alone (its hours solo); f0 and f2 (hours shared).
        let stored_before: &[usize] = [&[][..], &[0], &[0, 2]][round as usize % 3];
        for &f in stored_before {
            env.table.put_source_rollups(&files[f].0, &files[f].1, &cfg).await.unwrap();
        }
        let mut racing = tokio::task::JoinSet::new();
        for f in [0, 1, 0] {
            let (table, (key, rollups), cfg) = (env.table.clone(), files[f].clone(), cfg.clone());
            racing.spawn(async move { table.put_source_rollups(&key, &rollups, &cfg).await });
        }
        while let Some(done) = racing.join_next().await {
            done.unwrap().unwrap();
        }
        let fed: Vec<&(String, Vec<_>)> = files.iter().enumerate().filter(|(f, _)| *f < 2 || stored_before.contains(f)).map(|(_, x)| x).collect();
        let mut expected: std::collections::BTreeMap<DateTime<Utc>, Vec<(String, gridwatch::model::HourlyRollup)>> = Default::default();
        for (key, rollups) in &fed {
            for r in rollups {
                expected.entry(r.timestamp).or_default().push((key.clone(), r.clone()));
            }
        }
        let shared_parts: usize = expected.values().filter(|p| p.len() > 1).map(Vec::len).sum();
        let expected: Vec<_> = expected.into_values().filter_map(|parts| hour_stats::combine(parts, &cfg)).collect();
        let stored = env.table.rollups(&location, from, to).await.unwrap();
        assert_eq!(normalised(&stored), normalised(&expected), "round {round}");
        let parts = env.table.partition(&format!("P#{location}")).await.unwrap();
        assert_eq!(parts.len(), shared_parts, "a part per file of each shared hour and none else, round {round}");
    }
}
