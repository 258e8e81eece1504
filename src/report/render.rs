//! Drawing: a [`Figure`] becomes an SVG with plotters (text measured with the embedded
//! DejaVu Sans, so layout is the same on every machine); PNG and PDF are rendered from
//! that SVG by resvg and svg2pdf with a font database holding only the embedded font.
//! Nothing looks up system fonts, so a machine without any renders the same pictures.
//!
//! Heatmap cells and timeline bands are written straight into the SVG (after plotters
//! has drawn axes and labels) as `<rect>`s with `data-*` attributes and a `<title>`:
//! browsers show the value on hover and tests read the values back.

use super::figure::*;
use plotters::coord::Shift;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use std::fmt::Write as _;
use std::sync::{Arc, Once, OnceLock};

/// DejaVu Sans (Bitstream Vera licence, see `assets/fonts/LICENSE-DejaVu.txt`).
pub static FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
const FAMILY: &str = "sans-serif";

fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The font is a valid TTF compiled into the binary; a failure would be a build defect.
        let _ = plotters::style::register_font(FAMILY, FontStyle::Normal, FONT);
    });
}

/// The font database of the SVG → PNG/PDF conversion: the embedded font only.
fn usvg_options() -> &'static usvg::Options<'static> {
    static OPTS: OnceLock<usvg::Options<'static>> = OnceLock::new();
    OPTS.get_or_init(|| {
        let mut db = usvg::fontdb::Database::new();
        db.load_font_data(FONT.to_vec());
        db.set_sans_serif_family("DejaVu Sans");
        usvg::Options { fontdb: Arc::new(db), font_family: "DejaVu Sans".into(), ..Default::default() }
    })
}

fn color(c: Rgb) -> RGBColor {
    RGBColor(c.0, c.1, c.2)
}

fn font(size: u32, c: Rgb) -> TextStyle<'static> {
    TextStyle { font: (FAMILY, size as f64).into_font(), color: color(c).to_backend_color(), pos: Default::default() }
}

type Res<T = ()> = Result<T, String>;

fn err<E: std::fmt::Debug>(e: E) -> String {
    format!("drawing failed: {e:?}")
}

/// XML-escapes text for attributes and element content.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Renders a figure as a standalone SVG document.
pub fn to_svg(fig: &Figure) -> Res<String> {
    register_font();
    let mut svg = String::new();
    let mut overlay = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (fig.width, fig.height)).into_drawing_area();
        root.fill(&color(palette::BACKGROUND)).map_err(err)?;
        root.draw_text(&fig.title, &font(22, palette::TEXT), (16, 12)).map_err(err)?;
        root.draw_text(&fig.subtitle, &font(15, palette::MUTED), (16, 40)).map_err(err)?;
        let (_, body) = root.split_vertically(64);
        let total: u32 = fig.panels.iter().map(|(w, _)| *w).sum::<u32>().max(1);
        let height = body.dim_in_pixel().1;
        let mut rest = body;
        for (i, (weight, panel)) in fig.panels.iter().enumerate() {
            let area = if i + 1 == fig.panels.len() {
                rest.clone()
            } else {
                let h = height * weight / total;
                let (a, b) = rest.split_vertically(h);
                rest = b;
                a
            };
            let area = area.margin(4, 8, 12, 12);
            match panel {
                Panel::Chart(c) => draw_chart(&area, c)?,
                Panel::Heatmap(h) => draw_heatmap(&area, h, &mut overlay)?,
                Panel::Timeline(t) => draw_timeline(&area, t, &mut overlay)?,
                Panel::Bars(b) => draw_bars(&area, b)?,
            }
        }
        root.present().map_err(err)?;
    }
    let close = svg.rfind("</svg>").ok_or("plotters wrote no closing </svg>")?;
    svg.insert_str(close, &overlay);
    Ok(svg)
}

pub fn svg_to_png(svg: &str) -> Res<Vec<u8>> {
    let tree = usvg::Tree::from_str(svg, usvg_options()).map_err(|e| format!("cannot read the SVG: {e}"))?;
    let size = tree.size().to_int_size();
    let mut pixmap = resvg::tiny_skia::Pixmap::new(size.width(), size.height()).ok_or("figure has no size")?;
    resvg::render(&tree, resvg::tiny_skia::Transform::default(), &mut pixmap.as_mut());
    pixmap.encode_png().map_err(|e| format!("cannot encode PNG: {e}"))
}

pub fn svg_to_pdf(svg: &str) -> Res<Vec<u8>> {
    let tree = usvg::Tree::from_str(svg, usvg_options()).map_err(|e| format!("cannot read the SVG: {e}"))?;
    svg2pdf::to_pdf(&tree, svg2pdf::ConversionOptions::default(), svg2pdf::PageOptions::default())
        .map_err(|e| format!("cannot convert to PDF: {e}"))
}

// ---------------------------------------------------------------------------------
// Axes

/// A linear f64 axis with the ticks we choose (midnights, categories). plotters'
/// `WithKeyPoints` over `RangedCoordf64` cannot take a label formatter, so this is
/// the same thing with default formatting (never used: every axis sets a formatter).
#[derive(Clone)]
struct TickAxis {
    lo: f64,
    hi: f64,
    ticks: Vec<f64>,
}

fn ticked(range: std::ops::Range<f64>, ticks: Vec<f64>) -> TickAxis {
    TickAxis { lo: range.start, hi: range.end, ticks }
}

impl Ranged for TickAxis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;
    fn map(&self, v: &f64, limit: (i32, i32)) -> i32 {
        let span = if self.hi > self.lo { self.hi - self.lo } else { 1.0 };
        let f = (v - self.lo) / span;
        limit.0 + (f * (limit.1 - limit.0) as f64).round() as i32
    }
    fn key_points<H: KeyPointHint>(&self, hint: H) -> Vec<f64> {
        if hint.weight().allow_light_points() { Vec::new() } else { self.ticks.clone() }
    }
    fn range(&self) -> std::ops::Range<f64> {
        self.lo..self.hi
    }
}

/// Tick positions (x values) of a time axis and whether they are whole days.
fn time_ticks(origin: chrono::DateTime<chrono::Utc>, x0: f64, x1: f64) -> (Vec<f64>, bool) {
    let span = (x1 - x0).max(1.0);
    let step = [1.0, 2.0, 3.0, 6.0, 12.0, 24.0, 48.0, 72.0, 168.0, 336.0, 720.0]
        .into_iter()
        .find(|s| span / s <= 12.0)
        .unwrap_or(24.0 * ((span / 24.0 / 12.0).ceil()));
    // Align to UTC midnight of the origin's day.
    let offset = XAxis::x(origin, origin.date_naive().and_hms_opt(0, 0, 0).map(|t| t.and_utc()).unwrap_or(origin));
    let mut ticks = Vec::new();
    let mut t = offset + ((x0 - offset) / step).ceil() * step;
    while t <= x1 + 1e-9 && ticks.len() < 64 {
        ticks.push(t);
        t += step;
    }
    (ticks, step >= 24.0)
}

fn time_label(origin: chrono::DateTime<chrono::Utc>, x: f64, days: bool) -> String {
    let t = XAxis::time(origin, x);
    if days || (t.time() == chrono::NaiveTime::MIN) { t.format("%b %d").to_string() } else { t.format("%H:%M").to_string() }
}

const WEEKDAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

fn y_decimals(lo: f64, hi: f64) -> usize {
    let span = (hi - lo).abs();
    if span >= 10.0 { 0 } else if span >= 1.0 { 1 } else if span >= 0.1 { 2 } else { 3 }
}

// ---------------------------------------------------------------------------------
// Charts

fn legend_items(layers: &[Layer]) -> Vec<(&str, Rgb, bool)> {
    layers
        .iter()
        .filter(|l| !l.name.is_empty())
        .map(|l| (l.name.as_str(), l.color, matches!(l.kind, LayerKind::Line { .. } | LayerKind::HLine { .. })))
        .collect()
}

/// Panel title on the left and the legend on the right of a strip above the plot.
fn draw_header<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, title: &str, items: &[(&str, Rgb, bool)]) -> Res {
    area.draw_text(title, &font(16, palette::TEXT), (70, 3)).map_err(err)?;
    let style = font(14, palette::MUTED);
    let mut x = area.dim_in_pixel().0 as i32 - 12;
    for (name, c, is_line) in items.iter().rev() {
        let (w, _) = area.estimate_text_size(name, &style).map_err(err)?;
        x -= w as i32;
        area.draw_text(name, &style, (x, 6)).map_err(err)?;
        x -= 20;
        if *is_line {
            area.draw(&PathElement::new(vec![(x, 12), (x + 14, 12)], color(*c).stroke_width(3))).map_err(err)?;
        } else {
            area.draw(&Rectangle::new([(x, 6), (x + 14, 17)], color(*c).mix(0.7).filled())).map_err(err)?;
        }
        x -= 16;
    }
    Ok(())
}

/// Splits a series at NaN values into runs to draw.
fn runs<T: Copy>(points: &[T], is_nan: impl Fn(&T) -> bool) -> Vec<Vec<T>> {
    let mut out: Vec<Vec<T>> = vec![Vec::new()];
    for p in points {
        if is_nan(p) {
            if !out.last().is_some_and(|r| r.is_empty()) {
                out.push(Vec::new());
            }
        } else if let Some(last) = out.last_mut() {
            last.push(*p);
        }
    }
    out.retain(|r| !r.is_empty());
    out
}

fn draw_layers<DB: DrawingBackend, X: Ranged<ValueType = f64>, Y: Ranged<ValueType = f64>>(
    area: &DrawingArea<DB, plotters::coord::cartesian::Cartesian2d<X, Y>>,
    layers: &[Layer],
    x_range: (f64, f64),
    y_range: (f64, f64),
) -> Res {
    let clamp = |y: f64| y.clamp(y_range.0, y_range.1);
    for l in layers {
        let c = color(l.color);
        match &l.kind {
            LayerKind::Zone { lo, hi, opacity } => {
                let (lo, hi) = (clamp(*lo), clamp(*hi));
                if hi > lo {
                    area.draw(&Rectangle::new([(x_range.0, lo), (x_range.1, hi)], c.mix(*opacity).filled())).map_err(err)?;
                }
            }
            LayerKind::Band { points, opacity } => {
                for run in runs(points, |p| !(p.1.is_finite() && p.2.is_finite())) {
                    let mut poly: Vec<(f64, f64)> = run.iter().map(|p| (p.0, clamp(p.2))).collect();
                    poly.extend(run.iter().rev().map(|p| (p.0, clamp(p.1))));
                    area.draw(&Polygon::new(poly, c.mix(*opacity).filled())).map_err(err)?;
                }
            }
            LayerKind::Line { points, width, dashed } => {
                for run in runs(points, |p| !p.1.is_finite()) {
                    let pts: Vec<(f64, f64)> = run.iter().map(|p| (p.0, clamp(p.1))).collect();
                    let style = c.stroke_width(*width);
                    if *dashed {
                        area.draw(&DashedPathElement::new(pts, 6, 4, style)).map_err(err)?;
                    } else if pts.len() == 1 {
                        area.draw(&Circle::new(pts[0], 2, c.filled())).map_err(err)?;
                    } else {
                        area.draw(&PathElement::new(pts, style)).map_err(err)?;
                    }
                }
            }
            LayerKind::HLine { y, dashed } => {
                let pts = vec![(x_range.0, *y), (x_range.1, *y)];
                if *dashed {
                    area.draw(&DashedPathElement::new(pts, 8, 5, c.stroke_width(1))).map_err(err)?;
                } else {
                    area.draw(&PathElement::new(pts, c.stroke_width(1))).map_err(err)?;
                }
            }
            LayerKind::Bars { points, width, base } => {
                for &(x, y) in points.iter().filter(|p| p.1.is_finite()) {
                    let (a, b) = (clamp(*base), clamp(y));
                    area.draw(&Rectangle::new([(x - width / 2.0, a.min(b)), (x + width / 2.0, a.max(b))], c.mix(0.85).filled()))
                        .map_err(err)?;
                }
            }
        }
    }
    Ok(())
}

fn map_layer(l: &Layer, f: &dyn Fn(f64) -> f64) -> Layer {
    let kind = match &l.kind {
        LayerKind::Line { points, width, dashed } => {
            LayerKind::Line { points: points.iter().map(|&(x, y)| (x, f(y))).collect(), width: *width, dashed: *dashed }
        }
        LayerKind::Band { points, opacity } => {
            LayerKind::Band { points: points.iter().map(|&(x, a, b)| (x, f(a), f(b))).collect(), opacity: *opacity }
        }
        LayerKind::Zone { lo, hi, opacity } => LayerKind::Zone { lo: f(*lo), hi: f(*hi), opacity: *opacity },
        LayerKind::HLine { y, dashed } => LayerKind::HLine { y: f(*y), dashed: *dashed },
        LayerKind::Bars { points, width, base } => {
            LayerKind::Bars { points: points.iter().map(|&(x, y)| (x, f(y))).collect(), width: *width, base: f(*base) }
        }
    };
    Layer { name: l.name.clone(), color: l.color, kind }
}

fn draw_chart<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, c: &Chart) -> Res {
    let (head, plot) = area.split_vertically(24);
    let mut items = legend_items(&c.layers);
    if let Some(s) = &c.secondary {
        items.extend(legend_items(&s.layers));
    }
    draw_header(&head, &c.title, &items)?;
    let (x0, x1) = c.x_range;
    let (y0, y1) = c.y_range;
    let (ticks, days) = match c.x {
        XAxis::Time { origin } => time_ticks(origin, x0, x1),
        XAxis::HourOfWeek => ((0..7).map(|d| d as f64 * 24.0 + 12.0).collect(), false),
    };
    let mut builder = ChartBuilder::on(&plot);
    builder.margin_right(if c.secondary.is_some() { 70 } else { 24 }).x_label_area_size(26).y_label_area_size(62);
    let y_labels = (plot.dim_in_pixel().1 as usize / 36).clamp(4, 8);
    let mut chart = builder.build_cartesian_2d(ticked(x0..x1, ticks.clone()), y0..y1).map_err(err)?;
    let x_fmt = |x: &f64| match c.x {
        XAxis::Time { origin } => time_label(origin, *x, days),
        XAxis::HourOfWeek => WEEKDAYS.get((*x / 24.0) as usize).copied().unwrap_or("").to_string(),
    };
    let dec = y_decimals(y0, y1);
    let y_fmt = |y: &f64| format!("{y:.dec$}");
    chart
        .configure_mesh()
        .bold_line_style(color(palette::GRID).stroke_width(1))
        .light_line_style(TRANSPARENT)
        .axis_style(color(palette::AXIS))
        .label_style(font(14, palette::MUTED))
        .axis_desc_style(font(14, palette::MUTED))
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&y_fmt)
        .y_labels(y_labels)
        .y_desc(c.y_label.as_str())
        .draw()
        .map_err(err)?;
    if matches!(c.x, XAxis::HourOfWeek) {
        // Day boundaries of the weekly view.
        for d in 1..7 {
            let x = d as f64 * 24.0;
            chart.plotting_area().draw(&PathElement::new(vec![(x, y0), (x, y1)], color(palette::AXIS))).map_err(err)?;
        }
    }
    draw_layers(chart.plotting_area(), &c.layers, c.x_range, c.y_range)?;
    if let Some(s) = &c.secondary {
        // The secondary axis is drawn by hand: plotters repeats the primary labels in a
        // right label area. Its layers are mapped onto the primary y range.
        let (s0, s1) = s.y_range;
        let to_primary = |v: f64| if s1 > s0 { y0 + (v - s0) / (s1 - s0) * (y1 - y0) } else { y0 };
        let mapped: Vec<Layer> = s.layers.iter().map(|l| map_layer(l, &to_primary)).collect();
        draw_layers(chart.plotting_area(), &mapped, c.x_range, c.y_range)?;
        let style = font(14, palette::MUTED).pos(plotters::style::text_anchor::Pos::new(
            plotters::style::text_anchor::HPos::Left,
            plotters::style::text_anchor::VPos::Center,
        ));
        let sdec = y_decimals(s0, s1);
        let base = plot.get_base_pixel();
        for i in 0..=5 {
            let v = s0 + (s1 - s0) * i as f64 / 5.0;
            let (px, py) = chart.backend_coord(&(x1, to_primary(v)));
            plot.draw(&PathElement::new(vec![(px - base.0, py - base.1), (px - base.0 + 4, py - base.1)], color(palette::AXIS)))
                .map_err(err)?;
            plot.draw_text(&format!("{v:.sdec$}"), &style, (px - base.0 + 7, py - base.1)).map_err(err)?;
        }
        let (px, _) = chart.backend_coord(&(x1, y0));
        let (_, ptop) = chart.backend_coord(&(x1, y1));
        let (_, pbot) = chart.backend_coord(&(x1, y0));
        plot.draw(&PathElement::new(vec![(px - base.0, ptop - base.1), (px - base.0, pbot - base.1)], color(palette::AXIS))).map_err(err)?;
        let desc = font(14, palette::MUTED).transform(FontTransform::Rotate90);
        plot.draw_text(&s.y_label, &desc, (px - base.0 + 52, (ptop + pbot) / 2 - base.1 - 30)).map_err(err)?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------
// Heatmap

/// Viridis, sampled: perceptually uniform and readable on the dark background.
const VIRIDIS: [(f64, Rgb); 5] = [
    (0.0, Rgb(0x44, 0x01, 0x54)),
    (0.25, Rgb(0x3b, 0x52, 0x8b)),
    (0.5, Rgb(0x21, 0x91, 0x8c)),
    (0.75, Rgb(0x5e, 0xc9, 0x62)),
    (1.0, Rgb(0xfd, 0xe7, 0x25)),
];

pub fn colormap(t: f64) -> Rgb {
    let t = if t.is_finite() { t.clamp(0.0, 1.0) } else { 0.0 };
    for w in VIRIDIS.windows(2) {
        let ((t0, a), (t1, b)) = (w[0], w[1]);
        if t <= t1 {
            let f = (t - t0) / (t1 - t0);
            let mix = |x: u8, y: u8| (x as f64 + (y as f64 - x as f64) * f).round() as u8;
            return Rgb(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2));
        }
    }
    VIRIDIS[4].1
}

/// `n` categories at `0.5, 1.5, …` on `0..n`.
fn category_axis(n: usize) -> TickAxis {
    let n = n.max(1);
    ticked(0.0..n as f64, (0..n).map(|i| i as f64 + 0.5).collect())
}

fn draw_heatmap<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, h: &Heatmap, overlay: &mut String) -> Res {
    let (head, body) = area.split_vertically(24);
    draw_header(&head, &h.title, &[])?;
    let (plot, bar) = body.split_horizontally(body.dim_in_pixel().0.saturating_sub(110));
    let nrows = h.rows.len().max(1);
    let ncols = h.cols.len().max(1);
    let (xr, yr) = (category_axis(ncols), category_axis(nrows));
    let label_w = h.rows.iter().map(|r| r.chars().count()).max().unwrap_or(4) as u32 * 7 + 16;
    let mut chart = ChartBuilder::on(&plot)
        .x_label_area_size(40)
        .y_label_area_size(label_w.clamp(60, 260))
        .margin_right(8)
        .build_cartesian_2d(xr, yr)
        .map_err(err)?;
    let col_label = |x: &f64| h.cols.get(*x as usize).cloned().unwrap_or_default();
    // Row 0 at the top.
    let row_label = |y: &f64| h.rows.get(nrows.saturating_sub(1 + *y as usize)).cloned().unwrap_or_default();
    chart
        .configure_mesh()
        .disable_mesh()
        .axis_style(color(palette::AXIS))
        .label_style(font(if nrows > 40 { 12 } else { 14 }, palette::MUTED))
        .axis_desc_style(font(14, palette::MUTED))
        .x_label_formatter(&col_label)
        .y_label_formatter(&row_label)
        .x_desc(h.x_label.as_str())
        .draw()
        .map_err(err)?;
    let (lo, hi) = h.scale;
    let norm = |v: f64| if hi > lo { (v - lo) / (hi - lo) } else { 0.5 };
    let _ = writeln!(overlay, r#"<g class="heatmap" data-title="{}" data-unit="{}">"#, escape(&h.title), escape(&h.unit));
    for (r, row) in h.values.iter().enumerate() {
        for (ci, v) in row.iter().enumerate() {
            let y_top = (nrows - r) as f64;
            let (px0, py0) = chart.backend_coord(&(ci as f64, y_top));
            let (px1, py1) = chart.backend_coord(&(ci as f64 + 1.0, y_top - 1.0));
            let (w, hgt) = ((px1 - px0 - 1).max(1), (py1 - py0 - 1).max(1));
            let (rl, cl) = (escape(&h.rows[r]), escape(h.cols.get(ci).map(String::as_str).unwrap_or("")));
            match v {
                Some(v) => {
                    let cv = h.color_values.as_ref().and_then(|c| c.get(r)?.get(ci).copied().flatten()).unwrap_or(*v);
                    let fill = colormap(norm(cv)).hex();
                    let shown = if h.color_values.is_some() { format!(" ({cv:.0} {})", escape(&h.scale_label)) } else { String::new() };
                    let _ = writeln!(
                        overlay,
                        r#"<rect x="{px0}" y="{py0}" width="{w}" height="{hgt}" fill="{fill}" data-row="{rl}" data-col="{cl}" data-value="{v}"><title>{rl} {cl}:00 — {v:.2} {}{shown}</title></rect>"#,
                        escape(&h.unit)
                    );
                }
                None => {
                    let _ = writeln!(
                        overlay,
                        r##"<rect x="{px0}" y="{py0}" width="{w}" height="{hgt}" fill="#22252b" data-row="{rl}" data-col="{cl}"><title>{rl} {cl}:00 — no data</title></rect>"##
                    );
                }
            }
        }
    }
    overlay.push_str("</g>\n");
    // Colour bar.
    let (bw, bh) = bar.dim_in_pixel();
    let (top, bottom) = (10i32, bh as i32 - 44);
    let steps = 48;
    for i in 0..steps {
        let t0 = top + (bottom - top) * i / steps;
        let t1 = top + (bottom - top) * (i + 1) / steps;
        let c = colormap(1.0 - (i as f64 + 0.5) / steps as f64);
        bar.draw(&Rectangle::new([(16, t0), (34, t1 + 1)], color(c).filled())).map_err(err)?;
    }
    let style = font(14, palette::MUTED);
    let dec = y_decimals(lo, hi);
    for (y, v) in [(top, hi), ((top + bottom) / 2, (lo + hi) / 2.0), (bottom, lo)] {
        bar.draw_text(&format!("{v:.dec$}"), &style, (40, y - 6)).map_err(err)?;
    }
    bar.draw_text(&h.scale_label, &style, (12, bottom + 10)).map_err(err)?;
    let _ = bw;
    Ok(())
}

// ---------------------------------------------------------------------------------
// State timeline

fn draw_timeline<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, t: &Timeline, overlay: &mut String) -> Res {
    let (head, plot) = area.split_vertically(24);
    let items: Vec<(&str, Rgb, bool)> = t.legend.iter().map(|(n, c)| (n.as_str(), *c, false)).collect();
    draw_header(&head, &t.title, &items)?;
    let nrows = t.rows.len().max(1);
    let yr = category_axis(nrows);
    let (x0, x1) = t.x_range;
    let (ticks, days) = time_ticks(t.origin, x0, x1);
    let mut chart = ChartBuilder::on(&plot)
        .x_label_area_size(26)
        .y_label_area_size(140)
        .margin_right(24)
        .build_cartesian_2d(ticked(x0..x1, ticks), yr)
        .map_err(err)?;
    let x_fmt = |x: &f64| time_label(t.origin, *x, days);
    let row_label = |y: &f64| t.rows.get(nrows.saturating_sub(1 + *y as usize)).cloned().unwrap_or_default();
    chart
        .configure_mesh()
        .disable_y_mesh()
        .bold_line_style(color(palette::GRID))
        .light_line_style(TRANSPARENT)
        .axis_style(color(palette::AXIS))
        .label_style(font(14, palette::MUTED))
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&row_label)
        .draw()
        .map_err(err)?;
    // Row backgrounds: "normal" is a quiet green track, as in a state timeline.
    for r in 0..nrows {
        let y = (nrows - r) as f64;
        chart
            .plotting_area()
            .draw(&Rectangle::new([(x0, y - 0.15), (x1, y - 0.85)], color(palette::GREEN).mix(0.18).filled()))
            .map_err(err)?;
    }
    let _ = writeln!(overlay, r#"<g class="timeline" data-title="{}">"#, escape(&t.title));
    for b in &t.bands {
        let y_top = (nrows - b.row) as f64 - 0.15;
        let (px0, py0) = chart.backend_coord(&(b.start.clamp(x0, x1), y_top));
        let (px1, py1) = chart.backend_coord(&(b.end.clamp(x0, x1), y_top - 0.7));
        let w = (px1 - px0).max(2);
        let _ = writeln!(
            overlay,
            r#"<rect x="{px0}" y="{py0}" width="{w}" height="{}" fill="{}" fill-opacity="0.85" data-row="{}" data-start="{:.3}" data-end="{:.3}"><title>{}</title></rect>"#,
            (py1 - py0).max(1),
            b.color.hex(),
            escape(t.rows.get(b.row).map(String::as_str).unwrap_or("")),
            b.start,
            b.end,
            escape(&b.label)
        );
    }
    overlay.push_str("</g>\n");
    Ok(())
}

// ---------------------------------------------------------------------------------
// Horizontal grouped bars

fn draw_bars<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, b: &Bars) -> Res {
    let (head, plot) = area.split_vertically(24);
    let items: Vec<(&str, Rgb, bool)> = if b.groups.len() > 1 { b.groups.iter().map(|g| (g.0.as_str(), g.1, false)).collect() } else { Vec::new() };
    draw_header(&head, &b.title, &items)?;
    let n = b.categories.len().max(1);
    let yr = category_axis(n);
    let label_w = b.categories.iter().map(|c| c.chars().count()).max().unwrap_or(4) as u32 * 7 + 16;
    let mut chart = ChartBuilder::on(&plot)
        .x_label_area_size(32)
        .y_label_area_size(label_w.clamp(60, 300))
        .margin_right(48)
        .build_cartesian_2d(b.y_range.0..b.y_range.1, yr)
        .map_err(err)?;
    let row_label = |y: &f64| b.categories.get(n.saturating_sub(1 + *y as usize)).cloned().unwrap_or_default();
    let dec = y_decimals(b.y_range.0, b.y_range.1);
    let x_fmt = |x: &f64| format!("{x:.dec$}");
    chart
        .configure_mesh()
        .disable_y_mesh()
        .bold_line_style(color(palette::GRID))
        .light_line_style(TRANSPARENT)
        .axis_style(color(palette::AXIS))
        .label_style(font(14, palette::MUTED))
        .axis_desc_style(font(14, palette::MUTED))
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&row_label)
        .x_desc(b.y_label.as_str())
        .draw()
        .map_err(err)?;
    let g = b.groups.len().max(1) as f64;
    let slot = 0.8 / g;
    for (gi, (_, c, values)) in b.groups.iter().enumerate() {
        for (ci, v) in values.iter().enumerate().filter(|(_, v)| v.is_finite()) {
            let y_top = (n - ci) as f64 - 0.1 - gi as f64 * slot;
            let v = v.clamp(b.y_range.0, b.y_range.1);
            chart
                .plotting_area()
                .draw(&Rectangle::new([(b.y_range.0, y_top), (v, y_top - slot * 0.9)], color(*c).mix(0.85).filled()))
                .map_err(err)?;
            if slot * 0.9 * plot.dim_in_pixel().1 as f64 / n as f64 >= 11.0 {
                let (px, py) = chart.backend_coord(&(v, y_top - slot * 0.45));
                let style = font(13, palette::TEXT).pos(plotters::style::text_anchor::Pos::new(
                    plotters::style::text_anchor::HPos::Left,
                    plotters::style::text_anchor::VPos::Center,
                ));
                plot.draw_text(&format!("{v:.1}"), &style, (px + 4 - plot.get_base_pixel().0, py - plot.get_base_pixel().1)).map_err(err)?;
            }
        }
    }
    Ok(())
}
