//! LoadGen's option names and meanings in run files, end to end: the ramp's timing and
//! LoadGen's defaults, the inactivity timeout (`idle_timeout`, a `URLList` entry's
//! `timeout`) next to volley's hard `timeout`, `conn_timeout`, `random_start_follow`
//! over `volley serve`'s redirect chains, and the manual's example with its https entry.

use std::collections::{BTreeMap, HashMap};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use volley_testsupport::hostile::{BacklogNeverAccepted, HostileServer, Step};
use volley_testsupport::tls::{Leaf, TestPki};
use volley_testsupport::{Scratch, ServerConfig, TestServer};

use crate::hooks::example_file;
use crate::run::assert_invariant;
use crate::serve::Served;
use crate::volley;
use crate::workload::{read_csv, run_file};

type Row = HashMap<String, String>;

/// Runs `volley run FILE ARGS --json -q` where every request may fail: exit 0, or 4 (no
/// reply at all); the report.
fn run_failing(file: &std::path::Path, args: &[&str]) -> serde_json::Value {
    let out = volley()
        .arg("run")
        .arg(file.display().to_string())
        .args(args.iter().copied())
        .args(["--json", "-q"])
        .run();
    assert!(matches!(out.code, Some(0 | 4)), "{}", out.stderr);
    let r = out.json();
    assert_invariant(&r);
    r
}

/// Each slot's first request start (ms), earliest first: when the slot became active.
fn slot_starts(rows: &[Row]) -> Vec<f64> {
    let mut first: BTreeMap<(String, String), f64> = BTreeMap::new();
    for r in rows {
        let t: f64 = r["start_ms"].parse().unwrap();
        let key = (r["worker"].clone(), r["slot"].clone());
        let e = first.entry(key).or_insert(t);
        *e = e.min(t);
    }
    let mut starts: Vec<f64> = first.into_values().collect();
    starts.sort_by(f64::total_cmp);
    starts
}

#[test]
fn slots_start_on_loadgens_linear_ramp() {
    let srv = TestServer::start(ServerConfig::default());
    let dir = Scratch::new("ramp");
    // 2 slots at once, 8 more over 2 s: one every 250 ms, the last at 2 s.
    let file = dir.file(
        "run.toml",
        &format!(
            r#"
NWorker = 2
RampUpStart = 2
RampUpMax = 10
RampUpDuration = 2
duration = "2500ms"
URLList = [["GET", "http", "127.0.0.1", {}, "/", {{ keepalive = 3, postdelay = 0.05 }}]]
"#,
            srv.addr().port()
        ),
    );
    let log = dir.path("log.csv");
    let r = run_file(&file, &["--log", log.to_str().unwrap()]);
    assert_eq!(r["workers"].as_array().unwrap().len(), 2);
    let starts = slot_starts(&read_csv(&log));
    let want: Vec<f64> = [0.0, 0.0]
        .into_iter()
        .chain((1..=8).map(|k| 250.0 * f64::from(k)))
        .collect();
    assert_eq!(starts.len(), want.len(), "{starts:?}");
    let worst = starts
        .iter()
        .zip(&want)
        .map(|(got, want)| got - want)
        .fold(0.0_f64, |w, d| if d.abs() > w.abs() { d } else { w });
    eprintln!("ramp: slot starts {starts:?} ms, worst deviation {worst:.1} ms");
    for (got, want) in starts.iter().zip(&want) {
        assert!(
            *got >= want - 20.0 && *got <= want + 150.0,
            "a slot started at {got} ms, the ramp says {want} ms: {starts:?}"
        );
    }
}

#[test]
fn a_file_in_loadgens_names_starts_a_slot_per_worker_by_default() {
    let srv = TestServer::start(ServerConfig::default());
    let dir = Scratch::new("ramp-defaults");
    // No RampUp keys: RampUpStart = NWorker, RampUpMax = RampUpStart. (Had the start been
    // one slot, the other two would wait out a 300 s ramp.)
    let file = dir.file(
        "run.toml",
        &format!(
            "NWorker = 3\ntimes = 2\n\
             URLList = [[\"GET\", \"http\", \"127.0.0.1\", {}, \"/\"]]\n",
            srv.addr().port()
        ),
    );
    let log = dir.path("log.csv");
    let started = Instant::now();
    let r = run_file(&file, &["--log", log.to_str().unwrap()]);
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(r["workers"].as_array().unwrap().len(), 3);
    assert_eq!(r["requests"]["started"], 6, "3 slots, 2 rounds: {r:#}");
    let starts = slot_starts(&read_csv(&log));
    assert_eq!(starts.len(), 3, "{starts:?}");
    assert!(starts.iter().all(|&t| t < 300.0), "all at once: {starts:?}");
    // Keep-alive is off unless a URLList entry asks for it (LoadGen's default).
    assert_eq!(srv.connections(), 6);
}

/// A server that sends a 20-byte body one byte every 100 ms (2 s in all).
fn trickle() -> HostileServer {
    HostileServer::every_connection(
        "trickle",
        vec![
            Step::ReadRequest,
            Step::Write(b"HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n".to_vec()),
            Step::WriteSlowly {
                bytes: vec![b'a'; 20],
                every: Duration::from_millis(100),
            },
            Step::Close,
        ],
    )
}

/// Runs one request of `entry` (a `[[request]]` body, or a whole file when it starts
/// with `URLList`) to `url`; the report, the log's `error` column and the time taken.
fn one_request(dir: &Scratch, entry: &str) -> (serde_json::Value, String, Duration) {
    let text = if entry.starts_with("URLList") {
        format!("times = 1\n{entry}\n")
    } else {
        format!("workers = 1\nramp_up = {{ max = 1 }}\ntimes = 1\n[[request]]\n{entry}\n")
    };
    let file = dir.file("run.toml", &text);
    let log = dir.path("log.csv");
    let started = Instant::now();
    let r = run_failing(&file, &["--log", log.to_str().unwrap()]);
    let took = started.elapsed();
    let rows = read_csv(&log);
    assert_eq!(rows.len(), 1, "{rows:?}");
    (r, rows[0]["error"].clone(), took)
}

#[test]
fn idle_timeout_lets_a_trickle_through_where_timeout_ends_it() {
    let srv = trickle();
    let dir = Scratch::new("idle-timeout");
    let url = srv.url("/");
    let (r, error, took) = one_request(&dir, &format!("url = \"{url}\"\nidle_timeout = \"500ms\""));
    assert_eq!(
        (r["replies"]["2xx"].as_u64(), error.as_str()),
        (Some(1), "")
    );
    assert!(took >= Duration::from_millis(1800), "{took:?}");
    eprintln!("trickle with idle_timeout 500ms: 200 after {took:?}");
    // volley's timeout is a hard deadline: the same trickle fails it.
    let (r, error, took) = one_request(&dir, &format!("url = \"{url}\"\ntimeout = \"500ms\""));
    assert_eq!(r["errors"]["client-timo"], 1, "{r:#}");
    assert_eq!(error, "client-timo/reply");
    assert!(took < Duration::from_millis(1500), "{took:?}");
    // A URLList entry's timeout is LoadGen's: inactivity, so the trickle gets through.
    let port = srv.addr().port();
    let list = format!(
        "URLList = [[\"GET\", \"http\", \"127.0.0.1\", {port}, \"/\", {{ timeout = 0.5 }}]]"
    );
    let (r, error, _) = one_request(&dir, &list);
    assert_eq!(
        (r["replies"]["2xx"].as_u64(), error.as_str()),
        (Some(1), "")
    );
}

#[test]
fn idle_timeout_fails_a_server_that_stalls() {
    let srv = HostileServer::every_connection("stall", vec![Step::ReadRequest, Step::Hang]);
    let dir = Scratch::new("idle-stall");
    let url = srv.url("/");
    // The hard deadline is volley's default (30 s); the inactivity watchdog ends it.
    let (r, error, took) = one_request(&dir, &format!("url = \"{url}\"\nidle_timeout = \"300ms\""));
    assert_eq!(r["errors"]["client-timo"], 1, "{r:#}");
    assert_eq!(error, "client-timo/idle");
    assert!(took < Duration::from_secs(3), "{took:?}");
    eprintln!("stall with idle_timeout 300ms: client-timo/idle after {took:?}");
    // The same in LoadGen's words.
    let port = srv.addr().port();
    let list = format!(
        "URLList = [[\"GET\", \"http\", \"127.0.0.1\", {port}, \"/\", {{ timeout = 0.3 }}]]"
    );
    let (_, error, took) = one_request(&dir, &list);
    assert_eq!(error, "client-timo/idle");
    assert!(took < Duration::from_secs(3), "{took:?}");
}

/// A listener whose accept queue is full: further connects hang (their SYNs dropped).
fn full_backlog() -> (BacklogNeverAccepted, Vec<TcpStream>) {
    let listener = BacklogNeverAccepted::bind();
    let mut held = Vec::new();
    for _ in 0..16 {
        match TcpStream::connect_timeout(&listener.addr(), Duration::from_millis(200)) {
            Ok(s) => held.push(s),
            Err(_) => return (listener, held),
        }
    }
    panic!("the accept queue of a backlog-1 listener never filled");
}

#[test]
fn conn_timeout_fails_a_connect_that_does_not_complete() {
    let (listener, _held) = full_backlog();
    let port = listener.addr().port();
    let dir = Scratch::new("conn-timeout");
    // conn_timeout bounds the connect; without it a URLList entry's connect is bounded by
    // its (inactivity) timeout.
    let file = dir.file(
        "run.toml",
        &format!(
            r#"
times = 1
URLList = [
  ["GET", "http", "127.0.0.1", {port}, "/a", {{ conn_timeout = 0.3 }}],
  ["GET", "http", "127.0.0.1", {port}, "/b", {{ timeout = 0.4 }}],
]
"#
        ),
    );
    let log = dir.path("log.csv");
    let started = Instant::now();
    let r = run_failing(&file, &["--log", log.to_str().unwrap()]);
    let took = started.elapsed();
    assert_eq!(r["errors"]["client-timo"], 2, "{r:#}");
    let rows = read_csv(&log);
    let errors: Vec<&str> = rows.iter().map(|r| r["error"].as_str()).collect();
    assert_eq!(errors, ["client-timo/connect", "client-timo/connect"]);
    assert!(
        took >= Duration::from_millis(700) && took < Duration::from_secs(3),
        "{took:?}"
    );
    eprintln!("conn_timeout 0.3 + timeout 0.4 against a full backlog: {took:?}");
}

/// The (round, index, hop, path) sequence of a logged run, in start order.
fn walk(rows: &[Row]) -> Vec<(u32, u32, u32, String)> {
    rows.iter()
        .map(|r| {
            let path = r["url"].splitn(4, '/').nth(3).unwrap_or("").to_string();
            (
                r["round"].parse().unwrap(),
                r["index"].parse().unwrap(),
                r["hop"].parse().unwrap(),
                format!("/{path}"),
            )
        })
        .collect()
}

#[test]
fn random_start_follow_walks_from_a_seeded_start_and_follows_redirects() {
    let served = Served::start(1);
    let port = served.addr.port();
    let dir = Scratch::new("random-start-follow");
    let file = dir.file(
        "run.toml",
        &format!(
            r#"
InitURLs = "random_start_follow"
seed = 11
times = 4
URLList = [
  ["GET", "http", "127.0.0.1", {port}, "/redirect/2"],
  ["GET", "http", "127.0.0.1", {port}, "/bytes/10"],
  ["GET", "http", "127.0.0.1", {port}, "/relative-redirect/1"],
]
"#
        ),
    );
    let runs: Vec<_> = (0..2)
        .map(|n| {
            let log = dir.path(&format!("log{n}.csv"));
            let r = run_file(&file, &["--log", log.to_str().unwrap()]);
            assert_eq!(r["errors"]["total"], 0, "{r:#}");
            walk(&read_csv(&log))
        })
        .collect();
    assert_eq!(runs[0], runs[1], "the seed repeats the walk");
    let steps = &runs[0];
    let chain = |index: u32| -> Vec<(u32, String)> {
        match index {
            0 => vec![
                (0, "/redirect/2".into()),
                (1, "/redirect/1".into()),
                (2, "/small".into()),
            ],
            1 => vec![(0, "/bytes/10".into())],
            _ => vec![(0, "/relative-redirect/1".into()), (1, "/small".into())],
        }
    };
    let mut starts = Vec::new();
    for round in 1..=4 {
        let got: Vec<(u32, u32, String)> = steps
            .iter()
            .filter(|s| s.0 == round)
            .map(|s| (s.1, s.2, s.3.clone()))
            .collect();
        let first = got[0].0;
        starts.push(first);
        // Each entry once, from the start around, each with its redirect chain.
        let want: Vec<(u32, u32, String)> = (0..3)
            .map(|k| (first + k) % 3)
            .flat_map(|i| chain(i).into_iter().map(move |(h, p)| (i, h, p)))
            .collect();
        assert_eq!(got, want, "round {round}");
    }
    assert!(
        starts.iter().any(|&s| s != starts[0]),
        "the starts are drawn: {starts:?}"
    );
    served.stop();
}

#[test]
fn the_manuals_example_with_its_https_entry_over_tls() {
    let served = Served::start(2);
    let pki = TestPki::new();
    let tls = TestServer::start_tls(ServerConfig::default(), pki.server_config(Leaf::Good));
    let (dir, file) = example_file("manual.toml", served.addr.port());
    // The HUGO entry is LoadGen's https one: to the TLS server, under the name its
    // certificate is for (the dnscache maps localhost to 127.0.0.1), checked with the CA.
    let text = std::fs::read_to_string(&file).unwrap();
    let http = format!(
        "scheme = \"http\"\nhost = \"www.kabatinte.net\"\nport = {}",
        served.addr.port()
    );
    assert!(
        text.contains(&http),
        "manual.toml's HUGO entry moved:\n{text}"
    );
    let https = format!(
        "scheme = \"https\"\nhost = \"localhost\"\nport = {}",
        tls.addr().port()
    );
    let text = format!(
        "cacert = \"{}\"\n{}",
        pki.ca_pem().display(),
        text.replace(&http, &https)
    );
    let file = dir.file("manual-tls.toml", &text);
    let r = run_file(&file, &["--ramp-duration", "300ms", "--times", "1"]);
    assert_eq!(r["errors"]["total"], 0, "{r:#}");
    // 13 slots, one round: 13 GET /-redir (302, not followed) and 13 HUGO over TLS.
    assert_eq!(r["replies"]["3xx"], 13, "{r:#}");
    assert_eq!(r["replies"]["2xx"], 13, "{r:#}");
    let got = tls.received();
    assert_eq!(got.len(), 13);
    assert!(got.iter().all(|g| g.method == "HUGO"));
    served.stop();
}
