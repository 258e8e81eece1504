//! The `?` overlay: every key, taken from the active key map.

use super::{bordered, centered};
use crate::tui::app::App;
use crate::tui::keys::Action;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph};

pub fn render(app: &App, frame: &mut Frame, area: Rect) {
    let theme = app.theme();
    let keys = &app.cfg.keys;
    let pair = |a: Action, b: Action| format!("{} {}", keys.labels(a), keys.labels(b));
    let mut rows: Vec<(String, &str)> = vec![
        (pair(Action::Up, Action::Down), "move / scroll"),
        (pair(Action::PageUp, Action::PageDown), "page up / down"),
        (pair(Action::Top, Action::Bottom), "first / last (logs: follow)"),
        (pair(Action::NextView, Action::PrevView), "next / previous view"),
        (keys.labels(Action::Open), Action::Open.describe()),
        (keys.labels(Action::Back), Action::Back.describe()),
        (keys.labels(Action::Filter), Action::Filter.describe()),
    ];
    if app.cfg.read_only {
        rows.push(("-".into(), "reprocess: disabled (read-only)"));
    } else {
        rows.push((keys.labels(Action::Reprocess), Action::Reprocess.describe()));
    }
    rows.extend([
        (pair(Action::Ack, Action::AckAll), "ack alarm / all listed; overview: substation"),
        (keys.labels(Action::Pause), Action::Pause.describe()),
        (keys.labels(Action::TimeRange), Action::TimeRange.describe()),
        (keys.labels(Action::Help), "close this help (any key)"),
        (format!("{} C-c", keys.labels(Action::Quit)), Action::Quit.describe()),
    ]);
    let kw = rows.iter().map(|(k, _)| k.chars().count()).max().unwrap_or(0).min(20);
    let mut lines: Vec<Line> = rows
        .into_iter()
        .map(|(k, d)| Line::from(vec![Span::styled(format!(" {k:<kw$} "), theme.key()), Span::raw(d)]))
        .collect();
    let store = theme.text(&crate::sanitize::sanitize_for_terminal(&app.cfg.store_name)).into_owned();
    lines.push(Line::from(Span::styled(format!(" store: {store}"), theme.dim())));
    let w = lines.iter().map(|l| l.width()).max().unwrap_or(20) as u16 + 2;
    let rect = centered(area, w, lines.len() as u16 + 2);
    frame.render_widget(Clear, rect);
    frame.render_widget(Paragraph::new(lines).block(bordered(&theme, " Keys ")), rect);
}
