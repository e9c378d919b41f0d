//! `volley compare BASE NEW`: two results side by side (req/s, success, reply latency
//! percentiles, errors), each change with whether it is beyond run-to-run noise.
//!
//! Noise is judged from the two runs' time series: every full interval of a run is one
//! sample of each figure (its reply rate, its success share, its own reply-latency
//! percentiles, its error rate), and [`noise::mann_whitney`] says how likely samples this
//! far apart are to come from one distribution. A change is beyond noise when that p-value
//! is below [`ALPHA`]. With fewer than [`MIN_INTERVALS`] full intervals on a side, noise
//! is not judged.
//!
//! [`Comparison::failed`] is `--fail-if-worse`: the gated figures (req/s, success, p99)
//! that got worse beyond noise and by more than the threshold.

pub mod noise;
pub mod render;

#[cfg(test)]
use serde_json::Value;
use volley_scoreboard::Counter;
use volley_worker::series::IntervalData;
use volley_worker::stats::Latency;

use crate::report::Report;

/// A change is beyond noise when the p-value of the two samples is below this: one
/// comparison in a hundred of two runs of one build would be called a change.
pub const ALPHA: f64 = 0.01;

/// Full intervals a side needs before noise is judged: with fewer, even two runs that
/// never overlap are not unlikely by chance (3 against 3 gives p = 0.1 at best).
pub const MIN_INTERVALS: usize = 5;

/// The figures `--fail-if-worse` gates.
pub const GATED: [&str; 3] = ["req/s", "success %", "p99"];

/// Which way is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Better {
    /// More is better (rates, success).
    Higher,
    /// Less is better (latency, errors).
    Lower,
}

/// How a figure moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Better in NEW.
    Better,
    /// Worse in NEW.
    Worse,
    /// Equal, or one side has no value.
    Same,
}

/// What the per-interval samples say of a change.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Noise {
    /// Judged: the Mann–Whitney test of the per-interval samples.
    Judged {
        /// Two-sided p-value.
        p: f64,
        /// Which way NEW's samples lie from BASE's.
        new_vs_base: std::cmp::Ordering,
    },
    /// Not judged: a side has fewer than [`MIN_INTERVALS`] samples.
    TooFew {
        /// Samples of BASE.
        base: usize,
        /// Samples of NEW.
        new: usize,
    },
    /// Not judged: the figure has no per-interval samples (a closed loop's corrected
    /// percentiles: the time series keeps the measured latencies only).
    Unsampled,
}

/// One row of the comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The figure (`req/s`, `success %`, `p50`, …, `max`, `errors`).
    pub name: &'static str,
    /// Its unit (`replies/s`, `%`, `ms`, `count`).
    pub unit: &'static str,
    /// Which way is better.
    pub better: Better,
    /// BASE's value over its whole run (`None`: no sample).
    pub base: Option<f64>,
    /// NEW's value over its whole run.
    pub new: Option<f64>,
    /// Whether the change is beyond noise.
    pub noise: Noise,
}

impl Row {
    /// NEW − BASE.
    pub fn change(&self) -> Option<f64> {
        Some(self.new? - self.base?)
    }

    /// The change in percent of BASE (`None` when BASE is 0 or missing).
    pub fn change_pct(&self) -> Option<f64> {
        let base = self.base?;
        (base != 0.0).then(|| self.change().map(|c| c / base.abs() * 100.0))?
    }

    /// Which way it moved.
    pub fn direction(&self) -> Direction {
        match (self.change(), self.better) {
            (Some(c), Better::Higher) | (Some(c), Better::Lower) if c == 0.0 => Direction::Same,
            (Some(c), Better::Higher) if c > 0.0 => Direction::Better,
            (Some(c), Better::Lower) if c < 0.0 => Direction::Better,
            (Some(_), _) => Direction::Worse,
            (None, _) => Direction::Same,
        }
    }

    /// `Some(true)` when the change is beyond noise: the per-interval samples differ
    /// (p < [`ALPHA`]) the same way as the whole runs' values (a run whose p99 fell while
    /// most of its intervals' p99 rose has not shown a fall); `Some(false)` within noise,
    /// `None` not judged.
    pub fn beyond_noise(&self) -> Option<bool> {
        use std::cmp::Ordering;
        let Noise::Judged { p, new_vs_base } = self.noise else {
            return None;
        };
        let whole = match self.change() {
            Some(c) if c > 0.0 => Ordering::Greater,
            Some(c) if c < 0.0 => Ordering::Less,
            _ => return Some(false),
        };
        Some(p < ALPHA && new_vs_base == whole)
    }

    /// Worse beyond noise (or noise not judged) and by more than `pct` percent of BASE
    /// (any worsening of a BASE of 0).
    pub fn worse_beyond(&self, pct: f64) -> bool {
        let far = self.change_pct().is_none_or(|c| c.abs() > pct);
        self.direction() == Direction::Worse && self.beyond_noise() != Some(false) && far
    }
}

/// Two results compared.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// Workload ids of BASE and NEW.
    pub workload_ids: (String, String),
    /// Full intervals of BASE and NEW (the noise samples), and their lengths (ns).
    pub intervals: ((usize, u64), (usize, u64)),
    /// The rows, in the table's order.
    pub rows: Vec<Row>,
}

impl Comparison {
    /// Compares NEW with BASE.
    pub fn new(base: &Report, new: &Report) -> Comparison {
        let (b, n) = (Samples::of(base), Samples::of(new));
        let mut rows = Vec::new();
        let mut row = |name: &'static str,
                       unit: &'static str,
                       better: Better,
                       whole: &dyn Fn(&Report) -> Option<f64>,
                       each: Each| {
            rows.push(Row {
                name,
                unit,
                better,
                base: whole(base),
                new: whole(new),
                noise: judge(&b.each(each), &n.each(each)),
            });
        };
        row(
            "req/s",
            "replies/s",
            Better::Higher,
            &|r| Some(r.requests_per_s()),
            Each::Rate,
        );
        row("success %", "%", Better::Higher, &success, Each::Success);
        for (name, q) in [("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p99.9", 0.999)] {
            let whole = move |r: &Report| r.reply.quantile_us(q).map(|us| us / 1000.0);
            row(name, "ms", Better::Lower, &whole, Each::Quantile(q));
        }
        let max = |r: &Report| (!r.reply.is_empty()).then(|| r.reply.moments.max as f64 / 1e3);
        row("max", "ms", Better::Lower, &max, Each::Max);
        row(
            "errors",
            "count",
            Better::Lower,
            &|r| Some(r.errors() as f64),
            Each::Errors,
        );
        // A closed loop's estimate of what its stalls hid (see the report's `reply
        // (corrected)*` row): shown when either side has it, never gated or judged.
        if [base, new].iter().any(|r| has_corrected(r)) {
            for (name, q) in [("p99 corrected", 0.99), ("p99.9 corrected", 0.999)] {
                let whole = move |r: &Report| {
                    has_corrected(r)
                        .then(|| r.reply_corrected.quantile_us(q).map(|us| us / 1000.0))
                        .flatten()
                };
                rows.push(Row {
                    name,
                    unit: "ms",
                    better: Better::Lower,
                    base: whole(base),
                    new: whole(new),
                    noise: Noise::Unsampled,
                });
            }
        }
        Comparison {
            workload_ids: (base.workload_id.clone(), new.workload_id.clone()),
            intervals: ((b.full.len(), b.len_ns), (n.full.len(), n.len_ns)),
            rows,
        }
    }

    /// The gated figures that got worse beyond noise and by more than `pct` percent.
    pub fn failed(&self, pct: f64) -> Vec<&Row> {
        self.rows
            .iter()
            .filter(|r| GATED.contains(&r.name) && r.worse_beyond(pct))
            .collect()
    }

    /// Noise could be judged (both sides have enough intervals).
    pub fn noise_judged(&self) -> bool {
        let ((b, _), (n, _)) = self.intervals;
        b.min(n) >= MIN_INTERVALS
    }
}

/// A closed loop's result with its corrected reply histogram (an open loop has none; a
/// result file from before the correction neither).
fn has_corrected(r: &Report) -> bool {
    r.open_loop.is_none() && !r.reply_corrected.is_empty()
}

/// Replies in percent of the completed requests.
fn success(r: &Report) -> Option<f64> {
    (r.completed() > 0).then(|| r.replies() as f64 * 100.0 / r.completed() as f64)
}

/// The noise verdict of two sets of samples.
fn judge(a: &[f64], b: &[f64]) -> Noise {
    if a.len().min(b.len()) < MIN_INTERVALS {
        return Noise::TooFew {
            base: a.len(),
            new: b.len(),
        };
    }
    match noise::test(a, b) {
        Some(o) => Noise::Judged {
            p: o.p,
            new_vs_base: o.b_vs_a,
        },
        None => Noise::TooFew {
            base: a.len(),
            new: b.len(),
        },
    }
}

/// What one interval contributes to a row.
#[derive(Debug, Clone, Copy)]
enum Each {
    Rate,
    Success,
    Quantile(f64),
    Max,
    Errors,
}

/// A run's full intervals: those wholly inside its load (the first and last are cut by
/// the start and the stop, and would read as a slowdown).
struct Samples {
    len_ns: u64,
    full: Vec<(IntervalData, Latency)>,
}

impl Samples {
    fn of(r: &Report) -> Samples {
        let Some(ts) = &r.series else {
            return Samples {
                len_ns: 0,
                full: Vec::new(),
            };
        };
        let len = u128::from(ts.interval_ns.max(1));
        let start = u128::from(r.started_unix_ms) * 1_000_000;
        let dur = if r.duration_s.is_finite() {
            r.duration_s.max(0.0)
        } else {
            0.0
        };
        let end = start.saturating_add((dur * 1e9) as u128);
        let full = ts
            .intervals
            .values()
            .filter(|i| u128::from(i.key) * len >= start && (u128::from(i.key) + 1) * len <= end)
            .map(|i| {
                let mut l = Latency::new();
                i.latency.add_to(&mut l);
                (i.clone(), l)
            })
            .collect();
        Samples {
            len_ns: ts.interval_ns,
            full,
        }
    }

    /// One sample per full interval (intervals without the figure, such as a latency
    /// without a reply, give none).
    fn each(&self, what: Each) -> Vec<f64> {
        let secs = self.len_ns as f64 / 1e9;
        self.full
            .iter()
            .filter_map(|(i, l)| {
                let replies = i.get(Counter::RequestsSucceeded);
                let failed = i.get(Counter::RequestsFailed);
                match what {
                    Each::Rate => Some(replies as f64 / secs),
                    Each::Success => (replies + failed > 0)
                        .then(|| replies as f64 * 100.0 / (replies + failed) as f64),
                    Each::Quantile(q) => l.quantile_us(q),
                    Each::Max => (!l.is_empty()).then_some(l.moments.max as f64),
                    Each::Errors => Some(failed as f64 / secs),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::TimeSeries;
    use volley_worker::report::HistogramData;

    /// A run of `n` whole 1 s intervals, interval `k` with `replies` replies of about
    /// `us` µs (spread by ±10%) and `errors` errors.
    fn run(n: u64, us: u64, replies: u64, errors: u64) -> Report {
        let mut r = Report::new("http://h/".into(), "GET".into(), 4, (1, true));
        r.workload_id = "aaaaaaaaaaaaaaaa".into();
        r.started_unix_ms = 1_700_000_000_000;
        r.duration_s = n as f64;
        let mut ts = TimeSeries::default();
        let mut all = Vec::new();
        for k in 0..n {
            let mut l = Latency::new();
            for i in 0..replies {
                // Each interval a little different, as in a real run.
                l.record_us(us * (95 + (i * 7 + k * 3) % 11) / 100);
            }
            crate::report::combine::add_latency(&mut r.reply, &l);
            let mut counters = vec![0; Counter::COUNT];
            counters[Counter::RequestsSucceeded.index()] = replies + k % 3;
            counters[Counter::RequestsFailed.index()] = errors;
            counters[Counter::RequestsStarted.index()] = replies + k % 3 + errors;
            all.push(IntervalData {
                key: r.started_unix_ms / 1000 + k,
                counters,
                errors: Vec::new(),
                latency: HistogramData::from_latency(&l),
            });
        }
        ts.add(1_000_000_000, &all);
        r.series = Some(ts);
        let replies: u64 = all.iter().map(|i| i.get(Counter::RequestsSucceeded)).sum();
        r.totals.counters[Counter::RequestsSucceeded.index()] = replies;
        r.totals.counters[Counter::RequestsFailed.index()] = errors * n;
        r.totals.counters[Counter::RequestsStarted.index()] = replies + errors * n;
        r
    }

    fn row<'a>(c: &'a Comparison, name: &str) -> &'a Row {
        c.rows.iter().find(|r| r.name == name).unwrap()
    }

    #[test]
    fn a_result_against_itself_has_no_change() {
        let r = run(10, 1000, 100, 1);
        let c = Comparison::new(&r, &r);
        assert_eq!(c.intervals, ((10, 1_000_000_000), (10, 1_000_000_000)));
        for row in &c.rows {
            assert_eq!(row.direction(), Direction::Same, "{row:?}");
            assert_eq!(row.change(), Some(0.0), "{row:?}");
            assert_eq!(row.beyond_noise(), Some(false), "{row:?}");
        }
        assert!(c.failed(0.0).is_empty());
    }

    #[test]
    fn a_slower_run_is_worse_beyond_noise_and_fails_the_gate() {
        let (fast, slow) = (run(10, 1000, 100, 0), run(10, 5000, 100, 0));
        let c = Comparison::new(&fast, &slow);
        let p99 = row(&c, "p99");
        assert_eq!(p99.direction(), Direction::Worse);
        assert_eq!(p99.beyond_noise(), Some(true), "{p99:?}");
        assert!(p99.change_pct().unwrap() > 300.0);
        let failed: Vec<&str> = c.failed(5.0).iter().map(|r| r.name).collect();
        assert_eq!(failed, ["p99"]);
        // The same rate on both sides: no change there.
        assert_eq!(row(&c, "req/s").direction(), Direction::Same);
        // Reversed: better, and nothing fails.
        let c = Comparison::new(&slow, &fast);
        assert_eq!(row(&c, "p99").direction(), Direction::Better);
        assert_eq!(row(&c, "p50").beyond_noise(), Some(true));
        assert!(c.failed(5.0).is_empty());
        // A threshold above the change: within it.
        let c = Comparison::new(&fast, &slow);
        assert!(c.failed(1000.0).is_empty());
    }

    #[test]
    fn intervals_leaning_the_other_way_are_not_a_change_beyond_noise() {
        // BASE's whole-run p99 is one burst of slow replies; interval by interval, NEW is
        // the slower one.
        let mut base = run(10, 1000, 100, 0);
        for _ in 0..50 {
            base.reply.record_us(20_000);
        }
        let new = run(10, 1100, 100, 0);
        let c = Comparison::new(&base, &new);
        let p99 = row(&c, "p99");
        assert_eq!(p99.direction(), Direction::Better);
        assert!(
            matches!(p99.noise, Noise::Judged { p, .. } if p < ALPHA),
            "{p99:?}"
        );
        assert_eq!(p99.beyond_noise(), Some(false));
        let side = |report| render::Side {
            file: "x.json",
            report,
        };
        let out = render::text(&c, side(&base), side(&new), None);
        let line = out.lines().find(|l| l.starts_with("p99 [ms]")).unwrap();
        assert!(
            line.ends_with("better, within noise (the intervals lean the other way, p < 0.001)"),
            "{line}"
        );
        // p50 moved the same way both ways: beyond noise.
        assert_eq!(row(&c, "p50").beyond_noise(), Some(true));
    }

    #[test]
    fn a_closed_loops_corrected_percentiles_are_shown_but_neither_judged_nor_gated() {
        // Without a corrected histogram (an open loop, an older file): no such rows.
        let (mut base, mut new) = (run(10, 1000, 100, 0), run(10, 1000, 100, 0));
        assert!(
            Comparison::new(&base, &new)
                .rows
                .iter()
                .all(|r| !r.name.contains("corrected"))
        );
        // NEW's closed loop hid a stall: its corrected tail is far worse, the measured
        // figures the same.
        base.reply_corrected = base.reply.clone();
        new.reply_corrected = new.reply.clone();
        for _ in 0..100 {
            new.reply_corrected.record_us(300_000);
        }
        let c = Comparison::new(&base, &new);
        let p99 = row(&c, "p99 corrected");
        assert_eq!(p99.noise, Noise::Unsampled);
        assert!(p99.base.unwrap() < 2.0, "{p99:?}");
        assert!(p99.new.unwrap() > 250.0, "{p99:?}");
        assert_eq!(p99.direction(), Direction::Worse);
        assert_eq!(p99.beyond_noise(), None);
        assert!(c.failed(0.0).is_empty(), "never gated");
        assert_eq!(row(&c, "p99").beyond_noise(), Some(false));
        let side = |report| render::Side {
            file: "x.json",
            report,
        };
        let out = render::text(&c, side(&base), side(&new), None);
        let line = out
            .lines()
            .find(|l| l.starts_with("p99.9 corrected [ms]"))
            .unwrap();
        assert!(
            line.ends_with("worse, not judged (an estimate: no per-interval samples)"),
            "{line}"
        );
        // The columns stay aligned under the longer label: BASE's values end where its
        // heading does.
        let head = out.lines().find(|l| l.contains("change %")).unwrap();
        let end = head.find("BASE").unwrap() + 4;
        for l in out.lines().filter(|l| l.contains(" [ms]")) {
            assert!(
                l[..end].ends_with(|c: char| c.is_ascii_digit()) && l[end..].starts_with(' '),
                "{l:?} misaligned under {head:?}"
            );
        }
    }

    #[test]
    fn fewer_than_five_intervals_are_not_judged() {
        let (fast, slow) = (run(4, 1000, 100, 0), run(4, 5000, 100, 0));
        let c = Comparison::new(&fast, &slow);
        assert!(!c.noise_judged());
        assert_eq!(row(&c, "p99").noise, Noise::TooFew { base: 4, new: 4 });
        // The threshold alone decides then, and the report says so.
        assert_eq!(c.failed(5.0).len(), 1);
        let side = |report| render::Side {
            file: "x.json",
            report,
        };
        let out = render::text(&c, side(&fast), side(&slow), Some(5.0));
        let p99 = out.lines().find(|l| l.starts_with("p99 [ms]")).unwrap();
        assert!(
            p99.ends_with("worse, too few intervals to judge noise"),
            "{p99}"
        );
        assert!(
            out.ends_with(
                "FAILED: NEW is worse than BASE by more than 5%: p99 +400.0% (too few \
                 intervals to judge noise: BASE 4, NEW 4 full intervals, 5 needed (a longer \
                 run or a shorter --interval gives more); the threshold alone decided)\n"
            ),
            "{out}"
        );
    }

    #[test]
    fn cut_intervals_are_not_samples() {
        let mut r = run(8, 1000, 100, 0);
        // Started 300 ms into the first interval and stopped 300 ms into the last.
        r.started_unix_ms += 300;
        r.duration_s = 7.0;
        let c = Comparison::new(&r, &r);
        assert_eq!(c.intervals.0.0, 6);
    }

    #[test]
    fn errors_and_success_count_against_new() {
        let (clean, failing) = (run(10, 1000, 100, 0), run(10, 1000, 100, 20));
        let c = Comparison::new(&clean, &failing);
        let errors = row(&c, "errors");
        assert_eq!((errors.base, errors.new), (Some(0.0), Some(200.0)));
        assert_eq!(errors.change_pct(), None);
        assert!(errors.worse_beyond(5.0));
        let success = row(&c, "success %");
        assert_eq!(success.direction(), Direction::Worse);
        assert_eq!(success.beyond_noise(), Some(true));
        let failed: Vec<&str> = c.failed(5.0).iter().map(|r| r.name).collect();
        assert_eq!(failed, ["success %"]);
    }

    #[test]
    fn text_and_json() {
        let (fast, mut slow) = (run(10, 1000, 100, 0), run(10, 5000, 100, 0));
        slow.workload_id = "bbbbbbbbbbbbbbbb".into();
        let c = Comparison::new(&fast, &slow);
        let (b, n) = (
            render::Side {
                file: "fast.json",
                report: &fast,
            },
            render::Side {
                file: "slow.json",
                report: &slow,
            },
        );
        let out = render::text(&c, b, n, Some(5.0));
        assert!(
            out.starts_with("Compare: BASE fast.json with NEW slow.json\n"),
            "{out}"
        );
        assert!(
            out.contains("  BASE fast.json: 1009 requests in 10.000 s, 10 full intervals of 1 s"),
            "{out}"
        );
        assert!(out.contains("WARNING: different workloads"), "{out}");
        let p99 = out.lines().find(|l| l.starts_with("p99 [ms]")).unwrap();
        assert!(p99.ends_with("worse, beyond noise (p < 0.001)"), "{p99}");
        assert!(
            out.ends_with(
                "\n\nFAILED: NEW is worse than BASE beyond noise and by more than 5%: p99 \
                 +400.0%\n"
            ),
            "{out}"
        );
        let v: Value = serde_json::from_str(&render::json(&c, b, n, Some(5.0))).unwrap();
        assert_eq!(v["failed"], serde_json::json!(["p99"]));
        assert_eq!(v["same_workload"], false);
        assert_eq!(v["noise"]["test"], "mann-whitney-u");
        let p99 = &v["metrics"][4];
        assert_eq!(p99["name"], "p99");
        assert_eq!(p99["direction"], "worse");
        assert_eq!(p99["beyond_noise"], true);
        let out = render::text(&c, b, n, None);
        assert!(
            out.ends_with("Beyond noise: worse p50 p90 p99 p99.9 max; better none\n"),
            "{out}"
        );
    }
}
