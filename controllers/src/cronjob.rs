//! The CronJob controller: at each scheduled time (UTC, or in `spec.timeZone`) it makes
//! a Job from the template, named `<cronjob>-<minutes since the epoch>`, honouring `suspend`,
//! `startingDeadlineSeconds` and `concurrencyPolicy` (Allow, Forbid, Replace); it keeps the
//! newest finished Jobs up to the history limits and reports `active`, `lastScheduleTime` and
//! `lastSuccessfulTime`. It looks again every second while the CronJob exists.

use k3rs_api::Status;
use k3rs_api::delete::DeleteOptions;
use k3rs_api::service::Objects;
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::cron::Schedule;
use crate::manager::{Outcome, unless_gone};
use crate::owned::{controlled, write_status};
use crate::work::terminating;

fn parse_time(text: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()
}

fn stamp(t: OffsetDateTime) -> String {
    k3rs_api::objects::timestamp(t)
}

/// A Job's end: `Some(true)` Complete, `Some(false)` Failed, `None` still running.
fn finished(job: &Value) -> Option<bool> {
    job["status"]["conditions"].as_array()?.iter().find_map(|c| match c["type"].as_str() {
        Some("Complete") if c["status"] == "True" => Some(true),
        Some("Failed") if c["status"] == "True" => Some(false),
        _ => None,
    })
}

/// The Job `cj` runs for the time `due`.
pub fn job_for(cj: &Value, due: OffsetDateTime) -> Value {
    let name = cj["metadata"]["name"].as_str().unwrap_or("");
    let template = &cj["spec"]["jobTemplate"];
    let mut metadata = template["metadata"].as_object().cloned().unwrap_or_default();
    metadata.insert("name".into(), json!(format!("{name}-{}", due.unix_timestamp() / 60)));
    let mut annotations = metadata.get("annotations").cloned().unwrap_or_else(|| json!({}));
    annotations["batch.kubernetes.io/cronjob-scheduled-timestamp"] = json!(stamp(due));
    metadata.insert("annotations".into(), annotations);
    metadata.insert(
        "ownerReferences".into(),
        json!([{
            "apiVersion": "batch/v1",
            "kind": "CronJob",
            "name": name,
            "uid": cj["metadata"]["uid"],
            "controller": true,
            "blockOwnerDeletion": true,
        }]),
    );
    json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": metadata, "spec": template["spec"]})
}

/// The latest scheduled time in `(since, now]`, if any.
pub fn due(
    schedule: &Schedule,
    since: OffsetDateTime,
    now: OffsetDateTime,
) -> Option<OffsetDateTime> {
    let mut latest = None;
    let mut t = since;
    while let Some(next) = schedule.next_after(t) {
        if next > now {
            break;
        }
        latest = Some(next);
        t = next;
    }
    latest
}

/// The finished Jobs beyond the history limits, oldest first.
pub fn expired(cj: &Value, jobs: &[Value]) -> Vec<String> {
    let mut out = Vec::new();
    for (ok, key, default) in
        [(true, "successfulJobsHistoryLimit", 3), (false, "failedJobsHistoryLimit", 1)]
    {
        let keep = usize::try_from(cj["spec"][key].as_i64().unwrap_or(default).max(0)).unwrap_or(0);
        let mut done: Vec<&Value> = jobs.iter().filter(|j| finished(j) == Some(ok)).collect();
        done.sort_by_key(|j| j["metadata"]["creationTimestamp"].as_str().unwrap_or("").to_owned());
        let excess = done.len().saturating_sub(keep);
        out.extend(
            done.iter()
                .take(excess)
                .filter_map(|j| j["metadata"]["name"].as_str().map(str::to_owned)),
        );
    }
    out
}

pub async fn reconcile(
    objects: Objects<'_>,
    namespace: &str,
    name: &str,
) -> Result<Outcome, Status> {
    let (Some(cj_def), Some(job_def)) = (
        objects.registry.get("batch", "v1", "cronjobs"),
        objects.registry.get("batch", "v1", "jobs"),
    ) else {
        return Ok(Outcome::Done);
    };
    let Some(cj) = unless_gone(objects.get(cj_def, Some(namespace), name))? else {
        return Ok(Outcome::Done);
    };
    if terminating(&cj) {
        return Ok(Outcome::Done);
    }
    let uid = cj["metadata"]["uid"].as_str().unwrap_or("");
    let jobs = controlled(&objects, job_def, namespace, uid)?;
    // Background propagation (the default): a deleted Job's pods go after it.
    let background = DeleteOptions::default();
    for old in expired(&cj, &jobs) {
        unless_gone(objects.delete(job_def, Some(namespace), &old, &background, false).await)?;
    }
    let now = OffsetDateTime::now_utc();
    let mut status = cj["status"].clone();
    if !status.is_object() {
        status = json!({});
    }
    let parsed = Schedule::parse(cj["spec"]["schedule"].as_str().unwrap_or(""));
    let schedule = match (parsed, cj["spec"]["timeZone"].as_str()) {
        (Ok(s), Some(zone)) => s.in_zone(zone),
        (parsed, _) => parsed,
    };
    let schedule = match schedule {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(actor = "ControllerActor", cronjob = name, error = %e, "unparsable schedule");
            return Ok(Outcome::Done);
        }
    };
    let since = status["lastScheduleTime"]
        .as_str()
        .or(cj["metadata"]["creationTimestamp"].as_str())
        .and_then(parse_time)
        .unwrap_or(now);
    let mut active: Vec<&Value> =
        jobs.iter().filter(|j| finished(j).is_none() && !terminating(j)).collect();
    if cj["spec"]["suspend"] != true
        && let Some(due) = due(&schedule, since, now)
    {
        let deadline = cj["spec"]["startingDeadlineSeconds"].as_i64();
        let late = deadline.is_some_and(|d| (now - due).whole_seconds() > d);
        let policy = cj["spec"]["concurrencyPolicy"].as_str().unwrap_or("Allow");
        let skip = late || (policy == "Forbid" && !active.is_empty());
        if !skip {
            if policy == "Replace" {
                for job in active.drain(..) {
                    let n = job["metadata"]["name"].as_str().unwrap_or_default();
                    unless_gone(
                        objects.delete(job_def, Some(namespace), n, &background, false).await,
                    )?;
                }
            }
            match objects.create(job_def, Some(namespace), job_for(&cj, due), false).await {
                Ok(_) => {}
                Err(s) if s.code == 409 => {}
                Err(s) if s.code == 403 => return Ok(Outcome::Done),
                Err(s) => return Err(s),
            }
        }
        status["lastScheduleTime"] = json!(stamp(due));
    }
    let jobs = controlled(&objects, job_def, namespace, uid)?;
    let refs: Vec<Value> = jobs
        .iter()
        .filter(|j| finished(j).is_none() && !terminating(j))
        .map(|j| {
            json!({"kind": "Job", "apiVersion": "batch/v1", "namespace": namespace,
                   "name": j["metadata"]["name"], "uid": j["metadata"]["uid"]})
        })
        .collect();
    if refs.is_empty() {
        if let Some(map) = status.as_object_mut() {
            map.remove("active");
        }
    } else {
        status["active"] = json!(refs);
    }
    if let Some(last) = jobs
        .iter()
        .filter(|j| finished(j) == Some(true))
        .filter_map(|j| j["status"]["completionTime"].as_str())
        .max()
    {
        status["lastSuccessfulTime"] = json!(last);
    }
    if status != cj["status"] {
        write_status(&objects, cj_def, namespace, name, &status).await?;
    }
    Ok(Outcome::Later)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn at(text: &str) -> OffsetDateTime {
        parse_time(text).unwrap()
    }

    #[test]
    fn the_latest_missed_time_runs_once() {
        let every = Schedule::parse("*/5 * * * *").unwrap();
        assert_eq!(due(&every, at("2026-11-25T10:00:00Z"), at("2026-11-25T10:04:59Z")), None);
        assert_eq!(
            due(&every, at("2026-11-25T10:00:00Z"), at("2026-11-25T10:17:00Z")),
            Some(at("2026-11-25T10:15:00Z"))
        );
    }

    #[test]
    fn jobs_are_named_by_their_minute_and_history_is_bounded() {
        let cj = json!({"metadata": {"name": "tick", "uid": "cu"},
            "spec": {"successfulJobsHistoryLimit": 1, "jobTemplate": {"spec": {"template": {}}}}});
        let job = job_for(&cj, at("2026-11-25T10:15:00Z"));
        assert_eq!(
            job["metadata"]["name"],
            format!("tick-{}", at("2026-11-25T10:15:00Z").unix_timestamp() / 60)
        );
        assert_eq!(job["metadata"]["ownerReferences"][0]["kind"], "CronJob");
        let done = |n: &str, t: &str| {
            json!({"metadata": {"name": n, "creationTimestamp": t},
            "status": {"conditions": [{"type": "Complete", "status": "True"}]}})
        };
        let failed = json!({"metadata": {"name": "f", "creationTimestamp": "t"},
            "status": {"conditions": [{"type": "Failed", "status": "True"}]}});
        let jobs = [done("a", "2026-01-01T00:00:00Z"), done("b", "2026-01-02T00:00:00Z"), failed];
        assert_eq!(expired(&cj, &jobs), ["a"]);
    }
}
