//! Items a read met but could not decode (written by an older or broken writer, or edited
//! by hand). One such item must not fail a whole view: the readers skip it and note it
//! here, and the dashboard shows the count and the last reason as a warning. A process-wide
//! tally, since readers of both backends share it and callers only need to notice growth.

use std::fmt::Display;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

static SKIPPED: AtomicU64 = AtomicU64::new(0);
static LAST: Mutex<String> = Mutex::new(String::new());

/// Notes one skipped item: what it was and why it could not be read.
pub fn note(what: &str, error: &dyn Display) {
    let text = format!("skipped an unreadable {what} item: {error}");
    *LAST.lock().unwrap_or_else(|p| p.into_inner()) = text;
    SKIPPED.fetch_add(1, Ordering::Relaxed);
}

/// Items skipped so far in this process (only grows) and the last one's description.
pub fn tally() -> (u64, String) {
    let last = LAST.lock().unwrap_or_else(|p| p.into_inner()).clone();
    (SKIPPED.load(Ordering::Relaxed), last)
}

/// The items that decode; each one that does not is noted and left out.
pub fn keep_readable<T, E: Display>(what: &str, decoded: impl IntoIterator<Item = Result<T, E>>) -> Vec<T> {
    decoded
        .into_iter()
        .filter_map(|item| match item {
            Ok(value) => Some(value),
            Err(e) => {
                note(what, &e);
                None
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_items_are_left_out_and_counted() {
        let before = tally().0;
        let items: Vec<Result<u32, String>> = vec![Ok(1), Err("invalid type: null, expected f64".into()), Ok(3)];
        assert_eq!(keep_readable("rollup", items), [1, 3]);
        let (after, last) = tally();
        assert!(after > before);
        assert!(last.contains("rollup") && last.contains("expected f64"), "{last}");
    }
}
