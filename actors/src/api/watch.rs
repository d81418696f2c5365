//! Watch over HTTP: a chunked stream of event lines from a store `Watch`. A watch without a
//! `resourceVersion` (or "0") starts with ADDED events for what exists now, as upstream does.
//! The stream ends at `timeoutSeconds`, when the client goes away, or with an ERROR event.

use std::time::Duration;

use actix_web::http::header::ACCEPT;
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse};
use futures_util::stream::{self, StreamExt};
use k3rs_api::objects;
use k3rs_api::registry::ResourceDef;
use k3rs_api::selector::Selectors;
use k3rs_api::status::Target;
use k3rs_api::{Status, table, watch};
use k3rs_store::{KeyRange, ListRequest, StoreError, Watch, WatchItem};
use serde_json::Value;

use super::{ApiState, params};

/// How an event's object is rendered: plain, or as a one-row Table (column definitions only in
/// the first).
struct Render {
    def: ResourceDef,
    as_table: bool,
    first: bool,
}

impl Render {
    fn line(&mut self, kind: &str, obj: Value) -> Bytes {
        if !self.as_table {
            return Bytes::from(watch::frame(kind, &obj));
        }
        let rv = obj["metadata"]["resourceVersion"].as_str().unwrap_or("").to_owned();
        let mut t = table::table(&self.def, &[obj], &rv, time::OffsetDateTime::now_utc());
        if !self.first {
            t["columnDefinitions"] = Value::Array(Vec::new());
        }
        self.first = false;
        Bytes::from(watch::frame(kind, &t))
    }
}

pub fn serve(
    state: &ApiState,
    req: &HttpRequest,
    def: &ResourceDef,
    namespace: Option<&str>,
    name: Option<&str>,
) -> HttpResponse {
    let target = Target { resource: &def.plural, group: &def.group, name: name.unwrap_or("") };
    let mut field = params::get(req, "fieldSelector").unwrap_or_default();
    if let Some(n) = name {
        field = if field.is_empty() {
            format!("metadata.name={n}")
        } else {
            format!("{field},metadata.name={n}")
        };
    }
    let selector =
        match Selectors::parse(def, Some(&field), params::get(req, "labelSelector").as_deref()) {
            Ok(s) => s,
            Err(msg) => return super::respond::status(Status::bad_request(msg)),
        };
    let bookmarks = params::get(req, "allowWatchBookmarks").is_some_and(|v| v == "true");
    let timeout = params::get(req, "timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .map(Duration::from_secs);
    let accept = req.headers().get(ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
    let mut render = Render { def: def.clone(), as_table: table::wants_table(accept), first: true };
    let range = KeyRange::prefix(&objects::prefix(def, namespace));

    // Where to start, and what to send first.
    let mut initial: Vec<Bytes> = Vec::new();
    let after = match params::get(req, "resourceVersion").filter(|rv| !rv.is_empty() && rv != "0") {
        Some(rv) => match rv.parse::<u64>() {
            Ok(rv) => rv,
            Err(_) => {
                return super::respond::status(Status::bad_request(format!(
                    "invalid resourceVersion {rv:?}"
                )));
            }
        },
        None => {
            let page = match state.store.list(&ListRequest {
                range: range.clone(),
                revision: 0,
                after: None,
                limit: 0,
            }) {
                Ok(p) => p,
                Err(e) => return super::respond::status(Status::from_store(&e, target)),
            };
            for kv in &page.items {
                if let Ok(obj) = objects::from_store(kv)
                    && selector.matches(&obj)
                {
                    initial.push(render.line("ADDED", obj));
                }
            }
            page.revision
        }
    };
    let store_watch = match state.store.watch(range, after) {
        Ok(w) => w,
        Err(e) => {
            let line = Bytes::from(watch::error(&Status::from_store(&e, target)));
            return stream_response(stream::iter(vec![line]).boxed_local());
        }
    };
    let deadline = timeout.map(|t| tokio::time::Instant::now() + t);
    let def = def.clone();
    let live = stream::unfold(
        (store_watch, render, selector, false),
        move |(mut w, mut render, selector, done): (Watch, Render, Selectors, bool)| {
            let def = def.clone();
            async move {
                if done {
                    return None;
                }
                loop {
                    let next = match deadline {
                        Some(d) => match tokio::time::timeout_at(d, w.next()).await {
                            Ok(item) => item,
                            Err(_) => return None,
                        },
                        None => w.next().await,
                    };
                    match next {
                        None => return None,
                        Some(Ok(WatchItem::Event(ev))) => {
                            if let Some((kind, obj)) = watch::event_line(&ev, &selector) {
                                let line = render.line(kind, obj);
                                return Some((line, (w, render, selector, false)));
                            }
                        }
                        Some(Ok(WatchItem::Progress(rev))) => {
                            if bookmarks {
                                let line = Bytes::from(watch::bookmark(&def, rev));
                                return Some((line, (w, render, selector, false)));
                            }
                        }
                        Some(Err(e)) => {
                            let status = match &e {
                                StoreError::WatchLagged { .. } | StoreError::Compacted { .. } => {
                                    Status::expired(
                                        "The resourceVersion for the provided watch is too old."
                                            .into(),
                                    )
                                }
                                other => Status::internal(&other.to_string()),
                            };
                            return Some((
                                Bytes::from(watch::error(&status)),
                                (w, render, selector, true),
                            ));
                        }
                    }
                }
            }
        },
    );
    stream_response(stream::iter(initial).chain(live).boxed_local())
}

fn stream_response(body: futures_util::stream::LocalBoxStream<'static, Bytes>) -> HttpResponse {
    // No length: actix sends it chunked, flushing each event as it comes.
    HttpResponse::Ok()
        .content_type("application/json")
        .streaming(body.map(Ok::<_, actix_web::Error>))
}
