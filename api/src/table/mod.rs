//! Server-side tables (`meta.k8s.io/v1 Table`), which `kubectl get` prints. Every row carries the
//! object's metadata (`PartialObjectMetadata`): kubectl takes NAMESPACE and LABELS from it.

use std::borrow::Cow;

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

mod core;
mod custom;
mod jsonpath;
mod other;
mod workloads;

/// One column: its definition and how to compute its cell.
pub(crate) struct Column {
    pub(crate) name: Cow<'static, str>,
    pub(crate) kind: Cow<'static, str>,
    pub(crate) format: Cow<'static, str>,
    /// 0: always shown; 1: only with `-o wide`.
    pub(crate) priority: u8,
    pub(crate) cell: Cell,
}

/// How a cell is computed.
pub(crate) enum Cell {
    Fn(fn(&Value, OffsetDateTime) -> Value),
    /// A custom resource's column: a JSONPath, rendered by type.
    Path {
        path: String,
        kind: String,
    },
}

impl Column {
    pub(crate) const fn new(
        name: &'static str,
        kind: &'static str,
        priority: u8,
        cell: fn(&Value, OffsetDateTime) -> Value,
    ) -> Self {
        Column {
            name: Cow::Borrowed(name),
            kind: Cow::Borrowed(kind),
            format: Cow::Borrowed(""),
            priority,
            cell: Cell::Fn(cell),
        }
    }

    fn value(&self, obj: &Value, now: OffsetDateTime) -> Value {
        match &self.cell {
            Cell::Fn(f) => f(obj, now),
            Cell::Path { path, kind } => custom::cell(obj, path, kind, now),
        }
    }
}

fn name(obj: &Value, _: OffsetDateTime) -> Value {
    obj["metadata"]["name"].clone()
}

/// `creationTimestamp` as an age.
pub(crate) fn age(obj: &Value, now: OffsetDateTime) -> Value {
    json!(age_of(obj["metadata"]["creationTimestamp"].as_str(), now))
}

/// An RFC 3339 time as an age (`<unknown>` when absent).
pub(crate) fn age_of(time: Option<&str>, now: OffsetDateTime) -> String {
    parse_time(time)
        .map_or_else(|| "<unknown>".to_owned(), |t| human_duration((now - t).whole_seconds()))
}

pub(crate) fn parse_time(time: Option<&str>) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(time?, &time::format_description::well_known::Rfc3339).ok()
}

pub(crate) const NAME: Column = Column {
    name: Cow::Borrowed("Name"),
    kind: Cow::Borrowed("string"),
    format: Cow::Borrowed("name"),
    priority: 0,
    cell: Cell::Fn(name),
};
pub(crate) const AGE: Column = Column::new("Age", "string", 0, age);

/// The columns upstream prints for a resource (Name and Age for those not described).
fn columns(def: &ResourceDef) -> Vec<Column> {
    if def.custom {
        return custom::columns(def);
    }
    core::columns(def)
        .or_else(|| workloads::columns(def))
        .or_else(|| other::columns(def))
        .unwrap_or_else(|| vec![NAME, AGE])
}

/// `<none>` for an empty text, as upstream prints missing values.
pub(crate) fn or_none(s: String) -> Value {
    json!(if s.is_empty() { "<none>".to_owned() } else { s })
}

/// `k=v,k2=v2` of a string map, sorted (label selectors, node selectors).
pub(crate) fn pairs(map: &Value) -> String {
    let mut items: Vec<String> = map
        .as_object()
        .map(|m| m.iter().map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default())).collect())
        .unwrap_or_default();
    items.sort();
    items.join(",")
}

/// A `LabelSelector` as `kubectl` formats it (`app=web,tier in (a,b)`), `<none>` when empty.
pub(crate) fn selector(sel: &Value) -> Value {
    let mut parts = vec![];
    if !pairs(&sel["matchLabels"]).is_empty() {
        parts.push(pairs(&sel["matchLabels"]));
    }
    for e in sel["matchExpressions"].as_array().into_iter().flatten() {
        let key = e["key"].as_str().unwrap_or_default();
        let values: Vec<&str> =
            e["values"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
        parts.push(match e["operator"].as_str().unwrap_or_default() {
            "In" => format!("{key} in ({})", values.join(",")),
            "NotIn" => format!("{key} notin ({})", values.join(",")),
            "Exists" => key.to_owned(),
            "DoesNotExist" => format!("!{key}"),
            op => format!("{key} {op} ({})", values.join(",")),
        });
    }
    or_none(parts.join(","))
}

/// Containers' names and images of a pod template spec (wide workload columns).
pub(crate) fn containers(spec: &Value) -> (String, String) {
    let list = spec["containers"].as_array().cloned().unwrap_or_default();
    let names: Vec<&str> = list.iter().filter_map(|c| c["name"].as_str()).collect();
    let images: Vec<&str> = list.iter().filter_map(|c| c["image"].as_str()).collect();
    (names.join(","), images.join(","))
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
            let cells: Vec<Value> = columns.iter().map(|c| c.value(obj, now)).collect();
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

/// Ages as kubectl shows them (`45s`, `3m20s`, `3m`, `5h`, `3d2h`), after upstream's
/// `duration.HumanDuration`: a zero remainder is left out, and a time more than a second in the
/// future is `<invalid>`.
pub fn human_duration(seconds: i64) -> String {
    if seconds < -1 {
        return "<invalid>".to_owned();
    }
    let s = seconds.max(0);
    let (m, h) = (s / 60, s / 3600);
    let d = h / 24;
    let with = |big: i64, unit: &str, small: i64, small_unit: &str| {
        if small == 0 { format!("{big}{unit}") } else { format!("{big}{unit}{small}{small_unit}") }
    };
    match s {
        _ if s < 120 => format!("{s}s"),
        _ if m < 10 => with(m, "m", s % 60, "s"),
        _ if m < 180 => format!("{m}m"),
        _ if h < 8 => with(h, "h", m % 60, "m"),
        _ if h < 48 => format!("{h}h"),
        _ if h < 24 * 8 => with(d, "d", h % 24, "h"),
        _ if h < 24 * 365 * 2 => format!("{d}d"),
        _ if h < 24 * 365 * 8 => with(d / 365, "y", d % 365, "d"),
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
        assert_eq!(t["rows"][0]["cells"], json!(["default", "Active", "5h"]));
        assert_eq!(t["rows"][0]["object"]["metadata"]["uid"], "u1");
        assert_eq!(t["columnDefinitions"][1]["name"], "Status");
        assert_eq!(t["metadata"]["resourceVersion"], "9");
    }

    #[test]
    fn ages_read_like_kubectls() {
        assert_eq!(human_duration(-5), "<invalid>");
        assert_eq!(human_duration(-1), "0s");
        assert_eq!(human_duration(45), "45s");
        assert_eq!(human_duration(180), "3m");
        assert_eq!(human_duration(200), "3m20s");
        assert_eq!(human_duration(3600 * 2), "120m");
        assert_eq!(human_duration(3600 * 5), "5h");
        assert_eq!(human_duration(3600 * 5 + 60 * 7), "5h7m");
        assert_eq!(human_duration(3600 * 30), "30h");
        assert_eq!(human_duration(86400 * 3), "3d");
        assert_eq!(human_duration(86400 * 3 + 7200), "3d2h");
        assert_eq!(human_duration(86400 * 400), "400d");
        assert_eq!(human_duration(86400 * 365 * 3), "3y");
        assert_eq!(human_duration(86400 * (365 * 3 + 5)), "3y5d");
    }
}
