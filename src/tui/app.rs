//! Dashboard state and the update function. Everything here is synchronous and
//! deterministic: key events and data arrive as [`Msg`]s, side effects leave as
//! [`Command`]s, so tests drive the whole UI without a terminal or a runtime.

use super::keys::{Action, KeyMap};
use super::msg::{Command, Msg};
use super::theme::Theme;
use crate::backend::LogLine;
use crate::config::AnalysisConfig;
use crate::model::{Alert, AlertStatus, ForecastPoint, HourlyRollup, SubstationState};
use crate::sanitize::sanitize_for_terminal;
use chrono::{DateTime, Duration, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// Log lines kept in memory; older ones scroll out.
pub const LOG_CAPACITY: usize = 5_000;
/// Alarms held at most; beyond this the oldest cleared ones are dropped (and counted).
pub const MAX_ALARMS: usize = 2_000;
/// Rollup history kept per substation (the longest time range plus a margin).
const HISTORY_KEEP: Duration = Duration::hours(7 * 24 + 2);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum View {
    Overview,
    Detail,
    Alarms,
    Logs,
}

impl View {
    pub const ALL: [View; 4] = [View::Overview, View::Detail, View::Alarms, View::Logs];
    pub fn name(self) -> &'static str {
        match self {
            View::Overview => "Overview",
            View::Detail => "Detail",
            View::Alarms => "Alarms",
            View::Logs => "Logs",
        }
    }
    fn index(self) -> usize {
        View::ALL.iter().position(|v| *v == self).unwrap_or(0)
    }
    pub fn next(self) -> View {
        View::ALL[(self.index() + 1) % View::ALL.len()]
    }
    pub fn prev(self) -> View {
        View::ALL[(self.index() + View::ALL.len() - 1) % View::ALL.len()]
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimeRange {
    Day,
    Week,
}

impl TimeRange {
    pub fn duration(self) -> Duration {
        match self {
            TimeRange::Day => Duration::hours(24),
            TimeRange::Week => Duration::days(7),
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            TimeRange::Day => "24h",
            TimeRange::Week => "7d",
        }
    }
    pub fn toggle(self) -> Self {
        match self {
            TimeRange::Day => TimeRange::Week,
            TimeRange::Week => TimeRange::Day,
        }
    }
}

/// Settings that do not change while the dashboard runs.
#[derive(Debug, Clone)]
pub struct AppConfig {
    pub theme: Theme,
    pub data_interval_minutes: u32,
    pub read_only: bool,
    pub keys: KeyMap,
    pub analysis: AnalysisConfig,
    pub title: String,
    /// The store's `describe()`, shown in the help overlay.
    pub store_name: String,
}

impl Default for AppConfig {
    fn default() -> Self {
        Self {
            theme: Theme::new(true, false),
            data_interval_minutes: 15,
            read_only: false,
            keys: KeyMap::default(),
            analysis: AnalysisConfig::default(),
            title: String::new(),
            store_name: String::new(),
        }
    }
}

/// One substation as the dashboard holds it.
#[derive(Debug, Clone)]
pub struct Substation {
    /// The store's key (used for queries, never drawn).
    pub location: String,
    /// Sanitized for drawing.
    pub name: String,
    pub state: SubstationState,
    /// Hourly rollups by hour start.
    pub history: BTreeMap<DateTime<Utc>, HourlyRollup>,
    pub forecast: Vec<ForecastPoint>,
}

/// ISA-18.2 alarm states shown in the list. Cleared + acknowledged leaves the list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum AlarmState {
    ActiveUnack,
    ClearedUnack,
    ActiveAck,
}

impl AlarmState {
    pub fn label(self) -> &'static str {
        match self {
            AlarmState::ActiveUnack => "ACTIVE-UNACK",
            AlarmState::ActiveAck => "ACTIVE-ACK",
            AlarmState::ClearedUnack => "CLEARED-UNACK",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Alarm {
    pub id: String,
    /// Message and location sanitized.
    pub alert: Alert,
    pub name: String,
    pub acked: bool,
    pub active: bool,
}

impl Alarm {
    pub fn state(&self) -> AlarmState {
        match (self.active, self.acked) {
            (true, false) => AlarmState::ActiveUnack,
            (true, true) => AlarmState::ActiveAck,
            // (false, true) is removed from the list; report it as cleared for completeness.
            (false, _) => AlarmState::ClearedUnack,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Confirm {
    Reprocess { location: String, name: String, source: String },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Banner {
    pub error: String,
    pub retry_in: std::time::Duration,
    pub attempt: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusLevel {
    Info,
    Error,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Status {
    pub text: String,
    pub level: StatusLevel,
}

/// What the store poller should fetch, derived from what is on screen.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Interest {
    /// Substations whose rollups are drawn (visible rows and the selected one).
    pub locations: Vec<String>,
    /// The substation whose forecast is drawn.
    pub forecast_for: Option<String>,
    pub range_hours: i64,
}

#[derive(Debug)]
pub struct App {
    pub cfg: AppConfig,
    pub now: DateTime<Utc>,
    /// Terminal size (columns, rows).
    pub size: (u16, u16),
    pub view: View,
    pub range: TimeRange,
    pub subs: BTreeMap<String, Substation>,
    /// Newest reading per substation, kept current even while paused (alarm clearing).
    pub last_seen: BTreeMap<String, DateTime<Utc>>,
    pub selected: Option<String>,
    /// First overview row drawn; kept so the selection stays visible.
    pub overview_offset: usize,
    pub overview_filter: String,
    pub alarm_filter: String,
    pub log_filter: String,
    pub editing_filter: bool,
    /// Sorted: unacknowledged first, then by severity and time.
    pub alarms: Vec<Alarm>,
    pub alarm_selected: Option<String>,
    pub alarm_offset: usize,
    /// Alarms that were acknowledged and cleared (left the list), by id -> ended_at, so a
    /// re-fetch of older alerts (after a reprocess, or a wider range) does not bring them back.
    pub closed_alarms: BTreeMap<String, DateTime<Utc>>,
    /// Cleared alarms dropped because the list hit [`MAX_ALARMS`].
    pub alarms_dropped: u64,
    pub logs: VecDeque<LogLine>,
    /// Lines scrolled back from the newest (0 = at the bottom).
    pub log_scroll: usize,
    /// Lines that arrived while not following.
    pub log_unseen: usize,
    pub paused: bool,
    /// Data messages held while paused, applied on resume.
    pub held: Vec<Msg>,
    pub banner: Option<Banner>,
    pub log_error: Option<String>,
    pub confirm: Option<Confirm>,
    pub help: bool,
    pub status: Option<Status>,
    /// Substations with a reprocess job running.
    pub jobs: BTreeSet<String>,
    /// Something changed since the last draw.
    pub dirty: bool,
}

impl App {
    pub fn new(cfg: AppConfig, now: DateTime<Utc>) -> Self {
        Self {
            cfg,
            now,
            size: (80, 24),
            view: View::Overview,
            range: TimeRange::Day,
            subs: BTreeMap::new(),
            last_seen: BTreeMap::new(),
            selected: None,
            overview_offset: 0,
            overview_filter: String::new(),
            alarm_filter: String::new(),
            log_filter: String::new(),
            editing_filter: false,
            alarms: Vec::new(),
            alarm_selected: None,
            alarm_offset: 0,
            closed_alarms: BTreeMap::new(),
            alarms_dropped: 0,
            logs: VecDeque::new(),
            log_scroll: 0,
            log_unseen: 0,
            paused: false,
            held: Vec::new(),
            banner: None,
            log_error: None,
            confirm: None,
            help: false,
            status: None,
            jobs: BTreeSet::new(),
            dirty: true,
        }
    }

    pub fn theme(&self) -> Theme {
        self.cfg.theme
    }

    pub fn interval(&self) -> Duration {
        Duration::minutes(i64::from(self.cfg.data_interval_minutes.max(1)))
    }

    /// Older than two data intervals: the substation stopped reporting (or the pipeline did).
    pub fn is_stale(&self, sub: &Substation) -> bool {
        self.now - sub.state.last_reading > self.interval() * 2
    }

    /// The worse of the newest hour's status and the substation's active alarms.
    pub fn sub_status(&self, sub: &Substation) -> AlertStatus {
        let alarms = self
            .alarms
            .iter()
            .filter(|a| a.active && a.alert.location == sub.location)
            .map(|a| a.alert.status())
            .max()
            .unwrap_or_default();
        sub.state.latest.alert_status.max(alarms)
    }

    /// Substations matching the overview filter (name or status word), in name order.
    pub fn visible_subs(&self) -> Vec<&Substation> {
        let f = self.overview_filter.to_lowercase();
        self.subs
            .values()
            .filter(|s| f.is_empty() || s.name.to_lowercase().contains(&f) || self.sub_status(s).as_str().contains(&f))
            .collect()
    }

    pub fn selected_sub(&self) -> Option<&Substation> {
        self.selected.as_ref().and_then(|l| self.subs.get(l))
    }

    /// Index of the selection in [`App::visible_subs`].
    pub fn selected_index(&self, list: &[&Substation]) -> Option<usize> {
        let sel = self.selected.as_ref()?;
        list.iter().position(|s| &s.location == sel)
    }

    pub fn visible_alarms(&self) -> Vec<&Alarm> {
        let f = self.alarm_filter.to_lowercase();
        self.alarms
            .iter()
            .filter(|a| {
                f.is_empty()
                    || a.name.to_lowercase().contains(&f)
                    || a.alert.rule.as_str().contains(&f)
                    || a.alert.status().as_str().contains(&f)
                    || a.state().label().to_lowercase().contains(&f)
            })
            .collect()
    }

    pub fn visible_logs(&self) -> Vec<&LogLine> {
        let f = self.log_filter.to_lowercase();
        self.logs.iter().filter(|l| f.is_empty() || l.message.to_lowercase().contains(&f)).collect()
    }

    pub fn unacked_alarms(&self) -> usize {
        self.alarms.iter().filter(|a| !a.acked).count()
    }

    /// The filter of the current view (Detail shares the overview's).
    pub fn filter(&self) -> &str {
        match self.view {
            View::Overview | View::Detail => &self.overview_filter,
            View::Alarms => &self.alarm_filter,
            View::Logs => &self.log_filter,
        }
    }

    fn filter_mut(&mut self) -> &mut String {
        match self.view {
            View::Overview | View::Detail => &mut self.overview_filter,
            View::Alarms => &mut self.alarm_filter,
            View::Logs => &mut self.log_filter,
        }
    }

    /// Rows of the overview table / alarm list that fit on screen (mirrors the layout in `view`).
    pub fn list_rows(&self) -> usize {
        super::view::list_rows(self)
    }

    /// What the poller should fetch now: rollups of what the current view draws (the
    /// overview's visible rows, the detail's substation), the forecast only for the detail.
    pub fn interest(&self) -> Interest {
        let mut locations: Vec<String> = Vec::new();
        if self.view == View::Overview {
            let list = self.visible_subs();
            let start = self.overview_offset.min(list.len());
            let end = (start + self.list_rows().max(1)).min(list.len());
            locations = list[start..end].iter().map(|s| s.location.clone()).collect();
        }
        let selected = self.selected.clone().filter(|s| self.subs.contains_key(s));
        if matches!(self.view, View::Overview | View::Detail)
            && let Some(sel) = &selected
            && !locations.contains(sel)
        {
            locations.push(sel.clone());
        }
        Interest {
            locations,
            forecast_for: selected.filter(|_| self.view == View::Detail),
            range_hours: self.range.duration().num_hours(),
        }
    }

    fn set_status(&mut self, level: StatusLevel, text: impl Into<String>) {
        self.status = Some(Status { text: text.into(), level });
    }

    /// Apply one message. Returns what the caller must do; sets `dirty` when the screen changed.
    pub fn update(&mut self, msg: Msg) -> Vec<Command> {
        let mut cmds = Vec::new();
        match msg {
            Msg::Key(ev) => self.on_key(ev, &mut cmds),
            Msg::Resize(w, h) => {
                self.size = (w, h);
                self.keep_selection_visible();
                self.dirty = true;
            }
            Msg::Tick(now) => {
                self.now = now;
                self.dirty = true;
            }
            Msg::Substations(list) => {
                for s in &list {
                    let e = self.last_seen.entry(s.location.clone()).or_insert(s.last_reading);
                    *e = (*e).max(s.last_reading);
                }
                self.refresh_alarm_activity();
                if self.paused {
                    self.held.retain(|m| !matches!(m, Msg::Substations(_)));
                    self.held.push(Msg::Substations(list));
                } else {
                    self.apply_substations(list);
                }
            }
            m @ (Msg::Rollups { .. } | Msg::Forecast { .. }) if self.paused => self.held.push(m),
            Msg::Rollups { location, rollups } => self.apply_rollups(&location, rollups),
            Msg::Forecast { location, points } => {
                if let Some(sub) = self.subs.get_mut(&location)
                    && sub.forecast != points
                {
                    sub.forecast = points;
                    self.dirty = true;
                }
            }
            Msg::Alerts(alerts) => self.apply_alerts(alerts),
            Msg::Logs(lines) => self.apply_logs(lines),
            Msg::StoreError { error, retry_in, attempt } => {
                self.banner = Some(Banner { error: sanitize_for_terminal(&error), retry_in, attempt });
                self.dirty = true;
            }
            Msg::StoreOk => {
                if self.banner.take().is_some() {
                    self.dirty = true;
                }
            }
            Msg::LogError(e) => {
                self.log_error = Some(sanitize_for_terminal(&e));
                self.dirty = true;
            }
            Msg::LogOk => {
                if self.log_error.take().is_some() {
                    self.dirty = true;
                }
            }
            Msg::ReprocessDone { location, result } => {
                self.jobs.remove(&location);
                let name = sanitize_for_terminal(&location);
                match result {
                    Ok(desc) => {
                        self.set_status(
                            StatusLevel::Info,
                            format!("reprocessed {name}: {}", sanitize_for_terminal(&desc)),
                        );
                        cmds.push(Command::Refresh);
                    }
                    Err(e) => self.set_status(
                        StatusLevel::Error,
                        format!("reprocess {name} failed: {}", sanitize_for_terminal(&e)),
                    ),
                }
                self.dirty = true;
            }
            Msg::Shutdown => cmds.push(Command::Quit),
        }
        cmds
    }

    fn apply_substations(&mut self, list: Vec<SubstationState>) {
        let mut seen = BTreeSet::new();
        for state in list {
            seen.insert(state.location.clone());
            match self.subs.get_mut(&state.location) {
                Some(sub) => {
                    if sub.state != state {
                        // The newest hour is also a rollup: keep history current without a query.
                        sub.history.insert(state.latest.timestamp, state.latest.clone());
                        sub.state = state;
                        self.dirty = true;
                    }
                }
                None => {
                    let mut history = BTreeMap::new();
                    history.insert(state.latest.timestamp, state.latest.clone());
                    let sub = Substation {
                        location: state.location.clone(),
                        name: sanitize_for_terminal(&state.location),
                        state,
                        history,
                        forecast: Vec::new(),
                    };
                    self.subs.insert(sub.location.clone(), sub);
                    self.dirty = true;
                }
            }
        }
        // A substation the store no longer lists is gone (e.g. data folder reset).
        let before = self.subs.len();
        self.subs.retain(|k, _| seen.contains(k));
        if self.subs.len() != before {
            self.dirty = true;
        }
        if self.selected.as_ref().is_none_or(|s| !self.subs.contains_key(s)) {
            self.selected = self.visible_subs().first().map(|s| s.location.clone());
        }
        self.keep_selection_visible();
    }

    fn apply_rollups(&mut self, location: &str, rollups: Vec<HourlyRollup>) {
        let cutoff = self.now - HISTORY_KEEP;
        let Some(sub) = self.subs.get_mut(location) else { return };
        for r in rollups {
            if r.timestamp >= cutoff && sub.history.get(&r.timestamp) != Some(&r) {
                sub.history.insert(r.timestamp, r);
                self.dirty = true;
            }
        }
        while sub.history.first_key_value().is_some_and(|(t, _)| *t < cutoff) {
            sub.history.pop_first();
        }
    }

    fn alert_active(&self, a: &Alert) -> bool {
        // Episodes are per reading: ended_at is the last reading that broke the rule.
        // A newer reading of the same substation means it no longer does.
        match self.last_seen.get(&a.location) {
            Some(last) => a.ended_at >= *last,
            None => true,
        }
    }

    fn apply_alerts(&mut self, alerts: Vec<Alert>) {
        for mut alert in alerts {
            alert.message = sanitize_for_terminal(&alert.message);
            let id = alert.id();
            match self.alarms.iter_mut().find(|a| a.id == id) {
                Some(existing) => {
                    if existing.alert != alert {
                        existing.alert = alert;
                        self.dirty = true;
                    }
                }
                None => {
                    // Already acknowledged and cleared: it only comes back if it is active again.
                    let acked = self.closed_alarms.contains_key(&id);
                    if acked && !self.alert_active(&alert) {
                        continue;
                    }
                    let name = sanitize_for_terminal(&alert.location);
                    self.alarms.push(Alarm { id, alert, name, acked, active: true });
                    self.dirty = true;
                }
            }
        }
        self.refresh_alarm_activity();
    }

    /// Recompute active flags, drop cleared+acknowledged alarms, keep the list sorted.
    fn refresh_alarm_activity(&mut self) {
        let active: Vec<bool> = self.alarms.iter().map(|a| self.alert_active(&a.alert)).collect();
        for (a, act) in self.alarms.iter_mut().zip(active) {
            if a.active != act {
                a.active = act;
                self.dirty = true;
            }
        }
        let before = self.alarms.len();
        let mut closed = Vec::new();
        self.alarms.retain(|a| {
            let keep = a.active || !a.acked;
            if !keep {
                closed.push((a.id.clone(), a.alert.ended_at));
            }
            keep
        });
        self.closed_alarms.extend(closed);
        if self.closed_alarms.len() > MAX_ALARMS * 4 {
            // Forget the oldest: alerts that old are outside any range the poller asks for.
            let cutoff = self.now - Duration::days(8);
            self.closed_alarms.retain(|_, ended| *ended >= cutoff);
        }
        while self.alarms.len() > MAX_ALARMS {
            let oldest =
                self.alarms.iter().enumerate().filter(|(_, a)| !a.active).min_by_key(|(_, a)| a.alert.ended_at);
            let Some((i, _)) = oldest else { break };
            self.alarms.remove(i);
            self.alarms_dropped += 1;
        }
        if before != self.alarms.len() {
            self.dirty = true;
        }
        self.alarms.sort_by(|a, b| {
            (a.state(), std::cmp::Reverse(a.alert.status()), std::cmp::Reverse(a.alert.started_at), &a.id).cmp(&(
                b.state(),
                std::cmp::Reverse(b.alert.status()),
                std::cmp::Reverse(b.alert.started_at),
                &b.id,
            ))
        });
        if self.alarm_selected.as_ref().is_none_or(|id| !self.alarms.iter().any(|a| &a.id == id)) {
            self.alarm_selected = self.visible_alarms().first().map(|a| a.id.clone());
        }
    }

    fn apply_logs(&mut self, lines: Vec<LogLine>) {
        if lines.is_empty() {
            return;
        }
        let f = self.log_filter.to_lowercase();
        let mut matching = 0;
        for mut l in lines {
            l.message = sanitize_for_terminal(&l.message);
            if f.is_empty() || l.message.to_lowercase().contains(&f) {
                matching += 1;
            }
            self.logs.push_back(l);
        }
        while self.logs.len() > LOG_CAPACITY {
            self.logs.pop_front();
        }
        // Not following: keep the same lines on screen and count what is new below.
        if self.paused || self.log_scroll > 0 {
            self.log_scroll += matching;
            self.log_unseen += matching;
        }
        self.dirty = true;
    }

    fn on_key(&mut self, ev: KeyEvent, cmds: &mut Vec<Command>) {
        if ev.kind == KeyEventKind::Release {
            return;
        }
        self.dirty = true;
        let ctrl = ev.modifiers.contains(KeyModifiers::CONTROL);
        if ctrl && ev.code == KeyCode::Char('c') {
            cmds.push(Command::Quit);
            return;
        }
        if let Some(confirm) = self.confirm.clone() {
            match ev.code {
                KeyCode::Char('y') | KeyCode::Char('Y') | KeyCode::Enter => {
                    self.confirm = None;
                    let Confirm::Reprocess { location, name, .. } = confirm;
                    self.jobs.insert(location.clone());
                    self.set_status(StatusLevel::Info, format!("reprocessing {name}..."));
                    cmds.push(Command::Reprocess(location));
                }
                KeyCode::Char('n') | KeyCode::Char('N') | KeyCode::Esc => {
                    self.confirm = None;
                    self.set_status(StatusLevel::Info, "reprocess cancelled");
                }
                _ => {}
            }
            return;
        }
        if self.editing_filter {
            match ev.code {
                KeyCode::Esc => {
                    self.filter_mut().clear();
                    self.editing_filter = false;
                }
                KeyCode::Enter => self.editing_filter = false,
                KeyCode::Backspace => {
                    self.filter_mut().pop();
                }
                KeyCode::Char('u') if ctrl => self.filter_mut().clear(),
                KeyCode::Char(c) if !ctrl && !c.is_control() => self.filter_mut().push(c),
                _ => {}
            }
            self.after_filter_change();
            return;
        }
        let action = self.cfg.keys.action_for(&ev);
        if self.help {
            // Any key closes help; help/back only close it, others also act.
            self.help = false;
            if matches!(action, Some(Action::Help) | Some(Action::Back) | None) {
                return;
            }
        }
        let Some(action) = action else { return };
        self.on_action(action, cmds);
    }

    fn on_action(&mut self, action: Action, cmds: &mut Vec<Command>) {
        let page = self.list_rows().max(1) as isize;
        match action {
            Action::Up => self.move_by(-1),
            Action::Down => self.move_by(1),
            Action::PageUp => self.move_by(-page),
            Action::PageDown => self.move_by(page),
            Action::Top => self.move_by(isize::MIN / 2),
            Action::Bottom => self.move_by(isize::MAX / 2),
            Action::Open => match self.view {
                View::Overview if self.selected.is_some() => self.view = View::Detail,
                View::Alarms => {
                    let loc = self
                        .alarm_selected
                        .as_ref()
                        .and_then(|id| self.alarms.iter().find(|a| &a.id == id))
                        .map(|a| a.alert.location.clone());
                    if let Some(loc) = loc.filter(|l| self.subs.contains_key(l)) {
                        self.selected = Some(loc);
                        self.view = View::Detail;
                        self.keep_selection_visible();
                    }
                }
                _ => {}
            },
            Action::Back => {
                self.status = None;
                // Esc first clears the view's filter, then goes back to the overview.
                if self.view != View::Detail && !self.filter().is_empty() {
                    self.filter_mut().clear();
                    self.after_filter_change();
                } else {
                    self.view = View::Overview;
                }
            }
            Action::NextView => self.view = self.view.next(),
            Action::PrevView => self.view = self.view.prev(),
            Action::Filter => {
                if self.view == View::Detail {
                    self.view = View::Overview;
                }
                self.editing_filter = true;
            }
            Action::Reprocess => self.ask_reprocess(),
            Action::Ack => self.ack(),
            Action::AckAll => self.ack_all_listed(),
            Action::Pause => {
                self.paused = !self.paused;
                if self.paused {
                    self.set_status(StatusLevel::Info, "paused: updates held, log not following");
                } else {
                    self.status = None;
                    self.log_scroll = 0;
                    self.log_unseen = 0;
                    for m in std::mem::take(&mut self.held) {
                        self.update(m);
                    }
                }
            }
            Action::TimeRange => self.range = self.range.toggle(),
            Action::Help => self.help = !self.help,
            Action::Quit => cmds.push(Command::Quit),
        }
    }

    fn ask_reprocess(&mut self) {
        if self.cfg.read_only {
            self.set_status(StatusLevel::Error, "read-only: reprocess is disabled");
            return;
        }
        let target = match self.view {
            View::Alarms => self
                .alarm_selected
                .as_ref()
                .and_then(|id| self.alarms.iter().find(|a| &a.id == id))
                .and_then(|a| self.subs.get(&a.alert.location)),
            _ => self.selected_sub(),
        };
        let Some(sub) = target else {
            self.set_status(StatusLevel::Error, "no substation selected");
            return;
        };
        if self.jobs.contains(&sub.location) {
            self.set_status(StatusLevel::Info, format!("{} is already being reprocessed", sub.name));
            return;
        }
        self.confirm = Some(Confirm::Reprocess {
            location: sub.location.clone(),
            name: sub.name.clone(),
            source: sanitize_for_terminal(&sub.state.source_key),
        });
    }

    fn ack(&mut self) {
        let before = self.unacked_alarms();
        match self.view {
            View::Alarms => {
                if let Some(id) = self.alarm_selected.clone()
                    && let Some(a) = self.alarms.iter_mut().find(|a| a.id == id)
                {
                    a.acked = true;
                }
            }
            View::Overview | View::Detail => {
                if let Some(loc) = self.selected.clone() {
                    for a in self.alarms.iter_mut().filter(|a| a.alert.location == loc) {
                        a.acked = true;
                    }
                }
            }
            View::Logs => return,
        }
        let n = before - self.unacked_alarms();
        if n == 0 {
            self.set_status(StatusLevel::Info, "nothing to acknowledge");
        } else {
            self.set_status(StatusLevel::Info, format!("acknowledged {n} alarm{}", if n == 1 { "" } else { "s" }));
        }
        self.refresh_alarm_activity();
    }

    /// Only in the alarm view, where the operator sees what is being acknowledged.
    fn ack_all_listed(&mut self) {
        if self.view != View::Alarms {
            self.set_status(StatusLevel::Info, "acknowledge all: open the alarm view first");
            return;
        }
        let ids: BTreeSet<String> = self.visible_alarms().iter().filter(|a| !a.acked).map(|a| a.id.clone()).collect();
        for a in self.alarms.iter_mut().filter(|a| ids.contains(&a.id)) {
            a.acked = true;
        }
        let n = ids.len();
        self.set_status(StatusLevel::Info, format!("acknowledged {n} alarm{}", if n == 1 { "" } else { "s" }));
        self.refresh_alarm_activity();
    }

    fn move_by(&mut self, delta: isize) {
        match self.view {
            View::Overview | View::Detail => {
                let list = self.visible_subs();
                if list.is_empty() {
                    return;
                }
                let cur = self.selected_index(&list).unwrap_or(0) as isize;
                let next = (cur.saturating_add(delta)).clamp(0, list.len() as isize - 1) as usize;
                self.selected = Some(list[next].location.clone());
            }
            View::Alarms => {
                let list = self.visible_alarms();
                if list.is_empty() {
                    return;
                }
                let cur = self.alarm_selected.as_ref().and_then(|id| list.iter().position(|a| &a.id == id)).unwrap_or(0)
                    as isize;
                let next = (cur.saturating_add(delta)).clamp(0, list.len() as isize - 1) as usize;
                self.alarm_selected = Some(list[next].id.clone());
            }
            View::Logs => {
                // Up scrolls back in time.
                let max = self.visible_logs().len().saturating_sub(super::view::log_rows(self)) as isize;
                self.log_scroll = (self.log_scroll as isize).saturating_sub(delta).clamp(0, max) as usize;
                if self.log_scroll == 0 {
                    self.log_unseen = 0;
                }
            }
        }
        self.keep_selection_visible();
    }

    fn after_filter_change(&mut self) {
        match self.view {
            View::Overview | View::Detail => {
                let list = self.visible_subs();
                if self.selected_index(&list).is_none() {
                    self.selected = list.first().map(|s| s.location.clone());
                }
                self.overview_offset = 0;
            }
            View::Alarms => {
                let list = self.visible_alarms();
                if !list.iter().any(|a| Some(&a.id) == self.alarm_selected.as_ref()) {
                    self.alarm_selected = list.first().map(|a| a.id.clone());
                }
                self.alarm_offset = 0;
            }
            View::Logs => {
                self.log_scroll = 0;
                self.log_unseen = 0;
            }
        }
        self.keep_selection_visible();
    }

    /// Scroll offsets follow the selection with the least movement (like ratatui's TableState).
    fn keep_selection_visible(&mut self) {
        let rows = self.list_rows().max(1);
        let list = self.visible_subs();
        let idx = self.selected_index(&list);
        let len = list.len();
        self.overview_offset = clamp_offset(self.overview_offset, idx, rows, len);
        let alarms = self.visible_alarms();
        let aidx = self.alarm_selected.as_ref().and_then(|id| alarms.iter().position(|a| &a.id == id));
        let alen = alarms.len();
        self.alarm_offset = clamp_offset(self.alarm_offset, aidx, rows, alen);
    }
}

pub(crate) fn clamp_offset(offset: usize, selected: Option<usize>, rows: usize, len: usize) -> usize {
    let mut off = offset.min(len.saturating_sub(rows));
    if let Some(i) = selected {
        if i < off {
            off = i;
        } else if i >= off + rows {
            off = i + 1 - rows;
        }
    }
    off
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clamp_offset_scrolls_minimally() {
        assert_eq!(clamp_offset(0, Some(3), 5, 10), 0);
        assert_eq!(clamp_offset(0, Some(7), 5, 10), 3);
        assert_eq!(clamp_offset(3, Some(1), 5, 10), 1);
        assert_eq!(clamp_offset(8, None, 5, 10), 5);
        assert_eq!(clamp_offset(4, Some(0), 5, 2), 0);
    }

    #[test]
    fn views_cycle() {
        assert_eq!(View::Logs.next(), View::Overview);
        assert_eq!(View::Overview.prev(), View::Logs);
    }
}
