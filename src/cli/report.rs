//! `gridwatch report`: figures, summary tables and data files for a time range, from
//! the local backend or (built with `--features aws`) from DynamoDB, with the hours older
//! than the table keeps (`--table-days`) from Athena.

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
    /// With --backend aws: DynamoDB keeps only the last DAYS days of rollups (a TTL or a
    /// clean-up removes older items); hours before that are read from the Athena copy in
    /// one query. Default: DynamoDB holds everything.
    #[arg(long, env = "GRIDWATCH_TABLE_DAYS", value_name = "DAYS")]
    pub table_days: Option<u32>,
    #[command(flatten, next_help_heading = "Athena (--backend aws with --table-days)")]
    pub athena: super::sql::AthenaArgs,
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
        BackendKind::Local if args.table_days.is_some() => {
            anyhow::bail!("--table-days is for --backend aws (the local backend keeps every hour)")
        }
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

/// The `hourly` table's columns as the report reads them back: every column quoted
/// (`timestamp`, `count` are reserved words), the string array as JSON text.
// Only the AWS report path reads the archive; the pure parts are tested without it.
#[cfg_attr(not(feature = "aws"), allow(dead_code))]
fn archive_sql(locations: &[String], from: DateTime<Utc>, to: DateTime<Utc>) -> String {
    use crate::store::athena_layout::{self, COLUMNS};
    let quote = |s: &str| format!("'{}'", s.replace('\'', "''"));
    let ts = |t: DateTime<Utc>| quote(&t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    let columns: Vec<String> = COLUMNS
        .iter()
        .map(|(name, ty)| {
            if ty.starts_with("array") { format!("json_format(CAST(\"{name}\" AS JSON)) AS \"{name}\"") } else { format!("\"{name}\"") }
        })
        .collect();
    let last = to - chrono::Duration::seconds(1);
    format!(
        "SELECT {} FROM {} WHERE \"{}\" BETWEEN {} AND {} AND \"location\" IN ({}) AND \"timestamp\" >= {} AND \"timestamp\" < {}",
        columns.join(", "),
        athena_layout::TABLE,
        athena_layout::PARTITION_COLUMN,
        quote(&athena_layout::day_of(from).to_string()),
        quote(&athena_layout::day_of(last).to_string()),
        locations.iter().map(|l| quote(l)).collect::<Vec<_>>().join(", "),
        ts(from),
        ts(to),
    )
}

/// Athena's rows (typed by [`super::sql::athena::typed_cell`]) back into rollups: the
/// column names are the rollup's field names. A bad row is an error naming row and column.
// Only the AWS report path reads the archive; the pure parts are tested without it.
#[cfg_attr(not(feature = "aws"), allow(dead_code))]
fn archive_rollups(rows: &super::sql::ResultSet) -> anyhow::Result<Vec<crate::model::HourlyRollup>> {
    use super::sql::Cell;
    use serde_json::Value;
    let mut out = Vec::with_capacity(rows.rows.len());
    for (n, row) in rows.rows.iter().enumerate() {
        let mut obj = serde_json::Map::new();
        for (name, cell) in rows.columns.iter().zip(row) {
            let value = match cell {
                Cell::Null if name == "alert_reasons" => Value::Array(Vec::new()),
                Cell::Null => anyhow::bail!("Athena result row {}: column {name} is NULL", n + 1),
                Cell::Int(i) => Value::from(*i),
                Cell::Real(x) => serde_json::Number::from_f64(*x).map(Value::Number).unwrap_or(Value::Null),
                Cell::Text(t) if name == "alert_reasons" => serde_json::from_str(t)
                    .map_err(|e| anyhow::anyhow!("Athena result row {}: column {name}: {e}", n + 1))?,
                Cell::Text(t) => Value::String(t.clone()),
            };
            obj.insert(name.clone(), value);
        }
        let r: crate::model::HourlyRollup = serde_json::from_value(Value::Object(obj))
            .map_err(|e| anyhow::anyhow!("Athena result row {}: {e}", n + 1))?;
        out.push(r);
    }
    Ok(out)
}

/// The Athena copy of the rollups, for the hours DynamoDB no longer keeps.
#[cfg(feature = "aws")]
struct AthenaArchive {
    client: aws_sdk_athena::Client,
    args: super::sql::AthenaArgs,
    keeps_from: DateTime<Utc>,
}

#[cfg(feature = "aws")]
#[async_trait::async_trait]
impl report::data::RollupArchive for AthenaArchive {
    fn table_keeps_from(&self) -> DateTime<Utc> {
        self.keeps_from
    }
    async fn rollups(
        &self,
        locations: &[String],
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> crate::store::StoreResult<Vec<crate::model::HourlyRollup>> {
        let fail = |e: anyhow::Error| crate::store::StoreError::other(format!("Athena ({} to {}): {e:#}", crate::model::format_ts(from), crate::model::format_ts(to)));
        let result = super::sql::athena::run_query(&self.client, &self.args, &archive_sql(locations, from, to)).await.map_err(fail)?;
        archive_rollups(&result.rows).map_err(fail)
    }
}

/// DynamoDB through the same `GridStore` reads (one Query per substation and item kind);
/// with `--table-days`, the older hours from Athena.
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
            let (store, sdk) = aws.store(true).await;
            let archive = args.table_days.map(|days| AthenaArchive {
                client: aws_sdk_athena::Client::new(&sdk),
                args: args.athena.clone(),
                keeps_from: Utc::now() - chrono::Duration::days(i64::from(days)),
            });
            let archive = archive.as_ref().map(|a| a as &dyn report::data::RollupArchive);
            report::data::gather_with_archive(&store, archive, request, cfg, progress).await
        })?)
    }
    #[cfg(not(feature = "aws"))]
    {
        let _ = (args, settings, request, cfg, progress);
        Err(super::aws_args::not_built())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::sql::{Cell, ResultSet};

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn archive_sql_prunes_days_and_quotes_names() {
        let sql = archive_sql(&["a".into(), "o'neil".into()], t("2025-01-14T00:00:00Z"), t("2025-01-16T00:00:00Z"));
        assert!(sql.contains("\"day\" BETWEEN '2025-01-14' AND '2025-01-15'"), "{sql}");
        assert!(sql.contains("IN ('a', 'o''neil')"), "{sql}");
        assert!(sql.contains("\"timestamp\" >= '2025-01-14T00:00:00Z' AND \"timestamp\" < '2025-01-16T00:00:00Z'"), "{sql}");
        assert!(sql.contains("json_format(CAST(\"alert_reasons\" AS JSON))"), "{sql}");
        assert!(sql.contains("\"count\""), "{sql}");
    }

    #[cfg(feature = "tui")]
    #[test]
    fn archive_rows_become_rollups_and_bad_rows_are_named() {
        let r = crate::tui::testing::rollup("A", t("2025-01-14T05:00:00Z"), 0, 1);
        let json = serde_json::to_value(&r).unwrap();
        let columns: Vec<String> = crate::store::athena_layout::COLUMNS.iter().map(|(n, _)| n.to_string()).collect();
        let row: Vec<Cell> = columns
            .iter()
            .map(|c| match &json[c] {
                serde_json::Value::Number(n) if n.is_u64() => Cell::Int(n.as_i64().unwrap()),
                serde_json::Value::Number(n) => Cell::Real(n.as_f64().unwrap()),
                serde_json::Value::String(s) => Cell::Text(s.clone()),
                other => Cell::Text(other.to_string()),
            })
            .collect();
        let rows = ResultSet { columns: columns.clone(), rows: vec![row.clone()] };
        assert_eq!(archive_rollups(&rows).unwrap(), vec![r]);
        let mut bad = row;
        bad[3] = Cell::Null;
        let e = archive_rollups(&ResultSet { columns, rows: vec![bad] }).unwrap_err().to_string();
        assert!(e.contains("row 1") && e.contains("load_avg_mw"), "{e}");
    }
}
