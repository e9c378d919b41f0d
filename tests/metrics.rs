//! `--metrics-listen`: the `/metrics` endpoint scraped during a run and in its linger,
//! parsed by a real OpenMetrics parser (Python's prometheus_client, Debian package
//! python3-prometheus-client) and scraped by a real Prometheus (Debian package
//! prometheus); its final values against the JSON report; the refusals.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use volley_testsupport::{Reply, Running, Scratch, ServerConfig, TestServer, skip, wait_until};

use crate::volley;

/// One sample: its name, labels and value.
type Sample = (String, BTreeMap<String, String>, f64);

/// Reads an OpenMetrics exposition with prometheus_client's strict parser (it checks the
/// `# EOF`, the `_total` suffixes, cumulative buckets and `+Inf` = `_count`).
const PARSER: &str = r#"
import json, sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
out = []
for fam in text_string_to_metric_families(sys.stdin.read()):
    for s in fam.samples:
        out.append([s.name, s.labels, s.value])
print(json.dumps(out))
"#;

/// The Python with Debian's prometheus_client (not a virtualenv's).
const PYTHON: &str = "/usr/bin/python3";

/// Whether the parser can run here.
fn have_parser() -> bool {
    Command::new(PYTHON)
        .args(["-c", "import prometheus_client.openmetrics.parser"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Parses `text`; panics with the parser's message when it refuses it.
fn parse(text: &str) -> Vec<Sample> {
    let mut child = Command::new(PYTHON)
        .args(["-c", PARSER])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the OpenMetrics parser refused the exposition: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let labels = s[1]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                .collect();
            (
                s[0].as_str().unwrap().to_string(),
                labels,
                s[2].as_f64().unwrap(),
            )
        })
        .collect()
}

/// The sum of `name`'s samples whose labels include `with`.
fn total(samples: &[Sample], name: &str, with: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|(n, l, _)| {
            n == name && with.iter().all(|(k, v)| l.get(*k).is_some_and(|x| x == v))
        })
        .map(|s| s.2)
        .sum()
}

/// One HTTP/1.1 request to the endpoint: (status line, head, body).
fn get(addr: SocketAddr, request: &str) -> (String, String, String) {
    let mut s = TcpStream::connect(addr).expect("connect to /metrics");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut reply = String::new();
    s.read_to_string(&mut reply).unwrap();
    let (head, body) = reply.split_once("\r\n\r\n").expect("a reply head");
    let status = head.lines().next().unwrap_or("").to_string();
    (status, head.to_string(), body.to_string())
}

fn scrape(addr: SocketAddr) -> String {
    let (status, head, body) = get(addr, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(status, "HTTP/1.1 200 OK", "{head}");
    assert!(
        head.contains("Content-Type: application/openmetrics-text; version=1.0.0; charset=utf-8"),
        "{head}"
    );
    body
}

/// The address volley prints on stderr once the endpoint listens.
fn metrics_addr(running: &Running) -> SocketAddr {
    let mut addr = None;
    let found = wait_until(Duration::from_secs(10), || {
        let err = running.stderr_so_far();
        addr = err
            .split("volley: metrics at http://")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .and_then(|a| a.parse().ok());
        addr.is_some()
    });
    assert!(
        found,
        "no metrics address on stderr: {}",
        running.stderr_so_far()
    );
    addr.unwrap()
}

fn server() -> TestServer {
    TestServer::start(ServerConfig {
        reply: Reply::ok("metrics"),
        ..ServerConfig::default()
    })
}

#[test]
fn scrapes_grow_during_the_run_and_the_last_one_equals_the_report() {
    let test = "scrapes_grow_during_the_run_and_the_last_one_equals_the_report";
    if !have_parser() {
        return skip(test, "python3-prometheus-client is not installed");
    }
    let srv = server();
    let running = volley()
        .args([
            &srv.url("/"),
            "-w",
            "2",
            "-c",
            "4",
            "-d",
            "2s",
            "--json",
            "-q",
        ])
        .args(["--metrics-listen", "127.0.0.1:0", "--metrics-linger", "20s"])
        .spawn();
    let addr = metrics_addr(&running);
    let started = |s: &[Sample]| total(s, "volley_requests_started_total", &[]);

    // During the run: two scrapes, the counters grow, the run is not finished.
    let mut first = Vec::new();
    assert!(wait_until(Duration::from_secs(5), || {
        first = parse(&scrape(addr));
        started(&first) > 0.0
    }));
    assert_eq!(total(&first, "volley_run_finished", &[]), 0.0);
    assert_eq!(total(&first, "volley_workers_alive", &[]), 2.0);
    let mut second = Vec::new();
    assert!(wait_until(Duration::from_secs(5), || {
        second = parse(&scrape(addr));
        started(&second) > started(&first)
    }));

    // The other answers, while the run goes on.
    let (status, ..) = get(addr, "GET / HTTP/1.1\r\n\r\n");
    assert_eq!(status, "HTTP/1.1 404 Not Found");
    let (status, ..) = get(addr, "POST /metrics HTTP/1.1\r\n\r\n");
    assert_eq!(status, "HTTP/1.1 405 Method Not Allowed");
    let (status, ..) = get(addr, "\x01\x02 nonsense\r\n\r\n");
    assert_eq!(status, "HTTP/1.1 400 Bad Request");
    let (_, head, body) = get(addr, "GET /metrics HTTP/1.0\r\nAccept: text/plain\r\n\r\n");
    assert!(head.contains("text/plain; version=0.0.4"), "{head}");
    assert!(body.contains("# TYPE volley_requests_started_total counter"));

    // After the run: the first scrape that sees `volley_run_finished 1` ends the linger.
    let scraped_at = Instant::now();
    let mut last = Vec::new();
    assert!(wait_until(Duration::from_secs(15), || {
        last = parse(&scrape(addr));
        total(&last, "volley_run_finished", &[]) == 1.0
    }));
    let out = running.wait();
    assert!(
        scraped_at.elapsed() < Duration::from_secs(10),
        "the final scrape ended the 20 s linger"
    );
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let r = out.json();

    let eq = |name: &str, with: &[(&str, &str)], want: &Value| {
        let want = want.as_u64().unwrap_or_else(|| panic!("{name}: {want}"));
        assert_eq!(total(&last, name, with), want as f64, "{name} {with:?}");
    };
    let c = &r["totals"]["counters"];
    eq(
        "volley_requests_started_total",
        &[],
        &r["requests"]["started"],
    );
    eq(
        "volley_requests_completed_total",
        &[],
        &r["requests"]["completed"],
    );
    eq(
        "volley_requests_aborted_total",
        &[],
        &r["requests"]["aborted"],
    );
    eq("volley_requests_failed_total", &[], &c["requests_failed"]);
    for class in ["1xx", "2xx", "3xx", "4xx", "5xx"] {
        eq(
            "volley_replies_total",
            &[("class", class)],
            &r["replies"][class],
        );
    }
    for (class, n) in r["totals"]["errors"].as_object().unwrap() {
        eq("volley_errors_total", &[("class", class)], n);
    }
    eq("volley_sent_bytes_total", &[], &r["bytes"]["sent"]);
    eq("volley_received_bytes_total", &[], &r["bytes"]["received"]);
    eq(
        "volley_connections_opened_total",
        &[],
        &r["connections"]["opened"],
    );
    eq(
        "volley_connections_reused_total",
        &[],
        &r["connections"]["reused"],
    );
    assert_eq!(total(&last, "volley_workers_alive", &[]), 0.0);
    // Per worker too.
    for w in r["workers"].as_array().unwrap() {
        let i = w["index"].to_string();
        let with = [("worker", i.as_str())];
        eq(
            "volley_requests_started_total",
            &with,
            &w["requests"]["started"],
        );
    }
    // The histogram: the report's reply row, count and sum exact.
    let reply = &r["histograms"]["reply"];
    eq("volley_reply_seconds_count", &[], &reply["count"]);
    let inf = total(&last, "volley_reply_seconds_bucket", &[("le", "+Inf")]);
    assert_eq!(inf, reply["count"].as_u64().unwrap() as f64);
    let sum_us: u64 = reply["sum"].as_str().unwrap().parse().unwrap();
    let sum_s = total(&last, "volley_reply_seconds_sum", &[]);
    assert_eq!((sum_s * 1e6).round() as u64, sum_us);
    assert!(reply["count"].as_u64().unwrap() > 0);
    let run_name = r["run_name"].as_str().unwrap();
    assert!(last.iter().all(|(_, l, _)| l["run"] == run_name));
}

#[test]
fn non_loopback_addresses_and_bad_ones_are_refused() {
    let srv = server();
    let url = srv.url("/");
    let cases: [(&[&str], &str); 5] = [
        (&["--metrics-listen", "0.0.0.0:0"], "--metrics-listen-any"),
        (&["--metrics-listen", "192.0.2.1:9464"], "loopback"),
        (&["--metrics-listen", "localhost"], "--metrics-listen"),
        (&["--metrics-listen", "127.0.0.1:99999"], "--metrics-listen"),
        (&["--metrics-linger", "5s"], "--metrics-listen"),
    ];
    for (args, says) in cases {
        let out = volley()
            .args([url.as_str(), "-n", "1"])
            .args(args.iter().copied())
            .run();
        assert_eq!(out.code, Some(2), "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains(says), "{args:?}: {}", out.stderr);
        assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
        assert_eq!(srv.requests(), 0, "refused before any load");
    }
    // A run file can name a loopback address but cannot open the network by itself.
    let dir = Scratch::new("metrics-file");
    let file = dir.file(
        "run.toml",
        &format!("metrics_listen = \"0.0.0.0:9464\"\n[[request]]\nurl = \"{url}\"\n"),
    );
    let out = volley().args(["run", file.to_str().unwrap()]).run();
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(out.stderr.contains("run.toml:1"), "{}", out.stderr);
    assert!(
        out.stderr.contains("--metrics-listen-any"),
        "{}",
        out.stderr
    );
    // A busy address: refused before any load, exit 2.
    let busy = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = busy.local_addr().unwrap().to_string();
    let out = volley()
        .args([url.as_str(), "-n", "1", "--metrics-listen", &addr])
        .run();
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(out.stderr.contains("cannot listen"), "{}", out.stderr);
    assert_eq!(srv.requests(), 0);
}

/// A Prometheus server on loopback, killed on drop (also when the test fails).
struct Prometheus {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Prometheus {
    /// Starts Prometheus scraping `target` every second, storing under `dir`.
    fn start(dir: &Scratch, target: SocketAddr) -> Prometheus {
        let config = dir.file(
            "prometheus.yml",
            &format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  \
                 - job_name: volley\n    static_configs:\n      - targets: ['{target}']\n"
            ),
        );
        // A free port: bound and released (Prometheus takes no port 0 it would report).
        let addr = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path("tsdb").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start prometheus");
        Prometheus { child, addr }
    }

    /// An instant query's single value, if the result has one.
    fn query(&self, promql: &str) -> Option<f64> {
        let q: String = promql
            .bytes()
            .map(|b| match b {
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'.' => (b as char).to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect();
        let mut s = TcpStream::connect(self.addr).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        let req = format!("GET /api/v1/query?query={q} HTTP/1.0\r\nHost: x\r\n\r\n");
        s.write_all(req.as_bytes()).ok()?;
        let mut reply = String::new();
        s.read_to_string(&mut reply).ok()?;
        let body = reply.split_once("\r\n\r\n")?.1;
        let v: Value = serde_json::from_str(body).ok()?;
        v["data"]["result"][0]["value"][1].as_str()?.parse().ok()
    }
}

#[test]
fn prometheus_scrapes_the_run_and_its_last_scrape_is_the_report() {
    let test = "prometheus_scrapes_the_run_and_its_last_scrape_is_the_report";
    if !volley_testsupport::have("prometheus") {
        return skip(
            test,
            "prometheus is not installed (Debian package prometheus)",
        );
    }
    // Prometheus first, ready and scraping (a refused target) before the run starts, so it
    // scrapes the run while it goes on; the port is picked free, then released.
    let addr = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap();
    let dir = Scratch::new("metrics-prometheus");
    let prom = Prometheus::start(&dir, addr);
    let up = wait_until(Duration::from_secs(20), || {
        prom.query("count(up)").is_some_and(|n| n >= 1.0)
    });
    assert!(up, "Prometheus did not start scraping");
    let srv = server();
    let running = volley()
        .args([
            &srv.url("/"),
            "-w",
            "2",
            "-c",
            "4",
            "-d",
            "3s",
            "--json",
            "-q",
        ])
        .args([
            "--metrics-listen",
            &addr.to_string(),
            "--metrics-linger",
            "15s",
        ])
        .deadline(Duration::from_secs(40))
        .spawn();
    assert_eq!(metrics_addr(&running), addr);
    // The linger ends at the first scrape after the run: Prometheus' last scrape of it
    // saw the final values.
    let out = running.wait();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let r = out.json();
    let started = r["requests"]["started"].as_u64().unwrap() as f64;
    let mut got = None;
    let ingested = wait_until(Duration::from_secs(10), || {
        got = prom.query("sum(volley_requests_started_total)");
        got == Some(started)
    });
    assert!(ingested, "Prometheus has {got:?}, the report {started}");
    // Prometheus saw the run going on, not just its end.
    let scrapes = prom.query("count_over_time(volley_run_finished[1m])");
    assert!(scrapes.is_some_and(|n| n >= 2.0), "scrapes: {scrapes:?}");
    let p99 = prom
        .query("histogram_quantile(0.99, sum by (le) (volley_reply_seconds_bucket))")
        .expect("a p99 from Prometheus");
    let report_p99 = r["latency_ms"]["reply"]["p99"].as_f64().unwrap() / 1e3;
    // Neighbouring bounds differ by at most a third: within one bucket, either way.
    let (lo, hi) = (
        report_p99 * 3.0 / 4.0 - 10e-6,
        report_p99 * 4.0 / 3.0 + 10e-6,
    );
    assert!(
        (lo..=hi).contains(&p99),
        "Prometheus p99 {p99} s, the report's {report_p99} s"
    );
}
