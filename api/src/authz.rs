//! Who may do what, until RBAC is enforced: anyone may read the health, version and CA paths;
//! `system:masters` may do everything; everyone else is refused (403).

use crate::identity::{GROUP_MASTERS, Identity};

/// Paths readable without credentials, as upstream's `system:public-info-viewer` and K3s's
/// supervisor allow.
const PUBLIC_PATHS: &[&str] = &["/healthz", "/livez", "/readyz", "/version", "/cacerts", "/ping"];

/// May anyone read `path`?
pub fn is_public(path: &str) -> bool {
    let path = path.trim_end_matches('/');
    PUBLIC_PATHS
        .iter()
        .any(|p| path == *p || path.strip_prefix(p).is_some_and(|rest| rest.starts_with('/')))
}

/// May `who` do anything at all?
pub fn is_superuser(who: &Identity) -> bool {
    who.in_group(GROUP_MASTERS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_and_version_are_public_and_nothing_else() {
        for p in [
            "/healthz",
            "/livez",
            "/readyz",
            "/readyz/",
            "/healthz/etcd",
            "/version",
            "/cacerts",
            "/ping",
        ] {
            assert!(is_public(p), "{p}");
        }
        for p in
            ["/api", "/apis", "/api/v1/pods", "/versions", "/healthzz", "/metrics", "/admin/status"]
        {
            assert!(!is_public(p), "{p}");
        }
    }

    #[test]
    fn only_masters_are_superusers() {
        let admin = Identity { user: "system:admin".into(), groups: vec!["system:masters".into()] };
        assert!(is_superuser(&admin));
        assert!(!is_superuser(&Identity::anonymous()));
    }
}
