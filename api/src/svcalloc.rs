//! ClusterIPs and NodePorts of Services, as upstream's service registry hands them out: what a
//! create or update asks for (`plan`, plain), and the claims that make an allocation exclusive
//! in the datastore ([ADR 013](../../docs/adr/013-service-allocation.md)): one key per address
//! or port, created only if absent, naming the Service that holds it. A claim whose Service
//! is gone, or no longer holds its value, is taken over once it is older than `GRACE`.

use std::collections::BTreeSet;
use std::net::IpAddr;

use k3rs_store::StoreError;
use serde_json::{Value, json};

use crate::Status;
use crate::allocator::ServiceNetwork;
use crate::selector::Selectors;
use crate::service::Objects;
use crate::status::{Cause, Target};

/// Where ClusterIP claims live, one key per address.
pub const IPS_PREFIX: &str = "/k3rs/claims/serviceips/";
/// Where NodePort claims live, one key per port (whatever the protocol, as upstream's).
pub const PORTS_PREFIX: &str = "/k3rs/claims/servicenodeports/";
/// A claim younger than this is never taken over: its Service may be being written.
const GRACE_SECONDS: i64 = 60;
/// Claims tried per dynamic allocation before giving up (others allocating at the same time).
const DYNAMIC_ATTEMPTS: usize = 64;

/// A value a Service holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Held {
    Ip(IpAddr),
    NodePort(u16),
}

impl Held {
    pub fn key(&self) -> String {
        match self {
            Held::Ip(ip) => format!("{IPS_PREFIX}{ip}"),
            Held::NodePort(p) => format!("{PORTS_PREFIX}{p}"),
        }
    }
}

/// What a create or update must allocate: only values not already held by the old object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub cluster_ip: Option<Want<IpAddr>>,
    /// By index into `spec.ports`.
    pub node_ports: Vec<(usize, Want<u16>)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want<T> {
    /// Any free value.
    Dynamic,
    /// This value, which must be free.
    Static(T),
}

fn service_type(svc: &Value) -> &str {
    svc["spec"]["type"].as_str().unwrap_or("ClusterIP")
}

/// Every type but ExternalName has a cluster IP (or is headless).
pub fn needs_cluster_ip(svc: &Value) -> bool {
    service_type(svc) != "ExternalName"
}

/// NodePort and LoadBalancer services (unless a LoadBalancer opts out) have node ports.
pub fn needs_node_ports(svc: &Value) -> bool {
    match service_type(svc) {
        "NodePort" => true,
        "LoadBalancer" => svc["spec"]["allocateLoadBalancerNodePorts"].as_bool() != Some(false),
        _ => false,
    }
}

/// The addresses and ports a stored Service holds.
pub fn held(svc: &Value) -> BTreeSet<Held> {
    let mut out = BTreeSet::new();
    let spec = &svc["spec"];
    for ip in spec["clusterIPs"].as_array().into_iter().flatten().chain([&spec["clusterIP"]]) {
        if let Some(ip) = ip.as_str().and_then(|s| s.parse::<IpAddr>().ok()) {
            out.insert(Held::Ip(ip));
        }
    }
    for p in spec["ports"].as_array().into_iter().flatten() {
        if let Some(port) = p["nodePort"].as_u64().and_then(|p| u16::try_from(p).ok()) {
            out.insert(Held::NodePort(port));
        }
    }
    out
}

/// `[]string{"10.43.0.5"}`, as Go prints the field's value in messages.
fn go_strings(values: &[String]) -> String {
    let quoted: Vec<String> = values.iter().map(|v| format!("{v:?}")).collect();
    format!("[]string{{{}}}", quoted.join(", "))
}

fn cause(field: &str, message: String) -> Cause {
    Cause { reason: "FieldValueInvalid".into(), message, field: field.into() }
}

fn ip_error(ip: IpAddr, why: &str) -> Cause {
    cause(
        "spec.clusterIPs",
        format!(
            "Invalid value: {}: failed to allocate IP {ip}: {why}",
            go_strings(&[ip.to_string()])
        ),
    )
}

fn port_error(index: usize, port: u16, why: &str) -> Cause {
    cause(&format!("spec.ports[{index}].nodePort"), format!("Invalid value: {port}: {why}"))
}

fn strings(v: &Value) -> Option<Vec<String>> {
    v.as_array().map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_owned)).collect())
}

/// Normalise `svc`'s address fields (and carry over what `old` holds, as upstream's update
/// does when a client leaves them out), check what may not change, and say what must be
/// allocated. Sets upstream's defaults: `clusterIPs`, `ipFamilies`, `ipFamilyPolicy`.
pub fn plan(
    net: &ServiceNetwork,
    svc: &mut Value,
    old: Option<&Value>,
) -> Result<Plan, Vec<Cause>> {
    let mut causes = Vec::new();
    let mut plan = Plan::default();
    if !svc["spec"].is_object() {
        return Ok(plan);
    }
    let old_held = old.map(held).unwrap_or_default();

    if needs_cluster_ip(svc) {
        let spec = &mut svc["spec"];
        let mut ip = spec["clusterIP"].as_str().unwrap_or("").to_owned();
        let mut ips = strings(&spec["clusterIPs"]).unwrap_or_default();
        if let Some(old) = old.filter(|o| needs_cluster_ip(o)) {
            let old_ip = old["spec"]["clusterIP"].as_str().unwrap_or("").to_owned();
            let old_ips = strings(&old["spec"]["clusterIPs"]).unwrap_or_default();
            if ip.is_empty() && ips.is_empty() {
                // Left out (a replace from a file without them): keep what is held.
                ip = old_ip;
                ips = old_ips;
            } else if ip != old_ip && ips == old_ips && !ips.is_empty() {
                // Only clusterIP changed: clusterIPs follows it, and the check below refuses it.
                ips[0] = ip.clone();
            }
            let before = strings(&old["spec"]["clusterIPs"]).unwrap_or_default();
            if !before.is_empty() && ips.first() != before.first() && !ips.is_empty() {
                causes.push(cause(
                    "spec.clusterIPs[0]",
                    format!("Invalid value: {}: may not change once set", go_strings(&ips)),
                ));
            }
        }
        if ips.is_empty() && !ip.is_empty() {
            ips = vec![ip.clone()];
        }
        if ip.is_empty() {
            ip = ips.first().cloned().unwrap_or_default();
        }
        if ips.first().is_some_and(|first| *first != ip) {
            causes.push(cause(
                "spec.clusterIPs[0]",
                format!("Invalid value: {}: must match `clusterIP` when set", go_strings(&ips)),
            ));
        }
        if ips.len() > 1 {
            causes.push(cause(
                "spec.clusterIPs",
                format!(
                    "Invalid value: {}: this server has a single-stack service range",
                    go_strings(&ips)
                ),
            ));
        }
        if causes.is_empty() {
            if ip.is_empty() {
                plan.cluster_ip = Some(Want::Dynamic);
            } else if ip != "None" {
                match ip.parse::<IpAddr>() {
                    Err(_) => causes.push(cause(
                        "spec.clusterIPs[0]",
                        format!(
                            "Invalid value: {ip:?}: must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"
                        ),
                    )),
                    Ok(addr) if old_held.contains(&Held::Ip(addr)) => {}
                    Ok(addr) if !net.cluster_ips.holds(addr) => causes.push(ip_error(
                        addr,
                        "the provided network does not match the current range",
                    )),
                    Ok(addr) => plan.cluster_ip = Some(Want::Static(addr)),
                }
            }
            if !ip.is_empty() {
                spec["clusterIP"] = json!(ip);
                spec["clusterIPs"] = json!([ip]);
            }
            if spec.get("ipFamilies").is_none_or(Value::is_null) {
                spec["ipFamilies"] = json!([net.cluster_ips.family()]);
            }
            if spec.get("ipFamilyPolicy").is_none_or(Value::is_null) {
                spec["ipFamilyPolicy"] = json!("SingleStack");
            }
        }
    } else if let Some(spec) = svc["spec"].as_object_mut() {
        // ExternalName: no addresses at all.
        for field in ["clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"] {
            spec.remove(field);
        }
    }

    let wants_ports = needs_node_ports(svc);
    let new_type = service_type(svc).to_owned();
    let old_ports: Vec<Value> = old
        .filter(|o| needs_node_ports(o))
        .and_then(|o| o["spec"]["ports"].as_array().cloned())
        .unwrap_or_default();
    let mut seen = BTreeSet::new();
    if let Some(ports) = svc["spec"]["ports"].as_array_mut() {
        for (i, p) in ports.iter_mut().enumerate() {
            let requested = p["nodePort"].as_u64().filter(|n| *n != 0);
            if !wants_ports {
                if let Some(map) = p.as_object_mut() {
                    if requested.is_some() && old.is_some_and(needs_node_ports) {
                        // The type changed away from NodePort: its node ports go with it.
                        map.remove("nodePort");
                    } else if requested.is_some() {
                        causes.push(Cause {
                            reason: "FieldValueForbidden".into(),
                            message: format!(
                                "Forbidden: may not be used when `type` is '{new_type}'"
                            ),
                            field: format!("spec.ports[{i}].nodePort"),
                        });
                    } else {
                        map.remove("nodePort");
                    }
                }
                continue;
            }
            let requested = match requested {
                Some(n) => Some(n),
                // Left out on update: the old port of the same number and protocol keeps its.
                None => old_ports
                    .iter()
                    .find(|o| o["port"] == p["port"] && o["protocol"] == p["protocol"])
                    .and_then(|o| o["nodePort"].as_u64()),
            };
            match requested {
                None => plan.node_ports.push((i, Want::Dynamic)),
                Some(n) => {
                    let Ok(port) = u16::try_from(n) else {
                        causes.push(cause(
                            &format!("spec.ports[{i}].nodePort"),
                            format!("Invalid value: {n}: must be between 1 and 65535, inclusive"),
                        ));
                        continue;
                    };
                    p["nodePort"] = json!(port);
                    if old_held.contains(&Held::NodePort(port)) || !seen.insert(port) {
                        continue;
                    }
                    if !net.node_ports.holds(port) {
                        causes.push(port_error(
                            i,
                            port,
                            &format!(
                                "provided port is not in the valid range. The range of valid ports is {}",
                                net.node_ports
                            ),
                        ));
                        continue;
                    }
                    plan.node_ports.push((i, Want::Static(port)));
                }
            }
        }
    }
    if causes.is_empty() { Ok(plan) } else { Err(causes) }
}

/// What an allocation claimed (to release if the write fails) and what the old object held
/// that the new one does not (to release once the write is stored).
#[derive(Debug, Default)]
pub struct Allocated {
    pub claimed: Vec<Held>,
    pub freed: Vec<Held>,
}

/// Who holds a claim.
struct Owner<'a> {
    namespace: &'a str,
    name: &'a str,
    uid: &'a str,
}

impl Owner<'_> {
    fn of(svc: &Value) -> Owner<'_> {
        let meta = &svc["metadata"];
        Owner {
            namespace: meta["namespace"].as_str().unwrap_or(""),
            name: meta["name"].as_str().unwrap_or(""),
            uid: meta["uid"].as_str().unwrap_or(""),
        }
    }

    fn record(&self, now: i64) -> Vec<u8> {
        json!({"namespace": self.namespace, "name": self.name, "uid": self.uid, "since": now})
            .to_string()
            .into_bytes()
    }
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn store_error(e: &StoreError) -> Status {
    Status::from_store(e, Target { resource: "services", group: "", name: "" })
}

fn invalid(svc: &Value, causes: Vec<Cause>) -> Status {
    Status::invalid("Service", "", svc["metadata"]["name"].as_str().unwrap_or(""), causes)
}

/// Allocate what `svc` (being created, or replacing `old`) needs, writing the values into it.
/// With `dry_run`, values are chosen and checked but nothing is claimed.
pub async fn allocate(
    objects: &Objects<'_>,
    net: &ServiceNetwork,
    svc: &mut Value,
    old: Option<&Value>,
    dry_run: bool,
) -> Result<Allocated, Status> {
    let plan = plan(net, svc, old).map_err(|causes| invalid(svc, causes))?;
    let mut done = Allocated::default();
    if plan != Plan::default()
        && let Err(e) = claim_plan(objects, net, svc, &plan, dry_run, &mut done).await
    {
        release(objects, &done.claimed, svc).await;
        return Err(e);
    }
    if let Some(old) = old {
        let now_held = held(svc);
        done.freed = held(old).into_iter().filter(|h| !now_held.contains(h)).collect();
    }
    Ok(done)
}

async fn claim_plan(
    objects: &Objects<'_>,
    net: &ServiceNetwork,
    svc: &mut Value,
    plan: &Plan,
    dry_run: bool,
    done: &mut Allocated,
) -> Result<(), Status> {
    let uid = svc["metadata"]["uid"].as_str().unwrap_or("").to_owned();
    // Values other Services hold, from the Services themselves (covers Services stored
    // before claims existed) and from the claims.
    let mut used = used_by_others(objects, &uid)?;
    let statics = plan
        .cluster_ip
        .iter()
        .filter_map(|w| match w {
            Want::Static(ip) => Some((None, Held::Ip(*ip))),
            Want::Dynamic => None,
        })
        .chain(plan.node_ports.iter().filter_map(|(i, w)| match w {
            Want::Static(p) => Some((Some(*i), Held::NodePort(*p))),
            Want::Dynamic => None,
        }));
    for (index, value) in statics.collect::<Vec<_>>() {
        let free = if used.contains(&value) {
            false
        } else if dry_run {
            claim_free(objects, svc, value)?
        } else {
            claim(objects, svc, value).await?
        };
        if !free {
            return Err(invalid(
                svc,
                vec![match (value, index) {
                    (Held::Ip(ip), _) => ip_error(ip, "provided IP is already allocated"),
                    (Held::NodePort(p), i) => {
                        port_error(i.unwrap_or(0), p, "provided port is already allocated")
                    }
                }],
            ));
        }
        if !dry_run {
            done.claimed.push(value);
        }
        used.insert(value);
    }
    let seed = uuid::Uuid::new_v4().as_u128();
    if plan.cluster_ip == Some(Want::Dynamic) {
        let candidates = net.cluster_ips.candidates(seed).map(Held::Ip);
        let value = claim_any(objects, svc, candidates, &used, dry_run)
            .await?
            .ok_or_else(|| Status::internal("failed to allocate a serviceIP: range is full"))?;
        if let Held::Ip(ip) = value {
            svc["spec"]["clusterIP"] = json!(ip.to_string());
            svc["spec"]["clusterIPs"] = json!([ip.to_string()]);
        }
        if !dry_run {
            done.claimed.push(value);
        }
        used.insert(value);
    }
    for (i, want) in &plan.node_ports {
        if *want != Want::Dynamic {
            continue;
        }
        let candidates = net.node_ports.candidates(seed).map(Held::NodePort);
        let value = claim_any(objects, svc, candidates, &used, dry_run)
            .await?
            .ok_or_else(|| Status::internal("failed to allocate a nodePort: range is full"))?;
        if let Held::NodePort(port) = value {
            svc["spec"]["ports"][*i]["nodePort"] = json!(port);
        }
        if !dry_run {
            done.claimed.push(value);
        }
        used.insert(value);
    }
    Ok(())
}

/// The first candidate not in `used` that could be claimed.
async fn claim_any(
    objects: &Objects<'_>,
    svc: &Value,
    candidates: impl Iterator<Item = Held>,
    used: &BTreeSet<Held>,
    dry_run: bool,
) -> Result<Option<Held>, Status> {
    let mut attempts = 0;
    for value in candidates.filter(|v| !used.contains(v)) {
        let got = if dry_run {
            claim_free(objects, svc, value)?
        } else {
            claim(objects, svc, value).await?
        };
        if got {
            return Ok(Some(value));
        }
        attempts += 1;
        if attempts >= DYNAMIC_ATTEMPTS {
            break;
        }
    }
    Ok(None)
}

/// Values held by Services other than the one with `uid`, and values claimed by anyone.
fn used_by_others(objects: &Objects<'_>, uid: &str) -> Result<BTreeSet<Held>, Status> {
    let mut used = BTreeSet::new();
    if let Some(def) = objects.registry.get("", "v1", "services") {
        let (all, _) = objects.list(def, None, &Selectors::default())?;
        for svc in all.iter().filter(|s| s["metadata"]["uid"].as_str() != Some(uid)) {
            used.extend(held(svc));
        }
    }
    Ok(used)
}

/// Is the claim on `value` absent, ours, or stale?
fn claim_free(objects: &Objects<'_>, svc: &Value, value: Held) -> Result<bool, Status> {
    match objects.store.get(&value.key()).map_err(|e| store_error(&e))? {
        None => Ok(true),
        Some(kv) => {
            let record: Value = serde_json::from_slice(&kv.value).unwrap_or(Value::Null);
            Ok(record["uid"].as_str() == Some(Owner::of(svc).uid)
                || stale(objects, &record, value)?)
        }
    }
}

/// Claim `value` for `svc`: true when it is now (or already was) its.
async fn claim(objects: &Objects<'_>, svc: &Value, value: Held) -> Result<bool, Status> {
    let owner = Owner::of(svc);
    let key = value.key();
    for _ in 0..3 {
        match objects.store.create(&key, owner.record(now())).await {
            Ok(_) => return Ok(true),
            Err(StoreError::AlreadyExists { .. }) => {}
            Err(e) => return Err(store_error(&e)),
        }
        let Some(kv) = objects.store.get(&key).map_err(|e| store_error(&e))? else { continue };
        let record: Value = serde_json::from_slice(&kv.value).unwrap_or(Value::Null);
        if record["uid"].as_str() == Some(owner.uid) {
            return Ok(true);
        }
        if !stale(objects, &record, value)? {
            return Ok(false);
        }
        match objects.store.update(&key, owner.record(now()), Some(kv.mod_revision)).await {
            Ok(_) => return Ok(true),
            Err(StoreError::Conflict { .. } | StoreError::NotFound { .. }) => {}
            Err(e) => return Err(store_error(&e)),
        }
    }
    Ok(false)
}

/// A claim is stale when it is older than the grace period and its Service is gone, was
/// replaced, or does not hold the value.
fn stale(objects: &Objects<'_>, record: &Value, value: Held) -> Result<bool, Status> {
    if now() - record["since"].as_i64().unwrap_or(0) < GRACE_SECONDS {
        return Ok(false);
    }
    let Some(def) = objects.registry.get("", "v1", "services") else { return Ok(true) };
    let ns = record["namespace"].as_str().unwrap_or("");
    let name = record["name"].as_str().unwrap_or("");
    match objects.get(def, Some(ns), name) {
        Ok(svc) => Ok(svc["metadata"]["uid"] != record["uid"] || !held(&svc).contains(&value)),
        Err(s) if s.code == 404 => Ok(true),
        Err(s) => Err(s),
    }
}

/// Give up the claims on `values` that `svc` holds. Best effort: a claim left behind (the
/// datastore failing now) is taken over later as stale.
pub async fn release(objects: &Objects<'_>, values: &[Held], svc: &Value) {
    let uid = Owner::of(svc).uid;
    for value in values {
        let key = value.key();
        let Ok(Some(kv)) = objects.store.get(&key) else { continue };
        let record: Value = serde_json::from_slice(&kv.value).unwrap_or(Value::Null);
        if record["uid"].as_str() == Some(uid) {
            let _ = objects.store.delete(&key, Some(kv.mod_revision)).await;
        }
    }
}

/// Claim what a stored Service holds (Services written before claims existed, such as an
/// older `kubernetes` Service). Values claimed by another Service are left as they are.
pub async fn adopt(objects: &Objects<'_>, svc: &Value) -> Result<(), Status> {
    for value in held(svc) {
        claim(objects, svc, value).await?;
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const NET: ServiceNetwork = ServiceNetwork::K3S_DEFAULT;

    fn svc(spec: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "Service",
               "metadata": {"name": "web", "namespace": "default", "uid": "u1"}, "spec": spec})
    }

    fn messages(causes: Vec<Cause>) -> Vec<String> {
        causes.into_iter().map(|c| format!("{}: {}", c.field, c.message)).collect()
    }

    #[test]
    fn a_new_service_asks_for_an_address_and_gets_upstreams_defaults() {
        let mut s = svc(json!({"type": "ClusterIP", "ports": [{"port": 80}]}));
        let p = plan(&NET, &mut s, None).unwrap();
        assert_eq!(p.cluster_ip, Some(Want::Dynamic));
        assert!(p.node_ports.is_empty());
        assert_eq!(s["spec"]["ipFamilies"], json!(["IPv4"]));
        assert_eq!(s["spec"]["ipFamilyPolicy"], "SingleStack");

        let mut s = svc(json!({"clusterIP": "10.43.0.5"}));
        assert_eq!(
            plan(&NET, &mut s, None).unwrap().cluster_ip,
            Some(Want::Static("10.43.0.5".parse().unwrap()))
        );
        assert_eq!(s["spec"]["clusterIPs"], json!(["10.43.0.5"]));

        let mut s = svc(json!({"clusterIP": "None"}));
        assert_eq!(plan(&NET, &mut s, None).unwrap(), Plan::default());
        assert_eq!(s["spec"]["clusterIPs"], json!(["None"]));

        let mut s = svc(json!({"type": "ExternalName", "externalName": "example.com"}));
        assert_eq!(plan(&NET, &mut s, None).unwrap(), Plan::default());
        assert!(s["spec"].get("ipFamilies").is_none());
    }

    #[test]
    fn requested_values_outside_the_ranges_are_refused_in_upstreams_words() {
        let mut s = svc(json!({"clusterIP": "10.0.0.5"}));
        assert_eq!(
            messages(plan(&NET, &mut s, None).unwrap_err()),
            [
                "spec.clusterIPs: Invalid value: []string{\"10.0.0.5\"}: failed to allocate IP 10.0.0.5: the provided network does not match the current range"
            ]
        );
        let mut s = svc(json!({"clusterIP": "10.43.0.0"}));
        assert!(plan(&NET, &mut s, None).is_err());
        let mut s = svc(json!({"type": "NodePort", "ports": [{"port": 80, "nodePort": 40000}]}));
        assert_eq!(
            messages(plan(&NET, &mut s, None).unwrap_err()),
            [
                "spec.ports[0].nodePort: Invalid value: 40000: provided port is not in the valid range. The range of valid ports is 30000-32767"
            ]
        );
        let mut s = svc(json!({"clusterIP": "abc"}));
        assert!(messages(plan(&NET, &mut s, None).unwrap_err())[0].contains("must be a valid IP"));
    }

    #[test]
    fn node_ports_are_asked_for_each_port_of_nodeport_and_loadbalancer_services() {
        let mut s = svc(json!({"type": "NodePort",
            "ports": [{"port": 80, "protocol": "TCP"}, {"port": 81, "protocol": "TCP", "nodePort": 30081}]}));
        let p = plan(&NET, &mut s, None).unwrap();
        assert_eq!(p.node_ports, vec![(0, Want::Dynamic), (1, Want::Static(30081))]);
        let mut s = svc(json!({"type": "LoadBalancer", "ports": [{"port": 80}]}));
        assert_eq!(plan(&NET, &mut s, None).unwrap().node_ports, vec![(0, Want::Dynamic)]);
        let mut s = svc(
            json!({"type": "LoadBalancer", "allocateLoadBalancerNodePorts": false, "ports": [{"port": 80}]}),
        );
        assert!(plan(&NET, &mut s, None).unwrap().node_ports.is_empty());
        let mut s = svc(json!({"type": "ClusterIP", "ports": [{"port": 80, "nodePort": 30001}]}));
        assert_eq!(
            messages(plan(&NET, &mut s, None).unwrap_err()),
            ["spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"]
        );
    }

    #[test]
    fn updates_keep_what_is_held_and_may_not_change_the_address() {
        let old =
            svc(json!({"type": "NodePort", "clusterIP": "10.43.0.7", "clusterIPs": ["10.43.0.7"],
            "ports": [{"port": 80, "protocol": "TCP", "nodePort": 30080}]}));
        // A replace that leaves the allocated values out keeps them.
        let mut s = svc(json!({"type": "NodePort", "ports": [{"port": 80, "protocol": "TCP"}]}));
        assert_eq!(plan(&NET, &mut s, Some(&old)).unwrap(), Plan::default());
        assert_eq!(s["spec"]["clusterIP"], "10.43.0.7");
        assert_eq!(s["spec"]["ports"][0]["nodePort"], 30080);
        // Changing the address is refused.
        let mut s = old.clone();
        s["spec"]["clusterIP"] = json!("10.43.0.9");
        assert_eq!(
            messages(plan(&NET, &mut s, Some(&old)).unwrap_err()),
            ["spec.clusterIPs[0]: Invalid value: []string{\"10.43.0.9\"}: may not change once set"]
        );
        // Going back to ClusterIP drops the node ports, which are freed.
        let mut s = old.clone();
        s["spec"]["type"] = json!("ClusterIP");
        assert_eq!(plan(&NET, &mut s, Some(&old)).unwrap(), Plan::default());
        assert!(s["spec"]["ports"][0].get("nodePort").is_none());
        assert_eq!(held(&s), BTreeSet::from([Held::Ip("10.43.0.7".parse().unwrap())]));
        // A new port gets a new node port.
        let mut s = old.clone();
        s["spec"]["ports"] = json!([{"port": 80, "protocol": "TCP", "nodePort": 30080}, {"port": 90, "protocol": "TCP"}]);
        assert_eq!(plan(&NET, &mut s, Some(&old)).unwrap().node_ports, vec![(1, Want::Dynamic)]);
    }

    #[test]
    fn claim_keys_and_held_values() {
        let s = svc(json!({"clusterIP": "10.43.0.7", "clusterIPs": ["10.43.0.7"],
            "ports": [{"port": 80, "nodePort": 30080}, {"port": 80, "protocol": "UDP", "nodePort": 30080}]}));
        let h: Vec<String> = held(&s).iter().map(Held::key).collect();
        assert_eq!(h, ["/k3rs/claims/serviceips/10.43.0.7", "/k3rs/claims/servicenodeports/30080"]);
        assert!(held(&svc(json!({"clusterIP": "None"}))).is_empty());
    }
}

/// The claims against a real datastore: concurrent creates, conflicts, freeing, restarts.
#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod store_tests {
    use std::sync::Arc;

    use k3rs_store::backend::sled::SledBackend;
    use k3rs_store::{Datastore, Options};

    use super::*;
    use crate::delete::DeleteOptions;
    use crate::registry::Registry;

    /// 30 usable addresses, 11 ports.
    fn small() -> ServiceNetwork {
        ServiceNetwork::parse("10.96.0.0/27", "30000-30010").unwrap()
    }

    async fn open(dir: &std::path::Path) -> (Datastore, Arc<Registry>) {
        let store =
            Datastore::open(Arc::new(SledBackend::open(dir).unwrap()), Options::default()).unwrap();
        let registry = Arc::new(Registry::builtin());
        crate::objects::ensure_system_namespaces(&store, &registry).await.unwrap();
        (store, registry)
    }

    fn service(name: &str, spec: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name}, "spec": spec})
    }

    async fn create(store: &Datastore, registry: &Registry, svc: Value) -> Result<Value, Status> {
        let net = small();
        let objects = Objects::new(store, registry).with_network(&net);
        let def = registry.get("", "v1", "services").unwrap();
        objects.create(def, Some("default"), svc, false).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_creates_never_share_a_value_and_restarts_keep_them() {
        let dir = tempfile::tempdir().unwrap();
        let (store, registry) = open(dir.path()).await;
        let mut tasks = Vec::new();
        for i in 0..10 {
            let (store, registry) = (store.clone(), registry.clone());
            tasks.push(tokio::spawn(async move {
                let spec = json!({"type": "NodePort", "ports": [{"port": 80}]});
                create(&store, &registry, service(&format!("s{i}"), spec)).await.unwrap()
            }));
        }
        let mut ips = BTreeSet::new();
        let mut ports = BTreeSet::new();
        for t in tasks {
            let svc = t.await.unwrap();
            ips.insert(svc["spec"]["clusterIP"].as_str().unwrap().to_owned());
            ports.insert(svc["spec"]["ports"][0]["nodePort"].as_u64().unwrap());
        }
        assert_eq!((ips.len(), ports.len()), (10, 10));
        // One node port is left; the twelfth NodePort service finds the range full.
        let spec = json!({"type": "NodePort", "ports": [{"port": 80}]});
        create(&store, &registry, service("s10", spec.clone())).await.unwrap();
        let full = create(&store, &registry, service("s11", spec.clone())).await.unwrap_err();
        assert_eq!(
            full.message,
            "Internal error occurred: failed to allocate a nodePort: range is full"
        );
        // Nothing of the failed create is left claimed: its address is free for the next.
        let store_ips = store
            .list(&k3rs_store::ListRequest {
                range: k3rs_store::KeyRange::prefix(IPS_PREFIX),
                revision: 0,
                after: None,
                limit: 0,
            })
            .unwrap();
        assert_eq!(store_ips.items.len(), 11);

        // After a restart the same values are still taken.
        store.close();
        drop(store);
        let (store, registry) = open(dir.path()).await;
        let taken = ips.iter().next().unwrap().clone();
        let err = create(&store, &registry, service("again", json!({"clusterIP": taken})))
            .await
            .unwrap_err();
        assert_eq!(err.code, 422);
        assert!(err.message.ends_with("provided IP is already allocated"), "{}", err.message);

        // Deleting a service frees its address and port.
        let net = small();
        let objects = Objects::new(&store, &registry).with_network(&net);
        let def = registry.get("", "v1", "services").unwrap();
        let s0 = objects.get(def, Some("default"), "s0").unwrap();
        let (ip, port) =
            (s0["spec"]["clusterIP"].clone(), s0["spec"]["ports"][0]["nodePort"].clone());
        objects.delete(def, Some("default"), "s0", &DeleteOptions::default(), false).await.unwrap();
        let spec =
            json!({"type": "NodePort", "clusterIP": ip, "ports": [{"port": 80, "nodePort": port}]});
        create(&store, &registry, service("reuse", spec)).await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn stale_claims_are_taken_over_and_young_ones_are_not() {
        let dir = tempfile::tempdir().unwrap();
        let (store, registry) = open(dir.path()).await;
        // A server died between claiming 10.96.0.9 and storing its Service.
        let orphan = |since: i64| {
            json!({"namespace": "default", "name": "ghost", "uid": "g", "since": since})
                .to_string()
                .into_bytes()
        };
        let key = Held::Ip("10.96.0.9".parse().unwrap()).key();
        store.create(&key, orphan(now())).await.unwrap();
        let err = create(&store, &registry, service("a", json!({"clusterIP": "10.96.0.9"})))
            .await
            .unwrap_err();
        assert!(err.message.ends_with("provided IP is already allocated"));
        let kv = store.get(&key).unwrap().unwrap();
        store.update(&key, orphan(now() - 2 * GRACE_SECONDS), Some(kv.mod_revision)).await.unwrap();
        create(&store, &registry, service("a", json!({"clusterIP": "10.96.0.9"}))).await.unwrap();
    }
}
