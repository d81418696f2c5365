//! The DaemonSet controller: one pod per eligible node (its node selector and affinity match,
//! its tolerations, plus the ones upstream adds to daemon pods, cover the node's taints), bound
//! to the node directly; pods on nodes no longer eligible are removed; a changed template
//! replaces pods one node at a time (RollingUpdate, one unavailable); status as `kubectl
//! rollout status ds` reads it.

use k3rs_api::Status;
use k3rs_api::selector::Selectors;
use k3rs_api::service::Objects;
use serde_json::{Value, json};

use crate::deployment::template_hash;
use crate::manager::{Outcome, unless_gone};
use crate::owned::{Controller, controlled, write_status};
use crate::replicaset::{is_active, is_ready};
use crate::work::terminating;

/// The label naming the template revision a daemon pod was made from.
pub const HASH_LABEL: &str = "controller-revision-hash";

/// The tolerations upstream gives every daemon pod.
fn daemon_tolerations() -> Vec<Value> {
    let t = |key: &str, effect: &str| json!({"key": key, "operator": "Exists", "effect": effect});
    vec![
        t("node.kubernetes.io/not-ready", "NoExecute"),
        t("node.kubernetes.io/unreachable", "NoExecute"),
        t("node.kubernetes.io/disk-pressure", "NoSchedule"),
        t("node.kubernetes.io/memory-pressure", "NoSchedule"),
        t("node.kubernetes.io/pid-pressure", "NoSchedule"),
        t("node.kubernetes.io/unschedulable", "NoSchedule"),
    ]
}

/// The pod `ds` runs on `node`.
pub fn pod_for(ds: &Value, node: &str, hash: &str) -> Value {
    let template = &ds["spec"]["template"];
    let name = ds["metadata"]["name"].as_str().unwrap_or("");
    let mut metadata = template["metadata"].as_object().cloned().unwrap_or_default();
    metadata.remove("name");
    metadata.insert("generateName".into(), json!(format!("{name}-")));
    let mut labels = metadata.get("labels").cloned().unwrap_or_else(|| json!({}));
    labels[HASH_LABEL] = json!(hash);
    metadata.insert("labels".into(), labels);
    metadata.insert(
        "ownerReferences".into(),
        json!([{
            "apiVersion": "apps/v1",
            "kind": "DaemonSet",
            "name": name,
            "uid": ds["metadata"]["uid"],
            "controller": true,
            "blockOwnerDeletion": true,
        }]),
    );
    let mut spec = template["spec"].clone();
    let mut tolerations = spec["tolerations"].as_array().cloned().unwrap_or_default();
    tolerations.extend(daemon_tolerations());
    spec["tolerations"] = json!(tolerations);
    spec["nodeName"] = json!(node);
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec})
}

/// Should `ds` run on `node`?
pub fn eligible(ds: &Value, node: &Value) -> bool {
    let pod = pod_for(ds, "", "");
    crate::scheduler::placement_allows(&pod, node)
}

/// What to do this pass: nodes needing a pod, and pods to delete.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan {
    pub create_on: Vec<String>,
    pub delete: Vec<String>,
}

/// The plan for `ds` over `nodes` with its active `pods`.
pub fn plan(ds: &Value, nodes: &[Value], pods: &[Value], hash: &str) -> Plan {
    let mut plan = Plan::default();
    let mut outdated_ready = Vec::new();
    let mut unavailable = 0usize;
    for node in nodes {
        let Some(name) = node["metadata"]["name"].as_str() else { continue };
        let here: Vec<&Value> = pods.iter().filter(|p| p["spec"]["nodeName"] == name).collect();
        if !eligible(ds, node) {
            plan.delete.extend(
                here.iter().filter_map(|p| p["metadata"]["name"].as_str().map(str::to_owned)),
            );
            continue;
        }
        match here.as_slice() {
            [] => plan.create_on.push(name.to_owned()),
            [pod, extra @ ..] => {
                plan.delete.extend(
                    extra.iter().filter_map(|p| p["metadata"]["name"].as_str().map(str::to_owned)),
                );
                if pod["metadata"]["labels"][HASH_LABEL] != hash {
                    if is_ready(pod) {
                        outdated_ready
                            .push(pod["metadata"]["name"].as_str().unwrap_or("").to_owned());
                    } else {
                        // Not serving anyway: replace it at once.
                        plan.delete.push(pod["metadata"]["name"].as_str().unwrap_or("").to_owned());
                    }
                } else if !is_ready(pod) {
                    unavailable += 1;
                }
            }
        }
    }
    // Pods on nodes that are gone.
    for pod in pods {
        let node = pod["spec"]["nodeName"].as_str().unwrap_or("");
        if !nodes.iter().any(|n| n["metadata"]["name"] == node) {
            plan.delete.extend(pod["metadata"]["name"].as_str().map(str::to_owned));
        }
    }
    // RollingUpdate with maxUnavailable 1: replace one ready outdated pod when all else is up.
    let replacing = plan.create_on.len() + unavailable + plan.delete.len();
    if replacing == 0
        && let Some(first) = outdated_ready.into_iter().next()
    {
        plan.delete.push(first);
    }
    plan
}

/// The status of `ds` over its eligible nodes and active pods.
pub fn status(ds: &Value, nodes: &[Value], pods: &[Value], hash: &str) -> Value {
    let eligible: Vec<&str> = nodes
        .iter()
        .filter(|n| eligible(ds, n))
        .filter_map(|n| n["metadata"]["name"].as_str())
        .collect();
    let on_eligible: Vec<&Value> = pods
        .iter()
        .filter(|p| p["spec"]["nodeName"].as_str().is_some_and(|n| eligible.contains(&n)))
        .collect();
    let scheduled: std::collections::BTreeSet<&str> =
        on_eligible.iter().filter_map(|p| p["spec"]["nodeName"].as_str()).collect();
    let misscheduled = pods.len() - on_eligible.len();
    let ready = on_eligible.iter().filter(|p| is_ready(p)).count();
    let updated =
        on_eligible.iter().filter(|p| p["metadata"]["labels"][HASH_LABEL] == hash).count();
    let mut s = json!({
        "desiredNumberScheduled": eligible.len(),
        "currentNumberScheduled": scheduled.len(),
        "numberMisscheduled": misscheduled,
        "numberReady": ready,
        "numberAvailable": ready,
        "updatedNumberScheduled": updated,
    });
    if eligible.len() > ready {
        s["numberUnavailable"] = json!(eligible.len() - ready);
    }
    if let Some(g) = ds["metadata"]["generation"].as_i64() {
        s["observedGeneration"] = json!(g);
    }
    s
}

pub async fn reconcile(
    objects: Objects<'_>,
    namespace: &str,
    name: &str,
) -> Result<Outcome, Status> {
    let (Some(ds_def), Some(pod_def), Some(node_def)) = (
        objects.registry.get("apps", "v1", "daemonsets"),
        objects.registry.get("", "v1", "pods"),
        objects.registry.get("", "v1", "nodes"),
    ) else {
        return Ok(Outcome::Done);
    };
    let Some(ds) = unless_gone(objects.get(ds_def, Some(namespace), name))? else {
        return Ok(Outcome::Done);
    };
    if terminating(&ds) {
        return Ok(Outcome::Done);
    }
    let uid = ds["metadata"]["uid"].as_str().unwrap_or("");
    let hash = template_hash(&ds["spec"]["template"]);
    let (nodes, _) = objects.list(node_def, None, &Selectors::default())?;
    let owned = || -> Result<Vec<Value>, Status> {
        Ok(controlled(&objects, pod_def, namespace, uid)?.into_iter().filter(is_active).collect())
    };
    let pods = owned()?;
    let todo = plan(&ds, &nodes, &pods, &hash);
    let acting = Controller { component: "daemonset-controller", owner: &ds };
    let made = todo.create_on.iter().map(|node| pod_for(&ds, node, &hash));
    if !acting.create_pods(&objects, pod_def, namespace, made).await? {
        return Ok(Outcome::Done);
    }
    acting.delete_pods(&objects, pod_def, namespace, &todo.delete).await?;
    let pods = if todo == Plan::default() { pods } else { owned()? };
    let wanted = status(&ds, &nodes, &pods, &hash);
    if wanted != ds["status"] {
        write_status(&objects, ds_def, namespace, name, &wanted).await?;
    }
    Ok(Outcome::Done)
}

/// Every DaemonSet (the nodes changed).
pub async fn reconcile_all(objects: Objects<'_>) -> Result<Outcome, Status> {
    let Some(ds_def) = objects.registry.get("apps", "v1", "daemonsets") else {
        return Ok(Outcome::Done);
    };
    let (all, _) = objects.list(ds_def, None, &Selectors::default())?;
    let mut outcome = Outcome::Done;
    for ds in all {
        let (Some(ns), Some(name)) =
            (ds["metadata"]["namespace"].as_str(), ds["metadata"]["name"].as_str())
        else {
            continue;
        };
        if reconcile(Objects::new(objects.store, objects.registry), ns, name).await?
            == Outcome::Later
        {
            outcome = Outcome::Later;
        }
    }
    Ok(outcome)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn ds() -> Value {
        json!({"metadata": {"name": "agent", "uid": "du", "generation": 1},
            "spec": {"template": {"metadata": {"labels": {"app": "agent"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}}})
    }

    fn node(name: &str, taint: Option<&str>) -> Value {
        let mut n = json!({"metadata": {"name": name, "labels": {"kubernetes.io/os": "linux"}},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]}});
        if let Some(t) = taint {
            n["spec"]["taints"] = json!([{"key": t, "effect": "NoSchedule"}]);
        }
        n
    }

    fn pod(name: &str, node: &str, hash: &str, ready: bool) -> Value {
        json!({"metadata": {"name": name, "labels": {HASH_LABEL: hash}}, "spec": {"nodeName": node},
            "status": {"conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]}})
    }

    #[test]
    fn one_pod_per_eligible_node_and_none_elsewhere() {
        let nodes = [
            node("a", None),
            node("b", Some("dedicated")),
            node("c", Some("node.kubernetes.io/unschedulable")),
        ];
        let pods = [pod("agent-1", "b", "h", true), pod("agent-2", "gone", "h", true)];
        let p = plan(&ds(), &nodes, &pods, "h");
        assert_eq!(p.create_on, ["a", "c"], "daemon pods tolerate unschedulable nodes");
        assert_eq!(p.delete, ["agent-1", "agent-2"], "an untolerated taint and a gone node");
        let made = pod_for(&ds(), "a", "h");
        assert_eq!(made["spec"]["nodeName"], "a");
        assert_eq!(made["metadata"]["labels"][HASH_LABEL], "h");
        assert_eq!(made["metadata"]["ownerReferences"][0]["kind"], "DaemonSet");
    }

    #[test]
    fn a_new_template_replaces_one_ready_pod_at_a_time() {
        let nodes = [node("a", None), node("b", None)];
        let old = [pod("p1", "a", "old", true), pod("p2", "b", "old", true)];
        assert_eq!(plan(&ds(), &nodes, &old, "new").delete, ["p1"]);
        let mid = [pod("p3", "a", "new", false), pod("p2", "b", "old", true)];
        assert_eq!(plan(&ds(), &nodes, &mid, "new"), Plan::default(), "wait for the new one");
        let s = status(&ds(), &nodes, &mid, "new");
        assert_eq!(
            (
                s["desiredNumberScheduled"].clone(),
                s["updatedNumberScheduled"].clone(),
                s["numberReady"].clone()
            ),
            (json!(2), json!(1), json!(1))
        );
    }
}
