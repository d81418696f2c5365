//! k3rs-api: the Kubernetes API logic, as plain code (ADR 004).
//!
//! Owns: who a caller is (`identity`), the one mapping from errors to `metav1.Status`
//! (`status`), the version the server reports (`version`); the resource registry, validation,
//! patch, tables and discovery as they land.
//! Does not: serve HTTP or know actix (the ApiActor in `k3rs-actors` does), or touch storage
//! other than through `k3rs-store`'s `Datastore`.

pub mod admin;
pub mod allocator;
pub mod apply;
pub mod authz;
pub mod body;
pub mod bootstrap;
pub mod crd;
pub mod defaults;
pub mod delete;
pub mod discovery;
pub mod event;
pub mod fields;
pub mod fieldset;
pub mod identity;
pub mod managed;
pub mod metrics;
pub mod objects;
pub mod openapi;
pub mod patch;
pub mod path;
pub mod podlog;
pub mod protobuf;
pub mod quantity;
pub mod registry;
pub mod selector;
pub mod service;
pub mod smp;
pub mod status;
pub mod subresource;
pub mod supervisor;
pub mod svcalloc;
pub mod table;
pub mod version;
pub mod watch;
pub mod write;

pub use identity::Identity;
pub use status::Status;
