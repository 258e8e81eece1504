//! Rejected rows of one file, spooled to a temp file as they come (memory stays flat
//! whatever the file), as CSV: line, field, reason and the raw row to fix and re-upload.
//! The local pipeline moves the file to `rejected/<name>.csv` in its folder bucket, the
//! Lambda uploads it to S3.

use crate::model::RejectedRow;
use anyhow::{anyhow, Context, Result};

pub const HEADER: [&str; 4] = ["line", "field", "reason", "raw"];

#[derive(Default)]
pub struct RejectedSpool {
    writer: Option<csv::Writer<tempfile::NamedTempFile>>,
}

impl RejectedSpool {
    pub fn push(&mut self, row: &RejectedRow) -> Result<()> {
        if self.writer.is_none() {
            let file = tempfile::NamedTempFile::new().context("cannot create a temp file for rejected rows")?;
            let mut w = csv::Writer::from_writer(file);
            w.write_record(HEADER)?;
            self.writer = Some(w);
        }
        if let Some(w) = self.writer.as_mut() {
            w.write_record([row.line.to_string().as_str(), &row.field, &row.reason, &row.raw])?;
        }
        Ok(())
    }

    /// The finished file, or `None` when no row was rejected.
    pub fn finish(self) -> Result<Option<tempfile::NamedTempFile>> {
        match self.writer {
            None => Ok(None),
            Some(w) => Ok(Some(w.into_inner().map_err(|e| anyhow!("cannot write rejected rows: {}", e.error()))?)),
        }
    }
}
