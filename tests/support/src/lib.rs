/*!
This crate provides the support code for volley's integration tests: a
scriptable loopback HTTP/1.1 server and a runner for the built `volley`
binary that always ends.

The principal types are [`TestServer`], configured by a [`ServerConfig`]
whose [`Reply`] says how every request is answered, and [`Volley`], a
builder that runs a binary with a deadline and returns its [`Output`]
(or, through [`Volley::spawn`], a [`Running`] child that a test can signal
mid-run). A child that outlives its deadline is killed, with its whole
process group, and the test fails with the child's stderr so far.

For HTTPS, [`TestPki`] (module [`tls`]) makes a throwaway CA, server
certificates good and bad ([`Leaf`]) and a client certificate at test
time, and [`TestServer::start_tls`] serves the same scripted replies over
TLS, counting handshakes ([`TlsCounts`]).

```no_run
use std::time::Duration;
use volley_testsupport::{Reply, ServerConfig, TestServer, Volley};

// In an integration test: `env!("CARGO_BIN_EXE_volley")`.
let bin = "target/debug/volley";
let server = TestServer::start(ServerConfig::new(Reply::ok("hello")));
let out = Volley::new(bin)
    .arg(server.url("/"))
    .deadline(Duration::from_secs(10))
    .run();
assert_eq!(out.code, Some(0), "stderr: {}", out.stderr);
```
*/
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod hostile;
pub mod server;
pub mod tls;

pub use server::{Received, Reply, Route, ServerConfig, TestServer, TlsCounts, closed_port};
pub use tls::{Leaf, TestPki};

/// A scratch directory under the system temp dir (unique per process, tag, instant and
/// call), removed with everything in it when dropped.
#[derive(Debug)]
pub struct Scratch(PathBuf);

impl Scratch {
    /// A fresh directory whose name contains `tag`.
    ///
    /// # Panics
    ///
    /// If the directory cannot be created.
    pub fn new(tag: &str) -> Scratch {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        // Two threads can read the same clock value: the counter keeps
        // their directories apart.
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!(
            "volley-test-{tag}-{}-{nanos:x}-{n}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).expect("create scratch dir");
        Scratch(dir)
    }

    /// The path of `name` in the directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// Writes `text` to `name` in the directory and returns its path.
    ///
    /// # Panics
    ///
    /// If the file cannot be written.
    pub fn file(&self, name: &str, text: &str) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, text).expect("write scratch file");
        p
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use nix::sys::signal::{self, Signal};
use nix::unistd::Pid;

/// How often deadlines and conditions are polled.
const POLL: Duration = Duration::from_millis(10);

/// Default deadline of a [`Volley`] run.
const DEFAULT_DEADLINE: Duration = Duration::from_secs(30);

/// After the child exits, how long its stdout and stderr may stay open
/// before the run fails: a descendant that still holds them outlived
/// volley, which is a bug (workers must not outlive the supervisor).
const PIPE_GRACE: Duration = Duration::from_secs(2);

/// A builder that runs a binary (normally `env!("CARGO_BIN_EXE_volley")`)
/// with a deadline.
///
/// The child gets its own process group, a null stdin and piped
/// stdout/stderr, which are drained on threads so a full pipe never blocks
/// it.
#[derive(Debug, Clone)]
pub struct Volley {
    bin: PathBuf,
    args: Vec<String>,
    deadline: Duration,
    env: Vec<(String, String)>,
}

impl Volley {
    /// Runs `bin` with no arguments and a 30 s deadline.
    pub fn new(bin: impl AsRef<Path>) -> Volley {
        Volley {
            bin: bin.as_ref().to_path_buf(),
            args: Vec::new(),
            deadline: DEFAULT_DEADLINE,
            env: Vec::new(),
        }
    }

    /// Appends one argument.
    pub fn arg(mut self, arg: impl Into<String>) -> Volley {
        self.args.push(arg.into());
        self
    }

    /// Appends arguments.
    pub fn args<I>(mut self, args: I) -> Volley
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Sets the deadline, counted from spawning, after which the child is
    /// killed and the test fails.
    pub fn deadline(mut self, deadline: Duration) -> Volley {
        self.deadline = deadline;
        self
    }

    /// Sets an environment variable for the child.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Volley {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Runs the binary to completion.
    ///
    /// # Panics
    ///
    /// If the binary cannot be started, or does not finish (exit and close
    /// its output) within the deadline; it is killed first.
    pub fn run(&self) -> Output {
        self.spawn().wait()
    }

    /// Starts the binary and returns at once, for tests that act on it
    /// mid-run. The deadline keeps counting from now.
    ///
    /// # Panics
    ///
    /// If the binary cannot be started.
    pub fn spawn(&self) -> Running {
        let mut cmd = Command::new(&self.bin);
        cmd.args(&self.args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // Own process group: on a deadline the whole tree (volley's
        // workers too) is killed with one `killpg`.
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.bin.display()));
        let started = Instant::now();
        let stdout = Drain::start(child.stdout.take().expect("piped stdout"));
        let stderr = Drain::start(child.stderr.take().expect("piped stderr"));
        let pid = i32::try_from(child.id()).expect("pid fits in i32");
        Running {
            child: Some(child),
            pid,
            args: self.args.clone(),
            deadline: self.deadline,
            started,
            stdout,
            stderr,
        }
    }
}

/// How a run ended and what it printed.
#[derive(Debug, Clone)]
pub struct Output {
    /// The exit status.
    pub status: ExitStatus,
    /// The exit code; `None` if a signal ended the process.
    pub code: Option<i32>,
    /// Standard output, lossily decoded as UTF-8.
    pub stdout: String,
    /// Standard error, lossily decoded as UTF-8.
    pub stderr: String,
    /// Time from spawning to exit.
    pub elapsed: Duration,
}

impl Output {
    /// Parses stdout as JSON (volley's `--json` report).
    ///
    /// # Panics
    ///
    /// If stdout is not valid JSON; the message shows stdout and stderr.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON: {e}\n--- stdout ---\n{}\n--- stderr ---\n{}",
                self.stdout, self.stderr
            )
        })
    }

    /// The exit code volley gives a complete, valid run without `--check`: 0, or 4 when
    /// no request got a reply (a run that measured nothing about the server fails). Read
    /// from the `--json` report, or from the text report's `Total:` line.
    pub fn complete_code(&self) -> Option<i32> {
        let replies = match serde_json::from_str::<serde_json::Value>(&self.stdout) {
            Ok(r) => r["replies"]["total"].as_u64(),
            Err(_) => self
                .stdout
                .lines()
                .find_map(|l| l.strip_prefix("Total: "))
                .and_then(|l| l.split(" replies ").nth(1))
                .and_then(|n| n.split(' ').next())
                .and_then(|n| n.parse().ok()),
        };
        Some(if replies == Some(0) { 4 } else { 0 })
    }
}

/// A child started by [`Volley::spawn`].
///
/// Dropping it before [`Running::wait`] kills the child's process group
/// and reaps the child, so no process is left behind.
#[derive(Debug)]
pub struct Running {
    /// `None` once reaped.
    child: Option<Child>,
    pid: i32,
    args: Vec<String>,
    deadline: Duration,
    started: Instant,
    stdout: Drain,
    stderr: Drain,
}

impl Running {
    /// The child's pid (also its process group id).
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Standard output so far (the child may still be running).
    pub fn stdout_so_far(&self) -> String {
        self.stdout.text()
    }

    /// Standard error so far (the child may still be running).
    pub fn stderr_so_far(&self) -> String {
        self.stderr.text()
    }

    /// Sends signal `sig` (e.g. `libc::SIGINT`) to the child only.
    ///
    /// # Panics
    ///
    /// If `sig` is not a valid signal number or the child was already
    /// reaped.
    pub fn signal(&self, sig: i32) {
        assert!(self.child.is_some(), "signal after the child was reaped");
        let sig = Signal::try_from(sig).unwrap_or_else(|e| panic!("bad signal {sig}: {e}"));
        // ESRCH cannot happen: the child is not reaped, so the pid is
        // still ours (at worst a zombie). Other errors are bugs.
        signal::kill(Pid::from_raw(self.pid), sig).expect("kill(2) the child");
    }

    /// Sends signal `sig` to the child's whole process group (volley and
    /// its workers), as a terminal's Ctrl-C would.
    ///
    /// # Panics
    ///
    /// If `sig` is not a valid signal number or the child was already
    /// reaped.
    pub fn signal_group(&self, sig: i32) {
        assert!(self.child.is_some(), "signal after the child was reaped");
        let sig = Signal::try_from(sig).unwrap_or_else(|e| panic!("bad signal {sig}: {e}"));
        signal::killpg(Pid::from_raw(self.pid), sig).expect("killpg(2) the child's group");
    }

    /// Waits for the child to exit and its output to close.
    ///
    /// # Panics
    ///
    /// If the child does not exit within the deadline (counted from
    /// spawning), or its stdout/stderr stay open for 2 s after it exited
    /// (a process it started outlived it). The process group is killed
    /// first and the message shows the args and the output so far.
    pub fn wait(mut self) -> Output {
        let end = self.started + self.deadline;
        let mut child = self.child.take().expect("child not yet reaped");
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if Instant::now() >= end => {
                    self.child = Some(child);
                    self.fail("did not finish");
                }
                Ok(None) => thread::sleep(POLL),
                Err(e) => {
                    self.child = Some(child);
                    self.fail(&format!("could not be waited for ({e})"));
                }
            }
        };
        let elapsed = self.started.elapsed();
        let pipes_end = Instant::now() + PIPE_GRACE;
        while !(self.stdout.is_finished() && self.stderr.is_finished()) {
            if Instant::now() >= pipes_end {
                self.fail("exited, but a process it started kept its stdout/stderr open");
            }
            thread::sleep(POLL);
        }
        Output {
            status,
            code: status.code(),
            stdout: self.stdout.text(),
            stderr: self.stderr.text(),
            elapsed,
        }
    }

    /// Kills the process group (and reaps the child if not yet reaped).
    fn kill(&mut self) {
        // Kill the group while the leader is unreaped, so the group id
        // cannot have been reused by an unrelated process.
        if let Some(mut child) = self.child.take() {
            let _ = signal::killpg(Pid::from_raw(self.pid), Signal::SIGKILL);
            let _ = child.kill();
            let _ = child.wait();
        } else {
            // Reaped already: only descendants can be left, and while any
            // exists the group id is still theirs.
            let _ = signal::killpg(Pid::from_raw(self.pid), Signal::SIGKILL);
        }
    }

    fn fail(&mut self, what: &str) -> ! {
        self.kill();
        panic!(
            "volley {what} within {:?} (killed)\n  bin args: {:?}\n\
             --- stderr so far ---\n{}\n--- stdout so far ---\n{}",
            self.deadline,
            self.args,
            self.stderr.text(),
            self.stdout.text(),
        );
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.child.is_some() {
            self.kill();
        }
    }
}

/// A thread that copies a pipe into a shared buffer until EOF, so the
/// output so far is readable even while the child runs.
#[derive(Debug)]
struct Drain {
    buf: Arc<Mutex<Vec<u8>>>,
    thread: JoinHandle<()>,
}

impl Drain {
    fn start(mut pipe: impl Read + Send + 'static) -> Drain {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&buf);
        let thread = thread::spawn(move || {
            let mut chunk = [0u8; 8192];
            loop {
                match pipe.read(&mut chunk) {
                    Ok(0) => return,
                    Ok(n) => {
                        let mut sink = sink.lock().unwrap_or_else(PoisonError::into_inner);
                        sink.extend_from_slice(&chunk[..n]);
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(_) => return,
                }
            }
        });
        Drain { buf, thread }
    }

    fn is_finished(&self) -> bool {
        self.thread.is_finished()
    }

    /// Everything read so far, lossily decoded.
    fn text(&self) -> String {
        let buf = self.buf.lock().unwrap_or_else(PoisonError::into_inner);
        String::from_utf8_lossy(&buf).into_owned()
    }
}

/// Names of entries in `/dev/shm` that start with `volley-`, sorted: the
/// scoreboard segments that exist now (empty if `/dev/shm` is missing).
pub fn shm_segments() -> Vec<String> {
    let Ok(dir) = std::fs::read_dir("/dev/shm") else {
        return Vec::new();
    };
    let mut names: Vec<String> = dir
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| name.starts_with("volley-"))
        .collect();
    names.sort();
    names
}

/// A test cannot run here because `what` is missing (a tool, root): outside CI it says so
/// on one line and the test returns; with `CI=true` (where `.ci/run` installs everything
/// the tests need) a skip is a failure, so CI never passes by skipping.
///
/// # Panics
///
/// Under `CI=true`, always.
pub fn skip(test: &str, what: &str) {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{test}: cannot run in CI: {what}");
    }
    // Straight to stderr, not through `eprintln!`: the test harness captures the print
    // macros of a passing test, and a skip must be seen.
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "{test}: skipped: {what}");
}

/// Whether the program `name` can be started (it answers `--version` or `-V`, whatever it
/// prints).
pub fn have(name: &str) -> bool {
    std::process::Command::new(name)
        .arg("--version")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok()
}

/// Polls `cond` every 10 ms until it holds (`true`) or `deadline` passes
/// (`false`). `cond` is always tried at least once, and once more at the
/// deadline.
pub fn wait_until(deadline: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + deadline;
    loop {
        if cond() {
            return true;
        }
        let now = Instant::now();
        if now >= end {
            return false;
        }
        thread::sleep(POLL.min(end - now));
    }
}

/// `http://ADDR/path` for a test server's address; a missing leading `/` is added.
pub fn url_of(addr: std::net::SocketAddr, path: &str) -> String {
    let slash = if path.starts_with('/') { "" } else { "/" };
    format!("http://{addr}{slash}{path}")
}

/// True while `pid` is a live (not zombie) process.
pub fn process_alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name.
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| !rest.starts_with('Z')),
        Err(_) => false,
    }
}

/// For the servers' own tests: a server that got a request on `s` sends nothing back
/// (a read waits 200 ms in vain); `shutdown` returns within 1.5 s, after which `s` reads
/// end of file and nothing listens on `addr` any more.
#[cfg(test)]
pub(crate) fn assert_silent_until_shutdown(
    s: &mut std::net::TcpStream,
    addr: std::net::SocketAddr,
    shutdown: impl FnOnce(),
) {
    use std::io::ErrorKind;
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let err = s.read(&mut [0; 16]).expect_err("nothing may arrive");
    assert!(matches!(
        err.kind(),
        ErrorKind::WouldBlock | ErrorKind::TimedOut
    ));
    let started = Instant::now();
    shutdown();
    assert!(started.elapsed() < Duration::from_millis(1500));
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    assert_eq!(
        s.read(&mut [0; 16]).unwrap_or(0),
        0,
        "shutdown left the socket open"
    );
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "still listening"
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;
    use std::panic::{AssertUnwindSafe, catch_unwind};

    fn alive(pid: i32) -> bool {
        process_alive(pid)
    }

    fn sh(script: &str) -> Volley {
        Volley::new("/bin/sh").args(["-c", script])
    }

    #[test]
    fn run_captures_stdout_stderr_and_code() {
        let out = sh("echo hi").run();
        assert_eq!(out.stdout, "hi\n");
        assert_eq!(out.code, Some(0));
        assert!(out.status.success());

        let out = sh("echo oops >&2; exit 3").env("X", "y").run();
        assert_eq!(
            (out.code, out.stderr.as_str(), out.stdout.as_str()),
            (Some(3), "oops\n", "")
        );
    }

    #[test]
    fn env_is_passed() {
        let out = sh("printf %s \"$VOLLEY_T\"").env("VOLLEY_T", "v").run();
        assert_eq!(out.stdout, "v");
    }

    #[test]
    fn large_output_does_not_block_the_child() {
        let out = sh("head -c 1000000 /dev/zero; head -c 1000000 /dev/zero >&2").run();
        assert_eq!((out.stdout.len(), out.stderr.len()), (1_000_000, 1_000_000));
    }

    #[test]
    #[should_panic(expected = "volley did not finish within 200ms")]
    fn deadline_panics() {
        sh("sleep 5").deadline(Duration::from_millis(200)).run();
    }

    #[test]
    fn deadline_kills_the_whole_group() {
        let marker = std::env::temp_dir().join(format!("volley-ts-{}", std::process::id()));
        let script = format!("sleep 30 & echo $! > {}; wait", marker.display());
        let running = sh(&script).deadline(Duration::from_millis(500)).spawn();
        let pid = running.pid();
        let read_marker = || {
            std::fs::read_to_string(&marker)
                .ok()
                .filter(|s| s.ends_with('\n'))
        };
        assert!(wait_until(Duration::from_secs(5), || read_marker().is_some()));
        let grandchild: i32 = read_marker().unwrap().trim().parse().unwrap();
        let _ = std::fs::remove_file(&marker);

        let started = Instant::now();
        let panic = catch_unwind(AssertUnwindSafe(|| running.wait())).expect_err("no deadline");
        let message = panic.downcast_ref::<String>().expect("String panic");
        assert!(message.contains("did not finish"), "{message}");
        assert!(message.contains("\"-c\""), "{message}");
        assert!(started.elapsed() < Duration::from_secs(3));
        assert!(!alive(pid));
        assert!(wait_until(Duration::from_secs(5), || !alive(grandchild)));
    }

    #[test]
    fn signal_and_drop() {
        // `exec`: dash forks for the last command, and a forked sleep
        // would outlive the signalled shell.
        let running = sh("exec sleep 30").spawn();
        running.signal(libc::SIGTERM);
        let out = running.wait();
        assert_eq!((out.code, out.status.signal()), (None, Some(libc::SIGTERM)));

        let running = sh("sleep 30").spawn();
        let pid = running.pid();
        drop(running);
        assert!(!alive(pid));
    }

    #[test]
    fn descendant_holding_the_pipes_fails_and_is_killed() {
        let running = sh("sleep 30 & echo $!").spawn();
        let panic = catch_unwind(AssertUnwindSafe(|| running.wait())).expect_err("no failure");
        let message = panic.downcast_ref::<String>().expect("String panic");
        assert!(message.contains("kept its stdout/stderr open"), "{message}");
        let stdout = message.rsplit("--- stdout so far ---\n").next().unwrap();
        let grandchild: i32 = stdout.trim().parse().expect("pid in stdout");
        assert!(wait_until(Duration::from_secs(5), || !alive(grandchild)));
    }

    #[test]
    fn json_parses_stdout() {
        let out = sh("echo '{\"a\": 1}'").run();
        assert_eq!(out.json()["a"], 1);
    }

    #[test]
    #[should_panic(expected = "stdout is not JSON")]
    fn json_panics_on_text() {
        sh("echo nope").run().json();
    }

    #[test]
    fn wait_until_times_out_and_succeeds() {
        assert!(!wait_until(Duration::from_millis(30), || false));
        let mut n = 0;
        assert!(wait_until(Duration::from_secs(1), || {
            n += 1;
            n == 3
        }));
    }

    #[test]
    fn shm_segments_lists_only_volley_names() {
        assert!(shm_segments().iter().all(|n| n.starts_with("volley-")));
    }
}
