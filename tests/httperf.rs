//! `volley httperf ARGS…`: httperf's command lines run unchanged, print httperf's report,
//! and (where httperf is installed) agree with httperf itself against the same server.

use std::collections::BTreeMap;
use std::process::Command;

use volley_testsupport::{ServerConfig, TestServer};

use crate::volley;

fn httperf_args(srv: &TestServer, uri: &str, extra: &[&str]) -> Vec<String> {
    let mut a = vec![
        "--server".to_string(),
        "127.0.0.1".into(),
        "--port".into(),
        srv.addr().port().to_string(),
        "--uri".into(),
        uri.into(),
    ];
    a.extend(extra.iter().map(|s| s.to_string()));
    a
}

/// Requests per connection, as the server saw them.
fn per_conn(srv: &TestServer) -> BTreeMap<u64, u64> {
    let mut m = BTreeMap::new();
    for r in srv.received() {
        *m.entry(r.conn).or_default() += 1;
    }
    m
}

#[test]
fn an_httperf_command_line_runs_unchanged() {
    let srv = TestServer::start(ServerConfig::default());
    let args = httperf_args(
        &srv,
        "/h",
        &[
            "--num-conns",
            "20",
            "--num-ca=3",
            "--ra",
            "100",
            "--timeout=2",
        ],
    );
    let out = volley().arg("httperf").args(args).run();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let first = out.stdout.lines().next().unwrap();
    assert_eq!(
        first,
        format!(
            "httperf --timeout=2 --client=0/1 --server=127.0.0.1 --port={} --uri=/h --rate=100 \
             --num-conns=20 --num-calls=3",
            srv.addr().port()
        )
    );
    assert!(
        out.stdout
            .contains("Total: connections 20 requests 60 replies 60 "),
        "{}",
        out.stdout
    );
    let conns = per_conn(&srv);
    assert_eq!(conns.len(), 20, "one connection per arrival");
    assert!(
        conns.values().all(|&n| n == 3),
        "--num-calls per connection: {conns:?}"
    );
}

#[test]
fn without_a_rate_connections_go_one_at_a_time() {
    let srv = TestServer::start(ServerConfig::default());
    let out = volley()
        .arg("httperf")
        .args(httperf_args(
            &srv,
            "/seq",
            &["--num-conns", "5", "--num-calls", "2"],
        ))
        .run();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        out.stdout.contains("<=1 concurrent connections"),
        "{}",
        out.stdout
    );
    let mut got = srv.received();
    got.sort_by_key(|r| r.at);
    let conns: Vec<u64> = got.iter().map(|r| r.conn).collect();
    assert_eq!(conns, [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]);
}

#[test]
fn every_client_runs_the_whole_workload_as_in_httperf() {
    // httperf's --client I/N names the machine; each one still runs the whole --rate and
    // --num-conns (volley's own --client takes a share instead).
    let extra = ["--rate", "200", "--num-conns", "40", "--timeout", "2"];
    let srv = TestServer::start(ServerConfig::default());
    for client in ["0/2", "1/2"] {
        let out = volley()
            .arg("httperf")
            .args(httperf_args(&srv, "/c", &extra))
            .args(["--client", client, "--json"])
            .run();
        assert_eq!(out.code, Some(0), "{}", out.stderr);
        assert!(
            out.stderr.contains("--client changes nothing here"),
            "{}",
            out.stderr
        );
        assert_eq!(out.json()["requests"]["started"], 40, "client {client}");
    }
    assert_eq!(srv.received().len(), 80);
    assert_eq!(per_conn(&srv).len(), 80);
    if !volley_testsupport::have("httperf") {
        return volley_testsupport::skip(
            "every_client_runs_the_whole_workload_as_in_httperf",
            "httperf is not installed (apt-get install httperf; .ci/run does)",
        );
    }
    let theirs = TestServer::start(ServerConfig::default());
    for client in ["0/2", "1/2"] {
        let out = Command::new("httperf")
            .args(httperf_args(&theirs, "/c", &extra))
            .args(["--client", client])
            .output()
            .expect("httperf runs");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("Total: connections 40 requests 40 replies 40 "),
            "{text}"
        );
    }
    assert_eq!(theirs.received().len(), 80);
    assert_eq!(per_conn(&theirs).len(), 80);
}

#[test]
fn options_volley_cannot_honour_are_refused() {
    for (bad, says) in [
        (
            &["--wset=10,5"][..],
            "volley httperf: volley does not support --wset yet (working sets)\n",
        ),
        (
            &["--server", "127.0.0.1", "--nonsense"],
            "volley httperf: unknown httperf option --nonsense (see volley httperf --help)\n",
        ),
        (&["--ssl-ciphers=ALL"], "does not support --ssl-ciphers yet"),
        (&["--r", "5"], "--rate"),
        (&["--http-version=2"], "1.0 or 1.1"),
    ] {
        let out = volley().arg("httperf").args(bad.iter().copied()).run();
        assert_eq!(out.code, Some(2), "{bad:?}: {}", out.stderr);
        assert!(out.stderr.contains("httperf"), "{}", out.stderr);
        assert!(out.stderr.contains(says), "{bad:?}: {}", out.stderr);
    }
    let help = volley().args(["httperf", "--help"]).run();
    assert_eq!(help.code, Some(0));
    assert!(
        help.stdout.contains("--ssl-ciphers: cipher lists"),
        "{}",
        help.stdout
    );
}

/// The `--name`s of a usage text.
fn long_options(usage: &str) -> std::collections::BTreeSet<String> {
    usage
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .filter(|w| w.starts_with("--") && w.len() > 2)
        .map(str::to_string)
        .collect()
}

#[test]
fn the_usage_line_lists_every_option_httperf_has() {
    if !volley_testsupport::have("httperf") {
        return volley_testsupport::skip(
            "the_usage_line_lists_every_option_httperf_has",
            "httperf is not installed (apt-get install httperf; .ci/run does)",
        );
    }
    let theirs = Command::new("httperf").arg("--help").output().unwrap();
    let theirs = long_options(&String::from_utf8_lossy(&theirs.stdout));
    assert!(theirs.contains("--wsesslog"), "{theirs:?}");
    let help = volley().args(["httperf", "--help"]).run().stdout;
    let usage: String = help.lines().skip(2).take_while(|l| !l.is_empty()).collect();
    let ours = long_options(&usage);
    let missing: Vec<&String> = theirs.difference(&ours).collect();
    assert!(
        missing.is_empty(),
        "volley's usage lacks {missing:?}:\n{usage}"
    );
}

/// The label of a report line: its text up to the first digit (httperf's line shapes).
fn shape(line: &str) -> String {
    line.split(|c: char| c.is_ascii_digit())
        .next()
        .unwrap_or("")
        .trim_end()
        .to_string()
}

#[test]
fn the_report_has_httperfs_lines_and_counts() {
    if !volley_testsupport::have("httperf") {
        return volley_testsupport::skip(
            "the_report_has_httperfs_lines_and_counts",
            "httperf is not installed (apt-get install httperf; .ci/run does)",
        );
    }
    let extra = [
        "--num-conns",
        "30",
        "--num-calls",
        "2",
        "--rate",
        "200",
        "--timeout",
        "5",
    ];
    let theirs_srv = TestServer::start(ServerConfig::default());
    let theirs = Command::new("httperf")
        .args(httperf_args(&theirs_srv, "/cmp", &extra))
        .output()
        .expect("httperf runs");
    let theirs = String::from_utf8_lossy(&theirs.stdout).to_string();
    let ours_srv = TestServer::start(ServerConfig::default());
    let ours = volley()
        .arg("httperf")
        .args(httperf_args(&ours_srv, "/cmp", &extra))
        .run();
    assert_eq!(ours.code, Some(0), "{}", ours.stderr);
    let ours = ours.stdout;
    // Both servers saw the same work.
    assert_eq!(theirs_srv.received().len(), 60);
    assert_eq!(ours_srv.received().len(), 60);
    assert_eq!(per_conn(&theirs_srv).len(), per_conn(&ours_srv).len());
    // The same counts on the lines scripts grep.
    let line = |text: &str, prefix: &str| {
        text.lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no '{prefix}' line in:\n{text}"))
            .to_string()
    };
    let total = |text: &str| {
        let l = line(text, "Total:");
        l[..l.find(" test-duration").unwrap()].to_string()
    };
    assert_eq!(total(&theirs), total(&ours));
    for prefix in ["Reply status:", "Errors: total", "Errors: fd-unavail"] {
        assert_eq!(line(&theirs, prefix), line(&ours, prefix), "{prefix}");
    }
    // Every line shape of httperf's report appears in volley's, in the same order.
    let our_shapes: Vec<String> = ours.lines().map(shape).collect();
    let mut at = 0;
    for l in theirs
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with("httperf"))
    {
        let want = shape(l);
        match our_shapes[at..].iter().position(|s| *s == want) {
            Some(i) => at += i + 1,
            None => panic!(
                "httperf's line '{l}' (shape '{want}') is missing or out of order in:\n{ours}"
            ),
        }
    }
    // The echo line is httperf's, but for the socket buffer sizes volley leaves alone
    // (and the two servers' ports).
    let echo = |t: &str, port: u16| {
        t.lines()
            .next()
            .unwrap()
            .replace(" --send-buffer=4096 --recv-buffer=16384", "")
            .replace(&port.to_string(), "PORT")
    };
    assert_eq!(
        echo(&ours, ours_srv.addr().port()),
        echo(&theirs, theirs_srv.addr().port())
    );
}

#[test]
fn wsess_runs_sessions_with_think_times_and_prints_the_session_lines() {
    let srv = TestServer::start(ServerConfig::default());
    let out = volley()
        .arg("httperf")
        .args(httperf_args(
            &srv,
            "/s",
            &["--wsess=6,3,0.2", "--rate", "20", "--timeout", "5"],
        ))
        .run();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let text = &out.stdout;
    assert!(
        text.contains("Total: connections 6 requests 18 replies 18 "),
        "{text}"
    );
    let session = text
        .lines()
        .find(|l| l.starts_with("Session rate [sess/s]:"))
        .unwrap();
    assert!(session.ends_with("(6/6)"), "{session}");
    assert!(
        text.contains("Session: avg 1.00 connections/session"),
        "{text}"
    );
    assert!(text.contains("Session length histogram: 0 0 0 6"), "{text}");
    let lifetime = text
        .lines()
        .find(|l| l.starts_with("Session lifetime [s]:"))
        .unwrap();
    let secs: f64 = lifetime.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(
        (0.3..1.5).contains(&secs),
        "two 0.2 s think times: {lifetime}"
    );
    // Each session has its own connection; its calls are 0.2 s apart.
    let mut by_conn: BTreeMap<u64, Vec<std::time::Instant>> = BTreeMap::new();
    for r in srv.received() {
        by_conn.entry(r.conn).or_default().push(r.at);
    }
    assert_eq!(by_conn.len(), 6);
    for at in by_conn.values() {
        assert_eq!(at.len(), 3);
        for w in at.windows(2) {
            let gap = w[1].duration_since(w[0]).as_millis();
            assert!((195..800).contains(&gap), "think time 200 ms: {gap}");
        }
    }
}

#[test]
fn wsesslog_cycles_through_the_logs_sessions() {
    let srv = TestServer::start(ServerConfig::default());
    let dir = std::env::temp_dir().join(format!("volley-wsesslog-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("sessions.log");
    std::fs::write(
        &log,
        "# two sessions\n/a.html think=0.1\n    /a.gif\n/b method=POST contents='k=v'\n\n/c.html\n",
    )
    .unwrap();
    let out = volley()
        .arg("httperf")
        .args(httperf_args(
            &srv,
            "/",
            &[&format!("--wsesslog=4,0,{}", log.display()), "--rate", "50"],
        ))
        .run();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    // Sessions 0 and 2 are the log's first, 1 and 3 its second.
    let mut by_conn: BTreeMap<u64, Vec<(String, String, Vec<u8>)>> = BTreeMap::new();
    for r in srv.received() {
        by_conn.entry(r.conn).or_default().push((
            r.method.clone(),
            r.target.clone(),
            r.body.clone(),
        ));
    }
    let mut shapes: Vec<Vec<String>> = by_conn
        .values()
        .map(|reqs| reqs.iter().map(|(m, t, _)| format!("{m} {t}")).collect())
        .collect();
    shapes.sort();
    assert_eq!(
        shapes,
        [
            vec!["GET /a.html", "GET /a.gif", "POST /b"],
            vec!["GET /a.html", "GET /a.gif", "POST /b"],
            vec!["GET /c.html"],
            vec!["GET /c.html"],
        ]
    );
    let post = by_conn
        .values()
        .flatten()
        .find(|(m, _, _)| m == "POST")
        .unwrap();
    assert_eq!(post.2, b"k=v");
    assert!(
        out.stdout.contains("Session length histogram: 0 2 0 2"),
        "{}",
        out.stdout
    );
}
