//! gridwatch: streaming analysis of smart-grid readings per substation.
//!
//! The library holds everything the dashboard and the Lambda share: the data model,
//! the streaming parser, the analysis engine and the load forecast. I/O-bound parts
//! (the embedded local backend, the CLI, the terminal UI) sit behind crate features so
//! the Lambda compiles none of them.

pub mod athena;
pub mod backend;
pub mod config;
pub mod engine;
pub mod forecast;
pub mod generator;
pub mod ingest;
pub mod items;
pub mod keys;
pub mod model;
#[cfg(any(feature = "local", feature = "aws-core"))]
pub mod rejected;
pub mod sanitize;
pub mod stats;

#[cfg(feature = "local")]
pub mod local;
#[cfg(feature = "local")]
pub mod pipeline;
#[cfg(feature = "cli")]
pub mod cli;
#[cfg(feature = "tui")]
pub mod tui;
#[cfg(feature = "report")]
pub mod report;
#[cfg(feature = "tui")]
pub mod simulator;
#[cfg(feature = "aws-core")]
pub mod aws;
