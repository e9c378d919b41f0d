//! https over rustls: certificates verified by default (each failure counted in class
//! `tls` with its detail), `--insecure`, client certificates, resumption counted and
//! switchable, handshake timeouts, close-delimited bodies ended with and without
//! close_notify, plain HTTP and TLS ports mixed up, and self-signed `--cacert`
//! certificates pinned. Every server is a rustls loopback server with certificates made
//! for this test run, by rcgen (or by the `openssl` CLI, as users make them).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use volley_testsupport::hostile::{HostileServer, Step};
use volley_testsupport::tls::{Leaf, TestPki, server_config_from_pem};
use volley_testsupport::{Reply, Scratch, ServerConfig, TestServer};

use crate::openloop::{assert_naps_keep_reply_times, nap_figures};
use crate::volley;

fn tls_server(pki: &TestPki, leaf: Leaf) -> TestServer {
    TestServer::start_tls(ServerConfig::default(), pki.server_config(leaf))
}

fn line<'a>(text: &'a str, prefix: &str) -> &'a str {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no '{prefix}' line in:\n{text}"))
}

/// Runs `volley URL -n N -c 1 -w 1 --json EXTRA…` and returns the JSON report.
fn run_json(url: &str, n: u32, extra: &[&str]) -> serde_json::Value {
    let n = n.to_string();
    let out = volley()
        .args([url, "-n", &n, "-c", "1", "-w", "1", "--json", "-q"])
        .args(extra.iter().copied())
        .run();
    // 4: no request got a reply (a refused handshake, say).
    assert!(matches!(out.code, Some(0 | 3 | 4)), "{}", out.stderr);
    out.json()
}

fn errors(v: &serde_json::Value, class: &str, detail: &str) -> u64 {
    v["errors_detail"][class][detail].as_u64().unwrap_or(0)
}

#[test]
fn https_is_verified_with_the_ca_and_counted() {
    let pki = TestPki::new();
    let srv = tls_server(&pki, Leaf::Good);
    let ca = pki.ca_pem().to_str().unwrap();
    // The certificate holds 127.0.0.1; no SNI is sent for an IP address.
    let v = run_json(&srv.url("/s"), 20, &["--cacert", ca]);
    assert_eq!(v["replies"]["total"], 20, "{v:#}");
    assert_eq!(srv.received().len(), 20);
    assert_eq!(v["connections"]["opened"], 1);
    assert_eq!(v["tls"]["handshakes_full"], 1);
    assert_eq!(v["tls"]["certificates_verified"], true);
    assert_eq!(v["latency_ms"]["tls_handshake"]["count"], 1);
    assert_eq!(srv.tls_handshakes().full, 1);

    // A name: the run file maps it to the server (dnscache), the certificate must hold
    // it, and it is the SNI and the Host.
    let scratch = Scratch::new("tls-name");
    let file = scratch.file(
        "run.toml",
        &format!(
            "times = 3\ncacert = \"{ca}\"\n[dnscache]\nlocalhost = \"127.0.0.1\"\n\
             [[request]]\nurl = \"{}\"\n",
            srv.url_with_host("localhost", "/named")
        ),
    );
    let out = volley()
        .args(["run", file.to_str().unwrap(), "-c", "1", "-w", "1", "-q"])
        .run();
    assert_eq!(out.code, Some(0), "{}\n{}", out.stderr, out.stdout);
    let named: Vec<_> = srv
        .received()
        .into_iter()
        .filter(|r| r.target == "/named")
        .collect();
    assert_eq!(named.len(), 3);
    let port = srv.addr().port();
    assert_eq!(
        named[0].header("Host"),
        Some(format!("localhost:{port}").as_str())
    );
    assert!(
        out.stdout.contains("TLS: handshakes full 1 resumed 0"),
        "{}",
        out.stdout
    );
}

#[test]
fn bad_certificates_are_tls_errors_with_their_reason() {
    let pki = TestPki::new();
    let ca = pki.ca_pem().to_str().unwrap().to_string();

    // No --cacert: the test CA is not among the built-in roots.
    let srv = tls_server(&pki, Leaf::Good);
    let v = run_json(&srv.url("/"), 3, &[]);
    assert_eq!(errors(&v, "tls", "cert-unknown-issuer"), 3, "{v:#}");
    assert_eq!(
        srv.received().len(),
        0,
        "no request leaves an unverified connection"
    );

    let wrong = tls_server(&pki, Leaf::WrongName);
    let v = run_json(&wrong.url("/"), 2, &["--cacert", &ca]);
    assert_eq!(errors(&v, "tls", "cert-wrong-name"), 2, "{v:#}");

    let expired = tls_server(&pki, Leaf::Expired);
    let v = run_json(&expired.url("/"), 2, &["--cacert", &ca]);
    assert_eq!(errors(&v, "tls", "cert-expired"), 2, "{v:#}");

    // --insecure: the run goes through, and the report says what was skipped.
    let out = volley()
        .args([
            &wrong.url("/i"),
            "-n",
            "4",
            "-c",
            "1",
            "-w",
            "1",
            "-q",
            "-k",
        ])
        .run();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        out.stdout.starts_with("WARNING: --insecure"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("certificates NOT verified"),
        "{}",
        out.stdout
    );
    assert_eq!(wrong.received().len(), 4);

    // A CA file that is not one is refused before any load, as bad input.
    let scratch = Scratch::new("tls-bad-ca");
    let junk = scratch.file("junk.pem", "not a certificate\n");
    let out = volley()
        .args([&srv.url("/"), "-n", "1", "--cacert", junk.to_str().unwrap()])
        .run();
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(out.stderr.contains("no PEM certificate"), "{}", out.stderr);
}

#[test]
fn sessions_are_resumed_unless_turned_off() {
    let pki = TestPki::new();
    let ca = pki.ca_pem().to_str().unwrap();
    // Connection: close makes every request open a new connection.
    let srv = tls_server(&pki, Leaf::Good);
    let v = run_json(
        &srv.url("/r"),
        10,
        &["--cacert", ca, "-H", "Connection: close"],
    );
    assert_eq!(v["replies"]["total"], 10, "{v:#}");
    assert_eq!(v["connections"]["opened"], 10);
    assert_eq!(
        (
            v["tls"]["handshakes_full"].as_u64(),
            v["tls"]["handshakes_resumed"].as_u64()
        ),
        (Some(1), Some(9)),
        "{v:#}"
    );
    assert_eq!(srv.tls_handshakes().resumed, 9, "the server agrees");

    // Many slots reconnecting together still resume: the session store keeps tickets
    // for every slot, not a fixed handful per server.
    let srv = tls_server(&pki, Leaf::Good);
    let out = volley()
        .args([
            &srv.url("/many"),
            "-n",
            "400",
            "-c",
            "20",
            "-w",
            "1",
            "--json",
            "-q",
        ])
        .args(["--cacert", ca, "-H", "Connection: close"])
        .run();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let v = out.json();
    assert_eq!(v["replies"]["total"], 400, "{v:#}");
    let full = v["tls"]["handshakes_full"].as_u64().unwrap();
    assert!(full <= 20, "one full handshake per slot at most: {v:#}");
    assert_eq!(full + v["tls"]["handshakes_resumed"].as_u64().unwrap(), 400);

    let srv = tls_server(&pki, Leaf::Good);
    let v = run_json(
        &srv.url("/r"),
        10,
        &["--cacert", ca, "-H", "Connection: close", "--no-tls-resume"],
    );
    assert_eq!(v["tls"]["handshakes_full"], 10, "{v:#}");
    assert_eq!(v["tls"]["handshakes_resumed"], 0);
    assert_eq!(v["tls"]["resumption"], false);
    assert_eq!(srv.tls_handshakes().resumed, 0);

    // httperf's spelling: --ssl, and --ssl-no-reuse.
    let srv = tls_server(&pki, Leaf::Good);
    let port = srv.addr().port().to_string();
    let httperf = |extra: &[&str]| {
        volley()
            .args([
                "httperf",
                "--server=127.0.0.1",
                "--port",
                &port,
                "--uri=/h",
                "--num-conns=6",
                "--ssl",
                "--cacert",
                ca,
            ])
            .args(extra.iter().copied())
            .run()
    };
    let out = httperf(&[]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        line(&out.stdout, "httperf ").contains(" --ssl "),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("TLS: handshakes full 1 resumed 5"),
        "{}",
        out.stdout
    );
    let out = httperf(&["--ssl-no-reuse"]);
    assert!(
        out.stdout.contains("TLS: handshakes full 6 resumed 0"),
        "{}",
        out.stdout
    );
}

#[test]
fn client_certificates_are_presented_when_given() {
    let pki = TestPki::new();
    let ca = pki.ca_pem().to_str().unwrap();
    let srv = TestServer::start_tls(ServerConfig::default(), pki.client_auth_server_config());
    let v = run_json(&srv.url("/c"), 2, &["--cacert", ca]);
    assert_eq!(v["errors"]["tls"], 2, "{v:#}");
    assert_eq!(srv.received().len(), 0);
    let v = run_json(
        &srv.url("/c"),
        2,
        &[
            "--cacert",
            ca,
            "--cert",
            pki.client_cert_pem().to_str().unwrap(),
            "--key",
            pki.client_key_pem().to_str().unwrap(),
        ],
    );
    assert_eq!(v["replies"]["total"], 2, "{v:#}");
    assert_eq!(srv.received().len(), 2);
}

#[test]
fn a_server_that_never_answers_the_hello_times_out_in_the_handshake() {
    let srv = HostileServer::every_connection("silent-tls", vec![Step::Hang]);
    let url = format!("https://127.0.0.1:{}/", srv.addr().port());
    let out = volley()
        .args([&url, "-n", "2", "-c", "1", "-w", "1", "-q", "--json"])
        .args(["--connect-timeout", "300ms", "-k"])
        .run();
    assert!(
        out.elapsed.as_secs() < 10,
        "bounded by the connect deadline"
    );
    let v = out.json();
    assert_eq!(errors(&v, "client-timo", "handshake"), 2, "{v:#}");
}

#[test]
fn plain_http_and_tls_ports_mixed_up_fail_clearly() {
    let pki = TestPki::new();
    // http:// to a TLS port: the server's answer is a TLS alert, not HTTP.
    let srv = tls_server(&pki, Leaf::Good);
    let url = format!("http://127.0.0.1:{}/", srv.addr().port());
    let v = run_json(&url, 1, &[]);
    assert_eq!(errors(&v, "tls", "tls-reply-to-http"), 1, "{v:#}");

    // https:// to a plain server that answers with HTTP.
    let plain = HostileServer::every_connection(
        "plain-400",
        vec![
            Step::Write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n".to_vec()),
            Step::Close,
        ],
    );
    let url = format!("https://127.0.0.1:{}/", plain.addr().port());
    let v = run_json(&url, 1, &["-k"]);
    assert_eq!(errors(&v, "tls", "not-tls"), 1, "{v:#}");
}

#[test]
fn a_close_delimited_body_needs_close_notify() {
    let pki = TestPki::new();
    let ca = pki.ca_pem().to_str().unwrap();
    let until_close = Reply::UntilClose {
        status: 200,
        body: b"all of it".to_vec(),
    };
    let srv = TestServer::start_tls(
        ServerConfig::new(until_close.clone()),
        pki.server_config(Leaf::Good),
    );
    let v = run_json(&srv.url("/u"), 2, &["--cacert", ca]);
    assert_eq!(v["replies"]["total"], 2, "{v:#}");

    let srv = TestServer::start_tls(
        ServerConfig::new(until_close).with_tls_close_notify(false),
        pki.server_config(Leaf::Good),
    );
    let v = run_json(&srv.url("/u"), 2, &["--cacert", ca]);
    assert_eq!(errors(&v, "tls", "close-without-notify"), 2, "{v:#}");
}

/// Issue 13: the server sends a close-delimited body's last record and its close_notify
/// in one write, then keeps TCP open for longer than `--timeout`. rustls reads the alert
/// with the data and no readable edge follows, so the body must end right there: a
/// reply at once (as curl has it), not a `client-timo/reply` at the watchdog.
#[test]
fn close_notify_read_with_the_last_data_ends_the_body_at_once() {
    let pki = TestPki::new();
    let ca = pki.ca_pem().to_str().unwrap();
    let reply = Reply::UntilClose {
        status: 200,
        body: b"all of it".to_vec(),
    };
    let srv = TestServer::start_tls(
        ServerConfig::new(reply).with_tls_hold_after_notify(Duration::from_secs(10)),
        pki.server_config(Leaf::Good),
    );
    let timeout = Duration::from_secs(3);
    let out = volley()
        .args([
            &srv.url("/u"),
            "-n",
            "3",
            "-c",
            "1",
            "-w",
            "1",
            "--json",
            "-q",
        ])
        .args(["--cacert", ca, "--timeout", "3s"])
        .run();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let v = out.json();
    assert_eq!(v["replies"]["2xx"], 3, "{v:#}");
    assert_eq!(v["errors"]["total"], 0, "{v:#}");
    assert_eq!(v["bytes"]["body"], 3 * 9, "{v:#}");
    assert_eq!(srv.received().len(), 3);
    // Three replies, none waiting for the watchdog.
    assert!(out.elapsed < timeout, "{:?}: {v:#}", out.elapsed);
}

#[test]
fn large_and_chunked_bodies_over_tls_are_read_to_the_end() {
    // Many TLS records per reply, read through buffers of several sizes: a read that
    // wrongly took the socket for drained would wait for an edge that never comes.
    let pki = TestPki::new();
    let ca = pki.ca_pem().to_str().unwrap();
    let big = vec![b'x'; 300_000];
    let srv = TestServer::start_tls(
        ServerConfig::new(Reply::Fixed {
            status: 200,
            body: big.clone(),
        }),
        pki.server_config(Leaf::Good),
    );
    let v = run_json(&srv.url("/big"), 20, &["--cacert", ca]);
    assert_eq!(v["replies"]["total"], 20, "{v:#}");
    assert_eq!(v["bytes"]["body"], 20 * big.len() as u64, "{v:#}");
    assert_eq!(v["connections"]["opened"], 1);

    let srv = TestServer::start_tls(
        ServerConfig::new(Reply::Chunked {
            status: 200,
            chunks: vec![vec![b'a'; 70_000], vec![b'b'; 5], vec![b'c'; 40_000]],
        }),
        pki.server_config(Leaf::Good),
    );
    let v = run_json(&srv.url("/chunked"), 10, &["--cacert", ca]);
    assert_eq!(v["replies"]["total"], 10, "{v:#}");
    assert_eq!(v["bytes"]["body"], 10 * 110_005u64, "{v:#}");
}

#[test]
fn a_kept_tls_connection_carries_only_requests_to_its_own_name() {
    // Two names on one address: the certificate holds localhost, not other.example. The
    // second request must not ride on the first's verified connection.
    let pki = TestPki::new();
    let srv = tls_server(&pki, Leaf::Good);
    let scratch = Scratch::new("tls-two-names");
    let file = scratch.file(
        "run.toml",
        &format!(
            "times = 1\ncacert = \"{}\"\n\
             [dnscache]\nlocalhost = \"127.0.0.1\"\n\"other.example\" = \"127.0.0.1\"\n\
             [[request]]\nurl = \"{}\"\n[[request]]\nurl = \"{}\"\n",
            pki.ca_pem().display(),
            srv.url_with_host("localhost", "/first"),
            srv.url_with_host("other.example", "/second"),
        ),
    );
    let out = volley()
        .args([
            "run",
            file.to_str().unwrap(),
            "-c",
            "1",
            "-w",
            "1",
            "-q",
            "--json",
        ])
        .run();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let v = out.json();
    assert_eq!(v["replies"]["total"], 1, "{v:#}");
    assert_eq!(errors(&v, "tls", "cert-wrong-name"), 1, "{v:#}");
    let targets: Vec<String> = srv.received().into_iter().map(|r| r.target).collect();
    assert_eq!(targets, ["/first"]);
}

#[test]
fn an_early_reply_over_tls_is_a_reply_even_when_the_server_then_resets() {
    // S23 over TLS: the server answers 413 after the head of a large upload, then resets
    // at once. The reply was received: it counts as a reply, not as connreset.
    use std::io::{Read, Write};
    use std::net::TcpListener;
    let pki = TestPki::new();
    let config = pki.server_config(Leaf::Good);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        for _ in 0..2 {
            let Ok((tcp, _)) = listener.accept() else {
                return;
            };
            let _ = tcp.set_read_timeout(Some(Duration::from_secs(10)));
            let conn = rustls::ServerConnection::new(config.clone()).unwrap();
            let mut tls = rustls::StreamOwned::new(conn, tcp);
            let mut head = Vec::new();
            let mut b = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") {
                match tls.read(&mut b) {
                    Ok(1) => head.push(b[0]),
                    _ => return,
                }
            }
            let reply =
                b"HTTP/1.1 413 Content Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
            // Written at the TLS level without reading: StreamOwned's write also reads
            // (the upload) and can fail on a full plaintext buffer before it sends.
            let rustls::StreamOwned { mut conn, mut sock } = tls;
            // At once: Nagle would hold the reply behind the unacknowledged session
            // ticket, and the reset would then discard it in the server's own queue.
            let _ = sock.set_nodelay(true);
            let _ = conn.writer().write_all(reply);
            while conn.wants_write() {
                if conn.write_tls(&mut sock).is_err() {
                    break;
                }
            }
            let _ = socket2::SockRef::from(&sock).set_linger(Some(Duration::ZERO));
        }
    });
    let scratch = Scratch::new("tls-early-reply");
    let body = scratch.path("body");
    std::fs::write(&body, vec![b'u'; 16 << 20]).unwrap();
    let url = format!("https://127.0.0.1:{port}/upload");
    let v = run_json(
        &url,
        2,
        &[
            "-m",
            "POST",
            "--body",
            &format!("@{}", body.display()),
            "--cacert",
            pki.ca_pem().to_str().unwrap(),
        ],
    );
    server.join().unwrap();
    assert_eq!(v["replies"]["4xx"], 2, "{v:#}");
    assert_eq!(v["errors"]["total"], 0, "{v:#}");
}

#[test]
fn resolve_connects_a_name_to_an_address_and_the_certificate_is_checked_for_the_name() {
    let pki = TestPki::new();
    let ca = pki.ca_pem().to_str().unwrap();
    let srv = tls_server(&pki, Leaf::Good);
    let port = srv.addr().port();
    // --resolve says where to connect; the name stays the Host and the checked name.
    let v = run_json(
        &format!("https://localhost:{port}/r"),
        2,
        &[
            "--cacert",
            ca,
            "--resolve",
            &format!("localhost:{port}:127.0.0.1"),
        ],
    );
    assert_eq!(v["replies"]["total"], 2, "{v:#}");
    assert_eq!(
        srv.received()[0].header("Host"),
        Some(format!("localhost:{port}").as_str())
    );
    let v = run_json(
        &format!("https://other.example:{port}/r"),
        1,
        &[
            "--cacert",
            ca,
            "--resolve",
            &format!("other.example:{port}:127.0.0.1"),
        ],
    );
    assert_eq!(errors(&v, "tls", "cert-wrong-name"), 1, "{v:#}");
    // A bad --resolve is a usage error.
    let out = volley()
        .args([&srv.url("/"), "--resolve", "nonsense"])
        .run();
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(out.stderr.contains("HOST:PORT:ADDR"), "{}", out.stderr);
}

/// Runs the `openssl` CLI in `dir` with `args`, for at most 30 s.
fn openssl(dir: &Path, args: &[&str]) {
    let mut child = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the openssl CLI (this test makes its certificates with it)");
    let until = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > until {
            let _ = child.kill();
            let _ = child.wait();
            panic!("openssl {args:?} took more than 30 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    assert!(status.success(), "openssl {args:?}: {status}\n{err}");
}

/// `openssl req -x509` as people run it to make a server a certificate: self-signed,
/// for localhost and 127.0.0.1, and (openssl's default) basicConstraints CA:TRUE.
/// Writes `NAME.pem` and `NAME.key` in `dir`.
fn openssl_self_signed(dir: &Scratch, name: &str) -> (PathBuf, PathBuf) {
    let (cert, key) = (
        dir.path(&format!("{name}.pem")),
        dir.path(&format!("{name}.key")),
    );
    openssl(
        &dir.path("."),
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            key.to_str().unwrap(),
            "-out",
            cert.to_str().unwrap(),
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ],
    );
    (cert, key)
}

/// Like [`openssl_self_signed`], but valid only during 2019. `openssl req -x509` cannot
/// date a certificate in the past (3.0 has no `-not_after`), `openssl ca -selfsign` can.
fn openssl_self_signed_expired(dir: &Scratch, name: &str) -> (PathBuf, PathBuf) {
    let (cert, key) = (
        dir.path(&format!("{name}.pem")),
        dir.path(&format!("{name}.key")),
    );
    let csr = dir.path(&format!("{name}.csr"));
    let conf = dir.file(
        "ca.cnf",
        "[ca]\ndefault_ca = pin\n[pin]\ndatabase = index.txt\nnew_certs_dir = .\n\
         serial = serial\ndefault_md = sha256\npolicy = any\ncopy_extensions = copy\n\
         unique_subject = no\n[any]\ncommonName = supplied\n",
    );
    dir.file("index.txt", "");
    dir.file("serial", "01\n");
    let s = |p: &PathBuf| p.to_str().unwrap().to_string();
    let (cert, key, csr, conf) = (s(&cert), s(&key), s(&csr), s(&conf));
    let here = dir.path(".");
    openssl(
        &here,
        &[
            "req",
            "-new",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            &key,
            "-out",
            &csr,
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
        ],
    );
    openssl(
        &here,
        &[
            "ca",
            "-batch",
            "-config",
            &conf,
            "-selfsign",
            "-keyfile",
            &key,
            "-in",
            &csr,
            "-out",
            &cert,
            "-startdate",
            "20190101000000Z",
            "-enddate",
            "20200101000000Z",
            "-notext",
        ],
    );
    (cert.into(), key.into())
}

/// Issue 18: a self-signed certificate from `openssl req -x509` (CA:TRUE) given with
/// `--cacert` is accepted when the server presents exactly it, as curl accepts it; its
/// name and dates are still checked, and any other CA certificate served as the
/// server's own still fails.
#[test]
fn a_self_signed_certificate_given_with_cacert_is_pinned() {
    let dir = Scratch::new("tls-pin");
    let (cert, key) = openssl_self_signed(&dir, "pinned");
    let pinned = cert.to_str().unwrap();
    let srv = TestServer::start_tls(ServerConfig::default(), server_config_from_pem(&cert, &key));
    let port = srv.addr().port();

    // By address (no SNI; the certificate holds 127.0.0.1) and by name.
    let v = run_json(&srv.url("/ip"), 5, &["--cacert", pinned]);
    assert_eq!(v["replies"]["2xx"], 5, "{v:#}");
    assert_eq!(v["errors"]["total"], 0, "{v:#}");
    assert_eq!(v["tls"]["certificates_verified"], true);
    let resolve = format!("localhost:{port}:127.0.0.1");
    let v = run_json(
        &format!("https://localhost:{port}/name"),
        3,
        &["--cacert", pinned, "--resolve", &resolve],
    );
    assert_eq!(v["replies"]["2xx"], 3, "{v:#}");
    assert_eq!(v["errors"]["total"], 0, "{v:#}");
    assert_eq!(srv.received().len(), 8);

    // Not given: the same certificate fails as before.
    let v = run_json(&srv.url("/none"), 2, &[]);
    assert_eq!(errors(&v, "tls", "cert-ca-used-as-leaf"), 2, "{v:#}");

    // Pinned, but the URL's host is not among its names.
    let other = format!("other.example:{port}:127.0.0.1");
    let v = run_json(
        &format!("https://other.example:{port}/wrong"),
        2,
        &["--cacert", pinned, "--resolve", &other],
    );
    assert_eq!(errors(&v, "tls", "cert-wrong-name"), 2, "{v:#}");

    // Another openssl certificate, not given, served while the first is pinned.
    let (cert2, key2) = openssl_self_signed(&dir, "other");
    let srv2 = TestServer::start_tls(
        ServerConfig::default(),
        server_config_from_pem(&cert2, &key2),
    );
    let v = run_json(&srv2.url("/other"), 2, &["--cacert", pinned]);
    assert_eq!(errors(&v, "tls", "cert-ca-used-as-leaf"), 2, "{v:#}");
    assert_eq!(srv2.received().len(), 0);

    // Pinned, but expired.
    let (old, old_key) = openssl_self_signed_expired(&dir, "expired");
    let srv3 = TestServer::start_tls(
        ServerConfig::default(),
        server_config_from_pem(&old, &old_key),
    );
    let v = run_json(&srv3.url("/old"), 2, &["--cacert", old.to_str().unwrap()]);
    assert_eq!(errors(&v, "tls", "cert-expired"), 2, "{v:#}");
    assert_eq!(srv3.received().len(), 0);
    assert_eq!(
        srv.received().len(),
        8,
        "no request on a refused connection"
    );
}

#[test]
fn an_https_closed_loop_naps_between_replies_and_dates_them_on_arrival() {
    // As over plain TCP (openloop.rs): replies 3 ms after each request on 32 connections,
    // read after naps, must read 3 ms (the date of the socket read that brought their
    // records), no later than when the loop wakes for each reply.
    let pki = TestPki::new();
    let config = ServerConfig::default().with_delay(Duration::from_millis(3));
    let srv = TestServer::start_tls(config, pki.server_config(Leaf::Good));
    let ca = pki.ca_pem().to_str().unwrap();
    let run = |extra: &[&str]| {
        let out = volley()
            .args([
                &srv.url("/"),
                "-c",
                "32",
                "-d",
                "1s",
                "-w",
                "1",
                "--json",
                "-q",
            ])
            .args(["--cacert", ca])
            .args(extra.iter().copied())
            .deadline(Duration::from_secs(30))
            .run();
        assert_eq!(out.code, Some(0), "{}", out.stderr);
        nap_figures(&out.json())
    };
    let (napping, waking) = (run(&[]), run(&["--wake-per-reply"]));
    assert!(napping.replies > 2000.0, "{} replies", napping.replies);
    assert_naps_keep_reply_times(&napping, &waking, 3.0);
}
