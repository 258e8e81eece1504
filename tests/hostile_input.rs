//! Hostile input end to end (issue #12): unreadable stored items, poison files, Unix
//! behaviour of the CLI (closed pipes, FIFOs and devices, escape sequences in file names,
//! runaway SQL), and crash safety under kill -9. Its own test binary: the unreadable-item
//! tally is process-wide.

use gridwatch::backend::{GridStore, LogLevel};
use gridwatch::config::AnalysisConfig;
use gridwatch::local::backend::LocalBackend;
use gridwatch::local::DataDir;
use gridwatch::simulator::generator::{self, DataFormat, Generator, GeneratorConfig};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const HEADER: &str = "timestamp,location,load_mw,generation_mw,voltage_kv,frequency_hz,solar_mw,wind_mw";

fn command(data: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_gridwatch"));
    c.arg("--data-dir")
        .arg(data)
        .args(args)
        .env_remove("GRIDWATCH_DATA_DIR")
        .env_remove("GRIDWATCH_BACKEND")
        .env("XDG_CONFIG_HOME", data.join("no-config"));
    c
}

fn gridwatch(data: &Path, args: &[&str]) -> Output {
    command(data, args).output().expect("runs")
}

fn text(out: &Output) -> (String, String) {
    (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn generated(dir: &Path, name: &str, substations: usize, days: u32) -> PathBuf {
    let cfg = GeneratorConfig {
        substations,
        days,
        start: chrono::DateTime::parse_from_rfc3339("2025-01-14T00:00:00Z").unwrap().into(),
        ..GeneratorConfig::default()
    };
    let path = dir.join(name);
    generator::write_readings(DataFormat::Csv, false, Generator::new(cfg).readings(), std::fs::File::create(&path).unwrap())
        .unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_unreadable_item_is_skipped_with_a_warning_not_the_whole_view() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let file = generated(dir.path(), "grid.csv", 3, 1);
    {
        let backend = LocalBackend::open(DataDir::new(&data), AnalysisConfig::default()).unwrap();
        let key = backend.import(&file, false).unwrap();
        backend.process(&key).await.unwrap();
        // A row no reader can decode (edited by hand, or a broken writer).
        let db = backend.db();
        let changed = db
            .connection()
            .execute(
                "UPDATE rollups SET alert_status = 'not-a-status'
                 WHERE location = 'substation_001' AND timestamp = '2025-01-14T05:00:00Z'",
                [],
            )
            .unwrap();
        assert_eq!(changed, 1);
        let changed = db
            .connection()
            .execute("UPDATE grid_analysis SET item = '{\"location\":\"substation_003\"}' WHERE kind = 'index' AND timestamp = 'substation_003'", [])
            .unwrap();
        assert_eq!(changed, 1);
    }
    let backend = LocalBackend::open(DataDir::new(&data), AnalysisConfig::default()).unwrap();
    let from = chrono::DateTime::parse_from_rfc3339("2025-01-14T00:00:00Z").unwrap().to_utc();
    let to = from + chrono::Duration::days(1);
    let rollups = GridStore::rollups(&backend, "substation_001", from, to).await.unwrap();
    assert_eq!(rollups.len(), 23, "the other hours of the substation are read");
    let subs = GridStore::substations(&backend).await.unwrap();
    assert_eq!(subs.iter().map(|s| s.location.as_str()).collect::<Vec<_>>(), ["substation_001", "substation_002"]);

    // The dashboard's poll shows the healthy substations and a warning, not a store error.
    let mut poller = gridwatch::tui::collect::Poller::new(chrono::Duration::minutes(15));
    let interest = gridwatch::tui::app::Interest {
        locations: vec!["substation_001".into()],
        forecasts: vec![],
        span: chrono::Duration::hours(24),
        zoom: chrono::Duration::hours(24),
        end: Some(to),
    };
    let (msgs, err) = poller.poll(&backend, to, &interest).await;
    assert!(err.is_none(), "{err:?}");
    use gridwatch::tui::msg::Msg;
    assert!(msgs.iter().any(|m| matches!(m, Msg::Substations(s) if s.len() == 2)), "{msgs:?}");
    assert!(msgs.iter().any(|m| matches!(m, Msg::Rollups { rollups, .. } if rollups.len() == 23)));
    let warning = msgs
        .iter()
        .find_map(|m| match m {
            Msg::Logs(lines) => lines.iter().find(|l| l.level == LogLevel::Warn && l.message.contains("unreadable")),
            _ => None,
        })
        .expect("a warning in the log pane");
    assert!(warning.message.contains("skipped"), "{}", warning.message);

    // `gridwatch query` lists the readable rollups instead of failing.
    let out = gridwatch(&data, &["query", "--format", "json"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let listed: Vec<gridwatch::model::HourlyRollup> = serde_json::from_str(&stdout).unwrap();
    assert_eq!(listed.len(), 3 * 24 - 1);
}

#[test]
fn poison_timestamps_and_overflowing_values_never_reach_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let file = dir.path().join("p.csv");
    std::fs::write(
        &file,
        format!(
            "{HEADER}\n-262143-01-01T00:00:00,s1,100,120,13.8,60,1,2\n2025-01-14T00:00:00,s1,1e308,120,13.8,60,1,2\n\
             2025-01-14T00:15:00,s1,1e308,120,13.8,60,1,2\n2025-01-14T00:30:00,s1,100,120,13.8,60,1,2\n"
        ),
    )
    .unwrap();
    for _ in 0..2 {
        let out = gridwatch(&data, &["analyze", file.to_str().unwrap()]);
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{stdout}\n{stderr}");
        assert!(stdout.contains("4 rows, 1 accepted, 3 rejected"), "{stdout}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    let out = gridwatch(&data, &["query", "--format", "json"]);
    assert!(out.status.success(), "{}", text(&out).1);
    let rollups: Vec<gridwatch::model::HourlyRollup> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rollups.len(), 1);
    assert_eq!(rollups[0].load_avg_mw, 100.0);
    let rejected = std::fs::read_to_string(data.join("bucket/rejected/p.csv")).unwrap();
    assert!(rejected.contains("outside 1..=9998") && rejected.contains("largest value"), "{rejected}");
}

#[cfg(unix)]
#[test]
fn non_regular_files_and_empty_directories_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let fifo = dir.path().join("fifo.csv");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let zero = dir.path().join("zero.csv");
    std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    for (path, want) in [
        (fifo.as_path(), "not a regular file (a FIFO)"),
        (Path::new("/dev/null"), "not a regular file (a device)"),
        (zero.as_path(), "not a regular file (a device)"),
        (empty.as_path(), "holds no data files"),
    ] {
        let out = gridwatch(&data, &["analyze", path.to_str().unwrap()]);
        let (_, stderr) = text(&out);
        assert!(!out.status.success(), "{} should fail", path.display());
        assert!(stderr.contains(want) && stderr.contains(&*path.to_string_lossy()), "{}: {stderr}", path.display());
    }
}

#[test]
fn a_file_error_fails_the_run_with_a_summary_of_what_was_kept() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let input = dir.path().join("in");
    std::fs::create_dir(&input).unwrap();
    let good = generated(&input, "a_good.csv", 1, 1);
    std::fs::write(input.join("b_broken.csv"), "timestamp,location\n").unwrap();
    let out = gridwatch(&data, &["analyze", input.to_str().unwrap()]);
    let (stdout, stderr) = text(&out);
    assert!(!out.status.success());
    assert!(stdout.contains("missing required column"), "{stdout}");
    assert!(stderr.contains("1 of 2 file(s) could not be analysed completely; kept 96 row(s) (0 rejected)"), "{stderr}");
    assert!(good.exists());
}

#[cfg(unix)]
#[test]
fn escape_sequences_in_file_names_do_not_reach_the_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let evil = dir.path().join("x\u{1b}]0;pwned\u{7}\u{1b}[2J.csv");
    std::fs::write(&evil, "timestamp,location\n").unwrap();
    let out = gridwatch(&data, &["analyze", evil.to_str().unwrap()]);
    let (stdout, stderr) = text(&out);
    assert!(!out.status.success());
    for stream in [&stdout, &stderr] {
        assert!(!stream.contains('\u{1b}') && !stream.contains('\u{7}'), "{stream:?}");
    }
    assert!(stderr.contains("could not be analysed"), "{stderr}");
}

#[test]
fn a_closed_pipe_is_a_quiet_success() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let file = generated(dir.path(), "grid.csv", 2, 1);
    assert!(gridwatch(&data, &["analyze", file.to_str().unwrap()]).status.success());
    for args in [&["query"][..], &["query", "--format", "json"], &["alarms", "list"], &["sql", "SELECT * FROM hourly"]] {
        // The reader is gone before the first write (like `| head -0`).
        let mut child = command(&data, args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{args:?}: {:?} {stderr}", out.status);
        assert!(stderr.trim().is_empty(), "{args:?}: {stderr}");
    }
}

#[test]
fn local_sql_timeout_stops_a_runaway_statement() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let file = generated(dir.path(), "grid.csv", 1, 1);
    assert!(gridwatch(&data, &["analyze", file.to_str().unwrap()]).status.success());
    let sql = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c";
    let mut child = command(&data, &["sql", "--timeout", "1", sql]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    // Liveness, not timing: without the interrupt the statement never ends.
    let gave_up = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > gave_up {
            child.kill().unwrap();
            panic!("gridwatch sql --timeout 1 did not stop");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("did not finish within 1 s"), "{}", text(&out).1);
}

/// Stored rollups, alarms, forecasts and checkpoints (not the index items, which carry the
/// time they were written).
fn stored_state(data: &Path) -> Vec<(String, String, String, String)> {
    let conn = rusqlite::Connection::open(DataDir::new(data).database()).unwrap();
    let ok: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(ok, "ok", "SQLite integrity check");
    let mut stmt = conn
        .prepare(
            "SELECT location, timestamp, kind, item FROM grid_analysis
             WHERE kind IN ('alert', 'forecast', 'checkpoint')
             UNION ALL SELECT location, timestamp, 'rollup', count || ' ' || load_avg_mw || ' ' || alert_status || ' ' || source FROM rollups
             ORDER BY 3, 1, 2",
        )
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))).unwrap().map(Result::unwrap).collect()
}

fn raw_files(data: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(data.join("bucket/raw"))
        .map(|d| d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    names.sort();
    names
}

/// kill -9 of `gridwatch analyze` at spread-out points (copy into raw/, streaming, forecast,
/// alarms); then the database passes its integrity check, a rerun stores exactly what a
/// clean run stores, and nothing is left in raw/ but the file. `GRIDWATCH_CRASH_TRIALS`
/// and `GRIDWATCH_CRASH_SEED` set the number of trials and the kill points
/// (scripts/crash_trials.sh runs more).
#[cfg(unix)]
#[test]
fn kill_9_during_analyze_then_rerun_equals_a_clean_run() {
    let trials: u64 = std::env::var("GRIDWATCH_CRASH_TRIALS").ok().and_then(|v| v.parse().ok()).unwrap_or(20);
    let dir = tempfile::tempdir().unwrap();
    let file = generated(dir.path(), "grid.csv", 2, 2);
    let path = file.to_str().unwrap();

    let clean = dir.path().join("clean");
    let started = std::time::Instant::now();
    assert!(gridwatch(&clean, &["analyze", path]).status.success());
    let clean_us = started.elapsed().as_micros() as u64;
    let want = stored_state(&clean);
    assert!(!want.is_empty());

    // Deterministic spread of kill points over the clean run's duration (xorshift).
    let mut seed = std::env::var("GRIDWATCH_CRASH_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or(0x9e37_79b9_7f4a_7c15_u64).max(1);
    // Kill points scale with the clean run's duration; a run that finished before its kill
    // does not count as a trial and halves the scale, so a loaded machine (slower or faster
    // than when the clean run was timed) still gets `trials` kills of a running analysis.
    let (mut killed_mid_run, mut attempts, mut scale_us) = (0, 0u64, clean_us.max(1));
    while killed_mid_run < trials {
        attempts += 1;
        assert!(attempts <= trials * 4, "only {killed_mid_run} of {attempts} runs were killed before finishing");
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let delay = std::time::Duration::from_micros(seed % scale_us);
        let data = dir.path().join(format!("trial{attempts}"));
        let mut child = command(&data, &["analyze", path]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        std::thread::sleep(delay);
        let running = child.try_wait().unwrap().is_none();
        child.kill().ok(); // SIGKILL
        child.wait().unwrap();
        if running {
            killed_mid_run += 1;
        } else {
            scale_us = (scale_us / 2).max(1);
        }
        let rerun = gridwatch(&data, &["analyze", path]);
        assert!(rerun.status.success(), "run {attempts} (kill after {delay:?}): {}", text(&rerun).1);
        assert_eq!(stored_state(&data), want, "run {attempts} (kill after {delay:?}): the rerun differs from a clean run");
        assert_eq!(raw_files(&data), ["grid.csv"], "run {attempts} (kill after {delay:?}): left behind in raw/");
        std::fs::remove_dir_all(&data).ok();
    }
    eprintln!("crash trials: {killed_mid_run} killed while running (of {attempts} runs), every rerun equal to a clean run (clean run {clean_us} µs)");
}
