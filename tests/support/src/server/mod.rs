//! A scriptable loopback HTTP/1.1 server for end-to-end tests.
//!
//! [`TestServer::start`] binds `127.0.0.1:0` (never a fixed port), runs an
//! accept loop on one thread and serves each connection on its own thread
//! with blocking std I/O. Every socket has 10 s read and write timeouts, so a
//! broken test cannot hang a thread forever, and dropping the server stops it
//! within about a second.
//!
//! Each connection reads request heads (up to the blank line) and a
//! `Content-Length` request body, records the request, and answers it: with
//! the first matching [`Route`] of [`ServerConfig::routes`], else with the
//! scripted [`ServerConfig::reply`]. Connections are kept alive (HTTP/1.1)
//! until the request says `Connection: close` (or is HTTP/1.0 without
//! `Connection: keep-alive`), the script closes
//! ([`ServerConfig::close_after`], [`Reply::UntilClose`]), or the peer hangs
//! up. Chunked request bodies are not supported: volley does not send them.
//!
//! The server records what it saw: [`TestServer::requests`],
//! [`TestServer::connections`], [`TestServer::bytes_body_sent`], the first
//! [`MAX_RECORDED_HEADS`] request heads verbatim
//! ([`TestServer::received_heads`]) and the first [`MAX_RECORDED_REQUESTS`]
//! requests parsed, bodies included ([`TestServer::received`]). Counters and
//! records are updated *before* the reply is written, so once a client has
//! seen a reply, its request is counted and recorded.
//!
//! [`TestServer::start_tls`] serves the same way over TLS: each accepted
//! connection first completes a rustls handshake (bounded by the same
//! timeouts), then carries HTTP/1.1 exactly like a plain one. Handshakes are
//! counted by [`TestServer::tls_handshakes`]; a failed one closes the
//! connection after sending whatever alert rustls queued. How the server
//! ends a TLS connection is scripted too: with or without `close_notify`
//! ([`ServerConfig::tls_close_notify`]), and with the last reply and the
//! alert in one write, TCP then held open
//! ([`ServerConfig::tls_hold_after_notify`]). Certificates and rustls
//! configs for it come from [`crate::tls::TestPki`].

mod config;
mod conn;
mod record;
mod reply;
mod request;
mod stream;

use std::collections::HashMap;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

pub use config::{Reply, Route, ServerConfig};
pub use record::{Received, TlsCounts};

use conn::accept_loop;

/// Read and write timeout of every accepted socket.
const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// How many request heads [`TestServer::received_heads`] keeps.
pub const MAX_RECORDED_HEADS: usize = 100;

/// How many requests [`TestServer::received`] keeps; later ones are still
/// counted by [`TestServer::requests`] but not recorded.
pub const MAX_RECORDED_REQUESTS: usize = 100_000;

/// How long [`TestServer::shutdown`] waits for the accept thread.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(1);

/// Chunk extension put on the first chunk of a [`Reply::Chunked`] reply.
pub const CHUNK_EXTENSION: &str = ";volley-ext=1";

/// Trailer field sent after the last chunk of a [`Reply::Chunked`] reply.
pub const CHUNK_TRAILER: &str = "X-Volley-Trailer: end";

/// State shared by the accept loop, the connection threads and the handle.
#[derive(Debug)]
struct Shared {
    config: ServerConfig,
    /// When the server started (the origin of [`ServerConfig::stall`]).
    started: Instant,
    stop: AtomicBool,
    requests: AtomicU64,
    connections: AtomicU64,
    body_bytes: AtomicU64,
    /// Next index into [`Reply::StatusCycle`].
    cycle: AtomicU64,
    heads: Mutex<Vec<String>>,
    /// The first [`MAX_RECORDED_REQUESTS`] requests.
    received: Mutex<Vec<Received>>,
    /// Clones of open connections, so shutdown can wake their blocked
    /// reads. A connection removes its entry when it ends: a leftover clone
    /// would keep the socket open and the peer would never see the close.
    live: Mutex<HashMap<u64, TcpStream>>,
    /// Set for a TLS server: every connection handshakes with it first.
    tls: Option<Arc<rustls::ServerConfig>>,
    tls_full: AtomicU64,
    tls_resumed: AtomicU64,
    tls_failed: AtomicU64,
}

impl Shared {
    fn stopping(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A running loopback server; see the [module docs](self).
///
/// Dropping it (or calling [`TestServer::shutdown`]) stops accepting and
/// closes every open connection.
#[derive(Debug)]
pub struct TestServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

impl TestServer {
    /// Binds `127.0.0.1:0` and starts serving with `config`.
    ///
    /// # Panics
    ///
    /// If the socket cannot be bound, the thread cannot be started, or the
    /// config is invalid: an empty [`Reply::StatusCycle`], or a
    /// [`Route::headers`] field with an empty name, or a name or value that
    /// contains CR, LF or (in the name) `:`.
    pub fn start(config: ServerConfig) -> TestServer {
        TestServer::start_with(config, None)
    }

    /// Like [`TestServer::start`], but every accepted connection first
    /// completes a TLS handshake with `tls` (e.g. from
    /// [`crate::tls::TestPki::server_config`]) and then carries HTTP/1.1
    /// over TLS, answered and recorded exactly as on a plain server.
    ///
    /// The handshake must finish within 10 s. A connection whose handshake
    /// fails is counted in [`TlsCounts::failed`] and closed after the
    /// alert rustls queued (if any) is sent; it carries no request. A
    /// connection the server closes sends `close_notify` first unless
    /// [`ServerConfig::tls_close_notify`] is `false`. [`TestServer::url`]
    /// gives `https://` URLs.
    ///
    /// # Panics
    ///
    /// As [`TestServer::start`].
    pub fn start_tls(config: ServerConfig, tls: Arc<rustls::ServerConfig>) -> TestServer {
        TestServer::start_with(config, Some(tls))
    }

    fn start_with(config: ServerConfig, tls: Option<Arc<rustls::ServerConfig>>) -> TestServer {
        if let Reply::StatusCycle(statuses) = &config.reply {
            assert!(
                !statuses.is_empty(),
                "Reply::StatusCycle needs at least one status"
            );
        }
        for route in &config.routes {
            for (name, value) in &route.headers {
                assert!(
                    !name.is_empty()
                        && !name.contains(['\r', '\n', ':'])
                        && !value.contains(['\r', '\n']),
                    "bad header field {name:?}: {value:?} in route {:?}",
                    route.path
                );
            }
        }
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local_addr of test server");
        let shared = Arc::new(Shared {
            config,
            started: Instant::now(),
            stop: AtomicBool::new(false),
            requests: AtomicU64::new(0),
            connections: AtomicU64::new(0),
            body_bytes: AtomicU64::new(0),
            cycle: AtomicU64::new(0),
            heads: Mutex::new(Vec::new()),
            received: Mutex::new(Vec::new()),
            live: Mutex::new(HashMap::new()),
            tls,
            tls_full: AtomicU64::new(0),
            tls_resumed: AtomicU64::new(0),
            tls_failed: AtomicU64::new(0),
        });
        let accept_shared = Arc::clone(&shared);
        let accept = thread::Builder::new()
            .name(format!("testserver-accept-{}", addr.port()))
            .spawn(move || accept_loop(&listener, &accept_shared))
            .expect("spawn test server accept thread");
        TestServer {
            addr,
            shared,
            accept: Some(accept),
        }
    }

    /// The bound address (`127.0.0.1:PORT`).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT/path` (`https://` for a TLS server); a
    /// missing leading `/` is added.
    pub fn url(&self, path: &str) -> String {
        self.url_with_host("127.0.0.1", path)
    }

    /// Like [`TestServer::url`] with `host` in place of `127.0.0.1`, e.g.
    /// `https://localhost:PORT/path` to have a TLS client verify the name
    /// `localhost`. `host` is not resolved: it must lead to 127.0.0.1.
    pub fn url_with_host(&self, host: &str, path: &str) -> String {
        let scheme = if self.is_tls() { "https" } else { "http" };
        let slash = if path.starts_with('/') { "" } else { "/" };
        format!("{scheme}://{host}:{}{slash}{path}", self.addr.port())
    }

    /// Whether the server was started with [`TestServer::start_tls`].
    pub fn is_tls(&self) -> bool {
        self.shared.tls.is_some()
    }

    /// TLS handshakes finished so far, by kind; all zero on a plain server.
    /// A handshake is counted once it completes or fails, before any
    /// request on its connection is read.
    pub fn tls_handshakes(&self) -> TlsCounts {
        TlsCounts {
            full: self.shared.tls_full.load(Ordering::SeqCst),
            resumed: self.shared.tls_resumed.load(Ordering::SeqCst),
            failed: self.shared.tls_failed.load(Ordering::SeqCst),
        }
    }

    /// Complete requests read (head plus body) on all connections.
    pub fn requests(&self) -> u64 {
        self.shared.requests.load(Ordering::SeqCst)
    }

    /// Connections accepted. A client's `connect` can finish before the
    /// server accepts, so poll with [`crate::wait_until`] when a connection
    /// carried no request.
    pub fn connections(&self) -> u64 {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// Body payload bytes of all replies written: the `Content-Length` body
    /// or the sum of chunk payloads, never heads or chunk framing. A write
    /// that fails is subtracted again.
    pub fn bytes_body_sent(&self) -> u64 {
        self.shared.body_bytes.load(Ordering::SeqCst)
    }

    /// The first [`MAX_RECORDED_HEADS`] request heads, verbatim (request
    /// line through the blank line, lossily decoded as UTF-8), in the order
    /// they were read.
    pub fn received_heads(&self) -> Vec<String> {
        lock(&self.shared.heads).clone()
    }

    /// The first [`MAX_RECORDED_REQUESTS`] complete requests (head plus
    /// body), parsed, in the order they were read; later requests are
    /// counted by [`TestServer::requests`] but not kept. Bodies are kept
    /// whole, so a test sending large bodies should keep its request count
    /// small.
    pub fn received(&self) -> Vec<Received> {
        lock(&self.shared.received).clone()
    }

    /// Stops accepting, closes every open connection, and waits up to
    /// about a second for the accept thread. Idempotent; `Drop` calls it.
    pub fn shutdown(&mut self) {
        let Some(accept) = self.accept.take() else {
            return;
        };
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the blocked `accept`; it sees the flag and returns.
        let _ = TcpStream::connect_timeout(&self.addr, SHUTDOWN_WAIT);
        for stream in lock(&self.shared.live).values() {
            let _ = stream.shutdown(Shutdown::Both);
        }
        let until = Instant::now() + SHUTDOWN_WAIT;
        while !accept.is_finished() && Instant::now() < until {
            thread::sleep(Duration::from_millis(5));
        }
        if accept.is_finished() {
            let _ = accept.join();
        }
        // Otherwise the thread is detached; it exits on its next accept.
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// A port on 127.0.0.1 that refuses connections: bound to `:0`, then
/// released. Another process could take it again, but the kernel hands out
/// ephemeral ports in turn, so that is unlikely within a test.
///
/// # Panics
///
/// If no port can be bound.
pub fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local_addr").port()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wait_until;
    use std::io::{self, Read, Write};

    const GET: &[u8] = b"GET /x HTTP/1.1\r\nHost: t\r\n\r\n";

    fn connect(server: &TestServer) -> TcpStream {
        let stream = TcpStream::connect(server.addr()).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        stream
            .set_write_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        stream
    }

    fn read_to_eof(stream: &mut TcpStream) -> String {
        let mut got = Vec::new();
        stream.read_to_end(&mut got).expect("read to EOF");
        String::from_utf8(got).unwrap()
    }

    fn fields(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|&(name, value)| (name.to_owned(), value.to_owned()))
            .collect()
    }

    fn read_exact_bytes(stream: &mut TcpStream, n: usize) -> Vec<u8> {
        let mut buf = vec![0; n];
        stream.read_exact(&mut buf).expect("read reply");
        buf
    }

    /// Asserts the peer has closed: the next read returns EOF.
    fn assert_eof(stream: &mut TcpStream) {
        let mut rest = Vec::new();
        stream.read_to_end(&mut rest).expect("read to EOF");
        assert_eq!(String::from_utf8_lossy(&rest), "");
    }

    #[test]
    fn fixed_keeps_alive_across_two_requests() {
        let server = TestServer::start(ServerConfig::new(Reply::ok("hello")));
        let mut s = connect(&server);
        let want = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
        for _ in 0..2 {
            s.write_all(GET).unwrap();
            assert_eq!(read_exact_bytes(&mut s, want.len()), want);
        }
        assert_eq!(server.requests(), 2);
        assert_eq!(server.connections(), 1);
        assert_eq!(server.bytes_body_sent(), 10);
        let heads = server.received_heads();
        assert_eq!(heads, vec![String::from_utf8(GET.to_vec()).unwrap(); 2]);
    }

    #[test]
    fn request_body_is_discarded_and_pipelining_works() {
        let server = TestServer::start(ServerConfig::default());
        let mut s = connect(&server);
        let post = b"POST / HTTP/1.1\r\nHost: t\r\ncontent-length: 5\r\n\r\nhello";
        let both = [&post[..], GET].concat();
        s.write_all(&both).unwrap();
        let one = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n";
        assert_eq!(
            read_exact_bytes(&mut s, 2 * one.len()),
            [&one[..], one].concat()
        );
        assert_eq!(server.requests(), 2);
        assert!(server.received_heads()[0].starts_with("POST / HTTP/1.1\r\n"));
    }

    #[test]
    fn head_request_gets_no_body() {
        let server = TestServer::start(ServerConfig::new(Reply::ok("hello")));
        let mut s = connect(&server);
        s.write_all(b"HEAD / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut got = Vec::new();
        s.read_to_end(&mut got).unwrap();
        let want = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\n";
        assert_eq!(String::from_utf8(got).unwrap(), want);
        assert_eq!(server.bytes_body_sent(), 0);
    }

    #[test]
    fn chunked_has_extension_and_trailer() {
        let chunks = vec![b"hello".to_vec(), Vec::new(), b", world!".to_vec()];
        let server = TestServer::start(ServerConfig::new(Reply::Chunked {
            status: 201,
            chunks,
        }));
        let mut s = connect(&server);
        let want = "HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\
                    Trailer: X-Volley-Trailer\r\n\r\n\
                    5;volley-ext=1\r\nhello\r\n8\r\n, world!\r\n0\r\nX-Volley-Trailer: end\r\n\r\n";
        for _ in 0..2 {
            s.write_all(GET).unwrap();
            let got = read_exact_bytes(&mut s, want.len());
            assert_eq!(String::from_utf8(got).unwrap(), want);
        }
        assert_eq!(server.bytes_body_sent(), 26);
    }

    #[test]
    fn until_close_writes_body_then_closes() {
        let body = b"no framing here".to_vec();
        let server = TestServer::start(ServerConfig::new(Reply::UntilClose { status: 200, body }));
        let mut s = connect(&server);
        s.write_all(GET).unwrap();
        let mut got = Vec::new();
        s.read_to_end(&mut got).unwrap();
        let want = "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nno framing here";
        assert_eq!(String::from_utf8(got).unwrap(), want);
        assert_eq!(server.bytes_body_sent(), 15);
    }

    #[test]
    fn status_cycle_is_round_robin_across_connections() {
        let server = TestServer::start(ServerConfig::new(Reply::StatusCycle(vec![200, 503, 404])));
        let mut statuses = Vec::new();
        for _ in 0..2 {
            let mut s = connect(&server);
            for _ in 0..3 {
                s.write_all(GET).unwrap();
                // Every reason phrase here is followed by the same framing.
                let line = read_exact_bytes(&mut s, "HTTP/1.1 200 ".len());
                statuses.push(String::from_utf8(line).unwrap()[9..12].to_string());
                let rest = match statuses.last().unwrap().as_str() {
                    "200" => "OK",
                    "503" => "Service Unavailable",
                    _ => "Not Found",
                };
                let tail = format!("{rest}\r\nContent-Length: 3\r\n\r\nok\n");
                assert_eq!(read_exact_bytes(&mut s, tail.len()), tail.as_bytes());
            }
        }
        assert_eq!(statuses, ["200", "503", "404", "200", "503", "404"]);
        assert_eq!((server.requests(), server.connections()), (6, 2));
    }

    #[test]
    fn close_after_and_connection_close_end_the_connection() {
        let config = ServerConfig::default().with_close_after(2);
        let server = TestServer::start(config);
        let mut s = connect(&server);
        let keep = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n";
        s.write_all(GET).unwrap();
        assert_eq!(read_exact_bytes(&mut s, keep.len()), keep);
        s.write_all(GET).unwrap();
        let last = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n";
        assert_eq!(read_exact_bytes(&mut s, last.len()), last);
        assert_eof(&mut s);

        let mut s = connect(&server);
        s.write_all(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n")
            .unwrap();
        assert_eq!(read_exact_bytes(&mut s, last.len()), last);
        assert_eof(&mut s);
        assert_eq!(server.connections(), 2);
    }

    #[test]
    fn delay_postpones_the_reply() {
        let delay = Duration::from_millis(150);
        let server = TestServer::start(ServerConfig::default().with_delay(delay));
        let mut s = connect(&server);
        let started = Instant::now();
        s.write_all(GET).unwrap();
        read_exact_bytes(&mut s, 1);
        assert!(started.elapsed() >= delay);
    }

    #[test]
    fn silent_never_replies_and_shutdown_closes_it() {
        let mut server = TestServer::start(ServerConfig::new(Reply::Silent));
        let mut s = connect(&server);
        s.write_all(GET).unwrap();
        assert!(wait_until(Duration::from_secs(5), || server.requests() == 1));
        let addr = server.addr();
        crate::assert_silent_until_shutdown(&mut s, addr, || server.shutdown());
    }

    #[test]
    fn bodyless_statuses_get_no_body() {
        let server = TestServer::start(ServerConfig::new(Reply::StatusCycle(vec![204, 200])));
        let mut s = connect(&server);
        s.write_all(&GET.repeat(2)).unwrap();
        let want = "HTTP/1.1 204 No Content\r\n\r\n\
                    HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n";
        let got = read_exact_bytes(&mut s, want.len());
        assert_eq!(String::from_utf8(got).unwrap(), want);
        assert_eq!(server.bytes_body_sent(), 3);
    }

    #[test]
    fn closed_port_refuses() {
        let port = closed_port();
        let err = TcpStream::connect(("127.0.0.1", port)).expect_err("closed port accepted");
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
    }

    #[test]
    fn url_and_head_limit() {
        let server = TestServer::start(ServerConfig::default());
        let port = server.addr().port();
        assert_eq!(server.url("/a?b"), format!("http://127.0.0.1:{port}/a?b"));
        assert_eq!(server.url("a"), format!("http://127.0.0.1:{port}/a"));
        let mut s = connect(&server);
        let pipelined = GET.repeat(MAX_RECORDED_HEADS + 5);
        s.write_all(&pipelined).unwrap();
        let one = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n";
        read_exact_bytes(&mut s, one.len() * (MAX_RECORDED_HEADS + 5));
        assert_eq!(server.received_heads().len(), MAX_RECORDED_HEADS);
        assert_eq!(server.requests(), MAX_RECORDED_HEADS as u64 + 5);
    }

    #[test]
    fn received_records_every_request_per_connection() {
        let server = TestServer::start(ServerConfig::default());
        let started = Instant::now();
        let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n";
        let mut s = connect(&server);
        s.write_all(
            b"POST /a?x=1 HTTP/1.1\r\nHost: t\r\nX-Rep: one\r\nx-rep:  two \t\r\n\
              Content-Length: 5\r\n\r\nhello",
        )
        .unwrap();
        assert_eq!(read_exact_bytes(&mut s, ok.len()), ok);
        s.write_all(GET).unwrap();
        assert_eq!(read_exact_bytes(&mut s, ok.len()), ok);
        let mut s2 = connect(&server);
        s2.write_all(b"PUT /c HTTP/1.1\r\nConnection: close\r\nContent-Length: 2\r\n\r\n\0\xff")
            .unwrap();
        let last = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n";
        assert_eq!(read_to_eof(&mut s2), last);

        let got = server.received();
        assert_eq!(got.len(), 3);
        let place: Vec<_> = got.iter().map(|r| (r.conn, r.seq_on_conn)).collect();
        assert_eq!(place, [(0, 0), (0, 1), (1, 0)]);
        let lines: Vec<_> = got.iter().map(|r| (&*r.method, &*r.target)).collect();
        assert_eq!(lines, [("POST", "/a?x=1"), ("GET", "/x"), ("PUT", "/c")]);

        let post = &got[0];
        let want = [
            ("Host", "t"),
            ("X-Rep", "one"),
            ("x-rep", "two"),
            ("Content-Length", "5"),
        ];
        assert_eq!(post.headers, fields(&want));
        assert_eq!(post.header("X-REP"), Some("one"));
        assert_eq!(post.header_all("x-Rep"), ["one", "two"]);
        assert_eq!(post.header("content-length"), Some("5"));
        assert_eq!(post.header("missing"), None);
        assert!(post.header_all("missing").is_empty());
        assert_eq!(post.body, b"hello");

        assert_eq!(got[1].headers, fields(&[("Host", "t")]));
        assert!(got[1].body.is_empty());
        assert_eq!(got[2].header("connection"), Some("close"));
        assert_eq!(got[2].body, b"\0\xff");

        assert!(started <= got[0].at);
        assert!(got.windows(2).all(|w| w[0].at <= w[1].at));
        assert!(got[2].at <= Instant::now());
        // The older records still agree.
        assert_eq!(server.requests(), 3);
        assert_eq!(server.connections(), 2);
        assert_eq!(server.received_heads().len(), 3);
        assert!(server.received_heads()[1] == String::from_utf8_lossy(GET));
    }

    #[test]
    fn received_numbers_pipelined_requests_and_survives_silent() {
        let server = TestServer::start(ServerConfig::new(Reply::Silent));
        let mut s = connect(&server);
        let post = b"POST /p HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc";
        s.write_all(&[&post[..], GET, &post[..]].concat()).unwrap();
        assert!(wait_until(Duration::from_secs(5), || server.requests() == 3));
        let got = server.received();
        let seqs: Vec<_> = got.iter().map(|r| (r.conn, r.seq_on_conn)).collect();
        assert_eq!(seqs, [(0, 0), (0, 1), (0, 2)]);
        let bodies: Vec<_> = got.iter().map(|r| r.body.as_slice()).collect();
        assert_eq!(bodies, [&b"abc"[..], b"", b"abc"]);
    }

    #[test]
    fn route_redirects_with_location_and_keeps_alive() {
        let config = ServerConfig::default()
            .with_route(
                Route::new("/a", 302)
                    .header("Location", "/b")
                    .body("moved\n"),
            )
            .with_route(Route::new("/empty", 204).header("X-Why", "none"));
        let server = TestServer::start(config);
        let mut s = connect(&server);
        let found = "HTTP/1.1 302 Found\r\nContent-Length: 6\r\nLocation: /b\r\n\r\nmoved\n";
        // The query is not part of the matched path.
        s.write_all(b"GET /a?q=1 HTTP/1.1\r\nHost: t\r\n\r\n")
            .unwrap();
        let got = read_exact_bytes(&mut s, found.len());
        assert_eq!(String::from_utf8(got).unwrap(), found);
        // An unrouted path (a prefix does not match) gets the default reply.
        let ok = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n";
        for target in ["/b", "/a/", "/A"] {
            s.write_all(format!("GET {target} HTTP/1.1\r\n\r\n").as_bytes())
                .unwrap();
            let got = read_exact_bytes(&mut s, ok.len());
            assert_eq!(String::from_utf8(got).unwrap(), ok, "{target}");
        }
        let no_content = "HTTP/1.1 204 No Content\r\nX-Why: none\r\n\r\n";
        s.write_all(b"GET /empty HTTP/1.1\r\n\r\n").unwrap();
        let got = read_exact_bytes(&mut s, no_content.len());
        assert_eq!(String::from_utf8(got).unwrap(), no_content);
        // HEAD gets the head only, and `Connection: close` is honoured.
        s.write_all(b"HEAD /a HTTP/1.1\r\nConnection: close\r\n\r\n")
            .unwrap();
        let head_only =
            "HTTP/1.1 302 Found\r\nContent-Length: 6\r\nLocation: /b\r\nConnection: close\r\n\r\n";
        assert_eq!(read_to_eof(&mut s), head_only);
        assert_eq!(server.bytes_body_sent(), 6 + 3 * 3);
        assert_eq!((server.requests(), server.connections()), (6, 1));
    }

    #[test]
    fn route_unless_header_falls_back_to_the_default_reply() {
        let route = Route::new("/secret", 401)
            .header("WWW-Authenticate", "Basic realm=\"t\"")
            .body("denied")
            .unless_header("authorization");
        let config = ServerConfig::new(Reply::ok("secret\n"))
            .with_route(route)
            .with_close_after(3);
        let server = TestServer::start(config);
        let mut s = connect(&server);
        let denied = "HTTP/1.1 401 Unauthorized\r\nContent-Length: 6\r\n\
                      WWW-Authenticate: Basic realm=\"t\"\r\n\r\ndenied";
        s.write_all(b"GET /secret HTTP/1.1\r\nHost: t\r\n\r\n")
            .unwrap();
        let got = read_exact_bytes(&mut s, denied.len());
        assert_eq!(String::from_utf8(got).unwrap(), denied);

        let allowed = "HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nsecret\n";
        s.write_all(b"GET /secret?x HTTP/1.1\r\nAUTHORIZATION: Basic eDp5\r\n\r\n")
            .unwrap();
        let got = read_exact_bytes(&mut s, allowed.len());
        assert_eq!(String::from_utf8(got).unwrap(), allowed);

        // The third reply is the last one `close_after` allows.
        s.write_all(b"GET /secret HTTP/1.1\r\n\r\n").unwrap();
        let last = "HTTP/1.1 401 Unauthorized\r\nContent-Length: 6\r\n\
                    WWW-Authenticate: Basic realm=\"t\"\r\nConnection: close\r\n\r\ndenied";
        assert_eq!(read_to_eof(&mut s), last);
        let got = server.received();
        assert_eq!(got[1].header("Authorization"), Some("Basic eDp5"));
        assert_eq!(got[1].headers, fields(&[("AUTHORIZATION", "Basic eDp5")]));
    }

    #[test]
    fn routes_answer_on_a_silent_server_after_the_delay() {
        let delay = Duration::from_millis(100);
        let config = ServerConfig::new(Reply::Silent)
            .with_delay(delay)
            .with_route(Route::new("/r", 200).body(b"routed"));
        let server = TestServer::start(config);
        let mut s = connect(&server);
        let started = Instant::now();
        s.write_all(b"GET /r HTTP/1.1\r\n\r\n").unwrap();
        let want = "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nrouted";
        let got = read_exact_bytes(&mut s, want.len());
        assert!(started.elapsed() >= delay);
        assert_eq!(String::from_utf8(got).unwrap(), want);

        s.write_all(GET).unwrap();
        assert!(wait_until(Duration::from_secs(5), || server.requests() == 2));
        s.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let err = s.read(&mut [0; 16]).expect_err("silent server replied");
        assert!(matches!(
            err.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
        ));
    }

    #[test]
    fn connection_close_is_honoured_by_every_reply_kind() {
        let replies = [
            Reply::ok("x"),
            Reply::Chunked {
                status: 200,
                chunks: vec![b"x".to_vec()],
            },
            Reply::StatusCycle(vec![503]),
            Reply::StatusCycle(vec![304]),
        ];
        for reply in replies {
            let server = TestServer::start(ServerConfig::new(reply.clone()));
            let mut s = connect(&server);
            s.write_all(b"GET / HTTP/1.1\r\nConnection: keep-alive, close\r\n\r\n")
                .unwrap();
            let got = read_to_eof(&mut s);
            let (head, _) = got.split_once("\r\n\r\n").expect("a whole head");
            assert!(
                head.ends_with("\r\nConnection: close"),
                "{reply:?}: {got:?}"
            );
        }
        // HTTP/1.0 closes by default.
        let server = TestServer::start(ServerConfig::default());
        let mut s = connect(&server);
        s.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
        let want = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n";
        assert_eq!(read_to_eof(&mut s), want);
    }

    #[test]
    #[should_panic(expected = "bad header field")]
    fn route_header_with_crlf_is_rejected() {
        let route = Route::new("/", 200).header("X-A", "b\r\nX-Injected: 1");
        let _ = TestServer::start(ServerConfig::default().with_route(route));
    }
}
