//! What `/version` reports. kubectl on this machine picks its own version from `minor`, so the
//! server reports Kubernetes 1.32, the API level k3rs implements.

use serde::Serialize;

pub const KUBERNETES_MAJOR: &str = "1";
pub const KUBERNETES_MINOR: &str = "32";
/// `gitVersion`: the Kubernetes version with k3rs's build suffix, as K3s reports `v1.32.x+k3s1`.
pub const GIT_VERSION: &str = concat!("v1.32.0+k3rs-", env!("CARGO_PKG_VERSION"));

/// The `/version` document.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VersionInfo {
    pub major: &'static str,
    pub minor: &'static str,
    pub git_version: &'static str,
    pub git_commit: &'static str,
    pub git_tree_state: &'static str,
    pub build_date: &'static str,
    pub go_version: &'static str,
    pub compiler: &'static str,
    pub platform: String,
}

impl VersionInfo {
    pub fn current(git_commit: &'static str) -> Self {
        VersionInfo {
            major: KUBERNETES_MAJOR,
            minor: KUBERNETES_MINOR,
            git_version: GIT_VERSION,
            git_commit,
            git_tree_state: "clean",
            build_date: "1970-01-01T00:00:00Z",
            go_version: "rust",
            compiler: "rustc",
            platform: format!("{}/{}", std::env::consts::OS, go_arch()),
        }
    }
}

/// The architecture as Go names it (kubectl prints it).
fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "arm" => "arm",
        other => other,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn reports_kubernetes_1_32_in_go_field_names() {
        let v = serde_json::to_value(VersionInfo::current("abc")).unwrap();
        assert_eq!(v["major"], "1");
        assert_eq!(v["minor"], "32");
        assert!(v["gitVersion"].as_str().unwrap().starts_with("v1.32."));
        assert_eq!(v["platform"], format!("linux/{}", go_arch()));
    }
}
