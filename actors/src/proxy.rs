//! ServiceProxy: the agent's kube-proxy. Follows Services and EndpointSlices and keeps the
//! node's nftables table (`k3rs_agent::proxy`) in step: changes arriving together are applied
//! as one atomic `nft -f` (20 ms apart at most), and an unchanged ruleset is not applied again.
//! A failed apply is retried every second until one succeeds.

use std::time::Duration;

use actix::prelude::*;
use k3rs_agent::client::Https;

use crate::follow::{self, Followed, Objects};
use crate::tree::{ActorState, Member};

/// How long changes gather before one apply.
const GATHER: Duration = Duration::from_millis(20);

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
    applied: String,
    scheduled: bool,
    applying: bool,
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
            applied: String::new(),
            scheduled: false,
            applying: false,
            member,
        }
    }

    fn schedule(&mut self, ctx: &mut Context<Self>) {
        if self.scheduled || !(self.services.listed && self.slices.listed) {
            return;
        }
        self.scheduled = true;
        ctx.run_later(GATHER, |act, ctx| {
            act.scheduled = false;
            act.apply(ctx);
        });
    }

    fn apply(&mut self, ctx: &mut Context<Self>) {
        if self.applying {
            return self.schedule(ctx);
        }
        let (services, slices) = (self.services.values(), self.slices.values());
        let rules =
            k3rs_agent::proxy::ruleset(&services, &slices, &self.node, &self.local, &self.cluster);
        if rules == self.applied {
            return;
        }
        self.applying = true;
        let script = rules.clone();
        let work = tokio::task::spawn_blocking(move || k3rs_agent::proxy::apply(&script));
        ctx.spawn(work.into_actor(self).map(move |result, act, ctx| {
            act.applying = false;
            match result.map_err(|e| e.to_string()).and_then(|r| r.map_err(|e| e.to_string())) {
                Ok(()) => {
                    tracing::debug!(actor = "ServiceProxy", node = %act.node, services = act.services.by_key.len(), "rules applied");
                    act.applied = rules;
                    act.member.set_state(ActorState::Running);
                }
                Err(e) => {
                    tracing::warn!(actor = "ServiceProxy", node = %act.node, error = %e, "cannot apply the service rules");
                    act.member.error(format!("cannot apply the service rules: {e}"));
                    ctx.run_later(Duration::from_secs(1), |act, ctx| act.apply(ctx));
                }
            }
        }));
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
        self.schedule(ctx);
    }
}
