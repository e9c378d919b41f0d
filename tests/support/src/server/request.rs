//! Reading and parsing requests: the head up to the blank line, then the
//! `Content-Length` body.

use std::io::{self, Read};

use super::stream::Stream;
use super::{Reply, Shared};

/// A request head longer than this ends the connection (no reply).
const MAX_HEAD_BYTES: usize = 64 * 1024;

/// One parsed request.
#[derive(Debug)]
pub(super) struct Request {
    /// The head verbatim, lossily decoded.
    pub(super) head: String,
    pub(super) method: String,
    pub(super) target: String,
    /// The `Content-Length` body; moved out when recorded.
    pub(super) body: Vec<u8>,
    pub(super) is_head_method: bool,
    pub(super) wants_close: bool,
}

/// Reads one request (head plus `Content-Length` body) from `stream`; the
/// body grows only as bytes arrive, whatever `Content-Length` claims. Keeps
/// bytes of later pipelined requests in `buf`. `None` ends the
/// connection: EOF, an I/O error, a timeout, an oversized or bad head, or
/// server shutdown.
pub(super) fn read_request(
    shared: &Shared,
    stream: &mut Stream,
    buf: &mut Vec<u8>,
) -> Option<Request> {
    let head_end = loop {
        if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break pos + 4;
        }
        if buf.len() > MAX_HEAD_BYTES || !fill(shared, stream, buf) {
            return None;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    buf.drain(..head_end);
    let mut request = parse_head(head)?;
    let mut remaining = content_length(&request.head)?;
    loop {
        let take = remaining.min(buf.len());
        request.body.extend_from_slice(&buf[..take]);
        buf.drain(..take);
        remaining -= take;
        if remaining == 0 {
            break;
        }
        if !fill(shared, stream, buf) {
            return None;
        }
    }
    if shared.stopping() {
        None
    } else {
        Some(request)
    }
}

/// Appends at least one byte to `buf`; `false` on EOF, error or timeout.
/// A [`Reply::Silent`] server waits through timeouts until shutdown.
fn fill(shared: &Shared, stream: &mut Stream, buf: &mut Vec<u8>) -> bool {
    let mut chunk = [0u8; 8192];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => return false,
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                return true;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) && shared.config.reply == Reply::Silent
                    && !shared.stopping() => {}
            Err(_) => return false,
        }
    }
}

fn parse_head(head: String) -> Option<Request> {
    let request_line = head.split("\r\n").next()?;
    let mut parts = request_line.split(' ');
    let method = parts.next()?.to_owned();
    let target = parts.next()?.to_owned();
    let version = parts.next()?;
    let mut close = version == "HTTP/1.0";
    for (name, value) in header_fields(&head) {
        if name.eq_ignore_ascii_case("connection") {
            for token in value.split(',').map(str::trim) {
                if token.eq_ignore_ascii_case("close") {
                    close = true;
                } else if token.eq_ignore_ascii_case("keep-alive") {
                    close = false;
                }
            }
        }
    }
    let is_head_method = method == "HEAD";
    Some(Request {
        head,
        method,
        target,
        body: Vec::new(),
        is_head_method,
        wants_close: close,
    })
}

/// The request's `Content-Length` (0 if absent); `None` if it is invalid.
fn content_length(head: &str) -> Option<usize> {
    match header_fields(head).find(|(name, _)| name.eq_ignore_ascii_case("content-length")) {
        Some((_, value)) => value.parse().ok(),
        None => Some(0),
    }
}

pub(super) fn header_fields(head: &str) -> impl Iterator<Item = (&str, &str)> {
    head.split("\r\n")
        .skip(1)
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim(), value.trim()))
}
