//! The load balancer's persisted server list, `<data-dir>/agent/etc/<service>.json`, as K3s
//! writes it: `{"ServerURL": "https://<default>", "ServerAddresses": [...]}`. It is reused only
//! when its `ServerURL` is the current `--server`; a damaged file is ignored (and replaced).

use std::path::Path;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LbState {
    #[serde(rename = "ServerURL")]
    pub server_url: String,
    #[serde(rename = "ServerAddresses")]
    pub server_addresses: Vec<String>,
}

/// The addresses saved for `server_url`, if the file is there, readable and for this server.
pub fn load(path: &Path, server_url: &str) -> Option<Vec<String>> {
    let bytes = std::fs::read(path).ok()?;
    match serde_json::from_slice::<LbState>(&bytes) {
        Ok(s) if s.server_url == server_url => Some(s.server_addresses),
        Ok(_) => None,
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "ignoring a damaged load balancer state file");
            None
        }
    }
}

/// Save the list atomically (a temporary file, synced, renamed over the old one).
pub fn save(path: &Path, state: &LbState) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let bytes = serde_json::to_vec(state).map_err(std::io::Error::other)?;
    crate::server_certs::write_file(path, &bytes, 0o600).map_err(std::io::Error::other)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_list_round_trips_only_for_the_same_server() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("etc/k3rs-agent-load-balancer.json");
        assert_eq!(load(&path, "https://a:6443"), None);
        let s = LbState {
            server_url: "https://a:6443".into(),
            server_addresses: vec!["a:6443".into(), "b:6443".into()],
        };
        save(&path, &s).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("\"ServerURL\"") && text.contains("\"ServerAddresses\""));
        assert_eq!(load(&path, "https://a:6443"), Some(s.server_addresses.clone()));
        assert_eq!(load(&path, "https://other:6443"), None);
        std::fs::write(&path, b"{broken").unwrap();
        assert_eq!(load(&path, "https://a:6443"), None);
    }
}
