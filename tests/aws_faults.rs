//! Faults on every AWS call (issue 12, build item 4): the Lambda path and the dashboard's
//! data collection run through [`FaultProxy`] in front of moto, which injects HTTP 500/503,
//! each service's throttling error, timeouts and connection resets, before moto sees a
//! request and after it applied one (the answer is lost).
//!
//! Run with `--nocapture` to see the table of what was injected and what survived.

mod aws_common;

use aws_common::fault_proxy::{ALL_FAULTS, Fault, FaultPlan, FaultProxy, Kind};
use aws_common::*;
use aws_sdk_dynamodb::types::AttributeValue;
use gridwatch::aws::event::RecordStatus;
use gridwatch::aws::handler::LambdaHandler;
use std::collections::BTreeMap;
use std::time::Duration;

/// The test clients' attempt timeout, and how long a "timeout" fault holds the answer.
const ATTEMPT_TIMEOUT: Duration = Duration::from_millis(1500);
const HOLD: Duration = Duration::from_millis(2500);
/// Deliveries of one event before the test gives up (S3 itself retries twice, then a
/// dead-letter queue or on-failure destination redelivers).
const MAX_DELIVERIES: u32 = 25;

/// The production SDK configuration (gridwatch::aws::sdk::load: retries, timeouts),
/// through the proxy, with the short attempt timeout and moto's test credentials.
async fn sdk_through(proxy: &FaultProxy) -> aws_config::SdkConfig {
    let opts = gridwatch::aws::sdk::SdkOptions {
        region: Some("us-east-1".into()),
        endpoint_url: Some(proxy.url().to_string()),
        attempt_timeout: Some(ATTEMPT_TIMEOUT),
        ..Default::default()
    };
    let creds =
        aws_sdk_s3::config::Credentials::new("test", "test", None, None, "gridwatch-fault-tests");
    gridwatch::aws::sdk::load(&opts)
        .await
        .into_builder()
        .credentials_provider(aws_sdk_s3::config::SharedCredentialsProvider::new(creds))
        .build()
}

/// Three days of readings (one undervoltage episode each, one bad row on the 14th, so
/// that there is a rejected-rows object).
fn files() -> Vec<(String, String)> {
    ["2025-01-13", "2025-01-14", "2025-01-15"]
        .into_iter()
        .map(|day| {
            let mut body = day_csv(day);
            if day == "2025-01-14" {
                body.push_str("2025-01-14T12:00:00Z,sub_a,not-a-number,55,13.8,60,5,3\n");
            }
            (format!("raw/grid_data_{day}.csv"), body)
        })
        .collect()
}

/// What a run left behind, with what differs between two runs by design (bucket and
/// table names, wall-clock times) taken out.
#[derive(Debug, PartialEq)]
struct Stored {
    items: BTreeMap<(String, String), BTreeMap<String, String>>,
    objects: BTreeMap<String, Vec<u8>>,
}

/// Wall-clock attributes (when it was processed or notified, and the hash that covers
/// the bucket name); everything else must match.
const RUN_DEPENDENT: [&str; 3] = ["updated_at", "notified_at", "state_hash"];

async fn stored(env: &Env) -> Stored {
    let items = env
        .dump(&["sub_a", "sub_b"])
        .await
        .into_iter()
        .map(|(key, item)| {
            let attrs = item
                .into_iter()
                .filter(|(name, _)| !RUN_DEPENDENT.contains(&name.as_str()))
                .map(|(name, value)| (name, canonical(&value).replace(&env.bucket, "BUCKET")))
                .collect();
            (key, attrs)
        })
        .collect();
    let mut objects = BTreeMap::new();
    for prefix in ["results/", "rejected/", "athena/"] {
        let listed = env
            .s3
            .list_objects_v2()
            .bucket(&env.bucket)
            .prefix(prefix)
            .send()
            .await
            .expect("list objects");
        for o in listed.contents() {
            let key = o.key().unwrap_or_default().to_string();
            let body = env.get(&key).await.expect("listed object");
            objects.insert(
                key,
                String::from_utf8_lossy(&body)
                    .replace(&env.bucket, "BUCKET")
                    .into_bytes(),
            );
        }
    }
    Stored { items, objects }
}

/// An attribute value as text, maps with sorted keys (DynamoDB's maps have no order).
fn canonical(value: &AttributeValue) -> String {
    match value {
        AttributeValue::M(m) => {
            let sorted: BTreeMap<&String, String> =
                m.iter().map(|(k, v)| (k, canonical(v))).collect();
            format!("M{sorted:?}")
        }
        AttributeValue::L(l) => format!("L{:?}", l.iter().map(canonical).collect::<Vec<_>>()),
        AttributeValue::Ss(s) | AttributeValue::Ns(s) => {
            let mut s = s.clone();
            s.sort();
            format!("{s:?}")
        }
        other => format!("{other:?}"),
    }
}

/// Alarm id -> how many SNS messages arrived for it (counted on moto's SQS queue, not
/// through the proxy).
async fn messages_per_alarm(env: &Env) -> BTreeMap<String, u32> {
    let mut out = BTreeMap::new();
    for m in env.alert_messages(Duration::from_secs(2)).await {
        let id = m["alert_id"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| format!("digest {}", m["source"]));
        *out.entry(id).or_default() += 1;
    }
    out
}

/// Delivers the event of `key` until the record is processed, as S3 and Lambda retry a
/// failed asynchronous invocation; then once more (S3 delivers at least once). Returns the
/// failed deliveries.
async fn deliver_until_processed(handler: &LambdaHandler, bucket: &str, key: &str) -> u32 {
    let event = s3_event(bucket, &[key]);
    let mut failed = 0;
    let mut processed = 0;
    while processed < 2 {
        let response = handler.handle(&event).await;
        match response.records[0].status {
            Some(RecordStatus::Processed) => processed += 1,
            Some(RecordStatus::Failed) => {
                failed += 1;
                assert!(
                    response.any_failed(),
                    "a failed record fails the invocation, so that it is retried"
                );
                assert!(
                    failed < MAX_DELIVERIES,
                    "{key} still failing after {failed} deliveries: {response:?}"
                );
            }
            other => panic!("{key}: unexpected status {other:?}: {response:?}"),
        }
    }
    failed
}

/// The fault-free run every trial is compared with.
async fn reference(ep: &str) -> (Stored, BTreeMap<String, u32>) {
    let env = Env::create(ep).await;
    let handler = env.pipeline();
    for (key, body) in files() {
        env.put(&key, body).await;
        assert_eq!(
            deliver_until_processed(&handler, &env.bucket, &key).await,
            0,
            "no faults, no failures"
        );
    }
    (stored(&env).await, messages_per_alarm(&env).await)
}

/// One trial: the files through the Lambda handler with faults, redelivering failed records.
struct Trial {
    rate: f64,
    seed: u64,
    requests: u64,
    faults: BTreeMap<Fault, u64>,
    failed_deliveries: u32,
    state_equal: bool,
    duplicated_messages: u32,
    lost_messages: u32,
}

async fn trial(ep: &str, plan: FaultPlan, want: &(Stored, BTreeMap<String, u32>)) -> Trial {
    let env = Env::create(ep).await;
    let (rate, seed) = (plan.rate, plan.seed);
    let proxy = FaultProxy::start(ep, plan);
    let handler = LambdaHandler::new(&sdk_through(&proxy).await, env.handler_config());
    let mut failed_deliveries = 0;
    for (key, body) in files() {
        env.put(&key, body).await;
        failed_deliveries += deliver_until_processed(&handler, &env.bucket, &key).await;
    }
    let got = stored(&env).await;
    let messages = messages_per_alarm(&env).await;
    let duplicated_messages = messages.values().map(|n| n.saturating_sub(1)).sum();
    let lost_messages = want
        .1
        .keys()
        .filter(|id| !messages.contains_key(*id))
        .count() as u32;
    if got != want.0 {
        for (key, item) in &want.0.items {
            if got.items.get(key) != Some(item) {
                eprintln!(
                    "item {key:?} differs:\n  want {item:?}\n  got  {:?}",
                    got.items.get(key)
                );
            }
        }
        for key in got.items.keys().filter(|k| !want.0.items.contains_key(*k)) {
            eprintln!("extra item {key:?}");
        }
        for (key, body) in &want.0.objects {
            if got.objects.get(key) != Some(body) {
                eprintln!("object {key} differs or is missing");
            }
        }
    }
    Trial {
        rate,
        seed,
        requests: proxy.total_requests(),
        faults: proxy.fault_totals(),
        failed_deliveries,
        state_equal: got == want.0,
        duplicated_messages,
        lost_messages,
    }
}

fn table(title: &str, trials: &[Trial]) -> String {
    let mut out = format!("{title}\n| rate | seed | requests |");
    for f in ALL_FAULTS {
        out.push_str(&format!(" {f} |"));
    }
    out.push_str(" failed deliveries | state = fault-free | SNS duplicated | SNS lost |\n|");
    out.push_str(&"---|".repeat(3 + ALL_FAULTS.len() + 4));
    out.push('\n');
    for t in trials {
        out.push_str(&format!(
            "| {:.0} % | {} | {} |",
            t.rate * 100.0,
            t.seed,
            t.requests
        ));
        for f in ALL_FAULTS {
            out.push_str(&format!(" {} |", t.faults.get(&f).copied().unwrap_or(0)));
        }
        out.push_str(&format!(
            " {} | {} | {} | {} |\n",
            t.failed_deliveries,
            if t.state_equal { "yes" } else { "NO" },
            t.duplicated_messages,
            t.lost_messages
        ));
    }
    out
}

/// Every fault on DynamoDB and S3, before and after moto; on SNS only before moto (a
/// standard topic cannot take a Publish back, so a lost answer is either a repeat or a
/// loss: see `a_lost_publish_answer_repeats_the_message_rather_than_losing_it`).
fn plan(seed: u64, rate: f64) -> FaultPlan {
    FaultPlan {
        before_only: vec!["sns".into()],
        ..FaultPlan::new(seed, rate, HOLD)
    }
}

async fn lambda_path_under(rate: f64, seeds: &[u64]) {
    let Some(ep) = endpoint(AWS_ENDPOINT_VAR) else {
        return;
    };
    let want = reference(&ep).await;
    assert_eq!(
        want.1.len(),
        3,
        "three undervoltage episodes, one message each: {:?}",
        want.1
    );
    let mut trials = Vec::new();
    for &seed in seeds {
        trials.push(trial(&ep, plan(seed, rate), &want).await);
    }
    println!(
        "{}",
        table(
            &format!("Lambda path, faults at {:.0} %", rate * 100.0),
            &trials
        )
    );
    for t in &trials {
        assert!(
            t.faults.values().sum::<u64>() > 0,
            "seed {}: no fault was injected",
            t.seed
        );
        assert!(
            t.state_equal,
            "seed {}: stored state differs from the fault-free run",
            t.seed
        );
        assert_eq!(
            (t.duplicated_messages, t.lost_messages),
            (0, 0),
            "seed {}: every alarm announced exactly once",
            t.seed
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lambda_state_under_10_percent_faults_equals_a_fault_free_run() {
    lambda_path_under(0.10, &[1, 2]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lambda_state_under_30_percent_faults_equals_a_fault_free_run() {
    lambda_path_under(0.30, &[3, 4]).await;
}

/// A record that cannot finish (every request of one operation fails) is reported failed,
/// so S3/Lambda retries it; once the faults stop the retry converges to the fault-free
/// state and announces each alarm once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_that_cannot_finish_fails_and_its_retry_converges() {
    let Some(ep) = endpoint(AWS_ENDPOINT_VAR) else {
        return;
    };
    let want = reference(&ep).await;
    // UpdateItem (the alarm's notification claim) gets faults before DynamoDB only: a claim
    // applied whose every answer is lost cannot be given back while DynamoDB fails, and its
    // alarm stays unannounced (the gap the README names).
    for (operation, before_only) in [
        ("BatchWriteItem", false),
        ("UpdateItem", true),
        ("Publish", true),
        ("PutObject", false),
    ] {
        let env = Env::create(&ep).await;
        let mut plan = FaultPlan {
            only_operations: vec![operation.into()],
            ..plan(7, 1.0)
        };
        if before_only {
            plan.before_only = vec!["dynamodb".into(), "sns".into()];
        }
        let proxy = FaultProxy::start(&ep, plan);
        let handler = LambdaHandler::new(&sdk_through(&proxy).await, env.handler_config());
        for (key, body) in files() {
            env.put(&key, body).await;
            let response = handler.handle(&s3_event(&env.bucket, &[&key])).await;
            assert_eq!(
                response.records[0].status,
                Some(RecordStatus::Failed),
                "{operation} failing: {response:?}"
            );
            assert!(response.any_failed());
        }
        proxy.set_rate(0.0);
        for (key, _) in files() {
            deliver_until_processed(&handler, &env.bucket, &key).await;
        }
        assert_eq!(
            stored(&env).await,
            want.0,
            "{operation}: the retried records converge"
        );
        assert_eq!(
            messages_per_alarm(&env).await,
            want.1,
            "{operation}: each alarm announced once"
        );
        let faults: u64 = proxy.fault_totals().values().sum();
        println!("{operation} failing: {faults} faults injected, records failed then converged");
    }
}

/// The notification claim (an UpdateItem) applied by DynamoDB, its answer lost, retried by
/// the SDK: the retry must still own the claim, or the alarm is never announced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_whose_answer_was_lost_still_announces_the_alarm() {
    let Some(ep) = endpoint(AWS_ENDPOINT_VAR) else {
        return;
    };
    let env = Env::create(&ep).await;
    let plan = FaultPlan {
        only_operations: vec!["UpdateItem".into()],
        faults: vec![Fault::After(Kind::Http500)],
        per_request: 1,
        ..FaultPlan::new(13, 1.0, HOLD)
    };
    let proxy = FaultProxy::start(&ep, plan);
    let handler = LambdaHandler::new(&sdk_through(&proxy).await, env.handler_config());
    let (key, body) = files().remove(0);
    env.put(&key, body).await;
    let response = handler.handle(&s3_event(&env.bucket, &[&key])).await;
    assert_eq!(
        response.records[0].status,
        Some(RecordStatus::Processed),
        "{response:?}"
    );
    assert!(
        proxy.fault_totals().values().sum::<u64>() >= 1,
        "the claim's answer was lost"
    );
    assert_eq!(response.records[0].new_alerts, 1, "{response:?}");
    assert_eq!(
        messages_per_alarm(&env)
            .await
            .into_values()
            .collect::<Vec<_>>(),
        [1],
        "announced once"
    );
}

/// One alarm's claim stored, the next alarm's write failing: the record fails, and the
/// claims already made are given back, so the retry announces both alarms.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claims_made_before_a_failed_alarm_write_are_given_back() {
    let Some(ep) = endpoint(AWS_ENDPOINT_VAR) else {
        return;
    };
    let env = Env::create(&ep).await;
    let plan = FaultPlan {
        only_operations: vec!["UpdateItem".into()],
        body_contains: Some("2025-01-14T10:".into()),
        faults: vec![Fault::Before(Kind::Http503)],
        ..FaultPlan::new(17, 1.0, HOLD)
    };
    let proxy = FaultProxy::start(&ep, plan);
    let handler = LambdaHandler::new(&sdk_through(&proxy).await, env.handler_config());
    // Two days in one file: two undervoltage episodes, announced one by one.
    let key = "raw/two_days.csv";
    let second_day = day_csv("2025-01-14");
    env.put(
        key,
        day_csv("2025-01-13") + second_day.split_once('\n').unwrap().1,
    )
    .await;
    let response = handler.handle(&s3_event(&env.bucket, &[key])).await;
    assert_eq!(
        response.records[0].status,
        Some(RecordStatus::Failed),
        "{response:?}"
    );
    proxy.set_rate(0.0);
    let response = handler.handle(&s3_event(&env.bucket, &[key])).await;
    assert_eq!(
        response.records[0].status,
        Some(RecordStatus::Processed),
        "{response:?}"
    );
    let messages = messages_per_alarm(&env).await;
    assert_eq!(
        messages.values().collect::<Vec<_>>(),
        [&1, &1],
        "both alarms announced once: {messages:?}"
    );
}

/// Two alarms announced one by one, the second Publish failing: the record fails, and
/// only the unpublished alarm's claim is given back, so the retry publishes that one and
/// does not repeat the first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_second_publish_does_not_repeat_the_first() {
    let Some(ep) = endpoint(AWS_ENDPOINT_VAR) else {
        return;
    };
    let env = Env::create(&ep).await;
    let plan = FaultPlan {
        only_operations: vec!["Publish".into()],
        // The form-encoded body holds the second episode's start, `:` escaped.
        body_contains: Some("2025-01-14T10".into()),
        faults: vec![Fault::Before(Kind::Http503)],
        ..FaultPlan::new(19, 1.0, HOLD)
    };
    let proxy = FaultProxy::start(&ep, plan);
    let handler = LambdaHandler::new(&sdk_through(&proxy).await, env.handler_config());
    let key = "raw/two_days.csv";
    let second_day = day_csv("2025-01-14");
    env.put(key, day_csv("2025-01-13") + second_day.split_once('\n').unwrap().1).await;
    let response = handler.handle(&s3_event(&env.bucket, &[key])).await;
    assert_eq!(response.records[0].status, Some(RecordStatus::Failed), "{response:?}");
    let first = messages_per_alarm(&env).await;
    assert_eq!(first.values().collect::<Vec<_>>(), [&1], "the first alarm went out before the failure: {first:?}");
    proxy.set_rate(0.0);
    let response = handler.handle(&s3_event(&env.bucket, &[key])).await;
    assert_eq!(response.records[0].status, Some(RecordStatus::Processed), "{response:?}");
    // The queue hands each message out once: add the two readings up.
    let mut messages = first;
    for (id, n) in messages_per_alarm(&env).await {
        *messages.entry(id).or_default() += n;
    }
    assert_eq!(messages.values().collect::<Vec<_>>(), [&1, &1], "each alarm announced once: {messages:?}");
}

/// SNS cannot take a Publish back: when moto published but the answer was lost, the SDK
/// (or the redelivered event) publishes again. The recipe prefers a repeated message to a
/// lost alarm; the repeat carries the same `alert_id`, so subscribers can drop it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_publish_answer_repeats_the_message_rather_than_losing_it() {
    let Some(ep) = endpoint(AWS_ENDPOINT_VAR) else {
        return;
    };
    let env = Env::create(&ep).await;
    let plan = FaultPlan {
        only_operations: vec!["Publish".into()],
        faults: vec![
            Fault::After(Kind::Http500),
            Fault::After(Kind::Reset),
            Fault::After(Kind::Timeout),
        ],
        ..FaultPlan::new(11, 0.5, HOLD)
    };
    let proxy = FaultProxy::start(&ep, plan);
    let handler = LambdaHandler::new(&sdk_through(&proxy).await, env.handler_config());
    for (key, body) in files() {
        env.put(&key, body).await;
        deliver_until_processed(&handler, &env.bucket, &key).await;
    }
    let messages = messages_per_alarm(&env).await;
    let lost_answers: u64 = proxy.fault_totals().values().sum();
    let repeats: u32 = messages.values().map(|n| n - 1).sum();
    println!(
        "SNS Publish with lost answers: {lost_answers} answers lost, {} alarms, {repeats} repeated messages",
        messages.len()
    );
    assert_eq!(
        messages.len(),
        3,
        "every alarm announced at least once: {messages:?}"
    );
    assert!(
        repeats as u64 <= lost_answers,
        "a repeat only where an answer was lost: {messages:?}"
    );
}

/// A request whose answer never comes fails after the attempt timeout (and its retries)
/// instead of waiting for the Lambda's deadline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_that_is_never_answered_times_out() {
    let Some(ep) = endpoint(AWS_ENDPOINT_VAR) else {
        return;
    };
    let default = gridwatch::aws::sdk::load(&Default::default()).await;
    assert_eq!(
        default
            .timeout_config()
            .and_then(|t| t.operation_attempt_timeout()),
        Some(gridwatch::aws::sdk::ATTEMPT_TIMEOUT)
    );
    let plan = FaultPlan {
        faults: vec![Fault::Before(Kind::Timeout)],
        ..FaultPlan::new(5, 1.0, Duration::from_secs(600))
    };
    let proxy = FaultProxy::start(&ep, plan);
    let table = gridwatch::aws::dynamo_table::DynamoTable::new(
        aws_sdk_dynamodb::Client::new(&sdk_through(&proxy).await),
        "GridAnalysis",
    );
    let outcome = tokio::time::timeout(Duration::from_secs(120), table.substations()).await;
    let err = outcome
        .expect("the SDK gives up by itself")
        .expect_err("no answer is an error");
    assert!(
        format!("{err:#}").to_lowercase().contains("timeout"),
        "{err:#}"
    );
    assert!(
        proxy.total_requests() >= 2,
        "the attempt was retried: {:?}",
        proxy.requests()
    );
}

/// The dashboard's data collection (tui::collect::store_poller over the DynamoDB store)
/// keeps polling through faults, shows the failure (the app's banner) and recovers when
/// the faults stop, picking up data written meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_keeps_polling_shows_the_fault_and_recovers() {
    use gridwatch::tui::app::{App, AppConfig, Interest};
    use gridwatch::tui::msg::Msg;
    let Some(ep) = endpoint(AWS_ENDPOINT_VAR) else {
        return;
    };
    let env = Env::create(&ep).await;
    let files = files();
    env.put(&files[0].0, files[0].1.clone()).await;
    deliver_until_processed(&env.pipeline(), &env.bucket, &files[0].0).await;

    let proxy = FaultProxy::start(&ep, plan(21, 0.3));
    let sdk = sdk_through(&proxy).await;
    let opts = gridwatch::aws::dashboard_store::AwsStoreOptions {
        table: env.table.name().to_string(),
        read_only: true,
        label: "(moto via fault proxy)".into(),
        ..Default::default()
    };
    let store: gridwatch::backend::SharedStore =
        std::sync::Arc::new(gridwatch::aws::dashboard_store::AwsStore::new(&sdk, opts));
    let (tx, mut rx) = tokio::sync::mpsc::channel(1024);
    let interest = Interest {
        locations: vec!["sub_a".into(), "sub_b".into()],
        forecasts: vec!["sub_b".into()],
        span: chrono::Duration::hours(24),
        zoom: chrono::Duration::hours(24),
        end: None,
    };
    let (_interest_tx, interest_rx) = tokio::sync::watch::channel(interest);
    let poller = tokio::spawn(gridwatch::tui::collect::store_poller(
        store,
        std::sync::Arc::new(gridwatch::backend::WallClock),
        tx,
        interest_rx,
        std::sync::Arc::new(tokio::sync::Notify::new()),
        Duration::from_millis(200),
        chrono::Duration::minutes(15),
    ));
    let mut app = App::new(AppConfig::default(), chrono::Utc::now());
    // Feeds the poller's messages to the app for `wait`; returns what came.
    async fn pump(
        rx: &mut tokio::sync::mpsc::Receiver<Msg>,
        app: &mut App,
        wait: Duration,
        mut until: impl FnMut(&App, &Msg) -> bool,
    ) -> Vec<String> {
        let deadline = tokio::time::Instant::now() + wait;
        let mut seen = Vec::new();
        while let Ok(Some(msg)) = tokio::time::timeout_at(deadline, rx.recv()).await {
            seen.push(format!("{msg:?}").chars().take(120).collect::<String>());
            app.update(msg.clone());
            if until(app, &msg) {
                break;
            }
        }
        seen
    }
    let newest = |app: &App| app.newest_data();

    // 30 % faults: the data arrives anyway (the SDK retries, the poller backs off and retries).
    let seen = pump(
        &mut rx,
        &mut app,
        Duration::from_secs(30),
        |_, m| matches!(m, Msg::Rollups { location, .. } if location == "sub_b"),
    )
    .await;
    assert!(
        newest(&app).is_some(),
        "the first poll got through at 30 % faults: {seen:?}"
    );
    let polls_before = proxy.total_requests();

    // Every request failing: the app shows the store's failure, and polling goes on. An
    // error of the 30 % phase may still be queued: only one after a new request counts.
    proxy.set_rate(1.0);
    let seen = pump(
        &mut rx,
        &mut app,
        Duration::from_secs(40),
        |_, m| matches!(m, Msg::StoreError { attempt, .. } if *attempt >= 2) && proxy.total_requests() > polls_before,
    )
    .await;
    let banner = app
        .banner
        .as_ref()
        .unwrap_or_else(|| panic!("no error shown: {seen:?}"));
    assert!(banner.attempt >= 2, "{banner:?}");
    assert!(proxy.total_requests() > polls_before, "still polling");

    // New data written meanwhile (directly on moto), then the faults stop.
    env.put(&files[1].0, files[1].1.clone()).await;
    deliver_until_processed(&env.pipeline(), &env.bucket, &files[1].0).await;
    proxy.set_rate(0.0);
    let day2 = chrono::DateTime::parse_from_rfc3339("2025-01-14T23:00:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    let seen = pump(&mut rx, &mut app, Duration::from_secs(40), |app, _| {
        app.banner.is_none() && newest(app) >= Some(day2)
    })
    .await;
    assert!(
        app.banner.is_none(),
        "the error is cleared once polls succeed: {seen:?}"
    );
    assert!(
        newest(&app) >= Some(day2),
        "the data written during the faults is shown: {:?} {seen:?}",
        newest(&app)
    );
    println!(
        "dashboard: {} requests through the proxy, faults {:?}",
        proxy.total_requests(),
        proxy.fault_totals()
    );
    poller.abort();
}
