//! Thread slots: the per-slot state machine.
//!
//! # Lifecycle
//!
//! ```text
//! Waiting --ramp-up time--> Ready
//! Ready --budget/stop/rounds done--> Done
//! Ready --next request picked (its schedule), pre-delay or arrival ahead--> PreDelay
//! Ready/PreDelay --start--> Busy (an exchange on a kept or a new connection)
//! Busy --reply--> PostDelay or Ready (a followed redirect: Ready, its post-delay
//!     postponed to the end of the chain; a pipelined burst: Busy until its last reply)
//! Busy --error or watchdog--> PostDelay or Ready (connection closed, error counted;
//!     a stale kept connection: Ready, retried once when idempotent)
//! Busy --client short of fds/ports--> Backoff --10 ms--> Ready
//! PostDelay --delay over--> Ready
//! any --stop or end of duration--> Done (a request in flight counted as aborted)
//! ```
//!
//! The request's own states (connecting, sending, head, body) are its exchange's
//! ([`crate::exchange`]); what the slot does next is its schedule's
//! ([`crate::schedule`]).
//!
//! httperf sessions whose bursts are spread over several connections
//! (`--max-connections`) give each slot *lanes*: slots of their own (after the thread
//! slots) that carry a burst's other calls, one a connection ([`crate::lanes`]):
//!
//! ```text
//! Lane --a burst's call--> Busy --reply or error--> Busy (the burst's next call) or Lane
//! Busy (the thread slot, its call ended, its lanes' calls not) --> Joining
//!     --last lane's call ended--> PostDelay or Ready (the burst's think time)
//! ```
//!
//! A slot holds at most one connection, addressed by a generation-checked [`Handle`]:
//! on a command line it keeps it between requests; with a run file it holds one only
//! while a request is on it, and between requests the connection waits in the worker's
//! keep-alive cache ([`crate::cache`], LoadGen's KEEPALIVE_STORE/USE) for any slot's
//! next request to its address. A slot has one receive buffer, reused for every reply
//! it reads, so steady-state requests allocate nothing.

use crate::exchange::{Exchange, RecvBuf};
use crate::handle::Handle;
use crate::outcome::TimeoutPhase;
use crate::pace::Pace;
use crate::schedule::Schedule;

/// Where a slot is in its lifecycle. The state of a request in flight is its
/// [`Exchange`]'s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Not started yet (ramp-up).
    Waiting,
    /// Between requests: the next loop turn starts one.
    Ready,
    /// A request is in flight (see [`Slot::exchange`]).
    Busy,
    /// Waiting before the next request after the client itself ran short (no file
    /// descriptor or port): retrying at once would only spin.
    Backoff,
    /// Waiting the drawn pre-delay of the picked entry (and, in an open loop, the
    /// session's scheduled start) before starting it.
    PreDelay,
    /// Waiting the drawn post-delay after a request.
    PostDelay,
    /// Finished for the run.
    Done,
    /// A lane between bursts: it waits for its thread slot's next burst.
    Lane,
    /// A thread slot whose call of a burst ended while its lanes' calls did not.
    Joining,
}

impl Phase {
    /// True while a request is outstanding (it would be aborted by a stop).
    pub fn in_request(&self) -> bool {
        matches!(self, Phase::Busy)
    }
}

/// One thread slot: its lifecycle, its connection, its request in flight, what it does
/// next, and the timer state of its deadline.
#[derive(Debug)]
pub struct Slot {
    /// Global slot number (over all workers).
    pub global: u32,
    /// Lifecycle phase.
    pub phase: Phase,
    /// The slot's connection, if it holds one.
    pub conn: Option<Handle>,
    /// The current (or last) request on its connection.
    pub exchange: Exchange,
    /// Receive buffer, reused for every reply the slot reads.
    pub buf: RecvBuf,
    /// What it does next.
    pub sched: Schedule,
    /// Its usual interval between request starts (the closed loop's correction).
    pub pace: Pace,
    /// `--print-request`/`--print-reply`: the call being printed.
    pub print: Option<PrintCall>,
    /// Watchdog deadline of the current phase, or the end of a delay or backoff
    /// (monotonic ns; 0 = none).
    pub deadline_ns: u64,
    /// The phase whose deadline `deadline_ns` is.
    pub deadline_phase: TimeoutPhase,
    /// Earliest timer entry pending for this slot (0 = none).
    pub timer_ns: u64,
    /// Queued in the worker's ready list.
    pub queued: bool,
    /// In the worker's list of slots that wait on the socket for something other than a
    /// reply (a connect or a write): the loop must not sleep through their events.
    pub io_watch: bool,
    /// A lane: the thread slot whose session it serves.
    pub lane_of: Option<u32>,
    /// A thread slot's lanes: slots `lanes.0..lanes.1`.
    pub lanes: (u32, u32),
}

/// `--print-request`/`--print-reply` state of a slot.
#[derive(Debug, Default)]
pub struct PrintCall {
    /// The number of the call whose reply is read now.
    pub id: u64,
    /// The start of a reply body line whose end has not come yet.
    pub line: Vec<u8>,
}

impl Slot {
    /// A waiting slot with global number `global` and its schedule.
    pub fn new(global: u32, sched: Schedule, printing: bool) -> Self {
        Slot {
            global,
            phase: Phase::Waiting,
            conn: None,
            exchange: Exchange::default(),
            buf: RecvBuf::default(),
            sched,
            pace: Pace::default(),
            print: printing.then(PrintCall::default),
            deadline_ns: 0,
            deadline_phase: TimeoutPhase::Connect,
            timer_ns: 0,
            queued: false,
            io_watch: false,
            lane_of: None,
            lanes: (0, 0),
        }
    }

    /// Lane of slot `leader` (global number `global`), waiting for a burst.
    pub fn lane(global: u32, leader: u32, sched: Schedule, printing: bool) -> Self {
        let mut slot = Slot::new(global, sched, printing);
        slot.phase = Phase::Lane;
        slot.lane_of = Some(leader);
        slot
    }
}
