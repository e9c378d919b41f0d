//! Request serialization: each distinct request is serialized once and its bytes reused for
//! every send.

use volley_config::{RequestSpec, Target};

/// The `User-Agent` volley sends unless the user gives one.
pub const USER_AGENT: &str = concat!("volley/", env!("CARGO_PKG_VERSION"));

/// A request ready to write, and what the reply parser must know about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireRequest {
    /// The bytes on the wire: head and body.
    pub bytes: Vec<u8>,
    /// The method is HEAD (its reply has no body whatever the head says).
    pub is_head: bool,
    /// The method is idempotent (RFC 9110 §9.2.2): safe to retry once when a kept-alive
    /// connection turns out to be closed before any reply byte.
    pub idempotent: bool,
    /// Bytes of the head; the body follows.
    pub head_len: usize,
    /// The user sent `Expect: 100-continue` with a body: after the head, wait for a
    /// `100 Continue` (or a final reply, or the expect-wait) before sending the body.
    pub expect_continue: bool,
    /// The request says `Connection: close` (volley's own, for an entry that does not keep
    /// its connection, or the user's): the connection ends after its reply whatever the
    /// server answers, and nothing is sent after it (RFC 9112 §9.6).
    pub closes: bool,
}

/// Serializes a URL-list entry: request line, Host (from host:port unless given),
/// User-Agent (unless given), the user's headers in order, `Connection: close` when the
/// entry does not keep its connection (unless a Connection field is given), Content-Length
/// when there is a body (unless given), the empty line and the body.
pub fn serialize(req: &RequestSpec) -> WireRequest {
    serialize_parts(&Parts {
        target: &req.target,
        path: &req.target.path,
        method: &req.method,
        headers: &req.headers,
        body: &req.body,
        close: !req.keepalive.store,
        http10: req.version == volley_config::HttpVersion::Http10,
    })
}

/// What a request on the wire is made of.
#[derive(Debug, Clone, Copy)]
pub struct Parts<'a> {
    /// Where it goes (the Host header comes from it).
    pub target: &'a Target,
    /// Path and query.
    pub path: &'a str,
    /// Method token.
    pub method: &'a str,
    /// Header fields in order.
    pub headers: &'a [(String, String)],
    /// Body.
    pub body: &'a [u8],
    /// Ask the server to close the connection after the reply.
    pub close: bool,
    /// An `HTTP/1.0` request line. Unless the request closes its connection (or the user
    /// gives a Connection field) it asks for `Connection: keep-alive`, as httperf does;
    /// one that closes says nothing (closing is HTTP/1.0's default).
    pub http10: bool,
}

/// Serializes a request from its parts (see [`serialize`]).
pub fn serialize_parts(p: &Parts<'_>) -> WireRequest {
    let has = |name: &str| p.headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
    let mut out = Vec::with_capacity(128 + p.body.len());
    out.extend_from_slice(p.method.as_bytes());
    out.push(b' ');
    out.extend_from_slice(p.path.as_bytes());
    out.extend_from_slice(if p.http10 {
        b" HTTP/1.0\r\n"
    } else {
        b" HTTP/1.1\r\n"
    });
    if !has("host") {
        push_field(&mut out, "Host", &p.target.host_header());
    }
    if !has("user-agent") {
        push_field(&mut out, "User-Agent", USER_AGENT);
    }
    for (name, value) in p.headers {
        push_field(&mut out, name, value);
    }
    // HTTP/1.0 closes by default: it asks for keep-alive, or says nothing.
    if !has("connection") {
        match (p.http10, p.close) {
            (false, true) => push_field(&mut out, "Connection", "close"),
            (true, false) => push_field(&mut out, "Connection", "keep-alive"),
            _ => {}
        }
    }
    let needs_length = !p.body.is_empty() || matches!(p.method, "POST" | "PUT" | "PATCH");
    if needs_length && !has("content-length") && !has("transfer-encoding") {
        push_field(&mut out, "Content-Length", &p.body.len().to_string());
    }
    out.extend_from_slice(b"\r\n");
    let head_len = out.len();
    out.extend_from_slice(p.body);
    let expect_continue = !p.body.is_empty()
        && p.headers.iter().any(|(n, v)| {
            n.eq_ignore_ascii_case("expect") && v.trim().eq_ignore_ascii_case("100-continue")
        });
    // A `close` option in any Connection field of the user's, or volley's own.
    let closes = (p.close && !has("connection"))
        || p.headers.iter().any(|(n, v)| {
            n.eq_ignore_ascii_case("connection")
                && v.split(',').any(|t| t.trim().eq_ignore_ascii_case("close"))
        });
    WireRequest {
        head_len,
        expect_continue,
        closes,
        bytes: out,
        is_head: p.method.eq_ignore_ascii_case("HEAD"),
        idempotent: matches!(
            p.method,
            "GET" | "HEAD" | "PUT" | "DELETE" | "OPTIONS" | "TRACE"
        ),
    }
}

fn push_field(out: &mut Vec<u8>, name: &str, value: &str) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value.as_bytes());
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;

    fn target() -> Target {
        Target {
            host: "127.0.0.1".into(),
            port: 8080,
            addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            path: "/small?x=1".into(),
            dns_cached: false,
            tls: false,
        }
    }

    fn req(method: &str, headers: &[(&str, &str)], body: &str) -> RequestSpec {
        RequestSpec {
            method: method.into(),
            target: target(),
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            body: body.as_bytes().to_vec(),
            keepalive: volley_config::KeepAlive::BOTH,
            pre: Default::default(),
            post: Default::default(),
            timeouts: Default::default(),
            version: Default::default(),
        }
    }

    #[test]
    fn plain_get() {
        let w = serialize(&req("GET", &[], ""));
        let text = String::from_utf8(w.bytes).unwrap();
        assert_eq!(
            text,
            format!(
                "GET /small?x=1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: {USER_AGENT}\r\n\r\n"
            )
        );
        assert!(!w.is_head);
    }

    #[test]
    fn user_headers_kept_in_order_and_override_defaults() {
        let w = serialize(&req(
            "POST",
            &[("host", "example"), ("X-A", "1"), ("X-A", "2")],
            "hi",
        ));
        let text = String::from_utf8(w.bytes).unwrap();
        assert!(
            text.starts_with("POST /small?x=1 HTTP/1.1\r\nUser-Agent: "),
            "{text}"
        );
        assert!(
            text.contains("host: example\r\nX-A: 1\r\nX-A: 2\r\nContent-Length: 2\r\n\r\nhi"),
            "{text}"
        );
        assert!(!text.contains("Host: 127"));
    }

    #[test]
    fn a_request_that_does_not_keep_its_connection_says_close() {
        let mut r = req("GET", &[], "");
        r.keepalive = volley_config::KeepAlive::NONE;
        let text = String::from_utf8(serialize(&r).bytes).unwrap();
        assert!(text.ends_with("Connection: close\r\n\r\n"), "{text}");
        let r2 = req("GET", &[("Connection", "keep-alive")], "");
        let mut r2 = r2;
        r2.keepalive = volley_config::KeepAlive::NONE;
        let text = String::from_utf8(serialize(&r2).bytes).unwrap();
        assert!(!text.contains("close"), "{text}");
    }

    #[test]
    fn http10_requests_ask_for_keep_alive() {
        let mut r = req("GET", &[], "");
        r.version = volley_config::HttpVersion::Http10;
        let text = String::from_utf8(serialize(&r).bytes).unwrap();
        assert!(text.starts_with("GET /small?x=1 HTTP/1.0\r\n"), "{text}");
        assert!(text.ends_with("Connection: keep-alive\r\n\r\n"), "{text}");
        r.keepalive = volley_config::KeepAlive::NONE;
        let text = String::from_utf8(serialize(&r).bytes).unwrap();
        assert!(!text.contains("Connection"), "{text}");
    }

    #[test]
    fn head_and_empty_post() {
        assert!(serialize(&req("HEAD", &[], "")).is_head);
        let text = String::from_utf8(serialize(&req("POST", &[], "")).bytes).unwrap();
        assert!(text.ends_with("Content-Length: 0\r\n\r\n"));
    }

    #[test]
    fn a_close_option_anywhere_makes_the_request_close_its_connection() {
        assert!(!serialize(&req("GET", &[], "")).closes);
        assert!(serialize(&req("GET", &[("Connection", "close")], "")).closes);
        assert!(serialize(&req("GET", &[("connection", "Upgrade, CLOSE")], "")).closes);
        assert!(!serialize(&req("GET", &[("Connection", "keep-alive")], "")).closes);
        let mut none = req("GET", &[], "");
        none.keepalive.store = false;
        let w = serialize(&none);
        assert!(w.closes);
        assert!(String::from_utf8_lossy(&w.bytes).contains("Connection: close\r\n"));
        // The user's own Connection field wins over volley's; it does not say close.
        none.headers
            .push(("Connection".into(), "keep-alive".into()));
        assert!(!serialize(&none).closes);
    }
}
