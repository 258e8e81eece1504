//! The single-table item design shared by the local SQLite table and DynamoDB, and the
//! step that turns one analysed file into the items to write.
//!
//! One table keyed by (`location`, `timestamp`):
//! - hourly rollups: sort key = hour start (`2025-01-14T12:00:00Z`),
//! - the forecast: `F#next`, all its hours in one item (`F#2025-01-15T00:00:00Z` per hour before),
//! - alert episodes: `A#<rule>#<started_at>`,
//! - the substation index: partition [`INDEX_PARTITION`], sort key = location, item =
//!   the latest [`SubstationState`]. Listing substations with their latest state is one
//!   Query of that partition, whatever the size of the table.
//!
//! Hour keys start with a digit and the other kinds with a letter, so a key range of
//! hours (`BETWEEN "2025-01-14T00:00:00Z" AND ...`) never meets a forecast or alert item.
//!
//! The local pipeline and the Lambda both call [`plan_writes`] after streaming a file,
//! so they store the same items for the same input.

use crate::backend::LogLevel;
use crate::model::{format_ts, Alert, AlertRule, FileReport, ForecastPoint, HourlyRollup, Priority, SubstationState};
use crate::store::notice::Announcement;
use chrono::{DateTime, Duration, Utc};
use std::collections::BTreeMap;

pub const INDEX_PARTITION: &str = "#index";
pub const FORECAST_PREFIX: &str = "F#";
/// The sort key of a substation's forecast: one item with all its hours (versions before
/// it wrote one item per hour, `F#<hour>`; those are still read and are removed on the next
/// write).
pub const FORECAST_KEY: &str = "F#next";
pub const ALERT_PREFIX: &str = "A#";
/// Alarm checkpoints: `C#<as_of>` in the substation's partition.
pub const CHECKPOINT_PREFIX: &str = "C#";
/// Checkpoints older than this (before the newest) are pruned: files older than that
/// start from normal when reprocessed.
pub const CHECKPOINT_RETENTION_DAYS: i64 = 14;

/// Days of stored rollups the forecast reads before a file's first hour (8 weeks:
/// most of the forecast's measured gain over the baselines needs that much; docs/forecast.md).
pub const FORECAST_HISTORY_DAYS: i64 = 56;

pub fn rollup_sort_key(hour: DateTime<Utc>) -> String {
    format_ts(hour)
}

pub fn forecast_sort_key(hour: DateTime<Utc>) -> String {
    format!("{FORECAST_PREFIX}{}", format_ts(hour))
}

/// The alarms a file has now, per substation: what
/// [`super::ResultsTable::retire_source`] keeps of an earlier version's claims. An alarm's
/// key ([`alert_sort_key`]) is its rule and its start to the second, held as such: about
/// 25 bytes an alarm where the key strings took 110, and a long noisy file has hundreds of
/// thousands of alarms.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct AlarmKeys(BTreeMap<String, std::collections::BTreeSet<(AlertRule, i64)>>);

impl AlarmKeys {
    pub fn insert(&mut self, a: &Alert) {
        let key = (a.rule, a.started_at.timestamp());
        match self.0.get_mut(a.location.as_str()) {
            Some(keys) => {
                keys.insert(key);
            }
            None => {
                self.0.insert(a.location.clone(), [key].into());
            }
        }
    }

    /// Whether the alarm stored under (`location`, `sort_key`) is kept. A sort key this
    /// code did not write is kept too: taking a claim back deletes data.
    pub fn contains(&self, location: &str, sort_key: &str) -> bool {
        let Some(key) = parse_alert_sort_key(sort_key) else { return true };
        self.0.get(location).is_some_and(|keys| keys.contains(&key))
    }

    /// Whether `sort_key` is exactly the key this code writes for a kept alarm of `location`
    /// (what a listing of the kept alarms holds; a key [`AlarmKeys::contains`] keeps only
    /// because it cannot read it is not).
    pub fn lists(&self, location: &str, sort_key: &str) -> bool {
        parse_alert_sort_key(sort_key).is_some_and(|(rule, start)| {
            self.0.get(location).is_some_and(|keys| keys.contains(&(rule, start))) && canonical_alert_key(rule, start) == sort_key
        })
    }

    /// Every kept alarm as (substation, [`alert_sort_key`]).
    pub fn iter(&self) -> impl Iterator<Item = (&str, String)> {
        self.0.iter().flat_map(|(location, keys)| {
            keys.iter().map(move |&(rule, start)| (location.as_str(), canonical_alert_key(rule, start)))
        })
    }

    pub fn len(&self) -> usize {
        self.0.values().map(|keys| keys.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The [`alert_sort_key`] of an alarm of `rule` started at second `start`.
fn canonical_alert_key(rule: AlertRule, start: i64) -> String {
    let start = DateTime::from_timestamp(start, 0).unwrap_or_default();
    format!("{ALERT_PREFIX}{rule}#{}", format_ts(start))
}

/// (rule, start second) of an [`alert_sort_key`].
fn parse_alert_sort_key(sort_key: &str) -> Option<(AlertRule, i64)> {
    let (rule, start) = sort_key.strip_prefix(ALERT_PREFIX)?.split_once('#')?;
    Some((rule.parse().ok()?, DateTime::parse_from_rfc3339(start).ok()?.timestamp()))
}

pub fn alert_sort_key(a: &Alert) -> String {
    format!("{ALERT_PREFIX}{}#{}", a.rule, format_ts(a.started_at))
}

pub fn checkpoint_sort_key(as_of: DateTime<Utc>) -> String {
    format!("{CHECKPOINT_PREFIX}{}", format_ts(as_of))
}

/// Keeps the newest hourly rollup of every substation while a file streams by.
#[derive(Debug, Default, Clone)]
pub struct LatestRollups(BTreeMap<String, HourlyRollup>);

impl LatestRollups {
    /// Notes the newest rollup per substation of a batch (one clone per substation, not per rollup).
    pub fn observe(&mut self, batch: &[HourlyRollup]) {
        let mut newest: BTreeMap<&str, &HourlyRollup> = BTreeMap::new();
        for r in batch {
            let slot = newest.entry(r.location.as_str()).or_insert(r);
            if slot.timestamp <= r.timestamp {
                *slot = r;
            }
        }
        for (location, r) in newest {
            if self.0.get(location).is_none_or(|l| l.timestamp <= r.timestamp) {
                self.0.insert(location.to_string(), r.clone());
            }
        }
    }
    pub fn get(&self, location: &str) -> Option<&HourlyRollup> {
        self.0.get(location)
    }
}

/// Which substations of a source's listing one run answers for when it takes back what an
/// earlier version fed ([`super::ResultsTable::retire_source`]). A whole object answers for
/// all; a shard of the Lambda's fan-out only for its own substations (the others are its
/// sibling invocations'), and the file's own data-quality alarm — whose location is the
/// object's key — is the fan-in's.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum ListingScope {
    #[default]
    Whole,
    /// The substations of one shard of `source`, not the file's own alarm.
    Shard { shard: crate::analysis::ingest::ShardFilter, source: String },
    /// Only the file's own alarm of `source` (the fan-in, after every shard is stored).
    FileAlarm { source: String },
}

impl ListingScope {
    /// Whether this run answers for the listing entries of `location`.
    pub fn owns(&self, location: &str) -> bool {
        match self {
            ListingScope::Whole => true,
            ListingScope::Shard { shard, source } => location != source && shard.owns(Some(location)),
            ListingScope::FileAlarm { source } => location == source,
        }
    }
}

/// The hours one source fed, per substation, as runs of consecutive hours (rollups of a
/// substation arrive in time order, so this stays small whatever the file size). After a
/// file, the store drops what the source fed before but no longer does (an overwrite, a
/// new version of the object).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct SourceHours(BTreeMap<String, Vec<HourRun>>);

/// Consecutive hours `[start, end)`.
type HourRun = (DateTime<Utc>, DateTime<Utc>);

impl SourceHours {
    pub fn observe(&mut self, batch: &[HourlyRollup]) {
        for r in batch {
            let runs = self.0.entry(r.location.clone()).or_default();
            match runs.last_mut() {
                Some((_, end)) if *end == r.timestamp => *end = r.timestamp + Duration::hours(1),
                _ => {
                    runs.push((r.timestamp, r.timestamp + Duration::hours(1)));
                    // Out of time order (another caller): keep the runs sorted.
                    if runs.len() > 1 && runs[runs.len() - 2].0 > r.timestamp {
                        runs.sort();
                    }
                }
            }
        }
    }
    /// Whether the source fed this substation-hour.
    pub fn contains(&self, location: &str, hour: DateTime<Utc>) -> bool {
        self.0.get(location).is_some_and(|runs| {
            let i = runs.partition_point(|(start, _)| *start <= hour);
            i > 0 && hour < runs[i - 1].1
        })
    }
    /// Whether the source fed every hour of `[first, end)` at this substation: then nothing
    /// it fed there before is stale, and taking back what it no longer feeds reads nothing
    /// (a retry, or a new version that only adds hours). Hours split over two runs count as
    /// not covered: the caller reads, as it would without this.
    pub fn covers(&self, location: &str, first: DateTime<Utc>, end: DateTime<Utc>) -> bool {
        self.0.get(location).is_some_and(|runs| {
            let i = runs.partition_point(|(start, _)| *start <= first);
            i > 0 && end <= runs[i - 1].1
        })
    }
    /// The first and the end of the hours fed at one substation (as [`SourceHours::spans`]).
    pub fn span(&self, location: &str) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        let runs = self.0.get(location)?;
        Some((runs.first()?.0, runs.iter().map(|r| r.1).max()?))
    }
    /// Each substation with the first and the end of its hours.
    pub fn spans(&self) -> impl Iterator<Item = (&str, DateTime<Utc>, DateTime<Utc>)> {
        self.0.keys().filter_map(|l| self.span(l).map(|(first, end)| (l.as_str(), first, end)))
    }
}

fn hour_floor(ts: DateTime<Utc>) -> DateTime<Utc> {
    ts - Duration::seconds(ts.timestamp().rem_euclid(3600))
}

/// The stored history each substation's forecast reads: `[first_hour - FORECAST_HISTORY_DAYS, first_hour)`.
/// History ends where the file's data starts (the engine adds the file's own hours), so
/// reprocessing an old file does not forecast from its future.
pub fn history_windows(report: &FileReport) -> BTreeMap<String, (DateTime<Utc>, DateTime<Utc>)> {
    report
        .locations
        .iter()
        .map(|l| {
            let first = hour_floor(l.first_timestamp);
            (l.location.clone(), (first - Duration::days(FORECAST_HISTORY_DAYS), first))
        })
        .collect()
}

/// Everything one analysed file writes besides the rollups (which stream out while it is read).
#[derive(Debug, Clone, PartialEq)]
pub struct WritePlan {
    /// The new forecast of each substation in the file (replaces the stored one if newer).
    pub forecasts: BTreeMap<String, Vec<ForecastPoint>>,
    /// Index items, each written only if no newer state is stored.
    pub states: Vec<SubstationState>,
}

/// Turns a finished report (forecasts attached) into the items to write.
pub fn plan_writes(report: &FileReport, latest: &LatestRollups, source_key: &str, now: DateTime<Utc>) -> WritePlan {
    let mut forecasts: BTreeMap<String, Vec<ForecastPoint>> = BTreeMap::new();
    for summary in &report.locations {
        forecasts.entry(summary.location.clone()).or_default();
    }
    for p in &report.forecasts {
        forecasts.entry(p.location.clone()).or_default().push(p.clone());
    }
    let states = report
        .locations
        .iter()
        .filter_map(|summary| {
            latest.get(&summary.location).map(|rollup| SubstationState {
                location: summary.location.clone(),
                last_reading: summary.last_timestamp,
                latest: rollup.clone(),
                updated_at: now,
                source_key: source_key.to_string(),
            })
        })
        .collect();
    WritePlan { forecasts, states }
}

/// The log lines describing one processed object (same wording locally and on AWS).
pub fn outcome_log_lines(
    key: &str,
    report: &FileReport,
    rollups: u64,
    announcement: &Announcement,
    new_alerts: &[&Alert],
    (suppressed, suppressed_count): (&[&Alert], u64),
    took: std::time::Duration,
) -> Vec<(LogLevel, String)> {
    let mut lines = Vec::new();
    if let Some(err) = &report.file_error {
        lines.push((LogLevel::Error, format!("{key}: {err}")));
    }
    lines.push((
        LogLevel::Info,
        format!(
            "processed {key}: {} rows ({} rejected), {} substation(s), {rollups} hourly rollups, status {} in {:.0} ms",
            report.rows_read,
            report.rows_rejected,
            report.locations.len(),
            report.alert_status(),
            took.as_secs_f64() * 1000.0
        ),
    ));
    if report.rows_rejected > 0 {
        lines.push((
            LogLevel::Warn,
            format!("{key}: {} row(s) rejected, see {}", report.rows_rejected, crate::store::object_keys::rejected_key(key)),
        ));
    }
    match announcement {
        Announcement::Digest(d) => {
            let per: Vec<String> = d
                .counts
                .iter()
                .take(10)
                .map(|(loc, rules)| format!("{loc} {}", rules.iter().map(|(r, n)| format!("{r}×{n}")).collect::<Vec<_>>().join(" ")))
                .collect();
            let more = d.counts.len().saturating_sub(10);
            lines.push((
                alert_level(d.highest_priority),
                format!(
                    "ALARM DIGEST {}{} new alarms, highest {}: {}{}",
                    if d.flood { "(FLOOD) " } else { "" },
                    d.alarms,
                    d.highest_priority,
                    per.join("; "),
                    if more > 0 { format!("; and {more} more substation(s)") } else { String::new() }
                ),
            ));
        }
        Announcement::Each(_) => {
            for alert in new_alerts.iter().filter(|a| !suppressed.contains(a)) {
                lines.push((alert_level(alert.priority), alert_log_message(alert)));
            }
        }
        Announcement::None => {}
    }
    for alert in suppressed {
        lines.push((LogLevel::Info, format!("suppressed (shelved or out of service): {}", alert_log_message(alert))));
    }
    let unlisted = suppressed_count.saturating_sub(suppressed.len() as u64);
    if unlisted > 0 {
        lines.push((LogLevel::Info, format!("suppressed (shelved or out of service): {unlisted} more new alarms of {key}")));
    }
    lines
}

pub fn alert_level(priority: Priority) -> LogLevel {
    match priority {
        Priority::Critical | Priority::High => LogLevel::Error,
        Priority::Medium => LogLevel::Warn,
        Priority::Low => LogLevel::Info,
    }
}

pub fn alert_log_message(alert: &Alert) -> String {
    let chatter = if alert.chattering { " (chattering, shelved)" } else { "" };
    format!("ALARM {} {}{chatter}: {}", alert.priority.as_str().to_uppercase(), alert.rule, alert.message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::AnalysisConfig;
    use crate::analysis::engine::{analyze_stream, attach_forecasts, CollectSink};

    fn rollup_at(location: &str, hour: i64) -> HourlyRollup {
        serde_json::from_value(serde_json::json!({
            "location": location, "timestamp": DateTime::from_timestamp(1_736_812_800 + hour * 3600, 0).unwrap(),
            "count": 4, "load_avg_mw": 1.0, "load_min_mw": 1.0, "load_peak_mw": 1.0, "generation_avg_mw": 1.0,
            "solar_avg_mw": 0.0, "wind_avg_mw": 0.0, "renewable_penetration": 0.0, "voltage_avg_kv": 13.8,
            "voltage_min_kv": 13.8, "voltage_max_kv": 13.8, "frequency_avg_hz": 60.0, "frequency_min_hz": 60.0,
            "frequency_max_hz": 60.0, "frequency_max_dev_hz": 0.0, "power_factor_avg": 0.95,
            "power_factor_defaulted": 0, "stability_score": 1.0, "efficiency_score": 1.0, "alert_status": "normal"
        }))
        .unwrap()
    }

    proptest::proptest! {
        /// `covers` says yes only when every hour of the span was fed, and (hours fed in time
        /// order, as the engine hands them out) whenever they were.
        #[test]
        fn source_hours_cover_a_span_when_every_hour_of_it_was_fed(
            fed in proptest::collection::btree_set(0i64..40, 0..40),
            shuffled in proptest::bool::ANY,
        ) {
            let mut rollups: Vec<HourlyRollup> = fed.iter().map(|&h| rollup_at("s1", h)).collect();
            if shuffled {
                rollups.reverse();
            }
            let mut hours = SourceHours::default();
            for r in &rollups {
                hours.observe(std::slice::from_ref(r));
            }
            let at = |h: i64| DateTime::from_timestamp(1_736_812_800 + h * 3600, 0).unwrap();
            for first in 0..42 {
                for end in first + 1..43 {
                    let every = (first..end).all(|h| fed.contains(&h));
                    let covers = hours.covers("s1", at(first), at(end));
                    proptest::prop_assert!(!covers || every, "{first}..{end} said covered: {hours:?}");
                    if !shuffled {
                        proptest::prop_assert_eq!(covers, every, "{}..{}", first, end);
                    }
                    proptest::prop_assert!(!hours.covers("s2", at(first), at(end)));
                }
            }
        }
    }

    #[test]
    fn alarm_keys_hold_what_the_sort_keys_say() {
        let alert = |location: &str, rule: &str, started: &str| -> Alert {
            serde_json::from_value(serde_json::json!({
                "location": location, "rule": rule, "priority": "high", "started_at": started,
                "activated_at": started, "ended_at": started, "worst_value": 1.0, "threshold": 1.0,
                "samples": 1, "message": "m"
            }))
            .unwrap()
        };
        let alarms = [
            alert("a", "undervoltage", "2025-01-14T10:00:00Z"),
            alert("a", "overvoltage", "2025-01-14T10:00:00Z"),
            alert("a", "undervoltage", "2025-01-14T10:00:00.750Z"), // the same key: seconds
            alert("b #2", "frequency_deviation", "1969-07-20T20:17:40Z"),
            alert("b #2", "no_data", "9998-12-31T23:59:59Z"),
        ];
        let mut keys = AlarmKeys::default();
        for a in &alarms {
            keys.insert(a);
        }
        let expected: std::collections::BTreeSet<(String, String)> =
            alarms.iter().map(|a| (a.location.clone(), alert_sort_key(a))).collect();
        let listed: std::collections::BTreeSet<(String, String)> = keys.iter().map(|(l, k)| (l.to_string(), k)).collect();
        assert_eq!(listed, expected);
        assert_eq!(keys.len(), 4);
        for (location, key) in &expected {
            assert!(keys.contains(location, key), "{location} {key}");
        }
        assert!(!keys.contains("a", "A#undervoltage#2025-01-14T10:00:01Z"), "another second");
        assert!(!keys.contains("a", "A#no_data#2025-01-14T10:00:00Z"), "another rule");
        assert!(!keys.contains("c", "A#undervoltage#2025-01-14T10:00:00Z"), "another substation");
        assert!(keys.contains("a", "A#not a rule#2025-01-14T10:00:00Z"), "a key not written here is kept");
        assert!(keys.contains("a", "A#undervoltage#yesterday"), "a key not written here is kept");
        // `lists`: exactly the keys written for kept alarms.
        for (location, key) in &expected {
            assert!(keys.lists(location, key), "{location} {key}");
        }
        assert!(!keys.lists("a", "A#undervoltage#yesterday"), "kept, but not a key written here");
        assert!(!keys.lists("a", "A#undervoltage#2025-01-14T10:00:00.750Z"), "the same alarm, written otherwise");
        assert!(!keys.lists("a", "A#no_data#2025-01-14T10:00:00Z"), "not kept");
        assert!(!keys.lists("b #2", "A#undervoltage#2025-01-14T10:00:00Z"), "another substation's");
    }

    #[test]
    fn sort_keys_keep_kinds_apart() {
        let hour = "2025-01-14T12:00:00Z".parse::<DateTime<Utc>>().unwrap();
        let r = rollup_sort_key(hour);
        let f = forecast_sort_key(hour);
        assert!(r.as_str() < "A" && f.as_str() > "9", "{r} {f}");
        assert_eq!(f, "F#2025-01-14T12:00:00Z");
    }

    #[test]
    fn plan_covers_every_location_of_the_file() {
        let csv = "timestamp,location,load_mw,generation_mw,voltage_kv,frequency_hz,solar_mw,wind_mw\n\
                   2025-01-14T00:00:00Z,a,10,12,13.8,60,1,1\n\
                   2025-01-14T00:15:00Z,a,11,12,13.8,60,1,1\n\
                   2025-01-14T00:00:00Z,b,10,12,12.0,60,1,1\n";
        let mut sink = CollectSink::default();
        let mut outcome = analyze_stream(csv.as_bytes(), "raw/x.csv", &AnalysisConfig::default(), &mut sink).unwrap();
        let windows = history_windows(&outcome.report);
        assert_eq!(windows["a"].1, "2025-01-14T00:00:00Z".parse::<DateTime<Utc>>().unwrap());
        attach_forecasts(&mut outcome, |_| Vec::new());
        let mut latest = LatestRollups::default();
        latest.observe(&sink.rollups);
        let plan = plan_writes(&outcome.report, &latest, "raw/x.csv", Utc::now());
        assert_eq!(plan.states.len(), 2);
        assert_eq!(plan.forecasts.len(), 2);
        assert!(outcome.alarms.iter().any(|a| a.location == "b"), "{:?}", outcome.alarms);
        let lines = outcome_log_lines(
            "raw/x.csv",
            &outcome.report,
            2,
            &Announcement::Each(outcome.alarms.len()),
            &outcome.alarms.iter().collect::<Vec<_>>(),
            (&[], 0),
            std::time::Duration::ZERO,
        );
        assert!(lines.iter().any(|(l, m)| *l == LogLevel::Error && m.starts_with("ALARM HIGH undervoltage")), "{lines:?}");
        // Suppressed alarms beyond the listed ones are counted in one line.
        let listed: Vec<&Alert> = outcome.alarms.iter().take(1).collect();
        let lines = outcome_log_lines("raw/x.csv", &outcome.report, 2, &Announcement::None, &listed, (&listed, 5), std::time::Duration::ZERO);
        let suppressed: Vec<&String> = lines.iter().map(|(_, m)| m).filter(|m| m.starts_with("suppressed")).collect();
        assert_eq!(suppressed.len(), 2, "{lines:?}");
        assert!(suppressed[1].contains("4 more new alarms"), "{lines:?}");
    }
}
