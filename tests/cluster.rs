//! End to end: a server and two agents, each node in its own network namespace that the test
//! creates (joined by a bridge in a switch namespace), running a Deployment of busybox httpd
//! pods: every pod Running with an address from its node's pod range, spread over the nodes,
//! reachable from a pod on the same node; scaled to 10 and back to 1; a rolling update that
//! keeps availability; a DaemonSet on every node; a StatefulSet in order; a Job to completion.
//! Needs root, runc, busybox-static, iproute2, nftables and util-linux's nsenter.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::pods::{LabCluster, can_run_pods};
use common::{Server, eventually};

/// `name node ip phase` of each pod of the `web` Deployment (the CronJob's pods may come and
/// go at any minute).
fn pods(server: &Server) -> Vec<(String, String, String, String)> {
    let path = r#"{range .items[*]}{.metadata.name} {.spec.nodeName} {.status.podIP} {.status.phase}{"\n"}{end}"#;
    let (_, out) = server.k(&["get", "pods", "-l", "app=web", "-o", &format!("jsonpath={path}")]);
    out.lines()
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            let at = |i: usize| f.get(i).copied().unwrap_or_default().to_owned();
            (at(0), at(1), at(2), at(3))
        })
        .collect()
}

fn in_range(ip: &str, cidr: &str) -> bool {
    let (net, bits) = cidr.split_once('/').unwrap();
    let bits: u32 = bits.parse().unwrap();
    let (Ok(ip), Ok(net)) = (ip.parse::<std::net::Ipv4Addr>(), net.parse::<std::net::Ipv4Addr>())
    else {
        return false;
    };
    let mask = if bits == 0 { 0 } else { u32::MAX << (32 - bits) };
    u32::from(ip) & mask == u32::from(net) & mask
}

#[test]
fn a_deployment_runs_on_three_nodes_with_pod_addresses_and_scales() {
    if !can_run_pods() {
        return;
    }
    let cluster = LabCluster::start(&[]);
    let server = &cluster.server;
    eventually("three ready nodes", Duration::from_secs(60), || {
        let (_, out) = server.k(&["get", "nodes", "--no-headers"]);
        (out.lines().filter(|l| l.contains(" Ready ")).count() == 3).then_some(())
    });
    let ranges: BTreeMap<String, String> =
        eventually("pod ranges", Duration::from_secs(30), || {
            let path = r#"{range .items[*]}{.metadata.name} {.spec.podCIDR}{"\n"}{end}"#;
            let (_, out) = server.k(&["get", "nodes", "-o", &format!("jsonpath={path}")]);
            let r: BTreeMap<String, String> = out
                .lines()
                .filter_map(|l| l.split_once(' ').filter(|(_, c)| !c.is_empty()))
                .map(|(n, c)| (n.to_owned(), c.to_owned()))
                .collect();
            (r.len() == 3).then_some(r)
        });

    // A CronJob made now runs at the next minute; it is checked at the end.
    let (code, out) = server.k(&[
        "create",
        "cronjob",
        "tick",
        "--image=busybox:test",
        "--schedule=* * * * *",
        "--",
        "echo",
        "tick",
    ]);
    assert_eq!(code, Some(0), "{out}");

    let (code, out) = server.k(&[
        "create",
        "deployment",
        "web",
        "--image=busybox:test",
        "--replicas=3",
        "--port=8080",
        "--",
        "sh",
        "-c",
        // A shell as PID 1 that ends on SIGTERM (httpd alone would ignore it as PID 1).
        "mkdir -p /www && hostname > /www/index.html && trap 'exit 0' TERM; httpd -f -p 8080 -h /www & wait",
    ]);
    assert_eq!(code, Some(0), "{out}");
    let running = |n: usize| {
        move |server: &Server| {
            let p = pods(server);
            (p.len() == n && p.iter().all(|(_, _, ip, phase)| phase == "Running" && !ip.is_empty()))
                .then_some(p)
        }
    };
    let three =
        eventually("3 pods running with addresses", Duration::from_secs(60), || running(3)(server));
    for (name, node, ip, _) in &three {
        assert!(in_range(ip, &ranges[node]), "{name} on {node} has {ip}, outside {}", ranges[node]);
    }
    let nodes: std::collections::BTreeSet<&String> = three.iter().map(|p| &p.1).collect();
    assert!(nodes.len() >= 2, "spread over the nodes: {three:?}");
    let (_, wide) = server.k(&["get", "pods", "-o", "wide"]);
    for (name, node, ip, _) in &three {
        assert!(
            wide.lines().any(|l| l.starts_with(name.as_str())
                && l.contains(ip.as_str())
                && l.contains(node.as_str())),
            "{wide}"
        );
    }

    // Behind a Service, by its DNS name from a pod: requests reach all three (at random:
    // bounded tries); a deleted pod's address leaves the service.
    assert_eq!(
        server.k(&["expose", "deployment", "web", "--port=80", "--target-port=8080"]).0,
        Some(0)
    );
    let client = &three[0].0;
    let want: std::collections::BTreeSet<String> = three.iter().map(|p| p.0.clone()).collect();
    let fetch = || {
        let (code, page) = server.k(&[
            "exec",
            client,
            "--",
            "wget",
            "-q",
            "-O-",
            "http://web.default.svc.cluster.local/",
        ]);
        (code == Some(0)).then(|| page.trim().to_owned())
    };
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..60 {
        if let Some(page) = fetch() {
            seen.insert(page);
        }
        if seen == want {
            break;
        }
    }
    assert_eq!(seen, want, "the service reaches the pods on every node");
    let gone = &three[2].0;
    assert_eq!(server.k(&["delete", "pod", gone, "--wait=false"]).0, Some(0));
    let (_, svc_ip) = server.k(&["get", "svc", "web", "-o", "jsonpath={.spec.clusterIP}"]);
    eventually("the deleted pod leaves the service", Duration::from_secs(10), || {
        let (_, slices) = server.k(&[
            "get",
            "endpointslices",
            "-l",
            "kubernetes.io/service-name=web",
            "-o",
            "jsonpath={.items[*].endpoints[?(@.conditions.ready==true)].targetRef.name}",
        ]);
        (!slices.contains(gone.as_str())).then_some(())
    });
    for _ in 0..10 {
        let page = fetch();
        assert!(page.as_deref() != Some(gone.as_str()), "{gone} still served through {svc_ip}");
    }

    // Scale to 10: every node runs several, each with its own address; a pod reaches another
    // on its node by address.
    assert_eq!(server.k(&["scale", "deployment", "web", "--replicas=10"]).0, Some(0));
    let ten = eventually("10 pods running", Duration::from_secs(90), || running(10)(server));
    let mut ips: Vec<&String> = ten.iter().map(|p| &p.2).collect();
    ips.sort();
    ips.dedup();
    assert_eq!(ips.len(), 10, "distinct addresses: {ten:?}");
    let mut by_node: BTreeMap<&String, Vec<&(String, String, String, String)>> = BTreeMap::new();
    for p in &ten {
        assert!(in_range(&p.2, &ranges[&p.1]), "{p:?}");
        by_node.entry(&p.1).or_default().push(p);
    }
    let pair = by_node.values().find(|v| v.len() >= 2).expect("two pods on one node");
    let (client, target) = (&pair[0].0, pair[1]);
    let url = format!("http://{}:8080/index.html", target.2);
    let (code, page) = server.k(&["exec", client, "--", "wget", "-qO-", &url]);
    assert_eq!((code, page.as_str()), (Some(0), target.0.as_str()), "{client} -> {url}");

    assert_eq!(server.k(&["scale", "deployment", "web", "--replicas=1"]).0, Some(0));
    eventually("back to 1 pod", Duration::from_secs(90), || running(1)(server));

    // A rolling update of 4 replicas (maxUnavailable 1, maxSurge 1) never has fewer than 3
    // available.
    assert_eq!(server.k(&["scale", "deployment", "web", "--replicas=4"]).0, Some(0));
    eventually("4 pods running", Duration::from_secs(60), || running(4)(server));
    eventually("4 available", Duration::from_secs(30), || {
        let (_, a) =
            server.k(&["get", "deploy", "web", "-o", "jsonpath={.status.availableReplicas}"]);
        (a == "4").then_some(())
    });
    assert_eq!(server.k(&["set", "env", "deployment/web", "ROUND=2"]).0, Some(0));
    let mut lowest = 4;
    eventually("the rollout done", Duration::from_secs(90), || {
        let path = "{.status.availableReplicas} {.status.updatedReplicas} {.status.replicas}";
        let (_, s) = server.k(&["get", "deploy", "web", "-o", &format!("jsonpath={path}")]);
        let n: Vec<i64> = s.split(' ').map(|x| x.parse().unwrap_or(0)).collect();
        lowest = lowest.min(n[0]);
        (n == [4, 4, 4]).then_some(())
    });
    assert!(lowest >= 3, "available dropped to {lowest}");
    let (code, out) = server.k(&["rollout", "status", "deployment/web", "--timeout=60s"]);
    assert!(code == Some(0) && out.contains("successfully rolled out"), "{out}");
    // And back: `rollout undo` returns to the previous template.
    let (code, out) = server.k(&["rollout", "undo", "deployment/web"]);
    assert_eq!(code, Some(0), "{out}");
    let (code, out) = server.k(&["rollout", "status", "deployment/web", "--timeout=60s"]);
    assert!(code == Some(0) && out.contains("successfully rolled out"), "{out}");
    let (_, env) = server.k(&[
        "get",
        "deploy",
        "web",
        "-o",
        "jsonpath={.spec.template.spec.containers[0].env}",
    ]);
    assert!(!env.contains("ROUND"), "{env}");

    // A DaemonSet puts one pod on every node (the server's too).
    let ds = server.dir.path().join("ds.yaml");
    std::fs::write(
        &ds,
        "apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agentd}
spec:
  selector: {matchLabels: {app: agentd}}
  template:
    metadata: {labels: {app: agentd}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - {name: main, image: busybox:test, command: [sh, -c, 'trap \"exit 0\" TERM; sleep 3600 & wait']}
",
    )
    .unwrap();
    let (code, out) = server.k(&["apply", "-f", ds.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{out}");
    let (code, out) = server.k(&["rollout", "status", "ds/agentd", "--timeout=60s"]);
    assert!(code == Some(0) && out.contains("successfully rolled out"), "{out}");
    let path = r#"{range .items[*]}{.spec.nodeName}{"\n"}{end}"#;
    let (_, on) = server.k(&["get", "pods", "-l", "app=agentd", "-o", &format!("jsonpath={path}")]);
    let mut on: Vec<&str> = on.lines().collect();
    on.sort();
    assert_eq!(on, ["node-0", "node-1", "node-2"]);

    // A StatefulSet starts its pods in order under stable names.
    let sts = server.dir.path().join("sts.yaml");
    std::fs::write(
        &sts,
        "apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  serviceName: db
  replicas: 2
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - {name: main, image: busybox:test, command: [sh, -c, 'trap \"exit 0\" TERM; sleep 3600 & wait']}
",
    )
    .unwrap();
    let (code, out) = server.k(&["apply", "-f", sts.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{out}");
    let (code, out) = server.k(&["rollout", "status", "sts/db", "--timeout=60s"]);
    assert!(code == Some(0) && out.contains("roll out complete"), "{out}");
    let (_, names) =
        server.k(&["get", "pods", "-l", "app=db", "-o", "jsonpath={.items[*].metadata.name}"]);
    let mut names: Vec<&str> = names.split(' ').collect();
    names.sort();
    assert_eq!(names, ["db-0", "db-1"]);
    let (_, started) =
        server.k(&["get", "pods", "db-0", "db-1", "-o", "jsonpath={.items[*].status.startTime}"]);
    let times: Vec<&str> = started.split(' ').collect();
    assert!(times.len() == 2 && times[0] <= times[1], "db-0 first: {started}");

    // A Job runs to completion.
    let (code, out) = server.k(&[
        "create",
        "job",
        "once",
        "--image=busybox:test",
        "--",
        "sh",
        "-c",
        "echo job-done",
    ]);
    assert_eq!(code, Some(0), "{out}");
    let (code, out) = server.k(&["wait", "--for=condition=complete", "job/once", "--timeout=60s"]);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(server.k(&["logs", "job/once"]), (Some(0), "job-done".to_owned()));
    let (_, row) = server.k(&["get", "job", "once", "--no-headers"]);
    assert!(row.contains("1/1"), "{row}");

    // The CronJob ran on schedule: a Job of its own completed, and it says when.
    let job = eventually("the cronjob's first job complete", Duration::from_secs(90), || {
        let path = r#"{range .items[?(@.metadata.ownerReferences[0].kind=="CronJob")]}{.metadata.name} {.status.succeeded}{"\n"}{end}"#;
        let (_, out) = server.k(&["get", "jobs", "-o", &format!("jsonpath={path}")]);
        out.lines()
            .find(|l| l.ends_with(" 1"))
            .map(|l| l.split(' ').next().unwrap_or_default().to_owned())
    });
    assert!(job.starts_with("tick-"), "{job}");
    assert_eq!(server.k(&["logs", &format!("job/{job}")]), (Some(0), "tick".to_owned()));
    let (_, last) =
        server.k(&["get", "cronjob", "tick", "-o", "jsonpath={.status.lastScheduleTime}"]);
    assert!(last.ends_with(":00Z"), "{last}");
}
