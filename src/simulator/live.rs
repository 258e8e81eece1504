//! The live simulator behind `gridwatch demo`: readings of the synthetic substations
//! arrive on an accelerated clock, are written as raw files into the local bucket and
//! analysed in-process exactly as the Lambda would analyse an upload.
//!
//! Each simulated hour is one raw file (`raw/sim/grid_data_<date>T<hour>.csv`) that grows
//! by one row per substation every tick and is re-analysed whole; since results are keyed
//! by (substation, hour), re-analysis overwrites instead of duplicating.

use crate::backend::Clock;
use crate::simulator::generator::{self, Generator, GeneratorConfig, DataFormat};
use crate::local::backend::LocalBackend;
use chrono::{DateTime, Duration, DurationRound, Utc};
use std::sync::Arc;

#[derive(Debug, Clone)]
pub struct SimulatorConfig {
    pub substations: usize,
    pub interval_minutes: u32,
    /// Days of history written before the live feed starts (charts and forecast need it).
    pub backfill_days: u32,
    pub seed: u64,
    /// Anomaly episodes per substation per week (higher than real life, so alerts show).
    pub anomalies_per_week: f64,
}

impl Default for SimulatorConfig {
    fn default() -> Self {
        Self { substations: 8, interval_minutes: 15, backfill_days: 7, seed: 42, anomalies_per_week: 20.0 }
    }
}

pub struct Simulator {
    backend: Arc<LocalBackend>,
    generator: Generator,
    interval: Duration,
}

impl Simulator {
    pub fn new(backend: Arc<LocalBackend>, cfg: &SimulatorConfig) -> anyhow::Result<Self> {
        let gen_cfg = GeneratorConfig {
            substations: cfg.substations,
            days: cfg.backfill_days.max(1),
            interval_minutes: cfg.interval_minutes,
            seed: cfg.seed,
            anomalies_per_week: cfg.anomalies_per_week,
            include_power_factor: true,
            ..GeneratorConfig::default()
        };
        gen_cfg.validate().map_err(|e| anyhow::anyhow!("simulator: {e}"))?;
        let interval = Duration::minutes(i64::from(cfg.interval_minutes));
        Ok(Self { backend, generator: Generator::new(gen_cfg), interval })
    }

    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// Picks where simulated time starts and writes the history before it:
    /// a fresh data folder gets `backfill_days` of history ending now; a folder that
    /// already has simulated data resumes right after its newest reading.
    pub fn prepare(&self, wall_now: DateTime<Utc>, backfill_days: u32) -> anyhow::Result<DateTime<Utc>> {
        let now = wall_now.duration_trunc(self.interval).unwrap_or(wall_now);
        let history_start = now - Duration::days(i64::from(backfill_days));
        let newest = self.backend.db().newest_reading()?;
        match newest {
            Some(newest) if newest >= history_start => Ok(newest + self.interval),
            _ => {
                self.backfill(history_start, now)?;
                Ok(now)
            }
        }
    }

    /// Writes one raw file per day of `[from, to)` and analyses it.
    fn backfill(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> anyhow::Result<()> {
        let log = self.backend.log();
        log.info(format!("simulator: writing history from {} to {}", crate::model::format_ts(from), crate::model::format_ts(to)));
        let mut day = from;
        while day < to {
            let day_end = (day.duration_trunc(Duration::days(1)).unwrap_or(day) + Duration::days(1)).min(to);
            let key = format!("raw/sim/grid_data_{}.csv", day.format("%Y-%m-%d"));
            let readings = self.readings_between(day, day_end);
            self.backend.bucket().put_with(&key, |w| {
                generator::write_readings(DataFormat::Csv, true, readings, w)?;
                Ok(())
            })?;
            self.backend.process_key(&key)?;
            day = day_end;
        }
        Ok(())
    }

    fn readings_between(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> impl Iterator<Item = crate::model::Reading> + '_ {
        let steps = ((to - from).num_seconds() / self.interval.num_seconds()).max(0);
        (0..steps).flat_map(move |k| self.generator.readings_at(from + self.interval * k as i32))
    }

    /// The raw key of the hour file that holds `ts`.
    pub fn hour_key(ts: DateTime<Utc>) -> String {
        format!("raw/sim/grid_data_{}.csv", ts.format("%Y-%m-%dT%H"))
    }

    /// Appends one interval of readings (every substation) and re-analyses the hour file.
    pub async fn emit(&self, ts: DateTime<Utc>) -> anyhow::Result<()> {
        let key = Self::hour_key(ts);
        let mut bytes = Vec::new();
        if !self.backend.bucket().exists(&key) {
            generator::write_header(DataFormat::Csv, true, &mut bytes)?;
        }
        for r in self.generator.readings_at(ts) {
            generator::write_reading_row(DataFormat::Csv, true, &r, &mut bytes)?;
        }
        self.backend.bucket().append(&key, &bytes)?;
        self.backend.process(&key).await?;
        Ok(())
    }

    /// Emits readings as the clock passes their timestamps, until the task is dropped.
    pub async fn run(self: Arc<Self>, clock: Arc<dyn Clock>, start: DateTime<Utc>, tick: std::time::Duration) {
        let mut next = start;
        loop {
            while clock.now() >= next {
                if let Err(e) = self.emit(next).await {
                    self.backend.log().error(format!("simulator: {e:#}"));
                }
                next += self.interval;
            }
            tokio::time::sleep(tick / 4).await;
        }
    }
}
