//! Replies of the built-in target: what a route answers ([`Reply`]), how it is framed on
//! the wire (RFC 9112 §6: `Content-Length`, chunked, or no body at all), and the queue of
//! bytes a connection still has to write ([`Output`]).
//!
//! Bodies are `'static` slices made once per process, so a reply never copies a large
//! body: its head is written into the connection's reusable buffer and the body is
//! queued by reference, then both go out in one `writev`.

use std::collections::VecDeque;
use std::io::{self, IoSlice, Write};
use std::time::Duration;

/// Bodies up to this size are copied behind the head (one buffer, one `write`); larger
/// ones are queued by reference.
const COPY_BODY_BYTES: usize = 2048;
/// Size of the pieces of a chunked reply.
const CHUNK_BYTES: usize = 4096;
/// Most slices handed to one `writev`.
const MAX_SLICES: usize = 64;
/// A connection's write buffer is kept for the next reply only up to this capacity, so a
/// connection that once sent a big chunked reply does not hold its buffer for ever.
const KEEP_BUFFER_BYTES: usize = 16 * 1024;

/// What a route answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reply {
    /// The status code (200 to 599).
    pub status: u16,
    /// A `Location` field (redirects).
    pub location: Option<String>,
    /// Send `WWW-Authenticate: Basic` (401).
    pub challenge: bool,
    /// The body (ignored for 204, 304 and HEAD).
    pub body: Body,
    /// How long to wait before answering (`/delay/MS`).
    pub delay: Duration,
}

/// A reply body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Body {
    /// Fixed bytes with a `Content-Length`.
    Static(&'static [u8]),
    /// A short generated text with a `Content-Length`.
    Text(String),
    /// Fixed bytes sent chunked (with a `Content-Length` to an HTTP/1.0 client, which
    /// does not know chunked).
    Chunked(&'static [u8]),
}

/// How the request being answered asks its reply to be framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Framing {
    /// A HEAD request: the head only.
    pub head_only: bool,
    /// An HTTP/1.0 client: no chunked body; kept alive only when it asked.
    pub http10: bool,
    /// The connection closes after this reply.
    pub close: bool,
}

impl Reply {
    /// A 200 with `body`.
    pub(crate) fn ok(body: Body) -> Reply {
        Reply::new(200, body)
    }

    /// A reply with `status` and `body` and nothing else.
    pub(crate) fn new(status: u16, body: Body) -> Reply {
        Reply {
            status,
            location: None,
            challenge: false,
            body,
            delay: Duration::ZERO,
        }
    }

    /// A reply whose body is a line of text.
    pub(crate) fn text(status: u16, text: impl Into<String>) -> Reply {
        Reply::new(status, Body::Text(text.into()))
    }

    /// Queues the reply on `out`, with `date` as its `Date` field.
    pub(crate) fn write(&self, out: &mut Output, how: Framing, date: &[u8]) {
        let bodiless = matches!(self.status, 100..=199 | 204 | 304);
        let length = match &self.body {
            Body::Static(data) | Body::Chunked(data) => data.len(),
            Body::Text(text) => text.len(),
        };
        let chunked = matches!(self.body, Body::Chunked(_)) && !how.http10;
        let head = out.bytes();
        head_line(head, self.status);
        head.extend_from_slice(b"Server: volley\r\nDate: ");
        head.extend_from_slice(date);
        head.extend_from_slice(b"\r\n");
        if let Some(location) = &self.location {
            field(head, "Location", location.as_bytes());
        }
        if self.challenge {
            head.extend_from_slice(b"WWW-Authenticate: Basic realm=\"volley\"\r\n");
        }
        if !bodiless {
            head.extend_from_slice(b"Content-Type: text/plain\r\n");
            if chunked {
                head.extend_from_slice(b"Transfer-Encoding: chunked\r\n");
            } else {
                head.extend_from_slice(b"Content-Length: ");
                push_decimal(head, length);
                head.extend_from_slice(b"\r\n");
            }
        }
        if how.close {
            head.extend_from_slice(b"Connection: close\r\n");
        } else if how.http10 {
            head.extend_from_slice(b"Connection: keep-alive\r\n");
        }
        head.extend_from_slice(b"\r\n");
        if bodiless || how.head_only {
            return;
        }
        match &self.body {
            Body::Chunked(data) if chunked => write_chunked(out, data),
            Body::Static(data) | Body::Chunked(data) => out.push_static(data),
            Body::Text(text) => out.bytes().extend_from_slice(text.as_bytes()),
        }
    }
}

fn head_line(head: &mut Vec<u8>, status: u16) {
    head.extend_from_slice(b"HTTP/1.1 ");
    push_decimal(head, usize::from(status));
    head.push(b' ');
    head.extend_from_slice(reason(status).as_bytes());
    head.extend_from_slice(b"\r\n");
}

/// `n` in decimal, without the allocation of `to_string` (this runs for every reply).
fn push_decimal(buf: &mut Vec<u8>, n: usize) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut n = n;
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    buf.extend_from_slice(&digits[at..]);
}

fn field(head: &mut Vec<u8>, name: &str, value: &[u8]) {
    head.extend_from_slice(name.as_bytes());
    head.extend_from_slice(b": ");
    head.extend_from_slice(value);
    head.extend_from_slice(b"\r\n");
}

/// `data` in chunks of [`CHUNK_BYTES`], then the last chunk (no trailers).
fn write_chunked(out: &mut Output, data: &'static [u8]) {
    for piece in data.chunks(CHUNK_BYTES) {
        out.bytes()
            .extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        out.push_static(piece);
        out.bytes().extend_from_slice(b"\r\n");
    }
    out.bytes().extend_from_slice(b"0\r\n\r\n");
}

/// The reason phrase of `status` (RFC 9110 §15); empty for codes it does not name, which
/// RFC 9112 §4 allows.
pub(crate) fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        413 => "Content Too Large",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "",
    }
}

/// What a connection still has to write: its reusable buffer of heads and small bodies,
/// and large bodies by reference, in order.
#[derive(Debug, Default)]
pub(crate) struct Output {
    segments: VecDeque<Segment>,
    /// An emptied buffer kept for the next reply (no allocation per request).
    spare: Vec<u8>,
}

#[derive(Debug)]
enum Segment {
    Bytes { buf: Vec<u8>, at: usize },
    Static { data: &'static [u8], at: usize },
}

impl Segment {
    fn rest(&self) -> &[u8] {
        match self {
            Segment::Bytes { buf, at } => &buf[*at..],
            Segment::Static { data, at } => &data[*at..],
        }
    }

    fn advance(&mut self, n: usize) {
        match self {
            Segment::Bytes { at, .. } | Segment::Static { at, .. } => *at += n,
        }
    }
}

impl Output {
    /// Nothing left to write.
    pub(crate) fn is_empty(&self) -> bool {
        self.segments.iter().all(|s| s.rest().is_empty())
    }

    /// Bytes left to write.
    pub(crate) fn len(&self) -> usize {
        self.segments.iter().map(|s| s.rest().len()).sum()
    }

    /// The buffer at the end of the queue, to append to.
    pub(crate) fn bytes(&mut self) -> &mut Vec<u8> {
        if !matches!(self.segments.back(), Some(Segment::Bytes { .. })) {
            let buf = std::mem::take(&mut self.spare);
            self.segments.push_back(Segment::Bytes { buf, at: 0 });
        }
        match self.segments.back_mut() {
            Some(Segment::Bytes { buf, .. }) => buf,
            // Pushed just above.
            _ => unreachable!("the queue ends in a buffer"),
        }
    }

    /// Queues `data` by reference (a large body), or copies it if it is small.
    pub(crate) fn push_static(&mut self, data: &'static [u8]) {
        if data.len() <= COPY_BODY_BYTES {
            self.bytes().extend_from_slice(data);
        } else {
            self.segments.push_back(Segment::Static { data, at: 0 });
        }
    }

    /// Writes as much as `w` takes: `Ok(true)` when everything went, `Ok(false)` when the
    /// socket is full (a later writable event means it has room again).
    ///
    /// # Errors
    ///
    /// The socket's error other than `WouldBlock`/`Interrupted`.
    pub(crate) fn flush(&mut self, w: &mut impl Write) -> io::Result<bool> {
        loop {
            self.drop_written();
            if self.segments.is_empty() {
                return Ok(true);
            }
            let mut slices = [IoSlice::new(&[]); MAX_SLICES];
            let mut count = 0;
            let mut total = 0;
            for (slot, segment) in slices.iter_mut().zip(&self.segments) {
                *slot = IoSlice::new(segment.rest());
                count += 1;
                total += segment.rest().len();
            }
            let wrote = if count == 1 {
                w.write(&slices[0])
            } else {
                w.write_vectored(&slices[..count])
            };
            match wrote {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.advance(n);
                    // A short write on a TCP socket means its send buffer is full: the
                    // next write would only say WouldBlock, and the kernel will report
                    // the room it frees as a new writable edge.
                    if n < total {
                        self.drop_written();
                        return Ok(false);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) => return Err(e),
            }
        }
    }

    fn advance(&mut self, mut n: usize) {
        for segment in &mut self.segments {
            let step = n.min(segment.rest().len());
            segment.advance(step);
            n -= step;
            if n == 0 {
                break;
            }
        }
    }

    /// Pops the written segments, keeping one buffer for reuse.
    fn drop_written(&mut self) {
        while self.segments.front().is_some_and(|s| s.rest().is_empty()) {
            if let Some(Segment::Bytes { mut buf, .. }) = self.segments.pop_front()
                && buf.capacity() <= KEEP_BUFFER_BYTES
                && buf.capacity() > self.spare.capacity()
            {
                buf.clear();
                self.spare = buf;
            }
        }
    }
}

/// An HTTP date (RFC 9110 §5.6.7, IMF-fixdate) for `unix_secs` seconds since 1970.
pub(crate) fn http_date(unix_secs: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = unix_secs / 86_400;
    let secs = unix_secs % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's `civil_from_days`), in
    // unsigned arithmetic: the epoch is shifted to 0000-03-01.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    format!(
        "{}, {day:02} {} {year} {:02}:{:02}:{:02} GMT",
        DAYS[(days % 7) as usize],
        MONTHS[(month - 1) as usize],
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const DATE: &[u8] = b"Thu, 01 Jan 1970 00:00:00 GMT";

    fn wire(reply: &Reply, how: Framing) -> String {
        let mut out = Output::default();
        reply.write(&mut out, how, DATE);
        let mut sink = Vec::new();
        assert!(out.flush(&mut sink).unwrap());
        assert!(out.is_empty());
        String::from_utf8(sink).unwrap()
    }

    const KEEP: Framing = Framing {
        head_only: false,
        http10: false,
        close: false,
    };

    #[test]
    fn heads_and_bodies() {
        let ok = wire(&Reply::ok(Body::Static(b"hi")), KEEP);
        assert_eq!(
            ok,
            "HTTP/1.1 200 OK\r\nServer: volley\r\nDate: Thu, 01 Jan 1970 00:00:00 GMT\r\n\
             Content-Type: text/plain\r\nContent-Length: 2\r\n\r\nhi"
        );
        let head = wire(
            &Reply::ok(Body::Static(b"hi")),
            Framing {
                head_only: true,
                close: true,
                ..KEEP
            },
        );
        assert!(
            head.ends_with("Content-Length: 2\r\nConnection: close\r\n\r\n"),
            "{head}"
        );
        let mut redirect = Reply::text(302, "see /small\n");
        redirect.location = Some("/small".into());
        let text = wire(
            &redirect,
            Framing {
                http10: true,
                ..KEEP
            },
        );
        assert!(text.starts_with("HTTP/1.1 302 Found\r\n"), "{text}");
        assert!(text.contains("\r\nLocation: /small\r\n"), "{text}");
        assert!(text.contains("\r\nConnection: keep-alive\r\n"), "{text}");
        for status in [204, 304] {
            let text = wire(&Reply::text(status, "dropped"), KEEP);
            assert!(text.ends_with("GMT\r\n\r\n"), "{text}");
        }
        let odd = wire(&Reply::text(299, "x"), KEEP);
        assert!(odd.starts_with("HTTP/1.1 299 \r\n"), "{odd}");
    }

    #[test]
    fn chunked_bodies_are_framed_in_pieces() {
        static DATA: [u8; 5000] = [b'z'; 5000];
        let text = wire(&Reply::ok(Body::Chunked(&DATA)), KEEP);
        let body = text.split_once("\r\n\r\n").unwrap().1;
        let want = format!(
            "1000\r\n{}\r\n388\r\n{}\r\n0\r\n\r\n",
            "z".repeat(4096),
            "z".repeat(904)
        );
        assert_eq!(body, want);
        assert!(text.contains("Transfer-Encoding: chunked\r\n"));
        let old = wire(
            &Reply::ok(Body::Chunked(&DATA)),
            Framing {
                http10: true,
                ..KEEP
            },
        );
        assert!(old.contains("Content-Length: 5000\r\n") && !old.contains("chunked"));
    }

    /// A writer that takes at most `n` bytes per call, then says WouldBlock once.
    struct Trickle {
        got: Vec<u8>,
        n: usize,
        blocked: bool,
    }

    impl Write for Trickle {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if std::mem::take(&mut self.blocked) {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            self.blocked = true;
            let n = buf.len().min(self.n);
            self.got.extend_from_slice(&buf[..n]);
            Ok(n)
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn partial_writes_resume_where_they_stopped() {
        static BIG: [u8; 10_000] = [b'b'; 10_000];
        let mut out = Output::default();
        Reply::ok(Body::Static(&BIG)).write(&mut out, KEEP, DATE);
        Reply::ok(Body::Static(b"small")).write(&mut out, KEEP, DATE);
        let total = out.len();
        let mut w = Trickle {
            got: Vec::new(),
            n: 777,
            blocked: false,
        };
        let mut rounds = 0;
        while !out.flush(&mut w).unwrap() {
            rounds += 1;
            assert!(rounds < 100);
        }
        assert_eq!(w.got.len(), total);
        let text = String::from_utf8(w.got).unwrap();
        assert!(text.ends_with("\r\n\r\nsmall"));
        assert_eq!(text.matches("HTTP/1.1 200 OK").count(), 2);
        assert!(out.is_empty() && out.spare.capacity() > 0, "buffer kept");
    }

    #[test]
    fn dates() {
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(http_date(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(http_date(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT");
        assert_eq!(http_date(4_102_444_799), "Thu, 31 Dec 2099 23:59:59 GMT");
    }
}
