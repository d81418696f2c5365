//! Label selectors (`-l`): `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`, `k`, `!k`,
//! comma-separated, all terms must hold.

use serde_json::Value;

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
    pub field: Option<crate::objects::FieldSelector>,
    pub label: Option<LabelSelector>,
}

impl Selectors {
    /// From the `fieldSelector` and `labelSelector` query values.
    pub fn parse(field: Option<&str>, label: Option<&str>) -> Result<Self, String> {
        Ok(Selectors {
            field: field
                .filter(|f| !f.is_empty())
                .map(crate::objects::FieldSelector::parse)
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
    fn malformed_selectors_are_errors() {
        for bad in ["=web", "app in web", "a b", "(x)"] {
            assert!(LabelSelector::parse(bad).is_err(), "{bad}");
        }
    }
}
