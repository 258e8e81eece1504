//! The local store's write path: typed rollup rows through cached prepared statements,
//! [`ROLLUP_WRITE_BATCH`] rollups per transaction, into a database file (WAL) as
//! `gridwatch analyze` writes them.
//!
//! `cargo bench --bench store` reports rollups per second; its inverse is the cost per
//! rollup written (README, Performance). Lines:
//! - `new_hours`: one file's hours, stored for the first time (each a new row),
//! - `same_file_again`: the same file reprocessed (each row replaces its own),
//! - `overlapping_file`: a second file feeding the same hours (parts kept, hours merged).

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use gridwatch::config::AnalysisConfig;
use gridwatch::local::SqliteTable;
use gridwatch::model::{AlertStatus, HourlyRollup};
use gridwatch::store::recipe::ROLLUP_WRITE_BATCH;

/// 100 substations × 30 days of hours, values varying per hour, in the order the engine
/// hands them out: hour after hour, every substation's (a batch holds a few hours of all of
/// them, so each transaction writes into every substation's part of the table).
fn rollups() -> Vec<HourlyRollup> {
    let start: chrono::DateTime<chrono::Utc> = "2025-01-01T00:00:00Z".parse().unwrap();
    let mut out = Vec::new();
    for h in 0..30 * 24 {
        for s in 0..100 {
            let x = (s * 7919 + h) as f64 % 97.0;
            out.push(HourlyRollup {
                location: format!("substation_{s:03}"),
                timestamp: start + chrono::Duration::hours(h as i64),
                count: 4,
                load_avg_mw: 40.0 + x,
                load_min_mw: 35.0 + x,
                load_peak_mw: 45.0 + x,
                generation_avg_mw: 55.0 + x,
                solar_avg_mw: 5.0,
                wind_avg_mw: 3.0 + x / 10.0,
                renewable_penetration: 0.15,
                voltage_avg_kv: 13.8 - x / 1000.0,
                voltage_min_kv: 13.7,
                voltage_max_kv: 13.9,
                frequency_avg_hz: 60.0,
                frequency_min_hz: 59.98,
                frequency_max_hz: 60.02,
                frequency_max_dev_hz: 0.02,
                power_factor_avg: 0.95,
                power_factor_defaulted: 4,
                stability_score: 0.999,
                efficiency_score: 0.85,
                alert_status: if h % 50 == 0 { AlertStatus::Warning } else { AlertStatus::Normal },
                alert_reasons: if h % 50 == 0 { vec!["undervoltage (low): voltage fell to 13.4 kV".into()] } else { Vec::new() },
            });
        }
    }
    out
}

fn write_all(db: &mut SqliteTable, source: &str, rollups: &[HourlyRollup], cfg: &AnalysisConfig) -> usize {
    rollups.chunks(ROLLUP_WRITE_BATCH).map(|batch| db.put_rollups(source, batch, cfg).map(|_| batch.len()).unwrap()).sum()
}

fn store_writes(c: &mut Criterion) {
    let rollups = rollups();
    let cfg = AnalysisConfig::default();
    let fresh = || {
        let dir = tempfile::tempdir().unwrap();
        let db = SqliteTable::open(&dir.path().join("bench.db")).unwrap();
        (dir, db)
    };
    let mut group = c.benchmark_group("store");
    group.sample_size(10);
    group.throughput(Throughput::Elements(rollups.len() as u64));
    group.bench_function("new_hours", |b| {
        b.iter_batched(fresh, |(dir, mut db)| (write_all(&mut db, "raw/a.csv", &rollups, &cfg), dir), BatchSize::PerIteration)
    });
    group.bench_function("same_file_again", |b| {
        b.iter_batched(
            || {
                let (dir, mut db) = fresh();
                write_all(&mut db, "raw/a.csv", &rollups, &cfg);
                (dir, db)
            },
            |(dir, mut db)| (write_all(&mut db, "raw/a.csv", &rollups, &cfg), dir),
            BatchSize::PerIteration,
        )
    });
    group.bench_function("overlapping_file", |b| {
        b.iter_batched(
            || {
                let (dir, mut db) = fresh();
                write_all(&mut db, "raw/a.csv", &rollups, &cfg);
                (dir, db)
            },
            |(dir, mut db)| (write_all(&mut db, "raw/b.csv", &rollups, &cfg), dir),
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, store_writes);
criterion_main!(benches);
