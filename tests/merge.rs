//! `volley merge` and `volley compare` on result files of real loopback runs (issue 16).

use std::time::Duration;

use serde_json::Value;
use volley_testsupport::{Output, Reply, Scratch, ServerConfig, TestServer};

use crate::run::assert_invariant;
use crate::volley;

fn u(v: &Value, path: &str) -> u64 {
    let mut at = v;
    for k in path.split('.') {
        at = &at[k];
    }
    at.as_u64()
        .unwrap_or_else(|| panic!("{path} is not a count: {at}"))
}

fn read_json(path: &std::path::Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// `(value µs, count)` of every recorded bucket of an `hdr` string.
fn buckets(hdr: &Value) -> Vec<(u64, u64)> {
    let h = volley_worker::series::decode(hdr.as_str().expect("an hdr string")).unwrap();
    h.iter_recorded()
        .map(|b| (b.value_iterated_to(), b.count_at_value()))
        .collect()
}

/// The union of several `hdr` strings, decoded and added independently of volley's merge.
fn union(hdrs: &[&Value]) -> Vec<(u64, u64)> {
    let mut all = volley_worker::series::decode(hdrs[0].as_str().unwrap()).unwrap();
    // A decoded histogram has the range it was written with: let it grow.
    all.auto(true);
    for h in &hdrs[1..] {
        all.add(volley_worker::series::decode(h.as_str().unwrap()).unwrap())
            .unwrap();
    }
    all.iter_recorded()
        .map(|b| (b.value_iterated_to(), b.count_at_value()))
        .collect()
}

/// Open-loop response times (scheduled → reply complete, µs) of a per-request log's
/// replies: `body_ms - scheduled_ms`, the log's own definition of it.
fn response_times_us(csv: &str) -> Vec<f64> {
    let mut lines = csv.lines();
    let head: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| head.iter().position(|h| *h == name).unwrap();
    let (status, body, scheduled) = (col("status"), col("body_ms"), col("scheduled_ms"));
    lines
        .map(|l| l.split(',').collect::<Vec<_>>())
        .filter(|f| f[status] == "200")
        .map(|f| {
            let ms = |i: usize| f[i].parse::<f64>().unwrap();
            ((ms(body) - ms(scheduled)) * 1000.0).round()
        })
        .collect()
}

/// The nearest-rank quantile (HdrHistogram's rank: the ceil(q·n)-th value).
fn nearest_rank(sorted: &[f64], q: f64) -> f64 {
    let rank = ((q * sorted.len() as f64).ceil() as usize).max(1);
    sorted[rank - 1]
}

/// Runs the three shares of one open-loop schedule at once, each with `--out` and `--log`.
fn three_shares(srv: &TestServer, dir: &Scratch) -> Vec<String> {
    let running: Vec<_> = (0..3)
        .map(|i| {
            let (out, log) = (
                dir.path(&format!("part-{i}.json")),
                dir.path(&format!("part-{i}.csv")),
            );
            volley()
                .arg(srv.url("/m"))
                .args([
                    "--rate", "300", "-n", "600", "--seed", "5", "-w", "1", "-c", "20", "-q",
                ])
                .args(["--client", &format!("{i}/3")])
                .args([
                    "--out",
                    out.to_str().unwrap(),
                    "--log",
                    log.to_str().unwrap(),
                ])
                .spawn()
        })
        .collect();
    for r in running {
        let out = r.wait();
        assert_eq!(out.code, Some(0), "{}", out.stderr);
    }
    (0..3)
        .map(|i| dir.path(&format!("part-{i}.json")).display().to_string())
        .collect()
}

#[test]
fn merged_shares_add_up_and_keep_every_sample() {
    let srv = TestServer::start(ServerConfig::new(Reply::ok("merge")));
    let dir = Scratch::new("merge");
    let files = three_shares(&srv, &dir);
    let parts: Vec<Value> = files.iter().map(|f| read_json(f.as_ref())).collect();
    let merged_path = dir.path("merged.json");
    let out = volley()
        .arg("merge")
        .args(files.iter().map(String::as_str))
        .args(["--out", merged_path.to_str().unwrap(), "--json"])
        .run();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let m: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        m,
        read_json(&merged_path),
        "--json and --out write the same"
    );
    assert_invariant(&m);

    // Each share is a third of the schedule, and the counts add.
    for p in &parts {
        assert_eq!(u(p, "requests.started"), 200, "{p:#}");
        assert_eq!(p["workload_id"], m["workload_id"]);
    }
    assert_eq!(u(&m, "requests.started"), 600);
    for key in [
        "replies.total",
        "replies.2xx",
        "errors.total",
        "bytes.received",
    ] {
        let sum: u64 = parts.iter().map(|p| u(p, key)).sum();
        assert_eq!(u(&m, key), sum, "{key}");
    }
    let counters = m["totals"]["counters"].as_object().unwrap();
    for (name, n) in counters {
        if name == "threads_active" || name == "conns_open" {
            continue;
        }
        let sum: u64 = parts
            .iter()
            .map(|p| u(p, &format!("totals.counters.{name}")))
            .sum();
        assert_eq!(n.as_u64().unwrap(), sum, "{name}");
    }
    assert_eq!(m["workers"].as_array().unwrap().len(), 3);
    for (w, f) in m["workers"].as_array().unwrap().iter().zip(&files) {
        assert_eq!(w["source"].as_str().unwrap(), f);
    }
    assert_eq!(m["merged_from"], serde_json::json!(files));
    let start = parts.iter().map(|p| u(p, "started_unix_ms")).min().unwrap();
    assert_eq!(u(&m, "started_unix_ms"), start);

    // Every histogram is the union of the parts', bucket by bucket, with exact moments.
    for name in ["reply", "response", "first_byte", "connect"] {
        let hdrs: Vec<&Value> = parts
            .iter()
            .map(|p| &p["histograms"][name]["hdr"])
            .collect();
        let h = &m["histograms"][name];
        assert_eq!(buckets(&h["hdr"]), union(&hdrs), "{name}");
        let count: u64 = parts
            .iter()
            .map(|p| u(p, &format!("histograms.{name}.count")))
            .sum();
        assert_eq!(u(h, "count"), count, "{name}");
        let min = parts
            .iter()
            .map(|p| u(p, &format!("histograms.{name}.min")))
            .min();
        assert_eq!(Some(u(h, "min")), min, "{name}");
    }

    // The merged percentiles are those of all the requests, as the logs time them:
    // response = body_ms - scheduled_ms, within the histograms' 3 significant digits (and
    // the log's µs truncation of each of its two times).
    let mut all: Vec<f64> = (0..3)
        .flat_map(|i| {
            response_times_us(&std::fs::read_to_string(dir.path(&format!("part-{i}.csv"))).unwrap())
        })
        .collect();
    all.sort_by(f64::total_cmp);
    assert_eq!(all.len() as u64, u(&m, "latency_ms.response.count"));
    for (key, q) in [("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p999", 0.999)] {
        let exact = nearest_rank(&all, q);
        let got = m["latency_ms"]["response"][key].as_f64().unwrap() * 1000.0;
        assert!(
            (got - exact).abs() <= exact * 1e-3 + 2.0,
            "{key}: merged {got} µs, from the logs {exact} µs"
        );
    }
    let max = m["latency_ms"]["response"]["max"].as_f64().unwrap() * 1000.0;
    assert!(
        (max - all[all.len() - 1]).abs() <= 2.0,
        "{max} vs {}",
        all[all.len() - 1]
    );

    // The time series line up on the wall clock: per key, the parts' replies add.
    let mut want = std::collections::BTreeMap::new();
    for p in &parts {
        for i in p["time_series"]["intervals"].as_array().unwrap() {
            *want.entry(u(i, "start_unix_ms")).or_insert(0) += u(i, "replies.total");
        }
    }
    let got: std::collections::BTreeMap<u64, u64> = m["time_series"]["intervals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (u(i, "start_unix_ms"), u(i, "replies.total")))
        .collect();
    assert_eq!(got, want);

    // The text report of the merged file says what it was made of.
    let out = volley()
        .arg("merge")
        .args(files.iter().map(String::as_str))
        .run();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        out.stdout.contains("Summary: 600 requests in "),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("Merged: 3 result files of workload "),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("Worker 0 pid "), "{}", out.stdout);
    assert!(
        out.stdout.contains(&format!(" of {}: exited 0", files[2])),
        "{}",
        out.stdout
    );
}

/// Runs volley against `srv` with `args` plus `--out DIR/name`, and returns the path.
fn result(srv: &TestServer, dir: &Scratch, name: &str, args: &[&str]) -> String {
    let path = dir.path(name);
    let out = volley()
        .arg(srv.url("/c"))
        .args(args.iter().copied())
        .args(["-q", "--out", path.to_str().unwrap()])
        .run();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    path.display().to_string()
}

fn merge(files: &[&str]) -> Output {
    volley().arg("merge").args(files.iter().copied()).run()
}

#[test]
fn merge_refuses_what_does_not_add_up() {
    let srv = TestServer::start(ServerConfig::default());
    let dir = Scratch::new("merge-refusals");
    let args = ["-c", "2", "-n", "20", "--seed", "7"];
    let a = result(&srv, &dir, "a.json", &args);
    let other = result(
        &srv,
        &dir,
        "seed8.json",
        &["-c", "2", "-n", "20", "--seed", "8"],
    );
    let out = merge(&[&a, &other]);
    assert_eq!(out.code, Some(2), "{}", out.stdout);
    assert!(
        out.stderr.contains(&format!(
            "{a} and {other} are results of different workloads"
        )),
        "{}",
        out.stderr
    );

    let half = result(
        &srv,
        &dir,
        "half.json",
        &[&args[..], &["--interval", "500ms"]].concat(),
    );
    let out = merge(&[&a, &half]);
    assert_eq!(out.code, Some(2));
    assert!(
        out.stderr.contains(&format!(
            "{a} has 1 s intervals and {half} has 500 ms intervals"
        )),
        "{}",
        out.stderr
    );

    let out = merge(&[&a, &a]);
    assert_eq!(out.code, Some(2));
    assert!(
        out.stderr.contains("holds the same run as"),
        "{}",
        out.stderr
    );

    let old = dir.file("old.json", "{\"schema\": 1, \"url\": \"http://h/\"}\n");
    let out = merge(&[&a, old.to_str().unwrap()]);
    assert_eq!(out.code, Some(2));
    assert!(
        out.stderr.contains(&format!("{}: schema 1", old.display()))
            && out.stderr.contains("--out"),
        "{}",
        out.stderr
    );

    let broken = dir.file("broken.json", "{\n  \"schema\": 2,\n  \"url\": oops\n}\n");
    let out = merge(&[&a, broken.to_str().unwrap()]);
    assert_eq!(out.code, Some(2));
    assert!(
        out.stderr
            .contains(&format!("{}:3:10: not valid JSON", broken.display())),
        "{}",
        out.stderr
    );
    let out = merge(&[&a, "/nonexistent/x.json"]);
    assert_eq!(out.code, Some(2));
    assert!(
        out.stderr.contains("cannot read /nonexistent/x.json"),
        "{}",
        out.stderr
    );
    assert!(out.stdout.is_empty(), "nothing printed: {}", out.stdout);
}

fn compare(base: &str, new: &str, extra: &[&str]) -> Output {
    volley()
        .args(["compare", base, new])
        .args(extra.iter().copied())
        .run()
}

#[test]
fn compare_judges_changes_against_noise() {
    let (fast, slow) = (
        TestServer::start(ServerConfig::new(Reply::ok("fast"))),
        TestServer::start(
            ServerConfig::new(Reply::ok("slow")).with_delay(Duration::from_millis(5)),
        ),
    );
    let dir = Scratch::new("compare");
    // 100 ms intervals: about 13 full ones in 1.5 s, enough to judge noise.
    let args = [
        "-w",
        "1",
        "-c",
        "2",
        "-d",
        "1500ms",
        "--interval",
        "100ms",
        "--seed",
        "3",
    ];
    let f = result(&fast, &dir, "fast.json", &args);
    let s = result(&slow, &dir, "slow.json", &args);

    // A file against itself: no change at all, and the gate passes.
    let out = compare(&f, &f, &["--fail-if-worse", "5%"]);
    assert_eq!(out.code, Some(0), "{}{}", out.stdout, out.stderr);
    for line in out
        .stdout
        .lines()
        .filter(|l| l.starts_with("p99 [ms]") || l.starts_with("req/s"))
    {
        assert!(line.ends_with("no change"), "{line}");
    }
    assert!(out.stdout.contains("OK: no gated figure"), "{}", out.stdout);

    // Slower: p99 is worse beyond noise, and the gate names it.
    let out = compare(&f, &s, &["--fail-if-worse", "5%"]);
    assert_eq!(out.code, Some(4), "{}{}", out.stdout, out.stderr);
    let p99 = out
        .stdout
        .lines()
        .find(|l| l.starts_with("p99 [ms]"))
        .unwrap();
    assert!(p99.contains("worse, beyond noise (p "), "{}", out.stdout);
    let verdict = out.stdout.lines().last().unwrap();
    assert!(
        verdict.starts_with("FAILED: NEW is worse than BASE beyond noise and by more than 5%: ")
            && verdict.contains("p99 +"),
        "{verdict}"
    );
    let v: Value =
        serde_json::from_str(&compare(&f, &s, &["--json", "--fail-if-worse", "5%"]).stdout)
            .unwrap();
    assert!(
        v["failed"].as_array().unwrap().contains(&"p99".into()),
        "{v:#}"
    );
    let p99 = v["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "p99")
        .unwrap();
    assert_eq!(p99["beyond_noise"], true, "{p99:#}");
    assert!(p99["p_value"].as_f64().unwrap() < 0.01, "{p99:#}");

    // Reversed: an improvement, which never fails the gate.
    let out = compare(&s, &f, &["--fail-if-worse", "5%"]);
    assert_eq!(out.code, Some(0), "{}{}", out.stdout, out.stderr);
    let p99 = out
        .stdout
        .lines()
        .find(|l| l.starts_with("p99 [ms]"))
        .unwrap();
    assert!(p99.contains("better, beyond noise"), "{}", out.stdout);
    // Without a gate: exit 0 whatever changed; the last line lists it.
    let out = compare(&f, &s, &[]);
    assert_eq!(out.code, Some(0));
    assert!(
        out.stdout
            .lines()
            .last()
            .unwrap()
            .starts_with("Beyond noise: worse "),
        "{}",
        out.stdout
    );
}

#[test]
fn compare_warns_about_other_workloads_and_refuses_bad_files() {
    let srv = TestServer::start(ServerConfig::default());
    let dir = Scratch::new("compare-bad");
    let a = result(
        &srv,
        &dir,
        "a.json",
        &["-c", "2", "-n", "20", "--seed", "7"],
    );
    let b = result(
        &srv,
        &dir,
        "b.json",
        &["-c", "2", "-n", "20", "--seed", "8"],
    );
    let out = compare(&a, &b, &[]);
    assert_eq!(out.code, Some(0));
    assert!(
        out.stdout.contains("WARNING: different workloads"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("too few intervals to judge noise"),
        "{}",
        out.stdout
    );
    let out = compare(&a, &b, &["--json"]);
    assert_eq!(out.code, Some(0));
    assert!(
        out.stderr.contains("WARNING: different workloads"),
        "{}",
        out.stderr
    );
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["same_workload"], false);

    let old = dir.file("old.json", "{\"schema\": 1}");
    let out = compare(&a, old.to_str().unwrap(), &[]);
    assert_eq!(out.code, Some(2));
    assert!(out.stderr.contains("schema 1"), "{}", out.stderr);
    let out = compare(&a, &b, &["--fail-if-worse", "5"]);
    assert_eq!(out.code, Some(2));
    assert!(out.stderr.contains("--fail-if-worse"), "{}", out.stderr);
}
