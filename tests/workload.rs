//! Run files end to end (LoadGen's workload model): URL lists in order, keep-alive modes,
//! delays, iterators, redirects, seeds and the per-request log, each checked against what
//! a loopback server received.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use volley_testsupport::{Received, Reply, Route, Scratch, ServerConfig, TestServer, closed_port};

use crate::run::assert_invariant;
use crate::volley;

/// Runs `volley run FILE ARGS --json -q` and returns the report (exit 0 asserted).
pub(crate) fn run_file(file: &Path, args: &[&str]) -> Value {
    let out = volley()
        .arg("run")
        .arg(file.display().to_string())
        .args(args.iter().copied())
        .args(["--json", "-q"])
        .run();
    assert_eq!(
        out.code,
        Some(0),
        "stderr: {}\nstdout: {}",
        out.stderr,
        out.stdout
    );
    let r = out.json();
    assert_invariant(&r);
    r
}

/// The CSV log as rows of column name → value.
pub(crate) fn read_csv(path: &Path) -> Vec<std::collections::HashMap<String, String>> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header: Vec<String> = lines
        .next()
        .expect("header line")
        .split(',')
        .map(String::from)
        .collect();
    lines
        .map(|line| {
            let fields = split_csv(line);
            assert_eq!(fields.len(), header.len(), "{line}");
            header.iter().cloned().zip(fields).collect()
        })
        .collect()
}

/// Splits one CSV line (quoted fields with doubled quotes).
fn split_csv(line: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                out.last_mut().unwrap().push('"');
            }
            ('"', _) => quoted = !quoted,
            (',', false) => out.push(String::new()),
            (c, _) => out.last_mut().unwrap().push(c),
        }
    }
    out
}

fn paths(received: &[Received]) -> Vec<String> {
    received.iter().map(|r| r.target.clone()).collect()
}

fn ms(a: &Received, b: &Received) -> u128 {
    b.at.duration_since(a.at).as_millis()
}

#[test]
fn the_url_list_goes_out_in_order_with_methods_headers_and_bodies() {
    let srv = TestServer::start(ServerConfig::default());
    let dir = Scratch::new("order");
    dir.file("upload.bin", "from a file");
    let port = srv.addr().port();
    let file = dir.file(
        "run.toml",
        &format!(
            r#"
workers = 1
ramp_up = {{ start = 1, max = 1 }}
times = 2
defaults = {{ host = "127.0.0.1", port = {port} }}

[[request]]
uri = "/a?x=1"
headers = ["X-A: 1", ["X-A", "2"], "X-B: 3"]

[[request]]
method = "HUGO"
uri = "/b"
body = "blablub"
headers = ["Host: app.test"]

[[request]]
method = "POST"
url = "http://127.0.0.1:{port}/c"
body = "@upload.bin"
"#
        ),
    );
    let r = run_file(&file, &[]);
    assert_eq!(r["requests"]["started"], 6);
    let got = srv.received();
    assert_eq!(paths(&got), ["/a?x=1", "/b", "/c", "/a?x=1", "/b", "/c"]);
    let a = &got[0];
    assert_eq!(a.method, "GET");
    assert_eq!(a.header_all("X-A"), ["1", "2"]);
    let names: Vec<&str> = a.headers.iter().map(|(n, _)| n.as_str()).collect();
    let (i1, i3) = (
        names.iter().position(|n| *n == "X-A").unwrap(),
        names.iter().position(|n| *n == "X-B").unwrap(),
    );
    assert!(i1 < i3, "order kept: {names:?}");
    assert_eq!(a.header("host"), Some(format!("127.0.0.1:{port}").as_str()));
    let b = &got[1];
    assert_eq!(b.method, "HUGO");
    assert_eq!(b.body, b"blablub");
    assert_eq!(b.header("content-length"), Some("7"));
    assert_eq!(
        b.header_all("host"),
        ["app.test"],
        "a given Host is not doubled"
    );
    let c = &got[2];
    assert_eq!(
        (c.method.as_str(), c.body.as_slice()),
        ("POST", &b"from a file"[..])
    );
    assert_eq!(r["workload"]["urls"], 3);
    assert_eq!(r["workload"]["rounds"], 2);
}

#[test]
fn keepalive_modes_decide_which_connection_carries_each_request() {
    let srv = TestServer::start(ServerConfig::default());
    let other = TestServer::start(ServerConfig::default());
    let dir = Scratch::new("keepalive");
    let (p, q) = (srv.addr().port(), other.addr().port());
    let entry = |path: &str, mode: &str| {
        format!("[[request]]\nurl = \"http://127.0.0.1:{p}{path}\"\nkeepalive = {mode}\n")
    };
    let mut text = String::from("workers = 1\nramp_up = { max = 1 }\ntimes = 1\n");
    // LoadGen's numbers: 0 none, 1 use, 2 store, 3 both.
    for (path, mode) in [
        ("/e0", "\"both\""),
        ("/e1", "\"both\""),
        ("/e2", "0"),
        ("/e3", "2"),
        ("/e4", "1"),
        ("/e5", "3"),
    ] {
        text.push_str(&entry(path, mode));
    }
    // Another address: the kept connections to the first server are not used for it.
    text.push_str(&format!("[[request]]\nurl = \"http://127.0.0.1:{q}/x\"\n"));
    text.push_str(&entry("/e6", "\"both\""));
    let file = dir.file("run.toml", &text);
    let log = dir.path("log.csv");
    run_file(&file, &["--log", log.to_str().unwrap()]);
    let got = srv.received();
    assert_eq!(
        paths(&got),
        ["/e0", "/e1", "/e2", "/e3", "/e4", "/e5", "/e6"]
    );
    // e2 (none) opens and closes its own; e3 (store) opens one and stores it beside
    // connection 0; e4 (use) takes the newest (2) and closes it; e5 and e6 find 0 still
    // in the worker's cache, the request to the other server between them too.
    let conns: Vec<u64> = got.iter().map(|r| r.conn).collect();
    assert_eq!(conns, [0, 0, 1, 2, 2, 0, 0], "{got:#?}");
    let close: Vec<bool> = got
        .iter()
        .map(|r| r.header("connection") == Some("close"))
        .collect();
    assert_eq!(close, [false, false, true, false, true, false, false]);
    assert_eq!(other.received().len(), 1);
    let cached: Vec<String> = read_csv(&log)
        .iter()
        .map(|row| row["conn_cached"].clone())
        .collect();
    assert_eq!(cached, ["0", "1", "0", "0", "1", "1", "0", "1"]);
}

/// `u64` at a dotted path of the report.
fn num(r: &Value, path: &str) -> u64 {
    path.split('.')
        .fold(r, |v, k| &v[k])
        .as_u64()
        .unwrap_or_else(|| panic!("{path} is not a number in {r:#}"))
}

/// A number (integer or not) at a dotted path of the report.
fn num_f(r: &Value, path: &str) -> f64 {
    path.split('.')
        .fold(r, |v, k| &v[k])
        .as_f64()
        .unwrap_or_else(|| panic!("{path} is not a number in {r:#}"))
}

// Issue 18: a URL list alternating two servers reuses connections from the worker's
// keep-alive cache instead of opening one per request.
#[test]
fn issue_18_a_list_alternating_two_servers_keeps_a_connection_per_slot_and_server() {
    let a = TestServer::start(ServerConfig::default());
    let b = TestServer::start(ServerConfig::default());
    let dir = Scratch::new("kacache");
    let text = format!(
        "workers = 2\nramp_up = {{ max = 6 }}\ntimes = 20\n\
         [[request]]\nurl = \"{}\"\n[[request]]\nurl = \"{}\"\nkeepalive = \"both\"\n",
        a.url("/a"),
        b.url("/b")
    );
    let file = dir.file("run.toml", &text);
    let log = dir.path("log.csv");
    let r = run_file(&file, &["--log", log.to_str().unwrap()]);
    let requests = num(&r, "requests.started");
    assert_eq!(requests, 6 * 20 * 2);
    assert_eq!(num(&r, "errors.total"), 0, "{r:#}");
    assert_eq!((a.requests(), b.requests()), (120, 120));
    // Each slot finds the connection it left on the other server (or another slot's).
    assert!(
        a.connections() <= 6 && b.connections() <= 6,
        "{} {}",
        a.connections(),
        b.connections()
    );
    let opened = num(&r, "connections.opened");
    assert_eq!(opened, a.connections() + b.connections());
    assert_eq!(num(&r, "connections.reused"), requests - opened);
    let cached = read_csv(&log)
        .iter()
        .filter(|row| row["conn_cached"] == "1")
        .count() as u64;
    assert_eq!(cached, requests - opened);
}

#[test]
fn an_open_loop_over_a_url_list_reuses_cached_connections_too() {
    let a = TestServer::start(ServerConfig::default());
    let b = TestServer::start(ServerConfig::default());
    let dir = Scratch::new("kacache-open");
    let text = format!(
        "workers = 1\nramp_up = {{ max = 4 }}\n\
         [[request]]\nurl = \"{}\"\n[[request]]\nurl = \"{}\"\n",
        a.url("/a"),
        b.url("/b")
    );
    let file = dir.file("run.toml", &text);
    // 30 sessions (walks of the list) at 300/s.
    let r = run_file(&file, &["--rate", "300", "-n", "30"]);
    let requests = num(&r, "requests.started");
    assert_eq!(requests, 60);
    assert_eq!(num(&r, "errors.total"), 0, "{r:#}");
    assert!(
        a.connections() <= 4 && b.connections() <= 4,
        "{} {}",
        a.connections(),
        b.connections()
    );
    let opened = num(&r, "connections.opened");
    assert_eq!(num(&r, "connections.reused"), requests - opened);
}

#[test]
fn cached_connections_the_server_closes_while_idle_are_dropped_without_errors() {
    // The servers end a connection idle for 50 ms; the slots come back to each after
    // 250 ms or more. The second slot starts 125 ms after the first, so the two never
    // come to one server within 50 ms of each other: the worker's cache could otherwise
    // hand one slot's fresh connection to the other (a legitimate reuse, on a machine slow
    // enough to put a reply between the two starts).
    let idle = Duration::from_millis(50);
    let a = TestServer::start(ServerConfig::default().with_idle_close(idle));
    let b = TestServer::start(ServerConfig::default().with_idle_close(idle));
    let dir = Scratch::new("kacache-idle");
    let text = format!(
        "workers = 1\nramp_up = {{ start = 1, max = 2, duration = \"125ms\" }}\ntimes = 3\n\
         defaults = {{ postdelay = 0.25 }}\n\
         [[request]]\nurl = \"{}\"\n[[request]]\nurl = \"{}\"\n",
        a.url("/a"),
        b.url("/b")
    );
    let file = dir.file("run.toml", &text);
    let r = run_file(&file, &[]);
    assert_eq!(num(&r, "requests.started"), 12);
    // No connection outlived the servers' idle limit by a postdelay: none carried requests
    // across an idle spell of 250 ms.
    assert!(
        num_f(&r, "connections.lifetime_ms.max") < 250.0,
        "a connection lived past an idle spell: {r:#}"
    );
    assert_eq!(num(&r, "errors.total"), 0, "{r:#}");
    assert_eq!(num(&r, "requests.retried"), 0, "{r:#}");
    // A connection the server ended while idle is never reused: each is seen to end and
    // dropped, and the next request opens a new one. (A server thread late to close, on a
    // loaded machine, may leave one reusable: that reuse then succeeds, and is counted.)
    let opened = num(&r, "connections.opened");
    let reused = num(&r, "connections.reused");
    assert_eq!(a.connections() + b.connections(), opened, "{r:#}");
    assert_eq!(opened + reused, 12, "{r:#}");
    assert!(
        opened >= 10,
        "the servers closed nearly every idle connection: {r:#}"
    );
    // All but the last connection to each server (closed by the worker at the end) were
    // seen to end while idle.
    assert!(
        num(&r, "anomalies.closed_while_idle") >= opened - 2,
        "{r:#}"
    );
}

#[test]
fn pre_and_post_delays_space_the_requests() {
    let srv = TestServer::start(ServerConfig::default());
    let dir = Scratch::new("delays");
    let p = srv.addr().port();
    let file = dir.file(
        "run.toml",
        &format!(
            r#"
workers = 1
ramp_up = {{ max = 1 }}
times = 1
[[request]]
url = "http://127.0.0.1:{p}/d1"
postdelay = "300ms"
[[request]]
url = "http://127.0.0.1:{p}/d2"
predelay = 0.2
[[request]]
url = "http://127.0.0.1:{p}/d3"
predelay = "100ms"
prejitter = "50ms"
"#
        ),
    );
    let log = dir.path("log.csv");
    let r = run_file(&file, &["--log", log.to_str().unwrap()]);
    let got = srv.received();
    assert_eq!(paths(&got), ["/d1", "/d2", "/d3"]);
    let gap1 = ms(&got[0], &got[1]);
    assert!((490..1500).contains(&gap1), "post 300 + pre 200: {gap1} ms");
    let rows = read_csv(&log);
    let pre3: f64 = rows[2]["pre_delay_ms"].parse().unwrap();
    assert!((50.0..150.0).contains(&pre3), "100 ± 50: {pre3}");
    let gap2 = ms(&got[1], &got[2]) as f64;
    assert!(
        gap2 >= pre3 - 2.0 && gap2 < pre3 + 400.0,
        "{gap2} vs {pre3}"
    );
    assert_eq!(rows[0]["post_delay_ms"], "300.000");
    assert_eq!(rows[1]["pre_delay_ms"], "200.000");
    assert!(r["duration_s"].as_f64().unwrap() >= 0.55);
}

#[test]
fn follow_walks_redirect_chains_and_postpones_the_post_delay() {
    let srv = TestServer::start(
        ServerConfig::default()
            .with_route(Route::new("/r1", 302).header("Location", "/r2"))
            .with_route(Route::new("/r2", 301).header("Location", "r3"))
            .with_route(Route::new("/r3", 200).body(b"done"))
            .with_route(Route::new("/loop", 307).header("Location", "/loop"))
            .with_route(Route::new("/away", 302).header("Location", "http://elsewhere.test/")),
    );
    let q = srv.addr().port();
    let dir = Scratch::new("follow");
    let file = dir.file(
        "run.toml",
        &format!(
            r#"
workers = 1
ramp_up = {{ max = 1 }}
times = 1
iterator = "follow"
max_redirects = 3
defaults = {{ host = "127.0.0.1", port = {q} }}
[[request]]
uri = "/r1"
headers = ["User-Agent: ua-x", "Referer: http://ref.test/", "X-Other: z"]
postdelay = "300ms"
[[request]]
uri = "/loop"
[[request]]
uri = "/away"
[[request]]
uri = "/end"
"#
        ),
    );
    let log = dir.path("log.csv");
    run_file(&file, &["--log", log.to_str().unwrap()]);
    let got = srv.received();
    assert_eq!(
        paths(&got),
        [
            "/r1", "/r2", "/r3", "/loop", "/loop", "/loop", "/loop", "/away", "/end"
        ]
    );
    for hop in &got[1..3] {
        assert_eq!(hop.header("user-agent"), Some("ua-x"));
        assert_eq!(hop.header("referer"), Some("http://ref.test/"));
        assert_eq!(
            hop.header("x-other"),
            None,
            "only UA and Referer are inherited"
        );
    }
    assert!(ms(&got[0], &got[2]) < 250, "hops go without the post-delay");
    assert!(
        ms(&got[2], &got[3]) >= 290,
        "the post-delay comes after the chain"
    );
    let rows = read_csv(&log);
    let hops: Vec<&str> = rows.iter().map(|r| r["hop"].as_str()).collect();
    assert_eq!(hops, ["0", "1", "2", "0", "1", "2", "3", "0", "0"]);
    let posts: Vec<&str> = rows
        .iter()
        .take(3)
        .map(|r| r["post_delay_ms"].as_str())
        .collect();
    assert_eq!(posts, ["0.000", "0.000", "300.000"]);
    assert_eq!(rows[1]["url"], format!("http://127.0.0.1:{q}/r2"));
    assert_eq!(rows[2]["status"], "200");
    assert_eq!(rows[0]["status"], "302");
    assert_eq!(rows[0]["status_line"], "Found");
}

/// Per slot: the (round, index, pre, post) sequence of a logged run.
fn per_slot(
    log: &Path,
) -> std::collections::BTreeMap<String, Vec<(String, String, String, String)>> {
    let mut m = std::collections::BTreeMap::<String, Vec<_>>::new();
    for row in read_csv(log) {
        m.entry(row["slot"].clone()).or_default().push((
            row["round"].clone(),
            row["index"].clone(),
            row["pre_delay_ms"].clone(),
            row["post_delay_ms"].clone(),
        ));
    }
    // The join orders by start time; a slot's own requests are in its order already.
    m
}

#[test]
fn a_seed_repeats_every_slots_requests_and_delays_whatever_the_worker_count() {
    let srv = TestServer::start(ServerConfig::default());
    let p = srv.addr().port();
    let dir = Scratch::new("seeds");
    let mut text = format!(
        "ramp_up = {{ max = 6 }}\ntimes = 3\niterator = \"random_start\"\n\
         defaults = {{ host = \"127.0.0.1\", port = {p}, prejitter = \"2ms\", postdelay = \"1ms\", postjitter = \"1ms\" }}\n"
    );
    for i in 0..5 {
        text.push_str(&format!("[[request]]\nuri = \"/u{i}\"\n"));
    }
    let file = dir.file("run.toml", &text);
    let logged = |workers: &str, seed: &str, name: &str| {
        let log = dir.path(name);
        let r = run_file(
            &file,
            &[
                "-w",
                workers,
                "--seed",
                seed,
                "--log",
                log.to_str().unwrap(),
            ],
        );
        assert_eq!(r["seed"].as_u64().unwrap().to_string(), seed);
        assert_eq!(r["requests"]["started"], 6 * 3 * 5);
        per_slot(&log)
    };
    let one = logged("1", "42", "w1.csv");
    let three = logged("3", "42", "w3.csv");
    let other = logged("1", "43", "w1b.csv");
    assert_eq!(one.len(), 6);
    assert_eq!(one, three, "same seed, 1 vs 3 workers");
    assert_ne!(one, other, "another seed draws other starts and delays");
    for seq in one.values() {
        for round in seq.chunks(5) {
            let mut idx: Vec<&str> = round.iter().map(|e| e.1.as_str()).collect();
            idx.sort_unstable();
            assert_eq!(idx, ["0", "1", "2", "3", "4"], "each entry once per round");
        }
    }
    let starts: std::collections::BTreeSet<&str> = one
        .values()
        .flat_map(|seq| seq.chunks(5).map(|r| r[0].1.as_str()))
        .collect();
    assert!(starts.len() > 1, "random starts differ: {starts:?}");
}

#[test]
fn the_log_has_loadgens_result_fields_and_one_record_per_request() {
    let srv = TestServer::start(ServerConfig::new(Reply::ok("hello\n")));
    let p = srv.addr().port();
    let dead = closed_port();
    let dir = Scratch::new("log");
    let file = dir.file(
        "run.toml",
        &format!(
            r#"
workers = 2
ramp_up = {{ max = 2 }}
times = 2
dnscache = {{ "app.test" = "127.0.0.1" }}
[[request]]
url = "http://app.test:{p}/ok"
[[request]]
url = "http://127.0.0.1:{dead}/refused"
"#
        ),
    );
    for format in ["csv", "jsonl"] {
        let log = dir.path(&format!("log.{format}"));
        let r = run_file(
            &file,
            &["--log", log.to_str().unwrap(), "--log-format", format],
        );
        assert_eq!(r["log"]["records"], 8);
        assert_eq!(r["log"]["error"], Value::Null);
        let rows: Vec<Value> = if format == "csv" {
            read_csv(&log)
                .into_iter()
                .map(|m| serde_json::to_value(m).unwrap())
                .collect()
        } else {
            std::fs::read_to_string(&log)
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect()
        };
        assert_eq!(rows.len(), 8);
        let num = |v: &Value| -> f64 {
            v.as_f64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                .unwrap_or(-1.0)
        };
        let starts: Vec<f64> = rows.iter().map(|r| num(&r["start_ms"])).collect();
        assert!(
            starts.windows(2).all(|w| w[0] <= w[1]),
            "ordered by start: {starts:?}"
        );
        for row in &rows {
            let s = |k: &str| match &row[k] {
                Value::String(s) => s.clone(),
                v => v.to_string(),
            };
            if s("index") == "0" {
                assert_eq!(s("status"), "200", "{row}");
                assert_eq!(s("status_line"), "OK");
                assert_eq!(s("http_version"), "1.1");
                assert_eq!(s("url"), format!("http://app.test:{p}/ok"));
                assert!(matches!(s("dns_cached").as_str(), "1" | "true"), "{row}");
                assert_eq!(s("body_bytes"), "6");
                assert!(num(&row["header_bytes"]) > 20.0);
                let t: Vec<f64> = [
                    "start_ms",
                    "connect_ms",
                    "first_byte_ms",
                    "header_ms",
                    "body_ms",
                ]
                .iter()
                .map(|k| num(&row[*k]))
                .collect();
                assert!(t.windows(2).all(|w| w[0] <= w[1] && w[0] > 0.0), "{t:?}");
            } else {
                assert_eq!(s("status"), "599", "{row}");
                assert!(s("error").starts_with("connrefused"), "{row}");
                assert!(matches!(s("dns_cached").as_str(), "0" | "false"));
            }
        }
    }
}

#[test]
fn a_request_timeout_applies_to_its_entry_only() {
    let silent = TestServer::start(ServerConfig::new(Reply::Silent));
    let ok = TestServer::start(ServerConfig::default());
    let dir = Scratch::new("timeout");
    let file = dir.file(
        "run.toml",
        &format!(
            r#"
workers = 1
ramp_up = {{ max = 1 }}
times = 1
[[request]]
url = "http://127.0.0.1:{}/slow"
timeout = "300ms"
[[request]]
url = "http://127.0.0.1:{}/fast"
"#,
            silent.addr().port(),
            ok.addr().port()
        ),
    );
    let log = dir.path("log.csv");
    let started = std::time::Instant::now();
    let r = run_file(&file, &["--log", log.to_str().unwrap()]);
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(r["errors"]["client-timo"], 1, "{r:#}");
    assert_eq!(r["replies"]["total"], 1);
    let rows = read_csv(&log);
    assert_eq!(rows[0]["error"], "client-timo/first-byte");
    assert_eq!(ok.received().len(), 1);
}

#[test]
fn run_file_errors_name_the_file_and_line() {
    let dir = Scratch::new("errors");
    let cases = [
        (
            "workers = 1\n[[request]]\nurl = \"http://127.0.0.1:1/\"\nkeepalive = \"always\"\n",
            ":4:",
        ),
        (
            "[[request]]\nurl = \"http://127.0.0.1:1/\"\ncolour = 3\n",
            ":3:",
        ),
        (
            "workers = 1\n[[request]]\nurl = \"http://127.0.0.1:1/\"\nkeepalive = 7\n",
            ":4:13:",
        ),
        (
            "iterator = \"zigzag\"\n[[request]]\nurl = \"http://127.0.0.1:1/\"\n",
            ":1:",
        ),
        (
            "[[request]]\nurl = \"http://127.0.0.1:1/\"\npredelay = \"-1s\"\n",
            ":3:",
        ),
    ];
    for (i, (text, at)) in cases.iter().enumerate() {
        let file = dir.file(&format!("bad{i}.toml"), text);
        let out = volley().arg("run").arg(file.display().to_string()).run();
        assert_eq!(out.code, Some(2), "{text}: {}", out.stderr);
        assert!(
            out.stderr.contains(&format!("bad{i}.toml{at}")),
            "{text}: {}",
            out.stderr
        );
    }
    let out = volley().args(["run", "/nonexistent/run.toml"]).run();
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(
        out.stderr.contains("/nonexistent/run.toml"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_duration_in_the_file_ends_the_run_and_in_flight_requests_are_logged_as_aborted() {
    let srv = TestServer::start(ServerConfig::default().with_delay(Duration::from_millis(300)));
    let dir = Scratch::new("duration");
    let file = dir.file(
        "run.toml",
        &format!(
            "workers = 2\nramp_up = {{ max = 4 }}\nduration = \"1s\"\n\
             [[request]]\nurl = \"{}\"\n",
            srv.url("/slow")
        ),
    );
    let log = dir.path("log.csv");
    let started = std::time::Instant::now();
    let r = run_file(&file, &["--log", log.to_str().unwrap()]);
    let took = started.elapsed();
    assert!(took < Duration::from_secs(4), "{took:?}");
    assert_eq!(
        r["workload"]["rounds"],
        Value::Null,
        "no times: until the duration"
    );
    let rows = read_csv(&log);
    assert_eq!(
        rows.len() as u64,
        r["requests"]["started"].as_u64().unwrap()
    );
    let aborted = rows.iter().filter(|row| row["error"] == "aborted").count() as u64;
    assert_eq!(aborted, r["requests"]["aborted"].as_u64().unwrap());
    assert!(
        aborted >= 1,
        "4 slots with 300 ms replies are busy at the 1 s stop"
    );
    assert!(rows.iter().any(|row| row["status"] == "200"));
}

#[test]
fn follow_leaves_the_origin_only_when_the_run_file_allows_it() {
    let other = TestServer::start(ServerConfig::default());
    let origin = TestServer::start(ServerConfig::default().with_route(
        Route::new("/away", 302).header(
            "Location",
            format!("http://other.test:{}/there", other.addr().port()),
        ),
    ));
    let dir = Scratch::new("cross");
    for (allow, expected) in [(false, 0), (true, 2)] {
        let file = dir.file(
            "run.toml",
            &format!(
                "workers = 1\nramp_up = {{ max = 1 }}\ntimes = 2\niterator = \"follow\"\n\
                 follow_cross_origin = {allow}\ndnscache = {{ \"other.test\" = \"127.0.0.1\" }}\n\
                 [[request]]\nurl = \"{}\"\nheaders = [\"Host: origin.test\", \"User-Agent: ua\"]\n",
                origin.url("/away")
            ),
        );
        run_file(&file, &[]);
        let got = other.received();
        assert_eq!(got.len(), expected, "follow_cross_origin = {allow}");
        for g in &got {
            assert_eq!(g.target, "/there");
            assert_eq!(
                g.header("host"),
                Some(format!("other.test:{}", other.addr().port()).as_str()),
                "the old origin's Host is not carried over"
            );
            assert_eq!(g.header("user-agent"), Some("ua"));
        }
    }
}
