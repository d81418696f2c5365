//! The StatefulSet controller (OrderedReady): pods named `<set>-<ordinal>`, each started only
//! when every lower ordinal is Running and Ready, removed from the highest ordinal down, and a
//! changed template rolled from the highest ordinal down one pod at a time; status as `kubectl
//! rollout status sts` reads it. Persistent volume claims are not made (no volume support).

use k3rs_api::Status;
use k3rs_api::service::Objects;
use serde_json::{Value, json};

use crate::deployment::template_hash;
use crate::manager::{Outcome, unless_gone};
use crate::owned::{Controller, controlled, write_status};
use crate::replicaset::is_ready;
use crate::work::terminating;

pub const HASH_LABEL: &str = "controller-revision-hash";

fn set_name(sts: &Value) -> &str {
    sts["metadata"]["name"].as_str().unwrap_or("")
}

/// The revision name of `sts`'s current template.
pub fn revision(sts: &Value) -> String {
    format!("{}-{}", set_name(sts), template_hash(&sts["spec"]["template"]))
}

/// Pod `ordinal` of `sts`.
pub fn pod_for(sts: &Value, ordinal: usize) -> Value {
    let template = &sts["spec"]["template"];
    let name = format!("{}-{ordinal}", set_name(sts));
    let mut metadata = template["metadata"].as_object().cloned().unwrap_or_default();
    metadata.insert("name".into(), json!(name));
    let mut labels = metadata.get("labels").cloned().unwrap_or_else(|| json!({}));
    labels[HASH_LABEL] = json!(revision(sts));
    labels["statefulset.kubernetes.io/pod-name"] = json!(name);
    labels["apps.kubernetes.io/pod-index"] = json!(ordinal.to_string());
    metadata.insert("labels".into(), labels);
    metadata.insert(
        "ownerReferences".into(),
        json!([{
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "name": set_name(sts),
            "uid": sts["metadata"]["uid"],
            "controller": true,
            "blockOwnerDeletion": true,
        }]),
    );
    let mut spec = template["spec"].clone();
    spec["hostname"] = json!(name);
    if let Some(service) = sts["spec"]["serviceName"].as_str().filter(|s| !s.is_empty()) {
        spec["subdomain"] = json!(service);
    }
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec})
}

fn ordinal(sts: &Value, pod: &Value) -> Option<usize> {
    let name = pod["metadata"]["name"].as_str()?;
    name.strip_prefix(set_name(sts))?.strip_prefix('-')?.parse().ok()
}

fn running_and_ready(pod: &Value) -> bool {
    pod["status"]["phase"] == "Running" && is_ready(pod)
}

/// One step: the ordinal to create, or the pod to delete (at most one change at a time).
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    Create(usize),
    Delete(String),
    Wait,
}

pub fn step(sts: &Value, pods: &[Value]) -> Step {
    let replicas =
        usize::try_from(sts["spec"]["replicas"].as_i64().unwrap_or(1).max(0)).unwrap_or(0);
    let current = revision(sts);
    let mut by_ordinal: Vec<(usize, &Value)> =
        pods.iter().filter_map(|p| ordinal(sts, p).map(|o| (o, p))).collect();
    by_ordinal.sort_by_key(|(o, _)| *o);
    // Anything terminating must finish first.
    if pods.iter().any(terminating) {
        return Step::Wait;
    }
    for i in 0..replicas {
        match by_ordinal.iter().find(|(o, _)| *o == i) {
            None => return Step::Create(i),
            Some((_, p)) if !running_and_ready(p) => return Step::Wait,
            Some(_) => {}
        }
    }
    // Too many: the highest ordinal goes first.
    if let Some((o, p)) = by_ordinal.last()
        && *o >= replicas
    {
        return Step::Delete(p["metadata"]["name"].as_str().unwrap_or("").to_owned());
    }
    // Rolling update: the highest outdated ordinal is replaced.
    if let Some((_, p)) = by_ordinal
        .iter()
        .rev()
        .find(|(_, p)| p["metadata"]["labels"][HASH_LABEL] != current.as_str())
    {
        return Step::Delete(p["metadata"]["name"].as_str().unwrap_or("").to_owned());
    }
    Step::Wait
}

pub fn status(sts: &Value, pods: &[Value]) -> Value {
    let current = revision(sts);
    let ready = pods.iter().filter(|p| is_ready(p)).count();
    let updated =
        pods.iter().filter(|p| p["metadata"]["labels"][HASH_LABEL] == current.as_str()).count();
    let replicas = sts["spec"]["replicas"].as_i64().unwrap_or(1).max(0) as usize;
    let done = updated == pods.len() && pods.len() == replicas;
    // The revision the not-yet-updated pods run: as recorded, else read off an outdated pod.
    let outdated = pods
        .iter()
        .filter_map(|p| p["metadata"]["labels"][HASH_LABEL].as_str())
        .find(|h| *h != current.as_str());
    let current_revision = if done {
        current.clone()
    } else {
        sts["status"]["currentRevision"]
            .as_str()
            .or(outdated)
            .map_or_else(|| current.clone(), str::to_owned)
    };
    let mut s = json!({
        "replicas": pods.len(),
        "readyReplicas": ready,
        "availableReplicas": ready,
        "currentReplicas": if done { updated } else { pods.len() - updated },
        "updatedReplicas": updated,
        "currentRevision": current_revision,
        "updateRevision": current,
        "collisionCount": 0,
    });
    if let Some(g) = sts["metadata"]["generation"].as_i64() {
        s["observedGeneration"] = json!(g);
    }
    s
}

pub async fn reconcile(
    objects: Objects<'_>,
    namespace: &str,
    name: &str,
) -> Result<Outcome, Status> {
    let (Some(sts_def), Some(pod_def)) = (
        objects.registry.get("apps", "v1", "statefulsets"),
        objects.registry.get("", "v1", "pods"),
    ) else {
        return Ok(Outcome::Done);
    };
    let Some(sts) = unless_gone(objects.get(sts_def, Some(namespace), name))? else {
        return Ok(Outcome::Done);
    };
    if terminating(&sts) {
        return Ok(Outcome::Done);
    }
    let uid = sts["metadata"]["uid"].as_str().unwrap_or("");
    let owned = || controlled(&objects, pod_def, namespace, uid);
    let pods = owned()?;
    let acting = Controller { component: "statefulset-controller", owner: &sts };
    let changed = match step(&sts, &pods) {
        Step::Create(i) => {
            if !acting.create_pods(&objects, pod_def, namespace, [pod_for(&sts, i)]).await? {
                return Ok(Outcome::Done);
            }
            true
        }
        Step::Delete(victim) => {
            acting.delete_pods(&objects, pod_def, namespace, &[victim]).await?;
            true
        }
        Step::Wait => false,
    };
    let pods = if changed { owned()? } else { pods };
    let wanted = status(&sts, &pods);
    if wanted != sts["status"] {
        write_status(&objects, sts_def, namespace, name, &wanted).await?;
    }
    Ok(Outcome::Done)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn sts(replicas: i64) -> Value {
        json!({"metadata": {"name": "db", "uid": "su", "generation": 1},
            "spec": {"replicas": replicas, "serviceName": "db",
                "template": {"metadata": {"labels": {"app": "db"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}}})
    }

    fn pod(s: &Value, i: usize, ready: bool) -> Value {
        let mut p = pod_for(s, i);
        p["status"] = json!({"phase": "Running", "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]});
        p
    }

    #[test]
    fn pods_start_in_order_each_after_the_last_is_ready() {
        let s = sts(3);
        assert_eq!(step(&s, &[]), Step::Create(0));
        assert_eq!(step(&s, &[pod(&s, 0, false)]), Step::Wait);
        assert_eq!(step(&s, &[pod(&s, 0, true)]), Step::Create(1));
        let p = pod_for(&s, 1);
        assert_eq!(
            (
                p["metadata"]["name"].clone(),
                p["spec"]["hostname"].clone(),
                p["spec"]["subdomain"].clone()
            ),
            (json!("db-1"), json!("db-1"), json!("db"))
        );
    }

    #[test]
    fn scale_down_and_updates_go_from_the_highest_ordinal() {
        let s = sts(1);
        let all = [pod(&s, 0, true), pod(&s, 1, true), pod(&s, 2, true)];
        assert_eq!(step(&s, &all), Step::Delete("db-2".into()));
        let mut changed = sts(2);
        changed["spec"]["template"]["metadata"]["labels"]["v"] = json!("2");
        let old = [pod(&s, 0, true), pod(&s, 1, true)];
        assert_eq!(step(&changed, &old), Step::Delete("db-1".into()));
        let st = status(&changed, &old);
        assert_eq!(st["updatedReplicas"], 0);
        assert_ne!(st["currentRevision"], st["updateRevision"]);
    }
}
