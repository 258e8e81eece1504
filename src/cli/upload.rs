//! `gridwatch upload`: puts data files under `raw/` of the S3 bucket, where each upload
//! triggers the analysis Lambda. Multipart above 16 MiB, a progress bar, the content type
//! from the file name; existing objects are skipped unless `--overwrite`.

use super::aws_args::{AwsArgs, AwsSettings};
use crate::aws::s3io;
use crate::store::object_keys;
use anyhow::{bail, Context, Result};
use clap::Args;
use std::path::{Path, PathBuf};

#[derive(Args, Debug)]
pub struct UploadArgs {
    /// Files or directories (walked, sub-folders kept in the key) to upload.
    #[arg(value_name = "FILE|DIR", required_unless_present = "generate")]
    pub paths: Vec<PathBuf>,
    /// Generate synthetic readings first (the generate options below) and upload them.
    #[arg(long)]
    pub generate: bool,
    /// Key prefix; must be under raw/ (the Lambda analyses only raw/).
    #[arg(long, default_value = "raw/")]
    pub prefix: String,
    /// Replace objects that already exist (default: skip them).
    #[arg(long)]
    pub overwrite: bool,
    /// Part size of multipart uploads, in MiB (at least 5).
    #[arg(long, default_value_t = 8, value_name = "MIB")]
    pub part_size_mib: u64,
    #[command(flatten)]
    pub aws: AwsArgs,
    #[command(flatten, next_help_heading = "With --generate")]
    pub generator: super::generate::GenerateArgs,
}

/// The files to upload with their keys: a file alone keeps its name; a directory's files
/// keep their path below it. Hidden files are skipped.
pub fn plan(paths: &[PathBuf], prefix: &str) -> Result<Vec<(PathBuf, String)>> {
    let prefix = if prefix.ends_with('/') { prefix.to_string() } else { format!("{prefix}/") };
    if !prefix.starts_with(object_keys::RAW_PREFIX) {
        bail!("--prefix {prefix:?} is not under raw/: the analysis Lambda would ignore the uploads");
    }
    let mut out = Vec::new();
    for path in paths {
        if path.is_dir() {
            walk(path, path, &prefix, &mut out)?;
        } else if path.is_file() {
            let name = path.file_name().and_then(|n| n.to_str()).with_context(|| format!("{}: the file name is not UTF-8", path.display()))?;
            out.push((path.clone(), format!("{prefix}{name}")));
        } else {
            bail!("{}: no such file or directory", path.display());
        }
    }
    for (_, key) in &out {
        object_keys::validate_key(key)?;
    }
    Ok(out)
}

fn walk(root: &Path, dir: &Path, prefix: &str, out: &mut Vec<(PathBuf, String)>) -> Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read directory {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| !p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with('.')))
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            walk(root, &path, prefix, out)?;
        } else if path.is_file() {
            let rel = path.strip_prefix(root).unwrap_or(&path);
            let parts: Option<Vec<&str>> = rel.components().map(|c| c.as_os_str().to_str()).collect();
            let parts = parts.with_context(|| format!("{}: the path is not UTF-8", path.display()))?;
            out.push((path.clone(), format!("{prefix}{}", parts.join("/"))));
        }
    }
    Ok(())
}

pub fn run(settings: &AwsSettings, mut args: UploadArgs) -> Result<()> {
    let aws = args.aws.resolve(settings);
    let bucket = aws.bucket.clone().context("upload needs a bucket: --bucket, GRIDWATCH_BUCKET or [aws] bucket")?;
    anyhow::ensure!(args.part_size_mib >= 5, "--part-size-mib must be at least 5 (S3's minimum part size)");
    let _generated = if args.generate {
        let dir = tempfile::tempdir().context("cannot create a temp folder for the generated data")?;
        args.generator.output = dir.path().to_path_buf();
        super::generate::run(args.generator.clone())?;
        args.paths.push(dir.path().to_path_buf());
        Some(dir)
    } else {
        None
    };
    let files = plan(&args.paths, &args.prefix)?;
    let total: u64 = files.iter().filter_map(|(p, _)| p.metadata().ok()).map(|m| m.len()).sum();
    let part_size = args.part_size_mib * 1024 * 1024;
    let overwrite = args.overwrite;
    super::aws_args::runtime()?.block_on(async move {
        let sdk = crate::aws::sdk::load(&aws.sdk_options()).await;
        let s3 = crate::aws::sdk::s3_client(&sdk);
        let bar = super::progress_bar(total, "uploading");
        let (mut uploaded, mut skipped, mut failed) = (0, 0, 0);
        let mut done_bytes = 0u64;
        for (path, key) in &files {
            let size = path.metadata().map(|m| m.len()).unwrap_or(0);
            bar.set_message(crate::sanitize::sanitize_for_terminal(key));
            let exists = match s3io::object_size(&s3, &bucket, key).await {
                Ok(e) => e,
                Err(e) => {
                    failed += 1;
                    bar.suspend(|| eprintln!("error: {}", crate::sanitize::sanitize_for_terminal(&format!("{}: {e:#}", path.display()))));
                    continue;
                }
            };
            if exists.is_some() && !overwrite {
                skipped += 1;
                bar.suspend(|| eprintln!("skipped s3://{bucket}/{key}: already there (--overwrite replaces it)"));
            } else {
                let (progress_bar, base) = (bar.clone(), done_bytes);
                let progress = move |sent: u64| progress_bar.set_position(base + sent);
                let content_type = s3io::content_type_for(key);
                match s3io::upload_file(&s3, &bucket, key, path, content_type, part_size, &progress).await {
                    Ok(()) => {
                        uploaded += 1;
                        bar.suspend(|| {
                            // A closed stdout (`| head`) must not stop the uploads.
                            let line = format!("uploaded {} -> s3://{bucket}/{key} ({size} bytes, {content_type})", path.display());
                            let line = crate::sanitize::sanitize_for_terminal(&line) + "\n";
                            let _ = std::io::Write::write_all(&mut std::io::stdout(), line.as_bytes());
                        });
                    }
                    Err(e) => {
                        failed += 1;
                        bar.suspend(|| eprintln!("error: {}", crate::sanitize::sanitize_for_terminal(&format!("{}: {e:#}", path.display()))));
                    }
                }
            }
            done_bytes += size;
            bar.set_position(done_bytes);
        }
        bar.finish_and_clear();
        std::io::Write::write_all(&mut std::io::stdout(), format!("{uploaded} uploaded, {skipped} skipped, {failed} failed\n").as_bytes())?;
        if failed > 0 {
            bail!("{failed} of {} file(s) could not be uploaded", files.len());
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_keep_sub_folders_and_stay_under_raw() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("site a/2025")).unwrap();
        std::fs::write(dir.path().join("site a/2025/d1.csv"), "x").unwrap();
        std::fs::write(dir.path().join("top.jsonl"), "x").unwrap();
        std::fs::write(dir.path().join(".hidden"), "x").unwrap();
        let planned = plan(&[dir.path().to_path_buf()], "raw/").unwrap();
        let keys: Vec<&str> = planned.iter().map(|(_, k)| k.as_str()).collect();
        assert_eq!(keys, ["raw/site a/2025/d1.csv", "raw/top.jsonl"]);
        assert_eq!(plan(&[dir.path().join("top.jsonl")], "raw/site").unwrap()[0].1, "raw/site/top.jsonl");
        assert!(plan(&[dir.path().to_path_buf()], "results/").is_err());
        assert!(plan(&[dir.path().join("missing.csv")], "raw/").is_err());
    }
}
