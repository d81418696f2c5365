//! Preparing writes: what the server checks and fills in before an object is stored (names,
//! kind and namespace agreement, uid, timestamps, generation), with upstream's error wording.

use serde_json::{Value, json};

use crate::Status;
use crate::registry::ResourceDef;
use crate::status::Cause;

/// Why a name is not valid, as upstream words it; `None` when it is.
pub fn name_problem(name: &str, label: bool) -> Option<String> {
    let max = if label { 63 } else { 253 };
    let ok_char =
        |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || (!label && c == '.');
    let edges = |s: &str| {
        s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
            && s.chars().last().is_some_and(|c| c.is_ascii_alphanumeric())
    };
    let parts_ok = label || name.split('.').all(|p| !p.is_empty() && edges(p));
    if name.len() <= max && !name.is_empty() && name.chars().all(ok_char) && edges(name) && parts_ok
    {
        return None;
    }
    Some(if label {
        "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')".into()
    } else {
        "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')".into()
    })
}

fn invalid(def: &ResourceDef, name: &str, field: &str, reason: &str, message: String) -> Status {
    Status::invalid(
        &def.kind,
        &def.group,
        name,
        vec![Cause { reason: reason.into(), message, field: field.into() }],
    )
}

/// Check the object's kind, apiVersion and namespace against the request, and fill them in.
fn agree(def: &ResourceDef, namespace: Option<&str>, obj: &mut Value) -> Result<(), Status> {
    let Some(map) = obj.as_object_mut() else {
        return Err(Status::bad_request("the request body is not a JSON object".into()));
    };
    let gv = def.group_version();
    match map.get("apiVersion").and_then(Value::as_str) {
        Some(v) if v != gv => {
            return Err(Status::bad_request(format!(
                "the API version in the data ({v}) does not match the expected API version ({gv})"
            )));
        }
        _ => {}
    }
    match map.get("kind").and_then(Value::as_str) {
        Some(k) if k != def.kind => {
            return Err(Status::bad_request(format!(
                "the kind in the data ({k}) does not match the expected kind ({})",
                def.kind
            )));
        }
        _ => {}
    }
    map.insert("apiVersion".into(), json!(gv));
    map.insert("kind".into(), json!(def.kind));
    let meta = map.entry("metadata").or_insert_with(|| json!({}));
    let Some(meta) = meta.as_object_mut() else {
        return Err(Status::bad_request("metadata must be an object".into()));
    };
    match (def.namespaced, namespace, meta.get("namespace").and_then(Value::as_str)) {
        (true, Some(url), Some(body)) if url != body => {
            return Err(Status::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request".into(),
            ));
        }
        (true, Some(url), _) => {
            meta.insert("namespace".into(), json!(url));
        }
        (false, _, _) => {
            meta.remove("namespace");
        }
        (true, None, _) => {
            return Err(Status::bad_request("a namespace is required for this resource".into()));
        }
    }
    Ok(())
}

/// Prepare a create: returns the name and the object to store (without `resourceVersion`).
/// `suffix` is used for `generateName` (five random characters).
pub fn prepare_create(
    def: &ResourceDef,
    namespace: Option<&str>,
    mut obj: Value,
    uid: &str,
    now: &str,
    suffix: &str,
) -> Result<(String, Value), Status> {
    agree(def, namespace, &mut obj)?;
    let meta = obj["metadata"]
        .as_object_mut()
        .ok_or_else(|| Status::bad_request("metadata must be an object".into()))?;
    let name = match (
        meta.get("name").and_then(Value::as_str),
        meta.get("generateName").and_then(Value::as_str),
    ) {
        (Some(n), _) if !n.is_empty() => n.to_owned(),
        (_, Some(g)) if !g.is_empty() => format!("{g}{suffix}"),
        _ => {
            return Err(invalid(
                def,
                "",
                "metadata.name",
                "FieldValueRequired",
                "Required value: name or generateName is required".into(),
            ));
        }
    };
    let label = def.group.is_empty() && def.plural == "namespaces";
    if let Some(problem) = name_problem(&name, label) {
        return Err(invalid(
            def,
            &name,
            "metadata.name",
            "FieldValueInvalid",
            format!("Invalid value: {name:?}: {problem}"),
        ));
    }
    meta.insert("name".into(), json!(name));
    meta.insert("uid".into(), json!(uid));
    meta.insert("creationTimestamp".into(), json!(now));
    meta.remove("resourceVersion");
    meta.remove("deletionTimestamp");
    meta.remove("deletionGracePeriodSeconds");
    if obj.get("spec").is_some() {
        obj["metadata"]["generation"] = json!(1);
    }
    if label {
        // Every namespace carries the finalizer that empties it before it goes, and is Active.
        if obj["spec"]["finalizers"].as_array().is_none() {
            obj["spec"]["finalizers"] = json!([crate::delete::NAMESPACE_FINALIZER]);
        }
        obj["status"] = json!({"phase": "Active"});
    }
    if crate::subresource::has_status(def) && !label {
        // Status is the server's to report: a create starts without one (upstream's strategies).
        if let Some(map) = obj.as_object_mut() {
            map.remove("status");
        }
    }
    if is_crd(def) {
        // A CRD's custom resources are deleted before it goes.
        let mut finalizers = obj["metadata"]["finalizers"].as_array().cloned().unwrap_or_default();
        if !finalizers.iter().any(|f| f == crate::crd::CLEANUP_FINALIZER) {
            finalizers.push(json!(crate::crd::CLEANUP_FINALIZER));
        }
        obj["metadata"]["finalizers"] = json!(finalizers);
    }
    crate::defaults::apply(def, &mut obj);
    check_kind(def, &name, &obj)?;
    Ok((name, obj))
}

fn is_crd(def: &ResourceDef) -> bool {
    def.group == "apiextensions.k8s.io" && def.kind == "CustomResourceDefinition"
}

/// The checks particular to a kind.
fn check_kind(def: &ResourceDef, name: &str, obj: &Value) -> Result<(), Status> {
    if is_crd(def) {
        let causes = crate::crd::validate(obj);
        if !causes.is_empty() {
            return Err(Status::invalid(&def.kind, &def.group, name, causes));
        }
    }
    Ok(())
}

/// Prepare a replace of `existing` by `obj`: returns the object to store and the revision the
/// client expects (from its `metadata.resourceVersion`; `None` for an unconditional update).
pub fn prepare_update(
    def: &ResourceDef,
    namespace: Option<&str>,
    name: &str,
    mut obj: Value,
    existing: &Value,
) -> Result<(Value, Option<u64>), Status> {
    agree(def, namespace, &mut obj)?;
    let meta = obj["metadata"]
        .as_object_mut()
        .ok_or_else(|| Status::bad_request("metadata must be an object".into()))?;
    match meta.get("name").and_then(Value::as_str) {
        Some(n) if n != name => {
            return Err(Status::bad_request(format!(
                "the name of the object ({n}) does not match the name on the URL ({name})"
            )));
        }
        _ => {}
    }
    let expected = match meta.remove("resourceVersion") {
        Some(Value::String(rv)) if !rv.is_empty() => Some(rv.parse::<u64>().map_err(|_| {
            invalid(
                def,
                name,
                "metadata.resourceVersion",
                "FieldValueInvalid",
                format!("Invalid value: {rv:?}: must be a number"),
            )
        })?),
        _ => None,
    };
    // What the server owns is kept from the stored object.
    for field in [
        "uid",
        "creationTimestamp",
        "generation",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
    ] {
        match existing["metadata"].get(field) {
            Some(v) => {
                meta.insert(field.into(), v.clone());
            }
            None => {
                meta.remove(field);
            }
        }
    }
    meta.insert("name".into(), json!(name));
    if obj.get("spec").is_some() && obj.get("spec") != existing.get("spec") {
        let generation = existing["metadata"]["generation"].as_i64().unwrap_or(0) + 1;
        obj["metadata"]["generation"] = json!(generation);
    }
    crate::defaults::apply(def, &mut obj);
    check_kind(def, name, &obj)?;
    Ok((obj, expected))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::registry::Registry;

    fn reg() -> Registry {
        Registry::builtin()
    }

    #[test]
    fn names_follow_rfc_1123() {
        assert_eq!(name_problem("web-1", false), None);
        assert_eq!(name_problem("a.b.c", false), None);
        assert!(name_problem("Web", false).is_some());
        assert!(name_problem("-a", false).is_some());
        assert!(name_problem("a..b", false).is_some());
        assert!(name_problem("a.b", true).is_some());
        assert!(name_problem(&"a".repeat(64), true).is_some());
    }

    #[test]
    fn creates_fill_in_what_the_server_owns() {
        let r = reg();
        let cm = r.get("", "v1", "configmaps").unwrap();
        let body = json!({"metadata": {"generateName": "cfg-", "resourceVersion": "5"}, "data": {"a": "b"}});
        let (name, obj) =
            prepare_create(cm, Some("default"), body, "u1", "2026-01-01T00:00:00Z", "abcde")
                .unwrap();
        assert_eq!(name, "cfg-abcde");
        assert_eq!(obj["kind"], "ConfigMap");
        assert_eq!(obj["apiVersion"], "v1");
        assert_eq!(obj["metadata"]["namespace"], "default");
        assert_eq!(obj["metadata"]["uid"], "u1");
        assert!(obj["metadata"].get("resourceVersion").is_none());
        let deploy = r.get("apps", "v1", "deployments").unwrap();
        let (_, d) = prepare_create(
            deploy,
            Some("a"),
            json!({"metadata": {"name": "w"}, "spec": {}}),
            "u",
            "t",
            "x",
        )
        .unwrap();
        assert_eq!(d["metadata"]["generation"], 1);
    }

    #[test]
    fn creates_refuse_mismatches_and_bad_names() {
        let r = reg();
        let cm = r.get("", "v1", "configmaps").unwrap();
        let err =
            |body: Value| prepare_create(cm, Some("default"), body, "u", "t", "x").unwrap_err();
        assert_eq!(err(json!({"kind": "Secret", "metadata": {"name": "a"}})).code, 400);
        assert_eq!(err(json!({"apiVersion": "apps/v1", "metadata": {"name": "a"}})).code, 400);
        assert_eq!(err(json!({"metadata": {"name": "a", "namespace": "other"}})).code, 400);
        let missing = err(json!({"metadata": {}}));
        assert_eq!(missing.code, 422);
        assert_eq!(
            missing.message,
            "ConfigMap \"\" is invalid: metadata.name: Required value: name or generateName is required"
        );
        let bad = err(json!({"metadata": {"name": "Bad_Name"}}));
        assert_eq!(bad.code, 422);
        assert!(bad.message.starts_with("ConfigMap \"Bad_Name\" is invalid: metadata.name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain"));
        assert_eq!(err(json!([1, 2])).code, 400);
    }

    #[test]
    fn updates_keep_server_fields_and_bump_generation_on_spec_changes() {
        let r = reg();
        let deploy = r.get("apps", "v1", "deployments").unwrap();
        let existing = json!({"metadata": {"name": "w", "uid": "u1", "creationTimestamp": "t0", "generation": 3}, "spec": {"replicas": 1}});
        let body = json!({"metadata": {"name": "w", "uid": "forged", "resourceVersion": "12"}, "spec": {"replicas": 2}});
        let (obj, expected) = prepare_update(deploy, Some("a"), "w", body, &existing).unwrap();
        assert_eq!(expected, Some(12));
        assert_eq!(obj["metadata"]["uid"], "u1");
        assert_eq!(obj["metadata"]["generation"], 4);
        let same = json!({"metadata": {"name": "w"}, "spec": {"replicas": 1}});
        let (obj, expected) = prepare_update(deploy, Some("a"), "w", same, &existing).unwrap();
        assert_eq!((expected, obj["metadata"]["generation"].as_i64()), (None, Some(3)));
        assert_eq!(
            prepare_update(deploy, Some("a"), "w", json!({"metadata": {"name": "x"}}), &existing)
                .unwrap_err()
                .code,
            400
        );
    }
}
