//! Certificates and rustls configs for TLS tests, made fresh at test time.
//!
//! [`TestPki::new`] generates a small PKI with rcgen (new keys on every
//! call, so nothing secret is checked in and nothing expires in the repo):
//! a CA, server leaves good and bad ([`Leaf`]), and a client certificate,
//! all written as PEM files to a scratch directory that is removed when
//! the `TestPki` is dropped. Its server configs plug into
//! [`TestServer::start_tls`](crate::TestServer::start_tls):
//!
//! ```no_run
//! use volley_testsupport::tls::{Leaf, TestPki};
//! use volley_testsupport::{ServerConfig, TestServer};
//!
//! let pki = TestPki::new();
//! let server = TestServer::start_tls(ServerConfig::default(), pki.server_config(Leaf::Good));
//! // Give the client `pki.ca_pem()` as its trust anchor and connect to
//! // `server.url_with_host("localhost", "/")`.
//! # let _ = server;
//! ```
//!
//! Every rustls config here is built with the *ring* provider explicitly,
//! never a process-default provider.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::RootCertStore;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::{ServerSessionMemoryCache, WebPkiClientVerifier};

use crate::Scratch;

/// Subject common name of the CA made by [`TestPki::new`].
pub const CA_NAME: &str = "volley test CA";

/// The DNS name a [`Leaf::Good`] or [`Leaf::Expired`] certificate is
/// issued for (besides the IP address 127.0.0.1).
pub const SERVER_NAME: &str = "localhost";

/// The only name a [`Leaf::WrongName`] certificate is issued for.
pub const WRONG_NAME: &str = "wrong.example";

/// ALPN protocol the server configs offer.
pub const ALPN_HTTP11: &[u8] = b"http/1.1";

/// Server sessions [`TestPki::server_config`] keeps for TLS 1.2 session-id
/// resumption.
const SESSION_CACHE: usize = 256;

/// Which server certificate a server config presents; every one is signed
/// by the [`TestPki`] CA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Leaf {
    /// Valid now for DNS name `localhost` and IP address 127.0.0.1: a
    /// client trusting the CA accepts it.
    Good,
    /// Valid now, but only for DNS name `wrong.example` (no IP address):
    /// a client verifying `localhost` or 127.0.0.1 rejects it with
    /// `CertificateError::NotValidForName` (or `…Context`).
    WrongName,
    /// For `localhost` and 127.0.0.1, but valid only during 2019: a
    /// client rejects it with `CertificateError::Expired` (or `…Context`).
    Expired,
}

/// A certificate with its key, in DER and as PEM files.
#[derive(Debug)]
struct Identity {
    cert: CertificateDer<'static>,
    /// PKCS#8 DER of the private key.
    key: Vec<u8>,
    cert_pem: PathBuf,
    key_pem: PathBuf,
}

impl Identity {
    /// Makes a key, a certificate for it from `params` signed by `issuer`,
    /// and writes `NAME.pem` and `NAME.key` into `dir`.
    fn issue(
        dir: &Scratch,
        name: &str,
        params: &CertificateParams,
        issuer: &Issuer<'_, KeyPair>,
    ) -> Identity {
        let key = KeyPair::generate().expect("generate a leaf key");
        let cert = params
            .signed_by(&key, issuer)
            .unwrap_or_else(|e| panic!("sign the {name} certificate: {e}"));
        Identity {
            cert_pem: dir.file(&format!("{name}.pem"), &cert.pem()),
            key_pem: dir.file(&format!("{name}.key"), &key.serialize_pem()),
            cert: cert.der().clone(),
            key: key.serialize_der(),
        }
    }

    fn chain(&self) -> Vec<CertificateDer<'static>> {
        vec![self.cert.clone()]
    }

    fn private_key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key.clone()))
    }
}

/// A throwaway PKI for TLS tests; see the [module docs](self).
///
/// PEM files (certificates as `CERTIFICATE`, keys as PKCS#8
/// `PRIVATE KEY`) live in a scratch directory removed on drop, so keep the
/// `TestPki` alive while anything reads them.
#[derive(Debug)]
pub struct TestPki {
    ca: CertificateDer<'static>,
    ca_pem: PathBuf,
    good: Identity,
    wrong_name: Identity,
    expired: Identity,
    client: Identity,
    /// Declared last: dropped (removed) after nothing refers to its files.
    _dir: Scratch,
}

impl TestPki {
    /// Generates the CA ([`CA_NAME`]), the three server leaves of [`Leaf`]
    /// and a client certificate, with fresh ECDSA P-256 keys, and writes
    /// their PEM files.
    ///
    /// # Panics
    ///
    /// If key generation, signing or writing a file fails.
    pub fn new() -> TestPki {
        let dir = Scratch::new("pki");

        let mut ca_params = CertificateParams::default();
        ca_params.distinguished_name = rcgen::DistinguishedName::new();
        ca_params
            .distinguished_name
            .push(DnType::CommonName, CA_NAME);
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_key = KeyPair::generate().expect("generate the CA key");
        let ca_cert = ca_params.self_signed(&ca_key).expect("self-sign the CA");
        let ca_pem = dir.file("ca.pem", &ca_cert.pem());
        let ca = ca_cert.der().clone();
        let issuer = Issuer::new(ca_params, ca_key);

        let localhost = leaf_params(
            "volley test server",
            &[SERVER_NAME, "127.0.0.1"],
            ExtendedKeyUsagePurpose::ServerAuth,
        );
        let good = Identity::issue(&dir, "server", &localhost, &issuer);

        let wrong = leaf_params(
            "volley test wrong name",
            &[WRONG_NAME],
            ExtendedKeyUsagePurpose::ServerAuth,
        );
        let wrong_name = Identity::issue(&dir, "wrong-name", &wrong, &issuer);

        let mut old = localhost;
        old.not_before = rcgen::date_time_ymd(2019, 1, 1);
        old.not_after = rcgen::date_time_ymd(2020, 1, 1);
        let expired = Identity::issue(&dir, "expired", &old, &issuer);

        let client_params = leaf_params(
            "volley test client",
            &[],
            ExtendedKeyUsagePurpose::ClientAuth,
        );
        let client = Identity::issue(&dir, "client", &client_params, &issuer);

        TestPki {
            ca,
            ca_pem,
            good,
            wrong_name,
            expired,
            client,
            _dir: dir,
        }
    }

    /// The CA certificate's PEM file: the trust anchor for clients.
    pub fn ca_pem(&self) -> &Path {
        &self.ca_pem
    }

    /// The CA certificate, DER.
    pub fn ca_der(&self) -> &CertificateDer<'static> {
        &self.ca
    }

    /// A root store holding only the CA.
    ///
    /// # Panics
    ///
    /// Never in practice: the CA certificate is well formed.
    pub fn ca_root_store(&self) -> RootCertStore {
        let mut roots = RootCertStore::empty();
        roots.add(self.ca.clone()).expect("add the test CA");
        roots
    }

    /// The client certificate's PEM file (signed by the CA, for
    /// [`TestPki::client_auth_server_config`]).
    pub fn client_cert_pem(&self) -> &Path {
        &self.client.cert_pem
    }

    /// The client certificate's private key, a PKCS#8 PEM file.
    pub fn client_key_pem(&self) -> &Path {
        &self.client.key_pem
    }

    /// The PEM file of `leaf`'s certificate (for servers run outside this
    /// crate).
    pub fn leaf_cert_pem(&self, leaf: Leaf) -> &Path {
        &self.identity(leaf).cert_pem
    }

    /// The PEM file of `leaf`'s private key (PKCS#8).
    pub fn leaf_key_pem(&self, leaf: Leaf) -> &Path {
        &self.identity(leaf).key_pem
    }

    /// A new rustls server config presenting `leaf`, with no client
    /// authentication; see [`TestPki::client_auth_server_config`] for what
    /// every server config offers.
    ///
    /// # Panics
    ///
    /// If rustls rejects the certificate or key (a bug here).
    pub fn server_config(&self, leaf: Leaf) -> Arc<rustls::ServerConfig> {
        let identity = self.identity(leaf);
        let config = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("ring supports the default protocol versions")
            .with_no_client_auth()
            .with_single_cert(identity.chain(), identity.private_key())
            .expect("a server certificate and key rustls accepts");
        finish_server_config(config)
    }

    /// A new rustls server config presenting [`Leaf::Good`] that requires
    /// a client certificate issued by the CA (verified by rustls'
    /// `WebPkiClientVerifier`); a client without one fails the handshake.
    ///
    /// Like every server config here it offers TLS 1.3 and 1.2, ALPN
    /// `http/1.1`, and session resumption both ways: its own ticketer
    /// (TLS 1.3 tickets, TLS 1.2 tickets) and a session cache (TLS 1.2
    /// session ids). Resumption works across connections to servers that
    /// share the returned `Arc`, not across separate calls.
    ///
    /// # Panics
    ///
    /// If rustls rejects the CA, certificate or key (a bug here).
    pub fn client_auth_server_config(&self) -> Arc<rustls::ServerConfig> {
        let verifier =
            WebPkiClientVerifier::builder_with_provider(Arc::new(self.ca_root_store()), provider())
                .build()
                .expect("a client verifier for the test CA");
        let config = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("ring supports the default protocol versions")
            .with_client_cert_verifier(verifier)
            .with_single_cert(self.good.chain(), self.good.private_key())
            .expect("a server certificate and key rustls accepts");
        finish_server_config(config)
    }

    /// A rustls client config that trusts only the CA, offers ALPN
    /// `http/1.1`, sends no client certificate, and keeps rustls' default
    /// in-memory session store (so reusing it resumes sessions).
    ///
    /// # Panics
    ///
    /// Never in practice.
    pub fn client_config(&self) -> Arc<rustls::ClientConfig> {
        let mut config = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("ring supports the default protocol versions")
            .with_root_certificates(self.ca_root_store())
            .with_no_client_auth();
        config.alpn_protocols = vec![ALPN_HTTP11.to_vec()];
        Arc::new(config)
    }

    /// Like [`TestPki::client_config`], but presenting the client
    /// certificate ([`TestPki::client_cert_pem`]).
    ///
    /// # Panics
    ///
    /// If rustls rejects the client certificate or key (a bug here).
    pub fn client_config_with_cert(&self) -> Arc<rustls::ClientConfig> {
        let mut config = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("ring supports the default protocol versions")
            .with_root_certificates(self.ca_root_store())
            .with_client_auth_cert(self.client.chain(), self.client.private_key())
            .expect("a client certificate and key rustls accepts");
        config.alpn_protocols = vec![ALPN_HTTP11.to_vec()];
        Arc::new(config)
    }

    fn identity(&self, leaf: Leaf) -> &Identity {
        match leaf {
            Leaf::Good => &self.good,
            Leaf::WrongName => &self.wrong_name,
            Leaf::Expired => &self.expired,
        }
    }
}

impl Default for TestPki {
    fn default() -> TestPki {
        TestPki::new()
    }
}

/// A rustls server config presenting the certificate chain in the PEM file
/// `cert` with the private key in the PEM file `key`: for certificates made
/// outside this crate (by the `openssl` CLI, say). It offers what every
/// server config here offers (see [`TestPki::client_auth_server_config`]).
///
/// # Panics
///
/// If a file cannot be read, holds no certificate or key, or rustls
/// rejects them.
pub fn server_config_from_pem(cert: &Path, key: &Path) -> Arc<rustls::ServerConfig> {
    use rustls::pki_types::pem::PemObject;
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .unwrap_or_else(|e| panic!("read {}: {e}", cert.display()));
    assert!(!chain.is_empty(), "no certificate in {}", cert.display());
    let key =
        PrivateKeyDer::from_pem_file(key).unwrap_or_else(|e| panic!("read {}: {e}", key.display()));
    let config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .expect("a server certificate and key rustls accepts");
    finish_server_config(config)
}

/// The *ring* crypto provider, explicitly (never the process default).
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Leaf parameters: common name `cn`, subject alternative names `sans`
/// (IP addresses recognised), one extended key usage.
fn leaf_params(cn: &str, sans: &[&str], usage: ExtendedKeyUsagePurpose) -> CertificateParams {
    let sans: Vec<String> = sans.iter().map(|&s| s.to_owned()).collect();
    let mut params = CertificateParams::new(sans).expect("valid subject alternative names");
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, cn);
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![usage];
    params.use_authority_key_identifier_extension = true;
    params
}

/// ALPN and resumption (session cache and tickets) on a server config.
fn finish_server_config(mut config: rustls::ServerConfig) -> Arc<rustls::ServerConfig> {
    config.alpn_protocols = vec![ALPN_HTTP11.to_vec()];
    config.session_storage = ServerSessionMemoryCache::new(SESSION_CACHE);
    config.ticketer = rustls::crypto::ring::Ticketer::new().expect("a ring session ticketer");
    Arc::new(config)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::{Reply, ServerConfig, TestServer, TlsCounts};
    use crate::wait_until;
    use rustls::pki_types::ServerName;
    use rustls::{CertificateError, ClientConnection, StreamOwned};
    use std::io::{self, Read, Write};
    use std::net::TcpStream;
    use std::time::{Duration, Instant};

    type Client = StreamOwned<ClientConnection, TcpStream>;

    /// Bound of every blocking client operation in these tests.
    const CLIENT_TIMEOUT: Duration = Duration::from_secs(5);

    fn tcp(server: &TestServer) -> TcpStream {
        let tcp = TcpStream::connect(server.addr()).expect("connect");
        tcp.set_read_timeout(Some(CLIENT_TIMEOUT)).unwrap();
        tcp.set_write_timeout(Some(CLIENT_TIMEOUT)).unwrap();
        tcp
    }

    /// The rustls error inside an I/O error from a TLS stream, if any.
    fn tls_error(e: &io::Error) -> Option<&rustls::Error> {
        e.get_ref()?.downcast_ref::<rustls::Error>()
    }

    /// Connects and completes the client side of the handshake,
    /// verifying the server as `name`.
    fn handshake(
        server: &TestServer,
        config: &Arc<rustls::ClientConfig>,
        name: &str,
    ) -> io::Result<Client> {
        let name = ServerName::try_from(name.to_owned()).expect("a server name");
        let conn = ClientConnection::new(Arc::clone(config), name).expect("a client connection");
        let mut stream = StreamOwned::new(conn, tcp(server));
        while stream.conn.is_handshaking() {
            stream.conn.complete_io(&mut stream.sock)?;
        }
        Ok(stream)
    }

    /// Sends `request` and reads until the server closes. The error, if
    /// any, comes with what was read before it.
    fn exchange(stream: &mut Client, request: &[u8]) -> (Vec<u8>, io::Result<usize>) {
        let mut got = Vec::new();
        let end = stream
            .write_all(request)
            .and_then(|()| stream.flush())
            .and_then(|()| stream.read_to_end(&mut got));
        (got, end)
    }

    const GET_CLOSE: &[u8] =
        b"GET /tls?x=1 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";

    const OK_CLOSE: &str = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n";

    fn counts(full: u64, resumed: u64, failed: u64) -> TlsCounts {
        TlsCounts {
            full,
            resumed,
            failed,
        }
    }

    #[test]
    fn pem_files_exist_and_are_removed_on_drop() {
        let pki = TestPki::new();
        let ca = std::fs::read_to_string(pki.ca_pem()).unwrap();
        assert!(ca.starts_with("-----BEGIN CERTIFICATE-----"), "{ca}");
        let cert = std::fs::read_to_string(pki.client_cert_pem()).unwrap();
        assert!(cert.starts_with("-----BEGIN CERTIFICATE-----"), "{cert}");
        let key = std::fs::read_to_string(pki.client_key_pem()).unwrap();
        assert!(key.starts_with("-----BEGIN PRIVATE KEY-----"), "{key}");
        for leaf in [Leaf::Good, Leaf::WrongName, Leaf::Expired] {
            assert!(pki.leaf_cert_pem(leaf).is_file());
            assert!(pki.leaf_key_pem(leaf).is_file());
        }
        // Fresh keys every time.
        let other = TestPki::new();
        assert_ne!(pki.ca_der(), other.ca_der());
        assert_ne!(pki.ca_pem(), other.ca_pem());
        let dir = pki.ca_pem().parent().unwrap().to_path_buf();
        drop(pki);
        assert!(!dir.exists(), "{} left behind", dir.display());
    }

    #[test]
    fn get_over_tls_is_answered_and_recorded() {
        let pki = TestPki::new();
        let server = TestServer::start_tls(ServerConfig::default(), pki.server_config(Leaf::Good));
        assert!(server.is_tls());
        let port = server.addr().port();
        assert_eq!(server.url("/a"), format!("https://127.0.0.1:{port}/a"));
        assert_eq!(
            server.url_with_host("localhost", "a"),
            format!("https://localhost:{port}/a")
        );

        let client = pki.client_config();
        let mut s = handshake(&server, &client, "localhost").expect("handshake");
        assert_eq!(s.conn.alpn_protocol(), Some(ALPN_HTTP11));
        // Keep-alive first, then a close that ends with close_notify.
        let keep = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n";
        s.write_all(b"POST /p HTTP/1.1\r\nHost: localhost\r\nContent-Length: 4\r\n\r\nbody")
            .unwrap();
        let mut first = vec![0; keep.len()];
        s.read_exact(&mut first).unwrap();
        assert_eq!(String::from_utf8(first).unwrap(), keep);
        let (got, end) = exchange(&mut s, GET_CLOSE);
        end.expect("a clean close (close_notify)");
        assert_eq!(String::from_utf8(got).unwrap(), OK_CLOSE);

        // The IP address SAN verifies too.
        let mut s = handshake(&server, &client, "127.0.0.1").expect("handshake by IP");
        let (got, end) = exchange(&mut s, GET_CLOSE);
        end.expect("a clean close");
        assert_eq!(String::from_utf8(got).unwrap(), OK_CLOSE);

        let got = server.received();
        let seen: Vec<_> = got
            .iter()
            .map(|r| (r.conn, r.seq_on_conn, &*r.method, &*r.target))
            .collect();
        assert_eq!(
            seen,
            [
                (0, 0, "POST", "/p"),
                (0, 1, "GET", "/tls?x=1"),
                (1, 0, "GET", "/tls?x=1")
            ]
        );
        assert_eq!(got[0].body, b"body");
        assert_eq!(got[1].header("host"), Some("localhost"));
        assert_eq!(server.requests(), 3);
        assert_eq!(server.connections(), 2);
        assert_eq!(server.bytes_body_sent(), 9);
        assert_eq!(server.tls_handshakes().failed, 0);
        assert_eq!(
            server.tls_handshakes().full + server.tls_handshakes().resumed,
            2
        );
    }

    #[test]
    fn wrong_name_and_expired_leaves_fail_verification() {
        let pki = TestPki::new();
        let client = pki.client_config();
        for (leaf, names) in [
            (Leaf::WrongName, ["localhost", "127.0.0.1"]),
            (Leaf::Expired, ["localhost", "127.0.0.1"]),
        ] {
            let server = TestServer::start_tls(ServerConfig::default(), pki.server_config(leaf));
            for name in names {
                let err = handshake(&server, &client, name)
                    .map(|_| ())
                    .expect_err("the client accepted a bad certificate");
                let tls = tls_error(&err).unwrap_or_else(|| panic!("{leaf:?} {name}: {err}"));
                let rustls::Error::InvalidCertificate(cert) = tls else {
                    panic!("{leaf:?} {name}: {tls:?}");
                };
                let expected = match leaf {
                    Leaf::WrongName => matches!(
                        cert,
                        CertificateError::NotValidForName
                            | CertificateError::NotValidForNameContext { .. }
                    ),
                    _ => matches!(
                        cert,
                        CertificateError::Expired | CertificateError::ExpiredContext { .. }
                    ),
                };
                assert!(expected, "{leaf:?} {name}: {cert:?}");
            }
            // The client's alert ends each handshake on the server too.
            assert!(
                wait_until(Duration::from_secs(5), || server.tls_handshakes()
                    == counts(0, 0, 2)),
                "{leaf:?}: {:?}",
                server.tls_handshakes()
            );
            assert_eq!(server.requests(), 0);
        }
        // The wrong-name leaf does verify for its own name.
        let server =
            TestServer::start_tls(ServerConfig::default(), pki.server_config(Leaf::WrongName));
        handshake(&server, &client, WRONG_NAME).expect("valid for wrong.example");
    }

    #[test]
    fn same_client_config_resumes_with_tls13_and_tls12() {
        let pki = TestPki::new();
        let tls12 = {
            let mut config = rustls::ClientConfig::builder_with_provider(provider())
                .with_protocol_versions(&[&rustls::version::TLS12])
                .unwrap()
                .with_root_certificates(pki.ca_root_store())
                .with_no_client_auth();
            config.alpn_protocols = vec![ALPN_HTTP11.to_vec()];
            Arc::new(config)
        };
        // The TLS 1.2 session id path only: no tickets offered.
        let tls12_ids = {
            let mut config = (*tls12).clone();
            config.resumption = rustls::client::Resumption::in_memory_sessions(16)
                .tls12_resumption(rustls::client::Tls12Resumption::SessionIdOnly);
            Arc::new(config)
        };
        let cases = [
            (pki.client_config(), rustls::ProtocolVersion::TLSv1_3),
            (tls12, rustls::ProtocolVersion::TLSv1_2),
            (tls12_ids, rustls::ProtocolVersion::TLSv1_2),
        ];
        for (client, version) in cases {
            let server =
                TestServer::start_tls(ServerConfig::default(), pki.server_config(Leaf::Good));
            for _ in 0..2 {
                let mut s = handshake(&server, &client, "localhost").expect("handshake");
                assert_eq!(s.conn.protocol_version(), Some(version));
                let (got, end) = exchange(&mut s, GET_CLOSE);
                end.expect("a clean close");
                assert_eq!(String::from_utf8(got).unwrap(), OK_CLOSE);
            }
            assert_eq!(server.tls_handshakes(), counts(1, 1, 0), "{version:?}");
            assert_eq!(server.requests(), 2);
        }
    }

    #[test]
    fn client_auth_requires_the_client_certificate() {
        let pki = TestPki::new();
        let server =
            TestServer::start_tls(ServerConfig::default(), pki.client_auth_server_config());

        // Without a certificate: with TLS 1.3 the client's side of the
        // handshake may finish, but the server's alert ends the exchange.
        let outcome = handshake(&server, &pki.client_config(), "localhost")
            .and_then(|mut s| {
                let (got, end) = exchange(&mut s, GET_CLOSE);
                assert!(got.is_empty(), "{}", String::from_utf8_lossy(&got));
                end
            })
            .expect_err("a client without a certificate got through");
        let tls = tls_error(&outcome).unwrap_or_else(|| panic!("{outcome}"));
        assert!(matches!(tls, rustls::Error::AlertReceived(_)), "{tls:?}");
        assert!(wait_until(Duration::from_secs(5), || server
            .tls_handshakes()
            .failed
            == 1));

        // With the client certificate.
        let mut s =
            handshake(&server, &pki.client_config_with_cert(), "localhost").expect("handshake");
        let (got, end) = exchange(&mut s, GET_CLOSE);
        end.expect("a clean close");
        assert_eq!(String::from_utf8(got).unwrap(), OK_CLOSE);
        assert_eq!(server.tls_handshakes(), counts(1, 0, 1));
        assert_eq!(server.requests(), 1);
    }

    #[test]
    fn plain_http_to_the_tls_port_gets_an_alert_not_http() {
        let pki = TestPki::new();
        let server = TestServer::start_tls(ServerConfig::default(), pki.server_config(Leaf::Good));
        let mut s = tcp(&server);
        s.write_all(GET_CLOSE).unwrap();
        let mut got = Vec::new();
        s.read_to_end(&mut got).expect("the server closes cleanly");
        // A TLS alert record (content type 21), not an HTTP reply.
        assert_eq!(got.first(), Some(&0x15), "{got:?}");
        assert!(!got.starts_with(b"HTTP/"));
        assert!(wait_until(Duration::from_secs(5), || server
            .tls_handshakes()
            == counts(0, 0, 1)));
        assert_eq!(server.requests(), 0);
        assert_eq!(server.connections(), 1);
    }

    #[test]
    fn until_close_body_with_and_without_close_notify() {
        let pki = TestPki::new();
        let reply = Reply::UntilClose {
            status: 200,
            body: b"no framing".to_vec(),
        };
        let want = "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nno framing";
        let get = b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
        for notify in [true, false] {
            let config = ServerConfig::new(reply.clone()).with_tls_close_notify(notify);
            let server = TestServer::start_tls(config, pki.server_config(Leaf::Good));
            let mut s = handshake(&server, &pki.client_config(), "localhost").expect("handshake");
            let (got, end) = exchange(&mut s, get);
            assert_eq!(String::from_utf8(got).unwrap(), want, "notify {notify}");
            if notify {
                end.expect("close_notify makes a clean end");
            } else {
                let err = end.expect_err("a truncated close looked clean");
                assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof, "{err}");
            }
        }
    }

    #[test]
    fn close_notify_with_the_reply_then_tcp_held_open() {
        let pki = TestPki::new();
        let reply = Reply::UntilClose {
            status: 200,
            body: b"held".to_vec(),
        };
        let config = ServerConfig::new(reply).with_tls_hold_after_notify(Duration::from_secs(10));
        let server = TestServer::start_tls(config, pki.server_config(Leaf::Good));
        let mut s = handshake(&server, &pki.client_config(), "localhost").expect("handshake");
        let (got, end) = exchange(&mut s, b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
        end.expect("close_notify makes a clean end");
        assert_eq!(
            String::from_utf8(got).unwrap(),
            "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nheld"
        );
        // Neither FIN nor any byte follows the alert while the client stays.
        s.sock
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let err = s
            .sock
            .read(&mut [0u8; 1])
            .expect_err("TCP was not held open");
        assert!(
            matches!(
                err.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ),
            "{err}"
        );
    }

    #[test]
    fn stalled_handshake_and_silent_tls_server_shut_down_promptly() {
        let pki = TestPki::new();
        let mut server = TestServer::start_tls(
            ServerConfig::new(Reply::Silent),
            pki.server_config(Leaf::Good),
        );
        // One connection never starts its handshake, one waits for a reply.
        let mut stalled = tcp(&server);
        let mut waiting = handshake(&server, &pki.client_config(), "localhost").expect("handshake");
        waiting.write_all(GET_CLOSE).unwrap();
        waiting.flush().unwrap();
        assert!(wait_until(Duration::from_secs(5), || server.requests() == 1));
        assert_eq!(server.tls_handshakes(), counts(1, 0, 0));

        let started = Instant::now();
        server.shutdown();
        assert!(started.elapsed() < Duration::from_millis(1500));
        // Both sockets see the server's close within the client timeout.
        let mut rest = Vec::new();
        assert!(stalled.read_to_end(&mut rest).is_ok());
        let mut rest = Vec::new();
        let end = waiting.read_to_end(&mut rest);
        assert!(rest.is_empty(), "{rest:?}");
        assert!(end.is_err(), "a shutdown is not a clean TLS close");
        assert!(wait_until(Duration::from_secs(5), || server
            .tls_handshakes()
            .failed
            == 1));
    }

    #[test]
    fn plain_server_counts_no_handshakes() {
        let server = TestServer::start(ServerConfig::default());
        assert!(!server.is_tls());
        assert!(server.url("/").starts_with("http://127.0.0.1:"));
        assert_eq!(server.tls_handshakes(), TlsCounts::default());
    }
}
