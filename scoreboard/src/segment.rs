//! The named POSIX shared-memory segment: create, attach read-only, unlink, clean up.
//!
//! This file holds the crate's only `unsafe` code: `mmap`/`munmap`, viewing the mapping
//! as [`Header`] and [`WorkerSlot`]s, and the futex calls the start barrier uses.

use std::fmt;
use std::io::Read;
use std::marker::PhantomData;
use std::num::NonZeroUsize;
use std::os::fd::OwnedFd;
use std::os::unix::fs::MetadataExt;
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::mman::{MapFlags, ProtFlags, mmap, munmap, shm_open, shm_unlink};
use nix::sys::signal::kill;
use nix::sys::stat::{Mode, fchmod, fstat};
use nix::sys::time::TimeSpec;
use nix::time::{ClockId, clock_gettime};
use nix::unistd::{Pid, ftruncate, geteuid, getpid};

use crate::error::ScoreboardError;
use crate::layout::{
    Access, HEADER_SIZE, Header, LAYOUT_VERSION, MAGIC, ReadOnly, ReadWrite, SLOT_SIZE,
    SlotSnapshot, WorkerSlot, segment_len,
};

/// Every scoreboard name starts with this, so `/dev/shm/volley-*` finds them all.
pub const NAME_PREFIX: &str = "volley-";

/// Longest accepted name in bytes (it must fit the header's 64-byte NUL-padded field).
pub const NAME_MAX: usize = 60;

/// Where Linux shows POSIX shared-memory objects.
const SHM_DIR: &str = "/dev/shm";

/// A mapping of one scoreboard segment.
///
/// `Scoreboard` (= `Scoreboard<ReadWrite>`) comes from [`Scoreboard::create`]; forked workers
/// inherit it. `Scoreboard<ReadOnly>` comes from [`Scoreboard::attach_read_only`] and hands
/// out only read methods. The mapping stays valid after the name is unlinked, and is
/// unmapped on drop. Only the creating process unlinks on drop, so a forked child that
/// drops its copy leaves the name alone.
///
/// A read-only board cannot write:
///
/// ```compile_fail
/// let sb = volley_scoreboard::Scoreboard::attach_read_only("volley-x").unwrap();
/// sb.header().request_stop();
/// ```
pub struct Scoreboard<M: Access = ReadWrite> {
    name: String,
    /// INVARIANT: the start of a live mapping of `len` bytes (page-aligned), with protection
    /// matching `M`, that holds a header and `worker_count` slots:
    /// `segment_len(worker_count) <= len`.
    ptr: NonNull<u8>,
    len: usize,
    /// Validated against `len` when the board was made; never re-read from shared memory,
    /// so a corrupted header cannot move slot accesses out of the mapping.
    worker_count: u32,
    /// The pid that created the segment; only that process unlinks it on drop.
    owner_pid: Option<i32>,
    mode: PhantomData<M>,
}

// SAFETY: the board owns its mapping; all shared state in it is reached through atomics or
// through fields written once before publication, so moving the board to another thread
// (and unmapping there) is fine.
unsafe impl<M: Access> Send for Scoreboard<M> {}
// SAFETY: `&Scoreboard` only hands out `&Header`/`&WorkerSlot`, whose mutable parts are
// atomics (`Sync`); the plain fields are never written after creation.
unsafe impl<M: Access> Sync for Scoreboard<M> {}

impl<M: Access> fmt::Debug for Scoreboard<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scoreboard")
            .field("name", &self.name)
            .field("len", &self.len)
            .field("worker_count", &self.worker_count)
            .field("writable", &M::WRITABLE)
            .field("owner_pid", &self.owner_pid)
            .finish()
    }
}

impl Scoreboard<ReadWrite> {
    /// Creates segment `name` (mode 0600, must not exist) with `worker_count` zeroed slots,
    /// writes the header and records this process as its owner.
    ///
    /// Create it in the supervisor before forking; the workers inherit the mapping.
    pub fn create(
        name: &str,
        worker_count: u32,
        concurrency: u32,
    ) -> Result<Self, ScoreboardError> {
        Self::create_with_user_counters(name, worker_count, concurrency, &[])
    }

    /// [`Scoreboard::create`], with the names of the hooks' user counters written into
    /// the header (checked by [`crate::validate_user_counter_names`] first).
    ///
    /// # Errors
    ///
    /// As [`Scoreboard::create`]; [`ScoreboardError::BadUserCounter`] for a bad name.
    pub fn create_with_user_counters(
        name: &str,
        worker_count: u32,
        concurrency: u32,
        user_counters: &[&str],
    ) -> Result<Self, ScoreboardError> {
        validate_name(name)?;
        crate::validate_user_counter_names(user_counters)?;
        let len = segment_len(worker_count);
        let flags = OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_RDWR | OFlag::O_CLOEXEC;
        let fd = shm_open(
            shm_path(name).as_str(),
            flags,
            Mode::S_IRUSR | Mode::S_IWUSR,
        )
        .map_err(|e| ScoreboardError::from_errno("shm_open", name, e))?;
        let ptr = match size_and_map(&fd, name, len) {
            Ok(ptr) => ptr,
            Err(e) => {
                // We created the name, so nobody else will remove it.
                let _ = shm_unlink(shm_path(name).as_str());
                return Err(e);
            }
        };
        let board = Scoreboard {
            name: name.to_owned(),
            ptr,
            len,
            worker_count,
            owner_pid: Some(getpid().as_raw()),
            mode: PhantomData,
        };
        board.init_header(concurrency, user_counters);
        Ok(board)
    }

    fn init_header(&self, concurrency: u32, user_counters: &[&str]) {
        let header = Header::new(
            &self.name,
            self.worker_count,
            concurrency,
            std::process::id(),
            user_counters,
        );
        debug_assert!(self.len >= HEADER_SIZE && self.ptr.cast::<Header>().is_aligned());
        // SAFETY: `ptr` starts a writable, page-aligned mapping of at least HEADER_SIZE
        // bytes that this function's caller just created; no reference into it exists yet
        // in this process. Writing a whole `Header` (which has no padding) is in bounds.
        unsafe { self.ptr.cast::<Header>().write(header) };
        // Published last: a reader that sees MAGIC (Acquire) sees every field above.
        self.header().magic.store(MAGIC, Ordering::Release);
    }
}

/// Checks ownership and mode, sizes the new segment and maps it read-write.
fn size_and_map(fd: &OwnedFd, name: &str, len: usize) -> Result<NonNull<u8>, ScoreboardError> {
    let err = |op| move |e| ScoreboardError::from_errno(op, name, e);
    // The umask may have cleared bits of the 0600 we asked for.
    fchmod(fd, Mode::S_IRUSR | Mode::S_IWUSR).map_err(err("fchmod"))?;
    check_owner_and_mode(fd, name)?;
    // ftruncate zero-fills, and O_EXCL guarantees the object is new, so every slot starts
    // zeroed (a valid, fresh slot).
    let size = i64::try_from(len).map_err(|_| err("ftruncate")(Errno::EFBIG))?;
    ftruncate(fd, size).map_err(err("ftruncate"))?;
    map::<ReadWrite>(fd, len).map_err(err("mmap"))
}

impl Scoreboard<ReadOnly> {
    /// Maps an existing segment read-only (`O_RDONLY`, `PROT_READ`), for `volley top` and
    /// stale-segment checks.
    ///
    /// It refuses a segment not owned by this user with mode 0600, then checks the magic
    /// and version before it trusts anything else, then the header and slot sizes and that
    /// the segment holds every slot the header claims.
    pub fn attach_read_only(name: &str) -> Result<Self, ScoreboardError> {
        validate_name(name)?;
        let fd = shm_open(
            shm_path(name).as_str(),
            OFlag::O_RDONLY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| ScoreboardError::from_errno("shm_open", name, e))?;
        let stat = check_owner_and_mode(&fd, name)?;
        let len = usize::try_from(stat.st_size).unwrap_or(0);
        if len < HEADER_SIZE {
            return Err(size_error(name, "segment", len, HEADER_SIZE));
        }
        let ptr =
            map::<ReadOnly>(&fd, len).map_err(|e| ScoreboardError::from_errno("mmap", name, e))?;
        // worker_count stays 0 until validated, so no slot is reachable before that.
        let mut board = Scoreboard {
            name: name.to_owned(),
            ptr,
            len,
            worker_count: 0,
            owner_pid: None,
            mode: PhantomData,
        };
        board.worker_count = board.validate_header()?;
        Ok(board)
    }

    /// Checks the header against this build's layout; returns the validated worker count.
    fn validate_header(&self) -> Result<u32, ScoreboardError> {
        let (name, h) = (self.name.as_str(), self.header());
        if h.magic() != MAGIC {
            return Err(ScoreboardError::BadMagic {
                name: name.to_owned(),
            });
        }
        if h.version != LAYOUT_VERSION {
            return Err(ScoreboardError::VersionMismatch {
                name: name.to_owned(),
                found: h.version,
                expected: LAYOUT_VERSION,
            });
        }
        if h.header_size as usize != HEADER_SIZE {
            return Err(size_error(
                name,
                "header",
                h.header_size as usize,
                HEADER_SIZE,
            ));
        }
        if h.slot_size as usize != SLOT_SIZE {
            return Err(size_error(name, "slot", h.slot_size as usize, SLOT_SIZE));
        }
        let worker_count = h.worker_count;
        if self.len < segment_len(worker_count) {
            return Err(size_error(
                name,
                "segment",
                self.len,
                segment_len(worker_count),
            ));
        }
        Ok(worker_count)
    }
}

fn size_error(name: &str, what: &'static str, found: usize, expected: usize) -> ScoreboardError {
    ScoreboardError::SizeMismatch {
        name: name.to_owned(),
        what,
        found: found as u64,
        expected: expected as u64,
    }
}

impl<M: Access> Scoreboard<M> {
    /// The segment name (without the leading `/`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Number of worker slots.
    pub fn worker_count(&self) -> u32 {
        self.worker_count
    }

    /// The header.
    pub fn header(&self) -> &Header<M> {
        // SAFETY: by the struct invariant `ptr` starts a live, page-aligned mapping of at
        // least HEADER_SIZE bytes, valid for as long as `self`. Every bit pattern is a valid
        // `Header`, and its mutable fields are atomics. A read-only mapping is viewed as
        // `Header<ReadOnly>`, which offers only Relaxed loads (valid on read-only pages).
        unsafe { self.ptr.cast::<Header<M>>().as_ref() }
    }

    /// Worker `i`'s slot.
    ///
    /// # Panics
    ///
    /// If `i >= self.worker_count()`.
    pub fn slot(&self, i: usize) -> &WorkerSlot<M> {
        assert!(
            i < self.worker_count as usize,
            "slot {i} of {}",
            self.worker_count
        );
        debug_assert!(segment_len(self.worker_count) <= self.len);
        let offset = HEADER_SIZE + i * SLOT_SIZE;
        // SAFETY: `i < worker_count` and `segment_len(worker_count) <= len` (invariant), so
        // the slot lies inside the live mapping; HEADER_SIZE and SLOT_SIZE are multiples of
        // 128 and the mapping is page-aligned, so it is aligned. Any bit pattern is a valid
        // slot; its fields are atomics, read-only for `WorkerSlot<ReadOnly>`.
        unsafe { self.ptr.add(offset).cast::<WorkerSlot<M>>().as_ref() }
    }

    /// Every slot, in worker order.
    pub fn slots(&self) -> impl ExactSizeIterator<Item = &WorkerSlot<M>> + '_ {
        (0..self.worker_count as usize).map(move |i| self.slot(i))
    }

    /// The sum of every slot's counters and errors.
    pub fn total(&self) -> SlotSnapshot {
        self.slots().fold(SlotSnapshot::default(), |mut sum, slot| {
            sum.add(&slot.snapshot());
            sum
        })
    }

    /// Removes the name (the mapping stays valid). Removing a name that is already gone
    /// is not an error.
    pub fn unlink(&self) -> Result<(), ScoreboardError> {
        unlink_name(&self.name)
    }
}

impl<M: Access> Drop for Scoreboard<M> {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` describe the mapping this board made (invariant) and nothing
        // borrowed from it can outlive `self`.
        let _ = unsafe { munmap(self.ptr.cast(), self.len) };
        // A forked child holds a copy with the parent's pid: it must not unlink.
        if self.owner_pid == Some(getpid().as_raw()) {
            let _ = unlink_name(&self.name);
        }
    }
}

/// Maps `len` bytes of `fd` shared, read-write or read-only according to `M`.
fn map<M: Access>(fd: &OwnedFd, len: usize) -> Result<NonNull<u8>, Errno> {
    let len = NonZeroUsize::new(len).ok_or(Errno::EINVAL)?;
    let prot = if M::WRITABLE {
        ProtFlags::PROT_READ | ProtFlags::PROT_WRITE
    } else {
        ProtFlags::PROT_READ
    };
    // SAFETY: with no address hint the kernel picks a fresh range, so the mapping overlaps
    // no existing Rust object. The object is a shm segment whose size the caller checked
    // (or just set) to at least `len`.
    let ptr = unsafe { mmap(None, len, prot, MapFlags::MAP_SHARED, fd, 0) }?;
    Ok(ptr.cast())
}

/// Refuses a segment that is not ours or not mode 0600 (someone could have planted it).
fn check_owner_and_mode(fd: &OwnedFd, name: &str) -> Result<libc::stat, ScoreboardError> {
    let stat = fstat(fd).map_err(|e| ScoreboardError::from_errno("fstat", name, e))?;
    let mode = stat.st_mode & 0o7777;
    if stat.st_uid != geteuid().as_raw() || mode != 0o600 {
        return Err(ScoreboardError::Insecure {
            name: name.to_owned(),
            uid: stat.st_uid,
            mode,
        });
    }
    Ok(stat)
}

fn shm_path(name: &str) -> String {
    format!("/{name}")
}

fn unlink_name(name: &str) -> Result<(), ScoreboardError> {
    match shm_unlink(shm_path(name).as_str()) {
        Ok(()) | Err(Errno::ENOENT) => Ok(()),
        Err(e) => Err(ScoreboardError::from_errno("shm_unlink", name, e)),
    }
}

/// Checks that `name` is a scoreboard name: `volley-` then 1 or more of `[A-Za-z0-9._-]`,
/// at most [`NAME_MAX`] bytes in all.
pub fn validate_name(name: &str) -> Result<(), ScoreboardError> {
    let why = if !name.starts_with(NAME_PREFIX) {
        "must start with \"volley-\""
    } else if name.len() == NAME_PREFIX.len() {
        "nothing follows \"volley-\""
    } else if name.len() > NAME_MAX {
        "longer than 60 bytes"
    } else if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
    {
        "only A-Z, a-z, 0-9, '.', '_' and '-' are allowed"
    } else {
        return Ok(());
    };
    Err(ScoreboardError::BadName {
        name: name.to_owned(),
        why,
    })
}

/// Names of this user's `volley-*` segments in `/dev/shm`, sorted.
pub fn list_segments() -> Vec<String> {
    let Ok(dir) = std::fs::read_dir(SHM_DIR) else {
        return Vec::new();
    };
    let uid = geteuid().as_raw();
    let mut names: Vec<String> = dir
        .filter_map(Result::ok)
        .filter(|e| e.metadata().is_ok_and(|m| m.is_file() && m.uid() == uid))
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| validate_name(n).is_ok())
        .collect();
    names.sort_unstable();
    names
}

/// Unlinks this user's scoreboards whose supervisor is gone (left by a crash); returns
/// their names. Segments that fail validation (bad magic, other version, bad mode) are
/// left alone: they may not be ours to judge.
pub fn remove_stale_segments() -> Vec<String> {
    let mut removed = Vec::new();
    for name in list_segments() {
        let Ok(board) = Scoreboard::attach_read_only(&name) else {
            continue;
        };
        if process_is_gone(board.header().supervisor_pid()) && unlink_name(&name).is_ok() {
            removed.push(name);
        }
    }
    removed
}

/// True if no process `pid` exists. Signal 0 only probes; pids that `kill` would read as
/// a group (0, negative) are never judged gone.
fn process_is_gone(pid: u32) -> bool {
    match i32::try_from(pid) {
        Ok(pid) if pid > 0 => kill(Pid::from_raw(pid), None) == Err(Errno::ESRCH),
        _ => false,
    }
}

/// A fresh, hard-to-guess segment name: `volley-<pid>-<16 hex digits>` (64 random bits).
pub fn random_run_name() -> String {
    format!("{NAME_PREFIX}{}-{:016x}", std::process::id(), random_u64())
}

/// 64 bits from `/dev/urandom`, or, if that cannot be read, from the clock and pid mixed
/// with splitmix64 (unique, if guessable; `O_EXCL` still catches a collision).
fn random_u64() -> u64 {
    let mut buf = [0u8; 8];
    let read = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut buf));
    if read.is_ok() {
        return u64::from_ne_bytes(buf);
    }
    let mut z = now_ns() ^ (u64::from(std::process::id()) << 32);
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// `CLOCK_MONOTONIC` in nanoseconds: the same clock in every process of the machine, so
/// workers compare their reads with the header's start instant.
///
/// # Panics
///
/// If the clock cannot be read, which Linux never does for `CLOCK_MONOTONIC`.
pub fn now_ns() -> u64 {
    let ts = clock_gettime(ClockId::CLOCK_MONOTONIC).expect("CLOCK_MONOTONIC is always readable");
    // Both parts are non-negative for CLOCK_MONOTONIC.
    ts.tv_sec() as u64 * 1_000_000_000 + ts.tv_nsec() as u64
}

/// Sleeps until `word` is woken or `timeout` passes, if `word` still holds `expected`.
/// Spurious returns are possible; callers re-check the word.
pub(crate) fn futex_wait(word: &AtomicU32, expected: u32, timeout: Duration) {
    let ts = TimeSpec::from(timeout);
    let ts: &libc::timespec = ts.as_ref();
    // SAFETY: `word` is a live, aligned u32 for the duration of the call, and `ts` a valid
    // timespec. Without FUTEX_PRIVATE_FLAG the kernel keys the wait on the shared page, so a
    // wake from another process's mapping of the segment reaches us. The result is ignored
    // on purpose: EAGAIN (value changed), ETIMEDOUT and EINTR all mean "re-check".
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT,
            expected,
            ts as *const libc::timespec,
            ptr::null::<u32>(),
            0u32,
        );
    }
}

/// Wakes every process waiting on `word`.
pub(crate) fn futex_wake_all(word: &AtomicU32) {
    // SAFETY: `word` is a live, aligned u32; FUTEX_WAKE only reads the address to find
    // waiters and does not touch memory. Shared (non-private) to match `futex_wait`.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAKE,
            i32::MAX,
            ptr::null::<libc::timespec>(),
            ptr::null::<u32>(),
            0u32,
        );
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;
    use crate::counters::{Counter, ErrorClass};

    /// Unique per test and per test process (tests run in parallel threads).
    fn test_name(test: &str) -> String {
        format!("volley-test-{test}-{}", std::process::id())
    }

    #[test]
    fn reader_sees_owner_counters() {
        let name = test_name("rw");
        let owner = Scoreboard::create(&name, 2, 8).unwrap();
        owner.slot(1).add(Counter::BytesSent, 10);
        let reader = Scoreboard::attach_read_only(&name).unwrap();
        // Written after the reader attached: the mappings share pages.
        owner.slot(0).add(Counter::BytesSent, 5);
        owner.slot(0).add_error(ErrorClass::Dns, 1);
        owner.slot(1).set_state(crate::WorkerState::Running);
        assert_eq!(reader.worker_count(), 2);
        assert_eq!(reader.header().run_name(), name);
        assert_eq!(reader.header().concurrency(), 8);
        assert_eq!(reader.header().supervisor_pid(), std::process::id());
        assert_eq!(reader.slot(0).get(Counter::BytesSent), 5);
        assert_eq!(reader.slot(1).state(), crate::WorkerState::Running);
        let total = reader.total();
        assert_eq!(total.get(Counter::BytesSent), 15);
        assert_eq!(total.error(ErrorClass::Dns), 1);
        owner.header().request_stop();
        assert!(reader.header().stop_requested());
    }

    #[test]
    fn user_counters_and_their_names_reach_a_reader() {
        let name = test_name("user");
        let owner = Scoreboard::create_with_user_counters(&name, 2, 2, &["tokens", "bad"]).unwrap();
        owner.slot(0).add_user(0, 3);
        owner.slot(1).add_user(0, 4);
        owner.slot(1).add_user(1, 1);
        owner.slot(1).add_user(99, 1); // past the last: ignored
        let reader = Scoreboard::attach_read_only(&name).unwrap();
        assert_eq!(reader.header().user_counter_names(), ["tokens", "bad"]);
        assert_eq!(reader.slot(1).user(0), 4);
        assert_eq!(reader.total().user[..3], [7, 1, 0]);
        let bad = Scoreboard::create_with_user_counters(&test_name("user-bad"), 1, 1, &["a b"]);
        assert!(matches!(bad, Err(ScoreboardError::BadUserCounter { .. })));
    }

    #[test]
    fn gauges_go_up_and_down() {
        let board = Scoreboard::create(&test_name("gauge"), 1, 1).unwrap();
        let slot = board.slot(0);
        slot.add(Counter::ConnsOpen, 3);
        slot.sub(Counter::ConnsOpen, 2);
        assert_eq!(slot.get(Counter::ConnsOpen), 1);
        slot.set(Counter::ConnsOpen, 7);
        assert_eq!(slot.snapshot().get(Counter::ConnsOpen), 7);
    }

    #[test]
    fn bad_magic_is_refused() {
        let name = test_name("magic");
        let fd = shm_open(
            shm_path(&name).as_str(),
            OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_RDWR,
            Mode::S_IRUSR | Mode::S_IWUSR,
        )
        .unwrap();
        fchmod(&fd, Mode::S_IRUSR | Mode::S_IWUSR).unwrap();
        let mut file = std::fs::File::from(fd);
        file.write_all(&[0xA5; 4096]).unwrap();
        let got = Scoreboard::attach_read_only(&name);
        unlink_name(&name).unwrap();
        assert!(
            matches!(got, Err(ScoreboardError::BadMagic { .. })),
            "{got:?}"
        );
    }

    #[test]
    fn too_small_is_refused() {
        let name = test_name("small");
        let fd = shm_open(
            shm_path(&name).as_str(),
            OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_RDWR,
            Mode::S_IRUSR | Mode::S_IWUSR,
        )
        .unwrap();
        fchmod(&fd, Mode::S_IRUSR | Mode::S_IWUSR).unwrap();
        let got = Scoreboard::attach_read_only(&name);
        unlink_name(&name).unwrap();
        assert!(
            matches!(got, Err(ScoreboardError::SizeMismatch { .. })),
            "{got:?}"
        );
    }

    #[test]
    fn owner_drop_unlinks() {
        let name = test_name("drop");
        let board = Scoreboard::create(&name, 1, 1).unwrap();
        let reader = Scoreboard::attach_read_only(&name).unwrap();
        board.slot(0).add(Counter::RequestsStarted, 1);
        drop(board);
        let got = Scoreboard::attach_read_only(&name);
        assert!(
            matches!(got, Err(ScoreboardError::NotFound { .. })),
            "{got:?}"
        );
        // The reader's mapping outlives the name.
        assert_eq!(reader.slot(0).get(Counter::RequestsStarted), 1);
    }

    #[test]
    fn create_twice_is_exists() {
        let name = test_name("twice");
        let _first = Scoreboard::create(&name, 1, 1).unwrap();
        let got = Scoreboard::create(&name, 1, 1);
        assert!(
            matches!(got, Err(ScoreboardError::Exists { .. })),
            "{got:?}"
        );
        // The failed create must not have removed the first one's name.
        assert!(Scoreboard::attach_read_only(&name).is_ok());
    }

    #[test]
    fn unlink_is_idempotent() {
        let board = Scoreboard::create(&test_name("unlink"), 1, 1).unwrap();
        board.unlink().unwrap();
        board.unlink().unwrap();
        board.slot(0).add(Counter::ConnsOpened, 1);
        assert_eq!(board.slot(0).get(Counter::ConnsOpened), 1);
    }

    #[test]
    fn names_are_checked() {
        for bad in [
            "other",
            "volley-",
            "volley-a/b",
            "volley-ä",
            &format!("volley-{}", "x".repeat(54)),
        ] {
            let got = validate_name(bad);
            assert!(
                matches!(got, Err(ScoreboardError::BadName { .. })),
                "{bad}: {got:?}"
            );
        }
        validate_name("volley-run_1.2-x").unwrap();
        let name = random_run_name();
        validate_name(&name).unwrap();
        assert_ne!(name, random_run_name());
    }

    #[test]
    fn stale_segment_is_removed() {
        let name = test_name("stale");
        let board = Scoreboard::create(&name, 1, 1).unwrap();
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead_pid = child.id();
        child.wait().unwrap();
        board
            .header()
            .supervisor_pid
            .store(dead_pid, Ordering::Relaxed);
        let live = Scoreboard::create(&test_name("live"), 1, 1).unwrap();
        assert!(list_segments().contains(&name));
        assert!(process_is_gone(dead_pid) && !process_is_gone(std::process::id()));
        let removed = remove_stale_segments();
        // Another test process of this user may sweep it first, so check the outcome.
        assert!(!removed.iter().any(|n| n == live.name()), "{removed:?}");
        let got = Scoreboard::attach_read_only(&name);
        assert!(
            matches!(got, Err(ScoreboardError::NotFound { .. })),
            "{got:?}"
        );
        assert!(Scoreboard::attach_read_only(live.name()).is_ok());
    }

    #[test]
    fn group_pids_are_never_judged_gone() {
        assert!(!process_is_gone(0));
        assert!(!process_is_gone(u32::MAX));
    }

    #[test]
    fn clock_moves_forward() {
        let a = now_ns();
        assert!(a > 0 && now_ns() >= a);
    }
}
