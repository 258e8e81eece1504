//! Colours and glyphs. Two switches: `color` (off under NO_COLOR: styles use modifiers
//! only, whatever the palette) and `ascii` (for LANG=C jump hosts: no box drawing,
//! braille or block elements); and a [`Palette`] for the terminal's background (dark,
//! light, high contrast). Every meaning carried by colour is also carried by a glyph or a word.

use crate::model::AlertStatus;
use ratatui::buffer::Buffer;
use ratatui::style::{Color, Modifier, Style};
use ratatui::symbols::border;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Theme {
    pub color: bool,
    pub ascii: bool,
    pub palette: Palette,
}

/// Which colours: chosen for the terminal's background (`theme` in the config's
/// `[dashboard]` table, or `--theme`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Palette {
    /// Light text on a dark background (the default).
    #[default]
    Dark,
    /// Dark colours that stay readable on a white background (no yellow or cyan text).
    Light,
    /// Bright colours and bold text, nothing dimmed: for glare, projectors, low vision.
    HighContrast,
}

impl Palette {
    pub fn name(self) -> &'static str {
        match self {
            Palette::Dark => "dark",
            Palette::Light => "light",
            Palette::HighContrast => "high-contrast",
        }
    }
}

/// The colour of each role in one palette.
struct Colors {
    ok: Color,
    warn: Color,
    crit: Color,
    accent: Color,
    secondary: Color,
    forecast: Color,
    nominal: Color,
    stale: Color,
    dim: Color,
}

const DARK: Colors = Colors {
    ok: Color::Green,
    warn: Color::Yellow,
    crit: Color::Red,
    accent: Color::Cyan,
    secondary: Color::Blue,
    forecast: Color::Yellow,
    nominal: Color::Green,
    stale: Color::Magenta,
    dim: Color::DarkGray,
};

/// 256-colour dark green and dark orange: ANSI green and yellow wash out on white.
const LIGHT: Colors = Colors {
    ok: Color::Indexed(28),
    warn: Color::Indexed(130),
    crit: Color::Red,
    accent: Color::Blue,
    secondary: Color::Magenta,
    forecast: Color::Indexed(130),
    nominal: Color::Indexed(28),
    stale: Color::Magenta,
    dim: Color::DarkGray,
};

const HIGH_CONTRAST: Colors = Colors {
    ok: Color::LightGreen,
    warn: Color::LightYellow,
    crit: Color::LightRed,
    accent: Color::LightCyan,
    secondary: Color::LightMagenta,
    forecast: Color::LightYellow,
    nominal: Color::LightGreen,
    stale: Color::LightMagenta,
    // Nothing is dimmed in high contrast: "dim" text is plain.
    dim: Color::Reset,
};

const ASCII_BORDER: border::Set = border::Set {
    top_left: "+",
    top_right: "+",
    bottom_left: "+",
    bottom_right: "+",
    vertical_left: "|",
    vertical_right: "|",
    horizontal_top: "-",
    horizontal_bottom: "-",
};

const UNICODE_SPARK: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
const ASCII_SPARK: [char; 8] = ['_', '.', '-', '~', '=', '+', '*', '#'];

/// Chart point markers: distinct shapes so series differ without colour.
#[derive(Debug, Clone, Copy)]
pub struct Markers {
    pub data: char,
    pub secondary: char,
    pub forecast: char,
    pub limit: char,
    pub nominal: char,
    /// The vertical "now" line between history and forecast.
    pub now: char,
    /// The crosshair on the detail charts.
    pub crosshair: char,
}

impl Theme {
    pub fn new(color: bool, ascii: bool) -> Self {
        Self { color, ascii, palette: Palette::Dark }
    }

    pub fn with_palette(self, palette: Palette) -> Self {
        Self { palette, ..self }
    }

    fn colors(&self) -> &'static Colors {
        match self.palette {
            Palette::Dark => &DARK,
            Palette::Light => &LIGHT,
            Palette::HighContrast => &HIGH_CONTRAST,
        }
    }

    fn high_contrast(&self) -> bool {
        self.palette == Palette::HighContrast
    }

    fn fg(&self, c: Color) -> Style {
        if self.color && c != Color::Reset { Style::new().fg(c) } else { Style::new() }
    }

    /// Bold in high contrast (thin coloured text is what glare hides first).
    fn strong(&self, s: Style) -> Style {
        if self.high_contrast() { s.add_modifier(Modifier::BOLD) } else { s }
    }

    pub fn border_set(&self) -> border::Set<'static> {
        if self.ascii { ASCII_BORDER } else { border::PLAIN }
    }

    pub fn status_style(&self, s: AlertStatus) -> Style {
        match s {
            AlertStatus::Normal => self.strong(self.fg(self.colors().ok)),
            AlertStatus::Warning => self.fg(self.colors().warn).add_modifier(Modifier::BOLD),
            AlertStatus::Critical => {
                if self.color && self.high_contrast() {
                    Style::new().fg(Color::White).bg(Color::Red).add_modifier(Modifier::BOLD)
                } else if self.color {
                    Style::new().fg(self.colors().crit).add_modifier(Modifier::BOLD)
                } else {
                    Style::new().add_modifier(Modifier::BOLD | Modifier::REVERSED)
                }
            }
        }
    }

    /// Glyph and a short word: status never relies on colour alone.
    pub fn status_label(&self, s: AlertStatus) -> &'static str {
        match (s, self.ascii) {
            (AlertStatus::Normal, false) => "✓ ok",
            (AlertStatus::Warning, false) => "▲ warn",
            (AlertStatus::Critical, false) => "✖ crit",
            (AlertStatus::Normal, true) => "- ok",
            (AlertStatus::Warning, true) => "! warn",
            (AlertStatus::Critical, true) => "X crit",
        }
    }

    pub fn spark_chars(&self) -> &'static [char; 8] {
        if self.ascii { &ASCII_SPARK } else { &UNICODE_SPARK }
    }

    pub fn markers(&self) -> Markers {
        if self.ascii {
            Markers { data: '*', secondary: '.', forecast: '+', limit: '-', nominal: '=', now: ':', crosshair: '|' }
        } else {
            Markers { data: '•', secondary: '·', forecast: '+', limit: '-', nominal: '=', now: ':', crosshair: '│' }
        }
    }

    /// External text for display: in ASCII mode each non-ASCII char becomes `?`, so
    /// widths stay right (a wide CJK char is two cells, `?` one).
    pub fn text<'a>(&self, s: &'a str) -> std::borrow::Cow<'a, str> {
        if self.ascii && !s.is_ascii() {
            s.chars().map(|c| if c.is_ascii() { c } else { '?' }).collect::<String>().into()
        } else {
            s.into()
        }
    }

    pub fn separator(&self) -> &'static str {
        if self.ascii { "|" } else { "│" }
    }

    pub fn ellipsis(&self) -> &'static str {
        if self.ascii { "..." } else { "…" }
    }

    pub fn title(&self) -> Style {
        Style::new().add_modifier(Modifier::BOLD)
    }
    pub fn header(&self) -> Style {
        self.fg(self.colors().accent).add_modifier(Modifier::BOLD)
    }
    pub fn selected(&self) -> Style {
        self.strong(Style::new().add_modifier(Modifier::REVERSED))
    }
    pub fn dim(&self) -> Style {
        if self.high_contrast() {
            Style::new()
        } else if self.color {
            Style::new().fg(self.colors().dim)
        } else {
            Style::new().add_modifier(Modifier::DIM)
        }
    }
    pub fn stale(&self) -> Style {
        self.fg(self.colors().stale).add_modifier(Modifier::BOLD)
    }
    pub fn banner(&self) -> Style {
        if self.color {
            Style::new().fg(Color::White).bg(Color::Red).add_modifier(Modifier::BOLD)
        } else {
            Style::new().add_modifier(Modifier::BOLD | Modifier::REVERSED)
        }
    }
    pub fn key(&self) -> Style {
        self.fg(self.colors().accent).add_modifier(Modifier::BOLD)
    }
    pub fn chart_data(&self) -> Style {
        self.strong(self.fg(self.colors().accent))
    }
    pub fn chart_secondary(&self) -> Style {
        self.strong(self.fg(self.colors().secondary))
    }
    pub fn chart_forecast(&self) -> Style {
        self.strong(self.fg(self.colors().forecast))
    }
    pub fn chart_limit(&self) -> Style {
        self.strong(self.fg(self.colors().crit))
    }
    pub fn chart_nominal(&self) -> Style {
        self.strong(self.fg(self.colors().nominal))
    }
    pub fn log_level(&self, level: crate::backend::LogLevel) -> Style {
        use crate::backend::LogLevel::*;
        match level {
            Debug => self.dim(),
            Info => Style::new(),
            Warn => self.fg(self.colors().warn).add_modifier(Modifier::BOLD),
            Error => self.status_style(AlertStatus::Critical),
        }
    }

    /// Last pass over a finished frame. ASCII mode: widgets we do not fully control
    /// (chart axes, scrollbars) may still have drawn box-drawing characters; map them to
    /// ASCII and anything else non-ASCII to `?`, so a LANG=C terminal never gets UTF-8.
    /// NO_COLOR: strip any colour a widget applied by default.
    pub fn finish(&self, buf: &mut Buffer) {
        if !self.ascii && self.color {
            return;
        }
        for cell in buf.content.iter_mut() {
            if self.ascii && !cell.symbol().is_ascii() {
                let s = asciify(cell.symbol());
                cell.set_symbol(s);
            }
            if !self.color {
                cell.fg = Color::Reset;
                cell.bg = Color::Reset;
            }
        }
    }
}

fn asciify(sym: &str) -> &'static str {
    let Some(c) = sym.chars().next() else { return " " };
    match c {
        '─' | '━' | '═' | '╌' | '┄' | '┈' => "-",
        '│' | '┃' | '║' | '╎' | '┆' | '┊' => "|",
        '┌' | '┐' | '└' | '┘' | '├' | '┤' | '┬' | '┴' | '┼' | '╭' | '╮' | '╯' | '╰' | '┏' | '┓' | '┗' | '┛' | '╔'
        | '╗' | '╚' | '╝' => "+",
        '•' | '·' | '●' | '∙' => "*",
        '█' | '▇' | '▆' | '▅' | '▄' | '▓' | '▒' => "#",
        '▃' | '▂' | '▁' | '░' => "_",
        '…' => ".",
        '↑' => "^",
        '↓' => "v",
        c if ('\u{2800}'..='\u{28ff}').contains(&c) => ".",
        _ => "?",
    }
}

/// A text sparkline of `width` cells from the newest `values`, scaled to `lo..=hi`.
/// Missing history (NaN, or too few values) renders as blanks; the newest value is at the right.
pub fn sparkline(values: &[f64], lo: f64, hi: f64, width: usize, chars: &[char; 8]) -> String {
    if width == 0 {
        return String::new();
    }
    let tail = &values[values.len().saturating_sub(width)..];
    let span = if hi > lo { hi - lo } else { 1.0 };
    let mut s = String::with_capacity(width * 3);
    for _ in tail.len()..width {
        s.push(' ');
    }
    for v in tail {
        if v.is_finite() {
            s.push(chars[(((v - lo) / span) * 7.0).round().clamp(0.0, 7.0) as usize]);
        } else {
            // No data for this bucket.
            s.push(' ');
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparkline_scales_and_pads() {
        let t = Theme::new(false, true);
        assert_eq!(sparkline(&[0.0, 1.0], 0.0, 1.0, 4, t.spark_chars()), "  _#");
        assert_eq!(sparkline(&[0.0, 0.5, 1.0, 2.0], 0.0, 1.0, 3, t.spark_chars()), "=##");
        assert_eq!(sparkline(&[f64::NAN, 0.0], 0.0, 1.0, 2, t.spark_chars()), " _");
        assert_eq!(sparkline(&[1.0], 0.0, 1.0, 0, t.spark_chars()), "");
    }

    #[test]
    fn palettes_differ_where_they_should() {
        let dark = Theme::new(true, false);
        let light = dark.with_palette(Palette::Light);
        let hc = dark.with_palette(Palette::HighContrast);
        // Light: no yellow or cyan text (unreadable on white).
        for s in [light.header(), light.key(), light.chart_data(), light.chart_forecast(), light.status_style(AlertStatus::Warning)] {
            assert!(!matches!(s.fg, Some(Color::Yellow | Color::Cyan | Color::LightYellow | Color::LightCyan)), "{s:?}");
        }
        assert_eq!(dark.header().fg, Some(Color::Cyan));
        // High contrast dims nothing and makes critical a filled cell.
        assert_eq!(hc.dim(), Style::new());
        assert_ne!(dark.dim(), Style::new());
        assert_eq!(hc.status_style(AlertStatus::Critical).bg, Some(Color::Red));
        assert!(hc.chart_data().add_modifier.contains(Modifier::BOLD));
    }

    #[test]
    fn no_color_wins_over_every_palette() {
        for p in [Palette::Dark, Palette::Light, Palette::HighContrast] {
            let t = Theme::new(false, false).with_palette(p);
            for s in [t.header(), t.key(), t.dim(), t.stale(), t.chart_data(), t.chart_limit(), t.banner(), t.selected()]
                .into_iter()
                .chain([AlertStatus::Normal, AlertStatus::Warning, AlertStatus::Critical].map(|st| t.status_style(st)))
            {
                assert_eq!((s.fg, s.bg), (None, None), "{p:?}: {s:?}");
            }
        }
    }

    #[test]
    fn finish_makes_buffer_ascii_and_colourless() {
        use ratatui::layout::Rect;
        let mut buf = Buffer::empty(Rect::new(0, 0, 3, 1));
        buf[(0, 0)].set_symbol("└").set_fg(Color::Red);
        buf[(1, 0)].set_symbol("⣿");
        buf[(2, 0)].set_symbol("é");
        Theme::new(false, true).finish(&mut buf);
        let syms: Vec<_> = buf.content.iter().map(|c| c.symbol().to_string()).collect();
        assert_eq!(syms, ["+", ".", "?"]);
        assert_eq!(buf[(0, 0)].fg, Color::Reset);
    }
}
