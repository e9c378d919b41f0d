//! `RunSpec` and its parts: the validated, immutable description of one run. Plain data.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

mod open_loop;

pub use open_loop::{
    Arrival, MAX_SESSION_RETRIES, OpenLoop, Sequence, SessionRules, SessionTemplate,
};

/// Everything a run needs, validated. Made in one place only (the crate's `SpecBuilder`, from
/// the command line, a run file or an httperf command line); never changed after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunSpec {
    /// The URL list (LoadGen's URLList): every slot walks it, `rounds` times, in the
    /// order `iterator` gives. Never empty; a command-line run has one entry.
    pub requests: Vec<RequestSpec>,
    /// How a slot walks the URL list.
    pub iterator: IteratorKind,
    /// A custom iterator (registered by a hook program) that picks the requests instead
    /// of `iterator`, by name.
    pub custom_iterator: Option<String>,
    /// Rounds of the URL list per slot (LoadGen's `times`); `None` = until the run stops.
    pub rounds: Option<u64>,
    /// Most redirects followed from one list entry (`follow` iterators).
    pub max_redirects: u32,
    /// `follow` iterators also follow a Location on another http origin whose host is an
    /// IP literal or in `dnscache` (same origin only by default).
    pub follow_cross_origin: bool,
    /// The run file's name → IP table (LoadGen's dnscache).
    pub dnscache: std::collections::BTreeMap<String, std::net::IpAddr>,
    /// Worker processes.
    pub workers: u32,
    /// Thread slots in total (LoadGen's RampUpMax); slot `t` belongs to worker `t % workers`.
    pub concurrency: u32,
    /// Linear ramp-up of the thread slots.
    pub ramp: RampUp,
    /// What ends the run.
    pub limit: Limit,
    /// Watchdog deadlines of each phase of a request.
    pub timeouts: Timeouts,
    /// Caps against hostile replies.
    pub limits: ReplyLimits,
    /// Run seed; slot `t` draws from `ChaCha8Rng(seed, stream = t)`.
    pub seed: u64,
    /// Whether the seed was given (`--seed`) or drawn at random.
    pub seed_given: bool,
    /// How results are shown.
    pub output: OutputSpec,
    /// Scoreboard segment name (`volley-…`), if the user chose one.
    pub run_name: Option<String>,
    /// Open-loop arrivals (`--rate`/`--period`): sessions start on a schedule, never
    /// waiting for replies. `None`: every slot sends its next request as soon as the last
    /// one ends (closed loop).
    pub open_loop: Option<OpenLoop>,
    /// Requests written back to back on a connection before their replies are read
    /// (HTTP/1.1 pipelining; httperf's `--burst-length`). 1: one at a time.
    pub pipeline: u32,
    /// Wake for every reply as it arrives (`--wake-per-reply`) rather than take the
    /// replies that came during a sleep together, dated by the kernel on arrival: an open
    /// loop sleeps until its next start, a closed loop naps between batches.
    pub wake_per_reply: bool,
    /// Close a connection once it carried this many requests (httperf's `--num-calls`
    /// per connection); `None`: keep it as long as the server allows.
    pub conn_requests: Option<u32>,
    /// Per-request log, if asked for.
    pub log: Option<LogSpec>,
    /// The run file the spec came from, if any.
    pub run_file: Option<PathBuf>,
    /// Socket options set on every connection.
    pub socket: SocketOptions,
    /// Requests and replies printed as they happen (httperf's `--print-request` and
    /// `--print-reply`).
    pub print: PrintSpec,
    /// How https connections are made and verified.
    pub tls: TlsSpec,
    /// Notes for the user about how the command line was read, printed on stderr before
    /// the run (`-t` taken as `-w`, …).
    pub notes: Vec<String>,
    /// Pass/fail checks on the result (`--check`, a run file's `check`), in the order
    /// given: the run file's, then the flags'.
    pub checks: Vec<crate::check::Check>,
    /// Where to write the result file (`--out`), if anywhere.
    pub out: Option<PathBuf>,
    /// Length of the time series' intervals.
    pub series_interval: Duration,
    /// `--metrics-listen`: serve `/metrics` while the run lasts (and a linger after it).
    pub metrics: Option<MetricsSpec>,
    /// `volley httperf --call-stats=N`: the first calls' statistics, printed as a table
    /// after httperf's report.
    pub call_stats: Option<CallStatsSpec>,
}

/// TLS client settings (for https targets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSpec {
    /// PEM files of CA certificates trusted besides the built-in roots (`--cacert`);
    /// a server presenting one of them itself is accepted as pinned.
    pub cacert: Vec<PathBuf>,
    /// Do not verify the server's certificate (`--insecure`); the report warns.
    pub insecure: bool,
    /// PEM file of the client certificate chain (`--cert`), with `key`.
    pub cert: Option<PathBuf>,
    /// PEM file of the client certificate's private key (`--key`).
    pub key: Option<PathBuf>,
    /// Resume TLS sessions (tickets and IDs) on new connections to a server
    /// (`--no-tls-resume`, httperf's `--ssl-no-reuse` and `tls_resume = false` turn it off).
    pub resume: bool,
}

impl Default for TlsSpec {
    fn default() -> Self {
        TlsSpec {
            cacert: Vec::new(),
            insecure: false,
            cert: None,
            key: None,
            resume: true,
        }
    }
}

/// Socket options set on every connection (each one set costs a syscall per connection).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SocketOptions {
    /// `SO_SNDBUF` in bytes (httperf's `--send-buffer`); `None`: the kernel's default.
    pub send_buffer: Option<u32>,
    /// `SO_RCVBUF` in bytes (httperf's `--recv-buffer`); `None`: the kernel's default.
    pub recv_buffer: Option<u32>,
    /// Close connections with a reset (`SO_LINGER` 0) instead of a FIN, so they leave no
    /// TIME_WAIT behind (httperf's `--close-with-reset`).
    pub reset_on_close: bool,
}

/// Which parts of a message are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrintParts {
    /// The request line or status line and the header fields.
    Header,
    /// The body (a chunked body's data, without its framing).
    Body,
    /// Both.
    Both,
}

impl PrintParts {
    /// The head is printed.
    pub fn header(self) -> bool {
        matches!(self, PrintParts::Header | PrintParts::Both)
    }

    /// The body is printed.
    pub fn body(self) -> bool {
        matches!(self, PrintParts::Body | PrintParts::Both)
    }
}

/// What is printed on stdout as it happens, in httperf's format (`SH`/`SB`/`SS` lines for
/// requests, `RH`/`RB`/`RS` lines for replies, each followed by the call's number).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PrintSpec {
    /// Requests.
    pub request: Option<PrintParts>,
    /// Replies.
    pub reply: Option<PrintParts>,
}

impl PrintSpec {
    /// Something is printed.
    pub fn any(&self) -> bool {
        self.request.is_some() || self.reply.is_some()
    }
}

/// Default for [`RunSpec::max_redirects`].
pub const DEFAULT_MAX_REDIRECTS: u32 = 10;

/// How a slot walks the URL list each round (LoadGen's predefined iterators).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IteratorKind {
    /// Walk the list from the first entry to the last.
    Default,
    /// Start at a random entry (from the slot's RNG), wrap around, each entry once.
    RandomStart,
    /// Like `Default`, and follow a 3xx reply's `Location` (same origin) before moving on.
    Follow,
    /// `RandomStart` and `Follow` together.
    RandomStartFollow,
}

impl IteratorKind {
    /// The names a run file may use, in the order of the variants.
    pub const NAMES: [&'static str; 4] =
        ["default", "random_start", "follow", "random_start_follow"];

    /// The iterator called `name`, if it is a built-in one.
    pub fn from_name(name: &str) -> Option<IteratorKind> {
        Some(match name {
            "default" => IteratorKind::Default,
            "random_start" => IteratorKind::RandomStart,
            "follow" => IteratorKind::Follow,
            "random_start_follow" => IteratorKind::RandomStartFollow,
            _ => return None,
        })
    }

    /// The iterator's name.
    pub fn name(self) -> &'static str {
        Self::NAMES[self as usize]
    }

    /// Starts each round at a random entry.
    pub fn random_start(self) -> bool {
        matches!(
            self,
            IteratorKind::RandomStart | IteratorKind::RandomStartFollow
        )
    }

    /// Follows redirects.
    pub fn follows(self) -> bool {
        matches!(self, IteratorKind::Follow | IteratorKind::RandomStartFollow)
    }
}

/// Format of the per-request log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Comma-separated values with a header line.
    Csv,
    /// One JSON object per line.
    Jsonl,
}

impl LogFormat {
    /// The format called `name` (`csv`, `jsonl`), as `--log-format` and a run file's
    /// `log_format` spell it.
    pub fn from_name(name: &str) -> Option<LogFormat> {
        match name {
            "csv" => Some(LogFormat::Csv),
            "jsonl" => Some(LogFormat::Jsonl),
            _ => None,
        }
    }
}

/// httperf's `--call-stats=N` (with `--call-stats-file=F`): what the "Call Statistics:"
/// table shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallStatsSpec {
    /// Calls kept: the first N started, over every worker.
    pub rows: u32,
    /// The time limit shown for each call (httperf's `--timeout`; `None`: 0).
    pub time_limit: Option<Duration>,
    /// Expected sizes in bytes by URI (`--call-stats-file`), for the request size and
    /// `% bytes recvd` columns; empty when no file was given.
    pub sizes: std::collections::BTreeMap<String, u64>,
}

/// Where and how the per-request log is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSpec {
    /// The joined log file; workers write `PATH.part-W` first.
    pub path: PathBuf,
    /// Record format.
    pub format: LogFormat,
}

/// Default cap on a reply head's size (status line, fields, empty line).
pub const DEFAULT_MAX_HEAD_BYTES: usize = 64 * 1024;
/// Default cap on the number of header fields in a reply head.
pub const DEFAULT_MAX_HEADERS: usize = 100;
/// Largest `--max-headers` accepted (the parser's field table lives on the stack).
pub const MAX_HEADERS_CAP: usize = 1000;
/// Default cap on the bytes of chunk extensions in one message (hyper's limit).
pub const DEFAULT_MAX_CHUNK_EXT_BYTES: usize = 16 * 1024;
/// Default cap on the bytes of a chunked message's trailer section.
pub const DEFAULT_MAX_TRAILER_BYTES: usize = 64 * 1024;

/// Caps volley keeps against hostile replies: memory per connection stays bounded
/// whatever the server sends. Bodies are never buffered, so they need no cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplyLimits {
    /// Largest reply head, in bytes.
    pub head_bytes: usize,
    /// Most header fields in one head.
    pub headers: usize,
    /// Most bytes of chunk extensions in one message.
    pub chunk_ext_bytes: usize,
    /// Most bytes of trailer fields in one message.
    pub trailer_bytes: usize,
}

impl Default for ReplyLimits {
    fn default() -> Self {
        ReplyLimits {
            head_bytes: DEFAULT_MAX_HEAD_BYTES,
            headers: DEFAULT_MAX_HEADERS,
            chunk_ext_bytes: DEFAULT_MAX_CHUNK_EXT_BYTES,
            trailer_bytes: DEFAULT_MAX_TRAILER_BYTES,
        }
    }
}

/// Hard deadlines of a request's phases on the monotonic clock (`None` = no deadline).
/// httperf's meaning: connect within `connect`; the request fully written within `send` of
/// being queued on the connection; the first byte within `first_byte` and the whole reply
/// within `reply` of the request being sent; at most `idle` between two reads. And
/// LoadGen's meaning, `inactivity`: once connected, at most that long with nothing sent or
/// received (each byte moves it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Timeouts {
    /// Connect deadline, from the start of the connect.
    pub connect: Option<Duration>,
    /// Send deadline, from the request being queued on a connected socket.
    pub send: Option<Duration>,
    /// First-byte deadline, from the request being sent.
    pub first_byte: Option<Duration>,
    /// Longest gap between two reads of one reply.
    pub idle: Option<Duration>,
    /// Longest time with nothing sent or received, from the connection being up (or the
    /// request being queued on a kept one) to the reply's end: an inactivity watchdog that
    /// every byte written or read resets (a run file's `idle_timeout`, LoadGen's `timeout`).
    pub inactivity: Option<Duration>,
    /// Whole-reply deadline, from the request being sent (`--timeout` + `--think-timeout`).
    pub reply: Option<Duration>,
}

/// The server requests are sent to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Host as written in the URL (used for the Host header).
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Address resolved before the run (the DNS cache).
    pub addr: SocketAddr,
    /// Path and query, starting with `/`.
    pub path: String,
    /// The address came from the run file's `dnscache` table (LoadGen's RC_DNSCACHED),
    /// not from the system resolver.
    pub dns_cached: bool,
    /// `https`: the connection speaks TLS (the host is the SNI name and the name the
    /// certificate must match).
    pub tls: bool,
}

impl Target {
    /// The scheme's default port: 443 for https, 80 for http.
    pub fn default_port(&self) -> u16 {
        if self.tls { 443 } else { 80 }
    }

    /// The value of the Host header: `host`, or `host:port` when the port is not the
    /// scheme's default.
    pub fn host_header(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        if self.port == self.default_port() {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }

    /// The URL in the form it was understood.
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}{}", self.host_header(), self.path)
    }
}

/// One entry of the URL list: a request and its parameters (LoadGen's `$rq`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestSpec {
    /// Method token (`GET`, `POST`, any RFC 9110 token).
    pub method: String,
    /// Where it goes.
    pub target: Target,
    /// Extra header fields, in order (repeats allowed).
    pub headers: Vec<(String, String)>,
    /// Request body (Content-Length is added when non-empty or the method is not GET/HEAD).
    pub body: Vec<u8>,
    /// Whether a kept connection may carry it, and whether its connection is kept after.
    pub keepalive: KeepAlive,
    /// Wait before the request (drawn after the entry is picked).
    pub pre: Delay,
    /// Wait after the request is done.
    pub post: Delay,
    /// Watchdog deadlines of this request.
    pub timeouts: Timeouts,
    /// The HTTP version of the request line.
    pub version: HttpVersion,
}

impl RequestSpec {
    /// Checks what volley cannot send as written: a method that is not a token, a path
    /// that is empty or holds spaces or control bytes, a host with spaces or control
    /// bytes, a header name that is not a token, a header value with control bytes
    /// ([`crate::values::check_field_value`]). Every request from the command line or a run
    /// file passed these checks when it was read; a request a hook makes or edits is
    /// checked with this before it is sent.
    ///
    /// # Errors
    ///
    /// What is wrong, naming the field (values shown as [`crate::redact`] shows them).
    pub fn check_sendable(&self) -> Result<(), String> {
        use crate::redact::shown;
        use crate::values::{check_field_value, is_token};
        let bad = |s: &str| s.bytes().any(|b| b <= b' ' || b == 0x7f);
        if !is_token(&self.method) {
            return Err(format!(
                "the method '{}' is not a token",
                shown(&self.method)
            ));
        }
        let path = &self.target.path;
        if path.is_empty() || bad(path) {
            return Err(format!(
                "the path '{}' is empty or holds spaces or control characters",
                shown(path)
            ));
        }
        if self.target.host.is_empty() || bad(&self.target.host) {
            return Err(format!(
                "the host '{}' is empty or holds spaces or control characters",
                shown(&self.target.host)
            ));
        }
        for (name, value) in &self.headers {
            if !is_token(name) {
                return Err(format!("'{}' is not a valid header name", shown(name)));
            }
            check_field_value(name, value)?;
        }
        Ok(())
    }
}

/// The version a request is sent with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HttpVersion {
    /// `HTTP/1.1`.
    #[default]
    Http11,
    /// `HTTP/1.0` (httperf's `--http-version=1.0`): sent with `Connection: keep-alive`,
    /// as httperf does; whether the connection persists is the reply's to say.
    Http10,
}

/// LoadGen's keep-alive flags: KEEPALIVE_USE and KEEPALIVE_STORE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeepAlive {
    /// Send on an idle kept connection to the same address, if there is one (a run
    /// file's: any of the worker's; a command line's: the slot's own).
    pub use_kept: bool,
    /// Keep the connection after the reply (when the server allows it); when false the
    /// request says `Connection: close`.
    pub store: bool,
}

impl KeepAlive {
    /// `use` + `store` (LoadGen's KEEPALIVE), volley's default.
    pub const BOTH: KeepAlive = KeepAlive {
        use_kept: true,
        store: true,
    };
    /// A new connection for every request, closed after it.
    pub const NONE: KeepAlive = KeepAlive {
        use_kept: false,
        store: false,
    };

    /// The mode called `name` in a run file (`use`, `store`, `both`, `none`).
    pub fn from_name(name: &str) -> Option<KeepAlive> {
        Some(match name {
            "both" => KeepAlive::BOTH,
            "none" => KeepAlive::NONE,
            "use" => KeepAlive {
                use_kept: true,
                store: false,
            },
            "store" => KeepAlive {
                use_kept: false,
                store: true,
            },
            _ => return None,
        })
    }

    /// LoadGen's numeric value `n`: KEEPALIVE_USE (1) plus KEEPALIVE_STORE (2), so 0 is
    /// `none` and 3 `both`; `None` for any other number.
    pub fn from_number(n: i64) -> Option<KeepAlive> {
        match n {
            0..=3 => Some(KeepAlive {
                use_kept: n & 1 != 0,
                store: n & 2 != 0,
            }),
            _ => None,
        }
    }
}

/// LoadGen's delay ± jitter: the wait is `delay - jitter + rand(2 * jitter)`, never
/// negative.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Delay {
    /// The mean wait.
    pub delay: Duration,
    /// Half the width of the uniform spread around it.
    pub jitter: Duration,
}

impl Delay {
    /// No wait at all (nothing is drawn from the RNG).
    pub fn is_zero(&self) -> bool {
        self.delay.is_zero() && self.jitter.is_zero()
    }
}

/// LoadGen's linear ramp-up: `start` slots at t0, the rest spread evenly over `duration`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RampUp {
    /// Slots started at once at the release.
    pub start: u32,
    /// Time over which the remaining slots start.
    pub duration: Duration,
}

/// What ends a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// Stop after this many requests in total, split exactly over the workers.
    Requests(u64),
    /// Stop after this long; requests in flight then are aborted.
    Duration(Duration),
    /// Stop after this many requests or this long, whichever comes first (`-n` and `-d`
    /// together).
    RequestsWithin(u64, Duration),
    /// No global limit: the run ends when every slot has done its rounds, or when it is
    /// stopped (SIGINT/SIGTERM).
    Rounds,
}

/// The `/metrics` endpoint (`--metrics-listen`, `--metrics-linger`,
/// `--metrics-listen-any`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricsSpec {
    /// The address to listen on (port 0: any free port, printed on stderr).
    pub listen: std::net::SocketAddr,
    /// How long to keep serving after the run when no scrape comes; the first scrape
    /// after the run ends the linger early.
    pub linger: Duration,
    /// The address is not a loopback one (allowed by `--metrics-listen-any`).
    pub reachable: bool,
}

/// How the results are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputSpec {
    /// JSON report on stdout instead of text.
    pub json: bool,
    /// Progress line on stderr once a second (only when stderr is a TTY).
    pub progress: bool,
    /// The text report keeps httperf's order (`volley httperf`): volley's summary comes
    /// after httperf's sections instead of before them.
    pub httperf_order: bool,
    /// The words the text report's httperf lines name connections and requests with.
    pub httperf_wording: Wording,
}

/// The words the text report's Total, connection and request lines use (`volley
/// httperf`). Only those lines: a session workload's own lines (`Session rate
/// [sess/s]`, …) are never renamed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Wording {
    /// Today's: `Total: connections … requests …`, `Connection rate`, `Request rate`.
    #[default]
    Current,
    /// httperf 0.8's, where sessions were TCP connections and calls requests (given
    /// `--num-sessions`): `Total: sessions … calls …`, `Session rate`, `Call rate`.
    Sessions,
}

/// Options of `volley top`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopSpec {
    /// Segment name; `None` = the only live run of this user.
    pub run_name: Option<String>,
    /// Refresh interval.
    pub interval: Duration,
    /// Stop after this many refreshes (`None` = until the run ends).
    pub count: Option<u64>,
    /// How long to wait for a named run that has not started yet.
    pub wait: Duration,
}

/// Options of `volley serve`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServeSpec {
    /// Where to listen (loopback unless `--listen-any` was given; port 0 = any free port).
    pub listen: std::net::SocketAddr,
    /// Server processes.
    pub workers: u32,
}

/// What `volley report` draws and where it writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportSpec {
    /// Result files (JSON schema 2), in the order given: one run, or several overlaid.
    pub inputs: Vec<std::path::PathBuf>,
    /// The HTML file to write; `None` = standard output (`-o -`).
    pub output: Option<std::path::PathBuf>,
}

impl RunSpec {
    /// Requests worker `w` must run under [`Limit::Requests`]: the total split exactly,
    /// the first `total % workers` workers taking one more.
    pub fn requests_for_worker(&self, w: u32) -> Option<u64> {
        match self.limit {
            Limit::Requests(n) | Limit::RequestsWithin(n, _) => {
                let workers = u64::from(self.workers);
                let w = u64::from(w);
                Some(n / workers + u64::from(w < n % workers))
            }
            Limit::Duration(_) | Limit::Rounds => None,
        }
    }

    /// The run's duration limit, if it has one.
    pub fn duration(&self) -> Option<Duration> {
        match self.limit {
            Limit::Duration(d) | Limit::RequestsWithin(_, d) => Some(d),
            _ => None,
        }
    }

    /// The run may open TLS connections: an https entry, or requests made during the run
    /// (redirects, custom iterators) that may go to one.
    pub fn may_use_tls(&self) -> bool {
        self.requests.iter().any(|r| r.target.tls)
            || self.iterator.follows()
            || self.custom_iterator.is_some()
    }

    /// What the report calls the target: the URL of a one-entry list, else the first URL
    /// and how many entries follow.
    pub fn target_label(&self) -> String {
        let first = self.requests[0].target.url();
        match self.requests.len() {
            1 => first,
            n => format!("{first} (+{} more in the URL list)", n - 1),
        }
    }

    /// Global slot numbers owned by worker `w` (`t % workers == w`).
    pub fn slots_of_worker(&self, w: u32) -> impl Iterator<Item = u32> + '_ {
        (w..self.concurrency).step_by(self.workers as usize)
    }
}
