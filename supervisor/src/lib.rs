//! The supervisor: fork, release, watch, reap, merge, report.
//!
//! [`run`] creates the run's scoreboard (a named POSIX shared-memory segment), forks one
//! worker process per `--workers` while still single-threaded ([`spawn`]), releases them
//! together once all are ready, then waits ([`wait`]): it drains each worker's report pipe,
//! turns SIGINT/SIGTERM into the scoreboard's stop flag (a second one kills), prints a
//! progress line when stderr is a terminal ([`monitor`]), and reaps every child, noting how
//! it ended. It then merges the reports into a [`Report`] ([`merge`]) whose renderers are
//! in [`report`]. The scoreboard is unlinked on every path out of [`run`], a crashed or
//! killed worker included. With `--metrics-listen`, [`metrics`] serves the scoreboard at
//! `/metrics` ([`metrics`]) from after the fork until the linger that
//! [`run_served`] hands back ([`Linger`]). [`monitor::top`] is `volley top`; [`html`] is `volley report`,
//! a result file drawn as a self-contained HTML page.
//!
//! The supervisor never parses HTTP; that is the worker's job.

#![deny(missing_docs)]

pub mod compare;
pub mod error;
pub mod html;
pub mod logjoin;
pub mod merge;
pub mod metrics;
pub mod monitor;
pub mod report;
pub mod signals;
pub mod spawn;
pub mod wait;

use std::time::Duration;

use nix::sys::resource::{Resource, getrlimit, setrlimit};
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use volley_config::RunSpec;
use volley_scoreboard::{
    RunState, Scoreboard, barrier, now_ns, random_run_name, remove_stale_segments,
};
use volley_worker::hooks::{Hooks, NoHooks};
use volley_worker::http::request::serialize;

pub use error::SupervisorError;
pub use metrics::Linger;
pub use report::Report;

/// How long workers get to build their event loops and report ready.
pub const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs the load described by `spec` and returns the merged report.
///
/// # Errors
///
/// [`SupervisorError`] when the run cannot be set up (scoreboard, pipes, fork, signals) or
/// the workers do not become ready. Request failures are never errors: they are counted
/// in the report.
pub fn run(spec: &RunSpec) -> Result<Report, SupervisorError> {
    run_with(spec, &mut NoHooks)
}

/// [`run`] with hooks around every phase (see `volley_worker::hooks`): `parent_init`
/// before the workers are forked, `parent_exit` after they were reaped; each worker calls
/// the process, slot and request hooks on its own copy of `hooks`.
///
/// # Errors
///
/// As [`run`].
pub fn run_with<H: Hooks>(spec: &RunSpec, hooks: &mut H) -> Result<Report, SupervisorError> {
    let (report, linger) = run_served(spec, hooks)?;
    if let Some(linger) = linger {
        linger.wait();
    }
    Ok(report)
}

/// [`run_with`], returning as soon as the report is ready: a `/metrics` endpoint
/// (`--metrics-listen`) is still serving the final values then, and the caller shows the
/// report before it calls [`Linger::wait`] (or drops the [`Linger`] to stop at once).
///
/// # Errors
///
/// As [`run`]; also [`SupervisorError::Metrics`] when the endpoint cannot listen.
pub fn run_served<H: Hooks>(
    spec: &RunSpec,
    hooks: &mut H,
) -> Result<(Report, Option<Linger>), SupervisorError> {
    let entered_ns = now_ns();
    // Built before the fork (bad CA/cert/key files fail here, before any load); no
    // connection is opened before it.
    let tls = if spec.may_use_tls() || H::ACTIVE {
        Some(
            volley_worker::tls::client_config(&spec.tls, spec.concurrency)
                .map_err(SupervisorError::Tls)?,
        )
    } else {
        None
    };
    raise_fd_limit();
    let fitted;
    let spec = if spec.output.httperf_order {
        fitted = fit_descriptors(spec);
        fitted.as_ref().unwrap_or(spec)
    } else {
        check_descriptors(spec)?;
        spec
    };
    if H::ACTIVE {
        hooks.parent_init(spec);
    }
    remove_stale_segments();
    let name = spec.run_name.clone().unwrap_or_else(random_run_name);
    // Bound before the fork, so a busy or foreign address fails before any load; the
    // workers inherit the listening socket but never accept on it.
    let endpoint = spec.metrics.as_ref().map(metrics::bind).transpose()?;
    let user_names = if H::ACTIVE {
        hooks.user_counters()
    } else {
        Vec::new()
    };
    let sb =
        Scoreboard::create_with_user_counters(&name, spec.workers, spec.concurrency, &user_names)?;
    let mut signals = signals::StopSignals::install().map_err(SupervisorError::Signals)?;
    let mut children = Vec::with_capacity(spec.workers as usize);
    let spawned = spawn::spawn_workers(spec, tls.as_ref(), &sb, &mut children, hooks);
    let ready = spawned.and_then(|()| wait_ready(&sb, &children, &mut signals));
    if let Err(e) = ready {
        barrier::abort_release(sb.header());
        for c in &children {
            let _ = kill(c.pid, Signal::SIGKILL);
            let _ = waitpid(c.pid, None);
        }
        return Err(e);
    }
    // After the fork: the serving thread may start now.
    let exporter = endpoint.and_then(|e| metrics::serve(e, &sb));
    sb.header().set_state(RunState::Running);
    barrier::release(sb.header());
    let start_ns = sb.header().start_ns();
    let stop_at = spec
        .duration()
        .map(|d| start_ns.saturating_add(d.as_nanos() as u64));
    let progress = if spec.output.progress {
        monitor::Progress::if_tty(start_ns, monitor::Goal::of(spec))
    } else {
        None
    };
    let waited = wait::wait_all(&children, &sb, &mut signals, progress, start_ns, stop_at);
    sb.header().set_state(RunState::Done);
    // Every worker is reaped: the scoreboard's counters are final.
    if let Some(e) = &exporter {
        e.finish();
    }

    let mut report = Report::new(
        spec.target_label(),
        spec.requests[0].method.clone(),
        spec.concurrency,
        (spec.seed, spec.seed_given),
    );
    report.run_name = name;
    report.startup_ms = start_ns.saturating_sub(entered_ns) as f64 / 1e6;
    report.started_unix_ms = started_unix_ms(start_ns);
    report.workload_id = workload_id(spec);
    report.request_bytes = serialize(&spec.requests[0]).bytes.len() as u64;
    if spec.run_file.is_some() || spec.requests.len() > 1 {
        report.workload = Some(report::Workload {
            file: spec.run_file.as_ref().map(|f| f.display().to_string()),
            entries: spec.requests.len(),
            iterator: spec.iterator.name().to_string(),
            rounds: spec.rounds,
        });
    }
    report.interrupted = waited.interrupted;
    report.open_loop = spec.open_loop.as_ref().map(|o| report::OpenLoopSummary {
        target_rate: o.arrival.mean_rate(),
        process: describe_arrival(&o.arrival),
        calls: o.calls,
        late_starts: 0,
    });
    report.reply_rate_samples = waited.reply_rate_samples.clone();
    if tls.is_some() {
        report.tls = Some(report::TlsSummary {
            resume: spec.tls.resume,
            insecure: spec.tls.insecure,
            ..Default::default()
        });
    }
    if spec
        .open_loop
        .as_ref()
        .is_some_and(|o| o.sessions.is_some())
    {
        report.sessions = Some(report::SessionReport {
            rate_samples: waited.session_rate_samples.clone(),
            ..Default::default()
        });
    }
    report.calls = report::calls::CallTable::for_spec(spec);
    merge::merge(&mut report, &children, &waited, &sb);
    if let Some(calls) = report.calls.as_mut() {
        calls.finish();
    }
    report.user_counters = user_counters(&sb);
    if report.duration_s == 0.0 {
        report.duration_s = waited.end_ns.saturating_sub(start_ns) as f64 / 1e9;
    }
    report.reply_rate_1s = full_seconds(&waited.reply_rate_1s, report.duration_s);
    report.httperf_order = spec.output.httperf_order;
    report.httperf_wording = spec.output.httperf_wording;
    if let Some(log) = &spec.log {
        report.log = Some(join_log(log, spec.workers, &waited));
    }
    // Last: a check may read anything above (the log's state excepted).
    report.checks = report::checks::evaluate(&spec.checks, &report);
    sb.unlink()?;
    if H::ACTIVE {
        hooks.parent_exit();
    }
    let linger = exporter.map(|exporter| Linger {
        exporter,
        max: spec.metrics.map_or(std::time::Duration::ZERO, |m| m.linger),
    });
    Ok((report, linger))
}

/// The hooks' user counters of every worker, named as the header names them.
fn user_counters<M: volley_scoreboard::Access>(sb: &Scoreboard<M>) -> Vec<report::UserCounter> {
    sb.header()
        .user_counter_names()
        .into_iter()
        .enumerate()
        .map(|(i, name)| report::UserCounter {
            name,
            per_worker: sb.slots().map(|s| s.user(i)).collect(),
        })
        .collect()
}

/// The per-second samples of seconds that ended before the load did: the wait loop goes
/// on sampling through the teardown, whose seconds carry no load. 1 ms of slack absorbs
/// the float of `duration_s` (a `-d` run stops at its end, to the nanosecond).
fn full_seconds(samples: &[(u64, f64)], duration_s: f64) -> Vec<f64> {
    let load_ns = (duration_s * 1e9) as u64 + 1_000_000;
    samples
        .iter()
        .filter(|&&(end, _)| end <= load_ns)
        .map(|&(_, rate)| rate)
        .collect()
}

/// The Unix time (ms) of the monotonic instant `start_ns` (the release).
fn started_unix_ms(start_ns: u64) -> u64 {
    let since = now_ns().saturating_sub(start_ns);
    let unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
    unix.saturating_sub(since) / 1_000_000
}

/// What identifies a workload: a hash (FNV-1a, 64 bits, hex) of the requests (method,
/// URL, headers, body), how slots walk them, the open-loop schedule and the seed. The
/// hosts of one `--client I/N` run share it; a different workload almost surely does not.
pub fn workload_id(spec: &RunSpec) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for &b in bytes.iter().chain([0xff].iter()) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    for r in &spec.requests {
        eat(r.method.as_bytes());
        eat(r.target.url().as_bytes());
        for (n, v) in &r.headers {
            eat(n.as_bytes());
            eat(v.as_bytes());
        }
        eat(&r.body);
    }
    eat(spec.iterator.name().as_bytes());
    eat(&spec.rounds.unwrap_or(0).to_le_bytes());
    if let Some(o) = &spec.open_loop {
        eat(describe_arrival(&o.arrival).as_bytes());
        eat(&o.calls.to_le_bytes());
        eat(&o.client.1.to_le_bytes());
    }
    eat(&spec.seed.to_le_bytes());
    format!("{h:016x}")
}

/// An arrival process in httperf's `--period` syntax.
fn describe_arrival(a: &volley_config::Arrival) -> String {
    use volley_config::Arrival;
    let s = |ns: u64| format!("{}", ns as f64 / 1e9);
    match a {
        Arrival::Deterministic { period_ns } => format!("d{}", s(*period_ns)),
        Arrival::Immediate => "sequential".to_string(),
        Arrival::Uniform { lo_ns, hi_ns } => format!("u{},{}", s(*lo_ns), s(*hi_ns)),
        Arrival::Exponential { mean_ns } => format!("e{}", s(*mean_ns)),
        Arrival::Variable { steps } => {
            let parts: Vec<String> = steps
                .iter()
                .map(|&(p, d)| format!("{},{}", s(p), s(d)))
                .collect();
            format!("v{}", parts.join(","))
        }
    }
}

/// Joins the per-request log parts; the summary says why the log is incomplete, if it is.
fn join_log(
    log: &volley_config::LogSpec,
    workers: u32,
    waited: &wait::Waited,
) -> report::LogSummary {
    let mut error = waited
        .reports
        .iter()
        .filter_map(|r| volley_worker::WorkerReport::decode(r).ok())
        .find_map(|r| r.log_error.map(|e| format!("worker {}: {e}", r.worker)));
    let records = match logjoin::join(log, workers) {
        Ok(j) => {
            if j.dropped > 0 && error.is_none() {
                error = Some(format!("{} partial records dropped", j.dropped));
            }
            j.records
        }
        Err(e) => {
            error = Some(e);
            0
        }
    };
    report::LogSummary {
        path: log.path.display().to_string(),
        records,
        error,
    }
}

/// Waits until every worker is ready, a worker dies first, or the time runs out.
fn wait_ready(
    sb: &Scoreboard,
    children: &[spawn::Child],
    signals: &mut signals::StopSignals,
) -> Result<(), SupervisorError> {
    let deadline = now_ns().saturating_add(READY_TIMEOUT.as_nanos() as u64);
    let workers = children.len() as u32;
    loop {
        let ready = barrier::ready_count(sb.header());
        if ready >= workers {
            return Ok(());
        }
        if signals.drain() > 0 {
            return Err(SupervisorError::Interrupted);
        }
        for c in children {
            let status = waitpid(c.pid, Some(WaitPidFlag::WNOHANG));
            if matches!(status, Ok(s) if s != WaitStatus::StillAlive) {
                return Err(SupervisorError::WorkerDied {
                    index: c.index,
                    pid: c.pid.as_raw(),
                });
            }
        }
        if now_ns() >= deadline {
            return Err(SupervisorError::NotReady {
                ready,
                workers,
                secs: READY_TIMEOUT.as_secs(),
            });
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Descriptors a worker holds besides its connections: stdio, epoll, its timer, its report
/// pipe, its log part, the scoreboard, a receive-dating socket, with room to spare.
pub const FD_RESERVE: u64 = 16;

/// Refuses a run whose fullest worker would need more descriptors than a process may
/// have: it could only count `fd-unavail` and be invalid, and with tens of thousands of
/// slots spend its time failing connects.
fn check_descriptors(spec: &RunSpec) -> Result<(), SupervisorError> {
    let Ok((soft, _)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return Ok(());
    };
    let per_worker = u64::from(spec.concurrency).div_ceil(u64::from(spec.workers.max(1)));
    if per_worker.saturating_add(FD_RESERVE) > soft {
        return Err(SupervisorError::TooFewDescriptors {
            concurrency: spec.concurrency,
            workers: spec.workers,
            per_worker,
            limit: soft,
            reserve: FD_RESERVE,
        });
    }
    Ok(())
}

/// Slots an httperf run's worker keeps past its open-file limit: they meet `EMFILE` and
/// count `fd-unavail`, as httperf's connections do once it runs out of descriptors.
pub const FD_OVERDRAW: u64 = 64;

/// `volley httperf` is not refused for want of descriptors: as httperf, it opens
/// connections on schedule until the client runs out (`fd-unavail`, and the run is
/// invalid). Slots that could never hold a connection are not made, though: each worker
/// keeps at most its open-file limit plus [`FD_OVERDRAW`] (`None`: the spec fits as it is).
fn fit_descriptors(spec: &RunSpec) -> Option<RunSpec> {
    let (soft, _) = getrlimit(Resource::RLIMIT_NOFILE).ok()?;
    let workers = u64::from(spec.workers.max(1));
    let per_worker = u64::from(spec.concurrency).div_ceil(workers);
    let most = soft.saturating_add(FD_OVERDRAW);
    if per_worker <= most {
        return None;
    }
    let mut fitted = spec.clone();
    fitted.concurrency = u32::try_from(most.saturating_mul(workers)).unwrap_or(u32::MAX);
    Some(fitted)
}

/// Raises the soft open-file limit to the hard one, so workers inherit the most sockets
/// they can have (they count `fd-unavail` past it).
fn raise_fd_limit() {
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE)
        && soft < hard
    {
        let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
    }
}
