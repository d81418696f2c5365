//! Routes: the public health, version and CA endpoints, and the authenticated API behind them.

use actix_web::HttpMessage;
use actix_web::{HttpRequest, HttpResponse, web};
use k3rs_api::authz::NodeAccess;
use k3rs_api::selector::Selectors;
use k3rs_api::service::Objects;
use k3rs_api::status::Target;
use k3rs_api::{Identity, Status, authz, discovery, openapi};

use super::ApiState;
use super::caller::{Caller, identify};
use super::respond;
use crate::datastore::GetStatus;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/version", web::get().to(version))
        .route("/healthz", web::get().to(alive))
        .route("/livez", web::get().to(alive))
        .route("/readyz", web::get().to(ready))
        .route(
            "/ping",
            web::get().to(|| async { HttpResponse::Ok().content_type("text/plain").body("pong") }),
        )
        .route("/cacerts", web::get().to(cacerts))
        .configure(super::supervisor::configure)
        .default_service(web::to(fallback));
}

async fn version(state: web::Data<ApiState>) -> HttpResponse {
    HttpResponse::Ok().json(&state.version)
}

async fn alive() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain; charset=utf-8").body("ok")
}

/// Ready when the datastore answers and its writer has not failed. `?verbose` lists the checks.
async fn ready(state: web::Data<ApiState>, req: HttpRequest) -> HttpResponse {
    let datastore = match state.datastore.send(GetStatus).await {
        Ok(s) if s.failure.is_none() => Ok(()),
        Ok(s) => Err(s.failure.unwrap_or_default()),
        Err(e) => Err(e.to_string()),
    };
    let verbose =
        req.query_string().split('&').any(|kv| kv == "verbose" || kv.starts_with("verbose="));
    let mut body = String::new();
    if verbose {
        body.push_str("[+]ping ok\n");
        match &datastore {
            Ok(()) => body.push_str("[+]datastore ok\n"),
            Err(_) => body.push_str("[-]datastore failed: reason withheld\n"),
        }
    }
    match datastore {
        Ok(()) => {
            body.push_str(if verbose { "readyz check passed" } else { "ok" });
            HttpResponse::Ok().content_type("text/plain; charset=utf-8").body(body)
        }
        Err(reason) => {
            tracing::warn!(%reason, "readyz: datastore not ready");
            body.push_str("readyz check failed");
            HttpResponse::InternalServerError().content_type("text/plain; charset=utf-8").body(body)
        }
    }
}

async fn cacerts(state: web::Data<ApiState>) -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body(state.server_ca_pem.clone())
}

/// Everything behind authentication: authorize, then discovery or resources, else "not found".
async fn fallback(
    state: web::Data<ApiState>,
    req: HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    let who = match identify(&req) {
        Caller::Known(who) => who,
        Caller::Rejected => return respond::status(Status::unauthorized()),
    };
    if !authz::is_superuser(&who)
        && let Err(refused) = authorize(&state, &req, &who)
    {
        return respond::status(refused);
    }
    use actix_web::http::Method;
    if req.method() == Method::GET && req.path() == "/metrics" {
        return metrics(&state);
    }
    if req.method() == Method::GET && req.path() == "/admin/status" {
        return admin_status(&state);
    }
    if req.method() == Method::GET && req.path() == "/admin/tunnels" {
        return admin_tunnels(&state);
    }
    if req.method() == Method::GET && req.path() == "/admin/actors" {
        return super::tunneled::admin_actors(&state, &req).await;
    }
    if req.method() == Method::GET
        && let Some(found) = discovery(&state, &req)
    {
        return found;
    }
    let Some(path) = k3rs_api::path::parse(req.path()) else {
        return respond::status(Status::no_such_path());
    };
    if req.method() == Method::GET
        && (path.group, path.resource, path.subresource) == ("", "pods", Some("log"))
    {
        return super::tunneled::pod_log(&state, &req, &path).await;
    }
    if path.group == "metrics.k8s.io" {
        return super::metrics::serve(&state, &req, &path).await;
    }
    if (path.group, path.resource, path.subresource) == ("", "pods", Some("portforward")) {
        if req.method() == Method::GET {
            return super::portforward::pod_port_forward(&state, &req, &path, payload).await;
        }
        return respond::status(Status::bad_request(
            "port-forward over SPDY is not supported; use a websocket (SPDY/3.1+portforward.k8s.io)"
                .to_owned(),
        ));
    }
    if path.group.is_empty()
        && path.resource == "pods"
        && matches!(path.subresource, Some("exec" | "attach"))
    {
        if req.method() == Method::GET {
            return super::exec::pod_exec(&state, &req, &path, payload).await;
        }
        // kubectl falls back to SPDY (POST) when the websocket is refused; only websockets
        // are served.
        return respond::status(Status::bad_request(
            "exec and attach over SPDY are not supported; use a websocket (v5.channel.k8s.io)"
                .to_owned(),
        ));
    }
    let started = std::time::Instant::now();
    let response = match *req.method() {
        Method::GET => super::resources::get(&state, &req, &path),
        Method::POST => super::writes::create(&state, &req, &path, payload).await,
        Method::PUT => super::writes::replace(&state, &req, &path, payload).await,
        Method::PATCH => super::writes::patch(&state, &req, &path, payload).await,
        Method::DELETE => super::writes::delete(&state, &req, &path, payload).await,
        _ => respond::status(Status::method_not_allowed()),
    };
    let verb = k3rs_api::metrics::verb(
        req.method().as_str(),
        path.name.is_some(),
        super::params::flag(&req, "watch"),
    );
    state.metrics.record(verb, path.resource, response.status().as_u16(), started.elapsed());
    response
}

/// A node may create only objects named after it (its Node, its Lease); checked by the create
/// handler once the body is read.
#[derive(Debug, Clone)]
pub struct NodeRestriction(pub String);

/// May a caller other than a superuser make this request? Authenticated callers read
/// discovery; nodes do what `authz::node_access` allows, with the pod checks it asks for.
fn authorize(state: &ApiState, req: &HttpRequest, who: &Identity) -> Result<(), Status> {
    let method = req.method().as_str();
    let refuse_path = || Status::forbidden_path(who, &method.to_ascii_lowercase(), req.path());
    if who.is_anonymous() {
        return Err(refuse_path());
    }
    if method == "GET" && authz::is_discovery(req.path()) {
        return Ok(());
    }
    let Some(node) = authz::node_of(who) else { return Err(refuse_path()) };
    let Some(path) = k3rs_api::path::parse(req.path()) else { return Err(refuse_path()) };
    let verb =
        k3rs_api::metrics::verb(method, path.name.is_some(), super::params::flag(req, "watch"));
    let refuse = || {
        let target =
            Target { resource: path.resource, group: path.group, name: path.name.unwrap_or("") };
        Status::forbidden(who, verb, target, path.namespace)
    };
    let registry = state.registry.snapshot();
    let objects = Objects::new(&state.store, &registry);
    let pods = registry.get("", "v1", "pods").ok_or_else(refuse)?;
    let allowed = match authz::node_access(node, verb, &path) {
        NodeAccess::Allow => true,
        NodeAccess::Deny => false,
        NodeAccess::CreateOwn => {
            req.extensions_mut().insert(NodeRestriction(node.to_owned()));
            true
        }
        NodeAccess::PodOnNode => match objects.get(pods, path.namespace, path.name.unwrap_or("")) {
            Ok(pod) => pod["spec"]["nodeName"].as_str() == Some(node),
            Err(e) => e.code == 404,
        },
        NodeAccess::UsedByPod => {
            let selectors = Selectors::parse(pods, Some(&format!("spec.nodeName={node}")), None)
                .map_err(Status::bad_request)?;
            let (items, _) = objects.list(pods, path.namespace, &selectors)?;
            items.iter().any(|p| authz::pod_uses(p, path.resource, path.name.unwrap_or("")))
        }
    };
    if allowed { Ok(()) } else { Err(refuse()) }
}

/// `/admin/status`: servers, the datastore's figures, nodes by their Ready condition.
fn admin_status(state: &ApiState) -> HttpResponse {
    let registry = state.registry.snapshot();
    let objects = Objects::new(&state.store, &registry);
    let get = |plural| registry.get("", "v1", plural);
    let servers = get("endpoints")
        .and_then(|d| objects.get(d, Some("default"), "kubernetes").ok())
        .map(|e| k3rs_api::bootstrap::apiserver_addresses(&e))
        .unwrap_or_default();
    let nodes = get("nodes")
        .and_then(|d| objects.list(d, None, &Selectors::default()).ok())
        .map(|(items, _)| items)
        .unwrap_or_default();
    let stats = state.store.writer_stats();
    let load = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
    let commits = load(&stats.batches);
    let figures = k3rs_api::admin::DatastoreFigures {
        backend: state.store.backend_name(),
        revision: state.store.current_revision(),
        commits,
        writes: load(&stats.writes),
        mean_commit_ms: load(&stats.commit_micros) as f64 / 1000.0 / commits.max(1) as f64,
        last_commit_ms: load(&stats.last_commit_micros) as f64 / 1000.0,
        failure: state.store.failure(),
    };
    HttpResponse::Ok().json(k3rs_api::admin::status(&servers, &figures, &nodes))
}

/// `/admin/tunnels`: each connected agent's tunnel, its uptime and traffic.
fn admin_tunnels(state: &ApiState) -> HttpResponse {
    let tunnels: Vec<serde_json::Value> = state
        .tunnels
        .list()
        .into_iter()
        .map(|t| {
            serde_json::json!({
                "node": t.node,
                "uptimeSeconds": t.uptime.as_secs_f64(),
                "openStreams": t.open_streams,
                "bytesIn": t.bytes_in,
                "bytesOut": t.bytes_out,
            })
        })
        .collect();
    HttpResponse::Ok().json(serde_json::json!({ "tunnels": tunnels }))
}

/// `/metrics` in the Prometheus text format.
fn metrics(state: &ApiState) -> HttpResponse {
    let stats = state.store.writer_stats();
    let load = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
    let figures = k3rs_api::metrics::StoreFigures {
        revision: state.store.current_revision(),
        watchers: state.store.watcher_count(),
        commits: load(&stats.batches),
        writes: load(&stats.writes),
        commit_seconds_total: load(&stats.commit_micros) as f64 / 1e6,
    };
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(state.metrics.render(figures))
}

/// `/api`, `/apis` (legacy or aggregated, as the Accept header asks) and the per-group-version
/// resource lists.
fn discovery(state: &ApiState, req: &HttpRequest) -> Option<HttpResponse> {
    let accept = req
        .headers()
        .get(actix_web::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let aggregated = discovery::wants_aggregated(accept);
    let registry = state.registry.snapshot();
    if req.path() == "/openapi/v3" || req.path() == "/openapi/v3/" {
        return Some(HttpResponse::Ok().json(openapi::index(&registry)));
    }
    if let Some(rest) = req.path().strip_prefix("/openapi/v3/") {
        return Some(match openapi::for_path(&registry, rest) {
            Some(doc) => HttpResponse::Ok().json(doc),
            None => respond::status(Status::no_such_path()),
        });
    }
    let segments: Vec<&str> = req.path().trim_matches('/').split('/').collect();
    let doc = match segments.as_slice() {
        ["api"] if aggregated => {
            return Some(aggregated_response(discovery::aggregated(&registry, true)));
        }
        ["apis"] if aggregated => {
            return Some(aggregated_response(discovery::aggregated(&registry, false)));
        }
        ["api"] => discovery::api_versions(&state.server_address),
        ["apis"] => discovery::group_list(&registry),
        ["api", version] => discovery::resource_list(&registry, "", version)?,
        ["apis", group, version] => discovery::resource_list(&registry, group, version)?,
        _ => return None,
    };
    Some(HttpResponse::Ok().json(doc))
}

fn aggregated_response(doc: serde_json::Value) -> HttpResponse {
    HttpResponse::Ok().content_type(discovery::AGGREGATED_CONTENT_TYPE).body(doc.to_string())
}
