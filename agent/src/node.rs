//! The Node and Lease objects this agent keeps, as the kubelet writes them: labels and taints
//! from flags, roles on servers, addresses, capacity, `nodeInfo` and conditions in the status,
//! and the heartbeat Lease in `kube-node-lease`.

use std::net::IpAddr;

use serde_json::{Map, Value, json};

use crate::AgentError;
use crate::host::HostFacts;

/// Pods a node takes, as the kubelet's default.
pub const MAX_PODS: u32 = 110;
/// The Lease's duration: a node whose lease is older is unreachable.
pub const LEASE_SECONDS: u32 = 40;
/// The kubelet API port reported in `daemonEndpoints`.
pub const KUBELET_PORT: u16 = 10250;

/// What the flags say about this node.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeSpec {
    pub name: String,
    pub internal_ips: Vec<IpAddr>,
    pub external_ips: Vec<IpAddr>,
    /// `--node-label key=value`.
    pub labels: Vec<(String, String)>,
    /// `--node-taint key=value:Effect`.
    pub taints: Vec<Value>,
    /// Runs the control plane: labelled `control-plane` and `master`.
    pub server: bool,
    /// `v1.32.0+k3rs1`.
    pub kubelet_version: String,
}

/// `key=value` labels.
pub fn parse_labels(raw: &[String]) -> Result<Vec<(String, String)>, AgentError> {
    raw.iter()
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap_or((l.as_str(), ""));
            if k.is_empty() {
                return Err(AgentError::Flag(format!("invalid node label {l:?}: want key=value")));
            }
            Ok((k.to_owned(), v.to_owned()))
        })
        .collect()
}

/// `key=value:Effect` (or `key:Effect`) taints.
pub fn parse_taints(raw: &[String]) -> Result<Vec<Value>, AgentError> {
    raw.iter()
        .map(|t| {
            let bad =
                || AgentError::Flag(format!("invalid node taint {t:?}: want key=value:Effect"));
            let (kv, effect) = t.rsplit_once(':').ok_or_else(bad)?;
            if !matches!(effect, "NoSchedule" | "PreferNoSchedule" | "NoExecute") {
                return Err(bad());
            }
            let (key, value) = kv.split_once('=').unwrap_or((kv, ""));
            if key.is_empty() {
                return Err(bad());
            }
            let mut taint = json!({"key": key, "effect": effect});
            if !value.is_empty() {
                taint["value"] = json!(value);
            }
            Ok(taint)
        })
        .collect()
}

/// The Node as first created: metadata and spec (status is written through `nodes/status`).
pub fn node(spec: &NodeSpec, facts: &HostFacts) -> Value {
    let mut labels = Map::new();
    let mut put = |k: &str, v: &str| {
        labels.insert(k.to_owned(), json!(v));
    };
    put("kubernetes.io/hostname", &spec.name);
    put("kubernetes.io/os", "linux");
    put("kubernetes.io/arch", &facts.architecture);
    put("beta.kubernetes.io/os", "linux");
    put("beta.kubernetes.io/arch", &facts.architecture);
    put("node.kubernetes.io/instance-type", "k3rs");
    if spec.server {
        put("node-role.kubernetes.io/control-plane", "true");
        put("node-role.kubernetes.io/master", "true");
    }
    for (k, v) in &spec.labels {
        put(k, v);
    }
    let mut node = json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": spec.name,
            "labels": labels,
            "annotations": {
                "k3rs.io/hostname": facts.hostname,
                "k3rs.io/internal-ip": join_ips(&spec.internal_ips),
                "node.alpha.kubernetes.io/ttl": "0",
            },
        },
        "spec": {},
    });
    if !spec.taints.is_empty() {
        node["spec"]["taints"] = json!(spec.taints);
    }
    node
}

fn join_ips(ips: &[IpAddr]) -> String {
    ips.iter().map(ToString::to_string).collect::<Vec<_>>().join(",")
}

/// The Node's status at `now` (RFC 3339). Conditions keep their `lastTransitionTime` from
/// `previous` (the stored status) when their status did not change.
pub fn status(spec: &NodeSpec, facts: &HostFacts, now: &str, previous: &Value) -> Value {
    let mut addresses: Vec<Value> = spec
        .internal_ips
        .iter()
        .map(|ip| json!({"type": "InternalIP", "address": ip.to_string()}))
        .collect();
    addresses.extend(
        spec.external_ips.iter().map(|ip| json!({"type": "ExternalIP", "address": ip.to_string()})),
    );
    addresses.push(json!({"type": "Hostname", "address": spec.name}));
    let capacity = json!({
        "cpu": facts.cpus.to_string(),
        "memory": format!("{}Ki", facts.memory_kib),
        "pods": MAX_PODS.to_string(),
        "ephemeral-storage": format!("{}Ki", facts.ephemeral_storage_bytes / 1024),
    });
    json!({
        "addresses": addresses,
        "capacity": capacity,
        "allocatable": capacity,
        "conditions": conditions(now, previous),
        "daemonEndpoints": {"kubeletEndpoint": {"Port": KUBELET_PORT}},
        "nodeInfo": {
            "machineID": facts.machine_id,
            "systemUUID": facts.machine_id,
            "bootID": facts.boot_id,
            "kernelVersion": facts.kernel_version,
            "osImage": facts.os_image,
            "containerRuntimeVersion": format!("k3rs://{}", spec.kubelet_version.trim_start_matches('v')),
            "kubeletVersion": spec.kubelet_version,
            "kubeProxyVersion": spec.kubelet_version,
            "operatingSystem": "linux",
            "architecture": facts.architecture,
        },
    })
}

/// `status.images` as the kubelet lists them: each image's names and unpacked size, largest
/// first (upstream's order), at most 50.
pub fn images(records: &[(Vec<String>, u64)]) -> Value {
    let mut sorted: Vec<&(Vec<String>, u64)> = records.iter().collect();
    sorted.sort_by_key(|r| std::cmp::Reverse(r.1));
    Value::Array(
        sorted
            .into_iter()
            .take(50)
            .map(|(names, size)| json!({"names": names, "sizeBytes": size}))
            .collect(),
    )
}

/// The four conditions the kubelet reports, all healthy.
fn conditions(now: &str, previous: &Value) -> Vec<Value> {
    let wanted = [
        (
            "MemoryPressure",
            "False",
            "KubeletHasSufficientMemory",
            "kubelet has sufficient memory available",
        ),
        ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
        ("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
        ("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
    ];
    wanted
        .iter()
        .map(|(kind, status, reason, message)| {
            let before = previous["conditions"]
                .as_array()
                .and_then(|c| c.iter().find(|c| c["type"] == *kind));
            let transition = match before {
                Some(b) if b["status"] == *status => b["lastTransitionTime"].clone(),
                _ => json!(now),
            };
            json!({"type": kind, "status": status, "reason": reason, "message": message,
                   "lastHeartbeatTime": now, "lastTransitionTime": transition})
        })
        .collect()
}

/// Does the stored status differ from what this agent reports, apart from heartbeat times?
/// (Then it is written now; otherwise at the regular report interval.)
pub fn status_changed(stored: &Value, wanted: &Value) -> bool {
    let strip = |s: &Value| {
        let mut s = s.clone();
        if let Some(conds) = s.get_mut("conditions").and_then(Value::as_array_mut) {
            for c in conds {
                if let Some(m) = c.as_object_mut() {
                    m.remove("lastHeartbeatTime");
                }
            }
        }
        // Images count by their names (a pulled or imported image is news; sizes are not).
        if let Some(m) = s.as_object_mut()
            && let Some(images) = m.remove("images")
        {
            let mut names: Vec<String> = images
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|i| i["names"].as_array().cloned().unwrap_or_default())
                .filter_map(|n| n.as_str().map(str::to_owned))
                .collect();
            names.sort();
            m.insert("images".into(), json!(names));
        }
        s
    };
    strip(stored) != strip(wanted)
}

/// The heartbeat Lease `kube-node-lease/<node>`, owned by the Node.
pub fn lease(node: &str, node_uid: &str, renew_time: &str) -> Value {
    json!({
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {
            "name": node,
            "namespace": "kube-node-lease",
            "ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": node, "uid": node_uid}],
        },
        "spec": {
            "holderIdentity": node,
            "leaseDurationSeconds": LEASE_SECONDS,
            "renewTime": renew_time,
        },
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    #[test]
    fn images_are_listed_largest_first() {
        let listed = images(&[(vec!["a:1".into()], 10), (vec!["b:1".into(), "b:2".into()], 30)]);
        assert_eq!(listed[0], json!({"names": ["b:1", "b:2"], "sizeBytes": 30}));
        assert_eq!(listed[1]["sizeBytes"], 10);
    }

    use super::*;

    fn spec() -> NodeSpec {
        NodeSpec {
            name: "n1".into(),
            internal_ips: vec!["127.0.0.2".parse().unwrap()],
            external_ips: vec![],
            labels: parse_labels(&["tier=edge".into()]).unwrap(),
            taints: parse_taints(&["dedicated=gpu:NoSchedule".into()]).unwrap(),
            server: true,
            kubelet_version: "v1.32.0+k3rs1".into(),
        }
    }

    fn facts() -> HostFacts {
        HostFacts { architecture: "amd64".into(), cpus: 2, memory_kib: 4096, ..Default::default() }
    }

    #[test]
    fn nodes_carry_roles_labels_and_taints() {
        let n = node(&spec(), &facts());
        let labels = &n["metadata"]["labels"];
        assert_eq!(labels["node-role.kubernetes.io/control-plane"], "true");
        assert_eq!(labels["node-role.kubernetes.io/master"], "true");
        assert_eq!(labels["kubernetes.io/arch"], "amd64");
        assert_eq!(labels["tier"], "edge");
        assert_eq!(
            n["spec"]["taints"][0],
            json!({"key": "dedicated", "value": "gpu", "effect": "NoSchedule"})
        );
        let agent = node(&NodeSpec { server: false, ..spec() }, &facts());
        assert!(agent["metadata"]["labels"].get("node-role.kubernetes.io/master").is_none());
    }

    #[test]
    fn flags_are_checked() {
        assert!(parse_taints(&["k=v:Sometimes".into()]).is_err());
        assert!(parse_taints(&["novalue".into()]).is_err());
        assert_eq!(
            parse_taints(&["k:NoExecute".into()]).unwrap()[0],
            json!({"key": "k", "effect": "NoExecute"})
        );
        assert!(parse_labels(&["=v".into()]).is_err());
    }

    #[test]
    fn status_reports_addresses_capacity_and_ready_and_keeps_transition_times() {
        let s = status(&spec(), &facts(), "t1", &Value::Null);
        assert_eq!(s["addresses"][0], json!({"type": "InternalIP", "address": "127.0.0.2"}));
        assert_eq!(s["addresses"][1]["type"], "Hostname");
        assert_eq!(s["capacity"]["pods"], "110");
        assert_eq!(s["capacity"]["memory"], "4096Ki");
        assert_eq!(s["nodeInfo"]["kubeletVersion"], "v1.32.0+k3rs1");
        let ready =
            s["conditions"].as_array().unwrap().iter().find(|c| c["type"] == "Ready").unwrap();
        assert_eq!(ready["status"], "True");
        let later = status(&spec(), &facts(), "t2", &s);
        assert!(!status_changed(&s, &later), "only heartbeat times moved");
        assert_eq!(later["conditions"][3]["lastTransitionTime"], "t1");
        let mut unknown = s.clone();
        unknown["conditions"][3]["status"] = json!("Unknown");
        assert!(status_changed(&unknown, &later));
        let again = status(&spec(), &facts(), "t3", &unknown);
        assert_eq!(again["conditions"][3]["lastTransitionTime"], "t3");
        // A new image is news; the same images in another order are not.
        let (mut a, mut b) = (later.clone(), later.clone());
        a["images"] = images(&[(vec!["x:1".into()], 5), (vec!["y:1".into()], 9)]);
        b["images"] =
            json!([{"names": ["x:1"], "sizeBytes": 5}, {"names": ["y:1"], "sizeBytes": 9}]);
        assert!(!status_changed(&a, &b));
        b["images"] = images(&[(vec!["x:1".into()], 5)]);
        assert!(status_changed(&a, &b));
    }

    #[test]
    fn leases_are_owned_by_the_node() {
        let l = lease("n1", "uid-1", "2026-01-01T00:00:00.000000Z");
        assert_eq!(l["metadata"]["namespace"], "kube-node-lease");
        assert_eq!(l["metadata"]["ownerReferences"][0]["uid"], "uid-1");
        assert_eq!(l["spec"]["leaseDurationSeconds"], 40);
    }
}
