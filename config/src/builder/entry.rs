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

/// A plain-HTTP target on 127.0.0.1:1 with `path`, for tests.
#[cfg(test)]
pub(crate) fn test_target(path: &str) -> Target {
    Target {
        host: "127.0.0.1".into(),
        port: 1,
        addr: ([127, 0, 0, 1], 1).into(),
        path: path.into(),
        dns_cached: false,
        tls: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> RequestSpec {
        request(test_target("/a?b=c"), Timeouts::default())
    }

    #[test]
    fn a_request_volley_can_send_passes_the_check() {
        let mut r = entry();
        r.headers.push(("X-Tab".into(), "a\tb c \u{e9}".into()));
        r.method = "PROPFIND".into();
        assert_eq!(r.check_sendable(), Ok(()));
    }

    #[test]
    fn what_would_break_the_request_on_the_wire_is_named() {
        type Edit = fn(&mut RequestSpec);
        let cases: [(&str, Edit); 7] = [
            ("method 'GE T'", |r| r.method = "GE T".into()),
            ("method ''", |r| r.method.clear()),
            ("path '/a\\x0d\\x0aX: y'", |r| {
                r.target.path = "/a\r\nX: y".into()
            }),
            ("path ''", |r| r.target.path.clear()),
            ("host 'a b'", |r| r.target.host = "a b".into()),
            ("'X:Y' is not a valid header name", |r| {
                r.headers.push(("X:Y".into(), "1".into()))
            }),
            ("header 'X' contains the control byte \\x0d", |r| {
                r.headers.push(("X".into(), "1\r\nInjected: 1".into()))
            }),
        ];
        for (want, edit) in cases {
            let mut r = entry();
            edit(&mut r);
            let e = r.check_sendable().unwrap_err();
            assert!(e.contains(want), "{e:?} should contain {want:?}");
        }
    }
}
