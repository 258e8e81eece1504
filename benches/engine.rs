//! Engine throughput on a generated seed-format CSV (~100 MB; `GRIDWATCH_BENCH_MB` to change).
//!
//! `cargo bench --bench engine` reports MB/s for the streaming engine (parse + analysis,
//! rollups discarded) on one thread and sharded on two, for CSV and gzip input.
//! Whole-process figures (with SQLite writes) and peak memory come from
//! `scripts/bench_process.sh`, which runs the release binary under `/usr/bin/time`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use gridwatch::config::AnalysisConfig;
use gridwatch::analysis::engine::AnalysisSink;
use gridwatch::analysis::pipelined::analyze_pipelined;
use gridwatch::analysis::sharded::analyze_sharded;
use gridwatch::simulator::generator::{self, Generator, GeneratorConfig, DataFormat};
use gridwatch::model::{HourlyRollup, RejectedRow};

/// Counts what comes out and drops it, so the bench measures the engine, not a collector.
#[derive(Default)]
struct CountingSink {
    rollups: u64,
    rejected: u64,
}

impl AnalysisSink for CountingSink {
    fn rollups(&mut self, batch: Vec<HourlyRollup>) -> anyhow::Result<()> {
        self.rollups += batch.len() as u64;
        Ok(())
    }
    fn rejected(&mut self, _: &RejectedRow) -> anyhow::Result<()> {
        self.rejected += 1;
        Ok(())
    }
}

fn generated_csv(target_mb: usize) -> Vec<u8> {
    // 100 substations at 15-minute intervals: ~76 bytes a row, ~0.73 MB a day.
    let days = ((target_mb as f64) / 0.73).ceil().max(1.0) as u32;
    let cfg = GeneratorConfig { substations: 100, days, include_power_factor: true, ..GeneratorConfig::default() };
    let mut out = Vec::with_capacity(target_mb << 20);
    generator::write_readings(DataFormat::Csv, true, Generator::new(cfg).readings(), &mut out).unwrap();
    out
}

fn engine_throughput(c: &mut Criterion) {
    let target_mb = std::env::var("GRIDWATCH_BENCH_MB").ok().and_then(|v| v.parse().ok()).unwrap_or(100);
    let csv = generated_csv(target_mb);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &csv).unwrap();
    let gz = gz.finish().unwrap();
    let cfg = AnalysisConfig::default();
    eprintln!("input: {:.1} MB CSV, {:.1} MB gzip", csv.len() as f64 / 1e6, gz.len() as f64 / 1e6);

    let mut group = c.benchmark_group("engine");
    group.sample_size(10);
    group.measurement_time(std::time::Duration::from_secs(20));
    // Throughput in bytes of decompressed CSV, so both lines compare like for like.
    group.throughput(Throughput::Bytes(csv.len() as u64));
    // One thread is the single pass; two run the sharded engine (src/analysis/sharded.rs)
    // and the pipelined one (src/analysis/pipelined.rs).
    for (name, input) in [("csv", &csv), ("csv_gzip", &gz)] {
        for way in ["1_thread", "2_thread", "2_thread_pipelined"] {
            group.bench_function(format!("{name}_{way}"), |b| {
                b.iter(|| {
                    let mut sink = CountingSink::default();
                    let out = match way {
                        "1_thread" => analyze_sharded(&input[..], "bench.csv", &cfg, 1, &mut sink),
                        "2_thread" => analyze_sharded(&input[..], "bench.csv", &cfg, 2, &mut sink),
                        _ => analyze_pipelined(&input[..], "bench.csv", &cfg, &mut sink),
                    }
                    .unwrap();
                    assert_eq!(sink.rejected, 0);
                    std::hint::black_box((out.report.rows_accepted, sink.rollups))
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, engine_throughput);
criterion_main!(benches);
