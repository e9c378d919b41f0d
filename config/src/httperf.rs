//! `volley httperf ARGS…`: httperf's command line, spellings and meanings, as a RunSpec.
//!
//! Options are `--name=value` or `--name value`, and any unique prefix of a name stands for
//! it (`--num-con`, `--ra`), as in httperf. What volley does with each:
//!
//! - `--server --port --uri --method --add-header --num-conns --num-calls --rate --period
//!   --timeout --think-timeout --client --http-version --wsess --wsesslog --wlog
//!   --burst-length --max-piped-calls --print-request --print-reply --failure-status
//!   --retry-on-failure --session-cookies --send-buffer --recv-buffer --workers`: as httperf
//!   means them (see [`help`] for where volley differs: socket buffer sizes only when
//!   given, a cap on retries);
//! - `--hog`, `--verbose`, `--max-connections` (volley opens one connection per session):
//!   accepted, with a note on stderr saying why they change nothing;
//! - `--ssl` and `--ssl-no-reuse`: https over rustls, certificates verified (volley's own
//!   `--cacert FILE` and `--insecure` are accepted too; httperf never verifies);
//! - `--server-name` (the Host header) and `--close-with-reset` (SO_LINGER 0);
//! - everything else httperf has (`--ssl-ciphers`, `--wset`, `--debug`, `--no-host-hdr`)
//!   is rejected with a message: volley never silently ignores an option.
//!
//! httperf's quirk is kept: without `--rate` (or with `--rate 0`) connections are made one
//! after another, each carrying `--num-calls` requests.

use std::time::Duration;

use crate::builder::{MAX_PIPELINE, SessionInputs, Source, SpecBuilder, TlsFlags, Watchdog};
use crate::error::ConfigError;
use crate::spec::{
    Arrival, Delay, HttpVersion, KeepAlive, PrintParts, PrintSpec, RequestSpec, RunSpec, Sequence,
    SessionRules, SocketOptions,
};
use crate::target::parse_url;
use crate::values::{ClientArg, HeaderArg, PeriodArg, RateArg, is_token};

/// How an httperf option is handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Takes a value.
    Value,
    /// A switch.
    Flag,
    /// A switch with an optional `=value` (written inline only, as getopt's optional
    /// arguments are).
    OptValue,
    /// httperf has it, volley accepts it and says why it changes nothing.
    Noop(&'static str),
    /// The same, taking a value.
    NoopValue(&'static str),
    /// httperf has it, volley cannot honour it (yet): rejected with this reason.
    Rejected(&'static str),
    /// Rejected, and it takes a value (so the value is not mistaken for the next option).
    RejectedValue(&'static str),
}

/// Every long option of httperf 0.9, plus volley's `--workers` and `--json`.
const OPTIONS: &[(&str, Kind)] = &[
    ("add-header", Kind::Value),
    ("burst-length", Kind::Value),
    ("cacert", Kind::Value),
    ("client", Kind::Value),
    ("close-with-reset", Kind::Flag),
    (
        "debug",
        Kind::RejectedValue("httperf's debug output has no volley equivalent"),
    ),
    ("failure-status", Kind::Value),
    ("help", Kind::Flag),
    (
        "hog",
        Kind::Noop("volley lets the kernel choose source ports; there is nothing to hog"),
    ),
    ("http-version", Kind::Value),
    ("insecure", Kind::Flag),
    ("json", Kind::Flag),
    (
        "max-connections",
        Kind::NoopValue("httperf uses it with --wsess/--wsesslog only"),
    ),
    ("max-piped-calls", Kind::Value),
    ("method", Kind::Value),
    (
        "no-host-hdr",
        Kind::Rejected("HTTP/1.1 requires Host: volley always sends one (see --server-name)"),
    ),
    ("num-calls", Kind::Value),
    ("num-conns", Kind::Value),
    ("period", Kind::Value),
    ("port", Kind::Value),
    ("print-reply", Kind::OptValue),
    ("print-request", Kind::OptValue),
    ("rate", Kind::Value),
    ("recv-buffer", Kind::Value),
    ("retry-on-failure", Kind::Flag),
    ("send-buffer", Kind::Value),
    ("server", Kind::Value),
    ("server-name", Kind::Value),
    ("session-cookies", Kind::Flag),
    ("ssl", Kind::Flag),
    (
        "ssl-ciphers",
        Kind::RejectedValue("cipher lists are OpenSSL's; volley uses rustls' safe default suites"),
    ),
    ("ssl-no-reuse", Kind::Flag),
    ("think-timeout", Kind::Value),
    ("timeout", Kind::Value),
    ("uri", Kind::Value),
    (
        "verbose",
        Kind::Noop("volley's report always has its full statistics"),
    ),
    ("version", Kind::Flag),
    ("wlog", Kind::Value),
    ("workers", Kind::Value),
    ("wsess", Kind::Value),
    ("wsesslog", Kind::Value),
    (
        "wset",
        Kind::RejectedValue("working sets (--wset) are not supported yet"),
    ),
];

/// What `volley httperf` prints before the report: httperf's echo of the options in effect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// The run.
    pub spec: RunSpec,
    /// httperf's first output line (`httperf --client=0/1 --server=… …`).
    pub echo: String,
    /// Notes for options accepted without effect.
    pub notes: Vec<String>,
}

/// The option `name` (full or an unambiguous prefix) stands for.
fn lookup(name: &str) -> Result<(&'static str, Kind), ConfigError> {
    if let Some(&(full, kind)) = OPTIONS.iter().find(|(n, _)| *n == name) {
        return Ok((full, kind));
    }
    let matches: Vec<&(&str, Kind)> = OPTIONS
        .iter()
        .filter(|(n, _)| n.starts_with(name))
        .collect();
    match matches.as_slice() {
        [(full, kind)] => Ok((full, *kind)),
        [] => Err(ConfigError::invalid(
            "httperf",
            format!("--{name}"),
            "an httperf option (see `volley httperf --help`)",
        )),
        many => Err(ConfigError::invalid(
            "httperf",
            format!("--{name}"),
            format!(
                "an unambiguous prefix; it could be {}",
                many.iter()
                    .map(|(n, _)| format!("--{n}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
    }
}

/// The options as given: `(full name, value)` in order.
fn split(args: &[String]) -> Result<Vec<(&'static str, Option<String>)>, ConfigError> {
    let mut out = Vec::new();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let body = match arg.as_str() {
            "-v" => "verbose",
            "-h" => "help",
            "-V" => "version",
            "-d" => "debug",
            a => a.strip_prefix("--").ok_or_else(|| {
                ConfigError::invalid("httperf", a, "options of the form --name[=value]")
            })?,
        };
        let (name, inline) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (body, None),
        };
        let (full, kind) = lookup(name)?;
        let takes_value = matches!(
            kind,
            Kind::Value | Kind::RejectedValue(_) | Kind::NoopValue(_)
        );
        let value = match (takes_value || kind == Kind::OptValue, inline) {
            (true, Some(v)) => Some(v),
            (true, None) if kind == Kind::OptValue => None,
            (true, None) => Some(it.next().cloned().ok_or_else(|| {
                ConfigError::invalid("httperf", format!("--{full}"), "a value after it")
            })?),
            (false, Some(v)) => {
                return Err(ConfigError::invalid(
                    "httperf",
                    format!("--{full}={v}"),
                    format!("--{full} without a value"),
                ));
            }
            (false, None) => None,
        };
        match kind {
            Kind::Rejected(why) | Kind::RejectedValue(why) => {
                return Err(ConfigError::invalid(
                    "httperf",
                    format!("--{full}"),
                    format!("an option volley can honour: {why}"),
                ));
            }
            _ => out.push((full, value)),
        }
    }
    Ok(out)
}

/// The usage text of `volley httperf --help`.
pub fn help() -> String {
    let mut s = String::from(
        "volley httperf: httperf's command line on volley's engine.\n\n\
         usage: volley httperf [--server S] [--port N] [--uri S] [--method S] [--add-header S]\n\
         \x20      [--num-conns N] [--num-calls N] [--rate X | --period [d|u|e|v]T1[,T2...]]\n\
         \x20      [--timeout X] [--think-timeout X] [--client I/N] [--http-version 1.0|1.1]\n\
         \x20      [--wsess N,C,T | --wsesslog N,X,FILE] [--wlog y|n,FILE] [--burst-length N]\n\
         \x20      [--max-piped-calls N] [--print-request[=header|body]]\n\
         \x20      [--print-reply[=header|body]] [--failure-status N] [--retry-on-failure]\n\
         \x20      [--session-cookies] [--send-buffer N] [--recv-buffer N]\n\
         \x20      [--ssl [--ssl-no-reuse] [--cacert FILE] [--insecure]] [--workers N] [--json]\n\n\
         Options may be abbreviated to any unique prefix. As in httperf, without --rate (or\n\
         with --rate 0) connections are made one after another, each carrying --num-calls\n\
         requests; with --rate they are started on that schedule (open loop), at most\n\
         rate x (timeout + think-timeout) at once (10 s when there is no --timeout).\n\n\
         Where volley differs from httperf:\n\
         \x20 --send-buffer/--recv-buffer: set only when given (httperf always sets 4096 and\n\
         \x20   16384); otherwise the kernel's sizes.\n\
         \x20 --retry-on-failure: at most 100 retries of one call (httperf has no limit).\n\
         \x20 --print-request/--print-reply: one worker unless --workers is given; call\n\
         \x20   numbers are unique over workers. The value needs '=' (--print-reply=header).\n\
         \x20 --wlog: whitespace around a URI is ignored; a URI must start with '/'.\n\
         \x20 --ssl: the server's certificate is verified (httperf never checks it): trust a\n\
         \x20   private CA with --cacert FILE, or skip the check with --insecure.\n\n\
         Accepted without effect (a note says why):\n",
    );
    for (n, k) in OPTIONS {
        if let Kind::Noop(why) | Kind::NoopValue(why) = k {
            s.push_str(&format!("  --{n}: {why}\n"));
        }
    }
    s.push_str("Rejected (volley cannot honour them yet):\n");
    for (n, k) in OPTIONS {
        if let Kind::Rejected(why) | Kind::RejectedValue(why) = k {
            s.push_str(&format!("  --{n}: {why}\n"));
        }
    }
    s
}

/// A session workload.
#[derive(Debug, Clone)]
enum Sessions {
    /// `--wsess=N,C,T`: N sessions of C calls to `--uri`, T seconds apart.
    Uniform { n: u64, calls: u32, think: Duration },
    /// `--wsesslog=N,X,F`: N sessions cycling through the sessions of a log.
    Log { n: u64, log: Vec<Vec<LogRequest>> },
}

impl Sessions {
    /// The URL list, the session templates over it, the number of sessions, and the
    /// bursts of a session log (see [`OpenLoop::bursts`]; empty when it has none).
    fn build(
        self,
        base: &RequestSpec,
    ) -> (
        Vec<RequestSpec>,
        Vec<crate::spec::SessionTemplate>,
        u64,
        Vec<u32>,
    ) {
        use crate::spec::SessionTemplate;
        match self {
            Sessions::Uniform { n, calls, think } => {
                let mut r = base.clone();
                r.post = Delay {
                    delay: think,
                    jitter: Duration::ZERO,
                };
                (
                    vec![r],
                    vec![SessionTemplate {
                        first: 0,
                        len: 1,
                        calls,
                    }],
                    n,
                    Vec::new(),
                )
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
                        r.post = Delay {
                            delay: lr.think,
                            jitter: Duration::ZERO,
                        };
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
                let any = bursts.iter().any(|&b| b > 0);
                (
                    requests,
                    templates,
                    n,
                    if any { bursts } else { Vec::new() },
                )
            }
        }
    }
}

/// One request of a session log.
#[derive(Debug, Clone, PartialEq)]
pub struct LogRequest {
    /// Path and query.
    pub uri: String,
    /// Method (`method=`, default GET).
    pub method: String,
    /// Body (`contents=`).
    pub body: Vec<u8>,
    /// Think time after it: the burst's `think=` (or the default) on a burst's last
    /// request, zero inside a burst.
    pub think: Duration,
    /// An indented line: part of the burst of the line above.
    pub burst_member: bool,
}

/// Parses an httperf session log: sessions separated by blank lines; a line is
/// `URI [method=M] [contents=STRING] [think=X]` (STRING may be quoted with ' or "); an
/// indented line belongs to the burst of the line above; `#` starts a comment line. The
/// think time follows a burst (its first line's `think=`, else `default_think`).
///
/// # Errors
///
/// `(line, message)` for a malformed line or an empty log.
pub fn parse_wsesslog(
    text: &str,
    default_think: Duration,
) -> Result<Vec<Vec<LogRequest>>, (usize, String)> {
    let mut sessions: Vec<Vec<LogRequest>> = vec![Vec::new()];
    let mut burst_think = default_think;
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        if raw.trim_start().starts_with('#') {
            continue;
        }
        if raw.trim().is_empty() {
            if !sessions.last().expect("never empty").is_empty() {
                sessions.push(Vec::new());
            }
            continue;
        }
        let member = raw.starts_with([' ', '\t']);
        let mut rest = raw.trim();
        let uri_end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let uri = &rest[..uri_end];
        if !uri.starts_with('/') {
            return Err((line_no, format!("'{uri}' is not a URI starting with '/'")));
        }
        rest = rest[uri_end..].trim_start();
        let mut req = LogRequest {
            uri: uri.to_string(),
            method: "GET".into(),
            body: Vec::new(),
            think: Duration::ZERO,
            burst_member: member,
        };
        let mut think = None;
        while !rest.is_empty() {
            let (key, after) = rest
                .split_once('=')
                .ok_or_else(|| (line_no, format!("expected key=value, found '{rest}'")))?;
            let (value, next) = match after.chars().next() {
                Some(q @ ('\'' | '"')) => {
                    let close = after[1..]
                        .find(q)
                        .ok_or_else(|| (line_no, format!("unterminated {q}-quoted value")))?;
                    (&after[1..1 + close], &after[close + 2..])
                }
                _ => {
                    let end = after.find(char::is_whitespace).unwrap_or(after.len());
                    (&after[..end], &after[end..])
                }
            };
            match key.trim() {
                "method" if is_token(value) => req.method = value.to_string(),
                "method" => return Err((line_no, format!("'{value}' is not a method token"))),
                "contents" => req.body = value.replace("\\n", "\n").into_bytes(),
                "think" => {
                    let t: f64 = value
                        .parse()
                        .ok()
                        .filter(|t: &f64| t.is_finite() && *t >= 0.0)
                        .ok_or_else(|| {
                            (line_no, format!("think={value}: not a number of seconds"))
                        })?;
                    think = Some(Duration::from_secs_f64(t));
                }
                other => {
                    return Err((
                        line_no,
                        format!("unknown attribute '{other}' (method, contents, think)"),
                    ));
                }
            }
            rest = next.trim_start();
        }
        let session = sessions.last_mut().expect("never empty");
        if member {
            if session.is_empty() {
                return Err((
                    line_no,
                    "an indented line must follow a burst's first line".into(),
                ));
            }
        } else {
            burst_think = think.unwrap_or(default_think);
        }
        // The think time follows the burst: move it to the burst's newest request.
        if let Some(last) = session.last_mut()
            && member
        {
            last.think = Duration::ZERO;
        }
        req.think = burst_think;
        session.push(req);
    }
    sessions.retain(|s| !s.is_empty());
    if sessions.is_empty() {
        return Err((1, "the session log has no requests".into()));
    }
    Ok(sessions)
}

/// Parses httperf's arguments (after `volley httperf`).
///
/// # Errors
///
/// [`ConfigError::Invalid`] naming the option for an unknown, ambiguous or rejected option
/// or a bad value.
pub(crate) fn parse(args: &[String]) -> Result<(SpecBuilder, String, Vec<String>), ConfigError> {
    let mut server = "localhost".to_string();
    let mut port: Option<u16> = None;
    let mut uri = "/".to_string();
    let mut method = "GET".to_string();
    let mut headers: Vec<(String, String)> = Vec::new();
    let mut num_conns: u64 = 1;
    let mut num_calls: u32 = 1;
    let mut arrival: Option<Arrival> = None;
    let mut period_text: Option<String> = None;
    let mut timeout: Option<Duration> = None;
    let mut think = Duration::ZERO;
    let mut client = (0u32, 1u32);
    let mut workers: Option<u32> = None;
    let mut json = false;
    let mut notes = Vec::new();
    let mut sessions: Option<Sessions> = None;
    let mut burst: u32 = 1;
    let mut max_piped: Option<u32> = None;
    let mut print = PrintSpec::default();
    let mut socket = SocketOptions::default();
    let mut http10 = false;
    let mut rules = SessionRules::default();
    let mut wlog: Option<(bool, Vec<String>, String)> = None;
    let mut ssl = false;
    let mut server_name: Option<String> = None;
    let mut tls = crate::spec::TlsSpec::default();
    let bad = |opt: &str, v: &str, allowed: &str| {
        ConfigError::invalid("httperf", format!("--{opt}={v}"), allowed.to_string())
    };
    let secs = |opt: &str, v: &str| -> Result<Duration, ConfigError> {
        match v.trim().parse::<f64>() {
            Ok(x) if x.is_finite() && (0.0..=1e6).contains(&x) => Ok(Duration::from_secs_f64(x)),
            _ => Err(bad(opt, v, "a number of seconds")),
        }
    };
    for (name, value) in split(args)? {
        let given = value.is_some();
        let v = value.unwrap_or_default();
        match name {
            "server" => {
                // httperf takes a host name or address. User info ('user:pw@host') is no
                // part of it, and its password must not be echoed in the refusal.
                if v.contains('@') {
                    return Err(bad(
                        name,
                        &crate::redact::mask_authority(&v),
                        "a host name or address; user info is not supported",
                    ));
                }
                server = v;
            }
            "port" => {
                port = Some(
                    v.parse()
                        .ok()
                        .filter(|&p| p > 0)
                        .ok_or_else(|| bad(name, &v, "a port number 1-65535"))?,
                )
            }
            "uri" => {
                if !v.starts_with('/') || v.bytes().any(|b| b <= b' ' || b == 0x7f) {
                    return Err(bad(name, &v, "a path starting with '/' without spaces"));
                }
                uri = v;
            }
            "method" => {
                if !is_token(&v) {
                    return Err(bad(name, &v, "an HTTP method token"));
                }
                method = v;
            }
            "add-header" => {
                // httperf takes "Name: value\n" (several, separated by \n, with C escapes).
                for line in v.replace("\\n", "\n").replace("\\r", "").split('\n') {
                    let line = line.trim_end_matches('\r');
                    if line.trim().is_empty() {
                        continue;
                    }
                    let h: HeaderArg = line.parse().map_err(|e: String| bad(name, &v, &e))?;
                    headers.push((h.name, h.value));
                }
            }
            "num-conns" => {
                num_conns = v
                    .parse()
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or_else(|| bad(name, &v, "a positive count"))?;
            }
            "num-calls" => {
                num_calls = v
                    .parse()
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or_else(|| bad(name, &v, "a positive count"))?;
            }
            "rate" => {
                let r: f64 = v
                    .trim()
                    .parse()
                    .map_err(|_| bad(name, &v, "a rate in connections per second"))?;
                arrival = if r == 0.0 {
                    None
                } else {
                    Some(
                        v.parse::<RateArg>()
                            .map_err(|e| bad(name, &v, &e))?
                            .arrival(),
                    )
                };
                period_text = None;
            }
            "period" => {
                let p: PeriodArg = v.parse().map_err(|e: String| bad(name, &v, &e))?;
                arrival = Some(p.0);
                period_text = Some(v);
            }
            "timeout" => timeout = Some(secs(name, &v)?).filter(|d| !d.is_zero()),
            "think-timeout" => think = secs(name, &v)?,
            "client" => {
                let parsed = v
                    .split_once('/')
                    .and_then(|(i, n)| Some((i.trim().parse().ok()?, n.trim().parse().ok()?)));
                client = match parsed {
                    Some((i, n)) if n >= 1 && i < n => (i, n),
                    _ => return Err(bad(name, &v, "I/N with 0 <= I < N")),
                };
            }
            "http-version" => match v.trim() {
                "1.1" => http10 = false,
                "1.0" => http10 = true,
                _ => return Err(bad(name, &v, "1.0 or 1.1")),
            },
            "print-request" | "print-reply" => {
                let parts = match v.chars().next().filter(|_| given) {
                    Some('h' | 'H') => PrintParts::Header,
                    Some('b' | 'B') => PrintParts::Body,
                    _ => PrintParts::Both,
                };
                if name == "print-request" {
                    print.request = Some(parts);
                } else {
                    print.reply = Some(parts);
                }
            }
            "send-buffer" | "recv-buffer" => {
                let n = v
                    .trim()
                    .parse::<u32>()
                    .ok()
                    .filter(|n| (1..=MAX_SOCKET_BUFFER).contains(n))
                    .ok_or_else(|| bad(name, &v, "a size in bytes from 1 to 1073741824"))?;
                if name == "send-buffer" {
                    socket.send_buffer = Some(n);
                } else {
                    socket.recv_buffer = Some(n);
                }
            }
            "failure-status" => {
                rules.failure_status = Some(
                    v.trim()
                        .parse()
                        .ok()
                        .filter(|s| (100..=999).contains(s))
                        .ok_or_else(|| bad(name, &v, "a status code from 100 to 999"))?,
                );
            }
            "retry-on-failure" => rules.retry_on_failure = true,
            "ssl" => ssl = true,
            "close-with-reset" => socket.reset_on_close = true,
            "server-name" => {
                if v.is_empty() || v.bytes().any(|b| b <= b' ' || b == 0x7f) {
                    return Err(bad(name, &v, "a host name for the Host header"));
                }
                server_name = Some(v);
            }
            "cacert" => tls.cacert.push(v.into()),
            "insecure" => tls.insecure = true,
            "ssl-no-reuse" => tls.resume = false,
            "session-cookies" => rules.cookies = true,
            "wlog" => {
                let (wrap, file) = match v.split_once(',') {
                    Some((b, f)) if !f.is_empty() => {
                        (b.trim().starts_with(['y', 'Y']), f.to_string())
                    }
                    _ => return Err(bad(name, &v, "B,FILE: y or n (wrap around), URI file")),
                };
                let bytes = crate::files::read_capped(
                    std::path::Path::new(&file),
                    crate::files::MAX_LOG_BYTES,
                    crate::files::URI_LOG,
                )
                .map_err(|source| ConfigError::File {
                    flag: "--wlog",
                    path: file.clone(),
                    source,
                })?;
                let uris = parse_wlog(&bytes)
                    .map_err(|message| ConfigError::run_file(file.clone(), 1, 1, &message))?;
                wlog = Some((wrap, uris, v.clone()));
            }
            "workers" => {
                workers = Some(
                    v.parse()
                        .ok()
                        .filter(|&n| n > 0)
                        .ok_or_else(|| bad(name, &v, "a positive count"))?,
                );
            }
            "json" => json = true,
            "burst-length" => {
                burst = v
                    .parse()
                    .ok()
                    .filter(|&n| (1..=MAX_PIPELINE).contains(&n))
                    .ok_or_else(|| bad(name, &v, "a count from 1 to 1000"))?;
            }
            "max-piped-calls" => {
                max_piped = Some(
                    v.parse()
                        .ok()
                        .filter(|&n| n > 0)
                        .ok_or_else(|| bad(name, &v, "a positive count"))?,
                );
            }
            "wsess" => {
                let parts: Vec<&str> = v.split(',').map(str::trim).collect();
                let parsed = match parts.as_slice() {
                    [n, c, t] => {
                        (|| Some((n.parse().ok()?, c.parse().ok()?, t.parse::<f64>().ok()?)))()
                    }
                    _ => None,
                };
                let Some((n, c, t)) = parsed.filter(|&(n, c, t): &(u64, u32, f64)| {
                    n > 0 && c > 0 && t.is_finite() && (0.0..=1e6).contains(&t)
                }) else {
                    return Err(bad(
                        name,
                        &v,
                        "N,C,T: sessions, calls per session, think time in seconds",
                    ));
                };
                sessions = Some(Sessions::Uniform {
                    n,
                    calls: c,
                    think: Duration::from_secs_f64(t),
                });
            }
            "wsesslog" => {
                let mut parts = v.splitn(3, ',');
                let (n, x, file) = (parts.next(), parts.next(), parts.next());
                let parsed = (|| {
                    Some((
                        n?.trim().parse::<u64>().ok()?,
                        x?.trim().parse::<f64>().ok()?,
                        file?,
                    ))
                })();
                let Some((n, x, file)) = parsed
                    .filter(|(n, x, f)| *n > 0 && x.is_finite() && *x >= 0.0 && !f.is_empty())
                else {
                    return Err(bad(
                        name,
                        &v,
                        "N,X,FILE: sessions, default think time in seconds, session log",
                    ));
                };
                let text = crate::files::read_capped(
                    std::path::Path::new(file),
                    crate::files::MAX_LOG_BYTES,
                    crate::files::SESSION_LOG,
                )
                .and_then(|bytes| {
                    String::from_utf8(bytes).map_err(|_| {
                        std::io::Error::new(std::io::ErrorKind::InvalidData, "it is not UTF-8 text")
                    })
                })
                .map_err(|source| ConfigError::File {
                    flag: "--wsesslog",
                    path: file.to_string(),
                    source,
                })?;
                let log = parse_wsesslog(&text, Duration::from_secs_f64(x))
                    .map_err(|(line, message)| ConfigError::run_file(file, line, 1, &message))?;
                sessions = Some(Sessions::Log { n, log });
            }
            "help" => return Err(ConfigError::Help(help())),
            "version" => {
                return Err(ConfigError::Help(format!(
                    "volley {} (httperf command line)\n",
                    env!("CARGO_PKG_VERSION")
                )));
            }
            other => {
                if let Ok((_, Kind::Noop(why) | Kind::NoopValue(why))) = lookup(other) {
                    notes.push(format!("volley httperf: --{other} changes nothing: {why}"));
                }
            }
        }
    }
    if rules.cookies && sessions.is_none() {
        return Err(ConfigError::invalid(
            "httperf",
            "--session-cookies",
            "a session workload (--wsess or --wsesslog), as in httperf",
        ));
    }
    if sessions.is_none() {
        for (given, opt) in [
            (rules.failure_status.is_some(), "--failure-status"),
            (rules.retry_on_failure, "--retry-on-failure"),
        ] {
            if given {
                notes.push(format!(
                    "volley httperf: {opt} changes nothing without a session workload \
                     (--wsess or --wsesslog), as in httperf"
                ));
            }
        }
    }
    if wlog.is_some() && matches!(sessions, Some(Sessions::Log { .. })) {
        return Err(ConfigError::invalid(
            "httperf",
            "--wlog",
            "no --wsesslog with it (a session log gives its own URIs; httperf would \
             ignore --wlog)",
        ));
    }
    if print.any() && json {
        return Err(ConfigError::invalid(
            "httperf",
            "--print-request/--print-reply",
            "no --json with them (both write to stdout)",
        ));
    }
    if !tls.resume && !ssl {
        notes.push("volley httperf: --ssl-no-reuse changes nothing without --ssl".into());
    }
    let scheme = if ssl { "https" } else { "http" };
    // httperf's default port is 80, or 443 with --ssl.
    let port = port.unwrap_or(if ssl { 443 } else { 80 });
    let url = format!("{scheme}://{}{uri}", host_port(&server, port));
    let target = parse_url(&url).map_err(|_| {
        ConfigError::invalid(
            "httperf",
            format!("--server={server} --port={port}"),
            format!("a server that resolves ({url})"),
        )
    })?;
    // In httperf's order (its --send-buffer/--recv-buffer are printed only when given:
    // volley leaves the kernel's sizes alone otherwise).
    let echo = {
        let mut e = String::from("httperf");
        let parts = |p: PrintParts| match p {
            PrintParts::Header => "=header",
            PrintParts::Body => "=body",
            PrintParts::Both => "",
        };
        if let Some(p) = print.reply {
            e.push_str(&format!(" --print-reply{}", parts(p)));
        }
        if let Some(p) = print.request {
            e.push_str(&format!(" --print-request{}", parts(p)));
        }
        if let Some(t) = timeout {
            e.push_str(&format!(" --timeout={}", t.as_secs_f64()));
        }
        if !think.is_zero() {
            e.push_str(&format!(" --think-timeout={}", think.as_secs_f64()));
        }
        e.push_str(&format!(
            " --client={}/{} --server={server} --port={port} --uri={uri}",
            client.0, client.1
        ));
        if let Some(n) = &server_name {
            e.push_str(&format!(" --server-name={n}"));
        }
        if http10 {
            e.push_str(" --http-version=1.0");
        }
        if let Some(a) = &arrival {
            match &period_text {
                Some(p) => e.push_str(&format!(" --period={p}")),
                None => e.push_str(&format!(" --rate={}", a.mean_rate())),
            }
        }
        if let Some(n) = socket.send_buffer {
            e.push_str(&format!(" --send-buffer={n}"));
        }
        if let Some(n) = socket.recv_buffer {
            e.push_str(&format!(" --recv-buffer={n}"));
        }
        if socket.reset_on_close {
            e.push_str(" --close-with-reset");
        }
        if ssl {
            e.push_str(" --ssl");
            if !tls.resume {
                e.push_str(" --ssl-no-reuse");
            }
        }
        if rules.retry_on_failure {
            e.push_str(" --retry-on-failure");
        }
        if let Some(st) = rules.failure_status {
            e.push_str(&format!(" --failure-status={st}"));
        }
        if rules.cookies {
            e.push_str(" --session-cookies");
        }
        e.push_str(&format!(" --num-conns={num_conns} --num-calls={num_calls}"));
        if let Some((_, _, text)) = &wlog {
            e.push_str(&format!(" --wlog={text}"));
        }
        e
    };
    let mut request = crate::builder::request(
        target,
        Watchdog {
            timeout,
            think,
            ..Watchdog::default()
        }
        .timeouts(),
    );
    request.method = method;
    if let Some(name) = &server_name
        && !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("host"))
    {
        // httperf's --server-name: the Host header's value (the connection still goes to
        // --server); a Host given with --add-header wins.
        headers.insert(0, ("Host".to_string(), name.clone()));
    }
    request.headers = headers;
    if http10 {
        request.version = HttpVersion::Http10;
        // An httperf session over HTTP/1.0 closes its connection after each reply.
        if sessions.is_some() {
            request.keepalive = KeepAlive::NONE;
        }
    }
    // A URI log: one list entry per URI, walked in order.
    let (base, sequence, log_len) = match &wlog {
        Some((wrap, uris, _)) => {
            let list: Vec<RequestSpec> = uris
                .iter()
                .map(|u| {
                    let mut r = request.clone();
                    r.target.path = u.clone();
                    r
                })
                .collect();
            (list, Some(Sequence { wrap: *wrap }), uris.len() as u64)
        }
        None => (vec![request.clone()], None, 0),
    };
    // Without wrap-around, the run ends at the end of the log: no more arrivals than
    // it has calls for.
    let log_cap = |calls: u32| match sequence {
        Some(Sequence { wrap: false }) => log_len.div_ceil(u64::from(calls)),
        _ => u64::MAX,
    };
    let mut pipeline = burst.min(max_piped.unwrap_or(u32::MAX));
    let open = arrival.is_some() || sessions.is_some();
    let (requests, limit, conn_requests, calls, shape) = match sessions {
        None => {
            let limit = if arrival.is_some() {
                num_conns.min(log_cap(num_calls))
            } else {
                let calls = num_conns.saturating_mul(u64::from(num_calls));
                match sequence {
                    Some(Sequence { wrap: false }) => calls.min(log_len),
                    _ => calls,
                }
            };
            let shape = SessionInputs {
                sequence,
                ..SessionInputs::default()
            };
            (base, limit, Some(num_calls), num_calls, shape)
        }
        Some(Sessions::Uniform { n, calls, think }) if sequence.is_some() => {
            // --wsess over a URI log: the log's URIs in order, think time after each.
            let requests = base
                .into_iter()
                .map(|mut r| {
                    r.post = Delay {
                        delay: think,
                        jitter: Duration::ZERO,
                    };
                    r
                })
                .collect();
            let shape = SessionInputs {
                sequence,
                rules: Some(rules),
                ..SessionInputs::default()
            };
            (requests, n.min(log_cap(calls)), None, calls, shape)
        }
        Some(sessions) => {
            let (requests, templates, n, mut bursts) = sessions.build(&request);
            if http10 {
                // httperf does not pipeline HTTP/1.0 sessions (their connections close
                // after each reply).
                bursts.clear();
                pipeline = 1;
            }
            if !bursts.is_empty() {
                // The log's bursts are pipelined, up to httperf's --max-piped-calls
                // (32 by default for sessions).
                pipeline = max_piped.unwrap_or(32).min(MAX_PIPELINE);
                if burst > 1 {
                    notes.push(
                        "volley httperf: --burst-length changes nothing with a session log's \
                         bursts: the log's indented lines make the bursts"
                            .into(),
                    );
                }
            }
            let calls = templates[0].calls;
            let shape = SessionInputs {
                templates,
                bursts,
                sequence: None,
                rules: Some(rules),
            };
            (requests, n, None, calls, shape)
        }
    };
    let mut b = SpecBuilder::new(Source::Httperf, requests);
    b.flags.workers = workers;
    b.flags.requests = Some(limit);
    // A connection, session or arrival schedule (or none: one connection after another).
    b.flags.period = arrival.map(PeriodArg);
    if open {
        b.flags.calls = Some(calls);
        b.flags.client = Some(ClientArg(client.0, client.1));
    }
    b.flags.pipeline = Some(pipeline);
    b.flags.conn_requests = conn_requests;
    b.flags.json = json;
    // httperf prints no progress line.
    b.flags.quiet = true;
    b.flags.socket = socket;
    b.flags.print = print;
    b.flags.tls = TlsFlags {
        cacert: tls.cacert,
        insecure: tls.insecure,
        cert: None,
        no_resume: !tls.resume,
    };
    b.sessions = shape;
    Ok((b, echo, notes))
}

/// Largest `--send-buffer`/`--recv-buffer` accepted (1 GiB).
pub const MAX_SOCKET_BUFFER: u32 = 1 << 30;

/// Parses an httperf URI log (`--wlog`): URIs separated by NUL bytes. Whitespace around
/// an entry is dropped (so a log made with `tr '\n' '\0'` works) and empty entries are
/// skipped, as httperf skips them.
///
/// # Errors
///
/// A message naming the entry for a URI that does not start with `/` or holds a space
/// or control byte, or for a log without URIs.
pub fn parse_wlog(bytes: &[u8]) -> Result<Vec<String>, String> {
    if bytes.is_empty() {
        return Err("the URI log is empty".into());
    }
    let mut uris = Vec::new();
    for (i, raw) in bytes.split(|&b| b == 0).enumerate() {
        let entry = raw.trim_ascii();
        if entry.is_empty() {
            continue;
        }
        let shown = String::from_utf8_lossy(&entry[..entry.len().min(60)]).into_owned();
        if entry[0] != b'/' || entry.iter().any(|&b| b <= b' ' || b == 0x7f) {
            return Err(format!(
                "entry {} ('{shown}') is not a URI starting with '/' without spaces or \
                 control bytes (entries are separated by NUL bytes)",
                i + 1
            ));
        }
        match std::str::from_utf8(entry) {
            Ok(u) => uris.push(u.to_string()),
            Err(_) => return Err(format!("entry {} ('{shown}') is not UTF-8", i + 1)),
        }
    }
    if uris.is_empty() {
        return Err("the URI log has no URIs".into());
    }
    Ok(uris)
}

fn host_port(server: &str, port: u16) -> String {
    if server.contains(':') && !server.starts_with('[') {
        format!("[{server}]:{port}")
    } else {
        format!("{server}:{port}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Limit;

    /// httperf's arguments, built into a run.
    fn p(args: &[&str]) -> Result<Parsed, ConfigError> {
        let (inputs, echo, notes) = parse(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>())?;
        let spec = inputs.build(&[])?;
        Ok(Parsed { spec, echo, notes })
    }

    fn rejected(args: &[&str]) -> String {
        match p(args) {
            Err(e @ ConfigError::Invalid { .. }) => e.to_string(),
            other => panic!("{args:?}: {other:?}"),
        }
    }

    #[test]
    fn httperf_spellings_and_prefixes() {
        let r = p(&[
            "--server=127.0.0.1",
            "--port",
            "8080",
            "--ur=/small",
            "--num-con",
            "100",
            "--num-ca=10",
            "--ra",
            "50",
            "--timeo",
            "2",
            "--add-header=X-A: 1\\nX-B: 2\\n",
        ])
        .unwrap();
        let s = &r.spec;
        assert_eq!(s.requests[0].target.url(), "http://127.0.0.1:8080/small");
        assert_eq!(s.limit, Limit::Requests(100), "num-conns counts arrivals");
        let o = s.open_loop.as_ref().unwrap();
        assert_eq!(o.calls, 10);
        assert_eq!(
            o.arrival,
            Arrival::Deterministic {
                period_ns: 20_000_000
            }
        );
        assert_eq!(s.conn_requests, Some(10));
        assert_eq!(s.timeouts.reply, Some(Duration::from_secs(2)));
        assert_eq!(s.requests[0].headers.len(), 2);
        assert_eq!(s.concurrency, 110, "50/s x 2 s x 1.1");
        assert_eq!(
            r.echo,
            "httperf --timeout=2 --client=0/1 --server=127.0.0.1 --port=8080 --uri=/small \
             --rate=50 --num-conns=100 --num-calls=10"
        );
    }

    #[test]
    fn no_rate_means_one_connection_at_a_time() {
        let s = p(&[
            "--server",
            "127.0.0.1",
            "--num-conns",
            "5",
            "--num-calls",
            "2",
        ])
        .unwrap()
        .spec;
        assert!(s.open_loop.is_none());
        assert_eq!((s.concurrency, s.workers), (1, 1));
        assert_eq!(s.limit, Limit::Requests(10));
        assert_eq!(s.conn_requests, Some(2));
        assert!(
            p(&["--server", "127.0.0.1", "--rate", "0"])
                .unwrap()
                .spec
                .open_loop
                .is_none()
        );
    }

    #[test]
    fn bad_ambiguous_and_unsupported_options_are_refused() {
        assert!(
            rejected(&["--r", "5"]).contains("--rate"),
            "ambiguous: names candidates"
        );
        assert!(rejected(&["--bogus"]).contains("--bogus"));
        assert!(rejected(&["--wset=10,5"]).contains("not supported yet"));
        assert!(rejected(&["--ssl-ciphers=ALL"]).contains("rustls"));
        let ssl = p(&[
            "--server=127.0.0.1",
            "--ssl",
            "--ssl-no-reuse",
            "--insecure",
        ])
        .unwrap();
        let t = &ssl.spec.requests[0].target;
        assert_eq!((t.tls, t.port), (true, 443));
        assert!(!ssl.spec.tls.resume && ssl.spec.tls.insecure);
        assert!(ssl.echo.contains(" --ssl --ssl-no-reuse "), "{}", ssl.echo);
        assert!(rejected(&["--burst-len", "0"]).contains("1 to 1000"));
        assert_eq!(
            p(&["--server", "127.0.0.1", "--burst-length=8", "--max-piped=4"])
                .unwrap()
                .spec
                .pipeline,
            4
        );
        assert!(rejected(&["--http-version=2"]).contains("1.0 or 1.1"));
        assert!(rejected(&["--send-buf=0"]).contains("size in bytes"));
        assert!(rejected(&["--failure-status=42"]).contains("100 to 999"));
        assert!(rejected(&["--period=x"]).contains("--period"));
        assert!(rejected(&["--client=2/2"]).contains("I/N"));
        assert!(rejected(&["--num-conns"]).contains("a value"));
        assert!(rejected(&["--hog=1"]).contains("without a value"));
        assert!(rejected(&["server"]).contains("--name"));
    }

    #[test]
    fn add_header_refuses_control_bytes_but_htab() {
        let err = rejected(&["--server=127.0.0.1", "--add-header=X-Ctl: a\x01b"]);
        assert!(
            err.contains("--add-header") && err.contains("'X-Ctl'"),
            "{err}"
        );
        assert!(err.contains("\\x01") && !err.contains('\x01'), "{err:?}");
        let err = rejected(&["--server=127.0.0.1", "--add-header=X-A: 1\\nX-Ctl: \x1b[2J"]);
        assert!(err.contains("\\x1b") && !err.contains('\x1b'), "{err:?}");
        let r = p(&["--server=127.0.0.1", "--add-header=X-Tab: a\tb"]).unwrap();
        assert_eq!(r.spec.requests[0].headers[0].1, "a\tb");
    }

    #[test]
    fn credentials_in_server_or_uri_are_masked() {
        let err = rejected(&["--server=user:secret@127.0.0.1"]);
        assert!(
            err.contains("user:***@127.0.0.1") && !err.contains("secret"),
            "{err}"
        );
        assert!(err.contains("user info"), "{err}");
        let err = rejected(&[
            "--server=127.0.0.1",
            "--uri=http://user:secret@127.0.0.1:1/",
        ]);
        assert!(err.contains("--uri=http://user:***@127.0.0.1:1/"), "{err}");
        assert!(!err.contains("secret"), "{err}");
    }

    #[test]
    fn logs_are_read_under_the_cap() {
        for opt in ["--wlog=n,/dev/zero", "--wsesslog=1,0,/dev/zero"] {
            let flag = opt.split('=').next().unwrap();
            let err = match p(&["--server=127.0.0.1", opt]) {
                Err(e @ ConfigError::File { .. }) => e.to_string(),
                other => panic!("{opt}: {other:?}"),
            };
            assert!(err.contains(flag) && err.contains("256 MiB"), "{err}");
        }
    }

    #[test]
    fn print_options_take_an_optional_inline_value() {
        let r = p(&["--server", "127.0.0.1", "--print-rep=header", "--print-req"]).unwrap();
        assert_eq!(
            r.spec.print,
            PrintSpec {
                request: Some(PrintParts::Both),
                reply: Some(PrintParts::Header)
            }
        );
        assert_eq!(r.spec.workers, 1, "printing runs one worker unless asked");
        assert!(
            r.echo
                .starts_with("httperf --print-reply=header --print-request ")
        );
        // `--print-reply body`: getopt leaves `body` as a stray argument; volley refuses it.
        assert!(p(&["--print-reply", "body"]).is_err());
    }

    #[test]
    fn wlog_entries() {
        assert_eq!(parse_wlog(b"/a\0\0 /b?x=1 \0\n").unwrap(), ["/a", "/b?x=1"]);
        assert!(parse_wlog(b"").unwrap_err().contains("empty"));
        assert!(parse_wlog(b"\0\0").unwrap_err().contains("no URIs"));
        assert!(parse_wlog(b"/a\0/b c\0").unwrap_err().contains("entry 2"));
    }

    #[test]
    fn session_rules_need_sessions() {
        let r = p(&["--server", "127.0.0.1", "--failure-status=503"]).unwrap();
        assert!(r.notes[0].contains("changes nothing"), "{:?}", r.notes);
        let r = p(&[
            "--server",
            "127.0.0.1",
            "--wsess=1,1,0",
            "--failure-status=503",
            "--retry",
            "--session-cookie",
        ])
        .unwrap();
        assert_eq!(
            r.spec.open_loop.unwrap().sessions,
            Some(SessionRules {
                failure_status: Some(503),
                retry_on_failure: true,
                cookies: true
            })
        );
    }

    #[test]
    fn accepted_no_ops_say_so() {
        let r = p(&["--server", "127.0.0.1", "--hog", "-v", "--max-conn", "4"]).unwrap();
        assert_eq!(r.notes.len(), 3, "{:?}", r.notes);
        assert!(r.notes[0].contains("--hog"));
    }

    #[test]
    fn session_logs() {
        let log = "# comment\n/a.html think=2\n  /a1.gif\n  /a2.gif\n/b method=POST contents='x y'\n\n\n/c\n";
        let s = parse_wsesslog(log, Duration::from_millis(500)).unwrap();
        assert_eq!(s.len(), 2);
        let uris: Vec<&str> = s[0].iter().map(|r| r.uri.as_str()).collect();
        assert_eq!(uris, ["/a.html", "/a1.gif", "/a2.gif", "/b"]);
        let thinks: Vec<u128> = s[0].iter().map(|r| r.think.as_millis()).collect();
        assert_eq!(thinks, [0, 0, 2000, 500], "think follows the burst");
        assert_eq!(
            (s[0][3].method.as_str(), s[0][3].body.as_slice()),
            ("POST", &b"x y"[..])
        );
        assert!(s[0][1].burst_member && !s[0][0].burst_member);
        assert_eq!(s[1][0].uri, "/c");
        assert_eq!(parse_wsesslog("nope\n", Duration::ZERO).unwrap_err().0, 1);
        assert_eq!(
            parse_wsesslog("/a\n/b colour=red\n", Duration::ZERO)
                .unwrap_err()
                .0,
            2
        );
        assert_eq!(parse_wsesslog("  /a\n", Duration::ZERO).unwrap_err().0, 1);
        assert!(parse_wsesslog("# only\n", Duration::ZERO).is_err());
    }

    #[test]
    fn wsess_builds_sessions() {
        let s = p(&["--server", "127.0.0.1", "--wsess=10,3,0.5", "--rate", "5"])
            .unwrap()
            .spec;
        let o = s.open_loop.unwrap();
        assert_eq!(
            o.templates,
            [crate::spec::SessionTemplate {
                first: 0,
                len: 1,
                calls: 3
            }]
        );
        assert_eq!(s.limit, Limit::Requests(10));
        assert_eq!(s.requests[0].post.delay, Duration::from_millis(500));
        assert_eq!(s.conn_requests, None);
        let seq = p(&["--server", "127.0.0.1", "--wsess=2,2,0"]).unwrap().spec;
        assert_eq!(seq.open_loop.unwrap().arrival, Arrival::Immediate);
        assert_eq!(seq.concurrency, 1);
        assert!(rejected(&["--wsess=1,2"]).contains("N,C,T"));
    }

    #[test]
    fn client_shares_and_periods() {
        let s = p(&[
            "--server",
            "127.0.0.1",
            "--period=e0.01",
            "--client",
            "1/4",
            "--timeout=1",
        ])
        .unwrap()
        .spec;
        let o = s.open_loop.unwrap();
        assert_eq!(o.client, (1, 4));
        assert_eq!(
            o.arrival,
            Arrival::Exponential {
                mean_ns: 10_000_000
            }
        );
        assert!(matches!(p(&["--help"]), Err(ConfigError::Help(_))));
    }
}
