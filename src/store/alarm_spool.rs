//! The alarm episodes of one file, spooled to a temp file as the analysis ends them and
//! read back a batch at a time when they are stored: a long file has tens of thousands,
//! which held in memory were the largest part of its peak (53 of 96 MB on 1 GB of
//! 15-minute data).

use crate::model::Alert;
use anyhow::{Context, Result};
use std::io::{BufRead, BufWriter, Seek, Write};

/// Alarms read back per batch (and so per store request round).
pub const ALARM_READ_BATCH: usize = crate::analysis::engine::ALARM_BATCH;

#[derive(Default)]
pub struct AlarmSpool {
    file: Option<BufWriter<tempfile::NamedTempFile>>,
    len: usize,
}

impl AlarmSpool {
    /// Appends alarms, one JSON line each (exact: floats and times read back bit for bit).
    pub fn push(&mut self, alarms: &[Alert]) -> Result<()> {
        if alarms.is_empty() {
            return Ok(());
        }
        if self.file.is_none() {
            let file = tempfile::NamedTempFile::new().context("cannot create a temp file for the alarms")?;
            self.file = Some(BufWriter::with_capacity(1 << 16, file));
        }
        let out = self.file.as_mut().expect("created above");
        for alert in alarms {
            serde_json::to_writer(&mut *out, alert).context("cannot spool an alarm")?;
            out.write_all(b"\n").context("cannot spool an alarm")?;
        }
        self.len += alarms.len();
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Every alarm in the order pushed, `batch` at a time; may be read again.
    pub fn batches(&mut self, batch: usize) -> Result<Batches> {
        let reader = match &mut self.file {
            None => None,
            Some(out) => {
                out.flush().context("cannot write the spooled alarms")?;
                let mut file = out.get_ref().reopen().context("cannot read the spooled alarms")?;
                file.rewind().context("cannot read the spooled alarms")?;
                Some(std::io::BufReader::with_capacity(1 << 16, file))
            }
        };
        Ok(Batches { reader, batch: batch.max(1), line: Vec::new() })
    }
}

/// Batches of a spool, in order (see [`AlarmSpool::batches`]).
pub struct Batches {
    reader: Option<std::io::BufReader<std::fs::File>>,
    batch: usize,
    line: Vec<u8>,
}

impl Iterator for Batches {
    type Item = Result<Vec<Alert>>;
    fn next(&mut self) -> Option<Self::Item> {
        let reader = self.reader.as_mut()?;
        let mut out = Vec::with_capacity(self.batch);
        while out.len() < self.batch {
            self.line.clear();
            match reader.read_until(b'\n', &mut self.line) {
                Ok(0) => break,
                Ok(_) => match serde_json::from_slice(&self.line) {
                    Ok(alert) => out.push(alert),
                    Err(e) => return Some(Err(anyhow::anyhow!("a spooled alarm does not read back: {e}"))),
                },
                Err(e) => return Some(Err(anyhow::anyhow!("cannot read the spooled alarms: {e}"))),
            }
        }
        if out.is_empty() {
            self.reader = None;
            return None;
        }
        Some(Ok(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AlertRule, Priority};
    use chrono::{TimeZone, Utc};

    fn alert(i: u32) -> Alert {
        let t = Utc.with_ymd_and_hms(2025, 1, 14, 0, 0, 0).unwrap() + chrono::Duration::minutes(15 * i64::from(i));
        Alert {
            location: format!("sub \"{i}\"\n"),
            rule: AlertRule::Undervoltage,
            priority: Priority::High,
            started_at: t,
            activated_at: t + chrono::Duration::nanoseconds(1),
            ended_at: t,
            active: i.is_multiple_of(2),
            worst_value: 0.1 + f64::from(i) / 3.0,
            threshold: 12.42,
            samples: u64::from(i),
            chattering: false,
            shelved_until: i.is_multiple_of(3).then_some(t),
            message: format!("voltage fell to {i}"),
        }
    }

    #[test]
    fn alarms_come_back_in_order_in_batches_as_often_as_asked() {
        let mut spool = AlarmSpool::default();
        assert!(spool.batches(10).unwrap().next().is_none(), "an empty spool has no batch");
        let alarms: Vec<Alert> = (0..25).map(alert).collect();
        spool.push(&alarms[..7]).unwrap();
        spool.push(&alarms[7..]).unwrap();
        assert_eq!(spool.len(), 25);
        for _ in 0..2 {
            let batches: Vec<Vec<Alert>> = spool.batches(10).unwrap().map(Result::unwrap).collect();
            assert_eq!(batches.iter().map(Vec::len).collect::<Vec<_>>(), [10, 10, 5]);
            assert_eq!(batches.concat(), alarms, "bit for bit, in order");
        }
    }

    /// A line that does not read back (a damaged temp file) ends the batches with an error
    /// there, and every batch before it still reads back whole, each time: what the recipe
    /// relies on to give back the claims it made on those batches before failing.
    #[test]
    fn a_damaged_line_fails_its_batch_and_leaves_the_earlier_ones_readable() {
        let mut spool = AlarmSpool::default();
        let alarms: Vec<Alert> = (0..25).map(alert).collect();
        spool.push(&alarms[..15]).unwrap();
        spool.file.as_mut().unwrap().write_all(b"{\"location\": \"cut off\n").unwrap();
        spool.push(&alarms[15..]).unwrap();
        for _ in 0..2 {
            let mut batches = spool.batches(10).unwrap();
            assert_eq!(batches.next().unwrap().unwrap(), alarms[..10], "the batch before the damage");
            let error = batches.next().unwrap().unwrap_err().to_string();
            assert!(error.contains("a spooled alarm does not read back"), "{error}");
        }
    }
}
