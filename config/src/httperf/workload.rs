//! httperf's options → the builder's inputs: the request and its URL list (`--uri`, a
//! `--wlog` URI log, `--wsess`/`--wsesslog` sessions), what ends the run, pipelining, and
//! httperf's other options in flag terms. The slots and workers follow from them in the
//! builder (`Source::Httperf`).

use std::time::Duration;

use super::logs::LogRequest;
use super::{Args, MAX_SESSION_CONNS, Schedule};
use crate::builder::{MAX_PIPELINE, SessionInputs, Source, SpecBuilder, TlsFlags, Watchdog};
use crate::error::ConfigError;
use crate::spec::{
    Arrival, CallStatsSpec, Delay, HttpVersion, KeepAlive, RequestSpec, Sequence, SessionTemplate,
    Wording,
};
use crate::values::ClientArg;

/// A session workload.
#[derive(Debug, Clone)]
pub(super) enum Sessions {
    /// `--wsess=N,C,T`: N sessions of C calls to `--uri`, T seconds apart.
    Uniform { n: u64, calls: u32, think: Duration },
    /// `--wsesslog=N,X,F`: N sessions cycling through the sessions of a log.
    Log { n: u64, log: Vec<Vec<LogRequest>> },
}

impl Sessions {
    /// `--wsess`'s `N,C,T`, if it is one.
    pub fn uniform(text: &str) -> Option<Sessions> {
        let parts: Vec<&str> = text.split(',').map(str::trim).collect();
        let [n, c, t] = parts.as_slice() else {
            return None;
        };
        let (n, calls, t): (u64, u32, f64) = (n.parse().ok()?, c.parse().ok()?, t.parse().ok()?);
        let ok = n > 0 && calls > 0 && t.is_finite() && (0.0..=1e6).contains(&t);
        ok.then(|| Sessions::Uniform {
            n,
            calls,
            think: Duration::from_secs_f64(t),
        })
    }

    /// The most calls one burst of a session has: `--burst-length` (`burst`) for
    /// `--wsess`, a log's longest run of a line and the indented lines under it.
    pub fn largest_burst(&self, burst: u32) -> u32 {
        match self {
            Sessions::Uniform { .. } => burst,
            Sessions::Log { log, .. } => {
                let mut largest = 1;
                for session in log {
                    let mut run = 0;
                    for r in session {
                        run = if r.burst_member { run + 1 } else { 1 };
                        largest = largest.max(run);
                    }
                }
                largest
            }
        }
    }

    /// The URL list, the session templates over it, the number of sessions, and the
    /// bursts (see [`crate::spec::OpenLoop::bursts`]; empty when there are none): a
    /// session log's, or `--wsess`'s `burst` calls (`--burst-length`), the think time
    /// after each burst.
    fn build(
        self,
        base: &RequestSpec,
        burst: u32,
    ) -> (Vec<RequestSpec>, Vec<SessionTemplate>, u64, Vec<u32>) {
        match self {
            Sessions::Uniform { n, calls, think } => {
                let mut r = base.clone();
                r.post = pause(think);
                let template = SessionTemplate {
                    first: 0,
                    len: 1,
                    calls,
                };
                // Every call of the one entry may start a burst of `burst` calls.
                let bursts = if burst > 1 {
                    vec![burst - 1]
                } else {
                    Vec::new()
                };
                (vec![r], vec![template], n, bursts)
            }
            Sessions::Log { n, log } => {
                let mut requests = Vec::new();
                let mut templates = Vec::new();
                let mut bursts: Vec<u32> = Vec::new();
                let mut leader = 0;
                for session in log {
                    let first = requests.len() as u32;
                    for lr in &session {
                        let mut r = base.clone();
                        r.target.path = lr.uri.clone();
                        r.method = lr.method.clone();
                        r.body = lr.body.clone();
                        r.post = pause(lr.think);
                        requests.push(r);
                        // A burst member is counted on its burst's first line.
                        if lr.burst_member {
                            bursts[leader] += 1;
                        } else {
                            leader = bursts.len();
                        }
                        bursts.push(0);
                    }
                    let len = session.len() as u32;
                    templates.push(SessionTemplate {
                        first,
                        len,
                        calls: len,
                    });
                }
                if !bursts.iter().any(|&b| b > 0) {
                    bursts.clear();
                }
                (requests, templates, n, bursts)
            }
        }
    }
}

/// A think time: a post-delay without jitter.
fn pause(think: Duration) -> Delay {
    Delay {
        delay: think,
        jitter: Duration::ZERO,
    }
}

/// What the options make of the URL list and the open loop.
struct Shape {
    requests: Vec<RequestSpec>,
    /// Arrivals (connections or sessions), or requests without a schedule.
    limit: u64,
    conn_requests: Option<u32>,
    calls: u32,
    pipeline: u32,
    sessions: SessionInputs,
}

/// The builder's inputs for `a`; `notes` gets what changed nothing.
///
/// # Errors
///
/// [`ConfigError::Invalid`] when the server does not resolve.
pub(super) fn inputs(mut a: Args, notes: &mut Vec<String>) -> Result<SpecBuilder, ConfigError> {
    let request = request(&mut a)?;
    // httperf 0.8's words for --num-sessions; a session workload keeps its own.
    let wording = if a.conns_name == Some("num-sessions") && a.sessions.is_none() {
        Wording::Sessions
    } else {
        Wording::Current
    };
    let shape = match a.sessions.take() {
        None => connections(&a, &request),
        Some(Sessions::Uniform { n, calls, think }) if a.wlog.is_some() => {
            // --wsess over a URI log: the log's URIs in order, think time after each.
            let mut shape = connections(&a, &request);
            for r in &mut shape.requests {
                r.post = pause(think);
            }
            shape.limit = n.min(log_cap(&a, calls));
            shape.conn_requests = None;
            shape.calls = calls;
            shape.sessions.rules = Some(a.rules);
            shape
        }
        Some(sessions) => sessions_shape(&a, sessions, &request, notes),
    };
    if a.client != ClientArg(0, 1) && client_seed(&a).is_none() {
        notes.push(
            "volley httperf: --client changes nothing here: as in httperf, every client runs \
             the whole --rate and --num-conns; the client number only varies a random \
             --period (e or u)"
                .into(),
        );
    }
    let mut b = fill(a, shape);
    b.flags.wording = wording;
    Ok(b)
}

/// httperf's `--client I/N` bias: a random `--period` (`e` or `u`) draws its inter-arrival
/// times from a sequence seeded with the client number, so that clients differ and a run
/// repeats its schedule for the same `--period` and `--client`. `None` where httperf's
/// client number changes nothing (a fixed rate or period; `--wset`, its other use, is
/// refused).
fn client_seed(a: &Args) -> Option<u64> {
    match &a.schedule {
        Some(Schedule::Period(p, _))
            if matches!(p.0, Arrival::Exponential { .. } | Arrival::Uniform { .. }) =>
        {
            // A fixed base with the client number mixed in, as httperf mixes it into the
            // seed of its inter-arrival generator.
            Some(0x9abc_5678_1234 ^ u64::from(a.client.0))
        }
        _ => None,
    }
}

/// `--wsess` or `--wsesslog` sessions: templates over the URL list, a log's bursts
/// pipelined.
fn sessions_shape(
    a: &Args,
    sessions: Sessions,
    request: &RequestSpec,
    notes: &mut Vec<String>,
) -> Shape {
    let largest = sessions.largest_burst(a.burst);
    let log = matches!(sessions, Sessions::Log { .. });
    let (requests, templates, n, bursts) = sessions.build(request, a.burst);
    // A connection of a session pipelines up to --max-piped-calls (32 by default, as in
    // httperf).
    let mut pipeline = a.burst.min(a.max_piped.unwrap_or(32)).min(MAX_PIPELINE);
    if log && !bursts.is_empty() {
        // The log's bursts are pipelined, up to --max-piped-calls.
        pipeline = a.max_piped.unwrap_or(32).min(MAX_PIPELINE);
        if a.burst > 1 {
            notes.push(
                "volley httperf: --burst-length changes nothing with a session log's bursts: \
                 the log's indented lines make the bursts"
                    .into(),
            );
        }
    }
    if a.http10 {
        // httperf does not pipeline HTTP/1.0 sessions (their connections close after each
        // reply).
        pipeline = 1;
    }
    let mut rules = a.rules;
    if !bursts.is_empty() && largest > pipeline {
        // A burst one connection's pipeline does not hold: as in httperf, its first
        // call goes alone, then the others fill the session's first connection up to
        // --max-piped-calls, then the next, up to --max-connections (4 by default).
        let needed = (largest - 1).div_ceil(pipeline.max(1)).max(1);
        rules.conns = a.max_conns.unwrap_or(MAX_SESSION_CONNS).min(needed);
    }
    Shape {
        requests,
        limit: n,
        conn_requests: None,
        calls: templates[0].calls,
        pipeline,
        sessions: SessionInputs {
            templates,
            bursts,
            sequence: None,
            rules: Some(rules),
        },
    }
}

/// The builder, its URL list and open loop from `shape`, httperf's other options in flag
/// terms.
fn fill(a: Args, shape: Shape) -> SpecBuilder {
    // Without a schedule or sessions, connections are made one after another: no open
    // loop, so no sessions' calls.
    let open = a.schedule.is_some() || shape.sessions.rules.is_some();
    // httperf's --client is not volley's share of one schedule: every client runs the
    // whole workload (see `client_seed`).
    let seed = client_seed(&a);
    let mut b = SpecBuilder::new(Source::Httperf, shape.requests);
    b.sessions = shape.sessions;
    let f = &mut b.flags;
    f.requests = Some(shape.limit);
    f.conn_requests = shape.conn_requests;
    f.pipeline = Some(shape.pipeline);
    match a.schedule {
        Some(Schedule::Rate(r)) => f.rate = Some(r),
        Some(Schedule::Period(p, _)) => f.period = Some(p),
        None => {}
    }
    if open {
        f.calls = Some(shape.calls);
    }
    f.seed = seed;
    f.workers = a.workers;
    f.json = a.json;
    f.metrics_listen = a.metrics_listen;
    f.metrics_linger = a.metrics_linger;
    f.metrics_listen_any = a.metrics_listen_any;
    // httperf prints no progress line.
    f.quiet = true;
    f.socket = a.socket;
    f.print = a.print;
    f.call_stats = a.call_stats.map(|rows| CallStatsSpec {
        rows,
        time_limit: a.timeout,
        sizes: a
            .call_stats_file
            .map(|(_, sizes)| sizes)
            .unwrap_or_default(),
    });
    f.tls = TlsFlags {
        cacert: a.cacert,
        insecure: a.insecure,
        cert: None,
        no_resume: a.ssl_no_reuse,
    };
    b
}

/// The request every call starts from: `--server`, `--port`, `--uri` (https with `--ssl`),
/// `--method`, `--add-header`, `--server-name`, `--http-version`, and the watchdog of
/// `--timeout` and `--think-timeout` (the reply within their sum of the request being
/// sent, as httperf waits; either alone is enough).
fn request(a: &mut Args) -> Result<RequestSpec, ConfigError> {
    let scheme = if a.ssl { "https" } else { "http" };
    let port = a.port();
    let url = format!("{scheme}://{}{}", host_port(&a.server, port), a.uri);
    let target = crate::target::parse_url(&url).map_err(|_| {
        ConfigError::invalid(
            "httperf",
            format!("--server={} --port={port}", a.server),
            format!("a server that resolves ({url})"),
        )
    })?;
    let watchdog = Watchdog {
        timeout: a.timeout,
        think: a.think,
        ..Watchdog::default()
    };
    let mut timeouts = watchdog.timeouts();
    if a.timeout.is_none() && !a.think.is_zero() {
        // httperf waits timeout + think-timeout for a reply, its timeout 0 when none is
        // given: the think-timeout alone bounds the reply (connect and send stay
        // unbounded, as in httperf).
        timeouts.first_byte = Some(a.think);
        timeouts.reply = Some(a.think);
    }
    let mut r = crate::builder::request(target, timeouts);
    r.method = a.method.clone();
    r.headers = std::mem::take(&mut a.headers);
    if let Some(name) = &a.server_name
        && !r
            .headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("host"))
    {
        // httperf's --server-name: the Host header's value (the connection still goes to
        // --server); a Host given with --add-header wins.
        r.headers.insert(0, ("Host".to_string(), name.clone()));
    }
    if a.http10 {
        r.version = HttpVersion::Http10;
        // An httperf session over HTTP/1.0 closes its connection after each reply.
        if a.sessions.is_some() {
            r.keepalive = KeepAlive::NONE;
        }
    }
    Ok(r)
}

/// Connections of `--num-calls` requests each: `--num-conns` of them on a schedule, else
/// `--num-conns` x `--num-calls` requests one connection after another. A `--wlog` log
/// gives one URL-list entry per URI, walked in order; without wrap-around the run ends at
/// its end.
fn connections(a: &Args, request: &RequestSpec) -> Shape {
    let (requests, sequence) = match &a.wlog {
        Some(w) => {
            let list = w.uris.iter().map(|u| {
                let mut r = request.clone();
                r.target.path = u.clone();
                r
            });
            (list.collect(), Some(Sequence { wrap: w.wrap }))
        }
        None => (vec![request.clone()], None),
    };
    let limit = if a.schedule.is_some() {
        a.num_conns.min(log_cap(a, a.num_calls))
    } else {
        let calls = a.num_conns.saturating_mul(u64::from(a.num_calls));
        match &a.wlog {
            Some(w) if !w.wrap => calls.min(w.uris.len() as u64),
            _ => calls,
        }
    };
    Shape {
        requests,
        limit,
        conn_requests: Some(a.num_calls),
        calls: a.num_calls,
        pipeline: a.burst.min(a.max_piped.unwrap_or(u32::MAX)),
        sessions: SessionInputs {
            sequence,
            ..SessionInputs::default()
        },
    }
}

/// Most arrivals of `calls` calls a `--wlog` log without wrap-around has calls for.
fn log_cap(a: &Args, calls: u32) -> u64 {
    match &a.wlog {
        Some(w) if !w.wrap => (w.uris.len() as u64).div_ceil(u64::from(calls)),
        _ => u64::MAX,
    }
}

/// `server:port`, an IPv6 address in brackets.
fn host_port(server: &str, port: u16) -> String {
    if server.contains(':') && !server.starts_with('[') {
        format!("[{server}]:{port}")
    } else {
        format!("{server}:{port}")
    }
}
