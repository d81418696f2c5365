//! The supervisor endpoints agents join with: `/v1-k3rs/config`, `/v1-k3rs/readyz`,
//! `/v1-k3rs/apiservers`, and the kubelet certificates `/v1-k3rs/client-kubelet.crt` and
//! `/v1-k3rs/serving-kubelet.crt` (the agent posts a CSR; its node password is checked first).
//! Glue only: the protocol is `k3rs_api::supervisor`.

use std::sync::Arc;

use actix_web::http::header::AUTHORIZATION;
use actix_web::{HttpRequest, HttpResponse, web};
use k3rs_api::service::Objects;
use k3rs_api::supervisor::{self, PasswordCheck, Secrets};
use k3rs_api::{Identity, Status};
use k3rs_net::nodepass;
use k3rs_net::pki::CertificateAuthority;
use serde_json::Value;

use super::caller::{Caller, identify};
use super::{ApiState, respond};

/// What the supervisor signs with and tells agents.
pub struct Supervisor {
    pub secrets: Secrets,
    /// Signs kubelet client certificates (`system:node:<name>`).
    pub client_ca: CertificateAuthority,
    /// Signs kubelet serving certificates.
    pub server_ca: CertificateAuthority,
    /// `/v1-k3rs/config`: the cluster settings agents need.
    pub config: Value,
}

impl std::fmt::Debug for Supervisor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Supervisor").field("config", &self.config).finish_non_exhaustive()
    }
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/v1-k3rs/config", web::get().to(config))
        .route("/v1-k3rs/readyz", web::get().to(readyz))
        .route("/v1-k3rs/apiservers", web::get().to(apiservers))
        .route("/v1-k3rs/client-kubelet.crt", web::post().to(client_cert))
        .route("/v1-k3rs/serving-kubelet.crt", web::post().to(serving_cert));
}

fn header<'r>(req: &'r HttpRequest, name: &str) -> Option<&'r str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// The caller's certificate identity, if it presented one.
fn certificate_identity(req: &HttpRequest) -> Option<Identity> {
    match identify(req) {
        Caller::Known(id) if !id.is_anonymous() => Some(id),
        _ => None,
    }
}

/// Authenticate a supervisor request: the supervisor and the role, or the error to answer.
fn admit(state: &ApiState, req: &HttpRequest) -> Result<Arc<Supervisor>, Status> {
    let sup = state.supervisor.clone().ok_or_else(Status::no_such_path)?;
    let identity = certificate_identity(req);
    supervisor::authenticate(identity.as_ref(), header(req, AUTHORIZATION.as_str()), &sup.secrets)
        .ok_or_else(Status::unauthorized)?;
    Ok(sup)
}

async fn config(state: web::Data<ApiState>, req: HttpRequest) -> HttpResponse {
    match admit(&state, &req) {
        Ok(sup) => HttpResponse::Ok().json(&sup.config),
        Err(e) => respond::status(e),
    }
}

async fn readyz(state: web::Data<ApiState>, req: HttpRequest) -> HttpResponse {
    match admit(&state, &req) {
        Ok(_) => HttpResponse::Ok().content_type("text/plain").body("ok"),
        Err(e) => respond::status(e),
    }
}

/// The API servers' addresses (`host:port`), from the `kubernetes` Endpoints in `default`.
async fn apiservers(state: web::Data<ApiState>, req: HttpRequest) -> HttpResponse {
    if let Err(e) = admit(&state, &req) {
        return respond::status(e);
    }
    let registry = state.registry.snapshot();
    let objects = Objects::new(&state.store, &registry);
    let Some(def) = registry.get("", "v1", "endpoints") else {
        return HttpResponse::Ok().json(Vec::<String>::new());
    };
    let endpoints = objects.get(def, Some("default"), "kubernetes").unwrap_or(Value::Null);
    HttpResponse::Ok().json(k3rs_api::bootstrap::apiserver_addresses(&endpoints))
}

async fn client_cert(state: web::Data<ApiState>, req: HttpRequest, body: String) -> HttpResponse {
    certificate(state, req, body, false).await.unwrap_or_else(respond::status)
}

async fn serving_cert(state: web::Data<ApiState>, req: HttpRequest, body: String) -> HttpResponse {
    certificate(state, req, body, true).await.unwrap_or_else(respond::status)
}

/// Check the node's password (creating its Secret on first join), then sign its request.
async fn certificate(
    state: web::Data<ApiState>,
    req: HttpRequest,
    csr: String,
    serving: bool,
) -> Result<HttpResponse, Status> {
    let sup = admit(&state, &req)?;
    let identity = certificate_identity(&req);
    let node =
        supervisor::node_name(header(&req, supervisor::HEADER_NODE_NAME), identity.as_ref())?;
    let password = supervisor::node_password(header(&req, supervisor::HEADER_NODE_PASSWORD))?;
    let _span = tracing::info_span!("supervisor", actor = "ApiActor", node = %node).entered();
    check_node_password(&state, &node, password).await?;
    let (ca, spec) = if serving {
        (&sup.server_ca, supervisor::serving_spec(&node, header(&req, supervisor::HEADER_NODE_IP)))
    } else {
        (&sup.client_ca, supervisor::client_spec(&node))
    };
    let chain = ca
        .sign_request(&csr, &spec)
        .map_err(|e| Status::bad_request(format!("invalid certificate request: {e}")))?;
    tracing::info!(serving, "issued a kubelet certificate");
    Ok(HttpResponse::Ok().content_type("text/plain").body(chain))
}

async fn check_node_password(state: &ApiState, node: &str, password: &str) -> Result<(), Status> {
    let registry = state.registry.snapshot();
    let objects = Objects::new(&state.store, &registry);
    let def = registry.get("", "v1", "secrets").ok_or_else(Status::no_such_path)?;
    let name = nodepass::secret_name(node);
    for _ in 0..2 {
        let stored = match objects.get(def, Some("kube-system"), &name) {
            Ok(s) => Some(s),
            Err(e) if e.code == 404 => None,
            Err(e) => return Err(e),
        };
        let (n, p) = (node.to_owned(), password.to_owned());
        let check = web::block(move || supervisor::check_password(&n, &p, stored.as_ref()))
            .await
            .map_err(|e| Status::internal(&e.to_string()))??;
        match check {
            PasswordCheck::Verified => return Ok(()),
            PasswordCheck::Rejected => {
                tracing::warn!("node password rejected");
                return Err(supervisor::password_rejected(node));
            }
            PasswordCheck::Create(secret) => {
                match objects.create(def, Some("kube-system"), secret, false).await {
                    Ok(_) => return Ok(()),
                    // Another request of the same node got there first: verify against it.
                    Err(e) if e.code == 409 => continue,
                    Err(e) => return Err(e),
                }
            }
        }
    }
    Err(supervisor::password_rejected(node))
}
