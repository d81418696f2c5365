//! Watch events as the API streams them: one JSON object per line,
//! `{"type":"ADDED|MODIFIED|DELETED|BOOKMARK|ERROR","object":...}`.

use k3rs_store::{Event, EventKind, KeyValue, Revision};
use serde_json::{Value, json};

use crate::Status;
use crate::objects::from_store;
use crate::registry::ResourceDef;
use crate::selector::Selectors;

/// The object an event carries: the new state, or for a delete the last state, stamped with the
/// event's revision. `None` if the stored bytes are unreadable.
pub fn event_object(ev: &Event) -> Option<(&'static str, Value)> {
    let (kind, kv) = match ev.kind {
        EventKind::Create => ("ADDED", ev.kv.clone()),
        EventKind::Update => ("MODIFIED", ev.kv.clone()),
        EventKind::Delete => {
            let prev = ev.prev.as_ref()?;
            ("DELETED", KeyValue { mod_revision: ev.kv.mod_revision, ..prev.clone() })
        }
    };
    from_store(&kv).ok().map(|obj| (kind, obj))
}

/// A watch event line, or `None` when the selector filters it out. A `MODIFIED` object that
/// stops matching the selector is reported as `DELETED`, one that starts matching as `ADDED`,
/// as upstream's watch cache does.
pub fn event_line(ev: &Event, selector: &Selectors) -> Option<(&'static str, Value)> {
    let (kind, obj) = event_object(ev)?;
    let now = selector.matches(&obj);
    let before =
        ev.prev.as_ref().and_then(|p| from_store(p).ok()).is_some_and(|p| selector.matches(&p));
    match (kind, before, now) {
        ("MODIFIED", true, false) => Some(("DELETED", obj)),
        ("MODIFIED", false, true) => Some(("ADDED", obj)),
        ("DELETED", true, _) => Some((kind, obj)),
        (_, _, true) => Some((kind, obj)),
        _ => None,
    }
}

/// `{"type": kind, "object": object}` followed by a newline.
pub fn frame(kind: &str, object: &Value) -> Vec<u8> {
    let mut line = serde_json::to_vec(&json!({"type": kind, "object": object})).unwrap_or_default();
    line.push(b'\n');
    line
}

/// A bookmark: the revision everything up to has been sent.
pub fn bookmark(def: &ResourceDef, revision: Revision) -> Vec<u8> {
    frame(
        "BOOKMARK",
        &json!({"kind": def.kind, "apiVersion": def.group_version(), "metadata": {"resourceVersion": revision.to_string()}}),
    )
}

/// An error event (the stream then ends): what a watch from compacted history receives.
pub fn error(status: &Status) -> Vec<u8> {
    frame("ERROR", &serde_json::to_value(status).unwrap_or(Value::Null))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn kv(name: &str, rev: Revision) -> KeyValue {
        KeyValue {
            key: format!("/registry/core/configmaps/default/{name}"),
            value: serde_json::to_vec(&json!({"metadata": {"name": name, "namespace": "default"}}))
                .unwrap(),
            create_revision: 1,
            mod_revision: rev,
        }
    }

    #[test]
    fn deletes_carry_the_last_state_at_the_delete_revision() {
        let ev = Event {
            kind: EventKind::Delete,
            kv: KeyValue { value: vec![], ..kv("a", 9) },
            prev: Some(kv("a", 4)),
        };
        let (kind, obj) = event_object(&ev).unwrap();
        assert_eq!(kind, "DELETED");
        assert_eq!(obj["metadata"]["resourceVersion"], "9");
        assert_eq!(obj["metadata"]["name"], "a");
    }

    #[test]
    fn selectors_filter_events() {
        let sel = Selectors::parse(
            crate::registry::Registry::builtin().get("", "v1", "pods").unwrap(),
            Some("metadata.name=a"),
            None,
        )
        .unwrap();
        let add_a = Event { kind: EventKind::Create, kv: kv("a", 2), prev: None };
        let add_b = Event { kind: EventKind::Create, kv: kv("b", 3), prev: None };
        assert_eq!(event_line(&add_a, &sel).unwrap().0, "ADDED");
        assert!(event_line(&add_b, &sel).is_none());
        let line = frame("ADDED", &json!({"x": 1}));
        assert_eq!(line, b"{\"object\":{\"x\":1},\"type\":\"ADDED\"}\n");
    }
}
