//! Analysis configuration: nominal values and every alert threshold.
//!
//! Defaults follow the seed tutorial (13.8 kV distribution bus, 60 Hz grid,
//! alert when voltage leaves 13.5..=14.1 kV or frequency deviates more than 0.05 Hz).

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
    /// At most this many alert episodes are kept per substation and file; the rest are counted.
    pub max_alerts_per_location: usize,
    /// Interval used for energy (MWh) when a file has a single reading per substation.
    pub fallback_interval_minutes: u32,
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
            max_alerts_per_location: 1000,
            fallback_interval_minutes: 15,
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
        Ok(())
    }
}
