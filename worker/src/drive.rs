//! Driving a slot through one request: connect or reuse, send, read the head, read the
//! body, then count exactly one outcome (a reply, an error, or an abort at stop).

use std::io::{self, Read, Write};

use mio::net::TcpStream;
use volley_scoreboard::{Counter, ErrorClass};

use crate::conn::Conn;
use crate::event_loop::{Worker, duration_ns};
use crate::http::{BodyDecoder, MAX_HEAD_BYTES, MAX_INTERIM, parse_head};
use crate::outcome::{classify_body, classify_head, classify_io};
use crate::slot::{LARGE_BUFFER, Phase};
use crate::stats::record_ns;

/// Requests up to this size go out in one segment, and a request/reply exchange leaves no
/// unacknowledged data behind when the next request is written, so Nagle's algorithm
/// never delays them and `TCP_NODELAY` (one syscall per connection) is left off. Larger
/// requests may span segments whose tail Nagle would hold back until the server's
/// (possibly delayed) ACK: those connections get `TCP_NODELAY`.
const NAGLE_SAFE_REQUEST: usize = 1024;

/// What reading a slot's input led to.
enum Step {
    /// Wait for the next readiness edge.
    Wait,
    /// The phase changed; look again.
    Again,
}

impl Worker<'_> {
    /// Starts the next request of slot `s`, or finishes the slot when the budget is spent
    /// or the run is stopping.
    pub(crate) fn start_request(&mut self, s: u32, now: u64) {
        if !matches!(self.slots[s as usize].phase, Phase::Ready) {
            return;
        }
        if self.stopping || self.budget == Some(0) {
            self.close_conn(s, now);
            self.finish_slot(s);
            return;
        }
        if let Some(b) = self.budget.as_mut() {
            *b -= 1;
        }
        self.stats.add(Counter::RequestsStarted, 1);
        let deadline = self
            .spec
            .timeout
            .map(|t| now.saturating_add(duration_ns(t)));
        let slot = &mut self.slots[s as usize];
        slot.times = Default::default();
        slot.times.start = now;
        slot.filled = 0;
        slot.reply_bytes = 0;
        slot.reused = slot.conn.is_some();
        if slot.reused {
            slot.times.sent = now;
            slot.phase = Phase::Sending { written: 0 };
            self.stats.add(Counter::ConnsReused, 1);
        } else if let Err(class) = self.connect(s, now) {
            self.fail(s, class, now);
            return;
        }
        if let Some(d) = deadline {
            self.arm(s, d);
        }
        self.drive(s, now);
    }

    fn connect(&mut self, s: u32, now: u64) -> Result<(), ErrorClass> {
        let stream = TcpStream::connect(self.spec.target.addr).map_err(|e| classify_io(&e))?;
        let h = self.conns.insert(Conn::new(stream, s, now));
        self.stats.add(Counter::ConnsOpen, 1);
        self.slots[s as usize].conn = Some(h);
        self.slots[s as usize].phase = Phase::Connecting;
        self.register(h).map_err(|e| classify_io(&e))
    }

    /// Advances slot `s` as far as its connection's readiness allows.
    pub(crate) fn drive(&mut self, s: u32, now: u64) {
        loop {
            let step = match self.slots[s as usize].phase {
                Phase::Connecting => self.on_connecting(s, now),
                Phase::Sending { .. } => self.on_sending(s, now),
                Phase::AwaitHead { .. } | Phase::Body { .. } => self.on_receiving(s, now),
                Phase::Waiting | Phase::Ready | Phase::Done => Step::Wait,
            };
            if let Step::Wait = step {
                return;
            }
        }
    }

    fn conn_mut(&mut self, s: u32) -> Option<&mut Conn> {
        let h = self.slots[s as usize].conn?;
        self.conns.get_mut(h)
    }

    /// The first writable edge after a non-blocking connect means the handshake ended,
    /// one way or the other. Rather than asking (getsockopt SO_ERROR, getpeername: two
    /// syscalls per connection), the request is written at once: a failed connect makes
    /// that write return its error (ECONNREFUSED, ETIMEDOUT, …), which is classified like
    /// any other. The connect counts as done with the first successful write.
    fn on_connecting(&mut self, s: u32, now: u64) -> Step {
        let Some(conn) = self.conn_mut(s) else {
            return Step::Wait;
        };
        if !conn.writable {
            return Step::Wait;
        }
        let slot = &mut self.slots[s as usize];
        slot.times.sent = now;
        slot.phase = Phase::Sending { written: 0 };
        Step::Again
    }

    /// Counts a connection as established: its first bytes went out.
    fn established(&mut self, s: u32, now: u64) {
        let large = self.request.bytes.len() > NAGLE_SAFE_REQUEST;
        let Some(conn) = self.conn_mut(s) else { return };
        conn.established = true;
        if large {
            let _ = conn.stream.set_nodelay(true);
        }
        self.stats.add(Counter::ConnsOpened, 1);
        let start = self.slots[s as usize].times.start;
        record_ns(&mut self.stats.connect, now.saturating_sub(start));
    }

    fn on_sending(&mut self, s: u32, now: u64) -> Step {
        let Phase::Sending { written } = self.slots[s as usize].phase else {
            return Step::Wait;
        };
        let h = self.slots[s as usize].conn;
        let Some(conn) = h.and_then(|h| self.conns.get_mut(h)) else {
            return Step::Wait;
        };
        if !conn.writable {
            return Step::Wait;
        }
        let fresh = !conn.established;
        match conn.stream.write(&self.request.bytes[written..]) {
            Ok(n) => {
                if fresh {
                    self.established(s, now);
                }
                self.stats.add(Counter::BytesSent, n as u64);
                let written = written + n;
                self.slots[s as usize].phase = if written == self.request.bytes.len() {
                    Phase::AwaitHead { interim: 0 }
                } else {
                    Phase::Sending { written }
                };
                Step::Again
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                conn.writable = false;
                Step::Wait
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Step::Again,
            Err(e) => {
                let class = self.io_class(s, &e);
                self.fail(s, class, now);
                Step::Wait
            }
        }
    }

    fn on_receiving(&mut self, s: u32, now: u64) -> Step {
        let h = self.slots[s as usize].conn;
        let Some(conn) = h.and_then(|h| self.conns.get_mut(h)) else {
            return Step::Wait;
        };
        if !conn.readable {
            return Step::Wait;
        }
        let slot = &mut self.slots[s as usize];
        // A body is streamed: each read overwrites the buffer. A head accumulates.
        let at = if matches!(slot.phase, Phase::Body { .. }) {
            0
        } else {
            slot.filled
        };
        let space = slot.buf.len() - at;
        let mut grow = false;
        match conn.stream.read(&mut slot.buf[at..]) {
            Ok(0) => {
                self.on_eof(s, now);
                Step::Wait
            }
            Ok(n) => {
                if n < space && !conn.read_closed {
                    // Short read: the receive queue is drained; the next byte brings an edge.
                    conn.readable = false;
                }
                self.stats.add(Counter::BytesReceived, n as u64);
                slot.reply_bytes += n;
                if n == space
                    && slot.buf.len() < LARGE_BUFFER
                    && matches!(slot.phase, Phase::Body { .. })
                {
                    // A body that fills the buffer: read it in larger pieces from now on.
                    // (Its bytes at the front are fed below before the next read.)
                    grow = true;
                }
                if slot.times.first_byte == 0 {
                    slot.times.first_byte = now;
                    record_ns(
                        &mut self.stats.first_byte,
                        now.saturating_sub(slot.times.sent),
                    );
                }
                if matches!(slot.phase, Phase::Body { .. }) {
                    let step = self.on_body_bytes(s, 0, n, now);
                    if grow {
                        self.slots[s as usize].buf.resize(LARGE_BUFFER, 0);
                    }
                    step
                } else {
                    slot.filled += n;
                    self.on_head_bytes(s, now)
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                conn.readable = false;
                Step::Wait
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Step::Again,
            Err(e) => {
                let class = self.io_class(s, &e);
                self.fail(s, class, now);
                Step::Wait
            }
        }
    }

    /// Parses heads in `buf[..filled]`: interim 1xx heads are skipped, the final head
    /// starts the body with whatever bytes follow it.
    fn on_head_bytes(&mut self, s: u32, now: u64) -> Step {
        loop {
            let slot = &mut self.slots[s as usize];
            let Phase::AwaitHead { interim } = slot.phase else {
                return Step::Again;
            };
            let head = match parse_head(&slot.buf[..slot.filled], self.request.is_head) {
                Ok(Some(head)) => head,
                Ok(None) => {
                    if slot.filled == slot.buf.len() {
                        if slot.buf.len() >= MAX_HEAD_BYTES {
                            self.fail(s, ErrorClass::Limit, now);
                            return Step::Wait;
                        }
                        // A rare, big head: grow once, up to the cap.
                        slot.buf.resize(MAX_HEAD_BYTES.max(LARGE_BUFFER), 0);
                    }
                    return Step::Again;
                }
                Err(e) => {
                    self.fail(s, classify_head(&e), now);
                    return Step::Wait;
                }
            };
            self.stats.add(Counter::HeaderBytes, head.head_len as u64);
            self.stats
                .add(Counter::HeaderCount, head.header_count as u64);
            let slot = &mut self.slots[s as usize];
            if head.is_interim() {
                if interim as usize >= MAX_INTERIM {
                    self.fail(s, ErrorClass::Protocol, now);
                    return Step::Wait;
                }
                slot.buf.copy_within(head.head_len..slot.filled, 0);
                slot.filled -= head.head_len;
                slot.phase = Phase::AwaitHead {
                    interim: interim + 1,
                };
                continue;
            }
            let (from, to) = (head.head_len, slot.filled);
            slot.filled = 0;
            slot.phase = Phase::Body {
                head,
                decoder: BodyDecoder::new(head.framing),
            };
            return self.on_body_bytes(s, from, to, now);
        }
    }

    /// Feeds `buf[from..to]` to the body decoder.
    fn on_body_bytes(&mut self, s: u32, from: usize, to: usize, now: u64) -> Step {
        let slot = &mut self.slots[s as usize];
        let Phase::Body { head, decoder } = &mut slot.phase else {
            return Step::Again;
        };
        match decoder.feed(&slot.buf[from..to]) {
            Ok(p) => {
                self.stats.add(Counter::BodyBytes, p.body_bytes);
                if !p.done {
                    return Step::Again;
                }
                // Bytes after the reply with no request outstanding are not a reply
                // (RFC 9112 §9.2): the connection is not reused.
                let reusable = head.keep_alive && from + p.consumed == to;
                let status = head.status;
                self.complete(s, status, reusable, now);
                Step::Wait
            }
            Err(e) => {
                self.fail(s, classify_body(&e), now);
                Step::Wait
            }
        }
    }

    fn on_eof(&mut self, s: u32, now: u64) {
        let slot = &self.slots[s as usize];
        match &slot.phase {
            Phase::Body { head, decoder } => match decoder.eof() {
                Ok(()) => {
                    let status = head.status;
                    self.complete(s, status, false, now);
                }
                Err(e) => self.fail(s, classify_body(&e), now),
            },
            _ => {
                let class = if slot.reused && slot.times.first_byte == 0 {
                    ErrorClass::StaleConn
                } else {
                    ErrorClass::ConnReset
                };
                self.fail(s, class, now);
            }
        }
    }

    /// The class of an I/O error on an established connection: a reused connection that
    /// fails before any reply byte was closed by the server while idle (`stale-conn`).
    fn io_class(&self, s: u32, e: &io::Error) -> ErrorClass {
        let slot = &self.slots[s as usize];
        let class = classify_io(e);
        if slot.reused && slot.times.first_byte == 0 && class == ErrorClass::ConnReset {
            ErrorClass::StaleConn
        } else {
            class
        }
    }

    /// Counts a reply and readies the slot for its next request.
    fn complete(&mut self, s: u32, status: u16, reusable: bool, now: u64) {
        let slot = &mut self.slots[s as usize];
        record_ns(&mut self.stats.reply, now.saturating_sub(slot.times.sent));
        slot.deadline_ns = 0;
        slot.reply_done();
        self.stats.add(Counter::RequestsSucceeded, 1);
        self.stats.add(Counter::for_status(status), 1);
        if let Some(conn) = self.conn_mut(s) {
            conn.completed += 1;
        }
        if !reusable {
            self.close_conn(s, now);
        }
        self.slots[s as usize].phase = Phase::Ready;
        self.enqueue(s);
    }

    /// Counts a failed request, closes its connection and readies the slot.
    pub(crate) fn fail(&mut self, s: u32, class: ErrorClass, now: u64) {
        self.stats.failed(class);
        self.slots[s as usize].deadline_ns = 0;
        self.close_conn(s, now);
        self.slots[s as usize].phase = Phase::Ready;
        self.enqueue(s);
    }

    /// The watchdog of slot `s` fired: the request in flight is a `client-timo`.
    pub(crate) fn watchdog_fired(&mut self, s: u32, now: u64) {
        if self.slots[s as usize].phase.in_request() {
            self.fail(s, ErrorClass::ClientTimo, now);
        } else {
            self.slots[s as usize].deadline_ns = 0;
        }
    }

    /// Closes the slot's connection, if any. Its handle goes stale at once, so events the
    /// kernel already queued for it are dropped.
    pub(crate) fn close_conn(&mut self, s: u32, now: u64) {
        let Some(h) = self.slots[s as usize].conn.take() else {
            return;
        };
        if let Some(conn) = self.conns.remove(h) {
            self.stats.sub(Counter::ConnsOpen, 1);
            if conn.completed > 0 {
                record_ns(
                    &mut self.stats.conn_life,
                    now.saturating_sub(conn.opened_ns),
                );
            }
        }
    }

    /// Marks slot `s` done for the run.
    pub(crate) fn finish_slot(&mut self, s: u32) {
        let slot = &mut self.slots[s as usize];
        if matches!(slot.phase, Phase::Done) {
            return;
        }
        let started = !matches!(slot.phase, Phase::Waiting);
        slot.phase = Phase::Done;
        slot.deadline_ns = 0;
        self.done_slots += 1;
        if started {
            self.stats.sub(Counter::ThreadsActive, 1);
            self.stats.add(Counter::ThreadsDone, 1);
        }
    }
}
