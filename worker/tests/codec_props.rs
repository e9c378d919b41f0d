//! Property tests for the HTTP/1.1 reply codec (`volley_worker::http`).
//!
//! [`reader::ReplyReader`] drives [`parse_head`](volley_worker::http::parse_head) and
//! [`BodyDecoder`](volley_worker::http::BodyDecoder) (or their `_limited` / `with_limits`
//! forms, for caps other than the defaults) over a byte stream the way the worker's slot
//! state machine does (`worker/src/drive.rs`, `on_head_bytes` / `on_body_bytes`): head
//! bytes accumulate in a buffer of at most the head cap (`MAX_HEAD_BYTES` by default),
//! interim 1xx heads are skipped (at most `MAX_INTERIM` of them), and once the final head
//! is parsed every further byte is fed to the body decoder and dropped. The properties in `props` check that the verdict
//! does not depend on how the stream is cut into reads, that nothing panics, that valid
//! replies are counted and delimited exactly, and that the head buffer stays bounded.
//!
//! The `reader` module has no dependency on proptest: the cargo-fuzz target in
//! `fuzz/fuzz_targets/reply.rs` includes this file as a module (where `cfg(test)` is off, so
//! only `reader` is compiled) and runs the same split-invariance check on fuzzer input.

/// A model of the worker's reply reading, on top of the public codec API.
pub mod reader {
    use volley_config::ReplyLimits;
    use volley_worker::http::{
        BodyDecoder, BodyError, HeadError, MAX_INTERIM, parse_head, parse_head_limited,
    };

    /// Why a reply was rejected.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Failure {
        /// `parse_head` returned this error.
        Head(HeadError),
        /// `BodyDecoder::feed` returned this error.
        Body(BodyError),
        /// More than `MAX_INTERIM` interim heads before the final one.
        TooManyInterim,
    }

    /// What the reader made of the bytes it was given.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Verdict {
        /// The reply ended by its own framing. `consumed_total` counts the stream bytes it
        /// used (interim heads, final head, body); bytes after that belong to the next
        /// reply.
        Complete {
            /// Status of the final head.
            status: u16,
            /// Payload bytes, chunk framing excluded.
            body_bytes: u64,
            /// Stream bytes up to the end of the reply.
            consumed_total: usize,
        },
        /// The reply was rejected: the connection would be closed.
        Error(Failure),
        /// Undecided: more input is needed (before end of input only).
        NeedMore {
            /// The final head has been parsed.
            in_body: bool,
            /// Payload bytes seen so far.
            body_bytes: u64,
        },
        /// The input ended (the peer closed) and the body ran until close.
        EofOk {
            /// Status of the final head.
            status: u16,
            /// Payload bytes.
            body_bytes: u64,
        },
        /// The input ended before the reply did.
        EofIncomplete {
            /// The final head had been parsed.
            in_body: bool,
            /// Payload bytes seen before the end.
            body_bytes: u64,
        },
    }

    /// The verdicts of one run over a whole stream.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct Outcome {
        /// The verdict once every byte was delivered, before end of input.
        pub before_eof: Verdict,
        /// The verdict after end of input.
        pub after_eof: Verdict,
        /// Most bytes the head buffer ever held.
        pub max_head_buffered: usize,
    }

    impl Outcome {
        /// The part of the outcome that must not depend on how the stream was split.
        pub fn verdicts(&self) -> (Verdict, Verdict) {
            (self.before_eof, self.after_eof)
        }
    }

    enum Phase {
        Head {
            buf: Vec<u8>,
            interim: usize,
        },
        Body {
            status: u16,
            decoder: BodyDecoder,
            body_bytes: u64,
        },
        Done(Verdict),
    }

    /// Reads one reply from reads of any size, like a worker slot.
    pub struct ReplyReader {
        request_was_head: bool,
        /// `None`: the default caps, through `parse_head` and `BodyDecoder::new`.
        limits: Option<ReplyLimits>,
        phase: Phase,
        /// Stream bytes used so far: skipped interim heads, the final head, body bytes.
        used: usize,
        max_head_buffered: usize,
    }

    impl ReplyReader {
        /// A reader for the reply to a request (`HEAD` if `request_was_head`).
        pub fn new(request_was_head: bool) -> Self {
            Self::with_limits(request_was_head, None)
        }

        /// A reader that applies `limits` (`None`: the defaults) with
        /// `parse_head_limited` and `BodyDecoder::with_limits`. `head_bytes` must be at
        /// least 1, as the worker's configuration ensures (it asks for 1024).
        pub fn with_limits(request_was_head: bool, limits: Option<ReplyLimits>) -> Self {
            ReplyReader {
                request_was_head,
                limits,
                phase: Phase::Head {
                    buf: Vec::new(),
                    interim: 0,
                },
                used: 0,
                max_head_buffered: 0,
            }
        }

        /// The reply is complete or rejected; further input is ignored.
        pub fn is_decided(&self) -> bool {
            matches!(self.phase, Phase::Done(_))
        }

        /// Delivers one read. An empty read delivers nothing (end of input is
        /// [`ReplyReader::finish`]).
        pub fn push(&mut self, mut input: &[u8]) {
            let cap = self.head_cap();
            while !input.is_empty() {
                match &mut self.phase {
                    Phase::Done(_) => return,
                    Phase::Head { buf, .. } => {
                        // Like a read into the slot buffer: never more than the cap.
                        let take = input.len().min(cap - buf.len());
                        assert!(take > 0, "head buffer full and still undecided");
                        buf.extend_from_slice(&input[..take]);
                        self.max_head_buffered = self.max_head_buffered.max(buf.len());
                        input = &input[take..];
                        self.parse_heads();
                    }
                    Phase::Body { .. } => {
                        self.feed_body(input);
                        return;
                    }
                }
            }
        }

        /// The most head bytes the buffer may hold.
        fn head_cap(&self) -> usize {
            self.limits
                .map_or(ReplyLimits::default().head_bytes, |l| l.head_bytes)
        }

        /// Parses the heads in the buffer: skips interim ones, starts the body after the
        /// final one with the bytes that follow it.
        fn parse_heads(&mut self) {
            let cap = self.head_cap();
            loop {
                let Phase::Head { buf, interim } = &mut self.phase else {
                    return;
                };
                let parsed = match &self.limits {
                    None => parse_head(buf, self.request_was_head),
                    Some(limits) => parse_head_limited(buf, self.request_was_head, limits),
                };
                let head = match parsed {
                    Ok(Some(head)) => head,
                    Ok(None) => {
                        assert!(
                            buf.len() < cap,
                            "parse_head needs more than the head cap ({cap} bytes) to decide"
                        );
                        return;
                    }
                    Err(err) => {
                        self.phase = Phase::Done(Verdict::Error(Failure::Head(err)));
                        return;
                    }
                };
                assert!(
                    head.head_len > 0 && head.head_len <= buf.len(),
                    "head_len {} outside the {} bytes parsed",
                    head.head_len,
                    buf.len()
                );
                assert!(
                    !head.keep_alive || !head.anomaly,
                    "keep_alive despite an anomaly: {head:?}"
                );
                self.used += head.head_len;
                if head.is_interim() {
                    if *interim >= MAX_INTERIM {
                        self.phase = Phase::Done(Verdict::Error(Failure::TooManyInterim));
                        return;
                    }
                    *interim += 1;
                    buf.drain(..head.head_len);
                    continue;
                }
                let rest = buf.split_off(head.head_len);
                let decoder = match &self.limits {
                    None => BodyDecoder::new(head.framing),
                    Some(l) => {
                        BodyDecoder::with_limits(head.framing, l.chunk_ext_bytes, l.trailer_bytes)
                    }
                };
                self.phase = Phase::Body {
                    status: head.status,
                    decoder,
                    body_bytes: 0,
                };
                // Fed even when empty, as the worker does: a body-less reply ends here.
                self.feed_body(&rest);
                return;
            }
        }

        fn feed_body(&mut self, input: &[u8]) {
            let Phase::Body {
                status,
                decoder,
                body_bytes,
            } = &mut self.phase
            else {
                return;
            };
            match decoder.feed(input) {
                Ok(progress) => {
                    assert!(progress.consumed <= input.len(), "{progress:?}");
                    assert!(
                        progress.body_bytes <= progress.consumed as u64,
                        "{progress:?}"
                    );
                    assert!(
                        progress.done || progress.consumed == input.len(),
                        "unfinished body left bytes: {progress:?} of {}",
                        input.len()
                    );
                    assert_eq!(decoder.is_done(), progress.done, "is_done vs feed");
                    *body_bytes += progress.body_bytes;
                    self.used += progress.consumed;
                    if progress.done {
                        self.phase = Phase::Done(Verdict::Complete {
                            status: *status,
                            body_bytes: *body_bytes,
                            consumed_total: self.used,
                        });
                    }
                }
                Err(err) => self.phase = Phase::Done(Verdict::Error(Failure::Body(err))),
            }
        }

        /// The verdict so far, before end of input.
        pub fn verdict(&self) -> Verdict {
            match &self.phase {
                Phase::Head { .. } => Verdict::NeedMore {
                    in_body: false,
                    body_bytes: 0,
                },
                Phase::Body { body_bytes, .. } => Verdict::NeedMore {
                    in_body: true,
                    body_bytes: *body_bytes,
                },
                Phase::Done(verdict) => *verdict,
            }
        }

        /// The input ended: the verdict after end of input.
        pub fn finish(&self) -> Verdict {
            match &self.phase {
                Phase::Head { .. } => Verdict::EofIncomplete {
                    in_body: false,
                    body_bytes: 0,
                },
                Phase::Body {
                    status,
                    decoder,
                    body_bytes,
                } => match decoder.eof() {
                    Ok(()) => Verdict::EofOk {
                        status: *status,
                        body_bytes: *body_bytes,
                    },
                    Err(BodyError::Incomplete) => Verdict::EofIncomplete {
                        in_body: true,
                        body_bytes: *body_bytes,
                    },
                    Err(err) => panic!("eof() reports {err:?} that no feed() returned"),
                },
                Phase::Done(verdict) => *verdict,
            }
        }

        /// Both verdicts and the buffer high-water mark.
        pub fn outcome(&self) -> Outcome {
            Outcome {
                before_eof: self.verdict(),
                after_eof: self.finish(),
                max_head_buffered: self.max_head_buffered,
            }
        }
    }

    /// Reads `stream` in reads of `sizes[0]`, `sizes[1]`, … bytes (cycling; a 0 is an
    /// empty read), or in one read if `sizes` is empty or all zero.
    pub fn read_in_pieces(stream: &[u8], request_was_head: bool, sizes: &[usize]) -> Outcome {
        read_limited(stream, request_was_head, None, sizes)
    }

    /// [`read_in_pieces`] with caps (`None`: the defaults).
    pub fn read_limited(
        stream: &[u8],
        request_was_head: bool,
        limits: Option<ReplyLimits>,
        sizes: &[usize],
    ) -> Outcome {
        let mut reader = ReplyReader::with_limits(request_was_head, limits);
        let all_zero = sizes.iter().all(|&size| size == 0);
        let mut rest = stream;
        let mut turn = 0;
        while !rest.is_empty() && !reader.is_decided() {
            let size = if all_zero {
                rest.len()
            } else {
                sizes[turn % sizes.len()]
            };
            turn += 1;
            let (piece, tail) = rest.split_at(size.min(rest.len()));
            reader.push(piece);
            rest = tail;
        }
        reader.outcome()
    }

    /// Reads `stream` in one read and once per split pattern (see [`read_in_pieces`]),
    /// asserts that every run reaches the same verdicts and that no run buffered more than
    /// `MAX_HEAD_BYTES` of head, and returns the one-read outcome.
    pub fn check_splits(stream: &[u8], request_was_head: bool, patterns: &[&[usize]]) -> Outcome {
        check_splits_limited(stream, request_was_head, None, patterns)
    }

    /// [`check_splits`] with caps (`None`: the defaults); the head buffer is bounded by
    /// `limits.head_bytes`.
    pub fn check_splits_limited(
        stream: &[u8],
        request_was_head: bool,
        limits: Option<ReplyLimits>,
        patterns: &[&[usize]],
    ) -> Outcome {
        let cap = limits.unwrap_or_default().head_bytes;
        let whole = read_limited(stream, request_was_head, limits, &[]);
        assert!(whole.max_head_buffered <= cap);
        for sizes in patterns {
            let split = read_limited(stream, request_was_head, limits, sizes);
            assert_eq!(
                split.verdicts(),
                whole.verdicts(),
                "split-invariance violated: reads of {sizes:?} (left) vs one read (right), \
                 request_was_head={request_was_head}, limits={limits:?}, stream={:?}",
                String::from_utf8_lossy(stream)
            );
            assert!(split.max_head_buffered <= cap);
        }
        whole
    }
}

#[cfg(test)]
mod props {
    use proptest::collection::vec;
    use proptest::prelude::*;
    use proptest::sample::{Index, select};
    use volley_config::ReplyLimits;
    use volley_worker::http::{
        BodyDecoder, BodyError, Framing, HeadError, MAX_CHUNK_EXT_BYTES, MAX_HEAD_BYTES,
        MAX_INTERIM, MAX_TRAILER_BYTES, parse_head,
    };

    use super::reader::{Failure, Verdict, check_splits, check_splits_limited, read_in_pieces};

    /// `cases` cases, or `PROPTEST_CASES / divisor` when that is set (for long runs: the
    /// 64 KiB cases are scaled down); no regression files are written.
    fn config(cases: u32, divisor: u32) -> ProptestConfig {
        let cases = std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse::<u32>().ok())
            .map_or(cases, |n| (n / divisor).max(1));
        ProptestConfig {
            cases,
            failure_persistence: None,
            ..ProptestConfig::default()
        }
    }

    /// Read sizes for one split pattern: mostly small, some empty reads.
    fn sizes() -> impl Strategy<Value = Vec<usize>> {
        vec(
            prop_oneof![1 => Just(0usize), 8 => 1usize..=48, 1 => 49usize..=600],
            1..12,
        )
    }

    /// Whole stream vs. a generated split vs. one byte at a time.
    fn check_all(stream: &[u8], request_was_head: bool, sizes: &[usize]) -> super::reader::Outcome {
        check_splits(stream, request_was_head, &[sizes, &[1]])
    }

    // ---- generators of valid replies -------------------------------------------------

    type Eol = &'static [u8];

    fn eol() -> impl Strategy<Value = Eol> {
        prop_oneof![3 => Just(&b"\r\n"[..]), 1 => Just(&b"\n"[..])]
    }

    const FILLER_NAMES: &[&str] = &[
        "Server",
        "Date",
        "X-Trace",
        "cache-control",
        "VARY",
        "Set-Cookie",
        "Link",
        "X-A",
        "Content-Type",
        "Connection",
    ];

    fn value_byte() -> impl Strategy<Value = u8> {
        prop_oneof![
            12 => 0x21u8..=0x7e,
            2 => Just(b' '),
            1 => Just(b'\t'),
            1 => 0x80u8..=0xff,
        ]
    }

    /// A header field that does not touch framing.
    #[derive(Debug, Clone)]
    struct Field {
        name: &'static str,
        value: Vec<u8>,
        /// An obs-fold continuation line.
        fold: Option<Vec<u8>>,
        eol: Eol,
    }

    fn field() -> impl Strategy<Value = Field> {
        (
            select(FILLER_NAMES),
            vec(value_byte(), 0..20),
            proptest::option::weighted(0.1, vec(value_byte(), 0..8)),
            eol(),
        )
            .prop_map(|(name, value, fold, eol)| Field {
                name,
                value,
                fold,
                eol,
            })
    }

    fn render_field(out: &mut Vec<u8>, field: &Field) {
        out.extend_from_slice(field.name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(&field.value);
        out.extend_from_slice(field.eol);
        if let Some(fold) = &field.fold {
            out.push(b' ');
            out.extend_from_slice(fold);
            out.extend_from_slice(field.eol);
        }
    }

    /// A status line and header section; the status is chosen by the body plan.
    #[derive(Debug, Clone)]
    struct Head {
        leading: Vec<Eol>,
        minor: u8,
        reason: Vec<u8>,
        line_eol: Eol,
        fields: Vec<Field>,
        /// Where the framing fields go among `fields`.
        framing_at: Index,
        end_eol: Eol,
    }

    fn head() -> impl Strategy<Value = Head> {
        (
            vec(eol(), 0..2),
            0u8..=1,
            vec(
                prop_oneof![4 => b'a'..=b'z', 1 => Just(b' '), 1 => 0x80u8..=0xff],
                0..12,
            ),
            eol(),
            vec(field(), 0..6),
            any::<Index>(),
            eol(),
        )
            .prop_map(
                |(leading, minor, reason, line_eol, fields, framing_at, end_eol)| Head {
                    leading,
                    minor,
                    reason,
                    line_eol,
                    fields,
                    framing_at,
                    end_eol,
                },
            )
    }

    fn render_head(
        out: &mut Vec<u8>,
        meta: &mut Meta,
        head: &Head,
        status: u16,
        framing: &[(&str, String)],
    ) {
        let start = out.len();
        for eol in &head.leading {
            out.extend_from_slice(eol);
        }
        out.extend_from_slice(format!("HTTP/1.{} {status}", head.minor).as_bytes());
        if !head.reason.is_empty() {
            out.push(b' ');
            out.extend_from_slice(&head.reason);
        }
        out.extend_from_slice(head.line_eol);
        let at = head.framing_at.index(head.fields.len() + 1);
        for (i, field) in head.fields.iter().enumerate() {
            if i == at {
                render_framing(out, framing, field.eol);
            }
            render_field(out, field);
        }
        if at == head.fields.len() {
            render_framing(out, framing, head.end_eol);
        }
        out.extend_from_slice(head.end_eol);
        meta.max_head_len = meta.max_head_len.max(out.len() - start);
        meta.max_fields = meta.max_fields.max(head.fields.len() + framing.len());
    }

    fn render_framing(out: &mut Vec<u8>, framing: &[(&str, String)], eol: Eol) {
        for (name, value) in framing {
            out.extend_from_slice(format!("{name}: {value}").as_bytes());
            out.extend_from_slice(eol);
        }
    }

    /// One data chunk of a chunked body.
    #[derive(Debug, Clone)]
    struct Chunk {
        data: Vec<u8>,
        /// Leading zeros of the size.
        zeros: usize,
        /// Bit i set: hex digit i is upper case.
        upper: u16,
        /// Whitespace after the size.
        ws: Vec<u8>,
        /// Chunk extensions after a `;` (any bytes but CR and LF).
        ext: Option<Vec<u8>>,
        size_eol: Eol,
        data_eol: Eol,
    }

    fn ext_bytes() -> impl Strategy<Value = Vec<u8>> {
        vec(
            prop_oneof![
                4 => select(&b"abcxyz=\";, \t09"[..]),
                1 => any::<u8>().prop_map(|b| if b == b'\r' || b == b'\n' { b';' } else { b }),
            ],
            0..12,
        )
    }

    fn chunk_ws() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![3 => Just(Vec::new()), 1 => vec(select(&b" \t"[..]), 1..3)]
    }

    fn chunk() -> impl Strategy<Value = Chunk> {
        (
            prop_oneof![6 => vec(any::<u8>(), 1..40), 1 => vec(any::<u8>(), 40..700)],
            0usize..=3,
            any::<u16>(),
            chunk_ws(),
            proptest::option::weighted(0.3, ext_bytes()),
            eol(),
            eol(),
        )
            .prop_map(|(data, zeros, upper, ws, ext, size_eol, data_eol)| Chunk {
                data,
                zeros,
                upper,
                ws,
                ext,
                size_eol,
                data_eol,
            })
    }

    /// A chunk size in hex with `zeros` leading zeros and per-digit case from `upper`.
    fn hex_size(size: usize, zeros: usize, upper: u16) -> Vec<u8> {
        let digits = format!("{}{size:x}", "0".repeat(zeros));
        digits
            .bytes()
            .enumerate()
            .map(|(i, b)| {
                if upper & (1 << (i % 16)) != 0 {
                    b.to_ascii_uppercase()
                } else {
                    b
                }
            })
            .collect()
    }

    fn render_size_line(out: &mut Vec<u8>, size: &[u8], ws: &[u8], ext: Option<&[u8]>, e: Eol) {
        out.extend_from_slice(size);
        out.extend_from_slice(ws);
        if let Some(ext) = ext {
            out.push(b';');
            out.extend_from_slice(ext);
        }
        out.extend_from_slice(e);
    }

    /// How a reply body is framed and what it carries.
    #[derive(Debug, Clone)]
    enum Body {
        /// `Content-Length`, written in one of several equivalent styles.
        Length { payload: Vec<u8>, style: u8 },
        /// Chunked transfer coding (possibly with a Content-Length that it overrides).
        Chunked {
            chunks: Vec<Chunk>,
            last_zeros: usize,
            last_ws: Vec<u8>,
            last_ext: Option<Vec<u8>>,
            last_eol: Eol,
            trailers: Vec<Field>,
            end_eol: Eol,
            te_style: u8,
            with_cl: bool,
        },
        /// No length: the body runs until close (style 0: no framing fields, 1: a
        /// non-chunked coding, 2: 101 Switching Protocols).
        UntilClose { payload: Vec<u8>, style: u8 },
        /// No body at all: 204 (cause 0), 304 (1) or a reply to HEAD (2), whatever the
        /// framing fields (`decoy`) say.
        Bodiless { cause: u8, status: Index, decoy: u8 },
    }

    fn body() -> impl Strategy<Value = Body> {
        let trailer = field().prop_map(|mut f| {
            f.fold = None;
            f
        });
        prop_oneof![
            (vec(any::<u8>(), 0..300), 0u8..6)
                .prop_map(|(payload, style)| Body::Length { payload, style }),
            (
                vec(chunk(), 0..5),
                1usize..=3,
                chunk_ws(),
                proptest::option::weighted(0.3, ext_bytes()),
                eol(),
                vec(trailer, 0..3),
                eol(),
                0u8..5,
                proptest::bool::weighted(0.2),
            )
                .prop_map(
                    |(
                        chunks,
                        last_zeros,
                        last_ws,
                        last_ext,
                        last_eol,
                        trailers,
                        end_eol,
                        te_style,
                        with_cl,
                    )| Body::Chunked {
                        chunks,
                        last_zeros,
                        last_ws,
                        last_ext,
                        last_eol,
                        trailers,
                        end_eol,
                        te_style,
                        with_cl,
                    }
                ),
            (vec(any::<u8>(), 0..200), 0u8..3)
                .prop_map(|(payload, style)| Body::UntilClose { payload, style }),
            (0u8..3, any::<Index>(), 0u8..6).prop_map(|(cause, status, decoy)| Body::Bodiless {
                cause,
                status,
                decoy
            }),
        ]
    }

    /// A complete reply: interim heads, then the final head and its body.
    #[derive(Debug, Clone)]
    struct ReplyPlan {
        interim: Vec<(u16, Head)>,
        head: Head,
        status: Index,
        body: Body,
    }

    fn reply() -> impl Strategy<Value = ReplyPlan> {
        (
            vec((select(&[100u16, 102, 103, 150, 199][..]), head()), 0..3),
            head(),
            any::<Index>(),
            body(),
        )
            .prop_map(|(interim, head, status, body)| ReplyPlan {
                interim,
                head,
                status,
                body,
            })
    }

    /// A rendered reply and what reading it must give.
    #[derive(Debug, Clone)]
    struct Rendered {
        bytes: Vec<u8>,
        request_was_head: bool,
        status: u16,
        payload: u64,
        /// The reply ends by its own framing (not at close).
        delimited: bool,
        meta: Meta,
    }

    /// What the caps measure in a rendered reply.
    #[derive(Debug, Clone, Copy, Default)]
    struct Meta {
        /// Longest head, leading empty lines and the final empty line included.
        max_head_len: usize,
        /// Most header fields in one head (an obs-folded field counts once).
        max_fields: usize,
        /// Chunk extension bytes as the decoder counts them: whitespace after a size,
        /// the `;` and what follows up to the line end.
        ext_total: usize,
        /// The trailer section, final empty line included.
        trailer_total: usize,
    }

    impl Rendered {
        /// The verdicts reading the rendered reply must give, before and after end of
        /// input.
        fn expected(&self) -> (Verdict, Verdict) {
            if self.delimited {
                let done = Verdict::Complete {
                    status: self.status,
                    body_bytes: self.payload,
                    consumed_total: self.bytes.len(),
                };
                (done, done)
            } else {
                (
                    Verdict::NeedMore {
                        in_body: true,
                        body_bytes: self.payload,
                    },
                    Verdict::EofOk {
                        status: self.status,
                        body_bytes: self.payload,
                    },
                )
            }
        }
    }

    const FINAL_STATUSES: &[u16] = &[
        200, 201, 202, 206, 299, 301, 302, 400, 404, 500, 503, 599, 999,
    ];

    fn render(plan: &ReplyPlan) -> Rendered {
        let mut out = Vec::new();
        let mut meta = Meta::default();
        for (status, head) in &plan.interim {
            // A Content-Length on an interim head is ignored.
            let decoy = [("Content-Length", "3".to_string())];
            let framing: &[(&str, String)] = if head.minor == 0 { &decoy } else { &[] };
            render_head(&mut out, &mut meta, head, *status, framing);
        }
        let mut request_was_head = false;
        let (status, payload, delimited) = match &plan.body {
            Body::Length { payload, style } => {
                let status = *plan.status.get(FINAL_STATUSES);
                let n = payload.len();
                let framing = match style {
                    0 => vec![("Content-Length", n.to_string())],
                    1 => vec![("Content-Length", format!("00{n}"))],
                    2 => vec![("Content-Length", format!("{n}, {n}"))],
                    3 => vec![
                        ("Content-Length", n.to_string()),
                        ("content-length", n.to_string()),
                    ],
                    4 => vec![("Content-Length", format!("\t {n} \t"))],
                    _ => vec![("CONTENT-LENGTH", format!("{n},{n},{n}"))],
                };
                render_head(&mut out, &mut meta, &plan.head, status, &framing);
                out.extend_from_slice(payload);
                (status, n, true)
            }
            Body::Chunked {
                chunks,
                last_zeros,
                last_ws,
                last_ext,
                last_eol,
                trailers,
                end_eol,
                te_style,
                with_cl,
            } => {
                let status = *plan.status.get(FINAL_STATUSES);
                let mut framing = match te_style {
                    0 => vec![("Transfer-Encoding", "chunked".to_string())],
                    1 => vec![("transfer-encoding", "CHUNKED".to_string())],
                    2 => vec![("Transfer-Encoding", "gzip, chunked".to_string())],
                    3 => vec![
                        ("Transfer-Encoding", "gzip".to_string()),
                        ("Transfer-Encoding", "chunked".to_string()),
                    ],
                    _ => vec![("Transfer-Encoding", "identity,, Chunked ".to_string())],
                };
                if *with_cl {
                    // Transfer-Encoding overrides it (an anomaly, decoded as chunked).
                    framing.insert(0, ("Content-Length", "7".to_string()));
                }
                render_head(&mut out, &mut meta, &plan.head, status, &framing);
                let mut payload = 0;
                for chunk in chunks {
                    let size = hex_size(chunk.data.len(), chunk.zeros, chunk.upper);
                    render_size_line(
                        &mut out,
                        &size,
                        &chunk.ws,
                        chunk.ext.as_deref(),
                        chunk.size_eol,
                    );
                    out.extend_from_slice(&chunk.data);
                    out.extend_from_slice(chunk.data_eol);
                    payload += chunk.data.len();
                    meta.ext_total +=
                        chunk.ws.len() + chunk.ext.as_ref().map_or(0, |e| 1 + e.len());
                }
                meta.ext_total += last_ws.len() + last_ext.as_ref().map_or(0, |e| 1 + e.len());
                let zeros = "0".repeat(*last_zeros);
                render_size_line(
                    &mut out,
                    zeros.as_bytes(),
                    last_ws,
                    last_ext.as_deref(),
                    last_eol,
                );
                let section = out.len();
                for trailer in trailers {
                    render_field(&mut out, trailer);
                }
                out.extend_from_slice(end_eol);
                meta.trailer_total = out.len() - section;
                (status, payload, true)
            }
            Body::UntilClose { payload, style } => {
                let (status, framing) = match style {
                    0 => (*plan.status.get(FINAL_STATUSES), vec![]),
                    1 => (
                        *plan.status.get(FINAL_STATUSES),
                        vec![("Transfer-Encoding", "chunked, gzip".to_string())],
                    ),
                    _ => (101, vec![("Content-Length", "0".to_string())]),
                };
                render_head(&mut out, &mut meta, &plan.head, status, &framing);
                out.extend_from_slice(payload);
                (status, payload.len(), false)
            }
            Body::Bodiless {
                cause,
                status,
                decoy,
            } => {
                let status = match cause {
                    0 => 204,
                    1 => 304,
                    _ => {
                        request_was_head = true;
                        *status.get(&[200, 204, 304, 404, 500, 999])
                    }
                };
                let framing = match decoy {
                    0 => vec![],
                    1 => vec![("Content-Length", "10".to_string())],
                    2 => vec![("Transfer-Encoding", "chunked".to_string())],
                    3 => vec![("Content-Length", "abc".to_string())],
                    4 => vec![("Transfer-Encoding", "chunked, chunked".to_string())],
                    _ => vec![
                        ("Content-Length", "5".to_string()),
                        ("Transfer-Encoding", "chunked".to_string()),
                    ],
                };
                render_head(&mut out, &mut meta, &plan.head, status, &framing);
                (status, 0, true)
            }
        };
        Rendered {
            bytes: out,
            request_was_head,
            status,
            payload: payload as u64,
            delimited,
            meta,
        }
    }

    /// Bytes after a delimited reply: junk, or the start of another reply.
    fn extra() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            vec(any::<u8>(), 0..32),
            Just(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n".to_vec()),
            Just(b"0\r\n\r\n".to_vec()),
        ]
    }

    // ---- generators of invalid and near-valid input -------------------------------------

    fn interesting_byte() -> impl Strategy<Value = u8> {
        prop_oneof![
            3 => select(&b"\r\n\t :;,=0123456789aAfFgGxX-+\x00\x7f\x80\xffHTP/."[..]),
            1 => any::<u8>(),
        ]
    }

    #[derive(Debug, Clone)]
    enum Mutation {
        Replace(Index, u8),
        Insert(Index, u8),
        Delete(Index),
        Truncate(Index),
    }

    fn mutation() -> impl Strategy<Value = Mutation> {
        prop_oneof![
            4 => (any::<Index>(), interesting_byte()).prop_map(|(i, b)| Mutation::Replace(i, b)),
            2 => (any::<Index>(), interesting_byte()).prop_map(|(i, b)| Mutation::Insert(i, b)),
            2 => any::<Index>().prop_map(Mutation::Delete),
            1 => any::<Index>().prop_map(Mutation::Truncate),
        ]
    }

    fn mutate(bytes: &mut Vec<u8>, mutations: &[Mutation]) {
        for mutation in mutations {
            let len = bytes.len();
            match mutation {
                Mutation::Replace(i, b) if len > 0 => bytes[i.index(len)] = *b,
                Mutation::Insert(i, b) => bytes.insert(i.index(len + 1), *b),
                Mutation::Delete(i) if len > 0 => {
                    bytes.remove(i.index(len));
                }
                Mutation::Truncate(i) => bytes.truncate(i.index(len + 1)),
                _ => {}
            }
        }
    }

    const FRAGMENTS: &[&[u8]] = &[
        b"HTTP/1.1 ",
        b"HTTP/1.0 ",
        b"HTTP/1.1 200 OK\r\n",
        b"HTTP/1.1 100 Continue\r\n\r\n",
        b"200",
        b"101",
        b"204",
        b"304",
        b" OK",
        b"\r\n",
        b"\n",
        b"\r",
        b": ",
        b":",
        b" ",
        b"\t",
        b"Content-Length",
        b"Transfer-Encoding",
        b"Connection",
        b"chunked",
        b"gzip",
        b"close",
        b",",
        b";",
        b"=",
        b"0",
        b"1",
        b"5",
        b"a",
        b"F",
        b"00000000000000001",
        b"ffffffffffffffff",
        b"18446744073709551616",
        b"X-A",
        b"\x00",
        b"\x7f",
        b"\x80",
        b"abc",
    ];

    /// Streams made of HTTP tokens, which get much further into the codec than random
    /// bytes.
    fn fragments() -> impl Strategy<Value = Vec<u8>> {
        vec(select(FRAGMENTS), 0..80).prop_map(|parts| parts.concat())
    }

    /// Caps other than the defaults, mostly small so that they are hit.
    fn limits() -> impl Strategy<Value = ReplyLimits> {
        (
            prop_oneof![2 => 1usize..=64, 2 => 65usize..=1024, 1 => 1024usize..=8192],
            prop_oneof![3 => 1usize..=8, 1 => 9usize..=1000],
            prop_oneof![3 => 0usize..=16, 1 => 17usize..=64],
            prop_oneof![3 => 0usize..=32, 1 => 33usize..=256],
        )
            .prop_map(|(head_bytes, headers, chunk_ext_bytes, trailer_bytes)| {
                ReplyLimits {
                    head_bytes,
                    headers,
                    chunk_ext_bytes,
                    trailer_bytes,
                }
            })
    }

    /// Bytes for a body decoder fed directly.
    fn body_stream() -> impl Strategy<Value = Vec<u8>> {
        let parts: &'static [&'static [u8]] = &[
            b"0",
            b"1",
            b"5",
            b"a",
            b"F",
            b"ff",
            b"\r\n",
            b"\n",
            b"\r",
            b";",
            b" ",
            b"\t",
            b"x",
            b"=",
            b"0\r\n\r\n",
            b"abcde",
            b"T: v",
            b"\x00",
        ];
        prop_oneof![
            vec(any::<u8>(), 0..600),
            vec(select(parts), 0..100).prop_map(|p| p.concat()),
        ]
    }

    fn framing() -> impl Strategy<Value = Framing> {
        prop_oneof![
            4 => Just(Framing::Chunked),
            1 => Just(Framing::None),
            1 => Just(Framing::UntilClose),
            2 => (0u64..700).prop_map(Framing::Length),
        ]
    }

    /// Bytes consumed, payload bytes and whether the body ended.
    type Fed = (usize, u64, bool);

    /// Feeds `stream` to a decoder in `sizes` pieces (cycling, 0 = empty piece) until it
    /// is done or fails, checking the per-call contract; returns what feeding gave and
    /// what `eof()` said.
    fn drive_decoder(
        framing: Framing,
        stream: &[u8],
        sizes: &[usize],
    ) -> (Result<Fed, BodyError>, Result<(), BodyError>) {
        let mut decoder = BodyDecoder::new(framing);
        let (mut consumed, mut body, mut done) = (0usize, 0u64, decoder.is_done());
        let all_zero = sizes.iter().all(|&size| size == 0);
        let mut rest = stream;
        let mut turn = 0;
        let fed = loop {
            if done || rest.is_empty() {
                break Ok((consumed, body, done));
            }
            let size = if all_zero {
                rest.len()
            } else {
                sizes[turn % sizes.len()]
            };
            turn += 1;
            let (piece, tail) = rest.split_at(size.min(rest.len()));
            match decoder.feed(piece) {
                Ok(p) => {
                    assert!(p.consumed <= piece.len() && p.body_bytes <= p.consumed as u64);
                    assert!(p.done || p.consumed == piece.len(), "{p:?}");
                    assert_eq!(decoder.is_done(), p.done);
                    consumed += p.consumed;
                    body += p.body_bytes;
                    done = p.done;
                }
                Err(err) => {
                    // A failed decoder stays failed.
                    assert_eq!(decoder.feed(b"0\r\n\r\n"), Err(err));
                    assert!(!decoder.is_done());
                    break Err(err);
                }
            }
            rest = tail;
        };
        (fed, decoder.eof())
    }

    // ---- properties ---------------------------------------------------------------------

    proptest! {
        #![proptest_config(config(1024, 1))]

        /// Properties 1 and 2 on arbitrary bytes: the same verdicts for one read, the
        /// generated reads and one byte at a time; no panic.
        #[test]
        fn split_invariance_arbitrary_bytes(
            stream in vec(any::<u8>(), 0..4096),
            request_was_head: bool,
            sizes in sizes(),
        ) {
            check_all(&stream, request_was_head, &sizes);
        }

        /// Properties 1 and 2 on streams of HTTP tokens, with and without a status line
        /// in front.
        #[test]
        fn split_invariance_http_fragments(
            status_line: bool,
            body in fragments(),
            request_was_head: bool,
            sizes in sizes(),
        ) {
            let mut stream = if status_line { b"HTTP/1.1 200 OK\r\n".to_vec() } else { Vec::new() };
            stream.extend_from_slice(&body);
            check_all(&stream, request_was_head, &sizes);
        }

        /// Properties 1 and 3 on generated valid replies: split-invariant, the payload
        /// counted exactly, and the reply ends exactly where it should, extra bytes after
        /// it untouched.
        #[test]
        fn valid_replies_are_counted_and_delimited(
            plan in reply(),
            extra in extra(),
            sizes in sizes(),
        ) {
            let r = render(&plan);
            let mut stream = r.bytes.clone();
            if r.delimited {
                stream.extend_from_slice(&extra);
            }
            let outcome = check_all(&stream, r.request_was_head, &sizes);
            prop_assert_eq!(outcome.verdicts(), r.expected());
        }

        /// A valid delimited reply cut short anywhere is undecided, and incomplete at
        /// end of input, however it is split.
        #[test]
        fn truncated_replies_are_incomplete(
            plan in reply(),
            cut in any::<Index>(),
            sizes in sizes(),
        ) {
            let r = render(&plan);
            if !r.delimited {
                // Cut short, a close-delimited reply is still a whole one.
                return Ok(());
            }
            let stream = &r.bytes[..cut.index(r.bytes.len())];
            let outcome = check_all(stream, r.request_was_head, &sizes);
            prop_assert!(
                matches!(outcome.before_eof, Verdict::NeedMore { .. }),
                "{:?}", outcome
            );
            prop_assert!(
                matches!(outcome.after_eof, Verdict::EofIncomplete { .. }),
                "{:?}", outcome
            );
        }

        /// Properties 1 and 2 on near-valid replies: valid ones with a few single-byte
        /// replacements, insertions, deletions or a truncation.
        #[test]
        fn split_invariance_mutated_replies(
            plan in reply(),
            extra in extra(),
            mutations in vec(mutation(), 1..4),
            flip_head: bool,
            sizes in sizes(),
        ) {
            let r = render(&plan);
            let mut stream = r.bytes;
            stream.extend_from_slice(&extra);
            mutate(&mut stream, &mutations);
            check_all(&stream, r.request_was_head ^ flip_head, &sizes);
        }

        /// What split-invariance rests on: `parse_head` answers `Ok(None)` for every
        /// prefix until it decides, then the same answer for every longer prefix.
        #[test]
        fn parse_head_decides_once(
            stream in prop_oneof![
                fragments(),
                (reply(), vec(mutation(), 0..3)).prop_map(|(plan, m)| {
                    let mut bytes = render(&plan).bytes;
                    mutate(&mut bytes, &m);
                    bytes
                }),
            ],
            request_was_head: bool,
        ) {
            let end = stream.len().min(700);
            let mut decided = None;
            for len in 0..=end {
                let got = parse_head(&stream[..len], request_was_head);
                if let Ok(Some(head)) = got {
                    prop_assert!(head.head_len <= len);
                }
                match decided {
                    None if got != Ok(None) => decided = Some((len, got)),
                    None => {}
                    Some((at, first)) => prop_assert_eq!(got, first, "prefix {} vs {}", len, at),
                }
            }
        }

        /// Properties 1, 2 and 4 with caps other than the defaults
        /// (`parse_head_limited`, `BodyDecoder::with_limits`): split-invariant, and the
        /// head buffer never holds more than the head cap.
        #[test]
        fn split_invariance_with_caps(
            limits in limits(),
            stream in prop_oneof![
                fragments(),
                (reply(), extra(), vec(mutation(), 0..3)).prop_map(|(plan, extra, m)| {
                    let mut bytes = render(&plan).bytes;
                    bytes.extend_from_slice(&extra);
                    mutate(&mut bytes, &m);
                    bytes
                }),
            ],
            request_was_head: bool,
            sizes in sizes(),
        ) {
            check_splits_limited(&stream, request_was_head, Some(limits), &[&sizes, &[1]]);
        }

        /// Each cap is exact: a valid reply that needs exactly the cap is read as with
        /// the defaults, and one byte (or field) less is that cap's limit error.
        #[test]
        fn caps_are_exact(
            plan in reply(),
            extra in extra(),
            which in 0usize..4,
            below: bool,
            sizes in sizes(),
        ) {
            let r = render(&plan);
            let mut stream = r.bytes.clone();
            if r.delimited {
                stream.extend_from_slice(&extra);
            }
            let mut limits = ReplyLimits::default();
            let (need, slot, error) = match which {
                0 => (
                    r.meta.max_head_len,
                    &mut limits.head_bytes,
                    Failure::Head(HeadError::TooLarge),
                ),
                1 => (
                    r.meta.max_fields,
                    &mut limits.headers,
                    Failure::Head(HeadError::TooManyHeaders),
                ),
                2 => (
                    r.meta.ext_total,
                    &mut limits.chunk_ext_bytes,
                    Failure::Body(BodyError::ChunkExtTooLong),
                ),
                _ => (
                    r.meta.trailer_total,
                    &mut limits.trailer_bytes,
                    Failure::Body(BodyError::TrailersTooLarge),
                ),
            };
            // A header cap of 0 means 1; a body cap only applies to a chunked body.
            let applies = match which {
                1 => need >= 2,
                2 | 3 => matches!(plan.body, Body::Chunked { .. }) && need >= 1,
                _ => true,
            };
            let expected = if below && applies {
                *slot = need - 1;
                (Verdict::Error(error), Verdict::Error(error))
            } else {
                *slot = need.max(1);
                r.expected()
            };
            let outcome = check_splits_limited(
                &stream,
                r.request_was_head,
                Some(limits),
                &[&sizes, &[1]],
            );
            prop_assert_eq!(outcome.verdicts(), expected, "limits {:?}", limits);
        }

        /// The body decoder fed directly (no head in front): split-invariant, contract
        /// kept on every call.
        #[test]
        fn body_decoder_split_invariance(
            framing in framing(),
            stream in body_stream(),
            sizes in sizes(),
        ) {
            let whole = drive_decoder(framing, &stream, &[]);
            prop_assert_eq!(drive_decoder(framing, &stream, &sizes), whole);
            prop_assert_eq!(drive_decoder(framing, &stream, &[1]), whole);
        }
    }

    proptest! {
        #![proptest_config(config(32, 20))]

        /// Property 4: a head that does not end within MAX_HEAD_BYTES is the limit error
        /// for any split, decided with exactly MAX_HEAD_BYTES buffered.
        #[test]
        fn endless_heads_hit_the_limit(
            shape in 0usize..6,
            request_was_head: bool,
            sizes in vec(1usize..=20_000, 1..6),
        ) {
            let stream = endless_head(shape);
            prop_assert!(stream.len() > MAX_HEAD_BYTES);
            // One byte at a time over 64 KiB is quadratic: take big reads up to just
            // short of the cap instead, then single bytes.
            let near_cap: &[usize] = &[MAX_HEAD_BYTES - 3, 1];
            let outcome = check_splits(&stream, request_was_head, &[&sizes, near_cap]);
            let limit = Verdict::Error(Failure::Head(HeadError::TooLarge));
            prop_assert_eq!(outcome.before_eof, limit);
            prop_assert_eq!(outcome.after_eof, limit);
            prop_assert!(HeadError::TooLarge.is_limit());
            for pattern in [&sizes[..], near_cap] {
                let run = read_in_pieces(&stream, request_was_head, pattern);
                prop_assert_eq!(run.max_head_buffered, MAX_HEAD_BYTES);
            }
        }

        /// Property 4, the other side: heads of up to MAX_HEAD_BYTES each, after an
        /// interim head of nearly that size, are read with no more than the cap buffered.
        #[test]
        fn heads_up_to_the_cap_fit(
            interim_pad in 0usize..=MAX_HEAD_BYTES - 64,
            slack in 0usize..4,
            sizes in vec(1usize..=20_000, 1..6),
        ) {
            let interim = padded_head(b"HTTP/1.1 103 Early Hints\r\n", interim_pad);
            let last = padded_head(
                b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n",
                MAX_HEAD_BYTES - slack,
            );
            prop_assert_eq!(last.len(), MAX_HEAD_BYTES - slack);
            let stream = [&interim[..], &last, b"bodyHTTP/1.1"].concat();
            let outcome = check_splits(&stream, false, &[&sizes]);
            let done = Verdict::Complete {
                status: 200,
                body_bytes: 4,
                consumed_total: interim.len() + last.len() + 4,
            };
            prop_assert_eq!(outcome.before_eof, done);
            let run = read_in_pieces(&stream, false, &sizes);
            prop_assert!(run.max_head_buffered <= MAX_HEAD_BYTES);
        }

        /// Chunk-extension and trailer caps: exactly at the cap is accepted, one byte
        /// over is the limit error, for any split.
        #[test]
        fn body_limits_are_exact_and_split_invariant(
            ext_delta in -2i64..=2,
            trailer_delta in -2i64..=2,
            sizes in vec(1usize..=5_000, 1..6),
        ) {
            // "1;" + ext + CRLF: the ';' and the ext bytes count (size digits and line
            // end do not).
            let ext_len = (MAX_CHUNK_EXT_BYTES as i64 - 1 + ext_delta) as usize;
            // The trailer section counts whole, final empty line included.
            let section_len = (MAX_TRAILER_BYTES as i64 + trailer_delta) as usize;
            let mut body = b"1;".to_vec();
            body.resize(2 + ext_len, b'e');
            body.extend_from_slice(b"\r\nx\r\n0\r\n");
            let mut section = b"X-T: ".to_vec();
            section.resize(section_len - 4, b'v');
            section.extend_from_slice(b"\r\n\r\n");
            body.extend_from_slice(&section);
            let mut stream = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
            let head_len = stream.len();
            stream.extend_from_slice(&body);
            stream.extend_from_slice(b"HTTP/1.1 200 OK\r\n");
            let outcome = check_splits(&stream, false, &[&sizes]);
            let expected = if ext_delta > 0 {
                Verdict::Error(Failure::Body(BodyError::ChunkExtTooLong))
            } else if trailer_delta > 0 {
                Verdict::Error(Failure::Body(BodyError::TrailersTooLarge))
            } else {
                Verdict::Complete { status: 200, body_bytes: 1, consumed_total: head_len + body.len() }
            };
            prop_assert_eq!(outcome.before_eof, expected);
        }
    }

    /// Heads that never end, each over MAX_HEAD_BYTES long.
    fn endless_head(shape: usize) -> Vec<u8> {
        let target = MAX_HEAD_BYTES + 6 * 1024;
        let mut out = Vec::with_capacity(target + 1024);
        match shape {
            // One endless header value.
            0 => {
                out.extend_from_slice(b"HTTP/1.1 200 OK\r\nX-Long: ");
                out.resize(target, b'a');
            }
            // Many long header lines, fewer than MAX_HEADERS.
            1 => {
                out.extend_from_slice(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n");
                let mut i = 0;
                while out.len() < target {
                    out.extend_from_slice(format!("X-Pad-{i}: ").as_bytes());
                    out.resize(out.len() + 1000, b'v');
                    out.extend_from_slice(b"\r\n");
                    i += 1;
                }
            }
            // Endless empty lines before the status line.
            2 => {
                while out.len() < target {
                    out.extend_from_slice(b"\r\n");
                }
            }
            // An endless reason phrase.
            3 => {
                out.extend_from_slice(b"HTTP/1.1 200 ");
                out.resize(target, b'R');
            }
            // An endless obs-folded value.
            4 => {
                out.extend_from_slice(b"HTTP/1.1 200 OK\r\nX-Fold: a\r\n");
                while out.len() < target {
                    out.extend_from_slice(b" folded\r\n");
                }
            }
            // An interim head, then an endless header value in the final head.
            _ => {
                out.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nX: ");
                out.resize(target + 30, b'z');
            }
        }
        out
    }

    /// `start` + an `X-Pad` field + the empty line, `total` bytes in all.
    fn padded_head(start: &[u8], total: usize) -> Vec<u8> {
        let mut head = start.to_vec();
        head.extend_from_slice(b"X-Pad: ");
        head.resize(total.max(head.len() + 5) - 4, b'p');
        head.extend_from_slice(b"\r\n\r\n");
        head
    }

    #[test]
    fn interim_heads_are_capped() {
        let interim = b"HTTP/1.1 100 Continue\r\n\r\n";
        let last = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
        for count in [0, 1, MAX_INTERIM, MAX_INTERIM + 1] {
            let mut stream = interim.repeat(count);
            stream.extend_from_slice(last);
            let outcome = check_splits(&stream, false, &[&[1], &[7, 0, 30]]);
            let expected = if count > MAX_INTERIM {
                Verdict::Error(Failure::TooManyInterim)
            } else {
                Verdict::Complete {
                    status: 200,
                    body_bytes: 2,
                    consumed_total: stream.len(),
                }
            };
            assert_eq!(outcome.before_eof, expected, "{count} interim heads");
        }
    }

    #[test]
    fn bodies_are_not_buffered() {
        // A 1 MiB body after a small head: only the head is ever buffered.
        let mut stream = b"HTTP/1.1 200 OK\r\nContent-Length: 1048576\r\n\r\n".to_vec();
        let head_len = stream.len();
        stream.resize(head_len + (1 << 20), b'b');
        for sizes in [&[head_len][..], &[head_len + 10, 4096], &[20, 65_536]] {
            let outcome = read_in_pieces(&stream, false, sizes);
            assert_eq!(
                outcome.before_eof,
                Verdict::Complete {
                    status: 200,
                    body_bytes: 1 << 20,
                    consumed_total: stream.len()
                }
            );
            assert!(outcome.max_head_buffered <= MAX_HEAD_BYTES, "{sizes:?}");
        }
    }
}
