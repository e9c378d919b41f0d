//! The supervisor's wait loop: drain the report pipes, count stop signals, reap children,
//! print progress, sample the reply rate. It ends when every worker has both closed its
//! pipe and been reaped.

use std::os::fd::AsFd;
use std::time::Duration;

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use volley_scoreboard::{Counter, RunState, Scoreboard, WorkerState, now_ns};

use crate::monitor::Progress;
use crate::report::Exit;
use crate::signals::StopSignals;
use crate::spawn::Child;

/// httperf samples the reply rate every 5 s.
pub const REPLY_RATE_INTERVAL_NS: u64 = 5_000_000_000;
/// volley's summary samples it every second, so that a short run still shows how steady
/// its rate was.
pub const REPLY_RATE_1S_NS: u64 = 1_000_000_000;
/// After a stop request, how long workers get to send their reports before being killed.
pub const STOP_GRACE: Duration = Duration::from_secs(5);
/// A running worker whose heartbeat (its loop writes one into its scoreboard slot every
/// turn, at least every 50 ms) is older than this has stopped responding (SIGSTOP, a
/// hook that blocks, a bug): it is killed, and the report says so. Its counters come from
/// the scoreboard and its requests in flight count as aborted.
pub const HEARTBEAT_GRACE: Duration = Duration::from_secs(3);
/// A second SIGINT/SIGTERM kills the workers only this long after the first: a Ctrl-C
/// that reaches volley twice at once (from the terminal and from a wrapper such as
/// `timeout` that forwards it) is one interrupt.
pub const SECOND_INTERRUPT_AFTER: Duration = Duration::from_secs(1);
/// The loop wakes at least this often.
const TICK_NS: u64 = 100_000_000;

/// What the wait loop learned about each worker.
#[derive(Debug, Default)]
pub struct Waited {
    /// Bytes each worker sent on its pipe.
    pub reports: Vec<Vec<u8>>,
    /// How each worker ended.
    pub exits: Vec<Exit>,
    /// A stop signal arrived.
    pub interrupted: bool,
    /// Replies per second, one sample per full 5 s.
    pub reply_rate_samples: Vec<f64>,
    /// Successful sessions per second, one sample per full 5 s.
    pub session_rate_samples: Vec<f64>,
    /// Replies per second in each full second: `(end of the second, ns after the release,
    /// replies/s)`. The caller keeps those that ended before the load did (the loop also
    /// runs through the teardown, when no request is made).
    pub reply_rate_1s: Vec<(u64, f64)>,
    /// When the last worker ended (monotonic ns).
    pub end_ns: u64,
}

struct Tracked {
    pipe_open: bool,
    reaped: bool,
    /// Killed for not responding (see [`HEARTBEAT_GRACE`]).
    stuck: bool,
}

/// Waits for every child. `stop_at_ns`: when the run should be over by itself (duration
/// runs); past it plus [`STOP_GRACE`] the stop flag is set, and past another grace the
/// workers are killed, so the supervisor can never wait forever.
pub fn wait_all(
    children: &[Child],
    sb: &Scoreboard,
    signals: &mut StopSignals,
    mut progress: Option<Progress>,
    start_ns: u64,
    stop_at_ns: Option<u64>,
) -> Waited {
    let n = children.len();
    let mut out = Waited {
        reports: vec![Vec::new(); n],
        exits: vec![Exit::default(); n],
        ..Default::default()
    };
    let mut tracked: Vec<Tracked> = (0..n)
        .map(|_| Tracked {
            pipe_open: true,
            reaped: false,
            stuck: false,
        })
        .collect();
    let grace = STOP_GRACE.as_nanos() as u64;
    let mut stop_deadline = stop_at_ns.map(|t| t.saturating_add(grace));
    let mut kill_deadline: Option<u64> = None;
    let mut next_sample = start_ns.saturating_add(REPLY_RATE_INTERVAL_NS);
    let mut per_second = Sampler::new(start_ns, REPLY_RATE_1S_NS);
    let mut last_replies = 0u64;
    let mut last_sessions = 0u64;
    let mut first_interrupt: Option<u64> = None;
    let mut interrupts_seen = 0usize;
    while tracked.iter().any(|t| t.pipe_open || !t.reaped) {
        let now = now_ns();
        kill_unresponsive(children, &mut tracked, sb, start_ns, now);
        if stop_deadline.is_some_and(|d| now >= d) {
            stop_deadline = None;
            sb.header().request_stop();
            kill_deadline = Some(now.saturating_add(grace));
        }
        if kill_deadline.is_some_and(|d| now >= d) {
            kill_deadline = None;
            kill_all(children, &tracked);
        }
        if now >= next_sample {
            let replies = sb.total().get(Counter::RequestsSucceeded);
            let secs = REPLY_RATE_INTERVAL_NS as f64 / 1e9;
            out.reply_rate_samples
                .push((replies - last_replies) as f64 / secs);
            last_replies = replies;
            let sessions = sb.total().get(Counter::SessionsOk);
            out.session_rate_samples
                .push((sessions - last_sessions) as f64 / secs);
            last_sessions = sessions;
            next_sample = next_sample.saturating_add(REPLY_RATE_INTERVAL_NS);
        }
        per_second.sample(sb, now, &mut out.reply_rate_1s);
        if let Some(p) = progress.as_mut() {
            p.tick(sb, now);
        }
        // Woken at the next second's end, so each sample covers one second.
        let tick = per_second.next.saturating_sub(now).clamp(1, TICK_NS);
        poll_once(children, &mut tracked, signals, &mut out, tick);
        if signals.count > interrupts_seen {
            interrupts_seen = signals.count;
            let now = now_ns();
            match first_interrupt {
                None => {
                    first_interrupt = Some(now);
                    out.interrupted = true;
                    sb.header().request_stop();
                    sb.header().set_state(RunState::Stopping);
                    kill_deadline = Some(now.saturating_add(grace));
                    eprintln!(
                        "volley: interrupted: stopping the workers (interrupt again to kill them)"
                    );
                }
                Some(first)
                    if now.saturating_sub(first) >= SECOND_INTERRUPT_AFTER.as_nanos() as u64 =>
                {
                    kill_all(children, &tracked);
                }
                // The same interrupt delivered twice (terminal and wrapper).
                Some(_) => {}
            }
        }
        reap(children, &mut tracked, &mut out, false);
        // Every pipe closed: the remaining children are exiting; wait for them for real.
        if tracked.iter().all(|t| !t.pipe_open) {
            reap(children, &mut tracked, &mut out, true);
        }
    }
    // The second the workers ended in, if it was over before the loop could sample it.
    per_second.sample(sb, now_ns(), &mut out.reply_rate_1s);
    if let Some(p) = progress.as_mut() {
        p.finish(sb, now_ns());
    }
    out.end_ns = now_ns();
    out
}

/// Samples the scoreboard's reply total at the end of each `interval`.
struct Sampler {
    start: u64,
    interval: u64,
    /// When the current interval ends.
    next: u64,
    last_replies: u64,
}

impl Sampler {
    fn new(start: u64, interval: u64) -> Self {
        Sampler {
            start,
            interval,
            next: start.saturating_add(interval),
            last_replies: 0,
        }
    }

    /// Pushes `(end of the interval after start, replies/s)` when an interval is over.
    /// One sample per call: a late loop charges its intervals' replies to the first, as
    /// httperf's samples do.
    fn sample(&mut self, sb: &Scoreboard, now: u64, out: &mut Vec<(u64, f64)>) {
        if now < self.next {
            return;
        }
        let replies = sb.total().get(Counter::RequestsSucceeded);
        let secs = self.interval as f64 / 1e9;
        let rate = replies.saturating_sub(self.last_replies) as f64 / secs;
        out.push((self.next - self.start, rate));
        self.last_replies = replies;
        self.next = self.next.saturating_add(self.interval);
    }
}

/// Waits up to `timeout_ns` for a report pipe or a signal, and reads what came.
fn poll_once(
    children: &[Child],
    tracked: &mut [Tracked],
    signals: &mut StopSignals,
    out: &mut Waited,
    timeout_ns: u64,
) {
    let open: Vec<usize> = (0..children.len())
        .filter(|&i| tracked[i].pipe_open)
        .collect();
    let mut fds: Vec<PollFd<'_>> = open
        .iter()
        .map(|&i| PollFd::new(children[i].pipe.as_fd(), PollFlags::POLLIN))
        .collect();
    fds.push(PollFd::new(signals.fd(), PollFlags::POLLIN));
    // poll(2) counts milliseconds: rounded up, so the loop never wakes just short of the
    // time it waits for.
    let ms = Duration::from_millis(timeout_ns.div_ceil(1_000_000));
    let timeout = PollTimeout::try_from(ms).unwrap_or(PollTimeout::ZERO);
    match poll(&mut fds, timeout) {
        Ok(0) | Err(Errno::EINTR) => {}
        Ok(_) => {}
        Err(_) => std::thread::sleep(Duration::from_nanos(TICK_NS)),
    }
    let ready: Vec<bool> = fds
        .iter()
        .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
        .collect();
    drop(fds);
    for (k, &i) in open.iter().enumerate() {
        if ready[k] {
            read_pipe(&children[i], &mut tracked[i], &mut out.reports[i]);
        }
    }
    if ready.last().copied().unwrap_or(false) {
        signals.drain();
    }
}

fn read_pipe(child: &Child, t: &mut Tracked, buf: &mut Vec<u8>) {
    let mut chunk = [0u8; 65536];
    match nix::unistd::read(child.pipe.as_fd(), &mut chunk) {
        Ok(0) => t.pipe_open = false,
        Ok(k) => buf.extend_from_slice(&chunk[..k]),
        Err(Errno::EINTR | Errno::EAGAIN) => {}
        Err(_) => t.pipe_open = false,
    }
}

fn reap(children: &[Child], tracked: &mut [Tracked], out: &mut Waited, block: bool) {
    for (i, c) in children.iter().enumerate() {
        if tracked[i].reaped {
            continue;
        }
        let flags = if block {
            None
        } else {
            Some(WaitPidFlag::WNOHANG)
        };
        match waitpid(c.pid, flags) {
            Ok(WaitStatus::Exited(_, code)) => {
                out.exits[i] = Exit {
                    code: Some(code),
                    ..Exit::default()
                };
                tracked[i].reaped = true;
            }
            Ok(WaitStatus::Signaled(_, sig, core)) => {
                out.exits[i] = Exit {
                    code: None,
                    signal: Some(sig as i32),
                    core_dumped: core,
                    stopped_responding: tracked[i].stuck && sig == Signal::SIGKILL,
                };
                tracked[i].reaped = true;
            }
            Ok(_) => {}
            Err(Errno::EINTR) => {}
            Err(_) => {
                // ECHILD: not our child any more; nothing more will come from it.
                tracked[i].reaped = true;
            }
        }
    }
}

/// Kills every running worker whose heartbeat is older than [`HEARTBEAT_GRACE`] (counted
/// from the release for a worker that has not beaten yet).
fn kill_unresponsive(
    children: &[Child],
    tracked: &mut [Tracked],
    sb: &Scoreboard,
    start_ns: u64,
    now: u64,
) {
    let grace = HEARTBEAT_GRACE.as_nanos() as u64;
    for (c, t) in children.iter().zip(tracked.iter_mut()) {
        if t.reaped || t.stuck {
            continue;
        }
        let slot = sb.slot(c.index as usize);
        if slot.state() != WorkerState::Running {
            continue;
        }
        let last = slot.heartbeat_ns().max(start_ns);
        if now.saturating_sub(last) > grace {
            t.stuck = true;
            let _ = kill(c.pid, Signal::SIGKILL);
        }
    }
}

fn kill_all(children: &[Child], tracked: &[Tracked]) {
    for (c, t) in children.iter().zip(tracked) {
        if !t.reaped {
            let _ = kill(c.pid, Signal::SIGKILL);
        }
    }
}
