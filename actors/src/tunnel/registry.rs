//! TunnelRegistry: the server's connected agent tunnels by node name, and `dial`, how other
//! server code reaches a node's local endpoints through them.
//!
//! A shared map rather than an actor: `dial` is on the path of every `kubectl logs`/`exec`,
//! and a lookup under a short lock costs less than a mailbox round trip. The registry knows
//! nothing of actors: a [`TunnelSession`](super::session::TunnelSession) registers its mux
//! when it starts and removes it when it stops; closing the mux ends the session.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use k3rs_net::tunnel::{Mux, MuxError, Stream};
use thiserror::Error;
use tracing::info;

use crate::tree::Member;

/// Why a dial through a tunnel failed.
#[derive(Debug, Error)]
pub enum DialError {
    #[error("node {node} has no tunnel connected")]
    NotConnected { node: String },
    #[error("dialing {target} on node {node} through its tunnel")]
    Mux {
        node: String,
        target: String,
        #[source]
        source: MuxError,
    },
}

/// One connected tunnel, for `/admin/tunnels`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TunnelInfo {
    pub node: String,
    pub uptime: Duration,
    pub open_streams: usize,
    pub bytes_in: u64,
    pub bytes_out: u64,
}

struct Entry {
    session: u64,
    mux: Mux,
    since: Instant,
}

/// The server's tunnels by node name; cheap to clone, shared by every HTTP worker.
#[derive(Clone, Default)]
pub struct TunnelRegistry {
    tunnels: Arc<RwLock<HashMap<String, Entry>>>,
    next_session: Arc<AtomicU64>,
    /// Where sessions show in the actor tree (the API actor's place).
    parent: Option<Arc<Member>>,
}

impl std::fmt::Debug for TunnelRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TunnelRegistry").field("nodes", &self.nodes()).finish()
    }
}

impl TunnelRegistry {
    pub fn new() -> Self {
        TunnelRegistry::default()
    }

    /// Sessions show in the actor tree under `parent`.
    pub fn with_parent(mut self, parent: Arc<Member>) -> Self {
        self.parent = Some(parent);
        self
    }

    /// A new session's place in the actor tree.
    pub(super) fn member(&self, node: &str) -> Member {
        match &self.parent {
            Some(parent) => parent.child("TunnelSession", node),
            None => Member::detached("TunnelSession", node),
        }
    }

    /// Opens a stream to `target` (`tcp/127.0.0.1:<kubelet port>`) on `node`'s side of its
    /// tunnel. A target the agent refuses shows as an error on the stream's first read.
    pub async fn dial(&self, node: &str, target: &str) -> Result<Stream, DialError> {
        let mux =
            self.mux(node).ok_or_else(|| DialError::NotConnected { node: node.to_owned() })?;
        mux.open(target).await.map_err(|source| DialError::Mux {
            node: node.to_owned(),
            target: target.to_owned(),
            source,
        })
    }

    /// Whether `node` has a tunnel connected (the node's reachability for the load balancer
    /// and the admin endpoints).
    pub fn is_connected(&self, node: &str) -> bool {
        self.mux(node).is_some_and(|mux| !mux.is_closed())
    }

    /// Connected node names, sorted.
    pub fn nodes(&self) -> Vec<String> {
        let mut nodes: Vec<String> = self.read().keys().cloned().collect();
        nodes.sort();
        nodes
    }

    /// Every tunnel with its uptime and traffic, sorted by node.
    pub fn list(&self) -> Vec<TunnelInfo> {
        let mut list: Vec<TunnelInfo> = self
            .read()
            .iter()
            .map(|(node, entry)| {
                let stats = entry.mux.stats();
                TunnelInfo {
                    node: node.clone(),
                    uptime: entry.since.elapsed(),
                    open_streams: stats.open_streams,
                    bytes_in: stats.bytes_in,
                    bytes_out: stats.bytes_out,
                }
            })
            .collect();
        list.sort_by(|a, b| a.node.cmp(&b.node));
        list
    }

    /// Ends `node`'s tunnel, if any (node deleted, or an operator's request): its streams fail
    /// with `reason` and its session closes the websocket; the agent will reconnect.
    pub fn disconnect(&self, node: &str, reason: &str) -> bool {
        match self.mux(node) {
            Some(mux) => {
                mux.close(reason);
                true
            }
            None => false,
        }
    }

    /// Registers `node`'s new tunnel and returns its session number. A previous tunnel of the
    /// same node is closed: the newest connection wins, as after an agent restart.
    pub(super) fn register(&self, node: &str, mux: Mux) -> u64 {
        let session = self.next_session.fetch_add(1, Ordering::Relaxed);
        let entry = Entry { session, mux, since: Instant::now() };
        let old = self
            .tunnels
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(node.to_owned(), entry);
        if let Some(old) = old {
            info!(node, "tunnel replaced by a newer connection");
            old.mux.close(&format!("replaced by a newer tunnel from node {node}"));
        }
        session
    }

    /// Removes `node`'s tunnel if it is still session `session` (not a newer one).
    pub(super) fn deregister(&self, node: &str, session: u64) {
        let mut tunnels = self.tunnels.write().unwrap_or_else(PoisonError::into_inner);
        if tunnels.get(node).is_some_and(|entry| entry.session == session) {
            tunnels.remove(node);
        }
    }

    fn mux(&self, node: &str) -> Option<Mux> {
        self.read().get(node).map(|entry| entry.mux.clone())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Entry>> {
        self.tunnels.read().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use k3rs_net::tunnel::{MuxConfig, Side};

    use super::*;

    fn mux() -> Mux {
        Mux::new(Side::Server, MuxConfig::default(), None).0
    }

    #[tokio::test]
    async fn dial_needs_a_connected_node() {
        let registry = TunnelRegistry::new();
        let err = registry.dial("node-a", "tcp/127.0.0.1:10250").await.expect_err("no tunnel");
        assert_eq!(err.to_string(), "node node-a has no tunnel connected");
    }

    #[test]
    fn a_newer_tunnel_replaces_and_closes_the_old_one() {
        let registry = TunnelRegistry::new();
        let first = mux();
        let one = registry.register("node-a", first.clone());
        let two = registry.register("node-a", mux());
        assert!(first.is_closed());
        assert!(registry.is_connected("node-a"));
        // The old session's late deregistration leaves the new tunnel in place.
        registry.deregister("node-a", one);
        assert_eq!(registry.nodes(), vec!["node-a".to_owned()]);
        registry.deregister("node-a", two);
        assert!(registry.nodes().is_empty());
        assert!(!registry.is_connected("node-a"));
    }

    #[test]
    fn list_reports_each_tunnel() {
        let registry = TunnelRegistry::new();
        registry.register("node-b", mux());
        registry.register("node-a", mux());
        let list = registry.list();
        let nodes: Vec<&str> = list.iter().map(|t| t.node.as_str()).collect();
        assert_eq!(nodes, ["node-a", "node-b"]);
        assert_eq!(list[0].open_streams, 0);
    }
}
