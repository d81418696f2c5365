//! End to end: Services through the real kubectl against a server without an agent: ClusterIPs
//! and NodePorts allocated from the server's ranges (requested, taken, out of range,
//! immutable, freed on delete, kept across a restart), headless and ExternalName services,
//! and Endpoints/EndpointSlices following pods whose status the test writes.

#![allow(clippy::unwrap_used)]

mod common;

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use common::{Server, eventually, require_tool};

fn jsonpath(server: &Server, what: &[&str], path: &str) -> String {
    let mut args = vec!["get"];
    args.extend_from_slice(what);
    let jp = format!("jsonpath={path}");
    args.extend_from_slice(&["-o", &jp]);
    let (code, out) = server.k(&args);
    assert_eq!(code, Some(0), "{out}");
    out
}

fn ip_in(ip: &str, base: [u8; 2]) -> bool {
    let ip: Ipv4Addr = ip.parse().unwrap();
    let o = ip.octets();
    o[..2] == base && ip != Ipv4Addr::new(base[0], base[1], 0, 0)
}

#[test]
fn cluster_ips_and_node_ports_are_allocated_checked_and_freed() {
    if !require_tool("kubectl") {
        return;
    }
    let server = Server::start(&[]);
    let k = |args: &[&str]| server.k(args);
    assert_eq!(jsonpath(&server, &["svc", "kubernetes"], "{.spec.clusterIP}"), "10.43.0.1");

    // Dynamic: an address of the range, with upstream's defaults.
    assert_eq!(k(&["create", "service", "clusterip", "a", "--tcp=80:8080"]).0, Some(0));
    let a = jsonpath(
        &server,
        &["svc", "a"],
        "{.spec.clusterIP} {.spec.clusterIPs[0]} {.spec.ipFamilies[0]} {.spec.ipFamilyPolicy}",
    );
    let parts: Vec<&str> = a.split(' ').collect();
    assert!(ip_in(parts[0], [10, 43]), "{a}");
    assert_eq!(parts[1..], [parts[0], "IPv4", "SingleStack"]);

    // Requested: free, then taken, then outside the range.
    assert_eq!(
        k(&["create", "service", "clusterip", "b", "--clusterip=10.43.0.5", "--tcp=80"]).0,
        Some(0)
    );
    assert_eq!(
        k(&["create", "service", "clusterip", "c", "--clusterip=10.43.0.5", "--tcp=80"]),
        (
            Some(1),
            "error: failed to create ClusterIP service: Service \"c\" is invalid: spec.clusterIPs: Invalid value: []string{\"10.43.0.5\"}: failed to allocate IP 10.43.0.5: provided IP is already allocated".into()
        )
    );
    let (code, out) =
        k(&["create", "service", "clusterip", "d", "--clusterip=10.9.0.5", "--tcp=80"]);
    assert_eq!(code, Some(1));
    assert!(
        out.ends_with("spec.clusterIPs: Invalid value: []string{\"10.9.0.5\"}: failed to allocate IP 10.9.0.5: the provided network does not match the current range"),
        "{out}"
    );

    // The address may not change; a replace that leaves it out keeps it.
    let (code, out) = k(&["patch", "svc", "b", "-p", r#"{"spec":{"clusterIP":"10.43.0.9"}}"#]);
    assert_eq!(code, Some(1));
    assert_eq!(
        out,
        "The Service \"b\" is invalid: spec.clusterIPs[0]: Invalid value: []string{\"10.43.0.9\"}: may not change once set"
    );
    let file = server.dir.path().join("b.yaml");
    std::fs::write(
        &file,
        "apiVersion: v1\nkind: Service\nmetadata: {name: b}\nspec:\n  selector: {app: b}\n  ports: [{port: 81}]\n",
    )
    .unwrap();
    assert_eq!(k(&["replace", "-f", file.to_str().unwrap()]).0, Some(0));
    assert_eq!(jsonpath(&server, &["svc", "b"], "{.spec.clusterIP}"), "10.43.0.5");

    // Headless and ExternalName services get no address.
    assert_eq!(
        k(&["create", "service", "clusterip", "h", "--clusterip=None", "--tcp=80"]).0,
        Some(0)
    );
    assert_eq!(jsonpath(&server, &["svc", "h"], "{.spec.clusterIPs}"), "[\"None\"]");
    assert_eq!(
        k(&["create", "service", "externalname", "e", "--external-name=example.com"]).0,
        Some(0)
    );
    assert_eq!(jsonpath(&server, &["svc", "e"], "{.spec.clusterIP}"), "");

    // NodePorts.
    assert_eq!(k(&["create", "service", "nodeport", "n", "--tcp=80:8080"]).0, Some(0));
    let (_, table) = k(&["get", "svc", "n", "--no-headers"]);
    let port: u16 = jsonpath(&server, &["svc", "n"], "{.spec.ports[0].nodePort}").parse().unwrap();
    assert!((30000..=32767).contains(&port), "{port}");
    assert!(table.contains(&format!("80:{port}/TCP")), "{table}");
    assert!(table.starts_with("n ") && table.contains("NodePort"), "{table}");
    let taken = format!("--node-port={port}");
    let (code, out) = k(&["create", "service", "nodeport", "n2", "--tcp=80:8080", &taken]);
    assert_eq!(code, Some(1));
    assert!(
        out.ends_with(&format!(
            "spec.ports[0].nodePort: Invalid value: {port}: provided port is already allocated"
        )),
        "{out}"
    );
    let (code, out) =
        k(&["create", "service", "nodeport", "n3", "--tcp=80:8080", "--node-port=40000"]);
    assert_eq!(code, Some(1));
    assert!(out.ends_with("spec.ports[0].nodePort: Invalid value: 40000: provided port is not in the valid range. The range of valid ports is 30000-32767"), "{out}");

    // Deleting frees: the address and the port can be asked for again.
    assert_eq!(k(&["delete", "svc", "b", "n"]).0, Some(0));
    assert_eq!(
        k(&["create", "service", "clusterip", "c", "--clusterip=10.43.0.5", "--tcp=80"]).0,
        Some(0)
    );
    assert_eq!(k(&["create", "service", "nodeport", "n2", "--tcp=80:8080", &taken]).0, Some(0));

    // After a restart, what is held stays held.
    let (_, dir) = server.terminate();
    let server = Server::start_in(dir, &[]);
    let (code, out) =
        server.k(&["create", "service", "clusterip", "x", "--clusterip=10.43.0.5", "--tcp=80"]);
    assert_eq!(code, Some(1));
    assert!(out.ends_with("provided IP is already allocated"), "{out}");
    let (code, out) = server.k(&["create", "service", "nodeport", "x", "--tcp=80:8080", &taken]);
    assert_eq!(code, Some(1));
    assert!(out.ends_with("provided port is already allocated"), "{out}");
    assert_eq!(jsonpath(&server, &["svc", "kubernetes"], "{.spec.clusterIP}"), "10.43.0.1");
}

#[test]
fn the_ranges_come_from_the_server_flags() {
    if !require_tool("kubectl") {
        return;
    }
    let server = Server::start(&[
        "--service-cidr",
        "10.96.0.0/24",
        "--service-node-port-range",
        "31000-31010",
    ]);
    assert_eq!(jsonpath(&server, &["svc", "kubernetes"], "{.spec.clusterIP}"), "10.96.0.1");
    assert_eq!(server.k(&["create", "service", "nodeport", "n", "--tcp=80"]).0, Some(0));
    let ip = jsonpath(&server, &["svc", "n"], "{.spec.clusterIP}");
    assert!(ip.starts_with("10.96.0.") && ip != "10.96.0.0" && ip != "10.96.0.255", "{ip}");
    let port: u16 = jsonpath(&server, &["svc", "n"], "{.spec.ports[0].nodePort}").parse().unwrap();
    assert!((31000..=31010).contains(&port), "{port}");
    let (code, out) =
        server.k(&["create", "service", "clusterip", "x", "--clusterip=10.43.0.5", "--tcp=80"]);
    assert_eq!(code, Some(1));
    assert!(out.ends_with("the provided network does not match the current range"), "{out}");
}

const PODS: &str = "apiVersion: v1
kind: Pod
metadata: {name: web-1, labels: {app: web}}
spec:
  nodeName: ghost
  containers: [{name: c, image: busybox, ports: [{name: http, containerPort: 8080}]}]
---
apiVersion: v1
kind: Pod
metadata: {name: web-2, labels: {app: web}}
spec:
  nodeName: ghost
  containers: [{name: c, image: busybox, ports: [{name: http, containerPort: 8080}]}]
---
apiVersion: v1
kind: Pod
metadata: {name: other, labels: {app: other}}
spec:
  nodeName: ghost
  containers: [{name: c, image: busybox}]
";

/// Write a pod's status as a kubelet would: running, with an address, ready or not.
fn set_status(server: &Server, pod: &str, ip: &str, ready: bool) {
    let ready = if ready { "True" } else { "False" };
    let patch = format!(
        r#"{{"status":{{"phase":"Running","podIP":"{ip}","podIPs":[{{"ip":"{ip}"}}],"conditions":[{{"type":"Ready","status":"{ready}"}}]}}}}"#
    );
    let (code, out) =
        server.k(&["patch", "pod", pod, "--subresource=status", "--type=merge", "-p", &patch]);
    assert_eq!(code, Some(0), "{out}");
}

#[test]
fn endpoints_and_slices_follow_the_pods_a_service_selects() {
    if !require_tool("kubectl") {
        return;
    }
    let server = Server::start(&[]);
    let k = |args: &[&str]| server.k(args);
    let until = |what: &str, check: &dyn Fn() -> bool| {
        let started = Instant::now();
        eventually(what, Duration::from_secs(10), || check().then_some(()));
        started.elapsed()
    };
    let file = server.dir.path().join("pods.yaml");
    std::fs::write(&file, PODS).unwrap();
    assert_eq!(k(&["apply", "-f", file.to_str().unwrap()]).0, Some(0));
    assert_eq!(k(&["create", "service", "clusterip", "web", "--tcp=80:http"]).0, Some(0));

    // Endpoints and a placeholder slice appear before any pod is ready.
    until("the endpoints", &|| k(&["get", "endpoints", "web"]).0 == Some(0));
    let slice_sel = "-lkubernetes.io/service-name=web";
    until("the slice", &|| {
        k(&["get", "endpointslices", slice_sel, "-o", "name"]).1.starts_with("endpointslice")
    });
    let slice = k(&["get", "endpointslices", slice_sel, "-o", "name"]).1;
    assert!(slice.starts_with("endpointslice.discovery.k8s.io/web-"), "{slice}");
    let slice = slice.trim_start_matches("endpointslice.discovery.k8s.io/").to_owned();
    assert_eq!(
        jsonpath(
            &server,
            &["endpointslice", &slice],
            "{.metadata.labels.endpointslice\\.kubernetes\\.io/managed-by} {.metadata.ownerReferences[0].kind}/{.metadata.ownerReferences[0].name} {.addressType}"
        ),
        "endpointslice-controller.k8s.io Service/web IPv4"
    );

    // One pod ready, one not: addresses and notReadyAddresses, the port resolved by name.
    set_status(&server, "web-1", "10.42.0.7", true);
    set_status(&server, "web-2", "10.42.0.8", false);
    set_status(&server, "other", "10.42.0.9", true);
    let took = until("the ready pod in the endpoints", &|| {
        jsonpath(&server, &["endpoints", "web"], "{.subsets[0].notReadyAddresses[0].ip}")
            == "10.42.0.8"
            && jsonpath(&server, &["endpoints", "web"], "{.subsets[0].addresses[*].ip}")
                == "10.42.0.7"
    });
    eprintln!("endpoints followed the pods' status in {took:?}");
    assert_eq!(
        jsonpath(
            &server,
            &["endpoints", "web"],
            "{.subsets[0].ports[0].port} {.subsets[0].addresses[0].nodeName} {.subsets[0].addresses[0].targetRef.kind}/{.subsets[0].addresses[0].targetRef.name}"
        ),
        "8080 ghost Pod/web-1"
    );
    let (_, table) = k(&["get", "endpoints", "web", "--no-headers"]);
    assert!(table.contains("10.42.0.7:8080"), "{table}");
    until("the slice's endpoints", &|| {
        jsonpath(&server, &["endpointslice", &slice], "{.endpoints[*].conditions.ready}")
            == "true false"
    });
    assert_eq!(
        jsonpath(
            &server,
            &["endpointslice", &slice],
            "{.endpoints[0].addresses[0]} {.endpoints[0].nodeName} {.endpoints[0].targetRef.name} {.endpoints[0].conditions.serving} {.endpoints[0].conditions.terminating} {.ports[0].port}"
        ),
        "10.42.0.7 ghost web-1 true false 8080"
    );

    // The second pod becomes ready; the Service's targetPort changes.
    set_status(&server, "web-2", "10.42.0.8", true);
    until("both pods ready", &|| {
        jsonpath(&server, &["endpoints", "web"], "{.subsets[0].addresses[*].ip}")
            == "10.42.0.7 10.42.0.8"
    });
    let patch =
        r#"{"spec":{"ports":[{"name":"80-http","port":80,"protocol":"TCP","targetPort":9090}]}}"#;
    assert_eq!(k(&["patch", "svc", "web", "--type=merge", "-p", patch]).0, Some(0));
    let took = until("the new target port", &|| {
        jsonpath(&server, &["endpoints", "web"], "{.subsets[0].ports[0].port}") == "9090"
            && jsonpath(&server, &["endpointslice", &slice], "{.ports[0].port}") == "9090"
    });
    eprintln!("a Service change reached its endpoints in {took:?}");

    // A deleted pod leaves them.
    assert_eq!(k(&["delete", "pod", "web-1", "--grace-period=0", "--force"]).0, Some(0));
    until("web-1 gone from the endpoints", &|| {
        jsonpath(&server, &["endpoints", "web"], "{.subsets[0].addresses[*].ip}") == "10.42.0.8"
            && jsonpath(&server, &["endpointslice", &slice], "{.endpoints[*].addresses[0]}")
                == "10.42.0.8"
    });

    // The kubernetes Service's Endpoints are the servers', untouched.
    assert_eq!(
        jsonpath(&server, &["endpoints", "kubernetes"], "{.subsets[0].addresses[0].ip}"),
        "127.0.0.1"
    );

    // Deleting the Service takes its Endpoints and slices with it.
    assert_eq!(k(&["delete", "svc", "web"]).0, Some(0));
    until("the endpoints gone", &|| {
        k(&["get", "endpoints", "web"]).0 == Some(1)
            && k(&["get", "endpointslices", slice_sel, "-o", "name"]).1.is_empty()
    });
}
