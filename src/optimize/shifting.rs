//! Load shifting within one day: flexible load above a threshold in the tariff's peak
//! hours moves to the other hours of the same day, cheapest first, filling each of them
//! at most up to the threshold, so no hour ends above the threshold that was not
//! above it before (no new peak is created).
//!
//! - From a peak hour with load `L` at most `min(L - threshold, flexible_share·L)` moves.
//! - Other hours take at most `threshold - L` each.
//! - When the other hours have less room than there is to move, every peak hour gives
//!   up the same fraction of what it could move.
//!
//! Energy is conserved within the day, so the average load does not change.

/// What one day's shifting did.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct DayShiftOutcome {
    /// Flexible energy above the threshold in peak hours, MWh.
    pub shiftable_mwh: f64,
    /// What the other hours had room for and took, MWh (`<= shiftable_mwh`).
    pub shifted_mwh: f64,
}

/// Shifts one day's load in place. `prices[i]` is the energy price of step `i` and
/// `is_peak[i]` whether it is a peak hour; all slices have the same length.
pub fn shift_day(
    loads: &mut [f64],
    prices: &[f64],
    is_peak: &[bool],
    threshold_mw: f64,
    flexible_share: f64,
    step_hours: f64,
) -> DayShiftOutcome {
    let removable = |l: f64| (l - threshold_mw).max(0.0).min(flexible_share * l);
    // Folded from +0.0 (an empty f64 sum is -0.0).
    let shiftable_mw = loads.iter().zip(is_peak).filter(|(_, p)| **p).fold(0.0, |a, (&l, _)| a + removable(l));
    let room_mw = loads.iter().zip(is_peak).filter(|(_, p)| !**p).fold(0.0, |a, (&l, _)| a + (threshold_mw - l).max(0.0));
    let moved_mw = shiftable_mw.min(room_mw);
    let outcome = DayShiftOutcome { shiftable_mwh: shiftable_mw * step_hours, shifted_mwh: moved_mw * step_hours };
    if moved_mw <= 0.0 {
        return outcome;
    }
    let fraction = moved_mw / shiftable_mw;
    for (l, _) in loads.iter_mut().zip(is_peak).filter(|(_, p)| **p) {
        *l -= removable(*l) * fraction;
    }
    // Cheapest hours first; among equal prices the earlier hour.
    let mut receivers: Vec<usize> = (0..loads.len()).filter(|&i| !is_peak[i]).collect();
    receivers.sort_by(|&a, &b| prices[a].total_cmp(&prices[b]).then(a.cmp(&b)));
    let mut left = moved_mw;
    for i in receivers {
        if left <= 0.0 {
            break;
        }
        let add = (threshold_mw - loads[i]).max(0.0).min(left);
        loads[i] += add;
        left -= add;
    }
    outcome
}
