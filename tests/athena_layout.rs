//! The Athena layout (`src/athena.rs`): what the local pipeline writes under
//! `results/hourly/`, and that the JSON lines, the DDL (`assets/athena/create_table.sql`)
//! and the template's Glue table (`assets/template.yaml`) agree on the columns.

use flate2::read::GzDecoder;
use gridwatch::store::athena_layout::{self, COLUMNS, HOURLY_PREFIX, PARTITION_COLUMN};
use gridwatch::config::AnalysisConfig;
use gridwatch::simulator::generator::{self, Generator, GeneratorConfig, DataFormat};
use gridwatch::local::DataDir;
use gridwatch::model::HourlyRollup;
use gridwatch::local::backend::LocalBackend;
use std::collections::BTreeMap;
use std::io::Read;

const DDL: &str = include_str!("../assets/athena/create_table.sql");
const TEMPLATE: &str = include_str!("../assets/template.yaml");

fn gunzip(bytes: &[u8]) -> String {
    let mut s = String::new();
    GzDecoder::new(bytes).read_to_string(&mut s).unwrap();
    s
}

/// `(name, type)` of the DDL's column list, backticks removed.
fn ddl_columns() -> Vec<(String, String)> {
    let start = DDL.find("CREATE EXTERNAL TABLE").unwrap();
    let body = &DDL[start..];
    let open = body.find('(').unwrap();
    let close = body.find("\n)").unwrap();
    body[open + 1..close]
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| {
            let l = l.trim_end_matches(',');
            let (name, ty) = l.split_once(' ').unwrap();
            (name.trim_matches('`').to_string(), ty.trim().to_string())
        })
        .collect()
}

/// `(name, type)` of the Glue table's columns in the template (`- { Name: x, Type: y }`).
fn template_columns() -> Vec<(String, String)> {
    let start = TEMPLATE.find("Columns:").unwrap();
    TEMPLATE[start..]
        .lines()
        .skip(1)
        .map(str::trim)
        .take_while(|l| l.starts_with("- { Name:"))
        .map(|l| {
            let inner = l.trim_start_matches("- {").trim_end_matches('}');
            let mut name = String::new();
            let mut ty = String::new();
            for part in inner.split(", ") {
                let (k, v) = part.split_once(':').unwrap();
                let v = v.trim().trim_matches('"').to_string();
                if k.trim() == "Name" { name = v } else { ty = v }
            }
            (name, ty)
        })
        .collect()
}

fn want_columns() -> Vec<(String, String)> {
    COLUMNS.iter().map(|(n, t)| (n.to_string(), t.to_string())).collect()
}

#[test]
fn ddl_template_and_writer_agree_on_the_table() {
    assert_eq!(ddl_columns(), want_columns(), "assets/athena/create_table.sql");
    assert_eq!(template_columns(), want_columns(), "assets/template.yaml AthenaHourlyTable");
    // partition column, projection and location
    assert!(DDL.contains(&format!("PARTITIONED BY (`{PARTITION_COLUMN}` string)")));
    assert!(DDL.contains(&format!("'storage.location.template' = 's3://YOUR_BUCKET/{HOURLY_PREFIX}{PARTITION_COLUMN}=${{{PARTITION_COLUMN}}}/'")));
    assert!(DDL.contains(&format!("LOCATION 's3://YOUR_BUCKET/{HOURLY_PREFIX}'")));
    assert!(TEMPLATE.contains(&format!("/{HOURLY_PREFIX}{PARTITION_COLUMN}=${{!{PARTITION_COLUMN}}}/")), "template storage.location.template");
    assert!(TEMPLATE.contains(&format!("projection.{PARTITION_COLUMN}.type: date")));
    assert!(DDL.contains(&format!("'projection.{PARTITION_COLUMN}.type' = 'date'")));
    assert!(DDL.contains(&format!("CREATE EXTERNAL TABLE IF NOT EXISTS gridwatch.{}", athena_layout::TABLE)));
}

#[test]
fn each_json_line_has_exactly_the_columns_with_their_types() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("g.csv");
    let cfg = GeneratorConfig { substations: 2, days: 2, ..GeneratorConfig::default() };
    generator::write_readings(DataFormat::Csv, false, Generator::new(cfg).readings(), std::fs::File::create(&file).unwrap()).unwrap();
    let b = LocalBackend::open(DataDir::new(dir.path().join("data")), AnalysisConfig::default()).unwrap();
    let key = b.import(&file, false).unwrap();
    b.process_key(&key).unwrap();
    let rollups = b.db().query(None, None, None, None).unwrap();
    let text = String::from_utf8(athena_layout::rollups_jsonl(&rollups)).unwrap();
    assert_eq!(text.lines().count(), rollups.len());
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let obj = v.as_object().unwrap();
        let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
        keys.sort_unstable();
        let mut want: Vec<&str> = COLUMNS.iter().map(|(n, _)| *n).collect();
        want.sort_unstable();
        assert_eq!(keys, want);
        for (name, ty) in COLUMNS {
            let value = &obj[name];
            let ok = match ty {
                "string" => value.is_string(),
                "bigint" => value.is_u64() || value.is_i64(),
                "double" => value.is_number() || value.is_null(),
                "array<string>" => value.as_array().is_some_and(|a| a.iter().all(|x| x.is_string())),
                other => panic!("unexpected type {other}"),
            };
            assert!(ok, "{name} ({ty}) = {value}");
        }
        let ts = obj["timestamp"].as_str().unwrap();
        assert!(ts.len() == 20 && ts.ends_with(":00:00Z"), "{ts}");
    }
}

#[test]
fn the_local_pipeline_writes_the_layout_and_rewrites_it_identically() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("grid_data_2025-01-14.csv");
    // Starts at 22:00 so the file spans two UTC days.
    let cfg = GeneratorConfig {
        substations: 3,
        days: 1,
        start: "2025-01-14T22:00:00Z".parse().unwrap(),
        ..GeneratorConfig::default()
    };
    generator::write_readings(DataFormat::Csv, true, Generator::new(cfg).readings(), std::fs::File::create(&file).unwrap()).unwrap();
    let b = LocalBackend::open(DataDir::new(dir.path().join("data")), AnalysisConfig::default()).unwrap();
    let key = b.import(&file, false).unwrap();
    b.process_key(&key).unwrap();

    let objects = b.bucket().list(HOURLY_PREFIX).unwrap();
    let keys: Vec<&str> = objects.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "results/hourly/day=2025-01-14/grid_data_2025-01-14.json.gz",
            "results/hourly/day=2025-01-15/grid_data_2025-01-14.json.gz",
        ]
    );

    // The objects hold exactly the stored rollups, each once, in the right partition.
    let stored = b.db().query(None, None, None, None).unwrap();
    let mut by_partition: BTreeMap<String, Vec<HourlyRollup>> = BTreeMap::new();
    for r in &stored {
        by_partition.entry(r.timestamp.format("%Y-%m-%d").to_string()).or_default().push(r.clone());
    }
    let mut lines_total = 0;
    let mut bodies = Vec::new();
    for o in &objects {
        let body = std::fs::read(b.bucket().path(&o.key).unwrap()).unwrap();
        let text = gunzip(&body);
        let mut rows: Vec<HourlyRollup> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        rows.sort_by(|a, b| (&a.location, a.timestamp).cmp(&(&b.location, b.timestamp)));
        let day = o.key.split("day=").nth(1).unwrap()[..10].to_string();
        assert_eq!(rows, by_partition[&day], "{}", o.key);
        lines_total += rows.len();
        bodies.push(body);
    }
    assert_eq!(lines_total, stored.len());
    assert_eq!(lines_total, 3 * 24);

    // Reprocessing rewrites the same keys with the same bytes (Athena sees each hour once).
    b.process_key(&key).unwrap();
    let again = b.bucket().list(HOURLY_PREFIX).unwrap();
    assert_eq!(again.iter().map(|o| o.key.as_str()).collect::<Vec<_>>(), keys);
    for (o, before) in again.iter().zip(&bodies) {
        assert_eq!(&std::fs::read(b.bucket().path(&o.key).unwrap()).unwrap(), before, "{}", o.key);
    }
}

#[test]
fn the_writer_groups_by_utc_day_whatever_the_order() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("x.csv");
    let cfg = GeneratorConfig { substations: 2, days: 2, ..GeneratorConfig::default() };
    generator::write_readings(DataFormat::Csv, false, Generator::new(cfg).readings(), std::fs::File::create(&file).unwrap()).unwrap();
    let b = LocalBackend::open(DataDir::new(dir.path().join("data")), AnalysisConfig::default()).unwrap();
    b.process_key(&b.import(&file, false).unwrap()).unwrap();
    let mut rollups = b.db().query(None, None, None, None).unwrap();
    rollups.reverse();
    let mut w = athena_layout::PartitionWriter::new("raw/site a/x.csv");
    for chunk in rollups.chunks(7) {
        w.push(chunk).unwrap();
    }
    assert_eq!(w.rows(), 96);
    let objects = w.finish().unwrap();
    assert_eq!(objects.len(), 2);
    assert_eq!(objects[0].key, "results/hourly/day=2025-01-14/site%20a%2Fx.json.gz");
    assert_eq!(objects[1].key, "results/hourly/day=2025-01-15/site%20a%2Fx.json.gz");
    for o in &objects {
        assert_eq!(o.rows, 48, "2 substations x 24 hours");
        assert_eq!(gunzip(&o.body).lines().count(), 48);
        gridwatch::store::object_keys::validate_key(&o.key).unwrap();
    }
    assert_eq!(athena_layout::partition_objects("raw/site a/x.csv", &rollups).unwrap(), objects);
}

/// Cost of the layout per rollup (run with `cargo test --release --test athena_layout -- --ignored --nocapture`).
#[test]
#[ignore]
fn writer_throughput() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("x.csv");
    let cfg = GeneratorConfig { substations: 20, days: 60, ..GeneratorConfig::default() };
    generator::write_readings(DataFormat::Csv, true, Generator::new(cfg).readings(), std::fs::File::create(&file).unwrap()).unwrap();
    let b = LocalBackend::open(DataDir::new(dir.path().join("data")), AnalysisConfig::default()).unwrap();
    b.process_key(&b.import(&file, false).unwrap()).unwrap();
    let rollups = b.db().query(None, None, None, None).unwrap();
    let started = std::time::Instant::now();
    let objects = athena_layout::partition_objects("raw/x.csv", &rollups).unwrap();
    let took = started.elapsed();
    let bytes: usize = objects.iter().map(|o| o.body.len()).sum();
    let plain = athena_layout::rollups_jsonl(&rollups).len();
    println!(
        "{} rollups: {:.2} us each, {} objects, {:.0} bytes/rollup gzip ({:.1}x)",
        rollups.len(),
        took.as_secs_f64() * 1e6 / rollups.len() as f64,
        objects.len(),
        bytes as f64 / rollups.len() as f64,
        plain as f64 / bytes as f64
    );
}

/// A new version of an object that covers fewer days leaves no object of the days it lost:
/// Athena would count their rows still (the objects of the newest analysis are listed in
/// `results/athena-objects/`, and the next analysis removes those it does not write again).
#[test]
fn a_shorter_new_version_takes_its_lost_days_out_of_the_athena_copy() {
    let dir = tempfile::tempdir().unwrap();
    let b = LocalBackend::open(DataDir::new(dir.path().join("data")), AnalysisConfig::default()).unwrap();
    let file = dir.path().join("grid.csv");
    let mut keys_after = Vec::new();
    for days in [3, 1, 1] {
        let cfg = GeneratorConfig { substations: 2, days, ..GeneratorConfig::default() };
        generator::write_readings(DataFormat::Csv, true, Generator::new(cfg).readings(), std::fs::File::create(&file).unwrap()).unwrap();
        let key = b.import(&file, true).unwrap();
        b.process_key(&key).unwrap();
        let keys: Vec<String> = b.bucket().list(HOURLY_PREFIX).unwrap().into_iter().map(|o| o.key).collect();
        keys_after.push(keys);
    }
    assert_eq!(keys_after[0].len(), 3, "{:?}", keys_after[0]);
    assert_eq!(keys_after[1], keys_after[0][..1].to_vec());
    assert_eq!(keys_after[2], keys_after[1], "the same version again changes nothing");
    // The list names exactly what is there.
    let manifest = std::fs::read(b.bucket().path("results/athena-objects/grid.json").unwrap()).unwrap();
    let manifest: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
    assert_eq!(manifest["objects"], serde_json::json!(keys_after[2]));
}
