//! The AWS side of gridwatch, shared by the Lambda and the operator's CLI/dashboard.
//!
//! - [`sdk`]: one way to load the SDK configuration (credential chain, `--profile`,
//!   `--region`, `--endpoint-url`) with a rustls (ring) HTTP client,
//! - [`attrs`]: the DynamoDB item mapping of the single-table design of [`crate::store::items`],
//! - [`dynamo_table`]: the `GridAnalysis` table: BatchWriteItem with retry of unprocessed items,
//!   conditional writes (index only if newer, alert notified once) and Query-only reads,
//! - [`s3io`]: streaming S3 reader (never buffers a whole object, resumes after a broken
//!   connection with a ranged GET) and uploads (multipart above a threshold),
//! - [`handler`]: the S3-event handler the Lambda runs (and tests run in-process),
//! - [`counter`]: an SDK interceptor counting requests (what a dashboard poll costs),
//! - with the `aws` feature: [`dashboard_store`] (the dashboard's [`crate::backend::GridStore`] on
//!   DynamoDB + Lambda Invoke) and [`logs`] (CloudWatch Logs tail).

pub mod attrs;
pub mod counter;
pub mod event;
pub mod handler;
pub mod s3io;
pub mod sdk;
pub mod dynamo_table;

#[cfg(feature = "aws")]
pub mod logs;
#[cfg(feature = "aws")]
pub mod dashboard_store;

/// Formats an SDK error with its whole chain (service code, message, cause), which the
/// SDK's own `Display` leaves out.
pub fn error_text<E: std::error::Error>(err: &E) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let next = cause.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = cause.source();
    }
    text
}
