//! Worker processes and the scoreboard: interruption, a killed worker, `volley top`, and
//! the segment being unlinked on every path.

use std::path::Path;
use std::time::Duration;

use volley_scoreboard::{ReadOnly, Scoreboard};
use volley_testsupport::{Reply, ServerConfig, TestServer, wait_until};

use crate::run::assert_invariant;
use crate::volley;

/// A server that answers every request after `delay`, so requests are in flight.
fn slow_server(delay: Duration) -> TestServer {
    TestServer::start(ServerConfig {
        reply: Reply::ok("slow"),
        delay: Some(delay),
        ..ServerConfig::default()
    })
}

/// A run name unique to this test process and test.
pub(crate) fn run_name(test: &str) -> String {
    format!("t{}-{test}", std::process::id())
}

fn segment_exists(name: &str) -> bool {
    Path::new("/dev/shm")
        .join(format!("volley-{name}"))
        .exists()
}

/// Waits until the run's scoreboard shows at least one started request.
pub(crate) fn wait_for_requests(name: &str) {
    let ok = wait_until(Duration::from_secs(10), || {
        Scoreboard::<ReadOnly>::attach_read_only(&format!("volley-{name}"))
            .is_ok_and(|sb| sb.total().get(volley_scoreboard::Counter::RequestsStarted) > 0)
    });
    assert!(ok, "run {name} never started requests");
}

#[test]
fn sigint_mid_run_reports_with_the_invariant_and_unlinks_the_segment() {
    let srv = slow_server(Duration::from_millis(200));
    let name = run_name("sigint");
    let running = volley()
        .args([&srv.url("/"), "-w", "2", "-c", "6", "-d", "60s", "--json"])
        .args(["--run-name", &name])
        .spawn();
    wait_for_requests(&name);
    running.signal(libc::SIGINT);
    let out = running.wait();
    assert_eq!(
        out.code,
        Some(130),
        "interrupted runs exit 130: {}",
        out.stderr
    );
    assert!(
        out.elapsed < Duration::from_secs(20),
        "stopped promptly: {:?}",
        out.elapsed
    );
    let r = out.json();
    assert_eq!(r["interrupted"], true);
    assert!(
        r["requests"]["aborted"].as_u64().unwrap() > 0,
        "slow requests were in flight: {r:#}"
    );
    assert_invariant(&r);
    for w in r["workers"].as_array().unwrap() {
        assert_eq!(w["reported"], true, "every worker reported: {w:#}");
        assert_eq!(w["exit"]["code"], 0);
    }
    assert!(!segment_exists(&name), "segment left behind");
}

#[test]
fn a_killed_worker_is_named_in_the_report_and_the_segment_is_unlinked() {
    let srv = slow_server(Duration::from_millis(20));
    let name = run_name("kill9");
    let running = volley()
        .args([&srv.url("/"), "-w", "2", "-c", "4", "-d", "3s", "--json"])
        .args(["--run-name", &name])
        .spawn();
    wait_for_requests(&name);
    let sb = Scoreboard::<ReadOnly>::attach_read_only(&format!("volley-{name}")).unwrap();
    let victim = sb.slot(1).pid() as i32;
    assert!(victim > 0);
    // SAFETY-free: nix's kill is a safe wrapper.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(victim),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let out = running.wait();
    assert_eq!(
        out.code,
        Some(3),
        "a run with a dead worker is invalid: {}",
        out.stderr
    );
    let r = out.json();
    let w1 = &r["workers"][1];
    assert_eq!(w1["pid"], victim);
    assert_eq!(w1["exit"]["signal"], 9, "{w1:#}");
    assert_eq!(w1["reported"], false);
    assert_eq!(r["workers"][0]["exit"]["code"], 0);
    assert_eq!(r["valid"], false);
    assert!(
        r["invalid_reasons"].to_string().contains("SIGKILL"),
        "{:#}",
        r["invalid_reasons"]
    );
    assert_invariant(&r);
    assert!(
        !segment_exists(&name),
        "segment left behind after a worker was killed"
    );
}

#[test]
fn volley_top_sees_live_counters() {
    let srv = slow_server(Duration::from_millis(5));
    let name = run_name("top");
    let running = volley()
        .args([&srv.url("/"), "-w", "2", "-c", "4", "-d", "4s", "--json"])
        .args(["--run-name", &name])
        .spawn();
    wait_for_requests(&name);
    let top = volley()
        .args(["top", &name, "--count", "2", "--interval", "300ms"])
        .deadline(Duration::from_secs(10))
        .run();
    assert_eq!(top.code, Some(0), "{}", top.stderr);
    // Replies: `total ACTIVE REPLIES ERRORS …` (the total row has no pid or state).
    let totals: Vec<u64> = top
        .stdout
        .lines()
        .filter(|l| l.starts_with("total"))
        .map(|l| l.split_whitespace().nth(2).unwrap().parse().unwrap())
        .collect();
    assert_eq!(totals.len(), 2, "two refreshes:\n{}", top.stdout);
    assert!(totals[1] > totals[0], "counters move:\n{}", top.stdout);
    assert_eq!(
        top.stdout
            .lines()
            .filter(|l| l.starts_with('0') || l.starts_with('1'))
            .count(),
        4,
        "one row per worker per refresh:\n{}",
        top.stdout
    );
    let out = running.wait();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(!segment_exists(&name));
}

/// A latency `volley top` printed (`0.123 ms`, `12.3 ms`, `1.23 s`) in ms; `None` for `-`.
fn shown_ms(value: &str, unit: &str) -> Option<f64> {
    let v: f64 = value.parse().ok()?;
    match unit {
        "ms" => Some(v),
        "s" => Some(v * 1e3),
        _ => panic!("a latency without a unit: {value} {unit}"),
    }
}

/// The rates and latencies of a `volley top` row: (req/s, err/s, p50 ms, p99 ms), read
/// from the row's end, where a latency is a value and a unit, or `-`.
fn top_row_tail(line: &str) -> (f64, f64, Option<f64>, Option<f64>) {
    let mut f: Vec<&str> = line.split_whitespace().collect();
    let mut latency = || match f.pop() {
        Some("-") => None,
        Some(unit) => shown_ms(f.pop().unwrap_or(""), unit),
        None => panic!("a short row: {line}"),
    };
    let p99 = latency();
    let p50 = latency();
    let err_s: f64 = f.pop().unwrap().parse().unwrap();
    let req_s: f64 = f.pop().unwrap().parse().unwrap();
    (req_s, err_s, p50, p99)
}

#[test]
fn volley_top_shows_live_latency_of_a_delayed_server() {
    let delay_ms = 20.0;
    let srv = slow_server(Duration::from_millis(20));
    let name = run_name("toplat");
    let running = volley()
        .args([&srv.url("/"), "-w", "2", "-c", "4", "-d", "3s", "--json"])
        .args(["--run-name", &name])
        .spawn();
    // Replies first, so that the first frame (since the start) has latencies too.
    let replied = wait_until(Duration::from_secs(10), || {
        Scoreboard::<ReadOnly>::attach_read_only(&format!("volley-{name}")).is_ok_and(|sb| {
            sb.total()
                .get(volley_scoreboard::Counter::RequestsSucceeded)
                >= 8
        })
    });
    assert!(replied, "run {name} never replied");
    let top = volley()
        .args(["top", &name, "--count", "2", "--interval", "500ms"])
        .deadline(Duration::from_secs(10))
        .run();
    assert_eq!(top.code, Some(0), "{}", top.stderr);
    let out = &top.stdout;
    let totals: Vec<&str> = out.lines().filter(|l| l.starts_with("total")).collect();
    assert_eq!(totals.len(), 2, "a total row per refresh:\n{out}");
    assert!(out.contains("rates and latency since the start\n"), "{out}");
    assert!(out.contains("rates and latency over the last 0.5"), "{out}");
    // Each reply takes the delay and a little more: its bucket is (20, 25] ms, so the
    // interpolated p50 is about 22.5 ms. Slack above for a busy machine.
    let in_delay =
        |ms: Option<f64>, hi: f64| ms.is_some_and(|ms| (delay_ms * 0.9..=hi).contains(&ms));
    let mut p50s = Vec::new();
    for line in totals {
        let (req_s, err_s, p50, p99) = top_row_tail(line);
        assert!(in_delay(p50, 35.0), "p50 near the delay: {line}\n{out}");
        assert!(in_delay(p99, 200.0) && p99 >= p50, "p99: {line}\n{out}");
        // 4 slots, each a request per 20 ms at most.
        assert!((20.0..=260.0).contains(&req_s), "req/s: {line}\n{out}");
        assert_eq!(err_s, 0.0, "{line}");
        p50s.extend(p50);
    }
    let workers: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with('0') || l.starts_with('1'))
        .collect();
    assert_eq!(workers.len(), 4, "a row per worker per refresh:\n{out}");
    for line in workers {
        assert!(in_delay(top_row_tail(line).2, 35.0), "{line}\n{out}");
    }
    let done = running.wait();
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    // The report's exact median of the whole run and top's estimates of parts of it agree
    // to within about a bucket (neighbouring bounds are at most 4/3 apart).
    let r = done.json();
    let exact = r["latency_ms"]["reply"]["p50"].as_f64().unwrap();
    for p50 in p50s {
        assert!(
            (exact * 0.75..=exact * 4.0 / 3.0).contains(&p50),
            "top's p50 {p50} ms against the report's {exact} ms"
        );
    }
    assert!(!segment_exists(&name));
}

#[test]
fn top_without_a_live_run_says_so() {
    let out = volley()
        .args(["top", "volley-no-such-run-here", "--wait", "300ms"])
        .run();
    assert_eq!(out.code, Some(1));
    assert!(
        out.stderr.contains("volley-no-such-run-here"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_second_sigint_kills_workers_that_do_not_stop() {
    let srv = slow_server(Duration::from_millis(20));
    let name = run_name("sigint2");
    let running = volley()
        .args([&srv.url("/"), "-w", "2", "-c", "4", "-d", "60s", "--json"])
        .args(["--run-name", &name])
        .spawn();
    wait_for_requests(&name);
    let sb = Scoreboard::<ReadOnly>::attach_read_only(&format!("volley-{name}")).unwrap();
    let frozen = nix::unistd::Pid::from_raw(sb.slot(1).pid() as i32);
    // A stopped worker cannot see the stop flag: only the second SIGINT ends it.
    nix::sys::signal::kill(frozen, nix::sys::signal::Signal::SIGSTOP).unwrap();
    running.signal(libc::SIGINT);
    // A second interrupt counts only a second after the first (see the next test).
    std::thread::sleep(Duration::from_millis(1300));
    let second = std::time::Instant::now();
    running.signal(libc::SIGINT);
    let out = running.wait();
    assert!(
        second.elapsed() < Duration::from_secs(3),
        "the second SIGINT ends the run at once (the heartbeat grace is 3 s): {:?}",
        second.elapsed()
    );
    assert_eq!(out.code, Some(130), "{}", out.stderr);
    let r = out.json();
    assert_eq!(r["interrupted"], true);
    assert_eq!(r["workers"][1]["exit"]["signal"], 9, "{:#}", r["workers"]);
    assert_eq!(r["workers"][1]["reported"], false);
    assert_eq!(r["workers"][0]["reported"], true);
    assert_invariant(&r);
    assert!(!segment_exists(&name), "segment left behind");
}

/// Issue 13: a Ctrl-C that reaches volley twice at once (from the terminal and from a
/// wrapper such as `timeout` that forwards it) is one interrupt: the workers stop and
/// report, nobody is killed, the run stays valid.
#[test]
fn two_interrupts_at_once_are_one_interrupt() {
    let srv = slow_server(Duration::from_millis(50));
    let name = run_name("sigint-double");
    let running = volley()
        .args([&srv.url("/"), "-w", "2", "-c", "4", "-d", "60s", "--json"])
        .args(["--run-name", &name])
        .spawn();
    wait_for_requests(&name);
    running.signal(libc::SIGINT);
    running.signal(libc::SIGINT);
    let out = running.wait();
    assert_eq!(out.code, Some(130), "{}", out.stderr);
    let r = out.json();
    assert_eq!(r["interrupted"], true);
    for w in r["workers"].as_array().unwrap() {
        assert_eq!(w["reported"], true, "no worker was killed: {w:#}");
        assert_eq!(w["exit"]["code"], 0, "{w:#}");
    }
    assert_eq!(r["valid"], true, "{:#}", r["invalid_reasons"]);
    assert_invariant(&r);
    assert!(!segment_exists(&name), "segment left behind");
}

/// Issue 13: a worker that stops making progress (here SIGSTOPped) is found by its
/// heartbeat in the scoreboard and killed after the 3 s grace; the report names it as
/// "stopped responding", the other worker's figures are whole, and the run ends on time.
#[test]
fn a_worker_that_stops_responding_is_killed_after_the_heartbeat_grace() {
    let srv = slow_server(Duration::from_millis(5));
    let name = run_name("stuck");
    let running = volley()
        .args([&srv.url("/"), "-w", "2", "-c", "4", "-d", "5s"])
        .args(["--run-name", &name])
        .spawn();
    wait_for_requests(&name);
    let sb = Scoreboard::<ReadOnly>::attach_read_only(&format!("volley-{name}")).unwrap();
    let frozen = sb.slot(1).pid() as i32;
    let stopped = std::time::Instant::now();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(frozen),
        nix::sys::signal::Signal::SIGSTOP,
    )
    .unwrap();
    // Dead within the grace (plus the supervisor's 100 ms tick and some slack), while
    // the run is still going: not at its end.
    let gone = wait_until(Duration::from_secs(6), || {
        !Path::new(&format!("/proc/{frozen}/stat")).exists()
            || std::fs::read_to_string(format!("/proc/{frozen}/stat"))
                .is_ok_and(|s| s.contains(") Z "))
    });
    assert!(gone, "the stopped worker was not killed");
    let after = stopped.elapsed();
    assert!(
        after >= Duration::from_millis(2900) && after < Duration::from_millis(4500),
        "killed {after:?} after it stopped (grace 3 s)"
    );
    let out = running.wait();
    assert_eq!(
        out.code,
        Some(3),
        "a run with a dead worker is invalid: {}",
        out.stdout
    );
    assert!(
        out.stdout.contains(&format!(
            "worker 1 (pid {frozen}) stopped responding, killed after 3 s"
        )),
        "{}",
        out.stdout
    );
    assert!(
        out.elapsed < Duration::from_secs(8),
        "the run kept its 5 s: {:?}",
        out.elapsed
    );
    assert!(!segment_exists(&name), "segment left behind");
}

/// The same run in JSON: the worker's exit says `stopped_responding`, the other worker
/// reported, and the accounting closes.
#[test]
fn a_stopped_worker_is_marked_in_the_json_report() {
    let srv = slow_server(Duration::from_millis(5));
    let name = run_name("stuck-json");
    let running = volley()
        .args([&srv.url("/"), "-w", "2", "-c", "4", "-d", "4s", "--json"])
        .args(["--run-name", &name])
        .spawn();
    wait_for_requests(&name);
    let sb = Scoreboard::<ReadOnly>::attach_read_only(&format!("volley-{name}")).unwrap();
    let frozen = nix::unistd::Pid::from_raw(sb.slot(0).pid() as i32);
    nix::sys::signal::kill(frozen, nix::sys::signal::Signal::SIGSTOP).unwrap();
    let out = running.wait();
    assert_eq!(out.code, Some(3), "{}", out.stderr);
    let r = out.json();
    let w0 = &r["workers"][0];
    assert_eq!(w0["exit"]["stopped_responding"], true, "{w0:#}");
    assert_eq!(w0["exit"]["signal"], 9, "{w0:#}");
    assert_eq!(w0["reported"], false);
    assert_eq!(r["workers"][1]["reported"], true);
    assert_eq!(r["workers"][1]["exit"]["stopped_responding"], false);
    assert!(
        r["invalid_reasons"]
            .to_string()
            .contains("stopped responding"),
        "{:#}",
        r["invalid_reasons"]
    );
    assert_invariant(&r);
    let d = r["duration_s"].as_f64().unwrap();
    assert!((3.9..4.3).contains(&d), "duration_s {d}: the run's -d");
}

/// Issue 15: `volley top NAME` started before the run waits for it, then shows its rows
/// with rates over the last interval.
#[test]
fn top_waits_for_a_named_run_that_has_not_started() {
    let srv = slow_server(Duration::from_millis(5));
    let name = run_name("top-wait");
    let top = volley()
        .args([
            "top",
            &name,
            "--count",
            "3",
            "--interval",
            "300ms",
            "--wait",
            "10s",
        ])
        .deadline(Duration::from_secs(20))
        .spawn();
    std::thread::sleep(Duration::from_millis(800));
    let run = volley()
        .args([&srv.url("/"), "-w", "2", "-c", "4", "-d", "3s", "--json"])
        .args(["--run-name", &name])
        .spawn();
    let top = top.wait();
    assert_eq!(top.code, Some(0), "{}", top.stderr);
    assert!(top.stderr.contains("waiting up to"), "{}", top.stderr);
    let totals: Vec<f64> = top
        .stdout
        .lines()
        .filter(|l| l.starts_with("total"))
        .map(|l| top_row_tail(l).0)
        .collect();
    assert_eq!(totals.len(), 3, "{}", top.stdout);
    assert!(
        totals[2] > 0.0,
        "a rate over the last interval: {}",
        top.stdout
    );
    assert_eq!(run.wait().code, Some(0));
    assert!(!segment_exists(&name));
}
