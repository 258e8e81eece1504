//! `gridwatch report`: the numbers (hand-computed fixtures), the figure specs (axis
//! ranges hold the data), the files (PNG decoded, SVG/HTML parsed, PDF framed, CSV/JSON
//! read back), the errors, and the report of the bundled sample data end to end.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use gridwatch::backend::GridStore;
use gridwatch::config::AnalysisConfig;
use gridwatch::model::{Alert, AlertRule, AlertStatus, HourlyRollup, Priority, SubstationState};
use gridwatch::report::figure::{LayerKind, Panel};
use gridwatch::report::{self, alarms, data, figures, metrics, render, Format, NoProgress, ReportError, ReportRange, ReportRequest};
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn rollup(location: &str, ts: DateTime<Utc>, load_avg: f64, load_peak: f64) -> HourlyRollup {
    HourlyRollup {
        location: location.into(),
        timestamp: ts,
        count: 4,
        load_avg_mw: load_avg,
        load_min_mw: load_avg - 1.0,
        load_peak_mw: load_peak,
        generation_avg_mw: 100.0,
        solar_avg_mw: 10.0,
        wind_avg_mw: 5.0,
        renewable_penetration: 0.15,
        voltage_avg_kv: 13.8,
        voltage_min_kv: 13.7,
        voltage_max_kv: 13.9,
        frequency_avg_hz: 60.0,
        frequency_min_hz: 59.98,
        frequency_max_hz: 60.02,
        frequency_max_dev_hz: 0.02,
        power_factor_avg: 0.95,
        power_factor_defaulted: 0,
        stability_score: 0.99,
        efficiency_score: 0.9,
        alert_status: AlertStatus::Normal,
        alert_reasons: vec![],
    }
}

/// An alarm of the status level given: critical ones are high priority, warnings low.
fn alert(location: &str, rule: AlertRule, status: AlertStatus, start: &str, end: &str) -> Alert {
    let priority = if status == AlertStatus::Critical { Priority::High } else { Priority::Low };
    Alert {
        location: location.into(),
        rule,
        priority,
        started_at: t(start),
        activated_at: t(start),
        ended_at: t(end),
        active: false,
        worst_value: 13.2,
        threshold: 13.5,
        samples: 3,
        chattering: false,
        shelved_until: None,
        message: "fixture".into(),
    }
}

/// Two days; hour 5 of day 2 missing; day 1 hour 13 has the largest peak.
fn two_days() -> Vec<HourlyRollup> {
    let start = t("2025-03-03T00:00:00Z");
    (0..48)
        .filter(|h| *h != 24 + 5)
        .map(|h| {
            let peak = if h == 13 { 250.0 } else { 100.0 + h as f64 };
            rollup("north", start + Duration::hours(h), 90.0 + (h % 24) as f64, peak)
        })
        .collect()
}

#[test]
fn peak_heatmap_cells_are_the_rollups_peaks() {
    let grid = metrics::peak_heatmap(&two_days());
    assert_eq!(grid.days, vec![NaiveDate::from_ymd_opt(2025, 3, 3).unwrap(), NaiveDate::from_ymd_opt(2025, 3, 4).unwrap()]);
    assert_eq!(grid.cells[0][0], Some(100.0));
    assert_eq!(grid.cells[0][13], Some(250.0));
    assert_eq!(grid.cells[0][23], Some(123.0));
    assert_eq!(grid.cells[1][4], Some(128.0));
    assert_eq!(grid.cells[1][5], None, "missing hour stays empty");
    assert_eq!(grid.cells[1][6], Some(130.0));
    // Two rollups in one hour (should not happen): the larger peak wins.
    let mut dup = two_days();
    dup.push(rollup("north", t("2025-03-03T02:00:00Z"), 1.0, 999.0));
    assert_eq!(metrics::peak_heatmap(&dup).cells[0][2], Some(999.0));
}

fn svg_doc(svg: &str) -> roxmltree::Document<'_> {
    roxmltree::Document::parse(svg).unwrap_or_else(|e| panic!("SVG does not parse: {e}"))
}

/// `(data-row, data-col) -> data-value` of a rendered heatmap.
fn heatmap_cells(doc: &roxmltree::Document) -> Vec<(String, String, Option<f64>)> {
    doc.descendants()
        .filter(|n| n.has_tag_name("g") && n.attribute("class") == Some("heatmap"))
        .flat_map(|g| g.children().filter(|n| n.has_tag_name("rect")))
        .map(|r| {
            (
                r.attribute("data-row").unwrap().to_string(),
                r.attribute("data-col").unwrap().to_string(),
                r.attribute("data-value").map(|v| v.parse().unwrap()),
            )
        })
        .collect()
}

#[test]
fn the_heatmap_svg_carries_the_cell_values_and_tooltips() {
    let grid = metrics::peak_heatmap(&two_days());
    let svg = render::to_svg(&figures::peak_heatmap("north <&> \"x\"", &grid)).unwrap();
    let doc = svg_doc(&svg);
    let cells = heatmap_cells(&doc);
    assert_eq!(cells.len(), 48);
    for (row, col, value) in &cells {
        let d = if row.ends_with("2025-03-03") { 0 } else { 1 };
        let h: usize = col.parse().unwrap();
        assert_eq!(*value, grid.cells[d][h], "{row} {col}");
    }
    let tooltip = doc.descendants().find(|n| n.has_tag_name("title") && n.text().is_some_and(|t| t.contains("250.00 MW"))).unwrap();
    assert!(tooltip.text().unwrap().starts_with("Mon 2025-03-03 13:00"));
    // The substation name is text from outside: escaped, still readable.
    assert!(doc.descendants().any(|n| n.text().is_some_and(|t| t.contains("north <&> \"x\""))));
}

#[test]
fn summary_row_is_hand_computed() {
    let s = t("2025-03-03T00:00:00Z");
    let mut a = rollup("x", s, 10.0, 12.0);
    let mut b = rollup("x", s + Duration::hours(1), 20.0, 30.0);
    let c = rollup("x", s + Duration::hours(2), 30.0, 30.0);
    a.count = 2; // weights 2, 4, 4
    b.solar_avg_mw = 40.0;
    b.alert_status = AlertStatus::Critical;
    b.voltage_min_kv = 13.1;
    let r = metrics::summary_row("x", &[a, b, c], &metrics::AlarmCounts { critical: 2, warning: 1 });
    assert_eq!((r.hours, r.readings), (3, 10));
    assert!((r.load_avg_mw - (10.0 * 2.0 + 20.0 * 4.0 + 30.0 * 4.0) / 10.0).abs() < 1e-9); // 22
    assert_eq!(r.load_peak_mw, 30.0);
    assert_eq!(r.peak_time, Some(s + Duration::hours(1)), "the first hour reaching the peak");
    assert!((r.load_factor - 22.0 / 30.0).abs() < 1e-9);
    assert!((r.load_std_mw - 10.0).abs() < 1e-9); // hourly means 10, 20, 30
    assert_eq!(r.load_min_mw, 9.0);
    assert!((r.generation_mwh - 300.0).abs() < 1e-9);
    assert!((r.solar_mwh - 60.0).abs() < 1e-9 && (r.wind_mwh - 15.0).abs() < 1e-9);
    assert!((r.renewable_mwh - 75.0).abs() < 1e-9 && (r.renewable_share - 0.25).abs() < 1e-9);
    assert_eq!(r.voltage_min_kv, 13.1);
    assert_eq!((r.hours_critical, r.hours_warning, r.alarms_critical, r.alarms_warning), (1, 0, 2, 1));
    let empty = metrics::summary_row("none", &[], &metrics::AlarmCounts::default());
    assert_eq!((empty.hours, empty.load_peak_mw, empty.load_factor, empty.peak_time), (0, 0.0, 0.0, None));
    assert!(empty.voltage_min_kv.is_finite());
}

#[test]
fn daily_peaks_load_factor_and_hour_of_day_shares() {
    let days = metrics::daily_stats(&two_days());
    assert_eq!(days.len(), 2);
    assert_eq!((days[0].peak_mw, days[0].peak_hour), (250.0, t("2025-03-03T13:00:00Z")));
    // Day 1: hourly means 90..=113 → 101.5; day 2 lacks hour 5 (95).
    assert!((days[0].load_factor - 101.5 / 250.0).abs() < 1e-9);
    assert_eq!(days[1].hours, 23);
    assert!((days[1].load_avg_mw - (101.5 * 24.0 - 95.0) / 23.0).abs() < 1e-9);
    assert_eq!(days[1].peak_mw, 147.0);
    let row = metrics::hour_of_day_peaks("north", &two_days());
    assert_eq!(row.peak_mw[13], Some(250.0));
    assert_eq!(row.peak_mw[5], Some(105.0), "day 2 hour 5 is missing, day 1 remains");
    assert_eq!(row.share_of_peak[13], Some(1.0));
    assert!((row.share_of_peak[0].unwrap() - 124.0 / 250.0).abs() < 1e-12);
    let week = metrics::weekly_profile(&two_days());
    assert_eq!(week.weeks.len(), 1, "Mon 3 and Tue 4 March 2025 are one ISO week");
    assert_eq!(week.mean[24 + 5], None);
    assert_eq!(week.mean[24 + 6], Some(96.0));
}

#[test]
fn alarm_kpis_count_by_rule_and_priority_within_the_range() {
    let range = ReportRange { from: t("2025-03-03T00:00:00Z"), to: t("2025-03-04T00:00:00Z") };
    let alerts = vec![
        alert("a", AlertRule::Undervoltage, AlertStatus::Critical, "2025-03-03T01:00:00Z", "2025-03-03T02:00:00Z"),
        // Starts before the range: only its 30 minutes inside count.
        alert("a", AlertRule::Undervoltage, AlertStatus::Critical, "2025-03-02T23:00:00Z", "2025-03-03T00:30:00Z"),
        alert("b", AlertRule::Overload, AlertStatus::Warning, "2025-03-03T10:00:00Z", "2025-03-03T10:00:00Z"),
        // Entirely after the range: not counted.
        alert("b", AlertRule::Overload, AlertStatus::Warning, "2025-03-05T10:00:00Z", "2025-03-05T11:00:00Z"),
    ];
    let k = alarms::kpis(&alerts, &range);
    assert_eq!((k.episodes, k.critical, k.warning, k.substations_affected), (3, 2, 1, 2));
    assert_eq!(k.by_rule["undervoltage"], 2);
    assert_eq!(k.by_rule["overload"], 1);
    assert_eq!(k.by_rule["low_stability"], 0);
    assert_eq!(k.by_rule_and_priority["undervoltage/high"], 2);
    // 60 + 30 + 15 (a single-reading episode lasts one interval) minutes.
    assert!((k.alarm_hours - 105.0 / 60.0).abs() < 1e-9);
    assert!((k.longest_min - 60.0).abs() < 1e-9 && (k.mean_duration_min - 35.0).abs() < 1e-9);

    let mut rollups = two_days();
    rollups[3].alert_status = AlertStatus::Warning;
    rollups[4].alert_status = AlertStatus::Warning;
    rollups[6].alert_status = AlertStatus::Critical;
    let bands = alarms::timeline_bands(&rollups[..24], &alerts[..1], &range);
    let status: Vec<_> = bands.iter().filter(|b| b.row == 0).map(|b| (b.start, b.end, b.status)).collect();
    assert_eq!(
        status,
        vec![
            (t("2025-03-03T03:00:00Z"), t("2025-03-03T05:00:00Z"), AlertStatus::Warning),
            (t("2025-03-03T06:00:00Z"), t("2025-03-03T07:00:00Z"), AlertStatus::Critical)
        ]
    );
    let rule_band = bands.iter().find(|b| b.row == 1).unwrap();
    assert_eq!((rule_band.start, rule_band.status), (t("2025-03-03T01:00:00Z"), AlertStatus::Critical));
    assert!(rule_band.label.contains("undervoltage high") && rule_band.label.contains("13.200 kV"), "{}", rule_band.label);
}

fn state(location: &str, last: &str) -> SubstationState {
    SubstationState {
        location: location.into(),
        last_reading: t(last),
        latest: rollup(location, t(last), 1.0, 1.0),
        updated_at: t(last),
        source_key: "raw/x.csv".into(),
    }
}

#[test]
fn unknown_substations_and_empty_ranges_are_named() {
    let known = vec![state("b", "2025-03-04T10:15:00Z"), state("a", "2025-03-04T11:45:00Z")];
    let req = |locations: &[&str], from: Option<&str>, to: Option<&str>| ReportRequest {
        locations: locations.iter().map(|s| s.to_string()).collect(),
        from: from.map(t),
        to: to.map(t),
    };
    let e = data::resolve(&req(&["a", "zz"], None, None), &known).unwrap_err();
    assert!(matches!(e, ReportError::UnknownSubstation { .. }));
    assert_eq!(e.to_string(), "unknown substation \"zz\"; the store has 2: a, b");
    let e = data::resolve(&req(&[], Some("2025-03-04T00:00:00Z"), Some("2025-03-04T00:00:00Z")), &known).unwrap_err();
    assert!(e.to_string().contains("empty time range: --from 2025-03-04T00:00:00Z is not before --to"), "{e}");
    assert!(matches!(data::resolve(&req(&[], None, None), &[]), Err(ReportError::NoSubstations)));
    // Defaults: to = end of the hour of the newest reading, from = 30 days earlier.
    let (locs, range) = data::resolve(&req(&[], None, None), &known).unwrap();
    assert_eq!(locs, vec!["a", "b"]);
    assert_eq!(range.to, t("2025-03-04T12:00:00Z"));
    assert_eq!(range.from, t("2025-02-02T12:00:00Z"));
    // Explicit bounds go to whole hours, outward.
    let (_, range) = data::resolve(&req(&["b", "b"], Some("2025-03-01T10:30:00Z"), Some("2025-03-02T10:30:00Z")), &known).unwrap();
    assert_eq!((range.from, range.to), (t("2025-03-01T10:00:00Z"), t("2025-03-02T11:00:00Z")));
}

fn temp_backend(dir: &Path) -> gridwatch::local::LocalBackend {
    let data = gridwatch::local::DataDir::resolve(Some(&dir.join("data"))).unwrap();
    gridwatch::local::LocalBackend::open(data, AnalysisConfig::default()).unwrap()
}

fn analyse_sample_data(backend: &gridwatch::local::LocalBackend) {
    let mut files: Vec<_> = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/sample_data"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(!files.is_empty());
    for f in files {
        let key = backend.import(&f, false).unwrap();
        backend.process_key(&key).unwrap();
    }
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
}

#[test]
fn a_range_without_data_is_an_error_not_an_empty_report() {
    let dir = tempfile::tempdir().unwrap();
    let backend = temp_backend(dir.path());
    let req = ReportRequest::default();
    let e = block_on(data::gather(&backend, &req, AnalysisConfig::default(), &NoProgress)).unwrap_err();
    assert!(e.to_string().contains("no substations yet"), "{e}");
    analyse_sample_data(&backend);
    let req = ReportRequest { from: Some(t("2024-01-01T00:00:00Z")), to: Some(t("2024-02-01T00:00:00Z")), ..Default::default() };
    let e = block_on(data::gather(&backend, &req, AnalysisConfig::default(), &NoProgress)).unwrap_err();
    assert_eq!(
        e.to_string(),
        "no hourly data for substation_001, substation_002, substation_003, substation_004 between 2024-01-01T00:00:00Z and \
         2024-02-01T00:00:00Z: pick another --from/--to (each substation's newest reading is in `gridwatch query`)"
    );
}

fn check_axes(fig: &report::figure::Figure) {
    for (_, panel) in &fig.panels {
        match panel {
            Panel::Chart(c) => {
                let (xb, yb) = c.data_bounds();
                let (x, y) = (xb.unwrap_or_else(|| panic!("{}: no data", fig.id)), yb.unwrap());
                assert!(c.x_range.0 <= x.0 && x.1 <= c.x_range.1, "{} {}: x {x:?} outside {:?}", fig.id, c.title, c.x_range);
                assert!(c.y_range.0 <= y.0 && y.1 <= c.y_range.1, "{} {}: y {y:?} outside {:?}", fig.id, c.title, c.y_range);
                if let Some(s) = &c.secondary {
                    for l in &s.layers {
                        for (_, v) in l.xy() {
                            assert!(s.y_range.0 <= v && v <= s.y_range.1, "{}: secondary {v} outside {:?}", fig.id, s.y_range);
                        }
                    }
                }
                // Every named layer is drawn with something.
                for l in &c.layers {
                    if let LayerKind::Line { points, .. } = &l.kind {
                        assert!(points.iter().any(|p| p.1.is_finite()), "{}: empty line {}", fig.id, l.name);
                    }
                }
            }
            Panel::Heatmap(h) => {
                for v in h.values.iter().flatten().flatten() {
                    let cv = *v;
                    if h.color_values.is_none() {
                        assert!(h.scale.0 <= cv && cv <= h.scale.1, "{}: {cv} outside the colour scale", fig.id);
                    }
                }
            }
            Panel::Timeline(tl) => {
                for b in &tl.bands {
                    assert!(tl.x_range.0 <= b.start && b.end <= tl.x_range.1 && b.start < b.end, "{}: band {b:?}", fig.id);
                }
            }
            Panel::Bars(b) => {
                for (_, _, values) in &b.groups {
                    for v in values.iter().filter(|v| v.is_finite()) {
                        assert!(b.y_range.0 <= *v && *v <= b.y_range.1, "{}: bar {v} outside {:?}", fig.id, b.y_range);
                    }
                }
            }
        }
    }
}

/// A month of generated data for two substations (enough for the forecast evaluation),
/// analysed into a temporary local backend.
fn generated_month(dir: &Path) -> gridwatch::local::LocalBackend {
    let backend = temp_backend(dir);
    let samples = dir.join("samples");
    let out = Command::new(env!("CARGO_BIN_EXE_gridwatch"))
        .args(["generate", "--substations", "2", "--days", "24", "--output"])
        .arg(&samples)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut files: Vec<_> = std::fs::read_dir(&samples).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    for f in files {
        let key = backend.import(&f, false).unwrap();
        backend.process_key(&key).unwrap();
    }
    backend
}

#[test]
fn figures_of_a_generated_month_keep_their_data_inside_the_axes() {
    let dir = tempfile::tempdir().unwrap();
    let backend = generated_month(dir.path());
    let req = ReportRequest { from: Some(t("2025-01-24T00:00:00Z")), ..Default::default() };
    let data = block_on(data::gather(&backend, &req, AnalysisConfig::default(), &NoProgress)).unwrap();
    assert_eq!(data.substations[0].history.len(), 10 * 24, "the ten days before --from are the forecast's history");
    let built = report::analyse(&data, &NoProgress);
    assert_eq!(built.fleet_figures.len(), 6, "fleet figures incl. forecast accuracy");
    for s in &built.substations {
        assert_eq!(s.figures.len(), 8);
        // 14 days from 2025-01-24: 14 day-ahead forecasts scored per method.
        assert_eq!(s.accuracy.rows.len(), 3);
        assert!(s.accuracy.rows.iter().all(|r| r.forecasts == 14 && r.points == 14 * 24), "{:?}", s.accuracy.rows);
        assert_eq!(s.accuracy.day_ahead.len(), 14 * 24);
        assert!(s.accuracy.rows[0].mape_pct.is_finite());
    }
    for fig in built.fleet_figures.iter().chain(built.substations.iter().flat_map(|s| s.figures.iter())) {
        check_axes(fig);
    }
    // The fleet heatmap rows are the substations, the cells their hour-of-day peaks.
    let heat = built.fleet_figures.iter().find(|f| f.id == "fleet_heatmap").unwrap();
    let Panel::Heatmap(h) = &heat.panels[0].1 else { panic!("not a heatmap") };
    assert_eq!(h.rows, vec!["substation_001", "substation_002"]);
    let expect = metrics::hour_of_day_peaks("substation_001", &data.substations[0].rollups);
    assert_eq!(h.values[0], expect.peak_mw.to_vec());
}

fn png_size(path: &Path) -> (u32, u32, Vec<u8>) {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
    let mut reader = decoder.read_info().unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    buf.truncate(info.buffer_size());
    (info.width, info.height, buf)
}

#[test]
fn the_report_of_the_sample_data_builds_and_every_file_is_valid() {
    let dir = tempfile::tempdir().unwrap();
    let backend = temp_backend(dir.path());
    analyse_sample_data(&backend);
    let data = block_on(data::gather(&backend, &ReportRequest::default(), AnalysisConfig::default(), &NoProgress)).unwrap();
    // The default range starts at the first day with data.
    assert_eq!((data.range.from, data.range.to), (t("2025-01-14T00:00:00Z"), t("2025-01-16T00:00:00Z")));
    let opt_cfg = gridwatch::optimize::OptimizeConfig::default();
    let built = report::analyse(&data, &NoProgress)
        .with_optimization(report::optimization::optimization_section(&data, &opt_cfg));
    // The optimisation table holds what `gridwatch optimize` computes for the same rollups.
    let section = built.optimization.as_ref().expect("an optimisation section");
    let targets: Vec<_> = opt_cfg.targets_percent.iter().map(|p| gridwatch::optimize::Target::PercentOfPeak(*p)).collect();
    assert_eq!(section.rows.len(), 4 * targets.len());
    let s2 = data.substations.iter().find(|s| s.location == "substation_002").unwrap();
    let want = gridwatch::optimize::optimize_rollups("substation_002", &s2.rollups, &opt_cfg, &targets).unwrap();
    let row = section.rows.iter().find(|r| r[0] == "substation_002").unwrap();
    assert_eq!((row[3].clone(), row[4].clone()), (format!("{:.2}", want.targets[0].storage.power_mw), format!("{:.2}", want.targets[0].storage.energy_mwh)));
    assert!(section.notes.iter().any(|n| n.starts_with("assumption: round-trip efficiency")), "{:?}", section.notes);
    let out = dir.path().join("report");
    let formats: BTreeSet<Format> = [Format::Html, Format::Png, Format::Svg, Format::Pdf].into();
    let written = report::output::write(&built, &data, &out, &formats, &NoProgress).unwrap();
    assert_eq!(written.figures, built.figure_count());
    assert_eq!(built.substations.len(), 4);

    let figures = report::output::all_figures(&built);
    for (scope, fig) in &figures {
        let base = out.join("figures").join(scope);
        let (w, h, _) = png_size(&base.join(format!("{}.png", fig.id)));
        assert_eq!((w, h), (fig.width, fig.height), "{scope}/{}", fig.id);
        let svg = std::fs::read_to_string(base.join(format!("{}.svg", fig.id))).unwrap();
        let doc = svg_doc(&svg);
        assert_eq!(doc.root_element().attribute("width"), Some(fig.width.to_string().as_str()));
        assert!(doc.descendants().any(|n| n.has_tag_name("text") && n.text().map(str::trim) == Some(fig.title.as_str())), "{}", fig.id);
        let pdf = std::fs::read(base.join(format!("{}.pdf", fig.id))).unwrap();
        assert!(pdf.starts_with(b"%PDF-") && pdf.windows(5).rev().take(16).any(|w| w == b"%%EOF"), "{}", fig.id);
    }

    // The heatmap files hold the stored peaks.
    let stored = block_on(backend.rollups("substation_002", data.range.from, data.range.to)).unwrap();
    let slug = &built.substations.iter().find(|s| s.location == "substation_002").unwrap().slug;
    let svg = std::fs::read_to_string(out.join("figures").join(slug).join("peak_heatmap.svg")).unwrap();
    let cells = heatmap_cells(&svg_doc(&svg));
    assert_eq!(cells.len(), stored.len(), "two full days: one cell per stored hour");
    for r in &stored {
        let row = r.timestamp.format("%a %Y-%m-%d").to_string();
        let col = r.timestamp.format("%H").to_string();
        let cell = cells.iter().find(|c| c.0 == row && c.1 == col).unwrap();
        assert_eq!(cell.2, Some(r.load_peak_mw), "{row} {col}");
    }

    // One page, well-formed, every figure inline, nothing fetched.
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    let doc = roxmltree::Document::parse_with_options(&html, roxmltree::ParsingOptions { allow_dtd: true, ..Default::default() })
        .unwrap_or_else(|e| panic!("report.html does not parse: {e}"));
    let svgs = doc.descendants().filter(|n| n.tag_name().name() == "svg").count();
    assert_eq!(svgs, figures.len());
    assert!(!doc.descendants().any(|n| matches!(n.tag_name().name(), "script" | "link" | "img" | "iframe")));
    assert!(doc.descendants().flat_map(|n| n.attributes()).all(|a| !a.value().contains("://")), "no external reference");
    assert!(!html.contains("@import") && !html.contains("url("));
    let rows: Vec<_> = doc.descendants().filter(|n| n.tag_name().name() == "tr" && n.attribute("data-location").is_some()).collect();
    assert_eq!(rows.len(), 4);
    assert!(doc.descendants().any(|n| n.attribute("id") == Some("optimization")), "the optimisation section is there");
    assert!(html.contains("peak shaving: "), "the one-line insight per substation");

    // Data files read back.
    let mut csv = csv::Reader::from_path(out.join("summary.csv")).unwrap();
    let headers = csv.headers().unwrap().clone();
    let recs: Vec<csv::StringRecord> = csv.records().map(|r| r.unwrap()).collect();
    assert_eq!(recs.len(), 4);
    let col = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let s1 = &built.substations[0].summary;
    assert_eq!(&recs[0][col("location")], "substation_001");
    assert_eq!(recs[0][col("load_peak_mw")].parse::<f64>().unwrap(), s1.load_peak_mw);
    let peak = stored_peak(&backend, "substation_001", &data.range);
    assert_eq!(s1.load_peak_mw, peak, "summary peak = the largest stored hourly peak");
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(json["substations"].as_array().unwrap().len(), 4);
    assert_eq!(json["alarms"]["episodes"].as_u64().unwrap() as usize, built.fleet_kpis.episodes);
    let hourly = std::fs::read_to_string(out.join("hourly.csv")).unwrap();
    assert_eq!(hourly.lines().count(), 1 + 4 * 48);
    assert!(std::fs::read_to_string(out.join("forecast_accuracy.csv")).unwrap().starts_with("location,method"));
}

fn stored_peak(backend: &gridwatch::local::LocalBackend, location: &str, range: &ReportRange) -> f64 {
    block_on(backend.rollups(location, range.from, range.to)).unwrap().iter().map(|r| r.load_peak_mw).fold(f64::MIN, f64::max)
}

fn gridwatch(data: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_gridwatch"))
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .env_remove("GRIDWATCH_DATA_DIR")
        .env_remove("GRIDWATCH_BACKEND")
        .env("XDG_CONFIG_HOME", data.join("no-config"))
        // No fonts anywhere the system could look: the embedded font must do.
        .env("FONTCONFIG_FILE", "/dev/null")
        .env("FONTCONFIG_PATH", "/nonexistent")
        .env("XDG_DATA_HOME", "/nonexistent")
        .output()
        .expect("runs")
}

#[test]
fn the_command_renders_text_without_system_fonts_and_names_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let sample = concat!(env!("CARGO_MANIFEST_DIR"), "/assets/sample_data/grid_data_2025-01-14.csv");
    assert!(gridwatch(&data, &["analyze", sample]).status.success());
    let out_dir = dir.path().join("out");
    let out = gridwatch(&data, &["report", "--location", "substation_003", "--format", "png", "--output", out_dir.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("report of 1 substation(s), 2025-01-14T00:00:00Z to 2025-01-15T00:00:00Z"), "{stdout}");
    assert!(!out_dir.join("report.html").exists(), "only the formats asked for");
    // The title is drawn: light text pixels on the dark background in its box.
    let (w, _, px) = png_size(&out_dir.join("figures/substation_003/load_curve.png"));
    let bright = (12..34)
        .flat_map(|y| (16..300).map(move |x| (y * w as usize + x) * 4))
        .filter(|&i| px[i] > 150 && px[i + 1] > 150 && px[i + 2] > 150)
        .count();
    assert!(bright > 150, "title text not rendered ({bright} light pixels)");

    let out = gridwatch(&data, &["report", "--location", "nowhere", "--output", out_dir.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown substation \"nowhere\"") && err.contains("substation_001"), "{err}");
    let out = gridwatch(&data, &["report", "--from", "2025-01-15", "--to", "2025-01-14"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("empty time range"), "{}", String::from_utf8_lossy(&out.stderr));
    let out = gridwatch(&data, &["report", "--format", "html,gif"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown format \"gif\""), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn slugs_are_safe_and_unique() {
    let mut taken = Default::default();
    assert_eq!(report::slug("substation_001", &mut taken), "substation_001");
    assert_eq!(report::slug("../etc/passwd", &mut taken), "___etc_passwd");
    assert_eq!(report::slug("a/b", &mut taken), "a_b");
    assert_eq!(report::slug("a b", &mut taken), "a_b-2");
    assert_eq!(report::slug("fleet", &mut taken), "fleet_1");
    assert_eq!(report::slug("ü", &mut taken), "substation_");
}

#[test]
fn timeline_and_heatmap_colours_follow_the_state_and_scale() {
    assert_eq!(figures::severity_color(AlertStatus::Critical), gridwatch::report::figure::palette::RED);
    assert_eq!(render::colormap(0.0).hex(), "#440154");
    assert_eq!(render::colormap(1.0).hex(), "#fde725");
    assert_eq!(render::colormap(f64::NAN), render::colormap(0.0));
}

/// The local store with every rollup before `cutoff` gone, as after a DynamoDB TTL.
struct Trimmed<'a> {
    inner: &'a gridwatch::local::LocalBackend,
    cutoff: DateTime<Utc>,
}

#[async_trait::async_trait]
impl GridStore for Trimmed<'_> {
    async fn substations(&self) -> gridwatch::store::StoreResult<Vec<SubstationState>> {
        self.inner.substations().await
    }
    async fn rollups(&self, location: &str, from: DateTime<Utc>, to: DateTime<Utc>) -> gridwatch::store::StoreResult<Vec<HourlyRollup>> {
        self.inner.rollups(location, from.max(self.cutoff), to.max(self.cutoff)).await
    }
    async fn forecast(&self, location: &str) -> gridwatch::store::StoreResult<Vec<gridwatch::model::ForecastPoint>> {
        self.inner.forecast(location).await
    }
    async fn alerts(&self, since: DateTime<Utc>) -> gridwatch::store::StoreResult<Vec<Alert>> {
        self.inner.alerts(since).await
    }
    async fn operator_states(&self) -> gridwatch::store::StoreResult<Vec<gridwatch::store::operator::OperatorState>> {
        self.inner.operator_states().await
    }
    async fn operator_action(&self, a: &gridwatch::store::operator::OperatorAction) -> gridwatch::store::StoreResult<gridwatch::store::operator::OperatorState> {
        self.inner.operator_action(a).await
    }
    async fn reprocess(&self, location: &str) -> gridwatch::store::StoreResult<String> {
        self.inner.reprocess(location).await
    }
    fn describe(&self) -> String {
        "trimmed".into()
    }
}

/// The archive: every hour the full store holds, each asked-for span recorded.
/// One archive query: the substations and the span asked for.
type Asked = (Vec<String>, DateTime<Utc>, DateTime<Utc>);

struct Archive<'a> {
    full: &'a gridwatch::local::LocalBackend,
    keeps_from: DateTime<Utc>,
    asked: std::sync::Mutex<Vec<Asked>>,
}

#[async_trait::async_trait]
impl data::RollupArchive for Archive<'_> {
    fn table_keeps_from(&self) -> DateTime<Utc> {
        self.keeps_from
    }
    async fn rollups(&self, locations: &[String], from: DateTime<Utc>, to: DateTime<Utc>) -> gridwatch::store::StoreResult<Vec<HourlyRollup>> {
        self.asked.lock().unwrap().push((locations.to_vec(), from, to));
        let mut out = Vec::new();
        for l in locations {
            let mut rs = self.full.rollups(l, from, to).await?;
            // Athena may hold an hour twice (two raw files): the report keeps one.
            out.extend(rs.first().cloned());
            out.append(&mut rs);
        }
        out.reverse(); // in any order
        Ok(out)
    }
}

#[test]
fn hours_the_table_no_longer_keeps_come_from_the_archive_in_one_query() {
    let dir = tempfile::tempdir().unwrap();
    let backend = temp_backend(dir.path());
    analyse_sample_data(&backend);
    let cfg = AnalysisConfig::default;
    let req = ReportRequest { from: Some(t("2025-01-14T00:00:00Z")), to: Some(t("2025-01-16T00:00:00Z")), ..Default::default() };
    let full = block_on(data::gather(&backend, &req, cfg(), &NoProgress)).unwrap();
    let trimmed = Trimmed { inner: &backend, cutoff: t("2025-01-15T07:00:00Z") };
    let lossy = block_on(data::gather(&trimmed, &req, cfg(), &NoProgress)).unwrap();
    let hours = |d: &report::ReportData| d.substations.iter().map(|s| s.rollups.len()).sum::<usize>();
    assert_eq!(hours(&full), 4 * 48);
    assert_eq!(hours(&lossy), 4 * 17, "without the archive the trimmed hours are missing (the check below can fail)");

    // The cutoff is not on the hour: the archive covers up to the next whole hour.
    let archive = Archive { full: &backend, keeps_from: t("2025-01-15T06:20:00Z"), asked: Default::default() };
    let merged = block_on(data::gather_with_archive(&trimmed, Some(&archive), &req, cfg(), &NoProgress)).unwrap();
    assert_eq!(merged.range, full.range);
    for (a, b) in merged.substations.iter().zip(&full.substations) {
        assert_eq!(a.location, b.location);
        assert_eq!(a.rollups, b.rollups, "{}", a.location);
        assert_eq!(a.history, b.history, "{}", a.location);
    }
    let asked = archive.asked.lock().unwrap().clone();
    assert_eq!(asked.len(), 1, "one archive query for every substation: {asked:?}");
    let (locs, from, to) = &asked[0];
    assert_eq!(locs.len(), 4);
    assert_eq!((*from, *to), (t("2025-01-14T00:00:00Z") - Duration::days(data::HISTORY_DAYS), t("2025-01-15T07:00:00Z")));

    // A table that keeps everything the report needs: no archive query at all.
    let archive = Archive { full: &backend, keeps_from: t("2024-01-01T00:00:00Z"), asked: Default::default() };
    let same = block_on(data::gather_with_archive(&backend, Some(&archive), &req, cfg(), &NoProgress)).unwrap();
    assert_eq!(hours(&same), hours(&full));
    assert!(archive.asked.lock().unwrap().is_empty());
}
