//! Pulling from registries, as plain logic: which endpoints to try for an image
//! (`registries.yaml` mirrors, rewrites and the default endpoint: `config`), what a reference
//! names (`Reference`), how a registry asks for credentials and how they are answered
//! (`auth`), and how a pulled manifest becomes an OCI layout the store imports (`manifest`).
//! The transport (HTTP, TLS) is the caller's.

pub mod auth;
pub mod config;
pub mod manifest;

pub use config::{Endpoint, Registries};

/// An image reference split as the distribution API needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// The registry host as named (`docker.io`, `registry.local:5000`).
    pub registry: String,
    /// The repository (`library/busybox`).
    pub repository: String,
    /// The tag, or the digest (`sha256:...`) when the reference has one.
    pub reference: String,
    /// The full, normalised name (`docker.io/library/busybox:1.36`).
    pub full: String,
}

impl Reference {
    /// Split `name` (normalised first, as the store names images).
    pub fn parse(name: &str) -> Reference {
        let full = crate::reference::normalize(name);
        let (host, rest) = full.split_once('/').unwrap_or(("docker.io", &full));
        let (path, reference) = match rest.split_once('@') {
            Some((path, digest)) => {
                // A tag before a digest (`repo:tag@sha256:...`) is ignored, as containerd does.
                let path = match path.rsplit_once(':') {
                    Some((p, tag)) if !tag.contains('/') => p,
                    _ => path,
                };
                (path, digest)
            }
            None => rest.rsplit_once(':').unwrap_or((rest, "latest")),
        };
        Reference {
            registry: host.to_owned(),
            repository: path.to_owned(),
            reference: reference.to_owned(),
            full: full.clone(),
        }
    }

    /// Whether the reference is a digest.
    pub fn is_digest(&self) -> bool {
        self.reference.starts_with("sha256:")
    }

    /// The name of the image by its manifest digest: `docker.io/library/busybox@sha256:...`.
    pub fn by_digest(&self, digest: &str) -> String {
        format!("{}/{}@{}", self.registry, self.repository, digest)
    }
}

/// Why a pull failed: the kind of failure (as containerd's CRI reports it) and the message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct PullError {
    pub not_found: bool,
    pub message: String,
}

impl PullError {
    /// The text the kubelet shows: the CRI status code, then containerd's words.
    pub fn kubelet_text(&self) -> String {
        let code = if self.not_found { "NotFound" } else { "Unknown" };
        format!("rpc error: code = {code} desc = {}", self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_split_into_host_repository_and_tag_or_digest() {
        let r = Reference::parse("busybox");
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str(), r.reference.as_str()),
            ("docker.io", "library/busybox", "latest")
        );
        let r = Reference::parse("127.0.0.1:5000/team/app:1.2");
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str(), r.reference.as_str()),
            ("127.0.0.1:5000", "team/app", "1.2")
        );
        let digest = format!("sha256:{}", "a".repeat(64));
        let r = Reference::parse(&format!("registry.local:5000/app:9@{digest}"));
        assert_eq!(r.repository, "app");
        assert_eq!(r.reference, digest);
        assert!(r.is_digest());
        assert_eq!(r.by_digest("sha256:b"), "registry.local:5000/app@sha256:b");
    }
}
