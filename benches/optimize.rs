//! Battery sizing over 100 substations × one year of 15-minute load (35,040 steps each,
//! 3.5 M in all) from the generator, and the whole optimisation (sizing, shifting,
//! renewables, costs for three targets) on the same curves and on their hourly means
//! (the store holds hourly rollups: 8,760 steps per substation).
//!
//! `cargo bench --bench optimize`

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use gridwatch::simulator::generator::{substation_index, Generator, GeneratorConfig};
use gridwatch::optimize::storage::{size_storage, StorageParams};
use gridwatch::optimize::{optimize_curve, Curve, OptimizeConfig};
use std::hint::black_box;

const SUBSTATIONS: usize = 100;

/// Timestamps, load, solar and wind of one substation.
type Columns = (Vec<chrono::DateTime<chrono::Utc>>, Vec<f64>, Vec<f64>, Vec<f64>);

fn curves() -> (Vec<Curve>, Vec<Curve>) {
    let cfg = GeneratorConfig { substations: SUBSTATIONS, days: 365, ..GeneratorConfig::default() };
    let generator = Generator::new(cfg);
    let mut quarter: Vec<Columns> = vec![Default::default(); SUBSTATIONS];
    for r in generator.readings() {
        let i = substation_index(&r.location).expect("generated name");
        let c = &mut quarter[i];
        c.0.push(r.timestamp);
        c.1.push(r.load_mw);
        c.2.push(r.solar_mw);
        c.3.push(r.wind_mw);
    }
    let hourly_mean = |v: &[f64]| v.chunks(4).map(|c| c.iter().sum::<f64>() / c.len() as f64).collect::<Vec<_>>();
    let mut q = Vec::new();
    let mut h = Vec::new();
    for (ts, load, solar, wind) in quarter {
        let hours: Vec<_> = ts.iter().step_by(4).copied().collect();
        h.push(Curve::new(hours, hourly_mean(&load), hourly_mean(&solar), hourly_mean(&wind), 1.0).unwrap());
        q.push(Curve::new(ts, load, solar, wind, 0.25).unwrap());
    }
    (q, h)
}

fn optimize_bench(c: &mut Criterion) {
    let (quarter, hourly) = curves();
    let steps: usize = quarter.iter().map(Curve::len).sum();
    eprintln!("{} substations, {} 15-minute steps, {} hourly steps", quarter.len(), steps, hourly.iter().map(Curve::len).sum::<usize>());
    let cfg = OptimizeConfig::default();
    let mut group = c.benchmark_group("optimize");
    group.sample_size(10);
    group.throughput(Throughput::Elements(steps as u64));
    group.bench_function("sizing, 100 substations x 1 year of 15-min, 90 % target", |b| {
        b.iter(|| {
            for curve in &quarter {
                let peak = curve.load().iter().copied().fold(0.0, f64::max);
                let p = StorageParams { cap_mw: 0.9 * peak, round_trip_efficiency: 0.9, charge_power_ratio: 1.0, step_hours: 0.25 };
                black_box(size_storage(black_box(curve.load()), &p));
            }
        })
    });
    let targets = cfg.targets();
    group.bench_function("everything, 100 substations x 1 year of 15-min, 3 targets", |b| {
        b.iter(|| {
            for curve in &quarter {
                black_box(optimize_curve("s", curve, &cfg, &targets));
            }
        })
    });
    group.throughput(Throughput::Elements(hourly.iter().map(Curve::len).sum::<usize>() as u64));
    group.bench_function("everything, 100 substations x 1 year hourly, 3 targets", |b| {
        b.iter(|| {
            for curve in &hourly {
                black_box(optimize_curve("s", curve, &cfg, &targets));
            }
        })
    });
    group.finish();
}

criterion_group!(benches, optimize_bench);
criterion_main!(benches);
