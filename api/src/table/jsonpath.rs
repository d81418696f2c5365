//! The JSONPath subset CRD printer columns use: `.a.b`, `['a.b']`, `[0]`, `[*]` and filters
//! `[?(@.type=="Ready")]` (with `==` or `!=` against a string or number). An optional `{...}`
//! wrapper is accepted. A path that names nothing yields nothing.

use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
enum Step {
    Field(String),
    Index(usize),
    All,
    Filter { key: Vec<String>, equal: bool, value: Value },
}

fn parse(path: &str) -> Option<Vec<Step>> {
    let p = path.trim();
    let p = p.strip_prefix('{').and_then(|p| p.strip_suffix('}')).unwrap_or(p);
    let p = p.strip_prefix('$').unwrap_or(p);
    let chars: Vec<char> = p.chars().collect();
    let mut steps = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '.' => {
                let start = i + 1;
                i = start;
                while i < chars.len() && chars[i] != '.' && chars[i] != '[' {
                    i += 1;
                }
                let name: String = chars[start..i].iter().collect();
                if !name.is_empty() {
                    steps.push(Step::Field(name));
                }
            }
            '[' => {
                let end = chars[i..].iter().position(|c| *c == ']')? + i;
                let inner: String = chars[i + 1..end].iter().collect();
                steps.push(bracket(inner.trim())?);
                i = end + 1;
            }
            _ => return None,
        }
    }
    Some(steps)
}

fn bracket(inner: &str) -> Option<Step> {
    if inner == "*" {
        return Some(Step::All);
    }
    if let Ok(n) = inner.parse() {
        return Some(Step::Index(n));
    }
    if let Some(quoted) = inner.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')) {
        return Some(Step::Field(quoted.to_owned()));
    }
    let cond = inner.strip_prefix("?(")?.strip_suffix(')')?.trim();
    let (lhs, rhs, equal) = match cond.split_once("==") {
        Some((l, r)) => (l, r, true),
        None => {
            let (l, r) = cond.split_once("!=")?;
            (l, r, false)
        }
    };
    let key: Vec<String> = lhs.trim().strip_prefix("@.")?.split('.').map(str::to_owned).collect();
    let rhs = rhs.trim();
    let value = match rhs.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
        Some(s) => Value::String(s.to_owned()),
        None => match rhs.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')) {
            Some(s) => Value::String(s.to_owned()),
            None => serde_json::from_str(rhs).ok()?,
        },
    };
    Some(Step::Filter { key, equal, value })
}

/// Every value `path` names in `obj` (empty for a bad path or no match).
pub fn find(obj: &Value, path: &str) -> Vec<Value> {
    let Some(steps) = parse(path) else { return Vec::new() };
    let mut current = vec![obj];
    for step in &steps {
        let mut next = Vec::new();
        for v in current {
            match step {
                Step::Field(f) => next.extend(v.get(f)),
                Step::Index(i) => next.extend(v.get(*i)),
                Step::All => match v {
                    Value::Array(a) => next.extend(a.iter()),
                    Value::Object(m) => next.extend(m.values()),
                    _ => {}
                },
                Step::Filter { key, equal, value } => {
                    for item in v.as_array().into_iter().flatten() {
                        let got = key.iter().try_fold(item, |at, k| at.get(k));
                        if (got == Some(value)) == *equal {
                            next.push(item);
                        }
                    }
                }
            }
        }
        current = next;
    }
    current.into_iter().cloned().collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn paths_fields_indices_wildcards_and_filters() {
        let o = json!({"spec": {"cronSpec": "* * * * *", "list": [{"n": 1}, {"n": 2}],
            "labels": {"a.b/c": "x"}},
            "status": {"conditions": [{"type": "Ready", "status": "True"}, {"type": "Other", "status": "False"}]}});
        assert_eq!(find(&o, ".spec.cronSpec"), [json!("* * * * *")]);
        assert_eq!(find(&o, "{.spec.list[1].n}"), [json!(2)]);
        assert_eq!(find(&o, ".spec.list[*].n"), [json!(1), json!(2)]);
        assert_eq!(find(&o, ".spec.labels['a.b/c']"), [json!("x")]);
        assert_eq!(find(&o, r#".status.conditions[?(@.type=="Ready")].status"#), [json!("True")]);
        assert_eq!(find(&o, r#".status.conditions[?(@.status!="True")].type"#), [json!("Other")]);
        assert!(find(&o, ".spec.missing").is_empty());
        assert!(find(&o, "spec").is_empty(), "a path starts with a dot");
    }
}
