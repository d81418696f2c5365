//! Which fields of a built-in object are unknown, read from the same schema tables the
//! protobuf decoder uses (`schema.rs`), for `fieldValidation`. Unknown fields can also be
//! dropped, as upstream drops what its Go types cannot hold.
//!
//! The tables leave some fields out on purpose (see `schema.rs`); where they do, the object is
//! treated as open rather than wrongly refused: a message without fields (pod status contents),
//! the volume sources (deprecated in-tree plugins), `metadata.managedFields` and
//! `spec.ephemeralContainers` are accepted as they are.

use serde_json::Value;

use super::schema::{self, Card, Field, Kind, Message};

/// Fields the tables leave out on purpose, per message: accepted, not checked.
const LEFT_OUT: &[(&str, &str)] =
    &[("meta.v1.ObjectMeta", "managedFields"), ("v1.PodSpec", "ephemeralContainers")];
/// Messages whose fields are only partly listed: anything else is accepted.
const OPEN: &[&str] = &["v1.VolumeSource"];

/// The unknown fields of `obj` (an `api_version`/`kind` object), as upstream prints their paths
/// (`spec.template.spec.containers[0].imagez`), removing them when `prune`. `None` when the kind
/// has no schema here (nothing is checked then).
pub fn unknown_fields(
    api_version: &str,
    kind: &str,
    obj: &mut Value,
    prune: bool,
) -> Option<Vec<String>> {
    let message = schema::lookup(api_version, kind)?;
    let mut found = Vec::new();
    if let Value::Object(map) = obj {
        let keys: Vec<String> = map.keys().cloned().collect();
        for key in keys {
            if key == "apiVersion" || key == "kind" {
                continue;
            }
            check_key(message, map, &key, &key, prune, &mut found);
        }
    }
    Some(found)
}

/// The field of `message` (or of a message inlined in it) named `json`.
fn field<'m>(message: &'m Message, json: &str) -> Option<&'m Field> {
    message.fields.iter().find_map(|f| match f.kind {
        Kind::Inline(inner) if f.json.is_empty() => field(inner, json),
        _ => (f.json == json).then_some(f),
    })
}

/// Is an unknown key of `message` acceptable?
fn open(message: &Message, json: &str) -> bool {
    message.fields.is_empty()
        || OPEN.contains(&message.name)
        || LEFT_OUT.contains(&(message.name, json))
        || message.fields.iter().any(|f| match f.kind {
            Kind::Inline(inner) if f.json.is_empty() => open(inner, json),
            _ => false,
        })
}

fn check_key(
    message: &Message,
    map: &mut serde_json::Map<String, Value>,
    key: &str,
    path: &str,
    prune: bool,
    found: &mut Vec<String>,
) {
    let Some(f) = field(message, key) else {
        if !open(message, key) {
            found.push(path.to_owned());
            if prune {
                map.remove(key);
            }
        }
        return;
    };
    let (Kind::Msg(inner), Some(value)) = (f.kind, map.get_mut(key)) else { return };
    match (f.card, value) {
        (Card::Rep, Value::Array(items)) => {
            for (i, item) in items.iter_mut().enumerate() {
                walk(inner, item, &format!("{path}[{i}]"), prune, found);
            }
        }
        (Card::Map, Value::Object(entries)) => {
            for (k, v) in entries.iter_mut() {
                walk(inner, v, &format!("{path}[{k}]"), prune, found);
            }
        }
        (_, v) => walk(inner, v, path, prune, found),
    }
}

fn walk(message: &Message, value: &mut Value, path: &str, prune: bool, found: &mut Vec<String>) {
    let Value::Object(map) = value else { return };
    let keys: Vec<String> = map.keys().cloned().collect();
    for key in keys {
        check_key(message, map, &key, &format!("{path}.{key}"), prune, found);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    fn deployment() -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "labels": {"app": "web"}, "managedFields": [{"manager": "x"}]},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%"}},
                "template": {"metadata": {"labels": {"app": "web"}}, "spec": {
                    "containers": [{"name": "nginx", "image": "nginx", "ports": [{"containerPort": 80}],
                        "resources": {"limits": {"cpu": "1"}},
                        "readinessProbe": {"httpGet": {"path": "/", "port": 80}, "periodSeconds": 5},
                        "env": [{"name": "A", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
                        "securityContext": {"runAsUser": 1000, "capabilities": {"drop": ["ALL"]}}}],
                    "volumes": [{"name": "v", "emptyDir": {}}, {"name": "old", "gcePersistentDisk": {"pdName": "x"}}],
                    "tolerations": [{"key": "k", "operator": "Exists"}],
                    "ephemeralContainers": [{"name": "debug", "whatever": 1}]}}},
            "status": {"replicas": 2, "conditions": [{"type": "Available", "status": "True"}]}
        })
    }

    #[test]
    fn realistic_objects_have_no_unknown_fields() {
        let mut d = deployment();
        assert_eq!(unknown_fields("apps/v1", "Deployment", &mut d, false), Some(vec![]));
        let mut pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "c", "image": "i"}]}, "status": {"phase": "Running", "podIP": "1.2.3.4"}});
        assert_eq!(unknown_fields("v1", "Pod", &mut pod, false), Some(vec![]));
        let mut svc = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
            "spec": {"type": "NodePort", "selector": {"a": "b"}, "ports": [{"port": 80, "targetPort": "http", "nodePort": 30000}]}});
        assert_eq!(unknown_fields("v1", "Service", &mut svc, false), Some(vec![]));
    }

    #[test]
    fn unknown_fields_are_named_with_their_path_and_can_be_pruned() {
        let mut d = deployment();
        d["spec"]["replicaz"] = json!(3);
        d["spec"]["template"]["spec"]["containers"][0]["imagez"] = json!("x");
        d["metadata"]["labelz"] = json!({});
        let found = unknown_fields("apps/v1", "Deployment", &mut d, true).unwrap();
        assert_eq!(
            found,
            ["metadata.labelz", "spec.replicaz", "spec.template.spec.containers[0].imagez"]
        );
        assert_eq!(d, deployment(), "pruned back to the valid object");
        assert_eq!(
            unknown_fields("apps/v1", "ReplicaSet", &mut d, false),
            None,
            "no schema: unchecked"
        );
    }
}
