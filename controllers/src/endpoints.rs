//! The endpoints and endpoint-slice controllers: for every Service with a selector, an
//! `Endpoints` of the same name and `discovery.k8s.io/v1` EndpointSlices (`<service>-<suffix>`)
//! listing the pods the selector matches in its namespace, as upstream's two controllers keep
//! them: ready pods as addresses, not-ready ones apart (unless `publishNotReadyAddresses`),
//! ports resolved from each Service port's `targetPort` (a number or a container port's
//! name). A Service without a selector is left alone, as is its Endpoints (the `kubernetes`
//! Service's belong to `k3rs_api::bootstrap`). Endpoints are grouped by the ports they resolve
//! to: one subset (and one slice) per distinct port list.

use std::collections::BTreeMap;

use k3rs_api::Status;
use k3rs_api::delete::DeleteOptions;
use k3rs_api::selector::Selectors;
use k3rs_api::service::Objects;
use k3rs_api::subresource::Sub;
use serde_json::{Map, Value, json};

use crate::manager::{Outcome, unless_gone};
use crate::replicaset::is_ready;
use crate::work::terminating;

/// The label naming an EndpointSlice's Service.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";
/// The label saying who manages an EndpointSlice.
pub const MANAGED_BY_LABEL: &str = "endpointslice.kubernetes.io/managed-by";
/// This controller, as upstream's names itself in that label.
pub const MANAGED_BY: &str = "endpointslice-controller.k8s.io";

/// One resolved port: name, number, protocol (and appProtocol when the Service port has one).
type Port = (String, i64, String, Option<String>);

/// A pod's place in the Service.
#[derive(Debug, Clone, PartialEq)]
struct Member<'a> {
    pod: &'a Value,
    ip: &'a str,
    ready: bool,
    serving: bool,
    terminating: bool,
}

fn selector(svc: &Value) -> Option<&Map<String, Value>> {
    svc["spec"]["selector"].as_object().filter(|s| !s.is_empty())
}

/// Do the pod's labels carry every pair of the Service's selector?
pub fn selects(svc: &Value, pod: &Value) -> bool {
    selector(svc)
        .is_some_and(|sel| sel.iter().all(|(k, v)| pod["metadata"]["labels"].get(k) == Some(v)))
}

/// The pod's port for a Service port's `targetPort` (a container port's name, or a number).
fn resolve(pod: &Value, service_port: &Value) -> Option<i64> {
    let target = &service_port["targetPort"];
    if let Some(n) = target.as_i64() {
        return Some(n);
    }
    match target.as_str() {
        Some(name) if !name.is_empty() => {
            if let Ok(n) = name.parse::<i64>() {
                return Some(n);
            }
            pod["spec"]["containers"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|c| c["ports"].as_array().cloned().unwrap_or_default())
                .find(|p| {
                    p["name"].as_str() == Some(name)
                        && p["protocol"].as_str().unwrap_or("TCP")
                            == service_port["protocol"].as_str().unwrap_or("TCP")
                })
                .and_then(|p| p["containerPort"].as_i64())
        }
        _ => service_port["port"].as_i64(),
    }
}

/// The ports of the Service as `pod` serves them (those that do not resolve are left out).
fn ports_of(svc: &Value, pod: &Value) -> Vec<Port> {
    svc["spec"]["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|sp| {
            Some((
                sp["name"].as_str().unwrap_or("").to_owned(),
                resolve(pod, sp)?,
                sp["protocol"].as_str().unwrap_or("TCP").to_owned(),
                sp["appProtocol"].as_str().map(str::to_owned),
            ))
        })
        .collect()
}

/// The pods that belong in the Service's endpoints, grouped by the ports they resolve to:
/// matched by the selector, with an address, not finished.
fn members<'a>(svc: &Value, pods: &'a [Value]) -> BTreeMap<Vec<Port>, Vec<Member<'a>>> {
    let publish = svc["spec"]["publishNotReadyAddresses"].as_bool() == Some(true);
    let mut groups: BTreeMap<Vec<Port>, Vec<Member<'a>>> = BTreeMap::new();
    for pod in pods {
        let Some(ip) = pod["status"]["podIP"].as_str().filter(|ip| !ip.is_empty()) else {
            continue;
        };
        if !selects(svc, pod)
            || matches!(pod["status"]["phase"].as_str(), Some("Succeeded" | "Failed"))
        {
            continue;
        }
        let ports = ports_of(svc, pod);
        let has_ports = svc["spec"]["ports"].as_array().is_some_and(|p| !p.is_empty());
        if has_ports && ports.is_empty() {
            continue;
        }
        let gone = terminating(pod);
        let serving = is_ready(pod);
        groups.entry(ports).or_default().push(Member {
            pod,
            ip,
            ready: publish || (serving && !gone),
            serving: publish || serving,
            terminating: gone,
        });
    }
    for list in groups.values_mut() {
        list.sort_by(|a, b| (a.ip, uid(a.pod)).cmp(&(b.ip, uid(b.pod))));
    }
    groups
}

fn uid(pod: &Value) -> &str {
    pod["metadata"]["uid"].as_str().unwrap_or("")
}

fn target_ref(pod: &Value) -> Value {
    json!({
        "kind": "Pod",
        "namespace": pod["metadata"]["namespace"],
        "name": pod["metadata"]["name"],
        "uid": pod["metadata"]["uid"],
    })
}

fn node_name(pod: &Value) -> Option<&str> {
    pod["spec"]["nodeName"].as_str().filter(|n| !n.is_empty())
}

/// The hostname an address carries: the pod's `hostname` when its `subdomain` is the Service.
fn hostname<'a>(svc: &Value, pod: &'a Value) -> Option<&'a str> {
    let name = svc["metadata"]["name"].as_str()?;
    (pod["spec"]["subdomain"].as_str() == Some(name))
        .then(|| pod["spec"]["hostname"].as_str())
        .flatten()
        .filter(|h| !h.is_empty())
}

fn address(svc: &Value, m: &Member<'_>) -> Value {
    let mut a = json!({"ip": m.ip, "targetRef": target_ref(m.pod)});
    if let Some(h) = hostname(svc, m.pod) {
        a["hostname"] = json!(h);
    }
    if let Some(n) = node_name(m.pod) {
        a["nodeName"] = json!(n);
    }
    a
}

fn port_json(p: &Port, with_app_protocol: bool) -> Value {
    let mut v = json!({"port": p.1, "protocol": p.2});
    if !p.0.is_empty() {
        v["name"] = json!(p.0);
    }
    if let (true, Some(app)) = (with_app_protocol, &p.3) {
        v["appProtocol"] = json!(app);
    }
    v
}

/// The labels upstream gives both kinds: the Service's own, plus `headless` for `None`.
fn derived_labels(svc: &Value) -> Map<String, Value> {
    let mut labels = svc["metadata"]["labels"].as_object().cloned().unwrap_or_default();
    if svc["spec"]["clusterIP"].as_str() == Some("None") {
        labels.insert("service.kubernetes.io/headless".into(), json!(""));
    }
    labels
}

/// The `subsets` of the Service's Endpoints for these pods (empty: none).
pub fn subsets(svc: &Value, pods: &[Value]) -> Vec<Value> {
    members(svc, pods)
        .iter()
        .filter_map(|(ports, list)| {
            let mut subset = Map::new();
            // Terminating pods are ready only under `publishNotReadyAddresses`, and are left
            // out otherwise.
            let ready: Vec<Value> =
                list.iter().filter(|m| m.ready).map(|m| address(svc, m)).collect();
            let not_ready: Vec<Value> = list
                .iter()
                .filter(|m| !m.ready && !m.terminating)
                .map(|m| address(svc, m))
                .collect();
            if ready.is_empty() && not_ready.is_empty() {
                return None;
            }
            if !ready.is_empty() {
                subset.insert("addresses".into(), json!(ready));
            }
            if !not_ready.is_empty() {
                subset.insert("notReadyAddresses".into(), json!(not_ready));
            }
            if !ports.is_empty() {
                subset.insert(
                    "ports".into(),
                    json!(ports.iter().map(|p| port_json(p, true)).collect::<Vec<_>>()),
                );
            }
            Some(Value::Object(subset))
        })
        .collect()
}

/// The most addresses an Endpoints object holds (upstream's limit); past it the object is
/// truncated and says so in `OVER_CAPACITY`.
pub const MAX_ENDPOINTS_ADDRESSES: usize = 1000;
/// The annotation a truncated Endpoints object carries (value `truncated`).
pub const OVER_CAPACITY: &str = "endpoints.kubernetes.io/over-capacity";

/// At most `MAX_ENDPOINTS_ADDRESSES` addresses in `subsets`: ready ones first, subset by
/// subset, then not-ready ones with what room is left; true if any were dropped.
fn truncate(subsets: &mut Vec<Value>) -> bool {
    let count = |s: &Value, k: &str| s[k].as_array().map_or(0, Vec::len);
    let total: usize =
        subsets.iter().map(|s| count(s, "addresses") + count(s, "notReadyAddresses")).sum();
    if total <= MAX_ENDPOINTS_ADDRESSES {
        return false;
    }
    let mut room = MAX_ENDPOINTS_ADDRESSES;
    for key in ["addresses", "notReadyAddresses"] {
        for s in subsets.iter_mut() {
            if let Some(list) = s.get_mut(key).and_then(Value::as_array_mut) {
                list.truncate(room);
                room -= list.len();
            }
        }
    }
    for s in subsets.iter_mut() {
        if let Some(m) = s.as_object_mut() {
            m.retain(|k, v| !(k.ends_with("ddresses") && v.as_array().is_some_and(Vec::is_empty)));
        }
    }
    subsets.retain(|s| s.get("addresses").is_some() || s.get("notReadyAddresses").is_some());
    true
}

/// The Endpoints object for the Service, with these subsets (truncated past
/// `MAX_ENDPOINTS_ADDRESSES`, ready addresses first and subsets in order, where upstream's
/// controller shares the room among subsets in proportion).
pub fn endpoints(svc: &Value, mut subsets: Vec<Value>) -> Value {
    let truncated = truncate(&mut subsets);
    let mut ep = json!({
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": {
            "name": svc["metadata"]["name"],
            "namespace": svc["metadata"]["namespace"],
            "labels": derived_labels(svc),
        },
    });
    if !subsets.is_empty() {
        ep["subsets"] = json!(subsets);
    }
    if truncated {
        ep["metadata"]["annotations"] = json!({OVER_CAPACITY: "truncated"});
    }
    ep
}

/// The most endpoints one EndpointSlice holds (upstream's `--max-endpoints-per-slice`
/// default).
pub const MAX_ENDPOINTS_PER_SLICE: usize = 100;

/// What the Service's EndpointSlices hold: per distinct port list, its endpoints, at most
/// `MAX_ENDPOINTS_PER_SLICE` to a slice (always at least one entry, so a Service without
/// endpoints still has its placeholder slice).
pub fn slice_contents(svc: &Value, pods: &[Value]) -> Vec<(Value, Value)> {
    let groups = members(svc, pods);
    let mut out: Vec<(Value, Value)> = groups
        .iter()
        .flat_map(|(ports, list)| list.chunks(MAX_ENDPOINTS_PER_SLICE).map(move |chunk| (ports, chunk)))
        .map(|(ports, list)| {
            let endpoints: Vec<Value> = list
                .iter()
                .map(|m| {
                    let mut e = json!({
                        "addresses": [m.ip],
                        "conditions": {"ready": m.ready, "serving": m.serving, "terminating": m.terminating},
                        "targetRef": target_ref(m.pod),
                    });
                    if let Some(n) = node_name(m.pod) {
                        e["nodeName"] = json!(n);
                    }
                    if let Some(h) = hostname(svc, m.pod) {
                        e["hostname"] = json!(h);
                    }
                    e
                })
                .collect();
            let ports: Vec<Value> = ports.iter().map(|p| port_json(p, true)).collect();
            (json!(ports), json!(endpoints))
        })
        .collect();
    if out.is_empty() {
        out.push((json!([]), json!([])));
    }
    out
}

/// A new EndpointSlice of the Service with these ports and endpoints.
pub fn slice(svc: &Value, ports: &Value, endpoints: &Value) -> Value {
    let name = svc["metadata"]["name"].as_str().unwrap_or("");
    let mut labels = derived_labels(svc);
    labels.insert(SERVICE_NAME_LABEL.into(), json!(name));
    labels.insert(MANAGED_BY_LABEL.into(), json!(MANAGED_BY));
    json!({
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "generateName": format!("{name}-"),
            "namespace": svc["metadata"]["namespace"],
            "labels": labels,
            "ownerReferences": [{
                "apiVersion": "v1",
                "kind": "Service",
                "name": name,
                "uid": svc["metadata"]["uid"],
                "controller": true,
                "blockOwnerDeletion": true,
            }],
        },
        "addressType": address_type(svc),
        "endpoints": endpoints,
        "ports": ports,
    })
}

fn address_type(svc: &Value) -> &'static str {
    match svc["spec"]["ipFamilies"][0].as_str() {
        Some("IPv6") => "IPv6",
        _ => "IPv4",
    }
}

/// Is this EndpointSlice one this controller keeps for the Service `name`?
pub fn managed_slice_of(slice: &Value) -> Option<&str> {
    let labels = &slice["metadata"]["labels"];
    (labels[MANAGED_BY_LABEL] == MANAGED_BY).then(|| labels[SERVICE_NAME_LABEL].as_str()).flatten()
}

/// Bring the Endpoints and EndpointSlices of Service `namespace/name` in step with its pods.
pub async fn reconcile(
    objects: Objects<'_>,
    namespace: &str,
    name: &str,
) -> Result<Outcome, Status> {
    let registry = objects.registry;
    let (Some(svc_def), Some(ep_def), Some(slice_def), Some(pod_def)) = (
        registry.get("", "v1", "services"),
        registry.get("", "v1", "endpoints"),
        registry.get("discovery.k8s.io", "v1", "endpointslices"),
        registry.get("", "v1", "pods"),
    ) else {
        return Ok(Outcome::Done);
    };
    let ns = Some(namespace);
    let svc = unless_gone(objects.get(svc_def, ns, name))?;
    let (all_slices, _) = objects.list(slice_def, ns, &Selectors::default())?;
    let mut slices: Vec<Value> =
        all_slices.into_iter().filter(|s| managed_slice_of(s) == Some(name)).collect();
    slices.sort_by(|a, b| a["metadata"]["name"].as_str().cmp(&b["metadata"]["name"].as_str()));

    let Some(svc) = svc.filter(|s| {
        selector(s).is_some() && !terminating(s) && s["spec"]["type"] != "ExternalName"
    }) else {
        // Gone, not selecting pods, or a DNS name: what this controller made goes (the
        // Endpoints only when the Service itself is gone: a selector-less Service's are its
        // owner's).
        for s in &slices {
            delete_slice(&objects, slice_def, namespace, s).await?;
        }
        if !(namespace == "default" && name == "kubernetes")
            && unless_gone(objects.get(svc_def, ns, name))?.is_none()
        {
            unless_gone(objects.delete(ep_def, ns, name, &DeleteOptions::default(), false).await)?;
        }
        return Ok(Outcome::Done);
    };

    let (pods, _) = objects.list(pod_def, ns, &Selectors::default())?;

    // Endpoints.
    let wanted = endpoints(&svc, subsets(&svc, &pods));
    match unless_gone(objects.get(ep_def, ns, name))? {
        None => match objects.create(ep_def, ns, wanted, false).await {
            Ok(_) => {}
            Err(s) if s.code == 409 || s.code == 403 => return Ok(Outcome::Later),
            Err(s) => return Err(s),
        },
        Some(current) => {
            let over = |o: &Value| o["metadata"]["annotations"][OVER_CAPACITY].clone();
            if current["subsets"] != wanted["subsets"]
                || current["metadata"]["labels"] != wanted["metadata"]["labels"]
                || over(&current) != over(&wanted)
            {
                let result = objects
                    .update_with(ep_def, ns, name, Sub::Main, false, |existing| {
                        let mut next = existing.clone();
                        next["metadata"]["labels"] = wanted["metadata"]["labels"].clone();
                        match wanted["metadata"]["annotations"].get(OVER_CAPACITY) {
                            Some(v) => next["metadata"]["annotations"][OVER_CAPACITY] = v.clone(),
                            None => {
                                if let Some(a) = next["metadata"]["annotations"].as_object_mut() {
                                    a.remove(OVER_CAPACITY);
                                }
                            }
                        }
                        match wanted.get("subsets") {
                            Some(s) => next["subsets"] = s.clone(),
                            None => {
                                if let Some(m) = next.as_object_mut() {
                                    m.remove("subsets");
                                }
                            }
                        }
                        Ok((next, false))
                    })
                    .await;
                unless_gone(result)?;
            }
        }
    }

    // EndpointSlices: reuse existing ones in name order, create what is missing, delete the rest.
    let contents = slice_contents(&svc, &pods);
    let mut existing = slices.into_iter();
    for (ports, eps) in &contents {
        let want = slice(&svc, ports, eps);
        match existing.next() {
            Some(current) => {
                let same = current["ports"] == want["ports"]
                    && current["endpoints"] == want["endpoints"]
                    && current["addressType"] == want["addressType"]
                    && current["metadata"]["labels"] == want["metadata"]["labels"];
                if same {
                    continue;
                }
                let Some(slice_name) = current["metadata"]["name"].as_str() else { continue };
                let result = objects
                    .update_with(slice_def, ns, slice_name, Sub::Main, false, |existing| {
                        let mut next = existing.clone();
                        for field in ["ports", "endpoints", "addressType"] {
                            next[field] = want[field].clone();
                        }
                        next["metadata"]["labels"] = want["metadata"]["labels"].clone();
                        Ok((next, false))
                    })
                    .await;
                unless_gone(result)?;
            }
            None => match objects.create(slice_def, ns, want, false).await {
                Ok(_) => {}
                Err(s) if s.code == 403 => return Ok(Outcome::Later),
                Err(s) => return Err(s),
            },
        }
    }
    for extra in existing {
        delete_slice(&objects, slice_def, namespace, &extra).await?;
    }
    Ok(Outcome::Done)
}

async fn delete_slice(
    objects: &Objects<'_>,
    def: &k3rs_api::registry::ResourceDef,
    namespace: &str,
    slice: &Value,
) -> Result<(), Status> {
    let Some(name) = slice["metadata"]["name"].as_str() else { return Ok(()) };
    let deleted =
        objects.delete(def, Some(namespace), name, &DeleteOptions::default(), false).await;
    unless_gone(deleted).map(|_| ())
}

/// Every Service in `namespace` whose selector matches one of these label sets.
pub async fn reconcile_matching(
    objects: Objects<'_>,
    namespace: &str,
    labels: &[BTreeMap<String, String>],
) -> Result<Outcome, Status> {
    let Some(svc_def) = objects.registry.get("", "v1", "services") else {
        return Ok(Outcome::Done);
    };
    let (services, _) = objects.list(svc_def, Some(namespace), &Selectors::default())?;
    let mut outcome = Outcome::Done;
    for svc in &services {
        let Some(sel) = selector(svc) else { continue };
        let hit = labels
            .iter()
            .any(|l| sel.iter().all(|(k, v)| l.get(k).map(String::as_str) == v.as_str()));
        if !hit {
            continue;
        }
        let Some(name) = svc["metadata"]["name"].as_str() else { continue };
        if reconcile(objects, namespace, name).await? == Outcome::Later {
            outcome = Outcome::Later;
        }
    }
    Ok(outcome)
}

/// What of a pod the endpoints depend on; a change elsewhere (container states) is no work.
pub fn pod_projection(pod: &Value) -> Value {
    let ready = pod["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["type"] == "Ready")
        .map(|c| c["status"].clone());
    json!([
        pod["metadata"]["labels"],
        pod["metadata"]["deletionTimestamp"],
        pod["spec"]["nodeName"],
        pod["spec"]["hostname"],
        pod["spec"]["subdomain"],
        pod["status"]["podIP"],
        pod["status"]["phase"],
        ready,
    ])
}

/// A pod's labels, as work items carry them.
pub fn labels_of(pod: &Value) -> BTreeMap<String, String> {
    pod["metadata"]["labels"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn svc(extra: Value) -> Value {
        let mut s = json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "web", "namespace": "default", "uid": "su", "labels": {"app": "web"}},
            "spec": {"selector": {"app": "web"}, "clusterIP": "10.43.0.20", "ipFamilies": ["IPv4"],
                     "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": "web"},
                               {"name": "metrics", "port": 9090, "protocol": "TCP", "targetPort": 9100}]}});
        if let (Some(s), Some(extra)) = (s["spec"].as_object_mut(), extra.as_object()) {
            s.extend(extra.clone());
        }
        s
    }

    fn pod(name: &str, ip: &str, ready: bool) -> Value {
        json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "default", "uid": format!("u-{name}"), "labels": {"app": "web"}},
            "spec": {"nodeName": "n1", "containers": [{"name": "c", "ports": [{"name": "web", "containerPort": 8080}]}]},
            "status": {"phase": "Running", "podIP": ip,
                "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]}})
    }

    #[test]
    fn ready_pods_are_addresses_and_others_wait_apart() {
        let mut gone = pod("c", "10.42.0.3", true);
        gone["metadata"]["deletionTimestamp"] = json!("2025-01-01T00:00:00Z");
        let mut other = pod("d", "10.42.0.4", true);
        other["metadata"]["labels"] = json!({"app": "db"});
        let no_ip = pod("e", "", true);
        let pods = [pod("b", "10.42.0.2", false), pod("a", "10.42.0.1", true), gone, other, no_ip];
        let subsets = subsets(&svc(json!({})), &pods);
        assert_eq!(subsets.len(), 1);
        let s = &subsets[0];
        assert_eq!(s["addresses"].as_array().unwrap().len(), 1);
        assert_eq!(s["addresses"][0]["ip"], "10.42.0.1");
        assert_eq!(s["addresses"][0]["nodeName"], "n1");
        assert_eq!(s["addresses"][0]["targetRef"]["name"], "a");
        assert_eq!(s["notReadyAddresses"][0]["ip"], "10.42.0.2");
        assert_eq!(
            s["ports"],
            json!([{"name": "http", "port": 8080, "protocol": "TCP"}, {"name": "metrics", "port": 9100, "protocol": "TCP"}])
        );
        let ep = endpoints(&svc(json!({})), subsets.clone());
        assert_eq!(ep["metadata"]["name"], "web");
        assert!(endpoints(&svc(json!({})), vec![]).get("subsets").is_none());
    }

    #[test]
    fn publish_not_ready_addresses_lists_every_pod_as_ready() {
        let pods = [pod("a", "10.42.0.1", true), pod("b", "10.42.0.2", false)];
        let s = subsets(&svc(json!({"publishNotReadyAddresses": true})), &pods);
        assert_eq!(s[0]["addresses"].as_array().unwrap().len(), 2);
        assert!(s[0].get("notReadyAddresses").is_none());
    }

    #[test]
    fn pods_are_grouped_by_the_ports_they_resolve_to() {
        let mut named_elsewhere = pod("b", "10.42.0.2", true);
        named_elsewhere["spec"]["containers"][0]["ports"][0]["containerPort"] = json!(8081);
        let mut unnamed = pod("c", "10.42.0.3", true);
        unnamed["spec"]["containers"][0]["ports"] = json!([]);
        let pods = [pod("a", "10.42.0.1", true), named_elsewhere, unnamed];
        let s = subsets(&svc(json!({})), &pods);
        // a (8080, 9100), b (8081, 9100), c (9100 only: `web` does not resolve).
        assert_eq!(s.len(), 3);
        let slices = slice_contents(&svc(json!({})), &pods);
        assert_eq!(slices.len(), 3);
    }

    #[test]
    fn slices_carry_conditions_owner_and_labels() {
        let mut gone = pod("c", "10.42.0.3", true);
        gone["metadata"]["deletionTimestamp"] = json!("2025-01-01T00:00:00Z");
        let pods = [pod("a", "10.42.0.1", true), pod("b", "10.42.0.2", false), gone];
        let s = svc(json!({}));
        let contents = slice_contents(&s, &pods);
        assert_eq!(contents.len(), 1);
        let (ports, eps) = &contents[0];
        let made = slice(&s, ports, eps);
        assert_eq!(made["metadata"]["generateName"], "web-");
        assert_eq!(made["metadata"]["labels"][SERVICE_NAME_LABEL], "web");
        assert_eq!(made["metadata"]["labels"][MANAGED_BY_LABEL], MANAGED_BY);
        assert_eq!(made["metadata"]["ownerReferences"][0]["uid"], "su");
        assert_eq!(made["addressType"], "IPv4");
        let conds: Vec<&Value> =
            made["endpoints"].as_array().unwrap().iter().map(|e| &e["conditions"]).collect();
        assert_eq!(conds[0], &json!({"ready": true, "serving": true, "terminating": false}));
        assert_eq!(conds[1], &json!({"ready": false, "serving": false, "terminating": false}));
        assert_eq!(conds[2], &json!({"ready": false, "serving": true, "terminating": true}));
        assert_eq!(made["endpoints"][0]["nodeName"], "n1");
        assert_eq!(made["endpoints"][0]["targetRef"]["kind"], "Pod");
        assert_eq!(managed_slice_of(&made), Some("web"));
        // No pods: one empty placeholder.
        assert_eq!(slice_contents(&s, &[]), vec![(json!([]), json!([]))]);
    }

    #[test]
    fn endpoints_past_a_thousand_addresses_are_truncated_ready_first() {
        let pods: Vec<Value> = (0..1100)
            .map(|i| pod(&format!("p{i}"), &format!("10.42.{}.{}", i / 200, i % 200 + 1), i >= 50))
            .collect();
        let s = svc(json!({}));
        let ep = endpoints(&s, subsets(&s, &pods));
        assert_eq!(ep["metadata"]["annotations"][OVER_CAPACITY], "truncated");
        let subset = &ep["subsets"][0];
        assert_eq!(subset["addresses"].as_array().unwrap().len(), 1000, "ready ones kept");
        assert!(subset.get("notReadyAddresses").is_none(), "no room left for not-ready ones");
        let small = endpoints(&s, subsets(&s, &pods[..10]));
        assert!(small["metadata"].get("annotations").is_none());
    }

    #[test]
    fn slices_hold_at_most_a_hundred_endpoints() {
        let pods: Vec<Value> = (0..250)
            .map(|i| pod(&format!("p{i}"), &format!("10.42.{}.{}", i / 200, i % 200 + 1), true))
            .collect();
        let sizes: Vec<usize> = slice_contents(&svc(json!({})), &pods)
            .iter()
            .map(|(_, eps)| eps.as_array().unwrap().len())
            .collect();
        assert_eq!(sizes, vec![100, 100, 50]);
    }

    #[test]
    fn only_what_endpoints_read_of_a_pod_is_a_change() {
        let a = pod("a", "10.42.0.1", true);
        let mut b = a.clone();
        b["status"]["containerStatuses"] = json!([{"name": "c", "restartCount": 1}]);
        assert_eq!(pod_projection(&a), pod_projection(&b));
        b["status"]["conditions"][0]["status"] = json!("False");
        assert_ne!(pod_projection(&a), pod_projection(&b));
        assert_eq!(labels_of(&a).get("app").map(String::as_str), Some("web"));
    }
}
