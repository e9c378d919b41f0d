//! Misbehaving servers (HOSTILE.md section (b)): one test per scenario, each running the
//! real `volley` binary against a scripted raw TCP peer (`volley_testsupport::hostile`)
//! and checking how every request was counted, exactly where the count is determined
//! (`-c 1` or few slots, `-n N`), plus the invariant `started = replies + errors +
//! aborted` and that the run ended well within its deadline.
//!
//! Not covered here, on purpose:
//! - S07 (open-loop schedule stall): needs `--rate`, which volley does not have yet.
//! - S39 (pipelining): volley does not pipeline.
//! - S42's `--max-body` capture cap: volley never captures bodies; streaming and discarding
//!   a large Content-Length body is `s42_large_body_is_streamed_and_counted` (256 MiB, so
//!   the test stays quick) and flat memory on an endless body is S28.
//! - T*, D*, R* (TLS, DNS, redirects): volley speaks plain HTTP to an address only.
//! - P1 and P4 (a killed worker, SIGINT): in `tests/workers.rs`.

use std::path::Path;
use std::time::Duration;

use serde_json::{Map, Value};
use volley_scoreboard::{Counter, ErrorClass, ReadOnly, Scoreboard};
use volley_testsupport::hostile::{self, BacklogNeverAccepted, HostileServer, Step};
use volley_testsupport::{Output, closed_port, wait_until};

use crate::run::assert_invariant;
use crate::volley;

/// Every error class key of the report, in report order.
const CLASSES: [&str; 14] = [
    "client-timo",
    "socket-timo",
    "connrefused",
    "connreset",
    "fd-unavail",
    "addrunavail",
    "ftab-full",
    "addrinuse",
    "protocol",
    "limit",
    "stale-conn",
    "tls",
    "dns",
    "other",
];

/// Deadline of an ordinary run: every run here should take well under 5 s.
const DEADLINE: Duration = Duration::from_secs(30);

/// A finished run: the process output and its parsed `--json` report.
struct Run {
    out: Output,
    r: Value,
}

/// Runs volley against `url` with `args` and `--json` under `deadline`, expects exit
/// code `code` (0: a complete run, which exits 4 when no request got a reply), and checks
/// what every run must satisfy: no panic, a JSON report, the invariant.
fn run_with(url: &str, args: &[&str], deadline: Duration, code: i32) -> Run {
    let out = volley()
        .arg(url)
        .args(args.iter().copied())
        .arg("--json")
        .deadline(deadline)
        .run();
    assert!(
        !out.stderr.contains("panicked"),
        "volley panicked ({args:?}):\n{}",
        out.stderr
    );
    let code = if code == 0 {
        out.complete_code()
    } else {
        Some(code)
    };
    assert_eq!(
        out.code, code,
        "exit code ({args:?}); stderr:\n{}\nstdout:\n{}",
        out.stderr, out.stdout
    );
    let r = out.json();
    assert_invariant(&r);
    Run { out, r }
}

/// [`run_with`] with the default deadline and exit code 0.
fn run_ok(url: &str, args: &[&str]) -> Run {
    run_with(url, args, DEADLINE, 0)
}

/// The number at a dotted `path` of the report; panics (showing the report) if it is
/// missing, which for `requests.retried` means the contract is not implemented yet.
fn num(r: &Value, path: &str) -> u64 {
    let mut cur = r;
    for key in path.split('.') {
        cur = &cur[key];
    }
    cur.as_u64()
        .unwrap_or_else(|| panic!("{path} is not a number in the report: {r:#}"))
}

/// Asserts the error classes are exactly `expected` (every class not named is 0) and
/// `errors.total` is their sum. Details are not looked at.
fn assert_classes(r: &Value, expected: &[(&str, u64)]) {
    let mut total = 0;
    for class in CLASSES {
        let want: u64 = expected
            .iter()
            .filter(|(c, _)| *c == class)
            .map(|(_, n)| n)
            .sum();
        assert_eq!(
            num(r, &format!("errors.{class}")),
            want,
            "errors.{class}: {:#}\nerrors_detail: {:#}",
            r["errors"],
            r["errors_detail"]
        );
        total += want;
    }
    assert_eq!(
        num(r, "errors.total"),
        total,
        "errors.total: {:#}",
        r["errors"]
    );
}

/// The `errors_detail` object; panics if the report has none.
fn details(r: &Value) -> &Map<String, Value> {
    r["errors_detail"]
        .as_object()
        .unwrap_or_else(|| panic!("no errors_detail object in the report: {r:#}"))
}

/// Asserts the errors are exactly `expected`, as `(class, detail, count)`: the class
/// counts, `errors.total`, and `errors_detail`, which must hold these non-zero entries
/// and nothing else.
fn assert_errors(r: &Value, expected: &[(&str, &str, u64)]) {
    let mut want = Map::new();
    let mut classes: Vec<(&str, u64)> = Vec::new();
    for &(class, detail, n) in expected {
        let entry = want
            .entry(class.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        let old = entry[detail].as_u64().unwrap_or(0);
        entry
            .as_object_mut()
            .expect("object")
            .insert(detail.to_owned(), Value::from(old + n));
        match classes.iter_mut().find(|(c, _)| *c == class) {
            Some((_, sum)) => *sum += n,
            None => classes.push((class, n)),
        }
    }
    assert_classes(r, &classes);
    assert_eq!(
        &Value::Object(details(r).clone()),
        &Value::Object(want),
        "errors_detail (left: volley, right: expected); errors: {:#}",
        r["errors"]
    );
}

/// Asserts the run had no error at all (`errors_detail` is empty when present).
fn assert_no_errors(r: &Value) {
    assert_classes(r, &[]);
    if let Some(d) = r["errors_detail"].as_object() {
        assert!(d.is_empty(), "errors_detail not empty: {d:#?}");
    }
}

/// Asserts the replies are exactly `expected` status classes (`("2xx", n)`, …), every
/// other class 0, and `replies.total` their sum.
fn assert_replies(r: &Value, expected: &[(&str, u64)]) {
    let mut total = 0;
    for class in ["1xx", "2xx", "3xx", "4xx", "5xx"] {
        let want = expected
            .iter()
            .find(|(c, _)| *c == class)
            .map_or(0, |(_, n)| *n);
        assert_eq!(
            num(r, &format!("replies.{class}")),
            want,
            "replies.{class}: {:#}",
            r["replies"]
        );
        total += want;
    }
    assert_eq!(num(r, "replies.total"), total);
}

/// Asserts the run took less than `limit` (its deadline is longer: a run that ends only
/// by a timeout of its own is a bug in these scenarios).
fn assert_quick(run: &Run, limit: Duration) {
    assert!(
        run.out.elapsed < limit,
        "the run took {:?}, more than {limit:?}: {:#}",
        run.out.elapsed,
        run.r
    );
}

/// A run name unique to this test process and test.
fn run_name(test: &str) -> String {
    format!("h{}-{test}", std::process::id())
}

/// Waits until the run's scoreboard exists and `cond` holds for its totals.
fn wait_for_board(name: &str, what: &str, cond: impl Fn(&Scoreboard<ReadOnly>) -> bool) {
    let ok = wait_until(Duration::from_secs(10), || {
        Scoreboard::<ReadOnly>::attach_read_only(&format!("volley-{name}"))
            .is_ok_and(|sb| cond(&sb))
    });
    assert!(ok, "run {name}: {what} never happened");
}

use volley_testsupport::process_alive as alive;

/// Resident set size of `pid` in KiB, if it is still running.
fn rss_kib(pid: i32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

// ---------------------------------------------------------------------------------------
// Connection and timing

/// S01 / seed 003 (httperf: a connection timeout's cleanup closed the *new* connection
/// recycled into the old one's slot, and the run waited forever for an event that could
/// not come). Tiny timeouts make requests time out, connections close and reopen
/// thousands of times into recycled slots; the run must end with every request counted.
#[test]
fn stale_timer_of_a_recycled_connection_never_hangs_the_run_seed_003() {
    let srv = hostile::s01_stall_every_connection();
    let run = run_with(
        &srv.url("/seed003"),
        &["-w", "2", "-c", "4", "-n", "5000", "--timeout", "100us"],
        Duration::from_secs(60),
        0,
    );
    let r = &run.r;
    let timeouts = num(r, "errors.client-timo");
    assert_eq!(num(r, "requests.started"), 5000);
    assert_eq!(num(r, "requests.aborted"), 0);
    assert_eq!(
        timeouts + num(r, "replies.total"),
        5000,
        "every request is a reply or a client timeout: {r:#}"
    );
    assert_classes(r, &[("client-timo", timeouts)]);
    assert!(
        timeouts > 0,
        "nothing timed out with a 100us timeout: {r:#}"
    );
    // Every connection ends in a timeout: at most 3 requests per connection.
    assert!(
        num(r, "connections.opened") >= 1000,
        "connections were not recycled thousands of times: {:#}",
        r["connections"]
    );
}

/// S02: a closed port answers SYN with RST: every request is `connrefused`, fast, and
/// nothing is retried.
#[test]
fn s02_closed_port_is_refused_fast_without_retries() {
    let url = format!("http://127.0.0.1:{}/", closed_port());
    let run = run_ok(&url, &["-w", "1", "-c", "2", "-n", "50", "--timeout", "2s"]);
    assert_classes(&run.r, &[("connrefused", 50)]);
    assert_replies(&run.r, &[]);
    assert_eq!(num(&run.r, "connections.opened"), 0);
    assert_eq!(num(&run.r, "requests.started"), 50);
    assert_quick(&run, Duration::from_secs(5));
}

/// S04: the server reads the request and never replies: the first-byte deadline
/// (`--timeout` + `--think-timeout` from the request being sent) fires once per request.
#[test]
fn s04_never_replying_server_times_out_at_first_byte() {
    let srv = hostile::s04_never_replies();
    let run = run_ok(
        &srv.url("/"),
        &["-w", "1", "-c", "1", "-n", "3", "--timeout", "300ms"],
    );
    assert_errors(&run.r, &[("client-timo", "first-byte", 3)]);
    assert_eq!(srv.requests(), 3, "{srv:?}");
    assert_eq!(
        num(&run.r, "connections.opened"),
        3,
        "a timed-out connection is closed"
    );
    assert!(
        run.out.elapsed >= Duration::from_millis(900),
        "three 300 ms deadlines ended in {:?}",
        run.out.elapsed
    );
    assert_quick(&run, Duration::from_secs(5));
}

/// S04 with `--think-timeout`: the first-byte deadline is `--timeout` + think.
#[test]
fn s04_think_timeout_extends_the_first_byte_deadline() {
    let srv = hostile::s04_never_replies();
    let run = run_ok(
        &srv.url("/"),
        &[
            "-w",
            "1",
            "-c",
            "1",
            "-n",
            "1",
            "--timeout",
            "200ms",
            "--think-timeout",
            "300ms",
        ],
    );
    assert_errors(&run.r, &[("client-timo", "first-byte", 1)]);
    assert!(
        run.out.elapsed >= Duration::from_millis(500),
        "200ms + 300ms think ended in {:?}",
        run.out.elapsed
    );
    assert_quick(&run, Duration::from_secs(5));
}

/// S04 with `--first-byte-timeout`: it overrides what `--timeout` implies.
#[test]
fn s04_first_byte_timeout_overrides_the_timeout() {
    let srv = hostile::s04_never_replies();
    let run = run_ok(
        &srv.url("/"),
        &[
            "-w",
            "1",
            "-c",
            "1",
            "-n",
            "2",
            "--timeout",
            "20s",
            "--first-byte-timeout",
            "200ms",
        ],
    );
    assert_errors(&run.r, &[("client-timo", "first-byte", 2)]);
    assert_quick(&run, Duration::from_secs(4));
}

/// S05: a body trickled at one byte per 100 ms cannot extend the hard reply deadline.
#[test]
fn s05_trickled_body_is_cut_at_the_reply_deadline() {
    let srv = hostile::s05_trickle_body(Duration::from_millis(100));
    let run = run_ok(
        &srv.url("/"),
        &["-w", "1", "-c", "1", "-n", "1", "--timeout", "500ms"],
    );
    assert_errors(&run.r, &[("client-timo", "reply", 1)]);
    assert_replies(&run.r, &[]);
    assert!(
        num(&run.r, "bytes.body") >= 1,
        "trickled bytes are counted: {:#}",
        run.r["bytes"]
    );
    assert_quick(&run, Duration::from_secs(3));
}

/// S05 in the head: a header line trickled forever is cut at the reply deadline too.
#[test]
fn s05_trickled_head_is_cut_at_the_reply_deadline() {
    let srv = hostile::s05_trickle_head(Duration::from_millis(100));
    let run = run_ok(
        &srv.url("/"),
        &["-w", "1", "-c", "1", "-n", "1", "--timeout", "500ms"],
    );
    assert_errors(&run.r, &[("client-timo", "reply", 1)]);
    assert_quick(&run, Duration::from_secs(3));
}

/// S05 with `--idle-timeout` below the trickle interval: the idle watchdog fires first.
#[test]
fn s05_idle_timeout_fires_between_trickled_bytes() {
    let srv = hostile::s05_trickle_body(Duration::from_millis(300));
    let run = run_ok(
        &srv.url("/"),
        &[
            "-w",
            "1",
            "-c",
            "1",
            "-n",
            "2",
            "--timeout",
            "20s",
            "--idle-timeout",
            "100ms",
        ],
    );
    assert_errors(&run.r, &[("client-timo", "idle", 2)]);
    assert_quick(&run, Duration::from_secs(4));
}

/// S08: RST right after the request on a new connection: one `connreset/no-reply` per
/// request, no retry (the connection was fresh).
#[test]
fn s08_reset_before_any_reply_byte_on_a_fresh_connection() {
    let srv = hostile::s08_reset_after_request();
    let run = run_ok(
        &srv.url("/"),
        &["-w", "1", "-c", "1", "-n", "5", "--timeout", "2s"],
    );
    assert_errors(&run.r, &[("connreset", "no-reply", 5)]);
    assert_eq!(
        num(&run.r, "requests.retried"),
        0,
        "fresh connections are not retried"
    );
    assert_eq!(num(&run.r, "connections.opened"), 5);
    assert_eq!(srv.requests(), 5);
    assert_quick(&run, Duration::from_secs(3));
}

/// S08 with FIN instead of RST: also `connreset/no-reply`, no retry.
#[test]
fn s08_close_before_any_reply_byte_on_a_fresh_connection() {
    let srv = hostile::s08_close_after_request();
    let run = run_ok(
        &srv.url("/"),
        &["-w", "1", "-c", "1", "-n", "5", "--timeout", "2s"],
    );
    assert_errors(&run.r, &[("connreset", "no-reply", 5)]);
    assert_eq!(num(&run.r, "requests.retried"), 0);
    assert_eq!(srv.requests(), 5);
    assert_quick(&run, Duration::from_secs(3));
}

/// S09: RST in the middle of a Content-Length body: `connreset/incomplete`, and the body
/// bytes that did arrive are counted.
#[test]
fn s09_reset_mid_body_counts_the_partial_bytes() {
    let srv = hostile::s09_reset_mid_body();
    let run = run_ok(
        &srv.url("/"),
        &["-w", "1", "-c", "1", "-n", "3", "--timeout", "2s"],
    );
    assert_errors(&run.r, &[("connreset", "incomplete", 3)]);
    assert_eq!(num(&run.r, "bytes.body"), 3 * 500, "{:#}", run.r["bytes"]);
    assert_eq!(srv.requests(), 3);
    assert_quick(&run, Duration::from_secs(3));
}

/// S21: the listener goes away mid-run and comes back: refusals are counted while it is
/// gone, and replies resume when it is back.
#[test]
fn s21_listener_gone_then_back_recovers() {
    let mut srv = hostile::s21_listener_goes_away();
    let name = run_name("s21");
    let running = volley()
        .args([
            &srv.url("/"),
            "-w",
            "1",
            "-c",
            "2",
            "-d",
            "3s",
            "--timeout",
            "1s",
        ])
        .args(["--json", "--run-name", &name])
        .deadline(DEADLINE)
        .spawn();
    assert!(
        wait_until(Duration::from_secs(10), || srv.requests() >= 20),
        "no load reached the server: {srv:?}"
    );
    srv.stop_listening();
    wait_for_board(&name, "a refused connect", |sb| {
        sb.total().error(ErrorClass::ConnRefused) > 0
    });
    srv.listen_again();
    let before = srv.requests();
    assert!(
        wait_until(Duration::from_secs(5), || srv.requests() >= before + 20),
        "no recovery after the listener came back: {srv:?}"
    );
    let out = running.wait();
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let r = out.json();
    assert_invariant(&r);
    assert!(num(&r, "errors.connrefused") > 0, "{r:#}");
    // Connects queued but not accepted when the listener closed are reset.
    let other =
        num(&r, "errors.total") - num(&r, "errors.connrefused") - num(&r, "errors.connreset");
    assert_eq!(other, 0, "only refusals and resets: {:#}", r["errors"]);
    assert!(num(&r, "replies.2xx") >= 40, "{r:#}");
}

/// S22: a listener with backlog 1 that never accepts: the first connects complete in the
/// kernel and wait for a reply (first-byte deadline), the rest never complete (connect
/// deadline). Every request is a client timeout of one of the two kinds. The same in an
/// open loop, whose first write follows the connect at once (and must take the EAGAIN of
/// a connect still under way in its stride).
#[test]
fn s22_backlog_never_accepted_hits_connect_or_first_byte_deadlines() {
    let open: &[&str] = &["--rate", "500", "-H", "Connection: close"];
    for extra in [&[][..], open] {
        let listener = BacklogNeverAccepted::bind();
        let args = [
            &["-w", "1", "-c", "4", "-n", "8", "--timeout", "300ms"][..],
            extra,
        ]
        .concat();
        let run = run_ok(&listener.url("/"), &args);
        assert_classes(&run.r, &[("client-timo", 8)]);
        let d = details(&run.r);
        let timo = d["client-timo"].as_object().cloned().unwrap_or_default();
        let connect = timo.get("connect").and_then(Value::as_u64).unwrap_or(0);
        let first_byte = timo.get("first-byte").and_then(Value::as_u64).unwrap_or(0);
        assert_eq!(
            connect + first_byte,
            8,
            "{extra:?}: only connect and first-byte timeouts: {d:#?}"
        );
        assert!(connect >= 4, "{extra:?}: connects left hanging: {d:#?}");
        assert_eq!(d.len(), 1, "{d:#?}");
        assert_quick(&run, Duration::from_secs(5));
    }
}

// ---------------------------------------------------------------------------------------
// Framing

/// S10: no Content-Length and no Transfer-Encoding: the body runs to FIN, in HTTP/1.1 and
/// HTTP/1.0, and the connection is never reused.
#[test]
fn s10_body_until_close_in_http11_and_http10() {
    for minor in [1u8, 0] {
        let body = "until the server closes\n";
        let srv = hostile::s10_body_until_close(minor, body);
        let run = run_ok(
            &srv.url("/"),
            &["-w", "1", "-c", "2", "-n", "20", "--timeout", "2s"],
        );
        let r = &run.r;
        assert_no_errors(r);
        assert_replies(r, &[("2xx", 20)]);
        assert_eq!(
            num(r, "bytes.body"),
            20 * body.len() as u64,
            "HTTP/1.{minor}"
        );
        assert_eq!(
            num(r, "connections.opened"),
            20,
            "HTTP/1.{minor}: never reused"
        );
        assert_eq!(num(r, "connections.reused"), 0);
        assert_eq!(srv.requests(), 20);
        assert_quick(&run, Duration::from_secs(5));
    }
}

/// S11: an HTTP/1.0 reply with Content-Length and no keep-alive on a socket the server
/// leaves open: the reply is done after its bytes and volley closes the connection
/// itself, instead of waiting for EOF (which would end only at the timeout).
#[test]
fn s11_http10_length_reply_on_an_open_socket_ends_after_its_bytes() {
    let srv = hostile::s11_http10_length_left_open();
    let run = run_ok(
        &srv.url("/"),
        &["-w", "1", "-c", "1", "-n", "10", "--timeout", "2s"],
    );
    assert_no_errors(&run.r);
    assert_replies(&run.r, &[("2xx", 10)]);
    assert_eq!(num(&run.r, "bytes.body"), 50);
    assert_eq!(num(&run.r, "connections.opened"), 10);
    assert_eq!(num(&run.r, "connections.reused"), 0);
    assert_quick(&run, Duration::from_secs(2));
}

/// S12: HEAD answered with `Content-Length: 1000` and no body: the reply ends at the
/// empty line and the connection is reused.
#[test]
fn s12_head_reply_with_length_has_no_body() {
    let srv = hostile::s12_head_with_length();
    let run = run_ok(
        &srv.url("/"),
        &[
            "-m",
            "HEAD",
            "-w",
            "1",
            "-c",
            "1",
            "-n",
            "10",
            "--timeout",
            "2s",
        ],
    );
    assert_no_errors(&run.r);
    assert_replies(&run.r, &[("2xx", 10)]);
    assert_eq!(num(&run.r, "bytes.body"), 0);
    assert_eq!(num(&run.r, "connections.opened"), 1);
    assert_eq!(num(&run.r, "connections.reused"), 9);
    let heads = srv.received_heads();
    assert_eq!(heads.len(), 10);
    assert!(
        heads.iter().all(|h| h.starts_with("HEAD / HTTP/1.1\r\n")),
        "{heads:?}"
    );
    assert_quick(&run, Duration::from_secs(2));
}

/// S14: 204 with Content-Length and 304 with chunked carry no body, so the 200 that
/// follows on the same connection parses.
#[test]
fn s14_204_and_304_with_framing_headers_have_no_body() {
    let srv = hostile::s14_bodyless_with_framing();
    let run = run_ok(
        &srv.url("/"),
        &["-w", "1", "-c", "1", "-n", "9", "--timeout", "2s"],
    );
    assert_no_errors(&run.r);
    assert_replies(&run.r, &[("2xx", 6), ("3xx", 3)]);
    assert_eq!(num(&run.r, "bytes.body"), 3 * 2);
    assert_eq!(num(&run.r, "connections.opened"), 1);
    assert_eq!(num(&run.r, "connections.reused"), 8);
    assert_quick(&run, Duration::from_secs(2));
}

/// S15: `100`, then `103` twice, before the `200`: the interim replies are skipped and
/// never counted as the reply; 16 interim replies are still fine.
#[test]
fn s15_interim_replies_are_skipped_up_to_the_cap() {
    for interim in [3, 16] {
        let srv = hostile::s15_interim_replies(interim);
        let run = run_ok(
            &srv.url("/"),
            &["-w", "1", "-c", "1", "-n", "10", "--timeout", "2s"],
        );
        let r = &run.r;
        assert_no_errors(r);
        assert_replies(r, &[("2xx", 10)]);
        assert_eq!(num(r, "bytes.body"), 20, "{interim} interim replies");
        assert_eq!(num(r, "connections.opened"), 1, "{interim} interim replies");
        assert_eq!(num(r, "connections.reused"), 9);
    }
}

/// S15 past the cap: 17 or 20 interim replies end the request as
/// `protocol/too-many-1xx` and the connection is closed.
#[test]
fn s15_too_many_interim_replies_is_a_protocol_error() {
    for interim in [17, 20] {
        let srv = hostile::s15_interim_replies(interim);
        let run = run_ok(
            &srv.url("/"),
            &["-w", "1", "-c", "1", "-n", "3", "--timeout", "2s"],
        );
        assert_errors(&run.r, &[("protocol", "too-many-1xx", 3)]);
        assert_replies(&run.r, &[]);
        assert_eq!(
            num(&run.r, "connections.opened"),
            3,
            "{interim} interim replies"
        );
        assert_quick(&run, Duration::from_secs(3));
    }
}

/// S25: a chunked body with extensions and trailers, written one byte per segment: the
/// same body size whatever the split points, and the connection is reused.
#[test]
fn s25_chunked_body_split_at_every_byte_decodes_the_same() {
    let srv = hostile::s25_chunked_split_everywhere();
    let run = run_ok(
        &srv.url("/"),
        &["-w", "1", "-c", "1", "-n", "3", "--timeout", "5s"],
    );
    assert_no_errors(&run.r);
    assert_replies(&run.r, &[("2xx", 3)]);
    assert_eq!(num(&run.r, "bytes.body"), 3 * hostile::S25_BODY_BYTES);
    assert_eq!(num(&run.r, "connections.opened"), 1);
    assert_eq!(num(&run.r, "connections.reused"), 2);
}

/// S26: invalid and overflowing chunk sizes are `protocol/bad-framing`, decided from the
/// size line (the server keeps the connection open, so a timeout would be wrong).
#[test]
fn s26_invalid_or_overflowing_chunk_sizes_are_bad_framing() {
    for size in [
        "Z",
        "0x10",
        "+5",
        "-1",
        "0_2",
        "10000000000000000",
        "fffffffffffffffff",
    ] {
        let srv = hostile::s26_bad_chunk_size(size);
        let run = run_ok(
            &srv.url("/"),
            &["-w", "1", "-c", "1", "-n", "2", "--timeout", "3s"],
        );
        let r = &run.r;
        assert_eq!(
            num(r, "errors.protocol"),
            2,
            "chunk size {size:?}: {:#}",
            r["errors"]
        );
        assert_errors(r, &[("protocol", "bad-framing", 2)]);
        assert_eq!(num(r, "connections.opened"), 2, "chunk size {size:?}");
        assert_quick(&run, Duration::from_secs(3));
    }
}

/// S27: a bare LF as the line end of chunk lines is accepted (RFC 9112 §2.2 allows it;
/// volley's current decision), and the connection stays reusable.
#[test]
fn s27_bare_lf_in_chunk_lines_is_accepted() {
    let srv = hostile::s27_raw_chunked("5\nhello\n0\n\n", Step::Repeat);
    let run = run_ok(
        &srv.url("/"),
        &["-w", "1", "-c", "1", "-n", "3", "--timeout", "2s"],
    );
    assert_no_errors(&run.r);
    assert_replies(&run.r, &[("2xx", 3)]);
    assert_eq!(num(&run.r, "bytes.body"), 15);
    assert_eq!(num(&run.r, "connections.reused"), 2);
}

/// S27: chunk data not followed by a line end is `protocol/bad-framing`.
#[test]
fn s27_chunk_data_without_crlf_is_bad_framing() {
    let srv = hostile::s27_raw_chunked("5\r\nhelloXX\r\n0\r\n\r\n", Step::Hang);
    let run = run_ok(
        &srv.url("/"),
        &["-w", "1", "-c", "1", "-n", "2", "--timeout", "3s"],
    );
    assert_errors(&run.r, &[("protocol", "bad-framing", 2)]);
    assert_quick(&run, Duration::from_secs(3));
}

/// S27: FIN before the last chunk, or inside the trailer section, is
/// `protocol/incomplete`; the payload that arrived is counted.
#[test]
fn s27_fin_before_the_last_chunk_is_incomplete() {
    for body in ["5\r\nhello\r\n", "5\r\nhello\r\n0\r\nX-Trailer: cut"] {
        let srv = hostile::s27_raw_chunked(body, Step::Close);
        let run = run_ok(
            &srv.url("/"),
            &["-w", "1", "-c", "1", "-n", "3", "--timeout", "3s"],
        );
        assert_errors(&run.r, &[("protocol", "incomplete", 3)]);
        assert_eq!(num(&run.r, "bytes.body"), 15, "body {body:?}");
        assert_quick(&run, Duration::from_secs(3));
    }
}

/// S28: an endless chunked body ends at the reply deadline, and the worker's memory
/// stays flat while hundreds of megabytes stream through it.
#[test]
fn s28_endless_chunked_body_hits_the_reply_deadline_with_flat_memory() {
    let srv = hostile::s28_endless_chunks();
    let name = run_name("s28");
    let running = volley()
        .args([
            &srv.url("/"),
            "-w",
            "1",
            "-c",
            "1",
            "-n",
            "1",
            "--timeout",
            "3s",
        ])
        .args(["--json", "--run-name", &name])
        .deadline(DEADLINE)
        .spawn();
    let mut pid = 0;
    let mut first: Option<(u64, u64)> = None;
    let mut last: Option<(u64, u64)> = None;
    // Sample the worker's RSS after 5 MB and again as late as possible.
    wait_until(Duration::from_secs(10), || {
        let Ok(sb) = Scoreboard::<ReadOnly>::attach_read_only(&format!("volley-{name}")) else {
            return first.is_some();
        };
        pid = sb.slot(0).pid() as i32;
        let received = sb.total().get(Counter::BytesReceived);
        if pid > 0
            && received > 5_000_000
            && let Some(rss) = rss_kib(pid)
        {
            if first.is_none() {
                first = Some((received, rss));
            }
            last = Some((received, rss));
        }
        !alive(pid) && pid > 0
    });
    let out = running.wait();
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    assert_eq!(out.code, out.complete_code(), "{}", out.stderr);
    let r = out.json();
    assert_invariant(&r);
    assert_errors(&r, &[("client-timo", "reply", 1)]);
    assert!(num(&r, "bytes.body") > 1_000_000, "{:#}", r["bytes"]);
    assert!(
        out.elapsed < Duration::from_secs(6),
        "took {:?}",
        out.elapsed
    );
    let (Some((b0, rss0)), Some((b1, rss1))) = (first, last) else {
        panic!(
            "the worker's RSS was never sampled after 5 MB: {:#}",
            r["bytes"]
        );
    };
    assert!(
        rss1 <= rss0 + 16 * 1024,
        "worker RSS grew from {rss0} KiB to {rss1} KiB while {} MB streamed",
        (b1 - b0) / 1_000_000
    );
}

/// S29: a chunk extension that never ends stops at the 16 KiB cap:
/// `limit/chunk-ext-too-long`.
#[test]
fn s29_endless_chunk_extension_hits_the_cap() {
    let srv = hostile::s29_endless_chunk_extension();
    let run = run_ok(
        &srv.url("/"),
        &["-w", "1", "-c", "1", "-n", "2", "--timeout", "5s"],
    );
    assert_errors(&run.r, &[("limit", "chunk-ext-too-long", 2)]);
    assert_quick(&run, Duration::from_secs(4));
}

/// S29 per message: many small extensions add up; below 16 KiB in all the reply is
/// fine, above it the request is `limit/chunk-ext-too-long`.
#[test]
fn s29_chunk_extension_cap_counts_the_whole_message() {
    let below = 16 * 1024 / hostile::S29_EXT_BYTES_PER_CHUNK - 100;
    let srv = hostile::s29_many_chunk_extensions(below);
    let run = run_ok(
        &srv.url("/"),
        &["-w", "1", "-c", "1", "-n", "2", "--timeout", "5s"],
    );
    assert_no_errors(&run.r);
    assert_replies(&run.r, &[("2xx", 2)]);
    assert_eq!(num(&run.r, "bytes.body"), 2 * below as u64);
    assert_eq!(num(&run.r, "connections.reused"), 1);

    let above = 16 * 1024 / hostile::S29_EXT_BYTES_PER_CHUNK + 100;
    let srv = hostile::s29_many_chunk_extensions(above);
    let run = run_ok(
        &srv.url("/"),
        &["-w", "1", "-c", "1", "-n", "2", "--timeout", "5s"],
    );
    assert_errors(&run.r, &[("limit", "chunk-ext-too-long", 2)]);
    assert_quick(&run, Duration::from_secs(4));
}

/// S30: 10,000 trailer fields (160 KB) exceed the 64 KiB trailer cap; 1,000 (16 KB) do
/// not.
#[test]
fn s30_too_many_trailers_hit_the_cap() {
    let srv = hostile::s30_many_trailers(10_000);
    let run = run_ok(
        &srv.url("/"),
        &["-w", "1", "-c", "1", "-n", "2", "--timeout", "5s"],
    );
    assert_errors(&run.r, &[("limit", "trailers-too-large", 2)]);
    assert_quick(&run, Duration::from_secs(4));

    let srv = hostile::s30_many_trailers(1_000);
    const { assert!(1_000 * hostile::S30_TRAILER_LINE_BYTES < 16 * 1024) };
    let run = run_ok(
        &srv.url("/"),
        &["-w", "1", "-c", "1", "-n", "2", "--timeout", "5s"],
    );
    assert_no_errors(&run.r);
    assert_replies(&run.r, &[("2xx", 2)]);
    assert_eq!(num(&run.r, "bytes.body"), 2);
    assert_eq!(num(&run.r, "connections.reused"), 1);
}

/// S30: one trailer field that never ends (1 MB and more) stops at the cap.
#[test]
fn s30_endless_trailer_hits_the_cap() {
    let srv = hostile::s30_endless_trailer();
    let run = run_ok(
        &srv.url("/"),
        &["-w", "1", "-c", "1", "-n", "2", "--timeout", "5s"],
    );
    assert_errors(&run.r, &[("limit", "trailers-too-large", 2)]);
    assert_quick(&run, Duration::from_secs(4));
}

/// S32: `Transfer-Encoding: gzip` (or an unknown coding) without chunked: the body runs
/// to close and the connection is not reused.
#[test]
fn s32_transfer_coding_without_chunked_reads_until_close() {
    for coding in ["gzip", "yolo"] {
        let body = "compressed-looking bytes";
        let srv = hostile::s32_transfer_encoding_not_chunked(coding, body);
        let run = run_ok(
            &srv.url("/"),
            &["-w", "1", "-c", "2", "-n", "10", "--timeout", "2s"],
        );
        assert_no_errors(&run.r);
        assert_replies(&run.r, &[("2xx", 10)]);
        assert_eq!(
            num(&run.r, "bytes.body"),
            10 * body.len() as u64,
            "{coding}"
        );
        assert_eq!(num(&run.r, "connections.opened"), 10, "{coding}");
        assert_eq!(num(&run.r, "connections.reused"), 0);
    }
}

/// S33: `chunked` applied twice (in one field or two) is `protocol/bad-framing`.
#[test]
fn s33_chunked_twice_is_bad_framing() {
    for fields in [
        "Transfer-Encoding: chunked, chunked\r\n",
        "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
    ] {
        let srv = hostile::s33_chunked_twice(fields);
        let run = run_ok(
            &srv.url("/"),
            &["-w", "1", "-c", "1", "-n", "2", "--timeout", "3s"],
        );
        assert_errors(&run.r, &[("protocol", "bad-framing", 2)]);
        assert_quick(&run, Duration::from_secs(3));
    }
}

/// S33: Transfer-Encoding in an HTTP/1.0 reply. HOSTILE.md says reject
/// (`protocol/bad-framing`); volley currently decodes the body and closes the
/// connection. Either is accepted here (loosely, until that decision is final), but the
/// connection must never be reused.
#[test]
fn s33_transfer_encoding_in_http10_is_never_reused() {
    let srv = hostile::s33_chunked_in_http10();
    let run = run_ok(
        &srv.url("/"),
        &["-w", "1", "-c", "1", "-n", "4", "--timeout", "2s"],
    );
    let r = &run.r;
    if num(r, "errors.total") == 0 {
        assert_replies(r, &[("2xx", 4)]);
        assert_eq!(num(r, "bytes.body"), 20);
    } else {
        assert_errors(r, &[("protocol", "bad-framing", 4)]);
    }
    assert_eq!(num(r, "connections.opened"), 4, "never reused: {r:#}");
    assert_eq!(num(r, "connections.reused"), 0);
    assert_quick(&run, Duration::from_secs(3));
}

/// S35: Content-Length larger than the body, then FIN: `protocol/incomplete`, with the
/// bytes that arrived counted.
#[test]
fn s35_fin_before_content_length_is_incomplete() {
    let srv = hostile::s35_short_body();
    let run = run_ok(
        &srv.url("/"),
        &["-w", "1", "-c", "1", "-n", "3", "--timeout", "2s"],
    );
    assert_errors(&run.r, &[("protocol", "incomplete", 3)]);
    assert_eq!(num(&run.r, "bytes.body"), 3 * 40);
    assert_eq!(num(&run.r, "connections.opened"), 3);
    assert_quick(&run, Duration::from_secs(3));
}

/// S36: invalid or conflicting Content-Length is `protocol/bad-framing`; a list of the
/// same valid value (`8, 8`, or two equal fields) counts as that value.
#[test]
fn s36_invalid_content_length_is_bad_framing_and_equal_lists_are_fine() {
    for fields in [
        "Content-Length: abc\r\n",
        "Content-Length: -1\r\n",
        "Content-Length: +8\r\n",
        "Content-Length: 0x10\r\n",
        "Content-Length: 18446744073709551616\r\n",
        "Content-Length: 1, 2\r\n",
        "Content-Length: 8\r\nContent-Length: 9\r\n",
        "Content-Length: \r\n",
    ] {
        let srv = hostile::s36_content_length(fields);
        let run = run_ok(
            &srv.url("/"),
            &["-w", "1", "-c", "1", "-n", "2", "--timeout", "3s"],
        );
        assert_eq!(
            num(&run.r, "errors.protocol"),
            2,
            "{fields:?}: {:#}",
            run.r["errors"]
        );
        assert_errors(&run.r, &[("protocol", "bad-framing", 2)]);
        assert_eq!(num(&run.r, "connections.opened"), 2, "{fields:?}");
        assert_quick(&run, Duration::from_secs(3));
    }
    for fields in [
        "Content-Length: 8, 8\r\n",
        "Content-Length: 8\r\nContent-Length: 8\r\n",
    ] {
        let srv = hostile::s36_content_length(fields);
        let run = run_ok(
            &srv.url("/"),
            &["-w", "1", "-c", "1", "-n", "3", "--timeout", "3s"],
        );
        assert_no_errors(&run.r);
        assert_replies(&run.r, &[("2xx", 3)]);
        assert_eq!(num(&run.r, "bytes.body"), 24, "{fields:?}");
        assert_eq!(num(&run.r, "connections.reused"), 2, "{fields:?}");
    }
}

/// S37: malformed status lines are `protocol/bad-status`; the unknown but valid 599 is a
/// 5xx reply.
#[test]
fn s37_malformed_status_lines_are_bad_status() {
    let hundred_digits = format!("HTTP/1.1 {} OK", "2".repeat(100));
    for line in [
        "HTTP/1.1 20 OK",
        hundred_digits.as_str(),
        "HTTP/1.1 -200 OK",
        "HTTP/2.0 200 OK",
    ] {
        let srv = hostile::s37_status_line(line);
        let run = run_ok(
            &srv.url("/"),
            &["-w", "1", "-c", "1", "-n", "2", "--timeout", "3s"],
        );
        assert_eq!(
            num(&run.r, "errors.protocol"),
            2,
            "{line:?}: {:#}",
            run.r["errors"]
        );
        assert_errors(&run.r, &[("protocol", "bad-status", 2)]);
        assert_quick(&run, Duration::from_secs(3));
    }
    let srv = hostile::s37_http09_reply();
    let run = run_ok(
        &srv.url("/"),
        &["-w", "1", "-c", "1", "-n", "2", "--timeout", "3s"],
    );
    assert_errors(&run.r, &[("protocol", "bad-status", 2)]);

    let srv = hostile::s37_status_line("HTTP/1.1 599 Whatever");
    let run = run_ok(
        &srv.url("/"),
        &["-w", "1", "-c", "1", "-n", "3", "--timeout", "3s"],
    );
    assert_no_errors(&run.r);
    assert_replies(&run.r, &[("5xx", 3)]);
    assert_eq!(num(&run.r, "connections.reused"), 2);
}

/// S38: obs-fold is replaced by SP (a reply, connection reused); a space before the
/// colon, NUL or a bare CR in a value, and a line without a colon are
/// `protocol/bad-header`.
#[test]
fn s38_header_syntax_obs_fold_is_fine_the_rest_is_bad_header() {
    let srv = hostile::s38_header_line("X-Folded: first\r\n  second");
    let run = run_ok(
        &srv.url("/"),
        &["-w", "1", "-c", "1", "-n", "3", "--timeout", "2s"],
    );
    assert_no_errors(&run.r);
    assert_replies(&run.r, &[("2xx", 3)]);
    assert_eq!(num(&run.r, "connections.reused"), 2);

    for line in [
        "X-Space : v",
        "X-Nul: a\0b",
        "X-Cr: a\rb",
        "NoColonOnThisLine",
    ] {
        let srv = hostile::s38_header_line(line);
        let run = run_ok(
            &srv.url("/"),
            &["-w", "1", "-c", "1", "-n", "2", "--timeout", "3s"],
        );
        assert_eq!(
            num(&run.r, "errors.protocol"),
            2,
            "{line:?}: {:#}",
            run.r["errors"]
        );
        assert_errors(&run.r, &[("protocol", "bad-header", 2)]);
        assert_quick(&run, Duration::from_secs(3));
    }
}

// ---------------------------------------------------------------------------------------
// Keep-alive

/// S17: the server closes each connection right after a reply that said nothing about
/// closing. A request that lands on the dead connection is retried once on a new one:
/// counted in `requests.retried`, never as an error. Whether volley saw the FIN before
/// reusing is a race, so only an upper bound on retries is fixed.
#[test]
fn s17_server_closing_idle_keep_alive_connections_is_retried_not_an_error() {
    let srv = hostile::s17_close_after_each_reply();
    let run = run_ok(
        &srv.url("/"),
        &["-w", "1", "-c", "1", "-n", "20", "--timeout", "2s"],
    );
    let r = &run.r;
    assert_no_errors(r);
    assert_replies(r, &[("2xx", 20)]);
    assert_eq!(
        num(r, "requests.started"),
        20,
        "a retry is not a new request"
    );
    assert!(num(r, "requests.retried") <= 19, "{r:#}");
    assert_eq!(num(r, "connections.opened"), 20, "one connection per reply");
    assert_eq!(srv.requests(), 20);
    assert_quick(&run, Duration::from_secs(4));
}

/// S18: `Connection: close`: never reused, the next request opens a new connection.
#[test]
fn s18_connection_close_is_honoured() {
    let srv = hostile::s18_connection_close();
    let run = run_ok(
        &srv.url("/"),
        &["-w", "1", "-c", "1", "-n", "10", "--timeout", "2s"],
    );
    assert_no_errors(&run.r);
    assert_replies(&run.r, &[("2xx", 10)]);
    assert_eq!(num(&run.r, "connections.opened"), 10);
    assert_eq!(num(&run.r, "connections.reused"), 0);
    assert_eq!(num(&run.r, "requests.retried"), 0);
    assert!(wait_until(Duration::from_secs(5), || srv.connections() == 10));
}

/// S19: HTTP/1.0 replies are reused only with `Connection: keep-alive`, even though this
/// server would answer again on the same connection either way.
#[test]
fn s19_http10_is_reused_only_with_keep_alive() {
    let srv = hostile::s19_http10(true);
    let run = run_ok(
        &srv.url("/"),
        &["-w", "1", "-c", "1", "-n", "10", "--timeout", "2s"],
    );
    assert_no_errors(&run.r);
    assert_replies(&run.r, &[("2xx", 10)]);
    assert_eq!(num(&run.r, "connections.opened"), 1);
    assert_eq!(num(&run.r, "connections.reused"), 9);

    let srv = hostile::s19_http10(false);
    let run = run_ok(
        &srv.url("/"),
        &["-w", "1", "-c", "1", "-n", "10", "--timeout", "2s"],
    );
    assert_no_errors(&run.r);
    assert_replies(&run.r, &[("2xx", 10)]);
    assert_eq!(num(&run.r, "connections.opened"), 10);
    assert_eq!(num(&run.r, "connections.reused"), 0);
    assert!(wait_until(Duration::from_secs(5), || srv.connections() == 10));
    assert_eq!(srv.requests(), 10);
}

/// S20: the server closes after 2 requests per connection, without a `close` field, once
/// the third request is on the wire. Every third request (4 of 10) fails on a reused
/// connection before any reply byte and is retried once on a new connection: 10 replies,
/// no error, 4 retries, 5 connections.
#[test]
fn s20_keepalive_requests_limit_is_retried_for_idempotent_requests() {
    let srv = hostile::s20_close_after(2);
    let run = run_ok(
        &srv.url("/"),
        &["-w", "1", "-c", "1", "-n", "10", "--timeout", "2s"],
    );
    let r = &run.r;
    assert_no_errors(r);
    assert_replies(r, &[("2xx", 10)]);
    assert_eq!(
        num(r, "requests.started"),
        10,
        "a retry counts once in started"
    );
    assert_eq!(num(r, "requests.retried"), 4, "{r:#}");
    assert_eq!(num(r, "connections.opened"), 5);
    assert_eq!(
        srv.requests(),
        10 + 4,
        "the server read each failed attempt too"
    );
    assert_eq!(srv.connections(), 5);
    assert_quick(&run, Duration::from_secs(3));
}

/// S20 with POST: a non-idempotent request is never retried; it is `stale-conn/failed`.
#[test]
fn s20_keepalive_requests_limit_fails_non_idempotent_requests_as_stale() {
    let srv = hostile::s20_close_after(2);
    let run = run_ok(
        &srv.url("/"),
        &[
            "-m",
            "POST",
            "--body",
            "x",
            "-w",
            "1",
            "-c",
            "1",
            "-n",
            "10",
            "--timeout",
            "2s",
        ],
    );
    let r = &run.r;
    assert_errors(r, &[("stale-conn", "failed", 3)]);
    assert_replies(r, &[("2xx", 7)]);
    assert_eq!(num(r, "requests.retried"), 0, "POST is not retried");
    assert_eq!(num(r, "connections.opened"), 4);
    assert_eq!(srv.requests(), 10);
    assert_quick(&run, Duration::from_secs(3));
}

// ---------------------------------------------------------------------------------------
// Limits

/// S40: a header line that never ends stops at the 64 KiB head cap.
#[test]
fn s40_endless_header_line_hits_the_head_cap() {
    let srv = hostile::s40_endless_header_line();
    let run = run_ok(
        &srv.url("/"),
        &["-w", "1", "-c", "1", "-n", "2", "--timeout", "5s"],
    );
    assert_errors(&run.r, &[("limit", "head-too-large", 2)]);
    assert_quick(&run, Duration::from_secs(4));
}

/// S41: endless small header fields stop at the 100-field cap.
#[test]
fn s41_endless_headers_hit_the_field_cap() {
    let srv = hostile::s41_endless_headers();
    let run = run_ok(
        &srv.url("/"),
        &["-w", "1", "-c", "1", "-n", "2", "--timeout", "5s"],
    );
    assert_errors(&run.r, &[("limit", "too-many-headers", 2)]);
    assert_quick(&run, Duration::from_secs(4));
}

/// S41 at the boundary: 100 header fields are a reply, 101 are
/// `limit/too-many-headers`.
#[test]
fn s41_field_cap_is_exactly_100() {
    let srv = hostile::s41_header_count(100);
    let run = run_ok(
        &srv.url("/"),
        &["-w", "1", "-c", "1", "-n", "2", "--timeout", "3s"],
    );
    assert_no_errors(&run.r);
    assert_replies(&run.r, &[("2xx", 2)]);

    let srv = hostile::s41_header_count(101);
    let run = run_ok(
        &srv.url("/"),
        &["-w", "1", "-c", "1", "-n", "2", "--timeout", "3s"],
    );
    assert_errors(&run.r, &[("limit", "too-many-headers", 2)]);
}

// ---------------------------------------------------------------------------------------
// Process level

/// P2: `kill -9` the supervisor: its workers are gone within a second (parent-death
/// signal) and no load continues.
#[test]
fn p2_killing_the_supervisor_takes_the_workers_down_within_a_second() {
    let srv = HostileServer::answering("p2-load", hostile::ok("p2"));
    let name = run_name("p2");
    let running = volley()
        .args([&srv.url("/"), "-w", "2", "-c", "4", "-d", "30s", "--json"])
        .args(["--run-name", &name])
        .deadline(Duration::from_secs(20))
        .spawn();
    wait_for_board(&name, "two workers with requests", |sb| {
        sb.worker_count() == 2
            && sb.slots().all(|s| s.pid() > 0)
            && sb.total().get(Counter::RequestsStarted) > 0
    });
    let sb = Scoreboard::<ReadOnly>::attach_read_only(&format!("volley-{name}")).unwrap();
    let workers: Vec<i32> = sb.slots().map(|s| s.pid() as i32).collect();
    drop(sb);
    assert!(workers.iter().all(|&p| alive(p)), "{workers:?}");
    running.signal(libc::SIGKILL);
    let gone = wait_until(Duration::from_secs(1), || {
        workers.iter().all(|&p| !alive(p))
    });
    let out = running.wait();
    assert!(gone, "workers {workers:?} outlived the supervisor by 1 s");
    assert_eq!(out.code, None, "the supervisor died of SIGKILL");
    let after = srv.requests();
    assert!(
        !wait_until(Duration::from_millis(300), || srv.requests() > after),
        "load continued after the supervisor died"
    );
    // Nobody was left to unlink the segment.
    let _ = std::fs::remove_file(Path::new("/dev/shm").join(format!("volley-{name}")));
}

/// P5: `ulimit -n 64` with 200 connections: the client runs short of descriptors, which
/// is counted as `fd-unavail` and makes the run invalid (exit 3), without a panic.
/// P5 (issue 13): a `-c` whose share per worker exceeds the descriptors a process may
/// have (`ulimit -n 64`, 200 slots in one worker) is refused before the run, with a
/// message that says what to do, instead of a run that only counts `fd-unavail`. A share
/// that fits runs.
#[test]
fn p5_a_concurrency_the_descriptor_limit_cannot_hold_is_refused() {
    let srv = HostileServer::answering("p5-load", hostile::ok("p5"));
    let under_ulimit = |args: &str| {
        let script = format!("ulimit -n 64; exec \"$0\" {} {args} --json", srv.url("/"));
        volley_testsupport::Volley::new("/bin/bash")
            .args(["-c", &script, env!("CARGO_BIN_EXE_volley")])
            .deadline(DEADLINE)
            .run()
    };
    let out = under_ulimit("-c 200 -w 1 -d 2s");
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    assert_eq!(out.code, Some(2), "refused as bad usage: {}", out.stderr);
    for says in ["-c 200", "at most 64 open files", "ulimit -n", "-w"] {
        assert!(
            out.stderr.contains(says),
            "stderr lacks {says:?}: {}",
            out.stderr
        );
    }
    assert!(out.stdout.is_empty(), "no report: {}", out.stdout);
    assert_eq!(srv.connections(), 0, "no load was sent");
    // 45 slots per worker and 16 descriptors more fit in 64.
    let out = under_ulimit("-c 90 -w 2 -n 200");
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let r = out.json();
    assert_invariant(&r);
    assert_replies(&r, &[("2xx", 200)]);
}

/// Issue 13: `-d` is kept whatever `-c` is. Tens of thousands of slots start together
/// against a listener that never accepts (their connects hang): the loop bounds each
/// turn's work, so every worker sees the end of the run within 100 ms of it, reports, and
/// the run ends without the supervisor killing anyone.
#[test]
fn duration_is_kept_with_tens_of_thousands_of_slots() {
    let (_, hard) = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .expect("getrlimit");
    let per_worker = hard.saturating_sub(64).min(10_000);
    let slots = 2 * per_worker;
    if slots < 4_000 {
        return volley_testsupport::skip(
            "duration_is_kept_with_tens_of_thousands_of_slots",
            &format!("the open-file hard limit ({hard}) is below 4,000 per worker"),
        );
    }
    let listener = BacklogNeverAccepted::bind();
    let run = run_with(
        &listener.url("/"),
        &["-w", "2", "-c", &slots.to_string(), "-d", "300ms"],
        DEADLINE,
        0,
    );
    let r = &run.r;
    for w in r["workers"].as_array().expect("workers") {
        assert_eq!(w["reported"], true, "{w:#}");
        assert_eq!(w["exit"]["code"], 0, "{w:#}");
    }
    let overrun = r["timing"]["stop_overrun_ms"]
        .as_f64()
        .unwrap_or_else(|| panic!("no stop_overrun_ms: {:#}", r["timing"]));
    eprintln!("{slots} slots: the load stopped {overrun} ms after -d");
    assert!(
        overrun < 100.0,
        "the load stopped {overrun} ms after -d ({slots} slots)"
    );
    assert!(num(r, "requests.started") > 0);
    let startup = r["timing"]["startup_ms"].as_f64().unwrap_or(0.0) / 1e3;
    assert!(
        run.out.elapsed.as_secs_f64() < startup + 0.3 + 3.0,
        "{slots} slots, -d 300ms: took {:?} (startup {startup} s)",
        run.out.elapsed
    );
}

/// P5b (issue 13): the client runs out of local ports (a network namespace of our own
/// with four ephemeral ports, a listener in it that holds every connection): the slots
/// that find no port count `addrunavail`, back off, and the run is marked invalid, exit
/// code 3. Needs root and iproute2; without them the test says so and stops.
#[test]
fn p5_a_client_short_of_ports_makes_the_run_invalid() {
    let Some(ns) = Netns::create("p5") else {
        return volley_testsupport::skip(
            "p5_a_client_short_of_ports_makes_the_run_invalid",
            "needs root and iproute2 to make a network namespace",
        );
    };
    assert!(ns.exec(&[
        "sh",
        "-c",
        "echo 40000 40003 > /proc/sys/net/ipv4/ip_local_port_range"
    ]));
    // A listener inside the namespace that accepts and holds connections, answering none.
    let holder = std::process::Command::new("ip")
        .args(["netns", "exec", &ns.0, "python3", "-c"])
        .arg(
            "import socket,time\n\
             s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n\
             s.bind(('127.0.0.1', 8080)); s.listen(64); held=[]\n\
             s.settimeout(20)\n\
             try:\n\
             \x20   while True: held.append(s.accept()[0])\n\
             except Exception: pass\n",
        )
        .spawn()
        .expect("python3 in the namespace");
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _holder = Kill(holder);
    let listening = || {
        std::process::Command::new("ip")
            .args(["netns", "exec", &ns.0, "python3", "-c"])
            .arg("import socket; socket.create_connection(('127.0.0.1', 8080), 1).close()")
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    assert!(
        wait_until(Duration::from_secs(5), listening),
        "the listener in the namespace did not come up"
    );
    // The probe's own port sits in TIME_WAIT now: 3 of the 4 ports are left.
    let out = volley_testsupport::Volley::new("ip")
        .args(["netns", "exec", &ns.0, env!("CARGO_BIN_EXE_volley")])
        .args([
            "http://127.0.0.1:8080/",
            "-w",
            "1",
            "-c",
            "8",
            "-d",
            "1s",
            "--json",
        ])
        .deadline(DEADLINE)
        .run();
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    assert_eq!(
        out.code,
        Some(3),
        "a port-starved run is invalid: {}",
        out.stderr
    );
    let r = out.json();
    assert_invariant(&r);
    assert!(num(&r, "errors.addrunavail") > 0, "{:#}", r["errors"]);
    assert!(
        num(&r, "errors.addrunavail") < 1000,
        "a slot short of ports backs off (10 ms) instead of spinning: {:#}",
        r["errors"]
    );
    assert_eq!(r["valid"], false);
    assert!(
        r["invalid_reasons"].to_string().contains("addrunavail"),
        "{:#}",
        r["invalid_reasons"]
    );
}

/// P7: the report written into a pipe that closes early (`| head -1`, `| true`): no
/// panic, and volley exits cleanly (0, or SIGPIPE's 141, the Unix convention for a
/// writer whose reader left; never Rust's panic exit 101).
#[test]
fn p7_report_into_a_closed_pipe_does_not_panic() {
    for reader in ["head -1", "true"] {
        let script = format!(
            "\"$0\" demo -d 1s -c 2 -w 1 | {reader}; s=(\"${{PIPESTATUS[@]}}\"); \
             echo \"volley=${{s[0]}} reader=${{s[1]}}\" >&2; exit ${{s[0]}}"
        );
        let out = volley_testsupport::Volley::new("/bin/bash")
            .args(["-c", &script, env!("CARGO_BIN_EXE_volley")])
            .deadline(DEADLINE)
            .run();
        assert!(
            !out.stderr.contains("panicked"),
            "| {reader}: {}",
            out.stderr
        );
        assert!(
            matches!(out.code, Some(0 | 141)),
            "| {reader}: volley exited {:?}: {}",
            out.code,
            out.stderr
        );
        if reader == "head -1" {
            assert_eq!(out.stdout.lines().count(), 1, "{}", out.stdout);
        }
    }
}

/// S46: slow 200s mixed with fast 503s on one connection. Latency is kept per outcome,
/// so the fast 503s never pull the success percentiles down (F10).
#[test]
fn s46_fast_errors_stay_out_of_the_success_latency() {
    let slow_ok = hostile::ok("slow");
    let fast_503 = hostile::raw(
        "HTTP/1.1 503 Service Unavailable",
        "Content-Length: 4\r\n",
        b"busy",
    );
    let server = HostileServer::every_connection(
        "s46_slow_200_fast_503",
        vec![
            Step::ReadRequest,
            Step::Sleep(Duration::from_millis(30)),
            Step::Write(slow_ok),
            Step::ReadRequest,
            Step::Write(fast_503),
            Step::Repeat,
        ],
    );
    let run = run_ok(&server.url("/"), &["-w", "1", "-c", "1", "-n", "20"]);
    let r = &run.r;
    assert_replies(r, &[("2xx", 10), ("5xx", 10)]);
    assert_no_errors(r);
    let ok = &r["latency_ms"]["reply"];
    let errors = &r["latency_ms"]["reply_4xx_5xx"];
    assert_eq!(ok["count"], 10, "{r:#}");
    assert_eq!(errors["count"], 10, "{r:#}");
    let ok_min = ok["min"].as_f64().unwrap();
    let err_max = errors["max"].as_f64().unwrap();
    assert!(ok_min >= 29.0, "every success waited 30 ms: {ok:#}");
    assert!(err_max < 29.0, "no 503 waited: {errors:#}");
}

/// S42 (scaled down): a 256 MiB Content-Length body is streamed, counted byte-exact and
/// never buffered; the connection is reused afterwards.
#[test]
fn s42_large_body_is_streamed_and_counted() {
    const SIZE: usize = 256 << 20;
    let mut reply = format!("HTTP/1.1 200 OK\r\nContent-Length: {SIZE}\r\n\r\n").into_bytes();
    reply.resize(reply.len() + SIZE, b'b');
    let server = HostileServer::answering("s42_large_body", reply);
    let run = run_ok(&server.url("/"), &["-w", "1", "-c", "1", "-n", "2"]);
    let r = &run.r;
    assert_replies(r, &[("2xx", 2)]);
    assert_eq!(num(r, "bytes.body"), 2 * SIZE as u64);
    assert_eq!(num(r, "connections.opened"), 1);
    assert_no_errors(r);
}

/// A request body file of `len` bytes in the temp dir, removed when dropped.
struct BodyFile(std::path::PathBuf);

impl BodyFile {
    fn new(test: &str, len: usize) -> BodyFile {
        let path = std::env::temp_dir().join(format!("volley-{test}-{}", std::process::id()));
        std::fs::write(&path, vec![b'u'; len]).expect("write the body file");
        BodyFile(path)
    }

    fn arg(&self) -> String {
        format!("@{}", self.0.display())
    }
}

impl Drop for BodyFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// S16a: `Expect: 100-continue` and a server that never sends `100`: the body goes out
/// after the expect-wait (1 s) and the reply is counted.
#[test]
fn s16_without_100_continue_the_body_follows_the_expect_wait() {
    let server = HostileServer::every_connection(
        "s16_never_continue",
        vec![
            Step::ReadHead,
            Step::ReadBody,
            Step::Write(hostile::ok("got it")),
            Step::Repeat,
        ],
    );
    let args = [
        "-w", "1", "-c", "1", "-n", "1", "-m", "POST", "--body", "hello",
    ];
    let run = run_ok(
        &server.url("/"),
        &[&args[..], &["-H", "Expect: 100-continue"]].concat(),
    );
    assert_replies(&run.r, &[("2xx", 1)]);
    assert_no_errors(&run.r);
    assert!(
        run.out.elapsed >= Duration::from_millis(900),
        "the body waited for the expect-wait: {:?}",
        run.out.elapsed
    );
}

/// S16b: `100 Continue` releases the body at once; the connection is reused.
#[test]
fn s16_100_continue_releases_the_body_at_once() {
    let server = HostileServer::every_connection(
        "s16_continue",
        vec![
            Step::ReadHead,
            Step::Write(b"HTTP/1.1 100 Continue\r\n\r\n".to_vec()),
            Step::ReadBody,
            Step::Write(hostile::ok("got it")),
            Step::Repeat,
        ],
    );
    let args = [
        "-w", "1", "-c", "1", "-n", "3", "-m", "PUT", "--body", "hello",
    ];
    let run = run_ok(
        &server.url("/"),
        &[&args[..], &["-H", "Expect: 100-continue"]].concat(),
    );
    assert_replies(&run.r, &[("2xx", 3)]);
    assert_no_errors(&run.r);
    assert_eq!(num(&run.r, "connections.opened"), 1);
    assert_quick(&run, Duration::from_millis(800));
}

/// S16c: a final reply instead of `100 Continue`: it is the request's reply, the body is
/// never sent, and the connection (whose request was cut short) is not reused.
#[test]
fn s16_an_early_final_reply_ends_the_request_without_its_body() {
    let unauthorized = hostile::raw("HTTP/1.1 401 Unauthorized", "Content-Length: 0\r\n", b"");
    let server = HostileServer::every_connection(
        "s16_early_401",
        vec![Step::ReadHead, Step::Write(unauthorized), Step::Hang],
    );
    let args = [
        "-w", "1", "-c", "1", "-n", "2", "-m", "POST", "--body", "secret",
    ];
    let run = run_ok(
        &server.url("/"),
        &[&args[..], &["-H", "Expect: 100-continue"]].concat(),
    );
    assert_replies(&run.r, &[("4xx", 2)]);
    assert_no_errors(&run.r);
    assert_eq!(
        num(&run.r, "connections.opened"),
        2,
        "not reused after a cut request"
    );
    assert_quick(&run, Duration::from_millis(800));
}

/// S23: the server answers 413 while a large body is still uploading, and stops
/// reading. The 413 is the request's reply; the unsent rest is not an error.
#[test]
fn s23_a_413_during_an_upload_is_the_reply() {
    let body = BodyFile::new("s23", 16 << 20);
    let too_large = hostile::raw(
        "HTTP/1.1 413 Content Too Large",
        "Content-Length: 0\r\nConnection: close\r\n",
        b"",
    );
    let server = HostileServer::every_connection(
        "s23_early_413",
        vec![
            Step::ReadHead,
            Step::Write(too_large),
            Step::Sleep(Duration::from_millis(300)),
            Step::Reset,
        ],
    );
    let args = [
        "-w",
        "1",
        "-c",
        "1",
        "-n",
        "2",
        "-m",
        "POST",
        "--body",
        &body.arg(),
    ];
    let run = run_ok(&server.url("/"), &args);
    assert_replies(&run.r, &[("4xx", 2)]);
    assert_no_errors(&run.r);
    assert_eq!(num(&run.r, "connections.opened"), 2);
    assert!(
        num(&run.r, "bytes.sent") < 2 * (16 << 20),
        "the upload stopped early: {}",
        num(&run.r, "bytes.sent")
    );
}

/// A network namespace of this test process with only `lo` up, deleted on drop.
struct Netns(String);

impl Netns {
    /// Creates the namespace, or `None` when this process may not (not root, or no `ip`).
    fn create(test: &str) -> Option<Netns> {
        let name = format!("volley-{test}-{}", std::process::id());
        let ok = |args: &[&str]| {
            std::process::Command::new("ip")
                .args(args)
                .status()
                .is_ok_and(|s| s.success())
        };
        if !nix::unistd::geteuid().is_root() || !ok(&["netns", "add", &name]) {
            return None;
        }
        let ns = Netns(name);
        assert!(ok(&[
            "netns", "exec", &ns.0, "ip", "link", "set", "lo", "up"
        ]));
        Some(ns)
    }

    /// Runs `cmd` inside the namespace; true if it succeeded.
    fn exec(&self, cmd: &[&str]) -> bool {
        std::process::Command::new("ip")
            .args(["netns", "exec", &self.0])
            .args(cmd)
            .status()
            .is_ok_and(|s| s.success())
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = std::process::Command::new("ip")
            .args(["netns", "del", &self.0])
            .status();
    }
}

/// S03: SYNs are dropped (an nft rule in a network namespace of our own, on its
/// loopback): the connect deadline ends each attempt as `client-timo/connect`, and the run
/// keeps its schedule. Needs root, `ip` and `nft` (CI installs them); without them the
/// test says so and stops.
#[test]
fn s03_dropped_syns_end_at_the_connect_deadline() {
    let Some(ns) = Netns::create("s03") else {
        return volley_testsupport::skip(
            "s03_dropped_syns_end_at_the_connect_deadline",
            "needs root and iproute2 to make a network namespace",
        );
    };
    if !volley_testsupport::have("nft") {
        return volley_testsupport::skip(
            "s03_dropped_syns_end_at_the_connect_deadline",
            "nft is not installed (apt-get install nftables; .ci/run does)",
        );
    }
    let rules = [
        &["nft", "add", "table", "inet", "s03"][..],
        &[
            "nft",
            "add",
            "chain",
            "inet",
            "s03",
            "input",
            "{ type filter hook input priority 0; }",
        ],
        &[
            "nft", "add", "rule", "inet", "s03", "input", "tcp", "dport", "9", "tcp", "flags",
            "syn", "drop",
        ],
    ];
    assert!(
        rules.iter().all(|r| ns.exec(r)),
        "s03: the nft rules were refused"
    );
    let out = volley_testsupport::Volley::new("ip")
        .args(["netns", "exec", &ns.0, env!("CARGO_BIN_EXE_volley")])
        .args(["http://127.0.0.1:9/", "-w", "1", "-c", "2", "-n", "4"])
        .args(["--connect-timeout", "200ms", "--json"])
        .deadline(DEADLINE)
        .run();
    assert_eq!(out.code, out.complete_code(), "{}", out.stderr);
    let r = out.json();
    assert_invariant(&r);
    assert_errors(&r, &[("client-timo", "connect", 4)]);
    assert!(
        out.elapsed < Duration::from_secs(3),
        "two slots, two 200 ms deadlines each: {:?}",
        out.elapsed
    );
}

/// S16d: `100 Continue` and the final reply arrive in one read: the reply is taken from
/// the buffer at once (the body, which the server no longer wants, is not sent).
#[test]
fn s16_a_final_reply_right_behind_100_continue_is_read_at_once() {
    let mut both = b"HTTP/1.1 100 Continue\r\n\r\n".to_vec();
    both.extend_from_slice(&hostile::ok("done"));
    let server = HostileServer::every_connection(
        "s16_continue_and_reply",
        vec![Step::ReadHead, Step::Write(both), Step::Hang],
    );
    let args = [
        "-w", "1", "-c", "1", "-n", "2", "-m", "POST", "--body", "late",
    ];
    let run = run_ok(
        &server.url("/"),
        &[&args[..], &["-H", "Expect: 100-continue"]].concat(),
    );
    assert_replies(&run.r, &[("2xx", 2)]);
    assert_no_errors(&run.r);
    assert_quick(&run, Duration::from_millis(800));
}

/// S16e: a final reply instead of `100 Continue` whose body takes longer than the
/// expect-wait: the expect-wait no longer applies once the final head is in.
#[test]
fn s16_the_expect_wait_does_not_cut_a_slow_final_reply() {
    let server = HostileServer::every_connection(
        "s16_slow_final_reply",
        vec![
            Step::ReadHead,
            Step::Write(b"HTTP/1.1 413 Content Too Large\r\nContent-Length: 4\r\n\r\n".to_vec()),
            Step::Sleep(Duration::from_millis(1300)),
            Step::Write(b"nope".to_vec()),
            Step::Hang,
        ],
    );
    let args = [
        "-w", "1", "-c", "1", "-n", "1", "-m", "POST", "--body", "payload",
    ];
    let run = run_ok(
        &server.url("/"),
        &[&args[..], &["-H", "Expect: 100-continue"]].concat(),
    );
    assert_replies(&run.r, &[("4xx", 1)]);
    assert_no_errors(&run.r);
    assert_eq!(num(&run.r, "bytes.body"), 4);
}

// ---------------------------------------------------------------------------------------
// Idle kept-alive connections (issue 13): every reply belongs to its request.

/// The two ways a slot waits between requests in these tests: an open loop that sleeps
/// through replies, and one that wakes for every event. 10 starts per second leave each
/// kept connection idle for about 100 ms between its requests.
const IDLE_GAPS: [&[&str]; 2] = [&["--rate", "10"], &["--rate", "10", "--wake-per-reply"]];

/// A `408 Request Timeout` and a close sent to an idle kept-alive connection are not the
/// reply to the next request (which the server never saw): the connection is closed when
/// the bytes come, counted as an anomaly, and the next request goes on a new connection.
#[test]
fn a_408_sent_to_an_idle_connection_is_not_the_next_requests_reply() {
    let srv = HostileServer::every_connection(
        "408-on-idle",
        vec![
            Step::ReadRequest,
            Step::Write(hostile::ok("ok")),
            Step::Sleep(Duration::from_millis(20)),
            Step::Write(hostile::raw(
                "HTTP/1.1 408 Request Timeout",
                "Content-Length: 0\r\nConnection: close\r\n",
                b"",
            )),
            Step::Close,
        ],
    );
    for gap in IDLE_GAPS {
        let args = [
            gap,
            &["-w", "1", "-c", "1", "-n", "4", "--timeout", "2s"][..],
        ]
        .concat();
        let run = run_ok(&srv.url("/"), &args);
        let r = &run.r;
        assert_no_errors(r);
        assert_replies(r, &[("2xx", 4)]);
        assert_eq!(num(r, "connections.opened"), 4, "{gap:?}: {r:#}");
        assert_eq!(num(r, "connections.reused"), 0, "{gap:?}");
        assert_eq!(num(r, "requests.retried"), 0, "{gap:?}");
        assert!(
            num(r, "anomalies.unsolicited_data") >= 3,
            "{gap:?}: {:#}",
            r["anomalies"]
        );
    }
    assert_eq!(srv.requests(), 8, "every request reached the server");
}

/// Bytes after a reply's framed end (a `Content-Length` shorter than what was sent) that
/// come while the connection is idle: the connection is dropped, not read as the next
/// reply (`protocol/bad-status` before).
#[test]
fn a_replys_tail_that_comes_while_idle_ends_the_connection() {
    let srv = hostile::late_tail(
        "tail-while-idle",
        hostile::raw(
            "HTTP/1.1 200 OK",
            "Content-Length: 2
",
            b"ok",
        ),
        Duration::from_millis(20),
        b"EXTRA",
    );
    for gap in IDLE_GAPS {
        let args = [
            gap,
            &["-w", "1", "-c", "1", "-n", "4", "--timeout", "2s"][..],
        ]
        .concat();
        let r = run_ok(&srv.url("/"), &args).r;
        assert_no_errors(&r);
        assert_replies(&r, &[("2xx", 4)]);
        assert_eq!(num(&r, "requests.retried"), 0, "{gap:?}");
        assert_eq!(num(&r, "connections.opened"), 4, "{gap:?}: {r:#}");
        let a = &r["anomalies"];
        assert!(num(&r, "anomalies.unsolicited_data") >= 3, "{gap:?}: {a:#}");
        assert!(
            num(&r, "anomalies.unsolicited_bytes") >= 15,
            "{gap:?}: {a:#}"
        );
    }
}

/// A HEAD reply whose (forbidden) body comes a moment later, after the next request went
/// out on the kept connection at once: the bytes that are no status line are that tail,
/// not the next reply. The request is retried once on a new connection (HEAD is
/// idempotent), counted in `requests.retried`, and the anomaly is counted; no request
/// error.
#[test]
fn a_head_replys_late_body_is_not_the_next_reply() {
    let srv = hostile::late_tail(
        "head-late-body",
        hostile::raw(
            "HTTP/1.1 200 OK",
            "Content-Length: 5
",
            b"",
        ),
        Duration::from_millis(30),
        b"hello",
    );
    let run = run_ok(
        &srv.url("/"),
        &[
            "-m",
            "HEAD",
            "-w",
            "1",
            "-c",
            "1",
            "-n",
            "6",
            "--timeout",
            "2s",
        ],
    );
    let r = &run.r;
    assert_no_errors(r);
    assert_replies(r, &[("2xx", 6)]);
    assert_eq!(num(r, "requests.started"), 6);
    // Each connection carries one reply; the request after it meets the tail.
    assert_eq!(num(r, "requests.retried"), 5, "{r:#}");
    assert_eq!(
        num(r, "anomalies.unsolicited_data"),
        5,
        "{:#}",
        r["anomalies"]
    );
    assert_eq!(num(r, "connections.opened"), 6);
    assert_eq!(
        srv.requests(),
        6 + 5,
        "the server read each retried attempt too"
    );
}

/// The same with POST, which is not retried: the request that met the tail is counted
/// `protocol/unsolicited`, never as a reply.
#[test]
fn a_late_tail_met_by_a_post_is_protocol_unsolicited() {
    let srv = hostile::late_tail(
        "post-late-tail",
        hostile::raw(
            "HTTP/1.1 200 OK",
            "Content-Length: 2
",
            b"ok",
        ),
        Duration::from_millis(30),
        b"EXTRA",
    );
    let args = ["-m", "POST", "--body", "x", "-w", "1", "-c", "1", "-n", "4"];
    let r = run_ok(&srv.url("/"), &[&args[..], &["--timeout", "2s"]].concat()).r;
    assert_errors(&r, &[("protocol", "unsolicited", 2)]);
    assert_replies(&r, &[("2xx", 2)]);
    assert_eq!(num(&r, "requests.retried"), 0);
}

/// A FIN that arrived long before the connection is reused: the connection is closed
/// while idle, and a POST (not retryable) goes on a new connection instead of becoming
/// `stale-conn` although nothing raced.
#[test]
fn a_close_long_before_reuse_is_seen_before_writing() {
    let srv = hostile::s17_close_after_each_reply();
    for gap in IDLE_GAPS {
        let args = [
            gap,
            &["-m", "POST", "--body", "x", "-w", "1", "-c", "1", "-n", "4"][..],
        ]
        .concat();
        let r = run_ok(&srv.url("/"), &args).r;
        assert_no_errors(&r);
        assert_replies(&r, &[("2xx", 4)]);
        assert_eq!(num(&r, "requests.retried"), 0, "{gap:?}");
        assert_eq!(num(&r, "connections.opened"), 4, "{gap:?}");
        assert!(
            num(&r, "anomalies.closed_while_idle") >= 3,
            "{gap:?}: {:#}",
            r["anomalies"]
        );
    }
}

/// `Connection: close` sent by the client ends the connection whatever the server
/// answers (RFC 9112 §9.6): against a server that ignores it and keeps connections open,
/// one connection per request.
#[test]
fn a_clients_connection_close_ends_the_connection() {
    let srv = HostileServer::answering("ignores-close", hostile::ok("ok"));
    let run = run_ok(
        &srv.url("/"),
        &["-H", "Connection: close", "-w", "1", "-c", "1", "-n", "5"],
    );
    assert_no_errors(&run.r);
    assert_replies(&run.r, &[("2xx", 5)]);
    assert_eq!(num(&run.r, "connections.opened"), 5);
    assert_eq!(num(&run.r, "connections.reused"), 0);
    assert!(wait_until(Duration::from_secs(5), || srv.connections() == 5));
    assert_eq!(srv.requests(), 5);
}
