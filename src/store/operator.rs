//! Operator actions on alarms (ISA-18.2): acknowledge, shelve for a while (it expires on
//! its own, with a maximum), take a substation out of service for maintenance and back.
//! Each is stored in the results table (partition [`OPERATOR_PARTITION`]) so every
//! dashboard sees it, and records who did it and when.

use crate::model::{format_ts, Alert, AlertRule};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The results-table partition of the operator state items (one Query lists them all).
pub const OPERATOR_PARTITION: &str = "#operator";
/// The sort key's rule part for a whole substation (out of service).
pub const WHOLE_SUBSTATION: &str = "*";

/// What the operator did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum ActionKind {
    /// Acknowledges the episode that started at `started_at` (and every older one).
    Acknowledge { started_at: DateTime<Utc> },
    Shelve { until: DateTime<Utc> },
    Unshelve,
    OutOfService,
    ReturnToService,
}

/// One operator action, as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OperatorAction {
    pub location: String,
    /// `None` for the whole substation (out of service / return to service).
    pub rule: Option<AlertRule>,
    #[serde(flatten)]
    pub kind: ActionKind,
    pub by: String,
    pub at: DateTime<Utc>,
    #[serde(default)]
    pub reason: String,
}

/// The stored operator state of one substation's rule (or of the whole substation).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct OperatorState {
    pub location: String,
    pub rule: Option<AlertRule>,
    /// Episodes that started at or before this are acknowledged.
    pub acked_through: Option<DateTime<Utc>>,
    pub shelved_until: Option<DateTime<Utc>>,
    pub out_of_service: bool,
    /// The last action's who, when and why.
    pub by: String,
    pub at: Option<DateTime<Utc>>,
    pub reason: String,
}

impl OperatorState {
    /// The sort key in [`OPERATOR_PARTITION`].
    pub fn sort_key(location: &str, rule: Option<AlertRule>) -> String {
        format!("{location}#{}", rule.map_or(WHOLE_SUBSTATION, |r| r.as_str()))
    }

    /// The state after `action` (the caller stores it).
    pub fn apply(mut self, action: &OperatorAction) -> OperatorState {
        self.location = action.location.clone();
        self.rule = action.rule;
        match &action.kind {
            ActionKind::Acknowledge { started_at } => {
                self.acked_through = Some(self.acked_through.map_or(*started_at, |t| t.max(*started_at)));
            }
            ActionKind::Shelve { until } => self.shelved_until = Some(*until),
            ActionKind::Unshelve => self.shelved_until = None,
            ActionKind::OutOfService => self.out_of_service = true,
            ActionKind::ReturnToService => self.out_of_service = false,
        }
        self.by = action.by.clone();
        self.at = Some(action.at);
        self.reason = action.reason.clone();
        self
    }

    pub fn is_shelved(&self, at: DateTime<Utc>) -> bool {
        self.shelved_until.is_some_and(|until| at < until)
    }
}

/// Checks an action before it is stored: a shelve must end in the future and within the
/// maximum; out-of-service needs a reason; rule-less actions are substation-wide only.
pub fn validate(action: &OperatorAction, max_shelve_minutes: f64) -> Result<(), String> {
    match &action.kind {
        ActionKind::Shelve { until } => {
            if action.rule.is_none() {
                return Err("shelving needs a rule (take the substation out of service instead)".into());
            }
            if *until <= action.at {
                return Err(format!("shelve until {} is not in the future", format_ts(*until)));
            }
            let minutes = (*until - action.at).num_seconds() as f64 / 60.0;
            if minutes > max_shelve_minutes {
                return Err(format!("shelving for {minutes:.0} min is longer than the maximum of {max_shelve_minutes:.0} min"));
            }
        }
        ActionKind::Acknowledge { .. } | ActionKind::Unshelve if action.rule.is_none() => {
            return Err("acknowledging and unshelving need a rule".into());
        }
        ActionKind::OutOfService if action.reason.trim().is_empty() => {
            return Err("taking a substation out of service needs a reason (--reason)".into());
        }
        _ => {}
    }
    Ok(())
}

/// One line for the log: who did what to which alarm, and why.
pub fn describe(a: &OperatorAction) -> String {
    let what = match &a.kind {
        ActionKind::Acknowledge { started_at } => format!("acknowledged the alarm that started {}", format_ts(*started_at)),
        ActionKind::Shelve { until } => format!("shelved until {}", format_ts(*until)),
        ActionKind::Unshelve => "unshelved".to_string(),
        ActionKind::OutOfService => "took out of service".to_string(),
        ActionKind::ReturnToService => "returned to service".to_string(),
    };
    let target = match a.rule {
        Some(rule) => format!("{} {rule}", a.location),
        None => a.location.clone(),
    };
    let why = if a.reason.is_empty() { String::new() } else { format!(" ({})", a.reason) };
    format!("operator {}: {target}: {what}{why} at {}", a.by, format_ts(a.at))
}

/// How an alarm stands for the operator (ISA-18.2 / OPC UA Part 9 states).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AlarmState {
    /// Active and not acknowledged.
    Unacknowledged,
    /// Active and acknowledged.
    Acknowledged,
    /// Returned to normal but not acknowledged.
    ReturnedUnacknowledged,
    /// Returned to normal and acknowledged: leaves the list.
    Normal,
    /// Shelved by the operator or for chattering (expires on its own).
    Shelved,
    /// Its substation is out of service (maintenance).
    OutOfService,
}

impl AlarmState {
    pub fn label(self) -> &'static str {
        match self {
            AlarmState::Unacknowledged => "UNACK",
            AlarmState::Acknowledged => "ACKED",
            AlarmState::ReturnedUnacknowledged => "RTN-UNACK",
            AlarmState::Normal => "NORMAL",
            AlarmState::Shelved => "SHELVED",
            AlarmState::OutOfService => "OOS",
        }
    }
}

/// The state of `alert` at `now`, given the operator states of its rule and substation.
pub fn alarm_state(alert: &Alert, rule_state: Option<&OperatorState>, site: Option<&OperatorState>, now: DateTime<Utc>) -> AlarmState {
    if site.is_some_and(|s| s.out_of_service) {
        return AlarmState::OutOfService;
    }
    if rule_state.is_some_and(|s| s.is_shelved(now)) || alert.shelved_until.is_some_and(|until| now < until) && !alert.chattering {
        return AlarmState::Shelved;
    }
    let acked = rule_state.and_then(|s| s.acked_through).is_some_and(|t| alert.started_at <= t);
    match (alert.active, acked) {
        (true, false) => AlarmState::Unacknowledged,
        (true, true) => AlarmState::Acknowledged,
        (false, false) => AlarmState::ReturnedUnacknowledged,
        (false, true) => AlarmState::Normal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn action(kind: ActionKind, rule: Option<AlertRule>) -> OperatorAction {
        OperatorAction { location: "s1".into(), rule, kind, by: "ana".into(), at: "2025-01-14T00:00:00Z".parse().unwrap(), reason: String::new() }
    }

    #[test]
    fn shelve_limits_and_reasons_are_checked() {
        let at: DateTime<Utc> = "2025-01-14T00:00:00Z".parse().unwrap();
        let ok = action(ActionKind::Shelve { until: at + chrono::Duration::hours(2) }, Some(AlertRule::Overload));
        assert!(validate(&ok, 180.0).is_ok());
        assert!(validate(&ok, 60.0).unwrap_err().contains("maximum"));
        let past = action(ActionKind::Shelve { until: at }, Some(AlertRule::Overload));
        assert!(validate(&past, 180.0).is_err());
        assert!(validate(&action(ActionKind::OutOfService, None), 60.0).unwrap_err().contains("reason"));
        let state = OperatorState::default().apply(&ok);
        assert!(state.is_shelved(at) && !state.is_shelved(at + chrono::Duration::hours(3)), "a shelve expires on its own");
        assert_eq!(state.by, "ana");
    }
}
