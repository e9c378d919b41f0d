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

mod backlog;
mod bytes;
mod conn;
mod scenarios;
mod step;

use std::fmt;
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use socket2::{Domain, SockAddr, Socket, Type};

pub use backlog::BacklogNeverAccepted;
pub use bytes::{CHUNKED_HEAD, chunked, ok, raw};
pub use scenarios::*;
pub use step::{Script, Step};

use conn::Conn;

/// Granularity of every blocking socket operation and sleep: how quickly a connection
/// thread notices that the server is stopping.
pub const SLICE: Duration = Duration::from_millis(50);

/// A read (in [`Step::ReadRequest`]) or write that makes no progress for this long ends
/// the connection.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// How long dropping the server waits for its threads.
const STOP_WAIT: Duration = Duration::from_secs(1);

/// Listen backlog of a scripted server: bursts of reconnects (S01) must not overflow it.
const BACKLOG: i32 = 1024;

/// How many request heads [`HostileServer::received_heads`] keeps.
pub const MAX_RECORDED_HEADS: usize = 100;

/// Stack size of connection threads: they hold small buffers only.
const CONN_STACK: usize = 256 * 1024;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wait_until;
    use std::io::{self, Read, Write};
    use std::net::TcpStream;

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
        let addr = server.addr();
        crate::assert_silent_until_shutdown(&mut s, addr, || server.shutdown());
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
