//! The API paths a node's kubelet answers, reached through the node's tunnel with the kubelet
//! protocol (`k3rs_net::kubelet`): the node proxy (`/api/v1/nodes/<node>/proxy/healthz`,
//! whose caller is checked here), `pods/log` and an agent's actor tree (authorized by the
//! routes before they get here), and `open`, which exec, port-forward and metrics use too.
//! What the kubelet answers is relayed as it comes.

use actix_web::{HttpRequest, HttpResponse, web};
use k3rs_api::path::ResourcePath;
use k3rs_api::service::Objects;
use k3rs_api::status::Target;
use k3rs_api::{Status, authz, podlog};
use k3rs_net::kubelet::{self, LogRequest, Reply, Request};
use k3rs_net::tunnel::Stream;
use tokio_util::io::ReaderStream;

use super::ApiState;
use super::caller::{Caller, identify};
use super::respond;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/v1/nodes/{name}/proxy/{path:.*}", web::get().to(node_proxy));
}

/// `GET /api/v1/nodes/<node>/proxy/<path>`: superusers only, as upstream's `nodes/proxy`.
async fn node_proxy(
    state: web::Data<ApiState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> HttpResponse {
    let (node, rest) = path.into_inner();
    let target = Target { resource: "nodes", group: "", name: &node };
    match identify(&req) {
        Caller::Rejected => return respond::status(Status::unauthorized()),
        Caller::Known(who) if !authz::is_superuser(&who) => {
            let proxy = Target { resource: "nodes/proxy", group: "", name: &node };
            return respond::status(Status::forbidden(&who, "get", proxy, None));
        }
        Caller::Known(_) => {}
    }
    let request = match rest.trim_end_matches('/') {
        "healthz" => Request::Healthz,
        _ => return respond::status(Status::no_such_path()),
    };
    match open(&state, target, request).await {
        Ok(stream) => HttpResponse::Ok()
            .content_type("text/plain; charset=utf-8")
            .streaming(ReaderStream::new(stream)),
        Err(status) => respond::status(status),
    }
}

/// `GET .../pods/<name>/log`: the container's log from its node, streamed as it comes (and
/// as long as the agent sends, with `follow=true`). The caller is already authorized.
pub async fn pod_log(state: &ApiState, req: &HttpRequest, path: &ResourcePath<'_>) -> HttpResponse {
    match pod_log_stream(state, req, path).await {
        Ok(stream) => {
            HttpResponse::Ok().content_type("text/plain").streaming(ReaderStream::new(stream))
        }
        Err(status) => respond::status(status),
    }
}

async fn pod_log_stream(
    state: &ApiState,
    req: &HttpRequest,
    path: &ResourcePath<'_>,
) -> Result<Stream, Status> {
    let PodContainer { pod, container, node } = pod_container(state, req, path)?;
    let name = path.name.unwrap_or_default();
    let param = |k: &str| super::params::get(req, k);
    let flag = |k: &str| super::params::flag(req, k);
    let request = LogRequest {
        namespace: path.namespace.unwrap_or_default().to_owned(),
        pod: name.to_owned(),
        uid: pod["metadata"]["uid"].as_str().unwrap_or_default().to_owned(),
        container,
        follow: flag("follow"),
        previous: flag("previous"),
        timestamps: flag("timestamps"),
        tail_lines: podlog::count("tailLines", param("tailLines").as_deref())?,
        since_seconds: podlog::count("sinceSeconds", param("sinceSeconds").as_deref())?,
        since_time: param("sinceTime"),
        limit_bytes: podlog::count("limitBytes", param("limitBytes").as_deref())?,
    };
    let target = Target { resource: "nodes", group: "", name: &node };
    open(state, target, Request::Logs(request)).await
}

/// The pod a `log`/`exec` request names, the container it is for, and the node it runs on.
pub struct PodContainer {
    pub pod: serde_json::Value,
    pub container: String,
    pub node: String,
}

pub fn pod_container(
    state: &ApiState,
    req: &HttpRequest,
    path: &ResourcePath<'_>,
) -> Result<PodContainer, Status> {
    let registry = state.registry.snapshot();
    let pods = registry.get("", "v1", "pods").ok_or_else(Status::no_such_path)?;
    let name = path.name.unwrap_or_default();
    let pod = Objects::new(&state.store, &registry).get(pods, path.namespace, name)?;
    let container = podlog::container(&pod, super::params::get(req, "container").as_deref())?;
    let node = podlog::node(&pod)?;
    Ok(PodContainer { pod, container, node })
}

/// `/admin/actors`: this process's actor tree, or with `?node=<name>` that node's agent's
/// (asked through its tunnel). The caller is already authorized as an admin.
pub async fn admin_actors(state: &ApiState, req: &HttpRequest) -> HttpResponse {
    let Some(node) = super::params::get(req, "node") else {
        return HttpResponse::Ok().json(serde_json::json!({ "actors": state.actors.report() }));
    };
    let target = Target { resource: "nodes", group: "", name: &node };
    let mut stream = match open(state, target, Request::Actors).await {
        Ok(s) => s,
        Err(status) => return respond::status(status),
    };
    let mut body = Vec::new();
    if let Err(e) = tokio::io::AsyncReadExt::read_to_end(&mut stream, &mut body).await {
        return respond::status(Status::unavailable(&format!(
            "reading node {node:?}'s actors: {e}"
        )));
    }
    match serde_json::from_slice::<serde_json::Value>(&body) {
        Ok(actors) => {
            HttpResponse::Ok().json(serde_json::json!({ "node": node, "actors": actors }))
        }
        Err(e) => {
            respond::status(Status::internal(&format!("node {node:?} sent unreadable actors: {e}")))
        }
    }
}

/// Asks `node`'s kubelet `request`; on `Reply::Ok` returns the stream carrying the answer.
pub async fn open(state: &ApiState, node: Target<'_>, request: Request) -> Result<Stream, Status> {
    let registry = state.registry.snapshot();
    let nodes = registry.get("", "v1", "nodes").ok_or_else(|| Status::not_found(node))?;
    Objects::new(&state.store, &registry).get(nodes, None, node.name)?;
    let unreachable = |e: &dyn std::fmt::Display| {
        Status::unavailable(&format!(
            "node {:?} is not reachable through its tunnel: {e}",
            node.name
        ))
    };
    let mut stream =
        state.tunnels.dial(node.name, kubelet::TARGET).await.map_err(|e| unreachable(&e))?;
    kubelet::write_message(&mut stream, &request).await.map_err(|e| unreachable(&e))?;
    match kubelet::read_message::<_, Reply>(&mut stream).await.map_err(|e| unreachable(&e))? {
        Reply::Ok => Ok(stream),
        Reply::Refused { code, message } => Err(Status::relayed(code, message)),
    }
}
