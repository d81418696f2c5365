//! The datastore's error type.

use std::path::PathBuf;

use crate::types::{KeyValue, Revision};

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Everything a datastore operation can fail with. The first group are answers about the data
/// (the API maps them to Kubernetes statuses); the rest are faults.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("key {key:?} already exists")]
    AlreadyExists { key: String },
    #[error("key {key:?} not found")]
    NotFound { key: String },
    /// A compare-and-swap lost: the key's mod revision was not the expected one.
    #[error("key {key:?} was modified: expected revision {expected}, found {}", current.as_ref().map_or(0, |kv| kv.mod_revision))]
    Conflict {
        key: String,
        expected: Revision,
        /// The key as it is now (`None` if it no longer exists).
        current: Option<Box<KeyValue>>,
    },
    /// The requested revision has been compacted away; relist and start again.
    #[error("revision {requested} has been compacted (compaction point {compacted})")]
    Compacted { requested: Revision, compacted: Revision },
    #[error("revision {requested} is in the future (current revision {current})")]
    FutureRevision { requested: Revision, current: Revision },
    /// A watcher fell too far behind and was dropped; relist and watch again.
    #[error("watch fell too far behind and was ended at revision {revision}")]
    WatchLagged { revision: Revision },
    #[error("invalid key {key:?}: {reason}")]
    InvalidKey { key: String, reason: &'static str },
    #[error("datastore is closed")]
    Closed,
    /// The datastore files are damaged: refuse to run on them.
    #[error("datastore {path} is corrupt: {reason}")]
    Corrupt { path: PathBuf, reason: String },
    #[error(transparent)]
    Backend(#[from] BackendError),
}

impl StoreError {
    /// Errors that describe the data and are the caller's to handle, as opposed to faults.
    pub fn is_data_error(&self) -> bool {
        matches!(
            self,
            StoreError::AlreadyExists { .. }
                | StoreError::NotFound { .. }
                | StoreError::Conflict { .. }
                | StoreError::Compacted { .. }
                | StoreError::FutureRevision { .. }
                | StoreError::WatchLagged { .. }
                | StoreError::InvalidKey { .. }
        )
    }
}

/// A fault inside a storage backend.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("sled datastore {path}")]
    Sled {
        path: PathBuf,
        #[source]
        source: sled::Error,
    },
    #[error("sqlite datastore {path}")]
    Sqlite {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("datastore {path}: cannot decode record {what}")]
    Decode { path: PathBuf, what: String },
    #[error("datastore {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("datastore writer failed earlier and stopped: {reason}")]
    WriterFailed { reason: String },
}
