//! Forking the workers. The child path runs one function that ends in `_exit`, so a worker
//! never returns into the supervisor's code and never runs its destructors (which would,
//! for example, flush the parent's buffers twice or unlink the scoreboard).

use std::fs::File;
use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use nix::fcntl::OFlag;
use nix::sys::prctl;
use nix::sys::signal::{SigHandler, Signal, signal};
use nix::unistd::{ForkResult, Pid, fork, getpid, getppid, pipe2};
use volley_config::RunSpec;
use volley_scoreboard::{Release, Scoreboard, WorkerState, barrier};
use volley_worker::Worker;
use volley_worker::hooks::{Attached, Board, Hooks};

use crate::error::SupervisorError;

/// Exit code of a worker whose setup failed.
pub const EXIT_SETUP: i32 = 1;
/// Exit code of a worker released with "abort" (the supervisor gave up before the start).
pub const EXIT_ABORTED: i32 = 3;
/// Exit code of a worker that panicked.
pub const EXIT_PANIC: i32 = 101;

/// A forked worker as the supervisor sees it.
#[derive(Debug)]
pub struct Child {
    /// Worker index.
    pub index: u32,
    /// Process id.
    pub pid: Pid,
    /// Read end of the worker's report pipe.
    pub pipe: OwnedFd,
}

/// Forks `spec.workers` workers over `sb`. Must be called while the process is
/// single-threaded.
///
/// # Errors
///
/// [`SupervisorError::Os`] when a pipe or a fork fails; workers already forked are
/// returned to no one, so the caller aborts the release and kills them (they also die
/// with the parent through `PR_SET_PDEATHSIG`).
pub fn spawn_workers<H: Hooks>(
    spec: &RunSpec,
    tls: Option<&Arc<volley_worker::tls::ClientConfig>>,
    sb: &Scoreboard,
    children: &mut Vec<Child>,
    hooks: &mut H,
) -> Result<(), SupervisorError> {
    debug_assert_eq!(
        thread_count(),
        Some(1),
        "fork needs a single-threaded supervisor"
    );
    let parent = getpid();
    // Bytes buffered in std's stdout would be printed once per process.
    let _ = std::io::stdout().flush();
    for index in 0..spec.workers {
        let (read, write) = pipe2(OFlag::O_CLOEXEC).map_err(SupervisorError::os("pipe2"))?;
        // SAFETY: the process is single-threaded here (asserted above in debug builds; the
        // supervisor starts no threads before its workers are forked), so no lock can be
        // held by a thread that does not exist in the child. The child branch calls
        // `worker_process`, which never returns: it ends in `_exit`, running no destructor
        // of the parent's objects.
        match unsafe { fork() }.map_err(SupervisorError::os("fork"))? {
            ForkResult::Child => {
                drop(read);
                for c in children.iter() {
                    let _ = nix::unistd::close(c.pipe.as_raw_fd());
                }
                worker_process(spec, tls, index, sb, write, parent, hooks)
            }
            ForkResult::Parent { child } => {
                debug_assert!(child.as_raw() > 0, "the parent sees a positive child pid");
                drop(write);
                children.push(Child {
                    index,
                    pid: child,
                    pipe: read,
                });
            }
        }
    }
    Ok(())
}

/// The whole life of a worker process. Never returns.
fn worker_process<H: Hooks>(
    spec: &RunSpec,
    tls: Option<&Arc<volley_worker::tls::ClientConfig>>,
    index: u32,
    sb: &Scoreboard,
    pipe: OwnedFd,
    parent: Pid,
    hooks: &mut H,
) -> ! {
    // Die with the supervisor; if it is already gone, prctl came too late: leave.
    if prctl::set_pdeathsig(Signal::SIGKILL).is_err() || getppid() != parent {
        exit_now(EXIT_SETUP);
    }
    for sig in [Signal::SIGINT, Signal::SIGTERM] {
        // SAFETY: SIG_IGN installs no handler code, so nothing can run in signal context.
        // Terminal ^C reaches the whole process group; workers stop on the scoreboard's
        // stop flag instead, so the supervisor still gets their reports.
        let _ = unsafe { signal(sig, SigHandler::SigIgn) };
    }
    let code = catch_unwind(AssertUnwindSafe(|| {
        worker_body(spec, tls, index, sb, pipe, parent, hooks)
    }))
    .unwrap_or(EXIT_PANIC);
    exit_now(code)
}

/// Leaves the worker process at once: no atexit handlers, no destructors, no stdio flush
/// of buffers that belong to the parent.
fn exit_now(code: i32) -> ! {
    // SAFETY: `_exit` is async-signal-safe and takes no pointers; it ends the process
    // without running any Rust code, which is exactly what a forked child needs.
    unsafe { libc::_exit(code) }
}

fn worker_body<H: Hooks>(
    spec: &RunSpec,
    tls: Option<&Arc<volley_worker::tls::ClientConfig>>,
    index: u32,
    sb: &Scoreboard,
    pipe: OwnedFd,
    parent: Pid,
    hooks: &mut H,
) -> i32 {
    let header = sb.header();
    let slot = sb.slot(index as usize);
    slot.set_pid(getpid().as_raw() as u32);
    if H::ACTIVE {
        hooks.proc_init(index);
    }
    let worker = match Worker::new(spec, index, header, slot) {
        Ok(w) => w.with_tls(tls.cloned()),
        Err(e) => {
            eprintln!("volley: worker {index}: {e}");
            return EXIT_SETUP;
        }
    };
    let mut attached = H::ACTIVE.then(|| {
        let slots = spec.slots_of_worker(index).count();
        Attached::new(&mut *hooks, slots, spec.custom_iterator.clone())
    });
    let worker = match attached.as_mut() {
        Some(attached) => {
            let board = Board::new(
                (0..sb.worker_count() as usize)
                    .map(|i| sb.slot(i))
                    .collect(),
            );
            worker.with_hooks(attached, board)
        }
        None => worker,
    };
    slot.set_state(WorkerState::Ready);
    barrier::mark_ready(header);
    let start_ns = match barrier::wait_release(header, parent.as_raw()) {
        Release::Go { start_ns } => start_ns,
        Release::Aborted => return EXIT_ABORTED,
    };
    slot.set_state(WorkerState::Running);
    let report = match worker.run(start_ns) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("volley: worker {index}: {e}");
            return EXIT_SETUP;
        }
    };
    slot.set_state(WorkerState::Done);
    if let Err(e) = File::from(pipe).write_all(&report.encode()) {
        eprintln!("volley: worker {index}: sending the report: {e}");
        return EXIT_SETUP;
    }
    if H::ACTIVE {
        drop(attached);
        hooks.proc_exit(index)
    } else {
        0
    }
}

/// Threads of this process (Linux), if it can be read.
fn thread_count() -> Option<usize> {
    std::fs::read_dir("/proc/self/task").ok().map(|d| d.count())
}
