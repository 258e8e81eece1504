//! Alarm-system performance (ISA-18.2 / EEMUA 191 KPIs) over a time range: alarm rates,
//! floods, bad actors, chattering, stale alarms and the priority mix, each with the
//! benchmark's verdict. Pure: it works on the alarm episodes any store returns.

use crate::model::{Alert, AlertRule, Priority};
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use std::collections::BTreeMap;

const TEN_MIN: i64 = 600;

/// The largest number of activations within any 10 minutes (sliding window).
pub fn peak_per_10min(times: impl IntoIterator<Item = DateTime<Utc>>) -> usize {
    let mut t: Vec<i64> = times.into_iter().map(|t| t.timestamp()).collect();
    t.sort_unstable();
    let (mut best, mut lo) = (0, 0);
    for hi in 0..t.len() {
        while t[hi] - t[lo] >= TEN_MIN {
            lo += 1;
        }
        best = best.max(hi - lo + 1);
    }
    best
}

/// One figure with its benchmark and verdict.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Figure {
    pub name: &'static str,
    pub value: f64,
    pub target: &'static str,
    /// "ok", "manageable" or "over".
    pub verdict: &'static str,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BadActor {
    pub location: String,
    pub rule: AlertRule,
    pub alarms: usize,
}

/// The KPIs of one range.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlarmKpis {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub alarms: usize,
    pub per_10min_avg: f64,
    pub per_10min_peak: usize,
    pub per_hour_avg: f64,
    pub per_hour_peak: usize,
    /// Share of 10-minute intervals in flood (> 10 new alarms; ends below 5).
    pub flood_share: f64,
    pub top10: Vec<BadActor>,
    /// The top ten (substation, rule) pairs' share of all alarms.
    pub top10_share: f64,
    pub chattering: usize,
    /// Alarms that stood (were active) for more than 24 h.
    pub stale: usize,
    pub by_priority: BTreeMap<Priority, usize>,
    pub figures: Vec<Figure>,
}

/// Computes the KPIs of the alarms activated in `[from, to)`; `flood_limit` is the
/// number of new alarms in 10 minutes above which an interval is in flood.
pub fn compute(alerts: &[Alert], from: DateTime<Utc>, to: DateTime<Utc>, flood_limit: usize) -> AlarmKpis {
    let in_range: Vec<&Alert> = alerts.iter().filter(|a| a.activated_at >= from && a.activated_at < to).collect();
    let span = (to - from).num_seconds().max(1);
    let buckets = |width: i64| {
        let n = ((span + width - 1) / width).max(1) as usize;
        let mut counts = vec![0usize; n];
        for a in &in_range {
            counts[(((a.activated_at - from).num_seconds() / width) as usize).min(n - 1)] += 1;
        }
        counts
    };
    let ten = buckets(TEN_MIN);
    let hours = buckets(3600);
    let n = in_range.len();
    // Flood with hysteresis: starts above the limit, ends when the rate falls below half of it.
    let mut in_flood = false;
    let mut flooded = 0usize;
    for &c in &ten {
        if c > flood_limit {
            in_flood = true;
        } else if c < flood_limit.div_ceil(2) {
            in_flood = false;
        }
        if in_flood {
            flooded += 1;
        }
    }
    let mut per_tag: BTreeMap<(String, AlertRule), usize> = BTreeMap::new();
    for a in &in_range {
        *per_tag.entry((a.location.clone(), a.rule)).or_default() += 1;
    }
    let mut top: Vec<BadActor> =
        per_tag.into_iter().map(|((location, rule), alarms)| BadActor { location, rule, alarms }).collect();
    top.sort_by(|a, b| b.alarms.cmp(&a.alarms).then_with(|| a.location.cmp(&b.location)).then(a.rule.cmp(&b.rule)));
    top.truncate(10);
    let top10_share = if n == 0 { 0.0 } else { top.iter().map(|t| t.alarms).sum::<usize>() as f64 / n as f64 };
    let chattering = in_range.iter().filter(|a| a.chattering).count();
    let stale = in_range
        .iter()
        .filter(|a| {
            let end = if a.active { to.max(a.ended_at) } else { a.ended_at };
            end - a.activated_at > Duration::hours(24)
        })
        .count();
    let mut by_priority: BTreeMap<Priority, usize> = Priority::ALL.iter().map(|p| (*p, 0)).collect();
    for a in &in_range {
        *by_priority.entry(a.priority).or_default() += 1;
    }
    let share = |p: Priority| if n == 0 { 0.0 } else { by_priority[&p] as f64 / n as f64 };
    let per_hour_avg = n as f64 / (span as f64 / 3600.0);
    let per_10min_peak = peak_per_10min(in_range.iter().map(|a| a.activated_at));
    let flood_share = flooded as f64 / ten.len() as f64;
    let three = |v: f64, ok: f64, manageable: f64| {
        if v <= ok {
            "ok"
        } else if v <= manageable {
            "manageable"
        } else {
            "over"
        }
    };
    let figures = vec![
        Figure { name: "alarms per hour (average)", value: per_hour_avg, target: "<= 6 ok, <= 12 manageable", verdict: three(per_hour_avg, 6.0, 12.0) },
        Figure { name: "alarms per 10 min (peak)", value: per_10min_peak as f64, target: "<= 10", verdict: three(per_10min_peak as f64, 10.0, 10.0) },
        Figure { name: "10-min intervals in flood", value: flood_share, target: "< 1 %", verdict: three(flood_share, 0.01, 0.01) },
        Figure { name: "top-10 bad actors' share", value: top10_share, target: "1-5 %", verdict: three(top10_share, 0.05, 0.20) },
        Figure { name: "chattering alarms", value: chattering as f64, target: "0", verdict: three(chattering as f64, 0.0, 0.0) },
        Figure { name: "stale alarms (> 24 h)", value: stale as f64, target: "< 5", verdict: three(stale as f64, 4.0, 4.0) },
        Figure {
            name: "high + critical share",
            value: share(Priority::High) + share(Priority::Critical),
            target: "~5 % high, < 1 % critical",
            verdict: three(share(Priority::High) + share(Priority::Critical), 0.06, 0.20),
        },
    ];
    AlarmKpis {
        from,
        to,
        alarms: n,
        per_10min_avg: n as f64 / ten.len() as f64,
        per_10min_peak,
        per_hour_avg,
        per_hour_peak: hours.iter().copied().max().unwrap_or(0),
        flood_share,
        top10: top,
        top10_share,
        chattering,
        stale,
        by_priority,
        figures,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(loc: &str, rule: AlertRule, at: &str, p: Priority) -> Alert {
        let t: DateTime<Utc> = at.parse().unwrap();
        Alert {
            location: loc.into(),
            rule,
            priority: p,
            started_at: t,
            activated_at: t,
            ended_at: t + Duration::minutes(30),
            active: false,
            worst_value: 0.0,
            threshold: 0.0,
            samples: 1,
            chattering: false,
            shelved_until: None,
            message: String::new(),
        }
    }

    #[test]
    fn sliding_peak_counts_within_ten_minutes() {
        let t = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        let times = [t("2025-01-01T00:00:00Z"), t("2025-01-01T00:09:59Z"), t("2025-01-01T00:10:00Z"), t("2025-01-01T00:15:00Z")];
        assert_eq!(peak_per_10min(times), 3);
        assert_eq!(peak_per_10min([]), 0);
    }

    #[test]
    fn flood_share_priorities_and_bad_actors() {
        let from: DateTime<Utc> = "2025-01-01T00:00:00Z".parse().unwrap();
        let mut alerts = Vec::new();
        // 12 alarms in the first 10 minutes: a flood interval; then one per hour.
        for i in 0..12 {
            alerts.push(alert(&format!("s{i}"), AlertRule::Overload, "2025-01-01T00:01:00Z", Priority::Low));
        }
        for h in 1..6 {
            alerts.push(alert("s0", AlertRule::Undervoltage, &format!("2025-01-01T0{h}:00:00Z"), Priority::High));
        }
        let k = compute(&alerts, from, from + Duration::hours(6), 10);
        assert_eq!(k.alarms, 17);
        assert_eq!(k.per_10min_peak, 12);
        assert!((k.flood_share - 1.0 / 36.0).abs() < 1e-12, "{}", k.flood_share);
        assert_eq!(k.by_priority[&Priority::High], 5);
        assert_eq!(k.top10[0].location, "s0");
        assert_eq!(k.top10[0].alarms, 5);
        assert_eq!(k.per_hour_peak, 12);
        assert_eq!(k.figures.iter().find(|f| f.name.starts_with("10-min")).unwrap().verdict, "over");
    }
}
