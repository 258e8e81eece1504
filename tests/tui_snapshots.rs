//! Snapshot tests of every dashboard view on ratatui's TestBackend, with fixed data and
//! a fixed clock. Review changes with `INSTA_UPDATE=always cargo test --test tui_snapshots`
//! and read the .snap diff; CI (CI=true) fails on any difference or missing snapshot.
#![cfg(feature = "tui")]

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use gridwatch::backend::LogLevel;
use gridwatch::backend::LogLine;
use gridwatch::tui::app::{App, AppConfig, View};
use gridwatch::tui::msg::Msg;
use gridwatch::tui::testing::{render_to_test_backend, sample_app, screen_text, t0};
use gridwatch::tui::theme::Theme;
use ratatui::style::Color;

fn cfg(color: bool, ascii: bool) -> AppConfig {
    AppConfig {
        theme: Theme::new(color, ascii),
        title: "demo".into(),
        store_name: "fake: in memory".into(),
        ..AppConfig::default()
    }
}

fn app(color: bool, ascii: bool) -> App {
    sample_app(cfg(color, ascii), 8)
}

fn key(app: &mut App, code: KeyCode) {
    app.update(Msg::Key(KeyEvent::new(code, KeyModifiers::NONE)));
}

/// Tells the app its size (as a resize event would), then renders.
fn snap(app: &mut App, w: u16, h: u16) -> ratatui::Terminal<ratatui::backend::TestBackend> {
    app.update(Msg::Resize(w, h));
    render_to_test_backend(app, w, h)
}

fn assert_all_ascii(term: &ratatui::Terminal<ratatui::backend::TestBackend>) {
    for (i, c) in term.backend().buffer().content.iter().enumerate() {
        assert!(c.symbol().is_ascii(), "cell {i} holds non-ASCII {:?}", c.symbol());
    }
}

fn assert_no_colour(term: &ratatui::Terminal<ratatui::backend::TestBackend>) {
    for (i, c) in term.backend().buffer().content.iter().enumerate() {
        assert_eq!((c.fg, c.bg), (Color::Reset, Color::Reset), "cell {i} {:?} is coloured", c.symbol());
    }
}

fn has_colour(term: &ratatui::Terminal<ratatui::backend::TestBackend>) -> bool {
    term.backend().buffer().content.iter().any(|c| c.fg != Color::Reset || c.bg != Color::Reset)
}

#[test]
fn overview_80x24() {
    let mut app = app(true, false);
    let term = snap(&mut app, 80, 24);
    insta::assert_snapshot!(term.backend());
    // The colour mode really colours (so the NO_COLOR test below can fail).
    assert!(has_colour(&term));
    let text = screen_text(&term);
    assert!(text.contains("STALE"), "Granite Falls stopped reporting 2 h ago");
    assert!(text.contains("✖ crit") && text.contains("▲ warn") && text.contains("✓ ok"));
}

#[test]
fn overview_no_color() {
    let mut app = app(false, false);
    let term = snap(&mut app, 80, 24);
    insta::assert_snapshot!(term.backend());
    assert_no_colour(&term);
    // Status still readable without colour.
    assert!(screen_text(&term).contains("crit"));
}

#[test]
fn overview_ascii() {
    let mut app = app(true, true);
    let term = snap(&mut app, 80, 24);
    insta::assert_snapshot!(term.backend());
    assert_all_ascii(&term);
}

#[test]
fn overview_minimum_60x16() {
    let mut app = app(true, false);
    insta::assert_snapshot!(snap(&mut app, 60, 16).backend());
}

#[test]
fn overview_too_small() {
    let mut app = app(true, false);
    let term = snap(&mut app, 40, 10);
    insta::assert_snapshot!(term.backend());
    assert!(screen_text(&term).contains("terminal too small"));
}

#[test]
fn overview_wide_7d() {
    let mut app = app(true, false);
    key(&mut app, KeyCode::Char('t'));
    insta::assert_snapshot!(snap(&mut app, 120, 30).backend());
}

#[test]
fn overview_filtered() {
    let mut app = app(true, false);
    key(&mut app, KeyCode::Char('/'));
    for c in "ar".chars() {
        key(&mut app, KeyCode::Char(c));
    }
    insta::assert_snapshot!(snap(&mut app, 80, 24).backend());
}

#[test]
fn overview_500_scrolled() {
    let mut app = sample_app(cfg(true, false), 500);
    key(&mut app, KeyCode::End);
    let term = snap(&mut app, 80, 24);
    insta::assert_snapshot!(term.backend());
    assert!(screen_text(&term).contains("> "), "selection visible after scrolling");
}

#[test]
fn detail_80x24() {
    let mut app = app(true, false);
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.view, View::Detail);
    insta::assert_snapshot!(snap(&mut app, 80, 24).backend());
}

#[test]
fn detail_with_alarm_ascii() {
    // Worst first: Cedar Ridge (the active sag) is the first row.
    let mut app = app(true, true);
    key(&mut app, KeyCode::Enter);
    let term = snap(&mut app, 80, 24);
    insta::assert_snapshot!(term.backend());
    assert_all_ascii(&term);
    assert!(screen_text(&term).contains("Cedar Ridge"));
}

#[test]
fn detail_no_color() {
    let mut app = app(false, false);
    key(&mut app, KeyCode::Enter);
    let term = snap(&mut app, 80, 24);
    insta::assert_snapshot!(term.backend());
    assert_no_colour(&term);
}

#[test]
fn detail_too_small() {
    let mut app = app(true, false);
    key(&mut app, KeyCode::Enter);
    insta::assert_snapshot!(snap(&mut app, 59, 20).backend());
}

#[test]
fn alarms_80x24() {
    let mut app = app(true, false);
    key(&mut app, KeyCode::Tab);
    key(&mut app, KeyCode::Tab);
    key(&mut app, KeyCode::Tab);
    assert_eq!(app.view, View::Alarms);
    let term = snap(&mut app, 80, 24);
    insta::assert_snapshot!(term.backend());
    let text = screen_text(&term);
    for s in ["UNACK", "RTN-UNACK", "ACKED", "/h avg", "Activated"] {
        assert!(text.contains(s), "{s} missing");
    }
}

/// Shelved, out of service and a flood: the states an operator sets, with the banner.
fn operator_app(color: bool, ascii: bool) -> App {
    use gridwatch::store::operator::OperatorState;
    let mut app = app(color, ascii);
    let mut ops = gridwatch::tui::testing::operator_states(t0());
    ops.push(OperatorState {
        location: "Cedar Ridge".into(),
        rule: Some(gridwatch::model::AlertRule::Undervoltage),
        shelved_until: Some(t0() + chrono::Duration::minutes(45)),
        by: "ana".into(),
        at: Some(t0() - chrono::Duration::minutes(15)),
        ..Default::default()
    });
    ops.push(OperatorState {
        location: "Eastport".into(),
        rule: None,
        out_of_service: true,
        by: "ben".into(),
        at: Some(t0() - chrono::Duration::hours(1)),
        reason: "breaker maintenance".into(),
        ..Default::default()
    });
    app.update(Msg::OperatorStates(ops));
    // Twelve low-priority no-data alarms within 10 minutes at one substation: a flood.
    let base = gridwatch::tui::testing::alerts(t0())[2].clone();
    let burst = (0..12)
        .map(|k| {
            let mut a = base.clone();
            a.location = "Bayview".into();
            a.rule = gridwatch::model::AlertRule::NoData;
            a.worst_value = 30.0;
            a.started_at = t0() - chrono::Duration::minutes(30) - chrono::Duration::seconds(45 * k);
            a.activated_at = a.started_at;
            a.ended_at = a.started_at;
            a
        })
        .collect();
    app.update(Msg::Alerts(burst));
    for _ in 0..3 {
        key(&mut app, KeyCode::Tab);
    }
    assert_eq!(app.view, View::Alarms);
    app
}

#[test]
fn alarms_shelved_oos_flood_80x24() {
    let mut app = operator_app(true, false);
    let term = snap(&mut app, 80, 24);
    insta::assert_snapshot!(term.backend());
    let text = screen_text(&term);
    assert!(text.lines().nth(1).unwrap().contains("ALARM FLOOD: 12 in 10 min"), "{text}");
    for s in ["SHELVED", "OOS", "12 rtn-unack"] {
        assert!(text.contains(s), "{s} missing:\n{text}");
    }
    // The banner is highlighted.
    let buf = term.backend().buffer();
    assert_ne!(buf[(3, 1)].bg, Color::Reset, "flood banner has a background");
}

#[test]
fn alarms_shelved_oos_flood_wide_ascii_no_color() {
    let mut app = operator_app(false, true);
    // Select the out-of-service one: the footer says who took it out and why.
    let id = app.alarms.iter().find(|a| a.alert.location == "Eastport").unwrap().id.clone();
    app.alarm_selected = Some(id);
    let term = snap(&mut app, 140, 30);
    insta::assert_snapshot!(term.backend());
    assert_all_ascii(&term);
    assert_no_colour(&term);
    let text = screen_text(&term);
    assert!(text.contains("ALARM FLOOD: 12 in 10 min"));
    assert!(text.contains("out of service by ben 06-01 11:00: breaker maintenance"), "{text}");
}

#[test]
fn alarms_ascii_no_color() {
    let mut app = app(false, true);
    key(&mut app, KeyCode::BackTab);
    key(&mut app, KeyCode::BackTab);
    assert_eq!(app.view, View::Alarms);
    let term = snap(&mut app, 80, 24);
    insta::assert_snapshot!(term.backend());
    assert_all_ascii(&term);
    assert_no_colour(&term);
}

#[test]
fn logs_80x24() {
    let mut app = app(true, false);
    key(&mut app, KeyCode::BackTab);
    assert_eq!(app.view, View::Logs);
    insta::assert_snapshot!(snap(&mut app, 80, 24).backend());
}

#[test]
fn logs_with_escape_sequences() {
    let mut app = app(true, false);
    key(&mut app, KeyCode::BackTab);
    app.update(Msg::Logs(vec![
        LogLine {
            timestamp: t0(),
            level: LogLevel::Error,
            message: "\u{1b}[31mred\u{1b}[0m \u{1b}]0;pwned title\u{7} bell\u{7} clear\u{1b}[2J\u{1b}[H cr\rlf\n\u{9b}1;1Hc1 \u{1b}P+q\u{1b}\\ end"
                .into(),
        },
        LogLine { timestamp: t0(), level: LogLevel::Warn, message: "tab\there \u{202e}reversed\u{202c} ok".into() },
    ]));
    let term = snap(&mut app, 80, 24);
    insta::assert_snapshot!(term.backend());
    for c in term.backend().buffer().content.iter() {
        assert!(!c.symbol().contains('\u{1b}'), "ESC reached the screen");
        assert!(!c.symbol().chars().any(|ch| ch.is_control()), "control char {:?} reached the screen", c.symbol());
    }
    let text = screen_text(&term);
    assert!(text.contains("red  bell clear crlf") || text.contains("red"), "{text}");
    assert!(!text.contains("pwned"), "OSC payload must be dropped");
}

#[test]
fn logs_filtered_paused() {
    let mut app = app(true, false);
    key(&mut app, KeyCode::BackTab);
    key(&mut app, KeyCode::Char('/'));
    for c in "bayview".chars() {
        key(&mut app, KeyCode::Char(c));
    }
    key(&mut app, KeyCode::Enter);
    key(&mut app, KeyCode::Char('p'));
    app.update(Msg::Logs(vec![LogLine { timestamp: t0(), level: LogLevel::Info, message: "bayview new".into() }]));
    insta::assert_snapshot!(snap(&mut app, 80, 24).backend());
}

#[test]
fn help_overlay_80x24() {
    let mut app = app(true, false);
    key(&mut app, KeyCode::Char('?'));
    assert!(app.help);
    insta::assert_snapshot!(snap(&mut app, 80, 24).backend());
}

#[test]
fn help_overlay_ascii_minimum() {
    let mut app = app(false, true);
    key(&mut app, KeyCode::Char('?'));
    let term = snap(&mut app, 60, 16);
    insta::assert_snapshot!(term.backend());
    assert_all_ascii(&term);
}

#[test]
fn confirm_dialog_80x24() {
    let mut app = app(true, false);
    key(&mut app, KeyCode::Char('r'));
    assert!(app.confirm.is_some());
    insta::assert_snapshot!(snap(&mut app, 80, 24).backend());
}

#[test]
fn error_banner_80x24() {
    let mut app = app(true, false);
    app.update(Msg::StoreError {
        error: "database is locked\u{1b}[2J".into(),
        retry_in: std::time::Duration::from_secs(4),
        attempt: 3,
    });
    let term = snap(&mut app, 80, 24);
    insta::assert_snapshot!(term.backend());
    assert!(screen_text(&term).contains("store error: database is locked - retrying in 4s (attempt 3)"));
}

#[test]
fn empty_store_waiting() {
    let mut app = App::new(cfg(true, false), t0());
    insta::assert_snapshot!(snap(&mut app, 80, 24).backend());
}

#[test]
fn hostile_substation_name() {
    let mut app = App::new(cfg(true, false), t0());
    let mut s = gridwatch::tui::testing::state(0, t0());
    s.location = "Evil\u{1b}]0;owned\u{7}\u{1b}[5mBlink\r".into();
    s.latest.location = s.location.clone();
    app.update(Msg::Substations(vec![s]));
    let term = snap(&mut app, 80, 24);
    let text = screen_text(&term);
    assert!(text.contains("EvilBlink"), "{text}");
    assert!(!text.contains("owned"));
    for c in term.backend().buffer().content.iter() {
        assert!(!c.symbol().chars().any(|ch| ch.is_control()));
    }
}

// ---- time cursor, fleet panel, heatmap, crosshair, logs ----------------------------------

fn chars(app: &mut App, s: &str) {
    for c in s.chars() {
        key(app, KeyCode::Char(c));
    }
}

/// The sample seen 200 days later: stored history, anchored at its newest reading.
fn old(color: bool, ascii: bool) -> App {
    let mut app = app(color, ascii);
    app.update(Msg::Tick(t0() + chrono::Duration::days(200)));
    app
}

#[test]
fn history_anchored_80x24() {
    let mut app = old(true, false);
    let term = snap(&mut app, 80, 24);
    insta::assert_snapshot!(term.backend());
    let text = screen_text(&term);
    assert!(text.lines().next().unwrap().contains("hist 06-01 11:55 24h"), "{text}");
    assert_eq!(text.matches("STALE").count(), 1 + 1, "Granite Falls and the legend, not everyone");
}

#[test]
fn history_anchored_wide_ascii() {
    let mut app = old(false, true);
    let term = snap(&mut app, 140, 36);
    insta::assert_snapshot!(term.backend());
    assert_all_ascii(&term);
    assert!(screen_text(&term).lines().next().unwrap().contains("history - newest 2025-06-01 11:55 - 24h"));
}

#[test]
fn history_pinned_detail_7d_envelope() {
    let mut app = app(true, false);
    app.update(Msg::Rollups {
        location: "Ashford North".into(),
        rollups: gridwatch::tui::testing::history(0, t0(), 24 * 9),
    });
    key(&mut app, KeyCode::Char('t'));
    chars(&mut app, ":goto 2025-05-28 12:00");
    key(&mut app, KeyCode::Enter);
    // The worst-first order starts at Cedar Ridge; pick Ashford North (9 days of history).
    app.selected = Some("Ashford North".into());
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.view, View::Detail);
    let term = snap(&mut app, 120, 36);
    insta::assert_snapshot!(term.backend());
    let text = screen_text(&term);
    assert!(text.contains("min/max"), "7 d over 50 columns: an envelope: {text}");
    assert!(text.contains("05-28 12:00"), "the crosshair sits on the goto time: {text}");
}

#[test]
fn detail_crosshair_80x24() {
    let mut app = app(true, false);
    key(&mut app, KeyCode::Enter);
    key(&mut app, KeyCode::Left);
    key(&mut app, KeyCode::Left);
    key(&mut app, KeyCode::Left);
    insta::assert_snapshot!(snap(&mut app, 80, 24).backend());
}

#[test]
fn detail_crosshair_wide_ascii() {
    let mut app = app(false, true);
    key(&mut app, KeyCode::Enter);
    key(&mut app, KeyCode::Left);
    let term = snap(&mut app, 140, 40);
    insta::assert_snapshot!(term.backend());
    assert_all_ascii(&term);
    assert_no_colour(&term);
}

#[test]
fn overview_fleet_panel_120x36() {
    let mut app = app(true, false);
    for i in 0..8 {
        let name = gridwatch::tui::testing::name(i);
        app.update(Msg::Forecast { location: name, points: gridwatch::tui::testing::forecast(i, t0()) });
    }
    let term = snap(&mut app, 120, 36);
    insta::assert_snapshot!(term.backend());
    let text = screen_text(&term);
    assert!(text.contains("Fleet 8 substations") && text.contains("Fleet now"), "{text}");
    assert!(text.contains("alarms/10m") && text.contains("flood 10"));
    assert!(text.contains("sorted by worst"));
}

#[test]
fn overview_fleet_panel_ascii_80x24() {
    let mut app = app(false, true);
    let term = snap(&mut app, 80, 24);
    insta::assert_snapshot!(term.backend());
    assert_all_ascii(&term);
}

#[test]
fn heatmap_one_substation_80x24() {
    let mut app = app(true, false);
    app.update(Msg::Rollups {
        location: "Cedar Ridge".into(),
        rollups: gridwatch::tui::testing::history(2, t0(), 24 * 8),
    });
    key(&mut app, KeyCode::Tab);
    key(&mut app, KeyCode::Tab);
    assert_eq!(app.view, View::Heatmap);
    let term = snap(&mut app, 80, 24);
    insta::assert_snapshot!(term.backend());
    let text = screen_text(&term);
    assert!(text.contains("load peak MW | Cedar Ridge: hour of day x day | 7d"), "{text}");
    assert!(text.contains("06-01 Sun") && text.contains("05-25 Sun"), "one row per day: {text}");
}

#[test]
fn heatmap_voltage_ascii_wide() {
    let mut app = app(false, true);
    app.update(Msg::Rollups {
        location: "Cedar Ridge".into(),
        rollups: gridwatch::tui::testing::history(2, t0(), 24 * 8),
    });
    key(&mut app, KeyCode::Tab);
    key(&mut app, KeyCode::Tab);
    key(&mut app, KeyCode::Char('m'));
    let term = snap(&mut app, 120, 30);
    insta::assert_snapshot!(term.backend());
    assert_all_ascii(&term);
    assert!(screen_text(&term).contains("voltage min kV"));
}

#[test]
fn heatmap_fleet_80x24() {
    let mut app = app(true, false);
    key(&mut app, KeyCode::Tab);
    key(&mut app, KeyCode::Tab);
    key(&mut app, KeyCode::Char('F'));
    let term = snap(&mut app, 80, 24);
    insta::assert_snapshot!(term.backend());
    let text = screen_text(&term);
    assert!(text.contains("fleet: substation x hour of day"));
    assert!(text.contains("Harbor Point"));
}

#[test]
fn logs_search_and_level_80x24() {
    let mut app = app(true, false);
    key(&mut app, KeyCode::BackTab);
    app.update(Msg::Logs(vec![LogLine {
        timestamp: t0(),
        level: LogLevel::Warn,
        message: "a very long warning line that goes on and on past the right edge of an eighty column \
                  terminal, so it needs wrapping or sideways scrolling to be read: bayview 13.2 kV"
            .into(),
    }]));
    chars(&mut app, "v");
    key(&mut app, KeyCode::Char('f'));
    chars(&mut app, "bayview");
    key(&mut app, KeyCode::Enter);
    chars(&mut app, "w");
    let term = snap(&mut app, 80, 24);
    insta::assert_snapshot!(term.backend());
    let text = screen_text(&term);
    assert!(text.contains("read: bayview 13.2 kV"), "wrapped: the end of the long line is on screen: {text}");
}

#[test]
fn logs_scrolled_sideways_ascii() {
    let mut app = app(false, true);
    key(&mut app, KeyCode::BackTab);
    key(&mut app, KeyCode::Right);
    key(&mut app, KeyCode::Right);
    let term = snap(&mut app, 80, 24);
    insta::assert_snapshot!(term.backend());
    assert!(screen_text(&term).contains("+16 cols"));
}

#[test]
fn command_prompt_80x24() {
    let mut app = app(true, false);
    chars(&mut app, ":goto 2025-05-31 0");
    insta::assert_snapshot!(snap(&mut app, 80, 24).backend());
}

/// The README's text screenshots (assets/screenshots/*.txt), rendered from the sample
/// at 120x36. They must match what the code draws: regenerate with
/// `UPDATE_SCREENSHOTS=1 cargo test --test tui_snapshots screenshots`.
#[test]
fn screenshots() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/screenshots");
    let update = std::env::var_os("UPDATE_SCREENSHOTS").is_some();
    // The sample with 8 days of history and every forecast.
    let full = || {
        let mut a = app(true, false);
        for i in 0..8 {
            let name = gridwatch::tui::testing::name(i);
            a.update(Msg::Rollups { location: name.clone(), rollups: gridwatch::tui::testing::history(i, t0(), 24 * 8) });
            a.update(Msg::Forecast { location: name, points: gridwatch::tui::testing::forecast(i, t0()) });
        }
        a
    };
    let overview = full();
    let mut detail = full();
    key(&mut detail, KeyCode::Enter);
    key(&mut detail, KeyCode::Left);
    key(&mut detail, KeyCode::Left);
    let mut heat = full();
    for _ in 0..2 {
        key(&mut heat, KeyCode::Tab);
    }
    let mut alarms = full();
    for _ in 0..3 {
        key(&mut alarms, KeyCode::Tab);
    }
    let mut logs = full();
    key(&mut logs, KeyCode::BackTab);
    let mut history = full();
    history.update(Msg::Tick(t0() + chrono::Duration::days(200)));
    key(&mut history, KeyCode::Char('t'));
    let shots = [
        ("overview", overview),
        ("detail", detail),
        ("heatmap", heat),
        ("alarms", alarms),
        ("logs", logs),
        ("history", history),
    ];
    let mut stale = Vec::new();
    for (name, mut app) in shots {
        let text = screen_text(&snap(&mut app, 120, 36));
        let path = dir.join(format!("{name}.txt"));
        if update {
            std::fs::write(&path, &text).unwrap();
        } else if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
            stale.push(path.display().to_string());
        }
    }
    assert!(
        stale.is_empty(),
        "screenshots out of date: {stale:?}; run UPDATE_SCREENSHOTS=1 cargo test --test tui_snapshots screenshots"
    );
}

// ---- themes and the mouse ----

fn themed(palette: gridwatch::tui::theme::Palette, color: bool, ascii: bool) -> App {
    let mut c = cfg(color, ascii);
    c.theme = c.theme.with_palette(palette);
    sample_app(c, 8)
}

/// Every view of `app` at 80x24 and 140x40, for the colour checks below.
fn every_view(app: &mut App) -> Vec<ratatui::Terminal<ratatui::backend::TestBackend>> {
    let mut out = Vec::new();
    for _ in View::ALL {
        out.push(snap(app, 80, 24));
        out.push(snap(app, 140, 40));
        key(app, KeyCode::Tab);
    }
    out
}

#[test]
fn light_theme_draws_no_yellow_or_cyan_text() {
    use gridwatch::tui::theme::Palette;
    let mut app = themed(Palette::Light, true, false);
    for term in every_view(&mut app) {
        assert!(has_colour(&term));
        for c in term.backend().buffer().content.iter() {
            assert!(
                !matches!(c.fg, Color::Yellow | Color::Cyan | Color::LightYellow | Color::LightCyan),
                "{:?} drawn in {:?} on a light background",
                c.symbol(),
                c.fg
            );
        }
    }
}

#[test]
fn high_contrast_dims_nothing() {
    use gridwatch::tui::theme::Palette;
    use ratatui::style::Modifier;
    let mut app = themed(Palette::HighContrast, true, false);
    // The dark theme does dim (the legend, the sort order): the check below can fail.
    let dark = snap(&mut self::app(true, false), 80, 24);
    assert!(dark.backend().buffer().content.iter().any(|c| c.fg == Color::DarkGray));
    for term in every_view(&mut app) {
        for c in term.backend().buffer().content.iter() {
            assert!(c.fg != Color::DarkGray && !c.modifier.contains(Modifier::DIM), "{:?} is dimmed", c.symbol());
        }
    }
    // Same text as the dark theme: only the styles change.
    let mut dark_app = self::app(true, false);
    let mut hc_app = themed(Palette::HighContrast, true, false);
    assert_eq!(screen_text(&snap(&mut dark_app, 80, 24)), screen_text(&snap(&mut hc_app, 80, 24)));
}

#[test]
fn no_color_wins_over_the_theme() {
    use gridwatch::tui::theme::Palette;
    for p in [Palette::Light, Palette::HighContrast] {
        let mut app = themed(p, false, true);
        for term in every_view(&mut app) {
            assert_no_colour(&term);
            assert_all_ascii(&term);
        }
    }
}

#[test]
fn help_overlay_with_mouse_80x24() {
    let mut c = cfg(true, false);
    c.mouse = true;
    let mut app = sample_app(c, 8);
    key(&mut app, KeyCode::Char('?'));
    let term = snap(&mut app, 80, 24);
    assert!(screen_text(&term).contains("wheel, click tab/row"));
    insta::assert_snapshot!(term.backend());
}

#[test]
fn help_overlay_with_mouse_ascii_wide() {
    let mut c = cfg(false, true);
    c.mouse = true;
    let mut app = sample_app(c, 8);
    key(&mut app, KeyCode::Char('?'));
    let term = snap(&mut app, 140, 40);
    assert_all_ascii(&term);
    insta::assert_snapshot!(term.backend());
}
