//! Times on the command line: ISO-8601 (naive = UTC) or a date alone (midnight UTC).

use chrono::{DateTime, Utc};

pub fn parse_time(s: &str) -> Result<DateTime<Utc>, String> {
    if let Some(ts) = crate::analysis::ingest::parse_timestamp(s) {
        return Ok(ts);
    }
    chrono::NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
        .map(|d| d.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc())
        .map_err(|_| format!("cannot parse {s:?} as a date or ISO-8601 time"))
}

