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
use crate::model::{format_ts, Alert, AlertStatus, ForecastPoint, HourlyRollup, SubstationState};
use crate::store::items::{alert_sort_key, checkpoint_sort_key, CHECKPOINT_PREFIX, CHECKPOINT_RETENTION_DAYS, INDEX_PARTITION};
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
CREATE VIEW IF NOT EXISTS hourly AS
    SELECT location, timestamp, load_avg_mw, load_peak_mw, renewable_penetration, voltage_avg_kv,
           voltage_min_kv, frequency_avg_hz, stability_score, efficiency_score, alert_status
    FROM grid_analysis WHERE kind = 'rollup';
";

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
        // WAL lets `gridwatch query` read while the dashboard's simulator writes.
        conn.pragma_update(None, "journal_mode", "WAL").ok();
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        // 16 MB of page cache: rollup writes of a big file otherwise re-read the same pages.
        conn.pragma_update(None, "cache_size", -16384)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch(SCHEMA).map_err(db_err("cannot create the schema"))?;
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

    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// Upserts rollups in one transaction.
    pub fn put_rollups(&mut self, rollups: &[HourlyRollup]) -> anyhow::Result<u64> {
        let tx = self.conn.transaction()?;
        {
            let mut stmt = tx.prepare_cached(
                "INSERT OR REPLACE INTO grid_analysis (location, timestamp, kind, load_avg_mw, load_peak_mw,
                 renewable_penetration, voltage_avg_kv, voltage_min_kv, frequency_avg_hz, stability_score,
                 efficiency_score, alert_status, item) VALUES (?1, ?2, 'rollup', ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            )?;
            for r in rollups {
                stmt.execute(params![
                    r.location,
                    format_ts(r.timestamp),
                    r.load_avg_mw,
                    r.load_peak_mw,
                    r.renewable_penetration,
                    r.voltage_avg_kv,
                    r.voltage_min_kv,
                    r.frequency_avg_hz,
                    r.stability_score,
                    r.efficiency_score,
                    r.alert_status.as_str(),
                    serde_json::to_string(r)?,
                ])?;
            }
        }
        tx.commit().map_err(db_err("cannot store rollups"))?;
        Ok(rollups.len() as u64)
    }

    /// Rollups of one substation with `from <= timestamp < to`, oldest first.
    pub fn rollups(&self, location: &str, from: DateTime<Utc>, to: DateTime<Utc>) -> anyhow::Result<Vec<HourlyRollup>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT item FROM grid_analysis WHERE location = ?1 AND kind = 'rollup'
             AND timestamp >= ?2 AND timestamp < ?3 ORDER BY timestamp",
        )?;
        let rows = stmt.query_map(params![location, format_ts(from), format_ts(to)], |row| row.get::<_, String>(0))?;
        let texts = rows.collect::<rusqlite::Result<Vec<String>>>()?;
        Ok(unreadable::keep_readable("rollup", texts.iter().map(|json| serde_json::from_str(json))))
    }

    /// Rollups filtered for `gridwatch query`; every filter is optional.
    pub fn query(
        &self,
        location: Option<&str>,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
        status: Option<AlertStatus>,
    ) -> anyhow::Result<Vec<HourlyRollup>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT item FROM grid_analysis WHERE kind = 'rollup'
             AND (?1 IS NULL OR location = ?1) AND (?2 IS NULL OR timestamp >= ?2)
             AND (?3 IS NULL OR timestamp < ?3) AND (?4 IS NULL OR alert_status = ?4)
             ORDER BY location, timestamp",
        )?;
        let rows = stmt.query_map(
            params![location, from.map(format_ts), to.map(format_ts), status.map(|s| s.as_str())],
            |row| row.get::<_, String>(0),
        )?;
        let texts = rows.collect::<rusqlite::Result<Vec<String>>>()?;
        Ok(unreadable::keep_readable("rollup", texts.iter().map(|json| serde_json::from_str(json))))
    }

    /// Hourly average loads of one substation in `[from, to)` for the forecast.
    pub fn load_history(&self, location: &str, from: DateTime<Utc>, to: DateTime<Utc>) -> anyhow::Result<Vec<(DateTime<Utc>, f64)>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT timestamp, load_avg_mw FROM grid_analysis WHERE location = ?1 AND kind = 'rollup'
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
    /// (forecasts only move forward). Returns whether it was written.
    pub fn put_forecast(&mut self, location: &str, points: &[ForecastPoint]) -> anyhow::Result<bool> {
        let tx = self.conn.transaction()?;
        let stored_first: Option<String> = tx.query_row(
            "SELECT min(timestamp) FROM grid_analysis WHERE location = ?1 AND kind = 'forecast'",
            params![location],
            |row| row.get(0),
        )?;
        let new_first = points.iter().map(|p| crate::store::items::forecast_sort_key(p.timestamp)).min();
        if let (Some(stored), Some(new)) = (&stored_first, &new_first)
            && stored > new
        {
            return Ok(false);
        }
        tx.execute(
            "DELETE FROM grid_analysis WHERE location = ?1 AND kind = 'forecast'",
            params![location],
        )?;
        {
            let mut stmt = tx.prepare_cached(
                "INSERT OR REPLACE INTO grid_analysis (location, timestamp, kind, load_avg_mw, item)
                 VALUES (?1, ?2, 'forecast', ?3, ?4)",
            )?;
            for p in points {
                stmt.execute(params![
                    p.location,
                    crate::store::items::forecast_sort_key(p.timestamp),
                    p.load_mw,
                    serde_json::to_string(p)?
                ])?;
            }
        }
        tx.commit().map_err(db_err("cannot store the forecast"))?;
        Ok(true)
    }

    pub fn forecast(&self, location: &str) -> anyhow::Result<Vec<ForecastPoint>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT item FROM grid_analysis WHERE location = ?1 AND kind = 'forecast' ORDER BY timestamp",
        )?;
        let rows = stmt.query_map(params![location], |row| row.get::<_, String>(0))?;
        let texts = rows.collect::<rusqlite::Result<Vec<String>>>()?;
        Ok(unreadable::keep_readable("forecast", texts.iter().map(|json| serde_json::from_str(json))))
    }

    /// Upserts an alarm episode. With `claim_at`, also claims its notification: returns
    /// true when this call set `notified_at` (nobody had). Without it, returns whether the
    /// episode is new.
    pub fn upsert_alert(&mut self, a: &Alert, claim_at: Option<DateTime<Utc>>) -> anyhow::Result<bool> {
        let tx = self.conn.transaction()?;
        let sort_key = alert_sort_key(a);
        let old: Option<Option<String>> = tx
            .query_row(
                "SELECT notified_at FROM grid_analysis WHERE location = ?1 AND timestamp = ?2",
                params![a.location, sort_key],
                |row| row.get(0),
            )
            .optional()?;
        let notified = old.clone().flatten().or(claim_at.map(format_ts));
        tx.execute(
            "INSERT OR REPLACE INTO grid_analysis (location, timestamp, kind, alert_status, ended_at, notified_at, item)
             VALUES (?1, ?2, 'alert', ?3, ?4, ?5, ?6)",
            params![a.location, sort_key, a.status().as_str(), format_ts(a.ended_at), notified, serde_json::to_string(a)?],
        )?;
        tx.commit().map_err(db_err("cannot store an alarm"))?;
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
        let tx = self.conn.transaction()?;
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
        let tx = self.conn.transaction()?;
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

    /// Records the latest state of a substation, unless a newer one is already stored
    /// (re-analysing an old file must not make the dashboard go back in time).
    /// Returns whether it was written.
    pub fn put_state(&mut self, state: &SubstationState) -> anyhow::Result<bool> {
        let changed = self
            .conn
            .execute(
                "INSERT INTO grid_analysis (location, timestamp, kind, alert_status, last_reading, item)
                 VALUES (?1, ?2, 'index', ?3, ?4, ?5)
                 ON CONFLICT (location, timestamp) DO UPDATE SET alert_status = excluded.alert_status,
                   last_reading = excluded.last_reading, item = excluded.item
                 WHERE excluded.last_reading >= grid_analysis.last_reading",
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

    /// Counts items per kind (used by tests).
    pub fn count(&self, kind: &str) -> anyhow::Result<u64> {
        Ok(self.conn.query_row("SELECT count(*) FROM grid_analysis WHERE kind = ?1", params![kind], |r| r.get::<_, i64>(0))? as u64)
    }
}

