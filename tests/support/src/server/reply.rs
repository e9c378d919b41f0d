//! Writing replies: the scripted [`Reply`] or a [`Route`] serialized to bytes, with
//! the framing RFC 9112 requires.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use super::request::Request;
use super::{CHUNK_EXTENSION, CHUNK_TRAILER, Reply, Route, Shared};

/// Body of every [`Reply::StatusCycle`] reply.
const CYCLE_BODY: &[u8] = b"ok\n";

/// Serializes the scripted reply: (bytes, body payload length, close after).
///
/// Replies to `HEAD` carry no body. 1xx, 204 and 304 replies carry neither a
/// body nor framing headers (RFC 9112 §6.3 rule 1), whatever the script
/// says, so a correct client stays in step on a kept-alive connection.
pub(super) fn encode_reply(
    shared: &Shared,
    request: &Request,
    close: bool,
) -> (Vec<u8>, u64, bool) {
    let status = match &shared.config.reply {
        Reply::Fixed { status, .. }
        | Reply::Chunked { status, .. }
        | Reply::UntilClose { status, .. } => *status,
        Reply::StatusCycle(statuses) => {
            let turn = shared.cycle.fetch_add(1, Ordering::SeqCst);
            statuses[usize::try_from(turn).unwrap_or(0) % statuses.len()]
        }
        Reply::Silent => unreachable!("Silent never replies"),
    };
    let until_close = matches!(shared.config.reply, Reply::UntilClose { .. });
    if matches!(status, 100..=199 | 204 | 304) {
        let close = close || until_close;
        return (head(status, "", close), 0, close);
    }
    let with_body = !request.is_head_method;
    match &shared.config.reply {
        Reply::Fixed { body, .. } => fixed(status, "", body, with_body, close),
        Reply::StatusCycle(_) => fixed(status, "", CYCLE_BODY, with_body, close),
        Reply::Chunked { chunks, .. } => {
            let mut out = head(
                status,
                "Transfer-Encoding: chunked\r\nTrailer: X-Volley-Trailer\r\n",
                close,
            );
            let mut payload = 0;
            if with_body {
                for (i, chunk) in chunks.iter().filter(|c| !c.is_empty()).enumerate() {
                    let ext = if i == 0 { CHUNK_EXTENSION } else { "" };
                    out.extend_from_slice(format!("{:x}{ext}\r\n", chunk.len()).as_bytes());
                    out.extend_from_slice(chunk);
                    out.extend_from_slice(b"\r\n");
                    payload += chunk.len() as u64;
                }
                out.extend_from_slice(format!("0\r\n{CHUNK_TRAILER}\r\n\r\n").as_bytes());
            }
            (out, payload, close)
        }
        Reply::UntilClose { body, .. } => {
            let mut out = head(status, "", true);
            let mut payload = 0;
            if with_body {
                out.extend_from_slice(body);
                payload = body.len() as u64;
            }
            (out, payload, true)
        }
        Reply::Silent => unreachable!("Silent never replies"),
    }
}

/// Serializes `route`'s reply like [`encode_reply`] does a [`Reply::Fixed`].
pub(super) fn encode_route(route: &Route, request: &Request, close: bool) -> (Vec<u8>, u64, bool) {
    let mut fields = String::new();
    for (name, value) in &route.headers {
        let _ = write!(fields, "{name}: {value}\r\n");
    }
    if matches!(route.status, 100..=199 | 204 | 304) {
        return (head(route.status, &fields, close), 0, close);
    }
    let with_body = !request.is_head_method;
    fixed(route.status, &fields, &route.body, with_body, close)
}

/// A `Content-Length` framed reply; `fields` (each ending in CRLF) follow
/// the `Content-Length` field.
fn fixed(
    status: u16,
    fields: &str,
    body: &[u8],
    with_body: bool,
    close: bool,
) -> (Vec<u8>, u64, bool) {
    let mut out = head(
        status,
        &format!("Content-Length: {}\r\n{fields}", body.len()),
        close,
    );
    if !with_body {
        return (out, 0, close);
    }
    out.extend_from_slice(body);
    (out, body.len() as u64, close)
}

/// Status line, `fields` (each ending in CRLF), `Connection: close` if
/// closing, and the blank line.
fn head(status: u16, fields: &str, close: bool) -> Vec<u8> {
    let connection = if close { "Connection: close\r\n" } else { "" };
    format!(
        "HTTP/1.1 {status} {}\r\n{fields}{connection}\r\n",
        reason(status)
    )
    .into_bytes()
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Status",
    }
}
