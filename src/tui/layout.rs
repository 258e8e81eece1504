//! Screen geometry shared by the state (which keeps selections visible and asks the
//! poller for what is on screen) and the views (which draw into it). Pure functions of
//! the terminal size and a few flags, so `app` never needs to import `view`.

use ratatui::layout::{Constraint, Layout, Rect};

/// Below this the dashboard says so instead of drawing a broken layout.
pub const MIN_WIDTH: u16 = 60;
pub const MIN_HEIGHT: u16 = 16;

/// Lines around a list in the body: summary above, column header, footer below.
pub const LIST_CHROME: u16 = 3;

/// The fleet panel on the overview is drawn only when at least this many rows are free.
pub const FLEET_MIN_HEIGHT: u16 = 8;

/// The five horizontal bands of the screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScreenAreas {
    pub title: Rect,
    pub banner: Option<Rect>,
    pub body: Rect,
    pub status: Rect,
    pub keys: Rect,
}

pub fn too_small(area: Rect) -> bool {
    area.width < MIN_WIDTH || area.height < MIN_HEIGHT
}

/// Title, optional banner, body, status line, key bar.
pub fn screen(area: Rect, banner: bool) -> ScreenAreas {
    let banner_h = u16::from(banner);
    let [title, banner, body, status, keys] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(banner_h),
        Constraint::Min(0),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(area);
    ScreenAreas { title, banner: (banner_h > 0).then_some(banner), body, status, keys }
}

/// Height of the body for a terminal of `size` (1 when too small to draw).
pub fn body_height(size: (u16, u16), banner: bool) -> u16 {
    let area = Rect::new(0, 0, size.0, size.1);
    if too_small(area) {
        return 1;
    }
    screen(area, banner).body.height
}

/// Splits the overview body into the table part (summary, header, rows, footer) and the
/// fleet panel below it, which uses the rows the table does not need.
/// Returns (table height, fleet height); the fleet height is 0 when it does not fit.
pub fn overview_split(body_h: u16, rows: usize) -> (u16, u16) {
    let table_need = (rows as u16).saturating_add(LIST_CHROME);
    let free = body_h.saturating_sub(table_need);
    if free >= FLEET_MIN_HEIGHT {
        (table_need, free)
    } else {
        (body_h, 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_leaves_title_status_and_keys() {
        assert_eq!(body_height((80, 24), false), 21);
        assert_eq!(body_height((80, 24), true), 20);
        assert_eq!(body_height((59, 24), false), 1, "too narrow");
    }

    #[test]
    fn fleet_panel_takes_only_free_rows() {
        // 8 rows need 11 lines; 21 - 11 = 10 free.
        assert_eq!(overview_split(21, 8), (11, 10));
        // All the free space.
        assert_eq!(overview_split(60, 8), (11, 49));
        // Not enough room: the table keeps everything.
        assert_eq!(overview_split(21, 12), (21, 0));
        assert_eq!(overview_split(21, 500), (21, 0));
    }
}
