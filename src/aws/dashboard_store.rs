//! The dashboard's store on AWS: DynamoDB reads (Query / GetItem only) and reprocessing
//! through the Lambda (Invoke with an S3 event for the substation's latest raw object).
//!
//! # What a poll costs
//! The dashboard asks, per poll (see `tui::collect::Poller`):
//! - `substations()`: ONE Query of the index partition `#index` (sort key = location, item
//!   = latest state). 1 request per started MB of index items: ~0.7 KB per substation, so
//!   one page up to ~1,400 substations. The table's size does not matter.
//! - `rollups(location, from, to)`: one Query with a key range, only for the substations
//!   on screen and only when their `last_reading` moved (incremental from the newest hour
//!   held);
//! - `forecast(location)`: one Query (`begins_with(timestamp, "F#")`), only for the
//!   selected substation when it got new data;
//! - `alerts(since)`: one Query on the sparse `status-index` (only alert episodes and
//!   non-normal hours are in it), only when some substation got new data.
//!
//! So an idle poll is 1 request whatever the number of substations, and a poll after new
//! data is 1 + (visible substations with new data) + 1 + 1. Measured in
//! `tests/aws_pipeline.rs` (`poll_cost_*`) for 10 and 200 substations.

use super::event::EventResponse;
use super::dynamo_table::DynamoTable;
use super::error_text;
use crate::backend::GridStore;
use crate::store::operator::{OperatorAction, OperatorState};
use crate::store::{ResultsTable, StoreError, StoreResult};
use crate::model::{Alert, ForecastPoint, HourlyRollup, SubstationState};
use anyhow::{anyhow, Result};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

/// Where the store reads and what it may do.
#[derive(Debug, Clone)]
pub struct AwsStoreOptions {
    pub table: String,
    /// The Lambda to invoke for reprocessing (None: reprocess is unavailable).
    pub function: Option<String>,
    /// Bucket of raw objects when an index item does not name one.
    pub bucket: Option<String>,
    /// Never write or invoke.
    pub read_only: bool,
    /// Shown in the title bar, e.g. the region or endpoint.
    pub label: String,
    /// The longest an operator may shelve an alarm (`[alarms] max_shelve_minutes`).
    pub max_shelve_minutes: f64,
}

impl Default for AwsStoreOptions {
    fn default() -> Self {
        Self {
            table: String::new(),
            function: None,
            bucket: None,
            read_only: false,
            label: String::new(),
            max_shelve_minutes: crate::config::AlarmConfig::default().max_shelve_minutes,
        }
    }
}

pub struct AwsStore {
    table: DynamoTable,
    lambda: aws_sdk_lambda::Client,
    opts: AwsStoreOptions,
}

/// A Lambda client that does not retry invocations (a retried Invoke would analyse the
/// same object again; the caller decides).
pub fn lambda_client(sdk: &aws_config::SdkConfig) -> aws_sdk_lambda::Client {
    let conf = aws_sdk_lambda::config::Builder::from(sdk)
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(1))
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .connect_timeout(std::time::Duration::from_secs(5))
                .operation_timeout(std::time::Duration::from_secs(900))
                .build(),
        )
        .build();
    aws_sdk_lambda::Client::from_conf(conf)
}

impl AwsStore {
    pub fn new(sdk: &aws_config::SdkConfig, opts: AwsStoreOptions) -> Self {
        Self::from_clients(super::sdk::dynamodb_client(sdk), lambda_client(sdk), opts)
    }

    pub fn from_clients(dynamodb: aws_sdk_dynamodb::Client, lambda: aws_sdk_lambda::Client, opts: AwsStoreOptions) -> Self {
        Self { table: DynamoTable::new(dynamodb, opts.table.clone()), lambda, opts }
    }

    pub fn table(&self) -> &DynamoTable {
        &self.table
    }

    /// Invokes the Lambda synchronously with an S3 put event for `keys` of `bucket`.
    pub async fn invoke(&self, bucket: &str, keys: &[&str]) -> Result<EventResponse> {
        if self.opts.read_only {
            return Err(anyhow!("read-only mode: reprocessing (a Lambda invocation) is disabled"));
        }
        let function = self
            .opts
            .function
            .as_deref()
            .ok_or_else(|| anyhow!("no Lambda function configured (--function, GRIDWATCH_FUNCTION or [aws] function)"))?;
        let payload = serde_json::to_vec(&super::event::put_event(bucket, keys))?;
        let result = self
            .lambda
            .invoke()
            .function_name(function)
            .payload(aws_sdk_lambda::primitives::Blob::new(payload))
            .send()
            .await;
        let out = match result {
            Ok(out) => out,
            Err(e) => {
                // Emulators answer a function error with HTTP 500 and the error document.
                if let Some(raw) = e.raw_response() {
                    let status = raw.status().as_u16();
                    let body = raw.body().bytes().map(|b| String::from_utf8_lossy(b).to_string()).unwrap_or_default();
                    if status == 404 {
                        return Err(anyhow!("Lambda function {function:?} not found"));
                    }
                    if let Some(msg) = function_error_message(body.as_bytes()) {
                        return Err(anyhow!("{function} failed: {msg}"));
                    }
                }
                return Err(anyhow!("cannot invoke {function}: {}", error_text(&e)));
            }
        };
        let body = out.payload().map(|b| b.as_ref().to_vec()).unwrap_or_default();
        if out.function_error().is_some() {
            let msg = function_error_message(&body).unwrap_or_else(|| String::from_utf8_lossy(&body).to_string());
            return Err(anyhow!("{function} failed: {msg}"));
        }
        serde_json::from_slice(&body).map_err(|e| anyhow!("{function} answered something that is not a gridwatch response ({e})"))
    }

    /// The raw object(s) a substation's latest state came from.
    pub async fn latest_source(&self, location: &str) -> Result<(String, String)> {
        let (state, bucket) =
            self.table.substation(location).await?.ok_or_else(|| anyhow!("unknown substation {location:?}"))?;
        let bucket = bucket
            .or_else(|| self.opts.bucket.clone())
            .ok_or_else(|| anyhow!("no bucket known for {location:?} (--bucket, GRIDWATCH_BUCKET or [aws] bucket)"))?;
        Ok((bucket, state.source_key))
    }
}

/// The message of a Lambda error document (`{"errorType", "errorMessage"}`).
pub fn function_error_message(body: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let msg = v.get("errorMessage")?.as_str()?.to_string();
    Some(match v.get("errorType").and_then(|t| t.as_str()) {
        Some(t) if !t.is_empty() && !msg.contains(t) => format!("{t}: {msg}"),
        _ => msg,
    })
}

fn be(e: anyhow::Error) -> StoreError {
    StoreError::other(format!("{e:#}"))
}

#[async_trait]
impl GridStore for AwsStore {
    async fn substations(&self) -> StoreResult<Vec<SubstationState>> {
        ResultsTable::substations(&self.table).await
    }
    async fn rollups(&self, location: &str, from: DateTime<Utc>, to: DateTime<Utc>) -> StoreResult<Vec<HourlyRollup>> {
        ResultsTable::rollups(&self.table, location, from, to).await
    }
    async fn forecast(&self, location: &str) -> StoreResult<Vec<ForecastPoint>> {
        ResultsTable::forecast(&self.table, location).await
    }
    async fn alerts(&self, since: DateTime<Utc>) -> StoreResult<Vec<Alert>> {
        ResultsTable::alerts(&self.table, since).await
    }
    async fn operator_states(&self) -> StoreResult<Vec<OperatorState>> {
        self.table.operator_states().await
    }
    async fn operator_action(&self, action: &OperatorAction) -> StoreResult<OperatorState> {
        crate::backend::checked_operator_action(&self.table, self.opts.read_only, self.opts.max_shelve_minutes, action).await
    }
    async fn reprocess(&self, location: &str) -> StoreResult<String> {
        if self.opts.read_only {
            return Err(StoreError::ReadOnly("read-only mode: reprocessing is disabled".into()));
        }
        let (bucket, key) = self.latest_source(location).await.map_err(be)?;
        let response = self.invoke(&bucket, &[&key]).await.map_err(be)?;
        let detail = response
            .records
            .first()
            .map(|r| format!(" — {}", r.message))
            .unwrap_or_default();
        Ok(format!("reprocessed s3://{bucket}/{key}: {}{detail}", response.summary()))
    }
    fn describe(&self) -> String {
        let mode = if self.opts.read_only { ", read-only" } else { "" };
        crate::sanitize::sanitize_for_terminal(format!("aws: {} {}{mode}", self.opts.table, self.opts.label).trim_end())
    }
}
