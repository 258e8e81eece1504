//! Detail of one substation: load with its forecast, renewable share, voltage and
//! frequency against their nominal values and alarm limits, and its alarms. Over a
//! window longer than the chart is wide, each column shows the mean with a min/max
//! envelope. ←/→ move a crosshair whose exact values are shown under the charts.

use super::{bordered, fmt_age};
use crate::model::HourlyRollup;
use crate::tui::app::{App, Substation};
use crate::tui::theme::Theme;
use chrono::{DateTime, Duration, Utc};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Axis, Chart, Dataset, GraphType, Paragraph};

/// One chart's points: the hourly values, or per column the mean and the min/max.
struct Series {
    mid: Vec<(f64, f64)>,
    lo: Vec<(f64, f64)>,
    hi: Vec<(f64, f64)>,
}

/// Points of `value` (mean) and `extremes` (min, max) over the rollups, in `columns`
/// buckets when there are more hours than columns (the envelope), else one per hour.
fn series(
    hist: &[&HourlyRollup],
    x: impl Fn(DateTime<Utc>) -> f64,
    x_range: (f64, f64),
    columns: usize,
    value: impl Fn(&HourlyRollup) -> f64,
    extremes: impl Fn(&HourlyRollup) -> (f64, f64),
) -> Series {
    if hist.len() <= columns.max(1) {
        let mid = hist.iter().map(|r| (x(r.timestamp), value(r))).collect();
        let lo = hist.iter().map(|r| (x(r.timestamp), extremes(r).0)).collect();
        let hi = hist.iter().map(|r| (x(r.timestamp), extremes(r).1)).collect();
        return Series { mid, lo, hi };
    }
    let n = columns.max(1);
    let (x0, x1) = x_range;
    let width = (x1 - x0).max(f64::EPSILON);
    // (sum, count, min, max) per column
    let mut acc = vec![(0.0, 0usize, f64::INFINITY, f64::NEG_INFINITY); n];
    for r in hist {
        let i = (((x(r.timestamp) - x0) / width) * n as f64).floor().clamp(0.0, (n - 1) as f64) as usize;
        let (lo, hi) = extremes(r);
        let a = &mut acc[i];
        a.0 += value(r);
        a.1 += 1;
        a.2 = a.2.min(lo);
        a.3 = a.3.max(hi);
    }
    let mut s = Series { mid: Vec::new(), lo: Vec::new(), hi: Vec::new() };
    for (i, (sum, cnt, lo, hi)) in acc.into_iter().enumerate() {
        if cnt == 0 {
            continue;
        }
        let xc = x0 + (i as f64 + 0.5) / n as f64 * width;
        s.mid.push((xc, sum / cnt as f64));
        s.lo.push((xc, lo));
        s.hi.push((xc, hi));
    }
    s
}

pub fn render(app: &App, frame: &mut Frame, area: Rect) {
    let Some(sub) = app.selected_sub() else {
        frame.render_widget(Paragraph::new(" no substation selected (Tab to the overview)"), area);
        return;
    };
    let theme = app.theme();
    let alarms: Vec<_> = app.alarms.iter().filter(|a| a.alert.location == sub.location).collect();
    let alarm_h = (alarms.len().clamp(1, 3) + 2) as u16;
    // Two lines: the values and the alarms active then wrap on narrow terminals.
    let readout_h = if app.crosshair.is_some() { 2 } else { 0 };
    // The peak-shaving insight of the window, where there is room for it (not at 80x24).
    let insight_h = u16::from(area.height >= 30);
    let [head, charts, readout, insight, alarm_area] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(4),
        Constraint::Length(readout_h),
        Constraint::Length(insight_h),
        Constraint::Length(alarm_h),
    ])
    .areas(area);
    header(app, sub, frame, head);
    if insight_h > 0 {
        let w = app.window();
        let rollups: Vec<HourlyRollup> = sub.history.range(w.start..w.end).map(|(_, r)| r.clone()).collect();
        let cfg = crate::optimize::OptimizeConfig::default();
        let target = crate::optimize::Target::PercentOfPeak(cfg.targets_percent.get(1).copied().unwrap_or(90.0));
        if let Ok(line) = crate::optimize::peak_shaving_line(&rollups, &cfg, target) {
            frame.render_widget(Paragraph::new(format!(" {line} (this window; gridwatch optimize for more)")).style(theme.dim()), insight);
        }
    }

    let [top, bottom] = Layout::vertical([Constraint::Fill(1), Constraint::Fill(1)]).areas(charts);
    let [load_a, ren_a] = Layout::horizontal([Constraint::Fill(1), Constraint::Fill(1)]).areas(top);
    let [volt_a, freq_a] = Layout::horizontal([Constraint::Fill(1), Constraint::Fill(1)]).areas(bottom);

    let w = app.window();
    let end = w.end;
    let span_h = w.duration().num_seconds() as f64 / 3600.0;
    let hist: Vec<&HourlyRollup> = sub.history.range(w.start..w.end).map(|(_, r)| r).collect();
    let x = |t: DateTime<Utc>| (t - end).num_seconds() as f64 / 3600.0;
    let m = theme.markers();
    let cfg = &app.cfg.analysis;
    // Chart columns available for data (borders and the y labels take about 8).
    let cols = |a: Rect| (a.width as usize).saturating_sub(8).max(1);
    let envelope = app.cursor.zoom.downsampled() && hist.len() > cols(load_a);
    let cross_x = app.crosshair.map(x);

    // Load: actual hourly average (min/max envelope on long windows), the overload
    // threshold (generation x ratio) and the forecast after the window's end.
    let fc: Vec<(f64, f64)> = sub
        .forecast
        .iter()
        .filter(|p| p.timestamp >= w.start && p.timestamp <= end + Duration::hours(24))
        .map(|p| (x(p.timestamp), p.load_mw))
        .collect();
    let right = fc.iter().map(|p| p.0).fold(0.0, f64::max);
    let load = series(&hist, x, (-span_h, 0.0), cols(load_a), |r| r.load_avg_mw, |r| (r.load_min_mw, r.load_peak_mw));
    let limit = series(&hist, x, (-span_h, 0.0), cols(load_a), |r| r.generation_avg_mw * cfg.overload_ratio, |r| {
        (r.generation_avg_mw * cfg.overload_ratio, r.generation_avg_mw * cfg.overload_ratio)
    });
    // From zero so the curve's height reads as a fraction of the peak.
    let (lo, hi) = bounds(load.mid.iter().chain(&fc).chain(if envelope { &load.hi } else { &load.mid }).map(|p| p.1), 0.0, 1.0);
    let hi = hi * 1.05;
    let now_line = vec![(0.0, lo), (0.0, hi)];
    let mut title = vec![
        Span::raw(" Load MW "),
        Span::styled(format!("{} actual", m.data), theme.chart_data()),
        Span::raw(" "),
        Span::styled(format!("{} fc", m.forecast), theme.chart_forecast()),
        Span::styled(format!(" {} {}x gen ", m.limit, cfg.overload_ratio), theme.chart_limit()),
    ];
    if envelope {
        title.push(Span::styled(format!("{} min/max ", m.secondary), theme.chart_secondary()));
    }
    let mut sets = vec![series_ds(&now_line, m.now, theme.dim(), GraphType::Line)];
    let cross_line = cross_x.map(|cx| vec![(cx, lo), (cx, hi)]);
    if let Some(c) = &cross_line {
        sets.push(series_ds(c, m.crosshair, theme.selected(), GraphType::Line));
    }
    sets.push(series_ds(&limit.mid, m.limit, theme.chart_limit(), GraphType::Line));
    if envelope {
        sets.push(series_ds(&load.lo, m.secondary, theme.chart_secondary(), GraphType::Line));
        sets.push(series_ds(&load.hi, m.secondary, theme.chart_secondary(), GraphType::Line));
    }
    sets.push(series_ds(&fc, m.forecast, theme.chart_forecast(), GraphType::Line));
    sets.push(series_ds(&load.mid, m.data, theme.chart_data(), GraphType::Line));
    chart(&theme, frame, load_a, Line::from(title), sets, [-span_h, right.max(0.0)], [lo, hi], 0);

    // Renewable penetration, 0..100 %.
    let ren = series(&hist, x, (-span_h, 0.0), cols(ren_a), |r| r.renewable_penetration * 100.0, |r| {
        (r.renewable_penetration * 100.0, r.renewable_penetration * 100.0)
    });
    let ren_cross = cross_x.map(|cx| vec![(cx, 0.0), (cx, 100.0)]);
    let mut sets = Vec::new();
    if let Some(c) = &ren_cross {
        sets.push(series_ds(c, m.crosshair, theme.selected(), GraphType::Line));
    }
    if envelope {
        sets.push(series_ds(&ren.lo, m.secondary, theme.chart_secondary(), GraphType::Line));
        sets.push(series_ds(&ren.hi, m.secondary, theme.chart_secondary(), GraphType::Line));
    }
    sets.push(series_ds(&ren.mid, m.data, theme.chart_data(), GraphType::Line));
    let ren_title = format!(" Renewable % ({}{}) ", app.cursor.zoom.label(), if envelope { ", min/max" } else { "" });
    chart(&theme, frame, ren_a, Line::from(ren_title), sets, [-span_h, 0.0], [0.0, 100.0], 0);

    // Voltage with nominal and the alarm limits.
    let v = series(&hist, x, (-span_h, 0.0), cols(volt_a), |r| r.voltage_avg_kv, |r| (r.voltage_min_kv, r.voltage_max_kv));
    let pad = (cfg.voltage_high_kv - cfg.voltage_low_kv) / 2.0;
    let (vlo, vhi) = bounds(v.lo.iter().chain(&v.hi).map(|p| p.1), cfg.voltage_low_kv - pad, cfg.voltage_high_kv + pad);
    let title =
        format!(" Voltage kV nom {} lim {}-{} ", cfg.nominal_voltage_kv, cfg.voltage_low_kv, cfg.voltage_high_kv);
    limit_chart(
        app,
        frame,
        volt_a,
        Line::from(title),
        &v,
        envelope,
        (cfg.voltage_low_kv, cfg.nominal_voltage_kv, cfg.voltage_high_kv),
        (-span_h, vlo, vhi),
        cross_x,
        2,
    );

    // Frequency with nominal and nominal +- the deviation limit.
    let f = series(&hist, x, (-span_h, 0.0), cols(freq_a), |r| r.frequency_avg_hz, |r| {
        (r.frequency_min_hz, r.frequency_max_hz)
    });
    let (f_nom, dev) = (cfg.nominal_frequency_hz, cfg.frequency_deviation_hz);
    let (flo, fhi) = bounds(f.lo.iter().chain(&f.hi).map(|p| p.1), f_nom - 2.0 * dev, f_nom + 2.0 * dev);
    limit_chart(
        app,
        frame,
        freq_a,
        Line::from(format!(" Frequency Hz nom {f_nom} lim +-{dev} ")),
        &f,
        envelope,
        (f_nom - dev, f_nom, f_nom + dev),
        (-span_h, flo, fhi),
        cross_x,
        3,
    );

    if let Some(t) = app.crosshair {
        crosshair_readout(app, sub, t, frame, readout);
    }

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

/// A chart with the limit band (low and high limit lines around the nominal line).
#[allow(clippy::too_many_arguments)]
fn limit_chart(
    app: &App,
    frame: &mut Frame,
    area: Rect,
    title: Line<'_>,
    s: &Series,
    envelope: bool,
    (low, nominal, high): (f64, f64, f64),
    (x0, ylo, yhi): (f64, f64, f64),
    cross_x: Option<f64>,
    decimals: usize,
) {
    let theme = app.theme();
    let m = theme.markers();
    let hline = |y: f64| vec![(x0, y), (0.0, y)];
    let (low_l, high_l, nom_l) = (hline(low), hline(high), hline(nominal));
    let cross = cross_x.map(|cx| vec![(cx, ylo), (cx, yhi)]);
    let mut sets = vec![
        series_ds(&low_l, m.limit, theme.chart_limit(), GraphType::Line),
        series_ds(&high_l, m.limit, theme.chart_limit(), GraphType::Line),
        series_ds(&nom_l, m.nominal, theme.chart_nominal(), GraphType::Line),
    ];
    if let Some(c) = &cross {
        sets.push(series_ds(c, m.crosshair, theme.selected(), GraphType::Line));
    }
    // Hourly: the extremes as dots; long windows: the envelope as lines.
    let kind = if envelope { GraphType::Line } else { GraphType::Scatter };
    sets.push(series_ds(&s.lo, m.secondary, theme.chart_secondary(), kind));
    sets.push(series_ds(&s.hi, m.secondary, theme.chart_secondary(), kind));
    sets.push(series_ds(&s.mid, m.data, theme.chart_data(), GraphType::Line));
    chart(&theme, frame, area, title, sets, [x0, 0.0], [ylo, yhi], decimals);
}

/// The exact values at the crosshair's hour, and the alarms active then.
fn crosshair_readout(app: &App, sub: &Substation, t: DateTime<Utc>, frame: &mut Frame, area: Rect) {
    let theme = app.theme();
    let mut spans = vec![Span::styled(format!(" {} ", t.format("%m-%d %H:%M")), theme.selected())];
    match sub.history.get(&t) {
        Some(r) => spans.push(Span::raw(format!(
            " load {:.1} MW gen {:.1}  ren {:.0}%  V {:.2} ({:.2}-{:.2})  f {:.3}",
            r.load_avg_mw,
            r.generation_avg_mw,
            r.renewable_penetration * 100.0,
            r.voltage_avg_kv,
            r.voltage_min_kv,
            r.voltage_max_kv,
            r.frequency_avg_hz,
        ))),
        None => spans.push(Span::styled(" no data for this hour", theme.dim())),
    }
    if let Some(p) = sub.forecast.iter().find(|p| p.timestamp == t) {
        spans.push(Span::styled(format!("  fc {:.1}", p.load_mw), theme.chart_forecast()));
    }
    let hour_end = t + Duration::hours(1);
    let active: Vec<String> = app
        .alarms
        .iter()
        .filter(|a| a.alert.location == sub.location && a.alert.started_at < hour_end && a.alert.ended_at >= t)
        .map(|a| format!("{} {}", a.alert.rule, a.alert.priority.as_str()))
        .collect();
    if !active.is_empty() {
        spans.push(Span::styled(format!("  alarms: {}", active.join(", ")), theme.stale()));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)).wrap(ratatui::widgets::Wrap { trim: true }), area);
}

fn header(app: &App, sub: &Substation, frame: &mut Frame, area: Rect) {
    let theme = app.theme();
    let l = &sub.state.latest;
    let status = app.sub_status(sub);
    let w = app.window();
    let peak = sub.history.range(w.start..w.end).map(|(_, r)| r.load_peak_mw).fold(l.load_peak_mw, f64::max);
    let age = app.data_age(sub).map_or_else(|| "-".to_string(), fmt_age);
    let mut spans = vec![
        Span::styled(format!(" {} ", theme.text(&sub.name)), theme.title()),
        Span::styled(theme.status_label(status), theme.status_style(status)),
        Span::raw(format!(
            "  load {:.1} MW pk {:.1}  ren {:.0}%  stab {:.2}  age {age}",
            l.load_avg_mw,
            peak,
            l.renewable_penetration * 100.0,
            l.stability_score,
        )),
    ];
    if app.is_stale(sub) {
        spans.push(Span::styled(" STALE", theme.stale()));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn series_ds<'a>(data: &'a [(f64, f64)], marker: char, style: Style, kind: GraphType) -> Dataset<'a> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::testing::{rollup, t0};

    #[test]
    fn envelope_keeps_extremes_per_column() {
        let rs: Vec<HourlyRollup> = (0..48)
            .map(|h| {
                let mut r = rollup("A", t0() - Duration::hours(48 - h), 0, 0);
                r.load_avg_mw = h as f64;
                r.load_min_mw = h as f64 - 1.0;
                r.load_peak_mw = h as f64 + 1.0;
                r
            })
            .collect();
        let refs: Vec<&HourlyRollup> = rs.iter().collect();
        let x = |t: DateTime<Utc>| (t - t0()).num_seconds() as f64 / 3600.0;
        // 48 hours into 4 columns of 12 hours.
        let s = series(&refs, x, (-48.0, 0.0), 4, |r| r.load_avg_mw, |r| (r.load_min_mw, r.load_peak_mw));
        assert_eq!(s.mid.len(), 4);
        assert_eq!(s.mid[0], (-42.0, 5.5), "mean of 0..=11 at the column's centre");
        assert_eq!(s.lo[0].1, -1.0);
        assert_eq!(s.hi[3].1, 48.0);
        // Enough columns: one point per hour.
        let s = series(&refs, x, (-48.0, 0.0), 60, |r| r.load_avg_mw, |r| (r.load_min_mw, r.load_peak_mw));
        assert_eq!(s.mid.len(), 48);
    }
}
