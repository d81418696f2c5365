//! TunnelClient: the agent's end. Keeps a websocket open to a server's `/v1-k3rs/connect`
//! (awc, rustls 0.23, the node's client certificate), serves the streams the server opens
//! through an [`Acceptor`] (the allow list: the node's own kubelet), pings, and reconnects
//! with capped exponential backoff when the connection fails or ends.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use awc::ws;
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use k3rs_net::tunnel::frame::MAX_FRAME;
use k3rs_net::tunnel::{Acceptor, Frame, Mux, MuxConfig, Side};
use thiserror::Error;
use tokio::sync::watch;
use tracing::{Instrument, info, info_span, warn};

use super::Keepalive;
use crate::tree::{ActorState, Member};

/// What the client needs.
#[derive(Clone)]
pub struct TunnelClientConfig {
    /// `wss://<server>:<port>/v1-k3rs/connect` (`ws://` only in tests).
    pub url: String,
    /// TLS with the node's client certificate, trusting the cluster CA; its ALPN is replaced
    /// with `http/1.1` (websockets need HTTP/1.1). `None` for `ws://` URLs.
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// Extra request headers (e.g. the node name, where the server wants it).
    pub headers: Vec<(String, String)>,
    /// Answers the streams the server opens.
    pub acceptor: Arc<dyn Acceptor>,
    pub keepalive: Keepalive,
    pub backoff: Backoff,
    /// Bounds the websocket handshake (10 s, as K3s).
    pub handshake_timeout: Duration,
}

impl TunnelClientConfig {
    /// Defaults for everything but the URL, TLS and acceptor.
    pub fn new(
        url: impl Into<String>,
        tls: Option<Arc<rustls::ClientConfig>>,
        acceptor: Arc<dyn Acceptor>,
    ) -> Self {
        TunnelClientConfig {
            url: url.into(),
            tls,
            headers: Vec::new(),
            acceptor,
            keepalive: Keepalive::default(),
            backoff: Backoff::default(),
            handshake_timeout: Duration::from_secs(10),
        }
    }
}

/// Reconnect delays: `initial`, doubling up to `max`; back to `initial` after a connection
/// that was up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff { initial: Duration::from_millis(500), max: Duration::from_secs(15) }
    }
}

impl Backoff {
    /// The delay after `failures` consecutive failed attempts (0: after a lost connection).
    pub fn delay(&self, failures: u32) -> Duration {
        let factor = 1u32.checked_shl(failures.min(16)).unwrap_or(u32::MAX);
        self.initial.saturating_mul(factor).min(self.max)
    }
}

/// The client's state, as a `watch` value (the load balancer's health check reads it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TunnelStatus {
    pub connected: bool,
    /// Successful connections so far.
    pub connects: u64,
    /// Why the last attempt or connection ended.
    pub last_error: Option<String>,
}

/// Why connecting failed.
#[derive(Debug, Error)]
pub enum ConnectError {
    #[error("connecting the tunnel to {url}")]
    Handshake {
        url: String,
        #[source]
        source: awc::error::WsClientError,
    },
    #[error("connecting the tunnel to {url}: no answer within {timeout:?}")]
    Timeout { url: String, timeout: Duration },
}

/// Asks for the current [`TunnelStatus`].
#[derive(Message)]
#[rtype(result = "TunnelStatus")]
pub struct GetTunnelStatus;

/// Ends the tunnel for good (the server left the cluster): the websocket closes with it.
#[derive(Message)]
#[rtype(result = "()")]
pub struct StopTunnel;

/// The actor: owns the connect-serve-reconnect loop for its lifetime.
pub struct TunnelClient {
    config: TunnelClientConfig,
    status: watch::Sender<TunnelStatus>,
    member: Arc<Member>,
}

impl TunnelClient {
    pub fn new(config: TunnelClientConfig) -> Self {
        let member = Arc::new(Member::detached("TunnelClient", config.url.clone()));
        TunnelClient { config, status: watch::Sender::new(TunnelStatus::default()), member }
    }

    /// Report to the actor tree through `member`: running while connected, a restart per
    /// reconnection, the last error.
    pub fn with_member(mut self, member: Member) -> Self {
        self.member = Arc::new(member);
        self
    }

    /// Follows the status: `wait_for` a connection, or read it for health checks.
    pub fn status(&self) -> watch::Receiver<TunnelStatus> {
        self.status.subscribe()
    }
}

impl Actor for TunnelClient {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let span = info_span!("tunnel", actor = "TunnelClient", url = %self.config.url);
        let run =
            run(self.config.clone(), self.status.clone(), self.member.clone()).instrument(span);
        ctx.spawn(run.into_actor(self));
    }
}

impl Handler<GetTunnelStatus> for TunnelClient {
    type Result = MessageResult<GetTunnelStatus>;

    fn handle(&mut self, _msg: GetTunnelStatus, _ctx: &mut Self::Context) -> Self::Result {
        self.member.mailbox().taken();
        MessageResult(self.status.borrow().clone())
    }
}

impl Handler<StopTunnel> for TunnelClient {
    type Result = ();

    fn handle(&mut self, _msg: StopTunnel, ctx: &mut Self::Context) {
        self.member.mailbox().taken();
        self.member.set_state(ActorState::Stopping);
        ctx.stop();
    }
}

/// Connects, serves, and reconnects, forever (the actor's stop drops it).
async fn run(config: TunnelClientConfig, status: watch::Sender<TunnelStatus>, member: Arc<Member>) {
    let mut failures = 0u32;
    loop {
        match connect(&config).await {
            Ok(framed) => {
                failures = 0;
                info!("tunnel connected");
                if status.borrow().connects > 0 {
                    member.restarted();
                }
                member.set_state(ActorState::Running);
                status.send_modify(|s| {
                    s.connected = true;
                    s.connects += 1;
                    s.last_error = None;
                });
                let reason = serve(framed, &config).await;
                info!(reason, "tunnel disconnected");
                member.error(&reason);
                member.set_state(ActorState::Backoff);
                status.send_modify(|s| {
                    s.connected = false;
                    s.last_error = Some(reason);
                });
            }
            Err(err) => {
                failures = failures.saturating_add(1);
                let text = error_chain(&err);
                warn!(error = %text, failures, "tunnel connect failed");
                member.error(&text);
                member.set_state(ActorState::Backoff);
                status.send_modify(|s| s.last_error = Some(text));
            }
        }
        // Capped exponential back-off with no deadline: a node keeps reconnecting to its
        // server for as long as the agent runs (K3s's agent does the same); the actor's stop
        // ends the loop.
        tokio::time::sleep(config.backoff.delay(failures)).await;
    }
}

type Socket = actix_codec::Framed<awc::BoxedSocket, ws::Codec>;

async fn connect(config: &TunnelClientConfig) -> Result<Socket, ConnectError> {
    let mut connector = awc::Connector::new().timeout(config.handshake_timeout);
    if let Some(tls) = &config.tls {
        let mut tls = (**tls).clone();
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        connector = connector.rustls_0_23(Arc::new(tls));
    }
    let client =
        awc::Client::builder().connector(connector).timeout(config.handshake_timeout).finish();
    let mut request = client.ws(config.url.as_str()).max_frame_size(MAX_FRAME);
    for (name, value) in &config.headers {
        request = request.header(name.as_str(), value.as_str());
    }
    match tokio::time::timeout(config.handshake_timeout, request.connect()).await {
        Ok(Ok((_response, framed))) => Ok(framed),
        Ok(Err(source)) => Err(ConnectError::Handshake { url: config.url.clone(), source }),
        Err(_) => Err(ConnectError::Timeout {
            url: config.url.clone(),
            timeout: config.handshake_timeout,
        }),
    }
}

/// Pumps frames between the websocket and a fresh agent mux until either ends; returns why.
async fn serve(mut socket: Socket, config: &TunnelClientConfig) -> String {
    let (mux, mut outgoing) =
        Mux::new(Side::Agent, MuxConfig::default(), Some(config.acceptor.clone()));
    let mut ping = tokio::time::interval(config.keepalive.interval);
    let mut last_heard = Instant::now();
    let reason = loop {
        tokio::select! {
            message = socket.next() => {
                last_heard = Instant::now();
                match message {
                    Some(Ok(ws::Frame::Binary(bytes))) => {
                        let received = Frame::decode(bytes)
                            .map_err(|err| err.to_string())
                            .and_then(|frame| mux.receive(frame).map_err(|err| err.to_string()));
                        if let Err(reason) = received {
                            break format!("tunnel protocol error: {reason}");
                        }
                    }
                    Some(Ok(ws::Frame::Ping(payload))) => {
                        if socket.send(ws::Message::Pong(payload)).await.is_err() {
                            break "websocket closed while sending".to_owned();
                        }
                    }
                    Some(Ok(ws::Frame::Pong(_))) => {}
                    Some(Ok(ws::Frame::Close(_))) => break "server closed the websocket".to_owned(),
                    Some(Ok(ws::Frame::Text(_) | ws::Frame::Continuation(_))) => {
                        break "server sent a non-binary websocket message".to_owned();
                    }
                    Some(Err(err)) => break format!("websocket protocol error: {err}"),
                    None => break "server ended the connection".to_owned(),
                }
            }
            frame = outgoing.next() => {
                let Some(frame) = frame else {
                    break "tunnel closed".to_owned();
                };
                match frame.encode() {
                    Ok(bytes) => {
                        if socket.send(ws::Message::Binary(bytes)).await.is_err() {
                            break "websocket closed while sending".to_owned();
                        }
                    }
                    Err(err) => warn!(error = %err, "dropping an unencodable tunnel frame"),
                }
            }
            _ = ping.tick() => {
                if last_heard.elapsed() > config.keepalive.timeout {
                    break format!(
                        "server silent for {:?}, longer than the keepalive timeout",
                        last_heard.elapsed()
                    );
                }
                if socket.send(ws::Message::Ping(Bytes::from_static(b"k3rs"))).await.is_err() {
                    break "websocket closed while sending".to_owned();
                }
            }
        }
    };
    mux.close(&reason);
    let _ = socket.send(ws::Message::Close(None)).await;
    reason
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(err) = source {
        text.push_str(": ");
        text.push_str(&err.to_string());
        source = err.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let backoff = Backoff { initial: Duration::from_millis(500), max: Duration::from_secs(15) };
        let delays: Vec<u64> = (0..8).map(|n| backoff.delay(n).as_millis() as u64).collect();
        assert_eq!(delays, [500, 1000, 2000, 4000, 8000, 15000, 15000, 15000]);
        assert_eq!(backoff.delay(u32::MAX), Duration::from_secs(15));
    }
}
