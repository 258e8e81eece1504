//! The engine on several cores, sharded by substation.
//!
//! Every shard reads the whole (decompressed) input but builds and analyses only the rows
//! of the substations whose names hash to it; the others' rows are split into fields and
//! passed over. A substation's rows therefore go through the same code in the same order
//! as in a single pass, so its rollups, summary, alarms and checkpoint are the same; the
//! parts are put together by [`engine::assemble`], as a single pass's one part is.
//!
//! The caller's sink stays on the calling thread: shards send it their rollups, their
//! ended alarms (when the sink takes them as they end), their rejected rows (released in
//! line order once every shard has passed that line) and their requests for stored alarm
//! state.

use crate::analysis::alarms::AlarmCheckpoint;
use crate::analysis::engine::{self, AnalysisSink, Part, StreamOutcome};
use crate::analysis::ingest::ShardFilter;
use crate::config::AnalysisConfig;
use crate::model::{Alert, HourlyRollup, RejectedRow};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::io::{BufRead, Read};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::Arc;

/// Bytes read from the input at a time and handed to every shard. Fewer, larger blocks
/// and progress notes: every hand-over can wake a thread, and on two threads 11.9 k
/// context switches per 100 MB (256 KiB blocks, a note every 1,024 rows) went to 6.1 k.
const BLOCK_BYTES: usize = 512 << 10;
/// Blocks a shard may have waiting (memory: shards × this × [`BLOCK_BYTES`]).
const BLOCKS_IN_FLIGHT: usize = 4;
/// A shard says how far it has read after this many of its rows and the others' (rejected
/// rows wait for it to be released in line order: at most this many rows' worth).
const PROGRESS_EVERY: u32 = 8192;

type Block = Result<Arc<Vec<u8>>, (std::io::ErrorKind, String)>;

enum Event {
    Rollups(Vec<HourlyRollup>),
    Alarms(Vec<Alert>),
    Rejected(usize, RejectedRow),
    Passed(usize, u64),
    Checkpoint { location: String, before: DateTime<Utc>, reply: SyncSender<anyhow::Result<Option<AlarmCheckpoint>>> },
    /// Boxed: a part is large and comes once per shard.
    Done(usize, Box<anyhow::Result<Part>>),
}

/// [`engine::analyze_stream`] on `shards` threads (one shard is the single pass itself).
/// The outcome and what reaches `sink` are the same as a single pass's, except that
/// rollups arrive in another order.
pub fn analyze_sharded<R: Read + Send>(
    input: R,
    source: &str,
    cfg: &AnalysisConfig,
    shards: usize,
    sink: &mut dyn AnalysisSink,
) -> anyhow::Result<StreamOutcome> {
    if shards <= 1 {
        return engine::analyze_stream(input, source, cfg, sink);
    }
    let takes_alarms = sink.takes_alarms();
    let (events_tx, events) = mpsc::sync_channel::<Event>(4 * shards);
    let parts = std::thread::scope(|scope| {
        let mut feeds = Vec::with_capacity(shards);
        for index in 0..shards {
            let (feed, blocks) = mpsc::sync_channel::<Block>(BLOCKS_IN_FLIGHT);
            feeds.push(feed);
            let filter = ShardFilter::new(index, shards);
            let events_tx = events_tx.clone();
            scope.spawn(move || {
                let mut shard_sink = ShardSink { index, events: events_tx.clone(), unreported: 0, takes_alarms };
                let part = engine::analyze_part(BlockReader::new(blocks), source, cfg, &mut shard_sink, Some(filter));
                let _ = events_tx.send(Event::Done(index, Box::new(part)));
            });
        }
        drop(events_tx);
        scope.spawn(move || broadcast(input, feeds));
        serve(events, shards, sink)
    })?;
    Ok(engine::assemble(source, cfg, parts))
}

/// Reads the input block by block and hands every block to every shard still reading.
fn broadcast<R: Read>(mut input: R, feeds: Vec<SyncSender<Block>>) {
    loop {
        let mut block = vec![0u8; BLOCK_BYTES];
        let read = loop {
            match input.read(&mut block) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                other => break other,
            }
        };
        let block: Block = match read {
            Ok(0) => return, // the feeds close: end of input
            Ok(n) => {
                block.truncate(n);
                Ok(Arc::new(block))
            }
            Err(e) => Err((e.kind(), e.to_string())),
        };
        let failed = block.is_err();
        let mut anyone = false;
        for feed in &feeds {
            anyone |= feed.send(block.clone()).is_ok();
        }
        if failed || !anyone {
            return;
        }
    }
}

/// The sink's side: runs on the calling thread until every shard is done.
fn serve(events: Receiver<Event>, shards: usize, sink: &mut dyn AnalysisSink) -> anyhow::Result<Vec<Part>> {
    let mut passed = vec![0u64; shards];
    let mut waiting: BTreeMap<u64, RejectedRow> = BTreeMap::new();
    let mut parts: Vec<Option<anyhow::Result<Part>>> = (0..shards).map(|_| None).collect();
    for event in events.iter() {
        match event {
            Event::Rollups(batch) => sink.rollups(batch)?,
            Event::Alarms(batch) => sink.alarms(batch)?,
            Event::Rejected(shard, row) => {
                passed[shard] = row.line;
                waiting.insert(row.line, row);
            }
            Event::Passed(shard, line) => passed[shard] = line,
            Event::Checkpoint { location, before, reply } => {
                let _ = reply.send(sink.checkpoint(&location, before));
            }
            Event::Done(shard, part) => {
                passed[shard] = u64::MAX;
                parts[shard] = Some(*part);
            }
        }
        // Rows are released once no shard can still send an earlier one.
        let everyone_passed = passed.iter().copied().min().unwrap_or(u64::MAX);
        while let Some(entry) = waiting.first_entry() {
            if *entry.key() > everyone_passed {
                break;
            }
            sink.rejected(&entry.remove())?;
        }
    }
    parts
        .into_iter()
        .map(|part| part.unwrap_or_else(|| Err(anyhow::anyhow!("a shard of the analysis stopped without a result"))))
        .collect()
}

/// A shard's sink: everything goes to the calling thread.
struct ShardSink {
    index: usize,
    events: SyncSender<Event>,
    unreported: u32,
    /// The caller's sink takes alarms as they end: they are passed on as they come.
    takes_alarms: bool,
}

fn stopped<T>(_: T) -> anyhow::Error {
    anyhow::anyhow!("the analysis was stopped")
}

impl AnalysisSink for ShardSink {
    fn rollups(&mut self, batch: Vec<HourlyRollup>) -> anyhow::Result<()> {
        self.events.send(Event::Rollups(batch)).map_err(stopped)
    }
    fn rejected(&mut self, row: &RejectedRow) -> anyhow::Result<()> {
        self.events.send(Event::Rejected(self.index, row.clone())).map_err(stopped)
    }
    fn takes_alarms(&self) -> bool {
        self.takes_alarms
    }
    fn alarms(&mut self, batch: Vec<Alert>) -> anyhow::Result<()> {
        self.events.send(Event::Alarms(batch)).map_err(stopped)
    }
    fn checkpoint(&mut self, location: &str, before: DateTime<Utc>) -> anyhow::Result<Option<AlarmCheckpoint>> {
        let (reply, answer) = mpsc::sync_channel(1);
        self.events.send(Event::Checkpoint { location: location.to_string(), before, reply }).map_err(stopped)?;
        answer.recv().map_err(stopped)?
    }
    fn passed(&mut self, line: u64) {
        self.unreported += 1;
        if self.unreported >= PROGRESS_EVERY {
            self.unreported = 0;
            // A closed channel shows at the next rollups or rejected row.
            let _ = self.events.send(Event::Passed(self.index, line));
        }
    }
}

/// The blocks of one shard as a byte stream; a read error of the input is repeated here.
struct BlockReader {
    blocks: Receiver<Block>,
    block: Arc<Vec<u8>>,
    at: usize,
    ended: bool,
}

impl BlockReader {
    fn new(blocks: Receiver<Block>) -> Self {
        Self { blocks, block: Arc::new(Vec::new()), at: 0, ended: false }
    }
}

impl BufRead for BlockReader {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        while self.at >= self.block.len() && !self.ended {
            match self.blocks.recv() {
                Ok(Ok(block)) => (self.block, self.at) = (block, 0),
                Ok(Err((kind, message))) => {
                    self.ended = true;
                    return Err(std::io::Error::new(kind, message));
                }
                Err(_) => self.ended = true,
            }
        }
        Ok(&self.block[self.at.min(self.block.len())..])
    }
    fn consume(&mut self, amount: usize) {
        self.at += amount;
    }
}

impl Read for BlockReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}
