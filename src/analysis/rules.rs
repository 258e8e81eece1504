//! The alarm rules as one table of data: what each rule watches, its limit, which side is
//! worse, its priority and escalation band, deadband and delays. The engine, the hourly
//! and file status, the store's item mapping and the dashboard all read this table.
//!
//! Limits come from [`AnalysisConfig`] (the seed's thresholds); the alarm-management
//! settings (priority, deadband, on/off-delay, escalation) from [`AlarmConfig`]. Delays are
//! in time, so they mean the same at 1-minute and at 15-minute data.

use crate::config::{AlarmConfig, AnalysisConfig, RuleSettings};
use crate::model::{AlertRule, Priority};

/// The per-reading quantity a rule watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    VoltageKv,
    /// |f − f_nom| in Hz.
    FrequencyDeviationHz,
    /// load / generation (infinite with load and no generation).
    LoadToGeneration,
    /// The seed's stability score of one reading.
    StabilityScore,
    /// Minutes since the previous reading (data quality).
    ReportingGapMinutes,
    /// Share of a file's rows that were rejected (data quality, once per file).
    RejectedShare,
}

/// Which side of the limit is an alarm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Worse {
    Above,
    Below,
}

/// One row of the rule table.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleSpec {
    pub rule: AlertRule,
    pub signal: Signal,
    pub worse: Worse,
    pub limit: f64,
    pub priority: Priority,
    /// Beyond this second limit the alarm is raised to `escalation.1`.
    pub escalation: Option<(f64, Priority)>,
    /// The alarm returns to normal only inside the limit by this margin.
    pub deadband: f64,
    /// The condition must last this long (seconds of data time) before the alarm is raised.
    pub on_delay_s: i64,
    /// The value must stay inside the deadband this long before the alarm clears.
    pub off_delay_s: i64,
    /// Short description for texts ("voltage below the low limit").
    pub text: &'static str,
}

impl RuleSpec {
    /// Is `value` beyond the limit?
    pub fn violates(&self, value: f64) -> bool {
        match self.worse {
            Worse::Above => value > self.limit,
            Worse::Below => value < self.limit,
        }
    }
    /// Is `value` back inside the limit by the deadband (so an active alarm may clear)?
    pub fn cleared(&self, value: f64) -> bool {
        match self.worse {
            Worse::Above => value <= self.limit - self.deadband,
            Worse::Below => value >= self.limit + self.deadband,
        }
    }
    /// Is `a` worse than `b`?
    pub fn is_worse(&self, a: f64, b: f64) -> bool {
        match self.worse {
            Worse::Above => a > b,
            Worse::Below => a < b,
        }
    }
    /// Is `value` beyond the escalation limit?
    pub fn escalated(&self, value: f64) -> bool {
        match (self.escalation, self.worse) {
            (Some((limit, _)), Worse::Above) => value > limit,
            (Some((limit, _)), Worse::Below) => value < limit,
            (None, _) => false,
        }
    }
    /// The priority of an alarm whose worst value is `value`.
    pub fn priority_at(&self, value: f64) -> Priority {
        match self.escalation {
            Some((_, p)) if self.escalated(value) => p.max(self.priority),
            _ => self.priority,
        }
    }
    /// "voltage fell to 13.201 kV (limit 13.50 kV)" and the like.
    pub fn describe(&self, worst: f64, cfg: &AnalysisConfig) -> String {
        let limit = self.limit;
        match self.rule {
            AlertRule::Undervoltage => format!("voltage fell to {worst:.3} kV (limit {limit:.2} kV)"),
            AlertRule::Overvoltage => format!("voltage rose to {worst:.3} kV (limit {limit:.2} kV)"),
            AlertRule::FrequencyDeviation => {
                format!("frequency deviated {worst:.3} Hz from {} Hz (limit {limit:.3} Hz)", cfg.nominal_frequency_hz)
            }
            AlertRule::Overload if !worst.is_finite() || worst >= f64::MAX => "load with no generation".to_string(),
            AlertRule::Overload => format!("load reached {:.1} % of generation (limit {:.0} %)", worst * 100.0, limit * 100.0),
            AlertRule::LowStability => format!("stability score {worst:.3} (limit {limit:.2})"),
            AlertRule::NoData => format!("no reading for {worst:.0} min (limit {limit:.0} min)"),
            AlertRule::RejectedRows => format!("{:.1} % of the file's rows rejected (limit {:.1} %)", worst * 100.0, limit * 100.0),
        }
    }
}

/// The rule table for one configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleTable {
    specs: Vec<RuleSpec>,
}

fn spec(rule: AlertRule, signal: Signal, worse: Worse, limit: f64, s: &RuleSettings, text: &'static str) -> RuleSpec {
    RuleSpec {
        rule,
        signal,
        worse,
        limit,
        priority: s.priority,
        escalation: s.escalate_at.map(|at| (at, s.escalate_to)),
        deadband: s.deadband,
        on_delay_s: (s.on_delay_minutes * 60.0).round() as i64,
        off_delay_s: (s.off_delay_minutes * 60.0).round() as i64,
        text,
    }
}

impl RuleTable {
    pub fn new(cfg: &AnalysisConfig) -> Self {
        let a: &AlarmConfig = &cfg.alarms;
        let mut specs = vec![
            spec(AlertRule::Undervoltage, Signal::VoltageKv, Worse::Below, cfg.voltage_low_kv, &a.undervoltage, "voltage below the low limit"),
            spec(AlertRule::Overvoltage, Signal::VoltageKv, Worse::Above, cfg.voltage_high_kv, &a.overvoltage, "voltage above the high limit"),
            spec(
                AlertRule::FrequencyDeviation,
                Signal::FrequencyDeviationHz,
                Worse::Above,
                cfg.frequency_deviation_hz,
                &a.frequency_deviation,
                "frequency off nominal",
            ),
            spec(AlertRule::Overload, Signal::LoadToGeneration, Worse::Above, cfg.overload_ratio, &a.overload, "load near or above generation"),
            spec(AlertRule::LowStability, Signal::StabilityScore, Worse::Below, cfg.stability_min, &a.low_stability, "stability score low"),
            spec(
                AlertRule::NoData,
                Signal::ReportingGapMinutes,
                Worse::Above,
                a.no_data_minutes,
                &a.no_data,
                "substation stopped reporting",
            ),
            spec(
                AlertRule::RejectedRows,
                Signal::RejectedShare,
                Worse::Above,
                a.rejected_share_limit,
                &a.rejected_rows,
                "too many rejected rows",
            ),
        ];
        specs.retain(|s| a.settings(s.rule).enabled);
        Self { specs }
    }

    /// Every enabled rule.
    pub fn specs(&self) -> &[RuleSpec] {
        &self.specs
    }

    /// The rules evaluated on every reading, in table order.
    pub fn per_reading(&self) -> impl Iterator<Item = &RuleSpec> {
        self.specs.iter().filter(|s| !matches!(s.signal, Signal::ReportingGapMinutes | Signal::RejectedShare))
    }

    pub fn get(&self, rule: AlertRule) -> Option<&RuleSpec> {
        self.specs.iter().find(|s| s.rule == rule)
    }
}
