//! The `[optimize]` section of the configuration file: targets, battery, load
//! flexibility, reverse-flow limit and the tariff. Missing keys take the defaults below;
//! [`OptimizeConfig::validate`] rejects values that would make a figure meaningless.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A peak-shaving target: a share of the substation's current peak, or a fixed cap.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// Keep the load at or below this percentage of the current peak (0 < p <= 100).
    PercentOfPeak(f64),
    /// Keep the load at or below this many MW.
    CapMw(f64),
}

impl Target {
    /// The cap in MW for a substation whose current peak is `peak_mw`.
    pub fn cap_mw(self, peak_mw: f64) -> f64 {
        match self {
            Target::PercentOfPeak(p) => peak_mw * p / 100.0,
            Target::CapMw(mw) => mw,
        }
    }

    pub fn validate(self) -> Result<(), String> {
        match self {
            Target::PercentOfPeak(p) if p.is_finite() && p > 0.0 && p <= 100.0 => Ok(()),
            Target::PercentOfPeak(p) => Err(format!("a target percentage must be within (0, 100], got {p}")),
            Target::CapMw(mw) if mw.is_finite() && mw > 0.0 => Ok(()),
            Target::CapMw(mw) => Err(format!("a cap must be a positive number of MW, got {mw}")),
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::PercentOfPeak(p) => write!(f, "{p} %"),
            Target::CapMw(mw) => write!(f, "{mw} MW"),
        }
    }
}

impl std::str::FromStr for Target {
    type Err = String;
    /// `90%` (or `90 %`) is a share of the peak; `12.5MW` / `12.5 mw` a cap.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        let lower = t.to_ascii_lowercase();
        let target = if let Some(num) = lower.strip_suffix('%') {
            Target::PercentOfPeak(parse_number(num, s)?)
        } else if let Some(num) = lower.strip_suffix("mw") {
            Target::CapMw(parse_number(num, s)?)
        } else {
            return Err(format!("cannot read target {s:?}: write a share of the peak (\"90%\") or a cap (\"12.5MW\")"));
        };
        target.validate()?;
        Ok(target)
    }
}

fn parse_number(num: &str, whole: &str) -> Result<f64, String> {
    num.trim().parse::<f64>().map_err(|_| format!("cannot read target {whole:?}: {:?} is not a number", num.trim()))
}

/// One time-of-use period: hours `[start_hour, end_hour)` of every day at one price.
/// A period may wrap midnight (`start_hour = 22, end_hour = 6`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TariffPeriod {
    pub name: String,
    pub start_hour: u32,
    pub end_hour: u32,
    pub price_per_mwh: f64,
}

impl TariffPeriod {
    pub fn contains(&self, hour: u32) -> bool {
        if self.start_hour <= self.end_hour {
            (self.start_hour..self.end_hour).contains(&hour)
        } else {
            hour >= self.start_hour || hour < self.end_hour
        }
    }
}

/// The tariff the cost scenarios are priced with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Tariff {
    /// Shown next to money figures; no conversion is made.
    pub currency: String,
    /// Energy price of every hour not in one of `periods`.
    pub energy_price_per_mwh: f64,
    /// Time-of-use periods (hours of the data's timestamps, i.e. UTC); the first matching wins.
    pub periods: Vec<TariffPeriod>,
    /// Charged per MW of each calendar month's highest hourly load (prorated for months
    /// the data covers only in part).
    pub demand_charge_per_mw_month: f64,
}

impl Default for Tariff {
    fn default() -> Self {
        Self {
            currency: "EUR".into(),
            energy_price_per_mwh: 80.0,
            periods: vec![
                TariffPeriod { name: "peak".into(), start_hour: 17, end_hour: 21, price_per_mwh: 160.0 },
                TariffPeriod { name: "night".into(), start_hour: 0, end_hour: 6, price_per_mwh: 50.0 },
            ],
            demand_charge_per_mw_month: 9_000.0,
        }
    }
}

impl Tariff {
    /// The energy price of each hour of the day (index 0..24).
    pub fn hourly_prices(&self) -> [f64; 24] {
        let mut prices = [self.energy_price_per_mwh; 24];
        for (hour, price) in prices.iter_mut().enumerate() {
            if let Some(p) = self.periods.iter().find(|p| p.contains(hour as u32)) {
                *price = p.price_per_mwh;
            }
        }
        prices
    }

    /// One line describing the tariff, for the assumptions of a cost figure.
    pub fn describe(&self) -> String {
        let mut parts = vec![format!("energy {} {}/MWh", self.energy_price_per_mwh, self.currency)];
        for p in &self.periods {
            parts.push(format!("{} {:02}-{:02} h {} {}/MWh", p.name, p.start_hour, p.end_hour, p.price_per_mwh, self.currency));
        }
        parts.push(format!("demand charge {} {}/MW-month", self.demand_charge_per_mw_month, self.currency));
        format!("tariff: {} (hours UTC)", parts.join(", "))
    }

    fn validate(&self) -> Result<(), String> {
        non_negative("tariff.energy_price_per_mwh", self.energy_price_per_mwh)?;
        non_negative("tariff.demand_charge_per_mw_month", self.demand_charge_per_mw_month)?;
        for p in &self.periods {
            let name = format!("tariff period {:?}", p.name);
            if p.start_hour > 23 || p.end_hour > 24 || p.start_hour == p.end_hour {
                return Err(format!(
                    "{name}: start_hour must be 0..=23 and end_hour 0..=24, and they must differ (got {}..{})",
                    p.start_hour, p.end_hour
                ));
            }
            non_negative(&format!("{name} price_per_mwh"), p.price_per_mwh)?;
        }
        Ok(())
    }
}

/// Battery characteristics and costs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BatteryConfig {
    /// Round-trip efficiency (0 < η <= 1); all losses are counted when charging.
    pub round_trip_efficiency: f64,
    /// Charging power limit as a share of the battery's power rating (the rating is the
    /// largest discharge the cap needs); 1.0 = the inverter rating both ways.
    pub charge_power_ratio: f64,
    /// Installed cost per MW of power rating.
    pub cost_per_mw: f64,
    /// Installed cost per MWh of usable energy.
    pub cost_per_mwh: f64,
}

impl Default for BatteryConfig {
    fn default() -> Self {
        Self { round_trip_efficiency: 0.9, charge_power_ratio: 1.0, cost_per_mw: 300_000.0, cost_per_mwh: 250_000.0 }
    }
}

/// The whole `[optimize]` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OptimizeConfig {
    /// Peak-shaving targets in percent of the current peak, used when the command names none.
    pub targets_percent: Vec<f64>,
    pub battery: BatteryConfig,
    /// Load shifting: at most this share of a peak hour's load is flexible (0..=1).
    pub flexible_share: f64,
    /// Renewable hosting: at most this share of the renewable energy may flow back (0..1).
    pub reverse_flow_limit_share: f64,
    pub tariff: Tariff,
}

impl Default for OptimizeConfig {
    fn default() -> Self {
        Self {
            targets_percent: vec![95.0, 90.0, 85.0],
            battery: BatteryConfig::default(),
            flexible_share: 0.1,
            reverse_flow_limit_share: 0.01,
            tariff: Tariff::default(),
        }
    }
}

fn non_negative(name: &str, v: f64) -> Result<(), String> {
    if v.is_finite() && v >= 0.0 { Ok(()) } else { Err(format!("{name} must be a number >= 0, got {v}")) }
}

impl OptimizeConfig {
    /// The configured targets as [`Target`]s.
    pub fn targets(&self) -> Vec<Target> {
        self.targets_percent.iter().map(|&p| Target::PercentOfPeak(p)).collect()
    }

    /// Checks every value; the error names the key.
    pub fn validate(&self) -> Result<(), String> {
        for &p in &self.targets_percent {
            Target::PercentOfPeak(p).validate().map_err(|e| format!("targets_percent: {e}"))?;
        }
        let b = &self.battery;
        if !(b.round_trip_efficiency.is_finite() && b.round_trip_efficiency > 0.0 && b.round_trip_efficiency <= 1.0) {
            return Err(format!("battery.round_trip_efficiency must be within (0, 1], got {}", b.round_trip_efficiency));
        }
        if !(b.charge_power_ratio.is_finite() && b.charge_power_ratio > 0.0) {
            return Err(format!("battery.charge_power_ratio must be a positive number, got {}", b.charge_power_ratio));
        }
        non_negative("battery.cost_per_mw", b.cost_per_mw)?;
        non_negative("battery.cost_per_mwh", b.cost_per_mwh)?;
        if !(0.0..=1.0).contains(&self.flexible_share) {
            return Err(format!("flexible_share must be within 0..=1, got {}", self.flexible_share));
        }
        if !(0.0..1.0).contains(&self.reverse_flow_limit_share) {
            return Err(format!("reverse_flow_limit_share must be within 0..1, got {}", self.reverse_flow_limit_share));
        }
        self.tariff.validate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_and_reject_nonsense() {
        assert_eq!("90%".parse::<Target>(), Ok(Target::PercentOfPeak(90.0)));
        assert_eq!(" 87.5 % ".parse::<Target>(), Ok(Target::PercentOfPeak(87.5)));
        assert_eq!("12.5MW".parse::<Target>(), Ok(Target::CapMw(12.5)));
        assert_eq!("3 mw".parse::<Target>(), Ok(Target::CapMw(3.0)));
        for bad in ["90", "0%", "120%", "-3MW", "abc%", "NaN%", "inf MW"] {
            assert!(bad.parse::<Target>().is_err(), "{bad} should be rejected");
        }
        assert_eq!(Target::PercentOfPeak(90.0).cap_mw(50.0), 45.0);
    }

    #[test]
    fn tariff_periods_wrap_midnight_and_first_match_wins() {
        let t = Tariff {
            energy_price_per_mwh: 10.0,
            periods: vec![
                TariffPeriod { name: "late".into(), start_hour: 22, end_hour: 2, price_per_mwh: 1.0 },
                TariffPeriod { name: "overlap".into(), start_hour: 1, end_hour: 3, price_per_mwh: 5.0 },
            ],
            ..Tariff::default()
        };
        let p = t.hourly_prices();
        assert_eq!((p[21], p[22], p[23], p[0], p[1], p[2], p[3]), (10.0, 1.0, 1.0, 1.0, 1.0, 5.0, 10.0));
    }

    #[test]
    fn validation_names_the_key() {
        let mut c = OptimizeConfig::default();
        assert_eq!(c.validate(), Ok(()));
        c.battery.round_trip_efficiency = 1.2;
        assert!(c.validate().unwrap_err().contains("round_trip_efficiency"));
        let mut c = OptimizeConfig::default();
        c.tariff.periods[0].end_hour = 25;
        assert!(c.validate().unwrap_err().contains("\"peak\""));
        let c = OptimizeConfig { reverse_flow_limit_share: 1.0, ..OptimizeConfig::default() };
        assert!(c.validate().unwrap_err().contains("reverse_flow_limit_share"));
        let c = OptimizeConfig { targets_percent: vec![90.0, 0.0], ..OptimizeConfig::default() };
        assert!(c.validate().unwrap_err().contains("targets_percent"));
    }
}
