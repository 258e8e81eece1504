//! A tmux pane for the end-to-end dashboard tests (tests/tui_e2e.rs, tests/aws_dashboard.rs):
//! start a command at a set size, send keys, read the screen.
#![allow(dead_code)] // each test crate uses a part

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

/// A private tmux server (its own socket) so the test never touches the user's sessions.
pub struct Tmux {
    socket: String,
}

impl Tmux {
    pub fn available() -> bool {
        Command::new("tmux").arg("-V").output().is_ok_and(|o| o.status.success())
    }

    pub fn start(name: &str, width: u16, height: u16, command: &str) -> Tmux {
        let t = Tmux { socket: format!("gridwatch-e2e-{}-{name}", std::process::id()) };
        let ok = t
            .cmd(&["new-session", "-d", "-s", "e2e", "-x", &width.to_string(), "-y", &height.to_string(), command])
            .status
            .success();
        assert!(ok, "tmux new-session failed");
        // Keep the pane after the program exits so its last screen can be read.
        t.cmd(&["set-option", "-t", "e2e", "remain-on-exit", "on"]);
        t
    }

    pub fn cmd(&self, args: &[&str]) -> std::process::Output {
        Command::new("tmux").arg("-L").arg(&self.socket).args(args).output().expect("run tmux")
    }

    pub fn screen(&self) -> String {
        String::from_utf8_lossy(&self.cmd(&["capture-pane", "-p", "-t", "e2e"]).stdout).into_owned()
    }

    pub fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "e2e"];
        args.extend_from_slice(keys);
        self.cmd(&args);
    }

    pub fn pane_value(&self, format: &str) -> String {
        String::from_utf8_lossy(&self.cmd(&["display-message", "-p", "-t", "e2e", format]).stdout).trim().to_string()
    }

    /// Polls the screen until `pred` holds; panics with the last screen after `timeout`.
    pub fn wait_for(&self, what: &str, timeout: Duration, pred: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let s = self.screen();
            if pred(&s) {
                return s;
            }
            if start.elapsed() > timeout {
                panic!("timed out waiting for {what}; screen:\n{s}");
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        // Our own server only (by socket name).
        let _ = self.cmd(&["kill-server"]);
    }
}

/// Waits for the `EXIT=<code>` line the pane's command writes when the dashboard ends.
pub fn wait_exit(exit_file: &PathBuf, timeout: Duration) -> String {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if let Ok(s) = std::fs::read_to_string(exit_file)
            && s.contains("EXIT=")
        {
            return s.trim().to_string();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("the dashboard did not exit within {timeout:?}");
}

