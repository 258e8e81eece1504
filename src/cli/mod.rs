//! The `gridwatch` command line: one subcommand per job, each in its own module.

pub mod alarms;
pub mod analyze;
pub mod aws_args;
pub mod backends;
pub mod forecast_eval;
pub mod generate;
pub mod optimize;
pub mod query;
#[cfg(feature = "report")]
pub mod report;
pub mod settings;
pub mod sql;
pub mod time_arg;
#[cfg(feature = "aws")]
pub mod upload;
#[cfg(feature = "tui")]
pub mod dashboard;

use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// Live smart-grid metrics per substation.
///
/// With no subcommand, gridwatch opens the live dashboard on the embedded local backend
/// with a simulator feeding readings (the same as `gridwatch demo`). No AWS account needed.
#[derive(Parser, Debug)]
#[command(name = "gridwatch", version, about, long_about)]
pub struct Cli {
    /// Local data folder (bucket, database, log). Default: $GRIDWATCH_DATA_DIR, else ~/.local/share/gridwatch.
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// Configuration file (TOML, `[analysis]` thresholds). Default: ~/.config/gridwatch/config.toml if present.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Live dashboard with a simulator writing readings into the local backend (the default).
    #[cfg(feature = "tui")]
    Demo(dashboard::DemoArgs),
    /// Live dashboard on the local backend's stored results, without the simulator.
    #[cfg(feature = "tui")]
    Dashboard(dashboard::DashboardArgs),
    /// Generate realistic synthetic readings (daily/weekly/seasonal shapes, solar, wind, anomalies).
    Generate(generate::GenerateArgs),
    /// Analyse files into the local backend: copies them to raw/, stores rollups, prints a summary.
    Analyze(analyze::AnalyzeArgs),
    /// Re-analyse stored raw data: the newest file of a substation, or one object key.
    Reprocess(analyze::ReprocessArgs),
    /// Alarms: list with ISA-18.2 states, acknowledge, shelve, out of service, KPIs.
    Alarms(alarms::AlarmsArgs),
    /// Query stored hourly rollups by substation, time range and alert status.
    Query(query::QueryArgs),
    /// Run SQL over the hourly rollups: embedded SQLite locally, Athena with --backend aws.
    Sql(sql::SqlArgs),
    /// Upload data files to the S3 bucket's raw/ prefix (each upload triggers the analysis Lambda).
    #[cfg(feature = "aws")]
    Upload(upload::UploadArgs),
    /// Peak shaving and battery sizing, load shifting, renewable hosting and cost scenarios from stored history.
    Optimize(optimize::OptimizeArgs),
    /// Measure the load forecast against seasonal-naive baselines on a series (MAPE, RMSE).
    ForecastEval(forecast_eval::ForecastEvalArgs),
    /// Figures and summary tables for a time range: an HTML page, PNG/SVG/PDF per figure, CSV/JSON.
    #[cfg(feature = "report")]
    Report(report::ReportArgs),
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    let settings = settings::Settings::load(cli.config.as_deref())?;
    match cli.command {
        #[cfg(feature = "tui")]
        None => match aws_dashboard_args(&settings) {
            // AWS settings given (GRIDWATCH_BACKEND=aws or `backend = "aws"` in the config): watch AWS.
            Some(args) => dashboard::run_dashboard(&cli.data_dir, &settings, args),
            None => dashboard::run_demo(&cli.data_dir, &settings, dashboard::DemoArgs::default()),
        },
        #[cfg(not(feature = "tui"))]
        None => {
            use clap::CommandFactory;
            Cli::command().print_help()?;
            Ok(())
        }
        #[cfg(feature = "tui")]
        Some(Command::Demo(args)) => dashboard::run_demo(&cli.data_dir, &settings, args),
        #[cfg(feature = "tui")]
        Some(Command::Dashboard(args)) => dashboard::run_dashboard(&cli.data_dir, &settings, args),
        Some(Command::Generate(args)) => generate::run(args),
        Some(Command::Analyze(args)) => analyze::run(&cli.data_dir, &settings, args),
        Some(Command::Reprocess(args)) => analyze::reprocess(&cli.data_dir, &settings, args),
        Some(Command::Alarms(args)) => alarms::run(&cli.data_dir, &settings, args),
        Some(Command::Query(args)) => query::run(&cli.data_dir, &settings, args),
        Some(Command::Sql(args)) => sql::run(&cli.data_dir, &settings, args),
        #[cfg(feature = "aws")]
        Some(Command::Upload(args)) => upload::run(&settings.aws, args),
        Some(Command::ForecastEval(args)) => forecast_eval::run(args),
        Some(Command::Optimize(args)) => optimize::run(&cli.data_dir, &settings, args),
        #[cfg(feature = "report")]
        Some(Command::Report(args)) => report::run(&cli.data_dir, &settings, args),
    }
}

/// The dashboard's arguments as `gridwatch dashboard` would read them from the environment,
/// when they select the AWS backend; `None` means the embedded backend.
#[cfg(feature = "tui")]
fn aws_dashboard_args(settings: &settings::Settings) -> Option<dashboard::DashboardArgs> {
    let Ok(Cli { command: Some(Command::Dashboard(args)), .. }) = Cli::try_parse_from(["gridwatch", "dashboard"]) else {
        return None;
    };
    (args.backend.kind(&settings.aws) == aws_args::BackendKind::Aws).then_some(args)
}

/// A progress bar on stderr when it is a terminal, hidden otherwise (logs and pipes stay clean).
pub fn progress_bar(len: u64, what: &str) -> indicatif::ProgressBar {
    use std::io::IsTerminal;
    let bar = if std::io::stderr().is_terminal() {
        indicatif::ProgressBar::new(len)
    } else {
        indicatif::ProgressBar::hidden()
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {msg} [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta})")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message(what.to_string());
    bar
}

/// Whether an error is a write to a closed pipe (stdout piped into `head`), anywhere in its chain.
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        cause.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            || cause.downcast_ref::<serde_json::Error>().and_then(serde_json::Error::io_error_kind)
                == Some(std::io::ErrorKind::BrokenPipe)
            || cause.downcast_ref::<csv::Error>().is_some_and(|c| {
                matches!(c.kind(), csv::ErrorKind::Io(io) if io.kind() == std::io::ErrorKind::BrokenPipe)
            })
    })
}
