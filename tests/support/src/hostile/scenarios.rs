//! The scenarios of HOSTILE.md section (b), one `sNN_*` constructor each. Replies are
//! `ok("ok")` unless said otherwise.

use std::time::Duration;

use super::{CHUNKED_HEAD, HostileServer, Step, chunked, ok, raw};

/// S01, seed 003 (httperf's stale-timer hang): even-numbered connections read the first
/// request and stall; odd-numbered ones answer two requests, then stall on the third.
/// With a tiny `--timeout`, every connection ends in a client timeout, so connections are
/// closed and reopened thousands of times, each new one landing in the slot (and handle
/// slab entry) the timed-out one left. Exercises the generation check of volley's timers
/// and connection handles under churn: every request must end as a reply or
/// `client-timo`, and the run must end.
pub fn s01_stall_every_connection() -> HostileServer {
    HostileServer::start("s01-stale-timer", |n| {
        if n % 2 == 0 {
            vec![Step::ReadRequest, Step::Hang]
        } else {
            vec![
                Step::ReadRequest,
                Step::Write(ok("ok")),
                Step::ReadRequest,
                Step::Write(ok("ok")),
                Step::ReadRequest,
                Step::Hang,
            ]
        }
    })
}

/// S04: reads the request and never replies. Exercises the first-byte deadline
/// (`--timeout` + `--think-timeout`, or `--first-byte-timeout`) from the time the request
/// was sent: `client-timo/first-byte`, counted once per request.
pub fn s04_never_replies() -> HostileServer {
    HostileServer::every_connection("s04-never-replies", vec![Step::ReadRequest, Step::Hang])
}

/// S05: sends a complete head announcing a 1 MB body, then one body byte every `every`,
/// forever. Exercises the hard reply deadline, which trickling cannot extend (F2):
/// `client-timo/reply` (or `client-timo/idle` with an `--idle-timeout` below `every`).
pub fn s05_trickle_body(every: Duration) -> HostileServer {
    HostileServer::every_connection(
        "s05-trickle-body",
        vec![
            Step::ReadRequest,
            Step::Write(raw("HTTP/1.1 200 OK", "Content-Length: 1000000\r\n", b"")),
            Step::WriteForever {
                bytes: b"x".to_vec(),
                every,
            },
        ],
    )
}

/// S05 in the head: sends the status line, then one byte of a header field every
/// `every`, forever. Exercises the reply deadline while the head parser still waits for
/// the end of the head: `client-timo/reply`.
pub fn s05_trickle_head(every: Duration) -> HostileServer {
    HostileServer::every_connection(
        "s05-trickle-head",
        vec![
            Step::ReadRequest,
            Step::Write(b"HTTP/1.1 200 OK\r\nX-Slow: ".to_vec()),
            Step::WriteForever {
                bytes: b"s".to_vec(),
                every,
            },
        ],
    )
}

/// S08: reads the request on a new connection, then resets it (RST) without a byte of
/// reply. Exercises the read error path before any reply byte on a fresh connection:
/// `connreset/no-reply`, no retry (the connection was not reused).
pub fn s08_reset_after_request() -> HostileServer {
    HostileServer::every_connection("s08-reset", vec![Step::ReadRequest, Step::Reset])
}

/// S08 with FIN: reads the request on a new connection, then closes it without a byte
/// of reply. Exercises end of file before any reply byte on a fresh connection:
/// `connreset/no-reply`, no retry.
pub fn s08_close_after_request() -> HostileServer {
    HostileServer::every_connection("s08-close", vec![Step::ReadRequest, Step::Close])
}

/// S09: sends a head with `Content-Length: 1000` and 500 body bytes, pauses so the
/// client reads them, then resets. Exercises a reset in the body decoder: the partial
/// body bytes are counted and the request is `connreset/incomplete`.
pub fn s09_reset_mid_body() -> HostileServer {
    HostileServer::every_connection(
        "s09-reset-mid-body",
        vec![
            Step::ReadRequest,
            Step::Write(raw(
                "HTTP/1.1 200 OK",
                "Content-Length: 1000\r\n",
                &[b'b'; 500],
            )),
            Step::Sleep(Duration::from_millis(50)),
            Step::Reset,
        ],
    )
}

/// S10: a reply with neither `Content-Length` nor `Transfer-Encoding` whose body runs to
/// FIN, in HTTP/1.`minor`. Exercises the read-until-close decoder: a reply, and the
/// connection is never reused.
pub fn s10_body_until_close(minor: u8, body: &str) -> HostileServer {
    HostileServer::answering_once(
        "s10-until-close",
        raw(&format!("HTTP/1.{minor} 200 OK"), "", body.as_bytes()),
        Step::Close,
    )
}

/// S11: an HTTP/1.0 reply with `Content-Length` and no keep-alive, after which the
/// server leaves the socket open. Exercises "done after Content-Length bytes": volley
/// must close the connection itself instead of waiting for EOF (ab's F6). A reply.
pub fn s11_http10_length_left_open() -> HostileServer {
    HostileServer::answering_once(
        "s11-http10-left-open",
        raw("HTTP/1.0 200 OK", "Content-Length: 5\r\n", b"hello"),
        Step::Hang,
    )
}

/// S12: answers (a HEAD request) with `200` and `Content-Length: 1000` but no body,
/// keeping the connection open. Exercises RFC 9112 §6.3 rule 1 for HEAD: the reply ends
/// at the empty line and the connection is reused. A reply.
pub fn s12_head_with_length() -> HostileServer {
    HostileServer::answering(
        "s12-head",
        raw("HTTP/1.1 200 OK", "Content-Length: 1000\r\n", b""),
    )
}

/// S14: on one kept-alive connection, a `204` carrying `Content-Length: 5`, a `304`
/// carrying `Transfer-Encoding: chunked`, then a normal `200`, over and over (curl
/// test334, test249). Exercises rule 1 for 204 and 304: no body is read, so the next
/// reply parses. Replies (2xx, 3xx, 2xx).
pub fn s14_bodyless_with_framing() -> HostileServer {
    HostileServer::every_connection(
        "s14-204-304",
        vec![
            Step::ReadRequest,
            Step::Write(raw("HTTP/1.1 204 No Content", "Content-Length: 5\r\n", b"")),
            Step::ReadRequest,
            Step::Write(raw(
                "HTTP/1.1 304 Not Modified",
                "Transfer-Encoding: chunked\r\n",
                b"",
            )),
            Step::ReadRequest,
            Step::Write(ok("ok")),
            Step::Repeat,
        ],
    )
}

/// S15: `interim` interim replies (`100 Continue`, then `103 Early Hints`) before a
/// `200`, each interim head written separately, on a kept-alive connection. Exercises the
/// interim-reply loop of the head parser: up to 16 interim replies are skipped and the
/// `200` is the reply; past 16 the request is `protocol/too-many-1xx`.
pub fn s15_interim_replies(interim: usize) -> HostileServer {
    let mut script = vec![Step::ReadRequest];
    for i in 0..interim {
        let head = if i == 0 {
            "HTTP/1.1 100 Continue\r\n\r\n"
        } else {
            "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"
        };
        script.push(Step::Write(head.as_bytes().to_vec()));
    }
    script.extend([Step::Write(ok("ok")), Step::Repeat]);
    HostileServer::every_connection("s15-interim", script)
}

/// S17: answers one request without a `Connection: close` field, then closes the
/// connection at once (FIN): the kept-alive connection volley holds is dead by the time
/// it is reused, or just after. Exercises stale keep-alive detection: a request on such a
/// connection is retried once on a new one (`requests.retried`), never an error.
pub fn s17_close_after_each_reply() -> HostileServer {
    HostileServer::answering_once("s17-close-idle", ok("ok"), Step::Close)
}

/// Issue 13: every reply is followed, `after` a pause, by `tail`: bytes beyond the reply's
/// framing (a `Content-Length` shorter than what is sent, a body after a HEAD reply), then
/// the next request is read on the same connection. Exercises the idle-connection rule:
/// the tail must never be read as the next request's reply.
pub fn late_tail(
    name: &'static str,
    reply: Vec<u8>,
    after: Duration,
    tail: &[u8],
) -> HostileServer {
    HostileServer::every_connection(
        name,
        vec![
            Step::ReadRequest,
            Step::Write(reply),
            Step::Sleep(after),
            Step::Write(tail.to_vec()),
            Step::Repeat,
        ],
    )
}

/// S18: an HTTP/1.1 reply with `Connection: close`, then FIN. Exercises the `close`
/// option: the connection is not reused, the next request opens a new one. A reply.
pub fn s18_connection_close() -> HostileServer {
    HostileServer::answering_once(
        "s18-connection-close",
        raw(
            "HTTP/1.1 200 OK",
            "Content-Length: 2\r\nConnection: close\r\n",
            b"ok",
        ),
        Step::Close,
    )
}

/// S19: HTTP/1.0 replies, with `Connection: keep-alive` or without, on a server that
/// keeps every connection open and would answer further requests on it. Exercises
/// HTTP/1.0 persistence: volley reuses the connection only with `keep-alive`. Replies.
pub fn s19_http10(keep_alive: bool) -> HostileServer {
    let fields = if keep_alive {
        "Connection: keep-alive\r\nContent-Length: 2\r\n"
    } else {
        "Content-Length: 2\r\n"
    };
    HostileServer::answering("s19-http10", raw("HTTP/1.0 200 OK", fields, b"ok"))
}

/// S20: answers `n` requests per connection with no `close` field, then reads the next
/// request and closes without answering it (nginx's `keepalive_requests`, deterministic:
/// the request is always on the wire before the FIN). Exercises the stale-connection
/// path: an idempotent request is retried once on a new connection (`requests.retried`),
/// a non-idempotent one is `stale-conn/failed`.
pub fn s20_close_after(n: usize) -> HostileServer {
    let mut script = Vec::new();
    for _ in 0..n {
        script.extend([Step::ReadRequest, Step::Write(ok("ok"))]);
    }
    script.extend([Step::ReadRequest, Step::Close]);
    HostileServer::every_connection("s20-keepalive-requests", script)
}

/// S21: a server that answers every request with `Connection: close`, so every request
/// connects; the test closes the listener mid-run ([`HostileServer::stop_listening`]) and
/// opens it again ([`HostileServer::listen_again`]). Exercises connect errors mid-run:
/// `connrefused` while it is gone, replies again after.
pub fn s21_listener_goes_away() -> HostileServer {
    HostileServer::answering_once(
        "s21-listener-gone",
        raw(
            "HTTP/1.1 200 OK",
            "Content-Length: 2\r\nConnection: close\r\n",
            b"ok",
        ),
        Step::Close,
    )
}

/// S25: a chunked reply with a chunk extension and a trailer, written one byte per
/// segment so the size lines, data and line ends are split at every possible point.
/// Exercises the chunked decoder's state machine across reads: the same body size
/// whatever the split. A reply; the body is [`S25_BODY_BYTES`] bytes.
pub fn s25_chunked_split_everywhere() -> HostileServer {
    HostileServer::every_connection(
        "s25-chunked-split",
        vec![
            Step::ReadRequest,
            Step::WriteSlowly {
                bytes: chunked(
                    "10;name=\"quoted;value\"\r\n0123456789abcdef\r\n\
                     3\r\nxyz\r\n\
                     0;last=1\r\nX-Trailer: one\r\nX-Other: two\r\n\r\n",
                ),
                every: Duration::from_millis(1),
            },
            Step::Repeat,
        ],
    )
}

/// Body payload bytes of one [`s25_chunked_split_everywhere`] reply.
pub const S25_BODY_BYTES: u64 = 16 + 3;

/// S26: a chunked reply whose first chunk size line is `size` (invalid: `Z`, `0x10`,
/// `+5`, `-1`, `0_2`, or overflowing: 17 hex digits), then data and a last chunk; the
/// connection is left open. Exercises chunk-size parsing and overflow guards:
/// `protocol/bad-framing`, decided from the size line alone.
pub fn s26_bad_chunk_size(size: &str) -> HostileServer {
    HostileServer::answering_once(
        "s26-bad-chunk-size",
        chunked(&format!("{size}\r\nhello\r\n0\r\n\r\n")),
        Step::Hang,
    )
}

/// S27 and other raw chunked bodies: a chunked head followed by `body` as given (bare LF
/// line ends, data without its CRLF, a missing last chunk), then `then` (`Close` for a FIN
/// before the end, `Hang` to leave the connection open, `Repeat` to keep answering).
/// Exercises the chunked decoder's line-end handling and end of file inside a body:
/// a reply, `protocol/bad-framing` or `protocol/incomplete`.
pub fn s27_raw_chunked(body: &str, then: Step) -> HostileServer {
    HostileServer::every_connection(
        "s27-chunked-syntax",
        vec![Step::ReadRequest, Step::Write(chunked(body)), then],
    )
}

/// S28: an endless chunked body (1 KiB chunks, as fast as the client reads). Exercises
/// the reply deadline on a body that never ends, with memory staying flat:
/// `client-timo/reply`.
pub fn s28_endless_chunks() -> HostileServer {
    let mut chunk = b"400\r\n".to_vec();
    chunk.extend_from_slice(&[b'c'; 1024]);
    chunk.extend_from_slice(b"\r\n");
    HostileServer::every_connection(
        "s28-endless-chunked",
        vec![
            Step::ReadRequest,
            Step::Write(CHUNKED_HEAD.as_bytes().to_vec()),
            Step::WriteForever {
                bytes: chunk,
                every: Duration::ZERO,
            },
        ],
    )
}

/// S29: one chunk extension that never ends (`1;` then `a` forever; 1 MB and more).
/// Exercises the 16 KiB cap on chunk extensions: `limit/chunk-ext-too-long`.
pub fn s29_endless_chunk_extension() -> HostileServer {
    HostileServer::every_connection(
        "s29-chunk-ext-endless",
        vec![
            Step::ReadRequest,
            Step::Write(chunked("1;ext=")),
            Step::WriteForever {
                bytes: vec![b'a'; 4096],
                every: Duration::ZERO,
            },
        ],
    )
}

/// S29, per message: `chunks` one-byte chunks, each with a 20-byte extension, then the
/// last chunk; the connection stays open. Exercises that the chunk-extension cap counts
/// over the whole message, not per chunk: past 16 KiB in total, `limit/chunk-ext-too-long`.
pub fn s29_many_chunk_extensions(chunks: usize) -> HostileServer {
    let body = "1;ext=aaaaaaaaaaaaaa\r\nx\r\n".repeat(chunks) + "0\r\n\r\n";
    HostileServer::answering("s29-chunk-ext-many", chunked(&body))
}

/// Body bytes (and extension bytes) per chunk of [`s29_many_chunk_extensions`].
pub const S29_EXT_BYTES_PER_CHUNK: usize = ";ext=aaaaaaaaaaaaaa".len();

/// S30: a last chunk followed by `count` trailer fields of 16 bytes each
/// (`X-T-0000000: v\r\n`), then the empty line; the connection stays open. Exercises the
/// trailer-section cap (64 KiB): past it, `limit/trailers-too-large`; below it, a reply.
pub fn s30_many_trailers(count: usize) -> HostileServer {
    let mut body = String::from("1\r\nx\r\n0\r\n");
    for i in 0..count {
        body.push_str(&format!("X-T-{i:07}: v\r\n"));
    }
    body.push_str("\r\n");
    HostileServer::answering("s30-many-trailers", chunked(&body))
}

/// Bytes of one trailer field line of [`s30_many_trailers`].
pub const S30_TRAILER_LINE_BYTES: usize = "X-T-0000000: v\r\n".len();

/// S30: one trailer field that never ends (1 MB and more). Exercises the trailer cap:
/// `limit/trailers-too-large`.
pub fn s30_endless_trailer() -> HostileServer {
    HostileServer::every_connection(
        "s30-endless-trailer",
        vec![
            Step::ReadRequest,
            Step::Write(chunked("1\r\nx\r\n0\r\nX-Big: ")),
            Step::WriteForever {
                bytes: vec![b't'; 4096],
                every: Duration::ZERO,
            },
        ],
    )
}

/// S32: `Transfer-Encoding: coding` (e.g. `gzip`, `yolo`) without `chunked`, the body
/// running to FIN. Exercises RFC 9112 §6.3 rule 4 for replies (hyper's
/// `client_response_transfer_encoding_not_chunked`): read until close, never reuse.
/// A reply.
pub fn s32_transfer_encoding_not_chunked(coding: &str, body: &str) -> HostileServer {
    HostileServer::answering_once(
        "s32-te-not-chunked",
        raw(
            "HTTP/1.1 200 OK",
            &format!("Transfer-Encoding: {coding}\r\n"),
            body.as_bytes(),
        ),
        Step::Close,
    )
}

/// S33: a reply head with these framing `fields` (`chunked` twice in one field or in
/// two, curl test1482/test1483) and a valid chunked body, on a connection left open.
/// Exercises the Transfer-Encoding checks of the head parser: `protocol/bad-framing`.
pub fn s33_chunked_twice(fields: &str) -> HostileServer {
    HostileServer::answering_once(
        "s33-chunked-twice",
        raw("HTTP/1.1 200 OK", fields, b"5\r\nhello\r\n0\r\n\r\n"),
        Step::Hang,
    )
}

/// S33, HTTP/1.0: `Transfer-Encoding: chunked` in an HTTP/1.0 reply with a valid chunked
/// body, on a server that would answer again on the same connection. Exercises RFC 9112
/// §6.1 (faulty framing, close after): HOSTILE.md says reject (`protocol/bad-framing`);
/// volley may instead decode it and close the connection. Never reused either way.
pub fn s33_chunked_in_http10() -> HostileServer {
    HostileServer::answering(
        "s33-te-in-http10",
        raw(
            "HTTP/1.0 200 OK",
            "Transfer-Encoding: chunked\r\n",
            b"5\r\nhello\r\n0\r\n\r\n",
        ),
    )
}

/// S35: `Content-Length: 100` with 40 body bytes, then FIN. Exercises end of file inside
/// a length-delimited body: the 40 bytes are counted, the request is
/// `protocol/incomplete`.
pub fn s35_short_body() -> HostileServer {
    HostileServer::answering_once(
        "s35-short-body",
        raw("HTTP/1.1 200 OK", "Content-Length: 100\r\n", &[b'q'; 40]),
        Step::Close,
    )
}

/// S36: a reply head with these `Content-Length` fields (`abc`, `-1`, `+8`, `0x10`,
/// 2^64, `1, 2`, two differing fields; or the valid `8, 8`) and an 8-byte body, on a
/// kept-alive connection. Exercises RFC 9112 §6.3 rule 5: `protocol/bad-framing` for the
/// invalid ones, a reply for `8, 8`.
pub fn s36_content_length(fields: &str) -> HostileServer {
    HostileServer::answering(
        "s36-content-length",
        raw("HTTP/1.1 200 OK", fields, b"12345678"),
    )
}

/// S37: a reply whose status line is `line` (`HTTP/1.1 20 OK`, a 100-digit code, a
/// negative code, an HTTP/0.9 body with no status line, `HTTP/2.0 200`; or the unknown
/// but valid `HTTP/1.1 599 Whatever`), with `Content-Length: 2`, on a kept-alive
/// connection. Exercises status-line parsing: `protocol/bad-status`, or a 5xx reply for
/// 599.
pub fn s37_status_line(line: &str) -> HostileServer {
    HostileServer::answering("s37-status-line", raw(line, "Content-Length: 2\r\n", b"ok"))
}

/// S37, HTTP/0.9: a bare body with no status line, then FIN. Exercises the status-line
/// parser on a reply that is not HTTP/1.x at all: `protocol/bad-status`.
pub fn s37_http09_reply() -> HostileServer {
    HostileServer::answering_once(
        "s37-http09",
        b"<html>an HTTP/0.9 reply</html>\n".to_vec(),
        Step::Close,
    )
}

/// S38: a `200` reply with one extra header line `line` (obs-fold, a space before the
/// colon, NUL or a bare CR in a value, no colon at all) before `Content-Length: 2`, on a
/// kept-alive connection. Exercises header-field syntax: obs-fold is a reply, the rest
/// `protocol/bad-header`.
pub fn s38_header_line(line: &str) -> HostileServer {
    HostileServer::answering(
        "s38-header-line",
        raw(
            "HTTP/1.1 200 OK",
            &format!("{line}\r\nContent-Length: 2\r\n"),
            b"ok",
        ),
    )
}

/// S40: a status line, then a header line that never ends. Exercises the 64 KiB head cap:
/// `limit/head-too-large`, memory flat.
pub fn s40_endless_header_line() -> HostileServer {
    HostileServer::every_connection(
        "s40-endless-header-line",
        vec![
            Step::ReadRequest,
            Step::Write(b"HTTP/1.1 200 OK\r\nX-Endless: ".to_vec()),
            Step::WriteForever {
                bytes: vec![b'h'; 4096],
                every: Duration::ZERO,
            },
        ],
    )
}

/// S41: a status line, then small header fields forever. Exercises the 100-field cap:
/// `limit/too-many-headers`.
pub fn s41_endless_headers() -> HostileServer {
    HostileServer::every_connection(
        "s41-endless-headers",
        vec![
            Step::ReadRequest,
            Step::Write(b"HTTP/1.1 200 OK\r\n".to_vec()),
            Step::WriteForever {
                bytes: b"X-Many: v\r\n".to_vec(),
                every: Duration::ZERO,
            },
        ],
    )
}

/// S41 at the boundary: a `200` reply with exactly `fields` header fields in all
/// (`Content-Length` included), on a kept-alive connection. Exercises the field-count
/// cap: 100 fields are a reply, 101 are `limit/too-many-headers`.
pub fn s41_header_count(fields: usize) -> HostileServer {
    let mut head = String::new();
    for i in 1..fields {
        head.push_str(&format!("X-F{i}: v\r\n"));
    }
    head.push_str("Content-Length: 2\r\n");
    HostileServer::answering("s41-header-count", raw("HTTP/1.1 200 OK", &head, b"ok"))
}
