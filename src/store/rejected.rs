//! Rejected rows of one file, spooled to a temp file as they come (memory stays flat
//! whatever the file), as CSV: line, field, reason and the raw row to fix and re-upload.
//! The local pipeline moves the file to `rejected/<name>.csv` in its folder bucket, the
//! Lambda uploads it to S3.
//!
//! The file is capped at [`MAX_REJECTED_FILE_BYTES`]: a small gzip of bad rows must not
//! become gigabytes. Rows past the cap are counted, and a last row says how many were left out.

use crate::model::RejectedRow;
use anyhow::{anyhow, Context, Result};

pub const HEADER: [&str; 4] = ["line", "field", "reason", "raw"];
/// The rejected-rows file stops listing rows at this size (the report still counts them all).
pub const MAX_REJECTED_FILE_BYTES: u64 = 32 << 20;

#[derive(Default)]
pub struct RejectedSpool {
    writer: Option<csv::Writer<tempfile::NamedTempFile>>,
    /// Bytes of the rows written so far (before CSV quoting: close enough for a cap).
    bytes: u64,
    /// Rows not written because the file reached its cap.
    left_out: u64,
}

impl RejectedSpool {
    /// A spool that already counts `left_out` rows as not listed (the fan-in's, whose shards
    /// each stopped at the cap).
    pub fn with_left_out(left_out: u64) -> Self {
        Self { left_out, ..Self::default() }
    }

    pub fn push(&mut self, row: &RejectedRow) -> Result<()> {
        let size = (row.field.len() + row.reason.len() + row.raw.len() + 24) as u64;
        if self.bytes + size > MAX_REJECTED_FILE_BYTES {
            self.left_out += 1;
            return Ok(());
        }
        self.bytes += size;
        let w = self.writer()?;
        w.write_record([row.line.to_string().as_str(), &row.field, &row.reason, &row.raw])?;
        Ok(())
    }

    fn writer(&mut self) -> Result<&mut csv::Writer<tempfile::NamedTempFile>> {
        if self.writer.is_none() {
            let file = tempfile::NamedTempFile::new().context("cannot create a temp file for rejected rows")?;
            let mut w = csv::Writer::from_writer(file);
            w.write_record(HEADER)?;
            self.writer = Some(w);
        }
        Ok(self.writer.as_mut().expect("created above"))
    }

    /// Rows counted but not listed (past the cap).
    pub fn left_out(&self) -> u64 {
        self.left_out
    }

    /// The finished file, or `None` when no row was rejected.
    pub fn finish(mut self) -> Result<Option<tempfile::NamedTempFile>> {
        if self.left_out > 0 {
            let note = format!(
                "{} more rejected rows are not listed: this file stops at {} MiB",
                self.left_out,
                MAX_REJECTED_FILE_BYTES >> 20
            );
            self.writer()?.write_record(["", "", note.as_str(), ""])?;
        }
        match self.writer {
            None => Ok(None),
            Some(w) => Ok(Some(w.into_inner().map_err(|e| anyhow!("cannot write rejected rows: {}", e.error()))?)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_is_capped_and_says_how_many_rows_it_left_out() {
        let mut spool = RejectedSpool::default();
        let raw = "x".repeat(1 << 20);
        let rows = 40u64;
        for line in 1..=rows {
            spool.push(&RejectedRow { line, field: "row".into(), reason: "bad".into(), raw: raw.clone() }).unwrap();
        }
        let left_out = spool.left_out();
        assert!(left_out > 0 && left_out < rows, "{left_out}");
        let file = spool.finish().unwrap().unwrap();
        assert!(file.as_file().metadata().unwrap().len() <= MAX_REJECTED_FILE_BYTES + 4096);
        let mut reader = csv::Reader::from_path(file.path()).unwrap();
        let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        assert_eq!(records.len() as u64, rows - left_out + 1, "listed rows and the note");
        let note = &records.last().unwrap()[2];
        assert!(note.starts_with(&format!("{left_out} more rejected rows")), "{note}");
    }
}
