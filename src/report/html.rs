//! The report page: one self-contained HTML file (inline CSS and SVG; no scripts, no
//! fonts or images fetched). It is also well-formed XML, so tests parse it whole.

use super::output::Drawn;
use super::render::escape;
use super::Report;
use crate::model::format_ts;
use std::fmt::Write as _;

const CSS: &str = "
:root { color-scheme: dark; }
body { background: #111217; color: #ccccdc; font-family: 'DejaVu Sans', 'Segoe UI', Helvetica, Arial, sans-serif;
  margin: 0 auto; max-width: 1260px; padding: 16px 24px 48px; font-size: 14px; }
h1 { font-weight: 500; font-size: 26px; margin: 8px 0 4px; }
h2 { font-weight: 500; font-size: 20px; border-bottom: 1px solid #2c3036; padding-bottom: 6px; margin-top: 36px; }
h3 { font-weight: 500; font-size: 16px; }
a { color: #6e9fff; text-decoration: none; }
a:hover { text-decoration: underline; }
.meta { color: #8e8ea0; }
nav { margin: 12px 0; display: flex; flex-wrap: wrap; gap: 6px 16px; }
figure { background: #181b1f; border: 1px solid #2c3036; border-radius: 4px; margin: 14px 0; padding: 0; }
figure svg { display: block; width: 100%; height: auto; }
figcaption { color: #8e8ea0; font-size: 12px; padding: 6px 12px; border-top: 1px solid #2c3036; }
.tablewrap { overflow-x: auto; border: 1px solid #2c3036; border-radius: 4px; }
table { border-collapse: collapse; width: 100%; font-size: 12.5px; font-variant-numeric: tabular-nums; }
th, td { padding: 5px 8px; border-bottom: 1px solid #22252b; text-align: right; white-space: nowrap; }
th { background: #181b1f; color: #8e8ea0; font-weight: 500; position: sticky; top: 0; }
td.name, th.name { text-align: left; }
tr:hover td { background: #1c1f25; }
.crit { color: #f2495c; } .warn { color: #fade2a; } .ok { color: #73bf69; }
details { background: #15171c; border: 1px solid #2c3036; border-radius: 4px; margin: 10px 0; padding: 4px 12px; }
summary { cursor: pointer; padding: 6px 0; font-size: 15px; }
.kpis { display: flex; flex-wrap: wrap; gap: 10px; margin: 10px 0; }
.kpi { background: #181b1f; border: 1px solid #2c3036; border-radius: 4px; padding: 8px 14px; min-width: 120px; }
.kpi b { display: block; font-size: 22px; font-weight: 500; color: #ccccdc; }
.kpi span { color: #8e8ea0; font-size: 12px; }
.note { color: #8e8ea0; font-style: italic; }
";

fn num(v: f64, dec: usize) -> String {
    if v.is_finite() { format!("{v:.dec$}") } else { "–".into() }
}

fn ts(t: Option<chrono::DateTime<chrono::Utc>>) -> String {
    t.map(|t| t.format("%Y-%m-%d %H:%M").to_string()).unwrap_or_else(|| "–".into())
}

fn figure_html(out: &mut String, d: &Drawn) {
    let svg = match d.svg.find("<svg") {
        Some(i) => &d.svg[i..],
        None => d.svg.as_str(),
    };
    let _ = write!(out, r#"<figure id="fig-{}-{}">"#, escape(&d.scope), escape(&d.id));
    out.push_str(svg);
    out.push_str("<figcaption>");
    if d.files.is_empty() {
        out.push_str(&escape(&d.id));
    } else {
        let links: Vec<String> = d
            .files
            .iter()
            .map(|p| {
                let p = p.to_string_lossy().replace('\\', "/");
                let ext = p.rsplit('.').next().unwrap_or("").to_uppercase();
                format!(r#"<a href="{}">{}</a>"#, escape(&p), ext)
            })
            .collect();
        let _ = write!(out, "{} · {}", escape(&d.id), links.join(" · "));
    }
    out.push_str("</figcaption></figure>\n");
}

fn kpi(out: &mut String, value: &str, label: &str, class: &str) {
    let _ = write!(out, r#"<div class="kpi"><b class="{class}">{}</b><span>{}</span></div>"#, escape(value), escape(label));
}

const SUMMARY_COLUMNS: [&str; 17] = [
    "substation", "hours", "load avg MW", "load min MW", "peak MW", "peak hour (UTC)", "load factor", "generation MWh",
    "solar MWh", "wind MWh", "renewable %", "voltage avg kV", "voltage min–max kV", "frequency max |Δf| Hz",
    "stability", "efficiency", "alarms crit / warn",
];

fn summary_table(out: &mut String, report: &Report) {
    out.push_str(r#"<div class="tablewrap"><table class="summary"><thead><tr>"#);
    for (i, c) in SUMMARY_COLUMNS.iter().enumerate() {
        let _ = write!(out, r#"<th{}>{}</th>"#, if i == 0 { r#" class="name""# } else { "" }, escape(c));
    }
    out.push_str("</tr></thead><tbody>\n");
    for s in &report.substations {
        let r = &s.summary;
        let alarm_class = if r.alarms_critical > 0 { "crit" } else if r.alarms_warning > 0 { "warn" } else { "ok" };
        let _ = writeln!(
            out,
            r##"<tr data-location="{loc}"><td class="name"><a href="#sub-{slug}">{loc}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}–{}</td><td>{}</td><td>{}</td><td>{}</td><td class="{alarm_class}">{} / {}</td></tr>"##,
            r.hours,
            num(r.load_avg_mw, 1),
            num(r.load_min_mw, 1),
            num(r.load_peak_mw, 1),
            ts(r.peak_time),
            num(r.load_factor, 3),
            num(r.generation_mwh, 0),
            num(r.solar_mwh, 0),
            num(r.wind_mwh, 0),
            num(100.0 * r.renewable_share, 1),
            num(r.voltage_avg_kv, 3),
            num(r.voltage_min_kv, 2),
            num(r.voltage_max_kv, 2),
            num(r.frequency_max_dev_hz, 3),
            num(r.stability_avg, 4),
            num(r.efficiency_avg, 4),
            r.alarms_critical,
            r.alarms_warning,
            loc = escape(&r.location),
            slug = escape(&s.slug),
        );
    }
    out.push_str("</tbody></table></div>\n");
}

fn alarm_section(out: &mut String, report: &Report) {
    let k = &report.fleet_kpis;
    out.push_str(r#"<section id="alarms"><h2>Alarms</h2><div class="kpis">"#);
    kpi(out, &k.episodes.to_string(), "alarm episodes", "");
    kpi(out, &k.critical.to_string(), "critical", if k.critical > 0 { "crit" } else { "ok" });
    kpi(out, &k.warning.to_string(), "warning", if k.warning > 0 { "warn" } else { "ok" });
    kpi(out, &format!("{:.1} h", k.alarm_hours), "time in alarm", "");
    kpi(out, &format!("{:.0} min", k.mean_duration_min), "mean duration", "");
    kpi(out, &format!("{}/{}", k.substations_affected, report.substations.len()), "substations affected", "");
    out.push_str("</div>");
    out.push_str(r#"<div class="tablewrap"><table class="alarm-kpis"><thead><tr><th class="name">rule</th><th>critical</th><th>high</th><th>medium</th><th>low</th><th>total</th></tr></thead><tbody>"#);
    for rule in super::alarms::RULES {
        let get = |p: &str| k.by_rule_and_priority.get(&format!("{rule}/{p}")).copied().unwrap_or(0);
        let _ = write!(
            out,
            r#"<tr><td class="name">{rule}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>"#,
            get("critical"),
            get("high"),
            get("medium"),
            get("low"),
            k.by_rule.get(rule.as_str()).copied().unwrap_or(0)
        );
    }
    out.push_str("</tbody></table></div>");
    let mut top: Vec<_> = report.substations.iter().filter(|s| s.kpis.episodes > 0).collect();
    top.sort_by(|a, b| b.kpis.critical.cmp(&a.kpis.critical).then(b.kpis.episodes.cmp(&a.kpis.episodes)).then(a.location.cmp(&b.location)));
    if !top.is_empty() {
        out.push_str(r#"<h3>Most alarms</h3><div class="tablewrap"><table><thead><tr><th class="name">substation</th><th>critical</th><th>warning</th><th>hours in alarm</th><th>longest min</th></tr></thead><tbody>"#);
        for s in top.iter().take(10) {
            let _ = write!(
                out,
                r##"<tr><td class="name"><a href="#sub-{}">{}</a></td><td>{}</td><td>{}</td><td>{:.1}</td><td>{:.0}</td></tr>"##,
                escape(&s.slug),
                escape(&s.location),
                s.kpis.critical,
                s.kpis.warning,
                s.kpis.alarm_hours,
                s.kpis.longest_min
            );
        }
        out.push_str("</tbody></table></div>");
    }
    out.push_str("</section>\n");
}

fn accuracy_section(out: &mut String, report: &Report) {
    out.push_str(r#"<section id="accuracy"><h2>Forecast accuracy</h2><p class="meta">Day-ahead (24 h) forecasts from every midnight of the range, re-run on the stored rollups with the engine's model and the seasonal-naive baselines (gridwatch forecast-eval's method). Also in forecast_accuracy.csv.</p>"#);
    out.push_str(r#"<div class="tablewrap"><table class="accuracy"><thead><tr><th class="name">substation</th><th>forecasts</th><th>model MAPE %</th><th>yesterday MAPE %</th><th>last week MAPE %</th><th>model RMSE MW</th><th>yesterday RMSE MW</th><th>last week RMSE MW</th></tr></thead><tbody>"#);
    for s in &report.substations {
        let rows = &s.accuracy.rows;
        if rows.is_empty() {
            let _ = write!(out, r#"<tr><td class="name">{}</td><td colspan="7" class="note">history too short to evaluate</td></tr>"#, escape(&s.location));
            continue;
        }
        let get = |m: &str| rows.iter().find(|r| r.method == m);
        let cell = |m: &str, f: fn(&crate::analysis::forecast::EvalRow) -> f64, d| get(m).map_or("–".to_string(), |r| num(f(r), d));
        let _ = write!(
            out,
            r#"<tr><td class="name">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>"#,
            escape(&s.location),
            rows[0].forecasts,
            cell("model", |r| r.mape_pct, 2),
            cell("same-hour-yesterday", |r| r.mape_pct, 2),
            cell("same-hour-last-week", |r| r.mape_pct, 2),
            cell("model", |r| r.rmse, 2),
            cell("same-hour-yesterday", |r| r.rmse, 2),
            cell("same-hour-last-week", |r| r.rmse, 2),
        );
    }
    out.push_str("</tbody></table></div></section>\n");
}

fn optimization_section(out: &mut String, report: &Report, drawn: &[Drawn]) {
    out.push_str(r#"<section id="optimization"><h2>Optimisation</h2>"#);
    match &report.optimization {
        None => out.push_str(r#"<p class="note">No substation has hourly data in the range to optimise.</p>"#),
        Some(o) => {
            for n in &o.notes {
                let _ = write!(out, "<p>{}</p>", escape(n));
            }
            if !o.columns.is_empty() {
                out.push_str(r#"<div class="tablewrap"><table><thead><tr>"#);
                for c in &o.columns {
                    let _ = write!(out, "<th>{}</th>", escape(c));
                }
                out.push_str("</tr></thead><tbody>");
                for r in &o.rows {
                    out.push_str("<tr>");
                    for c in r {
                        let _ = write!(out, "<td>{}</td>", escape(c));
                    }
                    out.push_str("</tr>");
                }
                out.push_str("</tbody></table></div>");
            }
            for d in drawn.iter().filter(|d| d.scope == "optimization") {
                figure_html(out, d);
            }
        }
    }
    out.push_str("</section>\n");
}

/// The whole page.
pub fn page(report: &Report, drawn: &[Drawn]) -> String {
    let mut out = String::with_capacity(drawn.iter().map(|d| d.svg.len()).sum::<usize>() + 64 * 1024);
    let title = format!("gridwatch report {} – {}", report.range.from.format("%Y-%m-%d"), report.range.to.format("%Y-%m-%d"));
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\" xmlns=\"http://www.w3.org/1999/xhtml\"><head><meta charset=\"utf-8\"/><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/><title>{}</title><style>{CSS}</style></head><body>\n",
        escape(&title)
    );
    let _ = write!(
        out,
        r#"<header><h1>gridwatch report</h1><p class="meta">{} to {} UTC ({} h) · {} substation(s) · source: {} · generated {}</p></header>"#,
        format_ts(report.range.from),
        format_ts(report.range.to),
        report.range.hours(),
        report.substations.len(),
        escape(&report.source),
        format_ts(report.generated_at),
    );
    out.push_str(r##"<nav><a href="#summary">Summary</a><a href="#fleet">Fleet</a><a href="#alarms">Alarms</a><a href="#accuracy">Forecast accuracy</a><a href="#optimization">Optimisation</a><a href="#substations">Substations</a></nav>"##);
    out.push_str(r#"<section id="summary"><h2>Summary</h2><p class="meta">Per substation over the range, from the stored hourly rollups (energies: hourly means × 1 h). Also in summary.csv and summary.json; the rollups themselves in hourly.csv.</p>"#);
    summary_table(&mut out, report);
    out.push_str("</section>\n");
    out.push_str(r#"<section id="fleet"><h2>Fleet</h2>"#);
    for d in drawn.iter().filter(|d| d.scope == "fleet") {
        figure_html(&mut out, d);
    }
    out.push_str("</section>\n");
    alarm_section(&mut out, report);
    accuracy_section(&mut out, report);
    optimization_section(&mut out, report, drawn);
    out.push_str(r#"<section id="substations"><h2>Substations</h2>"#);
    let open = report.substations.len() <= 3;
    for s in &report.substations {
        let status = if s.kpis.critical > 0 {
            ("crit", format!("{} critical alarm(s)", s.kpis.critical))
        } else if s.kpis.warning > 0 {
            ("warn", format!("{} warning(s)", s.kpis.warning))
        } else {
            ("ok", "no alarms".to_string())
        };
        let _ = write!(
            out,
            r#"<details id="sub-{}"{}><summary>{} <span class="{}">· {}</span> <span class="meta">· peak {} MW · load factor {}</span></summary>"#,
            escape(&s.slug),
            if open { r#" open="open""# } else { "" },
            escape(&s.location),
            status.0,
            escape(&status.1),
            num(s.summary.load_peak_mw, 1),
            num(s.summary.load_factor, 3)
        );
        if s.figures.is_empty() {
            out.push_str(r#"<p class="note">No hourly data in the range.</p>"#);
        }
        for d in drawn.iter().filter(|d| d.scope == s.slug) {
            figure_html(&mut out, d);
        }
        out.push_str("</details>\n");
    }
    out.push_str("</section></body></html>\n");
    out
}
