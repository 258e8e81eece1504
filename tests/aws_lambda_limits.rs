//! The Lambda's handler (in-process, against moto) within an invocation deadline and a
//! memory ceiling: a record that cannot finish stops cleanly — reported failed, nothing
//! announced — and the retry ends in the state of a clean run.
//!
//! Also, ignored by default, the throughput and request-count measurement behind the
//! README's Lambda cost model: `scripts/lambda_cost.sh` runs it in a release build.

mod aws_common;

use aws_common::{endpoint, s3_event, Env, AWS_ENDPOINT_VAR};
use gridwatch::aws::event::{EventResponse, RecordStatus};
use gridwatch::aws::handler::{LambdaHandler, Limits};
use std::time::{Duration, Instant};

/// Synthetic readings (CSV, from the project's generator).
fn generated_csv(substations: usize, days: u32) -> Vec<u8> {
    use gridwatch::simulator::generator::{write_readings, DataFormat, Generator, GeneratorConfig};
    let generator = Generator::new(GeneratorConfig {
        substations,
        days,
        ..GeneratorConfig::default()
    });
    let mut out = Vec::new();
    write_readings(DataFormat::Csv, false, generator.readings(), &mut out).unwrap();
    out
}

fn locations(csv: &[u8]) -> Vec<String> {
    let text = std::str::from_utf8(csv).unwrap();
    let mut out: Vec<String> = text
        .lines()
        .skip(1)
        .filter_map(|l| l.split(',').nth(1))
        .map(str::to_string)
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Every item of the substations' partitions and the index, as text, with what differs
/// between two clean runs in two environments taken out: the bucket's name (and the index
/// item's hash, which covers it), and the times of the run itself (when the index was
/// updated, when an alarm was notified).
async fn state(env: &Env, locations: &[String]) -> Vec<String> {
    let locations: Vec<&str> = locations.iter().map(String::as_str).collect();
    let mut out = Vec::new();
    for (key, mut item) in env.dump(&locations).await {
        item.remove("updated_at");
        item.remove("notified_at");
        item.remove("state_hash");
        // As JSON: its maps are sorted (the SDK's are hash maps, in no fixed order).
        let item: std::collections::HashMap<_, _> = item.into_iter().collect();
        let json: serde_json::Value =
            serde_dynamo::aws_sdk_dynamodb_1::from_item(item).expect("item as JSON");
        out.push(format!("{key:?} {json}").replace(&env.bucket, "BUCKET"));
    }
    out
}

/// The results report of `key`, with the bucket's name taken out.
async fn results(env: &Env, key: &str) -> String {
    let body = env
        .get(&gridwatch::store::object_keys::results_key(key))
        .await
        .expect("results");
    String::from_utf8(body)
        .unwrap()
        .replace(&env.bucket, "BUCKET")
}

fn limited(env: &Env, limits: Limits) -> LambdaHandler {
    env.pipeline().with_limits(limits)
}

fn statuses(r: &EventResponse) -> Vec<Option<RecordStatus>> {
    r.records.iter().map(|r| r.status).collect()
}

/// Nothing that announces the objects: no index item, no alarm, no results, no SNS message.
async fn nothing_announced(env: &Env, keys: &[&str]) {
    assert!(
        env.table.substations().await.unwrap().is_empty(),
        "index written"
    );
    assert!(
        env.table
            .alerts(chrono::DateTime::UNIX_EPOCH)
            .await
            .unwrap()
            .is_empty(),
        "alarm stored"
    );
    for key in keys {
        assert!(
            env.get(&gridwatch::store::object_keys::results_key(key))
                .await
                .is_none(),
            "results of {key} written"
        );
    }
    assert!(
        env.alert_messages(Duration::from_secs(1)).await.is_empty(),
        "published"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_deadline_stops_cleanly_and_the_retry_converges_to_a_clean_run() {
    let Some(ep) = endpoint(AWS_ENDPOINT_VAR) else {
        return;
    };
    let (stopped_env, clean_env) = (Env::create(&ep).await, Env::create(&ep).await);
    let big = generated_csv(10, 7);
    let small = aws_common::day_csv("2025-01-14");
    let keys = ["raw/two_weeks.csv", "raw/grid_data_2025-01-14.csv"];
    for env in [&stopped_env, &clean_env] {
        env.put(keys[0], big.clone()).await;
        env.put(keys[1], small.clone()).await;
    }
    let mut subs = locations(&big);
    subs.extend(locations(small.as_bytes()));
    let event = s3_event(&stopped_env.bucket, &keys);

    // The big file needs seconds against moto; the deadline leaves it 150 ms past the
    // reserve, so it stops while streaming, and the small file after it cannot start.
    let reserve = Duration::from_millis(300);
    let handler = limited(
        &stopped_env,
        Limits {
            reserve: Some(reserve),
            memory_limit_bytes: None,
            shard_mb: None,
        },
    );
    let response = handler
        .handle_until(
            &event,
            Some(Instant::now() + reserve + Duration::from_millis(150)),
        )
        .await;
    assert_eq!(
        statuses(&response),
        [Some(RecordStatus::Failed); 2],
        "{response:?}"
    );
    assert!(
        response.any_failed(),
        "the Lambda returns an error, so S3 retries the event"
    );
    for record in &response.records {
        assert!(
            record.message.contains("before the invocation deadline")
                && record.message.contains("the retry starts again"),
            "{record:?}"
        );
    }
    eprintln!("stopped: {}", response.records[0].message);
    nothing_announced(&stopped_env, &keys).await;

    // The retry (S3 sends the same event again), without a deadline this time.
    let retry = stopped_env.pipeline().handle(&event).await;
    assert_eq!(
        statuses(&retry),
        [Some(RecordStatus::Processed); 2],
        "{retry:?}"
    );
    let clean = clean_env
        .pipeline()
        .handle(&s3_event(&clean_env.bucket, &keys))
        .await;
    assert_eq!(
        statuses(&clean),
        [Some(RecordStatus::Processed); 2],
        "{clean:?}"
    );
    for (a, b) in retry.records.iter().zip(&clean.records) {
        assert_eq!(
            (a.rows_read, a.rollups_written, a.alerts, a.new_alerts),
            (b.rows_read, b.rollups_written, b.alerts, b.new_alerts)
        );
    }
    let (after_retry, after_clean) = (
        state(&stopped_env, &subs).await,
        state(&clean_env, &subs).await,
    );
    assert!(
        after_clean.len() > 10 * 7 * 24,
        "rollups of every substation-hour: {}",
        after_clean.len()
    );
    let only = |a: &[String], b: &[String]| {
        a.iter()
            .filter(|x| !b.contains(x))
            .map(|x| x.chars().take(300).collect::<String>())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        after_retry.len(),
        after_clean.len(),
        "only after the retry: {:#?}\nonly after the clean run: {:#?}",
        only(&after_retry, &after_clean),
        only(&after_clean, &after_retry)
    );
    for (a, b) in after_retry.iter().zip(&after_clean) {
        assert_eq!(a, b);
    }
    for key in keys {
        assert_eq!(
            results(&stopped_env, key).await,
            results(&clean_env, key).await,
            "results of {key}"
        );
    }
    // The alarms were announced once, by the retry, as in the clean run.
    let (retry_messages, clean_messages) = (
        stopped_env.alert_messages(Duration::from_secs(3)).await,
        clean_env.alert_messages(Duration::from_secs(3)).await,
    );
    assert!(!clean_messages.is_empty());
    assert_eq!(retry_messages.len(), clean_messages.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_memory_ceiling_refuses_the_object_before_storing_anything() {
    let Some(ep) = endpoint(AWS_ENDPOINT_VAR) else {
        return;
    };
    if gridwatch::store::budget::resident_bytes().is_none() {
        eprintln!("note: skipping: no /proc/self/status, the memory ceiling is not enforced here");
        return;
    }
    let env = Env::create(&ep).await;
    let key = "raw/grid_data_2025-01-14.csv";
    env.put(key, aws_common::day_csv("2025-01-14")).await;
    let event = s3_event(&env.bucket, &[key]);

    // A ceiling below what this process already holds: refused at the first read.
    let tight = limited(
        &env,
        Limits {
            reserve: None,
            memory_limit_bytes: Some(1 << 20),
            shard_mb: None,
        },
    );
    let response = tight
        .handle_until(&event, Some(Instant::now() + Duration::from_secs(60)))
        .await;
    assert_eq!(
        statuses(&response),
        [Some(RecordStatus::Failed)],
        "{response:?}"
    );
    let message = &response.records[0].message;
    assert!(
        message.contains(key)
            && message.contains("ceiling of 1 MiB")
            && message.contains("split the object"),
        "{message}"
    );
    nothing_announced(&env, &[key]).await;
    assert!(
        env.dump(&["sub_a", "sub_b"]).await.is_empty(),
        "nothing stored at all"
    );

    // A ceiling the run stays under: processed as without one.
    let roomy = limited(
        &env,
        Limits {
            reserve: None,
            memory_limit_bytes: Some(64 << 30),
            shard_mb: None,
        },
    );
    let response = roomy
        .handle_until(&event, Some(Instant::now() + Duration::from_secs(60)))
        .await;
    assert_eq!(
        statuses(&response),
        [Some(RecordStatus::Processed)],
        "{response:?}"
    );
    assert_eq!(response.records[0].rollups_written, 48);
}

/// CPU seconds this process has used (user + system), from `/proc/self/stat`.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0) // USER_HZ is 100 on Linux
}

/// The Lambda path measured: one object (`GRIDWATCH_COST_INPUT`, else generated) through
/// the in-process handler against moto, every AWS request counted per service and
/// operation, DynamoDB writes sized in write units. Writes one JSON object to
/// `GRIDWATCH_COST_OUT` (or stdout). `scripts/lambda_cost.sh` runs it (release build, one
/// core) and prices it; the figures are measurements, so nothing here is asserted beyond
/// the run having succeeded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: scripts/lambda_cost.sh"]
async fn lambda_throughput_and_requests_per_object() {
    let Some(ep) = endpoint(AWS_ENDPOINT_VAR) else { return };
    let env = Env::create(&ep).await;
    let body = match std::env::var("GRIDWATCH_COST_INPUT") {
        Ok(path) => std::fs::read(&path).expect("read GRIDWATCH_COST_INPUT"),
        Err(_) => generated_csv(20, 7),
    };
    let key = "raw/cost_input.csv";
    env.put(key, body.clone()).await;

    let (handler, counter) = counted_handler(&env);

    let (cpu_before, started) = (cpu_seconds(), Instant::now());
    let response = handler.handle(&s3_event(&env.bucket, &[key])).await;
    let (wall, cpu) = (started.elapsed().as_secs_f64(), cpu_seconds().zip(cpu_before).map(|(a, b)| a - b));
    assert_eq!(statuses(&response), [Some(RecordStatus::Processed)], "{response:?}");
    let record = &response.records[0];

    // The engine alone on the same bytes, same build, no I/O.
    let engine_started = Instant::now();
    let mut sink = gridwatch::analysis::engine::CollectSink::default();
    gridwatch::analysis::engine::analyze_stream(&body[..], key, &Default::default(), &mut sink).unwrap();
    let engine_s = engine_started.elapsed().as_secs_f64();

    let writes = counter.dynamo_writes();
    let per_operation = |counter: &gridwatch::aws::counter::RequestCounter| -> Vec<serde_json::Value> {
        counter
            .by_service()
            .into_iter()
            .map(|((service, operation), n)| serde_json::json!({"service": service, "operation": operation, "requests": n}))
            .collect()
    };
    let requests = per_operation(&counter);

    // The same event again (S3 delivers at least once): what a redelivery costs.
    counter.take();
    let (retry_cpu_before, retry_started) = (cpu_seconds(), Instant::now());
    let again = handler.handle(&s3_event(&env.bucket, &[key])).await;
    let (retry_wall, retry_cpu) = (retry_started.elapsed().as_secs_f64(), cpu_seconds().zip(retry_cpu_before).map(|(a, b)| a - b));
    assert_eq!(statuses(&again), [Some(RecordStatus::Processed)], "{again:?}");
    assert_eq!(again.records[0].new_alerts, 0, "a redelivery announces nothing");
    let retry_writes = counter.dynamo_writes();
    let out = serde_json::json!({
        "input_bytes": body.len(),
        "rows": record.rows_read,
        "rollups": record.rollups_written,
        "alarms": record.alerts,
        "new_alarms": record.new_alerts,
        "handler_wall_s": wall,
        "handler_cpu_s": cpu,
        "engine_alone_s": engine_s,
        "phases_ms": record.phases_ms,
        "requests": requests,
        "dynamodb_items_written": writes.items,
        "dynamodb_item_bytes": writes.item_bytes,
        "dynamodb_largest_item_bytes": writes.largest_item_bytes,
        "dynamodb_write_units": writes.write_units,
        "peak_rss_bytes": gridwatch::store::budget::resident_bytes(),
        "retry": {
            "handler_wall_s": retry_wall,
            "handler_cpu_s": retry_cpu,
            "requests": per_operation(&counter),
            "dynamodb_items_written": retry_writes.items,
            "dynamodb_write_units": retry_writes.write_units,
        },
    });
    let mut out = out;
    if let Some(shards) = std::env::var("GRIDWATCH_COST_SHARDS").ok().and_then(|n| n.parse::<usize>().ok()).filter(|n| *n > 1) {
        out["fanned_out"] = fanned_out_cost(&ep, key, &body, shards).await;
    }
    match std::env::var("GRIDWATCH_COST_OUT") {
        Ok(path) => std::fs::write(path, serde_json::to_string_pretty(&out).unwrap()).unwrap(),
        Err(_) => println!("{out:#}"),
    }
}

/// The handler with its own clients, each counting its requests on the returned counter.
fn counted_handler(env: &Env) -> (LambdaHandler, gridwatch::aws::counter::RequestCounter) {
    let counter = gridwatch::aws::counter::RequestCounter::new();
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&env.sdk).force_path_style(true).interceptor(counter.clone()).build(),
    );
    let dynamodb =
        aws_sdk_dynamodb::Client::from_conf(aws_sdk_dynamodb::config::Builder::from(&env.sdk).interceptor(counter.clone()).build());
    let sns = aws_sdk_sns::Client::from_conf(aws_sdk_sns::config::Builder::from(&env.sdk).interceptor(counter.clone()).build());
    (LambdaHandler::from_clients(s3, dynamodb, sns, env.handler_config()), counter)
}

/// The same object fanned out into `shards` invocations (`gridwatch::store::fanout`), in a
/// fresh environment: each shard's wall and CPU time, requests and items, and the engine
/// alone on one shard (reading the whole object, analysing a shard of it) — what a shard of
/// a 10 GB object costs besides its writes.
async fn fanned_out_cost(ep: &str, key: &str, body: &[u8], shards: usize) -> serde_json::Value {
    let env = Env::create(ep).await;
    env.put(key, body.to_vec()).await;
    let (handler, counter) = counted_handler(&env);
    let shard_mb = body.len() as f64 / (shards as f64 - 0.5) / 1e6;
    let handler = handler.with_limits(Limits { shard_mb: Some(shard_mb), ..Limits::default() });
    let response = handler.handle(&s3_event(&env.bucket, &[key])).await;
    assert_eq!(statuses(&response), [Some(RecordStatus::Sharded)], "{response:?}");
    let orders: Vec<String> = gridwatch::store::fanout::ShardOrder::all(
        key,
        env.s3.head_object().bucket(&env.bucket).key(key).send().await.unwrap().e_tag().unwrap_or_default(),
        shards,
    )
    .iter()
    .map(gridwatch::store::fanout::ShardOrder::order_key)
    .collect();
    let mut per_shard = Vec::new();
    for order in &orders {
        counter.take();
        let (cpu_before, started) = (cpu_seconds(), Instant::now());
        let response = handler.handle(&s3_event(&env.bucket, &[order])).await;
        let (wall, cpu) = (started.elapsed().as_secs_f64(), cpu_seconds().zip(cpu_before).map(|(a, b)| a - b));
        assert_eq!(statuses(&response), [Some(RecordStatus::Processed)], "{response:?}");
        let writes = counter.dynamo_writes();
        let requests: u64 = counter.by_service().into_values().sum();
        per_shard.push(serde_json::json!({
            "wall_s": wall,
            "cpu_s": cpu,
            "substations": response.records[0].locations.len(),
            "rollups": response.records[0].rollups_written,
            "dynamodb_items_written": writes.items,
            "dynamodb_write_units": writes.write_units,
            "requests": requests,
        }));
    }
    // The engine on shard 0 alone: reads every row, analyses a shard's.
    let started = Instant::now();
    let mut sink = gridwatch::analysis::engine::CollectSink::default();
    let filter = gridwatch::analysis::ingest::ShardFilter::new(0, shards);
    gridwatch::analysis::engine::analyze_shard_stream(body, key, &Default::default(), &mut sink, filter).unwrap();
    serde_json::json!({ "shards": shards, "per_shard": per_shard, "shard_engine_alone_s": started.elapsed().as_secs_f64() })
}
