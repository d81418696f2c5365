//! What the benchmarks share: a TLS client for the API, one-request helper, starting a release
//! `k3rs server`, reading its kubeconfig, and a process's RSS.

#![allow(dead_code, clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

pub struct Target {
    pub port: u16,
    pub tls: TlsConnector,
}

impl Target {
    pub async fn connect(&self) -> TlsStream<TcpStream> {
        let tcp = TcpStream::connect(("127.0.0.1", self.port)).await.unwrap();
        tcp.set_nodelay(true).unwrap();
        let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
        self.tls.connect(name, tcp).await.unwrap()
    }
}

/// One request on a keep-alive connection; returns the status code and body.
pub async fn request(
    conn: &mut TlsStream<TcpStream>,
    method: &str,
    path: &str,
    body: &[u8],
) -> (u16, Vec<u8>) {
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: k3rs-bench/0 (records managedFields as kubectl does)\r\nContent-Type: application/json\r\nAccept: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    conn.write_all(body).await.unwrap();
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 16384];
    let header_end = loop {
        let n = conn.read(&mut chunk).await.unwrap();
        assert!(n > 0, "connection closed");
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..header_end]).to_string();
    let code: u16 = head.split(' ').nth(1).unwrap().parse().unwrap();
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length").then(|| v.trim().parse().unwrap())
        })
        .expect("a content-length response");
    while buf.len() < header_end + length {
        let n = conn.read(&mut chunk).await.unwrap();
        assert!(n > 0, "connection closed mid-body");
        buf.extend_from_slice(&chunk[..n]);
    }
    (code, buf[header_end..header_end + length].to_vec())
}

pub fn start_server(dir: &std::path::Path, port: u16) -> (Child, Duration) {
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_k3rs"))
        .args(["server", "--disable-agent", "--https-listen-port", &port.to_string()])
        // Advertised at loopback, so agents never dial the machine's own address.
        .args(["--node-ip", "127.0.0.1"])
        .arg("--data-dir")
        .arg(dir.join("data"))
        .arg("--write-kubeconfig")
        .arg(dir.join("kubeconfig"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    loop {
        let line = lines.next().expect("server exited").unwrap();
        if line.contains("k3rs server is up") {
            break;
        }
    }
    let up = started.elapsed();
    std::thread::spawn(move || for _ in lines {});
    (child, up)
}

pub fn kubeconfig_field(text: &str, key: &str) -> String {
    let line = text.lines().find(|l| l.trim_start().starts_with(key)).unwrap();
    let b64 = line.split_once(':').unwrap().1.trim();
    String::from_utf8(base64::engine::general_purpose::STANDARD.decode(b64).unwrap()).unwrap()
}

pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// A free port on 127.0.0.1.
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// A client TLS connector with the admin credentials of the kubeconfig in `dir`.
pub fn admin_target(dir: &std::path::Path, port: u16) -> std::sync::Arc<Target> {
    let kc = std::fs::read_to_string(dir.join("kubeconfig")).unwrap();
    let ca = kubeconfig_field(&kc, "certificate-authority-data");
    let cert = kubeconfig_field(&kc, "client-certificate-data");
    let key = kubeconfig_field(&kc, "client-key-data");
    let config = k3rs_net::tls::client_config(&ca, Some((&cert, &key))).unwrap();
    std::sync::Arc::new(Target { port, tls: TlsConnector::from(std::sync::Arc::new(config)) })
}
