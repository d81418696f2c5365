//! The agent's client-side load balancer, as plain logic: the server pool and its state machine
//! (`pool`), and the list persisted across restarts (`state`). The TCP proxy that uses them is
//! the LoadBalancerActor in `k3rs-actors`.

pub mod pool;
pub mod state;

pub use pool::{Pool, ServerState};
