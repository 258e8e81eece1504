//! Pure computations over hourly rollups: the summary row of a substation, the peak
//! demand heatmaps, daily peaks and load factors, the weekly profile and the fleet's
//! hourly aggregates. Every figure and table of a report takes its numbers from here,
//! which is what the tests check against hand-computed fixtures.

use crate::model::{AlertStatus, HourlyRollup};
use chrono::{DateTime, Datelike, NaiveDate, Timelike, Utc};
use serde::Serialize;
use std::collections::BTreeMap;

/// Day × hour-of-day grid of one substation: `cells[d][h]` is the peak load
/// (`load_peak_mw`) of the rollup of day `days[d]`, hour `h` (UTC), `None` without data.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DayHourGrid {
    pub days: Vec<NaiveDate>,
    pub cells: Vec<[Option<f64>; 24]>,
}

/// The peak demand heatmap of one substation. Several rollups in one hour (there
/// should be one) keep the largest peak.
pub fn peak_heatmap(rollups: &[HourlyRollup]) -> DayHourGrid {
    let mut by_day: BTreeMap<NaiveDate, [Option<f64>; 24]> = BTreeMap::new();
    for r in rollups.iter().filter(|r| r.load_peak_mw.is_finite()) {
        let row = by_day.entry(r.timestamp.date_naive()).or_insert([None; 24]);
        let cell = &mut row[r.timestamp.hour() as usize];
        *cell = Some(cell.map_or(r.load_peak_mw, |c: f64| c.max(r.load_peak_mw)));
    }
    DayHourGrid { days: by_day.keys().copied().collect(), cells: by_day.into_values().collect() }
}

/// One row of the fleet heatmap: per hour of day, the largest peak of the substation
/// at that hour over the range, and that value as a share of the substation's peak.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HourOfDayRow {
    pub location: String,
    pub peak_mw: [Option<f64>; 24],
    /// `peak_mw[h] / max(peak_mw)`: when in the day the substation peaks, comparable across sizes.
    pub share_of_peak: [Option<f64>; 24],
}

pub fn hour_of_day_peaks(location: &str, rollups: &[HourlyRollup]) -> HourOfDayRow {
    let mut peak_mw = [None; 24];
    for r in rollups.iter().filter(|r| r.load_peak_mw.is_finite()) {
        let cell: &mut Option<f64> = &mut peak_mw[r.timestamp.hour() as usize];
        *cell = Some(cell.map_or(r.load_peak_mw, |c| c.max(r.load_peak_mw)));
    }
    let top = peak_mw.iter().flatten().copied().fold(f64::NEG_INFINITY, f64::max);
    let share_of_peak = peak_mw.map(|p| p.map(|p| if top > 0.0 { p / top } else { 0.0 }));
    HourOfDayRow { location: location.to_string(), peak_mw, share_of_peak }
}

/// One UTC day of one substation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DayStats {
    pub date: NaiveDate,
    /// Largest `load_peak_mw` of the day and the hour it fell in.
    pub peak_mw: f64,
    pub peak_hour: DateTime<Utc>,
    /// Mean of the day's hourly average loads.
    pub load_avg_mw: f64,
    /// `load_avg_mw / peak_mw` (0 when the peak is 0).
    pub load_factor: f64,
    pub hours: usize,
}

pub fn daily_stats(rollups: &[HourlyRollup]) -> Vec<DayStats> {
    let mut days: BTreeMap<NaiveDate, (f64, DateTime<Utc>, f64, usize)> = BTreeMap::new();
    for r in rollups.iter().filter(|r| r.load_peak_mw.is_finite() && r.load_avg_mw.is_finite()) {
        let e = days.entry(r.timestamp.date_naive()).or_insert((f64::NEG_INFINITY, r.timestamp, 0.0, 0));
        if r.load_peak_mw > e.0 {
            e.0 = r.load_peak_mw;
            e.1 = r.timestamp;
        }
        e.2 += r.load_avg_mw;
        e.3 += 1;
    }
    days.into_iter()
        .map(|(date, (peak, at, sum, n))| {
            let avg = sum / n as f64;
            DayStats { date, peak_mw: peak, peak_hour: at, load_avg_mw: avg, load_factor: if peak > 0.0 { avg / peak } else { 0.0 }, hours: n }
        })
        .collect()
}

/// Hour of the week, Monday 00:00 UTC = 0 … Sunday 23:00 = 167.
pub fn hour_of_week(t: DateTime<Utc>) -> usize {
    t.weekday().num_days_from_monday() as usize * 24 + t.hour() as usize
}

/// Average load per hour of the week, one line per ISO week of the range
/// (`(iso week label, [Option<MW>; 168])`), and the mean over the weeks.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WeeklyProfile {
    pub weeks: Vec<(String, Vec<Option<f64>>)>,
    pub mean: Vec<Option<f64>>,
}

pub fn weekly_profile(rollups: &[HourlyRollup]) -> WeeklyProfile {
    let mut weeks: BTreeMap<(i32, u32), Vec<Option<f64>>> = BTreeMap::new();
    let mut sum = vec![(0.0, 0usize); 168];
    for r in rollups.iter().filter(|r| r.load_avg_mw.is_finite()) {
        let w = r.timestamp.iso_week();
        let how = hour_of_week(r.timestamp);
        weeks.entry((w.year(), w.week())).or_insert_with(|| vec![None; 168])[how] = Some(r.load_avg_mw);
        sum[how].0 += r.load_avg_mw;
        sum[how].1 += 1;
    }
    WeeklyProfile {
        weeks: weeks.into_iter().map(|((y, w), v)| (format!("{y}-W{w:02}"), v)).collect(),
        mean: sum.into_iter().map(|(s, n)| (n > 0).then(|| s / n as f64)).collect(),
    }
}

/// Alarm counts of one substation by severity (the alarm "priority").
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct AlarmCounts {
    pub critical: usize,
    pub warning: usize,
}

/// The summary row of one substation over the range: the seed's metrics computed
/// from the hourly rollups, plus peak time, load factor, renewable energy and alarms.
///
/// Energies are the sum of hourly averages × 1 h over the hours with data; averages are
/// weighted by the readings of each hour; `load_std_mw` is the sample standard deviation
/// of the hourly averages (the rollups keep no per-reading spread).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SummaryRow {
    pub location: String,
    pub hours: usize,
    pub readings: u64,
    pub first_hour: Option<DateTime<Utc>>,
    pub last_hour: Option<DateTime<Utc>>,
    pub load_avg_mw: f64,
    pub load_min_mw: f64,
    pub load_peak_mw: f64,
    pub load_std_mw: f64,
    /// Start of the hour of the peak.
    pub peak_time: Option<DateTime<Utc>>,
    /// Average load / peak load.
    pub load_factor: f64,
    pub generation_avg_mw: f64,
    pub generation_mwh: f64,
    pub solar_mwh: f64,
    pub wind_mwh: f64,
    pub renewable_mwh: f64,
    /// Renewable energy / generation energy.
    pub renewable_share: f64,
    pub voltage_avg_kv: f64,
    pub voltage_min_kv: f64,
    pub voltage_max_kv: f64,
    pub frequency_avg_hz: f64,
    pub frequency_min_hz: f64,
    pub frequency_max_hz: f64,
    pub frequency_max_dev_hz: f64,
    pub power_factor_avg: f64,
    pub stability_avg: f64,
    pub efficiency_avg: f64,
    pub hours_warning: usize,
    pub hours_critical: usize,
    pub alarms_critical: usize,
    pub alarms_warning: usize,
}

pub fn summary_row(location: &str, rollups: &[HourlyRollup], alarms: &AlarmCounts) -> SummaryRow {
    let rs: Vec<&HourlyRollup> = rollups.iter().filter(|r| r.load_avg_mw.is_finite() && r.count > 0).collect();
    let readings: u64 = rs.iter().map(|r| r.count).sum();
    let weighted = |f: fn(&HourlyRollup) -> f64| {
        if readings == 0 { 0.0 } else { rs.iter().map(|r| f(r) * r.count as f64).sum::<f64>() / readings as f64 }
    };
    let min = |f: fn(&HourlyRollup) -> f64| rs.iter().map(|r| f(r)).fold(f64::INFINITY, f64::min);
    let max = |f: fn(&HourlyRollup) -> f64| rs.iter().map(|r| f(r)).fold(f64::NEG_INFINITY, f64::max);
    let finite_or_zero = |x: f64| if x.is_finite() { x } else { 0.0 };
    let energy = |f: fn(&HourlyRollup) -> f64| rs.iter().map(|r| f(r)).sum::<f64>();
    let peak = rs.iter().max_by(|a, b| a.load_peak_mw.total_cmp(&b.load_peak_mw).then(b.timestamp.cmp(&a.timestamp)));
    let load_avg = weighted(|r| r.load_avg_mw);
    let load_peak = peak.map_or(0.0, |p| p.load_peak_mw);
    let mean_hourly = if rs.is_empty() { 0.0 } else { energy(|r| r.load_avg_mw) / rs.len() as f64 };
    let load_std = if rs.len() < 2 {
        0.0
    } else {
        (rs.iter().map(|r| (r.load_avg_mw - mean_hourly).powi(2)).sum::<f64>() / (rs.len() - 1) as f64).sqrt()
    };
    let generation_mwh = energy(|r| r.generation_avg_mw);
    let solar_mwh = energy(|r| r.solar_avg_mw);
    let wind_mwh = energy(|r| r.wind_avg_mw);
    let f_nom_dev = max(|r| r.frequency_max_dev_hz);
    SummaryRow {
        location: location.to_string(),
        hours: rs.len(),
        readings,
        first_hour: rs.first().map(|r| r.timestamp),
        last_hour: rs.last().map(|r| r.timestamp),
        load_avg_mw: load_avg,
        load_min_mw: finite_or_zero(min(|r| r.load_min_mw)),
        load_peak_mw: load_peak,
        load_std_mw: load_std,
        peak_time: peak.map(|p| p.timestamp),
        load_factor: if load_peak > 0.0 { load_avg / load_peak } else { 0.0 },
        generation_avg_mw: weighted(|r| r.generation_avg_mw),
        generation_mwh,
        solar_mwh,
        wind_mwh,
        renewable_mwh: solar_mwh + wind_mwh,
        renewable_share: if generation_mwh > 0.0 { (solar_mwh + wind_mwh) / generation_mwh } else { 0.0 },
        voltage_avg_kv: weighted(|r| r.voltage_avg_kv),
        voltage_min_kv: finite_or_zero(min(|r| r.voltage_min_kv)),
        voltage_max_kv: finite_or_zero(max(|r| r.voltage_max_kv)),
        frequency_avg_hz: weighted(|r| r.frequency_avg_hz),
        frequency_min_hz: finite_or_zero(min(|r| r.frequency_min_hz)),
        frequency_max_hz: finite_or_zero(max(|r| r.frequency_max_hz)),
        frequency_max_dev_hz: finite_or_zero(f_nom_dev),
        power_factor_avg: weighted(|r| r.power_factor_avg),
        stability_avg: weighted(|r| r.stability_score),
        efficiency_avg: weighted(|r| r.efficiency_score),
        hours_warning: rs.iter().filter(|r| r.alert_status == AlertStatus::Warning).count(),
        hours_critical: rs.iter().filter(|r| r.alert_status == AlertStatus::Critical).count(),
        alarms_critical: alarms.critical,
        alarms_warning: alarms.warning,
    }
}

/// One hour of the fleet: sums and envelopes over the substations reporting that hour.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FleetHour {
    pub timestamp: DateTime<Utc>,
    pub substations: usize,
    pub load_mw: f64,
    pub generation_mw: f64,
    pub solar_mw: f64,
    pub wind_mw: f64,
    pub voltage_avg_kv: f64,
    pub voltage_min_kv: f64,
    pub voltage_max_kv: f64,
    pub frequency_avg_hz: f64,
    pub frequency_min_hz: f64,
    pub frequency_max_hz: f64,
}

pub fn fleet_hours<'a>(per_substation: impl IntoIterator<Item = &'a [HourlyRollup]>) -> Vec<FleetHour> {
    let mut hours: BTreeMap<DateTime<Utc>, FleetHour> = BTreeMap::new();
    for rollups in per_substation {
        for r in rollups {
            let h = hours.entry(r.timestamp).or_insert(FleetHour {
                timestamp: r.timestamp,
                substations: 0,
                load_mw: 0.0,
                generation_mw: 0.0,
                solar_mw: 0.0,
                wind_mw: 0.0,
                voltage_avg_kv: 0.0,
                voltage_min_kv: f64::INFINITY,
                voltage_max_kv: f64::NEG_INFINITY,
                frequency_avg_hz: 0.0,
                frequency_min_hz: f64::INFINITY,
                frequency_max_hz: f64::NEG_INFINITY,
            });
            h.substations += 1;
            h.load_mw += r.load_avg_mw;
            h.generation_mw += r.generation_avg_mw;
            h.solar_mw += r.solar_avg_mw;
            h.wind_mw += r.wind_avg_mw;
            // Running sums; divided below.
            h.voltage_avg_kv += r.voltage_avg_kv;
            h.frequency_avg_hz += r.frequency_avg_hz;
            h.voltage_min_kv = h.voltage_min_kv.min(r.voltage_min_kv);
            h.voltage_max_kv = h.voltage_max_kv.max(r.voltage_max_kv);
            h.frequency_min_hz = h.frequency_min_hz.min(r.frequency_min_hz);
            h.frequency_max_hz = h.frequency_max_hz.max(r.frequency_max_hz);
        }
    }
    hours
        .into_values()
        .map(|mut h| {
            h.voltage_avg_kv /= h.substations as f64;
            h.frequency_avg_hz /= h.substations as f64;
            h
        })
        .collect()
}
