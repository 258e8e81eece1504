//! Heatmap view: a metric by hour of day x day for the selected substation, or by
//! substation x hour of day for the fleet; shaded with block elements (or ASCII).

use crate::tui::app::{App, HeatMetric};
use crate::tui::export::heatmap_grid;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

const UNICODE_SHADES: [&str; 5] = ["·", "░", "▒", "▓", "█"];
const ASCII_SHADES: [&str; 5] = [".", ":", "+", "*", "#"];

pub fn render(app: &App, frame: &mut Frame, area: Rect) {
    let theme = app.theme();
    let [head, body, legend] =
        Layout::vertical([Constraint::Length(1), Constraint::Min(0), Constraint::Length(1)]).areas(area);
    let w = app.view_window();
    let metric = app.heat_metric;
    let scope = if app.heat_fleet {
        "fleet: substation x hour of day".to_string()
    } else {
        match app.selected_sub() {
            Some(s) => format!("{}: hour of day x day", theme.text(&s.name)),
            None => "no substation selected".to_string(),
        }
    };
    let days = w.duration().num_days();
    let title = format!(" {} | {scope} | {days}d until {}", metric.label(), w.end.format("%Y-%m-%d %H:%M"));
    frame.render_widget(Paragraph::new(title).style(theme.title()), head);

    let rows_fit = (body.height as usize).saturating_sub(1);
    // Single substation: the newest days last; fleet: the rows around the selection
    // (only those are computed: 500 substations x 30 days would be 360,000 rollups).
    let fleet_skip = if app.heat_fleet {
        let list = app.visible_subs();
        crate::tui::app::clamp_offset(app.overview_offset, app.selected_index(&list), rows_fit.max(1), list.len())
    } else {
        0
    };
    let Some(grid) = heatmap_grid(app, app.heat_fleet.then(|| fleet_skip..fleet_skip + rows_fit)) else {
        frame.render_widget(Paragraph::new(" no substation selected (Tab to the overview)"), body);
        return;
    };
    let shades = if theme.ascii { &ASCII_SHADES } else { &UNICODE_SHADES };
    let label_w = grid.rows.iter().map(|(l, _)| l.chars().count()).max().unwrap_or(9).clamp(9, 20);
    // Two columns per hour when there is room, one otherwise.
    let cell = if (label_w + 2 + 48) as u16 <= body.width { 2 } else { 1 };
    let mut lines = Vec::new();
    let mut marks = vec![' '; 24 * cell];
    for h in (0..24).step_by(3) {
        for (i, c) in format!("{h:02}").chars().enumerate() {
            marks[h * cell + i] = c;
        }
    }
    let axis = format!(" {:label_w$} {}", "UTC", marks.into_iter().collect::<String>());
    lines.push(Line::from(Span::styled(axis, theme.header())));
    let skip = if app.heat_fleet { 0 } else { grid.rows.len().saturating_sub(rows_fit) };
    let selected_name = app.selected_sub().map(|s| s.name.as_str());
    for (label, cells) in grid.rows.iter().skip(skip).take(rows_fit) {
        let fitted: String = theme.text(label).chars().take(label_w).collect();
        let style = if app.heat_fleet && Some(label.as_str()) == selected_name { theme.selected() } else { Style::new() };
        let mut spans = vec![Span::styled(format!(" {fitted:<label_w$} "), style)];
        for c in cells {
            let s = match c {
                None => " ".repeat(cell),
                Some(v) => shades[grid.level(*v, metric, shades.len())].repeat(cell),
            };
            spans.push(Span::styled(s, heat_style(app, c.map(|v| grid.level(v, metric, shades.len())))));
        }
        lines.push(Line::from(spans));
    }
    frame.render_widget(Paragraph::new(lines), body);

    let unit = match metric {
        HeatMetric::LoadPeak => "MW",
        HeatMetric::VoltageMin => "kV",
        HeatMetric::Renewable => "%",
        HeatMetric::Alarms => "began",
    };
    let (cool, hot) = if metric == HeatMetric::VoltageMin { (grid.hi, grid.lo) } else { (grid.lo, grid.hi) };
    let legend_text = format!(
        " {} {cool:.2} .. {} {hot:.2} {unit}; blank: no data{}",
        shades[0],
        shades[shades.len() - 1],
        if app.heat_fleet { "; cells combine every day of the window" } else { "" }
    );
    frame.render_widget(Paragraph::new(legend_text).style(theme.dim()), legend);
}

/// Colour by level where colour is on; the glyph carries the level without it.
fn heat_style(app: &App, level: Option<usize>) -> Style {
    let theme = app.theme();
    match level {
        Some(4) => theme.status_style(crate::model::AlertStatus::Critical),
        Some(3) => theme.status_style(crate::model::AlertStatus::Warning),
        Some(_) => theme.chart_data(),
        None => Style::new(),
    }
}
