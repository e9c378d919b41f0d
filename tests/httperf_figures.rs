//! `volley httperf`'s report figures computed as httperf computes them (request size,
//! reply time, footer bytes, concurrent connections), each next to httperf itself where
//! it is installed; and where volley counts otherwise (a FIN mid-body), that it does.

use volley_testsupport::hostile::{self, HostileServer};
use volley_testsupport::{Output, TestServer};

use crate::httperf_options::{base, theirs};
use crate::volley;

fn line<'a>(text: &'a str, prefix: &str) -> &'a str {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no '{prefix}' line in:\n{text}"))
}

/// The number after `key ` on `text`'s line starting with `prefix`.
fn field(text: &str, prefix: &str, key: &str) -> f64 {
    let l = line(text, prefix);
    let at = l
        .find(&format!("{key} "))
        .unwrap_or_else(|| panic!("no '{key}' in '{l}'"));
    l[at + key.len() + 1..]
        .split([' ', ')'])
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no number after '{key}' in '{l}'"))
}

fn ours(port: u16, uri: &str, extra: &[&str]) -> Output {
    let out = volley()
        .arg("httperf")
        .args(base(port, uri))
        .args(extra.iter().copied())
        .run();
    assert_eq!(out.code, out.complete_code(), "{extra:?}: {}", out.stderr);
    out
}

#[test]
fn footer_bytes_are_the_chunked_trailer_section_as_in_httperf() {
    let reply = hostile::chunked("5\r\nhello\r\n0\r\nX-A: 1\r\nX-Bb: 22\r\n\r\n");
    let srv = HostileServer::answering("trailers", reply);
    let extra = ["--num-conns", "3", "--timeout", "5"];
    let out = ours(srv.addr().port(), "/t", &extra);
    // 47 bytes of head, 5 of chunk data, 20 of trailer section (its last CRLF included).
    let want = "Reply size [B]: header 47.0 content 5.0 footer 20.0 (total 72.0)";
    assert_eq!(line(&out.stdout, "Reply size"), want, "{}", out.stdout);
    let Some(h) = theirs("footer_bytes…", srv.addr().port(), "/t", &extra) else {
        return;
    };
    assert_eq!(line(&h, "Reply size"), want, "httperf:\n{h}");
}

#[test]
fn reply_time_counts_4xx_and_5xx_replies_as_httperf() {
    let srv = HostileServer::answering(
        "not-found",
        hostile::raw("HTTP/1.1 404 Not Found", "Content-Length: 2\r\n", b"no"),
    );
    let extra = ["--num-conns", "3", "--timeout", "5"];
    let out = ours(srv.addr().port(), "/nf", &extra);
    let l = line(&out.stdout, "Reply time");
    assert!(!l.contains("n/a"), "{}", out.stdout);
    assert!(field(&out.stdout, "Reply time", "response") > 0.0, "{l}");
    assert_eq!(field(&out.stdout, "Reply size", "header"), 45.0);
    let Some(h) = theirs("reply_time…", srv.addr().port(), "/nf", &extra) else {
        return;
    };
    assert_eq!(line(&h, "Reply status"), line(&out.stdout, "Reply status"));
    assert!(field(&h, "Reply time", "response") > 0.0, "httperf:\n{h}");
    assert_eq!(line(&h, "Reply size"), line(&out.stdout, "Reply size"));
}

#[test]
fn request_size_is_the_mean_over_requests_sent() {
    let srv = TestServer::start(Default::default());
    let dir = std::env::temp_dir().join(format!("volley-reqsize-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("sessions.log");
    // One session of two calls whose URIs differ by 4 bytes: the mean is 2 more than the
    // first request's size.
    std::fs::write(&log, "/a\n/abcde\n").unwrap();
    let sess = format!("--wsesslog=2,0,{}", log.display());
    let extra = [sess.as_str(), "--rate", "50", "--timeout", "5"];
    let one = ours(srv.addr().port(), "/a", &["--num-conns", "1"]);
    let first = field(&one.stdout, "Request size", "[B]:");
    let out = ours(srv.addr().port(), "/", &extra);
    let mean = field(&out.stdout, "Request size", "[B]:");
    let h = theirs("request_size…", srv.addr().port(), "/", &extra).map(|h| {
        let h_one = theirs("", srv.addr().port(), "/a", &["--num-conns", "1"]).unwrap();
        (
            field(&h_one, "Request size", "[B]:"),
            field(&h, "Request size", "[B]:"),
        )
    });
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(mean, first + 2.0, "{}", out.stdout);
    if let Some((h_first, h_mean)) = h {
        assert_eq!(h_mean, h_first + 2.0, "httperf: {h_first} then {h_mean}");
    }
}

#[test]
fn concurrent_connections_are_those_open_at_once_over_workers() {
    // Two workers, one short connection every 50 ms: never two open at once. The sum of
    // the workers' peaks would say 2.
    let srv = TestServer::start(Default::default());
    let extra = ["--num-conns", "6", "--rate", "20", "--timeout", "5"];
    let mut with_workers = extra.to_vec();
    with_workers.extend(["--workers", "2"]);
    let out = ours(srv.addr().port(), "/c", &with_workers);
    let l = line(&out.stdout, "Connection rate");
    assert!(l.ends_with("<=1 concurrent connections)"), "{}", out.stdout);
    let Some(h) = theirs("concurrent…", srv.addr().port(), "/c", &extra) else {
        return;
    };
    let hl = line(&h, "Connection rate");
    assert!(hl.ends_with("<=1 concurrent connections)"), "httperf: {hl}");
}

#[test]
fn a_close_mid_body_is_an_error_where_httperf_counts_a_reply() {
    // Content-Length 100, 40 bytes, FIN: httperf ends the reply at the close and counts
    // a 2xx reply of 40 bytes; volley counts `protocol/incomplete` (README, "Where volley
    // differs").
    let srv = hostile::s35_short_body();
    let extra = ["--num-conns", "2", "--timeout", "5"];
    let out = ours(srv.addr().port(), "/short", &extra);
    assert!(
        line(&out.stdout, "Total:").contains("requests 2 replies 0"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("Errors detail: protocol/incomplete 2"),
        "{}",
        out.stdout
    );
    let Some(h) = theirs("a_close_mid_body…", srv.addr().port(), "/short", &extra) else {
        return;
    };
    assert!(
        line(&h, "Total:").contains("requests 2 replies 2"),
        "httperf:\n{h}"
    );
    assert_eq!(
        line(&h, "Reply status"),
        "Reply status: 1xx=0 2xx=2 3xx=0 4xx=0 5xx=0"
    );
    assert_eq!(field(&h, "Reply size", "content"), 40.0);
    assert_eq!(field(&h, "Errors: total", "total"), 0.0);
}

/// `volley ARGS…` under an open-file limit of `nofile` (soft and hard, so the supervisor
/// cannot raise it), or `None` when `prlimit` is missing (skipped outside CI).
fn limited(test: &str, nofile: u32, args: &[String]) -> Option<Output> {
    if !volley_testsupport::have("prlimit") {
        volley_testsupport::skip(test, "prlimit is not installed (util-linux)");
        return None;
    }
    let out = volley_testsupport::Volley::new("prlimit")
        .arg(format!("--nofile={nofile}:{nofile}"))
        .arg(env!("CARGO_BIN_EXE_volley"))
        .args(args.iter().cloned())
        .deadline(std::time::Duration::from_secs(20))
        .run();
    Some(out)
}

#[test]
fn httperf_overload_opens_connections_until_fd_unavail() {
    // 200 connections in 1 s to a server that never answers, each waiting 2 s, under a
    // limit of 64 descriptors: httperf opens what it can and counts the rest fd-unavail.
    // So does `volley httperf` (its slots, 440, once refused for want of descriptors).
    let srv = hostile::s04_never_replies();
    let mut args = vec!["httperf".to_string()];
    args.extend(base(srv.addr().port(), "/hang"));
    args.extend(
        [
            "--num-conns",
            "200",
            "--rate",
            "200",
            "--timeout",
            "2",
            "--workers",
            "1",
        ]
        .map(String::from),
    );
    let Some(out) = limited("httperf_overload…", 64, &args) else {
        return;
    };
    assert_eq!(
        out.code,
        Some(3),
        "invalid run: {}\n{}",
        out.stdout,
        out.stderr
    );
    let fd = field(&out.stdout, "Errors: fd-unavail", "fd-unavail");
    let timo = field(&out.stdout, "Errors: total", "client-timo");
    assert!(fd > 0.0 && timo > 30.0, "{}", out.stdout);
    assert_eq!(fd + timo, 200.0, "{}", out.stdout);
    assert!(out.stdout.contains("INVALID"), "{}", out.stdout);
    // On time: the schedule's 1 s, the last watchdog's 2 s, and the stop.
    assert!(out.elapsed.as_secs_f64() < 8.0, "took {:?}", out.elapsed);
}

#[test]
fn volleys_own_rate_keeps_its_slot_cap_under_overload() {
    let srv = hostile::s04_never_replies();
    let url = srv.url("/hang");
    let run = |c: &str| {
        let args = [
            &url,
            "--rate",
            "200",
            "-n",
            "40",
            "--timeout",
            "1",
            "-w",
            "1",
            "-c",
            c,
        ];
        let mut a: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        a.push("--json".into());
        limited("volleys_own_rate…", 64, &a)
    };
    // More slots than descriptors: refused before any load, as README's "Caps" says.
    let Some(refused) = run("440") else {
        return;
    };
    assert_eq!(refused.code, Some(2), "{}", refused.stderr);
    // Within the limit: at most -c open, arrivals wait for a slot, no fd-unavail.
    let out = run("20").unwrap();
    let v = out.json();
    assert_eq!(v["errors"]["fd-unavail"], 0, "{}", out.stdout);
    assert!(v["connections"]["max_concurrent"].as_u64().unwrap() <= 20);
    assert_eq!(v["errors"]["client-timo"], 40);
}

/// The rows of the "Call Statistics:" table (`--call-stats`), each split into its cells
/// (the last, the URI, has no spaces here).
fn call_rows(text: &str) -> Vec<Vec<String>> {
    let mut lines = text
        .lines()
        .skip_while(|l| *l != "Call Statistics:")
        .skip(1);
    assert_eq!(lines.next(), Some(""), "no table in:\n{text}");
    lines
        .take_while(|l| !l.is_empty())
        .filter(|l| !l.starts_with("call number") && !l.starts_with(' '))
        .map(|l| l.split_whitespace().map(String::from).collect())
        .collect()
}

#[test]
fn call_stats_show_the_first_calls_in_start_order() {
    let srv = TestServer::start(volley_testsupport::ServerConfig::default());
    let port = srv.addr().port();
    let out = ours(port, "/", &["--num-conns=5", "--call-stats=3"]);
    assert!(
        out.stderr
            .contains("volley httperf: collecting call stats, buffer size = 3"),
        "{}",
        out.stderr
    );
    assert!(
        line(&out.stdout, "httperf ").contains(" --call-stats=3 --call-stats-file= "),
        "{}",
        out.stdout
    );
    let body = field(&out.stdout, "Reply size [B]:", "content");
    let rows = call_rows(&out.stdout);
    assert_eq!(rows.len(), 3, "{}", out.stdout);
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(r.len(), 13, "{r:?}");
        // One call per connection, one after another.
        assert_eq!(
            (r[0].as_str(), r[1].as_str()),
            (&*i.to_string(), &*i.to_string())
        );
        assert_eq!(r[2], "-1", "no --call-stats-file: size unknown");
        assert_eq!(r[3].parse::<f64>().unwrap(), body);
        let secs = |c: usize| r[c].parse::<f64>().unwrap();
        assert!(secs(6) > 0.0 && secs(7) > 0.0, "{r:?}");
        assert!((secs(8) - secs(6) - secs(7)).abs() < 2e-7, "{r:?}");
        assert_eq!(&r[9..], ["200", "0.0000000", "no", "/"]);
    }

    // Two calls a connection, and a file of expected sizes: the second call on a
    // connection has no connect time of its own; % bytes recvd compares the sizes.
    let scratch = volley_testsupport::Scratch::new("callstats");
    let sizes = scratch.file("sizes", &format!("1\n/ {}\n", body as u64 * 2));
    let file = format!("--call-stats-file={}", sizes.display());
    let out = ours(
        port,
        "/",
        &["--num-conns=2", "--num-calls=2", "--call-stats=5", &file],
    );
    assert!(out.stdout.contains(&format!(" --call-stats=5 {file} ")));
    let rows = call_rows(&out.stdout);
    // The calls made, as the build prints them: no rows for calls never made.
    assert_eq!(rows.len(), 4, "{}", out.stdout);
    let conns: Vec<&str> = rows.iter().map(|r| r[1].as_str()).collect();
    assert_eq!(conns, ["0", "0", "1", "1"]);
    for r in &rows {
        assert_eq!(r[2], (body as u64 * 2).to_string());
        assert_eq!(r[4], "50.00");
    }
    assert_eq!(rows[1][6], "0.0000000", "{:?}", rows[1]);
}

#[test]
fn a_call_that_times_out_says_so() {
    let srv = HostileServer::every_connection(
        "stall",
        vec![hostile::Step::ReadRequest, hostile::Step::Hang],
    );
    let out = ours(
        srv.addr().port(),
        "/stall",
        &["--timeout=0.2", "--call-stats=2"],
    );
    let rows = call_rows(&out.stdout);
    assert_eq!(rows.len(), 1, "{}", out.stdout);
    let r = &rows[0];
    assert_eq!(&r[9..], ["0", "0.2000000", "yes-C", "/stall"], "{r:?}");
    let response: f64 = r[7].parse().unwrap();
    assert!((0.2..1.0).contains(&response), "{r:?}");
}

#[test]
fn bad_call_stats_values_are_refused() {
    for bad in [
        "--call-stats=x",
        "--call-stats=-1",
        "--call-stats=0",
        "--call-stats=1000001",
        "--call-stats-file=/nonexistent/sizes",
    ] {
        let out = volley()
            .args(["httperf", "--server", "127.0.0.1", "--port", "1", bad])
            .run();
        assert_eq!(out.code, Some(2), "{bad}: {}", out.stderr);
        let flag = bad.split('=').next().unwrap();
        assert!(out.stderr.contains(flag), "{bad}: {}", out.stderr);
    }
}
