//! The processing recipe, written once for both backends: what happens to one raw object.
//!
//! 1. stream it through the engine on a blocking thread — rollups go to the results table
//!    in batches while the file is read, rejected rows to a spool, settled days of the
//!    Athena copy to the bucket, and each substation's alarm state is read from its
//!    stored checkpoint before its first reading;
//! 2. read the stored history and forecast the next 24 h;
//! 3. store the forecast (only if newer), the substation index items (only if newer), the
//!    alarm checkpoints and the alarm episodes — claiming each activation's notification
//!    atomically so a redelivered event notifies nothing;
//! 4. notify: one message per new activation, or one digest when a file activates many or
//!    floods; shelved alarms and substations out of service are stored but not announced;
//! 5. write the detailed report to `results/`, the rejected rows to `rejected/`, and log.
//!
//! The rollups of step 1 are this object's part of each hour: the table stores the merge
//! of every object's part, and after step 4 takes back what an earlier version of this
//! object fed and this one does not (hours and alarms), so files may overlap, arrive in
//! any order and be replaced.
//!
//! A [`Budget`] (the Lambda's deadline and memory ceiling) may stop steps 1–2, never later:
//! see [`super::budget`].
//!
//! The local backend (SQLite + a folder) and the Lambda (DynamoDB + S3 + SNS) call
//! [`Recipe::process`] with their implementations of [`ResultsTable`] and [`ObjectStore`].

use super::budget::{Budget, BudgetGuard, BudgetedReader};
use super::items::{self, LatestRollups, SourceHours};
use super::notice::{digest_of, Announcement, Digest};
use super::operator::OperatorState;
use super::rejected::RejectedSpool;
use super::{athena_layout, object_keys, ObjectStore, ResultsTable, StoreError, REQUESTS_IN_FLIGHT};
use crate::analysis::alarms::AlarmCheckpoint;
use crate::analysis::engine::{self, AnalysisSink};
use crate::analysis::kpi;
use crate::backend::LogLevel;
use crate::config::AnalysisConfig;
use crate::model::{Alert, FileReport, HourlyRollup, RejectedRow};
use anyhow::{anyhow, Result};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};
use std::collections::BTreeMap;
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
    /// Every alarm episode active in the file (all stored; the report lists a bounded number).
    pub alarms: Vec<Alert>,
    /// Positions in `alarms` of the activations stored for the first time (claimed here),
    /// announced or suppressed: positions, not copies (a file may hold tens of thousands).
    new: Vec<usize>,
    /// Positions in `alarms` of the new activations not announced: shelved, or their
    /// substation out of service.
    suppressed: Vec<usize>,
    pub announcement: Announcement,
    pub results_key: String,
    pub rejected_key: Option<String>,
    /// Milliseconds per phase.
    pub phases_ms: BTreeMap<String, f64>,
}

impl Processed {
    /// Activations stored for the first time (claimed here), announced or suppressed.
    pub fn new_alerts(&self) -> Vec<&Alert> {
        self.new.iter().map(|&i| &self.alarms[i]).collect()
    }
    /// New activations not announced: shelved, or their substation out of service.
    pub fn suppressed(&self) -> Vec<&Alert> {
        self.suppressed.iter().map(|&i| &self.alarms[i]).collect()
    }
}

/// The recipe with the backend's parts plugged in.
#[derive(Clone)]
pub struct Recipe {
    pub table: Arc<dyn ResultsTable>,
    pub objects: Arc<dyn ObjectStore>,
    pub notifier: Option<Arc<dyn Notifier>>,
    pub log: Arc<dyn ProcessLog>,
    pub cfg: AnalysisConfig,
}

fn store_err(e: StoreError) -> anyhow::Error {
    anyhow!(e)
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
            athena: athena_layout::BackgroundPartitionWriter::new(key),
            budget: guard.clone(),
            writing: None,
        };
        let (cfg, source) = (self.cfg.clone(), key.to_string());
        let streamed = tokio::task::spawn_blocking(move || -> Result<_> {
            let mut sink = sink;
            let streamed = engine::analyze_stream(reader, &source, &cfg, &mut sink).and_then(|outcome| {
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
        let (mut outcome, sink) = streamed?;
        let StoreSink { rollups_written, latest, hours, rejected, athena, .. } = sink;
        // The days still open go to the Athena layout now (settled days went while streaming).
        for object in athena.finish()? {
            self.objects.put(&object.key, object.body, athena_layout::CONTENT_TYPE).await.map_err(store_err)?;
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
        let alarms = Arc::new(outcome.alarms);
        let (new, suppressed, announcement) = self.store_and_announce(&alarms, key).await?;
        // What an earlier version of this object fed and this one does not goes now.
        self.table.retire_source(key, &hours, &alarms, &self.cfg).await.map_err(store_err)?;
        phases.lap("alarms", started);

        // 5. Results and rejected rows.
        let results_key = object_keys::results_key(key);
        self.objects.put(&results_key, serde_json::to_vec_pretty(&report)?, "application/json").await.map_err(store_err)?;
        let rejected_key = object_keys::rejected_key(key);
        let rejected_key = match rejected.finish()? {
            Some(file) => {
                self.objects.put_file(&rejected_key, file.path(), "text/csv").await.map_err(store_err)?;
                Some(rejected_key)
            }
            None => {
                // A stale list from an earlier version of the object is derived data.
                self.objects.delete_derived(&rejected_key).await.map_err(store_err)?;
                None
            }
        };
        phases.lap("s3_outputs", started);
        // The table's tasks are over: the alarms are this run's alone again.
        let alarms = Arc::try_unwrap(alarms).unwrap_or_else(|shared| shared.as_ref().clone());
        let processed = Processed {
            key: key.to_string(),
            bytes,
            report,
            rollups_written,
            alarms,
            new,
            suppressed,
            announcement,
            results_key,
            rejected_key,
            phases_ms: phases.done,
        };
        let lines = items::outcome_log_lines(
            key,
            &processed.report,
            processed.rollups_written,
            &processed.announcement,
            &processed.new_alerts(),
            &processed.suppressed(),
            started.elapsed(),
        );
        for (level, line) in lines {
            self.log.line(level, key, &line);
        }
        Ok(processed)
    }

    /// Upserts every alarm, claiming the notification of each activation; announces the
    /// claimed ones that are not shelved or out of service. A failed announcement gives
    /// every claim of this file back, so the retry of the event announces them.
    async fn store_and_announce(&self, alarms: &Arc<Vec<Alert>>, key: &str) -> Result<(Vec<usize>, Vec<usize>, Announcement)> {
        let now = Utc::now();
        let claimed = match self.table.upsert_alerts(alarms, Some(now), key).await {
            Ok(claimed) => claimed,
            Err(e) => {
                // Claims made before the failure would keep the retry from announcing
                // them (tests/aws_faults.rs): give back every claim of this attempt.
                self.release_claims(alarms, now, key).await;
                return Err(store_err(e));
            }
        };
        // Positions, not copies: each copy of a large file's alarms was a fifth of its peak memory.
        let new: Vec<usize> = claimed.iter().enumerate().filter(|(_, claimed)| **claimed).map(|(i, _)| i).collect();
        if new.is_empty() {
            return Ok((new, Vec::new(), Announcement::None));
        }
        let ops = self.table.operator_states().await.map_err(store_err)?;
        let (suppressed, announce): (Vec<usize>, Vec<usize>) = new.iter().partition(|&&i| is_suppressed(&alarms[i], &ops));
        let announce: Vec<&Alert> = announce.into_iter().map(|i| &alarms[i]).collect();
        let mut published = 0;
        let announcement = self.announce(&announce, key, &mut published).await;
        match announcement {
            Ok(announcement) => Ok((new, suppressed, announcement)),
            Err(e) => {
                // The alarms already published keep their claims: releasing them would
                // publish them again on the retry.
                let sent: std::collections::HashSet<String> = announce[..published].iter().map(|a| a.id()).collect();
                let unsent: Vec<Alert> = new.iter().map(|&i| &alarms[i]).filter(|a| !sent.contains(&a.id())).cloned().collect();
                self.release_claims(&unsent, now, key).await;
                Err(e)
            }
        }
    }

    /// Gives back the claims made at `now` (a claim of someone else is left alone).
    async fn release_claims(&self, alerts: &[Alert], now: DateTime<Utc>, key: &str) {
        for alert in alerts {
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
    }

    /// Publishes `alerts` one by one, or as one digest; `published` counts the alerts
    /// whose message went out, also when a later one fails.
    async fn announce(&self, alerts: &[&Alert], key: &str, published: &mut usize) -> Result<Announcement> {
        if alerts.is_empty() {
            return Ok(Announcement::None);
        }
        let alarms_cfg = &self.cfg.alarms;
        let flood = kpi::peak_per_10min(alerts.iter().map(|a| a.activated_at)) > alarms_cfg.flood_alarms_per_10min as usize;
        if alerts.len() > alarms_cfg.digest_over as usize || flood {
            let digest = digest_of(alerts, key, flood);
            if let Some(n) = &self.notifier {
                n.digest(&digest).await?;
            }
            *published = alerts.len();
            return Ok(Announcement::Digest(digest));
        }
        if let Some(n) = &self.notifier {
            for alert in alerts {
                n.alarm(alert, key).await?;
                *published += 1;
            }
        }
        Ok(Announcement::Each(alerts.len()))
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
    athena: athena_layout::BackgroundPartitionWriter,
    budget: Arc<BudgetGuard>,
    /// The batch being written while the next one is parsed (one at a time).
    writing: Option<tokio::task::JoinHandle<super::StoreResult<Vec<HourlyRollup>>>>,
}

impl StoreSink {
    fn flush(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let batch = std::mem::take(&mut self.pending);
        self.hours.observe(&batch);
        self.athena.push(batch.clone());
        self.rollups_written += batch.len() as u64;
        self.latest.observe(&batch);
        self.wait_for_write()?;
        let (table, source, cfg) = (self.table.clone(), self.source.clone(), self.cfg.clone());
        self.writing = Some(self.handle.spawn(async move { table.put_rollups(&source, batch, &cfg).await }));
        for object in self.athena.take_ready() {
            self.handle
                .block_on(self.objects.put(&object.key, object.body, athena_layout::CONTENT_TYPE))
                .map_err(store_err)?;
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
        self.pending.extend(batch);
        if self.pending.len() >= ROLLUP_WRITE_BATCH {
            self.flush()?;
        }
        Ok(())
    }
    fn rejected(&mut self, row: &RejectedRow) -> Result<()> {
        self.rejected.push(row)
    }
}
