//! SQLite as the local stand-in for the DynamoDB table `GridAnalysis`.
//!
//! One table keyed by (location, timestamp) like the DynamoDB table, holding the same
//! item kinds, distinguished by the sort key:
//! - hourly rollups: `timestamp` = hour start (`2025-01-14T12:00:00Z`),
//! - forecast hours: `F#2025-01-15T00:00:00Z`,
//! - alert episodes: `A#<rule>#<started_at>`,
//! - the substation index: partition `#index`, sort key = location, item = latest state.
//!
//! Writes are upserts on the key, so analysing the same file twice leaves the same rows.
//! The seed's attributes are real columns so `gridwatch sql` can query them.

use crate::analysis::alarms::AlarmCheckpoint;
use crate::analysis::hour_stats;
use crate::config::AnalysisConfig;
use crate::model::{format_ts, Alert, AlertStatus, ForecastPoint, HourlyRollup, SubstationState};
use crate::store::items::{alert_sort_key, AlarmKeys, ListingScope, SourceHours, checkpoint_sort_key, CHECKPOINT_PREFIX, CHECKPOINT_RETENTION_DAYS, FORECAST_KEY, INDEX_PARTITION};
use crate::store::operator::{OperatorAction, OperatorState, OPERATOR_PARTITION};
use crate::store::unreadable;
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension};
use std::path::Path;


const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS grid_analysis (
    location TEXT NOT NULL,
    timestamp TEXT NOT NULL,
    kind TEXT NOT NULL,
    load_avg_mw REAL,
    load_peak_mw REAL,
    renewable_penetration REAL,
    voltage_avg_kv REAL,
    voltage_min_kv REAL,
    frequency_avg_hz REAL,
    stability_score REAL,
    efficiency_score REAL,
    alert_status TEXT,
    ended_at TEXT,
    last_reading TEXT,
    item TEXT NOT NULL,
    PRIMARY KEY (location, timestamp)
);
CREATE INDEX IF NOT EXISTS alerts_by_end ON grid_analysis (kind, ended_at) WHERE kind = 'alert';
CREATE TABLE IF NOT EXISTS rollups (
    location TEXT NOT NULL,
    timestamp TEXT NOT NULL,
    ROLLUP_COLUMNS,
    source TEXT,
    PRIMARY KEY (location, timestamp)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS rollup_parts (
    location TEXT NOT NULL,
    timestamp TEXT NOT NULL,
    ROLLUP_COLUMNS,
    source TEXT NOT NULL,
    PRIMARY KEY (location, timestamp, source)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS source_spans (
    source TEXT NOT NULL,
    location TEXT NOT NULL,
    first_hour TEXT NOT NULL,
    end_hour TEXT NOT NULL,
    PRIMARY KEY (source, location)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS alert_sources (
    source TEXT NOT NULL,
    location TEXT NOT NULL,
    timestamp TEXT NOT NULL,
    PRIMARY KEY (source, location, timestamp)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS alert_sources_by_alert ON alert_sources (location, timestamp);
";

/// The typed columns of a rollup, in [`HourlyRollup`]'s order (after location and timestamp).
const ROLLUP_FIELDS: [(&str, &str); 21] = [
    ("count", "INTEGER NOT NULL"),
    ("load_avg_mw", "REAL NOT NULL"),
    ("load_min_mw", "REAL NOT NULL"),
    ("load_peak_mw", "REAL NOT NULL"),
    ("generation_avg_mw", "REAL NOT NULL"),
    ("solar_avg_mw", "REAL NOT NULL"),
    ("wind_avg_mw", "REAL NOT NULL"),
    ("renewable_penetration", "REAL NOT NULL"),
    ("voltage_avg_kv", "REAL NOT NULL"),
    ("voltage_min_kv", "REAL NOT NULL"),
    ("voltage_max_kv", "REAL NOT NULL"),
    ("frequency_avg_hz", "REAL NOT NULL"),
    ("frequency_min_hz", "REAL NOT NULL"),
    ("frequency_max_hz", "REAL NOT NULL"),
    ("frequency_max_dev_hz", "REAL NOT NULL"),
    ("power_factor_avg", "REAL NOT NULL"),
    ("power_factor_defaulted", "INTEGER NOT NULL"),
    ("stability_score", "REAL NOT NULL"),
    ("efficiency_score", "REAL NOT NULL"),
    ("alert_status", "TEXT NOT NULL"),
    ("alert_reasons", "TEXT NOT NULL"),
];

/// `?1, ..., ?24` for [`rollup_columns`].
fn placeholders() -> String {
    (1..=ROLLUP_FIELDS.len() + 3).map(|i| format!("?{i}")).collect::<Vec<_>>().join(", ")
}

/// `location, timestamp, <the typed columns>, source` of the rollup tables.
fn rollup_columns() -> String {
    let fields: Vec<&str> = ROLLUP_FIELDS.iter().map(|(n, _)| *n).collect();
    format!("location, timestamp, {}, source", fields.join(", "))
}

/// The `hourly` view users query (`gridwatch sql`): every rollup column and the day.
const HOURLY_VIEW: &str = "DROP VIEW IF EXISTS hourly;
CREATE VIEW hourly AS SELECT location, timestamp, count, load_avg_mw, load_min_mw, load_peak_mw,
    generation_avg_mw, solar_avg_mw, wind_avg_mw, renewable_penetration, voltage_avg_kv, voltage_min_kv,
    voltage_max_kv, frequency_avg_hz, frequency_min_hz, frequency_max_hz, frequency_max_dev_hz,
    power_factor_avg, power_factor_defaulted, stability_score, efficiency_score, alert_status,
    alert_reasons, substr(timestamp, 1, 10) AS day
    FROM rollups;";

/// Stored before rollups were typed and kept per source: the source is unknown, so the
/// first file that feeds such an hour again replaces it.
const LEGACY_SOURCE: &str = "";

/// Binds a rollup as `?1..?24` of [`rollup_columns`] (no allocation per value but the
/// timestamp: this is the hot path of a file's rollups).
fn bind_rollup(stmt: &mut rusqlite::Statement<'_>, r: &HourlyRollup, source: Option<&str>) -> anyhow::Result<()> {
    let reasons = if r.alert_reasons.is_empty() { None } else { Some(serde_json::to_string(&r.alert_reasons)?) };
    stmt.raw_bind_parameter(1, r.location.as_str())?;
    match crate::model::ts_digits(r.timestamp) {
        Some(digits) => stmt.raw_bind_parameter(2, digits.as_str())?,
        None => stmt.raw_bind_parameter(2, format_ts(r.timestamp))?,
    }
    stmt.raw_bind_parameter(3, r.count as i64)?;
    let reals = [
        r.load_avg_mw,
        r.load_min_mw,
        r.load_peak_mw,
        r.generation_avg_mw,
        r.solar_avg_mw,
        r.wind_avg_mw,
        r.renewable_penetration,
        r.voltage_avg_kv,
        r.voltage_min_kv,
        r.voltage_max_kv,
        r.frequency_avg_hz,
        r.frequency_min_hz,
        r.frequency_max_hz,
        r.frequency_max_dev_hz,
        r.power_factor_avg,
    ];
    for (i, v) in reals.into_iter().enumerate() {
        stmt.raw_bind_parameter(4 + i, v)?;
    }
    stmt.raw_bind_parameter(19, r.power_factor_defaulted as i64)?;
    stmt.raw_bind_parameter(20, r.stability_score)?;
    stmt.raw_bind_parameter(21, r.efficiency_score)?;
    stmt.raw_bind_parameter(22, r.alert_status.as_str())?;
    stmt.raw_bind_parameter(23, reasons.as_deref().unwrap_or("[]"))?;
    stmt.raw_bind_parameter(24, source)?;
    Ok(())
}

/// The rollups of a query that decode; a row that does not (written by hand, or by a
/// broken writer) is noted and skipped, so one bad row does not fail a whole view. Errors
/// of the query itself are returned.
fn readable_rollups(rows: impl Iterator<Item = rusqlite::Result<(HourlyRollup, Option<String>)>>) -> anyhow::Result<Vec<HourlyRollup>> {
    let mut out = Vec::new();
    for row in rows {
        match row {
            Ok((r, _)) => out.push(r),
            Err(e @ (rusqlite::Error::FromSqlConversionFailure(..) | rusqlite::Error::InvalidColumnType(..))) => {
                unreadable::note("rollup", &e)
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(out)
}

/// A rollup from the columns of [`rollup_columns`] (its source last).
fn rollup_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<(HourlyRollup, Option<String>)> {
    let bad = |i: usize, e: String| rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, e.into());
    let ts: String = row.get(1)?;
    let status: String = row.get(21)?;
    let reasons: String = row.get(22)?;
    let rollup = HourlyRollup {
        location: row.get(0)?,
        timestamp: DateTime::parse_from_rfc3339(&ts).map_err(|e| bad(1, e.to_string()))?.with_timezone(&Utc),
        count: row.get::<_, i64>(2)? as u64,
        load_avg_mw: row.get(3)?,
        load_min_mw: row.get(4)?,
        load_peak_mw: row.get(5)?,
        generation_avg_mw: row.get(6)?,
        solar_avg_mw: row.get(7)?,
        wind_avg_mw: row.get(8)?,
        renewable_penetration: row.get(9)?,
        voltage_avg_kv: row.get(10)?,
        voltage_min_kv: row.get(11)?,
        voltage_max_kv: row.get(12)?,
        frequency_avg_hz: row.get(13)?,
        frequency_min_hz: row.get(14)?,
        frequency_max_hz: row.get(15)?,
        frequency_max_dev_hz: row.get(16)?,
        power_factor_avg: row.get(17)?,
        power_factor_defaulted: row.get::<_, i64>(18)? as u64,
        stability_score: row.get(19)?,
        efficiency_score: row.get(20)?,
        alert_status: status.parse().map_err(|e: String| bad(21, e))?,
        alert_reasons: serde_json::from_str(&reasons).map_err(|e| bad(22, e.to_string()))?,
    };
    Ok((rollup, row.get(23)?))
}

pub struct SqliteTable {
    conn: Connection,
}

fn db_err(context: &str) -> impl Fn(rusqlite::Error) -> anyhow::Error + '_ {
    move |e| anyhow::anyhow!("{context}: {e}")
}

impl SqliteTable {
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        let conn = Connection::open(path).map_err(|e| anyhow::anyhow!("cannot open database {}: {e}", path.display()))?;
        Self::init(conn)
    }

    pub fn open_in_memory() -> anyhow::Result<Self> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(conn: Connection) -> anyhow::Result<Self> {
        // First, so that even opening waits for another process's write (schema, migration).
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        // A new database gets 16 KiB pages (before WAL, which fixes the size): a rollup row
        // is ~250 bytes, too wide for 4 KiB pages of a WITHOUT ROWID table. An existing one
        // keeps its size.
        conn.pragma_update(None, "page_size", 16384)?;
        // WAL lets `gridwatch query` read while the dashboard's simulator writes.
        conn.pragma_update(None, "journal_mode", "WAL").ok();
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        // 4 MiB of page cache: rollups are written in key order, so a transaction touches
        // each substation's newest pages once; 16 MiB measured no faster (`cargo bench
        // --bench store`) and was a quarter of `analyze`'s peak memory.
        conn.pragma_update(None, "cache_size", -4096)?;
        let columns: Vec<String> = ROLLUP_FIELDS.iter().map(|(n, t)| format!("{n} {t}")).collect();
        conn.execute_batch(&SCHEMA.replace("ROLLUP_COLUMNS", &columns.join(",\n    ")))
            .map_err(db_err("cannot create the schema"))?;
        Self::migrate_rollups(&conn)?;
        // Databases made before alarm notifications were claimed lack this column.
        let has_claim: bool = conn
            .prepare("SELECT 1 FROM pragma_table_info('grid_analysis') WHERE name = 'notified_at'")?
            .exists([])?;
        if !has_claim {
            conn.execute_batch("ALTER TABLE grid_analysis ADD COLUMN notified_at TEXT")
                .map_err(db_err("cannot add the notified_at column"))?;
        }
        Ok(Self { conn })
    }

    /// Databases from before typed, per-source rollups: moves their JSON rollup items into
    /// the `rollups` table (source unknown) and points the `hourly` view at it. Once.
    fn migrate_rollups(conn: &Connection) -> anyhow::Result<()> {
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if version >= 1 {
            return Ok(());
        }
        let tx = rusqlite::Transaction::new_unchecked(conn, rusqlite::TransactionBehavior::Immediate)?;
        {
            let mut old = tx.prepare("SELECT item FROM grid_analysis WHERE kind = 'rollup'")?;
            let mut insert = tx.prepare(&format!("INSERT OR REPLACE INTO rollups ({}) VALUES ({})", rollup_columns(), placeholders()))?;
            let mut rows = old.query([])?;
            while let Some(row) = rows.next()? {
                // An item no reader could decode (an old writer's overflow stored as null)
                // is left behind, as a reader would skip it; its raw file is still there.
                let r: HourlyRollup = match serde_json::from_str(&row.get::<_, String>(0)?) {
                    Ok(r) => r,
                    Err(e) => {
                        unreadable::note("rollup", &e);
                        continue;
                    }
                };
                bind_rollup(&mut insert, &r, Some(LEGACY_SOURCE))?;
                insert.raw_execute()?;
            }
        }
        tx.execute("DELETE FROM grid_analysis WHERE kind = 'rollup'", [])?;
        tx.execute_batch(HOURLY_VIEW)?;
        tx.pragma_update(None, "user_version", 1)?;
        tx.commit().map_err(db_err("cannot migrate the stored rollups"))?;
        Ok(())
    }

    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// Stores one source's rollups in one transaction and returns the merged rollups of the
    /// hours other sources fed too. An hour only this source fed is one upsert; an hour
    /// other sources fed too keeps every source's part in `rollup_parts` and stores their
    /// merge ([`hour_stats::combine`]), whatever order the sources came in.
    pub fn put_rollups(&mut self, source: &str, rollups: &[HourlyRollup], cfg: &AnalysisConfig) -> anyhow::Result<Vec<HourlyRollup>> {
        let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let mut stored = Vec::new();
        {
            let columns = rollup_columns();
            let updates: Vec<String> = ROLLUP_FIELDS.iter().map(|(n, _)| format!("{n} = excluded.{n}")).collect();
            // Only over this source's own (or a legacy) row: anything else is shared.
            let mut own = tx.prepare_cached(&format!(
                "INSERT INTO rollups ({columns}) VALUES ({}) ON CONFLICT (location, timestamp) DO UPDATE SET {}, source = excluded.source
                 WHERE rollups.source = excluded.source OR rollups.source = '{LEGACY_SOURCE}'",
                placeholders(),
                updates.join(", ")
            ))?;
            // In key order: a batch holds a few hours of every substation, and inserting
            // them substation by substation touches each B-tree page once.
            let mut in_key_order: Vec<&HourlyRollup> = rollups.iter().collect();
            in_key_order.sort_unstable_by(|a, b| (&a.location, a.timestamp).cmp(&(&b.location, b.timestamp)));
            for r in in_key_order {
                bind_rollup(&mut own, r, Some(source))?;
                if own.raw_execute()? == 0 {
                    stored.push(Self::merge_hour(&tx, source, Some(r), &r.location, &format_ts(r.timestamp), cfg)?);
                }
            }
        }
        tx.commit().map_err(db_err("cannot store rollups"))?;
        Ok(stored)
    }

    /// Sets `source`'s part of one hour (`None`: removes it) and stores the rollup of all
    /// parts: a lone part goes back to `rollups` as that source's own row, none deletes it.
    fn merge_hour(
        tx: &rusqlite::Transaction<'_>,
        source: &str,
        part: Option<&HourlyRollup>,
        location: &str,
        hour: &str,
        cfg: &AnalysisConfig,
    ) -> anyhow::Result<HourlyRollup> {
        let columns = rollup_columns();
        let key = params![location, hour];
        // The row of a single other source becomes that source's part.
        let single: Option<(HourlyRollup, Option<String>)> = tx
            .prepare_cached(&format!("SELECT {columns} FROM rollups WHERE location = ?1 AND timestamp = ?2"))?
            .query_row(key, rollup_from_row)
            .optional()?;
        let mut put_part = tx.prepare_cached(&format!("INSERT OR REPLACE INTO rollup_parts ({columns}) VALUES ({})", placeholders()))?;
        if let Some((r, Some(other))) = &single
            && other != source
            && other != LEGACY_SOURCE
        {
            bind_rollup(&mut put_part, r, Some(other))?;
            put_part.raw_execute()?;
        }
        tx.prepare_cached("DELETE FROM rollup_parts WHERE location = ?1 AND timestamp = ?2 AND source = ?3")?
            .execute(params![location, hour, source])?;
        if let Some(r) = part {
            bind_rollup(&mut put_part, r, Some(source))?;
            put_part.raw_execute()?;
        }
        let parts: Vec<(String, HourlyRollup)> = tx
            .prepare_cached(&format!("SELECT {columns} FROM rollup_parts WHERE location = ?1 AND timestamp = ?2"))?
            .query_map(key, rollup_from_row)?
            .map(|row| row.map(|(r, s)| (s.unwrap_or_default(), r)))
            .collect::<rusqlite::Result<_>>()?;
        let mut put = tx.prepare_cached(&format!("INSERT OR REPLACE INTO rollups ({columns}) VALUES ({})", placeholders()))?;
        let combined = match parts.len() {
            0 => {
                tx.prepare_cached("DELETE FROM rollups WHERE location = ?1 AND timestamp = ?2")?.execute(key)?;
                return Ok(part.cloned().unwrap_or_else(|| single.map(|s| s.0).expect("a stored hour")));
            }
            1 => {
                let (only, r) = parts.into_iter().next().expect("one part");
                tx.prepare_cached("DELETE FROM rollup_parts WHERE location = ?1 AND timestamp = ?2")?.execute(key)?;
                bind_rollup(&mut put, &r, Some(&only))?;
                put.raw_execute()?;
                return Ok(r);
            }
            _ => hour_stats::combine(parts, cfg).expect("parts"),
        };
        bind_rollup(&mut put, &combined, None)?;
        put.raw_execute()?;
        Ok(combined)
    }

    /// After a source's rollups and alarms are stored: removes its part of the hours it
    /// fed before but no longer does (a shorter, corrected file under `--overwrite`, a new
    /// version of the object), re-merging those hours, and its claim on the alarms it no
    /// longer has (an alarm goes when no source has it). Returns the hours it left.
    pub fn retire_source(
        &mut self,
        source: &str,
        hours: &SourceHours,
        keep: &AlarmKeys,
        scope: &ListingScope,
        cfg: &AnalysisConfig,
    ) -> anyhow::Result<u64> {
        let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let spans: Vec<(String, String, String)> = tx
            .prepare_cached("SELECT location, first_hour, end_hour FROM source_spans WHERE source = ?1")?
            .query_map(params![source], |r| Ok((r.get::<_, String>(0)?, r.get(1)?, r.get(2)?)))?
            .filter(|span| span.as_ref().map_or(true, |(location, _, _)| scope.owns(location)))
            .collect::<rusqlite::Result<_>>()?;
        let mut left = 0;
        for (location, first, end) in &spans {
            let (location, first, end) = (location.as_str(), first.as_str(), end.as_str());
            let covered = match (DateTime::parse_from_rfc3339(first), DateTime::parse_from_rfc3339(end)) {
                (Ok(first), Ok(end)) => hours.covers(location, first.with_timezone(&Utc), end.with_timezone(&Utc)),
                _ => false,
            };
            if covered {
                continue; // every hour it fed there, it feeds still: nothing to read
            }
            let mut stale = Vec::new();
            for table in ["rollups", "rollup_parts"] {
                let mut stmt = tx.prepare_cached(&format!(
                    "SELECT timestamp FROM {table} WHERE location = ?1 AND timestamp >= ?2 AND timestamp < ?3 AND source = ?4"
                ))?;
                for ts in stmt.query_map(params![location, first, end, source], |r| r.get::<_, String>(0))? {
                    let ts = ts?;
                    let hour = DateTime::parse_from_rfc3339(&ts)?.with_timezone(&Utc);
                    if !hours.contains(location, hour) {
                        stale.push(ts);
                    }
                }
            }
            for hour in stale {
                Self::merge_hour(&tx, source, None, location, &hour, cfg)?;
                left += 1;
            }
        }
        if *scope == ListingScope::Whole {
            tx.prepare_cached("DELETE FROM source_spans WHERE source = ?1")?.execute(params![source])?;
        } else {
            for (location, _, _) in &spans {
                tx.prepare_cached("DELETE FROM source_spans WHERE source = ?1 AND location = ?2")?.execute(params![source, location])?;
            }
        }
        {
            let mut span = tx.prepare_cached("INSERT INTO source_spans (source, location, first_hour, end_hour) VALUES (?1, ?2, ?3, ?4)")?;
            for (location, first, end) in hours.spans() {
                span.execute(params![source, location, format_ts(first), format_ts(end)])?;
            }
        }
        // Only the claims to take back are collected: every claim of a long file was the
        // largest thing a run held (243 k alarms of a 3 GB file, 22 MB).
        let stale: Vec<(String, String)> = tx
            .prepare_cached("SELECT location, timestamp FROM alert_sources WHERE source = ?1")?
            .query_map(params![source], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?
            .filter(|claim| claim.as_ref().map_or(true, |(location, key)| scope.owns(location) && !keep.contains(location, key)))
            .collect::<rusqlite::Result<_>>()?;
        for (location, sort_key) in stale {
            tx.prepare_cached("DELETE FROM alert_sources WHERE source = ?1 AND location = ?2 AND timestamp = ?3")?
                .execute(params![source, location, sort_key])?;
            tx.prepare_cached(
                "DELETE FROM grid_analysis WHERE location = ?1 AND timestamp = ?2 AND kind = 'alert'
                 AND NOT EXISTS (SELECT 1 FROM alert_sources WHERE location = ?1 AND timestamp = ?2)",
            )?
            .execute(params![location, sort_key])?;
        }
        tx.commit().map_err(db_err("cannot retire what the source no longer has"))?;
        Ok(left)
    }

    /// Rollups of one substation with `from <= timestamp < to`, oldest first.
    pub fn rollups(&self, location: &str, from: DateTime<Utc>, to: DateTime<Utc>) -> anyhow::Result<Vec<HourlyRollup>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {} FROM rollups WHERE location = ?1 AND timestamp >= ?2 AND timestamp < ?3 ORDER BY timestamp",
            rollup_columns()
        ))?;
        readable_rollups(stmt.query_map(params![location, format_ts(from), format_ts(to)], rollup_from_row)?)
    }

    /// Rollups filtered for `gridwatch query`; every filter is optional.
    pub fn query(
        &self,
        location: Option<&str>,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
        status: Option<AlertStatus>,
    ) -> anyhow::Result<Vec<HourlyRollup>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {} FROM rollups WHERE (?1 IS NULL OR location = ?1) AND (?2 IS NULL OR timestamp >= ?2)
             AND (?3 IS NULL OR timestamp < ?3) AND (?4 IS NULL OR alert_status = ?4)
             ORDER BY location, timestamp",
            rollup_columns()
        ))?;
        let rows = stmt.query_map(
            params![location, from.map(format_ts), to.map(format_ts), status.map(|s| s.as_str())],
            rollup_from_row,
        )?;
        readable_rollups(rows)
    }

    /// Hourly average loads of one substation in `[from, to)` for the forecast.
    pub fn load_history(&self, location: &str, from: DateTime<Utc>, to: DateTime<Utc>) -> anyhow::Result<Vec<(DateTime<Utc>, f64)>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT timestamp, load_avg_mw FROM rollups WHERE location = ?1
             AND timestamp >= ?2 AND timestamp < ?3 ORDER BY timestamp",
        )?;
        let rows = stmt.query_map(params![location, format_ts(from), format_ts(to)], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, f64>(1)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (ts, load) = row?;
            if let Ok(ts) = DateTime::parse_from_rfc3339(&ts) {
                out.push((ts.with_timezone(&Utc), load));
            }
        }
        Ok(out)
    }

    /// Replaces the stored forecast of one substation unless the stored one starts later
    /// (forecasts only move forward). Returns whether it was written. One row holds all
    /// its hours ([`FORECAST_KEY`], as on DynamoDB); per-hour rows of older versions go.
    pub fn put_forecast(&mut self, location: &str, points: &[ForecastPoint]) -> anyhow::Result<bool> {
        let Some(first) = points.first().map(|p| p.timestamp) else { return Ok(false) };
        let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        if Self::stored_forecast(&tx, location)?.first().is_some_and(|stored| stored.timestamp > first) {
            return Ok(false);
        }
        tx.execute("DELETE FROM grid_analysis WHERE location = ?1 AND kind = 'forecast'", params![location])?;
        tx.prepare_cached(
            "INSERT INTO grid_analysis (location, timestamp, kind, item) VALUES (?1, ?2, 'forecast', ?3)",
        )?
        .execute(params![location, FORECAST_KEY, serde_json::to_string(points)?])?;
        tx.commit().map_err(db_err("cannot store the forecast"))?;
        Ok(true)
    }

    /// The stored 24 h forecast of one substation, oldest first.
    pub fn forecast(&self, location: &str) -> anyhow::Result<Vec<ForecastPoint>> {
        Self::stored_forecast(&self.conn, location)
    }

    /// The one forecast row, or the per-hour rows older versions wrote.
    fn stored_forecast(conn: &rusqlite::Connection, location: &str) -> anyhow::Result<Vec<ForecastPoint>> {
        let mut stmt = conn.prepare_cached(
            "SELECT timestamp, item FROM grid_analysis WHERE location = ?1 AND kind = 'forecast' ORDER BY timestamp",
        )?;
        let rows = stmt.query_map(params![location], |row| Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?)))?;
        let rows = rows.collect::<rusqlite::Result<Vec<(String, String)>>>()?;
        if let Some((_, json)) = rows.iter().find(|(key, _)| key == FORECAST_KEY) {
            return Ok(unreadable::keep_readable("forecast", [serde_json::from_str::<Vec<ForecastPoint>>(json)]).concat());
        }
        Ok(unreadable::keep_readable("forecast", rows.iter().map(|(_, json)| serde_json::from_str(json))))
    }

    /// Upserts an alarm episode. With `claim_at`, also claims its notification: returns
    /// true when this call set `notified_at` (nobody had). Without it, returns whether the
    /// episode is new.
    /// `source` is recorded as one of the files that have the episode.
    pub fn upsert_alert(&mut self, a: &Alert, claim_at: Option<DateTime<Utc>>, source: &str) -> anyhow::Result<bool> {
        Ok(self.upsert_alerts(std::slice::from_ref(a), claim_at, source)?[0])
    }

    /// [`Self::upsert_alert`] for each alarm, in one transaction (a file's alarms are
    /// stored all or none; one commit instead of one per alarm).
    pub fn upsert_alerts(&mut self, alerts: &[Alert], claim_at: Option<DateTime<Utc>>, source: &str) -> anyhow::Result<Vec<bool>> {
        let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let claimed = alerts.iter().map(|a| Self::upsert_alert_in(&tx, a, claim_at, source)).collect::<anyhow::Result<Vec<bool>>>()?;
        tx.commit().map_err(db_err("cannot store the alarms"))?;
        Ok(claimed)
    }

    fn upsert_alert_in(tx: &rusqlite::Transaction<'_>, a: &Alert, claim_at: Option<DateTime<Utc>>, source: &str) -> anyhow::Result<bool> {
        let sort_key = alert_sort_key(a);
        let stored: Option<(Option<String>, Option<String>)> = tx
            .prepare_cached("SELECT notified_at, ended_at FROM grid_analysis WHERE location = ?1 AND timestamp = ?2")?
            .query_row(params![a.location, sort_key], |row| Ok((row.get(0)?, row.get(1)?)))
            .optional()?;
        let old = stored.as_ref().map(|(notified, _)| notified.clone());
        let notified = old.clone().flatten().or(claim_at.map(format_ts));
        // An episode another file saw last longer is kept: reprocessing the file with its
        // start must not cut it short (the same file alone may: a corrected version).
        let others: bool = tx
            .prepare_cached("SELECT 1 FROM alert_sources WHERE location = ?1 AND timestamp = ?2 AND source <> ?3")?
            .exists(params![a.location, sort_key, source])?;
        let ended = format_ts(a.ended_at);
        let keep_stored = others && stored.as_ref().and_then(|(_, e)| e.as_deref()).is_some_and(|e| e > ended.as_str());
        if keep_stored {
            tx.prepare_cached("UPDATE grid_analysis SET notified_at = ?3 WHERE location = ?1 AND timestamp = ?2")?
                .execute(params![a.location, sort_key, notified])?;
        } else {
            tx.prepare_cached(
                "INSERT OR REPLACE INTO grid_analysis (location, timestamp, kind, alert_status, ended_at, notified_at, item)
                 VALUES (?1, ?2, 'alert', ?3, ?4, ?5, ?6)",
            )?
            .execute(params![a.location, sort_key, a.status().as_str(), ended, notified, serde_json::to_string(a)?])?;
        }
        tx.prepare_cached("INSERT OR IGNORE INTO alert_sources (source, location, timestamp) VALUES (?1, ?2, ?3)")?
            .execute(params![source, a.location, sort_key])?;
        Ok(match claim_at {
            Some(_) => old.flatten().is_none(),
            None => old.is_none(),
        })
    }

    /// Gives a notification claim back (the notification failed).
    pub fn release_notification(&mut self, a: &Alert, at: DateTime<Utc>) -> anyhow::Result<()> {
        self.conn.execute(
            "UPDATE grid_analysis SET notified_at = NULL WHERE location = ?1 AND timestamp = ?2 AND notified_at = ?3",
            params![a.location, alert_sort_key(a), format_ts(at)],
        )?;
        Ok(())
    }

    /// Stores alarm checkpoints and prunes each substation's old ones.
    pub fn put_checkpoints(&mut self, checkpoints: &[AlarmCheckpoint]) -> anyhow::Result<()> {
        let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        for c in checkpoints {
            tx.execute(
                "INSERT OR REPLACE INTO grid_analysis (location, timestamp, kind, last_reading, item) VALUES (?1, ?2, 'checkpoint', ?3, ?4)",
                params![c.location, checkpoint_sort_key(c.as_of), format_ts(c.as_of), serde_json::to_string(c)?],
            )?;
            let horizon = checkpoint_sort_key(c.as_of - chrono::Duration::days(CHECKPOINT_RETENTION_DAYS));
            tx.execute(
                "DELETE FROM grid_analysis WHERE location = ?1 AND kind = 'checkpoint' AND timestamp < ?2",
                params![c.location, horizon],
            )?;
        }
        tx.commit().map_err(db_err("cannot store alarm checkpoints"))?;
        Ok(())
    }

    /// The newest checkpoint of a substation strictly before `before`.
    pub fn checkpoint_before(&self, location: &str, before: DateTime<Utc>) -> anyhow::Result<Option<AlarmCheckpoint>> {
        let json: Option<String> = self
            .conn
            .query_row(
                "SELECT item FROM grid_analysis WHERE location = ?1 AND kind = 'checkpoint' AND timestamp >= ?2
                 AND timestamp < ?3 ORDER BY timestamp DESC LIMIT 1",
                params![location, CHECKPOINT_PREFIX, checkpoint_sort_key(before)],
                |row| row.get(0),
            )
            .optional()?;
        json.map(|j| serde_json::from_str(&j).map_err(|e| anyhow::anyhow!("alarm checkpoint of {location}: {e}"))).transpose()
    }

    pub fn operator_states(&self) -> anyhow::Result<Vec<OperatorState>> {
        let mut stmt = self.conn.prepare_cached("SELECT item FROM grid_analysis WHERE location = ?1 ORDER BY timestamp")?;
        let rows = stmt.query_map(params![OPERATOR_PARTITION], |row| row.get::<_, String>(0))?;
        let texts = rows.collect::<rusqlite::Result<Vec<String>>>()?;
        Ok(unreadable::keep_readable("operator state", texts.iter().map(|json| serde_json::from_str(json))))
    }

    /// Applies an operator action to the stored state (read, apply, write in one transaction).
    pub fn apply_operator_action(&mut self, action: &OperatorAction) -> anyhow::Result<OperatorState> {
        let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let sort_key = OperatorState::sort_key(&action.location, action.rule);
        let old: Option<String> = tx
            .query_row(
                "SELECT item FROM grid_analysis WHERE location = ?1 AND timestamp = ?2",
                params![OPERATOR_PARTITION, sort_key],
                |row| row.get(0),
            )
            .optional()?;
        let old: OperatorState = match old {
            Some(j) => serde_json::from_str(&j)?,
            None => OperatorState::default(),
        };
        let new = old.apply(action);
        tx.execute(
            "INSERT OR REPLACE INTO grid_analysis (location, timestamp, kind, item) VALUES (?1, ?2, 'operator', ?3)",
            params![OPERATOR_PARTITION, sort_key, serde_json::to_string(&new)?],
        )?;
        tx.commit().map_err(db_err("cannot store the operator action"))?;
        Ok(new)
    }

    /// Alert episodes that ended at or after `since`, newest first.
    pub fn alerts(&self, since: DateTime<Utc>) -> anyhow::Result<Vec<Alert>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT item FROM grid_analysis WHERE kind = 'alert' AND ended_at >= ?1 ORDER BY ended_at DESC, location",
        )?;
        let rows = stmt.query_map(params![format_ts(since)], |row| row.get::<_, String>(0))?;
        let texts = rows.collect::<rusqlite::Result<Vec<String>>>()?;
        Ok(unreadable::keep_readable("alert", texts.iter().map(|json| serde_json::from_str(json))))
    }

    /// Records the latest state of a substation, unless a newer one from another file is
    /// already stored (re-analysing an old file must not make the dashboard go back in
    /// time; a corrected version of the same file replaces its own state).
    /// Returns whether it was written.
    pub fn put_state(&mut self, state: &SubstationState) -> anyhow::Result<bool> {
        let changed = self
            .conn
            .execute(
                "INSERT INTO grid_analysis (location, timestamp, kind, alert_status, last_reading, item)
                 VALUES (?1, ?2, 'index', ?3, ?4, ?5)
                 ON CONFLICT (location, timestamp) DO UPDATE SET alert_status = excluded.alert_status,
                   last_reading = excluded.last_reading, item = excluded.item
                 WHERE excluded.last_reading >= grid_analysis.last_reading
                    OR json_extract(grid_analysis.item, '$.source_key') = json_extract(excluded.item, '$.source_key')",
                params![
                    INDEX_PARTITION,
                    state.location,
                    state.latest.alert_status.as_str(),
                    format_ts(state.last_reading),
                    serde_json::to_string(state)?
                ],
            )
            .map_err(db_err("cannot store the substation state"))?;
        Ok(changed > 0)
    }

    pub fn substations(&self) -> anyhow::Result<Vec<SubstationState>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT item FROM grid_analysis WHERE location = ?1 ORDER BY timestamp")?;
        let rows = stmt.query_map(params![INDEX_PARTITION], |row| row.get::<_, String>(0))?;
        let texts = rows.collect::<rusqlite::Result<Vec<String>>>()?;
        Ok(unreadable::keep_readable("substation index", texts.iter().map(|json| serde_json::from_str(json))))
    }

    /// The newest reading time across all substations (the simulator resumes after it).
    pub fn newest_reading(&self) -> anyhow::Result<Option<DateTime<Utc>>> {
        let ts: Option<String> = self.conn.query_row(
            "SELECT max(last_reading) FROM grid_analysis WHERE location = ?1",
            params![INDEX_PARTITION],
            |row| row.get(0),
        )?;
        Ok(ts.and_then(|t| DateTime::parse_from_rfc3339(&t).ok()).map(|t| t.with_timezone(&Utc)))
    }

    /// Counts items per kind (used by tests); `rollup` counts the stored hours.
    pub fn count(&self, kind: &str) -> anyhow::Result<u64> {
        if kind == "rollup" {
            return Ok(self.conn.query_row("SELECT count(*) FROM rollups", [], |r| r.get::<_, i64>(0))? as u64);
        }
        Ok(self.conn.query_row("SELECT count(*) FROM grid_analysis WHERE kind = ?1", params![kind], |r| r.get::<_, i64>(0))? as u64)
    }
}


#[cfg(test)]
mod tests {
    use super::*;

    fn day_of_forecast(location: &str, first: &str) -> Vec<ForecastPoint> {
        let first: DateTime<Utc> = first.parse().unwrap();
        (0..24)
            .map(|h| ForecastPoint { location: location.into(), timestamp: first + chrono::Duration::hours(h), load_mw: 40.0 + h as f64 })
            .collect()
    }

    #[test]
    fn a_forecast_is_one_row_that_only_moves_forward_and_replaces_per_hour_rows() {
        let dir = tempfile::tempdir().unwrap();
        let mut db = SqliteTable::open(&dir.path().join("t.db")).unwrap();
        // Per-hour rows as versions before the one row wrote them.
        let legacy = day_of_forecast("s1", "2025-01-14T00:00:00Z");
        for p in legacy.iter().rev() {
            db.conn
                .execute(
                    "INSERT INTO grid_analysis (location, timestamp, kind, load_avg_mw, item) VALUES (?1, ?2, 'forecast', ?3, ?4)",
                    params![p.location, crate::store::items::forecast_sort_key(p.timestamp), p.load_mw, serde_json::to_string(p).unwrap()],
                )
                .unwrap();
        }
        assert_eq!(db.forecast("s1").unwrap(), legacy);

        let next = day_of_forecast("s1", "2025-01-15T00:00:00Z");
        assert!(db.put_forecast("s1", &next).unwrap());
        assert_eq!(db.forecast("s1").unwrap(), next);
        let rows: i64 = db.conn.query_row("SELECT count(*) FROM grid_analysis WHERE kind = 'forecast'", [], |r| r.get(0)).unwrap();
        assert_eq!(rows, 1);

        assert!(!db.put_forecast("s1", &legacy).unwrap(), "an older forecast does not replace a newer one");
        assert_eq!(db.forecast("s1").unwrap(), next);
        assert!(db.put_forecast("s1", &next).unwrap(), "the same forecast again is written (a retry)");
        assert!(!db.put_forecast("s1", &[]).unwrap(), "an empty forecast leaves the stored one");
        assert_eq!(db.forecast("s1").unwrap(), next);
    }
}
