//! Run files: a TOML description of a LoadGen-style workload → [`RunSpec`].
//!
//! ```toml
//! workers = 3                                   # LoadGen's NWorker
//! ramp_up = { start = 2, max = 13, duration = "5s" }
//! times = 3                                     # rounds of the URL list per slot
//! iterator = "random_start"                     # default | random_start | follow | random_start_follow
//! seed = 42
//! dnscache = { "app.test" = "127.0.0.1" }
//! defaults = { keepalive = "both", predelay = "50ms", prejitter = "100ms" }
//!
//! [[request]]
//! method = "HUGO"
//! url = "http://app.test:8080/"
//! body = "blablub"
//! ```
//!
//! Every key is checked: an unknown key, a bad duration, URL, method, header or iterator
//! name is a [`ConfigError::RunFile`] naming the file, line and column. Flags given to
//! `volley run FILE` override the file.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::ops::Range;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::cli::RunArgs;
use crate::error::ConfigError;
use crate::resolve::{
    MAX_CONCURRENCY, MAX_WORKERS, check_method, check_path, check_run_name, default_workers,
    log_spec, open_loop, resolve_host, seed, split_url,
};
use crate::spec::{
    DEFAULT_MAX_REDIRECTS, Delay, IteratorKind, KeepAlive, Limit, OutputSpec, RampUp, ReplyLimits,
    RequestSpec, RunSpec, Target, Timeouts,
};
use crate::values::{DURATION_SYNTAX, is_token, parse_duration};

/// Default watchdog of a run file request (as `--timeout`'s default).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Slots of a run file that gives no `ramp_up.max` (as `-c`'s default).
pub const DEFAULT_SLOTS: u32 = 10;
/// Most entries in a URL list.
pub const MAX_REQUESTS: usize = 100_000;

/// The top level of a run file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    workers: Option<Spanned<i64>>,
    ramp_up: Option<RampFile>,
    times: Option<Spanned<i64>>,
    duration: Option<Spanned<DurationValue>>,
    seed: Option<Spanned<i64>>,
    iterator: Option<Spanned<String>>,
    max_redirects: Option<Spanned<i64>>,
    follow_cross_origin: Option<bool>,
    rate: Option<Spanned<f64>>,
    period: Option<Spanned<String>>,
    calls: Option<Spanned<i64>>,
    log: Option<Spanned<String>>,
    log_format: Option<Spanned<String>>,
    run_name: Option<Spanned<String>>,
    cacert: Option<Spanned<StringOrList>>,
    insecure: Option<bool>,
    cert: Option<Spanned<String>>,
    key: Option<Spanned<String>>,
    tls_resume: Option<bool>,
    #[serde(default)]
    dnscache: BTreeMap<String, Spanned<String>>,
    #[serde(default)]
    defaults: Params,
    #[serde(default)]
    request: Vec<Spanned<Params>>,
}

/// One string or a list of them (`cacert = "ca.pem"` or `cacert = ["a.pem", "b.pem"]`).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum StringOrList {
    One(String),
    Many(Vec<String>),
}

/// `ramp_up = { start, max, duration }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RampFile {
    start: Option<Spanned<i64>>,
    max: Option<Spanned<i64>>,
    duration: Option<Spanned<DurationValue>>,
}

/// A request entry, or the `defaults` every entry starts from.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    method: Option<Spanned<String>>,
    url: Option<Spanned<String>>,
    scheme: Option<Spanned<String>>,
    host: Option<Spanned<String>>,
    port: Option<Spanned<i64>>,
    uri: Option<Spanned<String>>,
    keepalive: Option<Spanned<String>>,
    predelay: Option<Spanned<DurationValue>>,
    prejitter: Option<Spanned<DurationValue>>,
    postdelay: Option<Spanned<DurationValue>>,
    postjitter: Option<Spanned<DurationValue>>,
    headers: Option<Spanned<Vec<Spanned<HeaderValue>>>>,
    body: Option<Spanned<String>>,
    timeout: Option<Spanned<DurationValue>>,
    conn_timeout: Option<Spanned<DurationValue>>,
}

impl Params {
    /// `self` with every key it lacks taken from `defaults`.
    /// A request's `url` replaces the defaults' scheme/host/port/uri, and its
    /// scheme/host/port/uri replace the defaults' `url`.
    fn or(self, defaults: &Params) -> Params {
        let mut d = defaults.clone();
        if self.url.is_some() {
            (d.scheme, d.host, d.port, d.uri) = (None, None, None, None);
        }
        if self.scheme.is_some() || self.host.is_some() || self.port.is_some() || self.uri.is_some()
        {
            d.url = None;
        }
        Params {
            method: self.method.or(d.method),
            url: self.url.or(d.url),
            scheme: self.scheme.or(d.scheme),
            host: self.host.or(d.host),
            port: self.port.or(d.port),
            uri: self.uri.or(d.uri),
            keepalive: self.keepalive.or(d.keepalive),
            predelay: self.predelay.or(d.predelay),
            prejitter: self.prejitter.or(d.prejitter),
            postdelay: self.postdelay.or(d.postdelay),
            postjitter: self.postjitter.or(d.postjitter),
            headers: self.headers.or(d.headers),
            body: self.body.or(d.body),
            timeout: self.timeout.or(d.timeout),
            conn_timeout: self.conn_timeout.or(d.conn_timeout),
        }
    }
}

/// A duration: a string with a unit (`"500ms"`), or a number of seconds (LoadGen's
/// fractions: `0.5`).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum DurationValue {
    Seconds(f64),
    Text(String),
}

/// A header: `"Name: value"` or `["Name", "value"]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum HeaderValue {
    Line(String),
    Pair(Vec<String>),
}

/// Reads and checks the run file named in `args`, then applies `args`' overrides.
///
/// # Errors
///
/// [`ConfigError::File`] when the file cannot be read, [`ConfigError::RunFile`] (file, line,
/// column) for a syntax error or a rejected value, [`ConfigError::Invalid`] for a rejected
/// flag.
pub fn load(args: RunArgs) -> Result<RunSpec, ConfigError> {
    load_with(args, &[])
}

/// [`load`], where `extra` names the custom iterators a hook program registered.
///
/// # Errors
///
/// As [`load`].
pub fn load_with(args: RunArgs, extra: &[&str]) -> Result<RunSpec, ConfigError> {
    let text = crate::files::read_capped(
        &args.file,
        crate::files::MAX_RUN_FILE_BYTES,
        crate::files::RUN_FILE,
    )
    .and_then(|bytes| {
        String::from_utf8(bytes).map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::InvalidData, "it is not UTF-8 text")
        })
    })
    .map_err(|source| ConfigError::File {
        flag: "run",
        path: args.file.display().to_string(),
        source,
    })?;
    let base = args.file.parent().unwrap_or(Path::new("."));
    let at = Locator {
        path: args.file.display().to_string(),
        text: &text,
    };
    let file: File = toml::from_str(&text).map_err(|e| {
        let span = e.span().unwrap_or(0..0);
        at.error(span, e.message().trim_end().to_string())
    })?;
    build(file, &args, &at, base, extra)
}

/// Turns byte spans into `file:line:column` errors.
struct Locator<'a> {
    path: String,
    text: &'a str,
}

impl Locator<'_> {
    fn error(&self, span: Range<usize>, message: impl Into<String>) -> ConfigError {
        let start = span.start.min(self.text.len());
        let before = &self.text[..start];
        let line = before.matches('\n').count() + 1;
        let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
        let message: String = message.into();
        ConfigError::run_file(self.path.clone(), line, column, &message)
    }

    fn count<T: TryFrom<i64>>(
        &self,
        v: &Spanned<i64>,
        key: &str,
        range: Range<i64>,
    ) -> Result<T, ConfigError> {
        let n = *v.get_ref();
        if !range.contains(&n) {
            return Err(self.error(
                v.span(),
                format!(
                    "{key} = {n} is out of range: {} to {}",
                    range.start,
                    range.end - 1
                ),
            ));
        }
        T::try_from(n).map_err(|_| self.error(v.span(), format!("{key} = {n} is out of range")))
    }

    fn duration(&self, v: &Spanned<DurationValue>, key: &str) -> Result<Duration, ConfigError> {
        let bad = |why: String| self.error(v.span(), format!("{key}: {why}"));
        match v.get_ref() {
            DurationValue::Seconds(s) if s.is_finite() && (0.0..=1e9).contains(s) => {
                Ok(Duration::from_secs_f64(*s))
            }
            DurationValue::Seconds(s) => Err(bad(format!(
                "{s} is not a duration; expected {DURATION_SYNTAX}"
            ))),
            DurationValue::Text(t) => parse_duration(t).map_err(bad),
        }
    }

    fn timeout(
        &self,
        v: &Spanned<DurationValue>,
        key: &str,
    ) -> Result<Option<Duration>, ConfigError> {
        if let DurationValue::Text(t) = v.get_ref()
            && t.trim().eq_ignore_ascii_case("never")
        {
            return Ok(None);
        }
        let d = self.duration(v, key)?;
        if d.is_zero() {
            return Err(self.error(
                v.span(),
                format!("{key}: a timeout must be positive, or \"never\""),
            ));
        }
        Ok(Some(d))
    }
}

fn build(
    file: File,
    args: &RunArgs,
    at: &Locator<'_>,
    base: &Path,
    extra: &[&str],
) -> Result<RunSpec, ConfigError> {
    let mut dnscache = BTreeMap::new();
    for (name, ip) in &file.dnscache {
        let addr: IpAddr = ip.get_ref().parse().map_err(|_| {
            at.error(
                ip.span(),
                format!(
                    "dnscache: '{}' for '{name}' is not an IP address",
                    ip.get_ref()
                ),
            )
        })?;
        dnscache.insert(name.to_ascii_lowercase(), addr);
    }
    if file.request.is_empty() {
        return Err(at.error(
            at.text.len()..at.text.len(),
            "no [[request]] entries: the URL list needs at least one",
        ));
    }
    if file.request.len() > MAX_REQUESTS {
        return Err(at.error(
            file.request[MAX_REQUESTS].span(),
            format!("more than {MAX_REQUESTS} [[request]] entries"),
        ));
    }
    let tls = file_tls(&file, base, at)?;
    let mut requests = Vec::with_capacity(file.request.len());
    for entry in file.request {
        let span = entry.span();
        let params = entry.into_inner().or(&file.defaults);
        requests.push(request(
            params,
            span,
            at,
            base,
            &dnscache,
            &args.tls.resolve,
        )?);
    }

    // Slots and workers: flags, then the file, then defaults.
    let ramp_file = file.ramp_up.as_ref();
    let file_max = match ramp_file.and_then(|r| r.max.as_ref()) {
        Some(v) => Some(at.count::<u32>(v, "ramp_up.max", 1..i64::from(MAX_CONCURRENCY) + 1)?),
        None => None,
    };
    let file_start = match ramp_file.and_then(|r| r.start.as_ref()) {
        Some(v) => Some(at.count::<u32>(v, "ramp_up.start", 0..i64::from(MAX_CONCURRENCY) + 1)?),
        None => None,
    };
    let file_ramp_duration = match ramp_file.and_then(|r| r.duration.as_ref()) {
        Some(v) => Some(at.duration(v, "ramp_up.duration")?),
        None => None,
    };
    let concurrency = match args.concurrency {
        Some(c) if !(1..=MAX_CONCURRENCY).contains(&c) => {
            return Err(ConfigError::invalid(
                "--concurrency",
                c,
                format!("1 to {MAX_CONCURRENCY}"),
            ));
        }
        Some(c) => c,
        None => file_max
            .or(file_start.filter(|&s| s > 0))
            .unwrap_or(DEFAULT_SLOTS),
    };
    let ramp_duration = args
        .ramp_duration
        .map(|d| d.0)
        .or(file_ramp_duration)
        .unwrap_or(Duration::ZERO);
    let start = match (args.ramp_start, file_start) {
        (Some(s), _) if s > concurrency => {
            return Err(ConfigError::invalid(
                "--ramp-start",
                s,
                format!("at most the slots ({concurrency})"),
            ));
        }
        (Some(s), _) => s,
        // A smaller -c than the file's ramp_up.max: start at most that many.
        (None, Some(s)) if s > concurrency && args.concurrency.is_some() => concurrency,
        (None, Some(s)) if s > concurrency => {
            let v = ramp_file.and_then(|r| r.start.as_ref()).expect("given");
            return Err(at.error(
                v.span(),
                format!("ramp_up.start = {s} is more than ramp_up.max ({concurrency})"),
            ));
        }
        (None, Some(s)) => s,
        (None, None) if ramp_duration.is_zero() => concurrency,
        (None, None) => 1,
    };
    if start == 0 && ramp_duration.is_zero() {
        return Err(ConfigError::invalid(
            "ramp_up.start",
            0,
            "at least 1 unless ramp_up.duration is given",
        ));
    }
    let workers = match (args.workers, &file.workers) {
        (Some(w), _) => {
            if !(1..=MAX_WORKERS).contains(&w) || w > concurrency {
                return Err(ConfigError::invalid(
                    "--workers",
                    w,
                    format!("1 to {}", MAX_WORKERS.min(concurrency)),
                ));
            }
            w
        }
        (None, Some(v)) => {
            let w: u32 = at.count(v, "workers", 1..i64::from(MAX_WORKERS) + 1)?;
            if w > concurrency {
                return Err(at.error(
                    v.span(),
                    format!("workers = {w} is more than the slots ({concurrency}): every worker needs a slot"),
                ));
            }
            w
        }
        (None, None) => default_workers().min(concurrency),
    };

    // What ends the run.
    let times = match (args.times, &file.times) {
        (Some(t), _) => t,
        (None, Some(v)) => at.count(v, "times", 0..i64::MAX)?,
        (None, None) => 0,
    };
    let rounds = (times > 0).then_some(times);
    let duration = match (args.duration, &file.duration) {
        (Some(d), _) if d.0.is_zero() => {
            return Err(ConfigError::invalid("--duration", d, "a positive duration"));
        }
        (Some(d), _) => Some(d.0),
        (None, Some(v)) => {
            let d = at.duration(v, "duration")?;
            if d.is_zero() {
                return Err(at.error(v.span(), "duration must be positive"));
            }
            Some(d)
        }
        (None, None) => None,
    };
    let limit = match (args.requests, duration) {
        (Some(0), _) => return Err(ConfigError::invalid("--requests", 0, "at least 1")),
        (Some(n), _) => Limit::Requests(n),
        (None, Some(d)) => Limit::Duration(d),
        (None, None) => Limit::Rounds,
    };

    let known = || {
        IteratorKind::NAMES
            .iter()
            .chain(extra)
            .copied()
            .collect::<Vec<_>>()
            .join(", ")
    };
    let name = match (&args.iterator, &file.iterator) {
        (Some(name), _) => {
            if IteratorKind::from_name(name).is_none() && !extra.contains(&name.as_str()) {
                return Err(ConfigError::invalid("--iterator", name, known()));
            }
            Some(name.as_str())
        }
        (None, Some(v)) => {
            let name = v.get_ref().as_str();
            if IteratorKind::from_name(name).is_none() && !extra.contains(&name) {
                return Err(at.error(
                    v.span(),
                    format!("unknown iterator '{name}'; known: {}", known()),
                ));
            }
            Some(name)
        }
        (None, None) => None,
    };
    let (iterator, custom_iterator) = match name.map(|n| (n, IteratorKind::from_name(n))) {
        None => (IteratorKind::Default, None),
        Some((_, Some(kind))) => (kind, None),
        Some((n, None)) => (IteratorKind::Default, Some(n.to_string())),
    };
    let max_redirects = match &file.max_redirects {
        Some(v) => at.count(v, "max_redirects", 0..1001)?,
        None => DEFAULT_MAX_REDIRECTS,
    };
    let given_seed = match (args.seed, &file.seed) {
        (Some(s), _) => Some(s),
        (None, Some(v)) => Some(at.count::<u64>(v, "seed", 0..i64::MAX)?),
        (None, None) => None,
    };
    let (seed, seed_given) = seed(given_seed);
    let log_path = args
        .log
        .clone()
        .or_else(|| file.log.as_ref().map(|v| base.join(v.get_ref())));
    let log_format = match (&args.log_format, &file.log_format) {
        (Some(f), _) => Some(f.as_str()),
        (None, Some(v)) if !matches!(v.get_ref().as_str(), "csv" | "jsonl") => {
            return Err(at.error(v.span(), "log_format: expected \"csv\" or \"jsonl\""));
        }
        (None, Some(v)) => Some(v.get_ref().as_str()),
        (None, None) => None,
    };
    let log = log_spec(log_path, log_format)?;
    let run_name = match (&args.run_name, &file.run_name) {
        (Some(n), _) => Some(n.clone()),
        (None, Some(v)) => Some(v.get_ref().clone()),
        (None, None) => None,
    };
    if let Some(n) = &run_name {
        check_run_name(n)?;
    }
    let file_rate = match &file.rate {
        Some(v) => Some(
            v.get_ref()
                .to_string()
                .parse::<crate::values::RateArg>()
                .map_err(|e| at.error(v.span(), format!("rate: {e}")))?,
        ),
        None => None,
    };
    let file_period = match &file.period {
        Some(v) if file.rate.is_some() => {
            return Err(at.error(v.span(), "give rate or period, not both"));
        }
        Some(v) => Some(
            v.get_ref()
                .parse::<crate::values::PeriodArg>()
                .map_err(|e| at.error(v.span(), format!("period: {e}")))?,
        ),
        None => None,
    };
    let file_calls = match &file.calls {
        Some(v) => Some(at.count::<u32>(v, "calls", 1..i64::from(u32::MAX))?),
        None => None,
    };
    let timeouts = requests[0].timeouts;
    let list_len = u32::try_from(requests.len()).unwrap_or(u32::MAX);
    Ok(RunSpec {
        requests,
        iterator,
        custom_iterator,
        rounds,
        max_redirects,
        follow_cross_origin: file.follow_cross_origin.unwrap_or(false),
        dnscache,
        workers,
        concurrency,
        ramp: RampUp {
            start,
            duration: ramp_duration,
        },
        limit,
        timeouts,
        limits: ReplyLimits::default(),
        seed,
        seed_given,
        output: OutputSpec {
            json: args.json,
            progress: !args.quiet,
        },
        run_name: run_name.map(|n| format!("volley-{n}")),
        open_loop: open_loop(
            args.open.rate.or(file_rate),
            args.open.period.clone().or(file_period),
            args.open.calls.or(file_calls),
            list_len,
            args.open.client,
            args.open.wake_per_reply,
        )?,
        conn_requests: None,
        pipeline: crate::resolve::pipeline(args.open.pipeline, iterator)?,
        log,
        run_file: Some(args.file.clone()),
        socket: Default::default(),
        print: Default::default(),
        tls: crate::resolve::tls_spec(&args.tls, tls),
    })
}

/// The run file's TLS keys (`cacert`, `insecure`, `cert`, `key`, `tls_resume`); paths
/// are relative to the run file.
fn file_tls(
    file: &File,
    base: &Path,
    at: &Locator<'_>,
) -> Result<crate::spec::TlsSpec, ConfigError> {
    let mut t = crate::spec::TlsSpec::default();
    if let Some(v) = &file.cacert {
        let list = match v.get_ref() {
            StringOrList::One(s) => vec![s.clone()],
            StringOrList::Many(l) => l.clone(),
        };
        if list.iter().any(|s| s.is_empty()) {
            return Err(at.error(v.span(), "cacert: expected PEM file names"));
        }
        t.cacert = list.iter().map(|s| base.join(s)).collect();
    }
    t.insecure = file.insecure.unwrap_or(false);
    match (&file.cert, &file.key) {
        (Some(c), Some(k)) => {
            t.cert = Some(base.join(c.get_ref()));
            t.key = Some(base.join(k.get_ref()));
        }
        (Some(v), None) | (None, Some(v)) => {
            return Err(at.error(v.span(), "give cert and key together"));
        }
        (None, None) => {}
    }
    t.resume = file.tls_resume.unwrap_or(true);
    Ok(t)
}

/// One `[[request]]` entry (with the defaults applied) → a [`RequestSpec`].
fn request(
    p: Params,
    span: Range<usize>,
    at: &Locator<'_>,
    base: &Path,
    dnscache: &BTreeMap<String, IpAddr>,
    overrides: &[crate::values::ResolveArg],
) -> Result<RequestSpec, ConfigError> {
    let method = match &p.method {
        Some(m) => {
            check_method("method", m.get_ref()).map_err(|_| {
                at.error(
                    m.span(),
                    format!(
                        "method '{}' is not an HTTP method token (GET, POST, HUGO, …)",
                        m.get_ref()
                    ),
                )
            })?;
            m.get_ref().clone()
        }
        None => "GET".to_string(),
    };
    let (tls, host, port, path, where_) = match (&p.url, &p.host) {
        (Some(url), None) => {
            if let Some(k) = [&p.scheme, &p.uri].into_iter().flatten().next() {
                return Err(at.error(
                    k.span(),
                    "give either url or scheme/host/port/uri, not both",
                ));
            }
            if let Some(port) = &p.port {
                return Err(at.error(
                    port.span(),
                    "give either url or scheme/host/port/uri, not both",
                ));
            }
            let (tls, h, port, path) = split_url(url.get_ref()).map_err(|why| {
                at.error(
                    url.span(),
                    format!(
                        "bad url '{}': {why}; expected http[s]://host[:port][/path]",
                        url.get_ref()
                    ),
                )
            })?;
            (tls, h, port, path, url.span())
        }
        (Some(_), Some(h)) => {
            return Err(at.error(
                h.span(),
                "give either url or scheme/host/port/uri, not both",
            ));
        }
        (None, Some(h)) => {
            let tls = match &p.scheme {
                None => false,
                Some(s) if s.get_ref().eq_ignore_ascii_case("http") => false,
                Some(s) if s.get_ref().eq_ignore_ascii_case("https") => true,
                Some(s) => {
                    return Err(at.error(
                        s.span(),
                        format!(
                            "scheme '{}' is not supported; expected \"http\" or \"https\"",
                            s.get_ref()
                        ),
                    ));
                }
            };
            let host = h
                .get_ref()
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string();
            // The host becomes the Host header: no spaces or control bytes; and no user
            // info, whose password the message masks.
            if host.is_empty()
                || host.contains(['/', '@', '?', '#'])
                || host.bytes().any(|b| b <= b' ' || b == 0x7f)
            {
                return Err(at.error(
                    h.span(),
                    format!(
                        "bad host '{}'; expected a host name or IP address (no user info, \
                         spaces or control characters)",
                        crate::redact::mask_authority(h.get_ref())
                    ),
                ));
            }
            let port = match &p.port {
                Some(v) => at.count(v, "port", 1..65536)?,
                None if tls => 443,
                None => 80,
            };
            let uri = match &p.uri {
                Some(u) if !u.get_ref().starts_with('/') => {
                    return Err(at.error(u.span(), "uri must start with '/'"));
                }
                Some(u) => check_path(u.get_ref()).map_err(|why| at.error(u.span(), why))?,
                None => "/".to_string(),
            };
            (tls, host, port, uri, h.span())
        }
        (None, None) => {
            return Err(at.error(span, "a request needs url, or host (with port and uri)"));
        }
    };
    let given = overrides
        .iter()
        .find(|r| r.port == port && r.host.eq_ignore_ascii_case(&host))
        .map(|r| (std::net::SocketAddr::new(r.addr, port), true));
    let (addr, dns_cached) = match given {
        Some(a) => a,
        None => resolve_host(&host, port, dnscache).ok_or_else(|| {
            at.error(
                where_.clone(),
                format!("host '{host}' does not resolve (add it to dnscache?)"),
            )
        })?,
    };
    let target = Target {
        host,
        port,
        addr,
        path,
        dns_cached,
        tls,
    };
    let keepalive = match &p.keepalive {
        Some(v) => KeepAlive::from_name(v.get_ref()).ok_or_else(|| {
            at.error(
                v.span(),
                format!(
                    "keepalive '{}': expected \"use\", \"store\", \"both\" or \"none\"",
                    v.get_ref()
                ),
            )
        })?,
        None => KeepAlive::BOTH,
    };
    let delay = |d: &Option<Spanned<DurationValue>>, key: &str| match d {
        Some(v) => at.duration(v, key),
        None => Ok(Duration::ZERO),
    };
    let pre = Delay {
        delay: delay(&p.predelay, "predelay")?,
        jitter: delay(&p.prejitter, "prejitter")?,
    };
    let post = Delay {
        delay: delay(&p.postdelay, "postdelay")?,
        jitter: delay(&p.postjitter, "postjitter")?,
    };
    let mut headers = Vec::new();
    if let Some(list) = &p.headers {
        for h in list.get_ref() {
            let (name, value) = match h.get_ref() {
                HeaderValue::Line(line) => match line.split_once(':') {
                    Some((n, v)) => (n.to_string(), v.to_string()),
                    None => {
                        return Err(at.error(
                            h.span(),
                            format!("header '{line}' has no ':'; expected \"Name: value\""),
                        ));
                    }
                },
                HeaderValue::Pair(pair) if pair.len() == 2 => (pair[0].clone(), pair[1].clone()),
                HeaderValue::Pair(_) => {
                    return Err(at.error(
                        h.span(),
                        "a header is \"Name: value\" or [\"Name\", \"value\"]",
                    ));
                }
            };
            if !is_token(&name) {
                return Err(at.error(h.span(), format!("'{name}' is not a valid header name")));
            }
            crate::values::check_field_value(&name, &value).map_err(|e| at.error(h.span(), e))?;
            headers.push((name, value.trim().to_string()));
        }
    }
    let body = match &p.body {
        Some(v) => match v.get_ref().strip_prefix('@') {
            Some(file) => {
                let path = base.join(file);
                crate::files::read_capped(&path, crate::files::MAX_BODY_BYTES, crate::files::BODY)
                    .map_err(|e| {
                    at.error(
                        v.span(),
                        format!("body: cannot read {}: {e}", path.display()),
                    )
                })?
            }
            None => v.get_ref().as_bytes().to_vec(),
        },
        None => Vec::new(),
    };
    let timeout = match &p.timeout {
        Some(v) => at.timeout(v, "timeout")?,
        None => Some(DEFAULT_TIMEOUT),
    };
    let connect = match &p.conn_timeout {
        Some(v) => at.timeout(v, "conn_timeout")?,
        None => timeout,
    };
    Ok(RequestSpec {
        method,
        target,
        headers,
        body,
        keepalive,
        pre,
        post,
        timeouts: Timeouts {
            connect,
            send: timeout,
            first_byte: timeout,
            idle: None,
            reply: timeout,
        },
        version: Default::default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// Writes `text` to a fresh file and loads it with `args` (file filled in).
    fn load_text(text: &str, mut args: RunArgs) -> Result<RunSpec, ConfigError> {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("volley-runfile-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("run.toml");
        std::fs::File::create(&path)
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        args.file = path;
        let r = load(args);
        let _ = std::fs::remove_dir_all(&dir);
        r
    }

    fn ok(text: &str) -> RunSpec {
        load_text(text, RunArgs::default()).unwrap()
    }

    /// The (line, column, message) of a rejected file.
    fn err(text: &str) -> (usize, usize, String) {
        match load_text(text, RunArgs::default()) {
            Err(ConfigError::RunFile {
                line,
                column,
                message,
                path,
            }) => {
                assert!(path.ends_with("run.toml"), "{path}");
                (line, column, message)
            }
            other => panic!("{other:?}"),
        }
    }

    const MANUAL: &str = r#"
workers = 3
ramp_up = { start = 2, max = 13, duration = 5 }
times = 3
iterator = "random_start"
seed = 7
dnscache = { "localhost" = "127.0.0.1", "app.test" = "127.0.0.1" }
defaults = { keepalive = "both", predelay = 0.05, prejitter = 0.1, postdelay = 0.5, postjitter = 1 }

[[request]]
url = "http://app.test:8080/-redir"
headers = ["Authorization: Basic YmxhOmJsdWI=", ["X-Pair", "two"]]

[[request]]
method = "HUGO"
host = "localhost"
port = 8081
uri = "/"
body = "blablub"
keepalive = "none"
timeout = "2s"
conn_timeout = "never"
"#;

    #[test]
    fn the_manuals_example_translates() {
        let spec = ok(MANUAL);
        assert_eq!((spec.workers, spec.concurrency), (3, 13));
        assert_eq!(spec.ramp.start, 2);
        assert_eq!(spec.ramp.duration, Duration::from_secs(5));
        assert_eq!(spec.rounds, Some(3));
        assert_eq!(spec.limit, Limit::Rounds);
        assert_eq!(spec.iterator, IteratorKind::RandomStart);
        assert_eq!((spec.seed, spec.seed_given), (7, true));
        let [a, b] = &spec.requests[..] else {
            panic!("{:?}", spec.requests)
        };
        assert_eq!(a.method, "GET");
        assert_eq!(
            (
                a.target.host.as_str(),
                a.target.port,
                a.target.path.as_str()
            ),
            ("app.test", 8080, "/-redir")
        );
        assert!(a.target.dns_cached);
        assert_eq!(a.target.addr.to_string(), "127.0.0.1:8080");
        assert_eq!(
            a.headers,
            [
                (
                    "Authorization".to_string(),
                    "Basic YmxhOmJsdWI=".to_string()
                ),
                ("X-Pair".to_string(), "two".to_string())
            ]
        );
        assert_eq!(a.keepalive, KeepAlive::BOTH);
        assert_eq!(a.pre.delay, Duration::from_millis(50));
        assert_eq!(a.post.jitter, Duration::from_secs(1));
        assert_eq!(a.timeouts.reply, Some(DEFAULT_TIMEOUT));
        assert_eq!(b.method, "HUGO");
        assert_eq!(b.body, b"blablub");
        assert_eq!(b.keepalive, KeepAlive::NONE);
        assert_eq!(b.timeouts.reply, Some(Duration::from_secs(2)));
        assert_eq!(b.timeouts.connect, None);
        assert_eq!(b.target.addr.to_string(), "127.0.0.1:8081");
    }

    #[test]
    fn flags_override_the_file() {
        let args = RunArgs {
            workers: Some(2),
            concurrency: Some(4),
            times: Some(1),
            seed: Some(99),
            iterator: Some("follow".into()),
            requests: Some(50),
            ..RunArgs::default()
        };
        let spec = load_text(MANUAL, args).unwrap();
        assert_eq!((spec.workers, spec.concurrency, spec.ramp.start), (2, 4, 2));
        assert_eq!(spec.rounds, Some(1));
        assert_eq!(spec.seed, 99);
        assert_eq!(spec.iterator, IteratorKind::Follow);
        assert_eq!(spec.limit, Limit::Requests(50));
    }

    #[test]
    fn errors_name_the_line() {
        let (line, _, msg) =
            err("workers = 1\nbogus = 2\n[[request]]\nurl = \"http://127.0.0.1/\"\n");
        assert_eq!(line, 2, "{msg}");
        assert!(msg.contains("bogus"), "{msg}");
        let (line, _, msg) = err("[[request]]\nurl = \"http://127.0.0.1/\"\npredelay = \"soon\"\n");
        assert_eq!(line, 3);
        assert!(msg.contains("predelay") && msg.contains("soon"), "{msg}");
        let (line, _, msg) = err("[[request]]\nurl = \"ftp://127.0.0.1/\"\n");
        assert_eq!(line, 2);
        assert!(msg.contains("ftp"), "{msg}");
        let (line, col, msg) =
            err("iterator = \"sideways\"\n[[request]]\nurl = \"http://127.0.0.1/\"\n");
        assert_eq!((line, col), (1, 12));
        assert!(
            msg.contains("sideways") && msg.contains("random_start"),
            "{msg}"
        );
        let (line, _, msg) =
            err("[[request]]\nurl = \"http://127.0.0.1/\"\nkeepalive = \"always\"\n");
        assert_eq!(line, 3);
        assert!(msg.contains("always"), "{msg}");
        let (line, _, msg) = err("[[request]]\nurl = \"http://127.0.0.1/\"\nmethod = \"GE T\"\n");
        assert_eq!(line, 3, "{msg}");
        let (line, _, msg) =
            err("[[request]]\nurl = \"http://127.0.0.1/\"\nheaders = [\"NoColon\"]\n");
        assert_eq!(line, 3, "{msg}");
        let (line, _, msg) =
            err("[[request]]\nurl = \"http://127.0.0.1/\"\n[[request]]\nuri = \"/x\"\n");
        assert_eq!(line, 3, "{msg}");
        assert!(msg.contains("host"), "{msg}");
        let (line, _, msg) =
            err("dnscache = { a = \"not-ip\" }\n[[request]]\nurl = \"http://a/\"\n");
        assert_eq!(line, 1);
        assert!(msg.contains("not-ip"), "{msg}");
        let (line, _, msg) = err(
            "[[request]]\nurl = \"http://127.0.0.1/\"\n[[request]]\nurl = \"http://127.0.0.1/\"\ntimeout = 0\n",
        );
        assert_eq!(line, 5, "{msg}");
        let (line, _, msg) = err("workers = 1\n[[request\n");
        assert_eq!(line, 2, "{msg}");
        let (_, _, msg) = err("workers = 1\n");
        assert!(msg.contains("[[request]]"), "{msg}");
        let (line, _, msg) = err("workers = 0\n[[request]]\nurl = \"http://127.0.0.1/\"\n");
        assert_eq!(line, 1, "{msg}");
    }

    #[test]
    fn header_values_with_control_bytes_name_the_line() {
        let (line, _, msg) = err(
            "[[request]]\nurl = \"http://127.0.0.1/\"\nheaders = [\"X-Ok: a\tb\", \"X-Ctl: a\\u0001b\"]\n",
        );
        assert_eq!(line, 3, "{msg}");
        assert!(msg.contains("'X-Ctl'") && msg.contains("\\x01"), "{msg}");
        assert!(!msg.contains('\x01'), "{msg:?}");
        let (line, _, msg) = err(
            "[[request]]\nurl = \"http://127.0.0.1/\"\n\nheaders = [[\"X-Del\", \"a\\u007f\"]]\n",
        );
        assert_eq!(line, 4, "{msg}");
        assert!(msg.contains("\\x7f"), "{msg}");
        let spec = ok("[[request]]\nurl = \"http://127.0.0.1/\"\nheaders = [\"X-Tab: a\\tb \"]\n");
        assert_eq!(
            spec.requests[0].headers[0].1, "a\tb",
            "HTAB kept, ends trimmed"
        );
    }

    #[test]
    fn url_credentials_are_masked() {
        let (line, _, msg) = err("[[request]]\nurl = \"http://u:secret@127.0.0.1:1/\"\n");
        assert_eq!(line, 2, "{msg}");
        assert!(msg.contains("user info is not supported"), "{msg}");
        assert!(
            msg.contains("http://u:***@127.0.0.1:1/") && !msg.contains("secret"),
            "{msg}"
        );
        let (line, _, msg) = err("[[request]]\nhost = \"u:secret@127.0.0.1\"\n");
        assert_eq!(line, 2, "{msg}");
        assert!(
            msg.contains("u:***@127.0.0.1") && !msg.contains("secret"),
            "{msg}"
        );
        let (_, _, msg) = err("[[request]]\nhost = \"a\\rb\"\n");
        assert!(msg.contains("\\x0d"), "{msg}");
    }

    #[test]
    fn body_files_are_read_under_the_cap() {
        let (line, _, msg) =
            err("[[request]]\nurl = \"http://127.0.0.1/\"\nbody = \"@/dev/zero\"\n");
        assert_eq!(line, 3, "{msg}");
        assert!(
            msg.starts_with("body: ") && msg.contains("/dev/zero"),
            "{msg}"
        );
        assert!(msg.contains("64 MiB"), "{msg}");
    }

    #[test]
    fn a_run_file_over_its_cap_is_refused() {
        let dir = std::env::temp_dir().join(format!("volley-runfile-big-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("big.toml");
        // Sparse: no 16 MiB written.
        std::fs::File::create(&path)
            .unwrap()
            .set_len(crate::files::MAX_RUN_FILE_BYTES + 1)
            .unwrap();
        let r = load(RunArgs {
            file: path,
            ..RunArgs::default()
        });
        let _ = std::fs::remove_dir_all(&dir);
        let msg = match r {
            Err(e @ ConfigError::File { flag: "run", .. }) => e.to_string(),
            other => panic!("{other:?}"),
        };
        assert!(msg.contains("big.toml") && msg.contains("16 MiB"), "{msg}");
    }

    #[test]
    fn open_loop_keys() {
        let spec = ok("rate = 250\ncalls = 2\n[[request]]\nurl = \"http://127.0.0.1/\"\n");
        let o = spec.open_loop.unwrap();
        assert_eq!(
            o.arrival,
            crate::spec::Arrival::Deterministic {
                period_ns: 4_000_000
            }
        );
        assert_eq!(o.calls, 2);
        let spec = ok(
            "period = \"e0.01\"\n[[request]]\nurl = \"http://127.0.0.1/\"\n[[request]]\nurl = \"http://127.0.0.1/b\"\n",
        );
        assert_eq!(
            spec.open_loop.unwrap().calls,
            2,
            "a session walks the list once"
        );
        let (line, _, msg) = err("period = \"q1\"\n[[request]]\nurl = \"http://127.0.0.1/\"\n");
        assert_eq!(line, 1, "{msg}");
        let (line, _, msg) =
            err("rate = 5\nperiod = \"d1\"\n[[request]]\nurl = \"http://127.0.0.1/\"\n");
        assert_eq!(line, 2, "{msg}");
    }

    #[test]
    fn defaults_fill_what_a_request_lacks() {
        let spec = ok(r#"
defaults = { host = "127.0.0.1", port = 8080, headers = ["X-D: 1"], method = "POST" }
[[request]]
uri = "/a"
[[request]]
uri = "/b"
headers = ["X-R: 2"]
method = "PUT"
"#);
        assert_eq!(spec.requests[0].target.url(), "http://127.0.0.1:8080/a");
        assert_eq!(spec.requests[0].method, "POST");
        assert_eq!(spec.requests[0].headers[0].0, "X-D");
        assert_eq!(spec.requests[1].headers, [("X-R".into(), "2".into())]);
        assert_eq!(spec.requests[1].method, "PUT");
        assert_eq!(spec.limit, Limit::Rounds);
        assert_eq!(spec.rounds, None);
        assert_eq!(spec.concurrency, DEFAULT_SLOTS);
    }
}
