//! `--cacert` certificates pinned: a server that presents exactly one of them (the same
//! DER bytes) as its own certificate is accepted even where webpki's path building
//! refuses it, as curl and OpenSSL accept it.
//!
//! The case this is for: a self-signed certificate made by `openssl req -x509`, which
//! by default marks itself a CA (basicConstraints `CA:TRUE`). Given with `--cacert`,
//! webpki takes it as a trust anchor but refuses it as the server's own certificate
//! (`CaUsedAsEndEntity`: a CA is no leaf), so every request would fail although the
//! user vouched for this very certificate.
//!
//! A pinned certificate is still checked for what does not depend on a chain: it must
//! hold the name connected to (its subjectAltName DNS names and IP addresses), and now
//! must lie between its notBefore and notAfter. The server must still prove that it
//! holds the certificate's key: rustls checks the handshake signature with
//! [`ServerCertVerifier::verify_tls13_signature`] (or the TLS 1.2 one) whatever
//! `verify_server_cert` said. Any other certificate goes through webpki alone, with its
//! error unchanged (`cert-ca-used-as-leaf` for a CA certificate that was not given).

use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{WebPkiServerVerifier, verify_server_name};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};

/// webpki's verifier, with the `--cacert` certificates also accepted as pinned server
/// certificates (see the [module docs](self)).
#[derive(Debug)]
pub(super) struct PinningVerifier {
    webpki: Arc<WebPkiServerVerifier>,
    pinned: Vec<CertificateDer<'static>>,
}

impl PinningVerifier {
    /// `webpki` verifies every certificate first; `pinned` (the `--cacert` certificates)
    /// are accepted after that as they are.
    pub(super) fn new(
        webpki: Arc<WebPkiServerVerifier>,
        pinned: Vec<CertificateDer<'static>>,
    ) -> Self {
        PinningVerifier { webpki, pinned }
    }

    fn is_pinned(&self, cert: &CertificateDer<'_>) -> bool {
        self.pinned.iter().any(|p| p.as_ref() == cert.as_ref())
    }
}

impl ServerCertVerifier for PinningVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.webpki.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Ok(verified) => Ok(verified),
            // The chain does not matter for a certificate the user gave: its own error
            // (a CA used as a leaf, mostly) is replaced by the pinned checks' verdict.
            Err(_) if self.is_pinned(end_entity) => verify_pinned(end_entity, server_name, now),
            Err(e) => Err(e),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

/// The checks of a pinned certificate: valid at `now`, and for `name`. Errors are the
/// ones webpki gives for the same faults, so they get the same details.
fn verify_pinned(
    cert: &CertificateDer<'_>,
    name: &ServerName<'_>,
    now: UnixTime,
) -> Result<ServerCertVerified, rustls::Error> {
    let (not_before, not_after) = validity(cert).ok_or(CertificateError::BadEncoding)?;
    let at = |secs| UnixTime::since_unix_epoch(Duration::from_secs(secs));
    // As webpki: valid from notBefore through notAfter, both included.
    if now.as_secs() < not_before {
        return Err(CertificateError::NotValidYetContext {
            time: now,
            not_before: at(not_before),
        }
        .into());
    }
    if now.as_secs() > not_after {
        return Err(CertificateError::ExpiredContext {
            time: now,
            not_after: at(not_after),
        }
        .into());
    }
    verify_server_name(&ParsedCertificate::try_from(cert)?, name)?;
    Ok(ServerCertVerified::assertion())
}

/// notBefore and notAfter of a DER certificate (RFC 5280 §4.1), in seconds since the
/// Unix epoch (a time before 1970 as 0), read with `x509-parser`. `None` when the bytes
/// are not a certificate. webpki checks the same field but does not expose it.
pub(super) fn validity(cert: &[u8]) -> Option<(u64, u64)> {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert).ok()?;
    let v = parsed.validity();
    let secs = |t: &x509_parser::time::ASN1Time| u64::try_from(t.timestamp()).unwrap_or(0);
    Some((secs(&v.not_before), secs(&v.not_after)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::TlsFailure;
    use proptest::prelude::*;
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    use rustls::RootCertStore;

    /// A self-signed certificate for `localhost` and 127.0.0.1 valid through 2019-2059,
    /// a CA (`CA:TRUE`) as `openssl req -x509` makes them.
    fn self_signed_ca(not_after_year: i32) -> CertificateDer<'static> {
        let mut params =
            CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.not_before = rcgen::date_time_ymd(2019, 1, 2);
        params.not_after = rcgen::date_time_ymd(not_after_year, 3, 4);
        let key = KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().der().clone()
    }

    fn verifier(pinned: &[CertificateDer<'static>]) -> PinningVerifier {
        let mut roots = RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        for c in pinned {
            roots.add(c.clone()).unwrap();
        }
        let webpki = WebPkiServerVerifier::builder_with_provider(
            Arc::new(roots),
            Arc::new(rustls::crypto::ring::default_provider()),
        )
        .build()
        .unwrap();
        PinningVerifier::new(webpki, pinned.to_vec())
    }

    /// Seconds since the epoch of a date (H. Hinnant's `days_from_civil`), for the tests'
    /// expectations.
    fn secs(year: i64, month: i64, day: i64) -> u64 {
        let y = if month <= 2 { year - 1 } else { year };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let mp = (month + 9) % 12;
        let doy = (153 * mp + 2) / 5 + day - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        u64::try_from((era * 146_097 + doe - 719_468) * 86_400).unwrap()
    }

    fn at(secs: u64) -> UnixTime {
        UnixTime::since_unix_epoch(Duration::from_secs(secs))
    }

    fn check(
        v: &PinningVerifier,
        cert: &CertificateDer<'_>,
        name: &str,
        now: u64,
    ) -> Result<(), &'static str> {
        let name = ServerName::try_from(name.to_string()).unwrap();
        v.verify_server_cert(cert, &[], &name, &[], at(now))
            .map(|_| ())
            .map_err(|e| TlsFailure::detail_of(&e))
    }

    #[test]
    fn dates_are_read_in_both_time_forms() {
        assert_eq!(secs(1970, 1, 1), 0);
        assert_eq!(secs(2000, 3, 1), 951_868_800);
        // Before 2050 notAfter is a UTCTime, from 2050 on a GeneralizedTime.
        for year in [2049, 2059] {
            let cert = self_signed_ca(year);
            assert_eq!(
                validity(&cert),
                Some((secs(2019, 1, 2), secs(i64::from(year), 3, 4))),
                "{year}"
            );
        }
    }

    #[test]
    fn a_pinned_ca_certificate_is_checked_for_dates_and_name() {
        let pinned = self_signed_ca(2059);
        let other = self_signed_ca(2059);
        let v = verifier(std::slice::from_ref(&pinned));
        let now = secs(2030, 6, 1);
        assert_eq!(check(&v, &pinned, "localhost", now), Ok(()));
        assert_eq!(check(&v, &pinned, "127.0.0.1", now), Ok(()));
        assert_eq!(
            check(&v, &pinned, "other.example", now),
            Err("cert-wrong-name")
        );
        assert_eq!(check(&v, &pinned, "127.0.0.2", now), Err("cert-wrong-name"));
        assert_eq!(
            check(&v, &pinned, "localhost", secs(2060, 1, 1)),
            Err("cert-expired")
        );
        assert_eq!(
            check(&v, &pinned, "localhost", secs(2019, 1, 1)),
            Err("cert-not-yet-valid")
        );
        // Both ends are inside.
        assert_eq!(check(&v, &pinned, "localhost", secs(2019, 1, 2)), Ok(()));
        assert_eq!(check(&v, &pinned, "localhost", secs(2059, 3, 4)), Ok(()));
        // Another CA certificate, not given: webpki's verdict stands.
        assert_eq!(
            check(&v, &other, "localhost", now),
            Err("cert-ca-used-as-leaf")
        );
        let none = verifier(&[]);
        assert_eq!(
            check(&none, &pinned, "localhost", now),
            Err("cert-ca-used-as-leaf")
        );
    }

    #[test]
    fn cut_or_bent_certificates_are_refused_without_panic() {
        let cert = self_signed_ca(2049);
        for n in 0..cert.len() {
            let _ = validity(&cert[..n]);
        }
        assert_eq!(validity(&cert[..100]), None);
        let mut bad_month = cert.to_vec();
        let at = bad_month
            .windows(13)
            .position(|w| w == b"190102000000Z")
            .expect("notBefore as a UTCTime");
        bad_month[at + 2] = b'1';
        bad_month[at + 3] = b'3';
        assert_eq!(validity(&bad_month), None);
        let v = verifier(&[CertificateDer::from(bad_month.clone())]);
        assert_eq!(
            check(
                &v,
                &CertificateDer::from(bad_month),
                "localhost",
                secs(2030, 1, 1)
            ),
            Err("cert-invalid")
        );
    }

    proptest! {
        #[test]
        fn any_bytes_read_without_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = validity(&bytes);
        }

        #[test]
        fn a_der_header_then_any_bytes(tail in proptest::collection::vec(any::<u8>(), 0..200)) {
            let mut b = vec![0x30, 0x84, 0xff, 0xff, 0xff, 0xff];
            b.extend(&tail);
            prop_assert_eq!(validity(&b), None);
            let mut b = vec![0x30, 0x81, 0x20, 0x30, 0x1e];
            b.extend(&tail);
            let _ = validity(&b);
        }
    }
}
