//! The data model shared by the dashboard, the local backend and the Lambda.
//!
//! Field names of [`HourlyRollup`] are the DynamoDB attribute names of the seed
//! (`load_avg_mw`, `load_peak_mw`, `renewable_penetration`, `voltage_avg_kv`,
//! `frequency_avg_hz`, `stability_score`, `efficiency_score`, `alert_status`).

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

/// One sensor reading of one substation (one row of an uploaded file).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reading {
    pub timestamp: DateTime<Utc>,
    pub location: String,
    pub load_mw: f64,
    pub generation_mw: f64,
    pub voltage_kv: f64,
    pub frequency_hz: f64,
    pub solar_mw: f64,
    pub wind_mw: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub power_factor: Option<f64>,
}

/// Status of an hour, a substation or a file (the seed's three levels).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum AlertStatus {
    #[default]
    Normal,
    Warning,
    Critical,
}

impl AlertStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertStatus::Normal => "normal",
            AlertStatus::Warning => "warning",
            AlertStatus::Critical => "critical",
        }
    }
}

impl fmt::Display for AlertStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for AlertStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "normal" => Ok(AlertStatus::Normal),
            "warning" => Ok(AlertStatus::Warning),
            "critical" => Ok(AlertStatus::Critical),
            other => Err(format!("unknown alert status {other:?} (expected normal, warning or critical)")),
        }
    }
}

/// Priority of an alarm (ISA-18.2): what the operator attends to first. The hour,
/// substation and file status is derived from it (see [`Priority::status`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    #[default]
    Low,
    Medium,
    High,
    Critical,
}

impl Priority {
    pub const ALL: [Priority; 4] = [Priority::Low, Priority::Medium, Priority::High, Priority::Critical];
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Low => "low",
            Priority::Medium => "medium",
            Priority::High => "high",
            Priority::Critical => "critical",
        }
    }
    /// The seed's three-level status: low and medium alarms make a "warning", high and
    /// critical ones a "critical" hour, substation or file.
    pub fn status(self) -> AlertStatus {
        match self {
            Priority::Low | Priority::Medium => AlertStatus::Warning,
            Priority::High | Priority::Critical => AlertStatus::Critical,
        }
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Priority {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Priority::ALL
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| format!("unknown priority {s:?} (expected low, medium, high or critical)"))
    }
}

/// What an alarm is about. The limits, priorities, deadbands and delays of each rule
/// live in one table: [`crate::analysis::rules`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertRule {
    /// Voltage below the low limit (13.5 kV by default).
    Undervoltage,
    /// Voltage above the high limit (14.1 kV by default).
    Overvoltage,
    /// |f - f_nom| above the limit (0.05 Hz by default).
    FrequencyDeviation,
    /// Load above 95 % of generation.
    Overload,
    /// Stability score below 0.85.
    LowStability,
    /// Data quality: the substation stopped reporting (no reading for several intervals).
    NoData,
    /// Data quality: a file whose share of rejected rows is above the limit.
    RejectedRows,
}

impl AlertRule {
    pub const ALL: [AlertRule; 7] = [
        AlertRule::Undervoltage,
        AlertRule::Overvoltage,
        AlertRule::FrequencyDeviation,
        AlertRule::Overload,
        AlertRule::LowStability,
        AlertRule::NoData,
        AlertRule::RejectedRows,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            AlertRule::Undervoltage => "undervoltage",
            AlertRule::Overvoltage => "overvoltage",
            AlertRule::FrequencyDeviation => "frequency_deviation",
            AlertRule::Overload => "overload",
            AlertRule::LowStability => "low_stability",
            AlertRule::NoData => "no_data",
            AlertRule::RejectedRows => "rejected_rows",
        }
    }
    pub fn unit(self) -> &'static str {
        match self {
            AlertRule::Undervoltage | AlertRule::Overvoltage => "kV",
            AlertRule::FrequencyDeviation => "Hz",
            AlertRule::NoData => "min",
            AlertRule::Overload | AlertRule::LowStability | AlertRule::RejectedRows => "",
        }
    }
}

impl fmt::Display for AlertRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for AlertRule {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AlertRule::ALL.into_iter().find(|r| r.as_str() == s.trim()).ok_or_else(|| {
            let names: Vec<&str> = AlertRule::ALL.iter().map(|r| r.as_str()).collect();
            format!("unknown alarm rule {s:?} (expected one of {})", names.join(", "))
        })
    }
}

/// An alarm episode: one activation of one rule at one substation, from the moment the
/// condition began until it returned to normal (past the deadband, for the off-delay).
///
/// Its identity is (location, rule, started_at): re-analysing the same data yields
/// the same id, which is what makes notifications idempotent; a condition that goes on
/// in the next file keeps its `started_at`, so it stays the same alarm.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub location: String,
    pub rule: AlertRule,
    /// The highest priority reached in the episode (escalation bands raise it).
    pub priority: Priority,
    /// When the condition began (the first reading beyond the limit).
    pub started_at: DateTime<Utc>,
    /// When the alarm was raised: the condition had lasted for the rule's on-delay.
    pub activated_at: DateTime<Utc>,
    /// The last reading beyond the limit so far.
    pub ended_at: DateTime<Utc>,
    /// Still in alarm at the end of the data analysed (not returned to normal yet).
    #[serde(default)]
    pub active: bool,
    /// The worst value seen in the episode (lowest voltage, highest deviation, ...).
    pub worst_value: f64,
    pub threshold: f64,
    /// Number of readings beyond the limit in the episode.
    pub samples: u64,
    /// This activation made the rule chatter (too many activations in the window): the
    /// rule is shelved automatically until `shelved_until`, and this is the one notice.
    #[serde(default)]
    pub chattering: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shelved_until: Option<DateTime<Utc>>,
    pub message: String,
}

impl Alert {
    /// Stable identifier, used as the store's sort key suffix and for de-duplication.
    pub fn id(&self) -> String {
        format!("{}#{}#{}", self.location, self.rule, crate::model::format_ts(self.started_at))
    }
    /// The seed's status level of this alarm.
    pub fn status(&self) -> AlertStatus {
        self.priority.status()
    }
}

/// Hourly rollup of one substation: the item the store keeps per (location, hour).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HourlyRollup {
    pub location: String,
    /// Start of the hour (UTC); the store's sort key.
    pub timestamp: DateTime<Utc>,
    pub count: u64,
    pub load_avg_mw: f64,
    pub load_min_mw: f64,
    pub load_peak_mw: f64,
    pub generation_avg_mw: f64,
    pub solar_avg_mw: f64,
    pub wind_avg_mw: f64,
    /// Renewable energy / generation energy over the hour (0 when nothing was generated).
    pub renewable_penetration: f64,
    pub voltage_avg_kv: f64,
    pub voltage_min_kv: f64,
    pub voltage_max_kv: f64,
    pub frequency_avg_hz: f64,
    pub frequency_min_hz: f64,
    pub frequency_max_hz: f64,
    /// Largest |f - f_nom| of any reading in the hour.
    pub frequency_max_dev_hz: f64,
    pub power_factor_avg: f64,
    /// Readings whose power factor was missing and took the default.
    pub power_factor_defaulted: u64,
    pub stability_score: f64,
    pub efficiency_score: f64,
    pub alert_status: AlertStatus,
    #[serde(default)]
    pub alert_reasons: Vec<String>,
}

/// One hour of the 24 h load forecast.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForecastPoint {
    pub location: String,
    pub timestamp: DateTime<Utc>,
    pub load_mw: f64,
}

/// A daily peak: the largest load of one UTC day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DailyPeak {
    pub date: NaiveDate,
    pub timestamp: DateTime<Utc>,
    pub load_mw: f64,
}

/// avg / min / max / sample standard deviation of one quantity.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
pub struct Spread {
    pub avg: f64,
    pub min: f64,
    pub max: f64,
    pub std: f64,
}

/// The per-file, per-substation summary (the seed's analysis JSON, made precise).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LocationSummary {
    pub location: String,
    pub rows: u64,
    pub first_timestamp: DateTime<Utc>,
    pub last_timestamp: DateTime<Utc>,
    /// The sampling interval found in the data (most common gap between readings).
    pub interval_minutes: f64,
    /// True when the file had fewer than two readings and the interval is the configured fallback.
    pub interval_assumed: bool,
    pub load_mw: Spread,
    pub peak_load_time: DateTime<Utc>,
    pub generation_avg_mw: f64,
    pub generation_mwh: f64,
    pub solar_mwh: f64,
    pub wind_mwh: f64,
    pub renewable_penetration: f64,
    pub voltage_kv: Spread,
    pub frequency_hz: Spread,
    pub frequency_max_dev_hz: f64,
    pub power_factor_avg: f64,
    /// Rows that had no power factor and took `default_power_factor`.
    pub power_factor_defaulted_rows: u64,
    pub stability_score: f64,
    pub efficiency_score: f64,
    /// Average load / peak load.
    pub load_factor: f64,
    pub daily_peaks: Vec<DailyPeak>,
    /// The seed's "peak load / average generation" (a number, not a status: it compares a
    /// peak with a mean, so it is above 1 on most real days).
    #[serde(default)]
    pub peak_load_to_avg_generation: f64,
    /// The worst priority among the alarms active in the file, as a status.
    pub alert_status: AlertStatus,
    /// The rules that were in alarm in the file, worst first.
    pub status_reasons: Vec<String>,
    /// Alarm episodes active in the file, at most `max_alerts_per_location` (all are stored).
    pub alerts: Vec<Alert>,
    /// Alarm episodes beyond `max_alerts_per_location`: stored, counted here, not listed.
    pub alerts_dropped: u64,
}

/// A row that could not be used, with where and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RejectedRow {
    /// 1-based line number in the (decompressed) file.
    pub line: u64,
    /// The offending field, or `"row"` when the row as a whole is wrong.
    pub field: String,
    pub reason: String,
    /// The raw row text (lossy UTF-8), so the user can fix and re-upload it.
    pub raw: String,
}

/// Everything the analysis of one file produced, minus the hourly rollups
/// (those stream out while the file is read).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileReport {
    /// Where the data came from (object key or path).
    pub source: String,
    pub format: String,
    pub rows_read: u64,
    pub rows_accepted: u64,
    pub rows_rejected: u64,
    /// Set when the file could not be read at all (e.g. no header, missing column).
    pub file_error: Option<String>,
    pub locations: Vec<LocationSummary>,
    /// Alarms about the file itself (too many rejected rows); the location is the file.
    #[serde(default)]
    pub file_alerts: Vec<Alert>,
    pub forecasts: Vec<ForecastPoint>,
    pub config: crate::config::AnalysisConfig,
}

impl FileReport {
    pub fn alert_status(&self) -> AlertStatus {
        let files = self.file_alerts.iter().map(|a| a.status());
        self.locations.iter().map(|l| l.alert_status).chain(files).max().unwrap_or_default()
    }
    /// The alarms listed in the report (bounded per substation; every alarm is stored).
    pub fn alerts(&self) -> impl Iterator<Item = &Alert> {
        self.locations.iter().flat_map(|l| l.alerts.iter()).chain(self.file_alerts.iter())
    }
}

/// The latest known state of one substation: what the overview lists.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubstationState {
    pub location: String,
    /// Timestamp of the newest reading analysed.
    pub last_reading: DateTime<Utc>,
    /// The newest hourly rollup.
    pub latest: HourlyRollup,
    /// When the newest analysis finished (wall clock).
    pub updated_at: DateTime<Utc>,
    /// The raw object the newest analysis read (what `reprocess` re-reads).
    pub source_key: String,
}

/// RFC 3339 with a `Z` and whole seconds: the one timestamp format of keys and files.
pub fn format_ts(ts: DateTime<Utc>) -> String {
    match ts_digits(ts) {
        Some(digits) => digits.as_str().to_string(),
        None => ts.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    }
}

/// [`format_ts`]'s text of a four-digit year, written without chrono's formatter and
/// without allocating (the hot paths: a rollup's key in SQLite, its Athena line).
/// Sub-second parts are dropped as in [`format_ts`]; `None` outside years 1000..=9999 and
/// for a leap second (chrono writes its `:60`).
pub fn ts_digits(ts: DateTime<Utc>) -> Option<TsDigits> {
    use chrono::{Datelike, Timelike};
    if ts.nanosecond() >= 1_000_000_000 {
        return None;
    }
    let year = u32::try_from(ts.year()).ok().filter(|y| (1000..=9999).contains(y))?;
    let mut out = *b"0000-00-00T00:00:00Z";
    let mut two = |at: usize, v: u32| {
        out[at] = b'0' + (v / 10) as u8;
        out[at + 1] = b'0' + (v % 10) as u8;
    };
    two(0, year / 100);
    two(2, year % 100);
    two(5, ts.month());
    two(8, ts.day());
    two(11, ts.hour());
    two(14, ts.minute());
    two(17, ts.second());
    Some(TsDigits(out))
}

/// The 20 ASCII bytes of a [`ts_digits`] timestamp.
#[derive(Clone, Copy)]
pub struct TsDigits([u8; 20]);

impl TsDigits {
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("ASCII digits and separators")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    proptest::proptest! {
        /// The hand-written timestamp text is chrono's, for every year the engine accepts.
        #[test]
        fn timestamps_are_formatted_as_chrono_formats_them(secs in -62_135_596_800i64..253_402_300_799, nanos in 0u32..1_000_000_000) {
            let ts = Utc.timestamp_opt(secs, nanos).single().expect("in range");
            proptest::prop_assert_eq!(format_ts(ts), ts.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
        }
    }

    #[test]
    fn four_digit_years_only_take_the_fast_path() {
        let at = |y, m, d| Utc.with_ymd_and_hms(y, m, d, 23, 59, 58).single().expect("valid");
        assert_eq!(ts_digits(at(2024, 2, 29)).map(|t| t.as_str().to_string()).as_deref(), Some("2024-02-29T23:59:58Z"));
        assert_eq!(ts_digits(at(1000, 1, 1)).map(|t| t.as_str().to_string()).as_deref(), Some("1000-01-01T23:59:58Z"));
        assert!(ts_digits(at(999, 12, 31)).is_none());
        assert_eq!(format_ts(at(999, 12, 31)), "0999-12-31T23:59:58Z");
        let leap = DateTime::parse_from_rfc3339("2016-12-31T23:59:60Z").expect("a leap second").with_timezone(&Utc);
        assert!(ts_digits(leap).is_none());
        assert_eq!(format_ts(leap), leap.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    }
}
