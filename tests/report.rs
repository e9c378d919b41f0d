//! The report's first screen and the exit code (issue 15): the summary, the warning when
//! few requests got a reply, status codes by exact code, the 1 s reply rate, `--check`
//! and its exit codes, and README's sample kept in the shape the renderer prints.

use std::time::Duration;

use serde_json::Value;
use volley_testsupport::{Reply, Scratch, ServerConfig, TestServer, closed_port};

use crate::run::assert_invariant;
use crate::volley;
use crate::workers::{run_name, wait_for_requests};

fn server(reply: Reply) -> TestServer {
    TestServer::start(ServerConfig {
        reply,
        ..ServerConfig::default()
    })
}

/// The first line of `text` that starts with `prefix`.
fn line<'a>(text: &'a str, prefix: &str) -> &'a str {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no '{prefix}' line in:\n{text}"))
}

/// The checks of a JSON report as `(expr, pass)`.
fn checks(r: &Value) -> Vec<(String, bool)> {
    r["checks"]
        .as_array()
        .expect("a checks array")
        .iter()
        .map(|c| (c["expr"].as_str().unwrap().to_string(), c["pass"] == true))
        .collect()
}

#[test]
fn a_run_without_a_reply_is_loud_and_exits_4() {
    let port = closed_port();
    let url = format!("http://127.0.0.1:{port}/");
    let out = volley()
        .args([&url, "-w", "2", "-c", "4", "-n", "200", "-q"])
        .run();
    assert_eq!(out.code, Some(4), "{}", out.stderr);
    let text = &out.stdout;
    let first = text.lines().next().unwrap();
    assert_eq!(
        first,
        format!(
            "WARNING: no request got a reply: 200 connrefused (is anything listening on \
             127.0.0.1:{port}?)"
        )
    );
    assert_eq!(
        line(text, "Replies:"),
        "Replies: 0 of 200 completed requests (0.0%), errors 200, aborted at the stop 0"
    );
    assert_eq!(
        line(text, "Error classes:"),
        "Error classes: connrefused=200"
    );
    // Failed connects are attempts, not replies.
    assert!(
        line(text, "Rate:").starts_with("Rate: 0.0 replies/s, "),
        "{text}"
    );
    assert_eq!(
        line(text, "FAILED:"),
        "FAILED: no request got a reply (200 connrefused)"
    );

    let out = volley()
        .args([&url, "-w", "1", "-c", "2", "-n", "20", "--json", "-q"])
        .run();
    assert_eq!(out.code, Some(4), "{}", out.stderr);
    let r = out.json();
    assert_eq!(r["verdict"], "failed");
    assert_eq!(r["valid"], true, "a refused run is valid, and failed");
    assert_invariant(&r);
}

#[test]
fn a_check_that_expects_the_refusals_passes() {
    let url = format!("http://127.0.0.1:{}/", closed_port());
    let out = volley()
        .args([&url, "-w", "1", "-c", "2", "-n", "20", "-q"])
        .args([
            "--check",
            "errors.connrefused == 20",
            "--check",
            "success == 0",
        ])
        .run();
    assert_eq!(out.code, Some(0), "the checks decide: {}", out.stdout);
    assert!(
        out.stdout.starts_with("WARNING: no request got a reply"),
        "still loud: {}",
        out.stdout
    );
    assert!(
        line(&out.stdout, "OK: ").ends_with("; 2 checks passed"),
        "{}",
        out.stdout
    );
}

#[test]
fn under_half_replied_warns_and_still_exits_0() {
    let srv = server(Reply::ok("x"));
    let scratch = Scratch::new("report-half");
    let closed = format!("http://127.0.0.1:{}/", closed_port());
    let file = scratch.file(
        "run.toml",
        &format!(
            "times = 10\n\
             [[request]]\nurl = \"{}\"\n\
             [[request]]\nurl = \"{closed}\"\n\
             [[request]]\nurl = \"{closed}\"\n",
            srv.url("/ok")
        ),
    );
    let out = volley()
        .args([
            "run",
            &file.display().to_string(),
            "-w",
            "1",
            "-c",
            "2",
            "-q",
        ])
        .run();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let text = &out.stdout;
    // The failures come from two of the list's three entries: no one address is named.
    assert_eq!(
        text.lines().next().unwrap(),
        "WARNING: only 33.3% of 60 requests got a reply: 40 connrefused (is anything \
         listening on the URLs' ports?)",
        "{text}"
    );
    assert!(
        line(text, "OK: ").starts_with("OK: 33.3% of 60 requests got a reply; 40 errors"),
        "{text}"
    );
}

#[test]
fn status_codes_are_counted_by_exact_code() {
    let srv = server(Reply::StatusCycle(vec![200, 404, 503, 301, 201]));
    let args = [&srv.url("/s"), "-w", "2", "-c", "3", "-n", "500", "-q"];
    let out = volley().args(args).arg("--json").run();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let r = out.json();
    assert_eq!(
        r["replies"]["by_status"],
        serde_json::json!({"200": 100, "201": 100, "301": 100, "404": 100, "503": 100})
    );
    assert_eq!(r["replies"]["2xx"], 200, "the classes still add up");
    assert_invariant(&r);

    let out = volley().args(args).run();
    assert_eq!(
        line(&out.stdout, "Status codes:"),
        "Status codes: 200=100 201=100 301=100 404=100 503=100"
    );
    assert!(
        line(&out.stdout, "OK: ").contains("(100 of them 4xx, 100 5xx)"),
        "{}",
        out.stdout
    );
    // Exact codes and classes are checkable.
    let out = volley()
        .args(args)
        .args([
            "--json",
            "--check",
            "status.503 == 100",
            "--check",
            "status.5xx < 20%",
        ])
        .args(["--check", "status.404 == 0"])
        .run();
    assert_eq!(out.code, Some(4), "{}", out.stdout);
    let got = checks(&out.json());
    let want = [
        ("status.503 == 100", true),
        ("status.5xx < 20%", false),
        ("status.404 == 0", false),
    ];
    let want: Vec<(String, bool)> = want.iter().map(|&(e, p)| (e.into(), p)).collect();
    assert_eq!(got, want);
}

#[test]
fn the_reply_rate_is_sampled_every_second() {
    let srv = server(Reply::ok("r"));
    let out = volley()
        .args([
            &srv.url("/r"),
            "-w",
            "1",
            "-c",
            "2",
            "-d",
            "2s",
            "--json",
            "-q",
        ])
        .run();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let r = out.json();
    let samples = r["reply_rate_1s"].as_array().expect("reply_rate_1s");
    // Both seconds of the run, the last one included (it ends as the run does).
    assert_eq!(samples.len(), 2, "{r:#}");
    let sum: f64 = samples.iter().map(|s| s.as_f64().unwrap()).sum();
    let replies = r["replies"]["total"].as_f64().unwrap();
    // Each sample is one second's replies; the requests aborted at the stop never ended.
    assert!(
        (sum - replies).abs() <= replies * 0.05 + 2.0,
        "{sum} vs {replies}"
    );
    assert_eq!(
        r["reply_rate_samples"],
        serde_json::json!([]),
        "httperf's 5 s"
    );

    // A run shorter than a second says so.
    let out = volley()
        .args([&srv.url("/r"), "-w", "1", "-c", "1", "-n", "5", "-q"])
        .run();
    assert_eq!(
        line(&out.stdout, "Rate per second"),
        "Rate per second [replies/s]: n/a (no full second of load)"
    );
}

#[test]
fn checks_pass_and_fail_with_their_values() {
    let srv = server(Reply::ok("c"));
    let base = [&srv.url("/c"), "-w", "2", "-c", "2", "-n", "100", "-q"];
    let out = volley()
        .args(base)
        .args(["--check", "p99 < 10s", "--check", "success == 100%"])
        .args(["--check", "errors == 0", "--check", "rps > 0"])
        .run();
    assert_eq!(out.code, Some(0), "{}", out.stdout);
    let text = &out.stdout;
    let p99 = line(text, "Checks: p99 < 10s: ");
    assert!(p99.ends_with(" ms PASS"), "{p99}");
    assert_eq!(
        line(text, "Checks: success"),
        "Checks: success == 100%: 100.0% PASS"
    );
    assert_eq!(line(text, "Checks: errors"), "Checks: errors == 0: 0 PASS");
    assert!(line(text, "OK: ").ends_with("; 4 checks passed"), "{text}");
    // The checks sit in the summary, before httperf's sections.
    assert!(text.find("Checks: ").unwrap() < text.find("Total: ").unwrap());

    let out = volley()
        .args(base)
        .args(["--json", "--check", "p99 < 10s", "--check", "max < 1us"])
        .run();
    assert_eq!(out.code, Some(4), "{}", out.stdout);
    let r = out.json();
    assert_eq!(r["verdict"], "failed");
    let max = &r["checks"][1];
    assert_eq!(
        (max["unit"].as_str(), max["pass"].as_bool()),
        (Some("ms"), Some(false))
    );
    assert!(max["value"].as_f64().unwrap() >= 0.001, "{max:#}");

    let out = volley().args(base).args(["--check", "max < 1us"]).run();
    let verdict = line(&out.stdout, "FAILED: ");
    assert!(
        verdict.starts_with("FAILED: 1 of 1 checks failed: max < 1us ("),
        "{verdict}"
    );
}

#[test]
fn a_bad_check_is_refused_with_a_caret() {
    let out = volley()
        .args(["http://127.0.0.1:1/", "--check", "p99 < 50xs"])
        .run();
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert_eq!(
        out.stderr,
        "error: invalid value for '--check': 'xs' is not a unit of time; expected us, ms, s, m \
         or h\n  p99 < 50xs\n          ^\n"
    );
    assert!(out.stdout.is_empty(), "no run: {}", out.stdout);
}

#[test]
fn a_run_files_checks_and_the_flags_add_up() {
    let srv = server(Reply::ok("f"));
    let scratch = Scratch::new("report-checks");
    let file = scratch.file(
        "run.toml",
        &format!(
            "times = 5\ncheck = [\"errors == 0\", \"status.2xx == 10\"]\n\
             [[request]]\nurl = \"{}\"\n",
            srv.url("/f")
        ),
    );
    let file = file.display().to_string();
    let run = |extra: &[&str]| {
        volley()
            .args(["run", &file, "-w", "1", "-c", "2", "--json", "-q"])
            .args(extra.iter().copied())
            .run()
    };
    let out = run(&[]);
    assert_eq!(out.code, Some(0), "{}", out.stdout);
    assert_eq!(checks(&out.json()).len(), 2);
    let out = run(&["--check", "rps > 1000000000"]);
    assert_eq!(out.code, Some(4), "{}", out.stdout);
    let got = checks(&out.json());
    let exprs: Vec<&str> = got.iter().map(|c| c.0.as_str()).collect();
    assert_eq!(
        exprs,
        ["errors == 0", "status.2xx == 10", "rps > 1000000000"]
    );

    let bad = scratch.file(
        "bad.toml",
        "check = [\"p99 <= 5\"]\n[[request]]\nurl = \"http://127.0.0.1:1/\"\n",
    );
    let out = volley().args(["run", &bad.display().to_string()]).run();
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("bad.toml:1:19: check: a latency needs a unit: 5ms"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.ends_with("\n  p99 <= 5\n          ^\n"),
        "{}",
        out.stderr
    );
}

/// Interrupted (130) wins over a failed check (4): a partial run's checks say little.
#[test]
fn an_interrupt_wins_over_a_failed_check() {
    let srv = TestServer::start(ServerConfig {
        reply: Reply::ok("slow"),
        delay: Some(Duration::from_millis(100)),
        ..ServerConfig::default()
    });
    let name = run_name("report-interrupt");
    let running = volley()
        .args([&srv.url("/"), "-w", "1", "-c", "2", "-d", "60s", "--json"])
        .args(["--run-name", &name, "--check", "rps > 1000000000"])
        .spawn();
    wait_for_requests(&name);
    running.signal(libc::SIGINT);
    let out = running.wait();
    assert_eq!(out.code, Some(130), "{}", out.stderr);
    let r = out.json();
    assert_eq!(r["verdict"], "interrupted");
    assert_eq!(checks(&r), [("rps > 1000000000".to_string(), false)]);
}

#[test]
fn httperf_keeps_its_order_with_the_summary_last() {
    let srv = server(Reply::ok("h"));
    let port = srv.addr().port().to_string();
    let out = volley()
        .args(["httperf", "--server", "127.0.0.1", "--port", &port])
        .args(["--num-conns", "10", "--num-calls", "2"])
        .run();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let text = &out.stdout;
    let mut lines = text.lines();
    assert!(lines.next().unwrap().starts_with("httperf "), "{text}");
    assert_eq!(lines.next(), Some("Maximum connect burst length: 1"));
    let summary = text.find("\nSummary: ").expect("a summary");
    assert!(summary > text.find("\nWorker 0 pid").unwrap(), "{text}");
    assert!(
        text.lines()
            .last()
            .unwrap()
            .starts_with("OK: 100.0% of 20 requests got a reply, no errors"),
        "{text}"
    );
}

/// The shape of a report line: what comes before its first digit (httperf.rs's rule), so
/// numbers, ports and pids may differ while the lines and their order may not.
fn shape(line: &str) -> String {
    line.split(|c: char| c.is_ascii_digit())
        .next()
        .unwrap_or("")
        .trim_end()
        .to_string()
}

/// README's "Sample" report, as its fenced block holds it.
fn readme_sample() -> Vec<String> {
    let readme = include_str!("../README.md");
    let at = readme
        .find("### Sample")
        .expect("README has a Sample section");
    let rest = &readme[at..];
    let start = rest.find("```\n").expect("a fenced block") + 4;
    let end = start + rest[start..].find("```\n").expect("its end");
    rest[start..end].lines().map(String::from).collect()
}

/// README's sample is the report of `volley demo -w 2 -c 20 -d 3s --seed 7`; the same
/// command (shorter) must print the same lines in the same order, so that the README
/// cannot drift from the renderer.
#[test]
fn readme_sample_has_the_shape_of_a_real_report() {
    let sample = readme_sample();
    assert!(sample.len() > 30, "{sample:?}");
    let out = volley()
        .args([
            "demo", "-w", "2", "-c", "20", "-d", "2s", "--seed", "7", "-q",
        ])
        .run();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    // Whether a closed loop hid a stall depends on the machine's hiccups (on a loaded
    // 2-core machine the demo's target and its workers stall one another): that warning
    // may be in either report or in neither.
    let stall = |l: &&str| !l.starts_with("WARNING: the closed loop hid a stall");
    let ours: Vec<String> = out.stdout.lines().filter(stall).map(shape).collect();
    let theirs: Vec<String> = sample
        .iter()
        .map(|l| l.as_str())
        .filter(stall)
        .map(shape)
        .collect();
    assert_eq!(
        theirs, ours,
        "README's sample (left) and `volley demo` (right) differ in shape; regenerate the \
         sample. volley printed:\n{}",
        out.stdout
    );
}
