//! A URL → the [`Target`] its requests go to: the syntax (`http[s]://host[:port][/path]`),
//! then the address, resolved once before the run.
//!
//! The address comes from the first of: a `--resolve HOST:PORT:ADDR` for the host and port,
//! a run file's `dnscache`, the system resolver. Every URL volley takes (the command line's,
//! a run file's entries, httperf's `--server`/`--port`/`--uri`) goes through here.

use std::net::{SocketAddr, ToSocketAddrs};

use crate::error::ConfigError;
use crate::spec::Target;
use crate::values::ResolveArg;

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
pub fn parse_url_resolving(url: &str, overrides: &[ResolveArg]) -> Result<Target, ConfigError> {
    let syntax = "expected http[s]://host[:port][/path]";
    let bad = |why: &str| ConfigError::invalid("URL", url, format!("{why}; {syntax}"));
    let (tls, host, port, path) = split_url(url).map_err(|why| bad(&why))?;
    let (addr, dns_cached) = resolve_host(&host, port, overrides, &Default::default())
        .ok_or_else(|| bad(&format!("host '{host}' does not resolve")))?;
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

/// Resolves `host` before the run: from a `--resolve` for this host and port, else from
/// `dnscache` (LoadGen's table: name -> IP), else from the system resolver. Returns the
/// address and whether it was given (`--resolve` or the table) rather than looked up.
pub(crate) fn resolve_host(
    host: &str,
    port: u16,
    overrides: &[ResolveArg],
    dnscache: &std::collections::BTreeMap<String, std::net::IpAddr>,
) -> Option<(SocketAddr, bool)> {
    if let Some(r) = overrides
        .iter()
        .find(|r| r.port == port && r.host.eq_ignore_ascii_case(host))
    {
        return Some((SocketAddr::new(r.addr, port), true));
    }
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

#[cfg(test)]
mod tests {
    use super::*;

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
        let over: ResolveArg = "Staging.Example:8443:127.0.0.9".parse().unwrap();
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
            assert!(bad.parse::<ResolveArg>().is_err(), "{bad}");
        }
        assert_eq!(
            "h:443:[::1]".parse::<ResolveArg>().unwrap().addr,
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
}
