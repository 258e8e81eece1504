//! The overview: one row per substation, and the fleet panel in the rows left free.

use super::{fmt_age, worst_per_bucket};
use crate::tui::app::{App, Substation};
use crate::tui::theme::sparkline;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table, TableState};

/// highlight 2, status 6, load 5, ren 4, kV 5, Hz 6, stab 4, age 10 ("685d STALE"), 7 gaps
const FIXED: u16 = 2 + 6 + 5 + 4 + 5 + 6 + 4 + 10 + 7;
/// Names are shown whole up to this many columns; longer ones end in an ellipsis.
const NAME_MAX: u16 = 32;

/// Column widths for a given terminal width and longest name; the window's peak and
/// then the sparklines go first when narrow, the name column is as wide as the data.
#[derive(Debug, PartialEq)]
struct Columns {
    name: u16,
    spark: u16,
    peak: bool,
}

fn columns(width: u16, longest_name: u16) -> Columns {
    let peak = width >= FIXED + 6 + 12;
    let avail = width.saturating_sub(FIXED + if peak { 6 } else { 0 });
    let want = longest_name.clamp(10, NAME_MAX);
    // The name gets what its data needs (at least 8), the sparklines the rest (up to 24 each).
    let name = want.min(avail).max(8.min(avail));
    let spark = ((avail.saturating_sub(name) / 2).saturating_sub(1)).min(24);
    let spark = if spark >= 3 { spark } else { 0 };
    // Without sparklines the name may use the whole rest.
    let name = if spark == 0 { avail } else { name };
    Columns { name, spark, peak }
}

/// `s` cut to `width` columns with an ellipsis when it does not fit.
fn fit(s: &str, width: usize, ellipsis: &str) -> String {
    if s.chars().count() <= width {
        return s.to_string();
    }
    let keep = width.saturating_sub(ellipsis.chars().count());
    s.chars().take(keep).collect::<String>() + ellipsis
}

pub fn render(app: &App, frame: &mut Frame, area: Rect) {
    let theme = app.theme();
    let list = app.visible_subs();
    let (table_h, fleet_h) = crate::tui::layout::overview_split(area.height, list.len());
    let [table_part, fleet_area] =
        Layout::vertical([Constraint::Length(table_h.min(area.height)), Constraint::Min(0)]).areas(area);
    let [summary, table_area, footer] =
        Layout::vertical([Constraint::Length(1), Constraint::Min(0), Constraint::Length(1)]).areas(table_part);

    let (mut crit, mut warn, mut stale) = (0, 0, 0);
    for s in &list {
        match app.sub_status(s) {
            crate::model::AlertStatus::Critical => crit += 1,
            crate::model::AlertStatus::Warning => warn += 1,
            crate::model::AlertStatus::Normal => {}
        }
        stale += usize::from(app.is_stale(s));
    }
    let mut head = format!(" {} substations: {crit} critical, {warn} warning, {stale} stale", list.len());
    if list.len() != app.subs.len() {
        head.push_str(&format!(" (of {})", app.subs.len()));
    }
    let sort = format!(" sorted by {} ", app.sort.label());
    let line = if head.len() + sort.len() <= summary.width as usize {
        let pad = summary.width as usize - head.len() - sort.len();
        Line::from(vec![Span::styled(head, theme.title()), Span::raw(" ".repeat(pad)), Span::styled(sort, theme.dim())])
    } else {
        Line::from(Span::styled(head, theme.title()))
    };
    frame.render_widget(Paragraph::new(line), summary);

    if app.subs.is_empty() {
        let msg = if app.banner.is_some() { " no data: the store is not answering" } else { " waiting for data..." };
        frame.render_widget(Paragraph::new(msg), table_area);
    } else {
        draw_table(app, frame, table_area, &list);
    }

    let cfg = &app.cfg.analysis;
    let legend = format!(
        " sparks: worst of {}, V lim {}-{} kV, f {}+-{} Hz; STALE: quiet for 2 intervals",
        app.cursor.zoom.label(),
        cfg.voltage_low_kv,
        cfg.voltage_high_kv,
        cfg.nominal_frequency_hz,
        cfg.frequency_deviation_hz,
    );
    frame.render_widget(Paragraph::new(legend).style(theme.dim()), footer);
    if fleet_h > 0 {
        super::fleet::render(app, frame, fleet_area);
    }
}

fn draw_table(app: &App, frame: &mut Frame, area: Rect, list: &[&Substation]) {
    let theme = app.theme();
    let longest = list.iter().map(|s| s.name.chars().count()).max().unwrap_or(0).min(u16::MAX as usize) as u16;
    let cols = columns(area.width, longest);
    let cfg = &app.cfg.analysis;
    let window = app.window();
    let (from, to) = (window.start, window.end);

    let mut header = vec!["Status", "Substation", "Load"];
    if cols.peak {
        header.push("Peak");
    }
    header.extend(["Ren%", "kV", "", "Hz", "", "Stab", "Age"]);
    if cols.spark == 0 {
        header.retain(|h| !h.is_empty());
    }
    let header = Row::new(header).style(theme.header());

    let v_pad = (cfg.voltage_high_kv - cfg.voltage_low_kv) / 2.0;
    let (v_lo, v_hi) = (cfg.voltage_low_kv - v_pad, cfg.voltage_high_kv + v_pad);
    let f_nom = cfg.nominal_frequency_hz;
    let (f_lo, f_hi) = (f_nom - 2.0 * cfg.frequency_deviation_hz, f_nom + 2.0 * cfg.frequency_deviation_hz);
    let n = cols.spark as usize;

    // Build only the rows that can be on screen: with 500 substations the rest is wasted work.
    let rows_fit = area.height.saturating_sub(1) as usize;
    let offset =
        crate::tui::app::clamp_offset(app.overview_offset, app.selected_index(list), rows_fit.max(1), list.len());
    let rows = list.iter().skip(offset).take(rows_fit).map(|s| {
        let l = &s.state.latest;
        let status = app.sub_status(s);
        let peak = s.history.range(from..to).map(|(_, r)| r.load_peak_mw).fold(f64::NAN, f64::max);
        let mut cells = vec![
            Cell::from(theme.status_label(status)).style(theme.status_style(status)),
            Cell::from(fit(&theme.text(&s.name), cols.name as usize, theme.ellipsis())),
            Cell::from(format!("{:>5.1}", l.load_avg_mw)),
        ];
        if cols.peak {
            cells.push(Cell::from(if peak.is_nan() { "    -".to_string() } else { format!("{peak:>5.1}") }));
        }
        cells.push(Cell::from(format!("{:>3.0}%", l.renewable_penetration * 100.0)));
        cells.push(Cell::from(format!("{:5.2}", l.voltage_avg_kv)));
        if n > 0 {
            let v = worst_per_bucket(&s.history, from, to, n, cfg.nominal_voltage_kv, |r| {
                (r.voltage_min_kv, r.voltage_max_kv)
            });
            cells.push(Cell::from(sparkline(&v, v_lo, v_hi, n, theme.spark_chars())));
        }
        cells.push(Cell::from(format!("{:6.3}", l.frequency_avg_hz)));
        if n > 0 {
            let f = worst_per_bucket(&s.history, from, to, n, f_nom, |r| (r.frequency_min_hz, r.frequency_max_hz));
            cells.push(Cell::from(sparkline(&f, f_lo, f_hi, n, theme.spark_chars())));
        }
        cells.push(Cell::from(format!("{:4.2}", l.stability_score)));
        let age = app.data_age(s).map_or_else(|| "-".to_string(), fmt_age);
        cells.push(if app.is_stale(s) {
            Cell::from(Line::from(vec![Span::raw(format!("{age:>4} ")), Span::styled("STALE", theme.stale())]))
        } else {
            Cell::from(format!("{age:>4}"))
        });
        Row::new(cells)
    });

    let mut widths = vec![Constraint::Length(6), Constraint::Length(cols.name), Constraint::Length(5)];
    if cols.peak {
        widths.push(Constraint::Length(5));
    }
    widths.extend([Constraint::Length(4), Constraint::Length(5)]);
    if n > 0 {
        widths.push(Constraint::Length(cols.spark));
    }
    widths.push(Constraint::Length(6));
    if n > 0 {
        widths.push(Constraint::Length(cols.spark));
    }
    widths.extend([Constraint::Length(4), Constraint::Length(10)]);

    let table = Table::new(rows, widths)
        .header(header)
        .column_spacing(1)
        .flex(ratatui::layout::Flex::Start)
        .row_highlight_style(theme.selected())
        .highlight_symbol("> ")
        .highlight_spacing(ratatui::widgets::HighlightSpacing::Always);
    // Rows were pre-sliced from `offset`, so the state is relative to it.
    let mut state = TableState::default().with_selected(app.selected_index(list).and_then(|i| i.checked_sub(offset)));
    frame.render_stateful_widget(table, area, &mut state);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn total(c: &Columns) -> u16 {
        FIXED + c.name + if c.peak { 6 } else { 0 } + if c.spark > 0 { 2 * (c.spark + 1) } else { 0 }
    }

    #[test]
    fn columns_fit_the_width() {
        for w in [60u16, 70, 80, 100, 120, 200] {
            for name in [4u16, 14, 40] {
                let c = columns(w, name);
                assert!(total(&c) <= w, "width {w} name {name}: {}", total(&c));
                assert!(c.name >= 8, "width {w}: name {}", c.name);
            }
        }
        // The name column follows the data: short names leave room for the sparklines.
        assert_eq!(columns(120, 14).name, 14);
        assert!(columns(100, 8).spark > columns(100, 14).spark);
        // Long names are capped so the sparklines keep room.
        assert_eq!(columns(200, 60).name, NAME_MAX);
        assert!(columns(80, 14).peak && columns(80, 14).spark >= 3);
    }

    #[test]
    fn long_names_end_in_an_ellipsis() {
        assert_eq!(fit("Delta Junction", 14, "…"), "Delta Junction");
        assert_eq!(fit("Delta Junction", 8, "…"), "Delta J…");
        assert_eq!(fit("Delta Junction", 8, "..."), "Delta...");
    }
}
