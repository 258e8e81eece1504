//! Figure specifications: plain data (what to draw, with which axis ranges), built by
//! `figures` from the metrics and drawn by `render`. Tests check the specs (the axis
//! ranges hold the data) and the rendered files (they carry the same values).

use chrono::{DateTime, Duration, Utc};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rgb(pub u8, pub u8, pub u8);

impl Rgb {
    pub fn hex(self) -> String {
        format!("#{:02x}{:02x}{:02x}", self.0, self.1, self.2)
    }
}

/// The palette (Grafana's dark theme colours).
pub mod palette {
    use super::Rgb;
    pub const BACKGROUND: Rgb = Rgb(0x18, 0x1b, 0x1f);
    pub const PANEL: Rgb = Rgb(0x11, 0x12, 0x17);
    pub const TEXT: Rgb = Rgb(0xcc, 0xcc, 0xdc);
    pub const MUTED: Rgb = Rgb(0x8e, 0x8e, 0xa0);
    pub const GRID: Rgb = Rgb(0x2c, 0x30, 0x36);
    pub const AXIS: Rgb = Rgb(0x4a, 0x4e, 0x56);
    pub const GREEN: Rgb = Rgb(0x73, 0xbf, 0x69);
    pub const YELLOW: Rgb = Rgb(0xfa, 0xde, 0x2a);
    pub const RED: Rgb = Rgb(0xf2, 0x49, 0x5c);
    pub const BLUE: Rgb = Rgb(0x57, 0x94, 0xf2);
    pub const ORANGE: Rgb = Rgb(0xff, 0x98, 0x30);
    pub const PURPLE: Rgb = Rgb(0xb8, 0x77, 0xd9);
    pub const TEAL: Rgb = Rgb(0x4e, 0xc9, 0xb0);
    pub const GREY: Rgb = Rgb(0xb0, 0xb4, 0xbc);
}

/// What the x axis means. Chart x values are hours since `origin` ([`XAxis::Time`]) or
/// the hour of the week ([`XAxis::HourOfWeek`], Monday 00:00 = 0).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum XAxis {
    Time { origin: DateTime<Utc> },
    HourOfWeek,
}

impl XAxis {
    /// x of a time on a [`XAxis::Time`] axis.
    pub fn x(origin: DateTime<Utc>, t: DateTime<Utc>) -> f64 {
        (t - origin).num_seconds() as f64 / 3600.0
    }
    pub fn time(origin: DateTime<Utc>, x: f64) -> DateTime<Utc> {
        origin + Duration::seconds((x * 3600.0).round() as i64)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum LayerKind {
    /// A line; a NaN y breaks it (gaps in the data stay gaps).
    Line { points: Vec<(f64, f64)>, width: u32, dashed: bool },
    /// A filled band between `lo` and `hi` per x (envelopes, stacked areas); NaN breaks it.
    Band { points: Vec<(f64, f64, f64)>, opacity: f64 },
    /// A horizontal band over the whole x range (threshold zones).
    Zone { lo: f64, hi: f64, opacity: f64 },
    /// A horizontal line over the whole x range (nominal values, limits).
    HLine { y: f64, dashed: bool },
    /// Bars from `base` to y, `width` in x units, centred on x.
    Bars { points: Vec<(f64, f64)>, width: f64, base: f64 },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Layer {
    /// Legend text; empty = not in the legend.
    pub name: String,
    pub color: Rgb,
    pub kind: LayerKind,
}

/// An x–y panel with an optional secondary y axis on the right.
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    pub title: String,
    pub x: XAxis,
    pub x_range: (f64, f64),
    pub y_label: String,
    pub y_range: (f64, f64),
    pub layers: Vec<Layer>,
    pub secondary: Option<Secondary>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Secondary {
    pub y_label: String,
    pub y_range: (f64, f64),
    pub layers: Vec<Layer>,
}

/// A grid of cells; `values[row][col]`, `None` = no data. The colour follows
/// `color_values` (same shape) when given, else `values`.
#[derive(Debug, Clone, PartialEq)]
pub struct Heatmap {
    pub title: String,
    pub rows: Vec<String>,
    pub cols: Vec<String>,
    pub values: Vec<Vec<Option<f64>>>,
    pub color_values: Option<Vec<Vec<Option<f64>>>>,
    /// Unit of `values` (cell titles).
    pub unit: String,
    /// Colour scale: what the lowest and highest colour mean, and its label.
    pub scale: (f64, f64),
    pub scale_label: String,
    pub x_label: String,
    pub y_label: String,
}

/// A state timeline: one row per label, bands coloured by state.
#[derive(Debug, Clone, PartialEq)]
pub struct Timeline {
    pub title: String,
    pub origin: DateTime<Utc>,
    pub x_range: (f64, f64),
    pub rows: Vec<String>,
    pub bands: Vec<Band>,
    pub legend: Vec<(String, Rgb)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Band {
    pub row: usize,
    pub start: f64,
    pub end: f64,
    pub color: Rgb,
    /// Tooltip text (the SVG `<title>` of the band).
    pub label: String,
}

/// Grouped bars over categories: `groups[g].values[c]` for category `c`.
#[derive(Debug, Clone, PartialEq)]
pub struct Bars {
    pub title: String,
    pub categories: Vec<String>,
    pub groups: Vec<(String, Rgb, Vec<f64>)>,
    pub y_label: String,
    pub y_range: (f64, f64),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Panel {
    Chart(Chart),
    Heatmap(Heatmap),
    Timeline(Timeline),
    Bars(Bars),
}

/// One figure: one file per format, one `<figure>` in the HTML.
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    /// File stem, e.g. `load_curve`.
    pub id: String,
    pub title: String,
    pub subtitle: String,
    pub width: u32,
    pub height: u32,
    /// Panels top to bottom with their relative heights.
    pub panels: Vec<(u32, Panel)>,
}

/// Smallest and largest finite values of an iterator, `None` when there is none.
pub fn bounds(values: impl IntoIterator<Item = f64>) -> Option<(f64, f64)> {
    values.into_iter().filter(|v| v.is_finite()).fold(None, |acc, v| match acc {
        None => Some((v, v)),
        Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
    })
}

impl Layer {
    /// Every (x, y) the layer draws (both ends of bands and bars); zones and lines
    /// across the panel contribute their y only.
    pub fn xy(&self) -> Vec<(Option<f64>, f64)> {
        match &self.kind {
            LayerKind::Line { points, .. } => points.iter().map(|&(x, y)| (Some(x), y)).collect(),
            LayerKind::Band { points, .. } => points.iter().flat_map(|&(x, lo, hi)| [(Some(x), lo), (Some(x), hi)]).collect(),
            LayerKind::Zone { lo, hi, .. } => vec![(None, *lo), (None, *hi)],
            LayerKind::HLine { y, .. } => vec![(None, *y)],
            LayerKind::Bars { points, base, .. } => points.iter().flat_map(|&(x, y)| [(Some(x), y), (Some(x), *base)]).collect(),
        }
    }
}

/// `(x bounds, y bounds)` of a chart's data; `None` when it has no point.
pub type DataBounds = (Option<(f64, f64)>, Option<(f64, f64)>);

impl Chart {
    /// The data's x and y bounds over the primary layers (zones excluded: they may
    /// extend past the view on purpose, e.g. "above the high limit").
    pub fn data_bounds(&self) -> DataBounds {
        let pts: Vec<(Option<f64>, f64)> = self
            .layers
            .iter()
            .filter(|l| !matches!(l.kind, LayerKind::Zone { .. }))
            .flat_map(|l| l.xy())
            .filter(|(_, y)| y.is_finite())
            .collect();
        (bounds(pts.iter().filter_map(|(x, _)| *x)), bounds(pts.iter().map(|(_, y)| *y)))
    }
}

/// A y range with some headroom around `lo..hi`; a flat series gets a visible span.
pub fn padded(lo: f64, hi: f64, frac: f64) -> (f64, f64) {
    let span = hi - lo;
    let pad = if span > 1e-9 { span * frac } else { lo.abs().max(1.0) * 0.05 };
    (lo - pad, hi + pad)
}
