//! Tunnel throughput over real websockets on loopback: an actix-web server with
//! `connect_route`, a `TunnelClient`, and a TCP discard service on the agent's side that
//! answers with the byte count it read. One stream of 256 MiB, then 100 parallel streams of
//! 4 MiB; payload MiB per second of wall time. Over plain `ws://`, then over `wss://` with the
//! node's client certificate (rustls on both ends, as in a cluster).
//!
//! `cargo bench -p k3rs-actors --bench tunnel` (figures in docs/PERFORMANCE.md).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use actix_web::{App, HttpServer};
use k3rs_actors::tunnel::{
    CONNECT_PATH, TunnelClient, TunnelClientConfig, TunnelRegistry, connect_route,
};
use k3rs_net::tunnel::TcpAllowList;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const MIB: usize = 1024 * 1024;

async fn start_discard() -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                let mut total = 0u64;
                while let Ok(n) = socket.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    total += n as u64;
                }
                let _ = socket.write_u64(total).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    Ok(addr)
}

async fn send(registry: &TunnelRegistry, target: &str, bytes: usize) -> std::io::Result<()> {
    let stream = registry.dial("bench", target).await.map_err(std::io::Error::other)?;
    k3rs_net::tunnel::memory::send_counted(stream, bytes).await
}

fn report(name: &str, bytes: usize, started: Instant) {
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{name:<40} {:>8.1} MiB in {secs:>6.3} s = {:>8.1} MiB/s",
        bytes as f64 / MIB as f64,
        bytes as f64 / MIB as f64 / secs
    );
}

/// Server and client TLS (the client with a node certificate), as a real cluster's.
fn tls_pair() -> std::io::Result<(rustls::ServerConfig, rustls::ClientConfig)> {
    use k3rs_net::pki::{CertificateAuthority, LeafSpec};
    let server_ca = CertificateAuthority::generate("server-ca").map_err(std::io::Error::other)?;
    let client_ca = CertificateAuthority::generate("client-ca").map_err(std::io::Error::other)?;
    let serving = server_ca
        .issue(&LeafSpec::server("k3rs", &["127.0.0.1".into()]))
        .map_err(std::io::Error::other)?;
    let node = client_ca
        .issue(&LeafSpec::client("system:node:bench", &["system:nodes"]))
        .map_err(std::io::Error::other)?;
    let server =
        k3rs_net::tls::server_config(&serving.cert_pem, &serving.key_pem, client_ca.cert_pem())
            .map_err(std::io::Error::other)?;
    let client =
        k3rs_net::tls::client_config(server_ca.cert_pem(), Some((&node.cert_pem, &node.key_pem)))
            .map_err(std::io::Error::other)?;
    Ok((server, client))
}

/// One server, one tunnel, then the two measurements over `ws://` or `wss://`.
async fn measure(tls: bool) -> std::io::Result<()> {
    let registry = TunnelRegistry::new();
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let server_addr = listener.local_addr()?;
    let routes = registry.clone();
    let server = HttpServer::new(move || {
        let registry = routes.clone();
        App::new().configure(move |cfg| connect_route(cfg, registry, |_| Some("bench".to_owned())))
    })
    .workers(1)
    .disable_signals();
    let (server, scheme, client_tls, name) = if tls {
        let (server_tls, client_tls) = tls_pair()?;
        let server = server.listen_rustls_0_23(listener, server_tls)?;
        (server, "wss", Some(Arc::new(client_tls)), "wss loopback")
    } else {
        (server.listen(listener)?, "ws", None, "websocket loopback")
    };
    actix::spawn(server.run());

    let discard = start_discard().await?;
    let acceptor = TcpAllowList::new(vec![discard], Duration::from_secs(5));
    let client = TunnelClient::new(TunnelClientConfig::new(
        format!("{scheme}://{server_addr}{CONNECT_PATH}"),
        client_tls,
        Arc::new(acceptor),
    ));
    let mut status = client.status();
    client.start();
    tokio::time::timeout(Duration::from_secs(10), status.wait_for(|s| s.connected))
        .await
        .map_err(std::io::Error::other)?
        .map_err(std::io::Error::other)?;

    let target = format!("tcp/{discard}");
    send(&registry, &target, 16 * MIB).await?;

    let bytes = 256 * MIB;
    let started = Instant::now();
    send(&registry, &target, bytes).await?;
    report(&format!("{name}, 1 stream"), bytes, started);

    let per_stream = 4 * MIB;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..100 {
        let (registry, target) = (registry.clone(), target.clone());
        tasks.push(actix::spawn(async move { send(&registry, &target, per_stream).await }));
    }
    for task in tasks {
        task.await.map_err(std::io::Error::other)??;
    }
    report(&format!("{name}, 100 parallel streams"), 100 * per_stream, started);
    Ok(())
}

fn main() -> std::io::Result<()> {
    System::new().block_on(async {
        measure(false).await?;
        measure(true).await
    })
}
