//! Reading resources: `GET` of one object or a list, as JSON or as a Table when the client asks.
//! Reads use the datastore handle directly on the HTTP worker threads.

use actix_web::http::header::ACCEPT;
use actix_web::{HttpRequest, HttpResponse};
use k3rs_api::path::ResourcePath;
use k3rs_api::selector::Selectors;
use k3rs_api::status::Target;
use k3rs_api::subresource::{self, Sub};
use k3rs_api::{Status, objects, table};
use k3rs_store::{KeyRange, ListRequest};
use serde_json::Value;

use super::ApiState;
use super::{params, respond};

/// kubectl asks for 500 at a time; an unbounded list is capped here.
const MAX_LIMIT: usize = 10_000;

pub fn get(state: &ApiState, req: &HttpRequest, path: &ResourcePath<'_>) -> HttpResponse {
    let registry = state.registry.snapshot();
    let Some(def) = registry.get(path.group, path.version, path.resource) else {
        return respond::status(Status::no_such_path());
    };
    let sub = match Sub::parse(def, path.subresource) {
        Ok(sub) => sub,
        Err(s) => return respond::status(s),
    };
    if sub != Sub::Main && path.name.is_none() {
        return respond::status(Status::no_such_path());
    }
    if params::flag(req, "watch") {
        let namespace = if def.namespaced { path.namespace } else { None };
        return super::watch::serve(state, req, def, namespace, path.name);
    }
    let accept = req.headers().get(ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
    let as_table = table::wants_table(accept);
    let now = time::OffsetDateTime::now_utc();
    let namespace = if def.namespaced { path.namespace } else { None };
    if let Some(name) = path.name {
        let target = Target { resource: &def.plural, group: &def.group, name };
        let obj = match state.store.get(&objects::key(def, namespace, name)) {
            Ok(Some(kv)) => match objects::from_store(&kv) {
                Ok(obj) => obj,
                Err(e) => {
                    return respond::status(Status::internal(&format!(
                        "stored object is unreadable: {e}"
                    )));
                }
            },
            Ok(None) => return respond::status(Status::not_found(target)),
            Err(e) => return respond::status(Status::from_store(&e, target)),
        };
        let obj = subresource::view(sub, obj);
        if as_table && sub == Sub::Main {
            let rv = obj["metadata"]["resourceVersion"].as_str().unwrap_or("").to_owned();
            return HttpResponse::Ok().json(table::table(def, &[obj], &rv, now));
        }
        return HttpResponse::Ok().json(obj);
    }
    let limit = params::get(req, "limit")
        .and_then(|l| l.parse::<usize>().ok())
        .filter(|l| *l > 0)
        .unwrap_or(MAX_LIMIT)
        .min(MAX_LIMIT);
    let (revision, after) = match params::get(req, "continue").filter(|c| !c.is_empty()) {
        Some(token) => match objects::parse_continue(&token) {
            Some((rev, key)) => (rev, Some(key)),
            None => {
                return respond::status(Status::bad_request(format!(
                    "invalid continue token {token:?}"
                )));
            }
        },
        None => (0, None),
    };
    let list = ListRequest {
        range: KeyRange::prefix(&objects::prefix(def, namespace)),
        revision,
        after,
        limit,
    };
    let target = Target { resource: &def.plural, group: &def.group, name: "" };
    let page = match state.store.list(&list) {
        Ok(page) => page,
        Err(e) => return respond::status(Status::from_store(&e, target)),
    };
    let token = if page.more {
        page.items.last().map(|kv| objects::continue_token(page.revision, &kv.key))
    } else {
        None
    };
    let selectors = match Selectors::parse(
        def,
        params::get(req, "fieldSelector").as_deref(),
        params::get(req, "labelSelector").as_deref(),
    ) {
        Ok(s) => s,
        Err(msg) => return respond::status(Status::bad_request(msg)),
    };
    let mut items: Vec<Value> = Vec::with_capacity(page.items.len());
    for kv in &page.items {
        match objects::from_store(kv) {
            Ok(obj) if selectors.matches(&obj) => items.push(obj),
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(key = %kv.key, error = %e, "skipping an unreadable stored object")
            }
        }
    }
    if as_table {
        let mut t = table::table(def, &items, &page.revision.to_string(), now);
        if let Some(token) = token {
            t["metadata"]["continue"] = Value::String(token);
        }
        return HttpResponse::Ok().json(t);
    }
    HttpResponse::Ok().json(objects::list(def, items, page.revision, token))
}
