//! Writing a report: every figure drawn once as SVG (in parallel), then written as the
//! requested formats under `figures/<scope>/<id>.<ext>`; the HTML page; the summary,
//! forecast accuracy and hourly data as CSV and JSON.

use super::{render, Format, Progress, Report, ReportError};
use super::figure::Figure;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// A drawn figure: where its files went and its SVG (for the HTML page).
#[derive(Debug, Clone)]
pub struct Drawn {
    /// `fleet`, `optimization` or the substation's slug.
    pub scope: String,
    pub id: String,
    pub svg: String,
    /// Paths relative to the output folder.
    pub files: Vec<PathBuf>,
}

/// What was written.
#[derive(Debug, Clone, Default)]
pub struct Written {
    pub html: Option<PathBuf>,
    pub files: Vec<PathBuf>,
    pub figures: usize,
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> ReportError + '_ {
    move |e| ReportError::Output(format!("cannot write {}: {e}", path.display()))
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), ReportError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
    }
    std::fs::write(path, bytes).map_err(io(path))
}

/// Every figure of the report with its scope, in page order.
pub fn all_figures(report: &Report) -> Vec<(String, &Figure)> {
    let mut out: Vec<(String, &Figure)> = report.fleet_figures.iter().map(|f| ("fleet".to_string(), f)).collect();
    if let Some(o) = &report.optimization {
        out.extend(o.figures.iter().map(|f| ("optimization".to_string(), f)));
    }
    for s in &report.substations {
        out.extend(s.figures.iter().map(|f| (s.slug.clone(), f)));
    }
    out
}

/// Draws and writes every figure in the requested formats (SVG is always drawn: the
/// HTML embeds it and PNG/PDF are rendered from it).
pub fn draw_all(report: &Report, dir: &Path, formats: &BTreeSet<Format>, progress: &dyn Progress) -> Result<Vec<Drawn>, ReportError> {
    let figures = all_figures(report);
    progress.stage("drawing", figures.len() as u64);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(8);
    let next = std::sync::atomic::AtomicUsize::new(0);
    let slots: Vec<std::sync::Mutex<Option<Result<Drawn, ReportError>>>> = figures.iter().map(|_| std::sync::Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some((scope_name, fig)) = figures.get(i) else { break };
                let result = draw_one(scope_name, fig, dir, formats);
                *slots[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(result);
                progress.inc(&fig.id);
            });
        }
    });
    slots
        .into_iter()
        .map(|s| s.into_inner().unwrap_or_else(|e| e.into_inner()).unwrap_or_else(|| Err(ReportError::Output("a figure was not drawn".into()))))
        .collect()
}

fn draw_one(scope: &str, fig: &Figure, dir: &Path, formats: &BTreeSet<Format>) -> Result<Drawn, ReportError> {
    let what = |e: String| ReportError::Output(format!("figure {scope}/{}: {e}", fig.id));
    let svg = render::to_svg(fig).map_err(what)?;
    let rel = PathBuf::from("figures").join(scope);
    let mut files = Vec::new();
    for format in formats {
        let (ext, bytes) = match format {
            Format::Html => continue,
            Format::Svg => ("svg", svg.as_bytes().to_vec()),
            Format::Png => ("png", render::svg_to_png(&svg).map_err(what)?),
            Format::Pdf => ("pdf", render::svg_to_pdf(&svg).map_err(what)?),
        };
        let path = rel.join(format!("{}.{ext}", fig.id));
        write_file(&dir.join(&path), &bytes)?;
        files.push(path);
    }
    Ok(Drawn { scope: scope.to_string(), id: fig.id.clone(), svg, files })
}

#[derive(serde::Serialize)]
struct AccuracyCsv<'a> {
    location: &'a str,
    method: &'a str,
    mape_pct: f64,
    rmse_mw: f64,
    mae_mw: f64,
    forecasts: usize,
    points: usize,
}

#[derive(serde::Serialize)]
struct SummaryJson<'a> {
    range: &'a super::ReportRange,
    source: &'a str,
    generated_at: chrono::DateTime<chrono::Utc>,
    substations: Vec<&'a super::metrics::SummaryRow>,
    alarms: super::alarms::AlarmKpis,
    alarms_by_substation: std::collections::BTreeMap<&'a str, &'a super::alarms::AlarmKpis>,
    forecast_accuracy: Vec<&'a super::accuracy::Accuracy>,
    fleet_forecast_accuracy: &'a [super::accuracy::MethodMean],
    optimization: &'a Option<super::optimization::OptimizationSection>,
}

/// CSV of serde rows; `header` is written when there is no row (serde writes it otherwise).
fn csv_bytes<T: serde::Serialize>(header: &str, rows: impl IntoIterator<Item = T>) -> Result<Vec<u8>, ReportError> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut any = false;
    for r in rows {
        any = true;
        w.serialize(r).map_err(|e| ReportError::Output(format!("CSV: {e}")))?;
    }
    let mut bytes = w.into_inner().map_err(|e| ReportError::Output(format!("CSV: {e}")))?;
    if !any {
        bytes = format!("{header}\n").into_bytes();
    }
    Ok(bytes)
}

/// Writes the data files: `summary.csv`, `summary.json`, `forecast_accuracy.csv`,
/// `hourly.csv` (the rollups the report was built from).
pub fn write_data(report: &Report, data: &super::ReportData, dir: &Path) -> Result<Vec<PathBuf>, ReportError> {
    let mut out = Vec::new();
    let summary = csv_bytes("location", report.substations.iter().map(|s| &s.summary))?;
    write_file(&dir.join("summary.csv"), &summary)?;
    out.push("summary.csv".into());
    let json = SummaryJson {
        range: &report.range,
        source: &report.source,
        generated_at: report.generated_at,
        substations: report.substations.iter().map(|s| &s.summary).collect(),
        alarms: report.fleet_kpis.clone(),
        alarms_by_substation: report.substations.iter().map(|s| (s.location.as_str(), &s.kpis)).collect(),
        forecast_accuracy: report.substations.iter().map(|s| &s.accuracy).collect(),
        fleet_forecast_accuracy: &report.fleet_accuracy,
        optimization: &report.optimization,
    };
    let text = serde_json::to_vec_pretty(&json).map_err(|e| ReportError::Output(format!("JSON: {e}")))?;
    write_file(&dir.join("summary.json"), &text)?;
    out.push("summary.json".into());
    let acc = csv_bytes("location,method,mape_pct,rmse_mw,mae_mw,forecasts,points", report.substations.iter().flat_map(|s| {
        s.accuracy.rows.iter().map(|r| AccuracyCsv {
            location: &s.location,
            method: &r.method,
            mape_pct: r.mape_pct,
            rmse_mw: r.rmse,
            mae_mw: r.mae,
            forecasts: r.forecasts,
            points: r.points,
        })
    }))?;
    write_file(&dir.join("forecast_accuracy.csv"), &acc)?;
    out.push("forecast_accuracy.csv".into());
    let mut hourly = Vec::new();
    let rollups: Vec<crate::model::HourlyRollup> = data.substations.iter().flat_map(|s| s.rollups.iter().cloned()).collect();
    crate::cli::query::write_rows(&rollups, crate::cli::query::QueryFormat::Csv, &mut hourly)
        .map_err(|e| ReportError::Output(format!("hourly.csv: {e:#}")))?;
    write_file(&dir.join("hourly.csv"), &hourly)?;
    out.push("hourly.csv".into());
    Ok(out)
}

/// Draws and writes everything requested into `dir`.
pub fn write(report: &Report, data: &super::ReportData, dir: &Path, formats: &BTreeSet<Format>, progress: &dyn Progress) -> Result<Written, ReportError> {
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let drawn = draw_all(report, dir, formats, progress)?;
    let mut written = Written { figures: drawn.len(), ..Default::default() };
    written.files.extend(drawn.iter().flat_map(|d| d.files.iter().cloned()));
    written.files.extend(write_data(report, data, dir)?);
    if formats.contains(&Format::Html) {
        let page = super::html::page(report, &drawn);
        let path = PathBuf::from("report.html");
        write_file(&dir.join(&path), page.as_bytes())?;
        written.files.push(path.clone());
        written.html = Some(path);
    }
    Ok(written)
}
