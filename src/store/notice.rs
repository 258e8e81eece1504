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
    let mut digest = DigestBuilder::default();
    for a in alerts {
        digest.push(a);
    }
    digest.finish(source, flood)
}

/// A [`Digest`] made one alarm at a time (a file's alarms are read back in batches).
#[derive(Debug, Default)]
pub struct DigestBuilder {
    alarms: usize,
    highest_priority: Priority,
    counts: BTreeMap<String, BTreeMap<String, usize>>,
}

impl DigestBuilder {
    pub fn push(&mut self, a: &Alert) {
        self.alarms += 1;
        self.highest_priority = self.highest_priority.max(a.priority);
        *self.counts.entry(a.location.clone()).or_default().entry(a.rule.to_string()).or_default() += 1;
    }

    pub fn len(&self) -> usize {
        self.alarms
    }

    pub fn is_empty(&self) -> bool {
        self.alarms == 0
    }

    pub fn finish(self, source: &str, flood: bool) -> Digest {
        Digest { source: source.to_string(), alarms: self.alarms, highest_priority: self.highest_priority, flood, counts: self.counts }
    }
}

