//! `gridwatch report`: the seed's analysis notebook as one command.
//!
//! Three steps, each in its own file:
//! 1. **gathering** ([`data`]): rollups, forecasts and alerts through the `GridStore`
//!    trait (local SQLite or DynamoDB alike);
//! 2. **computing** ([`metrics`], [`alarms`], [`accuracy`]) and building **figure
//!    specs** ([`figures`], types in [`figure`]): pure functions over model types;
//! 3. **rendering** ([`render`]: SVG with plotters, PNG with resvg, PDF with svg2pdf)
//!    and **writing** ([`output`]: the self-contained HTML page, one file per figure and
//!    format, the summary as CSV and JSON).

pub mod accuracy;
pub mod alarms;
pub mod data;
pub mod figure;
pub mod figures;
pub mod html;
pub mod metrics;
pub mod optimization;
pub mod output;
pub mod render;

use crate::store::StoreError;
use crate::model::ForecastPoint;
use chrono::{DateTime, Utc};
pub use data::{ReportData, ReportRange, ReportRequest};
use figure::Figure;

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("the store holds no substations yet: analyse some data first (gridwatch analyze FILE)")]
    NoSubstations,
    #[error("unknown substation {name:?}; the store has {}: {}", known.len(), preview(known))]
    UnknownSubstation { name: String, known: Vec<String> },
    #[error("empty time range: --from {} is not before --to {}", crate::model::format_ts(*from), crate::model::format_ts(*to))]
    EmptyRange { from: DateTime<Utc>, to: DateTime<Utc> },
    #[error(
        "no hourly data for {} between {} and {}: pick another --from/--to (each substation's newest reading is in `gridwatch query`)",
        preview(locations), crate::model::format_ts(range.from), crate::model::format_ts(range.to)
    )]
    NoData { locations: Vec<String>, range: ReportRange },
    #[error("reading the store: {0}")]
    Backend(#[from] StoreError),
    #[error("{0}")]
    Output(String),
}

fn preview(names: &[String]) -> String {
    let shown: Vec<String> = names.iter().take(10).map(|n| crate::sanitize::sanitize_for_terminal(n)).collect();
    if names.len() > shown.len() { format!("{}, … ({} more)", shown.join(", "), names.len() - shown.len()) } else { shown.join(", ") }
}

/// Output formats; HTML embeds the SVGs, the others are one file per figure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Format {
    Html,
    Png,
    Svg,
    Pdf,
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "html" => Ok(Format::Html),
            "png" => Ok(Format::Png),
            "svg" => Ok(Format::Svg),
            "pdf" => Ok(Format::Pdf),
            other => Err(format!("unknown format {other:?} (expected html, png, svg or pdf)")),
        }
    }
}

/// Progress of a long report (the CLI shows a bar; tests pass [`NoProgress`]).
pub trait Progress: Sync {
    fn stage(&self, what: &str, len: u64);
    fn inc(&self, item: &str);
}

pub struct NoProgress;

impl Progress for NoProgress {
    fn stage(&self, _: &str, _: u64) {}
    fn inc(&self, _: &str) {}
}

/// One substation's part of the report.
#[derive(Debug, Clone)]
pub struct SubstationSection {
    pub location: String,
    /// File-system-safe, unique name of its figure folder and HTML anchor.
    pub slug: String,
    pub summary: metrics::SummaryRow,
    pub kpis: alarms::AlarmKpis,
    pub accuracy: accuracy::Accuracy,
    pub figures: Vec<Figure>,
}

/// A computed report: every number and figure spec, nothing drawn yet.
#[derive(Debug, Clone)]
pub struct Report {
    pub range: ReportRange,
    pub source: String,
    pub generated_at: DateTime<Utc>,
    pub config: crate::config::AnalysisConfig,
    pub fleet_figures: Vec<Figure>,
    pub fleet_kpis: alarms::AlarmKpis,
    pub fleet_accuracy: Vec<accuracy::MethodMean>,
    pub substations: Vec<SubstationSection>,
    pub optimization: Option<optimization::OptimizationSection>,
}

impl Report {
    pub fn with_optimization(mut self, section: Option<optimization::OptimizationSection>) -> Self {
        self.optimization = section;
        self
    }
    pub fn figure_count(&self) -> usize {
        self.fleet_figures.len()
            + self.substations.iter().map(|s| s.figures.len()).sum::<usize>()
            + self.optimization.as_ref().map_or(0, |o| o.figures.len())
    }
}

/// File-system-safe slug of a substation name, unique among `taken`.
pub fn slug(name: &str, taken: &mut std::collections::HashSet<String>) -> String {
    let mut s: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' })
        .take(80)
        .collect();
    if s.is_empty() || s.starts_with('_') && s.chars().all(|c| c == '_') {
        s = format!("substation{s}");
    }
    if s == "fleet" || s == "optimization" {
        s.push_str("_1");
    }
    let base = s.clone();
    let mut n = 2;
    while !taken.insert(s.clone()) {
        s = format!("{base}-{n}");
        n += 1;
    }
    s
}

/// Computes every number and figure of the report (pure; parallel over substations).
pub fn analyse(data: &ReportData, progress: &dyn Progress) -> Report {
    let range = data.range;
    progress.stage("computing", data.substations.len() as u64);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(8);
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<std::sync::Mutex<Option<(accuracy::Accuracy, alarms::AlarmKpis)>>> =
        data.substations.iter().map(|_| std::sync::Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(s) = data.substations.get(i) else { break };
                let acc = accuracy::accuracy(s, &range);
                let k = alarms::kpis(&s.alerts, &range);
                *results[i].lock().unwrap_or_else(|e| e.into_inner()) = Some((acc, k));
                progress.inc(&s.location);
            });
        }
    });
    let mut taken = std::collections::HashSet::new();
    let mut sections = Vec::new();
    for (s, res) in data.substations.iter().zip(results) {
        let Some((acc, kpis)) = res.into_inner().unwrap_or_else(|e| e.into_inner()) else { continue };
        let counts = metrics::AlarmCounts { critical: kpis.critical, warning: kpis.warning };
        let summary = metrics::summary_row(&s.location, &s.rollups, &counts);
        let figures = if s.rollups.is_empty() { Vec::new() } else { substation_figures(s, &acc, &kpis, data) };
        sections.push(SubstationSection { slug: slug(&s.location, &mut taken), location: s.location.clone(), summary, kpis, accuracy: acc, figures });
    }
    let all_alerts: Vec<crate::model::Alert> = data.substations.iter().flat_map(|s| s.alerts.iter().cloned()).collect();
    let fleet_kpis = alarms::kpis(&all_alerts, &range);
    let accs: Vec<accuracy::Accuracy> = sections.iter().map(|s| s.accuracy.clone()).collect();
    let fleet_accuracy = accuracy::fleet_means(&accs);
    let fleet_figures = fleet_figures(data, &all_alerts, &fleet_kpis, &fleet_accuracy, &accs);
    Report {
        range,
        source: data.source.clone(),
        generated_at: Utc::now(),
        config: data.config.clone(),
        fleet_figures,
        fleet_kpis,
        fleet_accuracy,
        substations: sections,
        optimization: None,
    }
}

fn kpi_line(k: &alarms::AlarmKpis) -> String {
    format!(
        "{} alarm episode(s): {} critical, {} warning · {:.1} h in alarm · mean {:.0} min, longest {:.0} min",
        k.episodes, k.critical, k.warning, k.alarm_hours, k.mean_duration_min, k.longest_min
    )
}

fn substation_figures(s: &data::SubstationData, acc: &accuracy::Accuracy, kpis: &alarms::AlarmKpis, data: &ReportData) -> Vec<Figure> {
    let range = &data.range;
    let gen_hours: Vec<figures::GenHour> = s.rollups.iter().map(|r| (r.timestamp, r.solar_avg_mw, r.wind_avg_mw, r.generation_avg_mw)).collect();
    let (v, f) = figures::voltage_frequency_hours(&s.rollups);
    vec![
        figures::load_curve(s, acc, range, ""),
        figures::load_weekly(&s.location, &metrics::weekly_profile(&s.rollups)),
        figures::renewables("renewables", &format!("{} — renewable penetration", s.location), &gen_hours, range),
        figures::voltage_frequency("voltage_frequency", &format!("{} — voltage and frequency", s.location), &v, &f, &data.config, range),
        figures::peak_heatmap(&s.location, &metrics::peak_heatmap(&s.rollups)),
        figures::scores(&s.location, &s.rollups, &data.config, range),
        figures::daily_peaks(&s.location, &metrics::daily_stats(&s.rollups), range),
        figures::alarm_timeline(
            "alarms",
            &format!("{} — alarm timeline", s.location),
            kpi_line(kpis),
            &alarms::timeline_bands(&s.rollups, &s.alerts, range),
            true,
            range,
        ),
    ]
}

/// How many substations the per-substation accuracy panel shows at most.
const ACCURACY_PANEL_LIMIT: usize = 30;

fn fleet_figures(
    data: &ReportData,
    alerts: &[crate::model::Alert],
    kpis: &alarms::AlarmKpis,
    means: &[accuracy::MethodMean],
    accs: &[accuracy::Accuracy],
) -> Vec<Figure> {
    let range = &data.range;
    let hours = metrics::fleet_hours(data.substations.iter().map(|s| s.rollups.as_slice()));
    let forecasts: Vec<ForecastPoint> = data.substations.iter().flat_map(|s| s.forecast.iter().cloned()).collect();
    let gen_hours: Vec<figures::GenHour> = hours.iter().map(|h| (h.timestamp, h.solar_mw, h.wind_mw, h.generation_mw)).collect();
    let v: Vec<figures::EnvHour> = hours.iter().map(|h| (h.timestamp, h.voltage_avg_kv, h.voltage_min_kv, h.voltage_max_kv)).collect();
    let f: Vec<figures::EnvHour> = hours.iter().map(|h| (h.timestamp, h.frequency_avg_hz, h.frequency_min_hz, h.frequency_max_hz)).collect();
    let rows: Vec<metrics::HourOfDayRow> = data
        .substations
        .iter()
        .filter(|s| !s.rollups.is_empty())
        .map(|s| metrics::hour_of_day_peaks(&s.location, &s.rollups))
        .collect();
    let mut bands = alarms::timeline_bands(&[], alerts, range);
    bands.sort_by_key(|b| b.status);
    let mut out = vec![
        figures::fleet_load(&hours, &forecasts, range),
        figures::renewables("fleet_renewables", "Fleet — renewable penetration", &gen_hours, range),
        figures::voltage_frequency(
            "fleet_voltage_frequency",
            "Fleet — voltage and frequency (mean of substations, fleet-wide min–max)",
            &v,
            &f,
            &data.config,
            range,
        ),
        figures::fleet_heatmap(&rows),
        figures::alarm_timeline(
            "fleet_alarms",
            "Fleet — alarm timeline (all substations)",
            format!("{} · {} substation(s) affected", kpi_line(kpis), kpis.substations_affected),
            &bands,
            false,
            range,
        ),
    ];
    if accs.iter().any(|a| !a.rows.is_empty()) {
        out.push(figures::forecast_accuracy(means, accs, ACCURACY_PANEL_LIMIT));
    }
    out
}
