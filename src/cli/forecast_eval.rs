//! `gridwatch forecast-eval`: rolling-origin evaluation of the 24 h load forecast
//! against the seasonal-naive baselines (same hour yesterday / last week) on a CSV
//! series, e.g. a gridwatch readings file or a SimBench load profile.
//!
//! The file needs a timestamp column and a value column; values at any regular
//! interval are averaged to hourly means. With a `location` column, every location is
//! evaluated on its own (or only `--location X`). Rows that cannot be used are skipped
//! and counted; the first few are named (line, column, reason) on stderr.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde::Serialize;

use crate::analysis::forecast::{self, EvalRow, Method};

/// Evaluate the load forecast against seasonal-naive baselines on a CSV series.
#[derive(clap::Args, Debug)]
pub struct ForecastEvalArgs {
    /// CSV file (optionally gzip-compressed), `,` or `;` separated (detected).
    pub file: PathBuf,
    /// Column holding the timestamps: ISO-8601 with or without offset (naive = UTC),
    /// or `dd.mm.yyyy HH:MM` (SimBench).
    #[arg(long, default_value = "timestamp")]
    pub time_column: String,
    /// Column holding the values to forecast.
    #[arg(long, default_value = "load_mw")]
    pub value_column: String,
    /// Only this location (files with a `location` column); default: each location on its own.
    #[arg(long)]
    pub location: Option<String>,
    /// Days of history before the first forecast origin (at least 8).
    #[arg(long, default_value_t = 14)]
    pub min_train_days: u32,
    /// Output format.
    #[arg(long, value_enum, default_value_t = EvalFormat::Table)]
    pub format: EvalFormat,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum EvalFormat {
    Table,
    Csv,
    Json,
}

/// The evaluation of one series (one location, or the whole file).
#[derive(Debug, Clone, Serialize)]
pub struct SeriesReport {
    /// The location, or the file name when the file has no location column.
    pub series: String,
    pub hours: usize,
    pub first_hour: DateTime<Utc>,
    pub last_hour: DateTime<Utc>,
    pub rows: Vec<EvalRow>,
    /// Method with the lowest MAPE / RMSE.
    pub best_mape: Option<String>,
    pub best_rmse: Option<String>,
}

/// Rows that were skipped, with the first few reasons.
#[derive(Debug, Default)]
pub struct Skipped {
    pub count: u64,
    pub examples: Vec<String>,
}

impl Skipped {
    fn add(&mut self, why: String) {
        self.count += 1;
        if self.examples.len() < 5 {
            self.examples.push(why);
        }
    }
}

pub fn run(args: ForecastEvalArgs) -> Result<()> {
    let (reports, skipped) = evaluate_file(&args)?;
    if skipped.count > 0 {
        eprintln!("warning: {}: skipped {} unusable row(s)", args.file.display(), skipped.count);
        for e in &skipped.examples {
            eprintln!("  {e}");
        }
    }
    std::io::Write::write_all(&mut std::io::stdout(), render(&reports, args.format, args.min_train_days)?.as_bytes())?;
    Ok(())
}

/// Reads the file and evaluates each series in it.
pub fn evaluate_file(args: &ForecastEvalArgs) -> Result<(Vec<SeriesReport>, Skipped)> {
    let path = &args.file;
    let (series, skipped) = read_series(path, &args.time_column, &args.value_column, args.location.as_deref())?;
    if series.is_empty() {
        match &args.location {
            Some(l) => bail!("{}: no usable rows for location `{l}`", path.display()),
            None => bail!("{}: no usable rows", path.display()),
        }
    }
    let mut reports = Vec::new();
    for (name, hourly) in series {
        let points: Vec<(DateTime<Utc>, f64)> =
            hourly.iter().filter_map(|(&h, &(s, c))| Some((hour_start(h)?, s / c as f64))).collect();
        let rows = forecast::evaluate(&points, args.min_train_days);
        let best = |key: fn(&EvalRow) -> f64| {
            rows.iter()
                .filter(|r| key(r).is_finite())
                .min_by(|a, b| key(a).total_cmp(&key(b)))
                .map(|r| r.method.clone())
        };
        let (best_mape, best_rmse) = (best(|r| r.mape_pct), best(|r| r.rmse));
        let (Some(first), Some(last)) = (points.first(), points.last()) else { continue };
        reports.push(SeriesReport {
            series: name,
            hours: points.len(),
            first_hour: first.0,
            last_hour: last.0,
            rows,
            best_mape,
            best_rmse,
        });
    }
    if reports.iter().all(|r| r.rows.is_empty()) {
        let days = (args.min_train_days as usize).max(forecast::MIN_MODEL_DAYS);
        bail!(
            "{}: too little data to evaluate: need more than {days} days of history before the first forecast \
             origin (--min-train-days {})",
            path.display(),
            args.min_train_days
        );
    }
    Ok((reports, skipped))
}

type Hourly = BTreeMap<i64, (f64, u32)>;

/// Opens a file, transparently un-gzipping it.
fn open(path: &Path) -> Result<Box<dyn Read>> {
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut reader = BufReader::new(file);
    let gz = reader.fill_buf().with_context(|| format!("cannot read {}", path.display()))?.starts_with(&[0x1f, 0x8b]);
    Ok(if gz { Box::new(flate2::read::MultiGzDecoder::new(reader)) } else { Box::new(reader) })
}

/// Hourly sums and counts per series (location, or the file name).
fn read_series(
    path: &Path,
    time_column: &str,
    value_column: &str,
    location: Option<&str>,
) -> Result<(BTreeMap<String, Hourly>, Skipped)> {
    let shown = path.display();
    // Delimiter: whichever of `;` and `,` the header line has more of.
    let mut header_line = String::new();
    BufReader::new(open(path)?).read_line(&mut header_line).with_context(|| format!("cannot read {shown}"))?;
    let delimiter = if header_line.matches(';').count() > header_line.matches(',').count() { b';' } else { b',' };

    let mut rdr = csv::ReaderBuilder::new().delimiter(delimiter).flexible(true).trim(csv::Trim::All).from_reader(open(path)?);
    let headers = rdr.headers().with_context(|| format!("{shown}: cannot read the header line"))?.clone();
    let find = |name: &str| {
        headers
            .iter()
            .position(|h| h == name)
            .or_else(|| headers.iter().position(|h| h.trim_start_matches('\u{feff}').eq_ignore_ascii_case(name)))
    };
    let columns = || headers.iter().collect::<Vec<_>>().join(", ");
    let Some(ti) = find(time_column) else {
        bail!("{shown}: line 1: no time column `{time_column}` (columns: {}); see --time-column", columns())
    };
    let Some(vi) = find(value_column) else {
        bail!("{shown}: line 1: no value column `{value_column}` (columns: {}); see --value-column", columns())
    };
    let li = find("location");
    if location.is_some() && li.is_none() {
        bail!("{shown}: --location given but the file has no `location` column (columns: {})", columns());
    }
    let default_name =
        path.file_name().map(|n| n.to_string_lossy().trim_end_matches(".gz").to_string()).unwrap_or_default();

    let mut series: BTreeMap<String, Hourly> = BTreeMap::new();
    let mut skipped = Skipped::default();
    let mut record = csv::StringRecord::new();
    loop {
        let line = rdr.position().line() + 1;
        match rdr.read_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                let line = e.position().map(|p| p.line()).unwrap_or(line);
                // Bad UTF-8 etc. in one row: skip it; an I/O error ends the file.
                if matches!(e.kind(), csv::ErrorKind::Io(_)) {
                    return Err(anyhow::Error::new(e).context(format!("{shown}: line {line}: read error")));
                }
                skipped.add(format!("line {line}: {e}"));
                continue;
            }
        }
        let line = record.position().map(|p| p.line()).unwrap_or(line);
        if record.iter().all(|f| f.is_empty()) {
            continue;
        }
        let name = match li {
            Some(li) => {
                let loc = record.get(li).unwrap_or("");
                if location.is_some_and(|want| want != loc) {
                    continue;
                }
                loc.to_string()
            }
            None => default_name.clone(),
        };
        let Some(ts) = record.get(ti) else {
            skipped.add(format!("line {line}: column `{time_column}`: missing field"));
            continue;
        };
        let Some(t) = parse_timestamp(ts) else {
            skipped.add(format!("line {line}: column `{time_column}`: unrecognised timestamp `{ts}`"));
            continue;
        };
        let raw = record.get(vi).unwrap_or("");
        let value = match raw.parse::<f64>() {
            Ok(v) if v.is_finite() => v,
            _ => {
                let why = if raw.is_empty() { "empty value".to_string() } else { format!("not a finite number: `{raw}`") };
                skipped.add(format!("line {line}: column `{value_column}`: {why}"));
                continue;
            }
        };
        let slot = series.entry(name).or_default().entry(t.timestamp().div_euclid(3600)).or_insert((0.0, 0));
        slot.0 += value;
        slot.1 += 1;
    }
    Ok((series, skipped))
}

fn hour_start(h: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(h.checked_mul(3600)?, 0)
}

/// ISO-8601 / RFC 3339 with or without offset (naive = UTC), `dd.mm.yyyy HH:MM[:SS]`
/// (SimBench), or a plain date (midnight UTC).
pub fn parse_timestamp(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    for f in ["%Y-%m-%d %H:%M:%S%.f%:z", "%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%d %H:%M:%S%.f%z", "%Y-%m-%dT%H:%M%:z", "%Y-%m-%d %H:%M%:z"] {
        if let Ok(t) = DateTime::parse_from_str(s, f) {
            return Some(t.with_timezone(&Utc));
        }
    }
    let naive = s.strip_suffix(['Z', 'z']).unwrap_or(s);
    for f in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
        "%d.%m.%Y %H:%M",
        "%d.%m.%Y %H:%M:%S",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(naive, f) {
            return Some(t.and_utc());
        }
    }
    for f in ["%Y-%m-%d", "%d.%m.%Y"] {
        if let Ok(d) = NaiveDate::parse_from_str(naive, f) {
            return d.and_hms_opt(0, 0, 0).map(|t| t.and_utc());
        }
    }
    None
}

/// Renders the reports as a table, CSV or JSON.
pub fn render(reports: &[SeriesReport], format: EvalFormat, min_train_days: u32) -> Result<String> {
    use std::fmt::Write;
    let mut out = String::new();
    match format {
        EvalFormat::Json => {
            out = serde_json::to_string_pretty(reports)?;
            out.push('\n');
        }
        EvalFormat::Csv => {
            let mut w = csv::Writer::from_writer(Vec::new());
            w.write_record(["series", "method", "mape_pct", "rmse", "mae", "forecasts", "points"])?;
            for r in reports {
                for row in &r.rows {
                    w.write_record([
                        r.series.clone(),
                        row.method.clone(),
                        format!("{:.4}", row.mape_pct),
                        format!("{:.6}", row.rmse),
                        format!("{:.6}", row.mae),
                        row.forecasts.to_string(),
                        row.points.to_string(),
                    ])?;
                }
            }
            out = String::from_utf8(w.into_inner().map_err(|e| anyhow::anyhow!("{e}"))?)?;
        }
        EvalFormat::Table => {
            for (i, r) in reports.iter().enumerate() {
                if i > 0 {
                    out.push('\n');
                }
                let _ = writeln!(
                    out,
                    "{}: {} hours, {} .. {} UTC",
                    r.series,
                    r.hours,
                    r.first_hour.format("%Y-%m-%d %H:%M"),
                    r.last_hour.format("%Y-%m-%d %H:%M")
                );
                if r.rows.is_empty() {
                    let days = (min_train_days as usize).max(forecast::MIN_MODEL_DAYS);
                    let _ = writeln!(out, "  too short to evaluate (needs more than {days} days)");
                    continue;
                }
                let width = Method::ALL.iter().map(|m| m.name().len()).max().unwrap_or(6);
                let _ = writeln!(out, "  {:<width$}  {:>8}  {:>12}  {:>12}  {:>9}", "method", "MAPE %", "RMSE", "MAE", "forecasts");
                for row in &r.rows {
                    let _ = writeln!(
                        out,
                        "  {:<width$}  {:>8.2}  {:>12.6}  {:>12.6}  {:>9}",
                        row.method, row.mape_pct, row.rmse, row.mae, row.forecasts
                    );
                }
                let _ = writeln!(
                    out,
                    "  best: {} by MAPE, {} by RMSE (24 h forecasts from every midnight, {} scored hours)",
                    r.best_mape.as_deref().unwrap_or("-"),
                    r.best_rmse.as_deref().unwrap_or("-"),
                    r.rows[0].points
                );
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn args(file: &Path) -> ForecastEvalArgs {
        ForecastEvalArgs {
            file: file.to_path_buf(),
            time_column: "timestamp".into(),
            value_column: "load_mw".into(),
            location: None,
            min_train_days: 14,
            format: EvalFormat::Table,
        }
    }

    fn shape(h: i64) -> f64 {
        let hod = h.rem_euclid(24) as f64;
        let dow = (h.div_euclid(24) + 4).rem_euclid(7); // 2024-01-01 = Monday
        10.0 + 3.0 * (hod / 24.0 * std::f64::consts::TAU).sin() + if dow >= 5 { -2.0 } else { 0.0 }
    }

    #[test]
    fn parses_the_timestamp_formats() {
        let want = DateTime::parse_from_rfc3339("2016-01-31T13:15:00Z").unwrap().with_timezone(&Utc);
        for s in [
            "2016-01-31T13:15:00Z",
            "2016-01-31T14:15:00+01:00",
            "2016-01-31 14:15:00+01:00",
            "2016-01-31T13:15:00",
            "2016-01-31 13:15:00.000",
            "2016-01-31 13:15",
            "31.01.2016 13:15",
            " 31.01.2016 13:15:00 ",
        ] {
            assert_eq!(parse_timestamp(s), Some(want), "{s}");
        }
        assert!(parse_timestamp("2016-01-31").is_some());
        for bad in ["", "yesterday", "31/01/2016 13:15", "2016-13-01T00:00:00"] {
            assert_eq!(parse_timestamp(bad), None, "{bad}");
        }
    }

    #[test]
    fn evaluates_a_readings_file_per_location_and_counts_bad_rows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("readings.csv");
        let mut f = File::create(&path).unwrap();
        writeln!(f, "timestamp,location,load_mw,generation_mw").unwrap();
        let start = DateTime::parse_from_rfc3339("2024-01-01T00:00:00Z").unwrap().timestamp() / 3600;
        for q in 0..(30 * 96) {
            let h = start + q / 4;
            let t = hour_start(h).unwrap() + chrono::Duration::minutes(15 * (q % 4));
            let ts = t.format("%Y-%m-%dT%H:%M:%S");
            writeln!(f, "{ts},North,{},0", shape(h)).unwrap();
            writeln!(f, "{ts},South,{},0", 2.0 * shape(h)).unwrap();
        }
        writeln!(f, "not-a-time,North,1,0").unwrap();
        writeln!(f, "2024-01-02T00:00:00Z,North,abc,0").unwrap();
        writeln!(f, "2024-01-02T00:00:00Z,North,,0").unwrap();
        drop(f);

        let (reports, skipped) = evaluate_file(&args(&path)).unwrap();
        assert_eq!(skipped.count, 3);
        assert!(skipped.examples[0].contains("line 5762") && skipped.examples[0].contains("`timestamp`"), "{skipped:?}");
        assert!(skipped.examples[1].contains("`load_mw`") && skipped.examples[1].contains("abc"));
        assert_eq!(reports.len(), 2);
        for r in &reports {
            assert_eq!(r.hours, 30 * 24);
            assert_eq!(r.rows.len(), 3);
            assert_eq!(r.rows[0].forecasts, 30 - 14);
            assert!(r.rows[0].mape_pct < 2.0 && r.rows[0].mape_pct < r.rows[1].mape_pct, "{r:?}");
        }
        let only = ForecastEvalArgs { location: Some("South".into()), ..args(&path) };
        let (reports, _) = evaluate_file(&only).unwrap();
        assert_eq!(reports.len(), 1);
        assert_eq!(reports[0].series, "South");

        let table = render(&reports, EvalFormat::Table, 14).unwrap();
        assert!(table.contains("same-hour-last-week") && table.contains("best: "), "{table}");
        let csv = render(&reports, EvalFormat::Csv, 14).unwrap();
        assert_eq!(csv.lines().count(), 4);
        let json: serde_json::Value = serde_json::from_str(&render(&reports, EvalFormat::Json, 14).unwrap()).unwrap();
        assert_eq!(json[0]["rows"][0]["method"], "model");
    }

    #[test]
    fn reads_simbench_style_semicolon_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("LoadProfile.csv");
        let mut f = File::create(&path).unwrap();
        writeln!(f, "time;H0-A_qload;H0-A_pload").unwrap();
        let start = DateTime::parse_from_rfc3339("2016-01-01T00:00:00Z").unwrap().timestamp() / 3600;
        for q in 0..(20 * 96) {
            let h = start + q / 4;
            let t = hour_start(h).unwrap() + chrono::Duration::minutes(15 * (q % 4));
            writeln!(f, "{};0.1;{}", t.format("%d.%m.%Y %H:%M"), shape(h)).unwrap();
        }
        drop(f);
        let a = ForecastEvalArgs { time_column: "time".into(), value_column: "H0-A_pload".into(), ..args(&path) };
        let (reports, skipped) = evaluate_file(&a).unwrap();
        assert_eq!(skipped.count, 0);
        assert_eq!(reports[0].series, "LoadProfile.csv");
        assert_eq!(reports[0].rows[0].forecasts, 6);
    }

    #[test]
    fn errors_name_the_file_and_column() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.csv");
        std::fs::write(&path, "time,value\n2024-01-01T00:00:00Z,1\n").unwrap();
        let e = format!("{:#}", evaluate_file(&args(&path)).unwrap_err());
        assert!(e.contains("x.csv") && e.contains("`timestamp`") && e.contains("time, value"), "{e}");
        let a = ForecastEvalArgs { time_column: "time".into(), value_column: "value".into(), ..args(&path) };
        let e = format!("{:#}", evaluate_file(&a).unwrap_err());
        assert!(e.contains("too little data"), "{e}");
        let e = format!("{:#}", evaluate_file(&args(&dir.path().join("missing.csv"))).unwrap_err());
        assert!(e.contains("missing.csv"), "{e}");
        let a = ForecastEvalArgs { location: Some("X".into()), ..a };
        let e = format!("{:#}", evaluate_file(&a).unwrap_err());
        assert!(e.contains("no `location` column"), "{e}");
    }
}
