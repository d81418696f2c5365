//! Who is calling: a user and groups, from a verified client certificate (CN is the user, O the
//! groups, as Kubernetes reads them) or anonymous.

use x509_parser::prelude::{FromDer, X509Certificate};

pub const GROUP_MASTERS: &str = "system:masters";
pub const GROUP_AUTHENTICATED: &str = "system:authenticated";
pub const GROUP_UNAUTHENTICATED: &str = "system:unauthenticated";
pub const USER_ANONYMOUS: &str = "system:anonymous";

/// An authenticated (or anonymous) caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub user: String,
    pub groups: Vec<String>,
}

impl Identity {
    pub fn anonymous() -> Self {
        Identity { user: USER_ANONYMOUS.into(), groups: vec![GROUP_UNAUTHENTICATED.into()] }
    }

    /// The identity in a client certificate that TLS has already verified against the client
    /// CA. `None` if the certificate has no common name.
    pub fn from_certificate(der: &[u8]) -> Option<Self> {
        let (_, cert) = X509Certificate::from_der(der).ok()?;
        let subject = cert.subject();
        let user = subject.iter_common_name().next()?.as_str().ok()?.to_owned();
        let mut groups: Vec<String> = subject
            .iter_organization()
            .filter_map(|o| o.as_str().ok().map(str::to_owned))
            .collect();
        groups.push(GROUP_AUTHENTICATED.into());
        Some(Identity { user, groups })
    }

    pub fn is_anonymous(&self) -> bool {
        self.user == USER_ANONYMOUS
    }

    pub fn in_group(&self, group: &str) -> bool {
        self.groups.iter().any(|g| g == group)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use k3rs_net::pki::{CertificateAuthority, LeafSpec};

    use super::*;

    fn der(pem: &str) -> Vec<u8> {
        let (_, p) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).unwrap();
        p.contents
    }

    #[test]
    fn common_name_is_the_user_and_organizations_the_groups() {
        let ca = CertificateAuthority::generate("ca").unwrap();
        let cert = ca.issue(&LeafSpec::client("system:admin", &["system:masters"])).unwrap();
        let id = Identity::from_certificate(&der(&cert.cert_pem)).unwrap();
        assert_eq!(id.user, "system:admin");
        assert!(id.in_group(GROUP_MASTERS));
        assert!(id.in_group(GROUP_AUTHENTICATED));
        assert!(!id.is_anonymous());
        assert!(Identity::anonymous().is_anonymous());
        assert_eq!(Identity::from_certificate(b"junk"), None);
    }
}
