//! The shared-memory scoreboard: one named segment through which the supervisor, its
//! forked workers and `volley top` see a run's progress as it happens.
//!
//! A [`Scoreboard`] is a mapping of the segment `/dev/shm/volley-…`: a [`Header`] (magic,
//! layout version, geometry, run state, stop flag, start barrier, start instant) followed by
//! one cache-aligned [`WorkerSlot`] of [`Counter`]s, [`ErrorClass`] counts and live latency
//! buckets ([`latency`]) per worker.
//! The supervisor makes it with [`Scoreboard::create`] before forking, so workers inherit
//! the mapping; a monitor maps it with [`Scoreboard::attach_read_only`], whose type offers
//! no write methods. [`barrier`] starts the workers together; [`SlotSnapshot`] is a plain
//! copy of a slot, or a sum of slots ([`Scoreboard::total`]).
//!
//! The segment is made with nix's `shm_open` + `mmap` rather than the `shared_memory`
//! crate: that crate pulls in an old nix (0.23), cannot open a segment read-only, and its
//! owner handle unlinks the segment on drop — after fork every child holds a copy of that
//! handle, so any child dropping it removes the name. Here only the creating pid unlinks.
//!
//! Rules of the contract: each slot has a single writer, its worker, which updates it
//! with `Relaxed` loads and stores; the stop flag and the release word use Release/Acquire.
//! A reader checks the magic and the layout version before it trusts anything else, and
//! never trusts pids or sizes read from the segment beyond what it validated.
#![deny(missing_docs)]

#[cfg(not(all(target_os = "linux", target_pointer_width = "64")))]
compile_error!(
    "volley-scoreboard needs 64-bit Linux: futexes, /dev/shm, and 8-byte Relaxed loads that \
     are valid on read-only mappings"
);

pub mod barrier;
pub mod counters;
mod error;
pub mod latency;
mod layout;
mod segment;

pub use barrier::Release;
pub use counters::{Counter, ErrorClass};
pub use error::ScoreboardError;
pub use latency::LiveLatency;
pub use layout::{
    Access, HEADER_SIZE, Header, LAYOUT_VERSION, MAGIC, RUN_NAME_LEN, ReadOnly, ReadWrite,
    RunState, SLOT_SIZE, SlotSnapshot, USER_COUNTERS, USER_NAME_LEN, WorkerSlot, WorkerState,
    segment_len, validate_user_counter_names,
};
pub use segment::{
    NAME_MAX, NAME_PREFIX, Scoreboard, list_segments, now_ns, random_run_name,
    remove_stale_segments, validate_name,
};
