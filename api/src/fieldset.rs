//! Field sets: which fields of an object a field manager owns, as server-side apply tracks them
//! in `metadata.managedFields[].fieldsV1`.
//!
//! A set holds paths. A path ends at a leaf (a scalar, an atomic list, an empty object), at a
//! member of a set-like list (`v:"value"`), or at an element of a keyed list (`k:{"name":"c"}`),
//! which stands for the element itself (`.` in the JSON form). Lists are keyed the way
//! strategic merge patch keys them (`smp::strategy`), so apply and strategic merge agree on
//! which element is which.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use crate::smp::{Strategy, strategy};

/// One step of a path.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Seg {
    /// `f:name`: a field of an object.
    Field(String),
    /// `k:{"name":"nginx"}`: the element of a keyed list with this key (compact JSON).
    Key(String),
    /// `v:"value"`: a member of a set-like list (compact JSON).
    Value(String),
    /// `i:3`: a position (only read from stored sets; never produced).
    Index(usize),
}

pub type Path = Vec<Seg>;

/// Fields of `metadata` that belong to the server, never to a manager.
const SERVER_METADATA: &[&str] = &[
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "managedFields",
    "selfLink",
];

/// A set of owned paths.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSet(BTreeSet<Path>);

impl FieldSet {
    /// Every field `obj` (an object of `kind`) sets, leaving out what the server owns
    /// (`apiVersion`, `kind`, server metadata, `status`).
    pub fn of(kind: &str, obj: &Value) -> Self {
        let mut set = BTreeSet::new();
        if let Value::Object(m) = obj {
            for (k, v) in m {
                match k.as_str() {
                    "apiVersion" | "kind" | "status" => {}
                    "metadata" => {
                        let Value::Object(meta) = v else { continue };
                        let mut path = vec![Seg::Field(k.clone())];
                        let mut names = vec![k.clone()];
                        for (mk, mv) in meta {
                            if !SERVER_METADATA.contains(&mk.as_str()) {
                                walk(kind, &mut names, &mut path, mk, mv, &mut set);
                            }
                        }
                    }
                    _ => walk(kind, &mut Vec::new(), &mut Vec::new(), k, v, &mut set),
                }
            }
        }
        FieldSet(set)
    }

    /// Read a stored `fieldsV1`.
    pub fn from_json(v: &Value) -> Self {
        let mut set = BTreeSet::new();
        read(v, &mut Vec::new(), &mut set);
        FieldSet(set)
    }

    /// The `fieldsV1` form.
    pub fn to_json(&self) -> Value {
        let mut root = Map::new();
        for path in &self.0 {
            let element = matches!(path.last(), Some(Seg::Key(_)));
            insert(&mut root, path, element);
        }
        Value::Object(root)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn contains(&self, path: &Path) -> bool {
        self.0.contains(path)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Path> {
        self.0.iter()
    }

    pub fn insert(&mut self, path: Path) {
        self.0.insert(path);
    }

    pub fn remove(&mut self, path: &Path) {
        self.0.remove(path);
    }

    /// The paths of `self` that `other` does not have.
    pub fn difference(&self, other: &FieldSet) -> FieldSet {
        FieldSet(self.0.difference(&other.0).cloned().collect())
    }
}

fn insert(node: &mut Map<String, Value>, path: &[Seg], element: bool) {
    match path.split_first() {
        None if element => {
            node.insert(".".into(), json!({}));
        }
        None => {}
        Some((seg, rest)) => {
            if let Value::Object(child) = node.entry(seg_key(seg)).or_insert_with(|| json!({})) {
                insert(child, rest, element);
            }
        }
    }
}

fn walk(
    kind: &str,
    names: &mut Vec<String>,
    path: &mut Path,
    field: &str,
    value: &Value,
    set: &mut BTreeSet<Path>,
) {
    path.push(Seg::Field(field.to_owned()));
    match value {
        Value::Object(m) if !m.is_empty() => {
            names.push(field.to_owned());
            for (k, v) in m {
                walk(kind, names, path, k, v, set);
            }
            names.pop();
        }
        Value::Array(items) => match strategy(kind, names, field) {
            Strategy::ByKey(key) if items.iter().all(|i| i.get(key).is_some()) => {
                names.push(field.to_owned());
                for item in items {
                    path.push(Seg::Key(key_of(key, item)));
                    set.insert(path.clone());
                    if let Value::Object(m) = item {
                        for (k, v) in m {
                            walk(kind, names, path, k, v, set);
                        }
                    }
                    path.pop();
                }
                names.pop();
            }
            Strategy::Union => {
                for item in items {
                    path.push(Seg::Value(item.to_string()));
                    set.insert(path.clone());
                    path.pop();
                }
            }
            _ => {
                set.insert(path.clone());
            }
        },
        _ => {
            set.insert(path.clone());
        }
    }
    path.pop();
}

/// The `k:` form of an element's key.
fn key_of(key: &str, item: &Value) -> String {
    let mut m = Map::new();
    m.insert(key.to_owned(), item.get(key).cloned().unwrap_or(Value::Null));
    Value::Object(m).to_string()
}

fn seg_key(seg: &Seg) -> String {
    match seg {
        Seg::Field(f) => format!("f:{f}"),
        Seg::Key(k) => format!("k:{k}"),
        Seg::Value(v) => format!("v:{v}"),
        Seg::Index(i) => format!("i:{i}"),
    }
}

fn read(node: &Value, path: &mut Path, set: &mut BTreeSet<Path>) {
    let Value::Object(m) = node else { return };
    for (k, child) in m {
        if k == "." {
            set.insert(path.clone());
            continue;
        }
        let seg = match k.split_once(':') {
            Some(("f", f)) => Seg::Field(f.to_owned()),
            Some(("k", key)) => Seg::Key(key.to_owned()),
            Some(("v", v)) => Seg::Value(v.to_owned()),
            Some(("i", i)) => match i.parse() {
                Ok(i) => Seg::Index(i),
                Err(_) => continue,
            },
            _ => continue,
        };
        path.push(seg);
        if child.as_object().is_some_and(Map::is_empty) {
            set.insert(path.clone());
        } else {
            read(child, path, set);
        }
        path.pop();
    }
}

/// Does the list element `item` match the key `k:` form `key`?
fn matches_key(item: &Value, key: &str) -> bool {
    let Ok(Value::Object(want)) = serde_json::from_str::<Value>(key) else { return false };
    want.iter().all(|(k, v)| item.get(k) == Some(v))
}

/// The value at `path` in `obj`.
pub fn get<'v>(obj: &'v Value, path: &Path) -> Option<&'v Value> {
    let mut at = obj;
    for seg in path {
        at = match seg {
            Seg::Field(f) => at.get(f)?,
            Seg::Key(k) => at.as_array()?.iter().find(|i| matches_key(i, k))?,
            Seg::Value(v) => {
                let want: Value = serde_json::from_str(v).ok()?;
                at.as_array()?.iter().find(|i| **i == want)?
            }
            Seg::Index(i) => at.get(*i)?,
        };
    }
    Some(at)
}

/// Remove what `path` names from `obj` (a field, a keyed element, a set member).
pub fn remove(obj: &mut Value, path: &Path) {
    let Some((last, parent)) = path.split_last() else { return };
    let mut at = obj;
    for seg in parent {
        let next = match seg {
            Seg::Field(f) => at.get_mut(f),
            Seg::Key(k) => at.as_array_mut().and_then(|a| a.iter_mut().find(|i| matches_key(i, k))),
            Seg::Value(_) | Seg::Index(_) => None,
        };
        let Some(next) = next else { return };
        at = next;
    }
    match last {
        Seg::Field(f) => {
            if let Value::Object(m) = at {
                m.remove(f);
            }
        }
        Seg::Key(k) => {
            if let Value::Array(items) = at {
                items.retain(|i| !matches_key(i, k));
            }
        }
        Seg::Value(v) => {
            if let (Value::Array(items), Ok(want)) = (at, serde_json::from_str::<Value>(v)) {
                items.retain(|i| *i != want);
            }
        }
        Seg::Index(_) => {}
    }
}

/// A path as upstream prints it in conflicts: `.spec.template.spec.containers[name="nginx"].image`.
pub fn display(path: &Path) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            Seg::Field(f) => {
                out.push('.');
                out.push_str(f);
            }
            Seg::Key(k) => {
                let parts: Vec<String> = match serde_json::from_str::<Value>(k) {
                    Ok(Value::Object(m)) => m.iter().map(|(k, v)| format!("{k}={v}")).collect(),
                    _ => vec![k.clone()],
                };
                out.push_str(&format!("[{}]", parts.join(",")));
            }
            Seg::Value(v) => out.push_str(&format!("[={v}]")),
            Seg::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn deployment() -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "uid": "u", "labels": {"app": "web"}, "finalizers": ["f"]},
            "spec": {"replicas": 2, "template": {"spec": {
                "containers": [{"name": "nginx", "image": "nginx", "args": ["a"]}],
                "volumes": [{"name": "v", "emptyDir": {}}]}}},
            "status": {"replicas": 2}
        })
    }

    #[test]
    fn sets_list_leaves_keyed_elements_and_set_members() {
        let set = FieldSet::of("Deployment", &deployment());
        let shown: Vec<String> = set.iter().map(display).collect();
        assert_eq!(
            shown,
            [
                ".metadata.finalizers[=\"f\"]",
                ".metadata.labels.app",
                ".spec.replicas",
                ".spec.template.spec.containers[name=\"nginx\"]",
                ".spec.template.spec.containers[name=\"nginx\"].args",
                ".spec.template.spec.containers[name=\"nginx\"].image",
                ".spec.template.spec.containers[name=\"nginx\"].name",
                ".spec.template.spec.volumes[name=\"v\"]",
                ".spec.template.spec.volumes[name=\"v\"].emptyDir",
                ".spec.template.spec.volumes[name=\"v\"].name",
            ]
        );
    }

    #[test]
    fn the_json_form_round_trips_and_marks_elements_with_a_dot() {
        let set = FieldSet::of("Deployment", &deployment());
        let j = set.to_json();
        let c = &j["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"nginx\"}"];
        assert_eq!(c["."], json!({}));
        assert_eq!(c["f:image"], json!({}));
        assert_eq!(j["f:metadata"]["f:finalizers"]["v:\"f\""], json!({}));
        assert_eq!(FieldSet::from_json(&j), set);
    }

    #[test]
    fn paths_resolve_and_remove() {
        let mut d = deployment();
        let set = FieldSet::of("Deployment", &d);
        let image = set.iter().find(|p| display(p).ends_with(".image")).unwrap().clone();
        assert_eq!(get(&d, &image), Some(&json!("nginx")));
        let element = set.iter().find(|p| display(p).ends_with("[name=\"v\"]")).unwrap().clone();
        remove(&mut d, &element);
        assert_eq!(d["spec"]["template"]["spec"]["volumes"], json!([]));
        let member = set.iter().find(|p| display(p).contains("finalizers")).unwrap().clone();
        remove(&mut d, &member);
        assert_eq!(d["metadata"]["finalizers"], json!([]));
    }
}
