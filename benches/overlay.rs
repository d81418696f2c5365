//! Pod-to-pod throughput and latency across nodes, per overlay backend, against the raw link:
//! a server and two agents, each in a lab network namespace this benchmark creates (as the
//! tests do), two pods pinned to the two agents, and Debian's `iperf3` (TCP, 5 s) and busybox `ping`
//! (20 echoes) run inside the pods' network namespaces; the raw figure is the same between the
//! two nodes' own addresses over their veth link. Then the time from a Deployment's pod being
//! deleted to the Service's rules no longer sending to it (endpoint propagation).
//! Needs root, runc, busybox-static, iproute2, nftables, iperf3.
//! Run: `cargo bench --bench overlay`. Figures go to docs/PERFORMANCE.md; nothing here asserts.

#![allow(clippy::unwrap_used, dead_code)]

#[path = "../tests/common/mod.rs"]
mod lab;

use std::process::Stdio;
use std::time::{Duration, Instant};

use lab::netlab::command_in;
use lab::pods::LabCluster;

fn netns_of(cluster: &LabCluster, pod: &str) -> String {
    let (_, uid) = cluster.server.k(&["get", "pod", pod, "-o", "jsonpath={.metadata.uid}"]);
    let short: String = uid.chars().filter(char::is_ascii_alphanumeric).take(16).collect();
    format!("k3rs-{short}")
}

fn sleeper(name: &str, node: &str) -> String {
    format!(
        "apiVersion: v1
kind: Pod
metadata: {{name: {name}}}
spec:
  nodeName: {node}
  terminationGracePeriodSeconds: 1
  containers:
  - {{name: main, image: busybox:test, command: [sh, -c, 'trap \"exit 0\" TERM; sleep 3600 & wait']}}
"
    )
}

/// iperf3 from `client_ns` to `server_ip` (a server started in `server_ns`): Gbit/s received.
fn iperf(server_ns: &str, client_ns: &str, server_ip: &str) -> f64 {
    let mut server = command_in(Some(server_ns), "iperf3")
        .args(["-s", "-1", "-p", "5201"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut json = String::new();
    // The server needs a moment to listen: bounded retries of the client.
    for _ in 0..50 {
        let out = command_in(Some(client_ns), "iperf3")
            .args(["-c", server_ip, "-p", "5201", "-t", "5", "-J"])
            .output()
            .unwrap();
        if out.status.success() {
            json = String::from_utf8_lossy(&out.stdout).into_owned();
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = server.kill();
    let _ = server.wait();
    let v: serde_json::Value = serde_json::from_str(&json).unwrap_or_default();
    v["end"]["sum_received"]["bits_per_second"].as_f64().unwrap_or(0.0) / 1e9
}

/// Average round trip of 20 pings, in microseconds.
fn ping(from_ns: &str, to: &str) -> f64 {
    let out =
        command_in(Some(from_ns), "busybox").args(["ping", "-c", "20", "-q", to]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    // rtt min/avg/max/mdev = 0.040/0.052/0.080/0.010 ms
    text.lines()
        .find(|l| l.contains("min/avg/max"))
        .and_then(|l| l.split('=').nth(1))
        .and_then(|v| v.trim().split('/').nth(1))
        .and_then(|avg| avg.parse::<f64>().ok())
        .map_or(0.0, |ms| ms * 1000.0)
}

fn apply(cluster: &LabCluster, name: &str, yaml: &str) {
    let file = cluster.server.dir.path().join(format!("{name}.yaml"));
    std::fs::write(&file, yaml).unwrap();
    assert_eq!(cluster.server.k(&["apply", "-f", file.to_str().unwrap()]).0, Some(0));
}

fn running_ip(cluster: &LabCluster, pod: &str) -> String {
    lab::eventually(&format!("{pod} running"), Duration::from_secs(60), || {
        let (_, out) = cluster.server.k(&[
            "get",
            "pod",
            pod,
            "-o",
            "jsonpath={.status.phase} {.status.podIP}",
        ]);
        out.strip_prefix("Running ").filter(|ip| !ip.is_empty()).map(str::to_owned)
    })
}

fn main() {
    for tool in ["iperf3", "busybox", "runc"] {
        assert!(lab::require_tool(tool), "{tool} is needed");
    }
    let mut rows = Vec::new();
    for backend in ["host-gw", "vxlan", "udp"] {
        let cluster = LabCluster::start(&["--flannel-backend", backend]);
        lab::eventually("three ready nodes", Duration::from_secs(60), || {
            let (_, out) = cluster.server.k(&["get", "nodes", "--no-headers"]);
            (out.lines().filter(|l| l.contains(" Ready ")).count() == 3).then_some(())
        });
        apply(&cluster, "a", &sleeper("a", "node-1"));
        apply(&cluster, "b", &sleeper("b", "node-2"));
        let (_, b_ip) = (running_ip(&cluster, "a"), running_ip(&cluster, "b"));
        let (a_ns, b_ns) = (netns_of(&cluster, "a"), netns_of(&cluster, "b"));
        if rows.is_empty() {
            let (n1, n2) = (&cluster.nets[1], &cluster.nets[2]);
            let gbps = iperf(&n2.netns, &n1.netns, &n2.address);
            rows.push(("raw veth link".to_owned(), gbps, ping(&n1.netns, &n2.address)));
        }
        let gbps = iperf(&b_ns, &a_ns, &b_ip);
        rows.push((backend.to_owned(), gbps, ping(&a_ns, &b_ip)));
        if backend == "vxlan" {
            propagation(&cluster, &a_ns);
        }
        let _ = cluster.server.k(&["delete", "pod", "a", "b", "--grace-period=1"]);
    }
    println!("{:<16} {:>10} {:>10} {:>10}", "path", "Gbit/s", "% of raw", "RTT us");
    let raw = rows[0].1;
    for (name, gbps, rtt) in &rows {
        println!("{name:<16} {gbps:>10.2} {:>9.0}% {rtt:>10.0}", gbps / raw * 100.0);
    }
}

/// Delete one of two endpoint pods and time until a node's rules no longer name its address.
fn propagation(cluster: &LabCluster, _client_ns: &str) {
    let web = "apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - {name: main, image: busybox:test, command: [sh, -c, 'trap \"exit 0\" TERM; sleep 3600 & wait']}
";
    apply(cluster, "web", web);
    let k = |args: &[&str]| cluster.server.k(args);
    assert_eq!(k(&["expose", "deployment", "web", "--port=80"]).0, Some(0));
    let rules = |ns: &str| {
        let out = command_in(Some(ns), "nft")
            .args(["list", "table", "ip", "k3rs-proxy"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let ns = cluster.nets[1].netns.clone();
    let mut samples = Vec::new();
    for _ in 0..5 {
        let ips: Vec<String> =
            lab::eventually("two endpoints in the rules", Duration::from_secs(60), || {
                let (_, out) = k(&[
                    "get",
                    "pods",
                    "-l",
                    "app=web",
                    "-o",
                    "jsonpath={range .items[*]}{.metadata.name}={.status.podIP} {end}",
                ]);
                let pairs: Vec<String> = out.split_whitespace().map(str::to_owned).collect();
                let r = rules(&ns);
                (pairs.len() == 2
                    && pairs.iter().all(|p| {
                        p.split('=').nth(1).is_some_and(|ip| {
                            !ip.is_empty() && r.contains(&format!("dnat to {ip}:"))
                        })
                    }))
                .then_some(pairs)
            });
        let (name, ip) = ips[0].split_once('=').unwrap();
        let start = Instant::now();
        assert_eq!(k(&["delete", "pod", name, "--wait=false"]).0, Some(0));
        lab::eventually("rules updated", Duration::from_secs(30), || {
            (!rules(&ns).contains(&format!("dnat to {ip}:"))).then_some(())
        });
        samples.push(start.elapsed());
    }
    samples.sort();
    println!(
        "service update propagation (pod deleted -> rules on another node): median {:?}, max {:?}",
        samples[2], samples[4]
    );
}
