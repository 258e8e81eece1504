//! The bounds one processing run respects (the Lambda's): a deadline, with time kept in
//! reserve for the steps after the stream, and a ceiling on the process's resident memory.
//!
//! The recipe checks them while the object streams (on every read of the raw object and on
//! every rollup batch) and once more before its first step that announces anything (index,
//! alarm claims, notifications, results). Past that point the run is not stopped: the reserve
//! is the time those steps are given. A run stopped by its budget has written only rollups and
//! the Athena copy — content-keyed, rewritten identically — so the retry of the event starts
//! again from the raw object and ends in the state of a clean run.

use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Raw bytes read between two looks at the resident memory (a read of `/proc`).
const MEMORY_CHECK_BYTES: u64 = 1 << 20;

/// The bounds of one run. The default has none (the local backend's runs).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Budget {
    /// When the run must be over (the invocation's deadline).
    pub deadline: Option<Instant>,
    /// Time kept before the deadline for the steps after the stream.
    pub reserve: Duration,
    /// The process's resident memory may not reach this many bytes.
    pub memory_limit_bytes: Option<u64>,
}

/// Why a run stopped. Nothing announcing the object was written; retrying the event is clean.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BudgetExceeded {
    #[error(
        "stopped {} s before the invocation deadline (the time kept for storing results) after reading {read_bytes} bytes; \
         nothing was announced, the retry starts again",
        reserve.as_secs_f64()
    )]
    Deadline { read_bytes: u64, reserve: Duration },
    #[error(
        "stopped: resident memory {} MiB reached the ceiling of {} MiB after reading {read_bytes} bytes; \
         nothing was announced (split the object into smaller files)",
        resident_bytes >> 20,
        limit_bytes >> 20
    )]
    Memory {
        read_bytes: u64,
        resident_bytes: u64,
        limit_bytes: u64,
    },
}

/// A budget being spent: shared by the reader of the raw object and the recipe's sink.
/// The first bound reached is remembered, so every later check fails the same way.
#[derive(Debug)]
pub struct BudgetGuard {
    budget: Budget,
    read_bytes: AtomicU64,
    next_memory_check: AtomicU64,
    stopped: Mutex<Option<BudgetExceeded>>,
}

impl BudgetGuard {
    pub fn new(budget: Budget) -> Arc<Self> {
        Arc::new(Self {
            budget,
            read_bytes: AtomicU64::new(0),
            next_memory_check: AtomicU64::new(0),
            stopped: Mutex::new(None),
        })
    }

    /// Why the run stopped, if it did.
    pub fn stopped(&self) -> Option<BudgetExceeded> {
        self.stopped
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn stop(&self, why: BudgetExceeded) -> BudgetExceeded {
        self.stopped
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_or_insert(why)
            .clone()
    }

    /// The deadline (less the reserve) and the memory ceiling.
    pub fn check(&self) -> Result<(), BudgetExceeded> {
        self.check_time()?;
        self.check_memory()
    }

    /// Whether the time left is still more than the reserve.
    pub fn check_time(&self) -> Result<(), BudgetExceeded> {
        if let Some(why) = self.stopped() {
            return Err(why);
        }
        match self.budget.deadline {
            Some(deadline) if Instant::now() + self.budget.reserve >= deadline => {
                Err(self.stop(BudgetExceeded::Deadline {
                    read_bytes: self.read_bytes.load(Ordering::Relaxed),
                    reserve: self.budget.reserve,
                }))
            }
            _ => Ok(()),
        }
    }

    fn check_memory(&self) -> Result<(), BudgetExceeded> {
        let Some(limit) = self.budget.memory_limit_bytes else {
            return Ok(());
        };
        let Some(resident) = resident_bytes() else {
            return Ok(());
        };
        if resident >= limit {
            return Err(self.stop(BudgetExceeded::Memory {
                read_bytes: self.read_bytes.load(Ordering::Relaxed),
                resident_bytes: resident,
                limit_bytes: limit,
            }));
        }
        Ok(())
    }

    /// Called for every read of the raw object: the time on each, the memory every MiB.
    fn on_read(&self) -> Result<(), BudgetExceeded> {
        self.check_time()?;
        let read = self.read_bytes.load(Ordering::Relaxed);
        if read >= self.next_memory_check.load(Ordering::Relaxed) {
            self.next_memory_check
                .store(read + MEMORY_CHECK_BYTES, Ordering::Relaxed);
            self.check_memory()?;
        }
        Ok(())
    }
}

/// The raw object's reader, failing its next read once the budget is spent (the recipe then
/// sees the stop in [`BudgetGuard::stopped`], not as a damaged file).
pub struct BudgetedReader<R> {
    inner: R,
    guard: Arc<BudgetGuard>,
}

impl<R> BudgetedReader<R> {
    pub fn new(inner: R, guard: Arc<BudgetGuard>) -> Self {
        Self { inner, guard }
    }
}

impl<R: Read> Read for BudgetedReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.guard.on_read().map_err(std::io::Error::other)?;
        let n = self.inner.read(buf)?;
        self.guard.read_bytes.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// The process's resident set size (`VmRSS` of `/proc/self/status`); `None` where there is
/// no such file (not Linux), and then the memory ceiling is not enforced.
pub fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line
        .trim_start_matches("VmRSS:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(reader: &mut impl Read) -> std::io::Result<usize> {
        let mut buf = [0u8; 4096];
        let mut total = 0;
        loop {
            match reader.read(&mut buf)? {
                0 => return Ok(total),
                n => total += n,
            }
        }
    }

    #[test]
    fn no_bounds_never_stop() {
        let guard = BudgetGuard::new(Budget::default());
        let data = vec![b'x'; 3 << 20];
        assert_eq!(
            read_all(&mut BudgetedReader::new(&data[..], guard.clone())).unwrap(),
            data.len()
        );
        assert_eq!(guard.check(), Ok(()));
        assert_eq!(guard.stopped(), None);
    }

    #[test]
    fn a_deadline_inside_the_reserve_stops_the_first_read_and_stays_stopped() {
        let reserve = Duration::from_secs(5);
        let guard = BudgetGuard::new(Budget {
            deadline: Some(Instant::now() + Duration::from_secs(1)),
            reserve,
            memory_limit_bytes: None,
        });
        let err = read_all(&mut BudgetedReader::new(&b"abc"[..], guard.clone())).unwrap_err();
        assert!(
            err.to_string().contains("before the invocation deadline"),
            "{err}"
        );
        assert_eq!(
            guard.stopped(),
            Some(BudgetExceeded::Deadline {
                read_bytes: 0,
                reserve
            })
        );
        assert!(guard.check_time().is_err(), "sticky");
        let later = BudgetGuard::new(Budget {
            deadline: Some(Instant::now() + Duration::from_secs(60)),
            reserve,
            memory_limit_bytes: None,
        });
        assert_eq!(later.check(), Ok(()));
    }

    #[test]
    fn the_memory_ceiling_is_checked_every_mebibyte_read() {
        let Some(resident) = resident_bytes() else {
            return;
        };
        assert!(resident > 0);
        // A ceiling this process is already above: the first read stops.
        let guard = BudgetGuard::new(Budget {
            memory_limit_bytes: Some(1 << 20),
            ..Budget::default()
        });
        let data = vec![b'x'; 3 << 20];
        let err = read_all(&mut BudgetedReader::new(&data[..], guard.clone())).unwrap_err();
        assert!(err.to_string().contains("ceiling of 1 MiB"), "{err}");
        assert!(matches!(
            guard.stopped(),
            Some(BudgetExceeded::Memory {
                read_bytes: 0,
                limit_bytes: 1048576,
                ..
            })
        ));
        // A ceiling far above: everything is read.
        let guard = BudgetGuard::new(Budget {
            memory_limit_bytes: Some(u64::MAX),
            ..Budget::default()
        });
        assert_eq!(
            read_all(&mut BudgetedReader::new(&data[..], guard.clone())).unwrap(),
            data.len()
        );
    }
}
