//! Result files: `--out FILE` writes JSON schema 2 (schema 1's keys, every histogram in
//! HdrHistogram's standard encoding, the counters, the time series).

use std::time::Duration;

use serde_json::Value;
use volley_testsupport::{Reply, Scratch, ServerConfig, TestServer};

use crate::run::assert_invariant;
use crate::volley;

/// Runs volley against `srv` with `args` plus `--out FILE`, and returns the file's JSON.
fn run_out(srv: &TestServer, dir: &Scratch, name: &str, args: &[&str]) -> Value {
    let path = dir.path(name);
    let out = volley()
        .arg(srv.url("/r"))
        .args(args.iter().copied())
        .args(["-q", "--out", path.to_str().unwrap()])
        .run();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        out.stdout.contains("Summary:"),
        "the text report still goes to stdout"
    );
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn hdr(v: &Value) -> hdrhistogram_like::Decoded {
    hdrhistogram_like::decode(v["hdr"].as_str().expect("an hdr string"))
}

/// Decoding through volley's own codec (the same one any HdrHistogram tool reads).
mod hdrhistogram_like {
    pub struct Decoded {
        pub len: u64,
        pub p99_us: u64,
    }

    pub fn decode(s: &str) -> Decoded {
        let h = volley_worker::series::decode(s).expect("a V2 deflate histogram");
        Decoded {
            len: h.len(),
            p99_us: h.value_at_quantile(0.99),
        }
    }
}

#[test]
fn out_writes_schema_2_with_full_histograms_and_a_time_series() {
    let srv = TestServer::start(ServerConfig {
        reply: Reply::ok("result"),
        delay: Some(Duration::from_millis(2)),
        ..ServerConfig::default()
    });
    let dir = Scratch::new("results");
    let r = run_out(
        &srv,
        &dir,
        "run.json",
        &["-w", "2", "-c", "4", "-d", "2500ms", "--interval", "500ms"],
    );
    assert_eq!(r["schema"], 2);
    assert_invariant(&r);
    // Schema 1's keys are still there, with their meaning.
    let replies = r["replies"]["total"].as_u64().unwrap();
    assert!(replies > 100, "{replies}");
    assert_eq!(r["totals"]["counters"]["requests_succeeded"], replies);
    // The reply histogram in full: its count is the replies', its p99 the report's.
    let reply = hdr(&r["histograms"]["reply"]);
    assert_eq!(
        reply.len,
        r["latency_ms"]["reply"]["count"].as_u64().unwrap()
    );
    let p99_ms = r["latency_ms"]["reply"]["p99"].as_f64().unwrap();
    assert!(
        (reply.p99_us as f64 / 1000.0 - p99_ms).abs() / p99_ms < 0.01,
        "p99 {} µs vs {p99_ms} ms",
        reply.p99_us
    );
    assert_eq!(r["histograms"]["unit"], "us");
    // The time series: 500 ms intervals on the wall clock, whose replies add up.
    let ts = &r["time_series"];
    assert_eq!(ts["interval_s"], 0.5);
    let intervals = ts["intervals"].as_array().unwrap();
    assert!(
        (5..=7).contains(&intervals.len()),
        "{} intervals",
        intervals.len()
    );
    let mut sum = 0;
    let mut last = 0;
    for i in intervals {
        let start = i["start_unix_ms"].as_u64().unwrap();
        assert_eq!(start % 500, 0, "aligned on the wall clock");
        assert!(start > last, "in order, one per interval");
        last = start;
        let n = i["replies"]["total"].as_u64().unwrap();
        sum += n;
        let count = i["latency_ms"]["count"].as_u64().unwrap();
        assert_eq!(hdr(i).len, count, "the interval's histogram in full");
    }
    assert_eq!(sum, replies, "the intervals' replies add up to the run's");
    let started = r["started_unix_ms"].as_u64().unwrap();
    assert!(started >= intervals[0]["start_unix_ms"].as_u64().unwrap());
    assert_eq!(r["workload_id"].as_str().unwrap().len(), 16);
}

#[test]
fn the_same_workload_has_the_same_id_and_another_does_not() {
    let srv = TestServer::start(ServerConfig::default());
    let dir = Scratch::new("results-id");
    let args = ["-c", "2", "-n", "20", "--seed", "7"];
    let a = run_out(&srv, &dir, "a.json", &args);
    let b = run_out(&srv, &dir, "b.json", &args);
    assert_eq!(a["workload_id"], b["workload_id"]);
    let other = run_out(
        &srv,
        &dir,
        "c.json",
        &["-c", "2", "-n", "20", "--seed", "8"],
    );
    assert_ne!(a["workload_id"], other["workload_id"]);
}

#[test]
fn an_unwritable_result_file_is_an_error_not_a_silent_loss() {
    let srv = TestServer::start(ServerConfig::default());
    let out = volley()
        .args([
            &srv.url("/"),
            "-n",
            "5",
            "-q",
            "--out",
            "/nonexistent-dir/run.json",
        ])
        .run();
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(
        out.stderr.contains("/nonexistent-dir/run.json"),
        "{}",
        out.stderr
    );
    assert!(
        out.stdout.contains("Summary:"),
        "the report was still shown"
    );
}
