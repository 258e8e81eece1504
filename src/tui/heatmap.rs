//! Heatmap grids ("peak demand heatmaps"): hour of day x day for one substation, and
//! substation x hour of day for the fleet. Pure functions over rollups and alerts; the
//! view shades the cells.

use super::app::HeatMetric;
use crate::model::{Alert, HourlyRollup};
use chrono::{DateTime, Duration, NaiveDate, Timelike, Utc};
use std::collections::BTreeMap;

/// Rows of 24 hourly cells with their labels; `None` is "no data".
#[derive(Debug, Clone, PartialEq)]
pub struct Grid {
    pub rows: Vec<(String, [Option<f64>; 24])>,
    /// Value range over all cells (for shading and the legend).
    pub lo: f64,
    pub hi: f64,
}

impl Grid {
    fn new(rows: Vec<(String, [Option<f64>; 24])>) -> Grid {
        let (lo, hi) = rows
            .iter()
            .flat_map(|(_, c)| c.iter().flatten())
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(*v), b.max(*v)));
        if lo.is_finite() { Grid { rows, lo, hi } } else { Grid { rows, lo: 0.0, hi: 0.0 } }
    }

    /// 0..=levels-1 for a value: higher is "hotter". For the voltage minimum lower is
    /// worse, so the scale is inverted.
    pub fn level(&self, v: f64, metric: HeatMetric, levels: usize) -> usize {
        let span = self.hi - self.lo;
        let mut x = if span > 0.0 { (v - self.lo) / span } else { 1.0 };
        if metric == HeatMetric::VoltageMin {
            x = if span > 0.0 { 1.0 - x } else { 0.0 };
        }
        ((x * (levels - 1) as f64).round() as usize).min(levels - 1)
    }
}

/// How one metric reads from a rollup and how several hours combine into a cell.
fn value(metric: HeatMetric, r: &HourlyRollup) -> f64 {
    match metric {
        HeatMetric::LoadPeak => r.load_peak_mw,
        HeatMetric::VoltageMin => r.voltage_min_kv,
        HeatMetric::Renewable => r.renewable_penetration * 100.0,
        HeatMetric::Alarms => 0.0,
    }
}

fn combine(metric: HeatMetric, acc: Option<(f64, usize)>, v: f64) -> (f64, usize) {
    match (metric, acc) {
        (_, None) => (v, 1),
        (HeatMetric::LoadPeak, Some((a, n))) => (a.max(v), n + 1),
        (HeatMetric::VoltageMin, Some((a, n))) => (a.min(v), n + 1),
        // Renewable: a running sum, divided at the end; alarms: a count.
        (HeatMetric::Renewable | HeatMetric::Alarms, Some((a, n))) => (a + v, n + 1),
    }
}

fn finish(metric: HeatMetric, acc: (f64, usize)) -> f64 {
    match metric {
        HeatMetric::Renewable => acc.0 / acc.1 as f64,
        _ => acc.0,
    }
}

/// Alarm counts per hour start (episodes counted in the hour they began).
fn alarm_hours<'a>(alerts: impl IntoIterator<Item = &'a Alert>) -> BTreeMap<DateTime<Utc>, f64> {
    let mut m = BTreeMap::new();
    for a in alerts {
        let h = a.started_at - Duration::seconds(i64::from(a.started_at.minute() * 60 + a.started_at.second()));
        *m.entry(h).or_insert(0.0) += 1.0;
    }
    m
}

/// One substation: a row per UTC day in `start..end` (oldest first), a cell per hour.
/// Alarm cells are 0 where rollups exist but no alarm began.
pub fn day_by_hour(
    history: &BTreeMap<DateTime<Utc>, HourlyRollup>,
    alerts: &[&Alert],
    metric: HeatMetric,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Grid {
    let mut days: BTreeMap<NaiveDate, [Option<f64>; 24]> = BTreeMap::new();
    if end <= start {
        return Grid::new(Vec::new());
    }
    // Every day of the window gets a row, with or without data.
    let mut d = start.date_naive();
    while d <= (end - Duration::seconds(1)).date_naive() {
        days.insert(d, [None; 24]);
        d = d.succ_opt().unwrap_or(d);
        if days.len() > 400 {
            break;
        }
    }
    let alarms = alarm_hours(alerts.iter().copied());
    for (ts, r) in history.range(start..end) {
        let Some(row) = days.get_mut(&ts.date_naive()) else { continue };
        let v = if metric == HeatMetric::Alarms { alarms.get(ts).copied().unwrap_or(0.0) } else { value(metric, r) };
        row[ts.hour() as usize] = Some(v);
    }
    Grid::new(days.into_iter().map(|(d, cells)| (d.format("%m-%d %a").to_string(), cells)).collect())
}

/// The fleet: a row per substation (`(name, history, alerts)`), a cell per hour of day
/// combining every day in `start..end` (peak of peaks, lowest minimum, mean share,
/// alarm count).
pub fn substation_by_hour<'a>(
    subs: impl IntoIterator<Item = (&'a str, &'a BTreeMap<DateTime<Utc>, HourlyRollup>, Vec<&'a Alert>)>,
    metric: HeatMetric,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Grid {
    let mut rows = Vec::new();
    let end = end.max(start);
    for (name, history, alerts) in subs {
        let mut acc: [Option<(f64, usize)>; 24] = [None; 24];
        let alarms = alarm_hours(alerts);
        for (ts, r) in history.range(start..end) {
            let v = if metric == HeatMetric::Alarms { alarms.get(ts).copied().unwrap_or(0.0) } else { value(metric, r) };
            let h = ts.hour() as usize;
            acc[h] = Some(combine(metric, acc[h], v));
        }
        rows.push((name.to_string(), acc.map(|a| a.map(|a| finish(metric, a)))));
    }
    Grid::new(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::testing::{alerts, rollup, t0};

    fn history(days: i64) -> BTreeMap<DateTime<Utc>, HourlyRollup> {
        // t0 is 2025-06-01 12:00; start at midnight of 05-30.
        let start = t0() - Duration::hours(12) - Duration::days(days - 1);
        (0..days * 24)
            .map(|h| {
                let mut r = rollup("A", start + Duration::hours(h), 0, 0);
                r.load_peak_mw = (h % 24) as f64 + 100.0 * (h / 24) as f64;
                r.voltage_min_kv = 13.0 + (h % 24) as f64 / 100.0;
                r.renewable_penetration = if h % 2 == 0 { 0.2 } else { 0.4 };
                (r.timestamp, r)
            })
            .collect()
    }

    #[test]
    fn one_row_per_day_one_cell_per_hour() {
        let h = history(3);
        let start = t0() - Duration::hours(12) - Duration::days(2);
        let g = day_by_hour(&h, &[], HeatMetric::LoadPeak, start, start + Duration::days(3));
        assert_eq!(g.rows.len(), 3);
        assert_eq!(g.rows[0].0, "05-30 Fri");
        assert_eq!(g.rows[2].1[23], Some(223.0));
        assert_eq!((g.lo, g.hi), (0.0, 223.0));
        assert_eq!(g.level(223.0, HeatMetric::LoadPeak, 5), 4);
        assert_eq!(g.level(0.0, HeatMetric::LoadPeak, 5), 0);
        // A window starting mid-day: the first day's early hours are empty.
        let g = day_by_hour(&h, &[], HeatMetric::LoadPeak, start + Duration::hours(6), start + Duration::days(1));
        assert_eq!(g.rows.len(), 1);
        assert_eq!(g.rows[0].1[5], None);
        assert_eq!(g.rows[0].1[6], Some(6.0));
    }

    #[test]
    fn voltage_minimum_is_hot_when_low_and_alarms_count_per_hour() {
        let h = history(1);
        let start = t0() - Duration::hours(12);
        let g = day_by_hour(&h, &[], HeatMetric::VoltageMin, start, start + Duration::days(1));
        assert_eq!(g.level(13.0, HeatMetric::VoltageMin, 5), 4, "lowest voltage is the hottest");
        let all = alerts(t0());
        let refs: Vec<&Alert> = all.iter().collect();
        let g = day_by_hour(&h, &refs, HeatMetric::Alarms, start, start + Duration::days(1));
        // Alerts began at 04:00, 09:00 and 10:00 on 06-01.
        let row = &g.rows[0].1;
        assert_eq!((row[4], row[9], row[10], row[11]), (Some(1.0), Some(1.0), Some(1.0), Some(0.0)));
    }

    #[test]
    fn fleet_combines_days_per_hour_of_day() {
        let h = history(3);
        let start = t0() - Duration::hours(12) - Duration::days(2);
        let end = start + Duration::days(3);
        let g = substation_by_hour([("A", &h, vec![])], HeatMetric::LoadPeak, start, end);
        assert_eq!(g.rows[0].1[5], Some(205.0), "peak over the three days");
        let g = substation_by_hour([("A", &h, vec![])], HeatMetric::VoltageMin, start, end);
        assert_eq!(g.rows[0].1[5], Some(13.05));
        let g = substation_by_hour([("A", &h, vec![])], HeatMetric::Renewable, start, end);
        assert!((g.rows[0].1[1].unwrap() - 40.0).abs() < 1e-9);
        assert!(substation_by_hour([("A", &h, vec![])], HeatMetric::LoadPeak, end, start).rows[0].1.iter().all(Option::is_none));
    }
}
