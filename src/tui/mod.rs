//! The terminal dashboard: what an operator watches all day, often over SSH.
//!
//! State ([`app::App`]) is changed only by [`app::App::update`] from [`msg::Msg`]s;
//! rendering ([`view::render`]) is a pure function of the state; data collection
//! ([`collect`]) runs in tokio tasks that talk to the store and log traits and send
//! messages over a channel. The UI loop here owns the state and redraws only when
//! something changed, or once a second for the age column.

pub mod alarm_ops;
pub mod app;
pub mod collect;
pub mod cursor;
pub mod export;
pub mod fleet;
pub mod heatmap;
pub mod keys;
pub mod layout;
pub mod msg;
pub mod terminal;
#[doc(hidden)]
pub mod testing;
pub mod theme;
pub mod view;

pub use app::{App, AppConfig};
pub use keys::{Action, KeyMap, load_keymap};
pub use msg::{Command, Msg};
pub use theme::Theme;

use crate::backend::{LogSource, SharedClock, SharedStore};
use futures::StreamExt;
use std::time::Duration;
use tokio::sync::{Notify, mpsc, watch};
use tokio::task::JoinSet;

/// Everything the dashboard needs besides its data sources.
#[derive(Debug, Clone)]
pub struct DashboardOptions {
    /// No box drawing, braille or block characters (see [`detect_ascii`]).
    pub ascii: bool,
    /// No colours at all (see [`no_color_from_env`]).
    pub no_color: bool,
    /// How often the store is polled.
    pub poll_interval: Duration,
    /// Interval of the readings; data older than two intervals is marked stale.
    pub data_interval_minutes: u32,
    /// Disables reprocessing.
    pub read_only: bool,
    pub keys: KeyMap,
    pub analysis: crate::config::AnalysisConfig,
    /// Shown in the title bar after "gridwatch" (e.g. "demo").
    pub title: String,
    /// Where `e` writes CSV exports.
    pub export_dir: std::path::PathBuf,
    /// Colours for the terminal's background (NO_COLOR still turns colour off).
    pub palette: theme::Palette,
    /// Capture the mouse (wheel, clicks on tabs and rows).
    pub mouse: bool,
}

impl Default for DashboardOptions {
    fn default() -> Self {
        Self {
            ascii: detect_ascii(),
            no_color: no_color_from_env(),
            poll_interval: Duration::from_secs(1),
            data_interval_minutes: 15,
            read_only: false,
            keys: KeyMap::default(),
            analysis: crate::config::AnalysisConfig::default(),
            title: String::new(),
            export_dir: std::path::PathBuf::from("."),
            palette: theme::Palette::default(),
            mouse: false,
        }
    }
}

/// True when the locale does not promise UTF-8 (LC_ALL, else LC_CTYPE, else LANG;
/// unset means the C locale): jump hosts with LANG=C get the ASCII mode.
pub fn detect_ascii() -> bool {
    let var = |k: &str| std::env::var(k).ok();
    ascii_for_locale(var("LC_ALL").as_deref(), var("LC_CTYPE").as_deref(), var("LANG").as_deref())
}

/// The locale rule of [`detect_ascii`], on explicit values.
pub fn ascii_for_locale(lc_all: Option<&str>, lc_ctype: Option<&str>, lang: Option<&str>) -> bool {
    let effective = [lc_all, lc_ctype, lang].into_iter().flatten().find(|v| !v.is_empty());
    match effective {
        Some(v) => {
            let v = v.to_ascii_lowercase();
            !(v.contains("utf-8") || v.contains("utf8"))
        }
        None => true,
    }
}

/// `NO_COLOR` set to anything non-empty (no-color.org).
pub fn no_color_from_env() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}

/// A store and its log, connected.
pub struct Connected {
    pub store: SharedStore,
    pub logs: Box<dyn LogSource>,
    /// The title bar text for it (names the backend, and an endpoint that is not AWS's).
    pub title: String,
}

/// A backend the dashboard can be switched to with `:source NAME` (configured under
/// `[[dashboard.sources]]`): connected only when chosen. Building the store and its log
/// is the caller's (`cli::dashboard`); the UI only asks for it by name.
#[async_trait::async_trait]
pub trait Source: Send + Sync {
    fn name(&self) -> &str;
    async fn connect(&self) -> anyhow::Result<Connected>;
}

/// Runs the dashboard until the operator quits (or SIGTERM/SIGHUP). The terminal is
/// restored on every exit path, including panics.
pub async fn run(
    opts: DashboardOptions,
    store: SharedStore,
    logs: Box<dyn LogSource>,
    clock: SharedClock,
) -> anyhow::Result<()> {
    let title = opts.title.clone();
    run_sources(opts, Connected { store, logs, title }, String::new(), Vec::new(), clock).await
}

/// [`run`] on `first` (the source named `current`), with `sources` to switch between.
pub async fn run_sources(
    opts: DashboardOptions,
    first: Connected,
    current: String,
    sources: Vec<std::sync::Arc<dyn Source>>,
    clock: SharedClock,
) -> anyhow::Result<()> {
    let Connected { store, logs, title } = first;
    let cfg = AppConfig {
        theme: Theme::new(!opts.no_color, opts.ascii).with_palette(opts.palette),
        data_interval_minutes: opts.data_interval_minutes,
        read_only: opts.read_only,
        keys: opts.keys.clone(),
        analysis: opts.analysis.clone(),
        title,
        store_name: store.describe(),
        export_dir: opts.export_dir.clone(),
        operator: crate::cli::alarms::operator_name(None),
        mouse: opts.mouse,
        source: current,
        sources: sources.iter().map(|s| s.name().to_string()).collect(),
    };
    let mut app = App::new(cfg, clock.now());
    let mut guard = terminal::setup(opts.mouse)?;
    ui_loop(&mut app, &mut guard.terminal, &opts, store, logs, &sources, clock).await
    // `guard` drops here: terminal restored.
}

/// The data collection of one source: the store poller, the log tailer and the signal
/// watcher, all sending on one channel. Dropping the set stops them.
fn collectors(
    opts: &DashboardOptions,
    store: &SharedStore,
    logs: Box<dyn LogSource>,
    clock: &SharedClock,
    interest: watch::Receiver<app::Interest>,
    refresh: std::sync::Arc<Notify>,
) -> (JoinSet<()>, mpsc::Sender<Msg>, mpsc::Receiver<Msg>) {
    let (tx, rx) = mpsc::channel::<Msg>(1024);
    let mut tasks = JoinSet::new();
    tasks.spawn(collect::store_poller(
        store.clone(),
        clock.clone(),
        tx.clone(),
        interest,
        refresh,
        opts.poll_interval,
        chrono::Duration::minutes(i64::from(opts.data_interval_minutes.max(1))),
    ));
    let log_every = (opts.poll_interval / 2).clamp(Duration::from_millis(200), Duration::from_secs(1));
    tasks.spawn(collect::log_tailer(logs, tx.clone(), log_every));
    #[cfg(unix)]
    tasks.spawn(collect::signals(tx.clone()));
    (tasks, tx, rx)
}

#[allow(clippy::too_many_arguments)]
async fn ui_loop(
    app: &mut App,
    term: &mut terminal::Term,
    opts: &DashboardOptions,
    mut store: SharedStore,
    logs: Box<dyn LogSource>,
    sources: &[std::sync::Arc<dyn Source>],
    clock: SharedClock,
) -> anyhow::Result<()> {
    let size = term.size()?;
    app.update(Msg::Resize(size.width, size.height));

    let (interest_tx, interest_rx) = watch::channel(app.interest());
    let refresh = std::sync::Arc::new(Notify::new());
    // Dropping the set (any return below, or a switch of source) aborts every task, and
    // a new channel per source means nothing of the old one arrives after a switch.
    let (mut tasks, mut tx, mut rx) = collectors(opts, &store, logs, &clock, interest_rx, refresh.clone());
    // Terminal input arrives as a stream in the select! below (no polling thread).
    let mut events = crossterm::event::EventStream::new();

    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);

    term.draw(|f| view::render(app, f))?;
    app.dirty = false;
    loop {
        let first = tokio::select! {
            m = rx.recv() => match m {
                Some(m) => m,
                None => return Ok(()),
            },
            _ = tick.tick() => Msg::Tick(clock.now()),
            ev = events.next() => match ev {
                Some(Ok(ev)) => match collect::terminal_event(ev) {
                    Some(m) => m,
                    None => continue,
                },
                Some(Err(e)) => anyhow::bail!("reading the terminal failed: {e}"),
                None => return Ok(()),
            },
            Some(done) = tasks.join_next() => {
                if let Err(e) = done
                    && e.is_panic()
                {
                    anyhow::bail!("a data collection task crashed; see the message above");
                }
                continue;
            }
        };
        let mut cmds = app.update(first);
        // Apply everything already queued before drawing once (bounded, so keys stay responsive).
        for _ in 0..256 {
            match rx.try_recv() {
                Ok(m) => cmds.extend(app.update(m)),
                Err(_) => break,
            }
        }
        for c in cmds {
            match c {
                Command::Quit => return Ok(()),
                Command::Reprocess(loc) => {
                    tasks.spawn(collect::reprocess(store.clone(), loc, tx.clone()));
                }
                Command::Refresh => refresh.notify_one(),
                Command::Operator(action) => {
                    tasks.spawn(collect::operator_action(store.clone(), action, tx.clone()));
                }
                Command::SwitchSource(name) => {
                    // Say so before a connection that may take seconds (SDK credential chain).
                    term.draw(|f| view::render(app, f))?;
                    let Some(source) = sources.iter().find(|s| s.name() == name) else { continue };
                    match source.connect().await {
                        Ok(c) => {
                            app.update(Msg::SourceSwitched { name, title: c.title, store_name: c.store.describe() });
                            store = c.store;
                            interest_tx.send_replace(app.interest());
                            (tasks, tx, rx) =
                                collectors(opts, &store, c.logs, &clock, interest_tx.subscribe(), refresh.clone());
                        }
                        Err(e) => {
                            app.update(Msg::SourceFailed { name, error: format!("{e:#}") });
                        }
                    }
                }
                Command::Export { path, contents } => {
                    let result = std::fs::write(&path, contents.as_bytes())
                        .map(|()| format!("exported {} lines to {}", contents.lines().count(), path.display()))
                        .map_err(|e| format!("{}: {e}", path.display()));
                    app.update(Msg::Exported(result));
                }
            }
        }
        let want = app.interest();
        interest_tx.send_if_modified(|cur| {
            if *cur != want {
                *cur = want;
                true
            } else {
                false
            }
        });
        if app.dirty {
            term.draw(|f| view::render(app, f))?;
            app.dirty = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locale_rules() {
        assert!(ascii_for_locale(None, None, None));
        assert!(ascii_for_locale(None, None, Some("C")));
        assert!(!ascii_for_locale(None, None, Some("en_US.UTF-8")));
        assert!(!ascii_for_locale(None, None, Some("de_DE.utf8")));
        // LC_ALL wins over LANG.
        assert!(ascii_for_locale(Some("POSIX"), None, Some("en_US.UTF-8")));
        assert!(!ascii_for_locale(Some(""), Some("C.UTF-8"), Some("C")));
    }
}
