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
}

/// Serializes the request for `target`: request line, Host (from host:port unless given),
/// User-Agent (unless given), the user's headers in order, Content-Length when there is a
/// body (unless given), the empty line and the body.
pub fn serialize(target: &Target, req: &RequestSpec) -> WireRequest {
    let has = |name: &str| {
        req.headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case(name))
    };
    let mut out = Vec::with_capacity(128 + req.body.len());
    out.extend_from_slice(req.method.as_bytes());
    out.push(b' ');
    out.extend_from_slice(target.path.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    if !has("host") {
        push_field(&mut out, "Host", &target.host_header());
    }
    if !has("user-agent") {
        push_field(&mut out, "User-Agent", USER_AGENT);
    }
    for (name, value) in &req.headers {
        push_field(&mut out, name, value);
    }
    let needs_length =
        !req.body.is_empty() || matches!(req.method.as_str(), "POST" | "PUT" | "PATCH");
    if needs_length && !has("content-length") && !has("transfer-encoding") {
        push_field(&mut out, "Content-Length", &req.body.len().to_string());
    }
    out.extend_from_slice(b"\r\n");
    let head_len = out.len();
    out.extend_from_slice(&req.body);
    let expect_continue = !req.body.is_empty()
        && req.headers.iter().any(|(n, v)| {
            n.eq_ignore_ascii_case("expect") && v.trim().eq_ignore_ascii_case("100-continue")
        });
    WireRequest {
        head_len,
        expect_continue,
        bytes: out,
        is_head: req.method.eq_ignore_ascii_case("HEAD"),
        idempotent: matches!(
            req.method.as_str(),
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
        }
    }

    fn req(method: &str, headers: &[(&str, &str)], body: &str) -> RequestSpec {
        RequestSpec {
            method: method.into(),
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn plain_get() {
        let w = serialize(&target(), &req("GET", &[], ""));
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
        let w = serialize(
            &target(),
            &req(
                "POST",
                &[("host", "example"), ("X-A", "1"), ("X-A", "2")],
                "hi",
            ),
        );
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
    fn head_and_empty_post() {
        assert!(serialize(&target(), &req("HEAD", &[], "")).is_head);
        let text = String::from_utf8(serialize(&target(), &req("POST", &[], "")).bytes).unwrap();
        assert!(text.ends_with("Content-Length: 0\r\n\r\n"));
    }
}
