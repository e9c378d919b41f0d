//! `volley merge`: the results of one workload run as `--client I/N` on several hosts (or
//! run several times) combined into one [`Report`], as if one run had done it all.
//!
//! Counts add; histograms add bucket by bucket, so merged percentiles are those of every
//! sample together (not an average of percentiles); the time series line up on their
//! wall-clock keys; the workers of every file are listed, each naming its file. The run
//! lasts from the earliest start to the latest end. The checks of the files are evaluated
//! again on the merged report.
//!
//! Only results of the same workload (the same `workload_id`) and, when they have time
//! series, the same interval length merge: anything else would add things that do not
//! measure the same.

use std::fmt;

use volley_worker::stats::Latency;

use super::{LogSummary, Report, SessionReport, TimeSeries};

/// Why results cannot be merged.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum MergeError {
    /// No result was given.
    Nothing,
    /// Two files hold results of different workloads.
    DifferentWorkloads {
        /// The first file, and its workload id.
        first: (String, String),
        /// The file that differs, and its workload id.
        other: (String, String),
    },
    /// Two files have time series of different interval lengths.
    DifferentIntervals {
        /// The first file with a series, and its interval (ns).
        first: (String, u64),
        /// The file that differs, and its interval (ns).
        other: (String, u64),
    },
    /// The same run was given twice.
    SameRun {
        /// The first file.
        first: String,
        /// The file that holds the same run.
        other: String,
    },
}

impl fmt::Display for MergeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MergeError::Nothing => write!(f, "no result file to merge"),
            MergeError::DifferentWorkloads { first, other } => write!(
                f,
                "{} and {} are results of different workloads (workload_id {} and {}): only \
                 results of one workload merge (the hosts of one --client I/N run, or runs of \
                 the same command with the same --seed)",
                first.0, other.0, first.1, other.1
            ),
            MergeError::DifferentIntervals { first, other } => write!(
                f,
                "{} has {} intervals and {} has {} intervals: only time series of the same \
                 --interval line up",
                first.0,
                seconds(first.1),
                other.0,
                seconds(other.1)
            ),
            MergeError::SameRun { first, other } => write!(
                f,
                "{other} holds the same run as {first} (same run name and start): it would be \
                 counted twice"
            ),
        }
    }
}

impl std::error::Error for MergeError {}

/// An interval's length: `1 s`, `500 ms`.
pub(crate) fn seconds(ns: u64) -> String {
    if ns.is_multiple_of(1_000_000_000) {
        format!("{} s", ns / 1_000_000_000)
    } else {
        format!("{} ms", ns as f64 / 1e6)
    }
}

/// Merges `parts` (each named by its file) into one report.
///
/// # Errors
///
/// [`MergeError`] when there is nothing to merge, or the parts are not results of one
/// workload with one interval length, or one run is given twice.
pub fn merge(parts: &[(String, Report)]) -> Result<Report, MergeError> {
    let (_, first) = parts.first().ok_or(MergeError::Nothing)?;
    check(parts)?;
    let mut m = Report::new(
        first.url.clone(),
        first.method.clone(),
        0,
        (first.seed.0, parts.iter().all(|(_, r)| r.seed.1)),
    );
    m.workload_id = first.workload_id.clone();
    m.request_bytes = first.request_bytes;
    m.workload = first.workload.clone();
    m.open_loop = first.open_loop.clone().map(|mut o| {
        o.late_starts = 0;
        o
    });
    let same_name = parts.iter().all(|(_, r)| r.run_name == first.run_name);
    m.run_name = if same_name {
        first.run_name.clone()
    } else {
        String::new()
    };
    span(parts, &mut m);
    for (name, r) in parts {
        add(&mut m, name, r);
    }
    m.log = logs(parts);
    if parts.len() > 1
        && let Some(ts) = &m.series
    {
        m.reply_rate_1s = rates(ts, &m, 1_000_000_000);
        m.reply_rate_samples = rates(ts, &m, 5_000_000_000);
    } else {
        m.reply_rate_1s = first.reply_rate_1s.clone();
        m.reply_rate_samples = first.reply_rate_samples.clone();
    }
    m.sources = parts.iter().map(|(name, _)| name.clone()).collect();
    m.checks = checks(parts, &m);
    Ok(m)
}

/// One workload, one interval length, no run twice.
fn check(parts: &[(String, Report)]) -> Result<(), MergeError> {
    let (first_name, first) = &parts[0];
    let mut series: Option<(&String, u64)> = None;
    for (i, (name, r)) in parts.iter().enumerate() {
        if r.workload_id != first.workload_id {
            return Err(MergeError::DifferentWorkloads {
                first: (first_name.clone(), first.workload_id.clone()),
                other: (name.clone(), r.workload_id.clone()),
            });
        }
        if let Some(ts) = &r.series {
            match series {
                Some((n, len)) if len != ts.interval_ns => {
                    return Err(MergeError::DifferentIntervals {
                        first: (n.clone(), len),
                        other: (name.clone(), ts.interval_ns),
                    });
                }
                Some(_) => {}
                None => series = Some((name, ts.interval_ns)),
            }
        }
        let twin = parts[..i]
            .iter()
            .find(|(_, o)| o.run_name == r.run_name && o.started_unix_ms == r.started_unix_ms);
        if let Some((other, _)) = twin {
            return Err(MergeError::SameRun {
                first: other.clone(),
                other: name.clone(),
            });
        }
    }
    Ok(())
}

/// From the earliest start to the latest end; the longest startup and stop overrun.
fn span(parts: &[(String, Report)], m: &mut Report) {
    let start = parts
        .iter()
        .map(|(_, r)| r.started_unix_ms)
        .min()
        .unwrap_or(0);
    let finite = |x: f64| if x.is_finite() { x } else { 0.0 };
    m.started_unix_ms = start;
    m.duration_s = parts
        .iter()
        .map(|(_, r)| (r.started_unix_ms - start) as f64 / 1e3 + finite(r.duration_s))
        .fold(0.0, f64::max);
    m.startup_ms = parts
        .iter()
        .map(|(_, r)| finite(r.startup_ms))
        .fold(0.0, f64::max);
    m.stop_overrun_ms = parts
        .iter()
        .filter_map(|(_, r)| r.stop_overrun_ms)
        .reduce(f64::max);
}

/// Adds one part's counts, histograms, workers and series into `m`.
fn add(m: &mut Report, name: &str, r: &Report) {
    m.concurrency = m.concurrency.saturating_add(r.concurrency);
    m.totals.add(&r.totals);
    for (into, from) in [
        (&mut m.connect, &r.connect),
        (&mut m.first_byte, &r.first_byte),
        (&mut m.reply, &r.reply),
        (&mut m.reply_error, &r.reply_error),
        (&mut m.reply_corrected, &r.reply_corrected),
        (&mut m.conn_life, &r.conn_life),
        (&mut m.response, &r.response),
        (&mut m.lag, &r.lag),
        (&mut m.tls_handshake, &r.tls_handshake),
    ] {
        add_latency(into, from);
    }
    for (code, n) in &r.by_status {
        *m.by_status.entry(*code).or_default() += n;
    }
    for (key, n) in &r.error_details {
        *m.error_details.entry(key.clone()).or_default() += n;
    }
    m.first_other_errno = m.first_other_errno.or(r.first_other_errno);
    if m.hook_refused.is_none() {
        m.hook_refused.clone_from(&r.hook_refused);
    }
    m.anomalies.add(&r.anomalies);
    m.interrupted |= r.interrupted;
    m.max_open += r.max_open;
    m.figures.add(&r.figures);
    m.max_connect_burst = m.max_connect_burst.max(r.max_connect_burst);
    m.wakeups += r.wakeups;
    m.naps += r.naps;
    if let Some(t) = &r.tls {
        let into = m.tls.get_or_insert(super::TlsSummary {
            resume: true,
            ..Default::default()
        });
        into.full += t.full;
        into.resumed += t.resumed;
        into.resume &= t.resume;
        into.insecure |= t.insecure;
    }
    if let (Some(into), Some(o)) = (m.open_loop.as_mut(), &r.open_loop) {
        into.late_starts += o.late_starts;
    }
    if let Some(s) = &r.sessions {
        add_sessions(m.sessions.get_or_insert_with(SessionReport::default), s);
    }
    // User counters line up with `m.workers` by position: pad every counter to the
    // workers merged so far, then append this file's values (0 where it lacks the name).
    let before = m.workers.len();
    for u in &r.user_counters {
        if !m.user_counters.iter().any(|x| x.name == u.name) {
            m.user_counters.push(super::UserCounter {
                name: u.name.clone(),
                per_worker: Vec::new(),
            });
        }
    }
    for into in &mut m.user_counters {
        into.per_worker.resize(before, 0);
        let from = r.user_counters.iter().find(|u| u.name == into.name);
        into.per_worker.extend(
            (0..r.workers.len())
                .map(|i| from.and_then(|u| u.per_worker.get(i)).copied().unwrap_or(0)),
        );
    }
    for w in &r.workers {
        let mut w = w.clone();
        // A worker of a merged file keeps the file it ran in, after the one it came from.
        w.source = Some(match w.source {
            Some(inner) => format!("{name} ({inner})"),
            None => name.to_string(),
        });
        m.workers.push(w);
    }
    if let Some(ts) = &r.series {
        let into = m.series.get_or_insert_with(TimeSeries::default);
        let intervals: Vec<_> = ts.intervals.values().cloned().collect();
        into.add(ts.interval_ns, &intervals);
    }
}

/// Adds `from`'s samples into `into`, bucket by bucket.
pub fn add_latency(into: &mut Latency, from: &Latency) {
    // Cannot fail: volley's histograms resize themselves to take any value.
    let _ = into.hist.add(&from.hist);
    into.moments.add(&from.moments);
}

/// httperf's session figures add; the i-th 5 s samples of the parts cover the same 5 s
/// when the hosts started together (the one case the sum is meant for).
fn add_sessions(into: &mut SessionReport, s: &SessionReport) {
    into.ok += s.ok;
    into.failed += s.failed;
    into.conns += s.conns;
    add_latency(&mut into.life, &s.life);
    add_latency(&mut into.fail, &s.fail);
    sum_into(&mut into.lengths, &s.lengths);
    if into.rate_samples.len() < s.rate_samples.len() {
        into.rate_samples.resize(s.rate_samples.len(), 0.0);
    }
    for (a, b) in into.rate_samples.iter_mut().zip(&s.rate_samples) {
        *a += b;
    }
}

fn sum_into(a: &mut Vec<u64>, b: &[u64]) {
    if a.len() < b.len() {
        a.resize(b.len(), 0);
    }
    for (x, y) in a.iter_mut().zip(b) {
        *x += y;
    }
}

/// The parts' per-request logs, named together; the first that is incomplete says why.
fn logs(parts: &[(String, Report)]) -> Option<LogSummary> {
    let logs: Vec<(&String, &LogSummary)> = parts
        .iter()
        .filter_map(|(name, r)| r.log.as_ref().map(|l| (name, l)))
        .collect();
    if logs.is_empty() {
        return None;
    }
    Some(LogSummary {
        path: logs
            .iter()
            .map(|(_, l)| l.path.as_str())
            .collect::<Vec<_>>()
            .join(" "),
        records: logs.iter().map(|(_, l)| l.records).sum(),
        error: logs
            .iter()
            .find_map(|(name, l)| l.error.as_ref().map(|e| format!("{name}: {e}"))),
    })
}

/// Replies per second in each full window of `window_ns` (rounded up to whole intervals)
/// from the first interval boundary after the start to the end of `m`: the merged
/// series' answer to the runs' own samples, which are counted from each run's start.
fn rates(ts: &TimeSeries, m: &Report, window_ns: u64) -> Vec<f64> {
    let len = u128::from(ts.interval_ns.max(1));
    let per = u128::from(window_ns).div_ceil(len).max(1);
    let start = u128::from(m.started_unix_ms) * 1_000_000;
    // Not past the last interval: a file's duration is not trusted to bound the loop.
    let last = ts
        .intervals
        .keys()
        .next_back()
        .map_or(0, |&k| u128::from(k) + 1)
        * len;
    let end = start
        .saturating_add((m.duration_s.max(0.0) * 1e9) as u128)
        .min(last);
    let window_s = (per * len) as f64 / 1e9;
    let mut out = Vec::new();
    let mut k = start.div_ceil(len);
    while (k + per) * len <= end {
        let replies: u64 = (k..k + per)
            .filter_map(|key| ts.intervals.get(&(key as u64)))
            .map(|i| i.get(volley_scoreboard::Counter::RequestsSucceeded))
            .sum();
        out.push(replies as f64 / window_s);
        k += per;
    }
    out
}

/// Every part's checks (each expression once, in the order first seen), evaluated on the
/// merged report.
fn checks(parts: &[(String, Report)], m: &Report) -> Vec<super::CheckOutcome> {
    let mut exprs: Vec<&str> = Vec::new();
    for (_, r) in parts {
        for c in &r.checks {
            if !exprs.contains(&c.expr.as_str()) {
                exprs.push(&c.expr);
            }
        }
    }
    let parsed: Vec<volley_config::Check> = exprs
        .iter()
        .filter_map(|e| volley_config::Check::parse(e).ok())
        .collect();
    super::checks::evaluate(&parsed, m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::read::tests::rich_report;
    use crate::report::text;
    use volley_scoreboard::Counter;

    /// The rich report as run by host `i` of three, `i` seconds after the first.
    fn host(i: u64) -> (String, Report) {
        let mut r = rich_report();
        r.run_name = format!("volley-host{i}");
        r.started_unix_ms += i * 1000;
        r.workers.truncate(1);
        for u in &mut r.user_counters {
            u.per_worker.truncate(1);
        }
        r.totals = r.workers[0].counters;
        r.log = None;
        let ts = r.series.as_mut().unwrap();
        let shifted: Vec<_> = std::mem::take(&mut ts.intervals)
            .into_values()
            .map(|mut d| {
                d.key += i * 4;
                d
            })
            .collect();
        ts.add(ts.interval_ns, &shifted);
        let checks: Vec<_> = r
            .checks
            .iter()
            .map(|c| volley_config::Check::parse(&c.expr).unwrap())
            .collect();
        r.checks = crate::report::checks::evaluate(&checks, &r);
        (format!("part-{i}.json"), r)
    }

    #[test]
    fn user_counters_follow_their_workers() {
        let mut parts: Vec<_> = (0..3).map(host).collect();
        // The second host's hooks declared another counter too.
        parts[1].1.user_counters.push(crate::report::UserCounter {
            name: "late".into(),
            per_worker: vec![7],
        });
        let m = merge(&parts).unwrap();
        assert_eq!(m.workers.len(), 3);
        let by_name = |n: &str| m.user_counters.iter().find(|u| u.name == n).unwrap();
        assert_eq!(by_name("tokens").per_worker, [3, 3, 3]);
        assert_eq!(by_name("late").per_worker, [0, 7, 0]);
        assert_eq!(by_name("tokens").total(), 9);
    }

    #[test]
    fn counts_and_histograms_add_and_series_line_up() {
        let parts: Vec<_> = (0..3).map(host).collect();
        let m = merge(&parts).unwrap();
        for c in Counter::ALL {
            assert_eq!(m.totals.get(c), 3 * parts[0].1.totals.get(c), "{c:?}");
        }
        assert_eq!(m.reply.len(), 3 * parts[0].1.reply.len());
        // Three copies of one distribution have its percentiles.
        for q in [0.5, 0.9, 0.99, 0.999] {
            assert_eq!(m.reply.quantile_us(q), parts[0].1.reply.quantile_us(q));
        }
        assert_eq!(m.reply.moments.sum, 3 * parts[0].1.reply.moments.sum);
        assert_eq!(m.by_status[&503], 45);
        assert_eq!(m.concurrency, 36);
        assert_eq!(m.started_unix_ms, parts[0].1.started_unix_ms);
        assert!((m.duration_s - (2.0 + parts[2].1.duration_s)).abs() < 1e-9);
        assert_eq!(m.open_loop.as_ref().unwrap().late_starts, 51);
        let ts = m.series.as_ref().unwrap();
        let one = parts[0].1.series.as_ref().unwrap();
        assert_eq!(ts.interval_ns, one.interval_ns);
        // Hosts 1 s apart: 250 ms intervals 4 keys apart, none of them overlapping.
        assert_eq!(ts.intervals.len(), 9);
        let sources: Vec<_> = m
            .workers
            .iter()
            .map(|w| w.source.clone().unwrap())
            .collect();
        assert_eq!(sources, ["part-0.json", "part-1.json", "part-2.json"]);
        let out = text::render(&m);
        assert!(
            out.contains("Merged: 3 result files of workload 0123456789abcdef: part-0.json"),
            "{out}"
        );
        assert!(
            out.contains("Worker 0 pid 4001 of part-2.json: exited 0"),
            "{out}"
        );
        // The checks were evaluated again on the sum.
        assert_eq!(m.checks.len(), 3);
        assert!(m.checks[1].expr == "status.503 == 15" && !m.checks[1].pass);
    }

    #[test]
    fn overlapping_intervals_add() {
        let (a, mut r) = host(0);
        let (b, mut s) = host(0);
        s.run_name = "volley-other".into();
        r.started_unix_ms += 10;
        let m = merge(&[(a, r.clone()), (b, s)]).unwrap();
        let ts = m.series.unwrap();
        assert_eq!(ts.intervals.len(), 3);
        for (k, i) in &ts.intervals {
            let one = &r.series.as_ref().unwrap().intervals[k];
            assert_eq!(
                i.get(Counter::RequestsStarted),
                2 * one.get(Counter::RequestsStarted)
            );
            assert_eq!(i.latency.moments.count, 2 * one.latency.moments.count);
        }
        // 10 ms later start: the run lasts 10 ms longer.
        assert!((m.duration_s - (r.duration_s + 0.01)).abs() < 1e-9);
    }

    #[test]
    fn one_file_merges_into_itself() {
        let part = host(0);
        let m = merge(std::slice::from_ref(&part)).unwrap();
        let (want, got) = (text::render(&part.1), text::render(&m));
        let strip = |s: &str| {
            s.lines()
                .filter(|l| !l.starts_with("Merged:"))
                .map(|l| l.replace(" of part-0.json", ""))
                .collect::<Vec<_>>()
        };
        assert_eq!(strip(&got), strip(&want));
    }

    #[test]
    fn a_huge_duration_does_not_run_away() {
        let (a, r) = host(0);
        let (b, mut s) = host(1);
        s.duration_s = 1e300;
        let m = merge(&[(a, r), (b, s)]).unwrap();
        assert!(m.reply_rate_1s.len() < 10, "{:?}", m.reply_rate_1s);
    }

    #[test]
    fn refusals_name_the_files() {
        let (a, r) = host(0);
        let (b, mut s) = host(1);
        s.workload_id = "fedcba9876543210".into();
        let err = merge(&[(a.clone(), r.clone()), (b.clone(), s)]).unwrap_err();
        assert_eq!(
            err.to_string().split(':').next().unwrap(),
            "part-0.json and part-1.json are results of different workloads (workload_id \
             0123456789abcdef and fedcba9876543210)"
        );
        let (_, mut s) = host(1);
        s.series.as_mut().unwrap().interval_ns = 1_000_000_000;
        let err = merge(&[(a.clone(), r.clone()), (b.clone(), s)]).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("part-0.json has 250 ms intervals and part-1.json has 1 s"),
            "{err}"
        );
        let err = merge(&[(a, r.clone()), (b, r)]).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("part-1.json holds the same run as part-0.json")
        );
        assert_eq!(merge(&[]).unwrap_err(), MergeError::Nothing);
    }
}
