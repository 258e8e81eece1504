//! The embedded local backend: a folder as the bucket, SQLite as the table, a JSON-lines
//! file as the log group, and the analysis run in-process — the same layout and item
//! shapes as the AWS deployment, so nothing about the data changes when a user moves.

pub mod backend;
pub mod folder_bucket;
pub mod json_log;
pub mod paths;
pub mod sqlite_table;

pub use backend::LocalBackend;
pub use folder_bucket::FolderBucket;
pub use json_log::{JsonLog, LogTail};
pub use paths::DataDir;
pub use sqlite_table::SqliteTable;
