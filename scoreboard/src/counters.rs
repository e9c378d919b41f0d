//! The shared vocabulary of progress and report: per-worker counters and error classes.
//!
//! Both enums have dense indices (`as usize`), so they index fixed arrays in the
//! scoreboard slot and in the worker's report without any map or string.

/// One counter in a worker's scoreboard slot (LoadGen's scoreboard fields and a few more).
///
/// Counters are cumulative except [`Counter::ThreadsActive`] and [`Counter::ConnsOpen`],
/// which are gauges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Counter {
    /// Thread slots that have been started by the ramp-up.
    ThreadsStarted,
    /// Thread slots running now (gauge).
    ThreadsActive,
    /// Thread slots that have finished.
    ThreadsDone,
    /// Requests started (a request starts when it is queued on a connection or a connect).
    RequestsStarted,
    /// Requests that ended with a reply (any status).
    RequestsSucceeded,
    /// Requests that ended with an error (one of [`ErrorClass`]).
    RequestsFailed,
    /// Requests in flight when the run was stopped.
    RequestsAborted,
    /// Requests retried once on a fresh connection after a kept-alive connection turned
    /// out to be closed by the server (`stale-conn`); a retry is not a new request.
    RequestsRetried,
    /// Replies with a 1xx final status (counted per class below for progress views).
    Replies1xx,
    /// Replies with a 2xx status.
    Replies2xx,
    /// Replies with a 3xx status.
    Replies3xx,
    /// Replies with a 4xx status.
    Replies4xx,
    /// Replies with a 5xx status.
    Replies5xx,
    /// Header fields received in reply heads.
    HeaderCount,
    /// Bytes of reply heads (status line, fields and the empty line).
    HeaderBytes,
    /// Bytes of reply bodies (payload bytes, chunk framing excluded).
    BodyBytes,
    /// Bytes written to sockets.
    BytesSent,
    /// Bytes read from sockets.
    BytesReceived,
    /// Connections open now (gauge).
    ConnsOpen,
    /// Connections opened (connect attempts that succeeded).
    ConnsOpened,
    /// Requests sent on a kept-alive connection instead of a new one.
    ConnsReused,
    /// Open-loop sessions whose every request got a reply.
    SessionsOk,
    /// Open-loop sessions that ended with a failed request.
    SessionsFailed,
}

impl Counter {
    /// Number of counters.
    pub const COUNT: usize = 23;

    /// Every counter, in index order.
    pub const ALL: [Counter; Counter::COUNT] = [
        Counter::ThreadsStarted,
        Counter::ThreadsActive,
        Counter::ThreadsDone,
        Counter::RequestsStarted,
        Counter::RequestsSucceeded,
        Counter::RequestsFailed,
        Counter::RequestsAborted,
        Counter::RequestsRetried,
        Counter::Replies1xx,
        Counter::Replies2xx,
        Counter::Replies3xx,
        Counter::Replies4xx,
        Counter::Replies5xx,
        Counter::HeaderCount,
        Counter::HeaderBytes,
        Counter::BodyBytes,
        Counter::BytesSent,
        Counter::BytesReceived,
        Counter::ConnsOpen,
        Counter::ConnsOpened,
        Counter::ConnsReused,
        Counter::SessionsOk,
        Counter::SessionsFailed,
    ];

    /// Dense index of this counter.
    pub const fn index(self) -> usize {
        self as usize
    }

    /// A stable snake_case name (result files key counters by it).
    pub const fn name(self) -> &'static str {
        match self {
            Counter::ThreadsStarted => "threads_started",
            Counter::ThreadsActive => "threads_active",
            Counter::ThreadsDone => "threads_done",
            Counter::RequestsStarted => "requests_started",
            Counter::RequestsSucceeded => "requests_succeeded",
            Counter::RequestsFailed => "requests_failed",
            Counter::RequestsAborted => "requests_aborted",
            Counter::RequestsRetried => "requests_retried",
            Counter::Replies1xx => "replies_1xx",
            Counter::Replies2xx => "replies_2xx",
            Counter::Replies3xx => "replies_3xx",
            Counter::Replies4xx => "replies_4xx",
            Counter::Replies5xx => "replies_5xx",
            Counter::HeaderCount => "header_count",
            Counter::HeaderBytes => "header_bytes",
            Counter::BodyBytes => "body_bytes",
            Counter::BytesSent => "bytes_sent",
            Counter::BytesReceived => "bytes_received",
            Counter::ConnsOpen => "conns_open",
            Counter::ConnsOpened => "conns_opened",
            Counter::ConnsReused => "conns_reused",
            Counter::SessionsOk => "sessions_ok",
            Counter::SessionsFailed => "sessions_failed",
        }
    }

    /// The reply counter for a status code (`100..=599`; anything else counts by its
    /// leading digit clamped to 1..=5, as RFC 9110 §15 treats unknown codes as `x00`).
    pub fn for_status(status: u16) -> Counter {
        match status / 100 {
            0 | 1 => Counter::Replies1xx,
            2 => Counter::Replies2xx,
            3 => Counter::Replies3xx,
            4 => Counter::Replies4xx,
            _ => Counter::Replies5xx,
        }
    }
}

/// Why a request failed. httperf's classes plus volley's additions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ErrorClass {
    /// The client's watchdog fired (connect, send or reply deadline).
    ClientTimo,
    /// The kernel gave up (ETIMEDOUT).
    SocketTimo,
    /// The server refused the connection (ECONNREFUSED).
    ConnRefused,
    /// The server reset the connection (ECONNRESET, EPIPE on write, EOF mid-reply).
    ConnReset,
    /// The client ran out of file descriptors (EMFILE). Generator-side.
    FdUnavail,
    /// No local address/port could be assigned (EADDRNOTAVAIL). Generator-side.
    AddrUnavail,
    /// The system file table is full (ENFILE). Generator-side.
    FtabFull,
    /// The local address is in use (EADDRINUSE). Generator-side.
    AddrInUse,
    /// The reply was malformed or its framing inconsistent.
    Protocol,
    /// A size cap was hit (head bytes, header count, chunk extensions, trailers).
    Limit,
    /// A reused keep-alive connection had been closed by the server.
    StaleConn,
    /// TLS handshake or record failure.
    Tls,
    /// Name resolution failed.
    Dns,
    /// Anything else.
    Other,
}

impl ErrorClass {
    /// Number of error classes.
    pub const COUNT: usize = 14;

    /// Every class, in index order.
    pub const ALL: [ErrorClass; ErrorClass::COUNT] = [
        ErrorClass::ClientTimo,
        ErrorClass::SocketTimo,
        ErrorClass::ConnRefused,
        ErrorClass::ConnReset,
        ErrorClass::FdUnavail,
        ErrorClass::AddrUnavail,
        ErrorClass::FtabFull,
        ErrorClass::AddrInUse,
        ErrorClass::Protocol,
        ErrorClass::Limit,
        ErrorClass::StaleConn,
        ErrorClass::Tls,
        ErrorClass::Dns,
        ErrorClass::Other,
    ];

    /// Dense index of this class.
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The name used in reports and JSON keys (httperf's spelling where it has one).
    pub const fn name(self) -> &'static str {
        match self {
            ErrorClass::ClientTimo => "client-timo",
            ErrorClass::SocketTimo => "socket-timo",
            ErrorClass::ConnRefused => "connrefused",
            ErrorClass::ConnReset => "connreset",
            ErrorClass::FdUnavail => "fd-unavail",
            ErrorClass::AddrUnavail => "addrunavail",
            ErrorClass::FtabFull => "ftab-full",
            ErrorClass::AddrInUse => "addrinuse",
            ErrorClass::Protocol => "protocol",
            ErrorClass::Limit => "limit",
            ErrorClass::StaleConn => "stale-conn",
            ErrorClass::Tls => "tls",
            ErrorClass::Dns => "dns",
            ErrorClass::Other => "other",
        }
    }

    /// True for classes that mean the generator itself ran short of a resource; a run
    /// with any of them is marked invalid (httperf's README: such results "should be
    /// ignored").
    pub const fn is_generator_fault(self) -> bool {
        matches!(
            self,
            ErrorClass::FdUnavail
                | ErrorClass::FtabFull
                | ErrorClass::AddrUnavail
                | ErrorClass::AddrInUse
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indices_are_dense_and_in_order() {
        for (i, c) in Counter::ALL.iter().enumerate() {
            assert_eq!(c.index(), i);
        }
        for (i, c) in ErrorClass::ALL.iter().enumerate() {
            assert_eq!(c.index(), i);
        }
    }

    #[test]
    fn names_are_unique() {
        let mut names: Vec<_> = ErrorClass::ALL.iter().map(|c| c.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ErrorClass::COUNT);
        let mut names: Vec<_> = Counter::ALL.iter().map(|c| c.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Counter::COUNT);
    }

    #[test]
    fn status_classes() {
        assert_eq!(Counter::for_status(200), Counter::Replies2xx);
        assert_eq!(Counter::for_status(304), Counter::Replies3xx);
        assert_eq!(Counter::for_status(404), Counter::Replies4xx);
        assert_eq!(Counter::for_status(503), Counter::Replies5xx);
        assert_eq!(Counter::for_status(799), Counter::Replies5xx);
    }
}
