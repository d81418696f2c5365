//! Who may do what, until RBAC is enforced: anyone may read the health, version and CA paths;
//! `system:masters` may do everything; nodes (`system:node:<name>` in `system:nodes`) may do
//! what a kubelet needs for their own node, as upstream's node authorizer and NodeRestriction
//! allow; everyone else is refused (403).

use serde_json::Value;

use crate::identity::{GROUP_MASTERS, Identity};
use crate::path::ResourcePath;
use crate::supervisor::{GROUP_NODES, NODE_USER_PREFIX};

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

/// The node a caller is, if it is one.
pub fn node_of(who: &Identity) -> Option<&str> {
    who.user.strip_prefix(NODE_USER_PREFIX).filter(|_| who.in_group(GROUP_NODES))
}

/// Discovery and OpenAPI documents: readable by every authenticated caller.
pub fn is_discovery(path: &str) -> bool {
    let path = path.trim_end_matches('/');
    path == "/api"
        || path == "/apis"
        || path.starts_with("/openapi/")
        || crate::path::parse(path).is_none()
            && (path.starts_with("/api/") || path.starts_with("/apis/"))
}

/// What a node may do with a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeAccess {
    Allow,
    Deny,
    /// Allowed if the object created is named after the node (its Node, its Lease).
    CreateOwn,
    /// Allowed if the pod named in the path is bound to the node.
    PodOnNode,
    /// Allowed if a pod bound to the node in the path's namespace uses the object.
    UsedByPod,
}

/// What `node` may do: `verb` (`get`, `list`, `watch`, `create`, `update`, `patch`, `delete`,
/// `deletecollection`) on `path`.
pub fn node_access(node: &str, verb: &str, path: &ResourcePath<'_>) -> NodeAccess {
    let read = matches!(verb, "get" | "list" | "watch");
    let write = matches!(verb, "update" | "patch");
    let own = path.name == Some(node);
    match (path.group, path.resource, path.subresource) {
        ("", "nodes", None) if read => NodeAccess::Allow,
        ("", "nodes", None) if verb == "create" => NodeAccess::CreateOwn,
        ("", "nodes", None | Some("status")) if write && own => NodeAccess::Allow,
        ("coordination.k8s.io", "leases", None) if path.namespace == Some("kube-node-lease") => {
            match verb {
                "create" => NodeAccess::CreateOwn,
                "get" | "update" | "patch" | "delete" if own => NodeAccess::Allow,
                _ => NodeAccess::Deny,
            }
        }
        ("", "pods", None) if read => NodeAccess::Allow,
        ("", "pods", Some("status")) if write => NodeAccess::PodOnNode,
        ("", "pods", None) if verb == "delete" => NodeAccess::PodOnNode,
        ("", "events", None) | ("events.k8s.io", "events", None)
            if matches!(verb, "create" | "update" | "patch") =>
        {
            NodeAccess::Allow
        }
        ("", "secrets" | "configmaps" | "persistentvolumeclaims", None)
            if verb == "get" && path.namespace.is_some() =>
        {
            NodeAccess::UsedByPod
        }
        ("", "services" | "endpoints" | "namespaces", None) if read => NodeAccess::Allow,
        ("discovery.k8s.io", "endpointslices", None) if read => NodeAccess::Allow,
        ("networking.k8s.io", "networkpolicies", None) if read => NodeAccess::Allow,
        _ => NodeAccess::Deny,
    }
}

/// Does `pod` use the `resource` (`secrets`, `configmaps`, `persistentvolumeclaims`) `name`:
/// in a volume (also projected), an env source, or as an image pull secret?
pub fn pod_uses(pod: &Value, resource: &str, name: &str) -> bool {
    let spec = &pod["spec"];
    let named = |v: &Value, key: &str| v[key].as_str() == Some(name);
    let volumes = spec["volumes"].as_array().into_iter().flatten();
    let containers = ["containers", "initContainers", "ephemeralContainers"]
        .iter()
        .flat_map(|k| spec[*k].as_array().into_iter().flatten());
    match resource {
        "secrets" => {
            spec["imagePullSecrets"].as_array().into_iter().flatten().any(|s| named(s, "name"))
                || volumes.clone().any(|v| {
                    named(&v["secret"], "secretName")
                        || projected(v).any(|s| named(&s["secret"], "name"))
                })
                || containers.clone().any(|c| env_uses(c, "secretKeyRef", "secretRef", name))
        }
        "configmaps" => {
            volumes.clone().any(|v| {
                named(&v["configMap"], "name")
                    || projected(v).any(|s| named(&s["configMap"], "name"))
            }) || containers.clone().any(|c| env_uses(c, "configMapKeyRef", "configMapRef", name))
        }
        "persistentvolumeclaims" => {
            volumes.clone().any(|v| named(&v["persistentVolumeClaim"], "claimName"))
        }
        _ => false,
    }
}

fn projected(volume: &Value) -> impl Iterator<Item = &Value> {
    volume["projected"]["sources"].as_array().into_iter().flatten()
}

fn env_uses(container: &Value, key_ref: &str, from_ref: &str, name: &str) -> bool {
    container["env"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|e| e["valueFrom"][key_ref]["name"].as_str() == Some(name))
        || container["envFrom"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|e| e[from_ref]["name"].as_str() == Some(name))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    fn path(p: &str) -> ResourcePath<'_> {
        crate::path::parse(p).unwrap()
    }

    #[test]
    fn nodes_may_only_touch_their_own_node_and_lease() {
        fn a(verb: &str, p: &str) -> NodeAccess {
            node_access("a", verb, &path(p))
        }
        assert_eq!(a("get", "/api/v1/nodes/b"), NodeAccess::Allow);
        assert_eq!(a("patch", "/api/v1/nodes/a/status"), NodeAccess::Allow);
        assert_eq!(a("patch", "/api/v1/nodes/b/status"), NodeAccess::Deny);
        assert_eq!(a("update", "/api/v1/nodes/b"), NodeAccess::Deny);
        assert_eq!(a("delete", "/api/v1/nodes/a"), NodeAccess::Deny);
        assert_eq!(a("create", "/api/v1/nodes"), NodeAccess::CreateOwn);
        let lease = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases";
        assert_eq!(a("patch", &format!("{lease}/a")), NodeAccess::Allow);
        assert_eq!(a("patch", &format!("{lease}/b")), NodeAccess::Deny);
        assert_eq!(a("create", lease), NodeAccess::CreateOwn);
        assert_eq!(a("list", "/api/v1/secrets"), NodeAccess::Deny);
        assert_eq!(a("list", "/api/v1/namespaces/default/secrets"), NodeAccess::Deny);
        assert_eq!(a("get", "/api/v1/namespaces/default/secrets/s"), NodeAccess::UsedByPod);
        assert_eq!(a("patch", "/api/v1/namespaces/default/pods/p/status"), NodeAccess::PodOnNode);
        assert_eq!(a("create", "/api/v1/namespaces/default/pods"), NodeAccess::Deny);
        assert_eq!(a("delete", "/apis/apps/v1/namespaces/default/deployments/d"), NodeAccess::Deny);
    }

    #[test]
    fn pods_use_secrets_and_configmaps_through_volumes_env_and_pull_secrets() {
        let pod = json!({"spec": {
            "imagePullSecrets": [{"name": "pull"}],
            "volumes": [{"name": "v", "secret": {"secretName": "vol"}},
                        {"name": "p", "projected": {"sources": [{"configMap": {"name": "proj"}}]}}],
            "containers": [{"name": "c",
                "env": [{"name": "E", "valueFrom": {"secretKeyRef": {"name": "env", "key": "k"}}}],
                "envFrom": [{"configMapRef": {"name": "from"}}]}]
        }});
        for s in ["pull", "vol", "env"] {
            assert!(pod_uses(&pod, "secrets", s), "{s}");
        }
        for c in ["proj", "from"] {
            assert!(pod_uses(&pod, "configmaps", c), "{c}");
        }
        assert!(!pod_uses(&pod, "secrets", "other"));
        assert!(!pod_uses(&pod, "configmaps", "vol"));
    }

    #[test]
    fn node_identities_are_recognised_by_user_and_group() {
        let n = Identity { user: "system:node:a".into(), groups: vec![GROUP_NODES.into()] };
        assert_eq!(node_of(&n), Some("a"));
        let fake = Identity { user: "system:node:a".into(), groups: vec![] };
        assert_eq!(node_of(&fake), None);
        assert!(
            is_discovery("/api") && is_discovery("/apis/apps/v1") && is_discovery("/openapi/v3")
        );
        assert!(!is_discovery("/api/v1/pods"));
    }

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
