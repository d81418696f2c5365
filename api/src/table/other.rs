//! Columns of the remaining built-ins: leases, endpoint slices, network policies, RBAC, CRDs.

use serde_json::{Value, json};
use time::OffsetDateTime;

use super::core::text;
use super::{AGE, Column, NAME, or_none};
use crate::registry::ResourceDef;

fn created_at(obj: &Value, _: OffsetDateTime) -> Value {
    obj["metadata"]["creationTimestamp"].clone()
}

const CREATED_AT: Column = Column::new("Created At", "date", 0, created_at);

pub(super) fn columns(def: &ResourceDef) -> Option<Vec<Column>> {
    Some(match (def.group.as_str(), def.plural.as_str()) {
        ("coordination.k8s.io", "leases") => vec![
            NAME,
            Column::new("Holder", "string", 0, |l, _| json!(text(&l["spec"]["holderIdentity"]))),
            AGE,
        ],
        ("discovery.k8s.io", "endpointslices") => vec![
            NAME,
            Column::new("AddressType", "string", 0, |s, _| json!(text(&s["addressType"]))),
            Column::new("Ports", "string", 0, slice_ports),
            Column::new("Endpoints", "string", 0, slice_endpoints),
            AGE,
        ],
        ("networking.k8s.io", "networkpolicies") => vec![
            NAME,
            Column::new("Pod-Selector", "string", 0, |p, _| {
                json!(label_selector(&p["spec"]["podSelector"]))
            }),
            AGE,
        ],
        ("rbac.authorization.k8s.io", "roles" | "clusterroles")
        | ("apiextensions.k8s.io", "customresourcedefinitions") => vec![NAME, CREATED_AT],
        ("rbac.authorization.k8s.io", "rolebindings" | "clusterrolebindings") => vec![
            NAME,
            Column::new("Role", "string", 0, |b, _| {
                json!(format!("{}/{}", text(&b["roleRef"]["kind"]), text(&b["roleRef"]["name"])))
            }),
            AGE,
            Column::new("Users", "string", 1, |b, _| subjects(b, "User")),
            Column::new("Groups", "string", 1, |b, _| subjects(b, "Group")),
            Column::new("ServiceAccounts", "string", 1, |b, _| subjects(b, "ServiceAccount")),
        ],
        _ => return None,
    })
}

/// A label selector as upstream prints one (`app=web,tier in (a,b)`; `<none>` when empty).
fn label_selector(sel: &Value) -> String {
    let mut parts: Vec<String> = sel["matchLabels"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", text(v)))
        .collect();
    for e in sel["matchExpressions"].as_array().into_iter().flatten() {
        let key = text(&e["key"]);
        let values: Vec<String> = e["values"].as_array().into_iter().flatten().map(text).collect();
        parts.push(match text(&e["operator"]).as_str() {
            "In" => format!("{key} in ({})", values.join(",")),
            "NotIn" => format!("{key} notin ({})", values.join(",")),
            "Exists" => key,
            "DoesNotExist" => format!("!{key}"),
            op => format!("{key} {op}"),
        });
    }
    if parts.is_empty() { "<none>".to_owned() } else { parts.join(",") }
}

fn subjects(binding: &Value, kind: &str) -> Value {
    let names: Vec<String> = binding["subjects"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| s["kind"] == kind)
        .map(|s| match (kind, s["namespace"].as_str()) {
            ("ServiceAccount", Some(ns)) => format!("{ns}/{}", text(&s["name"])),
            _ => text(&s["name"]),
        })
        .collect();
    json!(names.join(", "))
}

fn slice_ports(s: &Value, _: OffsetDateTime) -> Value {
    let ports: Vec<String> = s["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["port"].as_i64().map(|n| n.to_string()))
        .collect();
    json!(if ports.is_empty() { "<unset>".to_owned() } else { ports.join(",") })
}

fn slice_endpoints(s: &Value, _: OffsetDateTime) -> Value {
    let mut all: Vec<String> = s["endpoints"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|e| e["addresses"].as_array().cloned().unwrap_or_default())
        .map(|a| text(&a))
        .collect();
    if all.len() > 3 {
        let more = all.len() - 3;
        all.truncate(3);
        return json!(format!("{} + {more} more...", all.join(",")));
    }
    or_none(all.join(","))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn bindings_name_their_role_and_subjects() {
        let r = crate::registry::Registry::builtin();
        let def = r.resources().iter().find(|d| d.plural == "rolebindings").unwrap().clone();
        let b = json!({"metadata": {"name": "b"}, "roleRef": {"kind": "ClusterRole", "name": "view"},
            "subjects": [{"kind": "User", "name": "alice"}, {"kind": "ServiceAccount", "name": "sa", "namespace": "ns"}]});
        let now = OffsetDateTime::UNIX_EPOCH;
        let cells: Vec<Value> = columns(&def).unwrap().iter().map(|c| c.value(&b, now)).collect();
        assert_eq!(cells[1], "ClusterRole/view");
        assert_eq!(cells[3..], [json!("alice"), json!(""), json!("ns/sa")]);
    }
}
