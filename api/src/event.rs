//! Events (`core/v1 Event`) as upstream components record them, which `kubectl describe` lists
//! for an object (`involvedObject.*` field selectors) and `kubectl get events` shows.

use serde_json::{Value, json};

/// `Normal` or `Warning`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Normal,
    Warning,
}

impl EventType {
    fn as_str(self) -> &'static str {
        match self {
            EventType::Normal => "Normal",
            EventType::Warning => "Warning",
        }
    }
}

/// What happened to `involved`, reported by `component`.
#[derive(Debug, Clone)]
pub struct EventSpec<'a> {
    pub kind: EventType,
    pub reason: &'a str,
    pub message: String,
    /// `deployment-controller`, `kubelet`, ...
    pub component: &'a str,
    /// The node, for node-local components.
    pub host: Option<&'a str>,
}

/// The Event for `spec` about `involved` (an object as stored) at `now` (RFC 3339), `nanos`
/// making its name unique (`<object>.<hex>`, as upstream names events). Events about
/// cluster-scoped objects go to `default`.
pub fn event(involved: &Value, spec: &EventSpec<'_>, now: &str, nanos: u128) -> Value {
    let meta = &involved["metadata"];
    let name = meta["name"].as_str().unwrap_or("unknown");
    let namespace = meta["namespace"].as_str().unwrap_or("default");
    let mut reference = json!({
        "apiVersion": involved["apiVersion"],
        "kind": involved["kind"],
        "name": name,
        "uid": meta["uid"],
        "resourceVersion": meta["resourceVersion"],
    });
    if let Some(ns) = meta["namespace"].as_str() {
        reference["namespace"] = json!(ns);
    }
    let mut source = json!({"component": spec.component});
    if let Some(host) = spec.host {
        source["host"] = json!(host);
    }
    json!({
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": format!("{name}.{nanos:x}"), "namespace": namespace},
        "involvedObject": reference,
        "reason": spec.reason,
        "message": spec.message,
        "source": source,
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
        "type": spec.kind.as_str(),
        "eventTime": null,
        "reportingComponent": spec.component,
        "reportingInstance": spec.host.unwrap_or(""),
    })
}

/// Has `event` outlived `ttl_seconds` at `now_unix`?
pub fn expired(event: &Value, now: time::OffsetDateTime, ttl_seconds: i64) -> bool {
    let last = event["lastTimestamp"]
        .as_str()
        .or(event["eventTime"].as_str())
        .or(event["metadata"]["creationTimestamp"].as_str())
        .and_then(|t| {
            time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()
        });
    last.is_some_and(|t| (now - t).whole_seconds() > ttl_seconds)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn events_name_their_object_and_source() {
        let deploy = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "prod", "uid": "u1", "resourceVersion": "7"}});
        let spec = EventSpec {
            kind: EventType::Normal,
            reason: "ScalingReplicaSet",
            message: "Scaled up replica set web-abc from 0 to 3".into(),
            component: "deployment-controller",
            host: None,
        };
        let e = event(&deploy, &spec, "2026-01-01T00:00:00Z", 0xabc);
        assert_eq!(e["metadata"], json!({"name": "web.abc", "namespace": "prod"}));
        assert_eq!(e["involvedObject"]["kind"], "Deployment");
        assert_eq!(e["involvedObject"]["uid"], "u1");
        assert_eq!(e["source"]["component"], "deployment-controller");
        assert_eq!(e["type"], "Normal");
        let node =
            json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1", "uid": "u2"}});
        let e = event(&node, &spec, "2026-01-01T00:00:00Z", 1);
        assert_eq!(e["metadata"]["namespace"], "default");
        assert!(e["involvedObject"].get("namespace").is_none());
    }

    #[test]
    fn events_expire_after_their_ttl() {
        let e = json!({"lastTimestamp": "2026-01-01T00:00:00Z"});
        let at = |t| {
            time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).unwrap()
        };
        assert!(!expired(&e, at("2026-01-01T00:59:00Z"), 3600));
        assert!(expired(&e, at("2026-01-01T01:00:01Z"), 3600));
    }
}
