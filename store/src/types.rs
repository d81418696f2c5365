//! Plain value types shared by the datastore, its backends and its users.

use serde::{Deserialize, Serialize};

/// A position in the store's single global history. Revision 0 is the empty store; every
/// committed write takes the next revision, so revisions have no gaps.
pub type Revision = u64;

/// A live key and its value, with the revisions etcd reports for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    pub key: String,
    pub value: Vec<u8>,
    /// The revision of the write that created this incarnation of the key.
    pub create_revision: Revision,
    /// The revision of the last write to the key (Kubernetes' `resourceVersion`).
    pub mod_revision: Revision,
}

/// One stored version of a key: what a backend persists for every committed write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub key: String,
    /// This write's revision.
    pub revision: Revision,
    pub create_revision: Revision,
    /// The revision of the key's previous version, 0 when there was none.
    pub prev_revision: Revision,
    /// A delete (tombstone) rather than a put.
    pub deleted: bool,
    pub value: Vec<u8>,
}

impl Record {
    /// The live key-value this version represents, or `None` for a tombstone.
    pub fn live(&self) -> Option<KeyValue> {
        (!self.deleted).then(|| self.to_kv())
    }

    pub(crate) fn to_kv(&self) -> KeyValue {
        KeyValue {
            key: self.key.clone(),
            value: self.value.clone(),
            create_revision: self.create_revision,
            mod_revision: self.revision,
        }
    }
}

/// What a watch reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// The key was created.
    Create,
    /// An existing key was given a new value.
    Update,
    /// The key was deleted.
    Delete,
}

/// One committed change to a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub kind: EventKind,
    /// The key after the change. For a delete: the key, an empty value, the deleted
    /// incarnation's create revision, and the delete's revision as mod revision.
    pub kv: KeyValue,
    /// The key before the change (absent for a create).
    pub prev: Option<KeyValue>,
}

impl Event {
    pub fn revision(&self) -> Revision {
        self.kv.mod_revision
    }
}

/// A half-open key range `[start, end)`; an empty `end` means "to the end of the keyspace".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRange {
    pub start: String,
    pub end: String,
}

impl KeyRange {
    /// Every key that starts with `prefix`.
    pub fn prefix(prefix: &str) -> Self {
        KeyRange { start: prefix.to_owned(), end: prefix_end(prefix) }
    }

    /// Exactly one key.
    pub fn single(key: &str) -> Self {
        let mut end = key.to_owned();
        end.push('\0');
        KeyRange { start: key.to_owned(), end }
    }

    pub fn contains(&self, key: &str) -> bool {
        key >= self.start.as_str() && (self.end.is_empty() || key < self.end.as_str())
    }
}

/// The smallest string greater than every string that starts with `prefix` ("" if none).
fn prefix_end(prefix: &str) -> String {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        // Skip over the surrogate gap; char::MAX has no successor.
        let next = match last {
            '\u{D7FF}' => Some('\u{E000}'),
            c => char::from_u32(c as u32 + 1),
        };
        if let Some(next) = next {
            chars.push(next);
            return chars.into_iter().collect();
        }
    }
    String::new()
}

/// A list request: live keys in `range` as of `revision`, after the key `after` (exclusive),
/// at most `limit` of them (0 = no limit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListRequest {
    pub range: KeyRange,
    /// 0 means the current revision.
    pub revision: Revision,
    pub after: Option<String>,
    pub limit: usize,
}

/// One page of a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListPage {
    pub items: Vec<KeyValue>,
    /// The revision the page was read at: pass it back with `after` for the next page.
    pub revision: Revision,
    /// More live keys follow the last item.
    pub more: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_ranges_cover_exactly_the_prefix() {
        let r = KeyRange::prefix("/registry/pods/");
        assert_eq!(r.end, "/registry/pods0");
        assert!(r.contains("/registry/pods/default/a"));
        assert!(!r.contains("/registry/podsx"));
        assert!(!r.contains("/registry/pod"));
        assert_eq!(KeyRange::prefix("").end, "");
        assert!(KeyRange::prefix("").contains("anything"));
    }

    #[test]
    fn single_key_range_excludes_longer_keys() {
        let r = KeyRange::single("/a");
        assert!(r.contains("/a"));
        assert!(!r.contains("/a/b"));
        assert!(!r.contains("/a\u{1}"));
    }
}
