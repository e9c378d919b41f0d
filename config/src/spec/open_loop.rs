//! The open loop's part of a [`RunSpec`](super::RunSpec): arrivals on a schedule, the
//! sessions they start (httperf's `--wsess`/`--wsesslog`) and their rules.

/// An open-loop workload: arrivals of sessions on a schedule, each served by a free slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenLoop {
    /// When sessions arrive.
    pub arrival: Arrival,
    /// Wait for starts by polling without sleeping (`--spin`).
    pub spin: bool,
    /// Requests per session, one after the other on the slot that took the arrival
    /// (httperf's `--num-calls`).
    pub calls: u32,
    /// `(I, N)`: this process runs the I-th of N equal shares of the schedule (httperf's
    /// `--client I/N`): the arrivals `k` with `k mod N == I`. `(0, 1)`: all of it.
    pub client: (u32, u32),
    /// Session templates (httperf's `--wsess`/`--wsesslog`): arrival `k` runs template
    /// `k mod len`. Empty: a session is `calls` requests picked by the iterator.
    pub templates: Vec<SessionTemplate>,
    /// httperf sessions' bursts (`--wsesslog`'s indented lines, `--wsess`'s
    /// `--burst-length`): entry `e` goes out pipelined with the session's next `bursts[e]` calls
    /// (up to `pipeline` requests in all; spread over connections as
    /// [`SessionRules::conns`] says). Empty: `pipeline` alone decides.
    pub bursts: Vec<u32>,
    /// httperf's log order (`--wlog`): call `j` of arrival `k` takes the URL list's entry
    /// `(k * calls + j) mod len`, so the list is walked once in order over all workers
    /// and clients. `None`: the iterator picks.
    pub sequence: Option<Sequence>,
    /// httperf sessions (`--wsess`/`--wsesslog`): each has connections of its own, the
    /// report has session lines, and these rules apply. `None`: an arrival is a
    /// connection's worth of calls (`--rate` alone).
    pub sessions: Option<SessionRules>,
}

/// httperf's `--wlog` order over the URL list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sequence {
    /// At the end of the list start again (`--wlog=y,…`); else the run ends there.
    pub wrap: bool,
}

/// How httperf sessions treat their replies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SessionRules {
    /// A reply with this status fails its session (httperf's `--failure-status`); it
    /// still counts as a reply.
    pub failure_status: Option<u16>,
    /// A call whose reply has the failure status, or whose new connection fails before
    /// any reply, is made again at once instead of failing the session (httperf's
    /// `--retry-on-failure`), up to [`MAX_SESSION_RETRIES`] times per call.
    pub retry_on_failure: bool,
    /// Keep the last `Set-Cookie` of the session's replies and send it as `Cookie` on
    /// the session's next requests (httperf's `--session-cookies`: one cookie per
    /// session).
    pub cookies: bool,
    /// Bursts are spread over up to this many connections of a session (httperf's
    /// `--max-connections`), when a burst has more calls than one connection pipelines
    /// (`pipeline`; 1 over HTTP/1.0): its first call goes alone, then the others fill
    /// the session's first connection up to `pipeline` calls, then the next, and each
    /// connection whose calls ended takes the burst's next ones; the think time follows
    /// the burst. 0: bursts are pipelined on the session's one connection.
    pub conns: u32,
}

/// Most times one session call is made again under `--retry-on-failure` (httperf has no
/// limit, which makes a server that always fails a hang).
pub const MAX_SESSION_RETRIES: u32 = 100;

/// One kind of session: `calls` requests, the URL list's entries `first..first + len` in
/// turn (wrapping), the post-delay of each entry being the think time before the next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionTemplate {
    /// First entry of the URL list.
    pub first: u32,
    /// Entries it cycles through.
    pub len: u32,
    /// Requests in the session.
    pub calls: u32,
}

/// The inter-arrival process of an open-loop run (httperf's `--period`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arrival {
    /// A fixed period (`--rate R` is `d` with period 1/R).
    Deterministic {
        /// Inter-arrival time, ns.
        period_ns: u64,
    },
    /// Uniform inter-arrival times in `[lo, hi)`.
    Uniform {
        /// Shortest, ns.
        lo_ns: u64,
        /// Longest (exclusive), ns.
        hi_ns: u64,
    },
    /// Exponential inter-arrival times (a Poisson process).
    Exponential {
        /// Mean inter-arrival time, ns.
        mean_ns: u64,
    },
    /// No schedule: a session is due as soon as a slot takes it (httperf's rate 0:
    /// sessions one after another on each slot).
    Immediate,
    /// Piecewise fixed periods: `period` for `duration`, then the next step; after the
    /// last step the sequence starts again.
    Variable {
        /// `(period ns, duration ns)` steps.
        steps: Vec<(u64, u64)>,
    },
}

impl Arrival {
    /// Mean arrivals per second.
    pub fn mean_rate(&self) -> f64 {
        let per = |ns: u64| 1e9 / ns as f64;
        match self {
            Arrival::Deterministic { period_ns } => per(*period_ns),
            Arrival::Uniform { lo_ns, hi_ns } => per((lo_ns + hi_ns) / 2),
            Arrival::Exponential { mean_ns } => per(*mean_ns),
            Arrival::Immediate => 0.0,
            Arrival::Variable { steps } => {
                let (n, t) = steps.iter().fold((0.0, 0u64), |(n, t), &(p, d)| {
                    (n + d as f64 / p as f64, t + d)
                });
                n / (t as f64 / 1e9)
            }
        }
    }
}
