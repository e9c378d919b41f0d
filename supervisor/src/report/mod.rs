//! `Report`: the merged, render-ready result of a run. Data first; [`text`] and [`json`]
//! render it as pure functions.

/// Checks evaluated against the report, and the run's verdict.
pub mod calls;
pub mod checks;
/// `volley merge`: several results of one workload as one report.
pub mod combine;
/// The `--json` renderer.
pub mod json;
/// Reading a result file back into a [`Report`].
pub mod read;
/// volley's summary: the warning, figures and verdict a user reads first.
pub mod summary;
/// The httperf-style text renderer.
pub mod text;

pub use checks::{CheckOutcome, Verdict};

use volley_scoreboard::{Counter, ErrorClass, SlotSnapshot};
use volley_worker::stats::Latency;

/// How a worker process ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Exit {
    /// Exit code, if it exited.
    pub code: Option<i32>,
    /// Signal number, if a signal ended it.
    pub signal: Option<i32>,
    /// The signal left a core dump.
    pub core_dumped: bool,
    /// The supervisor killed it because its heartbeat in the scoreboard stopped moving
    /// for [`crate::wait::HEARTBEAT_GRACE`] (it was stopped or stuck).
    pub stopped_responding: bool,
}

impl Exit {
    /// True for a normal exit with code 0.
    pub fn is_clean(&self) -> bool {
        self.code == Some(0) && self.signal.is_none()
    }

    /// "exited 0", "killed by signal 9 (SIGKILL)", "killed by signal 11 (SIGSEGV), core
    /// dumped", "stopped responding, killed after 3 s".
    pub fn describe(&self) -> String {
        if self.stopped_responding {
            return format!(
                "stopped responding, killed after {} s",
                crate::wait::HEARTBEAT_GRACE.as_secs()
            );
        }
        match (self.code, self.signal) {
            (Some(c), _) => format!("exited {c}"),
            (None, Some(s)) => {
                let name = nix::sys::signal::Signal::try_from(s)
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_else(|_| "?".into());
                let core = if self.core_dumped {
                    ", core dumped"
                } else {
                    ""
                };
                format!("killed by signal {s} ({name}){core}")
            }
            (None, None) => "unknown".into(),
        }
    }
}

/// One worker's part of the report.
#[derive(Debug, Clone, Default)]
pub struct WorkerPart {
    /// Worker index.
    pub index: u32,
    /// Process id.
    pub pid: i32,
    /// How the process ended.
    pub exit: Exit,
    /// Whether its final report arrived (false: counters come from the scoreboard and the
    /// requests it had in flight are counted as aborted).
    pub reported: bool,
    /// Its counters.
    pub counters: SlotSnapshot,
    /// CPU time, µs (user, system); zero when it did not report.
    pub cpu_us: (u64, u64),
    /// The result file it was read from, in a merged report (`volley merge`).
    pub source: Option<String>,
}

/// TLS figures of an https run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TlsSummary {
    /// Full handshakes.
    pub full: u64,
    /// Resumed handshakes (session tickets or IDs).
    pub resumed: u64,
    /// Sessions were resumed when possible.
    pub resume: bool,
    /// Certificates were not verified (`--insecure`).
    pub insecure: bool,
}

/// The merged result of a run.
#[derive(Debug, Clone)]
pub struct Report {
    /// Target URL.
    pub url: String,
    /// Request method.
    pub method: String,
    /// Bytes of one request on the wire.
    pub request_bytes: u64,
    /// Thread slots.
    pub concurrency: u32,
    /// Run seed, and whether it was given.
    pub seed: (u64, bool),
    /// Scoreboard segment name.
    pub run_name: String,
    /// Seconds from the release to the end of the last worker.
    pub duration_s: f64,
    /// Milliseconds from the supervisor starting the run to the release of the workers
    /// (scoreboard, forks, every worker's event loop built and ready).
    pub startup_ms: f64,
    /// How long after the end of `-d` the last worker stopped its load, ms (`None` when the
    /// run did not end by its duration).
    pub stop_overrun_ms: Option<f64>,
    /// Sum of the workers' counters.
    pub totals: SlotSnapshot,
    /// Connect latency (µs).
    pub connect: Latency,
    /// First-byte latency (µs).
    pub first_byte: Latency,
    /// Full-reply latency (µs).
    pub reply: Latency,
    /// Full-reply latency of 4xx/5xx replies (µs), kept apart from `reply`.
    pub reply_error: Latency,
    /// Closed loop: `reply` plus the samples of the requests the slots would have sent
    /// while a reply stalled them (µs): an estimate, corrected for coordinated omission
    /// (see `volley_worker::pace`). Empty in an open loop, whose `response` measures it.
    pub reply_corrected: Latency,
    /// Lifetimes of connections that carried at least one reply (µs).
    pub conn_life: Latency,
    /// Replies per second, one sample per 5 s of run (httperf's reply-rate samples).
    pub reply_rate_samples: Vec<f64>,
    /// Replies per second, one sample per full second of run (volley's summary).
    pub reply_rate_1s: Vec<f64>,
    /// Replies by exact status code, from the workers' final reports (a worker that did
    /// not report is counted by status class only, in `totals`).
    pub by_status: std::collections::BTreeMap<u16, u64>,
    /// Failures by `(class, detail)`.
    pub error_details: std::collections::BTreeMap<(String, String), u64>,
    /// The first errno counted as `other`, if any.
    pub first_other_errno: Option<i32>,
    /// Why the first request a hook made could not be sent (`other/hook-request`), with
    /// the worker that refused it.
    pub hook_refused: Option<String>,
    /// What servers did to kept-alive connections outside any request.
    pub anomalies: volley_worker::stats::Anomalies,
    /// Per-worker parts.
    pub workers: Vec<WorkerPart>,
    /// The run was stopped by SIGINT/SIGTERM.
    pub interrupted: bool,
    /// The URL list, when it is more than one command-line URL: entries, iterator, rounds.
    pub workload: Option<Workload>,
    /// The per-request log, if one was written.
    pub log: Option<LogSummary>,
    /// Most connections open at once: per 10 ms bucket since the release, the sum over
    /// workers of each one's most open in it, and the largest such sum (exact with one
    /// worker, an upper bound with more; see `volley_worker::stats::OpenTimeline`).
    pub max_open: u64,
    /// httperf's request and reply sums: over every request written in full and every
    /// reply whatever its status (the text report's `Request size`, `Reply time`, footer).
    pub figures: volley_worker::stats::ReplyFigures,
    /// Most connects one worker started in one turn of its event loop (httperf's
    /// "Maximum connect burst length").
    pub max_connect_burst: u64,
    /// Times the workers' event loops slept (waited for events, a timer or a start): the
    /// client's own cost, as wake-ups are most of it.
    pub wakeups: u64,
    /// Of those, closed-loop naps between batches of replies (`wake` in the worker).
    pub naps: u64,
    /// https runs: handshakes and how they were verified.
    pub tls: Option<TlsSummary>,
    /// TLS: TCP connected → handshake done.
    pub tls_handshake: Latency,
    /// Open loop: the schedule and how well it was kept.
    pub open_loop: Option<OpenLoopSummary>,
    /// Session workloads (`--wsess`, `--wsesslog`): httperf's session statistics.
    pub sessions: Option<SessionReport>,
    /// `volley httperf --call-stats=N`: the first N calls' statistics.
    pub calls: Option<calls::CallTable>,
    /// Open loop: scheduled time → full reply (µs), replies with status < 400.
    pub response: Latency,
    /// Open loop: session start lag against the schedule (µs).
    pub lag: Latency,
    /// The run's checks (`--check`), evaluated, in the order given.
    pub checks: Vec<CheckOutcome>,
    /// The text report keeps httperf's order, volley's summary last (`volley httperf`).
    pub httperf_order: bool,
    /// The words of the text report's httperf lines for connections and requests
    /// (`volley httperf --num-sessions`: httperf 0.8's sessions and calls).
    pub httperf_wording: volley_config::Wording,
    /// The run's time series (merged over workers), if any worker reported one.
    pub series: Option<TimeSeries>,
    /// Unix time (ms) of the release of the workers.
    pub started_unix_ms: u64,
    /// What identifies the workload (the requests, the schedule, the seed): results of
    /// one workload run on several hosts (`--client I/N`) have the same one, and only
    /// such results merge.
    pub workload_id: String,
    /// The result files a merged report was made of (`volley merge`), in the order given;
    /// empty for a run.
    pub sources: Vec<String>,
    /// The hooks' user counters, as the scoreboard held them at the end (empty when the
    /// run's hooks declare none).
    pub user_counters: Vec<UserCounter>,
}

/// One of the hooks' user counters (see `volley_worker::hooks::Hooks::user_counters`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserCounter {
    /// Its name, as the hook program declared it.
    pub name: String,
    /// Its value in each worker's slot, by worker index.
    pub per_worker: Vec<u64>,
}

impl UserCounter {
    /// The sum over every worker.
    pub fn total(&self) -> u64 {
        self.per_worker.iter().fold(0, |a, &b| a.wrapping_add(b))
    }
}

/// A run's time series: intervals aligned on the wall clock, merged over workers.
#[derive(Debug, Clone, Default)]
pub struct TimeSeries {
    /// Interval length, ns.
    pub interval_ns: u64,
    /// The intervals by key (interval `k` starts at Unix time `k * interval_ns`).
    pub intervals: std::collections::BTreeMap<u64, volley_worker::series::IntervalData>,
}

impl TimeSeries {
    /// Adds one worker's (or one run's) intervals.
    pub fn add(&mut self, interval_ns: u64, intervals: &[volley_worker::series::IntervalData]) {
        if self.interval_ns == 0 {
            self.interval_ns = interval_ns;
        }
        for i in intervals {
            self.intervals
                .entry(i.key)
                .and_modify(|have| have.add(i))
                .or_insert_with(|| i.clone());
        }
    }
}

/// httperf's session statistics.
#[derive(Debug, Clone)]
pub struct SessionReport {
    /// Sessions whose every request got a reply.
    pub ok: u64,
    /// Sessions that ended with a failed request.
    pub failed: u64,
    /// Lifetimes of the successful sessions (µs).
    pub life: Latency,
    /// Due → failure of the failed sessions (µs).
    pub fail: Latency,
    /// Connections opened by ended sessions.
    pub conns: u64,
    /// Ended sessions by replies got.
    pub lengths: Vec<u64>,
    /// Successful sessions per second in each full 5 s of the run.
    pub rate_samples: Vec<f64>,
}

impl Default for SessionReport {
    fn default() -> Self {
        SessionReport {
            ok: 0,
            failed: 0,
            life: Latency::new(),
            fail: Latency::new(),
            conns: 0,
            lengths: Vec::new(),
            rate_samples: Vec::new(),
        }
    }
}

/// An open-loop run's schedule.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenLoopSummary {
    /// Mean arrivals per second asked for.
    pub target_rate: f64,
    /// The inter-arrival process, as given (`d0.001`, `e0.01`, …).
    pub process: String,
    /// Requests per session.
    pub calls: u32,
    /// Sessions that started more than 1 ms late.
    pub late_starts: u64,
}

impl Report {
    /// Sessions started (first requests), in an open loop.
    pub fn sessions(&self) -> u64 {
        self.lag.len()
    }

    /// The generator fell behind its schedule: more than 1% of the sessions started over
    /// 1 ms late.
    pub fn behind_schedule(&self) -> bool {
        self.open_loop
            .as_ref()
            .is_some_and(|o| o.late_starts * 100 > self.sessions().max(1))
    }
}

/// What a run file's workload was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workload {
    /// The run file.
    pub file: Option<String>,
    /// Entries in the URL list.
    pub entries: usize,
    /// The iterator's name.
    pub iterator: String,
    /// Rounds per slot (`None` = until stopped).
    pub rounds: Option<u64>,
}

/// The per-request log of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSummary {
    /// The joined log file.
    pub path: String,
    /// Records in it.
    pub records: u64,
    /// Why it is incomplete, if it is.
    pub error: Option<String>,
}

impl Report {
    /// An empty report for a run of `concurrency` slots.
    pub fn new(url: String, method: String, concurrency: u32, seed: (u64, bool)) -> Self {
        Report {
            url,
            method,
            request_bytes: 0,
            figures: Default::default(),
            concurrency,
            seed,
            run_name: String::new(),
            duration_s: 0.0,
            startup_ms: 0.0,
            stop_overrun_ms: None,
            totals: SlotSnapshot::default(),
            connect: Latency::new(),
            first_byte: Latency::new(),
            reply: Latency::new(),
            conn_life: Latency::new(),
            reply_error: Latency::new(),
            reply_corrected: Latency::new(),
            reply_rate_samples: Vec::new(),
            reply_rate_1s: Vec::new(),
            by_status: Default::default(),
            error_details: Default::default(),
            first_other_errno: None,
            hook_refused: None,
            anomalies: Default::default(),
            workers: Vec::new(),
            interrupted: false,
            workload: None,
            log: None,
            user_counters: Vec::new(),
            max_open: 0,
            max_connect_burst: 0,
            wakeups: 0,
            naps: 0,
            tls: None,
            tls_handshake: Latency::new(),
            open_loop: None,
            sessions: None,
            calls: None,
            response: Latency::new(),
            lag: Latency::new(),
            checks: Vec::new(),
            httperf_order: false,
            httperf_wording: volley_config::Wording::Current,
            series: None,
            started_unix_ms: 0,
            workload_id: String::new(),
            sources: Vec::new(),
        }
    }

    /// Requests started.
    pub fn started(&self) -> u64 {
        self.totals.get(Counter::RequestsStarted)
    }

    /// Replies received (any status).
    pub fn replies(&self) -> u64 {
        self.totals.get(Counter::RequestsSucceeded)
    }

    /// Requests that failed with an error.
    pub fn errors(&self) -> u64 {
        self.totals.get(Counter::RequestsFailed)
    }

    /// Requests in flight when the run stopped.
    pub fn aborted(&self) -> u64 {
        self.totals.get(Counter::RequestsAborted)
    }

    /// Requests completed (a reply or an error).
    pub fn completed(&self) -> u64 {
        self.replies() + self.errors()
    }

    /// Checks `started = replies + errors + aborted` in every worker and in total.
    ///
    /// # Errors
    ///
    /// A message naming the first part where it does not hold.
    pub fn check_invariant(&self) -> Result<(), String> {
        let check = |what: &str, c: &SlotSnapshot| {
            let started = c.get(Counter::RequestsStarted);
            let ended = c.get(Counter::RequestsSucceeded)
                + c.get(Counter::RequestsFailed)
                + c.get(Counter::RequestsAborted);
            if started == ended {
                Ok(())
            } else {
                Err(format!(
                    "{what}: started {started} != replies + errors + aborted {ended}"
                ))
            }
        };
        for w in &self.workers {
            check(&format!("worker {}", w.index), &w.counters)?;
        }
        check("total", &self.totals)
    }

    /// Reasons the results should not be trusted (httperf's README: generator-side errors
    /// mean the client, not the server, was measured).
    pub fn invalid_reasons(&self) -> Vec<String> {
        let mut why = Vec::new();
        for class in ErrorClass::ALL {
            let n = self.totals.error(class);
            if class.is_generator_fault() && n > 0 {
                why.push(format!(
                    "{n} {} errors (the client ran short)",
                    class.name()
                ));
            }
        }
        for w in &self.workers {
            if !w.exit.is_clean() || !w.reported {
                why.push(format!(
                    "worker {} (pid {}) {}{}",
                    w.index,
                    w.pid,
                    w.exit.describe(),
                    if w.reported { "" } else { " without a report" }
                ));
            }
        }
        if let Err(e) = self.check_invariant() {
            why.push(format!("accounting invariant broken: {e}"));
        }
        if let Some(LogSummary {
            path,
            error: Some(e),
            ..
        }) = &self.log
        {
            why.push(format!("per-request log {path} is incomplete: {e}"));
        }
        why
    }

    /// Replies per second over the whole run.
    pub fn requests_per_s(&self) -> f64 {
        rate(self.replies(), self.duration_s)
    }

    /// Requests started per second over the whole run: attempts, failed ones included.
    pub fn attempts_per_s(&self) -> f64 {
        rate(self.started(), self.duration_s)
    }

    /// Total CPU time of the workers, µs (user, system).
    pub fn cpu_us(&self) -> (u64, u64) {
        self.workers
            .iter()
            .fold((0, 0), |(u, s), w| (u + w.cpu_us.0, s + w.cpu_us.1))
    }
}

/// `n / secs`, or 0 when no time passed.
pub fn rate(n: u64, secs: f64) -> f64 {
    if secs > 0.0 { n as f64 / secs } else { 0.0 }
}
