//! The connection's byte stream, plain or TLS: the server side of the TLS handshake,
//! and how a connection is closed (`close_notify`, holding TCP open, lingering FIN).

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::{IO_TIMEOUT, Shared};

/// How long a closing connection drains the peer's leftover bytes, so that
/// closing with unread data does not turn into a reset that could destroy
/// the reply before the client reads it.
const CLOSE_LINGER: Duration = Duration::from_secs(1);

/// An accepted connection: plain TCP, or TLS over TCP once its handshake
/// has completed.
pub(super) enum Stream {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ServerConnection, TcpStream>>),
}

impl Stream {
    /// The TCP socket under the stream.
    pub(super) fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(tcp) => tcp,
            Stream::Tls(tls) => &tls.sock,
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(tcp) => tcp.read(buf),
            Stream::Tls(tls) => tls.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(tcp) => tcp.write(buf),
            Stream::Tls(tls) => tls.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(tcp) => tcp.flush(),
            Stream::Tls(tls) => tls.flush(),
        }
    }
}

/// Runs the server side of a TLS handshake on `tcp`, all of it within
/// [`IO_TIMEOUT`], and counts it in [`Shared`]. On failure, sends what
/// rustls still wants to send (normally an alert saying why), closes the
/// connection and returns `None`.
pub(super) fn tls_handshake(
    shared: &Shared,
    config: &Arc<rustls::ServerConfig>,
    mut tcp: TcpStream,
) -> Option<Stream> {
    let Ok(mut conn) = rustls::ServerConnection::new(Arc::clone(config)) else {
        shared.tls_failed.fetch_add(1, Ordering::SeqCst);
        return None;
    };
    let until = Instant::now() + IO_TIMEOUT;
    let mut ok = true;
    while ok && conn.is_handshaking() {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() || shared.stopping() {
            ok = false;
            break;
        }
        // Each call blocks at most this long, so the whole handshake ends
        // by `until`, however slowly the peer trickles bytes.
        let _ = tcp.set_read_timeout(Some(left));
        let _ = tcp.set_write_timeout(Some(left));
        match conn.complete_io(&mut tcp) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => ok = false,
        }
    }
    let _ = tcp.set_read_timeout(Some(IO_TIMEOUT));
    let _ = tcp.set_write_timeout(Some(IO_TIMEOUT));
    if !ok {
        shared.tls_failed.fetch_add(1, Ordering::SeqCst);
        // Whatever rustls queued (the alert explaining the failure), so the
        // peer sees why; each write is bounded by the write timeout.
        while conn.wants_write() {
            match conn.write_tls(&mut tcp) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
        linger_close(&tcp);
        return None;
    }
    let counter = match conn.handshake_kind() {
        Some(rustls::HandshakeKind::Resumed) => &shared.tls_resumed,
        _ => &shared.tls_full,
    };
    counter.fetch_add(1, Ordering::SeqCst);
    Some(Stream::Tls(Box::new(rustls::StreamOwned::new(conn, tcp))))
}

/// Closes the connection from our side: over TLS, a `close_notify` alert
/// first (unless [`ServerConfig::tls_close_notify`] is off), then as
/// [`linger_close`] does.
///
/// [`ServerConfig::tls_close_notify`]: super::ServerConfig::tls_close_notify
pub(super) fn close_gracefully(shared: &Shared, stream: &mut Stream) {
    if let Stream::Tls(tls) = stream
        && shared.config.tls_close_notify
    {
        tls.conn.send_close_notify();
        let _ = tls.flush();
    }
    linger_close(stream.tcp());
}

/// Queues `reply` and a `close_notify` alert, then writes both with one
/// `writev` (rustls writes up to 64 queued records at once), so the peer
/// reads them in one read; see [`ServerConfig::tls_hold_after_notify`].
///
/// [`ServerConfig::tls_hold_after_notify`]: super::ServerConfig::tls_hold_after_notify
pub(super) fn write_with_close_notify(
    tls: &mut rustls::StreamOwned<rustls::ServerConnection, TcpStream>,
    reply: &[u8],
) -> io::Result<()> {
    // Unbounded for this one reply: the default 64 KiB limit would have the
    // writer take only part of a large body before anything is written.
    tls.conn.set_buffer_limit(None);
    tls.conn.writer().write_all(reply)?;
    tls.conn.send_close_notify();
    while tls.conn.wants_write() {
        tls.conn.write_tls(&mut tls.sock)?;
    }
    Ok(())
}

/// Keeps `tcp` open (no FIN) for `hold`, or until the peer closes it or the
/// server shuts down, discarding what the peer sends.
pub(super) fn hold_open(shared: &Shared, mut tcp: &TcpStream, hold: Duration) {
    let until = Instant::now() + hold;
    let mut sink = [0u8; 4096];
    loop {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() || shared.stopping() {
            return;
        }
        let _ = tcp.set_read_timeout(Some(left));
        match tcp.read(&mut sink) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::Interrupted
                        | io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return,
        }
    }
}

/// Sends FIN, then drains what the peer still sends until it closes (or
/// [`CLOSE_LINGER`] passes), so the close does not become a reset.
pub(super) fn linger_close(mut tcp: &TcpStream) {
    let _ = tcp.shutdown(Shutdown::Write);
    let _ = tcp.set_read_timeout(Some(CLOSE_LINGER));
    let until = Instant::now() + CLOSE_LINGER;
    let mut sink = [0u8; 4096];
    while Instant::now() < until {
        match tcp.read(&mut sink) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}
