//! The sharded engine against the single pass on the same input: the same report, the same
//! alarms in the same order, the same checkpoints and forecast history, the same rejected
//! rows in line order, and the same rollups (which may arrive in another order). The
//! pipelined engine (parsing on a thread of its own) too, with its rollups in the same order.

use chrono::{DateTime, Utc};
use gridwatch::analysis::alarms::AlarmCheckpoint;
use gridwatch::analysis::engine::{analyze_stream, AnalysisSink, StreamOutcome};
use gridwatch::analysis::pipelined::analyze_pipelined;
use gridwatch::analysis::sharded::analyze_sharded;
use gridwatch::config::AnalysisConfig;
use gridwatch::model::{HourlyRollup, RejectedRow};
use gridwatch::simulator::generator::{self, DataFormat, Generator, GeneratorConfig};
use proptest::prelude::*;
use std::collections::BTreeMap;

/// Collects what a run sends, and serves alarm checkpoints of an earlier file.
#[derive(Default)]
struct Recorder {
    rollups: Vec<HourlyRollup>,
    rejected: Vec<RejectedRow>,
    stored: BTreeMap<String, AlarmCheckpoint>,
    asked: Vec<String>,
}

impl AnalysisSink for Recorder {
    fn rollups(&mut self, batch: Vec<HourlyRollup>) -> anyhow::Result<()> {
        self.rollups.extend(batch);
        Ok(())
    }
    fn rejected(&mut self, row: &RejectedRow) -> anyhow::Result<()> {
        self.rejected.push(row.clone());
        Ok(())
    }
    fn checkpoint(&mut self, location: &str, _before: DateTime<Utc>) -> anyhow::Result<Option<AlarmCheckpoint>> {
        self.asked.push(location.to_string());
        Ok(self.stored.get(location).cloned())
    }
}

/// `shards` of [`run`] for the pipelined engine (0 is the single pass).
const PIPELINED: usize = usize::MAX;

fn run(input: &[u8], shards: usize, stored: &BTreeMap<String, AlarmCheckpoint>) -> (StreamOutcome, Recorder) {
    let cfg = AnalysisConfig::default();
    let mut sink = Recorder { stored: stored.clone(), ..Recorder::default() };
    let outcome = match shards {
        0 => analyze_stream(input, "raw/t.csv", &cfg, &mut sink).unwrap(),
        PIPELINED => analyze_pipelined(input, "raw/t.csv", &cfg, &mut sink).unwrap(),
        shards => analyze_sharded(input, "raw/t.csv", &cfg, shards, &mut sink).unwrap(),
    };
    (outcome, sink)
}

fn way(shards: usize) -> String {
    if shards == PIPELINED { "the pipelined engine".into() } else { format!("{shards} shards") }
}

/// Everything a run produced, in a form that compares exactly (floats by their JSON text).
fn fingerprint(outcome: &StreamOutcome, sink: &Recorder) -> serde_json::Value {
    let mut rollups = sink.rollups.clone();
    rollups.sort_by(|a, b| (&a.location, a.timestamp).cmp(&(&b.location, b.timestamp)));
    let mut asked = sink.asked.clone();
    asked.sort();
    serde_json::json!({
        "report": outcome.report,
        "alarms": outcome.alarms,
        "checkpoints": outcome.checkpoints,
        "recent_load": outcome.recent_load,
        "rejected": sink.rejected,
        "rollups": rollups,
        "checkpoints_asked": asked,
    })
}

fn assert_same(input: &[u8], shards: usize, stored: &BTreeMap<String, AlarmCheckpoint>) -> StreamOutcome {
    let (single, single_sink) = run(input, 0, stored);
    let (sharded, sharded_sink) = run(input, shards, stored);
    let (a, b) = (fingerprint(&single, &single_sink), fingerprint(&sharded, &sharded_sink));
    if a != b {
        for key in ["report", "alarms", "checkpoints", "recent_load", "rejected", "rollups", "checkpoints_asked"] {
            assert_eq!(a[key], b[key], "{key} differs with {}", way(shards));
        }
    }
    if shards == PIPELINED {
        let order = |sink: &Recorder| sink.rollups.iter().map(|r| (r.location.clone(), r.timestamp)).collect::<Vec<_>>();
        assert_eq!(order(&single_sink), order(&sharded_sink), "the pipeline hands rollups over in the single pass's order");
    }
    single
}

/// A week of 24 substations with anomalies (so there are alarms of every kind), and rows
/// spoiled the ways uploads spoil them: bad numbers, duplicates, blank and broken lines.
fn spoiled_week(format: DataFormat) -> Vec<u8> {
    let cfg = GeneratorConfig { substations: 24, days: 7, anomalies_per_week: 6.0, ..GeneratorConfig::default() };
    let mut clean = Vec::new();
    generator::write_readings(format, true, Generator::new(cfg).readings(), &mut clean).unwrap();
    let text = String::from_utf8(clean).unwrap();
    let mut out = String::new();
    for (i, line) in text.lines().enumerate() {
        match i % 997 {
            500 => out.push_str(&line.replace(",1", ",x1")), // a number that does not parse
            600 => {
                out.push_str(line); // a duplicate
                out.push('\n');
                out.push_str(line);
            }
            700 => out.push_str("garbage,,\n"),
            _ => out.push_str(line),
        }
        out.push('\n');
    }
    out.into_bytes()
}

#[test]
fn a_spoiled_csv_week_gives_the_single_pass_result() {
    let input = spoiled_week(DataFormat::Csv);
    for shards in [2, 3, 5, PIPELINED] {
        let outcome = assert_same(&input, shards, &BTreeMap::new());
        // What is compared must be there to compare.
        assert!(outcome.alarms.len() > 20, "{} alarms", outcome.alarms.len());
        assert!(outcome.report.rows_rejected > 20, "{} rejected", outcome.report.rows_rejected);
        assert_eq!(outcome.report.locations.len(), 24);
    }
}

#[test]
fn json_lines_and_gzip_give_the_single_pass_result() {
    let json = spoiled_week(DataFormat::JsonLines);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &spoiled_week(DataFormat::Csv)).unwrap();
    let gz = gz.finish().unwrap();
    for shards in [2, PIPELINED] {
        assert_same(&json, shards, &BTreeMap::new());
        let outcome = assert_same(&gz, shards, &BTreeMap::new());
        assert_eq!(outcome.report.format, "csv+gzip");
        // Cut short: the rows before the cut are analysed, and the report says why it ended.
        let outcome = assert_same(&gz[..gz.len() / 2], shards, &BTreeMap::new());
        assert!(outcome.report.rows_accepted > 0 && outcome.report.file_error.is_some(), "{:?}", outcome.report.file_error);
    }
}

#[test]
fn stored_alarm_state_is_served_to_every_shard() {
    // The week cut where some alarm is active: the second part continues it from the
    // checkpoints the first part left.
    let input = String::from_utf8(spoiled_week(DataFormat::Csv)).unwrap();
    let lines: Vec<&str> = input.lines().collect();
    let header = lines[0];
    let (stored, rest) = (1..10)
        .find_map(|tenth| {
            let cut = lines.len() * tenth / 10;
            let (first, _) = run(lines[..cut].join("\n").as_bytes(), 0, &BTreeMap::new());
            let stored: BTreeMap<String, AlarmCheckpoint> =
                first.checkpoints.iter().map(|c| (c.location.clone(), c.clone())).collect();
            let active = stored.values().any(|c| c.trackers.values().any(|t| t.active.is_some()));
            active.then(|| (stored, format!("{header}\n{}\n", lines[cut..].join("\n"))))
        })
        .expect("some cut leaves an alarm active");
    assert_same(rest.as_bytes(), PIPELINED, &stored);
    let outcome = assert_same(rest.as_bytes(), 3, &stored);
    assert!(outcome.alarms.iter().any(|a| stored.get(&a.location).is_some_and(|c| c.trackers.values().any(|t| t.active.is_some_and(|ep| ep.started == a.started_at.timestamp())))),
        "an alarm of the first part goes on in the second");
}

#[test]
fn unreadable_files_fail_the_same_way() {
    for input in [&b""[..], b"timestamp,location\n", b"\x1f\x8b\x08\x00garbage"] {
        let (single, _) = run(input, 0, &BTreeMap::new());
        assert!(single.report.file_error.is_some());
        for shards in [4, PIPELINED] {
            let (other, _) = run(input, shards, &BTreeMap::new());
            assert_eq!(single.report.file_error, other.report.file_error, "{}", way(shards));
        }
    }
}

#[test]
fn a_failing_sink_stops_every_shard() {
    struct Failing;
    impl AnalysisSink for Failing {
        fn rollups(&mut self, _: Vec<HourlyRollup>) -> anyhow::Result<()> {
            anyhow::bail!("disk full")
        }
        fn rejected(&mut self, _: &RejectedRow) -> anyhow::Result<()> {
            Ok(())
        }
    }
    let input = spoiled_week(DataFormat::Csv);
    let err = analyze_sharded(&input[..], "raw/t.csv", &AnalysisConfig::default(), 3, &mut Failing).unwrap_err();
    assert!(err.to_string().contains("disk full"), "{err}");
    // The reading thread stops too (else this would wait for it forever).
    let err = analyze_pipelined(&input[..], "raw/t.csv", &AnalysisConfig::default(), &mut Failing).unwrap_err();
    assert!(err.to_string().contains("disk full"), "{err}");
}

/// Small files of a few substations, rows out of order, duplicated, late or broken.
fn messy_rows() -> impl Strategy<Value = String> {
    let row = (0u32..(60 * 4), 0u8..6, 0u32..3000, 13000u32..14500, -90i32..90, 0u8..20);
    proptest::collection::vec(row, 1..150).prop_map(|rows| {
        let mut s = String::from("timestamp,location,load_mw,generation_mw,voltage_kv,frequency_hz,solar_mw,wind_mw,power_factor\n");
        for (q, loc, load, volt, freq, kind) in rows {
            let ts = DateTime::parse_from_rfc3339("2025-03-01T00:00:00Z").unwrap() + chrono::Duration::minutes(i64::from(q) * 15);
            let ts = ts.format("%Y-%m-%dT%H:%M:%S");
            match kind {
                0 => s.push_str(&format!("{ts},sub{loc},abc,1,13.8,60,0,0,0.9\n")),
                1 => s.push('\n'),
                2 => s.push_str(&format!("{ts}, sub{loc} ,{load},1,13.8,60,0,0\n")),
                3 => s.push_str(&format!("{ts},sub{loc},1,2,3\n")),
                _ => s.push_str(&format!(
                    "{ts},sub{loc},{},{},{},{},1.5,2.5,0.93\n",
                    f64::from(load) / 10.0,
                    f64::from(load) / 9.5 + 1.0,
                    f64::from(volt) / 1000.0,
                    60.0 + f64::from(freq) / 100.0
                )),
            }
        }
        s
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn any_messy_file_gives_the_single_pass_result(csv in messy_rows(), shards in 2usize..5) {
        assert_same(csv.as_bytes(), shards, &BTreeMap::new());
        assert_same(csv.as_bytes(), PIPELINED, &BTreeMap::new());
    }
}

/// The Lambda's fan-out (`gridwatch::store::fanout`): every shard analysed on its own, as
/// separate invocations do (no shared reader, no shared sink), its report through JSON as its
/// stored part, merged as the fan-in merges them — the single pass's report (forecasts and
/// the file's own alarm included), its alarms and its rejected rows in line order.
fn assert_fan_in_equals_single_pass(input: &[u8], shards: usize) -> gridwatch::model::FileReport {
    use gridwatch::analysis::engine::{analyze_shard_stream, attach_forecasts, file_alarm};
    use gridwatch::analysis::ingest::ShardFilter;
    use gridwatch::store::fanout::{merge_reports, ShardOrder, ShardPart};
    let cfg = AnalysisConfig::default();
    let (mut single, single_sink) = run(input, 0, &BTreeMap::new());
    attach_forecasts(&mut single, |_| Vec::new());
    let mut parts = Vec::new();
    let (mut alarms, mut rejected, mut rollups) = (Vec::new(), Vec::new(), 0);
    for order in ShardOrder::all("raw/t.csv", "v1", shards) {
        let mut sink = Recorder::default();
        let (mut outcome, first_reading) =
            analyze_shard_stream(input, "raw/t.csv", &cfg, &mut sink, ShardFilter::new(order.index, order.count)).unwrap();
        attach_forecasts(&mut outcome, |_| Vec::new());
        alarms.extend(outcome.alarms);
        rejected.extend(sink.rejected);
        rollups += sink.rollups.len();
        let part = ShardPart {
            order,
            report: outcome.report,
            first_reading,
            rollups_written: 0,
            alarms: 0,
            rejected_left_out: 0,
            has_rejected: false,
            athena_keys: Vec::new(),
        };
        parts.push(serde_json::from_slice(&serde_json::to_vec(&part).unwrap()).unwrap());
    }
    let (mut merged, first_reading) = merge_reports(&parts).unwrap();
    if let Some(alert) = file_alarm(&cfg, &merged, first_reading) {
        merged.file_alerts.push(alert.clone());
        alarms.push(alert);
    }
    assert_eq!(serde_json::to_value(&merged).unwrap(), serde_json::to_value(&single.report).unwrap(), "{shards} shards");
    let by_id = |mut a: Vec<gridwatch::model::Alert>| {
        a.sort_by_key(|a| a.id());
        serde_json::to_value(a).unwrap()
    };
    assert_eq!(by_id(alarms), by_id(single.alarms.clone()));
    rejected.sort_by_key(|r| r.line);
    assert_eq!(serde_json::to_value(&rejected).unwrap(), serde_json::to_value(&single_sink.rejected).unwrap());
    assert_eq!(rollups, single_sink.rollups.len());
    single.report
}

#[test]
fn shards_analysed_apart_and_merged_give_the_single_pass_report() {
    let input = spoiled_week(DataFormat::Csv);
    for shards in [2, 7] {
        let report = assert_fan_in_equals_single_pass(&input, shards);
        assert!(report.rows_rejected > 20 && report.forecasts.len() == 24 * 24, "{} rejected", report.rows_rejected);
    }
    // Over the file's own alarm's limit: every fifth line broken.
    let text = String::from_utf8(spoiled_week(DataFormat::Csv)).unwrap();
    let broken: String = text.lines().enumerate().map(|(i, l)| if i % 5 == 4 { "x,y\n".to_string() } else { format!("{l}\n") }).collect();
    let report = assert_fan_in_equals_single_pass(broken.as_bytes(), 3);
    assert_eq!(report.file_alerts.len(), 1);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]
    #[test]
    fn any_messy_file_fanned_out_merges_to_the_single_pass_report(csv in messy_rows(), shards in 2usize..6) {
        assert_fan_in_equals_single_pass(csv.as_bytes(), shards);
    }
}
