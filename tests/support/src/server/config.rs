//! The configuration types: [`ServerConfig`], the scripted [`Reply`] and per-path
//! [`Route`]s, and which route answers a request.

use std::time::Duration;

use super::request::{Request, header_fields};

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
    ///
    /// [`CHUNK_EXTENSION`]: super::CHUNK_EXTENSION
    /// [`CHUNK_TRAILER`]: super::CHUNK_TRAILER
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
    /// [`TestServer::start`](super::TestServer::start) panics if the list is empty.
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
    pub(super) fn applies_to(&self, request: &Request) -> bool {
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

/// How a [`TestServer`](super::TestServer) behaves.
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
    ///
    /// [`TestServer::start_tls`]: super::TestServer::start_tls
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
