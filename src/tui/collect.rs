//! Data collection: tokio tasks that talk to the store and the log and send [`Msg`]s to
//! the UI loop. Nothing here touches the terminal or the app state.

use super::app::Interest;
use super::msg::Msg;
use crate::backend::{GridStore, LogSource, SharedClock, SharedStore};
use chrono::{DateTime, Duration, Utc};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::{Notify, mpsc, watch};

/// What the poller has already fetched for one substation.
#[derive(Debug, Clone, Copy)]
struct Fetched {
    /// Rollups from here on are held by the UI.
    from: DateTime<Utc>,
    /// Newest hour fetched; the next query starts there (that hour may have grown).
    newest_hour: DateTime<Utc>,
    /// `last_reading` when we last fetched: unchanged means nothing new to ask for.
    last_reading: DateTime<Utc>,
}

/// Incremental store polling. Each poll asks only for what changed since the last one:
/// rollups from the newest hour already held, alerts since the previous newest reading of
/// substations that got new data, the forecast when its substation got new data.
#[derive(Debug)]
pub struct Poller {
    data_interval: Duration,
    rollups: HashMap<String, Fetched>,
    last_readings: HashMap<String, DateTime<Utc>>,
    forecast: Option<(String, DateTime<Utc>)>,
    /// Alerts are held from here on.
    alerts_from: Option<DateTime<Utc>>,
    /// Set by [`Poller::invalidate`]: re-fetch recent data even if nothing seems new.
    forced: bool,
}

impl Poller {
    pub fn new(data_interval: Duration) -> Self {
        Self {
            data_interval,
            rollups: HashMap::new(),
            last_readings: HashMap::new(),
            forecast: None,
            alerts_from: None,
            forced: false,
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

        let range = Duration::hours(interest.range_hours.max(1));
        // One hour of margin: the oldest hour bucket starts before now - range.
        let range_start = now - range - Duration::hours(1);
        for loc in &interest.locations {
            let Some(&last) = current.get(loc) else { continue };
            let to = now.max(last) + Duration::hours(2);
            match self.rollups.get(loc).copied() {
                None => {
                    let rs = store.rollups(loc, range_start, to).await?;
                    let newest = rs.last().map_or(range_start, |r| r.timestamp);
                    self.rollups
                        .insert(loc.clone(), Fetched { from: range_start, newest_hour: newest, last_reading: last });
                    out.push(Msg::Rollups { location: loc.clone(), rollups: rs });
                }
                Some(mut f) => {
                    if range_start < f.from {
                        // The time range grew (24 h -> 7 d): fetch only the older part.
                        let rs = store.rollups(loc, range_start, f.from).await?;
                        f.from = range_start;
                        out.push(Msg::Rollups { location: loc.clone(), rollups: rs });
                    }
                    if last > f.last_reading || forced {
                        let rs = store.rollups(loc, f.newest_hour, to).await?;
                        if let Some(r) = rs.last() {
                            f.newest_hour = f.newest_hour.max(r.timestamp);
                        }
                        f.last_reading = last;
                        out.push(Msg::Rollups { location: loc.clone(), rollups: rs });
                    }
                    self.rollups.insert(loc.clone(), f);
                }
            }
        }

        if let Some(loc) = &interest.forecast_for
            && let Some(&last) = current.get(loc)
        {
            let key = (loc.clone(), last);
            if forced || self.forecast.as_ref() != Some(&key) {
                let points = store.forecast(loc).await?;
                self.forecast = Some(key);
                out.push(Msg::Forecast { location: loc.clone(), points });
            }
        }

        // Alerts: everything in the range the first time (or when the range grows);
        // afterwards only episodes that can have changed, i.e. those still running at the
        // previous newest reading of a substation that got new data.
        let since = match self.alerts_from {
            Some(from) if from <= range_start && !forced => current
                .iter()
                .filter_map(|(loc, last)| match self.last_readings.get(loc) {
                    Some(prev) if prev >= last => None,
                    Some(prev) => Some(*prev - self.data_interval),
                    None => Some(range_start),
                })
                .min(),
            // First poll, a grown range, or a forced refresh.
            _ => Some(range_start),
        };
        if let Some(since) = since {
            let alerts = store.alerts(since).await?;
            self.alerts_from = Some(self.alerts_from.map_or(range_start, |f| f.min(range_start)));
            out.push(Msg::Alerts(alerts));
        }
        self.last_readings = current;
        Ok(())
    }
}

/// Retry delay after `attempt` consecutive failures: [`crate::retry::dashboard`] (1 s, 2 s,
/// 4 s ... capped at 30 s), never shorter than the poll interval.
pub fn backoff(attempt: u32, poll_interval: std::time::Duration) -> std::time::Duration {
    let nth = attempt.saturating_sub(1) as usize;
    crate::retry::dashboard().nth(nth).unwrap_or_default().max(poll_interval)
}

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
                let retry_in = backoff(attempt, poll_interval);
                if tx.send(Msg::StoreError { error: e.to_string(), retry_in, attempt }).await.is_err() {
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

/// Reads terminal events on a plain thread (crossterm's blocking API) and forwards keys
/// and resizes. Stops when the UI loop drops its receiver.
pub fn spawn_key_reader(tx: mpsc::Sender<Msg>) -> std::thread::JoinHandle<()> {
    use crossterm::event::{self, Event, KeyEventKind};
    std::thread::Builder::new()
        .name("gridwatch-keys".into())
        .spawn(move || {
            while !tx.is_closed() {
                // A timeout so the thread notices the UI has gone.
                match event::poll(std::time::Duration::from_millis(250)) {
                    Ok(false) => continue,
                    Ok(true) => {}
                    Err(_) => return,
                }
                let msg = match event::read() {
                    Ok(Event::Key(k)) if k.kind != KeyEventKind::Release => Msg::Key(k),
                    Ok(Event::Resize(w, h)) => Msg::Resize(w, h),
                    Ok(_) => continue,
                    Err(_) => return,
                };
                if tx.blocking_send(msg).is_err() {
                    return;
                }
            }
        })
        .expect("spawn key reader thread")
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
