//! Terminal setup and restore. The terminal is restored on quit, on error (the guard's
//! Drop) and on panic (a hook that restores first, then runs the previous hook so the
//! panic message lands on the normal screen).

use crossterm::cursor::{Hide, Show};
use crossterm::event::{DisableMouseCapture, EnableMouseCapture};
use crossterm::execute;
use crossterm::terminal::{EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use std::io::{IsTerminal, Stdout, stdout};
use std::sync::Once;
use std::sync::atomic::{AtomicBool, Ordering};

/// Whether we changed the terminal and still owe a restore (makes restore idempotent and
/// keeps the panic hook quiet for panics after the dashboard ended).
static ACTIVE: AtomicBool = AtomicBool::new(false);
/// Mouse capture was turned on and must be turned off again on restore.
static MOUSE: AtomicBool = AtomicBool::new(false);

pub type Term = Terminal<CrosstermBackend<Stdout>>;

/// Restores the terminal when dropped, however the dashboard ends.
pub struct TerminalGuard {
    pub terminal: Term,
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore();
    }
}

/// Raw mode, alternate screen, hidden cursor; mouse capture only when asked for.
pub fn setup(mouse: bool) -> anyhow::Result<TerminalGuard> {
    if !stdout().is_terminal() {
        anyhow::bail!("the dashboard needs a terminal: standard output is not a TTY");
    }
    install_panic_hook();
    enable_raw_mode().map_err(|e| anyhow::anyhow!("cannot switch the terminal to raw mode: {e}"))?;
    ACTIVE.store(true, Ordering::SeqCst);
    // From here on every exit path restores.
    let guard_fn = || -> anyhow::Result<Term> {
        execute!(stdout(), EnterAlternateScreen, Hide)?;
        if mouse {
            MOUSE.store(true, Ordering::SeqCst);
            execute!(stdout(), EnableMouseCapture)?;
        }
        Ok(Terminal::new(CrosstermBackend::new(stdout()))?)
    };
    match guard_fn() {
        Ok(terminal) => Ok(TerminalGuard { terminal }),
        Err(e) => {
            restore();
            Err(e)
        }
    }
}

/// Best effort: each step is tried even if an earlier one failed.
pub fn restore() {
    if !ACTIVE.swap(false, Ordering::SeqCst) {
        return;
    }
    if MOUSE.swap(false, Ordering::SeqCst) {
        let _ = execute!(stdout(), DisableMouseCapture);
    }
    let _ = disable_raw_mode();
    let _ = execute!(stdout(), LeaveAlternateScreen, Show);
}

/// Installs (once) a panic hook that restores the terminal before reporting.
pub fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore();
            previous(info);
        }));
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    /// Our hook chains to the previous one (the panic message still appears) and leaves
    /// the terminal alone when the dashboard is not running.
    #[test]
    fn panic_hook_chains_to_the_previous_hook() {
        static PREVIOUS_CALLS: AtomicUsize = AtomicUsize::new(0);
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if info.payload().downcast_ref::<&str>() == Some(&"gridwatch-hook-test") {
                PREVIOUS_CALLS.fetch_add(1, Ordering::SeqCst);
            } else {
                default(info);
            }
        }));
        install_panic_hook();
        assert!(!ACTIVE.load(Ordering::SeqCst));
        let r = std::panic::catch_unwind(|| std::panic::panic_any("gridwatch-hook-test"));
        assert!(r.is_err());
        assert_eq!(PREVIOUS_CALLS.load(Ordering::SeqCst), 1);
        assert!(!ACTIVE.load(Ordering::SeqCst), "restore stays idempotent");
    }
}
