//! 24 h hourly load forecast per substation, its seasonal-naive baselines, and a
//! rolling-origin evaluation. Pure: no I/O, no panics, any input (empty, NaN, gaps,
//! duplicates, unsorted) gives either 24 finite points or none.
//!
//! # Method (`Method::Model`)
//!
//! A per-substation linear model, refitted at every call on the substation's own
//! history (at most [`WINDOW_DAYS`] days before the forecast origin), by weighted
//! ridge least squares:
//!
//! * The target is the load of hour `t = origin + k` (`k` = 0..23). The features use
//!   only hours strictly before the origin: the same hour yesterday (lag 24), the same
//!   hour last week (lag 168), the mean of the same hour over the last 7 days, the
//!   mean of the same hour and weekday over the last 4 weeks, and the anomaly of the
//!   last observed hour (its value minus its own 7-day same-hour mean) damped with the
//!   horizon (`0.5^k`, `0.85^k`, `1`), plus an intercept.
//! * Training samples are every past hour, each with the features computed from *its*
//!   pseudo-origin (the same clock hour as the real origin, on its own day), so the
//!   horizon structure of training and forecasting is identical.
//! * Sample weights: recency (half-life [`HALF_LIFE_DAYS`] days, so the model follows
//!   the seasons) times `1 / base`, `base` = the sample's 7-day same-hour mean, so the
//!   fit cares about relative errors (night hours of a shop count, not only its day
//!   peak) without biasing towards low targets.
//! * The ridge penalty pulls the weights towards a prior ("half last week, half the
//!   7-day same-hour mean") with the strength of [`PRIOR_HOURS`] pseudo-samples,
//!   which keeps short histories sane and makes collinear inputs (a constant or purely
//!   daily series) well-posed.
//! * Day types: one weight vector per day type of the target (Monday, Tuesday–Friday,
//!   Saturday, Sunday), each pulled towards the pooled fit with [`GROUP_PRIOR_HOURS`]
//!   pseudo-samples (partial pooling): "yesterday" is a good guide on a Wednesday,
//!   not on a Monday or a Saturday.
//! * Predictions are clamped to the history's range widened by half its span (and to
//!   ≥ 0 when the history never goes negative).
//!
//! Fallbacks: less than [`MIN_MODEL_DAYS`] days of history → mean of the same hour
//! over the available days; no same hour available (less than a day) → the last
//! observed value. Any non-finite intermediate result falls back the same way.
//!
//! Input handling: history points are bucketed by hour (timestamp truncated to the
//! hour); several points in one hour are **averaged**; non-finite values and points
//! at or after the origin are ignored. `from` is truncated to the hour.

use chrono::{DateTime, Utc};

/// Hours forecast ahead.
pub const HORIZON_HOURS: usize = 24;
/// Days of history the model needs; with less it uses the same-hour mean.
pub const MIN_MODEL_DAYS: usize = 8;
/// Days of history (before the origin) the model looks at.
pub const WINDOW_DAYS: usize = 182;
/// Half-life of the recency weights of the training samples, in days.
pub const HALF_LIFE_DAYS: f64 = 42.0;
/// Strength of the ridge prior, in pseudo-samples (hours).
pub const PRIOR_HOURS: f64 = 24.0;
/// Strength of the pull of each day type's weights towards the pooled weights.
pub const GROUP_PRIOR_HOURS: f64 = 240.0;
/// Per-hour damping of the last-value anomaly features.
pub const ANOMALY_DECAY: [f64; 3] = [0.5, 0.85, 1.0];

const DAY: usize = 24;
const WEEK: usize = 168;
const H: usize = HORIZON_HOURS;
/// Longest span `evaluate` looks at (the most recent part of the series).
const MAX_EVAL_HOURS: usize = 10 * 366 * DAY;

/// A forecasting method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    /// The fitted model (what [`forecast_next_24h`] uses).
    Model,
    /// Seasonal naive, lag 24: the same hour yesterday.
    SameHourYesterday,
    /// Seasonal naive, lag 168: the same hour one week earlier.
    SameHourLastWeek,
}

impl Method {
    pub const ALL: [Method; 3] = [Method::Model, Method::SameHourYesterday, Method::SameHourLastWeek];

    pub fn name(self) -> &'static str {
        match self {
            Method::Model => "model",
            Method::SameHourYesterday => "same-hour-yesterday",
            Method::SameHourLastWeek => "same-hour-last-week",
        }
    }
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Tuning knobs of the model. [`ModelConfig::default`] is what the engine uses; the
/// other values exist for the tuning experiments behind `docs/forecast.md`.
#[doc(hidden)]
#[derive(Debug, Clone)]
pub struct ModelConfig {
    /// Days of history before the origin the model is fitted on.
    pub window_days: usize,
    /// Half-life of the recency weights in days (≤ 0: no recency weighting).
    pub half_life_days: f64,
    /// Strength of the ridge prior, in pseudo-samples.
    pub prior_hours: f64,
    /// Pseudo-samples pulling each day type's weights towards the pooled ones;
    /// `None` = pooled weights only.
    pub group_prior_hours: Option<f64>,
    /// Per-hour damping factors of the last-value anomaly features (one feature each).
    pub anomaly_decay: Vec<f64>,
    /// Each training sample is weighted by `base^-rel_weight`, `base` = its 7-day
    /// same-hour mean (floored at 10 % of the mean level): 1 ≈ fits relative errors.
    pub rel_weight: f64,
}

impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig {
            window_days: WINDOW_DAYS,
            half_life_days: HALF_LIFE_DAYS,
            prior_hours: PRIOR_HOURS,
            group_prior_hours: Some(GROUP_PRIOR_HOURS),
            anomaly_decay: ANOMALY_DECAY.to_vec(),
            rel_weight: 1.0,
        }
    }
}

/// Forecast the hourly load for the 24 hours starting at `from` (truncated to the hour).
///
/// `history` is the substation's hourly average load, `(hour_start, load_mw)`, in any
/// order, possibly with gaps, duplicates (averaged) or non-finite values (ignored).
/// Only points strictly before `from` are used. Returns exactly 24 finite points, one
/// per hour from `from`, or none when there is no usable history.
pub fn forecast_next_24h(history: &[(DateTime<Utc>, f64)], from: DateTime<Utc>) -> Vec<(DateTime<Utc>, f64)> {
    forecast_with(Method::Model, history, from)
}

/// [`forecast_next_24h`] with a chosen method (the model or a baseline).
pub fn forecast_with(method: Method, history: &[(DateTime<Utc>, f64)], from: DateTime<Utc>) -> Vec<(DateTime<Utc>, f64)> {
    forecast_with_config(method, history, from, &ModelConfig::default())
}

#[doc(hidden)]
pub fn forecast_with_config(
    method: Method,
    history: &[(DateTime<Utc>, f64)],
    from: DateTime<Utc>,
    cfg: &ModelConfig,
) -> Vec<(DateTime<Utc>, f64)> {
    let origin = hour_number(from);
    let window = cfg.window_days.max(MIN_MODEL_DAYS + 1) * DAY;
    let Some(values) = densify(history, origin, window) else { return Vec::new() };
    let Some(pred) = predict(method, &values, origin, cfg) else { return Vec::new() };
    pred.iter()
        .enumerate()
        .filter_map(|(k, &y)| hour_start(origin.checked_add(k as i64)?).map(|t| (t, y)))
        .collect()
}

/// One method's score in a rolling-origin evaluation.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct EvalRow {
    pub method: String,
    /// Mean absolute percentage error over the scored hours whose actual is not ≈ 0.
    pub mape_pct: f64,
    /// Root mean squared error over all scored hours (units of the series).
    pub rmse: f64,
    /// Mean absolute error over all scored hours.
    pub mae: f64,
    /// Number of 24 h forecasts (origins) scored.
    pub forecasts: usize,
    /// Number of hourly values scored.
    pub points: usize,
}

/// Rolling-origin evaluation of every [`Method`] on one hourly series.
///
/// The series is bucketed by hour (duplicates averaged, non-finite values ignored).
/// An origin is placed at every UTC midnight at least `min_train_days` (at least 8,
/// so lag 168 exists) after the first observation; each method forecasts the next
/// 24 h from the data strictly before the origin, and is scored against the actuals
/// present. MAPE skips actuals ≈ 0 (|actual| < 0.1 % of the series' mean |value|).
/// All methods are scored on exactly the same hours. One row per method, in
/// [`Method::ALL`] order; empty when no origin could be scored.
pub fn evaluate(series: &[(DateTime<Utc>, f64)], min_train_days: u32) -> Vec<EvalRow> {
    evaluate_with_config(series, min_train_days, &ModelConfig::default())
}

#[doc(hidden)]
pub fn evaluate_with_config(series: &[(DateTime<Utc>, f64)], min_train_days: u32, cfg: &ModelConfig) -> Vec<EvalRow> {
    let Some(last) = series.iter().filter(|(_, v)| v.is_finite()).map(|(t, _)| hour_number(*t)).max() else {
        return Vec::new();
    };
    let end = last.saturating_add(1);
    let Some(v) = densify(series, end, MAX_EVAL_HOURS) else { return Vec::new() };
    let start = end - v.len() as i64;
    let abs_mean = {
        let (s, c) = v.iter().filter(|x| x.is_finite()).fold((0.0, 0usize), |(s, c), x| (s + x.abs(), c + 1));
        if c == 0 { return Vec::new() }
        s / c as f64
    };
    let zero_eps = 1e-3 * abs_mean;
    let window = cfg.window_days.max(MIN_MODEL_DAYS + 1) * DAY;
    let min_days = (min_train_days as usize).max(MIN_MODEL_DAYS);

    struct Acc {
        ape: f64,
        ape_n: usize,
        se: f64,
        ae: f64,
        n: usize,
        forecasts: usize,
    }
    let mut acc: Vec<Acc> =
        Method::ALL.iter().map(|_| Acc { ape: 0.0, ape_n: 0, se: 0.0, ae: 0.0, n: 0, forecasts: 0 }).collect();

    // First midnight at least `min_days` after the start.
    let first = start + (min_days * DAY) as i64;
    let mut origin = first + (first.rem_euclid(DAY as i64) != 0) as i64 * (DAY as i64 - first.rem_euclid(DAY as i64));
    while origin < end {
        let o = (origin - start) as usize;
        let lo = o.saturating_sub(window);
        let hist = &v[lo..o];
        let preds: Option<Vec<[f64; H]>> = Method::ALL.iter().map(|&m| predict(m, hist, origin, cfg)).collect();
        if let Some(preds) = preds {
            let mut scored = false;
            for k in 0..H {
                let Some(&a) = v.get(o + k) else { break };
                if !a.is_finite() {
                    continue;
                }
                scored = true;
                for (acc, p) in acc.iter_mut().zip(&preds) {
                    let e = p[k] - a;
                    acc.se += e * e;
                    acc.ae += e.abs();
                    acc.n += 1;
                    if a.abs() >= zero_eps && a.abs() > 0.0 {
                        acc.ape += (e / a).abs();
                        acc.ape_n += 1;
                    }
                }
            }
            if scored {
                for a in acc.iter_mut() {
                    a.forecasts += 1;
                }
            }
        }
        origin += DAY as i64;
    }
    if acc[0].n == 0 {
        return Vec::new();
    }
    Method::ALL
        .iter()
        .zip(acc)
        .map(|(m, a)| EvalRow {
            method: m.name().to_string(),
            mape_pct: if a.ape_n > 0 { 100.0 * a.ape / a.ape_n as f64 } else { f64::NAN },
            rmse: (a.se / a.n as f64).sqrt(),
            mae: a.ae / a.n as f64,
            forecasts: a.forecasts,
            points: a.n,
        })
        .collect()
}

// ---------------------------------------------------------------------------------
// Internals. Times are hour numbers (hours since the Unix epoch, i64); a dense
// series `v` holds the hours `origin - v.len() .. origin`, NaN where missing.

fn hour_number(t: DateTime<Utc>) -> i64 {
    t.timestamp().div_euclid(3600)
}

fn hour_start(h: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(h.checked_mul(3600)?, 0)
}

/// Monday = 0 … Sunday = 6 (1970-01-01 was a Thursday).
fn weekday(h: i64) -> usize {
    (h.div_euclid(DAY as i64) + 3).rem_euclid(7) as usize
}

/// Day type of the day holding hour `h`: Monday, Tuesday–Friday, Saturday, Sunday.
fn day_type(h: i64) -> usize {
    match weekday(h) {
        0 => 0,
        1..=4 => 1,
        5 => 2,
        _ => 3,
    }
}

/// Hourly means of the finite points in `[origin - max_hours, origin)`, from the first
/// such hour to `origin - 1`. `None` if there is none.
fn densify(points: &[(DateTime<Utc>, f64)], origin: i64, max_hours: usize) -> Option<Vec<f64>> {
    let lo = origin.saturating_sub(max_hours as i64);
    let in_range = |h: i64| h >= lo && h < origin;
    let first = points
        .iter()
        .filter(|(_, v)| v.is_finite())
        .map(|(t, _)| hour_number(*t))
        .filter(|&h| in_range(h))
        .min()?;
    let len = (origin - first) as usize;
    let mut sum = vec![0.0f64; len];
    let mut cnt = vec![0u32; len];
    for &(t, x) in points {
        let h = hour_number(t);
        if x.is_finite() && in_range(h) && h >= first {
            let i = (h - first) as usize;
            sum[i] += x;
            cnt[i] += 1;
        }
    }
    Some(
        sum.iter()
            .zip(&cnt)
            .map(|(&s, &c)| {
                let m = s / c as f64;
                // Averaging huge values can overflow: fall back to the running mean.
                if c == 0 { f64::NAN } else if m.is_finite() { m } else { f64::NAN }
            })
            .collect(),
    )
}

#[inline]
fn at(v: &[f64], i: isize) -> f64 {
    if i < 0 { f64::NAN } else { v.get(i as usize).copied().unwrap_or(f64::NAN) }
}

/// Mean of the finite values among `v[j - step*d]`, d = 1..=count.
fn lag_mean(v: &[f64], j: isize, step: isize, count: isize) -> f64 {
    let (mut s, mut c) = (0.0, 0usize);
    for d in 1..=count {
        let x = at(v, j - step * d);
        if x.is_finite() {
            s += x;
            c += 1;
        }
    }
    if c == 0 { f64::NAN } else { s / c as f64 }
}

fn last_finite(v: &[f64]) -> Option<f64> {
    v.iter().rev().copied().find(|x| x.is_finite())
}

/// 24 predictions for the hours `origin .. origin+24` from the dense history `v`
/// (which ends at `origin`). `None` if `v` holds no finite value.
fn predict(method: Method, v: &[f64], origin: i64, cfg: &ModelConfig) -> Option<[f64; H]> {
    let last = last_finite(v)?;
    let n = v.len() as isize;
    let mut out = [f64::NAN; H];
    match method {
        Method::SameHourYesterday => {
            for (k, o) in out.iter_mut().enumerate() {
                *o = (1..=7).map(|d| at(v, n + k as isize - 24 * d)).find(|x| x.is_finite()).unwrap_or(f64::NAN);
            }
        }
        Method::SameHourLastWeek => {
            for (k, o) in out.iter_mut().enumerate() {
                let j = n + k as isize;
                *o = (1..=4)
                    .map(|w| at(v, j - 168 * w))
                    .chain((1..=7).map(|d| at(v, j - 24 * d)))
                    .find(|x| x.is_finite())
                    .unwrap_or(f64::NAN);
            }
        }
        Method::Model => {
            let first = v.iter().position(|x| x.is_finite()).unwrap_or(0);
            let span = v.len() - first;
            if span < DAY {
                return Some([last; H]);
            }
            if span >= MIN_MODEL_DAYS * DAY
                && let Some(p) = model_forecast(v, origin, cfg)
            {
                out = p;
            }
            for (k, o) in out.iter_mut().enumerate() {
                if !o.is_finite() {
                    *o = lag_mean(v, n + k as isize, 24, 7);
                }
            }
        }
    }
    for o in out.iter_mut() {
        if !o.is_finite() {
            *o = last;
        }
    }
    Some(out)
}

/// Number of model features (intercept included) for a config.
fn n_features(cfg: &ModelConfig) -> usize {
    5 + cfg.anomaly_decay.len()
}

/// Anomaly of the last hour before (pseudo-)origin `o`: its value minus its own
/// 7-day same-hour mean (0 when unknown).
fn anomaly(v: &[f64], o: isize) -> f64 {
    let a = at(v, o - 1) - lag_mean(v, o - 1, 24, 7);
    if a.is_finite() { a } else { 0.0 }
}

/// Feature vector of target index `j` at horizon `k` (its origin is `j - k`, so every
/// index used is `< j - k`): intercept, lag 24, lag 168, 7-day same-hour mean, 4-week
/// same-hour-and-weekday mean, damped anomalies. Missing lags are filled from the
/// other ones; false if nothing could fill them.
fn features(v: &[f64], j: isize, k: usize, anomaly: f64, cfg: &ModelConfig, x: &mut Vec<f64>) -> bool {
    let first = |xs: &[f64]| xs.iter().copied().find(|x| x.is_finite()).unwrap_or(f64::NAN);
    let d1 = at(v, j - 24);
    let w1 = at(v, j - 168);
    let m7 = lag_mean(v, j, 24, 7);
    let m4w = lag_mean(v, j, 168, 4);
    let m7 = first(&[m7, d1, w1, m4w]);
    let m4w = first(&[m4w, w1, m7]);
    x.clear();
    x.extend([1.0, first(&[d1, m7]), first(&[w1, m4w]), m7, m4w]);
    x.extend(cfg.anomaly_decay.iter().map(|&r| anomaly * r.powi(k as i32)));
    x.iter().all(|x| x.is_finite())
}

/// The ridge prior: half the same hour last week, half the 7-day same-hour mean.
fn prior(cfg: &ModelConfig) -> Vec<f64> {
    let mut b = vec![0.0, 0.0, 0.5, 0.5, 0.0];
    b.resize(n_features(cfg), 0.0);
    b
}

/// Weighted normal equations.
struct Normal {
    p: usize,
    xtx: Vec<f64>,
    xty: Vec<f64>,
    sw: f64,
}

impl Normal {
    fn new(p: usize) -> Self {
        Normal { p, xtx: vec![0.0; p * p], xty: vec![0.0; p], sw: 0.0 }
    }
    fn add(&mut self, x: &[f64], y: f64, w: f64) {
        let p = self.p;
        for a in 0..p {
            let wa = w * x[a];
            self.xty[a] += wa * y;
            for (b, xb) in x.iter().enumerate().take(p).skip(a) {
                self.xtx[a * p + b] += wa * xb;
            }
        }
        self.sw += w;
    }
    /// Penalty scales that make the ridge penalty "pseudo-samples of prediction
    /// change": the intercept's is 1, each feature's its weighted variance (column 0
    /// is the intercept, so `xtx[i] / sw` is the feature's mean), floored so constant
    /// features stay solvable.
    fn penalty_scales(&self) -> Vec<f64> {
        let p = self.p;
        let sw = if self.sw > 0.0 { self.sw } else { 1.0 };
        (0..p)
            .map(|i| {
                if i == 0 {
                    return 1.0;
                }
                let ms = self.xtx[i * p + i] / sw;
                let var = ms - (self.xtx[i] / sw).powi(2);
                let s = var.max(1e-6 * ms);
                if s.is_finite() { s } else { 1.0 }
            })
            .collect()
    }

    /// Ridge solution pulled towards `prior` with `strength` pseudo-samples, in the
    /// metric of `scales` (see [`Normal::penalty_scales`]).
    fn solve(&self, prior: &[f64], strength: f64, scales: &[f64]) -> Option<Vec<f64>> {
        let p = self.p;
        if self.sw <= 0.0 {
            return Some(prior.to_vec());
        }
        let mut a = vec![0.0; p * p];
        for r in 0..p {
            for c in r..p {
                a[r * p + c] = self.xtx[r * p + c];
                a[c * p + r] = self.xtx[r * p + c];
            }
        }
        let mut b = self.xty.clone();
        for i in 0..p {
            let pen = strength * scales[i] + f64::MIN_POSITIVE;
            a[i * p + i] += pen;
            b[i] += pen * prior[i];
        }
        let sol = solve_spd(&mut a, &mut b, p)?;
        sol.iter().all(|x| x.is_finite()).then_some(sol)
    }
}

/// Solves `A x = b` for a symmetric positive-definite `A` (row-major, p×p) by
/// Cholesky; `None` if it is not numerically positive definite.
fn solve_spd(a: &mut [f64], b: &mut [f64], p: usize) -> Option<Vec<f64>> {
    // In-place Cholesky: lower triangle of `a` becomes L.
    for j in 0..p {
        let mut d = a[j * p + j];
        for k in 0..j {
            d -= a[j * p + k] * a[j * p + k];
        }
        if !d.is_finite() || d <= 0.0 {
            return None;
        }
        let l = d.sqrt();
        a[j * p + j] = l;
        for i in j + 1..p {
            let mut s = a[i * p + j];
            for k in 0..j {
                s -= a[i * p + k] * a[j * p + k];
            }
            a[i * p + j] = s / l;
        }
    }
    // Forward then backward substitution.
    for i in 0..p {
        let mut s = b[i];
        for k in 0..i {
            s -= a[i * p + k] * b[k];
        }
        b[i] = s / a[i * p + i];
    }
    for i in (0..p).rev() {
        let mut s = b[i];
        for k in i + 1..p {
            s -= a[k * p + i] * b[k];
        }
        b[i] = s / a[i * p + i];
    }
    Some(b.to_vec())
}

/// Fits the model on `v` (ending at `origin`) and forecasts the next 24 hours.
fn model_forecast(v: &[f64], origin: i64, cfg: &ModelConfig) -> Option<[f64; H]> {
    let n = v.len() as isize;
    let p = n_features(cfg);
    let prior = prior(cfg);
    let start = origin - n as i64;
    let mut pooled = Normal::new(p);
    let mut groups: Vec<Normal> = (0..4).map(|_| Normal::new(p)).collect();
    let decay = if cfg.half_life_days > 0.0 { 0.5f64.powf(1.0 / (cfg.half_life_days * DAY as f64)) } else { 1.0 };
    let (lo, hi, scale) = {
        let (mut lo, mut hi, mut s, mut c) = (f64::INFINITY, f64::NEG_INFINITY, 0.0, 0usize);
        for &x in v.iter().filter(|x| x.is_finite()) {
            lo = lo.min(x);
            hi = hi.max(x);
            s += x.abs();
            c += 1;
        }
        (lo, hi, if c > 0 { s / c as f64 } else { 1.0 })
    };
    let floor = (0.1 * scale).max(f64::MIN_POSITIVE);
    let mut x = Vec::with_capacity(p);

    // Pseudo-origins: the same clock hour as `origin`, one per past day, oldest first,
    // from the first one whose targets have a week of lags behind them.
    let mut o = n - 24 * ((n - WEEK as isize) / 24);
    while o < n {
        let a = anomaly(v, o);
        for k in 0..H {
            let j = o + k as isize;
            if j >= n {
                break;
            }
            let y = v[j as usize];
            if !y.is_finite() || !features(v, j, k, a, cfg, &mut x) {
                continue;
            }
            let mut w = decay.powi((n - j) as i32);
            if cfg.rel_weight != 0.0 {
                // Relative to the mean level, so the weights stay ≈ 1 and the prior
                // strengths keep meaning "pseudo-samples" whatever the units.
                let base = x[3].abs().max(floor) / scale.max(f64::MIN_POSITIVE);
                w *= base.powf(-cfg.rel_weight);
            }
            if !(w.is_finite() && w > 0.0) {
                continue;
            }
            pooled.add(&x, y, w);
            groups[day_type(start + j as i64)].add(&x, y, w);
        }
        o += 24;
    }
    // One metric for all fits: the pooled features' spreads (a day type with a single
    // day has constant per-day features; its own spread would leave them unpenalised).
    let scales = pooled.penalty_scales();
    let pooled_beta = pooled.solve(&prior, cfg.prior_hours, &scales)?;
    let betas: Vec<Vec<f64>> = match cfg.group_prior_hours {
        Some(s) => {
            groups.iter().map(|g| g.solve(&pooled_beta, s, &scales).unwrap_or_else(|| pooled_beta.clone())).collect()
        }
        None => vec![pooled_beta; 4],
    };

    // Clamp to the history's range widened by half its span (≥ 0 if it never was < 0).
    let span = hi - lo;
    let clamp_lo = if lo >= 0.0 { (lo - 0.5 * span).max(0.0) } else { lo - 0.5 * span };
    let clamp_hi = hi + 0.5 * span;
    let a = anomaly(v, n);
    let mut out = [f64::NAN; H];
    for (k, out) in out.iter_mut().enumerate() {
        let j = n + k as isize;
        if !features(v, j, k, a, cfg, &mut x) {
            continue;
        }
        let beta = &betas[day_type(origin + k as i64)];
        let y: f64 = x.iter().zip(beta).map(|(a, b)| a * b).sum();
        if y.is_finite() {
            *out = if clamp_lo <= clamp_hi { y.clamp(clamp_lo, clamp_hi) } else { y };
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn h(y: i32, m: u32, d: u32, hh: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, hh, 0, 0).unwrap()
    }

    #[test]
    fn weekdays_and_day_types() {
        // 2024-01-01 was a Monday, 1970-01-01 a Thursday.
        assert_eq!(weekday(hour_number(h(2024, 1, 1, 0))), 0);
        assert_eq!(weekday(hour_number(h(2024, 1, 1, 23))), 0);
        assert_eq!(weekday(hour_number(h(2024, 1, 6, 12))), 5);
        assert_eq!(weekday(hour_number(h(1970, 1, 1, 0))), 3);
        assert_eq!(weekday(hour_number(h(1969, 12, 31, 23))), 2);
        let types: Vec<usize> = (1..=7).map(|d| day_type(hour_number(h(2024, 1, d, 5)))).collect();
        assert_eq!(types, [0, 1, 1, 1, 1, 2, 3]);
    }

    #[test]
    fn densify_averages_duplicates_and_drops_bad_points() {
        let o = hour_number(h(2024, 1, 1, 5));
        let pts = vec![
            (h(2024, 1, 1, 3) + chrono::Duration::minutes(45), 4.0),
            (h(2024, 1, 1, 1), f64::NAN),
            (h(2024, 1, 1, 2), 1.0),
            (h(2024, 1, 1, 3), 2.0),
            (h(2024, 1, 1, 5), 100.0), // at the origin: not history
            (h(2023, 1, 1, 0), 7.0),   // outside the window
        ];
        let v = densify(&pts, o, 4).unwrap();
        // From the first finite hour (2) to the origin (exclusive).
        assert_eq!(v.len(), 3);
        assert_eq!((v[0], v[1]), (1.0, 3.0));
        assert!(v[2].is_nan());
        assert!(densify(&pts[4..], o, 4).is_none());
    }

    #[test]
    fn cholesky_solves_and_rejects_indefinite() {
        let mut a = vec![4.0, 2.0, 0.6, 2.0, 5.0, 1.0, 0.6, 1.0, 3.0];
        let x = [1.0, -2.0, 0.5];
        let mut b: Vec<f64> = (0..3).map(|r| (0..3).map(|c| a[r * 3 + c] * x[c]).sum()).collect();
        let sol = solve_spd(&mut a, &mut b, 3).unwrap();
        for (s, x) in sol.iter().zip(x) {
            assert!((s - x).abs() < 1e-12);
        }
        let mut a = vec![1.0, 2.0, 2.0, 1.0];
        assert!(solve_spd(&mut a, &mut [1.0, 1.0], 2).is_none());
    }

    #[test]
    fn features_never_look_past_the_pseudo_origin() {
        // Poison every index at or after the pseudo-origin: features must not change.
        let n = 24 * 40;
        let v: Vec<f64> = (0..n).map(|i| (i % 24) as f64 + (i / 168) as f64).collect();
        let cfg = ModelConfig::default();
        for (o, k) in [(24 * 30 + 5, 0usize), (24 * 30 + 5, 23), (24 * 35, 11)] {
            let j = (o + k) as isize;
            let mut poisoned = v.clone();
            for x in &mut poisoned[o..] {
                *x = 1e9;
            }
            let (mut a, mut b) = (Vec::new(), Vec::new());
            assert!(features(&v, j, k, anomaly(&v, o as isize), &cfg, &mut a));
            assert!(features(&poisoned, j, k, anomaly(&poisoned, o as isize), &cfg, &mut b));
            assert_eq!(a, b, "origin {o} horizon {k}");
        }
    }

    #[test]
    fn ridge_prior_decides_collinear_fits() {
        // y = x exactly with the intercept and two identical columns: the data fix
        // only β1 + β2 = 1, the prior (0.5, 0.5) picks the split.
        let mut ne = Normal::new(3);
        for i in 0..50 {
            let x = i as f64;
            ne.add(&[1.0, x, x], x, 1.0);
        }
        let b = ne.solve(&[0.0, 0.5, 0.5], 24.0, &ne.penalty_scales()).unwrap();
        assert!(b[0].abs() < 1e-6 && (b[1] - 0.5).abs() < 1e-6 && (b[2] - 0.5).abs() < 1e-6, "{b:?}");
    }
}
