//! HTTP/1.1 pipelining (HOSTILE.md S39, F13, F27): requests written back to back on a
//! connection, replies paired with them in order, one latency sample per request, and
//! nothing lost when the server closes with requests unanswered.

use std::collections::{BTreeMap, HashMap};

use volley_testsupport::{Route, ServerConfig, TestServer};

use crate::run::assert_invariant;
use crate::volley;

fn log_rows(path: &std::path::Path) -> Vec<HashMap<String, String>> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header: Vec<String> = lines.next().unwrap().split(',').map(String::from).collect();
    lines
        .map(|l| {
            header
                .iter()
                .cloned()
                .zip(l.split(',').map(String::from))
                .collect()
        })
        .collect()
}

fn scratch(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("volley-pipe-{name}-{}", std::process::id()))
}

#[test]
fn s39_pipelined_requests_are_counted_and_timed_one_by_one() {
    let srv = TestServer::start(ServerConfig::default());
    let log = scratch("count.csv");
    let out = volley()
        .args([
            &srv.url("/p"),
            "--pipeline",
            "4",
            "-c",
            "2",
            "-w",
            "1",
            "-n",
            "200",
            "--json",
            "-q",
            "--log",
            log.to_str().unwrap(),
        ])
        .run();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let r = out.json();
    assert_invariant(&r);
    assert_eq!(r["requests"]["started"], 200);
    assert_eq!(r["replies"]["total"], 200);
    assert_eq!(
        r["latency_ms"]["reply"]["count"], 200,
        "one latency sample per request"
    );
    // The server read exactly what volley counted, on the two slots' connections.
    let got = srv.received();
    assert_eq!(got.len(), 200);
    let mut per_conn: BTreeMap<u64, u64> = BTreeMap::new();
    for g in &got {
        *per_conn.entry(g.conn).or_default() += 1;
    }
    assert_eq!(per_conn.values().sum::<u64>(), 200);
    assert_eq!(per_conn.len(), 2, "{per_conn:?}");
    // Requests went out four at a time: four records share each start instant.
    let rows = log_rows(&log);
    let _ = std::fs::remove_file(&log);
    let mut starts: HashMap<(String, String), usize> = HashMap::new();
    for row in &rows {
        *starts
            .entry((row["slot"].clone(), row["start_ms"].clone()))
            .or_default() += 1;
    }
    assert!(starts.values().all(|&n| n == 4), "{starts:?}");
    assert_eq!(starts.len(), 50);
}

#[test]
fn replies_pair_with_their_requests_in_order() {
    let srv = TestServer::start(
        ServerConfig::default().with_route(Route::new("/b", 404).body(b"no".to_vec())),
    );
    let dir = scratch("pair");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("run.toml");
    std::fs::write(
        &file,
        format!(
            "workers = 1\nramp_up = {{ max = 1 }}\ntimes = 6\n\
             [[request]]\nurl = \"{}\"\n[[request]]\nurl = \"{}\"\n[[request]]\nurl = \"{}\"\n",
            srv.url("/a"),
            srv.url("/b"),
            srv.url("/c")
        ),
    )
    .unwrap();
    let log = dir.join("log.csv");
    let out = volley()
        .args([
            "run",
            file.to_str().unwrap(),
            "--pipeline",
            "4",
            "--json",
            "-q",
            "--log",
            log.to_str().unwrap(),
        ])
        .run();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let r = out.json();
    assert_eq!(r["replies"]["2xx"], 12);
    assert_eq!(r["replies"]["4xx"], 6);
    let rows = log_rows(&log);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(rows.len(), 18);
    for row in &rows {
        let want = if row["url"].ends_with("/b") {
            "404"
        } else {
            "200"
        };
        assert_eq!(row["status"], want, "{row:?}");
        let body = if want == "404" { "2" } else { "3" };
        assert_eq!(row["body_bytes"], body, "{row:?}");
    }
    let order: Vec<String> = srv.received().iter().map(|g| g.target.clone()).collect();
    let round = ["/a", "/b", "/c"];
    assert!(
        order.iter().zip(round.iter().cycle()).all(|(g, w)| g == w),
        "{order:?}"
    );
}

#[test]
fn requests_left_unanswered_by_a_closing_server_are_counted() {
    // The server closes each connection after 3 replies; with 4 requests pipelined, the
    // fourth of each burst gets none.
    let srv = TestServer::start(ServerConfig::default().with_close_after(3));
    let out = volley()
        .args([
            &srv.url("/close"),
            "--pipeline",
            "4",
            "-c",
            "1",
            "-w",
            "1",
            "-n",
            "40",
            "--json",
            "-q",
        ])
        .run();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let r = out.json();
    assert_invariant(&r);
    assert_eq!(r["requests"]["started"], 40);
    assert_eq!(r["replies"]["total"], 30);
    assert_eq!(r["errors"]["total"], 10, "{r:#}");
}

#[test]
fn httperf_bursts_are_pipelined() {
    let srv = TestServer::start(ServerConfig::default());
    let out = volley()
        .args([
            "httperf",
            "--server",
            "127.0.0.1",
            "--port",
            &srv.addr().port().to_string(),
            "--uri",
            "/burst",
            "--num-conns",
            "5",
            "--num-calls",
            "8",
            "--burst-length",
            "4",
        ])
        .run();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        out.stdout
            .contains("Total: connections 5 requests 40 replies 40 "),
        "{}",
        out.stdout
    );
    let mut per_conn: BTreeMap<u64, u64> = BTreeMap::new();
    for g in srv.received() {
        *per_conn.entry(g.conn).or_default() += 1;
    }
    assert_eq!(
        per_conn.values().copied().collect::<Vec<_>>(),
        [8, 8, 8, 8, 8]
    );
}
