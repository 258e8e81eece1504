//! Following the Lambda's CloudWatch log group from the dashboard.
//!
//! FilterLogEvents over the whole group (all streams interleaved), from a little before
//! the newest event already shown (events can land late and out of order across streams),
//! with de-duplication by event id. Throttling and other failures back off exponentially
//! (1 s, 2 s, 4 s ... 60 s): during a back-off a poll sends no request at all.
//! StartLiveTail is not used: it needs a separate streaming endpoint that emulators do not
//! serve, and polling costs one request per poll interval when nothing happens.

use crate::backend::{LogLevel, LogLine, LogSource};
use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use std::collections::{HashSet, VecDeque};
use std::time::{Duration, Instant};

/// Re-read this far behind the newest event seen (late arrivals); duplicates are dropped.
const OVERLAP_MS: i64 = 10_000;
/// At most this many pages per poll; the rest comes with the next poll.
const MAX_PAGES_PER_POLL: usize = 5;
/// Event ids remembered for de-duplication.
const SEEN_CAPACITY: usize = 20_000;

/// One event as the service returns it.
#[derive(Debug, Clone, PartialEq)]
pub struct RawEvent {
    pub id: String,
    pub timestamp_ms: i64,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct FilterPage {
    pub events: Vec<RawEvent>,
    pub next_token: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum FilterError {
    /// ThrottlingException / rate exceeded: back off.
    Throttled(String),
    Other(String),
}

/// The one call the tail needs (the SDK client implements it; tests use fakes).
#[async_trait]
pub trait FilterLogs: Send + Sync {
    async fn filter(&self, group: &str, start_ms: i64, token: Option<String>) -> Result<FilterPage, FilterError>;
}

#[async_trait]
impl FilterLogs for aws_sdk_cloudwatchlogs::Client {
    async fn filter(&self, group: &str, start_ms: i64, token: Option<String>) -> Result<FilterPage, FilterError> {
        use aws_sdk_cloudwatchlogs::error::ProvideErrorMetadata;
        let out = self
            .filter_log_events()
            .log_group_name(group)
            .start_time(start_ms)
            .set_next_token(token)
            .limit(1000)
            .send()
            .await
            .map_err(|e| {
                let code = e.as_service_error().and_then(|s| s.code()).unwrap_or("");
                let text = format!("CloudWatch Logs {group}: {}", super::error_text(&e));
                if code.contains("Throttl") || e.raw_response().is_some_and(|r| r.status().as_u16() == 429) {
                    FilterError::Throttled(text)
                } else {
                    FilterError::Other(text)
                }
            })?;
        let events = out
            .events()
            .iter()
            .map(|e| RawEvent {
                id: e.event_id().unwrap_or_default().to_string(),
                timestamp_ms: e.timestamp().unwrap_or_default(),
                message: e.message().unwrap_or_default().to_string(),
            })
            .collect();
        Ok(FilterPage { events, next_token: out.next_token().filter(|t| !t.is_empty()).map(str::to_string) })
    }
}

/// A [`LogSource`] over a CloudWatch log group.
pub struct CloudWatchTail<F: FilterLogs = aws_sdk_cloudwatchlogs::Client> {
    source: F,
    group: String,
    /// Next FilterLogEvents start time (ms since the epoch).
    start_ms: i64,
    newest_ms: i64,
    pending_token: Option<String>,
    seen: HashSet<String>,
    seen_order: VecDeque<String>,
    failures: u32,
    retry_at: Option<Instant>,
    requests: u64,
}

impl<F: FilterLogs> CloudWatchTail<F> {
    /// Follows `group`, starting `lookback` before now.
    pub fn new(source: F, group: impl Into<String>, lookback: Duration) -> Self {
        let start_ms = Utc::now().timestamp_millis() - lookback.as_millis() as i64;
        Self::starting_at(source, group, start_ms)
    }

    pub fn starting_at(source: F, group: impl Into<String>, start_ms: i64) -> Self {
        Self {
            source,
            group: group.into(),
            start_ms,
            newest_ms: start_ms,
            pending_token: None,
            seen: HashSet::new(),
            seen_order: VecDeque::new(),
            failures: 0,
            retry_at: None,
            requests: 0,
        }
    }

    /// FilterLogEvents requests sent so far.
    pub fn requests(&self) -> u64 {
        self.requests
    }

    fn remember(&mut self, id: String) -> bool {
        if !self.seen.insert(id.clone()) {
            return false;
        }
        self.seen_order.push_back(id);
        while self.seen_order.len() > SEEN_CAPACITY {
            if let Some(old) = self.seen_order.pop_front() {
                self.seen.remove(&old);
            }
        }
        true
    }

    fn back_off(&mut self) -> Duration {
        self.failures = self.failures.saturating_add(1);
        let delay = Duration::from_secs((1u64 << self.failures.saturating_sub(1).min(6)).min(60));
        self.retry_at = Some(Instant::now() + delay);
        delay
    }

    async fn poll_inner(&mut self) -> crate::store::StoreResult<Vec<LogLine>> {
        if let Some(at) = self.retry_at {
            if Instant::now() < at {
                return Ok(Vec::new());
            }
            self.retry_at = None;
        }
        let mut events = Vec::new();
        let mut token = self.pending_token.take();
        for page_no in 0..MAX_PAGES_PER_POLL {
            self.requests += 1;
            let page = match self.source.filter(&self.group, self.start_ms, token.clone()).await {
                Ok(page) => page,
                Err(err) => {
                    self.pending_token = token;
                    let delay = self.back_off();
                    let (FilterError::Throttled(text) | FilterError::Other(text)) = &err;
                    let what = if matches!(err, FilterError::Throttled(_)) { "throttled" } else { "failed" };
                    return Err(crate::store::StoreError::other(format!("{text} ({what}; next try in {} s)", delay.as_secs())));
                }
            };
            events.extend(page.events);
            match page.next_token {
                Some(t) if page_no + 1 < MAX_PAGES_PER_POLL => token = Some(t),
                Some(t) => {
                    self.pending_token = Some(t);
                    break;
                }
                None => break,
            }
        }
        self.failures = 0;
        let mut lines = Vec::new();
        for e in events {
            if !self.remember(e.id.clone()) {
                continue;
            }
            self.newest_ms = self.newest_ms.max(e.timestamp_ms);
            if let Some(line) = parse_event(&e) {
                lines.push(line);
            }
        }
        if self.pending_token.is_none() {
            self.start_ms = self.start_ms.max(self.newest_ms - OVERLAP_MS);
        }
        lines.sort_by_key(|l| l.timestamp);
        Ok(lines)
    }
}

#[async_trait]
impl<F: FilterLogs> LogSource for CloudWatchTail<F> {
    async fn poll(&mut self) -> crate::store::StoreResult<Vec<LogLine>> {
        self.poll_inner().await
    }
}

fn level_of(text: &str) -> LogLevel {
    match text.to_ascii_uppercase().as_str() {
        "ERROR" | "FATAL" | "CRITICAL" => LogLevel::Error,
        "WARN" | "WARNING" => LogLevel::Warn,
        "DEBUG" | "TRACE" => LogLevel::Debug,
        _ => LogLevel::Info,
    }
}

/// One CloudWatch event as a dashboard log line: the Lambda's JSON lines (tracing's
/// flattened format: `level`, `message`, fields), Lambda's JSON platform records, or
/// plain text. START/END platform lines are dropped (REPORT is kept: it has the timings).
pub fn parse_event(e: &RawEvent) -> Option<LogLine> {
    let timestamp = Utc.timestamp_millis_opt(e.timestamp_ms).single().unwrap_or(DateTime::<Utc>::MIN_UTC);
    let text = e.message.trim_end();
    if text.starts_with("START RequestId:") || text.starts_with("END RequestId:") || text.is_empty() {
        return None;
    }
    if let Ok(serde_json::Value::Object(map)) = serde_json::from_str::<serde_json::Value>(text) {
        let level = map.get("level").and_then(|l| l.as_str()).map(level_of).unwrap_or_default();
        if let Some(message) = map.get("message").and_then(|m| m.as_str()) {
            let mut message = message.to_string();
            if let Some(err) = map.get("error").and_then(|e| e.as_str())
                && !message.contains(err)
            {
                message.push_str(&format!(" (error: {err})"));
            }
            return Some(LogLine { timestamp, level, message });
        }
        if let Some(kind) = map.get("type").and_then(|t| t.as_str()) {
            if kind == "platform.start" || kind == "platform.end" || kind == "platform.runtimeDone" {
                return None;
            }
            let record = map.get("record").map(|r| r.to_string()).unwrap_or_default();
            return Some(LogLine { timestamp, level, message: format!("{kind} {record}") });
        }
    }
    let level = if text.contains("ERROR") || text.starts_with("Task timed out") {
        LogLevel::Error
    } else {
        LogLevel::Info
    };
    Some(LogLine { timestamp, level, message: text.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    type Script = VecDeque<Result<FilterPage, FilterError>>;
    type Calls = Vec<(i64, Option<String>)>;

    #[derive(Clone, Default)]
    struct Fake {
        script: Arc<Mutex<Script>>,
        calls: Arc<Mutex<Calls>>,
    }

    #[async_trait]
    impl FilterLogs for Fake {
        async fn filter(&self, _group: &str, start_ms: i64, token: Option<String>) -> Result<FilterPage, FilterError> {
            self.calls.lock().unwrap().push((start_ms, token));
            self.script.lock().unwrap().pop_front().unwrap_or(Ok(FilterPage::default()))
        }
    }

    fn ev(id: &str, ts: i64, msg: &str) -> RawEvent {
        RawEvent { id: id.into(), timestamp_ms: ts, message: msg.into() }
    }

    #[tokio::test]
    async fn drops_duplicates_and_follows_pages() {
        let fake = Fake::default();
        fake.script.lock().unwrap().extend([
            Ok(FilterPage { events: vec![ev("1", 1_000_000, "START RequestId: x"), ev("2", 1_000_100, r#"{"level":"WARN","message":"raw/a.csv: 1 row(s) rejected"}"#)], next_token: Some("t".into()) }),
            Ok(FilterPage { events: vec![ev("3", 1_000_200, "REPORT RequestId: x Duration: 5 ms")], next_token: None }),
            // The overlap re-reads events 2 and 3: they are not shown twice.
            Ok(FilterPage { events: vec![ev("2", 1_000_100, "dup"), ev("3", 1_000_200, "dup"), ev("4", 1_000_300, r#"{"level":"ERROR","message":"boom","error":"NoSuchKey"}"#)], next_token: None }),
        ]);
        let mut tail = CloudWatchTail::starting_at(fake.clone(), "/aws/lambda/gw", 900_000);
        let first = tail.poll().await.unwrap();
        assert_eq!(first.iter().map(|l| (l.level, l.message.as_str())).collect::<Vec<_>>(), [
            (LogLevel::Warn, "raw/a.csv: 1 row(s) rejected"),
            (LogLevel::Info, "REPORT RequestId: x Duration: 5 ms"),
        ]);
        let second = tail.poll().await.unwrap();
        assert_eq!(second.len(), 1);
        assert_eq!((second[0].level, second[0].message.as_str()), (LogLevel::Error, "boom (error: NoSuchKey)"));
        let calls = fake.calls.lock().unwrap().clone();
        assert_eq!(calls[1], (900_000, Some("t".into())), "the next page of the same query");
        assert_eq!(calls[2], (1_000_200 - OVERLAP_MS, None), "restarts shortly before the newest event");
    }

    #[tokio::test]
    async fn backs_off_when_throttled() {
        let fake = Fake::default();
        fake.script.lock().unwrap().extend([Err(FilterError::Throttled("Rate exceeded".into())), Ok(FilterPage::default())]);
        let mut tail = CloudWatchTail::starting_at(fake.clone(), "g", 0);
        let err = tail.poll().await.unwrap_err().to_string();
        assert!(err.contains("throttled") && err.contains("next try in 1 s"), "{err}");
        // Within the back-off: no request at all.
        assert!(tail.poll().await.unwrap().is_empty());
        assert_eq!(fake.calls.lock().unwrap().len(), 1);
        tail.retry_at = Some(Instant::now());
        assert!(tail.poll().await.unwrap().is_empty());
        assert_eq!(fake.calls.lock().unwrap().len(), 2);
        assert_eq!(tail.failures, 0);
    }
}
