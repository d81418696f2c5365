//! ApiActor: serves the Kubernetes API and the supervisor's public endpoints over HTTPS on the
//! listener it is given. The actor owns the HTTP server's lifecycle; request handling is in
//! `routes`, who the caller is in `caller`, and how a `Status` is written in `respond`.

mod caller;
mod exec;
mod metrics;
mod params;
mod portforward;
mod resources;
mod respond;
mod routes;
pub mod supervisor;
mod tunneled;
mod watch;
mod writes;

use std::net::TcpListener;
use std::sync::Arc;

use actix::prelude::*;
use actix_web::dev::ServerHandle;
use actix_web::{App, HttpServer, web};
use k3rs_api::registry::SharedRegistry;
use k3rs_api::version::VersionInfo;

use crate::datastore::DatastoreActor;
use crate::tree::{ActorTree, Member, Tracked};
use crate::tunnel::TunnelRegistry;

/// What every request handler can reach.
#[derive(Clone)]
pub struct ApiState {
    pub datastore: Tracked<DatastoreActor>,
    /// The datastore handle HTTP workers read through (writes and watches too, as they land).
    pub store: k3rs_store::Datastore,
    /// The server CA bundle, served at `/cacerts`.
    pub server_ca_pem: String,
    pub version: VersionInfo,
    /// The resources served (built-ins and CRDs); handlers take one snapshot per request.
    pub registry: SharedRegistry,
    /// Request counts and latencies, served at `/metrics`.
    pub metrics: std::sync::Arc<k3rs_api::metrics::Metrics>,
    /// `host:port` clients reach this server at, for `/api`'s `serverAddressByClientCIDRs`.
    pub server_address: String,
    /// The supervisor endpoints agents join with (`None`: not served, e.g. in tests).
    pub supervisor: Option<std::sync::Arc<supervisor::Supervisor>>,
    /// The agents' tunnels (`/v1-k3rs/connect`), how node subresources reach kubelets.
    pub tunnels: TunnelRegistry,
    /// The process's actors, for `/admin/actors`.
    pub actors: ActorTree,
    /// The Service ranges (`--service-cidr`, `--service-node-port-range`) writes allocate from.
    pub network: k3rs_api::allocator::ServiceNetwork,
}

/// The actor.
pub struct ApiActor {
    listener: Option<TcpListener>,
    tls: Option<rustls::ServerConfig>,
    state: ApiState,
    workers: usize,
    handle: Option<ServerHandle>,
    member: Arc<Member>,
}

impl ApiActor {
    /// Serve on `listener` (already bound, so callers and tests choose the port) with `tls`.
    pub fn new(listener: TcpListener, tls: rustls::ServerConfig, state: ApiState) -> Self {
        let workers = std::thread::available_parallelism().map_or(2, |n| n.get()).min(4);
        let member = Arc::new(Member::detached("ApiActor", ""));
        ApiActor { listener: Some(listener), tls: Some(tls), state, workers, handle: None, member }
    }

    /// Report to the actor tree through `member` (shared with the tunnel registry, whose
    /// sessions show under it).
    pub fn with_member(mut self, member: Arc<Member>) -> Self {
        self.member = member;
        self
    }
}

impl Actor for ApiActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let (Some(listener), Some(tls)) = (self.listener.take(), self.tls.take()) else {
            tracing::error!(actor = "ApiActor", "started twice without a listener");
            ctx.stop();
            return;
        };
        let addr = listener.local_addr().ok();
        let state = self.state.clone();
        let server = HttpServer::new(move || {
            let tunnels = state.tunnels.clone();
            App::new()
                .app_data(web::Data::new(state.clone()))
                .configure(|cfg| {
                    crate::tunnel::connect_route(cfg, tunnels, caller::node_name);
                    tunneled::configure(cfg);
                })
                .configure(routes::configure)
        })
        .workers(self.workers)
        .on_connect(caller::capture_peer_certificate)
        .disable_signals()
        .listen_rustls_0_23(listener, tls);
        match server {
            Ok(server) => {
                let server = server.run();
                self.handle = Some(server.handle());
                self.member.set_state(crate::tree::ActorState::Running);
                tracing::info!(actor = "ApiActor", ?addr, "serving the Kubernetes API");
                ctx.spawn(
                    async move {
                        if let Err(e) = server.await {
                            tracing::error!(actor = "ApiActor", error = %e, "API server failed");
                        }
                    }
                    .into_actor(self),
                );
            }
            Err(e) => {
                tracing::error!(actor = "ApiActor", error = %e, "cannot serve the API");
                self.member.error(format!("cannot serve the API: {e}"));
                System::current().stop_with_code(1);
                ctx.stop();
            }
        }
    }

    fn stopping(&mut self, _: &mut Self::Context) -> Running {
        if let Some(handle) = self.handle.take() {
            // Graceful: in-flight requests finish; the server future then ends.
            actix::spawn(handle.stop(true));
        }
        Running::Stop
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
