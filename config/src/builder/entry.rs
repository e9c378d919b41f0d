//! A URL-list entry's defaults, and how its watchdog's phases follow from the timeouts
//! given: the same for every source (the command line, a run file entry, httperf).

use std::time::Duration;

use crate::spec::{Delay, HttpVersion, KeepAlive, RequestSpec, Target, Timeouts};
use crate::values::TimeoutArg;

/// A URL-list entry to `target` with every default but its watchdog: GET, no header
/// fields or body, kept-alive connections, no delays, HTTP/1.1.
pub(crate) fn request(target: Target, timeouts: Timeouts) -> RequestSpec {
    RequestSpec {
        method: "GET".to_string(),
        target,
        headers: Vec::new(),
        body: Vec::new(),
        keepalive: KeepAlive::BOTH,
        pre: Delay::default(),
        post: Delay::default(),
        timeouts,
        version: HttpVersion::Http11,
    }
}

/// A request's watchdog as given: the main timeout (httperf's meaning) and think time,
/// and the finer deadlines, each of which defaults to what the main one implies.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Watchdog {
    /// `--timeout` (`None`: never): connect, send, and with `think` the reply.
    pub timeout: Option<Duration>,
    /// `--think-timeout`: added to `timeout` for the first byte and the whole reply.
    pub think: Duration,
    /// `--connect-timeout`.
    pub connect: Option<TimeoutArg>,
    /// `--first-byte-timeout`.
    pub first_byte: Option<TimeoutArg>,
    /// `--idle-timeout`.
    pub idle: Option<TimeoutArg>,
    /// A run file's `idle_timeout` (LoadGen's `timeout`): nothing sent or received for
    /// that long fails the request.
    pub inactivity: Option<Duration>,
}

impl Watchdog {
    /// The phase deadlines: connect and send within `timeout`, the first byte and the whole
    /// reply within `timeout + think` of the request being sent, no idle limit; a finer
    /// deadline given replaces its default (`never` switches it off). The inactivity
    /// watchdog stands beside them, as given.
    pub fn timeouts(self) -> Timeouts {
        let reply = self.timeout.map(|t| t + self.think);
        let pick = |given: Option<TimeoutArg>, default: Option<Duration>| match given {
            Some(TimeoutArg::After(d)) => Some(d),
            Some(TimeoutArg::Never) => None,
            None => default,
        };
        Timeouts {
            connect: pick(self.connect, self.timeout),
            send: self.timeout,
            first_byte: pick(self.first_byte, reply),
            idle: pick(self.idle, None),
            inactivity: self.inactivity,
            reply,
        }
    }
}
