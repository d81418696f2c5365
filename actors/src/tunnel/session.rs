//! TunnelSession: the server's end of one agent's websocket: pumps frames between the websocket
//! and the node's [`Mux`], pings every few seconds, and ends the tunnel when the agent goes
//! quiet, closes, or breaks the protocol. Also the `/v1-k3rs/connect` upgrade handler.

use std::time::Instant;

use actix::prelude::*;
use actix_web::{HttpRequest, HttpResponse, web};
use actix_ws::{Message, MessageStream, ProtocolError};
use k3rs_net::tunnel::frame::MAX_FRAME;
use k3rs_net::tunnel::{Frame, Mux, MuxConfig, Outgoing, Side};
use tracing::{Instrument, Span, debug, info, info_span, warn};

use super::registry::TunnelRegistry;
use super::{CONNECT_PATH, Keepalive};
use crate::tree::{ActorState, Member};

/// Mounts `GET /v1-k3rs/connect` on an actix-web app or scope.
///
/// Authentication is the caller's: `node_of` returns the node name the request is
/// authenticated as (the verified client certificate's `system:node:<name>`), or `None` to
/// answer 401. From the API routes:
///
/// ```text
/// let registry = TunnelRegistry::new(); // one per server, shared with whoever dials nodes
/// App::new().configure(|cfg| {
///     tunnel::connect_route(cfg, registry.clone(), |req| caller_node_name(req))
/// })
/// ```
///
/// A handler that already knows the node calls [`accept`] instead.
pub fn connect_route<F>(cfg: &mut web::ServiceConfig, registry: TunnelRegistry, node_of: F)
where
    F: Fn(&HttpRequest) -> Option<String> + Clone + 'static,
{
    cfg.route(
        CONNECT_PATH,
        web::get().to(move |req: HttpRequest, body: web::Payload| {
            let registry = registry.clone();
            let node = node_of(&req);
            async move {
                match node {
                    Some(node) => accept(&req, body, &node, &registry, Keepalive::default()),
                    None => Ok(HttpResponse::Unauthorized().finish()),
                }
            }
        }),
    );
}

/// Upgrades `req` to a websocket and starts `node`'s [`TunnelSession`], which replaces any
/// previous tunnel of that node in `registry`. Must run on an actix system (an actix-web
/// worker is one).
pub fn accept(
    req: &HttpRequest,
    body: web::Payload,
    node: &str,
    registry: &TunnelRegistry,
    keepalive: Keepalive,
) -> actix_web::Result<HttpResponse> {
    let (response, ws, messages) = actix_ws::handle(req, body)?;
    TunnelSession::new(node, ws, messages.max_frame_size(MAX_FRAME), registry.clone(), keepalive)
        .start();
    Ok(response)
}

/// The actor: one per agent websocket.
pub struct TunnelSession {
    node: String,
    session: u64,
    mux: Mux,
    outgoing: Option<Outgoing>,
    messages: Option<MessageStream>,
    ws: actix_ws::Session,
    registry: TunnelRegistry,
    keepalive: Keepalive,
    last_heard: Instant,
    /// Why the session ends, for the log and the mux's streams.
    end_reason: Option<String>,
    span: Span,
    member: Member,
}

impl TunnelSession {
    fn new(
        node: &str,
        ws: actix_ws::Session,
        messages: MessageStream,
        registry: TunnelRegistry,
        keepalive: Keepalive,
    ) -> Self {
        let (mux, outgoing) = Mux::new(Side::Server, MuxConfig::default(), None);
        let member = registry.member(node);
        let session = registry.register(node, mux.clone());
        TunnelSession {
            node: node.to_owned(),
            session,
            mux,
            outgoing: Some(outgoing),
            messages: Some(messages),
            ws,
            registry,
            keepalive,
            last_heard: Instant::now(),
            end_reason: None,
            span: info_span!("tunnel", actor = "TunnelSession", node, session),
            member,
        }
    }

    fn end(&mut self, ctx: &mut Context<Self>, reason: String) {
        if self.end_reason.is_none() {
            self.member.error(&reason);
            self.member.set_state(ActorState::Stopping);
            self.end_reason = Some(reason);
        }
        ctx.stop();
    }

    fn on_binary(&mut self, ctx: &mut Context<Self>, bytes: bytes::Bytes) {
        let received = Frame::decode(bytes)
            .map_err(|err| err.to_string())
            .and_then(|frame| self.mux.receive(frame).map_err(|err| err.to_string()));
        if let Err(reason) = received {
            self.span.in_scope(|| warn!(error = %reason, "tunnel protocol error; closing"));
            self.end(ctx, reason);
        }
    }
}

impl Actor for TunnelSession {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let _entered = self.span.enter();
        info!("tunnel connected");
        self.member.set_state(ActorState::Running);
        if let Some(messages) = self.messages.take() {
            ctx.add_stream(messages);
        }
        // Writer: the mux's frames out to the websocket. It ends when the mux closes (the
        // registry replaced this tunnel) or the websocket is gone; either ends the session.
        if let Some(mut outgoing) = self.outgoing.take() {
            let mut ws = self.ws.clone();
            let writer = async move {
                while let Some(frame) = outgoing.next().await {
                    match frame.encode() {
                        Ok(bytes) => {
                            if ws.binary(bytes).await.is_err() {
                                return "websocket closed while sending".to_owned();
                            }
                        }
                        Err(err) => warn!(error = %err, "dropping an unencodable tunnel frame"),
                    }
                }
                "tunnel closed".to_owned()
            }
            .instrument(self.span.clone());
            ctx.spawn(writer.into_actor(self).map(|reason, act, ctx| act.end(ctx, reason)));
        }
        ctx.run_interval(self.keepalive.interval, |act, ctx| {
            if act.last_heard.elapsed() > act.keepalive.timeout {
                let reason = format!(
                    "agent silent for {:?}, longer than the keepalive timeout",
                    act.last_heard.elapsed()
                );
                act.end(ctx, reason);
                return;
            }
            let mut ws = act.ws.clone();
            ctx.spawn(
                async move {
                    let _ = ws.ping(b"k3rs").await;
                }
                .into_actor(act),
            );
        });
    }

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        let _entered = self.span.enter();
        let reason = self.end_reason.take().unwrap_or_else(|| "session stopped".to_owned());
        self.mux.close(&reason);
        self.registry.deregister(&self.node, self.session);
        let ws = self.ws.clone();
        actix::spawn(async move {
            let _ = ws.close(None).await;
        });
        info!(reason, "tunnel disconnected");
    }
}

impl StreamHandler<Result<Message, ProtocolError>> for TunnelSession {
    fn handle(&mut self, message: Result<Message, ProtocolError>, ctx: &mut Self::Context) {
        self.last_heard = Instant::now();
        match message {
            Ok(Message::Binary(bytes)) => self.on_binary(ctx, bytes),
            Ok(Message::Ping(payload)) => {
                let mut ws = self.ws.clone();
                ctx.spawn(
                    async move {
                        let _ = ws.pong(&payload).await;
                    }
                    .into_actor(self),
                );
            }
            Ok(Message::Pong(_) | Message::Nop) => {}
            Ok(Message::Close(reason)) => {
                self.span.in_scope(|| debug!(?reason, "agent closed the websocket"));
                self.end(ctx, "agent closed the websocket".to_owned());
            }
            Ok(Message::Text(_) | Message::Continuation(_)) => {
                self.end(ctx, "agent sent a non-binary websocket message".to_owned());
            }
            Err(err) => self.end(ctx, format!("websocket protocol error: {err}")),
        }
    }

    fn finished(&mut self, ctx: &mut Self::Context) {
        self.end(ctx, "websocket ended".to_owned());
    }
}
