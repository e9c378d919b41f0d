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

use std::os::fd::{AsFd, AsRawFd};

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll};
use nix::sys::time::TimeSpec;
use nix::sys::timerfd::{ClockId, Expiration, TimerFd, TimerFlags, TimerSetTimeFlags};
use nix::time::{ClockId as Clock, ClockNanosleepFlags, clock_gettime, clock_nanosleep};
use volley_config::{Limit, RunSpec};
use volley_scoreboard::{Counter, Header, WorkerSlot, now_ns};

use crate::arrivals::Arrivals;
use crate::conn::Conn;
use crate::error::WorkerError;
use crate::exchange::Dating;
use crate::handle::{Handle, Slab};
use crate::hooks::{Board, SlotHooks};
use crate::print::Printer;
use crate::ramp;
use crate::record::LogWriter;
use crate::report::WorkerReport;
use crate::rng::slot_rng;
use crate::schedule::{Plan, Schedule};
use crate::slot::{Phase, Slot};
use crate::stats::Stats;
use crate::timer::Timers;
use crate::workload::Prepared;

/// Longest the loop sleeps without looking at the stop flag.
const STOP_CHECK_NS: u64 = 50_000_000;
/// Token of the open loop's precise timer (never a connection's: slab indexes stay far
/// below `u32::MAX`).
const TIMER_TOKEN: mio::Token = mio::Token(usize::MAX);
/// How long after the precise timer epoll's own timeout ends the wait, should the timer
/// not fire.
const PRECISE_BACKSTOP: Duration = Duration::from_millis(2);
/// Events taken from the kernel per poll.
const EVENTS_CAPACITY: usize = 1024;
/// Most time one loop turn spends starting requests, and as much again firing timers,
/// before it looks at the clock, the stop flag and its sockets again: tens of thousands of
/// slots starting together (each a connect, slow when local ports run short) must not
/// keep a worker from noticing the end of the run. What is left waits for the next turn.
pub(crate) const TURN_BUDGET_NS: u64 = 2_000_000;
/// An open loop whose next start is at most this far away sleeps through reply arrivals
/// and reads the replies when it wakes for that start (see [`Worker::run`]).
const LAZY_NS: u64 = 5_000_000;

/// One worker process's load engine: its slots, connections, timers and statistics.
///
/// Build it after fork (it creates the `mio::Poll`), then [`Worker::run`] it once the
/// supervisor has released the workers.
#[derive(Debug)]
pub struct Worker<'a> {
    pub(crate) index: u32,
    poll: Poll,
    events: Events,
    fired: Vec<(Handle, Ready)>,
    pub(crate) conns: Slab<Conn>,
    pub(crate) slots: Vec<Slot>,
    pub(crate) timers: Timers,
    /// The run's workload: the spec and the URL list, serialized once.
    pub(crate) plan: Plan<'a>,
    /// This worker's part of the per-request log.
    pub(crate) log: Option<LogWriter>,
    /// The release instant (monotonic ns): records count their times from it.
    pub(crate) start_ns: u64,
    /// `--print-request`/`--print-reply`.
    pub(crate) printer: Option<Printer>,
    /// The TLS client configuration, for https targets.
    pub(crate) tls: Option<Arc<rustls::ClientConfig>>,
    /// Loop turns so far (for the connect-burst count).
    pub(crate) turn: u64,
    /// The run's hooks, if it has any (see [`crate::hooks`]).
    pub(crate) hooks: Option<&'a mut dyn SlotHooks>,
    /// Totals over every worker, for the hooks.
    pub(crate) board: Option<Board<'a>>,
    /// Open loop: this worker's share of the arrival schedule.
    pub(crate) arrivals: Option<Arrivals>,
    /// Open loop: a timer with ns resolution for the next wake-up (epoll's timeout has
    /// 1 ms), and the instant it is armed for.
    precise: Option<(TimerFd, u64)>,
    /// Open loop of single requests: replies are read with their kernel receive dates,
    /// and the loop may sleep through their arrival (see [`Worker::run`]); `None`: the
    /// loop wakes for every event.
    pub(crate) dating: Option<Dating>,
    /// Slots that may be waiting for a connect or write edge (see `Slot::io_watch`).
    io_wait: Vec<u32>,
    /// Slots waiting for their next start (`Phase::PreDelay`). None in an open loop
    /// means every slot is busy: a reply then frees a slot for a start already due, so
    /// the loop must not sleep through it.
    pub(crate) scheduled_slots: usize,
    /// While `lazy`: a socket with receive dating on, open for the whole run. Linux turns
    /// dating on system-wide a moment after the first socket asks (and off after the last
    /// one closes); this one asks before the release, so the first replies are dated.
    _dating: Option<socket2::Socket>,
    /// Events were taken (without waiting) since the loop last slept.
    polled: bool,
    pub(crate) stats: Stats<'a>,
    /// Requests this worker may still start (`None` = no request limit).
    pub(crate) budget: Option<u64>,
    /// Slots to start a request for on the next loop turn.
    pub(crate) ready: Vec<u32>,
    /// The other half of `ready`'s double buffer (see `start_ready`).
    spare: Vec<u32>,
    /// `(start offset ns, slot index)` in start order.
    ramp: Vec<(u64, u32)>,
    ramp_next: usize,
    pub(crate) done_slots: usize,
    pub(crate) stopping: bool,
    header: &'a Header,
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
        let poll = Poll::new().map_err(WorkerError::Poll)?;
        let plan = Plan::new(spec);
        // Pipelining is on and no URL-list entry waits for `100 Continue` (those go alone).
        let pipelining = spec.pipeline > 1 && !plan.requests.iter().any(|p| p.wire.expect_continue);
        let printing = spec.print.any();
        let slots: Vec<Slot> = spec
            .slots_of_worker(index)
            .map(|t| {
                let sched =
                    Schedule::new(slot_rng(spec.seed, t), spec.open_loop.is_some(), pipelining);
                Slot::new(t, sched, printing)
            })
            .collect();
        let mut ramp: Vec<(u64, u32)> = slots
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let off = ramp::start_offset_ns(spec.ramp, spec.concurrency, s.global);
                (off, i as u32)
            })
            .collect();
        ramp.sort_unstable();
        let n = slots.len();
        let arrivals = spec.open_loop.as_ref().map(|o| {
            let total = match spec.limit {
                Limit::Requests(n) => Some(n),
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
        });
        let precise = if arrivals.is_some() {
            // Wake within a few µs of a scheduled start rather than the default 50 µs slack.
            let _ = nix::sys::prctl::set_timerslack(1_000);
            let fd = TimerFd::new(
                ClockId::CLOCK_MONOTONIC,
                TimerFlags::TFD_NONBLOCK | TimerFlags::TFD_CLOEXEC,
            )
            .map_err(|e| WorkerError::Poll(e.into()))?;
            poll.registry()
                .register(
                    &mut SourceFd(&fd.as_fd().as_raw_fd()),
                    TIMER_TOKEN,
                    Interest::READABLE,
                )
                .map_err(WorkerError::Poll)?;
            Some((fd, 0))
        } else {
            None
        };
        let printer = Printer::new(spec.print, index, spec.workers);
        let lazy = lazy_eligible(spec, &plan.requests) && spec.pipeline <= 1 && printer.is_none();
        let dating_socket = if lazy {
            socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None)
                .ok()
                .filter(|s| crate::conn::enable_rx_stamps(s).is_ok())
        } else {
            None
        };
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
            poll,
            events: Events::with_capacity(EVENTS_CAPACITY),
            fired: Vec::with_capacity(EVENTS_CAPACITY),
            conns: Slab::with_capacity(n),
            slots,
            timers: Timers::with_capacity(2 * n + 1),
            plan,
            printer,
            tls: None,
            turn: 0,
            log,
            start_ns: 0,
            hooks: None,
            board: None,
            arrivals,
            precise,
            dating: lazy.then(Dating::default),
            io_wait: Vec::with_capacity(n),
            scheduled_slots: 0,
            _dating: dating_socket,
            polled: false,
            stats: Stats::new(slot),
            // In an open loop -n counts arrivals (the schedule's), not requests.
            budget: if spec.open_loop.is_some() {
                None
            } else {
                spec.requests_for_worker(index)
            },
            ready: Vec::with_capacity(n),
            spare: Vec::with_capacity(n),
            ramp,
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
        self.hooks = Some(hooks);
        self.board = Some(board);
        // Hooks may start work when a reply arrives: wake for every reply.
        self.dating = None;
        self._dating = None;
        self
    }

    /// Runs the load from the release instant `start_ns` (monotonic ns) until every slot is
    /// done, the duration is over, or the supervisor sets the stop flag.
    ///
    /// An open loop of single requests over plain TCP (`lazy`) sleeps through reply
    /// arrivals while its next start is at most 5 ms (`LAZY_NS`) away and no slot waits on
    /// a connect, a write or the rest of a reply begun: it sleeps on the clock until that
    /// start, then takes the events that came (a zero-timeout poll) before it starts
    /// anything. Replies are read with `SO_TIMESTAMPNS` and dated by the kernel's receive
    /// time, clamped between the request's start and the read, so reading them late
    /// changes no reply time (a first byte merged with later segments during one sleep
    /// takes their date). Timeouts are timers and wake the loop as before; a deadline
    /// reads its slot's socket before it counts a timeout. A reply over
    /// `LAZY_MAX_REPLY` bytes, or 64 replies without a date, end the sleeping for the
    /// worker.
    ///
    /// # Errors
    ///
    /// [`WorkerError::Poll`] when waiting for events fails for a reason other than a signal.
    pub fn run(mut self, start_ns: u64) -> Result<WorkerReport, WorkerError> {
        self.start_ns = start_ns;
        if let Some(d) = self.dating.as_mut() {
            d.rt_offset = realtime_ns().wrapping_sub(now_ns()) as i64;
        }
        let end_ns = self
            .plan
            .spec
            .duration()
            .map(|d| start_ns.saturating_add(duration_ns(d)));
        // When the load stopped: with a duration or a stop, the instant it was over, not
        // after the teardown (closing 10,000 connections takes ~0.2 s, which would
        // otherwise lower the request rate by that share).
        let mut stopped_ns = None;
        let mut overrun_ns = None;
        loop {
            self.turn += 1;
            let now = now_ns();
            // Alive: the supervisor kills a worker whose heartbeat stops moving.
            self.stats.slot().beat(now);
            if self.header.stop_requested() || end_ns.is_some_and(|end| now >= end) {
                // A duration ends at its end: a last turn that ran past it (a large
                // batch) does not stretch it.
                stopped_ns = Some(end_ns.map_or(now, |end| end.min(now)));
                overrun_ns = end_ns.filter(|&end| now >= end).map(|end| now - end);
                if self.dating.is_some()
                    && self
                        .poll
                        .poll(&mut self.events, Some(Duration::ZERO))
                        .is_ok()
                {
                    // Replies that came while the loop slept are replies, not aborts.
                    self.dispatch(now_ns());
                }
                self.abort_all(now);
                break;
            }
            self.start_due_slots(start_ns, now);
            let now = self.start_ready(now);
            let now = self.fire_timers(now);
            if self.done_slots == self.slots.len() {
                break;
            }
            let wake = if self.ready.is_empty() {
                self.wake_at(start_ns, end_ns, now)
            } else {
                now
            };
            if self.dating.is_some()
                && self.scheduled_slots > 0
                && wake > now
                && wake - now <= LAZY_NS
                && self.io_idle()
            {
                // The next start is near and no slot waits on a connect, a write or the
                // rest of a reply: sleep until that start, however many replies arrive
                // meanwhile, then take what came (before the start: a server's close
                // of a kept connection is seen before a request is written into it).
                // Replies carry their kernel receive dates, so reading them late does
                // not make them late. This halves the wake-ups of an open loop (one per
                // request instead of two), and waking is most of its cost.
                if self.polled {
                    self.stats.wakeups += 1;
                    let at = TimeSpec::from_duration(Duration::from_nanos(wake));
                    // EINTR (a signal) only ends the sleep early: the loop looks again.
                    let _ = clock_nanosleep(
                        Clock::CLOCK_MONOTONIC,
                        ClockNanosleepFlags::TIMER_ABSTIME,
                        &at,
                    );
                }
                self.polled = true;
                match self.poll.poll(&mut self.events, Some(Duration::ZERO)) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(WorkerError::Poll(e)),
                }
                self.dispatch(now_ns());
                continue;
            }
            self.polled = false;
            let timeout = self.poll_timeout(wake, now);
            if !timeout.is_zero() {
                self.stats.wakeups += 1;
            }
            match self.poll.poll(&mut self.events, Some(timeout)) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(WorkerError::Poll(e)),
            }
            self.dispatch(now_ns());
        }
        if let Some(p) = self.printer.as_mut() {
            p.flush();
        }
        let elapsed = stopped_ns.unwrap_or_else(now_ns).saturating_sub(start_ns);
        let mut report = WorkerReport::new(self.index, &self.stats, elapsed);
        report.stop_overrun_ns = overrun_ns;
        if let Some(log) = self.log.as_mut() {
            log.finish();
            report.log_records = log.written;
            report.log_error = log.error.clone();
        }
        Ok(report)
    }

    /// Drives the slots of the events the last poll took, at `now`.
    fn dispatch(&mut self, now: u64) {
        if self.events.is_empty() {
            return;
        }
        if let Some(d) = self.dating.as_mut() {
            // Back to back, so that a preemption between them cannot skew the offset.
            d.rt_offset = realtime_ns().wrapping_sub(now_ns()) as i64;
        }
        // Copy out first: driving a slot needs `&mut self`. No allocation: the
        // buffer's capacity covers a full batch of events.
        let mut fired = std::mem::take(&mut self.fired);
        fired.clear();
        let mut timer_fired = false;
        fired.extend(
            self.events
                .iter()
                .filter(|ev| {
                    let timer = ev.token() == TIMER_TOKEN;
                    timer_fired |= timer;
                    !timer
                })
                .map(|ev| (Handle::from_token(ev.token()), Ready::of(ev))),
        );
        if let Some((_, armed)) = self.precise.as_mut()
            && timer_fired
        {
            // The expiry need not be read: arming the timer again (`poll_timeout`)
            // resets its count, and its next expiry brings a new edge.
            *armed = 0;
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
        if self.dating.is_some() {
            let slot = &mut self.slots[s as usize];
            if !slot.io_watch {
                slot.io_watch = true;
                self.io_wait.push(s);
            }
        }
    }

    /// No slot waits for a connect, a write or the rest of a reply (those in `io_wait`
    /// that moved on leave it). A reply begun is read as it comes: sleeping through it
    /// would let a large body fill the receive window and stall the server.
    fn io_idle(&mut self) -> bool {
        let slots = &mut self.slots;
        self.io_wait.retain(|&s| {
            let slot = &mut slots[s as usize];
            slot.io_watch = slot.exchange.waits_on_io(slot.buf.filled);
            slot.io_watch
        });
        self.io_wait.is_empty()
    }

    /// The loop stops sleeping through replies for good: their receive dates do not
    /// come, or a reply is too large to sleep through.
    pub(crate) fn stop_sleeping_through_replies(&mut self) {
        self.dating = None;
    }

    /// Registers a new connection's socket for both edges, once for its whole life.
    pub(crate) fn register(&mut self, h: Handle) -> io::Result<()> {
        let conn = self
            .conns
            .get_mut(h)
            .expect("a just-inserted handle is current");
        self.poll.registry().register(
            conn.io.tcp_mut(),
            h.token(),
            Interest::READABLE | Interest::WRITABLE,
        )
    }

    fn on_event(&mut self, h: Handle, ready: Ready, now: u64) {
        let Some(conn) = self.conns.get_mut(h) else {
            // The connection was closed after the kernel queued this event.
            self.stats.stale_events += 1;
            return;
        };
        conn.readable |= ready.readable;
        conn.writable |= ready.writable;
        conn.read_closed |= ready.read_closed;
        if ready.readable
            && let Some(t) = conn.io.tls_mut()
        {
            t.socket_readable();
        }
        let slot = conn.slot;
        if self.slots[slot as usize].phase.in_request() {
            self.drive(slot, now);
        } else if ready.readable {
            // Readable with no request outstanding: the kept connection is watched while
            // idle (see `Worker::idle_conn_usable`).
            self.idle_conn_usable(slot, now);
        }
    }

    fn start_due_slots(&mut self, start_ns: u64, now: u64) {
        while let Some(&(off, s)) = self.ramp.get(self.ramp_next) {
            if start_ns.saturating_add(off) > now {
                break;
            }
            self.ramp_next += 1;
            self.stats.add(Counter::ThreadsStarted, 1);
            self.stats.add(Counter::ThreadsActive, 1);
            self.slots[s as usize].phase = Phase::Ready;
            if self.hooks.is_some() {
                self.with_ctx(s, |h, ctx, _| h.thread_init(ctx));
            }
            self.enqueue(s);
        }
    }

    /// Starts the next request of the slots queued before this turn, each at the time
    /// it is started (so a long batch does not date its last requests early), for at most
    /// [`TURN_BUDGET_NS`]; returns the time after the last. Slots not reached stay queued,
    /// ahead of the others, for the next turn.
    fn start_ready(&mut self, turn_ns: u64) -> u64 {
        // Slots queued while this batch runs (a connect that failed at once) wait for the
        // next turn, so a persistent failure cannot spin inside one turn.
        // Two vectors swap roles, so queueing during the batch never allocates.
        let mut batch = std::mem::replace(&mut self.ready, std::mem::take(&mut self.spare));
        let mut now = turn_ns;
        let mut done = 0;
        for &s in &batch {
            self.slots[s as usize].queued = false;
            self.start_request(s, now);
            done += 1;
            now = now_ns();
            if now.saturating_sub(turn_ns) > TURN_BUDGET_NS {
                break;
            }
        }
        if done < batch.len() {
            // Still queued (`queued` is set): first in line next turn. Capacity covers
            // every slot once, so this does not allocate.
            let rest = batch.len() - done;
            self.ready.extend_from_slice(&batch[done..]);
            self.ready.rotate_right(rest);
        }
        batch.clear();
        self.spare = batch;
        now
    }

    /// Fires the timers due at `turn_ns`, for at most [`TURN_BUDGET_NS`] (a pre-delay's
    /// end starts a request, maybe a connect); returns the time after the last. Timers not
    /// reached fire next turn.
    fn fire_timers(&mut self, turn_ns: u64) -> u64 {
        let mut now = turn_ns;
        while let Some(entry) = self.timers.pop_due(turn_ns) {
            now = now_ns();
            if now.saturating_sub(turn_ns) > TURN_BUDGET_NS {
                // Over budget: back in the heap, due as before.
                self.timers.push(entry.slot, entry.at_ns);
                break;
            }
            let slot = &mut self.slots[entry.slot as usize];
            if slot.timer_ns == entry.at_ns {
                slot.timer_ns = 0;
            }
            let deadline = slot.deadline_ns;
            if deadline == 0 {
                continue; // the request it was armed for has ended: stale
            }
            if deadline <= now {
                self.deadline_reached(entry.slot, now);
            } else {
                self.arm(entry.slot, deadline);
            }
        }
        now
    }

    /// Sets the slot's watchdog deadline, pushing a timer only if none fires earlier.
    pub(crate) fn arm(&mut self, s: u32, deadline_ns: u64) {
        let slot = &mut self.slots[s as usize];
        slot.deadline_ns = deadline_ns;
        if slot.timer_ns == 0 || slot.timer_ns > deadline_ns {
            slot.timer_ns = deadline_ns;
            self.timers.push(s, deadline_ns);
        }
    }

    pub(crate) fn enqueue(&mut self, s: u32) {
        let slot = &mut self.slots[s as usize];
        if !slot.queued {
            slot.queued = true;
            self.ready.push(s);
        }
    }

    /// How long to wait for events before `wake` (`now` when slots are ready to start).
    fn poll_timeout(&mut self, wake: u64, now: u64) -> Duration {
        if wake <= now {
            return Duration::ZERO;
        }
        if let Some((fd, armed)) = self.precise.as_mut()
            && wake < now.saturating_add(STOP_CHECK_NS)
        {
            if *armed == wake {
                return Duration::from_nanos(wake.saturating_sub(now)) + PRECISE_BACKSTOP;
            }
            let at = TimeSpec::from_duration(Duration::from_nanos(wake));
            if fd
                .set(
                    Expiration::OneShot(at),
                    TimerSetTimeFlags::TFD_TIMER_ABSTIME,
                )
                .is_ok()
            {
                *armed = wake;
                // epoll's own timeout is only the backstop.
                return Duration::from_nanos(wake.saturating_sub(now)) + PRECISE_BACKSTOP;
            }
        }
        Duration::from_nanos(wake.saturating_sub(now))
    }

    /// When the loop must look again: the next timer, ramp-up step or end, at the latest
    /// after [`STOP_CHECK_NS`].
    fn wake_at(&self, start_ns: u64, end_ns: Option<u64>, now: u64) -> u64 {
        let mut wake = now.saturating_add(STOP_CHECK_NS);
        if let Some(t) = self.timers.next_ns() {
            wake = wake.min(t);
        }
        if let Some(&(off, _)) = self.ramp.get(self.ramp_next) {
            wake = wake.min(start_ns.saturating_add(off));
        }
        if let Some(end) = end_ns {
            wake = wake.min(end);
        }
        wake
    }

    /// Ends the run: requests in flight are counted as aborted, every connection closed,
    /// every started slot done.
    fn abort_all(&mut self, now: u64) {
        self.stopping = true;
        for s in 0..self.slots.len() as u32 {
            if s % 1024 == 1023 {
                // Closing tens of thousands of connections takes a while: still alive.
                self.stats.slot().beat(now_ns());
            }
            let slot = &mut self.slots[s as usize];
            match slot.phase {
                Phase::Done | Phase::Waiting => continue,
                ref p if p.in_request() || slot.sched.retrying => {
                    self.stats.add(Counter::RequestsAborted, 1);
                    self.record_abort(s, now);
                    self.abort_burst(s, now);
                }
                _ => {}
            }
            self.close_conn(s, now);
            self.finish_slot(s);
        }
    }
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

/// Whether a run's open loop can sleep through reply arrivals: single-request sessions
/// on a schedule, over plain TCP, with nothing that starts work the moment a reply
/// arrives (a session's next call, a redirect hop, a `100 Continue` body, a pipelined
/// burst's next reply). The caller also rules out pipelining, printing and hooks.
fn lazy_eligible(spec: &RunSpec, requests: &[Prepared]) -> bool {
    let Some(open) = spec.open_loop.as_ref() else {
        return false;
    };
    open.calls == 1
        && !open.wake_per_reply
        && open.arrival != volley_config::Arrival::Immediate
        && open.templates.is_empty()
        && open.bursts.is_empty()
        && open.sessions.is_none()
        && !spec.iterator.follows()
        && requests
            .iter()
            .all(|p| !p.spec.target.tls && !p.wire.expect_continue)
}

/// `CLOCK_REALTIME` in ns (the clock of kernel receive timestamps).
fn realtime_ns() -> u64 {
    clock_gettime(Clock::CLOCK_REALTIME).map_or(0, |ts| {
        (ts.tv_sec() as u64)
            .saturating_mul(1_000_000_000)
            .saturating_add(ts.tv_nsec() as u64)
    })
}

/// A duration in ns, saturating.
pub(crate) fn duration_ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}
