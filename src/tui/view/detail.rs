//! Detail of one substation: load with its forecast, renewable share, voltage and
//! frequency against their nominal values and alarm limits, and its alarms.

use super::{bordered, fmt_age};
use crate::tui::app::{App, Substation};
use crate::tui::theme::Theme;
use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Axis, Chart, Dataset, GraphType, Paragraph};

pub fn render(app: &App, frame: &mut Frame, area: Rect) {
    let Some(sub) = app.selected_sub() else {
        frame.render_widget(Paragraph::new(" no substation selected (Tab to the overview)"), area);
        return;
    };
    let theme = app.theme();
    let alarms: Vec<_> = app.alarms.iter().filter(|a| a.alert.location == sub.location).collect();
    let alarm_h = (alarms.len().clamp(1, 3) + 2) as u16;
    let [head, charts, alarm_area] =
        Layout::vertical([Constraint::Length(1), Constraint::Min(4), Constraint::Length(alarm_h)]).areas(area);
    header(app, sub, frame, head);

    let [top, bottom] = Layout::vertical([Constraint::Fill(1), Constraint::Fill(1)]).areas(charts);
    let [load_a, ren_a] = Layout::horizontal([Constraint::Fill(1), Constraint::Fill(1)]).areas(top);
    let [volt_a, freq_a] = Layout::horizontal([Constraint::Fill(1), Constraint::Fill(1)]).areas(bottom);

    let now = app.now;
    let range_h = app.range.duration().num_hours() as f64;
    let hist: Vec<_> = sub.history.range(now - app.range.duration()..).map(|(_, r)| r).collect();
    let x = |t: DateTime<Utc>| (t - now).num_seconds() as f64 / 3600.0;
    let m = theme.markers();
    let cfg = &app.cfg.analysis;

    // Load: actual hourly average and the 24 h forecast to the right of "now".
    let load: Vec<(f64, f64)> = hist.iter().map(|r| (x(r.timestamp), r.load_avg_mw)).collect();
    let fc: Vec<(f64, f64)> = sub.forecast.iter().map(|p| (x(p.timestamp), p.load_mw)).collect();
    // From zero so the curve's height reads as a fraction of the peak.
    let (lo, hi) = bounds(load.iter().chain(fc.iter()).map(|p| p.1), 0.0, 1.0);
    let hi = hi * 1.05;
    let now_line = vec![(0.0, lo), (0.0, hi)];
    let title = Line::from(vec![
        Span::raw(" Load MW "),
        Span::styled(format!("{} actual", m.data), theme.chart_data()),
        Span::raw(" "),
        Span::styled(format!("{} forecast", m.forecast), theme.chart_forecast()),
        Span::styled(format!(" {} now ", m.now), theme.dim()),
    ]);
    chart(
        &theme,
        frame,
        load_a,
        title,
        vec![
            series(&now_line, m.now, theme.dim(), GraphType::Line),
            series(&fc, m.forecast, theme.chart_forecast(), GraphType::Line),
            series(&load, m.data, theme.chart_data(), GraphType::Line),
        ],
        [-range_h, 24.0],
        [lo, hi],
        0,
    );

    // Renewable penetration, 0..100 %.
    let ren: Vec<(f64, f64)> = hist.iter().map(|r| (x(r.timestamp), r.renewable_penetration * 100.0)).collect();
    chart(
        &theme,
        frame,
        ren_a,
        Line::from(format!(" Renewable % ({}) ", app.range.label())),
        vec![series(&ren, m.data, theme.chart_data(), GraphType::Line)],
        [-range_h, 0.0],
        [0.0, 100.0],
        0,
    );

    // Voltage with nominal and alarm limits.
    let v_avg: Vec<(f64, f64)> = hist.iter().map(|r| (x(r.timestamp), r.voltage_avg_kv)).collect();
    let v_ext: Vec<(f64, f64)> =
        hist.iter().flat_map(|r| [(x(r.timestamp), r.voltage_min_kv), (x(r.timestamp), r.voltage_max_kv)]).collect();
    let pad = (cfg.voltage_high_kv - cfg.voltage_low_kv) / 2.0;
    let (lo, hi) = bounds(v_ext.iter().map(|p| p.1), cfg.voltage_low_kv - pad, cfg.voltage_high_kv + pad);
    let hline = |y: f64| vec![(-range_h, y), (0.0, y)];
    let (low_l, high_l, nom_l) = (hline(cfg.voltage_low_kv), hline(cfg.voltage_high_kv), hline(cfg.nominal_voltage_kv));
    let title =
        format!(" Voltage kV nom {} lim {}-{} ", cfg.nominal_voltage_kv, cfg.voltage_low_kv, cfg.voltage_high_kv);
    chart(
        &theme,
        frame,
        volt_a,
        Line::from(title),
        vec![
            series(&low_l, m.limit, theme.chart_limit(), GraphType::Line),
            series(&high_l, m.limit, theme.chart_limit(), GraphType::Line),
            series(&nom_l, m.nominal, theme.chart_nominal(), GraphType::Line),
            series(&v_ext, m.secondary, theme.chart_secondary(), GraphType::Scatter),
            series(&v_avg, m.data, theme.chart_data(), GraphType::Line),
        ],
        [-range_h, 0.0],
        [lo, hi],
        2,
    );

    // Frequency with nominal and nominal +- the deviation limit.
    let f_avg: Vec<(f64, f64)> = hist.iter().map(|r| (x(r.timestamp), r.frequency_avg_hz)).collect();
    let f_ext: Vec<(f64, f64)> = hist
        .iter()
        .flat_map(|r| [(x(r.timestamp), r.frequency_min_hz), (x(r.timestamp), r.frequency_max_hz)])
        .collect();
    let (f_nom, dev) = (cfg.nominal_frequency_hz, cfg.frequency_deviation_hz);
    let (lo, hi) = bounds(f_ext.iter().map(|p| p.1), f_nom - 2.0 * dev, f_nom + 2.0 * dev);
    let (low_l, high_l, nom_l) = (hline(f_nom - dev), hline(f_nom + dev), hline(f_nom));
    chart(
        &theme,
        frame,
        freq_a,
        Line::from(format!(" Frequency Hz nom {f_nom} lim +-{dev} ")),
        vec![
            series(&low_l, m.limit, theme.chart_limit(), GraphType::Line),
            series(&high_l, m.limit, theme.chart_limit(), GraphType::Line),
            series(&nom_l, m.nominal, theme.chart_nominal(), GraphType::Line),
            series(&f_ext, m.secondary, theme.chart_secondary(), GraphType::Scatter),
            series(&f_avg, m.data, theme.chart_data(), GraphType::Line),
        ],
        [-range_h, 0.0],
        [lo, hi],
        3,
    );

    // This substation's alarms.
    let block = bordered(&theme, format!(" Alarms of {} ({}) ", theme.text(&sub.name), alarms.len()));
    let inner = block.inner(alarm_area);
    frame.render_widget(block, alarm_area);
    let lines: Vec<Line> = if alarms.is_empty() {
        vec![Line::from(" none")]
    } else {
        alarms
            .iter()
            .take(inner.height as usize)
            .map(|a| {
                Line::from(vec![
                    Span::raw(format!(" {:<13} {} ", a.state().label(), a.alert.started_at.format("%m-%d %H:%M"))),
                    Span::styled(theme.status_label(a.alert.status()), theme.status_style(a.alert.status())),
                    Span::raw(format!(" {} {}", a.alert.rule, super::alarms::fmt_value(&a.alert))),
                ])
            })
            .collect()
    };
    frame.render_widget(Paragraph::new(lines), inner);
}

fn header(app: &App, sub: &Substation, frame: &mut Frame, area: Rect) {
    let theme = app.theme();
    let l = &sub.state.latest;
    let status = app.sub_status(sub);
    let peak24 = sub
        .history
        .range(app.now - chrono::Duration::hours(24)..)
        .map(|(_, r)| r.load_peak_mw)
        .fold(l.load_peak_mw, f64::max);
    let mut spans = vec![
        Span::styled(format!(" {} ", theme.text(&sub.name)), theme.title()),
        Span::styled(theme.status_label(status), theme.status_style(status)),
        Span::raw(format!(
            "  load {:.1} MW pk24 {:.1}  ren {:.0}%  stab {:.2}  age {}",
            l.load_avg_mw,
            peak24,
            l.renewable_penetration * 100.0,
            l.stability_score,
            fmt_age(app.now - sub.state.last_reading)
        )),
    ];
    if app.is_stale(sub) {
        spans.push(Span::styled(" STALE", theme.stale()));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn series<'a>(data: &'a [(f64, f64)], marker: char, style: Style, kind: GraphType) -> Dataset<'a> {
    Dataset::default().data(data).marker(Marker::Custom(marker)).style(style).graph_type(kind)
}

/// Bounds covering the data and at least `lo..hi`.
fn bounds(values: impl Iterator<Item = f64>, lo: f64, hi: f64) -> (f64, f64) {
    values.filter(|v| v.is_finite()).fold((lo, hi), |(a, b), v| (a.min(v), b.max(v)))
}

#[allow(clippy::too_many_arguments)]
fn chart(
    theme: &Theme,
    frame: &mut Frame,
    area: Rect,
    title: Line<'_>,
    datasets: Vec<Dataset<'_>>,
    x: [f64; 2],
    y: [f64; 2],
    decimals: usize,
) {
    let labels = [y[0], (y[0] + y[1]) / 2.0, y[1]].map(|v| format!("{v:.decimals$}"));
    let chart = Chart::new(datasets)
        .block(bordered(theme, title))
        .x_axis(Axis::default().bounds(x))
        .y_axis(Axis::default().bounds(y).labels(labels))
        .legend_position(None);
    frame.render_widget(chart, area);
}
