//! `gridwatch analyze` and `gridwatch reprocess` on the local backend.

use super::settings::Settings;
use crate::store::recipe::Processed;
use clap::Args;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct AnalyzeArgs {
    /// Files to analyse (CSV or JSON lines, optionally .gz). Directories are walked.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Print the full reports as JSON instead of a summary table.
    #[arg(long)]
    pub json: bool,
    /// Replace an object already in raw/ with the same name but different content.
    #[arg(long)]
    pub overwrite: bool,
}

#[derive(Args, Debug)]
pub struct ReprocessArgs {
    /// The substation whose newest raw file is re-analysed.
    #[arg(required_unless_present = "key", conflicts_with = "key")]
    pub location: Option<String>,
    /// Re-analyse this object key instead (e.g. raw/grid_data_2025-01-14.csv).
    #[arg(long)]
    pub key: Option<String>,
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub backend: super::aws_args::BackendArgs,
}


/// Expands directories into the data files below them, sorted, so runs are repeatable.
/// Anything but a regular file (a FIFO, a device such as `/dev/null` or a symlink to
/// `/dev/zero`) is an error, as is a directory without files: nothing is skipped silently.
/// A symlinked directory met while walking is an error too (it may loop back).
fn expand(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    expand_walk(paths, true)
}

fn expand_walk(paths: &[PathBuf], given: bool) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for path in paths {
        let shown = || crate::sanitize::sanitize_for_terminal(&path.display().to_string());
        let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => anyhow::anyhow!("{}: no such file", shown()),
            _ => anyhow::anyhow!("{}: {e}", shown()),
        })?;
        if meta.is_dir() {
            anyhow::ensure!(
                given || !path.is_symlink(),
                "{}: a symlink to a directory inside the walk is not followed; pass the directory itself",
                shown()
            );
            let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
                .map_err(|e| anyhow::anyhow!("cannot read directory {}: {e}", shown()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .collect();
            entries.sort();
            let files = expand_walk(&entries, false)?;
            anyhow::ensure!(!given || !files.is_empty(), "{}: the directory holds no data files", shown());
            out.extend(files);
        } else if meta.is_file() {
            out.push(path.clone());
        } else {
            anyhow::bail!("{}: not a regular file ({}); gridwatch analyses files and directories", shown(), kind_of(&meta));
        }
    }
    Ok(out)
}

/// What a non-regular file is, for the error message.
fn kind_of(meta: &std::fs::Metadata) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let t = meta.file_type();
        if t.is_fifo() {
            return "a FIFO";
        }
        if t.is_char_device() || t.is_block_device() {
            return "a device";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    let _ = meta;
    "not a file or directory"
}

pub fn run(data_dir: &Option<PathBuf>, settings: &Settings, args: AnalyzeArgs) -> anyhow::Result<()> {
    let backend = super::backends::open_local(data_dir, settings)?;
    let files = expand(&args.files)?;
    let total: u64 = files.iter().filter_map(|f| f.metadata().ok()).map(|m| m.len()).sum();
    let bar = super::progress_bar(total, "analysing");
    let mut results = Vec::new();
    let mut failed = 0;
    for file in &files {
        bar.set_message(crate::sanitize::sanitize_for_terminal(&file.display().to_string()));
        let processed = backend.import(file, args.overwrite).and_then(|key| backend.process_key(&key));
        match processed {
            Ok(p) => results.push(p),
            Err(e) => {
                failed += 1;
                let message = format!("{}: {e:#}", file.display());
                bar.suspend(|| eprintln!("error: {}", crate::sanitize::sanitize_for_terminal(&message)));
            }
        }
        bar.inc(file.metadata().map(|m| m.len()).unwrap_or(0));
    }
    bar.finish_and_clear();
    print_results(&results, args.json)?;
    let file_errors = results.iter().filter(|p| p.report.file_error.is_some()).count();
    if failed + file_errors > 0 {
        let kept: u64 = results.iter().map(|p| p.report.rows_accepted).sum();
        let rejected: u64 = results.iter().map(|p| p.report.rows_rejected).sum();
        anyhow::bail!(
            "{} of {} file(s) could not be analysed completely; kept {kept} row(s) ({rejected} rejected) from the {} file(s) that were read",
            failed + file_errors,
            files.len(),
            results.len()
        );
    }
    Ok(())
}

pub fn reprocess(data_dir: &Option<PathBuf>, settings: &Settings, args: ReprocessArgs) -> anyhow::Result<()> {
    if args.backend.kind(&settings.aws) == super::aws_args::BackendKind::Aws {
        return super::aws_args::aws_reprocess(&args.backend.aws.resolve(&settings.aws), args.location.as_deref(), args.key.as_deref(), args.json);
    }
    let backend = super::backends::open_local(data_dir, settings)?;
    let key = match (args.key, args.location) {
        (Some(key), _) => key,
        (None, Some(location)) => backend.latest_source(&location)?,
        (None, None) => unreachable!("clap requires one of them"),
    };
    let processed = backend.process_key(&key)?;
    print_results(&[processed], args.json)
}

fn print_results(results: &[Processed], json: bool) -> anyhow::Result<()> {
    use std::io::Write;
    // Buffered: stdout flushes at every line, and a report's JSON has hundreds of thousands
    // of them (a write call each, 178 k for the 100 MB benchmark file).
    let mut out = std::io::BufWriter::with_capacity(64 << 10, std::io::stdout().lock());
    if json {
        let reports: Vec<_> = results.iter().map(|p| &p.report).collect();
        serde_json::to_writer_pretty(&mut out, &reports)?;
        out.write_all(b"\n")?;
        out.flush()?;
        return Ok(());
    }
    for p in results {
        let r = &p.report;
        writeln!(
            out,
            "{} ({}): {} rows, {} accepted, {} rejected, {} hourly rollups, status {}",
            crate::sanitize::sanitize_for_terminal(&p.key),
            r.format,
            r.rows_read,
            r.rows_accepted,
            r.rows_rejected,
            p.rollups_written,
            r.alert_status()
        )?;
        if let Some(err) = &r.file_error {
            writeln!(out, "  error: {}", crate::sanitize::sanitize_for_terminal(err))?;
        }
        for line in crate::local::backend::summary_lines(r) {
            writeln!(out, "  {line}")?;
        }
        for alert in r.alerts() {
            writeln!(out, "  ALARM {:<8} {}", alert.priority.as_str(), crate::sanitize::sanitize_for_terminal(&alert.message))?;
        }
        if let Some(rejected) = &p.rejected_key {
            writeln!(out, "  rejected rows: {rejected}")?;
        }
        writeln!(out, "  results: {}", p.results_key)?;
    }
    out.flush()?;
    Ok(())
}
