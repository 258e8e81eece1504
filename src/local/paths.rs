//! Where the local backend keeps its data.

use std::path::{Path, PathBuf};

/// The environment variable that overrides the data folder.
pub const DATA_DIR_ENV: &str = "GRIDWATCH_DATA_DIR";

/// The local data folder: `bucket/` (raw, results, rejected), `gridwatch.db`, `logs/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// `--data-dir`, else `$GRIDWATCH_DATA_DIR`, else the XDG data dir (`~/.local/share/gridwatch`).
    pub fn resolve(explicit: Option<&Path>) -> anyhow::Result<Self> {
        if let Some(p) = explicit {
            return Ok(Self::new(p));
        }
        if let Some(p) = std::env::var_os(DATA_DIR_ENV).filter(|p| !p.is_empty()) {
            return Ok(Self::new(PathBuf::from(p)));
        }
        let base = dirs::data_dir()
            .ok_or_else(|| anyhow::anyhow!("no data directory found: set {DATA_DIR_ENV} or pass --data-dir"))?;
        Ok(Self::new(base.join("gridwatch")))
    }

    pub fn root(&self) -> &Path {
        &self.root
    }
    pub fn bucket(&self) -> PathBuf {
        self.root.join("bucket")
    }
    pub fn database(&self) -> PathBuf {
        self.root.join("gridwatch.db")
    }
    pub fn log_file(&self) -> PathBuf {
        self.root.join("logs").join("gridwatch.jsonl")
    }

    /// Creates the folders (idempotent).
    pub fn ensure(&self) -> anyhow::Result<()> {
        for dir in [self.bucket().join("raw"), self.bucket().join("results"), self.bucket().join("rejected"), self.root.join("logs")] {
            std::fs::create_dir_all(&dir).map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
        }
        Ok(())
    }
}
