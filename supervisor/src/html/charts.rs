//! The page's charts, built from runs: what each plots, its labels and its colours.
//!
//! One run: a colour per metric (p50 green, p99 orange …). Several runs: a colour per file
//! and a stroke per metric (solid, dashed, dotted, dash-dot), with both keys in the legend,
//! so a metric of one file can be followed across the overlay.

use super::input::{Interval, Run};
use super::svg::{Chart, LegendEntry, Series, Stroke, Style, XScale};

/// One colour per file of an overlay (Tableau 10's first eight; a ninth file repeats).
pub const PALETTE: [&str; 8] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf",
];
/// The legend swatches of the metrics in an overlay (their colour is the file's).
const METRIC_KEY: &str = "#555555";
const TIME_AXIS: &str = "seconds since the start of the run (end of each interval)";
const LATENCY_AXIS: &str = "latency (ms)";

/// A line drawn for each run: its legend text, its colour when one run is drawn, and
/// whether it is measured on the right-hand axis.
struct Metric {
    label: &'static str,
    colour: &'static str,
    right: bool,
}

impl Metric {
    const fn left(label: &'static str, colour: &'static str) -> Metric {
        Metric {
            label,
            colour,
            right: false,
        }
    }
}

/// A chart to show, and what to say instead when it has nothing to draw.
#[derive(Debug)]
pub struct Figure {
    /// The chart.
    pub chart: Chart,
    /// Why there is nothing to draw (shown instead of an empty chart).
    pub no_data: &'static str,
    /// How to read it (under the chart).
    pub caption: std::borrow::Cow<'static, str>,
}

/// The colour of run `r` of an overlay.
pub fn run_colour(r: usize) -> &'static str {
    PALETTE[r % PALETTE.len()]
}

/// A chart of `metrics` for every run; `points(run, metric)` gives a line's points.
/// `titles`: the title, the x axis' label, the y axes' labels.
fn chart(
    runs: &[Run],
    titles: [&str; 4],
    x_scale: XScale,
    metrics: &[Metric],
    points: impl Fn(&Run, usize) -> Vec<Option<(f64, f64)>>,
) -> Chart {
    let overlay = runs.len() > 1;
    let style = |r: usize, m: usize| match overlay {
        true => Style {
            colour: run_colour(r),
            stroke: Stroke::ALL[m % Stroke::ALL.len()],
        },
        false => Style {
            colour: metrics[m].colour,
            stroke: Stroke::Solid,
        },
    };
    let mut series = Vec::new();
    for (r, run) in runs.iter().enumerate() {
        for (m, metric) in metrics.iter().enumerate() {
            series.push(Series {
                style: Some(style(r, m)),
                right: metric.right,
                points: points(run, m),
            });
        }
    }
    let mut legend: Vec<LegendEntry> = Vec::new();
    if overlay {
        legend.extend(
            super::labels(runs)
                .into_iter()
                .enumerate()
                .map(|(r, label)| LegendEntry {
                    label,
                    style: Style {
                        colour: run_colour(r),
                        stroke: Stroke::Solid,
                    },
                }),
        );
    }
    if !overlay || metrics.len() > 1 {
        legend.extend(metrics.iter().enumerate().map(|(m, metric)| LegendEntry {
            label: metric.label.to_string(),
            style: Style {
                colour: if overlay { METRIC_KEY } else { metric.colour },
                ..style(0, m)
            },
        }));
    }
    let [title, x_label, y_label, y2_label] = titles.map(str::to_string);
    Chart {
        title,
        x_label,
        y_label,
        y2_label: metrics.iter().any(|m| m.right).then_some(y2_label),
        x_scale,
        series,
        legend,
    }
}

/// Where each interval of `run` is drawn: seconds from the run's start to the interval's
/// end (intervals are aligned on the wall clock, so the first one began before the run).
fn interval_x(run: &Run) -> impl Fn(&Interval) -> f64 + '_ {
    let len_ms = interval_s(run) * 1000.0;
    let origin = run
        .started_unix_ms
        .or(run.intervals.first().map(|i| i.start_unix_ms))
        .unwrap_or(0) as f64;
    move |i| ((i.start_unix_ms as f64 + len_ms - origin) / 1000.0).max(0.0)
}

fn interval_s(run: &Run) -> f64 {
    run.interval_s.filter(|&s| s > 0.0).unwrap_or(1.0)
}

/// Replies and errors per second, one point per interval; errors on their own axis.
pub fn throughput(runs: &[Run]) -> Figure {
    let metrics = [
        Metric::left("replies/s", PALETTE[0]),
        Metric {
            label: "errors/s (right axis)",
            colour: PALETTE[3],
            right: true,
        },
    ];
    let chart = chart(
        runs,
        [
            "Throughput and errors over time",
            TIME_AXIS,
            "replies per second",
            "errors per second",
        ],
        XScale::Linear,
        &metrics,
        |run, m| per_second(run, |i| if m == 0 { i.replies } else { i.errors }),
    );
    Figure {
        chart,
        no_data: "no data: the result file has no time series",
        caption: "Replies (any status) and failed requests (timeouts, refused or reset \
                  connections, protocol errors …) that ended in each interval, per second; \
                  errors have the right-hand axis. The first and last intervals are partly \
                  outside the run and read low."
            .into(),
    }
}

fn per_second(run: &Run, count: impl Fn(&Interval) -> u64) -> Vec<Option<(f64, f64)>> {
    let x = interval_x(run);
    let len = interval_s(run);
    run.intervals
        .iter()
        .map(|i| Some((x(i), count(i) as f64 / len)))
        .collect()
}

/// Reply latency p50, p90, p99 and max per interval.
pub fn latency_over_time(runs: &[Run]) -> Figure {
    let metrics = [
        Metric::left("p50", PALETTE[2]),
        Metric::left("p90", PALETTE[0]),
        Metric::left("p99", PALETTE[1]),
        Metric::left("max", PALETTE[3]),
    ];
    let chart = chart(
        runs,
        ["Reply latency over time", TIME_AXIS, LATENCY_AXIS, ""],
        XScale::Linear,
        &metrics,
        |run, m| {
            let x = interval_x(run);
            run.intervals
                .iter()
                .map(|i| i.latency_ms[m].map(|ms| (x(i), ms)))
                .collect()
        },
    );
    Figure {
        chart,
        no_data: "no data: no interval of the time series has a reply",
        caption: "Percentiles of the reply latency (request sent → reply complete, status \
                  < 400) of the replies that ended in each interval; a gap is an interval \
                  without one."
            .into(),
    }
}

/// The whole run's latency distribution on HdrHistogram's percentile axis: the reply
/// latency (service time), for open-loop runs the response time beside it, and for
/// closed-loop runs the corrected reply latency (what stalls hid, estimated).
pub fn percentiles(runs: &[Run]) -> Figure {
    type Pick = fn(&Run) -> &Option<crate::html::input::Distribution>;
    let mut metrics = vec![Metric::left(
        "service time (reply: sent → complete)",
        PALETTE[0],
    )];
    let mut picks: Vec<Pick> = vec![|r| &r.reply];
    let open_loop = runs.iter().any(|r| r.response.is_some());
    if open_loop {
        metrics.push(Metric::left(
            "response time (scheduled start → complete)",
            PALETTE[1],
        ));
        picks.push(|r| &r.response);
    }
    let corrected = runs.iter().any(|r| r.corrected.is_some());
    if corrected {
        metrics.push(Metric::left(
            "reply, corrected* (closed loop: with what stalls hid, an estimate)",
            PALETTE[3],
        ));
        picks.push(|r| &r.corrected);
    }
    let chart = chart(
        runs,
        [
            "Latency by percentile",
            "percentile (log scale of 1 / (1 − q))",
            LATENCY_AXIS,
            "",
        ],
        XScale::Percentile,
        &metrics,
        |run, m| {
            picks[m](run)
                .as_ref()
                .map_or_else(Vec::new, |d| d.points.iter().map(|&p| Some(p)).collect())
        },
    );
    let mut caption = if open_loop {
        "HdrHistogram's percentile plot of the whole run. Service time is measured \
         from when a request was sent; response time from when it was scheduled, so \
         it includes the wait for a free slot (coordinated omission shows as the gap \
         between the two)."
            .to_string()
    } else {
        "HdrHistogram's percentile plot of the whole run's reply latency (request \
         sent → reply complete, status < 400); each step right is one more nine."
            .to_string()
    };
    if corrected {
        caption.push_str(
            " *Corrected: a closed loop sends nothing on a slot while a reply holds it, \
             so a stall hides the requests the slot would have started meanwhile; the \
             corrected curve adds them, each with the wait it would have had (from the \
             slot's own pace; see the report's reply (corrected)* row). An estimate, \
             not a measurement.",
        );
    }
    Figure {
        chart,
        no_data: "no data: no request got a reply (status < 400)",
        caption: caption.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::html::input::Distribution;

    fn run(name: &str) -> Run {
        Run {
            name: name.into(),
            started_unix_ms: Some(10_300),
            interval_s: Some(1.0),
            intervals: (10..13)
                .map(|k| Interval {
                    start_unix_ms: k * 1000,
                    replies: 100 * k,
                    errors: 1,
                    latency_ms: [Some(1.0), Some(2.0), None, Some(4.0)],
                })
                .collect(),
            ..Run::default()
        }
    }

    #[test]
    fn intervals_are_drawn_at_their_end_from_the_start_of_the_run() {
        let f = throughput(&[run("a.json")]);
        let pts: Vec<_> = f.chart.series[0].points.iter().flatten().copied().collect();
        assert_eq!(pts, [(0.7, 1000.0), (1.7, 1100.0), (2.7, 1200.0)]);
        let errors = &f.chart.series[1];
        assert!(errors.right && errors.points[0] == Some((0.7, 1.0)));
        assert_eq!(f.chart.y2_label.as_deref(), Some("errors per second"));
        assert_eq!(f.chart.legend[0].label, "replies/s");
        assert!(latency_over_time(&[run("a")]).chart.y2_label.is_none());
    }

    #[test]
    fn an_overlay_has_a_colour_per_file_and_a_stroke_per_metric() {
        let f = latency_over_time(&[run("a.json"), run("b.json")]);
        assert_eq!(f.chart.series.len(), 8);
        let labels: Vec<&str> = f.chart.legend.iter().map(|e| e.label.as_str()).collect();
        assert_eq!(labels, ["a.json", "b.json", "p50", "p90", "p99", "max"]);
        let b_p99 = f.chart.series[6].style.unwrap();
        assert_eq!((b_p99.colour, b_p99.stroke), (PALETTE[1], Stroke::Dotted));
        assert!(
            f.chart.series[2].points.iter().all(Option::is_none),
            "no p99"
        );
        let f = throughput(&[run("a"), run("b")]);
        assert_eq!(f.chart.legend.len(), 4, "two files, two metrics");
    }

    #[test]
    fn response_time_is_drawn_only_for_open_loop_runs() {
        let mut a = run("a");
        let d = Distribution {
            count: 1,
            points: vec![(0.0, 1.0), (0.9, 2.0)],
        };
        a.reply = Some(d.clone());
        assert_eq!(percentiles(std::slice::from_ref(&a)).chart.series.len(), 1);
        a.response = Some(d);
        let f = percentiles(&[a]);
        assert_eq!(f.chart.series.len(), 2);
        assert!(f.chart.legend[1].label.starts_with("response time"));
        assert!(!percentiles(&[run("empty")]).chart.has_data());
    }

    #[test]
    fn a_closed_loops_corrected_curve_is_drawn_beside_its_service_time() {
        let d = Distribution {
            count: 1,
            points: vec![(0.0, 1.0), (0.9, 2.0)],
        };
        let mut a = run("a");
        a.reply = Some(d.clone());
        let plain = percentiles(std::slice::from_ref(&a));
        assert!(!plain.caption.contains("Corrected"));
        a.corrected = Some(Distribution {
            count: 2,
            points: vec![(0.0, 1.0), (0.9, 300.0)],
        });
        let f = percentiles(&[a]);
        assert_eq!(f.chart.series.len(), 2);
        assert!(f.chart.legend[1].label.starts_with("reply, corrected*"));
        assert!(f.caption.contains("*Corrected: "), "{}", f.caption);
    }
}
