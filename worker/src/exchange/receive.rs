//! Reading the reply: heads (interim ones skipped), the body, the end of the connection.

use std::io::{self, Write};

use volley_scoreboard::Counter;

use super::{Exchange, Io, LARGE_BUFFER, LAZY_MAX_REPLY, MAX_UNSTAMPED, Outcome, State, Step};
use crate::conn::{Conn, Transport};
use crate::http::{BodyDecoder, Framing, MAX_INTERIM, ReplyHead, parse_head_limited};
use crate::outcome::{
    self, Failure, HEAD_TOO_LARGE, STALE, Stage, TLS_REPLY_TO_HTTP, TLS_TRUNCATED,
    TOO_MANY_INTERIM, UNSOLICITED, classify_body, classify_head,
};

impl Exchange {
    /// TLS: writes request bytes rustls still holds (the socket could not take them at
    /// once). A write error (the server stopped reading) is kept until the reply it may
    /// have sent first is read: a reply is a reply.
    pub(super) fn flush_queued(&mut self, io: &mut Io<'_, '_>) {
        let conn = &mut *io.conn;
        if !(self.send_error.is_none() && conn.writable && conn.io.wants_write()) {
            return;
        }
        if let Err(e) = conn.io.flush() {
            conn.writable = false;
            if e.kind() != io::ErrorKind::WouldBlock {
                conn.readable = true;
                self.send_error = Some(self.io_failure(io.stats, &e, Stage::Send));
            }
        }
    }

    /// Reads what the socket has for the reply: a head accumulates in the buffer, a body
    /// is streamed through it.
    pub(super) fn on_receiving(&mut self, io: &mut Io<'_, '_>) -> Step {
        self.flush_queued(io);
        if !io.conn.readable {
            return Step::Done(Outcome::Wait);
        }
        let in_body = matches!(self.state, State::Body { .. });
        let at = if in_body { 0 } else { io.buf.filled };
        let space = io.buf.bytes.len() - at;
        let dating = io.dating.as_deref().is_some_and(|d| !d.give_up);
        let read = if dating {
            io.conn.read_dated(&mut io.buf.bytes[at..])
        } else {
            io::Read::read(&mut io.conn.io, &mut io.buf.bytes[at..]).map(|n| (n, None))
        };
        match read {
            Ok((0, _)) => {
                // A body that ends with the connection: when the loop slept through both
                // its last bytes and the close, the close came between the last byte's
                // date and now; the last byte's date it is (servers close right after
                // the body). A close that came later found the exchange watched (a reply
                // begun) and is dated when read.
                let end = if dating && self.times.first_byte != 0 && self.read_turn == io.turn {
                    self.times.last_read
                } else {
                    self.read_date(io)
                };
                Step::Done(self.on_eof(&*io.conn, end))
            }
            Ok((n, stamp)) => self.on_bytes(io, n, space, stamp),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                io.conn.readable = false;
                if matches!(self.state, State::AwaitHead { .. })
                    && io.buf.filled == 0
                    && self.request_unsent(&io.req)
                {
                    // The edge brought nothing to read: carry on writing.
                    self.resume_sending();
                    return Step::Again;
                }
                Step::Done(Outcome::Wait)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Step::Again,
            Err(e) => {
                let f = match self.send_error.take() {
                    Some(f) => f,
                    None => self.io_failure(io.stats, &e, Stage::BeforeReply),
                };
                Step::Done(Outcome::Failed(f, io.now))
            }
        }
    }

    /// `n` bytes of the reply were read into the buffer (`space` was offered), with the
    /// kernel's receive date `stamp` when dating.
    pub(super) fn on_bytes(
        &mut self,
        io: &mut Io<'_, '_>,
        n: usize,
        space: usize,
        stamp: Option<u64>,
    ) -> Step {
        let now = self.arrival(io, stamp);
        if !io.conn.read_closed && io.conn.io.drained_after(n, space) {
            // Short read: the receive queue is drained; the next byte brings an edge.
            io.conn.readable = false;
        }
        io.stats.add(Counter::BytesReceived, n as u64);
        self.reply_bytes += n;
        if let Some(d) = io.dating.as_deref_mut().filter(|d| !d.give_up)
            && self.reply_bytes > LAZY_MAX_REPLY
        {
            // Replies larger than a fresh receive window stall the server while the loop
            // sleeps: from now on this worker wakes for every reply.
            d.give_up = true;
        }
        let in_body = matches!(self.state, State::Body { .. });
        // A body that fills the buffer: read it in larger pieces from now on (its bytes
        // at the front are fed below before the next read).
        let grow = n == space && io.buf.bytes.len() < LARGE_BUFFER && in_body;
        self.times.last_read = now;
        self.read_turn = io.turn;
        if self.times.first_byte == 0 {
            self.times.first_byte = now;
            self.rearm = true;
            // httperf's response time: every reply begun, whatever it turns out to be.
            io.stats.figures.responses += 1;
            let ns = now.saturating_sub(self.times.sent);
            io.stats.figures.response_ns = io.stats.figures.response_ns.saturating_add(ns);
        } else if io.idle_deadline {
            self.rearm = true;
        }
        // A reply begun is read as it comes.
        self.watch = true;
        if in_body {
            let step = self.on_body_bytes(io, 0, n, now);
            if grow {
                io.buf.bytes.resize(LARGE_BUFFER, 0);
            }
            step
        } else {
            io.buf.filled += n;
            self.on_head_bytes(io, now)
        }
    }

    /// When bytes read now arrived: when the loop sleeps through replies, the kernel's
    /// receive date in the loop's clock, between the request's start and the read;
    /// otherwise [`Exchange::read_date`]. Never the turn's start when the bytes may have
    /// come later: a reply that arrived while the turn handled other events (or while
    /// the worker was preempted in it) would read shorter than it was.
    pub(super) fn arrival(&self, io: &mut Io<'_, '_>, stamp: Option<u64>) -> u64 {
        let Some(d) = io.dating.as_deref_mut().filter(|d| !d.give_up) else {
            return self.read_date(io);
        };
        match stamp {
            Some(rt) => {
                let t = (rt as i64).wrapping_sub(d.rt_offset) as u64;
                let from = self
                    .times
                    .start
                    .max(self.times.written)
                    .max(self.times.last_read);
                // The clock is read only for a date later than the turn's start.
                let read = if t > io.now { io.fresh() } else { io.now };
                t.clamp(from.min(read), read)
            }
            None => {
                // No receive date (the kernel turns dating on for the whole system a
                // moment after it is first asked): dated when read. Should that persist,
                // wake for replies.
                d.unstamped += 1;
                if d.unstamped > MAX_UNSTAMPED {
                    d.give_up = true;
                }
                self.read_date(io)
            }
        }
    }

    /// The date of bytes read now without a receive date: the turn's start when the
    /// turn's events prove they were there by then, else the read itself (a clock read).
    /// Proof: the turn took a readable edge of the connection, the request was written
    /// before the turn, and nothing of the reply was read yet in this turn (a later read
    /// may take bytes that came since). Over TLS the first reply on a connection is never
    /// proven: the edge may have been the server's post-handshake messages (session
    /// tickets), with the reply behind them.
    fn read_date(&self, io: &Io<'_, '_>) -> u64 {
        let proven = io.conn.edge_turn == io.turn
            && self.read_turn != io.turn
            && self.times.written != 0
            && self.times.written <= io.now
            && (io.conn.completed > 0 || !matches!(io.conn.io, Transport::Tls(_)));
        if proven { io.now } else { io.fresh() }
    }

    /// Parses heads in `buf[..filled]`: interim 1xx heads are skipped, the final head
    /// starts the body with whatever bytes follow it.
    pub(super) fn on_head_bytes(&mut self, io: &mut Io<'_, '_>, now: u64) -> Step {
        loop {
            let State::AwaitHead { interim } = self.state else {
                return Step::Again;
            };
            let buf = &mut *io.buf;
            let head = match parse_head_limited(&buf.bytes[..buf.filled], io.req.is_head, io.limits)
            {
                Ok(Some(head)) => head,
                Ok(None) => {
                    if buf.filled == buf.bytes.len() {
                        if buf.bytes.len() >= io.limits.head_bytes {
                            return Step::Done(Outcome::Failed(HEAD_TOO_LARGE, now));
                        }
                        buf.grow_for_head(io.limits.head_bytes);
                    }
                    if buf.filled == 0 && self.request_unsent(&io.req) {
                        self.resume_sending();
                    }
                    return Step::Again;
                }
                Err(e) => return Step::Done(Outcome::Failed(self.head_failure(io, &e), now)),
            };
            io.stats.add(Counter::HeaderBytes, head.head_len as u64);
            io.stats.add(Counter::HeaderCount, head.header_count as u64);
            let buf = &mut *io.buf;
            if let Some(tap) = io.tap.as_deref_mut() {
                tap.head(&buf.bytes[..head.head_len], &head);
            }
            self.result.header_bytes += head.head_len as u64;
            if head.is_interim() {
                if interim as usize >= MAX_INTERIM {
                    return Step::Done(Outcome::Failed(TOO_MANY_INTERIM, now));
                }
                buf.bytes.copy_within(head.head_len..buf.filled, 0);
                buf.filled -= head.head_len;
                self.state = State::AwaitHead {
                    interim: interim + 1,
                };
                if head.status == 100 && self.continue_pending {
                    // Go ahead: the body is sent once the bytes already read (if any:
                    // the final reply may have come in the same read) are parsed.
                    self.continue_pending = false;
                }
                continue;
            }
            return self.on_final_head(io, head, now);
        }
    }

    /// The final head is parsed: its details are kept and its body starts.
    pub(super) fn on_final_head(&mut self, io: &mut Io<'_, '_>, head: ReplyHead, now: u64) -> Step {
        let buf = &mut *io.buf;
        let (from, to) = (head.head_len, buf.filled);
        buf.filled = 0;
        self.times.head_done = now;
        self.result.status = head.status;
        self.result.minor_version = Some(head.minor_version);
        if io.capture.head {
            let r = &mut self.result;
            r.head.clear();
            r.head.extend_from_slice(&buf.bytes[..head.head_len]);
        }
        let (reason, location) = io.details;
        if reason || location {
            let r = &mut self.result;
            crate::http::reply_details(
                &buf.bytes[..head.head_len],
                &mut r.reason,
                location.then_some(&mut r.location),
            );
        }
        let decoder = BodyDecoder::with_limits(
            head.framing,
            io.limits.chunk_ext_bytes,
            io.limits.trailer_bytes,
        );
        self.state = State::Body { head, decoder };
        if std::mem::take(&mut self.continue_pending) {
            // A final reply instead of `100 Continue`: the body is never sent.
            self.rearm = true;
        }
        self.on_body_bytes(io, from, to, now)
    }

    /// The failure for a head that does not parse.
    pub(super) fn head_failure(&self, io: &mut Io<'_, '_>, e: &crate::http::HeadError) -> Failure {
        let buf = &io.buf.bytes[..io.buf.filled];
        match buf {
            // A TLS record (alert or handshake, version 3.x) where a status line should
            // be: an http:// URL pointed at a TLS port.
            [0x15 | 0x16, 0x03, ..] => TLS_REPLY_TO_HTTP,
            _ if e.detail() == "bad-status" && self.reused && self.result.header_bytes == 0 => {
                // On a reused connection, bytes that are no status line are the last
                // reply's tail that came after it was complete (and after this request
                // went out): the connection's framing is lost, not this request's reply.
                io.stats.anomalies.unsolicited_data += 1;
                io.stats.anomalies.unsolicited_bytes += buf.len() as u64;
                UNSOLICITED
            }
            _ => classify_head(e),
        }
    }

    /// Feeds `buf[from..to]` to the body decoder.
    pub(super) fn on_body_bytes(
        &mut self,
        io: &mut Io<'_, '_>,
        from: usize,
        to: usize,
        now: u64,
    ) -> Step {
        let State::Body { head, decoder } = &mut self.state else {
            return Step::Again;
        };
        let data = &io.buf.bytes[from..to];
        let cap = io.capture.body;
        let tap = io.tap.as_deref_mut().filter(|t| t.wants_body());
        let fed = if cap == 0 && tap.is_none() {
            decoder.feed(data)
        } else {
            let r = &mut self.result;
            let mut tap = tap;
            decoder.feed_with(data, |d| {
                if cap > 0 {
                    keep_body(&mut r.body, &mut r.body_truncated, cap, d);
                }
                if let Some(t) = tap.as_deref_mut() {
                    t.body(d);
                }
            })
        };
        match fed {
            Ok(p) => {
                io.stats.add(Counter::BodyBytes, p.body_bytes);
                self.result.body_bytes += p.body_bytes;
                if !p.done {
                    return Step::Again;
                }
                // Bytes after the reply with no request outstanding are not a reply
                // (RFC 9112 §9.2): the connection is not reused. With requests
                // pipelined, they are the next reply's.
                let rest = from + p.consumed;
                let reusable =
                    head.keep_alive && (io.more || rest == to) && self.sent == io.req.bytes.len();
                Step::Done(Outcome::Reply {
                    status: head.status,
                    reusable,
                    at: now,
                    rest: (rest, to),
                })
            }
            Err(e) => Step::Done(Outcome::Failed(classify_body(&e), now)),
        }
    }

    /// The peer closed the connection at `now`: the end of a close-delimited body, or a
    /// failure whose class depends on how far the reply had come.
    pub(super) fn on_eof(&mut self, conn: &Conn, now: u64) -> Outcome {
        let unclean = conn.io.unclean_eof();
        if let State::Body { head, decoder } = &self.state {
            return match decoder.eof() {
                Ok(()) if unclean && head.framing == Framing::UntilClose => {
                    // Without close_notify the end of a close-delimited body may be a
                    // truncation (RFC 8446 §6.1): not a reply.
                    Outcome::Failed(TLS_TRUNCATED, now)
                }
                Ok(()) => Outcome::Reply {
                    status: head.status,
                    reusable: false,
                    at: now,
                    rest: (0, 0),
                },
                Err(e) => Outcome::Failed(classify_body(&e), now),
            };
        }
        let f = if let Some(f) = self.send_error {
            f
        } else if self.is_stale() {
            STALE
        } else if self.times.first_byte == 0 {
            outcome::eof(Stage::BeforeReply)
        } else {
            outcome::eof(Stage::MidReply)
        };
        Outcome::Failed(f, now)
    }
}

/// Keeps `d`, the next payload bytes, in `body` up to `cap` bytes; what does not fit sets
/// `truncated`. The buffer is sized once to `cap`, so later replies reuse it.
fn keep_body(body: &mut Vec<u8>, truncated: &mut bool, cap: usize, d: &[u8]) {
    if body.capacity() < cap {
        body.reserve_exact(cap - body.len());
    }
    let room = cap.saturating_sub(body.len());
    let n = room.min(d.len());
    body.extend_from_slice(&d[..n]);
    *truncated |= n < d.len();
}
