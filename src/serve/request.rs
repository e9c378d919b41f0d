//! Request heads and bodies as the built-in target reads them (RFC 9112): the few facts a
//! route needs from a head, and where the message ends, so that the next request on a
//! kept-alive connection is found where it starts.
//!
//! A request whose framing cannot be trusted (both `Content-Length` and
//! `Transfer-Encoding`, a `Transfer-Encoding` that does not end in `chunked`, differing or
//! malformed lengths, a bad chunk size) is a [`Refusal`]: it is answered once and the
//! connection closed, as RFC 9112 §6.3 asks, since where the next request starts is
//! unknown.

use std::mem::MaybeUninit;

/// Largest request head read; a bigger one is refused (431) and the connection closed.
pub(crate) const MAX_HEAD_BYTES: usize = 64 * 1024;
/// Most header fields in a request head (volley's own reply cap).
const MAX_HEADERS: usize = 100;
/// Most bytes of chunk extensions and of trailer fields in one chunked body.
const MAX_CHUNK_META_BYTES: usize = 16 * 1024;

/// What the routes need to know about a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Head<'a> {
    /// `HEAD`: the reply's head only.
    pub head_only: bool,
    /// HTTP/1.0: no chunked replies.
    pub http10: bool,
    /// The request target's path (an absolute-form target reduced to its path).
    pub path: &'a str,
    /// The `Host` field, or the authority of an absolute-form target.
    pub host: Option<&'a str>,
    /// The `Authorization` field.
    pub authorization: Option<&'a [u8]>,
    /// An `X-auth` field was sent (examples/auth_retry.toml's "ask for credentials").
    pub x_auth: bool,
    /// The connection may carry another request after this one.
    pub keep_alive: bool,
    /// `Expect: 100-continue` with a body, over HTTP/1.1: the client may wait for
    /// `100 Continue`.
    pub expect_continue: bool,
    /// Where the request's body ends.
    pub body: Framing,
}

/// How a request body is delimited (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// No body.
    Empty,
    /// `Content-Length` bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

/// A request the target will not read on: answered with [`Refusal::status`], then the
/// connection is closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Malformed head or framing (400); says what is wrong.
    BadRequest(&'static str),
    /// Head over [`MAX_HEAD_BYTES`] or with more than [`MAX_HEADERS`] fields (431).
    HeadTooLarge,
}

impl Refusal {
    /// The reply's status.
    pub fn status(self) -> u16 {
        match self {
            Refusal::BadRequest(_) => 400,
            Refusal::HeadTooLarge => 431,
        }
    }

    /// The reply's body: why.
    pub fn why(self) -> &'static str {
        match self {
            Refusal::BadRequest(why) => why,
            Refusal::HeadTooLarge => "request head over 64 KiB or 100 fields",
        }
    }
}

/// Parses the request head at the start of `buf`: `Ok(None)` when it is not complete yet,
/// else the head and its length in bytes.
///
/// # Errors
///
/// A [`Refusal`] for a head that is malformed, too large, or frames its body in a way
/// that cannot be trusted.
pub(crate) fn parse(buf: &[u8]) -> Result<Option<(Head<'_>, usize)>, Refusal> {
    let mut fields = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut []);
    let len = match req.parse_with_uninit_headers(buf, &mut fields) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD_BYTES => {
            return Err(Refusal::HeadTooLarge);
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(Refusal::HeadTooLarge),
        Err(_) => return Err(Refusal::BadRequest("malformed request head")),
    };
    if len > MAX_HEAD_BYTES {
        return Err(Refusal::HeadTooLarge);
    }
    // A complete parse sets all three.
    let (Some(method), Some(target), Some(version)) = (req.method, req.path, req.version) else {
        return Err(Refusal::BadRequest("malformed request line"));
    };
    let (authority, path) = split_target(target);
    let mut head = Head {
        head_only: method == "HEAD",
        http10: version == 0,
        path,
        host: authority,
        authorization: None,
        x_auth: false,
        keep_alive: version == 1,
        expect_continue: false,
        body: Framing::Empty,
    };
    let mut fields = Fields::default();
    for field in req.headers.iter() {
        fields.take(&mut head, field.name, field.value)?;
    }
    head.body = fields.framing()?;
    // Nothing to wait for without a body, and HTTP/1.0 has no 100 (RFC 9110 §10.1.1).
    head.expect_continue &= head.body != Framing::Empty && !head.http10;
    Ok(Some((head, len)))
}

/// An absolute-form target (`http://host/path`) → its authority and path; any other
/// target is a path.
fn split_target(target: &str) -> (Option<&str>, &str) {
    let rest = ["http://", "https://"]
        .iter()
        .find_map(|scheme| strip_prefix_ignore_case(target, scheme));
    match rest {
        Some(rest) => match rest.find('/') {
            Some(i) => (Some(&rest[..i]), &rest[i..]),
            None => (Some(rest), "/"),
        },
        None => (None, target),
    }
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

/// The framing fields seen so far.
#[derive(Debug, Default)]
struct Fields {
    length: Option<u64>,
    chunked: Option<bool>,
}

impl Fields {
    /// Takes one header field into `head` or the framing.
    fn take<'a>(
        &mut self,
        head: &mut Head<'a>,
        name: &str,
        value: &'a [u8],
    ) -> Result<(), Refusal> {
        let is = |n: &str| name.eq_ignore_ascii_case(n);
        if is("content-length") {
            let n = parse_length(value)?;
            if self.length.is_some_and(|m| m != n) {
                return Err(Refusal::BadRequest("differing Content-Length fields"));
            }
            self.length = Some(n);
        } else if is("transfer-encoding") {
            // Only the last coding frames the message; a later field adds to the list.
            let last = value.rsplit(|&b| b == b',').next().unwrap_or_default();
            self.chunked = Some(last.trim_ascii().eq_ignore_ascii_case(b"chunked"));
        } else if is("connection") {
            for token in value.split(|&b| b == b',').map(<[u8]>::trim_ascii) {
                if token.eq_ignore_ascii_case(b"close") {
                    head.keep_alive = false;
                } else if token.eq_ignore_ascii_case(b"keep-alive") && head.http10 {
                    head.keep_alive = true;
                }
            }
        } else if is("host") {
            head.host = head.host.or(std::str::from_utf8(value).ok());
        } else if is("authorization") {
            head.authorization = Some(value);
        } else if is("x-auth") {
            head.x_auth = true;
        } else if is("expect") {
            head.expect_continue = value.trim_ascii().eq_ignore_ascii_case(b"100-continue");
        }
        Ok(())
    }

    /// Where the body ends (RFC 9112 §6.3, items 3 to 6).
    fn framing(&self) -> Result<Framing, Refusal> {
        match (self.chunked, self.length) {
            (Some(_), Some(_)) => Err(Refusal::BadRequest(
                "both Content-Length and Transfer-Encoding",
            )),
            (Some(true), None) => Ok(Framing::Chunked),
            (Some(false), None) => Err(Refusal::BadRequest(
                "Transfer-Encoding does not end in chunked",
            )),
            (None, Some(0) | None) => Ok(Framing::Empty),
            (None, Some(n)) => Ok(Framing::Length(n)),
        }
    }
}

fn parse_length(value: &[u8]) -> Result<u64, Refusal> {
    let bad = Refusal::BadRequest("malformed Content-Length");
    let digits = value.trim_ascii();
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(bad);
    }
    digits.iter().try_fold(0u64, |n, &d| {
        n.checked_mul(10)
            .and_then(|n| n.checked_add(u64::from(d - b'0')))
            .ok_or(bad)
    })
}

/// A chunked body being skipped (RFC 9112 §7.1): fed bytes as they come, it says where
/// the body ends. The data is dropped; extensions and trailers are read up to
/// [`MAX_CHUNK_META_BYTES`] per body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Chunked {
    state: ChunkState,
    /// Bytes of the current chunk still to come.
    left: u64,
    /// Bytes of extensions and trailers seen so far.
    meta: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    /// Before the first hex digit of a size.
    Size,
    /// In the size's hex digits.
    SizeDigits,
    /// After the size: extensions up to the line's end.
    Extension,
    /// Saw CR after the size line.
    SizeLf,
    /// In the chunk's data.
    Data,
    /// Expecting CRLF after the data.
    DataCr,
    DataLf,
    /// At the start of a trailer line (an empty one ends the body).
    TrailerStart,
    /// In a trailer field line.
    TrailerLine,
    /// Saw CR of the last, empty line.
    EndLf,
    /// The body is over.
    Done,
}

impl Chunked {
    /// A body about to start.
    pub(crate) fn new() -> Chunked {
        Chunked {
            state: ChunkState::Size,
            left: 0,
            meta: 0,
        }
    }

    /// Reads what it can of `input`: the bytes it used, and whether the body ended there.
    ///
    /// # Errors
    ///
    /// [`Refusal::BadRequest`] for bad chunk syntax or too many extension/trailer bytes.
    pub(crate) fn feed(&mut self, input: &[u8]) -> Result<(usize, bool), Refusal> {
        let mut at = 0;
        while at < input.len() && self.state != ChunkState::Done {
            if self.state == ChunkState::Data {
                let take = usize::try_from(self.left)
                    .map_or(input.len() - at, |left| left.min(input.len() - at));
                at += take;
                self.left -= take as u64;
                if self.left == 0 {
                    self.state = ChunkState::DataCr;
                }
                continue;
            }
            self.state = self.step(input[at])?;
            at += 1;
        }
        Ok((at, self.state == ChunkState::Done))
    }

    /// One byte outside a chunk's data.
    fn step(&mut self, b: u8) -> Result<ChunkState, Refusal> {
        use ChunkState::*;
        let bad = |why| Err(Refusal::BadRequest(why));
        Ok(match (self.state, b) {
            (Size | SizeDigits, _) if b.is_ascii_hexdigit() => {
                let digit = u64::from((b as char).to_digit(16).unwrap_or(0));
                self.left = match self.left.checked_mul(16) {
                    Some(n) => n + digit,
                    None => return bad("chunk size too large"),
                };
                SizeDigits
            }
            (Size, _) => return bad("malformed chunk size"),
            (SizeDigits | Extension, b'\r') => SizeLf,
            (SizeDigits | Extension | SizeLf, b'\n') => self.line_end(),
            (SizeDigits, b';' | b' ' | b'\t') | (Extension, _) => {
                self.count_meta()?;
                Extension
            }
            (SizeDigits | SizeLf, _) => return bad("malformed chunk size line"),
            (DataCr, b'\r') => DataLf,
            (DataCr | DataLf, b'\n') => Size,
            (DataCr | DataLf, _) => return bad("chunk data not followed by CRLF"),
            (TrailerStart, b'\r') => EndLf,
            (TrailerStart | EndLf, b'\n') => Done,
            (EndLf, _) => return bad("malformed end of chunked body"),
            (TrailerStart | TrailerLine, _) => {
                self.count_meta()?;
                if b == b'\n' {
                    TrailerStart
                } else {
                    TrailerLine
                }
            }
            (Data | Done, _) => self.state,
        })
    }

    /// The end of a size line: data follows, or the trailer section for the last chunk.
    fn line_end(&self) -> ChunkState {
        if self.left == 0 {
            ChunkState::TrailerStart
        } else {
            ChunkState::Data
        }
    }

    fn count_meta(&mut self) -> Result<(), Refusal> {
        self.meta += 1;
        if self.meta > MAX_CHUNK_META_BYTES {
            return Err(Refusal::BadRequest(
                "chunk extensions or trailers over 16 KiB",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(text: &str) -> Head<'_> {
        match parse(text.as_bytes()) {
            Ok(Some((head, len))) => {
                assert_eq!(len, text.find("\r\n\r\n").unwrap() + 4);
                head
            }
            other => panic!("{text:?}: {other:?}"),
        }
    }

    #[test]
    fn heads() {
        let h = head("GET /small HTTP/1.1\r\nHost: a:1\r\n\r\nGET /next");
        assert_eq!(
            (h.path, h.host, h.keep_alive),
            ("/small", Some("a:1"), true)
        );
        assert_eq!(h.body, Framing::Empty);
        let h = head("HEAD /x HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
        assert!(h.head_only && h.http10 && h.keep_alive);
        let h = head("GET /x HTTP/1.0\r\n\r\n");
        assert!(!h.keep_alive);
        let h = head("POST /x HTTP/1.1\r\nConnection: foo, close\r\nContent-Length: 5\r\n\r\n");
        assert!(!h.keep_alive);
        assert_eq!(h.body, Framing::Length(5));
        let h = head("GET http://h:8/p?q HTTP/1.1\r\nHost: other\r\n\r\n");
        assert_eq!((h.host, h.path), (Some("h:8"), "/p?q"));
        let h = head(
            "PUT / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\nExpect: 100-Continue\r\n\r\n",
        );
        assert_eq!(h.body, Framing::Chunked);
        assert!(h.expect_continue);
        let h = head("GET / HTTP/1.1\r\nExpect: 100-continue\r\nX-Auth: 1\r\n\r\n");
        assert!(!h.expect_continue, "no body, nothing to wait for");
        assert!(h.x_auth);
        let h = head("PUT / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n");
        assert!(!h.expect_continue, "HTTP/1.0 ignores it");
        let h = head("\r\nGET / HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
        assert_eq!(h.body, Framing::Empty);
    }

    #[test]
    fn partial_heads_wait_for_more() {
        let full = b"GET /small HTTP/1.1\r\nHost: a\r\n\r\n";
        for cut in 0..full.len() {
            assert_eq!(parse(&full[..cut]), Ok(None), "cut at {cut}");
        }
    }

    #[test]
    fn refusals() {
        let refused = |text: &str| parse(text.as_bytes()).unwrap_err();
        let bad = |text: &str| match refused(text) {
            Refusal::BadRequest(why) => why,
            other => panic!("{text:?}: {other:?}"),
        };
        assert_eq!(
            bad("GET / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n"),
            "both Content-Length and Transfer-Encoding"
        );
        assert_eq!(
            bad("GET / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"),
            "Transfer-Encoding does not end in chunked"
        );
        assert_eq!(
            bad("GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"),
            "differing Content-Length fields"
        );
        for length in ["-1", "1x", "", "99999999999999999999999"] {
            let text = format!("GET / HTTP/1.1\r\nContent-Length: {length}\r\n\r\n");
            assert_eq!(bad(&text), "malformed Content-Length", "{length:?}");
        }
        assert_eq!(bad("GET / HTTP/9.9\r\n\r\n"), "malformed request head");
        assert_eq!(bad("G(T / HTTP/1.1\r\n\r\n"), "malformed request head");
        let many = format!("GET / HTTP/1.1\r\n{}\r\n", "A: b\r\n".repeat(101));
        assert_eq!(refused(&many), Refusal::HeadTooLarge);
        let long = format!("GET /{} HTTP/1.1", "a".repeat(MAX_HEAD_BYTES));
        assert_eq!(refused(&long), Refusal::HeadTooLarge);
        assert_eq!(
            (
                Refusal::HeadTooLarge.status(),
                Refusal::BadRequest("x").status()
            ),
            (431, 400)
        );
    }

    /// Feeds `body` split at every point (and a byte at a time): the same end each time.
    fn chunked_end(body: &[u8]) -> Result<usize, Refusal> {
        let whole = {
            let mut c = Chunked::new();
            match c.feed(body)? {
                (used, true) => used,
                (_, false) => return Ok(usize::MAX),
            }
        };
        for split in 0..=body.len() {
            let mut c = Chunked::new();
            let (a, done) = c.feed(&body[..split])?;
            let end = if done {
                a
            } else {
                a + c.feed(&body[split..])?.0
            };
            assert_eq!(end, whole, "split at {split}");
        }
        let mut c = Chunked::new();
        let mut used = 0;
        for byte in body {
            if c.feed(std::slice::from_ref(byte))?.1 {
                used += 1;
                break;
            }
            used += 1;
        }
        assert_eq!(used, whole, "a byte at a time");
        Ok(whole)
    }

    #[test]
    fn chunked_bodies_end_where_they_end() {
        let body = b"5\r\nhello\r\n1;ext=v\r\n!\r\n0\r\n\r\nGET /next";
        assert_eq!(chunked_end(body), Ok(body.len() - 9));
        let trailers = b"A\r\n0123456789\r\n0\r\nX-T: 1\r\nY: 2\r\n\r\nrest";
        assert_eq!(chunked_end(trailers), Ok(trailers.len() - 4));
        let bare_lf = b"3\nabc\n0\n\n";
        assert_eq!(chunked_end(bare_lf), Ok(bare_lf.len()));
        assert_eq!(chunked_end(b"5\r\nhel"), Ok(usize::MAX), "not over yet");
    }

    #[test]
    fn bad_chunked_bodies_are_refused() {
        for body in [
            &b"x\r\n"[..],
            b"5\r\nhelloX",
            b"5 x\rY",
            b"fffffffffffffffff\r\n",
            b"0\r\n\rX",
        ] {
            assert!(
                matches!(chunked_end(body), Err(Refusal::BadRequest(_))),
                "{:?}",
                String::from_utf8_lossy(body)
            );
        }
        let long_ext = format!("1;{}\r\n", "e".repeat(MAX_CHUNK_META_BYTES));
        assert!(Chunked::new().feed(long_ext.as_bytes()).is_err());
    }
}
