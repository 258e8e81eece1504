//! Gathering: what a report needs, read through the [`GridStore`] trait only, so the
//! local SQLite store and DynamoDB serve it the same way.
//!
//! Per substation: the hourly rollups of the range, up to [`HISTORY_DAYS`] days of
//! rollups before it (the training history of the forecast evaluation), the stored
//! 24 h forecast, and the alert episodes that overlap the range.

use super::{Progress, ReportError};
use crate::backend::GridStore;
use crate::config::AnalysisConfig;
use crate::model::{Alert, ForecastPoint, HourlyRollup, SubstationState};
use chrono::{DateTime, Duration, DurationRound, Utc};

/// History read before the range for the day-ahead forecast evaluation: the same
/// 8 weeks the engine's forecast uses.
pub const HISTORY_DAYS: i64 = 56;
/// The range when neither `--from` nor `--to` is given ends at the newest reading
/// and covers this many days.
pub const DEFAULT_RANGE_DAYS: i64 = 30;

/// `from <= t < to`, both on whole hours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct ReportRange {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

impl ReportRange {
    pub fn hours(&self) -> i64 {
        (self.to - self.from).num_hours()
    }
    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        self.from <= t && t < self.to
    }
}

/// What the user asked for.
#[derive(Debug, Clone, Default)]
pub struct ReportRequest {
    /// Substations to include; empty = all.
    pub locations: Vec<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

/// Everything read for one substation.
#[derive(Debug, Clone, PartialEq)]
pub struct SubstationData {
    pub location: String,
    /// Rollups inside the range, oldest first.
    pub rollups: Vec<HourlyRollup>,
    /// Rollups in the [`HISTORY_DAYS`] before the range, oldest first.
    pub history: Vec<HourlyRollup>,
    /// The stored 24 h forecast (whatever hours it covers), oldest first.
    pub forecast: Vec<ForecastPoint>,
    /// Alert episodes overlapping the range, oldest first.
    pub alerts: Vec<Alert>,
}

/// The input of every computation and figure of a report.
#[derive(Debug, Clone)]
pub struct ReportData {
    pub range: ReportRange,
    pub config: AnalysisConfig,
    /// Where the data came from (the store's `describe()`).
    pub source: String,
    pub substations: Vec<SubstationData>,
}

fn hour_floor(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(Duration::hours(1)).unwrap_or(t)
}

fn hour_ceil(t: DateTime<Utc>) -> DateTime<Utc> {
    let f = hour_floor(t);
    if f == t { t } else { f + Duration::hours(1) }
}

/// Picks the substations and the range: unknown names and an empty range are errors
/// that name what is wrong. Pure, so it is tested without a store.
pub fn resolve(
    request: &ReportRequest,
    known: &[SubstationState],
) -> Result<(Vec<String>, ReportRange), ReportError> {
    if known.is_empty() {
        return Err(ReportError::NoSubstations);
    }
    let mut names: Vec<String> = known.iter().map(|s| s.location.clone()).collect();
    names.sort();
    let selected: Vec<&SubstationState> = if request.locations.is_empty() {
        known.iter().collect()
    } else {
        let mut out = Vec::new();
        for want in &request.locations {
            match known.iter().find(|s| &s.location == want) {
                Some(s) if !out.iter().any(|o: &&SubstationState| o.location == s.location) => out.push(s),
                Some(_) => {}
                None => return Err(ReportError::UnknownSubstation { name: want.clone(), known: names }),
            }
        }
        out
    };
    let newest = selected.iter().map(|s| s.last_reading).max().expect("non-empty selection");
    let to = match request.to {
        Some(t) => hour_ceil(t),
        // Include the hour of the newest reading.
        None => hour_floor(newest) + Duration::hours(1),
    };
    let from = match request.from {
        Some(f) => hour_floor(f),
        None => to - Duration::days(DEFAULT_RANGE_DAYS),
    };
    if from >= to {
        return Err(ReportError::EmptyRange { from, to });
    }
    let mut locations: Vec<String> = selected.iter().map(|s| s.location.clone()).collect();
    locations.sort();
    Ok((locations, ReportRange { from, to }))
}

/// Where rollups older than the results table keeps are read (on AWS: the Athena copy
/// of the rollups, when a TTL or a clean-up removes old items from DynamoDB).
#[async_trait::async_trait]
pub trait RollupArchive: Send + Sync {
    /// The first hour the table still holds: every hour before it is read from here.
    fn table_keeps_from(&self) -> DateTime<Utc>;
    /// Rollups of `locations` with `from <= timestamp < to`, in any order (one query for all).
    async fn rollups(&self, locations: &[String], from: DateTime<Utc>, to: DateTime<Utc>) -> crate::store::StoreResult<Vec<HourlyRollup>>;
}

/// Reads the report's data, one bounded query per substation.
pub async fn gather(
    store: &dyn GridStore,
    request: &ReportRequest,
    config: AnalysisConfig,
    progress: &dyn Progress,
) -> Result<ReportData, ReportError> {
    gather_with_archive(store, None, request, config, progress).await
}

/// [`gather`], with the hours before [`RollupArchive::table_keeps_from`] (of the range and
/// of the forecast evaluation's history) read from `archive` in one query; the table's
/// items win where both hold an hour.
pub async fn gather_with_archive(
    store: &dyn GridStore,
    archive: Option<&dyn RollupArchive>,
    request: &ReportRequest,
    config: AnalysisConfig,
    progress: &dyn Progress,
) -> Result<ReportData, ReportError> {
    let known = store.substations().await?;
    let (locations, range) = resolve(request, &known)?;
    progress.stage("reading", locations.len() as u64);
    // One alerts call for all substations: episodes still active at or after `from`.
    let mut alerts = store.alerts(range.from).await?;
    alerts.retain(|a| a.started_at < range.to);
    alerts.sort_by(|a, b| a.started_at.cmp(&b.started_at).then(a.rule.cmp(&b.rule)));
    let history_from = range.from - Duration::days(HISTORY_DAYS);
    // Hours before the table's cutoff come from the archive.
    let cutoff = archive.map(|a| hour_ceil(a.table_keeps_from())).filter(|c| *c > history_from);
    let mut archived: std::collections::BTreeMap<String, Vec<HourlyRollup>> = Default::default();
    if let (Some(archive), Some(cutoff)) = (archive, cutoff) {
        progress.stage("archive", 1);
        for r in archive.rollups(&locations, history_from, cutoff.min(range.to)).await? {
            if locations.contains(&r.location) && history_from <= r.timestamp && r.timestamp < cutoff.min(range.to) {
                archived.entry(r.location.clone()).or_default().push(r);
            }
        }
        progress.inc("archive");
        progress.stage("reading", locations.len() as u64);
    }
    let table_from = cutoff.map_or(history_from, |c| c.max(history_from));
    let mut fetched = Vec::with_capacity(locations.len());
    for location in locations {
        let mut all = if table_from < range.to { store.rollups(&location, table_from, range.to).await? } else { Vec::new() };
        if let Some(old) = archived.remove(&location) {
            // One row per hour (the archive may hold an hour twice, from two raw files).
            let mut by_hour: std::collections::BTreeMap<DateTime<Utc>, HourlyRollup> =
                old.into_iter().map(|r| (r.timestamp, r)).collect();
            by_hour.extend(all.into_iter().map(|r| (r.timestamp, r)));
            all = by_hour.into_values().collect();
        }
        let forecast = store.forecast(&location).await?;
        progress.inc(&location);
        fetched.push((location, all, forecast));
    }
    let mut range = range;
    if request.from.is_none() {
        // Default range: start at the first day with data rather than 30 empty days.
        let first = fetched.iter().filter_map(|(_, all, _)| all.iter().find(|r| r.timestamp >= range.from)).map(|r| r.timestamp).min();
        if let Some(first) = first {
            range.from = range.from.max(first.duration_trunc(Duration::days(1)).unwrap_or(first));
        }
    }
    let substations: Vec<SubstationData> = fetched
        .into_iter()
        .map(|(location, all, forecast)| {
            let (history, rollups): (Vec<_>, Vec<_>) = all.into_iter().partition(|r| r.timestamp < range.from);
            let alerts = alerts.iter().filter(|a| a.location == location && a.ended_at >= range.from).cloned().collect();
            SubstationData { location, rollups, history, forecast, alerts }
        })
        .collect();
    if substations.iter().all(|s| s.rollups.is_empty()) {
        return Err(ReportError::NoData {
            locations: substations.iter().map(|s| s.location.clone()).collect(),
            range,
        });
    }
    Ok(ReportData { range, config, source: store.describe(), substations })
}
