//! ServiceProxy: the agent's kube-proxy. Follows Services and EndpointSlices and keeps the
//! node's nftables table (`k3rs_agent::proxy`) in step: changes arriving together are applied
//! as one atomic `nft -f` (20 ms apart at most), and an unchanged ruleset is not applied again.
//! A failed apply is retried every second until one succeeds.

use std::collections::BTreeMap;
use std::time::Duration;

use actix::prelude::*;
use k3rs_agent::client::Https;
use serde_json::Value;

use crate::follow::{self, Change, Followed};
use crate::tree::{ActorState, Member};

/// How long changes gather before one apply.
const GATHER: Duration = Duration::from_millis(20);

/// The actor.
pub struct ServiceProxy {
    api: Https,
    node: String,
    services: BTreeMap<String, Value>,
    slices: BTreeMap<String, Value>,
    /// Both collections have been listed once.
    listed: (bool, bool),
    applied: String,
    scheduled: bool,
    applying: bool,
    member: Member,
}

impl ServiceProxy {
    pub fn new(api: Https, node: String, member: Member) -> Self {
        ServiceProxy {
            api,
            node,
            services: BTreeMap::new(),
            slices: BTreeMap::new(),
            listed: (false, false),
            applied: String::new(),
            scheduled: false,
            applying: false,
            member,
        }
    }

    fn schedule(&mut self, ctx: &mut Context<Self>) {
        if self.scheduled || !(self.listed.0 && self.listed.1) {
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
        let services: Vec<Value> = self.services.values().cloned().collect();
        let slices: Vec<Value> = self.slices.values().cloned().collect();
        let rules = k3rs_agent::proxy::ruleset(&services, &slices, &self.node);
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
                    tracing::debug!(actor = "ServiceProxy", node = %act.node, services = act.services.len(), "rules applied");
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
        for (path, what) in [
            ("/api/v1/services", "services"),
            ("/apis/discovery.k8s.io/v1/endpointslices", "endpointslices"),
        ] {
            let fut = follow::follow(
                self.api.clone(),
                path,
                what,
                ctx.address(),
                self.member.mailbox().clone(),
            );
            ctx.spawn(fut.into_actor(self));
        }
    }
}

impl Handler<Followed> for ServiceProxy {
    type Result = ();

    fn handle(&mut self, msg: Followed, ctx: &mut Self::Context) {
        self.member.mailbox().taken();
        let (map, listed) = match msg.what {
            "services" => (&mut self.services, &mut self.listed.0),
            _ => (&mut self.slices, &mut self.listed.1),
        };
        match msg.change {
            Change::All(items) => {
                *listed = true;
                *map = items.into_iter().map(|o| (follow::key(&o), o)).collect();
            }
            Change::Upsert(o) => {
                map.insert(follow::key(&o), o);
            }
            Change::Deleted(o) => {
                map.remove(&follow::key(&o));
            }
        }
        self.schedule(ctx);
    }
}
