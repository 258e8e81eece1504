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
    // Short texts: at 80 columns the list is drawn in two columns.
    let mut rows: Vec<(String, &str)> = vec![
        (pair(Action::Up, Action::Down), "move / scroll"),
        (pair(Action::PageUp, Action::PageDown), "page up / down"),
        (pair(Action::Top, Action::Bottom), "first/last, log follow"),
        (pair(Action::NextView, Action::PrevView), "next / previous view"),
        (keys.labels(Action::Open), "open detail"),
        (keys.labels(Action::Back), "back / close / clear"),
        (keys.labels(Action::Filter), "filter this view"),
    ];
    if app.cfg.read_only {
        rows.push(("-".into(), "reprocess: read-only"));
    } else {
        rows.push((keys.labels(Action::Reprocess), "reprocess (asks y/n)"));
    }
    if app.cfg.read_only {
        rows.push(("-".into(), "alarm actions: read-only"));
    } else {
        rows.push((pair(Action::Ack, Action::AckAll), "ack / ack all listed"));
        let four = format!("{} {}", pair(Action::Shelve, Action::Unshelve), pair(Action::OutOfService, Action::ReturnToService));
        rows.push((four, "(un)shelve, OOS/return"));
    }
    rows.extend([
        (keys.labels(Action::Pause), "pause / resume"),
        (keys.labels(Action::TimeRange), "window 24h / 7d / 30d"),
        (pair(Action::ZoomIn, Action::ZoomOut), "zoom in / out 1h..30d"),
        (pair(Action::Earlier, Action::Later), "window back / forward"),
        (keys.labels(Action::Live), "back to live"),
        (keys.labels(Action::Command), "goto, zoom, sort, live"),
        (pair(Action::Left, Action::Right), "crosshair, log scroll"),
        (keys.labels(Action::Sort), "sort the overview"),
        (keys.labels(Action::Export), "export view to CSV"),
        (pair(Action::Metric, Action::FleetHeatmap), "heatmap metric, fleet"),
        (format!("{} {}", pair(Action::Search, Action::SearchNext), keys.labels(Action::SearchPrev)), "log search, next/prev"),
        (pair(Action::LogLevel, Action::LogWrap), "log level, wrap"),
        (keys.labels(Action::LogSelected), "log: selected only"),
        (keys.labels(Action::Help), "close this help"),
        (format!("{} C-c", keys.labels(Action::Quit)), "quit"),
    ]);
    if app.cfg.mouse {
        rows.push(("mouse".into(), "wheel, click tab/row"));
    }
    let kw = rows.iter().map(|(k, _)| k.chars().count()).max().unwrap_or(0).min(14);
    let cell = |(k, d): &(String, &str)| {
        Line::from(vec![Span::styled(format!(" {k:<kw$} "), theme.key()), Span::raw(d.to_string())])
    };
    let store = theme.text(&crate::sanitize::sanitize_for_terminal(&app.cfg.store_name)).into_owned();
    let store_line = Line::from(Span::styled(format!(" store: {store}"), theme.dim()));
    // One column when it fits the height, else two side by side (cut to the width).
    let one_col_h = rows.len() as u16 + 3;
    if one_col_h <= area.height {
        let mut lines: Vec<Line> = rows.iter().map(cell).collect();
        lines.push(store_line);
        let w = lines.iter().map(|l| l.width()).max().unwrap_or(20) as u16 + 2;
        let rect = centered(area, w, lines.len() as u16 + 2);
        frame.render_widget(Clear, rect);
        frame.render_widget(Paragraph::new(lines).block(bordered(&theme, " Keys ")), rect);
        return;
    }
    let half = rows.len().div_ceil(2);
    let h = (half as u16 + 3).min(area.height);
    let rect = centered(area, area.width, h);
    frame.render_widget(Clear, rect);
    let block = bordered(&theme, " Keys ");
    let inner = block.inner(rect);
    frame.render_widget(block, rect);
    let [left, right] =
        ratatui::layout::Layout::horizontal([ratatui::layout::Constraint::Fill(1); 2]).areas(inner);
    let mut l: Vec<Line> = rows[..half].iter().map(cell).collect();
    l.push(store_line);
    frame.render_widget(Paragraph::new(l), left);
    frame.render_widget(Paragraph::new(rows[half..].iter().map(cell).collect::<Vec<_>>()), right);
}
