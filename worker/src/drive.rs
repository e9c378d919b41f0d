//! Driving a slot through one request: connect or reuse, send, read the head, read the
//! body, then count exactly one outcome (a reply, an error, or an abort at stop).

use std::io;

use mio::net::TcpStream;
use volley_scoreboard::Counter;

use crate::arrivals::SESSION_STREAM_BASE;
use crate::conn::{Conn, Transport, enable_rx_stamps};
use crate::event_loop::Worker;
use crate::exchange::{Io, Outcome, ReplyTap, Request};
use crate::hooks::{Ctx, Next, Prev, SlotHooks};
use crate::http::request::serialize;
use crate::http::take_cookie;
use crate::outcome::{Failure, NO_TLS_CONFIG, Stage, classify_io};
use crate::print::Printer;
use crate::record::make_record;
use crate::rng::stream_rng;
use crate::slot::{Phase, Queued};
use crate::tls::TlsStream;
use crate::workload::{Dynamic, Walk, draw_delay, redirect_to, spec_of, wire_of};

/// A session that starts more than this late against its schedule counts as late.
pub const LATE_NS: u64 = 1_000_000;

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
                self.slots[s as usize].exchange.result.aborted = true;
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
            let hop = redirect_to(
                spec_of(&self.requests, slot),
                slot.exchange.result.status,
                to,
            );
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
    /// already holds its first bytes (or none). False when no request is queued.
    pub(crate) fn next_in_burst(&mut self, s: u32, from: usize, to: usize, now: u64) -> bool {
        let stride = self.printer.as_ref().map_or(0, |p| p.stride());
        let slot = &mut self.slots[s as usize];
        let Some(q) = slot.burst.pop_front() else {
            return false;
        };
        slot.entry = q.entry;
        slot.index = q.index;
        slot.pre_delay_ns = 0;
        slot.call_id += stride;
        slot.exchange.next_pipelined(&mut slot.buf, from, to, now);
        true
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
        let reason = std::mem::take(&mut self.slots[s as usize].exchange.result.reason);
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
        slot.exchange.result.reason = reason;
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
            #[cfg(test)]
            Transport::Script(_) => !tls,
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
        let reused = slot.conn.is_some();
        slot.phase = Phase::Busy;
        slot.buf.filled = 0;
        slot.exchange.begin(now, reused, expect_continue);
        if reused {
            self.stats.add(Counter::ConnsReused, 1);
        } else if let Err(f) = self.connect(s, addr, tls) {
            self.fail(s, f, now);
            return;
        }
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
            match std::io::Read::read(&mut conn.io, &mut slot.buf.bytes) {
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
            Err(e) => return Err(self.connect_failure(&e)),
        };
        let io = if tls {
            let Some(config) = self.tls.as_ref() else {
                return Err(NO_TLS_CONFIG);
            };
            let host = &spec_of(&self.requests, &self.slots[s as usize]).target.host;
            match TlsStream::new(stream, config, host) {
                Ok(t) => Transport::Tls(Box::new(t)),
                Err(e) => return Err(self.connect_failure(&e)),
            }
        } else {
            if self.dating.is_some() {
                // Replies may be read well after they arrive: date them by the kernel.
                enable_rx_stamps(&stream).map_err(|e| self.connect_failure(&e))?;
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
        // The request (or the ClientHello) is tried at once (`Conn::new` marks the socket
        // writable): a connect that is already done (loopback, often) then needs no
        // wake-up of its own; one still under way makes the write return EAGAIN, and the
        // writable edge follows.
        self.register(h).map_err(|e| classify_io(&e, Stage::Send))?;
        Ok(())
    }

    /// Advances slot `s`'s exchange as far as its connection's readiness allows, and
    /// counts its outcome: a reply (then the next pipelined one, if any) or a failure.
    pub(crate) fn drive(&mut self, s: u32, now: u64) {
        loop {
            match self.advance(s, now) {
                Outcome::Wait => return,
                Outcome::Failed(f, at) => return self.fail(s, f, at),
                Outcome::Reply {
                    status,
                    reusable,
                    at,
                    rest: (from, to),
                } => {
                    let more = !self.slots[s as usize].burst.is_empty();
                    self.complete(s, status, reusable, at);
                    if !(reusable && more && self.next_in_burst(s, from, to, at)) {
                        return;
                    }
                }
            }
        }
    }

    /// One [`Exchange::advance`] of slot `s` with what it borrows; then the deadline is
    /// re-armed and the loop told to watch the socket, as the exchange asks.
    fn advance(&mut self, s: u32, now: u64) -> Outcome {
        let Worker {
            slots,
            conns,
            stats,
            requests,
            printer,
            spec,
            turn,
            dating,
            log,
            hooks,
            ..
        } = self;
        let slot = &mut slots[s as usize];
        let Some(conn) = slot.conn.and_then(|h| conns.get_mut(h)) else {
            return Outcome::Wait;
        };
        if !slot.exchange.busy() {
            return Outcome::Wait;
        }
        let (wire, rspec) = match &slot.dynamic {
            Some(d) => (&d.wire, &d.spec),
            None => {
                let p = &requests[slot.entry as usize];
                (&p.wire, &p.spec)
            }
        };
        let bytes: &[u8] = if slot.burst_bytes.is_empty() {
            &wire.bytes
        } else {
            &slot.burst_bytes
        };
        let cookies = spec
            .open_loop
            .as_ref()
            .and_then(|o| o.sessions)
            .is_some_and(|r| r.cookies);
        let mut tap = SlotTap {
            print: printer
                .as_mut()
                .map(|p| (p, slot.call_id, &mut slot.print_line)),
            cookie: cookies.then_some(&mut slot.cookie),
        };
        let taps = tap.print.is_some() || tap.cookie.is_some();
        let follows = spec.iterator.follows() || hooks.is_some();
        let mut io = Io {
            conn,
            buf: &mut slot.buf,
            req: Request {
                bytes,
                head_len: wire.head_len,
                is_head: wire.is_head,
            },
            limits: &spec.limits,
            stats,
            now,
            turn: *turn,
            dating: dating.as_mut(),
            tap: if taps { Some(&mut tap) } else { None },
            idle_deadline: rspec.timeouts.idle.is_some(),
            more: !slot.burst.is_empty(),
            details: (log.is_some() || hooks.is_some(), follows),
        };
        let outcome = slot.exchange.advance(&mut io);
        if dating.as_ref().is_some_and(|d| d.give_up) {
            self.stop_sleeping_through_replies();
        }
        let ex = &mut self.slots[s as usize].exchange;
        let (rearm, watch) = (ex.take_rearm(), ex.take_watch());
        if rearm {
            self.rearm(s);
        }
        if watch {
            self.watch_io(s);
        }
        outcome
    }

    /// The failure of a connect that could not even start.
    fn connect_failure(&mut self, e: &io::Error) -> Failure {
        let f = classify_io(e, Stage::Send);
        self.stats.note_errno(f, e);
        f
    }

    pub(crate) fn conn_mut(&mut self, s: u32) -> Option<&mut Conn> {
        let h = self.slots[s as usize].conn?;
        self.conns.get_mut(h)
    }
}

/// The taps of a slot's reply: `--print-reply` and `--session-cookies`.
struct SlotTap<'a> {
    /// The printer, the call's number and the partial body line.
    print: Option<(&'a mut Printer, u64, &'a mut Vec<u8>)>,
    /// The session's cookie, taken from the final head's `Set-Cookie`.
    cookie: Option<&'a mut String>,
}

impl ReplyTap for SlotTap<'_> {
    fn head(&mut self, bytes: &[u8], head: &crate::http::ReplyHead) {
        if let Some((p, id, _)) = self.print.as_mut() {
            p.reply_head(*id, bytes);
        }
        if let Some(cookie) = self.cookie.as_mut()
            && !head.is_interim()
        {
            take_cookie(bytes, cookie);
        }
    }

    fn wants_body(&self) -> bool {
        self.print
            .as_ref()
            .is_some_and(|(p, ..)| p.reply_body_wanted())
    }

    fn body(&mut self, data: &[u8]) {
        if let Some((p, id, line)) = self.print.as_mut() {
            p.reply_body(*id, line, data);
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
