//! What a resource URL names: `/api/v1/namespaces/default/pods/web/status` ->
//! group "", version v1, namespace default, resource pods, name web, subresource status.

/// A request for a resource, parsed from its path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourcePath<'a> {
    pub group: &'a str,
    pub version: &'a str,
    pub namespace: Option<&'a str>,
    pub resource: &'a str,
    pub name: Option<&'a str>,
    pub subresource: Option<&'a str>,
}

/// Parse a resource path; `None` for anything else (discovery, health, unknown).
pub fn parse(path: &str) -> Option<ResourcePath<'_>> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version, rest) = match segments.as_slice() {
        ["api", version, rest @ ..] => ("", *version, rest),
        ["apis", group, version, rest @ ..] => (*group, *version, rest),
        _ => return None,
    };
    let p = |namespace, resource, name, subresource| {
        Some(ResourcePath { group, version, namespace, resource, name, subresource })
    };
    match rest {
        // `namespaces/<ns>` is the namespace object itself; deeper paths are inside it.
        ["namespaces", ns] => p(None, "namespaces", Some(*ns), None),
        ["namespaces", ns, "status" | "finalize"] => {
            p(None, "namespaces", Some(*ns), Some(rest[2]))
        }
        ["namespaces", ns, resource] => p(Some(*ns), resource, None, None),
        ["namespaces", ns, resource, name] => p(Some(*ns), resource, Some(*name), None),
        ["namespaces", ns, resource, name, sub] => p(Some(*ns), resource, Some(*name), Some(*sub)),
        [resource] => p(None, resource, None, None),
        [resource, name] => p(None, resource, Some(*name), None),
        [resource, name, sub] => p(None, resource, Some(*name), Some(*sub)),
        _ => None,
    }
    .filter(|r| !r.resource.is_empty() && r.name.is_none_or(|n| !n.is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rp<'a>(
        group: &'a str,
        namespace: Option<&'a str>,
        resource: &'a str,
        name: Option<&'a str>,
        subresource: Option<&'a str>,
    ) -> Option<ResourcePath<'a>> {
        Some(ResourcePath { group, version: "v1", namespace, resource, name, subresource })
    }

    #[test]
    fn paths_name_what_kubectl_asks_for() {
        assert_eq!(parse("/api/v1/pods"), rp("", None, "pods", None, None));
        assert_eq!(parse("/api/v1/namespaces"), rp("", None, "namespaces", None, None));
        assert_eq!(
            parse("/api/v1/namespaces/default"),
            rp("", None, "namespaces", Some("default"), None)
        );
        assert_eq!(
            parse("/api/v1/namespaces/x/status"),
            rp("", None, "namespaces", Some("x"), Some("status"))
        );
        assert_eq!(
            parse("/api/v1/namespaces/default/pods"),
            rp("", Some("default"), "pods", None, None)
        );
        assert_eq!(
            parse("/api/v1/namespaces/default/pods/web/log"),
            rp("", Some("default"), "pods", Some("web"), Some("log"))
        );
        assert_eq!(
            parse("/apis/apps/v1/namespaces/a/deployments/web/scale"),
            rp("apps", Some("a"), "deployments", Some("web"), Some("scale"))
        );
        assert_eq!(parse("/apis/apps/v1/deployments"), rp("apps", None, "deployments", None, None));
        assert_eq!(parse("/api/v1/nodes/n1"), rp("", None, "nodes", Some("n1"), None));
        assert_eq!(parse("/api"), None);
        assert_eq!(parse("/apis/apps/v1"), None);
        assert_eq!(parse("/healthz"), None);
    }
}
