//! The engine on two threads, as a pipeline: one thread reads and parses the input (line
//! breaks, fields, numbers, timestamps: about half of the engine's work), the calling
//! thread analyses the rows in the order they were read. Nothing is done twice, and the
//! rows reach the analysis exactly as in a single pass, so everything that comes out — the
//! outcome, and what reaches the sink, rollups in their order included — is the same.
//!
//! Rows cross in batches; the readings' location strings come back a batch at a time, so a
//! row still costs no allocation.

use crate::analysis::engine::{self, AnalysisSink, RowSource, StreamOutcome};
use crate::analysis::ingest::{self, Row};
use crate::config::AnalysisConfig;
use crate::model::Reading;
use std::io::Read;
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};

/// Rows handed over at a time.
const BATCH_ROWS: usize = 1024;
/// Batches that may wait for the analysis (memory: this × [`BATCH_ROWS`] rows of ~130 bytes).
const BATCHES_IN_FLIGHT: usize = 4;

/// What the reading thread sends, in this order: whether the input opened, the rows, how
/// reading ended.
enum Piped {
    Opened(Result<&'static str, String>),
    Rows(Vec<Row>),
    /// Why reading stopped early, if it did.
    End(Option<String>),
}

/// [`engine::analyze_stream`] with the input read and parsed on a thread of its own.
pub fn analyze_pipelined<R: Read + Send>(
    input: R,
    source: &str,
    cfg: &AnalysisConfig,
    sink: &mut dyn AnalysisSink,
) -> anyhow::Result<StreamOutcome> {
    let (batches_tx, batches) = mpsc::sync_channel::<Piped>(BATCHES_IN_FLIGHT);
    let (returns_tx, returns) = mpsc::channel::<Vec<String>>();
    // The receiving ends live in the scope's closure: when the analysis ends early (a sink
    // error), they are dropped before the scope waits for the reader, whose next send fails.
    let part = std::thread::scope(|scope| {
        scope.spawn(move || read_rows(input, source, batches_tx, returns));
        match batches.recv() {
            Ok(Piped::Opened(Ok(format))) => {
                let rows = PipedRows { batches, rows: Vec::new().into_iter(), used: Vec::new(), returns: returns_tx, fatal: None };
                engine::analyze_rows(rows, format, source, cfg, sink)
            }
            Ok(Piped::Opened(Err(file_error))) => Ok(engine::unreadable_part(source, cfg, file_error)),
            _ => Err(anyhow::anyhow!("{source}: the thread reading the input stopped before opening it")),
        }
    })?;
    Ok(engine::assemble(source, cfg, vec![part]))
}

/// The reading thread: opens the input and sends its rows until the end, or until the
/// analysis stops taking them.
fn read_rows<R: Read>(input: R, source: &str, out: SyncSender<Piped>, returns: Receiver<Vec<String>>) {
    let mut stream = match ingest::open(input, source) {
        Ok(stream) => stream,
        Err(e) => {
            let _ = out.send(Piped::Opened(Err(e.to_string())));
            return;
        }
    };
    if out.send(Piped::Opened(Ok(stream.format_name()))).is_err() {
        return;
    }
    loop {
        for location in returns.try_iter().flatten() {
            stream.recycle_location(location);
        }
        let batch: Vec<Row> = stream.by_ref().take(BATCH_ROWS).collect();
        let ended = batch.len() < BATCH_ROWS;
        if !batch.is_empty() && out.send(Piped::Rows(batch)).is_err() {
            return;
        }
        if ended {
            let _ = out.send(Piped::End(stream.fatal.take()));
            return;
        }
    }
}

/// The analysis side's rows: batch after batch from the reading thread.
struct PipedRows {
    batches: Receiver<Piped>,
    rows: std::vec::IntoIter<Row>,
    /// Locations of the readings analysed since the last batch, to go back.
    used: Vec<String>,
    returns: Sender<Vec<String>>,
    fatal: Option<String>,
}

impl RowSource for PipedRows {
    fn next_row(&mut self) -> Option<Row> {
        loop {
            if let Some(row) = self.rows.next() {
                return Some(row);
            }
            if !self.used.is_empty() {
                // The reader may be gone (it ended): the strings are simply dropped then.
                let _ = self.returns.send(std::mem::take(&mut self.used));
            }
            match self.batches.recv() {
                Ok(Piped::Rows(batch)) => self.rows = batch.into_iter(),
                Ok(Piped::End(fatal)) => {
                    self.fatal = fatal;
                    return None;
                }
                Ok(Piped::Opened(_)) | Err(_) => {
                    self.fatal = Some("the thread reading the input stopped".to_string());
                    return None;
                }
            }
        }
    }
    fn recycle(&mut self, reading: Reading) {
        self.used.push(reading.location);
    }
    fn take_fatal(&mut self) -> Option<String> {
        self.fatal.take()
    }
}
