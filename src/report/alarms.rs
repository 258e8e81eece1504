//! Alarm KPIs and timeline bands, fed only by [`Alert`] episodes (as
//! `GridStore::alerts` returns them) and the rollups' hourly status.
//!
//! The ISA-18.2 KPIs of the same episodes (rates, floods, bad actors) come from
//! [`crate::analysis::kpi`]; this file adds what the report's figures draw.

use super::data::ReportRange;
use super::metrics::AlarmCounts;
use crate::model::{Alert, AlertRule, AlertStatus, HourlyRollup};
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use std::collections::BTreeMap;

/// Every rule, in the order the timeline lists them.
pub const RULES: [AlertRule; 7] = AlertRule::ALL;

/// Alarm KPIs over a set of episodes, clipped to the range.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct AlarmKpis {
    pub episodes: usize,
    pub critical: usize,
    pub warning: usize,
    /// Episodes per rule (rule name → count), every rule listed.
    pub by_rule: BTreeMap<String, usize>,
    /// Episodes per rule and priority ("rule/priority" → count), only non-zero entries.
    pub by_rule_and_priority: BTreeMap<String, usize>,
    /// Time in alarm inside the range, summed over episodes, in hours.
    pub alarm_hours: f64,
    /// Mean episode duration inside the range, in minutes (0 without episodes).
    pub mean_duration_min: f64,
    /// The longest episode inside the range, in minutes.
    pub longest_min: f64,
    /// Substations with at least one episode.
    pub substations_affected: usize,
}

/// The part of an episode inside the range; an episode of a single reading
/// (`started_at == ended_at`) lasts one 15-minute interval.
pub fn clipped(alert: &Alert, range: &ReportRange) -> (DateTime<Utc>, DateTime<Utc>) {
    let end = if alert.ended_at > alert.started_at { alert.ended_at } else { alert.started_at + Duration::minutes(15) };
    (alert.started_at.max(range.from), end.min(range.to))
}

pub fn kpis(alerts: &[Alert], range: &ReportRange) -> AlarmKpis {
    let mut k = AlarmKpis { by_rule: RULES.iter().map(|r| (r.to_string(), 0)).collect(), ..Default::default() };
    let mut affected = std::collections::BTreeSet::new();
    let mut total_min = 0.0;
    for a in alerts {
        let (s, e) = clipped(a, range);
        if e <= s {
            continue;
        }
        k.episodes += 1;
        match a.status() {
            AlertStatus::Critical => k.critical += 1,
            AlertStatus::Warning => k.warning += 1,
            AlertStatus::Normal => {}
        }
        *k.by_rule.entry(a.rule.to_string()).or_default() += 1;
        *k.by_rule_and_priority.entry(format!("{}/{}", a.rule, a.priority)).or_default() += 1;
        let minutes = (e - s).num_seconds() as f64 / 60.0;
        total_min += minutes;
        k.longest_min = k.longest_min.max(minutes);
        affected.insert(a.location.as_str());
    }
    k.alarm_hours = total_min / 60.0;
    k.mean_duration_min = if k.episodes > 0 { total_min / k.episodes as f64 } else { 0.0 };
    k.substations_affected = affected.len();
    k
}

pub fn counts(alerts: &[Alert], range: &ReportRange) -> AlarmCounts {
    let k = kpis(alerts, range);
    AlarmCounts { critical: k.critical, warning: k.warning }
}

/// A band of a state timeline: `[start, end)` in one row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StateBand {
    pub row: usize,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub status: AlertStatus,
    pub label: String,
}

/// Row 0: the hourly status of the rollups (runs of equal non-normal status merged);
/// rows 1..: one per rule in [`RULES`], one band per episode.
pub fn timeline_bands(rollups: &[HourlyRollup], alerts: &[Alert], range: &ReportRange) -> Vec<StateBand> {
    let mut bands: Vec<StateBand> = Vec::new();
    for r in rollups.iter().filter(|r| r.alert_status != AlertStatus::Normal) {
        let end = r.timestamp + Duration::hours(1);
        match bands.last_mut() {
            Some(b) if b.end == r.timestamp && b.status == r.alert_status => b.end = end,
            _ => bands.push(StateBand {
                row: 0,
                start: r.timestamp,
                end,
                status: r.alert_status,
                label: format!("hourly status {}", r.alert_status),
            }),
        }
    }
    for b in bands.iter_mut() {
        b.label = format!("{} for {} h", b.label, (b.end - b.start).num_hours());
    }
    for a in alerts {
        let (s, e) = clipped(a, range);
        if e <= s {
            continue;
        }
        let row = 1 + RULES.iter().position(|r| *r == a.rule).unwrap_or(0);
        let unit = a.rule.unit();
        bands.push(StateBand {
            row,
            start: s,
            end: e,
            status: a.status(),
            label: format!(
                "{} {}: {} – {}, worst {:.3}{}{} (limit {:.3}), {} readings",
                a.rule,
                a.priority,
                crate::model::format_ts(a.started_at),
                crate::model::format_ts(a.ended_at),
                a.worst_value,
                if unit.is_empty() { "" } else { " " },
                unit,
                a.threshold,
                a.samples
            ),
        });
    }
    bands
}
