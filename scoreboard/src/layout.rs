//! The binary layout of the segment: a [`Header`] then one [`WorkerSlot`] per worker.
//!
//! This layout is a contract between processes and between builds: a reader checks
//! [`MAGIC`] and [`LAYOUT_VERSION`] (at fixed offsets 0 and 8) before it trusts anything else.
//! Bump [`LAYOUT_VERSION`] on any change to a field's meaning, order or size.
//!
//! Shared words are atomics. Fields that are plain integers are written once by the
//! creator before it publishes [`MAGIC`] (a Release store) and never again.
//!
//! Reads use `Relaxed` loads, plus an `Acquire` fence where ordering matters, instead of
//! `Acquire` loads: std guarantees only small `Relaxed` loads to work on memory mapped
//! read-only (`core::sync::atomic`, "Atomic accesses to read-only memory"), and
//! `volley top` maps the segment with `PROT_READ`.
#![forbid(unsafe_code)]

use std::marker::PhantomData;
use std::mem::{align_of, offset_of, size_of};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering, fence};

use crate::counters::{Counter, ErrorClass};
use crate::error::ScoreboardError;
use crate::latency::{BUCKETS, LiveLatency, bucket_of};

/// `b"VOLLEYSB"` read as a little-endian `u64`: the first 8 bytes of every scoreboard.
pub const MAGIC: u64 = u64::from_le_bytes(*b"VOLLEYSB");

/// The layout version in [`Header`]; readers refuse any other.
pub const LAYOUT_VERSION: u32 = 6;

/// Bytes of the header, a multiple of 128 so slot 0 starts on its own cache-line pair.
pub const HEADER_SIZE: usize = size_of::<Header>();

/// Bytes of one worker slot (a multiple of 128: no false sharing between workers).
pub const SLOT_SIZE: usize = size_of::<WorkerSlot>();

/// Bytes of the run-name field in the header (names are at most 60 bytes, NUL-padded).
pub const RUN_NAME_LEN: usize = 64;

/// User counters per worker slot: a hook program names up to this many
/// (LoadGen's `SbSlotsz`/`SbExtra`, made fixed so a slot keeps one size).
pub const USER_COUNTERS: usize = 8;

/// Bytes of one user-counter name in the header (names are at most 15 bytes,
/// NUL-padded).
pub const USER_NAME_LEN: usize = 16;

/// Bytes of a segment holding `worker_count` slots.
pub const fn segment_len(worker_count: u32) -> usize {
    HEADER_SIZE + worker_count as usize * SLOT_SIZE
}

/// Values of the header's `release` word (the start barrier, see [`crate::barrier`]).
pub(crate) const RELEASE_WAITING: u32 = 0;
pub(crate) const RELEASE_GO: u32 = 1;
pub(crate) const RELEASE_ABORTED: u32 = 2;

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::ReadWrite {}
    impl Sealed for super::ReadOnly {}
}

/// How a mapping may be used: [`ReadWrite`] or [`ReadOnly`].
///
/// The mode is a type parameter of [`crate::Scoreboard`], [`Header`] and [`WorkerSlot`], so
/// the write methods exist only on `ReadWrite` mappings: a write to a `PROT_READ` page
/// would fault, and that must not be reachable from safe code.
pub trait Access: sealed::Sealed + 'static {
    /// Whether the mapping is `PROT_READ | PROT_WRITE`.
    const WRITABLE: bool;
}

/// The mode of the creator's mapping and of the workers that inherit it across fork.
#[derive(Debug)]
pub enum ReadWrite {}

/// The mode of a monitor's mapping (`O_RDONLY` + `PROT_READ`): it cannot change a run.
#[derive(Debug)]
pub enum ReadOnly {}

impl Access for ReadWrite {
    const WRITABLE: bool = true;
}

impl Access for ReadOnly {
    const WRITABLE: bool = false;
}

/// A `Relaxed` load followed by an `Acquire` fence: an acquire load that is also valid on
/// read-only memory (see the module doc).
fn load_acquire_u32(word: &AtomicU32) -> u32 {
    let v = word.load(Ordering::Relaxed);
    fence(Ordering::Acquire);
    v
}

/// The phase of the whole run, kept in the header by the supervisor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RunState {
    /// The segment exists; workers are being forked or are getting ready.
    #[default]
    Init = 0,
    /// Workers were released and are running.
    Running = 1,
    /// A stop was requested; workers are finishing and reporting.
    Stopping = 2,
    /// Every worker has been reaped.
    Done = 3,
}

impl RunState {
    /// The state stored as `v`, if this build knows it.
    pub const fn from_u32(v: u32) -> Option<RunState> {
        match v {
            0 => Some(RunState::Init),
            1 => Some(RunState::Running),
            2 => Some(RunState::Stopping),
            3 => Some(RunState::Done),
            _ => None,
        }
    }

    /// Lower-case name for progress lines.
    pub const fn as_str(self) -> &'static str {
        match self {
            RunState::Init => "init",
            RunState::Running => "running",
            RunState::Stopping => "stopping",
            RunState::Done => "done",
        }
    }
}

/// The phase of one worker, kept in its slot by that worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WorkerState {
    /// Forked, not ready yet (a zeroed slot reads as this).
    #[default]
    Forked = 0,
    /// Set up and waiting for the release.
    Ready = 1,
    /// Released and generating load.
    Running = 2,
    /// Finished; its report is on the way.
    Done = 3,
}

impl WorkerState {
    /// The state stored as `v`, if this build knows it.
    pub const fn from_u32(v: u32) -> Option<WorkerState> {
        match v {
            0 => Some(WorkerState::Forked),
            1 => Some(WorkerState::Ready),
            2 => Some(WorkerState::Running),
            3 => Some(WorkerState::Done),
            _ => None,
        }
    }

    /// Lower-case name for progress lines.
    pub const fn as_str(self) -> &'static str {
        match self {
            WorkerState::Forked => "forked",
            WorkerState::Ready => "ready",
            WorkerState::Running => "running",
            WorkerState::Done => "done",
        }
    }
}

/// The segment header: identity, geometry, and the run-wide words (state, stop, barrier).
///
/// Any bit pattern is a valid `Header` (integers, atomics and bytes only), which is what
/// lets a reader view untrusted memory as one and then check it.
#[derive(Debug)]
#[repr(C, align(128))]
pub struct Header<M: Access = ReadWrite> {
    /// [`MAGIC`], stored last by the creator (Release) so a reader that sees it sees the rest.
    pub(crate) magic: AtomicU64,
    pub(crate) version: u32,
    pub(crate) worker_count: u32,
    pub(crate) header_size: u32,
    pub(crate) slot_size: u32,
    /// An atomic only so tests can fake a dead supervisor; the creator writes it once.
    pub(crate) supervisor_pid: AtomicU32,
    pub(crate) state: AtomicU32,
    pub(crate) stop: AtomicU32,
    pub(crate) ready: AtomicU32,
    pub(crate) release: AtomicU32,
    pub(crate) concurrency: u32,
    pub(crate) start_ns: AtomicU64,
    pub(crate) run_name: [u8; RUN_NAME_LEN],
    /// The names of the user counters, NUL-padded; an empty name ends the list.
    pub(crate) user_names: [[u8; USER_NAME_LEN]; USER_COUNTERS],
    /// Zeroes for future fields; explicit so the header has no padding bytes.
    reserved: [u8; 8],
    mode: PhantomData<M>,
}

impl Header<ReadWrite> {
    /// The header a creator writes, with `magic` still 0 (it is published separately).
    /// `user` names the user counters (validated by the caller; extra names and bytes
    /// past [`USER_NAME_LEN`]` - 1` are cut).
    pub(crate) fn new(
        name: &str,
        worker_count: u32,
        concurrency: u32,
        pid: u32,
        user: &[&str],
    ) -> Header {
        let mut run_name = [0u8; RUN_NAME_LEN];
        // Names are validated to ≤ 60 bytes; the cut only guards the NUL terminator.
        let n = name.len().min(RUN_NAME_LEN - 1);
        run_name[..n].copy_from_slice(&name.as_bytes()[..n]);
        let mut user_names = [[0u8; USER_NAME_LEN]; USER_COUNTERS];
        for (slot, name) in user_names.iter_mut().zip(user) {
            let n = name.len().min(USER_NAME_LEN - 1);
            slot[..n].copy_from_slice(&name.as_bytes()[..n]);
        }
        Header {
            magic: AtomicU64::new(0),
            version: LAYOUT_VERSION,
            worker_count,
            header_size: HEADER_SIZE as u32,
            slot_size: SLOT_SIZE as u32,
            supervisor_pid: AtomicU32::new(pid),
            state: AtomicU32::new(RunState::Init as u32),
            stop: AtomicU32::new(0),
            ready: AtomicU32::new(0),
            release: AtomicU32::new(RELEASE_WAITING),
            concurrency,
            start_ns: AtomicU64::new(0),
            run_name,
            user_names,
            reserved: [0; 8],
            mode: PhantomData,
        }
    }

    /// Asks every worker to stop (they poll [`Header::stop_requested`] each loop turn).
    pub fn request_stop(&self) {
        self.stop.store(1, Ordering::Release);
    }

    /// Records the run's phase.
    pub fn set_state(&self, state: RunState) {
        self.state.store(state as u32, Ordering::Release);
    }
}

impl<M: Access> Header<M> {
    /// The magic word (Acquire: everything the creator wrote before it is visible).
    pub(crate) fn magic(&self) -> u64 {
        let v = self.magic.load(Ordering::Relaxed);
        fence(Ordering::Acquire);
        v
    }

    /// The layout version the creator wrote.
    pub fn version(&self) -> u32 {
        self.version
    }

    /// True once a stop was requested; what the request published is visible after it.
    pub fn stop_requested(&self) -> bool {
        load_acquire_u32(&self.stop) != 0
    }

    /// The run's phase; a value this build does not know (a corrupt segment) reads as
    /// [`RunState::Init`].
    pub fn state(&self) -> RunState {
        RunState::from_u32(load_acquire_u32(&self.state)).unwrap_or_default()
    }

    /// The shared start instant (`CLOCK_MONOTONIC` ns), 0 until the release.
    pub fn start_ns(&self) -> u64 {
        self.start_ns.load(Ordering::Relaxed)
    }

    /// Number of worker slots.
    pub fn worker_count(&self) -> u32 {
        self.worker_count
    }

    /// Total thread slots of the run (informational).
    pub fn concurrency(&self) -> u32 {
        self.concurrency
    }

    /// Pid of the supervisor that created the segment. Untrusted: never signal it.
    pub fn supervisor_pid(&self) -> u32 {
        self.supervisor_pid.load(Ordering::Relaxed)
    }

    /// Workers that have marked themselves ready.
    pub fn ready_count(&self) -> u32 {
        load_acquire_u32(&self.ready)
    }

    /// The run name (the segment name), up to the first NUL.
    pub fn run_name(&self) -> String {
        let end = self
            .run_name
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(RUN_NAME_LEN);
        String::from_utf8_lossy(&self.run_name[..end]).into_owned()
    }

    /// The names of the user counters, in index order (empty when the run's hooks
    /// declare none). Untrusted bytes are read lossily.
    pub fn user_counter_names(&self) -> Vec<String> {
        self.user_names
            .iter()
            .map(|n| {
                let end = n.iter().position(|&b| b == 0).unwrap_or(USER_NAME_LEN);
                String::from_utf8_lossy(&n[..end]).into_owned()
            })
            .take_while(|n| !n.is_empty())
            .collect()
    }
}

/// Checks the user-counter names a hook program declares: at most [`USER_COUNTERS`],
/// each 1 to 15 bytes of `A-Z a-z 0-9 _ - .`, no two alike.
///
/// # Errors
///
/// [`ScoreboardError::BadUserCounter`]: the first name that breaks a rule, and why.
pub fn validate_user_counter_names(names: &[&str]) -> Result<(), ScoreboardError> {
    let bad = |name: &str, why| ScoreboardError::BadUserCounter {
        name: name.to_owned(),
        why,
    };
    if let Some(extra) = names.get(USER_COUNTERS) {
        return Err(bad(extra, "more than 8 user counters"));
    }
    for (i, name) in names.iter().enumerate() {
        let why = if name.is_empty() {
            Some("empty")
        } else if name.len() >= USER_NAME_LEN {
            Some("longer than 15 bytes")
        } else if !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        {
            Some("only A-Z a-z 0-9 _ - . are allowed")
        } else if names[..i].contains(name) {
            Some("named twice")
        } else {
            None
        };
        if let Some(why) = why {
            return Err(bad(name, why));
        }
    }
    Ok(())
}

/// One worker's counters. Exactly one process, the worker, writes a slot.
///
/// Any bit pattern is valid, and a zeroed slot is a fresh one ([`WorkerState::Forked`]).
#[derive(Debug)]
#[repr(C, align(128))]
pub struct WorkerSlot<M: Access = ReadWrite> {
    pid: AtomicU32,
    state: AtomicU32,
    /// `CLOCK_MONOTONIC` ns of the worker's last loop turn (0 before its first): a worker
    /// whose heartbeat stops moving has stopped responding (stopped, stuck).
    heartbeat_ns: AtomicU64,
    counters: [AtomicU64; Counter::COUNT],
    errors: [AtomicU64; ErrorClass::COUNT],
    /// Open loop: how late (µs) the worker's latest session started against its arrival
    /// (a gauge; 0 in closed loops).
    lag_us: AtomicU64,
    /// Sum (µs) of the latencies counted in `latency`.
    latency_sum_us: AtomicU64,
    /// Successful replies per live latency bucket (see [`crate::latency`]).
    latency: [AtomicU64; BUCKETS],
    /// The hooks' user counters, named in the header.
    user: [AtomicU64; USER_COUNTERS],
    mode: PhantomData<M>,
}

/// Single-writer increment: a load and a store instead of a locked read-modify-write.
/// Only the owning worker writes, so no update is lost; readers see each value whole.
fn bump(word: &AtomicU64, n: u64) {
    word.store(
        word.load(Ordering::Relaxed).wrapping_add(n),
        Ordering::Relaxed,
    );
}

impl WorkerSlot<ReadWrite> {
    /// Adds `n` to a counter. Only this slot's worker may call it (single writer).
    pub fn add(&self, counter: Counter, n: u64) {
        bump(&self.counters[counter.index()], n);
    }

    /// Subtracts `n` from a gauge ([`Counter::ThreadsActive`], [`Counter::ConnsOpen`]).
    /// Single writer, like [`WorkerSlot::add`]. Saturates at 0; going below is a bug.
    pub fn sub(&self, counter: Counter, n: u64) {
        let word = &self.counters[counter.index()];
        let cur = word.load(Ordering::Relaxed);
        debug_assert!(cur >= n, "gauge {counter:?} would go below zero");
        word.store(cur.saturating_sub(n), Ordering::Relaxed);
    }

    /// Sets a counter (for gauges). Single writer.
    pub fn set(&self, counter: Counter, value: u64) {
        self.counters[counter.index()].store(value, Ordering::Relaxed);
    }

    /// Adds `n` to an error class. Single writer.
    pub fn add_error(&self, class: ErrorClass, n: u64) {
        bump(&self.errors[class.index()], n);
    }

    /// Counts a successful reply that took `us` microseconds in the live latency buckets.
    /// Single writer; two words of the worker's own slot.
    #[inline]
    pub fn record_latency_us(&self, us: u64) {
        bump(&self.latency[bucket_of(us)], 1);
        bump(&self.latency_sum_us, us);
    }

    /// Adds `n` to user counter `i`; an index past [`USER_COUNTERS`] is ignored.
    /// Single writer.
    pub fn add_user(&self, i: usize, n: u64) {
        if let Some(word) = self.user.get(i) {
            bump(word, n);
        }
    }

    /// Sets the open-loop lag gauge (µs). Single writer.
    pub fn set_lag_us(&self, us: u64) {
        self.lag_us.store(us, Ordering::Relaxed);
    }

    /// Records the worker's pid (informational: the supervisor keeps its own list).
    pub fn set_pid(&self, pid: u32) {
        self.pid.store(pid, Ordering::Relaxed);
    }

    /// Records the worker's phase.
    pub fn set_state(&self, state: WorkerState) {
        self.state.store(state as u32, Ordering::Release);
    }

    /// Records that the worker is alive at `now_ns` (monotonic). Single writer; one plain
    /// store on the worker's own cache lines, cheap enough for every loop turn.
    pub fn beat(&self, now_ns: u64) {
        self.heartbeat_ns.store(now_ns, Ordering::Relaxed);
    }
}

impl<M: Access> WorkerSlot<M> {
    /// A counter's current value.
    pub fn get(&self, counter: Counter) -> u64 {
        self.counters[counter.index()].load(Ordering::Relaxed)
    }

    /// An error class's current count.
    pub fn error(&self, class: ErrorClass) -> u64 {
        self.errors[class.index()].load(Ordering::Relaxed)
    }

    /// The worker's pid as it wrote it (0 before). Untrusted: never signal it.
    pub fn pid(&self) -> u32 {
        self.pid.load(Ordering::Relaxed)
    }

    /// The monotonic instant (ns) of the worker's last heartbeat, 0 before its first.
    pub fn heartbeat_ns(&self) -> u64 {
        self.heartbeat_ns.load(Ordering::Relaxed)
    }

    /// User counter `i` (0 past [`USER_COUNTERS`]).
    pub fn user(&self, i: usize) -> u64 {
        self.user.get(i).map_or(0, |w| w.load(Ordering::Relaxed))
    }

    /// The open-loop lag gauge (µs).
    pub fn lag_us(&self) -> u64 {
        self.lag_us.load(Ordering::Relaxed)
    }

    /// A plain copy of the live latency buckets.
    pub fn latency(&self) -> LiveLatency {
        LiveLatency {
            counts: std::array::from_fn(|i| self.latency[i].load(Ordering::Relaxed)),
            sum_us: self.latency_sum_us.load(Ordering::Relaxed),
        }
    }

    /// The worker's phase; an unknown value (a corrupt slot) reads as [`WorkerState::Forked`].
    pub fn state(&self) -> WorkerState {
        WorkerState::from_u32(load_acquire_u32(&self.state)).unwrap_or_default()
    }

    /// A plain copy of the slot. Counters are read one by one, so the copy is not one
    /// instant; each value is whole, and progress views need no more.
    pub fn snapshot(&self) -> SlotSnapshot {
        SlotSnapshot {
            pid: self.pid(),
            state: self.state(),
            counters: std::array::from_fn(|i| self.counters[i].load(Ordering::Relaxed)),
            errors: std::array::from_fn(|i| self.errors[i].load(Ordering::Relaxed)),
            lag_us: self.lag_us(),
            latency: self.latency(),
            user: std::array::from_fn(|i| self.user(i)),
        }
    }
}

/// A plain-data copy of a [`WorkerSlot`], or a sum of several ([`SlotSnapshot::add`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SlotSnapshot {
    /// The worker's pid (0 in a sum).
    pub pid: u32,
    /// The worker's phase ([`WorkerState::Forked`] in a sum).
    pub state: WorkerState,
    /// Counters, indexed by [`Counter::index`].
    pub counters: [u64; Counter::COUNT],
    /// Error counts, indexed by [`ErrorClass::index`].
    pub errors: [u64; ErrorClass::COUNT],
    /// The open-loop lag gauge (µs; in a sum, the largest).
    pub lag_us: u64,
    /// The live latency buckets (summed in a sum).
    pub latency: LiveLatency,
    /// The user counters (summed in a sum).
    pub user: [u64; USER_COUNTERS],
}

impl SlotSnapshot {
    /// A counter's value.
    pub fn get(&self, counter: Counter) -> u64 {
        self.counters[counter.index()]
    }

    /// An error class's count.
    pub fn error(&self, class: ErrorClass) -> u64 {
        self.errors[class.index()]
    }

    /// Adds `other`'s counters and errors into `self` (pid and state are left alone).
    pub fn add(&mut self, other: &SlotSnapshot) {
        for (a, b) in self.counters.iter_mut().zip(other.counters) {
            *a = a.wrapping_add(b);
        }
        for (a, b) in self.errors.iter_mut().zip(other.errors) {
            *a = a.wrapping_add(b);
        }
        self.lag_us = self.lag_us.max(other.lag_us);
        self.latency.add(&other.latency);
        for (a, b) in self.user.iter_mut().zip(other.user) {
            *a = a.wrapping_add(b);
        }
    }
}

// The layout contract, checked at compile time.
const _: () = assert!(offset_of!(Header, magic) == 0 && offset_of!(Header, version) == 8);
const _: () = assert!(HEADER_SIZE == 256 && align_of::<Header>() == 128);
const _: () = assert!(SLOT_SIZE.is_multiple_of(128) && align_of::<WorkerSlot>() == 128);
// README's "Performance and scaling" draws this size.
const _: () = assert!(SLOT_SIZE == 1024);
const _: () = assert!(size_of::<Header<ReadOnly>>() == HEADER_SIZE);
const _: () = assert!(size_of::<WorkerSlot<ReadOnly>>() == SLOT_SIZE);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magic_spells_volleysb() {
        assert_eq!(MAGIC.to_le_bytes(), *b"VOLLEYSB");
    }

    #[test]
    fn states_round_trip() {
        for v in 0..4 {
            assert_eq!(RunState::from_u32(v).map(|s| s as u32), Some(v));
            assert_eq!(WorkerState::from_u32(v).map(|s| s as u32), Some(v));
        }
        assert_eq!(RunState::from_u32(4), None);
        assert_eq!(WorkerState::Ready.as_str(), "ready");
    }

    #[test]
    fn header_new_fills_geometry_and_name() {
        let h = Header::new("volley-abc", 3, 12, 42, &["tokens", "no-token"]);
        assert_eq!(h.magic(), 0);
        assert_eq!(h.version(), LAYOUT_VERSION);
        assert_eq!(
            (h.worker_count(), h.concurrency(), h.supervisor_pid()),
            (3, 12, 42)
        );
        assert_eq!(h.run_name(), "volley-abc");
        assert_eq!(h.user_counter_names(), ["tokens", "no-token"]);
        assert_eq!(h.state(), RunState::Init);
        assert!(!h.stop_requested());
        h.request_stop();
        assert!(h.stop_requested());
    }

    #[test]
    fn snapshot_sums() {
        let mut a = SlotSnapshot::default();
        a.counters[Counter::BytesSent.index()] = 5;
        let mut b = a;
        b.errors[ErrorClass::Dns.index()] = 2;
        a.add(&b);
        assert_eq!(a.get(Counter::BytesSent), 10);
        assert_eq!(a.error(ErrorClass::Dns), 2);
        b.user[3] = 4;
        a.add(&b);
        assert_eq!(a.user[3], 4);
    }

    #[test]
    fn user_counter_names_are_checked() {
        assert!(validate_user_counter_names(&[]).is_ok());
        assert!(validate_user_counter_names(&["tokens", "a.b-c_9"]).is_ok());
        let bad = |names: &[&str]| match validate_user_counter_names(names) {
            Err(ScoreboardError::BadUserCounter { why, .. }) => why,
            other => panic!("{other:?}"),
        };
        assert_eq!(bad(&[""]), "empty");
        assert_eq!(bad(&["sixteen-bytes-xx"]), "longer than 15 bytes");
        assert_eq!(bad(&["a b"]), "only A-Z a-z 0-9 _ - . are allowed");
        assert_eq!(bad(&["x", "x"]), "named twice");
        assert_eq!(bad(&["a"; 9]), "more than 8 user counters");
    }
}
