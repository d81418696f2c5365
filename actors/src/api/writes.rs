//! Writing resources over HTTP: `POST` (create), `PUT` (replace), `PATCH` (merge or JSON patch),
//! `DELETE` and `deletecollection`, on objects and their `status` and `scale` subresources. This
//! is request glue only: bodies are decoded by `k3rs_api::body` and the writes themselves are
//! `k3rs_api::service::Objects`. Each handler is a `Result<_, Status>` function; the error
//! becomes a response in one place (`respond`).

use actix_web::HttpResponseBuilder;
use actix_web::http::StatusCode;
use actix_web::http::header::CONTENT_TYPE;
use actix_web::http::header::USER_AGENT;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use futures_util::StreamExt;
use k3rs_api::apply::{self, Applier};
use k3rs_api::body::{self, Encoding};
use k3rs_api::delete::DeleteOptions;
use k3rs_api::fields::{self, FieldValidation};
use k3rs_api::managed;
use k3rs_api::patch::{self, PatchType};
use k3rs_api::path::ResourcePath;
use k3rs_api::registry::{Registry, ResourceDef};
use k3rs_api::selector::Selectors;
use k3rs_api::service::{Deleted, Objects};
use k3rs_api::status::{MAX_BODY_BYTES, Target};
use k3rs_api::subresource::{self, Sub};
use k3rs_api::{Status, objects};
use serde_json::Value;

use super::routes::NodeRestriction;
use super::{ApiState, params, respond};

/// What a write request is about, resolved from its path.
struct Object<'a> {
    def: &'a ResourceDef,
    namespace: Option<&'a str>,
    name: Option<&'a str>,
    sub: Sub,
}

impl<'a> Object<'a> {
    fn resolve(registry: &'a Registry, path: &ResourcePath<'a>) -> Result<Self, Status> {
        let def = registry
            .get(path.group, path.version, path.resource)
            .ok_or_else(Status::no_such_path)?;
        let sub = Sub::parse(def, path.subresource)?;
        let namespace = if def.namespaced { path.namespace } else { None };
        Ok(Object { def, namespace, name: path.name, sub })
    }

    /// The object's name; writes other than create need one.
    fn name(&self) -> Result<&'a str, Status> {
        self.name.ok_or_else(Status::method_not_allowed)
    }
}

/// Run a handler body and answer its error as a `Status`.
fn answer(result: Result<HttpResponse, Status>) -> HttpResponse {
    result.unwrap_or_else(respond::status)
}

/// Read the body: at most 3 MiB.
async fn read(mut payload: web::Payload) -> Result<web::BytesMut, Status> {
    let mut bytes = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|e| Status::bad_request(format!("reading the request body: {e}")))?;
        if bytes.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(Status::too_large());
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// Read and decode the body in the encoding its content type names.
async fn body(req: &HttpRequest, payload: web::Payload) -> Result<Value, Status> {
    let encoding = Encoding::from_content_type(content_type(req))?;
    body::decode(encoding, &read(payload).await?)
}

fn content_type(req: &HttpRequest) -> Option<&str> {
    req.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok())
}

fn dry_run(req: &HttpRequest) -> bool {
    params::get(req, "dryRun").is_some_and(|v| v == "All")
}

/// `?fieldValidation=` of a request with `options` (`CreateOptions`, ...).
fn validation(req: &HttpRequest, options: &str) -> Result<FieldValidation, Status> {
    FieldValidation::parse(params::get(req, "fieldValidation").as_deref(), options)
}

/// Check a main-resource body's fields (subresource bodies are views, not checked).
fn check_fields(
    o: &Object<'_>,
    mode: FieldValidation,
    obj: &mut Value,
) -> Result<Vec<String>, Status> {
    if o.sub != Sub::Main {
        return Ok(Vec::new());
    }
    fields::check(o.def, obj, mode)
}

/// A response with one `Warning` header per warning, as upstream sends them.
fn with_warnings(mut res: HttpResponseBuilder, warnings: &[String]) -> HttpResponseBuilder {
    for w in warnings {
        let text = format!("299 - {}", serde_json::Value::String(w.clone()));
        res.append_header(("Warning", text));
    }
    res
}

/// The field manager the request names (`?fieldManager=`, else its user agent).
fn manager(req: &HttpRequest) -> Option<String> {
    let agent = req.headers().get(USER_AGENT).and_then(|v| v.to_str().ok());
    managed::manager_name(params::get(req, "fieldManager").as_deref(), agent)
}

fn now() -> String {
    objects::timestamp(time::OffsetDateTime::now_utc())
}

/// Record in `new`'s `managedFields` that `manager` wrote it over `old` (`Null` for a create).
/// Subresource writes are not recorded.
fn record(o: &Object<'_>, manager: Option<&str>, old: &Value, new: &mut Value) {
    if let (Some(m), Sub::Main) = (manager, o.sub) {
        managed::record_update(&o.def.kind, old, new, m, &o.def.group_version(), &now());
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
    let registry = state.registry.snapshot();
    let o = Object::resolve(&registry, path)?;
    if o.name.is_some() || o.sub != Sub::Main {
        return Err(Status::method_not_allowed());
    }
    let mode = validation(req, "CreateOptions")?;
    let mut obj = body(req, payload).await?;
    let warnings = check_fields(&o, mode, &mut obj)?;
    if let Some(NodeRestriction(node)) = req.extensions().get::<NodeRestriction>() {
        let name = obj["metadata"]["name"].as_str().unwrap_or("");
        if name != node {
            return Err(Status::forbidden_message(format!(
                "{} \"{name}\" is forbidden: node \"{node}\" is not allowed to create {} of other nodes",
                o.def.plural, o.def.plural
            )));
        }
    }
    record(&o, manager(req).as_deref(), &Value::Null, &mut obj);
    let created = Objects::new(&state.store, &registry)
        .with_network(&state.network)
        .create(o.def, o.namespace, obj, dry_run(req))
        .await?;
    Ok(with_warnings(HttpResponse::Created(), &warnings).json(created))
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
    let registry = state.registry.snapshot();
    let o = Object::resolve(&registry, path)?;
    let name = o.name()?;
    let mode = validation(req, "UpdateOptions")?;
    let mut obj = body(req, payload).await?;
    let warnings = check_fields(&o, mode, &mut obj)?;
    let manager = manager(req);
    // A replace states the whole object: one attempt, conditional on its resourceVersion if any.
    let stored = Objects::new(&state.store, &registry)
        .with_network(&state.network)
        .update_with(o.def, o.namespace, name, o.sub, dry_run(req), |existing| {
            let mut next = subresource::merge_write(o.def, o.sub, existing, obj.clone())?;
            record(&o, manager.as_deref(), existing, &mut next);
            Ok((next, true))
        })
        .await?;
    Ok(with_warnings(HttpResponse::Ok(), &warnings).json(stored))
}

/// `PATCH`: apply the patch to the current object (or to its subresource's view), retrying
/// when another write got in between, unless the patch carries a `resourceVersion`
/// precondition, which then fails with 409 as upstream's does.
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
    let registry = state.registry.snapshot();
    let o = Object::resolve(&registry, path)?;
    let name = o.name()?;
    let media = content_type(req).unwrap_or("");
    let kind = PatchType::from_content_type(media)?;
    if kind == PatchType::Strategic && o.def.custom {
        return Err(Status::unsupported_media_type(media));
    }
    let mode = validation(req, "PatchOptions")?;
    let patch_body = body(req, payload).await?;
    if kind == PatchType::Apply {
        return server_side_apply(state, req, &registry, &o, name, patch_body, mode).await;
    }
    let manager = manager(req);
    let warnings = std::cell::RefCell::new(Vec::new());
    let stored = Objects::new(&state.store, &registry)
        .with_network(&state.network)
        .update_with(o.def, o.namespace, name, o.sub, dry_run(req), |existing| {
            let base = subresource::view(o.sub, existing.clone());
            let mut patched = patch::apply(kind, &base, &patch_body)?;
            *warnings.borrow_mut() = check_fields(&o, mode, &mut patched)?;
            let pinned = patch::precondition(&patched, &base).is_some();
            let mut next = subresource::merge_write(o.def, o.sub, existing, patched)?;
            record(&o, manager.as_deref(), existing, &mut next);
            Ok((next, pinned))
        })
        .await?;
    Ok(with_warnings(HttpResponse::Ok(), &warnings.into_inner()).json(stored))
}

/// Server-side apply: update the object with the configuration (200), or create it (201).
async fn server_side_apply(
    state: &ApiState,
    req: &HttpRequest,
    registry: &Registry,
    o: &Object<'_>,
    name: &str,
    mut config: Value,
    mode: FieldValidation,
) -> Result<HttpResponse, Status> {
    if o.sub != Sub::Main {
        return Err(Status::method_not_allowed());
    }
    let warnings = check_fields(o, mode, &mut config)?;
    let manager = params::get(req, "fieldManager")
        .filter(|m| !m.is_empty())
        .ok_or_else(|| Status::bad_request("fieldManager is required for apply requests".into()))?;
    let force = match params::get(req, "force").as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            return Err(Status::bad_request(format!("invalid value for force: {other:?}")));
        }
    };
    apply::check(o.def, o.namespace, name, &config)?;
    let now = now();
    let version = o.def.group_version();
    let who = Applier { manager: &manager, force, api_version: &version, now: &now };
    let service = Objects::new(&state.store, registry).with_network(&state.network);
    // Update when it exists; create when it does not; if a create loses a race, update.
    for _ in 0..2 {
        match service
            .update_with(o.def, o.namespace, name, o.sub, dry_run(req), |existing| {
                Ok((apply::update(o.def, existing, &config, &who)?, false))
            })
            .await
        {
            Err(e) if e.code == 404 && e.reason == "NotFound" => {}
            done => return Ok(with_warnings(HttpResponse::Ok(), &warnings).json(done?)),
        }
        let obj = apply::create(o.def, &config, &who);
        match service.create(o.def, o.namespace, obj, dry_run(req)).await {
            Err(e) if e.code == 409 && e.reason == "AlreadyExists" => continue,
            done => return Ok(with_warnings(HttpResponse::Created(), &warnings).json(done?)),
        }
    }
    Err(Status::conflict(Target { resource: &o.def.plural, group: &o.def.group, name }))
}

pub async fn delete(
    state: &ApiState,
    req: &HttpRequest,
    path: &ResourcePath<'_>,
    payload: web::Payload,
) -> HttpResponse {
    answer(delete_inner(state, req, path, payload).await)
}

/// `DELETE` of one object (200 with its last state when gone, 202 with its state when it is
/// terminating) or of a collection (200 with the list of what was deleted).
async fn delete_inner(
    state: &ApiState,
    req: &HttpRequest,
    path: &ResourcePath<'_>,
    payload: web::Payload,
) -> Result<HttpResponse, Status> {
    let registry = state.registry.snapshot();
    let o = Object::resolve(&registry, path)?;
    if o.sub != Sub::Main {
        return Err(Status::method_not_allowed());
    }
    let opts = delete_options(req, payload).await?;
    let service = Objects::new(&state.store, &registry).with_network(&state.network);
    let Some(name) = o.name else {
        if !o.def.verbs.iter().any(|v| v == "deletecollection") {
            return Err(Status::method_not_allowed());
        }
        let selectors = Selectors::parse(
            o.def,
            params::get(req, "fieldSelector").as_deref(),
            params::get(req, "labelSelector").as_deref(),
        )
        .map_err(Status::bad_request)?;
        let items =
            service.delete_collection(o.def, o.namespace, &selectors, &opts, dry_run(req)).await?;
        let list = objects::list(o.def, items, state.store.current_revision(), None);
        return Ok(HttpResponse::Ok().json(list));
    };
    Ok(match service.delete(o.def, o.namespace, name, &opts, dry_run(req)).await? {
        Deleted::Gone(obj) => HttpResponse::build(StatusCode::OK).json(obj),
        Deleted::Terminating(obj) => HttpResponse::build(StatusCode::ACCEPTED).json(obj),
    })
}

/// `DeleteOptions` from the (optional) body and the query.
async fn delete_options(req: &HttpRequest, payload: web::Payload) -> Result<DeleteOptions, Status> {
    let bytes = read(payload).await?;
    let body = if bytes.iter().all(u8::is_ascii_whitespace) {
        Value::Null
    } else {
        body::decode(Encoding::from_content_type(content_type(req))?, &bytes)?
    };
    DeleteOptions::parse(&body, |k| params::get(req, k))
}
