//! The processing recipe, written once for both backends: what happens to one raw object.
//!
//! 1. stream it through the engine on a blocking thread — rollups go to the results table
//!    in batches while the file is read, rejected rows and ended alarm episodes to spools
//!    (temp files: memory stays flat however many there are), settled days of the Athena
//!    copy to the bucket, and each substation's alarm state is read from its stored
//!    checkpoint before its first reading;
//! 2. read the stored history and forecast the next 24 h;
//! 3. store the forecast (only if newer), the substation index items (only if newer), the
//!    alarm checkpoints and the alarm episodes, a batch at a time from their spool —
//!    claiming each activation's notification atomically so a redelivered event notifies
//!    nothing;
//! 4. notify: one message per new activation, or one digest when a file activates many or
//!    floods; shelved alarms and substations out of service are stored but not announced;
//! 5. write the detailed report to `results/`, the rejected rows to `rejected/`, and log.
//!
//! The rollups of step 1 are this object's part of each hour: the table stores the merge
//! of every object's part, and after step 4 takes back what an earlier version of this
//! object fed and this one does not (hours and alarms), so files may overlap, arrive in
//! any order and be replaced.
//!
//! A large object on AWS is analysed a shard of substations at a time, one invocation each
//! ([`Recipe::process_shard`], [`super::fanout`]): steps 1–4 for the shard's substations,
//! then its part of step 5 stored beside its order, merged by the shard that stores the last.
//!
//! A [`Budget`] (the Lambda's deadline and memory ceiling) may stop steps 1–2, never later:
//! see [`super::budget`].
//!
//! The local backend (SQLite + a folder) and the Lambda (DynamoDB + S3 + SNS) call
//! [`Recipe::process`] with their implementations of [`ResultsTable`] and [`ObjectStore`].

use super::budget::{Budget, BudgetGuard, BudgetedReader};
use super::fanout::{self, ShardOrder, ShardPart};
use super::items::{self, ListingScope, LatestRollups, SourceHours};
use super::alarm_spool::{AlarmSpool, ALARM_READ_BATCH};
use super::notice::{Announcement, Digest, DigestBuilder};
use super::operator::OperatorState;
use super::rejected::RejectedSpool;
use super::{athena_layout, object_keys, ObjectStore, ResultsTable, StoreError, REQUESTS_IN_FLIGHT};
use crate::analysis::alarms::AlarmCheckpoint;
use crate::analysis::engine::{self, AnalysisSink};
use crate::analysis::kpi;
use crate::backend::LogLevel;
use crate::config::AnalysisConfig;
use crate::model::{Alert, FileReport, HourlyRollup, RejectedRow};
use anyhow::{anyhow, Context, Result};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};
use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;
use std::time::Instant;

/// Rollups per write while a file streams: large enough that commits (SQLite) and
/// request overhead (DynamoDB, 25 per BatchWriteItem, several in flight) do not dominate.
pub const ROLLUP_WRITE_BATCH: usize = 10_000;

/// Where alarm notifications go (SNS on AWS). Without one they go to the log only.
#[async_trait]
pub trait Notifier: Send + Sync {
    async fn alarm(&self, alert: &Alert, source: &str) -> Result<()>;
    async fn digest(&self, digest: &Digest) -> Result<()>;
}

/// The processing log (a JSON-lines file locally, CloudWatch Logs through stdout on AWS).
pub trait ProcessLog: Send + Sync {
    fn line(&self, level: LogLevel, key: &str, text: &str);
}

/// What processing one object did.
#[derive(Debug, Clone)]
pub struct Processed {
    pub key: String,
    pub bytes: Option<u64>,
    pub report: FileReport,
    pub rollups_written: u64,
    /// Alarm episodes active in the file, all stored (the report lists a bounded number).
    pub alarms: u64,
    /// The activations stored for the first time (claimed here), announced or suppressed:
    /// the first [`LISTED_NEW_ALARMS`] (and at least every one announced), all counted.
    new: Listed,
    /// The new activations not announced (shelved, or their substation out of service):
    /// the first [`LISTED_NEW_ALARMS`], all counted.
    suppressed: Listed,
    pub announcement: Announcement,
    pub results_key: String,
    pub rejected_key: Option<String>,
    /// Milliseconds per phase.
    pub phases_ms: BTreeMap<String, f64>,
    /// A shard of a fanned-out object: which, and whether this run merged every shard's
    /// part (then `report`, `results_key` and `rejected_key` are the whole file's).
    pub shard: Option<(ShardOrder, bool)>,
}

impl Processed {
    /// Activations stored for the first time (claimed here), announced or suppressed: the
    /// first [`LISTED_NEW_ALARMS`] of them ([`Processed::new_count`] counts them all).
    pub fn new_alerts(&self) -> Vec<&Alert> {
        self.new.alarms.iter().collect()
    }
    pub fn new_count(&self) -> u64 {
        self.new.count
    }
    /// New activations not announced (shelved, or their substation out of service): the
    /// first [`LISTED_NEW_ALARMS`] of them.
    pub fn suppressed(&self) -> Vec<&Alert> {
        self.suppressed.alarms.iter().collect()
    }
    pub fn suppressed_count(&self) -> u64 {
        self.suppressed.count
    }
}

/// New alarms of one file listed in its outcome: a file may activate tens of thousands,
/// all stored and counted, a digest announcing them.
pub const LISTED_NEW_ALARMS: usize = 1_000;

/// The first alarms of a kind, and how many there were.
#[derive(Debug, Clone)]
struct Listed {
    alarms: Vec<Alert>,
    count: u64,
    limit: usize,
}

impl Listed {
    fn new(limit: usize) -> Self {
        Self { alarms: Vec::new(), count: 0, limit }
    }
    fn push(&mut self, alert: &Alert) {
        self.count += 1;
        if self.alarms.len() < self.limit {
            self.alarms.push(alert.clone());
        }
    }
}

/// The new alarms to announce, gathered a batch at a time: the digest's figures for all,
/// and the alarms themselves while few enough to be announced one by one.
#[derive(Default)]
struct Announcing {
    digest: DigestBuilder,
    activations: Vec<DateTime<Utc>>,
    each: Vec<Alert>,
}

impl Announcing {
    fn push(&mut self, alert: &Alert, digest_over: usize) {
        self.digest.push(alert);
        self.activations.push(alert.activated_at);
        if self.each.len() <= digest_over {
            self.each.push(alert.clone());
        }
    }
}

/// What storing a file's alarms did.
struct StoredAlarms {
    /// Every alarm of the file: what [`ResultsTable::retire_source`] keeps.
    keys: items::AlarmKeys,
    new: Listed,
    suppressed: Listed,
    announcement: Announcement,
}

/// What a shard's run has done when it stores its part.
struct ShardDone {
    new: Listed,
    suppressed: Listed,
    announcement: Announcement,
    phases: Phases,
    started: Instant,
}

/// What the fan-in made of every shard's part.
struct WholeFile {
    report: FileReport,
    rejected_key: Option<String>,
    alarms: StoredAlarms,
}

/// The Athena copy's objects of one raw object's newest analysis
/// ([`object_keys::athena_manifest_key`]).
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct AthenaObjects {
    source: String,
    objects: Vec<String>,
}

/// The most [`Recipe::read_small`] reads: a shard's part (its report, every substation's
/// summary and forecast) and a list of Athena objects are far below this.
const MAX_PART_BYTES: u64 = 1 << 30;

/// The recipe with the backend's parts plugged in.
#[derive(Clone)]
pub struct Recipe {
    pub table: Arc<dyn ResultsTable>,
    pub objects: Arc<dyn ObjectStore>,
    pub notifier: Option<Arc<dyn Notifier>>,
    pub log: Arc<dyn ProcessLog>,
    pub cfg: AnalysisConfig,
}

/// The results JSON of a report, written to a temp file (removed when dropped).
fn results_file(report: &FileReport) -> Result<tempfile::NamedTempFile> {
    let mut file = tempfile::NamedTempFile::new().context("cannot create a temp file for the results")?;
    let mut out = std::io::BufWriter::new(file.as_file_mut());
    serde_json::to_writer_pretty(&mut out, report)?;
    out.flush().context("cannot write the results to a temp file")?;
    drop(out);
    Ok(file)
}

fn store_err(e: StoreError) -> anyhow::Error {
    anyhow!(e)
}

/// Stores one day of the Athena copy from its temp file (settled days while the file
/// streams, the rest at the end) and notes its key in `stored` (the run's list of them).
async fn put_athena_object(objects: &dyn ObjectStore, object: &athena_layout::SpooledPartition, stored: &mut Vec<String>) -> Result<()> {
    objects.put_file(&object.key, object.body.path(), athena_layout::CONTENT_TYPE).await.map_err(store_err)?;
    stored.push(object.key.clone());
    Ok(())
}

impl Recipe {
    /// Processes one raw object end to end. The same object twice stores the same items
    /// and announces nothing the second time.
    pub async fn process(&self, key: &str) -> Result<Processed> {
        self.process_within(key, Budget::default()).await
    }

    /// [`Recipe::process`] within a deadline and a memory ceiling: stops while streaming
    /// (or before step 3) with a [`super::budget::BudgetExceeded`] error once a bound is
    /// reached, before anything announcing the object is written.
    pub async fn process_within(&self, key: &str, budget: Budget) -> Result<Processed> {
        // Boxed: the run's future is large, and callers hold it inside their own.
        Box::pin(self.run(key, None, budget)).await
    }

    /// One shard of a fanned-out object ([`super::fanout`]): [`Recipe::process_within`] on
    /// the substations of `order`'s shard, storing its part of the results beside the
    /// order; the run that finds every part stored merges them.
    pub async fn process_shard(&self, order: &ShardOrder, budget: Budget) -> Result<Processed> {
        Box::pin(self.run(&order.key, Some(order), budget)).await
    }

    async fn run(&self, key: &str, shard: Option<&ShardOrder>, budget: Budget) -> Result<Processed> {
        object_keys::validate_key(key)?;
        let started = Instant::now();
        let mut phases = Phases::default();
        let guard = BudgetGuard::new(budget);
        guard.check()?;
        let (reader, bytes) = self.objects.open(key).await.map_err(store_err)?;
        let reader = BudgetedReader::new(reader, guard.clone());

        // 1. Stream (blocking thread; the sink calls back into the async stores).
        let handle = tokio::runtime::Handle::current();
        let sink = StoreSink {
            handle,
            table: self.table.clone(),
            objects: self.objects.clone(),
            pending: Vec::with_capacity(ROLLUP_WRITE_BATCH),
            rollups_written: 0,
            source: key.to_string(),
            cfg: self.cfg.clone(),
            hours: SourceHours::default(),
            latest: LatestRollups::default(),
            rejected: RejectedSpool::default(),
            athena_keys: Vec::new(),
            // Each shard writes the same days: its objects get its number.
            athena: athena_layout::BackgroundPartitionWriter::with_name_suffix(
                key,
                &shard.map(|o| format!(".shard{:04}", o.index)).unwrap_or_default(),
            ),
            alarms: AlarmSpool::default(),
            budget: guard.clone(),
            writing: None,
        };
        let (cfg, source, filter) = (self.cfg.clone(), key.to_string(), shard.map(ShardOrder::filter));
        let streamed = tokio::task::spawn_blocking(move || -> Result<_> {
            let mut sink = sink;
            let streamed = match filter {
                None => engine::analyze_stream(reader, &source, &cfg, &mut sink).map(|outcome| (outcome, None)),
                Some(filter) => engine::analyze_shard_stream(reader, &source, &cfg, &mut sink, filter),
            };
            let streamed = streamed.and_then(|outcome| {
                sink.flush()?;
                Ok(outcome)
            });
            // Every write started is over before the run reports (a retry must not race it).
            let written = sink.wait_for_write();
            let outcome = streamed?;
            written?;
            Ok((outcome, sink))
        })
        .await
        .map_err(|e| anyhow!("the analysis of {key} stopped unexpectedly: {e}"))?;
        // A stop shows in the stream as a read error (a file error): the budget says which it was.
        if let Some(why) = guard.stopped() {
            return Err(why.into());
        }
        let ((mut outcome, first_reading), sink) = streamed?;
        let StoreSink { rollups_written, latest, hours, rejected, athena, mut athena_keys, alarms: mut spool, .. } = sink;
        // The alarms not handed out while streaming: the last batch, those still active at
        // the end, the file's own.
        spool.push(&std::mem::take(&mut outcome.alarms))?;
        // The days still open go to the Athena layout now (settled days went while streaming).
        for object in athena.finish()? {
            put_athena_object(&*self.objects, &object, &mut athena_keys).await?;
        }
        phases.lap("stream_and_rollups", started);

        // 2. Forecast from stored history, every substation of the file at once.
        let windows: Vec<_> = items::history_windows(&outcome.report).into_iter().collect();
        let table = &self.table;
        let mut history: BTreeMap<String, Vec<(DateTime<Utc>, f64)>> = futures::stream::iter(windows)
            .map(|(location, (from, to))| async move {
                table.load_history(&location, from, to).await.map(|h| (location, h))
            })
            .buffer_unordered(REQUESTS_IN_FLIGHT)
            .try_collect()
            .await
            .map_err(store_err)?;
        phases.lap("history", started);
        engine::attach_forecasts(&mut outcome, |location| history.remove(location).unwrap_or_default());
        let report = outcome.report;
        let plan = items::plan_writes(&report, &latest, key, Utc::now());
        // The last stop: from here on the run finishes within the reserve.
        guard.check()?;

        // 3. Forecasts, index items, alarm state, alarm episodes.
        futures::stream::iter(plan.forecasts)
            .map(|(location, points)| async move { table.replace_forecast(&location, points).await })
            .buffer_unordered(REQUESTS_IN_FLIGHT)
            .try_collect::<Vec<_>>()
            .await
            .map_err(store_err)?;
        phases.lap("forecast", started);
        let bucket = self.objects.bucket_name().to_string();
        for state in &plan.states {
            self.table.put_state_if_newer(state, &bucket).await.map_err(store_err)?;
        }
        self.table.put_alarm_checkpoints(outcome.checkpoints).await.map_err(store_err)?;
        phases.lap("index", started);
        let StoredAlarms { keys, new, suppressed, announcement } = self.store_and_announce(&mut spool, key).await?;
        // What an earlier version of this object fed and this one does not goes now.
        let scope = match shard {
            None => ListingScope::Whole,
            Some(order) => ListingScope::Shard { shard: order.filter(), source: key.to_string() },
        };
        self.table.retire_source(key, &hours, &Arc::new(keys), &scope, &self.cfg).await.map_err(store_err)?;
        phases.lap("alarms", started);

        if let Some(order) = shard {
            let part = ShardPart {
                order: order.clone(),
                report,
                first_reading,
                rollups_written,
                alarms: spool.len() as u64,
                rejected_left_out: rejected.left_out(),
                has_rejected: false,
                athena_keys,
            };
            let done = ShardDone { new, suppressed, announcement, phases, started };
            return self.store_part(part, rejected, bytes, done).await;
        }

        // 5. Results and rejected rows.
        let results_key = object_keys::results_key(key);
        let rejected_key = self.store_outputs(key, &report, rejected.finish()?, athena_keys).await?;
        phases.lap("s3_outputs", started);
        let processed = Processed {
            key: key.to_string(),
            bytes,
            report,
            rollups_written,
            alarms: spool.len() as u64,
            new,
            suppressed,
            announcement,
            results_key,
            rejected_key,
            phases_ms: phases.done,
            shard: None,
        };
        self.log_outcome(&processed, started);
        Ok(processed)
    }

    fn log_outcome(&self, processed: &Processed, started: Instant) {
        let key = processed.shard.as_ref().map_or(processed.key.clone(), |(order, _)| order.order_key());
        let lines = items::outcome_log_lines(
            &key,
            &processed.report,
            processed.rollups_written,
            &processed.announcement,
            &processed.new_alerts(),
            (&processed.suppressed(), processed.suppressed_count()),
            started.elapsed(),
        );
        for (level, line) in lines {
            self.log.line(level, &key, &line);
        }
    }

    /// Stores a shard's part beside its order, then merges every shard's part when all are
    /// stored ([`Recipe::fan_in`]).
    async fn store_part(&self, mut part: ShardPart, rejected: RejectedSpool, bytes: Option<u64>, done: ShardDone) -> Result<Processed> {
        let ShardDone { mut new, mut suppressed, mut announcement, mut phases, started } = done;
        let order = part.order.clone();
        if let Some(file) = rejected.finish()? {
            self.objects.put_file(&order.rejected_part_key(), file.path(), "text/csv").await.map_err(store_err)?;
            part.has_rejected = true;
        }
        let body = serde_json::to_vec(&part).context("cannot serialise the shard's part")?;
        self.objects.put(&order.part_key(), body, "application/json").await.map_err(store_err)?;
        let merged = self.fan_in(&order).await?;
        phases.lap("s3_outputs", started);
        let (report, results_key, rejected_key, merged) = match merged {
            None => {
                let rejected_key = part.has_rejected.then(|| order.rejected_part_key());
                (part.report, order.part_key(), rejected_key, false)
            }
            Some(whole) => {
                for alert in whole.alarms.new.alarms.iter() {
                    new.push(alert);
                }
                for alert in whole.alarms.suppressed.alarms.iter() {
                    suppressed.push(alert);
                }
                if matches!(announcement, Announcement::None) {
                    announcement = whole.alarms.announcement;
                }
                (whole.report, object_keys::results_key(&order.key), whole.rejected_key, true)
            }
        };
        let processed = Processed {
            key: order.key.clone(),
            bytes,
            report,
            rollups_written: part.rollups_written,
            alarms: part.alarms,
            new,
            suppressed,
            announcement,
            results_key,
            rejected_key,
            phases_ms: phases.done,
            shard: Some((order, merged)),
        };
        self.log_outcome(&processed, started);
        Ok(processed)
    }

    /// The fan-in: when every shard of `order`'s object has stored its part, the results
    /// JSON and rejected rows of the whole file at their usual keys, and the file's own
    /// data-quality alarm (stored, claimed, announced like any other). The parts go after.
    /// `None` while a part is missing (or another run merged them and took them away).
    async fn fan_in(&self, order: &ShardOrder) -> Result<Option<WholeFile>> {
        let listed = self.objects.list(&order.folder()).await.map_err(store_err)?;
        let part_keys = order.parts_among(&listed);
        if part_keys.len() < order.count {
            return Ok(None);
        }
        let mut parts = Vec::with_capacity(order.count);
        for part_key in &part_keys {
            let Some(body) = self.read_small(part_key).await? else { return Ok(None) };
            let part: ShardPart = serde_json::from_slice(&body).with_context(|| format!("the shard part {part_key} cannot be read"))?;
            parts.push(part);
        }
        let (mut report, first_reading) = fanout::merge_reports(&parts).ok_or_else(|| anyhow!("no shard part of {}", order.key))?;
        // The file's own alarm: stored and announced like any other, and taken back when a
        // new version of the file no longer has it.
        let mut spool = AlarmSpool::default();
        if let Some(alert) = engine::file_alarm(&self.cfg, &report, first_reading) {
            report.file_alerts.push(alert.clone());
            spool.push(&[alert])?;
        }
        let alarms = self.store_and_announce(&mut spool, &order.key).await?;
        let scope = ListingScope::FileAlarm { source: order.key.clone() };
        self.table.retire_source(&order.key, &SourceHours::default(), &Arc::new(alarms.keys.clone()), &scope, &self.cfg).await.map_err(store_err)?;

        // The rejected rows of every shard, in line order.
        let mut readers = Vec::new();
        for part in parts.iter().filter(|p| p.has_rejected) {
            match self.objects.open(&part.order.rejected_part_key()).await {
                Ok((reader, _)) => readers.push(reader),
                Err(StoreError::NotFound(_)) => return Ok(None),
                Err(e) => return Err(store_err(e)),
            }
        }
        let left_out = parts.iter().map(|p| p.rejected_left_out).sum();
        let rejected = tokio::task::spawn_blocking(move || fanout::merge_rejected(readers, left_out).and_then(RejectedSpool::finish))
            .await
            .map_err(|e| anyhow!("the merge of {}'s rejected rows stopped unexpectedly: {e}", order.key))??;
        let athena_keys = parts.iter().flat_map(|p| p.athena_keys.iter().cloned()).collect();
        let rejected_key = self.store_outputs(&order.key, &report, rejected, athena_keys).await?;
        for part in &parts {
            for derived in [part.order.part_key(), part.order.rejected_part_key(), part.order.order_key()] {
                self.objects.delete_derived(&derived).await.map_err(store_err)?;
            }
        }
        Ok(Some(WholeFile { report, rejected_key, alarms }))
    }

    /// Step 5's objects of a whole file: the results JSON, the rejected rows (or no stale
    /// list of an earlier version: derived data), the list of the Athena copy's objects.
    /// Returns the rejected rows' key when there are any.
    async fn store_outputs(
        &self,
        key: &str,
        report: &FileReport,
        rejected: Option<tempfile::NamedTempFile>,
        athena_keys: Vec<String>,
    ) -> Result<Option<String>> {
        // Through a temp file: the pretty JSON of a big file's report (every summary, forecast
        // and listed alarm) was a third of the run's peak memory as one buffer.
        let results = results_file(report)?;
        self.objects.put_file(&object_keys::results_key(key), results.path(), "application/json").await.map_err(store_err)?;
        drop(results);
        let rejected_key = object_keys::rejected_key(key);
        let rejected_key = match rejected {
            Some(file) => {
                self.objects.put_file(&rejected_key, file.path(), "text/csv").await.map_err(store_err)?;
                Some(rejected_key)
            }
            None => {
                self.objects.delete_derived(&rejected_key).await.map_err(store_err)?;
                None
            }
        };
        self.replace_athena_objects(key, athena_keys).await?;
        Ok(rejected_key)
    }

    /// Records the Athena copy's objects of `key`'s newest analysis and removes those of the
    /// one before that were not written again (days a new version no longer has, a whole
    /// version's objects when it is split into shards, or the other way round).
    async fn replace_athena_objects(&self, key: &str, mut written: Vec<String>) -> Result<()> {
        let manifest_key = object_keys::athena_manifest_key(key);
        written.sort();
        written.dedup();
        if let Some(body) = self.read_small(&manifest_key).await? {
            // One this code cannot read is replaced: only objects it lists are ever removed.
            let before: AthenaObjects = serde_json::from_slice(&body).unwrap_or_default();
            for stale in before.objects.iter().filter(|k| written.binary_search(k).is_err()) {
                if stale.starts_with(athena_layout::HOURLY_PREFIX) {
                    self.objects.delete_derived(stale).await.map_err(store_err)?;
                }
            }
            if before.objects == written {
                return Ok(());
            }
        }
        let body = serde_json::to_vec_pretty(&AthenaObjects { source: key.to_string(), objects: written })?;
        self.objects.put(&manifest_key, body, "application/json").await.map_err(store_err)
    }

    /// A small object read whole (a shard's part, a list of Athena objects); `None` when it is gone.
    async fn read_small(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let reader = match self.objects.open(key).await {
            Ok((reader, _)) => reader,
            Err(StoreError::NotFound(_)) => return Ok(None),
            Err(e) => return Err(store_err(e)),
        };
        let body = tokio::task::spawn_blocking(move || {
            let mut body = Vec::new();
            std::io::Read::read_to_end(&mut std::io::Read::take(reader, MAX_PART_BYTES), &mut body).map(|_| body)
        })
        .await
        .map_err(|e| anyhow!("reading {key} stopped unexpectedly: {e}"))?
        .with_context(|| format!("cannot read {key}"))?;
        Ok(Some(body))
    }

    /// Upserts every alarm, a batch at a time from the spool, claiming the notification of
    /// each activation; announces the claimed ones that are not shelved or out of service.
    /// A failed store or announcement gives every claim of this file back (but those of
    /// alarms already published), so the retry of the event announces them.
    async fn store_and_announce(&self, spool: &mut AlarmSpool, key: &str) -> Result<StoredAlarms> {
        let now = Utc::now();
        let digest_over = self.cfg.alarms.digest_over as usize;
        let listed = LISTED_NEW_ALARMS.max(digest_over + 1);
        let mut stored =
            StoredAlarms { keys: Default::default(), new: Listed::new(listed), suppressed: Listed::new(listed), announcement: Announcement::None };
        let mut announcing = Announcing::default();
        // What the table answered for each alarm of the spool, in spool order (claimed here
        // or not), and how many alarms were sent to it: a failed upsert may have claimed
        // part of its batch.
        let mut claims: Vec<bool> = Vec::with_capacity(spool.len());
        let mut attempted = 0;
        let mut ops: Option<Vec<OperatorState>> = None;
        let gathered: Result<()> = async {
            for batch in spool.batches(ALARM_READ_BATCH)? {
                let batch = Arc::new(batch?);
                attempted += batch.len();
                let claimed = self.table.upsert_alerts(&batch, Some(now), key).await.map_err(store_err)?;
                claims.extend_from_slice(&claimed);
                if ops.is_none() && claimed.contains(&true) {
                    ops = Some(self.table.operator_states().await.map_err(store_err)?);
                }
                for (alert, &claimed) in batch.iter().zip(&claimed) {
                    stored.keys.insert(alert);
                    if !claimed {
                        continue;
                    }
                    stored.new.push(alert);
                    if is_suppressed(alert, ops.as_deref().unwrap_or_default()) {
                        stored.suppressed.push(alert);
                    } else {
                        announcing.push(alert, digest_over);
                    }
                }
            }
            Ok(())
        }
        .await;
        if let Err(e) = gathered {
            // Claims made before the failure would keep the retry from announcing them
            // (tests/aws_faults.rs): give back every claim this attempt may have made.
            self.release_claims(spool, now, key, |i, _| i < attempted && claims.get(i) != Some(&false)).await;
            return Err(e);
        }
        match self.announce(announcing, key).await {
            Ok(announcement) => {
                stored.announcement = announcement;
                Ok(stored)
            }
            Err((e, published)) => {
                // The alarms already published keep their claims: releasing them would
                // publish them again on the retry.
                let sent: std::collections::HashSet<String> = published.iter().map(Alert::id).collect();
                self.release_claims(spool, now, key, |i, a| claims.get(i) == Some(&true) && !sent.contains(&a.id())).await;
                Err(e)
            }
        }
    }

    /// Gives back the claims made at `now` on the spooled alarms that `pick` (position,
    /// alarm) names; a claim of someone else is left alone.
    async fn release_claims(&self, spool: &mut AlarmSpool, now: DateTime<Utc>, key: &str, pick: impl Fn(usize, &Alert) -> bool) {
        let batches = match spool.batches(ALARM_READ_BATCH) {
            Ok(batches) => batches,
            Err(e) => return self.log.line(LogLevel::Error, key, &format!("could not release the notification claims: {e}")),
        };
        let mut at = 0;
        for batch in batches {
            let batch = match batch {
                Ok(batch) => batch,
                Err(e) => return self.log.line(LogLevel::Error, key, &format!("could not release the notification claims: {e}")),
            };
            for alert in &batch {
                if pick(at, alert) {
                    self.release_claim(alert, now, key).await;
                }
                at += 1;
            }
        }
    }

    /// Gives back one claim made at `now`, with retries.
    async fn release_claim(&self, alert: &Alert, now: DateTime<Utc>, key: &str) {
        let mut delays = crate::retry::claim_release();
        loop {
            match (self.table.release_notification(alert, now).await, delays.next()) {
                (Ok(()), _) => break,
                (Err(_), Some(delay)) => tokio::time::sleep(delay).await,
                (Err(release), None) => {
                    let text = format!("could not release the notification claim of {}: {release}", alert.id());
                    self.log.line(LogLevel::Error, key, &text);
                    break;
                }
            }
        }
    }

    /// Publishes the new alarms one by one, or as one digest when there are many or they
    /// come as a flood. On failure, also the alarms whose message went out before it.
    async fn announce(&self, pending: Announcing, key: &str) -> Result<Announcement, (anyhow::Error, Vec<Alert>)> {
        if pending.digest.is_empty() {
            return Ok(Announcement::None);
        }
        let alarms_cfg = &self.cfg.alarms;
        let flood = kpi::peak_per_10min(pending.activations) > alarms_cfg.flood_alarms_per_10min as usize;
        if pending.digest.len() > alarms_cfg.digest_over as usize || flood {
            let digest = pending.digest.finish(key, flood);
            if let Some(n) = &self.notifier {
                n.digest(&digest).await.map_err(|e| (e, Vec::new()))?;
            }
            return Ok(Announcement::Digest(digest));
        }
        if let Some(n) = &self.notifier {
            for (sent, alert) in pending.each.iter().enumerate() {
                if let Err(e) = n.alarm(alert, key).await {
                    let mut published = pending.each;
                    published.truncate(sent);
                    return Err((e, published));
                }
            }
        }
        Ok(Announcement::Each(pending.each.len()))
    }
}

/// Shelved by the operator at activation time, or the substation out of service.
fn is_suppressed(alert: &Alert, ops: &[OperatorState]) -> bool {
    ops.iter().any(|s| {
        s.location == alert.location
            && match s.rule {
                None => s.out_of_service,
                Some(rule) => rule == alert.rule && s.is_shelved(alert.activated_at),
            }
    })
}

/// Milliseconds per phase of one object.
#[derive(Default)]
struct Phases {
    done: BTreeMap<String, f64>,
    last: f64,
}

impl Phases {
    fn lap(&mut self, name: &str, started: Instant) {
        let now = started.elapsed().as_secs_f64() * 1000.0;
        self.done.insert(name.to_string(), now - self.last);
        self.last = now;
    }
}

/// Receives rollups and rejected rows while the file streams (on a blocking thread) and
/// hands them to the async stores.
struct StoreSink {
    handle: tokio::runtime::Handle,
    table: Arc<dyn ResultsTable>,
    objects: Arc<dyn ObjectStore>,
    pending: Vec<HourlyRollup>,
    rollups_written: u64,
    /// The object's key: its rollups are its part of each hour.
    source: String,
    cfg: AnalysisConfig,
    hours: SourceHours,
    /// The newest stored (merged) rollup per substation.
    latest: LatestRollups,
    rejected: RejectedSpool,
    /// The file's alarm episodes as they end (stored after the stream, a batch at a time).
    alarms: AlarmSpool,
    athena: athena_layout::BackgroundPartitionWriter,
    /// The Athena copy's objects stored so far.
    athena_keys: Vec<String>,
    budget: Arc<BudgetGuard>,
    /// The batch being written while the next one is parsed (one at a time).
    writing: Option<tokio::task::JoinHandle<super::StoreResult<Vec<HourlyRollup>>>>,
}

impl StoreSink {
    fn flush(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        // The next batch gets its full size at once: grown from empty, each batch was
        // reallocated six times, old and new copies alive together.
        let batch = std::mem::replace(&mut self.pending, Vec::with_capacity(ROLLUP_WRITE_BATCH));
        self.hours.observe(&batch);
        self.athena.push(batch.clone());
        self.rollups_written += batch.len() as u64;
        self.latest.observe(&batch);
        self.wait_for_write()?;
        let (table, source, cfg) = (self.table.clone(), self.source.clone(), self.cfg.clone());
        self.writing = Some(self.handle.spawn(async move { table.put_rollups(&source, batch, &cfg).await }));
        for object in self.athena.take_ready() {
            self.handle.block_on(put_athena_object(&*self.objects, &object, &mut self.athena_keys))?;
        }
        Ok(())
    }
}

impl StoreSink {
    /// Waits for the batch being written, if any.
    fn wait_for_write(&mut self) -> Result<()> {
        if let Some(write) = self.writing.take() {
            let merged = self
                .handle
                .block_on(write)
                .map_err(|e| anyhow!("a rollup write of {} stopped unexpectedly: {e}", self.source))?
                .map_err(store_err)?;
            // Hours other files fed too: the index shows their merged rollup.
            self.latest.observe(&merged);
        }
        Ok(())
    }
}

impl AnalysisSink for StoreSink {
    fn checkpoint(&mut self, location: &str, before: DateTime<Utc>) -> Result<Option<AlarmCheckpoint>> {
        self.handle.block_on(self.table.alarm_checkpoint(location, before)).map_err(store_err)
    }
    fn rollups(&mut self, batch: Vec<HourlyRollup>) -> Result<()> {
        self.budget.check()?;
        // Exactly ROLLUP_WRITE_BATCH per write: the batch never outgrows its allocation.
        let mut batch = batch.into_iter();
        loop {
            let room = ROLLUP_WRITE_BATCH - self.pending.len();
            self.pending.extend(batch.by_ref().take(room));
            if self.pending.len() < ROLLUP_WRITE_BATCH {
                return Ok(());
            }
            self.flush()?;
        }
    }
    fn rejected(&mut self, row: &RejectedRow) -> Result<()> {
        self.rejected.push(row)
    }
    fn takes_alarms(&self) -> bool {
        true
    }
    fn alarms(&mut self, batch: Vec<Alert>) -> Result<()> {
        self.alarms.push(&batch)
    }
}
