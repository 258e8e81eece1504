//! `gridwatch generate`: writes synthetic substation readings to disk.
//!
//! Sample data for trying the dashboard, demo uploads and benchmarks. Readings come from
//! [`crate::simulator::generator`], so a seed always gives the same files. Rows are streamed through
//! a buffered (optionally gzip) writer: memory stays flat whatever the size asked for.

use crate::simulator::generator::{self, Generator, GeneratorConfig, DataFormat};
use anyhow::{Context, Result, bail};
use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use clap::{Args, ValueEnum};
use flate2::{Compression, write::GzEncoder};
use indicatif::{HumanBytes, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::cell::Cell;
use std::fs::File;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// File format on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    /// CSV with a header row (the format of the seed's uploads).
    Csv,
    /// JSON lines: one object per reading.
    Jsonl,
}

impl From<FormatArg> for DataFormat {
    fn from(f: FormatArg) -> Self {
        match f {
            FormatArg::Csv => DataFormat::Csv,
            FormatArg::Jsonl => DataFormat::JsonLines,
        }
    }
}

/// How readings are spread over files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SplitArg {
    /// One file per UTC day, named like `grid_data_2025-01-14.csv`.
    Daily,
    /// Everything in a single file.
    None,
}

/// Generate realistic, reproducible smart-grid readings.
///
/// Every substation has its own size, daily/weekly/seasonal load shape, solar and wind
/// capacity. Anomaly episodes (voltage sags, overvoltage, frequency excursions,
/// overloads) make alerts fire and clear. The same seed always produces the same bytes.
#[derive(Args, Debug, Clone)]
pub struct GenerateArgs {
    /// Number of substations (named substation_001, substation_002, ...).
    #[arg(long, value_name = "N", default_value_t = 8)]
    pub substations: usize,

    /// Number of days to generate (ignored with --target-size).
    #[arg(long, value_name = "DAYS", default_value_t = 7)]
    pub days: u32,

    /// Minutes between readings; must divide a day (1, 5, 10, 15, 30, 60, ...).
    #[arg(long, value_name = "MIN", default_value_t = 15)]
    pub interval_minutes: u32,

    /// First timestamp, UTC: a date (2025-01-14) or a date-time (2025-01-14T06:00:00Z).
    #[arg(long, value_name = "DATE[THH:MM[:SS]Z]", default_value = "2025-01-14", value_parser = parse_start)]
    pub start: DateTime<Utc>,

    /// Seed of the random streams: same seed, same data.
    #[arg(long, value_name = "N", default_value_t = 42)]
    pub seed: u64,

    /// Clean data: no voltage, frequency or overload anomalies.
    #[arg(long)]
    pub no_anomalies: bool,

    /// Average anomaly episodes per substation per week.
    #[arg(long, value_name = "PER_WEEK", default_value_t = generator::DEFAULT_ANOMALIES_PER_WEEK, conflicts_with = "no_anomalies")]
    pub anomaly_rate: f64,

    /// Add the optional power_factor column.
    #[arg(long)]
    pub power_factor: bool,

    /// Values that hover near the alarm limits (load/generation ≈ 0.94 ± 2 %, voltage
    /// touching 13.5 / 14.1 kV): noise that alarm management must not turn into alarms.
    #[arg(long)]
    pub marginal: bool,

    /// Also write the injected anomaly episodes (the ground truth) to this CSV file:
    /// substation, kind, rule, start, end (exclusive).
    #[arg(long, value_name = "FILE")]
    pub truth: Option<PathBuf>,

    /// Output format.
    #[arg(long, value_enum, default_value_t = FormatArg::Csv)]
    pub format: FormatArg,

    /// Compress each file with gzip (adds .gz).
    #[arg(long)]
    pub gzip: bool,

    /// One file per UTC day, or a single file.
    #[arg(long, value_enum, default_value_t = SplitArg::Daily)]
    pub split: SplitArg,

    /// Output directory; with --split none also a file path (e.g. data/week.csv).
    #[arg(long, value_name = "PATH", default_value = "sample_data")]
    pub output: PathBuf,

    /// Keep adding days until the output reaches about this size on disk
    /// (e.g. 500KB, 100MB, 2GB; KiB/MiB/GiB for powers of 1024). For benchmarks.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub target_size: Option<u64>,
}

impl GenerateArgs {
    fn config(&self) -> GeneratorConfig {
        GeneratorConfig {
            substations: self.substations,
            // --target-size decides the length itself; days only has to be valid.
            days: self.days.max(1),
            interval_minutes: self.interval_minutes,
            start: self.start,
            seed: self.seed,
            anomalies_per_week: if self.no_anomalies { 0.0 } else { self.anomaly_rate },
            include_power_factor: self.power_factor,
            marginal: self.marginal,
        }
    }

    fn extension(&self) -> String {
        let ext = DataFormat::from(self.format).extension();
        if self.gzip { format!("{ext}.gz") } else { ext.to_string() }
    }
}

/// Runs `gridwatch generate`.
pub fn run(args: GenerateArgs) -> Result<()> {
    check_args(&args)?;
    let cfg = args.config();
    cfg.validate().map_err(|e| anyhow::anyhow!("invalid generate options: {e}"))?;
    let layout = Layout::plan(&args)?;
    let generator = Generator::new(cfg);
    let progress = progress_bar(&args, &generator);
    let written = write_all(&args, &generator, &layout, &progress)?;
    progress.finish_and_clear();
    print_summary(&args, &written)?;
    if let Some(path) = &args.truth {
        write_truth(&generator, path)?;
        writeln!(std::io::stdout(), "  {}  ground truth: {} anomaly episode(s)", path.display(), generator.episodes().len())?;
    }
    Ok(())
}

/// The injected anomaly episodes as CSV, so detection can be scored.
fn write_truth(generator: &Generator, path: &std::path::Path) -> Result<()> {
    let mut w = csv::Writer::from_path(path).map_err(|e| anyhow::anyhow!("cannot create {}: {e}", path.display()))?;
    w.write_record(["substation", "kind", "rule", "start", "end"])?;
    for e in generator.episodes() {
        w.write_record([
            generator::substation_name(e.substation),
            e.kind.to_string(),
            e.kind.rule().to_string(),
            crate::model::format_ts(e.start),
            crate::model::format_ts(e.end),
        ])?;
    }
    w.flush()?;
    Ok(())
}

/// Flag-by-flag checks, so errors name the flag to fix.
fn check_args(a: &GenerateArgs) -> Result<()> {
    if a.substations == 0 || a.substations > 100_000 {
        bail!("--substations must be between 1 and 100000, got {}", a.substations);
    }
    if a.interval_minutes == 0 || 1440 % a.interval_minutes != 0 {
        bail!(
            "--interval-minutes must divide a day (1440 minutes) evenly, e.g. 1, 5, 10, 15, 30, 60; got {}",
            a.interval_minutes
        );
    }
    if a.days == 0 && a.target_size.is_none() {
        bail!("--days must be at least 1 (or give --target-size)");
    }
    if !a.anomaly_rate.is_finite() || a.anomaly_rate < 0.0 {
        bail!("--anomaly-rate must be a number >= 0 (episodes per substation per week), got {}", a.anomaly_rate);
    }
    if a.truth.is_some() && a.target_size.is_some() {
        bail!("--truth needs a fixed span: give --days instead of --target-size");
    }
    if a.target_size == Some(0) {
        bail!("--target-size must be more than 0 bytes");
    }
    Ok(())
}

/// Where files go.
enum Layout {
    /// One file per UTC day in this directory.
    Daily(PathBuf),
    /// A single file.
    Single(PathBuf),
}

impl Layout {
    fn plan(args: &GenerateArgs) -> Result<Self> {
        let out = &args.output;
        let looks_like_file = out.is_file() || has_data_extension(out);
        match args.split {
            SplitArg::Daily if looks_like_file => bail!(
                "--split daily writes one file per day into a directory, but --output {} looks like a file; \
                 pass a directory or use --split none",
                out.display()
            ),
            SplitArg::Daily => Ok(Layout::Daily(out.clone())),
            SplitArg::None if looks_like_file => {
                check_gzip_name(out, args.gzip)?;
                Ok(Layout::Single(out.clone()))
            }
            SplitArg::None => {
                let name = format!("grid_data_{}.{}", args.start.format("%Y-%m-%d"), args.extension());
                Ok(Layout::Single(out.join(name)))
            }
        }
    }

    fn daily_path(dir: &Path, day: NaiveDate, args: &GenerateArgs) -> PathBuf {
        dir.join(format!("grid_data_{}.{}", day.format("%Y-%m-%d"), args.extension()))
    }
}

fn has_data_extension(p: &Path) -> bool {
    let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("").to_ascii_lowercase();
    [".csv", ".jsonl", ".json", ".ndjson", ".gz"].iter().any(|e| name.ends_with(e))
}

/// Refuses a `.gz` name without `--gzip` (and the reverse): a mislabeled file confuses readers.
fn check_gzip_name(path: &Path, gzip: bool) -> Result<()> {
    let gz_name = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("gz"));
    match (gz_name, gzip) {
        (true, false) => bail!("--output {} ends in .gz: add --gzip", path.display()),
        (false, true) => bail!("--gzip writes compressed data: let --output {} end in .gz", path.display()),
        _ => Ok(()),
    }
}

/// One file written.
struct Written {
    path: PathBuf,
    rows: u64,
    bytes: u64,
}

/// Streams timestamps into files, rotating per day when asked, stopping at the size target.
fn write_all(args: &GenerateArgs, g: &Generator, layout: &Layout, pb: &ProgressBar) -> Result<Vec<Written>> {
    let format = DataFormat::from(args.format);
    let timestamps: Box<dyn Iterator<Item = DateTime<Utc>>> = match args.target_size {
        Some(_) => Box::new(g.timestamps_from(args.start)),
        None => Box::new(g.timestamps()),
    };
    let mut done: Vec<Written> = Vec::new();
    let mut current: Option<(NaiveDate, OutFile)> = None;
    let mut bytes_done = 0;
    for ts in timestamps {
        let day = ts.date_naive();
        if current.as_ref().is_none_or(|(d, _)| matches!(layout, Layout::Daily(_)) && *d != day) {
            if let Some((_, f)) = current.take() {
                let w = f.finish()?;
                bytes_done += w.bytes;
                done.push(w);
            }
            let path = match layout {
                Layout::Daily(dir) => Layout::daily_path(dir, day, args),
                Layout::Single(p) => p.clone(),
            };
            current = Some((day, OutFile::create(path, args.gzip, format, args.power_factor)?));
        }
        let (_, file) = current.as_mut().expect("opened above");
        file.write_timestamp(g, ts, format, args.power_factor)?;
        let bytes = bytes_done + file.bytes();
        pb.set_position(if args.target_size.is_some() { bytes } else { pb.position() + g.config().substations as u64 });
        if args.target_size.is_some_and(|t| bytes >= t) {
            break;
        }
    }
    if let Some((_, f)) = current {
        done.push(f.finish()?);
    }
    Ok(done)
}

/// Counts the bytes that reach the file (after compression): what `--target-size` measures.
struct Counting<W> {
    inner: W,
    count: Rc<Cell<u64>>,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.count.set(self.count.get() + n as u64);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Plain or gzip; an enum (not `Box<dyn Write>`) so gzip can be finished with its errors seen.
enum Encoder {
    Plain(Counting<File>),
    Gzip(Box<GzEncoder<Counting<File>>>),
}

impl Write for Encoder {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Encoder::Plain(w) => w.write(buf),
            Encoder::Gzip(w) => w.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Encoder::Plain(w) => w.flush(),
            Encoder::Gzip(w) => w.flush(),
        }
    }
}

/// A file being written.
struct OutFile {
    path: PathBuf,
    w: BufWriter<Encoder>,
    count: Rc<Cell<u64>>,
    rows: u64,
}

impl OutFile {
    fn create(path: PathBuf, gzip: bool, format: DataFormat, pf: bool) -> Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("cannot create directory {}", dir.display()))?;
        }
        let file = File::create(&path).with_context(|| format!("cannot create {}", path.display()))?;
        let count = Rc::new(Cell::new(0));
        let counting = Counting { inner: file, count: Rc::clone(&count) };
        let enc = if gzip {
            Encoder::Gzip(Box::new(GzEncoder::new(counting, Compression::default())))
        } else {
            Encoder::Plain(counting)
        };
        let mut w = BufWriter::with_capacity(256 * 1024, enc);
        generator::write_header(format, pf, &mut w).with_context(|| format!("cannot write {}", path.display()))?;
        Ok(Self { path, w, count, rows: 0 })
    }

    fn write_timestamp(&mut self, g: &Generator, ts: DateTime<Utc>, format: DataFormat, pf: bool) -> Result<()> {
        for r in g.readings_at(ts) {
            generator::write_reading_row(format, pf, &r, &mut self.w)
                .with_context(|| format!("cannot write {}", self.path.display()))?;
            self.rows += 1;
        }
        Ok(())
    }

    /// Bytes on disk so far (lags by the buffers, which is fine for a size target).
    fn bytes(&self) -> u64 {
        self.count.get()
    }

    fn finish(self) -> Result<Written> {
        let ctx = || format!("cannot write {}", self.path.display());
        let enc = self.w.into_inner().map_err(|e| e.into_error()).with_context(ctx)?;
        let mut file = match enc {
            Encoder::Plain(c) => c,
            Encoder::Gzip(gz) => gz.finish().with_context(ctx)?,
        };
        file.flush().with_context(ctx)?;
        Ok(Written { rows: self.rows, bytes: self.count.get(), path: self.path })
    }
}

/// A bar on stderr when it is a terminal; hidden otherwise so logs and pipes stay clean.
fn progress_bar(args: &GenerateArgs, g: &Generator) -> ProgressBar {
    let target = if io::stderr().is_terminal() { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::hidden() };
    let (len, template) = match args.target_size {
        Some(t) => (t, "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} ({eta})"),
        None => (g.row_count(), "{spinner} [{elapsed_precise}] {wide_bar} {human_pos}/{human_len} rows ({eta})"),
    };
    let pb = ProgressBar::with_draw_target(Some(len), target);
    if let Ok(style) = ProgressStyle::with_template(template) {
        pb.set_style(style);
    }
    pb
}

fn print_summary(args: &GenerateArgs, written: &[Written]) -> std::io::Result<()> {
    const SHOWN: usize = 10;
    let mut out = std::io::stdout().lock();
    let rows: u64 = written.iter().map(|w| w.rows).sum();
    let bytes: u64 = written.iter().map(|w| w.bytes).sum();
    for w in written.iter().take(SHOWN) {
        writeln!(out, "  {}  {} rows  {}", w.path.display(), w.rows, HumanBytes(w.bytes))?;
    }
    if written.len() > SHOWN {
        writeln!(out, "  ... and {} more files", written.len() - SHOWN)?;
    }
    let anomalies = if args.no_anomalies {
        "no anomalies".to_string()
    } else {
        format!("~{} anomalies/substation/week", args.anomaly_rate)
    };
    writeln!(
        out,
        "wrote {} file(s), {rows} rows, {} ({} substations, every {} min, seed {}, {anomalies})",
        written.len(),
        HumanBytes(bytes),
        args.substations,
        args.interval_minutes,
        args.seed
    )
}

/// Accepts `2025-01-14`, `2025-01-14T06:00:00Z`, `2025-01-14T06:00:00+01:00`,
/// `2025-01-14T06:00[:00]` and `2025-01-14 06:00[:00]` (naive times are UTC).
pub fn parse_start(s: &str) -> Result<DateTime<Utc>, String> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(Utc.from_utc_datetime(&d.and_time(NaiveTime::MIN)));
    }
    let s2 = s.trim_end_matches(['Z', 'z']);
    for fmt in ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s2, fmt) {
            return Ok(Utc.from_utc_datetime(&t));
        }
    }
    Err(format!("cannot read {s:?} as a start time; use 2025-01-14 or 2025-01-14T06:00:00Z"))
}

/// Parses `500KB`, `100MB`, `1.5GB`, `64MiB`, `1000` (bytes). KB/MB/GB are powers of
/// 1000, KiB/MiB/GiB powers of 1024; `K`, `M`, `G` alone mean the decimal units.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let value: f64 = num.parse().map_err(|_| format!("cannot read {s:?} as a size; use e.g. 100MB"))?;
    let mult: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "m" | "mb" => 1e6,
        "g" | "gb" => 1e9,
        "kib" => 1024.0,
        "mib" => 1024.0 * 1024.0,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        other => return Err(format!("unknown size unit {other:?} in {s:?}; use B, KB, MB, GB, KiB, MiB or GiB")),
    };
    Ok((value * mult).round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("100MB"), Ok(100_000_000));
        assert_eq!(parse_size("1.5 GB"), Ok(1_500_000_000));
        assert_eq!(parse_size("64MiB"), Ok(64 * 1024 * 1024));
        assert_eq!(parse_size("1234"), Ok(1234));
        assert_eq!(parse_size("2k"), Ok(2000));
        assert!(parse_size("MB").is_err());
        assert!(parse_size("10 parsecs").is_err());
    }

    #[test]
    fn starts_parse() {
        let midnight = Utc.with_ymd_and_hms(2025, 1, 14, 0, 0, 0).unwrap();
        let six = Utc.with_ymd_and_hms(2025, 1, 14, 6, 0, 0).unwrap();
        assert_eq!(parse_start("2025-01-14"), Ok(midnight));
        assert_eq!(parse_start("2025-01-14T06:00:00Z"), Ok(six));
        assert_eq!(parse_start("2025-01-14T07:00:00+01:00"), Ok(six));
        assert_eq!(parse_start("2025-01-14T06:00"), Ok(six));
        assert_eq!(parse_start("2025-01-14 06:00:00"), Ok(six));
        assert!(parse_start("14/01/2025").is_err());
    }

    #[test]
    fn sizes_read_well() {
        assert_eq!(HumanBytes(999).to_string(), "999 B");
        assert_eq!(HumanBytes(1_500_000).to_string(), "1.43 MiB");
    }
}
