//! `metrics.k8s.io/v1beta1`: NodeMetrics and PodMetrics, as metrics-server serves them for
//! `kubectl top`, built on request from each node's kubelet stats (through its tunnel). A
//! node that does not answer is left out, as metrics-server leaves out nodes it cannot scrape.

use std::collections::HashMap;
use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse};
use k3rs_api::Status;
use k3rs_api::path::ResourcePath;
use k3rs_api::selector::Selectors;
use k3rs_api::service::Objects;
use k3rs_api::status::Target;
use k3rs_net::kubelet::{Request, Stats, Usage};
use serde_json::{Value, json};

use super::ApiState;
use super::respond;
use super::tunneled::open;

const GROUP_VERSION: &str = "metrics.k8s.io/v1beta1";
/// How long a node may take to answer.
const ASK_TIMEOUT: Duration = Duration::from_secs(10);

pub async fn serve(state: &ApiState, req: &HttpRequest, path: &ResourcePath<'_>) -> HttpResponse {
    if req.method() != actix_web::http::Method::GET || path.subresource.is_some() {
        return respond::status(Status::method_not_allowed());
    }
    let result = match path.resource {
        "nodes" => nodes(state, req, path).await,
        "pods" => pods(state, req, path).await,
        _ => Err(Status::no_such_path()),
    };
    match result {
        Ok(body) => HttpResponse::Ok().json(body),
        Err(status) => respond::status(status),
    }
}

/// One node's stats, or `None` when it does not answer in time.
async fn ask(state: &ApiState, node: &str) -> Option<Stats> {
    let target = Target { resource: "nodes", group: "", name: node };
    let asked = async {
        let mut stream = open(state, target, Request::Stats).await.ok()?;
        k3rs_net::kubelet::read_message::<_, Stats>(&mut stream).await.ok()
    };
    tokio::time::timeout(ASK_TIMEOUT, asked).await.ok().flatten()
}

/// Every named node's stats, asked in parallel.
async fn ask_all(state: &ApiState, nodes: &[String]) -> HashMap<String, Stats> {
    let asks = nodes.iter().map(|n| async move { (n.clone(), ask(state, n).await) });
    futures_util::future::join_all(asks)
        .await
        .into_iter()
        .filter_map(|(n, s)| s.map(|s| (n, s)))
        .collect()
}

fn usage(u: &Usage) -> Value {
    json!({"cpu": format!("{}n", u.cpu_nanocores), "memory": format!("{}Ki", u.memory_bytes / 1024)})
}

fn window(stats: &Stats) -> String {
    format!("{}.{:03}s", stats.window_ms / 1000, stats.window_ms % 1000)
}

fn selectors(
    req: &HttpRequest,
    def: &k3rs_api::registry::ResourceDef,
) -> Result<Selectors, Status> {
    let get = |k: &str| super::params::get(req, k);
    Selectors::parse(def, get("fieldSelector").as_deref(), get("labelSelector").as_deref())
        .map_err(Status::bad_request)
}

fn now() -> String {
    k3rs_api::objects::timestamp(time::OffsetDateTime::now_utc())
}

async fn nodes(
    state: &ApiState,
    req: &HttpRequest,
    path: &ResourcePath<'_>,
) -> Result<Value, Status> {
    let registry = state.registry.snapshot();
    let def = registry.get("", "v1", "nodes").ok_or_else(Status::no_such_path)?;
    let objects = Objects::new(&state.store, &registry);
    let found: Vec<Value> = match path.name {
        Some(name) => {
            let missing = || {
                Status::not_found(Target { resource: "nodemetrics", group: "metrics.k8s.io", name })
            };
            vec![objects.get(def, None, name).map_err(|_| missing())?]
        }
        None => objects.list(def, None, &selectors(req, def)?)?.0,
    };
    let names: Vec<String> =
        found.iter().filter_map(|n| n["metadata"]["name"].as_str().map(str::to_owned)).collect();
    let stats = ask_all(state, &names).await;
    let items: Vec<Value> = found
        .iter()
        .filter_map(|node| {
            let name = node["metadata"]["name"].as_str()?;
            let s = stats.get(name)?;
            Some(json!({
                "kind": "NodeMetrics",
                "apiVersion": GROUP_VERSION,
                "metadata": {"name": name, "labels": node["metadata"]["labels"], "creationTimestamp": now()},
                "timestamp": now(),
                "window": window(s),
                "usage": usage(&s.node),
            }))
        })
        .collect();
    if let Some(name) = path.name {
        return items.into_iter().next().ok_or_else(|| {
            Status::not_found(Target { resource: "nodemetrics", group: "metrics.k8s.io", name })
        });
    }
    Ok(
        json!({"kind": "NodeMetricsList", "apiVersion": GROUP_VERSION, "metadata": {}, "items": items}),
    )
}

async fn pods(
    state: &ApiState,
    req: &HttpRequest,
    path: &ResourcePath<'_>,
) -> Result<Value, Status> {
    let registry = state.registry.snapshot();
    let def = registry.get("", "v1", "pods").ok_or_else(Status::no_such_path)?;
    let objects = Objects::new(&state.store, &registry);
    let found: Vec<Value> = match path.name {
        Some(name) => {
            let missing = || {
                Status::not_found(Target { resource: "podmetrics", group: "metrics.k8s.io", name })
            };
            vec![objects.get(def, path.namespace, name).map_err(|_| missing())?]
        }
        None => objects.list(def, path.namespace, &selectors(req, def)?)?.0,
    };
    let mut nodes: Vec<String> =
        found.iter().filter_map(|p| p["spec"]["nodeName"].as_str().map(str::to_owned)).collect();
    nodes.sort();
    nodes.dedup();
    let stats = ask_all(state, &nodes).await;
    let items: Vec<Value> = found
        .iter()
        .filter_map(|pod| {
            let s = stats.get(pod["spec"]["nodeName"].as_str()?)?;
            let uid = pod["metadata"]["uid"].as_str()?;
            let containers: Vec<Value> = s
                .containers
                .iter()
                .filter(|c| c.pod_uid == uid)
                .map(|c| json!({"name": c.name, "usage": usage(&c.usage)}))
                .collect();
            if containers.is_empty() {
                return None;
            }
            let meta = &pod["metadata"];
            Some(json!({
                "kind": "PodMetrics",
                "apiVersion": GROUP_VERSION,
                "metadata": {
                    "name": meta["name"], "namespace": meta["namespace"], "labels": meta["labels"],
                    "creationTimestamp": now(),
                },
                "timestamp": now(),
                "window": window(s),
                "containers": containers,
            }))
        })
        .collect();
    if let Some(name) = path.name {
        return items.into_iter().next().ok_or_else(|| {
            Status::not_found(Target { resource: "podmetrics", group: "metrics.k8s.io", name })
        });
    }
    Ok(
        json!({"kind": "PodMetricsList", "apiVersion": GROUP_VERSION, "metadata": {}, "items": items}),
    )
}
