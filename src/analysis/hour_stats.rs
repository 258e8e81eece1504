//! Mergeable statistics of one substation-hour, so an hour fed by several files is the
//! rollup of all their readings whatever order the files arrive in.
//!
//! Each source's rollup of an hour is its partial: the count and the averages give the
//! sums back (`avg × count`), min/max/max-deviation merge as themselves, the defaulted
//! power factors add up, and the alarm status of the hour is the worst of the sources
//! with their reasons joined. The scores are recomputed from the merged averages with
//! the engine's formulas. Partials are merged in the order of their source keys, so the
//! result does not depend on which file was processed last.

use crate::analysis::engine::{efficiency_score, stability_score};
use crate::config::AnalysisConfig;
use crate::model::HourlyRollup;

/// Sums and extremes of one hour, from one or more sources.
#[derive(Debug, Clone, PartialEq)]
pub struct HourStats {
    pub count: u64,
    load_sum: f64,
    load_min: f64,
    load_max: f64,
    generation_sum: f64,
    solar_sum: f64,
    wind_sum: f64,
    voltage_sum: f64,
    voltage_min: f64,
    voltage_max: f64,
    frequency_sum: f64,
    frequency_min: f64,
    frequency_max: f64,
    frequency_max_dev: f64,
    power_factor_sum: f64,
    power_factor_defaulted: u64,
    alert_status: crate::model::AlertStatus,
    alert_reasons: Vec<String>,
}

impl HourStats {
    /// The partial one source's rollup stands for.
    pub fn from_rollup(r: &HourlyRollup) -> Self {
        let n = r.count as f64;
        Self {
            count: r.count,
            load_sum: r.load_avg_mw * n,
            load_min: r.load_min_mw,
            load_max: r.load_peak_mw,
            generation_sum: r.generation_avg_mw * n,
            solar_sum: r.solar_avg_mw * n,
            wind_sum: r.wind_avg_mw * n,
            voltage_sum: r.voltage_avg_kv * n,
            voltage_min: r.voltage_min_kv,
            voltage_max: r.voltage_max_kv,
            frequency_sum: r.frequency_avg_hz * n,
            frequency_min: r.frequency_min_hz,
            frequency_max: r.frequency_max_hz,
            frequency_max_dev: r.frequency_max_dev_hz,
            power_factor_sum: r.power_factor_avg * n,
            power_factor_defaulted: r.power_factor_defaulted,
            alert_status: r.alert_status,
            alert_reasons: r.alert_reasons.clone(),
        }
    }

    /// Adds another source's readings of the same hour.
    pub fn merge(&mut self, o: &HourStats) {
        self.count += o.count;
        self.load_sum += o.load_sum;
        self.load_min = self.load_min.min(o.load_min);
        self.load_max = self.load_max.max(o.load_max);
        self.generation_sum += o.generation_sum;
        self.solar_sum += o.solar_sum;
        self.wind_sum += o.wind_sum;
        self.voltage_sum += o.voltage_sum;
        self.voltage_min = self.voltage_min.min(o.voltage_min);
        self.voltage_max = self.voltage_max.max(o.voltage_max);
        self.frequency_sum += o.frequency_sum;
        self.frequency_min = self.frequency_min.min(o.frequency_min);
        self.frequency_max = self.frequency_max.max(o.frequency_max);
        self.frequency_max_dev = self.frequency_max_dev.max(o.frequency_max_dev);
        self.power_factor_sum += o.power_factor_sum;
        self.power_factor_defaulted += o.power_factor_defaulted;
        self.alert_status = self.alert_status.max(o.alert_status);
        for reason in &o.alert_reasons {
            if !self.alert_reasons.contains(reason) {
                self.alert_reasons.push(reason.clone());
            }
        }
    }

    /// The rollup of the merged readings (the same formulas as the engine's).
    pub fn to_rollup(&self, location: &str, hour: chrono::DateTime<chrono::Utc>, cfg: &AnalysisConfig) -> HourlyRollup {
        let n = self.count.max(1) as f64;
        let (load_avg, generation_avg, voltage_avg, frequency_avg, pf_avg) = (
            self.load_sum / n,
            self.generation_sum / n,
            self.voltage_sum / n,
            self.frequency_sum / n,
            self.power_factor_sum / n,
        );
        HourlyRollup {
            location: location.to_string(),
            timestamp: hour,
            count: self.count,
            load_avg_mw: load_avg,
            load_min_mw: self.load_min,
            load_peak_mw: self.load_max,
            generation_avg_mw: generation_avg,
            solar_avg_mw: self.solar_sum / n,
            wind_avg_mw: self.wind_sum / n,
            renewable_penetration: if self.generation_sum > 0.0 {
                (self.solar_sum + self.wind_sum) / self.generation_sum
            } else {
                0.0
            },
            voltage_avg_kv: voltage_avg,
            voltage_min_kv: self.voltage_min,
            voltage_max_kv: self.voltage_max,
            frequency_avg_hz: frequency_avg,
            frequency_min_hz: self.frequency_min,
            frequency_max_hz: self.frequency_max,
            frequency_max_dev_hz: self.frequency_max_dev,
            power_factor_avg: pf_avg,
            power_factor_defaulted: self.power_factor_defaulted,
            stability_score: stability_score(voltage_avg, frequency_avg, cfg),
            efficiency_score: efficiency_score(load_avg, generation_avg, pf_avg),
            alert_status: self.alert_status,
            alert_reasons: self.alert_reasons.clone(),
        }
    }
}

/// The stored rollup of an hour from every source's partial (`(source key, rollup)`, any
/// order). One source: its rollup unchanged. `None` without partials.
pub fn combine(mut parts: Vec<(String, HourlyRollup)>, cfg: &AnalysisConfig) -> Option<HourlyRollup> {
    parts.sort_by(|a, b| a.0.cmp(&b.0));
    let mut it = parts.into_iter();
    let (_, first) = it.next()?;
    let Some((_, second)) = it.next() else {
        return Some(first);
    };
    let mut stats = HourStats::from_rollup(&first);
    stats.merge(&HourStats::from_rollup(&second));
    for (_, r) in it {
        stats.merge(&HourStats::from_rollup(&r));
    }
    Some(stats.to_rollup(&first.location, first.timestamp, cfg))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::engine::{analyze_stream, CollectSink};

    const HEADER: &str = "timestamp,location,load_mw,generation_mw,voltage_kv,frequency_hz,solar_mw,wind_mw\n";

    fn rollup_of(rows: &str) -> HourlyRollup {
        let mut sink = CollectSink::default();
        analyze_stream(format!("{HEADER}{rows}").as_bytes(), "raw/t.csv", &AnalysisConfig::default(), &mut sink).unwrap();
        assert_eq!(sink.rollups.len(), 1);
        sink.rollups.remove(0)
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-12 * a.abs().max(1.0)
    }

    #[test]
    fn two_halves_of_an_hour_merge_to_the_rollup_of_all_readings() {
        let a = "2025-01-14T00:00:00Z,s1,10,12,13.8,60.01,1,2\n2025-01-14T00:15:00Z,s1,11,13,13.7,59.98,1.5,2\n";
        let b = "2025-01-14T00:30:00Z,s1,14,12,13.9,60.02,0,3,0.9\n2025-01-14T00:45:00Z,s1,9,10,13.6,60,2,0\n";
        let whole = rollup_of(&format!("{a}{b}"));
        let cfg = AnalysisConfig::default();
        let ab = combine(vec![("raw/a".into(), rollup_of(a)), ("raw/b".into(), rollup_of(b))], &cfg).unwrap();
        let ba = combine(vec![("raw/b".into(), rollup_of(b)), ("raw/a".into(), rollup_of(a))], &cfg).unwrap();
        assert_eq!(ab, ba, "the order the sources come in does not matter");
        assert_eq!((ab.count, ab.power_factor_defaulted), (whole.count, whole.power_factor_defaulted));
        assert_eq!((ab.load_min_mw, ab.load_peak_mw, ab.voltage_min_kv), (whole.load_min_mw, whole.load_peak_mw, whole.voltage_min_kv));
        assert_eq!(ab.frequency_max_dev_hz, whole.frequency_max_dev_hz);
        for (got, want) in [
            (ab.load_avg_mw, whole.load_avg_mw),
            (ab.voltage_avg_kv, whole.voltage_avg_kv),
            (ab.frequency_avg_hz, whole.frequency_avg_hz),
            (ab.renewable_penetration, whole.renewable_penetration),
            (ab.power_factor_avg, whole.power_factor_avg),
            (ab.stability_score, whole.stability_score),
            (ab.efficiency_score, whole.efficiency_score),
        ] {
            assert!(close(got, want), "{got} vs {want}");
        }
    }

    #[test]
    fn one_source_is_stored_as_it_is_and_alarm_status_is_the_worst() {
        let cfg = AnalysisConfig::default();
        let normal = rollup_of("2025-01-14T00:00:00Z,s1,10,12,13.8,60,1,2\n");
        assert_eq!(combine(vec![("raw/a".into(), normal.clone())], &cfg), Some(normal.clone()));
        assert_eq!(combine(Vec::new(), &cfg), None);
        let mut low = rollup_of("2025-01-14T00:30:00Z,s1,10,12,11.0,60,1,2\n");
        low.alert_status = crate::model::AlertStatus::Critical;
        low.alert_reasons = vec!["undervoltage".into()];
        let both = combine(vec![("raw/b".into(), low), ("raw/a".into(), normal)], &cfg).unwrap();
        assert_eq!(both.alert_status, crate::model::AlertStatus::Critical);
        assert_eq!(both.alert_reasons, vec!["undervoltage".to_string()]);
        assert_eq!(both.voltage_min_kv, 11.0);
    }
}
