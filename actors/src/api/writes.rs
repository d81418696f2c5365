//! Writing resources: `POST` (create), `PUT` (replace, compare-and-swap on `resourceVersion`),
//! `PATCH` (merge or JSON patch) and `DELETE`. Bodies are JSON for now; checks and defaults come
//! from `k3rs_api::write` and `k3rs_api::patch`. Each handler is a `Result<_, Status>` function;
//! the error becomes a response in one place (`respond`).

use actix_web::http::StatusCode;
use actix_web::http::header::CONTENT_TYPE;
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::StreamExt;
use k3rs_api::patch::{self, PatchType};
use k3rs_api::path::ResourcePath;
use k3rs_api::registry::ResourceDef;
use k3rs_api::status::{MAX_BODY_BYTES, Target};
use k3rs_api::{Status, objects, write};
use k3rs_store::{KeyRange, KeyValue, ListRequest, StoreError};
use serde_json::Value;

use super::{ApiState, params, respond};

/// The characters upstream uses for `generateName` suffixes (no vowels, no look-alikes).
const SUFFIX_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
/// Times an update is recomputed when another write got in between.
const UPDATE_ATTEMPTS: usize = 5;

/// What a write request is about, resolved from its path.
struct Object<'a> {
    def: &'a ResourceDef,
    namespace: Option<&'a str>,
    name: Option<&'a str>,
}

impl<'a> Object<'a> {
    fn resolve(state: &'a ApiState, path: &ResourcePath<'a>) -> Result<Self, Status> {
        match state.registry.get(path.group, path.version, path.resource) {
            Some(def) if path.subresource.is_none() => {
                let namespace = if def.namespaced { path.namespace } else { None };
                Ok(Object { def, namespace, name: path.name })
            }
            _ => Err(Status::no_such_path()),
        }
    }

    /// The object's name; writes other than create need one.
    fn name(&self) -> Result<&'a str, Status> {
        self.name.ok_or_else(Status::method_not_allowed)
    }

    fn target(&self, name: &'a str) -> Target<'a> {
        Target { resource: &self.def.plural, group: &self.def.group, name }
    }

    fn key(&self, name: &str) -> String {
        objects::key(self.def, self.namespace, name)
    }
}

/// Run a handler body and answer its error as a `Status`.
fn answer(result: Result<HttpResponse, Status>) -> HttpResponse {
    result.unwrap_or_else(respond::status)
}

/// Read and decode the body: at most 3 MiB of JSON.
async fn body(req: &HttpRequest, mut payload: web::Payload) -> Result<Value, Status> {
    let content_type = content_type(req).unwrap_or("application/json");
    if !content_type.contains("json") {
        return Err(Status::unsupported_media_type(content_type));
    }
    let mut bytes = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|e| Status::bad_request(format!("reading the request body: {e}")))?;
        if bytes.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(Status::too_large());
        }
        bytes.extend_from_slice(&chunk);
    }
    serde_json::from_slice(&bytes)
        .map_err(|e| Status::bad_request(format!("the request body is not valid JSON: {e}")))
}

fn content_type(req: &HttpRequest) -> Option<&str> {
    req.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok())
}

fn dry_run(req: &HttpRequest) -> bool {
    params::get(req, "dryRun").is_some_and(|v| v == "All")
}

fn decode(kv: &KeyValue) -> Result<Value, Status> {
    objects::from_store(kv)
        .map_err(|e| Status::internal(&format!("stored object is unreadable: {e}")))
}

fn encode(obj: &Value) -> Result<Vec<u8>, Status> {
    serde_json::to_vec(obj).map_err(|e| Status::internal(&e.to_string()))
}

fn respond_with(code: StatusCode, kv: &KeyValue) -> Result<HttpResponse, Status> {
    Ok(HttpResponse::build(code).json(decode(kv)?))
}

/// The stored object, or 404.
fn current(state: &ApiState, key: &str, target: Target<'_>) -> Result<KeyValue, Status> {
    match state.store.get(key) {
        Ok(Some(kv)) => Ok(kv),
        Ok(None) => Err(Status::not_found(target)),
        Err(e) => Err(Status::from_store(&e, target)),
    }
}

pub async fn create(
    state: &ApiState,
    req: &HttpRequest,
    path: &ResourcePath<'_>,
    payload: web::Payload,
) -> HttpResponse {
    answer(create_inner(state, req, path, payload).await)
}

async fn create_inner(
    state: &ApiState,
    req: &HttpRequest,
    path: &ResourcePath<'_>,
    payload: web::Payload,
) -> Result<HttpResponse, Status> {
    let o = Object::resolve(state, path)?;
    if o.name.is_some() {
        return Err(Status::method_not_allowed());
    }
    let obj = body(req, payload).await?;
    let now = objects::timestamp(time::OffsetDateTime::now_utc());
    let (name, obj) =
        write::prepare_create(o.def, o.namespace, obj, &objects::new_uid(), &now, &suffix())?;
    if let Some(ns) = o.namespace {
        let ns_target = Target { resource: "namespaces", group: "", name: ns };
        let ns_def = state
            .registry
            .get("", "v1", "namespaces")
            .ok_or_else(|| Status::not_found(ns_target))?;
        current(state, &objects::key(ns_def, None, ns), ns_target)?;
    }
    if dry_run(req) {
        return Ok(HttpResponse::Created().json(obj));
    }
    let kv = state
        .store
        .create(&o.key(&name), encode(&obj)?)
        .await
        .map_err(|e| Status::from_store(&e, o.target(&name)))?;
    respond_with(StatusCode::CREATED, &kv)
}

pub async fn replace(
    state: &ApiState,
    req: &HttpRequest,
    path: &ResourcePath<'_>,
    payload: web::Payload,
) -> HttpResponse {
    answer(replace_inner(state, req, path, payload).await)
}

async fn replace_inner(
    state: &ApiState,
    req: &HttpRequest,
    path: &ResourcePath<'_>,
    payload: web::Payload,
) -> Result<HttpResponse, Status> {
    let o = Object::resolve(state, path)?;
    let name = o.name()?;
    let obj = body(req, payload).await?;
    // A replace states the whole object: one attempt, conditional on its resourceVersion if any.
    update_with(state, req, &o, name, |_| Ok((obj.clone(), true))).await
}

/// `PATCH`: apply a merge or JSON patch to the current object and store it with compare-and-swap,
/// retrying when another write got in between (unless the patch carries a `resourceVersion`
/// precondition, which then fails with 409 as upstream's does).
pub async fn patch(
    state: &ApiState,
    req: &HttpRequest,
    path: &ResourcePath<'_>,
    payload: web::Payload,
) -> HttpResponse {
    answer(patch_inner(state, req, path, payload).await)
}

async fn patch_inner(
    state: &ApiState,
    req: &HttpRequest,
    path: &ResourcePath<'_>,
    payload: web::Payload,
) -> Result<HttpResponse, Status> {
    let o = Object::resolve(state, path)?;
    let name = o.name()?;
    let kind = PatchType::from_content_type(content_type(req).unwrap_or(""))?;
    let patch_body = body(req, payload).await?;
    update_with(state, req, &o, name, |existing| {
        let patched = patch::apply(kind, existing, &patch_body)?;
        let pinned = patch::precondition(&patched, existing).is_some();
        Ok((patched, pinned))
    })
    .await
}

/// Read the current object, compute the new one with `next` (which also says whether the result
/// is pinned to a revision the client chose), check it, and store it with compare-and-swap. An
/// unpinned update is recomputed and retried when another write got in between.
async fn update_with(
    state: &ApiState,
    req: &HttpRequest,
    o: &Object<'_>,
    name: &str,
    next: impl Fn(&Value) -> Result<(Value, bool), Status>,
) -> Result<HttpResponse, Status> {
    let key = o.key(name);
    let target = Target { resource: &o.def.plural, group: &o.def.group, name };
    for _ in 0..UPDATE_ATTEMPTS {
        let existing = decode(&current(state, &key, target)?)?;
        let (wanted, pinned) = next(&existing)?;
        let (obj, expected) = write::prepare_update(o.def, o.namespace, name, wanted, &existing)?;
        if dry_run(req) {
            return Ok(HttpResponse::Ok().json(obj));
        }
        match state.store.update(&key, encode(&obj)?, expected).await {
            Ok(kv) => return respond_with(StatusCode::OK, &kv),
            Err(StoreError::Conflict { .. }) if !pinned => continue,
            Err(e) => return Err(Status::from_store(&e, target)),
        }
    }
    Err(Status::conflict(target))
}

pub async fn delete(state: &ApiState, req: &HttpRequest, path: &ResourcePath<'_>) -> HttpResponse {
    answer(delete_inner(state, req, path).await)
}

async fn delete_inner(
    state: &ApiState,
    req: &HttpRequest,
    path: &ResourcePath<'_>,
) -> Result<HttpResponse, Status> {
    let o = Object::resolve(state, path)?;
    let name = o.name()?;
    let key = o.key(name);
    if dry_run(req) {
        return respond_with(StatusCode::OK, &current(state, &key, o.target(name))?);
    }
    if o.def.group.is_empty() && o.def.plural == "namespaces" {
        delete_contents(state, name).await.map_err(|e| Status::from_store(&e, o.target(name)))?;
    }
    let (_, prev) =
        state.store.delete(&key, None).await.map_err(|e| Status::from_store(&e, o.target(name)))?;
    respond_with(StatusCode::OK, &prev)
}

/// Delete every object in namespace `ns` (deleting a namespace deletes its contents first).
async fn delete_contents(state: &ApiState, ns: &str) -> Result<(), StoreError> {
    for def in state.registry.resources().iter().filter(|d| d.namespaced) {
        let range = KeyRange::prefix(&objects::prefix(def, Some(ns)));
        let page = state.store.list(&ListRequest { range, revision: 0, after: None, limit: 0 })?;
        for kv in page.items {
            match state.store.delete(&kv.key, None).await {
                Ok(_) | Err(StoreError::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}

/// Five characters for `generateName`.
fn suffix() -> String {
    let uid = objects::new_uid();
    uid.bytes()
        .filter(u8::is_ascii_hexdigit)
        .take(5)
        .map(|b| SUFFIX_ALPHABET[usize::from(b) % SUFFIX_ALPHABET.len()] as char)
        .collect()
}
