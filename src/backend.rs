//! The seams between data collection and the dashboard: the results table of a backend
//! (with reprocessing and operator actions), a log to follow, and a clock. The embedded
//! local backend and the AWS backend (DynamoDB + CloudWatch Logs + Lambda) implement them.

use crate::model::{Alert, ForecastPoint, HourlyRollup, SubstationState};
use crate::store::operator::{OperatorAction, OperatorState};
use crate::store::{ResultsTable, StoreError, StoreResult};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// What the dashboard reads and does through a backend.
///
/// Every read is a bounded query keyed by location and time: none of them scans the
/// whole store, so a polling loop costs in proportion to new data.
#[async_trait]
pub trait GridStore: Send + Sync {
    /// The latest state of every substation (one small index read).
    async fn substations(&self) -> StoreResult<Vec<SubstationState>>;
    /// Hourly rollups of one substation with `from <= timestamp < to`, oldest first.
    async fn rollups(&self, location: &str, from: DateTime<Utc>, to: DateTime<Utc>) -> StoreResult<Vec<HourlyRollup>>;
    /// The stored 24 h forecast of one substation, oldest first.
    async fn forecast(&self, location: &str) -> StoreResult<Vec<ForecastPoint>>;
    /// Alarm episodes of all substations that were still active at or after `since`, newest first.
    async fn alerts(&self, since: DateTime<Utc>) -> StoreResult<Vec<Alert>>;
    /// Every operator state (acknowledged, shelved, out of service).
    async fn operator_states(&self) -> StoreResult<Vec<OperatorState>>;
    /// Records an operator action; refused in read-only mode (see [`checked_operator_action`]).
    async fn operator_action(&self, action: &OperatorAction) -> StoreResult<OperatorState>;
    /// Re-analyse the newest raw data of one substation; returns a one-line description.
    async fn reprocess(&self, location: &str) -> StoreResult<String>;
    /// Short name shown in the title bar (e.g. "local: ~/.local/share/gridwatch").
    fn describe(&self) -> String;
    /// Whether writes (reprocess, operator actions) are refused.
    fn read_only(&self) -> bool {
        false
    }
    /// The longest an operator may shelve an alarm.
    fn max_shelve_minutes(&self) -> f64 {
        crate::config::AlarmConfig::default().max_shelve_minutes
    }
}

/// Severity of a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Debug,
    #[default]
    Info,
    Warn,
    Error,
}

/// One line of the processing log (local JSON-lines file or CloudWatch Logs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogLine {
    pub timestamp: DateTime<Utc>,
    #[serde(default)]
    pub level: LogLevel,
    pub message: String,
}

/// Follows a log: each call returns the lines that appeared since the previous call.
#[async_trait]
pub trait LogSource: Send {
    async fn poll(&mut self) -> StoreResult<Vec<LogLine>>;
}

/// The dashboard's notion of "now": the wall clock, or the simulator's accelerated clock.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

pub struct WallClock;

impl Clock for WallClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that runs `speed` times faster than the wall clock from a chosen start.
pub struct AcceleratedClock {
    sim_start: DateTime<Utc>,
    wall_start: std::time::Instant,
    speed: f64,
}

impl AcceleratedClock {
    pub fn new(sim_start: DateTime<Utc>, speed: f64) -> Self {
        Self { sim_start, wall_start: std::time::Instant::now(), speed }
    }
}

impl Clock for AcceleratedClock {
    fn now(&self) -> DateTime<Utc> {
        let elapsed = self.wall_start.elapsed().as_secs_f64() * self.speed;
        self.sim_start + chrono::Duration::milliseconds((elapsed * 1000.0) as i64)
    }
}

pub type SharedStore = Arc<dyn GridStore>;

/// The one rule for operator actions on any backend: refused when read-only, checked
/// against the shelving maximum, then stored in the results table.
pub async fn checked_operator_action(
    table: &dyn ResultsTable,
    read_only: bool,
    max_shelve_minutes: f64,
    action: &OperatorAction,
) -> StoreResult<OperatorState> {
    if read_only {
        return Err(StoreError::ReadOnly("this dashboard is read-only: operator actions are disabled".into()));
    }
    crate::store::operator::validate(action, max_shelve_minutes).map_err(StoreError::Invalid)?;
    table.apply_operator_action(action).await
}
pub type SharedClock = Arc<dyn Clock>;
