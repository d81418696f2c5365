//! ControllerActor: runs the server's controllers (`k3rs_controllers::manager`: namespaces,
//! CRDs, garbage collection, Deployments, ReplicaSets) and the node lifecycle check
//! (`nodelifecycle::run`, on a timer) for as long as the actor lives.

use actix::prelude::*;
use k3rs_api::registry::SharedRegistry;

use crate::tree::{ActorState, Member};

/// The actor.
pub struct ControllerActor {
    store: k3rs_store::Datastore,
    registry: SharedRegistry,
    /// `--cluster-cidr`, which node pod ranges come from.
    cluster_cidr: String,
    member: Member,
}

impl ControllerActor {
    pub fn new(
        store: k3rs_store::Datastore,
        registry: SharedRegistry,
        cluster_cidr: String,
    ) -> Self {
        let member = Member::detached("ControllerActor", "");
        ControllerActor { store, registry, cluster_cidr, member }
    }

    /// Report to the actor tree through `member`.
    pub fn with_member(mut self, member: Member) -> Self {
        self.member = member;
        self
    }
}

impl Actor for ControllerActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let (store, registry) = (self.store.clone(), self.registry.clone());
        ctx.spawn(
            k3rs_controllers::nodelifecycle::run(
                store.clone(),
                registry.clone(),
                self.cluster_cidr.clone(),
            )
            .into_actor(self),
        );
        ctx.spawn(
            k3rs_controllers::events::run_expiry(store.clone(), registry.clone()).into_actor(self),
        );
        tracing::info!(actor = "ControllerActor", "controllers started");
        self.member.set_state(ActorState::Running);
        ctx.spawn(
            async move {
                k3rs_controllers::manager::run(store, registry).await;
                tracing::info!(actor = "ControllerActor", "controllers stopped: datastore closed");
            }
            .into_actor(self),
        );
    }
}
