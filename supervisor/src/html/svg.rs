//! A line chart as inline SVG: a legend row, a grid with "nice" ticks, axis labels and one
//! `<path>` per unbroken run of points, with a dot for a point that stands alone.
//!
//! The x axis is either linear (seconds) or HdrHistogram's percentile axis: `1 / (1 − q)`
//! on a log scale, labelled 0 %, 90 %, 99 % … 99.999 %, so every "nine" gets the same
//! width. The y axis is linear from 0. Text is laid out by the browser (`text-anchor`),
//! so nothing here needs font metrics; the legend's widths are estimates with room to
//! spare.

use std::fmt::Write as _;

use super::esc;

/// The chart's width in SVG units (the page scales it down on a narrow screen).
pub const WIDTH: f64 = 1000.0;
const PLOT_HEIGHT: f64 = 240.0;
const LEFT: f64 = 78.0;
const RIGHT: f64 = 28.0;
const LEGEND_ROW: f64 = 22.0;
const GAP: f64 = 14.0;
const BOTTOM: f64 = 56.0;
/// Ticks wanted along an axis (the nice step makes it 4 to 10).
const TICKS: f64 = 6.0;

/// How x values map to the axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XScale {
    /// Linear from 0 to the largest x.
    Linear,
    /// x is a quantile `q` in [0, 1); drawn at `log10(1 / (1 − q))`, 0 % to 99.999 %.
    Percentile,
}

/// How a line is stroked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stroke {
    /// A solid line.
    Solid,
    /// Long dashes.
    Dashed,
    /// Dots.
    Dotted,
    /// Dot and dash.
    DashDot,
}

impl Stroke {
    /// The four strokes, in the order series take them.
    pub const ALL: [Stroke; 4] = [
        Stroke::Solid,
        Stroke::Dashed,
        Stroke::Dotted,
        Stroke::DashDot,
    ];

    fn attr(self) -> &'static str {
        match self {
            Stroke::Solid => "",
            Stroke::Dashed => r#" stroke-dasharray="9 5""#,
            Stroke::Dotted => r#" stroke-dasharray="2 4""#,
            Stroke::DashDot => r#" stroke-dasharray="10 4 2 4""#,
        }
    }
}

/// A series' colour and stroke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    /// A CSS colour.
    pub colour: &'static str,
    /// The stroke.
    pub stroke: Stroke,
}

/// One line; `None` between points is a gap (an interval without a value).
#[derive(Debug, Clone, Default)]
pub struct Series {
    /// Its colour and stroke.
    pub style: Option<Style>,
    /// Measured on the right-hand axis ([`Chart::y2_label`]) instead of the left.
    pub right: bool,
    /// `(x, y)` in data units, x rising.
    pub points: Vec<Option<(f64, f64)>>,
}

/// What a legend swatch means.
#[derive(Debug, Clone)]
pub struct LegendEntry {
    /// The text.
    pub label: String,
    /// The swatch.
    pub style: Style,
}

/// A whole chart.
#[derive(Debug, Clone)]
pub struct Chart {
    /// The title (the SVG's `<title>`; the page shows it as the heading).
    pub title: String,
    /// The x axis' label.
    pub x_label: String,
    /// The y axis' label.
    pub y_label: String,
    /// The right-hand y axis' label, for a chart with series on it (errors beside
    /// replies, which would lie flat at the bottom of the replies' axis).
    pub y2_label: Option<String>,
    /// How x maps.
    pub x_scale: XScale,
    /// The lines.
    pub series: Vec<Series>,
    /// The legend, in order.
    pub legend: Vec<LegendEntry>,
}

/// A y axis: 0 to `max`, with its ticks `(value, label)`.
struct Axis {
    max: f64,
    ticks: Vec<(f64, String)>,
}

/// The plot area and the data ranges it shows.
struct Frame {
    top: f64,
    right: f64,
    scale: XScale,
    x: Axis,
    y: Axis,
    y2: Option<Axis>,
}

impl Frame {
    fn bottom(&self) -> f64 {
        self.top + PLOT_HEIGHT
    }

    /// The horizontal position of axis value `at` (a quantile already mapped).
    fn at_x(&self, at: f64) -> f64 {
        LEFT + (self.right - LEFT) * (at / self.x.max).clamp(0.0, 1.0)
    }

    fn px(&self, x: f64) -> f64 {
        self.at_x(match self.scale {
            XScale::Linear => x,
            XScale::Percentile => percentile_axis(x),
        })
    }

    fn py(&self, y: f64, right: bool) -> f64 {
        let max = match (&self.y2, right) {
            (Some(y2), true) => y2.max,
            _ => self.y.max,
        };
        self.bottom() - PLOT_HEIGHT * (y / max).clamp(0.0, 1.0)
    }
}

/// Where quantile `q` sits on the percentile axis: `log10(1 / (1 − q))`, capped at 99.999 %.
fn percentile_axis(q: f64) -> f64 {
    let decades = -(1.0 - q.clamp(0.0, super::input::TOP_QUANTILE)).log10();
    decades.max(0.0)
}

impl Chart {
    /// Whether any series has a point to draw.
    pub fn has_data(&self) -> bool {
        self.points(None).next().is_some()
    }

    /// The finite points of every series (`Some(right)`: of those on that axis).
    fn points(&self, right: Option<bool>) -> impl Iterator<Item = (f64, f64)> + '_ {
        self.series
            .iter()
            .filter(move |s| right.is_none_or(|r| s.right == r))
            .flat_map(|s| s.points.iter().flatten().copied())
            .filter(|(x, y)| x.is_finite() && y.is_finite())
    }

    /// The chart as an `<svg>` element (well-formed XML).
    pub fn to_svg(&self) -> String {
        let legend_rows = legend_layout(&self.legend);
        let rows = legend_rows.last().map_or(0.0, |&(_, row, _)| row + 1.0);
        let frame = self.frame(GAP + rows * LEGEND_ROW + GAP / 2.0);
        let height = frame.bottom() + BOTTOM;
        let mut s = String::new();
        let _ = write!(
            s,
            r#"<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" font-family="sans-serif" font-size="13"><title>{}</title>"#,
            esc(&self.title)
        );
        self.draw_legend(&mut s, &legend_rows);
        draw_axes(&mut s, &frame, self);
        s.push_str(r#"<g class="data" fill="none" stroke-width="2" stroke-linejoin="round">"#);
        for series in &self.series {
            draw_series(&mut s, &frame, series);
        }
        s.push_str("</g></svg>");
        s
    }

    fn frame(&self, top: f64) -> Frame {
        let x = match self.x_scale {
            XScale::Linear => linear_axis(self.points(None).map(|(x, _)| x).fold(0.0, f64::max)),
            XScale::Percentile => {
                let labels = ["0%", "90%", "99%", "99.9%", "99.99%", "99.999%"];
                let ticks = labels
                    .iter()
                    .enumerate()
                    .map(|(i, l)| (i as f64, (*l).to_string()))
                    .collect();
                Axis {
                    max: labels.len() as f64 - 1.0,
                    ticks,
                }
            }
        };
        let y_max = |right| self.points(Some(right)).map(|(_, y)| y).fold(0.0, f64::max);
        let two = self.y2_label.is_some();
        Frame {
            top,
            right: WIDTH - if two { LEFT } else { RIGHT },
            scale: self.x_scale,
            x,
            y: linear_axis(y_max(false)),
            y2: two.then(|| linear_axis(y_max(true))),
        }
    }

    fn draw_legend(&self, s: &mut String, layout: &[(f64, f64, usize)]) {
        s.push_str(r#"<g class="legend">"#);
        for &(x, row, i) in layout {
            let e = &self.legend[i];
            let y = GAP + row * LEGEND_ROW + LEGEND_ROW / 2.0;
            let _ = write!(
                s,
                r#"<line x1="{x:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="{}" stroke-width="3"{}/><text x="{:.1}" y="{:.1}">{}</text>"#,
                x + 28.0,
                e.style.colour,
                e.style.stroke.attr(),
                x + 34.0,
                y + 4.5,
                esc(&e.label)
            );
        }
        s.push_str("</g>");
    }
}

/// Each legend entry's `(x, row, index)`: left to right, wrapping at the chart's width.
fn legend_layout(legend: &[LegendEntry]) -> Vec<(f64, f64, usize)> {
    let mut out = Vec::with_capacity(legend.len());
    let (mut x, mut row) = (LEFT, 0.0);
    for (i, e) in legend.iter().enumerate() {
        // About 7.5 units a character at 13 px, a swatch and a gap.
        let w = 34.0 + 7.5 * e.label.chars().count() as f64 + 22.0;
        if x > LEFT && x + w > WIDTH - RIGHT {
            x = LEFT;
            row += 1.0;
        }
        out.push((x, row, i));
        x += w;
    }
    out
}

/// The grid, the tick labels, the frame and the axis labels.
fn draw_axes(s: &mut String, f: &Frame, c: &Chart) {
    let (right, bottom) = (f.right, f.bottom());
    s.push_str(r##"<g class="grid" stroke="#e3e3e3" stroke-width="1">"##);
    for (v, _) in &f.y.ticks {
        let y = f.py(*v, false);
        let _ = write!(
            s,
            r#"<line x1="{LEFT}" y1="{y:.1}" x2="{right}" y2="{y:.1}"/>"#
        );
    }
    for (v, _) in &f.x.ticks {
        let x = f.at_x(*v);
        let _ = write!(
            s,
            r#"<line x1="{x:.1}" y1="{}" x2="{x:.1}" y2="{bottom}"/>"#,
            f.top
        );
    }
    s.push_str(r##"</g><g class="axes" fill="#333">"##);
    let mut y_labels = |axis: &Axis, x: f64, anchor: &str, right: bool| {
        for (v, label) in &axis.ticks {
            let y = f.py(*v, right) + 4.5;
            let _ = write!(
                s,
                r#"<text x="{x:.1}" y="{y:.1}" text-anchor="{anchor}">{label}</text>"#
            );
        }
    };
    y_labels(&f.y, LEFT - 8.0, "end", false);
    if let Some(y2) = &f.y2 {
        y_labels(y2, right + 8.0, "start", true);
    }
    for (v, label) in &f.x.ticks {
        let _ = write!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{label}</text>"#,
            f.at_x(*v),
            bottom + 20.0
        );
    }
    let _ = write!(
        s,
        r##"<rect x="{LEFT}" y="{}" width="{}" height="{PLOT_HEIGHT}" fill="none" stroke="#888"/>"##,
        f.top,
        right - LEFT
    );
    let label = |s: &mut String, x: f64, y: f64, turn: i32, text: &str| {
        let turn = match turn {
            0 => String::new(),
            t => format!(r#" transform="rotate({t} {x:.1} {y:.1})""#),
        };
        let _ = write!(
            s,
            r#"<text class="axis-label" x="{x:.1}" y="{y:.1}" text-anchor="middle" font-weight="bold"{turn}>{}</text>"#,
            esc(text)
        );
    };
    let mid_y = f.top + PLOT_HEIGHT / 2.0;
    label(s, (LEFT + right) / 2.0, bottom + 44.0, 0, &c.x_label);
    label(s, 18.0, mid_y, -90, &c.y_label);
    if let Some(y2) = &c.y2_label {
        label(s, WIDTH - 14.0, mid_y, 90, y2);
    }
    s.push_str("</g>");
}

/// One series: a `<path>` per unbroken run of two or more points, a dot for a lone one.
fn draw_series(s: &mut String, f: &Frame, series: &Series) {
    let Some(style) = series.style else { return };
    let finite = |p: &Option<(f64, f64)>| p.filter(|(x, y)| x.is_finite() && y.is_finite());
    let at = |(x, y): (f64, f64)| (f.px(x), f.py(y, series.right));
    let mut run: Vec<(f64, f64)> = Vec::new();
    let flush = |s: &mut String, run: &mut Vec<(f64, f64)>| {
        match run.as_slice() {
            [] => {}
            [p] => {
                let (x, y) = at(*p);
                let _ = write!(
                    s,
                    r#"<circle class="point" cx="{x:.1}" cy="{y:.1}" r="3" fill="{}" stroke="none"/>"#,
                    style.colour
                );
            }
            points => {
                let mut d = String::with_capacity(points.len() * 14);
                for (i, p) in points.iter().enumerate() {
                    let cmd = if i == 0 { 'M' } else { 'L' };
                    let (x, y) = at(*p);
                    let _ = write!(d, "{cmd}{x:.1},{y:.1}");
                }
                let _ = write!(
                    s,
                    r#"<path class="series" d="{d}" stroke="{}"{}/>"#,
                    style.colour,
                    style.stroke.attr()
                );
            }
        }
        run.clear();
    };
    for p in &series.points {
        match finite(p) {
            Some(p) => run.push(p),
            None => flush(s, &mut run),
        }
    }
    flush(s, &mut run);
}

/// An axis from 0 to a round number at or above `max`.
fn linear_axis(max: f64) -> Axis {
    let max = if max > 0.0 && max.is_finite() {
        max
    } else {
        1.0
    };
    let step = nice_step(max / TICKS);
    let n = (max / step - 1e-9).ceil().max(1.0) as usize;
    let ticks = (0..=n)
        .map(|i| {
            let v = step * i as f64;
            (v, number(v, step))
        })
        .collect();
    Axis {
        max: step * n as f64,
        ticks,
    }
}

/// 1, 2, 2.5 or 5 times a power of ten, at or above `raw`.
fn nice_step(raw: f64) -> f64 {
    let mag = 10f64.powf(raw.log10().floor());
    let norm = raw / mag;
    let nice = [1.0, 2.0, 2.5, 5.0]
        .into_iter()
        .find(|&n| norm <= n + 1e-9)
        .unwrap_or(10.0);
    nice * mag
}

/// A tick label: as many decimals as the step needs; thousands as k, millions as M (from
/// steps of 100k: 0.2M, 0.4M … reads better than 200k … 1200k).
fn number(v: f64, step: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let (v, step, suffix) = if step >= 1e5 {
        (v / 1e6, step / 1e6, "M")
    } else if step >= 1e3 {
        (v / 1e3, step / 1e3, "k")
    } else {
        (v, step, "")
    };
    let decimals = (0..6)
        .find(|&d| {
            let scaled = step * 10f64.powi(d);
            (scaled - scaled.round()).abs() < 1e-6
        })
        .unwrap_or(6) as usize;
    format!("{v:.decimals$}{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chart(series: Vec<Series>, scale: XScale) -> Chart {
        Chart {
            title: "T <1> & \"2\"".into(),
            x_label: "x".into(),
            y_label: "y".into(),
            y2_label: None,
            x_scale: scale,
            series,
            legend: vec![LegendEntry {
                label: "a<b".into(),
                style: STYLE,
            }],
        }
    }

    const STYLE: Style = Style {
        colour: "#1f77b4",
        stroke: Stroke::Dashed,
    };

    #[test]
    fn ticks_are_round_and_cover_the_data() {
        let Axis { max, ticks } = linear_axis(93.0);
        assert_eq!(max, 100.0);
        let labels: Vec<&str> = ticks.iter().map(|(_, l)| l.as_str()).collect();
        assert_eq!(labels, ["0", "20", "40", "60", "80", "100"]);
        let Axis { max, ticks } = linear_axis(0.7);
        assert!((max - 0.8).abs() < 1e-9, "{max}");
        assert_eq!(ticks[1].1, "0.2");
        let Axis { max, ticks } = linear_axis(14.2);
        assert_eq!(max, 15.0);
        assert_eq!(ticks[1].1, "2.5");
        let ticks = linear_axis(48_000.0).ticks;
        assert_eq!((ticks[0].1.as_str(), ticks[1].1.as_str()), ("0", "10k"));
        assert_eq!(linear_axis(0.0).max, 1.0, "an empty axis still has a range");
        assert_eq!(number(2_500_000.0, 500_000.0), "2.5M");
    }

    #[test]
    fn the_percentile_axis_gives_each_nine_the_same_width() {
        assert_eq!(percentile_axis(0.0), 0.0);
        assert!((percentile_axis(0.9) - 1.0).abs() < 1e-9);
        assert!((percentile_axis(0.999) - 3.0).abs() < 1e-9);
        assert!(
            (percentile_axis(1.0) - 5.0).abs() < 1e-9,
            "capped at 99.999 %"
        );
    }

    #[test]
    fn gaps_split_lines_and_lone_points_are_dots() {
        let s = Series {
            style: Some(STYLE),
            right: false,
            points: vec![
                Some((0.0, 1.0)),
                Some((1.0, 2.0)),
                None,
                Some((2.0, 2.0)),
                None,
                Some((3.0, f64::NAN)),
                Some((4.0, 1.0)),
                Some((5.0, 0.5)),
            ],
        };
        let c = chart(vec![s], XScale::Linear);
        assert!(c.has_data());
        let svg = c.to_svg();
        assert_eq!(svg.matches("<path class=\"series\"").count(), 2, "{svg}");
        assert_eq!(svg.matches("<circle class=\"point\"").count(), 1, "{svg}");
        assert!(svg.contains("stroke-dasharray=\"9 5\""));
        assert!(svg.contains("<title>T &lt;1&gt; &amp; &quot;2&quot;</title>"));
        assert!(svg.contains(">a&lt;b</text>"));
        assert!(svg.starts_with("<svg ") && svg.ends_with("</svg>"));
    }

    #[test]
    fn no_points_is_no_data() {
        let empty = chart(vec![Series::default()], XScale::Percentile);
        assert!(!empty.has_data());
        let nan = Series {
            style: Some(STYLE),
            right: false,
            points: vec![Some((f64::NAN, 1.0))],
        };
        assert!(!chart(vec![nan], XScale::Linear).has_data());
    }

    #[test]
    fn series_on_the_right_have_their_own_axis() {
        let line = |right, y| Series {
            style: Some(STYLE),
            right,
            points: vec![Some((0.0, 0.0)), Some((1.0, y))],
        };
        let mut c = chart(vec![line(false, 1000.0), line(true, 3.0)], XScale::Linear);
        c.y2_label = Some("errors".into());
        let f = c.frame(10.0);
        assert_eq!((f.y.max, f.y2.as_ref().unwrap().max), (1000.0, 3.0));
        // Both lines reach the top of the plot area, each on its own scale.
        assert_eq!(f.py(1000.0, false), f.top);
        assert_eq!(f.py(3.0, true), f.top);
        let svg = c.to_svg();
        assert!(svg.contains(r#"transform="rotate(90 "#) && svg.contains(">errors</text>"));
    }

    #[test]
    fn a_long_legend_wraps() {
        let entry = LegendEntry {
            label: "x".repeat(20),
            style: STYLE,
        };
        let rows = legend_layout(&vec![entry; 5]);
        let rows: Vec<f64> = rows.iter().map(|r| r.1).collect();
        assert_eq!(rows, [0.0, 0.0, 0.0, 0.0, 1.0]);
    }
}
