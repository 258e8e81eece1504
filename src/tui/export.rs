//! CSV export of what the current view shows: the overview's rows, the detail charts'
//! series over the window, the heatmap's cells, the alarm list, the log lines.
//! Builds the file's name and contents; the UI loop writes it.

use super::app::{App, View};
use super::heatmap;
use chrono::{DateTime, Utc};

fn ts(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn f(v: f64, decimals: usize) -> String {
    if v.is_finite() { format!("{v:.decimals$}") } else { String::new() }
}

/// (file name, CSV text) for the current view, or why there is nothing to export.
pub fn view_csv(app: &App) -> Result<(String, String), String> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let err = |e: csv::Error| format!("export: {e}");
    let window = app.view_window();
    let name = match app.view {
        View::Overview => {
            w.write_record([
                "substation",
                "status",
                "stale",
                "load_mw",
                "renewable_pct",
                "voltage_kv",
                "frequency_hz",
                "stability",
                "last_reading",
            ])
            .map_err(err)?;
            for s in app.visible_subs() {
                let l = &s.state.latest;
                w.write_record([
                    s.location.clone(),
                    app.sub_status(s).as_str().to_string(),
                    app.is_stale(s).to_string(),
                    f(l.load_avg_mw, 2),
                    f(l.renewable_penetration * 100.0, 1),
                    f(l.voltage_avg_kv, 3),
                    f(l.frequency_avg_hz, 3),
                    f(l.stability_score, 3),
                    ts(s.state.last_reading),
                ])
                .map_err(err)?;
            }
            "overview".to_string()
        }
        View::Detail => {
            let sub = app.selected_sub().ok_or("export: no substation selected")?;
            w.write_record([
                "hour",
                "load_avg_mw",
                "load_min_mw",
                "load_peak_mw",
                "generation_mw",
                "forecast_mw",
                "renewable_pct",
                "voltage_avg_kv",
                "voltage_min_kv",
                "voltage_max_kv",
                "frequency_avg_hz",
                "frequency_min_hz",
                "frequency_max_hz",
                "status",
            ])
            .map_err(err)?;
            for (t, r) in sub.history.range(window.start..window.end) {
                w.write_record([
                    ts(*t),
                    f(r.load_avg_mw, 2),
                    f(r.load_min_mw, 2),
                    f(r.load_peak_mw, 2),
                    f(r.generation_avg_mw, 2),
                    String::new(),
                    f(r.renewable_penetration * 100.0, 1),
                    f(r.voltage_avg_kv, 3),
                    f(r.voltage_min_kv, 3),
                    f(r.voltage_max_kv, 3),
                    f(r.frequency_avg_hz, 3),
                    f(r.frequency_min_hz, 3),
                    f(r.frequency_max_hz, 3),
                    r.alert_status.as_str().to_string(),
                ])
                .map_err(err)?;
            }
            for p in sub.forecast.iter().filter(|p| p.timestamp >= window.end) {
                let mut row = vec![String::new(); 14];
                row[0] = ts(p.timestamp);
                row[5] = f(p.load_mw, 2);
                w.write_record(&row).map_err(err)?;
            }
            format!("detail-{}", file_part(&sub.location))
        }
        View::Heatmap => {
            let grid = heatmap_grid(app, None).ok_or("export: no substation selected")?;
            let mut head = vec![if app.heat_fleet { "substation".to_string() } else { "day".to_string() }];
            head.extend((0..24).map(|h| format!("h{h:02}")));
            w.write_record(&head).map_err(err)?;
            for (label, cells) in &grid.rows {
                let mut row = vec![label.clone()];
                row.extend(cells.iter().map(|c| c.map(|v| f(v, 3)).unwrap_or_default()));
                w.write_record(&row).map_err(err)?;
            }
            format!("heatmap-{}", app.heat_metric.label().split(' ').next().unwrap_or("metric"))
        }
        View::Alarms => {
            w.write_record(["state", "started_at", "ended_at", "substation", "priority", "rule", "worst", "threshold", "message"])
                .map_err(err)?;
            for a in app.visible_alarms() {
                w.write_record([
                    a.state().label().to_string(),
                    ts(a.alert.started_at),
                    ts(a.alert.ended_at),
                    a.alert.location.clone(),
                    a.alert.priority.as_str().to_string(),
                    a.alert.rule.as_str().to_string(),
                    a.alert.worst_value.to_string(),
                    a.alert.threshold.to_string(),
                    a.alert.message.clone(),
                ])
                .map_err(err)?;
            }
            "alarms".to_string()
        }
        View::Logs => {
            w.write_record(["timestamp", "level", "message"]).map_err(err)?;
            for l in app.visible_logs() {
                let level = format!("{:?}", l.level).to_lowercase();
                w.write_record([ts(l.timestamp), level, l.message.clone()]).map_err(err)?;
            }
            "logs".to_string()
        }
    };
    let bytes = w.into_inner().map_err(|e| format!("export: {e}"))?;
    let text = String::from_utf8(bytes).map_err(|e| format!("export: {e}"))?;
    Ok((format!("gridwatch-{name}-{}.csv", window.end.format("%Y%m%dT%H%M")), text))
}

/// The heatmap the view draws (shared with the renderer so both show the same cells).
/// `fleet_rows`: only these rows of the fleet heatmap (what fits on screen; its shading
/// is relative to them), all when `None`.
pub fn heatmap_grid(app: &App, fleet_rows: Option<std::ops::Range<usize>>) -> Option<heatmap::Grid> {
    let w = app.view_window();
    if app.heat_fleet {
        let list = app.visible_subs();
        let range = fleet_rows.unwrap_or(0..list.len());
        let range = range.start.min(list.len())..range.end.min(list.len());
        let rows = list[range].iter().map(|s| {
            let alerts: Vec<_> = app.alarms.iter().filter(|a| a.alert.location == s.location).map(|a| &a.alert).collect();
            (s.name.as_str(), &s.history, alerts)
        });
        Some(heatmap::substation_by_hour(rows, app.heat_metric, w.start, w.end))
    } else {
        let sub = app.selected_sub()?;
        let alerts: Vec<_> = app.alarms.iter().filter(|a| a.alert.location == sub.location).map(|a| &a.alert).collect();
        Some(heatmap::day_by_hour(&sub.history, &alerts, app.heat_metric, w.start, w.end))
    }
}

/// A substation name made safe for a file name.
fn file_part(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect()
}
