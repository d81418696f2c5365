//! End to end: the overlay between nodes, for each backend (`vxlan`, `host-gw`, `udp`): a server and
//! two agents, each in its own lab namespace; a pod on one node reaches a pod on another by
//! address (ICMP and TCP), through a Service's ClusterIP, and through a NodePort on every
//! node's address; a pod reaches the API through the `kubernetes` ClusterIP; a connection
//! between pods on two nodes outlives a restart of one node's agent; a removed node's routes
//! leave the other nodes. Needs what tests/cluster.rs needs.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::netlab::command_in;
use common::pods::{LabCluster, can_run_pods};
use common::{Server, eventually};

fn web_pod(name: &str, node: &str) -> String {
    format!(
        "apiVersion: v1
kind: Pod
metadata: {{name: {name}, labels: {{app: {name}}}}}
spec:
  nodeName: {node}
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: busybox:test
    command: [sh, -c, 'mkdir -p /www && hostname > /www/index.html && trap \"exit 0\" TERM; httpd -f -p 8080 -h /www & wait']
"
    )
}

fn apply(server: &Server, name: &str, yaml: &str) {
    let file = server.dir.path().join(format!("{name}.yaml"));
    std::fs::write(&file, yaml).unwrap();
    let (code, out) = server.k(&["apply", "-f", file.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{out}");
}

/// `program args` run in the namespace `netns`: its standard output, trimmed, when it succeeds.
fn run_in(netns: &str, program: &str, args: &[&str]) -> Option<String> {
    let out = command_in(Some(netns), program).args(args).output().unwrap();
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn across_nodes(backend: &str) {
    let mut cluster = LabCluster::start(&["--flannel-backend", backend]);
    let server = &cluster.server;
    let k = |args: &[&str]| server.k(args);
    eventually("three ready nodes", Duration::from_secs(60), || {
        let (_, out) = k(&["get", "nodes", "--no-headers"]);
        (out.lines().filter(|l| l.contains(" Ready ")).count() == 3).then_some(())
    });
    apply(server, "a", &web_pod("a", "node-1"));
    apply(server, "b", &web_pod("b", "node-2"));
    let ip_of = |pod: &str| {
        eventually(&format!("{pod} running"), Duration::from_secs(60), || {
            let (_, out) =
                k(&["get", "pod", pod, "-o", "jsonpath={.status.phase} {.status.podIP}"]);
            out.strip_prefix("Running ").filter(|ip| !ip.is_empty()).map(str::to_owned)
        })
    };
    let (_, b) = (ip_of("a"), ip_of("b"));
    // Pod to pod across nodes, by address: TCP and ICMP.
    let url = format!("http://{b}:8080/");
    let page = eventually(&format!("{backend}: a reaches b"), Duration::from_secs(30), || {
        let (code, out) = k(&["exec", "a", "--", "wget", "-q", "-O-", &url]);
        (code == Some(0)).then_some(out)
    });
    assert_eq!(page, "b");
    let (code, out) = k(&["exec", "a", "--", "ping", "-c", "1", "-W", "5", &b]);
    assert_eq!(code, Some(0), "{backend}: ping across nodes: {out}");
    // Through a Service on another node, and its NodePort on every node's address.
    let (code, out) =
        k(&["expose", "pod", "b", "--port=80", "--target-port=8080", "--type=NodePort"]);
    assert_eq!(code, Some(0), "{out}");
    let (_, cluster_ip) = k(&["get", "svc", "b", "-o", "jsonpath={.spec.clusterIP}"]);
    let (_, node_port) = k(&["get", "svc", "b", "-o", "jsonpath={.spec.ports[0].nodePort}"]);
    let svc_url = format!("http://{cluster_ip}/");
    eventually(&format!("{backend}: a reaches b's service"), Duration::from_secs(30), || {
        let (code, out) = k(&["exec", "a", "--", "wget", "-q", "-O-", &svc_url]);
        (code == Some(0) && out == "b").then_some(())
    });
    for net in &cluster.nets {
        let url = format!("http://{}:{node_port}/", net.address);
        eventually(
            &format!("{backend}: node port on {}", net.address),
            Duration::from_secs(30),
            || {
                (run_in(&net.netns, "busybox", &["wget", "-q", "-O-", &url]).as_deref()
                    == Some("b"))
                .then_some(())
            },
        );
    }
    // The API through the `kubernetes` ClusterIP, from a pod.
    let connect = "nc -w 5 10.43.0.1 443 </dev/null && echo connected";
    let (code, out) = k(&["exec", "a", "--", "sh", "-c", connect]);
    assert!(
        code == Some(0) && out.contains("connected"),
        "{backend}: the kubernetes service from a pod: {out}"
    );
    // An agent restart keeps an established pod-to-pod connection across nodes: a stream from
    // node-1 to node-2 goes on while node-1's agent is killed and started again.
    let listener = web_pod("listener", "node-2").replace(
        "mkdir -p /www && hostname > /www/index.html && trap \"exit 0\" TERM; httpd -f -p 8080 -h /www & wait",
        // Its stdin stays open (busybox nc ends when stdin ends).
        "sleep 3600 | nc -l -p 9000",
    );
    apply(server, "listener", &listener);
    let l_ip = eventually("listener running", Duration::from_secs(60), || {
        let (_, out) =
            k(&["get", "pod", "listener", "-o", "jsonpath={.status.phase} {.status.podIP}"]);
        out.strip_prefix("Running ").filter(|ip| !ip.is_empty()).map(str::to_owned)
    });
    let stream = format!("while true; do echo tick; sleep 0.1; done | nc {l_ip} 9000");
    let talker = web_pod("talker", "node-1").replace(
        "mkdir -p /www && hostname > /www/index.html && trap \"exit 0\" TERM; httpd -f -p 8080 -h /www & wait",
        &stream,
    );
    apply(server, "talker", &talker);
    let ticks = || k(&["logs", "listener"]).1.lines().count();
    eventually("ticks arrive", Duration::from_secs(60), || (ticks() > 5).then_some(()));
    let dir = cluster.dirs.path().join("a1");
    let agent = cluster.agents.remove(0);
    agent.kill();
    let before = ticks();
    let token = server.token();
    cluster.agents.insert(
        0,
        common::Agent::start_in_netns(&cluster.nets[1], &dir, "node-1", &server.url(), &token),
    );
    eventually("node-1's agent back", Duration::from_secs(60), || {
        cluster.agents[0].log().contains("overlay routes in step").then_some(())
    });
    eventually("ticks go on after the restart", Duration::from_secs(30), || {
        (ticks() > before + 20).then_some(())
    });
    let (_, restarts) = k(&[
        "get",
        "pod",
        "listener",
        "talker",
        "-o",
        "jsonpath={.items[*].status.containerStatuses[0].restartCount}",
    ]);
    assert_eq!(restarts, "0 0", "{backend}: the connection held (no container restarted)");
    // A removed node's routes leave the others.
    let (_, ranges) = k(&["get", "node", "node-2", "-o", "jsonpath={.spec.podCIDR}"]);
    let routes =
        |netns: &str| run_in(netns, "ip", &["route", "show", "proto", "76"]).unwrap_or_default();
    assert!(routes(&cluster.nets[1].netns).contains(&ranges), "{}", routes(&cluster.nets[1].netns));
    // Its pod goes first (its agent removes the container), then the agent, then the Node.
    let (code, out) = k(&["delete", "svc", "b"]);
    assert_eq!(code, Some(0), "{out}");
    let (code, out) = k(&["delete", "pod", "b", "listener", "--timeout=60s"]);
    assert_eq!(code, Some(0), "{out}");
    cluster.agents.pop().unwrap().kill();
    let (code, out) = k(&["delete", "node", "node-2"]);
    assert_eq!(code, Some(0), "{out}");
    eventually(&format!("{backend}: node-2's routes gone"), Duration::from_secs(30), || {
        (!routes(&cluster.nets[1].netns).contains(&ranges)).then_some(())
    });
}

#[test]
fn pods_reach_each_other_across_nodes_over_vxlan() {
    if can_run_pods() {
        across_nodes("vxlan");
    }
}

#[test]
fn pods_reach_each_other_across_nodes_over_host_gw() {
    if can_run_pods() {
        across_nodes("host-gw");
    }
}

#[test]
fn pods_reach_each_other_across_nodes_over_udp() {
    if can_run_pods() {
        across_nodes("udp");
    }
}
