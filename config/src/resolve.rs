//! Cli → `RunSpec`: defaults, cross-flag rules, URL resolution. The only place that
//! validates.

use std::hash::{BuildHasher, Hasher};
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use crate::cli::{Cli, LoadArgs, Sub, TopArgs};
use crate::error::ConfigError;
use crate::spec::{
    DEFAULT_MAX_REDIRECTS, Delay, IteratorKind, KeepAlive, Limit, LogFormat, LogSpec,
    MAX_HEADERS_CAP, OutputSpec, RampUp, ReplyLimits, RequestSpec, RunSpec, Target, Timeouts,
    TopSpec,
};
use crate::values::{TimeoutArg, is_token};

/// Most worker processes accepted (a sanity bound, far above any core count).
pub const MAX_WORKERS: u32 = 1024;
/// Most thread slots accepted in one run.
pub const MAX_CONCURRENCY: u32 = 1_000_000;
/// Default run length when neither `-n` nor `-d` is given.
pub const DEFAULT_DURATION: Duration = Duration::from_secs(10);
/// Default run length of `volley demo`.
pub const DEMO_DURATION: Duration = Duration::from_secs(5);

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Run load as described.
    Run(RunSpec),
    /// Start the demo target, then run load against it; the spec's target is filled in
    /// once the demo target is listening (`addr` is a placeholder until then).
    Demo(RunSpec),
    /// Serve the demo target (internal).
    DemoServer,
    /// Watch a running run.
    Top(TopSpec),
    /// `volley httperf ARGS…`: an httperf command line.
    Httperf(Box<crate::httperf::Parsed>),
}

/// Turns a parsed command line into a [`Command`].
///
/// # Errors
///
/// [`ConfigError::Invalid`] naming the flag when a value is not allowed, or
/// [`ConfigError::File`] when `--body @FILE` cannot be read.
pub fn resolve(cli: Cli) -> Result<Command, ConfigError> {
    resolve_with(cli, &[])
}

/// [`resolve`], knowing the custom iterators a hook program registered (`extra`), which a
/// run file or `--iterator` may then name.
///
/// # Errors
///
/// As [`resolve`].
pub fn resolve_with(cli: Cli, extra: &[&str]) -> Result<Command, ConfigError> {
    match cli.command {
        Some(Sub::Demo { load }) => {
            let placeholder = Target {
                host: "127.0.0.1".into(),
                port: 0,
                addr: SocketAddr::from(([127, 0, 0, 1], 0)),
                path: "/small".into(),
                dns_cached: false,
                tls: false,
            };
            run_spec(placeholder, load, DEMO_DURATION).map(Command::Demo)
        }
        Some(Sub::Top(top)) => Ok(Command::Top(top_spec(top)?)),
        Some(Sub::DemoServer) => Ok(Command::DemoServer),
        Some(Sub::Run(args)) => crate::runfile::load_with(args, extra).map(Command::Run),
        Some(Sub::Httperf { args }) => {
            crate::httperf::parse(&args).map(|p| Command::Httperf(Box::new(p)))
        }
        None => {
            let url = cli.url.ok_or_else(|| {
                ConfigError::invalid(
                    "URL",
                    "",
                    "a target URL is required (http://host[:port]/path), or use `volley demo`",
                )
            })?;
            let target = parse_url_resolving(&url, &cli.load.tls.resolve)?;
            run_spec(target, cli.load, DEFAULT_DURATION).map(Command::Run)
        }
    }
}

fn top_spec(top: TopArgs) -> Result<TopSpec, ConfigError> {
    if top.interval.0 < Duration::from_millis(10) {
        return Err(ConfigError::invalid(
            "--interval",
            top.interval,
            "at least 10ms",
        ));
    }
    Ok(TopSpec {
        run_name: top.name,
        interval: top.interval.0,
        count: top.count,
    })
}

fn run_spec(
    target: Target,
    load: LoadArgs,
    default_duration: Duration,
) -> Result<RunSpec, ConfigError> {
    let concurrency = load.concurrency;
    if !(1..=MAX_CONCURRENCY).contains(&concurrency) {
        return Err(ConfigError::invalid(
            "--concurrency",
            concurrency,
            format!("1 to {MAX_CONCURRENCY}"),
        ));
    }
    let workers = match load.workers {
        Some(w) if !(1..=MAX_WORKERS).contains(&w) => {
            return Err(ConfigError::invalid(
                "--workers",
                w,
                format!("1 to {MAX_WORKERS}"),
            ));
        }
        Some(w) if w > concurrency => {
            return Err(ConfigError::invalid(
                "--workers",
                w,
                format!("at most --concurrency ({concurrency}): every worker needs a slot"),
            ));
        }
        Some(w) => w,
        None => default_workers().min(concurrency),
    };
    let ramp = ramp_up(&load, concurrency)?;
    let limit = match (load.requests, load.duration) {
        (Some(0), _) => return Err(ConfigError::invalid("--requests", 0, "at least 1")),
        (Some(n), _) => Limit::Requests(n),
        (None, Some(d)) if d.0.is_zero() => {
            return Err(ConfigError::invalid("--duration", d, "a positive duration"));
        }
        (None, Some(d)) => Limit::Duration(d.0),
        (None, None) => Limit::Duration(default_duration),
    };
    check_method("--method", &load.method)?;
    let body = match load.body.as_deref() {
        None => Vec::new(),
        Some(s) => read_body("--body", s)?,
    };
    if let Some(name) = &load.run_name {
        check_run_name(name)?;
    }
    let timeouts = timeouts(&load);
    let limits = reply_limits(&load)?;
    let (seed, seed_given) = seed(load.seed);
    let request = RequestSpec {
        method: load.method,
        target,
        headers: load
            .headers
            .into_iter()
            .map(|h| (h.name, h.value))
            .collect(),
        body,
        keepalive: KeepAlive::BOTH,
        pre: Delay::default(),
        post: Delay::default(),
        timeouts,
        version: Default::default(),
    };
    Ok(RunSpec {
        requests: vec![request],
        iterator: IteratorKind::Default,
        custom_iterator: None,
        rounds: None,
        max_redirects: DEFAULT_MAX_REDIRECTS,
        follow_cross_origin: false,
        dnscache: Default::default(),
        workers,
        concurrency,
        ramp,
        limit,
        timeouts,
        limits,
        seed,
        seed_given,
        output: OutputSpec {
            json: load.json,
            progress: !load.quiet,
        },
        run_name: load.run_name.map(|n| format!("volley-{n}")),
        open_loop: open_loop(
            load.open.rate,
            load.open.period,
            load.open.calls,
            1,
            load.open.client,
            load.open.wake_per_reply,
        )?,
        conn_requests: None,
        pipeline: pipeline(load.open.pipeline, IteratorKind::Default)?,
        log: log_spec(load.log, load.log_format.as_deref())?,
        run_file: None,
        socket: Default::default(),
        print: Default::default(),
        tls: tls_spec(&load.tls, Default::default()),
    })
}

/// Rejects a method that is not an RFC 9110 token.
pub(crate) fn check_method(flag: &'static str, method: &str) -> Result<(), ConfigError> {
    if is_token(method) {
        Ok(())
    } else {
        Err(ConfigError::invalid(
            flag,
            method,
            "an HTTP method token such as GET, POST or HUGO",
        ))
    }
}

/// A body given as a string, or `@FILE` to read it from a file (at most
/// [`crate::files::MAX_BODY_BYTES`]).
pub(crate) fn read_body(flag: &'static str, s: &str) -> Result<Vec<u8>, ConfigError> {
    match s.strip_prefix('@') {
        Some(path) => crate::files::read_capped(
            std::path::Path::new(path),
            crate::files::MAX_BODY_BYTES,
            crate::files::BODY,
        )
        .map_err(|source| ConfigError::File {
            flag,
            path: path.to_string(),
            source,
        }),
        None => Ok(s.as_bytes().to_vec()),
    }
}

/// `--rate`/`--period`, `--calls` (whose default is `default_calls`) and
/// `--wake-per-reply`.
pub(crate) fn open_loop(
    rate: Option<crate::values::RateArg>,
    period: Option<crate::values::PeriodArg>,
    calls: Option<u32>,
    default_calls: u32,
    client: Option<crate::values::ClientArg>,
    wake_per_reply: bool,
) -> Result<Option<crate::spec::OpenLoop>, ConfigError> {
    let arrival = match (rate, period) {
        (Some(r), _) => r.arrival(),
        (None, Some(p)) => p.0,
        (None, None) => {
            if let Some(c) = client {
                return Err(ConfigError::invalid(
                    "--client",
                    format!("{}/{}", c.0, c.1),
                    "only with --rate or --period (a share of an open-loop schedule)",
                ));
            }
            if let Some(c) = calls {
                return Err(ConfigError::invalid(
                    "--calls",
                    c,
                    "only with --rate or --period (an open-loop run)",
                ));
            }
            if wake_per_reply {
                return Err(ConfigError::invalid(
                    "--wake-per-reply",
                    true,
                    "only with --rate or --period (a closed loop always wakes for replies)",
                ));
            }
            return Ok(None);
        }
    };
    let calls = match calls {
        Some(0) => return Err(ConfigError::invalid("--calls", 0, "at least 1")),
        Some(c) => c,
        None => default_calls.max(1),
    };
    Ok(Some(crate::spec::OpenLoop {
        arrival,
        wake_per_reply,
        calls,
        client: client.map_or((0, 1), |c| (c.0, c.1)),
        templates: Vec::new(),
        bursts: Vec::new(),
        sequence: None,
        sessions: None,
    }))
}

/// Most requests pipelined on one connection.
pub const MAX_PIPELINE: u32 = 1000;

/// `--pipeline N` (1 when not given); `follow` iterators cannot pipeline (a redirect
/// decides the next request).
pub(crate) fn pipeline(n: Option<u32>, iterator: IteratorKind) -> Result<u32, ConfigError> {
    match n {
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

/// The run seed: the one given, or a random one (printed in the report).
pub(crate) fn seed(given: Option<u64>) -> (u64, bool) {
    match given {
        Some(s) => (s, true),
        None => (random_seed(), false),
    }
}

/// `--log FILE` and `--log-format`.
pub(crate) fn log_spec(
    path: Option<std::path::PathBuf>,
    format: Option<&str>,
) -> Result<Option<LogSpec>, ConfigError> {
    let format = match format {
        None | Some("csv") => LogFormat::Csv,
        Some("jsonl") => LogFormat::Jsonl,
        Some(other) => return Err(ConfigError::invalid("--log-format", other, "csv or jsonl")),
    };
    match path {
        None => Ok(None),
        Some(path) if path.as_os_str().is_empty() => {
            Err(ConfigError::invalid("--log", "", "a file path"))
        }
        Some(path) => Ok(Some(LogSpec { path, format })),
    }
}

/// The phase deadlines from `--timeout` and the finer flags (each defaults to what
/// `--timeout` implies; `never` switches one off).
fn timeouts(load: &LoadArgs) -> Timeouts {
    let base = match load.timeout {
        Some(TimeoutArg::After(d)) => Some(d),
        Some(TimeoutArg::Never) | None => None,
    };
    let think = load.think_timeout.0;
    let reply = base.map(|t| t + think);
    let pick = |flag: Option<TimeoutArg>, default: Option<Duration>| match flag {
        Some(TimeoutArg::After(d)) => Some(d),
        Some(TimeoutArg::Never) => None,
        None => default,
    };
    Timeouts {
        connect: pick(load.connect_timeout, base),
        send: base,
        first_byte: pick(load.first_byte_timeout, reply),
        idle: pick(load.idle_timeout, None),
        reply,
    }
}

fn reply_limits(load: &LoadArgs) -> Result<ReplyLimits, ConfigError> {
    let check = |flag: &'static str, v: usize, lo: usize, hi: usize| {
        if (lo..=hi).contains(&v) {
            Ok(v)
        } else {
            Err(ConfigError::invalid(flag, v, format!("{lo} to {hi}")))
        }
    };
    const MIB16: usize = 16 << 20;
    Ok(ReplyLimits {
        head_bytes: check("--max-head-bytes", load.max_head_bytes, 1024, MIB16)?,
        headers: check("--max-headers", load.max_headers, 1, MAX_HEADERS_CAP)?,
        chunk_ext_bytes: check("--max-chunk-ext-bytes", load.max_chunk_ext_bytes, 0, MIB16)?,
        trailer_bytes: check("--max-trailer-bytes", load.max_trailer_bytes, 0, MIB16)?,
    })
}

fn ramp_up(load: &LoadArgs, concurrency: u32) -> Result<RampUp, ConfigError> {
    let duration = load.ramp_duration.map(|d| d.0).unwrap_or(Duration::ZERO);
    let start = match load.ramp_start {
        Some(s) if s > concurrency => {
            return Err(ConfigError::invalid(
                "--ramp-start",
                s,
                format!("at most --concurrency ({concurrency})"),
            ));
        }
        Some(0) if duration.is_zero() => {
            return Err(ConfigError::invalid(
                "--ramp-start",
                0,
                "at least 1 unless --ramp-duration is given",
            ));
        }
        Some(s) => s,
        None if duration.is_zero() => concurrency,
        None => 1,
    };
    Ok(RampUp { start, duration })
}

pub(crate) fn check_run_name(name: &str) -> Result<(), ConfigError> {
    let ok = !name.is_empty()
        && name.len() <= 48
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(ConfigError::invalid(
            "--run-name",
            name,
            "1 to 48 characters from A-Z a-z 0-9 . _ -",
        ))
    }
}

/// Number of CPUs this process may run on.
pub(crate) fn default_workers() -> u32 {
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

/// Parses `http[s]://host[:port][/path]` and resolves the host (the DNS cache of the run).
///
/// # Errors
///
/// [`ConfigError::Invalid`] for `URL` when the syntax is wrong, the scheme is not http or
/// https, or the host does not resolve.
pub fn parse_url(url: &str) -> Result<Target, ConfigError> {
    parse_url_resolving(url, &[])
}

/// [`parse_url`], connecting to the address a `--resolve HOST:PORT:ADDR` gives for the
/// URL's host and port instead of resolving the name.
///
/// # Errors
///
/// As [`parse_url`].
pub fn parse_url_resolving(
    url: &str,
    overrides: &[crate::values::ResolveArg],
) -> Result<Target, ConfigError> {
    let syntax = "expected http[s]://host[:port][/path]";
    let bad = |why: &str| ConfigError::invalid("URL", url, format!("{why}; {syntax}"));
    let (tls, host, port, path) = split_url(url).map_err(|why| bad(&why))?;
    let given = overrides
        .iter()
        .find(|r| r.port == port && r.host.eq_ignore_ascii_case(&host))
        .map(|r| (SocketAddr::new(r.addr, port), true));
    let (addr, dns_cached) = match given {
        Some(a) => a,
        None => resolve_host(&host, port, &Default::default())
            .ok_or_else(|| bad(&format!("host '{host}' does not resolve")))?,
    };
    Ok(Target {
        host,
        port,
        addr,
        path,
        dns_cached,
        tls,
    })
}

/// Splits `http[s]://host[:port][/path]` into TLS or not, host, port (the scheme's
/// default when not given) and path (fragment dropped), or says what is wrong with it.
pub(crate) fn split_url(url: &str) -> Result<(bool, String, u16, String), String> {
    let (tls, rest) = match url.split_once("://") {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => (false, rest),
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("https") => (true, rest),
        Some((scheme, _)) => return Err(format!("scheme '{scheme}' is not http or https")),
        None => return Err("no scheme".into()),
    };
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) if rest.as_bytes()[i] == b'/' => (&rest[..i], rest[i..].to_string()),
        Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
        None => (rest, "/".to_string()),
    };
    if authority.contains('@') {
        return Err("user info is not supported".into());
    }
    let (host, port) =
        split_host_port(authority, if tls { 443 } else { 80 }).ok_or("bad host or port")?;
    if host.is_empty() {
        return Err("empty host".into());
    }
    // The host becomes the Host header (and a --resolve or dnscache name need not
    // resolve): a space or control byte in it would split the request.
    if host.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err("the host contains spaces or control characters".into());
    }
    let path = check_path(&path)?;
    Ok((tls, host, port, path))
}

/// A request path as sent: no spaces or control characters; a fragment is dropped.
pub(crate) fn check_path(path: &str) -> Result<String, String> {
    if path.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err("the path contains spaces or control characters".into());
    }
    Ok(match path.split_once('#') {
        Some((p, _)) => p.to_string(),
        None => path.to_string(),
    })
}

/// Resolves `host` before the run: from `dnscache` (LoadGen's table: name -> IP) if it is
/// there, else from the system resolver. Returns the address and whether the table gave it.
pub(crate) fn resolve_host(
    host: &str,
    port: u16,
    dnscache: &std::collections::BTreeMap<String, std::net::IpAddr>,
) -> Option<(SocketAddr, bool)> {
    if let Some(ip) = dnscache.get(&host.to_ascii_lowercase()) {
        return Some((SocketAddr::new(*ip, port), true));
    }
    (host, port)
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .map(|a| (a, false))
}

/// `host[:port]` or `[v6][:port]`, with `default_port` when none is given.
pub(crate) fn split_host_port(authority: &str, default_port: u16) -> Option<(String, u16)> {
    if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().ok()?,
            None if after.is_empty() => default_port,
            None => return None,
        };
        return Some((host.to_string(), port));
    }
    match authority.rsplit_once(':') {
        Some((host, port)) => Some((host.to_string(), port.parse().ok()?)),
        None => Some((authority.to_string(), default_port)),
    }
}

/// The TLS settings of `--cacert --insecure --cert --key --no-tls-resume`, over `base`
/// (a run file's): flags add CA files and can only turn verification and resumption off.
pub(crate) fn tls_spec(
    args: &crate::cli::TlsArgs,
    base: crate::spec::TlsSpec,
) -> crate::spec::TlsSpec {
    let mut t = base;
    t.cacert.extend(args.cacert.iter().cloned());
    t.insecure |= args.insecure;
    if args.cert.is_some() {
        t.cert.clone_from(&args.cert);
        t.key.clone_from(&args.key);
    }
    t.resume &= !args.no_tls_resume;
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn resolve_args(args: &[&str]) -> Result<Command, ConfigError> {
        let cli = Cli::try_parse_from(std::iter::once("volley").chain(args.iter().copied()))?;
        resolve(cli)
    }

    fn run(args: &[&str]) -> RunSpec {
        match resolve_args(args).unwrap() {
            Command::Run(spec) => spec,
            other => panic!("{other:?}"),
        }
    }

    fn invalid_flag(args: &[&str]) -> &'static str {
        match resolve_args(args) {
            Err(ConfigError::Invalid { flag, .. }) => flag,
            other => panic!("{args:?}: {other:?}"),
        }
    }

    #[test]
    fn urls() {
        let t = parse_url("http://127.0.0.1:8080/small?x=1").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.path.as_str()),
            ("127.0.0.1", 8080, "/small?x=1")
        );
        assert_eq!(t.host_header(), "127.0.0.1:8080");
        let t = parse_url("http://[::1]:81").unwrap();
        assert_eq!((t.host.as_str(), t.port, t.path.as_str()), ("::1", 81, "/"));
        assert_eq!(t.host_header(), "[::1]:81");
        assert_eq!(parse_url("http://localhost/a#frag").unwrap().path, "/a");
        assert_eq!(parse_url("http://127.0.0.1?q").unwrap().path, "/?q");
        let over: crate::values::ResolveArg = "Staging.Example:8443:127.0.0.9".parse().unwrap();
        let t = parse_url_resolving(
            "https://staging.example:8443/x",
            std::slice::from_ref(&over),
        )
        .unwrap();
        assert_eq!(
            (t.addr.to_string(), t.dns_cached),
            ("127.0.0.9:8443".into(), true)
        );
        assert_eq!(t.host_header(), "staging.example:8443");
        assert!(
            parse_url_resolving("https://staging.example:9443/x", &[over]).is_err(),
            "another port is not overridden (and the name does not resolve)"
        );
        for bad in ["nohost", "h:0:127.0.0.1", "h:80:notip", ":80:127.0.0.1"] {
            assert!(bad.parse::<crate::values::ResolveArg>().is_err(), "{bad}");
        }
        assert_eq!(
            "h:443:[::1]"
                .parse::<crate::values::ResolveArg>()
                .unwrap()
                .addr,
            std::net::IpAddr::from(std::net::Ipv6Addr::LOCALHOST)
        );
        let t = parse_url("https://127.0.0.1/s").unwrap();
        assert_eq!(
            (t.tls, t.port, t.host_header()),
            (true, 443, "127.0.0.1".into())
        );
        assert_eq!(t.url(), "https://127.0.0.1/s");
        let t = parse_url("HTTPS://127.0.0.1:8443").unwrap();
        assert_eq!(t.host_header(), "127.0.0.1:8443");
        for bad in [
            "127.0.0.1:80/",
            "ftp://h/",
            "http://:80/",
            "http://127.0.0.1:99999/",
            "http://u@127.0.0.1/",
            "http://127.0.0.1/a b",
        ] {
            assert!(
                matches!(
                    parse_url(bad),
                    Err(ConfigError::Invalid { flag: "URL", .. })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn an_endless_body_file_is_refused_at_the_cap() {
        let err = resolve_args(&["http://127.0.0.1:1/", "--body", "@/dev/zero"]).unwrap_err();
        assert!(
            matches!(err, ConfigError::File { flag: "--body", .. }),
            "{err:?}"
        );
        let msg = err.to_string();
        assert!(msg.contains("--body") && msg.contains("/dev/zero"), "{msg}");
        assert!(msg.contains("64 MiB"), "{msg}");
        assert_eq!(err.exit_code(), 2);
    }

    #[test]
    fn url_credentials_are_never_shown() {
        for url in [
            "http://user:secret@127.0.0.1:1/",
            "https://user:secret@127.0.0.1/x",
            "http://user:secret@127.0.0.1",
        ] {
            let err = parse_url(url).unwrap_err().to_string();
            assert!(err.contains("user info is not supported"), "{err}");
            assert!(err.contains("user:***@127.0.0.1"), "{err}");
            assert!(!err.contains("secret"), "{err}");
        }
        let err = parse_url("http://secret@127.0.0.1/")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("http://***@127.0.0.1/") && !err.contains("secret"),
            "{err}"
        );
        let err = parse_url("http://127.0.0.1\r\nX: y/")
            .unwrap_err()
            .to_string();
        assert!(err.contains("\\x0d\\x0a") && !err.contains('\r'), "{err:?}");
    }

    #[test]
    fn a_host_with_control_bytes_is_refused_before_resolving() {
        let err = parse_url("http://h\x01/").unwrap_err().to_string();
        assert!(err.contains("control characters"), "{err}");
    }

    #[test]
    fn defaults() {
        let spec = run(&["http://127.0.0.1:1/"]);
        assert_eq!(spec.concurrency, 10);
        assert!(spec.workers >= 1 && spec.workers <= 10);
        assert_eq!(spec.limit, Limit::Duration(DEFAULT_DURATION));
        assert_eq!(
            spec.ramp,
            RampUp {
                start: 10,
                duration: Duration::ZERO
            }
        );
        let t30 = Some(Duration::from_secs(30));
        assert_eq!(
            spec.timeouts,
            Timeouts {
                connect: t30,
                send: t30,
                first_byte: t30,
                idle: None,
                reply: t30
            }
        );
        assert!(!spec.seed_given);
    }

    #[test]
    fn workers_clamped_to_concurrency_by_default_but_not_when_asked() {
        assert_eq!(run(&["http://127.0.0.1:1/", "-c", "1"]).workers, 1);
        assert_eq!(
            invalid_flag(&["http://127.0.0.1:1/", "-c", "2", "-w", "3"]),
            "--workers"
        );
        assert_eq!(
            invalid_flag(&["http://127.0.0.1:1/", "-w", "0"]),
            "--workers"
        );
        assert_eq!(
            invalid_flag(&["http://127.0.0.1:1/", "-c", "0"]),
            "--concurrency"
        );
    }

    #[test]
    fn requests_split_exactly() {
        let spec = run(&["http://127.0.0.1:1/", "-c", "3", "-w", "3", "-n", "10"]);
        let split: Vec<_> = (0..3)
            .map(|w| spec.requests_for_worker(w).unwrap())
            .collect();
        assert_eq!(split, [4, 3, 3]);
        let slots: Vec<_> = spec.slots_of_worker(1).collect();
        assert_eq!(slots, [1]);
        let spec = run(&["http://127.0.0.1:1/", "-c", "7", "-w", "3"]);
        assert_eq!(spec.slots_of_worker(0).collect::<Vec<_>>(), [0, 3, 6]);
        assert_eq!(spec.slots_of_worker(2).collect::<Vec<_>>(), [2, 5]);
    }

    #[test]
    fn ramp_rules() {
        let spec = run(&["http://127.0.0.1:1/", "-c", "8", "--ramp-duration", "2s"]);
        assert_eq!(
            spec.ramp,
            RampUp {
                start: 1,
                duration: Duration::from_secs(2)
            }
        );
        assert_eq!(
            invalid_flag(&["http://127.0.0.1:1/", "-c", "2", "--ramp-start", "3"]),
            "--ramp-start"
        );
        assert_eq!(
            invalid_flag(&["http://127.0.0.1:1/", "--ramp-start", "0"]),
            "--ramp-start"
        );
    }

    #[test]
    fn reply_limits_are_overridable_within_bounds() {
        let bad = |args: &[&str]| invalid_flag(&[&["http://127.0.0.1:1/"], args].concat());
        assert_eq!(bad(&["--max-headers", "1001"]), "--max-headers");
        assert_eq!(bad(&["--max-headers", "0"]), "--max-headers");
        assert_eq!(bad(&["--max-head-bytes", "10"]), "--max-head-bytes");
        let spec = run(&[
            "http://127.0.0.1:1/",
            "--max-headers",
            "500",
            "--max-trailer-bytes",
            "0",
        ]);
        assert_eq!((spec.limits.headers, spec.limits.trailer_bytes), (500, 0));
        assert_eq!(run(&["http://127.0.0.1:1/"]).limits, ReplyLimits::default());
    }

    #[test]
    fn other_values() {
        assert_eq!(
            invalid_flag(&["http://127.0.0.1:1/", "-n", "0"]),
            "--requests"
        );
        assert_eq!(
            invalid_flag(&["http://127.0.0.1:1/", "-d", "0s"]),
            "--duration"
        );
        assert_eq!(
            invalid_flag(&["http://127.0.0.1:1/", "-m", "GE T"]),
            "--method"
        );
        assert_eq!(
            invalid_flag(&["http://127.0.0.1:1/", "--run-name", "a/b"]),
            "--run-name"
        );
        assert_eq!(invalid_flag(&[]), "URL");
        assert!(matches!(
            resolve_args(&["http://127.0.0.1:1/", "--body", "@/nonexistent/x"]),
            Err(ConfigError::File { flag: "--body", .. })
        ));
        assert_eq!(
            run(&["http://127.0.0.1:1/", "--body", "@/dev/null"]).requests[0].body,
            b""
        );
        let spec = run(&[
            "http://127.0.0.1:1/",
            "--seed",
            "7",
            "--timeout",
            "never",
            "--run-name",
            "x",
        ]);
        assert_eq!((spec.seed, spec.seed_given), (7, true));
        assert_eq!(spec.timeouts, Timeouts::default());
        assert_eq!(spec.run_name.as_deref(), Some("volley-x"));
    }

    #[test]
    fn timeout_flags_default_to_what_timeout_implies() {
        let spec = run(&[
            "http://127.0.0.1:1/",
            "--timeout",
            "2s",
            "--think-timeout",
            "1s",
        ]);
        let s = |n| Some(Duration::from_secs(n));
        assert_eq!(
            spec.timeouts,
            Timeouts {
                connect: s(2),
                send: s(2),
                first_byte: s(3),
                idle: None,
                reply: s(3)
            }
        );
        let spec = run(&[
            "http://127.0.0.1:1/",
            "--timeout",
            "never",
            "--connect-timeout",
            "1s",
            "--idle-timeout",
            "500ms",
        ]);
        assert_eq!(spec.timeouts.connect, s(1));
        assert_eq!(spec.timeouts.idle, Some(Duration::from_millis(500)));
        assert_eq!((spec.timeouts.send, spec.timeouts.reply), (None, None));
        let spec = run(&["http://127.0.0.1:1/", "--first-byte-timeout", "never"]);
        assert_eq!(
            (spec.timeouts.first_byte, spec.timeouts.reply),
            (None, s(30))
        );
    }

    #[test]
    fn demo_and_top() {
        match resolve_args(&["demo"]).unwrap() {
            Command::Demo(spec) => assert_eq!(spec.limit, Limit::Duration(DEMO_DURATION)),
            other => panic!("{other:?}"),
        }
        match resolve_args(&["top", "--interval", "1ms"]) {
            Err(ConfigError::Invalid {
                flag: "--interval", ..
            }) => {}
            other => panic!("{other:?}"),
        }
    }
}
