//! Fleet aggregates for the overview's fleet panel: total load against total generation
//! with the summed forecast, the fleet's renewable share, and the alarm rate per 10
//! minutes against the ISA-18.2 flood threshold. Pure functions over model types.

use crate::model::{Alert, ForecastPoint, HourlyRollup};
use chrono::{DateTime, Duration, Utc};
use std::collections::BTreeMap;

/// ISA-18.2 / EEMUA 191: more than 10 new alarms in 10 minutes for one operator is a flood.
pub const FLOOD_PER_10_MIN: usize = 10;

/// Hourly fleet totals, oldest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FleetSeries {
    /// (hour, total average load MW, total average generation MW, renewable share 0..1, substations counted)
    pub hours: Vec<FleetHour>,
    /// (time, summed forecast MW), only at times every forecasting substation covers.
    pub forecast: Vec<(DateTime<Utc>, f64)>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FleetHour {
    pub hour: DateTime<Utc>,
    pub load_mw: f64,
    pub generation_mw: f64,
    pub renewable_share: f64,
    pub substations: usize,
}

/// Sums the hourly rollups of every substation given, per hour in `start..end`.
/// Hours reported by fewer substations than the best-covered hour are dropped: a total
/// over part of the fleet would read as a dip in load.
pub fn series<'a>(
    histories: impl IntoIterator<Item = &'a BTreeMap<DateTime<Utc>, HourlyRollup>>,
    forecasts: impl IntoIterator<Item = &'a [ForecastPoint]>,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> FleetSeries {
    // hour -> (load, generation, renewable MW, count)
    let mut acc: BTreeMap<DateTime<Utc>, (f64, f64, f64, usize)> = BTreeMap::new();
    let end = end.max(start);
    for h in histories {
        for (ts, r) in h.range(start..end) {
            let e = acc.entry(*ts).or_default();
            e.0 += r.load_avg_mw;
            e.1 += r.generation_avg_mw;
            e.2 += r.solar_avg_mw + r.wind_avg_mw;
            e.3 += 1;
        }
    }
    let most = acc.values().map(|e| e.3).max().unwrap_or(0);
    let hours = acc
        .into_iter()
        .filter(|(_, e)| e.3 == most)
        .map(|(hour, (load, generation, ren, n))| FleetHour {
            hour,
            load_mw: load,
            generation_mw: generation,
            renewable_share: if generation > 0.0 { (ren / generation).min(1.0) } else { 0.0 },
            substations: n,
        })
        .collect();

    let mut fc: BTreeMap<DateTime<Utc>, (f64, usize)> = BTreeMap::new();
    let mut forecasting = 0;
    for points in forecasts {
        if points.is_empty() {
            continue;
        }
        forecasting += 1;
        for p in points {
            let e = fc.entry(p.timestamp).or_default();
            e.0 += p.load_mw;
            e.1 += 1;
        }
    }
    let forecast = fc.into_iter().filter(|(_, (_, n))| *n == forecasting).map(|(t, (v, _))| (t, v)).collect();
    FleetSeries { hours, forecast }
}

/// Alarm rate strip: `columns` cells over `start..end`, each the most alarms that began
/// in any 10-minute slot it covers (a column can span several slots on long windows).
pub fn alarm_rate(alerts: &[&Alert], start: DateTime<Utc>, end: DateTime<Utc>, columns: usize) -> Vec<usize> {
    let mut out = vec![0; columns];
    if columns == 0 || end <= start {
        return out;
    }
    let slot = Duration::minutes(10);
    let slots = ((end - start).num_seconds() / slot.num_seconds()).max(1) as usize;
    let mut per_slot = vec![0usize; slots];
    for a in alerts {
        if a.started_at < start || a.started_at >= end {
            continue;
        }
        let i = ((a.started_at - start).num_seconds() / slot.num_seconds()) as usize;
        per_slot[i.min(slots - 1)] += 1;
    }
    for (i, n) in per_slot.into_iter().enumerate() {
        let c = (i * columns / slots).min(columns - 1);
        out[c] = out[c].max(n);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::testing::{alerts, rollup, t0};

    fn hist(loc: &str, hours: &[i64]) -> BTreeMap<DateTime<Utc>, HourlyRollup> {
        hours
            .iter()
            .map(|h| {
                let mut r = rollup(loc, t0() + Duration::hours(*h), 0, 0);
                r.load_avg_mw = 10.0;
                r.generation_avg_mw = 20.0;
                r.solar_avg_mw = 3.0;
                r.wind_avg_mw = 2.0;
                (r.timestamp, r)
            })
            .collect()
    }

    #[test]
    fn totals_only_over_hours_every_substation_reported() {
        let a = hist("A", &[0, 1, 2]);
        let b = hist("B", &[0, 1]);
        let fa = vec![
            ForecastPoint { location: "A".into(), timestamp: t0() + Duration::hours(3), load_mw: 5.0 },
            ForecastPoint { location: "A".into(), timestamp: t0() + Duration::hours(4), load_mw: 6.0 },
        ];
        let fb = vec![ForecastPoint { location: "B".into(), timestamp: t0() + Duration::hours(3), load_mw: 7.0 }];
        let s = series([&a, &b], [fa.as_slice(), fb.as_slice()], t0(), t0() + Duration::hours(24));
        assert_eq!(s.hours.len(), 2, "hour 2 has only A");
        assert_eq!(s.hours[0].load_mw, 20.0);
        assert_eq!(s.hours[0].generation_mw, 40.0);
        assert_eq!(s.hours[0].renewable_share, 10.0 / 40.0);
        assert_eq!(s.forecast, vec![(t0() + Duration::hours(3), 12.0)]);
        // Window bounds apply.
        let s = series([&a], std::iter::empty(), t0() + Duration::hours(1), t0() + Duration::hours(2));
        assert_eq!(s.hours.len(), 1);
    }

    #[test]
    fn alarm_rate_counts_per_ten_minutes() {
        let mut all = alerts(t0());
        // Three more starting within one 10-minute slot 30 minutes before t0.
        for k in 0..3 {
            let mut a = all[0].clone();
            a.started_at = t0() - Duration::minutes(30) + Duration::minutes(k * 3);
            all.push(a);
        }
        let refs: Vec<&Alert> = all.iter().collect();
        // 12 h window = 72 slots onto 72 columns.
        let r = alarm_rate(&refs, t0() - Duration::hours(12), t0(), 72);
        assert_eq!(r.iter().sum::<usize>(), 3 + 3, "3 samples start within 12 h (8 h, 3 h, 2 h ago) + 3");
        assert_eq!(r[72 - 3], 3, "the burst");
        // Fewer columns: a column keeps the busiest slot, it does not add them up.
        let r = alarm_rate(&refs, t0() - Duration::hours(12), t0(), 6);
        assert_eq!(r[5], 3);
        assert!(alarm_rate(&refs, t0(), t0(), 4).iter().all(|n| *n == 0));
    }
}
