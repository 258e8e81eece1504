//! Alarm state per substation and rule (ISA-18.2 / EEMUA 191): on-delay before an alarm
//! is raised, deadband and off-delay before it clears, escalation of its priority, and
//! chattering detection with automatic shelving.
//!
//! The state is plain data ([`Tracker`]) so that it lasts across files: the engine starts
//! each substation from the checkpoint stored after the previous file
//! ([`AlarmCheckpoint`]) and hands back the checkpoint after this one. A condition that
//! goes on in the next file therefore stays the same alarm, and analysing the same file
//! again starts from the same checkpoint and ends in the same state.

use crate::analysis::rules::RuleSpec;
use crate::config::AlarmConfig;
use crate::model::{AlertRule, Priority};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The condition is beyond the limit but has not lasted for the on-delay yet.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Pending {
    pub since: i64,
    pub worst: f64,
    pub samples: u64,
}

/// A raised alarm that has not returned to normal.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Episode {
    pub started: i64,
    pub activated: i64,
    /// The last reading beyond the limit.
    pub last: i64,
    pub worst: f64,
    pub samples: u64,
    pub priority: Priority,
    /// This activation made the rule chatter; it carries the automatic shelve.
    pub chattering: bool,
    pub shelved_until: Option<i64>,
    /// Raised while the rule was shelved for chattering: tracked, never annunciated.
    pub silent: bool,
}

/// One rule's alarm state at one substation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Tracker {
    pub pending: Option<Pending>,
    pub active: Option<Episode>,
    /// Activation times within the chattering window.
    pub recent_activations: Vec<i64>,
    /// Shelved automatically (chattering) until this time.
    pub shelved_until: Option<i64>,
    /// Activations not annunciated because the rule was shelved.
    pub suppressed: u64,
}

/// What one reading did to a tracker.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Step {
    Nothing,
    /// An episode ended (returned to normal past the deadband and off-delay).
    Ended(Episode),
}

impl Tracker {
    /// Feeds one reading; readings must come in time order. The on-delay counts from the
    /// first reading beyond the limit to the current one (15 min = two readings at 15-min
    /// data); an active alarm clears at a reading inside the deadband once no reading has
    /// been beyond the limit for the off-delay (noise inside the deadband neither clears
    /// it nor keeps it standing).
    pub fn step(&mut self, spec: &RuleSpec, alarms: &AlarmConfig, ts: i64, value: f64) -> Step {
        if let Some(ep) = self.active.as_mut() {
            if spec.violates(value) {
                ep.last = ts;
                ep.samples += 1;
                if spec.is_worse(value, ep.worst) {
                    ep.worst = value;
                }
                ep.priority = ep.priority.max(spec.priority_at(value));
            } else if spec.cleared(value) && ts - ep.last >= spec.off_delay_s {
                // Back inside the deadband, and nothing beyond the limit for the off-delay.
                return self.end();
            }
            return Step::Nothing;
        }
        if !spec.violates(value) {
            self.pending = None;
            return Step::Nothing;
        }
        let pending = self.pending.get_or_insert(Pending { since: ts, worst: value, samples: 0 });
        pending.samples += 1;
        if spec.is_worse(value, pending.worst) {
            pending.worst = value;
        }
        // Beyond the escalation limit the on-delay does not apply: a severe excursion is
        // announced at once.
        if ts - pending.since >= spec.on_delay_s || spec.escalated(value) {
            let p = *pending;
            self.pending = None;
            self.activate(spec, alarms, p, ts);
        }
        Step::Nothing
    }

    fn activate(&mut self, spec: &RuleSpec, alarms: &AlarmConfig, p: Pending, ts: i64) {
        let silent = self.shelved_until.is_some_and(|until| ts < until);
        let mut ep = Episode {
            started: p.since,
            activated: ts,
            last: ts,
            worst: p.worst,
            samples: p.samples,
            priority: spec.priority_at(p.worst),
            chattering: false,
            shelved_until: None,
            silent,
        };
        if silent {
            self.suppressed += 1;
        } else if alarms.chatter_activations > 0 {
            let window = (alarms.chatter_window_minutes * 60.0) as i64;
            self.recent_activations.retain(|&a| ts - a < window);
            self.recent_activations.push(ts);
            if self.recent_activations.len() >= alarms.chatter_activations as usize {
                let until = ts + (alarms.chatter_shelve_minutes * 60.0) as i64;
                ep.chattering = true;
                ep.shelved_until = Some(until);
                self.shelved_until = Some(until);
                self.recent_activations.clear();
            }
        }
        self.active = Some(ep);
    }

    /// Ends the active episode (returned to normal, or the data stopped).
    pub fn end(&mut self) -> Step {
        self.pending = None;
        match self.active.take() {
            Some(ep) => Step::Ended(ep),
            None => Step::Nothing,
        }
    }

    /// True when an annunciated alarm is active.
    pub fn in_alarm(&self) -> bool {
        self.active.is_some_and(|ep| !ep.silent)
    }
}

/// The alarm state of one substation after a file: where the next file starts from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlarmCheckpoint {
    pub location: String,
    /// The newest reading this state includes.
    pub as_of: DateTime<Utc>,
    /// The gap between the last two readings (the interval the next reading continues).
    pub step_s: i64,
    pub trackers: BTreeMap<AlertRule, Tracker>,
}
