//! The kube-proxy role as plain logic: Services and EndpointSlices rendered into one nftables
//! table (`ip k3rs-proxy`), replaced atomically on every change. ClusterIPs and NodePorts are
//! matched through verdict maps; each service picks an endpoint at random (`numgen`), with
//! ClientIP session affinity kept in a per-service set with a timeout; NodePorts with
//! `externalTrafficPolicy: Local` use only this node's endpoints and keep the client's address.
//! ClusterIP traffic from outside the pods' range, NodePort traffic (unless `Local`) and a
//! pod reaching itself through its service are masqueraded after DNAT; pod-to-service traffic
//! keeps the pod's address (pods are routed by the node, so replies pass its conntrack).
//! Headless and ExternalName services get no rules; a service without ready endpoints is
//! rejected (ICMP port unreachable) in filter chains, as kube-proxy does.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde_json::Value;

/// The table's name.
pub const TABLE: &str = "k3rs-proxy";
/// Marks service traffic to masquerade.
const MASQ_MARK: &str = "0x4000";

/// A ready endpoint: address, port, node.
type Endpoint = (String, u16, String);
/// A service port as slices name it: namespace, service, port name, protocol.
type PortKey = (String, String, String, String);

/// One port of a service, resolved to its endpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Port {
    protocol: String,
    port: u16,
    node_port: Option<u16>,
    /// Ready endpoints: (address, port, node).
    endpoints: Vec<(String, u16, String)>,
}

/// One service with a ClusterIP.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Service {
    key: String,
    cluster_ips: Vec<String>,
    ports: Vec<Port>,
    /// ClientIP affinity timeout in seconds.
    affinity: Option<u64>,
    local_external: bool,
}

fn text(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_owned()
}

fn number(v: &Value) -> Option<u16> {
    v.as_u64().and_then(|n| u16::try_from(n).ok())
}

/// The services to program, from the API's Service and EndpointSlice objects.
fn services(svcs: &[Value], slices: &[Value]) -> Vec<Service> {
    // Ready endpoints by (namespace, service, port name, protocol).
    let mut ready: BTreeMap<PortKey, Vec<Endpoint>> = BTreeMap::new();
    for slice in slices {
        if slice["addressType"] != "IPv4" {
            continue;
        }
        let ns = text(&slice["metadata"]["namespace"]);
        let svc = text(&slice["metadata"]["labels"]["kubernetes.io/service-name"]);
        for p in slice["ports"].as_array().into_iter().flatten() {
            let Some(port) = number(&p["port"]) else { continue };
            let key = (ns.clone(), svc.clone(), text(&p["name"]), protocol(&p["protocol"]));
            for e in slice["endpoints"].as_array().into_iter().flatten() {
                if e["conditions"]["ready"] == false {
                    continue;
                }
                for a in e["addresses"].as_array().into_iter().flatten() {
                    let entry = (text(a), port, text(&e["nodeName"]));
                    let list = ready.entry(key.clone()).or_default();
                    if !list.contains(&entry) {
                        list.push(entry);
                    }
                }
            }
        }
    }
    let mut out = Vec::new();
    for s in svcs {
        let spec = &s["spec"];
        let ips: Vec<String> = match spec["clusterIPs"].as_array() {
            Some(list) => list.iter().map(text).collect(),
            None => vec![text(&spec["clusterIP"])],
        };
        let ips: Vec<String> =
            ips.into_iter().filter(|ip| ip.parse::<std::net::Ipv4Addr>().is_ok()).collect();
        if ips.is_empty() || spec["type"] == "ExternalName" {
            continue;
        }
        let ns = text(&s["metadata"]["namespace"]);
        let name = text(&s["metadata"]["name"]);
        let ports = spec["ports"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| {
                let proto = protocol(&p["protocol"]);
                let key = (ns.clone(), name.clone(), text(&p["name"]), proto.clone());
                let mut endpoints = ready.get(&key).cloned().unwrap_or_default();
                endpoints.sort();
                Some(Port {
                    protocol: proto,
                    port: number(&p["port"])?,
                    node_port: number(&p["nodePort"]),
                    endpoints,
                })
            })
            .collect();
        let affinity = (spec["sessionAffinity"] == "ClientIP").then(|| {
            spec["sessionAffinityConfig"]["clientIP"]["timeoutSeconds"].as_u64().unwrap_or(10800)
        });
        out.push(Service {
            key: format!("{ns}/{name}"),
            cluster_ips: ips,
            ports,
            affinity,
            local_external: spec["externalTrafficPolicy"] == "Local",
        });
    }
    out.sort_by(|a, b| a.key.cmp(&b.key));
    out
}

fn protocol(v: &Value) -> String {
    v.as_str().unwrap_or("TCP").to_ascii_lowercase()
}

/// A chain name for a service port: nftables names stay short and plain.
fn chain(prefix: &str, key: &str, port: &Port) -> String {
    let d = k3rs_short_hash(&format!("{key}/{}/{}", port.protocol, port.port));
    format!("{prefix}-{d}")
}

/// 16 hex digits of FNV-1a: stable names without a hashing dependency.
fn k3rs_short_hash(s: &str) -> String {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100000001b3);
    }
    format!("{h:016x}")
}

/// The whole table, as one `nft -f` transaction that replaces the previous one. Services at
/// the `local` addresses are answered on this node itself (the cluster DNS) and get no rules.
/// `cluster` is the pods' range: ClusterIP traffic from outside it is masqueraded (kube-proxy's
/// rule), pod traffic keeps its source (network policies see it).
pub fn ruleset(
    svcs: &[Value],
    slices: &[Value],
    node: &str,
    local: &[String],
    cluster: &str,
) -> String {
    let mut services = services(svcs, slices);
    services.retain(|s| !s.cluster_ips.iter().any(|ip| local.contains(ip)));
    let mut body = String::new();
    let mut cluster_map = Vec::new();
    let mut node_map = Vec::new();
    let mut chains = String::new();
    let mut sets = String::new();
    let (mut no_eps, mut no_eps_np) = (Vec::new(), Vec::new());
    for s in &services {
        for p in &s.ports {
            if !matches!(p.protocol.as_str(), "tcp" | "udp" | "sctp") {
                continue;
            }
            let svc_chain = chain("svc", &s.key, p);
            let all: Vec<&(String, u16, String)> = p.endpoints.iter().collect();
            for ip in &s.cluster_ips {
                if all.is_empty() {
                    no_eps.push(format!("{ip} . {} . {}", p.protocol, p.port));
                } else {
                    cluster_map
                        .push(format!("{ip} . {} . {} : goto {svc_chain}", p.protocol, p.port));
                }
            }
            if !all.is_empty() {
                let masq = if cluster.is_empty() { Masq::All } else { Masq::OffCluster(cluster) };
                write_service_chain(&mut chains, &mut sets, &svc_chain, s, p, &all, masq);
            }
            if let Some(np) = p.node_port {
                let ext_chain = chain("ext", &s.key, p);
                let eps: Vec<&(String, u16, String)> = if s.local_external {
                    p.endpoints.iter().filter(|e| e.2 == node).collect()
                } else {
                    all.clone()
                };
                if eps.is_empty() {
                    no_eps_np.push(format!("{} . {np}", p.protocol));
                } else {
                    node_map.push(format!("{} . {np} : goto {ext_chain}", p.protocol));
                    write_service_chain(
                        &mut chains,
                        &mut sets,
                        &ext_chain,
                        s,
                        p,
                        &eps,
                        if s.local_external { Masq::None } else { Masq::All },
                    );
                }
            }
        }
    }
    let elements = |list: &[String]| {
        if list.is_empty() {
            String::new()
        } else {
            format!(" elements = {{ {} }};", list.join(", "))
        }
    };
    let _ = writeln!(body, "table ip {TABLE} {{");
    let _ = writeln!(
        body,
        "  map services {{ type ipv4_addr . inet_proto . inet_service : verdict;{} }}",
        elements(&cluster_map)
    );
    let _ = writeln!(
        body,
        "  map nodeports {{ type inet_proto . inet_service : verdict;{} }}",
        elements(&node_map)
    );
    let _ = writeln!(
        body,
        "  set no-endpoints {{ type ipv4_addr . inet_proto . inet_service;{} }}",
        elements(&no_eps)
    );
    let _ = writeln!(
        body,
        "  set no-endpoints-np {{ type inet_proto . inet_service;{} }}",
        elements(&no_eps_np)
    );
    body.push_str(&sets);
    let _ = writeln!(
        body,
        "  chain prerouting {{ type nat hook prerouting priority dstnat; policy accept; jump dispatch; }}"
    );
    let _ = writeln!(
        body,
        "  chain output {{ type nat hook output priority -100; policy accept; jump dispatch; }}"
    );
    let _ = writeln!(body, "  chain dispatch {{");
    let _ = writeln!(body, "    ip daddr . meta l4proto . th dport vmap @services");
    let _ = writeln!(body, "    fib daddr type local meta l4proto . th dport vmap @nodeports");
    let _ = writeln!(body, "  }}");
    let _ = writeln!(
        body,
        "  chain postrouting {{ type nat hook postrouting priority srcnat; policy accept; meta mark & {MASQ_MARK} == {MASQ_MARK} masquerade; }}"
    );
    // Services without ready endpoints refuse connections at once (ICMP port unreachable).
    // Before routing, so a node without a route for the service range refuses too.
    for hook in ["prerouting", "output"] {
        let _ = writeln!(
            body,
            "  chain reject-{hook} {{ type filter hook {hook} priority -110; policy accept; jump check; }}"
        );
    }
    let _ = writeln!(body, "  chain check {{");
    let _ = writeln!(body, "    ip daddr . meta l4proto . th dport @no-endpoints reject");
    let _ =
        writeln!(body, "    fib daddr type local meta l4proto . th dport @no-endpoints-np reject");
    let _ = writeln!(body, "  }}");
    body.push_str(&chains);
    let _ = writeln!(body, "}}");
    // Declaring the table first makes the delete succeed when it does not exist yet.
    format!("table ip {TABLE}\ndelete table ip {TABLE}\n{body}")
}

/// Apply `ruleset` to this network namespace in one `nft -f` transaction.
pub fn apply(ruleset: &str) -> Result<(), crate::AgentError> {
    crate::podnet::run("nft", &["-f", "-"], Some(ruleset))
}

/// Which traffic of a service chain is masqueraded.
#[derive(Debug, Clone, Copy)]
enum Masq<'a> {
    All,
    /// From outside the pods' range.
    OffCluster(&'a str),
    None,
}

/// A chain that picks one of `eps` (not empty), keeping ClientIP affinity.
fn write_service_chain(
    chains: &mut String,
    sets: &mut String,
    name: &str,
    s: &Service,
    p: &Port,
    eps: &[&(String, u16, String)],
    masq: Masq<'_>,
) {
    let _ = writeln!(chains, "  chain {name} {{");
    match masq {
        Masq::All => {
            let _ = writeln!(chains, "    meta mark set meta mark | {MASQ_MARK}");
        }
        Masq::OffCluster(cluster) => {
            let _ =
                writeln!(chains, "    ip saddr != {cluster} meta mark set meta mark | {MASQ_MARK}");
        }
        Masq::None => {}
    }
    let ep_chain = |i: usize| format!("{name}-{i}");
    if let Some(timeout) = s.affinity {
        for (i, _) in eps.iter().enumerate() {
            let set = format!("{}-aff", ep_chain(i));
            let _ = writeln!(
                sets,
                "  set {set} {{ type ipv4_addr; flags dynamic, timeout; timeout {timeout}s; }}"
            );
            let _ = writeln!(chains, "    ip saddr @{set} goto {}", ep_chain(i));
        }
    }
    let picks: Vec<String> =
        (0..eps.len()).map(|i| format!("{i} : goto {}", ep_chain(i))).collect();
    let _ = writeln!(chains, "    numgen random mod {} vmap {{ {} }}", eps.len(), picks.join(", "));
    let _ = writeln!(chains, "  }}");
    for (i, (ip, port, _)) in eps.iter().enumerate() {
        let _ = writeln!(chains, "  chain {} {{", ep_chain(i));
        if s.affinity.is_some() {
            let _ = writeln!(chains, "    update @{}-aff {{ ip saddr }}", ep_chain(i));
        }
        // A pod reaching itself through its service (hairpin) must see the reply come back
        // through the node.
        let _ = writeln!(chains, "    ip saddr {ip} meta mark set meta mark | {MASQ_MARK}");
        let _ = writeln!(chains, "    meta l4proto {} dnat to {ip}:{port}", p.protocol);
        let _ = writeln!(chains, "  }}");
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn svc(name: &str, spec: Value) -> Value {
        json!({"metadata": {"namespace": "default", "name": name}, "spec": spec})
    }

    fn slice(svc: &str, port: u16, eps: &[(&str, &str, bool)]) -> Value {
        json!({
            "metadata": {"namespace": "default", "name": format!("{svc}-x"),
                         "labels": {"kubernetes.io/service-name": svc}},
            "addressType": "IPv4",
            "ports": [{"name": "http", "port": port, "protocol": "TCP"}],
            "endpoints": eps.iter().map(|(ip, node, ready)| json!({
                "addresses": [ip], "nodeName": node, "conditions": {"ready": ready}
            })).collect::<Vec<_>>(),
        })
    }

    #[test]
    fn cluster_ips_and_node_ports_dnat_to_ready_endpoints() {
        let web = svc(
            "web",
            json!({"clusterIP": "10.43.0.20", "type": "NodePort",
            "ports": [{"name": "http", "port": 80, "protocol": "TCP", "nodePort": 30080}]}),
        );
        let eps = slice(
            "web",
            8080,
            &[("10.42.0.5", "a", true), ("10.42.1.5", "b", true), ("10.42.0.9", "a", false)],
        );
        let rules = ruleset(&[web], &[eps], "a", &[], "10.42.0.0/16");
        assert!(rules.starts_with("table ip k3rs-proxy\ndelete table ip k3rs-proxy\n"));
        assert!(rules.contains("10.43.0.20 . tcp . 80 : goto svc-"), "{rules}");
        assert!(rules.contains("tcp . 30080 : goto ext-"), "{rules}");
        assert!(rules.contains("numgen random mod 2 vmap"), "{rules}");
        assert!(
            rules.contains("dnat to 10.42.0.5:8080") && rules.contains("dnat to 10.42.1.5:8080")
        );
        assert!(!rules.contains("10.42.0.9"), "not-ready endpoints get no traffic");
        assert!(rules.contains("ip saddr != 10.42.0.0/16 meta mark set"), "{rules}");
        assert!(rules.contains("ip saddr 10.42.0.5 meta mark set"), "hairpin: {rules}");
    }

    #[test]
    fn local_traffic_policy_affinity_headless_and_empty_services() {
        let local = svc(
            "local",
            json!({"clusterIP": "10.43.0.21", "type": "NodePort",
            "externalTrafficPolicy": "Local", "sessionAffinity": "ClientIP",
            "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 60}},
            "ports": [{"name": "http", "port": 80, "nodePort": 30081}]}),
        );
        let headless = svc("headless", json!({"clusterIP": "None", "ports": [{"port": 80}]}));
        let empty = svc("empty", json!({"clusterIP": "10.43.0.22", "ports": [{"port": 81}]}));
        let eps = slice("local", 8080, &[("10.42.0.5", "a", true), ("10.42.1.5", "b", true)]);
        let dns = svc(
            "dns",
            json!({"clusterIP": "10.43.0.10", "ports": [{"port": 53, "protocol": "UDP"}]}),
        );
        let rules =
            ruleset(&[local, headless, empty, dns], &[eps], "b", &["10.43.0.10".into()], "");
        assert!(!rules.contains("10.43.0.10"), "the node answers the cluster DNS itself");
        let ext = rules.split("chain ext-").nth(1).unwrap();
        let ext = &ext[..ext.find("  }").unwrap()];
        assert!(ext.contains("numgen random mod 1"), "only this node's endpoint: {ext}");
        assert!(!ext.contains("meta mark set"), "the client's address is kept: {ext}");
        assert!(rules.contains("timeout 60s") && rules.contains("update @"), "{rules}");
        assert!(!rules.contains("None"), "headless services get no rules");
        assert!(!rules.contains("10.43.0.22 . tcp . 81 : goto"), "no endpoints, no DNAT");
        assert!(rules.contains("elements = { 10.43.0.22 . tcp . 81 }"), "{rules}");
    }
}
