//! The one place a [`RunSpec`] is made. [`SpecBuilder`] holds the inputs as given;
//! [`SpecBuilder::build`] applies every default, the precedence of flags over a run file,
//! and every rule that needs several inputs at once.
//!
//! The fillers ([`crate::flags`] for the command line, [`crate::runfile`], [`crate::httperf`])
//! parse each value with the parsers of [`crate::values`] where they can still name it (the
//! flag, or the run file's line and column) and store it here, typed. A run file value that
//! a later rule may refuse keeps its [`crate::error::Place`] ([`At`]), so that the refusal
//! names the line.
//! Rules about one value that read the same whatever gave it (a run name's characters, a
//! zero duration) are checked here too, so that each is written once.
//!
//! The inputs come in two layers ([`inputs`]), [`FlagInputs`] (the command line, or
//! httperf's options) and [`FileInputs`] (a run file's keys): a flag wins over the file's
//! key, and a few rules depend on which layer gave a value (a run file's `ramp_up.start`
//! above a smaller `-c` is lowered to it; above the file's own `ramp_up.max` it is
//! refused). [`Source`] says which command the inputs came from: it picks the defaults (how
//! long a run lasts, how many slots httperf needs) and how a refusal names the slots
//! (`--concurrency`, or `the slots` of a run file). The URL list's entries are made by the
//! fillers from [`request`], whose defaults and watchdog rule ([`Watchdog`]) live in
//! [`entry`].

mod entry;
mod inputs;

use std::hash::{BuildHasher, Hasher};
use std::path::PathBuf;
use std::time::Duration;

use crate::error::ConfigError;
use crate::spec::{
    Arrival, DEFAULT_MAX_REDIRECTS, IteratorKind, Limit, LogFormat, LogSpec, MAX_HEADERS_CAP,
    MetricsSpec, OpenLoop, OutputSpec, RampUp, ReplyLimits, RequestSpec, RunSpec, TlsSpec,
};
use crate::values::{DurationArg, RateArg};

pub(crate) use entry::{Watchdog, request};
pub(crate) use inputs::{At, FileInputs, FlagInputs, SessionInputs, TlsFlags};

/// Most worker processes accepted (a sanity bound, far above any core count).
pub const MAX_WORKERS: u32 = 1024;
/// Most thread slots accepted in one run.
pub const MAX_CONCURRENCY: u32 = 1_000_000;
/// Slots when neither `-c` nor a run file's `ramp_up` says how many.
pub const DEFAULT_CONCURRENCY: u32 = 10;
/// Length of the time series' intervals when `--interval` is not given.
pub const DEFAULT_SERIES_INTERVAL: Duration = Duration::from_secs(1);

/// How long `/metrics` keeps serving the final values after the run when no scrape comes
/// (the first scrape after the run ends the wait at once): Prometheus' usual scrape
/// interval (15 s) with room for the scrape's jitter, so the last scrape sees the end.
pub const DEFAULT_METRICS_LINGER: Duration = Duration::from_secs(20);
/// Default run length of `volley URL` when neither `-n` nor `-d` is given.
pub const DEFAULT_DURATION: Duration = Duration::from_secs(10);
/// Default run length of `volley demo`.
pub const DEMO_DURATION: Duration = Duration::from_secs(5);
/// LoadGen's RampUpDuration default, for a run file using LoadGen's names.
pub const LOADGEN_RAMP_DURATION: Duration = Duration::from_secs(300);
/// Default watchdog of a request (`--timeout`'s default, and a run file entry's).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Most requests pipelined on one connection.
pub const MAX_PIPELINE: u32 = 1000;
/// Most sessions volley runs at once for an httperf open loop (about 1.5 KB each); the
/// open-file limit usually stops them first, with `fd-unavail`, as it stops httperf.
pub const MAX_OPEN_SLOTS: u32 = 100_000;

/// Which command the inputs came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Source {
    /// `volley URL`: the flags alone; 10 s unless `-n`/`-d` say otherwise.
    Url,
    /// `volley demo`: as `Url`, 5 s.
    Demo,
    /// `volley run FILE`: the file's keys under the flags; the run ends with its rounds.
    RunFile(PathBuf),
    /// `volley httperf`: httperf's options in flag terms. httperf sizes its own slots and
    /// never refuses a worker count (it lowers it to the slots).
    Httperf,
}

/// The inputs of one run, as given; [`SpecBuilder::build`] makes the [`RunSpec`].
#[derive(Debug, Clone)]
pub(crate) struct SpecBuilder {
    /// The command they came from.
    pub source: Source,
    /// The URL list, never empty (each filler checks its entries itself: they are values).
    pub requests: Vec<RequestSpec>,
    /// The command line (wins over `file`).
    pub flags: FlagInputs,
    /// A run file's keys.
    pub file: FileInputs,
    /// httperf's sessions.
    pub sessions: SessionInputs,
}

impl SpecBuilder {
    /// Inputs from `source` for the URL list `requests`, nothing else given yet.
    pub fn new(source: Source, requests: Vec<RequestSpec>) -> Self {
        SpecBuilder {
            source,
            requests,
            flags: FlagInputs::default(),
            file: FileInputs::default(),
            sessions: SessionInputs::default(),
        }
    }

    /// The run: defaults filled in, flags over the file, every rule checked. `extra` names
    /// the custom iterators a hook program registered.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] naming the flag, or [`ConfigError::RunFile`] naming the run
    /// file's line, for the first rule the inputs break.
    ///
    /// # Panics
    ///
    /// When the URL list is empty: every filler refuses that first (a bug otherwise).
    pub fn build(self, extra: &[&str]) -> Result<RunSpec, ConfigError> {
        assert!(!self.requests.is_empty(), "a filler gave an empty URL list");
        let arrival = self.arrival();
        let concurrency = self.concurrency(arrival.as_ref())?;
        let ramp = self.ramp(concurrency)?;
        let workers = self.workers(concurrency)?;
        let limit = self.limit()?;
        let (iterator, custom_iterator) = self.iterator(extra)?;
        let run_name = self.run_name()?;
        let limits = self.reply_limits()?;
        let open_loop = self.open_loop(arrival)?;
        let pipeline = self.pipeline(iterator)?;
        let log = self.log()?;
        let metrics = self.metrics()?;
        let (seed, seed_given) = match self.flags.seed.or(self.file.seed) {
            Some(s) => (s, true),
            None => (random_seed(), false),
        };
        let times = self.flags.times.or(self.file.times).unwrap_or(0);
        let tls = self.tls();
        let httperf = self.source == Source::Httperf;
        let run_file = match self.source {
            Source::RunFile(path) => Some(path),
            _ => None,
        };
        let (flags, file) = (self.flags, self.file);
        Ok(RunSpec {
            timeouts: self.requests[0].timeouts,
            requests: self.requests,
            iterator,
            custom_iterator,
            rounds: (times > 0).then_some(times),
            max_redirects: file.max_redirects.unwrap_or(DEFAULT_MAX_REDIRECTS),
            follow_cross_origin: file.follow_cross_origin,
            dnscache: file.dnscache,
            workers,
            concurrency,
            ramp,
            limit,
            limits,
            seed,
            seed_given,
            output: OutputSpec {
                json: flags.json,
                progress: !flags.quiet,
                httperf_order: httperf,
                httperf_wording: flags.wording,
            },
            run_name,
            open_loop,
            pipeline,
            wake_per_reply: flags.wake_per_reply,
            conn_requests: flags.conn_requests,
            log,
            run_file,
            socket: flags.socket,
            print: flags.print,
            tls,
            notes: flags.notes,
            // The flags add to the file's list: a gate a run file sets cannot be dropped by
            // a command line that adds its own.
            checks: file.checks.into_iter().chain(flags.checks).collect(),
            out: flags.out,
            series_interval: flags.interval.unwrap_or(DEFAULT_SERIES_INTERVAL),
            metrics,
            call_stats: flags.call_stats,
        })
    }

    /// When sessions arrive, if on a schedule. A rate beats a period wherever each was
    /// given (each key takes the flag over the file on its own).
    fn arrival(&self) -> Option<Arrival> {
        let period = || {
            let given = self.flags.period.as_ref().or(self.file.period.as_ref());
            given.map(|p| p.0.clone())
        };
        let sessions = || self.sessions.rules.is_some().then_some(Arrival::Immediate);
        let rate = self.flags.rate.or(self.file.rate);
        rate.map(RateArg::arrival).or_else(period).or_else(sessions)
    }

    /// Thread slots: `-c`, else the run file's `ramp_up.max` (or its `ramp_up.start`),
    /// else what the schedule needs (httperf), else [`DEFAULT_CONCURRENCY`] (a file in
    /// LoadGen's names: its worker count).
    fn concurrency(&self, arrival: Option<&Arrival>) -> Result<u32, ConfigError> {
        if let Some(c) = self.flags.concurrency {
            if !(1..=MAX_CONCURRENCY).contains(&c) {
                let allowed = format!("1 to {MAX_CONCURRENCY}");
                return Err(ConfigError::invalid("--concurrency", c, allowed));
            }
            return Ok(c);
        }
        if self.source == Source::Httperf {
            return Ok(self.open_slots(arrival));
        }
        let file_start = self.file.ramp_start.as_ref().map(|s| s.value);
        let from_file = self.file.ramp_max.or(file_start.filter(|&s| s > 0));
        if self.file.loadgen {
            // LoadGen: RampUpMax defaults to RampUpStart, which defaults to NWorker.
            return Ok(from_file.unwrap_or_else(|| self.loadgen_workers()));
        }
        Ok(from_file.unwrap_or(DEFAULT_CONCURRENCY))
    }

    /// LoadGen's NWorker: `-w`, else the file's, else 1 (LoadGen's default).
    fn loadgen_workers(&self) -> u32 {
        let file = self.file.workers.as_ref().map(|w| w.value);
        self.flags.workers.or(file).unwrap_or(1)
    }

    /// httperf has no cap on sessions in flight but the open-file limit: allow what the
    /// schedule can have in flight until the watchdog ends a stalled request, 10% over;
    /// without a watchdog, every session the run starts (a server that never answers
    /// keeps them all open, until the client runs out of descriptors: `fd-unavail`).
    fn open_slots(&self, arrival: Option<&Arrival>) -> u32 {
        match arrival {
            None | Some(Arrival::Immediate) => 1,
            Some(a) => {
                let sessions = self.flags.requests.unwrap_or(u64::MAX);
                let by_time = match self.requests[0].timeouts.reply {
                    Some(reply) => {
                        let shares = self.flags.client.map_or(1, |c| c.1);
                        let per_client = a.mean_rate() / f64::from(shares);
                        (per_client * reply.as_secs_f64() * 1.1 - 1e-6).ceil() as u64
                    }
                    None => u64::MAX,
                };
                let slots = by_time.min(sessions).min(u64::from(MAX_OPEN_SLOTS)) as u32;
                slots.max(16)
            }
        }
    }

    /// The ramp-up: `--ramp-start` or `ramp_up.start` slots at once (all of them when
    /// there is no ramp duration, else 1), the rest over the duration. A file in
    /// LoadGen's names starts a slot per worker and ramps over 300 s by default.
    fn ramp(&self, concurrency: u32) -> Result<RampUp, ConfigError> {
        let run_file = matches!(self.source, Source::RunFile(_));
        let duration = self.flags.ramp_duration.or(self.file.ramp_duration);
        let duration = duration.unwrap_or(if self.file.loadgen {
            LOADGEN_RAMP_DURATION
        } else {
            Duration::ZERO
        });
        let start = match (self.flags.ramp_start, &self.file.ramp_start) {
            (Some(s), _) if s > concurrency => {
                let slots = if run_file {
                    "the slots"
                } else {
                    "--concurrency"
                };
                let allowed = format!("at most {slots} ({concurrency})");
                return Err(ConfigError::invalid("--ramp-start", s, allowed));
            }
            (Some(s), _) => s,
            // A smaller -c than the file's ramp_up.max: start at most that many.
            (None, Some(s)) if s.value > concurrency && self.flags.concurrency.is_some() => {
                concurrency
            }
            (None, Some(s)) if s.value > concurrency => {
                let why = format!(
                    "ramp_up.start = {} is more than ramp_up.max ({concurrency})",
                    s.value
                );
                return Err(s.place.error(&why));
            }
            (None, Some(s)) => s.value,
            // LoadGen: RampUpStart defaults to NWorker (a slot per worker).
            (None, None) if self.file.loadgen => self.loadgen_workers().min(concurrency),
            (None, None) if duration.is_zero() => concurrency,
            (None, None) => 1,
        };
        if start == 0 && duration.is_zero() {
            // A run file's start and duration may come from its keys or the flags: the
            // message names the keys.
            return Err(if run_file {
                let allowed = "at least 1 unless ramp_up.duration is given";
                ConfigError::invalid("ramp_up.start", 0, allowed)
            } else {
                let allowed = "at least 1 unless --ramp-duration is given";
                ConfigError::invalid("--ramp-start", 0, allowed)
            });
        }
        Ok(RampUp { start, duration })
    }

    /// Worker processes: `-w`, else the run file's `workers`, else one per CPU (one when
    /// requests are printed, which read best in order), never more than the slots.
    fn workers(&self, concurrency: u32) -> Result<u32, ConfigError> {
        let refuse = |w: u32, allowed: String| Err(ConfigError::invalid("--workers", w, allowed));
        match (self.flags.workers, &self.file.workers) {
            (Some(w), _) if self.source == Source::Httperf => Ok(w.min(concurrency)),
            (Some(w), _) if matches!(self.source, Source::RunFile(_)) => {
                if !(1..=MAX_WORKERS).contains(&w) || w > concurrency {
                    return refuse(w, format!("1 to {}", MAX_WORKERS.min(concurrency)));
                }
                Ok(w)
            }
            (Some(w), _) if !(1..=MAX_WORKERS).contains(&w) => {
                refuse(w, format!("1 to {MAX_WORKERS}"))
            }
            (Some(w), _) if w > concurrency => refuse(
                w,
                format!("at most --concurrency ({concurrency}): every worker needs a slot"),
            ),
            (Some(w), _) => Ok(w),
            (None, Some(w)) if w.value > concurrency => {
                let why = format!(
                    "workers = {} is more than the slots ({concurrency}): every worker needs a slot",
                    w.value
                );
                Err(w.place.error(&why))
            }
            (None, Some(w)) => Ok(w.value),
            (None, None) if self.flags.print.any() || self.file.loadgen => Ok(1),
            (None, None) => Ok(default_workers().min(concurrency)),
        }
    }

    /// What ends the run: `-n` (and `-d` with it: whichever comes first), else a duration
    /// (`-d`, the file's `duration`), else the command's default (a duration for
    /// `volley URL`/`demo`, the rounds for a run file).
    fn limit(&self) -> Result<Limit, ConfigError> {
        let duration = match (self.flags.duration, &self.file.duration) {
            (Some(d), _) if d.is_zero() => {
                let shown = DurationArg(d);
                return Err(ConfigError::invalid(
                    "--duration",
                    shown,
                    "a positive duration",
                ));
            }
            (Some(d), _) => Some(d),
            (None, Some(d)) if d.value.is_zero() => {
                return Err(d.place.error("duration must be positive"));
            }
            (None, Some(d)) => Some(d.value),
            (None, None) => None,
        };
        Ok(match (self.flags.requests, duration) {
            (Some(0), _) => return Err(ConfigError::invalid("--requests", 0, "at least 1")),
            // `-n` and `-d` on the command line: whichever comes first. (`-n` over a run
            // file's `duration`: the flag wins, as flags do.)
            (Some(n), Some(d)) if self.flags.duration.is_some() => Limit::RequestsWithin(n, d),
            (Some(n), _) => Limit::Requests(n),
            (None, Some(d)) => Limit::Duration(d),
            (None, None) => match self.source {
                Source::Url => Limit::Duration(DEFAULT_DURATION),
                Source::Demo => Limit::Duration(DEMO_DURATION),
                Source::RunFile(_) | Source::Httperf => Limit::Rounds,
            },
        })
    }

    /// The URL iterator: a built-in one by name, or a custom one (`extra`) that picks the
    /// requests instead.
    fn iterator(&self, extra: &[&str]) -> Result<(IteratorKind, Option<String>), ConfigError> {
        let known = || {
            let names = IteratorKind::NAMES.iter().chain(extra).copied();
            names.collect::<Vec<_>>().join(", ")
        };
        let exists = |n: &str| IteratorKind::from_name(n).is_some() || extra.contains(&n);
        let name = match (&self.flags.iterator, &self.file.iterator) {
            (Some(n), _) if !exists(n) => {
                return Err(ConfigError::invalid("--iterator", n, known()));
            }
            (Some(n), _) => Some(n.as_str()),
            (None, Some(n)) if !exists(&n.value) => {
                let why = format!("unknown iterator '{}'; known: {}", n.value, known());
                return Err(n.place.error(&why));
            }
            (None, Some(n)) => Some(n.value.as_str()),
            (None, None) => None,
        };
        Ok(match name.map(|n| (n, IteratorKind::from_name(n))) {
            None => (IteratorKind::Default, None),
            Some((_, Some(kind))) => (kind, None),
            Some((n, None)) => (IteratorKind::Default, Some(n.to_string())),
        })
    }

    /// The `/metrics` endpoint, from `--metrics-listen` or `metrics_listen`: a loopback
    /// address unless `--metrics-listen-any` (a flag only, so a run file cannot open the
    /// endpoint to the network by itself).
    fn metrics(&self) -> Result<Option<MetricsSpec>, ConfigError> {
        let file = self.file.metrics_listen.as_ref();
        let Some(listen) = self.flags.metrics_listen.or(file.map(|a| a.value)) else {
            for (given, flag) in [
                (self.flags.metrics_linger.is_some(), "--metrics-linger"),
                (self.flags.metrics_listen_any, "--metrics-listen-any"),
            ] {
                if given {
                    let allowed = "only with --metrics-listen ADDR";
                    return Err(ConfigError::invalid(flag, "given", allowed));
                }
            }
            return Ok(None);
        };
        let reachable = !listen.ip().is_loopback();
        if reachable && !self.flags.metrics_listen_any {
            let why = "a loopback address such as 127.0.0.1:9464 or [::1]:9464: the endpoint \
                       has no authentication, so serving other hosts needs --metrics-listen-any";
            return Err(match (self.flags.metrics_listen, file) {
                (None, Some(at)) => at
                    .place
                    .error(&format!("metrics_listen = \"{listen}\" is not {why}")),
                _ => ConfigError::invalid("--metrics-listen", listen, why),
            });
        }
        Ok(Some(MetricsSpec {
            listen,
            linger: self.flags.metrics_linger.unwrap_or(DEFAULT_METRICS_LINGER),
            reachable,
        }))
    }

    /// The scoreboard segment's name (`volley-NAME`), from `--run-name` or `run_name`.
    fn run_name(&self) -> Result<Option<String>, ConfigError> {
        let Some(name) = self.flags.run_name.as_ref().or(self.file.run_name.as_ref()) else {
            return Ok(None);
        };
        // It becomes a file name in /dev/shm.
        let ok = !name.is_empty()
            && name.len() <= 48
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
        if !ok {
            let allowed = "1 to 48 characters from A-Z a-z 0-9 . _ -";
            return Err(ConfigError::invalid("--run-name", name, allowed));
        }
        Ok(Some(format!("volley-{name}")))
    }

    /// The caps against hostile replies, within what the parser can hold.
    fn reply_limits(&self) -> Result<ReplyLimits, ConfigError> {
        let check = |flag: &'static str, v: usize, lo: usize, hi: usize| {
            if (lo..=hi).contains(&v) {
                Ok(v)
            } else {
                Err(ConfigError::invalid(flag, v, format!("{lo} to {hi}")))
            }
        };
        const MIB16: usize = 16 << 20;
        let l = &self.flags.limits;
        Ok(ReplyLimits {
            head_bytes: check("--max-head-bytes", l.head_bytes, 1024, MIB16)?,
            headers: check("--max-headers", l.headers, 1, MAX_HEADERS_CAP)?,
            chunk_ext_bytes: check("--max-chunk-ext-bytes", l.chunk_ext_bytes, 0, MIB16)?,
            trailer_bytes: check("--max-trailer-bytes", l.trailer_bytes, 0, MIB16)?,
        })
    }

    /// The open loop, when there is a schedule; `--client`, `--calls` (or `calls`) and
    /// `--spin` mean nothing without one. A session is one walk of the URL list
    /// unless `--calls` says otherwise.
    fn open_loop(&self, arrival: Option<Arrival>) -> Result<Option<OpenLoop>, ConfigError> {
        let calls = self.flags.calls.or(self.file.calls);
        let Some(arrival) = arrival else {
            if let Some(c) = self.flags.client {
                let allowed = "only with --rate or --period (a share of an open-loop schedule)";
                let shown = format!("{}/{}", c.0, c.1);
                return Err(ConfigError::invalid("--client", shown, allowed));
            }
            if let Some(c) = calls {
                let allowed = "only with --rate or --period (an open-loop run)";
                return Err(ConfigError::invalid("--calls", c, allowed));
            }
            if self.flags.spin {
                let allowed = "only with --rate or --period (waiting for scheduled starts)";
                return Err(ConfigError::invalid("--spin", true, allowed));
            }
            return Ok(None);
        };
        let list_len = u32::try_from(self.requests.len()).unwrap_or(u32::MAX);
        let calls = match calls {
            Some(0) => return Err(ConfigError::invalid("--calls", 0, "at least 1")),
            Some(c) => c,
            None => list_len.max(1),
        };
        let s = self.sessions.clone();
        Ok(Some(OpenLoop {
            arrival,
            spin: self.flags.spin,
            calls,
            client: self.flags.client.map_or((0, 1), |c| (c.0, c.1)),
            templates: s.templates,
            bursts: s.bursts,
            sequence: s.sequence,
            sessions: s.rules,
        }))
    }

    /// `--pipeline N` (1 when not given); `follow` iterators cannot pipeline (a redirect
    /// decides the next request).
    fn pipeline(&self, iterator: IteratorKind) -> Result<u32, ConfigError> {
        match self.flags.pipeline {
            None => Ok(1),
            Some(n) if !(1..=MAX_PIPELINE).contains(&n) => Err(ConfigError::invalid(
                "--pipeline",
                n,
                format!("1 to {MAX_PIPELINE}"),
            )),
            Some(n) if n > 1 && iterator.follows() => Err(ConfigError::invalid(
                "--pipeline",
                n,
                "1 with a follow iterator (each redirect decides the next request)",
            )),
            Some(n) => Ok(n),
        }
    }

    /// The per-request log (`--log`/`log`), CSV unless a format is given.
    fn log(&self) -> Result<Option<LogSpec>, ConfigError> {
        let format = self.flags.log_format.or(self.file.log_format);
        match self.flags.log.as_ref().or(self.file.log.as_ref()) {
            None => Ok(None),
            Some(path) if path.as_os_str().is_empty() => {
                Err(ConfigError::invalid("--log", "", "a file path"))
            }
            Some(path) => Ok(Some(LogSpec {
                path: path.clone(),
                format: format.unwrap_or(LogFormat::Csv),
            })),
        }
    }

    /// The TLS settings: the run file's, then the flags add CA files and can only turn
    /// verification and resumption off; `--cert`/`--key` replace the file's pair.
    fn tls(&self) -> TlsSpec {
        let mut t = self.file.tls.clone();
        let flags = &self.flags.tls;
        t.cacert.extend(flags.cacert.iter().cloned());
        t.insecure |= flags.insecure;
        if let Some((cert, key)) = &flags.cert {
            t.cert = Some(cert.clone());
            t.key = Some(key.clone());
        }
        t.resume &= !flags.no_resume;
        t
    }
}

/// Number of CPUs this process may run on.
fn default_workers() -> u32 {
    std::thread::available_parallelism()
        .map(|n| u32::try_from(n.get()).unwrap_or(1))
        .unwrap_or(1)
        .clamp(1, MAX_WORKERS)
}

/// A fresh random seed (std's per-process random hasher keys; no extra dependency).
fn random_seed() -> u64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(std::process::id().into());
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Place;
    use crate::spec::{PrintParts, SessionRules, Timeouts};
    use crate::values::{ClientArg, PeriodArg, TimeoutArg};

    fn entry() -> RequestSpec {
        let target = entry::test_target("/");
        let watchdog = Watchdog {
            timeout: Some(DEFAULT_TIMEOUT),
            ..Watchdog::default()
        };
        request(target, watchdog.timeouts())
    }

    fn from(source: Source) -> SpecBuilder {
        SpecBuilder::new(source, vec![entry()])
    }

    fn url() -> SpecBuilder {
        let mut b = from(Source::Url);
        // clap's default for -c.
        b.flags.concurrency = Some(DEFAULT_CONCURRENCY);
        b
    }

    fn run_file() -> SpecBuilder {
        from(Source::RunFile("run.toml".into()))
    }

    /// A run file value at `line`.
    fn at<T>(value: T, line: usize) -> At<T> {
        let place = Place {
            path: "run.toml".into(),
            line,
            column: 1,
        };
        At { value, place }
    }

    fn spec(b: SpecBuilder) -> RunSpec {
        b.build(&["custom"]).unwrap()
    }

    /// The flag and the allowed text of a refusal.
    fn refused(b: SpecBuilder) -> (&'static str, String) {
        match b.build(&["custom"]) {
            Err(ConfigError::Invalid { flag, allowed, .. }) => (flag, allowed),
            other => panic!("{other:?}"),
        }
    }

    /// The line and message of a refusal that names the run file.
    fn refused_at(b: SpecBuilder) -> (usize, String) {
        match b.build(&["custom"]) {
            Err(ConfigError::RunFile { line, message, .. }) => (line, message),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn defaults_depend_on_the_command() {
        let s = spec(url());
        assert_eq!(s.limit, Limit::Duration(DEFAULT_DURATION));
        assert_eq!(
            spec(from(Source::Demo)).limit,
            Limit::Duration(DEMO_DURATION)
        );
        let s2 = spec(run_file());
        assert_eq!((s2.limit, s2.rounds), (Limit::Rounds, None));
        assert_eq!(s2.run_file, Some(PathBuf::from("run.toml")));
        assert_eq!(s.run_file, None);
        for s in [s, s2] {
            assert_eq!(s.concurrency, DEFAULT_CONCURRENCY);
            assert_eq!(s.ramp.start, DEFAULT_CONCURRENCY, "all slots at once");
            assert!((1..=DEFAULT_CONCURRENCY).contains(&s.workers));
            assert!(!s.seed_given);
            assert_eq!(
                (s.iterator, s.custom_iterator),
                (IteratorKind::Default, None)
            );
            assert_eq!((s.pipeline, s.max_redirects), (1, DEFAULT_MAX_REDIRECTS));
            assert_eq!((s.open_loop, s.log, s.run_name), (None, None, None));
            assert_eq!(s.limits, ReplyLimits::default());
            assert_eq!(s.tls, TlsSpec::default());
            assert!(s.output.progress && !s.output.json);
            assert_eq!(s.timeouts, s.requests[0].timeouts);
        }
        let mut b = run_file();
        b.flags.ramp_duration = Some(Duration::from_secs(2));
        assert_eq!(spec(b).ramp.start, 1, "a ramp starts with one slot");
    }

    #[test]
    fn flags_win_over_the_file_key_by_key() {
        let mut b = run_file();
        b.file = FileInputs {
            workers: Some(at(3, 1)),
            ramp_max: Some(13),
            ramp_start: Some(at(2, 2)),
            ramp_duration: Some(Duration::from_secs(5)),
            times: Some(3),
            duration: Some(at(Duration::from_secs(60), 3)),
            iterator: Some(at("random_start".into(), 4)),
            seed: Some(7),
            log: Some("file.csv".into()),
            log_format: Some(LogFormat::Jsonl),
            run_name: Some("file".into()),
            rate: Some(RateArg(5.0)),
            calls: Some(2),
            ..FileInputs::default()
        };
        let file_only = spec(b.clone());
        assert_eq!((file_only.workers, file_only.concurrency), (3, 13));
        assert_eq!(
            file_only.ramp,
            RampUp {
                start: 2,
                duration: Duration::from_secs(5)
            }
        );
        assert_eq!(file_only.rounds, Some(3));
        assert_eq!(file_only.limit, Limit::Duration(Duration::from_secs(60)));
        assert_eq!(file_only.iterator, IteratorKind::RandomStart);
        assert_eq!((file_only.seed, file_only.seed_given), (7, true));
        assert_eq!(file_only.run_name.as_deref(), Some("volley-file"));
        assert_eq!(file_only.open_loop.unwrap().calls, 2);
        b.flags = FlagInputs {
            workers: Some(2),
            concurrency: Some(4),
            ramp_start: Some(1),
            ramp_duration: Some(Duration::from_secs(1)),
            times: Some(1),
            duration: Some(Duration::from_secs(9)),
            iterator: Some("follow".into()),
            seed: Some(99),
            log: Some("flag.csv".into()),
            log_format: Some(LogFormat::Csv),
            run_name: Some("flag".into()),
            rate: Some(RateArg(10.0)),
            calls: Some(4),
            ..FlagInputs::default()
        };
        let s = spec(b);
        assert_eq!((s.workers, s.concurrency), (2, 4));
        assert_eq!(
            s.ramp,
            RampUp {
                start: 1,
                duration: Duration::from_secs(1)
            }
        );
        assert_eq!(s.rounds, Some(1));
        assert_eq!(s.limit, Limit::Duration(Duration::from_secs(9)));
        assert_eq!(s.iterator, IteratorKind::Follow);
        assert_eq!(s.seed, 99);
        let log = s.log.unwrap();
        assert_eq!(
            (log.path, log.format),
            (PathBuf::from("flag.csv"), LogFormat::Csv)
        );
        assert_eq!(s.run_name.as_deref(), Some("volley-flag"));
        let open = s.open_loop.unwrap();
        assert_eq!(open.arrival, RateArg(10.0).arrival());
        assert_eq!(open.calls, 4);
    }

    #[test]
    fn requests_win_over_any_duration_and_zero_times_means_until_stopped() {
        let mut b = run_file();
        b.file.times = Some(3);
        b.file.duration = Some(at(Duration::from_secs(60), 1));
        b.flags.requests = Some(50);
        b.flags.times = Some(0);
        let s = spec(b);
        assert_eq!((s.limit, s.rounds), (Limit::Requests(50), None));
    }

    #[test]
    fn requests_and_a_duration_flag_stop_at_whichever_comes_first() {
        let mut b = run_file();
        b.flags.requests = Some(50);
        b.flags.duration = Some(Duration::from_secs(9));
        let s = spec(b);
        assert_eq!(s.limit, Limit::RequestsWithin(50, Duration::from_secs(9)));
        assert_eq!(s.duration(), Some(Duration::from_secs(9)));
        assert_eq!(s.requests_for_worker(0).map(|n| n > 0), Some(true));
    }

    #[test]
    fn a_run_files_slots_come_from_ramp_up() {
        let mut b = run_file();
        b.file.ramp_start = Some(at(20, 1));
        assert_eq!(
            spec(b.clone()).concurrency,
            20,
            "start stands for a missing max"
        );
        b.flags.ramp_start = Some(5);
        assert_eq!(
            spec(b.clone()).concurrency,
            20,
            "the file's start, not the flag's"
        );
        b.file.ramp_start = Some(at(0, 1));
        b.file.ramp_duration = Some(Duration::from_secs(1));
        assert_eq!(
            spec(b).concurrency,
            DEFAULT_CONCURRENCY,
            "a start of 0 says nothing"
        );
    }

    #[test]
    fn a_file_ramp_start_above_the_slots() {
        let mut b = run_file();
        b.file.ramp_max = Some(13);
        b.file.ramp_start = Some(at(20, 2));
        let (line, msg) = refused_at(b.clone());
        assert_eq!(line, 2);
        assert_eq!(msg, "ramp_up.start = 20 is more than ramp_up.max (13)");
        b.flags.concurrency = Some(4);
        assert_eq!(spec(b).ramp.start, 4, "a smaller -c lowers it");
    }

    #[test]
    fn a_flag_ramp_start_above_the_slots_is_named_by_the_command() {
        let mut b = url();
        b.flags.concurrency = Some(2);
        b.flags.ramp_start = Some(3);
        assert_eq!(
            refused(b),
            ("--ramp-start", "at most --concurrency (2)".into())
        );
        let mut b = run_file();
        b.flags.concurrency = Some(2);
        b.flags.ramp_start = Some(3);
        assert_eq!(refused(b), ("--ramp-start", "at most the slots (2)".into()));
    }

    #[test]
    fn no_slot_at_the_start_needs_a_ramp() {
        let mut b = url();
        b.flags.ramp_start = Some(0);
        let (flag, allowed) = refused(b.clone());
        assert_eq!(flag, "--ramp-start");
        assert!(allowed.contains("--ramp-duration"), "{allowed}");
        b.flags.ramp_duration = Some(Duration::from_secs(1));
        assert_eq!(spec(b).ramp.start, 0);
        let mut b = run_file();
        b.flags.ramp_start = Some(0);
        let (flag, allowed) = refused(b);
        assert_eq!(
            flag, "ramp_up.start",
            "a run file's start may come from either"
        );
        assert!(allowed.contains("ramp_up.duration"), "{allowed}");
    }

    #[test]
    fn workers_need_a_slot_each() {
        let mut b = url();
        b.flags.concurrency = Some(2);
        b.flags.workers = Some(3);
        let (flag, allowed) = refused(b.clone());
        assert_eq!(flag, "--workers");
        assert!(
            allowed.starts_with("at most --concurrency (2)"),
            "{allowed}"
        );
        b.flags.workers = Some(MAX_WORKERS + 1);
        b.flags.concurrency = Some(MAX_WORKERS + 10);
        assert_eq!(refused(b), ("--workers", "1 to 1024".into()));
        let mut b = run_file();
        b.file.ramp_max = Some(13);
        b.flags.workers = Some(20);
        assert_eq!(refused(b.clone()), ("--workers", "1 to 13".into()));
        b.flags.workers = None;
        b.file.workers = Some(at(20, 3));
        let (line, msg) = refused_at(b.clone());
        assert_eq!(line, 3);
        assert!(
            msg.starts_with("workers = 20 is more than the slots (13)"),
            "{msg}"
        );
        b.flags.concurrency = Some(30);
        assert_eq!(spec(b).workers, 20, "a bigger -c makes room");
    }

    #[test]
    fn httperf_sizes_its_slots_and_lowers_its_workers() {
        let httperf = || {
            let mut b = from(Source::Httperf);
            b.requests[0].timeouts = Watchdog {
                timeout: Some(Duration::from_secs(2)),
                ..Watchdog::default()
            }
            .timeouts();
            b
        };
        let s = spec(httperf());
        assert_eq!(
            (s.concurrency, s.workers),
            (1, 1),
            "one connection after another"
        );
        let mut b = httperf();
        b.flags.rate = Some(RateArg(50.0));
        assert_eq!(spec(b.clone()).concurrency, 110, "50/s x 2 s x 1.1");
        b.flags.client = Some(ClientArg(0, 2));
        assert_eq!(spec(b.clone()).concurrency, 55, "a client's share");
        b.flags.rate = Some(RateArg(1.0));
        assert_eq!(spec(b.clone()).concurrency, 16, "at least 16");
        b.flags.rate = Some(RateArg(50_000.0));
        b.flags.client = None;
        b.flags.workers = Some(MAX_WORKERS + 1);
        let s = spec(b.clone());
        assert_eq!(
            (s.concurrency, s.workers),
            (MAX_OPEN_SLOTS, MAX_WORKERS + 1)
        );
        b.flags.rate = Some(RateArg(50.0));
        b.flags.requests = Some(30);
        assert_eq!(
            spec(b.clone()).concurrency,
            30,
            "no more than the sessions started"
        );
        b.requests[0].timeouts = Watchdog::default().timeouts();
        b.flags.requests = Some(500);
        assert_eq!(
            spec(b.clone()).concurrency,
            500,
            "no watchdog: every session"
        );
        b.flags.rate = None;
        let s = spec(b);
        assert_eq!(
            (s.concurrency, s.workers),
            (1, 1),
            "lowered to the slots, not refused"
        );
    }

    #[test]
    fn printing_runs_one_worker_unless_asked() {
        let mut b = url();
        b.flags.print.reply = Some(PrintParts::Both);
        assert_eq!(spec(b.clone()).workers, 1);
        b.flags.workers = Some(2);
        assert_eq!(spec(b).workers, 2);
    }

    #[test]
    fn limits_need_something_to_do() {
        let mut b = url();
        b.flags.requests = Some(0);
        assert_eq!(refused(b), ("--requests", "at least 1".into()));
        let mut b = url();
        b.flags.duration = Some(Duration::ZERO);
        assert_eq!(refused(b), ("--duration", "a positive duration".into()));
        let mut b = run_file();
        b.file.duration = Some(at(Duration::ZERO, 4));
        assert_eq!(
            refused_at(b.clone()),
            (4, "duration must be positive".into())
        );
        b.flags.duration = Some(Duration::from_secs(1));
        assert_eq!(spec(b).limit, Limit::Duration(Duration::from_secs(1)));
    }

    #[test]
    fn iterators_are_built_in_or_registered() {
        let mut b = url();
        b.flags.iterator = Some("custom".into());
        let s = spec(b.clone());
        assert_eq!(
            (s.iterator, s.custom_iterator.as_deref()),
            (IteratorKind::Default, Some("custom"))
        );
        b.flags.iterator = Some("sideways".into());
        let (flag, known) = refused(b);
        assert_eq!(flag, "--iterator");
        assert!(known.ends_with("random_start_follow, custom"), "{known}");
        let mut b = run_file();
        b.file.iterator = Some(at("sideways".into(), 5));
        let (line, msg) = refused_at(b);
        assert_eq!(line, 5);
        assert!(
            msg.starts_with("unknown iterator 'sideways'; known: default"),
            "{msg}"
        );
    }

    #[test]
    fn run_names_become_file_names() {
        let mut b = run_file();
        b.file.run_name = Some("a/b".into());
        let (flag, _) = refused(b.clone());
        assert_eq!(
            flag, "--run-name",
            "named as the flag wherever it came from"
        );
        b.file.run_name = Some("x".repeat(49));
        assert_eq!(refused(b.clone()).0, "--run-name");
        b.file.run_name = Some("nightly-1.2_a".into());
        assert_eq!(spec(b).run_name.as_deref(), Some("volley-nightly-1.2_a"));
    }

    #[test]
    fn metrics_listen_is_loopback_unless_any() {
        use std::net::SocketAddr;
        let lo: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let any: SocketAddr = "0.0.0.0:9464".parse().unwrap();
        assert_eq!(spec(url()).metrics, None);
        let mut b = url();
        b.flags.metrics_listen = Some(lo);
        let m = spec(b.clone()).metrics.unwrap();
        assert_eq!(
            (m.listen, m.linger, m.reachable),
            (lo, DEFAULT_METRICS_LINGER, false)
        );
        b.flags.metrics_linger = Some(Duration::ZERO);
        assert_eq!(spec(b).metrics.unwrap().linger, Duration::ZERO);
        let mut b = url();
        b.flags.metrics_listen = Some(any);
        assert_eq!(refused(b.clone()).0, "--metrics-listen");
        b.flags.metrics_listen_any = true;
        assert!(spec(b).metrics.unwrap().reachable);
        // The file names an address; only the flag opens the network.
        let mut b = run_file();
        b.file.metrics_listen = Some(At {
            value: any,
            place: Place {
                path: "run.toml".into(),
                line: 3,
                column: 18,
            },
        });
        let (line, message) = refused_at(b.clone());
        assert_eq!(line, 3);
        assert!(message.contains("--metrics-listen-any"), "{message}");
        b.flags.metrics_listen_any = true;
        assert_eq!(spec(b).metrics.unwrap().listen, any);
        // The companions need an address.
        let mut b = url();
        b.flags.metrics_linger = Some(Duration::from_secs(1));
        assert_eq!(refused(b).0, "--metrics-linger");
        let mut b = url();
        b.flags.metrics_listen_any = true;
        assert_eq!(refused(b).0, "--metrics-listen-any");
    }

    #[test]
    fn open_loop_flags_need_a_schedule() {
        let mut b = url();
        b.flags.client = Some(ClientArg(0, 2));
        assert_eq!(refused(b).0, "--client");
        let mut b = run_file();
        b.file.calls = Some(3);
        assert_eq!(refused(b).0, "--calls", "a run file's calls too");
        let mut b = url();
        b.flags.spin = true;
        assert_eq!(refused(b).0, "--spin");
        let mut b = url();
        b.flags.wake_per_reply = true;
        assert!(
            spec(b).wake_per_reply,
            "a closed loop naps unless told to wake per reply"
        );
        let mut b = url();
        b.flags.period = Some(PeriodArg(Arrival::Exponential { mean_ns: 1000 }));
        b.flags.calls = Some(0);
        assert_eq!(refused(b).0, "--calls");
    }

    #[test]
    fn a_session_walks_the_url_list_once() {
        let mut b = run_file();
        b.requests.push(entry());
        b.requests.push(entry());
        b.file.period = Some(PeriodArg(Arrival::Deterministic { period_ns: 1000 }));
        b.flags.client = Some(ClientArg(1, 3));
        let open = spec(b).open_loop.unwrap();
        assert_eq!((open.calls, open.client), (3, (1, 3)));
        assert_eq!(open.arrival, Arrival::Deterministic { period_ns: 1000 });
    }

    #[test]
    fn sessions_without_a_schedule_run_one_after_another() {
        let mut b = from(Source::Httperf);
        b.sessions.rules = Some(SessionRules::default());
        let open = spec(b).open_loop.unwrap();
        assert_eq!(open.arrival, Arrival::Immediate);
    }

    #[test]
    fn pipelining_is_bounded_and_not_for_redirects() {
        let mut b = url();
        b.flags.pipeline = Some(MAX_PIPELINE + 1);
        assert_eq!(refused(b.clone()), ("--pipeline", "1 to 1000".into()));
        b.flags.pipeline = Some(4);
        assert_eq!(spec(b.clone()).pipeline, 4);
        b.flags.iterator = Some("follow".into());
        let (flag, allowed) = refused(b.clone());
        assert_eq!(flag, "--pipeline");
        assert!(allowed.contains("follow"), "{allowed}");
        b.flags.pipeline = Some(1);
        assert_eq!(spec(b).pipeline, 1);
    }

    #[test]
    fn logs_are_csv_unless_told() {
        let mut b = url();
        b.flags.log = Some("x".into());
        assert_eq!(spec(b.clone()).log.unwrap().format, LogFormat::Csv);
        b.flags.log = Some(PathBuf::new());
        assert_eq!(refused(b), ("--log", "a file path".into()));
    }

    #[test]
    fn tls_flags_add_to_the_file_and_only_turn_checks_off() {
        let mut b = run_file();
        b.file.tls = TlsSpec {
            cacert: vec!["file.pem".into()],
            insecure: false,
            cert: Some("file.crt".into()),
            key: Some("file.key".into()),
            resume: false,
        };
        let t = spec(b.clone()).tls;
        assert_eq!(
            (t.cert.as_deref(), t.resume),
            (Some("file.crt".as_ref()), false)
        );
        b.flags.tls = TlsFlags {
            cacert: vec!["flag.pem".into()],
            insecure: true,
            cert: Some(("flag.crt".into(), "flag.key".into())),
            no_resume: false,
        };
        let t = spec(b).tls;
        let cacert: Vec<&str> = t.cacert.iter().map(|p| p.to_str().unwrap()).collect();
        assert_eq!(cacert, ["file.pem", "flag.pem"]);
        assert!(t.insecure && !t.resume, "resumption stays off");
        assert_eq!(
            (t.cert.unwrap(), t.key.unwrap()),
            ("flag.crt".into(), "flag.key".into())
        );
        let mut b = url();
        b.flags.tls.no_resume = true;
        assert!(!spec(b).tls.resume);
    }

    #[test]
    fn a_watchdog_derives_every_phase() {
        let s = |n| Some(Duration::from_secs(n));
        let w = Watchdog {
            timeout: s(2),
            think: Duration::from_secs(1),
            ..Watchdog::default()
        };
        let want = Timeouts {
            connect: s(2),
            send: s(2),
            first_byte: s(3),
            idle: None,
            inactivity: None,
            reply: s(3),
        };
        assert_eq!(w.timeouts(), want);
        let finer = Watchdog {
            connect: Some(TimeoutArg::Never),
            first_byte: Some(TimeoutArg::After(Duration::from_secs(1))),
            idle: Some(TimeoutArg::After(Duration::from_secs(4))),
            ..w
        };
        let got = finer.timeouts();
        assert_eq!((got.connect, got.first_byte, got.idle), (None, s(1), s(4)));
        assert_eq!(Watchdog::default().timeouts(), Timeouts::default(), "never");
    }
}
