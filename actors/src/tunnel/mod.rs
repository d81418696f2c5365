//! The websocket tunnel's actors ([ADR 007](../../../docs/adr/007-tunnel.md)): on the server,
//! one [`TunnelSession`] per agent websocket, found by node name in the [`TunnelRegistry`]
//! (`dial(node, target)`); on the agent, the [`TunnelClient`] that keeps the websocket up.
//! Framing, multiplexing and flow control are plain logic in `k3rs_net::tunnel`.

pub mod client;
pub mod registry;
pub mod session;
#[cfg(test)]
mod tests;

use std::time::Duration;

pub use client::{
    Backoff, GetTunnelStatus, StopTunnel, TunnelClient, TunnelClientConfig, TunnelStatus,
};
pub use registry::{DialError, TunnelInfo, TunnelRegistry};
pub use session::{TunnelSession, accept, connect_route};

/// Where agents open their tunnel on the server port.
pub const CONNECT_PATH: &str = "/v1-k3rs/connect";

/// Websocket keepalive, both ends: ping every `interval`; give up after `timeout` without
/// hearing anything (K3s: 5 s and 60 s).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keepalive {
    pub interval: Duration,
    pub timeout: Duration,
}

impl Default for Keepalive {
    fn default() -> Self {
        Keepalive { interval: Duration::from_secs(5), timeout: Duration::from_secs(60) }
    }
}
