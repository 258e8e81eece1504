//! `gridwatch optimize`: peak shaving and battery sizing, load shifting, renewable
//! hosting and cost scenarios over the stored hourly history. A thin adapter: it reads
//! rollups through the [`GridStore`] trait and hands them to [`crate::optimize`].

use super::time_arg::parse_time;
use super::settings::Settings;
use crate::backend::GridStore;
use crate::model::{format_ts, HourlyRollup};
use crate::optimize::{self, OptimizeConfig, SubstationOptimization, Target};
use crate::sanitize::sanitize_for_terminal;
use anyhow::{bail, Context};
use chrono::{DateTime, Utc};
use clap::{Args, ValueEnum};
use serde::Serialize;
use std::io::Write;
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum OptimizeFormat {
    /// A block per substation: the targets as a table, renewables, assumptions.
    Table,
    /// One row per substation and target.
    Csv,
    /// Everything, with the configuration used.
    Json,
}

#[derive(Args, Debug)]
#[command(after_help = "Battery, flexibility, reverse-flow limit and tariff come from the [optimize] section of the \
config file (see README, \"Optimisation\"). Without --target/--cap-mw the configured targets_percent are used.")]
pub struct OptimizeArgs {
    /// Only these substations (repeatable); default: every stored substation.
    #[arg(long, value_name = "X")]
    pub location: Vec<String>,
    /// From this time (inclusive; ISO-8601, naive = UTC, a date alone means midnight).
    #[arg(long, value_parser = parse_time)]
    pub from: Option<DateTime<Utc>>,
    /// Up to this time (exclusive).
    #[arg(long, value_parser = parse_time)]
    pub to: Option<DateTime<Utc>>,
    /// Peak-shaving target as a share of the substation's peak, e.g. 90% (repeatable).
    #[arg(long, value_name = "P%")]
    pub target: Vec<Target>,
    /// Peak-shaving target as a cap in MW (repeatable).
    #[arg(long, value_name = "MW", value_parser = parse_cap)]
    pub cap_mw: Vec<f64>,
    #[arg(long, value_enum, default_value_t = OptimizeFormat::Table)]
    pub format: OptimizeFormat,
    /// Write to this file instead of standard output.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub backend: super::aws_args::BackendArgs,
}

fn parse_cap(s: &str) -> Result<f64, String> {
    let v: f64 = s.trim().parse().map_err(|_| format!("{s:?} is not a number of MW"))?;
    Target::CapMw(v).validate()?;
    Ok(v)
}

impl OptimizeArgs {
    fn targets(&self, cfg: &OptimizeConfig) -> Vec<Target> {
        let mut t = self.target.clone();
        t.extend(self.cap_mw.iter().map(|&mw| Target::CapMw(mw)));
        if t.is_empty() { cfg.targets() } else { t }
    }
}

fn far_past() -> DateTime<Utc> {
    "1900-01-01T00:00:00Z".parse().expect("valid time")
}
fn far_future() -> DateTime<Utc> {
    "9000-01-01T00:00:00Z".parse().expect("valid time")
}

/// Rollups per substation found, and the substations with nothing in the range.
pub type Collected = (Vec<(String, Vec<HourlyRollup>)>, Vec<String>);

/// The rollups of the wanted substations (all when none is named), in name order.
/// An unknown name is an error; a substation with nothing in the range is reported in
/// the second list.
pub async fn collect(
    store: &dyn GridStore,
    wanted: &[String],
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> anyhow::Result<Collected> {
    let mut known: Vec<String> = store.substations().await?.into_iter().map(|s| s.location).collect();
    known.sort();
    if known.is_empty() {
        bail!("no substations stored in {} (run `gridwatch analyze FILES` first)", store.describe());
    }
    let names = if wanted.is_empty() { known.clone() } else { wanted.to_vec() };
    for name in &names {
        if !known.contains(name) {
            bail!(
                "unknown substation {:?} (stored: {})",
                sanitize_for_terminal(name),
                sanitize_for_terminal(&known.join(", "))
            );
        }
    }
    let (lo, hi) = (from.unwrap_or_else(far_past), to.unwrap_or_else(far_future));
    if lo >= hi {
        bail!("empty range: --from {} is not before --to {}", format_ts(lo), format_ts(hi));
    }
    let mut found = Vec::new();
    let mut empty = Vec::new();
    for name in names {
        let rows = store.rollups(&name, lo, hi).await?;
        if rows.is_empty() { empty.push(name) } else { found.push((name, rows)) }
    }
    Ok((found, empty))
}

pub fn run(data_dir: &Option<PathBuf>, settings: &Settings, args: OptimizeArgs) -> anyhow::Result<()> {
    let (found, empty) = match args.backend.kind(&settings.aws) {
        super::aws_args::BackendKind::Local => {
            let backend = super::backends::open_local(data_dir, settings)?;
            let rt = tokio::runtime::Builder::new_current_thread().build()?;
            rt.block_on(collect(&backend, &args.location, args.from, args.to))?
        }
        super::aws_args::BackendKind::Aws => aws_collect(settings, &args)?,
    };
    for name in &empty {
        eprintln!("note: {} has no stored hours in the range, skipped", sanitize_for_terminal(name));
    }
    if found.is_empty() {
        bail!("no stored hours in the range for {}", sanitize_for_terminal(&empty.join(", ")));
    }
    let cfg = &settings.optimize;
    let targets = args.targets(cfg);
    let mut results = Vec::new();
    for (name, rows) in &found {
        let r = optimize::optimize_rollups(name, rows, cfg, &targets)
            .with_context(|| format!("substation {}", sanitize_for_terminal(name)))?;
        results.push(r);
    }
    let write = |out: &mut dyn Write| write_results(&results, cfg, args.format, out);
    match &args.output {
        Some(path) => {
            let file = std::fs::File::create(path).map_err(|e| anyhow::anyhow!("cannot create {}: {e}", path.display()))?;
            let mut w = std::io::BufWriter::new(file);
            write(&mut w)?;
            w.flush()?;
            eprintln!("wrote {} substation(s) to {}", results.len(), path.display());
        }
        None => write(&mut std::io::stdout().lock())?,
    }
    Ok(())
}

/// The same collection over the AWS store (DynamoDB), through the same trait.
fn aws_collect(settings: &Settings, args: &OptimizeArgs) -> anyhow::Result<Collected> {
    #[cfg(feature = "aws")]
    {
        let aws = args.backend.aws.resolve(&settings.aws);
        super::aws_args::runtime()?.block_on(async {
            let (store, _) = aws.store(true).await;
            collect(&store, &args.location, args.from, args.to).await
        })
    }
    #[cfg(not(feature = "aws"))]
    {
        let _ = (settings, args);
        Err(super::aws_args::not_built())
    }
}

#[derive(Serialize)]
struct JsonOutput<'a> {
    config: &'a OptimizeConfig,
    substations: &'a [SubstationOptimization],
}

fn opt(v: Option<f64>, decimals: usize) -> String {
    v.map(|x| format!("{x:.decimals$}")).unwrap_or_default()
}

fn days_label(days: &[chrono::NaiveDate]) -> String {
    match days {
        [] => String::new(),
        [d] => d.to_string(),
        [a, .., b] => format!("{a}..{b}"),
    }
}

const CSV_COLUMNS: [&str; 29] = [
    "location",
    "from",
    "to",
    "hours",
    "missing_hours",
    "peak_mw",
    "load_factor",
    "cost_measured_per_year",
    "target",
    "cap_mw",
    "battery_power_mw",
    "battery_energy_mwh",
    "hours_above_cap",
    "sizing_days",
    "shifted_mwh",
    "peak_after_shift_mw",
    "load_factor_after_shift",
    "shaving_savings_per_year",
    "shifting_savings_per_year",
    "battery_cost",
    "payback_years",
    "renewable_penetration",
    "reverse_flow_hours",
    "reverse_flow_mwh",
    "hosting_margin_mw",
    "solar_max_scale",
    "solar_added_mw",
    "wind_max_scale",
    "wind_added_mw",
];

pub fn write_results(results: &[SubstationOptimization], cfg: &OptimizeConfig, format: OptimizeFormat, out: &mut dyn Write) -> anyhow::Result<()> {
    match format {
        OptimizeFormat::Json => {
            serde_json::to_writer_pretty(&mut *out, &JsonOutput { config: cfg, substations: results })?;
            writeln!(out)?;
        }
        OptimizeFormat::Csv => {
            let mut w = csv::Writer::from_writer(out);
            w.write_record(CSV_COLUMNS)?;
            for r in results {
                let ren = &r.renewables;
                for t in &r.targets {
                    w.write_record([
                        r.location.clone(),
                        format_ts(r.from),
                        format_ts(r.to),
                        format!("{}", r.hours),
                        format!("{}", r.missing_hours),
                        format!("{:.3}", r.peak_mw),
                        format!("{:.4}", r.load_factor),
                        format!("{:.0}", r.cost_measured_per_year),
                        t.target.to_string(),
                        format!("{:.3}", t.cap_mw),
                        format!("{:.3}", t.storage.power_mw),
                        format!("{:.3}", t.storage.energy_mwh),
                        format!("{}", t.storage.hours_above_cap),
                        days_label(&t.storage.sizing_days),
                        format!("{:.3}", t.shifting.shifted_mwh),
                        format!("{:.3}", t.shifting.peak_after_mw),
                        format!("{:.4}", t.shifting.load_factor_after),
                        format!("{:.0}", t.cost.peak_shaving_savings_per_year),
                        format!("{:.0}", t.cost.load_shifting_savings_per_year),
                        format!("{:.0}", t.cost.battery_cost),
                        opt(t.cost.payback_years, 2),
                        format!("{:.4}", ren.penetration),
                        format!("{}", ren.reverse_flow_hours),
                        format!("{:.3}", ren.reverse_flow_mwh),
                        format!("{:.3}", ren.hosting_margin_mw),
                        opt(ren.solar.max_scale, 3),
                        opt(ren.solar.added_mw, 3),
                        opt(ren.wind.max_scale, 3),
                        opt(ren.wind.added_mw, 3),
                    ])?;
                }
            }
            w.flush()?;
        }
        OptimizeFormat::Table => write_table(results, cfg, out)?,
    }
    Ok(())
}

/// Left-aligned first column, right-aligned numbers.
fn aligned(rows: &[Vec<String>], out: &mut dyn Write, indent: &str) -> std::io::Result<()> {
    let mut widths = vec![0; rows.iter().map(Vec::len).max().unwrap_or(0)];
    for row in rows {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (c, &w))| if i == 0 { format!("{c:<w$}") } else { format!("{c:>w$}") })
            .collect();
        writeln!(out, "{indent}{}", cells.join("  ").trim_end())?;
    }
    Ok(())
}

fn money(v: f64) -> String {
    format!("{v:.0}")
}

fn write_table(results: &[SubstationOptimization], cfg: &OptimizeConfig, out: &mut dyn Write) -> anyhow::Result<()> {
    let cur = sanitize_for_terminal(&cfg.tariff.currency);
    for r in results {
        writeln!(
            out,
            "{}  {} .. {}  ({} h, {} missing)  peak {:.2} MW at {}  load factor {:.3}  cost {} {cur}/year",
            sanitize_for_terminal(&r.location),
            format_ts(r.from),
            format_ts(r.to),
            r.hours,
            r.missing_hours,
            r.peak_mw,
            format_ts(r.peak_at),
            r.load_factor,
            money(r.cost_measured_per_year),
        )?;
        let mut rows = vec![
            [
                "target", "cap MW", "battery MW", "MWh", "h>cap", "sized by", "shift MWh", "peak after shift", "LF after",
                "shaving saves/y", "shifting saves/y", "battery cost", "payback y",
            ]
            .map(String::from)
            .to_vec(),
        ];
        for t in &r.targets {
            rows.push(vec![
                t.target.to_string(),
                format!("{:.2}", t.cap_mw),
                format!("{:.2}", t.storage.power_mw),
                format!("{:.2}", t.storage.energy_mwh),
                format!("{}", t.storage.hours_above_cap),
                days_label(&t.storage.sizing_days),
                format!("{:.2}", t.shifting.shifted_mwh),
                format!("{:.2}", t.shifting.peak_after_mw),
                format!("{:.3}", t.shifting.load_factor_after),
                money(t.cost.peak_shaving_savings_per_year),
                money(t.cost.load_shifting_savings_per_year),
                money(t.cost.battery_cost),
                t.cost.payback_years.map(|y| format!("{y:.1}")).unwrap_or_else(|| "-".into()),
            ]);
        }
        aligned(&rows, out, "  ")?;
        let ren = &r.renewables;
        let scale = |h: &optimize::HostingScale| match (h.max_scale, h.added_mw, h.penetration_after) {
            (Some(k), Some(add), Some(pen)) => format!("x{k:.2} ({add:+.1} MW, penetration {:.1} %)", pen * 100.0),
            _ => h.note.clone().unwrap_or_default(),
        };
        writeln!(
            out,
            "  renewables: {:.1} % of load energy; reverse flow {} h / {:.2} MWh; hosting margin {:.2} MW (at {})",
            ren.penetration * 100.0,
            ren.reverse_flow_hours,
            ren.reverse_flow_mwh,
            ren.hosting_margin_mw,
            format_ts(ren.hosting_margin_at),
        )?;
        writeln!(out, "  within the reverse-flow limit: solar {}; wind {}", scale(&ren.solar), scale(&ren.wind))?;
        if let Some(first) = r.targets.first() {
            writeln!(out, "  {}", optimize::summary_line(first))?;
        }
        writeln!(out)?;
    }
    // The assumptions are the same for every substation but the charging limit in MW.
    if let Some(r) = results.first() {
        writeln!(out, "assumptions:")?;
        let mut lines: Vec<String> = r.assumptions.clone();
        lines.retain(|l| !l.contains("missing hour"));
        if let Some(t) = r.targets.first() {
            lines.extend(t.storage.assumptions.iter().filter(|l| !l.starts_with("charging only")).cloned());
            lines.push(format!(
                "charging only below the cap, at most {} x the battery power",
                cfg.battery.charge_power_ratio
            ));
            lines.extend(t.shifting.assumptions.iter().cloned());
            lines.extend(t.cost.assumptions.iter().filter(|l| !l.starts_with("yearly")).cloned());
            lines.push("yearly figures scale the hours covered to 8760 h".into());
        }
        lines.extend(r.renewables.assumptions.iter().cloned());
        for l in lines {
            writeln!(out, "  - {}", sanitize_for_terminal(&l))?;
        }
    }
    Ok(())
}
