//! TLS for https targets, over rustls with the ring provider.
//!
//! [`client_config`] builds the one `ClientConfig` of a run in the supervisor, before the
//! workers fork (no connection is opened before the fork; each worker then keeps its own
//! copy, and its own session cache). [`TlsStream`] is a TCP stream with a rustls client
//! connection on top, driven without blocking by the same edge-triggered readiness as a
//! plain connection: the handshake runs while the slot is connecting (so it counts
//! against the connect deadline), then reads and writes carry plaintext.
//!
//! Trust: Mozilla's roots as packaged by `webpki-roots`, plus `--cacert` files. The
//! built-in set makes a run independent of the machine's CA bundle (a fresh container
//! has none), and the same on every load-generating host. A server that presents one of
//! the `--cacert` certificates itself is accepted as pinned (a self-signed certificate
//! that calls itself a CA, say), its name and dates still checked: see [`pin`].

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::io::{self, Read, Write};
use std::sync::{Arc, Mutex, PoisonError};

use mio::net::TcpStream;
pub use rustls::ClientConfig;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{
    ClientSessionStore, Resumption, Tls12ClientSessionValue, Tls13ClientSessionValue,
};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConnection, DigitallySignedStruct};
use rustls::{HandshakeKind, NamedGroup, RootCertStore, SignatureScheme};
use volley_config::TlsSpec;

mod pin;

/// Why the TLS client configuration could not be built (a bad `--cacert`, `--cert` or
/// `--key` file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsConfigError(pub String);

impl fmt::Display for TlsConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TlsConfigError {}

/// The run's TLS client configuration: trusted roots, client certificate, ALPN
/// `http/1.1`, session resumption (tickets and IDs) unless turned off. `slots` is the
/// run's concurrency: the session store keeps up to two TLS 1.3 tickets per slot for
/// each server, so that every slot reconnecting at once can resume (rustls' default
/// store keeps 8 per server, and 50 slots that reconnect together would make most
/// handshakes full).
///
/// # Errors
///
/// [`TlsConfigError`] naming the file when a CA, certificate or key file cannot be read
/// or holds nothing usable, or when rustls refuses the client certificate and key.
pub fn client_config(spec: &TlsSpec, slots: u32) -> Result<Arc<ClientConfig>, TlsConfigError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsConfigError(format!("TLS setup: {e}")))?;
    let builder = if spec.insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerify(
                provider.signature_verification_algorithms,
            )))
    } else {
        let (roots, pinned) = roots(spec)?;
        let webpki = rustls::client::WebPkiServerVerifier::builder_with_provider(
            Arc::new(roots),
            provider.clone(),
        )
        .build()
        .map_err(|e| TlsConfigError(format!("TLS setup: {e}")))?;
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(pin::PinningVerifier::new(webpki, pinned)))
    };
    let mut config = match (&spec.cert, &spec.key) {
        (Some(cert), Some(key)) => {
            let chain = CertificateDer::pem_file_iter(cert)
                .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                .map_err(|e| TlsConfigError(format!("--cert {}: {e}", cert.display())))?;
            if chain.is_empty() {
                return Err(TlsConfigError(format!(
                    "--cert {}: no PEM certificate in it",
                    cert.display()
                )));
            }
            let key = PrivateKeyDer::from_pem_file(key)
                .map_err(|e| TlsConfigError(format!("--key {}: {e}", key.display())))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| TlsConfigError(format!("--cert/--key: {e}")))?
        }
        _ => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    config.resumption = if spec.resume {
        let tickets = (2 * slots as usize).clamp(8, MAX_TICKETS_PER_SERVER);
        Resumption::store(Arc::new(TicketStore::new(tickets)))
    } else {
        Resumption::disabled()
    };
    Ok(Arc::new(config))
}

/// Most TLS 1.3 tickets kept for one server.
pub const MAX_TICKETS_PER_SERVER: usize = 65_536;
/// Most servers the session store keeps data for (a run talks to a handful).
pub const MAX_SERVERS: usize = 1024;

/// An in-memory session store sized for the run: per server, the key-exchange group it
/// chose, its last TLS 1.2 session, and up to `tickets` TLS 1.3 tickets (oldest dropped
/// first, newest used first). Each worker has its own copy (made by fork, before any
/// connection), so a worker resumes only its own sessions.
#[derive(Debug)]
struct TicketStore {
    tickets: usize,
    servers: Mutex<HashMap<ServerName<'static>, ServerData>>,
}

#[derive(Debug, Default)]
struct ServerData {
    kx: Option<NamedGroup>,
    tls12: Option<Tls12ClientSessionValue>,
    tls13: VecDeque<Tls13ClientSessionValue>,
}

impl TicketStore {
    fn new(tickets: usize) -> Self {
        TicketStore {
            tickets,
            servers: Mutex::new(HashMap::new()),
        }
    }

    /// Runs `f` on the data of `name`, creating it (unless the store is full).
    fn with<T>(&self, name: &ServerName<'_>, f: impl FnOnce(&mut ServerData) -> T) -> Option<T> {
        // Once per handshake: the owned key's allocation does not matter.
        let key = name.to_owned();
        let mut servers = self.servers.lock().unwrap_or_else(PoisonError::into_inner);
        if !servers.contains_key(&key) && servers.len() >= MAX_SERVERS {
            return None;
        }
        Some(f(servers.entry(key).or_default()))
    }
}

impl ClientSessionStore for TicketStore {
    fn set_kx_hint(&self, name: ServerName<'static>, group: NamedGroup) {
        self.with(&name, |d| d.kx = Some(group));
    }

    fn kx_hint(&self, name: &ServerName<'_>) -> Option<NamedGroup> {
        self.with(name, |d| d.kx).flatten()
    }

    fn set_tls12_session(&self, name: ServerName<'static>, value: Tls12ClientSessionValue) {
        self.with(&name, |d| d.tls12 = Some(value));
    }

    fn tls12_session(&self, name: &ServerName<'_>) -> Option<Tls12ClientSessionValue> {
        self.with(name, |d| d.tls12.clone()).flatten()
    }

    fn remove_tls12_session(&self, name: &ServerName<'static>) {
        self.with(name, |d| d.tls12 = None);
    }

    fn insert_tls13_ticket(&self, name: ServerName<'static>, value: Tls13ClientSessionValue) {
        let cap = self.tickets;
        self.with(&name, |d| {
            if d.tls13.len() >= cap {
                d.tls13.pop_front();
            }
            d.tls13.push_back(value);
        });
    }

    fn take_tls13_ticket(&self, name: &ServerName<'static>) -> Option<Tls13ClientSessionValue> {
        self.with(name, |d| d.tls13.pop_back()).flatten()
    }
}

/// webpki-roots plus every certificate of the `--cacert` files, and those certificates
/// alone (the ones a server may present as pinned).
fn roots(spec: &TlsSpec) -> Result<(RootCertStore, Vec<CertificateDer<'static>>), TlsConfigError> {
    let mut pinned = Vec::new();
    let mut roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    for path in &spec.cacert {
        let certs = CertificateDer::pem_file_iter(path)
            .and_then(|it| it.collect::<Result<Vec<_>, _>>())
            .map_err(|e| TlsConfigError(format!("--cacert {}: {e}", path.display())))?;
        if certs.is_empty() {
            return Err(TlsConfigError(format!(
                "--cacert {}: no PEM certificate in it",
                path.display()
            )));
        }
        for c in certs {
            roots
                .add(c.clone())
                .map_err(|e| TlsConfigError(format!("--cacert {}: {e}", path.display())))?;
            pinned.push(c);
        }
    }
    Ok((roots, pinned))
}

/// `--insecure`: any certificate is accepted, but the handshake signatures are still
/// checked (the connection is encrypted to whoever holds the key the server showed).
#[derive(Debug)]
struct NoVerify(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}

/// A TLS failure carried inside an `io::Error` (kind `InvalidData`), so that the one
/// classifier of I/O errors can count it as class `tls` with this detail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TlsFailure(pub &'static str);

impl fmt::Display for TlsFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TLS: {}", self.0)
    }
}

impl std::error::Error for TlsFailure {}

impl TlsFailure {
    fn io(detail: &'static str) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, TlsFailure(detail))
    }

    /// The detail code of a rustls error (`cert-unknown-issuer`, `alert`, …).
    pub fn detail_of(e: &rustls::Error) -> &'static str {
        use rustls::Error as E;
        match e {
            E::InvalidCertificate(c) => match c {
                CertificateError::UnknownIssuer => "cert-unknown-issuer",
                CertificateError::NotValidForName
                | CertificateError::NotValidForNameContext { .. } => "cert-wrong-name",
                CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                    "cert-expired"
                }
                CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                    "cert-not-yet-valid"
                }
                CertificateError::Revoked => "cert-revoked",
                // webpki's own errors come wrapped; the one users meet most is a
                // self-signed CA certificate served as the server's own (one given
                // with --cacert is accepted as pinned, see `pin`).
                CertificateError::Other(o) if format!("{o:?}").contains("CaUsedAsEndEntity") => {
                    "cert-ca-used-as-leaf"
                }
                _ => "cert-invalid",
            },
            E::AlertReceived(_) => "alert",
            // Bytes that are not TLS records: a plain-HTTP server on the port.
            E::InvalidMessage(_) | E::InappropriateMessage { .. } => "not-tls",
            E::NoApplicationProtocol => "alpn",
            _ => "handshake",
        }
    }
}

/// `class/detail` of a failed TLS operation, when `err` carries one.
pub fn failure_detail(err: &io::Error) -> Option<&'static str> {
    err.get_ref()
        .and_then(|e| e.downcast_ref::<TlsFailure>())
        .map(|t| t.0)
}

/// A TCP connection with a rustls client on top.
#[derive(Debug)]
pub struct TlsStream {
    /// The socket.
    pub tcp: TcpStream,
    tls: ClientConnection,
    /// A first write reached the socket: the TCP connect is done.
    pub tcp_up: bool,
    /// The peer closed the TCP connection without a `close_notify` alert.
    pub unclean_eof: bool,
    /// The last read from the socket returned less than asked: it was drained.
    last_read_short: bool,
    /// Dated reads: the kernel's receive date of the last segment a socket read brought
    /// (`CLOCK_REALTIME` ns), and so of the plaintext rustls gives from it.
    last_stamp: Option<u64>,
    /// Plaintext rustls holds that no read has returned yet (from the last
    /// `process_new_packets`, less what reads took since).
    pending_plain: usize,
    /// The peer's `close_notify` was received: from now on a read answers without the
    /// socket (`Ok(0)` once `pending_plain` is read), and no edge may ever announce it.
    peer_closed: bool,
    /// The name the certificate was checked for (and the SNI): a kept connection carries
    /// only requests to this host.
    pub host: String,
}

/// The socket as rustls reads it, noting whether a read came back short (on Linux TCP,
/// the receive queue was drained), so the caller can skip a read that would only say
/// `WouldBlock`.
/// When dating, it reads with `recvmsg` and keeps the receive date of what it read.
struct Probe<'a> {
    tcp: &'a mut TcpStream,
    short: &'a mut bool,
    stamp: Option<&'a mut Option<u64>>,
}

impl Read for Probe<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = match self.stamp.as_deref_mut() {
            Some(stamp) => {
                let (n, date) =
                    crate::conn::recv_stamped(std::os::fd::AsRawFd::as_raw_fd(&*self.tcp), buf)?;
                // This read's date, none included: a date kept from an earlier read
                // (the previous reply's) would date these bytes before they came.
                *stamp = date;
                n
            }
            None => self.tcp.read(buf)?,
        };
        *self.short = n < buf.len();
        Ok(n)
    }
}

impl TlsStream {
    /// A client connection to `host` (the SNI name, unless it is an IP literal, and the
    /// name the certificate must hold) over `tcp`.
    ///
    /// # Errors
    ///
    /// A [`TlsFailure`] `bad-server-name` when `host` is no DNS name or IP address.
    pub fn new(tcp: TcpStream, config: &Arc<ClientConfig>, host: &str) -> io::Result<Self> {
        let name = ServerName::try_from(host.to_string())
            .map_err(|_| TlsFailure::io("bad-server-name"))?;
        let tls = ClientConnection::new(config.clone(), name)
            .map_err(|e| TlsFailure::io(TlsFailure::detail_of(&e)))?;
        Ok(TlsStream {
            tcp,
            tls,
            tcp_up: false,
            unclean_eof: false,
            last_read_short: false,
            last_stamp: None,
            pending_plain: 0,
            peer_closed: false,
            host: host.to_string(),
        })
    }

    /// Advances the handshake as far as `readable` and `writable` allow (each cleared
    /// when the socket says `WouldBlock`). `Ok(true)` once it is complete.
    ///
    /// # Errors
    ///
    /// The socket's errors (a refused connect shows here, on the first write), a
    /// [`TlsFailure`] for a rustls error (the alert rustls wants to send is sent first),
    /// and `eof-in-handshake` when the server closes before the handshake ends.
    pub fn handshake(&mut self, readable: &mut bool, writable: &mut bool) -> io::Result<bool> {
        loop {
            if self.tls.wants_write() {
                if !*writable {
                    return Ok(false);
                }
                match self.tls.write_tls(&mut self.tcp) {
                    Ok(_) => {
                        self.tcp_up = true;
                        continue;
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        *writable = false;
                        return Ok(false);
                    }
                    Err(e) => return Err(e),
                }
            }
            if !self.tls.is_handshaking() {
                return Ok(true);
            }
            if !*readable {
                return Ok(false);
            }
            match self.tls.read_tls(&mut self.tcp) {
                Ok(0) => return Err(TlsFailure::io("eof-in-handshake")),
                Ok(_) => self.process()?,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    *readable = false;
                    return Ok(false);
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// The kind of the completed handshake.
    pub fn resumed(&self) -> bool {
        self.tls.handshake_kind() == Some(HandshakeKind::Resumed)
    }

    /// Processes received records, noting what rustls now holds for the reader; on a
    /// TLS error, sends the alert rustls has queued.
    fn process(&mut self) -> io::Result<()> {
        match self.tls.process_new_packets() {
            Ok(state) => {
                self.pending_plain = state.plaintext_bytes_to_read();
                self.peer_closed = state.peer_has_closed();
                Ok(())
            }
            Err(e) => {
                let _ = self.flush();
                Err(TlsFailure::io(TlsFailure::detail_of(&e)))
            }
        }
    }

    /// Nothing more can be read until the socket brings a readable edge: the last socket
    /// read came back short, rustls holds no plaintext, and no `close_notify` is waiting
    /// to be reported. A `close_notify` that came in the same socket read as the last
    /// data is followed by no edge at all (the server may keep TCP open, or close it much
    /// later), so the end it announces must be read at once. Known from the last
    /// `process_new_packets`, without a syscall.
    pub fn drained(&self) -> bool {
        self.last_read_short && self.pending_plain == 0 && !self.peer_closed
    }

    /// The kernel reported the socket readable: bytes came after the last socket read,
    /// so a read served from what rustls already held must not count the socket as
    /// drained by that earlier short read.
    pub fn socket_readable(&mut self) {
        self.last_read_short = false;
    }

    /// Encrypted bytes are waiting to be written.
    pub fn wants_write(&self) -> bool {
        self.tls.wants_write()
    }

    /// Writes what rustls has queued.
    ///
    /// # Errors
    ///
    /// `WouldBlock` when the socket is full with bytes still queued, or the socket's
    /// error.
    pub fn flush(&mut self) -> io::Result<()> {
        while self.tls.wants_write() {
            self.tls.write_tls(&mut self.tcp)?;
        }
        Ok(())
    }

    /// Sends `close_notify` (best effort: the connection is being dropped).
    pub fn close(&mut self) {
        self.tls.send_close_notify();
        let _ = self.flush();
    }
}

impl Read for TlsStream {
    /// Plaintext of the connection. `Ok(0)` at its end: after `close_notify` (a clean
    /// end, whether or not TCP is still open), or after a TCP close without it (then
    /// [`TlsStream::unclean_eof`] is set). `WouldBlock` when the socket has nothing more
    /// (records that bring no plaintext, like session tickets, are processed on the way).
    /// See [`TlsStream::drained`] for when the next read can wait for an edge.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.read_plain(buf, false)
    }
}

impl TlsStream {
    /// Reads like [`Read::read`], and also returns the kernel's receive date of the socket
    /// read that brought the plaintext (when the socket has `SO_TIMESTAMPNS` on).
    pub fn read_stamped(&mut self, buf: &mut [u8]) -> io::Result<(usize, Option<u64>)> {
        let n = self.read_plain(buf, true)?;
        Ok((n, self.last_stamp))
    }

    /// Plaintext, reading the socket with receive dates when `dated`.
    fn read_plain(&mut self, buf: &mut [u8], dated: bool) -> io::Result<usize> {
        loop {
            match self.tls.reader().read(buf) {
                Ok(n) => {
                    self.pending_plain = self.pending_plain.saturating_sub(n);
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    self.unclean_eof = true;
                    return Ok(0);
                }
                Err(e) => return Err(e),
            }
            self.tls.read_tls(&mut Probe {
                tcp: &mut self.tcp,
                short: &mut self.last_read_short,
                stamp: dated.then_some(&mut self.last_stamp),
            })?;
            self.process()?;
            if self.tls.wants_write() {
                // A key update to answer, or request bytes still queued: best effort. A
                // write error must not hide plaintext already received (a server that
                // answers early, then resets); it shows on the next write or read.
                let _ = self.flush();
            }
            // After the TCP end (read_tls gave 0) the next turn reports a clean or an
            // unclean end.
        }
    }
}

impl Write for TlsStream {
    /// Takes plaintext and writes it out encrypted. Queued bytes go first: while the
    /// socket cannot take them, nothing new is taken (`WouldBlock`), so the queue stays
    /// bounded. Bytes taken but not yet written go out on the next write or
    /// [`TlsStream::flush`].
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.flush()?;
        let n = self.tls.writer().write(buf)?;
        match self.flush() {
            Err(e) if e.kind() != io::ErrorKind::WouldBlock => Err(e),
            _ => Ok(n),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        TlsStream::flush(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conn::Transport;
    use mio::{Events, Interest, Poll, Token};
    use rustls::ServerConnection;
    use std::net::{Shutdown, TcpListener};
    use std::time::{Duration, Instant};
    use volley_testsupport::tls::{Leaf, TestPki};

    /// Bound of every wait in these tests.
    const WAIT: Duration = Duration::from_secs(5);

    /// A client [`TlsStream`] and a rustls server on the two ends of one loopback TCP
    /// connection, both past the handshake. The server's socket is blocking again.
    fn connected(pki: &TestPki) -> (TlsStream, ServerConnection, std::net::TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let tcp = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        tcp.set_nonblocking(true).unwrap();
        let (mut server_tcp, _) = listener.accept().unwrap();
        server_tcp.set_nonblocking(true).unwrap();
        let config = pki.client_config();
        let mut client = TlsStream::new(TcpStream::from_std(tcp), &config, "localhost").unwrap();
        let mut server = ServerConnection::new(pki.server_config(Leaf::Good)).unwrap();
        let until = Instant::now() + WAIT;
        // The two sides take turns; each turn moves what the other side wrote.
        loop {
            let client_done = client.handshake(&mut true, &mut true).unwrap();
            match server.read_tls(&mut server_tcp) {
                Ok(0) => panic!("the client closed during the handshake"),
                Ok(_) => {
                    server.process_new_packets().unwrap();
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => panic!("server read: {e}"),
            }
            while server.wants_write() {
                server.write_tls(&mut server_tcp).unwrap();
            }
            if client_done && !server.is_handshaking() {
                break;
            }
            assert!(Instant::now() < until, "the handshake did not finish");
        }
        server_tcp.set_nonblocking(false).unwrap();
        (client, server, server_tcp)
    }

    /// Queues `records` (one TLS record each) and, if `notify`, a `close_notify`, then
    /// writes them all in one `writev`: the client's next socket read takes them together.
    fn send_at_once(
        server: &mut ServerConnection,
        tcp: &mut std::net::TcpStream,
        records: &[&[u8]],
        notify: bool,
    ) {
        for r in records {
            server.writer().write_all(r).unwrap();
        }
        if notify {
            server.send_close_notify();
        }
        server.write_tls(tcp).unwrap();
        assert!(!server.wants_write(), "more than one write");
    }

    /// Reads once, waiting (up to [`WAIT`]) for a readable edge while the stream says
    /// `WouldBlock`.
    fn read_ready(t: &mut Transport, buf: &mut [u8]) -> usize {
        let mut poll = Poll::new().unwrap();
        poll.registry()
            .register(t.tcp_mut(), Token(0), Interest::READABLE)
            .unwrap();
        let mut events = Events::with_capacity(4);
        let until = Instant::now() + WAIT;
        loop {
            match t.read(buf) {
                Ok(n) => {
                    poll.registry().deregister(t.tcp_mut()).unwrap();
                    return n;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    let left = until.saturating_duration_since(Instant::now());
                    assert!(!left.is_zero(), "nothing to read");
                    poll.poll(&mut events, Some(left)).unwrap();
                }
                Err(e) => panic!("read: {e}"),
            }
        }
    }

    /// Reads with receive dates once something came (up to [`WAIT`]).
    fn read_dated_ready(t: &mut Transport, buf: &mut [u8]) -> (usize, Option<u64>) {
        let until = Instant::now() + WAIT;
        loop {
            match t.read_stamped(buf) {
                Ok(got) => return got,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    assert!(Instant::now() < until, "nothing to read");
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(e) => panic!("read: {e}"),
            }
        }
    }

    /// A socket read that brings no receive date (the kernel had dating off when the
    /// bytes came) dates its plaintext with none: not with the date of an earlier read,
    /// which would make a reply read shorter than it was.
    #[test]
    fn a_read_without_a_receive_date_does_not_keep_the_last_one() {
        let pki = TestPki::new();
        let (client, mut server, mut server_tcp) = connected(&pki);
        let mut t = Transport::Tls(Box::new(client));
        crate::conn::enable_rx_stamps(t.tcp_mut()).unwrap();
        let mut buf = [0u8; 1024];
        send_at_once(&mut server, &mut server_tcp, &[b"first"], false);
        let (n, date) = read_dated_ready(&mut t, &mut buf);
        assert_eq!(&buf[..n], b"first");
        assert!(date.is_some(), "the kernel dates what it received");
        // The next bytes come without a date.
        nix::sys::socket::setsockopt(
            t.tcp_mut(),
            nix::sys::socket::sockopt::ReceiveTimestampns,
            &false,
        )
        .unwrap();
        send_at_once(&mut server, &mut server_tcp, &[b"second"], false);
        let (n, date) = read_dated_ready(&mut t, &mut buf);
        assert_eq!(&buf[..n], b"second");
        assert_eq!(date, None, "no date of its own, and not the first read's");
    }

    /// Issue 13: the last data and the server's `close_notify` come in one socket read,
    /// and TCP stays open. The read that returns the data must not leave the connection
    /// for drained (no edge would ever come), and the next read is the clean end.
    #[test]
    fn close_notify_read_with_the_last_data_ends_the_stream_at_once() {
        let pki = TestPki::new();
        let (client, mut server, mut server_tcp) = connected(&pki);
        send_at_once(&mut server, &mut server_tcp, &[b"the last bytes"], true);
        let mut t = Transport::Tls(Box::new(client));
        let mut buf = [0u8; 1024];
        let n = read_ready(&mut t, &mut buf);
        assert_eq!(&buf[..n], b"the last bytes");
        assert!(
            !t.drained_after(n, buf.len()),
            "the close_notify is still to be reported"
        );
        // Without waiting: the socket has nothing more, and TCP is still open.
        assert_eq!(t.read(&mut buf).unwrap(), 0);
        assert!(!t.unclean_eof(), "close_notify makes a clean end");
        assert_eq!(t.read(&mut buf).unwrap(), 0, "the end stays the end");
        drop(server_tcp);
    }

    /// Plaintext rustls decrypted beyond what one read takes keeps the stream undrained
    /// until it is all read; then the stream is drained (the socket read was short, no
    /// close_notify), and a further read says `WouldBlock`.
    #[test]
    fn buffered_plaintext_is_read_before_the_stream_counts_as_drained() {
        let pki = TestPki::new();
        let (client, mut server, mut server_tcp) = connected(&pki);
        let records: [&[u8]; 3] = [&[b'a'; 700], &[b'b'; 700], &[b'c'; 700]];
        send_at_once(&mut server, &mut server_tcp, &records, false);
        let mut t = Transport::Tls(Box::new(client));
        let mut buf = [0u8; 500];
        let mut got = read_ready(&mut t, &mut buf);
        let drained = |t: &Transport| matches!(t, Transport::Tls(s) if s.drained());
        while got < 2100 {
            assert!(!drained(&t), "{} bytes still held by rustls", 2100 - got);
            let n = t.read(&mut buf).unwrap();
            assert!(n > 0);
            got += n;
        }
        assert_eq!(got, 2100);
        assert!(drained(&t), "all read, the socket drained, no close_notify");
        let e = t.read(&mut buf).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
        drop(server_tcp);
    }

    /// A TCP end without `close_notify` is still an unclean end, after the data.
    #[test]
    fn a_tcp_end_without_close_notify_stays_unclean() {
        let pki = TestPki::new();
        let (client, mut server, mut server_tcp) = connected(&pki);
        send_at_once(&mut server, &mut server_tcp, &[b"cut here"], false);
        server_tcp.shutdown(Shutdown::Write).unwrap();
        let mut t = Transport::Tls(Box::new(client));
        let mut buf = [0u8; 1024];
        let n = read_ready(&mut t, &mut buf);
        assert_eq!(&buf[..n], b"cut here");
        assert_eq!(read_ready(&mut t, &mut buf), 0);
        assert!(t.unclean_eof());
    }

    #[test]
    fn config_files_are_checked() {
        let spec = TlsSpec::default();
        let c = client_config(&spec, 10).unwrap();
        assert_eq!(c.alpn_protocols, [b"http/1.1".to_vec()]);
        let bad = TlsSpec {
            cacert: vec!["/nonexistent/ca.pem".into()],
            ..TlsSpec::default()
        };
        let e = client_config(&bad, 1).unwrap_err();
        assert!(e.0.contains("--cacert /nonexistent/ca.pem"), "{e}");
        let empty = std::env::temp_dir().join(format!("volley-empty-{}.pem", std::process::id()));
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let e = client_config(
            &TlsSpec {
                cacert: vec![empty.clone()],
                ..TlsSpec::default()
            },
            1,
        )
        .unwrap_err();
        let _ = std::fs::remove_file(&empty);
        assert!(e.0.contains("no PEM certificate"), "{e}");
        let insecure = TlsSpec {
            insecure: true,
            resume: false,
            ..TlsSpec::default()
        };
        assert!(client_config(&insecure, 1).is_ok());
    }

    #[test]
    fn rustls_errors_get_details() {
        use rustls::Error as E;
        let d = |e: E| TlsFailure::detail_of(&e);
        assert_eq!(
            d(E::InvalidCertificate(CertificateError::UnknownIssuer)),
            "cert-unknown-issuer"
        );
        assert_eq!(
            d(E::InvalidCertificate(CertificateError::Expired)),
            "cert-expired"
        );
        assert_eq!(
            d(E::InvalidCertificate(CertificateError::NotValidForName)),
            "cert-wrong-name"
        );
        assert_eq!(
            d(E::AlertReceived(rustls::AlertDescription::HandshakeFailure)),
            "alert"
        );
        let io = TlsFailure::io("alert");
        assert_eq!(failure_detail(&io), Some("alert"));
        assert_eq!(failure_detail(&io::Error::other("x")), None);
    }
}
