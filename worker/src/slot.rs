//! Thread slots: the per-slot state machine.
//!
//! # Lifecycle
//!
//! ```text
//! Waiting --ramp-up time--> Ready
//! Ready --budget/stop/rounds done--> Done
//! Ready --next entry (iterator), pre-delay drawn--> PreDelay --delay over--> start
//! Ready --next entry, no pre-delay--> start
//! start --kept-alive connection to the same address--> Sending --all written--> AwaitHead
//! start --no usable connection--> Connecting --connected--> Sending
//! AwaitHead --1xx head--> AwaitHead
//! AwaitHead --final head--> Body --body ends--> PostDelay or Ready (connection kept or
//!     closed; a followed redirect goes straight to Ready, its post-delay postponed to the
//!     end of the chain)
//! PostDelay --delay over--> Ready
//! any request phase --error or watchdog--> PostDelay or Ready (connection closed, error
//!     counted)
//! any request phase --client short of fds/ports--> Backoff --10 ms--> Ready
//! Sending --bytes arrive before the request is out--> AwaitHead (an early reply: a 413
//!     during an upload; the connection is then not reused; nothing to read after all:
//!     back to Sending)
//! Sending --head of an `Expect: 100-continue` request out--> AwaitHead --100--> Sending;
//!     a final reply instead ends the request without its body; after 1 s the body is
//!     sent anyway
//! Sending/AwaitHead on a reused connection --closed by the server before any reply
//!     byte--> Ready, retried once on a new connection if the method is idempotent
//! any request phase --stop or end of duration--> Done (request counted as aborted)
//! ```
//!
//! A slot owns at most one connection (LoadGen's thread with its keep-alive connection),
//! addressed by a generation-checked [`Handle`], and one receive buffer that is reused for
//! every reply the slot reads, so steady-state requests allocate nothing.

use rand_chacha::ChaCha8Rng;

use crate::exchange::{Exchange, RecvBuf};
use crate::handle::Handle;
use crate::outcome::TimeoutPhase;
use crate::workload::{Dynamic, Walk};

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
}

impl Phase {
    /// True while a request is outstanding (it would be aborted by a stop).
    pub fn in_request(&self) -> bool {
        matches!(self, Phase::Busy)
    }
}

/// One thread slot.
#[derive(Debug)]
pub struct Slot {
    /// Global slot number (over all workers).
    pub global: u32,
    /// Lifecycle phase.
    pub phase: Phase,
    /// The slot's connection, if it has one open.
    pub conn: Option<Handle>,
    /// The slot's random stream (seed = run seed, stream = global number).
    pub rng: ChaCha8Rng,
    /// The current (or last) request on its connection.
    pub exchange: Exchange,
    /// Receive buffer, reused for every reply the slot reads.
    pub buf: RecvBuf,
    /// Watchdog deadline of the current phase, or the end of a backoff (monotonic ns;
    /// 0 = none).
    pub deadline_ns: u64,
    /// The phase whose deadline `deadline_ns` is.
    pub deadline_phase: TimeoutPhase,
    /// The next request is a retry of the last one (after a `stale-conn`): it was already
    /// counted as started.
    pub retrying: bool,
    /// Earliest timer entry pending for this slot (0 = none).
    pub timer_ns: u64,
    /// Queued in the worker's ready list.
    pub queued: bool,
    /// In the worker's list of slots that wait on the socket for something other than a
    /// reply (a connect or a write): the loop must not sleep through their events.
    pub io_watch: bool,
    /// Where the slot is in the URL list.
    pub walk: Walk,
    /// The URL-list entry of the current request (of the chain's first request for a
    /// redirect).
    pub entry: u32,
    /// Redirects followed since the list entry (0 = the entry itself).
    pub hop: u32,
    /// The current request when it is not the list entry as configured: a redirect hop,
    /// a custom iterator's request, or one a hook edited.
    pub dynamic: Option<Box<Dynamic>>,
    /// What the log shows as the request's index: the list entry, or the position in the
    /// round of a custom iterator's request.
    pub index: u32,
    /// A hook asked to end the slot after the current request.
    pub done_after: bool,
    /// Open loop: requests of the current session still to start (0: take the next
    /// arrival).
    pub session_left: u32,
    /// Open loop: global number of the current session's arrival.
    pub session: u64,
    /// Open loop: the next request to begin is its session's first.
    pub session_first: bool,
    /// Open loop: the session's template (an index into the run's templates), if any.
    pub template: Option<u32>,
    /// Open loop: requests of the session picked so far.
    pub session_pos: u32,
    /// Open loop: when the session was due (monotonic ns).
    pub session_start_ns: u64,
    /// Open loop: connections the session opened.
    pub session_conns: u64,
    /// Open loop: replies the session got.
    pub session_replies: u32,
    /// Pipelining: the requests written after the current one whose replies are still
    /// to come, oldest first (capacity reused).
    pub burst: std::collections::VecDeque<Queued>,
    /// Pipelining: the bytes of the current request and `burst`, written back to back
    /// (empty when nothing is pipelined; capacity reused).
    pub burst_bytes: Vec<u8>,
    /// Open loop: when the current request was due (monotonic ns): the session's arrival
    /// for its first request, the previous request's end for the others.
    pub scheduled_ns: u64,
    /// Where the next hop goes, when the last reply was a redirect to follow.
    pub follow: Option<volley_config::Target>,
    /// Pre-delay drawn for the current request, ns.
    pub pre_delay_ns: u64,
    /// httperf sessions: times the current call was made again (`--retry-on-failure`).
    pub session_retries: u32,
    /// httperf sessions: a pipelined reply had the failure status; the session fails
    /// once the burst is read.
    pub session_failed: bool,
    /// The current request went out in a pipelined burst (until the next request).
    pub pipelined: bool,
    /// httperf sessions: the cookie (`name=value`) the session's replies set last, sent
    /// as `Cookie` on its next requests (`--session-cookies`).
    pub cookie: String,
    /// `--print-request/--print-reply`: the number of the call whose reply is read now.
    pub call_id: u64,
    /// `--print-reply`: the start of a body line whose end has not come yet.
    pub print_line: Vec<u8>,
}

/// A pipelined request waiting for its reply: a URL-list entry.
#[derive(Debug, Clone, Copy)]
pub struct Queued {
    /// Its URL-list entry.
    pub entry: u32,
    /// Its index for the log.
    pub index: u32,
}

impl Slot {
    /// A waiting slot with global number `global`.
    pub fn new(global: u32, rng: ChaCha8Rng) -> Self {
        Slot {
            global,
            phase: Phase::Waiting,
            conn: None,
            rng,
            exchange: Exchange::default(),
            buf: RecvBuf::default(),
            deadline_ns: 0,
            deadline_phase: TimeoutPhase::Connect,
            retrying: false,
            timer_ns: 0,
            queued: false,
            io_watch: false,
            walk: Walk::default(),
            entry: 0,
            hop: 0,
            dynamic: None,
            index: 0,
            done_after: false,
            session_left: 0,
            session: 0,
            session_first: false,
            template: None,
            session_pos: 0,
            session_start_ns: 0,
            session_conns: 0,
            session_replies: 0,
            burst: std::collections::VecDeque::new(),
            burst_bytes: Vec::new(),
            scheduled_ns: 0,
            follow: None,
            pre_delay_ns: 0,
            session_retries: 0,
            session_failed: false,
            pipelined: false,
            cookie: String::new(),
            call_id: 0,
            print_line: Vec::new(),
        }
    }
}
