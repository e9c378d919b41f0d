//! Hook programs (the examples/ built by `cargo test`): the manual's 401-retry iterator,
//! the manual's example configuration with and without its hooks, `done`, a hook's exit
//! code and request edits, each checked against what a loopback server received.

use std::path::PathBuf;

use volley_testsupport::{Route, Scratch, ServerConfig, TestServer, Volley};

use crate::run::assert_invariant;
use crate::volley;

/// A compiled example of this package (cargo builds them for `cargo test`).
pub(crate) fn example(name: &str) -> Volley {
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>");
    let path = dir.join("examples").join(name);
    assert!(
        path.exists(),
        "{} is missing: build the examples (cargo test builds them)",
        path.display()
    );
    Volley::new(path)
}

/// `examples/NAME` with port 8080 replaced by `port`, written to a scratch file.
pub(crate) fn example_file(name: &str, port: u16) -> (Scratch, PathBuf) {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("examples")
            .join(name),
    )
    .expect("example run file");
    let dir = Scratch::new(name);
    let path = dir.file(name, &text.replace("8080", &port.to_string()));
    (dir, path)
}

#[test]
fn the_manuals_auth_iterator_retries_a_401_with_credentials() {
    let srv = TestServer::start(
        ServerConfig::default().with_route(
            Route::new("/-redir", 401)
                .header("WWW-Authenticate", "Basic realm=\"t\"")
                .unless_header("Authorization"),
        ),
    );
    let (_dir, file) = example_file("auth_retry.toml", srv.addr().port());
    let out = example("auth_retry")
        .args(["run", file.to_str().unwrap(), "--json", "-q"])
        .run();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let r = out.json();
    assert_invariant(&r);
    let got = srv.received();
    let auth: Vec<Option<&str>> = got.iter().map(|g| g.header("authorization")).collect();
    let basic = Some("Basic YmxhOmJsdWI=");
    assert_eq!(
        auth,
        [None, basic, None, basic],
        "two rounds of 401 then retry"
    );
    assert!(
        got.iter()
            .all(|g| g.target == "/-redir" && g.header("x-auth") == Some("1"))
    );
    assert_eq!(r["replies"]["4xx"], 2);
    assert_eq!(r["replies"]["2xx"], 2);
    // Without the program, the run file names an iterator volley does not know.
    let plain = volley().args(["run", file.to_str().unwrap()]).run();
    assert_eq!(plain.code, Some(2));
    assert!(plain.stderr.contains("auth_retry"), "{}", plain.stderr);
}

#[test]
fn the_manuals_example_configuration_runs_line_for_line() {
    let srv = TestServer::start(ServerConfig::default());
    let port = srv.addr().port();
    let (_dir, file) = example_file("manual.toml", port);
    let out = volley()
        .args([
            "run",
            file.to_str().unwrap(),
            "--ramp-duration",
            "300ms",
            "--times",
            "1",
            "--json",
            "-q",
        ])
        .run();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let r = out.json();
    assert_invariant(&r);
    assert_eq!(
        r["requests"]["started"],
        13 * 2,
        "13 slots, one round of 2 URLs"
    );
    assert_eq!(r["workers"].as_array().unwrap().len(), 3);
    let got = srv.received();
    let gets = got.iter().filter(|g| g.method == "GET").count();
    let hugos = got.iter().filter(|g| g.method == "HUGO").count();
    assert_eq!((gets, hugos), (13, 13));
    for g in &got {
        let host = g.header("host").unwrap();
        match g.method.as_str() {
            "GET" => assert_eq!(
                (g.target.as_str(), host),
                ("/-redir", format!("foertsch.name:{port}").as_str())
            ),
            _ => assert_eq!(
                (g.target.as_str(), host),
                ("/", format!("www.kabatinte.net:{port}").as_str())
            ),
        }
    }
}

#[test]
fn the_manuals_hooks_run_in_every_phase() {
    let srv = TestServer::start(ServerConfig::default());
    let (dir, file) = example_file("manual.toml", srv.addr().port());
    let prefix = dir.path("manual.log");
    let out = example("manual")
        .args([
            "run",
            file.to_str().unwrap(),
            "--ramp-duration",
            "300ms",
            "--times",
            "1",
            "--json",
            "-q",
        ])
        .env("MANUAL_LOG", prefix.to_str().unwrap())
        .env("TAG", "1")
        .run();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(
        out.stderr
            .matches("manual: parent_init: 3 workers, 13 slots")
            .count(),
        1
    );
    assert_eq!(out.stderr.matches("manual: parent_exit").count(), 1);
    let mut lines = Vec::new();
    for proc in 0..3 {
        let log = std::fs::read_to_string(format!("{}.{proc}", prefix.display()))
            .unwrap_or_else(|e| panic!("worker {proc}'s log: {e}"));
        lines.extend(log.lines().map(String::from));
    }
    let starts = lines
        .iter()
        .filter(|l| {
            l.ends_with("starts in process 0")
                || l.ends_with("starts in process 1")
                || l.ends_with("starts in process 2")
        })
        .count();
    let dones = lines
        .iter()
        .filter(|l| l.starts_with("# thread") && l.ends_with(" done"))
        .count();
    assert_eq!(
        (starts, dones),
        (13, 13),
        "thread_init and thread_exit per slot"
    );
    let requests: Vec<&String> = lines.iter().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(requests.len(), 26, "req_done per request");
    assert!(
        requests
            .iter()
            .all(|l| l.contains(" 200 ") && l.ends_with(" OK")),
        "{requests:?}"
    );
    assert_eq!(
        requests
            .iter()
            .filter(|l| l.contains("HUGO(http://www.kabatinte.net:"))
            .count(),
        13
    );
    // req_start's edit reached the server: every request carries its slot's number.
    let mut slots: Vec<u32> = srv
        .received()
        .iter()
        .map(|g| g.header("x-slot").expect("tagged").parse().unwrap())
        .collect();
    slots.sort_unstable();
    slots.dedup();
    assert_eq!(slots, (0..13).collect::<Vec<_>>());
}

#[test]
fn done_ends_a_slot_and_proc_exit_sets_the_workers_exit_code() {
    let srv = TestServer::start(ServerConfig::default());
    let (_dir, file) = example_file("manual.toml", srv.addr().port());
    let out = example("manual")
        .args([
            "run",
            file.to_str().unwrap(),
            "-w",
            "1",
            "-c",
            "1",
            "--times",
            "100",
            "--json",
            "-q",
        ])
        .env("STOP_AFTER", "5")
        .env("PROC_EXIT", "7")
        .run();
    let r = out.json();
    assert_invariant(&r);
    assert_eq!(
        r["requests"]["started"], 5,
        "done after the 5th request: {r:#}"
    );
    assert_eq!(srv.received().len(), 5);
    assert_eq!(r["workers"][0]["exit"]["code"], 7);
    assert_eq!(r["valid"], false);
    assert_eq!(out.code, Some(3), "{}", out.stderr);
}

#[test]
fn the_built_in_iterators_compose_through_the_trait() {
    let srv = TestServer::start(
        ServerConfig::default()
            .with_route(Route::new("/r1", 302).header("Location", "/r2"))
            .with_route(Route::new("/r2", 303).header("Location", "r3")),
    );
    let dir = Scratch::new("compose");
    let file = dir.path("run.toml");
    std::fs::write(
        &file,
        format!(
            "workers = 1\nramp_up = {{ max = 1 }}\ntimes = 2\n\
             defaults = {{ host = \"127.0.0.1\", port = {} }}\n\
             [[request]]\nuri = \"/r1\"\nmethod = \"POST\"\nbody = \"x\"\n\
             [[request]]\nuri = \"/x\"\n",
            srv.addr().port()
        ),
    )
    .unwrap();
    let out = example("auth_retry")
        .args([
            "run",
            file.to_str().unwrap(),
            "--iterator",
            "follow_list",
            "--json",
            "-q",
        ])
        .run();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_invariant(&out.json());
    let got: Vec<(String, String)> = srv
        .received()
        .iter()
        .map(|g| (g.method.clone(), g.target.clone()))
        .collect();
    let round = [
        ("POST", "/r1"),
        ("GET", "/r2"),
        ("GET", "/r3"),
        ("GET", "/x"),
    ];
    let want: Vec<(String, String)> = round
        .iter()
        .chain(round.iter())
        .map(|(m, t)| (m.to_string(), t.to_string()))
        .collect();
    assert_eq!(got, want);
}

/// A server whose `/token` replies carry `X-Token` and a body with a marker, and whose
/// `/plain` replies have neither; a run file of both URLs, `rounds` rounds of 2 slots.
fn token_server(rounds: u32) -> (TestServer, Scratch, PathBuf) {
    let srv = TestServer::start(
        ServerConfig::default()
            .with_route(
                Route::new("/token", 200)
                    .header("X-Token", "t-1")
                    .body("token granted: marker here"),
            )
            .with_route(Route::new("/plain", 200).body("nothing to see in this body")),
    );
    let dir = Scratch::new("token_check");
    let text = format!(
        "workers = 2\nramp_up = {{ max = 2 }}\ntimes = {rounds}\n\
         [[request]]\nurl = \"{}\"\nkeepalive = \"both\"\n\
         [[request]]\nurl = \"{}\"\nkeepalive = \"both\"\n",
        srv.url("/token"),
        srv.url("/plain"),
    );
    let file = dir.file("token.toml", &text);
    (srv, dir, file)
}

#[test]
fn a_hook_counts_a_reply_header_in_a_user_counter_the_report_shows() {
    let (srv, _dir, file) = token_server(5);
    let out = example("token_check")
        .args(["run", file.to_str().unwrap(), "--json", "-q"])
        .run();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let r = out.json();
    assert_invariant(&r);
    let carrying = srv
        .received()
        .iter()
        .filter(|g| g.target == "/token")
        .count();
    assert_eq!(carrying, 10, "2 slots, 5 rounds");
    assert_eq!(r["user_counters"]["tokens"], 10, "{}", r["user_counters"]);
    assert_eq!(r["user_counters"]["rejected"], 0);
    let per_worker: u64 = r["workers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["user_counters"]["tokens"].as_u64().unwrap())
        .sum();
    assert_eq!(per_worker, 10);
    assert_eq!(r["replies"]["2xx"], 20);
}

#[test]
fn body_capture_keeps_the_first_bytes_and_says_truncated() {
    let (_srv, _dir, file) = token_server(1);
    for (cap, want_token, want_plain) in [
        ("8", "body 8 true token gr", "body 8 true nothing "),
        (
            "100",
            "body 26 false token granted: marker here",
            "body 27 false nothing to see in this body",
        ),
    ] {
        let out = example("token_check")
            .args(["run", file.to_str().unwrap(), "-q"])
            .env("CAPTURE", cap)
            .env("SHOW_BODY", "1")
            .run();
        assert_eq!(out.code, Some(0), "{}", out.stderr);
        let lines: Vec<&str> = out
            .stderr
            .lines()
            .filter(|l| l.starts_with("body "))
            .collect();
        assert_eq!(lines.len(), 4, "{}", out.stderr);
        assert_eq!(
            lines.iter().filter(|l| **l == want_token).count(),
            2,
            "{lines:?}"
        );
        assert_eq!(
            lines.iter().filter(|l| **l == want_plain).count(),
            2,
            "{lines:?}"
        );
    }
}

#[test]
fn replies_a_hook_rejects_count_as_errors_other_no_marker() {
    let (_srv, _dir, file) = token_server(5);
    let out = example("token_check")
        .args(["run", file.to_str().unwrap(), "--json", "-q"])
        .env("MUST_CONTAIN", "marker")
        .run();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let r = out.json();
    assert_invariant(&r);
    assert_eq!(r["replies"]["total"], 10, "the /token replies");
    assert_eq!(r["errors"]["total"], 10, "the /plain replies");
    assert_eq!(r["errors"]["other"], 10);
    assert_eq!(r["errors_detail"]["other"]["no-marker"], 10);
    assert_eq!(r["user_counters"]["rejected"], 10);
    assert_eq!(r["user_counters"]["tokens"], 10);
    // The text report says the same.
    let text = example("token_check")
        .args(["run", file.to_str().unwrap()])
        .env("MUST_CONTAIN", "marker")
        .run();
    assert!(
        text.stdout.contains("Errors detail: other/no-marker 10"),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout.contains("User counters: tokens 10 rejected 10"),
        "{}",
        text.stdout
    );
}

#[test]
fn a_request_a_hook_breaks_fails_unsent_and_the_others_go_out() {
    let srv = TestServer::start(ServerConfig::default());
    let (_dir, file) = example_file("manual.toml", srv.addr().port());
    let run = |json: bool| {
        let mut args = vec![
            "run",
            file.to_str().unwrap(),
            "--ramp-duration",
            "100ms",
            "--times",
            "1",
            "-q",
        ];
        if json {
            args.push("--json");
        }
        example("manual")
            .args(args)
            .env("TAG", "1")
            .env("BAD_SLOT", "4")
            .run()
    };
    let out = run(true);
    assert_ne!(out.code, None, "{}", out.stderr);
    let r = out.json();
    assert_invariant(&r);
    // 13 slots x 2 requests: slot 4's two carry a CR LF in a value and are not sent.
    assert_eq!(r["replies"]["total"], 24, "{}", out.stdout);
    assert_eq!(r["errors"]["other"], 2);
    assert_eq!(r["errors_detail"]["other"]["hook-request"], 2);
    let why = r["hook_refused"].as_str().expect("hook_refused names why");
    assert!(
        why.contains("the value of header 'X-Slot' contains the control byte \\x0d"),
        "{why}"
    );
    let got = srv.received();
    assert_eq!(
        got.len(),
        24,
        "nothing of slot 4's requests reached the server"
    );
    assert!(got.iter().all(|g| g.header("x-injected").is_none()));
    assert!(got.iter().all(|g| g.header("x-slot") != Some("4")));
    // The text report says why.
    let text = run(false);
    assert!(
        text.stdout
            .contains("Errors: a hook made a request that cannot be sent (worker "),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout.contains("other/hook-request 2"),
        "{}",
        text.stdout
    );
}
