//! Joining a server, in K3s's order: fetch `/cacerts` before trusting anything and check it
//! against the token's CA hash; from then on trust only that CA; read `/v1-k3rs/config`; post
//! certificate requests for the kubelet client and serving certificates (the server checks the
//! node password first); read `/v1-k3rs/apiservers`.

use std::net::IpAddr;
use std::path::PathBuf;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use k3rs_net::pki::{Issued, certificate_request};
use k3rs_net::supervisor::{HEADER_NODE_IP, HEADER_NODE_NAME, HEADER_NODE_PASSWORD};
use k3rs_net::token::{Credentials, Token};
use serde_json::Value;

use crate::AgentError;
use crate::client::{Answer, Https};

/// What joining needs.
#[derive(Debug, Clone)]
pub struct JoinRequest {
    /// `https://host:port`.
    pub server: String,
    pub token: Token,
    pub node: String,
    pub password: String,
    /// Named in the password-rejected message.
    pub password_file: PathBuf,
    pub node_ips: Vec<IpAddr>,
}

/// What the agent gets by joining.
#[derive(Debug, Clone)]
pub struct Joined {
    pub ca_pem: String,
    /// `system:node:<name>` in `system:nodes`, for the API and the tunnel.
    pub client: Issued,
    /// The kubelet's serving certificate.
    pub serving: Issued,
    /// `/v1-k3rs/config`.
    pub config: Value,
    /// `host:port` of every API server.
    pub apiservers: Vec<String>,
}

/// `/cacerts`, fetched without verifying the server, then checked against the token's hash.
pub async fn cluster_ca(server: &str, token: &Token) -> Result<String, AgentError> {
    let client = Https::new(server, k3rs_net::tls::unverified_client_config()?, Vec::new());
    let answer = client.get("/cacerts").await?;
    if !answer.ok() {
        return Err(status("failed to get CA certs", &answer));
    }
    let ca = answer.text();
    token.verify_ca(ca.as_bytes())?;
    Ok(ca)
}

/// The Basic credentials and node headers of supervisor requests.
fn supervisor_headers(req: &JoinRequest) -> Vec<(String, String)> {
    let (user, password) = match &req.token.credentials {
        Credentials::Password { username, password } => {
            (if username.is_empty() { "node" } else { username.as_str() }, password.as_str())
        }
        Credentials::Bootstrap { id, secret } => (id.as_str(), secret.as_str()),
    };
    let basic = STANDARD.encode(format!("{user}:{password}"));
    let ips: Vec<String> = req.node_ips.iter().map(ToString::to_string).collect();
    vec![
        ("Authorization".into(), format!("Basic {basic}")),
        (HEADER_NODE_NAME.into(), req.node.clone()),
        (HEADER_NODE_PASSWORD.into(), req.password.clone()),
        (HEADER_NODE_IP.into(), ips.join(",")),
    ]
}

/// Join: every step of K3s's agent start-up that talks to the supervisor.
pub async fn join(req: &JoinRequest) -> Result<Joined, AgentError> {
    let ca_pem = cluster_ca(&req.server, &req.token).await?;
    let tls = k3rs_net::tls::client_config(&ca_pem, None)?;
    let sup = Https::new(&req.server, tls, supervisor_headers(req));

    let answer = sup.get("/v1-k3rs/config").await?;
    check(req, "failed to get /v1-k3rs/config", &answer)?;
    let config = answer.json()?;

    let client =
        certificate(req, &sup, "/v1-k3rs/client-kubelet.crt", &format!("system:node:{}", req.node))
            .await?;
    let serving = certificate(req, &sup, "/v1-k3rs/serving-kubelet.crt", &req.node).await?;

    let answer = sup.get("/v1-k3rs/apiservers").await?;
    check(req, "failed to get /v1-k3rs/apiservers", &answer)?;
    let apiservers = serde_json::from_value(answer.json()?).unwrap_or_default();
    Ok(Joined { ca_pem, client, serving, config, apiservers })
}

/// Post a certificate request to `path`; the answer is the certificate and the CA.
async fn certificate(
    req: &JoinRequest,
    sup: &Https,
    path: &str,
    common_name: &str,
) -> Result<Issued, AgentError> {
    let (csr, key_pem) = certificate_request(common_name)?;
    let answer = sup
        .send(awc::http::Method::POST, path, Some(("application/x-pem-file", csr.into_bytes())))
        .await?;
    check(req, &format!("failed to get {path}"), &answer)?;
    Ok(Issued { cert_pem: answer.text(), key_pem })
}

/// Turn a refusal into the error K3s reports for it.
fn check(req: &JoinRequest, what: &str, answer: &Answer) -> Result<(), AgentError> {
    match answer.code {
        c if (200..300).contains(&c) => Ok(()),
        401 => Err(AgentError::Unauthorized { server: req.server.clone() }),
        403 => Err(AgentError::PasswordRejected(req.password_file.clone())),
        _ => Err(status(what, answer)),
    }
}

fn status(what: &str, answer: &Answer) -> AgentError {
    AgentError::Status { what: what.to_owned(), code: answer.code, message: answer.message() }
}
