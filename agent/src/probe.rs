//! Container probes as the kubelet runs them: `exec` (a command in the container, exit 0),
//! `tcpSocket` (a connection opens) and `httpGet` (a status from 200 to 399), reached inside
//! the pod's network namespace; their timing (`initialDelaySeconds`, `periodSeconds`,
//! `timeoutSeconds`) and thresholds (`successThreshold`, `failureThreshold`).

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::runtime::Runtime;

/// How a probe checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Exec(Vec<String>),
    Tcp(u16),
    Http {
        port: u16,
        path: String,
        scheme: String,
        headers: Vec<(String, String)>,
    },
    /// A lifecycle hook's `sleep`: wait, then succeed.
    Sleep(Duration),
}

/// A probe of a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    pub action: Action,
    pub initial_delay: Duration,
    pub period: Duration,
    pub timeout: Duration,
    pub success_threshold: u32,
    pub failure_threshold: u32,
}

/// A port number, or a container port's name.
fn port(v: &Value, container: &Value) -> Option<u16> {
    if let Some(n) = v.as_u64() {
        return u16::try_from(n).ok();
    }
    let name = v.as_str()?;
    if let Ok(n) = name.parse() {
        return Some(n);
    }
    container["ports"]
        .as_array()?
        .iter()
        .find(|p| p["name"] == name)
        .and_then(|p| p["containerPort"].as_u64())
        .and_then(|n| u16::try_from(n).ok())
}

impl Probe {
    /// The probe `spec` of `container`, with upstream's defaults; `None` for a kind not
    /// supported (gRPC) or a port that names nothing.
    pub fn parse(spec: &Value, container: &Value) -> Option<Self> {
        let secs = |k: &str, default: u64| Duration::from_secs(spec[k].as_u64().unwrap_or(default));
        let count = |k: &str, default: u32| {
            spec[k]
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .filter(|n| *n > 0)
                .unwrap_or(default)
        };
        let action = action(spec, container)?;
        Some(Probe {
            action,
            initial_delay: secs("initialDelaySeconds", 0),
            period: secs("periodSeconds", 10).max(Duration::from_secs(1)),
            timeout: secs("timeoutSeconds", 1).max(Duration::from_secs(1)),
            success_threshold: count("successThreshold", 1),
            failure_threshold: count("failureThreshold", 3),
        })
    }

    /// A lifecycle hook (`preStop`, `postStart`: exec, httpGet, tcpSocket or sleep) as a
    /// probe run once within `timeout`.
    pub fn hook(handler: &Value, container: &Value, timeout: Duration) -> Option<Self> {
        let action = match handler["sleep"]["seconds"].as_u64() {
            Some(secs) => Action::Sleep(Duration::from_secs(secs)),
            None => action(handler, container)?,
        };
        Some(Probe {
            action,
            initial_delay: Duration::ZERO,
            period: timeout,
            timeout: timeout.max(Duration::from_secs(1)),
            success_threshold: 1,
            failure_threshold: 1,
        })
    }

    /// Run the probe once against container `id` in the network namespace `netns`; `Err`
    /// says why it failed, in the words of the kubelet's `Unhealthy` events.
    pub fn run(&self, runtime: &Runtime, id: &str, netns: &Path) -> Result<(), String> {
        match &self.action {
            Action::Exec(cmd) => runtime.exec(id, cmd, self.timeout),
            Action::Sleep(d) => {
                // The hook's own action is to wait (bounded by the hook's time).
                std::thread::sleep((*d).min(self.timeout));
                Ok(())
            }
            Action::Tcp(port) => in_netns(netns, *port, self.timeout, None),
            Action::Http { port, path, scheme, headers } => {
                let http = Http {
                    path: path.clone(),
                    headers: headers.clone(),
                    tls: scheme.eq_ignore_ascii_case("HTTPS"),
                };
                in_netns(netns, *port, self.timeout, Some(http))
            }
        }
    }
}

/// How `spec` (a probe or a hook handler) checks: exec, tcpSocket or httpGet.
fn action(spec: &Value, container: &Value) -> Option<Action> {
    Some(if let Some(cmd) = spec["exec"]["command"].as_array() {
        Action::Exec(cmd.iter().filter_map(|c| c.as_str().map(str::to_owned)).collect())
    } else if spec.get("tcpSocket").is_some() {
        Action::Tcp(port(&spec["tcpSocket"]["port"], container)?)
    } else if spec.get("httpGet").is_some() {
        let h = &spec["httpGet"];
        Action::Http {
            port: port(&h["port"], container)?,
            path: h["path"].as_str().filter(|p| !p.is_empty()).unwrap_or("/").to_owned(),
            scheme: h["scheme"].as_str().unwrap_or("HTTP").to_owned(),
            headers: h["httpHeaders"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|x| {
                    Some((x["name"].as_str()?.to_owned(), x["value"].as_str()?.to_owned()))
                })
                .collect(),
        }
    } else {
        return None;
    })
}

/// What an httpGet probe asks.
struct Http {
    path: String,
    headers: Vec<(String, String)>,
    /// HTTPS, with the server's certificate not verified (as the kubelet's probes).
    tls: bool,
}

/// Connect to `port` on the pod's loopback inside `netns` (a tcpSocket probe), and for an
/// httpGet probe send the request and read the status: 200-399 pass.
fn in_netns(netns: &Path, port: u16, timeout: Duration, http: Option<Http>) -> Result<(), String> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let stream = crate::sandbox::dial(netns, port, timeout)?;
    let worker = std::thread::spawn(move || -> Result<(), String> {
        let Some(Http { path, headers, tls }) = http else { return Ok(()) };
        let url = format!("{}://{addr}{path}", if tls { "https" } else { "http" });
        let fail = |e: &dyn std::fmt::Display| format!("Get \"{url}\": {e}");
        let _ = stream.set_read_timeout(Some(timeout));
        let _ = stream.set_write_timeout(Some(timeout));
        let mut stream: Box<dyn ReadWrite> = if tls {
            let config = k3rs_net::tls::unverified_client_config().map_err(|e| fail(&e))?;
            let name = rustls::pki_types::ServerName::from(addr.ip());
            let conn = rustls::ClientConnection::new(std::sync::Arc::new(config), name)
                .map_err(|e| fail(&e))?;
            Box::new(rustls::StreamOwned::new(conn, stream))
        } else {
            Box::new(stream)
        };
        let mut request = format!(
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: kube-probe/1.32\r\nAccept: */*\r\nConnection: close\r\n"
        );
        for (k, v) in &headers {
            request.push_str(&format!("{k}: {v}\r\n"));
        }
        request.push_str("\r\n");
        stream.write_all(request.as_bytes()).map_err(|e| fail(&e))?;
        stream.flush().map_err(|e| fail(&e))?;
        // The status line, however the server splits its writes (or TLS its records).
        let mut head = Vec::new();
        let mut chunk = [0u8; 256];
        while !head.contains(&b'\n') && head.len() < 1024 {
            match stream.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => head.extend_from_slice(&chunk[..n]),
                Err(e) if head.is_empty() => return Err(fail(&e)),
                Err(_) => break,
            }
        }
        let line = String::from_utf8_lossy(&head);
        let code: u16 = line.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
        if (200..400).contains(&code) {
            Ok(())
        } else {
            Err(format!("HTTP probe failed with statuscode: {code}"))
        }
    });
    worker.join().unwrap_or_else(|_| Err("the probe thread failed".into()))
}

/// A plain or TLS stream.
trait ReadWrite: Read + Write + Send {}
impl<T: Read + Write + Send> ReadWrite for T {}

/// Consecutive results turned into a verdict, as the kubelet counts them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counter {
    successes: u32,
    failures: u32,
    /// The verdict so far (`None` until a threshold is reached).
    pub healthy: Option<bool>,
}

impl Counter {
    /// Record a result; returns the verdict if it changed.
    pub fn record(&mut self, ok: bool, probe: &Probe) -> Option<bool> {
        if ok {
            self.successes += 1;
            self.failures = 0;
        } else {
            self.failures += 1;
            self.successes = 0;
        }
        let verdict = if self.successes >= probe.success_threshold {
            Some(true)
        } else if self.failures >= probe.failure_threshold {
            Some(false)
        } else {
            self.healthy
        };
        let changed = verdict != self.healthy;
        self.healthy = verdict;
        changed.then_some(verdict).flatten()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    /// A one-request HTTPS server on loopback answering `status`; its port.
    fn https_once(status: u16) -> u16 {
        use k3rs_net::pki::{CertificateAuthority, LeafSpec};
        let ca = CertificateAuthority::generate("probe-test-ca").unwrap();
        let leaf = ca.issue(&LeafSpec::server("probe", &["127.0.0.1".to_owned()])).unwrap();
        let config =
            k3rs_net::tls::server_config(&leaf.cert_pem, &leaf.key_pem, ca.cert_pem()).unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            let (tcp, _) = listener.accept().unwrap();
            let conn = rustls::ServerConnection::new(std::sync::Arc::new(config)).unwrap();
            let mut tls = rustls::StreamOwned::new(conn, tcp);
            let mut request = [0u8; 512];
            let _ = tls.read(&mut request);
            let _ = write!(tls, "HTTP/1.1 {status} X\r\nContent-Length: 0\r\n\r\n");
            let _ = tls.flush();
        });
        port
    }

    #[test]
    fn https_probes_skip_verification_and_read_the_status() {
        // The test's own network namespace stands in for a pod's (entering it needs root).
        if !rustix::process::geteuid().is_root() {
            assert!(
                std::env::var_os("CI").is_none(),
                "this test needs root (it enters a network namespace)"
            );
            return;
        }
        let own = Path::new("/proc/self/ns/net");
        let http = |tls| Some(Http { path: "/healthz".into(), headers: vec![], tls });
        let second = Duration::from_secs(5);
        assert_eq!(in_netns(own, https_once(204), second, http(true)), Ok(()));
        let failed = in_netns(own, https_once(503), second, http(true));
        assert_eq!(failed, Err("HTTP probe failed with statuscode: 503".to_owned()));
    }

    #[test]
    fn probes_parse_with_upstream_defaults_and_named_ports() {
        let c = json!({"ports": [{"name": "http", "containerPort": 8080}]});
        let p = Probe::parse(&json!({"httpGet": {"port": "http"}}), &c).unwrap();
        assert_eq!(
            p.action,
            Action::Http { port: 8080, path: "/".into(), scheme: "HTTP".into(), headers: vec![] }
        );
        assert_eq!(
            (p.period, p.timeout, p.failure_threshold, p.success_threshold),
            (Duration::from_secs(10), Duration::from_secs(1), 3, 1)
        );
        let t = Probe::parse(
            &json!({"tcpSocket": {"port": 53}, "periodSeconds": 2, "failureThreshold": 1}),
            &c,
        )
        .unwrap();
        assert_eq!(
            (t.action, t.period, t.failure_threshold),
            (Action::Tcp(53), Duration::from_secs(2), 1)
        );
        assert_eq!(
            Probe::parse(&json!({"exec": {"command": ["true"]}}), &c).unwrap().action,
            Action::Exec(vec!["true".into()])
        );
        assert!(Probe::parse(&json!({"grpc": {"port": 1}}), &c).is_none());
        assert!(Probe::parse(&json!({"httpGet": {"port": "nope"}}), &c).is_none());
    }

    #[test]
    fn thresholds_turn_results_into_verdicts() {
        let p = Probe::parse(
            &json!({"exec": {"command": ["x"]}, "failureThreshold": 2, "successThreshold": 1}),
            &json!({}),
        )
        .unwrap();
        let mut c = Counter::default();
        assert_eq!(c.record(true, &p), Some(true));
        assert_eq!(c.record(true, &p), None, "no change");
        assert_eq!(c.record(false, &p), None, "one failure is not enough");
        assert_eq!(c.record(false, &p), Some(false));
        assert_eq!(c.record(true, &p), Some(true));
    }
}
