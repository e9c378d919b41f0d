//! The one place that turns failures into a [`Failure`]: an [`ErrorClass`] and a detail
//! code naming the case (`client-timo/first-byte`, `protocol/bad-framing`, …).

use std::io;

use volley_scoreboard::ErrorClass;

use crate::http::{BodyError, HeadError};

/// Why a request failed: its class, and a short stable detail code for the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failure {
    /// The error class counted.
    pub class: ErrorClass,
    /// The detail under the class (`errors_detail` in the JSON report).
    pub detail: &'static str,
}

impl Failure {
    /// A failure of `class` with `detail`.
    pub const fn new(class: ErrorClass, detail: &'static str) -> Self {
        Failure { class, detail }
    }
}

/// The phase whose watchdog fired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TimeoutPhase {
    /// Connecting.
    #[default]
    Connect,
    /// Writing the request.
    Send,
    /// Waiting for the first byte of the reply.
    FirstByte,
    /// Too long between two reads of the reply, or (the inactivity watchdog) with nothing
    /// sent or received.
    Idle,
    /// The whole reply took too long.
    Reply,
    /// Not a failure: the expect-wait after `Expect: 100-continue` ended, and the body is
    /// sent without the server's go-ahead.
    ExpectWait,
}

impl TimeoutPhase {
    /// The `client-timo` failure for this phase.
    pub const fn failure(self) -> Failure {
        let detail = match self {
            TimeoutPhase::Connect => "connect",
            TimeoutPhase::Send => "send",
            TimeoutPhase::FirstByte => "first-byte",
            TimeoutPhase::Idle => "idle",
            TimeoutPhase::Reply | TimeoutPhase::ExpectWait => "reply",
        };
        Failure::new(ErrorClass::ClientTimo, detail)
    }
}

/// Where in the exchange an I/O error or end of file happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Connecting or writing the request.
    Send,
    /// Reading, before any byte of the reply.
    BeforeReply,
    /// Reading, after part of the reply.
    MidReply,
}

/// Class of an I/O error (httperf's errno mapping), with the stage it happened in.
pub fn classify_io(err: &io::Error, stage: Stage) -> Failure {
    use nix::errno::Errno;
    if let Some(detail) = crate::tls::failure_detail(err) {
        return Failure::new(ErrorClass::Tls, detail);
    }
    let class = match err.raw_os_error().map(Errno::from_raw) {
        Some(Errno::ECONNREFUSED) => ErrorClass::ConnRefused,
        Some(Errno::ECONNRESET | Errno::EPIPE | Errno::ECONNABORTED) => ErrorClass::ConnReset,
        Some(Errno::ETIMEDOUT) => ErrorClass::SocketTimo,
        Some(Errno::EMFILE) => ErrorClass::FdUnavail,
        Some(Errno::ENFILE) => ErrorClass::FtabFull,
        Some(Errno::EADDRNOTAVAIL) => ErrorClass::AddrUnavail,
        Some(Errno::EADDRINUSE) => ErrorClass::AddrInUse,
        _ => match err.kind() {
            io::ErrorKind::ConnectionRefused => ErrorClass::ConnRefused,
            io::ErrorKind::ConnectionReset
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::ConnectionAborted => ErrorClass::ConnReset,
            io::ErrorKind::TimedOut => ErrorClass::SocketTimo,
            _ => ErrorClass::Other,
        },
    };
    let detail = match (class, stage) {
        (ErrorClass::ConnReset, Stage::Send) => "reset",
        (ErrorClass::ConnReset, Stage::BeforeReply) => "no-reply",
        (ErrorClass::ConnReset, Stage::MidReply) => "incomplete",
        (ErrorClass::Other, _) => "errno",
        _ => "os",
    };
    Failure::new(class, detail)
}

/// The peer closed the connection (FIN) before the reply was complete.
pub fn eof(stage: Stage) -> Failure {
    match stage {
        Stage::MidReply => Failure::new(ErrorClass::Protocol, "incomplete"),
        Stage::Send | Stage::BeforeReply => Failure::new(ErrorClass::ConnReset, "no-reply"),
    }
}

/// A request a hook made or edited that volley cannot send (see
/// `volley_config::RequestSpec::check_sendable`): failed before any byte went out.
pub const HOOK_REQUEST: Failure = Failure::new(ErrorClass::Other, "hook-request");

/// A reused keep-alive connection failed before any byte of the reply: the server had
/// closed it while idle.
pub const STALE: Failure = Failure::new(ErrorClass::StaleConn, "failed");
/// A reused keep-alive connection whose first bytes after the request were not a status
/// line: data the server sent after its last reply was complete (a reply's tail beyond
/// its framing), read as if it answered this request. Retried once on a new connection
/// when the method is idempotent, like [`STALE`].
pub const UNSOLICITED: Failure = Failure::new(ErrorClass::Protocol, "unsolicited");
/// More interim (1xx) replies than [`crate::http::MAX_INTERIM`].
pub const TOO_MANY_INTERIM: Failure = Failure::new(ErrorClass::Protocol, "too-many-1xx");
/// A reply head larger than the receive buffer may grow.
pub const HEAD_TOO_LARGE: Failure = Failure::new(ErrorClass::Limit, "head-too-large");
/// A close-delimited body over TLS ended by a TCP close without `close_notify`.
pub const TLS_TRUNCATED: Failure = Failure::new(ErrorClass::Tls, "close-without-notify");
/// A plain HTTP request got a TLS record back: the port speaks TLS (use https).
pub const TLS_REPLY_TO_HTTP: Failure = Failure::new(ErrorClass::Tls, "tls-reply-to-http");
/// An https request in a run whose TLS client was not set up.
pub const NO_TLS_CONFIG: Failure = Failure::new(ErrorClass::Tls, "no-client-config");
/// The connect deadline passed after the TCP connect, during the TLS handshake.
pub const HANDSHAKE_TIMEOUT: Failure = Failure::new(ErrorClass::ClientTimo, "handshake");

/// A codec error: `limit` when volley's own cap stopped it, else `protocol`.
fn codec_failure(is_limit: bool, detail: &'static str) -> Failure {
    let class = if is_limit {
        ErrorClass::Limit
    } else {
        ErrorClass::Protocol
    };
    Failure::new(class, detail)
}

/// Class of a malformed or oversized reply head.
pub fn classify_head(err: &HeadError) -> Failure {
    codec_failure(err.is_limit(), err.detail())
}

/// Class of a body framing failure (a body cut short by a FIN is `protocol/incomplete`).
pub fn classify_body(err: &BodyError) -> Failure {
    codec_failure(err.is_limit(), err.detail())
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::errno::Errno;

    fn io(e: Errno, stage: Stage) -> Failure {
        classify_io(&io::Error::from_raw_os_error(e as i32), stage)
    }

    #[test]
    fn errno_mapping() {
        let c = |e| io(e, Stage::Send).class;
        assert_eq!(c(Errno::ECONNREFUSED), ErrorClass::ConnRefused);
        assert_eq!(c(Errno::EPIPE), ErrorClass::ConnReset);
        assert_eq!(c(Errno::EMFILE), ErrorClass::FdUnavail);
        assert_eq!(c(Errno::ENFILE), ErrorClass::FtabFull);
        assert_eq!(c(Errno::EADDRNOTAVAIL), ErrorClass::AddrUnavail);
        assert_eq!(c(Errno::EADDRINUSE), ErrorClass::AddrInUse);
        assert_eq!(c(Errno::ETIMEDOUT), ErrorClass::SocketTimo);
        assert_eq!(c(Errno::EHOSTUNREACH), ErrorClass::Other);
    }

    #[test]
    fn resets_are_detailed_by_stage() {
        assert_eq!(io(Errno::ECONNRESET, Stage::Send).detail, "reset");
        assert_eq!(io(Errno::ECONNRESET, Stage::BeforeReply).detail, "no-reply");
        assert_eq!(io(Errno::ECONNRESET, Stage::MidReply).detail, "incomplete");
        assert_eq!(
            eof(Stage::MidReply),
            Failure::new(ErrorClass::Protocol, "incomplete")
        );
        assert_eq!(eof(Stage::BeforeReply).class, ErrorClass::ConnReset);
    }

    #[test]
    fn body_cut_short_is_protocol_incomplete() {
        assert_eq!(
            classify_body(&BodyError::Incomplete),
            Failure::new(ErrorClass::Protocol, "incomplete")
        );
        assert_eq!(
            classify_body(&BodyError::TrailersTooLarge).class,
            ErrorClass::Limit
        );
        assert_eq!(classify_head(&HeadError::TooLarge).class, ErrorClass::Limit);
    }
}
