//! DynamoDB items of the `GridAnalysis` table (see [`crate::store::items`] for the key design).
//!
//! Every item has `location` (partition key), `timestamp` (sort key) and `kind`
//! (`rollup`, `forecast`, `alert`, `index`). Rollups carry the seed's attribute names
//! (`load_avg_mw`, `load_peak_mw`, `renewable_penetration`, `voltage_avg_kv`,
//! `frequency_avg_hz`, `stability_score`, `efficiency_score`, `alert_status`) plus the
//! rest of [`HourlyRollup`] under its field names.
//!
//! The sparse GSI [`STATUS_INDEX`] is keyed on `status_key` / `status_ts`, attributes
//! that only non-normal items carry:
//! - a warning/critical rollup: `status_key` = `warning` | `critical`, `status_ts` = hour,
//! - an alert episode: `status_key` = `alert`, `status_ts` = `ended_at`.
//!
//! Normal hours (nearly all of them) are not in the index, so "hours with status X" and
//! "alerts still active since T" are one Query each on a small index.

use crate::store::items;
use crate::model::{format_ts, Alert, AlertRule, AlertStatus, ForecastPoint, HourlyRollup, Priority, SubstationState};
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

pub type Item = HashMap<String, AttributeValue>;

pub const PK: &str = "location";
pub const SK: &str = "timestamp";
pub const STATUS_INDEX: &str = "status-index";
pub const STATUS_KEY: &str = "status_key";
pub const STATUS_TS: &str = "status_ts";
/// `status_key` of alert episodes in the sparse index.
pub const ALERT_STATUS_KEY: &str = "alert";
/// DynamoDB's time-to-live attribute (epoch seconds): alarm checkpoints expire.
pub const TTL_ATTRIBUTE: &str = "expires_at";

/// An item that does not have the expected shape.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
#[error("item ({location}, {sort_key}): attribute {attribute:?}: {reason}")]
pub struct ItemError {
    pub location: String,
    pub sort_key: String,
    pub attribute: String,
    pub reason: String,
}

pub fn item_size(item: &Item) -> usize {
    fn value_size(v: &AttributeValue) -> usize {
        match v {
            AttributeValue::S(s) | AttributeValue::N(s) => s.len(),
            AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
            AttributeValue::L(l) => 3 + l.iter().map(|v| 1 + value_size(v)).sum::<usize>(),
            AttributeValue::M(m) => 3 + m.iter().map(|(k, v)| 1 + k.len() + value_size(v)).sum::<usize>(),
            AttributeValue::Ss(l) | AttributeValue::Ns(l) => l.iter().map(String::len).sum(),
            _ => 0,
        }
    }
    item.iter().map(|(k, v)| k.len() + value_size(v)).sum()
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

/// A number as DynamoDB wants it: shortest round-trip text, exponent form for very large
/// or small magnitudes (DynamoDB keeps 38 significant digits). Non-finite values, which
/// DynamoDB cannot store, become NULL and read back as NaN.
pub fn num(v: f64) -> AttributeValue {
    if !v.is_finite() {
        return AttributeValue::Null(true);
    }
    let a = v.abs();
    if v == 0.0 || (1e-6..1e15).contains(&a) { AttributeValue::N(format!("{v}")) } else { AttributeValue::N(format!("{v:e}")) }
}

/// serde_dynamo writes a float with `Display` (`NaN`, `inf`, 301 digits for 1e300), which
/// DynamoDB rejects; such numbers are rewritten by [`num`]. Integer texts (every u64 and
/// every integral float below 1e15) are already what `num` writes and stay as they are.
fn storable_numbers(v: &mut AttributeValue) {
    match v {
        AttributeValue::N(text) if text.parse::<u64>().is_err() => {
            if let Ok(x) = text.parse::<f64>() {
                *v = num(x);
            }
        }
        AttributeValue::M(m) => m.values_mut().for_each(storable_numbers),
        AttributeValue::L(l) => l.iter_mut().for_each(storable_numbers),
        _ => {}
    }
}

/// The attributes of a model value under its serde field names.
fn to_attrs<T: Serialize>(value: &T) -> Item {
    // Structs of strings, numbers, lists and enums always map to an item.
    let mut item = serde_dynamo::aws_sdk_dynamodb_1::to_item(value).expect("a model struct maps to an item");
    item.values_mut().for_each(storable_numbers);
    item
}

/// Reads a model value from attributes under its serde field names; NULL numbers are NaN.
fn from_attrs<T: DeserializeOwned>(item: &Item) -> Result<T, ItemError> {
    let mut attrs = item.clone();
    for v in attrs.values_mut() {
        if matches!(v, AttributeValue::Null(true)) {
            *v = AttributeValue::N("NaN".into());
        }
    }
    let map = serde_dynamo::AttributeValue::M(serde_dynamo::Item::from(attrs).into_inner());
    serde_path_to_error::deserialize(serde_dynamo::Deserializer::from_attribute_value(map)).map_err(|e| {
        let (location, sort_key) = key_of(item);
        let reason = e.inner().to_string();
        // serde reports a missing field at the struct and names it only in its message.
        let (attribute, reason) = match reason.strip_prefix("missing field `").and_then(|r| r.strip_suffix('`')) {
            Some(field) => (field.to_string(), "missing".to_string()),
            None => (e.path().to_string(), reason),
        };
        ItemError { location, sort_key, attribute, reason }
    })
}

fn whole_seconds<S: serde::Serializer>(t: &DateTime<Utc>, ser: S) -> Result<S::Ok, S::Error> {
    ser.serialize_str(&format_ts(*t))
}

fn key_of(item: &Item) -> (String, String) {
    let get = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).cloned().unwrap_or_else(|| "?".into());
    (get(PK), get(SK))
}

/// Typed access to single attributes (projections, keys), with errors naming the item
/// and the attribute.
pub struct Reader<'a> {
    item: &'a Item,
}

impl<'a> Reader<'a> {
    pub fn new(item: &'a Item) -> Self {
        Self { item }
    }
    fn err(&self, attribute: &str, reason: impl Into<String>) -> ItemError {
        let (location, sort_key) = key_of(self.item);
        ItemError { location, sort_key, attribute: attribute.into(), reason: reason.into() }
    }
    fn get(&self, name: &str) -> Result<&'a AttributeValue, ItemError> {
        self.item.get(name).ok_or_else(|| self.err(name, "missing"))
    }
    pub fn str(&self, name: &str) -> Result<&'a str, ItemError> {
        match self.get(name)? {
            AttributeValue::S(v) => Ok(v),
            _ => Err(self.err(name, "expected a string")),
        }
    }
    pub fn f64(&self, name: &str) -> Result<f64, ItemError> {
        match self.get(name)? {
            AttributeValue::N(v) => v.parse().map_err(|_| self.err(name, format!("bad number {v:?}"))),
            AttributeValue::Null(_) => Ok(f64::NAN),
            _ => Err(self.err(name, "expected a number")),
        }
    }
    pub fn time(&self, name: &str) -> Result<DateTime<Utc>, ItemError> {
        let text = self.str(name)?;
        DateTime::parse_from_rfc3339(text)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| self.err(name, format!("bad time {text:?}: {e}")))
    }
    pub fn map(&self, name: &str) -> Result<&'a Item, ItemError> {
        match self.get(name)? {
            AttributeValue::M(m) => Ok(m),
            _ => Err(self.err(name, "expected a map")),
        }
    }
}

/// The item of one hourly rollup: [`HourlyRollup`]'s fields under their names (the Athena
/// columns too), the hour as sort key, and the sparse-index keys when not normal.
pub fn rollup_item(r: &HourlyRollup) -> Item {
    let mut item = to_attrs(r);
    item.insert(SK.into(), s(items::rollup_sort_key(r.timestamp)));
    item.insert("kind".into(), s("rollup"));
    if r.alert_status != AlertStatus::Normal {
        item.insert(STATUS_KEY.into(), s(r.alert_status.as_str()));
        item.insert(STATUS_TS.into(), s(format_ts(r.timestamp)));
    }
    item
}

/// Reads the `latest` map of an index item (a rollup without location and hour keys).
pub fn rollup_from(item: &Item, location: &str, timestamp: DateTime<Utc>) -> Result<HourlyRollup, ItemError> {
    let mut keyed = item.clone();
    keyed.insert(PK.into(), s(location));
    keyed.insert(SK.into(), s(format_ts(timestamp)));
    from_attrs(&keyed)
}

pub fn rollup_from_item(item: &Item) -> Result<HourlyRollup, ItemError> {
    from_attrs(item)
}

/// A substation's forecast as one item ([`items::FORECAST_KEY`]): `first_hour` and the hourly
/// loads from it in `load_mw`. One write unit (24 numbers are ~300 bytes) where an item per
/// hour cost 24, and 24 more to delete the hours the next forecast no longer has. The points
/// of a forecast are consecutive hours (`forecast::forecast_next_24h`); any after a gap are
/// not stored.
pub fn forecast_item(location: &str, points: &[ForecastPoint]) -> Option<Item> {
    let first = points.first()?.timestamp;
    let loads: Vec<AttributeValue> = points
        .iter()
        .enumerate()
        .take_while(|(i, p)| p.timestamp == first + chrono::Duration::hours(*i as i64))
        .map(|(_, p)| num(p.load_mw))
        .collect();
    Some(Item::from([
        (PK.into(), s(location)),
        (SK.into(), s(items::FORECAST_KEY)),
        ("kind".into(), s("forecast")),
        ("first_hour".into(), s(format_ts(first))),
        ("load_mw".into(), AttributeValue::L(loads)),
    ]))
}

/// The first hour of a stored forecast: of the one item, or of a per-hour item as versions
/// before it wrote them.
pub fn forecast_first_hour(item: &Item) -> Result<DateTime<Utc>, ItemError> {
    let r = Reader::new(item);
    if r.str(SK)? == items::FORECAST_KEY {
        return r.time("first_hour");
    }
    Ok(forecast_hour_from_item(item)?.timestamp)
}

/// The forecast stored under [`items::FORECAST_PREFIX`] in one partition, oldest first: the
/// one item when there is one, else per-hour items (written by versions before it).
pub fn forecast_from_items(items: &[Item]) -> Vec<ForecastPoint> {
    let is_whole = |i: &&Item| i.get(SK).and_then(|v| v.as_s().ok()).is_some_and(|sk| sk == items::FORECAST_KEY);
    if let Some(whole) = items.iter().find(is_whole) {
        return crate::store::unreadable::keep_readable("forecast", [whole_forecast(whole)]).into_iter().flatten().collect();
    }
    let mut points = crate::store::unreadable::keep_readable("forecast", items.iter().map(forecast_hour_from_item));
    points.sort_by_key(|p| p.timestamp);
    points
}

fn whole_forecast(item: &Item) -> Result<Vec<ForecastPoint>, ItemError> {
    let r = Reader::new(item);
    let (location, first) = (r.str(PK)?, r.time("first_hour")?);
    let AttributeValue::L(loads) = r.get("load_mw")? else { return Err(r.err("load_mw", "expected a list")) };
    loads
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let load_mw = match v {
                AttributeValue::N(text) => text.parse().map_err(|_| r.err("load_mw", format!("bad number {text:?}")))?,
                AttributeValue::Null(_) => f64::NAN,
                _ => return Err(r.err("load_mw", "expected numbers")),
            };
            Ok(ForecastPoint { location: location.to_string(), timestamp: first + chrono::Duration::hours(i as i64), load_mw })
        })
        .collect()
}

/// A per-hour forecast item (`F#<hour>`, `load_mw`), as versions before [`forecast_item`] wrote them.
pub fn forecast_hour_from_item(item: &Item) -> Result<ForecastPoint, ItemError> {
    let r = Reader::new(item);
    let sort_key = r.str(SK)?;
    let hour = sort_key.strip_prefix(items::FORECAST_PREFIX).ok_or_else(|| r.err(SK, "not a forecast key"))?;
    let timestamp =
        DateTime::parse_from_rfc3339(hour).map(|t| t.with_timezone(&Utc)).map_err(|e| r.err(SK, e.to_string()))?;
    Ok(ForecastPoint { location: r.str(PK)?.to_string(), timestamp, load_mw: r.f64("load_mw")? })
}

/// An alert item's attributes as stored: the status level is `alert_status` (as on rollups) beside the priority,
/// times are whole seconds (they are part of the key), the location is the partition key.
#[derive(Serialize, Deserialize)]
struct StoredAlert {
    #[serde(skip_serializing)]
    location: String,
    rule: AlertRule,
    priority: Priority,
    alert_status: AlertStatus,
    #[serde(serialize_with = "whole_seconds")]
    started_at: DateTime<Utc>,
    #[serde(serialize_with = "whole_seconds")]
    activated_at: DateTime<Utc>,
    #[serde(serialize_with = "whole_seconds")]
    ended_at: DateTime<Utc>,
    #[serde(default)]
    active: bool,
    worst_value: f64,
    threshold: f64,
    samples: u64,
    #[serde(default)]
    chattering: bool,
    #[serde(default, skip_serializing_if = "Option::is_none", serialize_with = "whole_seconds_opt")]
    shelved_until: Option<DateTime<Utc>>,
    message: String,
}

fn whole_seconds_opt<S: serde::Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => whole_seconds(t, s),
        None => s.serialize_none(),
    }
}

/// The data attributes of an alert item (without the key and without `notified_at`,
/// which only the notification step writes).
pub fn alert_data(a: &Alert) -> Item {
    let mut item = to_attrs(&StoredAlert {
        location: String::new(),
        rule: a.rule,
        priority: a.priority,
        alert_status: a.status(),
        started_at: a.started_at,
        activated_at: a.activated_at,
        ended_at: a.ended_at,
        active: a.active,
        worst_value: a.worst_value,
        threshold: a.threshold,
        samples: a.samples,
        chattering: a.chattering,
        shelved_until: a.shelved_until,
        message: a.message.clone(),
    });
    item.insert("kind".into(), s("alert"));
    item.insert(STATUS_KEY.into(), s(ALERT_STATUS_KEY));
    item.insert(STATUS_TS.into(), s(format_ts(a.ended_at)));
    item
}

pub fn alert_key(a: &Alert) -> Item {
    HashMap::from([(PK.into(), s(a.location.as_str())), (SK.into(), s(items::alert_sort_key(a)))])
}

pub fn alert_from_item(item: &Item) -> Result<Alert, ItemError> {
    let a: StoredAlert = from_attrs(item)?;
    Ok(Alert {
        location: a.location,
        rule: a.rule,
        priority: a.priority,
        started_at: a.started_at,
        activated_at: a.activated_at,
        ended_at: a.ended_at,
        active: a.active,
        worst_value: a.worst_value,
        threshold: a.threshold,
        samples: a.samples,
        chattering: a.chattering,
        shelved_until: a.shelved_until,
        message: a.message,
    })
}

/// An item whose content is one JSON document (alarm checkpoints, operator states): the
/// key, its kind, and `item`. Only the key is queried, so nothing else needs attributes.
pub fn json_item<T: serde::Serialize>(partition: &str, sort_key: &str, kind: &str, value: &T) -> Item {
    let mut item = Item::new();
    item.insert(PK.into(), s(partition));
    item.insert(SK.into(), s(sort_key));
    item.insert("kind".into(), s(kind));
    item.insert("item".into(), s(serde_json::to_string(value).unwrap_or_default()));
    item
}

pub fn json_from_item<T: serde::de::DeserializeOwned>(item: &Item) -> Result<T, ItemError> {
    let r = Reader::new(item);
    serde_json::from_str(r.str("item")?).map_err(|e| r.err("item", e.to_string()))
}

/// A stable fingerprint of what an index item says (not when it was written): a
/// re-delivered event with the same result leaves the item untouched.
pub fn state_hash(state: &SubstationState, bucket: &str) -> String {
    let text = serde_json::to_string(&(&state.latest, &state.last_reading, &state.source_key, bucket)).unwrap_or_default();
    // FNV-1a, 64 bit: stable across builds and platforms (std's hasher is not).
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// The index item of one substation: partition `#index`, sort key = location.
pub fn state_item(state: &SubstationState, bucket: &str) -> Item {
    let mut latest = to_attrs(&state.latest);
    latest.remove(PK);
    latest.remove(SK);
    latest.insert("hour".into(), s(format_ts(state.latest.timestamp)));
    let mut item = Item::new();
    item.insert(PK.into(), s(items::INDEX_PARTITION));
    item.insert(SK.into(), s(state.location.as_str()));
    item.insert("kind".into(), s("index"));
    item.insert("last_reading".into(), s(format_ts(state.last_reading)));
    item.insert("updated_at".into(), s(format_ts(state.updated_at)));
    item.insert("source_key".into(), s(state.source_key.as_str()));
    item.insert("source_bucket".into(), s(bucket));
    item.insert("alert_status".into(), s(state.latest.alert_status.as_str()));
    item.insert("state_hash".into(), s(state_hash(state, bucket)));
    item.insert("latest".into(), AttributeValue::M(latest));
    item
}

/// Reads an index item; also returns the bucket of its source object.
pub fn state_from_item(item: &Item) -> Result<(SubstationState, Option<String>), ItemError> {
    let r = Reader::new(item);
    let location = r.str(SK)?.to_string();
    let latest_map = r.map("latest")?;
    let hour = Reader::new(latest_map).time("hour").map_err(|e| ItemError { attribute: format!("latest.{}", e.attribute), ..e })?;
    let latest = rollup_from(latest_map, &location, hour).map_err(|e| ItemError {
        location: items::INDEX_PARTITION.into(),
        sort_key: location.clone(),
        attribute: format!("latest.{}", e.attribute),
        reason: e.reason,
    })?;
    let bucket = item.get("source_bucket").and_then(|v| v.as_s().ok()).cloned();
    Ok((
        SubstationState {
            location,
            last_reading: r.time("last_reading")?,
            latest,
            updated_at: r.time("updated_at")?,
            source_key: r.str("source_key")?.to_string(),
        },
        bucket,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rollup(status: AlertStatus) -> HourlyRollup {
        HourlyRollup {
            location: "sub 1".into(),
            timestamp: "2025-01-14T12:00:00Z".parse().unwrap(),
            count: 4,
            load_avg_mw: 12.5,
            load_min_mw: 10.0,
            load_peak_mw: 15.25,
            generation_avg_mw: 14.0,
            solar_avg_mw: 1.0,
            wind_avg_mw: 2.0,
            renewable_penetration: 0.2142857142857143,
            voltage_avg_kv: 13.8,
            voltage_min_kv: 13.7,
            voltage_max_kv: 13.9,
            frequency_avg_hz: 60.0,
            frequency_min_hz: 59.99,
            frequency_max_hz: 60.01,
            frequency_max_dev_hz: 0.01,
            power_factor_avg: 0.95,
            power_factor_defaulted: 4,
            stability_score: 0.999,
            efficiency_score: 0.9,
            alert_status: status,
            alert_reasons: vec!["voltage 13.2 kV below 13.5".into()],
        }
    }

    #[test]
    fn rollups_round_trip_and_only_non_normal_ones_enter_the_index() {
        let r = rollup(AlertStatus::Normal);
        let item = rollup_item(&r);
        assert!(!item.contains_key(STATUS_KEY));
        assert_eq!(rollup_from_item(&item).unwrap(), r);
        let c = rollup(AlertStatus::Critical);
        let item = rollup_item(&c);
        assert_eq!(item[STATUS_KEY], AttributeValue::S("critical".into()));
        assert_eq!(rollup_from_item(&item).unwrap(), c);
    }

    #[test]
    fn numbers_dynamodb_accepts() {
        assert_eq!(num(13.8), AttributeValue::N("13.8".into()));
        assert_eq!(num(0.0), AttributeValue::N("0".into()));
        assert_eq!(num(1e300), AttributeValue::N("1e300".into()));
        assert_eq!(num(-2.5e-9), AttributeValue::N("-2.5e-9".into()));
        assert_eq!(num(f64::NAN), AttributeValue::Null(true));
        for v in [1e300, -2.5e-9, 0.1 + 0.2] {
            let AttributeValue::N(text) = num(v) else { panic!() };
            assert_eq!(text.parse::<f64>().unwrap(), v);
        }
    }

    #[test]
    fn index_items_round_trip_and_hash_ignores_write_time() {
        let state = SubstationState {
            location: "sub 1".into(),
            last_reading: "2025-01-14T12:45:00Z".parse().unwrap(),
            latest: rollup(AlertStatus::Warning),
            updated_at: "2025-01-15T00:00:00Z".parse().unwrap(),
            source_key: "raw/a.csv".into(),
        };
        let item = state_item(&state, "bucket");
        let (back, bucket) = state_from_item(&item).unwrap();
        assert_eq!(back, state);
        assert_eq!(bucket.as_deref(), Some("bucket"));
        let later = SubstationState { updated_at: Utc::now(), ..state.clone() };
        assert_eq!(state_hash(&state, "bucket"), state_hash(&later, "bucket"));
    }

    fn n(text: &str) -> AttributeValue {
        AttributeValue::N(text.into())
    }

    fn st(text: &str) -> AttributeValue {
        AttributeValue::S(text.into())
    }

    /// The rollup attributes every rollup item (and the `latest` map of an index item)
    /// carries for [`rollup`], written out by hand: names, types and texts as stored.
    fn pinned_rollup_attrs(status: &str) -> Item {
        Item::from([
            ("count".into(), n("4")),
            ("load_avg_mw".into(), n("12.5")),
            ("load_min_mw".into(), n("10")),
            ("load_peak_mw".into(), n("15.25")),
            ("generation_avg_mw".into(), n("14")),
            ("solar_avg_mw".into(), n("1")),
            ("wind_avg_mw".into(), n("2")),
            ("renewable_penetration".into(), n("0.2142857142857143")),
            ("voltage_avg_kv".into(), n("13.8")),
            ("voltage_min_kv".into(), n("13.7")),
            ("voltage_max_kv".into(), n("13.9")),
            ("frequency_avg_hz".into(), n("60")),
            ("frequency_min_hz".into(), n("59.99")),
            ("frequency_max_hz".into(), n("60.01")),
            ("frequency_max_dev_hz".into(), n("0.01")),
            ("power_factor_avg".into(), n("0.95")),
            ("power_factor_defaulted".into(), n("4")),
            ("stability_score".into(), n("0.999")),
            ("efficiency_score".into(), n("0.9")),
            ("alert_status".into(), st(status)),
            ("alert_reasons".into(), AttributeValue::L(vec![st("voltage 13.2 kV below 13.5")])),
        ])
    }

    fn with(mut item: Item, extra: &[(&str, AttributeValue)]) -> Item {
        for (k, v) in extra {
            item.insert((*k).into(), v.clone());
        }
        item
    }

    #[test]
    fn rollup_items_keep_their_stored_layout() {
        let key = [("location", st("sub 1")), ("timestamp", st("2025-01-14T12:00:00Z")), ("kind", st("rollup"))];
        assert_eq!(rollup_item(&rollup(AlertStatus::Normal)), with(pinned_rollup_attrs("normal"), &key));
        let status = [("status_key", st("warning")), ("status_ts", st("2025-01-14T12:00:00Z"))];
        assert_eq!(rollup_item(&rollup(AlertStatus::Warning)), with(with(pinned_rollup_attrs("warning"), &key), &status));
    }

    #[test]
    fn extreme_numbers_keep_their_stored_text() {
        let r = HourlyRollup {
            load_avg_mw: 1e300,
            load_min_mw: -2.5e-9,
            load_peak_mw: f64::NAN,
            generation_avg_mw: f64::INFINITY,
            solar_avg_mw: -0.0,
            wind_avg_mw: 0.1 + 0.2,
            count: u64::MAX,
            alert_reasons: Vec::new(),
            ..rollup(AlertStatus::Normal)
        };
        let item = rollup_item(&r);
        assert_eq!(item["load_avg_mw"], n("1e300"));
        assert_eq!(item["load_min_mw"], n("-2.5e-9"));
        assert_eq!(item["load_peak_mw"], AttributeValue::Null(true));
        assert_eq!(item["generation_avg_mw"], AttributeValue::Null(true));
        assert_eq!(item["solar_avg_mw"], n("-0"));
        assert_eq!(item["wind_avg_mw"], n("0.30000000000000004"));
        assert_eq!(item["count"], n("18446744073709551615"));
        assert_eq!(item["alert_reasons"], AttributeValue::L(Vec::new()));
        let back = rollup_from_item(&item).unwrap();
        assert!(back.load_peak_mw.is_nan() && back.generation_avg_mw.is_nan());
        assert_eq!((back.load_avg_mw, back.load_min_mw, back.count), (1e300, -2.5e-9, u64::MAX));
    }

    #[test]
    fn forecast_alert_and_index_items_keep_their_stored_layout() {
        let first: DateTime<Utc> = "2025-01-15T03:00:00Z".parse().unwrap();
        let points: Vec<ForecastPoint> = [41.5, 40.25, 39.0]
            .iter()
            .enumerate()
            .map(|(h, &load_mw)| ForecastPoint { location: "sub 1".into(), timestamp: first + chrono::Duration::hours(h as i64), load_mw })
            .collect();
        let expected = Item::from([
            ("location".into(), st("sub 1")),
            ("timestamp".into(), st("F#next")),
            ("kind".into(), st("forecast")),
            ("first_hour".into(), st("2025-01-15T03:00:00Z")),
            ("load_mw".into(), AttributeValue::L(vec![n("41.5"), n("40.25"), n("39")])),
        ]);
        assert_eq!(forecast_item("sub 1", &points), Some(expected.clone()));
        assert_eq!(forecast_first_hour(&expected).unwrap(), first);
        // The one item wins over per-hour items of an older version in the same partition.
        let legacy = Item::from([
            ("location".into(), st("sub 1")),
            ("timestamp".into(), st("F#2025-01-14T03:00:00Z")),
            ("kind".into(), st("forecast")),
            ("load_mw".into(), n("7")),
        ]);
        assert_eq!(forecast_from_items(&[legacy.clone(), expected]), points);
        assert_eq!(forecast_from_items(std::slice::from_ref(&legacy))[0].load_mw, 7.0);
        assert_eq!(forecast_first_hour(&legacy).unwrap(), first - chrono::Duration::days(1));
        // An hour after a gap is not stored.
        let gap = [points[0].clone(), ForecastPoint { timestamp: first + chrono::Duration::hours(5), ..points[1].clone() }];
        assert_eq!(forecast_item("sub 1", &gap).unwrap()["load_mw"], AttributeValue::L(vec![n("41.5")]));
        assert_eq!(forecast_item("sub 1", &[]), None);

        let a = Alert {
            location: "sub 1".into(),
            rule: AlertRule::FrequencyDeviation,
            priority: Priority::High,
            started_at: "2025-01-14T12:15:00Z".parse().unwrap(),
            activated_at: "2025-01-14T12:30:00Z".parse().unwrap(),
            ended_at: "2025-01-14T12:45:00Z".parse().unwrap(),
            active: true,
            worst_value: 0.62,
            threshold: 0.5,
            samples: 3,
            chattering: true,
            shelved_until: Some("2025-01-15T00:30:00Z".parse().unwrap()),
            message: "frequency 60.62 Hz".into(),
        };
        let data = Item::from([
            ("kind".into(), st("alert")),
            ("rule".into(), st("frequency_deviation")),
            ("priority".into(), st("high")),
            ("alert_status".into(), st("critical")),
            ("started_at".into(), st("2025-01-14T12:15:00Z")),
            ("activated_at".into(), st("2025-01-14T12:30:00Z")),
            ("ended_at".into(), st("2025-01-14T12:45:00Z")),
            ("active".into(), AttributeValue::Bool(true)),
            ("worst_value".into(), n("0.62")),
            ("threshold".into(), n("0.5")),
            ("samples".into(), n("3")),
            ("chattering".into(), AttributeValue::Bool(true)),
            ("shelved_until".into(), st("2025-01-15T00:30:00Z")),
            ("message".into(), st("frequency 60.62 Hz")),
            ("status_key".into(), st("alert")),
            ("status_ts".into(), st("2025-01-14T12:45:00Z")),
        ]);
        assert_eq!(alert_data(&a), data);
        let key = Item::from([
            ("location".into(), st("sub 1")),
            ("timestamp".into(), st("A#frequency_deviation#2025-01-14T12:15:00Z")),
        ]);
        assert_eq!(alert_key(&a), key);
        let mut stored = with(data, &[("notified_at", st("2025-01-14T13:00:00Z"))]);
        stored.extend(key);
        assert_eq!(alert_from_item(&stored).unwrap(), a);

        let state = SubstationState {
            location: "sub 1".into(),
            last_reading: "2025-01-14T12:45:00Z".parse().unwrap(),
            latest: rollup(AlertStatus::Warning),
            // Wall-clock write times carry sub-seconds; the item keeps whole seconds.
            updated_at: "2025-01-15T00:00:00.250Z".parse().unwrap(),
            source_key: "raw/a.csv".into(),
        };
        let item = state_item(&state, "bucket");
        let hash = state_hash(&state, "bucket");
        let expected = Item::from([
            ("location".into(), st("#index")),
            ("timestamp".into(), st("sub 1")),
            ("kind".into(), st("index")),
            ("last_reading".into(), st("2025-01-14T12:45:00Z")),
            ("updated_at".into(), st("2025-01-15T00:00:00Z")),
            ("source_key".into(), st("raw/a.csv")),
            ("source_bucket".into(), st("bucket")),
            ("alert_status".into(), st("warning")),
            ("state_hash".into(), st(&hash)),
            ("latest".into(), AttributeValue::M(with(pinned_rollup_attrs("warning"), &[("hour", st("2025-01-14T12:00:00Z"))]))),
        ]);
        assert_eq!(item, expected);
    }

    #[test]
    fn bad_items_name_the_attribute() {
        let mut item = rollup_item(&rollup(AlertStatus::Normal));
        item.insert("voltage_avg_kv".into(), AttributeValue::S("high".into()));
        let err = rollup_from_item(&item).unwrap_err().to_string();
        assert!(err.contains("voltage_avg_kv") && err.contains("sub 1"), "{err}");
        item.remove("voltage_avg_kv");
        let err = rollup_from_item(&item).unwrap_err();
        assert_eq!((err.attribute.as_str(), err.sort_key.as_str()), ("voltage_avg_kv", "2025-01-14T12:00:00Z"), "{err}");
        let mut index = state_item(&SubstationState {
            location: "sub 1".into(),
            last_reading: "2025-01-14T12:45:00Z".parse().unwrap(),
            latest: rollup(AlertStatus::Normal),
            updated_at: "2025-01-15T00:00:00Z".parse().unwrap(),
            source_key: "raw/a.csv".into(),
        }, "bucket");
        let AttributeValue::M(latest) = index.get_mut("latest").unwrap() else { panic!() };
        latest.insert("count".into(), n("many"));
        let err = state_from_item(&index).unwrap_err();
        assert_eq!(err.attribute, "latest.count", "{err}");
        let mut alert = alert_data(&Alert {
            location: "sub 1".into(),
            rule: AlertRule::Overload,
            priority: Priority::Low,
            started_at: "2025-01-14T12:15:00Z".parse().unwrap(),
            activated_at: "2025-01-14T12:15:00Z".parse().unwrap(),
            ended_at: "2025-01-14T12:45:00Z".parse().unwrap(),
            active: false,
            worst_value: 1.2,
            threshold: 1.0,
            samples: 3,
            chattering: false,
            shelved_until: None,
            message: "overload".into(),
        });
        alert.insert("rule".into(), st("meltdown"));
        alert.insert("location".into(), st("sub 1"));
        let err = alert_from_item(&alert).unwrap_err();
        assert_eq!(err.attribute, "rule", "{err}");
    }
}
