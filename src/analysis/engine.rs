//! The streaming analysis engine (pure: no I/O beyond the `Read` it is handed).
//!
//! Rows are grouped per substation into open hours. An hour is closed — its rollup
//! emitted, its readings folded into the file summary and the alert episodes — once the
//! substation's newest reading is more than the reorder window past it, or at the end
//! of the file. Closing in time order makes every result independent of row order
//! within the window, and keeps memory flat: only the open hours are held.

use crate::analysis::alarms::{AlarmCheckpoint, Episode, Step, Tracker};
use crate::analysis::ingest::{self, Row};
use crate::analysis::rules::{RuleSpec, RuleTable, Signal};
use crate::analysis::stats::RunningStats;
use crate::config::AnalysisConfig;
use crate::model::{
    Alert, AlertRule, AlertStatus, DailyPeak, FileReport, ForecastPoint, HourlyRollup, LocationSummary, Priority, Reading,
    RejectedRow,
};
use chrono::{DateTime, TimeZone, Utc};
use std::collections::{BTreeMap, VecDeque};
use std::io::{BufRead, Read};

const HOUR: i64 = 3600;
const DAY: i64 = 24 * HOUR;
/// Hourly loads kept per substation for the forecast: 8 weeks, where the forecast's
/// measured gain mostly arrives (docs/forecast.md).
const RECENT_HOURS: usize = 56 * 24;
/// Rollups are handed to the sink in batches of this size (a DynamoDB batch is 25).
const ROLLUP_BATCH: usize = 250;
/// The largest sample list kept for reuse ([`LocationAcc::spare_samples`]): an hour of 1-minute data.
const SPARE_SAMPLES_MAX: usize = 64;
/// Ended alarm episodes are handed to a sink that takes them ([`AnalysisSink::takes_alarms`])
/// in batches of this size: a long file has tens of thousands, the largest thing it held.
pub const ALARM_BATCH: usize = 1_000;

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

#[derive(Default)]
struct LocationAcc {
    location: String,
    /// The newest reading's time (starts at `i64::MIN`, not the epoch: data may predate 1970).
    newest: i64,
    open_hours: BTreeMap<i64, Vec<Sample>>,
    /// A closed hour's emptied sample list, for the next hour to open (no allocation per
    /// hour); kept only while small (high-rate data's hours are thousands of samples).
    spare_samples: Vec<Sample>,
    /// Readings in `open_hours`.
    open_readings: usize,
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
    gaps: foldhash::HashMap<i64, u64>,
    /// The highest daily peaks so far (the summary lists the top few).
    daily_peaks: TopDailyPeaks,
    /// One tracker per per-reading rule of the table (same order); `None` until the
    /// stored checkpoint before the first reading is loaded.
    trackers: Option<Vec<Tracker>>,
    /// The reading before the current one (from the checkpoint for the first reading).
    alarm_prev_ts: Option<i64>,
    alarm_step_s: i64,
    /// Worst priority per rule among the alarms active in the file.
    file_alarms: BTreeMap<AlertRule, (Priority, u64)>,
    alerts: Vec<Alert>,
    alerts_dropped: u64,
    recent_load: VecDeque<(i64, f64)>,
}

/// A full batch of rollups, leaving room for the next: grown from empty, each batch was
/// reallocated (and copied) eight times.
fn take_batch(finished: &mut Vec<HourlyRollup>) -> Vec<HourlyRollup> {
    std::mem::replace(finished, Vec::with_capacity(2 * ROLLUP_BATCH))
}

/// What the engine has once the input ends.
#[derive(Debug, Clone)]
pub struct Finished {
    /// Rollups not yet taken with [`Analyzer::take_finished`].
    pub rollups: Vec<HourlyRollup>,
    pub summaries: Vec<LocationSummary>,
    /// The alarm episodes active in the file and not taken with [`Analyzer::take_alarms`],
    /// in the order they ended (still-active ones last): all are stored, the summaries
    /// list at most `max_alerts_per_location`.
    pub alarms: Vec<Alert>,
    /// The alarm state of each substation after the file (where the next file starts).
    pub checkpoints: Vec<AlarmCheckpoint>,
    /// The newest hourly loads per substation (up to 8 weeks), for the forecast.
    pub recent_load: BTreeMap<String, Vec<(DateTime<Utc>, f64)>>,
}

/// Why a reading was not taken.
#[derive(Debug)]
pub enum PushError {
    /// The reading is rejected (duplicate, too late): the reason, for the rejected file.
    Rejected(String),
    /// The stored alarm state could not be read: the file must be retried.
    Store(anyhow::Error),
}

pub struct Analyzer {
    cfg: AnalysisConfig,
    rules: RuleTable,
    /// Hashed, not ordered: looked up once per row; [`Analyzer::finish`] goes in name order.
    locations: foldhash::HashMap<String, LocationAcc>,
    finished: Vec<HourlyRollup>,
    alarms: Vec<Alert>,
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

/// The value a per-reading rule watches.
fn signal_value(signal: Signal, s: &Sample, cfg: &AnalysisConfig) -> f64 {
    match signal {
        Signal::VoltageKv => s.voltage,
        Signal::FrequencyDeviationHz => (s.frequency - cfg.nominal_frequency_hz).abs(),
        Signal::LoadToGeneration => overload_ratio(s.load, s.generation),
        Signal::StabilityScore => stability_score(s.voltage, s.frequency, cfg),
        Signal::ReportingGapMinutes | Signal::RejectedShare => f64::NAN,
    }
}

/// Context the hour-closing code needs besides the substation's accumulator.
struct Ctx<'a> {
    cfg: &'a AnalysisConfig,
    rules: &'a RuleTable,
    out: &'a mut Vec<HourlyRollup>,
    alarms: &'a mut Vec<Alert>,
    priors: &'a mut dyn AnalysisSink,
}

impl Analyzer {
    pub fn new(cfg: AnalysisConfig) -> Self {
        let rules = RuleTable::new(&cfg);
        Self { cfg, rules, locations: Default::default(), finished: Vec::new(), alarms: Vec::new() }
    }

    /// Adds one reading. A duplicate timestamp or a reading that arrives after its hour
    /// was closed is rejected with the reason.
    pub fn push(&mut self, reading: &Reading, priors: &mut dyn AnalysisSink) -> Result<(), PushError> {
        let ts = reading.timestamp.timestamp();
        let hour = hour_start(ts);
        let acc = match self.locations.get_mut(reading.location.as_str()) {
            Some(acc) => acc,
            None => self
                .locations
                .entry(reading.location.clone())
                .or_insert_with(|| LocationAcc { location: reading.location.clone(), newest: i64::MIN, ..Default::default() }),
        };
        if let Some(closed) = acc.closed_before
            && hour < closed
        {
            let window = self.cfg.reorder_window_hours.unwrap_or(0);
            return Err(PushError::Rejected(format!(
                "its hour was already analysed: {} had readings more than {window} h newer, or more than {} \
                 readings after it (upload it in its own file, or sort the file by time)",
                reading.location, self.cfg.reorder_window_readings
            )));
        }
        let spare = &mut acc.spare_samples;
        let samples = acc.open_hours.entry(hour).or_insert_with(|| std::mem::take(spare));
        let at = samples.partition_point(|s| s.ts < ts);
        if samples.get(at).is_some_and(|s| s.ts == ts) {
            return Err(PushError::Rejected(format!(
                "duplicate timestamp {} for {}; the first reading was kept",
                crate::model::format_ts(reading.timestamp),
                reading.location
            )));
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
        acc.open_readings += 1;
        let advanced_hour = acc.open_hours.len() == 1 || hour_start(acc.newest) < hour;
        acc.newest = acc.newest.max(ts);
        let Some(window) = self.cfg.reorder_window_hours else { return Ok(()) };
        let too_many = acc.open_readings > self.cfg.reorder_window_readings;
        if advanced_hour || too_many {
            let mut close_before = hour_start(acc.newest) - i64::from(window) * HOUR;
            if too_many {
                close_before = close_before.max(Self::first_hour_within(acc, self.cfg.reorder_window_readings));
            }
            let mut ctx =
                Ctx { cfg: &self.cfg, rules: &self.rules, out: &mut self.finished, alarms: &mut self.alarms, priors };
            Self::close_hours(&mut ctx, acc, Some(close_before)).map_err(PushError::Store)?;
        }
        Ok(())
    }

    /// The oldest open hour from which on at most `readings` are held, or the newest hour
    /// (it stays open whatever it holds: its readings are still coming).
    fn first_hour_within(acc: &LocationAcc, readings: usize) -> i64 {
        let newest_hour = hour_start(acc.newest);
        let mut held = acc.open_readings;
        for (&hour, samples) in &acc.open_hours {
            if held <= readings || hour >= newest_hour {
                return hour;
            }
            held -= samples.len();
        }
        newest_hour
    }

    /// Rollups of hours closed so far (the caller writes them out while reading goes on).
    pub fn take_finished(&mut self) -> Vec<HourlyRollup> {
        take_batch(&mut self.finished)
    }

    pub fn finished_len(&self) -> usize {
        self.finished.len()
    }

    /// Alarm episodes ended so far and not yet taken (the caller may store them while
    /// reading goes on; the rest come with [`Analyzer::finish`]).
    pub fn take_alarms(&mut self) -> Vec<Alert> {
        std::mem::take(&mut self.alarms)
    }

    pub fn alarms_len(&self) -> usize {
        self.alarms.len()
    }

    /// Closes every open hour and returns the summaries, the alarms and the checkpoints.
    pub fn finish(mut self, priors: &mut dyn AnalysisSink) -> anyhow::Result<Finished> {
        let mut summaries = Vec::with_capacity(self.locations.len());
        let mut recent_load = BTreeMap::new();
        let mut checkpoints = Vec::new();
        let mut still_active = Vec::new();
        let mut in_name_order: Vec<(&String, &mut LocationAcc)> = self.locations.iter_mut().collect();
        in_name_order.sort_unstable_by(|a, b| a.0.cmp(b.0));
        for (location, acc) in in_name_order {
            let mut ctx =
                Ctx { cfg: &self.cfg, rules: &self.rules, out: &mut self.finished, alarms: &mut self.alarms, priors };
            Self::close_hours(&mut ctx, acc, None)?;
            // Handed out as they close: the open hours of every substation at once would be
            // the largest allocation of the run (48 h × 340 substations: 7 MB).
            if self.finished.len() >= ROLLUP_BATCH {
                priors.rollups(take_batch(&mut self.finished))?;
            }
            if acc.rows == 0 {
                continue;
            }
            // Alarms still active at the end of the file are stored as active; their state
            // goes into the checkpoint so the next file continues them.
            if let Some(trackers) = acc.trackers.take() {
                for (spec, tracker) in self.rules.per_reading().zip(&trackers) {
                    if let Some(ep) = tracker.active.filter(|ep| !ep.silent) {
                        let alert = make_alert(&self.cfg, spec, location, &ep, true);
                        record_alert(&self.cfg, acc, &alert);
                        still_active.push(alert);
                    }
                }
                checkpoints.push(AlarmCheckpoint {
                    location: location.clone(),
                    as_of: to_utc(acc.last_ts),
                    step_s: acc.alarm_step_s,
                    trackers: self.rules.per_reading().map(|s| s.rule).zip(trackers.iter().cloned()).collect(),
                });
            }
            summaries.push(summarize(&self.cfg, &self.rules, location, acc));
            // Taken, not copied: both at once were 2 × 22 KB per substation at the run's peak.
            let recent = std::mem::take(&mut acc.recent_load);
            recent_load.insert(location.clone(), recent.into_iter().map(|(h, l)| (to_utc(h), l)).collect());
        }
        self.alarms.extend(still_active);
        Ok(Finished { rollups: self.finished, summaries, alarms: self.alarms, checkpoints, recent_load })
    }

    /// Closes the open hours starting before `before` (all of them with `None`), oldest first.
    fn close_hours(ctx: &mut Ctx<'_>, acc: &mut LocationAcc, before: Option<i64>) -> anyhow::Result<()> {
        while let Some(entry) = acc.open_hours.first_entry() {
            let hour = *entry.key();
            if before.is_some_and(|b| hour >= b) {
                break;
            }
            let mut samples = entry.remove();
            acc.open_readings -= samples.len();
            acc.closed_before = Some(acc.closed_before.map_or(hour + HOUR, |c| c.max(hour + HOUR)));
            if samples.is_empty() {
                continue;
            }
            let rollup = Self::fold_hour(ctx, acc, hour, &samples)?;
            ctx.out.push(rollup);
            if samples.capacity() <= SPARE_SAMPLES_MAX {
                samples.clear();
                acc.spare_samples = samples;
            }
        }
        Ok(())
    }

    /// Folds one closed hour (samples sorted by time) into the summary and the alarm
    /// state, and returns its rollup.
    fn fold_hour(ctx: &mut Ctx<'_>, acc: &mut LocationAcc, hour: i64, samples: &[Sample]) -> anyhow::Result<HourlyRollup> {
        let cfg = ctx.cfg;
        let mut hour_alarms: BTreeMap<AlertRule, (Priority, f64)> = BTreeMap::new();
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
            Self::step_alarms(ctx, acc, s, &mut hour_alarms)?;
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
        for (rule, (priority, worst)) in &hour_alarms {
            rollup.alert_status = rollup.alert_status.max(priority.status());
            if let Some(spec) = ctx.rules.get(*rule) {
                rollup.alert_reasons.push(format!("{rule} ({priority}): {}", spec.describe(*worst, cfg)));
            }
        }
        acc.recent_load.push_back((hour, rollup.load_avg_mw));
        if acc.recent_load.len() > RECENT_HOURS {
            acc.recent_load.pop_front();
        }
        Ok(rollup)
    }

    /// Runs one reading through the substation's alarm trackers (loading its stored
    /// checkpoint first), and notes the alarms active in this hour.
    fn step_alarms(
        ctx: &mut Ctx<'_>,
        acc: &mut LocationAcc,
        s: &Sample,
        hour_alarms: &mut BTreeMap<AlertRule, (Priority, f64)>,
    ) -> anyhow::Result<()> {
        let cfg = ctx.cfg;
        if acc.trackers.is_none() {
            let prior = ctx.priors.checkpoint(&acc.location, to_utc(s.ts))?;
            let fallback_step = i64::from(cfg.fallback_interval_minutes) * 60;
            let (prev, step, mut by_rule) = match prior {
                Some(c) => (Some(c.as_of.timestamp()), c.step_s, c.trackers),
                None => (None, fallback_step, BTreeMap::new()),
            };
            acc.alarm_prev_ts = prev;
            acc.alarm_step_s = step;
            acc.trackers = Some(ctx.rules.per_reading().map(|spec| by_rule.remove(&spec.rule).unwrap_or_default()).collect());
        }
        let step_s = match acc.alarm_prev_ts {
            Some(prev) if s.ts > prev => s.ts - prev,
            _ => acc.alarm_step_s,
        };
        let gap_limit = (cfg.alarms.no_data_minutes * 60.0) as i64;
        let mut ended: Vec<(usize, Episode)> = Vec::new();
        let mut trackers = acc.trackers.take().expect("loaded above");
        if let Some(prev) = acc.alarm_prev_ts
            && s.ts - prev > gap_limit
        {
            // The data stopped: what was active ends at its last reading; the gap itself
            // is a data-quality alarm.
            for (i, t) in trackers.iter_mut().enumerate() {
                if let Step::Ended(ep) = t.end() {
                    ended.push((i, ep));
                }
            }
            if let Some(spec) = ctx.rules.get(AlertRule::NoData) {
                let gap_min = (s.ts - prev) as f64 / 60.0;
                let ep = Episode {
                    started: prev,
                    activated: prev + gap_limit,
                    last: s.ts,
                    worst: gap_min,
                    samples: 0,
                    priority: spec.priority_at(gap_min),
                    chattering: false,
                    shelved_until: None,
                    silent: false,
                };
                let alert = make_alert(cfg, spec, &acc.location, &ep, false);
                record_alert(cfg, acc, &alert);
                ctx.alarms.push(alert);
            }
        }
        let alarms_cfg = &cfg.alarms;
        for (i, (spec, tracker)) in ctx.rules.per_reading().zip(trackers.iter_mut()).enumerate() {
            let value = signal_value(spec.signal, s, cfg);
            if let Step::Ended(ep) = tracker.step(spec, alarms_cfg, s.ts, value) {
                ended.push((i, ep));
            }
            if tracker.in_alarm() {
                let ep = tracker.active.expect("in alarm");
                // The hour's priority and worst value come from its own readings beyond the
                // limit (in the deadband or the off-delay: the rule's base priority and the
                // alarm's worst), so an hour says how bad that hour was.
                let (priority, worst) =
                    if spec.violates(value) { (spec.priority_at(value), value) } else { (spec.priority, ep.worst) };
                let slot = hour_alarms.entry(spec.rule).or_insert((priority, worst));
                slot.0 = slot.0.max(priority);
                if spec.violates(value) && (!spec.violates(slot.1) || spec.is_worse(value, slot.1)) {
                    slot.1 = value;
                }
            }
        }
        for (i, ep) in ended {
            if ep.silent {
                continue;
            }
            let spec = ctx.rules.per_reading().nth(i).expect("index from the same table");
            let alert = make_alert(cfg, spec, &acc.location, &ep, false);
            record_alert(cfg, acc, &alert);
            ctx.alarms.push(alert);
        }
        acc.trackers = Some(trackers);
        acc.alarm_prev_ts = Some(s.ts);
        acc.alarm_step_s = step_s;
        Ok(())
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
        acc.daily_peaks.push(s.ts.div_euclid(DAY), s.load, s.ts, cfg.top_daily_peaks);
    }
}

/// One UTC day's peak: days since 1970-01-01, the load, the time it was reached.
#[derive(Debug, Clone, Copy, PartialEq)]
struct DayPeak {
    day: i64,
    load: f64,
    ts: i64,
}

/// A substation's highest daily peaks, kept as its readings are folded. Readings are folded
/// in time order (an hour closes after every earlier one and never reopens), so a day is
/// complete once the next begins and only the best few need to be held: a map of every
/// day was the engine's one state that grew with the length of the file.
#[derive(Debug, Default)]
struct TopDailyPeaks {
    /// The day being folded.
    current: Option<DayPeak>,
    /// The best completed days, best first: higher load, then the earlier day.
    best: Vec<DayPeak>,
}

impl TopDailyPeaks {
    /// Folds one reading in; the earliest reading wins a tie within a day.
    fn push(&mut self, day: i64, load: f64, ts: i64, keep: usize) {
        match &mut self.current {
            Some(current) if current.day == day => {
                if load > current.load {
                    current.load = load;
                    current.ts = ts;
                }
            }
            _ => {
                if let Some(done) = self.current.replace(DayPeak { day, load, ts }) {
                    self.keep(done, keep);
                }
            }
        }
    }

    fn keep(&mut self, done: DayPeak, keep: usize) {
        let at = self.best.partition_point(|b| b.load.total_cmp(&done.load).then(done.day.cmp(&b.day)).is_gt());
        if at < keep {
            self.best.insert(at, done);
            self.best.truncate(keep);
        }
    }

    /// The best `keep` days, best first.
    fn finish(&mut self, keep: usize) -> Vec<DayPeak> {
        if let Some(done) = self.current.take() {
            self.keep(done, keep);
        }
        std::mem::take(&mut self.best)
    }
}

/// Notes an alarm in the substation's file summary (listed up to the bound, counted beyond).
fn record_alert(cfg: &AnalysisConfig, acc: &mut LocationAcc, alert: &Alert) {
    let slot = acc.file_alarms.entry(alert.rule).or_insert((alert.priority, 0));
    slot.0 = slot.0.max(alert.priority);
    slot.1 += 1;
    if acc.alerts.len() < cfg.max_alerts_per_location {
        acc.alerts.push(alert.clone());
    } else {
        acc.alerts_dropped += 1;
    }
}

fn make_alert(cfg: &AnalysisConfig, spec: &RuleSpec, location: &str, ep: &Episode, active: bool) -> Alert {
    let started_at = to_utc(ep.started);
    let ended_at = to_utc(ep.last);
    let mut message = format!(
        "{location}: {}; {} reading(s) from {} to {}",
        spec.describe(ep.worst, cfg),
        ep.samples,
        crate::model::format_ts(started_at),
        crate::model::format_ts(ended_at)
    );
    if active {
        message.push_str(", still active");
    }
    if let Some(until) = ep.shelved_until {
        message.push_str(&format!("; chattering: shelved until {}", crate::model::format_ts(to_utc(until))));
    }
    Alert {
        location: location.to_string(),
        rule: spec.rule,
        priority: ep.priority,
        started_at,
        activated_at: to_utc(ep.activated),
        ended_at,
        active,
        // JSON has no infinity: a load with no generation at all is stored as f64::MAX (see message).
        worst_value: if ep.worst.is_finite() { ep.worst } else { f64::MAX },
        threshold: spec.limit,
        samples: ep.samples,
        chattering: ep.chattering,
        shelved_until: ep.shelved_until.map(to_utc),
        message,
    }
}

/// The sampling interval: the most common gap between consecutive readings (the
/// shortest wins a tie); `None` with fewer than two readings.
fn detect_interval(gaps: &foldhash::HashMap<i64, u64>) -> Option<i64> {
    gaps.iter().filter(|(gap, _)| **gap > 0).max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0))).map(|(gap, _)| *gap)
}

fn summarize(cfg: &AnalysisConfig, rules: &RuleTable, location: &str, acc: &mut LocationAcc) -> LocationSummary {
    let interval_secs = detect_interval(&acc.gaps).unwrap_or(i64::from(cfg.fallback_interval_minutes) * 60);
    let hours_per_reading = interval_secs as f64 / 3600.0;
    let load = acc.load.spread();
    let voltage = acc.voltage.spread();
    let frequency = acc.frequency.spread();
    let generation_avg = acc.generation.mean();
    let power_factor_avg = acc.power_factor.mean();
    let stability = stability_score(voltage.avg, frequency.avg, cfg);
    let (peak_load, peak_ts) = acc.peak.unwrap_or((0.0, acc.first_ts));
    let daily_peaks: Vec<DailyPeak> = acc
        .daily_peaks
        .finish(cfg.top_daily_peaks)
        .into_iter()
        .map(|p| DailyPeak { date: to_utc(p.ts).date_naive(), timestamp: to_utc(p.ts), load_mw: p.load })
        .collect();

    // The file's status is the worst priority among the alarms active in it.
    let mut by_priority: Vec<(&AlertRule, &(Priority, u64))> = acc.file_alarms.iter().collect();
    by_priority.sort_by(|a, b| b.1.0.cmp(&a.1.0).then(a.0.cmp(b.0)));
    let status = by_priority.first().map_or(AlertStatus::Normal, |(_, (p, _))| p.status());
    let status_reasons = by_priority
        .iter()
        .map(|(rule, (priority, n))| {
            let text = rules.get(**rule).map_or("", |s| s.text);
            format!("{rule} ({priority}): {n} alarm(s), {text}")
        })
        .collect();
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
        peak_load_to_avg_generation: {
            let ratio = overload_ratio(peak_load, generation_avg);
            if ratio.is_finite() { ratio } else { f64::MAX }
        },
        alert_status: status,
        status_reasons,
        // Taken: the summary is made once, at the end, and the listed alarms were the
        // report's largest copy.
        alerts: std::mem::take(&mut acc.alerts),
        alerts_dropped: acc.alerts_dropped,
    }
}

// ---------------------------------------------------------------- driving a whole file

/// Where the analysis of one file sends what it produces while it reads, and where it
/// gets each substation's stored alarm state from.
pub trait AnalysisSink {
    /// A batch of closed hourly rollups.
    fn rollups(&mut self, batch: Vec<HourlyRollup>) -> anyhow::Result<()>;
    /// A row that was rejected (already counted in the report).
    fn rejected(&mut self, row: &RejectedRow) -> anyhow::Result<()>;
    /// The newest stored alarm checkpoint of `location` strictly before `before`; none by
    /// default (every file starts from normal: tests, one-off analyses).
    fn checkpoint(&mut self, location: &str, before: DateTime<Utc>) -> anyhow::Result<Option<AlarmCheckpoint>> {
        let _ = (location, before);
        Ok(None)
    }
    /// Every row up to `line` has been dealt with (a sharded analysis merges rejected rows
    /// in line order with it).
    fn passed(&mut self, line: u64) {
        let _ = line;
    }
    /// Whether ended alarm episodes go to [`AnalysisSink::alarms`] as they end (in the
    /// order they end) instead of all coming with the outcome. No by default: the outcome
    /// then holds every alarm of the file, in one order whatever the sharding.
    fn takes_alarms(&self) -> bool {
        false
    }
    /// A batch of ended alarm episodes (only called when [`AnalysisSink::takes_alarms`]).
    fn alarms(&mut self, batch: Vec<Alert>) -> anyhow::Result<()> {
        let _ = batch;
        Ok(())
    }
}

/// Collects everything in memory (tests, small files); no stored alarm state.
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

/// The result of [`analyze_stream`]: the report (forecasts not yet attached), every alarm
/// episode active in the file, the alarm checkpoints, and the recent hourly loads the
/// forecast starts from.
#[derive(Debug, Clone)]
pub struct StreamOutcome {
    pub report: FileReport,
    /// Every alarm of the file, or those the sink did not take ([`AnalysisSink::takes_alarms`]).
    pub alarms: Vec<Alert>,
    pub checkpoints: Vec<AlarmCheckpoint>,
    pub recent_load: BTreeMap<String, Vec<(DateTime<Utc>, f64)>>,
}

/// Reads a whole file (CSV / JSON lines, gzip or not) and analyses it, streaming
/// rollups and rejected rows into `sink`. A file that cannot be read at all is not an
/// `Err`: the report says why (`file_error`). Only sink and store failures are errors.
pub fn analyze_stream<R: Read>(
    input: R,
    source: &str,
    cfg: &AnalysisConfig,
    sink: &mut dyn AnalysisSink,
) -> anyhow::Result<StreamOutcome> {
    let part = analyze_part(std::io::BufReader::with_capacity(ingest::INPUT_BUFFER, input), source, cfg, sink, None)?;
    Ok(assemble(source, cfg, vec![part]))
}

fn empty_report(source: &str, cfg: &AnalysisConfig) -> FileReport {
    FileReport {
        source: source.to_string(),
        format: String::new(),
        rows_read: 0,
        rows_accepted: 0,
        rows_rejected: 0,
        file_error: None,
        locations: Vec::new(),
        file_alerts: Vec::new(),
        forecasts: Vec::new(),
        config: cfg.clone(),
    }
}

/// What one shard of a file's analysis found (the whole file when there is one shard).
#[derive(Debug)]
pub(crate) struct Part {
    report: FileReport,
    alarms: Vec<Alert>,
    checkpoints: Vec<AlarmCheckpoint>,
    recent_load: BTreeMap<String, Vec<(DateTime<Utc>, f64)>>,
    first_reading: Option<i64>,
}

/// Analyses the rows of `shard` (every row without one), telling `sink` each line passed.
/// Buffered input: the sharded engine's blocks are read where they lie.
pub(crate) fn analyze_part<R: BufRead>(
    input: R,
    source: &str,
    cfg: &AnalysisConfig,
    sink: &mut dyn AnalysisSink,
    shard: Option<ingest::ShardFilter>,
) -> anyhow::Result<Part> {
    match ingest::open_shard(input, source, shard) {
        Ok(stream) => {
            let format = stream.format_name();
            analyze_rows(stream, format, source, cfg, sink)
        }
        Err(e) => Ok(unreadable_part(source, cfg, e.to_string())),
    }
}

/// The part of a file that could not be read at all (`file_error` says why).
pub(crate) fn unreadable_part(source: &str, cfg: &AnalysisConfig, file_error: String) -> Part {
    let mut report = empty_report(source, cfg);
    report.file_error = Some(file_error);
    Part { report, alarms: Vec::new(), checkpoints: Vec::new(), recent_load: BTreeMap::new(), first_reading: None }
}

/// Where [`analyze_rows`] takes its rows from: the reader itself, or a thread that reads
/// ([`crate::analysis::pipelined`]).
pub(crate) trait RowSource {
    fn next_row(&mut self) -> Option<Row>;
    /// Hands a used reading back (its location's allocation is reused).
    fn recycle(&mut self, reading: Reading);
    /// Why reading stopped early, if it did (the rows before were analysed).
    fn take_fatal(&mut self) -> Option<String>;
}

impl RowSource for ingest::RowStream<'_> {
    fn next_row(&mut self) -> Option<Row> {
        self.next()
    }
    fn recycle(&mut self, reading: Reading) {
        ingest::RowStream::recycle(self, reading);
    }
    fn take_fatal(&mut self) -> Option<String> {
        self.fatal.take()
    }
}

/// Analyses the rows of an opened file (in `format`), telling `sink` each line passed.
pub(crate) fn analyze_rows(
    mut stream: impl RowSource,
    format: &str,
    source: &str,
    cfg: &AnalysisConfig,
    sink: &mut dyn AnalysisSink,
) -> anyhow::Result<Part> {
    let mut report = empty_report(source, cfg);
    report.format = format.to_string();
    let mut analyzer = Analyzer::new(cfg.clone());
    let takes_alarms = sink.takes_alarms();
    let mut first_reading: Option<i64> = None;
    while let Some(row) = stream.next_row() {
        let (rejected, line) = match row {
            Row::Elsewhere(line) => {
                sink.passed(line);
                continue;
            }
            Row::Ok(reading, line) => {
                let ts = reading.timestamp.timestamp();
                first_reading = Some(first_reading.map_or(ts, |f| f.min(ts)));
                let pushed = match analyzer.push(&reading, sink) {
                    Ok(()) => {
                        report.rows_accepted += 1;
                        (None, line)
                    }
                    Err(PushError::Rejected(reason)) => {
                        (Some(RejectedRow { line, field: "timestamp".into(), reason, raw: reading_as_csv(&reading) }), line)
                    }
                    Err(PushError::Store(e)) => return Err(e),
                };
                stream.recycle(reading);
                pushed
            }
            Row::Rejected(row) => {
                let line = row.line;
                (Some(row), line)
            }
        };
        report.rows_read += 1;
        if let Some(row) = rejected {
            report.rows_rejected += 1;
            sink.rejected(&row)?;
        }
        sink.passed(line);
        if analyzer.finished_len() >= ROLLUP_BATCH {
            sink.rollups(analyzer.take_finished())?;
        }
        if takes_alarms && analyzer.alarms_len() >= ALARM_BATCH {
            sink.alarms(analyzer.take_alarms())?;
        }
    }
    if let Some(fatal) = stream.take_fatal() {
        report.file_error = Some(format!("{source}: {fatal}; the rows before it were analysed"));
    }
    let finished = analyzer.finish(sink)?;
    if !finished.rollups.is_empty() {
        sink.rollups(finished.rollups)?;
    }
    report.locations = finished.summaries;
    Ok(Part {
        report,
        alarms: finished.alarms,
        checkpoints: finished.checkpoints,
        recent_load: finished.recent_load,
        first_reading,
    })
}

/// [`analyze_stream`] of one shard of the input (the Lambda's fan-out: each invocation
/// analyses the substations of its shard): the outcome without the file's own data-quality
/// alarm, which needs every shard's counts ([`file_alarm`]), and the shard's first reading.
pub fn analyze_shard_stream<R: Read>(
    input: R,
    source: &str,
    cfg: &AnalysisConfig,
    sink: &mut dyn AnalysisSink,
    shard: ingest::ShardFilter,
) -> anyhow::Result<(StreamOutcome, Option<i64>)> {
    let part = analyze_part(std::io::BufReader::with_capacity(ingest::INPUT_BUFFER, input), source, cfg, sink, Some(shard))?;
    Ok(assemble_parts(source, cfg, vec![part]))
}

/// The outcome of a file from its parts: counts added, substations in name order, and the
/// alarms in one order whatever the sharding — still-active ones last, then by end time and
/// substation (stable, so one substation's alarms keep the order its analysis gave them) —
/// followed by the file's own data-quality alarm.
pub(crate) fn assemble(source: &str, cfg: &AnalysisConfig, parts: Vec<Part>) -> StreamOutcome {
    let (mut outcome, first_reading) = assemble_parts(source, cfg, parts);
    if let Some(alert) = file_alarm(cfg, &outcome.report, first_reading) {
        outcome.report.file_alerts.push(alert.clone());
        outcome.alarms.push(alert);
    }
    outcome
}

/// [`assemble`] without the file's own alarm; also the first reading of all parts.
fn assemble_parts(source: &str, cfg: &AnalysisConfig, parts: Vec<Part>) -> (StreamOutcome, Option<i64>) {
    let mut parts = parts.into_iter();
    let Some(first) = parts.next() else {
        let outcome =
            StreamOutcome { report: empty_report(source, cfg), alarms: Vec::new(), checkpoints: Vec::new(), recent_load: BTreeMap::new() };
        return (outcome, None);
    };
    let Part { mut report, mut alarms, mut checkpoints, mut recent_load, mut first_reading } = first;
    for part in parts {
        report.rows_read += part.report.rows_read;
        report.rows_accepted += part.report.rows_accepted;
        report.rows_rejected += part.report.rows_rejected;
        report.file_error = report.file_error.or(part.report.file_error);
        report.locations.extend(part.report.locations);
        alarms.extend(part.alarms);
        checkpoints.extend(part.checkpoints);
        recent_load.extend(part.recent_load);
        first_reading = earliest(first_reading, part.first_reading);
    }
    report.locations.sort_by(|a, b| a.location.cmp(&b.location));
    checkpoints.sort_by(|a, b| a.location.cmp(&b.location));
    alarms.sort_by(|a, b| (a.active, a.ended_at, &a.location).cmp(&(b.active, b.ended_at, &b.location)));
    (StreamOutcome { report, alarms, checkpoints, recent_load }, first_reading)
}

/// The earlier of two optional first readings.
pub fn earliest(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The file's own data-quality alarm (too many rejected rows), from the counts of the whole
/// file and its first reading (Unix seconds).
pub fn file_alarm(cfg: &AnalysisConfig, report: &FileReport, first_reading: Option<i64>) -> Option<Alert> {
    rejected_rows_alarm(cfg, &RuleTable::new(cfg), report, first_reading)
}

/// The data-quality alarm of a file with too many rejected rows. Its identity is the file
/// (as the location) and its first reading, so analysing the file again finds the same alarm.
fn rejected_rows_alarm(cfg: &AnalysisConfig, rules: &RuleTable, report: &FileReport, first: Option<i64>) -> Option<Alert> {
    let spec = rules.get(AlertRule::RejectedRows)?;
    if report.rows_read == 0 {
        return None;
    }
    let share = report.rows_rejected as f64 / report.rows_read as f64;
    if !spec.violates(share) {
        return None;
    }
    let at = first.unwrap_or(0);
    let ep = Episode {
        started: at,
        activated: at,
        last: at,
        worst: share,
        samples: report.rows_rejected,
        priority: spec.priority_at(share),
        chattering: false,
        shelved_until: None,
        silent: false,
    };
    let mut alert = make_alert(cfg, spec, &report.source, &ep, false);
    alert.message = format!("{}: {}; see {}", report.source, spec.describe(share, cfg), crate::store::object_keys::rejected_key(&report.source));
    Some(alert)
}

/// A parsed reading back as a CSV row in the seed's column order, at full precision, so a
/// row the engine rejects is kept in a form that can be fixed and uploaded again.
fn reading_as_csv(r: &Reading) -> String {
    let mut w = csv::WriterBuilder::new().has_headers(false).terminator(csv::Terminator::Any(b'\n')).from_writer(Vec::new());
    let pf = r.power_factor.map(|pf| pf.to_string()).unwrap_or_default();
    let fields = [
        crate::model::format_ts(r.timestamp),
        r.location.clone(),
        r.load_mw.to_string(),
        r.generation_mw.to_string(),
        r.voltage_kv.to_string(),
        r.frequency_hz.to_string(),
        r.solar_mw.to_string(),
        r.wind_mw.to_string(),
        pf,
    ];
    let _ = w.write_record(&fields);
    let bytes = w.into_inner().unwrap_or_default();
    String::from_utf8_lossy(&bytes).trim_end().to_string()
}

/// Adds the 24 h forecast of every substation in the report, from its stored history
/// (`stored`: the `FORECAST_HISTORY_DAYS` (56) days of rollups before the file) overlaid with the file's own hours.
/// Consumes the file's own hours (`recent_load` is empty after): they are a tenth of a big
/// file's peak memory and nothing else needs them.
pub fn attach_forecasts(
    outcome: &mut StreamOutcome,
    mut stored: impl FnMut(&str) -> Vec<(DateTime<Utc>, f64)>,
) {
    let mut forecasts = Vec::new();
    let mut recent_load = std::mem::take(&mut outcome.recent_load);
    for summary in &outcome.report.locations {
        let mut by_hour: BTreeMap<DateTime<Utc>, f64> = stored(&summary.location).into_iter().collect();
        if let Some(recent) = recent_load.remove(&summary.location) {
            by_hour.extend(recent);
        }
        let history: Vec<(DateTime<Utc>, f64)> = by_hour.into_iter().collect();
        let from = to_utc(hour_start(summary.last_timestamp.timestamp()) + HOUR);
        forecasts.extend(
            crate::analysis::forecast::forecast_next_24h(&history, from)
                .into_iter()
                .map(|(timestamp, load_mw)| ForecastPoint { location: summary.location.clone(), timestamp, load_mw }),
        );
    }
    outcome.report.forecasts = forecasts;
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Every day's peak, sorted best first and cut: what the summary listed before the
    /// days were kept as they go.
    fn every_day_then_cut(readings: &[(i64, f64)], keep: usize) -> Vec<DayPeak> {
        let mut days: BTreeMap<i64, DayPeak> = BTreeMap::new();
        for &(ts, load) in readings {
            let day = ts.div_euclid(DAY);
            let peak = days.entry(day).or_insert(DayPeak { day, load, ts });
            if load > peak.load {
                *peak = DayPeak { day, load, ts };
            }
        }
        let mut all: Vec<DayPeak> = days.into_values().collect();
        all.sort_by(|a, b| b.load.total_cmp(&a.load).then(a.day.cmp(&b.day)));
        all.truncate(keep);
        all
    }

    proptest! {
        #[test]
        fn top_daily_peaks_equal_every_day_sorted_and_cut(
            steps in proptest::collection::vec((1i64..40_000, 0u8..6), 0..300),
            start in -200_000i64..200_000,
            keep in 0usize..8,
        ) {
            // Times strictly increasing (readings fold in time order); few distinct loads, so
            // ties within and between days are common.
            let mut ts = start;
            let readings: Vec<(i64, f64)> = steps.iter().map(|&(step, load)| { ts += step; (ts, f64::from(load)) }).collect();
            let mut top = TopDailyPeaks::default();
            for &(ts, load) in &readings {
                top.push(ts.div_euclid(DAY), load, ts, keep);
            }
            prop_assert_eq!(top.finish(keep), every_day_then_cut(&readings, keep));
        }
    }
}
