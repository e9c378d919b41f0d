//! Reply bodies: streamed, counted and discarded, never buffered.
//!
//! A [`BodyDecoder`] is built from the head's [`Framing`] and fed whatever bytes
//! arrive after the head, in pieces of any size. It reports how many of them belong
//! to the body (so a pipelined reply that follows is left alone) and how many were
//! payload, as opposed to chunk framing. The chunked decoder is a state machine in the
//! style of hyper's `ChunkedState`: one `match` maps each state to a small step
//! function, and chunk data is skipped in bulk slices.

use std::fmt;

use super::head::Framing;

/// Most bytes of chunk extensions accepted in one message (hyper's
/// `CHUNKED_EXTENSIONS_LIMIT`). Whitespace after a chunk size counts too.
pub const MAX_CHUNK_EXT_BYTES: usize = volley_config::spec::DEFAULT_MAX_CHUNK_EXT_BYTES;

/// Most bytes of trailer section accepted in one message, line ends included.
pub const MAX_TRAILER_BYTES: usize = volley_config::spec::DEFAULT_MAX_TRAILER_BYTES;

/// Most hex digits in a chunk size: 16 digits already fill a `u64`.
const MAX_SIZE_DIGITS: u8 = 16;

/// What one [`BodyDecoder::feed`] call did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Bytes of the input that belong to this body, from its start. Less than the
    /// input length only when `done` is true; the rest belongs to the next message.
    pub consumed: usize,
    /// Payload bytes among `consumed` (chunk sizes, extensions, line ends and
    /// trailers excluded).
    pub body_bytes: u64,
    /// The body has ended.
    pub done: bool,
}

/// Why a body could not be decoded. Every variant means the connection must be
/// closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyError {
    /// A chunk size is empty or has a byte that is not a hex digit (`0x10`, `+5`,
    /// `-1`, `0_2`), or junk follows it before the line end.
    BadChunkSize,
    /// A chunk size has more than 16 hex digits, or does not fit in `u64`.
    ChunkSizeOverflow,
    /// A CR not followed by LF, or chunk data not followed by a line end.
    BadLineEnding,
    /// Chunk extensions exceeded [`MAX_CHUNK_EXT_BYTES`] in this message (a limit).
    ChunkExtTooLong,
    /// The trailer section exceeded [`MAX_TRAILER_BYTES`] (a limit).
    TrailersTooLarge,
    /// The connection closed before the body ended.
    Incomplete,
}

impl BodyError {
    /// True when volley stopped reading because one of its caps was hit; the reply
    /// may have been valid. False for protocol violations and truncation.
    pub fn is_limit(&self) -> bool {
        matches!(
            self,
            BodyError::ChunkExtTooLong | BodyError::TrailersTooLarge
        )
    }

    /// A short, stable name for the case, used as the detail code under the error
    /// class in reports (`protocol/bad-framing`, `protocol/incomplete`, …).
    pub fn detail(&self) -> &'static str {
        match self {
            BodyError::BadChunkSize | BodyError::ChunkSizeOverflow | BodyError::BadLineEnding => {
                "bad-framing"
            }
            BodyError::ChunkExtTooLong => "chunk-ext-too-long",
            BodyError::TrailersTooLarge => "trailers-too-large",
            BodyError::Incomplete => "incomplete",
        }
    }
}

impl fmt::Display for BodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BodyError::BadChunkSize => write!(f, "invalid chunk size"),
            BodyError::ChunkSizeOverflow => write!(f, "chunk size too large"),
            BodyError::BadLineEnding => write!(f, "invalid line ending in chunked body"),
            BodyError::ChunkExtTooLong => {
                write!(f, "chunk extensions exceed the cap (--max-chunk-ext-bytes)")
            }
            BodyError::TrailersTooLarge => {
                write!(f, "trailer section exceeds the cap (--max-trailer-bytes)")
            }
            BodyError::Incomplete => write!(f, "connection closed before the body ended"),
        }
    }
}

impl std::error::Error for BodyError {}

/// Streams one reply body: finds where it ends and counts its payload.
///
/// After an error the decoder keeps returning that error: the connection's framing
/// is lost and it must be closed.
#[derive(Debug, Clone)]
pub struct BodyDecoder {
    kind: Kind,
}

#[derive(Debug, Clone)]
enum Kind {
    /// No body ([`Framing::None`]): done from the start.
    Empty,
    /// `Content-Length`: this many bytes are still to come; done at 0.
    Length { remaining: u64 },
    /// Chunked transfer coding.
    Chunked(Chunked),
    /// Everything until the server closes the connection.
    UntilClose,
    /// A previous call failed with this error.
    Failed(BodyError),
}

impl BodyDecoder {
    /// A decoder for a body framed as `framing` says.
    pub fn new(framing: Framing) -> Self {
        Self::with_limits(framing, MAX_CHUNK_EXT_BYTES, MAX_TRAILER_BYTES)
    }

    /// A decoder with caps on chunk extensions and trailers other than the defaults.
    pub fn with_limits(framing: Framing, max_ext_bytes: usize, max_trailer_bytes: usize) -> Self {
        let kind = match framing {
            Framing::None => Kind::Empty,
            Framing::Length(remaining) => Kind::Length { remaining },
            Framing::Chunked => Kind::Chunked(Chunked::new(max_ext_bytes, max_trailer_bytes)),
            Framing::UntilClose => Kind::UntilClose,
        };
        BodyDecoder { kind }
    }

    /// Feeds received bytes. Consumes as much as belongs to this body and no more;
    /// `done` means the body ended, and bytes after `consumed` belong to the next
    /// message. `body_bytes` counts the payload bytes in this call, chunk framing
    /// excluded. Feeding a finished body consumes nothing.
    ///
    /// # Errors
    ///
    /// A chunked body that breaks the syntax of RFC 9112 §7.1 or exceeds
    /// [`MAX_CHUNK_EXT_BYTES`] or [`MAX_TRAILER_BYTES`]. The progress of the failing
    /// call is not reported: the reply is discarded and the connection closed.
    pub fn feed(&mut self, input: &[u8]) -> Result<Progress, BodyError> {
        self.feed_with(input, |_| {})
    }

    /// [`BodyDecoder::feed`], handing each run of payload bytes (a chunked body's data
    /// without its framing) to `on_data` in order.
    ///
    /// # Errors
    ///
    /// As [`BodyDecoder::feed`].
    pub fn feed_with(
        &mut self,
        input: &[u8],
        mut on_data: impl FnMut(&[u8]),
    ) -> Result<Progress, BodyError> {
        let result = match &mut self.kind {
            Kind::Empty => Ok(Progress {
                consumed: 0,
                body_bytes: 0,
                done: true,
            }),
            Kind::Length { remaining } => {
                let take = clamp_len(*remaining, input.len());
                *remaining = remaining.saturating_sub(to_u64(take));
                if take > 0 {
                    on_data(&input[..take]);
                }
                Ok(Progress {
                    consumed: take,
                    body_bytes: to_u64(take),
                    done: *remaining == 0,
                })
            }
            Kind::Chunked(chunked) => chunked.feed(input, &mut on_data),
            Kind::UntilClose => Ok({
                if !input.is_empty() {
                    on_data(input);
                }
                Progress {
                    consumed: input.len(),
                    body_bytes: to_u64(input.len()),
                    done: false,
                }
            }),
            Kind::Failed(err) => Err(*err),
        };
        if let Err(err) = result {
            self.kind = Kind::Failed(err);
        }
        result
    }

    /// The peer closed the connection.
    ///
    /// # Errors
    ///
    /// [`BodyError::Incomplete`] unless the body had already ended or runs until
    /// close; the earlier error if a previous call failed.
    pub fn eof(&self) -> Result<(), BodyError> {
        match &self.kind {
            Kind::UntilClose => Ok(()),
            Kind::Failed(err) => Err(*err),
            _ if self.is_done() => Ok(()),
            _ => Err(BodyError::Incomplete),
        }
    }

    /// Bytes of a chunked body's trailer section so far (its final empty line included);
    /// 0 for other framings.
    pub fn trailer_bytes(&self) -> usize {
        match &self.kind {
            Kind::Chunked(c) => c.trailer_bytes,
            _ => 0,
        }
    }

    /// The body has ended. Always false for a body that runs until close, whose end
    /// is only known from [`BodyDecoder::eof`].
    pub fn is_done(&self) -> bool {
        match &self.kind {
            Kind::Empty => true,
            Kind::Length { remaining } => *remaining == 0,
            Kind::Chunked(chunked) => chunked.state == ChunkState::End,
            Kind::UntilClose | Kind::Failed(_) => false,
        }
    }
}

/// Where the chunked decoder is within `chunk* last-chunk trailer-section CRLF`
/// (RFC 9112 §7.1). A bare LF is accepted wherever a line end is due (RFC 9112 §2.2);
/// a CR must always be followed by LF.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    /// Reading the hex chunk size; `digits` read so far.
    Size { digits: u8 },
    /// Whitespace after the size, before `;` or the line end.
    SizeWs,
    /// Inside chunk extensions, up to the line end.
    Ext,
    /// After the CR that ends the size line; LF must follow.
    SizeLf,
    /// Chunk data; `chunk_remaining` bytes are left.
    Data,
    /// After chunk data: CR, or a bare LF.
    DataCr,
    /// After the CR that follows chunk data; LF must follow.
    DataLf,
    /// At the start of a trailer field line or of the final empty line.
    TrailerStart,
    /// Inside a trailer field line.
    TrailerLine,
    /// After the CR that ends a trailer field line; LF must follow.
    TrailerLf,
    /// After the CR of the final empty line; LF must follow.
    EndLf,
    /// The message has ended.
    End,
}

/// The chunked decoder's state and its per-message counters.
#[derive(Debug, Clone)]
struct Chunked {
    state: ChunkState,
    /// The size being read (in `Size`), then the data bytes left (in `Data`).
    chunk_remaining: u64,
    /// Bytes of chunk extensions seen in this message.
    ext_bytes: usize,
    /// Bytes of trailer section seen in this message.
    trailer_bytes: usize,
    /// Cap on `ext_bytes`.
    max_ext_bytes: usize,
    /// Cap on `trailer_bytes`.
    max_trailer_bytes: usize,
}

/// What one step of the chunked machine did.
#[derive(Debug, Clone, Copy)]
struct Step {
    /// Input bytes consumed; at least 1 in every state but `End`.
    consumed: usize,
    /// How many of them were payload.
    payload: usize,
}

impl Step {
    /// A step over framing bytes only.
    fn framing(consumed: usize) -> Step {
        Step {
            consumed,
            payload: 0,
        }
    }
}

impl Chunked {
    fn new(max_ext_bytes: usize, max_trailer_bytes: usize) -> Chunked {
        Chunked {
            state: ChunkState::Size { digits: 0 },
            chunk_remaining: 0,
            ext_bytes: 0,
            trailer_bytes: 0,
            max_ext_bytes,
            max_trailer_bytes,
        }
    }

    fn feed(
        &mut self,
        input: &[u8],
        on_data: &mut impl FnMut(&[u8]),
    ) -> Result<Progress, BodyError> {
        let mut consumed = 0;
        let mut payload = 0;
        while self.state != ChunkState::End {
            let rest = match input.get(consumed..) {
                Some(rest) if !rest.is_empty() => rest,
                _ => break,
            };
            let step = self.step(rest)?;
            debug_assert!(step.consumed > 0 && step.consumed <= rest.len());
            if step.consumed == 0 {
                // Unreachable: every state but End consumes. Never spin on it.
                break;
            }
            if step.payload > 0 {
                on_data(&rest[..step.payload]);
            }
            consumed += step.consumed;
            payload += step.payload;
        }
        Ok(Progress {
            consumed,
            body_bytes: to_u64(payload),
            done: self.state == ChunkState::End,
        })
    }

    /// Advances over the start of `buf`, which is not empty.
    fn step(&mut self, buf: &[u8]) -> Result<Step, BodyError> {
        match self.state {
            ChunkState::Size { digits } => self.read_size(buf, digits),
            ChunkState::SizeWs => self.read_size_ws(buf),
            ChunkState::Ext => self.read_ext(buf),
            ChunkState::SizeLf => {
                let next = self.after_size_line();
                self.expect_lf(buf, next)
            }
            ChunkState::Data => Ok(self.read_data(buf)),
            ChunkState::DataCr => self.read_data_cr(buf),
            ChunkState::DataLf => self.expect_lf(buf, ChunkState::Size { digits: 0 }),
            ChunkState::TrailerStart => self.read_trailer_start(buf),
            ChunkState::TrailerLine => self.read_trailer_line(buf),
            ChunkState::TrailerLf => {
                self.add_trailer(1)?;
                self.expect_lf(buf, ChunkState::TrailerStart)
            }
            ChunkState::EndLf => {
                self.add_trailer(1)?;
                self.expect_lf(buf, ChunkState::End)
            }
            ChunkState::End => Ok(Step::framing(0)),
        }
    }

    /// The state after a size line ends: data for a non-zero size, the trailer
    /// section after the last chunk.
    fn after_size_line(&self) -> ChunkState {
        if self.chunk_remaining == 0 {
            ChunkState::TrailerStart
        } else {
            ChunkState::Data
        }
    }

    fn read_size(&mut self, buf: &[u8], mut digits: u8) -> Result<Step, BodyError> {
        for (i, &b) in buf.iter().enumerate() {
            if let Some(value) = hex_value(b) {
                digits += 1;
                if digits > MAX_SIZE_DIGITS {
                    return Err(BodyError::ChunkSizeOverflow);
                }
                self.chunk_remaining = self
                    .chunk_remaining
                    .checked_mul(16)
                    .and_then(|n| n.checked_add(value))
                    .ok_or(BodyError::ChunkSizeOverflow)?;
                continue;
            }
            if digits == 0 {
                return Err(BodyError::BadChunkSize);
            }
            self.state = match b {
                b' ' | b'\t' => {
                    self.add_ext(1)?;
                    ChunkState::SizeWs
                }
                b';' => {
                    self.add_ext(1)?;
                    ChunkState::Ext
                }
                b'\r' => ChunkState::SizeLf,
                b'\n' => self.after_size_line(),
                _ => return Err(BodyError::BadChunkSize),
            };
            return Ok(Step::framing(i + 1));
        }
        self.state = ChunkState::Size { digits };
        Ok(Step::framing(buf.len()))
    }

    fn read_size_ws(&mut self, buf: &[u8]) -> Result<Step, BodyError> {
        let Some(&b) = buf.first() else {
            return Ok(Step::framing(0));
        };
        self.state = match b {
            b' ' | b'\t' => {
                self.add_ext(1)?;
                ChunkState::SizeWs
            }
            b';' => {
                self.add_ext(1)?;
                ChunkState::Ext
            }
            b'\r' => ChunkState::SizeLf,
            b'\n' => self.after_size_line(),
            _ => return Err(BodyError::BadChunkSize),
        };
        Ok(Step::framing(1))
    }

    /// Skips extension bytes up to the line end, in bulk. Their content is ignored
    /// (RFC 9112 §7.1.1), only their length is capped.
    fn read_ext(&mut self, buf: &[u8]) -> Result<Step, BodyError> {
        let Some(end) = buf.iter().position(|&b| b == b'\r' || b == b'\n') else {
            self.add_ext(buf.len())?;
            return Ok(Step::framing(buf.len()));
        };
        self.add_ext(end)?;
        self.state = match buf.get(end) {
            Some(b'\r') => ChunkState::SizeLf,
            _ => self.after_size_line(),
        };
        Ok(Step::framing(end + 1))
    }

    /// Consumes the LF that must follow a CR and moves to `next`.
    fn expect_lf(&mut self, buf: &[u8], next: ChunkState) -> Result<Step, BodyError> {
        match buf.first() {
            Some(b'\n') => {
                self.state = next;
                Ok(Step::framing(1))
            }
            Some(_) => Err(BodyError::BadLineEnding),
            None => Ok(Step::framing(0)),
        }
    }

    /// Skips as much chunk data as is available, in one slice.
    fn read_data(&mut self, buf: &[u8]) -> Step {
        let take = clamp_len(self.chunk_remaining, buf.len());
        self.chunk_remaining = self.chunk_remaining.saturating_sub(to_u64(take));
        if self.chunk_remaining == 0 {
            self.state = ChunkState::DataCr;
        }
        Step {
            consumed: take,
            payload: take,
        }
    }

    fn read_data_cr(&mut self, buf: &[u8]) -> Result<Step, BodyError> {
        self.state = match buf.first() {
            Some(b'\r') => ChunkState::DataLf,
            Some(b'\n') => ChunkState::Size { digits: 0 },
            Some(_) => return Err(BodyError::BadLineEnding),
            None => return Ok(Step::framing(0)),
        };
        Ok(Step::framing(1))
    }

    fn read_trailer_start(&mut self, buf: &[u8]) -> Result<Step, BodyError> {
        let Some(&b) = buf.first() else {
            return Ok(Step::framing(0));
        };
        self.add_trailer(1)?;
        self.state = match b {
            b'\r' => ChunkState::EndLf,
            b'\n' => ChunkState::End,
            _ => ChunkState::TrailerLine,
        };
        Ok(Step::framing(1))
    }

    /// Skips a trailer field line up to its line end, in bulk. Trailer fields never
    /// change framing, so their content is ignored; only their size is capped.
    fn read_trailer_line(&mut self, buf: &[u8]) -> Result<Step, BodyError> {
        let Some(end) = buf.iter().position(|&b| b == b'\r' || b == b'\n') else {
            self.add_trailer(buf.len())?;
            return Ok(Step::framing(buf.len()));
        };
        self.add_trailer(end + 1)?;
        self.state = match buf.get(end) {
            Some(b'\r') => ChunkState::TrailerLf,
            _ => ChunkState::TrailerStart,
        };
        Ok(Step::framing(end + 1))
    }

    fn add_ext(&mut self, n: usize) -> Result<(), BodyError> {
        self.ext_bytes = self.ext_bytes.saturating_add(n);
        if self.ext_bytes > self.max_ext_bytes {
            return Err(BodyError::ChunkExtTooLong);
        }
        Ok(())
    }

    fn add_trailer(&mut self, n: usize) -> Result<(), BodyError> {
        self.trailer_bytes = self.trailer_bytes.saturating_add(n);
        if self.trailer_bytes > self.max_trailer_bytes {
            return Err(BodyError::TrailersTooLarge);
        }
        Ok(())
    }
}

/// The value of one hex digit (either case), or `None`.
fn hex_value(b: u8) -> Option<u64> {
    match b {
        b'0'..=b'9' => Some(u64::from(b - b'0')),
        b'a'..=b'f' => Some(u64::from(b - b'a' + 10)),
        b'A'..=b'F' => Some(u64::from(b - b'A' + 10)),
        _ => None,
    }
}

/// `min(remaining, available)` as a byte count.
fn clamp_len(remaining: u64, available: usize) -> usize {
    usize::try_from(remaining).map_or(available, |r| r.min(available))
}

/// A byte count as `u64` (lossless on every target Rust supports).
fn to_u64(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What decoding a whole stream gave: bytes consumed, payload bytes, done.
    type Outcome = (usize, u64, bool);

    /// Feeds `pieces` in order, stopping once the body is done (later bytes belong to
    /// the next message), and checks the per-call contract on the way.
    fn run(framing: Framing, pieces: &[&[u8]]) -> Result<Outcome, BodyError> {
        let mut decoder = BodyDecoder::new(framing);
        let (mut consumed, mut body, mut done) = (0, 0, decoder.is_done());
        for piece in pieces {
            if done {
                break;
            }
            let progress = decoder.feed(piece)?;
            assert!(progress.consumed <= piece.len());
            assert!(progress.body_bytes <= to_u64(progress.consumed));
            if !progress.done {
                assert_eq!(progress.consumed, piece.len(), "unfinished body left bytes");
            }
            consumed += progress.consumed;
            body += progress.body_bytes;
            done = progress.done;
            assert_eq!(decoder.is_done(), done);
        }
        if done {
            assert_eq!(decoder.eof(), Ok(()));
        }
        Ok((consumed, body, done))
    }

    /// One-shot, every two-piece split and one byte at a time must all agree.
    fn all_splits(framing: Framing, stream: &[u8]) -> Result<Outcome, BodyError> {
        let whole = run(framing, &[stream]);
        for cut in 0..=stream.len() {
            let (a, b) = stream.split_at(cut);
            assert_eq!(run(framing, &[a, b]), whole, "split at {cut}");
        }
        let bytes: Vec<&[u8]> = stream.chunks(1).collect();
        assert_eq!(run(framing, &bytes), whole, "one byte at a time");
        whole
    }

    const NEXT: &[u8] = b"HTTP/1.1 200 OK\r\n\r\n";

    /// A sample message followed by the start of the next one.
    fn with_next(message: &[u8]) -> Vec<u8> {
        [message, NEXT].concat()
    }

    #[test]
    fn content_length_body() {
        let stream = with_next(b"hello world");
        assert_eq!(all_splits(Framing::Length(11), &stream), Ok((11, 11, true)));
    }

    #[test]
    fn no_body_and_zero_length_are_done_at_once() {
        for framing in [Framing::None, Framing::Length(0)] {
            let mut decoder = BodyDecoder::new(framing);
            assert!(decoder.is_done());
            let progress = decoder.feed(NEXT).unwrap();
            assert_eq!(
                progress,
                Progress {
                    consumed: 0,
                    body_bytes: 0,
                    done: true
                }
            );
            assert_eq!(decoder.eof(), Ok(()));
            assert_eq!(all_splits(framing, NEXT), Ok((0, 0, true)));
        }
    }

    #[test]
    fn chunked_with_extensions_and_trailers() {
        let message: &[u8] = b"5;name=value\r\nhello\r\n6 ; a=\"b;c\"\t;d\r\n world\r\n\
            0;last\r\nX-Trailer: 1\r\nY: 2\r\n\r\n";
        let stream = with_next(message);
        assert_eq!(
            all_splits(Framing::Chunked, &stream),
            Ok((message.len(), 11, true))
        );
    }

    #[test]
    fn chunked_with_bare_lf() {
        let message: &[u8] = b"5\nhello\n6;x\n world\r\n0\nTrailer: t\n\n";
        let stream = with_next(message);
        assert_eq!(
            all_splits(Framing::Chunked, &stream),
            Ok((message.len(), 11, true))
        );
    }

    #[test]
    fn chunked_hex_sizes_in_both_cases() {
        let data = [b'd'; 31];
        let message = [
            &b"1F\r\n"[..],
            &data,
            b"\r\n1f\r\n",
            &data,
            b"\r\n00A\r\n0123456789\r\n000\r\n\r\n",
        ]
        .concat();
        let stream = with_next(&message);
        assert_eq!(
            all_splits(Framing::Chunked, &stream),
            Ok((message.len(), 72, true))
        );
    }

    #[test]
    fn chunk_data_that_looks_like_framing_is_data() {
        let message: &[u8] = b"7\r\n0\r\n\r\n\r\n\r\n0\r\n\r\n";
        let stream = with_next(message);
        assert_eq!(
            all_splits(Framing::Chunked, &stream),
            Ok((message.len(), 7, true))
        );
    }

    #[test]
    fn empty_chunked_body() {
        let stream = with_next(b"0\r\n\r\n");
        assert_eq!(all_splits(Framing::Chunked, &stream), Ok((5, 0, true)));
    }

    #[test]
    fn until_close_takes_everything() {
        let stream = with_next(b"some body bytes");
        let len = stream.len();
        assert_eq!(
            all_splits(Framing::UntilClose, &stream),
            Ok((len, to_u64(len), false))
        );
        let mut decoder = BodyDecoder::new(Framing::UntilClose);
        decoder.feed(&stream).unwrap();
        assert!(!decoder.is_done());
        assert_eq!(decoder.eof(), Ok(()));
    }

    #[test]
    fn huge_sizes_are_streamed() {
        let mut decoder = BodyDecoder::new(Framing::Length(u64::MAX));
        let progress = decoder.feed(&[0; 4096]).unwrap();
        assert_eq!((progress.consumed, progress.done), (4096, false));

        let mut decoder = BodyDecoder::new(Framing::Chunked);
        let progress = decoder.feed(b"FFFFFFFFFFFFFFFF\r\nabc").unwrap();
        assert_eq!(progress.body_bytes, 3);
        assert!(!progress.done);
    }

    #[test]
    fn chunk_data_is_skipped_in_one_step() {
        let mut chunked = Chunked::new(MAX_CHUNK_EXT_BYTES, MAX_TRAILER_BYTES);
        chunked.feed(b"ffff\r\n", &mut |_| {}).unwrap();
        assert_eq!(chunked.state, ChunkState::Data);
        let step = chunked.step(&[b'x'; 1000]).unwrap();
        assert_eq!((step.consumed, step.payload), (1000, 1000));
        assert_eq!(chunked.chunk_remaining, 0xffff - 1000);
    }

    /// The error for `stream`, which must be the same however the stream is split.
    fn error_of(stream: &[u8]) -> BodyError {
        let err = all_splits(Framing::Chunked, stream).expect_err("stream must be rejected");
        let mut decoder = BodyDecoder::new(Framing::Chunked);
        assert_eq!(decoder.feed(stream), Err(err));
        // The decoder stays failed.
        assert_eq!(decoder.feed(b"0\r\n\r\n"), Err(err));
        assert_eq!(decoder.eof(), Err(err));
        assert!(!decoder.is_done());
        err
    }

    #[test]
    fn invalid_chunk_sizes() {
        for size in [
            &b"Z\r\n"[..],
            b"0x10\r\n",
            b"+5\r\n",
            b"-1\r\n",
            b"0_2\r\n",
            b"\r\n",
            b"\n",
            b" 5\r\n",
            b";ext\r\n",
            b"5 x\r\n",
            b"5\t\r\n\0",
        ] {
            let stream = [size, b"hello\r\n0\r\n\r\n"].concat();
            let err = error_of(&stream);
            let expected = if size == b"5\t\r\n\0" {
                BodyError::BadLineEnding
            } else {
                BodyError::BadChunkSize
            };
            assert_eq!(err, expected, "{:?}", String::from_utf8_lossy(size));
            assert_eq!(err.detail(), "bad-framing");
            assert!(!err.is_limit());
        }
    }

    #[test]
    fn oversized_chunk_sizes() {
        assert_eq!(
            error_of(b"10000000000000000\r\n"),
            BodyError::ChunkSizeOverflow
        );
        assert_eq!(
            error_of(b"00000000000000001\r\n"),
            BodyError::ChunkSizeOverflow
        );
    }

    #[test]
    fn bad_line_endings() {
        for stream in [
            &b"3\r\nabcX\r\n0\r\n\r\n"[..],
            b"3\r\nabc\rX0\r\n\r\n",
            b"3\rX\nabc\r\n0\r\n\r\n",
            b"3;ext\rX\nabc\r\n0\r\n\r\n",
            b"0\r\nTrailer: 1\rX\r\n\r\n",
            b"0\r\n\rX",
        ] {
            assert_eq!(
                error_of(stream),
                BodyError::BadLineEnding,
                "{:?}",
                String::from_utf8_lossy(stream)
            );
        }
    }

    #[test]
    fn chunk_extensions_are_capped_per_message() {
        let mut stream = b"1;".to_vec();
        stream.resize(20 * 1024, b'e');
        stream.extend_from_slice(b"\r\nx\r\n0\r\n\r\n");
        let err = error_of(&stream);
        assert_eq!(err, BodyError::ChunkExtTooLong);
        assert!(err.is_limit());

        // Two chunks of 9 KiB each: neither alone is over, together they are.
        let ext = vec![b'e'; 9 * 1024];
        let chunk = [&b"1;"[..], &ext, b"\r\nx\r\n"].concat();
        let one = [&chunk[..], b"0\r\n\r\n"].concat();
        assert_eq!(run(Framing::Chunked, &[&one]), Ok((one.len(), 1, true)));
        let two = [&chunk[..], &chunk, b"0\r\n\r\n"].concat();
        assert_eq!(
            run(Framing::Chunked, &[&two]),
            Err(BodyError::ChunkExtTooLong)
        );

        // Endless whitespace after a size counts too.
        let mut spaces = b"1".to_vec();
        spaces.resize(20 * 1024, b' ');
        assert_eq!(
            run(Framing::Chunked, &[&spaces]),
            Err(BodyError::ChunkExtTooLong)
        );
    }

    #[test]
    fn trailers_are_capped() {
        let mut stream = b"0\r\n".to_vec();
        for i in 0..7 * 1024 {
            stream.extend_from_slice(format!("T{i:05}: x\r\n").as_bytes());
        }
        stream.extend_from_slice(b"\r\n");
        assert!(stream.len() > 70 * 1024);
        let err = run(Framing::Chunked, &[&stream]).unwrap_err();
        assert_eq!(err, BodyError::TrailersTooLarge);
        assert!(err.is_limit());
        let bytes: Vec<&[u8]> = stream.chunks(1).collect();
        assert_eq!(run(Framing::Chunked, &bytes), Err(err));

        let mut line = b"0\r\nX: ".to_vec();
        line.resize(70 * 1024, b'v');
        assert_eq!(
            run(Framing::Chunked, &[&line]),
            Err(BodyError::TrailersTooLarge)
        );
    }

    #[test]
    fn eof_before_the_end_is_incomplete() {
        let mut decoder = BodyDecoder::new(Framing::Length(10));
        decoder.feed(b"12345").unwrap();
        assert_eq!(decoder.eof(), Err(BodyError::Incomplete));
        decoder.feed(b"67890").unwrap();
        assert_eq!(decoder.eof(), Ok(()));

        let mut decoder = BodyDecoder::new(Framing::Chunked);
        assert_eq!(decoder.eof(), Err(BodyError::Incomplete));
        for piece in [&b"5\r\nhel"[..], b"lo\r\n", b"0\r\n", b"\r"] {
            decoder.feed(piece).unwrap();
            assert_eq!(decoder.eof(), Err(BodyError::Incomplete));
        }
        decoder.feed(b"\n").unwrap();
        assert_eq!(decoder.eof(), Ok(()));

        assert_eq!(BodyError::Incomplete.detail(), "incomplete");
        assert!(!BodyError::Incomplete.is_limit());
    }

    #[test]
    fn details_and_display() {
        for err in [
            BodyError::BadChunkSize,
            BodyError::ChunkSizeOverflow,
            BodyError::BadLineEnding,
            BodyError::ChunkExtTooLong,
            BodyError::TrailersTooLarge,
            BodyError::Incomplete,
        ] {
            assert!(!err.to_string().is_empty());
            assert!(!err.detail().is_empty());
        }
    }

    /// xorshift64*: a deterministic generator, so failures reproduce.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }

        fn below(&mut self, n: usize) -> usize {
            usize::try_from(self.next() % to_u64(n)).unwrap()
        }

        fn chance(&mut self, one_in: usize) -> bool {
            self.below(one_in) == 0
        }
    }

    /// A random valid chunked message, its payload length, and the message length.
    fn random_chunked(rng: &mut Rng) -> (Vec<u8>, u64) {
        let eol = |rng: &mut Rng| -> &'static [u8] { if rng.chance(4) { b"\n" } else { b"\r\n" } };
        let mut msg = Vec::new();
        let mut payload = 0;
        for _ in 0..rng.below(6) {
            let max = if rng.chance(5) { 5000 } else { 40 };
            let size = 1 + rng.below(max);
            let zeros = "0".repeat(rng.below(3));
            let hex = if rng.chance(2) {
                format!("{zeros}{size:x}")
            } else {
                format!("{zeros}{size:X}")
            };
            msg.extend_from_slice(hex.as_bytes());
            if rng.chance(3) {
                msg.extend_from_slice(b" ;name=\"va;lue\";flag");
            }
            msg.extend_from_slice(eol(rng));
            // Data bytes include CR, LF, digits and ';' so that data is never parsed.
            msg.extend((0..size).map(|_| b"\r\n0;aZ"[rng.below(6)]));
            msg.extend_from_slice(eol(rng));
            payload += to_u64(size);
        }
        msg.extend_from_slice(if rng.chance(2) { b"0" } else { b"000" });
        if rng.chance(3) {
            msg.extend_from_slice(b";last");
        }
        msg.extend_from_slice(eol(rng));
        for i in 0..rng.below(3) {
            msg.extend_from_slice(format!("Trailer-{i}: value").as_bytes());
            msg.extend_from_slice(eol(rng));
        }
        msg.extend_from_slice(eol(rng));
        (msg, payload)
    }

    /// Cuts `stream` into random pieces, some of them empty.
    fn random_pieces<'a>(rng: &mut Rng, stream: &'a [u8]) -> Vec<&'a [u8]> {
        let mut pieces = Vec::new();
        let mut rest = stream;
        while !rest.is_empty() {
            let (piece, tail) = rest.split_at(rng.below(rest.len().min(64) + 1));
            pieces.push(piece);
            rest = tail;
        }
        pieces
    }

    #[test]
    fn random_messages_decode_the_same_at_any_split() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for round in 0..2000 {
            let (message, payload) = random_chunked(&mut rng);
            let stream = with_next(&message);
            let expected = Ok((message.len(), payload, true));
            assert_eq!(run(Framing::Chunked, &[&stream]), expected, "round {round}");
            let pieces = random_pieces(&mut rng, &stream);
            assert_eq!(run(Framing::Chunked, &pieces), expected, "round {round}");
            if round % 100 == 0 {
                assert_eq!(
                    all_splits(Framing::Chunked, &stream),
                    expected,
                    "round {round}"
                );
            }

            let length = rng.below(300);
            let stream = [&vec![b'b'; length][..], NEXT].concat();
            let pieces = random_pieces(&mut rng, &stream);
            let expected = Ok((length, to_u64(length), true));
            assert_eq!(run(Framing::Length(to_u64(length)), &pieces), expected);
        }
    }

    #[test]
    fn feed_with_hands_over_exactly_the_payload_at_any_split() {
        let data: [&[u8]; 3] = [b"hello\r\n", b"0;a\r\nZ", b"x"];
        let mut message = Vec::new();
        for d in data {
            message.extend_from_slice(format!("{:x};ext=1\r\n", d.len()).as_bytes());
            message.extend_from_slice(d);
            message.extend_from_slice(b"\r\n");
        }
        message.extend_from_slice(b"0\r\nTrailer: t\r\n\r\n");
        let want = data.concat();
        let mut rng = Rng(7);
        for _ in 0..200 {
            let stream = with_next(&message);
            let mut decoder = BodyDecoder::new(Framing::Chunked);
            let mut got = Vec::new();
            for piece in random_pieces(&mut rng, &stream) {
                let p = decoder
                    .feed_with(piece, |d| got.extend_from_slice(d))
                    .unwrap();
                if p.done {
                    break;
                }
            }
            assert_eq!(got, want);
            assert_eq!(decoder.trailer_bytes(), b"Trailer: t\r\n\r\n".len());
        }
        let mut decoder = BodyDecoder::new(Framing::Length(3));
        let mut got = Vec::new();
        let p = decoder
            .feed_with(b"abcdef", |d| got.extend_from_slice(d))
            .unwrap();
        assert_eq!((got.as_slice(), p.consumed), (&b"abc"[..], 3));
    }
}
