//! The Job controller: runs pods from the template until `completions` of them succeed (at
//! most `parallelism` at a time), gives up when more than `backoffLimit` failed, and reports
//! it with the `Complete` or `Failed` condition `kubectl wait --for=condition=complete` reads.

use k3rs_api::Status;
use k3rs_api::event::{EventSpec, EventType};
use k3rs_api::service::Objects;
use serde_json::{Value, json};

use crate::events;
use crate::manager::{Outcome, unless_gone};
use crate::owned::{Controller, controlled, write_status};
use crate::replicaset::is_ready;
use crate::work::terminating;

/// A new pod for `job`, labelled as upstream labels job pods.
pub fn pod_for(job: &Value) -> Value {
    let template = &job["spec"]["template"];
    let name = job["metadata"]["name"].as_str().unwrap_or("");
    let uid = job["metadata"]["uid"].clone();
    let mut metadata = template["metadata"].as_object().cloned().unwrap_or_default();
    metadata.remove("name");
    metadata.insert("generateName".into(), json!(format!("{name}-")));
    let mut labels = metadata.get("labels").cloned().unwrap_or_else(|| json!({}));
    for (k, v) in [
        ("batch.kubernetes.io/controller-uid", uid.clone()),
        ("batch.kubernetes.io/job-name", json!(name)),
        ("controller-uid", uid.clone()),
        ("job-name", json!(name)),
    ] {
        labels[k] = v;
    }
    metadata.insert("labels".into(), labels);
    metadata.insert(
        "ownerReferences".into(),
        json!([{
            "apiVersion": "batch/v1",
            "kind": "Job",
            "name": name,
            "uid": uid,
            "controller": true,
            "blockOwnerDeletion": true,
        }]),
    );
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": template["spec"]})
}

fn spec_count(job: &Value, field: &str, default: i64) -> i64 {
    job["spec"][field].as_i64().unwrap_or(default).max(0)
}

/// What a pass does.
#[derive(Debug, PartialEq, Eq)]
pub struct Plan {
    pub create: usize,
    /// Active pods to delete (the job failed, or more run than allowed).
    pub delete: Vec<String>,
    pub status: Value,
}

fn phase(p: &Value) -> &str {
    p["status"]["phase"].as_str().unwrap_or("")
}

/// The plan for `job` with its `pods` at `now`.
pub fn plan(job: &Value, pods: &[Value], now: &str) -> Plan {
    let completions = spec_count(job, "completions", 1);
    let parallelism = spec_count(job, "parallelism", 1);
    let backoff_limit = spec_count(job, "backoffLimit", 6);
    let succeeded = pods.iter().filter(|p| phase(p) == "Succeeded").count() as i64;
    let failed = (pods.iter().filter(|p| phase(p) == "Failed").count() as i64)
        .max(job["status"]["failed"].as_i64().unwrap_or(0));
    let active: Vec<&Value> = pods
        .iter()
        .filter(|p| !terminating(p) && !matches!(phase(p), "Succeeded" | "Failed"))
        .collect();
    let names = |v: &[&Value]| -> Vec<String> {
        v.iter().filter_map(|p| p["metadata"]["name"].as_str().map(str::to_owned)).collect()
    };
    let old = &job["status"];
    let mut status = json!({
        "startTime": old["startTime"].as_str().unwrap_or(now),
    });
    let mut conditions: Vec<Value> = old["conditions"].as_array().cloned().unwrap_or_default();
    let finished = conditions.iter().any(|c| {
        matches!(c["type"].as_str(), Some("Complete" | "Failed")) && c["status"] == "True"
    });
    let condition = |kind: &str, reason: Option<&str>, message: Option<&str>| {
        let mut c = json!({"type": kind, "status": "True", "lastProbeTime": now, "lastTransitionTime": now});
        if let Some(r) = reason {
            c["reason"] = json!(r);
        }
        if let Some(m) = message {
            c["message"] = json!(m);
        }
        c
    };
    let (mut create, mut delete) = (0usize, Vec::new());
    if !finished {
        if failed > backoff_limit {
            conditions.push(condition(
                "Failed",
                Some("BackoffLimitExceeded"),
                Some("Job has reached the specified backoff limit"),
            ));
            delete = names(&active);
        } else if succeeded >= completions {
            conditions.push(condition(
                "SuccessCriteriaMet",
                Some("CompletionsReached"),
                Some("Reached expected number of succeeded pods"),
            ));
            conditions.push(condition(
                "Complete",
                Some("CompletionsReached"),
                Some("Reached expected number of succeeded pods"),
            ));
            status["completionTime"] = json!(now);
            delete = names(&active);
        } else {
            let want = parallelism.min(completions - succeeded).max(0) as usize;
            if active.len() < want {
                create = want - active.len();
            } else if active.len() > want {
                delete = names(&active[want..]);
            }
        }
    } else if let Some(t) = old["completionTime"].as_str() {
        status["completionTime"] = json!(t);
    }
    let running = (active.len() - delete.len().min(active.len()) + create) as i64;
    if running > 0 {
        status["active"] = json!(running);
    }
    status["ready"] = json!(active.iter().filter(|p| is_ready(p)).count());
    if succeeded > 0 {
        status["succeeded"] = json!(succeeded);
    }
    if failed > 0 {
        status["failed"] = json!(failed);
    }
    if !conditions.is_empty() {
        status["conditions"] = json!(conditions);
    }
    status["terminating"] = json!(pods.iter().filter(|p| terminating(p)).count());
    Plan { create, delete, status }
}

/// The status without its times, to see whether a write is needed.
fn same(a: &Value, b: &Value) -> bool {
    let strip = |v: &Value| {
        let mut v = v.clone();
        if let Some(c) = v["conditions"].as_array_mut() {
            for c in c {
                c["lastProbeTime"] = Value::Null;
                c["lastTransitionTime"] = Value::Null;
            }
        }
        v
    };
    strip(a) == strip(b)
}

pub async fn reconcile(
    objects: Objects<'_>,
    namespace: &str,
    name: &str,
) -> Result<Outcome, Status> {
    let (Some(job_def), Some(pod_def)) =
        (objects.registry.get("batch", "v1", "jobs"), objects.registry.get("", "v1", "pods"))
    else {
        return Ok(Outcome::Done);
    };
    let Some(job) = unless_gone(objects.get(job_def, Some(namespace), name))? else {
        return Ok(Outcome::Done);
    };
    if terminating(&job) || job["spec"]["suspend"] == true {
        return Ok(Outcome::Done);
    }
    let uid = job["metadata"]["uid"].as_str().unwrap_or("");
    let pods = controlled(&objects, pod_def, namespace, uid)?;
    let now = k3rs_api::objects::timestamp(time::OffsetDateTime::now_utc());
    let todo = plan(&job, &pods, &now);
    let event = |kind, reason, message| EventSpec {
        kind,
        reason,
        message,
        component: "job-controller",
        host: None,
    };
    let acting = Controller { component: "job-controller", owner: &job };
    let made = (0..todo.create).map(|_| pod_for(&job));
    if !acting.create_pods(&objects, pod_def, namespace, made).await? {
        return Ok(Outcome::Done);
    }
    acting.delete_pods(&objects, pod_def, namespace, &todo.delete).await?;
    let was_finished = job["status"]["conditions"]
        .as_array()
        .is_some_and(|c| c.iter().any(|c| c["type"] == "Complete" || c["type"] == "Failed"));
    if !same(&todo.status, &job["status"]) {
        write_status(&objects, job_def, namespace, name, &todo.status).await?;
        let conditions = todo.status["conditions"].as_array().cloned().unwrap_or_default();
        if !was_finished {
            if conditions.iter().any(|c| c["type"] == "Complete") {
                events::record(
                    &objects,
                    &job,
                    event(EventType::Normal, "Completed", "Job completed".to_owned()),
                )
                .await;
            } else if conditions.iter().any(|c| c["type"] == "Failed") {
                let message = "Job has reached the specified backoff limit".to_owned();
                events::record(
                    &objects,
                    &job,
                    event(EventType::Warning, "BackoffLimitExceeded", message),
                )
                .await;
            }
        }
    }
    Ok(Outcome::Done)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn job(spec: Value) -> Value {
        let mut s = spec;
        s["template"] = json!({"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "i"}]}});
        json!({"metadata": {"name": "pi", "uid": "ju"}, "spec": s, "status": {}})
    }

    fn pod(name: &str, phase: &str) -> Value {
        json!({"metadata": {"name": name}, "status": {"phase": phase}})
    }

    #[test]
    fn pods_run_up_to_parallelism_until_completions_succeed() {
        let j = job(json!({"completions": 3, "parallelism": 2}));
        let p = plan(&j, &[], "t");
        assert_eq!((p.create, p.status["active"].clone()), (2, json!(2)));
        let p = plan(&j, &[pod("a", "Succeeded"), pod("b", "Running")], "t");
        assert_eq!(p.create, 1, "two more to go, one running");
        let done = [pod("a", "Succeeded"), pod("b", "Succeeded"), pod("c", "Succeeded")];
        let p = plan(&j, &done, "t");
        assert_eq!(p.create, 0);
        assert_eq!(p.status["succeeded"], 3);
        assert_eq!(p.status["completionTime"], "t");
        assert!(p.status["conditions"].as_array().unwrap().iter().any(|c| c["type"] == "Complete"));
        let labels = &pod_for(&j)["metadata"]["labels"];
        assert_eq!(
            (labels["job-name"].clone(), labels["controller-uid"].clone()),
            (json!("pi"), json!("ju"))
        );
    }

    #[test]
    fn too_many_failures_fail_the_job() {
        let j = job(json!({"backoffLimit": 1}));
        let p = plan(&j, &[pod("a", "Failed"), pod("b", "Failed"), pod("c", "Running")], "t");
        assert_eq!(p.create, 0);
        assert_eq!(p.delete, ["c"]);
        let failed = p.status["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == "Failed")
            .cloned()
            .unwrap();
        assert_eq!(failed["reason"], "BackoffLimitExceeded");
        let p = plan(&j, &[pod("a", "Failed"), pod("b", "Running")], "t");
        assert_eq!((p.create, p.delete.len()), (0, 0), "within the limit: keep running");
    }
}
