//! Selectors on lists and watches. Label selectors (`-l`): `k=v`, `k==v`, `k!=v`,
//! `k in (a,b)`, `k notin (a,b)`, `k`, `!k`, comma-separated, all terms must hold. Field
//! selectors: `field=value`, `field!=value` on the fields upstream supports for each resource.

use serde_json::Value;

use crate::registry::ResourceDef;

/// The fields every resource can be selected by.
const COMMON_FIELDS: &[&str] = &["metadata.name", "metadata.namespace"];

/// The extra fields upstream lets a resource be selected by.
fn resource_fields(def: &ResourceDef) -> &'static [&'static str] {
    match (def.group.as_str(), def.plural.as_str()) {
        ("", "pods") => &[
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.nominatedNodeName",
        ],
        ("", "events") => &[
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
        ],
        ("", "secrets") => &["type"],
        ("", "nodes") => &["spec.unschedulable"],
        ("", "namespaces") => &["status.phase"],
        ("apps", "replicasets") => &["status.replicas"],
        ("batch", "jobs") => &["status.successful"],
        _ => &[],
    }
}

/// A parsed field selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldSelector {
    terms: Vec<(String, bool, String)>,
}

impl FieldSelector {
    /// Parse `text` for resource `def`; a field it cannot be selected by is an error with
    /// upstream's wording.
    pub fn parse(def: &ResourceDef, text: &str) -> Result<Self, String> {
        let mut terms = Vec::new();
        for term in text.split(',').filter(|t| !t.is_empty()) {
            let (field, equal, value) = if let Some((f, v)) = term.split_once("!=") {
                (f, false, v)
            } else if let Some((f, v)) = term.split_once("==").or_else(|| term.split_once('=')) {
                (f, true, v)
            } else {
                return Err(format!("invalid field selector {term:?}"));
            };
            let field = field.trim();
            if !COMMON_FIELDS.contains(&field) && !resource_fields(def).contains(&field) {
                return Err(format!("field label not supported: {field}"));
            }
            terms.push((field.to_owned(), equal, value.trim().to_owned()));
        }
        Ok(FieldSelector { terms })
    }

    pub fn matches(&self, obj: &Value) -> bool {
        self.terms.iter().all(|(field, equal, value)| (field_value(obj, field) == *value) == *equal)
    }
}

/// The text a field compares as: strings as they are, numbers and booleans printed, missing
/// fields empty. An event's `source` is its `source.component`.
fn field_value(obj: &Value, field: &str) -> String {
    let path = if field == "source" { "source.component" } else { field };
    let v = path.split('.').fold(obj, |v, part| &v[part]);
    match v {
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        _ if field == "spec.unschedulable" || field == "spec.hostNetwork" => "false".into(),
        _ => String::new(),
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Term {
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    DoesNotExist(String),
}

/// A parsed label selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelSelector {
    terms: Vec<Term>,
}

impl LabelSelector {
    pub fn parse(text: &str) -> Result<Self, String> {
        let bad = || format!("unable to parse requirement: invalid label selector {text:?}");
        let mut terms = Vec::new();
        for raw in split_terms(text) {
            let t = raw.trim();
            if t.is_empty() {
                continue;
            }
            let term = if let Some(k) = t.strip_prefix('!') {
                Term::DoesNotExist(key(k.trim()).ok_or_else(bad)?)
            } else if let Some((k, v)) = t.split_once("!=") {
                Term::NotIn(key(k.trim()).ok_or_else(bad)?, vec![v.trim().to_owned()])
            } else if let Some((k, v)) = t.split_once("==").or_else(|| t.split_once('=')) {
                Term::In(key(k.trim()).ok_or_else(bad)?, vec![v.trim().to_owned()])
            } else if let Some((k, set)) = split_set(t, " notin ") {
                Term::NotIn(key(k).ok_or_else(bad)?, set.ok_or_else(bad)?)
            } else if let Some((k, set)) = split_set(t, " in ") {
                Term::In(key(k).ok_or_else(bad)?, set.ok_or_else(bad)?)
            } else {
                Term::Exists(key(t).ok_or_else(bad)?)
            };
            terms.push(term);
        }
        Ok(LabelSelector { terms })
    }

    /// Does the object's `metadata.labels` satisfy every term?
    pub fn matches(&self, obj: &Value) -> bool {
        let labels = &obj["metadata"]["labels"];
        let get = |k: &str| labels.get(k).and_then(Value::as_str);
        self.terms.iter().all(|t| match t {
            Term::In(k, vs) => get(k).is_some_and(|v| vs.iter().any(|x| x == v)),
            Term::NotIn(k, vs) => get(k).is_none_or(|v| !vs.iter().any(|x| x == v)),
            Term::Exists(k) => get(k).is_some(),
            Term::DoesNotExist(k) => get(k).is_none(),
        })
    }
}

/// The selectors of one request: field and label, both must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selectors {
    pub field: Option<FieldSelector>,
    pub label: Option<LabelSelector>,
}

impl Selectors {
    /// From the `fieldSelector` and `labelSelector` query values of a request on `def`.
    pub fn parse(
        def: &ResourceDef,
        field: Option<&str>,
        label: Option<&str>,
    ) -> Result<Self, String> {
        Ok(Selectors {
            field: field
                .filter(|f| !f.is_empty())
                .map(|f| FieldSelector::parse(def, f))
                .transpose()?,
            label: label.filter(|l| !l.is_empty()).map(LabelSelector::parse).transpose()?,
        })
    }

    pub fn matches(&self, obj: &Value) -> bool {
        self.field.as_ref().is_none_or(|f| f.matches(obj))
            && self.label.as_ref().is_none_or(|l| l.matches(obj))
    }
}

/// Split on commas that are not inside parentheses.
fn split_terms(text: &str) -> Vec<&str> {
    let (mut out, mut depth, mut start) = (Vec::new(), 0i32, 0);
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&text[start..]);
    out
}

/// `key <op> (a, b)`: the key and the values (None if the set is malformed).
fn split_set<'a>(term: &'a str, op: &str) -> Option<(&'a str, Option<Vec<String>>)> {
    let (k, rest) = term.split_once(op)?;
    let set = rest.trim().strip_prefix('(').and_then(|r| r.strip_suffix(')')).map(|inner| {
        inner.split(',').map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()).collect()
    });
    Some((k.trim(), set))
}

/// A label key: optional DNS prefix and a name of letters, digits, `-`, `_`, `.`.
fn key(k: &str) -> Option<String> {
    let valid = !k.is_empty()
        && k.chars().all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
        && k.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
    valid.then(|| k.to_owned())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    fn obj(labels: Value) -> Value {
        json!({"metadata": {"labels": labels}})
    }

    #[test]
    fn equality_and_set_terms() {
        let o = obj(json!({"app": "web", "tier": "front"}));
        let m = |s: &str| LabelSelector::parse(s).unwrap().matches(&o);
        assert!(m("app=web"));
        assert!(m("app==web,tier"));
        assert!(!m("app!=web"));
        assert!(m("app in (web, api)"));
        assert!(!m("app notin (web)"));
        assert!(m("!missing"));
        assert!(!m("missing"));
        assert!(m("missing!=x"));
        assert!(m(""));
        assert!(!LabelSelector::parse("app=web").unwrap().matches(&json!({"metadata": {}})));
    }

    #[test]
    fn field_selectors_know_each_resources_fields() {
        let r = crate::registry::Registry::builtin();
        let pods = r.get("", "v1", "pods").unwrap();
        let events = r.get("", "v1", "events").unwrap();
        let cms = r.get("", "v1", "configmaps").unwrap();
        let pod = json!({"metadata": {"name": "a", "namespace": "ns"}, "spec": {"nodeName": "n1"}, "status": {"phase": "Running"}});
        let m = |d, s: &str| FieldSelector::parse(d, s).unwrap().matches(&pod);
        assert!(m(pods, "metadata.name=a"));
        assert!(m(pods, "metadata.name==a,metadata.namespace=ns"));
        assert!(!m(pods, "metadata.name!=a"));
        assert!(m(pods, "spec.nodeName=n1,status.phase!=Pending"));
        assert!(!m(pods, "spec.nodeName="));
        assert!(m(pods, "spec.hostNetwork=false"));
        assert_eq!(
            FieldSelector::parse(cms, "spec.nodeName=x").unwrap_err(),
            "field label not supported: spec.nodeName"
        );
        assert!(FieldSelector::parse(pods, "junk").is_err());
        let ev = json!({"involvedObject": {"name": "web-0", "uid": "u"}, "source": {"component": "kubelet"}});
        let sel = FieldSelector::parse(
            events,
            "involvedObject.name=web-0,involvedObject.uid=u,source=kubelet",
        )
        .unwrap();
        assert!(sel.matches(&ev));
    }

    #[test]
    fn malformed_selectors_are_errors() {
        for bad in ["=web", "app in web", "a b", "(x)"] {
            assert!(LabelSelector::parse(bad).is_err(), "{bad}");
        }
    }
}
