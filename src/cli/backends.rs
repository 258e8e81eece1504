//! Opening the backend a command works on (the AWS one lives in [`super::aws_args`]).

use super::settings::Settings;
use crate::local::{DataDir, LocalBackend};
use std::path::PathBuf;

/// The embedded backend in the data folder (`--data-dir`, `GRIDWATCH_DATA_DIR`, default).
pub fn open_local(data_dir: &Option<PathBuf>, settings: &Settings) -> anyhow::Result<LocalBackend> {
    LocalBackend::open(DataDir::resolve(data_dir.as_deref())?, settings.analysis.clone())
}
