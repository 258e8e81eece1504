//! Optimisation insights from a substation's stored hourly history: peak shaving and
//! battery sizing, load shifting within the day, renewable hosting, and the cost of
//! each under a tariff. Pure computation over [`HourlyRollup`]s (or a plain load
//! curve); no I/O. Every result lists the assumptions it was computed under.
//!
//! The curve is the hourly *average* load of the rollups (energy per hour); peaks
//! inside an hour (the rollup's `load_peak_mw`) are not shaved. Hours missing from the
//! history are skipped: the battery holds its charge over them and they are counted.

pub mod config;
pub mod cost;
pub mod renewables;
pub mod shifting;
pub mod storage;

pub use config::{OptimizeConfig, Target, Tariff};

use crate::model::HourlyRollup;
use chrono::{DateTime, NaiveDate, Timelike, Utc};
use serde::Serialize;

/// Why a curve cannot be optimised.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OptimizeError {
    #[error("no data in the selected range")]
    Empty,
    #[error("timestamps must increase: {at} does not come after {previous}")]
    NotIncreasing { previous: DateTime<Utc>, at: DateTime<Utc> },
    #[error("{what} at {at} must be a finite number >= 0, got {value}")]
    BadValue { what: &'static str, at: DateTime<Utc>, value: f64 },
    #[error("step must be a positive number of hours, got {0}")]
    BadStep(f64),
    #[error("{timestamps} timestamps but {load} load, {solar} solar and {wind} wind values")]
    LengthMismatch { timestamps: usize, load: usize, solar: usize, wind: usize },
}

/// An evenly stepped curve: load, solar and wind (MW) per step, with the start of each
/// step. Only built through [`Curve::new`] (checked: never empty, finite, in order).
#[derive(Debug, Clone, PartialEq)]
pub struct Curve {
    timestamps: Vec<DateTime<Utc>>,
    load: Vec<f64>,
    solar: Vec<f64>,
    wind: Vec<f64>,
    step_hours: f64,
    /// Steps absent between the first and the last timestamp.
    missing_steps: usize,
}

impl Curve {
    /// From `(start of step, load MW)` points; solar and wind are zero.
    pub fn from_load(points: &[(DateTime<Utc>, f64)], step_hours: f64) -> Result<Self, OptimizeError> {
        let zeros = vec![0.0; points.len()];
        let (timestamps, load): (Vec<_>, Vec<_>) = points.iter().copied().unzip();
        Self::new(timestamps, load, zeros.clone(), zeros, step_hours)
    }

    /// From stored hourly rollups (oldest first): the hourly average load, solar and wind.
    pub fn from_rollups(rollups: &[HourlyRollup]) -> Result<Self, OptimizeError> {
        Self::new(
            rollups.iter().map(|r| r.timestamp).collect(),
            rollups.iter().map(|r| r.load_avg_mw).collect(),
            rollups.iter().map(|r| r.solar_avg_mw).collect(),
            rollups.iter().map(|r| r.wind_avg_mw).collect(),
            1.0,
        )
    }

    pub fn new(
        timestamps: Vec<DateTime<Utc>>,
        load: Vec<f64>,
        solar: Vec<f64>,
        wind: Vec<f64>,
        step_hours: f64,
    ) -> Result<Self, OptimizeError> {
        if !(step_hours.is_finite() && step_hours > 0.0) {
            return Err(OptimizeError::BadStep(step_hours));
        }
        let n = timestamps.len();
        if load.len() != n || solar.len() != n || wind.len() != n {
            return Err(OptimizeError::LengthMismatch { timestamps: n, load: load.len(), solar: solar.len(), wind: wind.len() });
        }
        if n == 0 {
            return Err(OptimizeError::Empty);
        }
        let step_secs = step_hours * 3600.0;
        let mut missing = 0.0;
        for (i, &at) in timestamps.iter().enumerate() {
            for (what, v) in [("load", load[i]), ("solar", solar[i]), ("wind", wind[i])] {
                if !(v.is_finite() && v >= 0.0) {
                    return Err(OptimizeError::BadValue { what, at, value: v });
                }
            }
            if i > 0 {
                let previous = timestamps[i - 1];
                if at <= previous {
                    return Err(OptimizeError::NotIncreasing { previous, at });
                }
                missing += ((at - previous).num_seconds() as f64 / step_secs - 1.0).round().max(0.0);
            }
        }
        Ok(Self { timestamps, load, solar, wind, step_hours, missing_steps: missing as usize })
    }

    pub fn len(&self) -> usize {
        self.load.len()
    }

    /// Always false: a curve has at least one step.
    pub fn is_empty(&self) -> bool {
        self.load.is_empty()
    }

    pub fn timestamps(&self) -> &[DateTime<Utc>] {
        &self.timestamps
    }

    pub fn load(&self) -> &[f64] {
        &self.load
    }

    pub fn solar(&self) -> &[f64] {
        &self.solar
    }

    pub fn wind(&self) -> &[f64] {
        &self.wind
    }

    pub fn step_hours(&self) -> f64 {
        self.step_hours
    }

    /// Steps absent between the first and the last timestamp.
    pub fn missing_steps(&self) -> usize {
        self.missing_steps
    }

    /// Index ranges of the UTC days, in order.
    fn days(&self) -> Vec<(NaiveDate, std::ops::Range<usize>)> {
        let mut out: Vec<(NaiveDate, std::ops::Range<usize>)> = Vec::new();
        for (i, ts) in self.timestamps.iter().enumerate() {
            let d = ts.date_naive();
            match out.last_mut() {
                Some((day, range)) if *day == d => range.end = i + 1,
                _ => out.push((d, i..i + 1)),
            }
        }
        out
    }

    fn hours_covered(&self) -> f64 {
        self.len() as f64 * self.step_hours
    }
}

/// Peak, average and load factor of a load series.
fn peak_and_factor(load: &[f64]) -> (f64, f64) {
    let peak = load.iter().copied().fold(0.0, f64::max);
    let avg = load.iter().sum::<f64>() / load.len().max(1) as f64;
    (peak, if peak > 0.0 { avg / peak } else { 0.0 })
}

/// The battery that holds the cap, and the days that set its size.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StorageResult {
    pub power_mw: f64,
    pub energy_mwh: f64,
    pub charge_limit_mw: f64,
    /// Hours above the cap and the energy above it.
    pub hours_above_cap: f64,
    pub excess_mwh: f64,
    /// When the largest excess occurs (sets the power).
    pub power_set_at: Option<DateTime<Utc>>,
    /// The discharge episode that empties the battery the most (sets the energy):
    /// from the first hour after the battery was last full to the hour of lowest charge.
    pub energy_set_from: Option<DateTime<Utc>>,
    pub energy_set_to: Option<DateTime<Utc>>,
    /// The days of that episode.
    pub sizing_days: Vec<NaiveDate>,
    /// Up to three days with the deepest discharge (MWh below full at that day's lowest point).
    pub deepest_days: Vec<DayNeed>,
    pub assumptions: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DayNeed {
    pub date: NaiveDate,
    pub energy_mwh: f64,
}

/// One day of load shifting.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DayShift {
    pub date: NaiveDate,
    pub shiftable_mwh: f64,
    pub shifted_mwh: f64,
    pub peak_before_mw: f64,
    pub peak_after_mw: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ShiftResult {
    pub shifted_mwh: f64,
    /// Flexible energy above the threshold in peak hours (what could move with room enough).
    pub shiftable_mwh: f64,
    pub days_with_shift: usize,
    pub peak_after_mw: f64,
    pub load_factor_after: f64,
    /// Days where something was shiftable.
    pub days: Vec<DayShift>,
    pub assumptions: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CostResult {
    pub with_peak_shaving: cost::Cost,
    pub with_load_shifting: cost::Cost,
    /// Savings against the measured curve, scaled to a year (8760 h / hours covered).
    pub peak_shaving_savings_per_year: f64,
    pub load_shifting_savings_per_year: f64,
    /// Power × cost per MW + energy × cost per MWh.
    pub battery_cost: f64,
    /// Battery cost / yearly savings; `None` when peak shaving saves nothing.
    pub payback_years: Option<f64>,
    pub assumptions: Vec<String>,
}

/// Everything computed for one target.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TargetResult {
    pub target: Target,
    pub cap_mw: f64,
    pub storage: StorageResult,
    pub shifting: ShiftResult,
    pub cost: CostResult,
}

/// How far one observed renewable profile can be scaled.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HostingScale {
    /// Highest observed hourly output, taken as the installed capacity.
    pub observed_max_mw: f64,
    /// Largest factor on the observed profile within the reverse-flow limit (`None`: see `note`).
    pub max_scale: Option<f64>,
    /// `(max_scale - 1) · observed_max_mw`; negative when the limit is already broken.
    pub added_mw: Option<f64>,
    /// Renewable energy / load energy with the scaled profile.
    pub penetration_after: Option<f64>,
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RenewableResult {
    pub renewable_mwh: f64,
    /// Renewable energy / load energy (solar + wind, as observed).
    pub penetration: f64,
    pub reverse_flow_hours: f64,
    pub reverse_flow_mwh: f64,
    /// Smallest load − (solar + wind) over the curve: the generation that could be added
    /// in every hour without reverse flow (negative: reverse flow already occurs).
    pub hosting_margin_mw: f64,
    pub hosting_margin_at: DateTime<Utc>,
    pub solar: HostingScale,
    pub wind: HostingScale,
    pub assumptions: Vec<String>,
}

/// All optimisation insights for one substation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SubstationOptimization {
    pub location: String,
    pub from: DateTime<Utc>,
    /// End of the last step (exclusive).
    pub to: DateTime<Utc>,
    pub hours: f64,
    pub missing_hours: f64,
    pub energy_mwh: f64,
    pub peak_mw: f64,
    pub peak_at: DateTime<Utc>,
    pub load_factor: f64,
    pub cost_measured: cost::Cost,
    pub cost_measured_per_year: f64,
    pub targets: Vec<TargetResult>,
    pub renewables: RenewableResult,
    /// What holds for every figure above.
    pub assumptions: Vec<String>,
}

fn storage_assumptions(cfg: &OptimizeConfig, sizing: &storage::Sizing) -> Vec<String> {
    vec![
        format!("round-trip efficiency {} (losses counted when charging)", cfg.battery.round_trip_efficiency),
        format!(
            "charging only below the cap, at most {:.3} MW ({} x the power rating)",
            sizing.charge_limit_mw, cfg.battery.charge_power_ratio
        ),
        "battery full at the start, no end-of-period condition; recharges as soon as the load is below the cap".into(),
    ]
}

fn size_for(curve: &Curve, cfg: &OptimizeConfig, cap: f64) -> (storage::StorageParams, storage::Sizing, StorageResult) {
    let params = storage::StorageParams {
        cap_mw: cap,
        round_trip_efficiency: cfg.battery.round_trip_efficiency,
        charge_power_ratio: cfg.battery.charge_power_ratio,
        step_hours: curve.step_hours,
    };
    let sizing = storage::size_storage(&curve.load, &params);
    // Deepest point per day (a second linear pass, only for the explanation).
    let mut per_day: Vec<DayNeed> = Vec::new();
    storage::walk_deficit(&curve.load, cap, params.round_trip_efficiency, sizing.charge_limit_mw, curve.step_hours, |i, d| {
        let date = curve.timestamps[i].date_naive();
        match per_day.last_mut() {
            Some(day) if day.date == date => day.energy_mwh = day.energy_mwh.max(d),
            _ => per_day.push(DayNeed { date, energy_mwh: d }),
        }
    });
    per_day.retain(|d| d.energy_mwh > 0.0);
    per_day.sort_by(|a, b| b.energy_mwh.total_cmp(&a.energy_mwh).then(a.date.cmp(&b.date)));
    per_day.truncate(3);
    let ts = |i: usize| curve.timestamps[i];
    let (from, to) = match sizing.energy_episode {
        Some((a, b)) => (Some(ts(a)), Some(ts(b))),
        None => (None, None),
    };
    let sizing_days = match (from, to) {
        (Some(a), Some(b)) => a.date_naive().iter_days().take_while(|d| *d <= b.date_naive()).collect(),
        _ => Vec::new(),
    };
    let result = StorageResult {
        power_mw: sizing.power_mw,
        energy_mwh: sizing.energy_mwh,
        charge_limit_mw: sizing.charge_limit_mw,
        hours_above_cap: sizing.steps_above_cap as f64 * curve.step_hours,
        excess_mwh: sizing.excess_mwh,
        power_set_at: sizing.power_step.map(ts),
        energy_set_from: from,
        energy_set_to: to,
        sizing_days,
        deepest_days: per_day,
        assumptions: storage_assumptions(cfg, &sizing),
    };
    (params, sizing, result)
}

fn shift_for(curve: &Curve, cfg: &OptimizeConfig, cap: f64) -> (Vec<f64>, ShiftResult) {
    let prices = cfg.tariff.hourly_prices();
    let top = prices.iter().copied().fold(f64::MIN, f64::max);
    let bottom = prices.iter().copied().fold(f64::MAX, f64::min);
    let is_peak_hour = |h: u32| top > bottom && prices[h as usize] == top;
    let mut shifted = curve.load.clone();
    let mut days = Vec::new();
    for (date, range) in curve.days() {
        let hours: Vec<u32> = curve.timestamps[range.clone()].iter().map(|t| t.hour()).collect();
        let step_prices: Vec<f64> = hours.iter().map(|&h| prices[h as usize]).collect();
        let peak: Vec<bool> = hours.iter().map(|&h| is_peak_hour(h)).collect();
        let before = peak_and_factor(&curve.load[range.clone()]).0;
        let day = &mut shifted[range];
        let outcome = shifting::shift_day(day, &step_prices, &peak, cap, cfg.flexible_share, curve.step_hours);
        if outcome.shiftable_mwh > 0.0 {
            days.push(DayShift {
                date,
                shiftable_mwh: outcome.shiftable_mwh,
                shifted_mwh: outcome.shifted_mwh,
                peak_before_mw: before,
                peak_after_mw: peak_and_factor(day).0,
            });
        }
    }
    let (peak_after, factor_after) = peak_and_factor(&shifted);
    let peak_hours: Vec<String> = (0..24u32).filter(|&h| is_peak_hour(h)).map(|h| format!("{h:02}")).collect();
    let result = ShiftResult {
        // fold from +0.0: an empty f64 sum is -0.0, which would print as "-0.00"
        shifted_mwh: days.iter().fold(0.0, |a, d| a + d.shifted_mwh),
        shiftable_mwh: days.iter().fold(0.0, |a, d| a + d.shiftable_mwh),
        days_with_shift: days.iter().filter(|d| d.shifted_mwh > 0.0).count(),
        peak_after_mw: peak_after,
        load_factor_after: factor_after,
        days,
        assumptions: vec![
            if peak_hours.is_empty() {
                "the tariff has one price all day: no peak hours, nothing is shifted".into()
            } else {
                format!("peak hours: the tariff's most expensive hours ({} h UTC)", peak_hours.join(", "))
            },
            format!(
                "at most {} % of a peak hour's load is flexible; it moves within the same day to the cheapest other hours, none filled above the cap",
                cfg.flexible_share * 100.0
            ),
        ],
    };
    (shifted, result)
}

fn hosting(curve: &Curve, cfg: &OptimizeConfig, solar_scaled: bool, load_mwh: f64) -> HostingScale {
    let (scaled, fixed) = if solar_scaled { (&curve.solar, &curve.wind) } else { (&curve.wind, &curve.solar) };
    let observed_max = scaled.iter().copied().fold(0.0, f64::max);
    let (scale, note) = match renewables::max_scale(&curve.load, scaled, fixed, cfg.reverse_flow_limit_share) {
        renewables::ScaleLimit::Max(k) => (Some(k), None),
        renewables::ScaleLimit::NoProfile => (None, Some("no output observed, nothing to scale".to_string())),
        renewables::ScaleLimit::ExceededWithout => {
            (None, Some("reverse flow exceeds the limit even without this source".to_string()))
        }
    };
    let fixed_mwh: f64 = fixed.iter().sum::<f64>() * curve.step_hours;
    let scaled_mwh: f64 = scaled.iter().sum::<f64>() * curve.step_hours;
    HostingScale {
        observed_max_mw: observed_max,
        max_scale: scale,
        added_mw: scale.map(|k| (k - 1.0) * observed_max),
        penetration_after: scale.filter(|_| load_mwh > 0.0).map(|k| (k * scaled_mwh + fixed_mwh) / load_mwh),
        note,
    }
}

fn renewables_for(curve: &Curve, cfg: &OptimizeConfig, load_mwh: f64) -> RenewableResult {
    let rf = renewables::reverse_flow(&curve.load, &curve.solar, &curve.wind, curve.step_hours);
    let renewable_mwh: f64 = curve.solar.iter().chain(&curve.wind).sum::<f64>() * curve.step_hours;
    let (margin_i, margin) = (0..curve.len())
        .map(|i| (i, curve.load[i] - curve.solar[i] - curve.wind[i]))
        .fold((0, f64::INFINITY), |best, x| if x.1 < best.1 { x } else { best });
    RenewableResult {
        renewable_mwh,
        penetration: if load_mwh > 0.0 { renewable_mwh / load_mwh } else { 0.0 },
        reverse_flow_hours: rf.steps as f64 * curve.step_hours,
        reverse_flow_mwh: rf.energy_mwh,
        hosting_margin_mw: margin,
        hosting_margin_at: curve.timestamps[margin_i],
        solar: hosting(curve, cfg, true, load_mwh),
        wind: hosting(curve, cfg, false, load_mwh),
        assumptions: vec![
            "reverse flow: hourly solar + wind above the hourly load".into(),
            format!(
                "added capacity scales the observed profile (the other source as observed) while reverse flow stays within {} % of the renewable energy",
                cfg.reverse_flow_limit_share * 100.0
            ),
            "capacity is taken as the highest observed hourly output".into(),
        ],
    }
}

/// All insights for one substation's curve, per target.
pub fn optimize_curve(location: &str, curve: &Curve, cfg: &OptimizeConfig, targets: &[Target]) -> SubstationOptimization {
    let (peak_i, peak) = curve.load.iter().copied().enumerate().fold((0, 0.0), |b, x| if x.1 > b.1 { x } else { b });
    let (_, load_factor) = peak_and_factor(&curve.load);
    let energy_mwh = curve.load.iter().sum::<f64>() * curve.step_hours;
    let per_year = 8760.0 / curve.hours_covered();
    let price = |load: &[f64]| cost::cost(&curve.timestamps, load, curve.step_hours, &cfg.tariff);
    let measured = price(&curve.load);
    let tariff_line = cfg.tariff.describe();
    let targets = targets
        .iter()
        .map(|&target| {
            let cap = target.cap_mw(peak);
            let (params, sizing, storage) = size_for(curve, cfg, cap);
            let shaved = price(&storage::shaved_load(&curve.load, &params, &sizing));
            let (shifted_load, shifting) = shift_for(curve, cfg, cap);
            let shifted = price(&shifted_load);
            let shaving_savings = (measured.total - shaved.total) * per_year;
            let battery_cost = sizing.power_mw * cfg.battery.cost_per_mw + sizing.energy_mwh * cfg.battery.cost_per_mwh;
            let cost = CostResult {
                with_peak_shaving: shaved,
                with_load_shifting: shifted,
                peak_shaving_savings_per_year: shaving_savings,
                load_shifting_savings_per_year: (measured.total - shifted.total) * per_year,
                battery_cost,
                payback_years: (shaving_savings > 0.0).then(|| battery_cost / shaving_savings),
                assumptions: vec![
                    tariff_line.clone(),
                    format!(
                        "battery {} {c}/MW + {} {c}/MWh; simple payback = battery cost / yearly savings",
                        cfg.battery.cost_per_mw,
                        cfg.battery.cost_per_mwh,
                        c = cfg.tariff.currency
                    ),
                    format!("yearly figures scale the {:.0} h covered to 8760 h", curve.hours_covered()),
                ],
            };
            TargetResult { target, cap_mw: cap, storage, shifting, cost }
        })
        .collect();
    let last = *curve.timestamps.last().expect("a curve is never empty");
    SubstationOptimization {
        location: location.to_string(),
        from: curve.timestamps[0],
        to: last + chrono::Duration::milliseconds((curve.step_hours * 3_600_000.0) as i64),
        hours: curve.hours_covered(),
        missing_hours: curve.missing_steps as f64 * curve.step_hours,
        energy_mwh,
        peak_mw: peak,
        peak_at: curve.timestamps[peak_i],
        load_factor,
        cost_measured: measured,
        cost_measured_per_year: measured.total * per_year,
        targets,
        renewables: renewables_for(curve, cfg, energy_mwh),
        assumptions: vec![
            format!("{} h steps of average load (peaks inside a step are not shaved)", curve.step_hours),
            format!(
                "{} missing hour(s) skipped (the battery idles over them)",
                curve.missing_steps as f64 * curve.step_hours
            ),
            "days and hours are UTC".into(),
        ],
    }
}

/// All insights for one substation from its stored rollups (oldest first).
pub fn optimize_rollups(
    location: &str,
    rollups: &[HourlyRollup],
    cfg: &OptimizeConfig,
    targets: &[Target],
) -> Result<SubstationOptimization, OptimizeError> {
    Ok(optimize_curve(location, &Curve::from_rollups(rollups)?, cfg, targets))
}

/// One line for a target, e.g. "peak shaving: 4.2 MW / 11 MWh caps the peak at 90 % (38.1 MW), payback 7.3 y".
pub fn summary_line(result: &TargetResult) -> String {
    let s = &result.storage;
    let what = match result.target {
        Target::PercentOfPeak(p) => format!("{p} % ({:.1} MW)", result.cap_mw),
        Target::CapMw(mw) => format!("{mw} MW"),
    };
    if s.power_mw <= 0.0 {
        return format!("peak shaving: the load never exceeds {what}, no battery needed");
    }
    let payback = match result.cost.payback_years {
        Some(y) => format!("payback {y:.1} y"),
        None => "no savings under the tariff".to_string(),
    };
    format!("peak shaving: {:.1} MW / {:.1} MWh caps the peak at {what}, {payback}", s.power_mw, s.energy_mwh)
}

/// The one-line peak-shaving insight straight from stored rollups, for the dashboard's
/// detail view and the report.
pub fn peak_shaving_line(rollups: &[HourlyRollup], cfg: &OptimizeConfig, target: Target) -> Result<String, OptimizeError> {
    let result = optimize_rollups("", rollups, cfg, &[target])?;
    Ok(summary_line(&result.targets[0]))
}

