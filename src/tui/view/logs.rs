//! The processing log: follows the newest lines unless paused or scrolled back.

use crate::backend::LogLevel;
use crate::tui::app::App;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

fn level_tag(l: LogLevel) -> &'static str {
    match l {
        LogLevel::Debug => "DBG",
        LogLevel::Info => "INF",
        LogLevel::Warn => "WRN",
        LogLevel::Error => "ERR",
    }
}

pub fn render(app: &App, frame: &mut Frame, area: Rect) {
    let theme = app.theme();
    let [head, body] = Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(area);
    let lines = app.visible_logs();
    let h = body.height as usize;
    // Scrolling back is bounded by what does not fit; a short log is shown whole.
    let scroll = app.log_scroll.min(lines.len().saturating_sub(h));
    let following = !app.paused && scroll == 0;
    let mut title = format!(" log: {} lines", lines.len());
    if !app.log_filter.is_empty() {
        title.push_str(&format!(" matching \"{}\"", theme.text(&app.log_filter)));
    }
    title.push_str(if following { ", following" } else { ", not following" });
    if app.log_unseen > 0 && scroll > 0 {
        title.push_str(&format!(" ({} new below)", app.log_unseen));
    }
    frame.render_widget(Paragraph::new(title).style(theme.title()), head);

    let end = lines.len() - scroll;
    let start = end.saturating_sub(h);
    let text: Vec<Line> = lines[start..end]
        .iter()
        .map(|l| {
            Line::from(vec![
                Span::styled(format!(" {} ", l.timestamp.format("%H:%M:%S")), theme.dim()),
                Span::styled(level_tag(l.level), theme.log_level(l.level)),
                Span::raw(" "),
                // Already sanitized on arrival; ASCII mode also drops non-ASCII.
                Span::raw(theme.text(&l.message).into_owned()),
            ])
        })
        .collect();
    frame.render_widget(Paragraph::new(text), body);
}
