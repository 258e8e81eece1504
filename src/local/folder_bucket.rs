//! A folder that behaves like an S3 bucket: keys map to files below it, writes are
//! atomic (temp file + rename), and no key can point outside it.

use crate::store::object_keys::{validate_key, KeyError};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

#[derive(Debug, Clone)]
pub struct FolderBucket {
    root: PathBuf,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ObjectInfo {
    pub key: String,
    pub size: u64,
    pub modified: SystemTime,
}

impl FolderBucket {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The file behind a key, after validating the key.
    pub fn path(&self, key: &str) -> Result<PathBuf, KeyError> {
        validate_key(key)?;
        Ok(self.root.join(key))
    }

    pub fn open(&self, key: &str) -> anyhow::Result<fs::File> {
        let path = self.path(key)?;
        fs::File::open(&path).map_err(|e| anyhow::anyhow!("cannot open {key} ({}): {e}", path.display()))
    }

    pub fn exists(&self, key: &str) -> bool {
        self.path(key).is_ok_and(|p| p.is_file())
    }

    /// Writes an object atomically: readers see the old or the new content, never half.
    pub fn put(&self, key: &str, bytes: &[u8]) -> anyhow::Result<()> {
        self.put_with(key, |w| w.write_all(bytes).map_err(Into::into))
    }

    /// Streams an object in through `write` (temp file, then rename).
    pub fn put_with(&self, key: &str, write: impl FnOnce(&mut dyn Write) -> anyhow::Result<()>) -> anyhow::Result<()> {
        let path = self.path(key)?;
        let dir = path.parent().expect("a validated key has a parent under the root");
        fs::create_dir_all(dir).map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
        let mut tmp = tempfile_in(dir)?;
        {
            let mut w = std::io::BufWriter::new(&mut tmp.1);
            write(&mut w)?;
            w.flush()?;
        }
        tmp.1.sync_data().ok();
        fs::rename(&tmp.0, &path).map_err(|e| anyhow::anyhow!("cannot write {key}: {e}"))?;
        Ok(())
    }

    /// Appends to an object (the simulator grows the current hour's file).
    pub fn append(&self, key: &str, bytes: &[u8]) -> anyhow::Result<()> {
        let path = self.path(key)?;
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir)?;
        }
        let mut f = fs::OpenOptions::new().create(true).append(true).open(&path)?;
        f.write_all(bytes)?;
        Ok(())
    }

    /// Removes a derived object (results/rejected); raw data is never removed by gridwatch.
    pub fn remove_derived(&self, key: &str) -> anyhow::Result<()> {
        anyhow::ensure!(!key.starts_with(crate::store::object_keys::RAW_PREFIX), "refusing to delete raw data {key}");
        match fs::remove_file(self.path(key)?) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }

    /// Objects under a prefix, sorted by key.
    pub fn list(&self, prefix: &str) -> anyhow::Result<Vec<ObjectInfo>> {
        let mut out = Vec::new();
        let start = self.root.join(prefix.trim_end_matches('/'));
        let start = if start.is_dir() { start } else { start.parent().map(Path::to_path_buf).unwrap_or_default() };
        if !start.is_dir() {
            return Ok(out);
        }
        let mut stack = vec![start];
        while let Some(dir) = stack.pop() {
            for entry in fs::read_dir(&dir)? {
                let entry = entry?;
                let file_type = entry.file_type()?;
                let path = entry.path();
                if file_type.is_dir() {
                    stack.push(path);
                } else if file_type.is_file() {
                    let Ok(rel) = path.strip_prefix(&self.root) else { continue };
                    let key = rel.to_string_lossy().replace(std::path::MAIN_SEPARATOR, "/");
                    if key.starts_with(prefix) && !key.rsplit('/').next().unwrap_or("").starts_with(".tmp-") {
                        let meta = entry.metadata()?;
                        out.push(ObjectInfo { key, size: meta.len(), modified: meta.modified()? });
                    }
                }
            }
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }
}

fn tempfile_in(dir: &Path) -> anyhow::Result<(PathBuf, fs::File)> {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = dir.join(format!(".tmp-{}-{n}", std::process::id()));
    let file = fs::File::create(&path).map_err(|e| anyhow::anyhow!("cannot create {}: {e}", path.display()))?;
    Ok((path, file))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_cannot_escape_and_writes_are_visible() {
        let dir = tempfile::tempdir().unwrap();
        let bucket = FolderBucket::new(dir.path().join("bucket"));
        assert!(bucket.put("../outside.txt", b"x").is_err());
        assert!(bucket.put("/etc/x", b"x").is_err());
        assert!(!dir.path().join("outside.txt").exists());
        bucket.put("raw/a/b.csv", b"hello").unwrap();
        bucket.append("raw/a/b.csv", b" world").unwrap();
        let listed = bucket.list("raw/").unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!((listed[0].key.as_str(), listed[0].size), ("raw/a/b.csv", 11));
        assert!(bucket.remove_derived("raw/a/b.csv").is_err(), "raw data is never deleted");
        assert!(bucket.exists("raw/a/b.csv"));
    }
}
