//! Rendering: a pure function of [`App`]. Layout, title bar, status line and key bar
//! live here; each view has its own module.

mod alarms;
mod detail;
mod dialog;
mod fleet;
mod heatmap;
mod help;
mod logs;
mod overview;

use super::app::{App, Prompt, StatusLevel, View};
use super::cursor::WindowMode;
use super::keys::{Action, KeyBinding};
use super::layout::{self, MIN_HEIGHT, MIN_WIDTH};
use super::theme::Theme;
use crate::model::HourlyRollup;
use chrono::{DateTime, Duration, Utc};
use crossterm::event::KeyCode;
use ratatui::Frame;
use ratatui::layout::{Alignment, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

/// Draws the whole screen for `app`.
pub fn render(app: &App, frame: &mut Frame) {
    let theme = app.theme();
    let area = frame.area();
    if layout::too_small(area) {
        too_small(frame, area);
    } else {
        let areas = layout::screen(area, app.has_banner());
        title_bar(app, frame, areas.title);
        if let Some(banner) = areas.banner {
            banner_line(app, frame, banner);
        }
        match app.view {
            View::Overview => overview::render(app, frame, areas.body),
            View::Detail => detail::render(app, frame, areas.body),
            View::Heatmap => heatmap::render(app, frame, areas.body),
            View::Alarms => alarms::render(app, frame, areas.body),
            View::Logs => logs::render(app, frame, areas.body),
        }
        status_line(app, frame, areas.status);
        key_bar(app, frame, areas.keys);
        if app.help {
            help::render(app, frame, area);
        }
        if let Some(confirm) = &app.confirm {
            dialog::render(app, confirm, frame, area);
        }
    }
    theme.finish(frame.buffer_mut());
}

/// Log lines on screen (the log view has one header line).
pub fn log_rows(app: &App) -> usize {
    app.log_rows()
}

fn too_small(frame: &mut Frame, area: Rect) {
    let text = format!(
        "terminal too small: need {MIN_WIDTH}x{MIN_HEIGHT}, have {}x{}. Enlarge the window, or press q to quit.",
        area.width, area.height
    );
    let y = area.height.saturating_sub(3) / 2;
    let rect = Rect::new(area.x, area.y + y, area.width, area.height - y);
    frame.render_widget(Paragraph::new(text).wrap(Wrap { trim: true }).alignment(Alignment::Center), rect);
}

fn title_bar(app: &App, frame: &mut Frame, area: Rect) {
    let theme = app.theme();
    let (head, tabs) = app.title_tabs(area.width);
    let mut left = vec![Span::styled(head, theme.title())];
    left.push(Span::raw(" "));
    for (v, label) in tabs {
        if v == app.view {
            left.push(Span::styled(format!("[{label}]"), theme.selected()));
        } else {
            left.push(Span::raw(format!(" {label} ")));
        }
    }
    let left = Line::from(left);
    let room = (area.width as usize).saturating_sub(left.width() + 1);
    frame.render_widget(Paragraph::new(left), area);

    // Right side: the most that fits of the window ("24h 06-01 12:00" live,
    // "history · newest 2025-01-15 23:45 · 24h" anchored at old data).
    let paused = if app.paused { "PAUSED " } else { "" };
    let tail = window_label(app, room.saturating_sub(paused.len()));
    let mut right = Vec::new();
    if app.paused {
        right.push(Span::styled("PAUSED", theme.banner()));
        right.push(Span::raw(" "));
    }
    right.push(Span::raw(tail));
    let line = Line::from(right);
    let w = (line.width() as u16).min(area.width);
    let r = Rect::new(area.right() - w, area.y, w, 1);
    frame.render_widget(Clear, r);
    frame.render_widget(Paragraph::new(line), r);
}

/// The window's description, the longest variant that fits in `room` columns.
fn window_label(app: &App, room: usize) -> String {
    let theme = app.theme();
    let w = app.window();
    let zoom = app.cursor.zoom.label();
    let dot = if theme.ascii { "-" } else { "·" };
    let candidates = match w.mode {
        WindowMode::Live => vec![
            format!("{zoom} {} ", app.now.format("%m-%d %H:%M")),
            format!("{zoom} {} ", app.now.format("%H:%M")),
            format!("{zoom} "),
        ],
        WindowMode::Newest(n) => vec![
            format!("history {dot} newest {} {dot} {zoom} ", n.format("%Y-%m-%d %H:%M")),
            format!("history {dot} newest {} {zoom} ", n.format("%m-%d %H:%M")),
            format!("hist {} {zoom} ", n.format("%m-%d %H:%M")),
            format!("hist {zoom} "),
        ],
        WindowMode::Pinned => vec![
            format!("history {dot} until {} {dot} {zoom} ", w.end.format("%Y-%m-%d %H:%M")),
            format!("history {dot} until {} {zoom} ", w.end.format("%m-%d %H:%M")),
            format!("hist {} {zoom} ", w.end.format("%m-%d %H:%M")),
            format!("hist {zoom} "),
        ],
    };
    candidates.into_iter().find(|c| c.chars().count() <= room).unwrap_or_default()
}

fn banner_line(app: &App, frame: &mut Frame, area: Rect) {
    let theme = app.theme();
    let mut text = match (&app.banner, &app.log_error) {
        (Some(b), _) => format!(
            " ! store error: {} - retrying in {}s (attempt {})",
            theme.text(&b.error),
            b.retry_in.as_secs().max(1),
            b.attempt
        ),
        (None, Some(e)) => format!(" ! log error: {}", theme.text(e)),
        (None, None) => String::new(),
    };
    // The flood first: it is what the operator must act on.
    if let Some(n) = app.flood() {
        let sep = if text.is_empty() { "" } else { " |" };
        text = format!(" ALARM FLOOD: {n} in 10 min{sep}{text}");
    }
    frame.render_widget(Paragraph::new(text).style(theme.banner()), area);
}

fn status_line(app: &App, frame: &mut Frame, area: Rect) {
    let theme = app.theme();
    let line = if let Some(prompt) = app.prompt {
        let (label, hint) = match prompt {
            Prompt::Filter => (" filter /", "  Enter keeps, Esc clears"),
            Prompt::Search => (" search ", "  Enter finds, n/N next/previous, Esc clears"),
            Prompt::Command if app.prompt_text().starts_with("oos") => {
                (" :", "  type the reason, Enter takes the substation out of service, Esc cancels")
            }
            Prompt::Command => (" :", "  goto <time> | zoom 7d | shelve 120 | oos <why> | live | sort load | export"),
        };
        Line::from(vec![
            Span::styled(label, theme.key()),
            Span::raw(theme.text(app.prompt_text()).into_owned()),
            Span::styled("_", theme.selected()),
            Span::styled(hint, theme.dim()),
        ])
    } else if let Some(s) = &app.status {
        let style = match s.level {
            StatusLevel::Info => Style::new(),
            StatusLevel::Error => theme.status_style(crate::model::AlertStatus::Critical),
        };
        Line::from(Span::styled(format!(" {}", theme.text(&s.text)), style))
    } else if !app.jobs.is_empty() {
        let names: Vec<_> = app.jobs.iter().map(|j| crate::sanitize::sanitize_for_terminal(j)).collect();
        Line::from(format!(" reprocessing {}...", theme.text(&names.join(", "))))
    } else if app.paused {
        Line::from(format!(" paused: {} updates held, {} new log lines", app.held.len(), app.log_unseen))
    } else if !app.filter().is_empty() {
        Line::from(vec![
            Span::raw(format!(" filter: {}", theme.text(app.filter()))),
            Span::styled("  (Esc clears)", theme.dim()),
        ])
    } else {
        Line::default()
    };
    frame.render_widget(Paragraph::new(line), area);
}

/// Short key label for the bar: prefer a single character over a named key.
fn short_key(app: &App, action: Action) -> String {
    let keys = app.cfg.keys.keys(action);
    keys.iter()
        .find(|k| matches!(k.code, KeyCode::Char(_)) && !k.ctrl && !k.alt)
        .or(keys.first())
        .map(KeyBinding::to_string)
        .unwrap_or_default()
}

fn key_bar(app: &App, frame: &mut Frame, area: Rect) {
    let theme = app.theme();
    // (key, what, priority): when the bar is too narrow the highest numbers go first.
    let mut items: Vec<(String, &str, u8)> = vec![
        (short_key(app, Action::Help), "help", 0),
        (short_key(app, Action::NextView), "view", 1),
        (format!("{}/{}", short_key(app, Action::Down), short_key(app, Action::Up)), "move", 3),
        (short_key(app, Action::Open), "open", 4),
        (short_key(app, Action::Filter), "filter", 2),
    ];
    if !app.cfg.read_only {
        items.push((short_key(app, Action::Reprocess), "reprocess", 1));
    }
    items.push((short_key(app, Action::Ack), "ack", 1));
    items.push((short_key(app, Action::Pause), if app.paused { "resume" } else { "pause" }, 2));
    items.push((format!("{}/{}", short_key(app, Action::Earlier), short_key(app, Action::Later)), "time", 2));
    items.push((short_key(app, Action::TimeRange), app.cursor.zoom.cycle().label(), 3));
    if !app.window().is_live() {
        items.push((short_key(app, Action::Live), "live", 1));
    }
    match app.view {
        View::Overview => items.push((short_key(app, Action::Sort), "sort", 4)),
        View::Detail => items.push((format!("{}/{}", short_key(app, Action::Left), short_key(app, Action::Right)), "cursor", 3)),
        View::Heatmap => {
            items.push((short_key(app, Action::Metric), "metric", 2));
            items.push((short_key(app, Action::FleetHeatmap), if app.heat_fleet { "one" } else { "fleet" }, 3));
        }
        View::Logs => {
            items.push((short_key(app, Action::Search), "find", 2));
            items.push((short_key(app, Action::LogLevel), "level", 3));
            items.push((short_key(app, Action::LogWrap), "wrap", 4));
        }
        View::Alarms => {}
    }
    items.push((short_key(app, Action::Command), "cmd", 4));
    items.push((short_key(app, Action::Quit), "quit", 0));
    // "move" with both keys unbound would read "/".
    items.retain(|(k, what, _)| !(k.is_empty() || *what == "move" && k == "/"));
    let width =
        |items: &[(String, &str, u8)]| items.iter().map(|(k, w, _)| 2 + k.chars().count() + w.len()).sum::<usize>();
    while width(&items) > area.width as usize {
        let Some(worst) = items.iter().enumerate().max_by_key(|(i, it)| (it.2, *i)).map(|(i, _)| i) else { break };
        items.remove(worst);
    }
    let mut spans = Vec::new();
    for (key, what, _) in items {
        spans.push(Span::raw(" "));
        spans.push(Span::styled(key, theme.key()));
        spans.push(Span::raw(format!(":{what}")));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// A centered rectangle of at most `w` x `h` inside `area`.
pub(crate) fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect::new(area.x + (area.width - w) / 2, area.y + (area.height - h) / 2, w, h)
}

pub(crate) fn bordered<'a>(theme: &Theme, title: impl Into<Line<'a>>) -> Block<'a> {
    Block::new().borders(Borders::ALL).border_set(theme.border_set()).title(title)
}

/// "42s", "12m", "5h", "3d".
pub fn fmt_age(d: Duration) -> String {
    let s = d.num_seconds();
    if s < 0 {
        "now".into()
    } else if s < 60 {
        format!("{s}s")
    } else if s < 3600 {
        format!("{}m", s / 60)
    } else if s < 48 * 3600 {
        format!("{}h", s / 3600)
    } else {
        format!("{}d", s / 86_400)
    }
}

/// Splits `from..to` into `n` buckets and keeps the value farthest from `nominal` in each
/// (an hour's min or max, whichever is worse): a sag in any hour stays visible.
/// Empty buckets are NaN.
pub(crate) fn worst_per_bucket(
    history: &std::collections::BTreeMap<DateTime<Utc>, HourlyRollup>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    n: usize,
    nominal: f64,
    extremes: impl Fn(&HourlyRollup) -> (f64, f64),
) -> Vec<f64> {
    let mut out = vec![f64::NAN; n];
    if n == 0 || to <= from {
        return out;
    }
    let span = (to - from).num_seconds() as f64;
    for (ts, r) in history.range(from..to) {
        let i = (((*ts - from).num_seconds() as f64 / span) * n as f64) as usize;
        let i = i.min(n - 1);
        let (lo, hi) = extremes(r);
        let v = if (lo - nominal).abs() > (hi - nominal).abs() { lo } else { hi };
        if out[i].is_nan() || (v - nominal).abs() > (out[i] - nominal).abs() {
            out[i] = v;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages() {
        assert_eq!(fmt_age(Duration::seconds(-5)), "now");
        assert_eq!(fmt_age(Duration::seconds(42)), "42s");
        assert_eq!(fmt_age(Duration::minutes(31)), "31m");
        assert_eq!(fmt_age(Duration::hours(47)), "47h");
        assert_eq!(fmt_age(Duration::days(3)), "3d");
    }

    #[test]
    fn worst_bucket_keeps_the_excursion() {
        use chrono::TimeZone;
        let t0 = Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap();
        let mut h = std::collections::BTreeMap::new();
        for i in 0..4 {
            let mut r = crate::tui::testing::rollup("A", t0 + Duration::hours(i), 0, 0);
            r.voltage_min_kv = if i == 1 { 13.2 } else { 13.7 };
            r.voltage_max_kv = 13.85;
            h.insert(r.timestamp, r);
        }
        let b = worst_per_bucket(&h, t0, t0 + Duration::hours(6), 3, 13.8, |r| (r.voltage_min_kv, r.voltage_max_kv));
        assert_eq!(b[0], 13.2);
        assert_eq!(b[1], 13.7);
        assert!(b[2].is_nan());
    }
}
