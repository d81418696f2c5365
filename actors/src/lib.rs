//! k3rs-actors: the actor tree. Each actor is a thin shell over plain logic from `k3rs-store`,
//! `k3rs-net` or `k3rs-config`: it owns lifecycle (timers, supervision, shutdown) and message
//! plumbing, never logic that could not be tested without actix.
//!
//! Owns: DatastoreActor, ApiActor, ControllerActor; on agents NodeAgentActor, PodSupervisor
//! with its PodWorkers, LoadBalancerActor and TunnelClient; TunnelSessions (one per agent
//! websocket, in a TunnelRegistry) on servers; the agent's in-process kubelet service behind its
//! tunnels; the ActorTree every actor reports to (`/admin/actors`); NodeRegistry and
//! FlannelActor as they land.
//! Does not: parse configuration, build paths, or talk HTTP itself.

pub mod agent;
pub mod api;
pub mod controllers;
pub mod datastore;
pub mod dns;
pub mod flannel;
pub mod follow;
pub mod kubelet;
pub mod loadbalancer;
pub mod pods;
pub mod policy;
pub mod proxy;
mod reap;
pub mod ruleset;
pub mod stdin;
pub mod tree;
pub mod tunnel;

pub use agent::{AgentSettings, NodeAgentActor};
pub use api::{ApiActor, ApiState};
pub use controllers::ControllerActor;
pub use datastore::DatastoreActor;
pub use tree::{ActorState, ActorTree, Member};
