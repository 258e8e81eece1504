//! The seams between data collection and the dashboard: a store of analysis results,
//! a log to follow, and a clock. The embedded local backend implements them now; the
//! AWS backend (DynamoDB + CloudWatch Logs + Lambda) plugs into the same traits.

use crate::model::{Alert, ForecastPoint, HourlyRollup, SubstationState};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// A backend failure, worded for the operator (it is shown in the dashboard's banner).
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
#[error("{0}")]
pub struct BackendError(pub String);

impl BackendError {
    pub fn new(msg: impl Into<String>) -> Self {
        BackendError(msg.into())
    }
}

pub type BackendResult<T> = Result<T, BackendError>;

/// Read (and reprocess) access to analysis results.
///
/// Every call is a bounded query keyed by location and time: none of them scans the
/// whole store, so a polling loop costs in proportion to new data.
#[async_trait]
pub trait GridStore: Send + Sync {
    /// The latest state of every substation (one small index read).
    async fn substations(&self) -> BackendResult<Vec<SubstationState>>;
    /// Hourly rollups of one substation with `from <= timestamp < to`, oldest first.
    async fn rollups(&self, location: &str, from: DateTime<Utc>, to: DateTime<Utc>) -> BackendResult<Vec<HourlyRollup>>;
    /// The stored 24 h forecast of one substation, oldest first.
    async fn forecast(&self, location: &str) -> BackendResult<Vec<ForecastPoint>>;
    /// Alert episodes of all substations that were still active at or after `since`, newest first.
    async fn alerts(&self, since: DateTime<Utc>) -> BackendResult<Vec<Alert>>;
    /// Re-analyse the newest raw data of one substation; returns a one-line description.
    async fn reprocess(&self, location: &str) -> BackendResult<String>;
    /// Short name shown in the title bar (e.g. "local: ~/.local/share/gridwatch").
    fn describe(&self) -> String;
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
    async fn poll(&mut self) -> BackendResult<Vec<LogLine>>;
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
pub type SharedClock = Arc<dyn Clock>;
