//! The time cursor: which window of history the dashboard shows.
//!
//! By default the window follows live data and ends at "now". When the newest stored
//! reading is older than the window (an archive, the January sample data, a pipeline
//! that stopped) the window anchors at the newest data instead, so stored history is
//! never invisible. Moving back/forward or `:goto` pins the window at a time; moving past
//! the newest data, or "live", follows again. Pure functions, no I/O.

use crate::model::HourlyRollup;
use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use std::collections::BTreeMap;

/// Window lengths, shortest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Zoom {
    Hour,
    SixHours,
    Day,
    Week,
    Month,
}

impl Zoom {
    pub const ALL: [Zoom; 5] = [Zoom::Hour, Zoom::SixHours, Zoom::Day, Zoom::Week, Zoom::Month];

    pub fn duration(self) -> Duration {
        match self {
            Zoom::Hour => Duration::hours(1),
            Zoom::SixHours => Duration::hours(6),
            Zoom::Day => Duration::hours(24),
            Zoom::Week => Duration::days(7),
            Zoom::Month => Duration::days(30),
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Zoom::Hour => "1h",
            Zoom::SixHours => "6h",
            Zoom::Day => "24h",
            Zoom::Week => "7d",
            Zoom::Month => "30d",
        }
    }

    fn index(self) -> usize {
        Zoom::ALL.iter().position(|z| *z == self).unwrap_or(2)
    }

    /// One step longer (stops at 30 d).
    pub fn out(self) -> Zoom {
        Zoom::ALL[(self.index() + 1).min(Zoom::ALL.len() - 1)]
    }

    /// One step shorter (stops at 1 h).
    pub fn zoom_in(self) -> Zoom {
        Zoom::ALL[self.index().saturating_sub(1)]
    }

    /// The `t` key: 24 h -> 7 d -> 30 d -> 24 h (the shorter ones are reached with `+`).
    pub fn cycle(self) -> Zoom {
        match self {
            Zoom::Day => Zoom::Week,
            Zoom::Week => Zoom::Month,
            _ => Zoom::Day,
        }
    }

    /// Whether a chart of this window shows more hours than it has columns for, so each
    /// point stands for several hours and gets a min/max envelope.
    pub fn downsampled(self) -> bool {
        self >= Zoom::Week
    }

    pub fn parse(s: &str) -> Option<Zoom> {
        let s = s.trim().to_ascii_lowercase();
        Zoom::ALL.into_iter().find(|z| z.label() == s || (s == "1d" && *z == Zoom::Day))
    }
}

/// Whether the window follows new data or is pinned at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Follow {
    /// Ends at "now", or at the newest data when that is older than the window.
    Live,
    /// Ends at this time.
    At(DateTime<Utc>),
}

/// How the current window came about; the title bar says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowMode {
    /// Ends at the clock's "now".
    Live,
    /// Following, but the newest data is older than the window: anchored at it.
    Newest(DateTime<Utc>),
    /// Pinned by the operator.
    Pinned,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeCursor {
    pub follow: Follow,
    pub zoom: Zoom,
}

impl Default for TimeCursor {
    fn default() -> Self {
        Self { follow: Follow::Live, zoom: Zoom::Day }
    }
}

/// The window `[start, end)` and how it was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub mode: WindowMode,
}

impl Window {
    pub fn duration(&self) -> Duration {
        self.end - self.start
    }
    /// Following the clock: staleness is judged against "now".
    pub fn is_live(&self) -> bool {
        self.mode == WindowMode::Live
    }
}

/// Where a window of `zoom` ends when following: now, or the newest data if that is
/// older than one window. (The poller applies the same rule to what it fetches.)
pub fn live_end(zoom: Duration, now: DateTime<Utc>, newest: Option<DateTime<Utc>>) -> (DateTime<Utc>, WindowMode) {
    match newest {
        Some(n) if n < now - zoom => (n, WindowMode::Newest(n)),
        _ => (now, WindowMode::Live),
    }
}

impl TimeCursor {
    /// Where the window ends when following: now, or the newest data if that is older
    /// than one window (so there is always something to see).
    pub fn live_end(&self, now: DateTime<Utc>, newest: Option<DateTime<Utc>>) -> (DateTime<Utc>, WindowMode) {
        live_end(self.zoom.duration(), now, newest)
    }

    pub fn window(&self, now: DateTime<Utc>, newest: Option<DateTime<Utc>>) -> Window {
        let (end, mode) = match self.follow {
            Follow::Live => self.live_end(now, newest),
            Follow::At(t) => (t, WindowMode::Pinned),
        };
        Window { start: end - self.zoom.duration(), end, mode }
    }

    /// Moves the window by `steps` half-windows (negative: back in time). Reaching the
    /// live end follows again.
    pub fn shift(&mut self, steps: i32, now: DateTime<Utc>, newest: Option<DateTime<Utc>>) {
        let w = self.window(now, newest);
        let step = self.zoom.duration() / 2;
        let end = w.end + step * steps;
        self.pin(end, now, newest);
    }

    /// Pins the window end at `end`, or follows again when `end` is at or past the live end.
    pub fn pin(&mut self, end: DateTime<Utc>, now: DateTime<Utc>, newest: Option<DateTime<Utc>>) {
        let (live, _) = self.live_end(now, newest);
        self.follow = if end >= live { Follow::Live } else { Follow::At(end) };
    }

    /// Centres the window on `t` (`:goto`).
    pub fn goto(&mut self, t: DateTime<Utc>, now: DateTime<Utc>, newest: Option<DateTime<Utc>>) {
        self.pin(t + self.zoom.duration() / 2, now, newest);
    }

    /// Changes the zoom keeping the window's end where it is.
    pub fn set_zoom(&mut self, zoom: Zoom, now: DateTime<Utc>, newest: Option<DateTime<Utc>>) {
        let end = self.window(now, newest).end;
        let was_live = self.follow == Follow::Live;
        self.zoom = zoom;
        if !was_live {
            self.pin(end, now, newest);
        }
    }
}

/// Parses a `:goto` time: `2025-01-15 14:00`, `2025-01-15T14:00[:ss][Z]`, `2025-01-15`
/// (midnight), `14:00` (that time on the day of `reference`), or relative `-2h`, `-3d`,
/// `-90m` (from `reference`). Times are UTC, as everything the store holds.
pub fn parse_time(input: &str, reference: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    let s = input.trim().trim_end_matches('Z').trim_end_matches('z');
    if s.is_empty() {
        return Err("goto: give a time, e.g. 2025-01-15 14:00, 14:00 or -6h".into());
    }
    if let Some(rel) = s.strip_prefix('-') {
        let (num, unit) = rel.split_at(rel.find(|c: char| !c.is_ascii_digit()).unwrap_or(rel.len()));
        let n: i64 = num.parse().map_err(|_| format!("goto: {input:?}: expected a number after '-' (e.g. -6h)"))?;
        let d = match unit {
            "m" | "min" => Duration::minutes(n),
            "h" => Duration::hours(n),
            "d" => Duration::days(n),
            _ => return Err(format!("goto: {input:?}: unit must be m, h or d")),
        };
        return Ok(reference - d);
    }
    let s = s.replace('T', " ");
    for fmt in ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(&s, fmt) {
            return Ok(Utc.from_utc_datetime(&t));
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(&s, "%Y-%m-%d") {
        return Ok(Utc.from_utc_datetime(&d.and_time(NaiveTime::MIN)));
    }
    for fmt in ["%H:%M:%S", "%H:%M"] {
        if let Ok(t) = NaiveTime::parse_from_str(&s, fmt) {
            return Ok(Utc.from_utc_datetime(&reference.date_naive().and_time(t)));
        }
    }
    Err(format!("goto: {input:?} is not a time (use 2025-01-15 14:00, 2025-01-15, 14:00 or -6h; UTC)"))
}

/// A substation's reading interval, from its own rollups: an hour with `count` readings
/// means one every `60 / count` minutes. The most readings in one of the newest six hours
/// wins (the newest hour is usually partial); `default` when nothing is held.
pub fn cadence(history: &BTreeMap<DateTime<Utc>, HourlyRollup>, default: Duration) -> Duration {
    // The newest few hours suffice (and keep this cheap: it runs per row per frame).
    let most = history.values().rev().take(6).map(|r| r.count).max().unwrap_or(0);
    if most == 0 { default } else { Duration::seconds(3600 / most as i64).max(Duration::seconds(1)) }
}

/// How old a substation's data is at the window's end: from its newest reading when
/// that is inside the window, otherwise from the end of the newest hour held before
/// the end. `None` when nothing is known before the end.
pub fn data_age(
    last_reading: DateTime<Utc>,
    history: &BTreeMap<DateTime<Utc>, HourlyRollup>,
    end: DateTime<Utc>,
) -> Option<Duration> {
    if last_reading <= end {
        return Some(end - last_reading);
    }
    let (ts, _) = history.range(..end).next_back()?;
    Some((end - (*ts + Duration::hours(1))).max(Duration::zero()))
}

/// Stale: no data for more than two of the substation's own intervals before the
/// window's end (against the wall clock only when following live).
pub fn is_stale(age: Option<Duration>, cadence: Duration) -> bool {
    age.is_none_or(|a| a > cadence * 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        parse_time(s, Utc::now()).unwrap()
    }

    #[test]
    fn follows_live_when_fresh_and_anchors_at_old_data() {
        let now = t("2025-06-01 12:00");
        let c = TimeCursor::default();
        let w = c.window(now, Some(now - Duration::minutes(5)));
        assert_eq!((w.end, w.mode), (now, WindowMode::Live));
        assert_eq!(w.start, t("2025-05-31 12:00"));
        let old = t("2025-01-15 23:45");
        let w = c.window(now, Some(old));
        assert_eq!((w.end, w.mode), (old, WindowMode::Newest(old)));
        // No data at all: live.
        assert_eq!(c.window(now, None).mode, WindowMode::Live);
        // A 30-day window still reaches data 20 days old: live.
        let c30 = TimeCursor { zoom: Zoom::Month, ..c };
        assert_eq!(c30.window(now, Some(now - Duration::days(20))).mode, WindowMode::Live);
    }

    #[test]
    fn shift_pins_and_returns_to_live() {
        let now = t("2025-06-01 12:00");
        let newest = Some(now);
        let mut c = TimeCursor::default();
        c.shift(-1, now, newest);
        assert_eq!(c.follow, Follow::At(t("2025-06-01 00:00")));
        c.shift(-2, now, newest);
        assert_eq!(c.follow, Follow::At(t("2025-05-31 00:00")));
        c.shift(1, now, newest);
        c.shift(1, now, newest);
        assert_eq!(c.follow, Follow::At(t("2025-06-01 00:00")));
        c.shift(1, now, newest);
        assert_eq!(c.follow, Follow::Live, "reaching now follows again");
        c.shift(5, now, newest);
        assert_eq!(c.follow, Follow::Live, "cannot go past live");
    }

    #[test]
    fn shift_from_the_newest_data_anchor() {
        let now = t("2025-06-01 12:00");
        let newest = Some(t("2025-01-15 23:45"));
        let mut c = TimeCursor::default();
        c.shift(-1, now, newest);
        assert_eq!(c.follow, Follow::At(t("2025-01-15 11:45")));
        c.shift(1, now, newest);
        assert_eq!(c.follow, Follow::Live, "back at the newest data: following");
    }

    #[test]
    fn goto_centres_and_zoom_keeps_the_end() {
        let now = t("2025-06-01 12:00");
        let newest = Some(t("2025-01-15 23:45"));
        let mut c = TimeCursor::default();
        c.goto(t("2025-01-15 06:00"), now, newest);
        assert_eq!(c.follow, Follow::At(t("2025-01-15 18:00")));
        // Centring would end past the newest data: the anchored window (which holds the time).
        let mut c2 = TimeCursor::default();
        c2.goto(t("2025-01-15 14:00"), now, newest);
        assert_eq!(c2.follow, Follow::Live);
        let w = c2.window(now, newest);
        assert!(w.start <= t("2025-01-15 14:00") && Some(w.end) == newest);
        c.set_zoom(Zoom::Week, now, newest);
        let w = c.window(now, newest);
        assert_eq!((w.start, w.end), (t("2025-01-08 18:00"), t("2025-01-15 18:00")));
        assert_eq!(Zoom::Hour.zoom_in(), Zoom::Hour);
        assert_eq!(Zoom::Month.out(), Zoom::Month);
        assert_eq!(Zoom::Day.out(), Zoom::Week);
        assert_eq!(Zoom::Day.zoom_in(), Zoom::SixHours);
        assert_eq!(Zoom::parse("7d"), Some(Zoom::Week));
        assert_eq!(Zoom::parse("2w"), None);
    }

    #[test]
    fn time_formats() {
        let r = t("2025-01-15 23:45");
        assert_eq!(parse_time("2025-01-15T14:00:00Z", r).unwrap(), t("2025-01-15 14:00"));
        assert_eq!(parse_time("2025-01-14", r).unwrap(), t("2025-01-14 00:00"));
        assert_eq!(parse_time("06:30", r).unwrap(), t("2025-01-15 06:30"));
        assert_eq!(parse_time("-6h", r).unwrap(), t("2025-01-15 17:45"));
        assert_eq!(parse_time("-2d", r).unwrap(), t("2025-01-13 23:45"));
        for bad in ["", "yesterday", "-5y", "2025-13-01", "25:00", "-h"] {
            let e = parse_time(bad, r).unwrap_err();
            assert!(e.starts_with("goto:"), "{bad}: {e}");
        }
    }

    #[test]
    fn cadence_and_staleness_per_substation() {
        let t0 = t("2025-01-15 20:00");
        let mut h = BTreeMap::new();
        for (i, count) in [(0, 4u64), (1, 4), (2, 1)] {
            let mut r = crate::tui::testing::rollup("A", t0 + Duration::hours(i), 0, 0);
            r.count = count;
            h.insert(r.timestamp, r);
        }
        let fifteen = cadence(&h, Duration::minutes(60));
        assert_eq!(fifteen, Duration::minutes(15));
        assert_eq!(cadence(&BTreeMap::new(), Duration::minutes(60)), Duration::minutes(60));
        for r in h.values_mut() {
            r.count = 1;
        }
        assert_eq!(cadence(&h, Duration::minutes(15)), Duration::hours(1), "hourly substation");

        let last = t("2025-01-15 22:00");
        assert_eq!(data_age(last, &h, t("2025-01-15 22:20")), Some(Duration::minutes(20)));
        // Window ends before the newest reading: from the held hours (20:00-21:00 ended at 21:00).
        assert_eq!(data_age(last, &h, t("2025-01-15 21:40")), Some(Duration::minutes(0)), "21:00 hour covers it");
        assert_eq!(data_age(last, &h, t("2025-01-15 20:50")), Some(Duration::zero()));
        assert_eq!(data_age(last, &h, t("2025-01-15 19:00")), None);
        assert!(!is_stale(Some(Duration::minutes(29)), fifteen));
        assert!(is_stale(Some(Duration::minutes(31)), fifteen));
        assert!(!is_stale(Some(Duration::minutes(90)), Duration::hours(1)), "hourly: stale after 2 h");
        assert!(is_stale(None, fifteen));
    }
}
