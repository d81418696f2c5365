//! Certificate authorities and the certificates they issue (ECDSA P-256, via rcgen). CAs live
//! ten years and leaves one year, as in K3s.

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use time::{Duration, OffsetDateTime};

/// Why a certificate could not be made or read.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("cannot {action}")]
    Rcgen {
        action: &'static str,
        #[source]
        source: rcgen::Error,
    },
    #[error("{path}")]
    Io {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
}

pub type Result<T, E = PkiError> = std::result::Result<T, E>;

const CA_DAYS: i64 = 3650;
/// Validity of issued certificates.
pub const LEAF_DAYS: i64 = 365;

fn rc(action: &'static str) -> impl FnOnce(rcgen::Error) -> PkiError {
    move |source| PkiError::Rcgen { action, source }
}

/// What an issued certificate is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Usage {
    Server,
    Client,
}

/// A certificate to issue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeafSpec {
    pub common_name: String,
    /// Subject organizations (Kubernetes groups for client certificates).
    pub organizations: Vec<String>,
    /// DNS names and IP addresses, as text.
    pub sans: Vec<String>,
    pub usage: Usage,
}

impl LeafSpec {
    /// A client certificate: `common_name` is the user, `groups` its organizations.
    pub fn client(common_name: &str, groups: &[&str]) -> Self {
        LeafSpec {
            common_name: common_name.to_owned(),
            organizations: groups.iter().map(|g| (*g).to_owned()).collect(),
            sans: Vec::new(),
            usage: Usage::Client,
        }
    }

    /// A serving certificate for `sans` (DNS names and IP addresses).
    pub fn server(common_name: &str, sans: &[String]) -> Self {
        LeafSpec {
            common_name: common_name.to_owned(),
            organizations: Vec::new(),
            sans: sans.to_vec(),
            usage: Usage::Server,
        }
    }
}

/// An issued certificate and its private key, in PEM.
#[derive(Clone, PartialEq, Eq)]
pub struct Issued {
    pub cert_pem: String,
    pub key_pem: String,
}

impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issued").field("cert_pem", &self.cert_pem).finish_non_exhaustive()
    }
}

/// A certificate authority that can sign.
pub struct CertificateAuthority {
    cert_pem: String,
    key_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl std::fmt::Debug for CertificateAuthority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertificateAuthority")
            .field("cert_pem", &self.cert_pem)
            .finish_non_exhaustive()
    }
}

impl CertificateAuthority {
    /// A new self-signed CA named `common_name`.
    pub fn generate(common_name: &str) -> Result<Self> {
        let key = KeyPair::generate().map_err(rc("generate a CA key"))?;
        let mut params = CertificateParams::default();
        params.distinguished_name = name(common_name, &[]);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let now = OffsetDateTime::now_utc();
        params.not_before = now - Duration::hours(1);
        params.not_after = now + Duration::days(CA_DAYS);
        let cert = params.self_signed(&key).map_err(rc("self-sign a CA"))?;
        let cert_pem = cert.pem();
        let key_pem = key.serialize_pem();
        Ok(CertificateAuthority { cert_pem, key_pem, issuer: Issuer::new(params, key) })
    }

    /// A CA from its certificate and key.
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<Self> {
        let key = KeyPair::from_pem(key_pem).map_err(rc("read a CA key"))?;
        let issuer =
            Issuer::from_ca_cert_pem(cert_pem, key).map_err(rc("read a CA certificate"))?;
        Ok(CertificateAuthority {
            cert_pem: cert_pem.to_owned(),
            key_pem: key_pem.to_owned(),
            issuer,
        })
    }

    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    pub fn key_pem(&self) -> &str {
        &self.key_pem
    }

    /// Issue a certificate with a new key.
    pub fn issue(&self, spec: &LeafSpec) -> Result<Issued> {
        let key = KeyPair::generate().map_err(rc("generate a key"))?;
        let cert =
            leaf_params(spec)?.signed_by(&key, &self.issuer).map_err(rc("sign a certificate"))?;
        Ok(Issued { cert_pem: cert.pem(), key_pem: key.serialize_pem() })
    }

    /// Sign the public key of a PEM certificate signing request as `spec` says: the request's
    /// own subject and names are ignored (the server decides who the holder is). Returns the
    /// certificate followed by this CA's, as K3s answers certificate requests.
    pub fn sign_request(&self, csr_pem: &str, spec: &LeafSpec) -> Result<String> {
        let mut csr = rcgen::CertificateSigningRequestParams::from_pem(csr_pem)
            .map_err(rc("read the certificate signing request"))?;
        csr.params = leaf_params(spec)?;
        let cert = csr.signed_by(&self.issuer).map_err(rc("sign a certificate request"))?;
        Ok(format!("{}{}", cert.pem(), self.cert_pem))
    }
}

/// A key and a certificate signing request for `common_name`, in PEM: what an agent sends.
pub fn certificate_request(common_name: &str) -> Result<(String, String)> {
    let key = KeyPair::generate().map_err(rc("generate a key"))?;
    let mut params = CertificateParams::default();
    params.distinguished_name = name(common_name, &[]);
    let csr = params.serialize_request(&key).map_err(rc("make a certificate request"))?;
    let pem = csr.pem().map_err(rc("encode a certificate request"))?;
    Ok((pem, key.serialize_pem()))
}

fn leaf_params(spec: &LeafSpec) -> Result<CertificateParams> {
    let mut params = CertificateParams::new(spec.sans.clone()).map_err(rc("use these names"))?;
    params.distinguished_name = name(&spec.common_name, &spec.organizations);
    params.use_authority_key_identifier_extension = true;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    params.extended_key_usages = vec![match spec.usage {
        Usage::Server => ExtendedKeyUsagePurpose::ServerAuth,
        Usage::Client => ExtendedKeyUsagePurpose::ClientAuth,
    }];
    let now = OffsetDateTime::now_utc();
    params.not_before = now - Duration::hours(1);
    params.not_after = now + Duration::days(LEAF_DAYS);
    Ok(params)
}

fn name(common_name: &str, organizations: &[String]) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    for org in organizations {
        dn.push(DnType::OrganizationName, org.as_str());
    }
    dn.push(DnType::CommonName, common_name);
    dn
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use x509_parser::prelude::*;

    use super::*;

    fn parse(pem: &str) -> Vec<u8> {
        let (_, p) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).unwrap();
        p.contents
    }

    #[test]
    fn requests_are_signed_for_the_name_the_ca_chooses() {
        let ca = CertificateAuthority::generate("k3rs-client-ca").unwrap();
        let (csr, _key) = certificate_request("whoever").unwrap();
        let spec = LeafSpec::client("system:node:a", &["system:nodes"]);
        let chain = ca.sign_request(&csr, &spec).unwrap();
        assert!(chain.ends_with(ca.cert_pem()));
        let der = parse(&chain);
        let (_, cert) = X509Certificate::from_der(&der).unwrap();
        let cn: Vec<_> = cert.subject().iter_common_name().map(|a| a.as_str().unwrap()).collect();
        assert_eq!(cn, ["system:node:a"]);
        assert!(ca.sign_request("garbage", &spec).is_err());
    }

    #[test]
    fn a_ca_issues_client_certificates_with_groups() {
        let ca = CertificateAuthority::generate("k3rs-client-ca").unwrap();
        let admin = ca.issue(&LeafSpec::client("system:admin", &["system:masters"])).unwrap();
        let der = parse(&admin.cert_pem);
        let (_, cert) = X509Certificate::from_der(&der).unwrap();
        let cn: Vec<_> = cert.subject().iter_common_name().map(|a| a.as_str().unwrap()).collect();
        let orgs: Vec<_> =
            cert.subject().iter_organization().map(|a| a.as_str().unwrap()).collect();
        assert_eq!(cn, ["system:admin"]);
        assert_eq!(orgs, ["system:masters"]);
        let ca_der = parse(ca.cert_pem());
        let (_, ca_cert) = X509Certificate::from_der(&ca_der).unwrap();
        assert_eq!(cert.issuer(), ca_cert.subject());
        cert.verify_signature(Some(ca_cert.public_key())).unwrap();
        let days = (cert.validity().not_after.timestamp() - cert.validity().not_before.timestamp())
            / 86400;
        assert_eq!(days, LEAF_DAYS);
    }

    #[test]
    fn a_reloaded_ca_signs_certificates_that_verify_against_the_original() {
        let ca = CertificateAuthority::generate("k3rs-server-ca").unwrap();
        let again = CertificateAuthority::from_pem(ca.cert_pem(), ca.key_pem()).unwrap();
        let serving = again
            .issue(&LeafSpec::server(
                "kube-apiserver",
                &["127.0.0.1".into(), "localhost".into(), "kubernetes.default.svc".into()],
            ))
            .unwrap();
        let der = parse(&serving.cert_pem);
        let (_, cert) = X509Certificate::from_der(&der).unwrap();
        let ca_der = parse(ca.cert_pem());
        let (_, ca_cert) = X509Certificate::from_der(&ca_der).unwrap();
        cert.verify_signature(Some(ca_cert.public_key())).unwrap();
        let san = cert.subject_alternative_name().unwrap().unwrap();
        let names: Vec<String> = san.value.general_names.iter().map(|n| format!("{n}")).collect();
        assert!(names.iter().any(|n| n.contains("localhost")), "{names:?}");
        assert!(names.iter().any(|n| n.contains("7f:00:00:01")), "{names:?}");
    }

    #[test]
    fn bad_pem_is_an_error_not_a_panic() {
        assert!(CertificateAuthority::from_pem("nope", "nope").is_err());
    }
}
