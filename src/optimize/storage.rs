//! Peak shaving with a battery: the smallest power and energy that keep a load curve
//! at or below a cap, computed exactly in one pass.
//!
//! The model (the property test in `tests/optimize.rs` solves the same model as a linear
//! program):
//! - the curve is a sequence of steps of `step_hours` each (hourly rollups: 1 h);
//! - in a step with load `L > cap` the battery discharges exactly `L - cap` (MW);
//! - in a step with `L < cap` it may charge at most `min(charge_limit, cap - L)`, so
//!   charging never lifts the load above the cap; it never charges above the cap;
//! - round-trip efficiency η: charging `c` MW for a step stores `η·c·step` MWh,
//!   discharging `d` MW takes `d·step` MWh (all losses on the charging side; the energy
//!   rating is usable energy at the meter);
//! - state of charge within `[0, E]`; the battery starts full. Starting full is no
//!   loss of generality: a fuller start never leaves less charge later, so "initial
//!   charge free in `[0, E]`" has the same minimum `E`. No end-of-period condition.
//!
//! Let `D` be the energy missing from full. A discharge step adds `(L - cap)·step` to
//! `D`; a charging step removes up to `g = η·min(limit, cap - L)·step` but not below 0.
//! Neither depends on `E`, so the minimum `E` is exactly `max D` over the curve
//! (a Lindley recursion), and the minimum power is the largest excess.

/// The inputs of one sizing: the cap and the battery's behaviour.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StorageParams {
    pub cap_mw: f64,
    pub round_trip_efficiency: f64,
    /// Charging power limit as a share of the power rating (the largest excess).
    pub charge_power_ratio: f64,
    pub step_hours: f64,
}

/// The minimum battery for one cap, with the indices that set it.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Sizing {
    /// Minimum power rating (largest load above the cap), MW.
    pub power_mw: f64,
    /// Minimum usable energy, MWh.
    pub energy_mwh: f64,
    /// The charging limit that follows from the power rating, MW.
    pub charge_limit_mw: f64,
    /// Index of the step with the largest excess (sets the power).
    pub power_step: Option<usize>,
    /// First and last step of the discharge episode that empties the battery the most
    /// (from the step after the battery was last full to the step of the lowest charge).
    pub energy_episode: Option<(usize, usize)>,
    /// Steps with load above the cap.
    pub steps_above_cap: usize,
    /// Energy above the cap over the whole curve, MWh.
    pub excess_mwh: f64,
}

/// The largest load above the cap and where it is (first occurrence).
fn largest_excess(loads: &[f64], cap: f64) -> (f64, Option<usize>) {
    let mut best = (0.0, None);
    for (i, &l) in loads.iter().enumerate() {
        if l - cap > best.0 {
            best = (l - cap, Some(i));
        }
    }
    best
}

/// Walks the energy missing from full (`D`) over the curve, calling `visit(step, D)`
/// after each step. `charge_limit_mw` may be `f64::INFINITY`.
#[inline]
pub fn walk_deficit(
    loads: &[f64],
    cap: f64,
    round_trip_efficiency: f64,
    charge_limit_mw: f64,
    step_hours: f64,
    mut visit: impl FnMut(usize, f64),
) {
    let mut deficit = 0.0_f64;
    for (i, &l) in loads.iter().enumerate() {
        if l > cap {
            deficit += (l - cap) * step_hours;
        } else {
            let gain = round_trip_efficiency * charge_limit_mw.min(cap - l) * step_hours;
            deficit = (deficit - gain).max(0.0);
        }
        visit(i, deficit);
    }
}

/// Sizes the battery for one cap. Two linear passes, no allocation.
pub fn size_storage(loads: &[f64], p: &StorageParams) -> Sizing {
    let (power_mw, power_step) = largest_excess(loads, p.cap_mw);
    let charge_limit_mw = p.charge_power_ratio * power_mw;
    let mut s = Sizing { power_mw, power_step, charge_limit_mw, ..Sizing::default() };
    if power_step.is_none() {
        return s;
    }
    let mut episode_start = 0;
    let mut previous = 0.0;
    walk_deficit(loads, p.cap_mw, p.round_trip_efficiency, charge_limit_mw, p.step_hours, |i, deficit| {
        if loads[i] > p.cap_mw {
            if previous == 0.0 {
                episode_start = i;
            }
            s.steps_above_cap += 1;
            s.excess_mwh += (loads[i] - p.cap_mw) * p.step_hours;
            if deficit > s.energy_mwh {
                s.energy_mwh = deficit;
                s.energy_episode = Some((episode_start, i));
            }
        }
        previous = deficit;
    });
    s
}

/// The load the grid sees with a battery of `energy_mwh` (starting full) operated as in
/// the sizing: discharge the excess, recharge as soon and as fast as allowed.
pub fn shaved_load(loads: &[f64], p: &StorageParams, sizing: &Sizing) -> Vec<f64> {
    let (eta, dt, cap) = (p.round_trip_efficiency, p.step_hours, p.cap_mw);
    let mut charge = sizing.energy_mwh;
    loads
        .iter()
        .map(|&l| {
            if l > cap {
                charge = (charge - (l - cap) * dt).max(0.0);
                cap
            } else {
                let room_mw = (sizing.energy_mwh - charge) / (eta * dt);
                let c = sizing.charge_limit_mw.min(cap - l).min(room_mw).max(0.0);
                charge += c * eta * dt;
                l + c
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(cap: f64, eta: f64, ratio: f64) -> StorageParams {
        StorageParams { cap_mw: cap, round_trip_efficiency: eta, charge_power_ratio: ratio, step_hours: 1.0 }
    }

    #[test]
    fn partial_recharge_carries_the_deficit_into_the_next_peak() {
        // cap 10: excess 2, then 1 h at 9 recharges 0.5·min(3, 1) = 0.5, then excess 3 and 1.5.
        // D: 2, 1.5, 4.5, 6 -> E = 6, P = 3, episode from step 0 to 3.
        let s = size_storage(&[12.0, 9.0, 13.0, 11.5], &params(10.0, 0.5, 1.0));
        assert_eq!(s.power_mw, 3.0);
        assert_eq!(s.energy_mwh, 6.0);
        assert_eq!(s.energy_episode, Some((0, 3)));
        assert_eq!(s.steps_above_cap, 3);
        assert_eq!(s.excess_mwh, 6.5);
    }

    #[test]
    fn shaved_load_stays_under_the_cap_and_never_empties_below_zero() {
        let loads = [8.0, 12.0, 9.0, 13.0, 5.0, 5.0, 11.0];
        let p = params(10.0, 0.9, 0.5);
        let s = size_storage(&loads, &p);
        let net = shaved_load(&loads, &p, &s);
        assert!(net.iter().all(|&x| x <= 10.0 + 1e-12), "{net:?}");
        // Energy balance: what came from the grid = original + losses >= original.
        assert!(net.iter().sum::<f64>() >= loads.iter().sum::<f64>() - 1e-9 - s.energy_mwh);
    }
}
