//! Objects in the store: where each lives (its key), how metadata the server owns is filled in
//! (`resourceVersion` from the store's mod revision, never stored), lists and continue tokens.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use k3rs_store::{KeyValue, Revision};
use serde_json::{Value, json};

use crate::registry::ResourceDef;

/// `/registry/<group or core>/<resource>/[<namespace>/]`: where a resource's objects live.
pub fn prefix(def: &ResourceDef, namespace: Option<&str>) -> String {
    let group = if def.group.is_empty() { "core" } else { &def.group };
    match namespace {
        Some(ns) if def.namespaced => format!("/registry/{group}/{}/{ns}/", def.plural),
        _ => format!("/registry/{group}/{}/", def.plural),
    }
}

/// The key of one object.
pub fn key(def: &ResourceDef, namespace: Option<&str>, name: &str) -> String {
    format!("{}{name}", prefix(def, namespace))
}

/// Decode a stored object and give it its `resourceVersion` (the key's mod revision).
pub fn from_store(kv: &KeyValue) -> Result<Value, serde_json::Error> {
    let mut obj: Value = serde_json::from_slice(&kv.value)?;
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.insert("resourceVersion".into(), json!(kv.mod_revision.to_string()));
    }
    Ok(obj)
}

/// A `<Kind>List`.
pub fn list(
    def: &ResourceDef,
    items: Vec<Value>,
    revision: Revision,
    continue_token: Option<String>,
) -> Value {
    let mut metadata = json!({"resourceVersion": revision.to_string()});
    if let Some(token) = continue_token {
        metadata["continue"] = json!(token);
    }
    json!({
        "kind": format!("{}List", def.kind),
        "apiVersion": def.group_version(),
        "metadata": metadata,
        "items": items,
    })
}

/// A continue token: the revision the first page was read at and the last key returned.
pub fn continue_token(revision: Revision, last_key: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{revision}\n{last_key}"))
}

/// Read a continue token back; `None` if it is not one of ours.
pub fn parse_continue(token: &str) -> Option<(Revision, String)> {
    let raw = URL_SAFE_NO_PAD.decode(token).ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (rev, key) = text.split_once('\n')?;
    Some((rev.parse().ok()?, key.to_owned()))
}

/// A namespace object as the server creates it at start (`default`, `kube-system`, ...).
pub fn namespace(name: &str, uid: &str, created: &str) -> Value {
    json!({
        "kind": "Namespace",
        "apiVersion": "v1",
        "metadata": {
            "name": name,
            "uid": uid,
            "creationTimestamp": created,
            "labels": {"kubernetes.io/metadata.name": name},
        },
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Active"},
    })
}

/// The namespaces every cluster has.
pub const SYSTEM_NAMESPACES: &[&str] =
    &["default", "kube-system", "kube-public", "kube-node-lease"];

/// A new object uid.
pub fn new_uid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Now, as Kubernetes writes timestamps (RFC 3339, seconds, UTC).
pub fn timestamp(now: time::OffsetDateTime) -> String {
    let t = now.replace_nanosecond(0).unwrap_or(now).to_offset(time::UtcOffset::UTC);
    t.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

/// `metav1.MicroTime`: RFC 3339 in UTC with microseconds (Lease renew times).
pub fn micro_timestamp(now: time::OffsetDateTime) -> String {
    let t = now.to_offset(time::UtcOffset::UTC);
    let whole = timestamp(t);
    format!("{}.{:06}Z", whole.trim_end_matches('Z'), t.microsecond())
}

/// Create the system namespaces that do not exist yet (at every start; existing ones are kept).
pub async fn ensure_system_namespaces(
    store: &k3rs_store::Datastore,
    registry: &crate::registry::Registry,
) -> Result<(), k3rs_store::StoreError> {
    let Some(def) = registry.get("", "v1", "namespaces") else { return Ok(()) };
    let now = timestamp(time::OffsetDateTime::now_utc());
    for name in SYSTEM_NAMESPACES {
        let obj = namespace(name, &new_uid(), &now);
        let bytes = serde_json::to_vec(&obj).unwrap_or_default();
        match store.create(&key(def, None, name), bytes).await {
            Ok(_) | Err(k3rs_store::StoreError::AlreadyExists { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::registry::Registry;

    #[test]
    fn keys_follow_group_resource_namespace_name() {
        let r = Registry::builtin();
        let pods = r.get("", "v1", "pods").unwrap();
        let deploy = r.get("apps", "v1", "deployments").unwrap();
        let nodes = r.get("", "v1", "nodes").unwrap();
        assert_eq!(key(pods, Some("default"), "web"), "/registry/core/pods/default/web");
        assert_eq!(prefix(pods, None), "/registry/core/pods/");
        assert_eq!(key(deploy, Some("a"), "web"), "/registry/apps/deployments/a/web");
        assert_eq!(key(nodes, Some("ignored"), "n1"), "/registry/core/nodes/n1");
    }

    #[test]
    fn resource_version_comes_from_the_store() {
        let kv = KeyValue {
            key: "/registry/core/namespaces/a".into(),
            value: serde_json::to_vec(&namespace("a", "u", "2026-01-01T00:00:00Z")).unwrap(),
            create_revision: 3,
            mod_revision: 7,
        };
        let obj = from_store(&kv).unwrap();
        assert_eq!(obj["metadata"]["resourceVersion"], "7");
        assert_eq!(obj["status"]["phase"], "Active");
    }

    #[test]
    fn timestamps_are_rfc3339_seconds_in_utc() {
        let t = time::OffsetDateTime::from_unix_timestamp(1_767_225_600).unwrap();
        assert_eq!(timestamp(t + time::Duration::milliseconds(900)), "2026-01-01T00:00:00Z");
        assert_eq!(
            micro_timestamp(t + time::Duration::microseconds(1_234)),
            "2026-01-01T00:00:00.001234Z"
        );
        assert_ne!(new_uid(), new_uid());
    }

    #[test]
    fn continue_tokens_round_trip_and_reject_junk() {
        let t = continue_token(42, "/registry/core/pods/default/web");
        assert_eq!(parse_continue(&t), Some((42, "/registry/core/pods/default/web".into())));
        assert_eq!(parse_continue("junk!"), None);
    }
}
