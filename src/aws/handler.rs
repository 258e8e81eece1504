//! The S3-event handler: what the Lambda runs for every `raw/` upload (and what the
//! integration tests run in-process). It parses the event, runs the shared processing
//! recipe ([`crate::store::recipe`]) on DynamoDB + S3 + SNS per record, and answers per
//! record. Everything is keyed by content, so delivering the same event twice stores the
//! same items and publishes nothing the second time.

use super::dynamo_table::DynamoTable;
use super::error_text;
use super::event::{self, EventResponse, RecordResult, RecordStatus};
use super::s3io::S3Bucket;
use crate::backend::LogLevel;
use crate::config::AnalysisConfig;
use crate::model::Alert;
use crate::store::notice::Digest;
use crate::store::budget::Budget;
use crate::store::object_keys;
use crate::store::fanout::{self, ShardOrder};
use crate::store::recipe::{Notifier, ProcessLog, Processed, Recipe};
use super::s3io;
use futures::{StreamExt, TryStreamExt};
use anyhow::{anyhow, Context, Result};
use async_trait::async_trait;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The handler's settings, from the Lambda's environment.
#[derive(Debug, Clone, PartialEq)]
pub struct HandlerConfig {
    /// DynamoDB table (`TABLE_NAME`, default `GridAnalysis`).
    pub table: String,
    /// SNS topic for alerts (`ALERT_TOPIC_ARN`); unset = alerts are stored and logged only.
    pub topic_arn: Option<String>,
    pub analysis: AnalysisConfig,
}

impl Default for HandlerConfig {
    fn default() -> Self {
        Self { table: "GridAnalysis".into(), topic_arn: None, analysis: AnalysisConfig::default() }
    }
}

/// Environment variables of the thresholds, with the `[analysis]` field each one sets
/// (read by [`HandlerConfig::from_lookup`] through `envy`; the template's test checks its
/// variables against this list).
pub const THRESHOLD_VARS: [(&str, &str); 10] = [
    ("NOMINAL_VOLTAGE_KV", "nominal_voltage_kv"),
    ("NOMINAL_FREQUENCY_HZ", "nominal_frequency_hz"),
    ("VOLTAGE_LOW_KV", "voltage_low_kv"),
    ("VOLTAGE_HIGH_KV", "voltage_high_kv"),
    ("FREQUENCY_DEVIATION_HZ", "frequency_deviation_hz"),
    ("OVERLOAD_RATIO", "overload_ratio"),
    ("STABILITY_MIN", "stability_min"),
    ("DEFAULT_POWER_FACTOR", "default_power_factor"),
    ("REORDER_WINDOW_HOURS", "reorder_window_hours"),
    ("MAX_ALERTS_PER_LOCATION", "max_alerts_per_location"),
];

impl HandlerConfig {
    /// Reads `TABLE_NAME`, `ALERT_TOPIC_ARN`, the thresholds of [`THRESHOLD_VARS`] and
    /// `ALARMS` (the `[alarms]` section as JSON, e.g. `{"overload": {"on_delay_minutes": 30}}`).
    /// A bad value is an error naming the variable.
    pub fn from_env() -> Result<Self> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let names = ["TABLE_NAME", "ALERT_TOPIC_ARN", "ALARMS"].into_iter().chain(THRESHOLD_VARS.iter().map(|(var, _)| *var));
        let vars = names.filter_map(|name| Some((name.to_string(), get(name)?.trim().to_string()))).filter(|(_, v)| !v.is_empty());
        let env: LambdaEnv = envy::from_iter(vars).map_err(|e| anyhow!("environment: {e}"))?;
        let mut cfg = HandlerConfig::default();
        if let Some(t) = env.table_name {
            cfg.table = t;
        }
        cfg.topic_arn = env.alert_topic_arn;
        let a = &mut cfg.analysis;
        let set = |slot: &mut f64, v: Option<f64>| {
            if let Some(v) = v {
                *slot = v;
            }
        };
        set(&mut a.nominal_voltage_kv, env.nominal_voltage_kv);
        set(&mut a.nominal_frequency_hz, env.nominal_frequency_hz);
        set(&mut a.voltage_low_kv, env.voltage_low_kv);
        set(&mut a.voltage_high_kv, env.voltage_high_kv);
        set(&mut a.frequency_deviation_hz, env.frequency_deviation_hz);
        set(&mut a.overload_ratio, env.overload_ratio);
        set(&mut a.stability_min, env.stability_min);
        set(&mut a.default_power_factor, env.default_power_factor);
        match env.reorder_window_hours.as_deref() {
            None => {}
            Some(v) if v.eq_ignore_ascii_case("none") => a.reorder_window_hours = None,
            Some(v) => {
                a.reorder_window_hours =
                    Some(v.parse().map_err(|_| anyhow!("environment variable REORDER_WINDOW_HOURS={v:?} must be a whole number or \"none\""))?)
            }
        }
        if let Some(n) = env.max_alerts_per_location {
            a.max_alerts_per_location = n;
        }
        if let Some(text) = env.alarms {
            a.alarms = serde_json::from_str(&text).context("environment variable ALARMS is not valid JSON for [alarms]")?;
        }
        cfg.analysis.validate().map_err(|e| anyhow!("invalid thresholds from the environment: {e}"))?;
        Ok(cfg)
    }
}

/// The Lambda's environment, as `envy` reads it (names upper-cased: `TABLE_NAME`, ...).
#[derive(Debug, serde::Deserialize)]
struct LambdaEnv {
    table_name: Option<String>,
    alert_topic_arn: Option<String>,
    alarms: Option<String>,
    nominal_voltage_kv: Option<f64>,
    nominal_frequency_hz: Option<f64>,
    voltage_low_kv: Option<f64>,
    voltage_high_kv: Option<f64>,
    frequency_deviation_hz: Option<f64>,
    overload_ratio: Option<f64>,
    stability_min: Option<f64>,
    default_power_factor: Option<f64>,
    reorder_window_hours: Option<String>,
    max_alerts_per_location: Option<usize>,
}

/// The invocation's bounds besides the thresholds: how much of the time to the deadline is
/// kept for the steps after the stream, and the memory ceiling (see [`crate::store::budget`]).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Limits {
    /// `DEADLINE_RESERVE_SECONDS`; unset = [`DEFAULT_RESERVE_SHARE`] of the time the
    /// invocation had when it started.
    pub reserve: Option<Duration>,
    /// `MEMORY_LIMIT_MB`; unset = [`DEFAULT_MEMORY_SHARE`] of the function's memory
    /// (`AWS_LAMBDA_FUNCTION_MEMORY_SIZE`, set by Lambda), else none.
    pub memory_limit_bytes: Option<u64>,
    /// `SHARD_MB`: an object larger than this is split into shards of about this size, one
    /// invocation each ([`crate::store::fanout`]); unset = [`DEFAULT_SHARD_MB`], 0 = never.
    pub shard_mb: Option<f64>,
}

/// Megabytes per shard of a fanned-out object: what one invocation stores inside Lambda's
/// 900 s with room to spare (a shard also reads the whole object; README, "Cost and scale").
pub const DEFAULT_SHARD_MB: f64 = 128.0;

/// Share of an invocation's time kept for storing the results after the stream.
pub const DEFAULT_RESERVE_SHARE: f64 = 0.10;
/// Share of the function's memory the process may use before it stops (the rest is the
/// runtime's and the allocator's slack: an out-of-memory kill is not a clean failure).
pub const DEFAULT_MEMORY_SHARE: f64 = 0.85;

impl Limits {
    pub fn from_env() -> Result<Self> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let number = |name: &str| -> Result<Option<f64>> {
            match get(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty()) {
                None => Ok(None),
                Some(v) => match v.parse::<f64>() {
                    Ok(n) if n.is_finite() && n >= 0.0 => Ok(Some(n)),
                    _ => Err(anyhow!("environment variable {name}={v:?} must be a number >= 0")),
                },
            }
        };
        let reserve = number("DEADLINE_RESERVE_SECONDS")?.map(Duration::from_secs_f64);
        let memory_mb = match number("MEMORY_LIMIT_MB")? {
            Some(mb) => Some(mb),
            None => number("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")?.map(|mb| mb * DEFAULT_MEMORY_SHARE),
        };
        let shard_mb = number("SHARD_MB")?;
        Ok(Self { reserve, memory_limit_bytes: memory_mb.map(|mb| (mb * 1_048_576.0) as u64), shard_mb })
    }

    /// Bytes per shard (0: no fan-out).
    pub fn shard_bytes(&self) -> u64 {
        (self.shard_mb.unwrap_or(DEFAULT_SHARD_MB) * 1e6) as u64
    }

    /// The budget of an invocation that must end at `deadline`.
    pub fn budget(&self, deadline: Option<Instant>) -> Budget {
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now())).unwrap_or_default();
        Budget {
            deadline,
            reserve: self.reserve.unwrap_or_else(|| left.mul_f64(DEFAULT_RESERVE_SHARE)),
            memory_limit_bytes: self.memory_limit_bytes,
        }
    }
}

/// The clients (built once per container) and the settings.
#[derive(Clone)]
pub struct LambdaHandler {
    s3: aws_sdk_s3::Client,
    table: DynamoTable,
    sns: aws_sdk_sns::Client,
    cfg: HandlerConfig,
    limits: Limits,
}

impl LambdaHandler {
    pub fn new(sdk: &aws_config::SdkConfig, cfg: HandlerConfig) -> Self {
        Self::from_clients(super::sdk::s3_client(sdk), super::sdk::dynamodb_client(sdk), super::sdk::sns_client(sdk), cfg)
    }

    pub fn from_clients(
        s3: aws_sdk_s3::Client,
        dynamodb: aws_sdk_dynamodb::Client,
        sns: aws_sdk_sns::Client,
        cfg: HandlerConfig,
    ) -> Self {
        Self { s3, table: DynamoTable::new(dynamodb, cfg.table.clone()), sns, cfg, limits: Limits::default() }
    }

    pub fn with_limits(self, limits: Limits) -> Self {
        Self { limits, ..self }
    }

    pub fn table(&self) -> &DynamoTable {
        &self.table
    }

    pub fn config(&self) -> &HandlerConfig {
        &self.cfg
    }

    /// The recipe on this bucket, the table and the SNS topic.
    fn recipe(&self, bucket: &str) -> Recipe {
        let notifier: Option<Arc<dyn Notifier>> = self.cfg.topic_arn.as_ref().map(|topic| {
            Arc::new(SnsNotifier { sns: self.sns.clone(), topic: topic.clone(), bucket: bucket.to_string() }) as Arc<dyn Notifier>
        });
        Recipe {
            table: Arc::new(self.table.clone()),
            objects: Arc::new(S3Bucket::new(self.s3.clone(), bucket)),
            notifier,
            log: Arc::new(TracingLog { bucket: bucket.to_string() }),
            cfg: self.cfg.analysis.clone(),
        }
    }

    /// Handles one S3 event: every record, in order; a failing record does not stop the others.
    pub async fn handle(&self, event: &serde_json::Value) -> EventResponse {
        self.handle_until(event, None).await
    }

    /// [`LambdaHandler::handle`] for an invocation that ends at `deadline`: a record that
    /// cannot finish inside it (or inside the memory ceiling) stops early and fails cleanly,
    /// and so do the records after it, so S3's retry of the event does them again.
    pub async fn handle_until(&self, event: &serde_json::Value, deadline: Option<Instant>) -> EventResponse {
        let budget = self.limits.budget(deadline);
        let records = match event::records(event) {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "unusable event");
                return EventResponse {
                    records: vec![RecordResult { status: Some(RecordStatus::Failed), message: e, ..Default::default() }],
                    ..Default::default()
                };
            }
        };
        let mut out = Vec::with_capacity(records.len());
        for (index, record) in records.into_iter().enumerate() {
            let result = match record {
                Err(e) => {
                    tracing::error!(record = index, error = %e, "unusable event record");
                    RecordResult { index, status: Some(RecordStatus::Failed), message: e, ..Default::default() }
                }
                // Boxed: a record's future is large and deep (the Lambda's run() overflowed
                // the compiler's query depth once shards were added).
                Ok(obj) => Box::pin(self.handle_object(index, obj, budget)).await,
            };
            out.push(result);
        }
        EventResponse { records: out, ..Default::default() }
    }

    async fn handle_object(&self, index: usize, obj: event::ObjectRef, budget: Budget) -> RecordResult {
        let base = RecordResult { index, bucket: obj.bucket.clone(), key: obj.key.clone(), ..Default::default() };
        if !obj.event_name.is_empty() && !obj.event_name.starts_with("ObjectCreated") {
            tracing::info!(bucket = %obj.bucket, key = %obj.key, event = %obj.event_name, "ignored {}: not an object-created event", obj.key);
            return RecordResult { status: Some(RecordStatus::Ignored), message: format!("ignored {} event", obj.event_name), ..base };
        }
        if let Some(order) = ShardOrder::from_order_key(&obj.key) {
            return self.handle_order(base, &obj.bucket, order, budget).await;
        }
        if !obj.key.starts_with(object_keys::RAW_PREFIX) || obj.key.ends_with('/') {
            tracing::info!(bucket = %obj.bucket, key = %obj.key, "ignored {}: only objects under raw/ are analysed", obj.key);
            return RecordResult {
                status: Some(RecordStatus::Ignored),
                message: format!("ignored {}: only objects under raw/ are analysed", obj.key),
                ..base
            };
        }
        let started = Instant::now();
        match self.process_object_within(&obj.bucket, &obj.key, budget).await {
            Ok(mut r) => {
                r.index = index;
                r.duration_ms = started.elapsed().as_secs_f64() * 1000.0;
                r
            }
            Err(e) => {
                let message = format!("s3://{}/{}: {e:#}", obj.bucket, obj.key);
                tracing::error!(bucket = %obj.bucket, key = %obj.key, error = %format!("{e:#}"), "processing failed: {message}");
                RecordResult {
                    status: Some(RecordStatus::Failed),
                    message,
                    duration_ms: started.elapsed().as_secs_f64() * 1000.0,
                    ..base
                }
            }
        }
    }

    /// Analyses one raw object end to end.
    pub async fn process_object(&self, bucket: &str, key: &str) -> Result<RecordResult> {
        self.process_object_within(bucket, key, Budget::default()).await
    }

    async fn process_object_within(&self, bucket: &str, key: &str, budget: Budget) -> Result<RecordResult> {
        if self.limits.shard_bytes() > 0
            && let Some((size, etag)) = s3io::object_head(&self.s3, bucket, key).await?
        {
            let count = fanout::shard_count(size, self.limits.shard_bytes());
            if count > 1 {
                return self.fan_out(bucket, key, size, &etag, count).await;
            }
        }
        let done = self.recipe(bucket).process_within(key, budget).await?;
        Ok(record_result(bucket, &done))
    }

    /// Writes one order per shard under `work/`; each one's creation invokes the function again.
    async fn fan_out(&self, bucket: &str, key: &str, size: u64, etag: &str, count: usize) -> Result<RecordResult> {
        let orders = ShardOrder::all(key, etag, count);
        let s3 = &self.s3;
        futures::stream::iter(&orders)
            .map(|order| async move {
                let body = serde_json::to_vec_pretty(order)?;
                s3io::put_bytes(s3, bucket, &order.order_key(), body, "application/json").await
            })
            .buffer_unordered(crate::store::REQUESTS_IN_FLIGHT)
            .try_collect::<Vec<()>>()
            .await?;
        let folder = orders.first().map(ShardOrder::folder).unwrap_or_default();
        tracing::info!(bucket, key, shards = count, bytes = size, "split {key} into {count} shards: s3://{bucket}/{folder}");
        Ok(RecordResult {
            bucket: bucket.to_string(),
            key: key.to_string(),
            status: Some(RecordStatus::Sharded),
            message: format!("split {key} ({size} bytes) into {count} shards, one invocation each: s3://{bucket}/{folder}"),
            bytes: size,
            ..Default::default()
        })
    }

    /// One shard's order: its shard of the raw object, unless the object was replaced or removed since.
    async fn handle_order(&self, base: RecordResult, bucket: &str, order: ShardOrder, budget: Budget) -> RecordResult {
        let started = Instant::now();
        let ignored = |message: String| {
            tracing::info!(bucket, key = %base.key, "{message}");
            RecordResult { status: Some(RecordStatus::Ignored), message, ..base.clone() }
        };
        let processed = async {
            match s3io::object_head(&self.s3, bucket, &order.key).await? {
                None => Ok(Err(format!("ignored {}: {} is gone", base.key, order.key))),
                Some((_, etag)) if fanout::version_segment(&etag) != order.version => {
                    Ok(Err(format!("ignored {}: {} was replaced since (its own event splits it again)", base.key, order.key)))
                }
                // The fan-in removes the orders: one gone was delivered again after its
                // version was merged.
                Some(_) if s3io::object_size(&self.s3, bucket, &base.key).await?.is_none() => {
                    Ok(Err(format!("ignored {}: every shard of this version of {} is merged already", base.key, order.key)))
                }
                Some(_) => self.recipe(bucket).process_shard(&order, budget).await.map(|done| Ok(record_result(bucket, &done))),
            }
        };
        match processed.await {
            Ok(Ok(mut r)) => {
                r.index = base.index;
                r.key = base.key.clone();
                r.duration_ms = started.elapsed().as_secs_f64() * 1000.0;
                r
            }
            Ok(Err(message)) => ignored(message),
            Err(e) => {
                let message = format!("s3://{bucket}/{}: {e:#}", base.key);
                tracing::error!(bucket, key = %base.key, error = %format!("{e:#}"), "processing failed: {message}");
                RecordResult { status: Some(RecordStatus::Failed), message, duration_ms: started.elapsed().as_secs_f64() * 1000.0, ..base }
            }
        }
    }
}

/// The record's outcome from what the recipe did (a whole object or one shard of it).
fn record_result(bucket: &str, done: &Processed) -> RecordResult {
    let (key, report) = (&done.key, &done.report);
    let status = if report.file_error.is_some() { RecordStatus::FileError } else { RecordStatus::Processed };
    let what = match &done.shard {
        None => key.clone(),
        Some((order, false)) => format!("shard {} of {} of {key}", order.index + 1, order.count),
        Some((order, true)) => format!("shard {} of {} of {key} (the last: every shard merged)", order.index + 1, order.count),
    };
    let message = match &report.file_error {
        Some(e) => format!("{what}: {e}"),
        None => format!(
            "processed {what}: {} rows ({} rejected), {} hourly rollups, status {}",
            report.rows_read,
            report.rows_rejected,
            done.rollups_written,
            report.alert_status()
        ),
    };
    RecordResult {
        index: 0,
        bucket: bucket.to_string(),
        key: key.to_string(),
        status: Some(status),
        message,
        bytes: done.bytes.unwrap_or(0),
        rows_read: report.rows_read,
        rows_rejected: report.rows_rejected,
        rollups_written: done.rollups_written,
        alerts: done.alarms,
        new_alerts: done.new_count(),
        locations: report.locations.iter().map(|l| l.location.clone()).collect(),
        results_key: Some(done.results_key.clone()),
        rejected_key: done.rejected_key.clone(),
        duration_ms: 0.0,
        phases_ms: done.phases_ms.clone(),
    }
}

/// Alarm notifications on SNS, with message attributes (priority, substation, rule, state)
/// that subscription filter policies select on.
struct SnsNotifier {
    sns: aws_sdk_sns::Client,
    topic: String,
    bucket: String,
}

impl SnsNotifier {
    async fn publish(&self, subject: String, body: serde_json::Value, attrs: [(&str, String); 4]) -> Result<()> {
        use aws_sdk_sns::types::MessageAttributeValue;
        let mut request = self.sns.publish().topic_arn(&self.topic).subject(subject).message(serde_json::to_string_pretty(&body)?);
        for (name, value) in attrs {
            request = request.message_attributes(name, MessageAttributeValue::builder().data_type("String").string_value(value).build()?);
        }
        request.send().await.map_err(|e| anyhow!("cannot publish to {}: {}", self.topic, error_text(&e)))?;
        Ok(())
    }
}

#[async_trait]
impl Notifier for SnsNotifier {
    async fn alarm(&self, alert: &Alert, source: &str) -> Result<()> {
        let body = serde_json::json!({
            "alert_id": alert.id(),
            "alert": alert,
            "source": format!("s3://{}/{source}", self.bucket),
            "results": format!("s3://{}/{}", self.bucket, object_keys::results_key(source)),
        });
        let state = if alert.active { "active" } else { "returned_to_normal" };
        let attrs = [
            ("priority", alert.priority.to_string()),
            ("substation", alert.location.clone()),
            ("rule", alert.rule.to_string()),
            ("state", state.to_string()),
        ];
        self.publish(alert_subject(alert), body, attrs).await.with_context(|| format!("alarm {}", alert.id()))
    }

    async fn digest(&self, digest: &Digest) -> Result<()> {
        let body = serde_json::json!({ "digest": digest, "source": format!("s3://{}/{}", self.bucket, digest.source) });
        let substation = if digest.counts.len() == 1 { digest.counts.keys().next().cloned().unwrap_or_default() } else { "multiple".into() };
        let attrs = [
            ("priority", digest.highest_priority.to_string()),
            ("substation", substation),
            ("rule", "digest".to_string()),
            ("state", if digest.flood { "flood".to_string() } else { "digest".to_string() }),
        ];
        let subject = ascii_subject(&format!(
            "gridwatch {} new alarms{} (highest {})",
            digest.alarms,
            if digest.flood { " - FLOOD" } else { "" },
            digest.highest_priority
        ));
        self.publish(subject, body, attrs).await
    }
}

/// Log lines as tracing events (JSON on stdout: CloudWatch Logs).
struct TracingLog {
    bucket: String,
}

impl ProcessLog for TracingLog {
    fn line(&self, level: LogLevel, key: &str, line: &str) {
        let bucket = self.bucket.as_str();
        match level {
            LogLevel::Debug => tracing::debug!(bucket, key, "{line}"),
            LogLevel::Info => tracing::info!(bucket, key, "{line}"),
            LogLevel::Warn => tracing::warn!(bucket, key, "{line}"),
            LogLevel::Error => tracing::error!(bucket, key, "{line}"),
        }
    }
}

/// An SNS subject: ASCII, one line, at most 100 characters.
pub fn alert_subject(alert: &Alert) -> String {
    ascii_subject(&format!("gridwatch {} {} at {}", alert.priority.as_str().to_uppercase(), alert.rule, alert.location))
}

fn ascii_subject(text: &str) -> String {
    let mut subject: String =
        text.chars().map(|c| if c.is_ascii_graphic() || c == ' ' { c } else { '?' }).take(100).collect();
    subject.truncate(subject.trim_end().len());
    subject
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_from_env_names_bad_variables() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
        };
        let cfg = HandlerConfig::from_lookup(env(&[
            ("TABLE_NAME", "T"),
            ("ALERT_TOPIC_ARN", "arn:aws:sns:us-east-1:123456789012:alerts"),
            ("NOMINAL_FREQUENCY_HZ", "50"),
            ("REORDER_WINDOW_HOURS", "none"),
            ("MAX_ALERTS_PER_LOCATION", "10"),
        ]))
        .unwrap();
        assert_eq!(cfg.table, "T");
        assert_eq!(cfg.analysis.nominal_frequency_hz, 50.0);
        assert_eq!(cfg.analysis.reorder_window_hours, None);
        assert_eq!(cfg.analysis.max_alerts_per_location, 10);
        let err = HandlerConfig::from_lookup(env(&[("VOLTAGE_LOW_KV", "low")])).unwrap_err().to_string();
        assert!(err.contains("VOLTAGE_LOW_KV"), "{err}");
        let err = HandlerConfig::from_lookup(env(&[("VOLTAGE_LOW_KV", "15")])).unwrap_err().to_string();
        assert!(err.contains("voltage_low_kv"), "{err}");
        assert_eq!(HandlerConfig::from_lookup(|_| None).unwrap(), HandlerConfig::default());
    }

    #[test]
    fn limits_from_env_and_the_budget_they_give() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
        };
        assert_eq!(Limits::from_lookup(|_| None).unwrap(), Limits::default());
        let lambda = Limits::from_lookup(env(&[("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1769")])).unwrap();
        assert_eq!(lambda.memory_limit_bytes, Some((1769.0 * DEFAULT_MEMORY_SHARE * 1_048_576.0) as u64));
        let set = Limits::from_lookup(env(&[
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1769"),
            ("MEMORY_LIMIT_MB", "64"),
            ("DEADLINE_RESERVE_SECONDS", "2.5"),
        ]))
        .unwrap();
        assert_eq!(set, Limits { reserve: Some(Duration::from_millis(2500)), memory_limit_bytes: Some(64 << 20), shard_mb: None });
        let err = Limits::from_lookup(env(&[("MEMORY_LIMIT_MB", "-3")])).unwrap_err().to_string();
        assert!(err.contains("MEMORY_LIMIT_MB"), "{err}");
        // Without a set reserve, a tenth of the time left is kept.
        let deadline = Instant::now() + Duration::from_secs(100);
        let budget = lambda.budget(Some(deadline));
        assert!(budget.reserve <= Duration::from_secs(10) && budget.reserve > Duration::from_secs(9), "{budget:?}");
        assert_eq!(set.budget(Some(deadline)).reserve, Duration::from_millis(2500));
        assert_eq!(Limits::default().budget(None), Budget::default());
    }

    #[test]
    fn subjects_fit_sns() {
        let alert = Alert {
            location: "Ünterwerk\nNord ".repeat(20),
            rule: crate::model::AlertRule::Undervoltage,
            priority: crate::model::Priority::High,
            started_at: chrono::Utc::now(),
            activated_at: chrono::Utc::now(),
            ended_at: chrono::Utc::now(),
            active: true,
            chattering: false,
            shelved_until: None,
            worst_value: 13.1,
            threshold: 13.5,
            samples: 3,
            message: String::new(),
        };
        let s = alert_subject(&alert);
        assert!(s.len() <= 100 && s.is_ascii() && !s.contains('\n'), "{s:?}");
    }
}
