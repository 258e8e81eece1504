//! gridwatch: streaming analysis of smart-grid readings per substation.
//!
//! The library holds everything the dashboard and the Lambda share: the data model,
//! the streaming parser, the analysis engine and the load forecast. I/O-bound parts
//! (the embedded local backend, the CLI, the terminal UI) sit behind crate features so
//! the Lambda compiles none of them.

pub mod allocator;
pub mod analysis;
pub mod backend;
pub mod config;
pub mod model;
pub mod optimize;
pub mod retry;
pub mod sanitize;
pub mod store;

#[cfg(feature = "local")]
pub mod local;
#[cfg(feature = "cli")]
pub mod cli;
#[cfg(feature = "cli")]
pub mod simulator;
#[cfg(feature = "tui")]
pub mod tui;
#[cfg(feature = "report")]
pub mod report;
#[cfg(feature = "aws-core")]
pub mod aws;
