//! The OpenAPI v3 documents kubectl reads before `create -f`, `apply` and `edit`: an index of
//! group-versions, and per group-version the object paths with a PATCH operation that carries
//! `x-kubernetes-group-version-kind` and a `fieldValidation` parameter, which is how kubectl
//! learns that the server validates fields itself. Schemas are not published yet.

use serde_json::{Map, Value, json};

use crate::registry::{Registry, ResourceDef};
use crate::version::GIT_VERSION;

/// `api/v1` or `apis/<group>/<version>`: how the index names a group-version.
fn index_key(group: &str, version: &str) -> String {
    if group.is_empty() { format!("api/{version}") } else { format!("apis/{group}/{version}") }
}

/// Every group-version served, core first.
fn group_versions(registry: &Registry) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for r in registry.resources() {
        let gv = (r.group.clone(), r.version.clone());
        if !out.contains(&gv) {
            out.push(gv);
        }
    }
    out
}

/// `GET /openapi/v3`.
pub fn index(registry: &Registry) -> Value {
    let mut paths = Map::new();
    for (group, version) in group_versions(registry) {
        let key = index_key(&group, &version);
        let hash = document(registry, &group, &version)
            .map(|d| fingerprint(&d.to_string()))
            .unwrap_or_default();
        paths.insert(
            key.clone(),
            json!({"serverRelativeURL": format!("/openapi/v3/{key}?hash={hash}")}),
        );
    }
    json!({"paths": paths})
}

/// `GET /openapi/v3/api/v1` or `/openapi/v3/apis/<group>/<version>`; `rest` is the part after
/// `/openapi/v3/`. `None` for an unknown group-version.
pub fn for_path(registry: &Registry, rest: &str) -> Option<Value> {
    let segments: Vec<&str> = rest.trim_matches('/').split('/').collect();
    match segments.as_slice() {
        ["api", version] => document(registry, "", version),
        ["apis", group, version] => document(registry, group, version),
        _ => None,
    }
}

fn document(registry: &Registry, group: &str, version: &str) -> Option<Value> {
    let mut paths = Map::new();
    for r in registry.in_group_version(group, version) {
        paths.insert(object_path(r), json!({"patch": patch_operation(r)}));
    }
    if paths.is_empty() {
        return None;
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": GIT_VERSION},
        "components": {"schemas": {}},
        "paths": paths,
    }))
}

fn object_path(r: &ResourceDef) -> String {
    let base = if r.group.is_empty() {
        format!("/api/{}", r.version)
    } else {
        format!("/apis/{}/{}", r.group, r.version)
    };
    if r.namespaced {
        format!("{base}/namespaces/{{namespace}}/{}/{{name}}", r.plural)
    } else {
        format!("{base}/{}/{{name}}", r.plural)
    }
}

fn patch_operation(r: &ResourceDef) -> Value {
    json!({
        "x-kubernetes-group-version-kind": {"group": r.group, "version": r.version, "kind": r.kind},
        "parameters": [
            {"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
            {"name": "fieldManager", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
            {"name": "dryRun", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
        ],
        "responses": {"200": {"description": "OK"}},
    })
}

/// A short stable fingerprint (FNV-1a) for the index's cache-busting `hash`.
fn fingerprint(text: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016X}")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_index_points_at_every_group_version() {
        let r = Registry::builtin();
        let idx = index(&r);
        let url = idx["paths"]["apis/apps/v1"]["serverRelativeURL"].as_str().unwrap();
        assert!(url.starts_with("/openapi/v3/apis/apps/v1?hash="), "{url}");
        assert!(idx["paths"]["api/v1"].is_object());
    }

    #[test]
    fn documents_declare_patch_with_field_validation_per_kind() {
        let r = Registry::builtin();
        let doc = for_path(&r, "apis/apps/v1").unwrap();
        let patch =
            &doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"];
        assert_eq!(
            patch["x-kubernetes-group-version-kind"],
            json!({"group": "apps", "version": "v1", "kind": "Deployment"})
        );
        assert_eq!(patch["parameters"][0]["name"], "fieldValidation");
        let core = for_path(&r, "api/v1").unwrap();
        assert!(core["paths"]["/api/v1/nodes/{name}"]["patch"].is_object());
        assert!(for_path(&r, "apis/apps/v2").is_none());
        assert!(for_path(&r, "junk").is_none());
    }
}
