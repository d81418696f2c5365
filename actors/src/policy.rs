//! PolicyActor: network policies on this node (`k3rs_agent::policy`), K3s's embedded network
//! policy controller's role. Follows NetworkPolicies, Pods and Namespaces; after changes
//! (gathered 20 ms) renders the node's `k3rs-policy` table and applies it atomically when it
//! differs from the last one; a failed apply is retried every second.

use actix::prelude::*;
use k3rs_agent::client::Https;

use crate::follow::{self, Followed, Objects};
use crate::ruleset::{self, Renders, TableState};
use crate::tree::Member;

/// The actor.
pub struct PolicyActor {
    api: Https,
    node: String,
    policies: Objects,
    pods: Objects,
    namespaces: Objects,
    sync: TableState,
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
            sync: TableState::default(),
            member,
        }
    }
}

impl Renders for PolicyActor {
    const NAME: &'static str = "PolicyActor";

    fn sync(&mut self) -> &mut TableState {
        &mut self.sync
    }

    fn member(&self) -> &Member {
        &self.member
    }

    fn ready(&self) -> bool {
        self.policies.listed && self.pods.listed && self.namespaces.listed
    }

    fn render(&self) -> String {
        k3rs_agent::policy::ruleset(
            &self.policies.values(),
            &self.pods.values(),
            &self.namespaces.values(),
            &self.node,
        )
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
        ruleset::schedule(self, ctx);
    }
}
