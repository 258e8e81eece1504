//! Rendering: a pure function of [`App`]. Layout, title bar, status line and key bar
//! live here; each view has its own module.

mod alarms;
mod detail;
mod dialog;
mod help;
mod logs;
mod overview;

use super::app::{App, StatusLevel, View};
use super::keys::{Action, KeyBinding};
use super::theme::Theme;
use crate::model::HourlyRollup;
use chrono::{DateTime, Duration, Utc};
use crossterm::event::KeyCode;
use ratatui::Frame;
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

/// Below this the dashboard says so instead of drawing a broken layout.
pub const MIN_WIDTH: u16 = 60;
pub const MIN_HEIGHT: u16 = 16;

/// Lines around a list in the body: summary above, column header, footer below.
const LIST_CHROME: u16 = 3;

/// Draws the whole screen for `app`.
pub fn render(app: &App, frame: &mut Frame) {
    let theme = app.theme();
    let area = frame.area();
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        too_small(frame, area);
    } else {
        let areas = screen_layout(app, area);
        title_bar(app, frame, areas.title);
        if let Some(banner) = areas.banner {
            banner_line(app, frame, banner);
        }
        match app.view {
            View::Overview => overview::render(app, frame, areas.body),
            View::Detail => detail::render(app, frame, areas.body),
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

struct ScreenAreas {
    title: Rect,
    banner: Option<Rect>,
    body: Rect,
    status: Rect,
    keys: Rect,
}

fn screen_layout(app: &App, area: Rect) -> ScreenAreas {
    let banner_h = u16::from(app.banner.is_some() || app.log_error.is_some());
    let [title, banner, body, status, keys] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(banner_h),
        Constraint::Min(0),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(area);
    ScreenAreas { title, banner: (banner_h > 0).then_some(banner), body, status, keys }
}

/// Rows available to the overview table and the alarm list (used to keep the selection visible).
pub fn list_rows(app: &App) -> usize {
    body_height(app).saturating_sub(LIST_CHROME) as usize
}

/// Log lines on screen (the log view has one header line).
pub fn log_rows(app: &App) -> usize {
    body_height(app).saturating_sub(1) as usize
}

fn body_height(app: &App) -> u16 {
    let area = Rect::new(0, 0, app.size.0, app.size.1);
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        return 1;
    }
    screen_layout(app, area).body.height
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
    let wide = area.width >= 80;
    // The title replaces the product name when it already starts with it ("gridwatch demo").
    let title = theme.text(&crate::sanitize::sanitize_for_terminal(&app.cfg.title)).into_owned();
    let head = if wide && title.starts_with("gridwatch") {
        format!(" {title}")
    } else if wide && !title.is_empty() {
        format!(" gridwatch {title}")
    } else {
        " gridwatch".to_string()
    };
    let mut left = vec![Span::styled(head, theme.title())];
    left.push(Span::raw(" "));
    for v in View::ALL {
        let label = match v {
            View::Alarms if app.unacked_alarms() > 0 => format!("{}({})", v.name(), app.unacked_alarms()),
            _ => v.name().to_string(),
        };
        if v == app.view {
            left.push(Span::styled(format!("[{label}]"), theme.selected()));
        } else {
            left.push(Span::raw(format!(" {label} ")));
        }
    }
    let left = Line::from(left);
    let room = (area.width as usize).saturating_sub(left.width() + 1);
    frame.render_widget(Paragraph::new(left), area);

    // Right side: the most that fits of "PAUSED 24h 06-01 12:00".
    let paused = if app.paused { "PAUSED " } else { "" };
    let candidates = [
        format!("{} {} ", app.range.label(), app.now.format("%m-%d %H:%M")),
        format!("{} {} ", app.range.label(), app.now.format("%H:%M")),
        format!("{} ", app.range.label()),
        String::new(),
    ];
    let tail = candidates.into_iter().find(|c| paused.len() + c.len() <= room).unwrap_or_default();
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

fn banner_line(app: &App, frame: &mut Frame, area: Rect) {
    let theme = app.theme();
    let text = match (&app.banner, &app.log_error) {
        (Some(b), _) => format!(
            " ! store error: {} - retrying in {}s (attempt {})",
            theme.text(&b.error),
            b.retry_in.as_secs().max(1),
            b.attempt
        ),
        (None, Some(e)) => format!(" ! log error: {}", theme.text(e)),
        (None, None) => String::new(),
    };
    frame.render_widget(Paragraph::new(text).style(theme.banner()), area);
}

fn status_line(app: &App, frame: &mut Frame, area: Rect) {
    let theme = app.theme();
    let line = if app.editing_filter {
        Line::from(vec![
            Span::styled(" filter /", theme.key()),
            Span::raw(theme.text(app.filter()).into_owned()),
            Span::styled("_", theme.selected()),
            Span::styled("  Enter keeps, Esc clears", theme.dim()),
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
    let range = if app.range == super::app::TimeRange::Day { "7d" } else { "24h" };
    items.push((short_key(app, Action::TimeRange), range, 3));
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
