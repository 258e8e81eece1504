//! The 24 h load forecast: exactness on simple series, robustness on messy input, and
//! the model beating the seasonal-naive baselines on a realistic synthetic series.

use chrono::{DateTime, Duration, TimeZone, Timelike, Utc};
use gridwatch::analysis::forecast::{EvalRow, HORIZON_HOURS, Method, evaluate, forecast_next_24h, forecast_with};
use proptest::prelude::*;

type Series = Vec<(DateTime<Utc>, f64)>;

/// 2024-01-01 00:00 UTC, a Monday.
fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap()
}

fn hourly(hours: usize, mut f: impl FnMut(usize) -> f64) -> Series {
    (0..hours).map(|h| (t0() + Duration::hours(h as i64), f(h))).collect()
}

fn daily_shape(h: usize) -> f64 {
    let x = (h % 24) as f64 / 24.0 * std::f64::consts::TAU;
    10.0 + 3.0 * x.sin() + 1.5 * (2.0 * x).cos()
}

/// Weekday (Mon = 0) of hour `h` counted from `t0()`.
fn weekday(h: usize) -> usize {
    (h / 24) % 7
}

fn weekly_shape(h: usize) -> f64 {
    let hod = h % 24;
    let office = if (8..18).contains(&hod) { 1.0 } else { 0.0 };
    match weekday(h) {
        0..=4 => daily_shape(h) + 6.0 * office,
        5 => 0.7 * daily_shape(h) + 1.0 * office,
        _ => 0.6 * daily_shape(h),
    }
}

/// Deterministic pseudo-random numbers in [-1, 1) (no `rand` dependency).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((self.0 >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
    }
}

fn assert_on_the_hour(points: &[(DateTime<Utc>, f64)], first: DateTime<Utc>) {
    assert_eq!(points.len(), HORIZON_HOURS);
    for (k, (t, y)) in points.iter().enumerate() {
        assert_eq!(*t, first + Duration::hours(k as i64), "point {k}");
        assert_eq!((t.minute(), t.second(), t.nanosecond()), (0, 0, 0));
        assert!(y.is_finite(), "point {k} is {y}");
    }
}

fn max_abs_err(points: &[(DateTime<Utc>, f64)], truth: impl Fn(DateTime<Utc>) -> f64) -> f64 {
    points.iter().map(|(t, y)| (y - truth(*t)).abs()).fold(0.0, f64::max)
}

fn hour_index(t: DateTime<Utc>) -> usize {
    ((t - t0()).num_hours()) as usize
}

#[test]
fn constant_series_forecasts_the_constant_with_every_method() {
    for days in [1, 3, 10, 60] {
        let hist = hourly(days * 24, |_| 42.5);
        let from = t0() + Duration::days(days as i64);
        for m in Method::ALL {
            let f = forecast_with(m, &hist, from);
            assert_on_the_hour(&f, from);
            assert!(max_abs_err(&f, |_| 42.5) < 1e-9, "{m} with {days} days: {f:?}");
        }
    }
}

#[test]
fn daily_periodic_series_is_forecast_exactly() {
    for days in [2, 5, 9, 30, 200] {
        let hist = hourly(days * 24, daily_shape);
        let from = t0() + Duration::days(days as i64);
        let f = forecast_next_24h(&hist, from);
        assert_on_the_hour(&f, from);
        let err = max_abs_err(&f, |t| daily_shape(hour_index(t)));
        assert!(err < 1e-6, "{days} days: max error {err}");
    }
}

#[test]
fn weekly_pattern_is_captured_where_yesterday_fails() {
    let days = 8 * 7;
    let hist = hourly(days * 24, weekly_shape);
    // Forecast Monday (after a Sunday) and Saturday (after a Friday).
    for origin_day in [days, days - 2] {
        let from = t0() + Duration::days(origin_day as i64);
        let hist: Series = hist.iter().copied().filter(|(t, _)| *t < from).collect();
        let truth = |t: DateTime<Utc>| weekly_shape(hour_index(t));
        let model = max_abs_err(&forecast_next_24h(&hist, from), truth);
        let yesterday = max_abs_err(&forecast_with(Method::SameHourYesterday, &hist, from), truth);
        // Within 1 % of the peak at every hour (the ridge prior costs a little bias).
        let peak = hist.iter().map(|(_, y)| *y).fold(0.0, f64::max);
        assert!(model < 0.01 * peak, "day {origin_day}: model max error {model} (peak {peak})");
        assert!(yesterday > 2.0, "the test pattern should defeat lag 24 (error {yesterday})");
    }
}

#[test]
fn origin_not_on_the_hour_is_truncated_and_later_hours_are_not_used() {
    let hist = hourly(20 * 24, daily_shape);
    let from = t0() + Duration::days(10) + Duration::minutes(30);
    let f = forecast_next_24h(&hist, from);
    let floor = t0() + Duration::days(10);
    assert_on_the_hour(&f, floor);
    // Only data before the origin counts: the rest of the series changes nothing.
    let before: Series = hist.iter().copied().filter(|(t, _)| *t < floor).collect();
    let mut poisoned = before.clone();
    poisoned.extend(hourly(20 * 24, |_| 1e6).into_iter().filter(|(t, _)| *t >= floor));
    for m in Method::ALL {
        assert_eq!(forecast_with(m, &before, floor), forecast_with(m, &poisoned, floor), "{m}");
    }
    assert_eq!(f, forecast_next_24h(&before, floor));
}

#[test]
fn no_usable_history_gives_no_forecast() {
    let from = t0() + Duration::days(3);
    assert!(forecast_next_24h(&[], from).is_empty());
    let nan = hourly(48, |_| f64::NAN);
    assert!(forecast_next_24h(&nan, from).is_empty());
    let inf = hourly(48, |h| if h % 2 == 0 { f64::INFINITY } else { f64::NEG_INFINITY });
    assert!(forecast_next_24h(&inf, from).is_empty());
    let future = hourly(200, |_| 1.0);
    assert!(forecast_next_24h(&future, t0()).is_empty());
    for m in Method::ALL {
        assert!(forecast_with(m, &[], from).is_empty());
    }
    assert!(evaluate(&[], 14).is_empty());
    assert!(evaluate(&hourly(48, |_| 1.0), 14).is_empty(), "too short to evaluate");
}

#[test]
fn short_histories_use_the_fallbacks() {
    // Less than a day: the last value.
    let hist = hourly(5, |h| h as f64);
    let from = t0() + Duration::hours(5);
    let f = forecast_next_24h(&hist, from);
    assert_on_the_hour(&f, from);
    assert!(f.iter().all(|(_, y)| *y == 4.0), "{f:?}");
    // A few days: the same-hour mean of the available days.
    let hist = hourly(3 * 24, |h| daily_shape(h) + (h / 24) as f64);
    let from = t0() + Duration::days(3);
    let f = forecast_next_24h(&hist, from);
    assert!(max_abs_err(&f, |t| daily_shape(hour_index(t)) + 1.0) < 1e-9, "{f:?}");
}

#[test]
fn gaps_nan_unsorted_and_duplicates_are_handled() {
    let days = 35;
    let from = t0() + Duration::days(days);
    let clean = hourly(days as usize * 24, daily_shape);
    // Gaps: every 7th hour and all of day 30 missing; NaN and inf sprinkled in.
    let mut messy: Series = clean
        .iter()
        .enumerate()
        .filter(|(h, _)| h % 7 != 3 && h / 24 != 30)
        .map(|(h, &(t, y))| (t, if h % 11 == 5 { f64::NAN } else { y }))
        .collect();
    messy.push((t0() + Duration::hours(100), f64::INFINITY));
    // Duplicates: two readings in one hour are averaged.
    let (t, y) = clean[24 * 33 + 7];
    messy.retain(|(u, _)| *u != t);
    messy.push((t, y - 2.0));
    messy.push((t + Duration::minutes(15), y + 2.0));
    // Unsorted.
    messy.reverse();
    let n = messy.len();
    messy.swap(0, n / 2);

    let f = forecast_next_24h(&messy, from);
    assert_on_the_hour(&f, from);
    let err = max_abs_err(&f, |t| daily_shape(hour_index(t)));
    assert!(err < 1e-6, "max error {err}");

    let mut sorted = messy.clone();
    sorted.sort_by_key(|(t, _)| *t);
    assert_eq!(f, forecast_next_24h(&sorted, from), "order must not matter");

    // A long gap right before the origin still gives 24 finite points.
    let gappy: Series = clean.iter().copied().filter(|(t, _)| *t < from - Duration::days(3)).collect();
    let f = forecast_next_24h(&gappy, from);
    assert_on_the_hour(&f, from);
    assert!(max_abs_err(&f, |t| daily_shape(hour_index(t))) < 1e-6);
}

#[test]
fn extreme_inputs_do_not_panic() {
    let from = t0() + Duration::days(10);
    let huge = hourly(240, |h| if h % 2 == 0 { 1e308 } else { -1e308 });
    let f = forecast_next_24h(&huge, from);
    assert!(f.iter().all(|(_, y)| y.is_finite()));
    let tiny = hourly(240, |h| if h % 3 == 0 { 1e-300 } else { 0.0 });
    assert_eq!(forecast_next_24h(&tiny, from).len(), 24);
    let neg = hourly(240, |h| -daily_shape(h));
    let f = forecast_next_24h(&neg, from);
    assert!(max_abs_err(&f, |t| -daily_shape(hour_index(t))) < 1e-6);
    let one = vec![(DateTime::<Utc>::MIN_UTC, 1.0)];
    let _ = forecast_next_24h(&one, DateTime::<Utc>::MAX_UTC);
    let _ = forecast_next_24h(&one, DateTime::<Utc>::MIN_UTC);
    let end = vec![(DateTime::<Utc>::MAX_UTC - Duration::hours(2), 1.0)];
    let f = forecast_next_24h(&end, DateTime::<Utc>::MAX_UTC);
    assert!(f.len() <= 24 && f.iter().all(|(_, y)| *y == 1.0));
    let _ = evaluate(&[(DateTime::<Utc>::MIN_UTC, 1.0), (DateTime::<Utc>::MAX_UTC, 2.0)], 8);
}

/// Daily + weekly pattern, a slow trend, an annual-ish swell, and noise.
fn realistic(hours: usize, seed: u64) -> Series {
    let mut rng = Lcg(seed);
    let mut ar = 0.0;
    hourly(hours, |h| {
        ar = 0.8 * ar + 0.6 * rng.next();
        let trend = 1.0 + 0.002 * (h / 24) as f64;
        let season = 1.0 + 0.15 * ((h as f64) / (24.0 * 365.0) * std::f64::consts::TAU).cos();
        weekly_shape(h) * trend * season + ar + 0.5 * rng.next()
    })
}

fn row(rows: &[EvalRow], m: Method) -> &EvalRow {
    rows.iter().find(|r| r.method == m.name()).unwrap()
}

#[test]
fn model_beats_both_seasonal_naive_baselines_on_a_realistic_series() {
    let series = realistic(24 * 7 * 20, 7);
    let rows = evaluate(&series, 14);
    assert_eq!(rows.len(), 3);
    let (m, y, w) = (row(&rows, Method::Model), row(&rows, Method::SameHourYesterday), row(&rows, Method::SameHourLastWeek));
    eprintln!("{rows:#?}");
    assert!(m.mape_pct < y.mape_pct && m.mape_pct < w.mape_pct, "MAPE: {rows:?}");
    assert!(m.rmse < y.rmse && m.rmse < w.rmse, "RMSE: {rows:?}");
    // Same scoring for everyone: 20 weeks, origins from day 14 on.
    for r in &rows {
        assert_eq!(r.forecasts, 20 * 7 - 14);
        assert_eq!(r.points, (20 * 7 - 14) * 24);
        assert!(r.mape_pct.is_finite() && r.rmse.is_finite());
    }
}

#[test]
fn evaluate_respects_min_train_days_and_skips_zero_actuals_in_mape() {
    let series = realistic(24 * 40, 3);
    assert_eq!(evaluate(&series, 30)[0].forecasts, 10);
    assert_eq!(evaluate(&series, 0)[0].forecasts, 40 - 8, "at least 8 training days");
    // A constant series is forecast exactly; zeros are left out of MAPE.
    let zeros = hourly(24 * 20, |h| if h % 24 < 6 { 0.0 } else { 5.0 });
    for r in evaluate(&zeros, 8) {
        assert!(r.mape_pct < 1e-6 && r.rmse < 1e-6, "{r:?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn never_panics_and_returns_24_finite_points_or_none(
        points in prop::collection::vec(
            (0i64..24 * 40, prop_oneof![
                4 => -1e3f64..1e3,
                1 => Just(f64::NAN),
                1 => Just(f64::INFINITY),
                1 => prop::num::f64::ANY,
                1 => Just(0.0),
            ]),
            0..600,
        ),
        from_h in -24i64..24 * 45,
        from_min in 0i64..60,
    ) {
        let history: Series = points.iter().map(|&(h, y)| (t0() + Duration::hours(h), y)).collect();
        let from = t0() + Duration::hours(from_h) + Duration::minutes(from_min);
        let floor = t0() + Duration::hours(from_h);
        let usable = history.iter().any(|(t, y)| *t < floor && y.is_finite());
        for m in Method::ALL {
            let f = forecast_with(m, &history, from);
            if usable {
                prop_assert_eq!(f.len(), HORIZON_HOURS);
                for (k, (t, y)) in f.iter().enumerate() {
                    prop_assert_eq!(*t, floor + Duration::hours(k as i64));
                    prop_assert!(y.is_finite());
                }
            } else {
                prop_assert!(f.is_empty());
            }
        }
        for r in evaluate(&history, 8) {
            prop_assert!(r.rmse.is_nan() || r.rmse >= 0.0);
            prop_assert!(r.mape_pct.is_nan() || r.mape_pct >= 0.0);
        }
    }
}
