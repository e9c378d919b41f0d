//! What a slot does next: which request (the URL list's iterator, a session's calls, a
//! redirect to follow, a retry), when (pre- and post-delays, open-loop arrivals), and
//! what is pipelined behind it.
//!
//! A [`Schedule`] belongs to one slot. It knows the run's workload ([`Plan`]: the spec
//! and the URL list serialized once) but nothing of connections or the event loop: the
//! worker asks it for the next request and tells it how each one ended. Modes are the
//! presence of their state: a slot of an open loop has a [`Session`], a slot of a
//! pipelining run a [`Burst`].

use std::collections::VecDeque;

use rand_chacha::ChaCha8Rng;
use volley_config::{Arrival, RequestSpec, RunSpec, Sequence, Target};

use crate::arrivals::{Arrivals, SESSION_STREAM_BASE};
use crate::http::request::WireRequest;
use crate::rng::stream_rng;
use crate::workload::{
    Dynamic, Prepared, Walk, draw_delay, is_redirect, redirect_to, resolve_location,
};

/// The run's workload as every slot sees it: the spec and the URL list, serialized once.
#[derive(Debug)]
pub struct Plan<'a> {
    /// The run.
    pub spec: &'a RunSpec,
    /// The URL list, serialized.
    pub requests: Vec<Prepared>,
}

impl<'a> Plan<'a> {
    /// The plan of `spec`: its URL list serialized.
    pub fn new(spec: &'a RunSpec) -> Self {
        Plan {
            spec,
            requests: spec.requests.iter().map(Prepared::new).collect(),
        }
    }
}

/// A pipelined request waiting for its reply: a URL-list entry.
#[derive(Debug, Clone, Copy)]
pub struct Queued {
    /// Its URL-list entry.
    pub entry: u32,
    /// Its index for the log.
    pub index: u32,
}

/// The request a slot runs now (or ran last).
#[derive(Debug, Default)]
pub struct Current {
    /// The URL-list entry (of the chain's first request for a redirect).
    pub entry: u32,
    /// What the log shows as the request's index: the list entry, or the position in
    /// the round of a custom iterator's request.
    pub index: u32,
    /// Redirects followed since the list entry (0 = the entry itself).
    pub hop: u32,
    /// The request when it is not the list entry as configured: a redirect hop, a custom
    /// iterator's request, or one a hook edited.
    pub dynamic: Option<Box<Dynamic>>,
    /// Pre-delay drawn for it, ns.
    pub pre_delay_ns: u64,
}

/// An open-loop session: the requests of one arrival, on the slot that took it.
#[derive(Debug, Default)]
pub struct Session {
    /// Global number of the arrival.
    pub arrival: u64,
    /// Requests of the session still to start (0: take the next arrival).
    pub left: u32,
    /// The next request to begin is the session's first (its lag is measured).
    pub first: bool,
    /// The httperf session template (an index into the run's templates), if any.
    pub template: Option<u32>,
    /// Requests of the session picked so far.
    pub pos: u32,
    /// When the session was due (monotonic ns).
    pub start_ns: u64,
    /// When the current request was due (monotonic ns): the arrival for the session's
    /// first request (after its pre-delay), the previous request's end for the others.
    pub due_ns: u64,
    /// Connections the session opened.
    pub conns: u64,
    /// Replies the session got.
    pub replies: u32,
    /// httperf: times the current call was made again (`--retry-on-failure`).
    pub retries: u32,
    /// httperf: a pipelined reply had the failure status; the session fails once the
    /// burst is read.
    pub failed: bool,
    /// httperf `--session-cookies`: the cookie (`name=value`) the session's replies set
    /// last, sent as `Cookie` on its next requests.
    pub cookie: String,
    /// httperf `--max-connections`: the current burst is spread over the slot's lanes
    /// (from its first call until every call of it ended).
    pub burst_open: bool,
    /// Calls of the open burst not issued yet.
    pub burst_left: u32,
    /// The URL-list entry of the open burst's last call issued so far (the think time
    /// after the burst is the last call's).
    pub burst_last: u32,
    /// Lanes carrying a call of the open burst.
    pub in_lanes: u32,
    /// When the session failed (monotonic ns; 0 = it has not), for a failure whose
    /// session ends once its burst's other calls have.
    pub failed_ns: u64,
}

/// Pipelining: requests written after the current one whose replies are still to come.
#[derive(Debug, Default)]
pub struct Burst {
    /// Queued behind the current request, oldest first (capacity reused).
    pub queue: VecDeque<Queued>,
    /// The bytes of the current request and the queue, back to back (empty when nothing
    /// is pipelined; capacity reused).
    pub bytes: Vec<u8>,
    /// The current request went out in a pipelined burst (until the next request).
    pub pipelined: bool,
}

/// What one slot does next; see the module doc.
#[derive(Debug)]
pub struct Schedule {
    /// The slot's random stream (seed = run seed, stream = global slot number; an
    /// open-loop session's own stream while it runs).
    pub rng: ChaCha8Rng,
    /// Where the slot is in its walk over the URL list.
    pub walk: Walk,
    /// The current request.
    pub cur: Current,
    /// Where the next hop goes, when the last reply was a redirect to follow.
    pub follow: Option<Target>,
    /// The next request is a retry of the last one (after a `stale-conn`): it was
    /// already counted as started.
    pub retrying: bool,
    /// A hook asked to end the slot after the current request.
    pub done_after: bool,
    /// Open loop: the session (state kept between arrivals, so nothing is allocated per
    /// session).
    pub session: Option<Session>,
    /// Pipelining.
    pub burst: Option<Burst>,
}

impl Schedule {
    /// A slot's schedule with its RNG; `open` for an open loop, `pipelining` when
    /// requests may be pipelined.
    pub fn new(rng: ChaCha8Rng, open: bool, pipelining: bool) -> Self {
        Schedule {
            rng,
            walk: Walk::default(),
            cur: Current::default(),
            follow: None,
            retrying: false,
            done_after: false,
            session: open.then(Session::default),
            burst: pipelining.then(Burst::default),
        }
    }

    /// The current request's description.
    pub fn spec<'p>(&'p self, plan: &'p Plan<'_>) -> &'p RequestSpec {
        match &self.cur.dynamic {
            Some(d) => &d.spec,
            None => &plan.requests[self.cur.entry as usize].spec,
        }
    }

    /// The current request's bytes and what the reply parser must know of it.
    pub fn wire<'p>(&'p self, plan: &'p Plan<'_>) -> &'p WireRequest {
        match &self.cur.dynamic {
            Some(d) => &d.wire,
            None => &plan.requests[self.cur.entry as usize].wire,
        }
    }

    /// The current request's URL.
    pub fn url<'p>(&'p self, plan: &'p Plan<'_>) -> &'p str {
        match &self.cur.dynamic {
            Some(d) => &d.url,
            None => &plan.requests[self.cur.entry as usize].url,
        }
    }

    /// The bytes to write: the pipelined burst, or the current request.
    pub fn send_bytes<'p>(&'p self, plan: &'p Plan<'_>) -> &'p [u8] {
        match &self.burst {
            Some(b) if !b.bytes.is_empty() => &b.bytes,
            _ => &self.wire(plan).bytes,
        }
    }

    /// Requests queued behind the current one.
    pub fn queued(&self) -> usize {
        self.burst.as_ref().map_or(0, |b| b.queue.len())
    }

    /// When the current request was due (open loop), monotonic ns.
    pub fn due_ns(&self) -> Option<u64> {
        self.session.as_ref().map(|s| s.due_ns)
    }

    /// Open loop: the next request is due. Within a session it is due now (the previous
    /// one has ended); otherwise the slot takes this worker's next arrival, due at its
    /// scheduled time (from `start_ns`), with the session's own RNG stream. False when
    /// the arrivals are used up. True at once in a closed loop.
    pub fn next_in_session(
        &mut self,
        plan: &Plan<'_>,
        arrivals: &mut Arrivals,
        start_ns: u64,
        now: u64,
    ) -> bool {
        let (Some(open), Some(sess)) = (plan.spec.open_loop.as_ref(), self.session.as_mut()) else {
            return true;
        };
        if self.follow.is_some() || sess.left > 0 {
            // The next call of the session, or a redirect hop of the request that led
            // to it: due now.
            sess.due_ns = now;
            if self.follow.is_none() {
                sess.left -= 1;
            }
            return true;
        }
        let Some((k, t)) = arrivals.next_own() else {
            return false;
        };
        let templates = &open.templates;
        sess.template = (!templates.is_empty()).then(|| (k % templates.len() as u64) as u32);
        sess.pos = 0;
        sess.arrival = k;
        sess.left = match sess.template {
            Some(i) => templates[i as usize].calls,
            None => open.calls,
        };
        if let Some(Sequence { wrap: false }) = open.sequence {
            // The log ends the run: the last arrival takes only what is left of it.
            let left = (plan.requests.len() as u64)
                .saturating_sub(k.saturating_mul(u64::from(open.calls)));
            sess.left = sess.left.min(left.min(u64::from(u32::MAX)) as u32);
            if sess.left == 0 {
                return false;
            }
        }
        sess.due_ns = if open.arrival == Arrival::Immediate {
            now
        } else {
            start_ns.saturating_add(t)
        };
        sess.start_ns = sess.due_ns;
        sess.conns = 0;
        sess.replies = 0;
        sess.retries = 0;
        sess.failed = false;
        sess.failed_ns = 0;
        sess.burst_open = false;
        sess.burst_left = 0;
        sess.in_lanes = 0;
        sess.cookie.clear();
        self.rng = stream_rng(plan.spec.seed, SESSION_STREAM_BASE.saturating_add(k));
        // A session is one walk: the first request of a round, its own draws.
        self.walk = Walk::default();
        sess.first = true;
        sess.left -= 1;
        true
    }

    /// The next hop of a redirect chain, when the last reply said where (`status`).
    pub fn take_follow(&mut self, plan: &Plan<'_>, status: u16) -> bool {
        let Some(to) = self.follow.take() else {
            return false;
        };
        let hop = redirect_to(self.spec(plan), status, to);
        self.cur.dynamic = Some(Box::new(hop));
        self.cur.hop += 1;
        self.cur.pre_delay_ns = 0;
        true
    }

    /// The session, not the iterator, picks the requests: an httperf session template,
    /// or the `--wlog` order.
    pub fn session_picks(&self, plan: &Plan<'_>) -> bool {
        self.session.as_ref().is_some_and(|s| s.template.is_some())
            || plan
                .spec
                .open_loop
                .as_ref()
                .is_some_and(|o| o.sequence.is_some())
    }

    /// The next request from the built-in iterators, or from the session when it picks
    /// (see [`Schedule::session_picks`]); false when the rounds are done.
    pub fn pick(&mut self, plan: &Plan<'_>) -> bool {
        if self.session_picks(plan) {
            self.pick_in_session(plan)
        } else {
            self.pick_builtin(plan)
        }
    }

    /// The built-in iterators: the next list entry, or false when the rounds are done.
    fn pick_builtin(&mut self, plan: &Plan<'_>) -> bool {
        let len = plan.requests.len() as u32;
        // In an open loop the arrivals, not rounds, say how much is done.
        let rounds = if self.session.is_some() {
            None
        } else {
            plan.spec.rounds
        };
        let Some(entry) = self
            .walk
            .next(len, plan.spec.iterator, rounds, &mut self.rng)
        else {
            return false;
        };
        self.take_entry(plan, entry);
        true
    }

    /// A session's next request: its template's entries in turn, or httperf's `--wlog`
    /// order (call `j` of arrival `k` takes entry `(k * calls + j) mod len`, the list
    /// walked once in order over every worker and client).
    fn pick_in_session(&mut self, plan: &Plan<'_>) -> bool {
        let (Some(open), Some(sess)) = (plan.spec.open_loop.as_ref(), self.session.as_mut()) else {
            return false;
        };
        let len = plan.requests.len() as u64;
        let entry = match sess.template {
            Some(t) => {
                let t = open.templates[t as usize];
                t.first + sess.pos % t.len.max(1)
            }
            None => {
                let at = u128::from(sess.arrival) * u128::from(open.calls) + u128::from(sess.pos);
                (at % u128::from(len)) as u32
            }
        };
        sess.pos += 1;
        self.take_entry(plan, entry);
        true
    }

    /// The next request is list entry `entry` as configured: its pre-delay is drawn.
    pub fn take_entry(&mut self, plan: &Plan<'_>, entry: u32) {
        self.cur.entry = entry;
        self.cur.index = entry;
        self.cur.hop = 0;
        self.cur.dynamic = None;
        self.draw_pre_delay(plan);
    }

    /// Draws the current request's pre-delay (from the RNG, only when it has jitter).
    pub fn draw_pre_delay(&mut self, plan: &Plan<'_>) {
        let pre = self.spec(plan).pre;
        self.cur.pre_delay_ns = if pre.is_zero() {
            0
        } else {
            draw_delay(pre, &mut self.rng)
        };
    }

    /// The post-delay after the current request, drawn when it has jitter.
    pub fn draw_post_delay(&mut self, plan: &Plan<'_>) -> u64 {
        let post = self.spec(plan).post;
        if post.is_zero() {
            0
        } else {
            draw_delay(post, &mut self.rng)
        }
    }

    /// Pipelining: picks up to `pipeline - 1` more list entries to write right after the
    /// current one (within `budget`, `room` on the connection and the open-loop session),
    /// and lays their bytes out back to back. Not for redirects and hook or
    /// custom-iterator requests (`alone`), nor for a request that closes its connection.
    pub fn pick_burst(
        &mut self,
        plan: &Plan<'_>,
        budget: &mut Option<u64>,
        room: u64,
        alone: bool,
    ) {
        let Some(mut burst) = self.burst.take() else {
            return;
        };
        debug_assert!(burst.queue.is_empty());
        burst.bytes.clear();
        let wire = self.wire(plan);
        if !(alone || self.cur.dynamic.is_some() || !self.spec(plan).keepalive.store || wire.closes)
        {
            let current = (self.cur.entry, self.cur.index, self.cur.pre_delay_ns);
            let most = plan.spec.pipeline.saturating_sub(1);
            let extra = match plan.spec.open_loop.as_ref().map(|o| &o.bursts) {
                // A session log's burst: the entries that belong to it.
                Some(b) if !b.is_empty() => b.get(current.0 as usize).map_or(0, |&n| n.min(most)),
                _ => most,
            };
            for _ in 0..extra {
                if *budget == Some(0)
                    || self.session.as_ref().is_some_and(|s| s.left == 0)
                    || burst.queue.len() as u64 >= room
                    || !self.pick(plan)
                {
                    break;
                }
                burst.queue.push_back(Queued {
                    entry: self.cur.entry,
                    index: self.cur.index,
                });
                if let Some(s) = self.session.as_mut() {
                    s.left -= 1;
                }
                if let Some(b) = budget.as_mut() {
                    *b -= 1;
                }
                if plan.requests[self.cur.entry as usize].wire.closes {
                    // Nothing goes after a request that closes its connection.
                    break;
                }
            }
            (self.cur.entry, self.cur.index, self.cur.pre_delay_ns) = current;
            self.cur.dynamic = None;
            if !burst.queue.is_empty() {
                burst
                    .bytes
                    .extend_from_slice(&plan.requests[current.0 as usize].wire.bytes);
                for q in &burst.queue {
                    burst
                        .bytes
                        .extend_from_slice(&plan.requests[q.entry as usize].wire.bytes);
                }
            }
        }
        self.burst = Some(burst);
    }

    /// httperf `--max-connections`: the open burst's next call (its URL-list entry),
    /// taken from the session without changing the current request; `None` when the
    /// burst has no call left to issue.
    pub fn next_burst_call(&mut self, plan: &Plan<'_>) -> Option<u32> {
        let sess = self.session.as_ref()?;
        if sess.burst_left == 0 || sess.left == 0 {
            return None;
        }
        // The current request may be in flight (its bytes, a cookie's, being written).
        let current = std::mem::take(&mut self.cur);
        let picked = self.pick_in_session(plan).then_some(self.cur.entry);
        self.cur = current;
        let sess = self.session.as_mut()?;
        if let Some(entry) = picked {
            sess.left -= 1;
            sess.burst_left -= 1;
            sess.burst_last = entry;
        }
        picked
    }

    /// The next request is the session's call at list entry `entry`, due `now` (a call
    /// of a burst, issued as soon as a connection has room).
    pub fn take_call(&mut self, entry: u32, now: u64) {
        self.cur.entry = entry;
        self.cur.index = entry;
        self.cur.hop = 0;
        self.cur.dynamic = None;
        self.cur.pre_delay_ns = 0;
        if let Some(s) = self.session.as_mut() {
            s.due_ns = now;
        }
    }

    /// Pipelining: whether another request may be queued behind the current one and
    /// those already queued (none behind a redirect, a hook's request or one that
    /// closes its connection).
    pub fn can_queue(&self, plan: &Plan<'_>) -> bool {
        let Some(b) = self.burst.as_ref() else {
            return false;
        };
        let last_closes = b
            .queue
            .back()
            .is_some_and(|q| plan.requests[q.entry as usize].wire.closes);
        self.cur.dynamic.is_none()
            && self.spec(plan).keepalive.store
            && !self.wire(plan).closes
            && !last_closes
    }

    /// Pipelining: list entry `entry` goes out right after the current request and those
    /// already queued (a spread burst's call, see [`Schedule::can_queue`]).
    pub fn queue_call(&mut self, entry: u32) {
        if let Some(b) = self.burst.as_mut() {
            b.queue.push_back(Queued {
                entry,
                index: entry,
            });
        }
    }

    /// Pipelining: the current request's bytes and those of the queue, back to back
    /// (none when nothing is queued).
    pub fn lay_out_burst(&mut self, plan: &Plan<'_>) {
        let Some(mut burst) = self.burst.take() else {
            return;
        };
        burst.bytes.clear();
        if !burst.queue.is_empty() {
            burst.bytes.extend_from_slice(&self.wire(plan).bytes);
            for q in &burst.queue {
                burst
                    .bytes
                    .extend_from_slice(&plan.requests[q.entry as usize].wire.bytes);
            }
        }
        self.burst = Some(burst);
    }

    /// Pipelining: the next queued request becomes the current one (its reply is next).
    pub fn next_queued(&mut self) -> bool {
        let Some(q) = self.burst.as_mut().and_then(|b| b.queue.pop_front()) else {
            return false;
        };
        self.cur.entry = q.entry;
        self.cur.index = q.index;
        self.cur.pre_delay_ns = 0;
        true
    }

    /// Where to go after a redirect reply with `location`, when the iterator follows
    /// redirects, the hop limit is not reached and the target is allowed (same origin,
    /// or another one named in the dnscache with `follow_cross_origin`).
    pub fn redirect_target(&self, plan: &Plan<'_>, status: u16, location: &str) -> Option<Target> {
        let spec = plan.spec;
        if !spec.iterator.follows()
            || !is_redirect(status)
            || self.cur.hop >= spec.max_redirects
            || location.is_empty()
        {
            return None;
        }
        let req = self.spec(plan);
        let others = spec.follow_cross_origin.then_some(&spec.dnscache);
        resolve_location(location, &req.target, &req.target.path, others)
    }

    /// httperf sessions: the current call is made again (a new request, counted as such)
    /// as the session's next one.
    pub fn redo_call(&mut self) {
        if let Some(s) = self.session.as_mut() {
            s.retries += 1;
            s.left += 1;
            s.pos = s.pos.saturating_sub(1);
        }
    }

    /// The session is over (its requests done, or one failed).
    pub fn end_session(&mut self) {
        if let Some(s) = self.session.as_mut() {
            s.left = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::slot_rng;

    fn spec_of(args: &[&str]) -> RunSpec {
        let mut argv = vec!["volley", "http://127.0.0.1:9/x"];
        argv.extend_from_slice(args);
        let Ok(volley_config::Command::Run(spec)) = volley_config::parse(argv) else {
            panic!("{args:?} parse");
        };
        spec
    }

    #[test]
    fn a_closed_loop_walks_the_list_with_its_delays() {
        let spec = spec_of(&["-n", "5"]);
        let plan = Plan::new(&spec);
        let requests = &plan.requests;
        let mut s = Schedule::new(slot_rng(1, 0), false, false);
        let mut arrivals = Arrivals::new(Arrival::Immediate, 1, 0, 1, None);
        assert!(
            s.next_in_session(&plan, &mut arrivals, 0, 0),
            "no session: go"
        );
        assert!(s.pick(&plan));
        assert_eq!((s.cur.entry, s.cur.index, s.cur.pre_delay_ns), (0, 0, 0));
        assert_eq!(s.send_bytes(&plan), &requests[0].wire.bytes[..]);
        assert_eq!(s.due_ns(), None);
    }

    #[test]
    fn an_open_loop_takes_arrivals_and_runs_their_calls() {
        let spec = spec_of(&["--rate", "100", "--calls", "2", "-n", "2"]);
        let plan = Plan::new(&spec);

        let open = spec.open_loop.as_ref().unwrap();
        let mut arrivals = Arrivals::new(open.arrival.clone(), spec.seed, 0, 1, Some(2));
        let mut s = Schedule::new(slot_rng(1, 0), true, false);
        let start = 1_000;
        // Arrival 0 at the start: two calls.
        assert!(s.next_in_session(&plan, &mut arrivals, start, 5));
        let sess = s.session.as_ref().unwrap();
        assert_eq!(
            (sess.arrival, sess.left, sess.due_ns, sess.first),
            (0, 1, start, true)
        );
        assert!(s.next_in_session(&plan, &mut arrivals, start, 7));
        assert_eq!(
            s.session.as_ref().unwrap().due_ns,
            7,
            "the second call is due now"
        );
        // Arrival 1, 10 ms later.
        assert!(s.next_in_session(&plan, &mut arrivals, start, 9));
        let sess = s.session.as_ref().unwrap();
        assert_eq!((sess.arrival, sess.due_ns), (1, start + 10_000_000));
        assert!(s.next_in_session(&plan, &mut arrivals, start, 11));
        assert!(
            !s.next_in_session(&plan, &mut arrivals, start, 12),
            "used up"
        );
    }

    #[test]
    fn a_burst_takes_the_next_entries_within_the_budget_and_the_connection() {
        let spec = spec_of(&["--pipeline", "4", "-n", "10"]);
        let plan = Plan::new(&spec);
        let requests = &plan.requests;
        let mut s = Schedule::new(slot_rng(1, 0), false, true);
        assert!(s.pick(&plan));
        let mut budget = Some(2);
        s.pick_burst(&plan, &mut budget, u64::MAX, false);
        assert_eq!((s.queued(), budget), (2, Some(0)));
        assert_eq!(s.send_bytes(&plan).len(), 3 * requests[0].wire.bytes.len());
        assert!(s.next_queued() && s.next_queued() && !s.next_queued());
        // A connection with room for one more request, and a request alone.
        s.pick_burst(&plan, &mut None, 1, false);
        assert_eq!(s.queued(), 1);
        s.burst.as_mut().unwrap().queue.clear();
        s.pick_burst(&plan, &mut None, u64::MAX, true);
        assert_eq!(s.queued(), 0);
        assert_eq!(s.send_bytes(&plan), &requests[0].wire.bytes[..]);
    }

    #[test]
    fn a_redirect_is_followed_to_its_target_up_to_the_hop_limit() {
        let mut spec = spec_of(&["-n", "3"]);
        spec.iterator = volley_config::IteratorKind::Follow;
        let plan = Plan::new(&spec);

        let mut s = Schedule::new(slot_rng(1, 0), false, false);
        assert!(s.pick(&plan));
        let to = s.redirect_target(&plan, 302, "/next").expect("same origin");
        assert_eq!(to.path, "/next");
        assert_eq!(s.redirect_target(&plan, 200, "/next"), None);
        assert_eq!(
            s.redirect_target(&plan, 302, "http://elsewhere.test/"),
            None
        );
        s.follow = Some(to);
        assert!(s.take_follow(&plan, 302));
        assert_eq!((s.cur.hop, s.url(&plan)), (1, "http://127.0.0.1:9/next"));
        s.cur.hop = spec.max_redirects;
        assert_eq!(s.redirect_target(&plan, 302, "/again"), None, "hop limit");
    }
}
