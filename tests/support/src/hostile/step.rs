//! The step vocabulary of a connection's script: [`Step`] and [`Script`].

use std::time::Duration;

/// One step of a connection's script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Read one request: its head up to the empty line, then a `Content-Length` body.
    /// Bytes of a following pipelined request are kept for the next `ReadRequest`. The
    /// request is counted in [`HostileServer::requests`]. End of file, an error, or
    /// [`IO_TIMEOUT`] without a byte ends the connection (the socket is closed).
    ///
    /// [`HostileServer::requests`]: super::HostileServer::requests
    /// [`IO_TIMEOUT`]: super::IO_TIMEOUT
    ReadRequest,
    /// Read a request's head only, leaving its `Content-Length` body unread (for a
    /// later `ReadBody`, or never): how a server answers before the upload ends. The
    /// request is counted.
    ReadHead,
    /// Read and discard the body announced by the last `ReadHead`.
    ReadBody,
    /// Write these bytes. A write error (the peer is gone) ends the connection.
    Write(Vec<u8>),
    /// Write these bytes one at a time (`TCP_NODELAY` is on, so each byte is its own
    /// segment), sleeping `every` between two bytes: a trickle, or every possible split
    /// point of a message.
    WriteSlowly {
        /// The bytes.
        bytes: Vec<u8>,
        /// Pause between two bytes.
        every: Duration,
    },
    /// Write these bytes again and again, sleeping `every` (possibly zero) between two
    /// writes, until the peer goes away or the server stops: an endless body, header
    /// line or trickle. Always the last step.
    WriteForever {
        /// The bytes written each time.
        bytes: Vec<u8>,
        /// Pause between two writes.
        every: Duration,
    },
    /// Do nothing for this long (still ended early by the server stopping).
    Sleep(Duration),
    /// Send FIN (`shutdown(SHUT_WR)`), drain what the peer still sends for up to a
    /// second, then close. Always the last step.
    Close,
    /// Close with `SO_LINGER` 0, so the peer gets RST. Always the last step.
    Reset,
    /// Keep the socket open, reading and discarding, until the peer closes it or the
    /// server stops. Always the last step.
    Hang,
    /// Start the script again from its first step, for the next request on the same
    /// connection. A script that read no request since it (re)started closes instead, so
    /// `Repeat` can never spin.
    Repeat,
}

/// A script: the steps one connection runs, in order. A script that runs out of steps
/// closes the connection as [`Step::Close`] does.
pub type Script = Vec<Step>;
