//! Pricing a load curve with a tariff: time-of-use energy prices plus a demand charge
//! per MW of each calendar month's highest load.

use super::config::Tariff;
use chrono::{DateTime, Datelike, NaiveDate, Timelike, Utc};
use serde::Serialize;

/// The cost of one load curve under one tariff (in the tariff's currency).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct Cost {
    pub energy: f64,
    pub demand: f64,
    pub total: f64,
}

fn days_in_month(year: i32, month: u32) -> u32 {
    let first = NaiveDate::from_ymd_opt(year, month, 1);
    let next = if month == 12 { NaiveDate::from_ymd_opt(year + 1, 1, 1) } else { NaiveDate::from_ymd_opt(year, month + 1, 1) };
    match (first, next) {
        (Some(a), Some(b)) => (b - a).num_days() as u32,
        _ => 30,
    }
}

/// Prices `loads[i]` (MW held for `step_hours` from `timestamps[i]`).
///
/// The demand charge of a month the data covers only in part is prorated by the hours
/// covered (`steps · step_hours / hours of the month`), so a two-day sample is not
/// charged a whole month and annualised figures stay comparable.
pub fn cost(timestamps: &[DateTime<Utc>], loads: &[f64], step_hours: f64, tariff: &Tariff) -> Cost {
    let prices = tariff.hourly_prices();
    let mut energy = 0.0;
    let mut demand = 0.0;
    // (year, month, highest load, steps) of the month being walked.
    let mut month: Option<(i32, u32, f64, usize)> = None;
    let mut close = |m: (i32, u32, f64, usize)| {
        let covered = (m.3 as f64 * step_hours) / (days_in_month(m.0, m.1) as f64 * 24.0);
        demand += tariff.demand_charge_per_mw_month * m.2 * covered.min(1.0);
    };
    for (ts, &l) in timestamps.iter().zip(loads) {
        energy += l * step_hours * prices[ts.hour() as usize];
        let key = (ts.year(), ts.month());
        match &mut month {
            Some(m) if (m.0, m.1) == key => {
                m.2 = m.2.max(l);
                m.3 += 1;
            }
            _ => {
                if let Some(m) = month.take() {
                    close(m);
                }
                month = Some((key.0, key.1, l, 1));
            }
        }
    }
    if let Some(m) = month {
        close(m);
    }
    Cost { energy, demand, total: energy + demand }
}
