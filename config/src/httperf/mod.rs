//! `volley httperf ARGS…`: httperf's command line, spellings and meanings, as builder
//! inputs.
//!
//! Options are `--name=value` or `--name value`, and any unique prefix of a name stands for
//! it (`--num-con`, `--ra`), as in httperf. What volley does with each:
//!
//! - `--server --port --uri --method --add-header --num-conns --num-calls --rate --period
//!   --timeout --think-timeout --client --http-version --wsess --wsesslog --wlog
//!   --burst-length --max-piped-calls --print-request --print-reply --failure-status
//!   --retry-on-failure --session-cookies --send-buffer --recv-buffer --workers`: as httperf
//!   means them (`volley httperf --help` says where volley differs: socket buffer sizes
//!   only when given, a cap on retries);
//! - `--num-sessions`: httperf 0.8's name of `--num-conns` (not both); the text report
//!   then says sessions and calls for connections and requests, as httperf 0.8's did;
//! - `--hog`, `--verbose`: accepted, with a note on stderr saying why they change nothing;
//! - `--max-connections`: with sessions, up to 4 connections per session; a session log's
//!   bursts are spread over them when each carries one call at a time (HTTP/1.0 or
//!   `--max-piped-calls=1`); more than 1 with a burst that needs several connections
//!   otherwise (pipelined, or `--wsess`'s) is refused;
//! - `--ssl` and `--ssl-no-reuse`: https over rustls, certificates verified (volley's own
//!   `--cacert FILE` and `--insecure` are accepted too; httperf never verifies);
//! - `--server-name` (the Host header) and `--close-with-reset` (SO_LINGER 0);
//! - `--call-stats N` and `--call-stats-file F`, from an httperf 0.8.4 build with
//!   per-call statistics (stock httperf has neither): the first N calls' "Call
//!   Statistics:" table, F the expected sizes by URI;
//! - volley's `--metrics-listen`, `--metrics-linger` (seconds) and `--metrics-listen-any`
//!   (the `/metrics` endpoint);
//! - everything else httperf has (`--ssl-ciphers`, `--wset`, `--debug`, `--no-host-hdr`)
//!   is rejected with a message: volley never silently ignores an option.
//!
//! httperf's quirk is kept: without `--rate` (or with `--rate 0`) connections are made one
//! after another, each carrying `--num-calls` requests.
//!
//! [`options`] is the table of options (one entry each: parsing, help, echo); [`text`]
//! renders the help and the echo line from it; [`logs`] reads `--wlog` and `--wsesslog`
//! logs; [`workload`] turns the options into builder inputs.

mod logs;
mod opt;
mod options;
mod text;
mod workload;

use std::path::PathBuf;
use std::time::Duration;

use crate::builder::SpecBuilder;
use crate::error::ConfigError;
use crate::spec::{PrintSpec, RunSpec, SessionRules, SocketOptions};
use crate::values::{ClientArg, PeriodArg, RateArg};
use options::{Action, Arity, OPTIONS, Opt, Value};
use workload::Sessions;

/// An httperf command line: the run, and what `volley httperf` prints before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// The run.
    pub spec: RunSpec,
    /// httperf's first output line (`httperf --client=0/1 --server=… …`).
    pub echo: String,
    /// Notes for options accepted without effect.
    pub notes: Vec<String>,
}

/// httperf's options as given, with httperf's defaults; [`options::OPTIONS`] fills it.
#[derive(Debug)]
struct Args {
    server: String,
    port: Option<u16>,
    uri: String,
    method: String,
    headers: Vec<(String, String)>,
    num_conns: u64,
    /// The name `num_conns` was given under (`num-conns`, or httperf 0.8's
    /// `num-sessions`), if it was.
    conns_name: Option<&'static str>,
    num_calls: u32,
    schedule: Option<Schedule>,
    timeout: Option<Duration>,
    think: Duration,
    client: ClientArg,
    workers: Option<u32>,
    json: bool,
    metrics_listen: Option<std::net::SocketAddr>,
    metrics_linger: Option<Duration>,
    metrics_listen_any: bool,
    sessions: Option<Sessions>,
    burst: u32,
    max_piped: Option<u32>,
    max_conns: Option<u32>,
    print: PrintSpec,
    socket: SocketOptions,
    http10: bool,
    rules: SessionRules,
    wlog: Option<Wlog>,
    ssl: bool,
    ssl_no_reuse: bool,
    server_name: Option<String>,
    cacert: Vec<PathBuf>,
    insecure: bool,
    call_stats: Option<u32>,
    /// `--call-stats-file` as given, and the sizes it holds.
    call_stats_file: Option<(String, std::collections::BTreeMap<String, u64>)>,
}

impl Default for Args {
    fn default() -> Self {
        Args {
            server: "localhost".to_string(),
            port: None,
            uri: "/".to_string(),
            method: "GET".to_string(),
            headers: Vec::new(),
            num_conns: 1,
            conns_name: None,
            num_calls: 1,
            schedule: None,
            timeout: None,
            think: Duration::ZERO,
            client: ClientArg(0, 1),
            workers: None,
            json: false,
            metrics_listen: None,
            metrics_linger: None,
            metrics_listen_any: false,
            sessions: None,
            burst: 1,
            max_piped: None,
            max_conns: None,
            print: PrintSpec::default(),
            socket: SocketOptions::default(),
            http10: false,
            rules: SessionRules::default(),
            wlog: None,
            ssl: false,
            ssl_no_reuse: false,
            server_name: None,
            cacert: Vec::new(),
            insecure: false,
            call_stats: None,
            call_stats_file: None,
        }
    }
}

impl Args {
    /// `--port`, else httperf's default: 80, or 443 with `--ssl`.
    fn port(&self) -> u16 {
        self.port.unwrap_or(if self.ssl { 443 } else { 80 })
    }
}

/// When connections (or sessions) start: the last of `--rate` and `--period` given.
#[derive(Debug)]
enum Schedule {
    /// `--rate R` (not 0).
    Rate(RateArg),
    /// `--period P`, and P as given (the echo line shows it so).
    Period(PeriodArg, String),
}

/// A `--wlog` URI log.
#[derive(Debug)]
struct Wlog {
    /// `y`: start again at the end of the log; `n`: the run ends there.
    wrap: bool,
    /// The URIs, in order.
    uris: Vec<String>,
    /// The option's value as given (for the echo line).
    given: String,
}

/// Parses httperf's arguments (after `volley httperf`): the builder's inputs, the echo
/// line, and notes for options that change nothing.
///
/// # Errors
///
/// [`ConfigError::Message`] for an unknown option or one volley refuses,
/// [`ConfigError::Invalid`] naming the option for an ambiguous one or a bad value;
/// [`ConfigError::Help`] for `--help` and `--version`.
pub(crate) fn parse(argv: &[String]) -> Result<(SpecBuilder, String, Vec<String>), ConfigError> {
    let mut args = Args::default();
    let mut notes = Vec::new();
    for (opt, value) in split(argv)? {
        match opt.action {
            Action::Set(set) => set(
                &mut args,
                &Value {
                    name: opt.name,
                    text: value.as_deref().unwrap_or_default(),
                },
            )?,
            Action::Switch(set) => set(&mut args),
            Action::Note(why) => {
                notes.push(format!(
                    "volley httperf: --{} changes nothing: {why}",
                    opt.name
                ));
            }
            Action::Refuse(_) => unreachable!("split refuses it"),
        }
    }
    check(&args, &mut notes)?;
    let echo = text::echo(&args);
    let inputs = workload::inputs(args, &mut notes)?;
    Ok((inputs, echo, notes))
}

/// The options as given, in order, with their values. As getopt does, this reads the
/// whole command line before any value is used: an option volley refuses is refused
/// whatever comes before it.
fn split(argv: &[String]) -> Result<Vec<(&'static Opt, Option<String>)>, ConfigError> {
    let mut out = Vec::new();
    let mut it = argv.iter();
    while let Some(arg) = it.next() {
        let short = arg
            .strip_prefix('-')
            .and_then(|s| s.parse::<char>().ok())
            .and_then(short);
        let (opt, inline) = match short {
            Some(opt) => (opt, None),
            None => {
                let body = arg.strip_prefix("--").ok_or_else(|| {
                    ConfigError::invalid("httperf", arg, "options of the form --name[=value]")
                })?;
                match body.split_once('=') {
                    Some((name, v)) => (lookup(name)?, Some(v.to_string())),
                    None => (lookup(body)?, None),
                }
            }
        };
        let name = opt.name;
        let value = match (opt.arity, inline) {
            (Arity::Value | Arity::OptValue, Some(v)) => Some(v),
            (Arity::OptValue, None) => None,
            (Arity::Value, None) => Some(it.next().cloned().ok_or_else(|| {
                ConfigError::invalid("httperf", format!("--{name}"), "a value after it")
            })?),
            (Arity::Flag, Some(v)) => {
                let allowed = format!("--{name} without a value");
                return Err(ConfigError::invalid(
                    "httperf",
                    format!("--{name}={v}"),
                    allowed,
                ));
            }
            (Arity::Flag, None) => None,
        };
        if let Action::Refuse(why) = opt.action {
            return Err(ConfigError::message(format!(
                "volley httperf: volley does not support --{name} yet ({why})"
            )));
        }
        out.push((opt, value));
    }
    Ok(out)
}

/// The option `name` (full or an unambiguous prefix) stands for.
fn lookup(name: &str) -> Result<&'static Opt, ConfigError> {
    if let Some(opt) = OPTIONS.iter().find(|o| o.name == name) {
        return Ok(opt);
    }
    let mut matches: Vec<&Opt> = OPTIONS
        .iter()
        .filter(|o| o.name.starts_with(name))
        .collect();
    matches.sort_by_key(|o| o.name);
    match matches.as_slice() {
        [opt] => Ok(opt),
        [] => Err(ConfigError::message(format!(
            "volley httperf: unknown httperf option --{name} (see volley httperf --help)"
        ))),
        many => {
            let names: Vec<String> = many.iter().map(|o| format!("--{}", o.name)).collect();
            let allowed = format!("an unambiguous prefix; it could be {}", names.join(", "));
            Err(ConfigError::invalid(
                "httperf",
                format!("--{name}"),
                allowed,
            ))
        }
    }
}

/// The option a getopt short name (`-v`) stands for.
fn short(c: char) -> Option<&'static Opt> {
    OPTIONS.iter().find(|o| o.short == Some(c))
}

/// The rules between options (as httperf has them), once all are read.
fn check(a: &Args, notes: &mut Vec<String>) -> Result<(), ConfigError> {
    if a.rules.cookies && a.sessions.is_none() {
        return Err(ConfigError::invalid(
            "httperf",
            "--session-cookies",
            "a session workload (--wsess or --wsesslog), as in httperf",
        ));
    }
    if a.sessions.is_none() {
        for (given, opt) in [
            (a.rules.failure_status.is_some(), "--failure-status"),
            (a.rules.retry_on_failure, "--retry-on-failure"),
        ] {
            if given {
                notes.push(format!(
                    "volley httperf: {opt} changes nothing without a session workload \
                     (--wsess or --wsesslog), as in httperf"
                ));
            }
        }
    }
    if a.wlog.is_some() && matches!(a.sessions, Some(Sessions::Log { .. })) {
        return Err(ConfigError::invalid(
            "httperf",
            "--wlog",
            "no --wsesslog with it (a session log gives its own URIs; httperf would \
             ignore --wlog)",
        ));
    }
    if a.print.any() && a.json {
        return Err(ConfigError::invalid(
            "httperf",
            "--print-request/--print-reply",
            "no --json with them (both write to stdout)",
        ));
    }
    match (a.call_stats, &a.call_stats_file) {
        (Some(n), _) => notes.push(format!(
            "volley httperf: collecting call stats, buffer size = {n}"
        )),
        (None, Some(_)) => notes
            .push("volley httperf: --call-stats-file changes nothing without --call-stats".into()),
        (None, None) => {}
    }
    if a.conns_name == Some("num-sessions") {
        notes.push(match a.sessions {
            None => "volley httperf: --num-sessions is httperf 0.8's name of --num-conns: the \
                     report says sessions and calls for connections and requests, as httperf \
                     0.8's did"
                .into(),
            Some(_) => "volley httperf: --num-sessions is httperf 0.8's name of --num-conns, \
                        which a session workload (--wsess or --wsesslog) does not use; the \
                        report keeps today's words, its Session lines being the workload's"
                .into(),
        });
    }
    if a.ssl_no_reuse && !a.ssl {
        notes.push("volley httperf: --ssl-no-reuse changes nothing without --ssl".into());
    }
    check_max_conns(a, notes)
}

/// Most connections httperf lets one session use (`--max-connections`, 4 by default).
pub(super) const MAX_SESSION_CONNS: u32 = 4;

/// `--max-connections N`: at most N connections per session (4 by default). httperf
/// issues a session's calls on its first connection with room for another pipelined
/// call and opens the next only when that one has `--max-piped-calls` pending; a burst
/// goes out as its first call alone, then the others at once. volley does the same
/// (`SessionRules::conns`). Refused: N above httperf's limit, a `--wsess` burst whose
/// other calls do not fit the session's N x `--max-piped-calls` (httperf stops at it,
/// "too many calls pending"), and N > 1 with a `--wsess` burst over a `--wlog` log that
/// needs more than one connection (volley keeps those on one).
fn check_max_conns(a: &Args, notes: &mut Vec<String>) -> Result<(), ConfigError> {
    let Some(sessions) = &a.sessions else {
        if a.max_conns.is_some() {
            notes.push(
                "volley httperf: --max-connections changes nothing without a session \
                 workload (--wsess or --wsesslog), as in httperf"
                    .into(),
            );
        }
        return Ok(());
    };
    let n = a.max_conns.unwrap_or(MAX_SESSION_CONNS);
    if n > MAX_SESSION_CONNS {
        return Err(ConfigError::invalid(
            "httperf",
            format!("--max-connections={n}"),
            format!("a count from 1 to {MAX_SESSION_CONNS} with sessions, as in httperf"),
        ));
    }
    // What one connection of a session pipelines (HTTP/1.0 calls go one by one).
    let piped = if a.http10 {
        1
    } else {
        a.max_piped.unwrap_or(32)
    };
    let burst = sessions.largest_burst(a.burst);
    if !matches!(sessions, Sessions::Uniform { .. }) || burst <= piped {
        return Ok(());
    }
    if a.wlog.is_some() && a.max_conns.is_some_and(|n| n > 1) {
        return Err(ConfigError::message(format!(
            "volley httperf: volley does not support --max-connections {n} yet with a \
             --wsess burst of {burst} calls over a --wlog log, more than one connection \
             pipelines ({piped}, --max-piped-calls): httperf would spread it over up to {n} \
             connections of the session (--max-connections 1 runs)"
        )));
    }
    let room = u64::from(n) * u64::from(piped);
    if a.wlog.is_none() && u64::from(burst - 1) > room {
        return Err(ConfigError::invalid(
            "httperf",
            format!("--burst-length={burst}"),
            format!(
                "at most {} calls: after its first call a burst's other calls go out at \
                 once, and a session holds --max-connections x --max-piped-calls = {room} \
                 (httperf stops at it: too many calls pending)",
                room + 1
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{Arrival, Limit, PrintParts, Wording};

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

    /// The message of a refusal worded whole (an unknown option, one volley cannot honour).
    fn refused(args: &[&str]) -> String {
        match p(args) {
            Err(e @ ConfigError::Message(_)) => e.to_string(),
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
        assert_eq!(
            s.concurrency, 100,
            "50/s x 2 s x 1.1, at most the 100 sessions"
        );
        assert_eq!(
            r.echo,
            "httperf --timeout=2 --client=0/1 --server=127.0.0.1 --port=8080 --uri=/small \
             --rate=50 --num-conns=100 --num-calls=10"
        );
    }

    #[test]
    fn think_timeout_alone_bounds_the_reply() {
        let s = p(&["--server=127.0.0.1", "--think-timeout=0.5", "--rate=10"])
            .unwrap()
            .spec;
        let half = Some(Duration::from_millis(500));
        let t = s.timeouts;
        assert_eq!((t.first_byte, t.reply), (half, half));
        assert_eq!(
            (t.connect, t.send),
            (None, None),
            "unbounded, as in httperf"
        );
        assert_eq!(s.concurrency, 16, "10/s x 0.5 s, at least 16");
        let t = p(&["--server=127.0.0.1", "--think-timeout=0.5", "--timeout=1"])
            .unwrap()
            .spec
            .timeouts;
        let sum = Some(Duration::from_millis(1500));
        assert_eq!(
            (t.first_byte, t.reply, t.connect),
            (sum, sum, Some(Duration::from_secs(1)))
        );
        let t = p(&["--server=127.0.0.1"]).unwrap().spec.timeouts;
        assert_eq!((t.first_byte, t.reply), (None, None));
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
        assert_eq!(
            refused(&["--bogus"]),
            "volley httperf: unknown httperf option --bogus (see volley httperf --help)"
        );
        assert_eq!(
            refused(&["--server=127.0.0.1", "--wset=10,5"]),
            "volley httperf: volley does not support --wset yet (working sets)"
        );
        assert!(refused(&["--ssl-ciphers=ALL"]).contains("rustls"));
        assert!(refused(&["--no-host"]).contains("does not support --no-host-hdr yet"));
        // What the user typed is shown escaped.
        assert!(refused(&["--a\x1bb"]).contains("--a\\x1bb"));
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
    fn num_sessions_is_httperf_0_8s_num_conns() {
        let old = p(&["--server=127.0.0.1", "--num-sessions", "100", "--rate=10"]).unwrap();
        let new = p(&["--server=127.0.0.1", "--num-conns", "100", "--rate=10"]).unwrap();
        assert_eq!(old.spec.limit, new.spec.limit);
        assert_eq!(old.spec.open_loop, new.spec.open_loop);
        assert_eq!(old.spec.output.httperf_wording, Wording::Sessions);
        assert_eq!(new.spec.output.httperf_wording, Wording::Current);
        assert_eq!(
            old.echo,
            new.echo.replace("--num-conns=100", "--num-sessions=100")
        );
        assert_eq!(
            old.notes,
            [
                "volley httperf: --num-sessions is httperf 0.8's name of --num-conns: the report \
              says sessions and calls for connections and requests, as httperf 0.8's did"
            ]
        );
        assert!(new.notes.is_empty(), "{:?}", new.notes);
        // A unique prefix stands for it, and the last of one name given wins.
        let r = p(&["--server=127.0.0.1", "--num-s=3", "--num-sessions=4"]).unwrap();
        assert!(r.echo.contains(" --num-sessions=4 "), "{}", r.echo);
        // Both names: one count given twice.
        for both in [
            ["--num-sessions=5", "--num-conns=5"],
            ["--num-conns=5", "--num-sessions=5"],
        ] {
            let err = refused(&[&["--server=127.0.0.1"][..], &both].concat());
            assert_eq!(
                err,
                "volley httperf: --num-sessions and --num-conns are one count (--num-sessions \
                 is httperf 0.8's name of --num-conns): give one of them"
            );
        }
        assert!(rejected(&["--num-sessions=0"]).contains("--num-sessions=0"));
        // A session workload keeps its own Session lines: today's words.
        let r = p(&["--server=127.0.0.1", "--num-sessions=5", "--wsess=2,1,0"]).unwrap();
        assert_eq!(r.spec.output.httperf_wording, Wording::Current);
        assert!(
            r.notes[0].contains("does not use; the report keeps today's words"),
            "{:?}",
            r.notes
        );
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
                cookies: true,
                conns: 0,
            })
        );
    }

    #[test]
    fn call_stats_are_kept_echoed_and_announced() {
        let r = p(&["--server=127.0.0.1", "--timeout=0.5", "--call-stats=3"]).unwrap();
        let c = r.spec.call_stats.unwrap();
        assert_eq!(
            (c.rows, c.time_limit),
            (3, Some(Duration::from_millis(500)))
        );
        assert!(c.sizes.is_empty());
        assert!(
            r.echo
                .ends_with(" --call-stats=3 --call-stats-file= --num-conns=1 --num-calls=1"),
            "{}",
            r.echo
        );
        assert_eq!(
            r.notes,
            ["volley httperf: collecting call stats, buffer size = 3"]
        );
        assert!(rejected(&["--call-stats=0"]).contains("1 to 1000000"));
        assert!(rejected(&["--call-stats=-1"]).contains("--call-stats=-1"));
        assert!(
            p(&["--server=127.0.0.1"])
                .unwrap()
                .spec
                .call_stats
                .is_none()
        );
    }

    #[test]
    fn accepted_no_ops_say_so() {
        let r = p(&["--server", "127.0.0.1", "--hog", "-v", "--max-conn", "4"]).unwrap();
        assert_eq!(r.notes.len(), 3, "{:?}", r.notes);
        assert!(r.notes[0].contains("--hog"));
    }

    #[test]
    fn max_connections_spreads_bursts_a_connection_does_not_hold() {
        let dir = std::env::temp_dir().join(format!("volley-maxconn-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("s.log");
        std::fs::write(&log, "/a\n  /b\n  /c\n/d\n").unwrap();
        let log = format!("--wsesslog=1,0,{}", log.display());
        let run = |extra: &[&str]| {
            let mut args = vec!["--server=127.0.0.1", log.as_str()];
            args.extend(extra);
            p(&args)
        };
        let conns = |r: &Parsed| r.spec.open_loop.as_ref().unwrap().sessions.unwrap().conns;
        // A burst of 3 fits one connection's 32 pipelined calls: httperf uses one too.
        let r = run(&["--max-connections=2"]).unwrap();
        assert!(r.notes.is_empty(), "{:?}", r.notes);
        assert_eq!(conns(&r), 0);
        // The burst's first call goes alone, then its other two fill connections of
        // --max-piped-calls each, up to N (4 by default).
        assert_eq!(conns(&run(&["--max-conn=1", "--max-piped=1"]).unwrap()), 1);
        assert_eq!(conns(&run(&["--max-conn=2", "--max-piped=1"]).unwrap()), 2);
        let r = run(&["--http-version=1.0"]).unwrap();
        assert_eq!((conns(&r), r.spec.pipeline), (2, 1));
        assert!(!r.spec.open_loop.as_ref().unwrap().bursts.is_empty());
        let r = run(&["--max-connections=2", "--max-piped-calls=2"]).unwrap();
        assert_eq!((conns(&r), r.spec.pipeline), (1, 2));
        assert!(rejected(&["--server=127.0.0.1", &log, "--max-conn=5"]).contains("1 to 4"));
        // --wsess's bursts are --burst-length calls, spread the same way.
        let wsess = ["--server=127.0.0.1", "--wsess=2,4,0", "--max-conn=3"];
        let r = p(&[&wsess[..], &["--burst-len=4"]].concat()).unwrap();
        assert_eq!((conns(&r), r.spec.pipeline), (0, 4));
        assert_eq!(r.spec.open_loop.as_ref().unwrap().bursts, [3]);
        let r = p(&[&wsess[..], &["--burst-len=4", "--max-piped=2"]].concat()).unwrap();
        assert_eq!((conns(&r), r.spec.pipeline), (2, 2));
        let r = p(&[&wsess[..], &["--burst-len=2", "--http-version=1.0"]].concat()).unwrap();
        assert_eq!((conns(&r), r.spec.pipeline), (1, 1));
        // More than the session's connections hold after the first call: httperf stops.
        let err = rejected(&[&wsess[..], &["--burst-len=5", "--max-piped=1"]].concat());
        assert!(err.contains("at most 4 calls"), "{err}");
        // Over a --wlog log a --wsess burst stays on one connection.
        let uris = dir.join("uris");
        std::fs::write(&uris, "/a\0/b\0").unwrap();
        let wlog = format!("--wlog=y,{}", uris.display());
        let err = refused(&[&wsess[..], &["--burst-len=4", "--max-piped=2", &wlog]].concat());
        assert!(err.contains("--wlog"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
        // Without sessions it changes nothing, as in httperf.
        let r = p(&["--server=127.0.0.1", "--max-connections=9"]).unwrap();
        assert!(
            r.notes[0].contains("without a session workload"),
            "{:?}",
            r.notes
        );
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
    fn every_client_runs_the_whole_workload() {
        let r = p(&[
            "--server",
            "127.0.0.1",
            "--period=e0.01",
            "--client",
            "1/4",
            "--timeout=1",
            "--num-conns=40",
        ])
        .unwrap();
        assert!(r.notes.is_empty(), "{:?}", r.notes);
        let s = r.spec;
        assert_eq!(s.limit, Limit::Requests(40), "not a quarter of it");
        assert!(s.seed_given, "the client number seeds a random period");
        let other = p(&["--server=127.0.0.1", "--period=e0.01", "--client=2/4"]).unwrap();
        assert_ne!(s.seed, other.spec.seed, "clients draw different sequences");
        let again = p(&["--server=127.0.0.1", "--period=e0.01", "--client=1/4"]).unwrap();
        assert_eq!(s.seed, again.spec.seed, "and repeat them run to run");
        assert_eq!(
            s.concurrency, 40,
            "the whole rate's 110, at most the 40 sessions"
        );
        let o = s.open_loop.unwrap();
        assert_eq!(o.client, (0, 1));
        assert_eq!(
            o.arrival,
            Arrival::Exponential {
                mean_ns: 10_000_000
            }
        );
        assert!(matches!(p(&["--help"]), Err(ConfigError::Help(_))));
        for fixed in [
            &["--rate=10"][..],
            &["--period=0.1"],
            &["--wsess=2,1,0"],
            &[],
        ] {
            let mut args = vec!["--server=127.0.0.1", "--client=1/2"];
            args.extend(fixed);
            let r = p(&args).unwrap();
            assert!(!r.spec.seed_given, "{fixed:?}");
            assert_eq!(r.notes.len(), 1, "{fixed:?}: {:?}", r.notes);
            assert!(
                r.notes[0].contains("--client changes nothing here"),
                "{:?}",
                r.notes
            );
        }
        let r = p(&["--server=127.0.0.1", "--client=0/1", "--rate=10"]).unwrap();
        assert!(r.notes.is_empty(), "httperf's default: {:?}", r.notes);
    }
}
