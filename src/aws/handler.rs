//! The S3-event handler: what the Lambda runs for every `raw/` upload (and what the
//! integration tests run in-process). The AWS twin of `LocalBackend::process_key`.
//!
//! Per object: stream it from S3 through the engine on a blocking thread (rollups go to
//! DynamoDB in batches while the file is read; rejected rows to a temp file), read 8 weeks
//! of stored history per substation for the forecast, then write the forecast, the alert
//! episodes (SNS once per new alert), the substation index items (only if newer), the
//! detailed report to `results/` and the rejected rows to `rejected/`.
//! Everything is keyed by content, so delivering the same event twice stores the same
//! items and publishes nothing the second time.

use super::attrs;
use super::error_text;
use super::event::{self, EventResponse, RecordResult, RecordStatus};
use super::s3io::{self, S3Reader};
use super::table::Table;
use crate::backend::LogLevel;
use crate::config::AnalysisConfig;
use crate::engine::{self, AnalysisSink};
use crate::athena;
use crate::items::{self, LatestRollups};
use crate::rejected::RejectedSpool;
use crate::keys;
use crate::model::{Alert, HourlyRollup, RejectedRow};
use anyhow::{anyhow, Context, Result};
use chrono::Utc;
use std::collections::BTreeMap;
use std::time::Instant;

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

/// Environment variables of the thresholds, with the field each one sets.
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
    /// Reads `TABLE_NAME`, `ALERT_TOPIC_ARN` and the thresholds of [`THRESHOLD_VARS`].
    /// A bad value is an error naming the variable.
    pub fn from_env() -> Result<Self> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let mut cfg = HandlerConfig::default();
        if let Some(t) = get("TABLE_NAME").filter(|t| !t.trim().is_empty()) {
            cfg.table = t.trim().to_string();
        }
        cfg.topic_arn = get("ALERT_TOPIC_ARN").map(|t| t.trim().to_string()).filter(|t| !t.is_empty());
        let mut analysis = serde_json::to_value(&cfg.analysis)?;
        for (var, field) in THRESHOLD_VARS {
            let Some(text) = get(var).map(|v| v.trim().to_string()).filter(|v| !v.is_empty()) else { continue };
            let value: serde_json::Value = if field == "reorder_window_hours" && text.eq_ignore_ascii_case("none") {
                serde_json::Value::Null
            } else {
                let number: f64 = text.parse().map_err(|_| anyhow!("environment variable {var}={text:?} is not a number"))?;
                if field == "reorder_window_hours" || field == "max_alerts_per_location" {
                    anyhow::ensure!(number >= 0.0 && number.fract() == 0.0, "environment variable {var}={text:?} must be a whole number");
                    serde_json::json!(number as u64)
                } else {
                    serde_json::json!(number)
                }
            };
            analysis[field] = value;
        }
        cfg.analysis = serde_json::from_value(analysis).context("invalid threshold environment variables")?;
        cfg.analysis.validate().map_err(|e| anyhow!("invalid thresholds from the environment: {e}"))?;
        Ok(cfg)
    }
}

/// The clients (built once per container) and the settings.
#[derive(Debug, Clone)]
pub struct Pipeline {
    s3: aws_sdk_s3::Client,
    table: Table,
    sns: aws_sdk_sns::Client,
    cfg: HandlerConfig,
}

impl Pipeline {
    pub fn new(sdk: &aws_config::SdkConfig, cfg: HandlerConfig) -> Self {
        Self::from_clients(super::sdk::s3_client(sdk), super::sdk::dynamodb_client(sdk), super::sdk::sns_client(sdk), cfg)
    }

    pub fn from_clients(
        s3: aws_sdk_s3::Client,
        dynamodb: aws_sdk_dynamodb::Client,
        sns: aws_sdk_sns::Client,
        cfg: HandlerConfig,
    ) -> Self {
        Self { s3, table: Table::new(dynamodb, cfg.table.clone()), sns, cfg }
    }

    pub fn table(&self) -> &Table {
        &self.table
    }

    pub fn config(&self) -> &HandlerConfig {
        &self.cfg
    }

    /// Handles one S3 event: every record, in order; a failing record does not stop the others.
    pub async fn handle(&self, event: &serde_json::Value) -> EventResponse {
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
                Ok(obj) => self.handle_object(index, obj).await,
            };
            out.push(result);
        }
        EventResponse { records: out, ..Default::default() }
    }

    async fn handle_object(&self, index: usize, obj: event::ObjectRef) -> RecordResult {
        let base = RecordResult { index, bucket: obj.bucket.clone(), key: obj.key.clone(), ..Default::default() };
        if !obj.event_name.is_empty() && !obj.event_name.starts_with("ObjectCreated") {
            tracing::info!(bucket = %obj.bucket, key = %obj.key, event = %obj.event_name, "ignored {}: not an object-created event", obj.key);
            return RecordResult { status: Some(RecordStatus::Ignored), message: format!("ignored {} event", obj.event_name), ..base };
        }
        if !obj.key.starts_with(keys::RAW_PREFIX) || obj.key.ends_with('/') {
            tracing::info!(bucket = %obj.bucket, key = %obj.key, "ignored {}: only objects under raw/ are analysed", obj.key);
            return RecordResult {
                status: Some(RecordStatus::Ignored),
                message: format!("ignored {}: only objects under raw/ are analysed", obj.key),
                ..base
            };
        }
        let started = Instant::now();
        match self.process_object(&obj.bucket, &obj.key).await {
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
        keys::validate_key(key)?;
        let started = Instant::now();
        let reader = S3Reader::open(&self.s3, bucket, key).await?;
        let bytes = reader.length().unwrap_or(0);
        let handle = tokio::runtime::Handle::current();
        let (table, cfg, source) = (self.table.clone(), self.cfg.analysis.clone(), key.to_string());
        let athena = AthenaOut { s3: self.s3.clone(), bucket: bucket.to_string(), writer: athena::PartitionWriter::new(key) };
        let (mut outcome, sink) = tokio::task::spawn_blocking(move || -> Result<_> {
            let mut sink = AwsSink::new(handle, table, athena)?;
            let outcome = engine::analyze_stream(reader, &source, &cfg, &mut sink)?;
            Ok((outcome, sink))
        })
        .await
        .map_err(|e| anyhow!("the analysis of {key} stopped unexpectedly: {e}"))??;
        let AwsSink { rollups_written, latest, rejected, athena, .. } = sink;
        // The days still open go to the Athena layout now (settled days went while streaming).
        for object in athena.writer.finish()? {
            put_athena_object(&self.s3, bucket, object).await?;
        }
        let mut phases = Phases::new();
        phases.lap("stream_and_rollups", started);

        // Stored history for the forecast, all substations of the file at once.
        let windows = items::history_windows(&outcome.report);
        let mut reads = tokio::task::JoinSet::new();
        for (location, (from, to)) in windows {
            let table = self.table.clone();
            reads.spawn(async move {
                let history = table.load_history(&location, from, to).await;
                (location, history)
            });
        }
        let mut history = BTreeMap::new();
        while let Some(done) = reads.join_next().await {
            let (location, h) = done.map_err(|e| anyhow!("history read stopped: {e}"))?;
            history.insert(location, h?);
        }
        phases.lap("history", started);
        engine::attach_forecasts(&mut outcome, |location| history.remove(location).unwrap_or_default());
        let report = outcome.report;
        let plan = items::plan_writes(&report, &latest, key, Utc::now());

        // Substations and alerts are independent: a few requests in flight at once.
        let table = self.table.clone();
        bounded(plan.forecasts.clone().into_iter().collect(), CONCURRENCY, move |(location, points): (String, Vec<_>)| {
            let table = table.clone();
            async move { table.replace_forecast(&location, &points).await }
        })
        .await?;
        phases.lap("forecast", started);
        let (this, b, k) = (self.clone(), bucket.to_string(), key.to_string());
        let published = bounded(plan.alerts.clone(), CONCURRENCY, move |alert: Alert| {
            let (this, b, k) = (this.clone(), b.clone(), k.clone());
            async move { Ok(this.store_alert(&alert, &b, &k).await?.then_some(alert)) }
        })
        .await?;
        let mut new_alerts: Vec<Alert> = published.into_iter().flatten().collect();
        new_alerts.sort_by(|a, b| a.started_at.cmp(&b.started_at).then_with(|| a.id().cmp(&b.id())));
        phases.lap("alerts", started);
        for state in &plan.states {
            self.table.put_state_if_newer(state, bucket).await?;
        }
        phases.lap("index", started);

        let results_key = keys::results_key(key);
        s3io::put_bytes(&self.s3, bucket, &results_key, serde_json::to_vec_pretty(&report)?, "application/json").await?;
        let rejected_key = keys::rejected_key(key);
        let rejected_key = match rejected.finish()? {
            Some(file) => {
                s3io::upload_file(&self.s3, bucket, &rejected_key, file.path(), "text/csv", s3io::DEFAULT_PART_SIZE, &|_| {})
                    .await?;
                Some(rejected_key)
            }
            None => {
                // A stale list from an earlier version of the object is derived data.
                s3io::delete_derived(&self.s3, bucket, &rejected_key).await?;
                None
            }
        };

        phases.lap("s3_outputs", started);
        for (level, line) in items::outcome_log_lines(key, &report, rollups_written, &new_alerts, started.elapsed()) {
            log_line(level, bucket, key, &line);
        }
        let status = if report.file_error.is_some() { RecordStatus::FileError } else { RecordStatus::Processed };
        let message = match &report.file_error {
            Some(e) => format!("{key}: {e}"),
            None => format!(
                "processed {key}: {} rows ({} rejected), {} hourly rollups, status {}",
                report.rows_read,
                report.rows_rejected,
                rollups_written,
                report.alert_status()
            ),
        };
        Ok(RecordResult {
            index: 0,
            bucket: bucket.to_string(),
            key: key.to_string(),
            status: Some(status),
            message,
            bytes,
            rows_read: report.rows_read,
            rows_rejected: report.rows_rejected,
            rollups_written,
            alerts: plan.alerts.len() as u64,
            new_alerts: new_alerts.len() as u64,
            locations: report.locations.iter().map(|l| l.location.clone()).collect(),
            results_key: Some(results_key),
            rejected_key,
            duration_ms: started.elapsed().as_secs_f64() * 1000.0,
            phases_ms: phases.0,
        })
    }

    /// Stores an alert episode; publishes it when this is the first time it is seen.
    /// Returns whether it is new (published now, or first stored when no topic is set).
    async fn store_alert(&self, alert: &Alert, bucket: &str, key: &str) -> Result<bool> {
        let Some(topic) = &self.cfg.topic_arn else {
            return self.table.upsert_alert(alert, None).await;
        };
        // One write stores the episode and claims its notification (if nobody has).
        let now = Utc::now();
        if !self.table.upsert_alert(alert, Some(now)).await? {
            return Ok(false);
        }
        if let Err(e) = self.publish(topic, alert, bucket, key).await {
            // Give the claim back so that the retry of this event notifies.
            if let Err(release) = self.table.release_notification(alert, now).await {
                tracing::error!(alert = %alert.id(), error = %format!("{release:#}"), "could not release the notification claim");
            }
            return Err(e);
        }
        Ok(true)
    }

    async fn publish(&self, topic: &str, alert: &Alert, bucket: &str, key: &str) -> Result<()> {
        use aws_sdk_sns::types::MessageAttributeValue;
        let attr = |v: &str| MessageAttributeValue::builder().data_type("String").string_value(v).build();
        let body = serde_json::json!({
            "alert_id": alert.id(),
            "alert": alert,
            "source": format!("s3://{bucket}/{key}"),
            "results": format!("s3://{bucket}/{}", keys::results_key(key)),
        });
        self.sns
            .publish()
            .topic_arn(topic)
            .subject(alert_subject(alert))
            .message(serde_json::to_string_pretty(&body)?)
            .message_attributes("severity", attr(alert.severity.as_str())?)
            .message_attributes("rule", attr(alert.rule.as_str())?)
            .message_attributes("location", attr(&alert.location)?)
            .send()
            .await
            .map_err(|e| anyhow!("cannot publish alert {} to {topic}: {}", alert.id(), error_text(&e)))?;
        Ok(())
    }
}

/// An SNS subject: ASCII, one line, at most 100 characters.
pub fn alert_subject(alert: &Alert) -> String {
    let text = format!("gridwatch {} {} at {}", alert.severity.as_str().to_uppercase(), alert.rule, alert.location);
    let mut subject: String =
        text.chars().map(|c| if c.is_ascii_graphic() || c == ' ' { c } else { '?' }).take(100).collect();
    subject.truncate(subject.trim_end().len());
    subject
}

/// Requests in flight at once for per-substation and per-alert writes.
const CONCURRENCY: usize = 8;

/// Runs `f` on every item with at most `limit` running at once; the first error wins.
async fn bounded<T, R, F, Fut>(items: Vec<T>, limit: usize, f: F) -> Result<Vec<R>>
where
    T: Send + 'static,
    R: Send + 'static,
    F: Fn(T) -> Fut,
    Fut: std::future::Future<Output = Result<R>> + Send + 'static,
{
    let mut tasks = tokio::task::JoinSet::new();
    let mut out = Vec::new();
    let mut first_error = None;
    let mut collect = |done: Result<Result<R>, tokio::task::JoinError>, first_error: &mut Option<anyhow::Error>| match done {
        Ok(Ok(r)) => out.push(r),
        Ok(Err(e)) => {
            first_error.get_or_insert(e);
        }
        Err(e) => {
            first_error.get_or_insert(anyhow!("a write task stopped: {e}"));
        }
    };
    for item in items {
        while tasks.len() >= limit {
            if let Some(done) = tasks.join_next().await {
                collect(done, &mut first_error);
            }
        }
        tasks.spawn(f(item));
    }
    while let Some(done) = tasks.join_next().await {
        collect(done, &mut first_error);
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

/// Milliseconds per phase of one object.
struct Phases(BTreeMap<String, f64>, f64);

impl Phases {
    fn new() -> Self {
        Phases(BTreeMap::new(), 0.0)
    }
    /// Records the time since the previous lap under `name`.
    fn lap(&mut self, name: &str, started: Instant) {
        let now = started.elapsed().as_secs_f64() * 1000.0;
        self.0.insert(name.to_string(), now - self.1);
        self.1 = now;
    }
}

fn log_line(level: LogLevel, bucket: &str, key: &str, line: &str) {
    match level {
        LogLevel::Debug => tracing::debug!(bucket, key, "{line}"),
        LogLevel::Info => tracing::info!(bucket, key, "{line}"),
        LogLevel::Warn => tracing::warn!(bucket, key, "{line}"),
        LogLevel::Error => tracing::error!(bucket, key, "{line}"),
    }
}

/// Gzip JSON lines, stored as bytes (no Content-Encoding: Athena decompresses `.gz` by name).
async fn put_athena_object(s3: &aws_sdk_s3::Client, bucket: &str, object: athena::PartitionObject) -> Result<()> {
    s3io::put_bytes(s3, bucket, &object.key, object.body, "application/gzip").await
}

/// The rollups' copy in the Athena layout (`results/hourly/day=.../`), written per settled day.
struct AthenaOut {
    s3: aws_sdk_s3::Client,
    bucket: String,
    writer: athena::PartitionWriter,
}

/// Receives rollups and rejected rows while the file streams (on a blocking thread).
struct AwsSink {
    handle: tokio::runtime::Handle,
    table: Table,
    rollups_written: u64,
    latest: LatestRollups,
    rejected: RejectedSpool,
    athena: AthenaOut,
}

impl AwsSink {
    fn new(handle: tokio::runtime::Handle, table: Table, athena: AthenaOut) -> Result<Self> {
        Ok(Self {
            handle,
            table,
            rollups_written: 0,
            latest: LatestRollups::default(),
            rejected: RejectedSpool::default(),
            athena,
        })
    }
}

impl AnalysisSink for AwsSink {
    fn rollups(&mut self, batch: Vec<HourlyRollup>) -> Result<()> {
        self.latest.observe(&batch);
        let items = batch.iter().map(attrs::rollup_item).collect();
        self.rollups_written += self.handle.block_on(self.table.batch_put(items))?;
        self.athena.writer.push(&batch)?;
        for object in self.athena.writer.take_ready() {
            self.handle.block_on(put_athena_object(&self.athena.s3, &self.athena.bucket, object))?;
        }
        Ok(())
    }
    fn rejected(&mut self, row: &RejectedRow) -> Result<()> {
        self.rejected.push(row)
    }
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
    fn subjects_fit_sns() {
        let alert = Alert {
            location: "Ünterwerk\nNord ".repeat(20),
            rule: crate::model::AlertRule::Undervoltage,
            severity: crate::model::AlertStatus::Critical,
            started_at: Utc::now(),
            ended_at: Utc::now(),
            worst_value: 13.1,
            threshold: 13.5,
            samples: 3,
            message: String::new(),
        };
        let s = alert_subject(&alert);
        assert!(s.len() <= 100 && s.is_ascii() && !s.contains('\n'), "{s:?}");
    }
}
