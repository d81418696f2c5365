//! Defaulting: the fields upstream fills in when a client leaves them out (pod specs and the
//! templates that carry them, workloads, services), applied on create and update so stored
//! objects read as they would from a real API server. Only absent fields are set.

use serde_json::{Value, json};

use crate::registry::ResourceDef;

/// Set `obj[key]` to `value` unless present.
fn or_insert(obj: &mut Value, key: &str, value: Value) {
    if let Some(map) = obj.as_object_mut() {
        map.entry(key).or_insert(value);
    }
}

/// A Secret's `stringData` is write-only: merged into `data` (base64), over what `data` had.
fn string_data(secret: &mut Value) {
    use base64::Engine;
    let Some(map) = secret.as_object_mut() else { return };
    let Some(Value::Object(strings)) = map.remove("stringData") else { return };
    let data = map.entry("data").or_insert_with(|| json!({}));
    if !data.is_object() {
        *data = json!({});
    }
    for (k, v) in strings {
        let text = v.as_str().unwrap_or_default();
        data[k.as_str()] = json!(base64::engine::general_purpose::STANDARD.encode(text));
    }
}

/// Fill in the defaults of `def`'s kind.
pub fn apply(def: &ResourceDef, obj: &mut Value) {
    match (def.group.as_str(), def.kind.as_str()) {
        ("", "Pod") => {
            if let Some(spec) = obj.pointer_mut("/spec") {
                pod_spec(spec);
            }
            if obj["status"]["phase"].is_null() {
                obj["status"]["phase"] = json!("Pending");
            }
            let qos = qos_class(&obj["spec"]);
            if let Some(status) = obj.pointer_mut("/status") {
                or_insert(status, "qosClass", json!(qos));
            }
        }
        ("apps", "Deployment") => {
            workload(obj);
            let Some(spec) = obj.pointer_mut("/spec").filter(|s| s.is_object()) else { return };
            or_insert(spec, "revisionHistoryLimit", json!(10));
            or_insert(spec, "progressDeadlineSeconds", json!(600));
            or_insert(spec, "strategy", json!({}));
            or_insert(&mut spec["strategy"], "type", json!("RollingUpdate"));
            if spec["strategy"]["type"] == "RollingUpdate" {
                or_insert(&mut spec["strategy"], "rollingUpdate", json!({}));
                let ru = &mut spec["strategy"]["rollingUpdate"];
                or_insert(ru, "maxUnavailable", json!("25%"));
                or_insert(ru, "maxSurge", json!("25%"));
            }
        }
        ("", "Secret") => {
            or_insert(obj, "type", json!("Opaque"));
            string_data(obj);
        }
        ("apps", "DaemonSet") => {
            workload(obj);
            let Some(spec) = obj.pointer_mut("/spec").filter(|s| s.is_object()) else { return };
            or_insert(spec, "revisionHistoryLimit", json!(10));
            or_insert(spec, "updateStrategy", json!({}));
            or_insert(&mut spec["updateStrategy"], "type", json!("RollingUpdate"));
            if spec["updateStrategy"]["type"] == "RollingUpdate" {
                or_insert(&mut spec["updateStrategy"], "rollingUpdate", json!({}));
                let ru = &mut spec["updateStrategy"]["rollingUpdate"];
                or_insert(ru, "maxUnavailable", json!(1));
                or_insert(ru, "maxSurge", json!(0));
            }
        }
        ("apps", "StatefulSet") => {
            workload(obj);
            let Some(spec) = obj.pointer_mut("/spec").filter(|s| s.is_object()) else { return };
            or_insert(spec, "podManagementPolicy", json!("OrderedReady"));
            or_insert(spec, "revisionHistoryLimit", json!(10));
            or_insert(spec, "updateStrategy", json!({}));
            or_insert(&mut spec["updateStrategy"], "type", json!("RollingUpdate"));
            if spec["updateStrategy"]["type"] == "RollingUpdate" {
                or_insert(&mut spec["updateStrategy"], "rollingUpdate", json!({"partition": 0}));
            }
        }
        ("apps", "ReplicaSet") => workload(obj),
        ("batch", "Job") => {
            job_selector(obj);
            let Some(spec) = obj.pointer_mut("/spec").filter(|s| s.is_object()) else { return };
            or_insert(spec, "parallelism", json!(1));
            or_insert(spec, "completions", json!(1));
            or_insert(spec, "backoffLimit", json!(6));
            or_insert(spec, "completionMode", json!("NonIndexed"));
            or_insert(spec, "suspend", json!(false));
            if let Some(t) = spec.pointer_mut("/template") {
                template(t, "Never");
            }
        }
        ("batch", "CronJob") => {
            let Some(spec) = obj.pointer_mut("/spec").filter(|s| s.is_object()) else { return };
            or_insert(spec, "concurrencyPolicy", json!("Allow"));
            or_insert(spec, "suspend", json!(false));
            or_insert(spec, "successfulJobsHistoryLimit", json!(3));
            or_insert(spec, "failedJobsHistoryLimit", json!(1));
            if let Some(t) = spec.pointer_mut("/jobTemplate/spec/template") {
                template(t, "Never");
            }
        }
        ("", "Service") => {
            if let Some(spec) = obj.pointer_mut("/spec") {
                service(spec);
            }
        }
        _ => {}
    }
}

/// A Job without a selector of its own selects its pods by its uid, and its template carries
/// the labels that match (upstream's generated selector).
fn job_selector(obj: &mut Value) {
    let (Some(uid), Some(name)) = (
        obj["metadata"]["uid"].as_str().map(str::to_owned),
        obj["metadata"]["name"].as_str().map(str::to_owned),
    ) else {
        return;
    };
    let spec = &mut obj["spec"];
    if !spec.is_object() || spec["manualSelector"] == true || !spec["selector"].is_null() {
        return;
    }
    spec["selector"] = json!({"matchLabels": {"batch.kubernetes.io/controller-uid": uid}});
    let labels = &mut spec["template"]["metadata"]["labels"];
    for (k, v) in [
        ("batch.kubernetes.io/controller-uid", &uid),
        ("batch.kubernetes.io/job-name", &name),
        ("controller-uid", &uid),
        ("job-name", &name),
    ] {
        labels[k] = json!(v);
    }
}

fn workload(obj: &mut Value) {
    let daemon = obj["kind"] == "DaemonSet";
    let Some(spec) = obj.pointer_mut("/spec").filter(|s| s.is_object()) else { return };
    if !daemon {
        or_insert(spec, "replicas", json!(1));
    }
    if let Some(t) = spec.pointer_mut("/template") {
        template(t, "Always");
    }
}

fn template(t: &mut Value, restart: &str) {
    if let Some(spec) = t.pointer_mut("/spec").filter(|s| s.is_object()) {
        or_insert(spec, "restartPolicy", json!(restart));
        pod_spec(spec);
    }
}

/// A pod spec's defaults, and its containers'.
pub fn pod_spec(spec: &mut Value) {
    if !spec.is_object() {
        return;
    }
    or_insert(spec, "restartPolicy", json!("Always"));
    or_insert(spec, "terminationGracePeriodSeconds", json!(30));
    or_insert(spec, "dnsPolicy", json!("ClusterFirst"));
    or_insert(spec, "schedulerName", json!("default-scheduler"));
    or_insert(spec, "securityContext", json!({}));
    for list in ["initContainers", "containers"] {
        if let Some(cs) = spec.get_mut(list).and_then(Value::as_array_mut) {
            for c in cs {
                container(c);
            }
        }
    }
}

fn container(c: &mut Value) {
    if !c.is_object() {
        return;
    }
    let image = c["image"].as_str().unwrap_or("");
    let name_part = image.rsplit('/').next().unwrap_or(image);
    let latest = !name_part.contains(':') && !image.contains('@') || image.ends_with(":latest");
    or_insert(c, "imagePullPolicy", json!(if latest { "Always" } else { "IfNotPresent" }));
    or_insert(c, "terminationMessagePath", json!("/dev/termination-log"));
    or_insert(c, "terminationMessagePolicy", json!("File"));
    or_insert(c, "resources", json!({}));
    if let Some(ports) = c.get_mut("ports").and_then(Value::as_array_mut) {
        for p in ports {
            or_insert(p, "protocol", json!("TCP"));
        }
    }
}

fn service(spec: &mut Value) {
    if !spec.is_object() {
        return;
    }
    or_insert(spec, "type", json!("ClusterIP"));
    or_insert(spec, "sessionAffinity", json!("None"));
    let kind = spec["type"].as_str().unwrap_or("").to_owned();
    if kind != "ExternalName" {
        or_insert(spec, "internalTrafficPolicy", json!("Cluster"));
    }
    if kind == "NodePort" || kind == "LoadBalancer" {
        or_insert(spec, "externalTrafficPolicy", json!("Cluster"));
    }
    if kind == "LoadBalancer" {
        or_insert(spec, "allocateLoadBalancerNodePorts", json!(true));
    }
    if let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) {
        for p in ports {
            or_insert(p, "protocol", json!("TCP"));
            let port = p["port"].clone();
            or_insert(p, "targetPort", port);
        }
    }
}

/// The QoS class of a pod spec: Guaranteed when every container's requests equal its limits
/// for cpu and memory, BestEffort when none sets any, Burstable otherwise.
pub fn qos_class(spec: &Value) -> &'static str {
    let containers: Vec<&Value> = ["initContainers", "containers"]
        .iter()
        .flat_map(|l| spec[*l].as_array().into_iter().flatten())
        .collect();
    let any = containers.iter().any(|c| {
        ["requests", "limits"].iter().any(|k| {
            c["resources"][*k]
                .as_object()
                .is_some_and(|m| m.contains_key("cpu") || m.contains_key("memory"))
        })
    });
    if !any {
        return "BestEffort";
    }
    let guaranteed = containers.iter().all(|c| {
        ["cpu", "memory"].iter().all(|r| {
            let limit = &c["resources"]["limits"][*r];
            let request = &c["resources"]["requests"][*r];
            !limit.is_null() && (request.is_null() || request == limit)
        })
    });
    if guaranteed { "Guaranteed" } else { "Burstable" }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::registry::Registry;

    #[test]
    fn pods_get_upstreams_defaults() {
        let r = Registry::builtin();
        let mut pod = json!({"kind": "Pod", "spec": {"containers": [{"name": "c", "image": "nginx", "ports": [{"containerPort": 80}]}, {"name": "d", "image": "nginx:1.25"}]}});
        apply(r.get("", "v1", "pods").unwrap(), &mut pod);
        assert_eq!(pod["spec"]["restartPolicy"], "Always");
        assert_eq!(pod["spec"]["containers"][0]["imagePullPolicy"], "Always");
        assert_eq!(pod["spec"]["containers"][1]["imagePullPolicy"], "IfNotPresent");
        assert_eq!(pod["spec"]["containers"][0]["ports"][0]["protocol"], "TCP");
        assert_eq!(pod["status"], json!({"phase": "Pending", "qosClass": "BestEffort"}));
    }

    #[test]
    fn qos_classes() {
        let c = |res: Value| json!({"containers": [{"resources": res}]});
        assert_eq!(qos_class(&c(json!({}))), "BestEffort");
        assert_eq!(qos_class(&c(json!({"limits": {"cpu": "1", "memory": "1Gi"}}))), "Guaranteed");
        assert_eq!(qos_class(&c(json!({"requests": {"cpu": "1"}}))), "Burstable");
    }

    #[test]
    fn deployments_and_services_get_theirs() {
        let r = Registry::builtin();
        let mut d =
            json!({"kind": "Deployment", "spec": {"template": {"spec": {"containers": []}}}});
        apply(r.get("apps", "v1", "deployments").unwrap(), &mut d);
        assert_eq!(d["spec"]["replicas"], 1);
        assert_eq!(d["spec"]["strategy"]["rollingUpdate"]["maxSurge"], "25%");
        assert_eq!(d["spec"]["template"]["spec"]["dnsPolicy"], "ClusterFirst");
        let mut s = json!({"spec": {"ports": [{"port": 80}]}});
        apply(r.get("", "v1", "services").unwrap(), &mut s);
        assert_eq!(s["spec"]["ports"][0], json!({"port": 80, "protocol": "TCP", "targetPort": 80}));
        assert_eq!(s["spec"]["type"], "ClusterIP");
        let mut secret = json!({"data": {"a": "eA==", "b": "eQ=="}, "stringData": {"b": "value"}});
        apply(r.get("", "v1", "secrets").unwrap(), &mut secret);
        assert_eq!(secret["type"], "Opaque");
        assert_eq!(secret["data"], json!({"a": "eA==", "b": "dmFsdWU="}));
        assert!(secret.get("stringData").is_none());
    }
}
