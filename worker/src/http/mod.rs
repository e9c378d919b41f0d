//! HTTP/1.1 client codec: what a reply is and how it ends.
//!
//! A reply is read in two phases, each a pure function of the bytes received, so the
//! slot state machine owns every buffer and the codec never allocates:
//!
//! 1. [`parse_head`] parses the status line and header section in place with
//!    `httparse` and returns `Ok(None)` until the head is complete. The returned
//!    [`ReplyHead`] says how long the head was, how the body is framed
//!    ([`Framing`], decided by the numbered rules of RFC 9112 §6.3) and whether the
//!    connection may carry another request afterwards (RFC 9112 §9.3). Interim
//!    replies (1xx other than 101, see [`ReplyHead::is_interim`]) come back like any
//!    other head with [`Framing::None`]; the caller skips them, at most
//!    [`MAX_INTERIM`] times.
//! 2. A [`BodyDecoder`] built from that framing is fed the bytes after the head. It
//!    counts the payload and discards it, never buffering it, and stops exactly where
//!    the body ends: bytes after that belong to the next reply.
//!
//! Every error means the connection must be closed and never reused: the framing of
//! anything after it is unknown. [`HeadError::is_limit`] and [`BodyError::is_limit`]
//! separate "volley chose to stop reading" (the reply may have been valid) from a
//! protocol violation, and `detail()` names the case for the report.

pub mod body;
pub mod fields;
pub mod head;
pub mod request;

pub use body::{BodyDecoder, BodyError, MAX_CHUNK_EXT_BYTES, MAX_TRAILER_BYTES, Progress};
pub use fields::{Field, Headers};
pub use head::{
    Framing, HeadError, MAX_HEAD_BYTES, MAX_HEADERS, MAX_INTERIM, ReplyHead, parse_head,
    parse_head_limited, reply_details, take_cookie,
};
