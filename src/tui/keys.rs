//! Key bindings: which key does what, overridable from `keys.toml` in the XDG config dir.
//!
//! The file maps action names to one key or a list of keys:
//! ```toml
//! quit = "q"
//! up = ["Up", "k"]
//! reprocess = "Ctrl-r"
//! ```
//! An action named in the file loses its default keys; a key the user binds wins over a
//! default binding of another action. Ctrl-C always quits (a way out that cannot be
//! configured away).

use anyhow::{Context, bail};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// Everything a key can do in the dashboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Action {
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    Open,
    Back,
    NextView,
    PrevView,
    Filter,
    Reprocess,
    Ack,
    AckAll,
    Shelve,
    Unshelve,
    OutOfService,
    ReturnToService,
    Pause,
    TimeRange,
    ZoomIn,
    ZoomOut,
    Earlier,
    Later,
    Live,
    Command,
    Left,
    Right,
    Sort,
    Export,
    Metric,
    FleetHeatmap,
    Search,
    SearchNext,
    SearchPrev,
    LogWrap,
    LogLevel,
    LogSelected,
    Help,
    Quit,
}

impl Action {
    pub const ALL: [Action; 40] = [
        Action::Up,
        Action::Down,
        Action::PageUp,
        Action::PageDown,
        Action::Top,
        Action::Bottom,
        Action::Open,
        Action::Back,
        Action::NextView,
        Action::PrevView,
        Action::Filter,
        Action::Reprocess,
        Action::Ack,
        Action::AckAll,
        Action::Shelve,
        Action::Unshelve,
        Action::OutOfService,
        Action::ReturnToService,
        Action::Pause,
        Action::TimeRange,
        Action::ZoomIn,
        Action::ZoomOut,
        Action::Earlier,
        Action::Later,
        Action::Live,
        Action::Command,
        Action::Left,
        Action::Right,
        Action::Sort,
        Action::Export,
        Action::Metric,
        Action::FleetHeatmap,
        Action::Search,
        Action::SearchNext,
        Action::SearchPrev,
        Action::LogWrap,
        Action::LogLevel,
        Action::LogSelected,
        Action::Help,
        Action::Quit,
    ];

    /// The name used in `keys.toml`.
    pub fn name(self) -> &'static str {
        match self {
            Action::Up => "up",
            Action::Down => "down",
            Action::PageUp => "page_up",
            Action::PageDown => "page_down",
            Action::Top => "top",
            Action::Bottom => "bottom",
            Action::Open => "open",
            Action::Back => "back",
            Action::NextView => "next_view",
            Action::PrevView => "prev_view",
            Action::Filter => "filter",
            Action::Reprocess => "reprocess",
            Action::Ack => "ack",
            Action::AckAll => "ack_all",
            Action::Shelve => "shelve",
            Action::Unshelve => "unshelve",
            Action::OutOfService => "out_of_service",
            Action::ReturnToService => "return_to_service",
            Action::Pause => "pause",
            Action::TimeRange => "time_range",
            Action::ZoomIn => "zoom_in",
            Action::ZoomOut => "zoom_out",
            Action::Earlier => "earlier",
            Action::Later => "later",
            Action::Live => "live",
            Action::Command => "command",
            Action::Left => "left",
            Action::Right => "right",
            Action::Sort => "sort",
            Action::Export => "export",
            Action::Metric => "metric",
            Action::FleetHeatmap => "fleet_heatmap",
            Action::Search => "search",
            Action::SearchNext => "search_next",
            Action::SearchPrev => "search_prev",
            Action::LogWrap => "log_wrap",
            Action::LogLevel => "log_level",
            Action::LogSelected => "log_selected",
            Action::Help => "help",
            Action::Quit => "quit",
        }
    }

    /// One line for the help overlay.
    pub fn describe(self) -> &'static str {
        match self {
            Action::Up => "move up / scroll back",
            Action::Down => "move down / scroll forward",
            Action::PageUp => "page up",
            Action::PageDown => "page down",
            Action::Top => "first row",
            Action::Bottom => "last row (logs: follow again)",
            Action::Open => "open detail of the selected substation",
            Action::Back => "back / close / clear filter",
            Action::NextView => "next view",
            Action::PrevView => "previous view",
            Action::Filter => "filter the current view by text",
            Action::Reprocess => "reprocess selected substation (asks y/n)",
            Action::Ack => "acknowledge (overview: whole substation)",
            Action::AckAll => "acknowledge every alarm listed (alarm view)",
            Action::Shelve => "shelve the selected alarm 60 min (:shelve 120 for longer)",
            Action::Unshelve => "unshelve the selected alarm",
            Action::OutOfService => "take the substation out of service (asks a reason)",
            Action::ReturnToService => "return the substation to service",
            Action::Pause => "pause / resume updates and log follow",
            Action::TimeRange => "window 24 h / 7 d / 30 d",
            Action::ZoomIn => "zoom in (shorter window)",
            Action::ZoomOut => "zoom out (longer window)",
            Action::Earlier => "move the window back in time (half a window)",
            Action::Later => "move the window forward in time",
            Action::Live => "return to live (follow the newest data)",
            Action::Command => ": command (goto <time>, live, zoom 7d, sort load, export)",
            Action::Left => "detail: crosshair earlier; logs: scroll left",
            Action::Right => "detail: crosshair later; logs: scroll right",
            Action::Sort => "overview order: worst, load, name, age",
            Action::Export => "export the current view to CSV",
            Action::Metric => "heatmap metric: load, voltage, renewable, alarms",
            Action::FleetHeatmap => "heatmap: selected substation / whole fleet",
            Action::Search => "logs: search (highlight)",
            Action::SearchNext => "logs: next match",
            Action::SearchPrev => "logs: previous match",
            Action::LogWrap => "logs: wrap long lines / scroll sideways",
            Action::LogLevel => "logs: lowest level shown (all, info, warn, error)",
            Action::LogSelected => "logs: only the selected substation",
            Action::Help => "this help",
            Action::Quit => "quit",
        }
    }

    fn from_name(s: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.name() == s)
    }
}

/// One key with its modifiers (Shift is ignored for characters: `?` arrives with Shift).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyBinding {
    pub code: KeyCode,
    pub ctrl: bool,
    pub alt: bool,
}

impl KeyBinding {
    pub const fn plain(code: KeyCode) -> Self {
        Self { code, ctrl: false, alt: false }
    }
    pub const fn ch(c: char) -> Self {
        Self::plain(KeyCode::Char(c))
    }

    pub fn matches(&self, ev: &KeyEvent) -> bool {
        let code = match ev.code {
            // Terminals report Shift-Tab as BackTab; keep both spellings equal.
            KeyCode::Tab if ev.modifiers.contains(KeyModifiers::SHIFT) => KeyCode::BackTab,
            c => c,
        };
        code == self.code
            && ev.modifiers.contains(KeyModifiers::CONTROL) == self.ctrl
            && ev.modifiers.contains(KeyModifiers::ALT) == self.alt
    }

    /// Parses `q`, `?`, `Up`, `Enter`, `Ctrl-r`, `Alt-x`, `F5`, `Space`, `PageDown`...
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut rest = s.trim();
        let (mut ctrl, mut alt) = (false, false);
        loop {
            let lower = rest.to_ascii_lowercase();
            if rest.chars().count() > 2 && (lower.starts_with("ctrl-") || lower.starts_with("ctrl+")) {
                ctrl = true;
                rest = &rest[5..];
            } else if rest.chars().count() > 2 && (lower.starts_with("c-") || lower.starts_with("c+")) {
                ctrl = true;
                rest = &rest[2..];
            } else if rest.chars().count() > 2 && (lower.starts_with("alt-") || lower.starts_with("alt+")) {
                alt = true;
                rest = &rest[4..];
            } else {
                break;
            }
        }
        let mut chars = rest.chars();
        let code = match (chars.next(), chars.next()) {
            (Some(c), None) if !c.is_control() => KeyCode::Char(c),
            _ => match rest.to_ascii_lowercase().as_str() {
                "up" => KeyCode::Up,
                "down" => KeyCode::Down,
                "left" => KeyCode::Left,
                "right" => KeyCode::Right,
                "enter" | "return" => KeyCode::Enter,
                "esc" | "escape" => KeyCode::Esc,
                "tab" => KeyCode::Tab,
                "backtab" | "shift-tab" => KeyCode::BackTab,
                "home" => KeyCode::Home,
                "end" => KeyCode::End,
                "pageup" | "pgup" => KeyCode::PageUp,
                "pagedown" | "pgdn" => KeyCode::PageDown,
                "space" => KeyCode::Char(' '),
                "backspace" => KeyCode::Backspace,
                "delete" | "del" => KeyCode::Delete,
                "insert" | "ins" => KeyCode::Insert,
                f if f.len() >= 2 && f.starts_with('f') => match f[1..].parse::<u8>() {
                    Ok(n @ 1..=12) => KeyCode::F(n),
                    _ => return Err(format!("{s:?} is not a key")),
                },
                _ => {
                    return Err(format!(
                        "{s:?} is not a key (use a single character, Up, Down, Left, Right, Enter, Esc, Tab, \
                         BackTab, Home, End, PageUp, PageDown, Space, Backspace, F1-F12, optionally with Ctrl- or Alt-)"
                    ));
                }
            },
        };
        Ok(Self { code, ctrl, alt })
    }
}

impl fmt::Display for KeyBinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.ctrl {
            f.write_str("C-")?;
        }
        if self.alt {
            f.write_str("M-")?;
        }
        match self.code {
            KeyCode::Char(' ') => f.write_str("Space"),
            KeyCode::Char(c) => write!(f, "{c}"),
            KeyCode::Up => f.write_str("Up"),
            KeyCode::Down => f.write_str("Down"),
            KeyCode::Left => f.write_str("Left"),
            KeyCode::Right => f.write_str("Right"),
            KeyCode::Enter => f.write_str("Enter"),
            KeyCode::Esc => f.write_str("Esc"),
            KeyCode::Tab => f.write_str("Tab"),
            KeyCode::BackTab => f.write_str("S-Tab"),
            KeyCode::Home => f.write_str("Home"),
            KeyCode::End => f.write_str("End"),
            KeyCode::PageUp => f.write_str("PgUp"),
            KeyCode::PageDown => f.write_str("PgDn"),
            KeyCode::Backspace => f.write_str("BS"),
            KeyCode::Delete => f.write_str("Del"),
            KeyCode::Insert => f.write_str("Ins"),
            KeyCode::F(n) => write!(f, "F{n}"),
            other => write!(f, "{other:?}"),
        }
    }
}

/// Action -> keys. Lookups go through [`KeyMap::action_for`].
#[derive(Debug, Clone, PartialEq)]
pub struct KeyMap {
    bindings: BTreeMap<Action, Vec<KeyBinding>>,
}

impl Default for KeyMap {
    fn default() -> Self {
        use KeyBinding as K;
        use KeyCode::*;
        let table: [(Action, Vec<KeyBinding>); 40] = [
            (Action::Up, vec![K::plain(Up), K::ch('k')]),
            (Action::Down, vec![K::plain(Down), K::ch('j')]),
            (Action::PageUp, vec![K::plain(PageUp)]),
            (Action::PageDown, vec![K::plain(PageDown)]),
            (Action::Top, vec![K::plain(Home), K::ch('g')]),
            (Action::Bottom, vec![K::plain(End), K::ch('G')]),
            (Action::Open, vec![K::plain(Enter)]),
            (Action::Back, vec![K::plain(Esc)]),
            (Action::NextView, vec![K::plain(Tab)]),
            (Action::PrevView, vec![K::plain(BackTab)]),
            (Action::Filter, vec![K::ch('/')]),
            (Action::Reprocess, vec![K::ch('r')]),
            (Action::Ack, vec![K::ch('a')]),
            (Action::AckAll, vec![K::ch('A')]),
            (Action::Shelve, vec![K::ch('S')]),
            (Action::Unshelve, vec![K::ch('U')]),
            (Action::OutOfService, vec![K::ch('O')]),
            (Action::ReturnToService, vec![K::ch('I')]),
            (Action::Pause, vec![K::ch('p')]),
            (Action::TimeRange, vec![K::ch('t')]),
            (Action::ZoomIn, vec![K::ch('+'), K::ch('=')]),
            (Action::ZoomOut, vec![K::ch('-')]),
            (Action::Earlier, vec![K::ch('[')]),
            (Action::Later, vec![K::ch(']')]),
            (Action::Live, vec![K::ch('L')]),
            (Action::Command, vec![K::ch(':')]),
            (Action::Left, vec![K::plain(Left), K::ch('h')]),
            (Action::Right, vec![K::plain(Right), K::ch('l')]),
            (Action::Sort, vec![K::ch('s')]),
            (Action::Export, vec![K::ch('e')]),
            (Action::Metric, vec![K::ch('m')]),
            (Action::FleetHeatmap, vec![K::ch('F')]),
            (Action::Search, vec![K::ch('f')]),
            (Action::SearchNext, vec![K::ch('n')]),
            (Action::SearchPrev, vec![K::ch('N')]),
            (Action::LogWrap, vec![K::ch('w')]),
            (Action::LogLevel, vec![K::ch('v')]),
            (Action::LogSelected, vec![K::ch('o')]),
            (Action::Help, vec![K::ch('?'), K::plain(F(1))]),
            (Action::Quit, vec![K::ch('q')]),
        ];
        Self { bindings: table.into_iter().collect() }
    }
}

impl KeyMap {
    /// The action bound to a key event, if any. Ctrl-C is always Quit.
    pub fn action_for(&self, ev: &KeyEvent) -> Option<Action> {
        if ev.code == KeyCode::Char('c') && ev.modifiers.contains(KeyModifiers::CONTROL) {
            return Some(Action::Quit);
        }
        Action::ALL.into_iter().find(|a| self.keys(*a).iter().any(|k| k.matches(ev)))
    }

    pub fn keys(&self, action: Action) -> &[KeyBinding] {
        self.bindings.get(&action).map(Vec::as_slice).unwrap_or(&[])
    }

    /// The first key of an action, for the key bar ("" when unbound).
    pub fn label(&self, action: Action) -> String {
        self.keys(action).first().map(ToString::to_string).unwrap_or_default()
    }

    /// All keys of an action joined with `/`, for the help overlay.
    pub fn labels(&self, action: Action) -> String {
        self.keys(action).iter().map(ToString::to_string).collect::<Vec<_>>().join("/")
    }

    /// Parses a keys file; `origin` names the file in error messages.
    pub fn from_toml_str(text: &str, origin: &str) -> anyhow::Result<Self> {
        let table: toml::Table = text.parse().with_context(|| format!("keys file {origin}: not valid TOML"))?;
        let mut user: BTreeMap<Action, Vec<KeyBinding>> = BTreeMap::new();
        for (name, value) in &table {
            let Some(action) = Action::from_name(name) else {
                let names: Vec<_> = Action::ALL.iter().map(|a| a.name()).collect();
                bail!("keys file {origin}: unknown action {name:?} (expected one of: {})", names.join(", "));
            };
            let specs: Vec<&str> = match value {
                toml::Value::String(s) => vec![s.as_str()],
                toml::Value::Array(items) => items
                    .iter()
                    .map(|v| v.as_str().ok_or(()))
                    .collect::<Result<_, _>>()
                    .map_err(|_| anyhow::anyhow!("keys file {origin}: {name}: expected a key or a list of keys"))?,
                _ => bail!("keys file {origin}: {name}: expected a key or a list of keys"),
            };
            let mut keys = Vec::new();
            for spec in specs {
                keys.push(KeyBinding::parse(spec).map_err(|e| anyhow::anyhow!("keys file {origin}: {name}: {e}"))?);
            }
            user.insert(action, keys);
        }
        // Two user bindings on one key is ambiguous: refuse rather than guess.
        let mut seen: Vec<(KeyBinding, Action)> = Vec::new();
        for (action, keys) in &user {
            for k in keys {
                if let Some((_, other)) = seen.iter().find(|(s, _)| s == k) {
                    bail!("keys file {origin}: key {k} is bound to both {:?} and {:?}", other.name(), action.name());
                }
                seen.push((*k, *action));
            }
        }
        let mut map = KeyMap::default();
        for keys in map.bindings.values_mut() {
            keys.retain(|k| !seen.iter().any(|(s, _)| s == k));
        }
        map.bindings.extend(user);
        Ok(map)
    }
}

/// Where the keys file lives by default: `$XDG_CONFIG_HOME/gridwatch/keys.toml`.
pub fn default_keymap_path() -> Option<PathBuf> {
    dirs::config_dir().map(|d| d.join("gridwatch").join("keys.toml"))
}

/// Loads key bindings. With `path`, that file must exist; without, the default file is
/// used when present and the defaults otherwise.
pub fn load_keymap(path: Option<&Path>) -> anyhow::Result<KeyMap> {
    let (path, must_exist) = match path {
        Some(p) => (p.to_path_buf(), true),
        None => match default_keymap_path() {
            Some(p) => (p, false),
            None => return Ok(KeyMap::default()),
        },
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => KeyMap::from_toml_str(&text, &path.display().to_string()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !must_exist => Ok(KeyMap::default()),
        Err(e) => Err(anyhow::anyhow!("keys file {}: {e}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    #[test]
    fn defaults_cover_the_documented_keys() {
        let m = KeyMap::default();
        assert_eq!(m.action_for(&key(KeyCode::Char('j'))), Some(Action::Down));
        assert_eq!(m.action_for(&key(KeyCode::Up)), Some(Action::Up));
        assert_eq!(m.action_for(&KeyEvent::new(KeyCode::Char('?'), KeyModifiers::SHIFT)), Some(Action::Help));
        assert_eq!(m.action_for(&KeyEvent::new(KeyCode::Tab, KeyModifiers::SHIFT)), Some(Action::PrevView));
        assert_eq!(m.action_for(&KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)), Some(Action::Quit));
        assert_eq!(m.action_for(&key(KeyCode::Char('x'))), None);
        // Ctrl-r is not r.
        assert_eq!(m.action_for(&KeyEvent::new(KeyCode::Char('r'), KeyModifiers::CONTROL)), None);
    }

    #[test]
    fn user_file_overrides_and_steals_keys() {
        let m = KeyMap::from_toml_str("reprocess = \"R\"\nack = [\"q\", \"Ctrl-a\"]\n", "t.toml").unwrap();
        assert_eq!(m.action_for(&key(KeyCode::Char('r'))), None);
        assert_eq!(m.action_for(&key(KeyCode::Char('R'))), Some(Action::Reprocess));
        assert_eq!(m.action_for(&key(KeyCode::Char('q'))), Some(Action::Ack));
        assert_eq!(m.action_for(&KeyEvent::new(KeyCode::Char('a'), KeyModifiers::CONTROL)), Some(Action::Ack));
        assert!(m.keys(Action::Quit).is_empty());
    }

    #[test]
    fn bad_files_name_the_file_and_the_key() {
        let e = KeyMap::from_toml_str("qiut = \"q\"", "/x/keys.toml").unwrap_err().to_string();
        assert!(e.contains("/x/keys.toml") && e.contains("qiut"), "{e}");
        let e = KeyMap::from_toml_str("quit = \"Hyper-q\"", "/x/keys.toml").unwrap_err().to_string();
        assert!(e.contains("/x/keys.toml") && e.contains("quit") && e.contains("Hyper-q"), "{e}");
        let e = KeyMap::from_toml_str("quit = 3", "k.toml").unwrap_err().to_string();
        assert!(e.contains("quit"), "{e}");
        let e = KeyMap::from_toml_str("quit = \"x\"\nack = \"x\"", "k.toml").unwrap_err().to_string();
        assert!(e.contains("both"), "{e}");
        let e = KeyMap::from_toml_str("quit = [", "k.toml").unwrap_err();
        assert!(format!("{e:#}").contains("k.toml"), "{e:#}");
    }

    #[test]
    fn parse_named_keys() {
        assert_eq!(KeyBinding::parse("PageDown").unwrap(), KeyBinding::plain(KeyCode::PageDown));
        assert_eq!(KeyBinding::parse("F5").unwrap(), KeyBinding::plain(KeyCode::F(5)));
        assert_eq!(KeyBinding::parse("C-x").unwrap(), KeyBinding { code: KeyCode::Char('x'), ctrl: true, alt: false });
        assert_eq!(KeyBinding::parse("-").unwrap(), KeyBinding::ch('-'));
        assert!(KeyBinding::parse("F13").is_err());
        assert!(KeyBinding::parse("").is_err());
    }

    #[test]
    fn load_keymap_missing_default_is_ok_explicit_missing_is_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("keys.toml");
        let e = load_keymap(Some(&p)).unwrap_err().to_string();
        assert!(e.contains("keys.toml"), "{e}");
        std::fs::write(&p, "quit = \"Q\"").unwrap();
        let m = load_keymap(Some(&p)).unwrap();
        assert_eq!(m.label(Action::Quit), "Q");
    }
}
