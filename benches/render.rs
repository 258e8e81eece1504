//! Dashboard render cost on ratatui's TestBackend (no terminal I/O):
//! - `overview_500`: one redraw of the overview with 500 substations (24 h history each);
//! - `detail`: one redraw of the detail view (four charts);
//! - `first_frame_500`: building the state from the first poll's messages plus the first
//!   draw, i.e. the work between data arriving and the first full screen;
//! - `overview_fleet_500_200x60`: the overview with the fleet panel summing 500 substations
//!   (24 h history and forecast each; a filter leaves two rows so the panel has room);
//! - `heatmap_30d` / `heatmap_fleet_30d_500`: the heatmap over 30 days of hourly rollups,
//!   one substation (30 rows x 24 h) and the fleet (500 substations x 24 h).
//!
//! `cargo bench --bench render`

use criterion::{Criterion, criterion_group, criterion_main};
use gridwatch::tui::app::{App, AppConfig};
use gridwatch::tui::msg::Msg;
use gridwatch::tui::testing::{self, sample_app, t0};
use gridwatch::tui::view;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use std::hint::black_box;

fn bench(c: &mut Criterion) {
    let app = sample_app(AppConfig::default(), 500);
    let mut term = Terminal::new(TestBackend::new(80, 24)).unwrap();
    c.bench_function("overview_500", |b| {
        b.iter(|| {
            term.draw(|f| view::render(black_box(&app), f)).unwrap();
        })
    });

    let mut wide = Terminal::new(TestBackend::new(200, 60)).unwrap();
    let mut big = sample_app(AppConfig::default(), 500);
    big.update(Msg::Resize(200, 60));
    c.bench_function("overview_500_200x60", |b| {
        b.iter(|| {
            wide.draw(|f| view::render(black_box(&big), f)).unwrap();
        })
    });

    let mut detail = sample_app(AppConfig::default(), 500);
    detail.update(Msg::Key(crossterm::event::KeyEvent::new(
        crossterm::event::KeyCode::Enter,
        crossterm::event::KeyModifiers::NONE,
    )));
    c.bench_function("detail", |b| {
        b.iter(|| {
            term.draw(|f| view::render(black_box(&detail), f)).unwrap();
        })
    });

    // Fleet panel over 500 substations: only drawn when the rows leave room, so a terminal
    // taller than the table; the panel sums all 500 histories and forecasts.
    let mut fleet = sample_app(AppConfig::default(), 500);
    for i in 0..500 {
        fleet.update(Msg::Forecast { location: testing::name(i), points: testing::forecast(i, t0()) });
    }
    fleet.overview_filter = "sub-00".into();
    fleet.update(Msg::Resize(200, 60));
    assert!(fleet.overview_split().1 > 0, "fleet panel drawn");
    c.bench_function("overview_fleet_500_200x60", |b| {
        b.iter(|| {
            wide.draw(|f| view::render(black_box(&fleet), f)).unwrap();
        })
    });

    // Heatmap over 30 days (720 hourly rollups).
    let mut heat = sample_app(AppConfig::default(), 500);
    let sel = heat.selected.clone().unwrap();
    let idx = (0..500).find(|i| testing::name(*i) == sel).unwrap();
    heat.update(Msg::Rollups { location: sel.clone(), rollups: testing::history(idx, t0(), 24 * 30) });
    heat.update(Msg::Key(crossterm::event::KeyEvent::new(
        crossterm::event::KeyCode::Char('-'),
        crossterm::event::KeyModifiers::NONE,
    )));
    heat.update(Msg::Key(crossterm::event::KeyEvent::new(
        crossterm::event::KeyCode::Char('-'),
        crossterm::event::KeyModifiers::NONE,
    )));
    heat.view = gridwatch::tui::app::View::Heatmap;
    let mut hterm = Terminal::new(TestBackend::new(120, 40)).unwrap();
    c.bench_function("heatmap_30d", |b| {
        b.iter(|| {
            hterm.draw(|f| view::render(black_box(&heat), f)).unwrap();
        })
    });
    // The fleet heatmap over 30 days of 500 substations (360,000 rollups held).
    for i in 0..500 {
        heat.update(Msg::Rollups { location: testing::name(i), rollups: testing::history(i, t0(), 24 * 30) });
    }
    heat.heat_fleet = true;
    c.bench_function("heatmap_fleet_30d_500", |b| {
        b.iter(|| {
            hterm.draw(|f| view::render(black_box(&heat), f)).unwrap();
        })
    });

    // What the first poll delivers: the index, 24 h of rollups for the visible rows,
    // the selected substation's forecast, alerts, a page of log.
    let now = t0();
    let states: Vec<_> = (0..500).map(|i| testing::state(i, now)).collect();
    let histories: Vec<_> = (0..20).map(|i| (testing::name(i), testing::history(i, now, 24))).collect();
    let forecast = testing::forecast(0, now);
    let alerts = testing::alerts(now);
    let logs = testing::log_lines(now);
    c.bench_function("first_frame_500", |b| {
        b.iter(|| {
            let mut app = App::new(AppConfig::default(), now);
            app.update(Msg::Resize(80, 24));
            app.update(Msg::Substations(states.clone()));
            for (loc, h) in &histories {
                app.update(Msg::Rollups { location: loc.clone(), rollups: h.clone() });
            }
            app.update(Msg::Forecast { location: testing::name(0), points: forecast.clone() });
            app.update(Msg::Alerts(alerts.clone()));
            app.update(Msg::Logs(logs.clone()));
            let mut term = Terminal::new(TestBackend::new(80, 24)).unwrap();
            term.draw(|f| view::render(&app, f)).unwrap();
            black_box(term);
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
