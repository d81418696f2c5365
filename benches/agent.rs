//! Agent benchmark against real release processes: time from starting `k3rs agent` to its Node
//! being Ready (10 agents joining one server, one after another), the agents' idle RSS, and the
//! server's RSS with them. Run: `cargo bench --bench agent`. Figures go to
//! docs/PERFORMANCE.md; nothing here asserts a time.

#![allow(clippy::unwrap_used)]

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{admin_target, free_port, request, rss_kib, start_server};

const AGENTS: usize = 10;

fn start_agent(dir: &std::path::Path, i: usize, port: u16, token: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_k3rs"))
        .args(["agent", "--server", &format!("https://127.0.0.1:{port}"), "--token", token])
        .args(["--node-name", &format!("bench-{i}"), "--node-ip", &format!("127.0.1.{}", i + 1)])
        .args(["--lb-server-port", &free_port().to_string()])
        .arg("--data-dir")
        .arg(dir.join(format!("agent-{i}")))
        .arg("--node-password-file")
        .arg(dir.join(format!("agent-{i}/password")))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let (mut server, _) = start_server(dir.path(), port);
    let token = std::fs::read_to_string(dir.path().join("data/server/token")).unwrap();
    let target = admin_target(dir.path(), port);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let mut agents = Vec::new();
    let mut joins = Vec::new();
    for i in 0..AGENTS {
        let started = Instant::now();
        agents.push(start_agent(dir.path(), i, port, token.trim()));
        let took = rt.block_on(async {
            let mut conn = target.connect().await;
            let path = format!("/api/v1/nodes/bench-{i}");
            loop {
                let (code, body) = request(&mut conn, "GET", &path, b"").await;
                if code == 200 {
                    let node: serde_json::Value = serde_json::from_slice(&body).unwrap();
                    let ready = node["status"]["conditions"].as_array().is_some_and(|c| {
                        c.iter().any(|c| c["type"] == "Ready" && c["status"] == "True")
                    });
                    if ready {
                        return started.elapsed();
                    }
                }
                assert!(
                    started.elapsed() < Duration::from_secs(60),
                    "bench-{i} never became Ready"
                );
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        });
        joins.push(took);
    }
    joins.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "agent start to node Ready ({AGENTS} agents): median {:.0} ms, min {:.0} ms, max {:.0} ms",
        ms(joins[AGENTS / 2]),
        ms(joins[0]),
        ms(joins[AGENTS - 1])
    );
    // Idle means settled: let two heartbeats pass before reading RSS (a measurement delay, not
    // a wait for a condition).
    std::thread::sleep(Duration::from_secs(21));
    let mut rss: Vec<u64> = agents.iter().map(|a| rss_kib(a.id())).collect();
    rss.sort();
    println!(
        "agent idle RSS: median {:.1} MiB (min {:.1}, max {:.1})",
        rss[AGENTS / 2] as f64 / 1024.0,
        rss[0] as f64 / 1024.0,
        rss[AGENTS - 1] as f64 / 1024.0
    );
    println!("server RSS with {AGENTS} agents: {:.1} MiB", rss_kib(server.id()) as f64 / 1024.0);
    for mut a in agents {
        let _ = a.kill();
        let _ = a.wait();
    }
    let _ = server.kill();
    let _ = server.wait();
}
