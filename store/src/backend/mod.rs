//! The `Backend` trait: what a storage engine must provide. Backends are dumb and durable: they
//! persist records the datastore has already ordered and checked, and answer reads by revision.
//! Ordering, compare-and-swap, watch fan-out and compaction policy live in the datastore.

use crate::error::Result;
use crate::types::{KeyRange, Record, Revision};

pub mod marker;
pub mod sled;
pub mod sqlite;

/// A storage engine holding every version of every key since the compaction point.
///
/// Contract:
/// - `commit` is atomic (all records or none) and durable (on disk when it returns). Records
///   arrive with consecutive revisions following `current_revision`.
/// - Reads see only committed batches, never part of one.
/// - After `compact(c)`: for every key, versions older than the key's newest version below `c`
///   are gone, and so is that newest version if it is a tombstone. Nothing at or above `c` is
///   touched, so reads at any revision `>= c` and history after `c - 1` are unchanged.
pub trait Backend: Send + Sync + 'static {
    /// Short name for logs and metrics ("sled", "sqlite").
    fn name(&self) -> &'static str;

    /// The highest committed revision (0 for an empty store).
    fn current_revision(&self) -> Result<Revision>;

    /// The compaction point: reads below it are no longer possible (0 if never compacted).
    fn compact_revision(&self) -> Result<Revision>;

    /// The newest version of `key` at or below `revision` (tombstones included).
    fn get_at(&self, key: &str, revision: Revision) -> Result<Option<Record>>;

    /// Live keys in `range` as of `revision`, in key order, strictly after `after`, at most
    /// `limit` of them (0 = all). Returns the page and whether more live keys follow.
    fn range(
        &self,
        range: &KeyRange,
        revision: Revision,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<Record>, bool)>;

    /// Records for keys in `range` with revision greater than `after`, in revision order, at most
    /// `limit` of them.
    fn history(&self, range: &KeyRange, after: Revision, limit: usize) -> Result<Vec<Record>>;

    /// Persist `records` atomically and durably.
    fn commit(&self, records: &[Record]) -> Result<()>;

    /// Compact to `target` (see the trait contract) and record it as the compaction point.
    fn compact(&self, target: Revision) -> Result<()>;
}
