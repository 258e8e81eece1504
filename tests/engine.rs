//! The engine against hand-computed values, alert boundaries, and properties
//! (row order, file splits and read-chunk boundaries do not change results).

use gridwatch::config::{AlarmConfig, AnalysisConfig};
use gridwatch::analysis::engine::{analyze_stream, stability_score, CollectSink, StreamOutcome};
use gridwatch::model::{format_ts, AlertRule, AlertStatus, HourlyRollup};
use proptest::prelude::*;

const HEADER: &str = "timestamp,location,load_mw,generation_mw,voltage_kv,frequency_hz,solar_mw,wind_mw,power_factor\n";

fn run(csv: &str, cfg: &AnalysisConfig) -> (StreamOutcome, CollectSink) {
    let mut sink = CollectSink::default();
    let outcome = analyze_stream(csv.as_bytes(), "fixture.csv", cfg, &mut sink).unwrap();
    (outcome, sink)
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

macro_rules! assert_close {
    ($a:expr, $b:expr) => {
        assert!(close($a, $b), "{} = {} != {}", stringify!($a), $a, $b)
    };
}

/// One hour of one substation, computed by hand in the comments.
const HOUR_FIXTURE: &str = "\
2025-01-14T00:00:00,s1,100,120,13.8,60.00,10,5,0.9
2025-01-14T00:15:00,s1,110,120,13.7,60.02,20,5,0.9
2025-01-14T00:30:00,s1,90,120,13.9,59.98,30,5,
2025-01-14T00:45:00,s1,100,120,13.8,60.00,20,5,0.9
";

#[test]
fn hourly_rollup_matches_hand_computed_values() {
    let (outcome, sink) = run(&format!("{HEADER}{HOUR_FIXTURE}"), &AnalysisConfig::default());
    assert_eq!(sink.rollups.len(), 1);
    let r = &sink.rollups[0];
    assert_eq!((r.location.as_str(), format_ts(r.timestamp).as_str(), r.count), ("s1", "2025-01-14T00:00:00Z", 4));
    assert_close!(r.load_avg_mw, 100.0);
    assert_close!(r.load_min_mw, 90.0);
    assert_close!(r.load_peak_mw, 110.0);
    assert_close!(r.generation_avg_mw, 120.0);
    assert_close!(r.solar_avg_mw, 20.0);
    assert_close!(r.wind_avg_mw, 5.0);
    // renewable energy / generation energy = (80 + 20) / 480
    assert_close!(r.renewable_penetration, 100.0 / 480.0);
    assert_close!(r.voltage_avg_kv, 13.8);
    assert_close!(r.voltage_min_kv, 13.7);
    assert_close!(r.voltage_max_kv, 13.9);
    assert_close!(r.frequency_avg_hz, 60.0);
    assert_close!(r.frequency_max_dev_hz, 0.02);
    // one power factor missing → the seed's default 0.95: (0.9 * 3 + 0.95) / 4
    assert_close!(r.power_factor_avg, 0.9125);
    assert_eq!(r.power_factor_defaulted, 1);
    assert!((r.stability_score - 1.0).abs() < 1e-6);
    // mean of min(100/120, 1) and 0.9125
    assert_close!(r.efficiency_score, (100.0 / 120.0 + 0.9125) / 2.0);
    assert_eq!(r.alert_status, AlertStatus::Normal);
    assert!(r.alert_reasons.is_empty());

    let s = &outcome.report.locations[0];
    assert_eq!(s.rows, 4);
    assert_close!(s.interval_minutes, 15.0);
    assert!(!s.interval_assumed);
    assert_close!(s.load_mw.avg, 100.0);
    // deviations 0, 10, -10, 0 → sample variance 200 / 3
    assert_close!(s.load_mw.std, (200.0f64 / 3.0).sqrt());
    assert_eq!(format_ts(s.peak_load_time), "2025-01-14T00:15:00Z");
    // 4 readings × 120 MW × 0.25 h
    assert_close!(s.generation_mwh, 120.0);
    assert_close!(s.solar_mwh, 20.0);
    assert_close!(s.wind_mwh, 5.0);
    assert_close!(s.load_factor, 100.0 / 110.0);
    assert_eq!(s.power_factor_defaulted_rows, 1);
    assert_close!(s.power_factor_avg, 0.9125);
    assert_close!(s.voltage_kv.std, (0.02f64 / 3.0).sqrt());
    assert_eq!(s.daily_peaks.len(), 1);
    assert_close!(s.daily_peaks[0].load_mw, 110.0);
    assert_eq!(s.alert_status, AlertStatus::Normal);
}

#[test]
fn energy_uses_the_real_interval() {
    // Readings every 30 minutes: MWh = sum(MW) × 0.5 h, not × 0.25 h.
    let csv = format!(
        "{HEADER}2025-01-14T00:00:00,s1,50,100,13.8,60,0,0,0.9\n2025-01-14T00:30:00,s1,50,100,13.8,60,0,0,0.9\n2025-01-14T01:00:00,s1,50,100,13.8,60,0,0,0.9\n"
    );
    let (outcome, _) = run(&csv, &AnalysisConfig::default());
    let s = &outcome.report.locations[0];
    assert_close!(s.interval_minutes, 30.0);
    assert_close!(s.generation_mwh, 150.0);
}

fn single(v: f64, f: f64, load: f64, generation: f64) -> String {
    format!("{HEADER}2025-01-14T00:00:00,s1,{load},{generation},{v},{f},0,0,0.95\n")
}

#[test]
fn alert_boundaries_are_exclusive() {
    // Without deadbands and delays every reading past a limit is an alarm: the rules themselves.
    let cfg = AnalysisConfig { alarms: AlarmConfig::immediate(), ..AnalysisConfig::default() };
    let status = |csv: String| {
        let (outcome, sink) = run(&csv, &cfg);
        (sink.rollups[0].alert_status, outcome.report.locations[0].alerts.iter().map(|a| a.rule).collect::<Vec<_>>())
    };
    // exactly on a limit: no alert
    assert_eq!(status(single(13.5, 60.0, 50.0, 100.0)), (AlertStatus::Normal, vec![]));
    assert_eq!(status(single(14.1, 60.0, 50.0, 100.0)), (AlertStatus::Normal, vec![]));
    assert_eq!(status(single(13.8, 60.04, 50.0, 100.0)), (AlertStatus::Normal, vec![]));
    assert_eq!(status(single(13.8, 60.0, 95.0, 100.0)), (AlertStatus::Normal, vec![]));
    // just past a limit: an alarm of the rule's priority (medium and low make a warning)
    assert_eq!(status(single(13.499, 60.0, 50.0, 100.0)), (AlertStatus::Warning, vec![AlertRule::Undervoltage]));
    assert_eq!(status(single(14.101, 60.0, 50.0, 100.0)), (AlertStatus::Warning, vec![AlertRule::Overvoltage]));
    assert_eq!(status(single(13.8, 60.051, 50.0, 100.0)), (AlertStatus::Warning, vec![AlertRule::FrequencyDeviation]));
    assert_eq!(status(single(13.8, 59.949, 50.0, 100.0)), (AlertStatus::Warning, vec![AlertRule::FrequencyDeviation]));
    assert_eq!(status(single(13.8, 60.0, 95.1, 100.0)), (AlertStatus::Warning, vec![AlertRule::Overload]));
    assert_eq!(status(single(13.8, 60.0, 10.0, 0.0)), (AlertStatus::Warning, vec![AlertRule::Overload]));
    // past the escalation band: high priority, a critical hour
    assert_eq!(status(single(12.9, 60.0, 50.0, 100.0)), (AlertStatus::Critical, vec![AlertRule::Undervoltage]));
    assert_eq!(status(single(14.5, 60.0, 50.0, 100.0)), (AlertStatus::Critical, vec![AlertRule::Overvoltage]));
    // stability (1 - 4.8/13.8 + 1) / 2 = 0.826 < 0.85 (and far below the voltage limit)
    assert_close!(stability_score(9.0, 60.0, &cfg), (1.0 - 4.8 / 13.8 + 1.0) / 2.0);
    assert_eq!(
        status(single(9.0, 60.0, 50.0, 100.0)),
        (AlertStatus::Critical, vec![AlertRule::Undervoltage, AlertRule::LowStability])
    );
}

#[test]
fn thresholds_and_nominal_values_come_from_configuration() {
    let cfg = AnalysisConfig { nominal_frequency_hz: 50.0, voltage_low_kv: 13.0, ..AnalysisConfig::default() };
    let (outcome, sink) = run(&single(13.2, 50.02, 50.0, 100.0), &cfg);
    assert_eq!(sink.rollups[0].alert_status, AlertStatus::Normal, "{:?}", sink.rollups[0].alert_reasons);
    assert_close!(sink.rollups[0].frequency_max_dev_hz, 0.02);
    assert!(outcome.report.locations[0].alerts.is_empty());
    let (_, sink) = run(&single(13.8, 50.0, 50.0, 100.0), &AnalysisConfig::default());
    assert_eq!(sink.rollups[0].alert_status, AlertStatus::Critical, "50 Hz on a 60 Hz grid is an excursion");
}

#[test]
fn alert_episodes_have_start_end_and_worst_value() {
    let csv = format!(
        "{HEADER}\
2025-01-14T00:00:00,s1,50,100,13.8,60,0,0,0.95
2025-01-14T00:15:00,s1,50,100,13.4,60,0,0,0.95
2025-01-14T00:30:00,s1,50,100,13.2,60,0,0,0.95
2025-01-14T00:45:00,s1,50,100,13.45,60,0,0,0.95
2025-01-14T01:00:00,s1,50,100,13.8,60,0,0,0.95
2025-01-14T01:15:00,s1,50,100,13.3,60,0,0,0.95
"
    );
    let cfg = AnalysisConfig { alarms: AlarmConfig::immediate(), ..AnalysisConfig::default() };
    let (outcome, sink) = run(&csv, &cfg);
    let alerts = &outcome.report.locations[0].alerts;
    assert_eq!(alerts.len(), 2, "{alerts:#?}");
    let first = &alerts[0];
    assert_eq!(first.rule, AlertRule::Undervoltage);
    assert_eq!((format_ts(first.started_at), format_ts(first.ended_at)), ("2025-01-14T00:15:00Z".into(), "2025-01-14T00:45:00Z".into()));
    assert_eq!(first.samples, 3);
    assert_close!(first.worst_value, 13.2);
    assert!(first.message.contains("13.200 kV"), "{}", first.message);
    // the second episode is still open at the end of the file and ends at its last reading
    assert_eq!(format_ts(alerts[1].started_at), "2025-01-14T01:15:00Z");
    assert_eq!(alerts[1].samples, 1);
    assert_ne!(alerts[0].id(), alerts[1].id());
    assert!(!alerts[0].active && alerts[1].active, "the second is still active at the end of the file");
    assert!(sink.rollups.iter().all(|r| r.alert_status == AlertStatus::Warning));
    assert!(sink.rollups[0].alert_reasons[0].contains("13.200"), "{:?}", sink.rollups[0].alert_reasons);
}

#[test]
fn several_substations_per_file_and_daily_peaks() {
    let mut csv = String::from(HEADER);
    for day in 14..=16 {
        for hour in 0..24 {
            for (loc, base) in [("north", 100.0), ("south", 200.0)] {
                let load = base + hour as f64 + (day - 14) as f64 * 10.0;
                csv.push_str(&format!("2025-01-{day}T{hour:02}:00:00,{loc},{load},{},13.8,60,0,0,0.95\n", base * 2.0));
            }
        }
    }
    let (outcome, sink) = run(&csv, &AnalysisConfig::default());
    assert_eq!(sink.rollups.len(), 2 * 72);
    let locs: Vec<&str> = outcome.report.locations.iter().map(|l| l.location.as_str()).collect();
    assert_eq!(locs, ["north", "south"]);
    let north = &outcome.report.locations[0];
    assert_close!(north.interval_minutes, 60.0);
    let peaks: Vec<(String, f64)> = north.daily_peaks.iter().map(|p| (format_ts(p.timestamp), p.load_mw)).collect();
    assert_eq!(
        peaks,
        [("2025-01-16T23:00:00Z".to_string(), 143.0), ("2025-01-15T23:00:00Z".to_string(), 133.0), ("2025-01-14T23:00:00Z".to_string(), 123.0)]
    );
    // 72 hours of history → the forecast has 24 points per substation starting after the last hour
    let mut outcome = outcome;
    gridwatch::analysis::engine::attach_forecasts(&mut outcome, |_| Vec::new());
    assert_eq!(outcome.report.forecasts.len(), 48);
    assert_eq!(format_ts(outcome.report.forecasts[0].timestamp), "2025-01-17T00:00:00Z");
}

#[test]
fn hours_close_while_streaming_and_late_rows_are_rejected() {
    // A 48 h window: a row 3 days older than the newest is rejected with a reason,
    // and rollups leave the engine before the end of the file (flat memory).
    let mut csv = String::from(HEADER);
    for i in 0..(24 * 10) {
        let ts = chrono::DateTime::parse_from_rfc3339("2025-01-01T00:00:00Z").unwrap() + chrono::Duration::hours(i);
        csv.push_str(&format!("{},s1,50,100,13.8,60,0,0,0.95\n", ts.format("%Y-%m-%dT%H:%M:%S")));
    }
    csv.push_str("2025-01-02T05:30:00,s1,50,100,13.8,60,0,0,0.95\n");
    struct Counting(Vec<usize>);
    impl gridwatch::analysis::engine::AnalysisSink for Counting {
        fn rollups(&mut self, batch: Vec<HourlyRollup>) -> anyhow::Result<()> {
            self.0.push(batch.len());
            Ok(())
        }
        fn rejected(&mut self, row: &gridwatch::model::RejectedRow) -> anyhow::Result<()> {
            assert!(row.reason.contains("already analysed"), "{}", row.reason);
            Ok(())
        }
    }
    let mut sink = Counting(Vec::new());
    let outcome = analyze_stream(csv.as_bytes(), "late.csv", &AnalysisConfig::default(), &mut sink).unwrap();
    assert_eq!(outcome.report.rows_rejected, 1);
    assert_eq!(sink.0.iter().sum::<usize>(), 240);
    let unbounded = AnalysisConfig { reorder_window_hours: None, ..AnalysisConfig::default() };
    let (outcome, _) = run(&csv, &unbounded);
    assert_eq!(outcome.report.rows_rejected, 0, "without a window every hour stays open");
}

#[test]
fn high_rate_data_holds_a_bounded_number_of_readings_and_gives_the_same_results() {
    use gridwatch::analysis::engine::Analyzer;
    // Three hours of 1-second readings of two substations, in time order.
    let start = chrono::DateTime::parse_from_rfc3339("2025-06-01T00:00:00Z").unwrap().with_timezone(&chrono::Utc);
    let reading = |s: i64, location: &str| gridwatch::model::Reading {
        timestamp: start + chrono::Duration::seconds(s),
        location: location.into(),
        load_mw: (50 + s % 17) as f64,
        generation_mw: 100.0,
        voltage_kv: 13.8,
        frequency_hz: 60.0,
        solar_mw: 0.0,
        wind_mw: 0.0,
        power_factor: Some(0.95),
    };
    let bounded = AnalysisConfig { reorder_window_readings: 600, ..AnalysisConfig::default() };
    // At most 600 readings held: an hour closes once the next one begins, though 48 h
    // have not passed. The default bound (8,192) is crossed in the third hour: the first
    // hour of each substation closes then.
    let (mut small, mut default) = (Analyzer::new(bounded.clone()), Analyzer::new(AnalysisConfig::default()));
    let mut sink = CollectSink::default();
    let mut closed = Vec::new();
    for s in 0..3 * 3600 {
        for loc in ["a", "b"] {
            small.push(&reading(s, loc), &mut sink).unwrap();
            default.push(&reading(s, loc), &mut sink).unwrap();
        }
        if s % 3600 == 0 {
            closed.push((small.finished_len(), default.finished_len()));
        }
    }
    closed.push((small.finished_len(), default.finished_len()));
    assert_eq!(closed, [(0, 0), (2, 0), (4, 0), (4, 2)], "(bounded, default) rollups closed at the start of each hour and at the end");

    // Through the whole stream: the same report and rollups (in another order: hours left
    // earlier), no row rejected.
    // a's reading at 01:29:30 comes last, 90 minutes late (below).
    let late_second = 3600 + 29 * 60 + 30;
    let mut csv = String::from(HEADER);
    for s in 0..3 * 3600 {
        for loc in ["a", "b"] {
            if (s, loc) == (late_second, "a") {
                continue;
            }
            let r = reading(s, loc);
            csv.push_str(&format!("{},{loc},{},100,13.8,60,0,0,0.95\n", r.timestamp.format("%Y-%m-%dT%H:%M:%S"), r.load_mw));
        }
    }
    let (outcome, mut sink) = run(&csv, &bounded);
    let (same, mut default_sink) = run(&csv, &AnalysisConfig::default());
    assert_eq!(outcome.report.rows_rejected, 0);
    for rollups in [&mut sink.rollups, &mut default_sink.rollups] {
        rollups.sort_by(|x, y| (&x.location, x.timestamp).cmp(&(&y.location, y.timestamp)));
    }
    assert_eq!(sink.rollups.len(), 6);
    assert_eq!(sink.rollups, default_sink.rollups);
    assert_eq!(serde_json::to_value(&outcome.report.locations).unwrap(), serde_json::to_value(&same.report.locations).unwrap());

    // A row 90 minutes late: its hour was closed for the bound, so it is rejected, saying why.
    let late = format!("{csv}2025-06-01T01:29:30,a,50,100,13.8,60,0,0,0.95\n");
    let (late_outcome, late_sink) = run(&late, &bounded);
    assert_eq!(late_outcome.report.rows_rejected, 1);
    assert!(late_sink.rejected[0].reason.contains("more than 600 readings after it"), "{}", late_sink.rejected[0].reason);
    let (default_late, default_late_sink) = run(&late, &AnalysisConfig::default());
    assert_eq!(default_late.report.rows_rejected, 0, "within 48 h and the default bound: taken: {:?}", default_late_sink.rejected);
}

// ---------------------------------------------------------------- properties

#[derive(Debug, Clone)]
struct Row {
    minute: u32,
    loc: u8,
    load: u32,
    volt: u32,
    freq: i32,
}

fn rows_strategy() -> impl Strategy<Value = Vec<Row>> {
    proptest::collection::vec(
        (0u32..(36 * 4), 0u8..3, 0u32..3000, 13000u32..14500, -90i32..90).prop_map(|(q, loc, load, volt, freq)| Row {
            minute: q * 15,
            loc,
            load,
            volt,
            freq,
        }),
        1..120,
    )
    .prop_map(|mut rows| {
        // one reading per (substation, time): duplicates are a separate, tested behaviour
        rows.sort_by_key(|r| (r.loc, r.minute));
        rows.dedup_by_key(|r| (r.loc, r.minute));
        rows
    })
}

fn to_csv(rows: &[Row]) -> String {
    let mut s = String::from(HEADER);
    for r in rows {
        let ts = chrono::DateTime::parse_from_rfc3339("2025-03-01T00:00:00Z").unwrap() + chrono::Duration::minutes(r.minute as i64);
        s.push_str(&format!(
            "{},sub{},{},{},{},{},1.5,2.5,0.93\n",
            ts.format("%Y-%m-%dT%H:%M:%S"),
            r.loc,
            r.load as f64 / 10.0,
            150.0,
            r.volt as f64 / 1000.0,
            60.0 + r.freq as f64 / 1000.0
        ));
    }
    s
}

fn sorted(mut v: Vec<HourlyRollup>) -> Vec<HourlyRollup> {
    v.sort_by(|a, b| (a.location.as_str(), a.timestamp).cmp(&(b.location.as_str(), b.timestamp)));
    v
}

/// Equal up to floating-point summation order.
fn same_rollups(a: &[HourlyRollup], b: &[HourlyRollup]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            x.location == y.location
                && x.timestamp == y.timestamp
                && x.count == y.count
                && x.alert_status == y.alert_status
                && close(x.load_avg_mw, y.load_avg_mw)
                && close(x.load_peak_mw, y.load_peak_mw)
                && close(x.voltage_avg_kv, y.voltage_avg_kv)
                && close(x.frequency_max_dev_hz, y.frequency_max_dev_hz)
                && close(x.renewable_penetration, y.renewable_penetration)
                && close(x.stability_score, y.stability_score)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn results_do_not_depend_on_row_order(rows in rows_strategy(), seed in any::<u64>()) {
        let cfg = AnalysisConfig::default();
        let (a, sink_a) = run(&to_csv(&rows), &cfg);
        let mut shuffled = rows.clone();
        // deterministic Fisher-Yates from the seed
        let mut state = seed | 1;
        for i in (1..shuffled.len()).rev() {
            state ^= state << 13; state ^= state >> 7; state ^= state << 17;
            shuffled.swap(i, (state % (i as u64 + 1)) as usize);
        }
        let (b, sink_b) = run(&to_csv(&shuffled), &cfg);
        prop_assert_eq!(a.report.rows_accepted, b.report.rows_accepted);
        prop_assert!(same_rollups(&sorted(sink_a.rollups), &sorted(sink_b.rollups)));
        for (x, y) in a.report.locations.iter().zip(&b.report.locations) {
            prop_assert_eq!(&x.alerts, &y.alerts);
            prop_assert_eq!(x.peak_load_time, y.peak_load_time);
            prop_assert!(close(x.load_mw.std, y.load_mw.std));
            prop_assert!(close(x.generation_mwh, y.generation_mwh));
        }
    }

    #[test]
    fn splitting_a_file_at_an_hour_boundary_gives_the_same_rollups(rows in rows_strategy(), cut_hour in 1u32..36) {
        // Alarm state across files needs the stored checkpoints (tests/alarms.rs); without
        // delays the hourly status depends on the hour's readings alone.
        let cfg = AnalysisConfig { alarms: AlarmConfig::immediate(), ..AnalysisConfig::default() };
        let (_, whole) = run(&to_csv(&rows), &cfg);
        let (first, second): (Vec<Row>, Vec<Row>) = rows.iter().cloned().partition(|r| r.minute < cut_hour * 60);
        let mut parts = Vec::new();
        for part in [first, second] {
            if !part.is_empty() {
                parts.extend(run(&to_csv(&part), &cfg).1.rollups);
            }
        }
        prop_assert!(same_rollups(&sorted(whole.rollups), &sorted(parts)));
    }

    #[test]
    fn read_chunk_boundaries_do_not_matter(rows in rows_strategy(), chunk in 1usize..17) {
        struct Trickle<'a> { data: &'a [u8], chunk: usize }
        impl std::io::Read for Trickle<'_> {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                let n = self.chunk.min(buf.len()).min(self.data.len());
                buf[..n].copy_from_slice(&self.data[..n]);
                self.data = &self.data[n..];
                Ok(n)
            }
        }
        let csv = to_csv(&rows);
        let cfg = AnalysisConfig::default();
        let (a, whole) = run(&csv, &cfg);
        let mut sink = CollectSink::default();
        let b = analyze_stream(Trickle { data: csv.as_bytes(), chunk }, "t.csv", &cfg, &mut sink).unwrap();
        prop_assert_eq!(a.report.locations, b.report.locations);
        prop_assert_eq!(whole.rollups, sink.rollups);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let mut sink = CollectSink::default();
        let outcome = analyze_stream(&bytes[..], "fuzz.bin", &AnalysisConfig::default(), &mut sink).unwrap();
        prop_assert_eq!(outcome.report.rows_read, outcome.report.rows_accepted + outcome.report.rows_rejected);
    }

    #[test]
    fn header_plus_arbitrary_rows_never_panic(lines in proptest::collection::vec("[0-9a-zA-Z:.,T\\- +eEnN\"{}]{0,80}", 0..20)) {
        let mut text = String::from(HEADER);
        for l in lines { text.push_str(&l); text.push('\n'); }
        let mut sink = CollectSink::default();
        let outcome = analyze_stream(text.as_bytes(), "fuzz.csv", &AnalysisConfig::default(), &mut sink).unwrap();
        prop_assert_eq!(outcome.report.rows_read, outcome.report.rows_accepted + outcome.report.rows_rejected);
        prop_assert_eq!(sink.rejected.len() as u64, outcome.report.rows_rejected);
    }
}
