//! k3rs-controllers: the control loops of the server, as plain async logic over the object
//! service (`k3rs_api::service::Objects`), so every write they make is one a client could make.
//!
//! Owns: what each controller decides (namespace lifecycle, CRDs and the served registry,
//! garbage collection of `ownerReferences`, Deployment -> ReplicaSet -> Pod, DaemonSet,
//! StatefulSet and Job pods, node lifecycle, scheduling) and the loop that feeds them work from
//! the datastore's watch (`manager`).
//! Does not: know actix or HTTP (the `ControllerActor` in `k3rs-actors` runs the loop), or
//! write to the store other than through `Objects`.

pub mod crd;
pub mod cron;
pub mod cronjob;
pub mod daemonset;
pub mod deployment;
pub mod endpoints;
pub mod events;
pub mod gc;
pub mod ipam;
pub mod job;
pub mod manager;
pub mod namespace;
pub mod nodelifecycle;
pub mod owned;
pub mod replicaset;
pub mod scheduler;
pub mod statefulset;
pub mod work;
