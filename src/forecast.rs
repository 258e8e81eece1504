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
//! * The target is the load of hour `t = origin + k` (`k` = 0..23). Every feature
//!   uses only hours strictly before the origin: the same hour yesterday (lag 24),
//!   the same hour last week (lag 168), the mean of the same hour over the last 7
//!   days, the mean of the same hour and weekday over the last 4 weeks, the change
//!   of the daily level (mean of the last 24 h minus the mean of the same 24 h one
//!   week earlier), and the anomaly of the last observed hour (last value minus its
//!   own 7-day same-hour mean), damped with the horizon (`0.5^k` and `0.85^k`), plus
//!   an intercept.
//! * Training samples are every past hour, each with features computed from *its*
//!   pseudo-origin (the same clock hour as the real origin, on its own day), so the
//!   horizon structure of training and forecasting is identical.
//! * Samples are weighted by recency (half-life [`HALF_LIFE_DAYS`] days) so the model
//!   follows the seasons; the ridge penalty pulls the weights towards a prior
//!   ("half last week, half the 7-day same-hour mean") with the strength of
//!   [`PRIOR_HOURS`] pseudo-samples, which keeps short histories sane.
//! * Day-type weights: one weight vector per day type of the target (Monday,
//!   Tuesday–Friday, Saturday, Sunday), each ridge-pulled towards the pooled fit
//!   (partial pooling), because "yesterday" is a good guide on a Wednesday but not
//!   on a Monday.
//! * Predictions are clamped to the history's range widened by half its span (and
//!   to ≥ 0 when the history never goes negative).
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

/// Tuning knobs of the model. [`ModelConfig::default`] is what the engine uses.
#[doc(hidden)]
#[derive(Debug, Clone)]
pub struct ModelConfig {
    pub window_days: usize,
    pub half_life_days: f64,
    pub prior_hours: f64,
    /// Pseudo-samples pulling each day-type's weights towards the pooled ones;
    /// `None` = pooled weights only.
    pub group_prior_hours: Option<f64>,
    /// Decay rates of the last-value anomaly features.
    pub anomaly_decay: Vec<f64>,
    /// Feature switches: lag24, lag168, mean7, mean4w, level change.
    pub use_lag24: bool,
    pub use_lag168: bool,
    pub use_mean7: bool,
    pub use_mean4w: bool,
    pub use_level: bool,
    /// Similar day: lag 72 (last Friday) for a Monday target, else lag 24.
    pub use_similar: bool,
    /// 7-day same-hour mean smoothed over the neighbouring hours (±1 h).
    pub use_smooth: bool,
    /// Relative weighting: each training sample is weighted by `base^-rel_weight`,
    /// `base` = its 7-day same-hour mean (floored at 10 % of the mean level).
    pub rel_weight: f64,
    /// Relative weighting by the target itself instead of the base.
    pub rel_by_target: bool,
}

impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig {
            window_days: WINDOW_DAYS,
            half_life_days: HALF_LIFE_DAYS,
            prior_hours: PRIOR_HOURS,
            group_prior_hours: Some(72.0),
            anomaly_decay: vec![0.5, 0.85],
            use_lag24: true,
            use_lag168: true,
            use_mean7: true,
            use_mean4w: true,
            use_level: true,
            use_similar: false,
            use_smooth: false,
            rel_weight: 0.0,
            rel_by_target: false,
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
            if v.len() >= MIN_MODEL_DAYS * DAY {
                if let Some(p) = model_forecast(v, origin, cfg) {
                    out = p;
                }
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
    1 + cfg.use_lag24 as usize
        + cfg.use_lag168 as usize
        + cfg.use_mean7 as usize
        + cfg.use_mean4w as usize
        + cfg.use_level as usize
        + cfg.use_similar as usize
        + cfg.use_smooth as usize
        + cfg.anomaly_decay.len()
}

/// Per-origin quantities shared by the 24 targets of one (pseudo-)origin.
struct OriginInfo {
    /// Mean of the last 24 h minus the mean of the 24 h one week earlier.
    level_change: f64,
    /// Last value before the origin minus its own 7-day same-hour mean.
    anomaly: f64,
}

fn origin_info(v: &[f64], o: isize) -> OriginInfo {
    let mean = |a: isize, b: isize| {
        let (mut s, mut c) = (0.0, 0usize);
        for i in a..b {
            let x = at(v, i);
            if x.is_finite() {
                s += x;
                c += 1;
            }
        }
        if c * 2 >= (b - a) as usize { s / c as f64 } else { f64::NAN }
    };
    let level_change = mean(o - 24, o) - mean(o - 192, o - 168);
    let last = at(v, o - 1);
    let anomaly = last - lag_mean(v, o - 1, 24, 7);
    OriginInfo { level_change, anomaly }
}

/// Feature vector of target index `j` at horizon `k` (its origin is `j - k`).
/// Missing lags are filled from the other ones; false if nothing could fill them.
fn features(v: &[f64], hour0: i64, j: isize, k: usize, info: &OriginInfo, cfg: &ModelConfig, x: &mut Vec<f64>) -> bool {
    let impute = true;
    x.clear();
    let d1 = at(v, j - 24);
    let w1 = at(v, j - 168);
    let m7 = lag_mean(v, j, 24, 7);
    let m4w = lag_mean(v, j, 168, 4);
    let (d1, w1, m7, m4w, level, anomaly) = if impute {
        let m7 = if m7.is_finite() { m7 } else { [d1, w1, m4w].into_iter().find(|x| x.is_finite()).unwrap_or(f64::NAN) };
        let m4w = if m4w.is_finite() { m4w } else { [w1, m7].into_iter().find(|x| x.is_finite()).unwrap_or(f64::NAN) };
        let d1 = if d1.is_finite() { d1 } else { m7 };
        let w1 = if w1.is_finite() { w1 } else { m4w };
        let z = |x: f64| if x.is_finite() { x } else { 0.0 };
        (d1, w1, m7, m4w, z(info.level_change), z(info.anomaly))
    } else {
        (d1, w1, m7, m4w, info.level_change, info.anomaly)
    };
    x.push(1.0);
    if cfg.use_lag24 {
        x.push(d1);
    }
    if cfg.use_lag168 {
        x.push(w1);
    }
    if cfg.use_mean7 {
        x.push(m7);
    }
    if cfg.use_mean4w {
        x.push(m4w);
    }
    if cfg.use_level {
        x.push(level);
    }
    if cfg.use_similar {
        let s = if weekday(hour0 + j as i64) == 0 { at(v, j - 72) } else { at(v, j - 24) };
        x.push(if s.is_finite() { s } else { d1 });
    }
    if cfg.use_smooth {
        let o = j - k as isize;
        let (mut s, mut c) = (0.0, 0usize);
        for d in 1..=7 {
            for off in -1..=1 {
                let i = j + off - 24 * d;
                if i < o {
                    let y = at(v, i);
                    if y.is_finite() {
                        s += y;
                        c += 1;
                    }
                }
            }
        }
        x.push(if c > 0 { s / c as f64 } else { m7 });
    }
    for &r in &cfg.anomaly_decay {
        x.push(anomaly * r.powi(k as i32));
    }
    x.iter().all(|x| x.is_finite())
}

/// The ridge prior: half the same hour last week, half the 7-day same-hour mean
/// (whichever of those features are switched on, renormalised).
fn prior(cfg: &ModelConfig) -> Vec<f64> {
    let mut b = vec![0.0];
    let mut main = Vec::new();
    for (on, w) in [(cfg.use_lag24, 0.0), (cfg.use_lag168, 0.5), (cfg.use_mean7, 0.5), (cfg.use_mean4w, 0.0)] {
        if on {
            main.push(w);
        }
    }
    let s: f64 = main.iter().sum();
    if s > 0.0 {
        b.extend(main.iter().map(|w| w / s));
    } else {
        let m = main.len().max(1) as f64;
        b.extend(main.iter().map(|_| 1.0 / m));
    }
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
            for b in a..p {
                self.xtx[a * p + b] += wa * x[b];
            }
        }
        self.sw += w;
    }
    /// Ridge solution pulled towards `prior` with `strength` pseudo-samples, each
    /// coefficient's penalty scaled by its feature's mean square.
    fn solve(&self, prior: &[f64], strength: f64) -> Option<Vec<f64>> {
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
            let ms = self.xtx[i * p + i] / self.sw;
            // A tiny floor keeps all-zero features (e.g. no anomaly) solvable.
            let pen = strength * ms + 1e-9 * (1.0 + self.xtx[0]) + f64::MIN_POSITIVE;
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
        if !(d > 0.0) || !d.is_finite() {
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
    let mut pooled = Normal::new(p);
    let mut groups: Vec<Normal> = (0..4).map(|_| Normal::new(p)).collect();
    let start = origin - n as i64;
    let decay = if cfg.half_life_days > 0.0 { 0.5f64.powf(1.0 / (cfg.half_life_days * DAY as f64)) } else { 1.0 };
    let mut x = Vec::with_capacity(p);
    let scale = {
        let (s, c) = v.iter().filter(|x| x.is_finite()).fold((0.0, 0usize), |(s, c), x| (s + x.abs(), c + 1));
        if c > 0 { s / c as f64 } else { 1.0 }
    };
    let floor = (0.1 * scale).max(f64::MIN_POSITIVE);

    // Pseudo-origins: same clock hour as `origin`, one per past day, oldest first;
    // the first one whose targets have a full week of lags behind them.
    let mut o = n - 24 * ((n - WEEK as isize) / 24);
    while o < n {
        let info = origin_info(v, o);
        for k in 0..H {
            let j = o + k as isize;
            if j >= n {
                break;
            }
            let y = v[j as usize];
            if !y.is_finite() || !features(v, start, j, k, &info, cfg, &mut x) {
                continue;
            }
            let mut w = decay.powi((n - j) as i32);
            if cfg.rel_weight != 0.0 {
                let base = if cfg.rel_by_target { y } else { lag_mean(v, j, 24, 7) };
                let base = if base.is_finite() { base.abs().max(floor) } else { scale.max(floor) };
                w *= base.powf(-cfg.rel_weight);
            }
            pooled.add(&x, y, w);
            groups[day_type(start + j as i64)].add(&x, y, w);
        }
        o += 24;
    }
    let beta_pooled = pooled.solve(&prior, cfg.prior_hours)?;
    let betas: Vec<Vec<f64>> = match cfg.group_prior_hours {
        Some(s) => groups.iter().map(|g| g.solve(&beta_pooled, s).unwrap_or_else(|| beta_pooled.clone())).collect(),
        None => vec![beta_pooled.clone(); 4],
    };

    // Clamp range.
    let (lo, hi) = v
        .iter()
        .filter(|x| x.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| (lo.min(x), hi.max(x)));
    let span = hi - lo;
    let (clo, chi) = (if lo >= 0.0 { (lo - 0.5 * span).max(0.0) } else { lo - 0.5 * span }, hi + 0.5 * span);

    let info = origin_info(v, n);
    let start = origin - n as i64;
    let mut out = [f64::NAN; H];
    for (k, o) in out.iter_mut().enumerate() {
        let j = n + k as isize;
        if !features(v, start, j, k, &info, cfg, &mut x) {
            continue;
        }
        let beta = &betas[day_type(origin + k as i64)];
        let y: f64 = x.iter().zip(beta).map(|(a, b)| a * b).sum();
        if y.is_finite() {
            *o = if clo.is_finite() && chi.is_finite() { y.clamp(clo.min(chi), chi.max(clo)) } else { y };
        }
    }
    Some(out)
}
