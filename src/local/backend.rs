//! The embedded backend: the processing recipe ([`crate::store::recipe`]) on the folder
//! bucket, the SQLite table and the JSON-lines log — what the Lambda does on AWS, in-process.
//! SQLite calls run on tokio's blocking threads, off the async ones.

use crate::analysis::alarms::AlarmCheckpoint;
use crate::backend::{GridStore, LogLevel};
use crate::config::AnalysisConfig;
use crate::local::{DataDir, FolderBucket, JsonLog, SqliteTable};
use crate::model::{format_ts, Alert, FileReport, ForecastPoint, HourlyRollup, SubstationState};
use crate::store::items::{AlarmKeys, ListingScope, SourceHours};
use crate::store::object_keys;
use crate::store::operator::{OperatorAction, OperatorState};
use crate::store::recipe::{ProcessLog, Processed, Recipe};
use crate::store::{ObjectStore, ResultsTable, StoreError, StoreResult};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::io::Read;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

/// The SQLite table behind the [`ResultsTable`] interface.
#[derive(Clone)]
pub struct LocalTable {
    db: Arc<Mutex<SqliteTable>>,
}

impl LocalTable {
    pub fn new(db: SqliteTable) -> Self {
        Self { db: Arc::new(Mutex::new(db)) }
    }

    /// The database, even if a panicking thread poisoned the lock (SQLite stays consistent).
    pub fn lock(&self) -> MutexGuard<'_, SqliteTable> {
        self.db.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` on the database on a blocking thread. Another process holding the write
    /// lock past SQLite's busy timeout is retried with back-off (each call is one
    /// transaction, so a retry redoes it whole), so "database is locked" does not reach
    /// the user while analyses, the simulator and dashboards share a data folder.
    async fn with<T: Send + 'static>(&self, f: impl Fn(&mut SqliteTable) -> anyhow::Result<T> + Send + 'static) -> StoreResult<T> {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || {
            let mut delays = crate::retry::sqlite_busy();
            loop {
                let result = f(&mut db.lock().unwrap_or_else(|p| p.into_inner())).map_err(sqlite_error);
                match (result, delays.next()) {
                    (Err(StoreError::Transient(_)), Some(delay)) => std::thread::sleep(delay),
                    (result, _) => return result,
                }
            }
        })
        .await
        .map_err(|e| StoreError::Transient(format!("a database task stopped: {e}")))?
    }
}

/// SQLite's "busy"/"locked" are worth retrying; anything else is not.
fn sqlite_error(e: anyhow::Error) -> StoreError {
    let text = format!("{e:#}");
    match e.downcast_ref::<rusqlite::Error>().and_then(|e| e.sqlite_error_code()) {
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => StoreError::Transient(text),
        Some(rusqlite::ErrorCode::ReadOnly | rusqlite::ErrorCode::PermissionDenied) => StoreError::ReadOnly(text),
        _ if text.contains("database is locked") => StoreError::Transient(text),
        _ => StoreError::Invalid(text),
    }
}

#[async_trait]
impl ResultsTable for LocalTable {
    async fn put_rollups(&self, source: &str, rollups: Vec<HourlyRollup>, cfg: &AnalysisConfig) -> StoreResult<Vec<HourlyRollup>> {
        let (source, cfg) = (source.to_string(), cfg.clone());
        self.with(move |db| db.put_rollups(&source, &rollups, &cfg)).await
    }
    async fn retire_source(
        &self,
        source: &str,
        hours: &SourceHours,
        alarms: &Arc<AlarmKeys>,
        scope: &ListingScope,
        cfg: &AnalysisConfig,
    ) -> StoreResult<u64> {
        let (source, hours, alarms, scope, cfg) = (source.to_string(), hours.clone(), alarms.clone(), scope.clone(), cfg.clone());
        self.with(move |db| db.retire_source(&source, &hours, &alarms, &scope, &cfg)).await
    }
    async fn replace_forecast(&self, location: &str, points: Vec<ForecastPoint>) -> StoreResult<bool> {
        let location = location.to_string();
        self.with(move |db| db.put_forecast(&location, &points)).await
    }
    async fn put_state_if_newer(&self, state: &SubstationState, _bucket: &str) -> StoreResult<bool> {
        let state = state.clone();
        self.with(move |db| db.put_state(&state)).await
    }
    async fn upsert_alert(&self, alert: &Alert, claim_at: Option<DateTime<Utc>>, source: &str) -> StoreResult<bool> {
        let (alert, source) = (alert.clone(), source.to_string());
        self.with(move |db| db.upsert_alert(&alert, claim_at, &source)).await
    }
    async fn upsert_alerts(&self, alerts: &Arc<Vec<Alert>>, claim_at: Option<DateTime<Utc>>, source: &str) -> StoreResult<Vec<bool>> {
        let (alerts, source) = (alerts.clone(), source.to_string());
        self.with(move |db| db.upsert_alerts(&alerts, claim_at, &source)).await
    }
    async fn release_notification(&self, alert: &Alert, at: DateTime<Utc>) -> StoreResult<()> {
        let alert = alert.clone();
        self.with(move |db| db.release_notification(&alert, at)).await
    }
    async fn put_alarm_checkpoints(&self, checkpoints: Vec<AlarmCheckpoint>) -> StoreResult<()> {
        self.with(move |db| db.put_checkpoints(&checkpoints)).await
    }
    async fn load_history(&self, location: &str, from: DateTime<Utc>, to: DateTime<Utc>) -> StoreResult<Vec<(DateTime<Utc>, f64)>> {
        let location = location.to_string();
        self.with(move |db| db.load_history(&location, from, to)).await
    }
    async fn alarm_checkpoint(&self, location: &str, before: DateTime<Utc>) -> StoreResult<Option<AlarmCheckpoint>> {
        let location = location.to_string();
        self.with(move |db| db.checkpoint_before(&location, before)).await
    }
    async fn substations(&self) -> StoreResult<Vec<SubstationState>> {
        self.with(|db| db.substations()).await
    }
    async fn rollups(&self, location: &str, from: DateTime<Utc>, to: DateTime<Utc>) -> StoreResult<Vec<HourlyRollup>> {
        let location = location.to_string();
        self.with(move |db| db.rollups(&location, from, to)).await
    }
    async fn forecast(&self, location: &str) -> StoreResult<Vec<ForecastPoint>> {
        let location = location.to_string();
        self.with(move |db| db.forecast(&location)).await
    }
    async fn alerts(&self, since: DateTime<Utc>) -> StoreResult<Vec<Alert>> {
        self.with(move |db| db.alerts(since)).await
    }
    async fn operator_states(&self) -> StoreResult<Vec<OperatorState>> {
        self.with(|db| db.operator_states()).await
    }
    async fn apply_operator_action(&self, action: &OperatorAction) -> StoreResult<OperatorState> {
        let action = action.clone();
        self.with(move |db| db.apply_operator_action(&action)).await
    }
}

fn bucket_error(e: anyhow::Error) -> StoreError {
    match e.downcast_ref::<std::io::Error>().map(std::io::Error::kind) {
        Some(std::io::ErrorKind::NotFound) => StoreError::NotFound(format!("{e:#}")),
        Some(std::io::ErrorKind::PermissionDenied) => StoreError::ReadOnly(format!("{e:#}")),
        _ => StoreError::Invalid(format!("{e:#}")),
    }
}

#[async_trait]
impl ObjectStore for FolderBucket {
    async fn open(&self, key: &str) -> StoreResult<(Box<dyn Read + Send>, Option<u64>)> {
        let file = FolderBucket::open(self, key).map_err(bucket_error)?;
        let len = file.metadata().ok().map(|m| m.len());
        Ok((Box::new(file), len))
    }
    async fn put(&self, key: &str, body: Vec<u8>, _content_type: &str) -> StoreResult<()> {
        FolderBucket::put(self, key, &body).map_err(bucket_error)
    }
    async fn put_file(&self, key: &str, path: &Path, _content_type: &str) -> StoreResult<()> {
        let mut input = std::fs::File::open(path).map_err(|e| StoreError::Invalid(format!("{}: {e}", path.display())))?;
        self.put_with(key, |out| {
            std::io::copy(&mut input, out)?;
            Ok(())
        })
        .map_err(bucket_error)
    }
    async fn delete_derived(&self, key: &str) -> StoreResult<()> {
        self.remove_derived(key).map_err(bucket_error)
    }
    async fn list(&self, prefix: &str) -> StoreResult<Vec<String>> {
        Ok(FolderBucket::list(self, prefix).map_err(bucket_error)?.into_iter().map(|o| o.key).collect())
    }
    fn bucket_name(&self) -> &str {
        "local"
    }
}

impl ProcessLog for JsonLog {
    fn line(&self, level: LogLevel, _key: &str, text: &str) {
        self.write(level, text);
    }
}

pub struct LocalBackend {
    data: DataDir,
    bucket: Arc<FolderBucket>,
    table: LocalTable,
    log: Arc<JsonLog>,
    recipe: Recipe,
    /// For callers outside any tokio runtime (the CLI, tests): made on first use.
    runtime: OnceLock<tokio::runtime::Runtime>,
}

impl LocalBackend {
    pub fn open(data: DataDir, cfg: AnalysisConfig) -> anyhow::Result<Self> {
        cfg.validate().map_err(|e| anyhow::anyhow!("invalid analysis configuration: {e}"))?;
        data.ensure()?;
        let table = LocalTable::new(SqliteTable::open(&data.database())?);
        let bucket = Arc::new(FolderBucket::new(data.bucket()));
        let log = Arc::new(JsonLog::new(data.log_file()));
        // Temp files of a copy or write that was killed (kill -9) would stay forever.
        match bucket.sweep_stale_temps() {
            Ok(0) => {}
            Ok(n) => log.info(format!("removed {n} temp file(s) left by an interrupted write")),
            Err(e) => log.warn(format!("could not sweep stale temp files: {e:#}")),
        }
        let recipe = Recipe { table: Arc::new(table.clone()), objects: bucket.clone(), notifier: None, log: log.clone(), cfg };
        Ok(Self { data, bucket, table, log, recipe, runtime: OnceLock::new() })
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
        &self.recipe.cfg
    }
    pub fn table(&self) -> &LocalTable {
        &self.table
    }

    /// The database, for direct queries (`gridwatch query`, `sql`, tests).
    pub fn db(&self) -> MutexGuard<'_, SqliteTable> {
        self.table.lock()
    }

    /// Runs a future to completion from synchronous code. Outside any runtime (the CLI)
    /// on the backend's own; from inside one (a sync call in an async test or task), on a
    /// short-lived runtime of its own thread, since blocking a runtime's thread on itself
    /// would deadlock or panic. Async callers should await [`Self::process`] instead.
    pub fn block_on<F>(&self, fut: F) -> F::Output
    where
        F: std::future::Future + Send,
        F::Output: Send,
    {
        let build = || tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build();
        match tokio::runtime::Handle::try_current() {
            Err(_) => self.runtime.get_or_init(|| build().expect("a tokio runtime can be built")).block_on(fut),
            Ok(_) => std::thread::scope(|s| {
                s.spawn(|| build().expect("a tokio runtime can be built").block_on(fut))
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            }),
        }
    }

    /// Copies a local file into `raw/` (streamed) and returns its key. An existing object
    /// with the same key is replaced only with `overwrite`.
    pub fn import(&self, path: &Path, overwrite: bool) -> anyhow::Result<String> {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| anyhow::anyhow!("{}: the file name is not valid UTF-8", path.display()))?;
        let key = format!("{}{name}", object_keys::RAW_PREFIX);
        object_keys::validate_key(&key)?;
        if self.bucket.exists(&key) && !overwrite {
            let existing = self.bucket.path(&key)?;
            if same_file_content(path, &existing)? {
                return Ok(key);
            }
            anyhow::bail!("{key} already exists with different content; pass --overwrite to replace it");
        }
        self.bucket.put_copy_of(&key, path)?;
        Ok(key)
    }

    /// Analyses one raw object with the shared recipe (see [`crate::store::recipe`]).
    pub async fn process(&self, key: &str) -> anyhow::Result<Processed> {
        self.recipe.process(key).await
    }

    /// [`Self::process`] from synchronous code (not from an async task: use `process`).
    pub fn process_key(&self, key: &str) -> anyhow::Result<Processed> {
        self.block_on(self.process(key))
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

impl Drop for LocalBackend {
    fn drop(&mut self) {
        // The last reference may go inside an async task, where a blocking shutdown panics.
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
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

#[async_trait]
impl GridStore for LocalBackend {
    async fn substations(&self) -> StoreResult<Vec<SubstationState>> {
        self.table.substations().await
    }
    async fn rollups(&self, location: &str, from: DateTime<Utc>, to: DateTime<Utc>) -> StoreResult<Vec<HourlyRollup>> {
        self.table.rollups(location, from, to).await
    }
    async fn forecast(&self, location: &str) -> StoreResult<Vec<ForecastPoint>> {
        self.table.forecast(location).await
    }
    async fn alerts(&self, since: DateTime<Utc>) -> StoreResult<Vec<Alert>> {
        self.table.alerts(since).await
    }
    async fn operator_states(&self) -> StoreResult<Vec<OperatorState>> {
        self.table.operator_states().await
    }
    async fn operator_action(&self, action: &OperatorAction) -> StoreResult<OperatorState> {
        let state = crate::backend::checked_operator_action(&self.table, false, self.recipe.cfg.alarms.max_shelve_minutes, action).await?;
        self.log.info(crate::store::operator::describe(action));
        Ok(state)
    }
    async fn reprocess(&self, location: &str) -> StoreResult<String> {
        let key = self.latest_source(location).map_err(|e| StoreError::NotFound(format!("{e:#}")))?;
        self.log.info(format!("reprocessing {key} for {location} (requested from the dashboard)"));
        let done = self.process(&key).await.map_err(|e| StoreError::other(format!("{e:#}")))?;
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
