//! A result file → [`Run`]: the few figures the page shows, read from the JSON by key.
//!
//! Reading is lenient about what a page can do without (a missing key shows as "–" or a
//! "no data" note, so a result written by a later or merged run still draws) and strict
//! about what would make the page lie: a file that is not JSON, a schema 1 report (no
//! histograms, no time series) and a histogram that does not decode are refused with the
//! file's name.

use std::io::Read as _;
use std::path::Path;

use serde_json::Value;

/// Largest result file read (a day of 1 s intervals with their histograms is well under).
pub const MAX_FILE_BYTES: u64 = 256 << 20;

/// Why a result file cannot be drawn. The binary exits with code 2 for each: the input is
/// wrong, not the run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InputError {
    /// The file cannot be read, or is larger than [`MAX_FILE_BYTES`].
    #[error("cannot read the result file {path}: {message}")]
    Read {
        /// The file, as given.
        path: String,
        /// The I/O error, or the size cap.
        message: String,
    },
    /// The file is not JSON.
    #[error("{path}:{line}:{column}: not valid JSON: {message}")]
    Json {
        /// The file, as given.
        path: String,
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
        /// serde_json's message, without its position.
        message: String,
    },
    /// A schema 1 report: it has percentiles only, nothing to draw a distribution or a
    /// time series from.
    #[error(
        "{path}: a schema 1 result has no histograms and no time series to draw; \
         rerun the load with --out FILE (schema 2) and report that file"
    )]
    Schema1 {
        /// The file, as given.
        path: String,
    },
    /// JSON, but not a volley result this version reads.
    #[error("{path}: not a volley result file (schema 2): {what}")]
    NotResult {
        /// The file, as given.
        path: String,
        /// What is missing or unexpected.
        what: String,
    },
    /// A histogram that does not decode.
    #[error("{path}: {key}: {message}")]
    Histogram {
        /// The file, as given.
        path: String,
        /// Where it is (`histograms.reply.hdr`).
        key: String,
        /// Why it does not decode.
        message: String,
    },
}

/// One run, as the page shows it. `None` is "not in the file".
#[derive(Debug, Clone, Default)]
pub struct Run {
    /// The file it came from, as given: the run's name on the page.
    pub name: String,
    /// The (first) URL and the method.
    pub url: String,
    /// The request method.
    pub method: String,
    /// Slots (`-c`).
    pub concurrency: Option<u64>,
    /// The run seed, and whether it was given (else drawn).
    pub seed: Option<(u64, bool)>,
    /// Seconds of load.
    pub duration_s: Option<f64>,
    /// Unix time (ms) of the release of the workers.
    pub started_unix_ms: Option<u64>,
    /// `ok`, `failed`, `invalid` or `interrupted`.
    pub verdict: String,
    /// Why the run is invalid (empty when it is valid).
    pub invalid_reasons: Vec<String>,
    /// The `--check` outcomes, in the order given.
    pub checks: Vec<CheckRow>,
    /// Replies and errors in all, and replies per second over the run.
    pub replies: Option<u64>,
    /// Failed requests in all.
    pub errors: Option<u64>,
    /// Replies per second over `duration_s`.
    pub replies_per_s: Option<f64>,
    /// Reply latency p50, p99 and max over the run, ms.
    pub reply_ms: [Option<f64>; 3],
    /// Open loop: target and achieved sessions per second (`None` in a closed loop).
    pub open_loop: Option<(Option<f64>, Option<f64>)>,
    /// Length of the time series' intervals, seconds.
    pub interval_s: Option<f64>,
    /// The time series, in order.
    pub intervals: Vec<Interval>,
    /// Reply latency (service time) over the whole run.
    pub reply: Option<Distribution>,
    /// Open loop: response time, scheduled start → reply.
    pub response: Option<Distribution>,
    /// Closed loop: the reply latency corrected for what stalls hid (an estimate; the
    /// report's `reply (corrected)*` row).
    pub corrected: Option<Distribution>,
    /// One row per worker process.
    pub workers: Vec<WorkerRow>,
}

/// One interval of the time series.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Interval {
    /// Unix time (ms) the interval starts at.
    pub start_unix_ms: u64,
    /// Replies that ended in it.
    pub replies: u64,
    /// Requests that failed in it.
    pub errors: u64,
    /// Reply latency p50, p90, p99 and max, ms (`None` without a reply).
    pub latency_ms: [Option<f64>; 4],
}

/// A latency distribution as HdrHistogram's percentile plot draws it.
#[derive(Debug, Clone, PartialEq)]
pub struct Distribution {
    /// Samples.
    pub count: u64,
    /// `(quantile, latency ms)`, quantiles rising from 0 to [`TOP_QUANTILE`].
    pub points: Vec<(f64, f64)>,
}

/// The highest quantile drawn: 99.999 %.
pub const TOP_QUANTILE: f64 = 0.99999;

/// Points per tenfold step of `1 / (1 − q)` (90 % → 99 % → 99.9 % …).
const POINTS_PER_DECADE: u32 = 20;

/// One `--check` and its outcome.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CheckRow {
    /// The expression as given.
    pub expr: String,
    /// The measured value (`None`: could not be measured).
    pub value: Option<f64>,
    /// Its unit (`ms`, `%`, `count`, `replies/s`).
    pub unit: String,
    /// Whether it held.
    pub pass: bool,
}

/// One worker process.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WorkerRow {
    /// Worker index and process id.
    pub index: u64,
    /// Process id.
    pub pid: i64,
    /// How it ended ("exited 0", "killed by signal 9 (SIGKILL)").
    pub exit: String,
    /// Whether its final report arrived.
    pub reported: bool,
    /// Requests started, replies, errors and aborted requests.
    pub requests: [Option<u64>; 4],
    /// CPU seconds, user and system.
    pub cpu_s: (Option<f64>, Option<f64>),
}

/// Reads and parses the result file at `path`.
///
/// # Errors
///
/// [`InputError`]: unreadable, too large, not JSON, schema 1, a bad histogram.
pub fn load(path: &Path) -> Result<Run, InputError> {
    let name = path.display().to_string();
    let read_error = |message: String| InputError::Read {
        path: name.clone(),
        message,
    };
    let file = std::fs::File::open(path).map_err(|e| read_error(e.to_string()))?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| read_error(e.to_string()))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(read_error(format!(
            "larger than {} MiB",
            MAX_FILE_BYTES >> 20
        )));
    }
    parse(&name, &bytes)
}

/// Parses a result file's bytes; `name` is how messages and the page name it.
///
/// # Errors
///
/// As [`load`], but for reading.
pub fn parse(name: &str, bytes: &[u8]) -> Result<Run, InputError> {
    let v: Value = serde_json::from_slice(bytes).map_err(|e| InputError::Json {
        path: name.to_string(),
        line: e.line(),
        column: e.column(),
        message: without_position(&e.to_string()),
    })?;
    let not_result = |what: &str| InputError::NotResult {
        path: name.to_string(),
        what: what.to_string(),
    };
    if !v.is_object() {
        return Err(not_result("not a JSON object"));
    }
    match v.get("schema").and_then(Value::as_u64) {
        Some(2) => {}
        Some(1) => {
            return Err(InputError::Schema1 {
                path: name.to_string(),
            });
        }
        Some(n) => return Err(not_result(&format!("schema {n}; this volley reads 2"))),
        None => return Err(not_result("no \"schema\" key")),
    }
    let distribution = |key: &str| -> Result<Option<Distribution>, InputError> {
        let Some(hdr) = v.pointer(&format!("/histograms/{key}/hdr")) else {
            return Ok(None);
        };
        let bad = |message: String| InputError::Histogram {
            path: name.to_string(),
            key: format!("histograms.{key}.hdr"),
            message,
        };
        let text = hdr.as_str().ok_or_else(|| bad("not a string".into()))?;
        let h = volley_worker::series::decode(text).map_err(bad)?;
        Ok(percentile_points(&h))
    };
    Ok(Run {
        name: name.to_string(),
        url: text(&v, "/url"),
        method: text(&v, "/method"),
        concurrency: uint(&v, "/concurrency"),
        seed: uint(&v, "/seed").map(|s| (s, v["seed_given"] == true)),
        duration_s: float(&v, "/duration_s"),
        started_unix_ms: uint(&v, "/started_unix_ms"),
        verdict: text(&v, "/verdict"),
        invalid_reasons: strings(&v["invalid_reasons"]),
        checks: list(&v["checks"]).iter().map(check).collect(),
        replies: uint(&v, "/replies/total"),
        errors: uint(&v, "/errors/total"),
        replies_per_s: float(&v, "/throughput/requests_per_s"),
        reply_ms: ["p50", "p99", "max"].map(|k| float(&v, &format!("/latency_ms/reply/{k}"))),
        open_loop: v["open_loop"].is_object().then(|| {
            (
                float(&v, "/open_loop/target_sessions_per_s"),
                float(&v, "/open_loop/achieved_sessions_per_s"),
            )
        }),
        interval_s: float(&v, "/time_series/interval_s"),
        intervals: list(&v["time_series"]["intervals"])
            .iter()
            .filter_map(interval)
            .collect(),
        reply: distribution("reply")?,
        response: distribution("response")?,
        corrected: if v["open_loop"].is_object() {
            None
        } else {
            distribution("reply_corrected")?
        },
        workers: list(&v["workers"]).iter().map(worker).collect(),
    })
}

/// serde_json's message without its " at line L column C" (the error names it first).
fn without_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

/// HdrHistogram's percentile plot of `h` (µs) in ms: evenly spaced on the log axis of
/// `1 / (1 − q)`, from 0 to [`TOP_QUANTILE`]; `None` for an empty histogram.
pub fn percentile_points(h: &hdrhistogram::Histogram<u64>) -> Option<Distribution> {
    if h.is_empty() {
        return None;
    }
    let decades = (1.0 / (1.0 - TOP_QUANTILE)).log10().round() as u32;
    let points = (0..=decades * POINTS_PER_DECADE)
        .map(|k| {
            let q = 1.0 - 10f64.powf(-f64::from(k) / f64::from(POINTS_PER_DECADE));
            (q, h.value_at_quantile(q) as f64 / 1000.0)
        })
        .collect();
    Some(Distribution {
        count: h.len(),
        points,
    })
}

fn text(v: &Value, pointer: &str) -> String {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn uint(v: &Value, pointer: &str) -> Option<u64> {
    v.pointer(pointer).and_then(Value::as_u64)
}

fn float(v: &Value, pointer: &str) -> Option<f64> {
    v.pointer(pointer)
        .and_then(Value::as_f64)
        .filter(|x| x.is_finite())
}

fn list(v: &Value) -> &[Value] {
    v.as_array().map_or(&[], Vec::as_slice)
}

fn strings(v: &Value) -> Vec<String> {
    list(v)
        .iter()
        .filter_map(|s| s.as_str().map(str::to_string))
        .collect()
}

fn check(c: &Value) -> CheckRow {
    CheckRow {
        expr: text(c, "/expr"),
        value: float(c, "/value"),
        unit: text(c, "/unit"),
        pass: c["pass"] == true,
    }
}

/// An interval; one without a start cannot be placed and is left out.
fn interval(i: &Value) -> Option<Interval> {
    let ms = |k: &str| float(i, &format!("/latency_ms/{k}"));
    Some(Interval {
        start_unix_ms: uint(i, "/start_unix_ms")?,
        replies: uint(i, "/replies/total").unwrap_or(0),
        errors: uint(i, "/errors_total").unwrap_or(0),
        latency_ms: [ms("p50"), ms("p90"), ms("p99"), ms("max")],
    })
}

fn worker(w: &Value) -> WorkerRow {
    let exit = crate::report::Exit {
        code: w
            .pointer("/exit/code")
            .and_then(Value::as_i64)
            .map(|c| c as i32),
        signal: w
            .pointer("/exit/signal")
            .and_then(Value::as_i64)
            .map(|s| s as i32),
        core_dumped: w.pointer("/exit/core_dumped") == Some(&Value::Bool(true)),
        stopped_responding: w.pointer("/exit/stopped_responding") == Some(&Value::Bool(true)),
    };
    let cpu = |k: &str| uint(w, &format!("/cpu_us/{k}")).map(|us| us as f64 / 1e6);
    WorkerRow {
        index: uint(w, "/index").unwrap_or(0),
        pid: w.get("pid").and_then(Value::as_i64).unwrap_or(0),
        exit: exit.describe(),
        reported: w["reported"] == true,
        requests: [
            uint(w, "/requests/started"),
            uint(w, "/replies"),
            uint(w, "/errors"),
            uint(w, "/requests/aborted"),
        ],
        cpu_s: (cpu("user"), cpu("system")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(text: &str) -> String {
        parse("r.json", text.as_bytes()).unwrap_err().to_string()
    }

    #[test]
    fn bad_files_are_refused_with_the_file_and_why() {
        assert_eq!(
            refused("{\n  \"schema\": 2,\n  oops\n}"),
            "r.json:3:3: not valid JSON: key must be a string"
        );
        let e = refused(r#"{"schema": 1, "replies": {"total": 3}}"#);
        assert!(
            e.starts_with("r.json: a schema 1 result") && e.contains("--out"),
            "{e}"
        );
        assert!(refused("[1, 2]").contains("not a JSON object"));
        assert!(refused("{}").contains("no \"schema\" key"));
        assert!(refused(r#"{"schema": 3}"#).contains("schema 3"));
        let e = refused(r#"{"schema": 2, "histograms": {"reply": {"hdr": "xyz!"}}}"#);
        assert!(
            e.starts_with("r.json: histograms.reply.hdr: not base64"),
            "{e}"
        );
    }

    #[test]
    fn a_bare_schema_2_object_is_a_run_with_nothing_to_draw() {
        let r = parse("r.json", br#"{"schema": 2}"#).unwrap();
        assert!(r.intervals.is_empty() && r.reply.is_none() && r.workers.is_empty());
        assert_eq!(r.name, "r.json");
    }

    #[test]
    fn percentiles_run_from_0_to_99_999_on_the_log_axis() {
        let mut h = volley_worker::stats::latency_histogram();
        for us in 1..=100_000u64 {
            h.record(us).unwrap();
        }
        let d = percentile_points(&h).unwrap();
        assert_eq!(d.count, 100_000);
        assert_eq!(d.points.len(), 101);
        assert_eq!(d.points[0].0, 0.0);
        assert!((d.points[100].0 - TOP_QUANTILE).abs() < 1e-12);
        // p90 is the 21st point (1 / (1 − q) = 10), in ms.
        assert!((d.points[20].0 - 0.9).abs() < 1e-12);
        assert!((d.points[20].1 - 90.0).abs() < 0.1, "{:?}", d.points[20]);
        assert!(d.points.windows(2).all(|w| w[0].1 <= w[1].1));
        assert!(percentile_points(&volley_worker::stats::latency_histogram()).is_none());
    }

    #[test]
    fn the_corrected_reply_latency_is_read_for_closed_loops_only() {
        let mut h = volley_worker::stats::latency_histogram();
        h.record(2_000).unwrap();
        let hdr = volley_worker::series::encode(&h);
        let file = |open_loop: &str| {
            format!(
                r#"{{"schema": 2, "open_loop": {open_loop},
                    "histograms": {{"reply_corrected": {{"hdr": "{hdr}"}}}}}}"#
            )
        };
        let closed = parse("c.json", file("null").as_bytes()).unwrap();
        let d = closed
            .corrected
            .expect("a closed loop's corrected histogram");
        assert_eq!(d.count, 1);
        assert!((d.points[0].1 - 2.0).abs() < 0.01, "{:?}", d.points[0]);
        let open = parse("o.json", file(r#"{"calls": 1}"#).as_bytes()).unwrap();
        assert!(
            open.corrected.is_none(),
            "an open loop draws its response time instead"
        );
    }

    #[test]
    fn workers_and_intervals_are_read_by_key() {
        let r = parse(
            "r.json",
            br#"{"schema": 2, "seed": 7, "seed_given": true,
                "workers": [{"index": 1, "pid": 42, "reported": true,
                    "exit": {"code": 0, "signal": null},
                    "requests": {"started": 10, "aborted": 1}, "replies": 8, "errors": 1,
                    "cpu_us": {"user": 1500000, "system": 500000}}],
                "time_series": {"interval_s": 0.5, "intervals": [
                    {"start_unix_ms": 1000, "replies": {"total": 4}, "errors_total": 1,
                     "latency_ms": {"p50": 1.5, "p90": null, "p99": 3, "max": 4}},
                    {"replies": {"total": 4}}]}}"#,
        )
        .unwrap();
        assert_eq!(r.seed, Some((7, true)));
        let w = &r.workers[0];
        assert_eq!((w.index, w.pid, w.exit.as_str()), (1, 42, "exited 0"));
        assert_eq!(w.requests, [Some(10), Some(8), Some(1), Some(1)]);
        assert_eq!(w.cpu_s, (Some(1.5), Some(0.5)));
        assert_eq!(r.interval_s, Some(0.5));
        assert_eq!(
            r.intervals,
            [Interval {
                start_unix_ms: 1000,
                replies: 4,
                errors: 1,
                latency_ms: [Some(1.5), None, Some(3.0), Some(4.0)],
            }]
        );
    }
}
