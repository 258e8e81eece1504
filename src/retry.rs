//! The one backoff policy of gridwatch: delays that grow exponentially up to a cap
//! (backon's `ExponentialBuilder`). Each use below says only what differs: first delay,
//! growth, cap, how many tries, jitter. Callers take the delays as an iterator, so they
//! keep their own loop (and what they report between tries).

use backon::{BackoffBuilder, ExponentialBackoff, ExponentialBuilder};
use std::time::Duration;

/// Delays from `first`, growing by `factor` per try, then staying at `cap`; without end
/// unless the caller sets `with_max_times`.
pub fn capped(first: Duration, factor: f32, cap: Duration) -> ExponentialBuilder {
    ExponentialBuilder::new().with_min_delay(first).with_factor(factor).with_max_delay(cap).without_max_times()
}

/// BatchWriteItem's unprocessed items: 10 rounds, 50–100 ms doubling up to 2.5–5 s
/// (jitter adds up to the delay itself, so concurrent writers spread out).
pub fn dynamodb_unprocessed(rounds: usize) -> ExponentialBackoff {
    capped(Duration::from_millis(50), 2.0, Duration::from_millis(2_500)).with_jitter().with_max_times(rounds).build()
}

/// A local database write still locked by another process after SQLite's own busy
/// timeout: 8 more tries, 50 ms doubling up to 2 s, jittered so writers spread out.
pub fn sqlite_busy() -> ExponentialBackoff {
    capped(Duration::from_millis(50), 2.0, Duration::from_secs(2)).with_jitter().with_max_times(8).build()
}

/// Giving back a notification claim after a failed announcement, beyond the SDK's own
/// attempts: a claim that stays makes the retry skip the alarm (lost). 5 more tries, 100 ms
/// doubling up to 2 s, jittered.
pub fn claim_release() -> ExponentialBackoff {
    capped(Duration::from_millis(100), 2.0, Duration::from_secs(2)).with_jitter().with_max_times(5).build()
}

/// The dashboard's store and log pollers after a failure: 1 s, 2 s, 4 s ... 30 s, for ever.
pub fn dashboard() -> ExponentialBackoff {
    capped(Duration::from_secs(1), 2.0, Duration::from_secs(30)).build()
}

/// Polling Athena for a query's state: 200 ms growing by half up to 2 s (the caller's
/// `--timeout` ends it).
pub fn athena_poll() -> ExponentialBackoff {
    capped(Duration::from_millis(200), 1.5, Duration::from_secs(2)).build()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn millis(delays: impl Iterator<Item = Duration>, n: usize) -> Vec<u128> {
        delays.take(n).map(|d| d.as_millis()).collect()
    }

    #[test]
    fn dashboard_doubles_then_stays_at_30_s() {
        assert_eq!(millis(dashboard(), 8), [1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000]);
    }

    #[test]
    fn athena_polls_grow_by_half_up_to_2_s() {
        // 200 · 1.5^k ms (backon multiplies in f32, hence the tolerance of 1 ms).
        let expected = [200.0, 300.0, 450.0, 675.0, 1012.5, 1518.75, 2000.0, 2000.0];
        for (got, want) in athena_poll().take(8).zip(expected) {
            assert!((got.as_secs_f64() * 1e3 - want).abs() < 1.0, "{got:?} vs {want} ms");
        }
    }

    #[test]
    fn unprocessed_items_get_ten_jittered_rounds() {
        let delays: Vec<Duration> = dynamodb_unprocessed(10).collect();
        assert_eq!(delays.len(), 10);
        // Round k waits between base_k and 2·base_k, base_k = 50 ms · 2^(k-1) capped at 2.5 s.
        for (k, d) in delays.iter().enumerate() {
            let base = (50.0 * 2f64.powi(k as i32)).min(2_500.0);
            let ms = d.as_secs_f64() * 1e3;
            assert!(ms >= base - 1.0 && ms <= 2.0 * base + 1.0, "round {}: {ms} ms, base {base}", k + 1);
        }
    }
}
