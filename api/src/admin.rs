//! The admin summary (`/admin/status`): servers, the datastore, and nodes by condition, built
//! from objects and figures the caller reads.

use serde_json::{Value, json};

/// Figures about the datastore.
#[derive(Debug, Clone, PartialEq)]
pub struct DatastoreFigures {
    pub backend: &'static str,
    pub revision: u64,
    pub commits: u64,
    pub writes: u64,
    /// Mean commit time, milliseconds.
    pub mean_commit_ms: f64,
    pub last_commit_ms: f64,
    pub failure: Option<String>,
}

/// The Ready condition's status of a node (`True`, `False`, `Unknown`), `Unknown` if missing.
fn readiness(node: &Value) -> &str {
    node["status"]["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == "Ready"))
        .and_then(|c| c["status"].as_str())
        .unwrap_or("Unknown")
}

/// `/admin/status`.
pub fn status(servers: &[String], datastore: &DatastoreFigures, nodes: &[Value]) -> Value {
    let mut ready = Vec::new();
    let mut not_ready = Vec::new();
    let mut unknown = Vec::new();
    for n in nodes {
        let name = n["metadata"]["name"].clone();
        match readiness(n) {
            "True" => ready.push(name),
            "False" => not_ready.push(name),
            _ => unknown.push(name),
        }
    }
    json!({
        "servers": servers,
        "datastore": {
            "backend": datastore.backend,
            "revision": datastore.revision,
            "commits": datastore.commits,
            "writes": datastore.writes,
            "meanCommitMilliseconds": datastore.mean_commit_ms,
            "lastCommitMilliseconds": datastore.last_commit_ms,
            "failure": datastore.failure,
        },
        "nodes": {
            "total": nodes.len(),
            "ready": ready,
            "notReady": not_ready,
            "unknown": unknown,
        },
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn nodes_are_grouped_by_their_ready_condition() {
        let node = |name: &str, ready: &str| json!({"metadata": {"name": name}, "status": {"conditions": [{"type": "Ready", "status": ready}]}});
        let figures = DatastoreFigures {
            backend: "sled",
            revision: 9,
            commits: 3,
            writes: 4,
            mean_commit_ms: 0.5,
            last_commit_ms: 0.25,
            failure: None,
        };
        let s = status(
            &["127.0.0.1:6443".into()],
            &figures,
            &[node("a", "True"), node("b", "Unknown"), json!({"metadata": {"name": "c"}})],
        );
        assert_eq!(s["nodes"]["ready"], json!(["a"]));
        assert_eq!(s["nodes"]["unknown"], json!(["b", "c"]));
        assert_eq!(s["datastore"]["backend"], "sled");
        assert_eq!(s["servers"][0], "127.0.0.1:6443");
    }
}
