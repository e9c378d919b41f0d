//! Connecting (the TLS handshake included) and sending the request.

use std::io::{self, Write};

use volley_scoreboard::{Counter, ErrorClass};

use super::{Exchange, Io, NAGLE_SAFE_REQUEST, Outcome, Request, State, Step};
use crate::conn::{Conn, Transport};
use crate::outcome::Stage;
use crate::stats::record_ns;

impl Exchange {
    /// The first writable edge after a non-blocking connect means the handshake ended,
    /// one way or the other. Rather than asking (getsockopt SO_ERROR, getpeername: two
    /// syscalls per connection), the request is written at once: a failed connect makes
    /// that write return its error (ECONNREFUSED, ETIMEDOUT, …), which is classified like
    /// any other. The connect counts as done with the first successful write.
    pub(super) fn on_connecting(&mut self, io: &mut Io<'_, '_>) -> Step {
        if matches!(io.conn.io, Transport::Tls(_)) {
            return self.on_tls_handshake(io);
        }
        if !io.conn.writable {
            return Step::Done(Outcome::Wait);
        }
        // The request goes out now: later in the turn than its writable edge, maybe.
        self.times.sent = io.fresh();
        self.state = State::Sending;
        self.rearm = true;
        Step::Again
    }

    /// TLS: the handshake runs while connecting, so its time counts against the connect
    /// deadline. The first ClientHello write that succeeds ends the TCP connect (a
    /// refused connect fails that write); the end of the handshake makes the connection
    /// established, and the request is written next.
    pub(super) fn on_tls_handshake(&mut self, io: &mut Io<'_, '_>) -> Step {
        let Conn {
            io: Transport::Tls(tls),
            readable,
            writable,
            up_by_ns,
            opened_ns,
            ..
        } = &mut *io.conn
        else {
            return Step::Done(Outcome::Wait);
        };
        let was_up = tls.tcp_up;
        let result = tls.handshake(readable, writable);
        let (up, resumed) = (tls.tcp_up, tls.resumed());
        if !*writable && !up {
            // The ClientHello had to wait: the connect is dated by its writable edge.
            *up_by_ns = 0;
        }
        if up && !was_up {
            let at = if *up_by_ns != 0 { *up_by_ns } else { io.now };
            self.times.connected = at;
            record_ns(&mut io.stats.connect, at.saturating_sub(*opened_ns));
        }
        match result {
            Ok(false) => Step::Done(Outcome::Wait),
            Ok(true) => {
                // The server's last flight was processed (the certificate checked): the
                // handshake ends, and the request goes out, now, not at the turn's start.
                let done = io.fresh();
                io.conn.established = true;
                if io.req.bytes.len() > NAGLE_SAFE_REQUEST {
                    io.conn.io.set_nodelay();
                }
                io.stats.add(Counter::ConnsOpened, 1);
                io.stats
                    .tls_handshake
                    .record_ns(done.saturating_sub(self.times.connected));
                if resumed {
                    io.stats.tls_resumed += 1;
                } else {
                    io.stats.tls_full += 1;
                }
                self.times.sent = done;
                self.state = State::Sending;
                self.rearm = true;
                Step::Again
            }
            Err(e) => {
                let f = self.io_failure(io.stats, &e, Stage::Send);
                Step::Done(Outcome::Failed(f, io.now))
            }
        }
    }

    /// Counts a connection as established: its first bytes went out. It was up by the
    /// end of the `connect` call when that first write was the first try, else by the
    /// writable edge that let it through.
    pub(super) fn established(&mut self, io: &mut Io<'_, '_>) {
        let conn = &mut *io.conn;
        conn.established = true;
        if io.req.bytes.len() > NAGLE_SAFE_REQUEST {
            conn.io.set_nodelay();
        }
        let at = if conn.up_by_ns != 0 {
            conn.up_by_ns
        } else {
            io.now
        };
        io.stats.add(Counter::ConnsOpened, 1);
        self.times.connected = at;
        // The request went out right after.
        self.times.sent = self.times.sent.max(at);
        record_ns(&mut io.stats.connect, at.saturating_sub(conn.opened_ns));
    }

    /// The end of what may be written now: all of it, or only the head while the body of
    /// an `Expect: 100-continue` request is held back.
    pub(super) fn send_end(&self, req: &Request<'_>) -> usize {
        if self.continue_pending {
            req.head_len
        } else {
            req.bytes.len()
        }
    }

    /// Writes the request. Bytes arriving meanwhile are read first: the server may
    /// answer before the request is out (a 413 during an upload).
    pub(super) fn on_sending(&mut self, io: &mut Io<'_, '_>) -> Step {
        if io.conn.readable && io.conn.established {
            return self.start_reading(io.now);
        }
        if !io.conn.writable {
            return Step::Done(Outcome::Wait);
        }
        let fresh = !io.conn.established;
        let (total, end) = (io.req.bytes.len(), self.send_end(&io.req));
        match io.conn.io.write(&io.req.bytes[self.sent..end]) {
            Ok(n) => {
                if fresh {
                    self.established(io);
                }
                // Not before the request's first write was dated (a new connection's, late
                // in a long turn): the watchdogs count from here.
                let at = self.times.sent.max(io.now);
                io.stats.add(Counter::BytesSent, n as u64);
                self.sent += n;
                if n > 0 {
                    self.times.last_write = at;
                    // An inactivity watchdog moves with every write that went out.
                    self.rearm |= io.idle_deadline;
                }
                if self.sent == total {
                    io.stats.figures.requests_sent += 1;
                    io.stats.figures.request_bytes_sent += total as u64;
                }
                if self.sent == total || (self.continue_pending && self.sent >= io.req.head_len) {
                    // All out, or the head of an `Expect: 100-continue` request: its
                    // body waits (RFC 9110 §10.1.1).
                    self.start_reading(at)
                } else {
                    Step::Again
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                io.conn.writable = false;
                if fresh {
                    // Nothing went out on a new connection: its connect is still under
                    // way (a write tried before the writable edge); the edge dates it.
                    io.conn.up_by_ns = 0;
                    self.state = State::Connecting;
                    self.watch = true;
                    self.rearm = true;
                }
                Step::Done(Outcome::Wait)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Step::Again,
            Err(e) => {
                let f = self.io_failure(io.stats, &e, Stage::Send);
                if self.sent > 0 && f.class == ErrorClass::ConnReset {
                    // The server stopped reading mid-request; it may have answered
                    // first (and a reply is a reply): read before counting a failure.
                    self.send_error = Some(f);
                    io.conn.readable = true;
                    return self.start_reading(io.now);
                }
                Step::Done(Outcome::Failed(f, io.now))
            }
        }
    }

    /// From sending to reading the reply head; the reply deadlines start when the
    /// request (or its head, when the rest is held back) is out.
    pub(super) fn start_reading(&mut self, now: u64) -> Step {
        if self.times.written == 0 {
            self.times.written = now;
        }
        if self.times.first_byte != 0 {
            // An interim reply came before the upload finished: the idle gap counts from
            // here, not from that reply.
            self.times.last_read = now;
        }
        self.state = State::AwaitHead { interim: 0 };
        self.rearm = true;
        Step::Again
    }

    /// True while part of the request is still to be written and nothing stops it.
    pub(super) fn request_unsent(&self, req: &Request<'_>) -> bool {
        self.sent < self.send_end(req) && self.send_error.is_none()
    }
}
