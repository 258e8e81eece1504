//! Streaming reader for uploaded files: CSV or JSON lines, optionally gzip-compressed,
//! from any `Read`. Rows come out one at a time; a bad row becomes a [`RejectedRow`]
//! naming its line and field, and reading goes on.

use crate::model::{Reading, RejectedRow};
use chrono::{DateTime, NaiveDateTime, Utc};
use std::io::{BufRead, BufReader, Read};

/// Columns every file must have (in any order; extra columns are ignored).
pub const REQUIRED_COLUMNS: [&str; 8] =
    ["timestamp", "location", "load_mw", "generation_mw", "voltage_kv", "frequency_hz", "solar_mw", "wind_mw"];
pub const OPTIONAL_COLUMNS: [&str; 1] = ["power_factor"];

/// JSON lines longer than this are rejected without being buffered whole.
pub const MAX_LINE_BYTES: usize = 1 << 20;
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
}

/// A decompressed input positioned at its first byte of data.
type Input<'a> = Box<dyn BufRead + Send + 'a>;

/// Detects compression and format, reads the header, and returns the row stream.
pub fn open<'a, R: Read + Send + 'a>(input: R, source_name: &str) -> Result<RowStream<'a>, FileError> {
    let (reader, format, gzip) = open_input(input, source_name)?;
    let inner = match format {
        Format::Csv => Inner::Csv(CsvRows::new(reader, source_name)?),
        Format::JsonLines => Inner::Json(JsonRows { reader, line: 0, buf: Vec::new(), failed: false }),
    };
    Ok(RowStream { inner, format, gzip, fatal: None })
}

/// Detects gzip and the format; returns the (decompressed) input not yet consumed.
fn open_input<'a, R: Read + Send + 'a>(input: R, source_name: &str) -> Result<(Input<'a>, Format, bool), FileError> {
    let io_err = |e: std::io::Error| FileError::Io { source_name: source_name.to_string(), message: e.to_string() };
    let mut buffered = BufReader::with_capacity(1 << 16, input);
    let gzip = buffered.fill_buf().map_err(io_err)?.starts_with(&[0x1f, 0x8b]);
    let mut reader: Input<'a> = if gzip {
        Box::new(BufReader::with_capacity(1 << 16, flate2::bufread::MultiGzDecoder::new(buffered)))
    } else {
        Box::new(buffered)
    };
    let format = sniff_format(&mut reader, source_name)?;
    Ok((reader, format, gzip))
}

/// Skips a UTF-8 byte-order mark and leading blank space, then looks at the first byte:
/// `{` means JSON lines, anything else CSV.
fn sniff_format(reader: &mut Input<'_>, source_name: &str) -> Result<Format, FileError> {
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
}

enum Inner<'a> {
    Csv(CsvRows<Input<'a>>),
    Json(JsonRows<'a>),
}

impl<'a> RowStream<'a> {
    pub fn format_name(&self) -> &'static str {
        self.format.name(self.gzip)
    }
}

impl Iterator for RowStream<'_> {
    type Item = Row;
    fn next(&mut self) -> Option<Row> {
        if self.fatal.is_some() {
            return None;
        }
        let next = match &mut self.inner {
            Inner::Csv(rows) => rows.next_row(),
            Inner::Json(rows) => rows.next_row(),
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

// ---------------------------------------------------------------- CSV

struct CsvRows<R: Read> {
    reader: csv::Reader<R>,
    layout: CsvLayout,
    record: csv::ByteRecord,
    /// Added to the reader's line numbers (a chunk of a file starts further down).
    line_offset: u64,
}

/// Where the columns the engine reads are in a file's records.
#[derive(Debug, Clone, Copy)]
struct CsvLayout {
    columns: [usize; 8],
    power_factor: Option<usize>,
}

/// The one CSV dialect: sequential and chunked reading must split fields alike.
fn csv_reader_builder() -> csv::ReaderBuilder {
    let mut builder = csv::ReaderBuilder::new();
    builder.flexible(true).trim(csv::Trim::All).buffer_capacity(1 << 16);
    builder
}

/// Reads the header row and finds the columns (missing required ones are a file error).
fn read_layout<R: Read>(reader: &mut csv::Reader<R>, source_name: &str) -> Result<CsvLayout, FileError> {
    let headers = reader
        .byte_headers()
        .map_err(|e| FileError::Io { source_name: source_name.to_string(), message: e.to_string() })?;
    let mut names = Vec::with_capacity(headers.len());
    for field in headers.iter() {
        let name =
            std::str::from_utf8(field).map_err(|_| FileError::HeaderNotUtf8 { source_name: source_name.to_string() })?;
        names.push(name.trim_start_matches('\u{feff}').trim().to_ascii_lowercase());
    }
    if names.iter().all(|n| n.is_empty()) {
        return Err(FileError::Empty { source_name: source_name.to_string() });
    }
    let find = |col: &str| names.iter().position(|n| n == col);
    let missing: Vec<String> = REQUIRED_COLUMNS.iter().filter(|c| find(c).is_none()).map(|c| c.to_string()).collect();
    if !missing.is_empty() {
        return Err(FileError::MissingColumns { source_name: source_name.to_string(), missing });
    }
    let mut columns = [0usize; 8];
    for (slot, col) in columns.iter_mut().zip(REQUIRED_COLUMNS) {
        *slot = find(col).expect("checked above");
    }
    Ok(CsvLayout { columns, power_factor: find(OPTIONAL_COLUMNS[0]) })
}

impl<R: Read> CsvRows<R> {
    fn new(reader: R, source_name: &str) -> Result<Self, FileError> {
        let mut reader = csv_reader_builder().from_reader(reader);
        let layout = read_layout(&mut reader, source_name)?;
        Ok(Self { reader, layout, record: csv::ByteRecord::new(), line_offset: 0 })
    }

    /// Rows of a chunk of whole records that starts on line `first_line` (no header).
    fn chunk(reader: R, layout: CsvLayout, first_line: u64) -> Self {
        let reader = csv_reader_builder().has_headers(false).from_reader(reader);
        Self { reader, layout, record: csv::ByteRecord::new(), line_offset: first_line - 1 }
    }

    fn next_row(&mut self) -> Result<Option<Row>, String> {
        match self.reader.read_byte_record(&mut self.record) {
            Ok(false) => Ok(None),
            Ok(true) => {
                let line = self.record.position().map_or(0, |p| p.line()) + self.line_offset;
                let fields = CsvFields {
                    record: &self.record,
                    columns: &self.layout.columns,
                    power_factor: self.layout.power_factor,
                };
                Ok(Some(match build_reading(&fields) {
                    Ok(reading) => Row::Ok(reading, line),
                    // The raw text is rebuilt only for rejected rows (it costs an allocation per field).
                    Err((field, reason)) => Row::Rejected(RejectedRow { line, field, reason, raw: raw_csv_text(&self.record) }),
                }))
            }
            Err(e) => Err(format!("CSV read error: {e}")),
        }
    }
}

fn raw_csv_text(record: &csv::ByteRecord) -> String {
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
    record: &'r csv::ByteRecord,
    columns: &'r [usize; 8],
    power_factor: Option<usize>,
}

impl FieldSource for CsvFields<'_> {
    fn text(&self, field: usize) -> FieldResult<Option<&str>> {
        self.text_at(Some(self.columns[field]), REQUIRED_COLUMNS[field])
    }
    fn number(&self, field: usize) -> FieldResult<Option<f64>> {
        self.text(field)?.map(|t| parse_number(t, REQUIRED_COLUMNS[field])).transpose()
    }
    fn power_factor(&self) -> FieldResult<Option<f64>> {
        self.text_at(self.power_factor, "power_factor")?.map(|t| parse_number(t, "power_factor")).transpose()
    }
}

impl CsvFields<'_> {
    fn text_at(&self, index: Option<usize>, name: &str) -> FieldResult<Option<&str>> {
        let Some(bytes) = index.and_then(|i| self.record.get(i)) else { return Ok(None) };
        let text = std::str::from_utf8(bytes).map_err(|_| (name.to_string(), "not valid UTF-8".to_string()))?;
        Ok(if text.is_empty() { None } else { Some(text) })
    }
}

// ---------------------------------------------------------------- reading on several threads

/// How a file is read: on how many threads, in chunks of about how many bytes.
#[derive(Debug, Clone, Copy)]
pub struct ReadOptions {
    /// 1 reads and parses on the calling thread. More: one thread reads (and decompresses)
    /// chunks of whole records, `threads` threads parse them, and the rows come back to the
    /// calling thread in file order, so what the caller sees does not depend on it.
    pub threads: usize,
    pub chunk_bytes: usize,
}

impl Default for ReadOptions {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self { threads: cores.min(4), chunk_bytes: 256 << 10 }
    }
}

/// How the rows of a file ended (after [`read_rows`] handed them all over).
#[derive(Debug)]
pub struct ReadEnd {
    pub format_name: &'static str,
    /// Reading stopped early (e.g. truncated gzip): the rows before it were handed over.
    pub fatal: Option<String>,
}

/// Opens `input` and hands every row to `on_row` in file order. CSV is parsed on
/// `opts.threads` threads; JSON lines on the calling thread. The outer error is the
/// first one `on_row` returned (reading stops there); the inner one a file that could
/// not be read at all.
pub fn read_rows<'a, R: Read + Send + 'a>(
    input: R,
    source_name: &str,
    opts: &ReadOptions,
    on_row: &mut dyn FnMut(Row) -> anyhow::Result<()>,
) -> anyhow::Result<Result<ReadEnd, FileError>> {
    let (reader, format, gzip) = match open_input(input, source_name) {
        Ok(opened) => opened,
        Err(e) => return Ok(Err(e)),
    };
    let format_name = format.name(gzip);
    if format == Format::Csv && opts.threads > 1 {
        return Ok(match read_csv_chunked(reader, source_name, opts, on_row)? {
            Ok(fatal) => Ok(ReadEnd { format_name, fatal }),
            Err(e) => Err(e),
        });
    }
    let inner = match format {
        Format::Csv => match CsvRows::new(reader, source_name) {
            Ok(rows) => Inner::Csv(rows),
            Err(e) => return Ok(Err(e)),
        },
        Format::JsonLines => Inner::Json(JsonRows { reader, line: 0, buf: Vec::new(), failed: false }),
    };
    let mut stream = RowStream { inner, format, gzip, fatal: None };
    for row in stream.by_ref() {
        on_row(row)?;
    }
    Ok(Ok(ReadEnd { format_name, fatal: stream.fatal.take() }))
}

/// Whole CSV records (cut after a record terminator) and the line the first one starts on.
struct Chunk {
    seq: u64,
    first_line: u64,
    bytes: Vec<u8>,
    /// The input failed after these bytes: reading stops here.
    fatal: Option<String>,
}

struct Parsed {
    seq: u64,
    rows: Vec<Row>,
    fatal: Option<String>,
}

/// Cuts a stream into chunks of whole CSV records.
struct Chunker<'a> {
    reader: Input<'a>,
    /// The start of a record that did not end in the previous chunk.
    carry: Vec<u8>,
    size: usize,
    failed: Option<std::io::Error>,
    done: bool,
}

/// A record longer than this does not grow a chunk further: it is cut (and its parts
/// rejected) rather than held in memory whole.
const MAX_CHUNK_BYTES: usize = 64 << 20;

impl Chunker<'_> {
    /// The next chunk; `None` at the end (then `failed` says whether the input failed).
    fn next_chunk(&mut self) -> Option<Vec<u8>> {
        if self.done {
            return None;
        }
        let mut buf = std::mem::take(&mut self.carry);
        let mut filled = buf.len();
        let mut target = self.size.max(filled + 1);
        loop {
            // Zeroed once per chunk, not per read (readers may hand over a few bytes at a time).
            buf.resize(target, 0);
            while filled < target {
                match self.reader.read(&mut buf[filled..]) {
                    Ok(0) => {
                        buf.truncate(filled);
                        self.done = true;
                        return (!buf.is_empty()).then_some(buf);
                    }
                    Ok(n) => filled += n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        // As the sequential reader does: the records before the failure count,
                        // the one it cut does not.
                        buf.truncate(last_record_end(&buf[..filled]).unwrap_or(0));
                        self.failed = Some(e);
                        self.done = true;
                        return Some(buf);
                    }
                }
            }
            match last_record_end(&buf) {
                Some(end) => {
                    self.carry = buf[end..].to_vec();
                    buf.truncate(end);
                    return Some(buf);
                }
                None if buf.len() >= MAX_CHUNK_BYTES => return Some(buf),
                None => target = buf.len() * 2,
            }
        }
    }
}

/// Where to cut `buf` after its last complete record, if one ends in it: right after that
/// record's first terminator byte, which is where the csv crate stops when it returns the
/// record (the `\n` of a `\r\n` and blank lines are read with the next record, and the next
/// record's line number is taken before them). The next chunk then starts in the state and
/// on the line number the sequential reader is in there.
fn last_record_end(buf: &[u8]) -> Option<usize> {
    let records_upto = if memchr::memchr(b'"', buf).is_none() {
        memchr::memrchr2(b'\n', b'\r', buf)? + 1
    } else {
        // Quoted fields may hold newlines: let csv-core, the parser the csv crate uses with
        // the same dialect, say where records end.
        let mut core = csv_core::ReaderBuilder::new().build();
        let (mut out, mut ends) = ([0u8; 4096], [0usize; 64]);
        let (mut pos, mut last) = (0, None);
        loop {
            let (result, read, _, _) = core.read_record(&buf[pos..], &mut out, &mut ends);
            pos += read;
            match result {
                csv_core::ReadRecordResult::Record => last = Some(pos),
                csv_core::ReadRecordResult::OutputFull | csv_core::ReadRecordResult::OutputEndsFull => {}
                csv_core::ReadRecordResult::InputEmpty | csv_core::ReadRecordResult::End => break,
            }
        }
        last?
    };
    // The last byte of a record (not a terminator) before there; the one after it ends it.
    let last_byte = buf[..records_upto].iter().rposition(|&b| b != b'\n' && b != b'\r')?;
    Some(last_byte + 2).filter(|&end| end <= records_upto)
}

/// Reads CSV in chunks on a reader thread, parses them on `opts.threads` threads and hands
/// the rows to `on_row` in file order. Returns the fatal reading error, if any.
fn read_csv_chunked(
    reader: Input<'_>,
    source_name: &str,
    opts: &ReadOptions,
    on_row: &mut dyn FnMut(Row) -> anyhow::Result<()>,
) -> anyhow::Result<Result<Option<String>, FileError>> {
    let mut chunker = Chunker { reader, carry: Vec::new(), size: opts.chunk_bytes.max(1), failed: None, done: false };
    let first = chunker.next_chunk().unwrap_or_default();
    let mut header = csv_reader_builder().from_reader(&first[..]);
    let layout = match read_layout(&mut header, source_name) {
        Ok(layout) => layout,
        // The input failed before the header was whole: the same error the sequential reader gives.
        Err(_) if first.is_empty() && chunker.failed.is_some() => {
            let e = csv::Error::from(chunker.failed.take().expect("checked"));
            return Ok(Err(FileError::Io { source_name: source_name.to_string(), message: e.to_string() }));
        }
        Err(e) => return Ok(Err(e)),
    };
    let records_at = header.position().byte() as usize;
    let first_line = header.position().line();
    drop(header);
    let first_records = first[records_at.min(first.len())..].to_vec();
    drop(first);

    std::thread::scope(|scope| {
        let (chunk_tx, chunk_rx) = std::sync::mpsc::sync_channel::<Chunk>(opts.threads);
        let (parsed_tx, parsed_rx) = std::sync::mpsc::sync_channel::<Parsed>(opts.threads);
        scope.spawn(move || {
            let mut chunk = Some(first_records);
            let (mut seq, mut line) = (0, first_line);
            loop {
                let bytes = chunk.take().or_else(|| chunker.next_chunk());
                let fatal = if bytes.is_none() || chunker.done {
                    chunker.failed.take().map(|e| format!("CSV read error: {}", csv::Error::from(e)))
                } else {
                    None
                };
                let last = bytes.is_none() || fatal.is_some();
                let bytes = bytes.unwrap_or_default();
                let lines = memchr::memchr_iter(b'\n', &bytes).count() as u64;
                if chunk_tx.send(Chunk { seq, first_line: line, bytes, fatal }).is_err() || last {
                    return;
                }
                seq += 1;
                line += lines;
            }
        });
        let chunk_rx = std::sync::Arc::new(std::sync::Mutex::new(chunk_rx));
        for _ in 0..opts.threads {
            let (chunk_rx, parsed_tx) = (chunk_rx.clone(), parsed_tx.clone());
            scope.spawn(move || {
                loop {
                    let next = chunk_rx.lock().map(|rx| rx.recv());
                    let Ok(Ok(chunk)) = next else { return };
                    let mut rows = CsvRows::chunk(&chunk.bytes[..], layout, chunk.first_line);
                    let mut parsed = Parsed { seq: chunk.seq, rows: Vec::with_capacity(chunk.bytes.len() / 64), fatal: None };
                    loop {
                        match rows.next_row() {
                            Ok(Some(row)) => parsed.rows.push(row),
                            Ok(None) => break,
                            Err(message) => {
                                parsed.fatal = Some(message);
                                break;
                            }
                        }
                    }
                    parsed.fatal = parsed.fatal.or(chunk.fatal);
                    if parsed_tx.send(parsed).is_err() {
                        return;
                    }
                }
            });
        }
        drop(parsed_tx);
        // Chunks come back in any order; hand them on in file order.
        let mut waiting = std::collections::BTreeMap::new();
        let mut next = 0;
        for parsed in parsed_rx.iter() {
            waiting.insert(parsed.seq, parsed);
            while let Some(parsed) = waiting.remove(&next) {
                next += 1;
                for row in parsed.rows {
                    on_row(row)?;
                }
                if parsed.fatal.is_some() {
                    return Ok(Ok(parsed.fatal));
                }
            }
        }
        Ok(Ok(None))
    })
}

// ---------------------------------------------------------------- JSON lines

struct JsonRows<'a> {
    reader: Input<'a>,
    line: u64,
    buf: Vec<u8>,
    failed: bool,
}

impl JsonRows<'_> {
    fn next_row(&mut self) -> Result<Option<Row>, String> {
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
            if too_long {
                return Ok(Some(Row::Rejected(RejectedRow {
                    line,
                    field: "row".into(),
                    reason: format!("line is longer than {MAX_LINE_BYTES} bytes"),
                    raw: String::from_utf8_lossy(&self.buf[..self.buf.len().min(200)]).into_owned() + "…",
                })));
            }
            let text = trim_ascii(&self.buf);
            if text.is_empty() {
                continue;
            }
            let raw = String::from_utf8_lossy(text).into_owned();
            let value: serde_json::Value = match serde_json::from_slice(text) {
                Ok(v) => v,
                Err(e) => {
                    return Ok(Some(Row::Rejected(RejectedRow {
                        line,
                        field: "row".into(),
                        reason: format!("not valid JSON: {e}"),
                        raw,
                    })));
                }
            };
            let Some(object) = value.as_object() else {
                return Ok(Some(Row::Rejected(RejectedRow {
                    line,
                    field: "row".into(),
                    reason: "expected a JSON object".into(),
                    raw,
                })));
            };
            return Ok(Some(match build_reading(&JsonFields { object }) {
                Ok(reading) => Row::Ok(reading, line),
                Err((field, reason)) => Row::Rejected(RejectedRow { line, field, reason, raw }),
            }));
        }
    }
}

fn trim_ascii(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(bytes.len());
    let end = bytes.iter().rposition(|b| !b.is_ascii_whitespace()).map_or(start, |e| e + 1);
    &bytes[start..end.max(start)]
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
        let (chunk, done) = match memchr_newline(available) {
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

fn memchr_newline(bytes: &[u8]) -> Option<usize> {
    bytes.iter().position(|&b| b == b'\n')
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
            Some(serde_json::Value::Number(n)) => {
                n.as_f64().map(Some).ok_or_else(|| (name.to_string(), format!("{n} is not a finite number")))
            }
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

fn build_reading(fields: &dyn FieldSource) -> FieldResult<Reading> {
    let ts_text = required(fields.text(TIMESTAMP)?, TIMESTAMP)?;
    let timestamp = parse_timestamp(ts_text)
        .ok_or_else(|| ("timestamp".to_string(), format!("cannot parse {:?} as an ISO-8601 timestamp", truncate(ts_text))))?;
    let location = required(fields.text(LOCATION)?, LOCATION)?.trim();
    validate_location(location)?;
    let number = |field: usize| -> FieldResult<f64> { required(fields.number(field)?, field) };
    let reading = Reading {
        timestamp,
        location: location.to_string(),
        load_mw: non_negative(number(LOAD)?, LOAD)?,
        generation_mw: non_negative(number(GENERATION)?, GENERATION)?,
        voltage_kv: positive(number(VOLTAGE)?, VOLTAGE)?,
        frequency_hz: positive(number(FREQUENCY)?, FREQUENCY)?,
        solar_mw: non_negative(number(SOLAR)?, SOLAR)?,
        wind_mw: non_negative(number(WIND)?, WIND)?,
        power_factor: match fields.power_factor()? {
            Some(pf) if (0.0..=1.0).contains(&pf) => Some(pf),
            Some(pf) => return Err(("power_factor".into(), format!("{pf} is outside 0..=1"))),
            None => None,
        },
    };
    Ok(reading)
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
    if location.chars().count() > MAX_LOCATION_LEN {
        return bad("longer than 128 characters");
    }
    if location.chars().any(char::is_control) {
        return bad("contains control characters");
    }
    if location.contains('#') {
        // `#` separates the parts of store keys (alert ids, index items).
        return bad("contains '#', which is reserved");
    }
    Ok(())
}

fn parse_number(text: &str, name: &str) -> FieldResult<f64> {
    let t = text.trim();
    let v: f64 = t.parse().map_err(|_| (name.to_string(), format!("cannot parse {:?} as a number", truncate(t))))?;
    if v.is_finite() { Ok(v) } else { Err((name.to_string(), format!("{t} is not a finite number"))) }
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
    if let Some(ts) = parse_fast_utc(t) {
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
fn parse_fast_utc(t: &str) -> Option<DateTime<Utc>> {
    let b = t.as_bytes();
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

    #[test]
    fn empty_input_is_a_file_error() {
        assert!(matches!(open(&b""[..], "e.csv"), Err(FileError::Empty { .. })));
        assert!(matches!(open(&b"\n\n  \n"[..], "e.csv"), Err(FileError::Empty { .. })));
    }
}
