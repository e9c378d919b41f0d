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

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// Read and write timeout of every accepted socket.
const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// A request head longer than this ends the connection (no reply).
const MAX_HEAD_BYTES: usize = 64 * 1024;

/// How many request heads [`TestServer::received_heads`] keeps.
pub const MAX_RECORDED_HEADS: usize = 100;

/// How many requests [`TestServer::received`] keeps; later ones are still
/// counted by [`TestServer::requests`] but not recorded.
pub const MAX_RECORDED_REQUESTS: usize = 100_000;

/// How long [`TestServer::shutdown`] waits for the accept thread.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(1);

/// How long a closing connection drains the peer's leftover bytes, so that
/// closing with unread data does not turn into a reset that could destroy
/// the reply before the client reads it.
const CLOSE_LINGER: Duration = Duration::from_secs(1);

/// Stack size of connection threads: they only hold small buffers.
const CONN_STACK: usize = 256 * 1024;

/// Body of every [`Reply::StatusCycle`] reply.
const CYCLE_BODY: &[u8] = b"ok\n";

/// Chunk extension put on the first chunk of a [`Reply::Chunked`] reply.
pub const CHUNK_EXTENSION: &str = ";volley-ext=1";

/// Trailer field sent after the last chunk of a [`Reply::Chunked`] reply.
pub const CHUNK_TRAILER: &str = "X-Volley-Trailer: end";

/// What the server answers to every request.
///
/// Replies to `HEAD`, and replies with status 1xx, 204 or 304, carry no
/// body (the latter no framing headers either), as RFC 9112 requires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `Content-Length` framed reply: exercises the length body decoder and
    /// keep-alive reuse. A `HEAD` request gets the head only.
    Fixed {
        /// Status code.
        status: u16,
        /// Body, sent with a matching `Content-Length`.
        body: Vec<u8>,
    },
    /// `Transfer-Encoding: chunked` reply: exercises the chunked decoder,
    /// including a chunk extension ([`CHUNK_EXTENSION`]) on the first chunk
    /// and one trailer field ([`CHUNK_TRAILER`]). Empty chunks are skipped,
    /// since an empty chunk would end the body early.
    Chunked {
        /// Status code.
        status: u16,
        /// Chunk payloads, in order.
        chunks: Vec<Vec<u8>>,
    },
    /// Reply with neither `Content-Length` nor `Transfer-Encoding`, ended by
    /// closing the connection: exercises the read-until-close decoder and
    /// reconnecting after the server closes.
    UntilClose {
        /// Status code.
        status: u16,
        /// Body, written before the close.
        body: Vec<u8>,
    },
    /// `Content-Length` replies with body `"ok\n"` whose status codes are
    /// taken round-robin per request across the whole server: exercises
    /// per-status counting with exact expected counts.
    ///
    /// # Panics
    ///
    /// [`TestServer::start`] panics if the list is empty.
    StatusCycle(Vec<u16>),
    /// Reads requests and never answers, keeping the socket open until the
    /// peer closes or the server shuts down: exercises reply timeouts and
    /// aborting in-flight requests.
    Silent,
}

impl Reply {
    /// A `200 OK` [`Reply::Fixed`] with `body`.
    pub fn ok(body: &str) -> Reply {
        Reply::Fixed {
            status: 200,
            body: body.as_bytes().to_vec(),
        }
    }
}

/// A reply for one request path, taking precedence over
/// [`ServerConfig::reply`]; see [`ServerConfig::routes`].
///
/// A route is answered like a [`Reply::Fixed`]: a `Content-Length` framed
/// reply (`Content-Length` first, then [`Route::headers`]), no body for
/// `HEAD`, and neither body nor `Content-Length` for status 1xx, 204 or
/// 304. It keeps the connection alive unless the request asks to close or
/// [`ServerConfig::close_after`] is reached; [`ServerConfig::delay`]
/// applies. Routes answer even when [`ServerConfig::reply`] is
/// [`Reply::Silent`], and do not advance a [`Reply::StatusCycle`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// Compared exactly (case-sensitive, no decoding) with the path of the
    /// request-target: the part before the first `?`, or all of it.
    pub path: String,
    /// Status code; the reason phrase comes from a small table (`Status`
    /// for codes it lacks).
    pub status: u16,
    /// Extra reply header fields, in order, e.g. `("Location", "/b")`.
    /// They must not be framing fields (`Content-Length`,
    /// `Transfer-Encoding`, `Connection`): the server adds those itself.
    pub headers: Vec<(String, String)>,
    /// Body, sent with a matching `Content-Length`.
    pub body: Vec<u8>,
    /// If the request carries a header field with this name (compared
    /// case-insensitively), the route does not apply: a later matching
    /// route, or else [`ServerConfig::reply`], answers instead.
    pub unless_header: Option<String>,
}

impl Route {
    /// A route for `path` answering `status` with no extra headers and an
    /// empty body.
    pub fn new(path: impl Into<String>, status: u16) -> Route {
        Route {
            path: path.into(),
            status,
            headers: Vec::new(),
            body: Vec::new(),
            unless_header: None,
        }
    }

    /// Appends the reply header field `name: value` to [`Route::headers`].
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Route {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets [`Route::body`].
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Route {
        self.body = body.into();
        self
    }

    /// Sets [`Route::unless_header`].
    pub fn unless_header(mut self, name: impl Into<String>) -> Route {
        self.unless_header = Some(name.into());
        self
    }

    /// Whether this route answers `request`.
    fn applies_to(&self, request: &Request) -> bool {
        let path = request
            .target
            .split_once('?')
            .map_or(request.target.as_str(), |(path, _)| path);
        path == self.path
            && !self.unless_header.as_deref().is_some_and(|unless| {
                header_fields(&request.head).any(|(name, _)| name.eq_ignore_ascii_case(unless))
            })
    }
}

/// One complete request as the server read it; see
/// [`TestServer::received`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// 0-based index of the connection it came on, in accept order.
    pub conn: u64,
    /// 0-based number of this request on its connection.
    pub seq_on_conn: u64,
    /// When it was recorded: right after its last byte (head and body) was
    /// read, before any reply. Never decreases along
    /// [`TestServer::received`].
    pub at: Instant,
    /// Request method, e.g. `GET`.
    pub method: String,
    /// Request-target as sent, e.g. `/a?x=1`.
    pub target: String,
    /// Header fields in the order sent, repeats included: names exactly as
    /// sent, values with surrounding whitespace trimmed. Lines without a
    /// `:` are skipped. The head is decoded lossily as UTF-8.
    pub headers: Vec<(String, String)>,
    /// The `Content-Length` body (empty without one).
    pub body: Vec<u8>,
}

impl Received {
    /// The value of the first header field named `name` (compared
    /// case-insensitively), if any.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(field, _)| field.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// The values of every header field named `name` (compared
    /// case-insensitively), in the order sent.
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(field, _)| field.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
            .collect()
    }
}

/// How a [`TestServer`] behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// The reply to every request that no route answers. Default:
    /// `Reply::ok("ok\n")`.
    pub reply: Reply,
    /// Sleep this long before replying to each request, routed or not.
    /// Default: none.
    pub delay: Option<Duration>,
    /// Close each connection after this many replies on it (routed or
    /// not); the last reply carries `Connection: close`. Default: never.
    pub close_after: Option<u64>,
    /// Per-path replies, tried in order: the first whose [`Route::path`]
    /// matches and whose [`Route::unless_header`] the request lacks answers
    /// instead of [`ServerConfig::reply`]. Default: none.
    pub routes: Vec<Route>,
    /// `(from, length)`: a reply due between `from` and `from + length` after
    /// the server started waits until the end of that window (a server
    /// stall, HOSTILE.md S07). Default: none.
    pub stall: Option<(Duration, Duration)>,
    /// `(period, length)`: a server that stalls again and again. A reply due in the last
    /// `length` of each `period` after the server started waits until that period ends
    /// (a stall of `length` every `period`). Default: none.
    pub stall_every: Option<(Duration, Duration)>,
    /// TLS servers only ([`TestServer::start_tls`]): whether closing a
    /// connection from the server side (`Connection: close`,
    /// [`ServerConfig::close_after`], [`Reply::UntilClose`]) first sends a
    /// TLS `close_notify` alert. `false` closes the TCP connection without
    /// it, as a truncation attack would, so a client reading a
    /// close-delimited body must report it as truncated. Ignored by plain
    /// servers. Default: `true`.
    pub tls_close_notify: bool,
    /// TLS servers only, with [`ServerConfig::tls_close_notify`]: `Some(d)`
    /// writes a closing reply and its `close_notify` alert in one `writev`
    /// (up to 64 TLS records), so the client reads both in one read, then
    /// keeps the TCP connection open, without FIN, for `d` or until the
    /// client closes it or the server shuts down (what the client sends
    /// meanwhile is discarded). A client that waits for the TCP end, or for
    /// another readable edge, after such a read hangs for `d` (issue 13).
    /// Default: `None` (the alert is written after the reply, and FIN
    /// follows).
    pub tls_hold_after_notify: Option<Duration>,
    /// Close a connection, without a word, once no request has come on it for this
    /// long (a server's keep-alive timeout): the client sees its idle kept connection
    /// end. Default: none (the connection waits up to the read timeout).
    pub idle_close: Option<Duration>,
}

impl Default for ServerConfig {
    fn default() -> ServerConfig {
        ServerConfig {
            reply: Reply::ok("ok\n"),
            delay: None,
            close_after: None,
            routes: Vec::new(),
            stall: None,
            stall_every: None,
            tls_close_notify: true,
            tls_hold_after_notify: None,
            idle_close: None,
        }
    }
}

impl ServerConfig {
    /// A config that answers every request with `reply`.
    pub fn new(reply: Reply) -> ServerConfig {
        ServerConfig {
            reply,
            ..ServerConfig::default()
        }
    }

    /// Sets [`ServerConfig::delay`].
    pub fn with_delay(mut self, delay: Duration) -> ServerConfig {
        self.delay = Some(delay);
        self
    }

    /// Sets [`ServerConfig::close_after`].
    pub fn with_close_after(mut self, replies: u64) -> ServerConfig {
        self.close_after = Some(replies);
        self
    }

    /// Sets [`ServerConfig::idle_close`].
    pub fn with_idle_close(mut self, idle: Duration) -> ServerConfig {
        self.idle_close = Some(idle);
        self
    }

    /// Sets [`ServerConfig::stall`].
    pub fn with_stall(mut self, from: Duration, length: Duration) -> ServerConfig {
        self.stall = Some((from, length));
        self
    }

    /// Sets [`ServerConfig::stall_every`].
    pub fn with_stall_every(mut self, period: Duration, length: Duration) -> ServerConfig {
        self.stall_every = Some((period, length));
        self
    }

    /// Appends `route` to [`ServerConfig::routes`].
    pub fn with_route(mut self, route: Route) -> ServerConfig {
        self.routes.push(route);
        self
    }

    /// Sets [`ServerConfig::tls_close_notify`].
    pub fn with_tls_close_notify(mut self, send: bool) -> ServerConfig {
        self.tls_close_notify = send;
        self
    }

    /// Sets [`ServerConfig::tls_hold_after_notify`].
    pub fn with_tls_hold_after_notify(mut self, hold: Duration) -> ServerConfig {
        self.tls_hold_after_notify = Some(hold);
        self
    }
}

/// TLS handshakes a [`TestServer`] started with [`TestServer::start_tls`]
/// has finished; see [`TestServer::tls_handshakes`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TlsCounts {
    /// Handshakes that completed without resumption (a TLS 1.3
    /// `HelloRetryRequest` round included).
    pub full: u64,
    /// Handshakes that resumed an earlier session (TLS 1.3 ticket, TLS 1.2
    /// session id or ticket).
    pub resumed: u64,
    /// Connections whose handshake did not complete: an alert from the
    /// client (e.g. it rejected the certificate), a missing or bad client
    /// certificate, bytes that are not TLS, EOF, a timeout, or shutdown.
    pub failed: u64,
}

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

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    let mut next_id = 0u64;
    loop {
        let stream = match listener.accept() {
            Ok((stream, _)) => stream,
            Err(_) if shared.stopping() => return,
            Err(_) => {
                // EMFILE and friends: back off instead of spinning.
                thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        let id = next_id;
        next_id += 1;
        {
            // Check the flag under the lock that `shutdown` takes after
            // setting it, so no connection escapes being shut down.
            let mut live = lock(&shared.live);
            if shared.stopping() {
                return;
            }
            if let Ok(clone) = stream.try_clone() {
                live.insert(id, clone);
            }
        }
        shared.connections.fetch_add(1, Ordering::SeqCst);
        let conn_shared = Arc::clone(shared);
        let spawned = thread::Builder::new()
            .name(format!("testserver-conn-{id}"))
            .stack_size(CONN_STACK)
            .spawn(move || {
                serve_connection(&conn_shared, id, stream);
                lock(&conn_shared.live).remove(&id);
            });
        if spawned.is_err() {
            lock(&shared.live).remove(&id);
        }
    }
}

/// One parsed request.
#[derive(Debug)]
struct Request {
    /// The head verbatim, lossily decoded.
    head: String,
    method: String,
    target: String,
    /// The `Content-Length` body; moved out when recorded.
    body: Vec<u8>,
    is_head_method: bool,
    wants_close: bool,
}

/// Serves connection number `conn` (in accept order) until it ends.
fn serve_connection(shared: &Shared, conn: u64, tcp: TcpStream) {
    // A read that times out ends the connection (see `fill`).
    let _ = tcp.set_read_timeout(Some(shared.config.idle_close.unwrap_or(IO_TIMEOUT)));
    let _ = tcp.set_write_timeout(Some(IO_TIMEOUT));
    let _ = tcp.set_nodelay(true);
    let mut stream = match &shared.tls {
        None => Stream::Plain(tcp),
        Some(tls) => match tls_handshake(shared, tls, tcp) {
            Some(stream) => stream,
            None => return,
        },
    };
    let mut buf = Vec::new();
    let mut replies = 0u64;
    let mut seq_on_conn = 0u64;
    while let Some(mut request) = read_request(shared, &mut stream, &mut buf) {
        record(shared, conn, seq_on_conn, &mut request);
        seq_on_conn += 1;
        let route = shared
            .config
            .routes
            .iter()
            .find(|route| route.applies_to(&request));
        if route.is_none() && shared.config.reply == Reply::Silent {
            continue;
        }
        if let Some(delay) = shared.config.delay {
            thread::sleep(delay);
        }
        if let Some((from, length)) = shared.config.stall {
            let (begin, end) = (shared.started + from, shared.started + from + length);
            let now = Instant::now();
            if (begin..end).contains(&now) {
                thread::sleep(end - now);
            }
        }
        if let Some((period, length)) = shared.config.stall_every {
            let into = shared.started.elapsed().as_nanos() % period.as_nanos().max(1);
            let left = period.as_nanos().saturating_sub(into);
            if left <= length.as_nanos() {
                thread::sleep(Duration::from_nanos(u64::try_from(left).unwrap_or(0)));
            }
        }
        if shared.stopping() {
            return;
        }
        replies += 1;
        let last = shared.config.close_after.is_some_and(|n| replies >= n);
        let close = last || request.wants_close;
        let (bytes, payload, close) = match route {
            Some(route) => encode_route(route, &request, close),
            None => encode_reply(shared, &request, close),
        };
        shared.body_bytes.fetch_add(payload, Ordering::SeqCst);
        let hold = shared.config.tls_hold_after_notify.filter(|_| {
            close && shared.config.tls_close_notify && matches!(stream, Stream::Tls(_))
        });
        let written = match &mut stream {
            Stream::Tls(tls) if hold.is_some() => write_with_close_notify(tls, &bytes),
            _ => stream.write_all(&bytes).and_then(|()| stream.flush()),
        };
        if written.is_err() {
            shared.body_bytes.fetch_sub(payload, Ordering::SeqCst);
            return;
        }
        if let Some(hold) = hold {
            hold_open(shared, stream.tcp(), hold);
            linger_close(stream.tcp());
            return;
        }
        if close {
            close_gracefully(shared, &mut stream);
            return;
        }
    }
}

/// Records `request` (moving its body out) and counts it.
fn record(shared: &Shared, conn: u64, seq_on_conn: u64, request: &mut Request) {
    {
        let mut heads = lock(&shared.heads);
        if heads.len() < MAX_RECORDED_HEADS {
            heads.push(request.head.clone());
        }
    }
    {
        // Stamped under the lock, so `at` never decreases along the list.
        let mut received = lock(&shared.received);
        if received.len() < MAX_RECORDED_REQUESTS {
            received.push(Received {
                conn,
                seq_on_conn,
                at: Instant::now(),
                method: request.method.clone(),
                target: request.target.clone(),
                headers: received_fields(&request.head),
                body: std::mem::take(&mut request.body),
            });
        }
    }
    shared.requests.fetch_add(1, Ordering::SeqCst);
}

/// The header fields of `head` for [`Received::headers`]: names as sent,
/// values trimmed, lines without `:` skipped.
fn received_fields(head: &str) -> Vec<(String, String)> {
    head.split("\r\n")
        .skip(1)
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.to_owned(), value.trim().to_owned()))
        .collect()
}

/// An accepted connection: plain TCP, or TLS over TCP once its handshake
/// has completed.
enum Stream {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ServerConnection, TcpStream>>),
}

impl Stream {
    /// The TCP socket under the stream.
    fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(tcp) => tcp,
            Stream::Tls(tls) => &tls.sock,
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(tcp) => tcp.read(buf),
            Stream::Tls(tls) => tls.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(tcp) => tcp.write(buf),
            Stream::Tls(tls) => tls.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(tcp) => tcp.flush(),
            Stream::Tls(tls) => tls.flush(),
        }
    }
}

/// Runs the server side of a TLS handshake on `tcp`, all of it within
/// [`IO_TIMEOUT`], and counts it in [`Shared`]. On failure, sends what
/// rustls still wants to send (normally an alert saying why), closes the
/// connection and returns `None`.
fn tls_handshake(
    shared: &Shared,
    config: &Arc<rustls::ServerConfig>,
    mut tcp: TcpStream,
) -> Option<Stream> {
    let Ok(mut conn) = rustls::ServerConnection::new(Arc::clone(config)) else {
        shared.tls_failed.fetch_add(1, Ordering::SeqCst);
        return None;
    };
    let until = Instant::now() + IO_TIMEOUT;
    let mut ok = true;
    while ok && conn.is_handshaking() {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() || shared.stopping() {
            ok = false;
            break;
        }
        // Each call blocks at most this long, so the whole handshake ends
        // by `until`, however slowly the peer trickles bytes.
        let _ = tcp.set_read_timeout(Some(left));
        let _ = tcp.set_write_timeout(Some(left));
        match conn.complete_io(&mut tcp) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => ok = false,
        }
    }
    let _ = tcp.set_read_timeout(Some(IO_TIMEOUT));
    let _ = tcp.set_write_timeout(Some(IO_TIMEOUT));
    if !ok {
        shared.tls_failed.fetch_add(1, Ordering::SeqCst);
        // Whatever rustls queued (the alert explaining the failure), so the
        // peer sees why; each write is bounded by the write timeout.
        while conn.wants_write() {
            match conn.write_tls(&mut tcp) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
        linger_close(&tcp);
        return None;
    }
    let counter = match conn.handshake_kind() {
        Some(rustls::HandshakeKind::Resumed) => &shared.tls_resumed,
        _ => &shared.tls_full,
    };
    counter.fetch_add(1, Ordering::SeqCst);
    Some(Stream::Tls(Box::new(rustls::StreamOwned::new(conn, tcp))))
}

/// Closes the connection from our side: over TLS, a `close_notify` alert
/// first (unless [`ServerConfig::tls_close_notify`] is off), then as
/// [`linger_close`] does.
fn close_gracefully(shared: &Shared, stream: &mut Stream) {
    if let Stream::Tls(tls) = stream
        && shared.config.tls_close_notify
    {
        tls.conn.send_close_notify();
        let _ = tls.flush();
    }
    linger_close(stream.tcp());
}

/// Queues `reply` and a `close_notify` alert, then writes both with one
/// `writev` (rustls writes up to 64 queued records at once), so the peer
/// reads them in one read; see [`ServerConfig::tls_hold_after_notify`].
fn write_with_close_notify(
    tls: &mut rustls::StreamOwned<rustls::ServerConnection, TcpStream>,
    reply: &[u8],
) -> io::Result<()> {
    // Unbounded for this one reply: the default 64 KiB limit would have the
    // writer take only part of a large body before anything is written.
    tls.conn.set_buffer_limit(None);
    tls.conn.writer().write_all(reply)?;
    tls.conn.send_close_notify();
    while tls.conn.wants_write() {
        tls.conn.write_tls(&mut tls.sock)?;
    }
    Ok(())
}

/// Keeps `tcp` open (no FIN) for `hold`, or until the peer closes it or the
/// server shuts down, discarding what the peer sends.
fn hold_open(shared: &Shared, mut tcp: &TcpStream, hold: Duration) {
    let until = Instant::now() + hold;
    let mut sink = [0u8; 4096];
    loop {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() || shared.stopping() {
            return;
        }
        let _ = tcp.set_read_timeout(Some(left));
        match tcp.read(&mut sink) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::Interrupted
                        | io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return,
        }
    }
}

/// Sends FIN, then drains what the peer still sends until it closes (or
/// [`CLOSE_LINGER`] passes), so the close does not become a reset.
fn linger_close(mut tcp: &TcpStream) {
    let _ = tcp.shutdown(Shutdown::Write);
    let _ = tcp.set_read_timeout(Some(CLOSE_LINGER));
    let until = Instant::now() + CLOSE_LINGER;
    let mut sink = [0u8; 4096];
    while Instant::now() < until {
        match tcp.read(&mut sink) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

/// Reads one request (head plus `Content-Length` body) from `stream`; the
/// body grows only as bytes arrive, whatever `Content-Length` claims. Keeps
/// bytes of later pipelined requests in `buf`. `None` ends the
/// connection: EOF, an I/O error, a timeout, an oversized or bad head, or
/// server shutdown.
fn read_request(shared: &Shared, stream: &mut Stream, buf: &mut Vec<u8>) -> Option<Request> {
    let head_end = loop {
        if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break pos + 4;
        }
        if buf.len() > MAX_HEAD_BYTES || !fill(shared, stream, buf) {
            return None;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    buf.drain(..head_end);
    let mut request = parse_head(head)?;
    let mut remaining = content_length(&request.head)?;
    loop {
        let take = remaining.min(buf.len());
        request.body.extend_from_slice(&buf[..take]);
        buf.drain(..take);
        remaining -= take;
        if remaining == 0 {
            break;
        }
        if !fill(shared, stream, buf) {
            return None;
        }
    }
    if shared.stopping() {
        None
    } else {
        Some(request)
    }
}

/// Appends at least one byte to `buf`; `false` on EOF, error or timeout.
/// A [`Reply::Silent`] server waits through timeouts until shutdown.
fn fill(shared: &Shared, stream: &mut Stream, buf: &mut Vec<u8>) -> bool {
    let mut chunk = [0u8; 8192];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => return false,
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                return true;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) && shared.config.reply == Reply::Silent
                    && !shared.stopping() => {}
            Err(_) => return false,
        }
    }
}

fn parse_head(head: String) -> Option<Request> {
    let request_line = head.split("\r\n").next()?;
    let mut parts = request_line.split(' ');
    let method = parts.next()?.to_owned();
    let target = parts.next()?.to_owned();
    let version = parts.next()?;
    let mut close = version == "HTTP/1.0";
    for (name, value) in header_fields(&head) {
        if name.eq_ignore_ascii_case("connection") {
            for token in value.split(',').map(str::trim) {
                if token.eq_ignore_ascii_case("close") {
                    close = true;
                } else if token.eq_ignore_ascii_case("keep-alive") {
                    close = false;
                }
            }
        }
    }
    let is_head_method = method == "HEAD";
    Some(Request {
        head,
        method,
        target,
        body: Vec::new(),
        is_head_method,
        wants_close: close,
    })
}

/// The request's `Content-Length` (0 if absent); `None` if it is invalid.
fn content_length(head: &str) -> Option<usize> {
    match header_fields(head).find(|(name, _)| name.eq_ignore_ascii_case("content-length")) {
        Some((_, value)) => value.parse().ok(),
        None => Some(0),
    }
}

fn header_fields(head: &str) -> impl Iterator<Item = (&str, &str)> {
    head.split("\r\n")
        .skip(1)
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim(), value.trim()))
}

/// Serializes the scripted reply: (bytes, body payload length, close after).
///
/// Replies to `HEAD` carry no body. 1xx, 204 and 304 replies carry neither a
/// body nor framing headers (RFC 9112 §6.3 rule 1), whatever the script
/// says, so a correct client stays in step on a kept-alive connection.
fn encode_reply(shared: &Shared, request: &Request, close: bool) -> (Vec<u8>, u64, bool) {
    let status = match &shared.config.reply {
        Reply::Fixed { status, .. }
        | Reply::Chunked { status, .. }
        | Reply::UntilClose { status, .. } => *status,
        Reply::StatusCycle(statuses) => {
            let turn = shared.cycle.fetch_add(1, Ordering::SeqCst);
            statuses[usize::try_from(turn).unwrap_or(0) % statuses.len()]
        }
        Reply::Silent => unreachable!("Silent never replies"),
    };
    let until_close = matches!(shared.config.reply, Reply::UntilClose { .. });
    if matches!(status, 100..=199 | 204 | 304) {
        let close = close || until_close;
        return (head(status, "", close), 0, close);
    }
    let with_body = !request.is_head_method;
    match &shared.config.reply {
        Reply::Fixed { body, .. } => fixed(status, "", body, with_body, close),
        Reply::StatusCycle(_) => fixed(status, "", CYCLE_BODY, with_body, close),
        Reply::Chunked { chunks, .. } => {
            let mut out = head(
                status,
                "Transfer-Encoding: chunked\r\nTrailer: X-Volley-Trailer\r\n",
                close,
            );
            let mut payload = 0;
            if with_body {
                for (i, chunk) in chunks.iter().filter(|c| !c.is_empty()).enumerate() {
                    let ext = if i == 0 { CHUNK_EXTENSION } else { "" };
                    out.extend_from_slice(format!("{:x}{ext}\r\n", chunk.len()).as_bytes());
                    out.extend_from_slice(chunk);
                    out.extend_from_slice(b"\r\n");
                    payload += chunk.len() as u64;
                }
                out.extend_from_slice(format!("0\r\n{CHUNK_TRAILER}\r\n\r\n").as_bytes());
            }
            (out, payload, close)
        }
        Reply::UntilClose { body, .. } => {
            let mut out = head(status, "", true);
            let mut payload = 0;
            if with_body {
                out.extend_from_slice(body);
                payload = body.len() as u64;
            }
            (out, payload, true)
        }
        Reply::Silent => unreachable!("Silent never replies"),
    }
}

/// Serializes `route`'s reply like [`encode_reply`] does a [`Reply::Fixed`].
fn encode_route(route: &Route, request: &Request, close: bool) -> (Vec<u8>, u64, bool) {
    let mut fields = String::new();
    for (name, value) in &route.headers {
        let _ = write!(fields, "{name}: {value}\r\n");
    }
    if matches!(route.status, 100..=199 | 204 | 304) {
        return (head(route.status, &fields, close), 0, close);
    }
    let with_body = !request.is_head_method;
    fixed(route.status, &fields, &route.body, with_body, close)
}

/// A `Content-Length` framed reply; `fields` (each ending in CRLF) follow
/// the `Content-Length` field.
fn fixed(
    status: u16,
    fields: &str,
    body: &[u8],
    with_body: bool,
    close: bool,
) -> (Vec<u8>, u64, bool) {
    let mut out = head(
        status,
        &format!("Content-Length: {}\r\n{fields}", body.len()),
        close,
    );
    if !with_body {
        return (out, 0, close);
    }
    out.extend_from_slice(body);
    (out, body.len() as u64, close)
}

/// Status line, `fields` (each ending in CRLF), `Connection: close` if
/// closing, and the blank line.
fn head(status: u16, fields: &str, close: bool) -> Vec<u8> {
    let connection = if close { "Connection: close\r\n" } else { "" };
    format!(
        "HTTP/1.1 {status} {}\r\n{fields}{connection}\r\n",
        reason(status)
    )
    .into_bytes()
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wait_until;

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
        s.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let err = s.read(&mut [0; 16]).expect_err("silent server replied");
        assert!(matches!(
            err.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
        ));

        let started = Instant::now();
        server.shutdown();
        assert!(started.elapsed() < Duration::from_millis(1500));
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        assert_eq!(
            s.read(&mut [0; 16]).unwrap_or(0),
            0,
            "shutdown left the socket open"
        );
        assert!(
            TcpStream::connect(server.addr()).is_err(),
            "still accepting"
        );
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
