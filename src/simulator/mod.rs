//! Synthetic data: the reproducible generator (`gridwatch generate`, tests, benches) and,
//! with the dashboard, the live simulator that feeds the embedded backend. Not compiled
//! into the Lambda.

pub mod generator;
#[cfg(feature = "tui")]
pub mod live;
