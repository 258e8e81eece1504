//! `gridwatch report`: figures, summary tables and data files for a time range, from
//! the local backend or (built with `--features aws`) from DynamoDB.

use super::aws_args::{BackendArgs, BackendKind};
use super::settings::Settings;
use crate::report::{self, Format, Progress, ReportRequest};
use chrono::{DateTime, Utc};
use clap::Args;
use std::collections::BTreeSet;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct ReportArgs {
    /// Only this substation; repeat for several. Default: every substation.
    #[arg(long = "location", value_name = "NAME")]
    pub locations: Vec<String>,
    /// From this time (inclusive; ISO-8601, naive = UTC, a date alone = midnight).
    /// Default: 30 days before --to.
    #[arg(long, value_parser = super::time_arg::parse_time)]
    pub from: Option<DateTime<Utc>>,
    /// Up to this time (exclusive). Default: the end of the hour of the newest reading.
    #[arg(long, value_parser = super::time_arg::parse_time)]
    pub to: Option<DateTime<Utc>>,
    /// Output folder (created if needed; files in it are overwritten).
    #[arg(long, short, default_value = "gridwatch-report", value_name = "DIR")]
    pub output: PathBuf,
    /// Comma-separated formats: html (one page with inline SVG), png, svg, pdf (one file per figure).
    #[arg(long, value_delimiter = ',', default_value = "html,png")]
    pub format: Vec<Format>,
    #[command(flatten)]
    pub backend: BackendArgs,
}

/// The progress bar: one stage after the other (reading, computing, drawing).
struct Bar(indicatif::ProgressBar);

impl Progress for Bar {
    fn stage(&self, what: &str, len: u64) {
        self.0.set_length(len);
        self.0.set_position(0);
        self.0.set_message(what.to_string());
    }
    fn inc(&self, _item: &str) {
        self.0.inc(1);
    }
}

pub fn run(data_dir: &Option<PathBuf>, settings: &Settings, args: ReportArgs) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let formats: BTreeSet<Format> = args.format.iter().copied().collect();
    anyhow::ensure!(!formats.is_empty(), "--format needs at least one of html, png, svg, pdf");
    let request = ReportRequest { locations: args.locations.clone(), from: args.from, to: args.to };
    let bar = super::progress_bar(0, "reading");
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {msg:10} [{bar:30}] {pos}/{len} ({elapsed})")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let progress = Bar(bar);
    let cfg = settings.analysis.clone();
    let data = match args.backend.kind(&settings.aws) {
        BackendKind::Local => {
            let backend = super::backends::open_local(data_dir, settings)?;
            let rt = tokio::runtime::Builder::new_current_thread().build()?;
            rt.block_on(report::data::gather(&backend, &request, cfg, &progress))?
        }
        BackendKind::Aws => gather_aws(&args, settings, &request, cfg, &progress)?,
    };
    let built = report::analyse(&data, &progress)
        .with_optimization(report::optimization::optimization_section(&data, &settings.optimize));
    let written = report::output::write(&built, &data, &args.output, &formats, &progress)?;
    progress.0.finish_and_clear();
    let dir = crate::sanitize::sanitize_for_terminal(&args.output.display().to_string());
    use std::io::Write;
    writeln!(
        std::io::stdout(),
        "report of {} substation(s), {} to {}: {} figure(s), {} file(s) in {dir}/ ({:.1} s)",
        built.substations.len(),
        crate::model::format_ts(built.range.from),
        crate::model::format_ts(built.range.to),
        written.figures,
        written.files.len(),
        started.elapsed().as_secs_f64()
    )?;
    if let Some(html) = &written.html {
        writeln!(std::io::stdout(), "open {dir}/{}", crate::sanitize::sanitize_for_terminal(&html.display().to_string()))?;
    }
    Ok(())
}

/// DynamoDB through the same `GridStore` reads (one Query per substation and item kind).
/// Long ranges on Athena are not wired: the report reads what the table holds.
fn gather_aws(
    args: &ReportArgs,
    settings: &Settings,
    request: &ReportRequest,
    cfg: crate::config::AnalysisConfig,
    progress: &dyn Progress,
) -> anyhow::Result<report::ReportData> {
    #[cfg(feature = "aws")]
    {
        let aws = args.backend.aws.resolve(&settings.aws);
        let rt = super::aws_args::runtime()?;
        Ok(rt.block_on(async {
            let (store, _) = aws.store(true).await;
            report::data::gather(&store, request, cfg, progress).await
        })?)
    }
    #[cfg(not(feature = "aws"))]
    {
        let _ = (args, settings, request, cfg, progress);
        Err(super::aws_args::not_built())
    }
}
