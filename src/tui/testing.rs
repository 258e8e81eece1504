//! Test support: an in-memory store and log, a fixed clock, and deterministic sample
//! data. Public (but hidden) so integration tests and the render bench can use it.

use super::app::{App, AppConfig};
use super::msg::Msg;
use crate::backend::{Clock, GridStore, LogLevel, LogLine, LogSource};
use crate::model::{Alert, AlertRule, AlertStatus, ForecastPoint, HourlyRollup, SubstationState};
use async_trait::async_trait;
use chrono::{DateTime, Duration, TimeZone, Timelike, Utc};
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

/// The fixed "now" of every sample: 2025-06-01 12:00 UTC.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 6, 1, 12, 0, 0).unwrap()
}

pub const NAMES: [&str; 8] = [
    "Ashford North",
    "Bayview",
    "Cedar Ridge",
    "Delta Junction",
    "Eastport",
    "Fairmont",
    "Granite Falls",
    "Harbor Point",
];

pub fn name(i: usize) -> String {
    NAMES.get(i).map_or_else(|| format!("SUB-{i:03}"), |s| s.to_string())
}

/// A clock that only moves when told to.
pub struct FixedClock(pub Mutex<DateTime<Utc>>);

impl FixedClock {
    pub fn new(t: DateTime<Utc>) -> Self {
        Self(Mutex::new(t))
    }
    pub fn set(&self, t: DateTime<Utc>) {
        *self.0.lock().unwrap() = t;
    }
}

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}

/// A deterministic hourly rollup of substation `i`. `anomaly`: 0 none, 1 voltage sag,
/// 2 overload, 3 frequency excursion.
pub fn rollup(location: &str, ts: DateTime<Utc>, i: usize, anomaly: u8) -> HourlyRollup {
    let hod = f64::from(ts.hour());
    let k = i as f64;
    let day = (std::f64::consts::TAU * (hod - 9.0) / 24.0).sin();
    let load = 60.0 + 7.0 * (k % 5.0) + 25.0 * day;
    let solar = (12.0 * (std::f64::consts::PI * (hod - 6.0) / 12.0).sin()).max(0.0);
    let wind = 8.0 + 4.0 * ((hod + k) / 3.0).sin();
    let mut generation = load * 1.2;
    let mut voltage = 13.8 + 0.08 * ((hod + k) / 2.0).sin();
    let mut freq = 60.0 + 0.012 * ((hod * 1.3 + k) / 2.0).cos();
    let mut status = AlertStatus::Normal;
    let mut reasons = Vec::new();
    match anomaly {
        1 => {
            voltage = 13.38;
            status = AlertStatus::Critical;
            reasons.push("voltage 13.32 kV below 13.5 kV".to_string());
        }
        2 => {
            generation = load * 1.01;
            status = AlertStatus::Warning;
            reasons.push("load/generation 0.99 above 0.95".to_string());
        }
        3 => {
            freq = 60.04;
            status = AlertStatus::Critical;
            reasons.push("frequency deviation 0.071 Hz above 0.05 Hz".to_string());
        }
        _ => {}
    }
    let stability = 1.0 - ((voltage - 13.8).abs() / 13.8 + (freq - 60.0).abs() / 60.0) / 2.0;
    HourlyRollup {
        location: location.to_string(),
        timestamp: ts,
        count: 4,
        load_avg_mw: load,
        load_min_mw: load - 3.0,
        load_peak_mw: load + 4.0,
        generation_avg_mw: generation,
        solar_avg_mw: solar,
        wind_avg_mw: wind,
        renewable_penetration: ((solar + wind) / generation).min(1.0),
        voltage_avg_kv: voltage,
        voltage_min_kv: voltage - if anomaly == 1 { 0.06 } else { 0.03 },
        voltage_max_kv: voltage + 0.03,
        frequency_avg_hz: freq,
        frequency_min_hz: freq - 0.004,
        frequency_max_hz: freq + if anomaly == 3 { 0.031 } else { 0.004 },
        frequency_max_dev_hz: (freq - 60.0).abs() + 0.004,
        power_factor_avg: 0.95,
        power_factor_defaulted: 0,
        stability_score: stability,
        efficiency_score: 0.9,
        alert_status: status,
        alert_reasons: reasons,
    }
}

/// Which anomaly the sample gives substation `i` in the hour `hours_ago` before now.
fn anomaly_of(i: usize, hours_ago: i64) -> u8 {
    match i {
        2 if hours_ago < 3 => 1,
        5 if hours_ago < 2 => 2,
        4 if (5..8).contains(&hours_ago) => 3,
        _ => 0,
    }
}

/// Newest reading of substation `i`: a few minutes before `now`; substation 6 went quiet 2 h ago.
pub fn last_reading(i: usize, now: DateTime<Utc>) -> DateTime<Utc> {
    if i == 6 {
        now - Duration::hours(2) - Duration::minutes(15)
    } else {
        now - Duration::minutes(5 + (i as i64 % 3) * 5)
    }
}

pub fn history(i: usize, now: DateTime<Utc>, hours: i64) -> Vec<HourlyRollup> {
    let last = last_reading(i, now);
    let newest_hour = last.with_minute(0).unwrap().with_second(0).unwrap();
    (0..hours).rev().map(|h| rollup(&name(i), newest_hour - Duration::hours(h), i, anomaly_of(i, h))).collect()
}

pub fn state(i: usize, now: DateTime<Utc>) -> SubstationState {
    let last = last_reading(i, now);
    let newest_hour = last.with_minute(0).unwrap().with_second(0).unwrap();
    SubstationState {
        location: name(i),
        last_reading: last,
        latest: rollup(&name(i), newest_hour, i, anomaly_of(i, 0)),
        updated_at: last + Duration::seconds(3),
        source_key: format!("raw/2025/06/01/{}.csv", name(i).to_lowercase().replace(' ', "-")),
    }
}

pub fn forecast(i: usize, now: DateTime<Utc>) -> Vec<ForecastPoint> {
    let start = now.with_minute(0).unwrap().with_second(0).unwrap() + Duration::hours(1);
    (0..24)
        .map(|h| {
            let ts = start + Duration::hours(h);
            ForecastPoint { location: name(i), timestamp: ts, load_mw: rollup(&name(i), ts, i, 0).load_avg_mw * 1.02 }
        })
        .collect()
}

/// The sample alarms: an active critical sag (Cedar Ridge), a cleared frequency excursion
/// (Eastport) and an active overload warning (Fairmont).
pub fn alerts(now: DateTime<Utc>) -> Vec<Alert> {
    let mk =
        |i: usize, rule: AlertRule, status: AlertStatus, started: DateTime<Utc>, ended: DateTime<Utc>, worst, threshold| Alert {
            location: name(i),
            rule,
            priority: if status == AlertStatus::Critical { crate::model::Priority::High } else { crate::model::Priority::Low },
            started_at: started,
            activated_at: started,
            ended_at: ended,
            active: ended >= last_reading(i, now),
            chattering: false,
            shelved_until: None,
            worst_value: worst,
            threshold,
            samples: ((ended - started).num_minutes() / 15 + 1) as u64,
            message: format!("{} {rule} worst {worst}", name(i)),
        };
    vec![
        mk(
            2,
            AlertRule::Undervoltage,
            AlertStatus::Critical,
            now - Duration::hours(3),
            last_reading(2, now),
            13.32,
            13.5,
        ),
        mk(
            4,
            AlertRule::FrequencyDeviation,
            AlertStatus::Critical,
            now - Duration::hours(8),
            now - Duration::hours(5),
            0.071,
            0.05,
        ),
        mk(5, AlertRule::Overload, AlertStatus::Warning, now - Duration::hours(2), last_reading(5, now), 0.99, 0.95),
    ]
}

pub fn log_lines(now: DateTime<Utc>) -> Vec<LogLine> {
    (0..30)
        .map(|k| LogLine {
            timestamp: now - Duration::minutes(30 - k),
            level: match k % 10 {
                3 => LogLevel::Warn,
                7 => LogLevel::Error,
                _ => LogLevel::Info,
            },
            message: format!("analysed raw/2025/06/01/{}.csv: 4 rows, 0 rejected", name(k as usize % 8).to_lowercase()),
        })
        .collect()
}

/// The sample's stored operator state: Fairmont's overload acknowledged by "ana" at `now`.
pub fn operator_states(now: DateTime<Utc>) -> Vec<crate::store::operator::OperatorState> {
    let overload = &alerts(now)[2];
    vec![crate::store::operator::OperatorState {
        location: overload.location.clone(),
        rule: Some(AlertRule::Overload),
        acked_through: Some(overload.started_at),
        by: "ana".into(),
        at: Some(now - Duration::minutes(30)),
        ..Default::default()
    }]
}

/// An app with `n` substations, 24 h of history each, forecast, alarms and log lines.
pub fn sample_app(cfg: AppConfig, n: usize) -> App {
    let now = t0();
    let mut app = App::new(cfg, now);
    app.update(Msg::Resize(80, 24));
    app.update(Msg::Substations((0..n).map(|i| state(i, now)).collect()));
    for i in 0..n {
        app.update(Msg::Rollups { location: name(i), rollups: history(i, now, 24) });
    }
    app.update(Msg::Forecast { location: name(0), points: forecast(0, now) });
    app.update(Msg::Alerts(
        alerts(now).into_iter().filter(|a| NAMES[..n.min(8)].contains(&a.location.as_str())).collect(),
    ));
    app.update(Msg::Logs(log_lines(now)));
    // The overload warning was acknowledged earlier (a stored operator state).
    app.update(Msg::OperatorStates(operator_states(now)));
    app.dirty = false;
    app
}

/// What the fake store holds, and every call made to it.
#[derive(Debug, Default)]
pub struct FakeData {
    pub substations: Vec<SubstationState>,
    pub rollups: BTreeMap<String, Vec<HourlyRollup>>,
    pub forecasts: BTreeMap<String, Vec<ForecastPoint>>,
    pub alerts: Vec<Alert>,
    pub operator: Vec<crate::store::operator::OperatorState>,
    /// When set, every call fails with this message.
    pub fail: Option<String>,
    pub reprocess_result: Option<Result<String, String>>,
    /// "substations", "rollups LOC FROM TO", "forecast LOC", "alerts SINCE", "reprocess LOC".
    pub calls: Vec<String>,
}

#[derive(Debug, Default, Clone)]
pub struct FakeStore {
    pub data: Arc<Mutex<FakeData>>,
}

impl FakeStore {
    /// A store holding the sample substations with `hours` of history.
    pub fn sample(n: usize, now: DateTime<Utc>, hours: i64) -> Self {
        let store = FakeStore::default();
        {
            let mut d = store.data.lock().unwrap();
            d.substations = (0..n).map(|i| state(i, now)).collect();
            for i in 0..n {
                d.rollups.insert(name(i), history(i, now, hours));
                d.forecasts.insert(name(i), forecast(i, now));
            }
            d.alerts = alerts(now);
            d.operator = operator_states(now);
        }
        store
    }

    pub fn calls(&self) -> Vec<String> {
        std::mem::take(&mut self.data.lock().unwrap().calls)
    }

    fn call(&self, c: String) -> crate::store::StoreResult<std::sync::MutexGuard<'_, FakeData>> {
        let mut d = self.data.lock().unwrap();
        d.calls.push(c);
        match &d.fail {
            Some(e) => Err(crate::store::StoreError::other(e.clone())),
            None => Ok(d),
        }
    }
}

fn ts(t: DateTime<Utc>) -> String {
    t.format("%m-%dT%H:%M").to_string()
}

#[async_trait]
impl GridStore for FakeStore {
    async fn substations(&self) -> crate::store::StoreResult<Vec<SubstationState>> {
        Ok(self.call("substations".into())?.substations.clone())
    }
    async fn rollups(
        &self,
        location: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> crate::store::StoreResult<Vec<HourlyRollup>> {
        let d = self.call(format!("rollups {location} {} {}", ts(from), ts(to)))?;
        Ok(d.rollups
            .get(location)
            .map(|rs| rs.iter().filter(|r| r.timestamp >= from && r.timestamp < to).cloned().collect())
            .unwrap_or_default())
    }
    async fn forecast(&self, location: &str) -> crate::store::StoreResult<Vec<ForecastPoint>> {
        Ok(self.call(format!("forecast {location}"))?.forecasts.get(location).cloned().unwrap_or_default())
    }
    async fn alerts(&self, since: DateTime<Utc>) -> crate::store::StoreResult<Vec<Alert>> {
        let d = self.call(format!("alerts {}", ts(since)))?;
        let mut v: Vec<Alert> = d.alerts.iter().filter(|a| a.ended_at >= since).cloned().collect();
        v.sort_by_key(|a| std::cmp::Reverse(a.started_at));
        Ok(v)
    }
    async fn reprocess(&self, location: &str) -> crate::store::StoreResult<String> {
        let d = self.call(format!("reprocess {location}"))?;
        d.reprocess_result
            .clone()
            .unwrap_or_else(|| Ok(format!("{location}: 4 rows, 0 rejected")))
            .map_err(crate::store::StoreError::other)
    }
    async fn operator_states(&self) -> crate::store::StoreResult<Vec<crate::store::operator::OperatorState>> {
        Ok(self.call("operator".into())?.operator.clone())
    }
    async fn operator_action(
        &self,
        action: &crate::store::operator::OperatorAction,
    ) -> crate::store::StoreResult<crate::store::operator::OperatorState> {
        let mut d = self.call(format!("action {}", action.location))?;
        let key = (action.location.clone(), action.rule);
        let old = d.operator.iter().position(|s| (s.location.clone(), s.rule) == key);
        let state = old.map(|i| d.operator.remove(i)).unwrap_or_default().apply(action);
        d.operator.push(state.clone());
        Ok(state)
    }
    fn describe(&self) -> String {
        "fake: in memory".into()
    }
}

/// A log that hands out whatever was pushed into it.
#[derive(Debug, Default, Clone)]
pub struct FakeLog {
    pub pending: Arc<Mutex<VecDeque<LogLine>>>,
    pub fail: Arc<Mutex<Option<String>>>,
}

impl FakeLog {
    pub fn push(&self, level: LogLevel, message: &str) {
        self.pending.lock().unwrap().push_back(LogLine { timestamp: t0(), level, message: message.into() });
    }
}

#[async_trait]
impl LogSource for FakeLog {
    async fn poll(&mut self) -> crate::store::StoreResult<Vec<LogLine>> {
        if let Some(e) = self.fail.lock().unwrap().clone() {
            return Err(crate::store::StoreError::other(e));
        }
        Ok(self.pending.lock().unwrap().drain(..).collect())
    }
}

/// Renders `app` on a `TestBackend` of `w` x `h` and returns the terminal.
pub fn render_to_test_backend(app: &App, w: u16, h: u16) -> ratatui::Terminal<ratatui::backend::TestBackend> {
    let mut term = ratatui::Terminal::new(ratatui::backend::TestBackend::new(w, h)).expect("test backend");
    term.draw(|f| super::view::render(app, f)).expect("draw");
    term
}

/// The screen as plain lines (trailing blanks trimmed), for assertions.
pub fn screen_text(term: &ratatui::Terminal<ratatui::backend::TestBackend>) -> String {
    let buf = term.backend().buffer();
    let mut out = String::new();
    for y in 0..buf.area.height {
        let mut line = String::new();
        for x in 0..buf.area.width {
            line.push_str(buf[(x, y)].symbol());
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}
