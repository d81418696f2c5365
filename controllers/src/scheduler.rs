//! The scheduler: binds Pending pods (no `nodeName`, `schedulerName` default-scheduler) to a
//! node that fits, as kube-scheduler's default plugins decide: node unschedulable and
//! readiness, taints and tolerations, `nodeSelector` and required node affinity, host ports,
//! CPU/memory requests and pod count against allocatable, required pod (anti-)affinity by
//! topology key; among the nodes that fit, preferred affinities, the least allocated node and
//! spreading a controller's pods decide. A pod that fits nowhere gets `PodScheduled=False`
//! (`Unschedulable`) and a `FailedScheduling` event with upstream's wording; it is tried again
//! when nodes or bound pods change.

use std::collections::BTreeMap;

use k3rs_api::event::{EventSpec, EventType};
use k3rs_api::quantity::parse_milli;
use k3rs_api::selector::Selectors;
use k3rs_api::service::Objects;
use k3rs_api::subresource::Sub;
use k3rs_api::{Status, subresource};
use serde_json::{Value, json};

use crate::events;
use crate::manager::{Outcome, unless_gone};
use crate::work::controller_of;

pub const SCHEDULER_NAME: &str = "default-scheduler";
const NOT_READY_TAINT: &str = "node.kubernetes.io/not-ready";
const UNSCHEDULABLE_TAINT: &str = "node.kubernetes.io/unschedulable";

/// Does this pod wait for this scheduler?
pub fn wants_scheduling(pod: &Value) -> bool {
    pod["spec"]["nodeName"].as_str().is_none_or(str::is_empty)
        && pod["metadata"]["deletionTimestamp"].is_null()
        && pod["spec"]["schedulerName"].as_str().is_none_or(|s| s == SCHEDULER_NAME)
        && !matches!(pod["status"]["phase"].as_str(), Some("Succeeded" | "Failed"))
}

/// Why a node does not fit, in upstream's words.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Misfit {
    Unschedulable,
    Taint(String),
    Affinity,
    Ports,
    Insufficient(&'static str),
    TooManyPods,
    PodAffinity,
    PodAntiAffinity,
}

impl Misfit {
    fn reason(&self) -> String {
        match self {
            Misfit::Unschedulable => "node(s) were unschedulable".into(),
            Misfit::Taint(t) => format!("node(s) had untolerated taint {t}"),
            Misfit::Affinity => "node(s) didn't match Pod's node affinity/selector".into(),
            Misfit::Ports => "node(s) didn't have free ports for the requested pod ports".into(),
            Misfit::Insufficient(what) => format!("Insufficient {what}"),
            Misfit::TooManyPods => "Too many pods".into(),
            Misfit::PodAffinity => "node(s) didn't match pod affinity rules".into(),
            Misfit::PodAntiAffinity => "node(s) didn't match pod anti-affinity rules".into(),
        }
    }
}

fn label<'v>(obj: &'v Value, key: &str) -> Option<&'v str> {
    obj["metadata"]["labels"][key].as_str()
}

fn tolerates(pod: &Value, key: &str, value: &str, effect: &str) -> bool {
    pod["spec"]["tolerations"].as_array().into_iter().flatten().any(|t| {
        let effect_ok = t["effect"].as_str().is_none_or(|e| e.is_empty() || e == effect);
        let op = t["operator"].as_str().unwrap_or("Equal");
        let tkey = t["key"].as_str().unwrap_or("");
        let key_ok = match op {
            "Exists" => tkey.is_empty() || tkey == key,
            _ => tkey == key && t["value"].as_str().unwrap_or("") == value,
        };
        effect_ok && key_ok
    })
}

/// The taints the scheduler honours: the node's own, plus not-ready for a node not Ready and
/// unschedulable for a cordoned one (as the node lifecycle controller would add them).
fn taints(node: &Value) -> Vec<(String, String, String)> {
    let mut out: Vec<(String, String, String)> = node["spec"]["taints"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| {
            let s = |k: &str| t[k].as_str().unwrap_or("").to_owned();
            (s("key"), s("value"), s("effect"))
        })
        .collect();
    let ready = node["status"]["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == "Ready"))
        .is_some_and(|c| c["status"] == "True");
    if !ready && !out.iter().any(|t| t.0.starts_with("node.kubernetes.io/unreachable")) {
        out.push((NOT_READY_TAINT.into(), String::new(), "NoSchedule".into()));
    }
    out
}

/// A node selector requirement (`In`, `NotIn`, `Exists`, `DoesNotExist`, `Gt`, `Lt`).
fn requirement(value: Option<&str>, req: &Value) -> bool {
    let values: Vec<&str> =
        req["values"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    let num = |s: &str| s.parse::<i64>().ok();
    match req["operator"].as_str().unwrap_or("") {
        "In" => value.is_some_and(|v| values.contains(&v)),
        "NotIn" => value.is_none_or(|v| !values.contains(&v)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        "Gt" => {
            matches!((value.and_then(num), values.first().and_then(|v| num(v))), (Some(a), Some(b)) if a > b)
        }
        "Lt" => {
            matches!((value.and_then(num), values.first().and_then(|v| num(v))), (Some(a), Some(b)) if a < b)
        }
        _ => false,
    }
}

/// A node selector term: all its label and field requirements hold.
fn term_matches(node: &Value, term: &Value) -> bool {
    let labels_ok = term["matchExpressions"]
        .as_array()
        .into_iter()
        .flatten()
        .all(|r| requirement(label(node, r["key"].as_str().unwrap_or("")), r));
    let fields_ok = term["matchFields"].as_array().into_iter().flatten().all(|r| {
        let value =
            (r["key"] == "metadata.name").then(|| node["metadata"]["name"].as_str()).flatten();
        requirement(value, r)
    });
    labels_ok && fields_ok
}

fn node_affinity_ok(pod: &Value, node: &Value) -> bool {
    let selector_ok = pod["spec"]["nodeSelector"]
        .as_object()
        .is_none_or(|m| m.iter().all(|(k, v)| label(node, k) == v.as_str()));
    let required =
        &pod["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"];
    let terms = required["nodeSelectorTerms"].as_array();
    let affinity_ok = terms.is_none_or(|t| t.is_empty() || t.iter().any(|t| term_matches(node, t)));
    selector_ok && affinity_ok
}

/// CPU (millicores) and memory (thousandths of bytes) a pod requests: the larger of its
/// containers' sum and its largest init container, plus overhead. Limits stand in for
/// requests that are not given, as upstream defaults them.
pub fn requests(pod: &Value) -> (i128, i128) {
    let one = |c: &Value, what: &str| {
        let r = &c["resources"];
        r["requests"][what]
            .as_str()
            .or(r["limits"][what].as_str())
            .and_then(parse_milli)
            .unwrap_or(0)
    };
    let list = |k: &str| pod["spec"][k].as_array().cloned().unwrap_or_default();
    let sum = |what: &str| list("containers").iter().map(|c| one(c, what)).sum::<i128>();
    let init = |what: &str| list("initContainers").iter().map(|c| one(c, what)).max().unwrap_or(0);
    let overhead =
        |what: &str| pod["spec"]["overhead"][what].as_str().and_then(parse_milli).unwrap_or(0);
    (
        sum("cpu").max(init("cpu")) + overhead("cpu"),
        sum("memory").max(init("memory")) + overhead("memory"),
    )
}

fn host_ports(pod: &Value) -> Vec<(i64, String, String)> {
    let mut out = Vec::new();
    for c in pod["spec"]["containers"].as_array().into_iter().flatten() {
        for p in c["ports"].as_array().into_iter().flatten() {
            if let Some(hp) = p["hostPort"].as_i64().filter(|h| *h > 0) {
                let proto = p["protocol"].as_str().unwrap_or("TCP").to_owned();
                let ip = p["hostIP"].as_str().unwrap_or("0.0.0.0").to_owned();
                out.push((hp, proto, ip));
            }
        }
    }
    out
}

/// Does `selector` (a LabelSelector) select `obj`?
fn selects(selector: &Value, obj: &Value) -> bool {
    if selector.is_null() {
        return false;
    }
    let labels_ok = selector["matchLabels"]
        .as_object()
        .is_none_or(|m| m.iter().all(|(k, v)| label(obj, k) == v.as_str()));
    let exprs_ok = selector["matchExpressions"]
        .as_array()
        .into_iter()
        .flatten()
        .all(|r| requirement(label(obj, r["key"].as_str().unwrap_or("")), r));
    labels_ok && exprs_ok
}

/// Pods an affinity term is about: selected by its label selector, in its namespaces (the
/// incoming pod's by default).
fn term_pods<'p>(term: &Value, pod: &Value, all: &'p [Value]) -> Vec<&'p Value> {
    let own_ns = pod["metadata"]["namespace"].as_str().unwrap_or("default");
    let namespaces: Vec<&str> =
        term["namespaces"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    all.iter()
        .filter(|p| {
            let ns = p["metadata"]["namespace"].as_str().unwrap_or("");
            (if namespaces.is_empty() { ns == own_ns } else { namespaces.contains(&ns) })
                && selects(&term["labelSelector"], p)
        })
        .collect()
}

/// Is any of `pods` on a node in the same topology domain as `node` for `key`?
fn same_domain(node: &Value, key: &str, pods: &[&Value], nodes: &[Value]) -> bool {
    let Some(domain) = label(node, key) else { return false };
    pods.iter().any(|p| {
        let host = p["spec"]["nodeName"].as_str().unwrap_or("");
        nodes
            .iter()
            .find(|n| n["metadata"]["name"] == host)
            .is_some_and(|n| label(n, key) == Some(domain))
    })
}

fn required_terms<'v>(pod: &'v Value, kind: &str) -> impl Iterator<Item = &'v Value> {
    pod["spec"]["affinity"][kind]["requiredDuringSchedulingIgnoredDuringExecution"]
        .as_array()
        .into_iter()
        .flatten()
}

/// The pods bound to `node` that still hold resources.
fn on_node<'p>(node: &Value, bound: &'p [Value]) -> Vec<&'p Value> {
    let name = node["metadata"]["name"].as_str().unwrap_or("");
    bound
        .iter()
        .filter(|p| {
            p["spec"]["nodeName"].as_str() == Some(name)
                && !matches!(p["status"]["phase"].as_str(), Some("Succeeded" | "Failed"))
        })
        .collect()
}

/// Does `pod` fit `node`, given every bound pod and every node?
/// Whether `pod` may be placed on `node` at all: the node's own taints and cordon are
/// tolerated and its node selector and required affinity match (no resources, ports or pod
/// affinity: a DaemonSet's placement).
pub fn placement_allows(pod: &Value, node: &Value) -> bool {
    if node["spec"]["unschedulable"] == true
        && !tolerates(pod, UNSCHEDULABLE_TAINT, "", "NoSchedule")
    {
        return false;
    }
    let tolerated = node["spec"]["taints"].as_array().into_iter().flatten().all(|t| {
        let s = |k: &str| t[k].as_str().unwrap_or("");
        !matches!(s("effect"), "NoSchedule" | "NoExecute")
            || tolerates(pod, s("key"), s("value"), s("effect"))
    });
    tolerated && node_affinity_ok(pod, node)
}

pub fn fits(pod: &Value, node: &Value, bound: &[Value], nodes: &[Value]) -> Result<(), Misfit> {
    if node["spec"]["unschedulable"] == true
        && !tolerates(pod, UNSCHEDULABLE_TAINT, "", "NoSchedule")
    {
        return Err(Misfit::Unschedulable);
    }
    for (key, value, effect) in taints(node) {
        if matches!(effect.as_str(), "NoSchedule" | "NoExecute")
            && !tolerates(pod, &key, &value, &effect)
        {
            return Err(Misfit::Taint(format!("{{{key}: {value}}}")));
        }
    }
    if !node_affinity_ok(pod, node) {
        return Err(Misfit::Affinity);
    }
    let here = on_node(node, bound);
    let taken: Vec<(i64, String, String)> = here.iter().flat_map(|p| host_ports(p)).collect();
    let conflict = |(port, proto, ip): &(i64, String, String)| {
        taken.iter().any(|(p, pr, i)| {
            p == port && pr == proto && (i == ip || i == "0.0.0.0" || ip == "0.0.0.0")
        })
    };
    if host_ports(pod).iter().any(conflict) {
        return Err(Misfit::Ports);
    }
    let alloc = &node["status"]["allocatable"];
    let have = |what: &str| alloc[what].as_str().and_then(parse_milli);
    let (cpu, memory) = requests(pod);
    let used = here.iter().map(|p| requests(p)).fold((0, 0), |a, r| (a.0 + r.0, a.1 + r.1));
    if have("cpu").is_some_and(|c| cpu > 0 && used.0 + cpu > c) {
        return Err(Misfit::Insufficient("cpu"));
    }
    if have("memory").is_some_and(|m| memory > 0 && used.1 + memory > m) {
        return Err(Misfit::Insufficient("memory"));
    }
    if have("pods").is_some_and(|n| (here.len() as i128 + 1) * 1000 > n) {
        return Err(Misfit::TooManyPods);
    }
    let bound_refs: Vec<&Value> = bound.iter().collect();
    for term in required_terms(pod, "podAffinity") {
        let key = term["topologyKey"].as_str().unwrap_or("");
        let matching = term_pods(term, pod, bound);
        // A pod may match its own affinity when nothing else does yet (the first of a group).
        let first = matching.is_empty() && selects(&term["labelSelector"], pod);
        if !first && !same_domain(node, key, &matching, nodes) {
            return Err(Misfit::PodAffinity);
        }
    }
    for term in required_terms(pod, "podAntiAffinity") {
        let key = term["topologyKey"].as_str().unwrap_or("");
        if same_domain(node, key, &term_pods(term, pod, bound), nodes) {
            return Err(Misfit::PodAntiAffinity);
        }
    }
    // Existing pods' anti-affinity keeps this pod away too.
    for other in &bound_refs {
        for term in required_terms(other, "podAntiAffinity") {
            let key = term["topologyKey"].as_str().unwrap_or("");
            let ns_ok = term["namespaces"]
                .as_array()
                .map_or(other["metadata"]["namespace"] == pod["metadata"]["namespace"], |ns| {
                    ns.iter().any(|n| *n == pod["metadata"]["namespace"])
                });
            if ns_ok
                && selects(&term["labelSelector"], pod)
                && same_domain(node, key, &[other], nodes)
            {
                return Err(Misfit::PodAntiAffinity);
            }
        }
    }
    Ok(())
}

/// How good a fitting node is: preferred node and pod affinities, the least allocated node,
/// and fewer pods of the same controller.
pub fn score(pod: &Value, node: &Value, bound: &[Value], nodes: &[Value]) -> i64 {
    let mut score = 0i64;
    let preferred = |path: &str| {
        pod["spec"]["affinity"][path]["preferredDuringSchedulingIgnoredDuringExecution"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    };
    for p in preferred("nodeAffinity") {
        if term_matches(node, &p["preference"]) {
            score += p["weight"].as_i64().unwrap_or(0);
        }
    }
    for (kind, sign) in [("podAffinity", 1), ("podAntiAffinity", -1)] {
        for p in preferred(kind) {
            let term = &p["podAffinityTerm"];
            let key = term["topologyKey"].as_str().unwrap_or("");
            if same_domain(node, key, &term_pods(term, pod, bound), nodes) {
                score += sign * p["weight"].as_i64().unwrap_or(0);
            }
        }
    }
    let here = on_node(node, bound);
    let alloc = &node["status"]["allocatable"];
    let (cpu, memory) = requests(pod);
    let used = here.iter().map(|p| requests(p)).fold((cpu, memory), |a, r| (a.0 + r.0, a.1 + r.1));
    let free = |have: Option<i128>, used: i128| {
        have.filter(|h| *h > 0).map_or(100, |h| ((h - used).max(0) * 100 / h) as i64)
    };
    score += (free(alloc["cpu"].as_str().and_then(parse_milli), used.0)
        + free(alloc["memory"].as_str().and_then(parse_milli), used.1))
        / 2;
    if let Some(owner) = controller_of(pod) {
        let siblings =
            here.iter().filter(|p| controller_of(p).is_some_and(|c| c.uid == owner.uid)).count()
                as i64;
        score -= siblings * 100;
    }
    score
}

/// The node for `pod`, or the message saying why none fits.
pub fn choose(pod: &Value, nodes: &[Value], bound: &[Value]) -> Result<String, String> {
    if nodes.is_empty() {
        return Err("no nodes available to schedule pods".into());
    }
    let mut best: Option<(i64, &str)> = None;
    let mut misfits: BTreeMap<String, usize> = BTreeMap::new();
    for node in nodes {
        let name = node["metadata"]["name"].as_str().unwrap_or("");
        match fits(pod, node, bound, nodes) {
            Ok(()) => {
                let s = score(pod, node, bound, nodes);
                if best.is_none_or(|(b, n)| s > b || (s == b && name < n)) {
                    best = Some((s, name));
                }
            }
            Err(m) => *misfits.entry(m.reason()).or_default() += 1,
        }
    }
    if let Some((_, name)) = best {
        return Ok(name.to_owned());
    }
    let n = nodes.len();
    let mut parts: Vec<String> = misfits.iter().map(|(r, c)| format!("{c} {r}")).collect();
    parts.sort();
    Err(format!(
        "0/{n} nodes are available: {}. preemption: 0/{n} nodes are available: {n} Preemption is not helpful for scheduling.",
        parts.join(", ")
    ))
}

/// Schedule one pod.
pub async fn schedule(
    objects: Objects<'_>,
    namespace: &str,
    name: &str,
) -> Result<Outcome, Status> {
    let (Some(pods), Some(nodes)) =
        (objects.registry.get("", "v1", "pods"), objects.registry.get("", "v1", "nodes"))
    else {
        return Ok(Outcome::Done);
    };
    let Some(pod) = unless_gone(objects.get(pods, Some(namespace), name))? else {
        return Ok(Outcome::Done);
    };
    if !wants_scheduling(&pod) {
        return Ok(Outcome::Done);
    }
    let (node_list, _) = objects.list(nodes, None, &Selectors::default())?;
    let (all_pods, _) = objects.list(pods, None, &Selectors::default())?;
    let bound: Vec<Value> = all_pods
        .into_iter()
        .filter(|p| p["spec"]["nodeName"].as_str().is_some_and(|n| !n.is_empty()))
        .collect();
    let now = k3rs_api::objects::timestamp(time::OffsetDateTime::now_utc());
    match choose(&pod, &node_list, &bound) {
        Ok(node) => bind(&objects, pods, &pod, namespace, name, &node, &now).await,
        Err(message) => unschedulable(&objects, pods, &pod, namespace, name, &message, &now).await,
    }
}

/// Schedule every pod waiting (after nodes or bound pods changed).
pub async fn schedule_all(objects: Objects<'_>) -> Result<Outcome, Status> {
    let Some(pods) = objects.registry.get("", "v1", "pods") else { return Ok(Outcome::Done) };
    let (all, _) = objects.list(pods, None, &Selectors::default())?;
    let mut outcome = Outcome::Done;
    for pod in all.iter().filter(|p| wants_scheduling(p)) {
        let (Some(ns), Some(name)) =
            (pod["metadata"]["namespace"].as_str(), pod["metadata"]["name"].as_str())
        else {
            continue;
        };
        if schedule(Objects::new(objects.store, objects.registry), ns, name).await?
            == Outcome::Later
        {
            outcome = Outcome::Later;
        }
    }
    Ok(outcome)
}

fn with_condition(status: &Value, condition: Value) -> Value {
    let mut status = status.clone();
    let kind = condition["type"].clone();
    let mut conditions: Vec<Value> = status["conditions"]
        .as_array()
        .map(|c| c.iter().filter(|c| c["type"] != kind).cloned().collect())
        .unwrap_or_default();
    conditions.push(condition);
    status["conditions"] = json!(conditions);
    status
}

/// Write `condition` into the pod's status (replacing one of its type).
async fn set_condition(
    objects: &Objects<'_>,
    pods: &k3rs_api::registry::ResourceDef,
    namespace: &str,
    name: &str,
    condition: Value,
) -> Result<(), Status> {
    let result = objects
        .update_with(pods, Some(namespace), name, Sub::Status, false, |existing| {
            let mut w = existing.clone();
            w["status"] = with_condition(&existing["status"], condition.clone());
            subresource::merge_write(pods, Sub::Status, existing, w).map(|w| (w, false))
        })
        .await;
    unless_gone(result).map(|_| ())
}

async fn bind(
    objects: &Objects<'_>,
    pods: &k3rs_api::registry::ResourceDef,
    pod: &Value,
    namespace: &str,
    name: &str,
    node: &str,
    now: &str,
) -> Result<Outcome, Status> {
    let uid = pod["metadata"]["uid"].clone();
    let bound = objects
        .update_with(pods, Some(namespace), name, Sub::Main, false, |existing| {
            let mut p = existing.clone();
            if existing["metadata"]["uid"] != uid || !wants_scheduling(existing) {
                return Ok((p, false));
            }
            p["spec"]["nodeName"] = json!(node);
            Ok((p, false))
        })
        .await;
    let Some(bound) = unless_gone(bound)? else { return Ok(Outcome::Done) };
    if bound["spec"]["nodeName"] != node {
        return Ok(Outcome::Done);
    }
    let condition = json!({"type": "PodScheduled", "status": "True", "lastProbeTime": null,
                           "lastTransitionTime": now});
    set_condition(objects, pods, namespace, name, condition).await?;
    let spec = EventSpec {
        kind: EventType::Normal,
        reason: "Scheduled",
        message: format!("Successfully assigned {namespace}/{name} to {node}"),
        component: SCHEDULER_NAME,
        host: None,
    };
    events::record(objects, &bound, spec).await;
    tracing::debug!(pod = %name, node = %node, "scheduled");
    Ok(Outcome::Done)
}

async fn unschedulable(
    objects: &Objects<'_>,
    pods: &k3rs_api::registry::ResourceDef,
    pod: &Value,
    namespace: &str,
    name: &str,
    message: &str,
    now: &str,
) -> Result<Outcome, Status> {
    let already = pod["status"]["conditions"]
        .as_array()
        .is_some_and(|c| c.iter().any(|c| c["type"] == "PodScheduled" && c["message"] == message));
    if already {
        return Ok(Outcome::Done);
    }
    let condition = json!({"type": "PodScheduled", "status": "False", "lastProbeTime": null,
                           "lastTransitionTime": now, "reason": "Unschedulable", "message": message});
    set_condition(objects, pods, namespace, name, condition).await?;
    let spec = EventSpec {
        kind: EventType::Warning,
        reason: "FailedScheduling",
        message: message.to_owned(),
        component: SCHEDULER_NAME,
        host: None,
    };
    events::record(objects, pod, spec).await;
    Ok(Outcome::Done)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn node(name: &str, labels: Value, cpu: &str) -> Value {
        json!({"metadata": {"name": name, "labels": labels}, "spec": {},
               "status": {"conditions": [{"type": "Ready", "status": "True"}],
                          "allocatable": {"cpu": cpu, "memory": "4Gi", "pods": "110"}}})
    }

    fn pod(name: &str) -> Value {
        json!({"metadata": {"name": name, "namespace": "default", "labels": {"app": "web"}},
               "spec": {"containers": [{"name": "c", "resources": {"requests": {"cpu": "500m"}}}]}})
    }

    fn on(mut p: Value, node: &str) -> Value {
        p["spec"]["nodeName"] = json!(node);
        p
    }

    #[test]
    fn taints_readiness_and_cordons_keep_pods_away_unless_tolerated() {
        let mut n = node("a", json!({}), "2");
        n["spec"]["taints"] = json!([{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]);
        assert_eq!(fits(&pod("p"), &n, &[], &[]), Err(Misfit::Taint("{dedicated: gpu}".into())));
        let mut tolerant = pod("p");
        tolerant["spec"]["tolerations"] =
            json!([{"key": "dedicated", "operator": "Equal", "value": "gpu"}]);
        assert_eq!(fits(&tolerant, &n, &[], &[]), Ok(()));
        let mut down = node("b", json!({}), "2");
        down["status"]["conditions"][0]["status"] = json!("Unknown");
        down["spec"]["taints"] =
            json!([{"key": "node.kubernetes.io/unreachable", "effect": "NoSchedule"}]);
        assert_eq!(
            fits(&pod("p"), &down, &[], &[]),
            Err(Misfit::Taint("{node.kubernetes.io/unreachable: }".into()))
        );
        let mut cordoned = node("c", json!({}), "2");
        cordoned["spec"]["unschedulable"] = json!(true);
        assert_eq!(fits(&pod("p"), &cordoned, &[], &[]), Err(Misfit::Unschedulable));
    }

    #[test]
    fn selectors_affinity_resources_and_ports_filter_nodes() {
        let a = node("a", json!({"disk": "ssd", "zone": "z1"}), "1");
        let b = node("b", json!({"disk": "hdd", "zone": "z2"}), "1");
        let mut p = pod("p");
        p["spec"]["nodeSelector"] = json!({"disk": "ssd"});
        assert_eq!(fits(&p, &b, &[], &[]), Err(Misfit::Affinity));
        let mut q = pod("q");
        q["spec"]["affinity"] = json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution":
            {"nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "In", "values": ["z2"]}]}]}}});
        assert_eq!(fits(&q, &a, &[], &[]), Err(Misfit::Affinity));
        assert_eq!(fits(&q, &b, &[], &[]), Ok(()));
        let busy = vec![on(pod("x"), "a"), on(pod("y"), "a")];
        assert_eq!(fits(&pod("p"), &a, &busy, &[]), Err(Misfit::Insufficient("cpu")));
        let mut hp = pod("h");
        hp["spec"]["containers"][0]["ports"] = json!([{"containerPort": 80, "hostPort": 8080}]);
        let taken = vec![on(hp.clone(), "b")];
        assert_eq!(fits(&hp, &b, &taken, &[]), Err(Misfit::Ports));
    }

    #[test]
    fn pod_anti_affinity_and_spreading_place_replicas_apart() {
        let nodes = vec![
            node("a", json!({"kubernetes.io/hostname": "a"}), "4"),
            node("b", json!({"kubernetes.io/hostname": "b"}), "4"),
        ];
        let mut p = pod("p");
        p["spec"]["affinity"] = json!({"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution":
            [{"topologyKey": "kubernetes.io/hostname", "labelSelector": {"matchLabels": {"app": "web"}}}]}});
        let bound = vec![on(pod("x"), "a")];
        assert_eq!(fits(&p, &nodes[0], &bound, &nodes), Err(Misfit::PodAntiAffinity));
        assert_eq!(choose(&p, &nodes, &bound), Ok("b".into()));
        // Without affinity, a controller's pods spread.
        let mut owned = pod("r1");
        owned["metadata"]["ownerReferences"] = json!([{"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "name": "rs", "uid": "u", "controller": true}]);
        let mut sibling = owned.clone();
        sibling["metadata"]["name"] = json!("r0");
        assert_eq!(choose(&owned, &nodes, &[on(sibling, "a")]), Ok("b".into()));
    }

    #[test]
    fn no_fit_reads_like_upstream() {
        let mut a = node("a", json!({}), "1");
        a["spec"]["taints"] =
            json!([{"key": "node.kubernetes.io/unreachable", "effect": "NoSchedule"}]);
        let b = node("b", json!({}), "100m");
        let c = node("c", json!({}), "100m");
        assert_eq!(
            choose(&pod("p"), &[a, b, c], &[]),
            Err("0/3 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/unreachable: }, 2 Insufficient cpu. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.".into())
        );
        assert_eq!(choose(&pod("p"), &[], &[]), Err("no nodes available to schedule pods".into()));
    }

    #[test]
    fn requests_count_init_containers_and_fall_back_to_limits() {
        let p = json!({"spec": {
            "initContainers": [{"resources": {"requests": {"cpu": "2"}}}],
            "containers": [{"resources": {"requests": {"cpu": "500m", "memory": "64Mi"}}},
                           {"resources": {"limits": {"cpu": "250m"}}}]}});
        assert_eq!(requests(&p), (2000, 64 * 1024 * 1024 * 1000));
        assert!(wants_scheduling(&pod("p")));
        assert!(!wants_scheduling(&on(pod("p"), "a")));
    }
}
