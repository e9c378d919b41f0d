//! One worker process's load engine: a mio event loop over interleaved thread slots.
//!
//! The principal type is [`Worker`]: built after fork (it creates its own `mio::Poll`), it
//! owns this worker's thread slots (global slot `t` belongs to worker `t % N`), their
//! connections in a generational slab ([`handle`]), a deadline heap ([`timer`]), the
//! URL list serialized once ([`workload`]), the per-request log ([`record`]) and the latency histograms ([`stats`]). Counters
//! are written into the worker's own scoreboard slot as they change, so the supervisor and
//! `volley top` see them live; the final [`WorkerReport`] adds the histograms and goes to
//! the supervisor over a pipe.
//!
//! The worker never knows about other workers: it sees the run spec, its index, the
//! scoreboard header (release instant, stop flag) and its own slot. Every request ends as
//! exactly one reply, one error class ([`outcome`] is the one place that classifies), or
//! an abort when the run stops.

#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod arrivals;
pub mod conn;
mod drive;
mod ending;
pub mod error;
pub mod event_loop;
mod exchange;
pub mod handle;
pub mod hooks;
pub mod http;
pub mod iterators;
pub mod outcome;
pub mod print;
pub mod ramp;
pub mod record;
pub mod report;
pub mod rng;
mod schedule;
mod slot;
pub mod stats;
pub mod timer;
pub mod tls;
mod turn;
mod wake;
pub mod workload;

pub use error::WorkerError;
pub use event_loop::Worker;
pub use report::{HistogramData, WorkerReport};
