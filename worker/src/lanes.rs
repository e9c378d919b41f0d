//! httperf's `--max-connections`: a session's burst spread over up to N connections.
//!
//! httperf issues a session's call on the session's first connection with room for
//! another pipelined call (fewer than `--max-piped-calls` P pending; 1 over HTTP/1.0),
//! and opens another connection (up to `--max-connections` N) when none has room. A
//! burst of k calls (a session log's line and the indented lines under it, or
//! `--wsess`'s `--burst-length`) goes out as its first call alone (httperf's page before
//! its embedded objects), then the k - 1 others at once: P on the first connection, P on
//! the next, up to N connections; the think time starts when every call of the burst
//! has ended.
//!
//! volley spreads a burst this way when it has more calls than one connection
//! pipelines (`SessionRules::conns` > 0), and gives the run's thread slots N - 1 *lanes*
//! each: slots after the thread slots, each with its own connection, exchange and
//! buffer, driven like any slot. The thread slot runs the session (its arrival, its
//! first call of each burst, its accounting); when a burst's first call ends, the slot
//! takes the next P calls (pipelined on its connection) and its idle lanes P each in
//! turn, and a connection whose calls have all ended takes the burst's next ones (httperf
//! adds a call to the first connection with room at once; volley waits until a
//! connection's pipelined calls have ended). A lane's replies, connections and failure
//! are its session's. The thread slot whose calls end first waits (`Joining`) for its
//! lanes' calls; the last call to end closes the burst: the think time, or the end of
//! the session (a failed session fails at its first failure, its other calls still
//! counted as they end).
//!
//! Nothing here runs for other workloads: without `SessionRules::conns` no burst opens.

use volley_config::RunSpec;

use crate::event_loop::Worker;
use crate::outcome::Failure;
use crate::slot::Phase;
use crate::workload::draw_delay;

/// Lanes each thread slot of `spec` gets: `--max-connections` - 1 for httperf sessions
/// whose bursts are spread, else 0.
pub(crate) fn lanes_per_slot(spec: &RunSpec) -> u32 {
    spec.open_loop
        .as_ref()
        .filter(|o| !o.bursts.is_empty())
        .and_then(|o| o.sessions)
        .map_or(0, |r| r.conns.saturating_sub(1))
}

/// Whether `spec`'s httperf sessions spread their bursts over connections (see the
/// module doc).
pub(crate) fn spreads(spec: &RunSpec) -> bool {
    spec.open_loop
        .as_ref()
        .filter(|o| !o.bursts.is_empty())
        .and_then(|o| o.sessions)
        .is_some_and(|r| r.conns > 0)
}

impl Worker<'_> {
    /// Thread slot `s` begins its current call: when it starts a burst of several calls
    /// and the run spreads bursts, the burst opens. As in httperf, the burst's first
    /// call goes alone (a page before its embedded objects); when it ends, the others go
    /// out together over the session's connections ([`Worker::burst_call_done`]).
    pub(crate) fn open_burst(&mut self, s: u32) {
        if !self.spread {
            return;
        }
        let slot = &mut self.slots[s as usize];
        if slot.lane_of.is_some() {
            return;
        }
        let entry = slot.sched.cur.entry;
        let Some(sess) = slot.sched.session.as_mut() else {
            return;
        };
        if sess.burst_open {
            // A call of the open burst.
            return;
        }
        let members = self
            .plan
            .spec
            .open_loop
            .as_ref()
            .and_then(|o| o.bursts.get(entry as usize).copied())
            .unwrap_or(0)
            .min(sess.left);
        if members == 0 {
            return;
        }
        sess.burst_open = true;
        sess.burst_left = members;
        sess.burst_last = entry;
        sess.in_lanes = 0;
    }

    /// Hands the open burst's calls not issued yet to slot `s`'s idle lanes.
    pub(crate) fn dispatch_lanes(&mut self, s: u32, now: u64) {
        let (first, end) = self.slots[s as usize].lanes;
        for lane in first..end {
            if self.slots[lane as usize].phase == Phase::Lane && !self.issue_call(s, lane, now) {
                return;
            }
        }
    }

    /// The open burst of thread slot `s` issues its next calls on slot `on` (`s` itself
    /// or one of its lanes), whose connection has no call pending: up to `pipeline`
    /// of them, pipelined; false when no call is left.
    fn issue_call(&mut self, s: u32, on: u32, now: u64) -> bool {
        let sess_open = self.slots[s as usize]
            .sched
            .session
            .as_ref()
            .is_some_and(|x| x.burst_open && !x.failed);
        if !sess_open || self.stopping {
            return false;
        }
        let Some(entry) = self.slots[s as usize].sched.next_burst_call(&self.plan) else {
            return false;
        };
        if on != s {
            let [leader, lane] = self
                .slots
                .get_disjoint_mut([s as usize, on as usize])
                .expect("a lane is not its thread slot");
            let (Some(from), Some(to)) =
                (leader.sched.session.as_mut(), lane.sched.session.as_mut())
            else {
                return false;
            };
            if lane.phase == Phase::Lane {
                from.in_lanes += 1;
                lane.phase = Phase::Ready;
            }
            // The session's cookie goes with its calls.
            to.cookie.clone_from(&from.cookie);
        }
        self.slots[on as usize].sched.take_call(entry, now);
        self.pipeline_calls(s, on);
        self.begin(on, false, now);
        true
    }

    /// Slot `on` pipelines the open burst's next calls behind its current one, up to
    /// `pipeline` in all (its connection's room, as httperf's `--max-piped-calls`).
    fn pipeline_calls(&mut self, s: u32, on: u32) {
        let most = self.plan.spec.pipeline.saturating_sub(1);
        for _ in 0..most {
            if !self.slots[on as usize].sched.can_queue(&self.plan) {
                break;
            }
            let Some(entry) = self.slots[s as usize].sched.next_burst_call(&self.plan) else {
                break;
            };
            self.slots[on as usize].sched.queue_call(entry);
        }
        self.slots[on as usize].sched.lay_out_burst(&self.plan);
    }

    /// Thread slot `s`'s call of its open burst got a reply (`bad_status`: the failure
    /// status): its connection takes the burst's next call, or the slot waits for its
    /// lanes, or the burst is over.
    pub(crate) fn burst_call_done(&mut self, s: u32, bad_status: bool, now: u64) {
        if let Some(sess) = self.slots[s as usize].sched.session.as_mut() {
            sess.replies += 1;
            if bad_status {
                mark_failed(sess, now);
            }
        }
        self.emit(s, now);
        if self.issue_call(s, s, now) {
            // After the burst's first call, the others go out together.
            self.dispatch_lanes(s, now);
        } else {
            self.join_lanes(s, now);
        }
    }

    /// Thread slot `s`'s call of its open burst failed with `f` (counted, its
    /// connection closed): the calls pipelined behind it fail too, the session fails; it
    /// ends once its lanes' calls have.
    pub(crate) fn burst_call_failed(&mut self, s: u32, f: Failure, now: u64) {
        if let Some(sess) = self.slots[s as usize].sched.session.as_mut() {
            mark_failed(sess, now);
        }
        self.emit(s, now);
        self.fail_burst(s, f, now);
        self.join_lanes(s, now);
    }

    /// Slot `s` (a thread slot or a lane) got a reply with calls of the open burst
    /// pipelined behind it (`bad_status`: the failure status): counted in the session,
    /// which fails at a bad status (the calls under way still end).
    pub(crate) fn spread_reply_in_burst(&mut self, s: u32, bad_status: bool, now: u64) {
        let count = |sess: &mut crate::schedule::Session| {
            sess.replies += 1;
            if bad_status {
                mark_failed(sess, now);
            }
        };
        match self.slots[s as usize].lane_of {
            Some(leader) => self.report_to_session(s, leader, count),
            None => {
                if let Some(sess) = self.slots[s as usize].sched.session.as_mut() {
                    count(sess);
                }
            }
        }
        self.emit(s, now);
    }

    /// Slot `s`'s connection closed after a reply with calls of the open burst pipelined
    /// behind it (counted with [`Worker::spread_reply_in_burst`]): they get no reply
    /// (each counted as `f`) and the session fails.
    pub(crate) fn spread_burst_cut(&mut self, s: u32, f: Failure, now: u64) {
        self.close_conn(s, now);
        let status = self.slots[s as usize].exchange.result.status;
        self.fail_burst(s, f, now);
        let r = &mut self.slots[s as usize].exchange.result;
        r.error = None;
        r.status = status;
        match self.slots[s as usize].lane_of {
            Some(leader) => {
                self.report_to_session(s, leader, |sess| mark_failed(sess, now));
                self.lane_idle(s, leader, now);
            }
            None => {
                if let Some(sess) = self.slots[s as usize].sched.session.as_mut() {
                    mark_failed(sess, now);
                }
                self.join_lanes(s, now);
            }
        }
    }

    /// Lane `lane` of thread slot `s` got a reply: counted in the session, then its
    /// connection takes the burst's next call, or the lane waits for the next burst.
    pub(crate) fn lane_call_done(&mut self, lane: u32, s: u32, bad_status: bool, now: u64) {
        self.report_to_session(lane, s, |sess| {
            sess.replies += 1;
            if bad_status {
                mark_failed(sess, now);
            }
        });
        self.emit(lane, now);
        if !self.issue_call(s, lane, now) {
            self.lane_idle(lane, s, now);
        }
    }

    /// Lane `lane` of thread slot `s` failed its call with `f` (counted, its connection
    /// closed): the calls pipelined behind it fail too, the session fails.
    pub(crate) fn lane_call_failed(&mut self, lane: u32, s: u32, f: Failure, now: u64) {
        self.report_to_session(lane, s, |sess| mark_failed(sess, now));
        self.emit(lane, now);
        self.fail_burst(lane, f, now);
        self.lane_idle(lane, s, now);
    }

    /// What lane `lane` learned goes to thread slot `s`'s session: the connections it
    /// opened and the cookie it got, then `f`.
    fn report_to_session(
        &mut self,
        lane: u32,
        s: u32,
        f: impl FnOnce(&mut crate::schedule::Session),
    ) {
        let Ok([leader, lane]) = self.slots.get_disjoint_mut([s as usize, lane as usize]) else {
            return;
        };
        let (Some(to), Some(from)) = (leader.sched.session.as_mut(), lane.sched.session.as_mut())
        else {
            return;
        };
        to.conns += std::mem::take(&mut from.conns);
        if from.cookie != to.cookie {
            to.cookie.clone_from(&from.cookie);
        }
        f(to);
    }

    /// Lane `lane` has no call of the burst left: it waits for the next one; the last
    /// lane to end lets a waiting thread slot `s` close the burst.
    pub(crate) fn lane_idle(&mut self, lane: u32, s: u32, now: u64) {
        let slot = &mut self.slots[lane as usize];
        if slot.phase == Phase::Done {
            return;
        }
        slot.phase = Phase::Lane;
        slot.deadline_ns = 0;
        let leader = &mut self.slots[s as usize];
        let Some(sess) = leader.sched.session.as_mut() else {
            return;
        };
        sess.in_lanes = sess.in_lanes.saturating_sub(1);
        if sess.in_lanes == 0 && leader.phase == Phase::Joining {
            self.close_burst(s, now);
        }
    }

    /// Thread slot `s`'s own calls of the burst are over: it closes the burst now, or
    /// when its lanes' last call ends.
    fn join_lanes(&mut self, s: u32, now: u64) {
        let slot = &mut self.slots[s as usize];
        slot.deadline_ns = 0;
        if slot.sched.session.as_ref().is_some_and(|x| x.in_lanes > 0) {
            slot.phase = Phase::Joining;
            return;
        }
        self.close_burst(s, now);
    }

    /// Every call of thread slot `s`'s open burst has ended: the session goes on after
    /// the burst's think time, or it is over (every call replied to, or one failed).
    fn close_burst(&mut self, s: u32, now: u64) {
        let plan = &self.plan;
        let slot = &mut self.slots[s as usize];
        let Some(sess) = slot.sched.session.as_mut() else {
            return;
        };
        sess.burst_open = false;
        sess.burst_left = 0;
        let failed = std::mem::take(&mut sess.failed);
        if failed || sess.left == 0 {
            let at = if failed {
                sess.failed_ns.max(sess.start_ns)
            } else {
                now
            };
            sess.left = 0;
            self.close_conn(s, now);
            self.session_ended(s, !failed, at);
            return self.after_request(s, 0, now);
        }
        let post = plan
            .requests
            .get(sess.burst_last as usize)
            .map_or(0, |p| match p.spec.post {
                d if d.is_zero() => 0,
                d => draw_delay(d, &mut slot.sched.rng),
            });
        self.after_request(s, post, now);
    }

    /// Closes the connections of thread slot `s`'s lanes (its session is over).
    pub(crate) fn close_lane_conns(&mut self, s: u32, now: u64) {
        let (first, end) = self.slots[s as usize].lanes;
        for lane in first..end {
            self.close_conn(lane, now);
        }
    }
}

/// The session fails at `now` (its first failure counts): no more of its calls go out.
fn mark_failed(sess: &mut crate::schedule::Session, now: u64) {
    if !sess.failed {
        sess.failed = true;
        sess.failed_ns = now;
    }
    sess.burst_left = 0;
}
