//! Object keys of the bucket layout (`raw/`, `results/`, `rejected/`), shared by the
//! local folder bucket and S3, and validated so that no key can escape the data folder.

use std::fmt;

pub const RAW_PREFIX: &str = "raw/";
pub const RESULTS_PREFIX: &str = "results/";
pub const REJECTED_PREFIX: &str = "rejected/";
/// The orders and parts of fanned-out objects ([`super::fanout`]).
pub const WORK_PREFIX: &str = "work/";

/// Refuses to delete anything but derived data (`results/`, `rejected/`, `work/`): raw data
/// is never deleted. Both buckets check it before a delete.
pub fn ensure_derived(key: &str) -> anyhow::Result<()> {
    let derived = [RESULTS_PREFIX, REJECTED_PREFIX, WORK_PREFIX].iter().any(|prefix| key.starts_with(prefix));
    anyhow::ensure!(derived, "refusing to delete {key}: only derived objects (results/, rejected/, work/) are ever deleted");
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct KeyError {
    pub key: String,
    pub reason: &'static str,
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid object key {:?}: {}", crate::sanitize::sanitize_for_terminal(&self.key), self.reason)
    }
}

/// Accepts relative `/`-separated keys made of ordinary path segments.
/// Rejects empty keys, absolute paths, `..`/`.` segments, empty segments, backslashes,
/// drive prefixes and control characters.
pub fn validate_key(key: &str) -> Result<(), KeyError> {
    let err = |reason| Err(KeyError { key: key.to_string(), reason });
    if key.is_empty() {
        return err("the key is empty");
    }
    if key.len() > 1024 {
        return err("the key is longer than 1024 bytes");
    }
    if key.starts_with('/') {
        return err("absolute paths are not allowed");
    }
    if key.contains('\\') {
        return err("backslashes are not allowed");
    }
    if key.chars().any(char::is_control) {
        return err("control characters are not allowed");
    }
    if key.contains(':') && key.split('/').next().is_some_and(|s| s.len() == 2 && s.ends_with(':')) {
        return err("drive prefixes are not allowed");
    }
    for segment in key.split('/') {
        match segment {
            "" => return err("empty path segments are not allowed"),
            "." | ".." => return err("`.` and `..` segments are not allowed"),
            _ => {}
        }
    }
    Ok(())
}

/// The file name part of a key without its data extensions:
/// `raw/2025/grid_data_2025-01-14.csv.gz` → `grid_data_2025-01-14`.
pub fn stem(key: &str) -> &str {
    let name = key.rsplit('/').next().unwrap_or(key);
    let mut stem = name;
    for ext in [".gz", ".csv", ".jsonl", ".ndjson", ".json", ".txt"] {
        if let Some(s) = stem.strip_suffix(ext) {
            stem = s;
        }
    }
    if stem.is_empty() { name } else { stem }
}

/// `raw/a/b/grid.csv` → `a/b/grid` (the part under `raw/`, without extensions), so that
/// results of `raw/x/grid.csv` and `raw/y/grid.csv` do not overwrite each other.
fn relative_stem(raw_key: &str) -> String {
    let rel = raw_key.strip_prefix(RAW_PREFIX).unwrap_or(raw_key);
    match rel.rsplit_once('/') {
        Some((dir, _)) => format!("{dir}/{}", stem(rel)),
        None => stem(rel).to_string(),
    }
}

/// `raw/grid_data_2025-01-14.csv` → `results/grid_data_2025-01-14_analysis.json` (the seed's layout).
pub fn results_key(raw_key: &str) -> String {
    format!("{RESULTS_PREFIX}{}_analysis.json", relative_stem(raw_key))
}

/// `raw/grid_data_2025-01-14.csv` → `results/athena-objects/grid_data_2025-01-14.json`: the
/// list of the Athena copy's objects of the raw object's newest analysis, so the next one
/// removes those it does not write again (a shorter new version, a version split into
/// shards). Outside `results/hourly/`, where Athena reads every object as data.
pub fn athena_manifest_key(raw_key: &str) -> String {
    format!("{RESULTS_PREFIX}athena-objects/{}.json", relative_stem(raw_key))
}

/// `raw/grid_data_2025-01-14.csv` → `rejected/grid_data_2025-01-14.csv`.
pub fn rejected_key(raw_key: &str) -> String {
    format!("{REJECTED_PREFIX}{}.csv", relative_stem(raw_key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_escapes() {
        for bad in ["", "/etc/passwd", "../x", "raw/../../x", "raw//x", "raw/./x", "a\\b", "C:/x", "raw/\u{0}x", "raw/x/.."] {
            assert!(validate_key(bad).is_err(), "{bad:?} should be rejected");
        }
        for good in ["raw/grid.csv", "raw/2025/01/grid data.csv.gz", "results/x_analysis.json", "raw/..hidden"] {
            assert!(validate_key(good).is_ok(), "{good:?} should be accepted");
        }
    }

    #[test]
    fn derives_seed_layout_keys() {
        assert_eq!(results_key("raw/grid_data_2025-01-14.csv"), "results/grid_data_2025-01-14_analysis.json");
        assert_eq!(rejected_key("raw/grid_data_2025-01-14.csv.gz"), "rejected/grid_data_2025-01-14.csv");
        assert_eq!(results_key("raw/site/a.jsonl"), "results/site/a_analysis.json");
        assert_eq!(stem("raw/.csv"), ".csv");
    }
}
