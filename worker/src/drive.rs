//! Driving a slot through one request: connect or reuse, send, read the head, read the
//! body, then count exactly one outcome (a reply, an error, or an abort at stop).

use std::io::{self, Read, Write};

use mio::net::TcpStream;
use volley_scoreboard::{Counter, ErrorClass};

use crate::arrivals::SESSION_STREAM_BASE;
use crate::conn::{Conn, Transport, enable_rx_stamps};
use crate::event_loop::{LAZY_MAX_REPLY, MAX_UNSTAMPED, Worker};
use crate::hooks::{Ctx, Next, Prev, SlotHooks};
use crate::http::Framing;
use crate::http::request::serialize;
use crate::http::{BodyDecoder, MAX_INTERIM, parse_head_limited, reply_details, take_cookie};
use crate::outcome::{
    self, Failure, HEAD_TOO_LARGE, NO_TLS_CONFIG, STALE, Stage, TLS_REPLY_TO_HTTP, TLS_TRUNCATED,
    TOO_MANY_INTERIM, UNSOLICITED, classify_body, classify_head, classify_io,
};
use crate::record::make_record;
use crate::rng::stream_rng;
use crate::slot::Queued;
use crate::slot::{LARGE_BUFFER, Phase};
use crate::stats::record_ns;
use crate::tls::TlsStream;
use crate::workload::{
    Dynamic, Walk, draw_delay, is_redirect, redirect_to, send_bytes, spec_of, wire_of,
};

/// Requests up to this size go out in one segment, and a request/reply exchange leaves no
/// unacknowledged data behind when the next request is written, so Nagle's algorithm
/// never delays them and `TCP_NODELAY` (one syscall per connection) is left off. Larger
/// requests may span segments whose tail Nagle would hold back until the server's
/// (possibly delayed) ACK: those connections get `TCP_NODELAY`.
const NAGLE_SAFE_REQUEST: usize = 1024;

/// A session that starts more than this late against its schedule counts as late.
pub const LATE_NS: u64 = 1_000_000;

/// What reading a slot's input led to.
pub(crate) enum Step {
    /// Wait for the next readiness edge.
    Wait,
    /// The phase changed; look again.
    Again,
}

impl Worker<'_> {
    /// Picks slot `s`'s next request (a redirect to follow, the custom iterator's or the
    /// built-in iterator's next), draws its pre-delay and starts it, now or when the delay
    /// is over. Starts the retry of the last request at once. Finishes the slot when the
    /// budget is spent, its rounds are done, or the run is stopping.
    pub(crate) fn start_request(&mut self, s: u32, now: u64) {
        if !matches!(self.slots[s as usize].phase, Phase::Ready) {
            return;
        }
        let retry = std::mem::take(&mut self.slots[s as usize].retrying);
        if retry && !self.stopping {
            self.begin(s, true, now);
            return;
        }
        if self.stopping || self.budget == Some(0) || self.slots[s as usize].done_after {
            if retry {
                // Counted as started before its connection went stale.
                self.stats.add(Counter::RequestsAborted, 1);
                self.slots[s as usize].result.aborted = true;
                self.emit(s, now);
            }
            self.close_conn(s, now);
            self.finish_slot(s);
            return;
        }
        let open = self.arrivals.is_some();
        if open && !self.next_in_session(s, now) {
            self.close_conn(s, now);
            self.finish_slot(s);
            return;
        }
        let picked = if let Some(to) = self.slots[s as usize].follow.take() {
            let slot = &mut self.slots[s as usize];
            let hop = redirect_to(spec_of(&self.requests, slot), slot.result.status, to);
            slot.dynamic = Some(Box::new(hop));
            slot.hop += 1;
            slot.pre_delay_ns = 0;
            true
        } else if self.session_picks(s) {
            self.pick_in_session(s)
        } else if self.hooks.as_ref().is_some_and(|h| h.iterates()) {
            self.pick_custom(s)
        } else {
            self.pick_builtin(s)
        };
        if !picked {
            self.close_conn(s, now);
            self.finish_slot(s);
            return;
        }
        if let Some(b) = self.budget.as_mut() {
            *b -= 1;
        }
        if self.pipelining {
            self.pick_burst(s);
        }
        let slot = &mut self.slots[s as usize];
        let from = if open { slot.scheduled_ns } else { now };
        let start_at = from.saturating_add(slot.pre_delay_ns);
        if open {
            // The request is due after its pre-delay: lag and response count from there.
            slot.scheduled_ns = start_at;
        }
        if start_at > now {
            self.slots[s as usize].phase = Phase::PreDelay;
            self.scheduled_slots += 1;
            self.arm(s, start_at);
            return;
        }
        self.begin(s, retry, now);
    }

    /// Pipelining: picks up to `pipeline - 1` more list entries to write right after the
    /// current one (within the budget and the open-loop session), and lays their bytes
    /// out back to back. Not for redirects or hook and custom-iterator requests (those go
    /// alone), nor for a URL list with an entry that waits for `100 Continue` (see
    /// `Worker::pipelining`).
    fn pick_burst(&mut self, s: u32) {
        let slot = &self.slots[s as usize];
        debug_assert!(slot.burst.is_empty());
        if slot.dynamic.is_some()
            || self.hooks.is_some()
            || !spec_of(&self.requests, slot).keepalive.store
            || wire_of(&self.requests, slot).closes
        {
            // Alone: a redirect hop, a hook's request, or one whose connection closes
            // after its reply.
            return;
        }
        // A connection that closes after `conn_requests` takes no more than that.
        let done_on_conn = slot
            .conn
            .and_then(|h| self.conns.get(h))
            .map_or(0, |c| c.completed);
        let room = self
            .spec
            .conn_requests
            .map_or(u64::MAX, |n| u64::from(n).saturating_sub(done_on_conn + 1));
        let open = self.arrivals.is_some();
        let current = (slot.entry, slot.index, slot.pre_delay_ns);
        let most = self.spec.pipeline.saturating_sub(1);
        let extra = match self.spec.open_loop.as_ref().map(|o| &o.bursts) {
            // A session log's burst: the entries that belong to it.
            Some(b) if !b.is_empty() => b.get(slot.entry as usize).map_or(0, |&n| n.min(most)),
            _ => most,
        };
        for _ in 0..extra {
            let slot = &self.slots[s as usize];
            if self.budget == Some(0)
                || (open && slot.session_left == 0)
                || slot.burst.len() as u64 >= room
            {
                break;
            }
            let picked = if self.session_picks(s) {
                self.pick_in_session(s)
            } else {
                self.pick_builtin(s)
            };
            if !picked {
                break;
            }
            let slot = &mut self.slots[s as usize];
            slot.burst.push_back(Queued {
                entry: slot.entry,
                index: slot.index,
            });
            if open {
                slot.session_left -= 1;
            }
            if let Some(b) = self.budget.as_mut() {
                *b -= 1;
            }
            if self.requests[slot.entry as usize].wire.closes {
                // Nothing goes after a request that closes its connection.
                break;
            }
        }
        let slot = &mut self.slots[s as usize];
        (slot.entry, slot.index, slot.pre_delay_ns) = current;
        slot.dynamic = None;
        slot.burst_bytes.clear();
        if !slot.burst.is_empty() {
            slot.burst_bytes
                .extend_from_slice(&self.requests[slot.entry as usize].wire.bytes);
            for q in &slot.burst {
                slot.burst_bytes
                    .extend_from_slice(&self.requests[q.entry as usize].wire.bytes);
            }
        }
    }

    /// Pipelining: the next reply belongs to the next queued request; `buf[from..to]`
    /// already holds its first bytes (or none).
    pub(crate) fn next_in_burst(&mut self, s: u32, from: usize, to: usize, now: u64) -> Step {
        let slot = &mut self.slots[s as usize];
        let Some(q) = slot.burst.pop_front() else {
            return Step::Wait;
        };
        slot.entry = q.entry;
        slot.index = q.index;
        slot.pre_delay_ns = 0;
        slot.call_id += self.printer.as_ref().map_or(0, |p| p.stride());
        slot.buf.copy_within(from..to, 0);
        slot.filled = to - from;
        slot.reply_bytes = slot.filled;
        slot.times.first_byte = if slot.filled > 0 { now } else { 0 };
        slot.times.head_done = 0;
        slot.times.last_read = now;
        slot.result.reset();
        slot.phase = Phase::AwaitHead { interim: 0 };
        self.rearm(s);
        if self.slots[s as usize].filled > 0 {
            self.on_head_bytes(s, now)
        } else {
            Step::Again
        }
    }

    /// Open loop: the slot's next request is due. Within a session it is due now (the
    /// previous one has ended); otherwise the slot takes this worker's next arrival, due
    /// at its scheduled time, with the session's own RNG stream. False when the arrivals
    /// are used up.
    fn next_in_session(&mut self, s: u32, now: u64) -> bool {
        let calls = self.spec.open_loop.as_ref().map_or(1, |o| o.calls);
        let immediate = self
            .spec
            .open_loop
            .as_ref()
            .is_some_and(|o| o.arrival == volley_config::Arrival::Immediate);
        let start_ns = self.start_ns;
        let seed = self.spec.seed;
        let Some(arrivals) = self.arrivals.as_mut() else {
            return true;
        };
        let slot = &mut self.slots[s as usize];
        if slot.follow.is_some() {
            // A redirect hop belongs to the request that led to it.
            slot.scheduled_ns = now;
            return true;
        }
        if slot.session_left == 0 {
            let Some((k, t)) = arrivals.next_own() else {
                return false;
            };
            let open = self.spec.open_loop.as_ref().expect("open loop");
            let templates = &open.templates;
            slot.template = (!templates.is_empty()).then(|| (k % templates.len() as u64) as u32);
            slot.session_pos = 0;
            slot.session = k;
            slot.session_left = match slot.template {
                Some(i) => templates[i as usize].calls,
                None => calls,
            };
            if let Some(volley_config::Sequence { wrap: false }) = open.sequence {
                // The log ends the run: the last arrival takes only what is left of it.
                let left =
                    (self.requests.len() as u64).saturating_sub(k.saturating_mul(u64::from(calls)));
                slot.session_left = slot.session_left.min(left.min(u64::from(u32::MAX)) as u32);
                if slot.session_left == 0 {
                    return false;
                }
            }
            slot.scheduled_ns = if immediate {
                now
            } else {
                start_ns.saturating_add(t)
            };
            slot.session_start_ns = slot.scheduled_ns;
            slot.session_conns = 0;
            slot.session_replies = 0;
            slot.session_retries = 0;
            slot.session_failed = false;
            slot.cookie.clear();
            slot.rng = stream_rng(seed, SESSION_STREAM_BASE.saturating_add(k));
            // A session is one walk: the first request of a round, its own draws.
            slot.walk = Walk::default();
            slot.session_first = true;
        } else {
            slot.scheduled_ns = now;
        }
        slot.session_left -= 1;
        true
    }

    /// The built-in iterators: the next list entry, or false when the rounds are done.
    fn pick_builtin(&mut self, s: u32) -> bool {
        let slot = &mut self.slots[s as usize];
        let len = self.requests.len() as u32;
        // In an open loop the arrivals, not rounds, say how much is done.
        let rounds = if self.arrivals.is_some() {
            None
        } else {
            self.spec.rounds
        };
        let Some(entry) = slot
            .walk
            .next(len, self.spec.iterator, rounds, &mut slot.rng)
        else {
            return false;
        };
        self.take_entry(s, entry)
    }

    /// Slot `s`'s next request is list entry `entry` as configured: its pre-delay is
    /// drawn.
    fn take_entry(&mut self, s: u32, entry: u32) -> bool {
        let slot = &mut self.slots[s as usize];
        slot.entry = entry;
        slot.index = entry;
        slot.hop = 0;
        slot.dynamic = None;
        self.draw_pre_delay(s);
        true
    }

    /// The session, not the iterator, picks slot `s`'s requests: an httperf session
    /// template, or the `--wlog` order.
    fn session_picks(&self, s: u32) -> bool {
        self.slots[s as usize].template.is_some()
            || self
                .spec
                .open_loop
                .as_ref()
                .is_some_and(|o| o.sequence.is_some())
    }

    /// A session's next request: its template's entries in turn, or httperf's `--wlog`
    /// order (call `j` of arrival `k` takes entry `(k * calls + j) mod len`, the list
    /// walked once in order over every worker and client).
    fn pick_in_session(&mut self, s: u32) -> bool {
        let open = self.spec.open_loop.as_ref().expect("an open loop");
        let len = self.requests.len() as u64;
        let slot = &mut self.slots[s as usize];
        let entry = match slot.template {
            Some(t) => {
                let t = open.templates[t as usize];
                t.first + slot.session_pos % t.len.max(1)
            }
            None => {
                let at = u128::from(slot.session) * u128::from(open.calls)
                    + u128::from(slot.session_pos);
                (at % u128::from(len)) as u32
            }
        };
        slot.session_pos += 1;
        self.take_entry(s, entry)
    }

    /// A custom iterator's next request; a new round (a fresh iterator) when it ends the
    /// round; false when the rounds are done or a fresh round is empty.
    fn pick_custom(&mut self, s: u32) -> bool {
        let len = self.requests.len();
        let mut fresh_round = false;
        loop {
            let slot = &mut self.slots[s as usize];
            if slot.walk.round == 0 || fresh_round {
                if self.spec.rounds.is_some_and(|r| slot.walk.round >= r) {
                    return false;
                }
                slot.walk.round += 1;
                slot.walk.taken = 0;
                fresh_round = true;
                self.with_ctx(s, |h, ctx, _| h.new_round(ctx));
            }
            let first =
                self.slots[s as usize].walk.round == 1 && self.slots[s as usize].walk.taken == 0;
            let next = self.with_ctx(s, |h, ctx, prev| {
                h.next(ctx, if first { None } else { prev })
            });
            let slot = &mut self.slots[s as usize];
            match next {
                Some(Next::Entry(i)) if i < len => {
                    slot.entry = i as u32;
                    slot.dynamic = None;
                }
                Some(Next::Entry(_)) => {
                    // Out of the list: the iterator is wrong; end the slot rather than
                    // guess (counted as a finished slot).
                    return false;
                }
                Some(Next::Request(spec)) => {
                    slot.entry = 0;
                    slot.dynamic = Some(Box::new(Dynamic::new(*spec)));
                }
                None if fresh_round && slot.walk.taken == 0 => return false,
                None => {
                    fresh_round = true;
                    continue;
                }
            }
            slot.index = slot.walk.taken;
            slot.walk.taken += 1;
            slot.hop = 0;
            self.draw_pre_delay(s);
            return true;
        }
    }

    /// Draws the picked request's pre-delay (from the slot's RNG, only when it has
    /// jitter).
    fn draw_pre_delay(&mut self, s: u32) {
        let slot = &mut self.slots[s as usize];
        let pre = spec_of(&self.requests, slot).pre;
        slot.pre_delay_ns = if pre.is_zero() {
            0
        } else {
            draw_delay(pre, &mut slot.rng)
        };
    }

    /// Calls `f` with the hooks, a context for slot `s` and its previous request and
    /// result. The slot's RNG is lent to the context and put back after.
    pub(crate) fn with_ctx<T>(
        &mut self,
        s: u32,
        f: impl FnOnce(&mut dyn SlotHooks, &mut Ctx<'_>, Option<Prev<'_>>) -> T,
    ) -> T {
        let Some(hooks) = self.hooks.as_deref_mut() else {
            unreachable!("with_ctx is only called with hooks");
        };
        let board = self.board.as_ref().expect("a board comes with the hooks");
        let mut rng = self.slots[s as usize].rng.clone();
        let reason = std::mem::take(&mut self.slots[s as usize].result.reason);
        let slot = &self.slots[s as usize];
        let record = make_record(&self.requests, slot, self.index, self.start_ns, &reason);
        let prev = Prev {
            request: spec_of(&self.requests, slot),
            result: &record,
        };
        let mut ctx = Ctx {
            proc: self.index,
            slot: slot.global,
            local: s,
            round: slot.walk.round,
            rng: &mut rng,
            spec: self.spec,
            board,
            done: false,
        };
        let out = f(hooks, &mut ctx, Some(prev));
        let done = ctx.done;
        let slot = &mut self.slots[s as usize];
        slot.rng = rng;
        slot.result.reason = reason;
        slot.done_after |= done;
        out
    }

    /// Starts slot `s`'s current request: on its kept connection when the request may use
    /// it and it goes to the same address, else on a new one. A `req_start` hook sees it
    /// first and may edit it.
    pub(crate) fn begin(&mut self, s: u32, retry: bool, now: u64) {
        if !retry {
            let burst = self.slots[s as usize].burst.len() as u64;
            self.stats.add(Counter::RequestsStarted, 1 + burst);
            let slot = &mut self.slots[s as usize];
            if std::mem::take(&mut slot.session_first) {
                // The session's first request: how late against its arrival.
                let lag = now.saturating_sub(slot.scheduled_ns);
                self.stats.lag.record_ns(lag);
                if lag > LATE_NS {
                    self.stats.late_starts += 1;
                }
            }
            if self.hooks.is_some() {
                let mut spec = spec_of(&self.requests, &self.slots[s as usize]).clone();
                self.with_ctx(s, |h, ctx, _| h.req_start(ctx, &mut spec));
                if spec != *spec_of(&self.requests, &self.slots[s as usize]) {
                    self.slots[s as usize].dynamic = Some(Box::new(Dynamic::new(spec)));
                }
            }
            let slot = &mut self.slots[s as usize];
            slot.pipelined = !slot.burst.is_empty();
            if !slot.cookie.is_empty() {
                self.add_cookie(s);
            }
        }
        if self.printer.is_some() {
            self.print_requests(s);
        }
        let spec = spec_of(&self.requests, &self.slots[s as usize]);
        let (use_kept, addr, tls) = (spec.keepalive.use_kept, spec.target.addr, spec.target.tls);
        let reusable = |conn: &Conn| match &conn.io {
            Transport::Plain(_) => !tls,
            // The certificate was checked for one name: another name (on the same
            // address) needs its own connection and check.
            Transport::Tls(t) => tls && t.host == spec.target.host,
        };
        if let Some(conn) = self.slots[s as usize].conn.and_then(|h| self.conns.get(h))
            && (!use_kept || conn.addr != addr || !reusable(conn))
        {
            self.close_conn(s, now);
        }
        // Never written to: a kept connection the kernel reported readable or closed
        // since its last reply, unless a read shows it was nothing.
        self.idle_conn_usable(s, now);
        let expect_continue = wire_of(&self.requests, &self.slots[s as usize]).expect_continue;
        let slot = &mut self.slots[s as usize];
        slot.times = Default::default();
        slot.times.start = now;
        slot.filled = 0;
        slot.reply_bytes = 0;
        slot.sent = 0;
        slot.continue_pending = expect_continue;
        slot.send_error = None;
        slot.result.reset();
        slot.reused = slot.conn.is_some();
        if slot.reused {
            slot.times.sent = now;
            slot.times.connected = now;
            slot.phase = Phase::Sending;
            self.stats.add(Counter::ConnsReused, 1);
            self.watch_io(s);
        } else if let Err(f) = self.connect(s, addr, tls) {
            self.fail(s, f, now);
            return;
        }
        self.rearm(s);
        self.drive(s, now);
    }

    /// Whether slot `s`'s kept connection, idle (no request outstanding), may carry its
    /// next request. RFC 9112 §9.2 and §9.6: anything readable on it while no request is
    /// outstanding means it is not reusable. When the kernel reported it readable or
    /// closed since its last reply, one read tells: nothing to read (an edge left from
    /// the reply) keeps it; bytes (a reply's tail after its framed end, a `408` sent to
    /// an idle connection) or its end (FIN, RST, TLS `close_notify`) close it and count
    /// an anomaly, not a request error, and the slot's next request opens a new
    /// connection. False when the slot has no usable connection (any more).
    pub(crate) fn idle_conn_usable(&mut self, s: u32, now: u64) -> bool {
        let slot = &mut self.slots[s as usize];
        let Some(conn) = slot.conn.and_then(|h| self.conns.get_mut(h)) else {
            return false;
        };
        if !conn.readable && !conn.read_closed {
            return true;
        }
        // The slot reads no reply now: its buffer is free.
        let mut unsolicited = 0u64;
        let closed = loop {
            match conn.io.read(&mut slot.buf) {
                Ok(0) => break true,
                Ok(n) => {
                    // Closed either way; one read is enough to know (a server that keeps
                    // sending must not hold the loop here).
                    unsolicited = n as u64;
                    break false;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    conn.readable = false;
                    break false;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break true,
            }
        };
        if unsolicited == 0 && !closed {
            return true;
        }
        self.stats.add(Counter::BytesReceived, unsolicited);
        let a = &mut self.stats.anomalies;
        if unsolicited > 0 {
            a.unsolicited_data += 1;
            a.unsolicited_bytes += unsolicited;
        } else {
            a.closed_while_idle += 1;
        }
        self.close_conn(s, now);
        false
    }

    /// `--session-cookies`: the request about to go out, and those pipelined behind it,
    /// carry the session's cookie (serialized anew: only runs with the option pay).
    fn add_cookie(&mut self, s: u32) {
        let slot = &self.slots[s as usize];
        let cookie = ("Cookie".to_string(), slot.cookie.clone());
        let mut spec = spec_of(&self.requests, slot).clone();
        spec.headers.push(cookie.clone());
        let current = Dynamic::new(spec);
        if !slot.burst.is_empty() {
            let mut bytes = current.wire.bytes.clone();
            for q in &slot.burst {
                let mut spec = self.requests[q.entry as usize].spec.clone();
                spec.headers.push(cookie.clone());
                bytes.extend_from_slice(&serialize(&spec).bytes);
            }
            self.slots[s as usize].burst_bytes = bytes;
        }
        self.slots[s as usize].dynamic = Some(Box::new(current));
    }

    /// `--print-request`: the request about to go out, and those pipelined behind it,
    /// each with a new call number.
    fn print_requests(&mut self, s: u32) {
        let Some(p) = self.printer.as_mut() else {
            return;
        };
        let slot = &mut self.slots[s as usize];
        slot.call_id = p.call_id();
        slot.print_line.clear();
        let wire = wire_of(&self.requests, slot);
        p.request(slot.call_id, &wire.bytes, wire.head_len);
        for q in &slot.burst {
            let id = p.call_id();
            if slot.cookie.is_empty() {
                let wire = &self.requests[q.entry as usize].wire;
                p.request(id, &wire.bytes, wire.head_len);
            } else {
                // As sent: with the session's cookie.
                let mut spec = self.requests[q.entry as usize].spec.clone();
                spec.headers.push(("Cookie".into(), slot.cookie.clone()));
                let wire = serialize(&spec);
                p.request(id, &wire.bytes, wire.head_len);
            }
        }
    }

    fn connect(&mut self, s: u32, addr: std::net::SocketAddr, tls: bool) -> Result<(), Failure> {
        let sock = self.spec.socket;
        // Connect times are measured around the call, not from the loop turn's clock.
        let opened_ns = volley_scoreboard::now_ns();
        let opened = if sock == Default::default() {
            TcpStream::connect(addr)
        } else {
            connect_with(addr, sock)
        };
        let stream = match opened {
            Ok(stream) => stream,
            Err(e) => return Err(self.io_failure(s, &e, Stage::Send)),
        };
        let io = if tls {
            let Some(config) = self.tls.as_ref() else {
                return Err(NO_TLS_CONFIG);
            };
            let host = &spec_of(&self.requests, &self.slots[s as usize]).target.host;
            match TlsStream::new(stream, config, host) {
                Ok(t) => Transport::Tls(Box::new(t)),
                Err(e) => return Err(self.io_failure(s, &e, Stage::Send)),
            }
        } else {
            if self.lazy {
                // Replies may be read well after they arrive: date them by the kernel.
                enable_rx_stamps(&stream).map_err(|e| self.io_failure(s, &e, Stage::Send))?;
            }
            Transport::Plain(stream)
        };
        let h = self.conns.insert(Conn::new(
            io,
            addr,
            s,
            opened_ns,
            volley_scoreboard::now_ns(),
        ));
        self.stats.add(Counter::ConnsOpen, 1);
        let burst = &mut self.stats.connect_burst;
        if burst.0 != self.turn {
            *burst = (self.turn, 0);
        }
        burst.1 += 1;
        self.stats.max_connect_burst = self.stats.max_connect_burst.max(burst.1);
        self.slots[s as usize].session_conns += 1;
        self.stats.max_open = self.stats.max_open.max(self.conns.len() as u64);
        self.slots[s as usize].conn = Some(h);
        self.slots[s as usize].phase = Phase::Connecting;
        self.watch_io(s);
        // The request (or the ClientHello) is tried at once (`Conn::new` marks the socket
        // writable): a connect that is already done (loopback, often) then needs no
        // wake-up of its own; one still under way makes the write return EAGAIN, and the
        // writable edge follows.
        self.register(h).map_err(|e| classify_io(&e, Stage::Send))?;
        Ok(())
    }

    /// Advances slot `s` as far as its connection's readiness allows.
    pub(crate) fn drive(&mut self, s: u32, now: u64) {
        loop {
            let step = match self.slots[s as usize].phase {
                Phase::Connecting => self.on_connecting(s, now),
                Phase::Sending => self.on_sending(s, now),
                Phase::AwaitHead { .. } | Phase::Body { .. } => self.on_receiving(s, now),
                Phase::Waiting
                | Phase::Ready
                | Phase::Backoff
                | Phase::PreDelay
                | Phase::PostDelay
                | Phase::Done => Step::Wait,
            };
            if let Step::Wait = step {
                return;
            }
        }
    }

    pub(crate) fn conn_mut(&mut self, s: u32) -> Option<&mut Conn> {
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
        if matches!(conn.io, Transport::Tls(_)) {
            return self.on_tls_handshake(s, now);
        }
        if !conn.writable {
            return Step::Wait;
        }
        let slot = &mut self.slots[s as usize];
        slot.times.sent = now;
        slot.phase = Phase::Sending;
        self.rearm(s);
        Step::Again
    }

    /// TLS: the handshake runs while the slot is connecting, so its time counts against
    /// the connect deadline. The first ClientHello write that succeeds ends the TCP
    /// connect (a refused connect fails that write); the end of the handshake makes the
    /// connection established, and the request is written next.
    fn on_tls_handshake(&mut self, s: u32, now: u64) -> Step {
        let Some(conn) = self.conn_mut(s) else {
            return Step::Wait;
        };
        let Conn {
            io: Transport::Tls(tls),
            readable,
            writable,
            ..
        } = conn
        else {
            return Step::Wait;
        };
        let was_up = tls.tcp_up;
        let result = tls.handshake(readable, writable);
        let (up, resumed) = (tls.tcp_up, tls.resumed());
        if !*writable && !up {
            // The ClientHello had to wait: the connect is dated by its writable edge.
            conn.up_by_ns = 0;
        }
        let (opened, up_by) = (conn.opened_ns, conn.up_by_ns);
        if up && !was_up {
            let at = if up_by != 0 { up_by } else { now };
            self.slots[s as usize].times.connected = at;
            record_ns(&mut self.stats.connect, at.saturating_sub(opened));
        }
        match result {
            Ok(false) => Step::Wait,
            Ok(true) => {
                let large = wire_of(&self.requests, &self.slots[s as usize]).bytes.len()
                    > NAGLE_SAFE_REQUEST;
                if let Some(conn) = self.conn_mut(s) {
                    conn.established = true;
                    if large {
                        let _ = conn.io.tcp_mut().set_nodelay(true);
                    }
                }
                self.stats.add(Counter::ConnsOpened, 1);
                let connected = self.slots[s as usize].times.connected;
                self.stats
                    .tls_handshake
                    .record_ns(now.saturating_sub(connected));
                if resumed {
                    self.stats.tls_resumed += 1;
                } else {
                    self.stats.tls_full += 1;
                }
                let slot = &mut self.slots[s as usize];
                slot.times.sent = now;
                slot.phase = Phase::Sending;
                self.rearm(s);
                Step::Again
            }
            Err(e) => {
                let f = self.io_failure(s, &e, Stage::Send);
                self.fail(s, f, now);
                Step::Wait
            }
        }
    }

    /// Counts a connection as established: its first bytes went out. It was up by the
    /// end of the `connect` call when that first write was the first try, else by the
    /// writable edge that let it through (`now`).
    fn established(&mut self, s: u32, now: u64) {
        let large =
            wire_of(&self.requests, &self.slots[s as usize]).bytes.len() > NAGLE_SAFE_REQUEST;
        let Some(conn) = self.conn_mut(s) else { return };
        conn.established = true;
        if large {
            let _ = conn.io.tcp_mut().set_nodelay(true);
        }
        let at = if conn.up_by_ns != 0 {
            conn.up_by_ns
        } else {
            now
        };
        let opened = conn.opened_ns;
        self.stats.add(Counter::ConnsOpened, 1);
        let times = &mut self.slots[s as usize].times;
        times.connected = at;
        // The request went out right after.
        times.sent = times.sent.max(at);
        record_ns(&mut self.stats.connect, at.saturating_sub(opened));
    }

    /// Writes the request. Bytes arriving meanwhile are read first: the server may
    /// answer before the request is out (a 413 during an upload), or may have closed a
    /// kept-alive connection while it sat idle.
    fn on_sending(&mut self, s: u32, now: u64) -> Step {
        let h = self.slots[s as usize].conn;
        let Some(conn) = h.and_then(|h| self.conns.get_mut(h)) else {
            return Step::Wait;
        };
        if conn.readable && conn.established {
            return self.start_reading(s, now);
        }
        if !conn.writable {
            return Step::Wait;
        }
        let fresh = !conn.established;
        let slot = &self.slots[s as usize];
        let wire = wire_of(&self.requests, slot);
        let bytes = send_bytes(&self.requests, slot);
        // With `Expect: 100-continue` only the head goes out until the server agrees.
        let end = if slot.continue_pending {
            wire.head_len
        } else {
            bytes.len()
        };
        let (total, head_len) = (bytes.len(), wire.head_len);
        match conn.io.write(&bytes[slot.sent..end]) {
            Ok(n) => {
                if fresh {
                    self.established(s, now);
                }
                self.stats.add(Counter::BytesSent, n as u64);
                let slot = &mut self.slots[s as usize];
                slot.sent += n;
                if slot.sent == total {
                    self.start_reading(s, now)
                } else if slot.continue_pending && slot.sent >= head_len {
                    // `Expect: 100-continue`: hold the body back (RFC 9110 §10.1.1).
                    self.start_reading(s, now)
                } else {
                    Step::Again
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                conn.writable = false;
                if fresh {
                    // Nothing went out on a new connection: its connect is still under
                    // way (a write tried before the writable edge, see `connect`); the
                    // edge will date it.
                    conn.up_by_ns = 0;
                    self.slots[s as usize].phase = Phase::Connecting;
                    self.watch_io(s);
                    self.rearm(s);
                }
                Step::Wait
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Step::Again,
            Err(e) => {
                let f = self.io_failure(s, &e, Stage::Send);
                if self.slots[s as usize].sent > 0 && f.class == ErrorClass::ConnReset {
                    // The server stopped reading mid-request; it may have answered
                    // first (and a reply is a reply): read before counting a failure.
                    self.slots[s as usize].send_error = Some(f);
                    if let Some(conn) = self.conn_mut(s) {
                        conn.readable = true;
                    }
                    return self.start_reading(s, now);
                }
                self.fail(s, f, now);
                Step::Wait
            }
        }
    }

    /// Moves a slot from sending to reading the reply head; the reply deadlines start
    /// when the request (or its head, when the rest is held back) is out.
    fn start_reading(&mut self, s: u32, now: u64) -> Step {
        let slot = &mut self.slots[s as usize];
        if slot.times.written == 0 {
            slot.times.written = now;
        }
        if slot.times.first_byte != 0 {
            // An interim reply came before the upload finished: the idle gap counts from
            // here, not from that reply.
            slot.times.last_read = now;
        }
        slot.phase = Phase::AwaitHead { interim: 0 };
        self.rearm(s);
        Step::Again
    }

    /// Back to writing the rest of the request (after `100 Continue`, the expect-wait,
    /// or a readable edge that brought no reply).
    pub(crate) fn resume_sending(&mut self, s: u32) -> Step {
        let slot = &mut self.slots[s as usize];
        slot.continue_pending = false;
        // The reply deadlines start again once the whole request is out.
        slot.times.written = 0;
        slot.phase = Phase::Sending;
        self.watch_io(s);
        self.rearm(s);
        Step::Again
    }

    /// True while part of the request is still to be written and nothing stops it.
    fn request_unsent(&self, s: u32) -> bool {
        let slot = &self.slots[s as usize];
        let end = if slot.continue_pending {
            wire_of(&self.requests, slot).head_len
        } else {
            send_bytes(&self.requests, slot).len()
        };
        slot.sent < end && slot.send_error.is_none()
    }

    fn on_receiving(&mut self, s: u32, now: u64) -> Step {
        let h = self.slots[s as usize].conn;
        self.flush_queued(s);
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
        let read = if self.lazy {
            conn.io.read_stamped(&mut slot.buf[at..])
        } else {
            conn.io.read(&mut slot.buf[at..]).map(|n| (n, None))
        };
        match read {
            Ok((0, _)) => {
                // A body that ends with the connection: when the loop slept through
                // both its last bytes and the close (an open loop's lazy wake-ups), the
                // close came between the last byte's date and now; the last byte's date
                // it is (servers close right after the body). A close that came later
                // found the slot watched (a reply begun) and is dated when read.
                let end = if self.lazy && slot.times.first_byte != 0 && slot.read_turn == self.turn
                {
                    slot.times.last_read
                } else {
                    now
                };
                self.on_eof(s, end);
                Step::Wait
            }
            Ok((n, stamp)) => {
                // The kernel's receive date, in the loop's clock, between the request's
                // start and now.
                let now = match stamp {
                    Some(rt) => {
                        let t = (rt as i64).wrapping_sub(self.rt_offset) as u64;
                        let from = slot
                            .times
                            .start
                            .max(slot.times.written)
                            .max(slot.times.last_read);
                        t.clamp(from.min(now), now)
                    }
                    None => {
                        if self.lazy {
                            // No receive date (the kernel turns dating on for the whole
                            // system a moment after it is first asked): this reply is
                            // dated when read. Should that persist, wake for replies.
                            self.unstamped += 1;
                            if self.unstamped > MAX_UNSTAMPED {
                                self.lazy = false;
                            }
                        }
                        now
                    }
                };
                if !conn.read_closed && conn.io.drained_after(n, space) {
                    // Short read: the receive queue is drained; the next byte brings an edge.
                    conn.readable = false;
                }
                self.stats.add(Counter::BytesReceived, n as u64);
                slot.reply_bytes += n;
                if self.lazy && slot.reply_bytes > LAZY_MAX_REPLY {
                    // Replies larger than a fresh receive window stall the server while
                    // the loop sleeps: from now on this worker wakes for every reply.
                    self.lazy = false;
                }
                if n == space
                    && slot.buf.len() < LARGE_BUFFER
                    && matches!(slot.phase, Phase::Body { .. })
                {
                    // A body that fills the buffer: read it in larger pieces from now on.
                    // (Its bytes at the front are fed below before the next read.)
                    grow = true;
                }
                slot.times.last_read = now;
                slot.read_turn = self.turn;
                if slot.times.first_byte == 0 {
                    slot.times.first_byte = now;
                    self.rearm(s);
                } else if self.requests[slot.entry as usize]
                    .spec
                    .timeouts
                    .idle
                    .is_some()
                {
                    self.rearm(s);
                }
                // A reply begun is read as it comes (see `Worker::io_idle`).
                self.watch_io(s);
                let slot = &mut self.slots[s as usize];
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
                let slot = &self.slots[s as usize];
                if matches!(slot.phase, Phase::AwaitHead { .. })
                    && slot.filled == 0
                    && self.request_unsent(s)
                {
                    // The edge brought nothing to read: carry on writing.
                    return self.resume_sending(s);
                }
                Step::Wait
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Step::Again,
            Err(e) => {
                let f = match self.slots[s as usize].send_error.take() {
                    Some(f) => f,
                    None => self.io_failure(s, &e, Stage::BeforeReply),
                };
                self.fail(s, f, now);
                Step::Wait
            }
        }
    }

    /// TLS: writes request bytes rustls still holds (the socket could not take them at
    /// once). A write error (the server stopped reading) is kept until the reply it may
    /// have sent first is read: a reply is a reply.
    fn flush_queued(&mut self, s: u32) {
        let pending = self.slots[s as usize].send_error.is_none();
        let Some(conn) = self.conn_mut(s) else {
            return;
        };
        if !(pending && conn.writable && conn.io.wants_write()) {
            return;
        }
        if let Err(e) = conn.io.flush() {
            conn.writable = false;
            if e.kind() != io::ErrorKind::WouldBlock {
                conn.readable = true;
                let f = self.io_failure(s, &e, Stage::Send);
                self.slots[s as usize].send_error = Some(f);
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
            let limits = &self.spec.limits;
            let is_head = wire_of(&self.requests, slot).is_head;
            let head = match parse_head_limited(&slot.buf[..slot.filled], is_head, limits) {
                Ok(Some(head)) => head,
                Ok(None) => {
                    if slot.filled == slot.buf.len() {
                        if slot.buf.len() >= limits.head_bytes {
                            self.fail(s, HEAD_TOO_LARGE, now);
                            return Step::Wait;
                        }
                        // A rare, big head: grow, up to the cap.
                        let grown = (slot.buf.len() * 4)
                            .max(LARGE_BUFFER)
                            .min(limits.head_bytes);
                        slot.buf.resize(grown.max(slot.buf.len() + 1), 0);
                    }
                    if slot.filled == 0 && self.request_unsent(s) {
                        return self.resume_sending(s);
                    }
                    return Step::Again;
                }
                Err(e) => {
                    // A TLS record (alert or handshake, version 3.x) where a status line
                    // should be: an http:// URL pointed at a TLS port.
                    let f = match slot.buf[..slot.filled] {
                        [0x15 | 0x16, 0x03, ..] => TLS_REPLY_TO_HTTP,
                        _ if e.detail() == "bad-status"
                            && slot.reused
                            && slot.result.header_bytes == 0 =>
                        {
                            // On a reused connection, bytes that are no status line are
                            // the last reply's tail that came after it was complete (and
                            // after this request went out): the connection's framing is
                            // lost, not this request's reply.
                            self.stats.anomalies.unsolicited_data += 1;
                            self.stats.anomalies.unsolicited_bytes += slot.filled as u64;
                            UNSOLICITED
                        }
                        _ => classify_head(&e),
                    };
                    self.fail(s, f, now);
                    return Step::Wait;
                }
            };
            self.stats.add(Counter::HeaderBytes, head.head_len as u64);
            self.stats
                .add(Counter::HeaderCount, head.header_count as u64);
            let slot = &mut self.slots[s as usize];
            if let Some(p) = self.printer.as_mut() {
                p.reply_head(slot.call_id, &slot.buf[..head.head_len]);
            }
            slot.result.header_bytes += head.head_len as u64;
            if head.is_interim() {
                if interim as usize >= MAX_INTERIM {
                    self.fail(s, TOO_MANY_INTERIM, now);
                    return Step::Wait;
                }
                slot.buf.copy_within(head.head_len..slot.filled, 0);
                slot.filled -= head.head_len;
                slot.phase = Phase::AwaitHead {
                    interim: interim + 1,
                };
                if head.status == 100 && slot.continue_pending {
                    // Go ahead: the body is sent once the bytes already read (if any:
                    // the final reply may have come in the same read) are parsed.
                    slot.continue_pending = false;
                }
                continue;
            }
            let (from, to) = (head.head_len, slot.filled);
            slot.filled = 0;
            slot.times.head_done = now;
            if self
                .spec
                .open_loop
                .as_ref()
                .and_then(|o| o.sessions)
                .is_some_and(|r| r.cookies)
            {
                take_cookie(&slot.buf[..head.head_len], &mut slot.cookie);
            }
            slot.result.status = head.status;
            slot.result.minor_version = Some(head.minor_version);
            let location =
                is_redirect(head.status) && (self.spec.iterator.follows() || self.hooks.is_some());
            if self.log.is_some() || self.hooks.is_some() || location {
                let r = &mut slot.result;
                reply_details(
                    &slot.buf[..head.head_len],
                    &mut r.reason,
                    location.then_some(&mut r.location),
                );
            }
            let decoder = BodyDecoder::with_limits(
                head.framing,
                limits.chunk_ext_bytes,
                limits.trailer_bytes,
            );
            slot.phase = Phase::Body { head, decoder };
            if std::mem::take(&mut slot.continue_pending) {
                // A final reply instead of `100 Continue`: the body is never sent.
                self.rearm(s);
            }
            return self.on_body_bytes(s, from, to, now);
        }
    }

    /// Feeds `buf[from..to]` to the body decoder.
    fn on_body_bytes(&mut self, s: u32, from: usize, to: usize, now: u64) -> Step {
        let total = send_bytes(&self.requests, &self.slots[s as usize]).len();
        let slot = &mut self.slots[s as usize];
        let Phase::Body { head, decoder } = &mut slot.phase else {
            return Step::Again;
        };
        let fed = match self.printer.as_mut() {
            Some(p) if p.reply_body_wanted() => {
                let (id, line) = (slot.call_id, &mut slot.print_line);
                decoder.feed_with(&slot.buf[from..to], |data| p.reply_body(id, line, data))
            }
            _ => decoder.feed(&slot.buf[from..to]),
        };
        match fed {
            Ok(p) => {
                self.stats.add(Counter::BodyBytes, p.body_bytes);
                slot.result.body_bytes += p.body_bytes;
                if !p.done {
                    return Step::Again;
                }
                // Bytes after the reply with no request outstanding are not a reply
                // (RFC 9112 §9.2): the connection is not reused. With requests
                // pipelined, they are the next reply's.
                let rest = from + p.consumed;
                let more = !slot.burst.is_empty();
                let reusable = head.keep_alive && (more || rest == to) && slot.sent == total;
                let status = head.status;
                if more && reusable {
                    // The buffer is left as is: the next reply starts at `rest`.
                    self.complete(s, status, true, now);
                    return self.next_in_burst(s, rest, to, now);
                }
                self.complete(s, status, reusable, now);
                Step::Wait
            }
            Err(e) => {
                self.fail(s, classify_body(&e), now);
                Step::Wait
            }
        }
    }

    /// The peer closed the connection: the end of a close-delimited body, or a failure
    /// whose class depends on how far the reply had come.
    fn on_eof(&mut self, s: u32, now: u64) {
        let unclean = self.conn_mut(s).is_some_and(|c| c.io.unclean_eof());
        let slot = &self.slots[s as usize];
        if let Phase::Body { head, decoder } = &slot.phase {
            match decoder.eof() {
                Ok(()) if unclean && head.framing == Framing::UntilClose => {
                    // Without close_notify the end of a close-delimited body may be a
                    // truncation (RFC 8446 §6.1): not a reply.
                    self.fail(s, TLS_TRUNCATED, now);
                }
                Ok(()) => {
                    let status = head.status;
                    self.complete(s, status, false, now);
                }
                Err(e) => self.fail(s, classify_body(&e), now),
            }
            return;
        }
        let f = if let Some(f) = slot.send_error {
            f
        } else if self.is_stale(s) {
            STALE
        } else if slot.times.first_byte == 0 {
            outcome::eof(Stage::BeforeReply)
        } else {
            outcome::eof(Stage::MidReply)
        };
        self.fail(s, f, now);
    }

    /// A reused connection that fails before any byte of the reply was closed by the
    /// server while it sat idle (the keep-alive race): `stale-conn`, not a reset.
    fn is_stale(&self, s: u32) -> bool {
        let slot = &self.slots[s as usize];
        slot.reused && slot.times.first_byte == 0
    }

    /// The failure for an I/O error on the slot's connection at `stage` (refined to
    /// mid-reply once reply bytes arrived, and to `stale-conn` on a stale reused
    /// connection).
    fn io_failure(&mut self, s: u32, e: &io::Error, stage: Stage) -> Failure {
        let slot = &self.slots[s as usize];
        let stage = if slot.times.first_byte != 0 {
            Stage::MidReply
        } else {
            stage
        };
        let f = classify_io(e, stage);
        self.stats.note_errno(f, e);
        if f.class == ErrorClass::ConnReset && self.is_stale(s) {
            STALE
        } else {
            f
        }
    }
}

/// A non-blocking connect to `addr` with socket options set before it (the receive buffer
/// must be sized before the handshake for the window scale to follow it).
fn connect_with(
    addr: std::net::SocketAddr,
    opts: volley_config::SocketOptions,
) -> io::Result<TcpStream> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(
        Domain::for_address(addr),
        Type::STREAM.nonblocking(),
        Some(Protocol::TCP),
    )?;
    if let Some(n) = opts.send_buffer {
        socket.set_send_buffer_size(n as usize)?;
    }
    if let Some(n) = opts.recv_buffer {
        socket.set_recv_buffer_size(n as usize)?;
    }
    if opts.reset_on_close {
        // Closed with RST, leaving no TIME_WAIT (httperf's --close-with-reset).
        socket.set_linger(Some(std::time::Duration::ZERO))?;
    }
    match socket.connect(&addr.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc_einprogress()) => {}
        Err(e) => return Err(e),
    }
    Ok(TcpStream::from_std(std::net::TcpStream::from(socket)))
}

/// `EINPROGRESS`: a non-blocking connect under way.
fn libc_einprogress() -> i32 {
    nix::errno::Errno::EINPROGRESS as i32
}
