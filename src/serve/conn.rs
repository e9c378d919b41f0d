//! One client connection of the built-in target: read requests, answer them in order,
//! close cleanly.
//!
//! # Lifecycle
//!
//! A connection is [`Phase::Open`] while it reads requests and queues their replies. A
//! reply that must wait (`/delay/MS`) makes it [`Phase::Waiting`]: nothing behind that
//! request is parsed until the reply is queued, so pipelined replies keep their order.
//! A reply that ends the connection (`Connection: close`, HTTP/1.0, a refused request)
//! makes it [`Phase::Closing`]: once that reply is written the socket is closed, at once
//! if nothing unread may be left in it, else after [`Phase::Lingering`] (write side shut,
//! input read and dropped until the client closes or [`LINGER`] is over), because closing
//! a socket with unread input sends RST, which can destroy the reply on its way to the
//! client (RFC 9112 §9.6).
//!
//! # Readiness
//!
//! Sockets are registered edge-triggered, so the connection remembers what the kernel
//! said (`readable`, `writable`) and acts until the socket says `WouldBlock` or a short
//! read or write shows the same: a short read empties a TCP socket (more data is a new
//! edge), unless the peer's FIN was announced, which is read to the end.

use std::io::{self, Read};
use std::net::{Shutdown, SocketAddr};
use std::time::{Duration, Instant};

use mio::event::Event;
use mio::net::TcpStream;

use super::reply::{self, Output, Reply};
use super::request::{self, Chunked, Framing, Head, Refusal};
use super::routes;

/// Queued output above which no further request is parsed until the client reads.
const HIGH_WATER: usize = 256 * 1024;
/// How long a closing connection waits for the client to close its side.
pub(crate) const LINGER: Duration = Duration::from_secs(2);

/// What a connection needs from its event loop for one step.
#[derive(Debug)]
pub(crate) struct Env<'a> {
    /// The loop turn's clock.
    pub now: Instant,
    /// This second's `Date` value.
    pub date: &'a [u8],
    /// The listening address (absolute redirects to clients without `Host`).
    pub local: SocketAddr,
    /// Wake-ups the connection asks for (the loop keeps them with its token).
    pub wake_at: &'a mut Vec<Instant>,
}

/// What the loop does with the connection after a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// Keep it registered.
    Keep,
    /// Drop (close) it.
    Close,
}

/// See the module doc.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Open,
    Waiting(Instant),
    Closing,
    Lingering(Instant),
}

/// Where the next input bytes belong.
#[derive(Debug)]
enum Reading {
    Head,
    Length(u64),
    Chunked(Chunked),
}

/// One accepted connection.
#[derive(Debug)]
pub(crate) struct Conn {
    stream: TcpStream,
    /// Input read but not used yet: a partial head, or requests behind a waiting reply.
    pending: Vec<u8>,
    /// `pending` can be worked on now (it stopped for a reason other than "need more").
    pending_ready: bool,
    out: Output,
    reading: Reading,
    /// The reply to the request being read (its body) or waiting, and its framing.
    current: Option<(Reply, reply::Framing)>,
    phase: Phase,
    readable: bool,
    writable: bool,
    /// The peer's FIN was announced by an event: read until it shows.
    hangup: bool,
    /// A read returned 0: the client sends nothing more.
    peer_closed: bool,
}

impl Conn {
    /// A freshly accepted connection. It is taken as readable and writable: on loopback the
    /// request has usually arrived by the time it is accepted, so reading at once saves a
    /// wait for its edge.
    pub(crate) fn new(stream: TcpStream) -> Conn {
        Conn {
            stream,
            pending: Vec::new(),
            pending_ready: false,
            out: Output::default(),
            reading: Reading::Head,
            current: None,
            phase: Phase::Open,
            readable: true,
            writable: true,
            hangup: false,
            peer_closed: false,
        }
    }

    /// The socket, to register it.
    pub(crate) fn stream(&mut self) -> &mut TcpStream {
        &mut self.stream
    }

    /// Takes what an event says about the socket.
    pub(crate) fn on_event(&mut self, event: &Event) {
        if event.is_readable() || event.is_read_closed() || event.is_error() {
            self.readable = true;
        }
        if event.is_read_closed() {
            self.hangup = true;
        }
        if event.is_writable() || event.is_write_closed() || event.is_error() {
            self.writable = true;
        }
    }

    /// A wake-up it asked for: a delayed reply is due, or the linger time is over.
    pub(crate) fn on_timer(&mut self, scratch: &mut [u8], env: &mut Env<'_>) -> Step {
        match self.phase {
            Phase::Waiting(until) if env.now >= until => {
                self.phase = Phase::Open;
                self.answer(env);
                self.pending_ready = !self.pending.is_empty();
                self.drive(scratch, env)
            }
            Phase::Lingering(until) if env.now >= until => Step::Close,
            _ => Step::Keep,
        }
    }

    /// Does all the socket allows now: write, read, parse, answer.
    pub(crate) fn drive(&mut self, scratch: &mut [u8], env: &mut Env<'_>) -> Step {
        self.pump(scratch, env).unwrap_or(Step::Close)
    }

    fn pump(&mut self, scratch: &mut [u8], env: &mut Env<'_>) -> io::Result<Step> {
        loop {
            if self.writable && !self.out.is_empty() {
                self.writable = self.out.flush(&mut self.stream)?;
            }
            match self.phase {
                Phase::Open => {}
                Phase::Waiting(_) => return Ok(Step::Keep),
                Phase::Closing if self.out.is_empty() => return self.close(scratch, env),
                Phase::Closing => return Ok(Step::Keep),
                Phase::Lingering(_) => return self.linger(scratch),
            }
            if self.out.len() >= HIGH_WATER {
                return Ok(Step::Keep);
            }
            if self.pending_ready {
                self.pending_ready = false;
                let input = std::mem::take(&mut self.pending);
                self.consume(input, env);
            } else if self.readable && !self.peer_closed {
                self.read(scratch, env)?;
            } else if self.peer_closed && self.out.is_empty() {
                return Ok(Step::Close);
            } else {
                return Ok(Step::Keep);
            }
        }
    }

    fn read(&mut self, scratch: &mut [u8], env: &mut Env<'_>) -> io::Result<()> {
        match self.stream.read(scratch) {
            Ok(0) => {
                self.peer_closed = true;
                self.readable = false;
            }
            Ok(n) => {
                if n < scratch.len() && !self.hangup {
                    self.readable = false;
                }
                if self.pending.is_empty() {
                    let used = self.process(&scratch[..n], env);
                    self.keep_input(&scratch[used..n]);
                } else {
                    let mut input = std::mem::take(&mut self.pending);
                    input.extend_from_slice(&scratch[..n]);
                    self.consume(input, env);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.readable = false,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
        Ok(())
    }

    /// Processes `input` (taken from `pending`) and keeps what is left of it, reusing its
    /// allocation.
    fn consume(&mut self, mut input: Vec<u8>, env: &mut Env<'_>) {
        let used = self.process(&input, env);
        input.drain(..used);
        self.pending = input;
    }

    /// Keeps the unused part of a read for later (nothing, unless a head is partial or
    /// requests wait behind a reply).
    fn keep_input(&mut self, rest: &[u8]) {
        if !rest.is_empty() {
            self.pending.extend_from_slice(rest);
        }
    }

    /// Parses and answers what `input` holds; returns the bytes used. It stops at a partial
    /// head or body, a reply that waits or closes, or a full output queue.
    fn process(&mut self, input: &[u8], env: &mut Env<'_>) -> usize {
        let mut at = 0;
        while self.phase == Phase::Open {
            if self.out.len() >= HIGH_WATER {
                break;
            }
            let rest = &input[at..];
            match &mut self.reading {
                Reading::Head => match request::parse(rest) {
                    Ok(Some((head, len))) => {
                        at += len;
                        self.begin(&head, env);
                        continue;
                    }
                    Ok(None) => return at,
                    Err(refusal) => {
                        self.refuse(refusal, env);
                        return input.len();
                    }
                },
                Reading::Length(left) => {
                    let take = usize::try_from(*left).map_or(rest.len(), |l| l.min(rest.len()));
                    at += take;
                    *left -= take as u64;
                    if *left > 0 {
                        return at;
                    }
                }
                Reading::Chunked(chunked) => match chunked.feed(rest) {
                    Ok((used, true)) => at += used,
                    Ok((used, false)) => return at + used,
                    Err(refusal) => {
                        self.refuse(refusal, env);
                        return input.len();
                    }
                },
            }
            self.end_request(env);
        }
        // Stopped by a waiting reply or a full queue: the rest is for later.
        self.pending_ready = self.phase != Phase::Closing && at < input.len();
        at
    }

    /// A request head is in: its reply is chosen now, and sent once its body is read.
    fn begin(&mut self, head: &Head<'_>, env: &mut Env<'_>) {
        let reply = routes::route(head, env.local);
        let how = reply::Framing {
            head_only: head.head_only,
            http10: head.http10,
            close: !head.keep_alive,
        };
        if head.expect_continue {
            self.out
                .bytes()
                .extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
        }
        self.current = Some((reply, how));
        self.reading = match head.body {
            Framing::Empty => {
                self.end_request(env);
                return;
            }
            Framing::Length(n) => Reading::Length(n),
            Framing::Chunked => Reading::Chunked(Chunked::new()),
        };
    }

    /// The request (with its body) is in: answer, or wait first.
    fn end_request(&mut self, env: &mut Env<'_>) {
        self.reading = Reading::Head;
        let delay = match &self.current {
            Some((reply, _)) => reply.delay,
            None => return,
        };
        if delay.is_zero() {
            self.answer(env);
        } else {
            let until = env.now + delay;
            env.wake_at.push(until);
            self.phase = Phase::Waiting(until);
        }
    }

    /// Queues the current reply.
    fn answer(&mut self, env: &mut Env<'_>) {
        if let Some((reply, how)) = self.current.take() {
            reply.write(&mut self.out, how, env.date);
            if how.close {
                self.phase = Phase::Closing;
            }
        }
    }

    /// Answers a request that cannot be read on, then closes.
    fn refuse(&mut self, refusal: Refusal, env: &mut Env<'_>) {
        let status = refusal.status();
        let text = format!("{status} {}: {}\n", reply::reason(status), refusal.why());
        let how = reply::Framing {
            head_only: false,
            http10: false,
            close: true,
        };
        self.current = Some((Reply::text(status, text), how));
        self.reading = Reading::Head;
        self.answer(env);
    }

    /// The last reply is out: close now if nothing unread can be in the socket, else shut
    /// the write side and linger.
    fn close(&mut self, scratch: &mut [u8], env: &mut Env<'_>) -> io::Result<Step> {
        if self.peer_closed || (!self.readable && !self.hangup) {
            return Ok(Step::Close);
        }
        self.stream.shutdown(Shutdown::Write)?;
        let until = env.now + LINGER;
        env.wake_at.push(until);
        self.phase = Phase::Lingering(until);
        self.linger(scratch)
    }

    /// Reads and drops input until the client closes.
    fn linger(&mut self, scratch: &mut [u8]) -> io::Result<Step> {
        loop {
            match self.stream.read(scratch) {
                Ok(0) => return Ok(Step::Close),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Step::Keep),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::net::{TcpListener, TcpStream as StdStream};

    const WIRE: &[u8] = b"GET /small HTTP/1.1\r\nHost: x\r\n\r\n\
        POST /status/201 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nT: 1\r\n\r\n\
        PUT /bytes/3 HTTP/1.1\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\nbody\
        HEAD /1k HTTP/1.1\r\n\r\n\
        GET /nope HTTP/1.1\r\nConnection: close\r\n\r\n";

    /// A connection on loopback and its client end.
    fn pair() -> (Conn, StdStream) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = StdStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        server.set_nonblocking(true).unwrap();
        (Conn::new(TcpStream::from_std(server)), client)
    }

    /// Sends [`WIRE`] in pieces of `step` bytes, each read by its own step of the
    /// connection; returns what the client received and how the last step ended.
    fn exchange(step: usize) -> (String, Step) {
        let (mut conn, mut client) = pair();
        let mut scratch = vec![0; 64 * 1024];
        let mut wake_at = Vec::new();
        let mut last = Step::Keep;
        for piece in WIRE.chunks(step) {
            client.write_all(piece).unwrap();
            // Wait until the piece is in the server's socket (loopback delivers it at once,
            // or nearly), so that one read takes exactly it.
            let until = Instant::now() + Duration::from_secs(5);
            let mut peek = vec![0; piece.len()];
            while conn.stream.peek(&mut peek).unwrap_or(0) < piece.len() {
                assert!(Instant::now() < until, "the piece never arrived");
            }
            conn.readable = true;
            let mut env = Env {
                now: Instant::now(),
                date: b"Thu, 01 Jan 1970 00:00:00 GMT",
                local: "127.0.0.1:9".parse().unwrap(),
                wake_at: &mut wake_at,
            };
            last = conn.drive(&mut scratch, &mut env);
        }
        assert!(wake_at.is_empty(), "nothing waits");
        drop(conn);
        let mut got = Vec::new();
        client.read_to_end(&mut got).unwrap();
        (String::from_utf8(got).unwrap(), last)
    }

    #[test]
    fn any_split_of_the_input_gives_the_same_replies() {
        let (whole, last) = exchange(WIRE.len());
        assert_eq!(last, Step::Close, "Connection: close ends it");
        let statuses: Vec<&str> = whole
            .match_indices("HTTP/1.1 ")
            .map(|(i, _)| &whole[i + 9..i + 12])
            .collect();
        assert_eq!(statuses, ["200", "201", "100", "200", "200", "404"]);
        assert!(
            whole.contains("Content-Length: 3\r\n\r\nccc"),
            "/bytes/3: {whole}"
        );
        for step in [1, 2, 3, 5, 17, 64] {
            assert_eq!(
                exchange(step),
                (whole.clone(), Step::Close),
                "pieces of {step}"
            );
        }
    }
}
