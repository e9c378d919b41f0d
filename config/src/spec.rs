//! `RunSpec` and its parts: the validated, immutable description of one run. Plain data.

use std::net::SocketAddr;
use std::time::Duration;

/// Everything a run needs, validated. Built only by [`crate::resolve`]; never changed after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunSpec {
    /// Where requests go.
    pub target: Target,
    /// The request every slot sends.
    pub request: RequestSpec,
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
/// within `reply` of the request being sent; at most `idle` between two reads.
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
}

impl Target {
    /// The value of the Host header: `host` or `host:port` when the port is not 80.
    pub fn host_header(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        if self.port == 80 {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }

    /// The URL in the form it was understood.
    pub fn url(&self) -> String {
        format!("http://{}{}", self.host_header(), self.path)
    }
}

/// The request sent by every slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestSpec {
    /// Method token (`GET`, `POST`, any RFC 9110 token).
    pub method: String,
    /// Extra header fields, in order (repeats allowed).
    pub headers: Vec<(String, String)>,
    /// Request body (Content-Length is added when non-empty or the method is not GET/HEAD).
    pub body: Vec<u8>,
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
}

/// How the results are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputSpec {
    /// JSON report on stdout instead of text.
    pub json: bool,
    /// Progress line on stderr once a second (only when stderr is a TTY).
    pub progress: bool,
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
}

impl RunSpec {
    /// Requests worker `w` must run under [`Limit::Requests`]: the total split exactly,
    /// the first `total % workers` workers taking one more.
    pub fn requests_for_worker(&self, w: u32) -> Option<u64> {
        match self.limit {
            Limit::Requests(n) => {
                let workers = u64::from(self.workers);
                let w = u64::from(w);
                Some(n / workers + u64::from(w < n % workers))
            }
            Limit::Duration(_) => None,
        }
    }

    /// Global slot numbers owned by worker `w` (`t % workers == w`).
    pub fn slots_of_worker(&self, w: u32) -> impl Iterator<Item = u32> + '_ {
        (w..self.concurrency).step_by(self.workers as usize)
    }
}
