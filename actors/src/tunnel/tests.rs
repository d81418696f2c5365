//! The tunnel end to end over real websockets on 127.0.0.1: an actix-web server mounting
//! `connect_route`, a TunnelClient connecting to it, the server dialing through the registry to
//! an echo listener on the agent's side.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use actix_web::{App, HttpServer};
use k3rs_net::tunnel::TcpAllowList;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;

use super::*;

const NODE_HEADER: &str = "x-k3rs-test-node";

/// Serves `connect_route` on 127.0.0.1:0, the node name taken from a test header.
fn start_server(registry: TunnelRegistry) -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = HttpServer::new(move || {
        let registry = registry.clone();
        App::new().configure(move |cfg| {
            connect_route(cfg, registry, |req| {
                req.headers()
                    .get(NODE_HEADER)
                    .and_then(|value| value.to_str().ok())
                    .map(str::to_owned)
            })
        })
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .expect("listen")
    .run();
    actix::spawn(server);
    addr
}

/// An echo service on 127.0.0.1:0, standing in for the kubelet.
async fn start_echo() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut read, mut write) = socket.into_split();
                let _ = tokio::io::copy(&mut read, &mut write).await;
                let _ = write.shutdown().await;
            });
        }
    });
    addr
}

fn start_client(
    server: SocketAddr,
    node: &str,
    allowed: SocketAddr,
) -> watch::Receiver<TunnelStatus> {
    let acceptor = TcpAllowList::new(vec![allowed], Duration::from_secs(5));
    let mut config =
        TunnelClientConfig::new(format!("ws://{server}{CONNECT_PATH}"), None, Arc::new(acceptor));
    config.headers.push((NODE_HEADER.to_owned(), node.to_owned()));
    config.backoff =
        Backoff { initial: Duration::from_millis(20), max: Duration::from_millis(200) };
    let client = TunnelClient::new(config);
    let status = client.status();
    client.start();
    status
}

async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    match tokio::time::timeout(Duration::from_secs(20), fut).await {
        Ok(value) => value,
        Err(_) => panic!("{what} did not happen within 20 s"),
    }
}

async fn connects(status: &mut watch::Receiver<TunnelStatus>, at_least: u64) {
    within("the tunnel to connect", status.wait_for(|s| s.connected && s.connects >= at_least))
        .await
        .expect("client alive");
}

async fn echo_through(
    registry: &TunnelRegistry,
    node: &str,
    echo: SocketAddr,
    data: &[u8],
) -> Vec<u8> {
    let mut stream = registry.dial(node, &format!("tcp/{echo}")).await.expect("dial");
    stream.write_all(data).await.expect("write");
    stream.shutdown().await.expect("shutdown");
    let mut back = Vec::new();
    within("the echo", stream.read_to_end(&mut back)).await.expect("read");
    back
}

#[actix::test]
async fn the_server_reaches_the_agents_endpoint_through_the_tunnel() {
    let registry = TunnelRegistry::new();
    let server = start_server(registry.clone());
    let echo = start_echo().await;
    let mut status = start_client(server, "node-a", echo);
    connects(&mut status, 1).await;
    assert!(registry.is_connected("node-a"));

    let data: Vec<u8> = (0..3 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
    assert_eq!(echo_through(&registry, "node-a", echo, &data).await, data);

    // Several streams at once.
    let mut tasks = Vec::new();
    for i in 0..10u8 {
        let registry = registry.clone();
        tasks.push(actix::spawn(async move {
            let data = vec![i; 100_000];
            assert_eq!(echo_through(&registry, "node-a", echo, &data).await, data);
        }));
    }
    for task in tasks {
        task.await.expect("stream task");
    }
    let info = registry.list();
    assert_eq!(info.len(), 1);
    assert!(info[0].bytes_out >= data.len() as u64 + 1_000_000);
}

#[actix::test]
async fn a_target_outside_the_allow_list_is_refused() {
    let registry = TunnelRegistry::new();
    let server = start_server(registry.clone());
    let echo = start_echo().await;
    let other = start_echo().await;
    let mut status = start_client(server, "node-a", echo);
    connects(&mut status, 1).await;
    let mut stream = registry.dial("node-a", &format!("tcp/{other}")).await.expect("dial");
    let err = within("the refusal", stream.read_u8()).await.expect_err("refused");
    assert!(err.to_string().contains("is not allowed"), "{err}");
    let err = registry.dial("node-b", &format!("tcp/{echo}")).await.expect_err("no such node");
    assert!(matches!(err, DialError::NotConnected { .. }));
}

#[actix::test]
async fn the_client_reconnects_after_the_server_drops_it() {
    let registry = TunnelRegistry::new();
    let server = start_server(registry.clone());
    let echo = start_echo().await;
    let mut status = start_client(server, "node-a", echo);
    connects(&mut status, 1).await;
    let mut open = registry.dial("node-a", &format!("tcp/{echo}")).await.expect("dial");

    assert!(registry.disconnect("node-a", "test drops the agent"));
    // The open stream fails, the agent notices and comes back.
    let err = within("the stream to fail", open.read_u8()).await.expect_err("failed");
    assert!(err.to_string().contains("test drops the agent"), "{err}");
    connects(&mut status, 2).await;
    within("the new session to register", async {
        while !registry.is_connected("node-a") {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert_eq!(echo_through(&registry, "node-a", echo, b"again").await, b"again");
}

#[actix::test]
async fn an_unauthenticated_upgrade_is_refused() {
    let registry = TunnelRegistry::new();
    let server = start_server(registry.clone());
    let response = awc::Client::new().ws(format!("ws://{server}{CONNECT_PATH}")).connect().await;
    match response {
        Err(awc::error::WsClientError::InvalidResponseStatus(status)) => {
            assert_eq!(status.as_u16(), 401)
        }
        other => panic!("expected 401, got {:?}", other.map(|(r, _)| r.status())),
    }
    assert!(registry.nodes().is_empty());
}

/// The node name from a verified client certificate `system:node:<name>`, captured when the
/// TLS connection was accepted: how the API server authenticates the tunnel.
#[derive(Clone)]
struct NodeCertificate(Vec<u8>);

fn capture_certificate(conn: &dyn std::any::Any, ext: &mut actix_web::dev::Extensions) {
    use actix_tls::accept::rustls_0_23::TlsStream;
    if let Some(tls) = conn.downcast_ref::<TlsStream<actix_web::rt::net::TcpStream>>()
        && let Some(leaf) = tls.get_ref().1.peer_certificates().and_then(|c| c.first())
    {
        ext.insert(NodeCertificate(leaf.to_vec()));
    }
}

fn node_of_certificate(req: &actix_web::HttpRequest) -> Option<String> {
    let der = req.conn_data::<NodeCertificate>()?;
    let identity = k3rs_api::Identity::from_certificate(&der.0)?;
    identity.user.strip_prefix("system:node:").map(str::to_owned)
}

#[actix::test]
async fn the_agent_connects_over_wss_with_its_node_certificate() {
    use k3rs_net::pki::{CertificateAuthority, LeafSpec};

    let server_ca = CertificateAuthority::generate("server-ca").expect("server ca");
    let client_ca = CertificateAuthority::generate("client-ca").expect("client ca");
    let serving =
        server_ca.issue(&LeafSpec::server("k3rs", &["127.0.0.1".into()])).expect("serving cert");
    let node = client_ca
        .issue(&LeafSpec::client("system:node:node-tls", &["system:nodes"]))
        .expect("node cert");
    let server_tls =
        k3rs_net::tls::server_config(&serving.cert_pem, &serving.key_pem, client_ca.cert_pem())
            .expect("server tls");

    let registry = TunnelRegistry::new();
    let routes = registry.clone();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let server = listener.local_addr().expect("addr");
    let http = HttpServer::new(move || {
        let registry = routes.clone();
        App::new().configure(move |cfg| connect_route(cfg, registry, node_of_certificate))
    })
    .workers(1)
    .disable_signals()
    .on_connect(capture_certificate)
    .listen_rustls_0_23(listener, server_tls)
    .expect("listen")
    .run();
    actix::spawn(http);

    let echo = start_echo().await;
    let client_tls =
        k3rs_net::tls::client_config(server_ca.cert_pem(), Some((&node.cert_pem, &node.key_pem)))
            .expect("client tls");
    let acceptor = TcpAllowList::new(vec![echo], Duration::from_secs(5));
    let client = TunnelClient::new(TunnelClientConfig::new(
        format!("wss://{server}{CONNECT_PATH}"),
        Some(Arc::new(client_tls)),
        Arc::new(acceptor),
    ));
    let mut status = client.status();
    client.start();
    connects(&mut status, 1).await;
    assert_eq!(registry.nodes(), vec!["node-tls".to_owned()]);
    assert_eq!(echo_through(&registry, "node-tls", echo, b"over tls").await, b"over tls");
}
