//! k3rs-agent: the node agent's logic, as plain code the agent actor drives.
//!
//! Owns: the node's identity files (`identity`), what the host reports (`host`), the Node and
//! Lease objects (`node`), joining a server by the supervisor protocol (`join`: CA pinning,
//! node password, kubelet certificates) and the HTTPS client it and the API calls use
//! (`client`, `kube`).
//! Does not: run timers or retry loops (the agent actor does), or decide anything on the
//! server side.

pub mod client;
pub mod flannel;
pub mod host;
pub mod identity;
pub mod join;
pub mod kube;
pub mod logs;
pub mod node;
pub mod oci;
pub mod podnet;
pub mod podstatus;
pub mod policy;
pub mod probe;
pub mod proxy;
pub mod pull;
pub mod runtime;
pub mod sandbox;
pub mod stats;
pub mod volumes;

use std::path::PathBuf;

/// Why the agent could not do something.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("invalid node name {0:?}: must be a lowercase RFC 1123 subdomain")]
    NodeName(String),
    #[error("{0}")]
    Flag(String),
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("no randomness: {0}")]
    Random(String),
    #[error(transparent)]
    Token(#[from] k3rs_net::token::TokenError),
    #[error(transparent)]
    Tls(#[from] k3rs_net::tls::TlsError),
    #[error(transparent)]
    Pki(#[from] k3rs_net::pki::PkiError),
    /// The server could not be reached or answered nonsense: retried.
    #[error("{0}")]
    Transport(String),
    /// The token's credentials were refused (401): not retried.
    #[error("the server at {server} refused the token: 401 Unauthorized")]
    Unauthorized { server: String },
    /// The node password does not match the server's record (403): retried, as K3s does.
    #[error(
        "Node password rejected, duplicate hostname or contents of '{}' may not match server node-passwd entry, try enabling a unique node name with the --with-node-id flag",
        .0.display()
    )]
    PasswordRejected(PathBuf),
    /// The container runtime or the node's plumbing (mounts, namespaces) failed.
    #[error("{0}")]
    Runtime(String),
    /// Any other answer the agent cannot use.
    #[error("{what}: {code} {message}")]
    Status { what: String, code: u16, message: String },
}

impl AgentError {
    /// Is trying again later sensible? (Not for a wrong token or CA.)
    pub fn retryable(&self) -> bool {
        !matches!(
            self,
            AgentError::Unauthorized { .. }
                | AgentError::Token(_)
                | AgentError::NodeName(_)
                | AgentError::Flag(_)
        )
    }
}
