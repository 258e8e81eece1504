//! `gridwatch sql "SELECT ..."`: SQL over the hourly rollups, on the embedded SQLite
//! database (local backend) or on Athena (`--backend aws`), printed as an aligned table,
//! CSV or JSON.
//!
//! Both backends offer the same table, `hourly` (the columns of [`crate::store::athena_layout::COLUMNS`]
//! plus the partition column `day`): on Athena it is the table of
//! `assets/athena/create_table.sql`; locally it is a temporary view over the `rollups`
//! table, so the example queries of `assets/athena/queries.sql` run unchanged on both.
//! Locally `rollups` (one typed row per substation-hour), `rollup_parts` (each file's part
//! of hours several files fed) and `grid_analysis` (the other item kinds) can be queried too.
//!
//! The local database is opened read-only and only read-only statements are run, so a
//! query cannot change stored data.

use super::aws_args::{BackendArgs, BackendKind};
use super::settings::Settings;
use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, ValueEnum};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum SqlFormat {
    /// Aligned columns (numbers right-aligned), with the row count.
    Table,
    Csv,
    /// An array of objects, one per row.
    Json,
}

/// Athena settings (only used with `--backend aws`).
#[derive(Args, Debug, Clone)]
pub struct AthenaArgs {
    /// Athena (Glue) database holding the `hourly` table.
    #[arg(long, env = "GRIDWATCH_ATHENA_DATABASE", default_value = "gridwatch")]
    pub database: String,
    /// Athena workgroup (the template's enforces a result location and a per-query scan limit).
    #[arg(long, env = "GRIDWATCH_ATHENA_WORKGROUP", default_value = "gridwatch")]
    pub workgroup: String,
    /// Where Athena writes result files, e.g. s3://BUCKET/athena-results/ (only needed with
    /// a workgroup that has no result location of its own).
    #[arg(long, env = "GRIDWATCH_ATHENA_OUTPUT", value_name = "S3_URI")]
    pub output_location: Option<String>,
    /// Give up after this many seconds: Athena's query is cancelled, a local statement is
    /// interrupted (a recursive CTE can run forever).
    #[arg(long, default_value_t = 300, value_name = "SECONDS")]
    pub timeout: u64,
}

impl Default for AthenaArgs {
    fn default() -> Self {
        Self { database: "gridwatch".into(), workgroup: "gridwatch".into(), output_location: None, timeout: 300 }
    }
}

#[derive(Args, Debug)]
#[command(after_help = "Tables: `hourly` (both backends: location, \"timestamp\", load_avg_mw, load_peak_mw, \
renewable_penetration, voltage_avg_kv, voltage_min_kv, ..., alert_status, day) and, locally, `rollups`, `rollup_parts` and `grid_analysis`.\n\
Examples: assets/athena/queries.sql (`gridwatch sql --file assets/athena/queries.sql`).")]
pub struct SqlArgs {
    /// One SQL statement; `-` reads it from standard input.
    #[arg(value_name = "SQL", required_unless_present = "file", conflicts_with = "file")]
    pub query: Option<String>,
    /// Run the statements of a file: each starts after a `-- name: NAME` line (or the whole
    /// file is one statement).
    #[arg(long, short = 'f', value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// With --file: only the statement with this name.
    #[arg(long, requires = "file", value_name = "NAME")]
    pub name: Option<String>,
    #[arg(long, value_enum, default_value_t = SqlFormat::Table)]
    pub format: SqlFormat,
    #[command(flatten)]
    pub backend: BackendArgs,
    #[command(flatten, next_help_heading = "Athena (--backend aws)")]
    pub athena: AthenaArgs,
}

/// One value of a result.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
}

impl Cell {
    fn is_number(&self) -> bool {
        matches!(self, Cell::Int(_) | Cell::Real(_))
    }

    /// The text shown for the value (NULL is empty in CSV, `NULL` in the table).
    pub fn text(&self) -> String {
        match self {
            Cell::Null => String::new(),
            Cell::Int(i) => i.to_string(),
            Cell::Real(f) => format_real(*f),
            Cell::Text(s) => s.clone(),
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Cell::Int(i) => Some(*i as f64),
            Cell::Real(f) => Some(*f),
            Cell::Text(s) => s.parse().ok(),
            Cell::Null => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Cell::Text(s) => Some(s),
            _ => None,
        }
    }

    fn json(&self) -> serde_json::Value {
        match self {
            Cell::Null => serde_json::Value::Null,
            Cell::Int(i) => (*i).into(),
            Cell::Real(f) => serde_json::Number::from_f64(*f).map(serde_json::Value::Number).unwrap_or(serde_json::Value::Null),
            Cell::Text(s) => s.clone().into(),
        }
    }
}

/// Shortest text that reads back as the same number; whole numbers keep a `.0` so a REAL
/// column does not look like an integer one.
fn format_real(f: f64) -> String {
    if f.is_finite() && f == f.trunc() && f.abs() < 1e15 { format!("{f:.1}") } else { format!("{f}") }
}

/// The rows of one statement.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ResultSet {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Cell>>,
}

impl ResultSet {
    /// The index of a column by name.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == name)
    }

    /// One column's values.
    pub fn values(&self, name: &str) -> Vec<&Cell> {
        match self.column(name) {
            Some(i) => self.rows.iter().map(|r| &r[i]).collect(),
            None => Vec::new(),
        }
    }
}

/// A statement of a SQL file with its `-- name:`.
#[derive(Debug, Clone, PartialEq)]
pub struct NamedQuery {
    pub name: String,
    pub sql: String,
}

/// Splits a SQL file into its named statements: each `-- name: NAME` line starts one, up
/// to the next; comment lines and blank lines around a statement and its final `;` are
/// dropped. A file without any `-- name:` line is one statement named after the file.
pub fn parse_queries(text: &str, default_name: &str) -> Vec<NamedQuery> {
    let mut out: Vec<NamedQuery> = Vec::new();
    let mut current: Option<(String, Vec<&str>)> = None;
    let mut preamble: Vec<&str> = Vec::new();
    for line in text.lines() {
        if let Some(name) = line.trim().strip_prefix("-- name:") {
            if let Some((n, lines)) = current.take() {
                out.push(NamedQuery { name: n, sql: clean_statement(&lines) });
            }
            current = Some((name.trim().to_string(), Vec::new()));
        } else if let Some((_, lines)) = current.as_mut() {
            lines.push(line);
        } else {
            preamble.push(line);
        }
    }
    match current {
        Some((n, lines)) => out.push(NamedQuery { name: n, sql: clean_statement(&lines) }),
        None => out.push(NamedQuery { name: default_name.to_string(), sql: clean_statement(&preamble) }),
    }
    out.retain(|q| !q.sql.is_empty());
    out
}

fn clean_statement(lines: &[&str]) -> String {
    let body: Vec<&str> = lines.iter().copied().filter(|l| !l.trim_start().starts_with("--")).collect();
    let text = body.join("\n");
    let text = text.trim();
    text.strip_suffix(';').unwrap_or(text).trim_end().to_string()
}

// ---------------------------------------------------------------------------- local

/// The local stand-in for the Athena table: same name, same columns (the typed columns of
/// the stored rollups), plus `day`. A temporary view: it lives only in this connection and
/// shadows the database's own `hourly` view (the same, once a database is migrated).
pub const LOCAL_HOURLY_VIEW: &str = "
CREATE TEMP VIEW hourly AS
SELECT location, timestamp, count, load_avg_mw, load_min_mw, load_peak_mw, generation_avg_mw,
       solar_avg_mw, wind_avg_mw, renewable_penetration, voltage_avg_kv, voltage_min_kv,
       voltage_max_kv, frequency_avg_hz, frequency_min_hz, frequency_max_hz, frequency_max_dev_hz,
       power_factor_avg, power_factor_defaulted, stability_score, efficiency_score, alert_status,
       alert_reasons, substr(timestamp, 1, 10) AS day
FROM main.rollups";

/// Opens the local database read-only (a missing database is an error, not a new file)
/// with the `hourly` view of the Athena table.
pub fn open_local(database: &Path) -> Result<rusqlite::Connection> {
    use rusqlite::OpenFlags;
    if !database.is_file() {
        bail!(
            "no local database at {}: analyse some data first (`gridwatch analyze FILES` or `gridwatch demo`), or pass --data-dir",
            database.display()
        );
    }
    // No SQLITE_OPEN_URI: a file name cannot ask for a writable mode.
    let conn = rusqlite::Connection::open_with_flags(database, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .map_err(|e| anyhow!("cannot open {} read-only: {e}", database.display()))?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.execute_batch(LOCAL_HOURLY_VIEW)
        .map_err(|e| anyhow!("{} is not a gridwatch database ({e})", database.display()))?;
    Ok(conn)
}

/// Runs one read-only statement on a connection from [`open_local`].
pub fn query_local(conn: &rusqlite::Connection, sql: &str) -> Result<ResultSet> {
    use rusqlite::types::ValueRef;
    let mut stmt = conn.prepare(sql).map_err(|e| match e {
        rusqlite::Error::MultipleStatement => anyhow!("one statement at a time (or put them in a file with `-- name:` lines)"),
        e => anyhow!("{e}"),
    })?;
    if !stmt.readonly() {
        bail!("only statements that read are allowed (SELECT, WITH, EXPLAIN): the data is not changed by `gridwatch sql`");
    }
    let columns: Vec<String> = stmt.column_names().map(str::to_string).collect();
    let n = columns.len();
    let mut rows = Vec::new();
    let mut cursor = stmt.query([])?;
    while let Some(row) = cursor.next()? {
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            out.push(match row.get_ref(i)? {
                ValueRef::Null => Cell::Null,
                ValueRef::Integer(v) => Cell::Int(v),
                ValueRef::Real(v) => Cell::Real(v),
                ValueRef::Text(t) => Cell::Text(String::from_utf8_lossy(t).into_owned()),
                ValueRef::Blob(b) => Cell::Text(format!("<{} bytes>", b.len())),
            });
        }
        rows.push(out);
    }
    Ok(ResultSet { columns, rows })
}

/// [`query_local`], interrupted once `timeout` has passed (SQLite's interrupt, from a
/// watchdog thread that the query's end dismisses).
pub fn query_local_within(conn: &rusqlite::Connection, sql: &str, timeout: Duration) -> Result<ResultSet> {
    let handle = conn.get_interrupt_handle();
    let (finished, dismissed) = std::sync::mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || {
        let expired = dismissed.recv_timeout(timeout) == Err(std::sync::mpsc::RecvTimeoutError::Timeout);
        if expired {
            handle.interrupt();
        }
        expired
    });
    let result = query_local(conn, sql);
    drop(finished);
    let interrupted = watchdog.join().unwrap_or(false);
    match result {
        Err(_) if interrupted => bail!("the statement did not finish within {} s and was stopped (--timeout)", timeout.as_secs()),
        result => result,
    }
}

// ---------------------------------------------------------------------------- output

/// Writes one result in `format`. With `title` (several statements in one run), the table
/// format starts with `-- title`.
pub fn write_result(result: &ResultSet, format: SqlFormat, title: Option<&str>, out: &mut dyn Write) -> Result<()> {
    match format {
        SqlFormat::Table => write_table(result, title, out),
        SqlFormat::Csv => {
            let mut w = csv::Writer::from_writer(&mut *out);
            w.write_record(&result.columns)?;
            for row in &result.rows {
                w.write_record(row.iter().map(Cell::text))?;
            }
            w.flush()?;
            Ok(())
        }
        SqlFormat::Json => {
            let rows: Vec<serde_json::Value> = result
                .rows
                .iter()
                .map(|row| {
                    let mut obj = serde_json::Map::new();
                    for (name, cell) in result.columns.iter().zip(row) {
                        let mut key = name.clone();
                        let mut k = 2;
                        while obj.contains_key(&key) {
                            key = format!("{name}_{k}");
                            k += 1;
                        }
                        obj.insert(key, cell.json());
                    }
                    serde_json::Value::Object(obj)
                })
                .collect();
            serde_json::to_writer_pretty(&mut *out, &rows)?;
            writeln!(out)?;
            Ok(())
        }
    }
}

/// A value in the aligned table: NULL spelled out, reals to at most 6 decimals (CSV and
/// JSON keep every digit).
fn display_cell(c: &Cell) -> String {
    match c {
        Cell::Null => "NULL".to_string(),
        Cell::Real(f) if f.is_finite() && f.abs() < 1e15 && (f.abs() >= 1e-6 || *f == 0.0) => {
            let text = format!("{f:.6}");
            let text = text.trim_end_matches('0');
            if text.ends_with('.') { format!("{text}0") } else { text.to_string() }
        }
        other => crate::sanitize::sanitize_for_terminal(&other.text()),
    }
}

fn write_table(result: &ResultSet, title: Option<&str>, out: &mut dyn Write) -> Result<()> {
    use crate::sanitize::sanitize_for_terminal;
    if let Some(t) = title {
        writeln!(out, "-- {}", sanitize_for_terminal(t))?;
    }
    let header: Vec<String> = result.columns.iter().map(|c| sanitize_for_terminal(c)).collect();
    let cells: Vec<Vec<String>> = result
        .rows
        .iter()
        .map(|r| r.iter().map(display_cell).collect())
        .collect();
    let width = |s: &str| s.chars().count();
    let mut widths: Vec<usize> = header.iter().map(|h| width(h)).collect();
    for row in &cells {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(width(c));
        }
    }
    // A column is right-aligned when all its non-NULL values are numbers.
    let numeric: Vec<bool> = (0..header.len())
        .map(|i| {
            let mut values = result.rows.iter().map(|r| &r[i]).filter(|c| **c != Cell::Null).peekable();
            values.peek().is_some() && values.all(Cell::is_number)
        })
        .collect();
    let line = |out: &mut dyn Write, row: &[String]| -> std::io::Result<()> {
        let mut text = String::new();
        for (i, c) in row.iter().enumerate() {
            if i > 0 {
                text.push_str("  ");
            }
            let pad = widths[i].saturating_sub(width(c));
            if numeric[i] {
                text.push_str(&" ".repeat(pad));
                text.push_str(c);
            } else {
                text.push_str(c);
                if i + 1 < row.len() {
                    text.push_str(&" ".repeat(pad));
                }
            }
        }
        writeln!(out, "{}", text.trim_end())
    };
    line(out, &header)?;
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    writeln!(out, "{}", rule.join("  "))?;
    for row in &cells {
        line(out, row)?;
    }
    let n = result.rows.len();
    writeln!(out, "({n} row{})", if n == 1 { "" } else { "s" })?;
    Ok(())
}

// ---------------------------------------------------------------------------- command

/// The statements to run: the argument (or stdin for `-`), or the file's (one by name).
pub fn statements(args: &SqlArgs) -> Result<Vec<NamedQuery>> {
    if let Some(path) = &args.file {
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        let default = path.file_stem().and_then(|s| s.to_str()).unwrap_or("query");
        let all = parse_queries(&text, default);
        return match &args.name {
            Some(name) => {
                let found: Vec<NamedQuery> = all.iter().filter(|q| &q.name == name).cloned().collect();
                if found.is_empty() {
                    let names: Vec<&str> = all.iter().map(|q| q.name.as_str()).collect();
                    bail!("{} has no query named {name:?} (it has: {})", path.display(), names.join(", "));
                }
                Ok(found)
            }
            None if all.is_empty() => bail!("{} holds no SQL statement", path.display()),
            None => Ok(all),
        };
    }
    let text = match args.query.as_deref() {
        Some("-") => {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)?;
            s
        }
        Some(q) => q.to_string(),
        None => bail!("give a SQL statement or --file"),
    };
    let q = parse_queries(&text, "query");
    if q.is_empty() {
        bail!("the SQL statement is empty");
    }
    Ok(q)
}

pub fn run(data_dir: &Option<PathBuf>, settings: &Settings, args: SqlArgs) -> Result<()> {
    let queries = statements(&args)?;
    if queries.len() > 1 && args.format != SqlFormat::Table {
        bail!("{} statements: pick one with --name for --format csv/json", queries.len());
    }
    let titled = queries.len() > 1;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match args.backend.kind(&settings.aws) {
        BackendKind::Local => {
            let data = crate::local::DataDir::resolve(data_dir.as_deref())?;
            let conn = open_local(&data.database())?;
            for (i, q) in queries.iter().enumerate() {
                if i > 0 {
                    writeln!(out)?;
                }
                let timeout = Duration::from_secs(args.athena.timeout.max(1));
                let result = query_local_within(&conn, &q.sql, timeout).map_err(|e| name_error(&args, q, e))?;
                write_result(&result, args.format, titled.then_some(q.name.as_str()), &mut out)?;
            }
            Ok(())
        }
        BackendKind::Aws => run_aws(settings, &args, &queries, titled, &mut out),
    }
}

/// Errors of statements from a file name the statement.
fn name_error(args: &SqlArgs, q: &NamedQuery, e: anyhow::Error) -> anyhow::Error {
    if args.file.is_some() { anyhow!("{}: {e:#}", q.name) } else { e }
}

#[cfg(feature = "aws")]
fn run_aws(settings: &Settings, args: &SqlArgs, queries: &[NamedQuery], titled: bool, out: &mut dyn Write) -> Result<()> {
    let aws = args.backend.aws.resolve(&settings.aws);
    let rt = super::aws_args::runtime()?;
    rt.block_on(async {
        let sdk = crate::aws::sdk::load(&aws.sdk_options()).await;
        let client = aws_sdk_athena::Client::new(&sdk);
        for (i, q) in queries.iter().enumerate() {
            if i > 0 {
                writeln!(out)?;
            }
            let result = athena::run_query(&client, &args.athena, &q.sql).await.map_err(|e| name_error(args, q, e))?;
            write_result(&result.rows, args.format, titled.then_some(q.name.as_str()), out)?;
            if args.format == SqlFormat::Table {
                writeln!(out, "(Athena: {} scanned, {} ms)", indicatif::HumanBytes(result.bytes_scanned), result.millis)?;
            }
        }
        Ok(())
    })
}

#[cfg(not(feature = "aws"))]
fn run_aws(_: &Settings, _: &SqlArgs, _: &[NamedQuery], _: bool, _: &mut dyn Write) -> Result<()> {
    Err(super::aws_args::not_built())
}

/// Athena: StartQueryExecution, GetQueryExecution until it finishes, GetQueryResults page
/// by page.
#[cfg(feature = "aws")]
pub mod athena {
    use super::{AthenaArgs, Cell, ResultSet};
    use crate::aws::error_text;
    use anyhow::{anyhow, bail, Result};
    use aws_sdk_athena::types::{QueryExecutionContext, QueryExecutionState, ResultConfiguration};
    use aws_sdk_athena::Client;
    use std::time::{Duration, Instant};

    /// A finished query.
    #[derive(Debug, Clone, PartialEq)]
    pub struct AthenaResult {
        pub query_execution_id: String,
        pub rows: ResultSet,
        pub bytes_scanned: u64,
        pub millis: i64,
    }

    /// A value as Athena returns it (always text) typed by its column's type.
    pub fn typed_cell(value: Option<&str>, athena_type: &str) -> Cell {
        let Some(v) = value else { return Cell::Null };
        match athena_type.to_ascii_lowercase().as_str() {
            "tinyint" | "smallint" | "integer" | "int" | "bigint" => v.parse().map(Cell::Int).unwrap_or_else(|_| Cell::Text(v.into())),
            "double" | "float" | "real" | "decimal" => v.parse().map(Cell::Real).unwrap_or_else(|_| Cell::Text(v.into())),
            t if t.starts_with("decimal") => v.parse().map(Cell::Real).unwrap_or_else(|_| Cell::Text(v.into())),
            _ => Cell::Text(v.into()),
        }
    }

    pub async fn run_query(client: &Client, args: &AthenaArgs, sql: &str) -> Result<AthenaResult> {
        let mut start = client
            .start_query_execution()
            .query_string(sql)
            .work_group(&args.workgroup)
            .query_execution_context(QueryExecutionContext::builder().database(&args.database).build());
        if let Some(loc) = &args.output_location {
            start = start.result_configuration(ResultConfiguration::builder().output_location(loc).build());
        }
        let started = start.send().await.map_err(|e| anyhow!("cannot start the query on Athena: {}", error_text(&e)))?;
        let id = started.query_execution_id().ok_or_else(|| anyhow!("Athena returned no query execution id"))?.to_string();

        let deadline = Instant::now() + Duration::from_secs(args.timeout.max(1));
        let mut delays = crate::retry::athena_poll();
        let execution = loop {
            let out = client
                .get_query_execution()
                .query_execution_id(&id)
                .send()
                .await
                .map_err(|e| anyhow!("cannot read the state of query {id}: {}", error_text(&e)))?;
            let exec = out.query_execution().cloned().ok_or_else(|| anyhow!("Athena returned no state for query {id}"))?;
            let status = exec.status();
            match status.and_then(|s| s.state()) {
                Some(QueryExecutionState::Succeeded) => break exec,
                Some(QueryExecutionState::Failed) | Some(QueryExecutionState::Cancelled) => {
                    let state = status.and_then(|s| s.state()).map(|s| s.as_str().to_string()).unwrap_or_default();
                    let reason = status
                        .and_then(|s| s.athena_error().and_then(|e| e.error_message()).or(s.state_change_reason()))
                        .unwrap_or("no reason given");
                    bail!("query {id} {}: {reason}", state.to_lowercase());
                }
                _ => {}
            }
            if Instant::now() >= deadline {
                let _ = client.stop_query_execution().query_execution_id(&id).send().await;
                bail!("query {id} did not finish within {} s and was cancelled (--timeout)", args.timeout);
            }
            tokio::time::sleep(delays.next().unwrap_or(Duration::from_secs(2))).await;
        };

        let is_select = execution.statement_type().is_none_or(|t| t.as_str() == "DML");
        let mut result = ResultSet::default();
        let mut types: Vec<String> = Vec::new();
        let mut token: Option<String> = None;
        let mut first_page = true;
        loop {
            let page = client
                .get_query_results()
                .query_execution_id(&id)
                .set_next_token(token.take())
                .max_results(1000)
                .send()
                .await
                .map_err(|e| anyhow!("cannot read the results of query {id}: {}", error_text(&e)))?;
            let Some(rs) = page.result_set() else { break };
            if first_page {
                for col in rs.result_set_metadata().map(|m| m.column_info()).unwrap_or_default() {
                    result.columns.push(col.label().filter(|l| !l.is_empty()).unwrap_or(col.name()).to_string());
                    types.push(col.r#type().to_string());
                }
            }
            let mut rows = rs.rows().iter();
            if first_page && is_select && !result.columns.is_empty() {
                // A SELECT's first row repeats the column names.
                let mut peek = rows.clone();
                if let Some(first) = peek.next() {
                    let names: Vec<Option<&str>> = first.data().iter().map(|d| d.var_char_value()).collect();
                    if names.len() == result.columns.len()
                        && names.iter().zip(&result.columns).all(|(n, c)| n.is_some_and(|n| n == c))
                    {
                        rows = peek;
                    }
                }
            }
            for row in rows {
                let data = row.data();
                let width = if result.columns.is_empty() { data.len() } else { result.columns.len() };
                let cells = (0..width)
                    .map(|i| {
                        let value = data.get(i).and_then(|d| d.var_char_value());
                        typed_cell(value, types.get(i).map(String::as_str).unwrap_or("varchar"))
                    })
                    .collect();
                result.rows.push(cells);
            }
            first_page = false;
            match page.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_string()),
                _ => break,
            }
        }
        if result.columns.is_empty()
            && let Some(width) = result.rows.first().map(Vec::len)
        {
            result.columns = (1..=width).map(|i| format!("_col{i}")).collect();
        }
        let stats = execution.statistics();
        Ok(AthenaResult {
            query_execution_id: id,
            rows: result,
            bytes_scanned: stats.and_then(|s| s.data_scanned_in_bytes()).unwrap_or(0).max(0) as u64,
            millis: stats.and_then(|s| s.total_execution_time_in_millis()).unwrap_or(0),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_named_queries() {
        let text = "-- intro\n\n-- name: a\n-- what a does\nSELECT 1;\n\n-- name: b\nSELECT 2\nFROM t;\n";
        let q = parse_queries(text, "file");
        assert_eq!(q, vec![NamedQuery { name: "a".into(), sql: "SELECT 1".into() }, NamedQuery { name: "b".into(), sql: "SELECT 2\nFROM t".into() }]);
        assert_eq!(parse_queries("SELECT 3;", "x"), vec![NamedQuery { name: "x".into(), sql: "SELECT 3".into() }]);
        assert!(parse_queries("-- only a comment\n", "x").is_empty());
    }

    #[test]
    fn table_aligns_numbers_right_and_shows_null() {
        let rs = ResultSet {
            columns: vec!["location".into(), "peak_mw".into(), "n".into()],
            rows: vec![
                vec![Cell::Text("a".into()), Cell::Real(12.5), Cell::Int(3)],
                vec![Cell::Text("substation_10".into()), Cell::Real(7.0), Cell::Null],
            ],
        };
        let mut out = Vec::new();
        write_result(&rs, SqlFormat::Table, None, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "location       peak_mw     n\n-------------  -------  ----\na                 12.5     3\nsubstation_10      7.0  NULL\n(2 rows)\n"
        );
        let mut csv = Vec::new();
        write_result(&rs, SqlFormat::Csv, None, &mut csv).unwrap();
        assert_eq!(String::from_utf8(csv).unwrap(), "location,peak_mw,n\na,12.5,3\nsubstation_10,7.0,\n");
    }
}
