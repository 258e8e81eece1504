//! The gridwatch Lambda: analyses every object uploaded under `raw/`.
//!
//! Triggered by S3 `ObjectCreated` notifications (several records per event, URL-encoded
//! keys; keys outside `raw/` are ignored with a log line, but for its own shard orders). The work is done by
//! [`gridwatch::aws::handler::LambdaHandler`], shared with the tests; this file only sets up
//! the container: JSON logs without colours (CloudWatch stores stdout as is), the
//! configuration from the environment and the AWS clients, once per container.
//!
//! Environment: `TABLE_NAME` (default `GridAnalysis`), `ALERT_TOPIC_ARN` (optional), the
//! thresholds `NOMINAL_VOLTAGE_KV`, `NOMINAL_FREQUENCY_HZ`, `VOLTAGE_LOW_KV`,
//! `VOLTAGE_HIGH_KV`, `FREQUENCY_DEVIATION_HZ`, `OVERLOAD_RATIO`, `STABILITY_MIN`,
//! `DEFAULT_POWER_FACTOR`, `REORDER_WINDOW_HOURS`, `MAX_ALERTS_PER_LOCATION`, and
//! `RUST_LOG` (default `info`), and the bounds `DEADLINE_RESERVE_SECONDS` (time kept before
//! the invocation's deadline for storing results; default a tenth of the invocation's time)
//! and `MEMORY_LIMIT_MB` (default 85 % of the function's memory): a record that would cross
//! either stops while it streams and fails cleanly, so S3's retry starts it again.
//! `SHARD_MB` (default 128; 0 = never): an object larger than this is split by substation
//! into one invocation per shard (orders under `work/`, which invoke the function again; the
//! last shard merges the results; see `gridwatch::store::fanout`).
//!
//! Response: one entry per record (processed / malformed / ignored / failed). When a
//! record failed for a reason a retry can fix (S3, DynamoDB or SNS trouble), the
//! invocation returns an error carrying the same per-record summary, so the asynchronous
//! invocation is retried; processing is idempotent, so records that had succeeded are
//! stored identically again and their alerts are not published twice.

use gridwatch::aws::event::EventResponse;
use gridwatch::aws::handler::{HandlerConfig, LambdaHandler, Limits};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

fn main() -> Result<(), Error> {
    // Before the runtime's threads exist (arenas are assigned on a thread's first allocation).
    gridwatch::allocator::tune();
    tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(run())
}

async fn run() -> Result<(), Error> {
    let started = Instant::now();
    init_logging();
    let cfg = match HandlerConfig::from_env().and_then(|cfg| Ok((cfg, Limits::from_env()?))) {
        Ok(cfg) => cfg,
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "invalid configuration");
            return Err(format!("{e:#}").into());
        }
    };
    let sdk = gridwatch::aws::sdk::load(&Default::default()).await;
    let (cfg, limits) = cfg;
    let pipeline = Arc::new(LambdaHandler::new(&sdk, cfg).with_limits(limits));
    let init_ms = started.elapsed().as_secs_f64() * 1000.0;
    tracing::info!(
        init_ms,
        table = %pipeline.config().table,
        alerts_topic = pipeline.config().topic_arn.as_deref().unwrap_or("(none)"),
        "gridwatch-lambda ready in {init_ms:.1} ms"
    );
    let cold = Arc::new(AtomicBool::new(true));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| {
        let (pipeline, cold) = (Arc::clone(&pipeline), Arc::clone(&cold));
        async move { handle(&pipeline, event, cold.swap(false, Ordering::SeqCst).then_some(init_ms)).await }
    }))
    .await
}

async fn handle(pipeline: &LambdaHandler, event: LambdaEvent<serde_json::Value>, init_ms: Option<f64>) -> Result<EventResponse, Error> {
    let request_id = event.context.request_id.clone();
    let deadline = invocation_deadline(event.context.deadline(), SystemTime::now());
    if deadline.is_none() {
        tracing::warn!(request_id = %request_id, "the runtime's deadline is already past; running without one (an emulator's constant)");
    }
    let mut response = pipeline.handle_until(&event.payload, deadline.map(|left| Instant::now() + left)).await;
    response.cold_start = init_ms.is_some();
    response.init_ms = init_ms;
    tracing::info!(request_id = %request_id, "{}", response.summary());
    if response.any_failed() {
        // Lets S3's asynchronous invocation retry (or reach the on-failure destination).
        let detail = serde_json::to_string(&response).unwrap_or_default();
        return Err(format!("{}; {detail}", response.summary()).into());
    }
    Ok(response)
}

/// The time left before the invocation's deadline (the runtime gives wall-clock
/// milliseconds). A deadline already past when the invocation starts is not one Lambda
/// gives (it would have stopped the function): `cargo lambda watch` sends the constant
/// 600,000 ms, i.e. 00:10 on 1 Jan 1970. Such a run has no deadline.
fn invocation_deadline(deadline: SystemTime, now: SystemTime) -> Option<Duration> {
    deadline.duration_since(now).ok().filter(|left| !left.is_zero())
}

fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_ansi(false)
        .with_env_filter(filter)
        .with_target(false)
        .init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deadline_in_the_future_bounds_the_run_and_one_already_past_does_not() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_000_000);
        assert_eq!(invocation_deadline(now + Duration::from_secs(900), now), Some(Duration::from_secs(900)));
        // cargo lambda watch's constant header.
        assert_eq!(invocation_deadline(SystemTime::UNIX_EPOCH + Duration::from_millis(600_000), now), None);
        assert_eq!(invocation_deadline(now, now), None);
    }
}
