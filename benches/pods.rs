//! Pod startup on one node with a local image, against real release processes: a server and a
//! standalone agent inside a network namespace this benchmark creates (the pods' bridge and
//! addresses stay there). 100 pods created at 10 per second, then 100 at once; each pod's
//! latency is from its create call returning to the first list that shows it Running. Prints
//! p50/p99/max of both, pods per second at saturation, and the agent's RSS with 100 pods
//! running. Needs root, runc, busybox-static, iproute2 and nftables.
//! Run: `cargo bench --bench pods`. Figures go to docs/PERFORMANCE.md; nothing here asserts a
//! time.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;
use std::os::fd::AsFd;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{admin_target, request, rss_kib};

const PODS: usize = 100;
const PORT: u16 = 6443;

fn ip(args: &[&str]) {
    let ok = Command::new("ip").args(args).status().unwrap().success();
    assert!(ok, "ip {}", args.join(" "));
}

fn pod(name: &str) -> Vec<u8> {
    serde_json::json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "terminationGracePeriodSeconds": 1,
            "containers": [{
                "name": "main",
                "image": "busybox:bench",
                "command": ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"],
            }],
        },
    })
    .to_string()
    .into_bytes()
}

/// Latencies (create returned -> first list showing Running), sorted, and the time from the
/// first create to the last pod Running.
struct Run {
    latencies: Vec<Duration>,
    span: Duration,
}

/// Create `PODS` pods named `<prefix>-<i>` (one every `pace`, or as fast as the API answers)
/// and wait for all to run.
async fn run(target: &common::Target, prefix: &str, pace: Option<Duration>) -> Run {
    let mut conn = target.connect().await;
    let mut lister = target.connect().await;
    let mut created: HashMap<String, Instant> = HashMap::new();
    let mut latencies = Vec::new();
    let first = Instant::now();
    let mut last = first;
    let poll = |created: &mut HashMap<String, Instant>,
                body: &[u8],
                latencies: &mut Vec<Duration>,
                last: &mut Instant| {
        let now = Instant::now();
        let list: serde_json::Value = serde_json::from_slice(body).unwrap();
        for p in list["items"].as_array().into_iter().flatten() {
            let name = p["metadata"]["name"].as_str().unwrap_or_default();
            if p["status"]["phase"] == "Running"
                && let Some(t) = created.remove(name)
            {
                latencies.push(now - t);
                *last = now;
            }
        }
    };
    for i in 0..PODS {
        let body = pod(&format!("{prefix}-{i}"));
        let (code, answer) =
            request(&mut conn, "POST", "/api/v1/namespaces/default/pods", &body).await;
        assert_eq!(code, 201, "{}", String::from_utf8_lossy(&answer));
        created.insert(format!("{prefix}-{i}"), Instant::now());
        if let Some(pace) = pace {
            // Paced creation: look for Running pods while waiting for the next create.
            let next = first + pace * (i as u32 + 1);
            while Instant::now() < next {
                let (_, body) =
                    request(&mut lister, "GET", "/api/v1/namespaces/default/pods", b"").await;
                poll(&mut created, &body, &mut latencies, &mut last);
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
    while !created.is_empty() {
        assert!(first.elapsed() < Duration::from_secs(300), "pods never all ran");
        let (_, body) = request(&mut lister, "GET", "/api/v1/namespaces/default/pods", b"").await;
        poll(&mut created, &body, &mut latencies, &mut last);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    latencies.sort();
    Run { latencies, span: last - first }
}

fn report(what: &str, run: &Run) {
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let l = &run.latencies;
    println!(
        "pod create to Running, {what} (one node, local image): p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
        ms(l[l.len() / 2]),
        ms(l[l.len() * 99 / 100]),
        ms(l[l.len() - 1])
    );
}

/// Delete every pod and wait until they are gone (their containers with them).
async fn delete_all(target: &common::Target) {
    let mut conn = target.connect().await;
    let (code, _) = request(&mut conn, "DELETE", "/api/v1/namespaces/default/pods", b"").await;
    assert_eq!(code, 200);
    let started = Instant::now();
    loop {
        let (_, body) = request(&mut conn, "GET", "/api/v1/namespaces/default/pods", b"").await;
        let list: serde_json::Value = serde_json::from_slice(&body).unwrap();
        if list["items"].as_array().is_none_or(|i| i.is_empty()) {
            return;
        }
        assert!(started.elapsed() < Duration::from_secs(120), "pods were not removed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn spawn(args: &[&str], dir: &std::path::Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_k3rs"))
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn main() {
    if !rustix::process::geteuid().is_root() {
        eprintln!("the pods benchmark runs containers: run it as root");
        return;
    }
    // This process (and the server and agent it starts) live in a namespace of its own.
    let netns = format!("k3rs-bench-{}", std::process::id());
    ip(&["netns", "add", &netns]);
    ip(&["-n", &netns, "link", "set", "lo", "up"]);
    let ns = std::fs::File::open(format!("/run/netns/{netns}")).unwrap();
    rustix::thread::move_into_link_name_space(
        ns.as_fd(),
        Some(rustix::thread::LinkNameSpaceType::Network),
    )
    .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let images = dir.path().join("agent/agent/images");
    std::fs::create_dir_all(&images).unwrap();
    let archive = k3rs_images::testing::busybox_archive("busybox:bench", &["sh", "sleep"]).unwrap();
    std::fs::write(images.join("busybox.tar"), archive).unwrap();

    let server_dir = dir.path().join("server");
    let kubeconfig = dir.path().join("kubeconfig");
    let mut server = Command::new(env!("CARGO_BIN_EXE_k3rs"))
        .args(["server", "--disable-agent", "--https-listen-port", &PORT.to_string()])
        .args(["--node-ip", "127.0.0.1"])
        .arg("--data-dir")
        .arg(&server_dir)
        .arg("--write-kubeconfig")
        .arg(&kubeconfig)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let token_file = server_dir.join("server/token");
    let up = Instant::now();
    while !kubeconfig.exists() || !token_file.exists() {
        assert!(up.elapsed() < Duration::from_secs(30), "the server did not start");
        // Polling for the server's files: a short pause between looks.
        std::thread::sleep(Duration::from_millis(20));
    }
    let token = std::fs::read_to_string(&token_file).unwrap();
    let password = dir.path().join("password");
    let mut agent = spawn(
        &[
            "agent",
            "--server",
            &format!("https://127.0.0.1:{PORT}"),
            "--token",
            token.trim(),
            "--node-name",
            "bench-node",
            "--node-ip",
            "127.0.0.1",
            "--node-password-file",
            password.to_str().unwrap(),
        ],
        &dir.path().join("agent"),
    );
    let target = admin_target(dir.path(), PORT);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let mut conn = target.connect().await;
        // Ready node with a pod range (its bridge follows within the second).
        let started = Instant::now();
        loop {
            let (code, body) = request(&mut conn, "GET", "/api/v1/nodes/bench-node", b"").await;
            if code == 200 {
                let node: serde_json::Value = serde_json::from_slice(&body).unwrap();
                let ready = node["status"]["conditions"]
                    .as_array()
                    .is_some_and(|c| c.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"));
                if ready && node["spec"]["podCIDR"].is_string() {
                    break;
                }
            }
            assert!(started.elapsed() < Duration::from_secs(60), "the node never became Ready");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }

        // Paced: 100 pods at 10 per second, each timed alone (what a user creating pods sees).
        let paced = run(&target, "paced", Some(Duration::from_millis(100))).await;
        report("paced at 10 pods/s", &paced);
        delete_all(&target).await;
        // A burst: all 100 at once, the node at saturation.
        let burst = run(&target, "burst", None).await;
        report("burst of 100", &burst);
        println!(
            "throughput at saturation: {:.1} pods/s ({PODS} pods Running {:.2} s after the first create)",
            PODS as f64 / burst.span.as_secs_f64(),
            burst.span.as_secs_f64()
        );
        // A settled reading: two heartbeats after the last pod started (a measurement delay).
        tokio::time::sleep(Duration::from_secs(21)).await;
        println!(
            "agent RSS with {PODS} running pods: {:.1} MiB; server RSS: {:.1} MiB",
            rss_kib(agent.id()) as f64 / 1024.0,
            rss_kib(server.id()) as f64 / 1024.0
        );
        delete_all(&target).await;
    });
    let _ = agent.kill();
    let _ = agent.wait();
    let _ = server.kill();
    let _ = server.wait();
    let _ = Command::new("ip").args(["netns", "delete", &netns]).status();
}
