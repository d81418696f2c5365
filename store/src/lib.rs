//! k3rs-store: the datastore every other part stands on.
//!
//! Owns: the `Backend` trait and its embedded backends (sled, SQLite), the global revision,
//! compare-and-swap writes with group commit, lists consistent at one revision, watch streams
//! with catch-up from history, and the compaction policy.
//! Does not: know HTTP, Kubernetes objects, actors or nodes. Keys are strings, values bytes.

pub mod backend;
pub mod compaction;
pub mod datastore;
pub mod error;
pub mod types;
pub mod watch;
mod writer;

pub use compaction::{CompactionPolicy, RevisionClock};
pub use datastore::{Datastore, Options, Watch, WatchItem};
pub use error::{BackendError, Result, StoreError};
pub use types::{Event, EventKind, KeyRange, KeyValue, ListPage, ListRequest, Record, Revision};
pub use writer::WriterStats;
