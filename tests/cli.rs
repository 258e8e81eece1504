//! The `gridwatch` binary as a user runs it: generate → analyze → query → reprocess.

use std::path::Path;
use std::process::{Command, Output};

fn gridwatch(data: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gridwatch"))
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .env_remove("GRIDWATCH_DATA_DIR")
        .env("XDG_CONFIG_HOME", data.join("no-config"))
        .output()
        .expect("runs")
}

fn ok(out: &Output) -> String {
    assert!(out.status.success(), "failed: {}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout.clone()).unwrap()
}

#[test]
fn generate_analyze_query_reprocess() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let samples = dir.path().join("samples");
    ok(&gridwatch(&data, &["generate", "--substations", "3", "--days", "2", "--output", samples.to_str().unwrap()]));
    let summary = ok(&gridwatch(&data, &["analyze", samples.to_str().unwrap()]));
    assert!(summary.contains("raw/grid_data_2025-01-14.csv (csv): 288 rows, 288 accepted, 0 rejected, 72 hourly rollups"), "{summary}");
    assert!(summary.contains("substation_003"), "{summary}");

    let csv = ok(&gridwatch(&data, &["query", "--location", "substation_002", "--from", "2025-01-15", "--format", "csv"]));
    let mut lines = csv.lines();
    assert!(lines.next().unwrap().starts_with("location,timestamp,load_avg_mw,load_peak_mw,renewable_penetration"));
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 24);
    assert!(rows.iter().all(|r| r.starts_with("substation_002,2025-01-15T")));

    let out_file = dir.path().join("export.json");
    ok(&gridwatch(&data, &["query", "--format", "json", "--output", out_file.to_str().unwrap()]));
    let exported: Vec<gridwatch::model::HourlyRollup> = serde_json::from_str(&std::fs::read_to_string(&out_file).unwrap()).unwrap();
    assert_eq!(exported.len(), 3 * 48);

    let table = ok(&gridwatch(&data, &["query", "--status", "critical"]));
    assert!(table.lines().next().unwrap().starts_with("location"), "{table}");
    assert!(table.lines().filter(|l| l.starts_with("substation_")).all(|l| l.contains("critical")), "{table}");

    let again = ok(&gridwatch(&data, &["reprocess", "substation_001", "--json"]));
    let reports: Vec<gridwatch::model::FileReport> = serde_json::from_str(&again).unwrap();
    assert_eq!(reports[0].source, "raw/grid_data_2025-01-15.csv");
    let after: Vec<gridwatch::model::HourlyRollup> =
        serde_json::from_str(&ok(&gridwatch(&data, &["query", "--format", "json"]))).unwrap();
    assert_eq!(after, exported, "reprocessing stores the same rollups");
}

#[test]
fn bad_input_gives_clear_errors_and_a_failing_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bad_input");
    let out = gridwatch(&data, &["analyze", corpus.join("03_missing_column.csv").to_str().unwrap()]);
    assert!(!out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("missing required column(s): voltage_kv"), "{stdout}");
    // a file with some bad rows is analysed and its rejected rows are named
    let out = gridwatch(&data, &["analyze", corpus.join("06_nan_inf.csv").to_str().unwrap()]);
    let stdout = ok(&out);
    assert!(stdout.contains("1 accepted, 4 rejected") && stdout.contains("rejected rows: rejected/06_nan_inf.csv"), "{stdout}");

    let out = gridwatch(&data, &["analyze", dir.path().join("nope.csv").to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope.csv: no such file"));

    let out = gridwatch(&data, &["query", "--from", "last tuesday"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot parse \"last tuesday\""));

    let cfg = dir.path().join("bad.toml");
    std::fs::write(&cfg, "[analysis]\nnominal_voltage_kv = -1\n").unwrap();
    let out = gridwatch(&data, &["--config", cfg.to_str().unwrap(), "query"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad.toml"));
}

#[test]
fn help_explains_every_command() {
    let dir = tempfile::tempdir().unwrap();
    let help = ok(&gridwatch(dir.path(), &["--help"]));
    for cmd in ["demo", "dashboard", "generate", "analyze", "reprocess", "query", "forecast-eval"] {
        assert!(help.contains(cmd), "--help lacks {cmd}:\n{help}");
    }
    assert!(help.contains("No AWS account needed"), "{help}");
}
