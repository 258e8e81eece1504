//! The local pipeline: what the Lambda does on AWS, run in-process on the folder bucket,
//! the SQLite table and the JSON-lines log. `process_key` is the S3-event handler's twin.

use crate::backend::{BackendError, BackendResult, GridStore};
use crate::config::AnalysisConfig;
use crate::engine::{self, AnalysisSink};
use crate::items;
use crate::keys;
use crate::rejected::RejectedSpool;
use crate::local::{DataDir, FolderBucket, JsonLog, SqliteStore};
use crate::model::{format_ts, Alert, FileReport, ForecastPoint, HourlyRollup, RejectedRow, SubstationState};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

/// Days of stored rollups the forecast reads before a file's first hour (shared with the Lambda).
pub use crate::items::FORECAST_HISTORY_DAYS;

pub struct LocalBackend {
    data: DataDir,
    bucket: FolderBucket,
    db: Mutex<SqliteStore>,
    log: Arc<JsonLog>,
    cfg: AnalysisConfig,
}

/// What happened to one object, for the CLI and the log.
#[derive(Debug, Clone)]
pub struct Processed {
    pub key: String,
    pub report: FileReport,
    pub rollups_written: u64,
    pub new_alerts: Vec<Alert>,
    pub results_key: String,
    pub rejected_key: Option<String>,
}

impl LocalBackend {
    pub fn open(data: DataDir, cfg: AnalysisConfig) -> anyhow::Result<Self> {
        cfg.validate().map_err(|e| anyhow::anyhow!("invalid analysis configuration: {e}"))?;
        data.ensure()?;
        let db = SqliteStore::open(&data.database())?;
        Ok(Self {
            bucket: FolderBucket::new(data.bucket()),
            log: Arc::new(JsonLog::new(data.log_file())),
            db: Mutex::new(db),
            data,
            cfg,
        })
    }

    pub fn data_dir(&self) -> &DataDir {
        &self.data
    }
    pub fn bucket(&self) -> &FolderBucket {
        &self.bucket
    }
    pub fn log(&self) -> &Arc<JsonLog> {
        &self.log
    }
    pub fn config(&self) -> &AnalysisConfig {
        &self.cfg
    }

    /// The database, even if a panicking thread poisoned the lock (SQLite stays consistent).
    pub fn db(&self) -> MutexGuard<'_, SqliteStore> {
        self.db.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Copies a local file into `raw/` (streamed) and returns its key. An existing object
    /// with the same key is replaced only with `overwrite`.
    pub fn import(&self, path: &Path, overwrite: bool) -> anyhow::Result<String> {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| anyhow::anyhow!("{}: the file name is not valid UTF-8", path.display()))?;
        let key = format!("{}{name}", keys::RAW_PREFIX);
        keys::validate_key(&key)?;
        if self.bucket.exists(&key) && !overwrite {
            let existing = self.bucket.path(&key)?;
            if same_file_content(path, &existing)? {
                return Ok(key);
            }
            anyhow::bail!("{key} already exists with different content; pass --overwrite to replace it");
        }
        let mut input = std::fs::File::open(path).map_err(|e| anyhow::anyhow!("cannot open {}: {e}", path.display()))?;
        self.bucket.put_with(&key, |w| {
            std::io::copy(&mut input, w)?;
            Ok(())
        })?;
        Ok(key)
    }

    /// Analyses one raw object: rollups, forecast, alerts and the substation index into
    /// the table; the detailed report to `results/`, rejected rows to `rejected/`, a line
    /// per step to the log. Running it twice on the same object stores the same rows and
    /// reports no alert twice.
    pub fn process_key(&self, key: &str) -> anyhow::Result<Processed> {
        keys::validate_key(key)?;
        let input = self.bucket.open(key)?;
        let started = std::time::Instant::now();
        let mut sink = LocalSink {
            backend: self,
            rollups_written: 0,
            latest: Default::default(),
            pending: Vec::with_capacity(WRITE_BATCH),
            rejected: RejectedSpool::default(),
            athena: crate::athena::PartitionWriter::new(key),
        };
        let mut outcome = engine::analyze_stream(input, key, &self.cfg, &mut sink)?;
        sink.flush()?;
        let LocalSink { rollups_written, latest, rejected, athena, .. } = sink;
        let rejected_key = store_rejected(rejected, &self.bucket, key)?;
        for object in athena.finish()? {
            self.bucket.put(&object.key, &object.body)?;
        }

        let windows = items::history_windows(&outcome.report);
        engine::attach_forecasts(&mut outcome, |location| match windows.get(location) {
            Some(&(from, to)) => self.db().load_history(location, from, to).unwrap_or_default(),
            None => Vec::new(),
        });
        let report = outcome.report;
        let plan = items::plan_writes(&report, &latest, key, Utc::now());
        let new_alerts = {
            let mut db = self.db();
            for (location, points) in &plan.forecasts {
                db.put_forecast(location, points)?;
            }
            for state in &plan.states {
                db.put_state(state)?;
            }
            db.put_alerts(&plan.alerts)?
        };
        let results_key = keys::results_key(key);
        // Streamed to the file: a report with many alert episodes is not copied into memory again.
        self.bucket.put_with(&results_key, |w| Ok(serde_json::to_writer_pretty(w, &report)?))?;
        for (level, line) in items::outcome_log_lines(key, &report, rollups_written, &new_alerts, started.elapsed()) {
            self.log.write(level, line);
        }
        Ok(Processed { key: key.to_string(), report, rollups_written, new_alerts, results_key, rejected_key })
    }

    /// The newest raw object that fed a substation (what reprocessing re-reads).
    pub fn latest_source(&self, location: &str) -> anyhow::Result<String> {
        self.db()
            .substations()?
            .into_iter()
            .find(|s| s.location == location)
            .map(|s| s.source_key)
            .ok_or_else(|| anyhow::anyhow!("unknown substation {location:?}"))
    }
}

fn same_file_content(a: &Path, b: &Path) -> anyhow::Result<bool> {
    use std::io::Read;
    let (ma, mb) = (std::fs::metadata(a)?, std::fs::metadata(b)?);
    if ma.len() != mb.len() {
        return Ok(false);
    }
    let (mut fa, mut fb) = (std::io::BufReader::new(std::fs::File::open(a)?), std::io::BufReader::new(std::fs::File::open(b)?));
    let (mut ba, mut bb) = (vec![0u8; 1 << 16], vec![0u8; 1 << 16]);
    loop {
        let n = fa.read(&mut ba)?;
        if n == 0 {
            return Ok(true);
        }
        fb.read_exact(&mut bb[..n])?;
        if ba[..n] != bb[..n] {
            return Ok(false);
        }
    }
}

struct LocalSink<'a> {
    backend: &'a LocalBackend,
    rollups_written: u64,
    latest: items::LatestRollups,
    pending: Vec<HourlyRollup>,
    rejected: RejectedSpool,
    athena: crate::athena::PartitionWriter,
}

/// Rollups per SQLite transaction: large enough that commits do not dominate.
const WRITE_BATCH: usize = 4096;

impl LocalSink<'_> {
    fn flush(&mut self) -> anyhow::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        self.backend.db().put_rollups(&self.pending)?;
        self.athena.push(&self.pending)?;
        for object in self.athena.take_ready() {
            self.backend.bucket.put(&object.key, &object.body)?;
        }
        self.rollups_written += self.pending.len() as u64;
        self.latest.observe(&self.pending);
        self.pending.clear();
        Ok(())
    }
}

impl AnalysisSink for LocalSink<'_> {
    fn rollups(&mut self, batch: Vec<HourlyRollup>) -> anyhow::Result<()> {
        self.pending.extend(batch);
        if self.pending.len() >= WRITE_BATCH {
            self.flush()?;
        }
        Ok(())
    }
    fn rejected(&mut self, row: &RejectedRow) -> anyhow::Result<()> {
        self.rejected.push(row)
    }
}

/// Moves the spooled rejected rows to `rejected/<name>.csv`; with no rejected rows, a
/// stale file from an earlier run of the same object is removed (it is derived data).
fn store_rejected(spool: RejectedSpool, bucket: &FolderBucket, raw_key: &str) -> anyhow::Result<Option<String>> {
    let key = keys::rejected_key(raw_key);
    let Some(file) = spool.finish()? else {
        bucket.remove_derived(&key)?;
        return Ok(None);
    };
    let mut input = std::fs::File::open(file.path())?;
    bucket.put_with(&key, |out| {
        std::io::copy(&mut input, out)?;
        Ok(())
    })?;
    Ok(Some(key))
}

fn to_backend<T>(r: anyhow::Result<T>) -> BackendResult<T> {
    r.map_err(|e| BackendError::new(format!("{e:#}")))
}

#[async_trait]
impl GridStore for LocalBackend {
    async fn substations(&self) -> BackendResult<Vec<SubstationState>> {
        to_backend(self.db().substations())
    }
    async fn rollups(&self, location: &str, from: DateTime<Utc>, to: DateTime<Utc>) -> BackendResult<Vec<HourlyRollup>> {
        to_backend(self.db().rollups(location, from, to))
    }
    async fn forecast(&self, location: &str) -> BackendResult<Vec<ForecastPoint>> {
        to_backend(self.db().forecast(location))
    }
    async fn alerts(&self, since: DateTime<Utc>) -> BackendResult<Vec<Alert>> {
        to_backend(self.db().alerts(since))
    }
    async fn reprocess(&self, location: &str) -> BackendResult<String> {
        let key = to_backend(self.latest_source(location))?;
        self.log.info(format!("reprocessing {key} for {location} (requested from the dashboard)"));
        let done = to_backend(self.process_key(&key))?;
        Ok(format!(
            "reprocessed {key}: {} rows, {} rejected, status {}",
            done.report.rows_read,
            done.report.rows_rejected,
            done.report.alert_status()
        ))
    }
    fn describe(&self) -> String {
        format!("local: {}", crate::sanitize::sanitize_for_terminal(&self.data.root().display().to_string()))
    }
}

/// Writes a human summary line per substation (used by `gridwatch analyze`).
pub fn summary_lines(report: &FileReport) -> Vec<String> {
    report
        .locations
        .iter()
        .map(|l| {
            format!(
                "{:<20} rows {:>6}  load avg {:>8.2} MW  peak {:>8.2} MW at {}  renew {:>5.1} %  V {:>6.3} kV  f {:>7.3} Hz  stab {:.3}  eff {:.3}  {}",
                crate::sanitize::sanitize_for_terminal(&l.location),
                l.rows,
                l.load_mw.avg,
                l.load_mw.max,
                format_ts(l.peak_load_time),
                l.renewable_penetration * 100.0,
                l.voltage_kv.avg,
                l.frequency_hz.avg,
                l.stability_score,
                l.efficiency_score,
                l.alert_status
            )
        })
        .collect()
}
