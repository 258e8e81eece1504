//! Streaming statistics: count, sum, mean, min, max and variance in one pass
//! (Welford), mergeable so results do not depend on how a file is split.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RunningStats {
    pub n: u64,
    pub sum: f64,
    mean: f64,
    m2: f64,
    pub min: f64,
    pub max: f64,
}

impl Default for RunningStats {
    fn default() -> Self {
        Self { n: 0, sum: 0.0, mean: 0.0, m2: 0.0, min: f64::INFINITY, max: f64::NEG_INFINITY }
    }
}

impl RunningStats {
    pub fn push(&mut self, x: f64) {
        self.n += 1;
        self.sum += x;
        let delta = x - self.mean;
        self.mean += delta / self.n as f64;
        self.m2 += delta * (x - self.mean);
        self.min = self.min.min(x);
        self.max = self.max.max(x);
    }

    /// Combine two partial results (Chan et al.'s parallel variance).
    pub fn merge(&mut self, other: &RunningStats) {
        if other.n == 0 {
            return;
        }
        if self.n == 0 {
            *self = *other;
            return;
        }
        let n = self.n + other.n;
        let delta = other.mean - self.mean;
        self.m2 += other.m2 + delta * delta * (self.n as f64) * (other.n as f64) / n as f64;
        self.mean += delta * other.n as f64 / n as f64;
        self.n = n;
        self.sum += other.sum;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }

    /// Mean, or 0 when empty.
    pub fn mean(&self) -> f64 {
        if self.n == 0 { 0.0 } else { self.mean }
    }

    /// Sample standard deviation (n - 1), 0 with fewer than two values.
    pub fn std(&self) -> f64 {
        if self.n < 2 { 0.0 } else { (self.m2 / (self.n - 1) as f64).max(0.0).sqrt() }
    }

    pub fn min_or_zero(&self) -> f64 {
        if self.n == 0 { 0.0 } else { self.min }
    }

    pub fn max_or_zero(&self) -> f64 {
        if self.n == 0 { 0.0 } else { self.max }
    }

    pub fn spread(&self) -> crate::model::Spread {
        crate::model::Spread { avg: self.mean(), min: self.min_or_zero(), max: self.max_or_zero(), std: self.std() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_hand_computed_values() {
        let mut s = RunningStats::default();
        for x in [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0] {
            s.push(x);
        }
        assert_eq!(s.n, 8);
        assert!((s.mean() - 5.0).abs() < 1e-12);
        // sample variance = 32 / 7
        assert!((s.std() - (32.0f64 / 7.0).sqrt()).abs() < 1e-12);
        assert_eq!(s.min, 2.0);
        assert_eq!(s.max, 9.0);
    }

    #[test]
    fn merge_equals_single_pass() {
        let xs = [1.5, -3.0, 8.25, 0.0, 2.0, 11.0, 4.5];
        let mut all = RunningStats::default();
        xs.iter().for_each(|&x| all.push(x));
        let (a, b) = xs.split_at(3);
        let mut left = RunningStats::default();
        a.iter().for_each(|&x| left.push(x));
        let mut right = RunningStats::default();
        b.iter().for_each(|&x| right.push(x));
        left.merge(&right);
        assert_eq!(left.n, all.n);
        assert!((left.mean() - all.mean()).abs() < 1e-12);
        assert!((left.std() - all.std()).abs() < 1e-12);
        assert_eq!((left.min, left.max), (all.min, all.max));
    }

    #[test]
    fn empty_is_zero_not_nan() {
        let s = RunningStats::default();
        assert_eq!((s.mean(), s.std(), s.min_or_zero(), s.max_or_zero()), (0.0, 0.0, 0.0, 0.0));
    }
}
