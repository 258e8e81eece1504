//! The dashboard's side of ISA-18.2 alarm handling, as pure functions: how long a shelve
//! lasts, what an operator action is called on the status line, and when the alarms held
//! amount to a flood. The actions themselves are [`crate::store::operator`]'s.

use crate::store::operator::ActionKind;
use chrono::{DateTime, Duration, Utc};

/// `S` without a duration shelves for this long.
pub const DEFAULT_SHELVE_MINUTES: f64 = 60.0;

/// Parses a shelve duration: `120` or `120m` (minutes), `2h` (hours).
pub fn parse_minutes(arg: &str) -> Result<f64, String> {
    let a = arg.trim().to_ascii_lowercase();
    let (num, scale) = if let Some(h) = a.strip_suffix('h') {
        (h, 60.0)
    } else if let Some(m) = a.strip_suffix("min").or_else(|| a.strip_suffix('m')) {
        (m, 1.0)
    } else {
        (a.as_str(), 1.0)
    };
    match num.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v * scale),
        _ => Err(format!("shelve: {arg:?} is not a duration (minutes, e.g. 120, 90m or 2h)")),
    }
}

/// The shelve length actually used: `requested`, capped at `max`; the second value says
/// why when it was capped.
pub fn capped_minutes(requested: f64, max: f64) -> (f64, Option<String>) {
    if requested > max {
        (max, Some(format!("capped at the maximum of {max:.0} min (asked {requested:.0})")))
    } else {
        (requested, None)
    }
}

/// The shelve's end, to the second.
pub fn shelve_until(now: DateTime<Utc>, minutes: f64) -> DateTime<Utc> {
    now + Duration::seconds((minutes * 60.0).round() as i64)
}

/// The verb of an action for the status line ("acknowledge", "shelve", ...).
pub fn verb(kind: &ActionKind) -> &'static str {
    match kind {
        ActionKind::Acknowledge { .. } => "acknowledge",
        ActionKind::Shelve { .. } => "shelve",
        ActionKind::Unshelve => "unshelve",
        ActionKind::OutOfService => "out of service",
        ActionKind::ReturnToService => "return to service",
    }
}

/// Alarms activated in the 10 minutes up to the newest activation (data time, so a
/// replay of old data floods as it did then).
pub fn recent_activations(activations: impl IntoIterator<Item = DateTime<Utc>>) -> usize {
    let times: Vec<DateTime<Utc>> = activations.into_iter().collect();
    let Some(newest) = times.iter().max().copied() else { return 0 };
    let from = newest - Duration::minutes(10);
    times.iter().filter(|t| **t > from).count()
}

/// `Some(n)` when the `n` alarms of the last 10 minutes exceed `limit` (a flood).
pub fn flood(activations: impl IntoIterator<Item = DateTime<Utc>>, limit: usize) -> Option<usize> {
    let n = recent_activations(activations);
    (n > limit).then_some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_and_bad_ones_say_why() {
        assert_eq!(parse_minutes("120"), Ok(120.0));
        assert_eq!(parse_minutes("90m"), Ok(90.0));
        assert_eq!(parse_minutes(" 2h "), Ok(120.0));
        assert!(parse_minutes("0").is_err());
        assert!(parse_minutes("-5").unwrap_err().contains("not a duration"));
        assert!(parse_minutes("soon").is_err());
        assert!(parse_minutes("inf").is_err());
    }

    #[test]
    fn shelves_are_capped_with_a_reason() {
        assert_eq!(capped_minutes(60.0, 480.0), (60.0, None));
        let (m, why) = capped_minutes(600.0, 480.0);
        assert_eq!(m, 480.0);
        assert!(why.unwrap().contains("maximum of 480 min"));
    }

    #[test]
    fn flood_counts_the_last_ten_minutes_of_data_time() {
        let t: DateTime<Utc> = "2025-06-01T12:00:00Z".parse().unwrap();
        // 3 at 11:45 (outside), 4 in 11:51..12:00 (inside).
        let mut times: Vec<_> = (0..3).map(|_| t - Duration::minutes(15)).collect();
        times.extend((0..4).map(|k| t - Duration::minutes(3 * k)));
        assert_eq!(recent_activations(times.clone()), 4);
        assert_eq!(flood(times.clone(), 4), None, "at the limit is not a flood");
        assert_eq!(flood(times.clone(), 3), Some(4));
        // Exactly 10 minutes before the newest is outside the window.
        times.push(t - Duration::minutes(10));
        assert_eq!(recent_activations(times), 4);
        assert_eq!(recent_activations(Vec::new()), 0);
    }
}
