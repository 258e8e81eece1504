//! App-state tests: key events and data messages in, state and commands out.
#![cfg(feature = "tui")]

use chrono::Duration;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use gridwatch::backend::{LogLevel, LogLine};
use gridwatch::model::AlertRule;
use gridwatch::tui::app::{AlarmState, App, AppConfig, Prompt, SortKey, StatusLevel, View};
use gridwatch::tui::cursor::{Follow, WindowMode, Zoom};
use gridwatch::tui::keys::KeyMap;
use gridwatch::tui::msg::{Command, Msg};
use gridwatch::backend::GridStore;
use gridwatch::store::operator::{ActionKind, OperatorAction};
use gridwatch::tui::testing::{self, FakeStore, render_to_test_backend, sample_app, screen_text, t0};

/// The sample in name order (the tests below were written against it; the default
/// worst-first order has its own tests).
fn app() -> App {
    by_name(sample_app(AppConfig::default(), 8))
}

fn by_name(mut app: App) -> App {
    app.sort = SortKey::Name;
    app.selected = Some("Ashford North".into());
    app
}

fn press(app: &mut App, code: KeyCode) -> Vec<Command> {
    app.update(Msg::Key(KeyEvent::new(code, KeyModifiers::NONE)))
}

fn ch(app: &mut App, c: char) -> Vec<Command> {
    press(app, KeyCode::Char(c))
}

fn type_text(app: &mut App, s: &str) {
    for c in s.chars() {
        ch(app, c);
    }
}

fn alarm_state(app: &App, rule: AlertRule) -> Option<AlarmState> {
    app.alarms.iter().find(|a| a.alert.rule == rule).map(|a| a.state())
}

#[test]
fn sample_starts_on_overview_with_first_substation_selected() {
    let app = app();
    assert_eq!(app.view, View::Overview);
    assert_eq!(app.selected.as_deref(), Some("Ashford North"));
    assert_eq!(app.subs.len(), 8);
    assert_eq!(alarm_state(&app, AlertRule::Undervoltage), Some(AlarmState::Unacknowledged));
    assert_eq!(alarm_state(&app, AlertRule::FrequencyDeviation), Some(AlarmState::ReturnedUnacknowledged));
    assert_eq!(alarm_state(&app, AlertRule::Overload), Some(AlarmState::Acknowledged));
}

#[test]
fn navigation_and_views() {
    let mut app = app();
    ch(&mut app, 'j');
    ch(&mut app, 'j');
    assert_eq!(app.selected.as_deref(), Some("Cedar Ridge"));
    ch(&mut app, 'k');
    assert_eq!(app.selected.as_deref(), Some("Bayview"));
    press(&mut app, KeyCode::Up);
    press(&mut app, KeyCode::Up);
    assert_eq!(app.selected.as_deref(), Some("Ashford North"), "stops at the top");
    press(&mut app, KeyCode::End);
    assert_eq!(app.selected.as_deref(), Some("Harbor Point"));
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.view, View::Detail);
    // j/k in the detail view steps through substations.
    ch(&mut app, 'k');
    assert_eq!(app.selected.as_deref(), Some("Granite Falls"));
    press(&mut app, KeyCode::Esc);
    assert_eq!(app.view, View::Overview);
    press(&mut app, KeyCode::Tab);
    press(&mut app, KeyCode::Tab);
    press(&mut app, KeyCode::Tab);
    assert_eq!(app.view, View::Alarms);
    press(&mut app, KeyCode::BackTab);
    assert_eq!(app.view, View::Heatmap);
    // Enter on an alarm opens its substation.
    press(&mut app, KeyCode::Tab);
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.view, View::Detail);
    assert_eq!(app.selected.as_deref(), Some("Cedar Ridge"));
}

#[test]
fn quit_from_anywhere() {
    let mut app = app();
    assert_eq!(ch(&mut app, 'q'), vec![Command::Quit]);
    // Ctrl-C quits even inside the filter prompt or a dialog.
    ch(&mut app, '/');
    assert_eq!(ch(&mut app, 'q'), vec![], "q is text while filtering");
    let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
    assert_eq!(app.update(Msg::Key(ctrl_c)), vec![Command::Quit]);
    press(&mut app, KeyCode::Esc);
    ch(&mut app, 'r');
    assert!(app.confirm.is_some());
    assert_eq!(app.update(Msg::Key(ctrl_c)), vec![Command::Quit]);
    assert_eq!(app.update(Msg::Shutdown), vec![Command::Quit]);
}

#[test]
fn reprocess_confirm_and_result() {
    let mut app = app();
    ch(&mut app, 'j');
    assert!(ch(&mut app, 'r').is_empty());
    assert!(app.confirm.is_some(), "asks first");
    // Other keys do nothing while the dialog is open.
    assert!(ch(&mut app, 'j').is_empty());
    assert_eq!(app.selected.as_deref(), Some("Bayview"));
    let cmds = ch(&mut app, 'y');
    assert_eq!(cmds, vec![Command::Reprocess("Bayview".into())]);
    assert!(app.confirm.is_none());
    assert!(app.jobs.contains("Bayview"));
    assert!(app.status.as_ref().unwrap().text.contains("reprocessing Bayview"));
    // A second request while it runs is refused.
    ch(&mut app, 'r');
    assert!(app.confirm.is_none());
    assert!(app.status.as_ref().unwrap().text.contains("already"));

    let cmds = app.update(Msg::ReprocessDone { location: "Bayview".into(), result: Ok("4 rows, 0 rejected".into()) });
    assert_eq!(cmds, vec![Command::Refresh], "fresh results are fetched at once");
    assert!(app.jobs.is_empty());
    let st = app.status.clone().unwrap();
    assert_eq!(st.level, StatusLevel::Info);
    assert!(st.text.contains("reprocessed Bayview: 4 rows"), "{}", st.text);
}

#[test]
fn reprocess_cancel_and_failure() {
    let mut app = app();
    ch(&mut app, 'r');
    ch(&mut app, 'n');
    assert!(app.confirm.is_none() && app.jobs.is_empty());
    ch(&mut app, 'r');
    assert!(press(&mut app, KeyCode::Esc).is_empty());
    assert!(app.confirm.is_none() && app.jobs.is_empty());

    ch(&mut app, 'r');
    assert_eq!(press(&mut app, KeyCode::Enter), vec![Command::Reprocess("Ashford North".into())]);
    app.update(Msg::ReprocessDone { location: "Ashford North".into(), result: Err("raw object missing".into()) });
    let st = app.status.clone().unwrap();
    assert_eq!(st.level, StatusLevel::Error);
    assert!(st.text.contains("failed: raw object missing"));
}

#[test]
fn reprocess_disabled_in_read_only() {
    let mut app = by_name(sample_app(AppConfig { read_only: true, ..AppConfig::default() }, 8));
    assert!(ch(&mut app, 'r').is_empty());
    assert!(app.confirm.is_none());
    assert_eq!(app.status.as_ref().unwrap().level, StatusLevel::Error);
    let text = screen_text(&render_to_test_backend(&app, 80, 24));
    assert!(text.contains("read-only"));
    assert!(!text.contains("r:reprocess"), "the key bar does not offer it");
}

/// The store answers every operator action in `cmds` (as the UI loop does); returns the
/// commands the answers produced.
fn store_answers(app: &mut App, store: &FakeStore, cmds: Vec<Command>) -> Vec<Command> {
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let mut out = Vec::new();
    for c in cmds {
        if let Command::Operator(action) = c {
            let result = rt.block_on(store.operator_action(&action)).map_err(|e| e.to_string());
            out.extend(app.update(Msg::OperatorDone { action, result }));
        }
    }
    out
}

/// A store holding the sample's operator states (Fairmont's overload acknowledged).
fn op_store() -> FakeStore {
    let store = FakeStore::default();
    store.data.lock().unwrap().operator = testing::operator_states(t0());
    store
}

fn operator_actions(cmds: &[Command]) -> Vec<OperatorAction> {
    cmds.iter()
        .filter_map(|c| match c {
            Command::Operator(a) => Some(a.clone()),
            _ => None,
        })
        .collect()
}

fn to_alarms(app: &mut App) {
    while app.view != View::Alarms {
        press(app, KeyCode::Tab);
    }
}

fn select_alarm(app: &mut App, rule: AlertRule) {
    let id = app.alarms.iter().find(|a| a.alert.rule == rule).unwrap().id.clone();
    app.alarm_selected = Some(id);
}

fn named(cfg: AppConfig) -> AppConfig {
    AppConfig { operator: "ana".into(), ..cfg }
}

#[test]
fn ack_sends_an_acknowledge_and_the_stored_state_follows_isa_18_2() {
    let mut app = by_name(sample_app(named(AppConfig::default()), 8));
    let store = op_store();
    to_alarms(&mut app);
    // Sorted: unacknowledged first, then priority (high before low), then newest first.
    assert_eq!(app.alarms[0].state(), AlarmState::Unacknowledged);
    assert_eq!(app.alarms[0].alert.rule, AlertRule::Undervoltage);
    assert_eq!(app.alarms[1].state(), AlarmState::ReturnedUnacknowledged);
    assert_eq!(app.alarms[2].state(), AlarmState::Acknowledged);
    let cmds = ch(&mut app, 'a');
    let actions = operator_actions(&cmds);
    assert_eq!(actions.len(), 1);
    let sag = &testing::alerts(t0())[0];
    assert_eq!(actions[0].location, "Cedar Ridge");
    assert_eq!(actions[0].rule, Some(AlertRule::Undervoltage));
    assert_eq!(actions[0].kind, ActionKind::Acknowledge { started_at: sag.started_at });
    assert_eq!((actions[0].by.as_str(), actions[0].at), ("ana", t0()));
    // Nothing changes until the store has answered.
    assert_eq!(alarm_state(&app, AlertRule::Undervoltage), Some(AlarmState::Unacknowledged));
    let after = store_answers(&mut app, &store, cmds);
    assert_eq!(after, vec![Command::Refresh], "re-polls after the store answered");
    // Acknowledged but still active: stays, as ACKED.
    assert_eq!(alarm_state(&app, AlertRule::Undervoltage), Some(AlarmState::Acknowledged));
    assert!(app.status.as_ref().unwrap().text.contains("acknowledged the alarm"));
    assert_eq!(app.alarms.len(), 3);
    // The returned one leaves the list once acknowledged (Normal).
    select_alarm(&mut app, AlertRule::FrequencyDeviation);
    let cmds = ch(&mut app, 'a');
    store_answers(&mut app, &store, cmds);
    assert_eq!(alarm_state(&app, AlertRule::FrequencyDeviation), None);
    assert_eq!(app.alarms.len(), 2);
    assert_eq!(app.unacked_alarms(), 0);
    // Acknowledging an acknowledged alarm sends nothing.
    select_alarm(&mut app, AlertRule::Undervoltage);
    assert!(ch(&mut app, 'a').is_empty());
    assert!(app.status.as_ref().unwrap().text.contains("nothing to acknowledge"));
}

#[test]
fn alarms_return_when_newer_data_arrives() {
    let mut app = app();
    let later = t0() + Duration::minutes(15);
    // New readings for every substation, none breaking a rule.
    let states: Vec<_> = (0..8)
        .map(|i| {
            let mut s = testing::state(i, t0());
            s.last_reading = later;
            s
        })
        .collect();
    app.update(Msg::Substations(states));
    // Undervoltage was unacknowledged: it stays, as RTN-UNACK.
    assert_eq!(alarm_state(&app, AlertRule::Undervoltage), Some(AlarmState::ReturnedUnacknowledged));
    // Overload was acknowledged: returned + acknowledged leaves the list.
    assert_eq!(alarm_state(&app, AlertRule::Overload), None);
    // An alert that re-fires in a later poll extends the episode: active again.
    let mut a = testing::alerts(t0())[0].clone();
    a.ended_at = later;
    app.update(Msg::Alerts(vec![a]));
    assert_eq!(alarm_state(&app, AlertRule::Undervoltage), Some(AlarmState::Unacknowledged));
}

#[test]
fn ack_all_only_in_the_alarm_view_and_only_what_is_listed() {
    let mut app = app();
    let store = op_store();
    assert!(ch(&mut app, 'A').is_empty(), "not from the overview");
    to_alarms(&mut app);
    ch(&mut app, '/');
    type_text(&mut app, "cedar");
    press(&mut app, KeyCode::Enter);
    let cmds = ch(&mut app, 'A');
    assert_eq!(operator_actions(&cmds).len(), 1);
    store_answers(&mut app, &store, cmds);
    assert_eq!(alarm_state(&app, AlertRule::Undervoltage), Some(AlarmState::Acknowledged));
    assert_eq!(
        alarm_state(&app, AlertRule::FrequencyDeviation),
        Some(AlarmState::ReturnedUnacknowledged),
        "filtered out: untouched"
    );
    press(&mut app, KeyCode::Esc);
    assert_eq!(app.view, View::Alarms, "Esc cleared the filter first");
    let cmds = ch(&mut app, 'A');
    store_answers(&mut app, &store, cmds);
    assert_eq!(app.alarms.len(), 2, "the returned one left the list");
    assert_eq!(app.unacked_alarms(), 0);
}

#[test]
fn acknowledged_returned_alarms_stay_gone_when_fetched_again() {
    let mut app = app();
    let store = op_store();
    to_alarms(&mut app);
    let cmds = ch(&mut app, 'A');
    store_answers(&mut app, &store, cmds);
    assert_eq!(alarm_state(&app, AlertRule::FrequencyDeviation), None);
    // A forced refresh (after a reprocess) or a 7 d range returns the old episodes again:
    // the stored acknowledgement keeps them out.
    app.update(Msg::Alerts(testing::alerts(t0())));
    assert_eq!(alarm_state(&app, AlertRule::FrequencyDeviation), None, "no resurrection");
    assert_eq!(alarm_state(&app, AlertRule::Undervoltage), Some(AlarmState::Acknowledged));
    // The poll's operator states (as stored) keep the same picture.
    app.update(Msg::OperatorStates(store.data.lock().unwrap().operator.clone()));
    assert_eq!(alarm_state(&app, AlertRule::Undervoltage), Some(AlarmState::Acknowledged));
}

#[test]
fn alarm_list_is_bounded() {
    let mut app = app();
    let cap = gridwatch::tui::app::MAX_ALARMS;
    let base = testing::alerts(t0())[1].clone(); // a returned episode
    let flood: Vec<_> = (0..cap as i64 + 50)
        .map(|k| {
            let mut a = base.clone();
            a.started_at = t0() - Duration::days(2) + Duration::minutes(k);
            a.activated_at = a.started_at;
            a.ended_at = a.started_at;
            a
        })
        .collect();
    app.update(Msg::Alerts(flood));
    assert_eq!(app.alarms.len(), cap);
    assert!(app.alarms_dropped >= 50);
    // Active alarms are never the ones dropped.
    assert_eq!(alarm_state(&app, AlertRule::Undervoltage), Some(AlarmState::Unacknowledged));
}

#[test]
fn ack_on_overview_acks_the_selected_substation() {
    let mut app = app();
    let store = op_store();
    ch(&mut app, 'j');
    ch(&mut app, 'j');
    assert_eq!(app.selected.as_deref(), Some("Cedar Ridge"));
    let cmds = ch(&mut app, 'a');
    let actions = operator_actions(&cmds);
    assert_eq!(actions.len(), 1);
    assert_eq!(actions[0].location, "Cedar Ridge");
    assert!(app.status.as_ref().unwrap().text.contains("acknowledging 1 alarm"));
    store_answers(&mut app, &store, cmds);
    assert_eq!(alarm_state(&app, AlertRule::Undervoltage), Some(AlarmState::Acknowledged));
    assert_eq!(
        alarm_state(&app, AlertRule::FrequencyDeviation),
        Some(AlarmState::ReturnedUnacknowledged),
        "other substations untouched"
    );
}

#[test]
fn shelve_defaults_to_an_hour_is_capped_and_expires() {
    let mut cfg = named(AppConfig::default());
    cfg.analysis.alarms.max_shelve_minutes = 90.0;
    let mut app = by_name(sample_app(cfg, 8));
    let store = op_store();
    // Outside the alarm view there is no alarm selected to shelve.
    assert!(ch(&mut app, 'S').is_empty());
    assert!(app.status.as_ref().unwrap().text.contains("select an alarm"));
    to_alarms(&mut app);
    select_alarm(&mut app, AlertRule::Undervoltage);
    let cmds = ch(&mut app, 'S');
    let a = &operator_actions(&cmds)[0];
    assert_eq!((a.location.as_str(), a.rule), ("Cedar Ridge", Some(AlertRule::Undervoltage)));
    assert_eq!(a.kind, ActionKind::Shelve { until: t0() + Duration::minutes(60) });
    store_answers(&mut app, &store, cmds);
    assert_eq!(alarm_state(&app, AlertRule::Undervoltage), Some(AlarmState::Shelved));
    assert_eq!(app.unacked_alarms(), 1, "a shelved alarm does not count as unacknowledged");
    assert_eq!(app.alarms.last().unwrap().alert.rule, AlertRule::Undervoltage, "shelved sorts last");
    let text = screen_text(&render_to_test_backend(&app, 80, 24));
    assert!(text.contains("SHELVED"), "{text}");
    // The shelve expires on its own.
    app.update(Msg::Tick(t0() + Duration::minutes(61)));
    assert_eq!(alarm_state(&app, AlertRule::Undervoltage), Some(AlarmState::Unacknowledged));
    app.update(Msg::Tick(t0()));
    // `:shelve 120` asks for more than the maximum of 90: capped, and said so.
    select_alarm(&mut app, AlertRule::Undervoltage);
    ch(&mut app, ':');
    type_text(&mut app, "shelve 120");
    let cmds = press(&mut app, KeyCode::Enter);
    assert_eq!(operator_actions(&cmds)[0].kind, ActionKind::Shelve { until: t0() + Duration::minutes(90) });
    assert!(app.status.as_ref().unwrap().text.contains("capped at the maximum of 90 min (asked 120)"));
    store_answers(&mut app, &store, cmds);
    // `U` unshelves.
    select_alarm(&mut app, AlertRule::Undervoltage);
    let cmds = ch(&mut app, 'U');
    assert_eq!(operator_actions(&cmds)[0].kind, ActionKind::Unshelve);
    store_answers(&mut app, &store, cmds);
    assert_eq!(alarm_state(&app, AlertRule::Undervoltage), Some(AlarmState::Unacknowledged));
    assert!(ch(&mut app, 'U').is_empty(), "not shelved: nothing to send");
    // A bad duration says why.
    ch(&mut app, ':');
    type_text(&mut app, "shelve soon");
    assert!(press(&mut app, KeyCode::Enter).is_empty());
    assert!(app.status.as_ref().unwrap().text.contains("not a duration"));
}

#[test]
fn out_of_service_asks_a_reason_and_return_to_service_ends_it() {
    let mut app = by_name(sample_app(named(AppConfig::default()), 8));
    let store = op_store();
    to_alarms(&mut app);
    select_alarm(&mut app, AlertRule::Undervoltage);
    assert!(ch(&mut app, 'O').is_empty(), "asks first");
    assert_eq!(app.prompt, Some(Prompt::Command));
    assert_eq!(app.prompt_text(), "oos ");
    // No reason: refused, nothing sent.
    assert!(press(&mut app, KeyCode::Enter).is_empty());
    assert!(app.status.as_ref().unwrap().text.contains("needs a reason"));
    ch(&mut app, 'O');
    type_text(&mut app, "breaker maintenance");
    let cmds = press(&mut app, KeyCode::Enter);
    let a = &operator_actions(&cmds)[0];
    assert_eq!((a.location.as_str(), a.rule, &a.kind), ("Cedar Ridge", None, &ActionKind::OutOfService));
    assert_eq!((a.reason.as_str(), a.by.as_str()), ("breaker maintenance", "ana"));
    store_answers(&mut app, &store, cmds);
    assert_eq!(alarm_state(&app, AlertRule::Undervoltage), Some(AlarmState::OutOfService));
    // Suppressed: Cedar Ridge's status no longer counts the sag.
    let cedar = app.subs.get("Cedar Ridge").unwrap();
    assert_eq!(app.sub_status(cedar), cedar.state.latest.alert_status);
    let text = screen_text(&render_to_test_backend(&app, 120, 30));
    assert!(text.contains("out of service by ana") && text.contains("breaker maintenance"), "{text}");
    select_alarm(&mut app, AlertRule::Undervoltage);
    let cmds = ch(&mut app, 'I');
    assert_eq!(operator_actions(&cmds)[0].kind, ActionKind::ReturnToService);
    store_answers(&mut app, &store, cmds);
    assert_eq!(alarm_state(&app, AlertRule::Undervoltage), Some(AlarmState::Unacknowledged));
}

#[test]
fn operator_actions_are_refused_read_only_and_say_why() {
    let mut app = by_name(sample_app(AppConfig { read_only: true, ..AppConfig::default() }, 8));
    to_alarms(&mut app);
    select_alarm(&mut app, AlertRule::Undervoltage);
    for key in ['a', 'A', 'S', 'U', 'O', 'I'] {
        app.status = None;
        assert!(ch(&mut app, key).is_empty(), "{key}: nothing sent");
        assert!(app.prompt.is_none(), "{key}: no reason asked");
        let st = app.status.clone().unwrap();
        assert_eq!(st.level, StatusLevel::Error, "{key}");
        assert!(st.text.contains("refused") && st.text.contains("read-only"), "{key}: {}", st.text);
    }
    assert_eq!(alarm_state(&app, AlertRule::Undervoltage), Some(AlarmState::Unacknowledged));
    // A store that refuses (read-only backend) is reported the same way.
    let mut app = by_name(sample_app(AppConfig::default(), 8));
    to_alarms(&mut app);
    select_alarm(&mut app, AlertRule::Undervoltage);
    let action = operator_actions(&ch(&mut app, 'a'))[0].clone();
    let e = gridwatch::store::StoreError::ReadOnly("this dashboard is read-only: operator actions are disabled".into());
    assert!(app.update(Msg::OperatorDone { action, result: Err(e.to_string()) }).is_empty(), "no re-poll");
    let st = app.status.clone().unwrap();
    assert_eq!(st.level, StatusLevel::Error);
    assert!(st.text.contains("acknowledge Cedar Ridge undervoltage refused") && st.text.contains("read-only"), "{}", st.text);
    assert_eq!(alarm_state(&app, AlertRule::Undervoltage), Some(AlarmState::Unacknowledged));
}

/// `n` alarm activations, one a minute back from `newest`, at substation SUB-100.
fn burst(n: i64, newest: chrono::DateTime<chrono::Utc>) -> Vec<gridwatch::model::Alert> {
    let base = testing::alerts(t0())[0].clone();
    (0..n)
        .map(|k| {
            let mut a = base.clone();
            a.location = "SUB-100".into();
            a.started_at = newest - Duration::seconds(50 * k);
            a.activated_at = a.started_at;
            a.ended_at = a.started_at;
            a
        })
        .collect()
}

#[test]
fn flood_banner_above_the_limit_of_the_last_ten_minutes() {
    let mut cfg = AppConfig::default();
    cfg.analysis.alarms.flood_alarms_per_10min = 10;
    cfg.theme = gridwatch::tui::Theme::new(false, true);
    let mut app = by_name(sample_app(cfg, 8));
    assert_eq!(app.flood(), None);
    // 10 activations 50 s apart (all within 10 min of the newest): at the limit, no flood.
    let newest = t0() - Duration::minutes(20);
    app.update(Msg::Alerts(burst(10, newest)));
    assert_eq!(app.flood(), None);
    assert!(!screen_text(&render_to_test_backend(&app, 80, 24)).contains("ALARM FLOOD"));
    // An 11th, still inside the 10 minutes: a flood, shown under NO_COLOR as plain text.
    app.update(Msg::Alerts(burst(11, newest)));
    assert_eq!(app.flood(), Some(11));
    let text = screen_text(&render_to_test_backend(&app, 80, 24));
    assert!(text.lines().nth(1).unwrap().contains("ALARM FLOOD: 11 in 10 min"), "{text}");
    // Acknowledging does not end a flood: it counts activations, not what is unacknowledged.
    let store = op_store();
    to_alarms(&mut app);
    let cmds = ch(&mut app, 'A');
    store_answers(&mut app, &store, cmds);
    assert_eq!(app.flood(), Some(11));
    // A newer activation 15 min later: the last 10 minutes hold just that one.
    let mut later = burst(1, newest + Duration::minutes(15));
    later[0].location = "SUB-101".into();
    app.update(Msg::Alerts(later));
    assert_eq!(app.flood(), None);
}

#[test]
fn alarm_view_header_shows_the_kpis_of_the_window() {
    let mut app = app();
    to_alarms(&mut app);
    let text = screen_text(&render_to_test_backend(&app, 80, 24));
    // The sample: 3 episodes activated in the 24 h window (2 high, 1 low), none chattering.
    let kpis = text.lines().find(|l| l.contains("/h avg")).unwrap_or_else(|| panic!("{text}"));
    assert!(kpis.contains("24h: 0.1/h avg, peak 1/10min, flood 0%, chatter 0, stale 0, prio C0 H2 M0 L1"), "{kpis}");
    assert!(kpis.chars().count() <= 80);
}

#[test]
fn filter_edit_keep_and_clear() {
    let mut app = app();
    ch(&mut app, '/');
    assert_eq!(app.prompt, Some(Prompt::Filter));
    type_text(&mut app, "ceX");
    press(&mut app, KeyCode::Backspace);
    assert_eq!(app.overview_filter, "ce");
    let names: Vec<_> = app.visible_subs().iter().map(|s| s.name.clone()).collect();
    assert_eq!(names, ["Cedar Ridge"]);
    assert_eq!(app.selected.as_deref(), Some("Cedar Ridge"), "selection moves into the filtered list");
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.prompt, None);
    assert_eq!(app.visible_subs().len(), 1, "Enter keeps the filter");
    // Filter by status word.
    ch(&mut app, '/');
    press(&mut app, KeyCode::Esc);
    assert!(app.overview_filter.is_empty() && app.prompt.is_none());
    ch(&mut app, '/');
    type_text(&mut app, "warn");
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.visible_subs().len(), 1);
    assert_eq!(app.visible_subs()[0].name, "Fairmont");
    // Esc in the overview clears a kept filter.
    press(&mut app, KeyCode::Esc);
    assert_eq!(app.visible_subs().len(), 8);

    // Each view has its own filter.
    press(&mut app, KeyCode::BackTab);
    ch(&mut app, '/');
    type_text(&mut app, "bayview");
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.visible_logs().len(), 4);
    assert!(app.overview_filter.is_empty());
}

#[test]
fn pause_holds_updates_and_log_follow() {
    let mut app = app();
    press(&mut app, KeyCode::BackTab);
    assert_eq!(app.view, View::Logs);
    ch(&mut app, 'p');
    assert!(app.paused);
    let mut s = testing::state(0, t0());
    s.latest.load_avg_mw = 999.0;
    s.last_reading = t0() + Duration::minutes(1);
    let others: Vec<_> = (1..8).map(|i| testing::state(i, t0())).collect();
    app.update(Msg::Substations([vec![s], others].concat()));
    assert_ne!(app.subs["Ashford North"].state.latest.load_avg_mw, 999.0, "held while paused");
    assert_eq!(app.held.len(), 1);
    app.update(Msg::Logs(vec![LogLine { timestamp: t0(), level: LogLevel::Info, message: "new".into() }]));
    assert_eq!(app.log_scroll, 1, "the log does not follow while paused");
    assert_eq!(app.log_unseen, 1);
    // Alarms keep flowing while paused.
    assert_eq!(app.alarms.len(), 3);

    ch(&mut app, 'p');
    assert!(!app.paused);
    assert_eq!(app.subs["Ashford North"].state.latest.load_avg_mw, 999.0, "applied on resume");
    assert!(app.held.is_empty());
    assert_eq!(app.log_scroll, 0, "following again");
}

#[test]
fn log_scrolls_back_and_stays_put() {
    let mut app = app();
    app.update(Msg::Resize(80, 16)); // 12 log lines visible, 30 held
    press(&mut app, KeyCode::BackTab);
    ch(&mut app, 'k');
    ch(&mut app, 'k');
    assert_eq!(app.log_scroll, 2);
    app.update(Msg::Logs(vec![LogLine { timestamp: t0(), level: LogLevel::Info, message: "x".into() }]));
    assert_eq!(app.log_scroll, 3, "scrolled back: the same lines stay on screen");
    press(&mut app, KeyCode::Home);
    assert_eq!(app.log_scroll, 31 - app.log_rows(), "top: the oldest line is on screen");
    press(&mut app, KeyCode::End);
    assert_eq!((app.log_scroll, app.log_unseen), (0, 0));
}

#[test]
fn stale_after_two_intervals() {
    let mut app = app();
    let fresh = |app: &App| app.subs.values().filter(|s| !app.is_stale(s)).count();
    assert_eq!(fresh(&app), 7, "only Granite Falls is stale at t0");
    app.update(Msg::Tick(t0() + Duration::minutes(16)));
    // Ages now 21, 26, 31 min: only readings older than 2 x 15 min are stale.
    assert_eq!(fresh(&app), 5, "Cedar Ridge and Fairmont (31 min) join Granite Falls");
    let text = screen_text(&render_to_test_backend(&app, 80, 24));
    assert_eq!(text.matches("STALE").count(), 3 + 1, "three rows and the legend");
}

#[test]
fn backend_error_banner_appears_and_clears() {
    let mut app = app();
    app.update(Msg::StoreError {
        error: "connection refused".into(),
        retry_in: std::time::Duration::from_secs(2),
        attempt: 2,
    });
    assert_eq!(app.banner.as_ref().unwrap().attempt, 2);
    let text = screen_text(&render_to_test_backend(&app, 80, 24));
    assert!(text.contains("store error: connection refused - retrying in 2s (attempt 2)"));
    // Data already shown stays on screen.
    assert!(text.contains("Cedar Ridge"));
    app.update(Msg::StoreOk);
    assert!(app.banner.is_none());
    assert!(!screen_text(&render_to_test_backend(&app, 80, 24)).contains("store error"));

    app.update(Msg::LogError("log file unreadable".into()));
    assert!(screen_text(&render_to_test_backend(&app, 80, 24)).contains("log error: log file unreadable"));
    app.update(Msg::LogOk);
    assert!(app.log_error.is_none());
}

#[test]
fn help_overlay_closes_on_any_key() {
    let mut app = app();
    ch(&mut app, '?');
    assert!(app.help);
    ch(&mut app, '?');
    assert!(!app.help);
    ch(&mut app, '?');
    press(&mut app, KeyCode::Esc);
    assert!(!app.help);
    assert_eq!(app.view, View::Overview, "Esc only closed the overlay");
    ch(&mut app, '?');
    press(&mut app, KeyCode::Tab);
    assert!(!app.help);
    assert_eq!(app.view, View::Detail, "other keys close it and act");
}

#[test]
fn time_range_toggles_and_is_asked_for() {
    let mut app = app();
    assert_eq!(app.interest().span, Duration::hours(24));
    ch(&mut app, 't');
    assert_eq!(app.cursor.zoom, Zoom::Week);
    assert_eq!(app.interest().span, Duration::hours(168));
    ch(&mut app, 't');
    assert_eq!(app.cursor.zoom, Zoom::Month);
    ch(&mut app, 't');
    assert_eq!(app.cursor.zoom, Zoom::Day);
}

#[test]
fn interest_follows_the_visible_rows() {
    let mut app = by_name(sample_app(AppConfig::default(), 500));
    app.update(Msg::Resize(80, 24));
    let rows = app.list_rows();
    assert_eq!(rows, 18);
    let i = app.interest();
    assert_eq!(i.locations.len(), rows);
    assert_eq!(i.locations[0], "Ashford North");
    assert!(i.forecasts.is_empty(), "the overview of 500 draws no forecast (no fleet panel)");
    press(&mut app, KeyCode::End);
    let i = app.interest();
    assert_eq!(i.locations.len(), rows);
    assert_eq!(i.locations.last().map(String::as_str), Some("SUB-499"));
    press(&mut app, KeyCode::PageUp);
    assert_eq!(app.selected.as_deref(), Some("SUB-481"));
    // The detail view needs one substation and its forecast; alarms and logs need none.
    press(&mut app, KeyCode::Enter);
    let i = app.interest();
    assert_eq!(i.locations, ["SUB-481"]);
    assert_eq!(i.forecasts, ["SUB-481"]);
    press(&mut app, KeyCode::Tab);
    press(&mut app, KeyCode::Tab);
    assert_eq!(app.view, View::Alarms);
    assert!(app.interest().locations.is_empty());
}

#[test]
fn substation_gone_from_store_moves_selection() {
    let mut app = app();
    app.update(Msg::Substations((1..8).map(|i| testing::state(i, t0())).collect()));
    assert_eq!(app.subs.len(), 7);
    assert_eq!(app.selected.as_deref(), Some("Bayview"));
}

#[test]
fn rollups_merge_by_hour() {
    let mut app = app();
    let before = app.subs["Bayview"].history.len();
    let mut r = testing::history(1, t0(), 1).pop().unwrap();
    r.load_avg_mw = 1.0;
    app.update(Msg::Rollups { location: "Bayview".into(), rollups: vec![r.clone()] });
    assert_eq!(app.subs["Bayview"].history.len(), before, "same hour replaced, not duplicated");
    assert_eq!(app.subs["Bayview"].history[&r.timestamp].load_avg_mw, 1.0);
    // Unknown substations are ignored.
    app.update(Msg::Rollups { location: "nowhere".into(), rollups: vec![r] });
    assert!(!app.subs.contains_key("nowhere"));
}

#[test]
fn custom_keymap_applies() {
    let keys = KeyMap::from_toml_str("reprocess = \"R\"\nquit = \"x\"", "test").unwrap();
    let mut app = by_name(sample_app(AppConfig { keys, ..AppConfig::default() }, 8));
    ch(&mut app, 'r');
    assert!(app.confirm.is_none());
    ch(&mut app, 'R');
    assert!(app.confirm.is_some());
    ch(&mut app, 'n');
    assert!(ch(&mut app, 'q').is_empty());
    assert_eq!(ch(&mut app, 'x'), vec![Command::Quit]);
    let text = screen_text(&render_to_test_backend(&app, 80, 24));
    assert!(text.contains("R:reprocess") && text.contains("x:quit"), "{text}");
}

#[test]
fn redraw_only_when_something_changed() {
    let mut app = app();
    assert!(!app.dirty);
    // The same data again changes nothing on screen.
    app.update(Msg::Substations((0..8).map(|i| testing::state(i, t0())).collect()));
    app.update(Msg::Alerts(testing::alerts(t0())));
    app.update(Msg::Logs(vec![]));
    app.update(Msg::StoreOk);
    assert!(!app.dirty);
    app.update(Msg::Tick(t0()));
    assert!(app.dirty);
}

// ---- time cursor -------------------------------------------------------------------

/// The sample data seen 200 days later (an archive, the January sample data).
fn old_app() -> App {
    let mut app = by_name(sample_app(AppConfig::default(), 8));
    app.update(Msg::Tick(t0() + Duration::days(200)));
    app
}

#[test]
fn stored_history_anchors_at_the_newest_data() {
    let mut app = old_app();
    let newest = t0() - Duration::minutes(5);
    let w = app.window();
    assert_eq!(w.mode, WindowMode::Newest(newest));
    assert_eq!((w.start, w.end), (newest - Duration::hours(24), newest));
    // Staleness against each substation's own data, not the wall clock: only Granite
    // Falls (quiet for 2 h before the others) is stale, as at t0.
    let stale: Vec<_> = app.subs.values().filter(|s| app.is_stale(s)).map(|s| s.name.as_str()).collect();
    assert_eq!(stale, ["Granite Falls"]);
    assert_eq!(app.interest().end, None, "following: the poller anchors the same way");
    app.update(Msg::Resize(120, 30));
    let text = screen_text(&render_to_test_backend(&app, 120, 30));
    assert!(text.lines().next().unwrap().contains("history · newest 2025-06-01 11:55 · 24h"), "{text}");
    assert!(text.contains("2h STALE") && !text.contains("200d"), "{text}");
}

#[test]
fn fresh_data_follows_live() {
    let app = app();
    let w = app.window();
    assert_eq!((w.end, w.mode), (t0(), WindowMode::Live));
    let text = screen_text(&render_to_test_backend(&app, 80, 24));
    assert!(text.lines().next().unwrap().contains("24h 06-01 12:00"), "{text}");
    assert!(!text.contains("history"));
}

#[test]
fn moving_back_and_forward_and_returning_to_live() {
    let mut app = app();
    ch(&mut app, '[');
    assert_eq!(app.cursor.follow, Follow::At(t0() - Duration::hours(12)));
    assert_eq!(app.window().mode, WindowMode::Pinned);
    assert_eq!(app.interest().end, Some(t0() - Duration::hours(12)));
    ch(&mut app, '[');
    assert_eq!(app.cursor.follow, Follow::At(t0() - Duration::hours(24)));
    let text = screen_text(&render_to_test_backend(&app, 80, 24));
    assert!(text.contains("hist 05-31 12:00 24h"), "{text}");
    assert!(text.contains("L:live"), "the key bar offers the way back: {text}");
    ch(&mut app, ']');
    ch(&mut app, ']');
    assert_eq!(app.cursor.follow, Follow::Live, "forward to now follows again");
    ch(&mut app, '[');
    ch(&mut app, 'L');
    assert_eq!(app.cursor.follow, Follow::Live);
    assert_eq!(app.interest().end, None);
    // Granite Falls (quiet since 09:45) had data at the end of a window 6 h back.
    ch(&mut app, '[');
    let granite = &app.subs["Granite Falls"];
    assert!(!app.is_stale(granite), "not stale at 00:00");
}

#[test]
fn goto_jumps_and_bad_times_say_why() {
    let mut app = app();
    ch(&mut app, ':');
    assert_eq!(app.prompt, Some(Prompt::Command));
    type_text(&mut app, "goto 2025-05-30 06:00");
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.prompt, None);
    assert_eq!(app.cursor.follow, Follow::At(t0() - Duration::hours(42)), "centred: 05-30 18:00");
    assert_eq!(app.crosshair, Some(t0() - Duration::hours(54)));
    ch(&mut app, ':');
    type_text(&mut app, "goto yesterday");
    press(&mut app, KeyCode::Enter);
    let s = app.status.clone().unwrap();
    assert_eq!(s.level, StatusLevel::Error);
    assert!(s.text.contains("\"yesterday\" is not a time"), "{}", s.text);
    ch(&mut app, ':');
    type_text(&mut app, "live");
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.cursor.follow, Follow::Live);
    ch(&mut app, ':');
    type_text(&mut app, "zoom 7d");
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.cursor.zoom, Zoom::Week);
    ch(&mut app, ':');
    type_text(&mut app, "frobnicate");
    press(&mut app, KeyCode::Enter);
    assert!(app.status.clone().unwrap().text.contains("unknown command \"frobnicate\""));
    // Esc abandons a command.
    ch(&mut app, ':');
    type_text(&mut app, "zoom 1h");
    press(&mut app, KeyCode::Esc);
    assert_eq!((app.prompt, app.cursor.zoom), (None, Zoom::Week));
}

#[test]
fn zoom_from_one_hour_to_thirty_days() {
    let mut app = app();
    ch(&mut app, '+');
    assert_eq!(app.cursor.zoom, Zoom::SixHours);
    ch(&mut app, '+');
    ch(&mut app, '+');
    assert_eq!(app.cursor.zoom, Zoom::Hour, "stops at 1 h");
    for _ in 0..6 {
        ch(&mut app, '-');
    }
    assert_eq!(app.cursor.zoom, Zoom::Month, "stops at 30 d");
    assert_eq!(app.interest().span, Duration::days(30));
    // A pinned window keeps its end when zooming.
    ch(&mut app, '[');
    let end = app.window().end;
    ch(&mut app, '+');
    assert_eq!(app.window().end, end);
}

// ---- overview order ------------------------------------------------------------------

#[test]
fn worst_first_by_default_then_load_name_age() {
    let mut app = sample_app(AppConfig::default(), 8);
    let order = |app: &App| app.visible_subs().iter().map(|s| s.name.clone()).collect::<Vec<_>>();
    assert_eq!(app.sort, SortKey::Worst);
    let o = order(&app);
    assert_eq!(o[..3], ["Cedar Ridge", "Fairmont", "Granite Falls"], "critical, warning, stale");
    assert_eq!(app.selected.as_deref(), Some("Cedar Ridge"), "the worst is selected first");
    ch(&mut app, 's');
    assert_eq!(app.sort, SortKey::Load);
    let loads: Vec<f64> = app.visible_subs().iter().map(|s| s.state.latest.load_avg_mw).collect();
    assert!(loads.windows(2).all(|w| w[0] >= w[1]), "{loads:?}");
    ch(&mut app, 's');
    assert_eq!(order(&app)[0], "Ashford North");
    ch(&mut app, 's');
    assert_eq!(order(&app)[0], "Granite Falls", "oldest data first");
    let text = screen_text(&render_to_test_backend(&app, 80, 24));
    assert!(text.contains("sorted by age"), "{text}");
}

// ---- detail crosshair ----------------------------------------------------------------

#[test]
fn crosshair_steps_by_hour_and_shows_exact_values() {
    let mut app = app();
    ch(&mut app, 'j');
    ch(&mut app, 'j');
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.selected.as_deref(), Some("Cedar Ridge"));
    press(&mut app, KeyCode::Left);
    assert_eq!(app.crosshair, Some(t0() - Duration::hours(1)), "starts at the newest full hour");
    press(&mut app, KeyCode::Left);
    assert_eq!(app.crosshair, Some(t0() - Duration::hours(2)));
    let r = app.subs["Cedar Ridge"].history[&(t0() - Duration::hours(2))].clone();
    let text = screen_text(&render_to_test_backend(&app, 100, 30));
    assert!(text.contains(&format!("06-01 10:00  load {:.1} MW gen {:.1}", r.load_avg_mw, r.generation_avg_mw)), "{text}");
    assert!(text.contains(&format!("V {:.2} ({:.2}-{:.2})", r.voltage_avg_kv, r.voltage_min_kv, r.voltage_max_kv)));
    assert!(text.contains("alarms: undervoltage"), "the sag was active then: {text}");
    for _ in 0..40 {
        press(&mut app, KeyCode::Left);
    }
    assert_eq!(app.crosshair, Some(t0() - Duration::hours(24)), "stays in the window");
    press(&mut app, KeyCode::Esc);
    assert_eq!((app.crosshair, app.view), (None, View::Detail), "Esc drops the crosshair first");
}

// ---- export ----------------------------------------------------------------------------

#[test]
fn export_writes_the_current_view() {
    let dir = std::path::PathBuf::from("/tmp/exports");
    let mut app = by_name(sample_app(AppConfig { export_dir: dir.clone(), ..AppConfig::default() }, 8));
    let cmds = ch(&mut app, 'e');
    let [Command::Export { path, contents }] = cmds.as_slice() else { panic!("{cmds:?}") };
    assert_eq!(path, &dir.join("gridwatch-overview-20250601T1200.csv"));
    let lines: Vec<&str> = contents.lines().collect();
    assert_eq!(lines.len(), 1 + 8);
    assert!(lines[0].starts_with("substation,status,stale,load_mw"));
    assert!(lines[1].starts_with("Ashford North,normal,false,"), "{}", lines[1]);
    // The detail view: the window's hours and the forecast after it.
    press(&mut app, KeyCode::Enter);
    let cmds = ch(&mut app, 'e');
    let [Command::Export { path, contents }] = cmds.as_slice() else { panic!("{cmds:?}") };
    assert!(path.ends_with("gridwatch-detail-Ashford_North-20250601T1200.csv"));
    assert_eq!(contents.lines().count(), 1 + 24 + 24, "header, 24 h, 24 forecast points");
    app.update(Msg::Exported(Ok("exported 49 lines to /tmp/exports/x.csv".into())));
    assert!(app.status.clone().unwrap().text.contains("/tmp/exports/x.csv"));
    app.update(Msg::Exported(Err("/nope/x.csv: Permission denied".into())));
    let s = app.status.clone().unwrap();
    assert_eq!((s.level, s.text.as_str()), (StatusLevel::Error, "export failed: /nope/x.csv: Permission denied"));
}

// ---- logs ---------------------------------------------------------------------------

#[test]
fn logs_filter_by_level_and_substation_and_search() {
    let mut app = app();
    press(&mut app, KeyCode::BackTab);
    assert_eq!(app.view, View::Logs);
    assert_eq!(app.visible_logs().len(), 30);
    ch(&mut app, 'v');
    ch(&mut app, 'v');
    assert_eq!(app.log_level, LogLevel::Warn);
    assert_eq!(app.visible_logs().len(), 6, "3 warn + 3 error of 30");
    ch(&mut app, 'v');
    assert_eq!(app.visible_logs().len(), 3);
    ch(&mut app, 'v');
    assert_eq!(app.log_level, LogLevel::Debug);
    // Only the selected substation (Ashford North -> "ashford").
    app.update(Msg::Logs(vec![LogLine { timestamp: t0(), level: LogLevel::Info, message: "Ashford North: 4 rows".into() }]));
    ch(&mut app, 'o');
    assert_eq!(app.visible_logs().len(), 4 + 1, "lines 0, 8, 16, 24 of the sample name it, and the new one");
    ch(&mut app, 'o');
    // Search: the newest match at or above the bottom, then n/N.
    ch(&mut app, 'f');
    assert_eq!(app.prompt, Some(Prompt::Search));
    type_text(&mut app, "delta");
    press(&mut app, KeyCode::Enter);
    let lines = app.visible_logs();
    let hits: Vec<usize> =
        lines.iter().enumerate().filter(|(_, l)| l.message.contains("delta")).map(|(i, _)| i).collect();
    let n = lines.len();
    assert_eq!(hits.len(), 4, "delta is every 8th line");
    assert_eq!(app.log_scroll, n - 1 - hits[3]);
    ch(&mut app, 'N');
    assert_eq!(app.log_scroll, n - 1 - hits[2]);
    ch(&mut app, 'n');
    assert_eq!(app.log_scroll, n - 1 - hits[3]);
    assert!(app.status.clone().unwrap().text.contains("match 4 of 4"));
    // Wrap and sideways scroll.
    press(&mut app, KeyCode::Right);
    assert_eq!(app.log_hscroll, 8);
    ch(&mut app, 'w');
    assert!(app.log_wrap);
    assert_eq!(app.log_hscroll, 0);
    press(&mut app, KeyCode::Esc);
    assert!(app.log_search.is_empty(), "Esc clears the search first");
}

// ---- what the poller is asked for -------------------------------------------------------

#[test]
fn fleet_panel_and_heatmap_ask_for_what_they_draw() {
    let mut app = app();
    app.update(Msg::Resize(80, 24));
    assert!(app.overview_split().1 > 0, "8 rows leave room for the fleet panel at 80x24");
    let i = app.interest();
    assert_eq!(i.locations.len(), 8, "the fleet panel sums every substation");
    assert_eq!(i.forecasts.len(), 8);
    press(&mut app, KeyCode::Tab);
    press(&mut app, KeyCode::Tab);
    assert_eq!(app.view, View::Heatmap);
    let i = app.interest();
    assert_eq!(i.span, Duration::days(7), "the heatmap needs days");
    assert!(i.locations.contains(&"Ashford North".to_string()));
    assert!(i.forecasts.is_empty());
    ch(&mut app, 'F');
    assert_eq!(app.interest().locations.len(), 8);
}

// ---- mouse (off by default; `mouse` in AppConfig) ----

fn mouse(app: &mut App, kind: crossterm::event::MouseEventKind, column: u16, row: u16) -> Vec<Command> {
    app.update(Msg::Mouse(crossterm::event::MouseEvent { kind, column, row, modifiers: KeyModifiers::NONE }))
}

fn click(app: &mut App, (x, y): (u16, u16)) -> Vec<Command> {
    mouse(app, crossterm::event::MouseEventKind::Down(crossterm::event::MouseButton::Left), x, y)
}

/// Where `text` is drawn on `app`'s screen (column, row of its first cell): the clicks
/// below aim at what is drawn, so a click handler that disagrees with the views fails.
fn drawn_at(app: &App, text: &str) -> (u16, u16) {
    let term = render_to_test_backend(app, app.size.0, app.size.1);
    let buf = term.backend().buffer();
    let want: Vec<String> = text.chars().map(String::from).collect();
    for y in 0..buf.area.height {
        for x in 0..buf.area.width.saturating_sub(want.len() as u16 - 1) {
            if want.iter().enumerate().all(|(i, c)| buf[(x + i as u16, y)].symbol() == c) {
                return (x, y);
            }
        }
    }
    panic!("{text:?} is not on screen:\n{}", screen_text(&term));
}

fn mouse_app(n: usize) -> App {
    let mut app = by_name(sample_app(AppConfig { mouse: true, ..AppConfig::default() }, n));
    app.update(Msg::Resize(80, 24));
    app
}

#[test]
fn mouse_is_ignored_unless_turned_on() {
    let mut app = app();
    let at = drawn_at(&app, "Cedar Ridge");
    click(&mut app, at);
    mouse(&mut app, crossterm::event::MouseEventKind::ScrollDown, 0, 5);
    assert_eq!(app.selected.as_deref(), Some("Ashford North"));
    let logs = drawn_at(&app, "Logs");
    click(&mut app, logs);
    assert_eq!(app.view, View::Overview);
}

#[test]
fn mouse_click_selects_a_row_then_opens_it() {
    let mut app = mouse_app(8);
    let at = drawn_at(&app, "Cedar Ridge");
    assert!(click(&mut app, at).is_empty());
    assert_eq!(app.selected.as_deref(), Some("Cedar Ridge"));
    assert_eq!(app.view, View::Overview);
    // The row below the last substation (the legend, the fleet panel) selects nothing.
    let below = drawn_at(&app, "Harbor Point");
    click(&mut app, (below.0, below.1 + 1));
    assert_eq!(app.selected.as_deref(), Some("Cedar Ridge"));
    // A second click on the selected row opens it, as Enter does.
    click(&mut app, at);
    assert_eq!(app.view, View::Detail);
    assert_eq!(app.selected.as_deref(), Some("Cedar Ridge"));
}

#[test]
fn mouse_click_on_a_tab_opens_that_view() {
    let mut app = mouse_app(8);
    for (tab, view) in [("Logs", View::Logs), ("Alarms(", View::Alarms), ("Heatmap", View::Heatmap), ("Overview", View::Overview)] {
        let at = drawn_at(&app, tab);
        assert_eq!(at.1, 0, "{tab} is in the title bar");
        click(&mut app, at);
        assert_eq!(app.view, view, "click on {tab}");
        // The last column of the label hits too (the tab is drawn as `[Label]` or ` Label `).
        let at = drawn_at(&app, tab);
        click(&mut app, (at.0 + tab.len() as u16 - 1, 0));
        assert_eq!(app.view, view, "click on the end of {tab}");
    }
    // The product name left of the tabs is no tab.
    click(&mut app, (1, 0));
    assert_eq!(app.view, View::Overview);
}

#[test]
fn mouse_click_in_a_scrolled_list_selects_the_row_drawn() {
    let mut app = mouse_app(500);
    app.update(Msg::Resize(120, 30));
    for _ in 0..200 {
        ch(&mut app, 'j');
    }
    assert!(app.overview_offset > 100, "the list is scrolled ({})", app.overview_offset);
    let target = app.visible_subs()[app.overview_offset + 3].name.clone();
    let at = drawn_at(&app, &target);
    click(&mut app, at);
    assert_eq!(app.selected.as_deref(), Some(target.as_str()));
}

#[test]
fn mouse_selects_alarms_and_wheel_scrolls() {
    let mut app = mouse_app(8);
    press(&mut app, KeyCode::Tab);
    press(&mut app, KeyCode::Tab);
    press(&mut app, KeyCode::Tab);
    assert_eq!(app.view, View::Alarms);
    let list = app.visible_alarms();
    // A row whose substation is listed once, so the text found is that row.
    let second = list[1..].iter().find(|a| list.iter().filter(|b| b.name == a.name).count() == 1).map(|a| (*a).clone());
    let second = second.expect("an alarm of a substation listed once");
    let at = drawn_at(&app, &second.name);
    click(&mut app, at);
    assert_eq!(app.alarm_selected.as_deref(), Some(second.id.as_str()));
    // The wheel moves the selection like Up/Down.
    mouse(&mut app, crossterm::event::MouseEventKind::ScrollUp, 10, 10);
    let above = app.visible_alarms().iter().position(|a| a.id == second.id).unwrap() - 1;
    assert_eq!(app.alarm_selected, Some(app.visible_alarms()[above].id.clone()));
    // In the log one notch is three lines back in time, and down again follows.
    let tab = drawn_at(&app, "Logs");
    click(&mut app, tab);
    app.update(Msg::Logs(testing::log_lines(t0())));
    assert_eq!(app.log_scroll, 0);
    mouse(&mut app, crossterm::event::MouseEventKind::ScrollUp, 10, 10);
    assert_eq!(app.log_scroll, gridwatch::tui::app::WHEEL_LOG_LINES as usize);
    mouse(&mut app, crossterm::event::MouseEventKind::ScrollDown, 10, 10);
    assert_eq!(app.log_scroll, 0);
}

#[test]
fn mouse_waits_for_dialogs_and_closes_help() {
    let mut app = mouse_app(8);
    let at = drawn_at(&app, "Cedar Ridge");
    ch(&mut app, '/');
    click(&mut app, at);
    assert_eq!(app.selected.as_deref(), Some("Ashford North"), "the filter prompt is open");
    press(&mut app, KeyCode::Esc);
    ch(&mut app, '?');
    assert!(app.help);
    click(&mut app, at);
    assert!(!app.help, "a click closes help");
    assert_eq!(app.selected.as_deref(), Some("Ashford North"), "and does nothing else");
    ch(&mut app, 'r');
    assert!(app.confirm.is_some());
    click(&mut app, at);
    assert!(app.confirm.is_some() && app.selected.as_deref() == Some("Ashford North"));
}

// ---- several sources (`:source NAME`) ----

fn sourced_app() -> App {
    let cfg = AppConfig {
        source: "local".into(),
        sources: vec!["local".into(), "prod".into()],
        title: "gridwatch [local] local: /data".into(),
        ..AppConfig::default()
    };
    by_name(sample_app(cfg, 8))
}

fn command(app: &mut App, line: &str) -> Vec<Command> {
    ch(app, ':');
    type_text(app, line);
    press(app, KeyCode::Enter)
}

#[test]
fn source_command_lists_health_and_asks_to_switch() {
    let mut app = sourced_app();
    app.update(Msg::StoreOk);
    assert!(command(&mut app, "source").is_empty());
    let text = app.status.as_ref().unwrap().text.clone();
    assert!(text.contains("*local (ok)") && text.contains("prod (not watched yet)"), "{text}");
    assert!(command(&mut app, "source local").is_empty(), "already watching it");
    let cmds = command(&mut app, "source staging");
    assert!(cmds.is_empty());
    assert_eq!(app.status.as_ref().unwrap().level, StatusLevel::Error);
    assert!(app.status.as_ref().unwrap().text.contains("local, prod"));
    assert_eq!(command(&mut app, "source prod"), vec![Command::SwitchSource("prod".into())]);
    // Nothing changes until the UI loop has connected.
    assert_eq!(app.cfg.source, "local");
    assert_eq!(app.subs.len(), 8);
}

#[test]
fn switching_source_starts_over_on_its_data_and_keeps_the_operators_choices() {
    let mut app = sourced_app();
    ch(&mut app, 's'); // sort: load
    ch(&mut app, '-'); // zoom out: 7 d
    press(&mut app, KeyCode::Tab);
    press(&mut app, KeyCode::Tab);
    assert_eq!(app.view, View::Heatmap);
    let (sort, zoom) = (app.sort, app.cursor.zoom);
    app.update(Msg::StoreError { error: "timeout".into(), retry_in: std::time::Duration::from_secs(2), attempt: 3 });
    assert!(app.banner.is_some());
    app.update(Msg::SourceSwitched { name: "prod".into(), title: "gridwatch [prod] aws: T (us-east-1, http://127.0.0.1:5000)".into(), store_name: "aws: T".into() });
    assert_eq!(app.cfg.source, "prod");
    assert!(app.subs.is_empty() && app.alarms.is_empty() && app.logs.is_empty() && app.alert_log.is_empty());
    assert!(app.banner.is_none(), "the old source's error is not the new one's");
    assert_eq!((app.view, app.sort, app.cursor.zoom), (View::Heatmap, sort, zoom));
    assert!(app.cfg.title.contains("127.0.0.1:5000"));
    // Each source keeps its own health.
    app.update(Msg::StoreOk);
    command(&mut app, "source");
    let text = app.status.as_ref().unwrap().text.clone();
    assert!(text.contains("local (error (attempt 3): timeout)") && text.contains("*prod (ok)"), "{text}");
    // The new source's data arrives as any poll's.
    app.update(Msg::Substations(vec![testing::state(2, t0())]));
    assert_eq!(app.subs.len(), 1);
    // The title bar names the source and its endpoint.
    let screen = screen_text(&render_to_test_backend(&app, 140, 30));
    assert!(screen.lines().next().unwrap().contains("[prod] aws: T (us-east-1, http://127.0.0.1:5000)"), "{screen}");
}

#[test]
fn a_source_that_cannot_connect_leaves_the_current_one() {
    let mut app = sourced_app();
    app.update(Msg::SourceFailed { name: "prod".into(), error: "no credentials".into() });
    assert_eq!(app.cfg.source, "local");
    assert_eq!(app.subs.len(), 8);
    let s = app.status.clone().unwrap();
    assert_eq!(s.level, StatusLevel::Error);
    assert!(s.text.contains("prod") && s.text.contains("no credentials"), "{}", s.text);
    command(&mut app, "source");
    assert!(app.status.as_ref().unwrap().text.contains("prod (cannot connect: no credentials)"));
}

#[test]
fn source_without_configured_sources_says_how() {
    let mut app = app();
    assert!(command(&mut app, "source prod").is_empty());
    assert!(app.status.as_ref().unwrap().text.contains("[[dashboard.sources]]"));
}
