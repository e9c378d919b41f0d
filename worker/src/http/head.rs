//! Reply heads: the status line and header section, parsed in place.
//!
//! [`parse_head`] hands the received bytes to `httparse` with a fixed stack array of
//! [`MAX_HEADERS`] slots, then reads the three fields that decide what happens next:
//! `Transfer-Encoding` and `Content-Length` (how the body is framed, RFC 9112 §6.3)
//! and `Connection` (whether the connection persists, RFC 9112 §9.3). Nothing is
//! copied or allocated; the result is a small `Copy` value.

use std::mem::MaybeUninit;

use std::fmt;
use volley_config::ReplyLimits;
use volley_config::spec::MAX_HEADERS_CAP;

/// Largest reply head accepted, in bytes (status line + fields + empty line).
///
/// A head that has not ended within this many bytes is [`HeadError::TooLarge`], so an
/// endless header line or an endless run of headers cannot grow the read buffer.
pub const MAX_HEAD_BYTES: usize = volley_config::spec::DEFAULT_MAX_HEAD_BYTES;

/// Most header fields accepted in one reply head.
///
/// This is the size of the `httparse` header array, which lives on the stack.
pub const MAX_HEADERS: usize = volley_config::spec::DEFAULT_MAX_HEADERS;

/// Most interim (1xx) replies accepted before the final one.
///
/// The codec returns each interim head like any other; the caller counts them and
/// stops past this cap (Go stops at 5; volley is more lenient).
pub const MAX_INTERIM: usize = 16;

/// How the body of a reply is delimited (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body: the reply ends with its head (HEAD request, 1xx, 204, 304).
    None,
    /// Exactly this many bytes follow the head (`Content-Length`).
    Length(u64),
    /// Chunked transfer coding, up to the last chunk and the trailer section.
    Chunked,
    /// The body runs until the server closes the connection.
    UntilClose,
}

/// A parsed reply head: what the slot state machine needs to read the body and decide
/// on connection reuse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplyHead {
    /// The three-digit status code (`100..=999`).
    pub status: u16,
    /// The minor HTTP version: 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub minor_version: u8,
    /// Bytes of the head, including any empty lines before the status line and the
    /// empty line that ends the header section. The body starts at this offset.
    pub head_len: usize,
    /// Number of header fields in the head.
    pub header_count: usize,
    /// How the body is delimited.
    pub framing: Framing,
    /// The connection may carry another request after this reply's body ends.
    pub keep_alive: bool,
    /// The framing headers are suspicious (both `Transfer-Encoding` and
    /// `Content-Length`, or `Transfer-Encoding` in an HTTP/1.0 reply). The body is
    /// still decoded as `Transfer-Encoding` says, but the connection is not reused,
    /// so `keep_alive` is false.
    pub anomaly: bool,
}

impl ReplyHead {
    /// True for an interim reply (1xx other than 101 Switching Protocols): the final
    /// reply to the same request follows it on the connection.
    pub fn is_interim(&self) -> bool {
        (100..200).contains(&self.status) && self.status != 101
    }
}

/// Why a reply head was rejected. Every variant means the connection must be closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadError {
    /// The status line or a header field line is not valid HTTP/1.x syntax, or the
    /// status code is below 100.
    Malformed(httparse::Error),
    /// The head has more than [`MAX_HEADERS`] header fields (a limit, not a protocol
    /// error).
    TooManyHeaders,
    /// The head did not end within [`MAX_HEAD_BYTES`] (a limit, not a protocol
    /// error).
    TooLarge,
    /// `Content-Length` is not a decimal number that fits in `u64`, is empty, or
    /// appears with differing values (RFC 9112 §6.3 (5)).
    BadContentLength,
    /// `Transfer-Encoding` applies `chunked` more than once, which RFC 9112 §6.1
    /// forbids (a sign of request smuggling or reply splitting).
    BadTransferEncoding,
}

impl HeadError {
    /// True when volley stopped reading because one of its caps was hit; the reply
    /// may have been valid. False for protocol violations.
    pub fn is_limit(&self) -> bool {
        matches!(self, HeadError::TooManyHeaders | HeadError::TooLarge)
    }

    /// A short, stable name for the case, used as the detail code under the error
    /// class in reports (`protocol/bad-status`, `limit/head-too-large`, …).
    pub fn detail(&self) -> &'static str {
        match self {
            HeadError::Malformed(httparse::Error::Status | httparse::Error::Version) => {
                "bad-status"
            }
            HeadError::Malformed(_) => "bad-header",
            HeadError::TooManyHeaders => "too-many-headers",
            HeadError::TooLarge => "head-too-large",
            HeadError::BadContentLength | HeadError::BadTransferEncoding => "bad-framing",
        }
    }
}

impl fmt::Display for HeadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HeadError::Malformed(err) => write!(f, "malformed reply head: {err}"),
            HeadError::TooManyHeaders => {
                write!(
                    f,
                    "reply head has more header fields than the cap (--max-headers)"
                )
            }
            HeadError::TooLarge => {
                write!(
                    f,
                    "reply head did not end within the cap (--max-head-bytes)"
                )
            }
            HeadError::BadContentLength => write!(f, "invalid or conflicting Content-Length"),
            HeadError::BadTransferEncoding => {
                write!(f, "Transfer-Encoding applies chunked more than once")
            }
        }
    }
}

impl std::error::Error for HeadError {}

/// Parses a reply head from the start of `buf`.
///
/// `request_was_head` says the request method was HEAD, so the reply has no body
/// whatever its headers say. Leading empty lines are skipped (RFC 9112 §2.2), a bare
/// LF is accepted as a line end, and obs-fold is accepted as whitespace (§5.2). Only
/// the first [`MAX_HEAD_BYTES`] of `buf` are looked at, so the answer does not depend
/// on how much was read past the head.
///
/// # Errors
///
/// `Ok(None)` means the head is incomplete: read more and call again with the longer
/// buffer. An incomplete head that already fills [`MAX_HEAD_BYTES`] is
/// [`HeadError::TooLarge`]; the other [`HeadError`] variants are described there.
pub fn parse_head(buf: &[u8], request_was_head: bool) -> Result<Option<ReplyHead>, HeadError> {
    parse_head_limited(buf, request_was_head, &ReplyLimits::default())
}

/// [`parse_head`] with caps other than the defaults: only the first `limits.head_bytes`
/// of `buf` are looked at, and at most `limits.headers` fields (up to
/// [`MAX_HEADERS_CAP`]) are accepted.
///
/// # Errors
///
/// As [`parse_head`], with the given caps.
pub fn parse_head_limited(
    buf: &[u8],
    request_was_head: bool,
    limits: &ReplyLimits,
) -> Result<Option<ReplyHead>, HeadError> {
    let max_head = limits.head_bytes;
    let window = buf.get(..max_head).unwrap_or(buf);
    // Left uninitialised: the parser writes only the slots it fills, so a reply costs
    // nothing for the fields it does not have.
    let mut storage = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS_CAP];
    let fields_cap = limits.headers.clamp(1, MAX_HEADERS_CAP);
    let mut reply = httparse::Response::new(&mut []);
    let parsed = httparse::ParserConfig::default()
        .allow_obsolete_multiline_headers_in_responses(true)
        .parse_response_with_uninit_headers(&mut reply, window, &mut storage[..fields_cap]);
    let head_len = match parsed {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if window.len() < max_head => return Ok(None),
        Ok(httparse::Status::Partial) => return Err(HeadError::TooLarge),
        Err(httparse::Error::TooManyHeaders) => return Err(HeadError::TooManyHeaders),
        Err(err) => return Err(HeadError::Malformed(err)),
    };
    // A complete parse always sets both; a status class below 1 does not exist
    // (RFC 9110 §15), and letting 0xx through would make it look interim.
    let (Some(minor_version), Some(status @ 100..)) = (reply.version, reply.code) else {
        return Err(HeadError::Malformed(httparse::Error::Status));
    };
    let fields = Fields::scan(reply.headers);
    let (framing, anomaly) = decide_framing(status, minor_version, request_was_head, &fields)?;
    let keep_alive = !anomaly && framing != Framing::UntilClose && persists(minor_version, &fields);
    Ok(Some(ReplyHead {
        status,
        minor_version,
        head_len,
        header_count: reply.headers.len(),
        framing,
        keep_alive,
        anomaly,
    }))
}

/// Copies the reason phrase of the complete head at the start of `buf` into `reason`, and
/// its first `Location` field value into `location` when asked (both cleared first; their
/// capacity is reused). For the per-request log and for following redirects only: the hot
/// path never calls it. Invalid UTF-8 is replaced.
pub fn reply_details(buf: &[u8], reason: &mut String, location: Option<&mut String>) {
    reason.clear();
    let mut location = location;
    if let Some(l) = location.as_deref_mut() {
        l.clear();
    }
    with_complete_head(buf, |reply| {
        reason.push_str(&String::from_utf8_lossy(
            reply.reason.unwrap_or("").as_bytes(),
        ));
        if let Some(l) = location
            && let Some(h) = reply
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("location"))
        {
            l.push_str(String::from_utf8_lossy(h.value).trim());
        }
    });
}

/// Sets `cookie` to the `name=value` part (up to the first `;`, trimmed) of the last
/// `Set-Cookie` field of the complete head at the start of `buf`, if it has one; otherwise
/// leaves it as it is. httperf's session cookie: one per session, the last one wins.
pub fn take_cookie(buf: &[u8], cookie: &mut String) {
    with_complete_head(buf, |reply| {
        if let Some(h) = reply
            .headers
            .iter()
            .rev()
            .find(|h| h.name.eq_ignore_ascii_case("set-cookie"))
        {
            let value = h.value.split(|&b| b == b';').next().unwrap_or_default();
            cookie.clear();
            cookie.push_str(String::from_utf8_lossy(value.trim_ascii()).as_ref());
        }
    });
}

/// Parses the head at the start of `buf` (off the hot path) and hands it to `f` if it is
/// complete.
fn with_complete_head(buf: &[u8], f: impl FnOnce(&httparse::Response<'_, '_>)) {
    let mut storage = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS_CAP];
    let mut reply = httparse::Response::new(&mut []);
    let parsed = httparse::ParserConfig::default()
        .allow_obsolete_multiline_headers_in_responses(true)
        .parse_response_with_uninit_headers(&mut reply, buf, &mut storage);
    if matches!(parsed, Ok(httparse::Status::Complete(_))) {
        f(&reply);
    }
}

/// The `Content-Length` fields of a head, merged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum ContentLength {
    /// No `Content-Length` field.
    #[default]
    Absent,
    /// Every value given (over all fields and list elements) is this one.
    Valid(u64),
    /// A value is not a decimal `u64`, a list element is empty, or values differ.
    Invalid,
}

/// The `Transfer-Encoding` fields of a head, merged into one coding list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Codings {
    /// The final coding of the combined list is `chunked`.
    chunked_last: bool,
    /// How many times `chunked` appears in the combined list.
    chunked_count: u32,
}

/// What the framing and persistence rules need from the header section, gathered in
/// one pass so that repeated fields combine as one comma-separated list (RFC 9110
/// §5.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Fields {
    /// `Some` when at least one `Transfer-Encoding` field is present.
    transfer_encoding: Option<Codings>,
    /// All `Content-Length` fields, merged.
    content_length: ContentLength,
    /// A `Connection` field has the `close` option.
    close: bool,
    /// A `Connection` field has the `keep-alive` option.
    keep_alive: bool,
}

impl Fields {
    fn scan(headers: &[httparse::Header<'_>]) -> Fields {
        let mut fields = Fields::default();
        for header in headers {
            if header.name.eq_ignore_ascii_case("transfer-encoding") {
                fields.add_transfer_encoding(header.value);
            } else if header.name.eq_ignore_ascii_case("content-length") {
                fields.add_content_length(header.value);
            } else if header.name.eq_ignore_ascii_case("connection") {
                fields.add_connection(header.value);
            }
        }
        fields
    }

    fn add_transfer_encoding(&mut self, value: &[u8]) {
        let codings = self.transfer_encoding.get_or_insert_with(Codings::default);
        for coding in tokens(value) {
            let chunked = coding.eq_ignore_ascii_case(b"chunked");
            if chunked {
                codings.chunked_count = codings.chunked_count.saturating_add(1);
            }
            codings.chunked_last = chunked;
        }
    }

    /// Merges one field: "8, 8" counts as 8, but an empty element (including an empty
    /// value) or a second, different value makes the whole field invalid.
    fn add_content_length(&mut self, value: &[u8]) {
        for element in value.split(|&b| b == b',') {
            let Some(n) = parse_decimal(trim_ows(element)) else {
                self.content_length = ContentLength::Invalid;
                return;
            };
            self.content_length = match self.content_length {
                ContentLength::Absent => ContentLength::Valid(n),
                ContentLength::Valid(seen) if seen == n => ContentLength::Valid(n),
                ContentLength::Valid(_) | ContentLength::Invalid => ContentLength::Invalid,
            };
        }
    }

    fn add_connection(&mut self, value: &[u8]) {
        for option in tokens(value) {
            if option.eq_ignore_ascii_case(b"close") {
                self.close = true;
            } else if option.eq_ignore_ascii_case(b"keep-alive") {
                self.keep_alive = true;
            }
        }
    }
}

/// Decides how the body is framed. Returns the framing and whether the framing
/// headers are an anomaly that forbids reusing the connection.
///
/// RFC 9112 §6.3, "Message Body Length", in order of precedence (the match arms below
/// follow the list; 7 applies to requests only):
///
/// 1. "Any response to a HEAD request and any response with a 1xx (Informational),
///    204 (No Content), or 304 (Not Modified) status code is always terminated by the
///    first empty line after the header fields, regardless of the header fields
///    present in the message, and thus cannot contain a message body or trailer
///    section."
/// 2. "Any 2xx (Successful) response to a CONNECT request implies that the connection
///    will become a tunnel immediately after the empty line that concludes the header
///    fields." volley never sends CONNECT.
/// 3. "If a message is received with both a Transfer-Encoding and a Content-Length
///    header field, the Transfer-Encoding overrides the Content-Length. Such a message
///    might indicate an attempt to perform request smuggling or response splitting
///    and ought to be handled as an error." volley decodes as Transfer-Encoding says
///    and flags an anomaly, so the connection is closed afterwards.
/// 4. "If a Transfer-Encoding header field is present and the chunked transfer coding
///    is the final encoding, the message body length is determined by reading and
///    decoding the chunked data until the transfer coding indicates the data is
///    complete. If a Transfer-Encoding header field is present in a response and the
///    chunked transfer coding is not the final encoding, the message body length is
///    determined by reading the connection until it is closed by the server."
/// 5. "If a message is received without Transfer-Encoding and with an invalid
///    Content-Length header field, then the message framing is invalid and the
///    recipient MUST treat it as an unrecoverable error, unless the field value can be
///    successfully parsed as a comma-separated list, all values in the list are valid,
///    and all values in the list are the same."
/// 6. "If a valid Content-Length header field is present without Transfer-Encoding,
///    its decimal value defines the expected message body length in octets."
/// 8. "Otherwise, this is a response message without a declared message body length,
///    so the message body length is determined by the number of octets received prior
///    to the server closing the connection."
///
/// Before rule 1 comes 101 Switching Protocols: after its head the connection speaks
/// another protocol. volley never asks for an upgrade, so whatever follows is read
/// until close and the connection is not reused. After rule 1 comes RFC 9112 §6.1:
/// `Transfer-Encoding` in an HTTP/1.0 reply means faulty framing ("MUST treat the
/// message as if the framing is faulty … and close the connection"), which is also an
/// anomaly; and `chunked` applied twice is rejected outright.
fn decide_framing(
    status: u16,
    minor_version: u8,
    request_was_head: bool,
    fields: &Fields,
) -> Result<(Framing, bool), HeadError> {
    let no_body = request_was_head || matches!(status, 100..=199 | 204 | 304);
    let (te, cl) = (fields.transfer_encoding, fields.content_length);
    match (status, no_body, te, cl) {
        // 101: the connection is no longer HTTP.
        (101, ..) => Ok((Framing::UntilClose, false)),
        // (1) HEAD, 1xx, 204, 304: no body whatever CL or TE say.
        (_, true, ..) => Ok((Framing::None, false)),
        // (2) A 2xx to CONNECT cannot happen: volley never sends CONNECT.
        // (3) and (4): Transfer-Encoding wins over Content-Length.
        (_, false, Some(codings), content_length) => {
            if codings.chunked_count > 1 {
                return Err(HeadError::BadTransferEncoding);
            }
            let anomaly = content_length != ContentLength::Absent || minor_version == 0;
            let framing = if codings.chunked_last {
                Framing::Chunked
            } else {
                Framing::UntilClose
            };
            Ok((framing, anomaly))
        }
        // (5) Invalid or conflicting Content-Length: unrecoverable.
        (_, false, None, ContentLength::Invalid) => Err(HeadError::BadContentLength),
        // (6) A valid Content-Length.
        (_, false, None, ContentLength::Valid(len)) => Ok((Framing::Length(len), false)),
        // (7) applies to requests. (8) A reply without a declared length ends at close.
        (_, false, None, ContentLength::Absent) => Ok((Framing::UntilClose, false)),
    }
}

/// Whether the server intends the connection to persist (RFC 9112 §9.3): a `close`
/// option ends it; HTTP/1.1 persists by default; HTTP/1.0 persists only with the
/// `keep-alive` option.
fn persists(minor_version: u8, fields: &Fields) -> bool {
    if fields.close {
        false
    } else if minor_version >= 1 {
        true
    } else {
        fields.keep_alive
    }
}

/// The non-empty elements of a comma-separated list (RFC 9110 §5.6.1), trimmed.
/// Empty elements are ignored, as the RFC requires of recipients.
fn tokens(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(trim_ows)
        .filter(|token| !token.is_empty())
}

/// Trims optional whitespace. CR and LF count as whitespace here because obs-fold
/// (accepted by the parser) leaves them in a value, and RFC 9112 §5.2 says to replace
/// obs-fold with SP.
fn trim_ows(mut bytes: &[u8]) -> &[u8] {
    let is_ows = |b: &u8| matches!(b, b' ' | b'\t' | b'\r' | b'\n');
    while let [first, rest @ ..] = bytes {
        if !is_ows(first) {
            break;
        }
        bytes = rest;
    }
    while let [rest @ .., last] = bytes {
        if !is_ows(last) {
            break;
        }
        bytes = rest;
    }
    bytes
}

/// Parses `1*DIGIT` into a `u64`: no sign, no empty string, no overflow.
fn parse_decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &b| {
        let digit = match b {
            b'0'..=b'9' => u64::from(b - b'0'),
            _ => return None,
        };
        n.checked_mul(10)?.checked_add(digit)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `res!`-style table entry: parse `$buf` completely and check the head.
    macro_rules! head {
        ($name:ident, $buf:expr, |$h:ident| $check:block) => {
            head!($name, $buf, false, |$h| $check);
        };
        ($name:ident, $buf:expr, $was_head:expr, |$h:ident| $check:block) => {
            #[test]
            fn $name() {
                let buf: &[u8] = $buf;
                let $h = parse_head(buf, $was_head)
                    .expect("head must parse")
                    .expect("head must be complete");
                assert_eq!($h.head_len, buf.len(), "head_len");
                // Reuse is never allowed after an anomaly or a close-delimited body.
                assert!(!$h.keep_alive || !$h.anomaly && $h.framing != Framing::UntilClose);
                $check
            }
        };
    }

    /// Table entry for a rejected head.
    macro_rules! head_err {
        ($name:ident, $buf:expr, $err:expr) => {
            #[test]
            fn $name() {
                assert_eq!(parse_head($buf, false), Err($err));
            }
        };
    }

    head!(
        simple_200_with_length,
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n",
        |h| {
            assert_eq!(h.status, 200);
            assert_eq!(h.minor_version, 1);
            assert_eq!(h.header_count, 1);
            assert_eq!(h.framing, Framing::Length(5));
            assert!(h.keep_alive);
            assert!(!h.anomaly);
            assert!(!h.is_interim());
        }
    );

    head!(
        http10_without_keep_alive,
        b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\n",
        |h| {
            assert_eq!(h.minor_version, 0);
            assert_eq!(h.framing, Framing::Length(5));
            assert!(!h.keep_alive);
        }
    );

    head!(
        http10_with_keep_alive,
        b"HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 5\r\n\r\n",
        |h| {
            assert!(h.keep_alive);
        }
    );

    head!(
        http10_keep_alive_among_options,
        b"HTTP/1.0 200 OK\r\nConnection: foo\r\nConnection: bar , keep-alive\r\nContent-Length: 0\r\n\r\n",
        |h| {
            assert!(h.keep_alive);
        }
    );

    head!(
        http11_connection_close,
        b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 5\r\n\r\n",
        |h| {
            assert_eq!(h.framing, Framing::Length(5));
            assert!(!h.keep_alive);
        }
    );

    head!(
        http11_close_in_list_and_second_field,
        b"HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nConnection: Upgrade,  CLOSE\r\nContent-Length: 5\r\n\r\n",
        |h| {
            assert!(!h.keep_alive);
        }
    );

    head!(
        head_request_ignores_length,
        b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n",
        true,
        |h| {
            assert_eq!(h.framing, Framing::None);
            assert!(h.keep_alive);
        }
    );

    head!(
        head_request_ignores_chunked,
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
        true,
        |h| {
            assert_eq!(h.framing, Framing::None);
            assert!(h.keep_alive);
        }
    );

    head!(
        no_content_with_length,
        b"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n",
        |h| {
            assert_eq!(h.framing, Framing::None);
            assert!(h.keep_alive);
        }
    );

    head!(
        no_content_with_chunked,
        b"HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\n\r\n",
        |h| {
            assert_eq!(h.framing, Framing::None);
            assert!(h.keep_alive);
        }
    );

    head!(
        not_modified_with_length,
        b"HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n",
        |h| {
            assert_eq!(h.framing, Framing::None);
        }
    );

    head!(
        not_modified_with_chunked,
        b"HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n",
        |h| {
            assert_eq!(h.framing, Framing::None);
            assert!(h.keep_alive);
        }
    );

    head!(
        not_modified_ignores_bad_length,
        b"HTTP/1.1 304 Not Modified\r\nContent-Length: abc\r\n\r\n",
        |h| {
            assert_eq!(h.framing, Framing::None);
        }
    );

    head!(continue_100, b"HTTP/1.1 100 Continue\r\n\r\n", |h| {
        assert_eq!(h.status, 100);
        assert_eq!(h.framing, Framing::None);
        assert!(h.is_interim());
    });

    head!(
        early_hints_103,
        b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n",
        |h| {
            assert_eq!(h.framing, Framing::None);
            assert!(h.is_interim());
        }
    );

    head!(
        switching_protocols_101,
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
        |h| {
            assert_eq!(h.status, 101);
            assert_eq!(h.framing, Framing::UntilClose);
            assert!(!h.keep_alive);
            assert!(!h.is_interim());
        }
    );

    head!(
        te_chunked,
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
        |h| {
            assert_eq!(h.framing, Framing::Chunked);
            assert!(h.keep_alive);
            assert!(!h.anomaly);
        }
    );

    head!(
        te_chunked_case_insensitive,
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: CHUNKED\r\n\r\n",
        |h| {
            assert_eq!(h.framing, Framing::Chunked);
        }
    );

    head!(
        te_gzip_chunked,
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip,\tchunked \r\n\r\n",
        |h| {
            assert_eq!(h.framing, Framing::Chunked);
            assert!(h.keep_alive);
        }
    );

    head!(
        te_gzip_then_chunked_field,
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n",
        |h| {
            assert_eq!(h.framing, Framing::Chunked);
        }
    );

    head!(
        te_chunked_then_gzip_field,
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n",
        |h| {
            assert_eq!(h.framing, Framing::UntilClose);
            assert!(!h.keep_alive);
        }
    );

    head!(
        te_chunked_gzip,
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
        |h| {
            assert_eq!(h.framing, Framing::UntilClose);
            assert!(!h.keep_alive);
        }
    );

    head!(
        te_gzip_only,
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
        |h| {
            assert_eq!(h.framing, Framing::UntilClose);
            assert!(!h.keep_alive);
        }
    );

    head!(
        te_and_cl_chunked_wins,
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\nTransfer-Encoding: chunked\r\n\r\n",
        |h| {
            assert_eq!(h.framing, Framing::Chunked);
            assert!(h.anomaly);
            assert!(!h.keep_alive);
        }
    );

    head!(
        te_and_bad_cl_chunked_wins,
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: abc\r\n\r\n",
        |h| {
            assert_eq!(h.framing, Framing::Chunked);
            assert!(h.anomaly);
        }
    );

    head!(
        te_in_http10,
        b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n",
        |h| {
            assert_eq!(h.framing, Framing::Chunked);
            assert!(h.anomaly);
            assert!(!h.keep_alive);
        }
    );

    head!(
        cl_repeated_same_value,
        b"HTTP/1.1 200 OK\r\nContent-Length: 8, 8\r\n\r\n",
        |h| {
            assert_eq!(h.framing, Framing::Length(8));
            assert!(h.keep_alive);
        }
    );

    head!(
        cl_two_fields_same_value,
        b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\nContent-Length: 8\r\n\r\n",
        |h| {
            assert_eq!(h.framing, Framing::Length(8));
        }
    );

    head!(
        cl_zero,
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        |h| {
            assert_eq!(h.framing, Framing::Length(0));
            assert!(h.keep_alive);
        }
    );

    head!(
        cl_max_u64,
        b"HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551615\r\n\r\n",
        |h| {
            assert_eq!(h.framing, Framing::Length(u64::MAX));
        }
    );

    head!(
        no_cl_no_te_until_close,
        b"HTTP/1.1 200 OK\r\nServer: x\r\n\r\n",
        |h| {
            assert_eq!(h.framing, Framing::UntilClose);
            assert!(!h.keep_alive);
            assert!(!h.anomaly);
        }
    );

    head!(
        leading_empty_lines_and_bare_lf,
        b"\r\n\r\nHTTP/1.1 200 OK\nContent-Length: 3\n\n",
        |h| {
            assert_eq!(h.framing, Framing::Length(3));
        }
    );

    head!(
        obs_fold_is_whitespace,
        b"HTTP/1.1 200 OK\r\nConnection: keep-alive,\r\n close\r\nContent-Length: 3\r\n\r\n",
        |h| {
            assert!(!h.keep_alive);
        }
    );

    head!(
        unknown_code_accepted,
        b"HTTP/1.1 599 Whatever\r\nContent-Length: 0\r\n\r\n",
        |h| {
            assert_eq!(h.status, 599);
        }
    );

    head!(
        no_reason_phrase,
        b"HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n",
        |h| {
            assert_eq!(h.status, 200);
        }
    );

    head_err!(
        cl_list_differs,
        b"HTTP/1.1 200 OK\r\nContent-Length: 8, 9\r\n\r\n",
        HeadError::BadContentLength
    );
    head_err!(
        cl_two_fields_differ,
        b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\nContent-Length: 9\r\n\r\n",
        HeadError::BadContentLength
    );
    head_err!(
        cl_negative,
        b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        HeadError::BadContentLength
    );
    head_err!(
        cl_plus_sign,
        b"HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\n",
        HeadError::BadContentLength
    );
    head_err!(
        cl_letters,
        b"HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n",
        HeadError::BadContentLength
    );
    head_err!(
        cl_hex,
        b"HTTP/1.1 200 OK\r\nContent-Length: 0x10\r\n\r\n",
        HeadError::BadContentLength
    );
    head_err!(
        cl_overflow,
        b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n",
        HeadError::BadContentLength
    );
    head_err!(
        cl_two_pow_64,
        b"HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551616\r\n\r\n",
        HeadError::BadContentLength
    );
    head_err!(
        cl_empty,
        b"HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\n",
        HeadError::BadContentLength
    );
    head_err!(
        cl_empty_element,
        b"HTTP/1.1 200 OK\r\nContent-Length: 8,\r\n\r\n",
        HeadError::BadContentLength
    );
    head_err!(
        cl_inner_space,
        b"HTTP/1.1 200 OK\r\nContent-Length: 1 2\r\n\r\n",
        HeadError::BadContentLength
    );
    head_err!(
        te_chunked_twice,
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
        HeadError::BadTransferEncoding
    );
    head_err!(
        te_chunked_in_two_fields,
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
        HeadError::BadTransferEncoding
    );
    head_err!(
        garbage_status_line,
        b"garbage\r\n\r\n",
        HeadError::Malformed(httparse::Error::Version)
    );
    head_err!(
        two_digit_status,
        b"HTTP/1.1 20 OK\r\n\r\n",
        HeadError::Malformed(httparse::Error::Status)
    );
    head_err!(
        status_below_100,
        b"HTTP/1.1 099 Odd\r\n\r\n",
        HeadError::Malformed(httparse::Error::Status)
    );
    head_err!(
        http2_version,
        b"HTTP/2.0 200 OK\r\n\r\n",
        HeadError::Malformed(httparse::Error::Version)
    );
    head_err!(
        space_before_colon,
        b"HTTP/1.1 200 OK\r\nContent-Length : 5\r\n\r\n",
        HeadError::Malformed(httparse::Error::HeaderName)
    );

    #[test]
    fn hundred_digit_status_is_malformed() {
        let mut buf = b"HTTP/1.1 ".to_vec();
        buf.extend_from_slice(&[b'2'; 100]);
        buf.extend_from_slice(b" OK\r\n\r\n");
        let err = parse_head(&buf, false).unwrap_err();
        assert!(matches!(err, HeadError::Malformed(_)), "{err:?}");
        assert_eq!(err.detail(), "bad-status");
    }

    #[test]
    fn bad_bytes_in_values_are_malformed() {
        for buf in [
            &b"HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n"[..],
            b"HTTP/1.1 200 OK\r\nX: a\0b\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
        ] {
            let err = parse_head(buf, false).unwrap_err();
            assert!(matches!(err, HeadError::Malformed(_)), "{buf:?}: {err:?}");
            assert!(!err.is_limit());
        }
    }

    #[test]
    fn every_prefix_is_incomplete_until_the_head_ends() {
        let heads: [&[u8]; 3] = [
            b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: keep-alive\r\n\r\n",
            b"HTTP/1.0 204 No Content\nServer: x\n\n",
            b"\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        ];
        for head in heads {
            let mut stream = head.to_vec();
            stream.extend_from_slice(b"abcHTTP/1.1 200 OK\r\n");
            let full = parse_head(&stream, false).unwrap().unwrap();
            assert_eq!(full.head_len, head.len());
            for end in 0..=stream.len() {
                let got = parse_head(&stream[..end], false);
                if end < head.len() {
                    assert_eq!(got, Ok(None), "prefix of {end} bytes");
                } else {
                    assert_eq!(got, Ok(Some(full)), "prefix of {end} bytes");
                }
            }
        }
    }

    fn head_with_headers(count: usize) -> Vec<u8> {
        let mut buf = b"HTTP/1.1 200 OK\r\n".to_vec();
        for i in 0..count {
            buf.extend_from_slice(format!("X-Field-{i}: value\r\n").as_bytes());
        }
        buf.extend_from_slice(b"\r\n");
        buf
    }

    #[test]
    fn header_count_limit() {
        let at_limit = head_with_headers(MAX_HEADERS);
        let head = parse_head(&at_limit, false).unwrap().unwrap();
        assert_eq!(head.header_count, MAX_HEADERS);

        let over = head_with_headers(MAX_HEADERS + 1);
        let err = parse_head(&over, false).unwrap_err();
        assert_eq!(err, HeadError::TooManyHeaders);
        assert!(err.is_limit());
        assert_eq!(err.detail(), "too-many-headers");
    }

    #[test]
    fn endless_header_line_is_too_large() {
        let mut buf = b"HTTP/1.1 200 OK\r\nX-Long: ".to_vec();
        buf.resize(70 * 1024, b'a');
        let err = parse_head(&buf, false).unwrap_err();
        assert_eq!(err, HeadError::TooLarge);
        assert!(err.is_limit());
        assert_eq!(err.detail(), "head-too-large");
        // Below the cap the same bytes are just incomplete.
        assert_eq!(parse_head(&buf[..MAX_HEAD_BYTES - 1], false), Ok(None));
    }

    #[test]
    fn head_of_exactly_the_cap_is_accepted() {
        let prefix = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX-Pad: ";
        let suffix = b"\r\n\r\n";
        let mut buf = prefix.to_vec();
        buf.resize(MAX_HEAD_BYTES - suffix.len(), b'p');
        buf.extend_from_slice(suffix);
        assert_eq!(buf.len(), MAX_HEAD_BYTES);
        buf.extend_from_slice(b"next reply bytes");
        let head = parse_head(&buf, false).unwrap().unwrap();
        assert_eq!(head.head_len, MAX_HEAD_BYTES);
        // One byte more and the head no longer fits.
        buf.insert(prefix.len(), b'p');
        assert_eq!(parse_head(&buf, false), Err(HeadError::TooLarge));
    }

    #[test]
    fn endless_empty_lines_are_too_large() {
        let buf = b"\r\n".repeat(40 * 1024);
        assert_eq!(parse_head(&buf, false), Err(HeadError::TooLarge));
    }

    #[test]
    fn details_and_display() {
        let cases = [
            (
                HeadError::Malformed(httparse::Error::Version),
                "bad-status",
                false,
            ),
            (
                HeadError::Malformed(httparse::Error::HeaderValue),
                "bad-header",
                false,
            ),
            (HeadError::TooManyHeaders, "too-many-headers", true),
            (HeadError::TooLarge, "head-too-large", true),
            (HeadError::BadContentLength, "bad-framing", false),
            (HeadError::BadTransferEncoding, "bad-framing", false),
        ];
        for (err, detail, limit) in cases {
            assert_eq!(err.detail(), detail);
            assert_eq!(err.is_limit(), limit);
            assert!(!err.to_string().is_empty());
        }
    }

    #[test]
    fn decimal_parsing() {
        assert_eq!(parse_decimal(b"0"), Some(0));
        assert_eq!(parse_decimal(b"007"), Some(7));
        assert_eq!(parse_decimal(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_decimal(b"18446744073709551616"), None);
        assert_eq!(parse_decimal(b""), None);
        assert_eq!(parse_decimal(b"1_0"), None);
    }

    #[test]
    fn ows_trimming() {
        assert_eq!(trim_ows(b" \t a b \r\n"), b"a b");
        assert_eq!(trim_ows(b"   "), b"");
        assert_eq!(trim_ows(b""), b"");
    }
}
