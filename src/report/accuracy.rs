//! Forecast accuracy over the report's range, with the project's forecast code
//! ([`crate::analysis::forecast`]): the rolling-origin evaluation of the model against the
//! seasonal-naive baselines, the model's day-ahead forecasts re-run on the stored
//! rollups (what the load curve plots), and the stored forecast against the actuals
//! it overlaps.

use super::data::{ReportRange, SubstationData};
use crate::analysis::forecast::{self, EvalRow};
use chrono::{DateTime, Duration, DurationRound, Utc};
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Accuracy {
    pub location: String,
    /// [`forecast::evaluate`] rows (model, same hour yesterday, same hour last week),
    /// scored on 24 h forecasts from every midnight of the range; empty when the
    /// history is too short (under [`forecast::MIN_MODEL_DAYS`] days).
    pub rows: Vec<EvalRow>,
    /// The model's day-ahead forecast for each hour of the range it covers.
    pub day_ahead: Vec<(DateTime<Utc>, f64)>,
    /// MAPE % of the stored forecast over the hours where actuals exist (None: no overlap).
    pub stored_mape_pct: Option<f64>,
    /// Stored forecast minus actual, per overlapping hour.
    pub stored_error: Vec<(DateTime<Utc>, f64)>,
}

fn load_series(s: &SubstationData) -> Vec<(DateTime<Utc>, f64)> {
    s.history.iter().chain(&s.rollups).map(|r| (r.timestamp, r.load_avg_mw)).collect()
}

/// Midnights `m` with `from <= m < to`.
fn midnights(range: &ReportRange) -> impl Iterator<Item = DateTime<Utc>> {
    let first = range.from.duration_trunc(Duration::days(1)).unwrap_or(range.from);
    let first = if first < range.from { first + Duration::days(1) } else { first };
    let to = range.to;
    std::iter::successors(Some(first), |m| Some(*m + Duration::days(1))).take_while(move |m| *m < to)
}

pub fn accuracy(s: &SubstationData, range: &ReportRange) -> Accuracy {
    let series = load_series(s);
    // Origins start at the first midnight of the range: `evaluate` puts them
    // `min_train_days` after the first observation (at least MIN_MODEL_DAYS).
    let rows = match series.first() {
        Some((first, _)) if !s.rollups.is_empty() => {
            let days_before = (range.from - *first).num_hours().max(0) as f64 / 24.0;
            forecast::evaluate(&series, days_before.ceil() as u32)
        }
        _ => Vec::new(),
    };
    let actual: BTreeMap<DateTime<Utc>, f64> = s.rollups.iter().map(|r| (r.timestamp, r.load_avg_mw)).collect();
    let mut day_ahead = Vec::new();
    let has_history = |m: DateTime<Utc>| {
        series.first().is_some_and(|(t, _)| (m - *t).num_days() >= forecast::MIN_MODEL_DAYS as i64)
    };
    for origin in midnights(range).filter(|m| has_history(*m)) {
        day_ahead.extend(forecast::forecast_next_24h(&series, origin).into_iter().filter(|(t, _)| range.contains(*t)));
    }
    let stored_error: Vec<(DateTime<Utc>, f64)> =
        s.forecast.iter().filter_map(|p| actual.get(&p.timestamp).map(|a| (p.timestamp, p.load_mw - a))).collect();
    let ape: Vec<f64> = s
        .forecast
        .iter()
        .filter_map(|p| actual.get(&p.timestamp).filter(|a| a.abs() > 1e-9).map(|a| ((p.load_mw - a) / a).abs()))
        .collect();
    Accuracy {
        location: s.location.clone(),
        rows,
        day_ahead,
        stored_mape_pct: (!ape.is_empty()).then(|| 100.0 * ape.iter().sum::<f64>() / ape.len() as f64),
        stored_error,
    }
}

/// Fleet view: per method, the mean MAPE and mean RMSE over the substations that could
/// be evaluated, and how many those were.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MethodMean {
    pub method: String,
    pub mape_pct: f64,
    pub rmse: f64,
    pub substations: usize,
}

pub fn fleet_means(all: &[Accuracy]) -> Vec<MethodMean> {
    forecast::Method::ALL
        .iter()
        .map(|m| {
            let rows: Vec<&EvalRow> =
                all.iter().flat_map(|a| a.rows.iter()).filter(|r| r.method == m.name() && r.mape_pct.is_finite()).collect();
            let n = rows.len();
            let mean = |f: fn(&EvalRow) -> f64| if n == 0 { f64::NAN } else { rows.iter().map(|r| f(r)).sum::<f64>() / n as f64 };
            MethodMean { method: m.name().to_string(), mape_pct: mean(|r| r.mape_pct), rmse: mean(|r| r.rmse), substations: n }
        })
        .collect()
}
