//! volley's summary: what a user reads in five seconds. A warning when most requests got
//! no reply (and what the errors were), then the figures that say how the run went
//! (requests, share that got a reply, rates, reply latency, status codes, error classes,
//! checks), then one verdict line whose word matches the exit code.
//!
//! The text report prints it before httperf's sections, or after them in httperf's order
//! (`volley httperf`); the warning always comes first.

use std::fmt::Write as _;

use volley_scoreboard::{Counter, ErrorClass};

use super::Report;
use super::checks::Verdict;
use super::text::{latency_ms, num};

/// A run in which fewer requests than this share got a reply is announced by a warning.
const WARN_BELOW_SHARE: f64 = 0.5;

/// A closed loop whose corrected reply p99 is over this many times the measured one hid a
/// stall, and says so.
const HIDDEN_STALL_RATIO: f64 = 2.0;

/// The warning under the reply latency when a closed loop hid a stall: its corrected p99
/// (the replies and the requests slots would have sent while slow replies held them) is
/// over [`HIDDEN_STALL_RATIO`] times the measured p99. It names the open loop at the rate
/// the run achieved, which measures what those requests would have seen. The stall may be
/// the client's own (a worker short of CPU holds its slots as a stalled server does).
pub fn hidden_stall(r: &Report) -> Option<String> {
    if r.open_loop.is_some() {
        return None;
    }
    let measured = latency_ms(&r.reply)?;
    let corrected = latency_ms(&r.reply_corrected)?;
    let (m, c) = (measured[4], corrected[4]);
    if c <= m * HIDDEN_STALL_RATIO {
        return None;
    }
    // The rate achieved: one the client is known to keep (the pace between stalls can be
    // more than it keeps when the stalls are its own, short of CPU).
    let rate = r.requests_per_s();
    let rate = if rate.is_finite() && rate >= 1.0 {
        format!("{rate:.0}")
    } else {
        "R".into()
    };
    Some(format!(
        "WARNING: the closed loop hid a stall: reply p99 {} ms, {} ms corrected (replies took \
         up to {} ms, and the slots they held sent nothing meanwhile; the stall may be the \
         server's or this client's own); measure it with an open loop: --rate {rate}",
        num(Some(m), 3),
        num(Some(c), 3),
        num(Some(measured[6]), 3)
    ))
}

/// The warning that opens the report when no request, or under half of them, got a reply:
/// what the errors were and, for the most frequent class, what to look at.
pub fn warning(r: &Report) -> Option<String> {
    let (replies, completed, started) = (r.replies(), r.completed(), r.started());
    if completed > 0 && replies as f64 >= completed as f64 * WARN_BELOW_SHARE {
        return None;
    }
    if started == 0 {
        return Some("WARNING: no request was started".into());
    }
    if completed == 0 {
        return Some(format!(
            "WARNING: no request got a reply: all {started} were still in flight when the \
             run stopped (does the server answer?)"
        ));
    }
    let lead = if replies == 0 {
        "no request got a reply".to_string()
    } else {
        format!(
            "only {} of {completed} requests got a reply",
            share(replies, completed)
        )
    };
    let classes = error_classes(r);
    let list: Vec<String> = classes
        .iter()
        .map(|(c, n)| format!("{n} {}", c.name()))
        .collect();
    let hint = classes
        .first()
        .and_then(|&(c, _)| hint(c, r))
        .map(|h| format!(" ({h})"))
        .unwrap_or_default();
    Some(format!("WARNING: {lead}: {}{hint}", list.join(", ")))
}

/// What to look at when most requests failed with `class`.
fn hint(class: ErrorClass, r: &Report) -> Option<String> {
    // A URL list's failures may come from any of its entries: no one address is named.
    let target = match r.workload.as_ref() {
        Some(w) if w.entries > 1 => None,
        _ => Some(host_port(&r.url)),
    };
    Some(match (class, target) {
        (ErrorClass::ConnRefused, Some(t)) => format!("is anything listening on {t}?"),
        (ErrorClass::ConnRefused, None) => "is anything listening on the URLs' ports?".into(),
        (ErrorClass::SocketTimo, Some(t)) => format!("is {t} reachable?"),
        (ErrorClass::SocketTimo, None) => "are the URLs' hosts reachable?".into(),
        (ErrorClass::Dns, Some(t)) => format!("does {t} resolve?"),
        (ErrorClass::Dns, None) => "do the URLs' hosts resolve?".into(),
        (ErrorClass::ClientTimo, _) => "no answer within the timeout; see Errors detail".into(),
        (ErrorClass::ConnReset, _) => "the server reset or closed the connections".into(),
        (ErrorClass::Tls, _) => "TLS failed; see Errors detail".into(),
        (ErrorClass::Protocol, _) => {
            "the replies were not valid HTTP/1.1; see Errors detail".into()
        }
        (ErrorClass::Limit, _) => "the replies broke volley's caps; see Errors detail".into(),
        (ErrorClass::Other, _) if r.hook_refused.is_some() => {
            "a hook made requests that cannot be sent; see Errors".into()
        }
        (c, _) if c.is_generator_fault() => {
            "the client ran short; see the end of the report".into()
        }
        _ => return None,
    })
}

/// `host:port` of a URL as the report names it (`http://127.0.0.1:1/x` → `127.0.0.1:1`).
fn host_port(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let end = rest.find(['/', ' ']).unwrap_or(rest.len());
    &rest[..end]
}

/// The error classes with failures, most frequent first.
fn error_classes(r: &Report) -> Vec<(ErrorClass, u64)> {
    let mut v: Vec<(ErrorClass, u64)> = ErrorClass::ALL
        .into_iter()
        .map(|c| (c, r.totals.error(c)))
        .filter(|&(_, n)| n > 0)
        .collect();
    // Stable: classes with the same count keep the report's class order.
    v.sort_by_key(|&(_, n)| std::cmp::Reverse(n));
    v
}

/// `n` of `of` as a percentage with one decimal, never rounded to 100% or 0% when it is
/// neither (1 error in 100,000 reads `99.999%`, not `100.0%`); `n/a` when `of` is 0.
pub fn share(n: u64, of: u64) -> String {
    if of == 0 {
        return "n/a".into();
    }
    let p = n as f64 * 100.0 / of as f64;
    let mut decimals = 1;
    loop {
        let s = format!("{p:.decimals$}");
        let looks_exact = s.parse::<f64>().is_ok_and(|v| v == 100.0 || v == 0.0);
        if !looks_exact || n == 0 || n == of || decimals >= 6 {
            return format!("{s}%");
        }
        decimals += 1;
    }
}

/// The summary block, each line ending with a newline: figures, checks, verdict.
pub fn write(out: &mut String, r: &Report) -> std::fmt::Result {
    let (started, replies, errors) = (r.started(), r.replies(), r.errors());
    let completed = r.completed();
    let dur = r.duration_s.is_finite().then_some(r.duration_s);
    writeln!(
        out,
        "Summary: {started} requests in {} s, {}, {}: {}",
        num(dur, 3),
        count(u64::from(r.concurrency), "slot"),
        count(r.workers.len() as u64, "worker"),
        r.url
    )?;
    writeln!(
        out,
        "Replies: {replies} of {completed} completed requests ({}), errors {errors}, \
         aborted at the stop {}",
        share(replies, completed),
        r.aborted()
    )?;
    let classes = error_classes(r);
    let list: Vec<String> = classes
        .iter()
        .map(|(c, n)| format!("{}={n}", c.name()))
        .collect();
    writeln!(out, "Error classes: {}", or_none(&list))?;
    write_statuses(out, r)?;
    let stats = latency_ms(&r.reply);
    let at = |i: usize| num(stats.map(|s| s[i]), 3);
    write!(
        out,
        "Reply latency [ms]: p50 {} p99 {} max {}",
        at(2),
        at(4),
        at(6)
    )?;
    if stats.is_none() && !r.reply_error.is_empty() {
        write!(out, " (no reply with status < 400)")?;
    }
    writeln!(out)?;
    if let Some(w) = hidden_stall(r) {
        writeln!(out, "{w}")?;
    }
    // Attempts count every request started, failed connects included, so that a run
    // against a closed port does not read as thousands served per second.
    writeln!(
        out,
        "Rate: {} replies/s, {} attempts/s",
        num(Some(r.requests_per_s()), 1),
        num(Some(r.attempts_per_s()), 1)
    )?;
    write_rate_over_time(out, &r.reply_rate_1s)?;
    for c in &r.checks {
        let word = if c.pass { "PASS" } else { "FAIL" };
        writeln!(out, "Checks: {}: {} {word}", c.expr, c.shown())?;
    }
    writeln!(out, "{}", verdict_line(r))
}

/// `Status codes: 200=90 404=5`, every code seen.
fn write_statuses(out: &mut String, r: &Report) -> std::fmt::Result {
    let list: Vec<String> = r
        .by_status
        .iter()
        .map(|(code, n)| format!("{code}={n}"))
        .collect();
    write!(out, "Status codes: {}", or_none(&list))?;
    // A worker that did not report is counted by status class only.
    let unknown = r.replies().saturating_sub(r.by_status.values().sum());
    if unknown > 0 {
        write!(out, " (+{unknown} from workers that did not report)")?;
    }
    writeln!(out)
}

/// Min, average and max of the 1 s reply-rate samples.
fn write_rate_over_time(out: &mut String, samples: &[f64]) -> std::fmt::Result {
    write!(out, "Rate per second [replies/s]: ")?;
    if samples.is_empty() {
        return writeln!(out, "n/a (no full second of load)");
    }
    let min = samples.iter().copied().fold(f64::INFINITY, f64::min);
    let max = samples.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let avg = samples.iter().sum::<f64>() / samples.len() as f64;
    writeln!(
        out,
        "min {} avg {} max {} ({} samples)",
        num(Some(min), 1),
        num(Some(avg), 1),
        num(Some(max), 1),
        samples.len()
    )
}

/// `1 slot`, `2 slots`.
fn count(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// The items, or `none`.
fn or_none(items: &[String]) -> String {
    if items.is_empty() {
        "none".into()
    } else {
        items.join(" ")
    }
}

/// The verdict in one line, its first word the verdict's (`OK`, `FAILED`, `INVALID`,
/// `INTERRUPTED`), which the exit code follows (0, 4, 3, 130).
pub fn verdict_line(r: &Report) -> String {
    let (replies, completed) = (r.replies(), r.completed());
    let got = if completed == 0 {
        "no request completed".to_string()
    } else {
        format!(
            "{} of {completed} requests got a reply",
            share(replies, completed)
        )
    };
    let errors = errors_phrase(r);
    match r.verdict() {
        Verdict::Interrupted => format!("INTERRUPTED: stopped by a signal; {got}{errors}"),
        Verdict::Invalid => {
            let reasons = r.invalid_reasons();
            let more = match reasons.len() {
                0 | 1 => String::new(),
                n => format!(" (and {} more)", n - 1),
            };
            let first = reasons.first().map_or("", String::as_str);
            format!("INVALID: {first}{more}; see the end of the report")
        }
        Verdict::Failed if r.default_gate_failed() => {
            let list: Vec<String> = error_classes(r)
                .iter()
                .map(|(c, n)| format!("{n} {}", c.name()))
                .collect();
            let list = if list.is_empty() {
                "no errors".into()
            } else {
                list.join(", ")
            };
            format!("FAILED: no request got a reply ({list})")
        }
        Verdict::Failed => {
            let failed: Vec<String> = r
                .failed_checks()
                .map(|c| format!("{} ({})", c.expr, c.shown()))
                .collect();
            format!(
                "FAILED: {} of {} checks failed: {}",
                failed.len(),
                r.checks.len(),
                failed.join("; ")
            )
        }
        Verdict::Ok => {
            let t = &r.totals;
            let (c4, c5) = (t.get(Counter::Replies4xx), t.get(Counter::Replies5xx));
            let statuses = match (c4, c5) {
                (0, 0) => String::new(),
                (0, n) => format!(" ({n} of them 5xx)"),
                (n, 0) => format!(" ({n} of them 4xx)"),
                (a, b) => format!(" ({a} of them 4xx, {b} 5xx)"),
            };
            let checks = match r.checks.len() {
                0 => String::new(),
                n => format!("; {} passed", count(n as u64, "check")),
            };
            format!("OK: {got}{statuses}{errors}{checks}")
        }
    }
}

/// `, no errors` or `; 8 errors (8 client-timo)`.
fn errors_phrase(r: &Report) -> String {
    let classes = error_classes(r);
    if classes.is_empty() {
        return ", no errors".into();
    }
    let list: Vec<String> = classes
        .iter()
        .map(|(c, n)| format!("{n} {}", c.name()))
        .collect();
    format!("; {} errors ({})", r.errors(), list.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use volley_scoreboard::SlotSnapshot;

    /// A report of `replies` replies (2xx) and `errors` (class, n), nothing in flight.
    fn report(replies: u64, errors: &[(ErrorClass, u64)]) -> Report {
        let mut r = Report::new("http://127.0.0.1:1/x".into(), "GET".into(), 4, (1, true));
        r.duration_s = 2.0;
        let failed: u64 = errors.iter().map(|e| e.1).sum();
        let mut t = SlotSnapshot::default();
        t.counters[Counter::RequestsStarted.index()] = replies + failed;
        t.counters[Counter::RequestsSucceeded.index()] = replies;
        t.counters[Counter::Replies2xx.index()] = replies;
        t.counters[Counter::RequestsFailed.index()] = failed;
        for &(c, n) in errors {
            t.errors[c.index()] = n;
        }
        r.totals = t;
        if replies > 0 {
            r.by_status.insert(200, replies);
        }
        r
    }

    #[test]
    fn a_closed_loop_that_hid_a_stall_says_so() {
        let mut r = report(1000, &[]);
        for _ in 0..990 {
            r.reply.record_us(2_000);
        }
        for _ in 0..10 {
            r.reply.record_us(300_000);
        }
        r.reply_corrected = r.reply.clone();
        assert_eq!(hidden_stall(&r), None, "nothing added: nothing hidden");
        // Each 300 ms reply stood for 150 more at 2 ms intervals.
        for k in 1..150 {
            r.reply_corrected.record_n_us(300_000 - k * 2_000, 10);
        }
        assert_eq!(
            hidden_stall(&r).unwrap(),
            "WARNING: the closed loop hid a stall: reply p99 2.000 ms, 296.064 ms \
             corrected (replies took up to 300.000 ms, and the slots they held sent nothing meanwhile; \
             the stall may be the server's or this client's own); measure it with an open \
             loop: --rate 500"
        );
        let mut text = String::new();
        write(&mut text, &r).unwrap();
        assert!(
            text.contains("max 300.000\nWARNING: the closed loop hid a stall"),
            "{text}"
        );
        // An open loop measures it: its `response` row, and no such warning.
        r.open_loop = Some(super::super::OpenLoopSummary {
            target_rate: 500.0,
            process: "d0.002".into(),
            calls: 1,
            late_starts: 0,
        });
        assert_eq!(hidden_stall(&r), None);
    }

    #[test]
    fn shares_never_round_to_all_or_nothing() {
        assert_eq!(share(1, 2), "50.0%");
        assert_eq!(share(7, 7), "100.0%");
        assert_eq!(share(0, 7), "0.0%");
        assert_eq!(share(99_999, 100_000), "99.999%");
        assert_eq!(share(1, 100_000), "0.001%");
        assert_eq!(share(1, 0), "n/a");
    }

    #[test]
    fn no_reply_is_loud_and_says_what_the_errors_were() {
        let r = report(
            0,
            &[
                (ErrorClass::ConnRefused, 61913),
                (ErrorClass::ClientTimo, 2),
            ],
        );
        assert_eq!(
            warning(&r).unwrap(),
            "WARNING: no request got a reply: 61913 connrefused, 2 client-timo (is anything \
             listening on 127.0.0.1:1?)"
        );
        assert_eq!(
            verdict_line(&r),
            "FAILED: no request got a reply (61913 connrefused, 2 client-timo)"
        );
    }

    #[test]
    fn under_half_is_a_warning_and_half_is_not() {
        let r = report(312, &[(ErrorClass::ClientTimo, 688)]);
        assert_eq!(
            warning(&r).unwrap(),
            "WARNING: only 31.2% of 1000 requests got a reply: 688 client-timo (no answer \
             within the timeout; see Errors detail)"
        );
        assert!(verdict_line(&r).starts_with("OK: 31.2% of 1000 requests got a reply; 688 errors"));
        assert_eq!(warning(&report(500, &[(ErrorClass::ConnReset, 500)])), None);
        assert_eq!(warning(&report(10, &[])), None);
    }

    #[test]
    fn a_url_list_names_no_one_address() {
        let mut r = report(0, &[(ErrorClass::ConnRefused, 3)]);
        r.workload = Some(crate::report::Workload {
            file: None,
            entries: 3,
            iterator: "default".into(),
            rounds: Some(1),
        });
        assert!(
            warning(&r)
                .unwrap()
                .ends_with("(is anything listening on the URLs' ports?)"),
            "{:?}",
            warning(&r)
        );
    }

    #[test]
    fn nothing_started_or_nothing_completed() {
        let r = Report::new("http://h/".into(), "GET".into(), 1, (1, true));
        assert_eq!(warning(&r).unwrap(), "WARNING: no request was started");
        let mut r = report(0, &[]);
        r.totals.counters[Counter::RequestsStarted.index()] = 20;
        r.totals.counters[Counter::RequestsAborted.index()] = 20;
        assert!(warning(&r).unwrap().contains("all 20 were still in flight"));
    }

    #[test]
    fn the_summary_block() {
        let mut r = report(
            95,
            &[(ErrorClass::ClientTimo, 3), (ErrorClass::ConnRefused, 2)],
        );
        r.totals.counters[Counter::Replies2xx.index()] = 90;
        r.totals.counters[Counter::Replies5xx.index()] = 5;
        r.by_status.insert(200, 90);
        r.by_status.insert(503, 5);
        r.reply.record_us(1500);
        r.reply.record_us(2500);
        r.reply_rate_1s = vec![40.0, 55.0];
        r.checks = crate::report::checks::evaluate(
            &[volley_config::Check::parse("errors < 10%").unwrap()],
            &r,
        );
        let mut out = String::new();
        write(&mut out, &r).unwrap();
        assert_eq!(
            out,
            "\
Summary: 100 requests in 2.000 s, 4 slots, 0 workers: http://127.0.0.1:1/x
Replies: 95 of 100 completed requests (95.0%), errors 5, aborted at the stop 0
Error classes: client-timo=3 connrefused=2
Status codes: 200=90 503=5
Reply latency [ms]: p50 1.500 p99 2.500 max 2.500
Rate: 47.5 replies/s, 50.0 attempts/s
Rate per second [replies/s]: min 40.0 avg 47.5 max 55.0 (2 samples)
Checks: errors < 10%: 5.0% PASS
OK: 95.0% of 100 requests got a reply (5 of them 5xx); 5 errors (3 client-timo, 2 connrefused); 1 check passed
"
        );
    }

    #[test]
    fn status_codes_of_workers_that_did_not_report_are_counted_apart() {
        let mut r = report(10, &[]);
        r.by_status.insert(200, 7);
        let mut out = String::new();
        write_statuses(&mut out, &r).unwrap();
        assert_eq!(
            out,
            "Status codes: 200=7 (+3 from workers that did not report)\n"
        );
        r.by_status.clear();
        r.totals = SlotSnapshot::default();
        out.clear();
        write_statuses(&mut out, &r).unwrap();
        assert_eq!(out, "Status codes: none\n");
    }

    #[test]
    fn a_short_run_says_why_it_has_no_rate_over_time() {
        let mut out = String::new();
        write_rate_over_time(&mut out, &[]).unwrap();
        assert_eq!(
            out,
            "Rate per second [replies/s]: n/a (no full second of load)\n"
        );
    }

    #[test]
    fn failed_checks_are_named_in_the_verdict() {
        let mut r = report(100, &[]);
        r.reply.record_us(73_120);
        let checks: Vec<volley_config::Check> = ["p99 < 50ms", "errors == 0", "rps > 1000"]
            .iter()
            .map(|e| volley_config::Check::parse(e).unwrap())
            .collect();
        r.checks = crate::report::checks::evaluate(&checks, &r);
        assert_eq!(
            verdict_line(&r),
            "FAILED: 2 of 3 checks failed: p99 < 50ms (73.120 ms); rps > 1000 (50.0 replies/s)"
        );
    }

    #[test]
    fn interrupted_and_invalid_verdicts() {
        let mut r = report(10, &[(ErrorClass::FdUnavail, 2)]);
        assert!(
            verdict_line(&r).starts_with("INVALID: 2 fd-unavail errors (the client ran short)")
        );
        r.interrupted = true;
        assert_eq!(
            verdict_line(&r),
            "INTERRUPTED: stopped by a signal; 83.3% of 12 requests got a reply; 2 errors \
             (2 fd-unavail)"
        );
    }
}
