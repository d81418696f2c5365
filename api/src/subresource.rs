//! The `status` and `scale` subresources as plain functions: what a subresource read shows and
//! how a subresource write changes the stored object. Writes to the main resource of a kind
//! with a `status` subresource keep the stored status (upstream's strategies do the same).

use serde_json::{Value, json};

use crate::Status;
use crate::registry::ResourceDef;

/// Which subresource a request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sub {
    /// The object itself.
    Main,
    Status,
    Scale,
}

impl Sub {
    /// The subresource named on the path, if the resource has it; else 404 as upstream.
    pub fn parse(def: &ResourceDef, name: Option<&str>) -> Result<Self, Status> {
        let Some(name) = name else { return Ok(Sub::Main) };
        if !def.subresources.iter().any(|s| s.name == name) {
            return Err(Status::no_such_path());
        }
        match name {
            "status" => Ok(Sub::Status),
            "scale" => Ok(Sub::Scale),
            _ => Err(Status::method_not_allowed()),
        }
    }
}

/// Has `def` a status subresource (so the main resource's writes leave status alone)?
pub fn has_status(def: &ResourceDef) -> bool {
    def.subresources.iter().any(|s| s.name == "status")
}

/// The object a subresource read shows.
pub fn view(sub: Sub, obj: Value) -> Value {
    match sub {
        Sub::Main | Sub::Status => obj,
        Sub::Scale => scale(&obj),
    }
}

/// The `autoscaling/v1 Scale` of an object with `spec.replicas`.
pub fn scale(obj: &Value) -> Value {
    let meta = &obj["metadata"];
    let mut metadata = serde_json::Map::new();
    for field in ["name", "namespace", "uid", "resourceVersion", "creationTimestamp"] {
        if let Some(v) = meta.get(field) {
            metadata.insert(field.into(), v.clone());
        }
    }
    let replicas = obj["spec"]["replicas"].as_i64().unwrap_or(1);
    let selector = selector_text(&obj["spec"]["selector"]);
    let mut status = json!({"replicas": obj["status"]["replicas"].as_i64().unwrap_or(0)});
    if !selector.is_empty() {
        status["selector"] = json!(selector);
    }
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": metadata,
        "spec": {"replicas": replicas},
        "status": status,
    })
}

/// A label selector object as its string form (`app=web,tier in (a,b)`).
fn selector_text(selector: &Value) -> String {
    let mut terms: Vec<String> = Vec::new();
    if let Some(labels) = selector["matchLabels"].as_object() {
        for (k, v) in labels {
            terms.push(format!("{k}={}", v.as_str().unwrap_or("")));
        }
    }
    for expr in selector["matchExpressions"].as_array().into_iter().flatten() {
        let key = expr["key"].as_str().unwrap_or("");
        let values: Vec<&str> =
            expr["values"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
        terms.push(match expr["operator"].as_str().unwrap_or("") {
            "In" => format!("{key} in ({})", values.join(",")),
            "NotIn" => format!("{key} notin ({})", values.join(",")),
            "Exists" => key.to_owned(),
            _ => format!("!{key}"),
        });
    }
    terms.join(",")
}

/// The object to store when `wanted` is written through `sub` over `existing`.
///
/// - main resource: `wanted`, but with the stored `status` when the kind has a status
///   subresource;
/// - status: the stored object with `wanted`'s status (and its resourceVersion precondition);
/// - scale: the stored object with `spec.replicas` from the Scale `wanted`.
pub fn merge_write(
    def: &ResourceDef,
    sub: Sub,
    existing: &Value,
    mut wanted: Value,
) -> Result<Value, Status> {
    match sub {
        Sub::Main => {
            if has_status(def) {
                match existing.get("status") {
                    Some(s) => wanted["status"] = s.clone(),
                    None => {
                        if let Some(o) = wanted.as_object_mut() {
                            o.remove("status");
                        }
                    }
                }
            }
            Ok(wanted)
        }
        Sub::Status => {
            let mut out = existing.clone();
            match wanted.get("status") {
                Some(s) => out["status"] = s.clone(),
                None => {
                    if let Some(o) = out.as_object_mut() {
                        o.remove("status");
                    }
                }
            }
            copy_precondition(&wanted, &mut out);
            Ok(out)
        }
        Sub::Scale => {
            let replicas = wanted["spec"]["replicas"].take();
            let replicas = match replicas {
                Value::Number(n) if n.as_i64().is_some_and(|r| r >= 0) => n,
                Value::Null => serde_json::Number::from(0),
                other => {
                    return Err(Status::invalid(
                        "Scale",
                        "autoscaling",
                        existing["metadata"]["name"].as_str().unwrap_or(""),
                        vec![crate::status::Cause {
                            reason: "FieldValueInvalid".into(),
                            message: format!(
                                "Invalid value: {other}: must be greater than or equal to 0"
                            ),
                            field: "spec.replicas".into(),
                        }],
                    ));
                }
            };
            let mut out = existing.clone();
            out["spec"]["replicas"] = Value::Number(replicas);
            copy_precondition(&wanted, &mut out);
            Ok(out)
        }
    }
}

/// A resourceVersion the subresource body states stays a precondition of the write.
fn copy_precondition(wanted: &Value, out: &mut Value) {
    match wanted["metadata"]["resourceVersion"].as_str() {
        Some(rv) if !rv.is_empty() => out["metadata"]["resourceVersion"] = json!(rv),
        _ => {
            if let Some(m) = out["metadata"].as_object_mut() {
                m.remove("resourceVersion");
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::registry::Registry;

    fn deploy() -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default", "uid": "u", "resourceVersion": "7"},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}}},
            "status": {"replicas": 2, "readyReplicas": 1}
        })
    }

    #[test]
    fn scale_reads_and_writes_replicas() {
        let r = Registry::builtin();
        let def = r.get("apps", "v1", "deployments").unwrap();
        let s = view(Sub::Scale, deploy());
        assert_eq!(s["spec"]["replicas"], 2);
        assert_eq!(s["status"]["selector"], "app=web");
        assert_eq!(s["metadata"]["resourceVersion"], "7");
        let out =
            merge_write(def, Sub::Scale, &deploy(), json!({"spec": {"replicas": 5}})).unwrap();
        assert_eq!(out["spec"]["replicas"], 5);
        assert_eq!(out["status"]["readyReplicas"], 1);
        assert!(out["metadata"].get("resourceVersion").is_none());
        let bad = merge_write(def, Sub::Scale, &deploy(), json!({"spec": {"replicas": -1}}));
        assert_eq!(bad.unwrap_err().code, 422);
    }

    #[test]
    fn status_and_main_writes_touch_only_their_part() {
        let r = Registry::builtin();
        let def = r.get("apps", "v1", "deployments").unwrap();
        let mut wanted = deploy();
        wanted["spec"]["replicas"] = json!(9);
        wanted["status"] = json!({"replicas": 9});
        let main = merge_write(def, Sub::Main, &deploy(), wanted.clone()).unwrap();
        assert_eq!(
            (main["spec"]["replicas"].clone(), main["status"]["replicas"].clone()),
            (json!(9), json!(2))
        );
        let status = merge_write(def, Sub::Status, &deploy(), wanted).unwrap();
        assert_eq!(
            (status["spec"]["replicas"].clone(), status["status"]["replicas"].clone()),
            (json!(2), json!(9))
        );
        assert_eq!(status["metadata"]["resourceVersion"], "7");
        let cm = r.get("", "v1", "configmaps").unwrap();
        assert_eq!(Sub::parse(cm, Some("status")).unwrap_err().code, 404);
        assert_eq!(Sub::parse(def, Some("scale")).unwrap(), Sub::Scale);
    }
}
