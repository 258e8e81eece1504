//! Figure builders: metrics in, [`Figure`] specs out. No drawing here.

use super::accuracy::{Accuracy, MethodMean};
use super::alarms::{StateBand, RULES};
use super::data::{ReportRange, SubstationData};
use super::figure::*;
use super::metrics::{DayHourGrid, DayStats, FleetHour, HourOfDayRow, WeeklyProfile};
use crate::config::AnalysisConfig;
use crate::model::{AlertStatus, ForecastPoint, HourlyRollup};
use chrono::{DateTime, Duration, Utc};
use palette::*;
use std::collections::BTreeMap;

const WIDTH: u32 = 1200;

fn line(name: &str, color: Rgb, points: Vec<(f64, f64)>, width: u32, dashed: bool) -> Layer {
    Layer { name: name.into(), color, kind: LayerKind::Line { points, width, dashed } }
}

fn band(name: &str, color: Rgb, points: Vec<(f64, f64, f64)>, opacity: f64) -> Layer {
    Layer { name: name.into(), color, kind: LayerKind::Band { points, opacity } }
}

fn zone(color: Rgb, lo: f64, hi: f64, opacity: f64) -> Layer {
    Layer { name: String::new(), color, kind: LayerKind::Zone { lo, hi, opacity } }
}

fn hline(name: &str, color: Rgb, y: f64, dashed: bool) -> Layer {
    Layer { name: name.into(), color, kind: LayerKind::HLine { y, dashed } }
}

/// Points of an hourly series with NaN inserted where an hour is missing, so lines
/// and bands break over gaps instead of bridging them.
fn gapped<T: Copy>(points: &[(f64, T)], nan: T) -> Vec<(f64, T)> {
    let mut out = Vec::with_capacity(points.len());
    for (i, p) in points.iter().enumerate() {
        if i > 0 && p.0 - points[i - 1].0 > 1.5 {
            out.push(((p.0 + points[i - 1].0) / 2.0, nan));
        }
        out.push(*p);
    }
    out
}

fn xs(origin: DateTime<Utc>, t: DateTime<Utc>) -> f64 {
    XAxis::x(origin, t)
}

/// Points at the middle of each hour, so an hourly value sits over its hour.
fn mid(origin: DateTime<Utc>, t: DateTime<Utc>) -> f64 {
    xs(origin, t) + 0.5
}

fn series(origin: DateTime<Utc>, rollups: &[HourlyRollup], f: impl Fn(&HourlyRollup) -> f64) -> Vec<(f64, f64)> {
    gapped(&rollups.iter().map(|r| (mid(origin, r.timestamp), f(r))).collect::<Vec<_>>(), f64::NAN)
}

fn envelope(
    origin: DateTime<Utc>,
    rollups: &[HourlyRollup],
    f: impl Fn(&HourlyRollup) -> (f64, f64),
) -> Vec<(f64, f64, f64)> {
    let pts: Vec<(f64, (f64, f64))> = rollups.iter().map(|r| (mid(origin, r.timestamp), f(r))).collect();
    gapped(&pts, (f64::NAN, f64::NAN)).into_iter().map(|(x, (lo, hi))| (x, lo, hi)).collect()
}

/// The chart's y range: the data's bounds with headroom, widened to `extra` values
/// that must stay visible (limits, nominal values).
fn y_range_of(layers: &[Layer], extra: &[f64], floor_zero: bool) -> (f64, f64) {
    let values = layers
        .iter()
        .filter(|l| !matches!(l.kind, LayerKind::Zone { .. }))
        .flat_map(|l| l.xy().into_iter().map(|(_, y)| y))
        .chain(extra.iter().copied());
    let (lo, hi) = bounds(values).unwrap_or((0.0, 1.0));
    let (lo, hi) = padded(lo, hi, 0.08);
    if floor_zero && lo < 0.0 && bounds(layers.iter().flat_map(|l| l.xy().into_iter().map(|(_, y)| y))).is_some_and(|(l, _)| l >= 0.0) {
        (0.0, hi)
    } else {
        (lo, hi)
    }
}

fn time_chart(title: &str, origin: DateTime<Utc>, x_range: (f64, f64), y_label: &str, layers: Vec<Layer>, extra: &[f64], floor_zero: bool) -> Chart {
    let y_range = y_range_of(&layers, extra, floor_zero);
    Chart { title: title.into(), x: XAxis::Time { origin }, x_range, y_label: y_label.into(), y_range, layers, secondary: None }
}

fn fmt_pct(x: f64) -> String {
    if x.is_finite() { format!("{x:.1} %") } else { "n/a".into() }
}

/// Load curve (hourly view): load with its min–max envelope, the model's day-ahead
/// forecast re-run on the stored rollups, the stored 24 h forecast, and the errors.
pub fn load_curve(s: &SubstationData, acc: &Accuracy, range: &ReportRange, id_prefix: &str) -> Figure {
    let o = range.from;
    // The stored forecast usually starts where the data ends: show it when it begins
    // within a day of the range's end.
    let stored: Vec<&ForecastPoint> = s
        .forecast
        .iter()
        .filter(|p| p.timestamp >= range.from && p.timestamp < range.to + Duration::hours(24))
        .collect();
    let x_end = stored.iter().map(|p| xs(o, p.timestamp) + 1.0).fold(range.hours() as f64, f64::max);
    let x_range = (0.0, x_end);
    let day_ahead: Vec<(f64, f64)> = acc.day_ahead.iter().map(|(t, v)| (mid(o, *t), *v)).collect();
    let stored_pts: Vec<(f64, f64)> = stored.iter().map(|p| (mid(o, p.timestamp), p.load_mw)).collect();
    let mut layers = vec![
        band("min–max per hour", BLUE, envelope(o, &s.rollups, |r| (r.load_min_mw, r.load_peak_mw)), 0.18),
        line("load (hourly mean)", BLUE, series(o, &s.rollups, |r| r.load_avg_mw), 2, false),
    ];
    if !day_ahead.is_empty() {
        layers.push(line("day-ahead forecast (model)", ORANGE, gapped(&day_ahead, f64::NAN), 1, true));
    }
    if !stored_pts.is_empty() {
        layers.push(line("stored 24 h forecast", PURPLE, stored_pts, 2, true));
    }
    let top = time_chart("Load", o, x_range, "MW", layers, &[], true);
    let actual: BTreeMap<DateTime<Utc>, f64> = s.rollups.iter().map(|r| (r.timestamp, r.load_avg_mw)).collect();
    let model_err: Vec<(f64, f64)> =
        acc.day_ahead.iter().filter_map(|(t, f)| actual.get(t).map(|a| (mid(o, *t), f - a))).collect();
    let stored_err: Vec<(f64, f64)> = acc.stored_error.iter().map(|(t, e)| (mid(o, *t), *e)).collect();
    let mut err_layers = vec![hline("", AXIS, 0.0, false)];
    if !model_err.is_empty() {
        err_layers.push(Layer { name: "model error (forecast − actual)".into(), color: ORANGE, kind: LayerKind::Bars { points: model_err, width: 0.8, base: 0.0 } });
    }
    if !stored_err.is_empty() {
        err_layers.push(Layer { name: "stored forecast error".into(), color: PURPLE, kind: LayerKind::Bars { points: stored_err, width: 0.8, base: 0.0 } });
    }
    let has_errors = err_layers.len() > 1;
    let bottom = time_chart("Forecast error", o, x_range, "MW", err_layers, &[], false);
    let score = |m: &str| acc.rows.iter().find(|r| r.method == m);
    let subtitle = match score("model") {
        Some(model) => format!(
            "day-ahead MAPE: model {} · same hour yesterday {} · same hour last week {} ({} forecasts){}",
            fmt_pct(model.mape_pct),
            fmt_pct(score("same-hour-yesterday").map_or(f64::NAN, |r| r.mape_pct)),
            fmt_pct(score("same-hour-last-week").map_or(f64::NAN, |r| r.mape_pct)),
            model.forecasts,
            acc.stored_mape_pct.map(|m| format!(" · stored forecast {}", fmt_pct(m))).unwrap_or_default()
        ),
        None => format!("forecast not evaluated: less than {} days of history before the range", crate::analysis::forecast::MIN_MODEL_DAYS),
    };
    Figure {
        id: format!("{id_prefix}load_curve"),
        title: format!("{} — load curve", s.location),
        subtitle,
        width: WIDTH,
        height: if has_errors { 560 } else { 420 },
        // No error panel when nothing could be compared (no day-ahead forecast, no overlap).
        panels: if has_errors { vec![(3, Panel::Chart(top)), (1, Panel::Chart(bottom))] } else { vec![(1, Panel::Chart(top))] },
    }
}

const WEEK_COLORS: [Rgb; 6] = [BLUE, TEAL, PURPLE, ORANGE, YELLOW, GREEN];

/// Load curve (weekly view): each ISO week over the hours of the week, and their mean.
pub fn load_weekly(location: &str, p: &WeeklyProfile) -> Figure {
    let to_pts = |v: &[Option<f64>]| -> Vec<(f64, f64)> {
        gapped(&v.iter().enumerate().filter_map(|(h, y)| y.map(|y| (h as f64 + 0.5, y))).collect::<Vec<_>>(), f64::NAN)
    };
    let mut layers: Vec<Layer> = p
        .weeks
        .iter()
        .enumerate()
        .map(|(i, (label, v))| line(label, WEEK_COLORS[i % WEEK_COLORS.len()], to_pts(v), 1, false))
        .collect();
    layers.push(line("mean over the weeks", TEXT, to_pts(&p.mean), 3, false));
    let y_range = y_range_of(&layers, &[], true);
    Figure {
        id: "load_weekly".into(),
        title: format!("{location} — load by hour of the week"),
        subtitle: format!("hourly mean load, one line per ISO week ({} weeks), UTC", p.weeks.len()),
        width: WIDTH,
        height: 420,
        panels: vec![(1, Panel::Chart(Chart {
            title: "Weekly profile".into(),
            x: XAxis::HourOfWeek,
            x_range: (0.0, 168.0),
            y_label: "MW".into(),
            y_range,
            layers,
            secondary: None,
        }))],
    }
}

/// One hour of generation: (hour start, solar, wind, generation) in MW.
pub type GenHour = (DateTime<Utc>, f64, f64, f64);

/// Renewable penetration: solar and wind stacked against generation, and the share.
pub fn renewables(id: &str, title: &str, hours: &[GenHour], range: &ReportRange) -> Figure {
    let o = range.from;
    let pts = |f: &dyn Fn(&GenHour) -> (f64, f64)| -> Vec<(f64, f64, f64)> {
        let v: Vec<(f64, (f64, f64))> = hours.iter().map(|h| (mid(o, h.0), f(h))).collect();
        gapped(&v, (f64::NAN, f64::NAN)).into_iter().map(|(x, (a, b))| (x, a, b)).collect()
    };
    let generation: Vec<(f64, f64)> = gapped(&hours.iter().map(|h| (mid(o, h.0), h.3)).collect::<Vec<_>>(), f64::NAN);
    let layers = vec![
        band("solar", YELLOW, pts(&|h| (0.0, h.1)), 0.55),
        band("wind (stacked on solar)", TEAL, pts(&|h| (h.1, h.1 + h.2)), 0.55),
        line("generation", GREY, generation, 2, false),
    ];
    let x_range = (0.0, range.hours() as f64);
    let top = time_chart("Generation", o, x_range, "MW", layers, &[0.0], true);
    let share: Vec<(f64, f64)> = gapped(
        &hours.iter().map(|h| (mid(o, h.0), if h.3 > 0.0 { 100.0 * (h.1 + h.2) / h.3 } else { 0.0 })).collect::<Vec<_>>(),
        f64::NAN,
    );
    let share_band: Vec<(f64, f64, f64)> = share.iter().map(|&(x, y)| (x, if y.is_nan() { f64::NAN } else { 0.0 }, y)).collect();
    let bottom = time_chart(
        "Renewable penetration",
        o,
        x_range,
        "%",
        vec![band("", GREEN, share_band, 0.25), line("renewable share of generation", GREEN, share, 1, false)],
        &[0.0],
        true,
    );
    let (sol, wind, gen_total) = hours.iter().fold((0.0, 0.0, 0.0), |a, h| (a.0 + h.1, a.1 + h.2, a.2 + h.3));
    Figure {
        id: id.into(),
        title: title.into(),
        subtitle: format!(
            "solar {:.0} MWh · wind {:.0} MWh · generation {:.0} MWh · renewable share {}",
            sol,
            wind,
            gen_total,
            fmt_pct(if gen_total > 0.0 { 100.0 * (sol + wind) / gen_total } else { f64::NAN })
        ),
        width: WIDTH,
        height: 560,
        panels: vec![(3, Panel::Chart(top)), (2, Panel::Chart(bottom))],
    }
}

/// One hour of a quantity: (hour start, mean, min, max).
pub type EnvHour = (DateTime<Utc>, f64, f64, f64);

/// Voltage and frequency with nominal value, the alarm limits as bands, and the min–max envelope.
pub fn voltage_frequency(id: &str, title: &str, voltage: &[EnvHour], frequency: &[EnvHour], cfg: &AnalysisConfig, range: &ReportRange) -> Figure {
    let o = range.from;
    let x_range = (0.0, range.hours() as f64);
    let chart = |name: &str, unit: &str, hours: &[EnvHour], nominal: f64, lo: f64, hi: f64, color: Rgb| {
        let env: Vec<(f64, (f64, f64))> = hours.iter().map(|h| (mid(o, h.0), (h.2, h.3))).collect();
        let env = gapped(&env, (f64::NAN, f64::NAN)).into_iter().map(|(x, (a, b))| (x, a, b)).collect();
        let avg = gapped(&hours.iter().map(|h| (mid(o, h.0), h.1)).collect::<Vec<_>>(), f64::NAN);
        let mut layers = vec![
            band("min–max per hour", color, env, 0.35),
            line(&format!("{} (hourly mean)", name.to_lowercase()), color, avg, 2, false),
            hline(&format!("nominal {nominal} {unit}"), GREY, nominal, true),
            hline(&format!("alarm limits {lo:.2}–{hi:.2} {unit}"), RED, lo, true),
            hline("", RED, hi, true),
        ];
        let mut c = time_chart(name, o, x_range, unit, std::mem::take(&mut layers), &[lo, hi], false);
        let (ylo, yhi) = c.y_range;
        // Threshold zones under everything: red outside the limits, green inside.
        c.layers.splice(0..0, [zone(RED, ylo.min(lo), lo, 0.12), zone(RED, hi, yhi.max(hi), 0.12), zone(GREEN, lo, hi, 0.05)]);
        c
    };
    let f_nom = cfg.nominal_frequency_hz;
    let dev = cfg.frequency_deviation_hz;
    let v_out = voltage.iter().filter(|h| h.2 < cfg.voltage_low_kv || h.3 > cfg.voltage_high_kv).count();
    let f_out = frequency.iter().filter(|h| (h.2 - f_nom).abs() > dev || (h.3 - f_nom).abs() > dev).count();
    Figure {
        id: id.into(),
        title: title.into(),
        subtitle: format!("hours with a reading outside the limits: voltage {v_out} · frequency {f_out} (of {} hours with data)", voltage.len()),
        width: WIDTH,
        height: 620,
        panels: vec![
            (1, Panel::Chart(chart("Voltage", "kV", voltage, cfg.nominal_voltage_kv, cfg.voltage_low_kv, cfg.voltage_high_kv, BLUE))),
            (1, Panel::Chart(chart("Frequency", "Hz", frequency, f_nom, f_nom - dev, f_nom + dev, PURPLE))),
        ],
    }
}

pub fn voltage_frequency_hours(rollups: &[HourlyRollup]) -> (Vec<EnvHour>, Vec<EnvHour>) {
    (
        rollups.iter().map(|r| (r.timestamp, r.voltage_avg_kv, r.voltage_min_kv, r.voltage_max_kv)).collect(),
        rollups.iter().map(|r| (r.timestamp, r.frequency_avg_hz, r.frequency_min_hz, r.frequency_max_hz)).collect(),
    )
}

/// Peak demand heatmap, day × hour of day; cell values are `grid`'s, unchanged.
pub fn peak_heatmap(location: &str, grid: &DayHourGrid) -> Figure {
    let values: Vec<Vec<Option<f64>>> = grid.cells.iter().map(|r| r.to_vec()).collect();
    let scale = bounds(values.iter().flatten().flatten().copied()).unwrap_or((0.0, 1.0));
    let peak = grid.cells.iter().zip(&grid.days).flat_map(|(r, d)| r.iter().enumerate().filter_map(move |(h, v)| v.map(|v| (v, *d, h)))).max_by(|a, b| a.0.total_cmp(&b.0));
    let rows = grid.days.len();
    Figure {
        id: "peak_heatmap".into(),
        title: format!("{location} — peak demand by day and hour"),
        subtitle: match peak {
            Some((v, d, h)) => format!("hourly peak load (UTC); highest {v:.1} MW on {d} at {h:02}:00"),
            None => "no data".into(),
        },
        width: WIDTH,
        height: (150 + 18 * rows as u32).max(300),
        panels: vec![(1, Panel::Heatmap(Heatmap {
            title: "Peak load".into(),
            rows: grid.days.iter().map(|d| d.format("%a %Y-%m-%d").to_string()).collect(),
            cols: (0..24).map(|h| format!("{h:02}")).collect(),
            values,
            color_values: None,
            unit: "MW".into(),
            scale,
            scale_label: "MW".into(),
            x_label: "hour of day (UTC)".into(),
            y_label: String::new(),
        }))],
    }
}

/// Fleet heatmap, substation × hour of day: each cell the substation's largest peak at
/// that hour over the range, coloured by its share of the substation's own peak.
pub fn fleet_heatmap(rows: &[HourOfDayRow]) -> Figure {
    Figure {
        id: "fleet_heatmap".into(),
        title: "Fleet — when each substation peaks".into(),
        subtitle: "largest hourly peak per hour of day (UTC) over the range; colour: share of the substation's own peak".into(),
        width: WIDTH,
        height: (150 + 16 * rows.len() as u32).max(300),
        panels: vec![(1, Panel::Heatmap(Heatmap {
            title: "Peak load by hour of day".into(),
            rows: rows.iter().map(|r| r.location.clone()).collect(),
            cols: (0..24).map(|h| format!("{h:02}")).collect(),
            values: rows.iter().map(|r| r.peak_mw.to_vec()).collect(),
            color_values: Some(rows.iter().map(|r| r.share_of_peak.iter().map(|v| v.map(|v| 100.0 * v)).collect()).collect()),
            unit: "MW".into(),
            scale: (bounds(rows.iter().flat_map(|r| r.share_of_peak.iter().flatten().map(|v| 100.0 * v))).map_or(0.0, |b| b.0.floor()), 100.0),
            scale_label: "% of peak".into(),
            x_label: "hour of day (UTC)".into(),
            y_label: String::new(),
        }))],
    }
}

/// Efficiency and stability scores per hour, with the stability alarm limit.
pub fn scores(location: &str, rollups: &[HourlyRollup], cfg: &AnalysisConfig, range: &ReportRange) -> Figure {
    let o = range.from;
    let layers = vec![
        line("stability score", GREEN, series(o, rollups, |r| r.stability_score), 2, false),
        line("efficiency score", BLUE, series(o, rollups, |r| r.efficiency_score), 2, false),
        hline(&format!("stability alarm below {}", cfg.stability_min), RED, cfg.stability_min, true),
    ];
    let mut c = time_chart("Scores", o, (0.0, range.hours() as f64), "score", layers, &[cfg.stability_min], false);
    c.y_range.1 = c.y_range.1.min(1.02);
    c.layers.insert(0, zone(RED, c.y_range.0.min(cfg.stability_min), cfg.stability_min, 0.12));
    let below = rollups.iter().filter(|r| r.stability_score < cfg.stability_min).count();
    Figure {
        id: "scores".into(),
        title: format!("{location} — efficiency and stability"),
        subtitle: format!("hourly scores; {below} hour(s) below the stability limit"),
        width: WIDTH,
        height: 380,
        panels: vec![(1, Panel::Chart(c))],
    }
}

/// Daily peaks (bars) and the daily load factor (line, right axis).
pub fn daily_peaks(location: &str, days: &[DayStats], range: &ReportRange) -> Figure {
    let o = range.from;
    let day_mid = |d: &DayStats| xs(o, d.date.and_hms_opt(12, 0, 0).map(|t| t.and_utc()).unwrap_or(o));
    let bars = Layer {
        name: "daily peak".into(),
        color: ORANGE,
        kind: LayerKind::Bars { points: days.iter().map(|d| (day_mid(d), d.peak_mw)).collect(), width: 16.0, base: 0.0 },
    };
    let mut c = time_chart("Daily peak", o, (0.0, range.hours() as f64), "MW", vec![bars], &[0.0], true);
    c.secondary = Some(Secondary {
        y_label: "load factor".into(),
        y_range: (0.0, 1.0),
        layers: vec![line("load factor (mean / peak)", PURPLE, days.iter().map(|d| (day_mid(d), d.load_factor)).collect(), 2, false)],
    });
    let top = days.iter().max_by(|a, b| a.peak_mw.total_cmp(&b.peak_mw));
    Figure {
        id: "daily_peaks".into(),
        title: format!("{location} — daily peaks and load factor"),
        subtitle: match top {
            Some(d) => format!("highest daily peak {:.1} MW on {} at {}", d.peak_mw, d.date, d.peak_hour.format("%H:00")),
            None => "no data".into(),
        },
        width: WIDTH,
        height: 380,
        panels: vec![(1, Panel::Chart(c))],
    }
}

pub fn severity_color(s: AlertStatus) -> Rgb {
    match s {
        AlertStatus::Critical => RED,
        AlertStatus::Warning => YELLOW,
        AlertStatus::Normal => GREEN,
    }
}

/// Alarm timeline: the hourly status and one row per rule (see `alarms`).
pub fn alarm_timeline(id: &str, title: &str, subtitle: String, bands: &[StateBand], with_status_row: bool, range: &ReportRange) -> Figure {
    let o = range.from;
    let mut rows: Vec<String> = Vec::new();
    if with_status_row {
        rows.push("hourly status".into());
    }
    rows.extend(RULES.iter().map(|r| r.to_string()));
    let shift = if with_status_row { 0 } else { 1 };
    let bands = bands
        .iter()
        .filter(|b| b.row >= shift)
        .map(|b| Band { row: b.row - shift, start: xs(o, b.start), end: xs(o, b.end), color: severity_color(b.status), label: b.label.clone() })
        .collect();
    Figure {
        id: id.into(),
        title: title.into(),
        subtitle,
        width: WIDTH,
        height: 150 + 30 * rows.len() as u32,
        panels: vec![(1, Panel::Timeline(Timeline {
            title: "Alarm states".into(),
            origin: o,
            x_range: (0.0, range.hours() as f64),
            rows,
            bands,
            legend: vec![("critical".into(), RED), ("warning".into(), YELLOW)],
        }))],
    }
}

/// Forecast accuracy: fleet means per method, and per substation (the `limit` with the
/// highest model MAPE when there are more).
pub fn forecast_accuracy(means: &[MethodMean], all: &[Accuracy], limit: usize) -> Figure {
    let colors = [ORANGE, BLUE, TEAL];
    let fleet = Bars {
        title: "Fleet mean MAPE".into(),
        categories: means.iter().map(|m| format!("{} ({} substations)", m.method, m.substations)).collect(),
        groups: vec![("MAPE %".into(), ORANGE, means.iter().map(|m| m.mape_pct).collect())],
        y_label: "MAPE %".into(),
        y_range: (0.0, padded(0.0, bounds(means.iter().map(|m| m.mape_pct)).map_or(1.0, |b| b.1), 0.1).1),
    };
    let mut scored: Vec<&Accuracy> = all.iter().filter(|a| !a.rows.is_empty()).collect();
    scored.sort_by(|a, b| b.rows[0].mape_pct.total_cmp(&a.rows[0].mape_pct));
    let shown = scored.len().min(limit);
    scored.truncate(limit);
    scored.sort_by(|a, b| a.location.cmp(&b.location));
    let groups: Vec<(String, Rgb, Vec<f64>)> = crate::analysis::forecast::Method::ALL
        .iter()
        .zip(colors)
        .map(|(m, c)| {
            (m.name().to_string(), c, scored.iter().map(|a| a.rows.iter().find(|r| r.method == m.name()).map_or(f64::NAN, |r| r.mape_pct)).collect())
        })
        .collect();
    let hi = bounds(groups.iter().flat_map(|g| g.2.iter().copied())).map_or(1.0, |b| b.1);
    let per = Bars {
        title: if shown < all.len() { format!("MAPE per substation ({shown} with the highest model MAPE)") } else { "MAPE per substation".into() },
        categories: scored.iter().map(|a| a.location.clone()).collect(),
        groups,
        y_label: "MAPE %".into(),
        y_range: (0.0, padded(0.0, hi, 0.1).1),
    };
    let fleet_h = 80 + 36 * means.len() as u32;
    let per_h = 80 + 42 * per.categories.len().max(1) as u32;
    Figure {
        id: "fleet_forecast_accuracy".into(),
        title: "Fleet — day-ahead forecast accuracy".into(),
        subtitle: "24 h forecasts from every midnight of the range, model vs seasonal-naive baselines (rolling origin)".into(),
        width: WIDTH,
        // About 40 px per bar group, so 30 substations stay readable.
        height: 64 + fleet_h + per_h,
        panels: vec![(fleet_h, Panel::Bars(fleet)), (per_h, Panel::Bars(per))],
    }
}

/// The fleet's load curve: summed load and generation, and the summed stored forecasts.
pub fn fleet_load(hours: &[FleetHour], forecasts: &[ForecastPoint], range: &ReportRange) -> Figure {
    let o = range.from;
    let mut fc: BTreeMap<DateTime<Utc>, f64> = BTreeMap::new();
    for p in forecasts.iter().filter(|p| p.timestamp >= range.from && p.timestamp < range.to + Duration::hours(24)) {
        *fc.entry(p.timestamp).or_default() += p.load_mw;
    }
    let x_end = fc.keys().map(|t| xs(o, *t) + 1.0).fold(range.hours() as f64, f64::max);
    let mut layers = vec![
        line("generation", GREY, gapped(&hours.iter().map(|h| (mid(o, h.timestamp), h.generation_mw)).collect::<Vec<_>>(), f64::NAN), 1, false),
        line("load", BLUE, gapped(&hours.iter().map(|h| (mid(o, h.timestamp), h.load_mw)).collect::<Vec<_>>(), f64::NAN), 2, false),
    ];
    if !fc.is_empty() {
        layers.push(line("stored 24 h forecasts (sum)", PURPLE, fc.iter().map(|(t, v)| (mid(o, *t), *v)).collect(), 2, true));
    }
    let peak = hours.iter().max_by(|a, b| a.load_mw.total_cmp(&b.load_mw));
    let n = hours.iter().map(|h| h.substations).max().unwrap_or(0);
    Figure {
        id: "fleet_load".into(),
        title: "Fleet — total load".into(),
        subtitle: match peak {
            Some(p) => format!("sum over the substations reporting each hour (up to {n}); fleet peak {:.0} MW at {}", p.load_mw, p.timestamp.format("%Y-%m-%d %H:00")),
            None => "no data".into(),
        },
        width: WIDTH,
        height: 420,
        panels: vec![(1, Panel::Chart(time_chart("Load", o, (0.0, x_end), "MW", layers, &[], true)))],
    }
}
