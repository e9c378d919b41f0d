//! Misbehaving servers: a scriptable raw TCP peer, in the style of curl's `sws`.
//!
//! A [`HostileServer`] binds `127.0.0.1:0` (never a fixed port) and runs a *script* of
//! [`Step`]s on each connection it accepts, on that connection's own thread: read a
//! request, write these bytes (at once, byte by byte, or forever), wait, close with FIN,
//! reset with RST, hang. The script may differ by connection number (the first connection
//! stalls, the rest answer), so every failure mode of HOSTILE.md's scenario table can be
//! played against the real `volley` binary. The scenarios are the `sNN_*` constructors
//! below; each says which volley code path it exercises and how the request must be
//! counted.
//!
//! Nothing here can hang a test: every socket operation is done in slices of
//! [`SLICE`] so that the server's stop flag is seen, reads and writes that make no
//! progress give up after [`IO_TIMEOUT`], and dropping the server stops accepting and
//! closes every connection within about a second. [`HostileServer::connections`] and
//! [`HostileServer::requests`] count what the server saw, so a test can compare them
//! with volley's counts.
//!
//! [`BacklogNeverAccepted`] is the one peer that is not scripted: a listener with a
//! backlog of 1 that never calls `accept` (S22).

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use socket2::{Domain, SockAddr, SockRef, Socket, Type};

/// Granularity of every blocking socket operation and sleep: how quickly a connection
/// thread notices that the server is stopping.
pub const SLICE: Duration = Duration::from_millis(50);

/// A read (in [`Step::ReadRequest`]) or write that makes no progress for this long ends
/// the connection.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// How long [`Step::Close`] drains what the peer still sends after the FIN, so that the
/// close does not turn into a reset.
const CLOSE_LINGER: Duration = Duration::from_secs(1);

/// How long dropping the server waits for its threads.
const STOP_WAIT: Duration = Duration::from_secs(1);

/// Listen backlog of a scripted server: bursts of reconnects (S01) must not overflow it.
const BACKLOG: i32 = 1024;

/// A request head longer than this ends the connection.
const MAX_REQUEST_HEAD: usize = 64 * 1024;

/// How many request heads [`HostileServer::received_heads`] keeps.
pub const MAX_RECORDED_HEADS: usize = 100;

/// Stack size of connection threads: they hold small buffers only.
const CONN_STACK: usize = 256 * 1024;

/// One step of a connection's script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Read one request: its head up to the empty line, then a `Content-Length` body.
    /// Bytes of a following pipelined request are kept for the next `ReadRequest`. The
    /// request is counted in [`HostileServer::requests`]. End of file, an error, or
    /// [`IO_TIMEOUT`] without a byte ends the connection (the socket is closed).
    ReadRequest,
    /// Read a request's head only, leaving its `Content-Length` body unread (for a
    /// later `ReadBody`, or never): how a server answers before the upload ends. The
    /// request is counted.
    ReadHead,
    /// Read and discard the body announced by the last `ReadHead`.
    ReadBody,
    /// Write these bytes. A write error (the peer is gone) ends the connection.
    Write(Vec<u8>),
    /// Write these bytes one at a time (`TCP_NODELAY` is on, so each byte is its own
    /// segment), sleeping `every` between two bytes: a trickle, or every possible split
    /// point of a message.
    WriteSlowly {
        /// The bytes.
        bytes: Vec<u8>,
        /// Pause between two bytes.
        every: Duration,
    },
    /// Write these bytes again and again, sleeping `every` (possibly zero) between two
    /// writes, until the peer goes away or the server stops: an endless body, header
    /// line or trickle. Always the last step.
    WriteForever {
        /// The bytes written each time.
        bytes: Vec<u8>,
        /// Pause between two writes.
        every: Duration,
    },
    /// Do nothing for this long (still ended early by the server stopping).
    Sleep(Duration),
    /// Send FIN (`shutdown(SHUT_WR)`), drain what the peer still sends for up to a
    /// second, then close. Always the last step.
    Close,
    /// Close with `SO_LINGER` 0, so the peer gets RST. Always the last step.
    Reset,
    /// Keep the socket open, reading and discarding, until the peer closes it or the
    /// server stops. Always the last step.
    Hang,
    /// Start the script again from its first step, for the next request on the same
    /// connection. A script that read no request since it (re)started closes instead, so
    /// `Repeat` can never spin.
    Repeat,
}

/// A script: the steps one connection runs, in order. A script that runs out of steps
/// closes the connection as [`Step::Close`] does.
pub type Script = Vec<Step>;

/// The script of connection number `n` (0 for the first connection accepted).
type ScriptFn = dyn Fn(u64) -> Script + Send + Sync;

/// State shared by the handle, the accept loop and the connection threads.
struct Shared {
    script: Box<ScriptFn>,
    stop: AtomicBool,
    connections: AtomicU64,
    requests: AtomicU64,
    /// Connection threads still running.
    live: AtomicU64,
    heads: Mutex<Vec<String>>,
}

impl Shared {
    fn stopping(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }
}

/// The running accept loop of one listener.
struct Acceptor {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

/// A scripted raw TCP server on `127.0.0.1`; see the [module docs](self).
///
/// Dropping it (or [`HostileServer::shutdown`]) closes the listener and every connection
/// within about a second.
pub struct HostileServer {
    name: &'static str,
    addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<Acceptor>,
}

impl fmt::Debug for HostileServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HostileServer")
            .field("name", &self.name)
            .field("addr", &self.addr)
            .field("connections", &self.connections())
            .field("requests", &self.requests())
            .finish_non_exhaustive()
    }
}

impl HostileServer {
    /// Binds `127.0.0.1:0` and runs `script(n)` on the `n`th connection accepted
    /// (counting from 0). `name` appears in `Debug` output and panic messages.
    ///
    /// # Panics
    ///
    /// If the socket cannot be bound or the accept thread cannot be started.
    pub fn start<F>(name: &'static str, script: F) -> HostileServer
    where
        F: Fn(u64) -> Script + Send + Sync + 'static,
    {
        let listener = listen("127.0.0.1:0".parse().expect("loopback address"), BACKLOG)
            .unwrap_or_else(|e| panic!("{name}: bind 127.0.0.1:0: {e}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("{name}: local_addr: {e}"));
        let shared = Arc::new(Shared {
            script: Box::new(script),
            stop: AtomicBool::new(false),
            connections: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            live: AtomicU64::new(0),
            heads: Mutex::new(Vec::new()),
        });
        let acceptor = spawn_acceptor(name, listener, &shared);
        HostileServer {
            name,
            addr,
            shared,
            acceptor: Some(acceptor),
        }
    }

    /// Runs the same `script` on every connection.
    pub fn every_connection(name: &'static str, script: Script) -> HostileServer {
        HostileServer::start(name, move |_| script.clone())
    }

    /// Answers every request on every connection with `reply`, keeping connections open:
    /// `[ReadRequest, Write(reply), Repeat]`.
    pub fn answering(name: &'static str, reply: Vec<u8>) -> HostileServer {
        HostileServer::every_connection(
            name,
            vec![Step::ReadRequest, Step::Write(reply), Step::Repeat],
        )
    }

    /// Answers the first request of every connection with `reply`, then ends the
    /// connection with `then`: `[ReadRequest, Write(reply), then]`.
    pub fn answering_once(name: &'static str, reply: Vec<u8>, then: Step) -> HostileServer {
        HostileServer::every_connection(name, vec![Step::ReadRequest, Step::Write(reply), then])
    }

    /// The scenario's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The bound address (`127.0.0.1:PORT`).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT/path`; a missing leading `/` is added.
    pub fn url(&self, path: &str) -> String {
        crate::url_of(self.addr, path)
    }

    /// Connections accepted so far. A client's connect can complete before the server
    /// accepts, so poll with [`crate::wait_until`] for a connection that carried nothing.
    pub fn connections(&self) -> u64 {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// Requests read completely by [`Step::ReadRequest`] on all connections. A request
    /// is counted before anything is written back, so once a client saw a reply (or an
    /// RST after the request was read), its request is counted.
    pub fn requests(&self) -> u64 {
        self.shared.requests.load(Ordering::SeqCst)
    }

    /// The first [`MAX_RECORDED_HEADS`] request heads, verbatim (lossily decoded), in the
    /// order they were read.
    pub fn received_heads(&self) -> Vec<String> {
        self.shared
            .heads
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Closes the listener (connects are refused from now on, S21) and waits for the
    /// accept thread. Open connections keep running their scripts. Idempotent.
    pub fn stop_listening(&mut self) {
        if let Some(acceptor) = self.acceptor.take() {
            acceptor.stop.store(true, Ordering::SeqCst);
            join_within(acceptor.thread, STOP_WAIT);
        }
    }

    /// Listens again on the same port after [`HostileServer::stop_listening`] (S21).
    /// Connection numbers go on from where they were.
    ///
    /// # Panics
    ///
    /// If the port cannot be bound again (another process took it meanwhile).
    pub fn listen_again(&mut self) {
        if self.acceptor.is_some() {
            return;
        }
        let listener = listen(self.addr, BACKLOG)
            .unwrap_or_else(|e| panic!("{}: bind {} again: {e}", self.name, self.addr));
        self.acceptor = Some(spawn_acceptor(self.name, listener, &self.shared));
    }

    /// Stops accepting, ends every connection (each thread sees the flag within
    /// [`SLICE`]) and waits up to about a second for all threads. Idempotent; `Drop`
    /// calls it.
    pub fn shutdown(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.stop_listening();
        let until = Instant::now() + STOP_WAIT;
        while self.shared.live.load(Ordering::SeqCst) > 0 && Instant::now() < until {
            thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for HostileServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Waits up to `wait` for `thread`, joining it if it ended; otherwise it is detached (it
/// ends on its own within one [`SLICE`] of seeing its stop flag).
fn join_within(thread: JoinHandle<()>, wait: Duration) {
    let until = Instant::now() + wait;
    while !thread.is_finished() && Instant::now() < until {
        thread::sleep(Duration::from_millis(2));
    }
    if thread.is_finished() {
        let _ = thread.join();
    }
}

/// A listening socket on `addr` with `SO_REUSEADDR` (so the port can be bound again
/// while old connections sit in TIME_WAIT) and the given backlog.
fn listen(addr: SocketAddr, backlog: i32) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.bind(&SockAddr::from(addr))?;
    socket.listen(backlog)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

fn spawn_acceptor(name: &'static str, listener: TcpListener, shared: &Arc<Shared>) -> Acceptor {
    let stop = Arc::new(AtomicBool::new(false));
    let (loop_stop, loop_shared) = (Arc::clone(&stop), Arc::clone(shared));
    let thread = thread::Builder::new()
        .name(format!("hostile-accept-{name}"))
        .spawn(move || accept_loop(&listener, &loop_shared, &loop_stop))
        .unwrap_or_else(|e| panic!("{name}: spawn the accept thread: {e}"));
    Acceptor { stop, thread }
}

/// Accepts until `stop` or the server stops, waiting in `poll(2)` slices of [`SLICE`] so
/// that a stop is seen promptly without a wake-up connection. The listener is closed when
/// this returns.
fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>, stop: &AtomicBool) {
    let slice = PollTimeout::try_from(SLICE).unwrap_or(PollTimeout::MAX);
    while !stop.load(Ordering::SeqCst) && !shared.stopping() {
        let mut fds = [PollFd::new(listener.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, slice) {
            Ok(0) | Err(nix::errno::Errno::EINTR) => continue,
            Ok(_) => {}
            Err(_) => {
                thread::sleep(Duration::from_millis(10));
                continue;
            }
        }
        let stream = match listener.accept() {
            Ok((stream, _)) => stream,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(_) => {
                // EMFILE and friends: back off instead of spinning.
                thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        let n = shared.connections.fetch_add(1, Ordering::SeqCst);
        let script = (shared.script)(n);
        shared.live.fetch_add(1, Ordering::SeqCst);
        let conn_shared = Arc::clone(shared);
        let spawned = thread::Builder::new()
            .name(format!("hostile-conn-{n}"))
            .stack_size(CONN_STACK)
            .spawn(move || {
                Conn::new(stream, &conn_shared).run(&script);
                conn_shared.live.fetch_sub(1, Ordering::SeqCst);
            });
        if spawned.is_err() {
            shared.live.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// What one read slice gave.
enum Got {
    /// Bytes were appended to the buffer.
    Bytes,
    /// The peer closed its side.
    Eof,
    /// An error, a stop, or the deadline.
    Over,
}

/// One accepted connection running its script.
struct Conn<'a> {
    stream: TcpStream,
    shared: &'a Shared,
    /// Received bytes not yet consumed by a request.
    buf: Vec<u8>,
    /// Body bytes of the last head read by `ReadHead` still unread.
    pending_body: usize,
}

impl<'a> Conn<'a> {
    fn new(stream: TcpStream, shared: &'a Shared) -> Conn<'a> {
        let _ = stream.set_nonblocking(false);
        let _ = stream.set_read_timeout(Some(SLICE));
        let _ = stream.set_write_timeout(Some(SLICE));
        let _ = stream.set_nodelay(true);
        Conn {
            stream,
            shared,
            buf: Vec::new(),
            pending_body: 0,
        }
    }

    fn run(mut self, script: &[Step]) {
        let mut at = 0;
        let mut read_since_start = false;
        loop {
            let Some(step) = script.get(at) else {
                self.close();
                return;
            };
            let go_on = match step {
                Step::ReadRequest => {
                    read_since_start = true;
                    self.read_request()
                }
                Step::ReadHead => {
                    read_since_start = true;
                    match self.read_head() {
                        Some(length) => {
                            self.pending_body = length;
                            true
                        }
                        None => false,
                    }
                }
                Step::ReadBody => {
                    let length = std::mem::take(&mut self.pending_body);
                    self.skip_body(length)
                }
                Step::Write(bytes) => self.write_all(bytes),
                Step::WriteSlowly { bytes, every } => bytes
                    .iter()
                    .enumerate()
                    .all(|(i, b)| (i == 0 || self.sleep(*every)) && self.write_all(&[*b])),
                Step::WriteForever { bytes, every } => {
                    while self.write_all(bytes) && (every.is_zero() || self.sleep(*every)) {}
                    false
                }
                Step::Sleep(d) => self.sleep(*d),
                Step::Close => {
                    self.close();
                    false
                }
                Step::Reset => {
                    // SO_LINGER with a zero timeout: close(2) sends RST and drops the
                    // send queue.
                    let _ = SockRef::from(&self.stream).set_linger(Some(Duration::ZERO));
                    false
                }
                Step::Hang => {
                    self.hang();
                    false
                }
                Step::Repeat if read_since_start => {
                    read_since_start = false;
                    at = 0;
                    continue;
                }
                Step::Repeat => {
                    self.close();
                    false
                }
            };
            if !go_on || self.shared.stopping() {
                return;
            }
            at += 1;
        }
    }

    /// Reads one slice into `buf`, waiting up to `deadline` (or forever) for a byte.
    fn fill(&mut self, deadline: Option<Instant>) -> Got {
        let mut chunk = [0u8; 16 * 1024];
        loop {
            if self.shared.stopping() {
                return Got::Over;
            }
            match self.stream.read(&mut chunk) {
                Ok(0) => return Got::Eof,
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    return Got::Bytes;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    if deadline.is_some_and(|d| Instant::now() >= d) {
                        return Got::Over;
                    }
                }
                Err(_) => return Got::Over,
            }
        }
    }

    fn read_request(&mut self) -> bool {
        match self.read_head() {
            Some(length) => self.skip_body(length),
            None => false,
        }
    }

    /// Reads and records one request head; returns its `Content-Length` (0 if none).
    fn read_head(&mut self) -> Option<usize> {
        let head_end = loop {
            if let Some(pos) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break pos + 4;
            }
            if self.buf.len() > MAX_REQUEST_HEAD {
                return None;
            }
            if !matches!(self.fill(Some(Instant::now() + IO_TIMEOUT)), Got::Bytes) {
                return None;
            }
        };
        let head = String::from_utf8_lossy(&self.buf[..head_end]).into_owned();
        self.buf.drain(..head_end);
        let length = content_length(&head)?;
        {
            let mut heads = self
                .shared
                .heads
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if heads.len() < MAX_RECORDED_HEADS {
                heads.push(head);
            }
        }
        self.shared.requests.fetch_add(1, Ordering::SeqCst);
        Some(length)
    }

    /// Reads and discards `remaining` body bytes.
    fn skip_body(&mut self, mut remaining: usize) -> bool {
        loop {
            let take = remaining.min(self.buf.len());
            self.buf.drain(..take);
            remaining -= take;
            if remaining == 0 {
                return true;
            }
            if !matches!(self.fill(Some(Instant::now() + IO_TIMEOUT)), Got::Bytes) {
                return false;
            }
        }
    }

    /// Writes all of `bytes`; false if the peer is gone, the server stops, or no byte
    /// could be written for [`IO_TIMEOUT`].
    fn write_all(&mut self, bytes: &[u8]) -> bool {
        let mut written = 0;
        let mut progress = Instant::now();
        while written < bytes.len() {
            if self.shared.stopping() {
                return false;
            }
            match self.stream.write(&bytes[written..]) {
                Ok(0) => return false,
                Ok(n) => {
                    written += n;
                    progress = Instant::now();
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    if progress.elapsed() >= IO_TIMEOUT {
                        return false;
                    }
                }
                Err(_) => return false,
            }
        }
        true
    }

    /// Sleeps `d` in slices; false if the server stopped meanwhile.
    fn sleep(&self, d: Duration) -> bool {
        let until = Instant::now() + d;
        loop {
            if self.shared.stopping() {
                return false;
            }
            let now = Instant::now();
            if now >= until {
                return true;
            }
            thread::sleep(SLICE.min(until - now));
        }
    }

    /// FIN, then drain until the peer closes (or a second passes), so unread bytes do
    /// not turn the close into a reset.
    fn close(&mut self) {
        let _ = self.stream.shutdown(Shutdown::Write);
        let until = Instant::now() + CLOSE_LINGER;
        while let Got::Bytes = self.fill(Some(until)) {
            self.buf.clear();
        }
    }

    /// Reads and discards until the peer closes or the server stops.
    fn hang(&mut self) {
        while let Got::Bytes = self.fill(None) {
            self.buf.clear();
        }
    }
}

/// The request's `Content-Length` (0 if absent); `None` if it is not a number.
fn content_length(head: &str) -> Option<usize> {
    let field = head
        .split("\r\n")
        .skip(1)
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"));
    match field {
        Some((_, value)) => value.trim().parse().ok(),
        None => Some(0),
    }
}

/// A listener with a backlog of 1 that never calls `accept` (S22): the first connects
/// complete in the kernel and sit in the accept queue with their requests unread; once
/// the queue is full, SYNs are dropped and connects hang until the client gives up.
/// Exercises volley's connect and first-byte deadlines; the requests count as
/// `client-timo/connect` or `client-timo/first-byte`. Dropping it closes the listener.
#[derive(Debug)]
pub struct BacklogNeverAccepted {
    addr: SocketAddr,
    _socket: Socket,
}

impl BacklogNeverAccepted {
    /// Binds `127.0.0.1:0` and listens with a backlog of 1.
    ///
    /// # Panics
    ///
    /// If the socket cannot be bound.
    pub fn bind() -> BacklogNeverAccepted {
        let socket = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
        let any: SocketAddr = "127.0.0.1:0".parse().expect("loopback address");
        socket.bind(&SockAddr::from(any)).expect("bind 127.0.0.1:0");
        socket.listen(1).expect("listen(1)");
        let addr = socket
            .local_addr()
            .ok()
            .and_then(|a| a.as_socket())
            .expect("an IPv4 local address");
        BacklogNeverAccepted {
            addr,
            _socket: socket,
        }
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT/path`.
    pub fn url(&self, path: &str) -> String {
        crate::url_of(self.addr, path)
    }
}

// ---------------------------------------------------------------------------------------
// Reply bytes.

/// `HTTP/1.1 200 OK` with a matching `Content-Length` and `body`.
pub fn ok(body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// A head (status line, `fields` each ending in CRLF, the empty line) followed by `body`.
pub fn raw(status_line: &str, fields: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!("{status_line}\r\n{fields}\r\n").into_bytes();
    out.extend_from_slice(body);
    out
}

/// The head of a `200 OK` reply with `Transfer-Encoding: chunked`.
pub const CHUNKED_HEAD: &str = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";

/// `CHUNKED_HEAD` followed by `body` (the raw chunked coding).
pub fn chunked(body: &str) -> Vec<u8> {
    format!("{CHUNKED_HEAD}{body}").into_bytes()
}

// ---------------------------------------------------------------------------------------
// The scenarios of HOSTILE.md section (b). Replies are `ok("ok")` unless said otherwise.

/// S01, seed 003 (httperf's stale-timer hang): even-numbered connections read the first
/// request and stall; odd-numbered ones answer two requests, then stall on the third.
/// With a tiny `--timeout`, every connection ends in a client timeout, so connections are
/// closed and reopened thousands of times, each new one landing in the slot (and handle
/// slab entry) the timed-out one left. Exercises the generation check of volley's timers
/// and connection handles under churn: every request must end as a reply or
/// `client-timo`, and the run must end.
pub fn s01_stall_every_connection() -> HostileServer {
    HostileServer::start("s01-stale-timer", |n| {
        if n % 2 == 0 {
            vec![Step::ReadRequest, Step::Hang]
        } else {
            vec![
                Step::ReadRequest,
                Step::Write(ok("ok")),
                Step::ReadRequest,
                Step::Write(ok("ok")),
                Step::ReadRequest,
                Step::Hang,
            ]
        }
    })
}

/// S04: reads the request and never replies. Exercises the first-byte deadline
/// (`--timeout` + `--think-timeout`, or `--first-byte-timeout`) from the time the request
/// was sent: `client-timo/first-byte`, counted once per request.
pub fn s04_never_replies() -> HostileServer {
    HostileServer::every_connection("s04-never-replies", vec![Step::ReadRequest, Step::Hang])
}

/// S05: sends a complete head announcing a 1 MB body, then one body byte every `every`,
/// forever. Exercises the hard reply deadline, which trickling cannot extend (F2):
/// `client-timo/reply` (or `client-timo/idle` with an `--idle-timeout` below `every`).
pub fn s05_trickle_body(every: Duration) -> HostileServer {
    HostileServer::every_connection(
        "s05-trickle-body",
        vec![
            Step::ReadRequest,
            Step::Write(raw("HTTP/1.1 200 OK", "Content-Length: 1000000\r\n", b"")),
            Step::WriteForever {
                bytes: b"x".to_vec(),
                every,
            },
        ],
    )
}

/// S05 in the head: sends the status line, then one byte of a header field every
/// `every`, forever. Exercises the reply deadline while the head parser still waits for
/// the end of the head: `client-timo/reply`.
pub fn s05_trickle_head(every: Duration) -> HostileServer {
    HostileServer::every_connection(
        "s05-trickle-head",
        vec![
            Step::ReadRequest,
            Step::Write(b"HTTP/1.1 200 OK\r\nX-Slow: ".to_vec()),
            Step::WriteForever {
                bytes: b"s".to_vec(),
                every,
            },
        ],
    )
}

/// S08: reads the request on a new connection, then resets it (RST) without a byte of
/// reply. Exercises the read error path before any reply byte on a fresh connection:
/// `connreset/no-reply`, no retry (the connection was not reused).
pub fn s08_reset_after_request() -> HostileServer {
    HostileServer::every_connection("s08-reset", vec![Step::ReadRequest, Step::Reset])
}

/// S08 with FIN: reads the request on a new connection, then closes it without a byte
/// of reply. Exercises end of file before any reply byte on a fresh connection:
/// `connreset/no-reply`, no retry.
pub fn s08_close_after_request() -> HostileServer {
    HostileServer::every_connection("s08-close", vec![Step::ReadRequest, Step::Close])
}

/// S09: sends a head with `Content-Length: 1000` and 500 body bytes, pauses so the
/// client reads them, then resets. Exercises a reset in the body decoder: the partial
/// body bytes are counted and the request is `connreset/incomplete`.
pub fn s09_reset_mid_body() -> HostileServer {
    HostileServer::every_connection(
        "s09-reset-mid-body",
        vec![
            Step::ReadRequest,
            Step::Write(raw(
                "HTTP/1.1 200 OK",
                "Content-Length: 1000\r\n",
                &[b'b'; 500],
            )),
            Step::Sleep(Duration::from_millis(50)),
            Step::Reset,
        ],
    )
}

/// S10: a reply with neither `Content-Length` nor `Transfer-Encoding` whose body runs to
/// FIN, in HTTP/1.`minor`. Exercises the read-until-close decoder: a reply, and the
/// connection is never reused.
pub fn s10_body_until_close(minor: u8, body: &str) -> HostileServer {
    HostileServer::answering_once(
        "s10-until-close",
        raw(&format!("HTTP/1.{minor} 200 OK"), "", body.as_bytes()),
        Step::Close,
    )
}

/// S11: an HTTP/1.0 reply with `Content-Length` and no keep-alive, after which the
/// server leaves the socket open. Exercises "done after Content-Length bytes": volley
/// must close the connection itself instead of waiting for EOF (ab's F6). A reply.
pub fn s11_http10_length_left_open() -> HostileServer {
    HostileServer::answering_once(
        "s11-http10-left-open",
        raw("HTTP/1.0 200 OK", "Content-Length: 5\r\n", b"hello"),
        Step::Hang,
    )
}

/// S12: answers (a HEAD request) with `200` and `Content-Length: 1000` but no body,
/// keeping the connection open. Exercises RFC 9112 §6.3 rule 1 for HEAD: the reply ends
/// at the empty line and the connection is reused. A reply.
pub fn s12_head_with_length() -> HostileServer {
    HostileServer::answering(
        "s12-head",
        raw("HTTP/1.1 200 OK", "Content-Length: 1000\r\n", b""),
    )
}

/// S14: on one kept-alive connection, a `204` carrying `Content-Length: 5`, a `304`
/// carrying `Transfer-Encoding: chunked`, then a normal `200`, over and over (curl
/// test334, test249). Exercises rule 1 for 204 and 304: no body is read, so the next
/// reply parses. Replies (2xx, 3xx, 2xx).
pub fn s14_bodyless_with_framing() -> HostileServer {
    HostileServer::every_connection(
        "s14-204-304",
        vec![
            Step::ReadRequest,
            Step::Write(raw("HTTP/1.1 204 No Content", "Content-Length: 5\r\n", b"")),
            Step::ReadRequest,
            Step::Write(raw(
                "HTTP/1.1 304 Not Modified",
                "Transfer-Encoding: chunked\r\n",
                b"",
            )),
            Step::ReadRequest,
            Step::Write(ok("ok")),
            Step::Repeat,
        ],
    )
}

/// S15: `interim` interim replies (`100 Continue`, then `103 Early Hints`) before a
/// `200`, each interim head written separately, on a kept-alive connection. Exercises the
/// interim-reply loop of the head parser: up to 16 interim replies are skipped and the
/// `200` is the reply; past 16 the request is `protocol/too-many-1xx`.
pub fn s15_interim_replies(interim: usize) -> HostileServer {
    let mut script = vec![Step::ReadRequest];
    for i in 0..interim {
        let head = if i == 0 {
            "HTTP/1.1 100 Continue\r\n\r\n"
        } else {
            "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"
        };
        script.push(Step::Write(head.as_bytes().to_vec()));
    }
    script.extend([Step::Write(ok("ok")), Step::Repeat]);
    HostileServer::every_connection("s15-interim", script)
}

/// S17: answers one request without a `Connection: close` field, then closes the
/// connection at once (FIN): the kept-alive connection volley holds is dead by the time
/// it is reused, or just after. Exercises stale keep-alive detection: a request on such a
/// connection is retried once on a new one (`requests.retried`), never an error.
pub fn s17_close_after_each_reply() -> HostileServer {
    HostileServer::answering_once("s17-close-idle", ok("ok"), Step::Close)
}

/// Issue 13: every reply is followed, `after` a pause, by `tail`: bytes beyond the reply's
/// framing (a `Content-Length` shorter than what is sent, a body after a HEAD reply), then
/// the next request is read on the same connection. Exercises the idle-connection rule:
/// the tail must never be read as the next request's reply.
pub fn late_tail(
    name: &'static str,
    reply: Vec<u8>,
    after: Duration,
    tail: &[u8],
) -> HostileServer {
    HostileServer::every_connection(
        name,
        vec![
            Step::ReadRequest,
            Step::Write(reply),
            Step::Sleep(after),
            Step::Write(tail.to_vec()),
            Step::Repeat,
        ],
    )
}

/// S18: an HTTP/1.1 reply with `Connection: close`, then FIN. Exercises the `close`
/// option: the connection is not reused, the next request opens a new one. A reply.
pub fn s18_connection_close() -> HostileServer {
    HostileServer::answering_once(
        "s18-connection-close",
        raw(
            "HTTP/1.1 200 OK",
            "Content-Length: 2\r\nConnection: close\r\n",
            b"ok",
        ),
        Step::Close,
    )
}

/// S19: HTTP/1.0 replies, with `Connection: keep-alive` or without, on a server that
/// keeps every connection open and would answer further requests on it. Exercises
/// HTTP/1.0 persistence: volley reuses the connection only with `keep-alive`. Replies.
pub fn s19_http10(keep_alive: bool) -> HostileServer {
    let fields = if keep_alive {
        "Connection: keep-alive\r\nContent-Length: 2\r\n"
    } else {
        "Content-Length: 2\r\n"
    };
    HostileServer::answering("s19-http10", raw("HTTP/1.0 200 OK", fields, b"ok"))
}

/// S20: answers `n` requests per connection with no `close` field, then reads the next
/// request and closes without answering it (nginx's `keepalive_requests`, deterministic:
/// the request is always on the wire before the FIN). Exercises the stale-connection
/// path: an idempotent request is retried once on a new connection (`requests.retried`),
/// a non-idempotent one is `stale-conn/failed`.
pub fn s20_close_after(n: usize) -> HostileServer {
    let mut script = Vec::new();
    for _ in 0..n {
        script.extend([Step::ReadRequest, Step::Write(ok("ok"))]);
    }
    script.extend([Step::ReadRequest, Step::Close]);
    HostileServer::every_connection("s20-keepalive-requests", script)
}

/// S21: a server that answers every request with `Connection: close`, so every request
/// connects; the test closes the listener mid-run ([`HostileServer::stop_listening`]) and
/// opens it again ([`HostileServer::listen_again`]). Exercises connect errors mid-run:
/// `connrefused` while it is gone, replies again after.
pub fn s21_listener_goes_away() -> HostileServer {
    HostileServer::answering_once(
        "s21-listener-gone",
        raw(
            "HTTP/1.1 200 OK",
            "Content-Length: 2\r\nConnection: close\r\n",
            b"ok",
        ),
        Step::Close,
    )
}

/// S25: a chunked reply with a chunk extension and a trailer, written one byte per
/// segment so the size lines, data and line ends are split at every possible point.
/// Exercises the chunked decoder's state machine across reads: the same body size
/// whatever the split. A reply; the body is [`S25_BODY_BYTES`] bytes.
pub fn s25_chunked_split_everywhere() -> HostileServer {
    HostileServer::every_connection(
        "s25-chunked-split",
        vec![
            Step::ReadRequest,
            Step::WriteSlowly {
                bytes: chunked(
                    "10;name=\"quoted;value\"\r\n0123456789abcdef\r\n\
                     3\r\nxyz\r\n\
                     0;last=1\r\nX-Trailer: one\r\nX-Other: two\r\n\r\n",
                ),
                every: Duration::from_millis(1),
            },
            Step::Repeat,
        ],
    )
}

/// Body payload bytes of one [`s25_chunked_split_everywhere`] reply.
pub const S25_BODY_BYTES: u64 = 16 + 3;

/// S26: a chunked reply whose first chunk size line is `size` (invalid: `Z`, `0x10`,
/// `+5`, `-1`, `0_2`, or overflowing: 17 hex digits), then data and a last chunk; the
/// connection is left open. Exercises chunk-size parsing and overflow guards:
/// `protocol/bad-framing`, decided from the size line alone.
pub fn s26_bad_chunk_size(size: &str) -> HostileServer {
    HostileServer::answering_once(
        "s26-bad-chunk-size",
        chunked(&format!("{size}\r\nhello\r\n0\r\n\r\n")),
        Step::Hang,
    )
}

/// S27 and other raw chunked bodies: a chunked head followed by `body` as given (bare LF
/// line ends, data without its CRLF, a missing last chunk), then `then` (`Close` for a FIN
/// before the end, `Hang` to leave the connection open, `Repeat` to keep answering).
/// Exercises the chunked decoder's line-end handling and end of file inside a body:
/// a reply, `protocol/bad-framing` or `protocol/incomplete`.
pub fn s27_raw_chunked(body: &str, then: Step) -> HostileServer {
    HostileServer::every_connection(
        "s27-chunked-syntax",
        vec![Step::ReadRequest, Step::Write(chunked(body)), then],
    )
}

/// S28: an endless chunked body (1 KiB chunks, as fast as the client reads). Exercises
/// the reply deadline on a body that never ends, with memory staying flat:
/// `client-timo/reply`.
pub fn s28_endless_chunks() -> HostileServer {
    let mut chunk = b"400\r\n".to_vec();
    chunk.extend_from_slice(&[b'c'; 1024]);
    chunk.extend_from_slice(b"\r\n");
    HostileServer::every_connection(
        "s28-endless-chunked",
        vec![
            Step::ReadRequest,
            Step::Write(CHUNKED_HEAD.as_bytes().to_vec()),
            Step::WriteForever {
                bytes: chunk,
                every: Duration::ZERO,
            },
        ],
    )
}

/// S29: one chunk extension that never ends (`1;` then `a` forever; 1 MB and more).
/// Exercises the 16 KiB cap on chunk extensions: `limit/chunk-ext-too-long`.
pub fn s29_endless_chunk_extension() -> HostileServer {
    HostileServer::every_connection(
        "s29-chunk-ext-endless",
        vec![
            Step::ReadRequest,
            Step::Write(chunked("1;ext=")),
            Step::WriteForever {
                bytes: vec![b'a'; 4096],
                every: Duration::ZERO,
            },
        ],
    )
}

/// S29, per message: `chunks` one-byte chunks, each with a 20-byte extension, then the
/// last chunk; the connection stays open. Exercises that the chunk-extension cap counts
/// over the whole message, not per chunk: past 16 KiB in total, `limit/chunk-ext-too-long`.
pub fn s29_many_chunk_extensions(chunks: usize) -> HostileServer {
    let body = "1;ext=aaaaaaaaaaaaaa\r\nx\r\n".repeat(chunks) + "0\r\n\r\n";
    HostileServer::answering("s29-chunk-ext-many", chunked(&body))
}

/// Body bytes (and extension bytes) per chunk of [`s29_many_chunk_extensions`].
pub const S29_EXT_BYTES_PER_CHUNK: usize = ";ext=aaaaaaaaaaaaaa".len();

/// S30: a last chunk followed by `count` trailer fields of 16 bytes each
/// (`X-T-0000000: v\r\n`), then the empty line; the connection stays open. Exercises the
/// trailer-section cap (64 KiB): past it, `limit/trailers-too-large`; below it, a reply.
pub fn s30_many_trailers(count: usize) -> HostileServer {
    let mut body = String::from("1\r\nx\r\n0\r\n");
    for i in 0..count {
        body.push_str(&format!("X-T-{i:07}: v\r\n"));
    }
    body.push_str("\r\n");
    HostileServer::answering("s30-many-trailers", chunked(&body))
}

/// Bytes of one trailer field line of [`s30_many_trailers`].
pub const S30_TRAILER_LINE_BYTES: usize = "X-T-0000000: v\r\n".len();

/// S30: one trailer field that never ends (1 MB and more). Exercises the trailer cap:
/// `limit/trailers-too-large`.
pub fn s30_endless_trailer() -> HostileServer {
    HostileServer::every_connection(
        "s30-endless-trailer",
        vec![
            Step::ReadRequest,
            Step::Write(chunked("1\r\nx\r\n0\r\nX-Big: ")),
            Step::WriteForever {
                bytes: vec![b't'; 4096],
                every: Duration::ZERO,
            },
        ],
    )
}

/// S32: `Transfer-Encoding: coding` (e.g. `gzip`, `yolo`) without `chunked`, the body
/// running to FIN. Exercises RFC 9112 §6.3 rule 4 for replies (hyper's
/// `client_response_transfer_encoding_not_chunked`): read until close, never reuse.
/// A reply.
pub fn s32_transfer_encoding_not_chunked(coding: &str, body: &str) -> HostileServer {
    HostileServer::answering_once(
        "s32-te-not-chunked",
        raw(
            "HTTP/1.1 200 OK",
            &format!("Transfer-Encoding: {coding}\r\n"),
            body.as_bytes(),
        ),
        Step::Close,
    )
}

/// S33: a reply head with these framing `fields` (`chunked` twice in one field or in
/// two, curl test1482/test1483) and a valid chunked body, on a connection left open.
/// Exercises the Transfer-Encoding checks of the head parser: `protocol/bad-framing`.
pub fn s33_chunked_twice(fields: &str) -> HostileServer {
    HostileServer::answering_once(
        "s33-chunked-twice",
        raw("HTTP/1.1 200 OK", fields, b"5\r\nhello\r\n0\r\n\r\n"),
        Step::Hang,
    )
}

/// S33, HTTP/1.0: `Transfer-Encoding: chunked` in an HTTP/1.0 reply with a valid chunked
/// body, on a server that would answer again on the same connection. Exercises RFC 9112
/// §6.1 (faulty framing, close after): HOSTILE.md says reject (`protocol/bad-framing`);
/// volley may instead decode it and close the connection. Never reused either way.
pub fn s33_chunked_in_http10() -> HostileServer {
    HostileServer::answering(
        "s33-te-in-http10",
        raw(
            "HTTP/1.0 200 OK",
            "Transfer-Encoding: chunked\r\n",
            b"5\r\nhello\r\n0\r\n\r\n",
        ),
    )
}

/// S35: `Content-Length: 100` with 40 body bytes, then FIN. Exercises end of file inside
/// a length-delimited body: the 40 bytes are counted, the request is
/// `protocol/incomplete`.
pub fn s35_short_body() -> HostileServer {
    HostileServer::answering_once(
        "s35-short-body",
        raw("HTTP/1.1 200 OK", "Content-Length: 100\r\n", &[b'q'; 40]),
        Step::Close,
    )
}

/// S36: a reply head with these `Content-Length` fields (`abc`, `-1`, `+8`, `0x10`,
/// 2^64, `1, 2`, two differing fields; or the valid `8, 8`) and an 8-byte body, on a
/// kept-alive connection. Exercises RFC 9112 §6.3 rule 5: `protocol/bad-framing` for the
/// invalid ones, a reply for `8, 8`.
pub fn s36_content_length(fields: &str) -> HostileServer {
    HostileServer::answering(
        "s36-content-length",
        raw("HTTP/1.1 200 OK", fields, b"12345678"),
    )
}

/// S37: a reply whose status line is `line` (`HTTP/1.1 20 OK`, a 100-digit code, a
/// negative code, an HTTP/0.9 body with no status line, `HTTP/2.0 200`; or the unknown
/// but valid `HTTP/1.1 599 Whatever`), with `Content-Length: 2`, on a kept-alive
/// connection. Exercises status-line parsing: `protocol/bad-status`, or a 5xx reply for
/// 599.
pub fn s37_status_line(line: &str) -> HostileServer {
    HostileServer::answering("s37-status-line", raw(line, "Content-Length: 2\r\n", b"ok"))
}

/// S37, HTTP/0.9: a bare body with no status line, then FIN. Exercises the status-line
/// parser on a reply that is not HTTP/1.x at all: `protocol/bad-status`.
pub fn s37_http09_reply() -> HostileServer {
    HostileServer::answering_once(
        "s37-http09",
        b"<html>an HTTP/0.9 reply</html>\n".to_vec(),
        Step::Close,
    )
}

/// S38: a `200` reply with one extra header line `line` (obs-fold, a space before the
/// colon, NUL or a bare CR in a value, no colon at all) before `Content-Length: 2`, on a
/// kept-alive connection. Exercises header-field syntax: obs-fold is a reply, the rest
/// `protocol/bad-header`.
pub fn s38_header_line(line: &str) -> HostileServer {
    HostileServer::answering(
        "s38-header-line",
        raw(
            "HTTP/1.1 200 OK",
            &format!("{line}\r\nContent-Length: 2\r\n"),
            b"ok",
        ),
    )
}

/// S40: a status line, then a header line that never ends. Exercises the 64 KiB head cap:
/// `limit/head-too-large`, memory flat.
pub fn s40_endless_header_line() -> HostileServer {
    HostileServer::every_connection(
        "s40-endless-header-line",
        vec![
            Step::ReadRequest,
            Step::Write(b"HTTP/1.1 200 OK\r\nX-Endless: ".to_vec()),
            Step::WriteForever {
                bytes: vec![b'h'; 4096],
                every: Duration::ZERO,
            },
        ],
    )
}

/// S41: a status line, then small header fields forever. Exercises the 100-field cap:
/// `limit/too-many-headers`.
pub fn s41_endless_headers() -> HostileServer {
    HostileServer::every_connection(
        "s41-endless-headers",
        vec![
            Step::ReadRequest,
            Step::Write(b"HTTP/1.1 200 OK\r\n".to_vec()),
            Step::WriteForever {
                bytes: b"X-Many: v\r\n".to_vec(),
                every: Duration::ZERO,
            },
        ],
    )
}

/// S41 at the boundary: a `200` reply with exactly `fields` header fields in all
/// (`Content-Length` included), on a kept-alive connection. Exercises the field-count
/// cap: 100 fields are a reply, 101 are `limit/too-many-headers`.
pub fn s41_header_count(fields: usize) -> HostileServer {
    let mut head = String::new();
    for i in 1..fields {
        head.push_str(&format!("X-F{i}: v\r\n"));
    }
    head.push_str("Content-Length: 2\r\n");
    HostileServer::answering("s41-header-count", raw("HTTP/1.1 200 OK", &head, b"ok"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wait_until;

    const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n";

    fn connect(server: &HostileServer) -> TcpStream {
        let s = TcpStream::connect(server.addr()).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s
    }

    fn read_to_end(s: &mut TcpStream) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        s.read_to_end(&mut out).map(|_| out)
    }

    #[test]
    fn answering_repeats_per_request_and_counts() {
        let server = HostileServer::answering("t", ok("hi"));
        let mut s = connect(&server);
        let want = ok("hi");
        for _ in 0..3 {
            s.write_all(GET).unwrap();
            let mut got = vec![0; want.len()];
            s.read_exact(&mut got).unwrap();
            assert_eq!(got, want);
        }
        assert_eq!((server.connections(), server.requests()), (1, 3));
        assert_eq!(server.received_heads()[0], String::from_utf8_lossy(GET));
    }

    #[test]
    fn request_bodies_and_pipelined_requests_are_read() {
        let server = HostileServer::answering("t", ok("k"));
        let mut s = connect(&server);
        let post = b"POST / HTTP/1.1\r\ncontent-length: 4\r\n\r\nbody";
        s.write_all(&[&post[..], GET].concat()).unwrap();
        let want = [ok("k"), ok("k")].concat();
        let mut got = vec![0; want.len()];
        s.read_exact(&mut got).unwrap();
        assert_eq!(got, want);
        assert_eq!(server.requests(), 2);
    }

    #[test]
    fn scripts_differ_by_connection_number() {
        let server = HostileServer::start("t", |n| {
            vec![
                Step::ReadRequest,
                Step::Write(format!("conn {n}").into_bytes()),
                Step::Close,
            ]
        });
        for n in 0..2 {
            let mut s = connect(&server);
            s.write_all(GET).unwrap();
            assert_eq!(read_to_end(&mut s).unwrap(), format!("conn {n}").as_bytes());
        }
    }

    #[test]
    fn reset_sends_rst() {
        let server = s08_reset_after_request();
        let mut s = connect(&server);
        s.write_all(GET).unwrap();
        let err = read_to_end(&mut s).expect_err("RST expected");
        assert_eq!(err.kind(), io::ErrorKind::ConnectionReset);
        assert_eq!(server.requests(), 1);
    }

    #[test]
    fn close_sends_fin_after_the_bytes() {
        let server = s10_body_until_close(1, "all of it");
        let mut s = connect(&server);
        s.write_all(GET).unwrap();
        assert_eq!(
            read_to_end(&mut s).unwrap(),
            b"HTTP/1.1 200 OK\r\n\r\nall of it"
        );
    }

    #[test]
    fn write_slowly_and_forever() {
        let server = HostileServer::every_connection(
            "t",
            vec![
                Step::ReadRequest,
                Step::WriteSlowly {
                    bytes: b"abc".to_vec(),
                    every: Duration::from_millis(5),
                },
                Step::WriteForever {
                    bytes: b"z".to_vec(),
                    every: Duration::from_millis(1),
                },
            ],
        );
        let mut s = connect(&server);
        s.write_all(GET).unwrap();
        let mut got = vec![0; 10];
        s.read_exact(&mut got).unwrap();
        assert_eq!(got, b"abczzzzzzz");
    }

    #[test]
    fn hang_keeps_the_socket_open_until_shutdown() {
        let mut server = s04_never_replies();
        let mut s = connect(&server);
        s.write_all(GET).unwrap();
        assert!(wait_until(Duration::from_secs(5), || server.requests() == 1));
        s.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let err = s.read(&mut [0; 8]).expect_err("nothing may arrive");
        assert!(matches!(
            err.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
        ));
        let started = Instant::now();
        server.shutdown();
        assert!(started.elapsed() < Duration::from_millis(1500));
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        assert_eq!(s.read(&mut [0; 8]).unwrap_or(0), 0, "still open");
        assert!(
            TcpStream::connect(server.addr()).is_err(),
            "still listening"
        );
    }

    #[test]
    fn stop_listening_refuses_and_listen_again_serves() {
        let mut server = s18_connection_close();
        server.stop_listening();
        let err = TcpStream::connect(server.addr()).expect_err("refused");
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
        server.listen_again();
        let mut s = connect(&server);
        s.write_all(GET).unwrap();
        assert!(read_to_end(&mut s).unwrap().starts_with(b"HTTP/1.1 200 OK"));
        assert_eq!(server.connections(), 1);
    }

    #[test]
    fn repeat_without_a_read_closes() {
        let server =
            HostileServer::every_connection("t", vec![Step::Write(b"x".to_vec()), Step::Repeat]);
        let mut s = connect(&server);
        assert_eq!(read_to_end(&mut s).unwrap(), b"x");
    }

    #[test]
    fn backlog_never_accepted_leaves_requests_unanswered() {
        let listener = BacklogNeverAccepted::bind();
        let mut s = TcpStream::connect(listener.addr()).expect("first connect completes");
        s.write_all(GET).unwrap();
        s.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        assert!(s.read(&mut [0; 8]).is_err(), "nobody answers");
        assert!(listener.url("x").ends_with("/x"));
    }
}
