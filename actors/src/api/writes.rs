//! Writing resources: `POST` (create), `PUT` (replace, compare-and-swap on `resourceVersion`) and
//! `DELETE`. Bodies are JSON for now; checks and defaults come from `k3rs_api::write`.

use actix_web::http::header::CONTENT_TYPE;
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::StreamExt;
use k3rs_api::path::ResourcePath;
use k3rs_api::registry::ResourceDef;
use k3rs_api::status::{MAX_BODY_BYTES, Target};
use k3rs_api::{Status, objects, write};
use k3rs_store::{KeyRange, KeyValue, ListRequest};
use serde_json::Value;

use super::ApiState;
use super::respond;

/// The characters upstream uses for `generateName` suffixes (no vowels, no look-alikes).
const SUFFIX_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// Read and decode the body: at most 3 MiB of JSON.
async fn body(req: &HttpRequest, mut payload: web::Payload) -> Result<Value, Status> {
    let content_type =
        req.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("application/json");
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

fn dry_run(req: &HttpRequest) -> bool {
    super::params::get(req, "dryRun").is_some_and(|v| v == "All")
}

fn stored(kv: &KeyValue, code: actix_web::http::StatusCode) -> HttpResponse {
    match objects::from_store(kv) {
        Ok(obj) => HttpResponse::build(code).json(obj),
        Err(e) => respond::status(Status::internal(&format!("stored object is unreadable: {e}"))),
    }
}

fn resolve<'a>(state: &'a ApiState, path: &ResourcePath<'_>) -> Result<&'a ResourceDef, Status> {
    match state.registry.get(path.group, path.version, path.resource) {
        Some(def) if path.subresource.is_none() => Ok(def),
        _ => Err(Status::no_such_path()),
    }
}

pub async fn create(
    state: &ApiState,
    req: &HttpRequest,
    path: &ResourcePath<'_>,
    payload: web::Payload,
) -> HttpResponse {
    let def = match resolve(state, path) {
        Ok(d) => d,
        Err(s) => return respond::status(s),
    };
    if path.name.is_some() {
        return respond::status(Status::method_not_allowed());
    }
    let namespace = if def.namespaced { path.namespace } else { None };
    let obj = match body(req, payload).await {
        Ok(v) => v,
        Err(s) => return respond::status(s),
    };
    let now = objects::timestamp(time::OffsetDateTime::now_utc());
    let (name, obj) =
        match write::prepare_create(def, namespace, obj, &objects::new_uid(), &now, &suffix()) {
            Ok(x) => x,
            Err(s) => return respond::status(s),
        };
    let target = Target { resource: &def.plural, group: &def.group, name: &name };
    if let Some(ns) = namespace
        && let Err(s) = namespace_exists(state, ns)
    {
        return respond::status(s);
    }
    if dry_run(req) {
        return HttpResponse::Created().json(obj);
    }
    let bytes = match serde_json::to_vec(&obj) {
        Ok(b) => b,
        Err(e) => return respond::status(Status::internal(&e.to_string())),
    };
    match state.store.create(&objects::key(def, namespace, &name), bytes).await {
        Ok(kv) => stored(&kv, actix_web::http::StatusCode::CREATED),
        Err(e) => respond::status(Status::from_store(&e, target)),
    }
}

fn namespace_exists(state: &ApiState, ns: &str) -> Result<(), Status> {
    let target = Target { resource: "namespaces", group: "", name: ns };
    let def =
        state.registry.get("", "v1", "namespaces").ok_or_else(|| Status::not_found(target))?;
    match state.store.get(&objects::key(def, None, ns)) {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(Status::not_found(target)),
        Err(e) => Err(Status::from_store(&e, target)),
    }
}

pub async fn replace(
    state: &ApiState,
    req: &HttpRequest,
    path: &ResourcePath<'_>,
    payload: web::Payload,
) -> HttpResponse {
    let def = match resolve(state, path) {
        Ok(d) => d,
        Err(s) => return respond::status(s),
    };
    let Some(name) = path.name else { return respond::status(Status::method_not_allowed()) };
    let namespace = if def.namespaced { path.namespace } else { None };
    let target = Target { resource: &def.plural, group: &def.group, name };
    let obj = match body(req, payload).await {
        Ok(v) => v,
        Err(s) => return respond::status(s),
    };
    let key = objects::key(def, namespace, name);
    let existing = match state.store.get(&key) {
        Ok(Some(kv)) => kv,
        Ok(None) => return respond::status(Status::not_found(target)),
        Err(e) => return respond::status(Status::from_store(&e, target)),
    };
    let current = match objects::from_store(&existing) {
        Ok(v) => v,
        Err(e) => {
            return respond::status(Status::internal(&format!("stored object is unreadable: {e}")));
        }
    };
    let (obj, expected) = match write::prepare_update(def, namespace, name, obj, &current) {
        Ok(x) => x,
        Err(s) => return respond::status(s),
    };
    if dry_run(req) {
        return HttpResponse::Ok().json(obj);
    }
    let bytes = match serde_json::to_vec(&obj) {
        Ok(b) => b,
        Err(e) => return respond::status(Status::internal(&e.to_string())),
    };
    match state.store.update(&key, bytes, expected).await {
        Ok(kv) => stored(&kv, actix_web::http::StatusCode::OK),
        Err(e) => respond::status(Status::from_store(&e, target)),
    }
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
    const ATTEMPTS: usize = 5;
    let def = match resolve(state, path) {
        Ok(d) => d,
        Err(s) => return respond::status(s),
    };
    let Some(name) = path.name else { return respond::status(Status::method_not_allowed()) };
    let namespace = if def.namespaced { path.namespace } else { None };
    let target = Target { resource: &def.plural, group: &def.group, name };
    let content_type = req.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let kind = match k3rs_api::patch::PatchType::from_content_type(content_type) {
        Ok(k) => k,
        Err(s) => return respond::status(s),
    };
    let patch = match body(req, payload).await {
        Ok(v) => v,
        Err(s) => return respond::status(s),
    };
    let key = objects::key(def, namespace, name);
    for _ in 0..ATTEMPTS {
        let current = match state.store.get(&key) {
            Ok(Some(kv)) => match objects::from_store(&kv) {
                Ok(v) => v,
                Err(e) => {
                    return respond::status(Status::internal(&format!(
                        "stored object is unreadable: {e}"
                    )));
                }
            },
            Ok(None) => return respond::status(Status::not_found(target)),
            Err(e) => return respond::status(Status::from_store(&e, target)),
        };
        let patched = match k3rs_api::patch::apply(kind, &current, &patch) {
            Ok(v) => v,
            Err(s) => return respond::status(s),
        };
        let pinned = k3rs_api::patch::precondition(&patched, &current).is_some();
        let (obj, expected) = match write::prepare_update(def, namespace, name, patched, &current) {
            Ok(x) => x,
            Err(s) => return respond::status(s),
        };
        if dry_run(req) {
            return HttpResponse::Ok().json(obj);
        }
        let bytes = match serde_json::to_vec(&obj) {
            Ok(b) => b,
            Err(e) => return respond::status(Status::internal(&e.to_string())),
        };
        match state.store.update(&key, bytes, expected).await {
            Ok(kv) => return stored(&kv, actix_web::http::StatusCode::OK),
            Err(k3rs_store::StoreError::Conflict { .. }) if !pinned => continue,
            Err(e) => return respond::status(Status::from_store(&e, target)),
        }
    }
    respond::status(Status::conflict(target))
}

pub async fn delete(state: &ApiState, req: &HttpRequest, path: &ResourcePath<'_>) -> HttpResponse {
    let def = match resolve(state, path) {
        Ok(d) => d,
        Err(s) => return respond::status(s),
    };
    let Some(name) = path.name else { return respond::status(Status::method_not_allowed()) };
    let namespace = if def.namespaced { path.namespace } else { None };
    let target = Target { resource: &def.plural, group: &def.group, name };
    let key = objects::key(def, namespace, name);
    if dry_run(req) {
        return match state.store.get(&key) {
            Ok(Some(kv)) => stored(&kv, actix_web::http::StatusCode::OK),
            Ok(None) => respond::status(Status::not_found(target)),
            Err(e) => respond::status(Status::from_store(&e, target)),
        };
    }
    if def.group.is_empty()
        && def.plural == "namespaces"
        && let Err(e) = delete_contents(state, name).await
    {
        return respond::status(Status::from_store(&e, target));
    }
    match state.store.delete(&key, None).await {
        Ok((_, prev)) => stored(&prev, actix_web::http::StatusCode::OK),
        Err(e) => respond::status(Status::from_store(&e, target)),
    }
}

/// Delete every object in namespace `ns` (deleting a namespace deletes its contents first).
async fn delete_contents(state: &ApiState, ns: &str) -> Result<(), k3rs_store::StoreError> {
    for def in state.registry.resources().iter().filter(|d| d.namespaced) {
        let range = KeyRange::prefix(&objects::prefix(def, Some(ns)));
        let page = state.store.list(&ListRequest { range, revision: 0, after: None, limit: 0 })?;
        for kv in page.items {
            match state.store.delete(&kv.key, None).await {
                Ok(_) | Err(k3rs_store::StoreError::NotFound { .. }) => {}
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
