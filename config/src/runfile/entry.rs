//! One `[[request]]` entry (the run file's `defaults` already applied) → a URL-list entry.
//!
//! Every value is checked here, where its line is known: the method, the URL or
//! scheme/host/port/uri, the keep-alive mode, delays, header fields, the body and the
//! watchdogs. The host is resolved now (`--resolve`, then `dnscache`, then DNS), once.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::ops::Range;
use std::path::Path;
use std::time::Duration;

use toml::Spanned;

use super::Locator;
use super::schema::{DurationValue, HeaderValue, KeepAliveValue, Params};
use crate::builder::{DEFAULT_TIMEOUT, Watchdog};
use crate::error::ConfigError;
use crate::spec::{Delay, KeepAlive, RequestSpec, Target};
use crate::target::{check_path, resolve_host, split_url};
use crate::values::{ResolveArg, TimeoutArg, is_token};

/// What every entry of one file is read against.
pub(super) struct Context<'a> {
    /// Spans → places.
    pub at: &'a Locator<'a>,
    /// The run file's folder (`body = "@FILE"` is relative to it).
    pub base: &'a Path,
    /// The file's `dnscache`.
    pub dnscache: &'a BTreeMap<String, IpAddr>,
    /// `--resolve` given with `volley run`.
    pub overrides: &'a [ResolveArg],
}

/// How an entry's keys are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Dialect {
    /// A `[[request]]`: volley's meanings (`timeout` a hard deadline, keep-alive on).
    Volley,
    /// A `URLList` entry: LoadGen's meanings. `timeout` (here `idle_timeout`) is its
    /// inactivity timeout, 300 s by default, `0` none; no hard deadline; the connect
    /// within `conn_timeout`, else within the inactivity timeout; keep-alive off unless
    /// `keepalive` says so.
    LoadGen,
}

/// LoadGen's inactivity timeout when a `URLList` entry gives none.
pub(super) const LOADGEN_TIMEOUT: Duration = Duration::from_secs(300);

const EITHER: &str = "give either url or scheme/host/port/uri, not both";

/// The entry `p`, whose `[[request]]` table spans `span`.
pub(super) fn request(
    p: Params,
    span: Range<usize>,
    dialect: Dialect,
    cx: &Context<'_>,
) -> Result<RequestSpec, ConfigError> {
    let at = cx.at;
    let method = match &p.method {
        Some(m) if !is_token(m.get_ref()) => {
            let why = format!(
                "method '{}' is not an HTTP method token (GET, POST, HUGO, …)",
                m.get_ref()
            );
            return Err(at.error(m.span(), why));
        }
        Some(m) => Some(m.get_ref().clone()),
        None => None,
    };
    let target = target(&p, span, cx)?;
    let keepalive = match &p.keepalive {
        Some(v) => keepalive(v.get_ref()).map_err(|why| at.error(v.span(), why))?,
        None if dialect == Dialect::LoadGen => KeepAlive::NONE,
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
    let headers = headers(&p, at)?;
    let body = body(&p, cx)?;
    let mut r = crate::builder::request(target, watchdog(&p, dialect, at)?.timeouts());
    if let Some(m) = method {
        r.method = m;
    }
    r.headers = headers;
    r.body = body;
    r.keepalive = keepalive;
    r.pre = pre;
    r.post = post;
    Ok(r)
}

/// The keep-alive mode `v`: a name, or LoadGen's numeric value (0 none, 1 use, 2 store,
/// 3 both).
fn keepalive(v: &KeepAliveValue) -> Result<KeepAlive, String> {
    const ALLOWED: &str = "expected \"use\", \"store\", \"both\", \"none\" or LoadGen's 1 (use), 2 (store), 3 (both), 0 (none)";
    match v {
        KeepAliveValue::Name(name) => {
            KeepAlive::from_name(name).ok_or_else(|| format!("keepalive '{name}': {ALLOWED}"))
        }
        KeepAliveValue::Number(n) => {
            KeepAlive::from_number(*n).ok_or_else(|| format!("keepalive {n}: {ALLOWED}"))
        }
    }
}

/// Where the entry goes: its `url`, or `scheme`/`host`/`port`/`uri`, resolved.
fn target(p: &Params, span: Range<usize>, cx: &Context<'_>) -> Result<Target, ConfigError> {
    let at = cx.at;
    let (tls, host, port, path, where_) = match (&p.url, &p.host) {
        (Some(url), None) => {
            if let Some(k) = [&p.scheme, &p.uri].into_iter().flatten().next() {
                return Err(at.error(k.span(), EITHER));
            }
            if let Some(port) = &p.port {
                return Err(at.error(port.span(), EITHER));
            }
            let (tls, h, port, path) = split_url(url.get_ref()).map_err(|why| {
                let why = format!(
                    "bad url '{}': {why}; expected http[s]://host[:port][/path]",
                    url.get_ref()
                );
                at.error(url.span(), why)
            })?;
            (tls, h, port, path, url.span())
        }
        (Some(_), Some(h)) => return Err(at.error(h.span(), EITHER)),
        (None, Some(h)) => {
            let (tls, host, port, path) = parts(p, h, at)?;
            (tls, host, port, path, h.span())
        }
        (None, None) => {
            let why = "a request needs url, or host (with port and uri)";
            return Err(at.error(span, why));
        }
    };
    let (addr, dns_cached) =
        resolve_host(&host, port, cx.overrides, cx.dnscache).ok_or_else(|| {
            let why = format!("host '{host}' does not resolve (add it to dnscache?)");
            at.error(where_, why)
        })?;
    Ok(Target {
        host,
        port,
        addr,
        path,
        dns_cached,
        tls,
    })
}

/// LoadGen's `scheme`, `host`, `port` and `uri` keys: TLS or not, host, port, path.
fn parts(
    p: &Params,
    h: &Spanned<String>,
    at: &Locator<'_>,
) -> Result<(bool, String, u16, String), ConfigError> {
    let tls = match &p.scheme {
        None => false,
        Some(s) if s.get_ref().eq_ignore_ascii_case("http") => false,
        Some(s) if s.get_ref().eq_ignore_ascii_case("https") => true,
        Some(s) => {
            let why = format!(
                "scheme '{}' is not supported; expected \"http\" or \"https\"",
                s.get_ref()
            );
            return Err(at.error(s.span(), why));
        }
    };
    let host = h.get_ref().trim_start_matches('[').trim_end_matches(']');
    // The host becomes the Host header: no spaces or control bytes; and no user info,
    // whose password the message masks.
    if host.is_empty()
        || host.contains(['/', '@', '?', '#'])
        || host.bytes().any(|b| b <= b' ' || b == 0x7f)
    {
        let why = format!(
            "bad host '{}'; expected a host name or IP address (no user info, spaces or \
             control characters)",
            crate::redact::mask_authority(h.get_ref())
        );
        return Err(at.error(h.span(), why));
    }
    let port = match &p.port {
        Some(v) => at.count(v, "port", 1..65536)?,
        None if tls => 443,
        None => 80,
    };
    let path = match &p.uri {
        Some(u) if !u.get_ref().starts_with('/') => {
            return Err(at.error(u.span(), "uri must start with '/'"));
        }
        Some(u) => check_path(u.get_ref()).map_err(|why| at.error(u.span(), why))?,
        None => "/".to_string(),
    };
    Ok((tls, host.to_string(), port, path))
}

/// The `headers` list, in order: `"Name: value"` or `["Name", "value"]` each.
fn headers(p: &Params, at: &Locator<'_>) -> Result<Vec<(String, String)>, ConfigError> {
    let Some(list) = &p.headers else {
        return Ok(Vec::new());
    };
    let mut headers = Vec::new();
    for h in list.get_ref() {
        let (name, value) = match h.get_ref() {
            HeaderValue::Line(line) => match line.split_once(':') {
                Some((n, v)) => (n.to_string(), v.to_string()),
                None => {
                    let why = format!("header '{line}' has no ':'; expected \"Name: value\"");
                    return Err(at.error(h.span(), why));
                }
            },
            HeaderValue::Pair(pair) if pair.len() == 2 => (pair[0].clone(), pair[1].clone()),
            HeaderValue::Pair(_) => {
                let why = "a header is \"Name: value\" or [\"Name\", \"value\"]";
                return Err(at.error(h.span(), why));
            }
        };
        if !is_token(&name) {
            let why = format!("'{name}' is not a valid header name");
            return Err(at.error(h.span(), why));
        }
        crate::values::check_field_value(&name, &value).map_err(|e| at.error(h.span(), e))?;
        headers.push((name, value.trim().to_string()));
    }
    Ok(headers)
}

/// The `body`: a string, or `@FILE` relative to the run file (under the body cap).
fn body(p: &Params, cx: &Context<'_>) -> Result<Vec<u8>, ConfigError> {
    let Some(v) = &p.body else {
        return Ok(Vec::new());
    };
    let Some(file) = v.get_ref().strip_prefix('@') else {
        return Ok(v.get_ref().as_bytes().to_vec());
    };
    let path = cx.base.join(file);
    crate::files::read_capped(&path, crate::files::MAX_BODY_BYTES, crate::files::BODY).map_err(
        |e| {
            let why = format!("body: cannot read {}: {e}", path.display());
            cx.at.error(v.span(), why)
        },
    )
}

/// The entry's watchdog. A `[[request]]`: `timeout` ([`DEFAULT_TIMEOUT`] when not given)
/// for every phase, `conn_timeout` for the connect, `idle_timeout` (none by default) for
/// inactivity. A `URLList` entry: see [`Dialect::LoadGen`].
fn watchdog(p: &Params, dialect: Dialect, at: &Locator<'_>) -> Result<Watchdog, ConfigError> {
    let lg = dialect == Dialect::LoadGen;
    // LoadGen's timeouts are numbers of seconds, 0 for none (AnyEvent's meaning).
    let zero_is_none = |v: &Spanned<DurationValue>| {
        lg && matches!(v.get_ref(), DurationValue::Seconds(s) if *s == 0.0)
    };
    let idle_key = if lg { "timeout" } else { "idle_timeout" };
    let inactivity = match &p.idle_timeout {
        Some(v) if zero_is_none(v) => None,
        Some(v) => at.timeout(v, idle_key)?,
        None if lg => Some(LOADGEN_TIMEOUT),
        None => None,
    };
    let timeout = match &p.timeout {
        Some(v) => at.timeout(v, "timeout")?,
        None if lg => None,
        None => Some(DEFAULT_TIMEOUT),
    };
    let connect = match &p.conn_timeout {
        Some(v) if zero_is_none(v) => Some(TimeoutArg::Never),
        Some(v) => Some(match at.timeout(v, "conn_timeout")? {
            Some(d) => TimeoutArg::After(d),
            None => TimeoutArg::Never,
        }),
        None if lg => Some(inactivity.map_or(TimeoutArg::Never, TimeoutArg::After)),
        None => None,
    };
    Ok(Watchdog {
        timeout,
        connect,
        inactivity,
        ..Watchdog::default()
    })
}
