//! Columns of the workload kinds, as upstream's printers: deployments, replicasets, daemonsets,
//! statefulsets, jobs, cronjobs.

use serde_json::{Value, json};
use time::OffsetDateTime;

use super::core::text;
use super::{
    AGE, Column, NAME, age_of, containers, human_duration, or_none, pairs, parse_time, selector,
};
use crate::registry::ResourceDef;

fn int(v: &Value) -> Value {
    json!(v.as_i64().unwrap_or(0))
}

fn template(obj: &Value) -> &Value {
    &obj["spec"]["template"]["spec"]
}

/// The wide columns every pod-template workload has.
fn wide(with_selector: bool) -> Vec<Column> {
    let mut cols = vec![
        Column::new("Containers", "string", 1, |o, _| json!(containers(template(o)).0)),
        Column::new("Images", "string", 1, |o, _| json!(containers(template(o)).1)),
    ];
    if with_selector {
        cols.push(Column::new("Selector", "string", 1, |o, _| selector(&o["spec"]["selector"])));
    }
    cols
}

pub(super) fn columns(def: &ResourceDef) -> Option<Vec<Column>> {
    let mut cols = match (def.group.as_str(), def.plural.as_str()) {
        ("apps", "deployments") => vec![
            NAME,
            Column::new("Ready", "string", 0, |d, _| {
                json!(format!(
                    "{}/{}",
                    d["status"]["readyReplicas"].as_i64().unwrap_or(0),
                    d["spec"]["replicas"].as_i64().unwrap_or(0)
                ))
            }),
            Column::new("Up-to-date", "integer", 0, |d, _| int(&d["status"]["updatedReplicas"])),
            Column::new("Available", "integer", 0, |d, _| int(&d["status"]["availableReplicas"])),
            AGE,
        ],
        ("apps", "replicasets") => vec![
            NAME,
            Column::new("Desired", "integer", 0, |r, _| int(&r["spec"]["replicas"])),
            Column::new("Current", "integer", 0, |r, _| int(&r["status"]["replicas"])),
            Column::new("Ready", "integer", 0, |r, _| int(&r["status"]["readyReplicas"])),
            AGE,
        ],
        ("apps", "daemonsets") => vec![
            NAME,
            Column::new("Desired", "integer", 0, |d, _| {
                int(&d["status"]["desiredNumberScheduled"])
            }),
            Column::new("Current", "integer", 0, |d, _| {
                int(&d["status"]["currentNumberScheduled"])
            }),
            Column::new("Ready", "integer", 0, |d, _| int(&d["status"]["numberReady"])),
            Column::new("Up-to-date", "integer", 0, |d, _| {
                int(&d["status"]["updatedNumberScheduled"])
            }),
            Column::new("Available", "integer", 0, |d, _| int(&d["status"]["numberAvailable"])),
            Column::new("Node Selector", "string", 0, |d, _| {
                or_none(pairs(&template(d)["nodeSelector"]))
            }),
            AGE,
        ],
        ("apps", "statefulsets") => vec![
            NAME,
            Column::new("Ready", "string", 0, |s, _| {
                json!(format!(
                    "{}/{}",
                    s["status"]["readyReplicas"].as_i64().unwrap_or(0),
                    s["spec"]["replicas"].as_i64().unwrap_or(1)
                ))
            }),
            AGE,
        ],
        ("batch", "jobs") => vec![
            NAME,
            Column::new("Status", "string", 0, job_status),
            Column::new("Completions", "string", 0, job_completions),
            Column::new("Duration", "string", 0, job_duration),
            AGE,
        ],
        ("batch", "cronjobs") => {
            vec![
                NAME,
                Column::new("Schedule", "string", 0, |c, _| json!(text(&c["spec"]["schedule"]))),
                Column::new("Timezone", "string", 0, |c, _| or_none(text(&c["spec"]["timeZone"]))),
                Column::new("Suspend", "boolean", 0, |c, _| {
                    json!(if c["spec"]["suspend"] == true { "True" } else { "False" })
                }),
                Column::new("Active", "integer", 0, |c, _| {
                    json!(c["status"]["active"].as_array().map_or(0, Vec::len))
                }),
                Column::new("Last Schedule", "string", 0, |c, now| {
                    match c["status"]["lastScheduleTime"].as_str() {
                        Some(t) => json!(age_of(Some(t), now)),
                        None => json!("<none>"),
                    }
                }),
                AGE,
            ]
        }
        _ => return None,
    };
    match def.plural.as_str() {
        "statefulsets" => cols.extend(wide(false)),
        "cronjobs" => cols.extend([
            Column::new("Containers", "string", 1, |c, _| {
                json!(containers(&c["spec"]["jobTemplate"]["spec"]["template"]["spec"]).0)
            }),
            Column::new("Images", "string", 1, |c, _| {
                json!(containers(&c["spec"]["jobTemplate"]["spec"]["template"]["spec"]).1)
            }),
            Column::new("Selector", "string", 1, |c, _| {
                selector(&c["spec"]["jobTemplate"]["spec"]["selector"])
            }),
        ]),
        _ => cols.extend(wide(true)),
    }
    Some(cols)
}

fn condition_true(obj: &Value, kind: &str) -> bool {
    obj["status"]["conditions"]
        .as_array()
        .is_some_and(|c| c.iter().any(|c| c["type"] == kind && c["status"] == "True"))
}

/// 1.32's job STATUS: the finished state, else Suspended, Terminating or Running.
fn job_status(job: &Value, _: OffsetDateTime) -> Value {
    let state = ["Complete", "Failed", "FailureTarget", "SuccessCriteriaMet", "Suspended"]
        .into_iter()
        .find(|c| condition_true(job, c))
        .map(|c| if c == "FailureTarget" { "FailureTarget" } else { c });
    json!(match state {
        Some(s) => s,
        None if job["metadata"]["deletionTimestamp"].is_string() => "Terminating",
        None => "Running",
    })
}

fn job_completions(job: &Value, _: OffsetDateTime) -> Value {
    let succeeded = job["status"]["succeeded"].as_i64().unwrap_or(0);
    json!(match job["spec"]["completions"].as_i64() {
        Some(c) => format!("{succeeded}/{c}"),
        None => {
            let parallelism = job["spec"]["parallelism"].as_i64().unwrap_or(0);
            if parallelism > 1 {
                format!("{succeeded}/1 of {parallelism}")
            } else {
                format!("{succeeded}/1")
            }
        }
    })
}

fn job_duration(job: &Value, now: OffsetDateTime) -> Value {
    let Some(start) = parse_time(job["status"]["startTime"].as_str()) else { return json!("") };
    let end = parse_time(job["status"]["completionTime"].as_str()).unwrap_or(now);
    json!(human_duration((end - start).whole_seconds()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn cells(group: &str, plural: &str, obj: &Value) -> Vec<Value> {
        let r = crate::registry::Registry::builtin();
        let def =
            r.resources().iter().find(|d| d.group == group && d.plural == plural).unwrap().clone();
        let now = parse_time(Some("2026-01-01T01:00:00Z")).unwrap();
        columns(&def).unwrap().iter().map(|c| c.value(obj, now)).collect()
    }

    #[test]
    fn deployments_and_replicasets_show_counts_and_wide_containers() {
        let tmpl = json!({"spec": {"containers": [{"name": "nginx", "image": "nginx:1.25"}, {"name": "s", "image": "busybox"}]}});
        let d = json!({"metadata": {"name": "web"}, "spec": {"replicas": 3, "template": tmpl,
            "selector": {"matchLabels": {"app": "web"}}},
            "status": {"readyReplicas": 1, "updatedReplicas": 3, "availableReplicas": 1}});
        assert_eq!(
            cells("apps", "deployments", &d),
            [
                json!("web"),
                json!("1/3"),
                json!(3),
                json!(1),
                json!("<unknown>"),
                json!("nginx,s"),
                json!("nginx:1.25,busybox"),
                json!("app=web")
            ]
        );
        let rs = json!({"metadata": {"name": "web-1"}, "spec": {"replicas": 2}, "status": {"replicas": 2}});
        assert_eq!(cells("apps", "replicasets", &rs)[1..4], [json!(2), json!(2), json!(0)]);
    }

    #[test]
    fn jobs_and_cronjobs_show_status_completions_and_schedule() {
        let job = json!({"metadata": {"name": "j"}, "spec": {"completions": 3},
            "status": {"succeeded": 3, "startTime": "2026-01-01T00:00:00Z", "completionTime": "2026-01-01T00:00:40Z",
                       "conditions": [{"type": "Complete", "status": "True"}]}});
        assert_eq!(
            cells("batch", "jobs", &job)[1..4],
            [json!("Complete"), json!("3/3"), json!("40s")]
        );
        let running = json!({"metadata": {"name": "r"}, "spec": {"parallelism": 2}, "status": {"startTime": "2026-01-01T00:59:00Z"}});
        assert_eq!(
            cells("batch", "jobs", &running)[1..4],
            [json!("Running"), json!("0/1 of 2"), json!("60s")]
        );
        let cj =
            json!({"metadata": {"name": "c"}, "spec": {"schedule": "*/5 * * * *"}, "status": {}});
        assert_eq!(
            cells("batch", "cronjobs", &cj)[1..6],
            [json!("*/5 * * * *"), json!("<none>"), json!("False"), json!(0), json!("<none>")]
        );
    }
}
