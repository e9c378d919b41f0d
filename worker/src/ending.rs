//! How a request ends: exactly one reply, one failure (class and detail), one retry of a
//! request whose kept-alive connection had been closed by the server, or one abort when
//! the run stops. Also the watchdog deadlines of each phase.

use volley_config::spec::MAX_SESSION_RETRIES;
use volley_scoreboard::{Counter, ErrorClass};

use crate::event_loop::Worker;
use crate::exchange::State;
use crate::outcome::{self, Failure, HANDSHAKE_TIMEOUT, STALE, Stage, TimeoutPhase, UNSOLICITED};
use crate::pace;
use crate::slot::Phase;
use crate::stats::record_ns;

/// Sessions with more replies than this share the last bin of the session-length
/// histogram.
pub const MAX_SESSION_LENGTH_BIN: usize = 1000;

/// How long a slot waits before its next request after the client itself ran short of
/// file descriptors or ports: long enough not to spin, short enough to notice recovery.
pub const GENERATOR_BACKOFF_NS: u64 = 10_000_000;

impl Worker<'_> {
    /// httperf's `--retry-on-failure` is on for this run's sessions.
    fn retry_on_failure(&self) -> bool {
        self.plan
            .spec
            .open_loop
            .as_ref()
            .and_then(|o| o.sessions)
            .is_some_and(|r| r.retry_on_failure)
    }

    /// Counts a reply and readies the slot for its next request.
    pub(crate) fn complete(&mut self, s: u32, status: u16, reusable: bool, now: u64) {
        self.observe_reply_end(s);
        let times = &self.slots[s as usize].exchange.times;
        self.waiter
            .note_round_trip(times.first_byte.saturating_sub(times.written));
        let r = &mut self.slots[s as usize].exchange.result;
        r.status = status;
        r.end_ns = now;
        r.post_delay = 0;
        // A reply the `req_done` hook rejects counts as a failure, not as a reply.
        let rejected = self.judge_reply(s);
        let rules = self.plan.spec.open_loop.as_ref().and_then(|o| o.sessions);
        let bad_status = rules.is_some_and(|r| r.failure_status == Some(status));
        match rejected {
            Some(f) => {
                self.stats.failed(f);
                self.slots[s as usize].exchange.result.error = Some(f);
            }
            None => self.record_reply(s, status, now),
        }
        let slot = &mut self.slots[s as usize];
        slot.deadline_ns = 0;
        slot.exchange.end();
        slot.buf.reply_done(slot.exchange.reply_bytes);
        let mut used_up = false;
        let per_conn = self.plan.spec.conn_requests;
        if let Some(conn) = self.conn_mut(s) {
            conn.completed += 1;
            used_up = per_conn.is_some_and(|n| conn.completed >= u64::from(n));
        }
        // A request that said `Connection: close` ends its connection whatever the
        // server answered (RFC 9112 §9.6).
        let sched = &self.slots[s as usize].sched;
        let store = sched.spec(&self.plan).keepalive.store && !sched.wire(&self.plan).closes;
        let keep = reusable && store && !used_up;
        if sched.queued() > 0 {
            return self.complete_in_burst(s, keep, bad_status, now);
        }
        if !keep {
            self.close_conn(s, now);
        } else if self.cache.is_some() {
            // A run file's: kept for any slot's next request to the address.
            self.store_conn(s, now);
        }
        // A call of a burst spread over a session's connections (`crate::lanes`).
        if let Some(leader) = self.slots[s as usize].lane_of {
            return self.lane_call_done(s, leader, bad_status, now);
        }
        let sched = &mut self.slots[s as usize].sched;
        if sched.session.as_ref().is_some_and(|x| x.burst_open) {
            return self.burst_call_done(s, bad_status, now);
        }
        if bad_status || sched.session.as_ref().is_some_and(|s| s.failed) {
            return self.failure_status(s, bad_status, now);
        }
        let location = &self.slots[s as usize].exchange.result.location;
        let follow = match rejected {
            Some(_) => None,
            None => self.slots[s as usize]
                .sched
                .redirect_target(&self.plan, status, location),
        };
        let sched = &mut self.slots[s as usize].sched;
        let session_over = match sched.session.as_mut() {
            Some(sess) => {
                sess.replies += 1;
                follow.is_none() && sess.left == 0
            }
            None => false,
        };
        let post = if follow.is_some() || session_over {
            // No think time after a session's last request: the slot is free at once.
            0
        } else {
            sched.draw_post_delay(&self.plan)
        };
        sched.follow = follow;
        if session_over {
            self.session_ended(s, true, now);
            if rules.is_some() {
                // An httperf session has connections of its own.
                self.close_conn(s, now);
            }
        }
        self.slots[s as usize].exchange.result.post_delay = post;
        self.emit(s, now);
        self.after_request(s, post, now);
    }

    /// Counts a reply of `status` that ended at `now` in the latency histograms, per
    /// outcome: fast 4xx/5xx replies must not pull the success percentiles down (nor
    /// slow ones push them up).
    fn record_reply(&mut self, s: u32, status: u16, now: u64) {
        self.stats.tick_series(now);
        let slot = &self.slots[s as usize];
        let times = &slot.exchange.times;
        let reply_ns = now.saturating_sub(times.sent);
        if status < 400 {
            let first_byte_ns = times.first_byte.saturating_sub(times.sent);
            record_ns(&mut self.stats.first_byte, first_byte_ns);
            self.stats.record_reply_ns(reply_ns);
            if let Some(due) = slot.sched.due_ns() {
                // From when it was due: a server stall shows in every request it delayed.
                self.stats.response.record_ns(now.saturating_sub(due));
            } else if let Some(interval) = slot.pace.stalled(reply_ns / 1_000) {
                // A closed loop: the requests the slot would have sent meanwhile.
                let missed = self.stats.reply_missed.get_or_make();
                pace::record_missed(missed, reply_ns / 1_000, interval);
            }
        } else {
            self.stats.reply_error.record_ns(reply_ns);
        }
        let f = &mut self.stats.figures;
        f.transfers += 1;
        f.transfer_ns = f
            .transfer_ns
            .saturating_add(now.saturating_sub(times.first_byte));
        f.footer_bytes += slot.exchange.trailer_bytes() as u64;
        self.stats.add(Counter::RequestsSucceeded, 1);
        self.stats.add(Counter::for_status(status), 1);
        self.stats.statuses.add(status);
    }

    /// A reply with requests pipelined behind it: on a connection that stays (`keep`)
    /// the caller reads the next reply (post-delay, session end and the rest wait for
    /// the last); otherwise the queued requests get no reply (each is counted, none is
    /// lost) and the slot moves on.
    fn complete_in_burst(&mut self, s: u32, keep: bool, bad_status: bool, now: u64) {
        if self.spread {
            // A call of a burst spread over the session's connections (`crate::lanes`).
            self.spread_reply_in_burst(s, bad_status, now);
            if !keep {
                self.spread_burst_cut(s, outcome::eof(Stage::BeforeReply), now);
            }
            return;
        }
        if keep {
            if let Some(sess) = self.slots[s as usize].sched.session.as_mut() {
                sess.replies += 1;
                // The session fails once the burst is read (no retry of pipelined calls).
                sess.failed |= bad_status;
            }
            self.emit(s, now);
            return;
        }
        self.close_conn(s, now);
        if let Some(sess) = self.slots[s as usize].sched.session.as_mut() {
            sess.replies += 1;
        }
        self.emit(s, now);
        let status = self.slots[s as usize].exchange.result.status;
        self.fail_burst(s, outcome::eof(Stage::BeforeReply), now);
        let slot = &mut self.slots[s as usize];
        slot.exchange.result.error = None;
        slot.exchange.result.status = status;
        if slot.sched.session.is_some() {
            slot.sched.end_session();
            self.session_ended(s, false, now);
        }
        self.after_request(s, 0, now);
    }

    /// httperf sessions: a reply with the failure status (`bad_status`), or the end of a
    /// burst one of whose replies had it. The reply counts as a reply; the call is made
    /// again at once under `--retry-on-failure` (not for a pipelined burst, and at most
    /// [`MAX_SESSION_RETRIES`] times), else the session fails and its connection closes.
    fn failure_status(&mut self, s: u32, bad_status: bool, now: u64) {
        let retry_on = self.retry_on_failure();
        let sched = &mut self.slots[s as usize].sched;
        let pipelined = sched.burst.as_ref().is_some_and(|b| b.pipelined);
        let Some(sess) = sched.session.as_mut() else {
            return;
        };
        let in_burst = std::mem::take(&mut sess.failed) | pipelined;
        sess.replies += 1;
        if bad_status && !in_burst && retry_on && sess.retries < MAX_SESSION_RETRIES {
            sched.redo_call();
        } else {
            self.close_conn(s, now);
            self.slots[s as usize].sched.end_session();
            self.session_ended(s, false, now);
        }
        self.emit(s, now);
        self.after_request(s, 0, now);
    }

    /// Pipelining: every request still queued behind the current one fails with `f`
    /// (counted and logged one by one).
    pub(crate) fn fail_burst(&mut self, s: u32, f: Failure, now: u64) {
        while self.slots[s as usize].sched.next_queued() {
            let ex = &mut self.slots[s as usize].exchange;
            ex.times.first_byte = 0;
            ex.times.head_done = 0;
            ex.result.reset();
            ex.result.error = Some(f);
            ex.result.end_ns = now;
            self.stats.failed(f);
            self.emit(s, now);
        }
        if let Some(b) = self.slots[s as usize].sched.burst.as_mut() {
            b.bytes.clear();
        }
    }

    /// Pipelining: requests still queued when the run stops are aborted (counted and
    /// logged one by one).
    pub(crate) fn abort_burst(&mut self, s: u32, now: u64) {
        while self.slots[s as usize].sched.next_queued() {
            self.stats.add(Counter::RequestsAborted, 1);
            self.record_abort(s, now);
        }
        if let Some(b) = self.slots[s as usize].sched.burst.as_mut() {
            b.bytes.clear();
        }
    }

    /// Open loop: slot `s`'s session is over, every request replied to (`ok`) or one
    /// failed.
    pub(crate) fn session_ended(&mut self, s: u32, ok: bool, now: u64) {
        let Some(sess) = self.slots[s as usize].sched.session.as_ref() else {
            return;
        };
        let life = now.saturating_sub(sess.start_ns);
        self.stats.session_conns += sess.conns;
        // Its connections end with it (an httperf session's lanes, if any).
        self.close_lane_conns(s, now);
        let Some(sess) = self.slots[s as usize].sched.session.as_ref() else {
            return;
        };
        let bin = (sess.replies as usize).min(MAX_SESSION_LENGTH_BIN);
        if self.stats.session_lengths.len() <= bin {
            self.stats.session_lengths.resize(bin + 1, 0);
        }
        self.stats.session_lengths[bin] += 1;
        if ok {
            self.stats.add(Counter::SessionsOk, 1);
            self.stats.session_life.record_ns(life);
        } else {
            self.stats.add(Counter::SessionsFailed, 1);
            self.stats.session_fail.record_ns(life);
        }
    }

    /// After a request: wait the post-delay, or be ready at once; a slot a hook asked to
    /// end is done.
    pub(crate) fn after_request(&mut self, s: u32, post_ns: u64, now: u64) {
        if self.slots[s as usize].sched.done_after {
            self.close_conn(s, now);
            self.finish_slot(s);
        } else if post_ns > 0 {
            self.slots[s as usize].phase = Phase::PostDelay;
            self.arm(s, now.saturating_add(post_ns));
        } else {
            self.slots[s as usize].phase = Phase::Ready;
            self.enqueue(s);
        }
    }

    /// Logs slot `s`'s request in flight as aborted (the run stopped).
    pub(crate) fn record_abort(&mut self, s: u32, now: u64) {
        self.slots[s as usize].exchange.result.aborted = true;
        self.emit(s, now);
    }

    /// Ends the request in flight with `f`: counted once, connection closed, slot readied
    /// (or put in backoff when the client itself ran short). A `stale-conn` of an
    /// idempotent request is not counted but retried once on a new connection
    /// (RFC 9112 §9.3.1); its retry cannot be stale again, having a fresh connection.
    pub(crate) fn fail(&mut self, s: u32, f: Failure, now: u64) {
        self.observe_failure(s);
        // No reply on the connection yet (or no connection at all).
        let first_on_conn = self.conn_mut(s).is_none_or(|c| c.completed == 0);
        self.close_conn(s, now);
        let slot = &mut self.slots[s as usize];
        let idempotent = slot.sched.wire(&self.plan).idempotent;
        let alone = slot.sched.queued() == 0;
        slot.deadline_ns = 0;
        slot.exchange.end();
        if (f == STALE || f == UNSOLICITED) && idempotent && alone {
            slot.sched.retrying = true;
            self.stats.add(Counter::RequestsRetried, 1);
            slot.phase = Phase::Ready;
            self.enqueue(s);
            return;
        }
        self.stats.failed(f);
        let r = &mut self.slots[s as usize].exchange.result;
        r.error = Some(f);
        r.end_ns = now;
        r.post_delay = 0;
        // A call of a burst spread over a session's connections (`crate::lanes`).
        if let Some(leader) = self.slots[s as usize].lane_of {
            return self.lane_call_failed(s, leader, f, now);
        }
        if self.slots[s as usize]
            .sched
            .session
            .as_ref()
            .is_some_and(|x| x.burst_open)
        {
            return self.burst_call_failed(s, f, now);
        }
        // httperf's --retry-on-failure: a session's new connection that fails before any
        // reply is made again (a timeout still fails the session).
        let redo = self.retry_on_failure()
            && first_on_conn
            && alone
            && f.class != ErrorClass::ClientTimo
            && !f.class.is_generator_fault()
            && self.slots[s as usize]
                .sched
                .session
                .as_ref()
                .is_some_and(|s| s.retries < MAX_SESSION_RETRIES);
        if redo {
            self.slots[s as usize].sched.redo_call();
            self.emit(s, now);
            self.after_request(s, 0, now);
            return;
        }
        if self.slots[s as usize].sched.session.is_some() {
            // A failed request ends its open-loop session (its connection is gone).
            self.slots[s as usize].sched.end_session();
            self.session_ended(s, false, now);
        }
        if !alone {
            // Pipelined requests behind this one shared its connection: they fail too.
            self.emit(s, now);
            self.fail_burst(s, f, now);
            self.after_request(s, 0, now);
            return;
        }
        if f.class.is_generator_fault() {
            self.emit(s, now);
            self.slots[s as usize].phase = Phase::Backoff;
            self.arm(s, now.saturating_add(GENERATOR_BACKOFF_NS));
            return;
        }
        let post = self.slots[s as usize].sched.draw_post_delay(&self.plan);
        self.slots[s as usize].exchange.result.post_delay = post;
        self.emit(s, now);
        self.after_request(s, post, now);
    }

    /// The deadline of slot `s` has passed: a request in flight fails as `client-timo`
    /// of the phase whose deadline it was; a backoff ends.
    pub(crate) fn deadline_reached(&mut self, s: u32, now: u64) {
        let slot = &mut self.slots[s as usize];
        match slot.phase {
            Phase::Backoff | Phase::PostDelay => {
                slot.deadline_ns = 0;
                slot.phase = Phase::Ready;
                self.enqueue(s);
            }
            Phase::PreDelay => {
                slot.deadline_ns = 0;
                self.scheduled_slots -= 1;
                self.begin(s, false, now);
            }
            Phase::Busy => self.request_deadline(s, now),
            _ => slot.deadline_ns = 0,
        }
    }

    /// The deadline of slot `s`'s request in flight has passed.
    fn request_deadline(&mut self, s: u32, now: u64) {
        let ex = &mut self.slots[s as usize].exchange;
        let receiving = matches!(ex.state, State::AwaitHead { .. } | State::Body { .. });
        if receiving
            && ex.continue_pending
            && self.slots[s as usize].deadline_phase == TimeoutPhase::ExpectWait
        {
            // No `100 Continue` in time: send the body anyway (RFC 9110 §10.1.1).
            self.slots[s as usize].exchange.resume_sending();
            self.rearm(s);
            self.watch_io(s);
            self.drive(s, now);
            return;
        }
        if self.waiter.sleeps() && receiving {
            // An open loop that slept through replies reads what came before this
            // wake-up first, as a loop woken by each reply would have: a reply that
            // arrived before its deadline is a reply.
            if let Some(conn) = self.conn_mut(s) {
                conn.readable = true;
            }
            self.drive(s, now);
            let slot = &self.slots[s as usize];
            if !slot.phase.in_request() || slot.deadline_ns == 0 || slot.deadline_ns > now {
                return;
            }
        }
        let connecting = matches!(self.slots[s as usize].exchange.state, State::Connecting);
        let handshaking = connecting
            && self
                .conn_mut(s)
                .and_then(|c| c.io.tls_mut())
                .is_some_and(|t| t.tcp_up);
        let f = if handshaking {
            HANDSHAKE_TIMEOUT
        } else {
            self.slots[s as usize].deadline_phase.failure()
        };
        self.fail(s, f, now);
    }

    /// Sets slot `s`'s watchdog from its exchange (see [`crate::exchange::Exchange::deadline`]).
    pub(crate) fn rearm(&mut self, s: u32) {
        let t = self.slots[s as usize].sched.spec(&self.plan).timeouts;
        match self.slots[s as usize].exchange.deadline(&t) {
            Some((deadline, phase)) => {
                self.slots[s as usize].deadline_phase = phase;
                self.arm(s, deadline);
            }
            None => self.slots[s as usize].deadline_ns = 0,
        }
    }

    /// Marks slot `s` done for the run.
    pub(crate) fn finish_slot(&mut self, s: u32) {
        let slot = &mut self.slots[s as usize];
        if matches!(slot.phase, Phase::Done) {
            return;
        }
        if slot.lane_of.is_some() {
            // A lane is part of its thread slot, which is counted.
            slot.phase = Phase::Done;
            slot.deadline_ns = 0;
            return;
        }
        let started = !matches!(slot.phase, Phase::Waiting);
        slot.phase = Phase::Done;
        slot.deadline_ns = 0;
        slot.sched.follow = None;
        self.done_slots += 1;
        if started {
            self.stats.sub(Counter::ThreadsActive, 1);
            self.stats.add(Counter::ThreadsDone, 1);
            self.observe_slot_end(s);
        }
    }
}
