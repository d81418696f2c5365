//! ServiceProxy: the agent's kube-proxy. Follows Services and EndpointSlices and keeps the
//! node's nftables table (`k3rs_agent::proxy`) in step: changes arriving together are applied
//! as one atomic `nft -f` (20 ms apart at most), and an unchanged ruleset is not applied again.
//! A failed apply is retried every second until one succeeds.

use actix::prelude::*;
use k3rs_agent::client::Https;

use crate::follow::{self, Followed, Objects};
use crate::ruleset::{self, Renders, TableState};
use crate::tree::Member;

/// The actor.
pub struct ServiceProxy {
    api: Https,
    node: String,
    /// Service addresses this node answers itself (the cluster DNS): no rules for them.
    local: Vec<String>,
    /// The pods' range (`--cluster-cidr`).
    cluster: String,
    services: Objects,
    slices: Objects,
    sync: TableState,
    member: Member,
}

impl ServiceProxy {
    pub fn new(
        api: Https,
        node: String,
        local: Vec<String>,
        cluster: String,
        member: Member,
    ) -> Self {
        ServiceProxy {
            api,
            node,
            local,
            cluster,
            services: Objects::default(),
            slices: Objects::default(),
            sync: TableState::default(),
            member,
        }
    }
}

impl Renders for ServiceProxy {
    const NAME: &'static str = "ServiceProxy";

    fn sync(&mut self) -> &mut TableState {
        &mut self.sync
    }

    fn member(&self) -> &Member {
        &self.member
    }

    fn ready(&self) -> bool {
        self.services.listed && self.slices.listed
    }

    fn render(&self) -> String {
        k3rs_agent::proxy::ruleset(
            &self.services.values(),
            &self.slices.values(),
            &self.node,
            &self.local,
            &self.cluster,
        )
    }
}

impl Actor for ServiceProxy {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        tracing::info!(actor = "ServiceProxy", node = %self.node, "following services and endpoint slices");
        let (api, mailbox) = (self.api.clone(), self.member.mailbox().clone());
        follow::spawn_all(ctx, &api, &mailbox, &follow::SERVICES);
    }
}

impl Handler<Followed> for ServiceProxy {
    type Result = ();

    fn handle(&mut self, msg: Followed, ctx: &mut Self::Context) {
        self.member.mailbox().taken();
        let objects = if msg.what == "services" { &mut self.services } else { &mut self.slices };
        objects.apply(msg.change);
        ruleset::schedule(self, ctx);
    }
}
