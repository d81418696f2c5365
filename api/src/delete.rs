//! Deletion as upstream does it: `DeleteOptions` (grace period, propagation policy,
//! preconditions), graceful deletion (`deletionTimestamp`, `deletionGracePeriodSeconds`) and
//! finalizers. A delete either removes the object now or marks it terminating; an update that
//! clears the last finalizer of a terminating object removes it.

use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::registry::ResourceDef;
use crate::status::Target;
use crate::{Status, objects};

/// The finalizer that makes the garbage collector delete dependents before their owner.
pub const FOREGROUND: &str = "foregroundDeletion";
/// The finalizer that makes the garbage collector orphan dependents before the owner goes.
pub const ORPHAN: &str = "orphan";
/// A namespace's own finalizer (in `spec.finalizers`): its contents are being deleted.
pub const NAMESPACE_FINALIZER: &str = "kubernetes";

/// How dependents are treated when their owner is deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Propagation {
    #[default]
    Background,
    Foreground,
    Orphan,
}

/// `metav1.DeleteOptions`, from the body and the query.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeleteOptions {
    pub grace_period_seconds: Option<i64>,
    pub propagation: Propagation,
    pub uid: Option<String>,
    pub resource_version: Option<String>,
}

impl DeleteOptions {
    /// Read the options from a (possibly empty) JSON body and the query parameters
    /// (`gracePeriodSeconds`, `propagationPolicy`, `orphanDependents`); the body wins.
    pub fn parse(body: &Value, query: impl Fn(&str) -> Option<String>) -> Result<Self, Status> {
        let bad = |m: String| Status::bad_request(m);
        let grace = match body.get("gracePeriodSeconds").filter(|v| !v.is_null()) {
            Some(v) => {
                Some(v.as_i64().ok_or_else(|| bad(format!("invalid gracePeriodSeconds {v}")))?)
            }
            None => match query("gracePeriodSeconds") {
                Some(q) => Some(
                    q.parse::<i64>()
                        .map_err(|_| bad(format!("invalid gracePeriodSeconds {q:?}")))?,
                ),
                None => None,
            },
        };
        let policy = body["propagationPolicy"]
            .as_str()
            .map(str::to_owned)
            .or_else(|| query("propagationPolicy"));
        let orphan = body["orphanDependents"]
            .as_bool()
            .or_else(|| query("orphanDependents").map(|v| v == "true"));
        let propagation = match (policy.as_deref(), orphan) {
            (Some("Foreground"), _) => Propagation::Foreground,
            (Some("Orphan"), _) | (None, Some(true)) => Propagation::Orphan,
            (Some("Background") | None, _) => Propagation::Background,
            (Some(other), _) => {
                return Err(Status::unprocessable(format!(
                    "DeleteOptions.meta.k8s.io \"\" is invalid: propagationPolicy: Unsupported value: {other:?}: supported values: \"Foreground\", \"Background\", \"Orphan\""
                )));
            }
        };
        if grace.is_some_and(|g| g < 0) {
            return Err(Status::unprocessable("gracePeriodSeconds must be 0 or more".into()));
        }
        let pre = &body["preconditions"];
        Ok(DeleteOptions {
            grace_period_seconds: grace,
            propagation,
            uid: pre["uid"].as_str().map(str::to_owned),
            resource_version: pre["resourceVersion"].as_str().map(str::to_owned),
        })
    }
}

/// What a delete does.
#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    /// Remove the object now.
    Now,
    /// Store this object (terminating) instead; it goes when its finalizers and grace are done.
    Mark(Value),
    /// Already terminating and nothing changes.
    Unchanged,
}

fn is_namespace(def: &ResourceDef) -> bool {
    def.group.is_empty() && def.plural == "namespaces"
}

fn is_pod(def: &ResourceDef) -> bool {
    def.group.is_empty() && def.plural == "pods"
}

/// Plan the deletion of `existing`.
pub fn plan(
    def: &ResourceDef,
    existing: &Value,
    opts: &DeleteOptions,
    now: OffsetDateTime,
) -> Result<Plan, Status> {
    let meta = &existing["metadata"];
    let target = Target {
        resource: &def.plural,
        group: &def.group,
        name: meta["name"].as_str().unwrap_or(""),
    };
    if let Some(uid) = &opts.uid
        && meta["uid"].as_str() != Some(uid.as_str())
    {
        let actual = meta["uid"].as_str().unwrap_or("");
        return Err(Status::precondition_failed(
            target,
            &format!("UID in precondition: {uid}, UID in object meta: {actual}"),
        ));
    }
    if let Some(rv) = &opts.resource_version
        && meta["resourceVersion"].as_str() != Some(rv.as_str())
    {
        let actual = meta["resourceVersion"].as_str().unwrap_or("");
        return Err(Status::precondition_failed(
            target,
            &format!(
                "ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {actual}"
            ),
        ));
    }
    let grace = grace_period(def, existing, opts);
    let mut finalizers = strings(&meta["finalizers"]);
    let policy_finalizer = match opts.propagation {
        Propagation::Foreground => Some(FOREGROUND),
        Propagation::Orphan => Some(ORPHAN),
        Propagation::Background => None,
    };
    let terminating = meta.get("deletionTimestamp").is_some_and(|t| !t.is_null());
    let namespace_pending = is_namespace(def)
        && strings(&existing["spec"]["finalizers"]).iter().any(|f| f == NAMESPACE_FINALIZER);
    if finalizers.is_empty() && grace == 0 && policy_finalizer.is_none() && !namespace_pending {
        return Ok(Plan::Now);
    }
    let mut out = existing.clone();
    let mut changed = false;
    if let Some(f) = policy_finalizer
        && !finalizers.iter().any(|x| x == f)
    {
        // Foreground and orphan exclude each other: the newer request wins.
        finalizers.retain(|x| x != FOREGROUND && x != ORPHAN);
        finalizers.push(f.to_owned());
        out["metadata"]["finalizers"] = json!(finalizers);
        changed = true;
    }
    let current_grace = meta["deletionGracePeriodSeconds"].as_i64();
    if !terminating || current_grace.is_some_and(|g| grace < g) {
        let at = now + time::Duration::seconds(grace);
        out["metadata"]["deletionTimestamp"] = json!(objects::timestamp(at));
        out["metadata"]["deletionGracePeriodSeconds"] = json!(grace);
        changed = true;
    }
    if is_namespace(def) && out["status"]["phase"] != "Terminating" {
        out["status"]["phase"] = json!("Terminating");
        changed = true;
    }
    if !changed {
        return Ok(Plan::Unchanged);
    }
    Ok(Plan::Mark(out))
}

/// The grace period a delete uses: pods bound to a node wait for it (their own
/// `terminationGracePeriodSeconds`, 30 by default) unless the request says otherwise;
/// everything else (and unbound or finished pods) goes at once.
fn grace_period(def: &ResourceDef, existing: &Value, opts: &DeleteOptions) -> i64 {
    if !is_pod(def) {
        return 0;
    }
    let unbound = existing["spec"]["nodeName"].as_str().is_none_or(str::is_empty);
    let finished = matches!(existing["status"]["phase"].as_str(), Some("Succeeded" | "Failed"));
    if unbound || finished {
        return 0;
    }
    opts.grace_period_seconds
        .or_else(|| existing["spec"]["terminationGracePeriodSeconds"].as_i64())
        .unwrap_or(30)
        .max(0)
}

/// Should an object just written be removed: it is terminating, its finalizers (and, for a
/// namespace, its spec finalizers) are all gone, and no grace period is left to wait for.
pub fn finished(def: &ResourceDef, obj: &Value) -> bool {
    let meta = &obj["metadata"];
    let terminating = meta.get("deletionTimestamp").is_some_and(|t| !t.is_null());
    terminating
        && strings(&meta["finalizers"]).is_empty()
        && meta["deletionGracePeriodSeconds"].as_i64().unwrap_or(0) == 0
        && (!is_namespace(def) || strings(&obj["spec"]["finalizers"]).is_empty())
}

/// Does the object carry finalizer `name` in `metadata.finalizers`?
pub fn has_finalizer(obj: &Value, name: &str) -> bool {
    obj["metadata"]["finalizers"].as_array().into_iter().flatten().any(|f| f == name)
}

/// The object without finalizer `name` in the list at `pointer` (`/metadata/finalizers`, or a
/// namespace's `/spec/finalizers`).
pub fn without_finalizer(obj: &Value, pointer: &str, name: &str) -> Value {
    let mut out = obj.clone();
    if let Some(list) = out.pointer_mut(pointer).and_then(Value::as_array_mut) {
        list.retain(|f| f != name);
    }
    out
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array().into_iter().flatten().filter_map(Value::as_str).map(str::to_owned).collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::registry::Registry;

    fn now() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap()
    }

    fn opts(body: Value) -> DeleteOptions {
        DeleteOptions::parse(&body, |_| None).unwrap()
    }

    #[test]
    fn plain_objects_and_unbound_pods_go_now() {
        let r = Registry::builtin();
        let cm = r.get("", "v1", "configmaps").unwrap();
        let obj = json!({"metadata": {"name": "a", "uid": "u"}});
        assert_eq!(plan(cm, &obj, &opts(json!({})), now()).unwrap(), Plan::Now);
        let pods = r.get("", "v1", "pods").unwrap();
        let pending =
            json!({"metadata": {"name": "p"}, "spec": {}, "status": {"phase": "Pending"}});
        assert_eq!(plan(pods, &pending, &opts(json!({})), now()).unwrap(), Plan::Now);
    }

    #[test]
    fn bound_pods_wait_for_their_grace_period_unless_zero() {
        let r = Registry::builtin();
        let pods = r.get("", "v1", "pods").unwrap();
        let pod = json!({"metadata": {"name": "p"}, "spec": {"nodeName": "n1", "terminationGracePeriodSeconds": 10}});
        let Plan::Mark(m) = plan(pods, &pod, &opts(json!({})), now()).unwrap() else { panic!() };
        assert_eq!(m["metadata"]["deletionGracePeriodSeconds"], 10);
        assert_eq!(m["metadata"]["deletionTimestamp"], "2023-11-14T22:13:30Z");
        assert!(!finished(pods, &m));
        // A second delete with a shorter grace shortens it; the same grace changes nothing.
        assert_eq!(
            plan(pods, &m, &opts(json!({"gracePeriodSeconds": 10})), now()).unwrap(),
            Plan::Unchanged
        );
        let Plan::Mark(m2) =
            plan(pods, &m, &opts(json!({"gracePeriodSeconds": 3})), now()).unwrap()
        else {
            panic!()
        };
        assert_eq!(m2["metadata"]["deletionGracePeriodSeconds"], 3);
        assert_eq!(
            plan(pods, &pod, &opts(json!({"gracePeriodSeconds": 0})), now()).unwrap(),
            Plan::Now
        );
    }

    #[test]
    fn finalizers_keep_an_object_until_they_are_removed() {
        let r = Registry::builtin();
        let cm = r.get("", "v1", "configmaps").unwrap();
        let obj = json!({"metadata": {"name": "a", "finalizers": ["example.com/x"]}});
        let Plan::Mark(mut m) = plan(cm, &obj, &opts(json!({})), now()).unwrap() else { panic!() };
        assert_eq!(m["metadata"]["deletionGracePeriodSeconds"], 0);
        assert!(!finished(cm, &m));
        m["metadata"]["finalizers"] = json!([]);
        assert!(finished(cm, &m));
        let Plan::Mark(f) = plan(
            cm,
            &json!({"metadata": {"name": "b"}}),
            &opts(json!({"propagationPolicy": "Foreground"})),
            now(),
        )
        .unwrap() else {
            panic!()
        };
        assert_eq!(f["metadata"]["finalizers"], json!([FOREGROUND]));
        let o =
            DeleteOptions::parse(&json!({}), |k| (k == "orphanDependents").then(|| "true".into()))
                .unwrap();
        assert_eq!(o.propagation, Propagation::Orphan);
    }

    #[test]
    fn namespaces_terminate_until_their_contents_are_gone() {
        let r = Registry::builtin();
        let ns = r.get("", "v1", "namespaces").unwrap();
        let obj = json!({"metadata": {"name": "demo"}, "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}});
        let Plan::Mark(mut m) = plan(ns, &obj, &opts(json!({})), now()).unwrap() else { panic!() };
        assert_eq!(m["status"]["phase"], "Terminating");
        assert!(!finished(ns, &m));
        m = without_finalizer(&m, "/spec/finalizers", NAMESPACE_FINALIZER);
        assert_eq!(m["spec"]["finalizers"], json!([]));
        assert!(finished(ns, &m));
    }

    #[test]
    fn only_the_named_finalizer_is_removed() {
        let ns = json!({"spec": {"finalizers": ["kubernetes", "other"]}});
        let out = without_finalizer(&ns, "/spec/finalizers", NAMESPACE_FINALIZER);
        assert_eq!(out["spec"]["finalizers"], json!(["other"]));
        assert!(has_finalizer(&json!({"metadata": {"finalizers": ["a"]}}), "a"));
    }

    #[test]
    fn preconditions_and_bad_options_are_refused() {
        let r = Registry::builtin();
        let cm = r.get("", "v1", "configmaps").unwrap();
        let obj = json!({"metadata": {"name": "a", "uid": "u1", "resourceVersion": "5"}});
        let e = plan(cm, &obj, &opts(json!({"preconditions": {"uid": "u2"}})), now()).unwrap_err();
        assert_eq!(e.code, 409);
        assert!(e.message.contains("UID in precondition: u2"), "{}", e.message);
        let e = plan(cm, &obj, &opts(json!({"preconditions": {"resourceVersion": "4"}})), now())
            .unwrap_err();
        assert_eq!(e.code, 409);
        assert_eq!(
            DeleteOptions::parse(&json!({"propagationPolicy": "Bogus"}), |_| None)
                .unwrap_err()
                .code,
            422
        );
        assert_eq!(
            DeleteOptions::parse(&json!({"gracePeriodSeconds": "x"}), |_| None).unwrap_err().code,
            400
        );
    }
}
