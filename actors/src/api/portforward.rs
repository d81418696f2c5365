//! `pods/portforward`: kubectl's SPDY/3.1 session tunnelled in a websocket (subprotocol
//! `SPDY/3.1+portforward.k8s.io`), relayed as bytes to the node's kubelet through its tunnel,
//! which speaks the SPDY side (`actors/src/kubelet/portforward.rs`).

use actix_web::http::header::{HeaderValue, SEC_WEBSOCKET_PROTOCOL};
use actix_web::{HttpRequest, HttpResponse, web};
use actix_ws::{CloseCode, CloseReason, Item, Message};
use futures_util::StreamExt;
use k3rs_api::path::ResourcePath;
use k3rs_api::service::Objects;
use k3rs_api::status::Target;
use k3rs_api::{Status, podlog};
use k3rs_net::kubelet::{PodRef, Request};
use k3rs_net::tunnel::Stream;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::ApiState;
use super::respond;
use super::tunneled::open;

const PROTOCOL: &str = "SPDY/3.1+portforward.k8s.io";

pub async fn pod_port_forward(
    state: &ApiState,
    req: &HttpRequest,
    path: &ResourcePath<'_>,
    body: web::Payload,
) -> HttpResponse {
    let offered = req
        .headers()
        .get_all(SEC_WEBSOCKET_PROTOCOL)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| p.trim() == PROTOCOL);
    if !offered {
        return respond::status(Status::bad_request(format!(
            "port-forward needs a websocket upgrade with the subprotocol {PROTOCOL}"
        )));
    }
    let stream = match start(state, path).await {
        Ok(s) => s,
        Err(status) => return respond::status(status),
    };
    let (mut response, session, messages) = match actix_ws::handle(req, body) {
        Ok(parts) => parts,
        Err(e) => return respond::status(Status::bad_request(e.to_string())),
    };
    response.headers_mut().insert(SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static(PROTOCOL));
    actix_web::rt::spawn(relay(session, messages, stream));
    response
}

async fn start(state: &ApiState, path: &ResourcePath<'_>) -> Result<Stream, Status> {
    let registry = state.registry.snapshot();
    let pods = registry.get("", "v1", "pods").ok_or_else(Status::no_such_path)?;
    let name = path.name.unwrap_or_default();
    let pod = Objects::new(&state.store, &registry).get(pods, path.namespace, name)?;
    let node = podlog::node(&pod)?;
    let request = PodRef {
        namespace: path.namespace.unwrap_or_default().to_owned(),
        pod: name.to_owned(),
        uid: pod["metadata"]["uid"].as_str().unwrap_or_default().to_owned(),
    };
    let target = Target { resource: "nodes", group: "", name: &node };
    open(state, target, Request::PortForward(request)).await
}

/// Bytes both ways until the kubelet's side ends or the client goes.
async fn relay(session: actix_ws::Session, mut messages: actix_ws::MessageStream, stream: Stream) {
    let (mut from_node, mut to_node) = tokio::io::split(stream);
    let mut outgoing = session.clone();
    let node_to_client = async move {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match from_node.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if outgoing.binary(buf[..n].to_vec()).await.is_err() {
                        return;
                    }
                }
            }
        }
    };
    let mut pinger = session.clone();
    let client_to_node = async move {
        while let Some(Ok(message)) = messages.next().await {
            match message {
                Message::Binary(bytes) if to_node.write_all(&bytes).await.is_err() => return,
                // kubectl fragments its stream across websocket frames: each piece is bytes.
                Message::Continuation(
                    Item::FirstBinary(bytes) | Item::Continue(bytes) | Item::Last(bytes),
                ) if to_node.write_all(&bytes).await.is_err() => return,
                Message::Ping(payload) => {
                    let _ = pinger.pong(&payload).await;
                }
                Message::Close(_) => return,
                _ => {}
            }
        }
    };
    // Either end closes the session.
    tokio::select! {
        _ = node_to_client => {}
        _ = client_to_node => {}
    }
    let _ = session.close(Some(CloseReason { code: CloseCode::Normal, description: None })).await;
}
