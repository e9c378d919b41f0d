//! Wiring a slot: its schedule picks the next request, `begin` puts it on a kept or a new
//! connection, and `drive` advances its exchange and hands the outcome to `complete` or
//! `fail` (ending.rs).

use volley_scoreboard::{Counter, now_ns};

use crate::conn::{Conn, Transport};
use crate::event_loop::Worker;
use crate::exchange::{Capture, Io, Outcome, ReplyTap, Request};
use crate::hooks::Next;
use crate::http::take_cookie;
use crate::observe::Observers;
use crate::outcome::HOOK_REQUEST;
use crate::print::Printer;
use crate::slot::{Phase, PrintCall};
use crate::workload::Dynamic;

/// A session that starts more than this late against its schedule counts as late.
pub const LATE_NS: u64 = 1_000_000;

impl Worker<'_> {
    /// Picks slot `s`'s next request (a redirect to follow, the custom iterator's, the
    /// session's or the built-in iterator's next), draws its pre-delay and starts it, now
    /// or when the delay (or its arrival) comes. Starts the retry of the last request at
    /// once. Finishes the slot when the budget is spent, its rounds are done, or the run
    /// is stopping.
    pub(crate) fn start_request(&mut self, s: u32, now: u64) {
        if self.slots[s as usize].phase != Phase::Ready {
            return;
        }
        let retry = std::mem::take(&mut self.slots[s as usize].sched.retrying);
        if retry && !self.stopping {
            self.begin(s, true, now);
            return;
        }
        if let Some(leader) = self.slots[s as usize].lane_of
            && !retry
        {
            // A lane's calls are its session's to give (`crate::lanes`).
            return self.lane_idle(s, leader, now);
        }
        if self.stopping || self.budget == Some(0) || self.slots[s as usize].sched.done_after {
            if retry {
                // Counted as started before its connection went stale.
                self.stats.add(Counter::RequestsAborted, 1);
                self.slots[s as usize].exchange.result.aborted = true;
                self.emit(s, now);
            }
            return self.retire(s, now);
        }
        if !self.pick_next(s, now) {
            return self.retire(s, now);
        }
        if let Some(b) = self.budget.as_mut() {
            *b -= 1;
        }
        self.pick_burst(s);
        let sched = &mut self.slots[s as usize].sched;
        let pre = sched.cur.pre_delay_ns;
        let start_at = match sched.session.as_mut() {
            Some(sess) => {
                // The request is due after its pre-delay: lag and response count from
                // there.
                sess.due_ns = sess.due_ns.saturating_add(pre);
                sess.due_ns
            }
            None => now.saturating_add(pre),
        };
        if start_at > now {
            self.slots[s as usize].phase = Phase::PreDelay;
            self.scheduled_slots += 1;
            self.arm(s, start_at);
            return;
        }
        self.begin(s, retry, now);
    }

    /// Slot `s` is done: its connection closed, the slot finished.
    fn retire(&mut self, s: u32, now: u64) {
        self.close_conn(s, now);
        self.finish_slot(s);
    }

    /// Chooses slot `s`'s next request (its arrival first, in an open loop); false when
    /// there is none.
    fn pick_next(&mut self, s: u32, now: u64) -> bool {
        let start_ns = self.start_ns;
        let slot = &mut self.slots[s as usize];
        if let Some(arrivals) = self.arrivals.as_mut()
            && !slot
                .sched
                .next_in_session(&self.plan, arrivals, start_ns, now)
        {
            return false;
        }
        let status = slot.exchange.result.status;
        let sched = &mut slot.sched;
        if sched.take_follow(&self.plan, status) {
            true
        } else if !sched.session_picks(&self.plan) && self.obs.iterates() {
            self.pick_custom(s)
        } else {
            sched.pick(&self.plan)
        }
    }

    /// Pipelining: the requests written right after slot `s`'s current one (see
    /// [`crate::schedule::Schedule::pick_burst`]).
    fn pick_burst(&mut self, s: u32) {
        let slot = &mut self.slots[s as usize];
        if slot.sched.burst.is_none() {
            return;
        }
        // A connection that closes after `conn_requests` takes no more than that.
        let done_on_conn = slot
            .conn
            .and_then(|h| self.conns.get(h))
            .map_or(0, |c| c.completed);
        let room = self
            .plan
            .spec
            .conn_requests
            .map_or(u64::MAX, |n| u64::from(n).saturating_sub(done_on_conn + 1));
        // A hook's request goes alone, and so does a spread burst's first call (its
        // others go out when it ends, `crate::lanes`).
        let alone = self.obs.hooks.is_some() || self.spread;
        slot.sched
            .pick_burst(&self.plan, &mut self.budget, room, alone);
    }

    /// Pipelining: the next reply belongs to the next queued request; `buf[from..to]`
    /// already holds its first bytes (or none). False when no request is queued.
    pub(crate) fn next_in_burst(&mut self, s: u32, from: usize, to: usize, now: u64) -> bool {
        let stride = self.obs.printer.as_ref().map_or(0, |p| p.stride());
        let slot = &mut self.slots[s as usize];
        if !slot.sched.next_queued() {
            return false;
        }
        if let Some(p) = slot.print.as_mut() {
            p.id += stride;
        }
        slot.exchange.next_pipelined(&mut slot.buf, from, to, now);
        true
    }

    /// A custom iterator's next request; a new round (a fresh iterator) when it ends the
    /// round; false when the rounds are done or a fresh round is empty.
    fn pick_custom(&mut self, s: u32) -> bool {
        let len = self.plan.requests.len();
        let mut fresh_round = false;
        loop {
            let walk = &mut self.slots[s as usize].sched.walk;
            if walk.round == 0 || fresh_round {
                if self.plan.spec.rounds.is_some_and(|r| walk.round >= r) {
                    return false;
                }
                walk.round += 1;
                walk.taken = 0;
                fresh_round = true;
                self.with_ctx(s, |h, ctx, _| h.new_round(ctx));
            }
            let walk = self.slots[s as usize].sched.walk;
            let first = walk.round == 1 && walk.taken == 0;
            let next = self.with_ctx(s, |h, ctx, prev| {
                h.next(ctx, if first { None } else { prev })
            });
            let sched = &mut self.slots[s as usize].sched;
            match next {
                Some(Next::Entry(i)) if i < len => {
                    sched.cur.entry = i as u32;
                    sched.cur.dynamic = None;
                }
                Some(Next::Entry(_)) => {
                    // Out of the list: the iterator is wrong; end the slot rather than
                    // guess (counted as a finished slot).
                    return false;
                }
                Some(Next::Request(spec)) => {
                    sched.cur.entry = 0;
                    sched.cur.dynamic = Some(Box::new(Dynamic::new(*spec)));
                }
                None if fresh_round && sched.walk.taken == 0 => return false,
                None => {
                    fresh_round = true;
                    continue;
                }
            }
            sched.cur.index = sched.walk.taken;
            sched.walk.taken += 1;
            sched.cur.hop = 0;
            sched.draw_pre_delay(&self.plan);
            return true;
        }
    }

    /// Starts slot `s`'s current request: on a kept connection when the request may use
    /// one to its address (the slot's own, or for a run file one from the worker's
    /// keep-alive cache), else on a new one. A `req_start` hook sees it
    /// first and may edit it.
    pub(crate) fn begin(&mut self, s: u32, retry: bool, now: u64) {
        if !retry {
            self.request_started(s, now);
            self.open_burst(s);
        }
        if self.refuse_unsendable(s, now) {
            return;
        }
        self.observe_sending(s);
        let spec = self.slots[s as usize].sched.spec(&self.plan);
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
        // A run file's slot holds no connection between requests: it takes an idle one
        // to the address from the worker's cache. Not for a retry: its connection went
        // stale, and the retry goes on a new one.
        if use_kept && !retry && self.slots[s as usize].conn.is_none() {
            self.take_cached(s, now);
        }
        let slot = &mut self.slots[s as usize];
        let expect_continue = slot.sched.wire(&self.plan).expect_continue;
        let reused = slot.conn.is_some();
        slot.phase = Phase::Busy;
        slot.buf.filled = 0;
        slot.exchange.begin(now, reused, expect_continue);
        if let Some(conn) = slot.conn.and_then(|h| self.conns.get(h)) {
            slot.exchange.conn_no = conn.number;
        }
        if reused {
            self.stats.add(Counter::ConnsReused, 1);
        } else if let Err(f) = self.connect(s, addr, tls) {
            self.fail(s, f, now);
            return;
        }
        self.drive(s, now);
    }

    /// A request a hook made or edited that cannot be sent fails as `other/hook-request`
    /// before any byte goes out (the first reason is kept for the report). True if so.
    fn refuse_unsendable(&mut self, s: u32, now: u64) -> bool {
        let slot = &mut self.slots[s as usize];
        let Some(why) = slot
            .sched
            .cur
            .dynamic
            .as_ref()
            .and_then(|d| d.refused.as_ref())
        else {
            return false;
        };
        if self.stats.hook_refused.is_none() {
            self.stats.hook_refused = Some(why.clone());
        }
        let reused = slot.conn.is_some();
        slot.phase = Phase::Busy;
        slot.buf.filled = 0;
        slot.exchange.begin(now, reused, false);
        self.fail(s, HOOK_REQUEST, now);
        true
    }

    /// A new request (and those pipelined behind it) starts: counted, noted in the slot's
    /// pace (the closed loop's correction), the session's lag measured, shown to the
    /// `req_start` hook, the session's cookie added.
    fn request_started(&mut self, s: u32, now: u64) {
        let slot = &mut self.slots[s as usize];
        slot.pace.started(now);
        self.stats
            .add(Counter::RequestsStarted, 1 + slot.sched.queued() as u64);
        if let Some(sess) = slot.sched.session.as_mut()
            && std::mem::take(&mut sess.first)
        {
            // The session's first request: how late against its arrival.
            let lag = now.saturating_sub(sess.due_ns);
            self.stats.record_lag_ns(lag);
            if lag > LATE_NS {
                self.stats.late_starts += 1;
            }
        }
        self.observe_request_start(s);
        let sched = &mut self.slots[s as usize].sched;
        let queued = sched.queued();
        if let Some(b) = sched.burst.as_mut() {
            b.pipelined = queued > 0;
        }
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
                    let more = self.slots[s as usize].sched.queued() > 0;
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
            plan,
            obs,
            turn,
            waiter,
            ..
        } = self;
        let Observers {
            printer,
            log,
            hooks,
            ..
        } = obs;
        let slot = &mut slots[s as usize];
        let Some(conn) = slot.conn.and_then(|h| conns.get_mut(h)) else {
            return Outcome::Wait;
        };
        if !slot.exchange.busy() {
            return Outcome::Wait;
        }
        let sched = &mut slot.sched;
        let wire = match &sched.cur.dynamic {
            Some(d) => &d.wire,
            None => &plan.requests[sched.cur.entry as usize].wire,
        };
        let t = sched.spec(plan).timeouts;
        let idle_deadline = t.idle.is_some() || t.inactivity.is_some();
        let (bytes, more): (&[u8], bool) = match &sched.burst {
            Some(b) if !b.bytes.is_empty() => (&b.bytes, !b.queue.is_empty()),
            Some(b) => (&wire.bytes, !b.queue.is_empty()),
            None => (&wire.bytes, false),
        };
        let spec = plan.spec;
        let cookies = spec
            .open_loop
            .as_ref()
            .and_then(|o| o.sessions)
            .is_some_and(|r| r.cookies);
        let mut tap = SlotTap {
            print: printer.as_mut().zip(slot.print.as_mut()),
            cookie: sched
                .session
                .as_mut()
                .filter(|_| cookies)
                .map(|s| &mut s.cookie),
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
            clock: now_ns,
            turn: *turn,
            dating: waiter.dating(),
            tap: if taps { Some(&mut tap) } else { None },
            idle_deadline,
            more,
            details: (log.is_some() || hooks.is_some(), follows),
            capture: Capture {
                head: hooks.is_some(),
                body: hooks.as_ref().map_or(0, |(h, _)| h.capture_body()),
            },
        };
        let outcome = slot.exchange.advance(&mut io);
        if self.waiter.dating().is_some_and(|d| d.give_up) {
            self.waiter.wake_for_every_event();
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
}

/// The taps of a slot's reply: `--print-reply` and `--session-cookies`.
struct SlotTap<'a> {
    /// The printer and the call being printed.
    print: Option<(&'a mut Printer, &'a mut PrintCall)>,
    /// The session's cookie, taken from the final head's `Set-Cookie`.
    cookie: Option<&'a mut String>,
}

impl ReplyTap for SlotTap<'_> {
    fn head(&mut self, bytes: &[u8], head: &crate::http::ReplyHead) {
        if let Some((p, call)) = self.print.as_mut() {
            p.reply_head(call.id, bytes);
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
            .is_some_and(|(p, _)| p.reply_body_wanted())
    }

    fn body(&mut self, data: &[u8]) {
        if let Some((p, call)) = self.print.as_mut() {
            p.reply_body(call.id, &mut call.line, data);
        }
    }
}
