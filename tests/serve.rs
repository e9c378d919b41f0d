//! `volley serve`, the built-in target: started on an ephemeral loopback port, its routes
//! read off the wire, every example and README command run against it, and how its
//! processes end.
//!
//! The examples and README commands are written for `127.0.0.1:8080`, `volley serve`'s
//! default address. Here they run against the test's own port: the run files are copied
//! with `8080` replaced (as tests/hooks.rs does), and the README commands get the
//! test's address and bounded lengths (see [`readme_command`]).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use serde_json::Value;
use volley_testsupport::{Running, Scratch, Volley, process_alive, wait_until};

use crate::hooks::{example, example_file};
use crate::run::assert_invariant;
use crate::volley;

/// A running `volley serve --listen 127.0.0.1:0`.
pub(crate) struct Served {
    running: Running,
    pub(crate) addr: SocketAddr,
    /// The serving processes (children of `running`).
    pids: Vec<i32>,
}

impl Served {
    pub(crate) fn start(workers: u32) -> Served {
        let running = volley()
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "-w",
                &workers.to_string(),
            ])
            .deadline(Duration::from_secs(120))
            .spawn();
        let up = wait_until(Duration::from_secs(10), || {
            running.stdout_so_far().contains('\n') && running.stderr_so_far().contains("pids")
        });
        assert!(
            up,
            "volley serve did not start: {}",
            running.stderr_so_far()
        );
        let stdout = running.stdout_so_far();
        let addr = stdout.lines().next().unwrap().parse().expect("an address");
        let stderr = running.stderr_so_far();
        let pids = stderr
            .split_once("pids ")
            .and_then(|(_, rest)| rest.split_once(')'))
            .map(|(pids, _)| pids.split(' ').map(|p| p.parse().unwrap()).collect())
            .expect("pids on stderr");
        Served {
            running,
            addr,
            pids,
        }
    }

    /// SIGTERM: every process exits, the parent with code 0.
    pub(crate) fn stop(self) {
        self.running.signal(libc::SIGTERM);
        let out = self.running.wait();
        assert_eq!(out.code, Some(0), "{}", out.stderr);
        for pid in self.pids {
            assert!(
                !process_alive(pid),
                "server process {pid} outlived volley serve"
            );
        }
    }

    fn connect(&self) -> BufReader<TcpStream> {
        let stream = TcpStream::connect(self.addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        BufReader::new(stream)
    }
}

/// A reply read off a connection.
#[derive(Debug)]
struct Got {
    status: u16,
    head: String,
    body: Vec<u8>,
}

impl Got {
    fn field(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

/// Reads one reply (RFC 9112 §6.3 framing) from `conn`; `head_request` for a HEAD.
fn read_reply(conn: &mut BufReader<TcpStream>, head_request: bool) -> Got {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        assert!(
            conn.read_line(&mut line).expect("reply line") > 0,
            "EOF in head: {head}"
        );
        if line == "\r\n" {
            break;
        }
        head.push_str(&line);
    }
    let status: u16 = head[9..12].parse().expect("status");
    let mut got = Got {
        status,
        head,
        body: Vec::new(),
    };
    if head_request || matches!(status, 100..=199 | 204 | 304) {
        return got;
    }
    if got.field("transfer-encoding") == Some("chunked") {
        loop {
            let mut size = String::new();
            conn.read_line(&mut size).unwrap();
            let size = usize::from_str_radix(size.trim(), 16).expect("chunk size");
            let mut data = vec![0; size + 2];
            conn.read_exact(&mut data).unwrap();
            if size == 0 {
                assert_eq!(data, b"\r\n", "no trailers");
                return got;
            }
            got.body.extend_from_slice(&data[..size]);
        }
    }
    let length: usize = got
        .field("content-length")
        .expect("length")
        .parse()
        .unwrap();
    got.body = vec![0; length];
    conn.read_exact(&mut got.body).unwrap();
    got
}

fn assert_eof(conn: &mut BufReader<TcpStream>) {
    let mut rest = Vec::new();
    conn.read_to_end(&mut rest).expect("the server closes");
    assert!(rest.is_empty(), "{}", String::from_utf8_lossy(&rest));
}

#[test]
fn pipelined_requests_get_framed_replies_in_order() {
    let served = Served::start(1);
    let mut conn = served.connect();
    let requests = [
        ("GET /small", "", 200, 95),
        ("HEAD /1k", "", 200, 0),
        ("GET /status/204", "", 204, 0),
        (
            "POST /status/201",
            "Content-Length: 5\r\n\r\nhello",
            201,
            12,
        ),
        (
            "PUT /small",
            "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
            200,
            95,
        ),
        ("GET /chunked/5000", "", 200, 5000),
        ("GET /delay/50", "", 200, 95),
        ("GET /redirect/2", "", 302, 0),
        ("HUGO /1m", "", 200, 1 << 20),
        ("GET /nope", "Connection: close\r\n\r\n", 404, 0),
    ];
    let mut wire = String::new();
    for (line, rest) in requests.iter().map(|r| (r.0, r.1)) {
        wire.push_str(&format!("{line} HTTP/1.1\r\nHost: h.test:1\r\n"));
        wire.push_str(if rest.is_empty() { "\r\n" } else { rest });
    }
    conn.get_mut().write_all(wire.as_bytes()).unwrap();
    for (line, _, status, length) in requests {
        let got = read_reply(&mut conn, line.starts_with("HEAD"));
        assert_eq!(got.status, status, "{line}: {}", got.head);
        if length > 0 {
            assert_eq!(got.body.len(), length, "{line}");
        }
        match line {
            "HEAD /1k" => assert_eq!(got.field("content-length"), Some("1024")),
            "GET /chunked/5000" => assert!(got.field("content-length").is_none()),
            "GET /redirect/2" => assert_eq!(got.field("location"), Some("/redirect/1")),
            "GET /nope" => assert_eq!(got.field("connection"), Some("close")),
            _ => {}
        }
    }
    assert_eof(&mut conn);
    served.stop();
}

#[test]
fn expect_100_http_1_0_and_refusals() {
    let served = Served::start(1);
    let mut conn = served.connect();
    let head =
        "POST /small HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n";
    conn.get_mut().write_all(head.as_bytes()).unwrap();
    assert_eq!(read_reply(&mut conn, false).status, 100);
    conn.get_mut().write_all(b"body").unwrap();
    assert_eq!(read_reply(&mut conn, false).status, 200);
    // HTTP/1.0 gets no chunked reply, and its connection closes unless it asked.
    let mut old = served.connect();
    old.get_mut()
        .write_all(b"GET /chunked/10 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        .unwrap();
    let got = read_reply(&mut old, false);
    assert_eq!(
        (got.field("content-length"), got.body.len()),
        (Some("10"), 10)
    );
    old.get_mut()
        .write_all(b"GET /small HTTP/1.0\r\n\r\n")
        .unwrap();
    assert_eq!(read_reply(&mut old, false).status, 200);
    assert_eof(&mut old);
    // Framing that cannot be trusted: 400, then the connection closes.
    let mut bad = served.connect();
    bad.get_mut()
        .write_all(b"POST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n")
        .unwrap();
    let got = read_reply(&mut bad, false);
    assert_eq!(got.status, 400);
    assert!(String::from_utf8_lossy(&got.body).contains("both Content-Length"));
    assert_eof(&mut bad);
    served.stop();
}

#[test]
fn a_delayed_reply_does_not_hold_up_other_connections() {
    // One process: both connections are on the same event loop.
    let served = Served::start(1);
    let mut slow = served.connect();
    let started = Instant::now();
    slow.get_mut()
        .write_all(b"GET /delay/1500 HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut fast = served.connect();
    fast.get_mut()
        .write_all(b"GET /small HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert_eq!(read_reply(&mut fast, false).status, 200);
    assert!(
        started.elapsed() < Duration::from_millis(1000),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(read_reply(&mut slow, false).status, 200);
    assert!(started.elapsed() >= Duration::from_millis(1500));
    served.stop();
}

#[test]
fn connections_spread_over_the_processes() {
    let served = Served::start(2);
    let mut conns: Vec<_> = (0..40).map(|_| served.connect()).collect();
    for conn in &mut conns {
        conn.get_mut()
            .write_all(b"GET /small HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        assert_eq!(read_reply(conn, false).status, 200);
    }
    // Each process holds some of the 40 open connections (the kernel hashes them over the
    // processes' sockets: all on one has a chance of 2^-39).
    for &pid in &served.pids {
        let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).unwrap();
        let sockets: std::collections::HashSet<_> = fds
            .filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
            .filter(|link| link.to_string_lossy().starts_with("socket:"))
            .collect();
        // Its listener (stdin, and a duplicate) and at least one connection.
        assert!(sockets.len() >= 2, "process {pid} has sockets {sockets:?}");
    }
    drop(conns);
    served.stop();
}

#[test]
fn its_processes_end_with_it_however_it_ends() {
    let served = Served::start(2);
    assert_eq!(served.pids.len(), 2);
    let Served { running, pids, .. } = served;
    running.signal(libc::SIGKILL);
    let out = running.wait();
    assert_eq!(out.code, None, "killed");
    let gone = wait_until(Duration::from_secs(5), || {
        pids.iter().all(|&pid| !process_alive(pid))
    });
    assert!(
        gone,
        "server processes {pids:?} outlived their killed parent"
    );
}

#[test]
fn a_non_loopback_address_needs_listen_any() {
    let out = volley().args(["serve", "--listen", "0.0.0.0:0"]).run();
    assert_eq!(out.code, Some(2));
    assert!(out.stderr.contains("--listen-any"), "{}", out.stderr);
    let out = volley().args(["serve-worker"]).run();
    assert_eq!(out.code, Some(1));
    assert!(
        out.stderr.contains("started by `volley serve`"),
        "{}",
        out.stderr
    );
}

/// Asserts a `--json` report: exit 0, no error, every reply 2xx or 3xx (auth_retry's
/// 401s are each followed by the retry's 200, by design).
fn assert_clean(what: &str, out: &volley_testsupport::Output, auth_retry: bool) {
    assert_eq!(out.code, Some(0), "{what}: {}", out.stderr);
    let r: Value = out.json();
    assert_invariant(&r);
    let n = |k: &str| r["replies"][k].as_u64().unwrap();
    assert_eq!(r["errors"]["total"], 0, "{what}: {r:#}");
    assert!(n("total") > 0, "{what}: {r:#}");
    assert_eq!(n("5xx"), 0, "{what}: {r:#}");
    if auth_retry {
        assert!(n("4xx") > 0, "{what}: {r:#}");
        assert_eq!(
            n("4xx"),
            n("2xx"),
            "{what}: every 401 is retried into a 200"
        );
    } else {
        assert_eq!(n("4xx"), 0, "{what}: {r:#}");
    }
}

#[test]
fn every_example_runs_against_it() {
    let served = Served::start(2);
    let port = served.addr.port();
    let (_dir, manual) = example_file("manual.toml", port);
    let (_dir2, auth) = example_file("auth_retry.toml", port);
    let (_dir3, token) = example_file("token_check.toml", port);
    let manual = manual.to_str().unwrap();
    // The manual's ramp-up is 5 s and 3 rounds; one quick round says the same here.
    let quick = ["--ramp-duration", "300ms", "--times", "1", "--json", "-q"];
    let runs: [(&str, Volley, &str); 4] = [
        ("volley run manual.toml", volley(), manual),
        ("examples/manual", example("manual"), manual),
        (
            "examples/auth_retry",
            example("auth_retry"),
            auth.to_str().unwrap(),
        ),
        (
            "examples/token_check",
            example("token_check"),
            token.to_str().unwrap(),
        ),
    ];
    for (what, bin, file) in runs {
        let out = bin.args(["run", file]).args(quick).run();
        assert_clean(what, &out, what.ends_with("auth_retry"));
    }
    served.stop();
}

/// Subcommands that read result files rather than run a load.
const RESULT_COMMANDS: [&str; 3] = ["report", "merge", "compare"];

/// A README command line (from a `sh` block) made to run here: the test's address for
/// `127.0.0.1:8080`, a copy of the run file it names, and bounded lengths (`-d 1s`,
/// `-n 1000`, httperf's `--num-conns 100`; run files `--ramp-duration 300ms` and `-d 2s`
/// unless a length is given); a unique `--run-name`; `--json` for the check. `None` for
/// commands that load no server (`volley top`, `volley serve`). Result files and pages
/// named in it are put in `scratch`.
fn readme_command(line: &str, addr: SocketAddr, scratch: &Scratch) -> Option<Vec<String>> {
    let line = line
        .split(" #")
        .next()
        .unwrap()
        .trim()
        .trim_end_matches('&')
        .trim();
    let mut words = shell_words(line);
    if matches!(words.get(1).map(String::as_str), Some("top" | "serve")) {
        return None;
    }
    let bounded = line.contains(" -n ") || line.contains(" -d ");
    for i in 1..words.len() {
        let prev = words[i - 1].clone();
        let word = &mut words[i];
        *word = word.replace("127.0.0.1:8080", &addr.to_string());
        match prev.as_str() {
            "--port" => *word = addr.port().to_string(),
            "-d" => *word = "1s".into(),
            "-n" => *word = "1000".into(),
            "--num-conns" => *word = "100".into(),
            "--run-name" => *word = format!("readme-{}-{i}", std::process::id()),
            // Any free port, and no linger waiting for a scraper that is not there.
            "--metrics-listen" => *word = "127.0.0.1:0".into(),
            _ => {}
        }
        // Result files and pages go to the scratch directory, not the checkout.
        let is_file = word.ends_with(".json") || word.ends_with(".html");
        if is_file && !word.starts_with("examples/") {
            let name = word.rsplit('/').next().unwrap().to_string();
            *word = scratch.path(&name).to_str().unwrap().to_string();
        }
    }
    if words
        .get(1)
        .is_some_and(|w| RESULT_COMMANDS.contains(&w.as_str()))
    {
        return Some(words);
    }
    if let Some(i) = words.iter().position(|w| w.starts_with("examples/")) {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(&words[i]);
        let text = std::fs::read_to_string(path).expect("example run file");
        let name = words[i].trim_start_matches("examples/").to_string();
        let copy = scratch.file(&name, &text.replace("8080", &addr.port().to_string()));
        words[i] = copy.to_str().unwrap().to_string();
        words.extend(["--ramp-duration".into(), "300ms".into()]);
        if !bounded {
            words.extend(["-d".into(), "2s".into()]);
        }
    }
    if words.iter().any(|w| w == "--metrics-listen") {
        words.extend(["--metrics-linger".into(), "0s".into()]);
    }
    if !words.iter().any(|w| w == "--json") {
        words.push("--json".into());
    }
    Some(words)
}

#[test]
fn the_readme_commands_run_against_it() {
    let served = Served::start(2);
    let scratch = Scratch::new("readme");
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let mut in_sh = false;
    let mut ran = Vec::new();
    for line in readme.lines() {
        if line.starts_with("```") {
            in_sh = line == "```sh";
            continue;
        }
        let runnable = line.starts_with("volley ") || line.starts_with("target/release/examples/");
        if !in_sh || !runnable {
            continue;
        }
        let Some(words) = readme_command(line, served.addr, &scratch) else {
            continue;
        };
        let bin = match words[0].strip_prefix("target/release/examples/") {
            Some(name) => example(name),
            None => volley(),
        };
        let out = bin.args(&words[1..]).run();
        if RESULT_COMMANDS.contains(&words[1].as_str()) {
            // They read the files the commands above wrote; their output is tested in
            // their own files (html.rs, merge.rs). A compare gate may fail (4) on two
            // short runs of one server: only unusable input (2) or a crash is wrong here.
            let ok: &[i32] = if words[1] == "compare" { &[0, 4] } else { &[0] };
            assert!(
                out.code.is_some_and(|c| ok.contains(&c)),
                "{line}: {:?} {}",
                out.code,
                out.stderr
            );
        } else {
            assert_clean(line, &out, line.contains("auth_retry"));
        }
        ran.push(line.to_string());
    }
    // The Usage, Open loop, httperf and Hooks sections each have commands against it, and
    // the result commands read what those wrote.
    for needle in [
        "-w 2 -c 50",
        "--rate 2000",
        "volley httperf",
        "examples/manual run",
        "volley report",
        "volley merge",
        "volley compare",
    ] {
        assert!(
            ran.iter().any(|l| l.contains(needle)),
            "no README command with {needle}: {ran:#?}"
        );
    }
    served.stop();
}

/// `line` split into words as a shell would for README's commands: whitespace separates,
/// single quotes keep spaces (`--check 'p99 < 50ms'`); a `#` word starts a comment.
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                word.get_or_insert_with(String::new);
            }
            c if c.is_whitespace() && !quoted => words.extend(word.take()),
            '#' if !quoted && word.is_none() => break,
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    words
}

#[test]
fn readme_lines_split_like_a_shell() {
    assert_eq!(
        shell_words("volley x --check 'p99 < 50ms'  -c 5 # note"),
        ["volley", "x", "--check", "p99 < 50ms", "-c", "5"]
    );
}
