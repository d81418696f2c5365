//! ApiActor over real TLS on 127.0.0.1:0: health and version for anyone, the API only for
//! verified `system:masters` certificates.

use std::sync::Arc;

use k3rs_net::pki::{CertificateAuthority, Issued, LeafSpec};
use k3rs_store::backend::sled::SledBackend;
use k3rs_store::{CompactionPolicy, Datastore, Options};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;

struct Pki {
    server_ca: CertificateAuthority,
    client_ca: CertificateAuthority,
    serving: Issued,
}

fn pki() -> Pki {
    let server_ca = CertificateAuthority::generate("server-ca").unwrap();
    let client_ca = CertificateAuthority::generate("client-ca").unwrap();
    let serving = server_ca
        .issue(&LeafSpec::server("kube-apiserver", &["127.0.0.1".into(), "localhost".into()]))
        .unwrap();
    Pki { server_ca, client_ca, serving }
}

fn client(ca: &CertificateAuthority, cn: &str, groups: &[&str]) -> Issued {
    ca.issue(&LeafSpec::client(cn, groups)).unwrap()
}

async fn start(pki: &Pki, dir: &std::path::Path) -> std::net::SocketAddr {
    let store = Datastore::open(
        Arc::new(SledBackend::open(&dir.join("sled")).unwrap()),
        Options::default(),
    )
    .unwrap();
    let datastore = DatastoreActor::new(store.clone(), CompactionPolicy::default());
    let mailbox = datastore.mailbox();
    let datastore = crate::tree::Tracked::new(datastore.start(), mailbox);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let tls = k3rs_net::tls::server_config(
        &pki.serving.cert_pem,
        &pki.serving.key_pem,
        pki.client_ca.cert_pem(),
    )
    .unwrap();
    let state = ApiState {
        datastore,
        store,
        server_ca_pem: pki.server_ca.cert_pem().to_owned(),
        version: VersionInfo::current("test"),
        registry: k3rs_api::registry::SharedRegistry::new(k3rs_api::registry::Registry::builtin()),
        metrics: Arc::default(),
        server_address: addr.to_string(),
        supervisor: None,
        tunnels: crate::tunnel::TunnelRegistry::new(),
        actors: crate::tree::ActorTree::new(),
        network: k3rs_api::allocator::ServiceNetwork::K3S_DEFAULT,
    };
    ApiActor::new(listener, tls, state).start();
    addr
}

/// One HTTP/1.1 request over TLS; returns the status code and body.
async fn get(
    addr: std::net::SocketAddr,
    ca: &CertificateAuthority,
    identity: Option<&Issued>,
    path: &str,
    extra_headers: &str,
) -> (u16, String) {
    let config = k3rs_net::tls::client_config(
        ca.cert_pem(),
        identity.map(|i| (i.cert_pem.as_str(), i.key_pem.as_str())),
    )
    .unwrap();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let mut tls = connector.connect(name, tcp).await.unwrap();
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra_headers}Connection: close\r\n\r\n"
    );
    tls.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    // The server closes the connection after answering (Connection: close).
    let _ = tls.read_to_end(&mut response).await;
    let text = String::from_utf8_lossy(&response).into_owned();
    let code = text.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    (code, body)
}

#[actix::test]
async fn public_endpoints_answer_anyone() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki();
    let addr = start(&pki, dir.path()).await;
    let (code, body) = get(addr, &pki.server_ca, None, "/version", "").await;
    assert_eq!(code, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!((v["major"].as_str(), v["minor"].as_str()), (Some("1"), Some("32")));
    assert_eq!(get(addr, &pki.server_ca, None, "/healthz", "").await, (200, "ok".into()));
    assert_eq!(get(addr, &pki.server_ca, None, "/readyz", "").await, (200, "ok".into()));
    let (code, body) = get(addr, &pki.server_ca, None, "/readyz?verbose", "").await;
    assert_eq!(code, 200);
    assert!(body.contains("[+]datastore ok") && body.ends_with("readyz check passed"), "{body}");
    assert_eq!(get(addr, &pki.server_ca, None, "/ping", "").await, (200, "pong".into()));
    assert_eq!(get(addr, &pki.server_ca, None, "/cacerts", "").await.1, pki.server_ca.cert_pem());
}

#[actix::test]
async fn the_api_needs_a_masters_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki();
    let addr = start(&pki, dir.path()).await;
    // Anonymous: forbidden.
    let (code, body) = get(addr, &pki.server_ca, None, "/api", "").await;
    assert_eq!(code, 403, "{body}");
    assert!(body.contains("User \\\"system:anonymous\\\" cannot get path \\\"/api\\\""), "{body}");
    // A bearer token no one issued: unauthorized.
    let (code, _) = get(addr, &pki.server_ca, None, "/api", "Authorization: Bearer nope\r\n").await;
    assert_eq!(code, 401);
    // A verified certificate outside system:masters: discovery only (upstream's
    // system:discovery), resources forbidden.
    let bob = client(&pki.client_ca, "bob", &["devs"]);
    assert_eq!(get(addr, &pki.server_ca, Some(&bob), "/api", "").await.0, 200);
    let (code, body) = get(addr, &pki.server_ca, Some(&bob), "/api/v1/pods", "").await;
    assert_eq!(code, 403, "{body}");
    // system:masters passes authorization (and finds nothing there yet).
    let admin = client(&pki.client_ca, "system:admin", &["system:masters"]);
    let (code, body) = get(addr, &pki.server_ca, Some(&admin), "/nothing-here", "").await;
    assert_eq!(code, 404, "{body}");
    assert!(body.contains("\"reason\":\"NotFound\""), "{body}");
    let (code, body) = get(addr, &pki.server_ca, Some(&admin), "/apis/apps/v1", "").await;
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("\"deployments/scale\""), "{body}");
    assert_eq!(get(addr, &pki.server_ca, Some(&admin), "/apis/apps/v9", "").await.0, 404);
}

#[actix::test]
async fn certificates_from_another_ca_are_refused_at_the_handshake() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki();
    let addr = start(&pki, dir.path()).await;
    let rogue_ca = CertificateAuthority::generate("rogue").unwrap();
    let forged = client(&rogue_ca, "system:admin", &["system:masters"]);
    let config = k3rs_net::tls::client_config(
        pki.server_ca.cert_pem(),
        Some((&forged.cert_pem, &forged.key_pem)),
    )
    .unwrap();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    // TLS 1.3 reports the client certificate's rejection on the first read.
    let outcome = async {
        let mut tls = connector.connect(name, tcp).await?;
        tls.write_all(b"GET /api HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await?;
        let mut buf = Vec::new();
        tls.read_to_end(&mut buf).await?;
        Ok::<_, std::io::Error>(buf)
    }
    .await;
    match outcome {
        Err(_) => {}
        Ok(buf) => assert!(
            buf.is_empty(),
            "a forged certificate got an answer: {}",
            String::from_utf8_lossy(&buf)
        ),
    }
}
