//! Columns of the core group's kinds, as upstream's printers: pods, nodes, services,
//! endpoints, namespaces, configmaps, secrets, service accounts, events.

use serde_json::{Value, json};
use time::OffsetDateTime;

use super::{AGE, Column, NAME, age_of, human_duration, or_none, pairs, parse_time};
use crate::registry::ResourceDef;

pub(super) fn columns(def: &ResourceDef) -> Option<Vec<Column>> {
    if !def.group.is_empty() {
        return None;
    }
    Some(match def.plural.as_str() {
        "pods" => vec![
            NAME,
            Column::new("Ready", "string", 0, pod_ready),
            Column::new("Status", "string", 0, pod_status),
            Column::new("Restarts", "string", 0, pod_restarts),
            AGE,
            Column::new("IP", "string", 1, |p, _| or_none(text(&p["status"]["podIP"]))),
            Column::new("Node", "string", 1, |p, _| or_none(text(&p["spec"]["nodeName"]))),
            Column::new("Nominated Node", "string", 1, |p, _| {
                or_none(text(&p["status"]["nominatedNodeName"]))
            }),
            Column::new("Readiness Gates", "string", 1, readiness_gates),
        ],
        "nodes" => vec![
            NAME,
            Column::new("Status", "string", 0, node_status),
            Column::new("Roles", "string", 0, node_roles),
            AGE,
            Column::new("Version", "string", 0, |n, _| {
                json!(text(&n["status"]["nodeInfo"]["kubeletVersion"]))
            }),
            Column::new("Internal-IP", "string", 1, |n, _| or_none(node_address(n, "InternalIP"))),
            Column::new("External-IP", "string", 1, |n, _| or_none(node_address(n, "ExternalIP"))),
            Column::new("OS-Image", "string", 1, |n, _| {
                unknown(&n["status"]["nodeInfo"]["osImage"])
            }),
            Column::new("Kernel-Version", "string", 1, |n, _| {
                unknown(&n["status"]["nodeInfo"]["kernelVersion"])
            }),
            Column::new("Container-Runtime", "string", 1, |n, _| {
                unknown(&n["status"]["nodeInfo"]["containerRuntimeVersion"])
            }),
        ],
        "services" => vec![
            NAME,
            Column::new("Type", "string", 0, |s, _| json!(text(&s["spec"]["type"]))),
            Column::new("Cluster-IP", "string", 0, |s, _| or_none(text(&s["spec"]["clusterIP"]))),
            Column::new("External-IP", "string", 0, service_external_ip),
            Column::new("Port(s)", "string", 0, service_ports),
            AGE,
            Column::new("Selector", "string", 1, |s, _| or_none(pairs(&s["spec"]["selector"]))),
        ],
        "endpoints" => vec![NAME, Column::new("Endpoints", "string", 0, endpoints), AGE],
        "namespaces" => {
            vec![NAME, Column::new("Status", "string", 0, |n, _| n["status"]["phase"].clone()), AGE]
        }
        "configmaps" => vec![
            NAME,
            Column::new("Data", "integer", 0, |c, _| {
                json!(count(&c["data"]) + count(&c["binaryData"]))
            }),
            AGE,
        ],
        "secrets" => vec![
            NAME,
            Column::new("Type", "string", 0, |s, _| json!(text(&s["type"]))),
            Column::new("Data", "integer", 0, |s, _| json!(count(&s["data"]))),
            AGE,
        ],
        "serviceaccounts" => vec![
            NAME,
            Column::new("Secrets", "integer", 0, |s, _| json!(count(&s["secrets"]))),
            AGE,
        ],
        "events" => vec![
            Column::new("Last Seen", "string", 0, event_last_seen),
            Column::new("Type", "string", 0, |e, _| json!(text(&e["type"]))),
            Column::new("Reason", "string", 0, |e, _| json!(text(&e["reason"]))),
            Column::new("Object", "string", 0, event_object),
            Column::new("Subobject", "string", 1, |e, _| {
                json!(text(&e["involvedObject"]["fieldPath"]))
            }),
            Column::new("Source", "string", 1, event_source),
            Column::new("Message", "string", 0, |e, _| json!(text(&e["message"]))),
            Column::new("First Seen", "string", 1, |e, now| {
                json!(age_of(e["firstTimestamp"].as_str().or(e["eventTime"].as_str()), now))
            }),
            Column::new("Count", "string", 1, |e, _| {
                json!(e["count"].as_i64().unwrap_or(1).to_string())
            }),
            Column::new("Name", "string", 1, |e, _| e["metadata"]["name"].clone()),
        ],
        _ => return None,
    })
}

pub(super) fn text(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_owned()
}

fn unknown(v: &Value) -> Value {
    json!(v.as_str().filter(|s| !s.is_empty()).unwrap_or("<unknown>"))
}

/// Entries of a map or list.
fn count(v: &Value) -> usize {
    v.as_object().map(|m| m.len()).or(v.as_array().map(Vec::len)).unwrap_or(0)
}

fn pod_ready(pod: &Value, _: OffsetDateTime) -> Value {
    let total = pod["spec"]["containers"].as_array().map_or(0, Vec::len);
    let ready = pod["status"]["containerStatuses"]
        .as_array()
        .map_or(0, |c| c.iter().filter(|s| s["ready"] == true).count());
    json!(format!("{ready}/{total}"))
}

/// What a container state says, upstream style: the waiting or terminated reason, or
/// `Signal:N` / `ExitCode:N` for a termination without one.
fn state_reason(state: &Value) -> Option<String> {
    if let Some(r) = state["waiting"]["reason"].as_str().filter(|r| !r.is_empty()) {
        return Some(r.to_owned());
    }
    let t = &state["terminated"];
    if t.is_object() {
        if let Some(r) = t["reason"].as_str().filter(|r| !r.is_empty()) {
            return Some(r.to_owned());
        }
        return Some(match t["signal"].as_i64().filter(|s| *s != 0) {
            Some(s) => format!("Signal:{s}"),
            None => format!("ExitCode:{}", t["exitCode"].as_i64().unwrap_or(0)),
        });
    }
    None
}

/// The STATUS column: the pod's reason or phase, refined by init and app container states,
/// `Terminating` while being deleted.
fn pod_status(pod: &Value, _: OffsetDateTime) -> Value {
    let status = &pod["status"];
    let mut reason =
        status["reason"].as_str().or(status["phase"].as_str()).unwrap_or("Unknown").to_owned();
    let empty = Vec::new();
    let init_specs = pod["spec"]["initContainers"].as_array().unwrap_or(&empty).len();
    let mut initializing = false;
    for (i, c) in status["initContainerStatuses"].as_array().unwrap_or(&empty).iter().enumerate() {
        let state = &c["state"];
        let done = state["terminated"]["exitCode"].as_i64() == Some(0);
        if done {
            continue;
        }
        initializing = true;
        reason = if state["terminated"].is_object() {
            format!("Init:{}", state_reason(state).unwrap_or_default())
        } else {
            match state["waiting"]["reason"]
                .as_str()
                .filter(|r| !r.is_empty() && *r != "PodInitializing")
            {
                Some(r) => format!("Init:{r}"),
                None => format!("Init:{i}/{init_specs}"),
            }
        };
        break;
    }
    if !initializing {
        let mut running = false;
        for c in status["containerStatuses"].as_array().unwrap_or(&empty).iter().rev() {
            let state = &c["state"];
            if let Some(r) = state_reason(state) {
                reason = r;
            } else if state["running"].is_object() && c["ready"] == true {
                running = true;
            }
        }
        if reason == "Completed" && running {
            reason = "Running".to_owned();
        }
    }
    if pod["metadata"]["deletionTimestamp"].is_string() && status["reason"] != "NodeLost" {
        reason = "Terminating".to_owned();
    }
    json!(reason)
}

/// RESTARTS: the total, with how long ago the last one was (`3 (2m ago)`).
fn pod_restarts(pod: &Value, now: OffsetDateTime) -> Value {
    let empty = Vec::new();
    let statuses = pod["status"]["containerStatuses"].as_array().unwrap_or(&empty);
    let restarts: i64 = statuses.iter().filter_map(|c| c["restartCount"].as_i64()).sum();
    let last = statuses
        .iter()
        .filter_map(|c| parse_time(c["lastState"]["terminated"]["finishedAt"].as_str()))
        .max();
    json!(match last {
        Some(t) if restarts > 0 => {
            format!("{restarts} ({} ago)", human_duration((now - t).whole_seconds()))
        }
        _ => restarts.to_string(),
    })
}

fn readiness_gates(pod: &Value, _: OffsetDateTime) -> Value {
    let gates = pod["spec"]["readinessGates"].as_array().cloned().unwrap_or_default();
    if gates.is_empty() {
        return json!("<none>");
    }
    let conditions = pod["status"]["conditions"].as_array().cloned().unwrap_or_default();
    let met = gates
        .iter()
        .filter(|g| {
            conditions.iter().any(|c| c["type"] == g["conditionType"] && c["status"] == "True")
        })
        .count();
    json!(format!("{met}/{}", gates.len()))
}

/// `Ready`, `NotReady` or `Unknown`, with `SchedulingDisabled` for a cordoned node.
fn node_status(node: &Value, _: OffsetDateTime) -> Value {
    let ready = node["status"]["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == "Ready"));
    let mut parts = vec![match ready {
        Some(c) if c["status"] == "True" => "Ready",
        Some(_) => "NotReady",
        None => "Unknown",
    }];
    if node["spec"]["unschedulable"] == true {
        parts.push("SchedulingDisabled");
    }
    json!(parts.join(","))
}

/// Roles from `node-role.kubernetes.io/<role>` and `kubernetes.io/role` labels.
fn node_roles(node: &Value, _: OffsetDateTime) -> Value {
    let mut roles: Vec<String> = node["metadata"]["labels"]
        .as_object()
        .map(|labels| {
            labels
                .iter()
                .filter_map(|(k, v)| match k.strip_prefix("node-role.kubernetes.io/") {
                    Some(role) if !role.is_empty() => Some(role.to_owned()),
                    _ if k == "kubernetes.io/role" => v.as_str().map(str::to_owned),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    roles.sort();
    roles.dedup();
    or_none(roles.join(","))
}

fn node_address(node: &Value, kind: &str) -> String {
    node["status"]["addresses"]
        .as_array()
        .and_then(|a| a.iter().find(|a| a["type"] == kind))
        .map(|a| text(&a["address"]))
        .unwrap_or_default()
}

fn service_external_ip(svc: &Value, _: OffsetDateTime) -> Value {
    let spec = &svc["spec"];
    let external: Vec<String> =
        spec["externalIPs"].as_array().into_iter().flatten().map(text).collect();
    match spec["type"].as_str().unwrap_or("ClusterIP") {
        "ExternalName" => json!(text(&spec["externalName"])),
        "LoadBalancer" => {
            let mut ips: Vec<String> = svc["status"]["loadBalancer"]["ingress"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|i| i["ip"].as_str().or(i["hostname"].as_str()).unwrap_or_default().to_owned())
                .collect();
            ips.extend(external);
            json!(if ips.is_empty() { "<pending>".to_owned() } else { ips.join(",") })
        }
        _ => or_none(external.join(",")),
    }
}

fn service_ports(svc: &Value, _: OffsetDateTime) -> Value {
    let ports: Vec<String> = svc["spec"]["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            let proto = p["protocol"].as_str().unwrap_or("TCP");
            let port = p["port"].as_i64().unwrap_or(0);
            match p["nodePort"].as_i64().filter(|n| *n != 0) {
                Some(node) => format!("{port}:{node}/{proto}"),
                None => format!("{port}/{proto}"),
            }
        })
        .collect();
    or_none(ports.join(","))
}

/// `ip:port` pairs, the first three then `+ N more...`.
fn endpoints(ep: &Value, _: OffsetDateTime) -> Value {
    let mut all = Vec::new();
    for subset in ep["subsets"].as_array().into_iter().flatten() {
        let ports: Vec<i64> = subset["ports"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| p["port"].as_i64())
            .collect();
        for a in subset["addresses"].as_array().into_iter().flatten() {
            let ip = text(&a["ip"]);
            if ports.is_empty() {
                all.push(ip.clone());
            }
            for port in &ports {
                all.push(format!("{ip}:{port}"));
            }
        }
    }
    if all.len() > 3 {
        let more = all.len() - 3;
        all.truncate(3);
        return json!(format!("{} + {more} more...", all.join(",")));
    }
    or_none(all.join(","))
}

fn event_last_seen(e: &Value, now: OffsetDateTime) -> Value {
    json!(age_of(
        e["lastTimestamp"].as_str().or(e["eventTime"].as_str()).or(e["firstTimestamp"].as_str()),
        now
    ))
}

fn event_object(e: &Value, _: OffsetDateTime) -> Value {
    let o = &e["involvedObject"];
    json!(format!("{}/{}", text(&o["kind"]).to_ascii_lowercase(), text(&o["name"])))
}

fn event_source(e: &Value, _: OffsetDateTime) -> Value {
    let component =
        e["source"]["component"].as_str().or(e["reportingComponent"].as_str()).unwrap_or("");
    json!(match e["source"]["host"].as_str() {
        Some(h) if !h.is_empty() => format!("{component}, {h}"),
        _ => component.to_owned(),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn now() -> OffsetDateTime {
        parse_time(Some("2026-01-01T01:00:00Z")).unwrap()
    }

    fn cells(plural: &str, obj: &Value) -> Vec<Value> {
        let def = crate::registry::Registry::builtin()
            .resources()
            .iter()
            .find(|r| r.plural == plural)
            .unwrap()
            .clone();
        columns(&def).unwrap().iter().map(|c| c.value(obj, now())).collect()
    }

    #[test]
    fn pods_show_readiness_status_restarts_and_wide_fields() {
        let pod = json!({
            "metadata": {"name": "p", "creationTimestamp": "2026-01-01T00:00:00Z"},
            "spec": {"nodeName": "n1", "containers": [{"name": "a"}, {"name": "b"}]},
            "status": {"phase": "Running", "podIP": "10.42.0.5", "containerStatuses": [
                {"name": "a", "ready": true, "restartCount": 2, "state": {"running": {}},
                 "lastState": {"terminated": {"finishedAt": "2026-01-01T00:58:00Z"}}},
                {"name": "b", "ready": false, "restartCount": 0,
                 "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}
        });
        assert_eq!(
            cells("pods", &pod),
            [
                json!("p"),
                json!("1/2"),
                json!("CrashLoopBackOff"),
                json!("2 (2m ago)"),
                json!("60m"),
                json!("10.42.0.5"),
                json!("n1"),
                json!("<none>"),
                json!("<none>")
            ]
        );
        let pending = json!({"metadata": {"name": "q"}, "spec": {"containers": [{"name": "a"}]},
                             "status": {"phase": "Pending"}});
        assert_eq!(cells("pods", &pending)[1..4], [json!("0/1"), json!("Pending"), json!("0")]);
        let mut gone = pending.clone();
        gone["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:59:00Z");
        assert_eq!(cells("pods", &gone)[2], "Terminating");
        let init = json!({"metadata": {"name": "i"}, "spec": {"initContainers": [{"name": "x"}, {"name": "y"}], "containers": [{"name": "a"}]},
            "status": {"phase": "Pending", "initContainerStatuses": [
                {"state": {"terminated": {"exitCode": 0}}}, {"state": {"running": {}}}]}});
        assert_eq!(cells("pods", &init)[2], "Init:1/2");
        let failed = json!({"metadata": {"name": "f"}, "spec": {"containers": [{"name": "a"}]},
            "status": {"phase": "Failed", "containerStatuses": [{"state": {"terminated": {"exitCode": 1, "reason": "Error"}}}]}});
        assert_eq!(cells("pods", &failed)[2], "Error");
    }

    #[test]
    fn nodes_show_status_roles_version_and_addresses() {
        let node = json!({
            "metadata": {"name": "n1", "creationTimestamp": "2026-01-01T00:00:00Z",
                "labels": {"node-role.kubernetes.io/control-plane": "true", "node-role.kubernetes.io/master": "true"}},
            "spec": {"unschedulable": true},
            "status": {"conditions": [{"type": "Ready", "status": "True"}],
                "addresses": [{"type": "InternalIP", "address": "10.0.0.1"}, {"type": "Hostname", "address": "n1"}],
                "nodeInfo": {"kubeletVersion": "v1.32.0+k3rs", "osImage": "Debian", "kernelVersion": "6.1",
                             "containerRuntimeVersion": "k3rs://1"}}
        });
        assert_eq!(
            cells("nodes", &node),
            [
                json!("n1"),
                json!("Ready,SchedulingDisabled"),
                json!("control-plane,master"),
                json!("60m"),
                json!("v1.32.0+k3rs"),
                json!("10.0.0.1"),
                json!("<none>"),
                json!("Debian"),
                json!("6.1"),
                json!("k3rs://1")
            ]
        );
        let lost = json!({"metadata": {"name": "n2"}, "status": {"conditions": [{"type": "Ready", "status": "Unknown"}]}});
        assert_eq!(cells("nodes", &lost)[1..3], [json!("NotReady"), json!("<none>")]);
    }

    #[test]
    fn services_endpoints_and_small_kinds() {
        let svc = json!({"metadata": {"name": "web"}, "spec": {"type": "NodePort", "clusterIP": "10.43.0.9",
            "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}],
            "selector": {"app": "web", "a": "b"}}});
        assert_eq!(
            cells("services", &svc),
            [
                json!("web"),
                json!("NodePort"),
                json!("10.43.0.9"),
                json!("<none>"),
                json!("80:30080/TCP,53/UDP"),
                json!("<unknown>"),
                json!("a=b,app=web")
            ]
        );
        let ep = json!({"metadata": {"name": "e"}, "subsets": [{"addresses": [{"ip": "1.1.1.1"}, {"ip": "2.2.2.2"}],
            "ports": [{"port": 80}, {"port": 443}]}]});
        assert_eq!(cells("endpoints", &ep)[1], "1.1.1.1:80,1.1.1.1:443,2.2.2.2:80 + 1 more...");
        assert_eq!(
            cells("configmaps", &json!({"metadata": {"name": "c"}, "data": {"a": "1", "b": "2"}}))
                [1],
            2
        );
        assert_eq!(
            cells(
                "secrets",
                &json!({"metadata": {"name": "s"}, "type": "Opaque", "data": {"a": ""}})
            )[1..3],
            [json!("Opaque"), json!(1)]
        );
        let ev = json!({"metadata": {"name": "web.1"}, "type": "Normal", "reason": "ScalingReplicaSet",
            "involvedObject": {"kind": "Deployment", "name": "web"}, "message": "Scaled up",
            "source": {"component": "deployment-controller"}, "lastTimestamp": "2026-01-01T00:59:00Z", "count": 1});
        let c = cells("events", &ev);
        assert_eq!(
            c[..4],
            [json!("60s"), json!("Normal"), json!("ScalingReplicaSet"), json!("deployment/web")]
        );
        assert_eq!(c[5], "deployment-controller");
    }
}
