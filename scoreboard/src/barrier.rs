//! Start together: workers mark themselves ready and sleep on the header's `release` word;
//! the supervisor stamps the start instant and wakes them all with one futex call.
//!
//! The word is in a `MAP_SHARED` segment, so the futex is a shared (not private) one. Each
//! wait is bounded (100 ms) so a worker whose supervisor died notices and gives up.
#![forbid(unsafe_code)]

use std::sync::atomic::Ordering;
use std::time::Duration;

use nix::unistd::getppid;

use crate::layout::{Access, Header, RELEASE_ABORTED, RELEASE_GO, RELEASE_WAITING};
use crate::segment::{futex_wait, futex_wake_all, now_ns};

/// How long a worker sleeps before it re-checks that its supervisor is alive.
const POLL: Duration = Duration::from_millis(100);

/// What a waiting worker was told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Release {
    /// Start now; the shared start instant is `start_ns` (`CLOCK_MONOTONIC` ns).
    Go {
        /// The start instant the supervisor wrote before the release.
        start_ns: u64,
    },
    /// The run was called off (or the supervisor is gone): exit without running.
    Aborted,
}

/// Worker: counts this worker as ready.
pub fn mark_ready(header: &Header) {
    header.ready.fetch_add(1, Ordering::AcqRel);
}

/// Worker: blocks until the supervisor releases or aborts the run, or until the process
/// is no longer a child of `supervisor_pid` (the supervisor died: [`Release::Aborted`]).
pub fn wait_release(header: &Header, supervisor_pid: i32) -> Release {
    loop {
        match header.release.load(Ordering::Acquire) {
            RELEASE_WAITING => {}
            // Acquire above pairs with release()'s Release store: start_ns is visible.
            RELEASE_GO => {
                return Release::Go {
                    start_ns: header.start_ns.load(Ordering::Relaxed),
                };
            }
            _ => return Release::Aborted,
        }
        futex_wait(&header.release, RELEASE_WAITING, POLL);
        if getppid().as_raw() != supervisor_pid {
            return Release::Aborted;
        }
    }
}

/// Supervisor: how many workers have called [`mark_ready`].
pub fn ready_count<M: Access>(header: &Header<M>) -> u32 {
    header.ready_count()
}

/// Supervisor: stamps the start instant and releases every waiting worker at once.
pub fn release(header: &Header) {
    header.start_ns.store(now_ns(), Ordering::Relaxed);
    header.release.store(RELEASE_GO, Ordering::Release);
    futex_wake_all(&header.release);
}

/// Supervisor: calls the run off; waiting workers get [`Release::Aborted`].
pub fn abort_release(header: &Header) {
    header.release.store(RELEASE_ABORTED, Ordering::Release);
    futex_wake_all(&header.release);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Scoreboard;

    fn board(test: &str) -> Scoreboard {
        Scoreboard::create(
            &format!("volley-test-barrier-{test}-{}", std::process::id()),
            2,
            2,
        )
        .unwrap()
    }

    #[test]
    fn mark_ready_counts() {
        let sb = board("ready");
        assert_eq!(ready_count(sb.header()), 0);
        mark_ready(sb.header());
        mark_ready(sb.header());
        assert_eq!(ready_count(sb.header()), 2);
    }

    #[test]
    fn released_worker_goes_at_once() {
        let sb = board("go");
        release(sb.header());
        let start = sb.header().start_ns();
        assert!(start > 0);
        let ppid = getppid().as_raw();
        assert_eq!(
            wait_release(sb.header(), ppid),
            Release::Go { start_ns: start }
        );
    }

    #[test]
    fn aborted_worker_is_told() {
        let sb = board("abort");
        abort_release(sb.header());
        assert_eq!(
            wait_release(sb.header(), getppid().as_raw()),
            Release::Aborted
        );
    }

    #[test]
    fn sleeping_waiter_is_woken() {
        let sb = board("wake");
        let header = sb.header();
        let ppid = getppid().as_raw();
        let got = std::thread::scope(|s| {
            let waiter = s.spawn(|| {
                mark_ready(header);
                wait_release(header, ppid)
            });
            while ready_count(header) == 0 {
                std::thread::yield_now();
            }
            std::thread::sleep(Duration::from_millis(20));
            release(header);
            waiter.join().unwrap()
        });
        assert_eq!(
            got,
            Release::Go {
                start_ns: header.start_ns()
            }
        );
    }

    #[test]
    fn orphaned_waiter_gives_up() {
        let sb = board("orphan");
        // Our parent is not pid 1 under cargo test, so this "supervisor" is not our parent.
        let not_parent = getppid().as_raw().wrapping_add(1);
        assert_eq!(wait_release(sb.header(), not_parent), Release::Aborted);
    }
}
