//! End to end: what `kubectl get` prints from the server's tables: upstream's columns per kind,
//! the `-o wide` ones, and a CRD's printer columns.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{Server, eventually, require_tool};

/// The header and rows of kubectl's output, each split on runs of spaces.
fn grid(out: &str) -> Vec<Vec<String>> {
    out.lines()
        .map(|l| {
            l.split("  ").map(str::trim).filter(|c| !c.is_empty()).map(str::to_owned).collect()
        })
        .collect()
}

const CRD: &str = "apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: crontabs.stable.example.com
spec:
  group: stable.example.com
  scope: Namespaced
  names: {plural: crontabs, singular: crontab, kind: CronTab, shortNames: [ct]}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
    additionalPrinterColumns:
    - {name: Spec, type: string, jsonPath: .spec.cronSpec}
    - {name: Replicas, type: integer, jsonPath: .spec.replicas}
    - {name: Age, type: date, jsonPath: .metadata.creationTimestamp}
";

#[test]
fn nodes_workloads_and_services_print_upstreams_columns() {
    if !require_tool("kubectl") {
        return;
    }
    let server = Server::start_with_agent("node-0", &[]);
    let k = |args: &[&str]| server.k(args);
    let nodes = eventually("the node ready", Duration::from_secs(30), || {
        let (_, out) = k(&["get", "nodes"]);
        out.contains(" Ready ").then_some(out)
    });
    let g = grid(&nodes);
    assert_eq!(g[0], ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]);
    assert_eq!(g[1][..3], ["node-0", "Ready", "control-plane,master"]);
    assert!(g[1][4].starts_with("v1.32."), "{nodes}");
    let (_, wide) = k(&["get", "nodes", "-o", "wide"]);
    let g = grid(&wide);
    assert_eq!(
        g[0],
        [
            "NAME",
            "STATUS",
            "ROLES",
            "AGE",
            "VERSION",
            "INTERNAL-IP",
            "EXTERNAL-IP",
            "OS-IMAGE",
            "KERNEL-VERSION",
            "CONTAINER-RUNTIME"
        ]
    );
    assert_eq!(g[1][5..7], ["127.0.0.1", "<none>"]);

    let file = server.dir.path().join("web.yaml");
    std::fs::write(&file, common::deployment(2)).unwrap();
    assert_eq!(k(&["apply", "-f", file.to_str().unwrap()]).0, Some(0));
    let deploy = eventually("the deployment's replicas", Duration::from_secs(20), || {
        let (_, out) = k(&["get", "deploy"]);
        out.contains("0/2     2").then_some(out)
    });
    let g = grid(&deploy);
    assert_eq!(g[0], ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]);
    assert_eq!(g[1][..4], ["web", "0/2", "2", "0"]);
    let (_, rs) = k(&["get", "rs", "-o", "wide"]);
    let g = grid(&rs);
    assert_eq!(
        g[0],
        ["NAME", "DESIRED", "CURRENT", "READY", "AGE", "CONTAINERS", "IMAGES", "SELECTOR"]
    );
    assert_eq!(g[1][1..4], ["2", "2", "0"]);
    assert_eq!(g[1][5..7], ["nginx", "nginx:1.25"]);
    assert!(g[1][7].starts_with("app=web,pod-template-hash="), "{rs}");
    // The scheduler binds the pods to the only node, whose agent cannot pull the image (tests
    // reach no registry).
    let pods = eventually("pods bound to node-0", Duration::from_secs(20), || {
        let (_, out) = k(&["get", "pods", "-o", "wide"]);
        (out.contains("node-0") && out.matches("ImagePullBackOff").count() == 2).then_some(out)
    });
    let g = grid(&pods);
    assert_eq!(
        g[0],
        [
            "NAME",
            "READY",
            "STATUS",
            "RESTARTS",
            "AGE",
            "IP",
            "NODE",
            "NOMINATED NODE",
            "READINESS GATES"
        ]
    );
    assert_eq!(g[1][1..4], ["0/1", "ImagePullBackOff", "0"]);
    // Pods that never got their image made no sandbox, so no pod network here (this node is
    // in the machine's own namespace).
    let bridge = std::process::Command::new("ip").args(["link", "show", "cni0"]).output().unwrap();
    assert!(!bridge.status.success(), "cni0 was made in the root namespace");
    assert_eq!(g[1][5..], ["<none>", "node-0", "<none>", "<none>"]);

    let (_, svc) = k(&["get", "svc"]);
    let g = grid(&svc);
    assert_eq!(g[0], ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]);
    assert_eq!(g[1][..5], ["kubernetes", "ClusterIP", "10.43.0.1", "<none>", "443/TCP"]);
    assert_eq!(
        k(&["create", "configmap", "cfg", "--from-literal=a=1", "--from-literal=b=2"]).0,
        Some(0)
    );
    assert_eq!(grid(&k(&["get", "cm", "cfg"]).1)[1][..2], ["cfg", "2"]);
    assert_eq!(k(&["label", "cm", "cfg", "tier=web"]).0, Some(0));
    let g = grid(&k(&["get", "cm", "cfg", "--show-labels"]).1);
    assert_eq!(g[0], ["NAME", "DATA", "AGE", "LABELS"]);
    assert_eq!(g[1][3], "tier=web");
    let (_, json) = k(&["get", "cm", "cfg", "-o", "json"]);
    let obj: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!((obj["kind"].as_str(), obj["data"]["b"].as_str()), (Some("ConfigMap"), Some("2")));
    assert_eq!(k(&["create", "secret", "generic", "s", "--from-literal=a=1"]).0, Some(0));
    assert_eq!(grid(&k(&["get", "secret", "s"]).1)[1][..3], ["s", "Opaque", "1"]);
    let (_, events) = k(&["get", "events"]);
    assert!(grid(&events)[0].starts_with(&["LAST SEEN".to_owned(), "TYPE".to_owned()]), "{events}");
}

#[test]
fn custom_resources_print_their_crds_columns() {
    if !require_tool("kubectl") {
        return;
    }
    let server = Server::start(&[]);
    let k = |args: &[&str]| server.k(args);
    let file = server.dir.path().join("crd.yaml");
    std::fs::write(&file, CRD).unwrap();
    assert_eq!(k(&["apply", "-f", file.to_str().unwrap()]).0, Some(0));
    let established =
        ["wait", "--for=condition=Established", "crd/crontabs.stable.example.com", "--timeout=30s"];
    assert_eq!(k(&established).0, Some(0));
    let cr = server.dir.path().join("cr.yaml");
    std::fs::write(
        &cr,
        "apiVersion: stable.example.com/v1\nkind: CronTab\nmetadata: {name: nightly}\nspec: {cronSpec: '0 3 * * *', replicas: 2}\n",
    )
    .unwrap();
    assert_eq!(k(&["apply", "-f", cr.to_str().unwrap()]).0, Some(0));
    let (code, out) = k(&["get", "crontabs"]);
    assert_eq!(code, Some(0), "{out}");
    let g = grid(&out);
    assert_eq!(g[0], ["NAME", "SPEC", "REPLICAS", "AGE"]);
    assert_eq!(g[1][..3], ["nightly", "0 3 * * *", "2"]);
    let (_, crds) = k(&["get", "crd"]);
    assert_eq!(grid(&crds)[0], ["NAME", "CREATED AT"]);

    // Custom resources delete like any object; deleting the CRD takes the rest with it.
    assert_eq!(
        k(&["delete", "crontab", "nightly"]),
        (Some(0), "crontab.stable.example.com \"nightly\" deleted".into())
    );
    assert_eq!(k(&["apply", "-f", cr.to_str().unwrap()]).0, Some(0));
    let crd = "crd/crontabs.stable.example.com";
    assert_eq!(k(&["delete", crd]).0, Some(0));
    eventually("the CRD and its resources gone", Duration::from_secs(30), || {
        // kubectl says so from fresh discovery, or from its cached one when the list fails.
        let (code, out) = k(&["get", "crontabs"]);
        let gone = out.contains("the server doesn't have a resource type \"crontabs\"")
            || out.contains("the server could not find the requested resource");
        (code == Some(1) && gone && k(&["get", "crd", "-o", "name"]).1.is_empty()).then_some(())
    });
}
