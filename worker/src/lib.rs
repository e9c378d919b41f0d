//! One worker process's load engine: a mio event loop over interleaved thread slots.
//!
//! The principal type is [`Worker`]: built after fork (it creates its own `mio::Poll`),
//! it owns this worker's thread slots (global slot `t` belongs to worker `t % N`), their
//! connections, a deadline heap and the latency histograms ([`stats`]). Counters are
//! written into the worker's own scoreboard slot as they change, so the supervisor and
//! `volley top` see them live; the final [`WorkerReport`] adds the histograms and goes to
//! the supervisor over a pipe.
//!
//! Inside, a few owners and a loop that only wires them:
//!
//! - an **exchange** is one request on one connection: its state (connecting, sending,
//!   awaiting the head, the body), advanced by what it borrows (the connection, the
//!   receive buffer, the clock) to one outcome, a reply or a failure;
//! - a **schedule** is what a slot does next: the URL list's iterator, open-loop
//!   sessions, pipelined bursts, redirects, retries and delays;
//! - the **keep-alive cache** (`cache.rs`) holds a run file's idle connections between
//!   requests, by address, for any of the worker's slots;
//! - **observers** watch requests go by: the per-request log ([`record`]), [`hooks`],
//!   `--print-request`/`--print-reply`, session cookies;
//! - the **event loop** takes readiness events to exchanges, outcomes to schedules, and
//!   slots to the ready queue; how it waits (every event, or asleep through reply
//!   arrivals in an open loop) is a policy value.
//!
//! The worker never knows about other workers: it sees the run spec, its index, the
//! scoreboard header (release instant, stop flag) and its own slot. Every request ends as
//! exactly one reply, one error class (one module classifies), or an abort when the run
//! stops.

#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod arrivals;
mod cache;
pub mod calls;
mod conn;
mod connection;
mod drive;
mod ending;
pub mod error;
mod event_loop;
mod exchange;
mod handle;
pub mod hooks;
pub mod http;
pub mod iterators;
mod lanes;
mod observe;
mod outcome;
pub mod pace;
mod print;
mod ramp;
pub mod record;
pub mod report;
mod rng;
mod schedule;
pub mod series;
mod slot;
pub mod stats;
mod timer;
pub mod tls;
mod turn;
mod wake;
mod workload;

pub use error::WorkerError;
pub use event_loop::Worker;
pub use report::{HistogramData, WorkerReport};
