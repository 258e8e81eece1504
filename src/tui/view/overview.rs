//! The overview: one row per substation.

use super::{fmt_age, worst_per_bucket};
use crate::tui::app::{App, Substation};
use crate::tui::theme::sparkline;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table, TableState};

/// Column widths for a given terminal width; sparklines and the 24 h peak go first when narrow.
struct Columns {
    name: u16,
    spark: u16,
    peak: bool,
}

fn columns(width: u16) -> Columns {
    // highlight 2, status 6, load 5, ren 4, kV 5, Hz 6, stab 4, age 9, 7 gaps
    const FIXED: u16 = 2 + 6 + 5 + 4 + 5 + 6 + 4 + 9 + 7;
    let peak = width >= FIXED + 6 + 12;
    let avail = width.saturating_sub(FIXED + if peak { 6 } else { 0 });
    // Names get 14 columns first (most substation names fit), then the sparklines grow.
    let spark = ((avail.saturating_sub(14) / 2).saturating_sub(1)).min(24);
    let spark = if spark >= 3 { spark } else { 0 };
    let name = avail - if spark > 0 { 2 * (spark + 1) } else { 0 };
    Columns { name, spark, peak }
}

pub fn render(app: &App, frame: &mut Frame, area: Rect) {
    let theme = app.theme();
    let [summary, table_area, footer] =
        Layout::vertical([Constraint::Length(1), Constraint::Min(0), Constraint::Length(1)]).areas(area);
    let list = app.visible_subs();

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
    frame.render_widget(Paragraph::new(head).style(theme.title()), summary);

    if app.subs.is_empty() {
        let msg = if app.banner.is_some() { " no data: the store is not answering" } else { " waiting for data..." };
        frame.render_widget(Paragraph::new(msg), table_area);
    } else {
        draw_table(app, frame, table_area, &list);
    }

    let cfg = &app.cfg.analysis;
    let legend = format!(
        " sparks: worst of {}, V lim {}-{} kV, f {}+-{} Hz; STALE: none in {}m",
        app.range.label(),
        cfg.voltage_low_kv,
        cfg.voltage_high_kv,
        cfg.nominal_frequency_hz,
        cfg.frequency_deviation_hz,
        2 * app.cfg.data_interval_minutes
    );
    frame.render_widget(Paragraph::new(legend).style(theme.dim()), footer);
}

fn draw_table(app: &App, frame: &mut Frame, area: Rect, list: &[&Substation]) {
    let theme = app.theme();
    let cols = columns(area.width);
    let cfg = &app.cfg.analysis;
    let from = app.now - app.range.duration();

    let mut header = vec!["Status", "Substation", "Load"];
    if cols.peak {
        header.push("Pk24h");
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
        let peak24 = s
            .history
            .range(app.now - chrono::Duration::hours(24)..)
            .map(|(_, r)| r.load_peak_mw)
            .fold(l.load_peak_mw, f64::max);
        let mut cells = vec![
            Cell::from(theme.status_label(status)).style(theme.status_style(status)),
            Cell::from(theme.text(&s.name).into_owned()),
            Cell::from(format!("{:>5.1}", l.load_avg_mw)),
        ];
        if cols.peak {
            cells.push(Cell::from(format!("{peak24:>5.1}")));
        }
        cells.push(Cell::from(format!("{:>3.0}%", l.renewable_penetration * 100.0)));
        cells.push(Cell::from(format!("{:5.2}", l.voltage_avg_kv)));
        if n > 0 {
            let v = worst_per_bucket(&s.history, from, app.now, n, cfg.nominal_voltage_kv, |r| {
                (r.voltage_min_kv, r.voltage_max_kv)
            });
            cells.push(Cell::from(sparkline(&v, v_lo, v_hi, n, theme.spark_chars())));
        }
        cells.push(Cell::from(format!("{:6.3}", l.frequency_avg_hz)));
        if n > 0 {
            let f = worst_per_bucket(&s.history, from, app.now, n, f_nom, |r| (r.frequency_min_hz, r.frequency_max_hz));
            cells.push(Cell::from(sparkline(&f, f_lo, f_hi, n, theme.spark_chars())));
        }
        cells.push(Cell::from(format!("{:4.2}", l.stability_score)));
        let age = fmt_age(app.now - s.state.last_reading);
        cells.push(if app.is_stale(s) {
            Cell::from(Line::from(vec![Span::raw(format!("{age:>3} ")), Span::styled("STALE", theme.stale())]))
        } else {
            Cell::from(format!("{age:>3}"))
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
    widths.extend([Constraint::Length(4), Constraint::Length(9)]);

    let table = Table::new(rows, widths)
        .header(header)
        .column_spacing(1)
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

    #[test]
    fn columns_fit_the_width() {
        for w in [60u16, 70, 80, 100, 200] {
            let c = columns(w);
            let total = 2
                + 6
                + 5
                + 4
                + 5
                + 6
                + 4
                + 9
                + 7
                + c.name
                + if c.peak { 6 } else { 0 }
                + if c.spark > 0 { 2 * (c.spark + 1) } else { 0 };
            assert!(total <= w, "width {w}: {total}");
            assert!(c.name >= 8, "width {w}: name {}", c.name);
        }
        assert!(columns(80).spark >= 5 && columns(80).peak && columns(80).name >= 13);
    }
}
