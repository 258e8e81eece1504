//! A folder that behaves like an S3 bucket: keys map to files below it, writes are
//! atomic (temp file + rename), and no key can point outside it — neither by its text nor
//! through a symlink planted in the folder. Temp files of a writer killed mid-copy are
//! swept when the backend opens ([`FolderBucket::sweep_stale_temps`]).

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
        let cannot = |e: &dyn std::fmt::Display| anyhow::anyhow!("cannot open {key} ({}): {e}", path.display());
        // The I/O error is kept as the source: a caller tells a missing object by its kind.
        let io = |e: std::io::Error| anyhow::Error::new(e).context(format!("cannot open {key} ({})", path.display()));
        self.ensure_inside(&path).map_err(|e| cannot(&e))?;
        // Not a FIFO or device planted under the key (opening a FIFO would block).
        let meta = fs::metadata(&path).map_err(io)?;
        if !meta.is_file() {
            return Err(cannot(&"not a regular file"));
        }
        fs::File::open(&path).map_err(io)
    }

    pub fn exists(&self, key: &str) -> bool {
        self.path(key).is_ok_and(|p| p.is_file() && self.ensure_inside(&p).is_ok())
    }

    /// Where `path` really is (symlinks resolved) must be below the root; a path that does
    /// not exist yet is judged by its nearest existing ancestor.
    fn ensure_inside(&self, path: &Path) -> std::io::Result<()> {
        let root = self.root.canonicalize()?;
        let mut existing = path;
        let real = loop {
            match existing.canonicalize() {
                Ok(real) => break real,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => match existing.parent() {
                    Some(parent) => existing = parent,
                    None => return Err(e),
                },
                Err(e) => return Err(e),
            }
        };
        if real.starts_with(&root) {
            Ok(())
        } else {
            Err(std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                "a symlink in the data folder leads out of it; refusing to follow it",
            ))
        }
    }

    /// Writes an object atomically: readers see the old or the new content, never half.
    pub fn put(&self, key: &str, bytes: &[u8]) -> anyhow::Result<()> {
        self.put_with(key, |w| w.write_all(bytes).map_err(Into::into))
    }

    /// Streams an object in through `write` (temp file, then rename).
    pub fn put_with(&self, key: &str, write: impl FnOnce(&mut dyn Write) -> anyhow::Result<()>) -> anyhow::Result<()> {
        self.put_into_file(key, |file| {
            let mut w = std::io::BufWriter::new(file);
            write(&mut w)?;
            w.flush()?;
            Ok(())
        })
    }

    /// Stores a copy of a local file. File to file, so the kernel copies it (copy_file_range:
    /// no pass through user space; a reflink where the file system has them).
    pub fn put_copy_of(&self, key: &str, source: &Path) -> anyhow::Result<()> {
        let mut input = fs::File::open(source).map_err(|e| anyhow::anyhow!("cannot open {}: {e}", source.display()))?;
        self.put_into_file(key, |file| {
            std::io::copy(&mut input, file)?;
            Ok(())
        })
    }

    /// Writes an object into a temporary file beside it, synced, then renamed into place.
    fn put_into_file(&self, key: &str, write: impl FnOnce(&mut fs::File) -> anyhow::Result<()>) -> anyhow::Result<()> {
        let path = self.path(key)?;
        let dir = path.parent().expect("a validated key has a parent under the root");
        fs::create_dir_all(&self.root).map_err(|e| anyhow::anyhow!("cannot create {}: {e}", self.root.display()))?;
        self.ensure_inside(dir).map_err(|e| anyhow::anyhow!("cannot write {key}: {e}"))?;
        fs::create_dir_all(dir).map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
        let mut tmp = tempfile_in(dir)?;
        if let Err(e) = write(&mut tmp.1) {
            let _ = fs::remove_file(&tmp.0); // a half-written object is not left behind
            return Err(e);
        }
        tmp.1.sync_data().ok();
        fs::rename(&tmp.0, &path).map_err(|e| anyhow::anyhow!("cannot write {key}: {e}"))?;
        Ok(())
    }

    /// Appends to an object (the simulator grows the current hour's file).
    pub fn append(&self, key: &str, bytes: &[u8]) -> anyhow::Result<()> {
        let path = self.path(key)?;
        fs::create_dir_all(&self.root)?;
        self.ensure_inside(&path).map_err(|e| anyhow::anyhow!("cannot append to {key}: {e}"))?;
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir)?;
        }
        let mut f = fs::OpenOptions::new().create(true).append(true).open(&path)?;
        f.write_all(bytes)?;
        Ok(())
    }

    /// Removes a derived object (results/, rejected/, work/); raw data is never removed by gridwatch.
    pub fn remove_derived(&self, key: &str) -> anyhow::Result<()> {
        crate::store::object_keys::ensure_derived(key)?;
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

/// A temp file is left alone this long after its last write even if its writer seems gone
/// (its process id may have been reused).
const STALE_TEMP_AGE: std::time::Duration = std::time::Duration::from_secs(3600);

impl FolderBucket {
    /// Removes the temp files (`.tmp-<pid>-<n>`) of writers that were killed mid-copy: those
    /// whose process is gone, or untouched for [`STALE_TEMP_AGE`]. Returns how many went.
    /// Symlinks are not followed.
    pub fn sweep_stale_temps(&self) -> anyhow::Result<usize> {
        let mut removed = 0;
        if !self.root.is_dir() {
            return Ok(0);
        }
        let mut stack = vec![self.root.clone()];
        while let Some(dir) = stack.pop() {
            for entry in fs::read_dir(&dir)? {
                let entry = entry?;
                let file_type = entry.file_type()?;
                if file_type.is_dir() {
                    stack.push(entry.path());
                    continue;
                }
                let name = entry.file_name();
                let Some(pid) = name.to_str().and_then(temp_writer_pid) else { continue };
                let idle = entry.metadata()?.modified()?.elapsed().unwrap_or_default();
                if file_type.is_file() && (!process_running(pid) || idle > STALE_TEMP_AGE) {
                    match fs::remove_file(entry.path()) {
                        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
                        _ => removed += 1,
                    }
                }
            }
        }
        Ok(removed)
    }
}

/// The writer's process id in a temp file name made by [`tempfile_in`].
fn temp_writer_pid(name: &str) -> Option<u32> {
    let (pid, n) = name.strip_prefix(".tmp-")?.split_once('-')?;
    n.parse::<u64>().ok()?;
    pid.parse().ok()
}

/// Whether a process with this id runs (on Linux, by /proc; elsewhere assumed, so only the
/// age rule applies).
fn process_running(pid: u32) -> bool {
    if pid == std::process::id() {
        return true;
    }
    if cfg!(target_os = "linux") { Path::new("/proc").join(pid.to_string()).exists() } else { true }
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

    #[cfg(unix)]
    #[test]
    fn symlinks_planted_in_the_folder_are_not_followed_out_of_it() {
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("outside");
        fs::create_dir_all(&outside).unwrap();
        fs::write(outside.join("secret.csv"), b"secret").unwrap();
        let bucket = FolderBucket::new(dir.path().join("bucket"));
        bucket.put("raw/ok.csv", b"fine").unwrap();
        std::os::unix::fs::symlink(outside.join("secret.csv"), dir.path().join("bucket/raw/link.csv")).unwrap();
        std::os::unix::fs::symlink(&outside, dir.path().join("bucket/results")).unwrap();
        let err = bucket.open("raw/link.csv").unwrap_err().to_string();
        assert!(err.contains("leads out of"), "{err}");
        assert!(!bucket.exists("raw/link.csv"));
        assert!(bucket.put("results/x.json", b"{}").is_err());
        assert!(!outside.join("x.json").exists());
        // A symlink that stays inside is fine, and so is a root that is itself a symlink.
        std::os::unix::fs::symlink(dir.path().join("bucket/raw/ok.csv"), dir.path().join("bucket/raw/alias.csv")).unwrap();
        std::os::unix::fs::symlink(dir.path().join("bucket"), dir.path().join("bucket-link")).unwrap();
        let via_link = FolderBucket::new(dir.path().join("bucket-link"));
        let mut text = String::new();
        std::io::Read::read_to_string(&mut via_link.open("raw/alias.csv").unwrap(), &mut text).unwrap();
        assert_eq!(text, "fine");
    }

    #[test]
    fn a_copy_is_the_file_and_a_failed_write_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let bucket = FolderBucket::new(dir.path().join("bucket"));
        let source = dir.path().join("upload.csv");
        let bytes: Vec<u8> = (0..300_000u32).flat_map(|i| i.to_le_bytes()).collect();
        fs::write(&source, &bytes).unwrap();
        bucket.put_copy_of("raw/upload.csv", &source).unwrap();
        assert_eq!(fs::read(bucket.path("raw/upload.csv").unwrap()).unwrap(), bytes);
        assert!(bucket.put_copy_of("raw/missing.csv", &dir.path().join("missing.csv")).is_err());
        let failed = bucket.put_with("raw/half.csv", |w| {
            w.write_all(b"half of it")?;
            anyhow::bail!("the source broke off")
        });
        assert!(failed.is_err());
        let left: Vec<String> = fs::read_dir(dir.path().join("bucket/raw")).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        assert_eq!(left, ["upload.csv"], "neither the object nor its temp file");
    }

    #[test]
    fn temp_files_of_dead_writers_are_swept() {
        let dir = tempfile::tempdir().unwrap();
        let bucket = FolderBucket::new(dir.path());
        bucket.put("raw/a.csv", b"x").unwrap();
        let raw = dir.path().join("raw");
        // pid 0 is never a user process: its temp file is a dead writer's.
        fs::write(raw.join(".tmp-0-3"), b"half").unwrap();
        let mine = raw.join(format!(".tmp-{}-99", std::process::id()));
        fs::write(&mine, b"being written").unwrap();
        fs::write(raw.join(".tmp-notes.txt"), b"not ours").unwrap();
        assert_eq!(bucket.sweep_stale_temps().unwrap(), usize::from(cfg!(target_os = "linux")));
        assert_eq!(raw.join(".tmp-0-3").exists(), !cfg!(target_os = "linux"));
        assert!(mine.exists(), "a running writer's temp file stays");
        assert!(raw.join(".tmp-notes.txt").exists());
        assert!(raw.join("a.csv").exists());
    }
}
