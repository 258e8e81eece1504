//! The Lambda's fan-out of a large object: split by substation into shards, each analysed by
//! an invocation of its own, and merged back (the fan-in) into what one pass gives.
//!
//! One invocation cannot finish a 10 GB object inside Lambda's 900 s: what costs is the
//! DynamoDB writes (one item per substation-hour), not reading. So the object is split by
//! substation, the way the sharded engine splits it over cores within one process
//! ([`crate::analysis::sharded`]): each shard reads the whole object but analyses and
//! stores only its substations' rows. Every substation's hours, alarm episodes (with their
//! delays and deadbands across the whole file), checkpoints, forecast and summary are then
//! exactly those of one pass; splitting by byte ranges instead would cut alarm episodes and
//! the reorder window at every range boundary, and the ranges would have to run one after
//! the other to chain their alarm state.
//!
//! 1. The `raw/` event of an object larger than the shard size writes one *order* per shard:
//!    an object whose key says everything —
//!    `work/<key under raw/>/<version>/shard-0003-of-0016.order.json` (its small JSON body
//!    repeats it for people; it is never read) — and whose creation invokes the Lambda again
//!    (a second S3 notification, on `work/` and `.order.json`).
//! 2. Each order's invocation runs the recipe on its shard ([`super::recipe::Recipe::process_shard`])
//!    and stores its *part* of the results beside the order: the shard's report, its
//!    rejected rows, and the counts the fan-in needs.
//! 3. The invocation that finds every part stored merges them: the results JSON and the
//!    rejected rows at their usual keys, and the file's own data-quality alarm (it needs
//!    every shard's counts). Two shards finishing together may both merge; they write the
//!    same bytes. S3's list is strongly consistent, so the last part stored is always seen
//!    by the shard that stored it.
//!
//! The version (the raw object's ETag) keeps the parts of two uploads of one key apart.

use crate::analysis::ingest::ShardFilter;
use crate::model::FileReport;
use serde::{Deserialize, Serialize};

pub use super::object_keys::WORK_PREFIX;
/// The suffix of an order (what the second S3 notification filters on).
pub const ORDER_SUFFIX: &str = ".order.json";
const PART_SUFFIX: &str = ".part.json";
const REJECTED_SUFFIX: &str = ".rejected.csv";
/// At most this many shards: each reads the whole object, so more would cost more reading
/// than it saves writing (and four-digit numbers keep the keys in order).
pub const MAX_SHARDS: usize = 1_000;

/// One shard of one version of a raw object: what an order names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardOrder {
    /// The raw object's key (`raw/...`).
    pub key: String,
    /// The raw object's version (its ETag, letters, digits and `-` only).
    pub version: String,
    pub index: usize,
    pub count: usize,
}

/// How many shards an object of `bytes` gets with shards of `shard_bytes`: one (no fan-out)
/// up to that size, at most [`MAX_SHARDS`].
pub fn shard_count(bytes: u64, shard_bytes: u64) -> usize {
    if shard_bytes == 0 || bytes <= shard_bytes {
        return 1;
    }
    (bytes.div_ceil(shard_bytes) as usize).min(MAX_SHARDS)
}

/// An ETag as a key segment: its letters, digits and `-` (S3's ETags are hex, with a part
/// count after a `-` for multipart uploads); `unversioned` when nothing is left.
pub fn version_segment(etag: &str) -> String {
    let kept: String = etag.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-').take(80).collect();
    if kept.is_empty() { "unversioned".into() } else { kept }
}

impl ShardOrder {
    /// The orders of every shard of an object.
    pub fn all(key: &str, etag: &str, count: usize) -> Vec<ShardOrder> {
        let version = version_segment(etag);
        (0..count.max(1)).map(|index| ShardOrder { key: key.to_string(), version: version.clone(), index, count: count.max(1) }).collect()
    }

    pub fn filter(&self) -> ShardFilter {
        ShardFilter::new(self.index, self.count)
    }

    /// `work/<key under raw/>/<version>/`: the orders and parts of this version.
    pub fn folder(&self) -> String {
        let rel = self.key.strip_prefix(super::object_keys::RAW_PREFIX).unwrap_or(&self.key);
        format!("{WORK_PREFIX}{rel}/{}/", self.version)
    }

    fn name(&self) -> String {
        format!("shard-{:04}-of-{:04}", self.index, self.count)
    }

    pub fn order_key(&self) -> String {
        format!("{}{}{ORDER_SUFFIX}", self.folder(), self.name())
    }

    pub fn part_key(&self) -> String {
        format!("{}{}{PART_SUFFIX}", self.folder(), self.name())
    }

    pub fn rejected_part_key(&self) -> String {
        format!("{}{}{REJECTED_SUFFIX}", self.folder(), self.name())
    }

    /// The part keys of every shard among `keys` (a listing of [`Self::folder`]).
    pub fn parts_among<'a>(&self, keys: &'a [String]) -> Vec<&'a String> {
        let wanted: std::collections::BTreeSet<String> =
            (0..self.count).map(|index| ShardOrder { index, ..self.clone() }.part_key()).collect();
        keys.iter().filter(|k| wanted.contains(k.as_str())).collect()
    }

    /// Reads an order back from its key; `None` for any other key.
    pub fn from_order_key(order_key: &str) -> Option<ShardOrder> {
        let rest = order_key.strip_prefix(WORK_PREFIX)?.strip_suffix(ORDER_SUFFIX)?;
        let (folder, name) = rest.rsplit_once('/')?;
        let (rel, version) = folder.rsplit_once('/')?;
        let (index, count) = name.strip_prefix("shard-")?.split_once("-of-")?;
        let all_digits = |s: &str| s.len() == 4 && s.bytes().all(|b| b.is_ascii_digit());
        if !all_digits(index) || !all_digits(count) || rel.is_empty() || version != version_segment(version) {
            return None;
        }
        let (index, count): (usize, usize) = (index.parse().ok()?, count.parse().ok()?);
        if index >= count || count > MAX_SHARDS {
            return None;
        }
        let order = ShardOrder { key: format!("{}{rel}", super::object_keys::RAW_PREFIX), version: version.to_string(), index, count };
        (order.order_key() == order_key).then_some(order)
    }
}

/// What a shard stores for the fan-in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardPart {
    pub order: ShardOrder,
    /// The shard's report, forecasts attached, no file alarm.
    pub report: FileReport,
    /// The shard's first reading (Unix seconds): the file alarm's identity is the file's.
    pub first_reading: Option<i64>,
    pub rollups_written: u64,
    pub alarms: u64,
    /// Rejected rows counted but not listed in the shard's rejected part (past its cap).
    pub rejected_left_out: u64,
    /// Whether the shard rejected any row (then its rejected part is stored).
    pub has_rejected: bool,
    /// The Athena copy's objects the shard stored.
    pub athena_keys: Vec<String>,
}

/// The report of the whole file from every shard's: counts added, substations and
/// forecasts in name order (each shard's are), the first reading of all. The file's own
/// alarm is not in it (see [`crate::analysis::engine::file_alarm`]).
pub fn merge_reports(parts: &[ShardPart]) -> Option<(FileReport, Option<i64>)> {
    let mut parts = parts.iter();
    let first = parts.next()?;
    let mut report = first.report.clone();
    let mut first_reading = first.first_reading;
    for part in parts {
        let r = &part.report;
        report.rows_read += r.rows_read;
        report.rows_accepted += r.rows_accepted;
        report.rows_rejected += r.rows_rejected;
        report.file_error = report.file_error.take().or_else(|| r.file_error.clone());
        if report.format.is_empty() {
            report.format = r.format.clone();
        }
        report.locations.extend(r.locations.iter().cloned());
        report.forecasts.extend(r.forecasts.iter().cloned());
        first_reading = crate::analysis::engine::earliest(first_reading, part.first_reading);
    }
    report.locations.sort_by(|a, b| a.location.cmp(&b.location));
    // Stable: each substation's points stay in time order.
    report.forecasts.sort_by(|a, b| a.location.cmp(&b.location));
    report.file_alerts.clear();
    Some((report, first_reading))
}

/// The rejected rows of every shard, merged in line order into one spool (its cap applies
/// again; `left_out` rows of the parts were counted but never listed). Each part is a
/// rejected-rows CSV in line order; its closing note (no line number) is dropped.
#[cfg(any(feature = "local", feature = "aws-core"))]
pub fn merge_rejected(parts: Vec<Box<dyn std::io::Read + Send>>, left_out: u64) -> anyhow::Result<super::rejected::RejectedSpool> {
    use crate::model::RejectedRow;
    use std::cmp::Reverse;
    let mut readers: Vec<csv::StringRecordsIntoIter<Box<dyn std::io::Read + Send>>> =
        parts.into_iter().map(|p| csv::ReaderBuilder::new().has_headers(true).from_reader(p).into_records()).collect();
    let next = |reader: &mut csv::StringRecordsIntoIter<Box<dyn std::io::Read + Send>>| -> anyhow::Result<Option<RejectedRow>> {
        for record in reader.by_ref() {
            let record = record?;
            let Some(line) = record.get(0).and_then(|l| l.parse::<u64>().ok()) else { continue };
            let text = |i: usize| record.get(i).unwrap_or_default().to_string();
            return Ok(Some(RejectedRow { line, field: text(1), reason: text(2), raw: text(3) }));
        }
        Ok(None)
    };
    let mut heads = std::collections::BinaryHeap::new();
    let mut pending: Vec<Option<RejectedRow>> = Vec::with_capacity(readers.len());
    for (i, reader) in readers.iter_mut().enumerate() {
        let row = next(reader)?;
        if let Some(row) = &row {
            heads.push(Reverse((row.line, i)));
        }
        pending.push(row);
    }
    let mut spool = super::rejected::RejectedSpool::with_left_out(left_out);
    while let Some(Reverse((_, i))) = heads.pop() {
        if let Some(row) = pending[i].take() {
            spool.push(&row)?;
        }
        let row = next(&mut readers[i])?;
        if let Some(row) = &row {
            heads.push(Reverse((row.line, i)));
        }
        pending[i] = row;
    }
    Ok(spool)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_read_back_from_their_keys_and_nothing_else_does() {
        for order in ShardOrder::all("raw/2025/01/grid data.csv.gz", "\"9b2cf535f27731c974343645a3985328-3\"", 16) {
            assert_eq!(ShardOrder::from_order_key(&order.order_key()).as_ref(), Some(&order));
            assert!(order.order_key().starts_with("work/2025/01/grid data.csv.gz/9b2cf535f27731c974343645a3985328-3/shard-"));
            assert_eq!(ShardOrder::from_order_key(&order.part_key()), None);
        }
        for bad in [
            "work/x.csv/v/shard-0016-of-0016.order.json",
            "work/x.csv/v/shard-0001-of-1001.order.json",
            "work/x.csv/v/shard-1-of-2.order.json",
            "work/v/shard-0001-of-0002.order.json",
            "work/x.csv/v.w/shard-0001-of-0002.order.json",
            "raw/x.csv/v/shard-0001-of-0002.order.json",
        ] {
            assert_eq!(ShardOrder::from_order_key(bad), None, "{bad}");
        }
    }

    #[test]
    fn shard_counts_grow_with_the_object() {
        assert_eq!(shard_count(0, 100), 1);
        assert_eq!(shard_count(100, 100), 1);
        assert_eq!(shard_count(101, 100), 2);
        assert_eq!(shard_count(10_000_000_000, 160_000_000), 63);
        assert_eq!(shard_count(u64::MAX, 1), MAX_SHARDS);
        assert_eq!(shard_count(5, 0), 1);
        assert_eq!(version_segment("\"\""), "unversioned");
    }

    #[test]
    fn the_parts_of_a_version_are_told_apart_from_the_others() {
        let orders = ShardOrder::all("raw/a.csv", "v1", 3);
        let mut keys: Vec<String> = orders.iter().map(ShardOrder::part_key).collect();
        keys.extend(ShardOrder::all("raw/a.csv", "v0", 3).iter().map(ShardOrder::part_key));
        keys.extend(ShardOrder::all("raw/a.csv", "v1", 4).iter().map(ShardOrder::part_key));
        keys.push(orders[0].order_key());
        keys.push(orders[0].rejected_part_key());
        assert_eq!(orders[1].parts_among(&keys).len(), 3);
        assert_eq!(orders[1].parts_among(&keys[1..]).len(), 2);
    }

    #[test]
    fn rejected_parts_merge_in_line_order_under_one_cap() {
        use std::io::Read;
        let part = |lines: &[u64]| -> Box<dyn Read + Send> {
            let mut spool = super::super::rejected::RejectedSpool::default();
            for &line in lines {
                let row = crate::model::RejectedRow { line, field: "load_mw".into(), reason: "bad, \"quoted\"".into(), raw: format!("r{line}") };
                spool.push(&row).unwrap();
            }
            let mut text = Vec::new();
            spool.finish().unwrap().unwrap().reopen().unwrap().read_to_end(&mut text).unwrap();
            Box::new(std::io::Cursor::new(text))
        };
        let merged = merge_rejected(vec![part(&[2, 9, 10]), part(&[1, 5]), part(&[7])], 4).unwrap();
        let mut text = String::new();
        merged.finish().unwrap().unwrap().reopen().unwrap().read_to_string(&mut text).unwrap();
        let lines: Vec<&str> = text.lines().map(|l| l.split(',').next().unwrap()).collect();
        assert_eq!(lines, ["line", "1", "2", "5", "7", "9", "10", ""], "{text}");
        assert!(text.contains("4 more rejected rows are not listed"), "{text}");
    }
}
