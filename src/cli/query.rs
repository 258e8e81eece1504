//! `gridwatch query`: stored hourly rollups as a table, CSV or JSON.

use super::settings::Settings;
use super::time_arg::parse_time;
use crate::model::{format_ts, AlertStatus, HourlyRollup};
use chrono::{DateTime, Utc};
use clap::{Args, ValueEnum};
use std::io::Write;
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum QueryFormat {
    Table,
    Csv,
    Json,
}

#[derive(Args, Debug)]
pub struct QueryArgs {
    /// Only this substation.
    #[arg(long)]
    pub location: Option<String>,
    /// From this time (inclusive; ISO-8601, naive = UTC, a date alone means midnight).
    #[arg(long, value_parser = parse_time)]
    pub from: Option<DateTime<Utc>>,
    /// Up to this time (exclusive).
    #[arg(long, value_parser = parse_time)]
    pub to: Option<DateTime<Utc>>,
    /// Only hours with this alert status.
    #[arg(long)]
    pub status: Option<AlertStatus>,
    #[arg(long, value_enum, default_value_t = QueryFormat::Table)]
    pub format: QueryFormat,
    /// Write to this file instead of standard output.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub backend: super::aws_args::BackendArgs,
}

pub fn run(data_dir: &Option<PathBuf>, settings: &Settings, args: QueryArgs) -> anyhow::Result<()> {
    let rows = match args.backend.kind(&settings.aws) {
        super::aws_args::BackendKind::Aws => super::aws_args::aws_query(&args.backend.aws.resolve(&settings.aws), args.location.as_deref(), args.from, args.to, args.status)?,
        super::aws_args::BackendKind::Local => {
            let backend = super::backends::open_local(data_dir, settings)?;
            backend.db().query(args.location.as_deref(), args.from, args.to, args.status)?
        }
    };
    match &args.output {
        Some(path) => {
            let file = std::fs::File::create(path).map_err(|e| anyhow::anyhow!("cannot create {}: {e}", path.display()))?;
            let mut w = std::io::BufWriter::new(file);
            write_rows(&rows, args.format, &mut w)?;
            w.flush()?;
            eprintln!("wrote {} row(s) to {}", rows.len(), path.display());
        }
        None => write_rows(&rows, args.format, &mut std::io::stdout().lock())?,
    }
    Ok(())
}

const COLUMNS: [&str; 11] = [
    "location",
    "timestamp",
    "load_avg_mw",
    "load_peak_mw",
    "renewable_penetration",
    "voltage_avg_kv",
    "frequency_avg_hz",
    "stability_score",
    "efficiency_score",
    "alert_status",
    "alert_reasons",
];

fn cells(r: &HourlyRollup) -> [String; 11] {
    [
        r.location.clone(),
        format_ts(r.timestamp),
        format!("{:.2}", r.load_avg_mw),
        format!("{:.2}", r.load_peak_mw),
        format!("{:.4}", r.renewable_penetration),
        format!("{:.3}", r.voltage_avg_kv),
        format!("{:.3}", r.frequency_avg_hz),
        format!("{:.4}", r.stability_score),
        format!("{:.4}", r.efficiency_score),
        r.alert_status.to_string(),
        r.alert_reasons.join("; "),
    ]
}

pub fn write_rows(rows: &[HourlyRollup], format: QueryFormat, out: &mut dyn Write) -> anyhow::Result<()> {
    match format {
        QueryFormat::Json => {
            serde_json::to_writer_pretty(&mut *out, rows)?;
            writeln!(out)?;
        }
        QueryFormat::Csv => {
            let mut w = csv::Writer::from_writer(out);
            w.write_record(COLUMNS)?;
            for r in rows {
                w.write_record(cells(r))?;
            }
            w.flush()?;
        }
        QueryFormat::Table => {
            let table: Vec<[String; 11]> = rows
                .iter()
                .map(|r| cells(r).map(|c| crate::sanitize::sanitize_for_terminal(&c)))
                .collect();
            let mut widths = COLUMNS.map(str::len);
            for row in &table {
                for (w, c) in widths.iter_mut().zip(row) {
                    *w = (*w).max(c.chars().count());
                }
            }
            // The reasons column is last and unpadded so long text does not widen the table.
            let line = |cells: &[&str]| {
                cells.iter().zip(widths).enumerate().map(|(i, (c, w))| if i + 1 == cells.len() { c.to_string() } else { format!("{c:<w$}") }).collect::<Vec<_>>().join("  ")
            };
            writeln!(out, "{}", line(&COLUMNS))?;
            for row in &table {
                let refs: Vec<&str> = row.iter().map(String::as_str).collect();
                writeln!(out, "{}", line(&refs).trim_end())?;
            }
            writeln!(out, "({} row(s))", rows.len())?;
        }
    }
    Ok(())
}
