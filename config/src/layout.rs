//! The data-dir layout: every path k3rs keeps state in. Nothing else builds these paths, so every
//! per-node file follows `--data-dir` (several agents can share a machine in tests).

use std::path::{Path, PathBuf};

/// `--data-dir` when not given: K3s's, with `k3s` renamed.
pub fn default_data_dir(is_root: bool, home: Option<&Path>) -> PathBuf {
    if is_root {
        PathBuf::from("/var/lib/rancher/k3rs")
    } else {
        home.unwrap_or(Path::new(".")).join(".rancher/k3rs")
    }
}

/// A data directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        DataDir { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn server_dir(&self) -> PathBuf {
        self.root.join("server")
    }

    /// Embedded datastores (`sled/`, `state.db`).
    pub fn db_dir(&self) -> PathBuf {
        self.server_dir().join("db")
    }

    /// CAs, serving and client certificates.
    pub fn tls_dir(&self) -> PathBuf {
        self.server_dir().join("tls")
    }

    pub fn cred_dir(&self) -> PathBuf {
        self.server_dir().join("cred")
    }

    /// The full join token.
    pub fn token_file(&self) -> PathBuf {
        self.server_dir().join("token")
    }

    /// A link to `token`, kept for compatibility as K3s keeps it.
    pub fn node_token_file(&self) -> PathBuf {
        self.server_dir().join("node-token")
    }

    pub fn manifests_dir(&self) -> PathBuf {
        self.server_dir().join("manifests")
    }

    pub fn agent_dir(&self) -> PathBuf {
        self.root.join("agent")
    }

    pub fn agent_etc_dir(&self) -> PathBuf {
        self.agent_dir().join("etc")
    }

    /// Air-gap image tarballs imported at start.
    pub fn images_dir(&self) -> PathBuf {
        self.agent_dir().join("images")
    }

    /// The image store: unpacked layers and the image index.
    pub fn image_store_dir(&self) -> PathBuf {
        self.agent_dir().join("image-store")
    }

    pub fn logs_dir(&self) -> PathBuf {
        self.agent_dir().join("logs")
    }

    /// The node password: `/etc/rancher/node/password` as root, under the data dir otherwise.
    pub fn node_password_file(&self, is_root: bool) -> PathBuf {
        if is_root {
            PathBuf::from("/etc/rancher/node/password")
        } else {
            self.agent_etc_dir().join("rancher/node/password")
        }
    }

    /// The client load balancer's persisted server list, `<service>.json`.
    pub fn lb_state_file(&self, service: &str) -> PathBuf {
        self.agent_etc_dir().join(format!("{service}.json"))
    }

    /// Where the admin kubeconfig goes unless `--write-kubeconfig` says otherwise.
    pub fn default_kubeconfig(&self, is_root: bool) -> PathBuf {
        if is_root {
            PathBuf::from("/etc/rancher/k3rs/k3rs.yaml")
        } else {
            self.cred_dir().join("admin.kubeconfig")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_follow_the_data_dir() {
        let d = DataDir::new("/data");
        assert_eq!(d.db_dir(), Path::new("/data/server/db"));
        assert_eq!(d.token_file(), Path::new("/data/server/token"));
        assert_eq!(d.tls_dir(), Path::new("/data/server/tls"));
        assert_eq!(d.node_password_file(false), Path::new("/data/agent/etc/rancher/node/password"));
        assert_eq!(d.node_password_file(true), Path::new("/etc/rancher/node/password"));
        assert_eq!(
            d.lb_state_file("k3rs-agent-load-balancer"),
            Path::new("/data/agent/etc/k3rs-agent-load-balancer.json")
        );
        assert_eq!(d.default_kubeconfig(false), Path::new("/data/server/cred/admin.kubeconfig"));
        assert_eq!(d.default_kubeconfig(true), Path::new("/etc/rancher/k3rs/k3rs.yaml"));
    }

    #[test]
    fn the_default_data_dir_depends_on_root() {
        assert_eq!(default_data_dir(true, None), Path::new("/var/lib/rancher/k3rs"));
        assert_eq!(
            default_data_dir(false, Some(Path::new("/home/u"))),
            Path::new("/home/u/.rancher/k3rs")
        );
    }
}
