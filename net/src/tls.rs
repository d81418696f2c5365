//! rustls configurations: the API server's (its serving certificate; client certificates
//! requested but optional, verified against the client CA) and, for agents and tests, a client's.

use std::sync::Arc;

use rustls::RootCertStore;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;

/// Why a TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {what} PEM")]
    Pem {
        what: &'static str,
        #[source]
        source: rustls::pki_types::pem::Error,
    },
    #[error("no certificate in {what} PEM")]
    Empty { what: &'static str },
    #[error("invalid TLS configuration")]
    Rustls(#[from] rustls::Error),
    #[error("invalid client CA")]
    Verifier(#[from] rustls::server::VerifierBuilderError),
}

pub type Result<T, E = TlsError> = std::result::Result<T, E>;

fn certs(pem: &str, what: &'static str) -> Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|source| TlsError::Pem { what, source })?;
    if certs.is_empty() {
        return Err(TlsError::Empty { what });
    }
    Ok(certs)
}

fn key(pem: &str, what: &'static str) -> Result<PrivateKeyDer<'static>> {
    PrivateKeyDer::from_pem_slice(pem.as_bytes()).map_err(|source| TlsError::Pem { what, source })
}

fn roots(ca_pem: &str, what: &'static str) -> Result<RootCertStore> {
    let mut roots = RootCertStore::empty();
    for cert in certs(ca_pem, what)? {
        roots.add(cert)?;
    }
    Ok(roots)
}

/// The API server's TLS: HTTP/1.1, client certificates optional (token users connect without).
pub fn server_config(
    cert_pem: &str,
    key_pem: &str,
    client_ca_pem: &str,
) -> Result<rustls::ServerConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots(client_ca_pem, "client CA")?),
        provider.clone(),
    )
    .allow_unauthenticated()
    .build()?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs(cert_pem, "serving certificate")?, key(key_pem, "serving key")?)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// A client's TLS trusting only `ca_pem`, with an optional client certificate.
pub fn client_config(ca_pem: &str, identity: Option<(&str, &str)>) -> Result<rustls::ClientConfig> {
    client_with_roots(roots(ca_pem, "server CA")?, identity)
}

/// A client's TLS for an outside service (a registry): the certificates of `cas_pem` that
/// parse (a system bundle may hold some that do not), possibly none, and an optional client
/// certificate.
pub fn public_client_config(
    cas_pem: &str,
    identity: Option<(&str, &str)>,
) -> Result<rustls::ClientConfig> {
    let mut roots = RootCertStore::empty();
    let parsed = CertificateDer::pem_slice_iter(cas_pem.as_bytes()).filter_map(|c| c.ok());
    roots.add_parsable_certificates(parsed);
    client_with_roots(roots, identity)
}

fn client_with_roots(
    roots: RootCertStore,
    identity: Option<(&str, &str)>,
) -> Result<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots);
    let mut config = match identity {
        Some((cert_pem, key_pem)) => builder.with_client_auth_cert(
            certs(cert_pem, "client certificate")?,
            key(key_pem, "client key")?,
        )?,
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// A client's TLS that accepts any server certificate. Only for what K3s fetches before it
/// trusts anything: `/cacerts`, whose hash the join token then pins.
pub fn unverified_client_config() -> Result<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = Arc::new(AnyServer(provider.clone()));
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// Accepts any certificate; handshake signatures are still checked.
#[derive(Debug)]
struct AnyServer(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyServer {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> std::result::Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::pki::{CertificateAuthority, LeafSpec};

    #[test]
    fn configs_build_from_issued_certificates_and_bad_pem_is_an_error() {
        let server_ca = CertificateAuthority::generate("s").unwrap();
        let client_ca = CertificateAuthority::generate("c").unwrap();
        let serving =
            server_ca.issue(&LeafSpec::server("kube-apiserver", &["127.0.0.1".into()])).unwrap();
        let admin =
            client_ca.issue(&LeafSpec::client("system:admin", &["system:masters"])).unwrap();
        server_config(&serving.cert_pem, &serving.key_pem, client_ca.cert_pem()).unwrap();
        client_config(server_ca.cert_pem(), Some((&admin.cert_pem, &admin.key_pem))).unwrap();
        client_config(server_ca.cert_pem(), None).unwrap();
        assert!(matches!(
            server_config("junk", &serving.key_pem, client_ca.cert_pem()),
            Err(TlsError::Empty { .. })
        ));
    }
}
