//! Server-side tables (`meta.k8s.io/v1 Table`), which `kubectl get` prints. Every row carries the
//! object's metadata (`PartialObjectMetadata`): kubectl takes NAMESPACE and LABELS from it.

use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::registry::ResourceDef;

/// Does this `Accept` header ask for a Table?
pub fn wants_table(accept: &str) -> bool {
    accept.split(',').any(|range| {
        let params: Vec<&str> = range.split(';').map(str::trim).collect();
        params.contains(&"as=Table") && params.contains(&"g=meta.k8s.io")
    })
}

struct Column {
    name: &'static str,
    kind: &'static str,
    format: &'static str,
    priority: u8,
    cell: fn(&Value, OffsetDateTime) -> Value,
}

fn name(obj: &Value, _: OffsetDateTime) -> Value {
    obj["metadata"]["name"].clone()
}

fn age(obj: &Value, now: OffsetDateTime) -> Value {
    let created = obj["metadata"]["creationTimestamp"].as_str().and_then(|t| {
        OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()
    });
    json!(
        created
            .map_or_else(|| "<unknown>".to_owned(), |c| human_duration((now - c).whole_seconds()))
    )
}

fn phase(obj: &Value, _: OffsetDateTime) -> Value {
    obj["status"]["phase"].clone()
}

const NAME: Column =
    Column { name: "Name", kind: "string", format: "name", priority: 0, cell: name };
const AGE: Column = Column { name: "Age", kind: "string", format: "", priority: 0, cell: age };

/// The columns upstream prints for a resource (Name and Age for those not described yet).
fn columns(def: &ResourceDef) -> Vec<Column> {
    match (def.group.as_str(), def.plural.as_str()) {
        ("", "namespaces") => {
            vec![
                NAME,
                Column { name: "Status", kind: "string", format: "", priority: 0, cell: phase },
                AGE,
            ]
        }
        _ => vec![NAME, AGE],
    }
}

/// A table of `objects`; `resource_version` goes in its metadata.
pub fn table(
    def: &ResourceDef,
    objects: &[Value],
    resource_version: &str,
    now: OffsetDateTime,
) -> Value {
    let columns = columns(def);
    let definitions: Vec<Value> = columns
        .iter()
        .map(|c| json!({"name": c.name, "type": c.kind, "format": c.format, "description": "", "priority": c.priority}))
        .collect();
    let rows: Vec<Value> = objects
        .iter()
        .map(|obj| {
            let cells: Vec<Value> = columns.iter().map(|c| (c.cell)(obj, now)).collect();
            json!({
                "cells": cells,
                "object": {
                    "kind": "PartialObjectMetadata",
                    "apiVersion": "meta.k8s.io/v1",
                    "metadata": obj["metadata"].clone(),
                },
            })
        })
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": definitions,
        "rows": rows,
    })
}

/// Ages as kubectl shows them (`45s`, `3m20s`, `5h0m`, `3d`), after upstream's `HumanDuration`.
pub fn human_duration(seconds: i64) -> String {
    let s = seconds.max(0);
    let (m, h, d) = (s / 60, s / 3600, s / 86400);
    match s {
        _ if s < 120 => format!("{s}s"),
        _ if m < 10 => format!("{m}m{}s", s % 60),
        _ if h < 3 => format!("{m}m"),
        _ if h < 8 => format!("{h}h{}m", m % 60),
        _ if h < 48 => format!("{h}h"),
        _ if h < 24 * 8 => {
            let rest = h % 24;
            if rest == 0 { format!("{d}d") } else { format!("{d}d{rest}h") }
        }
        _ if h < 24 * 365 * 2 => format!("{d}d"),
        _ if h < 24 * 365 * 8 => format!("{}y{}d", d / 365, d % 365),
        _ => format!("{}y", d / 365),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::objects::namespace;
    use crate::registry::Registry;

    #[test]
    fn kubectls_accept_header_asks_for_tables() {
        assert!(wants_table(
            "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"
        ));
        assert!(!wants_table("application/json"));
    }

    #[test]
    fn namespace_rows_have_name_status_age_and_metadata() {
        let r = Registry::builtin();
        let now = OffsetDateTime::parse(
            "2026-01-01T05:00:00Z",
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap();
        let t = table(
            r.get("", "v1", "namespaces").unwrap(),
            &[namespace("default", "u1", "2026-01-01T00:00:00Z")],
            "9",
            now,
        );
        assert_eq!(t["rows"][0]["cells"], json!(["default", "Active", "5h0m"]));
        assert_eq!(t["rows"][0]["object"]["metadata"]["uid"], "u1");
        assert_eq!(t["columnDefinitions"][1]["name"], "Status");
        assert_eq!(t["metadata"]["resourceVersion"], "9");
    }

    #[test]
    fn ages_read_like_kubectls() {
        assert_eq!(human_duration(45), "45s");
        assert_eq!(human_duration(200), "3m20s");
        assert_eq!(human_duration(3600 * 2), "120m");
        assert_eq!(human_duration(3600 * 5), "5h0m");
        assert_eq!(human_duration(3600 * 30), "30h");
        assert_eq!(human_duration(86400 * 3), "3d");
        assert_eq!(human_duration(86400 * 3 + 7200), "3d2h");
        assert_eq!(human_duration(86400 * 400), "400d");
    }
}
