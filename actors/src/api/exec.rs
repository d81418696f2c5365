//! `pods/exec` and `pods/attach`: Kubernetes' remote command protocol over a websocket (`v5.channel.k8s.io`,
//! also `v4`), relayed to the node's kubelet through its tunnel. Each websocket message is a
//! channel byte and its payload; the kubelet protocol carries the same channels as frames, so
//! the relay only reframes. The kubelet's refusals arrive before the upgrade and are answered
//! as a `Status`.

use actix_web::http::header::{HeaderValue, SEC_WEBSOCKET_PROTOCOL};
use actix_web::{HttpRequest, HttpResponse, web};
use actix_ws::{CloseCode, CloseReason, Message};
use futures_util::StreamExt;
use k3rs_api::Status;
use k3rs_api::path::ResourcePath;
use k3rs_api::status::Target;
use k3rs_net::kubelet::{self, ExecRequest, Request};
use k3rs_net::tunnel::Stream;

use super::ApiState;
use super::respond;
use super::tunneled::{PodContainer, open, pod_container};

/// The subprotocols served, best first.
const PROTOCOLS: [&str; 2] = ["v5.channel.k8s.io", "v4.channel.k8s.io"];

pub async fn pod_exec(
    state: &ApiState,
    req: &HttpRequest,
    path: &ResourcePath<'_>,
    body: web::Payload,
) -> HttpResponse {
    let offered: Vec<String> = req
        .headers()
        .get_all(SEC_WEBSOCKET_PROTOCOL)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|p| p.trim().to_owned())
        .collect();
    let Some(protocol) = PROTOCOLS.iter().find(|p| offered.iter().any(|o| o == *p)) else {
        return respond::status(Status::bad_request(format!(
            "exec needs a websocket upgrade with one of the subprotocols {PROTOCOLS:?}"
        )));
    };
    let attach = path.subresource == Some("attach");
    let stream = match start(state, req, path, attach).await {
        Ok(s) => s,
        Err(status) => return respond::status(status),
    };
    let (mut response, session, messages) = match actix_ws::handle(req, body) {
        Ok(parts) => parts,
        Err(e) => return respond::status(Status::bad_request(e.to_string())),
    };
    response.headers_mut().insert(SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static(protocol));
    actix_web::rt::spawn(relay(session, messages, stream));
    response
}

/// Checks the request and asks the kubelet to run it; the stream then carries its channels.
async fn start(
    state: &ApiState,
    req: &HttpRequest,
    path: &ResourcePath<'_>,
    attach: bool,
) -> Result<Stream, Status> {
    let PodContainer { pod, container, node } = pod_container(state, req, path)?;
    let name = path.name.unwrap_or_default();
    let flag = |k: &str| super::params::flag(req, k);
    let request = ExecRequest {
        namespace: path.namespace.unwrap_or_default().to_owned(),
        pod: name.to_owned(),
        uid: pod["metadata"]["uid"].as_str().unwrap_or_default().to_owned(),
        container,
        command: super::params::all(req, "command"),
        stdin: flag("stdin"),
        stdout: flag("stdout"),
        stderr: flag("stderr"),
        tty: flag("tty"),
    };
    let target = Target { resource: "nodes", group: "", name: &node };
    let request = if attach { Request::Attach(request) } else { Request::Exec(request) };
    open(state, target, request).await
}

/// Websocket messages to kubelet frames and back, until the kubelet ends the stream (after
/// the status on the error channel) or the client goes.
async fn relay(session: actix_ws::Session, mut messages: actix_ws::MessageStream, stream: Stream) {
    let (mut from_node, mut to_node) = tokio::io::split(stream);
    let mut outgoing = session.clone();
    let node_to_client = async move {
        while let Ok(Some((ch, payload))) = kubelet::read_frame(&mut from_node).await {
            let mut message = Vec::with_capacity(payload.len() + 1);
            message.push(ch);
            message.extend_from_slice(&payload);
            if outgoing.binary(message).await.is_err() {
                return;
            }
        }
    };
    let mut pinger = session.clone();
    let client_to_node = async move {
        while let Some(Ok(message)) = messages.next().await {
            match message {
                Message::Binary(bytes)
                    if !bytes.is_empty()
                        && kubelet::write_frame(&mut to_node, bytes[0], &bytes[1..])
                            .await
                            .is_err() =>
                {
                    return;
                }
                Message::Ping(payload) => {
                    let _ = pinger.pong(&payload).await;
                }
                Message::Close(_) => return,
                _ => {}
            }
        }
    };
    tokio::pin!(node_to_client, client_to_node);
    let mut client_done = false;
    loop {
        tokio::select! {
            _ = &mut node_to_client => break,
            _ = &mut client_to_node, if !client_done => client_done = true,
        }
    }
    let _ = session.close(Some(CloseReason { code: CloseCode::Normal, description: None })).await;
}
