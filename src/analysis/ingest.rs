//! Streaming reader for uploaded files: CSV or JSON lines, optionally gzip-compressed,
//! from any `Read`. Rows come out one at a time; a bad row becomes a [`RejectedRow`]
//! naming its line and field, and reading goes on.

use crate::model::{Reading, RejectedRow};
use chrono::{DateTime, NaiveDateTime, Utc};
use std::cell::Cell;
use std::io::{BufRead, BufReader, Read};

/// Columns every file must have (in any order; extra columns are ignored).
pub const REQUIRED_COLUMNS: [&str; 8] =
    ["timestamp", "location", "load_mw", "generation_mw", "voltage_kv", "frequency_hz", "solar_mw", "wind_mw"];
pub const OPTIONAL_COLUMNS: [&str; 1] = ["power_factor"];

/// CSV rows and JSON lines longer than this are rejected without being buffered whole.
pub const MAX_LINE_BYTES: usize = 1 << 20;
/// Numbers larger than this in magnitude are rejected: sums of an hour's (and a file's)
/// readings must stay finite to be stored and read back (1e308 + 1e308 is infinity, which
/// JSON cannot hold). Far above any real reading in MW, kV or Hz.
pub const MAX_ABS_VALUE: f64 = 1e12;
/// Non-zero numbers smaller than this in magnitude are rejected too: a ratio to one (solar
/// over a generation of 1e-310 MW) would overflow. Far below floating-point noise (~1e-17).
pub const MIN_ABS_NONZERO: f64 = 1e-200;
/// Timestamps outside these years are rejected: keys and partitions use four-digit years
/// (up to 9998, so the next day's forecast stays within 9999), and date arithmetic near
/// chrono's limits would overflow.
pub const YEARS: std::ops::RangeInclusive<i32> = 1..=9998;
/// Substation names longer than this are rejected (they become store keys).
pub const MAX_LOCATION_LEN: usize = 128;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    JsonLines,
}

impl Format {
    pub fn name(self, gzip: bool) -> &'static str {
        match (self, gzip) {
            (Format::Csv, false) => "csv",
            (Format::Csv, true) => "csv+gzip",
            (Format::JsonLines, false) => "jsonl",
            (Format::JsonLines, true) => "jsonl+gzip",
        }
    }
}

/// Why a whole file could not be read (as opposed to one bad row).
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("{source_name}: the file is empty")]
    Empty { source_name: String },
    #[error("{source_name}: line 1: missing required column(s): {}", missing.join(", "))]
    MissingColumns { source_name: String, missing: Vec<String> },
    #[error("{source_name}: line 1: the header is not valid UTF-8")]
    HeaderNotUtf8 { source_name: String },
    #[error("{source_name}: read error: {message}")]
    Io { source_name: String, message: String },
}

/// One item of the row stream.
#[derive(Debug)]
pub enum Row {
    /// A valid reading and its 1-based line number.
    Ok(Reading, u64),
    Rejected(RejectedRow),
    /// A row of a substation another shard analyses (see [`ShardFilter`]): only its line.
    Elsewhere(u64),
}

/// Which rows one shard of a sharded analysis takes: those of the substations whose name
/// hashes to its index. The name is read as the row builder reads it (UTF-8, trimmed), so
/// every row of a substation lands in the same shard; rows without a readable name go to
/// shard 0 (they are rejected there, once). The hash is seeded with a constant, so the
/// shards of one object may run in separate processes (the Lambda's fan-out) and still
/// split it the same way.
#[derive(Clone, Debug, PartialEq)]
pub struct ShardFilter {
    index: usize,
    count: usize,
}

/// The seed of the shard hash: any constant (the same binary must split the same way).
const SHARD_SEED: u64 = 0x6772_6964_7761_7463;

impl ShardFilter {
    pub fn new(index: usize, count: usize) -> Self {
        Self { index, count: count.max(1) }
    }

    /// Whether this shard analyses the rows of `location`.
    pub fn owns(&self, location: Option<&str>) -> bool {
        self.owns_name(location.map(|name| name.trim().as_bytes()))
    }

    /// [`Self::owns`] of a CSV field's bytes. An ASCII name (nearly every one) is trimmed
    /// as `str::trim` trims ASCII and hashed without a UTF-8 check: every shard looks at
    /// every row's name, and the check was 4.5 % of a shard's time (perf, 7 Dec).
    fn owns_bytes(&self, location: Option<&[u8]>) -> bool {
        match location {
            Some(bytes) if bytes.is_ascii() => self.owns_name(Some(trim_ascii_as_str_does(bytes))),
            _ => self.owns(location.and_then(|bytes| std::str::from_utf8(bytes).ok())),
        }
    }

    /// The shard of a trimmed name's bytes (an empty or unreadable name: shard 0). Hashed as
    /// `Hash for str` hashes (the bytes, then 0xff), as it was before names were read as bytes:
    /// the shards of a fan-out in flight across a deployment still split alike.
    fn owns_name(&self, name: Option<&[u8]>) -> bool {
        use std::hash::{BuildHasher, Hasher};
        let shard = name.filter(|name| !name.is_empty()).map_or(0, |name| {
            let mut hasher = foldhash::fast::FixedState::with_seed(SHARD_SEED).build_hasher();
            hasher.write(name);
            hasher.write_u8(0xff);
            (hasher.finish() % self.count as u64) as usize
        });
        shard == self.index
    }
}

/// `str::trim` of an ASCII string: its whitespace is `<[u8]>::trim_ascii`'s and the vertical tab.
fn trim_ascii_as_str_does(bytes: &[u8]) -> &[u8] {
    let space = |b: &u8| b.is_ascii_whitespace() || *b == 0x0b;
    let start = bytes.iter().position(|b| !space(b)).unwrap_or(bytes.len());
    let end = bytes.iter().rposition(|b| !space(b)).map_or(start, |last| last + 1);
    &bytes[start..end]
}

/// Bytes read from a file (or its decompressed stream) at a time.
pub(crate) const INPUT_BUFFER: usize = 1 << 16;

/// Detects compression and format, reads the header, and returns the row stream.
pub fn open<'a, R: Read + 'a>(input: R, source_name: &str) -> Result<RowStream<'a>, FileError> {
    open_shard(BufReader::with_capacity(INPUT_BUFFER, input), source_name, None)
}

/// [`open`] of buffered input for one shard: rows of other shards' substations come out as [`Row::Elsewhere`],
/// without their fields being read.
pub fn open_shard<'a, R: BufRead + 'a>(mut buffered: R, source_name: &str, shard: Option<ShardFilter>) -> Result<RowStream<'a>, FileError> {
    let io_err = |e: std::io::Error| FileError::Io { source_name: source_name.to_string(), message: e.to_string() };
    let gzip = buffered.fill_buf().map_err(io_err)?.starts_with(&[0x1f, 0x8b]);
    let mut reader: Box<dyn BufRead + 'a> = if gzip {
        Box::new(BufReader::with_capacity(INPUT_BUFFER, flate2::bufread::MultiGzDecoder::new(buffered)))
    } else {
        Box::new(buffered)
    };
    let format = sniff_format(&mut reader, source_name)?;
    let guard = RowGuard::new(reader, format);
    let inner = match format {
        Format::Csv => Inner::Csv(Box::new(CsvRows::new(guard, source_name, shard)?)),
        Format::JsonLines => {
            Inner::Json(JsonRows { reader: Box::new(guard), line: 0, buf: Vec::new(), failed: false, shard })
        }
    };
    Ok(RowStream { inner, format, gzip, fatal: None, spare: String::new(), spares: Vec::new() })
}

/// Skips a UTF-8 byte-order mark and leading blank space, then looks at the first byte:
/// `{` means JSON lines, anything else CSV.
fn sniff_format(reader: &mut Box<dyn BufRead + '_>, source_name: &str) -> Result<Format, FileError> {
    loop {
        let buf = reader
            .fill_buf()
            .map_err(|e| FileError::Io { source_name: source_name.to_string(), message: e.to_string() })?;
        if buf.is_empty() {
            return Err(FileError::Empty { source_name: source_name.to_string() });
        }
        if buf.starts_with(&[0xef, 0xbb, 0xbf]) {
            reader.consume(3);
            continue;
        }
        let blank = buf.iter().take_while(|b| b.is_ascii_whitespace()).count();
        if blank == 0 {
            return Ok(if buf[0] == b'{' { Format::JsonLines } else { Format::Csv });
        }
        // Leading newlines are not consumed for CSV (line numbers must stay right);
        // peek past them instead.
        if let Some(&first) = buf.get(blank) {
            return Ok(if first == b'{' { Format::JsonLines } else { Format::Csv });
        }
        // The buffer held only blank space: consume it (only happens for blank-led files).
        let len = buf.len();
        reader.consume(len);
    }
}

pub struct RowStream<'a> {
    inner: Inner<'a>,
    pub format: Format,
    pub gzip: bool,
    /// Set when reading stopped early (e.g. truncated gzip): rows before it were kept.
    pub fatal: Option<String>,
    /// A handed-back reading's location, reused for the next reading's (see [`RowStream::recycle`]).
    spare: String,
    /// More handed-back locations (readings come back a batch at a time when the rows are
    /// used on another thread).
    spares: Vec<String>,
}

enum Inner<'a> {
    Csv(Box<CsvRows<'a>>),
    Json(JsonRows<'a>),
}

impl<'a> RowStream<'a> {
    pub fn format_name(&self) -> &'static str {
        self.format.name(self.gzip)
    }

    /// Hands a reading back once it has been used: the next reading's location is written
    /// into its string, so rows cost no allocation.
    pub fn recycle(&mut self, reading: Reading) {
        self.recycle_location(reading.location);
    }

    /// [`Self::recycle`] of a reading's location alone.
    pub fn recycle_location(&mut self, location: String) {
        if self.spare.capacity() == 0 {
            self.spare = location;
        } else {
            self.spares.push(location);
        }
    }
}

impl Iterator for RowStream<'_> {
    type Item = Row;
    fn next(&mut self) -> Option<Row> {
        if self.fatal.is_some() {
            return None;
        }
        if self.spare.capacity() == 0
            && let Some(location) = self.spares.pop()
        {
            self.spare = location;
        }
        let next = match &mut self.inner {
            Inner::Csv(rows) => rows.next_row(&mut self.spare),
            Inner::Json(rows) => rows.next_row(&mut self.spare),
        };
        match next {
            Ok(row) => row,
            Err(message) => {
                self.fatal = Some(message);
                None
            }
        }
    }
}

// ---------------------------------------------------------------- line endings and row length

/// Sits between the (decompressed) bytes and the parsers:
/// - ends lines at CR, LF or CRLF alike, as LF, so line numbers are right in CR-only files;
/// - for CSV, notes where each row starts (the parser's own positions ignore blank lines
///   before a row), and cuts a row longer than [`MAX_LINE_BYTES`] (quotes are followed, so
///   a quoted field may span lines), skipping the rest without buffering it. The skipped
///   part is replaced by an open quoted field holding only its line breaks.
struct RowGuard<R> {
    inner: R,
    state: LineState,
    staged: Vec<u8>,
    staged_at: usize,
}

/// What [`RowGuard`] knows of the bytes it has passed on.
struct LineState {
    csv: bool,
    rows: RowStarts,
    line: u64,
    row_start_line: u64,
    row_len: usize,
    in_quotes: bool,
    after_cr: bool,
    skipping: bool,
}

/// (first line, whether it was cut) of each non-empty CSV row [`RowGuard`] passed on and
/// the parser has not taken yet, in file order: one per record the parser returns.
type RowStarts = std::rc::Rc<std::cell::RefCell<std::collections::VecDeque<(u64, bool)>>>;

impl<R: BufRead> RowGuard<R> {
    fn new(inner: R, format: Format) -> Self {
        let state = LineState {
            csv: format == Format::Csv,
            rows: RowStarts::default(),
            line: 1,
            row_start_line: 1,
            row_len: 0,
            in_quotes: false,
            after_cr: false,
            skipping: false,
        };
        Self { inner, state, staged: Vec::with_capacity(1 << 16), staged_at: 0 }
    }

    /// Transforms the next chunk of input into `staged`; false at the end of input.
    fn stage(&mut self) -> std::io::Result<bool> {
        self.staged.clear();
        self.staged_at = 0;
        let input = loop {
            match self.inner.fill_buf() {
                Ok(b) => break b,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        };
        let (st, out) = (&mut self.state, &mut self.staged);
        if input.is_empty() {
            st.end_row();
            if std::mem::take(&mut st.skipping) {
                out.push(b'"'); // closes the placeholder field of a cut row
            }
            return Ok(!out.is_empty());
        }
        // Runs of ordinary bytes are copied whole; only line breaks and (for CSV) quotes
        // go through `step` one at a time.
        let mut at = 0;
        while at < input.len() {
            let rest = &input[at..];
            let run = if st.csv { memchr::memchr3(b'\n', b'\r', b'"', rest) } else { memchr::memchr2(b'\n', b'\r', rest) }
                .unwrap_or(rest.len());
            if run > 0 {
                st.after_cr = false;
                if st.skipping {
                    // the rest of a cut row: dropped
                } else if !st.csv || st.row_len + run <= MAX_LINE_BYTES {
                    out.extend_from_slice(&rest[..run]);
                    st.row_len += run;
                } else {
                    for &byte in &rest[..run] {
                        st.step(byte, out);
                    }
                }
                at += run;
            }
            if let Some(&byte) = input.get(at) {
                st.step(byte, out);
                at += 1;
            }
        }
        let n = input.len();
        self.inner.consume(n);
        Ok(true)
    }
}

impl LineState {
    /// One byte through the line-ending, row-start and row-length rules:
    /// - ends lines at CR, LF or CRLF alike, as LF;
    /// - for CSV, notes where each row starts and cuts a row longer than [`MAX_LINE_BYTES`].
    fn step(&mut self, byte: u8, out: &mut Vec<u8>) {
        if std::mem::take(&mut self.after_cr) && byte == b'\n' {
            return; // the LF of a CRLF: the CR already ended the line
        }
        let byte = if byte == b'\r' {
            self.after_cr = true;
            b'\n'
        } else {
            byte
        };
        if byte == b'\n' {
            self.line += 1;
            if !self.in_quotes {
                if self.csv && (self.row_len > 0 || self.skipping) {
                    self.rows.borrow_mut().push_back((self.row_start_line, self.skipping));
                }
                if std::mem::take(&mut self.skipping) {
                    out.push(b'"');
                }
                out.push(b'\n');
                self.row_len = 0;
                self.row_start_line = self.line;
                return;
            }
        } else if byte == b'"' && self.csv {
            self.in_quotes = !self.in_quotes;
        }
        if self.skipping {
            if byte == b'\n' {
                out.push(b'\n');
            }
            return;
        }
        self.row_len += 1;
        if self.csv && self.row_len > MAX_LINE_BYTES {
            self.skipping = true;
            // A quoted placeholder field holds the line breaks of the skipped part
            // (none is needed when the output is inside a quoted field already).
            let quoted_before = if byte == b'"' { !self.in_quotes } else { self.in_quotes };
            if !quoted_before {
                out.extend_from_slice(b",\"");
            }
            if byte == b'\n' {
                out.push(b'\n');
            }
            return;
        }
        out.push(byte);
    }

    /// Notes the last row of the input, which has no line break after it.
    fn end_row(&mut self) {
        if self.csv && (self.row_len > 0 || self.skipping) {
            self.rows.borrow_mut().push_back((self.row_start_line, self.skipping));
            self.row_len = 0;
        }
    }
}

impl<R: BufRead> Read for RowGuard<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let staged = self.fill_buf()?;
        let n = buf.len().min(staged.len());
        buf[..n].copy_from_slice(&staged[..n]);
        self.consume(n);
        Ok(n)
    }
}

/// The parsers read the staged bytes in place (no second buffer).
impl<R: BufRead> BufRead for RowGuard<R> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        while self.staged_at >= self.staged.len() {
            if !self.stage()? {
                return Ok(&[]);
            }
        }
        Ok(&self.staged[self.staged_at..])
    }
    fn consume(&mut self, amount: usize) {
        self.staged_at = (self.staged_at + amount).min(self.staged.len());
    }
}

impl<R> RowGuard<R> {
    /// What `fill_buf` returned last, not consumed yet.
    fn staged(&self) -> &[u8] {
        &self.staged[self.staged_at..]
    }
}

// ---------------------------------------------------------------- CSV records

/// One CSV record: its fields' bytes (unquoted) and where each field is in them.
struct Record<'r> {
    data: &'r [u8],
    bounds: &'r [(usize, usize)],
}

impl<'r> Record<'r> {
    fn len(&self) -> usize {
        self.bounds.len()
    }
    fn get(&self, field: usize) -> Option<&'r [u8]> {
        self.bounds.get(field).map(|&(start, end)| &self.data[start..end])
    }
    fn iter(&self) -> impl Iterator<Item = &'r [u8]> + '_ {
        (0..self.len()).filter_map(|i| self.get(i))
    }
    /// The fields' bytes one after another (no separators), at most `max` of them.
    fn head(&self, max: usize) -> Vec<u8> {
        let mut out = Vec::new();
        for field in self.iter() {
            out.extend_from_slice(&field[..field.len().min(max - out.len())]);
            if out.len() >= max {
                break;
            }
        }
        out
    }
}

/// CSV records read from [`RowGuard`]'s staged bytes in place. A whole line without a
/// quote (nearly every line of a sensor file) is split at its commas where it lies;
/// anything else (quoted fields, fields spanning lines, a line split between two chunks,
/// the last line) goes through csv_core's parser, which the fast path matches exactly: a
/// line without quotes means the same to both, and blank lines are skipped by both.
struct CsvRecords<R> {
    guard: RowGuard<R>,
    core: csv_core::Reader,
    /// Bytes of the guard's buffer the record handed out last still lies in: consumed
    /// before the next one is read.
    consume_later: usize,
    /// The unquoted field bytes and field ends csv_core wrote for the last slow record.
    slow_bytes: Vec<u8>,
    slow_ends: Vec<usize>,
    bounds: Vec<(usize, usize)>,
}

impl<R: BufRead> CsvRecords<R> {
    fn new(guard: RowGuard<R>) -> Self {
        Self {
            guard,
            core: csv_core::Reader::new(),
            consume_later: 0,
            slow_bytes: vec![0; 1 << 10],
            slow_ends: vec![0; 32],
            bounds: Vec::with_capacity(32),
        }
    }

    /// The next record; `None` at the end of input.
    fn next_record(&mut self) -> std::io::Result<Option<Record<'_>>> {
        self.guard.consume(std::mem::take(&mut self.consume_later));
        self.bounds.clear();
        // Blank lines, skipped as csv_core skips them (the guard turned every CR into LF).
        loop {
            let buf = self.guard.fill_buf()?;
            let blank = buf.iter().take_while(|&&b| b == b'\n').count();
            if blank == 0 {
                break;
            }
            self.guard.consume(blank);
        }
        let buf = self.guard.fill_buf()?;
        if let Some(end) = split_plain_line(buf, &mut self.bounds) {
            self.consume_later = end + 1;
            return Ok(Some(Record { data: &self.guard.staged()[..end], bounds: &self.bounds }));
        }
        self.bounds.clear();
        self.slow_record()
    }

    /// One record through csv_core, fed from the guard until it ends one.
    fn slow_record(&mut self) -> std::io::Result<Option<Record<'_>>> {
        use csv_core::ReadRecordResult as Got;
        let (mut out_len, mut ends_len) = (0, 0);
        loop {
            let input = self.guard.fill_buf()?;
            let (got, read, wrote, ended) =
                self.core.read_record(input, &mut self.slow_bytes[out_len..], &mut self.slow_ends[ends_len..]);
            self.guard.consume(read);
            out_len += wrote;
            ends_len += ended;
            match got {
                Got::InputEmpty => {}
                Got::OutputFull => self.slow_bytes.resize(self.slow_bytes.len() * 2, 0),
                Got::OutputEndsFull => self.slow_ends.resize(self.slow_ends.len() * 2, 0),
                Got::Record => break,
                Got::End => return Ok(None),
            }
        }
        let mut start = 0;
        for &end in &self.slow_ends[..ends_len] {
            self.bounds.push((start, end));
            start = end;
        }
        Ok(Some(Record { data: &self.slow_bytes[..out_len], bounds: &self.bounds }))
    }
}

/// Splits the line at the start of `buf` at its commas: pushes each field's (start, end)
/// to `bounds` and returns where the line's `\n` is. `None` (with `bounds` partly filled)
/// when a quote comes before the line break or `buf` has none: csv_core's case.
/// Sixteen bytes at a time, a bit per matching byte ([`byte_masks`]): the fields are too
/// short for memchr's setup to pay off, and a byte at a time was a fifth of the parser's cost.
fn split_plain_line(buf: &[u8], bounds: &mut Vec<(usize, usize)>) -> Option<usize> {
    let mut start = 0;
    let mut chunks = buf.chunks_exact(16);
    let mut at = 0;
    for chunk in &mut chunks {
        let masks = byte_masks(chunk.try_into().expect("sixteen bytes"));
        // Every bit below the first line break's (all of them without one).
        let before = (masks.newlines & masks.newlines.wrapping_neg()).wrapping_sub(1);
        if masks.quotes & before != 0 {
            return None;
        }
        let mut commas = masks.commas & before;
        while commas != 0 {
            let comma = at + commas.trailing_zeros() as usize;
            bounds.push((start, comma));
            start = comma + 1;
            commas &= commas - 1;
        }
        if masks.newlines != 0 {
            let end = at + masks.newlines.trailing_zeros() as usize;
            bounds.push((start, end));
            return Some(end);
        }
        at += 16;
    }
    for (i, &byte) in chunks.remainder().iter().enumerate() {
        match byte {
            b',' => {
                bounds.push((start, at + i));
                start = at + i + 1;
            }
            b'\n' => {
                bounds.push((start, at + i));
                return Some(at + i);
            }
            b'"' => return None,
            _ => {}
        }
    }
    None
}

/// Bit `i` set where byte `i` of a 16-byte chunk is a comma, a line break, a quote.
#[derive(Debug, PartialEq, Eq)]
struct ByteMasks {
    commas: u32,
    newlines: u32,
    quotes: u32,
}

/// [`ByteMasks`] with SSE2, which every x86-64 processor has: three compares and three
/// mask moves for 16 bytes.
#[cfg(target_arch = "x86_64")]
#[inline]
fn byte_masks(chunk: &[u8; 16]) -> ByteMasks {
    use std::arch::x86_64::{_mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_set1_epi8};
    // SAFETY: SSE2 is part of the x86-64 baseline (every such processor has it), and the
    // load reads the 16 bytes of a 16-byte array, unaligned.
    unsafe {
        let v = _mm_loadu_si128(chunk.as_ptr().cast());
        ByteMasks {
            commas: _mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(b',' as i8))) as u32,
            newlines: _mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(b'\n' as i8))) as u32,
            quotes: _mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(b'"' as i8))) as u32,
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
#[inline]
fn byte_masks(chunk: &[u8; 16]) -> ByteMasks {
    byte_masks_portable(chunk)
}

/// [`byte_masks`] a byte at a time: other targets' (the compiler vectorises it as it can),
/// and the reference the SSE2 one is tested against.
#[cfg_attr(target_arch = "x86_64", allow(dead_code))]
fn byte_masks_portable(chunk: &[u8; 16]) -> ByteMasks {
    let mut masks = ByteMasks { commas: 0, newlines: 0, quotes: 0 };
    for (i, &byte) in chunk.iter().enumerate() {
        masks.commas |= u32::from(byte == b',') << i;
        masks.newlines |= u32::from(byte == b'\n') << i;
        masks.quotes |= u32::from(byte == b'"') << i;
    }
    masks
}

// ---------------------------------------------------------------- CSV

struct CsvRows<'a> {
    records: CsvRecords<Box<dyn BufRead + 'a>>,
    columns: [usize; 8],
    power_factor: Option<usize>,
    header_fields: usize,
    rows: RowStarts,
    shard: Option<ShardFilter>,
    /// The last plain timestamp read: the rows of one interval (every substation's) share it.
    last_timestamp: LastTimestamp,
}

/// A plain timestamp's 19 bytes (`YYYY-MM-DDTHH:MM:SS`) and what they read as.
type LastTimestamp = Cell<Option<([u8; 19], DateTime<Utc>)>>;

impl<'a> CsvRows<'a> {
    fn new(guard: RowGuard<Box<dyn BufRead + 'a>>, source_name: &str, shard: Option<ShardFilter>) -> Result<Self, FileError> {
        let rows = guard.state.rows.clone();
        let mut records = CsvRecords::new(guard);
        let header = records
            .next_record()
            .map_err(|e| FileError::Io { source_name: source_name.to_string(), message: e.to_string() })?;
        rows.borrow_mut().pop_front(); // the header's
        let mut names = Vec::new();
        for field in header.iter().flat_map(|h| h.iter()) {
            let name = std::str::from_utf8(field)
                .map_err(|_| FileError::HeaderNotUtf8 { source_name: source_name.to_string() })?;
            names.push(name.trim_start_matches('\u{feff}').trim().to_ascii_lowercase());
        }
        if names.iter().all(|n| n.is_empty()) {
            return Err(FileError::Empty { source_name: source_name.to_string() });
        }
        let find = |col: &str| names.iter().position(|n| n == col);
        let missing: Vec<String> =
            REQUIRED_COLUMNS.iter().filter(|c| find(c).is_none()).map(|c| c.to_string()).collect();
        if !missing.is_empty() {
            return Err(FileError::MissingColumns { source_name: source_name.to_string(), missing });
        }
        let mut columns = [0usize; 8];
        for (slot, col) in columns.iter_mut().zip(REQUIRED_COLUMNS) {
            *slot = find(col).expect("checked above");
        }
        Ok(Self {
            records,
            columns,
            power_factor: find(OPTIONAL_COLUMNS[0]),
            header_fields: names.len(),
            rows,
            shard,
            last_timestamp: Cell::new(None),
        })
    }

    fn next_row(&mut self, spare: &mut String) -> Result<Option<Row>, String> {
        let record = match self.records.next_record() {
            Ok(None) => return Ok(None),
            Ok(Some(record)) => record,
            Err(e) => return Err(format!("CSV read error: {e}")),
        };
        // (first line, cut) of the record, from [`RowGuard`] (line 0 if the two ever disagree).
        let (line, cut) = self.rows.borrow_mut().pop_front().unwrap_or((0, false));
        if let Some(shard) = &self.shard {
            let location = if cut { None } else { record.get(self.columns[LOCATION]) };
            if !shard.owns_bytes(location) {
                return Ok(Some(Row::Elsewhere(line)));
            }
        }
        if cut {
            let head = record.head(200);
            let raw = String::from_utf8_lossy(&head);
            return Ok(Some(Row::Rejected(RejectedRow {
                line,
                field: "row".into(),
                reason: format!("row is longer than {MAX_LINE_BYTES} bytes"),
                raw: raw.into_owned() + "…",
            })));
        }
        let fields = CsvFields {
            record: &record,
            columns: &self.columns,
            power_factor: self.power_factor,
            last_timestamp: &self.last_timestamp,
        };
        let checked = check_field_count(record.len(), self.header_fields).and_then(|()| build_reading(&fields, spare));
        Ok(Some(match checked {
            Ok(reading) => Row::Ok(reading, line),
            // The raw text is rebuilt only for rejected rows (it costs an allocation per field).
            Err((field, reason)) => Row::Rejected(RejectedRow { line, field, reason, raw: raw_csv_text(&record) }),
        }))
    }
}

/// A row with more fields than the header would be read with shifted columns (an unquoted
/// decimal comma, `1,5` for 1.5), so it is rejected; fewer fields show as missing values.
fn check_field_count(fields: usize, header_fields: usize) -> FieldResult<()> {
    if fields > header_fields {
        return Err((
            "row".to_string(),
            format!("has {fields} fields but the header has {header_fields} (an unquoted comma in a value?)"),
        ));
    }
    Ok(())
}

fn raw_csv_text(record: &Record<'_>) -> String {
    let mut out = String::new();
    for (i, field) in record.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let text = String::from_utf8_lossy(field);
        if text.contains([',', '"', '\n', '\r']) {
            out.push('"');
            out.push_str(&text.replace('"', "\"\""));
            out.push('"');
        } else {
            out.push_str(&text);
        }
    }
    out
}

struct CsvFields<'r> {
    record: &'r Record<'r>,
    columns: &'r [usize; 8],
    power_factor: Option<usize>,
    last_timestamp: &'r LastTimestamp,
}

impl FieldSource for CsvFields<'_> {
    fn text(&self, field: usize) -> FieldResult<Option<&str>> {
        self.text_at(Some(self.columns[field]), REQUIRED_COLUMNS[field])
    }
    fn number(&self, field: usize) -> FieldResult<Option<f64>> {
        self.number_at(Some(self.columns[field]), REQUIRED_COLUMNS[field])
    }
    fn power_factor(&self) -> FieldResult<Option<f64>> {
        self.number_at(self.power_factor, "power_factor")
    }
    fn plain_number(&self, field: usize) -> Option<f64> {
        self.plain_number_at(Some(self.columns[field]))
    }
    fn plain_power_factor(&self) -> Option<f64> {
        self.plain_number_at(self.power_factor)
    }
    fn plain_location(&self) -> Option<&str> {
        self.bytes_at(Some(self.columns[LOCATION])).filter(|b| is_plain_location(b)).and_then(|b| std::str::from_utf8(b).ok())
    }
    fn plain_timestamp(&self) -> Option<DateTime<Utc>> {
        let bytes = self.bytes_at(Some(self.columns[TIMESTAMP]))?;
        let digits: [u8; 19] = bytes.get(..19)?.try_into().ok()?;
        if let Some((last, ts)) = self.last_timestamp.get()
            && last == digits
            && matches!(bytes.get(19..), Some(b"" | b"Z" | b"z"))
        {
            return Some(ts);
        }
        let ts = parse_fast_utc(bytes)?;
        self.last_timestamp.set(Some((digits, ts)));
        Some(ts)
    }
}

impl CsvFields<'_> {
    /// A field's bytes, trimmed here, not by the reader: only the fields used are worth it.
    fn bytes_at(&self, index: Option<usize>) -> Option<&[u8]> {
        index.and_then(|i| self.record.get(i)).map(<[u8]>::trim_ascii)
    }

    fn plain_number_at(&self, index: Option<usize>) -> Option<f64> {
        self.bytes_at(index).and_then(parse_plain_decimal).filter(|&v| is_storable(v))
    }

    /// A number the plain path ([`FieldSource::plain_number`]) did not take: read by std's
    /// parser (bit-equal to the plain one where both read), or the error saying why not.
    /// Out of line: the rows' hot path is the plain one.
    #[cold]
    fn number_at(&self, index: Option<usize>, name: &str) -> FieldResult<Option<f64>> {
        self.text_at(index, name)?.map(|t| parse_number(t, name)).transpose()
    }

    fn text_at(&self, index: Option<usize>, name: &str) -> FieldResult<Option<&str>> {
        self.bytes_at(index).map_or(Ok(None), |bytes| text_of(bytes, name))
    }
}

/// A CSV field as text; `None` when empty.
fn text_of<'b>(bytes: &'b [u8], name: &str) -> FieldResult<Option<&'b str>> {
    let text = std::str::from_utf8(bytes).map_err(|_| (name.to_string(), "not valid UTF-8".to_string()))?;
    Ok(if text.is_empty() { None } else { Some(text) })
}

// ---------------------------------------------------------------- JSON lines

struct JsonRows<'a> {
    reader: Box<dyn BufRead + 'a>,
    line: u64,
    buf: Vec<u8>,
    failed: bool,
    shard: Option<ShardFilter>,
}

impl JsonRows<'_> {
    fn next_row(&mut self, spare: &mut String) -> Result<Option<Row>, String> {
        if self.failed {
            return Ok(None);
        }
        loop {
            self.line += 1;
            let too_long = match read_line_capped(&mut self.reader, &mut self.buf, MAX_LINE_BYTES) {
                Ok(None) => return Ok(None),
                Ok(Some(too_long)) => too_long,
                Err(e) => {
                    self.failed = true;
                    return Err(format!("read error after line {}: {e}", self.line - 1));
                }
            };
            let line = self.line;
            let owns = |location: Option<&str>| self.shard.as_ref().is_none_or(|shard| shard.owns(location));
            if too_long && !owns(None) {
                return Ok(Some(Row::Elsewhere(line)));
            }
            if too_long {
                return Ok(Some(Row::Rejected(RejectedRow {
                    line,
                    field: "row".into(),
                    reason: format!("line is longer than {MAX_LINE_BYTES} bytes"),
                    raw: String::from_utf8_lossy(&self.buf[..self.buf.len().min(200)]).into_owned() + "…",
                })));
            }
            let text = self.buf.trim_ascii();
            if text.is_empty() {
                continue;
            }
            let value: serde_json::Value = match serde_json::from_slice(text) {
                Ok(v) => v,
                Err(_) if !owns(None) => return Ok(Some(Row::Elsewhere(line))),
                Err(e) => {
                    let raw = String::from_utf8_lossy(text).into_owned();
                    return Ok(Some(Row::Rejected(RejectedRow {
                        line,
                        field: "row".into(),
                        reason: format!("not valid JSON: {e}"),
                        raw,
                    })));
                }
            };
            // Not an object: no name (`get` finds nothing), so shard 0 rejects it.
            if !owns(value.get("location").and_then(serde_json::Value::as_str)) {
                return Ok(Some(Row::Elsewhere(line)));
            }
            let raw = String::from_utf8_lossy(text).into_owned();
            let Some(object) = value.as_object() else {
                return Ok(Some(Row::Rejected(RejectedRow {
                    line,
                    field: "row".into(),
                    reason: "expected a JSON object".into(),
                    raw,
                })));
            };
            return Ok(Some(match build_reading(&JsonFields { object }, spare) {
                Ok(reading) => Row::Ok(reading, line),
                Err((field, reason)) => Row::Rejected(RejectedRow { line, field, reason, raw }),
            }));
        }
    }
}

/// Reads one line into `buf` keeping at most `cap` bytes (the rest of an overlong line
/// is skipped, not buffered). Returns `None` at end of input, else whether it was cut.
fn read_line_capped(reader: &mut dyn BufRead, buf: &mut Vec<u8>, cap: usize) -> std::io::Result<Option<bool>> {
    buf.clear();
    let mut read_any = false;
    let mut too_long = false;
    loop {
        let available = match reader.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if available.is_empty() {
            return Ok(if read_any { Some(too_long) } else { None });
        }
        read_any = true;
        let (chunk, done) = match memchr::memchr(b'\n', available) {
            Some(i) => (&available[..i], i + 1),
            None => (available, available.len()),
        };
        let room = cap.saturating_sub(buf.len());
        if chunk.len() > room {
            too_long = true;
        }
        buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
        let found_newline = done > chunk.len();
        reader.consume(done);
        if found_newline {
            return Ok(Some(too_long));
        }
    }
}

struct JsonFields<'o> {
    object: &'o serde_json::Map<String, serde_json::Value>,
}

impl JsonFields<'_> {
    fn value(&self, name: &str) -> Option<&serde_json::Value> {
        self.object.get(name).filter(|v| !v.is_null())
    }
    fn number_of(&self, name: &str) -> FieldResult<Option<f64>> {
        match self.value(name) {
            None => Ok(None),
            Some(serde_json::Value::Number(n)) => match n.as_f64() {
                Some(v) => storable(v, name).map(Some),
                None => Err((name.to_string(), format!("{n} is not a finite number"))),
            },
            Some(serde_json::Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(serde_json::Value::String(s)) => parse_number(s, name).map(Some),
            Some(other) => Err((name.to_string(), format!("expected a number, got {}", json_kind(other)))),
        }
    }
}

fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

impl FieldSource for JsonFields<'_> {
    fn text(&self, field: usize) -> FieldResult<Option<&str>> {
        let name = REQUIRED_COLUMNS[field];
        match self.value(name) {
            None => Ok(None),
            Some(serde_json::Value::String(s)) => Ok(if s.trim().is_empty() { None } else { Some(s.as_str()) }),
            Some(other) => Err((name.to_string(), format!("expected a string, got {}", json_kind(other)))),
        }
    }
    fn number(&self, field: usize) -> FieldResult<Option<f64>> {
        self.number_of(REQUIRED_COLUMNS[field])
    }
    fn power_factor(&self) -> FieldResult<Option<f64>> {
        self.number_of("power_factor")
    }
}

// ---------------------------------------------------------------- shared row building

/// (field, reason) of the first problem found in a row.
type FieldResult<T> = Result<T, (String, String)>;

/// Field access common to CSV records and JSON objects, by index into [`REQUIRED_COLUMNS`].
trait FieldSource {
    fn text(&self, field: usize) -> FieldResult<Option<&str>>;
    fn number(&self, field: usize) -> FieldResult<Option<f64>>;
    fn power_factor(&self) -> FieldResult<Option<f64>>;
    /// The timestamp when it is the usual `YYYY-MM-DDTHH:MM:SS[Z]`, read from the field's
    /// bytes as they are (no UTF-8 check, no trimming); `None` sends it the general way.
    fn plain_timestamp(&self) -> Option<DateTime<Utc>> {
        None
    }
    /// A required number when it is a plain, storable decimal (no error built on the way);
    /// `None` sends it the general way.
    fn plain_number(&self, _field: usize) -> Option<f64> {
        None
    }
    /// [`FieldSource::plain_number`] for the optional power factor.
    fn plain_power_factor(&self) -> Option<f64> {
        None
    }
    /// The location when it is a plain name ([`is_plain_location`]), read without the
    /// general checks; `None` sends it the general way.
    fn plain_location(&self) -> Option<&str> {
        None
    }
}

const TIMESTAMP: usize = 0;
const LOCATION: usize = 1;
const LOAD: usize = 2;
const GENERATION: usize = 3;
const VOLTAGE: usize = 4;
const FREQUENCY: usize = 5;
const SOLAR: usize = 6;
const WIND: usize = 7;

fn required<T>(value: Option<T>, field: usize) -> FieldResult<T> {
    value.ok_or_else(|| (REQUIRED_COLUMNS[field].to_string(), "missing value".to_string()))
}

/// The reading of one row; its location goes into `spare`'s allocation.
fn build_reading(fields: &impl FieldSource, spare: &mut String) -> FieldResult<Reading> {
    let timestamp = match fields.plain_timestamp() {
        Some(timestamp) => timestamp,
        None => {
            let ts_text = required(fields.text(TIMESTAMP)?, TIMESTAMP)?;
            parse_timestamp(ts_text).ok_or_else(|| {
                ("timestamp".to_string(), format!("cannot parse {:?} as an ISO-8601 timestamp", truncate(ts_text)))
            })?
        }
    };
    check_year(timestamp)?;
    let location = match fields.plain_location() {
        Some(name) => name,
        None => {
            let location = required(fields.text(LOCATION)?, LOCATION)?.trim();
            validate_location(location)?;
            location
        }
    };
    let number = |field: usize| -> FieldResult<f64> {
        match fields.plain_number(field) {
            Some(v) => Ok(v),
            None => required(fields.number(field)?, field),
        }
    };
    let reading = Reading {
        timestamp,
        location: {
            let mut name = std::mem::take(spare);
            name.clear();
            name.push_str(location);
            name
        },
        load_mw: non_negative(number(LOAD)?, LOAD)?,
        generation_mw: non_negative(number(GENERATION)?, GENERATION)?,
        voltage_kv: positive(number(VOLTAGE)?, VOLTAGE)?,
        frequency_hz: positive(number(FREQUENCY)?, FREQUENCY)?,
        solar_mw: non_negative(number(SOLAR)?, SOLAR)?,
        wind_mw: non_negative(number(WIND)?, WIND)?,
        power_factor: match fields.plain_power_factor().map_or_else(|| fields.power_factor(), |pf| Ok(Some(pf)))? {
            Some(pf) if (0.0..=1.0).contains(&pf) => Some(pf),
            Some(pf) => return Err(("power_factor".into(), format!("{pf} is outside 0..=1"))),
            None => None,
        },
    };
    Ok(reading)
}

fn check_year(timestamp: DateTime<Utc>) -> FieldResult<()> {
    use chrono::Datelike;
    // The naive date: `DateTime::year` would add the (zero) offset first.
    if YEARS.contains(&timestamp.naive_utc().year()) {
        return Ok(());
    }
    Err((
        "timestamp".to_string(),
        format!("year {} is outside {}..={}", timestamp.year(), YEARS.start(), YEARS.end()),
    ))
}

fn truncate(s: &str) -> String {
    let cut: String = s.chars().take(64).collect();
    if cut.len() < s.len() { cut + "…" } else { cut }
}

fn validate_location(location: &str) -> FieldResult<()> {
    let bad = |reason: &str| Err(("location".to_string(), reason.to_string()));
    if location.is_empty() {
        return bad("missing value");
    }
    if is_plain_location(location.as_bytes()) {
        return Ok(());
    }
    if location.chars().count() > MAX_LOCATION_LEN {
        return bad("longer than 128 characters");
    }
    if location.chars().any(char::is_control) {
        return bad("contains control characters");
    }
    if let Some(c) = location.chars().find(|&c| is_invisible_or_bidi(c)) {
        return Err((
            "location".to_string(),
            format!("contains the invisible or text-direction character U+{:04X} (names that look alike must be equal)", c as u32),
        ));
    }
    if location.contains('#') {
        // `#` separates the parts of store keys (alert ids, index items).
        return bad("contains '#', which is reserved");
    }
    Ok(())
}

/// The usual name: printable ASCII without '#', at most [`MAX_LOCATION_LEN`] bytes, not
/// empty. It needs no other check.
fn is_plain_location(name: &[u8]) -> bool {
    !name.is_empty() && name.len() <= MAX_LOCATION_LEN && name.iter().all(|&b| matches!(b, b' '..=b'~') && b != b'#')
}

/// Zero-width characters, bidi controls and other format characters that render as
/// nothing: `substation_001` followed by U+200B looks exactly like `substation_001`.
fn is_invisible_or_bidi(c: char) -> bool {
    matches!(c,
        '\u{ad}' | '\u{34f}' | '\u{61c}' | '\u{115f}' | '\u{1160}' | '\u{17b4}' | '\u{17b5}' | '\u{180b}'..='\u{180f}'
        | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{206f}' | '\u{3164}'
        | '\u{fe00}'..='\u{fe0f}' | '\u{feff}' | '\u{ffa0}' | '\u{fff0}'..='\u{fffb}' | '\u{e0000}'..='\u{e0fff}')
}

fn parse_number(text: &str, name: &str) -> FieldResult<f64> {
    let t = text.trim();
    let v: f64 = t.parse().map_err(|_| (name.to_string(), format!("cannot parse {:?} as a number", truncate(t))))?;
    storable(v, name)
}

/// A plain decimal (`-12.345`: sign, digits, at most one point, at most 15 significant
/// digits and 15 decimals) read without std's general parser; `None` for anything else,
/// which goes to `parse_number`.
/// Exact: the digits as an integer (< 2^53) and the power of ten (<= 10^15) are both exact
/// doubles, so one division rounds correctly (Clinger's fast path, std's own first try).
fn parse_plain_decimal(bytes: &[u8]) -> Option<f64> {
    const POW10: [f64; 16] = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15];
    let (negative, text) = match bytes.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, bytes),
    };
    // One pass: digits into the mantissa (wrapping: more than 19 are refused below), the
    // point's place noted.
    let mut mantissa = 0u64;
    let mut point = None;
    for (at, &c) in text.iter().enumerate() {
        let digit = c.wrapping_sub(b'0');
        if digit <= 9 {
            mantissa = mantissa.wrapping_mul(10).wrapping_add(u64::from(digit));
        } else if c == b'.' && point.is_none() {
            point = Some(at);
        } else {
            return None;
        }
    }
    let digits = text.len() - usize::from(point.is_some());
    let decimals = point.map_or(0, |at| text.len() - at - 1);
    // Leading zeros do not count against the 15 significant digits: the value does.
    if digits == 0 || digits > 19 || decimals >= POW10.len() || mantissa >= 1_000_000_000_000_000 {
        return None;
    }
    let v = mantissa as f64 / POW10[decimals];
    Some(if negative { -v } else { v })
}

/// Finite, within [`MAX_ABS_VALUE`], and 0 or at least [`MIN_ABS_NONZERO`] (one rule for
/// CSV and JSON numbers).
#[inline]
fn storable(v: f64, name: &str) -> FieldResult<f64> {
    if is_storable(v) {
        return Ok(v);
    }
    Err(not_storable(v, name))
}

#[inline]
fn is_storable(v: f64) -> bool {
    let magnitude = v.abs();
    // Also means finite: NaN fails every comparison.
    magnitude <= MAX_ABS_VALUE && (magnitude >= MIN_ABS_NONZERO || v == 0.0)
}

#[cold]
fn not_storable(v: f64, name: &str) -> (String, String) {
    if !v.is_finite() {
        return (name.to_string(), format!("{v} is not a finite number"));
    }
    if v.abs() > MAX_ABS_VALUE {
        return (name.to_string(), format!("{v:e} is beyond ±{MAX_ABS_VALUE:e}, the largest value gridwatch stores"));
    }
    (name.to_string(), format!("{v:e} is not 0 but smaller than {MIN_ABS_NONZERO:e}: ratios to it would overflow"))
}

fn non_negative(v: f64, field: usize) -> FieldResult<f64> {
    if v >= 0.0 { Ok(v) } else { Err((REQUIRED_COLUMNS[field].to_string(), format!("{v} is negative"))) }
}

fn positive(v: f64, field: usize) -> FieldResult<f64> {
    if v > 0.0 { Ok(v) } else { Err((REQUIRED_COLUMNS[field].to_string(), format!("{v} must be greater than 0"))) }
}

/// ISO-8601 / RFC 3339 with or without an offset; a timestamp without one is UTC.
/// Accepts `T` or a space between date and time, optional seconds and fractions.
pub fn parse_timestamp(text: &str) -> Option<DateTime<Utc>> {
    let t = text.trim();
    if let Some(ts) = parse_fast_utc(t.as_bytes()) {
        return Some(ts);
    }
    if let Ok(ts) = DateTime::parse_from_rfc3339(t) {
        return Some(ts.with_timezone(&Utc));
    }
    const WITH_OFFSET: [&str; 4] = ["%Y-%m-%dT%H:%M:%S%.f%#z", "%Y-%m-%d %H:%M:%S%.f%#z", "%Y-%m-%dT%H:%M%#z", "%Y-%m-%d %H:%M%#z"];
    for fmt in WITH_OFFSET {
        if let Ok(ts) = DateTime::parse_from_str(t, fmt) {
            return Some(ts.with_timezone(&Utc));
        }
    }
    const NAIVE: [&str; 4] = ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"];
    for fmt in NAIVE {
        if let Ok(ts) = NaiveDateTime::parse_from_str(t, fmt) {
            return Some(ts.and_utc());
        }
    }
    None
}

/// Fast path for the common `YYYY-MM-DDTHH:MM:SS` with an optional `Z` (no allocation,
/// no format interpretation); anything else goes to chrono's parsers.
fn parse_fast_utc(b: &[u8]) -> Option<DateTime<Utc>> {
    let b = match b.len() {
        19 => b,
        20 if b[19] == b'Z' || b[19] == b'z' => &b[..19],
        _ => return None,
    };
    if b[4] != b'-' || b[7] != b'-' || !(b[10] == b'T' || b[10] == b' ') || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        b[r].iter().try_fold(0u32, |acc, &c| c.is_ascii_digit().then(|| acc * 10 + (c - b'0') as u32))
    };
    let date = chrono::NaiveDate::from_ymd_opt(num(0..4)? as i32, num(5..7)?, num(8..10)?)?;
    let time = chrono::NaiveTime::from_hms_opt(num(11..13)?, num(14..16)?, num(17..19)?)?;
    Some(date.and_time(time).and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(input: &[u8]) -> Vec<Row> {
        open(input, "test.csv").expect("opens").collect()
    }

    /// Records as lists of fields' bytes.
    type Records = Vec<Vec<Vec<u8>>>;

    /// The records of `input` through the guard, chunked `chunk` bytes at a time: by the
    /// fast-path reader, and by the csv crate (the reference: it read every file before).
    fn records_both_ways(input: &[u8], chunk: usize) -> (Records, Records) {
        let guard = || RowGuard::new(std::io::BufReader::with_capacity(chunk, input), Format::Csv);
        let mut ours = Vec::new();
        let mut records = CsvRecords::new(guard());
        while let Some(record) = records.next_record().unwrap() {
            ours.push(record.iter().map(<[u8]>::to_vec).collect());
        }
        let mut reference = Vec::new();
        let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(guard());
        let mut record = csv::ByteRecord::new();
        while reader.read_byte_record(&mut record).unwrap() {
            reference.push(record.iter().map(<[u8]>::to_vec).collect());
        }
        (ours, reference)
    }

    #[test]
    fn byte_masks_equal_the_portable_ones_for_every_byte_at_every_place() {
        for byte in 0..=255u8 {
            for at in 0..16 {
                let mut chunk = [b','; 16];
                chunk[at] = byte;
                chunk[(at + 5) % 16] = b'\n';
                chunk[(at + 11) % 16] = b'"';
                assert_eq!(byte_masks(&chunk), byte_masks_portable(&chunk), "{chunk:?}");
            }
        }
    }

    proptest::proptest! {
        /// A CSV field's bytes land in the shard its text does (the JSON path reads text).
        #[test]
        fn a_name_read_as_bytes_lands_in_the_shard_its_text_does(
            name in proptest::collection::vec(
                proptest::sample::select(b" \t\n\x0b\x0c\r\x00\x7fsub_01".iter().copied().chain([0xa0, 0xc2, 0xe2, 0x80, 0x8b, 0xff]).collect::<Vec<u8>>()),
                0..12,
            ),
            count in 1usize..6,
        ) {
            let text = std::str::from_utf8(&name).ok();
            // The split of the versions before names were read as bytes: the name as `str`.
            let trimmed = text.map(str::trim).filter(|t| !t.is_empty());
            let earlier = trimmed.map_or(0, |t| {
                use std::hash::BuildHasher;
                (foldhash::fast::FixedState::with_seed(SHARD_SEED).hash_one(t) % count as u64) as usize
            });
            for index in 0..count {
                let shard = ShardFilter::new(index, count);
                proptest::prop_assert_eq!(shard.owns_bytes(Some(&name)), shard.owns(text), "{:?} shard {}/{}", name, index, count);
                proptest::prop_assert_eq!(shard.owns(text), earlier == index, "{:?} shard {}/{}", name, index, count);
            }
        }

        #[test]
        fn csv_records_match_the_csv_crate(
            input in proptest::collection::vec(proptest::sample::select(b"ab1 ,\"\n\r".to_vec()), 0..160),
            chunk in 1usize..40,
        ) {
            let (ours, reference) = records_both_ways(&input, chunk);
            proptest::prop_assert_eq!(ours, reference);
        }
    }

    #[test]
    fn csv_records_fast_and_slow_lines() {
        let input = b"h1,h2\n\n a , b \n\"q,1\",2\n\"multi\nline\",x\r\ny,\"\"\"\"\nlast,no-newline";
        for chunk in [1, 3, 7, 64, 1 << 16] {
            let (ours, reference) = records_both_ways(input, chunk);
            assert_eq!(ours, reference, "chunk {chunk}");
            assert_eq!(ours.len(), 6);
            assert_eq!(ours[2], vec![b"q,1".to_vec(), b"2".to_vec()]);
            assert_eq!(ours[3], vec![b"multi\nline".to_vec(), b"x".to_vec()]);
        }
    }

    #[test]
    fn timestamps_with_and_without_offsets() {
        let utc = |s| parse_timestamp(s).map(crate::model::format_ts);
        assert_eq!(utc("2025-01-14T00:15:00").as_deref(), Some("2025-01-14T00:15:00Z"));
        assert_eq!(utc("2025-01-14 00:15:00").as_deref(), Some("2025-01-14T00:15:00Z"));
        assert_eq!(utc("2025-01-14T00:15:00Z").as_deref(), Some("2025-01-14T00:15:00Z"));
        assert_eq!(utc("2025-01-14T02:15:00+02:00").as_deref(), Some("2025-01-14T00:15:00Z"));
        assert_eq!(utc("2025-01-14T02:15:00.500+0200").as_deref(), Some("2025-01-14T00:15:00Z"));
        assert_eq!(utc("2025-01-14T00:15").as_deref(), Some("2025-01-14T00:15:00Z"));
        assert_eq!(utc("2025-02-30T00:00:00"), None);
        assert_eq!(utc("yesterday"), None);
        assert_eq!(utc("2025-01-14T24:00:00"), None);
    }

    #[test]
    fn columns_in_any_order_extra_ignored() {
        let csv = b"wind_mw,extra,location,timestamp,load_mw,generation_mw,voltage_kv,frequency_hz,solar_mw\n\
                    8.7,x,substation_001,2025-01-14T00:00:00,125.5,130.2,13.8,60.01,15.3\n";
        let out = rows(csv);
        let Row::Ok(r, line) = &out[0] else { panic!("{out:?}") };
        assert_eq!(*line, 2);
        assert_eq!((r.location.as_str(), r.load_mw, r.wind_mw, r.power_factor), ("substation_001", 125.5, 8.7, None));
    }

    #[test]
    fn bad_field_names_line_and_field() {
        let csv = b"timestamp,location,load_mw,generation_mw,voltage_kv,frequency_hz,solar_mw,wind_mw\n\
                    2025-01-14T00:00:00,s1,125.5,130.2,13.8,60.01,15.3,8.7\n\
                    2025-01-14T00:15:00,s1,abc,130.2,13.8,60.01,15.3,8.7\n\
                    2025-01-14T00:30:00,s1,125.5,130.2,NaN,60.01,15.3,8.7\n";
        let out = rows(csv);
        assert!(matches!(out[0], Row::Ok(..)));
        let Row::Rejected(r) = &out[1] else { panic!() };
        assert_eq!((r.line, r.field.as_str()), (3, "load_mw"));
        let Row::Rejected(r) = &out[2] else { panic!() };
        assert_eq!((r.line, r.field.as_str()), (4, "voltage_kv"));
        assert!(r.reason.contains("finite"), "{}", r.reason);
    }

    #[test]
    fn missing_column_is_a_file_error() {
        let err = open(&b"timestamp,location,load_mw\n"[..], "f.csv").err().expect("fails");
        let msg = err.to_string();
        assert!(msg.contains("f.csv") && msg.contains("generation_mw") && msg.contains("wind_mw"), "{msg}");
    }

    #[test]
    fn json_lines_and_gzip() {
        let json = b"{\"timestamp\":\"2025-01-14T00:00:00Z\",\"location\":\"s1\",\"load_mw\":1,\"generation_mw\":\"2\",\"voltage_kv\":13.8,\"frequency_hz\":60,\"solar_mw\":0,\"wind_mw\":0,\"power_factor\":0.9}\n\n{\"timestamp\":\"bad\"}\n";
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, json).unwrap();
        let bytes = gz.finish().unwrap();
        let stream = open(&bytes[..], "x.jsonl.gz").unwrap();
        assert_eq!(stream.format_name(), "jsonl+gzip");
        let out: Vec<Row> = stream.collect();
        let Row::Ok(r, 1) = &out[0] else { panic!("{out:?}") };
        assert_eq!((r.generation_mw, r.power_factor), (2.0, Some(0.9)));
        let Row::Rejected(r) = &out[1] else { panic!() };
        assert_eq!((r.line, r.field.as_str()), (3, "timestamp"));
    }

    proptest::proptest! {
        /// The plain-decimal reader gives std's value bit for bit, or leaves the text to it.
        #[test]
        fn plain_decimals_read_as_std_reads_them(text in "[+-]?[0-9]{0,22}(\\.[0-9]{0,22})?|[-+.0-9eE]{0,8}") {
            if let Some(v) = parse_plain_decimal(text.as_bytes()) {
                let std: f64 = text.parse().expect("std reads what the fast path reads");
                proptest::prop_assert_eq!(v.to_bits(), std.to_bits(), "{}", text);
            }
        }
    }

    #[test]
    fn plain_decimals_cover_the_usual_forms() {
        for (text, value) in [("125.5", 125.5), ("-0.0", -0.0), ("+7", 7.0), ("5.", 5.0), (".25", 0.25), ("0.000000000000001", 1e-15), ("000123.4", 123.4), ("0000000000000000001", 1.0)] {
            assert_eq!(parse_plain_decimal(text.as_bytes()).map(f64::to_bits), Some(f64::to_bits(value)), "{text}");
        }
        for text in ["", ".", "-", "1e5", "1.2.3", "1 2", "1234567890123456", "0.0000000000000001", "nan", "0x10", "00000000000000000001", "18446744073709551617", "+-1", "1-"] {
            assert_eq!(parse_plain_decimal(text.as_bytes()), None, "{text}");
        }
    }

    #[test]
    fn empty_input_is_a_file_error() {
        assert!(matches!(open(&b""[..], "e.csv"), Err(FileError::Empty { .. })));
        assert!(matches!(open(&b"\n\n  \n"[..], "e.csv"), Err(FileError::Empty { .. })));
    }
}
