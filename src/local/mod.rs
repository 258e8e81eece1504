//! The embedded local backend: a folder as the bucket, SQLite as the table, a JSON-lines
//! file as the log group, and the analysis run in-process — the same layout and item
//! shapes as the AWS deployment, so nothing about the data changes when a user moves.

pub mod bucket;
pub mod db;
pub mod log;
pub mod paths;

pub use bucket::FolderBucket;
pub use db::SqliteStore;
pub use log::{JsonLog, LogTail};
pub use paths::DataDir;
