//! Reply bytes for scripts: [`ok`], [`raw`] and [`chunked`] replies.

/// `HTTP/1.1 200 OK` with a matching `Content-Length` and `body`.
pub fn ok(body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// A head (status line, `fields` each ending in CRLF, the empty line) followed by `body`.
pub fn raw(status_line: &str, fields: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!("{status_line}\r\n{fields}\r\n").into_bytes();
    out.extend_from_slice(body);
    out
}

/// The head of a `200 OK` reply with `Transfer-Encoding: chunked`.
pub const CHUNKED_HEAD: &str = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";

/// `CHUNKED_HEAD` followed by `body` (the raw chunked coding).
pub fn chunked(body: &str) -> Vec<u8> {
    format!("{CHUNKED_HEAD}{body}").into_bytes()
}
