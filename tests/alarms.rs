//! Alarm management end to end on the local backend (the same recipe the Lambda runs):
//! detection against the generator's ground truth, nuisance bounds on clean and marginal
//! data, alarm state across files, chattering, idempotent reprocessing, late files, and
//! operator actions seen by a second backend on the same data folder.

use chrono::{DateTime, Duration, Utc};
use gridwatch::backend::GridStore;
use gridwatch::config::AnalysisConfig;
use gridwatch::local::{DataDir, LocalBackend};
use gridwatch::model::{format_ts, Alert, AlertRule};
use gridwatch::simulator::generator::{self, DataFormat, Episode, Generator, GeneratorConfig};
use gridwatch::store::operator::{alarm_state, ActionKind, AlarmState, OperatorAction};
use rusqlite::types::Value;
use std::path::Path;

const HEADER: &str = "timestamp,location,load_mw,generation_mw,voltage_kv,frequency_hz,solar_mw,wind_mw\n";

fn t(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn backend(dir: &Path) -> LocalBackend {
    LocalBackend::open(DataDir::new(dir.join("data")), AnalysisConfig::default()).unwrap()
}

fn all_alarms(b: &LocalBackend) -> Vec<Alert> {
    let mut a = b.db().alerts(t("1970-01-01T00:00:00Z")).unwrap();
    a.sort_by(|x, y| (x.location.as_str(), x.rule, x.started_at).cmp(&(y.location.as_str(), y.rule, y.started_at)));
    a
}

/// Writes `name` into raw/ and processes it; returns the activations stored for the first time.
fn process(b: &LocalBackend, dir: &Path, name: &str, body: &str) -> Vec<Alert> {
    let path = dir.join(name);
    std::fs::write(&path, body).unwrap();
    let key = b.import(&path, true).unwrap();
    b.process_key(&key).unwrap().new_alerts().into_iter().cloned().collect()
}

/// One file per day of the generator's span, processed in order (as substations upload).
fn process_generated_days(b: &LocalBackend, dir: &Path, g: &Generator) -> usize {
    let cfg = g.config();
    let mut new = 0;
    for day in 0..cfg.days {
        let from = cfg.start + Duration::days(i64::from(day));
        let steps = 24 * 60 / cfg.interval_minutes;
        let readings = (0..steps).flat_map(|k| g.readings_at(from + Duration::minutes(i64::from(k * cfg.interval_minutes))));
        let mut bytes = Vec::new();
        generator::write_readings(DataFormat::Csv, false, readings, &mut bytes).unwrap();
        new += process(b, dir, &format!("day_{day:02}.csv"), std::str::from_utf8(&bytes).unwrap()).len();
    }
    new
}

fn overlaps(a: &Alert, e: &Episode) -> bool {
    a.started_at < e.end && a.ended_at >= e.start
}

fn on_delay(rule: AlertRule) -> Duration {
    let minutes = AnalysisConfig::default().alarms.settings(rule).on_delay_minutes;
    Duration::seconds((minutes * 60.0) as i64)
}

/// Detection scored against the injected ground truth, on marginal data (values hovering
/// at the limits between the anomalies) split into daily files.
#[test]
fn every_anomaly_longer_than_its_on_delay_raises_exactly_one_alarm_on_marginal_data() {
    let dir = tempfile::tempdir().unwrap();
    let b = backend(dir.path());
    let g = Generator::new(GeneratorConfig { substations: 12, days: 10, marginal: true, ..GeneratorConfig::default() });
    process_generated_days(&b, dir.path(), &g);
    let alarms = all_alarms(&b);
    let episodes = g.episodes();
    let mut scored = 0;
    let mut hit_ids = std::collections::BTreeSet::new();
    for e in &episodes {
        if e.end - e.start <= on_delay(e.kind.rule()) {
            continue;
        }
        scored += 1;
        let name = generator::substation_name(e.substation);
        let hits: Vec<&Alert> = alarms.iter().filter(|a| a.location == name && a.rule == e.kind.rule() && overlaps(a, e)).collect();
        assert_eq!(hits.len(), 1, "{} {} {}..{}: {hits:#?}", name, e.kind, format_ts(e.start), format_ts(e.end));
        assert!(hit_ids.insert(hits[0].id()), "one alarm for two anomalies: {:#?}", hits[0]);
    }
    assert!(scored >= 40, "enough anomalies to score: {scored}");
    // Nuisance alarms: the marginal noise may break a limit for as long as an on-delay by
    // chance (e.g. four load/generation readings above 0.95 in a row: about 0.3 % per hour
    // at a 23 % chance each). Bound: one per four substation-days.
    let false_alarms = alarms
        .iter()
        .filter(|a| !episodes.iter().any(|e| generator::substation_name(e.substation) == a.location && e.kind.rule() == a.rule && overlaps(a, e)))
        .count();
    let substation_days = 12 * 10;
    eprintln!("{scored} anomalies scored, {} alarms, {false_alarms} nuisance alarms in {substation_days} substation-days", alarms.len());
    assert!(false_alarms * 4 <= substation_days, "{false_alarms} nuisance alarms in {substation_days} substation-days");
}

#[test]
fn clean_data_raises_no_alarm() {
    let dir = tempfile::tempdir().unwrap();
    let b = backend(dir.path());
    let g = Generator::new(GeneratorConfig { substations: 6, days: 4, ..GeneratorConfig::default() }.without_anomalies());
    assert_eq!(process_generated_days(&b, dir.path(), &g), 0);
    assert!(all_alarms(&b).is_empty());
}

fn day_rows(day: &str, loc: &str, f: impl Fn(u32) -> (f64, f64)) -> String {
    let mut s = String::new();
    for k in 0..96u32 {
        let (v, hz) = f(k);
        s.push_str(&format!("{day}T{:02}:{:02}:00Z,{loc},50,100,{v},{hz},0,0\n", k / 4, (k % 4) * 15));
    }
    s
}

fn day_name(d: u32) -> String {
    (t("2025-03-01T00:00:00Z") + Duration::days(i64::from(d))).format("%Y-%m-%d").to_string()
}

#[test]
fn a_standing_condition_across_30_daily_files_is_one_alarm_announced_once() {
    let dir = tempfile::tempdir().unwrap();
    let b = backend(dir.path());
    let mut announced = 0;
    for d in 0..30 {
        let day = day_name(d);
        let body = format!("{HEADER}{}{}", day_rows(&day, "biased", |_| (13.8, 60.07)), day_rows(&day, "steady", |_| (13.8, 60.0)));
        announced += process(&b, dir.path(), &format!("{day}.csv"), &body).len();
    }
    let alarms = all_alarms(&b);
    assert_eq!(alarms.len(), 1, "{alarms:#?}");
    let a = &alarms[0];
    assert_eq!((a.location.as_str(), a.rule), ("biased", AlertRule::FrequencyDeviation));
    assert_eq!(a.started_at, t("2025-03-01T00:00:00Z"));
    assert_eq!(a.activated_at, t("2025-03-01T00:15:00Z"), "after the 15-minute on-delay");
    assert_eq!(a.ended_at, t("2025-03-30T23:45:00Z"));
    assert!(a.active);
    assert_eq!(a.samples, 30 * 96);
    assert_eq!(announced, 1, "announced once, not once per file");
}

#[test]
fn a_chattering_signal_is_shelved_with_one_notice() {
    let dir = tempfile::tempdir().unwrap();
    let b = backend(dir.path());
    // Every 75 minutes: two readings at 13.3 kV (past the 15-min on-delay), three back at
    // 13.8 (past the deadband for the 15-min off-delay): an activation each cycle.
    let body = format!("{HEADER}{}", day_rows("2025-03-01", "flappy", |k| if k % 5 < 2 { (13.3, 60.0) } else { (13.8, 60.0) }));
    let new = process(&b, dir.path(), "flappy.csv", &body);
    let alarms = all_alarms(&b);
    assert_eq!(new.len(), alarms.len());
    let cfg = AnalysisConfig::default().alarms;
    let chattering: Vec<&Alert> = alarms.iter().filter(|a| a.chattering).collect();
    // Three activations within the 8-hour window make it chatter; it is shelved for 12 h,
    // then chatters again after three more.
    let first = chattering[0];
    assert_eq!(alarms.iter().position(|a| a.chattering), Some(cfg.chatter_activations as usize - 1), "{alarms:#?}");
    let until = first.shelved_until.expect("a chattering notice carries its shelve");
    assert_eq!(until, first.activated_at + Duration::minutes(cfg.chatter_shelve_minutes as i64));
    assert!(alarms.iter().all(|a| a.activated_at <= first.activated_at || a.activated_at >= until), "nothing while shelved");
    let cycles = 96 / 5;
    assert!(alarms.len() <= 6 && alarms.len() * 3 < cycles, "{} alarms for {cycles} cycles", alarms.len());
    assert_eq!(chattering.len(), 2);
    assert!(first.message.contains("chattering: shelved until"), "{}", first.message);
}

fn dump(b: &LocalBackend) -> Vec<Vec<Value>> {
    let db = b.db();
    let mut stmt = db
        .connection()
        .prepare("SELECT location, timestamp, kind, item FROM grid_analysis WHERE kind != 'index' ORDER BY location, timestamp")
        .unwrap();
    stmt.query_map([], |r| Ok((0..4).map(|i| r.get::<_, Value>(i).unwrap()).collect())).unwrap().map(Result::unwrap).collect()
}

#[test]
fn reprocessing_in_order_leaves_identical_alarm_state_and_announces_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let b = backend(dir.path());
    let g = Generator::new(GeneratorConfig { substations: 4, days: 3, marginal: true, anomalies_per_week: 20.0, ..GeneratorConfig::default() });
    let first = process_generated_days(&b, dir.path(), &g);
    assert!(first > 0, "the data has alarms to compare");
    let before = dump(&b);
    assert_eq!(process_generated_days(&b, dir.path(), &g), 0, "nothing announced again");
    assert_eq!(dump(&b), before);
}

#[test]
fn an_older_file_after_a_newer_one_starts_from_the_state_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let b = backend(dir.path());
    let file = |d: u32| format!("{HEADER}{}", day_rows(&day_name(d), "biased", |_| (13.8, 60.07)));
    process(&b, dir.path(), "d0.csv", &file(0));
    process(&b, dir.path(), "d2.csv", &file(2));
    // Day 1 missing when day 2 came: the gap is a no-data alarm and day 2 starts afresh.
    let rules: Vec<AlertRule> = all_alarms(&b).iter().map(|a| a.rule).collect();
    assert_eq!(rules, [AlertRule::FrequencyDeviation, AlertRule::FrequencyDeviation, AlertRule::NoData]);
    // Day 1 arrives late: it continues day 0's alarm (the checkpoint before it), and
    // announces nothing new; day 2's evaluation stays as it was until day 2 is reprocessed.
    assert!(process(&b, dir.path(), "d1.csv", &file(1)).is_empty());
    let freq: Vec<Alert> = all_alarms(&b).into_iter().filter(|a| a.rule == AlertRule::FrequencyDeviation).collect();
    assert_eq!(freq[0].started_at, t("2025-03-01T00:00:00Z"));
    assert_eq!(freq[0].ended_at, t("2025-03-02T23:45:00Z"), "day 0's alarm now runs through day 1");
    assert_eq!(freq[1].started_at, t("2025-03-03T00:00:00Z"));
    // Reprocessing day 2 folds it in: the standing alarm runs through day 2 as well.
    process(&b, dir.path(), "d2.csv", &file(2));
    let first = all_alarms(&b).into_iter().find(|a| a.started_at == t("2025-03-01T00:00:00Z")).unwrap();
    assert_eq!(first.ended_at, t("2025-03-03T23:45:00Z"));
}

#[tokio::test]
async fn operator_actions_in_one_backend_are_seen_by_a_second_on_the_same_folder() {
    let dir = tempfile::tempdir().unwrap();
    let one = backend(dir.path());
    let body = format!("{HEADER}{}", day_rows("2025-03-01", "site", |k| if k >= 90 { (13.2, 60.0) } else { (13.8, 60.0) }));
    std::fs::write(dir.path().join("f.csv"), body).unwrap();
    let key = one.import(&dir.path().join("f.csv"), false).unwrap();
    one.process(&key).await.unwrap();
    let alarm = one.alerts(t("2025-03-01T00:00:00Z")).await.unwrap().remove(0);
    let at = Utc::now();
    let act = |kind, rule| OperatorAction { location: "site".into(), rule, kind, by: "ana@jump".into(), at, reason: "test".into() };
    one.operator_action(&act(ActionKind::Acknowledge { started_at: alarm.started_at }, Some(AlertRule::Undervoltage))).await.unwrap();
    one.operator_action(&act(ActionKind::Shelve { until: at + Duration::hours(2) }, Some(AlertRule::Undervoltage))).await.unwrap();
    one.operator_action(&act(ActionKind::OutOfService, None)).await.unwrap();

    let two = backend(dir.path());
    let states = two.operator_states().await.unwrap();
    let rule = states.iter().find(|s| s.rule == Some(AlertRule::Undervoltage)).unwrap();
    let site = states.iter().find(|s| s.rule.is_none()).unwrap();
    assert_eq!((rule.acked_through, rule.by.as_str()), (Some(alarm.started_at), "ana@jump"));
    assert!(rule.is_shelved(at + Duration::minutes(119)) && !rule.is_shelved(at + Duration::minutes(121)), "expires on its own");
    assert!(site.out_of_service && site.at == Some(at));
    assert_eq!(alarm_state(&alarm, Some(rule), Some(site), at), AlarmState::OutOfService);
    assert_eq!(alarm_state(&alarm, Some(rule), None, at), AlarmState::Shelved);
    assert_eq!(alarm_state(&alarm, Some(rule), None, at + Duration::hours(3)), AlarmState::Acknowledged);
    // Shelving past the maximum is refused with the reason.
    let long = act(ActionKind::Shelve { until: at + Duration::days(30) }, Some(AlertRule::Undervoltage));
    assert!(two.operator_action(&long).await.unwrap_err().to_string().contains("maximum"));
    // While out of service a new activation is stored but not announced.
    let body = format!("{HEADER}{}", day_rows("2025-03-02", "site", |k| if k % 40 < 3 { (13.2, 60.0) } else { (13.8, 60.0) }));
    std::fs::write(dir.path().join("g.csv"), body).unwrap();
    let key = two.import(&dir.path().join("g.csv"), false).unwrap();
    let done = two.process(&key).await.unwrap();
    assert!(!done.new_alerts().is_empty() && done.suppressed().len() == done.new_alerts().len(), "{done:#?}");
    let log = std::fs::read_to_string(dir.path().join("data/logs/gridwatch.jsonl")).unwrap();
    assert!(log.contains("suppressed (shelved or out of service)") && log.contains("operator ana@jump: site: took out of service"), "{log}");
}

/// `subs` substations × `days` days at 15 minutes; each substation's voltage sags to
/// 12 kV for two hours a day (an hour of its own): one alarm per substation and day.
fn daily_sags(subs: u32, days: u32) -> String {
    let mut csv = String::from(HEADER);
    for step in 0..days * 96 {
        let ts = format_ts(t("2025-01-01T00:00:00Z") + Duration::minutes(15 * i64::from(step)));
        for s in 0..subs {
            let sag = (step % 96) / 4 == 1 + s % 20 || (step % 96) / 4 == 2 + s % 20;
            csv.push_str(&format!("{ts},sub_{s:03},50,100,{},60,0,0\n", if sag { 12.0 } else { 13.8 }));
        }
    }
    csv
}

/// Takes the alarms as they end, as the recipe's sink does.
#[derive(Default)]
struct TakesAlarms {
    alarms: Vec<Alert>,
    batches: usize,
}

impl gridwatch::analysis::engine::AnalysisSink for TakesAlarms {
    fn rollups(&mut self, _: Vec<gridwatch::model::HourlyRollup>) -> anyhow::Result<()> {
        Ok(())
    }
    fn rejected(&mut self, _: &gridwatch::model::RejectedRow) -> anyhow::Result<()> {
        Ok(())
    }
    fn takes_alarms(&self) -> bool {
        true
    }
    fn alarms(&mut self, batch: Vec<Alert>) -> anyhow::Result<()> {
        assert!(!batch.is_empty());
        self.batches += 1;
        self.alarms.extend(batch);
        Ok(())
    }
}

fn ids(alarms: &[Alert]) -> Vec<String> {
    let mut ids: Vec<String> = alarms.iter().map(Alert::id).collect();
    ids.sort();
    ids
}

#[test]
fn a_sink_that_takes_alarms_gets_every_alarm_as_they_end_on_one_or_two_shards() {
    use gridwatch::analysis::engine::{analyze_stream, CollectSink, ALARM_BATCH};
    let csv = daily_sags(120, 24);
    let cfg = AnalysisConfig::default();
    let all = analyze_stream(csv.as_bytes(), "raw/s.csv", &cfg, &mut CollectSink::default()).unwrap().alarms;
    assert_eq!(all.len(), 120 * 24, "one alarm per substation and day");
    assert!(all.len() > ALARM_BATCH, "enough alarms to be handed out while reading");
    for shards in [1, 2] {
        let mut sink = TakesAlarms::default();
        let outcome = gridwatch::analysis::sharded::analyze_sharded(csv.as_bytes(), "raw/s.csv", &cfg, shards, &mut sink).unwrap();
        assert!(sink.batches >= 1, "{shards} shard(s): alarms were handed out while reading");
        assert!(outcome.alarms.len() < all.len(), "{shards} shard(s): the outcome keeps only the rest");
        let mut taken = sink.alarms;
        taken.extend(outcome.alarms);
        assert_eq!(ids(&taken), ids(&all), "{shards} shard(s)");
        let by_id: std::collections::HashMap<String, &Alert> = all.iter().map(|a| (a.id(), a)).collect();
        assert!(taken.iter().all(|a| by_id[&a.id()] == a), "{shards} shard(s): the same episodes, field for field");
    }
}

#[test]
fn thousands_of_alarms_are_stored_a_batch_at_a_time_announced_in_one_digest_and_once() {
    use gridwatch::store::notice::Announcement;
    use gridwatch::store::recipe::LISTED_NEW_ALARMS;
    let dir = tempfile::tempdir().unwrap();
    let b = backend(dir.path());
    let csv = daily_sags(120, 24);
    let path = dir.path().join("sags.csv");
    std::fs::write(&path, &csv).unwrap();
    let key = b.import(&path, true).unwrap();
    let first = b.process_key(&key).unwrap();
    let stored = all_alarms(&b);
    assert_eq!(stored.len(), 120 * 24, "every alarm stored");
    assert_eq!((first.alarms, first.new_count()), (stored.len() as u64, stored.len() as u64));
    assert_eq!(first.new_alerts().len(), LISTED_NEW_ALARMS, "the outcome lists a bounded number");
    let Announcement::Digest(digest) = &first.announcement else { panic!("{:?}", first.announcement) };
    assert_eq!(digest.alarms, stored.len());
    assert_eq!(digest.counts.len(), 120, "every substation in the digest");
    let engine = gridwatch::analysis::engine::analyze_stream(csv.as_bytes(), &key, &AnalysisConfig::default(), &mut gridwatch::analysis::engine::CollectSink::default()).unwrap();
    assert_eq!(ids(&stored), ids(&engine.alarms), "the store holds what the engine found");

    let again = b.process_key(&key).unwrap();
    assert_eq!((again.alarms, again.new_count()), (stored.len() as u64, 0), "a redelivery announces nothing");
    assert_eq!(again.announcement, Announcement::None);
    assert_eq!(all_alarms(&b), stored, "the same stored state");
}
