//! httperf's remaining options on volley's engine: `--wlog`, `--print-request` and
//! `--print-reply`, `--http-version=1.0`, `--failure-status` with `--retry-on-failure`,
//! `--session-cookies`, and `--send-buffer`/`--recv-buffer`.

use std::collections::BTreeMap;
use std::process::Command;

use volley_testsupport::hostile::{self, HostileServer, Step};
use volley_testsupport::{Route, Scratch, ServerConfig, TestServer};

use crate::volley;

pub(crate) fn base(port: u16, uri: &str) -> Vec<String> {
    [
        "--server",
        "127.0.0.1",
        "--port",
        &port.to_string(),
        "--uri",
        uri,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// The targets each connection carried, in order, connections in order.
fn by_conn(srv: &TestServer) -> Vec<Vec<String>> {
    let mut m: BTreeMap<u64, Vec<String>> = BTreeMap::new();
    for r in srv.received() {
        m.entry(r.conn).or_default().push(r.target.clone());
    }
    m.into_values().collect()
}

fn line<'a>(text: &'a str, prefix: &str) -> &'a str {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no '{prefix}' line in:\n{text}"))
}

/// `volley httperf --server 127.0.0.1 --port PORT --uri URI EXTRA…`, which must complete
/// (exit code 0, or 4 when no request got a reply).
fn httperf_ok(port: u16, uri: &str, extra: &[&str]) -> volley_testsupport::Output {
    let out = volley()
        .arg("httperf")
        .args(base(port, uri))
        .args(extra.iter().copied())
        .run();
    assert_eq!(out.code, out.complete_code(), "{extra:?}: {}", out.stderr);
    out
}

#[test]
fn wlog_replays_a_uri_log_in_order_over_workers() {
    let scratch = Scratch::new("wlog");
    let log = scratch.path("uris");
    std::fs::write(&log, b"/u0\0/u1\0/u2\0/u3\0\n/u4\0").unwrap();
    let wlog = |wrap: &str| format!("--wlog={wrap},{}", log.display());

    // Without wrap-around the log ends the run: 5 calls, 2 per connection.
    let srv = TestServer::start(ServerConfig::default());
    let out = httperf_ok(
        srv.addr().port(),
        "/",
        &[
            &wlog("n"),
            "--rate=200",
            "--num-conns=10",
            "--num-calls=2",
            "--workers=2",
        ],
    );
    let mut conns = by_conn(&srv);
    conns.sort();
    assert_eq!(conns, [vec!["/u0", "/u1"], vec!["/u2", "/u3"], vec!["/u4"]]);
    assert!(
        out.stdout
            .contains("Total: connections 3 requests 5 replies 5"),
        "{}",
        out.stdout
    );

    // With wrap-around: 4 connections of 3 calls walk the log 2.4 times, in order.
    let srv = TestServer::start(ServerConfig::default());
    httperf_ok(
        srv.addr().port(),
        "/",
        &[
            &wlog("y"),
            "--rate=200",
            "--num-conns=4",
            "--num-calls=3",
            "--workers=2",
        ],
    );
    let mut conns = by_conn(&srv);
    conns.sort();
    assert_eq!(
        conns,
        [
            vec!["/u0", "/u1", "/u2"],
            vec!["/u1", "/u2", "/u3"],
            vec!["/u3", "/u4", "/u0"],
            vec!["/u4", "/u0", "/u1"],
        ]
    );

    // Without --rate: one connection after another, in log order.
    let srv = TestServer::start(ServerConfig::default());
    httperf_ok(srv.addr().port(), "/", &[&wlog("n"), "--num-conns=9"]);
    let order: Vec<String> = srv.received().into_iter().map(|r| r.target).collect();
    assert_eq!(order, ["/u0", "/u1", "/u2", "/u3", "/u4"]);

    // A bad entry is named.
    let bad = scratch.file("bad", "/ok\0no-slash\0");
    let out = volley()
        .arg("httperf")
        .args(["--server=127.0.0.1", &format!("--wlog=n,{}", bad.display())])
        .run();
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(
        out.stderr.contains("entry 2") && out.stderr.contains("no-slash"),
        "{}",
        out.stderr
    );
}

/// The line prefixes of the printed requests and replies (`SH0`, `RS1`, …), in order.
fn print_prefixes(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .filter(|l| {
            l.len() > 2
                && ["SH", "SB", "SS", "RH", "RB", "RS"].contains(&&l[..2])
                && l[2..].starts_with(|c: char| c.is_ascii_digit())
        })
        .map(|l| l[..l.find(':').unwrap()].to_string())
        .collect()
}

#[test]
fn print_request_and_reply_show_every_message_in_httperfs_lines() {
    let body = "first line\nsecond\n";
    let srv = TestServer::start(ServerConfig::new(volley_testsupport::Reply::ok(body)));
    let mut args = base(srv.addr().port(), "/p");
    args.extend(
        [
            "--num-conns=2",
            "--num-calls=1",
            "--print-request",
            "--print-reply",
        ]
        .map(String::from),
    );
    let out = volley().arg("httperf").args(&args).run();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let text = &out.stdout;
    assert!(
        text.starts_with("httperf --print-reply --print-request "),
        "{text}"
    );
    assert!(text.contains("SH0:GET /p HTTP/1.1\r\n"), "{text}");
    assert!(text.contains("\nSH0:\r\nSS0: header "), "{text}");
    assert!(text.contains("RH1:HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(
        text.contains("RB1:first line\nRB1:second\nRS1: header "),
        "{text}"
    );
    assert!(
        line(text, "RS0:").ends_with(&format!("content {} footer 0", body.len())),
        "{text}"
    );
    // Everything printed comes before the report.
    let report = text.find("Total:").unwrap();
    assert!(text.rfind("RS1:").unwrap() < report);

    // httperf itself prints the same lines for the same exchange.
    if Command::new("httperf").arg("--version").output().is_ok() {
        let theirs_srv = TestServer::start(ServerConfig::new(volley_testsupport::Reply::ok(body)));
        let theirs = Command::new("httperf")
            .args(args.iter().map(|a| {
                a.replace(
                    &srv.addr().port().to_string(),
                    &theirs_srv.addr().port().to_string(),
                )
            }))
            .output()
            .expect("httperf runs");
        let theirs = String::from_utf8_lossy(&theirs.stdout).to_string();
        assert_eq!(print_prefixes(text), print_prefixes(&theirs), "{theirs}");
    }

    // Header only: no body lines; a chunked body prints its data, not its framing.
    let chunked = HostileServer::answering(
        "chunked",
        hostile::chunked("6\r\nhello\n\r\n6\r\nworld\n\r\n0\r\n\r\n"),
    );
    let out = httperf_ok(
        chunked.addr().port(),
        "/c",
        &["--print-reply=body", "--print-request=h"],
    );
    let prefixes = print_prefixes(&out.stdout);
    assert!(
        !prefixes
            .iter()
            .any(|p| p.starts_with("SB") || p.starts_with("RH"))
    );
    assert!(
        out.stdout.contains("\nRB0:hello\nRB0:world\nRS0: header "),
        "{}",
        out.stdout
    );
    assert!(
        line(&out.stdout, "RS0:").contains("content 12 "),
        "{}",
        out.stdout
    );

    // Printing and --json both want stdout.
    let out = volley()
        .arg("httperf")
        .args(["--server=127.0.0.1", "--print-reply", "--json"])
        .run();
    assert_eq!(out.code, Some(2), "{}", out.stderr);
}

#[test]
fn http_1_0_requests_ask_for_keep_alive_and_sessions_close_after_each_reply() {
    let srv = HostileServer::answering("http10", hostile::ok("x"));
    let out = httperf_ok(
        srv.addr().port(),
        "/v",
        &["--http-version=1.0", "--num-conns=1", "--num-calls=3"],
    );
    let heads = srv.received_heads();
    assert_eq!(heads.len(), 3, "{heads:?}");
    for h in &heads {
        assert!(h.starts_with("GET /v HTTP/1.0\r\n"), "{h}");
        assert!(h.contains("\r\nConnection: keep-alive\r\n"), "{h}");
    }
    assert_eq!(srv.connections(), 1, "the reply kept the connection");
    assert!(
        out.stdout.contains(" --http-version=1.0 "),
        "{}",
        out.stdout
    );

    // A session over HTTP/1.0: a connection per call, nothing asked.
    let srv = HostileServer::answering("http10-sess", hostile::ok("x"));
    httperf_ok(
        srv.addr().port(),
        "/s",
        &["--http-version=1.0", "--wsess=2,2,0", "--rate=20"],
    );
    let heads = srv.received_heads();
    assert_eq!(heads.len(), 4);
    assert!(heads.iter().all(|h| !h.contains("Connection")), "{heads:?}");
    assert_eq!(srv.connections(), 4);
}

/// A server with a login that sets a cookie and a page that fails (503) without one.
fn cookie_server() -> TestServer {
    let mut login = Route::new("/login", 200);
    login
        .headers
        .push(("Set-Cookie".into(), "sid=abc123; Path=/; HttpOnly".into()));
    let mut page = Route::new("/page", 503);
    page.unless_header = Some("Cookie".into());
    TestServer::start(ServerConfig {
        routes: vec![login, page],
        ..ServerConfig::default()
    })
}

fn count(srv: &TestServer, target: &str) -> usize {
    srv.received().iter().filter(|r| r.target == target).count()
}

#[test]
fn failure_status_retry_and_session_cookies() {
    let scratch = Scratch::new("failstatus");
    let log = scratch.file("sessions", "/login\n/page\n/after\n");
    let wsesslog = |n: u32| format!("--wsesslog={n},0,{}", log.display());

    // The 503 fails the session: its last call is never made. The reply is a reply.
    let srv = cookie_server();
    let out = httperf_ok(
        srv.addr().port(),
        "/",
        &[&wsesslog(2), "--rate=20", "--failure-status=503"],
    );
    let text = &out.stdout;
    assert!(
        line(text, "Session rate [sess/s]:").ends_with("(0/2)"),
        "{text}"
    );
    assert!(text.contains("5xx=2"), "{text}");
    assert!(
        line(text, "Errors: total").starts_with("Errors: total 0 "),
        "{text}"
    );
    assert_eq!((count(&srv, "/page"), count(&srv, "/after")), (2, 0));

    // Retried at once, up to volley's cap, then the session fails.
    let srv = cookie_server();
    let out = httperf_ok(
        srv.addr().port(),
        "/",
        &[&wsesslog(1), "--failure-status=503", "--retry-on-failure"],
    );
    assert!(
        line(&out.stdout, "Session rate").ends_with("(0/1)"),
        "{}",
        out.stdout
    );
    assert_eq!(count(&srv, "/page"), 101, "the call and 100 retries");
    assert_eq!(count(&srv, "/after"), 0);

    // With the session's cookie the page answers: every session completes. A session
    // starts without a cookie; the cookie is the Set-Cookie's name=value.
    let srv = cookie_server();
    let out = httperf_ok(
        srv.addr().port(),
        "/",
        &[
            &wsesslog(2),
            "--rate=20",
            "--failure-status=503",
            "--session-cookies",
        ],
    );
    assert!(
        line(&out.stdout, "Session rate").ends_with("(2/2)"),
        "{}",
        out.stdout
    );
    for r in srv.received() {
        let want = (r.target != "/login").then_some("sid=abc123");
        assert_eq!(r.header("Cookie"), want, "{} {:?}", r.target, r.headers);
    }
    assert_eq!(count(&srv, "/after"), 2);

    // --session-cookies needs sessions, as in httperf.
    let out = volley()
        .arg("httperf")
        .args(["--server=127.0.0.1", "--session-cookies"])
        .run();
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(out.stderr.contains("session workload"), "{}", out.stderr);
}

#[test]
fn retry_on_failure_remakes_a_call_whose_new_connection_failed() {
    // The first connection is reset before any reply; the others answer.
    let start = || {
        HostileServer::start("reset-first", |n| {
            if n == 0 {
                vec![Step::ReadRequest, Step::Reset]
            } else {
                vec![
                    Step::ReadRequest,
                    Step::Write(hostile::ok("x")),
                    Step::Repeat,
                ]
            }
        })
    };
    let srv = start();
    let out = httperf_ok(
        srv.addr().port(),
        "/r",
        &["--wsess=1,2,0", "--retry-on-failure"],
    );
    let text = &out.stdout;
    assert!(
        text.contains("Total: connections 2 requests 3 replies 2 "),
        "{text}"
    );
    assert!(
        line(text, "Errors: total").starts_with("Errors: total 1 "),
        "{text}"
    );
    assert!(line(text, "Session rate").ends_with("(1/1)"), "{text}");

    let srv = start();
    let out = httperf_ok(srv.addr().port(), "/r", &["--wsess=1,2,0"]);
    assert!(
        line(&out.stdout, "Session rate").ends_with("(0/1)"),
        "{}",
        out.stdout
    );
    assert_eq!(srv.requests(), 1);
}

#[test]
fn socket_buffer_sizes_are_accepted_and_echoed() {
    let srv = TestServer::start(ServerConfig::default());
    let out = httperf_ok(
        srv.addr().port(),
        "/b",
        &["--send-buffer=4096", "--recv-buffer=16384", "--num-conns=3"],
    );
    assert!(
        out.stdout
            .contains(" --send-buffer=4096 --recv-buffer=16384 --num-conns=3"),
        "{}",
        out.stdout
    );
    assert_eq!(srv.received().len(), 3);
    let out = volley()
        .arg("httperf")
        .args(["--server=127.0.0.1", "--send-buffer=0"])
        .run();
    assert_eq!(out.code, Some(2), "{}", out.stderr);
}

#[test]
fn a_session_logs_bursts_are_pipelined_along_their_boundaries() {
    // The server answers only once it has read both requests of the burst: a client
    // that sent them one after another would time out.
    let two = [hostile::ok("a"), hostile::ok("b")].concat();
    let srv = HostileServer::every_connection(
        "burst-of-two",
        vec![
            Step::ReadRequest,
            Step::ReadRequest,
            Step::Write(two),
            Step::ReadRequest,
            Step::Write(hostile::ok("c")),
            Step::Repeat,
        ],
    );
    let scratch = Scratch::new("bursts");
    let log = scratch.file("log", "/page think=0.05\n  /page.css\n/next\n");
    let out = httperf_ok(
        srv.addr().port(),
        "/",
        &[
            &format!("--wsesslog=3,0,{}", log.display()),
            "--rate=20",
            "--timeout=2",
        ],
    );
    let text = &out.stdout;
    assert!(
        text.contains("Total: connections 3 requests 9 replies 9 "),
        "{text}"
    );
    assert!(line(text, "Session rate").ends_with("(3/3)"), "{text}");
    assert!(
        line(text, "Errors: total").starts_with("Errors: total 0 "),
        "{text}"
    );
    let heads = srv.received_heads();
    let targets: Vec<&str> = heads.iter().map(|h| h.split(' ').nth(1).unwrap()).collect();
    assert_eq!(targets.iter().filter(|t| **t == "/page.css").count(), 3);
}

#[test]
fn server_name_sets_host_and_close_with_reset_resets() {
    let srv = TestServer::start(ServerConfig::default());
    let out = httperf_ok(
        srv.addr().port(),
        "/n",
        &[
            "--server-name=www.example.test",
            "--num-conns=2",
            "--close-with-reset",
        ],
    );
    assert!(
        out.stdout.contains(" --server-name=www.example.test ")
            && out.stdout.contains(" --close-with-reset "),
        "{}",
        out.stdout
    );
    let got = srv.received();
    assert_eq!(got.len(), 2);
    for r in &got {
        assert_eq!(r.header("Host"), Some("www.example.test"));
    }
    // The client's sockets went away with RST: none of them waits in TIME_WAIT.
    let port = srv.addr().port();
    let ss = Command::new("ss")
        .args([
            "-tan",
            "state",
            "time-wait",
            "dst",
            &format!("127.0.0.1:{port}"),
        ])
        .output();
    if let Ok(ss) = ss {
        let text = String::from_utf8_lossy(&ss.stdout);
        assert!(
            !text.contains(&format!("127.0.0.1:{port}")),
            "no TIME_WAIT to the server: {text}"
        );
    }
}

#[test]
fn sessions_with_bursts_keep_cookies_and_do_not_retry_pipelined_calls() {
    let scratch = Scratch::new("burst-rules");
    // A login, then a burst of two calls: both must carry the login's cookie.
    let log = scratch.file("log", "/login\n/page\n  /after\n");
    let srv = cookie_server();
    let out = httperf_ok(
        srv.addr().port(),
        "/",
        &[
            &format!("--wsesslog=2,0,{}", log.display()),
            "--session-cookies",
            "--failure-status=503",
        ],
    );
    assert!(
        line(&out.stdout, "Session rate").ends_with("(2/2)"),
        "{}",
        out.stdout
    );
    for r in srv.received().iter().filter(|r| r.target != "/login") {
        assert_eq!(r.header("Cookie"), Some("sid=abc123"), "{}", r.target);
    }

    // Without the cookie the burst's /page fails: pipelined, it is not retried.
    let srv = cookie_server();
    let out = httperf_ok(
        srv.addr().port(),
        "/",
        &[
            &format!("--wsesslog=1,0,{}", log.display()),
            "--failure-status=503",
            "--retry-on-failure",
        ],
    );
    assert!(
        line(&out.stdout, "Session rate").ends_with("(0/1)"),
        "{}",
        out.stdout
    );
    assert_eq!(count(&srv, "/page"), 1);

    // HTTP/1.0 sessions are not pipelined, whatever --burst-length says.
    let srv = TestServer::start(ServerConfig::default());
    let out = httperf_ok(
        srv.addr().port(),
        "/b",
        &["--wsess=2,4,0", "--burst-length=2", "--http-version=1.0"],
    );
    assert!(
        out.stdout
            .contains("Total: connections 8 requests 8 replies 8 "),
        "{}",
        out.stdout
    );
    assert!(
        line(&out.stdout, "Session rate").ends_with("(2/2)"),
        "{}",
        out.stdout
    );
}

/// Whether httperf is installed; `test` is skipped (outside CI) or fails (in CI) if not.
pub(crate) fn have_httperf(test: &str) -> bool {
    let have = volley_testsupport::have("httperf");
    if !have {
        volley_testsupport::skip(
            test,
            "httperf is not installed (apt-get install httperf; .ci/run does)",
        );
    }
    have
}

/// httperf's run of `base(port, uri)` and `extra`, if httperf is installed (else the test
/// is skipped outside CI, and fails in CI).
pub(crate) fn theirs(test: &str, port: u16, uri: &str, extra: &[&str]) -> Option<String> {
    if !have_httperf(test) {
        return None;
    }
    let out = Command::new("httperf")
        .args(base(port, uri))
        .args(extra)
        .output()
        .expect("httperf runs");
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn think_timeout_alone_ends_a_stalled_reply() {
    // httperf waits --timeout + --think-timeout for a reply, its --timeout 0 when not
    // given: the think-timeout alone must still end a reply that never comes.
    let srv = HostileServer::every_connection("stall", vec![Step::ReadRequest, Step::Hang]);
    let extra = ["--num-conns", "2", "--think-timeout", "0.3"];
    let started = std::time::Instant::now();
    let out = httperf_ok(srv.addr().port(), "/stall", &extra);
    let took = started.elapsed();
    let text = &out.stdout;
    assert!(text.contains("--think-timeout=0.3 "), "{text}");
    assert!(
        text.contains("Total: connections 2 requests 2 replies 0 "),
        "{text}"
    );
    let errors = line(text, "Errors: total");
    assert!(
        errors.starts_with("Errors: total 2 client-timo 2 "),
        "{text}"
    );
    assert!(took < std::time::Duration::from_secs(5), "{took:?}");
    let Some(theirs) = theirs(
        "think_timeout_alone_ends_a_stalled_reply",
        srv.addr().port(),
        "/stall",
        &extra,
    ) else {
        return;
    };
    let head = |t: &str| {
        let l = line(t, "Total:");
        l[..l.find(" test-duration").unwrap()].to_string()
    };
    assert_eq!(head(&theirs), head(text));
    assert_eq!(line(&theirs, "Errors: total"), errors);
}

/// The words after `prefix` in `text`'s line starting with it, numbers only (the
/// deterministic figures of a line, whatever it names them).
fn figures(text: &str, prefix: &str) -> Vec<String> {
    line(text, prefix)
        .split_whitespace()
        .filter(|w| w.parse::<f64>().is_ok())
        .map(str::to_string)
        .collect()
}

#[test]
fn num_sessions_runs_as_num_conns_with_httperf_0_8s_words() {
    // httperf's own README runs `--num-sessions 100 --rate 10 --timeout 1`: the name of
    // --num-conns before httperf 0.9, whose report said "sessions" and "calls" for
    // today's connections and requests. volley runs it so and reports in those words.
    let srv = TestServer::start(ServerConfig::default());
    let port = srv.addr().port();
    let old = ["--num-sessions", "10", "--rate", "10", "--timeout", "1"];
    let out = httperf_ok(port, "/", &old);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        out.stderr.contains(
            "volley httperf: --num-sessions is httperf 0.8's name of --num-conns: the report \
             says sessions and calls"
        ),
        "{}",
        out.stderr
    );
    let text = &out.stdout;
    assert!(text.contains(" --num-sessions=10 "), "{text}");
    assert!(
        text.contains("\nTotal: sessions 10 calls 10 replies 10 test-duration "),
        "{text}"
    );
    for gone in [
        "Connection ",
        "Request rate",
        "Request size",
        "connections 10",
    ] {
        assert!(!text.contains(gone), "{gone}: {text}");
    }
    let rate = line(text, "Session rate: ");
    assert!(
        rate.contains(" sess/s (") && rate.contains(" ms/sess, <="),
        "{rate}"
    );
    assert!(rate.ends_with(" concurrent sessions)"), "{rate}");
    assert!(
        line(text, "Session time [ms]: min ").contains(" stddev "),
        "{text}"
    );
    line(text, "Session time [ms]: connect ");
    let call = line(text, "Call rate: ");
    assert!(
        call.contains(" call/s (") && call.ends_with(" ms/call)"),
        "{call}"
    );
    assert_eq!(srv.received().len(), 10);
    // The same run under today's name: the same counts and request size.
    let new_srv = TestServer::start(ServerConfig::default());
    let new = ["--num-conns", "10", "--rate", "10", "--timeout", "1"];
    let today = httperf_ok(new_srv.addr().port(), "/", &new).stdout;
    assert!(
        today.contains("\nTotal: connections 10 requests 10 replies 10 test-duration "),
        "{today}"
    );
    assert_eq!(
        figures(text, "Call size [B]: "),
        figures(&today, "Request size [B]: ")
    );
    assert_eq!(
        figures(text, "Session length [replies/sess]: "),
        figures(&today, "Connection length [replies/conn]: ")
    );
    assert_eq!(line(text, "Reply status:"), line(&today, "Reply status:"));
    // Both names: one count given twice.
    let both = volley()
        .arg("httperf")
        .args(base(port, "/"))
        .args(["--num-sessions=10", "--num-conns=10"])
        .run();
    assert_eq!(both.code, Some(2), "{}", both.stderr);
    assert!(both.stderr.contains("give one of them"), "{}", both.stderr);
    assert_eq!(srv.received().len(), 10, "the refused run sent nothing");
    // httperf 0.9 no longer knows the old name.
    if !have_httperf("num_sessions_runs_as_num_conns_with_httperf_0_8s_words") {
        return;
    }
    let theirs_srv = TestServer::start(ServerConfig::default());
    let theirs = Command::new("httperf")
        .args(base(theirs_srv.addr().port(), "/"))
        .args(old)
        .output()
        .expect("httperf runs");
    assert_eq!(theirs.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&theirs.stderr);
    assert!(stderr.contains("unrecognized option"), "{stderr}");
    assert!(theirs_srv.received().is_empty());
}

/// One run of [`max_connections_caps_a_sessions_connections_as_in_httperf`]: the extra
/// options, then what both volley and httperf must show.
struct CapRun<'a> {
    extra: Vec<&'a str>,
    /// Connections the server accepts.
    conns: u64,
    requests: u64,
    /// The `Session:` line's tail.
    session: &'a str,
    /// The `Session length histogram:` line's tail.
    lengths: &'a str,
    /// Sessions ok of all: `(4/4)`.
    ok: &'a str,
}

#[test]
fn max_connections_caps_a_sessions_connections_as_in_httperf() {
    // Two sessions: a page, then a burst of its page and four embedded objects, then a
    // last page; and a page with one embedded object.
    let scratch = Scratch::new("maxconn");
    let log = scratch.path("s.log");
    std::fs::write(
        &log,
        "/a\n/p think=0.05\n  /b\n  /c\n  /d\n  /e\n/f\n\n/g\n  /h\n",
    )
    .unwrap();
    let wsesslog = format!("--wsesslog=4,0,{}", log.display());
    let with_log = |extra: &[&'static str], conns: u64, session: &'static str| CapRun {
        extra: [&[wsesslog.as_str()], extra].concat(),
        conns,
        requests: 18,
        session,
        lengths: "0 0 2 0 0 0 0 2",
        ok: "(4/4)",
    };
    let runs = [
        // The bursts fit one connection's pipeline: one connection per session, whatever
        // --max-connections allows (httperf opens the next only when one is full).
        with_log(&["--max-connections=2"], 4, "avg 1.00 connections/session"),
        with_log(
            &["--max-connections=1", "--max-piped-calls=1"],
            4,
            "avg 1.00 connections/session",
        ),
        // One call a connection: a burst's page goes alone, then its embedded objects
        // over two connections (the long burst's session) or one (the short one's).
        with_log(
            &["--max-connections=2", "--max-piped-calls=1"],
            6,
            "avg 1.50 connections/session",
        ),
        // Two pipelined calls a connection: the long burst's page alone, then /b /c on
        // its connection and /d /e on a second one.
        with_log(
            &["--max-connections=2", "--max-piped-calls=2"],
            6,
            "avg 1.50 connections/session",
        ),
        // HTTP/1.0: a connection per call, up to four at once.
        with_log(
            &["--max-connections=4", "--http-version=1.0"],
            18,
            "avg 4.50 connections/session",
        ),
        with_log(&["--http-version=1.0"], 18, "avg 4.50 connections/session"),
        // --wsess: bursts of 3, one call a connection: each burst's first call alone,
        // then two at once over the session's two connections.
        CapRun {
            extra: vec![
                "--wsess=2,6,0.1",
                "--burst-length=3",
                "--max-connections=2",
                "--max-piped-calls=1",
            ],
            conns: 4,
            requests: 12,
            session: "avg 2.00 connections/session",
            lengths: "0 0 0 0 0 0 2",
            ok: "(2/2)",
        },
    ];
    let have = have_httperf("max_connections_caps_a_sessions_connections_as_in_httperf");
    for run in &runs {
        let extra = &run.extra;
        let mut args = vec!["--rate", "20", "--timeout", "5"];
        args.extend(extra.iter().copied());
        let srv = TestServer::start(ServerConfig::default());
        let out = volley()
            .arg("httperf")
            .args(base(srv.addr().port(), "/"))
            .args(args.iter().copied())
            .run();
        assert_eq!(out.code, Some(0), "{extra:?}: {}", out.stderr);
        let ours = &out.stdout;
        let (conns, requests) = (run.conns, run.requests);
        assert!(
            ours.contains(&format!(
                "Total: connections {conns} requests {requests} replies {requests} "
            )),
            "{extra:?}: {ours}"
        );
        assert_eq!(srv.connections(), conns, "{extra:?}: {ours}");
        assert_eq!(srv.requests(), requests, "{extra:?}");
        assert_eq!(line(ours, "Session: "), format!("Session: {}", run.session));
        assert!(ours.contains(run.ok), "{extra:?}: {ours}");
        assert_eq!(
            line(ours, "Session length histogram"),
            format!("Session length histogram: {}", run.lengths)
        );
        if !have {
            continue;
        }
        let theirs_srv = TestServer::start(ServerConfig::default());
        let theirs = Command::new("httperf")
            .args(base(theirs_srv.addr().port(), "/"))
            .args(&args)
            .output()
            .expect("httperf runs");
        let theirs = String::from_utf8_lossy(&theirs.stdout);
        let total = |t: &str| {
            let l = line(t, "Total:");
            l[..l.find(" test-duration").unwrap()].to_string()
        };
        assert_eq!(total(&theirs), total(ours), "{extra:?}: {theirs}");
        assert_eq!(theirs_srv.connections(), conns, "httperf {extra:?}");
        for l in ["Session: ", "Session length histogram", "Session failtime"] {
            assert_eq!(line(&theirs, l), line(ours, l), "{extra:?}");
        }
        assert!(theirs.contains(run.ok), "{extra:?}: {theirs}");
    }
    // Over the limit httperf has: refused by both.
    let out = volley()
        .arg("httperf")
        .args(["--server=127.0.0.1", &wsesslog, "--max-connections=5"])
        .run();
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(out.stderr.contains("1 to 4"), "{}", out.stderr);
}

/// Which gaps between the requests `srv` received, in order, are at least `think`.
fn think_gaps(srv: &TestServer, think: std::time::Duration) -> Vec<bool> {
    let at: Vec<_> = srv.received().iter().map(|r| r.at).collect();
    at.windows(2).map(|w| w[1] - w[0] >= think).collect()
}

#[test]
fn a_wsess_think_time_follows_each_burst_as_in_httperf() {
    // One session of two bursts of three calls, one call a connection over two: the
    // think time comes between the bursts (after the third call), not after each call;
    // within a burst the first call goes alone, then the other two at once.
    let think = std::time::Duration::from_millis(200);
    let args = [
        "--wsess=1,6,0.2",
        "--burst-length=3",
        "--max-connections=2",
        "--max-piped-calls=1",
        "--rate=10",
        "--timeout=5",
    ];
    let expected = [false, false, true, false, false];
    let srv = TestServer::start(ServerConfig::default());
    let out = httperf_ok(srv.addr().port(), "/", &args);
    assert!(
        out.stdout
            .contains("Total: connections 2 requests 6 replies 6 "),
        "{}",
        out.stdout
    );
    assert_eq!(think_gaps(&srv, think), expected, "{}", out.stdout);
    // Each burst: the first call on the session's first connection, then one call on
    // each connection.
    let ours: Vec<usize> = by_conn(&srv).iter().map(Vec::len).collect();
    assert_eq!(ours, [4, 2]);
    if !have_httperf("a_wsess_think_time_follows_each_burst_as_in_httperf") {
        return;
    }
    let theirs_srv = TestServer::start(ServerConfig::default());
    let out = Command::new("httperf")
        .args(base(theirs_srv.addr().port(), "/"))
        .args(args)
        .output()
        .expect("httperf runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("Total: connections 2 requests 6 replies 6 "),
        "{text}"
    );
    assert_eq!(think_gaps(&theirs_srv, think), expected, "{text}");
    let theirs: Vec<usize> = by_conn(&theirs_srv).iter().map(Vec::len).collect();
    assert_eq!(theirs, ours);
}

#[test]
fn a_spread_bursts_failed_call_fails_its_session_and_the_others_still_count() {
    // HTTP/1.0: /a alone, then /b /c /d at once over three connections; /c has the
    // failure status, so the session fails and /e never goes out. /b and /d were under
    // way: they end as replies (httperf drops them).
    let scratch = Scratch::new("maxconn-fail");
    let log = scratch.path("f.log");
    std::fs::write(&log, "/a\n  /b\n  /c\n  /d\n/e\n").unwrap();
    let srv = TestServer::start(ServerConfig::default().with_route(Route::new("/c", 404)));
    let out = httperf_ok(
        srv.addr().port(),
        "/",
        &[
            &format!("--wsesslog=2,0,{}", log.display()),
            "--rate=20",
            "--timeout=5",
            "--http-version=1.0",
            "--failure-status=404",
        ],
    );
    let text = &out.stdout;
    assert!(
        text.contains("Total: connections 8 requests 8 replies 8 "),
        "{text}"
    );
    assert_eq!((srv.connections(), count(&srv, "/e")), (8, 0));
    assert!(line(text, "Session rate").ends_with("(0/2)"), "{text}");
    assert_eq!(
        line(text, "Session length histogram"),
        "Session length histogram: 0 0 0 0 2"
    );
}

#[test]
fn a_pipelined_spread_bursts_failed_call_fails_its_session() {
    // Two pipelined calls a connection over two: /a alone, then /b /c on the session's
    // connection and /d /e on a second one. /d has the failure status: the session
    // fails and /f never goes out; /b /c /e were under way and end as replies.
    let scratch = Scratch::new("maxconn-piped-fail");
    let log = scratch.path("f.log");
    std::fs::write(&log, "/a\n  /b\n  /c\n  /d\n  /e\n/f\n").unwrap();
    let srv = TestServer::start(ServerConfig::default().with_route(Route::new("/d", 404)));
    let out = httperf_ok(
        srv.addr().port(),
        "/",
        &[
            &format!("--wsesslog=1,0,{}", log.display()),
            "--rate=20",
            "--timeout=5",
            "--max-connections=2",
            "--max-piped-calls=2",
            "--failure-status=404",
        ],
    );
    let text = &out.stdout;
    assert!(
        text.contains("Total: connections 2 requests 5 replies 5 "),
        "{text}"
    );
    let ours: Vec<Vec<String>> = by_conn(&srv);
    assert_eq!(ours, [vec!["/a", "/b", "/c"], vec!["/d", "/e"]]);
    assert!(line(text, "Session rate").ends_with("(0/1)"), "{text}");
}
