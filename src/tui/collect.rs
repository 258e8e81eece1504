//! Data collection: tokio tasks that talk to the store and the log and send [`Msg`]s to
//! the UI loop. Nothing here touches the terminal or the app state.

use super::app::Interest;
use super::cursor;
use super::msg::Msg;
use crate::backend::{GridStore, LogSource, SharedClock, SharedStore};
use chrono::{DateTime, Duration, Utc};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::{Notify, mpsc, watch};

/// What the poller has fetched for one substation: every rollup with `from <= t < to`
/// that existed when its newest reading was `last_reading` is held by the UI.
#[derive(Debug, Clone, Copy)]
struct Fetched {
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    /// Newest hour fetched; a later query starts there (that hour may have grown).
    newest_hour: DateTime<Utc>,
    /// `last_reading` when we last looked: newer data can only lie after it.
    last_reading: DateTime<Utc>,
}

/// Rollups held per substation beyond the window on either side, in windows; more
/// than this is dropped (and the UI told so) as one browses through history.
const KEEP_WINDOWS: i32 = 1;

/// Incremental store polling. Each poll asks only for what changed since the last one
/// or what came on screen: rollups of the window for substations that got new data or
/// became visible, the part of a moved or zoomed window not yet held, alerts since the
/// previous newest reading of substations that got new data, forecasts when their
/// substation got new data. Every query is bounded by location and time (no Scan).
#[derive(Debug)]
pub struct Poller {
    data_interval: Duration,
    rollups: HashMap<String, Fetched>,
    last_readings: HashMap<String, DateTime<Utc>>,
    /// Location -> its `last_reading` when the forecast was fetched.
    forecasts: HashMap<String, DateTime<Utc>>,
    /// Alerts are held from here on.
    alerts_from: Option<DateTime<Utc>>,
    /// Set by [`Poller::invalidate`]: re-fetch recent data even if nothing seems new.
    forced: bool,
    /// Unreadable items the store readers had skipped at the last poll.
    unreadable_seen: u64,
}

impl Poller {
    pub fn new(data_interval: Duration) -> Self {
        Self {
            data_interval,
            rollups: HashMap::new(),
            last_readings: HashMap::new(),
            forecasts: HashMap::new(),
            alerts_from: None,
            forced: false,
            unreadable_seen: crate::store::unreadable::tally().0,
        }
    }

    /// After a reprocess: results may have changed without newer readings.
    pub fn invalidate(&mut self) {
        self.forced = true;
    }

    /// One poll. Messages gathered before a failure are returned with the error, so
    /// whatever did arrive is still shown.
    pub async fn poll(
        &mut self,
        store: &dyn GridStore,
        now: DateTime<Utc>,
        interest: &Interest,
    ) -> (Vec<Msg>, Option<crate::store::StoreError>) {
        let mut out = Vec::new();
        let err = self.poll_into(store, now, interest, &mut out).await.err();
        // Items the readers skipped (the rest of the view is shown): a warning in the log pane.
        let (skipped, last) = crate::store::unreadable::tally();
        if skipped > self.unreadable_seen {
            let message = format!("{} unreadable store item(s) skipped; last: {last}", skipped - self.unreadable_seen);
            self.unreadable_seen = skipped;
            out.push(Msg::Logs(vec![crate::backend::LogLine { timestamp: now, level: crate::backend::LogLevel::Warn, message }]));
        }
        (out, err)
    }

    async fn poll_into(
        &mut self,
        store: &dyn GridStore,
        now: DateTime<Utc>,
        interest: &Interest,
        out: &mut Vec<Msg>,
    ) -> Result<(), crate::store::StoreError> {
        let forced = std::mem::take(&mut self.forced);
        let subs = store.substations().await?;
        let current: HashMap<String, DateTime<Utc>> =
            subs.iter().map(|s| (s.location.clone(), s.last_reading)).collect();
        out.push(Msg::Substations(subs));
        // Before the alerts, so an alarm acknowledged elsewhere is never shown unacknowledged.
        out.push(Msg::OperatorStates(store.operator_states().await?));

        let span = interest.span.max(Duration::hours(1));
        // The same rule as the UI's cursor: follow now, or the newest data when older.
        let end = match interest.end {
            Some(t) => t,
            None => {
                let newest = current.values().max().copied();
                cursor::live_end(interest.zoom, now, newest).0
            }
        };
        // One hour of margin: the oldest hour bucket starts before the window.
        let window_from = end - span - Duration::hours(1);
        for loc in &interest.locations {
            let Some(&last) = current.get(loc) else { continue };
            // Following: up to past the newest reading; pinned: just past the window's end.
            let window_to = match interest.end {
                None => now.max(last) + Duration::hours(2),
                Some(t) => t + Duration::hours(1),
            };
            self.fetch_rollups(store, loc, last, window_from, window_to, span, forced, out).await?;
        }

        for loc in &interest.forecasts {
            let Some(&last) = current.get(loc) else { continue };
            if forced || self.forecasts.get(loc) != Some(&last) {
                let points = store.forecast(loc).await?;
                self.forecasts.insert(loc.clone(), last);
                out.push(Msg::Forecast { location: loc.clone(), points });
            }
        }

        // Alerts: everything from the window's start the first time (or when the window
        // reaches further back); afterwards only episodes that can have changed, i.e.
        // those still running at the previous newest reading of a substation that got
        // new data.
        let since = match self.alerts_from {
            Some(from) if from <= window_from && !forced => current
                .iter()
                .filter_map(|(loc, last)| match self.last_readings.get(loc) {
                    Some(prev) if prev >= last => None,
                    Some(prev) => Some(*prev - self.data_interval),
                    None => Some(window_from),
                })
                .min(),
            // First poll, a window further back, or a forced refresh.
            _ => Some(window_from),
        };
        if let Some(since) = since {
            let alerts = store.alerts(since).await?;
            self.alerts_from = Some(self.alerts_from.map_or(window_from, |f| f.min(window_from)));
            out.push(Msg::Alerts(alerts));
        }
        self.last_readings = current;
        Ok(())
    }

    /// Brings one substation's held rollups to cover `from..to`, querying only what is
    /// missing or may have changed.
    #[allow(clippy::too_many_arguments)]
    async fn fetch_rollups(
        &mut self,
        store: &dyn GridStore,
        loc: &str,
        last: DateTime<Utc>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        span: Duration,
        forced: bool,
        out: &mut Vec<Msg>,
    ) -> Result<(), crate::store::StoreError> {
        let mut f = match self.rollups.get(loc).copied() {
            // Disjoint from what is held (a jump): start over with just the window.
            Some(f) if to >= f.from && from <= f.to => f,
            previous => {
                let rs = store.rollups(loc, from, to).await?;
                let newest_hour = rs.last().map_or(from, |r| r.timestamp);
                if previous.is_some() {
                    out.push(Msg::HistoryKept { location: loc.to_string(), from, to });
                }
                out.push(Msg::Rollups { location: loc.to_string(), rollups: rs });
                self.rollups.insert(loc.to_string(), Fetched { from, to, newest_hour, last_reading: last });
                return Ok(());
            }
        };
        if from < f.from {
            // Zoomed out or moved back: only the older part.
            let rs = store.rollups(loc, from, f.from).await?;
            f.from = from;
            out.push(Msg::Rollups { location: loc.to_string(), rollups: rs });
        }
        let mut fetch_from: Option<DateTime<Utc>> = None;
        // New data (after the newest reading we knew) inside what we hold.
        if (forced || last > f.last_reading) && f.to > f.last_reading {
            fetch_from = Some(f.newest_hour.max(f.from));
        }
        // The window reaches past what we hold, into times that have data.
        if to > f.to && f.to <= last {
            fetch_from = Some(fetch_from.map_or(f.to, |s| s.min(f.to)));
        }
        let hi = to.max(f.to);
        if let Some(start) = fetch_from {
            let rs = store.rollups(loc, start, hi).await?;
            if let Some(r) = rs.last() {
                f.newest_hour = f.newest_hour.max(r.timestamp);
            }
            out.push(Msg::Rollups { location: loc.to_string(), rollups: rs });
        }
        f.to = hi;
        f.last_reading = last;
        // Browsing far: keep the window and one window either side, drop the rest.
        let keep = span * KEEP_WINDOWS;
        if f.from < from - keep || f.to > to + keep {
            f.from = f.from.max(from - keep);
            f.to = f.to.min(to + keep);
            f.newest_hour = f.newest_hour.min(f.to);
            out.push(Msg::HistoryKept { location: loc.to_string(), from: f.from, to: f.to });
        }
        self.rollups.insert(loc.to_string(), f);
        Ok(())
    }
}

/// Retry delay after `attempt` consecutive failures: [`crate::retry::dashboard`] (1 s, 2 s,
/// 4 s ... capped at 30 s), never shorter than the poll interval.
pub fn backoff(attempt: u32, poll_interval: std::time::Duration) -> std::time::Duration {
    let nth = attempt.saturating_sub(1) as usize;
    crate::retry::dashboard().nth(nth).unwrap_or_default().max(poll_interval)
}

/// An attempt number whose back-off is the policy's cap (1, 2, 4, 8, 16, 30 s: the sixth).
const AT_THE_CAP: u32 = 16;

/// Polls the store until the UI goes away.
pub async fn store_poller(
    store: SharedStore,
    clock: SharedClock,
    tx: mpsc::Sender<Msg>,
    mut interest: watch::Receiver<Interest>,
    refresh: Arc<Notify>,
    poll_interval: std::time::Duration,
    data_interval: Duration,
) {
    let mut poller = Poller::new(data_interval);
    let mut attempt = 0u32;
    loop {
        let want = interest.borrow_and_update().clone();
        let (msgs, err) = poller.poll(&*store, clock.now(), &want).await;
        for m in msgs {
            if tx.send(m).await.is_err() {
                return;
            }
        }
        let delay = match err {
            None => {
                if attempt > 0 && tx.send(Msg::StoreOk).await.is_err() {
                    return;
                }
                attempt = 0;
                poll_interval
            }
            Some(e) => {
                attempt += 1;
                // Faults that may pass (network, throttling) back off and retry; the others
                // (not found, refused, invalid) will not fix themselves: wait the longest.
                let retry_in = backoff(if e.is_retryable() { attempt } else { AT_THE_CAP }, poll_interval);
                let error = format!("{} ({})", e, e.kind());
                if tx.send(Msg::StoreError { error, retry_in, attempt }).await.is_err() {
                    return;
                }
                retry_in
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = refresh.notified() => poller.invalidate(),
            // A new selection or range is fetched at once, unless the store is failing.
            changed = interest.changed(), if attempt == 0 => {
                if changed.is_err() {
                    return;
                }
            }
        }
    }
}

/// Follows the log until the UI goes away.
pub async fn log_tailer(mut logs: Box<dyn LogSource>, tx: mpsc::Sender<Msg>, interval: std::time::Duration) {
    let mut failing = false;
    let mut attempt = 0;
    loop {
        let delay = match logs.poll().await {
            Ok(lines) => {
                if failing {
                    failing = false;
                    attempt = 0;
                    if tx.send(Msg::LogOk).await.is_err() {
                        return;
                    }
                }
                if !lines.is_empty() && tx.send(Msg::Logs(lines)).await.is_err() {
                    return;
                }
                interval
            }
            Err(e) => {
                failing = true;
                attempt += 1;
                if tx.send(Msg::LogError(e.to_string())).await.is_err() {
                    return;
                }
                backoff(attempt, interval)
            }
        };
        tokio::time::sleep(delay).await;
    }
}

/// Runs one reprocess job; its result comes back as a message.
pub async fn reprocess(store: SharedStore, location: String, tx: mpsc::Sender<Msg>) {
    let result = store.reprocess(&location).await.map_err(|e| e.to_string());
    let _ = tx.send(Msg::ReprocessDone { location, result }).await;
}

/// Records one operator action; the stored state (or the refusal) comes back as a message.
pub async fn operator_action(store: SharedStore, action: crate::store::operator::OperatorAction, tx: mpsc::Sender<Msg>) {
    let result = store.operator_action(&action).await.map_err(|e| e.to_string());
    let _ = tx.send(Msg::OperatorDone { action, result }).await;
}

/// A terminal event as a message: keys (not releases) and resizes; others are ignored.
pub fn terminal_event(ev: crossterm::event::Event) -> Option<Msg> {
    use crossterm::event::{Event, KeyEventKind};
    match ev {
        Event::Key(k) if k.kind != KeyEventKind::Release => Some(Msg::Key(k)),
        Event::Resize(w, h) => Some(Msg::Resize(w, h)),
        _ => None,
    }
}

/// SIGTERM / SIGHUP (SSH session dropped) end the dashboard cleanly, restoring the terminal.
#[cfg(unix)]
pub async fn signals(tx: mpsc::Sender<Msg>) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut hup)) = (signal(SignalKind::terminate()), signal(SignalKind::hangup())) else {
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = hup.recv() => {}
    }
    let _ = tx.send(Msg::Shutdown).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_caps() {
        let p = std::time::Duration::from_millis(500);
        assert_eq!(backoff(1, p).as_secs(), 1);
        assert_eq!(backoff(2, p).as_secs(), 2);
        assert_eq!(backoff(3, p).as_secs(), 4);
        assert_eq!(backoff(50, p).as_secs(), 30);
        assert_eq!(backoff(1, std::time::Duration::from_secs(5)).as_secs(), 5);
    }
}
