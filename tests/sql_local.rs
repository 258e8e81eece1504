//! `gridwatch sql` on the local backend: every example query of `assets/athena/queries.sql`
//! runs on generated data analysed with `LocalBackend`, and its result is checked against
//! values computed here straight from the generated CSV (not from the engine's rollups).
//! Also: the command line (table, CSV, JSON, `--file`/`--name`) and that no statement can
//! change the stored data.

use gridwatch::cli::sql::{self, Cell, ResultSet};
use gridwatch::config::AnalysisConfig;
use gridwatch::simulator::generator::{self, Generator, GeneratorConfig, DataFormat};
use gridwatch::local::DataDir;
use gridwatch::model::AlertStatus;
use gridwatch::local::backend::LocalBackend;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

const QUERIES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/assets/athena/queries.sql");

/// One reading as read back from the CSV file.
struct Row {
    location: String,
    day: String,
    hour: String,
    load: f64,
    generation: f64,
    voltage: f64,
    solar: f64,
    wind: f64,
}

/// Per (location, hour) aggregates of the raw readings.
#[derive(Default)]
struct Hour {
    n: f64,
    load_max: f64,
    v_sum: f64,
    v_min: f64,
    gen_sum: f64,
    solar_sum: f64,
    wind_sum: f64,
}

struct Fixture {
    _dir: tempfile::TempDir,
    data_dir: PathBuf,
    backend: LocalBackend,
    hours: BTreeMap<(String, String), Hour>,
    day_of_hour: BTreeMap<String, String>,
}

fn read_csv(path: &Path) -> Vec<Row> {
    let mut reader = csv::Reader::from_path(path).unwrap();
    let headers = reader.headers().unwrap().clone();
    let col = |name: &str| headers.iter().position(|h| h == name).unwrap_or_else(|| panic!("column {name}"));
    let (ts, loc, load, gen_, v, solar, wind) =
        (col("timestamp"), col("location"), col("load_mw"), col("generation_mw"), col("voltage_kv"), col("solar_mw"), col("wind_mw"));
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            let t = &r[ts];
            let num = |i: usize| r[i].parse::<f64>().unwrap();
            Row {
                location: r[loc].to_string(),
                day: t[..10].to_string(),
                hour: format!("{}:00:00Z", &t[..13]),
                load: num(load),
                generation: num(gen_),
                voltage: num(v),
                solar: num(solar),
                wind: num(wind),
            }
        })
        .collect()
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let cfg = GeneratorConfig { substations: 4, days: 4, anomalies_per_week: 8.0, ..GeneratorConfig::default() };
    let file = dir.path().join("grid_data_2025-01-14.csv");
    generator::write_readings(DataFormat::Csv, true, Generator::new(cfg).readings(), std::fs::File::create(&file).unwrap())
        .unwrap();

    let backend = LocalBackend::open(DataDir::new(&data_dir), AnalysisConfig::default()).unwrap();
    let key = backend.import(&file, false).unwrap();
    let done = backend.process_key(&key).unwrap();
    assert_eq!(done.report.rows_rejected, 0, "the independent sums below assume every row was used");
    assert_eq!(done.rollups_written, 4 * 4 * 24);

    let mut hours: BTreeMap<(String, String), Hour> = BTreeMap::new();
    let mut day_of_hour = BTreeMap::new();
    for r in read_csv(&file) {
        day_of_hour.insert(r.hour.clone(), r.day.clone());
        let h = hours.entry((r.location.clone(), r.hour.clone())).or_insert_with(|| Hour {
            load_max: f64::NEG_INFINITY,
            v_min: f64::INFINITY,
            ..Hour::default()
        });
        h.n += 1.0;
        h.load_max = h.load_max.max(r.load);
        h.v_sum += r.voltage;
        h.v_min = h.v_min.min(r.voltage);
        h.gen_sum += r.generation;
        h.solar_sum += r.solar;
        h.wind_sum += r.wind;
    }
    Fixture { _dir: dir, data_dir, backend, hours, day_of_hour }
}

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol * (1.0 + b.abs())
}

fn f(c: &Cell) -> f64 {
    c.as_f64().unwrap_or_else(|| panic!("not a number: {c:?}"))
}

fn s(c: &Cell) -> String {
    c.as_str().unwrap_or_else(|| panic!("not text: {c:?}")).to_string()
}

fn columns(rs: &ResultSet) -> Vec<&str> {
    rs.columns.iter().map(String::as_str).collect()
}

fn check_peak_demand_per_day(fx: &Fixture, rs: &ResultSet) {
    assert_eq!(columns(rs), ["location", "day", "peak_hour", "peak_mw"]);
    // (location, day) -> (peak, earliest hour with it)
    let mut want: BTreeMap<(String, String), (f64, String)> = BTreeMap::new();
    for ((loc, hour), h) in &fx.hours {
        let day = fx.day_of_hour[hour].clone();
        let e = want.entry((loc.clone(), day)).or_insert((f64::NEG_INFINITY, String::new()));
        if h.load_max > e.0 {
            *e = (h.load_max, hour.clone());
        }
    }
    assert_eq!(rs.rows.len(), want.len(), "one row per substation and day");
    for (row, ((loc, day), (peak, hour))) in rs.rows.iter().zip(&want) {
        assert_eq!((s(&row[0]), s(&row[1]), s(&row[2])), (loc.clone(), day.clone(), hour.clone()));
        assert!(close(f(&row[3]), *peak, 1e-12), "{loc} {day}: {} vs {peak}", f(&row[3]));
    }
}

fn check_hours_under(fx: &Fixture, rs: &ResultSet) {
    assert_eq!(columns(rs), ["location", "hours", "hours_avg_under_13_5_kv", "hours_any_under_13_5_kv", "lowest_kv"]);
    let mut want: BTreeMap<String, (i64, i64, i64, f64)> = BTreeMap::new();
    for ((loc, _), h) in &fx.hours {
        let e = want.entry(loc.clone()).or_insert((0, 0, 0, f64::INFINITY));
        e.0 += 1;
        e.1 += i64::from(h.v_sum / h.n < 13.5);
        e.2 += i64::from(h.v_min < 13.5);
        e.3 = e.3.min(h.v_min);
    }
    assert!(want.values().any(|w| w.2 > 0), "the data should have some undervoltage (anomalies are on)");
    assert_eq!(rs.rows.len(), want.len());
    for (row, (loc, (hours, avg_under, any_under, lowest))) in rs.rows.iter().zip(&want) {
        assert_eq!(s(&row[0]), *loc);
        assert_eq!((row[1].clone(), row[2].clone(), row[3].clone()), (Cell::Int(*hours), Cell::Int(*avg_under), Cell::Int(*any_under)), "{loc}");
        assert!(close(f(&row[4]), *lowest, 1e-12), "{loc}");
    }
}

fn check_undervoltage_hours(fx: &Fixture, rs: &ResultSet) {
    assert_eq!(columns(rs), ["location", "timestamp", "voltage_avg_kv", "voltage_min_kv", "alert_status"]);
    let want: Vec<(&(String, String), &Hour)> =
        fx.hours.iter().filter(|((_, hour), h)| hour.starts_with("2025-") && h.v_min < 13.5).collect();
    assert!(!want.is_empty());
    assert_eq!(rs.rows.len(), want.len());
    for (row, ((loc, hour), h)) in rs.rows.iter().zip(want) {
        assert_eq!((s(&row[0]), s(&row[1])), (loc.clone(), hour.clone()));
        assert!(close(f(&row[2]), h.v_sum / h.n, 1e-12) && close(f(&row[3]), h.v_min, 1e-12), "{loc} {hour}");
        // A reading under the escalation limit (13.0 kV) raises the alarm at once, so that
        // hour is never "normal"; a shorter dip under 13.5 kV may stay inside the on-delay.
        if h.v_min < 13.0 {
            assert_ne!(s(&row[4]), "normal", "{loc} {hour}");
        }
    }
}

fn check_renewable_share(fx: &Fixture, rs: &ResultSet) {
    assert_eq!(columns(rs), ["location", "renewable_pct", "solar_pct", "wind_pct", "renewable_mwh"]);
    let mut sums: BTreeMap<String, (f64, f64, f64)> = BTreeMap::new();
    for ((loc, _), h) in &fx.hours {
        let e = sums.entry(loc.clone()).or_default();
        e.0 += h.gen_sum / h.n;
        e.1 += h.solar_sum / h.n;
        e.2 += h.wind_sum / h.n;
    }
    assert_eq!(rs.rows.len(), sums.len());
    let mut previous = f64::INFINITY;
    for row in &rs.rows {
        let loc = s(&row[0]);
        let (gen_, solar, wind) = sums[&loc];
        let pct = f(&row[1]);
        assert!((pct - 100.0 * (solar + wind) / gen_).abs() <= 0.005 + 1e-9, "{loc}: {pct}");
        assert!((f(&row[2]) - 100.0 * solar / gen_).abs() <= 0.005 + 1e-9, "{loc}");
        assert!((f(&row[3]) - 100.0 * wind / gen_).abs() <= 0.005 + 1e-9, "{loc}");
        assert!((f(&row[4]) - (solar + wind)).abs() <= 0.05 + 1e-9, "{loc}");
        assert!(pct <= previous, "highest share first");
        previous = pct;
    }
}

fn check_alert_hours(fx: &Fixture, rs: &ResultSet) {
    assert_eq!(columns(rs), ["day", "alert_status", "hours", "substations"]);
    // From the stored rollups through the Rust API (the engine decides the status).
    let mut want: BTreeMap<(String, String), (i64, BTreeSet<String>)> = BTreeMap::new();
    for status in [AlertStatus::Warning, AlertStatus::Critical] {
        for r in fx.backend.db().query(None, None, None, Some(status)).unwrap() {
            let e = want.entry((r.timestamp.format("%Y-%m-%d").to_string(), status.to_string())).or_default();
            e.0 += 1;
            e.1.insert(r.location.clone());
        }
    }
    assert!(!want.is_empty());
    let got: Vec<(String, String, i64, i64)> =
        rs.rows.iter().map(|r| (s(&r[0]), s(&r[1]), f(&r[2]) as i64, f(&r[3]) as i64)).collect();
    let want: Vec<(String, String, i64, i64)> =
        want.into_iter().map(|((d, st), (n, locs))| (d, st, n, locs.len() as i64)).collect();
    assert_eq!(got, want);
}

#[test]
fn every_example_query_gives_the_values_computed_from_the_raw_readings() {
    let fx = fixture();
    let text = std::fs::read_to_string(QUERIES).unwrap();
    let queries = sql::parse_queries(&text, "queries");
    let names: Vec<&str> = queries.iter().map(|q| q.name.as_str()).collect();
    assert_eq!(
        names,
        ["peak_demand_per_day", "hours_under_13_5_kv", "undervoltage_hours_2025", "renewable_share_per_substation", "alert_hours_per_day"],
        "a new example query needs a check here"
    );
    let conn = sql::open_local(&DataDir::new(&fx.data_dir).database()).unwrap();
    for q in &queries {
        let rs = sql::query_local(&conn, &q.sql).unwrap_or_else(|e| panic!("{}: {e}", q.name));
        match q.name.as_str() {
            "peak_demand_per_day" => check_peak_demand_per_day(&fx, &rs),
            "hours_under_13_5_kv" => check_hours_under(&fx, &rs),
            "undervoltage_hours_2025" => check_undervoltage_hours(&fx, &rs),
            "renewable_share_per_substation" => check_renewable_share(&fx, &rs),
            "alert_hours_per_day" => check_alert_hours(&fx, &rs),
            other => panic!("unchecked query {other}"),
        }
    }
}

#[test]
fn the_local_hourly_view_has_the_athena_tables_columns() {
    let fx = fixture();
    let conn = sql::open_local(&DataDir::new(&fx.data_dir).database()).unwrap();
    let rs = sql::query_local(&conn, "SELECT * FROM hourly ORDER BY location, \"timestamp\" LIMIT 1").unwrap();
    let mut want: Vec<&str> = gridwatch::store::athena_layout::COLUMNS.iter().map(|(name, _)| *name).collect();
    want.push(gridwatch::store::athena_layout::PARTITION_COLUMN);
    assert_eq!(columns(&rs), want);
    let row = &rs.rows[0];
    assert!(row.iter().all(|c| *c != Cell::Null), "every column is filled: {row:?}");
    assert_eq!(s(&row[rs.column("day").unwrap()]), "2025-01-14");
    assert_eq!(row[rs.column("count").unwrap()], Cell::Int(4));
}

fn gridwatch(data_dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_gridwatch"))
        .arg("--data-dir")
        .arg(data_dir)
        .arg("sql")
        .args(args)
        .env_remove("GRIDWATCH_BACKEND")
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

fn stdout(out: &std::process::Output) -> String {
    assert!(out.status.success(), "failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout.clone()).unwrap()
}

#[test]
fn the_command_prints_tables_csv_and_json() {
    let fx = fixture();
    // All examples at once: one titled table each.
    let all = stdout(&gridwatch(&fx.data_dir, &["--file", QUERIES]));
    for name in ["peak_demand_per_day", "hours_under_13_5_kv", "renewable_share_per_substation", "alert_hours_per_day"] {
        assert!(all.contains(&format!("-- {name}\n")), "{all}");
    }
    assert!(all.contains("(16 rows)"), "4 substations x 4 days of peaks:\n{all}");

    // One by name, as CSV: the same values as the library call.
    let csv_text = stdout(&gridwatch(&fx.data_dir, &["--file", QUERIES, "--name", "renewable_share_per_substation", "--format", "csv"]));
    let conn = sql::open_local(&DataDir::new(&fx.data_dir).database()).unwrap();
    let q = sql::parse_queries(&std::fs::read_to_string(QUERIES).unwrap(), "q")
        .into_iter()
        .find(|q| q.name == "renewable_share_per_substation")
        .unwrap();
    let rs = sql::query_local(&conn, &q.sql).unwrap();
    let mut expected = Vec::new();
    sql::write_result(&rs, sql::SqlFormat::Csv, None, &mut expected).unwrap();
    assert_eq!(csv_text, String::from_utf8(expected).unwrap());
    assert!(csv_text.starts_with("location,renewable_pct,solar_pct,wind_pct,renewable_mwh\n"), "{csv_text}");

    // An ad-hoc statement as JSON.
    let json = stdout(&gridwatch(
        &fx.data_dir,
        &["--format", "json", "SELECT location, count(*) AS hours, max(load_peak_mw) AS peak FROM hourly GROUP BY location ORDER BY location"],
    ));
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let rows = v.as_array().unwrap();
    assert_eq!(rows.len(), 4);
    assert_eq!(rows[0]["location"], "substation_001");
    assert_eq!(rows[0]["hours"], 96);
    let want_peak = fx.hours.iter().filter(|((l, _), _)| l == "substation_001").map(|(_, h)| h.load_max).fold(f64::MIN, f64::max);
    assert!(close(rows[0]["peak"].as_f64().unwrap(), want_peak, 1e-12));

    // The aligned table: header, rule, right-aligned numbers, row count.
    let table = stdout(&gridwatch(&fx.data_dir, &["SELECT location, count(*) AS hours FROM hourly GROUP BY location ORDER BY location"]));
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines[0], "location        hours");
    assert_eq!(lines[1], "--------------  -----");
    assert_eq!(lines[2], "substation_001     96");
    assert_eq!(*lines.last().unwrap(), "(4 rows)");
    // the database's items are there too
    let items = stdout(&gridwatch(&fx.data_dir, &["--format", "csv", "SELECT kind, count(*) AS n FROM grid_analysis GROUP BY kind ORDER BY kind"]));
    assert!(items.contains("index,4\n") && !items.contains("rollup"), "{items}");
    let typed = stdout(&gridwatch(&fx.data_dir, &["--format", "csv", "SELECT count(*) AS n, count(DISTINCT source) AS files FROM rollups"]));
    assert_eq!(typed, "n,files\n384,1\n", "one typed row per substation-hour, from the one file");
}

fn dump(data_dir: &Path) -> Vec<(String, String, String)> {
    let conn = rusqlite::Connection::open(DataDir::new(data_dir).database()).unwrap();
    let mut stmt = conn
        .prepare(
            "SELECT location, timestamp, item FROM grid_analysis UNION ALL
             SELECT location, timestamp, load_avg_mw || ' ' || source FROM rollups ORDER BY location, timestamp",
        )
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).unwrap().map(Result::unwrap).collect()
}

#[test]
fn no_statement_can_change_the_data() {
    let fx = fixture();
    drop(fx.backend.db()); // nothing held
    let before = dump(&fx.data_dir);
    let elsewhere = fx.data_dir.join("attached.db");
    let attach = format!("ATTACH DATABASE 'file:{}?mode=rwc' AS x", elsewhere.display());
    for stmt in [
        "DELETE FROM grid_analysis",
        "DELETE FROM rollups",
        "UPDATE rollups SET load_avg_mw = 0",
        "UPDATE grid_analysis SET load_avg_mw = 0",
        "INSERT INTO grid_analysis (location, timestamp, kind, item) VALUES ('x', 'y', 'rollup', '{}')",
        "DROP TABLE grid_analysis",
        "DROP VIEW hourly",
        "CREATE TABLE t (a)",
        "CREATE TEMP TABLE t (a)",
        "PRAGMA journal_mode = DELETE",
        "SELECT 1; DELETE FROM grid_analysis",
        "VACUUM",
        attach.as_str(),
    ] {
        let out = gridwatch(&fx.data_dir, &[stmt]);
        assert!(!out.status.success(), "{stmt:?} should be refused: {}", String::from_utf8_lossy(&out.stdout));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.trim().is_empty(), "{stmt:?}: the error says why");
    }
    assert!(!elsewhere.exists(), "ATTACH cannot create files");
    assert_eq!(before, dump(&fx.data_dir), "the stored data is unchanged");
    let out = gridwatch(&fx.data_dir, &["DELETE FROM grid_analysis"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("only statements that read"), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn a_missing_database_is_an_error_and_is_not_created() {
    let dir = tempfile::tempdir().unwrap();
    let out = gridwatch(dir.path(), &["SELECT 1"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no local database") && err.contains("gridwatch analyze"), "{err}");
    assert!(!DataDir::new(dir.path()).database().exists());
    // unknown names in a query file are reported with the names that exist
    let fx = fixture();
    let out = gridwatch(&fx.data_dir, &["--file", QUERIES, "--name", "nope"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("peak_demand_per_day"), "{err}");
}
