//! Dashboard state and the update function. Everything here is synchronous and
//! deterministic: key events and data arrive as [`Msg`]s, side effects leave as
//! [`Command`]s, so tests drive the whole UI without a terminal or a runtime.

use super::cursor::{self, Follow, TimeCursor, Window, Zoom};
use super::keys::{Action, KeyMap};
use super::layout;
use super::msg::{Command, Msg};
use super::theme::Theme;
use crate::backend::{LogLevel, LogLine};
use crate::config::AnalysisConfig;
use super::alarm_ops;
use crate::model::{Alert, AlertRule, AlertStatus, ForecastPoint, HourlyRollup, SubstationState};
use crate::sanitize::sanitize_for_terminal;
use crate::store::operator::{self, ActionKind, OperatorAction, OperatorState};
pub use crate::store::operator::AlarmState;
use chrono::{DateTime, Duration, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// Log lines kept in memory; older ones scroll out.
pub const LOG_CAPACITY: usize = 5_000;
/// Alarms held at most; beyond this the oldest cleared ones are dropped (and counted).
pub const MAX_ALARMS: usize = 2_000;
/// The fleet panel and the fleet heatmap fetch every substation up to this many; beyond
/// it they use the substations on screen and say so (polling stays bounded).
pub const FLEET_FETCH_MAX: usize = 64;
/// Log lines one notch of the mouse wheel scrolls (lists move the selection by one row).
pub const WHEEL_LOG_LINES: isize = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum View {
    Overview,
    Detail,
    Heatmap,
    Alarms,
    Logs,
}

impl View {
    pub const ALL: [View; 5] = [View::Overview, View::Detail, View::Heatmap, View::Alarms, View::Logs];
    pub fn name(self) -> &'static str {
        match self {
            View::Overview => "Overview",
            View::Detail => "Detail",
            View::Heatmap => "Heatmap",
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

/// Order of the overview rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SortKey {
    /// Critical, then warning, then stale, then the rest; by name within each.
    #[default]
    Worst,
    /// Highest load first.
    Load,
    Name,
    /// Oldest data first.
    Age,
}

impl SortKey {
    pub const ALL: [SortKey; 4] = [SortKey::Worst, SortKey::Load, SortKey::Name, SortKey::Age];
    pub fn label(self) -> &'static str {
        match self {
            SortKey::Worst => "worst",
            SortKey::Load => "load",
            SortKey::Name => "name",
            SortKey::Age => "age",
        }
    }
    pub fn next(self) -> SortKey {
        let i = SortKey::ALL.iter().position(|k| *k == self).unwrap_or(0);
        SortKey::ALL[(i + 1) % SortKey::ALL.len()]
    }
    pub fn parse(s: &str) -> Option<SortKey> {
        SortKey::ALL.into_iter().find(|k| k.label() == s.trim().to_ascii_lowercase())
    }
}

/// What the heatmap colours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum HeatMetric {
    #[default]
    LoadPeak,
    VoltageMin,
    Renewable,
    Alarms,
}

impl HeatMetric {
    pub const ALL: [HeatMetric; 4] =
        [HeatMetric::LoadPeak, HeatMetric::VoltageMin, HeatMetric::Renewable, HeatMetric::Alarms];
    pub fn label(self) -> &'static str {
        match self {
            HeatMetric::LoadPeak => "load peak MW",
            HeatMetric::VoltageMin => "voltage min kV",
            HeatMetric::Renewable => "renewable %",
            HeatMetric::Alarms => "alarms",
        }
    }
    pub fn next(self) -> HeatMetric {
        let i = HeatMetric::ALL.iter().position(|k| *k == self).unwrap_or(0);
        HeatMetric::ALL[(i + 1) % HeatMetric::ALL.len()]
    }
}

/// The one-line input at the bottom: a filter (`/`), a log search, or a `:` command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prompt {
    Filter,
    Search,
    Command,
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
    /// Where `e` writes CSV files.
    pub export_dir: std::path::PathBuf,
    /// Recorded as `by` of operator actions (`$GRIDWATCH_OPERATOR`, else `$USER@host`).
    pub operator: String,
    /// Mouse events are acted on (off by default: with the mouse captured the terminal's
    /// own text selection needs Shift).
    pub mouse: bool,
    /// The name of the source watched now, and every source `:source NAME` can switch to.
    pub source: String,
    pub sources: Vec<String>,
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
            export_dir: std::path::PathBuf::from("."),
            operator: crate::cli::alarms::operator_name(None),
            mouse: false,
            source: String::new(),
            sources: Vec::new(),
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

/// One alarm in the list. Its state is [`operator::alarm_state`] over the stored
/// operator states; returned and acknowledged (Normal) leaves the list.
#[derive(Debug, Clone)]
pub struct Alarm {
    pub id: String,
    /// Message and location sanitized.
    pub alert: Alert,
    pub name: String,
    /// Still in alarm: the episode says so and no newer reading of its substation came.
    pub active: bool,
    pub state: AlarmState,
}

impl Alarm {
    pub fn state(&self) -> AlarmState {
        self.state
    }
    /// Active and neither shelved nor out of service: counts for its substation's status.
    pub fn annunciated(&self) -> bool {
        self.active && !matches!(self.state, AlarmState::Shelved | AlarmState::OutOfService)
    }
    /// Needs the operator: unacknowledged, active or returned.
    pub fn unacked(&self) -> bool {
        matches!(self.state, AlarmState::Unacknowledged | AlarmState::ReturnedUnacknowledged)
    }
    /// Order of the list: unacknowledged, acknowledged, then shelved and out of service.
    fn rank(&self) -> u8 {
        match self.state {
            AlarmState::Unacknowledged | AlarmState::ReturnedUnacknowledged => 0,
            AlarmState::Acknowledged | AlarmState::Normal => 1,
            AlarmState::Shelved => 2,
            AlarmState::OutOfService => 3,
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interest {
    /// Substations whose rollups are drawn (visible rows and the selected one).
    pub locations: Vec<String>,
    /// Substations whose forecast is drawn.
    pub forecasts: Vec<String>,
    /// Length of the window drawn.
    pub span: Duration,
    /// The cursor's zoom: decides, as in [`cursor::live_end`], whether following means
    /// "now" or "the newest data".
    pub zoom: Duration,
    /// Where the window ends; `None` follows live data (now, or the newest data when
    /// that is older than the window: the poller applies [`TimeCursor::live_end`]).
    pub end: Option<DateTime<Utc>>,
}

impl Default for Interest {
    fn default() -> Self {
        let day = Zoom::Day.duration();
        Self { locations: Vec::new(), forecasts: Vec::new(), span: day, zoom: day, end: None }
    }
}

#[derive(Debug)]
pub struct App {
    pub cfg: AppConfig,
    pub now: DateTime<Utc>,
    /// Terminal size (columns, rows).
    pub size: (u16, u16),
    pub view: View,
    /// Which window of history is drawn.
    pub cursor: TimeCursor,
    /// Detail charts: the time whose exact values are shown (←/→).
    pub crosshair: Option<DateTime<Utc>>,
    pub sort: SortKey,
    pub heat_metric: HeatMetric,
    /// Heatmap of the fleet (substation x hour) instead of the selected substation.
    pub heat_fleet: bool,
    pub subs: BTreeMap<String, Substation>,
    /// Newest reading per substation, kept current even while paused (alarm clearing).
    pub last_seen: BTreeMap<String, DateTime<Utc>>,
    /// The newest of `last_seen` (kept with it: asked for on every staleness check).
    newest_seen: Option<DateTime<Utc>>,
    pub selected: Option<String>,
    /// First overview row drawn; kept so the selection stays visible.
    pub overview_offset: usize,
    pub overview_filter: String,
    pub alarm_filter: String,
    pub log_filter: String,
    /// Logs: lowest level shown.
    pub log_level: LogLevel,
    /// Logs: only lines naming the selected substation.
    pub log_only_selected: bool,
    /// Logs: long lines wrap instead of scrolling sideways.
    pub log_wrap: bool,
    /// Logs: columns scrolled to the right (when not wrapping).
    pub log_hscroll: usize,
    /// Logs: highlighted text; n/N jump between matching lines.
    pub log_search: String,
    /// The input line being edited, if any.
    pub prompt: Option<Prompt>,
    /// Text of a `:` command being typed.
    pub command_line: String,
    /// Sorted: unacknowledged first, then by priority and activation time (newest first).
    pub alarms: Vec<Alarm>,
    /// Stored operator states by (substation, rule); `None` is the whole substation.
    pub operator: BTreeMap<(String, Option<AlertRule>), OperatorState>,
    /// Every alarm episode fetched in the window, by id, acknowledged or not: the KPIs and
    /// the flood banner count activations, not what still needs the operator.
    pub alert_log: BTreeMap<String, Alert>,
    pub alarm_selected: Option<String>,
    pub alarm_offset: usize,
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
    /// The last word on each source's health while it was watched ("ok", or the error).
    pub source_health: BTreeMap<String, String>,
}

impl App {
    pub fn new(cfg: AppConfig, now: DateTime<Utc>) -> Self {
        Self {
            cfg,
            now,
            size: (80, 24),
            view: View::Overview,
            cursor: TimeCursor::default(),
            crosshair: None,
            sort: SortKey::Worst,
            heat_metric: HeatMetric::LoadPeak,
            heat_fleet: false,
            subs: BTreeMap::new(),
            last_seen: BTreeMap::new(),
            newest_seen: None,
            selected: None,
            overview_offset: 0,
            overview_filter: String::new(),
            alarm_filter: String::new(),
            log_filter: String::new(),
            log_level: LogLevel::Debug,
            log_only_selected: false,
            log_wrap: false,
            log_hscroll: 0,
            log_search: String::new(),
            prompt: None,
            command_line: String::new(),
            alarms: Vec::new(),
            alarm_selected: None,
            alarm_offset: 0,
            operator: BTreeMap::new(),
            alert_log: BTreeMap::new(),
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
            source_health: BTreeMap::new(),
        }
    }

    pub fn theme(&self) -> Theme {
        self.cfg.theme
    }

    /// The expected reading interval when a substation's own cadence is unknown.
    pub fn interval(&self) -> Duration {
        Duration::minutes(i64::from(self.cfg.data_interval_minutes.max(1)))
    }

    /// Newest reading of any substation (where the window anchors when data is old).
    pub fn newest_data(&self) -> Option<DateTime<Utc>> {
        self.newest_seen
    }

    /// The window of history drawn now.
    pub fn window(&self) -> Window {
        self.cursor.window(self.now, self.newest_data())
    }

    /// The window a view draws: the heatmap covers at least 7 days ending where the
    /// cursor's window ends (one row per day needs days).
    pub fn view_window(&self) -> Window {
        let w = self.window();
        if self.view == View::Heatmap && w.duration() < Duration::days(7) {
            Window { start: w.end - Duration::days(7), ..w }
        } else {
            w
        }
    }

    /// The substation's own reading interval (from its rollups' counts).
    pub fn cadence(&self, sub: &Substation) -> Duration {
        cursor::cadence(&sub.history, self.interval())
    }

    /// Age of the substation's data at the window's end (the wall clock only when live).
    pub fn data_age(&self, sub: &Substation) -> Option<Duration> {
        cursor::data_age(sub.state.last_reading, &sub.history, self.window().end)
    }

    /// No data for more than two of the substation's own intervals before the window's
    /// end: it stopped reporting (or the pipeline did).
    pub fn is_stale(&self, sub: &Substation) -> bool {
        cursor::is_stale(self.data_age(sub), self.cadence(sub))
    }

    /// The worse of the newest hour's status and the substation's active alarms.
    pub fn sub_status(&self, sub: &Substation) -> AlertStatus {
        let alarms = self
            .alarms
            .iter()
            .filter(|a| a.annunciated() && a.alert.location == sub.location)
            .map(|a| a.alert.status())
            .max()
            .unwrap_or_default();
        sub.state.latest.alert_status.max(alarms)
    }

    /// Substations matching the overview filter (name or status word), in the chosen order.
    pub fn visible_subs(&self) -> Vec<&Substation> {
        let f = self.overview_filter.to_lowercase();
        let mut list: Vec<&Substation> = self
            .subs
            .values()
            .filter(|s| f.is_empty() || s.name.to_lowercase().contains(&f) || self.sub_status(s).as_str().contains(&f))
            .collect();
        match self.sort {
            // Name order is the map's order; the sorts below are stable, so ties keep it.
            SortKey::Name => {}
            SortKey::Worst => {
                // Active alarm severity per substation, once (not once per row per alarm).
                let mut active: std::collections::HashMap<&str, AlertStatus> = std::collections::HashMap::new();
                for a in self.alarms.iter().filter(|a| a.annunciated()) {
                    let e = active.entry(a.alert.location.as_str()).or_default();
                    *e = (*e).max(a.alert.status());
                }
                let status = |s: &Substation| {
                    s.state.latest.alert_status.max(active.get(s.location.as_str()).copied().unwrap_or_default())
                };
                let mut keyed: Vec<_> =
                    list.into_iter().map(|s| ((std::cmp::Reverse(status(s)), !self.is_stale(s)), s)).collect();
                keyed.sort_by_key(|(k, _)| *k);
                list = keyed.into_iter().map(|(_, s)| s).collect();
            }
            SortKey::Load => list.sort_by(|a, b| b.state.latest.load_avg_mw.total_cmp(&a.state.latest.load_avg_mw)),
            SortKey::Age => list.sort_by_key(|s| s.state.last_reading),
        }
        list
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

    /// Log lines passing the text filter, the level filter and the substation filter.
    pub fn visible_logs(&self) -> Vec<&LogLine> {
        let f = self.log_filter.to_lowercase();
        let sel = self.log_only_selected.then(|| self.selected.as_deref().map(str::to_lowercase)).flatten();
        self.logs
            .iter()
            .filter(|l| l.level >= self.log_level)
            .filter(|l| {
                (f.is_empty() || l.message.to_lowercase().contains(&f))
                    && sel.as_ref().is_none_or(|s| l.message.to_lowercase().contains(s.as_str()))
            })
            .collect()
    }

    pub fn unacked_alarms(&self) -> usize {
        self.alarms.iter().filter(|a| a.unacked()).count()
    }

    /// `Some(n)`: more than the configured limit of alarms activated in the last 10
    /// minutes of data time (relative to the newest activation held).
    pub fn flood(&self) -> Option<usize> {
        let limit = self.cfg.analysis.alarms.flood_alarms_per_10min;
        alarm_ops::flood(self.alert_log.values().map(|a| a.activated_at), limit as usize)
    }

    /// The alarm KPIs of the episodes held that were activated in the window drawn.
    pub fn alarm_kpis(&self) -> crate::analysis::kpi::AlarmKpis {
        let w = self.window();
        let alerts: Vec<Alert> = self.alert_log.values().cloned().collect();
        crate::analysis::kpi::compute(&alerts, w.start, w.end, self.cfg.analysis.alarms.flood_alarms_per_10min as usize)
    }

    /// The stored operator state of an alarm's rule at its substation.
    pub fn rule_state(&self, a: &Alert) -> Option<&OperatorState> {
        self.operator.get(&(a.location.clone(), Some(a.rule)))
    }

    /// The stored state of a whole substation (out of service).
    pub fn site_state(&self, location: &str) -> Option<&OperatorState> {
        self.operator.get(&(location.to_string(), None))
    }

    pub fn selected_alarm(&self) -> Option<&Alarm> {
        self.alarm_selected.as_ref().and_then(|id| self.alarms.iter().find(|a| &a.id == id))
    }

    /// The filter of the current view (Detail and Heatmap share the overview's).
    pub fn filter(&self) -> &str {
        match self.view {
            View::Overview | View::Detail | View::Heatmap => &self.overview_filter,
            View::Alarms => &self.alarm_filter,
            View::Logs => &self.log_filter,
        }
    }

    fn filter_mut(&mut self) -> &mut String {
        match self.view {
            View::Overview | View::Detail | View::Heatmap => &mut self.overview_filter,
            View::Alarms => &mut self.alarm_filter,
            View::Logs => &mut self.log_filter,
        }
    }

    /// The text being edited in the input line.
    pub fn prompt_text(&self) -> &str {
        match self.prompt {
            Some(Prompt::Filter) => self.filter(),
            Some(Prompt::Search) => &self.log_search,
            Some(Prompt::Command) => &self.command_line,
            None => "",
        }
    }

    fn prompt_text_mut(&mut self) -> &mut String {
        match self.prompt {
            Some(Prompt::Search) => &mut self.log_search,
            Some(Prompt::Command) => &mut self.command_line,
            _ => self.filter_mut(),
        }
    }

    fn body_height(&self) -> u16 {
        layout::body_height(self.size, self.has_banner())
    }

    /// The banner line is drawn: a store or log error, or an alarm flood.
    pub fn has_banner(&self) -> bool {
        self.banner.is_some() || self.log_error.is_some() || self.flood().is_some()
    }

    /// Heights of the overview's table part and fleet panel.
    pub fn overview_split(&self) -> (u16, u16) {
        layout::overview_split(self.body_height(), self.visible_subs().len())
    }

    /// Rows of the overview table / alarm list that fit on screen.
    pub fn list_rows(&self) -> usize {
        let h = match self.view {
            View::Overview | View::Detail | View::Heatmap => self.overview_split().0,
            // The alarm view has a second header line: the KPIs.
            View::Alarms => self.body_height().saturating_sub(1),
            View::Logs => self.body_height(),
        };
        h.saturating_sub(layout::LIST_CHROME) as usize
    }

    /// Log lines on screen (the log view has one header line).
    pub fn log_rows(&self) -> usize {
        self.body_height().saturating_sub(1) as usize
    }

    /// Whether the fleet panel (or fleet heatmap) can fetch every substation.
    pub fn fleet_complete(&self) -> bool {
        self.subs.len() <= FLEET_FETCH_MAX
    }

    /// What the poller should fetch now: rollups of what the current view draws (the
    /// overview's visible rows and, with the fleet panel, every substation up to
    /// [`FLEET_FETCH_MAX`]; the detail's substation), forecasts only where drawn.
    pub fn interest(&self) -> Interest {
        let mut locations: Vec<String> = Vec::new();
        let mut forecasts: Vec<String> = Vec::new();
        let fleet = (self.view == View::Overview && self.overview_split().1 > 0)
            || (self.view == View::Heatmap && self.heat_fleet);
        if fleet && self.fleet_complete() {
            locations = self.subs.keys().cloned().collect();
            if self.view == View::Overview {
                forecasts = locations.clone();
            }
        } else if matches!(self.view, View::Overview | View::Heatmap) {
            let list = self.visible_subs();
            let start = self.overview_offset.min(list.len());
            let end = (start + self.list_rows().max(1)).min(list.len());
            locations = list[start..end].iter().map(|s| s.location.clone()).collect();
        }
        let selected = self.selected.clone().filter(|s| self.subs.contains_key(s));
        if matches!(self.view, View::Overview | View::Detail | View::Heatmap)
            && let Some(sel) = &selected
            && !locations.contains(sel)
        {
            locations.push(sel.clone());
        }
        if self.view == View::Detail {
            forecasts = selected.into_iter().collect();
        }
        let w = self.view_window();
        Interest {
            locations,
            forecasts,
            span: w.duration(),
            zoom: self.cursor.zoom.duration(),
            end: match self.cursor.follow {
                Follow::Live => None,
                Follow::At(t) => Some(t),
            },
        }
    }

    /// The left of the title bar for a terminal `width` wide: the title, then each view's
    /// tab label (drawn as `[label]` when current, ` label ` otherwise: two columns more).
    /// One place, so a mouse click lands on the tab that is drawn.
    pub fn title_tabs(&self, width: u16) -> (String, Vec<(View, String)>) {
        let theme = self.theme();
        // The title replaces the product name when it already starts with it ("gridwatch demo").
        let title = theme.text(&sanitize_for_terminal(&self.cfg.title)).into_owned();
        // Looking at history: the window's label matters more than the title text.
        let wide = width >= 80 && (self.window().is_live() || width >= 110);
        let head = if wide && title.starts_with("gridwatch") {
            format!(" {title}")
        } else if wide && !title.is_empty() {
            format!(" gridwatch {title}")
        } else {
            " gridwatch".to_string()
        };
        let unacked = self.unacked_alarms();
        let tabs = View::ALL
            .into_iter()
            .map(|v| match v {
                View::Alarms if unacked > 0 => (v, format!("{}({unacked})", v.name())),
                _ => (v, v.name().to_string()),
            })
            .collect();
        (head, tabs)
    }

    /// The view whose tab is drawn at column `x` of the title bar.
    pub fn tab_at(&self, x: u16) -> Option<View> {
        let (head, tabs) = self.title_tabs(self.size.0);
        let mut start = ratatui::text::Line::from(head.as_str()).width() + 1;
        for (v, label) in tabs {
            let end = start + ratatui::text::Line::from(label.as_str()).width() + 2;
            if (start..end).contains(&(x as usize)) {
                return Some(v);
            }
            start = end;
        }
        None
    }

    fn set_status(&mut self, level: StatusLevel, text: impl Into<String>) {
        self.status = Some(Status { text: text.into(), level });
    }

    /// Apply one message. Returns what the caller must do; sets `dirty` when the screen changed.
    pub fn update(&mut self, msg: Msg) -> Vec<Command> {
        let mut cmds = Vec::new();
        match msg {
            Msg::Key(ev) => self.on_key(ev, &mut cmds),
            Msg::Mouse(ev) => self.on_mouse(ev, &mut cmds),
            Msg::Resize(w, h) => {
                self.size = (w, h);
                self.keep_selection_visible();
                self.dirty = true;
            }
            Msg::Tick(now) => {
                self.now = now;
                // Shelves expire with time.
                self.refresh_alarm_activity();
                self.dirty = true;
            }
            Msg::Substations(list) => {
                // A poll answered (StoreOk only follows failed attempts).
                self.source_health.insert(self.cfg.source.clone(), "ok".into());
                for s in &list {
                    let e = self.last_seen.entry(s.location.clone()).or_insert(s.last_reading);
                    *e = (*e).max(s.last_reading);
                    self.newest_seen = self.newest_seen.max(Some(*e));
                }
                self.refresh_alarm_activity();
                if self.paused {
                    self.held.retain(|m| !matches!(m, Msg::Substations(_)));
                    self.held.push(Msg::Substations(list));
                } else {
                    self.apply_substations(list);
                }
            }
            m @ (Msg::Rollups { .. } | Msg::Forecast { .. } | Msg::HistoryKept { .. }) if self.paused => {
                self.held.push(m)
            }
            Msg::Rollups { location, rollups } => self.apply_rollups(&location, rollups),
            Msg::HistoryKept { location, from, to } => {
                if let Some(sub) = self.subs.get_mut(&location) {
                    let before = sub.history.len();
                    sub.history.retain(|t, _| *t >= from && *t < to);
                    self.dirty |= sub.history.len() != before;
                }
            }
            Msg::Exported(result) => {
                match result {
                    Ok(desc) => self.set_status(StatusLevel::Info, sanitize_for_terminal(&desc)),
                    Err(e) => self.set_status(StatusLevel::Error, format!("export failed: {}", sanitize_for_terminal(&e))),
                }
                self.dirty = true;
            }
            Msg::Forecast { location, points } => {
                if let Some(sub) = self.subs.get_mut(&location)
                    && sub.forecast != points
                {
                    sub.forecast = points;
                    self.dirty = true;
                }
            }
            Msg::Alerts(alerts) => self.apply_alerts(alerts),
            Msg::OperatorStates(states) => {
                let states: BTreeMap<_, _> = states.into_iter().map(|s| ((s.location.clone(), s.rule), s)).collect();
                if states != self.operator {
                    self.operator = states;
                    self.refresh_alarm_activity();
                    self.dirty = true;
                }
            }
            Msg::OperatorDone { action, result } => {
                self.operator_done(action, result, &mut cmds);
                self.dirty = true;
            }
            Msg::Logs(lines) => self.apply_logs(lines),
            Msg::StoreError { error, retry_in, attempt } => {
                let error = sanitize_for_terminal(&error);
                self.source_health.insert(self.cfg.source.clone(), format!("error (attempt {attempt}): {error}"));
                self.banner = Some(Banner { error, retry_in, attempt });
                self.dirty = true;
            }
            Msg::StoreOk => {
                self.source_health.insert(self.cfg.source.clone(), "ok".into());
                if self.banner.take().is_some() {
                    self.dirty = true;
                }
            }
            Msg::SourceSwitched { name, title, store_name } => self.switch_source(name, title, store_name),
            Msg::SourceFailed { name, error } => {
                let error = sanitize_for_terminal(&error);
                self.source_health.insert(name.clone(), format!("cannot connect: {error}"));
                self.set_status(StatusLevel::Error, format!("source {}: {error}", sanitize_for_terminal(&name)));
                self.dirty = true;
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

    /// Starts over on another source: its data only (nothing of the old one stays on
    /// screen), the operator's choices of view, order, window length and filters kept.
    fn switch_source(&mut self, name: String, title: String, store_name: String) {
        let mut cfg = self.cfg.clone();
        cfg.source = name.clone();
        cfg.title = title;
        cfg.store_name = store_name;
        let mut fresh = App::new(cfg, self.now);
        fresh.size = self.size;
        fresh.view = if self.view == View::Detail { View::Overview } else { self.view };
        fresh.cursor.zoom = self.cursor.zoom;
        fresh.sort = self.sort;
        fresh.heat_metric = self.heat_metric;
        fresh.heat_fleet = self.heat_fleet;
        fresh.overview_filter = std::mem::take(&mut self.overview_filter);
        fresh.alarm_filter = std::mem::take(&mut self.alarm_filter);
        fresh.log_level = self.log_level;
        fresh.log_wrap = self.log_wrap;
        fresh.source_health = std::mem::take(&mut self.source_health);
        fresh.source_health.entry(name.clone()).or_insert_with(|| "connected".into());
        fresh.set_status(StatusLevel::Info, format!("watching {}", sanitize_for_terminal(&name)));
        *self = fresh;
    }

    /// `:source` alone: every source with its health; `:source NAME`: switch.
    fn source_command(&mut self, arg: &str, cmds: &mut Vec<Command>) {
        if self.cfg.sources.is_empty() {
            self.set_status(StatusLevel::Error, "no sources configured: add [[dashboard.sources]] to the config file (README, \"Several sources\")");
            return;
        }
        if arg.is_empty() {
            let list: Vec<String> = self
                .cfg
                .sources
                .iter()
                .map(|n| {
                    let mark = if *n == self.cfg.source { "*" } else { "" };
                    let health = self.source_health.get(n).map_or("not watched yet", String::as_str);
                    format!("{mark}{} ({health})", sanitize_for_terminal(n))
                })
                .collect();
            self.set_status(StatusLevel::Info, format!("sources: {} - :source NAME switches", list.join(", ")));
            return;
        }
        match self.cfg.sources.iter().find(|n| n.as_str() == arg).cloned() {
            Some(n) if n == self.cfg.source => self.set_status(StatusLevel::Info, format!("already watching {}", sanitize_for_terminal(&n))),
            Some(n) => {
                self.set_status(StatusLevel::Info, format!("connecting to {}...", sanitize_for_terminal(&n)));
                cmds.push(Command::SwitchSource(n));
            }
            None => self.set_status(
                StatusLevel::Error,
                format!("source {:?}: not configured (sources: {})", sanitize_for_terminal(arg), sanitize_for_terminal(&self.cfg.sources.join(", "))),
            ),
        }
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

    /// Merges rollups by hour. What is kept is bounded by the poller (see
    /// [`Msg::HistoryKept`]), which knows what it fetched.
    fn apply_rollups(&mut self, location: &str, rollups: Vec<HourlyRollup>) {
        let Some(sub) = self.subs.get_mut(location) else { return };
        for r in rollups {
            if sub.history.get(&r.timestamp) != Some(&r) {
                sub.history.insert(r.timestamp, r);
                self.dirty = true;
            }
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
            if self.alert_log.get(&id) != Some(&alert) {
                self.alert_log.insert(id.clone(), alert.clone());
            }
            match self.alarms.iter_mut().find(|a| a.id == id) {
                Some(existing) => {
                    if existing.alert != alert {
                        existing.alert = alert;
                        self.dirty = true;
                    }
                }
                None => {
                    let name = sanitize_for_terminal(&alert.location);
                    // Its state is set below; a returned and acknowledged one leaves again.
                    self.alarms.push(Alarm { id, alert, name, active: true, state: AlarmState::Unacknowledged });
                    self.dirty = true;
                }
            }
        }
        self.trim_alert_log();
        self.refresh_alarm_activity();
    }

    /// The KPI log keeps at most [`MAX_ALARMS`] * 2 episodes, the newest activations.
    fn trim_alert_log(&mut self) {
        let cap = MAX_ALARMS * 2;
        if self.alert_log.len() <= cap {
            return;
        }
        let mut times: Vec<DateTime<Utc>> = self.alert_log.values().map(|a| a.activated_at).collect();
        times.sort_unstable();
        let cutoff = times[times.len() - cap];
        self.alert_log.retain(|_, a| a.activated_at >= cutoff);
    }

    /// Recompute activity and ISA-18.2 states, drop returned + acknowledged (Normal)
    /// alarms, keep the list bounded and sorted.
    fn refresh_alarm_activity(&mut self) {
        let states: Vec<(bool, AlarmState)> = self
            .alarms
            .iter()
            .map(|a| {
                let active = a.alert.active && self.alert_active(&a.alert);
                let mut alert = a.alert.clone();
                alert.active = active;
                let st = operator::alarm_state(&alert, self.rule_state(&alert), self.site_state(&alert.location), self.now);
                (active, st)
            })
            .collect();
        for (a, (active, st)) in self.alarms.iter_mut().zip(states) {
            if a.active != active || a.state != st {
                a.active = active;
                a.state = st;
                self.dirty = true;
            }
        }
        let before = self.alarms.len();
        self.alarms.retain(|a| a.state != AlarmState::Normal);
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
            let key = |x: &Alarm| (x.rank(), std::cmp::Reverse(x.alert.priority), std::cmp::Reverse(x.alert.activated_at));
            key(a).cmp(&key(b)).then_with(|| a.id.cmp(&b.id))
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
        if let Some(prompt) = self.prompt {
            match ev.code {
                KeyCode::Esc => {
                    self.prompt_text_mut().clear();
                    self.prompt = None;
                }
                KeyCode::Enter => {
                    self.prompt = None;
                    match prompt {
                        Prompt::Command => {
                            let line = std::mem::take(&mut self.command_line);
                            self.run_command(&line, cmds);
                        }
                        Prompt::Search => self.search_step(0),
                        Prompt::Filter => {}
                    }
                }
                KeyCode::Backspace => {
                    self.prompt_text_mut().pop();
                }
                KeyCode::Char('u') if ctrl => self.prompt_text_mut().clear(),
                KeyCode::Char(c) if !ctrl && !c.is_control() => self.prompt_text_mut().push(c),
                _ => {}
            }
            if prompt == Prompt::Filter {
                self.after_filter_change();
            }
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

    /// The mouse, when turned on: the wheel does what Up/Down do (three lines in the log),
    /// a click on a tab opens that view, a click on a row selects it and a click on the
    /// selected row opens it (as Enter). Ignored while a dialog or the input line is open.
    fn on_mouse(&mut self, ev: MouseEvent, cmds: &mut Vec<Command>) {
        if !self.cfg.mouse || self.confirm.is_some() || self.prompt.is_some() {
            return;
        }
        let step = if self.view == View::Logs { WHEEL_LOG_LINES } else { 1 };
        match ev.kind {
            MouseEventKind::ScrollUp => self.move_by(-step),
            MouseEventKind::ScrollDown => self.move_by(step),
            MouseEventKind::Down(MouseButton::Left) => {
                if self.help {
                    self.help = false;
                } else {
                    self.click(ev.column, ev.row, cmds);
                }
            }
            _ => return,
        }
        self.dirty = true;
    }

    fn click(&mut self, x: u16, y: u16, cmds: &mut Vec<Command>) {
        let area = ratatui::layout::Rect::new(0, 0, self.size.0, self.size.1);
        if layout::too_small(area) {
            return;
        }
        let screen = layout::screen(area, self.has_banner());
        if y == screen.title.y {
            if let Some(v) = self.tab_at(x) {
                self.view = v;
                self.keep_selection_visible();
            }
            return;
        }
        let body = screen.body;
        if !(body.y..body.bottom()).contains(&y) {
            return;
        }
        // Rows start below the view's header lines (see view/overview.rs, view/alarms.rs).
        match self.view {
            View::Overview => {
                let first = body.y + 2;
                let rows = self.list_rows();
                let list = self.visible_subs();
                let offset = clamp_offset(self.overview_offset, self.selected_index(&list), rows.max(1), list.len());
                let Some(i) = row_at(y, first, rows, offset, list.len()) else { return };
                let loc = list[i].location.clone();
                if self.selected.as_deref() == Some(loc.as_str()) {
                    self.on_action(Action::Open, cmds);
                } else {
                    self.selected = Some(loc);
                    self.keep_selection_visible();
                }
            }
            View::Alarms => {
                let first = body.y + 3;
                let rows = self.list_rows();
                let list = self.visible_alarms();
                let sel = self.alarm_selected.as_ref().and_then(|id| list.iter().position(|a| &a.id == id));
                let offset = clamp_offset(self.alarm_offset, sel, rows.max(1), list.len());
                let Some(i) = row_at(y, first, rows, offset, list.len()) else { return };
                let id = list[i].id.clone();
                if self.alarm_selected.as_deref() == Some(id.as_str()) {
                    self.on_action(Action::Open, cmds);
                } else {
                    self.alarm_selected = Some(id);
                    self.keep_selection_visible();
                }
            }
            View::Detail | View::Heatmap | View::Logs => {}
        }
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
                View::Overview | View::Heatmap if self.selected.is_some() => self.view = View::Detail,
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
                // Esc first drops the crosshair, then clears the view's filter, then goes
                // back to the overview.
                if self.view == View::Detail && self.crosshair.is_some() {
                    self.crosshair = None;
                } else if self.view == View::Logs && !self.log_search.is_empty() {
                    self.log_search.clear();
                } else if self.view != View::Detail && !self.filter().is_empty() {
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
                self.prompt = Some(Prompt::Filter);
            }
            Action::Reprocess => self.ask_reprocess(),
            Action::Ack => self.ack(cmds),
            Action::AckAll => self.ack_all_listed(cmds),
            Action::Shelve => self.shelve(None, cmds),
            Action::Unshelve => self.unshelve(cmds),
            Action::OutOfService => self.ask_out_of_service(),
            Action::ReturnToService => self.return_to_service(cmds),
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
            Action::TimeRange => self.set_zoom(self.cursor.zoom.cycle()),
            Action::ZoomIn => self.set_zoom(self.cursor.zoom.zoom_in()),
            Action::ZoomOut => self.set_zoom(self.cursor.zoom.out()),
            Action::Earlier => self.shift_window(-1),
            Action::Later => self.shift_window(1),
            Action::Live => {
                self.cursor.follow = Follow::Live;
                self.crosshair = None;
                self.set_status(StatusLevel::Info, "following live data");
            }
            Action::Command => {
                self.command_line.clear();
                self.prompt = Some(Prompt::Command);
            }
            Action::Left => self.left_right(-1),
            Action::Right => self.left_right(1),
            Action::Sort => {
                self.sort = self.sort.next();
                self.set_status(StatusLevel::Info, format!("overview sorted by {}", self.sort.label()));
                self.overview_offset = 0;
                self.keep_selection_visible();
            }
            Action::Export => self.export(cmds),
            Action::Metric => {
                self.heat_metric = self.heat_metric.next();
                if self.view != View::Heatmap {
                    self.set_status(StatusLevel::Info, format!("heatmap metric: {}", self.heat_metric.label()));
                }
            }
            Action::FleetHeatmap => self.heat_fleet = !self.heat_fleet,
            Action::Search => {
                if self.view == View::Logs {
                    self.log_search.clear();
                    self.prompt = Some(Prompt::Search);
                } else {
                    self.set_status(StatusLevel::Info, "search: open the log view first");
                }
            }
            Action::SearchNext => self.search_step(1),
            Action::SearchPrev => self.search_step(-1),
            Action::LogWrap => {
                self.log_wrap = !self.log_wrap;
                self.log_hscroll = 0;
            }
            Action::LogLevel => {
                self.log_level = match self.log_level {
                    LogLevel::Debug => LogLevel::Info,
                    LogLevel::Info => LogLevel::Warn,
                    LogLevel::Warn => LogLevel::Error,
                    LogLevel::Error => LogLevel::Debug,
                };
                self.after_filter_change_in(View::Logs);
            }
            Action::LogSelected => {
                self.log_only_selected = !self.log_only_selected;
                self.after_filter_change_in(View::Logs);
            }
            Action::Help => self.help = !self.help,
            Action::Quit => cmds.push(Command::Quit),
        }
    }

    fn set_zoom(&mut self, zoom: Zoom) {
        let newest = self.newest_data();
        self.cursor.set_zoom(zoom, self.now, newest);
        self.clamp_crosshair();
    }

    fn shift_window(&mut self, steps: i32) {
        let newest = self.newest_data();
        self.cursor.shift(steps, self.now, newest);
        self.clamp_crosshair();
    }

    /// Keeps the crosshair inside the window (a moved window carries it along).
    fn clamp_crosshair(&mut self) {
        if let Some(t) = self.crosshair {
            let w = self.window();
            self.crosshair = Some(t.clamp(w.start, w.end));
        }
    }

    /// ←/→: the crosshair on the detail charts, sideways scrolling in the log.
    fn left_right(&mut self, dir: i32) {
        match self.view {
            View::Detail => {
                let w = self.window();
                // One hour per press, or one chart column's worth on long windows.
                let step = (w.duration() / 60).max(Duration::hours(1));
                let hour = |t: DateTime<Utc>| t - Duration::seconds(t.timestamp().rem_euclid(3600));
                let next = match self.crosshair {
                    None => hour(w.end - Duration::seconds(1)),
                    Some(t) => hour(t + step * dir),
                };
                self.crosshair = Some(next.clamp(hour(w.start), hour(w.end - Duration::seconds(1))));
            }
            View::Logs if !self.log_wrap => {
                self.log_hscroll = if dir < 0 { self.log_hscroll.saturating_sub(8) } else { self.log_hscroll + 8 };
            }
            _ => {}
        }
    }

    /// Moves to the next (`dir` 1), previous (-1) or nearest (0) log line containing the
    /// search text, scrolling it onto the screen.
    fn search_step(&mut self, dir: i32) {
        if self.log_search.is_empty() {
            return;
        }
        let q = self.log_search.to_lowercase();
        let lines = self.visible_logs();
        let hits: Vec<usize> =
            lines.iter().enumerate().filter(|(_, l)| l.message.to_lowercase().contains(&q)).map(|(i, _)| i).collect();
        let n = lines.len();
        if hits.is_empty() {
            self.set_status(StatusLevel::Info, format!("not found: {}", self.log_search));
            return;
        }
        // The line at the bottom of the screen is the reference.
        let bottom = n - 1 - self.log_scroll.min(n - 1);
        let target = match dir {
            d if d > 0 => hits.iter().find(|&&i| i > bottom).or(hits.first()),
            d if d < 0 => hits.iter().rev().find(|&&i| i < bottom).or(hits.last()),
            _ => hits.iter().rev().find(|&&i| i <= bottom).or(hits.last()),
        };
        let Some(&target) = target else { return };
        self.log_scroll = n - 1 - target;
        let pos = hits.iter().position(|&i| i == target).unwrap_or(0) + 1;
        self.set_status(StatusLevel::Info, format!("match {pos} of {} for \"{}\"", hits.len(), self.log_search));
    }

    /// A `:` command: `goto <time>`, `live`, `zoom <1h|6h|24h|7d|30d>`, `sort <key>`,
    /// `export`, `level <debug|info|warn|error>`, `shelve [minutes]`, `unshelve`,
    /// `oos <reason>`, `rts`.
    fn run_command(&mut self, line: &str, cmds: &mut Vec<Command>) {
        let line = line.trim();
        let (verb, arg) = line.split_once(char::is_whitespace).map_or((line, ""), |(v, a)| (v, a.trim()));
        let newest = self.newest_data();
        match verb {
            "" => {}
            "goto" | "g" => match cursor::parse_time(arg, self.window().end) {
                Ok(t) => {
                    self.cursor.goto(t, self.now, newest);
                    self.crosshair = Some(t);
                    self.clamp_crosshair();
                    self.set_status(StatusLevel::Info, format!("window around {}", t.format("%Y-%m-%d %H:%M")));
                }
                Err(e) => self.set_status(StatusLevel::Error, e),
            },
            "live" | "now" => self.on_action(Action::Live, cmds),
            "zoom" | "z" => match Zoom::parse(arg) {
                Some(z) => self.set_zoom(z),
                None => self.set_status(StatusLevel::Error, format!("zoom: {arg:?}: use 1h, 6h, 24h, 7d or 30d")),
            },
            "sort" => match SortKey::parse(arg) {
                Some(k) => {
                    self.sort = k;
                    self.keep_selection_visible();
                }
                None => self.set_status(StatusLevel::Error, format!("sort: {arg:?}: use worst, load, name or age")),
            },
            "export" | "w" => self.export(cmds),
            "shelve" => {
                if arg.is_empty() {
                    self.shelve(None, cmds);
                } else {
                    match alarm_ops::parse_minutes(arg) {
                        Ok(m) => self.shelve(Some(m), cmds),
                        Err(e) => self.set_status(StatusLevel::Error, e),
                    }
                }
            }
            "unshelve" => self.unshelve(cmds),
            "oos" => self.out_of_service(arg, cmds),
            "rts" | "return" => self.return_to_service(cmds),
            "source" | "src" => self.source_command(arg, cmds),
            "level" => {
                let level = match arg.to_ascii_lowercase().as_str() {
                    "debug" | "all" => Some(LogLevel::Debug),
                    "info" => Some(LogLevel::Info),
                    "warn" | "warning" => Some(LogLevel::Warn),
                    "error" => Some(LogLevel::Error),
                    _ => None,
                };
                match level {
                    Some(l) => {
                        self.log_level = l;
                        self.after_filter_change_in(View::Logs);
                    }
                    None => self.set_status(StatusLevel::Error, format!("level: {arg:?}: use debug, info, warn or error")),
                }
            }
            other => self.set_status(
                StatusLevel::Error,
                format!("unknown command {other:?} (goto <time>, live, zoom <1h..30d>, sort <key>, export, level <lvl>, shelve <min>, unshelve, oos <reason>, rts, source <name>)"),
            ),
        }
    }

    /// Writes what the current view shows to a CSV file (the UI loop does the writing).
    fn export(&mut self, cmds: &mut Vec<Command>) {
        match super::export::view_csv(self) {
            Ok((name, contents)) => {
                let path = self.cfg.export_dir.join(name);
                cmds.push(Command::Export { path, contents });
            }
            Err(e) => self.set_status(StatusLevel::Error, e),
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

    /// A new operator action by this operator, now.
    fn action(&self, location: &str, rule: Option<AlertRule>, kind: ActionKind, reason: &str) -> OperatorAction {
        OperatorAction {
            location: location.to_string(),
            rule,
            kind,
            by: self.cfg.operator.clone(),
            at: self.now,
            reason: reason.to_string(),
        }
    }

    /// Read-only dashboards refuse operator actions here, saying so; `true` when refused.
    fn refused_read_only(&mut self, what: &str) -> bool {
        if self.cfg.read_only {
            self.set_status(
                StatusLevel::Error,
                format!("{what} refused: this dashboard is read-only (operator actions are disabled)"),
            );
        }
        self.cfg.read_only
    }

    /// Acknowledges `alarms` (ids): one action per substation and rule, through the
    /// newest episode (the store acknowledges every older one with it).
    fn acknowledge(&mut self, ids: &BTreeSet<String>, cmds: &mut Vec<Command>) {
        if self.refused_read_only("acknowledge") {
            return;
        }
        let mut through: BTreeMap<(String, AlertRule), DateTime<Utc>> = BTreeMap::new();
        for a in self.alarms.iter().filter(|a| a.unacked() && ids.contains(&a.id)) {
            let e = through.entry((a.alert.location.clone(), a.alert.rule)).or_insert(a.alert.started_at);
            *e = (*e).max(a.alert.started_at);
        }
        if through.is_empty() {
            self.set_status(StatusLevel::Info, "nothing to acknowledge");
            return;
        }
        let n = ids.len().min(self.unacked_alarms());
        for ((loc, rule), started_at) in through {
            cmds.push(Command::Operator(self.action(&loc, Some(rule), ActionKind::Acknowledge { started_at }, "")));
        }
        self.set_status(StatusLevel::Info, format!("acknowledging {n} alarm{}...", if n == 1 { "" } else { "s" }));
    }

    fn ack(&mut self, cmds: &mut Vec<Command>) {
        let ids: BTreeSet<String> = match self.view {
            View::Alarms => self.selected_alarm().filter(|a| a.unacked()).map(|a| a.id.clone()).into_iter().collect(),
            View::Overview | View::Detail | View::Heatmap => match self.selected.clone() {
                Some(loc) => {
                    self.alarms.iter().filter(|a| a.unacked() && a.alert.location == loc).map(|a| a.id.clone()).collect()
                }
                None => BTreeSet::new(),
            },
            View::Logs => return,
        };
        self.acknowledge(&ids, cmds);
    }

    /// Only in the alarm view, where the operator sees what is being acknowledged.
    fn ack_all_listed(&mut self, cmds: &mut Vec<Command>) {
        if self.view != View::Alarms {
            self.set_status(StatusLevel::Info, "acknowledge all: open the alarm view first");
            return;
        }
        let ids: BTreeSet<String> =
            self.visible_alarms().iter().filter(|a| a.unacked()).map(|a| a.id.clone()).collect();
        self.acknowledge(&ids, cmds);
    }

    /// The alarm a shelve / unshelve acts on: the one selected in the alarm view.
    fn alarm_target(&mut self, what: &str) -> Option<(String, AlertRule, String)> {
        let target = if self.view == View::Alarms { self.selected_alarm() } else { None };
        match target {
            Some(a) => Some((a.alert.location.clone(), a.alert.rule, a.name.clone())),
            None => {
                self.set_status(StatusLevel::Error, format!("{what}: select an alarm in the alarm view first"));
                None
            }
        }
    }

    /// Shelves the selected alarm's rule at its substation for `minutes` (default 60),
    /// capped at the configured maximum.
    fn shelve(&mut self, minutes: Option<f64>, cmds: &mut Vec<Command>) {
        if self.refused_read_only("shelve") {
            return;
        }
        let Some((loc, rule, name)) = self.alarm_target("shelve") else { return };
        let max = self.cfg.analysis.alarms.max_shelve_minutes;
        let (minutes, capped) = alarm_ops::capped_minutes(minutes.unwrap_or(alarm_ops::DEFAULT_SHELVE_MINUTES), max);
        let until = alarm_ops::shelve_until(self.now, minutes);
        let action = self.action(&loc, Some(rule), ActionKind::Shelve { until }, "");
        if let Err(e) = operator::validate(&action, max) {
            self.set_status(StatusLevel::Error, format!("shelve refused: {e}"));
            return;
        }
        cmds.push(Command::Operator(action));
        let note = capped.map(|c| format!(" ({c})")).unwrap_or_default();
        self.set_status(StatusLevel::Info, format!("shelving {name} {rule} for {minutes:.0} min...{note}"));
    }

    fn unshelve(&mut self, cmds: &mut Vec<Command>) {
        if self.refused_read_only("unshelve") {
            return;
        }
        let Some((loc, rule, name)) = self.alarm_target("unshelve") else { return };
        if !self.operator.get(&(loc.clone(), Some(rule))).is_some_and(|s| s.is_shelved(self.now)) {
            self.set_status(StatusLevel::Info, format!("{name} {rule} is not shelved"));
            return;
        }
        cmds.push(Command::Operator(self.action(&loc, Some(rule), ActionKind::Unshelve, "")));
        self.set_status(StatusLevel::Info, format!("unshelving {name} {rule}..."));
    }

    /// The substation an out-of-service action is for: the selected alarm's in the alarm
    /// view, else the selected substation.
    fn site_target(&mut self, what: &str) -> Option<(String, String)> {
        let loc = match self.view {
            View::Alarms => self.selected_alarm().map(|a| a.alert.location.clone()),
            _ => self.selected.clone(),
        };
        match loc {
            Some(l) => {
                let name = sanitize_for_terminal(&l);
                Some((l, name))
            }
            None => {
                self.set_status(StatusLevel::Error, format!("{what}: no substation selected"));
                None
            }
        }
    }

    /// `O`: asks for the reason in the `:` prompt (`oos <reason>`).
    fn ask_out_of_service(&mut self) {
        if self.refused_read_only("out of service") {
            return;
        }
        if self.site_target("out of service").is_some() {
            self.command_line = "oos ".to_string();
            self.prompt = Some(Prompt::Command);
        }
    }

    fn out_of_service(&mut self, reason: &str, cmds: &mut Vec<Command>) {
        if self.refused_read_only("out of service") {
            return;
        }
        let Some((loc, name)) = self.site_target("out of service") else { return };
        let reason = sanitize_for_terminal(reason.trim());
        if reason.is_empty() {
            self.set_status(StatusLevel::Error, "out of service needs a reason: type it after :oos (e.g. :oos breaker maintenance)");
            return;
        }
        cmds.push(Command::Operator(self.action(&loc, None, ActionKind::OutOfService, &reason)));
        self.set_status(StatusLevel::Info, format!("taking {name} out of service..."));
    }

    fn return_to_service(&mut self, cmds: &mut Vec<Command>) {
        if self.refused_read_only("return to service") {
            return;
        }
        let Some((loc, name)) = self.site_target("return to service") else { return };
        if !self.site_state(&loc).is_some_and(|s| s.out_of_service) {
            self.set_status(StatusLevel::Info, format!("{name} is not out of service"));
            return;
        }
        cmds.push(Command::Operator(self.action(&loc, None, ActionKind::ReturnToService, "")));
        self.set_status(StatusLevel::Info, format!("returning {name} to service..."));
    }

    /// The store's answer: the stored state is used at once (the next poll confirms it).
    fn operator_done(&mut self, action: OperatorAction, result: Result<OperatorState, String>, cmds: &mut Vec<Command>) {
        let verb = alarm_ops::verb(&action.kind);
        let target = match action.rule {
            Some(rule) => format!("{} {rule}", sanitize_for_terminal(&action.location)),
            None => sanitize_for_terminal(&action.location),
        };
        match result {
            Ok(state) => {
                self.operator.insert((state.location.clone(), state.rule), state);
                self.refresh_alarm_activity();
                let text = sanitize_for_terminal(&operator::describe(&action));
                self.set_status(StatusLevel::Info, text.strip_prefix("operator ").unwrap_or(&text).to_string());
                cmds.push(Command::Refresh);
            }
            Err(e) => self.set_status(StatusLevel::Error, format!("{verb} {target} refused: {}", sanitize_for_terminal(&e))),
        }
    }

    fn move_by(&mut self, delta: isize) {
        match self.view {
            View::Overview | View::Detail | View::Heatmap => {
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
                let max = self.visible_logs().len().saturating_sub(self.log_rows()) as isize;
                self.log_scroll = (self.log_scroll as isize).saturating_sub(delta).clamp(0, max) as usize;
                if self.log_scroll == 0 {
                    self.log_unseen = 0;
                }
            }
        }
        self.keep_selection_visible();
    }

    fn after_filter_change(&mut self) {
        self.after_filter_change_in(self.view);
    }

    fn after_filter_change_in(&mut self, view: View) {
        match view {
            View::Overview | View::Detail | View::Heatmap => {
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

/// The list index drawn at screen row `y`, when a row of the list is there.
fn row_at(y: u16, first: u16, rows: usize, offset: usize, len: usize) -> Option<usize> {
    let line = y.checked_sub(first)? as usize;
    (line < rows).then_some(offset + line).filter(|i| *i < len)
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
