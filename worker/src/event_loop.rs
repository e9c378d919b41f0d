//! The worker's event loop (DESIGN.md "Worker loop"):
//!
//! ```text
//! loop {
//!     stop flag set or duration over -> abort in-flight requests, leave
//!     start the slots whose ramp-up time has come
//!     start the next request of every slot that is ready
//!     fire due timers (stale ones are dropped)
//!     every slot done -> leave
//!     poll(events, timeout = until the next timer, ramp-up step or end)
//!     for each event: token -> (slab index, generation); stale -> dropped; else drive the slot
//! }
//! ```
//!
//! An open loop of single requests may instead take the events without waiting and then
//! sleep until its next start, so that replies do not wake it (they carry their kernel
//! receive dates): see [`Worker::run`].

use std::io;
use std::sync::Arc;
use std::time::Duration;

use volley_config::{Limit, RunSpec};
use volley_scoreboard::{Header, WorkerSlot, now_ns};

use crate::arrivals::Arrivals;
use crate::cache::ConnCache;
use crate::conn::{Conn, Owner};
use crate::error::WorkerError;
use crate::handle::{Handle, Slab};
use crate::hooks::{Board, SlotHooks};
use crate::observe::Observers;
use crate::print::Printer;
use crate::ramp;
use crate::record::LogWriter;
use crate::report::WorkerReport;
use crate::rng::slot_rng;
use crate::schedule::{Plan, Schedule};
use crate::slot::Slot;
use crate::stats::Stats;
use crate::timer::Timers;
use crate::wake::{EVENTS_CAPACITY, Sleep, TIMER_TOKEN, Waiter};
use crate::workload::Prepared;

/// Most time one loop turn spends starting requests, and as much again firing timers,
/// before it looks at the clock, the stop flag and its sockets again: tens of thousands of
/// slots starting together (each a connect, slow when local ports run short) must not
/// keep a worker from noticing the end of the run. What is left waits for the next turn.
pub(crate) const TURN_BUDGET_NS: u64 = 2_000_000;

/// One worker process's load engine: its slots, connections, timers and statistics.
///
/// Build it after fork (it creates the `mio::Poll`), then [`Worker::run`] it once the
/// supervisor has released the workers.
#[derive(Debug)]
pub struct Worker<'a> {
    pub(crate) index: u32,
    /// How the loop waits: epoll, the precise timer, the wake policy.
    pub(crate) waiter: Waiter,
    fired: Vec<(Handle, Ready)>,
    pub(crate) conns: Slab<Conn>,
    /// A run file's keep-alive cache: idle connections shared by the slots. `None` for a
    /// command line, whose slots each keep their own connection.
    pub(crate) cache: Option<ConnCache>,
    pub(crate) slots: Vec<Slot>,
    pub(crate) timers: Timers,
    /// The run's workload: the spec and the URL list, serialized once.
    pub(crate) plan: Plan<'a>,
    /// The release instant (monotonic ns): records count their times from it.
    pub(crate) start_ns: u64,
    /// The log, hooks, printing: what watches the requests go by.
    pub(crate) obs: Observers<'a>,
    /// The TLS client configuration, for https targets.
    pub(crate) tls: Option<Arc<rustls::ClientConfig>>,
    /// Loop turns so far (for the connect-burst count).
    pub(crate) turn: u64,
    /// Open loop: this worker's share of the arrival schedule.
    pub(crate) arrivals: Option<Arrivals>,
    /// Slots waiting for their next start (`Phase::PreDelay`). None in an open loop
    /// means every slot is busy: a reply then frees a slot for a start already due, so
    /// the loop must not sleep through it.
    pub(crate) scheduled_slots: usize,
    pub(crate) stats: Stats<'a>,
    /// Requests this worker may still start (`None` = no request limit).
    pub(crate) budget: Option<u64>,
    /// Slots to start a request for on the next loop turn.
    pub(crate) ready: Vec<u32>,
    /// The other half of `ready`'s double buffer (see `start_ready`).
    pub(crate) spare: Vec<u32>,
    /// `(start offset ns, slot index)` in start order.
    pub(crate) ramp: Vec<(u64, u32)>,
    pub(crate) ramp_next: usize,
    pub(crate) done_slots: usize,
    /// Thread slots (the first of `slots`; the rest are their lanes).
    pub(crate) threads: usize,
    /// httperf sessions spread their bursts over connections ([`crate::lanes`]).
    pub(crate) spread: bool,
    pub(crate) stopping: bool,
    header: &'a Header,
}

/// How a run's loop ended.
#[derive(Debug, Default, Clone, Copy)]
struct Ended {
    /// When the load stopped: with a duration or a stop, the instant it was over, not
    /// after the teardown (closing 10,000 connections takes ~0.2 s, which would otherwise
    /// lower the request rate by that share).
    stopped_ns: Option<u64>,
    /// How long after the end of `-d` the loop saw it.
    overrun_ns: Option<u64>,
}

impl<'a> Worker<'a> {
    /// Prepares worker `index` of `spec`: its poll instance, slots and serialized request.
    ///
    /// # Errors
    ///
    /// [`WorkerError::Poll`] when the kernel refuses an epoll instance,
    /// [`WorkerError::Log`] when the per-request log's part file cannot be created.
    pub fn new(
        spec: &'a RunSpec,
        index: u32,
        header: &'a Header,
        slot: &'a WorkerSlot,
    ) -> Result<Self, WorkerError> {
        let plan = Plan::new(spec);
        let (slots, threads) = make_slots(&plan, index);
        let n = slots.len();
        let printer = Printer::new(spec.print, index, spec.workers);
        let spin = spec.open_loop.as_ref().is_some_and(|o| o.spin);
        let sleep = if printer.is_some() || spin {
            Sleep::Never
        } else {
            sleep_policy(spec, &plan.requests)
        };
        let waiter =
            Waiter::new(spec.open_loop.is_some(), sleep, n, spin).map_err(WorkerError::Poll)?;
        let log = match &spec.log {
            Some(l) => Some(
                LogWriter::create(&l.path, index, l.format).map_err(|source| WorkerError::Log {
                    path: crate::record::part_path(&l.path, index)
                        .display()
                        .to_string(),
                    source,
                })?,
            ),
            None => None,
        };
        Ok(Worker {
            index,
            waiter,
            fired: Vec::with_capacity(EVENTS_CAPACITY),
            conns: Slab::with_capacity(n),
            cache: ConnCache::for_run(spec, n),
            timers: Timers::with_capacity(2 * n + 1),
            ramp: ramp_order(spec, &slots[..threads]),
            threads,
            spread: crate::lanes::spreads(spec),
            slots,
            obs: Observers {
                log,
                printer,
                hooks: None,
                calls: spec
                    .call_stats
                    .as_ref()
                    .map(|c| crate::calls::CallLog::new(c.rows, index, spec.workers)),
            },
            tls: None,
            turn: 0,
            start_ns: 0,
            arrivals: arrivals_of(spec, index),
            scheduled_slots: 0,
            stats: {
                let mut stats = Stats::new(slot);
                stats.series = crate::series::Series::new(duration_ns(spec.series_interval));
                stats
            },
            // In an open loop -n counts arrivals (the schedule's), not requests.
            budget: if spec.open_loop.is_some() {
                None
            } else {
                spec.requests_for_worker(index)
            },
            ready: Vec::with_capacity(n),
            spare: Vec::with_capacity(n),
            plan,
            ramp_next: 0,
            done_slots: 0,
            stopping: false,
            header,
        })
    }

    /// Makes https connections with `config` (built once, before the workers fork).
    #[must_use]
    pub fn with_tls(mut self, config: Option<Arc<rustls::ClientConfig>>) -> Self {
        self.tls = config;
        self
    }

    /// Calls `hooks` around every phase of this worker's slots and requests; `board`
    /// gives them every worker's counters.
    #[must_use]
    pub fn with_hooks(mut self, hooks: &'a mut dyn SlotHooks, board: Board<'a>) -> Self {
        self.obs.hooks = Some((hooks, board));
        // Hooks may start work when a reply arrives: wake for every reply.
        self.waiter.wake_for_every_event();
        self
    }

    /// Runs the load from the release instant `start_ns` (monotonic ns) until every slot is
    /// done, the duration is over, or the supervisor sets the stop flag.
    ///
    /// An open loop of single requests over plain TCP may sleep through reply arrivals
    /// (see the `wake` module): replies are then read with `SO_TIMESTAMPNS` and dated by the
    /// kernel's receive time, clamped between the request's start and the read, so
    /// reading them late changes no reply time (a first byte merged with later segments
    /// during one sleep takes their date). Timeouts are timers and wake the loop as
    /// before; a deadline reads its slot's socket before it counts a timeout. A reply
    /// over 64 KiB, or 64 replies without a date, end the sleeping for the worker.
    ///
    /// # Errors
    ///
    /// [`WorkerError::Poll`] when waiting for events fails for a reason other than a signal.
    pub fn run(mut self, start_ns: u64) -> Result<WorkerReport, WorkerError> {
        self.start_ns = start_ns;
        self.waiter.refresh_dating();
        let offset = crate::wake::realtime_ns().wrapping_sub(now_ns()) as i64;
        self.stats.start_series(start_ns, offset);
        let end_ns = self
            .plan
            .spec
            .duration()
            .map(|d| start_ns.saturating_add(duration_ns(d)));
        let ended = loop {
            self.turn += 1;
            let now = now_ns();
            // Alive: the supervisor kills a worker whose heartbeat stops moving.
            self.stats.slot().beat(now);
            self.stats.tick_series(now);
            if self.header.stop_requested() || end_ns.is_some_and(|end| now >= end) {
                break self.stop(end_ns, now);
            }
            let Some(wake) = self.work(start_ns, end_ns, now) else {
                break Ended::default();
            };
            self.wait(wake)?;
            self.dispatch(now_ns());
        };
        Ok(self.report(start_ns, ended))
    }

    /// One turn's work: slots whose ramp-up time came, the queued starts, the due timers.
    /// Returns when the loop must look again (now, when starts are still queued), or
    /// `None` when every slot is done.
    fn work(&mut self, start_ns: u64, end_ns: Option<u64>, now: u64) -> Option<u64> {
        self.start_due_slots(start_ns, now);
        let now = self.start_ready(now);
        let now = self.fire_timers(now);
        if self.done_slots == self.threads {
            return None;
        }
        Some(if self.ready.is_empty() {
            self.wake_at(start_ns, end_ns, now)
        } else {
            now
        })
    }

    /// Waits for events until `wake`, as the wake policy says.
    fn wait(&mut self, wake: u64) -> Result<(), WorkerError> {
        let now = now_ns();
        let slots = &mut self.slots;
        let still_waiting = |s: u32| {
            let slot = &mut slots[s as usize];
            slot.io_watch = slot.exchange.waits_on_io(slot.buf.filled);
            slot.io_watch
        };
        self.waiter
            .wait(
                wake,
                now,
                self.scheduled_slots > 0,
                still_waiting,
                &mut self.stats.wakeups,
            )
            .map_err(WorkerError::Poll)
    }

    /// The run is over (the duration, or a stop): what came while the loop slept is read,
    /// requests in flight are aborted, every connection closed.
    fn stop(&mut self, end_ns: Option<u64>, now: u64) -> Ended {
        // A duration ends at its end: a last turn that ran past it (a large batch) does
        // not stretch it.
        let ended = Ended {
            stopped_ns: Some(end_ns.map_or(now, |end| end.min(now))),
            overrun_ns: end_ns.filter(|&end| now >= end).map(|end| now - end),
        };
        if self.waiter.sleeps() && self.waiter.poll_now().is_ok() {
            // Replies that came while the loop slept are replies, not aborts.
            self.dispatch(now_ns());
        }
        self.abort_all(now);
        ended
    }

    /// The worker's final report.
    fn report(mut self, start_ns: u64, ended: Ended) -> WorkerReport {
        if let Some(p) = self.obs.printer.as_mut() {
            p.flush();
        }
        let elapsed = ended
            .stopped_ns
            .unwrap_or_else(now_ns)
            .saturating_sub(start_ns);
        // The run is over: the connections idle in the keep-alive cache end with it
        // (after the elapsed time is taken: closing them is no part of the load).
        self.close_cached(now_ns());
        self.stats.finish_series();
        let mut report = WorkerReport::new(self.index, &self.stats, elapsed);
        report.stop_overrun_ns = ended.overrun_ns;
        report.naps = self.waiter.naps;
        if let Some(log) = self.obs.log.as_mut() {
            log.finish();
            report.log_records = log.written;
            report.log_error = log.error.clone();
        }
        if let Some(calls) = self.obs.calls.take() {
            report.calls = calls.into_entries();
        }
        report
    }

    /// Drives the slots of the events the last wait took, at `now`.
    fn dispatch(&mut self, now: u64) {
        if self.waiter.events.is_empty() {
            return;
        }
        self.waiter.refresh_dating();
        // Copy out first: driving a slot needs `&mut self`. No allocation: the
        // buffer's capacity covers a full batch of events.
        let mut fired = std::mem::take(&mut self.fired);
        fired.clear();
        let mut timer_fired = false;
        fired.extend(
            self.waiter
                .events
                .iter()
                .filter(|ev| {
                    let timer = ev.token() == TIMER_TOKEN;
                    timer_fired |= timer;
                    !timer
                })
                .map(|ev| (Handle::from_token(ev.token()), Ready::of(ev))),
        );
        if timer_fired {
            self.waiter.timer_fired();
        }
        for &(h, ready) in &fired {
            self.on_event(h, ready, now);
        }
        self.fired = fired;
    }

    /// Notes that slot `s` waits on its socket for a connect, a write or the rest of a
    /// reply it has begun to read: while it does, the loop wakes for socket events.
    #[inline]
    pub(crate) fn watch_io(&mut self, s: u32) {
        let slot = &mut self.slots[s as usize];
        self.waiter.watch(s, &mut slot.io_watch);
    }

    /// Registers a new connection's socket for both edges, once for its whole life.
    pub(crate) fn register(&mut self, h: Handle) -> io::Result<()> {
        let conn = self
            .conns
            .get_mut(h)
            .expect("a just-inserted handle is current");
        self.waiter.registry().register(
            conn.io.tcp_mut(),
            h.token(),
            mio::Interest::READABLE | mio::Interest::WRITABLE,
        )
    }

    fn on_event(&mut self, h: Handle, ready: Ready, now: u64) {
        let Some(conn) = self.conns.get_mut(h) else {
            // The connection was closed after the kernel queued this event.
            self.stats.stale_events += 1;
            return;
        };
        conn.readable |= ready.readable;
        if ready.readable {
            conn.edge_turn = self.turn;
        }
        conn.writable |= ready.writable;
        conn.read_closed |= ready.read_closed;
        if ready.readable
            && let Some(t) = conn.io.tls_mut()
        {
            t.socket_readable();
        }
        match conn.owner {
            Owner::Slot(slot) if self.slots[slot as usize].phase.in_request() => {
                self.drive(slot, now);
            }
            // Readable with no request outstanding: a kept connection is watched while
            // idle (see `connection::look_idle`).
            Owner::Slot(slot) if ready.readable => drop(self.idle_conn_usable(slot, now)),
            Owner::Cache if ready.readable => self.cached_conn_event(h, now),
            Owner::Slot(_) | Owner::Cache => {}
        }
    }
}

/// This worker's slots (global slot `t` belongs to worker `t % workers`), each with its
/// schedule, then their lanes (see [`crate::lanes`]); and how many are thread slots.
fn make_slots(plan: &Plan<'_>, index: u32) -> (Vec<Slot>, usize) {
    let spec = plan.spec;
    // Pipelining is on and no URL-list entry waits for `100 Continue` (those go alone).
    let pipelining = spec.pipeline > 1 && !plan.requests.iter().any(|p| p.wire.expect_continue);
    let mut slots: Vec<Slot> = spec
        .slots_of_worker(index)
        .map(|t| {
            let rng = slot_rng(spec.seed, t);
            let sched = Schedule::new(rng, spec.open_loop.is_some(), pipelining);
            Slot::new(t, sched, spec.print.any())
        })
        .collect();
    let threads = slots.len();
    let lanes = crate::lanes::lanes_per_slot(spec);
    if lanes > 0 {
        slots.reserve(threads * lanes as usize);
        for leader in 0..threads {
            let global = slots[leader].global;
            let first = slots.len() as u32;
            for _ in 0..lanes {
                // A lane pipelines a burst's calls as its thread slot does.
                let sched = Schedule::new(slot_rng(spec.seed, global), true, pipelining);
                slots.push(Slot::lane(global, leader as u32, sched, spec.print.any()));
            }
            slots[leader].lanes = (first, first + lanes);
        }
    }
    (slots, threads)
}

/// `(start offset ns, slot index)` of every slot, in start order (the linear ramp-up).
fn ramp_order(spec: &RunSpec, slots: &[Slot]) -> Vec<(u64, u32)> {
    let mut ramp: Vec<(u64, u32)> = slots
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let off = ramp::start_offset_ns(spec.ramp, spec.concurrency, s.global);
            (off, i as u32)
        })
        .collect();
    ramp.sort_unstable();
    ramp
}

/// Open loop: worker `index`'s share of the arrival schedule.
fn arrivals_of(spec: &RunSpec, index: u32) -> Option<Arrivals> {
    spec.open_loop.as_ref().map(|o| {
        let total = match spec.limit {
            Limit::Requests(n) | Limit::RequestsWithin(n, _) => Some(n),
            _ => None,
        };
        Arrivals::for_client(
            o.arrival.clone(),
            spec.seed,
            index,
            spec.workers,
            total,
            o.client,
        )
    })
}

/// The readiness an event reported, copied out of mio's event.
#[derive(Debug, Clone, Copy)]
struct Ready {
    readable: bool,
    writable: bool,
    read_closed: bool,
}

impl Ready {
    fn of(ev: &mio::event::Event) -> Ready {
        // An error or hang-up is reported to whichever operation looks next.
        let error = ev.is_error();
        Ready {
            readable: ev.is_readable() || error || ev.is_read_closed(),
            writable: ev.is_writable() || error || ev.is_write_closed(),
            read_closed: ev.is_read_closed() || error,
        }
    }
}

/// How a run's loop may sleep through reply arrivals (see the `wake` module; replies are
/// dated by the kernel, over TCP or TLS): without pipelining or `100-continue` (a reply that
/// starts more writing at once), unless `--wake-per-reply`. An open loop sleeps until its
/// next start only for single-request sessions on a schedule with nothing that starts
/// work the moment a reply arrives (a session's next call, a redirect hop); a closed loop
/// that keeps connections naps, a few tens of µs at most. The caller also rules out printing and hooks.
fn sleep_policy(spec: &RunSpec, requests: &[Prepared]) -> Sleep {
    let datable = !spec.wake_per_reply
        && spec.pipeline <= 1
        && requests.iter().all(|p| !p.wire.expect_continue);
    if !datable {
        return Sleep::Never;
    }
    let Some(open) = spec.open_loop.as_ref() else {
        // A closed loop whose every request ends its connection rarely waits (its
        // connects keep it busy), and dating each new connection's reads would cost a
        // `setsockopt` per request: it wakes for replies.
        let kept = spec.conn_requests != Some(1)
            && requests
                .iter()
                .any(|p| p.spec.keepalive.store && !p.wire.closes);
        return if kept { Sleep::Nap } else { Sleep::Never };
    };
    let single = open.calls == 1
        && open.arrival != volley_config::Arrival::Immediate
        && open.templates.is_empty()
        && open.bursts.is_empty()
        && open.sessions.is_none()
        && !spec.iterator.follows();
    if single {
        Sleep::UntilStart
    } else {
        Sleep::Never
    }
}

/// A duration in ns, saturating.
pub(crate) fn duration_ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}
