//! Where results live: the single-table item design, the object-key layout, the Athena
//! copy, the rejected-row spool, and the two interfaces every backend implements — a
//! results table and an object store — over which the processing recipe
//! ([`recipe`]) is written once. SQLite + a folder implement them locally, DynamoDB + S3
//! on AWS.

#[cfg(any(feature = "local", feature = "aws-core"))]
pub mod alarm_spool;
pub mod athena_layout;
pub mod fanout;
#[cfg(any(feature = "local", feature = "aws-core"))]
pub mod budget;
pub mod items;
pub mod notice;
pub mod object_keys;
pub mod operator;
#[cfg(any(feature = "local", feature = "aws-core"))]
pub mod recipe;
#[cfg(any(feature = "local", feature = "aws-core"))]
pub mod rejected;
pub mod unreadable;

use crate::analysis::alarms::AlarmCheckpoint;
use crate::config::AnalysisConfig;
use items::{AlarmKeys, ListingScope, SourceHours};
use crate::model::{Alert, ForecastPoint, HourlyRollup, SubstationState};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use operator::{OperatorAction, OperatorState};
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

/// A store failure, by what the caller can do about it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StoreError {
    /// A network fault, a timeout, a 5xx: worth retrying.
    #[error("{0}")]
    Transient(String),
    /// The service asked us to slow down: retry later.
    #[error("throttled: {0}")]
    Throttled(String),
    /// The table, bucket, object or item does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// A write refused because this session is read-only (or lacks the permission).
    #[error("refused: {0}")]
    ReadOnly(String),
    /// Bad input or an item that cannot be read: retrying will not help.
    #[error("{0}")]
    Invalid(String),
}

impl StoreError {
    /// Whether the same call may succeed later.
    pub fn is_retryable(&self) -> bool {
        matches!(self, StoreError::Transient(_) | StoreError::Throttled(_))
    }
    /// One word for the dashboard's banner.
    pub fn kind(&self) -> &'static str {
        match self {
            StoreError::Transient(_) => "unreachable",
            StoreError::Throttled(_) => "throttled",
            StoreError::NotFound(_) => "not found",
            StoreError::ReadOnly(_) => "read-only",
            StoreError::Invalid(_) => "invalid",
        }
    }
    /// An error from code below the seam whose kind is not known: treated as transient.
    pub fn other(e: impl std::fmt::Display) -> Self {
        StoreError::Transient(e.to_string())
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Requests in flight at once for per-substation and per-alarm work.
pub const REQUESTS_IN_FLIGHT: usize = 8;

/// The results table (`GridAnalysis`): every read and write of the processing recipe and
/// of the dashboard. Reads are bounded by key (never a scan), writes are idempotent.
#[async_trait]
pub trait ResultsTable: Send + Sync {
    // ---- writes of the recipe
    /// Stores one source's rollups as its part of their hours and each hour's rollup as the
    /// merge of every source's part ([`crate::analysis::hour_stats`]), so overlapping
    /// files add up in any order and the same file twice changes nothing. Returns the
    /// stored rollup of (at least) every hour where it differs from the source's own: the
    /// hours other files fed too.
    async fn put_rollups(&self, source: &str, rollups: Vec<HourlyRollup>, cfg: &AnalysisConfig) -> StoreResult<Vec<HourlyRollup>>;
    /// After a source is stored: drops its part of the hours it fed before but not now,
    /// and its claim on the alarms it no longer has (an overwrite, a new version of the
    /// object). Returns how many hours it left.
    /// `alarms` are the keys of every alarm the source has now, shared, not copied: a
    /// backend that works on a thread of its own keeps a handle. Only the listing entries
    /// `scope` owns are looked at (a shard of a fanned-out object answers for its own
    /// substations).
    async fn retire_source(
        &self,
        source: &str,
        hours: &SourceHours,
        alarms: &Arc<AlarmKeys>,
        scope: &ListingScope,
        cfg: &AnalysisConfig,
    ) -> StoreResult<u64>;
    /// Replaces the stored forecast of a substation, unless a newer one is stored
    /// (forecasts only move forward in time). Returns whether it was written.
    async fn replace_forecast(&self, location: &str, points: Vec<ForecastPoint>) -> StoreResult<bool>;
    /// Stores the latest state of a substation unless a newer reading of another source is
    /// stored (the same source's state is replaced: a corrected file may end earlier).
    async fn put_state_if_newer(&self, state: &SubstationState, bucket: &str) -> StoreResult<bool>;
    /// Upserts an alarm episode of `source`; with `claim_at`, also claims its notification
    /// atomically and returns true for exactly one caller (the one that must notify).
    async fn upsert_alert(&self, alert: &Alert, claim_at: Option<DateTime<Utc>>, source: &str) -> StoreResult<bool>;
    /// [`Self::upsert_alert`] for each of a file's alarms, one answer per alarm in order.
    /// By default several requests in flight; a backend with transactions overrides it to
    /// store them in one (all or none).
    async fn upsert_alerts(&self, alerts: &Arc<Vec<Alert>>, claim_at: Option<DateTime<Utc>>, source: &str) -> StoreResult<Vec<bool>> {
        use futures::{StreamExt, TryStreamExt};
        futures::stream::iter(alerts.iter().cloned())
            .map(|alert| async move { self.upsert_alert(&alert, claim_at, source).await })
            .buffered(REQUESTS_IN_FLIGHT)
            .try_collect()
            .await
    }
    /// Gives a claim back after the notification failed, so a retry notifies.
    async fn release_notification(&self, alert: &Alert, at: DateTime<Utc>) -> StoreResult<()>;
    /// Stores the alarm state of substations after a file (keyed by time: idempotent).
    async fn put_alarm_checkpoints(&self, checkpoints: Vec<AlarmCheckpoint>) -> StoreResult<()>;

    // ---- reads of the recipe
    /// Hourly average loads of one substation in `[from, to)`, for the forecast.
    async fn load_history(&self, location: &str, from: DateTime<Utc>, to: DateTime<Utc>) -> StoreResult<Vec<(DateTime<Utc>, f64)>>;
    /// The newest alarm checkpoint of a substation strictly before `before`.
    async fn alarm_checkpoint(&self, location: &str, before: DateTime<Utc>) -> StoreResult<Option<AlarmCheckpoint>>;

    // ---- the dashboard's and the CLI's reads
    /// The latest state of every substation (one small index read).
    async fn substations(&self) -> StoreResult<Vec<SubstationState>>;
    /// Hourly rollups of one substation with `from <= timestamp < to`, oldest first.
    async fn rollups(&self, location: &str, from: DateTime<Utc>, to: DateTime<Utc>) -> StoreResult<Vec<HourlyRollup>>;
    /// The stored 24 h forecast of one substation, oldest first.
    async fn forecast(&self, location: &str) -> StoreResult<Vec<ForecastPoint>>;
    /// Alarm episodes of all substations that were still active at or after `since`, newest first.
    async fn alerts(&self, since: DateTime<Utc>) -> StoreResult<Vec<Alert>>;

    // ---- operator actions (acknowledge, shelve, out of service)
    /// Every substation's and rule's operator state (one read of a small partition).
    async fn operator_states(&self) -> StoreResult<Vec<OperatorState>>;
    /// Applies an action and returns the new state.
    async fn apply_operator_action(&self, action: &OperatorAction) -> StoreResult<OperatorState>;
}

/// The bucket: raw uploads in, results and rejected rows out.
#[async_trait]
pub trait ObjectStore: Send + Sync {
    /// Opens an object for streaming (never read whole); also its size when known.
    async fn open(&self, key: &str) -> StoreResult<(Box<dyn Read + Send>, Option<u64>)>;
    async fn put(&self, key: &str, body: Vec<u8>, content_type: &str) -> StoreResult<()>;
    /// Uploads a local file, streamed (multipart when large).
    async fn put_file(&self, key: &str, path: &Path, content_type: &str) -> StoreResult<()>;
    /// Deletes a derived object (results, rejected rows); never raw data. Absent is fine.
    async fn delete_derived(&self, key: &str) -> StoreResult<()>;
    /// Keys under a prefix, sorted.
    async fn list(&self, prefix: &str) -> StoreResult<Vec<String>>;
    /// The bucket's name, as recorded with each substation's source.
    fn bucket_name(&self) -> &str;
}
