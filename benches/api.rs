//! API benchmark over HTTPS against a real `k3rs server` process (release build): creates/s
//! and gets/s with 64 keep-alive connections (p50/p99 latency), a list of 10,000 pods, and watch
//! event latency with 1,000 watches. Run: `cargo bench --bench api`. Figures go to
//! docs/PERFORMANCE.md; nothing here asserts a time.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Target, admin_target, request, rss_kib, start_server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const CONNECTIONS: usize = 64;
const PODS: usize = 10_000;
const GETS: usize = 50_000;
const WATCHES: usize = 1_000;
const WATCHED_WRITES: usize = 20;

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

fn report(what: &str, n: usize, took: Duration, mut lat: Vec<Duration>) {
    lat.sort();
    println!(
        "{what}: {n} in {:.2} s = {:.0}/s, p50 {:.2} ms, p99 {:.2} ms",
        took.as_secs_f64(),
        n as f64 / took.as_secs_f64(),
        percentile(&lat, 0.5),
        percentile(&lat, 0.99)
    );
}

/// Run `total` requests spread over `CONNECTIONS` connections; `make(i)` gives each request.
async fn drive(
    target: &Arc<Target>,
    total: usize,
    make: impl Fn(usize) -> (&'static str, String, Vec<u8>, u16) + Send + Sync + 'static,
) -> (Duration, Vec<Duration>) {
    let make = Arc::new(make);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..CONNECTIONS {
        let (target, make) = (target.clone(), make.clone());
        tasks.push(tokio::spawn(async move {
            let mut conn = target.connect().await;
            let mut lat = Vec::new();
            let mut i = c;
            while i < total {
                let (method, path, body, want) = make(i);
                let t = Instant::now();
                let (code, resp) = request(&mut conn, method, &path, &body).await;
                lat.push(t.elapsed());
                assert_eq!(code, want, "{method} {path}: {}", String::from_utf8_lossy(&resp));
                i += CONNECTIONS;
            }
            lat
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    (started.elapsed(), all)
}

fn pod(i: usize) -> Vec<u8> {
    format!(
        r#"{{"apiVersion":"v1","kind":"Pod","metadata":{{"name":"bench-{i}","labels":{{"app":"bench"}}}},"spec":{{"containers":[{{"name":"c","image":"busybox:1.36","command":["sleep","3600"]}}]}}}}"#
    )
    .into_bytes()
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let (mut child, up) = start_server(dir.path(), port);
    println!("server up (log line) after {:.0} ms", up.as_secs_f64() * 1000.0);
    // Idle means settled: give start-up allocations two seconds to be returned before reading RSS
    // (a measurement delay, not a wait for a condition).
    std::thread::sleep(Duration::from_secs(2));
    println!("idle RSS: {:.1} MiB", rss_kib(child.id()) as f64 / 1024.0);
    let target = admin_target(dir.path(), port);
    let rt =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let (took, lat) = drive(&target, PODS, |i| {
            ("POST", "/api/v1/namespaces/default/pods".into(), pod(i), 201)
        })
        .await;
        report("create pod (64 connections)", PODS, took, lat);
        let (took, lat) = drive(&target, GETS, |i| {
            ("GET", format!("/api/v1/namespaces/default/pods/bench-{}", i % PODS), Vec::new(), 200)
        })
        .await;
        report("get pod (64 connections)", GETS, took, lat);
        let mut conn = target.connect().await;
        let mut lists = Vec::new();
        for _ in 0..5 {
            let t = Instant::now();
            let (code, body) = request(&mut conn, "GET", "/api/v1/pods", b"").await;
            assert_eq!(code, 200);
            lists.push((t.elapsed(), body.len()));
        }
        lists.sort();
        println!(
            "list 10,000 pods: median {:.1} ms ({:.1} MiB JSON)",
            lists[2].0.as_secs_f64() * 1000.0,
            lists[2].1 as f64 / 1048576.0
        );
        watch_latency(&target).await;
    });
    println!("RSS after load: {:.1} MiB", rss_kib(child.id()) as f64 / 1024.0);
    let _ = child.kill();
    let _ = child.wait();
}

/// 1,000 watches on one ConfigMap; each write's delivery time to every watcher.
async fn watch_latency(target: &Arc<Target>) {
    let mut conn = target.connect().await;
    let cm =
        br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"watched"},"data":{"n":"0"}}"#;
    assert_eq!(
        request(&mut conn, "POST", "/api/v1/namespaces/default/configmaps", cm).await.0,
        201
    );
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(usize, Instant)>();
    let ready = Arc::new(tokio::sync::Barrier::new(WATCHES + 1));
    for _ in 0..WATCHES {
        let (target, tx, ready) = (target.clone(), tx.clone(), ready.clone());
        tokio::spawn(async move {
            let mut c = target.connect().await;
            let head = "GET /api/v1/namespaces/default/configmaps?watch=1&fieldSelector=metadata.name%3Dwatched HTTP/1.1\r\nHost: x\r\nAccept: application/json\r\n\r\n";
            c.write_all(head.as_bytes()).await.unwrap();
            let mut buf = Vec::new();
            let mut chunk = [0u8; 8192];
            let mut signalled = false;
            let mut seen = 0usize;
            loop {
                let n = match c.read(&mut chunk).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                buf.extend_from_slice(&chunk[..n]);
                // The first event is the initial ADDED; count MODIFIED events after it.
                let modified = buf.windows(8).filter(|w| w == b"MODIFIED").count();
                if !signalled && buf.windows(5).any(|w| w == b"ADDED") {
                    signalled = true;
                    ready.wait().await;
                }
                while seen < modified {
                    seen += 1;
                    let _ = tx.send((seen, Instant::now()));
                }
            }
        });
    }
    drop(tx);
    ready.wait().await;
    let mut lat = Vec::new();
    for n in 1..=WATCHED_WRITES {
        let body = format!(r#"{{"data":{{"n":"{n}"}}}}"#);
        let sent = Instant::now();
        let head = format!(
            "PATCH /api/v1/namespaces/default/configmaps/watched HTTP/1.1\r\nHost: x\r\nContent-Type: application/merge-patch+json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        conn.write_all(head.as_bytes()).await.unwrap();
        let mut got = 0;
        while got < WATCHES {
            let (i, at) = rx.recv().await.unwrap();
            if i == n {
                lat.push(at - sent);
                got += 1;
            }
        }
        // Drain the PATCH response.
        let mut chunk = [0u8; 16384];
        let _ = tokio::time::timeout(Duration::from_millis(50), conn.read(&mut chunk)).await;
    }
    lat.sort();
    println!(
        "watch delivery, {WATCHES} watches x {WATCHED_WRITES} writes: p50 {:.2} ms, p99 {:.2} ms",
        percentile(&lat, 0.5),
        percentile(&lat, 0.99)
    );
}
