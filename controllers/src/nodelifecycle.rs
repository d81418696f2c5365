//! Node lifecycle: a node whose heartbeat (its Lease in `kube-node-lease`, else its Ready
//! condition's heartbeat, else its creation) is older than the grace period becomes
//! `Ready=Unknown` ("Kubelet stopped posting node status.", all conditions Unknown) and gets the
//! `node.kubernetes.io/unreachable` taints; once its agent reports Ready again, the taints go.
//! The node-password Secret of a node is made owned by its Node, so deleting the Node removes
//! the Secret, and a node without a pod range gets one (`ipam`). Checked on a timer (`run`), since a silent node makes no events.

use std::time::Duration;

use k3rs_api::event::{EventSpec, EventType};
use k3rs_api::registry::SharedRegistry;
use k3rs_api::selector::Selectors;
use k3rs_api::service::Objects;
use k3rs_api::subresource::Sub;
use k3rs_store::Datastore;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// A node silent for longer than this is unreachable (upstream's node-monitor-grace-period).
pub const GRACE: Duration = Duration::from_secs(40);
/// How often nodes are checked.
pub const PERIOD: Duration = Duration::from_secs(5);
pub const UNREACHABLE: &str = "node.kubernetes.io/unreachable";
const NODE_PASSWORD_SUFFIX: &str = ".node-password.k3rs";

/// When the node last showed it is alive.
pub fn last_heartbeat(node: &Value, lease: Option<&Value>) -> Option<OffsetDateTime> {
    let parse = |v: &Value| v.as_str().and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok());
    let ready = node["status"]["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == "Ready"))
        .and_then(|c| parse(&c["lastHeartbeatTime"]));
    [
        lease.and_then(|l| parse(&l["spec"]["renewTime"])),
        ready,
        parse(&node["metadata"]["creationTimestamp"]),
    ]
    .into_iter()
    .flatten()
    .max()
}

fn ready_status(node: &Value) -> Option<&str> {
    node["status"]["conditions"].as_array()?.iter().find(|c| c["type"] == "Ready")?["status"]
        .as_str()
}

fn has_unreachable_taint(node: &Value) -> bool {
    node["spec"]["taints"].as_array().is_some_and(|t| t.iter().any(|t| t["key"] == UNREACHABLE))
}

/// What to change on a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Mark every condition Unknown (status) and add the unreachable taints (spec).
    Unreachable,
    /// Ready again: remove the unreachable taints.
    Reachable,
}

/// What `node` needs at `now`.
pub fn assess(node: &Value, lease: Option<&Value>, now: OffsetDateTime) -> Option<Change> {
    let silent = last_heartbeat(node, lease).is_some_and(|t| now - t > GRACE);
    let ready = ready_status(node);
    if silent && (ready != Some("Unknown") || !has_unreachable_taint(node)) {
        return Some(Change::Unreachable);
    }
    if !silent && ready == Some("True") && has_unreachable_taint(node) {
        return Some(Change::Reachable);
    }
    None
}

/// The node's status with every condition Unknown.
pub fn unknown_status(status: &Value, now: &str) -> Value {
    let mut status = status.clone();
    if let Some(conds) = status["conditions"].as_array_mut() {
        for c in conds {
            if c["status"] != "Unknown" {
                c["status"] = json!("Unknown");
                c["reason"] = json!("NodeStatusUnknown");
                c["message"] = json!("Kubelet stopped posting node status.");
                c["lastTransitionTime"] = json!(now);
            }
        }
    }
    status
}

/// The taints with (`add`) or without the unreachable ones.
pub fn with_unreachable_taints(taints: &Value, add: bool, now: &str) -> Value {
    let mut out: Vec<Value> = taints
        .as_array()
        .map(|t| t.iter().filter(|t| t["key"] != UNREACHABLE).cloned().collect())
        .unwrap_or_default();
    if add {
        out.push(json!({"key": UNREACHABLE, "effect": "NoSchedule"}));
        out.push(json!({"key": UNREACHABLE, "effect": "NoExecute", "timeAdded": now}));
    }
    json!(out)
}

/// Give every node without a `podCIDR` one from `cluster_cidr`.
async fn assign_pod_cidrs(
    objects: &Objects<'_>,
    nodes: &k3rs_api::registry::ResourceDef,
    node_list: &[Value],
    cluster_cidr: &str,
) -> Result<(), k3rs_api::Status> {
    let mut used: Vec<String> =
        node_list.iter().filter_map(|n| n["spec"]["podCIDR"].as_str().map(str::to_owned)).collect();
    for node in node_list.iter().filter(|n| n["spec"]["podCIDR"].as_str().is_none_or(str::is_empty))
    {
        let name = node["metadata"]["name"].as_str().unwrap_or_default();
        let Some(cidr) = crate::ipam::next_pod_cidr(cluster_cidr, &used) else {
            tracing::warn!(actor = "ControllerActor", node = %name, "no pod range left in the cluster CIDR");
            continue;
        };
        objects
            .update_with(nodes, None, name, Sub::Main, false, |n| {
                let mut n = n.clone();
                if n["spec"]["podCIDR"].as_str().is_none_or(str::is_empty) {
                    n["spec"]["podCIDR"] = json!(cidr);
                    n["spec"]["podCIDRs"] = json!([cidr]);
                }
                Ok((n, false))
            })
            .await?;
        tracing::info!(actor = "ControllerActor", node = %name, %cidr, "pod range assigned");
        used.push(cidr);
    }
    Ok(())
}

/// Check every node now; errors are logged and the next period tries again.
pub async fn check(objects: &Objects<'_>, cluster_cidr: &str) -> Result<(), k3rs_api::Status> {
    let registry = objects.registry;
    let (Some(nodes), Some(leases), Some(secrets)) = (
        registry.get("", "v1", "nodes"),
        registry.get("coordination.k8s.io", "v1", "leases"),
        registry.get("", "v1", "secrets"),
    ) else {
        return Ok(());
    };
    let all = Selectors::default();
    let (node_list, _) = objects.list(nodes, None, &all)?;
    let (lease_list, _) = objects.list(leases, Some("kube-node-lease"), &all)?;
    assign_pod_cidrs(objects, nodes, &node_list, cluster_cidr).await?;
    let now = OffsetDateTime::now_utc();
    let stamp = k3rs_api::objects::timestamp(now);
    for node in &node_list {
        let name = node["metadata"]["name"].as_str().unwrap_or_default();
        let lease = lease_list.iter().find(|l| l["metadata"]["name"] == name);
        let Some(change) = assess(node, lease, now) else { continue };
        let _span =
            tracing::info_span!("nodelifecycle", actor = "ControllerActor", node = %name).entered();
        let add = change == Change::Unreachable;
        if add {
            tracing::warn!("node stopped posting status: marking it unreachable");
            let spec = EventSpec {
                kind: EventType::Normal,
                reason: "NodeNotReady",
                message: format!("Node {name} status is now: NodeNotReady"),
                component: "node-controller",
                host: None,
            };
            crate::events::record(objects, node, spec).await;
            objects
                .update_with(nodes, None, name, Sub::Status, false, |n| {
                    let mut n = n.clone();
                    n["status"] = unknown_status(&n["status"], &stamp);
                    Ok((n, false))
                })
                .await?;
        } else {
            tracing::info!("node is ready again: removing the unreachable taints");
        }
        objects
            .update_with(nodes, None, name, Sub::Main, false, |n| {
                let mut n = n.clone();
                n["spec"]["taints"] = with_unreachable_taints(&n["spec"]["taints"], add, &stamp);
                Ok((n, false))
            })
            .await?;
    }
    // Node-password Secrets belong to their Node.
    let (secret_list, _) = objects.list(secrets, Some("kube-system"), &all)?;
    for secret in &secret_list {
        let name = secret["metadata"]["name"].as_str().unwrap_or_default();
        let Some(node_name) = name.strip_suffix(NODE_PASSWORD_SUFFIX) else { continue };
        if secret["metadata"]["ownerReferences"].as_array().is_some_and(|o| !o.is_empty()) {
            continue;
        }
        let Some(node) = node_list.iter().find(|n| n["metadata"]["name"] == node_name) else {
            continue;
        };
        let owner = json!([{"apiVersion": "v1", "kind": "Node", "name": node_name,
                            "uid": node["metadata"]["uid"]}]);
        objects
            .update_with(secrets, Some("kube-system"), name, Sub::Main, false, |s| {
                let mut s = s.clone();
                s["metadata"]["ownerReferences"] = owner.clone();
                Ok((s, false))
            })
            .await?;
    }
    Ok(())
}

/// Check nodes every `PERIOD`, for as long as the caller keeps this future.
pub async fn run(store: Datastore, registry: SharedRegistry, cluster_cidr: String) {
    let mut tick = tokio::time::interval(PERIOD);
    loop {
        tick.tick().await;
        let snapshot = registry.snapshot();
        let objects = Objects::new(&store, &snapshot);
        if let Err(e) = check(&objects, &cluster_cidr).await {
            tracing::warn!(actor = "ControllerActor", error = %e.message, "node lifecycle check failed");
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn at(t: &str) -> OffsetDateTime {
        OffsetDateTime::parse(t, &Rfc3339).unwrap()
    }

    fn node(ready: &str, heartbeat: &str, tainted: bool) -> Value {
        let mut n = json!({
            "metadata": {"name": "a", "creationTimestamp": "2026-01-01T00:00:00Z"},
            "spec": {},
            "status": {"conditions": [{"type": "Ready", "status": ready, "lastHeartbeatTime": heartbeat}]},
        });
        if tainted {
            n["spec"]["taints"] = with_unreachable_taints(&Value::Null, true, "t");
        }
        n
    }

    #[test]
    fn silent_nodes_become_unreachable_and_recover() {
        let lease = json!({"spec": {"renewTime": "2026-01-01T00:01:00.000000Z"}});
        let fresh = at("2026-01-01T00:01:30Z");
        let stale = at("2026-01-01T00:01:41Z");
        let n = node("True", "2026-01-01T00:00:30Z", false);
        assert_eq!(assess(&n, Some(&lease), fresh), None);
        assert_eq!(assess(&n, Some(&lease), stale), Some(Change::Unreachable));
        assert_eq!(assess(&n, None, at("2026-01-01T00:01:00Z")), None);
        assert_eq!(assess(&n, None, at("2026-01-01T00:01:11Z")), Some(Change::Unreachable));
        let marked = node("Unknown", "2026-01-01T00:00:30Z", true);
        assert_eq!(assess(&marked, Some(&lease), stale), None, "already marked");
        let back = node("True", "2026-01-01T00:01:40Z", true);
        assert_eq!(assess(&back, Some(&lease), stale), Some(Change::Reachable));
    }

    #[test]
    fn unknown_status_and_taints_are_written_as_upstream() {
        let s = unknown_status(&node("True", "x", false)["status"], "now");
        let c = &s["conditions"][0];
        assert_eq!(c["status"], "Unknown");
        assert_eq!(c["reason"], "NodeStatusUnknown");
        assert_eq!(c["message"], "Kubelet stopped posting node status.");
        let t =
            with_unreachable_taints(&json!([{"key": "mine", "effect": "NoSchedule"}]), true, "now");
        assert_eq!(t.as_array().unwrap().len(), 3);
        let t = with_unreachable_taints(&t, false, "now");
        assert_eq!(t, json!([{"key": "mine", "effect": "NoSchedule"}]));
    }
}
