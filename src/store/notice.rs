//! How the new alarms of one file are announced: one notification each, or one digest
//! when a file activates many at once or they come as a flood.

use crate::model::{Alert, Priority};
use std::collections::BTreeMap;

/// Many new alarms from one file, summarised in one notification.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Digest {
    pub source: String,
    pub alarms: usize,
    pub highest_priority: Priority,
    /// Whether the file's alarms came faster than the flood limit (per 10 min of data).
    pub flood: bool,
    /// (substation, rule) → new alarms.
    pub counts: BTreeMap<String, BTreeMap<String, usize>>,
}

/// How the new alarms of a file were announced.
#[derive(Debug, Clone, PartialEq)]
pub enum Announcement {
    None,
    /// One notification per alarm.
    Each(usize),
    /// One digest for all of them.
    Digest(Digest),
}

pub fn digest_of(alerts: &[&Alert], source: &str, flood: bool) -> Digest {
    let mut counts: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    for a in alerts {
        *counts.entry(a.location.clone()).or_default().entry(a.rule.to_string()).or_default() += 1;
    }
    Digest {
        source: source.to_string(),
        alarms: alerts.len(),
        highest_priority: alerts.iter().map(|a| a.priority).max().unwrap_or_default(),
        flood,
        counts,
    }
}

