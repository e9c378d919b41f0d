/*!
volley's `/metrics` endpoint: a run's scoreboard served in the
OpenMetrics (or Prometheus 0.0.4) text format while the run lasts, and for a linger after it.

An [`Endpoint`] is the bound listener; the supervisor binds it before it forks its workers
(so a bad or busy address fails before any load) and hands it a read-only mapping of the
scoreboard after the fork ([`Endpoint::serve`]), which starts the one serving thread and
returns the [`Exporter`]. Each scrape reads every worker slot into a
[`Sample`] and encodes it with prometheus-client; the workers do no extra work.
The exporter's own mapping outlives the run's, so once the supervisor has reaped every
worker and called [`Exporter::finish`], scrapes serve the final counters, which equal the
report's. [`Exporter::linger`] then keeps serving until one more scrape has been answered,
a deadline passes, or the caller says stop (Ctrl-C).

[`super::http`] is the small HTTP/1.1 side: bounded reads, deadlines, 404/405/400, never a panic
out of the thread.
*/

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use volley_scoreboard::{ReadOnly, Scoreboard};

pub use super::exposition::{Format, Sample};
use super::http::{self, Request};

/// How often the serving thread looks at its stop flag while no client connects.
const STOP_CHECK: Duration = Duration::from_millis(100);

/// How often [`Exporter::linger`] looks for the final scrape and the stop condition.
const LINGER_TICK: Duration = Duration::from_millis(20);

/// A bound `/metrics` listener, not serving yet.
#[derive(Debug)]
pub struct Endpoint {
    listener: TcpListener,
}

impl Endpoint {
    /// Binds `addr` (port 0: any free port; see [`Endpoint::local_addr`]).
    ///
    /// # Errors
    ///
    /// The bind's I/O error (address in use, not an address of this host, …).
    pub fn bind(addr: SocketAddr) -> io::Result<Endpoint> {
        let listener = TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        Ok(Endpoint { listener })
    }

    /// The address actually bound.
    ///
    /// # Errors
    ///
    /// As `getsockname(2)`.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Starts serving `board` on a thread of its own. Call it after the workers are
    /// forked: a fork needs a single-threaded process.
    ///
    /// # Errors
    ///
    /// When the thread cannot be spawned.
    pub fn serve(self, board: Scoreboard<ReadOnly>) -> io::Result<Exporter> {
        let shared = Arc::new(Shared::default());
        let theirs = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("volley-metrics".into())
            .spawn(move || serve_loop(&self.listener, &board, &theirs))?;
        Ok(Exporter {
            shared,
            thread: Some(thread),
        })
    }
}

/// What the serving thread and its owner share.
#[derive(Debug, Default)]
struct Shared {
    /// Set by the owner: leave the loop.
    stop: AtomicBool,
    /// Set by the owner once every worker was reaped: the values are final.
    finished: AtomicBool,
    /// Scrapes answered whose sample was taken after `finished` was set.
    final_scrapes: AtomicU64,
    /// Scrapes answered in all.
    scrapes: AtomicU64,
}

/// How [`Exporter::linger`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lingered {
    /// A scrape saw the final values.
    Scraped,
    /// The deadline passed first.
    Expired,
    /// The caller's stop condition (Ctrl-C) came first.
    Interrupted,
}

/// A serving `/metrics` endpoint. Dropping it stops the thread and closes the listener.
#[derive(Debug)]
pub struct Exporter {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Exporter {
    /// Says the run is over and every worker was reaped: later scrapes report the final
    /// values (and `volley_run_finished 1`).
    pub fn finish(&self) {
        self.shared.finished.store(true, Ordering::SeqCst);
    }

    /// Scrapes answered so far.
    pub fn scrapes(&self) -> u64 {
        self.shared.scrapes.load(Ordering::SeqCst)
    }

    /// Keeps serving until a scrape taken after [`Exporter::finish`] has been answered,
    /// `max` has passed, or `interrupted()` returns true (polled every 20 ms); then
    /// stops. A zero `max` stops at once.
    pub fn linger(self, max: Duration, mut interrupted: impl FnMut() -> bool) -> Lingered {
        let deadline = Instant::now() + max;
        loop {
            if self.shared.final_scrapes.load(Ordering::SeqCst) > 0 {
                return Lingered::Scraped;
            }
            if interrupted() {
                return Lingered::Interrupted;
            }
            let now = Instant::now();
            if now >= deadline {
                return Lingered::Expired;
            }
            std::thread::sleep(LINGER_TICK.min(deadline - now));
        }
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Accepts and answers clients one at a time until told to stop.
fn serve_loop(listener: &TcpListener, board: &Scoreboard<ReadOnly>, shared: &Shared) {
    let timeout = PollTimeout::try_from(STOP_CHECK).unwrap_or(PollTimeout::MAX);
    while !shared.stop.load(Ordering::SeqCst) {
        let mut fds = [PollFd::new(listener.as_fd(), PollFlags::POLLIN)];
        if poll(&mut fds, timeout).is_err() {
            std::thread::sleep(STOP_CHECK);
            continue;
        }
        match listener.accept() {
            Ok((stream, _)) => {
                // A bug in one reply must not end the endpoint (nor the run: this is not
                // the supervisor's thread).
                let _ = catch_unwind(AssertUnwindSafe(|| answer(stream, board, shared)));
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // Out of descriptors or the like: wait instead of spinning.
            Err(_) => std::thread::sleep(STOP_CHECK),
        }
    }
}

/// Reads one request and answers it.
fn answer(mut stream: TcpStream, board: &Scoreboard<ReadOnly>, shared: &Shared) {
    if stream.set_nonblocking(false).is_err() {
        return;
    }
    let Some(request) = http::read_request(&mut stream) else {
        return;
    };
    let text = "text/plain; charset=utf-8";
    let _ = match request {
        Request::Metrics { format, head } => {
            let finished = shared.finished.load(Ordering::SeqCst);
            let sample = read(board, finished);
            match sample.encode(format) {
                Ok(body) => {
                    let sent = http::respond(
                        &mut stream,
                        "200 OK",
                        format.content_type(),
                        "",
                        body.as_bytes(),
                        head,
                    );
                    if sent.is_ok() {
                        shared.scrapes.fetch_add(1, Ordering::SeqCst);
                        if finished {
                            shared.final_scrapes.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                    sent
                }
                Err(_) => http::respond(
                    &mut stream,
                    "500 Internal Server Error",
                    text,
                    "",
                    b"encoding failed\n",
                    false,
                ),
            }
        }
        Request::NotFound => http::respond(
            &mut stream,
            "404 Not Found",
            text,
            "",
            b"volley serves /metrics only\n",
            false,
        ),
        Request::MethodNotAllowed => http::respond(
            &mut stream,
            "405 Method Not Allowed",
            text,
            "Allow: GET, HEAD\r\n",
            b"GET /metrics\n",
            false,
        ),
        Request::Bad => http::respond(
            &mut stream,
            "400 Bad Request",
            text,
            "",
            b"bad request\n",
            false,
        ),
    };
}

/// One scrape's sample of `board`.
pub fn read(board: &Scoreboard<ReadOnly>, finished: bool) -> Sample {
    let slots: Vec<_> = board.slots().map(|s| s.snapshot()).collect();
    let alive = slots.iter().filter(|s| is_our_live_child(s.pid)).count() as u32;
    Sample {
        run: board.name().to_string(),
        slots,
        alive,
        finished,
        user_names: board.header().user_counter_names(),
    }
}

/// Whether `pid` is a child of this process that has not exited (a zombie, waiting to be
/// reaped, has). The pid comes from shared memory, so it is only trusted as far as
/// `/proc` confirms it: the process must exist and have this process as its parent.
fn is_our_live_child(pid: u32) -> bool {
    if pid == 0 {
        return false;
    }
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // "pid (comm) S ppid …": comm may hold anything, so split after its last ')'.
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return false;
    };
    let mut fields = rest.split_ascii_whitespace();
    let state = fields.next().unwrap_or("Z");
    let ppid = fields.next().and_then(|p| p.parse::<u32>().ok());
    !matches!(state, "Z" | "X" | "x") && ppid == Some(std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_live_children_count() {
        assert!(!is_our_live_child(0));
        assert!(!is_our_live_child(std::process::id()), "not our own child");
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        assert!(is_our_live_child(child.id()));
        child.kill().unwrap();
        // Killed but not reaped: a zombie is not alive.
        let deadline = Instant::now() + Duration::from_secs(5);
        while is_our_live_child(child.id()) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(!is_our_live_child(child.id()));
        child.wait().unwrap();
    }
}
