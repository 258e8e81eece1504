//! Data collection: the incremental store poller, back-off and the banner messages,
//! the log tailer and reprocess jobs, against the in-memory fake store.
#![cfg(feature = "tui")]

use chrono::Duration;
use gridwatch::backend::{GridStore, LogLevel, SharedClock, SharedStore};
use gridwatch::tui::app::Interest;
use gridwatch::tui::collect::{self, Poller};
use gridwatch::tui::msg::Msg;
use gridwatch::tui::testing::{FakeLog, FakeStore, FixedClock, t0};
use std::sync::Arc;
use tokio::sync::{Notify, mpsc, watch};

fn interest(locs: &[&str], range_hours: i64) -> Interest {
    Interest {
        locations: locs.iter().map(|s| s.to_string()).collect(),
        forecasts: locs.first().map(|s| s.to_string()).into_iter().collect(),
        span: Duration::hours(range_hours),
        zoom: Duration::hours(range_hours),
        end: None,
    }
}

fn kinds(msgs: &[Msg]) -> Vec<String> {
    msgs.iter()
        .map(|m| match m {
            Msg::Substations(v) => format!("subs {}", v.len()),
            Msg::Rollups { location, rollups } => format!("rollups {location} {}", rollups.len()),
            Msg::Forecast { location, points } => format!("forecast {location} {}", points.len()),
            Msg::Alerts(v) => format!("alerts {}", v.len()),
            Msg::OperatorStates(v) => format!("ops {}", v.len()),
            Msg::HistoryKept { location, from, to } => {
                format!("kept {location} {} {}", from.format("%m-%dT%H:%M"), to.format("%m-%dT%H:%M"))
            }
            other => format!("{other:?}"),
        })
        .collect()
}

#[tokio::test]
async fn poller_fetches_incrementally() {
    let now = t0();
    let store = FakeStore::sample(8, now, 24 * 8);
    let mut p = Poller::new(Duration::minutes(15));
    let want = interest(&["Bayview", "Cedar Ridge"], 24);

    // First poll: the whole range for the visible substations, forecast, alerts.
    let (msgs, err) = p.poll(&store, now, &want).await;
    assert!(err.is_none());
    assert_eq!(
        kinds(&msgs),
        ["subs 8", "ops 1", "rollups Bayview 25", "rollups Cedar Ridge 25", "forecast Bayview 24", "alerts 3"]
    );
    assert_eq!(
        store.calls(),
        [
            "substations", "operator",
            "rollups Bayview 05-31T11:00 06-01T14:00",
            "rollups Cedar Ridge 05-31T11:00 06-01T14:00",
            "forecast Bayview",
            "alerts 05-31T11:00"
        ]
    );

    // Nothing new: one index read and nothing else.
    let (msgs, _) = p.poll(&store, now, &want).await;
    assert_eq!(kinds(&msgs), ["subs 8", "ops 1"]);
    assert_eq!(store.calls(), ["substations", "operator"]);

    // Bayview gets a new reading: only its newest hour onwards, and alerts since its previous reading.
    {
        let mut d = store.data.lock().unwrap();
        let s = d.substations.iter_mut().find(|s| s.location == "Bayview").unwrap();
        s.last_reading += Duration::minutes(15);
    }
    let later = now + Duration::minutes(15);
    let (msgs, _) = p.poll(&store, later, &want).await;
    assert_eq!(kinds(&msgs), ["subs 8", "ops 1", "rollups Bayview 1", "forecast Bayview 24", "alerts 2"]);
    assert_eq!(
        store.calls(),
        ["substations", "operator", "rollups Bayview 06-01T11:00 06-01T14:15", "forecast Bayview", "alerts 06-01T11:35"]
    );

    // Range grows to 7 days: only the older part is fetched.
    let week = interest(&["Bayview", "Cedar Ridge"], 168);
    let (msgs, _) = p.poll(&store, later, &week).await;
    assert_eq!(
        store.calls(),
        [
            "substations", "operator",
            "rollups Bayview 05-25T11:15 05-31T11:00",
            "rollups Cedar Ridge 05-25T11:15 05-31T11:00",
            "alerts 05-25T11:15"
        ]
    );
    assert_eq!(kinds(&msgs)[2], "rollups Bayview 143", "05-25 12:00 .. 05-31 10:00");

    // A newly visible substation gets its full range once.
    let more = interest(&["Bayview", "Cedar Ridge", "Eastport"], 168);
    p.poll(&store, later, &more).await;
    assert_eq!(store.calls(), ["substations", "operator", "rollups Eastport 05-25T11:15 06-01T14:15"]);

    // After a reprocess (invalidate) recent data is re-read even without new readings.
    p.invalidate();
    p.poll(&store, later, &more).await;
    let calls = store.calls();
    assert_eq!(calls.len(), 2 + 3 + 1 + 1, "{calls:?}");
}

#[tokio::test]
async fn poller_reports_errors_with_partial_results() {
    let store = FakeStore::sample(2, t0(), 24);
    let mut p = Poller::new(Duration::minutes(15));
    store.data.lock().unwrap().fail = Some("disk I/O error".into());
    let (msgs, err) = p.poll(&store, t0(), &interest(&["Bayview"], 24)).await;
    assert!(msgs.is_empty());
    assert_eq!(err.unwrap().to_string(), "disk I/O error");
    // Recovers: the failed part is fetched next time.
    store.data.lock().unwrap().fail = None;
    let (msgs, err) = p.poll(&store, t0(), &interest(&["Bayview"], 24)).await;
    assert!(err.is_none());
    assert_eq!(kinds(&msgs)[2], "rollups Bayview 24");
}

/// The running poller task: error -> banner message with back-off, recovery -> StoreOk.
#[tokio::test]
async fn store_poller_task_backs_off_and_recovers() {
    let store = FakeStore::sample(2, t0(), 24);
    store.data.lock().unwrap().fail = Some("timeout".into());
    let shared: SharedStore = Arc::new(store.clone());
    let clock: SharedClock = Arc::new(FixedClock::new(t0()));
    let (tx, mut rx) = mpsc::channel(64);
    let (_itx, irx) = watch::channel(interest(&["Bayview"], 24));
    let task = tokio::spawn(collect::store_poller(
        shared,
        clock,
        tx,
        irx,
        Arc::new(Notify::new()),
        std::time::Duration::from_millis(20),
        Duration::minutes(15),
    ));
    let first = tokio::time::timeout(std::time::Duration::from_secs(5), rx.recv()).await.unwrap().unwrap();
    match first {
        Msg::StoreError { error, retry_in, attempt } => {
            assert_eq!(error, "timeout (unreachable)", "the kind of fault is said");
            assert_eq!(attempt, 1);
            assert_eq!(retry_in, std::time::Duration::from_secs(1));
        }
        other => panic!("expected StoreError, got {other:?}"),
    }
    store.data.lock().unwrap().fail = None;
    let mut saw_ok = false;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    while let Ok(Some(m)) = tokio::time::timeout_at(deadline, rx.recv()).await {
        if matches!(m, Msg::StoreOk) {
            saw_ok = true;
            break;
        }
    }
    assert!(saw_ok, "the banner clears after a successful poll");
    drop(rx);
    // The task ends by itself once the UI is gone.
    tokio::time::timeout(std::time::Duration::from_secs(5), task).await.unwrap().unwrap();
}

async fn recv(rx: &mut mpsc::Receiver<Msg>) -> Msg {
    tokio::time::timeout(std::time::Duration::from_secs(5), rx.recv()).await.unwrap().unwrap()
}

#[tokio::test]
async fn log_tailer_forwards_lines_and_errors() {
    let log = FakeLog::default();
    log.push(LogLevel::Info, "one");
    let (tx, mut rx) = mpsc::channel(16);
    let task = tokio::spawn(collect::log_tailer(Box::new(log.clone()), tx, std::time::Duration::from_millis(10)));
    match recv(&mut rx).await {
        Msg::Logs(lines) => assert_eq!(lines[0].message, "one"),
        other => panic!("{other:?}"),
    }
    *log.fail.lock().unwrap() = Some("gone".into());
    assert!(matches!(recv(&mut rx).await, Msg::LogError(e) if e == "gone"));
    *log.fail.lock().unwrap() = None;
    log.push(LogLevel::Warn, "two");
    assert!(matches!(recv(&mut rx).await, Msg::LogOk));
    assert!(matches!(recv(&mut rx).await, Msg::Logs(l) if l[0].message == "two"));
    drop(rx);
    task.abort();
}

#[tokio::test]
async fn reprocess_job_reports_back() {
    let store = FakeStore::sample(2, t0(), 24);
    let shared: SharedStore = Arc::new(store.clone());
    let (tx, mut rx) = mpsc::channel(4);
    collect::reprocess(shared.clone(), "Bayview".into(), tx.clone()).await;
    match rx.recv().await.unwrap() {
        Msg::ReprocessDone { location, result } => {
            assert_eq!(location, "Bayview");
            assert!(result.unwrap().contains("4 rows"));
        }
        other => panic!("{other:?}"),
    }
    store.data.lock().unwrap().reprocess_result = Some(Err("no raw data".into()));
    collect::reprocess(shared, "Bayview".into(), tx).await;
    assert!(matches!(rx.recv().await.unwrap(), Msg::ReprocessDone { result: Err(e), .. } if e == "no raw data"));
    assert_eq!(store.describe(), "fake: in memory");
}

/// Stored history older than the window (an archive, the January sample data): the
/// poller asks for the window ending at the newest data, then only for what a moved
/// window lacks; a jump starts over and tells the UI what to keep.
#[tokio::test]
async fn poller_follows_history_windows() {
    let data_end = t0();
    let store = FakeStore::sample(2, data_end, 24 * 10);
    let now = data_end + Duration::days(200); // 2025-12-18 12:00: the data is old
    let mut p = Poller::new(Duration::minutes(15));
    let mut want = interest(&["Ashford North"], 24);

    // Following: anchored at the newest reading (Ashford North, 06-01 11:55), not at now.
    let (msgs, err) = p.poll(&store, now, &want).await;
    assert!(err.is_none());
    assert_eq!(kinds(&msgs), ["subs 2", "ops 1", "rollups Ashford North 25", "forecast Ashford North 24", "alerts 3"]);
    assert_eq!(
        store.calls(),
        ["substations", "operator", "rollups Ashford North 05-31T10:55 12-18T14:00", "forecast Ashford North", "alerts 05-31T10:55"]
    );

    // Pinned half a window back: only the older twelve hours, and what lies far ahead is let go.
    want.end = Some(data_end - Duration::minutes(5) - Duration::hours(12));
    let (msgs, _) = p.poll(&store, now, &want).await;
    assert_eq!(
        kinds(&msgs),
        ["subs 2", "ops 1", "rollups Ashford North 12", "kept Ashford North 05-30T22:55 06-02T00:55", "alerts 3"]
    );
    assert_eq!(
        store.calls(),
        ["substations", "operator", "rollups Ashford North 05-30T22:55 05-31T10:55", "alerts 05-30T22:55"]
    );

    // A jump a week back: disjoint from what is held, so start over with just that window.
    want.end = Some(data_end - Duration::days(7));
    want.forecasts.clear();
    let (msgs, _) = p.poll(&store, now, &want).await;
    assert_eq!(
        kinds(&msgs),
        ["subs 2", "ops 1", "kept Ashford North 05-24T11:00 05-25T13:00", "rollups Ashford North 26", "alerts 3"]
    );
    assert_eq!(store.calls(), ["substations", "operator", "rollups Ashford North 05-24T11:00 05-25T13:00", "alerts 05-24T11:00"]);

    // Back to following: the newest window again.
    want.end = None;
    let (msgs, _) = p.poll(&store, now, &want).await;
    assert_eq!(kinds(&msgs)[2..4], ["kept Ashford North 05-31T10:55 12-18T14:00", "rollups Ashford North 25"]);
    store.calls();

    // New data while anchored at the newest data: only the newest hour on.
    {
        let mut d = store.data.lock().unwrap();
        let s = d.substations.iter_mut().find(|s| s.location == "Ashford North").unwrap();
        s.last_reading += Duration::minutes(15);
    }
    p.poll(&store, now, &want).await;
    let calls = store.calls();
    assert_eq!(calls[2], "rollups Ashford North 06-01T11:00 12-18T14:00", "{calls:?}");
}

/// Two dashboards on one data folder (two `LocalBackend`s, so two SQLite connections):
/// what one operator acknowledges or takes out of service, the other's next poll shows.
#[tokio::test]
async fn operator_actions_reach_a_second_dashboard_through_sqlite() {
    use gridwatch::local::DataDir;
    use gridwatch::local::backend::LocalBackend;
    use gridwatch::simulator::generator::{self, DataFormat, Generator, GeneratorConfig};
    use gridwatch::store::operator::ActionKind;
    use gridwatch::tui::app::{AlarmState, App, AppConfig};
    use gridwatch::tui::msg::Command;

    let dir = tempfile::tempdir().unwrap();
    let open = || LocalBackend::open(DataDir::new(dir.path().join("data")), Default::default()).unwrap();
    let (a, b) = (open(), open());
    let cfg = GeneratorConfig {
        substations: 3,
        days: 2,
        start: "2025-01-14T00:00:00Z".parse().unwrap(),
        ..GeneratorConfig::default()
    };
    let file = dir.path().join("grid_data_2025-01-14.csv");
    let synthetic = Generator::new(cfg);
    generator::write_readings(DataFormat::Csv, true, synthetic.readings(), std::fs::File::create(&file).unwrap()).unwrap();
    let key = a.import(&file, false).unwrap();
    a.process_key(&key).unwrap();

    let now: chrono::DateTime<chrono::Utc> = "2025-01-16T00:00:00Z".parse().unwrap();
    let new_app = |name: &str| {
        let mut app = App::new(AppConfig { operator: name.into(), ..AppConfig::default() }, now);
        app.update(Msg::Resize(120, 40));
        app
    };
    let (mut app_a, mut app_b) = (new_app("ana"), new_app("ben"));
    let (mut poll_a, mut poll_b) = (Poller::new(Duration::minutes(15)), Poller::new(Duration::minutes(15)));
    async fn poll(p: &mut Poller, store: &LocalBackend, app: &mut App, now: chrono::DateTime<chrono::Utc>) {
        let (msgs, err) = p.poll(store, now, &app.interest()).await;
        assert!(err.is_none(), "{err:?}");
        for m in msgs {
            app.update(m);
        }
    }
    poll(&mut poll_a, &a, &mut app_a, now).await;
    poll(&mut poll_b, &b, &mut app_b, now).await;
    assert!(!app_a.alarms.is_empty(), "the generator injects anomalies");
    let ids = |app: &App| app.alarms.iter().map(|x| (x.id.clone(), x.state())).collect::<Vec<_>>();
    assert_eq!(ids(&app_a), ids(&app_b), "both see the same alarms");
    let target = app_a.alarms[0].clone();
    assert!(target.unacked());

    // Dashboard A acknowledges its first alarm; the UI loop hands the command to the store.
    while app_a.view != gridwatch::tui::app::View::Alarms {
        app_a.update(Msg::Key(crossterm::event::KeyEvent::from(crossterm::event::KeyCode::Tab)));
    }
    app_a.alarm_selected = Some(target.id.clone());
    let cmds = app_a.update(Msg::Key(crossterm::event::KeyEvent::from(crossterm::event::KeyCode::Char('a'))));
    let [Command::Operator(action)] = cmds.as_slice() else { panic!("{cmds:?}") };
    assert_eq!(action.kind, ActionKind::Acknowledge { started_at: target.alert.started_at });
    let result = a.operator_action(action).await.map_err(|e| e.to_string());
    app_a.update(Msg::OperatorDone { action: action.clone(), result });

    // Dashboard B's next poll reads it from SQLite: acknowledged (or gone, if it had returned).
    poll(&mut poll_b, &b, &mut app_b, now).await;
    let seen = app_b.alarms.iter().find(|x| x.id == target.id).map(|x| x.state());
    let expected = if target.active { Some(AlarmState::Acknowledged) } else { None };
    assert_eq!(seen, expected);
    let stored = b.operator_states().await.unwrap();
    assert!(stored.iter().any(|s| s.location == target.alert.location && s.by == "ana"), "{stored:?}");

    // B takes a substation with alarms listed out of service; A sees every alarm there as OOS.
    let site = app_a.alarms.first().expect("more than one alarm").alert.location.clone();
    let oos = gridwatch::store::operator::OperatorAction {
        location: site.clone(),
        rule: None,
        kind: ActionKind::OutOfService,
        by: "ben".into(),
        at: now,
        reason: "relay test".into(),
    };
    b.operator_action(&oos).await.unwrap();
    poll(&mut poll_a, &a, &mut app_a, now).await;
    let there: Vec<_> = app_a.alarms.iter().filter(|x| x.alert.location == site).collect();
    assert!(!there.is_empty() && there.iter().all(|x| x.state() == AlarmState::OutOfService), "{there:?}");
    assert_eq!(app_a.site_state(&site).map(|s| (s.reason.as_str(), s.by.as_str())), Some(("relay test", "ben")));
}
