//! Synthetic substation readings: realistic, reproducible and stateless.
//!
//! Every value is a pure function of `(seed, substation index, timestamp)` (plus the
//! configured interval, which sets the anomaly grid). Nothing depends on the previous
//! reading, so the batch generator (`gridwatch generate`) and the live simulator, which
//! asks for "now" on an accelerated clock, produce exactly the same numbers.
//!
//! Randomness comes from a hash (splitmix64) instead of a PRNG crate, so a seed gives
//! the same bytes on every platform and with every dependency version. Smooth signals
//! (wind, clouds, load wander) are hashed *value noise*: random values on a coarse time
//! grid, interpolated with a smoothstep.
//!
//! Anomalies are *episodes* of a few intervals during which one rule of the analysis
//! (voltage sag, overvoltage, frequency excursion, overload) is broken on every reading,
//! so alerts fire and then clear. Outside episodes readings stay well inside the limits.

use crate::model::{Reading, format_ts};
use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Timelike, Utc};
use std::f64::consts::PI;
use std::fmt;
use std::io::{self, BufWriter, Write};
use std::str::FromStr;

/// Column order of the seed's CSV files (without the optional `power_factor`).
pub const CSV_HEADER: &str = "timestamp,location,load_mw,generation_mw,voltage_kv,frequency_hz,solar_mw,wind_mw";
/// Column order with the optional trailing `power_factor`.
pub const CSV_HEADER_WITH_PF: &str =
    "timestamp,location,load_mw,generation_mw,voltage_kv,frequency_hz,solar_mw,wind_mw,power_factor";
/// Default anomaly rate: episodes per substation per week.
pub const DEFAULT_ANOMALIES_PER_WEEK: f64 = 4.0;

/// What to generate. `Default` gives the seed's week: 8 substations, 7 days of
/// 15-minute readings from 2025-01-14, seed 42, anomalies on.
#[derive(Debug, Clone, PartialEq)]
pub struct GeneratorConfig {
    pub substations: usize,
    pub days: u32,
    pub interval_minutes: u32,
    /// First timestamp (readings are `start + k * interval`).
    pub start: DateTime<Utc>,
    pub seed: u64,
    /// Average number of anomaly episodes per substation per week; 0 disables them.
    pub anomalies_per_week: f64,
    /// Fill `power_factor` (the optional ninth column).
    pub include_power_factor: bool,
    /// Values that hover near the alarm limits without breaking them for long: load /
    /// generation around 0.94 with a ±2 % spread (independent per reading), voltage
    /// within ±0.06 kV of 13.56 (odd substations) or 14.04 kV (even ones), so single
    /// readings touch 13.5 / 14.1. The noise alarm management must not turn into alarms.
    pub marginal: bool,
}

impl Default for GeneratorConfig {
    fn default() -> Self {
        Self {
            substations: 8,
            days: 7,
            interval_minutes: 15,
            start: Utc.with_ymd_and_hms(2025, 1, 14, 0, 0, 0).unwrap(),
            seed: 42,
            anomalies_per_week: DEFAULT_ANOMALIES_PER_WEEK,
            include_power_factor: false,
            marginal: false,
        }
    }
}

impl GeneratorConfig {
    /// The same configuration with anomalies switched off (clean data).
    pub fn without_anomalies(mut self) -> Self {
        self.anomalies_per_week = 0.0;
        self
    }

    /// Whether anomaly episodes are injected.
    pub fn anomalies(&self) -> bool {
        self.anomalies_per_week > 0.0
    }

    /// End of the configured span (exclusive).
    pub fn end(&self) -> DateTime<Utc> {
        self.start + Duration::days(i64::from(self.days))
    }

    /// Checks the values make sense; a bad configuration is a user error, not a panic.
    pub fn validate(&self) -> Result<(), String> {
        if self.substations == 0 {
            return Err("substations must be at least 1".into());
        }
        if self.substations > 100_000 {
            return Err(format!("substations must be at most 100000, got {}", self.substations));
        }
        if self.days == 0 {
            return Err("days must be at least 1".into());
        }
        if self.interval_minutes == 0 || 1440 % self.interval_minutes != 0 {
            return Err(format!(
                "interval_minutes must divide a day (1440 minutes) evenly, e.g. 1, 5, 10, 15, 30, 60; got {}",
                self.interval_minutes
            ));
        }
        if !self.anomalies_per_week.is_finite() || self.anomalies_per_week < 0.0 {
            return Err(format!("anomalies_per_week must be a number >= 0, got {}", self.anomalies_per_week));
        }
        Ok(())
    }
}

/// The rule an anomaly episode breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AnomalyKind {
    /// Voltage below 13.5 kV.
    VoltageSag,
    /// Voltage above 14.1 kV.
    Overvoltage,
    /// |f - 60 Hz| above 0.05 Hz.
    FrequencyExcursion,
    /// Load above 95 % of generation.
    Overload,
}

impl AnomalyKind {
    /// The alarm rule this anomaly breaks.
    pub fn rule(self) -> crate::model::AlertRule {
        use crate::model::AlertRule;
        match self {
            AnomalyKind::VoltageSag => AlertRule::Undervoltage,
            AnomalyKind::Overvoltage => AlertRule::Overvoltage,
            AnomalyKind::FrequencyExcursion => AlertRule::FrequencyDeviation,
            AnomalyKind::Overload => AlertRule::Overload,
        }
    }

    pub const ALL: [AnomalyKind; 4] =
        [AnomalyKind::VoltageSag, AnomalyKind::Overvoltage, AnomalyKind::FrequencyExcursion, AnomalyKind::Overload];

    pub fn as_str(self) -> &'static str {
        match self {
            AnomalyKind::VoltageSag => "voltage_sag",
            AnomalyKind::Overvoltage => "overvoltage",
            AnomalyKind::FrequencyExcursion => "frequency_excursion",
            AnomalyKind::Overload => "overload",
        }
    }
}

impl fmt::Display for AnomalyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One anomaly episode of one substation: `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Episode {
    pub substation: usize,
    pub kind: AnomalyKind,
    pub start: DateTime<Utc>,
    /// Exclusive: the first timestamp after the episode.
    pub end: DateTime<Utc>,
    /// 0..1, how far past the threshold the episode goes.
    pub severity: f64,
    /// For frequency excursions: true when the frequency is high.
    pub upward: bool,
}

/// `substation_001` for index 0: names are 1-based with at least 3 digits.
pub fn substation_name(index: usize) -> String {
    format!("substation_{:03}", index + 1)
}

/// Inverse of [`substation_name`]: `substation_001` → `Some(0)`.
pub fn substation_index(name: &str) -> Option<usize> {
    let digits = name.strip_prefix("substation_")?;
    if digits.len() < 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<usize>().ok()?.checked_sub(1)
}

// ---------------------------------------------------------------------------
// Hashing and noise
// ---------------------------------------------------------------------------

/// Independent random streams; changing a value changes the data, so never reuse one.
mod stream {
    pub const PROFILE: u64 = 1;
    pub const LOAD_SLOW: u64 = 2;
    pub const LOAD_FAST: u64 = 3;
    pub const LOAD_WHITE: u64 = 4;
    pub const RESERVE: u64 = 5;
    pub const CLOUD_SLOW: u64 = 6;
    pub const CLOUD_FAST: u64 = 7;
    pub const WIND_SLOW: u64 = 8;
    pub const WIND_MID: u64 = 9;
    pub const WIND_FAST: u64 = 10;
    pub const VOLT_SLOW: u64 = 11;
    pub const VOLT_WHITE: u64 = 12;
    pub const FREQ_SLOW: u64 = 13;
    pub const FREQ_WHITE: u64 = 14;
    pub const PF_SLOW: u64 = 15;
    pub const PF_WHITE: u64 = 16;
    pub const ANOMALY: u64 = 17;
    pub const ANOMALY_WHITE: u64 = 18;
    pub const MARGINAL_RATIO: u64 = 19;
    pub const MARGINAL_VOLT: u64 = 20;
}

fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn hash(seed: u64, parts: &[u64]) -> u64 {
    parts.iter().fold(splitmix64(seed), |h, &p| splitmix64(h ^ p))
}

/// Uniform in [0, 1) from the top 53 bits.
fn unit(h: u64) -> f64 {
    (h >> 11) as f64 / (1u64 << 53) as f64
}

/// Uniform in [-1, 1).
fn signed(h: u64) -> f64 {
    2.0 * unit(h) - 1.0
}

fn lerp(a: f64, b: f64, t: f64) -> f64 {
    a + (b - a) * t
}

fn smoothstep(t: f64) -> f64 {
    let t = t.clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

/// Round to `decimals` places; `+ 0.0` turns `-0.0` into `0.0` so files never say `-0.00`.
fn round_to(x: f64, decimals: i32) -> f64 {
    let f = 10f64.powi(decimals);
    (x * f).round() / f + 0.0
}

/// Time features of one timestamp (UTC is used as local time, like the seed's files).
struct Clock {
    /// Unix seconds, the key of per-reading (white) noise.
    secs: i64,
    /// Minutes since the Unix epoch, the axis of smooth noise.
    minutes: f64,
    /// Hour of day, fractional (0..24).
    hour: f64,
    /// Day of year, fractional, 0-based.
    doy: f64,
    date: NaiveDate,
}

impl Clock {
    fn new(ts: DateTime<Utc>) -> Self {
        let secs = ts.timestamp();
        let sec_of_day = f64::from(ts.num_seconds_from_midnight()) + f64::from(ts.timestamp_subsec_nanos()) * 1e-9;
        Self {
            secs,
            minutes: secs as f64 / 60.0 + f64::from(ts.timestamp_subsec_nanos()) * 1e-9 / 60.0,
            hour: sec_of_day / 3600.0,
            doy: f64::from(ts.ordinal0()) + sec_of_day / 86_400.0,
            date: ts.date_naive(),
        }
    }
}

/// Fixed traits of one substation, drawn from (seed, index).
struct Profile {
    /// Typical daily peak, 60..250 MW.
    base_load: f64,
    /// 0 = residential (evening peak), 0.6 = mostly commercial (midday plateau).
    commercial: f64,
    solar_capacity: f64,
    wind_capacity: f64,
    /// Generation margin over load, 0.14..0.22 (keeps load/gen well under 0.95).
    reserve: f64,
    voltage_offset: f64,
    power_factor: f64,
    /// Solar noon shift in hours (longitude within the region).
    noon_shift: f64,
}

impl Profile {
    fn new(seed: u64, sub: usize) -> Self {
        let r = |k: u64| unit(hash(seed, &[stream::PROFILE, sub as u64, k]));
        let base_load = 60.0 + 190.0 * r(0);
        Self {
            base_load,
            commercial: 0.6 * r(1),
            solar_capacity: base_load * (0.05 + 0.25 * r(2)),
            wind_capacity: base_load * (0.05 + 0.20 * r(3)),
            reserve: 0.14 + 0.08 * r(4),
            voltage_offset: 0.04 * signed(hash(seed, &[stream::PROFILE, sub as u64, 5])),
            power_factor: 0.93 + 0.04 * r(6),
            noon_shift: 0.3 * signed(hash(seed, &[stream::PROFILE, sub as u64, 7])),
        }
    }
}

/// Relative load by hour: residential (night trough, morning ramp, evening peak).
/// Hour-to-hour steps stay under ~10 % so an hour's peak stays close to its average.
const RESIDENTIAL: [f64; 24] = [
    0.71, 0.66, 0.62, 0.60, 0.60, 0.63, 0.68, 0.74, 0.80, 0.83, 0.84, 0.84, //
    0.85, 0.84, 0.84, 0.86, 0.90, 0.95, 0.99, 1.00, 0.97, 0.92, 0.85, 0.78,
];
/// Relative load by hour: commercial (business-hours plateau).
const COMMERCIAL: [f64; 24] = [
    0.62, 0.60, 0.59, 0.59, 0.60, 0.63, 0.69, 0.76, 0.83, 0.89, 0.94, 0.98, //
    0.99, 1.00, 0.99, 0.97, 0.94, 0.90, 0.86, 0.81, 0.76, 0.71, 0.67, 0.64,
];

/// Cyclic Catmull-Rom interpolation of an hourly table (smooth, no hourly plateaus).
fn hourly_curve(table: &[f64; 24], hour: f64) -> f64 {
    let i = hour.floor() as i64;
    let t = hour - hour.floor();
    let p = |k: i64| table[(i + k).rem_euclid(24) as usize];
    let (p0, p1, p2, p3) = (p(-1), p(0), p(1), p(2));
    0.5 * (2.0 * p1
        + (p2 - p0) * t
        + (2.0 * p0 - 5.0 * p1 + 4.0 * p2 - p3) * t * t
        + (3.0 * p1 - p0 - 3.0 * p2 + p3) * t * t * t)
}

/// Weekend factor of one date (Saturday ~11 %, Sunday ~14 % below weekdays;
/// commercial areas drop a little more).
fn day_factor(date: NaiveDate, commercial: f64) -> f64 {
    match date.weekday() {
        chrono::Weekday::Sat => 0.90 - 0.06 * commercial,
        chrono::Weekday::Sun => 0.87 - 0.06 * commercial,
        _ => 1.0,
    }
}

/// The weekly factor, blended over ±2 h around midnight so load has no step.
fn weekly_factor(c: &Clock, commercial: f64) -> f64 {
    let today = day_factor(c.date, commercial);
    if c.hour < 2.0 {
        let prev = c.date.pred_opt().map_or(today, |d| day_factor(d, commercial));
        lerp(prev, today, smoothstep((c.hour + 2.0) / 4.0))
    } else if c.hour > 22.0 {
        let next = c.date.succ_opt().map_or(today, |d| day_factor(d, commercial));
        lerp(today, next, smoothstep((c.hour - 22.0) / 4.0))
    } else {
        today
    }
}

/// Seasonal factor: heating peak in mid-January, cooling peak in mid-July,
/// lowest in spring and autumn.
fn seasonal_factor(doy: f64) -> f64 {
    let s = (2.0 * PI * (doy - 15.0) / 365.25).cos();
    0.90 + 0.13 * s * s + 0.02 * s
}

/// 1 at the summer solstice, 0 at the winter solstice.
fn summerness(doy: f64) -> f64 {
    0.5 + 0.5 * (2.0 * PI * (doy - 172.0) / 365.25).cos()
}

// ---------------------------------------------------------------------------
// The generator
// ---------------------------------------------------------------------------

/// Produces readings for a [`GeneratorConfig`]. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Generator {
    cfg: GeneratorConfig,
}

/// Where a block's episode sits, in interval units relative to the block start.
struct EpisodeSlot {
    kind: AnomalyKind,
    offset: i64,
    len: i64,
    severity: f64,
    upward: bool,
}

impl Generator {
    /// # Panics
    /// If `interval_minutes` is 0 (call [`GeneratorConfig::validate`] first for a
    /// friendly error).
    pub fn new(cfg: GeneratorConfig) -> Self {
        assert!(cfg.interval_minutes > 0, "GeneratorConfig::interval_minutes must be > 0");
        Self { cfg }
    }

    pub fn config(&self) -> &GeneratorConfig {
        &self.cfg
    }

    pub fn interval(&self) -> Duration {
        Duration::minutes(i64::from(self.cfg.interval_minutes))
    }

    /// Number of readings [`Generator::readings`] yields.
    pub fn row_count(&self) -> u64 {
        self.timestamp_count() * self.cfg.substations as u64
    }

    /// Number of distinct timestamps in the configured span.
    pub fn timestamp_count(&self) -> u64 {
        let minutes = u64::from(self.cfg.days) * 1440;
        minutes.div_ceil(u64::from(self.cfg.interval_minutes))
    }

    /// Timestamps of the configured span, in order.
    pub fn timestamps(&self) -> impl Iterator<Item = DateTime<Utc>> + use<> {
        self.timestamps_from(self.cfg.start).take(self.timestamp_count() as usize)
    }

    /// `from, from + interval, ...` without end (for "generate until big enough").
    pub fn timestamps_from(&self, from: DateTime<Utc>) -> impl Iterator<Item = DateTime<Utc>> + use<> {
        let step = self.interval();
        std::iter::successors(Some(from), move |t| t.checked_add_signed(step))
    }

    /// The latest timestamp on the interval grid (anchored at the Unix epoch) at or before `ts`.
    pub fn floor_to_interval(&self, ts: DateTime<Utc>) -> DateTime<Utc> {
        let step = i64::from(self.cfg.interval_minutes) * 60;
        let secs = ts.timestamp().div_euclid(step) * step;
        Utc.timestamp_opt(secs, 0).single().unwrap_or(ts)
    }

    /// Every reading of the configured span, ordered by timestamp then substation.
    pub fn readings(&self) -> impl Iterator<Item = Reading> + '_ {
        let subs = self.cfg.substations;
        self.timestamps().flat_map(move |ts| (0..subs).map(move |s| self.reading(s, ts)))
    }

    /// All substations' readings at one timestamp.
    pub fn readings_at(&self, ts: DateTime<Utc>) -> impl Iterator<Item = Reading> + '_ {
        (0..self.cfg.substations).map(move |s| self.reading(s, ts))
    }

    /// The reading of substation `substation` (0-based index) at `ts`.
    pub fn reading(&self, substation: usize, ts: DateTime<Utc>) -> Reading {
        let c = Clock::new(ts);
        let p = Profile::new(self.cfg.seed, substation);
        let smooth_load = self.smooth_load(substation, &p, &c);
        let white = signed(self.h(substation, stream::LOAD_WHITE, c.secs as u64));
        let mut r = Values {
            load: smooth_load * (1.0 + 0.008 * white),
            generation: smooth_load * (1.0 + self.reserve(substation, &p, &c)),
            voltage: self.voltage(substation, &p, &c, smooth_load),
            frequency: self.frequency(substation, &c),
            solar: self.solar(substation, &p, &c),
            wind: self.wind(substation, &p, &c),
            power_factor: self.power_factor(substation, &p, &c, smooth_load),
        };
        if self.cfg.marginal {
            self.make_marginal(&mut r, substation, &c);
        }
        if let Some(ep) = self.episode_at(substation, ts) {
            self.apply_anomaly(&mut r, &ep, substation, &c);
        }
        r.cap_renewables();
        r.into_reading(ts, substation, self.cfg.include_power_factor)
    }

    /// The anomaly kind active for this substation at `ts`, if any.
    pub fn anomaly_at(&self, substation: usize, ts: DateTime<Utc>) -> Option<AnomalyKind> {
        self.episode_at(substation, ts).map(|e| e.kind)
    }

    /// The anomaly episode covering `ts`, if any.
    pub fn episode_at(&self, substation: usize, ts: DateTime<Utc>) -> Option<Episode> {
        let n = self.interval_index(ts);
        let block = n.div_euclid(self.block_len());
        let ep = self.episode_in_block(substation, block)?;
        (ep.start <= ts && ts < ep.end).then_some(ep)
    }

    /// Episodes of one substation that overlap `[from, to)`, in time order.
    pub fn episodes_between(&self, substation: usize, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<Episode> {
        if to <= from {
            return Vec::new();
        }
        let b = self.block_len();
        let first = self.interval_index(from).div_euclid(b);
        let last = self.interval_index(to - Duration::nanoseconds(1)).div_euclid(b);
        (first..=last)
            .filter_map(|blk| self.episode_in_block(substation, blk))
            .filter(|e| e.end > from && e.start < to)
            .collect()
    }

    /// Episodes of every substation in the configured span.
    pub fn episodes(&self) -> Vec<Episode> {
        let (from, to) = (self.cfg.start, self.cfg.end());
        (0..self.cfg.substations).flat_map(|s| self.episodes_between(s, from, to)).collect()
    }

    fn h(&self, sub: usize, stream: u64, key: u64) -> u64 {
        hash(self.cfg.seed, &[stream, sub as u64, key])
    }

    /// Smooth value noise in [-1, 1] over time, changing on the scale of `period` minutes.
    fn noise(&self, sub: usize, stream: u64, minutes: f64, period: f64) -> f64 {
        let x = minutes / period;
        let k = x.floor();
        let a = signed(self.h(sub, stream, k as i64 as u64));
        let b = signed(self.h(sub, stream, (k as i64 + 1) as u64));
        lerp(a, b, smoothstep(x - k))
    }

    // --- normal behaviour -------------------------------------------------

    /// Load without per-reading jitter: daily × weekly × seasonal shape plus slow wander.
    fn smooth_load(&self, sub: usize, p: &Profile, c: &Clock) -> f64 {
        let daily = lerp(hourly_curve(&RESIDENTIAL, c.hour), hourly_curve(&COMMERCIAL, c.hour), p.commercial);
        let wander = 0.025 * self.noise(sub, stream::LOAD_SLOW, c.minutes, 180.0)
            + 0.01 * self.noise(sub, stream::LOAD_FAST, c.minutes, 40.0);
        p.base_load * daily * weekly_factor(c, p.commercial) * seasonal_factor(c.doy) * (1.0 + wander)
    }

    fn reserve(&self, sub: usize, p: &Profile, c: &Clock) -> f64 {
        p.reserve + 0.02 * self.noise(sub, stream::RESERVE, c.minutes, 360.0)
    }

    /// Near 13.8 kV, a little lower under heavy load; never near the limits by itself.
    fn voltage(&self, sub: usize, p: &Profile, c: &Clock, load: f64) -> f64 {
        let loading = load / p.base_load - 0.8;
        13.8 + p.voltage_offset - 0.06 * loading
            + 0.05 * self.noise(sub, stream::VOLT_SLOW, c.minutes, 60.0)
            + 0.015 * signed(self.h(sub, stream::VOLT_WHITE, c.secs as u64))
    }

    /// 60 Hz ± ~0.02: the whole interconnection's balance, so only small wander.
    fn frequency(&self, sub: usize, c: &Clock) -> f64 {
        60.0 + 0.012 * self.noise(sub, stream::FREQ_SLOW, c.minutes, 20.0)
            + 0.005 * signed(self.h(sub, stream::FREQ_WHITE, c.secs as u64))
    }

    /// Bell curve between sunrise and sunset; longer, stronger days in summer; clouds.
    fn solar(&self, sub: usize, p: &Profile, c: &Clock) -> f64 {
        let summer = summerness(c.doy);
        let day_length = 9.0 + 6.0 * summer;
        let sunrise = 12.0 + p.noon_shift - day_length / 2.0;
        let x = (c.hour - sunrise) / day_length;
        if !(0.0..1.0).contains(&x) {
            return 0.0;
        }
        let cloudiness = 0.5
            + 0.5
                * (0.6 * self.noise(sub, stream::CLOUD_SLOW, c.minutes, 1440.0)
                    + 0.4 * self.noise(sub, stream::CLOUD_FAST, c.minutes, 120.0));
        let clouds = 1.0 - 0.7 * cloudiness * cloudiness;
        p.solar_capacity * (PI * x).sin().powf(1.5) * (0.55 + 0.45 * summer) * clouds
    }

    /// Smooth multi-scale wind through a power curve: 0 in calm air, capacity in a gale.
    fn wind(&self, sub: usize, p: &Profile, c: &Clock) -> f64 {
        let speed = 0.5
            + 0.5
                * (0.6 * self.noise(sub, stream::WIND_SLOW, c.minutes, 720.0)
                    + 0.3 * self.noise(sub, stream::WIND_MID, c.minutes, 180.0)
                    + 0.1 * self.noise(sub, stream::WIND_FAST, c.minutes, 40.0));
        let output = smoothstep((speed - 0.1) / 0.8);
        p.wind_capacity * output * (1.1 - 0.2 * summerness(c.doy))
    }

    fn power_factor(&self, sub: usize, p: &Profile, c: &Clock, load: f64) -> f64 {
        let loading = load / p.base_load - 0.8;
        let pf = p.power_factor - 0.02 * loading
            + 0.01 * self.noise(sub, stream::PF_SLOW, c.minutes, 180.0)
            + 0.003 * signed(self.h(sub, stream::PF_WHITE, c.secs as u64));
        pf.clamp(0.90, 0.99)
    }

    /// The marginal mode (see [`GeneratorConfig::marginal`]).
    fn make_marginal(&self, r: &mut Values, sub: usize, c: &Clock) {
        let ratio = 0.94 * (1.0 + 0.02 * signed(self.h(sub, stream::MARGINAL_RATIO, c.secs as u64)));
        r.generation = r.load / ratio;
        let center = if sub.is_multiple_of(2) { 13.56 } else { 14.04 };
        r.voltage = center
            + 0.03 * self.noise(sub, stream::VOLT_SLOW, c.minutes, 60.0)
            + 0.03 * signed(self.h(sub, stream::MARGINAL_VOLT, c.secs as u64));
    }

    // --- anomalies --------------------------------------------------------

    /// Index of the interval containing `ts`, counted from the Unix epoch.
    fn interval_index(&self, ts: DateTime<Utc>) -> i64 {
        ts.timestamp().div_euclid(i64::from(self.cfg.interval_minutes) * 60)
    }

    /// Intervals per hour when the interval divides an hour, else 1.
    fn per_hour(&self) -> i64 {
        let i = i64::from(self.cfg.interval_minutes);
        if 60 % i == 0 { 60 / i } else { 1 }
    }

    /// Time is cut into blocks (6 h at 15-min intervals) holding at most one episode,
    /// which is what makes "is there an anomaly now?" answerable without history.
    fn block_len(&self) -> i64 {
        24.max(6 * self.per_hour())
    }

    fn episode_in_block(&self, sub: usize, block: i64) -> Option<Episode> {
        let slot = self.slot(sub, block)?;
        let step = i64::from(self.cfg.interval_minutes) * 60;
        let first = (block * self.block_len() + slot.offset) * step;
        let start = Utc.timestamp_opt(first, 0).single()?;
        Some(Episode {
            substation: sub,
            kind: slot.kind,
            start,
            end: start + Duration::seconds(slot.len * step),
            severity: slot.severity,
            upward: slot.upward,
        })
    }

    /// Draws whether block `block` has an episode, and its kind, place and size.
    fn slot(&self, sub: usize, block: i64) -> Option<EpisodeSlot> {
        let blen = self.block_len();
        let block_minutes = (blen * i64::from(self.cfg.interval_minutes)) as f64;
        let chance = (self.cfg.anomalies_per_week.max(0.0) * block_minutes / 10_080.0).min(1.0);
        let r = |k: u64| hash(self.cfg.seed, &[stream::ANOMALY, sub as u64, block as u64, k]);
        if unit(r(0)) >= chance {
            return None;
        }
        let kind = AnomalyKind::ALL[(r(1) % 4) as usize];
        let (offset, len) = if kind == AnomalyKind::Overload {
            // Whole clock hours, so an hourly "peak load / average generation" check
            // sees the overload too, not only a per-reading one.
            let a = self.per_hour();
            let len = if a >= 2 { a * (1 + (r(2) % 2) as i64) } else { 2 + (r(2) % 3) as i64 };
            (a * (r(3) % ((blen - len) / a + 1) as u64) as i64, len)
        } else {
            // 2..=8 intervals of 15 min (30 min .. 2 h) at fine intervals; 2..=8 intervals otherwise.
            let unit_len = (15 / i64::from(self.cfg.interval_minutes)).max(1);
            let len = unit_len * (2 + (r(2) % 7) as i64);
            ((r(3) % (blen - len + 1) as u64) as i64, len)
        };
        Some(EpisodeSlot { kind, offset, len, severity: unit(r(4)), upward: r(5) % 2 == 0 })
    }

    /// Pushes the episode's quantity past its threshold on this reading.
    fn apply_anomaly(&self, r: &mut Values, ep: &Episode, sub: usize, c: &Clock) {
        // Per-reading jitter in 0.8..1.0 so an episode is not a flat line.
        let jitter = 0.9 + 0.1 * signed(self.h(sub, stream::ANOMALY_WHITE, c.secs as u64));
        let depth = (0.07 + 0.25 * ep.severity) * jitter;
        match ep.kind {
            AnomalyKind::VoltageSag => r.voltage = 13.5 - depth,
            AnomalyKind::Overvoltage => r.voltage = 14.1 + depth,
            AnomalyKind::FrequencyExcursion => {
                let dev = (0.07 + 0.10 * ep.severity) * jitter;
                r.frequency = if ep.upward { 60.0 + dev } else { 60.0 - dev };
            }
            AnomalyKind::Overload => {
                r.load *= 1.05 + 0.07 * ep.severity;
                let ratio = 0.97 + 0.04 * ep.severity * jitter;
                r.generation = r.load / ratio;
                r.power_factor = (r.power_factor - 0.02).max(0.90);
            }
        }
    }
}

/// Unrounded values of one reading.
struct Values {
    load: f64,
    generation: f64,
    voltage: f64,
    frequency: f64,
    solar: f64,
    wind: f64,
    power_factor: f64,
}

impl Values {
    /// Renewables are part of generation, so they never exceed 95 % of it.
    fn cap_renewables(&mut self) {
        let renewables = self.solar + self.wind;
        let cap = 0.95 * self.generation;
        if renewables > cap && renewables > 0.0 {
            let k = cap / renewables;
            self.solar *= k;
            self.wind *= k;
        }
    }

    fn into_reading(self, ts: DateTime<Utc>, sub: usize, include_pf: bool) -> Reading {
        Reading {
            timestamp: ts,
            location: substation_name(sub),
            load_mw: round_to(self.load, 2),
            generation_mw: round_to(self.generation, 2),
            voltage_kv: round_to(self.voltage, 3),
            frequency_hz: round_to(self.frequency, 3),
            solar_mw: round_to(self.solar.max(0.0), 2),
            wind_mw: round_to(self.wind.max(0.0), 2),
            power_factor: include_pf.then(|| round_to(self.power_factor, 3)),
        }
    }
}

// ---------------------------------------------------------------------------
// Output
// ---------------------------------------------------------------------------

/// File format of generated data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DataFormat {
    /// Comma-separated with a header row (the seed's format).
    #[default]
    Csv,
    /// One JSON object per line, same field names as the CSV header.
    JsonLines,
}

impl DataFormat {
    /// File extension without the dot: `csv` or `jsonl`.
    pub fn extension(self) -> &'static str {
        match self {
            DataFormat::Csv => "csv",
            DataFormat::JsonLines => "jsonl",
        }
    }
}

impl FromStr for DataFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "csv" => Ok(DataFormat::Csv),
            "jsonl" | "json-lines" | "jsonlines" | "ndjson" => Ok(DataFormat::JsonLines),
            other => Err(format!("unknown format {other:?} (expected csv or jsonl)")),
        }
    }
}

/// The CSV header line (without newline).
pub fn csv_header(include_power_factor: bool) -> &'static str {
    if include_power_factor { CSV_HEADER_WITH_PF } else { CSV_HEADER }
}

/// Writes the header line of `format` (nothing for JSON lines).
pub fn write_header<W: Write + ?Sized>(format: DataFormat, include_power_factor: bool, w: &mut W) -> io::Result<()> {
    match format {
        DataFormat::Csv => writeln!(w, "{}", csv_header(include_power_factor)),
        DataFormat::JsonLines => Ok(()),
    }
}

/// Writes one reading as one line (no header): what the live simulator appends to a file.
///
/// Numbers use fixed decimals (MW 2, kV/Hz/power factor 3). A missing power factor is an
/// empty CSV field / an absent JSON field.
pub fn write_reading_row<W: Write + ?Sized>(
    format: DataFormat,
    include_power_factor: bool,
    r: &Reading,
    w: &mut W,
) -> io::Result<()> {
    match format {
        DataFormat::Csv => write_csv_row(include_power_factor, r, w),
        DataFormat::JsonLines => write_json_row(include_power_factor, r, w),
    }
}

/// Writes a header and every reading; returns the number of readings written.
pub fn write_readings<W: Write>(
    format: DataFormat,
    include_power_factor: bool,
    readings: impl IntoIterator<Item = Reading>,
    w: W,
) -> io::Result<u64> {
    let mut w = BufWriter::with_capacity(64 * 1024, w);
    write_header(format, include_power_factor, &mut w)?;
    let mut n = 0;
    for r in readings {
        write_reading_row(format, include_power_factor, &r, &mut w)?;
        n += 1;
    }
    w.flush()?;
    Ok(n)
}

fn write_csv_row<W: Write + ?Sized>(include_pf: bool, r: &Reading, w: &mut W) -> io::Result<()> {
    write!(w, "{},", format_ts(r.timestamp))?;
    write_csv_text(&r.location, w)?;
    write!(
        w,
        ",{:.2},{:.2},{:.3},{:.3},{:.2},{:.2}",
        r.load_mw, r.generation_mw, r.voltage_kv, r.frequency_hz, r.solar_mw, r.wind_mw
    )?;
    match (include_pf, r.power_factor) {
        (true, Some(pf)) => writeln!(w, ",{pf:.3}"),
        (true, None) => writeln!(w, ","),
        (false, _) => writeln!(w),
    }
}

/// Quotes a field only when it needs it (names from elsewhere may hold commas).
fn write_csv_text<W: Write + ?Sized>(s: &str, w: &mut W) -> io::Result<()> {
    if s.contains([',', '"', '\n', '\r']) {
        write!(w, "\"{}\"", s.replace('"', "\"\""))
    } else {
        w.write_all(s.as_bytes())
    }
}

fn write_json_row<W: Write + ?Sized>(include_pf: bool, r: &Reading, w: &mut W) -> io::Result<()> {
    let location = serde_json::to_string(&r.location).map_err(io::Error::other)?;
    write!(w, "{{\"timestamp\":\"{}\",\"location\":{location}", format_ts(r.timestamp))?;
    let fields = [
        ("load_mw", r.load_mw, 2),
        ("generation_mw", r.generation_mw, 2),
        ("voltage_kv", r.voltage_kv, 3),
        ("frequency_hz", r.frequency_hz, 3),
        ("solar_mw", r.solar_mw, 2),
        ("wind_mw", r.wind_mw, 2),
    ];
    for (name, v, d) in fields {
        write_json_number(name, v, d, w)?;
    }
    if let (true, Some(pf)) = (include_pf, r.power_factor) {
        write_json_number("power_factor", pf, 3, w)?;
    }
    writeln!(w, "}}")
}

/// JSON has no NaN or infinity: those become `null`.
fn write_json_number<W: Write + ?Sized>(name: &str, v: f64, decimals: usize, w: &mut W) -> io::Result<()> {
    if v.is_finite() { write!(w, ",\"{name}\":{v:.decimals$}") } else { write!(w, ",\"{name}\":null") }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap()
    }

    #[test]
    fn names_are_one_based_with_three_digits() {
        assert_eq!(substation_name(0), "substation_001");
        assert_eq!(substation_name(41), "substation_042");
        assert_eq!(substation_name(1233), "substation_1234");
        assert_eq!(substation_index("substation_001"), Some(0));
        assert_eq!(substation_index("substation_1234"), Some(1233));
        assert_eq!(substation_index("substation_000"), None);
        assert_eq!(substation_index("substation_1"), None);
        assert_eq!(substation_index("feeder_001"), None);
    }

    #[test]
    fn hash_noise_is_bounded_and_continuous() {
        let g = Generator::new(GeneratorConfig::default());
        let mut prev = g.noise(0, stream::WIND_SLOW, 0.0, 60.0);
        for i in 1..10_000 {
            let v = g.noise(0, stream::WIND_SLOW, f64::from(i), 60.0);
            assert!((-1.0..=1.0).contains(&v));
            assert!((v - prev).abs() < 0.1, "jump at minute {i}: {prev} -> {v}");
            prev = v;
        }
    }

    #[test]
    fn hourly_curve_passes_through_table_points() {
        for h in 0..24 {
            assert!((hourly_curve(&RESIDENTIAL, f64::from(h)) - RESIDENTIAL[h as usize]).abs() < 1e-12);
        }
    }

    #[test]
    fn weekly_factor_has_no_step_at_midnight() {
        // Friday 23:59 → Saturday 00:00, Sunday 23:59 → Monday 00:00.
        for (a, b) in
            [(ts(2025, 1, 17, 23, 59), ts(2025, 1, 18, 0, 0)), (ts(2025, 1, 19, 23, 59), ts(2025, 1, 20, 0, 0))]
        {
            let (fa, fb) = (weekly_factor(&Clock::new(a), 0.3), weekly_factor(&Clock::new(b), 0.3));
            assert!((fa - fb).abs() < 0.002, "{fa} vs {fb}");
        }
    }

    #[test]
    fn round_to_never_gives_negative_zero() {
        let z = round_to(-0.0001, 2);
        assert_eq!(z, 0.0);
        assert!(z.is_sign_positive());
    }

    #[test]
    fn floor_to_interval_aligns_to_grid() {
        let g = Generator::new(GeneratorConfig::default());
        let t = Utc.with_ymd_and_hms(2025, 3, 1, 10, 29, 59).unwrap();
        assert_eq!(g.floor_to_interval(t), ts(2025, 3, 1, 10, 15));
    }

    #[test]
    fn episodes_fit_in_their_block_and_overloads_cover_whole_hours() {
        for interval in [1, 5, 10, 15, 20, 30, 45, 60, 90, 120] {
            let cfg = GeneratorConfig {
                interval_minutes: interval,
                days: 60,
                anomalies_per_week: 20.0,
                ..Default::default()
            };
            let g = Generator::new(cfg);
            let eps = g.episodes();
            assert!(!eps.is_empty(), "interval {interval}");
            for e in eps {
                let len = (e.end - e.start).num_minutes() / i64::from(interval);
                assert!(len >= 1, "interval {interval}: {e:?}");
                if e.kind == AnomalyKind::Overload && 60 % interval == 0 {
                    assert_eq!(e.start.minute(), 0, "interval {interval}: {e:?}");
                    assert_eq!((e.end - e.start).num_minutes() % 60, 0, "interval {interval}: {e:?}");
                }
                // The block owning the start also covers the last interval.
                let b = g.block_len();
                let last = e.end - Duration::minutes(i64::from(interval));
                assert_eq!(g.interval_index(e.start).div_euclid(b), g.interval_index(last).div_euclid(b));
            }
        }
    }

    #[test]
    fn validate_rejects_bad_configs() {
        let ok = GeneratorConfig::default();
        assert!(ok.validate().is_ok());
        assert!(GeneratorConfig { substations: 0, ..ok.clone() }.validate().is_err());
        assert!(GeneratorConfig { interval_minutes: 0, ..ok.clone() }.validate().is_err());
        assert!(GeneratorConfig { interval_minutes: 7, ..ok.clone() }.validate().is_err());
        assert!(GeneratorConfig { days: 0, ..ok.clone() }.validate().is_err());
        assert!(GeneratorConfig { anomalies_per_week: -1.0, ..ok.clone() }.validate().is_err());
        assert!(GeneratorConfig { anomalies_per_week: f64::NAN, ..ok }.validate().is_err());
    }

    #[test]
    fn json_writer_escapes_and_nulls() {
        let r = Reading {
            timestamp: ts(2025, 1, 14, 0, 0),
            location: "a \"b\", c".into(),
            load_mw: f64::NAN,
            generation_mw: 1.0,
            voltage_kv: 13.8,
            frequency_hz: 60.0,
            solar_mw: 0.0,
            wind_mw: 0.0,
            power_factor: None,
        };
        let mut out = Vec::new();
        write_reading_row(DataFormat::JsonLines, true, &r, &mut out).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["location"], "a \"b\", c");
        assert!(v["load_mw"].is_null());
        assert!(v.get("power_factor").is_none());
        let mut out = Vec::new();
        write_reading_row(DataFormat::Csv, true, &r, &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "2025-01-14T00:00:00Z,\"a \"\"b\"\", c\",NaN,1.00,13.800,60.000,0.00,0.00,\n"
        );
    }
}
