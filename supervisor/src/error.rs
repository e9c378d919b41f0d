//! `SupervisorError`: why a run could not be started or watched.

use nix::errno::Errno;
use volley_scoreboard::ScoreboardError;

/// Why the supervisor could not do its job. Request failures are never errors here: they
/// are counted in the report.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SupervisorError {
    /// The scoreboard could not be created or attached.
    #[error(transparent)]
    Scoreboard(#[from] ScoreboardError),
    /// A system call of the supervisor failed.
    #[error("{op}: {source}")]
    Os {
        /// What was being done.
        op: &'static str,
        /// The errno.
        source: Errno,
    },
    /// Signal handlers could not be installed.
    #[error("installing signal handlers: {0}")]
    Signals(#[source] std::io::Error),
    /// Workers did not become ready in time.
    #[error("{ready} of {workers} workers became ready within {secs} s; giving up")]
    NotReady {
        /// Workers that were ready.
        ready: u32,
        /// Workers forked.
        workers: u32,
        /// Seconds waited.
        secs: u64,
    },
    /// SIGINT/SIGTERM arrived before the workers were released; no load was sent.
    #[error("interrupted before the run started; no request was sent")]
    Interrupted,
    /// A worker died before it was ready.
    #[error("worker {index} (pid {pid}) died before the run started")]
    WorkerDied {
        /// Worker index.
        index: u32,
        /// Its pid.
        pid: i32,
    },
    /// The TLS client could not be set up (a bad `--cacert`, `--cert` or `--key`).
    #[error("{0}")]
    Tls(#[from] volley_worker::tls::TlsConfigError),
    /// A worker would have more slots (each holds a connection) than the descriptors a
    /// process may open: the run is refused before it starts.
    #[error(
        "-c {concurrency} over {workers} worker(s) puts {per_worker} connections in one worker \
         process, but a process may have at most {limit} open files here (ulimit -n, hard \
         limit); each worker needs one per slot and {reserve} more. Lower -c, add workers \
         with -w (each has descriptors of its own), or raise the limit (ulimit -Hn, \
         systemd's LimitNOFILE)"
    )]
    TooFewDescriptors {
        /// `-c`.
        concurrency: u32,
        /// `-w`.
        workers: u32,
        /// Slots of the fullest worker.
        per_worker: u64,
        /// `RLIMIT_NOFILE` after raising the soft limit to the hard one.
        limit: u64,
        /// Descriptors a worker needs besides its connections.
        reserve: u64,
    },
    /// The `/metrics` endpoint could not listen on `--metrics-listen`'s address (in use,
    /// not an address of this host): the run is refused before it starts.
    #[error("--metrics-listen {addr}: cannot listen there: {source}")]
    Metrics {
        /// The address asked for.
        addr: std::net::SocketAddr,
        /// The bind's error.
        source: std::io::Error,
    },
    /// `volley top` found no run to watch.
    #[error("no running volley run of this user was found in /dev/shm")]
    NoRun,
    /// `volley top` found several runs and needs a name.
    #[error("several runs are live; name one: {}", .0.join(", "))]
    SeveralRuns(Vec<String>),
}

impl SupervisorError {
    /// Shorthand for [`SupervisorError::Os`].
    pub fn os(op: &'static str) -> impl FnOnce(Errno) -> SupervisorError {
        move |source| SupervisorError::Os { op, source }
    }
}
