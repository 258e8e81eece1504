//! The streaming analysis engine (pure: no I/O beyond the `Read` it is handed).
//!
//! Rows are grouped per substation into open hours. An hour is closed — its rollup
//! emitted, its readings folded into the file summary and the alert episodes — once the
//! substation's newest reading is more than the reorder window past it, or at the end
//! of the file. Closing in time order makes every result independent of row order
//! within the window, and keeps memory flat: only the open hours are held.

use crate::config::AnalysisConfig;
use crate::ingest::{self, Row};
use crate::model::{
    Alert, AlertRule, AlertStatus, DailyPeak, FileReport, ForecastPoint, HourlyRollup, LocationSummary, Reading,
    RejectedRow,
};
use crate::stats::RunningStats;
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io::Read;

const HOUR: i64 = 3600;
/// Hourly loads kept per substation for the forecast: 8 weeks, where the forecast's
/// measured gain mostly arrives (docs/forecast.md).
const RECENT_HOURS: usize = 56 * 24;
/// Rollups are handed to the sink in batches of this size (a DynamoDB batch is 25).
const ROLLUP_BATCH: usize = 250;

/// One reading as the engine keeps it while its hour is open.
#[derive(Debug, Clone, Copy)]
struct Sample {
    ts: i64,
    load: f64,
    generation: f64,
    solar: f64,
    wind: f64,
    voltage: f64,
    frequency: f64,
    power_factor: Option<f64>,
}

/// An alert episode that has not ended yet.
#[derive(Debug, Clone, Copy)]
struct OpenEpisode {
    started: i64,
    last: i64,
    worst: f64,
    samples: u64,
}

const RULES: [AlertRule; 5] = [
    AlertRule::Undervoltage,
    AlertRule::Overvoltage,
    AlertRule::FrequencyDeviation,
    AlertRule::Overload,
    AlertRule::LowStability,
];

#[derive(Default)]
struct LocationAcc {
    location: String,
    newest: i64,
    open_hours: BTreeMap<i64, Vec<Sample>>,
    /// Hours starting before this were closed; rows for them come too late.
    closed_before: Option<i64>,
    prev_ts: Option<i64>,
    rows: u64,
    first_ts: i64,
    last_ts: i64,
    load: RunningStats,
    generation: RunningStats,
    solar: RunningStats,
    wind: RunningStats,
    voltage: RunningStats,
    frequency: RunningStats,
    power_factor: RunningStats,
    power_factor_defaulted: u64,
    frequency_max_dev: f64,
    /// (load, time) of the peak; the earliest wins a tie.
    peak: Option<(f64, i64)>,
    /// Histogram of gaps between consecutive readings (seconds → count).
    gaps: HashMap<i64, u64>,
    daily_max: BTreeMap<NaiveDate, (f64, i64)>,
    episodes: [Option<OpenEpisode>; 5],
    alerts: Vec<Alert>,
    alerts_dropped: u64,
    recent_load: VecDeque<(i64, f64)>,
}

/// What the engine has once the input ends.
#[derive(Debug, Clone)]
pub struct Finished {
    /// Rollups not yet taken with [`Analyzer::take_finished`].
    pub rollups: Vec<HourlyRollup>,
    pub summaries: Vec<LocationSummary>,
    /// The newest hourly loads per substation (up to 8 weeks), for the forecast.
    pub recent_load: BTreeMap<String, Vec<(DateTime<Utc>, f64)>>,
}

pub struct Analyzer {
    cfg: AnalysisConfig,
    locations: BTreeMap<String, LocationAcc>,
    finished: Vec<HourlyRollup>,
}

fn to_utc(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(secs, 0).single().unwrap_or_default()
}

fn hour_start(secs: i64) -> i64 {
    secs.div_euclid(HOUR) * HOUR
}

/// The seed's stability score: mean of (1 − min(|V̄−V_nom|/V_nom, 1)) and (1 − min(|f̄−f_nom|/f_nom, 1)).
pub fn stability_score(voltage_avg: f64, frequency_avg: f64, cfg: &AnalysisConfig) -> f64 {
    let v = 1.0 - ((voltage_avg - cfg.nominal_voltage_kv).abs() / cfg.nominal_voltage_kv).min(1.0);
    let f = 1.0 - ((frequency_avg - cfg.nominal_frequency_hz).abs() / cfg.nominal_frequency_hz).min(1.0);
    (v + f) / 2.0
}

/// The seed's efficiency score: mean of min(load̄/gen̄, 1) and pf̄ (the load term is 0 without generation).
pub fn efficiency_score(load_avg: f64, generation_avg: f64, power_factor_avg: f64) -> f64 {
    let ratio = if generation_avg > 0.0 { (load_avg / generation_avg).min(1.0) } else { 0.0 };
    (ratio + power_factor_avg) / 2.0
}

/// Load over generation; infinite when there is load but no generation.
fn overload_ratio(load: f64, generation: f64) -> f64 {
    if generation > 0.0 {
        load / generation
    } else if load > 0.0 {
        f64::INFINITY
    } else {
        0.0
    }
}

impl Analyzer {
    pub fn new(cfg: AnalysisConfig) -> Self {
        Self { cfg, locations: BTreeMap::new(), finished: Vec::new() }
    }

    pub fn config(&self) -> &AnalysisConfig {
        &self.cfg
    }

    /// Adds one reading. Returns the rejection reason for a duplicate timestamp or a
    /// reading that arrives after its hour was closed.
    pub fn push(&mut self, reading: &Reading) -> Result<(), String> {
        let ts = reading.timestamp.timestamp();
        let hour = hour_start(ts);
        let acc = match self.locations.get_mut(reading.location.as_str()) {
            Some(acc) => acc,
            None => self
                .locations
                .entry(reading.location.clone())
                .or_insert_with(|| LocationAcc { location: reading.location.clone(), ..Default::default() }),
        };
        if let Some(closed) = acc.closed_before
            && hour < closed
        {
            let window = self.cfg.reorder_window_hours.unwrap_or(0);
            return Err(format!(
                "arrived after readings more than {window} h newer for {}; its hour was already analysed \
                 (upload it in its own file, or sort the file by time)",
                reading.location
            ));
        }
        let samples = acc.open_hours.entry(hour).or_default();
        let at = samples.partition_point(|s| s.ts < ts);
        if samples.get(at).is_some_and(|s| s.ts == ts) {
            return Err(format!("duplicate timestamp {} for {}; the first reading was kept", crate::model::format_ts(reading.timestamp), reading.location));
        }
        samples.insert(
            at,
            Sample {
                ts,
                load: reading.load_mw,
                generation: reading.generation_mw,
                solar: reading.solar_mw,
                wind: reading.wind_mw,
                voltage: reading.voltage_kv,
                frequency: reading.frequency_hz,
                power_factor: reading.power_factor,
            },
        );
        let advanced_hour = acc.open_hours.len() == 1 || hour_start(acc.newest) < hour;
        acc.newest = acc.newest.max(ts);
        if advanced_hour && let Some(window) = self.cfg.reorder_window_hours {
            let close_before = hour_start(acc.newest) - i64::from(window) * HOUR;
            Self::close_hours(&self.cfg, acc, &mut self.finished, Some(close_before));
        }
        Ok(())
    }

    /// Rollups of hours closed so far (the caller writes them out while reading goes on).
    pub fn take_finished(&mut self) -> Vec<HourlyRollup> {
        std::mem::take(&mut self.finished)
    }

    pub fn finished_len(&self) -> usize {
        self.finished.len()
    }

    /// Closes every open hour and returns the summaries.
    pub fn finish(mut self) -> Finished {
        let mut summaries = Vec::with_capacity(self.locations.len());
        let mut recent_load = BTreeMap::new();
        for (location, acc) in self.locations.iter_mut() {
            Self::close_hours(&self.cfg, acc, &mut self.finished, None);
            for rule_index in 0..RULES.len() {
                end_episode(&self.cfg, acc, rule_index);
            }
            if acc.rows == 0 {
                continue;
            }
            summaries.push(summarize(&self.cfg, location, acc));
            recent_load.insert(location.clone(), acc.recent_load.iter().map(|&(h, l)| (to_utc(h), l)).collect());
        }
        Finished { rollups: self.finished, summaries, recent_load }
    }

    /// Closes the open hours starting before `before` (all of them with `None`), oldest first.
    fn close_hours(cfg: &AnalysisConfig, acc: &mut LocationAcc, out: &mut Vec<HourlyRollup>, before: Option<i64>) {
        while let Some(entry) = acc.open_hours.first_entry() {
            let hour = *entry.key();
            if before.is_some_and(|b| hour >= b) {
                break;
            }
            let samples = entry.remove();
            acc.closed_before = Some(acc.closed_before.map_or(hour + HOUR, |c| c.max(hour + HOUR)));
            if samples.is_empty() {
                continue;
            }
            out.push(Self::fold_hour(cfg, acc, hour, &samples));
        }
    }

    /// Folds one closed hour (samples sorted by time) into the summary and alert episodes,
    /// and returns its rollup.
    fn fold_hour(cfg: &AnalysisConfig, acc: &mut LocationAcc, hour: i64, samples: &[Sample]) -> HourlyRollup {
        let mut load = RunningStats::default();
        let mut voltage = RunningStats::default();
        let mut frequency = RunningStats::default();
        let (mut generation, mut solar, mut wind, mut pf_sum) = (0.0, 0.0, 0.0, 0.0);
        let mut pf_defaulted = 0;
        let mut max_dev: f64 = 0.0;
        for s in samples {
            load.push(s.load);
            voltage.push(s.voltage);
            frequency.push(s.frequency);
            generation += s.generation;
            solar += s.solar;
            wind += s.wind;
            let pf = s.power_factor.unwrap_or_else(|| {
                pf_defaulted += 1;
                cfg.default_power_factor
            });
            pf_sum += pf;
            max_dev = max_dev.max((s.frequency - cfg.nominal_frequency_hz).abs());
            Self::fold_sample(cfg, acc, s, pf);
        }
        let n = samples.len() as f64;
        let generation_avg = generation / n;
        let power_factor_avg = pf_sum / n;
        let stability = stability_score(voltage.mean(), frequency.mean(), cfg);
        let mut rollup = HourlyRollup {
            location: acc.location.clone(),
            timestamp: to_utc(hour),
            count: samples.len() as u64,
            load_avg_mw: load.mean(),
            load_min_mw: load.min,
            load_peak_mw: load.max,
            generation_avg_mw: generation_avg,
            solar_avg_mw: solar / n,
            wind_avg_mw: wind / n,
            renewable_penetration: if generation > 0.0 { (solar + wind) / generation } else { 0.0 },
            voltage_avg_kv: voltage.mean(),
            voltage_min_kv: voltage.min,
            voltage_max_kv: voltage.max,
            frequency_avg_hz: frequency.mean(),
            frequency_min_hz: frequency.min,
            frequency_max_hz: frequency.max,
            frequency_max_dev_hz: max_dev,
            power_factor_avg,
            power_factor_defaulted: pf_defaulted,
            stability_score: stability,
            efficiency_score: efficiency_score(load.mean(), generation_avg, power_factor_avg),
            alert_status: AlertStatus::Normal,
            alert_reasons: Vec::new(),
        };
        let (status, reasons) = hour_status(cfg, &rollup);
        rollup.alert_status = status;
        rollup.alert_reasons = reasons;
        acc.recent_load.push_back((hour, rollup.load_avg_mw));
        if acc.recent_load.len() > RECENT_HOURS {
            acc.recent_load.pop_front();
        }
        rollup
    }

    /// Summary statistics and per-interval alert episodes, one reading at a time, in time order.
    fn fold_sample(cfg: &AnalysisConfig, acc: &mut LocationAcc, s: &Sample, pf: f64) {
        if let Some(prev) = acc.prev_ts {
            *acc.gaps.entry(s.ts - prev).or_default() += 1;
        } else {
            acc.first_ts = s.ts;
        }
        acc.prev_ts = Some(s.ts);
        acc.last_ts = s.ts;
        acc.rows += 1;
        acc.load.push(s.load);
        acc.generation.push(s.generation);
        acc.solar.push(s.solar);
        acc.wind.push(s.wind);
        acc.voltage.push(s.voltage);
        acc.frequency.push(s.frequency);
        acc.power_factor.push(pf);
        if s.power_factor.is_none() {
            acc.power_factor_defaulted += 1;
        }
        let dev = (s.frequency - cfg.nominal_frequency_hz).abs();
        acc.frequency_max_dev = acc.frequency_max_dev.max(dev);
        if acc.peak.is_none_or(|(load, _)| s.load > load) {
            acc.peak = Some((s.load, s.ts));
        }
        let day = to_utc(s.ts).date_naive();
        let daily = acc.daily_max.entry(day).or_insert((s.load, s.ts));
        if s.load > daily.0 {
            *daily = (s.load, s.ts);
        }
        // (rule index, violates?, value of this reading, is a larger value worse?)
        let checks = [
            (s.voltage < cfg.voltage_low_kv, s.voltage, false),
            (s.voltage > cfg.voltage_high_kv, s.voltage, true),
            (dev > cfg.frequency_deviation_hz, dev, true),
            {
                let ratio = overload_ratio(s.load, s.generation);
                (ratio > cfg.overload_ratio, ratio, true)
            },
            {
                let stability = stability_score(s.voltage, s.frequency, cfg);
                (stability < cfg.stability_min, stability, false)
            },
        ];
        for (rule_index, (violates, value, larger_is_worse)) in checks.into_iter().enumerate() {
            if violates {
                let episode = acc.episodes[rule_index].get_or_insert(OpenEpisode { started: s.ts, last: s.ts, worst: value, samples: 0 });
                episode.last = s.ts;
                episode.samples += 1;
                let worse = if larger_is_worse { value > episode.worst } else { value < episode.worst };
                if worse {
                    episode.worst = value;
                }
            } else {
                end_episode(cfg, acc, rule_index);
            }
        }
    }
}

fn end_episode(cfg: &AnalysisConfig, acc: &mut LocationAcc, rule_index: usize) {
    let Some(ep) = acc.episodes[rule_index].take() else { return };
    if acc.alerts.len() >= cfg.max_alerts_per_location {
        acc.alerts_dropped += 1;
        return;
    }
    let alert = make_alert(cfg, &acc.location, RULES[rule_index], &ep);
    acc.alerts.push(alert);
}

fn rule_severity(rule: AlertRule) -> AlertStatus {
    match rule {
        AlertRule::Overload => AlertStatus::Warning,
        _ => AlertStatus::Critical,
    }
}

fn rule_threshold(cfg: &AnalysisConfig, rule: AlertRule) -> f64 {
    match rule {
        AlertRule::Undervoltage => cfg.voltage_low_kv,
        AlertRule::Overvoltage => cfg.voltage_high_kv,
        AlertRule::FrequencyDeviation => cfg.frequency_deviation_hz,
        AlertRule::Overload => cfg.overload_ratio,
        AlertRule::LowStability => cfg.stability_min,
    }
}

fn make_alert(cfg: &AnalysisConfig, location: &str, rule: AlertRule, ep: &OpenEpisode) -> Alert {
    let threshold = rule_threshold(cfg, rule);
    let what = match rule {
        AlertRule::Undervoltage => format!("voltage fell to {:.3} kV (limit {threshold:.2} kV)", ep.worst),
        AlertRule::Overvoltage => format!("voltage rose to {:.3} kV (limit {threshold:.2} kV)", ep.worst),
        AlertRule::FrequencyDeviation => {
            format!("frequency deviated {:.3} Hz from {} Hz (limit {threshold:.3} Hz)", ep.worst, cfg.nominal_frequency_hz)
        }
        AlertRule::Overload if ep.worst.is_infinite() => "load with no generation".to_string(),
        AlertRule::Overload => format!("load reached {:.1} % of generation (limit {:.0} %)", ep.worst * 100.0, threshold * 100.0),
        AlertRule::LowStability => format!("stability score {:.3} (limit {threshold:.2})", ep.worst),
    };
    let started_at = to_utc(ep.started);
    let ended_at = to_utc(ep.last);
    Alert {
        location: location.to_string(),
        rule,
        severity: rule_severity(rule),
        started_at,
        ended_at,
        // JSON has no infinity: a load with no generation at all is reported as ratio 0 → see message.
        worst_value: if ep.worst.is_finite() { ep.worst } else { f64::MAX },
        threshold,
        samples: ep.samples,
        message: format!(
            "{location}: {what}; {} reading(s) from {} to {}",
            ep.samples,
            crate::model::format_ts(started_at),
            crate::model::format_ts(ended_at)
        ),
    }
}

/// Status and reasons of one hour.
fn hour_status(cfg: &AnalysisConfig, r: &HourlyRollup) -> (AlertStatus, Vec<String>) {
    let mut status = AlertStatus::Normal;
    let mut reasons = Vec::new();
    let mut flag = |severity: AlertStatus, reason: String| {
        status = status.max(severity);
        reasons.push(reason);
    };
    if r.voltage_min_kv < cfg.voltage_low_kv {
        flag(AlertStatus::Critical, format!("voltage min {:.3} kV < {:.2} kV", r.voltage_min_kv, cfg.voltage_low_kv));
    }
    if r.voltage_max_kv > cfg.voltage_high_kv {
        flag(AlertStatus::Critical, format!("voltage max {:.3} kV > {:.2} kV", r.voltage_max_kv, cfg.voltage_high_kv));
    }
    if r.frequency_max_dev_hz > cfg.frequency_deviation_hz {
        flag(
            AlertStatus::Critical,
            format!("frequency deviation {:.3} Hz > {:.3} Hz", r.frequency_max_dev_hz, cfg.frequency_deviation_hz),
        );
    }
    if r.stability_score < cfg.stability_min {
        flag(AlertStatus::Critical, format!("stability {:.3} < {:.2}", r.stability_score, cfg.stability_min));
    }
    let ratio = overload_ratio(r.load_peak_mw, r.generation_avg_mw);
    if ratio > cfg.overload_ratio {
        flag(AlertStatus::Warning, format!("peak load {:.1} % of average generation > {:.0} %", ratio * 100.0, cfg.overload_ratio * 100.0));
    }
    (status, reasons)
}

/// The sampling interval: the most common gap between consecutive readings (the
/// shortest wins a tie); `None` with fewer than two readings.
fn detect_interval(gaps: &HashMap<i64, u64>) -> Option<i64> {
    gaps.iter().filter(|(gap, _)| **gap > 0).max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0))).map(|(gap, _)| *gap)
}

fn summarize(cfg: &AnalysisConfig, location: &str, acc: &LocationAcc) -> LocationSummary {
    let interval_secs = detect_interval(&acc.gaps).unwrap_or(i64::from(cfg.fallback_interval_minutes) * 60);
    let hours_per_reading = interval_secs as f64 / 3600.0;
    let load = acc.load.spread();
    let voltage = acc.voltage.spread();
    let frequency = acc.frequency.spread();
    let generation_avg = acc.generation.mean();
    let power_factor_avg = acc.power_factor.mean();
    let stability = stability_score(voltage.avg, frequency.avg, cfg);
    let (peak_load, peak_ts) = acc.peak.unwrap_or((0.0, acc.first_ts));
    let mut daily_peaks: Vec<DailyPeak> = acc
        .daily_max
        .iter()
        .map(|(date, &(load_mw, ts))| DailyPeak { date: *date, timestamp: to_utc(ts), load_mw })
        .collect();
    daily_peaks.sort_by(|a, b| b.load_mw.total_cmp(&a.load_mw).then(a.date.cmp(&b.date)));
    daily_peaks.truncate(cfg.top_daily_peaks);

    let mut status = acc.alerts.iter().map(|a| a.severity).max().unwrap_or_default();
    let mut status_reasons = Vec::new();
    let mut flag = |severity: AlertStatus, reason: String| {
        status = status.max(severity);
        status_reasons.push(reason);
    };
    if voltage.avg < cfg.voltage_low_kv || voltage.avg > cfg.voltage_high_kv {
        flag(AlertStatus::Critical, format!("average voltage {:.3} kV outside {:.2}..{:.2} kV", voltage.avg, cfg.voltage_low_kv, cfg.voltage_high_kv));
    }
    let mean_dev = (frequency.avg - cfg.nominal_frequency_hz).abs();
    if mean_dev > cfg.frequency_deviation_hz {
        flag(AlertStatus::Critical, format!("average frequency off nominal by {mean_dev:.3} Hz > {:.3} Hz", cfg.frequency_deviation_hz));
    }
    let ratio = overload_ratio(peak_load, generation_avg);
    if ratio > cfg.overload_ratio {
        flag(AlertStatus::Warning, format!("peak load {:.1} % of average generation > {:.0} %", ratio * 100.0, cfg.overload_ratio * 100.0));
    }
    if stability < cfg.stability_min {
        flag(AlertStatus::Critical, format!("stability {stability:.3} < {:.2}", cfg.stability_min));
    }
    let renewable = acc.solar.sum + acc.wind.sum;
    LocationSummary {
        location: location.to_string(),
        rows: acc.rows,
        first_timestamp: to_utc(acc.first_ts),
        last_timestamp: to_utc(acc.last_ts),
        interval_minutes: interval_secs as f64 / 60.0,
        interval_assumed: detect_interval(&acc.gaps).is_none(),
        load_mw: load,
        peak_load_time: to_utc(peak_ts),
        generation_avg_mw: generation_avg,
        generation_mwh: acc.generation.sum * hours_per_reading,
        solar_mwh: acc.solar.sum * hours_per_reading,
        wind_mwh: acc.wind.sum * hours_per_reading,
        renewable_penetration: if acc.generation.sum > 0.0 { renewable / acc.generation.sum } else { 0.0 },
        voltage_kv: voltage,
        frequency_hz: frequency,
        frequency_max_dev_hz: acc.frequency_max_dev,
        power_factor_avg,
        power_factor_defaulted_rows: acc.power_factor_defaulted,
        stability_score: stability,
        efficiency_score: efficiency_score(load.avg, generation_avg, power_factor_avg),
        load_factor: if load.max > 0.0 { load.avg / load.max } else { 0.0 },
        daily_peaks,
        alert_status: status,
        status_reasons,
        alerts: acc.alerts.clone(),
        alerts_dropped: acc.alerts_dropped,
    }
}

// ---------------------------------------------------------------- driving a whole file

/// Where the analysis of one file sends what it produces while it reads.
pub trait AnalysisSink {
    /// A batch of closed hourly rollups.
    fn rollups(&mut self, batch: Vec<HourlyRollup>) -> anyhow::Result<()>;
    /// A row that was rejected (already counted in the report).
    fn rejected(&mut self, row: &RejectedRow) -> anyhow::Result<()>;
}

/// Collects everything in memory (tests, small files).
#[derive(Debug, Default)]
pub struct CollectSink {
    pub rollups: Vec<HourlyRollup>,
    pub rejected: Vec<RejectedRow>,
}

impl AnalysisSink for CollectSink {
    fn rollups(&mut self, batch: Vec<HourlyRollup>) -> anyhow::Result<()> {
        self.rollups.extend(batch);
        Ok(())
    }
    fn rejected(&mut self, row: &RejectedRow) -> anyhow::Result<()> {
        self.rejected.push(row.clone());
        Ok(())
    }
}

/// The result of [`analyze_stream`]: the report (forecasts not yet attached) and the
/// recent hourly loads the forecast starts from.
#[derive(Debug, Clone)]
pub struct StreamOutcome {
    pub report: FileReport,
    pub recent_load: BTreeMap<String, Vec<(DateTime<Utc>, f64)>>,
}

/// Reads a whole file (CSV / JSON lines, gzip or not) and analyses it, streaming
/// rollups and rejected rows into `sink`. A file that cannot be read at all is not an
/// `Err`: the report says why (`file_error`). Only sink failures are errors.
pub fn analyze_stream<R: Read>(
    input: R,
    source: &str,
    cfg: &AnalysisConfig,
    sink: &mut dyn AnalysisSink,
) -> anyhow::Result<StreamOutcome> {
    let mut report = FileReport {
        source: source.to_string(),
        format: String::new(),
        rows_read: 0,
        rows_accepted: 0,
        rows_rejected: 0,
        file_error: None,
        locations: Vec::new(),
        forecasts: Vec::new(),
        config: cfg.clone(),
    };
    let mut stream = match ingest::open(input, source) {
        Ok(stream) => stream,
        Err(e) => {
            report.file_error = Some(e.to_string());
            return Ok(StreamOutcome { report, recent_load: BTreeMap::new() });
        }
    };
    report.format = stream.format_name().to_string();
    let mut analyzer = Analyzer::new(cfg.clone());
    for row in stream.by_ref() {
        report.rows_read += 1;
        let rejected = match row {
            Row::Ok(reading, line) => match analyzer.push(&reading) {
                Ok(()) => {
                    report.rows_accepted += 1;
                    None
                }
                Err(reason) => Some(RejectedRow { line, field: "timestamp".into(), reason, raw: reading_as_csv(&reading) }),
            },
            Row::Rejected(row) => Some(row),
        };
        if let Some(row) = rejected {
            report.rows_rejected += 1;
            sink.rejected(&row)?;
        }
        if analyzer.finished_len() >= ROLLUP_BATCH {
            sink.rollups(analyzer.take_finished())?;
        }
    }
    if let Some(fatal) = stream.fatal.take() {
        report.file_error = Some(format!("{source}: {fatal}; the rows before it were analysed"));
    }
    let finished = analyzer.finish();
    if !finished.rollups.is_empty() {
        sink.rollups(finished.rollups)?;
    }
    report.locations = finished.summaries;
    Ok(StreamOutcome { report, recent_load: finished.recent_load })
}

/// A parsed reading back as a CSV row (the column order of the seed), so a row the
/// engine rejects is kept in a form that can be fixed and uploaded again.
fn reading_as_csv(r: &Reading) -> String {
    let mut out = Vec::new();
    let _ = crate::generator::write_reading_row(crate::generator::OutputFormat::Csv, r.power_factor.is_some(), r, &mut out);
    String::from_utf8_lossy(&out).trim_end().to_string()
}

/// Adds the 24 h forecast of every substation in the report, from its stored history
/// (`stored`, e.g. the last two weeks of rollups) overlaid with the file's own hours.
pub fn attach_forecasts(
    outcome: &mut StreamOutcome,
    mut stored: impl FnMut(&str) -> Vec<(DateTime<Utc>, f64)>,
) {
    let mut forecasts = Vec::new();
    for summary in &outcome.report.locations {
        let mut by_hour: BTreeMap<DateTime<Utc>, f64> = stored(&summary.location).into_iter().collect();
        if let Some(recent) = outcome.recent_load.get(&summary.location) {
            by_hour.extend(recent.iter().copied());
        }
        let history: Vec<(DateTime<Utc>, f64)> = by_hour.into_iter().collect();
        let from = to_utc(hour_start(summary.last_timestamp.timestamp()) + HOUR);
        forecasts.extend(
            crate::forecast::forecast_next_24h(&history, from)
                .into_iter()
                .map(|(timestamp, load_mw)| ForecastPoint { location: summary.location.clone(), timestamp, load_mw }),
        );
    }
    outcome.report.forecasts = forecasts;
}

