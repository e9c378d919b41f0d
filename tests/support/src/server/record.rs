//! What the server saw: the [`Received`] requests and how they are recorded, and the
//! [`TlsCounts`] of finished handshakes.

use std::sync::atomic::Ordering;
use std::time::Instant;

use super::request::Request;
use super::{MAX_RECORDED_HEADS, MAX_RECORDED_REQUESTS, Shared, lock};

/// One complete request as the server read it; see
/// [`TestServer::received`](super::TestServer::received).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// 0-based index of the connection it came on, in accept order.
    pub conn: u64,
    /// 0-based number of this request on its connection.
    pub seq_on_conn: u64,
    /// When it was recorded: right after its last byte (head and body) was
    /// read, before any reply. Never decreases along
    /// [`TestServer::received`](super::TestServer::received).
    pub at: Instant,
    /// Request method, e.g. `GET`.
    pub method: String,
    /// Request-target as sent, e.g. `/a?x=1`.
    pub target: String,
    /// Header fields in the order sent, repeats included: names exactly as
    /// sent, values with surrounding whitespace trimmed. Lines without a
    /// `:` are skipped. The head is decoded lossily as UTF-8.
    pub headers: Vec<(String, String)>,
    /// The `Content-Length` body (empty without one).
    pub body: Vec<u8>,
}

impl Received {
    /// The value of the first header field named `name` (compared
    /// case-insensitively), if any.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(field, _)| field.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// The values of every header field named `name` (compared
    /// case-insensitively), in the order sent.
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(field, _)| field.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
            .collect()
    }
}

/// TLS handshakes a [`TestServer`] started with [`TestServer::start_tls`]
/// has finished; see [`TestServer::tls_handshakes`].
///
/// [`TestServer`]: super::TestServer
/// [`TestServer::start_tls`]: super::TestServer::start_tls
/// [`TestServer::tls_handshakes`]: super::TestServer::tls_handshakes
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TlsCounts {
    /// Handshakes that completed without resumption (a TLS 1.3
    /// `HelloRetryRequest` round included).
    pub full: u64,
    /// Handshakes that resumed an earlier session (TLS 1.3 ticket, TLS 1.2
    /// session id or ticket).
    pub resumed: u64,
    /// Connections whose handshake did not complete: an alert from the
    /// client (e.g. it rejected the certificate), a missing or bad client
    /// certificate, bytes that are not TLS, EOF, a timeout, or shutdown.
    pub failed: u64,
}

/// Records `request` (moving its body out) and counts it.
pub(super) fn record(shared: &Shared, conn: u64, seq_on_conn: u64, request: &mut Request) {
    {
        let mut heads = lock(&shared.heads);
        if heads.len() < MAX_RECORDED_HEADS {
            heads.push(request.head.clone());
        }
    }
    {
        // Stamped under the lock, so `at` never decreases along the list.
        let mut received = lock(&shared.received);
        if received.len() < MAX_RECORDED_REQUESTS {
            received.push(Received {
                conn,
                seq_on_conn,
                at: Instant::now(),
                method: request.method.clone(),
                target: request.target.clone(),
                headers: received_fields(&request.head),
                body: std::mem::take(&mut request.body),
            });
        }
    }
    shared.requests.fetch_add(1, Ordering::SeqCst);
}

/// The header fields of `head` for [`Received::headers`]: names as sent,
/// values trimmed, lines without `:` skipped.
fn received_fields(head: &str) -> Vec<(String, String)> {
    head.split("\r\n")
        .skip(1)
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.to_owned(), value.trim().to_owned()))
        .collect()
}
