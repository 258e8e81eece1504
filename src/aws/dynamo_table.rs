//! The `GridAnalysis` table on DynamoDB: the writes of the Lambda and the reads of the
//! dashboard and `gridwatch query`. Reads are Query or GetItem only, never Scan.
//!
//! Writes:
//! - rollups: an hour one file feeds is one conditional PutItem, a shared hour is parts
//!   and their merge (see "one file or many per hour" below);
//! - parts, listings and checkpoints: BatchWriteItem in chunks of 25, a few chunks in
//!   flight, with the unprocessed items retried with exponential back-off and jitter;
//! - alert episodes: one UpdateItem that sets the data attributes (idempotent) and claims
//!   the notification (`notified_at = if_not_exists(notified_at, :now)`, ALL_OLD tells
//!   whether this write set it), so only the first delivery of an event publishes to SNS,
//!   even with concurrent invocations; a failed publish gives the claim back;
//! - the substation index item: PutItem conditional on "no newer reading stored" (and on
//!   a changed content hash for the same reading, so a re-delivered event changes nothing).

use super::attrs::{self, Item, PK, SK, STATUS_INDEX, STATUS_KEY, STATUS_TS};
use super::error_text;
use crate::analysis::alarms::AlarmCheckpoint;
use crate::model::{format_ts, Alert, AlertStatus, ForecastPoint, HourlyRollup, SubstationState};
use crate::analysis::hour_stats;
use crate::config::AnalysisConfig;
use crate::store::items::{self, AlarmKeys, ListingScope, SourceHours};
use crate::store::unreadable;
use crate::store::operator::{OperatorAction, OperatorState, OPERATOR_PARTITION};
use crate::store::{ResultsTable, StoreError, StoreResult};
use async_trait::async_trait;
use anyhow::{anyhow, Context, Result};
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::operation::query::{QueryError, QueryOutput};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, DeleteRequest, GlobalSecondaryIndex, KeySchemaElement, KeyType,
    Projection, ProjectionType, PutRequest, ReturnValue, ScalarAttributeType, WriteRequest,
};
use aws_sdk_dynamodb::Client;
use chrono::{DateTime, Duration, Utc};
use futures::FutureExt;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

/// Items per BatchWriteItem (the service limit).
pub const BATCH_SIZE: usize = 25;
/// BatchWriteItem calls in flight at once.
const CONCURRENT_BATCHES: usize = 4;
/// Items of a source's listing built and written at a time (see `retire_source`).
const LISTING_CHUNK: usize = 1_000;
/// Rounds of retrying unprocessed items before giving up.
const MAX_UNPROCESSED_ROUNDS: usize = 10;

pub fn av(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

#[derive(Clone, Debug)]
pub struct DynamoTable {
    client: Client,
    name: String,
    /// [`LISTING_CHUNK`], smaller in tests (a listing of several chunks without thousands of items).
    listing_chunk: usize,
}

fn is_conditional_failure<E: aws_sdk_dynamodb::error::ProvideErrorMetadata>(err: &aws_sdk_dynamodb::error::SdkError<E>) -> bool {
    err.as_service_error().and_then(|e| e.code()) == Some("ConditionalCheckFailedException")
}

impl DynamoTable {
    pub fn new(client: Client, name: impl Into<String>) -> Self {
        Self { client, name: name.into(), listing_chunk: LISTING_CHUNK }
    }

    /// Writes a source's listing `items` at a time instead of [`LISTING_CHUNK`].
    pub fn with_listing_chunk(mut self, items: usize) -> Self {
        self.listing_chunk = items.max(1);
        self
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Creates the table (on-demand capacity) with the sparse status index. For tests and
    /// first-time setup; the deployment template creates the same shape.
    pub async fn create(&self) -> Result<()> {
        let attr = |name: &str| {
            AttributeDefinition::builder().attribute_name(name).attribute_type(ScalarAttributeType::S).build()
        };
        let key = |name: &str, kind: KeyType| KeySchemaElement::builder().attribute_name(name).key_type(kind).build();
        self.client
            .create_table()
            .table_name(&self.name)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(attr(PK)?)
            .attribute_definitions(attr(SK)?)
            .attribute_definitions(attr(STATUS_KEY)?)
            .attribute_definitions(attr(STATUS_TS)?)
            .key_schema(key(PK, KeyType::Hash)?)
            .key_schema(key(SK, KeyType::Range)?)
            .global_secondary_indexes(
                GlobalSecondaryIndex::builder()
                    .index_name(STATUS_INDEX)
                    .key_schema(key(STATUS_KEY, KeyType::Hash)?)
                    .key_schema(key(STATUS_TS, KeyType::Range)?)
                    .projection(Projection::builder().projection_type(ProjectionType::All).build())
                    .build()?,
            )
            .send()
            .await
            .map_err(|e| anyhow!("cannot create table {}: {}", self.name, error_text(&e)))?;
        // Wait until ACTIVE (immediate on emulators, seconds on AWS).
        for _ in 0..120 {
            let desc = self.client.describe_table().table_name(&self.name).send().await;
            if let Ok(d) = desc
                && d.table().and_then(|t| t.table_status()).is_some_and(|s| s.as_str() == "ACTIVE")
            {
                return Ok(());
            }
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
        Err(anyhow!("table {} did not become ACTIVE within a minute", self.name))
    }

    // ------------------------------------------------------------------ batch writes

    /// Writes items with BatchWriteItem; returns how many were written.
    pub async fn batch_put(&self, items: Vec<Item>) -> Result<u64> {
        let n = items.len() as u64;
        let requests = items
            .into_iter()
            .map(|item| Ok(WriteRequest::builder().put_request(PutRequest::builder().set_item(Some(item)).build()?).build()))
            .collect::<Result<Vec<_>>>()?;
        self.batch_write(requests).await?;
        Ok(n)
    }

    /// Deletes items by key with BatchWriteItem.
    pub async fn batch_delete(&self, keys: Vec<Item>) -> Result<()> {
        let requests = keys
            .into_iter()
            .map(|key| Ok(WriteRequest::builder().delete_request(DeleteRequest::builder().set_key(Some(key)).build()?).build()))
            .collect::<Result<Vec<_>>>()?;
        self.batch_write(requests).await
    }

    async fn batch_write(&self, requests: Vec<WriteRequest>) -> Result<()> {
        // Taken from the front as they go: splitting the rest off each time moved the
        // whole remainder per chunk (quadratic in the number of requests).
        let mut requests = requests.into_iter();
        let mut tasks = tokio::task::JoinSet::new();
        let mut first_error = None;
        loop {
            let chunk: Vec<WriteRequest> = requests.by_ref().take(BATCH_SIZE).collect();
            if chunk.is_empty() {
                break;
            }
            while tasks.len() >= CONCURRENT_BATCHES {
                if let Some(done) = tasks.join_next().await {
                    record(&mut first_error, done);
                }
            }
            let (client, name) = (self.client.clone(), self.name.clone());
            tasks.spawn(async move { write_chunk(&client, &name, chunk).await });
        }
        while let Some(done) = tasks.join_next().await {
            record(&mut first_error, done);
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    // ------------------------------------------------------------------ queries

    /// Runs a Query to the end, page by page.
    pub async fn query_all(&self, query: QueryFluentBuilder) -> Result<Vec<Item>> {
        let mut out = Vec::new();
        let mut pages = query.into_paginator().send();
        while let Some(page) = pages.next().await {
            out.extend(self.page_items(page)?);
        }
        Ok(out)
    }

    /// The items of one page of a query (the SDK's paginator follows `LastEvaluatedKey`).
    fn page_items(&self, page: Result<QueryOutput, SdkError<QueryError, HttpResponse>>) -> Result<Vec<Item>> {
        let page = page.map_err(|e| anyhow!("query on table {} failed: {}", self.name, error_text(&e)))?;
        Ok(page.items.unwrap_or_default())
    }

    fn query(&self) -> QueryFluentBuilder {
        self.client.query().table_name(&self.name).expression_attribute_names("#pk", PK)
    }

    /// A query whose expressions also use `#sk`.
    fn query_sk(&self) -> QueryFluentBuilder {
        self.query().expression_attribute_names("#sk", SK)
    }

    /// Items of one partition with `from <= sort key <= to_inclusive`.
    fn range_query(&self, partition: &str, from: &str, to_inclusive: &str) -> QueryFluentBuilder {
        self.query_sk()
            .key_condition_expression("#pk = :pk AND #sk BETWEEN :from AND :to")
            .expression_attribute_values(":pk", av(partition))
            .expression_attribute_values(":from", av(from))
            .expression_attribute_values(":to", av(to_inclusive))
    }

    /// Hourly rollups of one substation with `from <= hour < to`, oldest first.
    pub async fn rollups(&self, location: &str, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Vec<HourlyRollup>> {
        if to <= from {
            return Ok(Vec::new());
        }
        let last = to - Duration::seconds(1);
        let items = self.query_all(self.range_query(location, &format_ts(from), &format_ts(last))).await?;
        Ok(unreadable::keep_readable("rollup", items.iter().map(attrs::rollup_from_item)))
    }

    /// Hourly average loads of one substation in `[from, to)`, for the forecast (only the
    /// two attributes are read).
    pub async fn load_history(&self, location: &str, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Vec<(DateTime<Utc>, f64)>> {
        if to <= from {
            return Ok(Vec::new());
        }
        let last = to - Duration::seconds(1);
        let query = self
            .range_query(location, &format_ts(from), &format_ts(last))
            .projection_expression("#sk, load_avg_mw");
        let items = self.query_all(query).await?;
        Ok(items
            .iter()
            .filter_map(|i| {
                let r = attrs::Reader::new(i);
                Some((r.time(SK).ok()?, r.f64("load_avg_mw").ok()?))
            })
            .collect())
    }

    /// The stored forecast of one substation, oldest first.
    pub async fn forecast(&self, location: &str) -> Result<Vec<ForecastPoint>> {
        let items = self.query_all(self.forecast_query(location)).await?;
        Ok(attrs::forecast_from_items(&items))
    }

    fn forecast_query(&self, location: &str) -> aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder {
        self.query_sk()
            .key_condition_expression("#pk = :pk AND begins_with(#sk, :f)")
            .expression_attribute_values(":pk", av(location))
            .expression_attribute_values(":f", av(items::FORECAST_PREFIX))
    }

    /// Replaces the stored forecast of one substation with one item, unless the stored one
    /// starts later (forecasts only move forward; the put's condition keeps that true
    /// against a concurrent writer). Per-hour items of older versions are deleted.
    pub async fn replace_forecast(&self, location: &str, points: &[ForecastPoint]) -> Result<bool> {
        let Some(item) = attrs::forecast_item(location, points) else { return Ok(false) };
        let first = format_ts(points[0].timestamp);
        let stored = self.query_all(self.forecast_query(location).projection_expression("#pk, #sk, first_hour")).await?;
        let stored_first = stored.iter().filter_map(|i| attrs::forecast_first_hour(i).ok()).min().map(format_ts);
        if stored_first.is_some_and(|stored| stored > first) {
            return Ok(false);
        }
        let result = self
            .client
            .put_item()
            .table_name(&self.name)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#sk) OR first_hour <= :first")
            .expression_attribute_names("#sk", SK)
            .expression_attribute_values(":first", av(first))
            .send()
            .await;
        match result {
            Ok(_) => {}
            Err(e) if is_conditional_failure(&e) => return Ok(false),
            Err(e) => return Err(anyhow!("cannot store the forecast of {location:?}: {}", error_text(&e))),
        }
        let per_hour: Vec<Item> = stored
            .into_iter()
            .filter(|k| k.get(SK).and_then(|v| v.as_s().ok()).is_some_and(|sk| sk != items::FORECAST_KEY))
            .map(|mut k| {
                k.remove("first_hour");
                k
            })
            .collect();
        if !per_hour.is_empty() {
            self.batch_delete(per_hour).await?;
        }
        Ok(true)
    }

    /// Alert episodes that ended at or after `since`, newest first: one Query (paged) on
    /// the sparse status index.
    pub async fn alerts(&self, since: DateTime<Utc>) -> Result<Vec<Alert>> {
        let query = self
            .client
            .query()
            .table_name(&self.name)
            .index_name(STATUS_INDEX)
            .key_condition_expression("#k = :k AND #t >= :since")
            .expression_attribute_names("#k", STATUS_KEY)
            .expression_attribute_names("#t", STATUS_TS)
            .expression_attribute_values(":k", av(attrs::ALERT_STATUS_KEY))
            .expression_attribute_values(":since", av(format_ts(since)))
            .scan_index_forward(false);
        let items = self.query_all(query).await?;
        let mut alerts = unreadable::keep_readable("alert", items.iter().map(attrs::alert_from_item));
        alerts.sort_by(|a, b| b.ended_at.cmp(&a.ended_at).then_with(|| a.location.cmp(&b.location)));
        Ok(alerts)
    }

    /// Hours with a given (non-normal) status across all substations, from the sparse index.
    pub async fn rollups_with_status(
        &self,
        status: AlertStatus,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
    ) -> Result<Vec<HourlyRollup>> {
        anyhow::ensure!(status != AlertStatus::Normal, "normal hours are not in the status index");
        let from = from.map(format_ts).unwrap_or_else(|| "0".into());
        let to = to.map(|t| format_ts(t - Duration::seconds(1))).unwrap_or_else(|| "9".into());
        let query = self
            .client
            .query()
            .table_name(&self.name)
            .index_name(STATUS_INDEX)
            .key_condition_expression("#k = :k AND #t BETWEEN :from AND :to")
            .expression_attribute_names("#k", STATUS_KEY)
            .expression_attribute_names("#t", STATUS_TS)
            .expression_attribute_values(":k", av(status.as_str()))
            .expression_attribute_values(":from", av(from))
            .expression_attribute_values(":to", av(to));
        let items = self.query_all(query).await?;
        let mut rows = unreadable::keep_readable("rollup", items.iter().map(attrs::rollup_from_item));
        rows.sort_by(|a, b| a.location.cmp(&b.location).then(a.timestamp.cmp(&b.timestamp)));
        Ok(rows)
    }

    /// Every substation with its latest state and the bucket of its newest source object:
    /// one Query of the index partition (one page per ~1 MB of index items).
    pub async fn substations(&self) -> Result<Vec<(SubstationState, Option<String>)>> {
        let query = self
            .query()
            .key_condition_expression("#pk = :pk")
            .expression_attribute_values(":pk", av(items::INDEX_PARTITION));
        let items = self.query_all(query).await?;
        Ok(unreadable::keep_readable("substation index", items.iter().map(attrs::state_from_item)))
    }

    /// One substation's index item (strongly consistent).
    pub async fn substation(&self, location: &str) -> Result<Option<(SubstationState, Option<String>)>> {
        let got = self
            .client
            .get_item()
            .table_name(&self.name)
            .key(PK, av(items::INDEX_PARTITION))
            .key(SK, av(location))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| anyhow!("cannot read the index item of {location:?}: {}", error_text(&e)))?;
        got.item.map(|i| attrs::state_from_item(&i).map_err(Into::into)).transpose()
    }

    // ------------------------------------------------------------------ conditional writes

    /// Stores the latest state of a substation unless a newer reading of another source
    /// is stored (or the same content). The same source's state is replaced: a corrected
    /// version of a file may end earlier. Returns whether the item was written.
    pub async fn put_state_if_newer(&self, state: &SubstationState, bucket: &str) -> Result<bool> {
        let item = attrs::state_item(state, bucket);
        let result = self
            .client
            .put_item()
            .table_name(&self.name)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#pk) OR #lr < :lr OR ((#lr = :lr OR #src = :src) AND #h <> :h)")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#src", "source_key")
            .expression_attribute_values(":src", av(state.source_key.as_str()))
            .expression_attribute_names("#lr", "last_reading")
            .expression_attribute_names("#h", "state_hash")
            .expression_attribute_values(":lr", av(format_ts(state.last_reading)))
            .expression_attribute_values(":h", av(attrs::state_hash(state, bucket)))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if is_conditional_failure(&e) => Ok(false),
            Err(e) => Err(anyhow!("cannot store the state of {:?}: {}", state.location, error_text(&e))),
        }
    }

    /// Upserts the data attributes of an alert episode. With `claim_at`, the same write
    /// also claims the notification (`notified_at = if_not_exists(notified_at, :now)`),
    /// atomically: it returns true for exactly one caller, the one that must publish.
    /// Without it, `notified_at` is left alone and the result says whether the episode is
    /// new (was not stored before).
    ///
    /// The claim is ours also when `notified_at` already holds our own claim: the SDK's
    /// retry of a write whose answer was lost (tests/aws_faults.rs lost alarms that way).
    /// `source` joins the episode's `sources` (the files that have it). An episode another
    /// file saw end later keeps its data (reprocessing the file with its start must not cut
    /// it short); only the claim and the source are written then.
    pub async fn upsert_alert(&self, alert: &Alert, claim_at: Option<DateTime<Utc>>, source: &str) -> Result<bool> {
        let ended = av(format_ts(alert.ended_at));
        let full = self.alert_update(alert, claim_at, source, true).condition_expression(
            "attribute_not_exists(#srcs) OR #end <= :end OR (size(#srcs) = :one AND contains(#srcs, :name))",
        );
        let result = full
            .expression_attribute_names("#end", STATUS_TS)
            .expression_attribute_values(":end", ended)
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":name", av(source))
            .send()
            .await;
        let old = match result {
            Ok(out) => out.attributes.unwrap_or_default(),
            Err(e) if is_conditional_failure(&e) => self
                .alert_update(alert, claim_at, source, false)
                .send()
                .await
                .map_err(|e| anyhow!("cannot store alert {}: {}", alert.id(), error_text(&e)))?
                .attributes
                .unwrap_or_default(),
            Err(e) => return Err(anyhow!("cannot store alert {}: {}", alert.id(), error_text(&e))),
        };
        Ok(match claim_at {
            Some(at) => old.get("notified_at").is_none_or(|n| *n == claim_value(at)),
            None => old.is_empty(),
        })
    }

    /// The UpdateItem of [`Self::upsert_alert`]: the claim and the source, and with `data`
    /// the episode's attributes.
    fn alert_update(
        &self,
        alert: &Alert,
        claim_at: Option<DateTime<Utc>>,
        source: &str,
        data: bool,
    ) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
        let mut update = self
            .client
            .update_item()
            .table_name(&self.name)
            .set_key(Some(attrs::alert_key(alert)))
            .return_values(ReturnValue::AllOld);
        let mut sets = Vec::new();
        if data {
            for (i, (name, value)) in attrs::alert_data(alert).into_iter().enumerate() {
                sets.push(format!("#a{i} = :v{i}"));
                update = update.expression_attribute_names(format!("#a{i}"), name).expression_attribute_values(format!(":v{i}"), value);
            }
        }
        if let Some(at) = claim_at {
            sets.push("#n = if_not_exists(#n, :now)".into());
            update = update.expression_attribute_names("#n", "notified_at").expression_attribute_values(":now", claim_value(at));
        }
        let set = if sets.is_empty() { String::new() } else { format!("SET {} ", sets.join(", ")) };
        update
            .expression_attribute_names("#srcs", ALERT_SOURCES)
            .expression_attribute_values(":src", AttributeValue::Ss(vec![source.to_string()]))
            .update_expression(format!("{set}ADD #srcs :src"))
    }

    /// Gives a claim back after the notification failed, so a retry notifies.
    pub async fn release_notification(&self, alert: &Alert, at: DateTime<Utc>) -> Result<()> {
        let result = self
            .client
            .update_item()
            .table_name(&self.name)
            .set_key(Some(attrs::alert_key(alert)))
            .update_expression("REMOVE #n")
            .condition_expression("#n = :now")
            .expression_attribute_names("#n", "notified_at")
            .expression_attribute_values(":now", claim_value(at))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_conditional_failure(&e) => Ok(()),
            Err(e) => Err(anyhow!("cannot release the notification claim of {}: {}", alert.id(), error_text(&e))),
        }
    }

    /// Every item of one partition (tests and diagnostics; a Query, not a Scan).
    pub async fn partition(&self, location: &str) -> Result<Vec<Item>> {
        let query = self.query().key_condition_expression("#pk = :pk").expression_attribute_values(":pk", av(location));
        self.query_all(query).await.with_context(|| format!("reading partition {location:?}"))
    }
}

/// `notified_at` of a claim, to the nanosecond: it tells one claim from another made in
/// the same second (a redelivery racing the first delivery).
fn claim_value(at: DateTime<Utc>) -> AttributeValue {
    av(at.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true))
}

// ---------------------------------------------------------------------- one file or many per hour
//
// An hour one file feeds is one item: the rollup, marked `solo` with that file's key and a
// revision (a digest of its content). That is one write per hour; most hours are never fed
// by a second file. The first write of an hour is a PutItem conditional on "no item, or my
// own": two files racing for a new hour cannot overwrite each other.
//
// When a second file feeds the hour, the hour turns shared in one transaction: both files'
// rollups become parts (partition `P#<location>`, sort key `<hour>#<source key>`, a
// partition of its own so the readers' hour ranges never meet parts) and the rollup becomes
// their merge, conditional on the solo item's revision being the one read. From then on
// each file writes its part and re-merges the hour's parts (writes conditional on the item
// not being solo, since a retired hour can be taken solo again meanwhile).
//
// What each source fed is listed in partition `S#<source key>`: one item per substation
// (sort key = location, its first and end hour) and one per alarm (`A#<location>#<alarm
// sort key>`), so a new version of the object can take back what it no longer has.

/// Partition of a substation's per-source parts.
const PART_PREFIX: &str = "P#";
/// Partition of what one source fed.
const SOURCE_PREFIX: &str = "S#";

/// The sort key of a kept alarm in its source's listing (partition [`SOURCE_PREFIX`]).
fn listing_alarm_key(location: &str, alarm_key: &str) -> String {
    format!("A#{location}#{alarm_key}")
}
/// Attribute of an alarm item: the sources that have it (a string set).
const ALERT_SOURCES: &str = "sources";
/// Attribute of a rollup only one source fed: that source's key (it has no parts).
const SOLO: &str = "solo";
/// Attribute of a solo rollup: a digest of its content, what the turn to shared checks.
const REVISION: &str = "rev";
/// Rounds of looking again at hours that concurrent writers changed meanwhile.
const MAX_MERGE_ROUNDS: usize = 8;
/// Single-item writes (PutItem, DeleteItem, TransactWriteItems) in flight at once.
const CONCURRENT_ITEM_WRITES: usize = 16;

fn part_sort_key(hour: DateTime<Utc>, source: &str) -> String {
    format!("{}#{source}", items::rollup_sort_key(hour))
}

fn part_item(r: &HourlyRollup, source: &str) -> Item {
    let mut item = attrs::rollup_item(r);
    item.remove(attrs::STATUS_KEY);
    item.remove(attrs::STATUS_TS);
    item.insert(PK.into(), av(format!("{PART_PREFIX}{}", r.location)));
    item.insert(SK.into(), av(part_sort_key(r.timestamp, source)));
    item.insert("kind".into(), av("part"));
    item.insert("source".into(), av(source));
    item
}

/// A part back as (source, rollup).
fn part_from_item(item: &Item) -> Result<(String, HourlyRollup)> {
    let r = attrs::Reader::new(item);
    let location = r.str(PK)?.strip_prefix(PART_PREFIX).ok_or_else(|| anyhow!("not a part: {item:?}"))?.to_string();
    let sort_key = r.str(SK)?;
    let source = r.str("source")?.to_string();
    let hour = sort_key.split('#').next().unwrap_or_default();
    let hour: DateTime<Utc> = DateTime::parse_from_rfc3339(hour).with_context(|| format!("part {sort_key:?}"))?.with_timezone(&Utc);
    let mut keyed = item.clone();
    keyed.insert(PK.into(), av(location));
    keyed.insert(SK.into(), av(items::rollup_sort_key(hour)));
    Ok((source, attrs::rollup_from_item(&keyed)?))
}

/// The rollup item of an hour only `source` fed.
fn solo_item(r: &HourlyRollup, source: &str) -> Item {
    let mut item = attrs::rollup_item(r);
    item.insert(SOLO.into(), av(source));
    item.insert(REVISION.into(), av(revision(&item)));
    item
}

/// A digest of an item's attributes (names and values, in name order): the same content
/// gives the same revision, so writing a file again leaves the item as it was. (Of their
/// debug text: a new SDK that prints them differently rewrites each item once; the turn to
/// shared compares the stored revision with itself, never with one computed anew.)
fn revision(item: &Item) -> String {
    use sha2::Digest;
    let sorted: BTreeMap<&String, &AttributeValue> = item.iter().collect();
    let digest = sha2::Sha256::digest(format!("{sorted:?}").as_bytes());
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// The source a stored rollup item is solo for, if it is.
fn solo_of(item: &Item) -> Option<&str> {
    item.get(SOLO).and_then(|v| v.as_s().ok()).map(String::as_str)
}

/// What a single-item write came to.
enum Written {
    Done,
    /// Its condition failed: a concurrent writer changed the item; look again.
    Raced,
}

/// How the write of one hour goes, from the stored item.
enum HourWrite {
    /// The stored item is this source's and already says this.
    Unchanged,
    /// No item, or this source's: the conditional solo put.
    Solo(Item),
    /// Another source's solo item: the transaction that turns the hour shared.
    Share { owner: String, stored: Item },
    /// Already shared: this source's part and a re-merge.
    Merge,
}

fn plan_hour(stored: Option<&Item>, r: &HourlyRollup, source: &str) -> HourWrite {
    let mine = solo_item(r, source);
    match stored {
        None => HourWrite::Solo(mine),
        Some(s) => match solo_of(s) {
            Some(owner) if owner == source => if *s == mine { HourWrite::Unchanged } else { HourWrite::Solo(mine) },
            Some(owner) => HourWrite::Share { owner: owner.to_string(), stored: s.clone() },
            None => HourWrite::Merge,
        },
    }
}

impl DynamoTable {
    /// The stored rollup items of one substation's hours `first..=last` (strongly consistent).
    async fn stored_rollups(&self, location: &str, first: DateTime<Utc>, last: DateTime<Utc>) -> Result<BTreeMap<DateTime<Utc>, Item>> {
        let query = self.range_query(location, &items::rollup_sort_key(first), &items::rollup_sort_key(last)).consistent_read(true);
        let mut by_hour = BTreeMap::new();
        for item in self.query_all(query).await? {
            let hour = attrs::Reader::new(&item).time(SK)?;
            by_hour.insert(hour, item);
        }
        Ok(by_hour)
    }

    /// The parts of one substation's hours `first..=last` (strongly consistent), by hour.
    async fn parts(&self, location: &str, first: DateTime<Utc>, last: DateTime<Utc>) -> Result<BTreeMap<DateTime<Utc>, Vec<(String, HourlyRollup)>>> {
        // `<hour>#...` sorts before `<hour>~`: the range holds every source of the last hour.
        let to = format!("{}~", items::rollup_sort_key(last));
        let query = self.range_query(&format!("{PART_PREFIX}{location}"), &items::rollup_sort_key(first), &to).consistent_read(true);
        let mut by_hour: BTreeMap<DateTime<Utc>, Vec<(String, HourlyRollup)>> = BTreeMap::new();
        for item in self.query_all(query).await? {
            let (source, r) = part_from_item(&item)?;
            by_hour.entry(r.timestamp).or_default().push((source, r));
        }
        Ok(by_hour)
    }

    /// A PutItem (`item`) or a DeleteItem (`key`) under `condition` (it may use `#pk`,
    /// `#solo`, `#rev`, `:solo` and `:rev`).
    async fn write_if(&self, write: ItemWrite, condition: &str, solo: Option<&str>, rev: Option<&str>) -> Result<Written> {
        let names: HashMap<String, String> =
            [("#pk", PK), ("#solo", SOLO), ("#rev", REVISION)].into_iter().filter(|(k, _)| condition.contains(k)).map(|(k, v)| (k.into(), v.into())).collect();
        let values: HashMap<String, AttributeValue> = [(":solo", solo), (":rev", rev)].into_iter().filter_map(|(k, v)| Some((k.into(), av(v?)))).collect();
        let values = (!values.is_empty()).then_some(values);
        let (what, sent) = match write {
            ItemWrite::Put(item) => {
                let put = self.client.put_item().table_name(&self.name).set_item(Some(item)).condition_expression(condition);
                let sent = put.set_expression_attribute_names(Some(names)).set_expression_attribute_values(values).send().await;
                ("PutItem", sent.map(|_| ()).map_err(|e| (is_conditional_failure(&e), error_text(&e))))
            }
            ItemWrite::Delete(key) => {
                let delete = self.client.delete_item().table_name(&self.name).set_key(Some(key)).condition_expression(condition);
                let sent = delete.set_expression_attribute_names(Some(names)).set_expression_attribute_values(values).send().await;
                ("DeleteItem", sent.map(|_| ()).map_err(|e| (is_conditional_failure(&e), error_text(&e))))
            }
        };
        match sent {
            Ok(()) => Ok(Written::Done),
            Err((true, _)) => Ok(Written::Raced),
            Err((false, text)) => Err(anyhow!("{what} on table {} failed: {text}", self.name)),
        }
    }

    /// Turns an hour `owner` fed alone into a shared one, atomically: both parts and the
    /// merged rollup, if the solo item is still the revision read.
    async fn share_hour(&self, owner: &str, stored: &Item, r: &HourlyRollup, source: &str, cfg: &AnalysisConfig) -> Result<(Written, HourlyRollup)> {
        use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
        use aws_sdk_dynamodb::types::{Put, TransactWriteItem};
        let theirs = attrs::rollup_from_item(stored)?;
        let merged = hour_stats::combine(vec![(owner.to_string(), theirs.clone()), (source.to_string(), r.clone())], cfg)
            .ok_or_else(|| anyhow!("no rollup to merge"))?;
        let rev = stored.get(REVISION).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
        let put = |item: Item| Put::builder().table_name(&self.name).set_item(Some(item));
        let guarded = put(attrs::rollup_item(&merged))
            .condition_expression("#solo = :owner AND #rev = :rev")
            .expression_attribute_names("#solo", SOLO)
            .expression_attribute_names("#rev", REVISION)
            .expression_attribute_values(":owner", av(owner))
            .expression_attribute_values(":rev", av(rev));
        let writes = [put(part_item(&theirs, owner)).build()?, put(part_item(r, source)).build()?, guarded.build()?];
        let sent = self
            .client
            .transact_write_items()
            .set_transact_items(Some(writes.into_iter().map(|p| TransactWriteItem::builder().put(p).build()).collect()))
            .send()
            .await;
        let Err(e) = sent else {
            return Ok((Written::Done, merged));
        };
        // A condition failed or another transaction held an item: look again. Any other
        // reason (a validation error) is a failure.
        let raced = match e.as_service_error() {
            Some(TransactWriteItemsError::TransactionCanceledException(c)) => c
                .cancellation_reasons()
                .iter()
                .filter_map(|r| r.code())
                .all(|code| matches!(code, "None" | "ConditionalCheckFailed" | "TransactionConflict")),
            _ => false,
        };
        if raced {
            return Ok((Written::Raced, merged));
        }
        Err(anyhow!("TransactWriteItems on table {} failed: {}", self.name, error_text(&e)))
    }

    /// Writes the merged rollup of each hour in `hours` from `parts` (deleting hours with
    /// none left), unless the hour's item is solo; returns the merged rollups and the hours
    /// found solo (taken by a source after all their parts had gone).
    async fn write_merged(
        &self,
        location: &str,
        hours: &BTreeSet<DateTime<Utc>>,
        parts: &BTreeMap<DateTime<Utc>, Vec<(String, HourlyRollup)>>,
        cfg: &AnalysisConfig,
    ) -> Result<(Vec<HourlyRollup>, BTreeSet<DateTime<Utc>>)> {
        let writes = hours.iter().map(|hour| {
            let merged = parts.get(hour).and_then(|p| hour_stats::combine(p.clone(), cfg));
            async move {
                let write = match &merged {
                    Some(r) => ItemWrite::Put(attrs::rollup_item(r)),
                    None => ItemWrite::Delete(HashMap::from([(PK.to_string(), av(location)), (SK.to_string(), av(items::rollup_sort_key(*hour)))])),
                };
                Ok::<_, anyhow::Error>((*hour, merged, self.write_if(write, "attribute_not_exists(#solo)", None, None).await?))
            }
            .boxed()
        });
        let mut done = Vec::with_capacity(hours.len());
        let mut solo = BTreeSet::new();
        for written in in_flight(writes.collect()).await? {
            match written {
                (_, merged, Written::Done) => done.extend(merged),
                (hour, _, Written::Raced) => {
                    solo.insert(hour);
                }
            }
        }
        Ok((done, solo))
    }

    /// Re-merges shared hours of one substation until their parts stay the same across the
    /// write (a concurrent Lambda that changed them meanwhile merges again itself, and
    /// whichever writes last has seen every part). Returns the merged rollups and the hours
    /// found solo.
    async fn merge_hours(&self, location: &str, hours: BTreeSet<DateTime<Utc>>, cfg: &AnalysisConfig) -> Result<(Vec<HourlyRollup>, BTreeSet<DateTime<Utc>>)> {
        let (Some(&first), Some(&last)) = (hours.first(), hours.last()) else {
            return Ok(Default::default());
        };
        let mut parts = self.parts(location, first, last).await?;
        for _ in 0..MAX_MERGE_ROUNDS {
            let merged = self.write_merged(location, &hours, &parts, cfg).await?;
            let again = self.parts(location, first, last).await?;
            let same = hours.iter().all(|h| parts.get(h) == again.get(h));
            if same {
                return Ok(merged);
            }
            parts = again;
        }
        Err(anyhow!("the hours of {location:?} kept changing under concurrent writers; the event is retried"))
    }

    /// One source's rollups: per substation one Query of the stored items of the batch's
    /// hours, then for each hour the solo put, the turn to shared or the part and re-merge
    /// (see the section's head); hours a concurrent writer changed meanwhile are looked at
    /// again. Returns what the hours hold now.
    pub async fn put_source_rollups(&self, source: &str, rollups: &[HourlyRollup], cfg: &AnalysisConfig) -> Result<Vec<HourlyRollup>> {
        let mut by_location: BTreeMap<&str, BTreeMap<DateTime<Utc>, &HourlyRollup>> = BTreeMap::new();
        for r in rollups {
            by_location.entry(r.location.as_str()).or_default().insert(r.timestamp, r);
        }
        let mut stored_now = Vec::with_capacity(rollups.len());
        for (location, hours) in by_location {
            stored_now.extend(self.put_location_rollups(location, source, hours, cfg).await?);
        }
        Ok(stored_now)
    }

    /// One substation's hours of a batch: each round reads their items, plans and writes
    /// every hour, and keeps for the next round the hours a concurrent writer changed.
    async fn put_location_rollups(
        &self,
        location: &str,
        source: &str,
        mut pending: BTreeMap<DateTime<Utc>, &HourlyRollup>,
        cfg: &AnalysisConfig,
    ) -> Result<Vec<HourlyRollup>> {
        let mut stored_now = Vec::with_capacity(pending.len());
        for _ in 0..MAX_MERGE_ROUNDS {
            let (Some((&first, _)), Some((&last, _))) = (pending.first_key_value(), pending.last_key_value()) else {
                return Ok(stored_now);
            };
            let stored = self.stored_rollups(location, first, last).await?;
            let mut solo = Vec::new();
            let mut shares = Vec::new();
            let mut merges = BTreeSet::new();
            for (hour, r) in &pending {
                match plan_hour(stored.get(hour), r, source) {
                    HourWrite::Unchanged => stored_now.push((*r).clone()),
                    HourWrite::Solo(item) => solo.push((*r, item)),
                    HourWrite::Share { owner, stored } => shares.push((*r, owner, stored)),
                    HourWrite::Merge => {
                        merges.insert(*hour);
                    }
                }
            }
            let mut raced = BTreeSet::new();
            let solo_writes = solo.into_iter().map(|(r, item)| {
                async move {
                    let condition = "attribute_not_exists(#pk) OR #solo = :solo";
                    Ok::<_, anyhow::Error>((r, self.write_if(ItemWrite::Put(item), condition, Some(source), None).await?))
                }
                .boxed()
            });
            for (r, written) in in_flight(solo_writes.collect()).await? {
                match written {
                    Written::Done => stored_now.push(r.clone()),
                    Written::Raced => {
                        raced.insert(r.timestamp);
                    }
                }
            }
            let share_writes = shares.iter().map(|(r, owner, stored)| async move { Ok::<_, anyhow::Error>((*r, self.share_hour(owner, stored, r, source, cfg).await?)) }.boxed());
            for (r, (written, merged)) in in_flight(share_writes.collect()).await? {
                match written {
                    Written::Done => stored_now.push(merged),
                    Written::Raced => {
                        raced.insert(r.timestamp);
                    }
                }
            }
            if !merges.is_empty() {
                self.batch_put(merges.iter().map(|h| part_item(pending[h], source)).collect()).await?;
                let (merged, taken_solo) = self.merge_hours(location, merges.clone(), cfg).await?;
                stored_now.extend(merged);
                raced.extend(taken_solo);
            }
            pending.retain(|hour, _| raced.contains(hour));
        }
        if pending.is_empty() {
            return Ok(stored_now);
        }
        Err(anyhow!("the hours of {location:?} kept changing under concurrent writers; the event is retried"))
    }

    /// Takes back what `source` fed before and no longer does: its parts of other hours
    /// (re-merged) and its claim on alarms it no longer has (deleted when no source has
    /// them). Then records what it feeds now. Returns the hours it left.
    pub async fn retire_source(
        &self,
        source: &str,
        hours: &SourceHours,
        keep_alarms: &AlarmKeys,
        scope: &ListingScope,
        cfg: &AnalysisConfig,
    ) -> Result<u64> {
        let partition = format!("{SOURCE_PREFIX}{source}");
        let listing_query =
            self.query().key_condition_expression("#pk = :pk").expression_attribute_values(":pk", av(partition.as_str())).consistent_read(true);
        let mut left = 0;
        let mut stale_listing = Vec::new();
        // Listing items already as they would be written: when every span and every kept
        // alarm is among them (a retry), the listing is not written again.
        let (mut spans_listed, mut alarms_listed) = (0, 0);
        // A page (1 MB) at a time: a long file's listing holds hundreds of thousands of alarms.
        let mut pages = listing_query.into_paginator().send();
        while let Some(page) = pages.next().await {
            for item in &self.page_items(page)? {
                let r = attrs::Reader::new(item);
                let sort_key = r.str(SK)?;
                if sort_key.starts_with("A#") {
                    let (location, key) = (r.str("alarm_location")?, r.str("alarm_key")?);
                    if !scope.owns(location) {
                        continue; // another run's part of the listing
                    }
                    if !keep_alarms.contains(location, key) {
                        self.drop_alarm_source(location, key, source).await?;
                        stale_listing.push(HashMap::from([(PK.to_string(), av(partition.as_str())), (SK.to_string(), av(sort_key))]));
                    } else if keep_alarms.lists(location, key) && sort_key == listing_alarm_key(location, key) {
                        alarms_listed += 1;
                    }
                    continue;
                }
                if !scope.owns(sort_key) {
                    continue;
                }
                let (first, end) = (r.time("first_hour")?, r.time("end_hour")?);
                let fed_now = hours.span(sort_key);
                if fed_now == Some((first, end)) {
                    spans_listed += 1;
                }
                if hours.covers(sort_key, first, end) {
                    continue; // every hour it fed there, it feeds still (a retry: no read)
                }
                // The hours it fed alone: their item goes, unless the hour turned shared
                // meanwhile (then its part is there for the parts below).
                let solo_stale: Vec<(DateTime<Utc>, Item)> = self
                    .stored_rollups(sort_key, first, end - Duration::hours(1))
                    .await?
                    .into_iter()
                    .filter(|(hour, item)| solo_of(item) == Some(source) && !hours.contains(sort_key, *hour))
                    .collect();
                let deletes = solo_stale.iter().map(|(hour, item)| {
                    let key = HashMap::from([(PK.to_string(), av(sort_key)), (SK.to_string(), av(items::rollup_sort_key(*hour)))]);
                    let rev = item.get(REVISION).and_then(|v| v.as_s().ok()).map_or("", String::as_str);
                    self.write_if(ItemWrite::Delete(key), "#solo = :solo AND #rev = :rev", Some(source), Some(rev)).boxed()
                });
                left += in_flight(deletes.collect()).await?.iter().filter(|w| matches!(w, Written::Done)).count() as u64;
                let stored = self.parts(sort_key, first, end - Duration::hours(1)).await?;
                let stale: BTreeSet<DateTime<Utc>> = stored
                    .iter()
                    .filter(|(hour, parts)| parts.iter().any(|(s, _)| s == source) && !hours.contains(sort_key, **hour))
                    .map(|(hour, _)| *hour)
                    .collect();
                if !stale.is_empty() {
                    let keys = stale
                        .iter()
                        .map(|h| HashMap::from([(PK.to_string(), av(format!("{PART_PREFIX}{sort_key}"))), (SK.to_string(), av(part_sort_key(*h, source)))]))
                        .collect();
                    self.batch_delete(keys).await?;
                    left += stale.len() as u64;
                    // An hour found solo was taken by another source after its parts had gone.
                    self.merge_hours(sort_key, stale, cfg).await?;
                }
                if fed_now.is_none() {
                    stale_listing.push(HashMap::from([(PK.to_string(), av(partition.as_str())), (SK.to_string(), av(sort_key))]));
                }
            }
        }
        let spans_again = spans_listed == hours.spans().count();
        let alarms_again = alarms_listed == keep_alarms.len();
        let spans = hours.spans().filter(|_| !spans_again).map(|(location, first, end)| {
            HashMap::from([
                (PK.to_string(), av(partition.as_str())),
                (SK.to_string(), av(location)),
                ("kind".to_string(), av("source")),
                ("first_hour".to_string(), av(format_ts(first))),
                ("end_hour".to_string(), av(format_ts(end))),
            ])
        });
        let alarms = keep_alarms.iter().filter(|_| !alarms_again).map(|(location, key)| {
            HashMap::from([
                (PK.to_string(), av(partition.as_str())),
                (SK.to_string(), av(listing_alarm_key(location, &key))),
                ("kind".to_string(), av("source")),
                ("alarm_location".to_string(), av(location)),
                ("alarm_key".to_string(), av(key.as_str())),
            ])
        });
        // A chunk at a time: a long file lists hundreds of thousands of alarms, ~0.5 KB
        // each as an item.
        // Boxed: held across the awaits below, the closures' own types fail the compiler's
        // Send check ("implementation of FnOnce is not general enough").
        let listing: Box<dyn Iterator<Item = Item> + Send + '_> = Box::new(spans.chain(alarms));
        let mut listing = listing.peekable();
        while listing.peek().is_some() {
            self.batch_put(listing.by_ref().take(self.listing_chunk).collect()).await?;
        }
        if !stale_listing.is_empty() {
            self.batch_delete(stale_listing).await?;
        }
        Ok(left)
    }

    /// Removes `source` from an alarm's sources; deletes the alarm when none is left.
    async fn drop_alarm_source(&self, location: &str, sort_key: &str, source: &str) -> Result<()> {
        let key = HashMap::from([(PK.to_string(), av(location)), (SK.to_string(), av(sort_key))]);
        let updated = self
            .client
            .update_item()
            .table_name(&self.name)
            .set_key(Some(key.clone()))
            .update_expression("DELETE #srcs :src")
            .condition_expression("attribute_exists(#pk)")
            .expression_attribute_names("#srcs", ALERT_SOURCES)
            .expression_attribute_names("#pk", PK)
            .expression_attribute_values(":src", AttributeValue::Ss(vec![source.to_string()]))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        let updated = match updated {
            Ok(u) => u,
            Err(e) if is_conditional_failure(&e) => return Ok(()),
            Err(e) => return Err(anyhow!("cannot update the sources of alarm {sort_key:?} of {location:?}: {}", error_text(&e))),
        };
        if updated.attributes.is_some_and(|a| !a.contains_key(ALERT_SOURCES)) {
            let deleted = self
                .client
                .delete_item()
                .table_name(&self.name)
                .set_key(Some(key))
                .condition_expression("attribute_not_exists(#srcs)")
                .expression_attribute_names("#srcs", ALERT_SOURCES)
                .send()
                .await;
            match deleted {
                Ok(_) => {}
                Err(e) if is_conditional_failure(&e) => {}
                Err(e) => return Err(anyhow!("cannot delete alarm {sort_key:?} of {location:?}: {}", error_text(&e))),
            }
        }
        Ok(())
    }
}

/// One single-item write.
enum ItemWrite {
    Put(Item),
    /// By key.
    Delete(Item),
}

/// Runs writes with [`CONCURRENT_ITEM_WRITES`] in flight; the first error ends them all.
/// (Boxed and collected first: a lazy iterator of futures held across the await is not
/// `Send` for every lifetime, which `async_trait` needs.)
async fn in_flight<T>(writes: Vec<futures::future::BoxFuture<'_, Result<T>>>) -> Result<Vec<T>> {
    use futures::stream::{self, StreamExt, TryStreamExt};
    stream::iter(writes).buffer_unordered(CONCURRENT_ITEM_WRITES).try_collect().await
}

fn record(first: &mut Option<anyhow::Error>, done: Result<Result<()>, tokio::task::JoinError>) {
    let err = match done {
        Ok(Ok(())) => return,
        Ok(Err(e)) => e,
        Err(e) => anyhow!("a batch write task failed: {e}"),
    };
    if first.is_none() {
        *first = Some(err);
    }
}

/// One BatchWriteItem of at most 25 requests, retrying what the service leaves unprocessed.
async fn write_chunk(client: &Client, table: &str, chunk: Vec<WriteRequest>) -> Result<()> {
    let mut pending = HashMap::from([(table.to_string(), chunk)]);
    let mut delays = crate::retry::dynamodb_unprocessed(MAX_UNPROCESSED_ROUNDS);
    loop {
        let out = client
            .batch_write_item()
            .set_request_items(Some(pending))
            .send()
            .await
            .map_err(|e| anyhow!("BatchWriteItem on table {table} failed: {}", error_text(&e)))?;
        match out.unprocessed_items {
            Some(left) if left.values().any(|v| !v.is_empty()) => pending = left,
            _ => return Ok(()),
        }
        let Some(delay) = delays.next() else {
            return Err(anyhow!(
                "BatchWriteItem on table {table}: items still unprocessed after {MAX_UNPROCESSED_ROUNDS} retries (throughput exceeded?)"
            ));
        };
        tokio::time::sleep(delay).await;
    }
}


/// Sorts an SDK failure (as text, with its service code) by what the caller can do.
fn classify(e: anyhow::Error) -> StoreError {
    let text = format!("{e:#}");
    let has = |code: &str| text.contains(code);
    if has("ThrottlingException") || has("ProvisionedThroughputExceeded") || has("RequestLimitExceeded") || has("SlowDown") {
        StoreError::Throttled(text)
    } else if has("ResourceNotFoundException") || has("NoSuchKey") || has("NoSuchBucket") {
        StoreError::NotFound(text)
    } else if has("AccessDenied") || has("UnauthorizedOperation") {
        StoreError::ReadOnly(text)
    } else if has("ValidationException") || has("cannot read item") || has("attribute") && has("item") {
        StoreError::Invalid(text)
    } else {
        StoreError::Transient(text)
    }
}

/// Seconds-since-epoch after which DynamoDB's TTL may delete an alarm checkpoint.
fn checkpoint_expiry(c: &AlarmCheckpoint) -> AttributeValue {
    let at = c.as_of + Duration::days(items::CHECKPOINT_RETENTION_DAYS);
    AttributeValue::N(at.timestamp().max(0).to_string())
}

#[async_trait]
impl ResultsTable for DynamoTable {
    async fn put_rollups(&self, source: &str, rollups: Vec<HourlyRollup>, cfg: &AnalysisConfig) -> StoreResult<Vec<HourlyRollup>> {
        DynamoTable::put_source_rollups(self, source, &rollups, cfg).await.map_err(classify)
    }
    async fn retire_source(
        &self,
        source: &str,
        hours: &SourceHours,
        alarms: &Arc<AlarmKeys>,
        scope: &ListingScope,
        cfg: &AnalysisConfig,
    ) -> StoreResult<u64> {
        DynamoTable::retire_source(self, source, hours, alarms, scope, cfg).await.map_err(classify)
    }
    async fn replace_forecast(&self, location: &str, points: Vec<ForecastPoint>) -> StoreResult<bool> {
        DynamoTable::replace_forecast(self, location, &points).await.map_err(classify)
    }
    async fn put_state_if_newer(&self, state: &SubstationState, bucket: &str) -> StoreResult<bool> {
        DynamoTable::put_state_if_newer(self, state, bucket).await.map_err(classify)
    }
    async fn upsert_alert(&self, alert: &Alert, claim_at: Option<DateTime<Utc>>, source: &str) -> StoreResult<bool> {
        DynamoTable::upsert_alert(self, alert, claim_at, source).await.map_err(classify)
    }
    async fn release_notification(&self, alert: &Alert, at: DateTime<Utc>) -> StoreResult<()> {
        DynamoTable::release_notification(self, alert, at).await.map_err(classify)
    }
    async fn put_alarm_checkpoints(&self, checkpoints: Vec<AlarmCheckpoint>) -> StoreResult<()> {
        let items = checkpoints
            .iter()
            .map(|c| {
                let mut item = attrs::json_item(&c.location, &items::checkpoint_sort_key(c.as_of), "checkpoint", c);
                item.insert(attrs::TTL_ATTRIBUTE.into(), checkpoint_expiry(c));
                item
            })
            .collect();
        self.batch_put(items).await.map(|_| ()).map_err(classify)
    }
    async fn load_history(&self, location: &str, from: DateTime<Utc>, to: DateTime<Utc>) -> StoreResult<Vec<(DateTime<Utc>, f64)>> {
        DynamoTable::load_history(self, location, from, to).await.map_err(classify)
    }
    async fn alarm_checkpoint(&self, location: &str, before: DateTime<Utc>) -> StoreResult<Option<AlarmCheckpoint>> {
        let last = items::checkpoint_sort_key(before - Duration::seconds(1));
        let query = self.range_query(location, items::CHECKPOINT_PREFIX, &last).scan_index_forward(false).limit(1);
        let page = query
            .send()
            .await
            .map_err(|e| classify(anyhow!("query on table {} failed: {}", self.name, error_text(&e))))?;
        page.items.unwrap_or_default().first().map(attrs::json_from_item).transpose().map_err(|e| StoreError::Invalid(e.to_string()))
    }
    async fn substations(&self) -> StoreResult<Vec<SubstationState>> {
        Ok(DynamoTable::substations(self).await.map_err(classify)?.into_iter().map(|(s, _)| s).collect())
    }
    async fn rollups(&self, location: &str, from: DateTime<Utc>, to: DateTime<Utc>) -> StoreResult<Vec<HourlyRollup>> {
        DynamoTable::rollups(self, location, from, to).await.map_err(classify)
    }
    async fn forecast(&self, location: &str) -> StoreResult<Vec<ForecastPoint>> {
        DynamoTable::forecast(self, location).await.map_err(classify)
    }
    async fn alerts(&self, since: DateTime<Utc>) -> StoreResult<Vec<Alert>> {
        DynamoTable::alerts(self, since).await.map_err(classify)
    }
    async fn operator_states(&self) -> StoreResult<Vec<OperatorState>> {
        let query = self.query().key_condition_expression("#pk = :pk").expression_attribute_values(":pk", av(OPERATOR_PARTITION));
        let items = self.query_all(query).await.map_err(classify)?;
        Ok(unreadable::keep_readable("operator state", items.iter().map(attrs::json_from_item)))
    }
    async fn apply_operator_action(&self, action: &OperatorAction) -> StoreResult<OperatorState> {
        let sort_key = OperatorState::sort_key(&action.location, action.rule);
        let got = self
            .client
            .get_item()
            .table_name(&self.name)
            .key(PK, av(OPERATOR_PARTITION))
            .key(SK, av(sort_key.as_str()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| classify(anyhow!("cannot read the operator state {sort_key:?}: {}", error_text(&e))))?;
        let old: OperatorState = match got.item {
            Some(item) => attrs::json_from_item(&item).map_err(|e| StoreError::Invalid(e.to_string()))?,
            None => OperatorState::default(),
        };
        let new = old.apply(action);
        self.client
            .put_item()
            .table_name(&self.name)
            .set_item(Some(attrs::json_item(OPERATOR_PARTITION, &sort_key, "operator", &new)))
            .send()
            .await
            .map_err(|e| classify(anyhow!("cannot store the operator state {sort_key:?}: {}", error_text(&e))))?;
        Ok(new)
    }
}
