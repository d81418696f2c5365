//! ClusterDns: the cluster DNS (`k3rs-dns`) answered on each node at the cluster DNS address.
//! PodSupervisor starts it once the node's pod network is made: the address goes on the node's
//! loopback (pods reach it through their gateway; the ServiceProxy leaves it alone), the server
//! binds UDP and TCP port 53 there, and its records are rebuilt from Services and
//! EndpointSlices as they change (gathered 20 ms). Other names go to the node's resolvers.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use actix::prelude::*;
use k3rs_agent::client::Https;
use k3rs_dns::{Dns, Records, SharedRecords, Upstreams};

use crate::follow::{self, Followed, Objects};
use crate::tree::{ActorState, Member};

const GATHER: Duration = Duration::from_millis(20);

/// The actor.
pub struct ClusterDns {
    api: Https,
    address: Ipv4Addr,
    domain: String,
    resolv_conf: PathBuf,
    services: Objects,
    slices: Objects,
    records: Option<SharedRecords>,
    scheduled: bool,
    member: Member,
}

/// The server is bound: its records' handle.
#[derive(Message)]
#[rtype(result = "()")]
struct Bound(SharedRecords);

impl ClusterDns {
    pub fn new(
        api: Https,
        address: Ipv4Addr,
        domain: String,
        resolv_conf: PathBuf,
        member: Member,
    ) -> Self {
        ClusterDns {
            api,
            address,
            domain,
            resolv_conf,
            services: Objects::default(),
            slices: Objects::default(),
            records: None,
            scheduled: false,
            member,
        }
    }

    fn schedule(&mut self, ctx: &mut Context<Self>) {
        if self.scheduled {
            return;
        }
        self.scheduled = true;
        ctx.run_later(GATHER, |act, _| {
            act.scheduled = false;
            act.rebuild();
        });
    }

    fn rebuild(&mut self) {
        let Some(shared) = &self.records else { return };
        let (services, slices) = (self.services.values(), self.slices.values());
        match Records::build(&services, &slices, None, &self.domain) {
            Ok(records) => shared.set(records),
            Err(e) => {
                tracing::warn!(actor = "ClusterDns", error = %e, "cannot build the DNS records");
                self.member.error(format!("records: {e}"));
            }
        }
    }
}

/// Put `address` on the loopback, then bind the server there.
async fn bind(address: Ipv4Addr, resolv_conf: PathBuf) -> Result<Dns, String> {
    tokio::task::spawn_blocking(move || k3rs_agent::podnet::add_local_address(address))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    let listen = SocketAddr::from((address, 53));
    let upstreams = match Upstreams::from_resolv_conf(&resolv_conf, listen) {
        Ok(u) => u,
        Err(e) => {
            tracing::warn!(actor = "ClusterDns", error = %e, "no upstream resolvers: only cluster names are answered");
            Upstreams::new(Vec::new())
        }
    };
    Dns::bind(listen, upstreams).await.map_err(|e| e.to_string())
}

impl Actor for ClusterDns {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let (api, mailbox) = (self.api.clone(), self.member.mailbox().clone());
        follow::spawn_all(ctx, &api, &mailbox, &follow::SERVICES);
        let (address, resolv) = (self.address, self.resolv_conf.clone());
        let me = ctx.address();
        ctx.spawn(
            async move {
                // Binding is retried (the address or port may not be ready yet); the agent
                // lives as long as the node, so there is no deadline, only a 1 s pace.
                let dns = loop {
                    match bind(address, resolv.clone()).await {
                        Ok(dns) => break dns,
                        Err(e) => {
                            tracing::warn!(actor = "ClusterDns", %address, error = %e, "cannot serve DNS yet");
                            tokio::time::sleep(Duration::from_secs(1)).await;
                        }
                    }
                };
                tracing::info!(actor = "ClusterDns", %address, "serving cluster DNS");
                me.do_send(Bound(dns.records()));
                if let Err(e) = dns.serve(std::future::pending()).await {
                    tracing::error!(actor = "ClusterDns", error = %e, "the DNS server stopped");
                }
            }
            .into_actor(self),
        );
    }
}

impl Handler<Bound> for ClusterDns {
    type Result = ();

    fn handle(&mut self, msg: Bound, _: &mut Self::Context) {
        self.records = Some(msg.0);
        self.member.set_state(ActorState::Running);
        self.rebuild();
    }
}

impl Handler<Followed> for ClusterDns {
    type Result = ();

    fn handle(&mut self, msg: Followed, ctx: &mut Self::Context) {
        self.member.mailbox().taken();
        let objects = if msg.what == "services" { &mut self.services } else { &mut self.slices };
        objects.apply(msg.change);
        self.schedule(ctx);
    }
}
