//! What flows into the UI loop (`Msg`) and what the UI asks the outside to do (`Command`).

use crate::backend::LogLine;
use crate::model::{Alert, ForecastPoint, HourlyRollup, SubstationState};
use crate::store::operator::{OperatorAction, OperatorState};
use chrono::{DateTime, Utc};
use crossterm::event::{KeyEvent, MouseEvent};
use std::time::Duration;

#[derive(Debug, Clone)]
pub enum Msg {
    Key(KeyEvent),
    /// Only arrives when the mouse is turned on (`--mouse`, `mouse = true`).
    Mouse(MouseEvent),
    Resize(u16, u16),
    /// Slow tick: the clock moved (age column, stale markers).
    Tick(DateTime<Utc>),
    Substations(Vec<SubstationState>),
    /// Rollups of one substation, oldest first; merged by hour into what is held.
    Rollups {
        location: String,
        rollups: Vec<HourlyRollup>,
    },
    /// The poller keeps only this span of a substation's rollups (`from <= t < to`);
    /// the rest is dropped, so memory stays bounded however far one browses.
    HistoryKept {
        location: String,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    },
    Forecast {
        location: String,
        points: Vec<ForecastPoint>,
    },
    /// Alert episodes still active at or after the poller's `since`.
    Alerts(Vec<Alert>),
    /// Every stored operator state (acknowledged, shelved, out of service), each poll.
    OperatorStates(Vec<OperatorState>),
    /// The store's answer to an operator action: the state it stored, or why not.
    OperatorDone {
        action: OperatorAction,
        result: Result<OperatorState, String>,
    },
    Logs(Vec<LogLine>),
    /// A store call failed; the poller retries after `retry_in`.
    StoreError {
        error: String,
        retry_in: Duration,
        attempt: u32,
    },
    /// A full poll succeeded (clears the banner).
    StoreOk,
    LogError(String),
    LogOk,
    ReprocessDone {
        location: String,
        result: Result<String, String>,
    },
    /// An export finished: where it went, or why not.
    Exported(Result<String, String>),
    /// SIGTERM / SIGHUP (e.g. the SSH session to the jump host dropped).
    Shutdown,
    /// Connected to another source: the dashboard starts over on it with this title.
    SourceSwitched { name: String, title: String, store_name: String },
    /// Connecting to a source failed; the current one stays.
    SourceFailed { name: String, error: String },
}

#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Quit,
    /// Re-analyse the newest raw data of this substation (raw store name).
    Reprocess(String),
    /// Poll the store now instead of at the next interval.
    Refresh,
    /// Write `contents` to `path` (the current view as CSV).
    Export { path: std::path::PathBuf, contents: String },
    /// Record an operator action in the store (then poll again).
    Operator(OperatorAction),
    /// Watch another configured source (`:source NAME`): connect, then start over on it.
    SwitchSource(String),
}
