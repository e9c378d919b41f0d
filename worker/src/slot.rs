//! Thread slots: the per-slot state machine.
//!
//! # Lifecycle
//!
//! ```text
//! Waiting --ramp-up time--> Ready
//! Ready --budget/stop--> Done
//! Ready --kept-alive connection--> Sending --all written--> AwaitHead
//! Ready --no connection--> Connecting --connected--> Sending
//! AwaitHead --1xx head--> AwaitHead
//! AwaitHead --final head--> Body --body ends--> Ready (connection kept or closed)
//! any request phase --error or watchdog--> Ready (connection closed, error counted)
//! any request phase --stop or end of duration--> Done (request counted as aborted)
//! ```
//!
//! A slot owns at most one connection (LoadGen's thread with its keep-alive connection),
//! addressed by a generation-checked [`Handle`], and one receive buffer that is reused for
//! every reply the slot reads, so steady-state requests allocate nothing.

use rand_chacha::ChaCha8Rng;

use crate::handle::Handle;
use crate::http::{BodyDecoder, ReplyHead};

/// Receive buffer size a slot starts with; it grows to `MAX_HEAD_BYTES` only for a reply
/// head that does not fit.
pub const INITIAL_BUFFER: usize = 16 * 1024;

/// Where a slot is in its lifecycle.
#[derive(Debug)]
pub enum Phase {
    /// Not started yet (ramp-up).
    Waiting,
    /// Between requests: the next loop turn starts one.
    Ready,
    /// Non-blocking connect in progress.
    Connecting,
    /// Writing the request; `written` bytes are out.
    Sending {
        /// Bytes of the request written so far.
        written: usize,
    },
    /// Reading the reply head; `interim` 1xx heads seen so far.
    AwaitHead {
        /// Interim (1xx) replies skipped so far.
        interim: u32,
    },
    /// Reading the body of the final reply.
    Body {
        /// The final reply's head.
        head: ReplyHead,
        /// Decoder for its body.
        decoder: BodyDecoder,
    },
    /// Finished for the run.
    Done,
}

impl Phase {
    /// True while a request is outstanding (it would be aborted by a stop).
    pub fn in_request(&self) -> bool {
        matches!(
            self,
            Phase::Connecting
                | Phase::Sending { .. }
                | Phase::AwaitHead { .. }
                | Phase::Body { .. }
        )
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
    /// Receive buffer; `buf[..filled]` holds unparsed bytes of a reply head.
    pub buf: Vec<u8>,
    /// Bytes of `buf` holding data.
    pub filled: usize,
    /// Timestamps of the current request (monotonic ns; 0 = not reached).
    pub times: RequestTimes,
    /// The current request runs on a reused connection.
    pub reused: bool,
    /// Watchdog deadline of the current phase (monotonic ns; 0 = none).
    pub deadline_ns: u64,
    /// Earliest timer entry pending for this slot (0 = none).
    pub timer_ns: u64,
    /// Queued in the worker's ready list.
    pub queued: bool,
}

/// Timestamps of one request, monotonic ns.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestTimes {
    /// The request was started (queued on a connection or a connect).
    pub start: u64,
    /// The request's first byte was written (after connect if there was one).
    pub sent: u64,
    /// The first byte of the reply arrived.
    pub first_byte: u64,
}

impl Slot {
    /// A waiting slot with global number `global`.
    pub fn new(global: u32, rng: ChaCha8Rng) -> Self {
        Slot {
            global,
            phase: Phase::Waiting,
            conn: None,
            rng,
            buf: vec![0; INITIAL_BUFFER],
            filled: 0,
            times: RequestTimes::default(),
            reused: false,
            deadline_ns: 0,
            timer_ns: 0,
            queued: false,
        }
    }
}
