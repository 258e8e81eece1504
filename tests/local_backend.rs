//! The embedded local backend end to end: folder bucket + SQLite + JSON-lines log.

use gridwatch::backend::GridStore;
use gridwatch::config::AnalysisConfig;
use gridwatch::simulator::generator::{self, Generator, GeneratorConfig, DataFormat};
use gridwatch::local::DataDir;
use gridwatch::model::AlertStatus;
use gridwatch::local::backend::LocalBackend;
use rusqlite::types::Value;

fn backend(dir: &std::path::Path) -> LocalBackend {
    LocalBackend::open(DataDir::new(dir.join("data")), AnalysisConfig::default()).unwrap()
}

fn write_generated(dir: &std::path::Path, name: &str, days: u32, start_day: u32) -> std::path::PathBuf {
    let cfg = GeneratorConfig {
        substations: 3,
        days,
        start: chrono::DateTime::parse_from_rfc3339(&format!("2025-01-{start_day:02}T00:00:00Z")).unwrap().into(),
        ..GeneratorConfig::default()
    };
    let synthetic = Generator::new(cfg);
    let path = dir.join(name);
    generator::write_readings(DataFormat::Csv, true, synthetic.readings(), std::fs::File::create(&path).unwrap()).unwrap();
    path
}

fn table_dump(b: &LocalBackend) -> Vec<Vec<Value>> {
    let db = b.db();
    let mut stmt = db
        .connection()
        .prepare("SELECT location, timestamp, kind, item FROM grid_analysis WHERE kind != 'index' ORDER BY location, timestamp")
        .unwrap();
    stmt.query_map([], |r| Ok((0..4).map(|i| r.get::<_, Value>(i).unwrap()).collect())).unwrap().map(Result::unwrap).collect()
}

#[test]
fn processing_the_same_file_twice_stores_the_same_rows_and_no_new_alerts() {
    let dir = tempfile::tempdir().unwrap();
    let b = backend(dir.path());
    let file = write_generated(dir.path(), "grid_data_2025-01-14.csv", 2, 14);
    let key = b.import(&file, false).unwrap();
    assert_eq!(key, "raw/grid_data_2025-01-14.csv");
    let first = b.process_key(&key).unwrap();
    assert_eq!(first.rollups_written, 3 * 48);
    assert!(!first.new_alerts.is_empty(), "the generator injects anomalies");
    let before = table_dump(&b);
    let second = b.process_key(&key).unwrap();
    assert!(second.new_alerts.is_empty(), "alerts are reported once: {:?}", second.new_alerts);
    assert_eq!(before, table_dump(&b));
    assert_eq!(b.db().count("rollup").unwrap(), 3 * 48);
    assert_eq!(b.db().count("forecast").unwrap(), 3 * 24);
    assert_eq!(b.db().count("index").unwrap(), 3);
    // the results JSON is the seed's layout
    let results = std::fs::read_to_string(dir.path().join("data/bucket/results/grid_data_2025-01-14_analysis.json")).unwrap();
    let report: gridwatch::model::FileReport = serde_json::from_str(&results).unwrap();
    assert_eq!(report.rows_accepted, 3 * 192);
    // importing the identical file again is a no-op; different content needs --overwrite
    assert_eq!(b.import(&file, false).unwrap(), key);
    std::fs::write(&file, "changed").unwrap();
    assert!(b.import(&file, false).unwrap_err().to_string().contains("--overwrite"));
}

#[test]
fn rejected_rows_are_kept_beside_the_results_and_raw_data_stays() {
    let dir = tempfile::tempdir().unwrap();
    let b = backend(dir.path());
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bad_input/06_nan_inf.csv");
    let key = b.import(&src, false).unwrap();
    let done = b.process_key(&key).unwrap();
    assert_eq!(done.rejected_key.as_deref(), Some("rejected/06_nan_inf.csv"));
    let rejected = std::fs::read_to_string(dir.path().join("data/bucket/rejected/06_nan_inf.csv")).unwrap();
    let mut lines = rejected.lines();
    assert_eq!(lines.next(), Some("line,field,reason,raw"));
    let first = lines.next().unwrap();
    assert!(first.starts_with("3,voltage_kv,") && first.contains("NaN"), "{first}");
    assert_eq!(rejected.lines().count(), 5);
    // rows the engine rejects (here a duplicate) keep their data too
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bad_input/07_duplicate_timestamps.csv");
    let key = b.import(&src, false).unwrap();
    b.process_key(&key).unwrap();
    let rejected = std::fs::read_to_string(dir.path().join("data/bucket/rejected/07_duplicate_timestamps.csv")).unwrap();
    assert!(rejected.contains("4,timestamp,duplicate timestamp 2025-01-14T00:15:00Z") && rejected.contains("s1,999,120,13.8,60,10,5"), "{rejected}");
    assert!(dir.path().join("data/bucket/raw/06_nan_inf.csv").exists());
    let log = std::fs::read_to_string(dir.path().join("data/logs/gridwatch.jsonl")).unwrap();
    assert!(log.contains("4 row(s) rejected"), "{log}");
}

#[test]
fn a_file_that_cannot_be_read_is_logged_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let b = backend(dir.path());
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bad_input/03_missing_column.csv");
    let key = b.import(&src, false).unwrap();
    let done = b.process_key(&key).unwrap();
    let err = done.report.file_error.unwrap();
    assert!(err.contains("raw/03_missing_column.csv") && err.contains("voltage_kv"), "{err}");
    let log = std::fs::read_to_string(dir.path().join("data/logs/gridwatch.jsonl")).unwrap();
    assert!(log.contains("\"level\":\"error\"") && log.contains("voltage_kv"), "{log}");
}

#[test]
fn keys_outside_the_bucket_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let b = backend(dir.path());
    std::fs::write(dir.path().join("data/secret.csv"), "x").unwrap();
    for key in ["../secret.csv", "raw/../../secret.csv", "/etc/passwd"] {
        let err = b.process_key(key).unwrap_err().to_string();
        assert!(err.contains("invalid object key"), "{key}: {err}");
    }
}

#[test]
fn reprocessing_an_older_file_does_not_turn_back_the_latest_state() {
    let dir = tempfile::tempdir().unwrap();
    let b = backend(dir.path());
    let old = write_generated(dir.path(), "old.csv", 1, 10);
    let new = write_generated(dir.path(), "new.csv", 1, 11);
    let (old_key, new_key) = (b.import(&old, false).unwrap(), b.import(&new, false).unwrap());
    b.process_key(&old_key).unwrap();
    b.process_key(&new_key).unwrap();
    b.process_key(&old_key).unwrap();
    let states = b.db().substations().unwrap();
    assert_eq!(states.len(), 3);
    for s in &states {
        assert_eq!(gridwatch::model::format_ts(s.last_reading), "2025-01-11T23:45:00Z");
        assert_eq!(s.source_key, "raw/new.csv");
    }
}

#[tokio::test]
async fn grid_store_answers_what_the_dashboard_asks() {
    let dir = tempfile::tempdir().unwrap();
    let b = backend(dir.path());
    for day in 1..=8 {
        let f = write_generated(dir.path(), &format!("grid_data_2025-01-{day:02}.csv"), 1, day);
        let key = b.import(&f, false).unwrap();
        b.process_key(&key).unwrap();
    }
    let subs = b.substations().await.unwrap();
    assert_eq!(subs.iter().map(|s| s.location.as_str()).collect::<Vec<_>>(), ["substation_001", "substation_002", "substation_003"]);
    let from = chrono::DateTime::parse_from_rfc3339("2025-01-08T00:00:00Z").unwrap().to_utc();
    let rollups = b.rollups("substation_001", from, from + chrono::Duration::hours(6)).await.unwrap();
    assert_eq!(rollups.len(), 6);
    assert!(rollups.windows(2).all(|w| w[0].timestamp < w[1].timestamp));
    let forecast = b.forecast("substation_001").await.unwrap();
    assert_eq!(forecast.len(), 24);
    assert_eq!(gridwatch::model::format_ts(forecast[0].timestamp), "2025-01-09T00:00:00Z");
    assert!(forecast.iter().all(|p| p.load_mw.is_finite() && p.load_mw > 0.0));
    let alerts = b.alerts(from).await.unwrap();
    assert!(alerts.iter().all(|a| a.ended_at >= from));
    assert!(alerts.windows(2).all(|w| w[0].ended_at >= w[1].ended_at), "newest first");
    let msg = b.reprocess("substation_002").await.unwrap();
    assert!(msg.contains("raw/grid_data_2025-01-08.csv"), "{msg}");
    assert!(b.reprocess("nope").await.unwrap_err().to_string().contains("unknown substation"));
    // query filters
    let critical = b.db().query(Some("substation_001"), None, None, Some(AlertStatus::Critical)).unwrap();
    assert!(critical.iter().all(|r| r.alert_status == AlertStatus::Critical && r.location == "substation_001"));
}
