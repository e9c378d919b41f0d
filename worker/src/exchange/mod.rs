//! One exchange: one request on one connection, from the connect (or the reuse of a kept
//! connection) to exactly one outcome, a reply or a failure.
//!
//! An [`Exchange`] carries its state in [`State`], whose variants hold their own data
//! (hyper's `Reading`/`Writing`): connecting (the TLS handshake included), sending,
//! awaiting the head (interim 1xx heads counted), reading the body (the head and its
//! decoder). [`Exchange::advance`] moves it as far as the connection's remembered
//! readiness allows and returns what happened ([`Outcome`]). It borrows what it needs for
//! that call in [`Io`]: the connection, the slot's receive buffer, the request's bytes,
//! the clock, the statistics and an optional [`ReplyTap`] (printing, cookies); it never
//! sees the worker, the slot's schedule or other slots.
//!
//! ```text
//! Connecting --first write went through (or TLS handshake done)--> Sending
//! Sending --all written (or the head of an `Expect: 100-continue` request)--> AwaitHead
//! Sending --bytes arrive before the request is out--> AwaitHead (an early reply)
//! AwaitHead --nothing to read, request not all out--> Sending
//! AwaitHead --1xx head--> AwaitHead (100 releases a held-back body)
//! AwaitHead --final head--> Body --body ends--> Reply
//! Body --FIN--> Reply (a body delimited by the close) or Failed
//! any --I/O error, bad framing, a cap--> Failed
//! ```
//!
//! Deadlines are the caller's, from [`Exchange::deadline`]: a pure function of the state
//! and the timestamps. After each `advance` the caller re-arms when
//! [`Exchange::take_rearm`] says the inputs of the deadline changed.

use std::io;

use volley_config::{ReplyLimits, Timeouts};
use volley_scoreboard::ErrorClass;

use crate::conn::Conn;
use crate::http::{BodyDecoder, ReplyHead};
use crate::outcome::{Failure, STALE, Stage, TimeoutPhase, classify_io};
use crate::stats::Stats;

mod buffer;
mod receive;
mod send;
#[cfg(test)]
pub mod tests;

pub use buffer::{LARGE_BUFFER, RecvBuf};

/// Requests up to this size go out in one segment, and a request/reply exchange leaves no
/// unacknowledged data behind when the next request is written, so Nagle's algorithm
/// never delays them and `TCP_NODELAY` (one syscall per connection) is left off. Larger
/// requests may span segments whose tail Nagle would hold back until the server's
/// (possibly delayed) ACK: those connections get `TCP_NODELAY`.
pub const NAGLE_SAFE_REQUEST: usize = 1024;

/// How long the body of an `Expect: 100-continue` request is held back waiting for the
/// server's `100 Continue` (curl waits one second too).
pub const EXPECT_WAIT_NS: u64 = 1_000_000_000;

/// A reply larger than this (about a fresh connection's receive window) makes a worker
/// stop sleeping through replies: the server would stall on a full window meanwhile.
pub const LAZY_MAX_REPLY: usize = 64 * 1024;

/// Replies read without a kernel receive date after which an open loop stops sleeping
/// through replies (the dates are not coming).
pub const MAX_UNSTAMPED: u64 = 64;

/// Where an exchange is.
#[derive(Debug, Default)]
pub enum State {
    /// Not started, or over (its outcome was returned).
    #[default]
    Idle,
    /// Non-blocking connect under way (over TLS, the handshake too).
    Connecting,
    /// Writing the request (`Exchange::sent` bytes are out).
    Sending,
    /// Reading the reply head; `interim` 1xx heads seen so far.
    AwaitHead {
        /// Interim (1xx) replies skipped so far.
        interim: u32,
    },
    /// Reading the body of the final reply.
    Body {
        /// The final reply's head.
        head: ReplyHead,
        /// Decoder for its body.
        decoder: BodyDecoder,
    },
}

/// What [`Exchange::advance`] led to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Wait for the next readiness edge (or a deadline).
    Wait,
    /// The reply is complete at `at` (monotonic ns). `reusable`: the connection may carry
    /// another request. `rest`: the bytes of the receive buffer read past this reply
    /// (`from..to`), the start of the next pipelined reply when `more` was set in [`Io`].
    Reply {
        /// The final status.
        status: u16,
        /// The connection may be kept.
        reusable: bool,
        /// When the reply ended.
        at: u64,
        /// `(from, to)` in the receive buffer: bytes after the reply.
        rest: (usize, usize),
    },
    /// The exchange failed at `at`.
    Failed(Failure, u64),
}

/// Timestamps of one request, monotonic ns (0 = not reached).
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestTimes {
    /// The request was started (queued on a connection or a connect).
    pub start: u64,
    /// The request's first byte was written (after connect if there was one).
    pub sent: u64,
    /// The request was fully written (the reply deadlines start here).
    pub written: u64,
    /// The first byte of the reply arrived.
    pub first_byte: u64,
    /// The last read of the reply (for the idle deadline).
    pub last_read: u64,
    /// The last write of the request that sent bytes (for the inactivity deadline).
    pub last_write: u64,
    /// The connection was established, or taken from the keep-alive cache.
    pub connected: u64,
    /// The final reply head was complete.
    pub head_done: u64,
}

/// What the per-request record needs of the reply; reset per request.
#[derive(Debug, Default)]
pub struct ResultSoFar {
    /// Final status code (0 = none yet).
    pub status: u16,
    /// Minor HTTP version of the final head.
    pub minor_version: Option<u8>,
    /// Bytes of reply heads.
    pub header_bytes: u64,
    /// Body payload bytes.
    pub body_bytes: u64,
    /// The reason phrase (only kept when a log is written; capacity reused).
    pub reason: String,
    /// The `Location` of a redirect (only kept when following; capacity reused).
    pub location: String,
    /// How the request failed (`None`: a reply, or still running).
    pub error: Option<Failure>,
    /// It was aborted when the run stopped.
    pub aborted: bool,
    /// When it ended (monotonic ns).
    pub end_ns: u64,
    /// The post-delay drawn after it, ns.
    pub post_delay: u64,
    /// The final reply head's bytes, for hooks (only kept when [`Capture::head`] is set;
    /// capacity reused).
    pub head: Vec<u8>,
    /// The first bytes of the body's payload, for hooks (only kept up to
    /// [`Capture::body`]; capacity reused).
    pub body: Vec<u8>,
    /// The payload had more bytes than [`Capture::body`] kept.
    pub body_truncated: bool,
    /// The `req_done` hook has seen this reply already (it judges a reply before it is
    /// counted).
    pub judged: bool,
}

impl ResultSoFar {
    /// Ready for a new request (the strings keep their capacity).
    pub fn reset(&mut self) {
        self.status = 0;
        self.minor_version = None;
        self.header_bytes = 0;
        self.body_bytes = 0;
        self.error = None;
        self.aborted = false;
        self.end_ns = 0;
        self.post_delay = 0;
        self.reason.clear();
        self.location.clear();
        self.head.clear();
        self.body.clear();
        self.body_truncated = false;
        self.judged = false;
    }
}

/// What of a reply is kept for hooks beyond the counts (LoadGen's `RC_HEADERS` and
/// `RC_BODY`). Both go into per-slot buffers whose capacity is reused.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Capture {
    /// Keep the final head's bytes ([`ResultSoFar::head`]).
    pub head: bool,
    /// Keep up to this many bytes of the body's payload ([`ResultSoFar::body`]; 0: none).
    pub body: usize,
}

/// Sees reply heads and bodies as they are read: printing (`--print-reply`) and session
/// cookies are taps; an exchange without one pays nothing for them.
pub trait ReplyTap {
    /// A reply head (interim or final) was parsed: its bytes and what they say.
    fn head(&mut self, bytes: &[u8], head: &ReplyHead);
    /// Whether the body's payload should be handed to [`ReplyTap::body`].
    fn wants_body(&self) -> bool {
        false
    }
    /// Payload bytes of the final reply's body, in order.
    fn body(&mut self, data: &[u8]) {
        let _ = data;
    }
}

/// The request being sent, as the exchange sees it.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The bytes to write: the request, or a pipelined burst that starts with it.
    pub bytes: &'a [u8],
    /// Bytes of the request's head (the body of `Expect: 100-continue` waits after it).
    pub head_len: usize,
    /// The method is HEAD (its reply has no body).
    pub is_head: bool,
}

/// Receive dating for a loop that sleeps through replies: replies are read with their
/// kernel receive dates (`SO_TIMESTAMPNS`), turned into the loop's clock.
#[derive(Debug, Default)]
pub struct Dating {
    /// `CLOCK_REALTIME − CLOCK_MONOTONIC` (ns) when the last events were taken.
    pub rt_offset: i64,
    /// Replies read without a receive date.
    pub unstamped: u64,
    /// The exchange saw that sleeping through replies must stop (dates do not come, or
    /// a reply is too large to sleep through).
    pub give_up: bool,
}

/// What one [`Exchange::advance`] call borrows.
pub struct Io<'a, 's> {
    /// The connection.
    pub conn: &'a mut Conn,
    /// The slot's receive buffer.
    pub buf: &'a mut RecvBuf,
    /// The request.
    pub req: Request<'a>,
    /// Caps against hostile replies.
    pub limits: &'a ReplyLimits,
    /// The worker's statistics.
    pub stats: &'a mut Stats<'s>,
    /// Now (monotonic ns): when the loop turn took the event being handled.
    pub now: u64,
    /// Reads the monotonic clock. A turn handles its events one after the other, so bytes
    /// read late in a long turn (a busy loop, a preemption) may have arrived after `now`:
    /// what is dated by its read, and a request written after slow work (a TLS
    /// handshake's last flight), takes the time from here. See [`Io::fresh`].
    pub clock: fn() -> u64,
    /// The loop turn (dates an end of file read in the same turn as the last bytes).
    pub turn: u64,
    /// Set when the loop sleeps through replies.
    pub dating: Option<&'a mut Dating>,
    /// Printing, cookies.
    pub tap: Option<&'a mut dyn ReplyTap>,
    /// The request has an idle or inactivity deadline: every read (and for inactivity,
    /// every write) moves it.
    pub idle_deadline: bool,
    /// Pipelined replies follow this one on the connection.
    pub more: bool,
    /// Keep the reply's reason phrase (for the log and hooks) and, for a redirect, its
    /// `Location` (for a follow iterator and hooks).
    pub details: (bool, bool),
    /// Keep the head and the start of the body for hooks.
    pub capture: Capture,
}

impl Io<'_, '_> {
    /// The time now, never before `now`: for dates that must not precede the event they
    /// date (a reply read, a request written), however long the turn has run.
    #[inline]
    pub fn fresh(&self) -> u64 {
        (self.clock)().max(self.now)
    }
}

/// One request on one connection. Reused for every request of a slot: its strings and
/// state keep their memory, so steady-state requests allocate nothing.
#[derive(Debug, Default)]
pub struct Exchange {
    /// Where it is.
    pub state: State,
    /// Its timestamps.
    pub times: RequestTimes,
    /// The reply so far, and how it ended.
    pub result: ResultSoFar,
    /// It runs on a reused (kept-alive) connection.
    pub reused: bool,
    /// Bytes of the request written so far. Reading may start before the whole request
    /// is out: an early reply (a 413 during an upload), or `Expect: 100-continue`.
    pub sent: usize,
    /// `Expect: 100-continue` was sent and the body is held back until a `100 Continue`,
    /// a final reply or the expect-wait.
    pub continue_pending: bool,
    /// A write failed after part of the request went out: the failure counted unless the
    /// server's (early) reply can still be read.
    pub send_error: Option<Failure>,
    /// Bytes read for the current reply.
    pub reply_bytes: usize,
    /// Loop turn of the last read that brought bytes.
    pub read_turn: u64,
    /// `--call-stats`: the number of the connection carrying the request (see
    /// [`crate::calls`]); kept from request to request on a kept-alive connection.
    pub conn_no: u64,
    /// `--call-stats`: the connect time was shown with a call already (a pipelined
    /// burst's later calls show 0).
    pub connect_shown: bool,
    /// The inputs of the deadline changed since the caller last looked.
    rearm: bool,
    /// The receive buffer holds bytes of the next pipelined reply: parse them before
    /// reading.
    parse_first: bool,
    /// It waits on the socket for something other than the start of a reply (a connect,
    /// a write, the rest of a reply begun): a loop that sleeps through replies must wake
    /// for it.
    watch: bool,
}

impl Exchange {
    /// Starts a request at `now` on a reused connection (`reused`) or a new one being
    /// connected; `expect_continue` holds the body back for `100 Continue`.
    pub fn begin(&mut self, now: u64, reused: bool, expect_continue: bool) {
        self.times = RequestTimes {
            start: now,
            ..Default::default()
        };
        self.reply_bytes = 0;
        self.sent = 0;
        self.continue_pending = expect_continue;
        self.send_error = None;
        self.result.reset();
        self.reused = reused;
        self.connect_shown = false;
        self.watch = true;
        self.rearm = true;
        if reused {
            self.times.sent = now;
            self.times.connected = now;
            self.state = State::Sending;
        } else {
            self.state = State::Connecting;
        }
    }

    /// The next pipelined reply on the same connection: `buf[from..to]` already holds its
    /// first bytes (or none).
    pub fn next_pipelined(&mut self, buf: &mut RecvBuf, from: usize, to: usize, now: u64) {
        buf.bytes.copy_within(from..to, 0);
        buf.filled = to - from;
        self.reply_bytes = buf.filled;
        self.times.first_byte = if buf.filled > 0 { now } else { 0 };
        self.times.head_done = 0;
        self.times.last_read = now;
        self.result.reset();
        self.state = State::AwaitHead { interim: 0 };
        self.parse_first = buf.filled > 0;
        self.rearm = true;
    }

    /// A request is outstanding.
    pub fn busy(&self) -> bool {
        !matches!(self.state, State::Idle)
    }

    /// Ends the exchange (its outcome was dealt with).
    pub fn end(&mut self) {
        self.state = State::Idle;
        self.continue_pending = false;
    }

    /// Whether the deadline's inputs changed since the last call (and clears it).
    pub fn take_rearm(&mut self) -> bool {
        std::mem::take(&mut self.rearm)
    }

    /// Whether it started waiting on the socket for something other than the start of a
    /// reply since the last call (and clears it).
    pub fn take_watch(&mut self) -> bool {
        std::mem::take(&mut self.watch)
    }

    /// Still waiting on the socket for something other than the start of a reply: a
    /// connect, a write, or the rest of a reply it has begun to read (`filled`: bytes of
    /// a head read so far).
    pub fn waits_on_io(&self, filled: usize) -> bool {
        match self.state {
            State::Connecting | State::Sending | State::Body { .. } => true,
            State::AwaitHead { .. } => filled > 0,
            State::Idle => false,
        }
    }

    /// The watchdog deadline of the current state and the phase it belongs to: the
    /// earliest of those that apply (connect; send from being queued; first byte, idle
    /// gap and whole reply from the request being written). Every deadline is absolute:
    /// reading more never moves the reply deadline, so a trickling server cannot stretch
    /// it. `None` when no watchdog applies.
    pub fn deadline(&self, t: &Timeouts) -> Option<(u64, TimeoutPhase)> {
        let at = |from: u64, d: Option<std::time::Duration>| {
            d.map(|d| from.saturating_add(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)))
        };
        let times = &self.times;
        let mut best: Option<(u64, TimeoutPhase)> = None;
        let mut consider = |deadline: Option<u64>, phase: TimeoutPhase| {
            if let Some(d) = deadline
                && best.is_none_or(|(b, _)| d < b)
            {
                best = Some((d, phase));
            }
        };
        match self.state {
            State::Connecting => consider(at(times.start, t.connect), TimeoutPhase::Connect),
            State::Sending => {
                consider(at(times.sent, t.send), TimeoutPhase::Send);
                // Inactivity: the last sign of life is the connection coming up (or the
                // request being queued on a kept one) or the last write that went out.
                let alive = times.sent.max(times.connected).max(times.last_write);
                consider(at(alive, t.inactivity), TimeoutPhase::Idle);
            }
            State::AwaitHead { .. } | State::Body { .. } => {
                if self.continue_pending {
                    consider(
                        Some(times.written.saturating_add(EXPECT_WAIT_NS)),
                        TimeoutPhase::ExpectWait,
                    );
                }
                // On a tie the earlier phase names the failure.
                if times.first_byte == 0 {
                    consider(at(times.written, t.first_byte), TimeoutPhase::FirstByte);
                } else {
                    consider(at(times.last_read, t.idle), TimeoutPhase::Idle);
                }
                consider(at(times.written, t.reply), TimeoutPhase::Reply);
                let alive = times.written.max(times.last_read);
                consider(at(alive, t.inactivity), TimeoutPhase::Idle);
            }
            State::Idle => {}
        }
        best
    }

    /// The expect-wait ended without `100 Continue`: the body is sent anyway (RFC 9110
    /// §10.1.1).
    pub fn resume_sending(&mut self) {
        self.continue_pending = false;
        // The reply deadlines start again once the whole request is out.
        self.times.written = 0;
        self.state = State::Sending;
        self.watch = true;
        self.rearm = true;
    }

    /// Bytes of the final reply's trailer section so far (for `--print-reply`).
    pub fn trailer_bytes(&self) -> usize {
        match &self.state {
            State::Body { decoder, .. } => decoder.trailer_bytes(),
            _ => 0,
        }
    }

    /// It failed before any byte of its reply on a reused connection: the server had
    /// closed the connection while it sat idle (the keep-alive race).
    pub fn is_stale(&self) -> bool {
        self.reused && self.times.first_byte == 0
    }

    /// Moves the exchange as far as the connection's readiness allows.
    pub fn advance(&mut self, io: &mut Io<'_, '_>) -> Outcome {
        if std::mem::take(&mut self.parse_first)
            && let Step::Done(outcome) = self.on_head_bytes(io, io.now)
        {
            return outcome;
        }
        loop {
            let step = match self.state {
                State::Idle => return Outcome::Wait,
                State::Connecting => self.on_connecting(io),
                State::Sending => self.on_sending(io),
                State::AwaitHead { .. } | State::Body { .. } => self.on_receiving(io),
            };
            match step {
                Step::Again => {}
                Step::Done(outcome) => return outcome,
            }
        }
    }

    /// The failure for an I/O error at `stage` (refined to mid-reply once reply bytes
    /// arrived, and to `stale-conn` on a stale reused connection).
    pub(super) fn io_failure(&self, stats: &mut Stats<'_>, e: &io::Error, stage: Stage) -> Failure {
        let stage = if self.times.first_byte != 0 {
            Stage::MidReply
        } else {
            stage
        };
        let f = classify_io(e, stage);
        stats.note_errno(f, e);
        if f.class == ErrorClass::ConnReset && self.is_stale() {
            STALE
        } else {
            f
        }
    }
}

/// One step of [`Exchange::advance`].
pub(super) enum Step {
    /// The state changed: look again.
    Again,
    /// Stop here with this outcome.
    Done(Outcome),
}
