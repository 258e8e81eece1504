//! Analysis configuration: nominal values and every alert threshold.
//!
//! Defaults follow the seed tutorial (13.8 kV distribution bus, 60 Hz grid,
//! alert when voltage leaves 13.5..=14.1 kV or frequency deviates more than 0.05 Hz).

use crate::model::{AlertRule, Priority};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AnalysisConfig {
    /// Nominal bus voltage in kV.
    pub nominal_voltage_kv: f64,
    /// Nominal grid frequency in Hz (60 in the Americas, 50 in most of the world).
    pub nominal_frequency_hz: f64,
    /// Below this the voltage alarm fires (critical).
    pub voltage_low_kv: f64,
    /// Above this the voltage alarm fires (critical).
    pub voltage_high_kv: f64,
    /// |f - f_nom| above this fires the frequency alarm (critical).
    pub frequency_deviation_hz: f64,
    /// load_max / generation_avg above this is an overload warning.
    pub overload_ratio: f64,
    /// A stability score below this is critical.
    pub stability_min: f64,
    /// Power factor assumed when a row has none (the seed's 0.95); the summary says so.
    pub default_power_factor: f64,
    /// How many daily peaks the per-file summary keeps.
    pub top_daily_peaks: usize,
    /// Rows older than the newest reading of their substation by more than this many
    /// hours are rejected, which lets the engine close hours as it streams
    /// (memory stays flat). `None` keeps every hour open until the end of the file.
    pub reorder_window_hours: Option<u32>,
    /// With a window, also at most this many readings per substation are held open
    /// (64 bytes each): at high rates the oldest hours close early (the newest stays
    /// open), so memory does not grow with the sampling rate — 48 h of 1-second data
    /// would be 11 MB per substation. 15-minute and 1-minute data never reach it.
    pub reorder_window_readings: usize,
    /// At most this many alert episodes are kept per substation and file; the rest are counted.
    pub max_alerts_per_location: usize,
    /// Interval used for energy (MWh) when a file has a single reading per substation.
    pub fallback_interval_minutes: u32,
    /// Alarm management (`[alarms]` in the config file): priorities, deadbands, delays,
    /// chattering, floods, notifications.
    pub alarms: AlarmConfig,
}

impl Default for AnalysisConfig {
    fn default() -> Self {
        Self {
            nominal_voltage_kv: 13.8,
            nominal_frequency_hz: 60.0,
            voltage_low_kv: 13.5,
            voltage_high_kv: 14.1,
            frequency_deviation_hz: 0.05,
            overload_ratio: 0.95,
            stability_min: 0.85,
            default_power_factor: 0.95,
            top_daily_peaks: 5,
            reorder_window_hours: Some(48),
            reorder_window_readings: 8_192,
            max_alerts_per_location: 100,
            fallback_interval_minutes: 15,
            alarms: AlarmConfig::default(),
        }
    }
}

impl AnalysisConfig {
    /// Checks the values make sense together; a bad configuration is a user error, not a panic.
    pub fn validate(&self) -> Result<(), String> {
        let finite_positive = |name: &str, v: f64| {
            if v.is_finite() && v > 0.0 { Ok(()) } else { Err(format!("{name} must be a positive number, got {v}")) }
        };
        finite_positive("nominal_voltage_kv", self.nominal_voltage_kv)?;
        finite_positive("nominal_frequency_hz", self.nominal_frequency_hz)?;
        finite_positive("voltage_low_kv", self.voltage_low_kv)?;
        finite_positive("voltage_high_kv", self.voltage_high_kv)?;
        finite_positive("frequency_deviation_hz", self.frequency_deviation_hz)?;
        finite_positive("overload_ratio", self.overload_ratio)?;
        if self.voltage_low_kv >= self.voltage_high_kv {
            return Err(format!(
                "voltage_low_kv ({}) must be below voltage_high_kv ({})",
                self.voltage_low_kv, self.voltage_high_kv
            ));
        }
        if !(0.0..=1.0).contains(&self.stability_min) {
            return Err(format!("stability_min must be within 0..=1, got {}", self.stability_min));
        }
        if !(0.0..=1.0).contains(&self.default_power_factor) || self.default_power_factor == 0.0 {
            return Err(format!("default_power_factor must be within (0, 1], got {}", self.default_power_factor));
        }
        self.alarms.validate().map_err(|e| format!("[alarms] {e}"))
    }
}

/// Alarm-management settings of one rule. The defaults and why they are what they are:
/// README, "Alarms".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSettings {
    pub enabled: bool,
    pub priority: Priority,
    /// A second limit, beyond which the alarm's priority is `escalate_to`.
    pub escalate_at: Option<f64>,
    pub escalate_to: Priority,
    /// Hysteresis: the alarm clears only inside the limit by this margin (the rule's unit).
    pub deadband: f64,
    /// The condition must last this long before the alarm is raised.
    pub on_delay_minutes: f64,
    /// The value must stay inside the deadband this long before the alarm clears.
    pub off_delay_minutes: f64,
}

impl RuleSettings {
    fn new(priority: Priority, escalation: Option<(f64, Priority)>, deadband: f64, on: f64, off: f64) -> Self {
        Self {
            enabled: true,
            priority,
            escalate_at: escalation.map(|e| e.0),
            escalate_to: escalation.map_or(priority, |e| e.1),
            deadband,
            on_delay_minutes: on,
            off_delay_minutes: off,
        }
    }
    fn validate(&self, rule: AlertRule) -> Result<(), String> {
        for (name, v) in [("deadband", self.deadband), ("on_delay_minutes", self.on_delay_minutes), ("off_delay_minutes", self.off_delay_minutes)] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(format!("{rule}.{name} must be a number >= 0, got {v}"));
            }
        }
        if self.escalate_at.is_some_and(|v| !v.is_finite()) {
            return Err(format!("{rule}.escalate_at must be a finite number"));
        }
        Ok(())
    }
}

/// `[alarms]`: ISA-18.2 / EEMUA 191 alarm management. Every field is optional in the
/// file: what is given overrides the defaults, rule by rule and field by field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "AlarmOverrides")]
pub struct AlarmConfig {
    pub undervoltage: RuleSettings,
    pub overvoltage: RuleSettings,
    pub frequency_deviation: RuleSettings,
    pub overload: RuleSettings,
    pub low_stability: RuleSettings,
    pub no_data: RuleSettings,
    pub rejected_rows: RuleSettings,
    /// A substation with no reading for this long is in the `no_data` alarm.
    pub no_data_minutes: f64,
    /// A file with more than this share of rejected rows raises `rejected_rows`.
    pub rejected_share_limit: f64,
    /// This many activations of one rule at one substation within the window make it
    /// chattering: it is shelved automatically, with one notice.
    pub chatter_activations: u32,
    pub chatter_window_minutes: f64,
    /// How long a chattering alarm stays shelved.
    pub chatter_shelve_minutes: f64,
    /// The longest an operator may shelve an alarm.
    pub max_shelve_minutes: f64,
    /// More new alarms than this in 10 minutes of data time across the fleet is a flood.
    pub flood_alarms_per_10min: u32,
    /// When one file activates more alarms than this, one digest notification is sent
    /// instead of one per alarm.
    pub digest_over: u32,
}

impl Default for AlarmConfig {
    fn default() -> Self {
        use Priority::*;
        Self {
            // Why these values: README, "Alarms".
            undervoltage: RuleSettings::new(Low, Some((13.0, High)), 0.05, 15.0, 15.0),
            overvoltage: RuleSettings::new(Low, Some((14.4, High)), 0.05, 15.0, 15.0),
            frequency_deviation: RuleSettings::new(Low, Some((0.2, High)), 0.01, 15.0, 30.0),
            overload: RuleSettings::new(Low, Some((1.0, Medium)), 0.02, 60.0, 30.0),
            low_stability: RuleSettings::new(High, Some((0.7, Critical)), 0.01, 0.0, 15.0),
            no_data: RuleSettings::new(Medium, None, 0.0, 0.0, 0.0),
            rejected_rows: RuleSettings::new(Low, Some((0.5, Medium)), 0.0, 0.0, 0.0),
            no_data_minutes: 60.0,
            rejected_share_limit: 0.05,
            chatter_activations: 3,
            chatter_window_minutes: 480.0,
            chatter_shelve_minutes: 720.0,
            max_shelve_minutes: 7.0 * 24.0 * 60.0,
            flood_alarms_per_10min: 10,
            digest_over: 10,
        }
    }
}

impl AlarmConfig {
    /// No deadband, no delays, no chattering detection: every reading beyond a limit is
    /// an alarm at once (the behaviour before alarm management; for tests of the rules).
    pub fn immediate() -> Self {
        let mut a = Self::default();
        for rule in AlertRule::ALL {
            let s = a.settings_mut(rule);
            s.deadband = 0.0;
            s.on_delay_minutes = 0.0;
            s.off_delay_minutes = 0.0;
        }
        a.chatter_activations = 0;
        a
    }

    pub fn settings(&self, rule: AlertRule) -> &RuleSettings {
        match rule {
            AlertRule::Undervoltage => &self.undervoltage,
            AlertRule::Overvoltage => &self.overvoltage,
            AlertRule::FrequencyDeviation => &self.frequency_deviation,
            AlertRule::Overload => &self.overload,
            AlertRule::LowStability => &self.low_stability,
            AlertRule::NoData => &self.no_data,
            AlertRule::RejectedRows => &self.rejected_rows,
        }
    }

    pub fn settings_mut(&mut self, rule: AlertRule) -> &mut RuleSettings {
        match rule {
            AlertRule::Undervoltage => &mut self.undervoltage,
            AlertRule::Overvoltage => &mut self.overvoltage,
            AlertRule::FrequencyDeviation => &mut self.frequency_deviation,
            AlertRule::Overload => &mut self.overload,
            AlertRule::LowStability => &mut self.low_stability,
            AlertRule::NoData => &mut self.no_data,
            AlertRule::RejectedRows => &mut self.rejected_rows,
        }
    }

    pub fn validate(&self) -> Result<(), String> {
        for rule in AlertRule::ALL {
            self.settings(rule).validate(rule)?;
        }
        let positive = [
            ("no_data_minutes", self.no_data_minutes),
            ("chatter_window_minutes", self.chatter_window_minutes),
            ("chatter_shelve_minutes", self.chatter_shelve_minutes),
            ("max_shelve_minutes", self.max_shelve_minutes),
        ];
        for (name, v) in positive {
            if !(v.is_finite() && v > 0.0) {
                return Err(format!("{name} must be a positive number, got {v}"));
            }
        }
        if !(0.0..=1.0).contains(&self.rejected_share_limit) {
            return Err(format!("rejected_share_limit must be within 0..=1, got {}", self.rejected_share_limit));
        }
        Ok(())
    }
}

/// One rule's settings as written in a config file: only what is given.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleOverrides {
    enabled: Option<bool>,
    priority: Option<Priority>,
    escalate_at: Option<f64>,
    escalate_to: Option<Priority>,
    deadband: Option<f64>,
    on_delay_minutes: Option<f64>,
    off_delay_minutes: Option<f64>,
}

impl RuleOverrides {
    fn apply(self, s: &mut RuleSettings) {
        s.enabled = self.enabled.unwrap_or(s.enabled);
        s.priority = self.priority.unwrap_or(s.priority);
        s.escalate_at = self.escalate_at.or(s.escalate_at);
        s.escalate_to = self.escalate_to.unwrap_or(s.escalate_to);
        s.deadband = self.deadband.unwrap_or(s.deadband);
        s.on_delay_minutes = self.on_delay_minutes.unwrap_or(s.on_delay_minutes);
        s.off_delay_minutes = self.off_delay_minutes.unwrap_or(s.off_delay_minutes);
    }
}

/// `[alarms]` as written in a config file (or the Lambda's `ALARMS` variable).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct AlarmOverrides {
    undervoltage: RuleOverrides,
    overvoltage: RuleOverrides,
    frequency_deviation: RuleOverrides,
    overload: RuleOverrides,
    low_stability: RuleOverrides,
    no_data: RuleOverrides,
    rejected_rows: RuleOverrides,
    no_data_minutes: Option<f64>,
    rejected_share_limit: Option<f64>,
    chatter_activations: Option<u32>,
    chatter_window_minutes: Option<f64>,
    chatter_shelve_minutes: Option<f64>,
    max_shelve_minutes: Option<f64>,
    flood_alarms_per_10min: Option<u32>,
    digest_over: Option<u32>,
}

impl From<AlarmOverrides> for AlarmConfig {
    fn from(o: AlarmOverrides) -> Self {
        let mut a = AlarmConfig::default();
        o.undervoltage.apply(&mut a.undervoltage);
        o.overvoltage.apply(&mut a.overvoltage);
        o.frequency_deviation.apply(&mut a.frequency_deviation);
        o.overload.apply(&mut a.overload);
        o.low_stability.apply(&mut a.low_stability);
        o.no_data.apply(&mut a.no_data);
        o.rejected_rows.apply(&mut a.rejected_rows);
        a.no_data_minutes = o.no_data_minutes.unwrap_or(a.no_data_minutes);
        a.rejected_share_limit = o.rejected_share_limit.unwrap_or(a.rejected_share_limit);
        a.chatter_activations = o.chatter_activations.unwrap_or(a.chatter_activations);
        a.chatter_window_minutes = o.chatter_window_minutes.unwrap_or(a.chatter_window_minutes);
        a.chatter_shelve_minutes = o.chatter_shelve_minutes.unwrap_or(a.chatter_shelve_minutes);
        a.max_shelve_minutes = o.max_shelve_minutes.unwrap_or(a.max_shelve_minutes);
        a.flood_alarms_per_10min = o.flood_alarms_per_10min.unwrap_or(a.flood_alarms_per_10min);
        a.digest_over = o.digest_over.unwrap_or(a.digest_over);
        a
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_alarm_overrides_keep_the_rule_defaults() {
        let a: AlarmConfig = serde_json::from_str(r#"{"digest_over": 3, "overload": {"on_delay_minutes": 30}}"#).unwrap();
        assert_eq!(a.digest_over, 3);
        assert_eq!(a.overload.on_delay_minutes, 30.0);
        assert_eq!(a.overload.priority, AlarmConfig::default().overload.priority);
        assert_eq!(a.undervoltage, AlarmConfig::default().undervoltage);
        assert!(serde_json::from_str::<AlarmConfig>(r#"{"overload": {"bogus": 1}}"#).is_err());
        let round: AlarmConfig = serde_json::from_str(&serde_json::to_string(&a).unwrap()).unwrap();
        assert_eq!(round, a);
    }

    #[test]
    fn bad_alarm_values_are_named() {
        let mut cfg = AnalysisConfig::default();
        cfg.alarms.overload.on_delay_minutes = -1.0;
        assert!(cfg.validate().unwrap_err().contains("overload.on_delay_minutes"));
    }
}
