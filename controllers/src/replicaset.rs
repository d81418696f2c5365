//! The ReplicaSet controller: keeps `spec.replicas` pods from the template, owned by the
//! ReplicaSet, and reports their counts in its status.

use k3rs_api::Status;
use k3rs_api::service::Objects;
use serde_json::{Value, json};

use crate::manager::{Outcome, unless_gone};
use crate::owned::{Controller, controlled, write_status};
use crate::work::terminating;

/// Pods created per pass, as upstream's slow-start burst keeps a bad template from flooding.
const MAX_CREATES_PER_PASS: usize = 500;

/// A pod's `Ready` condition is `True`.
pub fn is_ready(pod: &Value) -> bool {
    pod["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "Ready" && c["status"] == "True")
}

/// Pods that count toward replicas: not terminating and not finished.
pub fn is_active(pod: &Value) -> bool {
    !terminating(pod) && !matches!(pod["status"]["phase"].as_str(), Some("Succeeded" | "Failed"))
}

/// A new pod for the ReplicaSet `rs`.
pub fn pod_for(rs: &Value) -> Value {
    let template = &rs["spec"]["template"];
    let name = rs["metadata"]["name"].as_str().unwrap_or("");
    let mut metadata = template["metadata"].as_object().cloned().unwrap_or_default();
    metadata.remove("name");
    metadata.insert("generateName".into(), json!(format!("{name}-")));
    metadata.insert(
        "ownerReferences".into(),
        json!([{
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "name": name,
            "uid": rs["metadata"]["uid"],
            "controller": true,
            "blockOwnerDeletion": true,
        }]),
    );
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": template["spec"]})
}

/// Which of `pods` to delete to go down by `n`: unscheduled first, then not ready, then the
/// newest (as upstream ranks them).
pub fn pick_victims(pods: &[Value], n: usize) -> Vec<String> {
    let mut ranked: Vec<&Value> = pods.iter().collect();
    ranked.sort_by_key(|p| {
        let scheduled = p["spec"]["nodeName"].as_str().is_some_and(|n| !n.is_empty());
        let created = p["metadata"]["creationTimestamp"].as_str().unwrap_or("").to_owned();
        (scheduled, is_ready(p), std::cmp::Reverse(created))
    });
    ranked
        .into_iter()
        .take(n)
        .filter_map(|p| p["metadata"]["name"].as_str().map(str::to_owned))
        .collect()
}

/// The status a ReplicaSet with these (active, owned) pods has.
pub fn status(rs: &Value, pods: &[Value]) -> Value {
    let ready = pods.iter().filter(|p| is_ready(p)).count();
    let template_labels = rs["spec"]["template"]["metadata"]["labels"].as_object();
    let fully_labeled = pods
        .iter()
        .filter(|p| {
            template_labels.is_none_or(|want| {
                want.iter().all(|(k, v)| p["metadata"]["labels"].get(k) == Some(v))
            })
        })
        .count();
    let mut status = rs["status"].as_object().cloned().unwrap_or_default();
    status.insert("replicas".into(), json!(pods.len()));
    status.insert("fullyLabeledReplicas".into(), json!(fully_labeled));
    status.insert("readyReplicas".into(), json!(ready));
    status.insert("availableReplicas".into(), json!(ready));
    if let Some(g) = rs["metadata"]["generation"].as_i64() {
        status.insert("observedGeneration".into(), json!(g));
    }
    for zero in ["readyReplicas", "availableReplicas", "fullyLabeledReplicas"] {
        if status.get(zero) == Some(&json!(0)) {
            status.remove(zero);
        }
    }
    Value::Object(status)
}

/// Bring ReplicaSet `namespace/name` to its replica count and report its status.
pub async fn reconcile(
    objects: Objects<'_>,
    namespace: &str,
    name: &str,
) -> Result<Outcome, Status> {
    let (Some(rs_def), Some(pod_def)) =
        (objects.registry.get("apps", "v1", "replicasets"), objects.registry.get("", "v1", "pods"))
    else {
        return Ok(Outcome::Done);
    };
    let Some(rs) = unless_gone(objects.get(rs_def, Some(namespace), name))? else {
        return Ok(Outcome::Done);
    };
    let uid = rs["metadata"]["uid"].as_str().unwrap_or("");
    let owned_pods = || -> Result<Vec<Value>, Status> {
        Ok(controlled(&objects, pod_def, namespace, uid)?.into_iter().filter(is_active).collect())
    };
    let mut owned = owned_pods()?;
    let want = if terminating(&rs) {
        owned.len()
    } else {
        usize::try_from(rs["spec"]["replicas"].as_i64().unwrap_or(1).max(0)).unwrap_or(0)
    };
    let mut outcome = Outcome::Done;
    let acting = Controller { component: "replicaset-controller", owner: &rs };
    if owned.len() < want {
        let n = (want - owned.len()).min(MAX_CREATES_PER_PASS);
        if !acting.create_pods(&objects, pod_def, namespace, (0..n).map(|_| pod_for(&rs))).await? {
            // A terminating namespace refuses new pods; nothing to do then.
            return Ok(Outcome::Done);
        }
        if want - owned.len() > n {
            outcome = Outcome::Later;
        }
    } else if owned.len() > want {
        let victims = pick_victims(&owned, owned.len() - want);
        acting.delete_pods(&objects, pod_def, namespace, &victims).await?;
    }
    // Status counts what exists now (read again only if this pass changed the pods); later pod
    // events bring the counts up to date.
    if owned.len() != want {
        owned = owned_pods()?;
    }
    let new_status = status(&rs, &owned);
    if new_status != rs["status"] {
        write_status(&objects, rs_def, namespace, name, &new_status).await?;
    }
    Ok(outcome)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn rs() -> Value {
        json!({"metadata": {"name": "web-abc", "uid": "ru", "generation": 2},
            "spec": {"replicas": 2, "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}},
            "status": {"replicas": 0}})
    }

    #[test]
    fn pods_come_from_the_template_and_name_their_owner() {
        let p = pod_for(&rs());
        assert_eq!(p["metadata"]["generateName"], "web-abc-");
        assert_eq!(p["metadata"]["labels"]["app"], "web");
        assert_eq!(p["metadata"]["ownerReferences"][0]["uid"], "ru");
        assert_eq!(p["metadata"]["ownerReferences"][0]["controller"], true);
        assert_eq!(p["spec"]["containers"][0]["image"], "i");
    }

    #[test]
    fn victims_are_unscheduled_first_then_newest() {
        let pods = vec![
            json!({"metadata": {"name": "a", "creationTimestamp": "2026-01-01T00:00:00Z"}, "spec": {"nodeName": "n"}}),
            json!({"metadata": {"name": "b", "creationTimestamp": "2026-01-01T00:00:01Z"}, "spec": {}}),
            json!({"metadata": {"name": "c", "creationTimestamp": "2026-01-01T00:00:02Z"}, "spec": {"nodeName": "n"}}),
        ];
        assert_eq!(pick_victims(&pods, 2), ["b", "c"]);
    }

    #[test]
    fn status_counts_pods() {
        let ready = json!({"metadata": {"labels": {"app": "web"}}, "status": {"conditions": [{"type": "Ready", "status": "True"}]}});
        let pending = json!({"metadata": {"labels": {}}, "status": {"phase": "Pending"}});
        let s = status(&rs(), &[ready, pending]);
        assert_eq!(
            s,
            json!({"replicas": 2, "fullyLabeledReplicas": 1, "readyReplicas": 1, "availableReplicas": 1, "observedGeneration": 2})
        );
    }
}
