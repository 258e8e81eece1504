//! The `GridAnalysis` table on DynamoDB: the writes of the Lambda and the reads of the
//! dashboard and `gridwatch query`. Reads are Query or GetItem only, never Scan.
//!
//! Writes:
//! - rollups and forecasts: BatchWriteItem in chunks of 25, a few chunks in flight, with
//!   the unprocessed items retried with exponential back-off and jitter;
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
use crate::store::items;
use crate::store::unreadable;
use crate::store::operator::{OperatorAction, OperatorState, OPERATOR_PARTITION};
use crate::store::{ResultsTable, StoreError, StoreResult};
use async_trait::async_trait;
use anyhow::{anyhow, Context, Result};
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, DeleteRequest, GlobalSecondaryIndex, KeySchemaElement, KeyType,
    Projection, ProjectionType, PutRequest, ReturnValue, ScalarAttributeType, WriteRequest,
};
use aws_sdk_dynamodb::Client;
use chrono::{DateTime, Duration, Utc};
use std::collections::{BTreeSet, HashMap};

/// Items per BatchWriteItem (the service limit).
pub const BATCH_SIZE: usize = 25;
/// BatchWriteItem calls in flight at once.
const CONCURRENT_BATCHES: usize = 4;
/// Rounds of retrying unprocessed items before giving up.
const MAX_UNPROCESSED_ROUNDS: usize = 10;

pub fn av(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

#[derive(Clone, Debug)]
pub struct DynamoTable {
    client: Client,
    name: String,
}

fn is_conditional_failure<E: aws_sdk_dynamodb::error::ProvideErrorMetadata>(err: &aws_sdk_dynamodb::error::SdkError<E>) -> bool {
    err.as_service_error().and_then(|e| e.code()) == Some("ConditionalCheckFailedException")
}

impl DynamoTable {
    pub fn new(client: Client, name: impl Into<String>) -> Self {
        Self { client, name: name.into() }
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
        let mut chunks: Vec<Vec<WriteRequest>> = Vec::new();
        let mut rest = requests;
        while !rest.is_empty() {
            let tail = rest.split_off(rest.len().min(BATCH_SIZE));
            chunks.push(std::mem::replace(&mut rest, tail));
        }
        let mut tasks = tokio::task::JoinSet::new();
        let mut first_error = None;
        for chunk in chunks {
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
        let mut start = None;
        loop {
            let page = query
                .clone()
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| anyhow!("query on table {} failed: {}", self.name, error_text(&e)))?;
            out.extend(page.items.unwrap_or_default());
            match page.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(out),
            }
        }
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
        let query = self
            .query_sk()
            .key_condition_expression("#pk = :pk AND begins_with(#sk, :f)")
            .expression_attribute_values(":pk", av(location))
            .expression_attribute_values(":f", av(items::FORECAST_PREFIX));
        let items = self.query_all(query).await?;
        Ok(unreadable::keep_readable("forecast", items.iter().map(attrs::forecast_from_item)))
    }

    /// Replaces the stored forecast of one substation: writes the new hours and deletes
    /// stored hours that are not in it.
    pub async fn replace_forecast(&self, location: &str, points: &[ForecastPoint]) -> Result<bool> {
        let query = self
            .query_sk()
            .key_condition_expression("#pk = :pk AND begins_with(#sk, :f)")
            .expression_attribute_values(":pk", av(location))
            .expression_attribute_values(":f", av(items::FORECAST_PREFIX))
            .projection_expression("#pk, #sk");
        let stored = self.query_all(query).await?;
        let keep: BTreeSet<String> = points.iter().map(|p| items::forecast_sort_key(p.timestamp)).collect();
        let stored_first = stored.iter().filter_map(|k| k.get(SK).and_then(|v| v.as_s().ok())).min();
        if let (Some(stored), Some(new)) = (stored_first, keep.first())
            && stored > new
        {
            // A newer forecast is stored: forecasts only move forward.
            return Ok(false);
        }
        let stale: Vec<Item> = stored
            .into_iter()
            .filter(|k| k.get(SK).and_then(|v| v.as_s().ok()).is_some_and(|sk| !keep.contains(sk)))
            .collect();
        self.batch_put(points.iter().map(attrs::forecast_item).collect()).await?;
        if !stale.is_empty() {
            self.batch_delete(stale).await?;
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

    /// Stores the latest state of a substation unless a newer reading is stored (or the
    /// same reading with the same content). Returns whether the item was written.
    pub async fn put_state_if_newer(&self, state: &SubstationState, bucket: &str) -> Result<bool> {
        let item = attrs::state_item(state, bucket);
        let result = self
            .client
            .put_item()
            .table_name(&self.name)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#pk) OR #lr < :lr OR (#lr = :lr AND #h <> :h)")
            .expression_attribute_names("#pk", PK)
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
    pub async fn upsert_alert(&self, alert: &Alert, claim_at: Option<DateTime<Utc>>) -> Result<bool> {
        let mut data = attrs::alert_data(alert);
        let claim = claim_at.map(|at| av(format_ts(at)));
        let mut update = self
            .client
            .update_item()
            .table_name(&self.name)
            .set_key(Some(attrs::alert_key(alert)))
            .return_values(ReturnValue::AllOld);
        let mut sets = Vec::new();
        for (i, (name, value)) in std::mem::take(&mut data).into_iter().enumerate() {
            sets.push(format!("#a{i} = :v{i}"));
            update = update.expression_attribute_names(format!("#a{i}"), name).expression_attribute_values(format!(":v{i}"), value);
        }
        if let Some(now) = claim {
            sets.push("#n = if_not_exists(#n, :now)".into());
            update = update.expression_attribute_names("#n", "notified_at").expression_attribute_values(":now", now);
        }
        let old = update
            .update_expression(format!("SET {}", sets.join(", ")))
            .send()
            .await
            .map_err(|e| anyhow!("cannot store alert {}: {}", alert.id(), error_text(&e)))?;
        let old = old.attributes.unwrap_or_default();
        Ok(if claim_at.is_some() { !old.contains_key("notified_at") } else { old.is_empty() })
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
            .expression_attribute_values(":now", av(format_ts(at)))
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
    async fn put_rollups(&self, rollups: Vec<HourlyRollup>) -> StoreResult<u64> {
        self.batch_put(rollups.iter().map(attrs::rollup_item).collect()).await.map_err(classify)
    }
    async fn replace_forecast(&self, location: &str, points: Vec<ForecastPoint>) -> StoreResult<bool> {
        DynamoTable::replace_forecast(self, location, &points).await.map_err(classify)
    }
    async fn put_state_if_newer(&self, state: &SubstationState, bucket: &str) -> StoreResult<bool> {
        DynamoTable::put_state_if_newer(self, state, bucket).await.map_err(classify)
    }
    async fn upsert_alert(&self, alert: &Alert, claim_at: Option<DateTime<Utc>>) -> StoreResult<bool> {
        DynamoTable::upsert_alert(self, alert, claim_at).await.map_err(classify)
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
