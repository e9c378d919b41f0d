//! The one place that turns failures into [`ErrorClass`]es.

use std::io;

use volley_scoreboard::ErrorClass;

use crate::http::{BodyError, HeadError};

/// Class of an I/O error from connect, read or write (httperf's errno mapping).
pub fn classify_io(err: &io::Error) -> ErrorClass {
    match err.raw_os_error() {
        Some(libc_errno::ECONNREFUSED) => ErrorClass::ConnRefused,
        Some(libc_errno::ECONNRESET | libc_errno::EPIPE | libc_errno::ECONNABORTED) => {
            ErrorClass::ConnReset
        }
        Some(libc_errno::ETIMEDOUT) => ErrorClass::SocketTimo,
        Some(libc_errno::EMFILE) => ErrorClass::FdUnavail,
        Some(libc_errno::ENFILE) => ErrorClass::FtabFull,
        Some(libc_errno::EADDRNOTAVAIL) => ErrorClass::AddrUnavail,
        Some(libc_errno::EADDRINUSE) => ErrorClass::AddrInUse,
        _ => match err.kind() {
            io::ErrorKind::ConnectionRefused => ErrorClass::ConnRefused,
            io::ErrorKind::ConnectionReset
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::ConnectionAborted => ErrorClass::ConnReset,
            io::ErrorKind::TimedOut => ErrorClass::SocketTimo,
            _ => ErrorClass::Other,
        },
    }
}

/// Class of a malformed or oversized reply head.
pub fn classify_head(err: &HeadError) -> ErrorClass {
    if err.is_limit() {
        ErrorClass::Limit
    } else {
        ErrorClass::Protocol
    }
}

/// Class of a body framing failure. A body cut short by the peer is a reset.
pub fn classify_body(err: &BodyError) -> ErrorClass {
    match err {
        BodyError::Incomplete => ErrorClass::ConnReset,
        e if e.is_limit() => ErrorClass::Limit,
        _ => ErrorClass::Protocol,
    }
}

/// The errno values volley classifies (nix's `Errno` as plain `i32`s for `match`).
mod libc_errno {
    use nix::errno::Errno;
    pub const ECONNREFUSED: i32 = Errno::ECONNREFUSED as i32;
    pub const ECONNRESET: i32 = Errno::ECONNRESET as i32;
    pub const ECONNABORTED: i32 = Errno::ECONNABORTED as i32;
    pub const EPIPE: i32 = Errno::EPIPE as i32;
    pub const ETIMEDOUT: i32 = Errno::ETIMEDOUT as i32;
    pub const EMFILE: i32 = Errno::EMFILE as i32;
    pub const ENFILE: i32 = Errno::ENFILE as i32;
    pub const EADDRNOTAVAIL: i32 = Errno::EADDRNOTAVAIL as i32;
    pub const EADDRINUSE: i32 = Errno::EADDRINUSE as i32;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_mapping() {
        let e = |n| io::Error::from_raw_os_error(n);
        assert_eq!(
            classify_io(&e(libc_errno::ECONNREFUSED)),
            ErrorClass::ConnRefused
        );
        assert_eq!(classify_io(&e(libc_errno::EPIPE)), ErrorClass::ConnReset);
        assert_eq!(classify_io(&e(libc_errno::EMFILE)), ErrorClass::FdUnavail);
        assert_eq!(classify_io(&e(libc_errno::ENFILE)), ErrorClass::FtabFull);
        assert_eq!(
            classify_io(&e(libc_errno::EADDRNOTAVAIL)),
            ErrorClass::AddrUnavail
        );
        assert_eq!(
            classify_io(&e(libc_errno::ETIMEDOUT)),
            ErrorClass::SocketTimo
        );
        assert_eq!(classify_io(&io::Error::other("x")), ErrorClass::Other);
    }
}
