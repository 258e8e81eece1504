//! `gridwatch` / `gridwatch demo` / `gridwatch dashboard`: wires the local backend (and
//! the simulator) to the terminal dashboard.

use super::settings::Settings;
use crate::backend::{AcceleratedClock, SharedClock, SharedStore, WallClock};
use crate::local::{DataDir, LogTail};
use crate::local::backend::LocalBackend;
use crate::simulator::live::{Simulator, SimulatorConfig};
use clap::Args;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Args, Debug, Clone)]
pub struct DemoArgs {
    /// Number of simulated substations.
    #[arg(long, default_value_t = 8)]
    pub substations: usize,
    /// Simulated minutes between readings.
    #[arg(long, default_value_t = 15)]
    pub interval_minutes: u32,
    /// Wall-clock seconds per simulated interval (the clock's acceleration).
    #[arg(long, default_value_t = 1.0)]
    pub seconds_per_interval: f64,
    /// Days of history to write before the live feed starts.
    #[arg(long, default_value_t = 7)]
    pub backfill_days: u32,
    /// Seed of the synthetic data.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    #[command(flatten)]
    pub view: ViewArgs,
}

impl Default for DemoArgs {
    fn default() -> Self {
        Self {
            substations: 8,
            interval_minutes: 15,
            seconds_per_interval: 1.0,
            backfill_days: 7,
            seed: 42,
            view: ViewArgs::default(),
        }
    }
}

#[derive(Args, Debug, Clone)]
pub struct DashboardArgs {
    /// Expected minutes between readings (a substation is stale after two of them).
    #[arg(long, default_value_t = 15)]
    pub interval_minutes: u32,
    #[command(flatten)]
    pub view: ViewArgs,
    #[command(flatten)]
    pub backend: super::aws_args::BackendArgs,
    /// Start on this source of the config's [[dashboard.sources]] (`:source NAME` switches
    /// later). Default: the backend the other options name, listed as "local" or "aws".
    #[arg(long, value_name = "NAME")]
    pub source: Option<String>,
}

#[derive(Args, Debug, Clone)]
pub struct ViewArgs {
    /// Draw with ASCII only (default when the locale is not UTF-8, e.g. LANG=C on a jump host).
    #[arg(long)]
    pub ascii: bool,
    /// Never write or reprocess (watch only).
    #[arg(long)]
    pub read_only: bool,
    /// Key bindings file (TOML). Default: ~/.config/gridwatch/keys.toml if present.
    #[arg(long, value_name = "FILE")]
    pub keys: Option<PathBuf>,
    /// Seconds between store polls.
    #[arg(long, default_value_t = 1.0)]
    pub poll_seconds: f64,
    /// Folder where `e` (export) writes the current view as CSV.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub export_dir: PathBuf,
    /// Colours for the terminal's background [default: `theme` in the config's
    /// [dashboard] table, else dark]. NO_COLOR still turns colour off.
    #[arg(long, value_enum, value_name = "THEME")]
    pub theme: Option<crate::tui::theme::Palette>,
    /// Use the mouse: wheel scrolls, a click selects a row or opens a tab (also
    /// `mouse = true` in [dashboard]). Hold Shift to select text in the terminal then.
    #[arg(long)]
    pub mouse: bool,
}

impl Default for ViewArgs {
    fn default() -> Self {
        Self {
            ascii: false,
            read_only: false,
            keys: None,
            poll_seconds: 1.0,
            export_dir: PathBuf::from("."),
            theme: None,
            mouse: false,
        }
    }
}

fn options(view: &ViewArgs, settings: &Settings, interval_minutes: u32, title: String) -> anyhow::Result<crate::tui::DashboardOptions> {
    anyhow::ensure!(view.poll_seconds.is_finite() && view.poll_seconds > 0.0, "--poll-seconds must be positive");
    Ok(crate::tui::DashboardOptions {
        ascii: view.ascii || crate::tui::detect_ascii(),
        no_color: std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()),
        poll_interval: std::time::Duration::from_secs_f64(view.poll_seconds),
        data_interval_minutes: interval_minutes,
        read_only: view.read_only,
        keys: crate::tui::load_keymap(view.keys.as_deref())?,
        analysis: settings.analysis.clone(),
        title,
        export_dir: view.export_dir.clone(),
        palette: view.theme.or(settings.dashboard.theme).unwrap_or_default(),
        mouse: view.mouse || settings.dashboard.mouse.unwrap_or(false),
    })
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?)
}

pub fn run_demo(data_dir: &Option<PathBuf>, settings: &Settings, args: DemoArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.seconds_per_interval.is_finite() && args.seconds_per_interval > 0.0,
        "--seconds-per-interval must be positive"
    );
    let data = DataDir::resolve(data_dir.as_deref())?;
    let backend = Arc::new(LocalBackend::open(data.clone(), settings.analysis.clone())?);
    let sim_cfg = SimulatorConfig {
        substations: args.substations,
        interval_minutes: args.interval_minutes,
        backfill_days: args.backfill_days,
        seed: args.seed,
        ..SimulatorConfig::default()
    };
    let simulator = Arc::new(Simulator::new(Arc::clone(&backend), &sim_cfg)?);
    eprintln!("gridwatch: preparing simulated history in {} ...", data.root().display());
    let start = simulator.prepare(chrono::Utc::now(), args.backfill_days)?;
    let speed = simulator.interval().num_seconds() as f64 / args.seconds_per_interval;
    let clock: SharedClock = Arc::new(AcceleratedClock::new(start, speed));
    let opts = options(&args.view, settings, args.interval_minutes, format!("gridwatch demo ({} x speed)", speed.round()))?;
    let rt = runtime()?;
    rt.block_on(async move {
        let tick = std::time::Duration::from_secs_f64(args.seconds_per_interval);
        let sim_task = tokio::spawn(Arc::clone(&simulator).run(Arc::clone(&clock), start, tick));
        let logs = Box::new(LogTail::new(data.log_file(), 64 * 1024));
        let store: SharedStore = backend;
        let result = crate::tui::run(opts, store, logs, clock).await;
        sim_task.abort();
        result
    })
}

/// The local backend in a data folder, as a switchable source.
struct LocalSource {
    name: String,
    dir: Option<PathBuf>,
    analysis: crate::config::AnalysisConfig,
}

#[async_trait::async_trait]
impl crate::tui::Source for LocalSource {
    fn name(&self) -> &str {
        &self.name
    }
    async fn connect(&self) -> anyhow::Result<crate::tui::Connected> {
        let data = DataDir::resolve(self.dir.as_deref())?;
        let backend = Arc::new(LocalBackend::open(data.clone(), self.analysis.clone())?);
        let title = format!("gridwatch [{}] {}", self.name, crate::backend::GridStore::describe(&*backend));
        Ok(crate::tui::Connected { store: backend, logs: Box::new(LogTail::new(data.log_file(), 64 * 1024)), title })
    }
}

/// DynamoDB + CloudWatch Logs + Lambda of one AWS profile/region/endpoint, as a source.
struct AwsSource {
    name: String,
    aws: super::aws_args::ResolvedAws,
    read_only: bool,
}

#[async_trait::async_trait]
impl crate::tui::Source for AwsSource {
    fn name(&self) -> &str {
        &self.name
    }
    #[cfg(feature = "aws")]
    async fn connect(&self) -> anyhow::Result<crate::tui::Connected> {
        let (store, sdk) = self.aws.store(self.read_only).await;
        let title = format!("gridwatch [{}] {}", self.name, crate::backend::GridStore::describe(&store));
        let logs = Box::new(crate::aws::logs::CloudWatchTail::new(
            aws_sdk_cloudwatchlogs::Client::new(&sdk),
            self.aws.log_group.clone(),
            std::time::Duration::from_secs(3600),
        ));
        Ok(crate::tui::Connected { store: Arc::new(store), logs, title })
    }
    #[cfg(not(feature = "aws"))]
    async fn connect(&self) -> anyhow::Result<crate::tui::Connected> {
        let _ = (&self.aws, self.read_only);
        Err(super::aws_args::not_built())
    }
}

/// Every source `:source` can switch to: first the one the options name ("local" or
/// "aws", unless the config names a source so), then `[[dashboard.sources]]` in order.
fn sources(data_dir: &Option<PathBuf>, settings: &Settings, args: &DashboardArgs) -> Vec<Arc<dyn crate::tui::Source>> {
    use super::aws_args::{AwsArgs, BackendKind};
    let read_only = args.view.read_only;
    let configured = &settings.dashboard.sources;
    let mut out: Vec<Arc<dyn crate::tui::Source>> = Vec::new();
    let own = match args.backend.kind(&settings.aws) {
        BackendKind::Local => "local",
        BackendKind::Aws => "aws",
    };
    if !configured.iter().any(|s| s.name == own) {
        out.push(match args.backend.kind(&settings.aws) {
            BackendKind::Local => {
                Arc::new(LocalSource { name: own.into(), dir: data_dir.clone(), analysis: settings.analysis.clone() })
            }
            BackendKind::Aws => Arc::new(AwsSource { name: own.into(), aws: args.backend.aws.resolve(&settings.aws), read_only }),
        });
    }
    for s in configured {
        out.push(match s.backend {
            BackendKind::Local => Arc::new(LocalSource {
                name: s.name.clone(),
                dir: s.data_dir.clone().or_else(|| data_dir.clone()),
                analysis: settings.analysis.clone(),
            }),
            BackendKind::Aws => {
                // The source's own values act as flags: they win over [aws] and the environment.
                let flags = AwsArgs {
                    profile: s.profile.clone(),
                    region: s.region.clone(),
                    endpoint_url: s.endpoint_url.clone(),
                    table: s.table.clone(),
                    bucket: s.bucket.clone(),
                    function: s.function.clone(),
                    log_group: s.log_group.clone(),
                };
                Arc::new(AwsSource { name: s.name.clone(), aws: flags.resolve(&settings.aws), read_only })
            }
        });
    }
    out
}

/// With `[[dashboard.sources]]` configured (or `--source`): the dashboard on the chosen
/// source, switchable with `:source NAME`.
fn run_with_sources(data_dir: &Option<PathBuf>, settings: &Settings, args: DashboardArgs) -> anyhow::Result<()> {
    let sources = sources(data_dir, settings, &args);
    let names: Vec<&str> = sources.iter().map(|s| s.name()).collect();
    let start = match &args.source {
        Some(want) => sources.iter().find(|s| s.name() == want).cloned().ok_or_else(|| {
            anyhow::anyhow!("--source {want:?}: not configured (sources: {}; see [[dashboard.sources]])", names.join(", "))
        })?,
        None => sources[0].clone(),
    };
    let opts = options(&args.view, settings, args.interval_minutes, String::new())?;
    runtime()?.block_on(async move {
        let first = start.connect().await?;
        crate::tui::run_sources(opts, first, start.name().to_string(), sources, Arc::new(WallClock)).await
    })
}

pub fn run_dashboard(data_dir: &Option<PathBuf>, settings: &Settings, args: DashboardArgs) -> anyhow::Result<()> {
    if args.source.is_some() || !settings.dashboard.sources.is_empty() {
        return run_with_sources(data_dir, settings, args);
    }
    if args.backend.kind(&settings.aws) == super::aws_args::BackendKind::Aws {
        return run_aws_dashboard(settings, args);
    }
    let data = DataDir::resolve(data_dir.as_deref())?;
    let backend = Arc::new(LocalBackend::open(data.clone(), settings.analysis.clone())?);
    let opts = options(&args.view, settings, args.interval_minutes, "gridwatch".to_string())?;
    runtime()?.block_on(async move {
        let logs = Box::new(LogTail::new(data.log_file(), 64 * 1024));
        crate::tui::run(opts, backend, logs, Arc::new(WallClock)).await
    })
}

/// `gridwatch dashboard --backend aws`: DynamoDB (Query only) + the Lambda's CloudWatch
/// log group + Lambda Invoke for `r` (none of them with `--read-only`).
#[cfg(feature = "aws")]
fn run_aws_dashboard(settings: &Settings, args: DashboardArgs) -> anyhow::Result<()> {
    let aws = args.backend.aws.resolve(&settings.aws);
    runtime()?.block_on(async move {
        let (store, sdk) = aws.store(args.view.read_only).await;
        let title = format!("gridwatch {}", crate::backend::GridStore::describe(&store));
        let opts = options(&args.view, settings, args.interval_minutes, title)?;
        let logs = Box::new(crate::aws::logs::CloudWatchTail::new(
            aws_sdk_cloudwatchlogs::Client::new(&sdk),
            aws.log_group.clone(),
            std::time::Duration::from_secs(3600),
        ));
        crate::tui::run(opts, Arc::new(store), logs, Arc::new(WallClock)).await
    })
}

#[cfg(not(feature = "aws"))]
fn run_aws_dashboard(_settings: &Settings, _args: DashboardArgs) -> anyhow::Result<()> {
    Err(super::aws_args::not_built())
}
