//! The human-readable report: volley's summary (see [`super::summary`]), then httperf's
//! sections and line shapes (so scripts written for httperf's output keep working), then
//! volley's additions. In httperf's order (`volley httperf`) the summary comes last.
//!
//! Every number that has no meaning (no sample, zero duration) prints as `n/a`; no `NaN` or
//! `inf` ever reaches the output.

use std::fmt::Write as _;

use volley_config::Wording;
use volley_scoreboard::{Counter, ErrorClass, SlotSnapshot};

use super::Report;
use volley_worker::stats::Latency;

/// `n` per second over `secs`, if there was time.
fn rate_of(n: u64, secs: f64) -> Option<f64> {
    (secs > 0.0).then(|| n as f64 / secs)
}

/// Renders `r` as text, one line per item, ending with a newline.
pub fn render(r: &Report) -> String {
    let mut out = String::new();
    // Writing to a `String` cannot fail.
    let _ = write_report(&mut out, r);
    out
}

/// The closed loop's corrected reply row: the star refers to [`CORRECTED_NOTE`].
const CORRECTED_LABEL: &str = "  reply (corrected)*";

/// What the corrected row is, printed under the latency table.
const CORRECTED_NOTE: &str = "  * estimate (closed loop): the replies and the requests each slot \
                              would have sent while a slow reply held it";

/// Latency statistics in milliseconds, with microsecond precision: `[min, mean, p50,
/// p90, p99, p99.9, max]`, or `None` without samples. Min, mean and max are exact; the
/// quantiles keep 3 significant digits at any magnitude (see [`Latency::quantile_us`]).
pub(super) fn latency_ms(l: &Latency) -> Option<[f64; 7]> {
    let m = &l.moments;
    let mean = m.mean()?;
    let ms = |us: f64| us.round() / 1000.0;
    let q = |q: f64| ms(l.quantile_us(q).unwrap_or(0.0));
    Some([
        ms(m.min as f64),
        ms(mean),
        q(0.5),
        q(0.9),
        q(0.99),
        q(0.999),
        ms(m.max as f64),
    ])
}

/// `num / den`, or `None` when `den` is not positive or the quotient is not finite.
fn ratio(num: f64, den: f64) -> Option<f64> {
    let q = num / den;
    (den > 0.0 && q.is_finite()).then_some(q)
}

/// `x` with `prec` decimals, or `n/a`.
pub(super) fn num(x: Option<f64>, prec: usize) -> String {
    match x {
        Some(v) if v.is_finite() => format!("{v:.prec$}"),
        _ => "n/a".into(),
    }
}

/// Milliseconds as httperf prints them (one decimal), with 3 significant digits below
/// 1 ms: at 90,000 requests per second `0.0 ms/req` says nothing, `0.0110` does.
fn ms_fine(x: Option<f64>) -> String {
    match x {
        Some(v) if v.is_finite() && v > 0.0 && v < 1.0 => {
            let decimals = (2.0 - v.log10().floor()) as usize;
            format!("{v:.decimals$}")
        }
        _ => f1(x),
    }
}

/// `x` with one decimal, or `n/a`.
fn f1(x: Option<f64>) -> String {
    num(x, 1)
}

/// `x` as a percentage with one decimal (`12.5%`), or `n/a`.
fn pct(x: Option<f64>) -> String {
    match x {
        Some(v) if v.is_finite() => format!("{:.1}%", v * 100.0),
        _ => "n/a".into(),
    }
}

/// Exact mean of a latency distribution in milliseconds, or `None` without samples.
fn mean_ms(l: &Latency) -> Option<f64> {
    l.moments.mean().map(|m| m / 1000.0)
}

/// httperf's reply-rate statistics: min, avg, max and sample standard deviation (zero with
/// fewer than two samples; all zero without samples).
fn sample_stats(samples: &[f64]) -> [f64; 4] {
    let n = samples.len();
    if n == 0 {
        return [0.0; 4];
    }
    let min = samples.iter().copied().fold(f64::INFINITY, f64::min);
    let max = samples.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let avg = samples.iter().sum::<f64>() / n as f64;
    let stddev = if n > 1 {
        let ss: f64 = samples.iter().map(|x| (x - avg) * (x - avg)).sum();
        (ss / (n - 1) as f64).max(0.0).sqrt()
    } else {
        0.0
    };
    [min, avg, max, stddev]
}

/// The words of the Total, connection and request lines: today's, or httperf 0.8's
/// sessions (TCP connections) and calls (requests) for `volley httperf --num-sessions`.
/// Its "Connection length" line, which httperf 0.8 did not print, is renamed alike.
struct Words {
    /// `connections`, `sessions`.
    conns: &'static str,
    /// `requests`, `calls`.
    requests: &'static str,
    /// `Connection`, `Session`.
    conn: &'static str,
    /// `conn`, `sess`.
    conn_unit: &'static str,
    /// `Request`, `Call`.
    request: &'static str,
    /// `req`, `call`.
    request_unit: &'static str,
}

impl Words {
    fn of(wording: Wording) -> Self {
        match wording {
            Wording::Current => Words {
                conns: "connections",
                requests: "requests",
                conn: "Connection",
                conn_unit: "conn",
                request: "Request",
                request_unit: "req",
            },
            Wording::Sessions => Words {
                conns: "sessions",
                requests: "calls",
                conn: "Session",
                conn_unit: "sess",
                request: "Call",
                request_unit: "call",
            },
        }
    }
}

fn write_report(out: &mut String, r: &Report) -> std::fmt::Result {
    let t = &r.totals;
    let dur = r.duration_s;
    let conns = t.get(Counter::ConnsOpened);
    let started = r.started();
    let replies = r.replies();

    if r.tls.is_some_and(|t| t.insecure) {
        writeln!(
            out,
            "WARNING: --insecure: server certificates were not verified; the server may not \
             be the one named in the URL"
        )?;
    }
    if let Some(w) = super::summary::warning(r) {
        writeln!(out, "{w}")?;
    }
    if out.starts_with("WARNING") {
        writeln!(out)?;
    }
    if !r.httperf_order {
        super::summary::write(out, r)?;
        writeln!(out)?;
    }
    writeln!(out, "Maximum connect burst length: {}", r.max_connect_burst)?;
    writeln!(out)?;

    // Total.
    let w = Words::of(r.httperf_wording);
    writeln!(
        out,
        "Total: {} {conns} {} {started} replies {replies} test-duration {} s",
        w.conns,
        w.requests,
        num(dur.is_finite().then_some(dur), 3)
    )?;
    writeln!(out)?;

    // Connection.
    writeln!(
        out,
        "{} rate: {} {}/s ({} ms/{}, <={} concurrent {})",
        w.conn,
        f1(ratio(conns as f64, dur)),
        w.conn_unit,
        ms_fine(ratio(dur * 1000.0, conns as f64)),
        w.conn_unit,
        r.max_open,
        w.conns
    )?;
    // Exact min, mean, max and standard deviation; the median to 3 significant digits.
    let life = &r.conn_life;
    let ms = |us: Option<f64>| us.map(|v| v / 1000.0);
    let exact = (!life.is_empty()).then_some(&life.moments);
    writeln!(
        out,
        "{} time [ms]: min {} avg {} max {} median {} stddev {}",
        w.conn,
        f1(exact.map(|m| m.min as f64 / 1000.0)),
        f1(ms(life.moments.mean())),
        f1(exact.map(|m| m.max as f64 / 1000.0)),
        f1(ms(life.quantile_us(0.5))),
        f1(ms(life.moments.stdev())),
    )?;
    writeln!(
        out,
        "{} time [ms]: connect {}",
        w.conn,
        ms_fine(mean_ms(&r.connect))
    )?;
    writeln!(
        out,
        "{} length [replies/{}]: {}",
        w.conn,
        w.conn_unit,
        num(ratio(replies as f64, conns as f64), 3)
    )?;
    writeln!(out)?;

    // Request.
    writeln!(
        out,
        "{} rate: {} {}/s ({} ms/{})",
        w.request,
        f1(ratio(started as f64, dur)),
        w.request_unit,
        ms_fine(ratio(dur * 1000.0, started as f64)),
        w.request_unit
    )?;
    // httperf's mean over requests written in full (a result file from before the sums
    // has none: the first request's size).
    let f = &r.figures;
    let request_size = ratio(f.request_bytes_sent as f64, f.requests_sent as f64)
        .unwrap_or(r.request_bytes as f64);
    writeln!(out, "{} size [B]: {}", w.request, f1(Some(request_size)))?;
    writeln!(out)?;

    // Reply.
    let [min, avg, max, stddev] = sample_stats(&r.reply_rate_samples);
    writeln!(
        out,
        "Reply rate [replies/s]: min {} avg {} max {} stddev {} ({} samples)",
        f1(Some(min)),
        f1(Some(avg)),
        f1(Some(max)),
        f1(Some(stddev)),
        r.reply_rate_samples.len()
    )?;
    // As httperf: request sent → first byte over every reply begun, first → last byte
    // over every reply read, whatever their status.
    let (response, transfer) = if f.responses > 0 || f.transfers > 0 {
        let mean = |ns: u64, n: u64| ratio(ns as f64 / 1e6, n as f64);
        (
            mean(f.response_ns, f.responses),
            mean(f.transfer_ns, f.transfers),
        )
    } else {
        // A result file from before the sums: replies with status < 400.
        let response = mean_ms(&r.first_byte);
        let transfer = match (mean_ms(&r.reply), response) {
            (Some(reply), Some(first)) => Some(if reply > first { reply - first } else { 0.0 }),
            _ => None,
        };
        (response, transfer)
    };
    writeln!(
        out,
        "Reply time [ms]: response {} transfer {}",
        ms_fine(response),
        ms_fine(transfer)
    )?;
    let header = ratio(t.get(Counter::HeaderBytes) as f64, replies as f64);
    let content = ratio(t.get(Counter::BodyBytes) as f64, replies as f64);
    let footer = ratio(f.footer_bytes as f64, replies as f64);
    let total = header
        .zip(content)
        .map(|(h, c)| h + c + footer.unwrap_or(0.0));
    writeln!(
        out,
        "Reply size [B]: header {} content {} footer {} (total {})",
        f1(header),
        f1(content),
        f1(footer.or(Some(0.0))),
        f1(total)
    )?;
    writeln!(
        out,
        "Reply status: 1xx={} 2xx={} 3xx={} 4xx={} 5xx={}",
        t.get(Counter::Replies1xx),
        t.get(Counter::Replies2xx),
        t.get(Counter::Replies3xx),
        t.get(Counter::Replies4xx),
        t.get(Counter::Replies5xx)
    )?;
    writeln!(out)?;

    // Miscellaneous. Each worker is one single-threaded process, so it can keep at most
    // one core busy: 100% is every worker's core busy for the whole test duration.
    let (user_us, sys_us) = r.cpu_us();
    let (user, sys) = (user_us as f64 / 1e6, sys_us as f64 / 1e6);
    let cores = r.workers.len().max(1) as f64;
    writeln!(
        out,
        "CPU time [s]: user {user:.2} system {sys:.2} (user {} system {} total {} of {} \
         {}, one per worker)",
        pct(ratio(user, dur * cores)),
        pct(ratio(sys, dur * cores)),
        pct(ratio(user + sys, dur * cores)),
        cores,
        if cores == 1.0 { "core" } else { "cores" }
    )?;
    let io_bytes = (t.get(Counter::BytesSent) + t.get(Counter::BytesReceived)) as f64;
    writeln!(
        out,
        "Net I/O: {} KB/s ({}*10^6 bps)",
        f1(ratio(io_bytes / 1024.0, dur)),
        f1(ratio(io_bytes * 8.0 / 1e6, dur))
    )?;
    writeln!(out)?;

    // Errors, httperf's classes.
    let e = |c: ErrorClass| t.error(c);
    writeln!(
        out,
        "Errors: total {} client-timo {} socket-timo {} connrefused {} connreset {}",
        r.errors(),
        e(ErrorClass::ClientTimo),
        e(ErrorClass::SocketTimo),
        e(ErrorClass::ConnRefused),
        e(ErrorClass::ConnReset)
    )?;
    writeln!(
        out,
        "Errors: fd-unavail {} addrunavail {} ftab-full {} other {}",
        e(ErrorClass::FdUnavail),
        e(ErrorClass::AddrUnavail),
        e(ErrorClass::FtabFull),
        e(ErrorClass::Other)
    )?;
    // volley's classes, in the same block.
    writeln!(
        out,
        "Errors: addrinuse {} protocol {} limit {} stale-conn {} tls {} dns {}",
        e(ErrorClass::AddrInUse),
        e(ErrorClass::Protocol),
        e(ErrorClass::Limit),
        e(ErrorClass::StaleConn),
        e(ErrorClass::Tls),
        e(ErrorClass::Dns)
    )?;
    if !r.error_details.is_empty() {
        let list: Vec<String> = r
            .error_details
            .iter()
            .map(|((class, detail), n)| format!("{class}/{detail} {n}"))
            .collect();
        writeln!(out, "Errors detail: {}", list.join(" "))?;
    }
    if !r.user_counters.is_empty() {
        let list: Vec<String> = r
            .user_counters
            .iter()
            .map(|u| format!("{} {}", u.name, u.total()))
            .collect();
        writeln!(out, "User counters: {}", list.join(" "))?;
    }
    if let Some(why) = &r.hook_refused {
        writeln!(
            out,
            "Errors: a hook made a request that cannot be sent ({why})"
        )?;
    }
    if let Some(errno) = r.first_other_errno {
        let name = nix::errno::Errno::from_raw(errno);
        writeln!(
            out,
            "Errors: first 'other' errno {errno} ({name:?}: {})",
            name.desc()
        )?;
    }
    if let Some(calls) = &r.calls {
        // Where the httperf build with the option prints it: after the errors, before
        // the session lines.
        super::calls::write(out, calls)?;
    }
    if let Some(sr) = &r.sessions {
        // httperf's session lines.
        let ended = sr.ok + sr.failed;
        let [min, _, max, stddev] = sample_stats(&sr.rate_samples);
        writeln!(out)?;
        writeln!(
            out,
            "Session rate [sess/s]: min {:.2} avg {:.2} max {:.2} stddev {:.2} ({}/{})",
            min,
            ratio(sr.ok as f64, dur).unwrap_or(0.0),
            max,
            stddev,
            sr.ok,
            ended
        )?;
        writeln!(
            out,
            "Session: avg {:.2} connections/session",
            ratio(sr.conns as f64, ended as f64).unwrap_or(0.0)
        )?;
        let mean_s = |l: &Latency| l.moments.mean().map_or(0.0, |m| m / 1e6);
        writeln!(out, "Session lifetime [s]: {:.1}", mean_s(&sr.life))?;
        writeln!(out, "Session failtime [s]: {:.1}", mean_s(&sr.fail))?;
        write!(out, "Session length histogram:")?;
        for n in &sr.lengths {
            write!(out, " {n}")?;
        }
        writeln!(out)?;
    }
    writeln!(out)?;

    // volley's additions.
    let a = &r.anomalies;
    if a.unsolicited_data + a.closed_while_idle > 0 {
        writeln!(
            out,
            "Connections: {} closed for unsolicited data ({} bytes), {} closed by the server \
             while idle (not request errors; never reused)",
            a.unsolicited_data, a.unsolicited_bytes, a.closed_while_idle
        )?;
    }
    let (errors, aborted) = (r.errors(), r.aborted());
    writeln!(
        out,
        "Requests: started {started} completed {} aborted {aborted} \
         (replies {replies} + errors {errors} + aborted {aborted} = started {started})",
        r.completed()
    )?;
    let retried = r.totals.get(Counter::RequestsRetried);
    if retried > 0 {
        writeln!(
            out,
            "Requests: retried {retried} (kept-alive connections the server had closed; \
             each retried once on a new connection)"
        )?;
    }
    writeln!(out)?;

    let mut rows = vec![
        ("  connect", &r.connect),
        ("  first byte", &r.first_byte),
        ("  reply", &r.reply),
    ];
    let corrected = r.open_loop.is_none() && !r.reply_corrected.is_empty();
    if corrected {
        rows.push((CORRECTED_LABEL, &r.reply_corrected));
    }
    if !r.reply_error.is_empty() {
        rows.push(("  reply 4/5xx", &r.reply_error));
    }
    if r.open_loop.is_some() {
        rows.push(("  response", &r.response));
        rows.push(("  sched. lag", &r.lag));
    }
    if r.tls.is_some() {
        rows.push(("  tls handshk", &r.tls_handshake));
    }
    // The labels' column fits the longest (13 wide without the corrected row).
    let w = rows
        .iter()
        .map(|(l, _)| l.len() + 1)
        .max()
        .unwrap_or(0)
        .max(13);
    writeln!(
        out,
        "{:<w$}{:>10}{:>10}{:>10}{:>10}{:>10}{:>10}{:>10}",
        "Latency [ms]", "min", "mean", "p50", "p90", "p99", "p99.9", "max"
    )?;
    for (label, h) in rows {
        write!(out, "{label:<w$}")?;
        let h: &Latency = h;
        match latency_ms(h) {
            Some(stats) => {
                for v in stats {
                    write!(out, "{:>10}", num(Some(v), 3))?;
                }
            }
            None => {
                for _ in 0..7 {
                    write!(out, "{:>10}", "n/a")?;
                }
            }
        }
        writeln!(out)?;
    }
    if corrected {
        writeln!(out, "{CORRECTED_NOTE}")?;
    }
    if let Some(o) = &r.open_loop {
        let sessions = r.sessions();
        writeln!(
            out,
            "Schedule: open loop {} ({:.1} sessions/s x {} calls), achieved {} sessions/s; \
             late starts (> 1 ms) {} of {}",
            o.process,
            o.target_rate,
            o.calls,
            num(rate_of(sessions, r.duration_s), 1),
            o.late_starts,
            sessions
        )?;
        if r.behind_schedule() {
            writeln!(
                out,
                "WARNING: the generator fell behind its schedule ({} of {} sessions started \
                 over 1 ms late): raise -c or -w, or lower the rate; 'response' still counts \
                 from the schedule",
                o.late_starts, sessions
            )?;
        }
    }
    if let Some(t) = &r.tls {
        writeln!(
            out,
            "TLS: handshakes full {} resumed {} (resumption {}; certificates {})",
            t.full,
            t.resumed,
            if t.resume { "on" } else { "off" },
            if t.insecure {
                "NOT verified"
            } else {
                "verified"
            }
        )?;
    }
    writeln!(out)?;

    let run_name = if r.run_name.is_empty() {
        "-"
    } else {
        &r.run_name
    };
    writeln!(
        out,
        "Run: {run_name} url {} method {} slots {} workers {} seed {} ({})",
        r.url,
        r.method,
        r.concurrency,
        r.workers.len(),
        r.seed.0,
        if r.seed.1 { "given" } else { "drawn" }
    )?;
    if let Some(w) = &r.workload {
        write!(out, "Workload:")?;
        if let Some(f) = &w.file {
            write!(out, " run file {f}")?;
        }
        let rounds = match w.rounds {
            Some(n) => n.to_string(),
            None => "until stopped".into(),
        };
        writeln!(
            out,
            " URLs {} iterator {} rounds {rounds}",
            w.entries, w.iterator
        )?;
    }
    if let Some(l) = &r.log {
        writeln!(out, "Per-request log: {} ({} records)", l.path, l.records)?;
    }
    if !r.sources.is_empty() {
        writeln!(
            out,
            "Merged: {} result files of workload {}: {}",
            r.sources.len(),
            r.workload_id,
            r.sources.join(" ")
        )?;
    }
    for w in &r.workers {
        write_worker(out, w)?;
        if !w.reported {
            out.push_str(" (no report: counters from the scoreboard)");
        }
        writeln!(out)?;
    }

    if r.interrupted {
        writeln!(out)?;
        writeln!(
            out,
            "Interrupted: the run was stopped by a signal; requests in flight were aborted."
        )?;
    }

    let reasons = r.invalid_reasons();
    if !reasons.is_empty() {
        writeln!(out)?;
        writeln!(out, "WARNING: this run is INVALID:")?;
        for reason in reasons {
            writeln!(out, "  - {reason}")?;
        }
    }
    if r.httperf_order {
        writeln!(out)?;
        super::summary::write(out, r)?;
    }
    Ok(())
}

/// One worker's line, without its newline; in a merged report, it names its file.
fn write_worker(out: &mut String, w: &super::WorkerPart) -> std::fmt::Result {
    let c: &SlotSnapshot = &w.counters;
    write!(out, "Worker {} pid {}", w.index, w.pid)?;
    if let Some(file) = &w.source {
        write!(out, " of {file}")?;
    }
    write!(
        out,
        ": {}, requests {} replies {} errors {} aborted {}",
        w.exit.describe(),
        c.get(Counter::RequestsStarted),
        c.get(Counter::RequestsSucceeded),
        c.get(Counter::RequestsFailed),
        c.get(Counter::RequestsAborted)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Exit, WorkerPart};

    fn snapshot(counters: &[(Counter, u64)], errors: &[(ErrorClass, u64)]) -> SlotSnapshot {
        let mut s = SlotSnapshot::default();
        for &(c, n) in counters {
            s.counters[c.index()] = n;
        }
        for &(c, n) in errors {
            s.errors[c.index()] = n;
        }
        s
    }

    fn worker(index: u32, pid: i32, started: u64, replies: u64, errors: u64) -> WorkerPart {
        let aborted = started - replies - errors;
        WorkerPart {
            index,
            pid,
            exit: Exit {
                code: Some(0),
                signal: None,
                core_dumped: false,
                stopped_responding: false,
            },
            reported: true,
            counters: snapshot(
                &[
                    (Counter::RequestsStarted, started),
                    (Counter::RequestsSucceeded, replies),
                    (Counter::RequestsFailed, errors),
                    (Counter::RequestsAborted, aborted),
                ],
                &[],
            ),
            cpu_us: (0, 0),
            source: None,
        }
    }

    /// A small, valid, fixed report.
    fn sample_report() -> Report {
        let mut r = Report::new("http://127.0.0.1:8080/".into(), "GET".into(), 4, (42, true));
        r.run_name = "volley-1234".into();
        r.request_bytes = 57;
        r.duration_s = 10.0;
        r.totals = snapshot(
            &[
                (Counter::RequestsStarted, 100),
                (Counter::RequestsSucceeded, 95),
                (Counter::RequestsFailed, 3),
                (Counter::RequestsAborted, 2),
                (Counter::Replies2xx, 90),
                (Counter::Replies4xx, 5),
                (Counter::HeaderBytes, 95 * 200),
                (Counter::BodyBytes, 95 * 100),
                (Counter::BytesSent, 5700),
                (Counter::BytesReceived, 28500),
                (Counter::ConnsOpened, 10),
                (Counter::ConnsReused, 90),
            ],
            &[(ErrorClass::ClientTimo, 2), (ErrorClass::ConnRefused, 1)],
        );
        r.max_open = 4;
        r.max_connect_burst = 3;
        r.connect.record_us(1000);
        r.connect.record_us(2000);
        r.first_byte.record_us(1500);
        r.first_byte.record_us(1700);
        r.reply.record_us(1800);
        r.reply.record_us(2000);
        r.conn_life.record_us(10_000);
        r.conn_life.record_us(30_000);
        r.reply_rate_samples = vec![9.0, 10.0, 9.5];
        r.reply_rate_1s = vec![8.0, 11.0, 9.5];
        r.by_status.insert(200, 88);
        r.by_status.insert(204, 2);
        r.by_status.insert(404, 5);
        let mut w0 = worker(0, 4242, 50, 48, 1);
        w0.cpu_us = (1_000_000, 500_000);
        let mut w1 = worker(1, 4243, 50, 47, 2);
        w1.cpu_us = (1_500_000, 250_000);
        r.workers = vec![w0, w1];
        r
    }

    #[test]
    fn golden() {
        let expected = "\
Summary: 100 requests in 10.000 s, 4 slots, 2 workers: http://127.0.0.1:8080/
Replies: 95 of 98 completed requests (96.9%), errors 3, aborted at the stop 2
Error classes: client-timo=2 connrefused=1
Status codes: 200=88 204=2 404=5
Reply latency [ms]: p50 1.800 p99 2.000 max 2.000
Rate: 9.5 replies/s, 10.0 attempts/s
Rate per second [replies/s]: min 8.0 avg 9.5 max 11.0 (3 samples)
OK: 96.9% of 98 requests got a reply (5 of them 4xx); 3 errors (2 client-timo, 1 connrefused)

Maximum connect burst length: 3

Total: connections 10 requests 100 replies 95 test-duration 10.000 s

Connection rate: 1.0 conn/s (1000.0 ms/conn, <=4 concurrent connections)
Connection time [ms]: min 10.0 avg 20.0 max 30.0 median 10.0 stddev 10.0
Connection time [ms]: connect 1.5
Connection length [replies/conn]: 9.500

Request rate: 10.0 req/s (100.0 ms/req)
Request size [B]: 57.0

Reply rate [replies/s]: min 9.0 avg 9.5 max 10.0 stddev 0.5 (3 samples)
Reply time [ms]: response 1.6 transfer 0.300
Reply size [B]: header 200.0 content 100.0 footer 0.0 (total 300.0)
Reply status: 1xx=0 2xx=90 3xx=0 4xx=5 5xx=0

CPU time [s]: user 2.50 system 0.75 (user 12.5% system 3.8% total 16.2% of 2 cores, one per worker)
Net I/O: 3.3 KB/s (0.0*10^6 bps)

Errors: total 3 client-timo 2 socket-timo 0 connrefused 1 connreset 0
Errors: fd-unavail 0 addrunavail 0 ftab-full 0 other 0
Errors: addrinuse 0 protocol 0 limit 0 stale-conn 0 tls 0 dns 0

Requests: started 100 completed 98 aborted 2 (replies 95 + errors 3 + aborted 2 = started 100)

Latency [ms]        min      mean       p50       p90       p99     p99.9       max
  connect         1.000     1.500     1.000     2.000     2.000     2.000     2.000
  first byte      1.500     1.600     1.500     1.700     1.700     1.700     1.700
  reply           1.800     1.900     1.800     2.000     2.000     2.000     2.000

Run: volley-1234 url http://127.0.0.1:8080/ method GET slots 4 workers 2 seed 42 (given)
Worker 0 pid 4242: exited 0, requests 50 replies 48 errors 1 aborted 1
Worker 1 pid 4243: exited 0, requests 50 replies 47 errors 2 aborted 1
";
        assert_eq!(render(&sample_report()), expected);
    }

    #[test]
    fn a_closed_loop_shows_its_corrected_row_starred_and_aligned() {
        let mut r = sample_report();
        r.reply_corrected = r.reply.clone();
        r.reply_corrected.record_n_us(1_000, 2);
        let out = render(&r);
        let table = "\
Latency [ms]                min      mean       p50       p90       p99     p99.9       max
  connect                 1.000     1.500     1.000     2.000     2.000     2.000     2.000
  first byte              1.500     1.600     1.500     1.700     1.700     1.700     1.700
  reply                   1.800     1.900     1.800     2.000     2.000     2.000     2.000
  reply (corrected)*      1.000     1.450     1.000     2.000     2.000     2.000     2.000
  * estimate (closed loop): the replies and the requests each slot would have sent while a \
slow reply held it
";
        assert!(out.contains(table), "{out}");
        // An open loop measures what the row estimates: no such row there.
        r.open_loop = Some(super::super::OpenLoopSummary {
            target_rate: 10.0,
            process: "d0.1".into(),
            calls: 1,
            late_starts: 0,
        });
        assert!(!render(&r).contains("corrected"));
    }

    #[test]
    fn empty_run_has_no_nan_or_inf() {
        let r = Report::new("http://h/".into(), "GET".into(), 1, (7, false));
        let out = render(&r);
        assert!(!out.contains("NaN"), "{out}");
        assert!(!out.contains("inf"), "{out}");
        assert!(out.contains("n/a"), "{out}");
        assert!(out.contains("Connection rate: n/a conn/s (n/a ms/conn, <=0 concurrent"));
        assert!(out.contains("Connection time [ms]: connect n/a\n"), "{out}");
        assert!(
            out.contains("Connection time [ms]: min n/a avg n/a max n/a median n/a stddev n/a\n"),
            "{out}"
        );
        assert!(
            out.contains("Reply time [ms]: response n/a transfer n/a\n"),
            "{out}"
        );
        assert!(
            out.contains(
                "Reply rate [replies/s]: min 0.0 avg 0.0 max 0.0 stddev 0.0 (0 samples)\n"
            )
        );
        assert!(out.contains("Reply size [B]: header n/a content n/a footer 0.0 (total n/a)"));
        let na_row = format!("{:>10}", "n/a").repeat(7);
        assert!(out.contains(&format!("  connect    {na_row}\n")), "{out}");
        assert!(out.contains(&format!("  first byte {na_row}\n")), "{out}");
        assert!(out.contains(&format!("  reply      {na_row}\n")), "{out}");
        assert!(out.contains("seed 7 (drawn)"), "{out}");
        // Nothing ran: said first, and the only warning.
        assert!(
            out.starts_with("WARNING: no request was started\n\nSummary: "),
            "{out}"
        );
        assert_eq!(out.matches("WARNING").count(), 1, "{out}");
        assert!(!out.contains("Interrupted"), "{out}");
    }

    #[test]
    fn nonfinite_duration_prints_na() {
        let mut r = sample_report();
        r.duration_s = f64::NAN;
        let out = render(&r);
        assert!(!out.contains("NaN") && !out.contains("inf"), "{out}");
        assert!(out.contains("test-duration n/a s"), "{out}");
        r.duration_s = f64::INFINITY;
        let out = render(&r);
        assert!(!out.contains("NaN") && !out.contains("inf"), "{out}");
    }

    #[test]
    fn invalid_and_interrupted_blocks() {
        let mut r = sample_report();
        assert!(!render(&r).contains("WARNING"));

        r.interrupted = true;
        r.totals.errors[ErrorClass::FdUnavail.index()] = 4;
        r.workers[1].exit = Exit {
            code: None,
            signal: Some(9),
            core_dumped: false,
            stopped_responding: false,
        };
        r.workers[1].reported = false;
        let out = render(&r);
        assert!(
            out.contains(
                "Worker 1 pid 4243: killed by signal 9 (SIGKILL), requests 50 replies 47 \
                 errors 2 aborted 1 (no report: counters from the scoreboard)\n"
            ),
            "{out}"
        );
        let tail = "\n\
Interrupted: the run was stopped by a signal; requests in flight were aborted.

WARNING: this run is INVALID:
  - 4 fd-unavail errors (the client ran short)
  - worker 1 (pid 4243) killed by signal 9 (SIGKILL) without a report
";
        assert!(out.ends_with(tail), "{out}");
        assert!(out.contains("Errors: fd-unavail 4 addrunavail 0"), "{out}");
    }

    #[test]
    fn interrupted_alone() {
        let mut r = sample_report();
        r.interrupted = true;
        let out = render(&r);
        assert!(out.ends_with(
            "aborted 1\n\nInterrupted: the run was stopped by a signal; \
             requests in flight were aborted.\n"
        ));
        assert!(!out.contains("WARNING"));
    }
    #[test]
    fn httperf_order_puts_the_summary_last() {
        let mut r = sample_report();
        r.httperf_order = true;
        let out = render(&r);
        assert!(
            out.starts_with("Maximum connect burst length: 3\n"),
            "{out}"
        );
        let summary = out.find("\nSummary: ").expect("a summary");
        assert!(summary > out.find("Worker 1 pid").unwrap(), "{out}");
        assert!(
            out.ends_with("; 3 errors (2 client-timo, 1 connrefused)\n"),
            "{out}"
        );
        // The body between is the volley layout's, minus the summary block at its top.
        let volley = render(&sample_report());
        let body = &volley[volley.find("Maximum connect").unwrap()..];
        assert!(out.starts_with(body), "{out}");
    }

    #[test]
    fn num_sessions_wording_renames_the_connection_and_request_lines_only() {
        let mut r = sample_report();
        r.httperf_order = true;
        let today = render(&r);
        r.httperf_wording = Wording::Sessions;
        let old = render(&r);
        for line in [
            "Total: sessions 10 calls 100 replies 95 test-duration 10.000 s\n",
            "Session rate: 1.0 sess/s (1000.0 ms/sess, <=4 concurrent sessions)\n",
            "Session time [ms]: min 10.0 avg 20.0 max 30.0 median 10.0 stddev 10.0\n",
            "Session time [ms]: connect 1.5\n",
            "Session length [replies/sess]: 9.500\n",
            "Call rate: 10.0 call/s (100.0 ms/call)\n",
            "Call size [B]: 57.0\n",
        ] {
            assert!(old.contains(line), "{line}{old}");
        }
        // The same figures, every other line as it was.
        let back = old
            .replace("Total: sessions 10 calls", "Total: connections 10 requests")
            .replace("sess/s (1000.0 ms/sess", "conn/s (1000.0 ms/conn")
            .replace("concurrent sessions", "concurrent connections")
            .replace(
                "Session length [replies/sess]",
                "Connection length [replies/conn]",
            )
            .replace("Session time", "Connection time")
            .replace("Session rate", "Connection rate")
            .replace(
                "Call rate: 10.0 call/s (100.0 ms/call)",
                "Request rate: 10.0 req/s (100.0 ms/req)",
            )
            .replace("Call size", "Request size");
        assert_eq!(back, today);
    }

    #[test]
    fn warnings_come_first_and_together() {
        let mut r = sample_report();
        r.tls = Some(crate::report::TlsSummary {
            insecure: true,
            ..Default::default()
        });
        let replies = Counter::RequestsSucceeded.index();
        r.totals.counters[replies] = 0;
        r.totals.counters[Counter::RequestsFailed.index()] = 98;
        r.totals.errors[ErrorClass::ConnRefused.index()] = 96;
        let out = render(&r);
        let mut lines = out.lines();
        assert!(
            lines.next().unwrap().starts_with("WARNING: --insecure"),
            "{out}"
        );
        assert_eq!(
            lines.next().unwrap(),
            "WARNING: no request got a reply: 96 connrefused, 2 client-timo (is anything \
             listening on 127.0.0.1:8080?)"
        );
        assert_eq!(lines.next(), Some(""));
        assert!(lines.next().unwrap().starts_with("Summary: "), "{out}");
    }

    #[test]
    fn sub_millisecond_times_keep_three_significant_digits() {
        assert_eq!(ms_fine(Some(0.011)), "0.0110");
        assert_eq!(ms_fine(Some(0.5)), "0.500");
        assert_eq!(ms_fine(Some(0.9994)), "0.999");
        assert_eq!(ms_fine(Some(0.000_123_4)), "0.000123");
        assert_eq!(ms_fine(Some(1.25)), "1.2");
        assert_eq!(ms_fine(Some(150.0)), "150.0");
        assert_eq!(ms_fine(Some(0.0)), "0.0");
        assert_eq!(ms_fine(None), "n/a");
        let mut r = sample_report();
        r.totals.counters[Counter::RequestsStarted.index()] = 900_000;
        let out = render(&r);
        assert!(
            out.contains("Request rate: 90000.0 req/s (0.0111 ms/req)\n"),
            "{out}"
        );
    }

    #[test]
    fn the_errors_block_has_no_blank_line() {
        let mut r = sample_report();
        r.error_details
            .insert(("client-timo".into(), "first-byte".into()), 2);
        r.first_other_errno = Some(libc::EPERM);
        let out = render(&r);
        let block: Vec<&str> = out
            .lines()
            .skip_while(|l| !l.starts_with("Errors: total"))
            .take_while(|l| !l.is_empty())
            .collect();
        assert_eq!(block.len(), 5, "{out}");
        assert!(block.iter().all(|l| l.starts_with("Errors")), "{block:?}");
        assert_eq!(block[3], "Errors detail: client-timo/first-byte 2");
    }
}
