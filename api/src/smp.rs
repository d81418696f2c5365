//! Strategic merge patch (`application/strategic-merge-patch+json`), what `kubectl apply`,
//! `edit` and `patch --type strategic` send for built-in kinds.
//!
//! Maps merge key by key (`null` deletes); lists follow the field's patch strategy: lists of
//! objects with a merge key (containers by `name`, container ports by `containerPort`, ...)
//! merge element by element, `finalizers`-like primitive lists take the union, and every other
//! list is replaced. The directives `$patch` (`replace`, `delete`, `merge`), `$retainKeys`,
//! `$deleteFromPrimitiveList/<list>` and `$setElementOrder/<list>` behave as upstream's.
//! Custom resources have no strategy metadata, so upstream refuses the patch type for them
//! (415) and kubectl sends a merge patch instead.

use serde_json::{Map, Value};

use crate::Status;

const PATCH: &str = "$patch";
const RETAIN_KEYS: &str = "$retainKeys";
const DELETE_FROM: &str = "$deleteFromPrimitiveList/";
const ELEMENT_ORDER: &str = "$setElementOrder/";

/// How a list field is patched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Strategy {
    /// The patch's list replaces the object's (atomic lists).
    Replace,
    /// Objects merged element by element, matched on this key.
    ByKey(&'static str),
    /// A set of scalars: the union, in order.
    Union,
}

/// The patch strategy of the list `field` found at `path` (field names from the object's root,
/// list positions left out) in an object of `kind`, as the upstream types' `patchStrategy` and
/// `patchMergeKey` tags declare it.
pub(crate) fn strategy(kind: &str, path: &[String], field: &str) -> Strategy {
    let parent = path.last().map(String::as_str);
    let in_status = path.first().is_some_and(|p| p == "status");
    let container = matches!(parent, Some("containers" | "initContainers" | "ephemeralContainers"));
    match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "volumes"
        | "imagePullSecrets"
        | "schedulingGates" => Strategy::ByKey("name"),
        "resourceClaims" if !container => Strategy::ByKey("name"),
        "env" if container => Strategy::ByKey("name"),
        "ports" if container => Strategy::ByKey("containerPort"),
        "ports" if kind == "Service" && path == ["spec"] => Strategy::ByKey("port"),
        "volumeMounts" if container => Strategy::ByKey("mountPath"),
        "volumeDevices" if container => Strategy::ByKey("devicePath"),
        "hostAliases" => Strategy::ByKey("ip"),
        "topologySpreadConstraints" => Strategy::ByKey("topologyKey"),
        "secrets" if kind == "ServiceAccount" && path.is_empty() => Strategy::ByKey("name"),
        "ownerReferences" if parent == Some("metadata") => Strategy::ByKey("uid"),
        "finalizers" if parent == Some("metadata") => Strategy::Union,
        "podCIDRs" if kind == "Node" => Strategy::Union,
        "conditions" if in_status => Strategy::ByKey("type"),
        "addresses" if in_status && kind == "Node" => Strategy::ByKey("type"),
        "podIPs" | "hostIPs" if in_status => Strategy::ByKey("ip"),
        _ => Strategy::Replace,
    }
}

/// Apply a strategic merge `patch` to `doc`, an object of `kind`. A patch that is not an object
/// is 400; one that contradicts its directives (an element without its merge key, an unknown
/// `$patch`) is 422.
pub fn apply(kind: &str, doc: &Value, patch: &Value) -> Result<Value, Status> {
    let Value::Object(patch) = patch else {
        return Err(Status::bad_request("a strategic merge patch must be a JSON object".into()));
    };
    let original = doc.as_object().cloned().unwrap_or_default();
    let mut path = Vec::new();
    Ok(merge_map(kind, &mut path, original, patch)?.map(Value::Object).unwrap_or(Value::Null))
}

fn invalid(message: String) -> Status {
    Status::unprocessable(format!("the strategic merge patch could not be applied: {message}"))
}

/// Merge `patch` into `original`; `None` when the patch says `$patch: delete`.
fn merge_map(
    kind: &str,
    path: &mut Vec<String>,
    mut original: Map<String, Value>,
    patch: &Map<String, Value>,
) -> Result<Option<Map<String, Value>>, Status> {
    match patch.get(PATCH).map(|v| v.as_str()) {
        None | Some(Some("merge")) => {}
        Some(Some("replace")) => return Ok(Some(strip_map(patch))),
        Some(Some("delete")) => return Ok(None),
        Some(other) => {
            return Err(invalid(format!("unknown patch directive {}", other.unwrap_or("?"))));
        }
    }
    if let Some(keep) = patch.get(RETAIN_KEYS) {
        let keep: Vec<&str> = keep
            .as_array()
            .ok_or_else(|| invalid(format!("{RETAIN_KEYS} must be a list")))?
            .iter()
            .filter_map(Value::as_str)
            .collect();
        if let Some(k) = patch.keys().find(|k| !k.starts_with('$') && !keep.contains(&k.as_str())) {
            return Err(invalid(format!("{k} is not among the keys {RETAIN_KEYS} keeps")));
        }
        original.retain(|k, _| keep.contains(&k.as_str()));
    }
    for (key, value) in patch {
        if let Some(field) = key.strip_prefix(DELETE_FROM) {
            let gone = value.as_array().ok_or_else(|| invalid(format!("{key} must be a list")))?;
            if let Some(Value::Array(items)) = original.get_mut(field) {
                items.retain(|item| !gone.contains(item));
            }
        }
    }
    let servers: Vec<(&str, Vec<Value>)> = patch
        .keys()
        .filter_map(|k| k.strip_prefix(ELEMENT_ORDER))
        .map(|f| (f, original.get(f).and_then(Value::as_array).cloned().unwrap_or_default()))
        .collect();
    for (key, value) in patch {
        if key.starts_with('$') {
            continue;
        }
        if value.is_null() {
            original.remove(key);
            continue;
        }
        let merged = match (original.remove(key), value) {
            (Some(Value::Object(o)), Value::Object(p)) => {
                path.push(key.clone());
                let m = merge_map(kind, path, o, p);
                path.pop();
                m?.map(Value::Object)
            }
            (existing, Value::Array(p)) => {
                let o = match existing {
                    Some(Value::Array(o)) => o,
                    _ => Vec::new(),
                };
                Some(Value::Array(merge_list(kind, path, key, o, p)?))
            }
            (_, Value::Object(p)) => {
                path.push(key.clone());
                let m = merge_map(kind, path, Map::new(), p);
                path.pop();
                m?.map(Value::Object)
            }
            (_, v) => Some(v.clone()),
        };
        if let Some(v) = merged {
            original.insert(key.clone(), v);
        }
    }
    for (key, order) in patch {
        if let Some(field) = key.strip_prefix(ELEMENT_ORDER) {
            let order = order.as_array().ok_or_else(|| invalid(format!("{key} must be a list")))?;
            let strategy = strategy(kind, path, field);
            let server = servers.iter().find(|(f, _)| *f == field).map(|(_, s)| s.as_slice());
            if let Some(Value::Array(items)) = original.get_mut(field) {
                let merged = std::mem::take(items);
                *items = reorder(merged, order, server.unwrap_or_default(), strategy);
            }
        }
    }
    Ok(Some(original))
}

/// Merge the list `field` (at `path`) of the object with the patch's.
fn merge_list(
    kind: &str,
    path: &mut Vec<String>,
    field: &str,
    original: Vec<Value>,
    patch: &[Value],
) -> Result<Vec<Value>, Status> {
    match strategy(kind, path, field) {
        Strategy::Replace => Ok(patch.iter().map(strip).collect()),
        Strategy::Union => {
            let mut out = original;
            for item in patch {
                if !out.contains(item) {
                    out.push(item.clone());
                }
            }
            Ok(out)
        }
        Strategy::ByKey(key) => {
            let replace = patch.iter().any(|p| p.get(PATCH) == Some(&Value::from("replace")));
            if replace {
                return Ok(patch.iter().filter(|p| p.get(PATCH).is_none()).map(strip).collect());
            }
            let mut out = original;
            path.push(field.to_owned());
            let result = merge_keyed(kind, path, key, &mut out, patch);
            path.pop();
            result.map(|()| out)
        }
    }
}

/// Merge each patch element into the element of `out` with the same `key` (or append it).
fn merge_keyed(
    kind: &str,
    path: &mut Vec<String>,
    key: &str,
    out: &mut Vec<Value>,
    patch: &[Value],
) -> Result<(), Status> {
    for item in patch {
        let Value::Object(p) = item else {
            return Err(invalid(format!("an element of {} is not an object", path.join("."))));
        };
        let id = p.get(key).ok_or_else(|| {
            invalid(format!("an element of {} has no merge key {key}", path.join(".")))
        })?;
        let at = out.iter().position(|o| o.get(key) == Some(id));
        let base = match at {
            Some(i) => match out.remove(i) {
                Value::Object(o) => o,
                _ => Map::new(),
            },
            None => Map::new(),
        };
        if let Some(merged) = merge_map(kind, path, base, p)? {
            match at {
                Some(i) => out.insert(i, Value::Object(merged)),
                None => out.push(Value::Object(merged)),
            }
        }
    }
    Ok(())
}

/// Order `merged` as `$setElementOrder` says: the listed elements in that order, the others
/// (the server's own) kept where they were relative to the listed ones.
fn reorder(
    merged: Vec<Value>,
    order: &[Value],
    server: &[Value],
    strategy: Strategy,
) -> Vec<Value> {
    let id = |v: &Value| -> Value {
        match strategy {
            Strategy::ByKey(k) => v.get(k).cloned().unwrap_or(Value::Null),
            _ => v.clone(),
        }
    };
    let wanted: Vec<Value> = order.iter().map(&id).collect();
    let (mut listed, others): (Vec<Value>, Vec<Value>) =
        merged.into_iter().partition(|v| wanted.contains(&id(v)));
    listed.sort_by_key(|v| wanted.iter().position(|w| *w == id(v)));
    let server_index = |v: &Value| server.iter().position(|s| id(s) == id(v));
    let mut out = Vec::with_capacity(listed.len() + others.len());
    let (mut left, mut right) = (listed.into_iter().peekable(), others.into_iter().peekable());
    loop {
        let take_left = match (left.peek(), right.peek()) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(l), Some(r)) => match (server_index(l), server_index(r)) {
                (Some(li), Some(ri)) => li < ri,
                _ => false,
            },
        };
        let next = if take_left { left.next() } else { right.next() };
        out.extend(next);
    }
    out
}

/// A patch value with its directives taken out, for where it is stored as it is.
fn strip(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(strip_map(m)),
        Value::Array(items) => Value::Array(items.iter().map(strip).collect()),
        other => other.clone(),
    }
}

fn strip_map(m: &Map<String, Value>) -> Map<String, Value> {
    m.iter().filter(|(k, _)| !k.starts_with('$')).map(|(k, v)| (k.clone(), strip(v))).collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    fn deployment() -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "labels": {"app": "web"}, "finalizers": ["a"]},
            "spec": {
                "replicas": 1,
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%"}},
                "template": {"spec": {
                    "containers": [
                        {"name": "nginx", "image": "nginx:1.25",
                         "ports": [{"containerPort": 80}, {"containerPort": 443}],
                         "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                         "args": ["x", "y"]},
                        {"name": "side", "image": "busybox"}
                    ],
                    "volumes": [{"name": "data", "emptyDir": {}}]
                }}
            }
        })
    }

    fn smp(doc: &Value, patch: Value) -> Value {
        apply("Deployment", doc, &patch).unwrap()
    }

    #[test]
    fn kubectl_apply_patches_merge_containers_by_name() {
        let out = smp(
            &deployment(),
            json!({"spec": {"replicas": 3, "template": {"spec": {
                "$setElementOrder/containers": [{"name": "nginx"}, {"name": "side"}],
                "containers": [{"image": "nginx:1.26", "name": "nginx"}]}}}}),
        );
        let c = &out["spec"]["template"]["spec"]["containers"];
        assert_eq!(out["spec"]["replicas"], 3);
        assert_eq!(c[0]["image"], "nginx:1.26");
        assert_eq!(c[0]["ports"][1]["containerPort"], 443, "the rest of the element stays");
        assert_eq!(c[1]["name"], "side");
        assert_eq!(c.as_array().unwrap().len(), 2);
    }

    #[test]
    fn nested_lists_merge_by_their_own_keys_and_atomic_lists_are_replaced() {
        let out = smp(
            &deployment(),
            json!({"spec": {"template": {"spec": {"containers": [{"name": "nginx",
                "env": [{"name": "B", "value": "3"}, {"name": "C", "value": "4"}],
                "ports": [{"containerPort": 80, "name": "http"}],
                "args": ["z"]}]}}}}),
        );
        let c = &out["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(
            c["env"],
            json!([{"name": "A", "value": "1"}, {"name": "B", "value": "3"}, {"name": "C", "value": "4"}])
        );
        assert_eq!(
            c["ports"],
            json!([{"containerPort": 80, "name": "http"}, {"containerPort": 443}])
        );
        assert_eq!(c["args"], json!(["z"]));
    }

    #[test]
    fn patch_directives_delete_and_replace_elements_and_maps() {
        let out = smp(
            &deployment(),
            json!({"spec": {"template": {"spec": {
                "containers": [{"name": "side", "$patch": "delete"}],
                "volumes": [{"name": "cache", "emptyDir": {}}, {"$patch": "replace"}]}}}}),
        );
        let s = &out["spec"]["template"]["spec"];
        assert_eq!(s["containers"].as_array().unwrap().len(), 1);
        assert_eq!(s["volumes"], json!([{"name": "cache", "emptyDir": {}}]));

        let out =
            smp(&deployment(), json!({"metadata": {"labels": {"$patch": "replace", "b": "c"}}}));
        assert_eq!(out["metadata"]["labels"], json!({"b": "c"}));
        let out = smp(&deployment(), json!({"spec": {"strategy": {"$patch": "delete"}}}));
        assert!(out["spec"].get("strategy").is_none());
        let bad = apply("Deployment", &deployment(), &json!({"spec": {"$patch": "nope"}}));
        assert_eq!(bad.unwrap_err().code, 422);
    }

    #[test]
    fn retain_keys_clears_what_the_patch_does_not_keep() {
        let out = smp(
            &deployment(),
            json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}),
        );
        assert_eq!(out["spec"]["strategy"], json!({"type": "Recreate"}));
    }

    #[test]
    fn primitive_lists_take_the_union_and_delete_from_primitive_list_removes() {
        let out = smp(&deployment(), json!({"metadata": {"finalizers": ["b", "a"]}}));
        assert_eq!(out["metadata"]["finalizers"], json!(["a", "b"]));
        let out =
            smp(&deployment(), json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}}));
        assert_eq!(out["metadata"]["finalizers"], json!([]));
    }

    #[test]
    fn set_element_order_orders_listed_elements_and_keeps_the_servers_in_place() {
        let doc = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "a"}, {"name": "server-only"}, {"name": "b"}]}}}});
        let out = smp(
            &doc,
            json!({"spec": {"template": {"spec": {
                "$setElementOrder/containers": [{"name": "b"}, {"name": "c"}, {"name": "a"}],
                "containers": [{"name": "c"}]}}}}),
        );
        let names: Vec<&str> = out["spec"]["template"]["spec"]["containers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["server-only", "b", "c", "a"]);
    }

    #[test]
    fn nulls_delete_and_elements_need_their_merge_key() {
        let out = smp(&deployment(), json!({"metadata": {"labels": {"app": null}}}));
        assert_eq!(out["metadata"]["labels"], json!({}));
        let bad = apply(
            "Deployment",
            &deployment(),
            &json!({"spec": {"template": {"spec": {"containers": [{"image": "x"}]}}}}),
        );
        assert_eq!(bad.unwrap_err().code, 422);
        assert_eq!(apply("Deployment", &deployment(), &json!([])).unwrap_err().code, 400);
    }

    #[test]
    fn service_ports_merge_by_port_and_status_conditions_by_type() {
        let svc = json!({"kind": "Service", "spec": {"ports": [{"port": 80, "name": "http"}]}});
        let out =
            apply("Service", &svc, &json!({"spec": {"ports": [{"port": 443, "name": "https"}]}}))
                .unwrap();
        assert_eq!(out["spec"]["ports"].as_array().unwrap().len(), 2);
        let pod = json!({"status": {"conditions": [{"type": "Ready", "status": "False"}]}});
        let out = apply(
            "Pod",
            &pod,
            &json!({"status": {"conditions": [{"type": "Ready", "status": "True"}]}}),
        )
        .unwrap();
        assert_eq!(out["status"]["conditions"], json!([{"type": "Ready", "status": "True"}]));
    }
}
