//! End-to-end runs against loopback servers: what volley counts must match what the
//! server saw, byte for byte where bytes are counted.

use serde_json::Value;
use volley_testsupport::{Reply, ServerConfig, TestServer, closed_port};

use crate::volley;

fn server(reply: Reply) -> TestServer {
    TestServer::start(ServerConfig {
        reply,
        ..ServerConfig::default()
    })
}

fn u(v: &Value, path: &str) -> u64 {
    let mut cur = v;
    for key in path.split('.') {
        cur = &cur[key];
    }
    cur.as_u64()
        .unwrap_or_else(|| panic!("{path} is not a number in {v:#}"))
}

/// `started = replies + errors + aborted` in total and for every worker.
pub fn assert_invariant(r: &Value) {
    assert_eq!(
        u(r, "requests.started"),
        u(r, "replies.total") + u(r, "errors.total") + u(r, "requests.aborted"),
        "invariant broken: {r:#}"
    );
    assert_eq!(
        u(r, "requests.completed"),
        u(r, "replies.total") + u(r, "errors.total")
    );
    for w in r["workers"].as_array().expect("workers array") {
        assert_eq!(
            u(w, "requests.started"),
            u(w, "requests.completed") + u(w, "requests.aborted"),
            "worker invariant broken: {w:#}"
        );
    }
}

#[test]
fn exact_request_counts_with_1_2_and_3_workers() {
    for workers in ["1", "2", "3"] {
        let srv = server(Reply::ok("hello\n"));
        let out = volley()
            .args([
                &srv.url("/count"),
                "-w",
                workers,
                "-c",
                "5",
                "-n",
                "1000",
                "--json",
            ])
            .run();
        assert_eq!(out.code, Some(0), "{}", out.stderr);
        let r = out.json();
        assert_eq!(u(&r, "requests.started"), 1000, "workers {workers}");
        assert_eq!(u(&r, "replies.2xx"), 1000);
        assert_eq!(u(&r, "errors.total"), 0);
        assert_eq!(srv.requests(), 1000, "the server read exactly -n requests");
        assert_eq!(
            r["workers"].as_array().unwrap().len(),
            workers.parse::<usize>().unwrap()
        );
        assert_invariant(&r);
    }
}

#[test]
fn keep_alive_connections_are_reused_and_counted() {
    let srv = server(Reply::ok("x"));
    let out = volley()
        .args([&srv.url("/"), "-w", "1", "-c", "2", "-n", "100", "--json"])
        .run();
    let r = out.json();
    assert_eq!(srv.connections(), 2, "one connection per slot");
    assert_eq!(u(&r, "connections.opened"), 2);
    assert_eq!(u(&r, "connections.reused"), 98);
    assert_eq!(
        u(&r, "connections.lifetime_ms.count"),
        2,
        "both connections closed at the end"
    );
    assert_eq!(u(&r, "replies.total"), 100);
    assert_invariant(&r);
}

fn body_bytes_exact(reply: Reply, per_reply: u64, n: u64, expect_conns: Option<u64>) {
    let srv = server(reply);
    let out = volley()
        .args([
            &srv.url("/body"),
            "-w",
            "2",
            "-c",
            "4",
            "-n",
            &n.to_string(),
            "--json",
        ])
        .run();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let r = out.json();
    assert_eq!(u(&r, "replies.2xx"), n, "{r:#}");
    assert_eq!(u(&r, "errors.total"), 0, "{r:#}");
    assert_eq!(
        u(&r, "bytes.body"),
        per_reply * n,
        "body bytes counted exactly"
    );
    assert_eq!(srv.bytes_body_sent(), per_reply * n);
    if let Some(c) = expect_conns {
        assert_eq!(u(&r, "connections.opened"), c);
        assert_eq!(u(&r, "connections.lifetime_ms.count"), c);
    }
    assert_invariant(&r);
}

#[test]
fn content_length_bodies_are_counted_byte_exact() {
    let body = vec![b'a'; 10_000];
    body_bytes_exact(Reply::Fixed { status: 200, body }, 10_000, 200, Some(4));
}

#[test]
fn chunked_bodies_are_counted_byte_exact() {
    let chunks = vec![b"hello ".to_vec(), vec![b'c'; 5000], b"!".to_vec()];
    body_bytes_exact(
        Reply::Chunked {
            status: 200,
            chunks,
        },
        5007,
        200,
        Some(4),
    );
}

#[test]
fn until_close_bodies_are_counted_byte_exact() {
    let body = vec![b'z'; 3000];
    // Every reply ends the connection, so every request opens one.
    body_bytes_exact(
        Reply::UntilClose { status: 200, body },
        3000,
        100,
        Some(100),
    );
}

#[test]
fn statuses_are_counted_by_class() {
    let srv = server(Reply::StatusCycle(vec![200, 404, 503, 301, 201]));
    let out = volley()
        .args([&srv.url("/s"), "-w", "2", "-c", "3", "-n", "500", "--json"])
        .run();
    let r = out.json();
    assert_eq!(u(&r, "replies.2xx"), 200);
    assert_eq!(u(&r, "replies.3xx"), 100);
    assert_eq!(u(&r, "replies.4xx"), 100);
    assert_eq!(u(&r, "replies.5xx"), 100);
    assert_eq!(u(&r, "replies.total"), 500);
    assert_eq!(
        u(&r, "errors.total"),
        0,
        "non-2xx replies are replies, not errors"
    );
    assert_invariant(&r);
}

#[test]
fn connection_refused_is_counted_without_a_hang() {
    let port = closed_port();
    let url = format!("http://127.0.0.1:{port}/");
    let out = volley()
        .args([&url, "-w", "2", "-c", "4", "-n", "200", "--json"])
        .run();
    // Issue 15: a run in which no request got a reply fails (exit code 4).
    assert_eq!(out.code, Some(4), "{}", out.stderr);
    let r = out.json();
    assert_eq!(u(&r, "errors.connrefused"), 200, "{r:#}");
    assert_eq!(u(&r, "errors.total"), 200);
    assert_eq!(u(&r, "replies.total"), 0);
    assert_invariant(&r);
}

#[test]
fn method_headers_and_body_reach_the_server() {
    let srv = server(Reply::ok("ok"));
    let out = volley()
        .args([
            &srv.url("/echo?q=1"),
            "-c",
            "1",
            "-w",
            "1",
            "-n",
            "3",
            "--json",
        ])
        .args([
            "-m", "PUT", "-H", "X-One: 1", "-H", "X-Two: 2", "--body", "payload",
        ])
        .run();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let heads = srv.received_heads();
    assert_eq!(heads.len(), 3);
    let h = &heads[0];
    assert!(h.starts_with("PUT /echo?q=1 HTTP/1.1\r\n"), "{h}");
    assert!(h.contains("X-One: 1\r\nX-Two: 2\r\n"), "{h}");
    assert!(h.contains("Content-Length: 7\r\n"), "{h}");
    assert!(h.contains(&format!("Host: {}\r\n", srv.addr())), "{h}");
}

#[test]
fn duration_runs_end_on_time_and_report_text() {
    let srv = server(Reply::ok("t"));
    let out = volley()
        .args([&srv.url("/"), "-w", "2", "-c", "4", "-d", "1s"])
        .run();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(out.elapsed.as_secs_f64() < 5.0, "took {:?}", out.elapsed);
    for line in [
        "Total: connections ",
        "Request rate: ",
        "Reply status: 1xx=0 2xx=",
        "Errors: total 0 client-timo 0 socket-timo 0 connrefused 0 connreset 0",
        "Errors: fd-unavail 0 addrunavail 0 ftab-full 0 other 0",
    ] {
        assert!(
            out.stdout.contains(line),
            "report lacks {line:?}:\n{}",
            out.stdout
        );
    }
}

#[test]
fn demo_runs_against_its_built_in_target() {
    let out = volley()
        .args(["demo", "-d", "1s", "-c", "4", "-w", "2", "--json"])
        .run();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let r = out.json();
    assert!(u(&r, "replies.2xx") > 0, "{r:#}");
    assert_eq!(u(&r, "errors.total"), 0, "{r:#}");
    assert_invariant(&r);
}

#[test]
fn reply_caps_are_overridable() {
    let chunks = vec![b"abc".to_vec()];
    let srv = server(Reply::Chunked {
        status: 200,
        chunks,
    });
    let out = volley()
        .args([&srv.url("/"), "-w", "1", "-c", "2", "-n", "20", "--json"])
        .args(["--max-trailer-bytes", "8"])
        .run();
    let r = out.json();
    assert_eq!(u(&r, "errors.limit"), 20, "{r:#}");
    assert_eq!(u(&r, "errors_detail.limit.trailers-too-large"), 20);
    assert_eq!(u(&r, "replies.total"), 0);
    assert_invariant(&r);
    // The default cap lets the same replies through.
    let out = volley()
        .args([&srv.url("/"), "-w", "1", "-c", "2", "-n", "20", "--json"])
        .run();
    assert_eq!(u(&out.json(), "replies.2xx"), 20);
}

#[test]
fn a_timed_run_lasts_its_duration_not_its_teardown() {
    // 1500 kept-alive connections are open when the 1 s are over; closing them is not
    // load, and the request rate divides by the duration. The server's end of them lives
    // in this process, so its open-file limit is raised first.
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE).expect("getrlimit");
    let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
    let conns = (getrlimit(Resource::RLIMIT_NOFILE).expect("getrlimit").0 / 2)
        .saturating_sub(200)
        .min(1500);
    assert!(
        conns >= 300,
        "open-file limit too low for this test: {hard}"
    );
    let srv = TestServer::start(ServerConfig::default());
    let out = volley()
        .args([
            &srv.url("/t"),
            "-c",
            &conns.to_string(),
            "-w",
            "1",
            "-d",
            "1s",
            "--json",
            "-q",
        ])
        .deadline(std::time::Duration::from_secs(60))
        .run();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let r = out.json();
    let secs = r["duration_s"].as_f64().unwrap();
    assert!((1.0..1.001).contains(&secs), "duration_s {secs}");
    let rate = r["throughput"]["requests_per_s"].as_f64().unwrap();
    let replies = u(&r, "replies.total") as f64;
    assert!(
        (rate - replies / secs).abs() < 1.0,
        "{rate} vs {replies}/{secs}"
    );
}

/// Issue 13: a connection that lived 2 s reads the same as min, mean, median and max
/// (one sample: its exact lifetime), with a standard deviation of 0. The histogram alone
/// put min at its bucket's bottom and max and median at its top, about 1 ms apart.
#[test]
fn one_long_connection_has_one_lifetime_in_every_statistic() {
    let srv = server(Reply::ok("life\n"));
    for json in [true, false] {
        let mut args = vec![srv.url("/life"), "-w".into(), "1".into()];
        args.extend(["-c", "1", "-d", "1500ms"].map(String::from));
        if json {
            args.push("--json".into());
        }
        let out = volley().args(args).run();
        assert_eq!(out.code, Some(0), "{}", out.stderr);
        if json {
            let r = out.json();
            assert_eq!(r["connections"]["opened"], 1);
            let l = &r["connections"]["lifetime_ms"];
            let v = |k: &str| l[k].as_f64().unwrap_or_else(|| panic!("{k}: {l:#}"));
            assert!(v("min") > 1400.0, "{l:#}");
            for k in ["mean", "p50", "p99", "max"] {
                assert_eq!(v(k), v("min"), "{k} of one sample: {l:#}");
            }
        } else {
            let line = out
                .stdout
                .lines()
                .find(|l| l.starts_with("Connection time [ms]: min"))
                .expect("a connection time line");
            let f: Vec<&str> = line.split_whitespace().collect();
            // Connection time [ms]: min A avg B max C median D stddev E
            let (min, avg, max, median, sd) = (f[4], f[6], f[8], f[10], f[12]);
            assert!(min == avg && avg == max && max == median, "{line}");
            assert_eq!(sd, "0.0", "{line}");
        }
    }
}

/// Issue 15: flags users bring from other tools. `-n` and `-d` together stop at whichever
/// comes first; compound durations (`1s500ms`) are read; wrk's `-t` is taken as `-w` and
/// `--latency` is accepted, each with a note on stderr.
#[test]
fn requests_and_duration_together_and_other_tools_flags() {
    let srv = server(Reply::ok("x"));
    // The requests come first.
    let out = volley()
        .args([&srv.url("/"), "-c", "2", "-n", "5", "-d", "10s", "--json"])
        .run();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let r = out.json();
    assert_eq!(u(&r, "requests.started"), 5);
    assert!(
        out.elapsed < std::time::Duration::from_secs(5),
        "{:?}",
        out.elapsed
    );
    // The duration comes first (a compound one).
    let out = volley()
        .args([&srv.url("/"), "-c", "2", "-n", "100000000", "-d", "1s500ms"])
        .args(["--json", "-t", "2", "--latency"])
        .run();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let r = out.json();
    let secs = r["duration_s"].as_f64().unwrap();
    assert!((1.45..1.7).contains(&secs), "duration_s {secs}");
    assert!(u(&r, "requests.started") < 100_000_000);
    assert_eq!(r["workers"].as_array().unwrap().len(), 2, "-t 2 is -w 2");
    assert!(out.stderr.contains("-t taken as -w"), "{}", out.stderr);
    assert!(out.stderr.contains("--latency"), "{}", out.stderr);
    assert_invariant(&r);
}

/// Issue 15: on a terminal (here `script`'s pseudo-terminal) the progress line shows how
/// far the run is (a bar, the count or the time, an ETA), the request rate and the errors;
/// off a terminal, or with `-q`, nothing is drawn.
#[test]
fn the_progress_line_is_drawn_on_a_terminal_only() {
    if !volley_testsupport::have("script") {
        return volley_testsupport::skip(
            "the_progress_line_is_drawn_on_a_terminal_only",
            "script (util-linux) is not installed",
        );
    }
    let srv = server(Reply::ok("p"));
    let bin = env!("CARGO_BIN_EXE_volley");
    let cmd = format!("{bin} {} -w 1 -c 2 -d 2500ms > /dev/null", srv.url("/"));
    let out = volley_testsupport::Volley::new("script")
        .args(["-qfec", &cmd, "/dev/null"])
        .run();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    for shown in ["ETA", "req/s", "0 errors", "%"] {
        assert!(
            out.stdout.contains(shown),
            "no {shown:?} in {:?}",
            out.stdout
        );
    }
    let quiet = format!("{bin} {} -w 1 -c 2 -d 1500ms -q > /dev/null", srv.url("/"));
    let out = volley_testsupport::Volley::new("script")
        .args(["-qfec", &quiet, "/dev/null"])
        .run();
    assert!(!out.stdout.contains("ETA"), "-q: {:?}", out.stdout);
    let out = volley()
        .args([&srv.url("/"), "-w", "1", "-d", "1500ms"])
        .run();
    assert!(
        !out.stderr.contains("ETA"),
        "not a terminal: {}",
        out.stderr
    );
}
