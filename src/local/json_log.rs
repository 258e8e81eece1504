//! The local log group: one JSON object per line, appended by the pipeline and
//! followed by the dashboard from a byte offset (like CloudWatch's `nextToken`).

use crate::backend::{LogLevel, LogLine, LogSource};
use async_trait::async_trait;
use chrono::Utc;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Log lines are cut to this many bytes when written and when read: one huge line (appended
/// by anything) must not grow the dashboard's memory.
pub const MAX_LOG_LINE_BYTES: usize = 16 << 10;

/// Appends structured log lines (shared by all writers of one process).
pub struct JsonLog {
    path: PathBuf,
    file: Mutex<Option<File>>,
}

impl JsonLog {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into(), file: Mutex::new(None) }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes one line; logging never fails the caller (a broken log is reported on stderr once).
    pub fn write(&self, level: LogLevel, message: impl Into<String>) {
        let line = LogLine { timestamp: Utc::now(), level, message: cut_message(message.into()) };
        let Ok(mut json) = serde_json::to_string(&line) else { return };
        json.push('\n');
        let mut guard = self.file.lock().unwrap_or_else(|p| p.into_inner());
        if guard.is_none() {
            if let Some(dir) = self.path.parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            *guard = OpenOptions::new().create(true).append(true).open(&self.path).ok();
        }
        if let Some(f) = guard.as_mut()
            && f.write_all(json.as_bytes()).is_err()
        {
            *guard = None;
        }
    }

    pub fn info(&self, message: impl Into<String>) {
        self.write(LogLevel::Info, message)
    }
    pub fn warn(&self, message: impl Into<String>) {
        self.write(LogLevel::Warn, message)
    }
    pub fn error(&self, message: impl Into<String>) {
        self.write(LogLevel::Error, message)
    }
}

/// A message short enough that its JSON line stays within [`MAX_LOG_LINE_BYTES`]
/// (escaping can at most sextuple a byte, `\u0000`; the rest is dropped with a note).
fn cut_message(mut message: String) -> String {
    const ROOM: usize = MAX_LOG_LINE_BYTES / 6 - 64;
    if message.len() <= ROOM {
        return message;
    }
    let total = message.len();
    let mut end = ROOM;
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    message.truncate(end);
    message.push_str(&format!("… ({total} bytes, cut)"));
    message
}

/// Follows the log file from where the last poll stopped.
pub struct LogTail {
    path: PathBuf,
    offset: u64,
    /// Lines returned per poll at most (a huge backlog arrives over several polls).
    max_lines: usize,
}

impl LogTail {
    /// Starts `backlog_bytes` before the end, so the pane opens with recent history.
    pub fn new(path: impl Into<PathBuf>, backlog_bytes: u64) -> Self {
        let path = path.into();
        let len = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        Self { path, offset: len.saturating_sub(backlog_bytes), max_lines: 2000 }
    }

    pub fn read_new(&mut self) -> std::io::Result<Vec<LogLine>> {
        let file = match File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let len = file.metadata()?.len();
        if len < self.offset {
            // Truncated or rotated: start over.
            self.offset = 0;
        }
        let mut reader = BufReader::new(file);
        reader.seek(SeekFrom::Start(self.offset))?;
        let skip_partial_first = self.offset > 0 && !self.at_line_start()?;
        let mut out = Vec::new();
        let mut buf = Vec::new();
        let mut first = true;
        while out.len() < self.max_lines {
            let line = read_line_capped(&mut reader, &mut buf, MAX_LOG_LINE_BYTES)?;
            if !line.complete {
                break; // a line still being written is read next time
            }
            self.offset += line.consumed;
            if std::mem::take(&mut first) && skip_partial_first {
                continue;
            }
            let mut parsed = parse_line(&buf);
            if line.cut {
                parsed.message = format!("{}… ({} bytes, cut)", parsed.message.trim_end(), line.consumed);
            }
            out.push(parsed);
        }
        Ok(out)
    }

    fn at_line_start(&self) -> std::io::Result<bool> {
        let mut f = File::open(&self.path)?;
        f.seek(SeekFrom::Start(self.offset - 1))?;
        let mut byte = [0u8];
        std::io::Read::read_exact(&mut f, &mut byte)?;
        Ok(byte[0] == b'\n')
    }
}

/// One line read by [`read_line_capped`].
struct CappedLine {
    /// Bytes of the file the line took, newline included.
    consumed: u64,
    /// It ended with a newline (else the file ended first).
    complete: bool,
    /// Longer than the cap: `buf` holds its start only.
    cut: bool,
}

/// Reads up to the next newline keeping at most `cap` bytes in `buf`; the rest is read past
/// without being held.
fn read_line_capped(reader: &mut impl BufRead, buf: &mut Vec<u8>, cap: usize) -> std::io::Result<CappedLine> {
    buf.clear();
    let mut line = CappedLine { consumed: 0, complete: false, cut: false };
    loop {
        let available = reader.fill_buf()?;
        if available.is_empty() {
            return Ok(line);
        }
        let (chunk, newline) = match available.iter().position(|&b| b == b'\n') {
            Some(i) => (&available[..=i], true),
            None => (available, false),
        };
        let room = cap.saturating_sub(buf.len());
        line.cut |= chunk.len() > room && !(newline && chunk.len() == room + 1);
        buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
        let n = chunk.len();
        reader.consume(n);
        line.consumed += n as u64;
        if newline {
            line.complete = true;
            return Ok(line);
        }
    }
}

/// A line that is not one of ours is still shown (as text), never dropped.
fn parse_line(bytes: &[u8]) -> LogLine {
    serde_json::from_slice(bytes).unwrap_or_else(|_| LogLine {
        timestamp: Utc::now(),
        level: LogLevel::Info,
        message: String::from_utf8_lossy(bytes).trim_end().to_string(),
    })
}

#[async_trait]
impl LogSource for LogTail {
    async fn poll(&mut self) -> crate::store::StoreResult<Vec<LogLine>> {
        self.read_new().map_err(|e| crate::store::StoreError::other(format!("cannot read log {}: {e}", self.path.display())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_follows_appends_and_truncation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("logs/x.jsonl");
        let log = JsonLog::new(&path);
        let mut tail = LogTail::new(&path, 0);
        assert!(tail.read_new().unwrap().is_empty());
        log.info("one");
        log.warn("two");
        let lines = tail.read_new().unwrap();
        assert_eq!(lines.iter().map(|l| l.message.as_str()).collect::<Vec<_>>(), ["one", "two"]);
        assert_eq!(lines[1].level, LogLevel::Warn);
        assert!(tail.read_new().unwrap().is_empty());
        // A foreign, partial line is kept for the next poll.
        std::fs::OpenOptions::new().append(true).open(&path).unwrap().write_all(b"plain text\npart").unwrap();
        assert_eq!(tail.read_new().unwrap()[0].message, "plain text");
        std::fs::write(&path, b"").unwrap();
        log.info("after truncation");
        let lines = tail.read_new().unwrap();
        assert_eq!(lines.last().unwrap().message, "after truncation");
    }

    #[test]
    fn huge_lines_are_cut_on_write_and_on_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.jsonl");
        let log = JsonLog::new(&path);
        log.info("\u{1}".repeat(1 << 20));
        let written = std::fs::read_to_string(&path).unwrap();
        assert!(written.len() <= MAX_LOG_LINE_BYTES, "{} bytes written", written.len());
        // A foreign 8 MB line, then a normal one.
        let mut f = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(&vec![b'x'; 8 << 20]).unwrap();
        f.write_all(b"\n").unwrap();
        log.info("after");
        let mut tail = LogTail::new(&path, u64::MAX);
        let lines = tail.read_new().unwrap();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].message.ends_with("cut)"), "{}", &lines[0].message[lines[0].message.len() - 40..]);
        assert!(lines[1].message.len() < MAX_LOG_LINE_BYTES + 100, "{} bytes kept", lines[1].message.len());
        assert!(lines[1].message.ends_with(&format!("({} bytes, cut)", (8 << 20) + 1)), "{}", &lines[1].message[lines[1].message.len() - 40..]);
        assert_eq!(lines[2].message, "after");
        assert!(tail.read_new().unwrap().is_empty());
    }
}
