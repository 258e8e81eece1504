//! Renewable integration: reverse flow (solar + wind above the load), the hosting
//! margin, and how far the observed solar or wind profile can be scaled before the
//! energy flowing back exceeds a share of the renewable energy.
//!
//! Scaling one profile by `k` (the other kept as observed) gives the reverse-flow
//! excess `g(k) = Σ max(k·S + W - L, 0)·step - α·(k·ΣS + ΣW)·step`, which is convex and
//! piecewise linear in `k` with a breakpoint per step where `k·S + W = L`. The largest `k`
//! with `g(k) <= 0` is found exactly by walking the sorted breakpoints.

/// Reverse flow of a curve: hours and energy where renewables exceed the load.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ReverseFlow {
    pub steps: usize,
    pub energy_mwh: f64,
}

pub fn reverse_flow(load: &[f64], solar: &[f64], wind: &[f64], step_hours: f64) -> ReverseFlow {
    let mut rf = ReverseFlow::default();
    for ((&l, &s), &w) in load.iter().zip(solar).zip(wind) {
        if s + w > l {
            rf.steps += 1;
            rf.energy_mwh += (s + w - l) * step_hours;
        }
    }
    rf
}

/// The largest scale of `scaled` keeping reverse flow within the limit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ScaleLimit {
    /// The profile never produces anything: there is nothing to scale.
    NoProfile,
    /// Even without this source the reverse flow already exceeds the limit.
    ExceededWithout,
    /// Scaling by up to this factor keeps reverse flow within the limit.
    Max(f64),
}

/// The largest `k >= 0` with reverse flow of `k·scaled + fixed` over `load` at most
/// `limit_share` of the renewable energy (`0 <= limit_share < 1`).
pub fn max_scale(load: &[f64], scaled: &[f64], fixed: &[f64], limit_share: f64) -> ScaleLimit {
    let total_scaled: f64 = scaled.iter().sum();
    if total_scaled <= 0.0 {
        return ScaleLimit::NoProfile;
    }
    let total_fixed: f64 = fixed.iter().sum();
    // g and its slope at k = 0 (the step is a common factor and drops out).
    let mut g = -limit_share * total_fixed;
    let mut slope = -limit_share * total_scaled;
    let mut breakpoints = Vec::new();
    for ((&l, &s), &w) in load.iter().zip(scaled).zip(fixed) {
        g += (w - l).max(0.0);
        if s > 0.0 {
            let k = (l - w) / s;
            if k <= 0.0 {
                slope += s;
            } else {
                breakpoints.push((k, s));
            }
        }
    }
    if g > 0.0 {
        return ScaleLimit::ExceededWithout;
    }
    breakpoints.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut k = 0.0;
    for (b, s) in breakpoints {
        let at_b = g + slope * (b - k);
        if at_b > 0.0 && slope > 0.0 {
            break;
        }
        (k, g) = (b, at_b);
        slope += s;
    }
    // g <= 0 at k and the slope is positive from here on ((1 - α)·ΣS once all are active).
    ScaleLimit::Max(k - g / slope)
}
