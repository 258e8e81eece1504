//! The processing log: follows the newest lines unless paused or scrolled back. Long
//! lines wrap (`w`) or scroll sideways (←/→); the search text is highlighted.

use crate::backend::LogLevel;
use crate::tui::app::App;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

fn level_tag(l: LogLevel) -> &'static str {
    match l {
        LogLevel::Debug => "DBG",
        LogLevel::Info => "INF",
        LogLevel::Warn => "WRN",
        LogLevel::Error => "ERR",
    }
}

/// `text` split into spans with every case-insensitive occurrence of `needle` styled.
fn highlighted<'a>(text: String, needle: &str, hit: Style) -> Vec<Span<'a>> {
    if needle.is_empty() {
        return vec![Span::raw(text)];
    }
    let lower = text.to_lowercase();
    let n = needle.to_lowercase();
    // Lowercasing can change byte lengths (rare outside ASCII): then no highlight.
    if lower.len() != text.len() {
        return vec![Span::raw(text)];
    }
    let mut out = Vec::new();
    let mut pos = 0;
    while let Some(i) = lower[pos..].find(&n) {
        let start = pos + i;
        let end = start + n.len();
        if !text.is_char_boundary(start) || !text.is_char_boundary(end) {
            break;
        }
        if start > pos {
            out.push(Span::raw(text[pos..start].to_string()));
        }
        out.push(Span::styled(text[start..end].to_string(), hit));
        pos = end;
    }
    out.push(Span::raw(text[pos..].to_string()));
    out
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
    if app.log_level > LogLevel::Debug {
        title.push_str(&format!(", {}+", level_tag(app.log_level)));
    }
    if app.log_only_selected
        && let Some(s) = app.selected_sub()
    {
        title.push_str(&format!(", {} only", theme.text(&s.name)));
    }
    title.push_str(if following { ", following" } else { ", not following" });
    if app.log_unseen > 0 && scroll > 0 {
        title.push_str(&format!(" ({} new below)", app.log_unseen));
    }
    if app.log_wrap {
        title.push_str(", wrapped");
    } else if app.log_hscroll > 0 {
        title.push_str(&format!(", +{} cols", app.log_hscroll));
    }
    frame.render_widget(Paragraph::new(title).style(theme.title()), head);

    let end = lines.len() - scroll;
    let start = end.saturating_sub(h);
    let text: Vec<Line> = lines[start..end]
        .iter()
        .map(|l| {
            // Already sanitized on arrival; ASCII mode also drops non-ASCII.
            let msg = theme.text(&l.message).into_owned();
            let msg = if app.log_wrap { msg } else { msg.chars().skip(app.log_hscroll).collect() };
            let mut spans = vec![
                Span::styled(format!(" {} ", l.timestamp.format("%H:%M:%S")), theme.dim()),
                Span::styled(level_tag(l.level), theme.log_level(l.level)),
                Span::raw(" "),
            ];
            spans.extend(highlighted(msg, &app.log_search, theme.selected()));
            Line::from(spans)
        })
        .collect();
    let mut para = Paragraph::new(text);
    if app.log_wrap {
        // Wrapped lines take more rows: keep the newest at the bottom.
        let width = body.width.max(1) as usize;
        let rows: usize = lines[start..end].iter().map(|l| (14 + l.message.chars().count()).div_ceil(width).max(1)).sum();
        para = para.wrap(Wrap { trim: false }).scroll((rows.saturating_sub(h) as u16, 0));
    }
    frame.render_widget(para, body);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn highlight_splits_around_matches() {
        let s = Style::new().add_modifier(ratatui::style::Modifier::REVERSED);
        let spans = highlighted("Bayview ok, bayview again".into(), "BAYVIEW", s);
        let parts: Vec<(&str, bool)> = spans.iter().map(|sp| (sp.content.as_ref(), sp.style == s)).collect();
        assert_eq!(parts, [("Bayview", true), (" ok, ", false), ("bayview", true), (" again", false)]);
        assert_eq!(highlighted("x".into(), "", s).len(), 1);
    }
}
