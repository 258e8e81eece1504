//! End to end: the real binary in a tmux pane running `gridwatch demo` on a temporary
//! data folder. Waits for live data, presses `?`, Tab, `r` (+ `y`), `q`, reads the screen
//! and checks the exit status and that the terminal left the alternate screen.
//!
//! Skipped (with a note) when tmux is not installed; CI installs it.
#![cfg(feature = "tui")]

mod tmux;

use std::path::Path;
use std::process::Command;
use std::time::Duration;
use tmux::{wait_exit, Tmux};

fn demo_command(data: &Path, config: &Path, exit_file: &Path, env: &str) -> String {
    let bin = env!("CARGO_BIN_EXE_gridwatch");
    format!(
        "env GRIDWATCH_DATA_DIR='{}' XDG_CONFIG_HOME='{}' {env} '{bin}' demo --backfill-days 2 --seconds-per-interval 0.5 \
         ; echo EXIT=$? > '{}'",
        data.display(),
        config.display(),
        exit_file.display()
    )
}

/// The title bar ends with the simulated clock ("24h 11-26 00:49").
fn title_clock(screen: &str) -> String {
    screen.lines().next().unwrap_or("").trim_end().rsplit("  ").next().unwrap_or("").to_string()
}

#[test]
fn demo_live_keys_and_clean_exit() {
    if !Tmux::available() {
        eprintln!("note: tmux not installed, skipping the end-to-end dashboard test (apt-get install tmux)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (data, config) = (dir.path().join("data"), dir.path().join("config"));
    std::fs::create_dir_all(&config).unwrap();
    let exit_file = dir.path().join("exit");
    let tmux = Tmux::start(
        "utf8",
        100,
        30,
        &demo_command(&data, &config, &exit_file, "LANG=C.UTF-8 LC_ALL= TERM=xterm-256color"),
    );

    // Live data: substations listed, and the simulated clock moves.
    let s = tmux.wait_for("substations", Duration::from_secs(120), |s| {
        s.contains("substations:") && s.contains("substation_00") && s.contains("[Overview]")
    });
    let t1 = title_clock(&s);
    let s2 = tmux.wait_for("the clock to move", Duration::from_secs(20), |s| title_clock(s) != t1);
    assert_ne!(title_clock(&s2), t1);
    assert_eq!(tmux.pane_value("#{alternate_on}"), "1", "the dashboard uses the alternate screen");

    // ? opens the help overlay.
    tmux.keys(&["?"]);
    tmux.wait_for("help overlay", Duration::from_secs(10), |s| s.contains("Keys") && s.contains("reprocess (asks y/n)"));

    // Tab closes help and moves to the detail view with its charts.
    tmux.keys(&["Tab"]);
    tmux.wait_for("detail view", Duration::from_secs(10), |s| {
        s.contains("[Detail]") && s.contains("Load MW") && s.contains("Voltage kV") && !s.contains("reprocess (asks y/n)")
    });

    // Resize: too small says so, enlarging brings the view back.
    tmux.cmd(&["resize-window", "-t", "e2e", "-x", "50", "-y", "12"]);
    tmux.wait_for("too-small notice", Duration::from_secs(10), |s| s.contains("terminal too small"));
    tmux.cmd(&["resize-window", "-t", "e2e", "-x", "100", "-y", "30"]);
    tmux.wait_for("detail view again", Duration::from_secs(10), |s| s.contains("[Detail]") && s.contains("Load MW"));

    // r asks, y runs the job, the result appears when it finishes.
    tmux.keys(&["r"]);
    tmux.wait_for("confirmation", Duration::from_secs(10), |s| s.contains("Reprocess?") && s.contains("[y] yes"));
    tmux.keys(&["y"]);
    tmux.wait_for("reprocess result", Duration::from_secs(60), |s| s.contains("reprocessed substation_"));

    // q quits cleanly and restores the terminal.
    tmux.keys(&["q"]);
    assert_eq!(wait_exit(&exit_file, Duration::from_secs(20)), "EXIT=0");
    assert_eq!(tmux.pane_value("#{alternate_on}"), "0", "alternate screen left");
    let after = tmux.screen();
    assert!(!after.contains("[Detail]"), "dashboard still on screen after quit:\n{after}");
}

#[test]
fn demo_ascii_no_color_on_a_c_locale() {
    if !Tmux::available() {
        eprintln!("note: tmux not installed, skipping the end-to-end ASCII test (apt-get install tmux)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (data, config) = (dir.path().join("data"), dir.path().join("config"));
    std::fs::create_dir_all(&config).unwrap();
    let exit_file = dir.path().join("exit");
    let env = "LANG=C LC_ALL= LC_CTYPE= NO_COLOR=1 TERM=xterm-256color";
    let tmux = Tmux::start("ascii", 80, 24, &demo_command(&data, &config, &exit_file, env));
    let s = tmux.wait_for("substations", Duration::from_secs(120), |s| s.contains("substation_00"));
    assert!(s.is_ascii(), "non-ASCII on a C locale:\n{s}");
    tmux.keys(&["Enter"]);
    let s = tmux.wait_for("detail view", Duration::from_secs(10), |s| s.contains("[Detail]") && s.contains("Load MW"));
    assert!(s.is_ascii(), "non-ASCII in the detail view:\n{s}");
    // With colours: no SGR colour codes at all under NO_COLOR.
    let styled = String::from_utf8_lossy(&tmux.cmd(&["capture-pane", "-p", "-e", "-t", "e2e"]).stdout).into_owned();
    for code in ["[31m", "[32m", "[33m", "[36m", "[38;", "[41m", "[48;"] {
        assert!(!styled.contains(code), "colour escape {code:?} under NO_COLOR");
    }
    tmux.keys(&["q"]);
    assert_eq!(wait_exit(&exit_file, Duration::from_secs(20)), "EXIT=0");
}

/// The bundled sample data (January 2025) analysed into a fresh data folder, then
/// `gridwatch dashboard`: the window anchors at the newest stored reading, so the
/// sparklines, the fleet panel and the detail charts show the stored history instead
/// of 600-day-old STALE rows.
#[test]
fn sample_data_history_is_visible() {
    if !Tmux::available() {
        eprintln!("note: tmux not installed, skipping the sample-data dashboard test (apt-get install tmux)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (data, config) = (dir.path().join("data"), dir.path().join("config"));
    std::fs::create_dir_all(&config).unwrap();
    let bin = env!("CARGO_BIN_EXE_gridwatch");
    let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/sample_data");
    let out = Command::new(bin)
        .arg("analyze")
        .arg(&samples)
        .env("GRIDWATCH_DATA_DIR", &data)
        .env("XDG_CONFIG_HOME", &config)
        .output()
        .expect("run gridwatch analyze");
    assert!(out.status.success(), "analyze failed: {}", String::from_utf8_lossy(&out.stderr));

    let exit_file = dir.path().join("exit");
    let cmd = format!(
        "env GRIDWATCH_DATA_DIR='{}' XDG_CONFIG_HOME='{}' LANG=C.UTF-8 LC_ALL= TERM=xterm-256color '{bin}' dashboard \
         --export-dir '{}' ; echo EXIT=$? > '{}'",
        data.display(),
        config.display(),
        dir.path().display(),
        exit_file.display()
    );
    let tmux = Tmux::start("sample", 120, 36, &cmd);
    let s = tmux.wait_for("the anchored overview", Duration::from_secs(60), |s| {
        s.contains("history · newest 2025-01-15 23:45") && s.contains("substation_001")
    });
    // Sparklines drawn from stored rollups: every substation row has block characters.
    let rows: Vec<&str> = s.lines().filter(|l| l.contains("substation_0")).collect();
    assert!(!rows.is_empty(), "{s}");
    for r in &rows {
        let blocks = r.chars().filter(|c| ('▁'..='█').contains(c)).count();
        assert!(blocks >= 10, "empty sparkline in {r:?}\n{s}");
        assert!(!r.contains("STALE"), "stored history is not stale at its own end: {r:?}");
    }
    assert!(s.contains("Fleet 8 substations") || s.contains("Fleet"), "fleet panel: {s}");

    // The detail view: load chart with data points.
    tmux.keys(&["Enter"]);
    // (All four charts in the predicate: a capture can land in the middle of a redraw.)
    tmux.wait_for("detail charts", Duration::from_secs(20), |s| {
        s.contains("[Detail]") && s.contains("Load MW") && s.contains("Voltage kV") && s.matches('•').count() > 40
    });

    // Crosshair and export.
    tmux.keys(&["Left"]);
    tmux.wait_for("crosshair readout", Duration::from_secs(10), |s| s.contains("01-15 23:00") && s.contains("load "));
    tmux.keys(&["e"]);
    let s = tmux.wait_for("export message", Duration::from_secs(10), |s| s.contains("exported "));
    let csv = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .find(|e| e.file_name().to_string_lossy().starts_with("gridwatch-detail-"))
        .unwrap_or_else(|| panic!("no export file; screen:\n{s}"));
    let text = std::fs::read_to_string(csv.path()).unwrap();
    assert!(text.lines().count() > 20, "{text}");

    tmux.keys(&["q"]);
    assert_eq!(wait_exit(&exit_file, Duration::from_secs(20)), "EXIT=0");
}

/// Two local data folders as two sources (`[[dashboard.sources]]`): `:source west`
/// switches the running dashboard to the other folder's substations and title, and
/// `:source local` back; nothing of one source stays on the other's screen.
#[test]
fn source_command_switches_between_configured_sources() {
    if !Tmux::available() {
        eprintln!("note: tmux not installed, skipping the sources test (apt-get install tmux)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (east, west, config) = (dir.path().join("east"), dir.path().join("west"), dir.path().join("config"));
    std::fs::create_dir_all(config.join("gridwatch")).unwrap();
    let bin = env!("CARGO_BIN_EXE_gridwatch");
    let analyze = |data: &Path, input: &Path| {
        let out = Command::new(bin)
            .arg("analyze")
            .arg(input)
            .env("GRIDWATCH_DATA_DIR", data)
            .env("XDG_CONFIG_HOME", &config)
            .output()
            .expect("run gridwatch analyze");
        assert!(out.status.success(), "analyze failed: {}", String::from_utf8_lossy(&out.stderr));
    };
    analyze(&east, &Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/sample_data"));
    let mut csv = String::from("timestamp,location,load_mw,generation_mw,voltage_kv,frequency_hz,solar_mw,wind_mw\n");
    for q in 0..8 {
        csv.push_str(&format!("2025-01-15T{:02}:{:02}:00Z,harbour_west,40.0,55.0,13.8,60.0,5.0,3.0\n", 20 + q / 4, (q % 4) * 15));
    }
    let west_csv = dir.path().join("west.csv");
    std::fs::write(&west_csv, csv).unwrap();
    analyze(&west, &west_csv);
    std::fs::write(
        config.join("gridwatch/config.toml"),
        format!("[[dashboard.sources]]\nname = \"west\"\ndata_dir = \"{}\"\n", west.display()),
    )
    .unwrap();

    let exit_file = dir.path().join("exit");
    let cmd = format!(
        "env GRIDWATCH_DATA_DIR='{}' XDG_CONFIG_HOME='{}' LANG=C.UTF-8 LC_ALL= TERM=xterm-256color '{bin}' dashboard \
         ; echo EXIT=$? > '{}'",
        east.display(),
        config.display(),
        exit_file.display()
    );
    let tmux = Tmux::start("sources", 140, 36, &cmd);
    tmux.wait_for("the first source", Duration::from_secs(60), |s| s.contains("[local]") && s.contains("substation_001"));
    tmux.keys(&[":", "source", "Enter"]);
    tmux.wait_for("the list of sources", Duration::from_secs(10), |s| s.contains("*local (ok)") && s.contains("west (not watched yet)"));
    tmux.keys(&[":", "source west", "Enter"]);
    let s = tmux.wait_for("the west source", Duration::from_secs(30), |s| s.contains("[west]") && s.contains("harbour_west"));
    assert!(!s.contains("substation_00"), "the east data is gone from the screen:\n{s}");
    tmux.keys(&[":", "source local", "Enter"]);
    let s = tmux.wait_for("back on east", Duration::from_secs(30), |s| s.contains("[local]") && s.contains("substation_001"));
    assert!(!s.contains("harbour_west"), "{s}");
    tmux.keys(&["q"]);
    assert_eq!(wait_exit(&exit_file, Duration::from_secs(10)), "EXIT=0");
}
