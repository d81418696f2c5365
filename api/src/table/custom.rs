//! Custom resources' columns: Name, then the CRD version's `additionalPrinterColumns` (each a
//! JSONPath rendered by its type; `date` as an age), or Age when it declares none.

use std::borrow::Cow;

use serde_json::{Value, json};
use time::OffsetDateTime;

use super::{AGE, Cell, Column, NAME, age_of, jsonpath};
use crate::registry::ResourceDef;

pub(super) fn columns(def: &ResourceDef) -> Vec<Column> {
    if def.printer_columns.is_empty() {
        return vec![NAME, AGE];
    }
    let mut cols = vec![NAME];
    for c in &def.printer_columns {
        let kind = c["type"].as_str().unwrap_or("string").to_owned();
        cols.push(Column {
            name: Cow::Owned(c["name"].as_str().unwrap_or("").to_owned()),
            kind: Cow::Owned(kind.clone()),
            format: Cow::Owned(c["format"].as_str().unwrap_or("").to_owned()),
            priority: u8::try_from(c["priority"].as_u64().unwrap_or(0)).unwrap_or(1).min(1),
            cell: Cell::Path { path: c["jsonPath"].as_str().unwrap_or("").to_owned(), kind },
        });
    }
    cols
}

/// A cell: the first value the path names (as upstream), rendered for the column's type (lists
/// and maps as compact JSON); `null` when the path names nothing.
pub(super) fn cell(obj: &Value, path: &str, kind: &str, now: OffsetDateTime) -> Value {
    let found = jsonpath::find(obj, path);
    let Some(first) = found.first() else { return Value::Null };
    match kind {
        "date" => match first.as_str() {
            Some(t) => json!(age_of(Some(t), now)),
            None => Value::Null,
        },
        "integer" | "number" | "boolean" => first.clone(),
        _ => json!(match first {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        }),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn printer_columns_follow_the_crd() {
        let mut def =
            ResourceDef::custom("example.com", "v1", "CronTab", "crontabs", "crontab", true);
        assert_eq!(
            columns(&def).iter().map(|c| c.name.as_ref()).collect::<Vec<_>>(),
            ["Name", "Age"]
        );
        def.printer_columns = vec![
            json!({"name": "Spec", "type": "string", "jsonPath": ".spec.cronSpec"}),
            json!({"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas", "priority": 1}),
            json!({"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}),
        ];
        let cols = columns(&def);
        assert_eq!(
            cols.iter().map(|c| c.name.as_ref()).collect::<Vec<_>>(),
            ["Name", "Spec", "Replicas", "Age"]
        );
        assert_eq!(cols[2].priority, 1);
        let obj = json!({"metadata": {"name": "c", "creationTimestamp": "2026-01-01T00:00:00Z"},
                         "spec": {"cronSpec": "*/5 * * * *", "replicas": 2}});
        let now = super::super::parse_time(Some("2026-01-01T00:05:00Z")).unwrap();
        let cells: Vec<Value> = cols.iter().map(|c| c.value(&obj, now)).collect();
        assert_eq!(cells, [json!("c"), json!("*/5 * * * *"), json!(2), json!("5m")]);
        let bare = json!({"metadata": {"name": "d"}});
        assert_eq!(cols[1].value(&bare, now), Value::Null);
    }
}
