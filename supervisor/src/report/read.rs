//! Reading a result file (`--out FILE`, `"schema": 2`) back into a [`Report`]: the inverse
//! of [`super::json`], lossless for everything the reports show. Counters come from
//! `totals`/`workers[].counters` by name, every histogram from its `hdr` (HdrHistogram V2
//! + deflate) and its exact moments, the time series from its intervals' counts and
//! `hdr`. Figures the writer derives (`verdict`, `valid`, rates, percentiles) are derived
//! again, and the checks are evaluated again on the report read.
//!
//! A schema-1 file (volley before `--out`) has no histograms: it is refused, with the
//! advice to rerun with `--out`. A malformed file is refused with the key at fault.

use serde_json::Value;
use volley_scoreboard::{Counter, ErrorClass, SlotSnapshot};
use volley_worker::report::HistogramData;
use volley_worker::series::IntervalData;
use volley_worker::stats::{Latency, Moments};

use super::{
    Exit, LogSummary, OpenLoopSummary, Report, SessionReport, TimeSeries, TlsSummary, WorkerPart,
    Workload,
};

/// The one schema this volley reads.
pub const SCHEMA: u64 = 2;

impl Report {
    /// Rebuilds the report a result file was written from.
    ///
    /// # Errors
    ///
    /// A message naming the key at fault when `v` is not a schema-2 result file: another
    /// schema (schema 1 lacks the histograms), a missing key, a value of the wrong type,
    /// or a histogram that does not decode or does not hold its `count`.
    pub fn from_json(v: &Value) -> Result<Report, String> {
        check_schema(v)?;
        let mut r = Report::new(
            str_at(v, "url")?,
            str_at(v, "method")?,
            u32_at(v, "concurrency")?,
            // Any u64: a drawn seed is one.
            (
                at(v, "seed")?
                    .as_u64()
                    .ok_or("`seed` is not a whole number")?,
                bool_at(v, "seed_given")?,
            ),
        );
        read_run(v, &mut r)?;
        r.totals = snapshot(at(v, "totals")?, "totals")?;
        read_latencies(v, &mut r)?;
        read_details(v, &mut r)?;
        r.workers = read_workers(v)?;
        r.user_counters = read_user_counters(v)?;
        read_extras(v, &mut r)?;
        r.series = read_series(at(v, "time_series")?)?;
        r.checks = read_checks(v, &r)?;
        Ok(r)
    }
}

/// Largest result file read: far above any real one (an hour at 1 s intervals is a few
/// MB), and a stop for `/dev/zero`.
pub const MAX_FILE_BYTES: u64 = 1 << 30;

/// Reads the result file at `path`.
///
/// # Errors
///
/// A message naming the file: it cannot be read, is over [`MAX_FILE_BYTES`], is not JSON
/// (with the line and column), or is not a schema-2 result file ([`Report::from_json`]).
pub fn read_file(path: &std::path::Path) -> Result<Report, String> {
    use std::io::Read as _;
    let name = path.display();
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes))
        .map_err(|e| format!("cannot read {name}: {e}"))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(format!(
            "{name} is over {} MiB: not a result file",
            MAX_FILE_BYTES >> 20
        ));
    }
    let v: Value = serde_json::from_slice(&bytes).map_err(|e| {
        // serde_json's message ends with "at line L column C": said first instead.
        let msg = e.to_string();
        let msg = msg.split(" at line ").next().unwrap_or(&msg).to_string();
        format!("{name}:{}:{}: not valid JSON: {msg}", e.line(), e.column())
    })?;
    Report::from_json(&v).map_err(|e| format!("{name}: {e}"))
}

/// Refuses anything but schema 2, saying what to do.
fn check_schema(v: &Value) -> Result<(), String> {
    if !v.is_object() {
        return Err("not a volley result file (not a JSON object)".into());
    }
    match v.get("schema").and_then(Value::as_u64) {
        Some(SCHEMA) => Ok(()),
        Some(1) => Err(
            "schema 1 (volley's --json before result files) has no histograms, so its \
             latencies cannot be merged or compared: rerun with --out FILE for a schema-2 \
             result file"
                .into(),
        ),
        Some(n) => Err(format!(
            "schema {n} is not known to this volley (it reads schema {SCHEMA})"
        )),
        None => Err("not a volley result file (no \"schema\" key)".into()),
    }
}

/// What was run and how it went: names, times, the stop.
fn read_run(v: &Value, r: &mut Report) -> Result<(), String> {
    r.run_name = str_at(v, "run_name")?;
    r.duration_s = f64_or_nan(v, "duration_s")?;
    r.interrupted = bool_at(v, "interrupted")?;
    r.startup_ms = f64_or_nan(v, "timing.startup_ms")?;
    r.stop_overrun_ms = opt(v, "timing.stop_overrun_ms", f64_of)?;
    r.started_unix_ms = u64_at(v, "started_unix_ms")?;
    r.workload_id = str_at(v, "workload_id")?;
    r.request_bytes = opt(v, "bytes.request", u64_of)?.unwrap_or(0);
    r.reply_rate_samples = floats(v, "reply_rate_samples")?;
    r.reply_rate_1s = floats(v, "reply_rate_1s")?;
    r.max_open = u64_at(v, "connections.max_concurrent")?;
    // Files written before these keys existed read as zero: the text report then falls
    // back on the first request's size and the status < 400 latencies.
    let sum = |key: &str| opt(v, key, u64_of).map(Option::unwrap_or_default);
    r.figures = volley_worker::stats::ReplyFigures {
        requests_sent: sum("httperf_sums.requests_sent")?,
        request_bytes_sent: sum("httperf_sums.request_bytes_sent")?,
        responses: sum("httperf_sums.responses")?,
        response_ns: sum("httperf_sums.response_ns")?,
        transfers: sum("httperf_sums.transfers")?,
        transfer_ns: sum("httperf_sums.transfer_ns")?,
        footer_bytes: sum("bytes.footer")?,
    };
    r.max_connect_burst = u64_at(v, "connections.max_connect_burst")?;
    r.wakeups = u64_at(v, "cpu_s.wakeups")?;
    r.naps = opt(v, "cpu_s.naps", u64_of)?.unwrap_or(0);
    r.first_other_errno = opt(v, "first_other_errno", |x, p| {
        i32::try_from(u64_of(x, p)?).map_err(|_| format!("`{p}` is out of range"))
    })?;
    r.hook_refused = opt(v, "hook_refused", |x, p| {
        x.as_str()
            .map(String::from)
            .ok_or_else(|| format!("`{p}` is not a string"))
    })?;
    if let Some(list) = v.get("merged_from").and_then(Value::as_array) {
        r.sources = list
            .iter()
            .map(|s| s.as_str().map(String::from))
            .collect::<Option<_>>()
            .ok_or("`merged_from` holds a non-string")?;
    }
    Ok(())
}

/// The hooks' user counters, per worker from `workers[].user_counters` (by position),
/// named as the top-level `user_counters` lists them. Files written before user counters
/// existed have none.
fn read_user_counters(v: &Value) -> Result<Vec<super::UserCounter>, String> {
    let Some(top) = v.get("user_counters") else {
        return Ok(Vec::new());
    };
    let names = top.as_object().ok_or("`user_counters` is not an object")?;
    let workers = array(v, "workers")?;
    names
        .keys()
        .map(|name| {
            let per_worker = workers
                .iter()
                .enumerate()
                .map(
                    |(i, w)| match w.get("user_counters").and_then(|u| u.get(name)) {
                        None => Ok(0),
                        Some(x) => u64_of(x, &format!("workers[{i}].user_counters.{name}")),
                    },
                )
                .collect::<Result<Vec<u64>, String>>()?;
            Ok(super::UserCounter {
                name: name.clone(),
                per_worker,
            })
        })
        .collect()
}

/// Every latency distribution, from `histograms` (a missing one had no sample).
fn read_latencies(v: &Value, r: &mut Report) -> Result<(), String> {
    let h = at(v, "histograms")?;
    let one = |name: &str| -> Result<Latency, String> {
        match h.get(name) {
            None | Some(Value::Null) => Ok(Latency::new()),
            Some(x) => latency(x, &format!("histograms.{name}")),
        }
    };
    r.connect = one("connect")?;
    r.first_byte = one("first_byte")?;
    r.reply = one("reply")?;
    r.reply_error = one("reply_4xx_5xx")?;
    r.reply_corrected = one("reply_corrected")?;
    r.response = one("response")?;
    r.lag = one("schedule_lag")?;
    r.tls_handshake = one("tls_handshake")?;
    r.conn_life = one("connection_lifetime")?;
    if let Some(s) = v.get("sessions").filter(|s| !s.is_null()) {
        r.sessions = Some(SessionReport {
            ok: u64_at(s, "ok")?,
            failed: u64_at(s, "failed")?,
            life: one("session_lifetime")?,
            fail: one("session_failtime")?,
            conns: u64_at(s, "connections")?,
            lengths: array(s, "length_histogram")?
                .iter()
                .map(|x| u64_of(x, "sessions.length_histogram[]"))
                .collect::<Result<_, _>>()?,
            rate_samples: floats(s, "rate_samples")?,
        });
    }
    Ok(())
}

/// Status codes, error details and anomalies.
fn read_details(v: &Value, r: &mut Report) -> Result<(), String> {
    for (code, n) in object(v, "replies.by_status")? {
        let code: u16 = code
            .parse()
            .map_err(|_| format!("`replies.by_status` has a key {code:?} that is no status"))?;
        r.by_status.insert(code, u64_of(n, "replies.by_status")?);
    }
    for (class, details) in object(v, "errors_detail")? {
        let details = details
            .as_object()
            .ok_or_else(|| format!("`errors_detail.{class}` is not an object"))?;
        for (detail, n) in details {
            let n = u64_of(n, "errors_detail")?;
            r.error_details.insert((class.clone(), detail.clone()), n);
        }
    }
    r.anomalies.unsolicited_data = u64_at(v, "anomalies.unsolicited_data")?;
    r.anomalies.unsolicited_bytes = u64_at(v, "anomalies.unsolicited_bytes")?;
    r.anomalies.closed_while_idle = u64_at(v, "anomalies.closed_while_idle")?;
    Ok(())
}

/// `workers[]`: each one's counters by name, how it ended, its CPU time.
fn read_workers(v: &Value) -> Result<Vec<WorkerPart>, String> {
    let mut parts = Vec::new();
    for (i, w) in array(v, "workers")?.iter().enumerate() {
        let path = format!("workers[{i}]");
        let ctx = |e: String| format!("{path}: {e}");
        let pid = i32_of(at(w, "pid").map_err(ctx)?, "pid").map_err(ctx)?;
        let mut counters = snapshot(at(w, "counters").map_err(ctx)?, "counters").map_err(ctx)?;
        counters.pid = pid as u32;
        let exit = at(w, "exit").map_err(ctx)?;
        let int = |k: &str| opt(exit, k, i32_of).map_err(ctx);
        parts.push(WorkerPart {
            index: u32_at(w, "index").map_err(ctx)?,
            pid,
            exit: Exit {
                code: int("code")?,
                signal: int("signal")?,
                core_dumped: bool_at(exit, "core_dumped").map_err(ctx)?,
                stopped_responding: bool_at(exit, "stopped_responding").map_err(ctx)?,
            },
            reported: bool_at(w, "reported").map_err(ctx)?,
            counters,
            cpu_us: (
                u64_at(w, "cpu_us.user").map_err(ctx)?,
                u64_at(w, "cpu_us.system").map_err(ctx)?,
            ),
            source: opt(w, "source", |x, p| str_of(x, p).map(String::from)).map_err(ctx)?,
        });
    }
    Ok(parts)
}

/// The optional blocks: run file, log, TLS, open loop.
fn read_extras(v: &Value, r: &mut Report) -> Result<(), String> {
    r.workload = opt(v, "workload", |w, _| {
        Ok(Workload {
            file: opt(w, "run_file", |x, p| str_of(x, p).map(String::from))?,
            entries: u64_at(w, "urls")? as usize,
            iterator: str_at(w, "iterator")?,
            rounds: opt(w, "rounds", u64_of)?,
        })
    })?;
    r.log = opt(v, "log", |l, _| {
        Ok(LogSummary {
            path: str_at(l, "path")?,
            records: u64_at(l, "records")?,
            error: opt(l, "error", |x, p| str_of(x, p).map(String::from))?,
        })
    })?;
    r.tls = opt(v, "tls", |t, _| {
        Ok(TlsSummary {
            full: u64_at(t, "handshakes_full")?,
            resumed: u64_at(t, "handshakes_resumed")?,
            resume: bool_at(t, "resumption")?,
            insecure: !bool_at(t, "certificates_verified")?,
        })
    })?;
    r.open_loop = opt(v, "open_loop", |o, _| {
        Ok(OpenLoopSummary {
            target_rate: f64_or_nan(o, "target_sessions_per_s")?,
            process: str_at(o, "process")?,
            calls: u32_at(o, "calls")?,
            late_starts: u64_at(o, "late_starts_1ms")?,
        })
    })?;
    Ok(())
}

/// The checks, evaluated again on the report read (the same figures give the same
/// values); one that no longer parses is carried as it was written.
fn read_checks(v: &Value, r: &Report) -> Result<Vec<super::CheckOutcome>, String> {
    let mut out = Vec::new();
    for (i, c) in array(v, "checks")?.iter().enumerate() {
        let expr = str_at(c, "expr").map_err(|e| format!("checks[{i}]: {e}"))?;
        match volley_config::Check::parse(&expr) {
            Ok(check) => out.extend(super::checks::evaluate(&[check], r)),
            Err(_) => {
                use volley_config::check::Unit;
                let unit = opt(c, "unit", |x, p| str_of(x, p).map(String::from))?;
                let unit = [Unit::Millis, Unit::Percent, Unit::Count, Unit::PerSecond]
                    .into_iter()
                    .find(|u| unit.as_deref() == Some(u.name()))
                    .unwrap_or(Unit::Count);
                out.push(super::CheckOutcome {
                    expr,
                    value: opt(c, "value", f64_of)?.ok_or("not measured"),
                    unit,
                    pass: bool_at(c, "pass")?,
                });
            }
        }
    }
    Ok(out)
}

/// The time series, if the file has one.
fn read_series(ts: &Value) -> Result<Option<TimeSeries>, String> {
    if ts.is_null() {
        return Ok(None);
    }
    let secs = f64_at(ts, "interval_s").map_err(|e| format!("time_series: {e}"))?;
    let interval_ns = (secs * 1e9).round();
    if !(1e6..=1e15).contains(&interval_ns) {
        return Err(format!(
            "`time_series.interval_s` is {secs}: not an interval volley writes"
        ));
    }
    let interval_ns = interval_ns as u64;
    let mut series = TimeSeries {
        interval_ns,
        ..TimeSeries::default()
    };
    for (i, x) in array(ts, "intervals")?.iter().enumerate() {
        let data =
            interval(x, interval_ns).map_err(|e| format!("time_series.intervals[{i}]: {e}"))?;
        series.add(interval_ns, std::slice::from_ref(&data));
    }
    Ok(Some(series))
}

/// One interval: its key from its start, its counts, its reply latency.
fn interval(x: &Value, interval_ns: u64) -> Result<IntervalData, String> {
    // The writer floors the start to whole ms; the key is the one interval that starts
    // within the ms after it (intervals are at least 1 ms long).
    let start_ns = u128::from(u64_at(x, "start_unix_ms")?) * 1_000_000;
    let key = u64::try_from(start_ns.div_ceil(u128::from(interval_ns)))
        .map_err(|_| "`start_unix_ms` is out of range")?;
    let mut s = SlotSnapshot::default();
    let mut put = |c: Counter, path: &str| -> Result<(), String> {
        s.counters[c.index()] = u64_at(x, path)?;
        Ok(())
    };
    put(Counter::RequestsSucceeded, "replies.total")?;
    put(Counter::Replies1xx, "replies.1xx")?;
    put(Counter::Replies2xx, "replies.2xx")?;
    put(Counter::Replies3xx, "replies.3xx")?;
    put(Counter::Replies4xx, "replies.4xx")?;
    put(Counter::Replies5xx, "replies.5xx")?;
    put(Counter::RequestsStarted, "requests_started")?;
    put(Counter::RequestsFailed, "errors_total")?;
    put(Counter::BytesSent, "bytes_sent")?;
    put(Counter::BytesReceived, "bytes_received")?;
    put(Counter::ConnsOpened, "connections_opened")?;
    for (name, n) in object(x, "errors")? {
        let class = error_class(name).ok_or_else(|| format!("unknown error class {name:?}"))?;
        s.errors[class.index()] = u64_of(n, "errors")?;
    }
    Ok(IntervalData {
        key,
        counters: s.counters.to_vec(),
        errors: s.errors.to_vec(),
        latency: HistogramData::from_latency(&interval_latency(x)?),
    })
}

/// An interval's reply latency: its `hdr`, and the moments from `latency_ms` (min and
/// max are whole µs there) and the exact sums (a file without them: the mean's).
fn interval_latency(x: &Value) -> Result<Latency, String> {
    let mut l = Latency::new();
    add_hdr(&mut l, &str_at(x, "hdr")?, "hdr")?;
    let count = u64_at(x, "latency_ms.count")?;
    if count == 0 {
        return Ok(l);
    }
    let us = |p: &str| f64_at(x, p).map(|ms| (ms * 1000.0).round());
    let sum = match x.get("latency_sum_us") {
        Some(s) => u128_of(s, "latency_sum_us")?,
        None => (us("latency_ms.mean")? * count as f64) as u128,
    };
    let sum_sq = match x.get("latency_sum_sq_us") {
        Some(s) => u128_of(s, "latency_sum_sq_us")?,
        None => 0,
    };
    l.moments = Moments {
        count,
        sum,
        sum_sq,
        min: us("latency_ms.min")? as u64,
        max: us("latency_ms.max")? as u64,
    };
    check_count(&l, "hdr")?;
    Ok(l)
}

/// A `histograms.<name>` entry: `hdr` and the exact moments.
fn latency(x: &Value, path: &str) -> Result<Latency, String> {
    let ctx = |e: String| format!("{path}: {e}");
    let mut l = Latency::new();
    add_hdr(&mut l, &str_at(x, "hdr").map_err(ctx)?, "hdr").map_err(ctx)?;
    l.moments = Moments {
        count: u64_at(x, "count").map_err(ctx)?,
        min: u64_at(x, "min").map_err(ctx)?,
        max: u64_at(x, "max").map_err(ctx)?,
        sum: u128_of(at(x, "sum").map_err(ctx)?, "sum").map_err(ctx)?,
        sum_sq: u128_of(at(x, "sum_sq").map_err(ctx)?, "sum_sq").map_err(ctx)?,
    };
    check_count(&l, path)?;
    Ok(l)
}

/// Adds the histogram encoded in `hdr` into `l`'s histogram.
fn add_hdr(l: &mut Latency, hdr: &str, path: &str) -> Result<(), String> {
    let h = volley_worker::series::decode(hdr).map_err(|e| format!("`{path}`: {e}"))?;
    l.hist
        .add(&h)
        .map_err(|e| format!("`{path}`: cannot be added: {e:?}"))
}

/// The histogram holds as many samples as its moments say.
fn check_count(l: &Latency, path: &str) -> Result<(), String> {
    let (held, said) = (l.hist.len(), l.moments.count);
    if held == said && (said == 0 || l.moments.min <= l.moments.max) {
        Ok(())
    } else {
        Err(format!(
            "`{path}` holds {held} samples but its count says {said}"
        ))
    }
}

/// Counters and error classes by name (`{"counters": {...}, "errors": {...}}`); a name
/// this volley does not know is refused, a missing one is 0.
fn snapshot(v: &Value, path: &str) -> Result<SlotSnapshot, String> {
    let mut s = SlotSnapshot::default();
    for (name, n) in object(v, "counters").map_err(|e| format!("{path}: {e}"))? {
        let c = Counter::ALL
            .into_iter()
            .find(|c| c.name() == name)
            .ok_or_else(|| format!("{path}: unknown counter {name:?}"))?;
        s.counters[c.index()] = u64_of(n, &format!("{path}.counters.{name}"))?;
    }
    for (name, n) in object(v, "errors").map_err(|e| format!("{path}: {e}"))? {
        let c = error_class(name).ok_or_else(|| format!("{path}: unknown error class {name:?}"))?;
        s.errors[c.index()] = u64_of(n, &format!("{path}.errors.{name}"))?;
    }
    Ok(s)
}

fn error_class(name: &str) -> Option<ErrorClass> {
    ErrorClass::ALL.into_iter().find(|c| c.name() == name)
}

// Typed access by dotted path, each error naming the path.

fn at<'a>(v: &'a Value, path: &str) -> Result<&'a Value, String> {
    path.split('.')
        .try_fold(v, |v, k| v.get(k))
        .ok_or_else(|| format!("missing key `{path}`"))
}

/// Largest count read (2^53, the largest whole number every JSON reader keeps exact):
/// beyond any real run, and small enough that the sums the reports and a merge make of
/// thousands of them cannot overflow.
pub const MAX_COUNT: u64 = 1 << 53;

fn u64_of(x: &Value, path: &str) -> Result<u64, String> {
    match x.as_u64() {
        Some(n) if n <= MAX_COUNT => Ok(n),
        Some(_) => Err(format!("`{path}` is out of range: {x}")),
        None => Err(format!("`{path}` is not a whole number: {x}")),
    }
}

fn i32_of(x: &Value, path: &str) -> Result<i32, String> {
    x.as_i64()
        .and_then(|n| i32::try_from(n).ok())
        .ok_or_else(|| format!("`{path}` is not a small whole number: {x}"))
}

fn f64_of(x: &Value, path: &str) -> Result<f64, String> {
    x.as_f64()
        .ok_or_else(|| format!("`{path}` is not a number: {x}"))
}

fn str_of<'a>(x: &'a Value, path: &str) -> Result<&'a str, String> {
    x.as_str()
        .ok_or_else(|| format!("`{path}` is not a string: {x}"))
}

/// A sum written as a decimal string (it may outgrow a double), or a plain number.
fn u128_of(x: &Value, path: &str) -> Result<u128, String> {
    match x {
        Value::String(s) => s.parse().ok(),
        _ => x.as_u64().map(u128::from),
    }
    .ok_or_else(|| format!("`{path}` is not a whole number: {x}"))
}

fn u64_at(v: &Value, path: &str) -> Result<u64, String> {
    u64_of(at(v, path)?, path)
}

fn u32_at(v: &Value, path: &str) -> Result<u32, String> {
    u32::try_from(u64_at(v, path)?).map_err(|_| format!("`{path}` is out of range"))
}

fn f64_at(v: &Value, path: &str) -> Result<f64, String> {
    f64_of(at(v, path)?, path)
}

/// A float the writer may have written as `null` (not finite).
fn f64_or_nan(v: &Value, path: &str) -> Result<f64, String> {
    Ok(opt(v, path, f64_of)?.unwrap_or(f64::NAN))
}

fn bool_at(v: &Value, path: &str) -> Result<bool, String> {
    at(v, path)?
        .as_bool()
        .ok_or_else(|| format!("`{path}` is not true or false"))
}

fn str_at(v: &Value, path: &str) -> Result<String, String> {
    str_of(at(v, path)?, path).map(String::from)
}

fn array<'a>(v: &'a Value, path: &str) -> Result<&'a Vec<Value>, String> {
    at(v, path)?
        .as_array()
        .ok_or_else(|| format!("`{path}` is not a list"))
}

fn object<'a>(v: &'a Value, path: &str) -> Result<&'a serde_json::Map<String, Value>, String> {
    at(v, path)?
        .as_object()
        .ok_or_else(|| format!("`{path}` is not an object"))
}

/// A list of floats; `null` (a non-finite sample) reads as NaN.
fn floats(v: &Value, path: &str) -> Result<Vec<f64>, String> {
    array(v, path)?
        .iter()
        .map(|x| match x {
            Value::Null => Ok(f64::NAN),
            _ => f64_of(x, path),
        })
        .collect()
}

/// A key that may be missing or `null`, read by `f` when it is there.
fn opt<T>(
    v: &Value,
    path: &str,
    f: impl FnOnce(&Value, &str) -> Result<T, String>,
) -> Result<Option<T>, String> {
    match at(v, path) {
        Err(_) | Ok(Value::Null) => Ok(None),
        Ok(x) => f(x, path).map(Some),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::report::{json, text};

    fn latency(values: &[u64]) -> Latency {
        let mut l = Latency::new();
        for &v in values {
            l.record_us(v);
        }
        l
    }

    /// Spread over six orders of magnitude, so the histograms have grown.
    fn spread(seed: u64, n: u64) -> Vec<u64> {
        (0..n)
            .map(|i| 1 + (i * 7919 + seed) % 10_000 * (i % 97 + 1) * 13)
            .collect()
    }

    fn worker(index: u32, pid: i32, scale: u64) -> WorkerPart {
        let mut c = SlotSnapshot::default();
        for k in Counter::ALL {
            c.counters[k.index()] = scale * (k.index() as u64 + 1);
        }
        let (started, ok, failed) = (100 * scale, 90 * scale, 7 * scale);
        c.counters[Counter::RequestsStarted.index()] = started;
        c.counters[Counter::RequestsSucceeded.index()] = ok;
        c.counters[Counter::RequestsFailed.index()] = failed;
        c.counters[Counter::RequestsAborted.index()] = started - ok - failed;
        c.errors[ErrorClass::ClientTimo.index()] = 4 * scale;
        c.errors[ErrorClass::ConnReset.index()] = 3 * scale;
        c.pid = pid as u32;
        WorkerPart {
            index,
            pid,
            exit: Exit {
                code: Some(0),
                ..Exit::default()
            },
            reported: true,
            counters: c,
            cpu_us: (123_456 * scale, 65_432 * scale),
            source: None,
        }
    }

    /// A report with every part the renderers show filled in.
    pub(crate) fn rich_report() -> Report {
        let mut r = Report::new(
            "https://api.test:8443/v1".into(),
            "PUT".into(),
            12,
            (5, true),
        );
        r.run_name = "volley-rich".into();
        r.request_bytes = 321;
        r.duration_s = 7.123_456_789;
        r.startup_ms = 12.5;
        r.stop_overrun_ms = Some(0.75);
        r.started_unix_ms = 1_700_000_000_123;
        r.workload_id = "0123456789abcdef".into();
        r.workers = vec![worker(0, 4001, 1), worker(1, 4002, 2)];
        r.workers[1].exit = Exit {
            code: None,
            signal: Some(9),
            core_dumped: false,
            stopped_responding: true,
        };
        for w in &r.workers {
            r.totals.add(&w.counters);
        }
        r.connect = latency(&spread(1, 300));
        r.first_byte = latency(&spread(2, 500));
        r.reply = latency(&spread(3, 700));
        r.reply_error = latency(&[5, 50_000, 3_000_000_000]);
        r.reply_corrected = latency(&spread(3, 900));
        r.conn_life = latency(&spread(4, 40));
        r.response = latency(&spread(5, 600));
        r.lag = latency(&spread(6, 650));
        r.tls_handshake = latency(&spread(7, 30));
        r.reply_rate_samples = vec![95.5, 101.25];
        r.reply_rate_1s = vec![90.0, 99.5, 100.0, 102.0];
        r.by_status.extend([(200, 250), (204, 5), (503, 15)]);
        r.error_details
            .insert(("client-timo".into(), "first-byte".into()), 12);
        r.error_details
            .insert(("connreset".into(), "no-reply".into()), 9);
        r.first_other_errno = Some(1);
        r.hook_refused = Some("worker 0: the method 'G T' is not a token".into());
        r.anomalies.unsolicited_data = 2;
        r.anomalies.unsolicited_bytes = 77;
        r.anomalies.closed_while_idle = 3;
        r.interrupted = false;
        r.workload = Some(Workload {
            file: Some("examples/manual.toml".into()),
            entries: 3,
            iterator: "random_start".into(),
            rounds: None,
        });
        r.log = Some(LogSummary {
            path: "/tmp/log.csv".into(),
            records: 300,
            error: Some("disk full".into()),
        });
        r.max_open = 11;
        r.max_connect_burst = 4;
        r.wakeups = 999;
        r.tls = Some(TlsSummary {
            full: 10,
            resumed: 30,
            resume: true,
            insecure: true,
        });
        r.open_loop = Some(OpenLoopSummary {
            target_rate: 300.000_03,
            process: "e0.003333333".into(),
            calls: 2,
            late_starts: 17,
        });
        r.sessions = Some(SessionReport {
            ok: 40,
            failed: 5,
            life: latency(&spread(8, 40)),
            fail: latency(&spread(9, 5)),
            conns: 47,
            lengths: vec![0, 3, 42],
            rate_samples: vec![8.0, 8.2],
        });
        r.series = Some(series());
        r.user_counters = vec![crate::report::UserCounter {
            name: "tokens".into(),
            per_worker: vec![3, 4],
        }];
        let checks: Vec<volley_config::Check> = ["p99 < 1ms", "status.503 == 15", "rps > 1"]
            .iter()
            .map(|e| volley_config::Check::parse(e).unwrap())
            .collect();
        r.checks = crate::report::checks::evaluate(&checks, &r);
        r
    }

    /// Three 250 ms intervals, one of them without a reply.
    fn series() -> TimeSeries {
        let mut ts = TimeSeries::default();
        let base = 1_700_000_000_000 / 250;
        let intervals: Vec<IntervalData> = (0..3u64)
            .map(|i| {
                let mut counters = vec![0; Counter::COUNT];
                counters[Counter::RequestsSucceeded.index()] = i * 10;
                counters[Counter::Replies2xx.index()] = i * 10;
                counters[Counter::RequestsStarted.index()] = i * 10 + 1;
                counters[Counter::RequestsFailed.index()] = 1;
                counters[Counter::BytesSent.index()] = 500 + i;
                counters[Counter::BytesReceived.index()] = 900 + i;
                counters[Counter::ConnsOpened.index()] = i;
                let mut errors = vec![0; ErrorClass::COUNT];
                errors[ErrorClass::ClientTimo.index()] = 1;
                let l = latency(&spread(i, i * 10));
                IntervalData {
                    key: base + i,
                    counters,
                    errors,
                    latency: HistogramData::from_latency(&l),
                }
            })
            .collect();
        ts.add(250_000_000, &intervals);
        ts
    }

    fn read(s: &str) -> Result<Report, String> {
        Report::from_json(&serde_json::from_str(s).unwrap())
    }

    #[test]
    fn render_read_render_gives_the_same_report() {
        let r = rich_report();
        assert!(!r.checks.is_empty() && r.series.is_some());
        let file = json::render(&r);
        let back = read(&file).unwrap();
        assert_eq!(text::render(&back), text::render(&r));
        assert_eq!(back.user_counters, r.user_counters);
        // The file itself comes back: histograms, moments, time series, workers.
        // The file itself comes back: histograms, moments, time series, workers. (An
        // `hdr` may encode the same counts in other bytes: the table's size is in it.)
        let again = serde_json::from_str(&json::render(&back)).unwrap();
        let file = serde_json::from_str(&file).unwrap();
        assert_eq!(decoded(again), decoded(file));
    }

    /// `v` with each `hdr` replaced by the `(value, count)` pairs it holds.
    fn decoded(v: Value) -> Value {
        match v {
            Value::Object(m) => Value::Object(
                m.into_iter()
                    .map(|(k, x)| match (k.as_str(), &x) {
                        ("hdr", Value::String(s)) => {
                            let h = volley_worker::series::decode(s).unwrap();
                            let pairs: Vec<(u64, u64)> = h
                                .iter_recorded()
                                .map(|b| (b.value_iterated_to(), b.count_at_value()))
                                .collect();
                            (k, serde_json::json!(pairs))
                        }
                        _ => (k, decoded(x)),
                    })
                    .collect(),
            ),
            Value::Array(a) => Value::Array(a.into_iter().map(decoded).collect()),
            x => x,
        }
    }

    #[test]
    fn a_merged_report_keeps_its_sources() {
        let mut r = rich_report();
        r.sources = vec!["a.json".into(), "b.json".into()];
        r.workers[0].source = Some("a.json".into());
        r.workers[1].source = Some("b.json".into());
        let out = text::render(&r);
        assert!(
            out.contains("Worker 1 pid 4002 of b.json: stopped responding"),
            "{out}"
        );
        assert!(
            out.contains("Merged: 2 result files of workload 0123456789abcdef: a.json b.json\n"),
            "{out}"
        );
        let back = read(&json::render(&r)).unwrap();
        assert_eq!(text::render(&back), out);
    }

    #[test]
    fn a_file_of_the_first_schema_2_writer_reads() {
        // Before `volley merge`: no request size, errno, sources or interval sums.
        let r = rich_report();
        let mut v: Value = serde_json::from_str(&json::render(&r)).unwrap();
        let m = v.as_object_mut().unwrap();
        m.remove("first_other_errno");
        m.remove("hook_refused");
        m.remove("merged_from");
        m["bytes"].as_object_mut().unwrap().remove("request");
        for w in m["workers"].as_array_mut().unwrap() {
            w.as_object_mut().unwrap().remove("source");
        }
        for i in m["time_series"]["intervals"].as_array_mut().unwrap() {
            let i = i.as_object_mut().unwrap();
            i.remove("latency_sum_us");
            i.remove("latency_sum_sq_us");
        }
        let back = Report::from_json(&v).unwrap();
        assert_eq!(
            (
                back.request_bytes,
                back.first_other_errno,
                back.hook_refused
            ),
            (0, None, None)
        );
        let (a, b) = (r.series.unwrap(), back.series.unwrap());
        for (k, i) in &a.intervals {
            let j = &b.intervals[k];
            assert_eq!(j.latency.moments.count, i.latency.moments.count);
            // The sum from the mean, which is rounded to the µs.
            let diff = j.latency.moments.sum.abs_diff(i.latency.moments.sum);
            assert!(diff <= u128::from(i.latency.moments.count), "{diff}");
        }
    }

    #[test]
    fn an_empty_run_reads_back() {
        let r = Report::new("http://h/".into(), "GET".into(), 1, (7, false));
        let back = read(&json::render(&r)).unwrap();
        assert_eq!(text::render(&back), text::render(&r));
        assert!(back.series.is_none());
    }

    #[test]
    fn other_schemas_are_refused_with_what_to_do() {
        let err = read(r#"{"schema": 1, "url": "http://h/"}"#).unwrap_err();
        assert!(err.contains("schema 1") && err.contains("--out"), "{err}");
        let err = read(r#"{"schema": 3}"#).unwrap_err();
        assert!(err.contains("schema 3 is not known"), "{err}");
        let err = read(r#"{"url": "x"}"#).unwrap_err();
        assert!(err.contains("no \"schema\" key"), "{err}");
        assert!(read("[1, 2]").unwrap_err().contains("not a JSON object"));
    }

    #[test]
    fn a_damaged_file_names_the_key() {
        let file = json::render(&rich_report());
        let mut v: Value = serde_json::from_str(&file).unwrap();
        v["histograms"]["reply"]["hdr"] = "bm90IGEgaGlzdG9ncmFt".into();
        let err = Report::from_json(&v).unwrap_err();
        assert!(
            err.starts_with("histograms.reply: `hdr`: not an HdrHistogram"),
            "{err}"
        );

        let mut v: Value = serde_json::from_str(&file).unwrap();
        v["histograms"]["reply"]["count"] = 3.into();
        let err = Report::from_json(&v).unwrap_err();
        assert!(
            err.contains("holds 700 samples but its count says 3"),
            "{err}"
        );

        let mut v: Value = serde_json::from_str(&file).unwrap();
        v["totals"]["counters"]["requests_started"] = "many".into();
        let err = Report::from_json(&v).unwrap_err();
        assert!(
            err.contains("`totals.counters.requests_started` is not a whole"),
            "{err}"
        );

        let mut v: Value = serde_json::from_str(&file).unwrap();
        v.as_object_mut().unwrap().remove("workload_id");
        assert_eq!(
            Report::from_json(&v).unwrap_err(),
            "missing key `workload_id`"
        );

        let mut v: Value = serde_json::from_str(&file).unwrap();
        v["time_series"]["intervals"][1]["errors"] = serde_json::json!({"gremlins": 1});
        let err = Report::from_json(&v).unwrap_err();
        assert!(
            err.starts_with("time_series.intervals[1]: unknown error class"),
            "{err}"
        );
    }

    #[test]
    fn files_that_are_not_results_name_the_file_and_place() {
        let dir = std::env::temp_dir().join(format!("volley-read-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let bad = dir.join("bad.json");
        std::fs::write(&bad, "{\n  \"schema\": 2,\n  \"url\": oops\n}\n").unwrap();
        let err = read_file(&bad).unwrap_err();
        assert_eq!(
            err,
            format!("{}:3:10: not valid JSON: expected value", bad.display())
        );
        let missing = dir.join("missing.json");
        let err = read_file(&missing).unwrap_err();
        assert!(
            err.starts_with(&format!("cannot read {}: ", missing.display())),
            "{err}"
        );
        let old = dir.join("old.json");
        std::fs::write(&old, r#"{"schema": 1}"#).unwrap();
        let err = read_file(&old).unwrap_err();
        assert!(
            err.starts_with(&format!("{}: schema 1", old.display())),
            "{err}"
        );
        let good = dir.join("good.json");
        std::fs::write(&good, json::render(&rich_report())).unwrap();
        assert_eq!(read_file(&good).unwrap().workload_id, "0123456789abcdef");
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Every leaf of `v`, by its path of keys and indices.
    fn leaves(v: &Value, path: &mut Vec<Value>, out: &mut Vec<Vec<Value>>) {
        match v {
            Value::Object(m) => m.iter().for_each(|(k, x)| {
                path.push(k.as_str().into());
                leaves(x, path, out);
                path.pop();
            }),
            Value::Array(a) => a.iter().enumerate().for_each(|(i, x)| {
                path.push(i.into());
                leaves(x, path, out);
                path.pop();
            }),
            _ => out.push(path.clone()),
        }
    }

    fn at_mut<'a>(v: &'a mut Value, path: &[Value]) -> &'a mut Value {
        path.iter().fold(v, |v, k| match k {
            Value::String(k) => &mut v[k.as_str()],
            k => &mut v[k.as_u64().unwrap() as usize],
        })
    }

    /// The rich report with one worker, one interval and small histograms: every kind of
    /// value once, cheap to read thousands of times.
    fn lean_report() -> Report {
        let mut r = rich_report();
        let small = || latency(&[3, 40, 500]);
        for l in [
            &mut r.connect,
            &mut r.first_byte,
            &mut r.reply,
            &mut r.reply_error,
            &mut r.reply_corrected,
            &mut r.conn_life,
            &mut r.response,
            &mut r.lag,
            &mut r.tls_handshake,
        ] {
            *l = small();
        }
        if let Some(s) = r.sessions.as_mut() {
            (s.life, s.fail) = (small(), small());
        }
        r.workers.truncate(1);
        let ts = r.series.as_mut().unwrap();
        let last = *ts.intervals.keys().next_back().unwrap();
        ts.intervals.retain(|&k, _| k == last);
        r
    }

    #[test]
    fn no_value_in_a_file_makes_reading_merging_or_comparing_panic() {
        let good = lean_report();
        let file: Value = serde_json::from_str(&json::render(&good)).unwrap();
        let mut paths = Vec::new();
        leaves(&file, &mut Vec::new(), &mut paths);
        // Figures the writer derives are not read: nothing to try there.
        let derived = [
            "latency_ms",
            "throughput",
            "invalid_reasons",
            "verdict",
            "valid",
        ];
        paths.retain(|p| !derived.iter().any(|d| p[0] == *d));
        let bad = [Value::Null, "x".into(), u64::MAX.into()];
        for path in &paths {
            for b in &bad {
                let mut v = file.clone();
                *at_mut(&mut v, path) = b.clone();
                let Ok(r) = Report::from_json(&v) else {
                    continue;
                };
                let mut other = good.clone();
                other.run_name = "other".into();
                let parts = [("a".to_string(), r.clone()), ("b".to_string(), other)];
                // The merged report holds the bad value too; render it once.
                match crate::report::combine::merge(&parts) {
                    Ok(m) => (text::render(&m), json::render(&m)),
                    Err(_) => (text::render(&r), json::render(&r)),
                };
                let c = crate::compare::Comparison::new(&good, &r);
                let _ = c.failed(5.0);
            }
        }
    }

    #[test]
    fn interval_keys_come_back_from_whole_ms_starts() {
        // 1.5 ms intervals start at fractional ms, which the writer floors.
        for key in [0u64, 1, 2, 3, 1_133_333_333_333] {
            let start_ms = key * 1_500_000 / 1_000_000;
            let v = serde_json::json!({
                "start_unix_ms": start_ms, "replies": {"total": 0, "1xx": 0, "2xx": 0,
                "3xx": 0, "4xx": 0, "5xx": 0}, "requests_started": 0, "errors": {},
                "errors_total": 0, "bytes_sent": 0, "bytes_received": 0,
                "connections_opened": 0, "latency_ms": {"count": 0},
                "hdr": volley_worker::series::encode(&Latency::new().hist),
            });
            assert_eq!(interval(&v, 1_500_000).unwrap().key, key);
        }
    }
}
