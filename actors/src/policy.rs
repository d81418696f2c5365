//! PolicyActor: network policies on this node (`k3rs_agent::policy`), K3s's embedded network
//! policy controller's role. Follows NetworkPolicies, Pods and Namespaces; after changes
//! (gathered 20 ms) renders the node's `k3rs-policy` table and applies it atomically when it
//! differs from the last one; a failed apply is retried every second.

use std::time::Duration;

use actix::prelude::*;
use k3rs_agent::client::Https;

use crate::follow::{self, Followed, Objects};
use crate::tree::{ActorState, Member};

const GATHER: Duration = Duration::from_millis(20);

/// The actor.
pub struct PolicyActor {
    api: Https,
    node: String,
    policies: Objects,
    pods: Objects,
    namespaces: Objects,
    applied: String,
    scheduled: bool,
    applying: bool,
    member: Member,
}

impl PolicyActor {
    pub fn new(api: Https, node: String, member: Member) -> Self {
        PolicyActor {
            api,
            node,
            policies: Objects::default(),
            pods: Objects::default(),
            namespaces: Objects::default(),
            applied: String::new(),
            scheduled: false,
            applying: false,
            member,
        }
    }

    fn schedule(&mut self, ctx: &mut Context<Self>) {
        let listed = self.policies.listed && self.pods.listed && self.namespaces.listed;
        if self.scheduled || !listed {
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
        let rules = k3rs_agent::policy::ruleset(
            &self.policies.values(),
            &self.pods.values(),
            &self.namespaces.values(),
            &self.node,
        );
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
                    act.applied = rules;
                    act.member.set_state(ActorState::Running);
                }
                Err(e) => {
                    tracing::warn!(actor = "PolicyActor", node = %act.node, error = %e, "cannot apply the network policies");
                    act.member.error(format!("cannot apply the network policies: {e}"));
                    ctx.run_later(Duration::from_secs(1), |act, ctx| act.apply(ctx));
                }
            }
        }));
    }
}

impl Actor for PolicyActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        tracing::info!(actor = "PolicyActor", node = %self.node, "following network policies");
        let (api, mailbox) = (self.api.clone(), self.member.mailbox().clone());
        let collections = [
            ("/apis/networking.k8s.io/v1/networkpolicies", "networkpolicies"),
            ("/api/v1/pods", "pods"),
            ("/api/v1/namespaces", "namespaces"),
        ];
        follow::spawn_all(ctx, &api, &mailbox, &collections);
    }
}

impl Handler<Followed> for PolicyActor {
    type Result = ();

    fn handle(&mut self, msg: Followed, ctx: &mut Self::Context) {
        self.member.mailbox().taken();
        let objects = match msg.what {
            "networkpolicies" => &mut self.policies,
            "pods" => &mut self.pods,
            _ => &mut self.namespaces,
        };
        objects.apply(msg.change);
        self.schedule(ctx);
    }
}
