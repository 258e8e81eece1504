//! The Lambda's fan-out of a large object (`gridwatch::store::fanout`) against moto: an
//! object larger than the shard size is split into orders under `work/`, each order's
//! invocation analyses its shard, the last merges — and what is stored equals one pass over
//! the same object: every item of the table, the results JSON, the rejected rows, the
//! Athena copy's rows. Also across versions: a sharded new version takes back what the
//! whole old one fed (hours, alarms, the file's own alarm), as a whole new version does.
//!
//! Run by `scripts/test.sh` (which starts moto and exports GRIDWATCH_TEST_AWS_ENDPOINT).

mod aws_common;

use aws_common::{endpoint, s3_event, Env, AWS_ENDPOINT_VAR};
use gridwatch::aws::event::{EventResponse, RecordStatus};
use gridwatch::aws::handler::{LambdaHandler, Limits};
use gridwatch::store::fanout::ShardOrder;
use std::collections::BTreeSet;
use std::io::Read;

const KEY: &str = "raw/fleet/big day.csv";

/// Readings of `substations` over `days` from the project's generator, every `bad_every`-th
/// data line broken in a different way (a bad number, no substation, too few fields), so
/// rows are rejected on every shard and on shard 0 (rows without a name).
fn readings(substations: usize, days: u32, bad_every: usize) -> Vec<u8> {
    use gridwatch::simulator::generator::{write_readings, DataFormat, Generator, GeneratorConfig};
    let generator = Generator::new(GeneratorConfig { substations, days, ..GeneratorConfig::default() });
    let mut csv = Vec::new();
    write_readings(DataFormat::Csv, false, generator.readings(), &mut csv).unwrap();
    let text = String::from_utf8(csv).unwrap();
    let mut out = String::new();
    for (i, line) in text.lines().enumerate() {
        let broken = i > 0 && i % bad_every == 0;
        let line = match (broken, i / bad_every % 3) {
            (false, _) => line.to_string(),
            (true, 0) => {
                let mut fields: Vec<&str> = line.split(',').collect();
                fields[2] = "n/a";
                fields.join(",")
            }
            (true, 1) => {
                let mut fields: Vec<&str> = line.split(',').collect();
                fields[1] = "";
                fields.join(",")
            }
            (true, _) => line.split(',').take(4).collect::<Vec<_>>().join(","),
        };
        out.push_str(&line);
        out.push('\n');
    }
    out.into_bytes()
}

fn locations(csv: &[u8]) -> Vec<String> {
    let text = std::str::from_utf8(csv).unwrap();
    let set: BTreeSet<String> = text.lines().skip(1).filter_map(|l| l.split(',').nth(1)).filter(|l| !l.is_empty()).map(str::to_string).collect();
    set.into_iter().collect()
}

/// Every item of the substations' partitions, the index and the file's listing, as text,
/// without what differs between two clean runs in two environments (the bucket's name and
/// the index item's hash over it, the run's own times).
async fn state(env: &Env, locations: &[String]) -> Vec<String> {
    let source_listing = format!("S#{KEY}");
    let mut partitions: Vec<&str> = locations.iter().map(String::as_str).collect();
    partitions.push(&source_listing);
    partitions.push(KEY); // the file's own alarm
    let mut out = Vec::new();
    for (key, mut item) in env.dump(&partitions).await {
        for volatile in ["updated_at", "notified_at", "state_hash"] {
            item.remove(volatile);
        }
        let item: std::collections::HashMap<_, _> = item.into_iter().collect();
        let json: serde_json::Value = serde_dynamo::aws_sdk_dynamodb_1::from_item(item).expect("item as JSON");
        out.push(format!("{key:?} {json}").replace(&env.bucket, "BUCKET"));
    }
    out
}

async fn keys(env: &Env, prefix: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut pages = env.s3.list_objects_v2().bucket(&env.bucket).prefix(prefix).into_paginator().send();
    while let Some(page) = pages.next().await {
        out.extend(page.expect("list").contents().iter().filter_map(|o| o.key().map(str::to_string)));
    }
    out
}

/// The Athena copy's rows (every object's lines, gunzipped), sorted: shards write the same
/// days in objects of their own.
async fn athena_rows(env: &Env) -> Vec<String> {
    let mut rows = Vec::new();
    for key in keys(env, "results/hourly/").await {
        let body = env.get(&key).await.expect("athena object");
        let mut text = String::new();
        flate2::read::MultiGzDecoder::new(&body[..]).read_to_string(&mut text).expect("gzip");
        rows.extend(text.lines().map(str::to_string));
    }
    rows.sort();
    rows
}

async fn text(env: &Env, key: &str) -> Option<String> {
    env.get(key).await.map(|b| String::from_utf8(b).unwrap().replace(&env.bucket, "BUCKET"))
}

fn sharded(env: &Env, bytes: usize, shards: usize) -> LambdaHandler {
    // Just under bytes / (shards - 1) per shard: `shards` shards.
    let shard_mb = bytes as f64 / (shards as f64 - 0.5) / 1e6;
    env.pipeline().with_limits(Limits { shard_mb: Some(shard_mb), ..Limits::default() })
}

/// Uploads `body` and runs its event, then every order it wrote (last order first: the
/// shards finish in any order), and returns the orders' responses.
async fn upload_fanned_out(env: &Env, handler: &LambdaHandler, body: Vec<u8>, shards: usize) -> Vec<EventResponse> {
    env.put(KEY, body).await;
    let response = handler.handle(&s3_event(&env.bucket, &[KEY])).await;
    let r = &response.records[0];
    assert_eq!(r.status, Some(RecordStatus::Sharded), "{r:?}");
    assert_eq!(response.summary(), "1 record(s): 1 split into shards");
    let mut orders: Vec<String> = keys(env, "work/").await.into_iter().filter(|k| ShardOrder::from_order_key(k).is_some()).collect();
    assert_eq!(orders.len(), shards, "{orders:?}");
    orders.reverse();
    let mut out = Vec::new();
    for order in &orders {
        out.push(handler.handle(&s3_event(&env.bucket, &[order])).await);
    }
    out
}

/// Asserts that everything stored equals one pass's: the items, the results, the rejected
/// rows, the Athena copy's rows.
async fn assert_same_store(fanned: &Env, whole: &Env, locations: &[String]) {
    assert_eq!(state(fanned, locations).await, state(whole, locations).await);
    let results_key = gridwatch::store::object_keys::results_key(KEY);
    let rejected_key = gridwatch::store::object_keys::rejected_key(KEY);
    assert_eq!(text(fanned, &results_key).await, text(whole, &results_key).await);
    let rejected = text(fanned, &rejected_key).await;
    assert!(rejected.as_ref().is_some_and(|r| r.lines().count() > 20), "{rejected:?}");
    assert_eq!(rejected, text(whole, &rejected_key).await);
    assert_eq!(athena_rows(fanned).await, athena_rows(whole).await);
}

/// The file's own alarms in the results of `KEY`.
async fn file_alarms(env: &Env) -> usize {
    let results = text(env, &gridwatch::store::object_keys::results_key(KEY)).await.unwrap();
    serde_json::from_str::<gridwatch::model::FileReport>(&results).unwrap().file_alerts.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fanned_out_object_is_stored_as_one_pass_stores_it() {
    let Some(ep) = endpoint(AWS_ENDPOINT_VAR) else { return };
    let (whole, fanned) = (Env::create(&ep).await, Env::create(&ep).await);
    // Three versions of one key: v1, 12 substations over 3 days, 1 row in 12 broken (over
    // the 5 % that raises the file's own alarm); v2, 7 of them over 2 days, 1 in 40 broken
    // (under it); v3, 9 over 2 days, 1 in 10 broken (over it again).
    let v1 = readings(12, 3, 12);
    let all = locations(&v1);
    assert_eq!(all.len(), 12);
    let versions = [(v1, 1, 1), (readings(7, 2, 40), 4, 0), (readings(9, 2, 10), 3, 1)];
    let one_pass = whole.pipeline();
    for (version, (body, shards, file_alarm)) in versions.into_iter().enumerate() {
        whole.put(KEY, body.clone()).await;
        let r = one_pass.handle(&s3_event(&whole.bucket, &[KEY])).await;
        assert_eq!(r.records[0].status, Some(RecordStatus::Processed), "{r:?}");
        assert_eq!(file_alarms(&whole).await, file_alarm, "v{}", version + 1);
        if shards == 1 {
            fanned.put(KEY, body.clone()).await;
            let r = fanned.pipeline().handle(&s3_event(&fanned.bucket, &[KEY])).await;
            assert_eq!(r.records[0].status, Some(RecordStatus::Processed), "{r:?}");
            assert_same_store(&fanned, &whole, &all).await;
            continue;
        }
        let handler = sharded(&fanned, body.len(), shards);
        let responses = upload_fanned_out(&fanned, &handler, body, shards).await;
        for (i, response) in responses.iter().enumerate() {
            let r = &response.records[0];
            assert_eq!(r.status, Some(RecordStatus::Processed), "{r:?}");
            let last = i == responses.len() - 1;
            assert_eq!(r.message.contains("every shard merged"), last, "{}", r.message);
        }
        let rows: u64 = responses.iter().map(|r| r.records[0].rows_read).sum::<u64>();
        let merged = &responses.last().unwrap().records[0];
        assert!(merged.rows_read > rows - merged.rows_read, "the last reports the whole file: {merged:?}");
        // Hours and alarms the version before fed and this one does not were taken back by
        // the shard that owns the substation, the file's own alarm by the fan-in.
        assert_same_store(&fanned, &whole, &all).await;
        // The orders and parts are gone; raw data is not.
        assert_eq!(keys(&fanned, "work/").await, Vec::<String>::new());
        assert!(fanned.get(KEY).await.is_some());

        // An order delivered again (S3 delivers at least once) after the merge is ignored.
        let again = ShardOrder::all(KEY, &head_etag(&fanned).await, shards).remove(1).order_key();
        let r = handler.handle(&s3_event(&fanned.bucket, &[&again])).await;
        assert_eq!(r.records[0].status, Some(RecordStatus::Ignored), "{r:?}");
        assert!(r.records[0].message.contains("merged already"), "{r:?}");
        // One delivered twice before the merge is analysed twice, to the same items.
        let orders = upload_orders(&fanned, &handler, &head_etag(&fanned).await, shards).await;
        let first = handler.handle(&s3_event(&fanned.bucket, &[&orders[0]])).await;
        let before = state(&fanned, &all).await;
        let twice = handler.handle(&s3_event(&fanned.bucket, &[&orders[0]])).await;
        assert_eq!((first.records[0].status, twice.records[0].status), (Some(RecordStatus::Processed), Some(RecordStatus::Processed)));
        assert_eq!(state(&fanned, &all).await, before);
        for order in &orders[1..] {
            let r = handler.handle(&s3_event(&fanned.bucket, &[order])).await;
            assert_eq!(r.records[0].status, Some(RecordStatus::Processed), "{r:?}");
        }
        assert_same_store(&fanned, &whole, &all).await;
        assert_eq!(keys(&fanned, "work/").await, Vec::<String>::new());
    }

    // An order of a version since replaced is ignored.
    let stale = ShardOrder::all(KEY, "0123abcd", 4).remove(0).order_key();
    let r = sharded(&fanned, 1_000_000, 4).handle(&s3_event(&fanned.bucket, &[&stale])).await;
    assert_eq!(r.records[0].status, Some(RecordStatus::Ignored), "{r:?}");
    assert!(r.records[0].message.contains("replaced"), "{r:?}");
}

/// Writes the orders of the stored version again, as the raw object's event would (a
/// redelivery of that event), and returns their keys.
async fn upload_orders(env: &Env, handler: &LambdaHandler, etag: &str, shards: usize) -> Vec<String> {
    let r = handler.handle(&s3_event(&env.bucket, &[KEY])).await;
    assert_eq!(r.records[0].status, Some(RecordStatus::Sharded), "{r:?}");
    let orders: Vec<String> = ShardOrder::all(KEY, etag, shards).iter().map(ShardOrder::order_key).collect();
    assert_eq!(keys(env, "work/").await, orders);
    orders
}

async fn head_etag(env: &Env) -> String {
    env.s3.head_object().bucket(&env.bucket).key(KEY).send().await.expect("head").e_tag().unwrap_or_default().to_string()
}
