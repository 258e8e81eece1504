//! The analysis: pure computation, no I/O beyond the `Read` it is handed. The same code
//! runs in the Lambda and in the local backend.
//!
//! - [`ingest`]: CSV / JSON lines / gzip into a stream of readings and rejected rows,
//! - [`rules`]: the alarm rules as one table of data,
//! - [`engine`]: hourly rollups, per-file summaries and alarm episodes, streaming,
//! - [`sharded`]: the engine on several cores, each shard taking a share of the substations,
//! - [`stats`]: running statistics,
//! - [`hour_stats`]: an hour's statistics merged across the files that fed it,
//! - [`forecast`]: the 24 h load forecast.

pub mod alarms;
pub mod engine;
pub mod forecast;
pub mod hour_stats;
pub mod kpi;
pub mod ingest;
pub mod rules;
pub mod pipelined;
pub mod sharded;
pub mod stats;
