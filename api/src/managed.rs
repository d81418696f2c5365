//! `metadata.managedFields`: which field manager set which fields, by which operation.
//!
//! Every write through the API records its manager (`?fieldManager=`, else the client's
//! user-agent name): an `Update` entry takes the fields the write changed away from whoever
//! held them. Server-side apply (`apply.rs`) keeps one `Apply` entry per manager with exactly
//! the fields of its last configuration. A write that sets `managedFields` itself (kubectl
//! does, when it moves an object from client-side to server-side apply) is taken as given.

use serde_json::{Value, json};

use crate::fieldset::{self, FieldSet};

pub const APPLY: &str = "Apply";
pub const UPDATE: &str = "Update";

/// One `managedFields` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub manager: String,
    pub operation: String,
    pub api_version: String,
    pub time: String,
    pub subresource: Option<String>,
    pub fields: FieldSet,
}

impl Entry {
    pub fn new(manager: &str, operation: &str, api_version: &str, time: &str) -> Self {
        Entry {
            manager: manager.to_owned(),
            operation: operation.to_owned(),
            api_version: api_version.to_owned(),
            time: time.to_owned(),
            subresource: None,
            fields: FieldSet::default(),
        }
    }

    fn to_json(&self) -> Value {
        let mut v = json!({
            "manager": self.manager,
            "operation": self.operation,
            "apiVersion": self.api_version,
            "time": self.time,
            "fieldsType": "FieldsV1",
            "fieldsV1": self.fields.to_json(),
        });
        if let Some(s) = &self.subresource {
            v["subresource"] = json!(s);
        }
        v
    }

    fn from_json(v: &Value) -> Option<Self> {
        let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
        Some(Entry {
            manager: v.get("manager")?.as_str()?.to_owned(),
            operation: s("operation"),
            api_version: s("apiVersion"),
            time: s("time"),
            subresource: v.get("subresource").and_then(Value::as_str).map(str::to_owned),
            fields: v.get("fieldsV1").map(FieldSet::from_json).unwrap_or_default(),
        })
    }

    pub fn is(&self, manager: &str, operation: &str) -> bool {
        self.manager == manager && self.operation == operation && self.subresource.is_none()
    }
}

/// The entries stored in `obj`.
pub fn read(obj: &Value) -> Vec<Entry> {
    obj["metadata"]["managedFields"]
        .as_array()
        .map(|a| a.iter().filter_map(Entry::from_json).collect())
        .unwrap_or_default()
}

/// Store `entries` in `obj`, leaving out those that own nothing any more.
pub fn write(obj: &mut Value, entries: &[Entry]) {
    let kept: Vec<Value> =
        entries.iter().filter(|e| !e.fields.is_empty()).map(Entry::to_json).collect();
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        if kept.is_empty() {
            meta.remove("managedFields");
        } else {
            meta.insert("managedFields".into(), Value::Array(kept));
        }
    }
}

/// The manager a request names: `?fieldManager=`, else the client's name from its user agent
/// (`kubectl` from `kubectl/v1.32.0 (linux/amd64) ...`), as upstream defaults it.
pub fn manager_name(field_manager: Option<&str>, user_agent: Option<&str>) -> Option<String> {
    if let Some(m) = field_manager.filter(|m| !m.is_empty()) {
        return Some(m.to_owned());
    }
    let agent = user_agent?.split('/').next()?.trim();
    (!agent.is_empty()).then(|| agent.chars().take(128).collect())
}

/// Record a non-apply write by `manager`: `old` is the stored object (`Null` for a create),
/// `new` the object about to be stored, which gets the updated `managedFields`.
pub fn record_update(
    kind: &str,
    old: &Value,
    new: &mut Value,
    manager: &str,
    api_version: &str,
    now: &str,
) {
    let given = &new["metadata"]["managedFields"];
    let explicit = given.as_array().is_some_and(|a| !a.is_empty())
        && *given != old["metadata"]["managedFields"];
    if explicit {
        return;
    }
    let mut entries = read(old);
    let before = FieldSet::of(kind, old);
    let after = FieldSet::of(kind, new);
    let mut changed = FieldSet::default();
    for path in after.iter() {
        let element = matches!(path.last(), Some(fieldset::Seg::Key(_)));
        let differs = if element {
            !before.contains(path)
        } else {
            fieldset::get(old, path) != fieldset::get(new, path)
        };
        if differs {
            changed.insert(path.clone());
        }
    }
    let removed = before.difference(&after);
    if changed.is_empty() && removed.is_empty() {
        write(new, &entries);
        return;
    }
    for e in &mut entries {
        for p in changed.iter().chain(removed.iter()) {
            e.fields.remove(p);
        }
    }
    let at = match entries.iter().position(|e| e.is(manager, UPDATE)) {
        Some(i) => i,
        None => {
            entries.push(Entry::new(manager, UPDATE, api_version, now));
            entries.len() - 1
        }
    };
    let entry = &mut entries[at];
    entry.time = now.to_owned();
    entry.api_version = api_version.to_owned();
    for p in changed.iter() {
        entry.fields.insert(p.clone());
    }
    write(new, &entries);
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn cm(data: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": data})
    }

    #[test]
    fn creates_and_updates_record_who_changed_what() {
        let mut created = cm(json!({"a": "1", "b": "2"}));
        record_update("ConfigMap", &Value::Null, &mut created, "kubectl-create", "v1", "t1");
        let e = read(&created);
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].manager, "kubectl-create");
        assert_eq!(e[0].operation, "Update");
        assert_eq!(created["metadata"]["managedFields"][0]["fieldsV1"]["f:data"]["f:a"], json!({}));

        let mut edited = created.clone();
        edited["data"]["b"] = json!("3");
        record_update("ConfigMap", &created, &mut edited, "kubectl-edit", "v1", "t2");
        let e = read(&edited);
        assert_eq!(e.len(), 2);
        let shown = |e: &Entry| e.fields.iter().map(fieldset::display).collect::<Vec<_>>();
        assert_eq!(shown(&e[0]), [".data.a"]);
        assert_eq!(shown(&e[1]), [".data.b"]);
    }

    #[test]
    fn entries_that_own_nothing_are_dropped_and_explicit_sets_are_kept() {
        let mut created = cm(json!({"a": "1"}));
        record_update("ConfigMap", &Value::Null, &mut created, "one", "v1", "t1");
        let mut next = created.clone();
        next["data"]["a"] = json!("2");
        record_update("ConfigMap", &created, &mut next, "two", "v1", "t2");
        assert_eq!(read(&next).len(), 1);
        assert_eq!(read(&next)[0].manager, "two");

        let mut explicit = next.clone();
        explicit["metadata"]["managedFields"] = json!([{"manager": "mine", "operation": "Apply"}]);
        let before = explicit.clone();
        record_update("ConfigMap", &next, &mut explicit, "three", "v1", "t3");
        assert_eq!(explicit, before);
    }

    #[test]
    fn managers_come_from_the_parameter_or_the_user_agent() {
        assert_eq!(manager_name(Some("m"), Some("kubectl/v1.32")), Some("m".into()));
        assert_eq!(
            manager_name(None, Some("kubectl/v1.32.0 (linux/amd64) kubernetes/abc")),
            Some("kubectl".into())
        );
        assert_eq!(manager_name(None, None), None);
    }
}
