//! The one place a [`RunSpec`] is made. [`SpecBuilder`] holds the inputs as given;
//! [`SpecBuilder::build`] applies every default, the precedence of flags over a run file,
//! and every rule that needs several inputs at once.
//!
//! The fillers ([`crate::flags`] for the command line, [`crate::runfile`], [`crate::httperf`])
//! parse each value with the parsers of [`crate::values`] where they can still name it (the
//! flag, or the run file's line and column) and store it here, typed. A run file value that
//! a later rule may refuse keeps its [`Place`] ([`At`]), so that the refusal names the line.
//! Rules about one value that read the same whatever gave it (a run name's characters, a
//! zero duration) are checked here too, so that each is written once.
//!
//! The inputs come in two layers, [`FlagInputs`] (the command line, or httperf's options)
//! and [`FileInputs`] (a run file's keys): a flag wins over the file's key, and a few rules
//! depend on which layer gave a value (a run file's `ramp_up.start` above a smaller `-c` is
//! lowered to it; above the file's own `ramp_up.max` it is refused). [`Source`] says which
//! command the inputs came from: it picks the defaults (how long a run lasts) and how a
//! refusal names the slots (`--concurrency`, or `the slots` of a run file).

use std::collections::BTreeMap;
use std::hash::{BuildHasher, Hasher};
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::error::{ConfigError, Place};
use crate::spec::{
    Arrival, DEFAULT_MAX_REDIRECTS, Delay, HttpVersion, IteratorKind, KeepAlive, Limit, LogFormat,
    LogSpec, MAX_HEADERS_CAP, OpenLoop, OutputSpec, PrintSpec, RampUp, ReplyLimits, RequestSpec,
    RunSpec, Sequence, SessionRules, SessionTemplate, SocketOptions, Target, Timeouts, TlsSpec,
};
use crate::values::{ClientArg, DurationArg, PeriodArg, RateArg, TimeoutArg};

/// Most worker processes accepted (a sanity bound, far above any core count).
pub const MAX_WORKERS: u32 = 1024;
/// Most thread slots accepted in one run.
pub const MAX_CONCURRENCY: u32 = 1_000_000;
/// Slots when neither `-c` nor a run file's `ramp_up` says how many.
pub const DEFAULT_CONCURRENCY: u32 = 10;
/// Default run length of `volley URL` when neither `-n` nor `-d` is given.
pub const DEFAULT_DURATION: Duration = Duration::from_secs(10);
/// Default run length of `volley demo`.
pub const DEMO_DURATION: Duration = Duration::from_secs(5);
/// Default watchdog of a request (`--timeout`'s default, and a run file entry's).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Most requests pipelined on one connection.
pub const MAX_PIPELINE: u32 = 1000;
/// Most sessions volley runs at once for an httperf open loop.
pub const MAX_OPEN_SLOTS: u32 = 10_000;

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

/// A run file value and where it stands, for a rule that may refuse it later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct At<T> {
    /// The value.
    pub value: T,
    /// Its place in the run file.
    pub place: Place,
}

/// What the command line gives (or httperf's options, in the same terms). `None` or
/// `false`: not given.
#[derive(Debug, Clone, Default)]
pub(crate) struct FlagInputs {
    /// `-w`.
    pub workers: Option<u32>,
    /// `-c`.
    pub concurrency: Option<u32>,
    /// `--ramp-start`.
    pub ramp_start: Option<u32>,
    /// `--ramp-duration`.
    pub ramp_duration: Option<Duration>,
    /// `--times`.
    pub times: Option<u64>,
    /// `-n`: requests in total.
    pub requests: Option<u64>,
    /// `-d`.
    pub duration: Option<Duration>,
    /// `--iterator`, a built-in or a custom iterator's name.
    pub iterator: Option<String>,
    /// `--seed`.
    pub seed: Option<u64>,
    /// `--rate`.
    pub rate: Option<RateArg>,
    /// `--period`.
    pub period: Option<PeriodArg>,
    /// `--calls`.
    pub calls: Option<u32>,
    /// `--client I/N`.
    pub client: Option<ClientArg>,
    /// `--wake-per-reply`.
    pub wake_per_reply: bool,
    /// `--pipeline`.
    pub pipeline: Option<u32>,
    /// `--log`.
    pub log: Option<PathBuf>,
    /// `--log-format`.
    pub log_format: Option<LogFormat>,
    /// `--run-name`.
    pub run_name: Option<String>,
    /// `--json`.
    pub json: bool,
    /// `-q`.
    pub quiet: bool,
    /// `--max-head-bytes`, `--max-headers`, `--max-chunk-ext-bytes`, `--max-trailer-bytes`.
    pub limits: ReplyLimits,
    /// `--cacert`, `-k`, `--cert`/`--key`, `--no-tls-resume`.
    pub tls: TlsFlags,
    /// httperf's `--num-calls` per connection.
    pub conn_requests: Option<u32>,
    /// httperf's `--send-buffer`, `--recv-buffer`, `--close-with-reset`.
    pub socket: SocketOptions,
    /// httperf's `--print-request`, `--print-reply`.
    pub print: PrintSpec,
}

/// The TLS flags; they add to a run file's TLS keys and can only turn checks off.
#[derive(Debug, Clone, Default)]
pub(crate) struct TlsFlags {
    /// `--cacert` (repeatable).
    pub cacert: Vec<PathBuf>,
    /// `-k`.
    pub insecure: bool,
    /// `--cert` and `--key` (clap makes them come together).
    pub cert: Option<(PathBuf, PathBuf)>,
    /// `--no-tls-resume`.
    pub no_resume: bool,
}

/// What a run file's top-level keys give. Paths are already relative to the file's folder.
#[derive(Debug, Clone, Default)]
pub(crate) struct FileInputs {
    /// `workers`.
    pub workers: Option<At<u32>>,
    /// `ramp_up.max`.
    pub ramp_max: Option<u32>,
    /// `ramp_up.start`.
    pub ramp_start: Option<At<u32>>,
    /// `ramp_up.duration`.
    pub ramp_duration: Option<Duration>,
    /// `times`.
    pub times: Option<u64>,
    /// `duration`.
    pub duration: Option<At<Duration>>,
    /// `iterator`.
    pub iterator: Option<At<String>>,
    /// `max_redirects`.
    pub max_redirects: Option<u32>,
    /// `follow_cross_origin`.
    pub follow_cross_origin: bool,
    /// `dnscache`, names lower-cased.
    pub dnscache: BTreeMap<String, IpAddr>,
    /// `seed`.
    pub seed: Option<u64>,
    /// `rate`.
    pub rate: Option<RateArg>,
    /// `period`.
    pub period: Option<PeriodArg>,
    /// `calls`.
    pub calls: Option<u32>,
    /// `log`.
    pub log: Option<PathBuf>,
    /// `log_format`.
    pub log_format: Option<LogFormat>,
    /// `run_name`.
    pub run_name: Option<String>,
    /// `cacert`, `insecure`, `cert`/`key`, `tls_resume`.
    pub tls: TlsSpec,
}

/// httperf's session workloads, laid over the open loop (see [`OpenLoop`]).
#[derive(Debug, Clone, Default)]
pub(crate) struct SessionInputs {
    /// [`OpenLoop::templates`].
    pub templates: Vec<SessionTemplate>,
    /// [`OpenLoop::bursts`].
    pub bursts: Vec<u32>,
    /// [`OpenLoop::sequence`].
    pub sequence: Option<Sequence>,
    /// [`OpenLoop::sessions`]; a session workload without a schedule runs its sessions
    /// one after another ([`Arrival::Immediate`]).
    pub rules: Option<SessionRules>,
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
        let (seed, seed_given) = match self.flags.seed.or(self.file.seed) {
            Some(s) => (s, true),
            None => (random_seed(), false),
        };
        let times = self.flags.times.or(self.file.times).unwrap_or(0);
        let tls = self.tls();
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
            },
            run_name,
            open_loop,
            pipeline,
            conn_requests: flags.conn_requests,
            log,
            run_file,
            socket: flags.socket,
            print: flags.print,
            tls,
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
    /// else what the schedule needs (httperf), else [`DEFAULT_CONCURRENCY`].
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
        Ok(from_file.unwrap_or(DEFAULT_CONCURRENCY))
    }

    /// httperf has no cap on sessions in flight: allow what the schedule can have in
    /// flight until the watchdog ends a stalled request (10 s without one), 10% over.
    fn open_slots(&self, arrival: Option<&Arrival>) -> u32 {
        match arrival {
            None | Some(Arrival::Immediate) => 1,
            Some(a) => {
                let reply = self.requests[0].timeouts.reply;
                let horizon = reply.unwrap_or(Duration::from_secs(10)).as_secs_f64();
                let shares = self.flags.client.map_or(1, |c| c.1);
                let per_client = a.mean_rate() / f64::from(shares);
                let slots = (per_client * horizon * 1.1 - 1e-6).ceil() as u32;
                slots.clamp(16, MAX_OPEN_SLOTS)
            }
        }
    }

    /// The ramp-up: `--ramp-start` or `ramp_up.start` slots at once (all of them when
    /// there is no ramp duration, else 1), the rest over the duration.
    fn ramp(&self, concurrency: u32) -> Result<RampUp, ConfigError> {
        let run_file = matches!(self.source, Source::RunFile(_));
        let duration = self.flags.ramp_duration.or(self.file.ramp_duration);
        let duration = duration.unwrap_or(Duration::ZERO);
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
            (None, None) if self.flags.print.any() => Ok(1),
            (None, None) => Ok(default_workers().min(concurrency)),
        }
    }

    /// What ends the run: `-n`, else a duration (`-d`, the file's `duration`), else the
    /// command's default (a duration for `volley URL`/`demo`, the rounds for a run file).
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
    /// `--wake-per-reply` mean nothing without one. A session is one walk of the URL list
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
            if self.flags.wake_per_reply {
                let allowed =
                    "only with --rate or --period (a closed loop always wakes for replies)";
                return Err(ConfigError::invalid("--wake-per-reply", true, allowed));
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
            wake_per_reply: self.flags.wake_per_reply,
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

/// A URL-list entry to `target` with every default but its watchdog: GET, no header
/// fields or body, kept-alive connections, no delays, HTTP/1.1.
pub(crate) fn request(target: Target, timeouts: Timeouts) -> RequestSpec {
    RequestSpec {
        method: "GET".to_string(),
        target,
        headers: Vec::new(),
        body: Vec::new(),
        keepalive: KeepAlive::BOTH,
        pre: Delay::default(),
        post: Delay::default(),
        timeouts,
        version: HttpVersion::Http11,
    }
}

/// A request's watchdog as given: the main timeout (httperf's meaning) and think time,
/// and the finer deadlines, each of which defaults to what the main one implies.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Watchdog {
    /// `--timeout` (`None`: never): connect, send, and with `think` the reply.
    pub timeout: Option<Duration>,
    /// `--think-timeout`: added to `timeout` for the first byte and the whole reply.
    pub think: Duration,
    /// `--connect-timeout`.
    pub connect: Option<TimeoutArg>,
    /// `--first-byte-timeout`.
    pub first_byte: Option<TimeoutArg>,
    /// `--idle-timeout`.
    pub idle: Option<TimeoutArg>,
}

impl Watchdog {
    /// The phase deadlines: connect and send within `timeout`, the first byte and the whole
    /// reply within `timeout + think` of the request being sent, no idle limit; a finer
    /// deadline given replaces its default (`never` switches it off).
    pub fn timeouts(self) -> Timeouts {
        let reply = self.timeout.map(|t| t + self.think);
        let pick = |given: Option<TimeoutArg>, default: Option<Duration>| match given {
            Some(TimeoutArg::After(d)) => Some(d),
            Some(TimeoutArg::Never) => None,
            None => default,
        };
        Timeouts {
            connect: pick(self.connect, self.timeout),
            send: self.timeout,
            first_byte: pick(self.first_byte, reply),
            idle: pick(self.idle, None),
            reply,
        }
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
