//! The Deployment controller: one ReplicaSet per pod template (named by the template's hash),
//! the current one scaled to `spec.replicas`, older ones scaled down as the new one's pods
//! become available (all at once for the `Recreate` strategy), and the rollout reported in the
//! Deployment's status the way `kubectl rollout status` reads it.

use k3rs_api::Status;
use k3rs_api::selector::Selectors;
use k3rs_api::service::Objects;
use k3rs_api::subresource::{self, Sub};
use serde_json::{Map, Value, json};

use k3rs_api::event::{EventSpec, EventType};

use crate::events;
use crate::manager::{Outcome, unless_gone};
use crate::work::{controller_of, terminating};

/// The label (and selector term) that ties a ReplicaSet and its pods to one template.
pub const HASH_LABEL: &str = "pod-template-hash";
/// The annotation with a ReplicaSet's rollout revision.
pub const REVISION: &str = "deployment.kubernetes.io/revision";
/// Upstream's alphabet for names (no vowels, no look-alikes).
const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// The hash of a pod template (FNV-1a over its JSON), spelled in upstream's name alphabet.
pub fn template_hash(template: &Value) -> String {
    let mut h: u32 = 0x811c_9dc5;
    for b in template.to_string().bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    let mut out = String::new();
    let mut n = u64::from(h);
    loop {
        out.push(ALPHABET[usize::try_from(n % 27).unwrap_or(0)] as char);
        n /= 27;
        if n == 0 {
            break;
        }
    }
    out
}

fn replicas(obj: &Value) -> i64 {
    obj["spec"]["replicas"].as_i64().unwrap_or(1).max(0)
}

fn count(obj: &Value, field: &str) -> i64 {
    obj["status"][field].as_i64().unwrap_or(0)
}

fn revision(rs: &Value) -> i64 {
    rs["metadata"]["annotations"][REVISION].as_str().and_then(|r| r.parse().ok()).unwrap_or(0)
}

/// The ReplicaSet for `deploy`'s current template.
pub fn new_replicaset(deploy: &Value, hash: &str, revision: i64) -> Value {
    let name = deploy["metadata"]["name"].as_str().unwrap_or("");
    let mut template = deploy["spec"]["template"].clone();
    template["metadata"]["labels"][HASH_LABEL] = json!(hash);
    let mut selector = deploy["spec"]["selector"].clone();
    selector["matchLabels"][HASH_LABEL] = json!(hash);
    let labels = template["metadata"]["labels"].clone();
    json!({
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": format!("{name}-{hash}"),
            "labels": labels,
            "annotations": {REVISION: revision.to_string()},
            "ownerReferences": [{
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": name,
                "uid": deploy["metadata"]["uid"],
                "controller": true,
                "blockOwnerDeletion": true,
            }],
        },
        "spec": {
            "replicas": replicas(deploy),
            "minReadySeconds": deploy["spec"]["minReadySeconds"].as_i64().unwrap_or(0),
            "selector": selector,
            "template": template,
        },
    })
}

/// `maxSurge` and `maxUnavailable` of a RollingUpdate strategy as pod counts (default 25%
/// each; percentages round up for surge and down for unavailable; both zero means one may be
/// unavailable), as upstream resolves them.
pub fn surge_and_unavailable(deploy: &Value) -> (i64, i64) {
    let n = replicas(deploy);
    let ru = &deploy["spec"]["strategy"]["rollingUpdate"];
    let resolve = |v: &Value, round_up: bool| -> i64 {
        match v {
            Value::Number(x) => x.as_i64().unwrap_or(0).max(0),
            Value::String(s) => {
                let pct: i64 = s.trim_end_matches('%').parse().unwrap_or(25);
                let scaled = n * pct;
                if round_up { (scaled + 99) / 100 } else { scaled / 100 }
            }
            _ => {
                let scaled = n * 25;
                if round_up { (scaled + 99) / 100 } else { scaled / 100 }
            }
        }
    };
    let surge = resolve(&ru["maxSurge"], true);
    let unavailable = resolve(&ru["maxUnavailable"], false);
    if surge == 0 && unavailable == 0 { (0, 1) } else { (surge, unavailable) }
}

/// A rolling update step: the new ReplicaSet's replicas, and how many old replicas to scale
/// away this step (`Recreate`: all old ones first, then the new one).
pub fn rollout_step(deploy: &Value, new_rs: &Value, olds: &[&Value]) -> (i64, i64) {
    let want = replicas(deploy);
    let new_now = replicas(new_rs);
    let old_total: i64 = olds.iter().map(|rs| replicas(rs)).sum();
    if deploy["spec"]["strategy"]["type"] == "Recreate" {
        let old_running: i64 = olds.iter().map(|rs| count(rs, "replicas")).sum();
        let new_replicas = if old_total == 0 && old_running == 0 { want } else { new_now.min(0) };
        return (new_replicas, old_total);
    }
    let (surge, max_unavailable) = surge_and_unavailable(deploy);
    // Scale the new one up within the surge (never above the wanted count).
    let new_replicas = if new_now >= want {
        want
    } else {
        let room = want + surge - (old_total + new_now);
        (new_now + room.max(0)).min(want)
    };
    // Scale old ones down as far as availability allows.
    let all_total = old_total + new_replicas;
    let min_available = want - max_unavailable;
    let new_unavailable = (new_replicas - count(new_rs, "availableReplicas")).max(0);
    let max_scale_down = (all_total - min_available - new_unavailable).max(0);
    let old_unavailable: i64 =
        olds.iter().map(|rs| (replicas(rs) - count(rs, "availableReplicas")).max(0)).sum();
    let available: i64 = olds.iter().map(|rs| count(rs, "availableReplicas")).sum::<i64>()
        + count(new_rs, "availableReplicas");
    // Unhealthy old replicas go first (they count toward nothing), then healthy ones down
    // to the minimum available.
    let unhealthy = old_unavailable.min(max_scale_down);
    let healthy = (available - min_available).max(0).min(max_scale_down - unhealthy);
    (new_replicas, (unhealthy + healthy).min(old_total))
}

/// A condition, keeping its transition time when its status does not change.
fn condition(
    old: &[Value],
    kind: &str,
    status: &str,
    reason: &str,
    message: String,
    now: &str,
) -> Value {
    let prev = old.iter().find(|c| c["type"] == kind);
    let same = prev.is_some_and(|p| p["status"] == status);
    let transition = match prev {
        Some(p) if same => p["lastTransitionTime"].clone(),
        _ => json!(now),
    };
    let update = match prev {
        Some(p) if same && p["reason"] == reason => p["lastUpdateTime"].clone(),
        _ => json!(now),
    };
    json!({"type": kind, "status": status, "reason": reason, "message": message,
        "lastUpdateTime": update, "lastTransitionTime": transition})
}

/// The status of `deploy` given its ReplicaSets (`new_rs` among them).
pub fn status(deploy: &Value, all: &[Value], new_rs: &Value, now: &str) -> Value {
    let sum = |f: &str| all.iter().map(|rs| count(rs, f)).sum::<i64>();
    let want = replicas(deploy);
    let total = sum("replicas");
    let available = sum("availableReplicas");
    let updated = count(new_rs, "replicas");
    let old: Vec<Value> = deploy["status"]["conditions"].as_array().cloned().unwrap_or_default();
    let available_cond = if available >= want {
        condition(
            &old,
            "Available",
            "True",
            "MinimumReplicasAvailable",
            "Deployment has minimum availability.".into(),
            now,
        )
    } else {
        condition(
            &old,
            "Available",
            "False",
            "MinimumReplicasUnavailable",
            "Deployment does not have minimum availability.".into(),
            now,
        )
    };
    let rs_name = new_rs["metadata"]["name"].as_str().unwrap_or("");
    let complete = updated == want && count(new_rs, "availableReplicas") >= want && total == want;
    let progressing = if complete {
        condition(
            &old,
            "Progressing",
            "True",
            "NewReplicaSetAvailable",
            format!("ReplicaSet \"{rs_name}\" has successfully progressed."),
            now,
        )
    } else {
        condition(
            &old,
            "Progressing",
            "True",
            "ReplicaSetUpdated",
            format!("ReplicaSet \"{rs_name}\" is progressing."),
            now,
        )
    };
    let mut s = Map::new();
    s.insert("observedGeneration".into(), deploy["metadata"]["generation"].clone());
    s.insert("replicas".into(), json!(total));
    s.insert("updatedReplicas".into(), json!(updated));
    s.insert("readyReplicas".into(), json!(sum("readyReplicas")));
    s.insert("availableReplicas".into(), json!(available));
    s.insert("unavailableReplicas".into(), json!((total - available).max(0)));
    s.retain(|_, v| *v != json!(0) && !v.is_null());
    s.insert("conditions".into(), json!([available_cond, progressing]));
    Value::Object(s)
}

fn same_ignoring_times(a: &Value, b: &Value) -> bool {
    fn strip(v: &Value) -> Value {
        let mut v = v.clone();
        if let Some(cs) = v["conditions"].as_array_mut() {
            for c in cs {
                if let Some(c) = c.as_object_mut() {
                    c.remove("lastUpdateTime");
                    c.remove("lastTransitionTime");
                }
            }
        }
        v
    }
    strip(a) == strip(b)
}

/// Roll Deployment `namespace/name` toward its template and report the rollout.
pub async fn reconcile(
    objects: Objects<'_>,
    namespace: &str,
    name: &str,
) -> Result<Outcome, Status> {
    let (Some(d_def), Some(rs_def)) = (
        objects.registry.get("apps", "v1", "deployments"),
        objects.registry.get("apps", "v1", "replicasets"),
    ) else {
        return Ok(Outcome::Done);
    };
    let Some(deploy) = unless_gone(objects.get(d_def, Some(namespace), name))? else {
        return Ok(Outcome::Done);
    };
    if terminating(&deploy) {
        return Ok(Outcome::Done);
    }
    let uid = deploy["metadata"]["uid"].as_str().unwrap_or("").to_owned();
    let owned = |objects: &Objects<'_>| -> Result<Vec<Value>, Status> {
        let (all, _) = objects.list(rs_def, Some(namespace), &Selectors::default())?;
        Ok(all.into_iter().filter(|rs| controller_of(rs).is_some_and(|c| c.uid == uid)).collect())
    };
    let all = owned(&objects)?;
    let hash = template_hash(&deploy["spec"]["template"]);
    let paused = deploy["spec"]["paused"].as_bool().unwrap_or(false);
    let new_rs = match all.iter().find(|rs| rs["metadata"]["labels"][HASH_LABEL] == hash.as_str()) {
        Some(rs) => rs.clone(),
        None if paused => return Ok(Outcome::Done),
        None => {
            let next = all.iter().map(revision).max().unwrap_or(0) + 1;
            match objects
                .create(rs_def, Some(namespace), new_replicaset(&deploy, &hash, next), false)
                .await
            {
                Ok(rs) => {
                    scaled(&objects, &deploy, &rs, 0, rs["spec"]["replicas"].as_i64().unwrap_or(0))
                        .await;
                    rs
                }
                Err(s) if s.code == 409 || s.code == 403 => return Ok(Outcome::Later),
                Err(s) => return Err(s),
            }
        }
    };
    // The Deployment carries its current revision, as upstream's does (`rollout undo` and
    // `rollout history` read and patch it).
    let current = revision(&new_rs).to_string();
    if deploy["metadata"]["annotations"][REVISION].as_str() != Some(current.as_str()) {
        let result = objects
            .update_with(d_def, Some(namespace), name, Sub::Main, false, |existing| {
                let mut w = existing.clone();
                w["metadata"]["annotations"][REVISION] = json!(current);
                Ok((w, false))
            })
            .await;
        unless_gone(result)?;
    }
    let mut changed = !all.iter().any(|rs| rs["metadata"]["uid"] == new_rs["metadata"]["uid"]);
    if !paused {
        let new_name = new_rs["metadata"]["name"].as_str().unwrap_or("").to_owned();
        let mut olds: Vec<&Value> =
            all.iter().filter(|rs| rs["metadata"]["name"] != new_name.as_str()).collect();
        // The oldest go first.
        olds.sort_by_key(|rs| revision(rs));
        let (new_replicas, mut scale_down) = rollout_step(&deploy, &new_rs, &olds);
        changed |=
            set_replicas(&objects, rs_def, namespace, &deploy, &new_rs, new_replicas).await?;
        for old in olds {
            let cut = replicas(old).min(scale_down);
            scale_down -= cut;
            let keep = replicas(old) - cut;
            changed |= set_replicas(&objects, rs_def, namespace, &deploy, old, keep).await?;
        }
    }
    // Read the ReplicaSets again only if this pass changed them.
    let all = if changed { owned(&objects)? } else { all };
    let new_rs = all
        .iter()
        .find(|rs| rs["metadata"]["labels"][HASH_LABEL] == hash.as_str())
        .cloned()
        .unwrap_or(new_rs);
    let now = k3rs_api::objects::timestamp(time::OffsetDateTime::now_utc());
    let wanted = status(&deploy, &all, &new_rs, &now);
    if !same_ignoring_times(&wanted, &deploy["status"]) {
        let result = objects
            .update_with(d_def, Some(namespace), name, Sub::Status, false, |existing| {
                let mut w = existing.clone();
                w["status"] = status(existing, &all, &new_rs, &now);
                Ok((subresource::merge_write(d_def, Sub::Status, existing, w)?, false))
            })
            .await;
        unless_gone(result)?;
    }
    Ok(Outcome::Done)
}

/// Scale ReplicaSet `rs` (as last read) to `n`, recording it on the Deployment as upstream
/// does; says whether it wrote.
async fn set_replicas(
    objects: &Objects<'_>,
    rs_def: &k3rs_api::registry::ResourceDef,
    namespace: &str,
    deploy: &Value,
    rs: &Value,
    n: i64,
) -> Result<bool, Status> {
    let Some(name) = rs["metadata"]["name"].as_str() else { return Ok(false) };
    let before = rs["spec"]["replicas"].as_i64().unwrap_or(0);
    if before == n {
        return Ok(false);
    }
    let result = objects
        .update_with(rs_def, Some(namespace), name, Sub::Main, false, |existing| {
            let mut w = existing.clone();
            w["spec"]["replicas"] = json!(n);
            Ok((w, false))
        })
        .await;
    let wrote = unless_gone(result)?.is_some();
    if wrote {
        scaled(objects, deploy, rs, before, n).await;
    }
    Ok(wrote)
}

/// Record on the Deployment that ReplicaSet `rs` went from `before` to `n` replicas.
async fn scaled(objects: &Objects<'_>, deploy: &Value, rs: &Value, before: i64, n: i64) {
    if before == n {
        return;
    }
    let name = rs["metadata"]["name"].as_str().unwrap_or_default();
    let direction = if n > before { "up" } else { "down" };
    let spec = EventSpec {
        kind: EventType::Normal,
        reason: "ScalingReplicaSet",
        message: format!("Scaled {direction} replica set {name} from {before} to {n}"),
        component: "deployment-controller",
        host: None,
    };
    events::record(objects, deploy, spec).await;
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn deploy() -> Value {
        json!({"metadata": {"name": "web", "uid": "du", "generation": 3},
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "nginx", "image": "nginx"}]}}}})
    }

    #[test]
    fn template_hashes_are_stable_and_differ_by_template() {
        let d = deploy();
        let h = template_hash(&d["spec"]["template"]);
        assert_eq!(h, template_hash(&d["spec"]["template"]));
        assert!(h.bytes().all(|b| ALPHABET.contains(&b)));
        let mut d2 = deploy();
        d2["spec"]["template"]["spec"]["containers"][0]["image"] = json!("nginx:2");
        assert_ne!(h, template_hash(&d2["spec"]["template"]));
    }

    #[test]
    fn the_new_replicaset_selects_its_hash_and_names_its_owner() {
        let rs = new_replicaset(&deploy(), "abc", 2);
        assert_eq!(rs["metadata"]["name"], "web-abc");
        assert_eq!(
            rs["spec"]["selector"]["matchLabels"],
            json!({"app": "web", "pod-template-hash": "abc"})
        );
        assert_eq!(rs["spec"]["template"]["metadata"]["labels"]["pod-template-hash"], "abc");
        assert_eq!(rs["metadata"]["annotations"][REVISION], "2");
        assert_eq!(rs["metadata"]["ownerReferences"][0]["uid"], "du");
        assert_eq!(rs["spec"]["replicas"], 3);
    }

    #[test]
    fn surge_and_unavailable_resolve_as_upstream() {
        let mut d = json!({"spec": {"replicas": 10}});
        assert_eq!(surge_and_unavailable(&d), (3, 2), "25% up and down");
        d["spec"]["strategy"] = json!({"rollingUpdate": {"maxSurge": 0, "maxUnavailable": "0%"}});
        assert_eq!(surge_and_unavailable(&d), (0, 1));
        d["spec"]["strategy"] = json!({"rollingUpdate": {"maxSurge": "50%", "maxUnavailable": 3}});
        assert_eq!(surge_and_unavailable(&d), (5, 3));
    }

    #[test]
    fn a_rolling_update_surges_then_trades_old_for_available_new() {
        // 4 replicas, maxSurge 1, maxUnavailable 0: one new at a time, an old one goes only
        // when a new one is available.
        let d = json!({"spec": {"replicas": 4, "strategy": {"rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}}});
        let old =
            json!({"spec": {"replicas": 4}, "status": {"replicas": 4, "availableReplicas": 4}});
        let new = json!({"spec": {"replicas": 0}, "status": {}});
        assert_eq!(rollout_step(&d, &new, &[&old]), (1, 0));
        let new = json!({"spec": {"replicas": 1}, "status": {"availableReplicas": 0}});
        assert_eq!(rollout_step(&d, &new, &[&old]), (1, 0), "nothing goes until it is available");
        let new = json!({"spec": {"replicas": 1}, "status": {"availableReplicas": 1}});
        assert_eq!(rollout_step(&d, &new, &[&old]), (1, 1));
        let old3 =
            json!({"spec": {"replicas": 3}, "status": {"replicas": 3, "availableReplicas": 3}});
        assert_eq!(rollout_step(&d, &new, &[&old3]), (2, 0), "the freed room goes to a new one");
        // Recreate: old ones to zero first, the new one after they are gone.
        let r = json!({"spec": {"replicas": 4, "strategy": {"type": "Recreate"}}});
        assert_eq!(rollout_step(&r, &new, &[&old]), (0, 4));
        let gone = json!({"spec": {"replicas": 0}, "status": {"replicas": 0}});
        assert_eq!(rollout_step(&r, &new, &[&gone]), (4, 0));
    }

    #[test]
    fn status_reads_as_rollout_status_expects() {
        let new_rs = json!({"metadata": {"name": "web-abc"}, "status": {"replicas": 3, "readyReplicas": 3, "availableReplicas": 3}});
        let s = status(&deploy(), std::slice::from_ref(&new_rs), &new_rs, "t1");
        assert_eq!(
            (
                s["observedGeneration"].clone(),
                s["updatedReplicas"].clone(),
                s["availableReplicas"].clone()
            ),
            (json!(3), json!(3), json!(3))
        );
        assert_eq!(s["conditions"][1]["reason"], "NewReplicaSetAvailable");
        let mut d = deploy();
        d["status"] = s.clone();
        let again = status(&d, std::slice::from_ref(&new_rs), &new_rs, "t2");
        assert_eq!(again, s);
        let pending = json!({"metadata": {"name": "web-abc"}, "status": {"replicas": 3}});
        let s = status(&deploy(), std::slice::from_ref(&pending), &pending, "t1");
        assert_eq!(s["unavailableReplicas"], 3);
        assert_eq!(s["conditions"][0]["status"], "False");
    }
}
