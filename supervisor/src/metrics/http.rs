//! The smallest HTTP/1.1 server that a scraper needs: one request per connection, read
//! under a byte cap and a deadline, answered with `Connection: close`.
//!
//! `GET /metrics` (or `HEAD`, any query string) gets the exposition; another path gets
//! 404, another method on `/metrics` 405, a request that does not parse or exceeds
//! [`MAX_REQUEST_BYTES`] gets 400. A client that sends too slowly is dropped after
//! [`READ_DEADLINE`], so a stuck peer can delay the next scrape by that much at most.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use super::exposition::Format;

/// Largest request head read (a scraper's is a few hundred bytes).
pub const MAX_REQUEST_BYTES: usize = 8 * 1024;

/// How long a client has to send its whole request head.
pub const READ_DEADLINE: Duration = Duration::from_secs(2);

/// How long writing the reply may block.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// What the client asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// `GET /metrics` (`head`: a `HEAD` request, no body sent) in this format.
    Metrics {
        /// From the `Accept` header.
        format: Format,
        /// A `HEAD` request.
        head: bool,
    },
    /// Another path.
    NotFound,
    /// Another method on `/metrics`.
    MethodNotAllowed,
    /// Not a request head, or a larger one than [`MAX_REQUEST_BYTES`].
    Bad,
}

/// Reads one request head from `stream`; `None` when the client sent nothing usable in
/// time or closed (nothing is answered then).
pub fn read_request(stream: &mut TcpStream) -> Option<Request> {
    let deadline = Instant::now() + READ_DEADLINE;
    let mut buf = vec![0u8; MAX_REQUEST_BYTES];
    let mut len = 0;
    loop {
        let left = deadline.checked_duration_since(Instant::now())?;
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            return None;
        }
        match stream.read(&mut buf[len..]) {
            Ok(0) => return (len > 0).then_some(Request::Bad),
            Ok(n) => len += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return None,
        }
        match parse(&buf[..len]) {
            Some(r) => return Some(r),
            None if len == buf.len() => return Some(Request::Bad),
            None => {}
        }
    }
}

/// The request in `head`, or `None` while it is incomplete.
pub fn parse(head: &[u8]) -> Option<Request> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(head) {
        Ok(httparse::Status::Partial) => None,
        Err(_) => Some(Request::Bad),
        Ok(httparse::Status::Complete(_)) => {
            let (Some(method), Some(path)) = (req.method, req.path) else {
                return Some(Request::Bad);
            };
            let path = path.split_once('?').map_or(path, |(p, _)| p);
            if path != "/metrics" {
                return Some(Request::NotFound);
            }
            let head = match method {
                "GET" => false,
                "HEAD" => true,
                _ => return Some(Request::MethodNotAllowed),
            };
            let accept = req
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("accept"))
                .and_then(|h| std::str::from_utf8(h.value).ok());
            Some(Request::Metrics {
                format: Format::negotiate(accept),
                head,
            })
        }
    }
}

/// Writes a whole reply (status line, fields, body unless `head`) and closes the writing
/// side.
pub fn respond(
    stream: &mut TcpStream,
    status: &str,
    content_type: &str,
    extra: &str,
    body: &[u8],
    head: bool,
) -> io::Result<()> {
    stream.set_write_timeout(Some(WRITE_TIMEOUT))?;
    let mut reply = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         {extra}Connection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if !head {
        reply.extend_from_slice(body);
    }
    stream.write_all(&reply)?;
    stream.flush()?;
    stream.shutdown(std::net::Shutdown::Write)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_told_apart() {
        let get = b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
        let om = Request::Metrics {
            format: Format::OpenMetrics,
            head: false,
        };
        assert_eq!(parse(get), Some(om));
        assert_eq!(parse(&get[..20]), None, "incomplete");
        let q = b"GET /metrics?x=1 HTTP/1.1\r\nAccept: text/plain\r\n\r\n";
        let plain = Request::Metrics {
            format: Format::Prometheus,
            head: false,
        };
        assert_eq!(parse(q), Some(plain));
        let head = b"HEAD /metrics HTTP/1.0\r\n\r\n";
        assert!(matches!(
            parse(head),
            Some(Request::Metrics { head: true, .. })
        ));
        assert_eq!(parse(b"GET / HTTP/1.1\r\n\r\n"), Some(Request::NotFound));
        assert_eq!(
            parse(b"GET /metricsx HTTP/1.1\r\n\r\n"),
            Some(Request::NotFound)
        );
        let post = b"POST /metrics HTTP/1.1\r\n\r\n";
        assert_eq!(parse(post), Some(Request::MethodNotAllowed));
        assert_eq!(parse(b"\x00\x01garbage\r\n\r\n"), Some(Request::Bad));
        assert_eq!(parse(b"GET /metrics HTTP/9\r\n\r\n"), Some(Request::Bad));
    }
}
