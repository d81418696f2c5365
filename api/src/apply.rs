//! Server-side apply (`PATCH` with `application/apply-patch+yaml`): the body is the caller's
//! whole intent for the fields it manages.
//!
//! The configuration is merged into the live object with strategic-merge list semantics; the
//! fields the manager applied last time and no longer states are removed unless another manager
//! also owns them; a field another manager owns with a different value is a conflict (409,
//! upstream's message and causes) unless the caller forces it, which takes the field over.
//! The object is created when it does not exist.

use serde_json::Value;

use crate::Status;
use crate::fieldset::{self, FieldSet, Path, Seg};
use crate::managed::{self, APPLY, Entry, UPDATE};
use crate::registry::ResourceDef;
use crate::status::{Cause, Target};

/// Who applies, and how.
#[derive(Debug, Clone, Copy)]
pub struct Applier<'a> {
    pub manager: &'a str,
    pub force: bool,
    /// `apps/v1`: recorded with the entry.
    pub api_version: &'a str,
    pub now: &'a str,
}

/// Check that `config` is for this resource and this object; 400 otherwise.
pub fn check(
    def: &ResourceDef,
    namespace: Option<&str>,
    name: &str,
    config: &Value,
) -> Result<(), Status> {
    if !config.is_object() {
        return Err(Status::bad_request("an apply configuration must be an object".into()));
    }
    let (api_version, kind) = (config["apiVersion"].as_str(), config["kind"].as_str());
    if api_version != Some(def.group_version().as_str()) || kind != Some(def.kind.as_str()) {
        return Err(Status::bad_request(format!(
            "the apply configuration is for {} {}, not {} {}",
            api_version.unwrap_or("<no apiVersion>"),
            kind.unwrap_or("<no kind>"),
            def.group_version(),
            def.kind
        )));
    }
    match config["metadata"]["name"].as_str() {
        Some(n) if n == name => {}
        Some(n) => {
            return Err(Status::bad_request(format!(
                "the name of the object ({n}) does not match the name on the URL ({name})"
            )));
        }
        None => return Err(Status::bad_request("metadata.name: Required value".into())),
    }
    if let (Some(ns), Some(url)) = (config["metadata"]["namespace"].as_str(), namespace)
        && ns != url
    {
        return Err(Status::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request"
                .into(),
        ));
    }
    Ok(())
}

/// The object to create when nothing exists yet: the configuration, owned by the applier.
pub fn create(def: &ResourceDef, config: &Value, who: &Applier<'_>) -> Value {
    let mut obj = config.clone();
    let mut entry = Entry::new(who.manager, APPLY, who.api_version, who.now);
    entry.fields = FieldSet::of(&def.kind, config);
    managed::write(&mut obj, &[entry]);
    obj
}

/// The live object after applying `config`, or the conflicts as a 409.
pub fn update(
    def: &ResourceDef,
    live: &Value,
    config: &Value,
    who: &Applier<'_>,
) -> Result<Value, Status> {
    let kind = def.kind.as_str();
    let mut entries = managed::read(live);
    let wanted = FieldSet::of(kind, config);

    let mut conflicts: Vec<(usize, Path)> = Vec::new();
    for path in wanted.iter() {
        if matches!(path.last(), Some(Seg::Key(_))) {
            continue;
        }
        let same = fieldset::get(live, path) == fieldset::get(config, path);
        for (i, e) in entries.iter().enumerate() {
            if e.manager != who.manager && e.fields.contains(path) && !same {
                conflicts.push((i, path.clone()));
            }
        }
    }
    if !conflicts.is_empty() {
        if !who.force {
            return Err(conflict(def, live, &entries, &conflicts));
        }
        for (i, path) in &conflicts {
            entries[*i].fields.remove(path);
        }
    }

    let mut merged = crate::smp::apply(kind, live, &strip_server_fields(config))?;
    let previous = entries
        .iter()
        .find(|e| e.is(who.manager, APPLY))
        .map(|e| e.fields.clone())
        .unwrap_or_default();
    let owned = |path: &Path| {
        wanted.contains(path)
            || entries.iter().any(|e| !e.is(who.manager, APPLY) && e.fields.contains(path))
    };
    for path in previous.difference(&wanted).iter() {
        if owned(path) {
            continue;
        }
        fieldset::remove(&mut merged, path);
        // A map or list left empty by the removal goes too, unless someone states it empty.
        for n in (2..path.len()).rev() {
            let parent = path[..n].to_vec();
            let empty = match fieldset::get(&merged, &parent) {
                Some(Value::Object(m)) => m.is_empty(),
                Some(Value::Array(a)) => a.is_empty(),
                _ => false,
            };
            if !empty || owned(&parent) {
                break;
            }
            fieldset::remove(&mut merged, &parent);
        }
    }

    match entries.iter_mut().find(|e| e.is(who.manager, APPLY)) {
        Some(e) => {
            e.fields = wanted;
            e.time = who.now.to_owned();
            e.api_version = who.api_version.to_owned();
        }
        None => {
            let mut e = Entry::new(who.manager, APPLY, who.api_version, who.now);
            e.fields = wanted;
            entries.push(e);
        }
    }
    managed::write(&mut merged, &entries);
    Ok(merged)
}

/// The configuration without what the server owns (it must not overwrite uid, revision, ...).
fn strip_server_fields(config: &Value) -> Value {
    let mut c = config.clone();
    if let Some(meta) = c.get_mut("metadata").and_then(Value::as_object_mut) {
        for k in ["uid", "resourceVersion", "generation", "creationTimestamp", "managedFields"] {
            meta.remove(k);
        }
    }
    c
}

/// How upstream names a manager in conflicts: `"kubectl"`, or `"kubectl-edit" using apps/v1`
/// for an update.
fn manager(e: &Entry) -> String {
    let mut s = format!("{:?}", e.manager);
    if let Some(sub) = &e.subresource {
        s.push_str(&format!(" with subresource {sub:?}"));
    }
    if e.operation == UPDATE {
        s.push_str(&format!(" using {}", e.api_version));
    }
    s
}

fn conflict(def: &ResourceDef, live: &Value, entries: &[Entry], found: &[(usize, Path)]) -> Status {
    let causes: Vec<Cause> = found
        .iter()
        .map(|(i, p)| Cause {
            reason: "FieldManagerConflict".into(),
            message: format!("conflict with {}", manager(&entries[*i])),
            field: fieldset::display(p),
        })
        .collect();
    let message = if let [(i, p)] = found {
        format!(
            "Apply failed with 1 conflict: conflict with {}: {}",
            manager(&entries[*i]),
            fieldset::display(p)
        )
    } else {
        let mut managers: Vec<String> = found.iter().map(|(i, _)| manager(&entries[*i])).collect();
        managers.sort();
        managers.dedup();
        let mut lines = Vec::new();
        for m in &managers {
            lines.push(format!("conflicts with {m}:"));
            for (i, p) in found {
                if manager(&entries[*i]) == *m {
                    lines.push(format!("- {}", fieldset::display(p)));
                }
            }
        }
        format!("Apply failed with {} conflicts: {}", found.len(), lines.join("\n"))
    };
    let name = live["metadata"]["name"].as_str().unwrap_or("");
    Status::apply_conflict(
        Target { resource: &def.plural, group: &def.group, name },
        message,
        causes,
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::registry::Registry;

    fn def() -> ResourceDef {
        Registry::builtin().get("apps", "v1", "deployments").unwrap().clone()
    }

    fn config(replicas: u32, image: &str) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
               "metadata": {"name": "web", "labels": {"app": "web"}},
               "spec": {"replicas": replicas, "template": {"spec": {"containers": [
                   {"name": "nginx", "image": image}]}}}})
    }

    fn who(manager: &str, force: bool) -> Applier<'_> {
        Applier { manager, force, api_version: "apps/v1", now: "2026-01-01T00:00:00Z" }
    }

    #[test]
    fn the_first_apply_owns_everything_it_states() {
        let obj = create(&def(), &config(1, "nginx"), &who("kubectl", false));
        let e = managed::read(&obj);
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].operation, "Apply");
        assert!(e[0].fields.iter().any(|p| fieldset::display(p) == ".spec.replicas"));
    }

    #[test]
    fn reapplying_changes_fields_and_removes_what_is_no_longer_stated() {
        let live = create(&def(), &config(1, "nginx"), &who("kubectl", false));
        let mut next = config(2, "nginx:2");
        next["metadata"]["labels"] = json!({});
        let out = update(&def(), &live, &next, &who("kubectl", false)).unwrap();
        assert_eq!(out["spec"]["replicas"], 2);
        assert_eq!(out["spec"]["template"]["spec"]["containers"][0]["image"], "nginx:2");
        assert_eq!(out["metadata"]["labels"], json!({}), "the dropped label is removed");
    }

    #[test]
    fn another_managers_field_with_a_different_value_conflicts_unless_forced() {
        let live = create(&def(), &config(1, "nginx"), &who("alice", false));
        let err = update(&def(), &live, &config(3, "nginx"), &who("bob", false)).unwrap_err();
        assert_eq!(err.code, 409);
        assert_eq!(
            err.message,
            "Apply failed with 1 conflict: conflict with \"alice\": .spec.replicas"
        );
        let details = err.details.as_ref().unwrap();
        assert_eq!(details.causes[0].field, ".spec.replicas");

        let same = update(&def(), &live, &config(1, "nginx"), &who("bob", false)).unwrap();
        assert_eq!(managed::read(&same).len(), 2, "equal values are shared");

        let forced = update(&def(), &live, &config(3, "nginx"), &who("bob", true)).unwrap();
        assert_eq!(forced["spec"]["replicas"], 3);
        let alice = managed::read(&forced).into_iter().find(|e| e.manager == "alice").unwrap();
        assert!(!alice.fields.iter().any(|p| fieldset::display(p) == ".spec.replicas"));
    }

    #[test]
    fn configurations_must_name_this_object() {
        let d = def();
        assert!(check(&d, Some("default"), "web", &config(1, "x")).is_ok());
        assert_eq!(check(&d, Some("default"), "other", &config(1, "x")).unwrap_err().code, 400);
        let mut wrong = config(1, "x");
        wrong["kind"] = json!("Pod");
        assert_eq!(check(&d, Some("default"), "web", &wrong).unwrap_err().code, 400);
        wrong = config(1, "x");
        wrong["metadata"]["namespace"] = json!("kube-system");
        assert_eq!(check(&d, Some("default"), "web", &wrong).unwrap_err().code, 400);
    }
}
