//! NetworkPolicy as plain logic, as K3s's embedded policy controller enforces it on each node:
//! for every pod running here that a policy selects, the sources (ingress) or destinations
//! (egress) and ports its rules allow, rendered into one nftables table (`ip k3rs-policy`)
//! replaced atomically. Connections already allowed (conntrack established/related) pass;
//! traffic between the node itself and its pods (probes, the node's cluster DNS) is not
//! restricted, as upstream's CNI plugins leave host traffic; pods no policy selects are open.
//! Pod traffic is routed by the node (pods have /32 addresses), so same-node traffic passes
//! the `forward` hook too.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use serde_json::Value;

/// The table's name.
pub const TABLE: &str = "k3rs-policy";

fn text(v: &Value) -> &str {
    v.as_str().unwrap_or_default()
}

/// Does `selector` (a LabelSelector; empty selects everything) select `labels`?
pub fn selects(selector: &Value, labels: &Value) -> bool {
    let label = |k: &str| labels[k].as_str();
    for (k, v) in selector["matchLabels"].as_object().into_iter().flatten() {
        if label(k) != v.as_str() {
            return false;
        }
    }
    for e in selector["matchExpressions"].as_array().into_iter().flatten() {
        let key = text(&e["key"]);
        let values: Vec<&str> =
            e["values"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
        let ok = match text(&e["operator"]) {
            "In" => label(key).is_some_and(|v| values.contains(&v)),
            "NotIn" => label(key).is_none_or(|v| !values.contains(&v)),
            "Exists" => label(key).is_some(),
            "DoesNotExist" => label(key).is_none(),
            _ => false,
        };
        if !ok {
            return false;
        }
    }
    true
}

/// A pod as policies see it.
#[derive(Debug, Clone)]
struct Pod<'a> {
    namespace: &'a str,
    ip: &'a str,
    labels: &'a Value,
    node: &'a str,
    /// Its containers' named ports: name, protocol (lower case), number.
    named_ports: Vec<(&'a str, String, u64)>,
}

impl Pod<'_> {
    /// The number of the container port `name` for `proto`.
    fn port_named(&self, name: &str, proto: &str) -> Option<u64> {
        self.named_ports.iter().find(|(n, p, _)| *n == name && p == proto).map(|(_, _, n)| *n)
    }
}

fn pods(list: &[Value]) -> Vec<Pod<'_>> {
    list.iter()
        .filter(|p| p["spec"]["hostNetwork"] != true)
        .filter(|p| !matches!(text(&p["status"]["phase"]), "Succeeded" | "Failed"))
        .filter_map(|p| {
            let ip = p["status"]["podIP"].as_str().filter(|ip| !ip.is_empty())?;
            let named_ports = p["spec"]["containers"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|c| c["ports"].as_array().into_iter().flatten())
                .filter_map(|port| {
                    let proto = port["protocol"].as_str().unwrap_or("TCP").to_ascii_lowercase();
                    Some((port["name"].as_str()?, proto, port["containerPort"].as_u64()?))
                })
                .collect();
            Some(Pod {
                namespace: text(&p["metadata"]["namespace"]),
                ip,
                labels: &p["metadata"]["labels"],
                node: text(&p["spec"]["nodeName"]),
                named_ports,
            })
        })
        .collect()
}

/// Whether `policy` applies in `direction` (`Ingress` or `Egress`): `policyTypes` when given,
/// else Ingress always and Egress when it has egress rules.
fn applies(policy: &Value, direction: &str) -> bool {
    match policy["spec"]["policyTypes"].as_array() {
        Some(types) => types.iter().any(|t| t == direction),
        None => direction == "Ingress" || policy["spec"].get("egress").is_some(),
    }
}

/// The addresses a rule's peers (`from` or `to`) name: `None` for "anywhere".
fn peers(
    rule_peers: Option<&Vec<Value>>,
    policy_ns: &str,
    all: &[Pod<'_>],
    namespaces: &BTreeMap<&str, &Value>,
) -> Option<Vec<String>> {
    let list = rule_peers.filter(|l| !l.is_empty())?;
    let mut out = BTreeSet::new();
    for peer in list {
        if let Some(block) = peer.get("ipBlock") {
            let cidr = text(&block["cidr"]);
            let except: Vec<&str> = block["except"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            if except.is_empty() {
                out.insert(cidr.to_owned());
            } else {
                // nftables intervals cannot subtract: a set expression with exclusions is
                // written as `cidr` minus each `except` by the renderer.
                out.insert(format!("{cidr} except {}", except.join(" ")));
            }
            continue;
        }
        let ns_sel = peer.get("namespaceSelector");
        let pod_sel = peer.get("podSelector");
        for p in all {
            let ns_ok = match ns_sel {
                Some(sel) => namespaces.get(p.namespace).is_some_and(|labels| selects(sel, labels)),
                None => p.namespace == policy_ns,
            };
            let pod_ok = pod_sel.is_none_or(|sel| selects(sel, p.labels));
            if ns_ok && pod_ok {
                out.insert(p.ip.to_owned());
            }
        }
    }
    Some(out.into_iter().collect())
}

/// A rule's port entry.
#[derive(Debug, Clone, PartialEq)]
enum PortMatch {
    /// An nftables match (`tcp dport 80`, `tcp dport 80-90`, `meta l4proto udp`).
    Numeric(String),
    /// A container port name, resolved against the pods the traffic goes to.
    Named { proto: String, name: String },
}

/// A rule's ports, `None` for all ports.
fn ports(rule_ports: Option<&Vec<Value>>) -> Option<Vec<PortMatch>> {
    let list = rule_ports.filter(|l| !l.is_empty())?;
    Some(
        list.iter()
            .map(|p| {
                let proto = p["protocol"].as_str().unwrap_or("TCP").to_ascii_lowercase();
                PortMatch::Numeric(match (&p["port"], p["endPort"].as_u64()) {
                    (Value::String(name), _) => {
                        return PortMatch::Named { proto, name: name.clone() };
                    }
                    (Value::Number(a), Some(b)) => format!("{proto} dport {a}-{b}"),
                    (Value::Number(a), None) => format!("{proto} dport {a}"),
                    (Value::Null, _) => format!("meta l4proto {proto}"),
                    _ => "meta l4proto 255".to_owned(),
                })
            })
            .collect(),
    )
}

/// The address match for a peer entry.
fn address_match(field: &str, entry: &str) -> String {
    match entry.split_once(" except ") {
        Some((cidr, except)) => {
            let ex: Vec<&str> = except.split_whitespace().collect();
            format!("{field} {cidr} {field} != {{ {} }}", ex.join(", "))
        }
        None => format!("{field} {entry}"),
    }
}

/// The matches allowing one port entry of a rule from (ingress) or to (egress) `addrs`
/// (`None`: anywhere). A named port is the port of that name on the pod the traffic goes to:
/// the selected pod itself for ingress, each destination pod for egress (so, for egress, only
/// pods among the peers, or any pod when the rule names no peers, and never an `ipBlock`).
fn matches(
    direction: &str,
    field: &str,
    addrs: Option<&[String]>,
    port: &PortMatch,
    own: &Pod<'_>,
    all: &[Pod<'_>],
) -> Vec<String> {
    let join = |a: String, p: String| {
        [a, p].into_iter().filter(|s| !s.is_empty()).collect::<Vec<_>>().join(" ")
    };
    let addr_matches = || -> Vec<String> {
        match addrs {
            None => vec![String::new()],
            Some(list) => list.iter().map(|a| address_match(field, a)).collect(),
        }
    };
    match port {
        PortMatch::Numeric(p) => addr_matches().into_iter().map(|a| join(a, p.clone())).collect(),
        PortMatch::Named { proto, name } if direction == "Ingress" => {
            match own.port_named(name, proto) {
                Some(n) => addr_matches()
                    .into_iter()
                    .map(|a| join(a, format!("{proto} dport {n}")))
                    .collect(),
                None => Vec::new(),
            }
        }
        PortMatch::Named { proto, name } => all
            .iter()
            .filter(|p| addrs.is_none_or(|list| list.iter().any(|a| a == p.ip)))
            .filter_map(|p| {
                let n = p.port_named(name, proto)?;
                Some(format!("{field} {} {proto} dport {n}", p.ip))
            })
            .collect(),
    }
}

/// The whole table for `node`.
pub fn ruleset(
    policies: &[Value],
    pod_list: &[Value],
    namespace_list: &[Value],
    node: &str,
) -> String {
    let all = pods(pod_list);
    let namespaces: BTreeMap<&str, &Value> = namespace_list
        .iter()
        .map(|n| (text(&n["metadata"]["name"]), &n["metadata"]["labels"]))
        .collect();
    let mut ingress_map = Vec::new();
    let mut egress_map = Vec::new();
    let mut chains = String::new();
    for (i, pod) in all.iter().filter(|p| p.node == node).enumerate() {
        for (direction, field, peer_key, own_field, map) in [
            ("Ingress", "ip saddr", "from", "ip daddr", &mut ingress_map),
            ("Egress", "ip daddr", "to", "ip saddr", &mut egress_map),
        ] {
            let selecting: Vec<&Value> = policies
                .iter()
                .filter(|p| text(&p["metadata"]["namespace"]) == pod.namespace)
                .filter(|p| selects(&p["spec"]["podSelector"], pod.labels))
                .filter(|p| applies(p, direction))
                .collect();
            if selecting.is_empty() {
                continue;
            }
            let _ = own_field;
            let chain = format!("{}-{i}", direction.to_ascii_lowercase());
            map.push(format!("{} : jump {chain}", pod.ip));
            let _ = writeln!(chains, "  chain {chain} {{");
            let key = direction.to_ascii_lowercase();
            // An allowed egress returns to the base chain, where the destination's ingress
            // rules still apply; an allowed ingress is final.
            let verdict = if direction == "Egress" { "return" } else { "accept" };
            for policy in &selecting {
                let ns = text(&policy["metadata"]["namespace"]);
                for rule in policy["spec"][&key].as_array().into_iter().flatten() {
                    let addrs = peers(rule[peer_key].as_array(), ns, &all, &namespaces);
                    let port_list = ports(rule["ports"].as_array());
                    let port_matches =
                        port_list.unwrap_or_else(|| vec![PortMatch::Numeric(String::new())]);
                    for p in &port_matches {
                        for m in matches(direction, field, addrs.as_deref(), p, pod, &all) {
                            let _ = writeln!(chains, "    {m} {verdict}");
                        }
                    }
                }
            }
            let _ = writeln!(chains, "    drop");
            let _ = writeln!(chains, "  }}");
        }
    }
    let elements = |list: &[String]| {
        if list.is_empty() {
            String::new()
        } else {
            format!(" elements = {{ {} }};", list.join(", "))
        }
    };
    let mut body = String::new();
    let _ = writeln!(body, "table ip {TABLE} {{");
    let _ =
        writeln!(body, "  map ingress {{ type ipv4_addr : verdict;{} }}", elements(&ingress_map));
    let _ = writeln!(body, "  map egress {{ type ipv4_addr : verdict;{} }}", elements(&egress_map));
    let _ = writeln!(
        body,
        "  chain forward {{ type filter hook forward priority filter; policy accept; ct state established,related accept; ip saddr vmap @egress; ip daddr vmap @ingress; }}"
    );
    body.push_str(&chains);
    let _ = writeln!(body, "}}");
    format!("table ip {TABLE}\ndelete table ip {TABLE}\n{body}")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(ns: &str, name: &str, ip: &str, node: &str, labels: Value) -> Value {
        json!({"metadata": {"namespace": ns, "name": name, "labels": labels},
               "spec": {"nodeName": node}, "status": {"podIP": ip, "phase": "Running"}})
    }

    fn policy(ns: &str, spec: Value) -> Value {
        json!({"metadata": {"namespace": ns, "name": "p"}, "spec": spec})
    }

    #[test]
    fn selectors_match_labels_and_expressions() {
        let labels = json!({"app": "web", "tier": "front"});
        assert!(selects(&json!({}), &labels));
        assert!(selects(&json!({"matchLabels": {"app": "web"}}), &labels));
        assert!(!selects(&json!({"matchLabels": {"app": "db"}}), &labels));
        let e = |op: &str, values: Value| json!({"matchExpressions": [{"key": "tier", "operator": op, "values": values}]});
        assert!(selects(&e("In", json!(["front", "x"])), &labels));
        assert!(!selects(&e("NotIn", json!(["front"])), &labels));
        assert!(selects(&e("Exists", json!([])), &labels));
        assert!(!selects(&e("DoesNotExist", json!([])), &labels));
    }

    #[test]
    fn selected_pods_get_chains_of_allowed_peers_and_ports() {
        let pods = [
            pod("default", "web", "10.42.0.5", "a", json!({"app": "web"})),
            pod("default", "client", "10.42.0.6", "a", json!({"role": "client"})),
            pod("other", "x", "10.42.1.7", "b", json!({"role": "client"})),
            pod("default", "far", "10.42.1.8", "b", json!({"app": "web"})),
        ];
        let namespaces = [json!({"metadata": {"name": "other", "labels": {"team": "x"}}})];
        let allow = policy(
            "default",
            json!({
            "podSelector": {"matchLabels": {"app": "web"}},
            "ingress": [{"from": [{"podSelector": {"matchLabels": {"role": "client"}}},
                                  {"namespaceSelector": {"matchLabels": {"team": "x"}}},
                                  {"ipBlock": {"cidr": "192.168.0.0/16", "except": ["192.168.1.0/24"]}}],
                         "ports": [{"port": 8080, "protocol": "TCP"}]}]}),
        );
        let rules = ruleset(&[allow], &pods, &namespaces, "a");
        assert!(rules.contains("elements = { 10.42.0.5 : jump ingress-0 }"), "{rules}");
        assert!(!rules.contains("10.42.1.8 :"), "pods on other nodes are theirs: {rules}");
        assert!(rules.contains("ip saddr 10.42.0.6 tcp dport 8080 accept"), "{rules}");
        assert!(rules.contains("ip saddr 10.42.1.7 tcp dport 8080 accept"), "{rules}");
        assert!(
            rules.contains(
                "ip saddr 192.168.0.0/16 ip saddr != { 192.168.1.0/24 } tcp dport 8080 accept"
            ),
            "{rules}"
        );
        assert!(rules.contains("    drop\n"), "{rules}");
        // A default deny (no rules) drops everything; egress rules return to the base chain.
        let deny = policy(
            "default",
            json!({"podSelector": {}, "policyTypes": ["Ingress", "Egress"],
            "egress": [{"to": [{"podSelector": {"matchLabels": {"app": "web"}}}]}]}),
        );
        let rules = ruleset(&[deny], &pods, &namespaces, "a");
        let ingress = rules.split("chain ingress-0 {").nth(1).unwrap();
        assert!(ingress.trim_start().starts_with("drop"), "{rules}");
        assert!(
            rules.contains("ip daddr 10.42.0.5 return")
                && rules.contains("ip daddr 10.42.1.8 return"),
            "{rules}"
        );
        // No policy, no chain.
        let rules = ruleset(&[], &pods, &namespaces, "a");
        assert!(!rules.contains("jump"), "{rules}");
    }

    #[test]
    fn named_ports_resolve_on_the_pods_traffic_goes_to() {
        let with_port = |name: &str, ip: &str, node: &str, labels: Value, port: u64| {
            let mut p = pod("default", name, ip, node, labels);
            p["spec"]["containers"] =
                json!([{"name": "c", "ports": [{"name": "http", "containerPort": port}]}]);
            p
        };
        let pods = [
            with_port("web", "10.42.0.5", "a", json!({"app": "web"}), 8080),
            with_port("api", "10.42.1.8", "b", json!({"app": "api"}), 9000),
            pod("default", "plain", "10.42.1.9", "b", json!({"app": "api"})),
        ];
        let ingress = policy(
            "default",
            json!({"podSelector": {"matchLabels": {"app": "web"}},
                   "ingress": [{"ports": [{"port": "http"}, {"port": "metrics"}]}]}),
        );
        let rules = ruleset(&[ingress], &pods, &[], "a");
        let chain = rules.split("chain ingress-0 {").nth(1).unwrap();
        assert!(chain.trim_start().starts_with("tcp dport 8080 accept\n    drop"), "{rules}");
        let egress = policy(
            "default",
            json!({"podSelector": {"matchLabels": {"app": "web"}}, "policyTypes": ["Egress"],
                   "egress": [{"to": [{"podSelector": {"matchLabels": {"app": "api"}}}],
                               "ports": [{"port": "http", "protocol": "TCP"}]}]}),
        );
        let rules = ruleset(&[egress], &pods, &[], "a");
        assert!(rules.contains("ip daddr 10.42.1.8 tcp dport 9000 return"), "{rules}");
        assert!(!rules.contains("10.42.1.9 tcp"), "no such port there: {rules}");
        assert!(!rules.contains("8080"), "the source's own port is not the target's: {rules}");
    }
}
