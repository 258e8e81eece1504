//! The fleet panel under the overview table: total load against total generation with
//! the summed forecast, the fleet's renewable share, substations by status, and the
//! alarm rate per 10 minutes against the flood threshold.

use super::bordered;
use crate::model::AlertStatus;
use crate::tui::app::App;
use crate::tui::fleet::{self, FLOOD_PER_10_MIN};
use crate::tui::theme::sparkline;
use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Axis, Chart, Dataset, GraphType, Paragraph};

pub fn render(app: &App, frame: &mut Frame, area: Rect) {
    let theme = app.theme();
    let w = app.window();
    let subs: Vec<_> = app.subs.values().collect();
    let held = subs.iter().filter(|s| s.history.range(w.start..w.end).next().is_some()).count();
    let series = fleet::series(
        subs.iter().map(|s| &s.history),
        subs.iter().map(|s| s.forecast.as_slice()),
        w.start,
        w.end + chrono::Duration::hours(1),
    );

    let side_w = (area.width / 3).clamp(28, 44);
    let [chart_a, side_a] = Layout::horizontal([Constraint::Min(20), Constraint::Length(side_w)]).areas(area);

    // Load against generation over the window, the summed forecast after it.
    let x = |t: DateTime<Utc>| (t - w.end).num_seconds() as f64 / 3600.0;
    let span_h = w.duration().num_seconds() as f64 / 3600.0;
    let load: Vec<(f64, f64)> = series.hours.iter().map(|h| (x(h.hour), h.load_mw)).collect();
    let generation: Vec<(f64, f64)> = series.hours.iter().map(|h| (x(h.hour), h.generation_mw)).collect();
    let forecast: Vec<(f64, f64)> =
        series.forecast.iter().filter(|(t, _)| *t >= w.start).map(|(t, v)| (x(*t), *v)).collect();
    let right = forecast.iter().map(|p| p.0).fold(0.0, f64::max).min(24.0);
    let hi = load.iter().chain(&generation).chain(&forecast).map(|p| p.1).fold(1.0, f64::max) * 1.05;
    let m = theme.markers();
    let scope = if held == subs.len() { format!("{} substations", subs.len()) } else { format!("{held} of {} substations", subs.len()) };
    let title = Line::from(vec![
        Span::raw(format!(" Fleet {scope}: ")),
        Span::styled(format!("{} load", m.data), theme.chart_data()),
        Span::raw(" "),
        Span::styled(format!("{} generation", m.secondary), theme.chart_secondary()),
        Span::raw(" "),
        Span::styled(format!("{} forecast ", m.forecast), theme.chart_forecast()),
    ]);
    let ds = |d: &'static str, data, marker: char, style| {
        Dataset::default().name(d).data(data).marker(Marker::Custom(marker)).style(style).graph_type(GraphType::Line)
    };
    let chart = Chart::new(vec![
        ds("generation", &generation, m.secondary, theme.chart_secondary()),
        ds("forecast", &forecast, m.forecast, theme.chart_forecast()),
        ds("load", &load, m.data, theme.chart_data()),
    ])
    .block(bordered(&theme, title))
    .x_axis(Axis::default().bounds([-span_h, right]))
    .y_axis(Axis::default().bounds([0.0, hi]).labels(["0".to_string(), format!("{hi:.0}")]))
    .legend_position(None);
    frame.render_widget(chart, chart_a);

    // The side column: numbers now, status counts, alarm rate.
    let block = bordered(&theme, " Fleet now ");
    let inner = block.inner(side_a);
    frame.render_widget(block, side_a);
    let latest_load: f64 = subs.iter().map(|s| s.state.latest.load_avg_mw).sum();
    let latest_gen: f64 = subs.iter().map(|s| s.state.latest.generation_avg_mw).sum();
    let latest_ren: f64 = subs.iter().map(|s| s.state.latest.solar_avg_mw + s.state.latest.wind_avg_mw).sum();
    let share = if latest_gen > 0.0 { latest_ren / latest_gen * 100.0 } else { 0.0 };
    let spark_w = (inner.width as usize).saturating_sub(16).max(4);
    let ren_series: Vec<f64> = bucket_means(&series.hours, w.start, w.end, spark_w);
    let ren_hi = ren_series.iter().copied().filter(|v| v.is_finite()).fold(1.0, f64::max);
    let (mut ok, mut warn, mut crit, mut stale) = (0, 0, 0, 0);
    for s in &subs {
        match app.sub_status(s) {
            AlertStatus::Normal => ok += 1,
            AlertStatus::Warning => warn += 1,
            AlertStatus::Critical => crit += 1,
        }
        stale += usize::from(app.is_stale(s));
    }
    let alerts: Vec<_> = app.alarms.iter().map(|a| &a.alert).collect();
    let rate = fleet::alarm_rate(&alerts, w.start, w.end, spark_w);
    let peak_rate = rate.iter().copied().max().unwrap_or(0);
    let chars = theme.spark_chars();
    let rate_spans: Vec<Span> = rate
        .iter()
        .map(|n| {
            let c = if *n == 0 {
                ' '
            } else {
                chars[((*n as f64 / FLOOD_PER_10_MIN as f64) * 7.0).round().clamp(0.0, 7.0) as usize]
            };
            if *n >= FLOOD_PER_10_MIN {
                Span::styled(c.to_string(), theme.status_style(AlertStatus::Critical))
            } else {
                Span::raw(c.to_string())
            }
        })
        .collect();
    let mut rate_line = vec![Span::raw(" alarms/10m ")];
    rate_line.extend(rate_spans);
    let lines = vec![
        Line::from(format!(" load {latest_load:.0} MW  gen {latest_gen:.0} MW")),
        Line::from(vec![
            Span::raw(format!(" renew {share:>3.0}%    ")),
            // Scaled to the window's highest share, so the daily swing shows.
            Span::styled(sparkline(&ren_series, 0.0, ren_hi, spark_w, chars), theme.chart_data()),
        ]),
        Line::from(vec![
            Span::styled(format!(" {ok} ok"), theme.status_style(AlertStatus::Normal)),
            Span::styled(format!(" {warn} warn"), theme.status_style(AlertStatus::Warning)),
            Span::styled(format!(" {crit} crit"), theme.status_style(AlertStatus::Critical)),
            Span::styled(format!(" {stale} stale"), theme.stale()),
        ]),
        Line::from(rate_line),
        Line::from(Span::styled(
            format!(" peak {peak_rate}/10m, flood {FLOOD_PER_10_MIN}"),
            if peak_rate >= FLOOD_PER_10_MIN { theme.status_style(AlertStatus::Critical) } else { theme.dim() },
        )),
    ];
    frame.render_widget(Paragraph::new(lines), inner);
}

/// Mean renewable share (%) per bucket; empty buckets are NaN (drawn blank).
fn bucket_means(hours: &[fleet::FleetHour], start: DateTime<Utc>, end: DateTime<Utc>, n: usize) -> Vec<f64> {
    let mut sum = vec![0.0; n];
    let mut cnt = vec![0usize; n];
    let span = (end - start).num_seconds().max(1) as f64;
    for h in hours.iter().filter(|h| h.hour >= start && h.hour < end) {
        let i = ((((h.hour - start).num_seconds() as f64) / span) * n as f64) as usize;
        let i = i.min(n.saturating_sub(1));
        sum[i] += h.renewable_share * 100.0;
        cnt[i] += 1;
    }
    sum.iter().zip(&cnt).map(|(s, c)| if *c == 0 { f64::NAN } else { s / *c as f64 }).collect()
}
