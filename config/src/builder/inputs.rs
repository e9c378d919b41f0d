//! The builder's inputs, in two layers: what the command line gives ([`FlagInputs`], also
//! httperf's options in the same terms) and what a run file's keys give ([`FileInputs`]);
//! plus httperf's session workloads ([`SessionInputs`]). `None` or `false`: not given.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use crate::error::Place;
use crate::spec::{
    LogFormat, PrintSpec, ReplyLimits, Sequence, SessionRules, SessionTemplate, SocketOptions,
    TlsSpec, Wording,
};
use crate::values::{ClientArg, PeriodArg, RateArg};

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
    /// `--spin`.
    pub spin: bool,
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
    /// `volley httperf --num-sessions`: the report's httperf lines in httperf 0.8's words.
    pub wording: Wording,
    /// `--out`.
    pub out: Option<PathBuf>,
    /// `--interval`.
    pub interval: Option<Duration>,
    /// What the user should be told about how a flag was read (a wrk or oha habit taken
    /// in volley's terms).
    pub notes: Vec<String>,
    /// `--max-head-bytes`, `--max-headers`, `--max-chunk-ext-bytes`, `--max-trailer-bytes`
    /// (the defaults when not given: clap fills them in, and they pass the checks).
    pub limits: ReplyLimits,
    /// `--cacert`, `-k`, `--cert`/`--key`, `--no-tls-resume`.
    pub tls: TlsFlags,
    /// httperf's `--num-calls` per connection.
    pub conn_requests: Option<u32>,
    /// httperf's `--send-buffer`, `--recv-buffer`, `--close-with-reset`.
    pub socket: SocketOptions,
    /// httperf's `--print-request`, `--print-reply`.
    pub print: PrintSpec,
    /// `--check` (repeatable), parsed.
    pub checks: Vec<crate::check::Check>,
    /// `--metrics-listen`.
    pub metrics_listen: Option<SocketAddr>,
    /// `--metrics-linger`.
    pub metrics_linger: Option<Duration>,
    /// `--metrics-listen-any`.
    pub metrics_listen_any: bool,
    /// httperf's `--call-stats`, `--call-stats-file`.
    pub call_stats: Option<crate::spec::CallStatsSpec>,
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
    /// The file uses LoadGen's option names (`NWorker`, `RampUp*`, `InitURLs`,
    /// `URLList`): what it leaves out takes LoadGen's defaults (one worker, the ramp
    /// starting with a slot per worker, the slots = the start, a 300 s ramp).
    pub loadgen: bool,
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
    /// `check`, parsed.
    pub checks: Vec<crate::check::Check>,
    /// `metrics_listen`.
    pub metrics_listen: Option<At<SocketAddr>>,
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
