//! The layout of the hourly rollups that Athena queries: gzip JSON lines, one object per
//! (UTC day, raw object), under
//!
//! ```text
//! results/hourly/day=2025-01-14/grid_data_2025-01-14.json.gz
//! ```
//!
//! - `day=` is the table's only partition column, with partition projection (type `date`)
//!   in `assets/athena/create_table.sql` and `assets/template.yaml`: new days need no
//!   `MSCK REPAIR TABLE` or crawler, and a `WHERE day BETWEEN ...` reads only those days.
//! - The substation is a column, not a partition: a projected partition column needs its
//!   values known in advance (`enum`) or fixed in every query (`injected`), which would
//!   break "per substation" queries over all of them. Not splitting by substation also
//!   keeps the number of objects (S3 PUTs, Lambda time) at one per day a file covers: a
//!   100 MB upload of 100 substations over 131 days is 131 objects, not 13,100.
//! - One object per raw object and day: re-analysing the same raw object overwrites its
//!   objects (same keys, same bytes), so Athena sees the rows once. Two *different* raw
//!   objects holding the same substation-hour both appear in Athena (the table keeps one
//!   row per key instead).
//! - Each line is an [`HourlyRollup`] serialised with its field names, which are the
//!   table's columns ([`COLUMNS`]); `timestamp` is the RFC 3339 hour start
//!   (`2025-01-14T12:00:00Z`, sorts as text).
//! - gzip (fast level): Athena bills by bytes read and decompresses `.gz` objects by their
//!   extension; the rollup lines (~630 bytes each) shrink about 4x.
//!
//! The object name is the raw key's path under `raw/` without data extensions, percent-
//! encoded into one segment (everything but `A-Z a-z 0-9 - _ .`, and a leading `.` or `_`,
//! which Athena treats as hidden files), so any raw key gives a valid key that cannot
//! escape the day's folder.
//!
//! The local pipeline and the Lambda both call [`PartitionWriter`] with the rollups of one
//! raw object while it streams, then store what [`PartitionWriter::finish`] returns.

use crate::keys;
use crate::model::HourlyRollup;
use chrono::{DateTime, NaiveDate, Utc};
use flate2::write::GzEncoder;
use flate2::Compression;
use std::collections::BTreeMap;
use std::io::Write;

/// Everything Athena reads (the table's `LOCATION`).
pub const HOURLY_PREFIX: &str = "results/hourly/";
/// The table name in the Glue database (and of the local SQL view that mirrors it).
pub const TABLE: &str = "hourly";
/// The partition column.
pub const PARTITION_COLUMN: &str = "day";
/// Content type of the objects.
pub const CONTENT_TYPE: &str = "application/gzip";
/// File name extension of the objects.
pub const EXTENSION: &str = ".json.gz";

/// The table's columns with their Athena types, in order (the partition column `day` comes
/// after them). Kept equal to the DDL and the template by `tests/athena_layout.rs`.
pub const COLUMNS: [(&str, &str); 23] = [
    ("location", "string"),
    ("timestamp", "string"),
    ("count", "bigint"),
    ("load_avg_mw", "double"),
    ("load_min_mw", "double"),
    ("load_peak_mw", "double"),
    ("generation_avg_mw", "double"),
    ("solar_avg_mw", "double"),
    ("wind_avg_mw", "double"),
    ("renewable_penetration", "double"),
    ("voltage_avg_kv", "double"),
    ("voltage_min_kv", "double"),
    ("voltage_max_kv", "double"),
    ("frequency_avg_hz", "double"),
    ("frequency_min_hz", "double"),
    ("frequency_max_hz", "double"),
    ("frequency_max_dev_hz", "double"),
    ("power_factor_avg", "double"),
    ("power_factor_defaulted", "bigint"),
    ("stability_score", "double"),
    ("efficiency_score", "double"),
    ("alert_status", "string"),
    ("alert_reasons", "array<string>"),
];

/// The UTC day of a timestamp (the partition value).
pub fn day_of(ts: DateTime<Utc>) -> NaiveDate {
    ts.date_naive()
}

/// Percent-encodes one key segment: `A-Z a-z 0-9 - _ .` stay, everything else becomes
/// `%XX` (UTF-8 bytes); a leading `.` or `_` is encoded too (Athena skips "hidden" files
/// and folders); an empty string becomes `-`.
pub fn encode_segment(s: &str) -> String {
    if s.is_empty() {
        return "-".to_string();
    }
    let mut out = String::with_capacity(s.len());
    for (i, b) in s.bytes().enumerate() {
        let keep = b.is_ascii_alphanumeric() || b == b'-' || ((b == b'_' || b == b'.') && i > 0);
        if keep {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The part of the object name that identifies the raw object: `raw/a/b/grid.csv.gz` →
/// `a%2Fb%2Fgrid` (its path under `raw/` without data extensions, as one segment).
pub fn source_name(raw_key: &str) -> String {
    let rel = raw_key.strip_prefix(keys::RAW_PREFIX).unwrap_or(raw_key);
    let rel = match rel.rsplit_once('/') {
        Some((dir, _)) => format!("{dir}/{}", keys::stem(rel)),
        None => keys::stem(rel).to_string(),
    };
    encode_segment(&rel)
}

/// `results/hourly/day=2025-01-14/` — what Athena reads for one day.
pub fn day_prefix(day: NaiveDate) -> String {
    format!("{HOURLY_PREFIX}{PARTITION_COLUMN}={}/", day.format("%Y-%m-%d"))
}

/// The object holding the rollups of `day` (all substations) that came from `raw_key`:
/// `results/hourly/day=2025-01-14/grid_data_2025-01-14.json.gz`.
pub fn partition_key(raw_key: &str, day: NaiveDate) -> String {
    format!("{}{}{EXTENSION}", day_prefix(day), source_name(raw_key))
}

/// One rollup as one JSON line (with the trailing newline). Non-finite numbers become `null`.
pub fn rollup_line(r: &HourlyRollup) -> Vec<u8> {
    let mut line = serde_json::to_vec(r).expect("a rollup always serialises");
    line.push(b'\n');
    line
}

/// Rollups as JSON lines (uncompressed), in the given order.
pub fn rollups_jsonl(rollups: &[HourlyRollup]) -> Vec<u8> {
    rollups.iter().flat_map(rollup_line).collect()
}

/// One object to store.
#[derive(Debug, Clone, PartialEq)]
pub struct PartitionObject {
    pub key: String,
    pub day: NaiveDate,
    /// Rollups (lines) in the object.
    pub rows: u64,
    /// gzip of the JSON lines.
    pub body: Vec<u8>,
}

/// Collects the rollups of one raw object as they stream out of the engine, compressed per
/// UTC day as they come: memory is the compressed size (~150 bytes a rollup).
pub struct PartitionWriter {
    raw_key: String,
    parts: BTreeMap<NaiveDate, (GzEncoder<Vec<u8>>, u64)>,
}

impl PartitionWriter {
    pub fn new(raw_key: impl Into<String>) -> Self {
        Self { raw_key: raw_key.into(), parts: BTreeMap::new() }
    }

    pub fn raw_key(&self) -> &str {
        &self.raw_key
    }

    /// Adds a batch of rollups (any order, any substations).
    pub fn push(&mut self, batch: &[HourlyRollup]) -> std::io::Result<()> {
        for r in batch {
            let (encoder, rows) = self
                .parts
                .entry(day_of(r.timestamp))
                .or_insert_with(|| (GzEncoder::new(Vec::new(), Compression::fast()), 0));
            encoder.write_all(&rollup_line(r))?;
            *rows += 1;
        }
        Ok(())
    }

    /// Rollups pushed so far.
    pub fn rows(&self) -> u64 {
        self.parts.values().map(|(_, n)| n).sum()
    }

    /// The objects, by day. The same input gives the same bytes.
    pub fn finish(self) -> std::io::Result<Vec<PartitionObject>> {
        let raw_key = self.raw_key;
        self.parts
            .into_iter()
            .map(|(day, (encoder, rows))| Ok(PartitionObject { key: partition_key(&raw_key, day), day, rows, body: encoder.finish()? }))
            .collect()
    }
}

/// All objects for one raw object's rollups at once (see [`PartitionWriter`]).
pub fn partition_objects(raw_key: &str, rollups: &[HourlyRollup]) -> std::io::Result<Vec<PartitionObject>> {
    let mut w = PartitionWriter::new(raw_key);
    w.push(rollups)?;
    w.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_segments_so_keys_stay_valid() {
        assert_eq!(encode_segment("substation_001"), "substation_001");
        assert_eq!(encode_segment("Nord/Süd 2"), "Nord%2FS%C3%BCd%202");
        assert_eq!(encode_segment("_hidden"), "%5Fhidden");
        assert_eq!(encode_segment(".x"), "%2Ex");
        assert_eq!(encode_segment("a=b"), "a%3Db");
        assert_eq!(encode_segment(""), "-");
        for name in ["raw/..", "raw/../../etc", "raw/a\u{0}b", "raw/x\\y", "raw/C:", "raw/_x.csv", "raw/a/b/c.csv"] {
            let key = partition_key(name, NaiveDate::from_ymd_opt(2025, 1, 14).unwrap());
            keys::validate_key(&key).unwrap();
            assert!(key.starts_with("results/hourly/day=2025-01-14/"), "{key}");
            assert_eq!(key.matches('/').count(), 3, "{key}");
        }
    }

    #[test]
    fn keys_follow_the_layout() {
        let day = NaiveDate::from_ymd_opt(2025, 1, 14).unwrap();
        assert_eq!(partition_key("raw/grid_data_2025-01-14.csv", day), "results/hourly/day=2025-01-14/grid_data_2025-01-14.json.gz");
        assert_eq!(partition_key("raw/site/a.jsonl.gz", day), "results/hourly/day=2025-01-14/site%2Fa.json.gz");
        assert_eq!(partition_key("raw/_x.csv", day), "results/hourly/day=2025-01-14/%5Fx.json.gz");
        assert_eq!(day_prefix(day), "results/hourly/day=2025-01-14/");
    }
}
