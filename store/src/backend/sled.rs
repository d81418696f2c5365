//! The sled backend (the default): every version of every key in one sled tree, written with
//! atomic batches and flushed before a commit returns.
//!
//! Layout of the single tree (all integers big-endian so byte order is numeric order):
//! - `k` key `\0` revision -> bincode `Version` (one entry per committed write);
//! - `r` revision -> key (the history log, for watches and compaction);
//! - `m` name -> value (`format`, `compact`).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sled::{Batch, IVec, Tree};

use crate::backend::Backend;
use crate::backend::marker::Marker;
use crate::error::{BackendError, Result, StoreError};
use crate::types::{KeyRange, Record, Revision};

const FORMAT: u64 = 1;
const META_FORMAT: &[u8] = b"mformat";
const META_COMPACT: &[u8] = b"mcompact";
/// The committed-revision marker beside sled's files (see `marker.rs`).
const MARKER_FILE: &str = "k3rs-store";

/// What is stored per version (the key and revision are in the tree key).
#[derive(Serialize, Deserialize)]
struct Version {
    create_revision: Revision,
    prev_revision: Revision,
    deleted: bool,
    value: Vec<u8>,
}

/// The sled backend.
pub struct SledBackend {
    path: PathBuf,
    db: sled::Db,
    tree: Tree,
    marker: Marker,
}

impl SledBackend {
    /// Open (or create) the store in directory `path`. Damaged files give `StoreError::Corrupt`
    /// naming the path; they are never modified.
    pub fn open(path: &Path) -> Result<Self> {
        std::fs::create_dir_all(path)
            .map_err(|source| BackendError::Io { path: path.to_owned(), source })?;
        let config = sled::Config::new()
            .path(path)
            .mode(sled::Mode::HighThroughput)
            .cache_capacity(16 * 1024 * 1024)
            .flush_every_ms(None);
        // sled can panic on some kinds of damage instead of returning an error. The panic is
        // turned into `Corrupt` below, so its message is not printed: the hook is silenced for
        // the duration of the open (a panic elsewhere in that moment would lose its message only).
        let hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        let opened = catch_unwind(AssertUnwindSafe(|| config.open()));
        std::panic::set_hook(hook);
        let file = path.join("db");
        let db = match opened {
            Ok(Ok(db)) => db,
            Ok(Err(sled::Error::Corruption { .. })) => {
                return Err(corrupt(&file, "sled reported corruption while recovering"));
            }
            Ok(Err(source)) => {
                return Err(BackendError::Sled { path: path.to_owned(), source }.into());
            }
            Err(_) => return Err(corrupt(&file, "sled failed while recovering its log")),
        };
        let tree: Tree = (*db).clone();
        let marker = Marker::new(path.join(MARKER_FILE));
        let backend = SledBackend { path: file, db, tree, marker };
        backend.check_format()?;
        backend.verify()?;
        Ok(backend)
    }

    fn check_format(&self) -> Result<()> {
        match self.tree.get(META_FORMAT).map_err(|e| self.err(e))? {
            Some(v) if decode_u64(&v) == Some(FORMAT) => {
                self.marker.check(&self.path, self.current_revision()?, false)
            }
            Some(_) => Err(corrupt(&self.path, "unknown format marker")),
            None if self.tree.is_empty() => {
                self.marker.check(&self.path, 0, true)?;
                self.tree.insert(META_FORMAT, &FORMAT.to_be_bytes()).map_err(|e| self.err(e))?;
                self.db.flush().map_err(|e| self.err(e))?;
                Ok(())
            }
            None => Err(corrupt(&self.path, "format marker missing from a non-empty store")),
        }
    }

    /// Read every page and decode every record once, so damage that sled's recovery does not
    /// notice is found at open rather than on some later read.
    fn verify(&self) -> Result<()> {
        for entry in self.tree.iter() {
            let (k, v) = entry.map_err(|e| self.err(e))?;
            match k.first() {
                Some(b'k') => {
                    let (key, rev) = self.split_version_key(&k)?;
                    self.decode_version(key, rev, &v)?;
                }
                Some(b'r') if k.len() == 9 && std::str::from_utf8(&v).is_ok() => {}
                Some(b'm') => {}
                _ => return Err(corrupt(&self.path, "unrecognised entry")),
            }
        }
        Ok(())
    }

    fn err(&self, source: sled::Error) -> StoreError {
        match source {
            sled::Error::Corruption { .. } => corrupt(&self.path, "sled reported corruption"),
            source => BackendError::Sled { path: self.path.clone(), source }.into(),
        }
    }

    fn decode_version(&self, key: &str, revision: Revision, bytes: &[u8]) -> Result<Record> {
        let (v, _): (Version, usize) =
            bincode::serde::decode_from_slice(bytes, bincode::config::standard()).map_err(
                |_| corrupt(&self.path, &format!("cannot decode version {key}@{revision}")),
            )?;
        Ok(Record {
            key: key.to_owned(),
            revision,
            create_revision: v.create_revision,
            prev_revision: v.prev_revision,
            deleted: v.deleted,
            value: v.value,
        })
    }

    /// Split a `k` entry's tree key into the user key and revision.
    fn split_version_key<'a>(&self, raw: &'a [u8]) -> Result<(&'a str, Revision)> {
        let bad = || corrupt(&self.path, "malformed version key");
        if raw.len() < 10 || raw[0] != b'k' || raw[raw.len() - 9] != 0 {
            return Err(bad());
        }
        let key = std::str::from_utf8(&raw[1..raw.len() - 9]).map_err(|_| bad())?;
        let revision = decode_u64(&raw[raw.len() - 8..]).ok_or_else(bad)?;
        Ok((key, revision))
    }

    fn meta_u64(&self, name: &[u8]) -> Result<u64> {
        Ok(self.tree.get(name).map_err(|e| self.err(e))?.and_then(|v| decode_u64(&v)).unwrap_or(0))
    }
}

fn corrupt(path: &Path, reason: &str) -> StoreError {
    StoreError::Corrupt { path: path.to_owned(), reason: reason.to_owned() }
}

fn decode_u64(bytes: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(bytes.try_into().ok()?))
}

fn version_key(key: &str, revision: Revision) -> Vec<u8> {
    let mut k = Vec::with_capacity(key.len() + 10);
    k.push(b'k');
    k.extend_from_slice(key.as_bytes());
    k.push(0);
    k.extend_from_slice(&revision.to_be_bytes());
    k
}

fn key_bound(key: &str, suffix: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(key.len() + 1 + suffix.len());
    k.push(b'k');
    k.extend_from_slice(key.as_bytes());
    k.extend_from_slice(suffix);
    k
}

fn log_key(revision: Revision) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = b'r';
    k[1..].copy_from_slice(&revision.to_be_bytes());
    k
}

impl Drop for SledBackend {
    fn drop(&mut self) {
        let marked = self.db.flush().map_err(|e| self.err(e)).and_then(|_| {
            let current = self.current_revision()?;
            self.marker.record(current)
        });
        if let Err(e) = marked {
            tracing::warn!(error = %e, "could not record the committed revision on close");
        }
    }
}

impl Backend for SledBackend {
    fn name(&self) -> &'static str {
        "sled"
    }

    fn current_revision(&self) -> Result<Revision> {
        let last = self.tree.scan_prefix(b"r").next_back().transpose().map_err(|e| self.err(e))?;
        Ok(last.and_then(|(k, _)| decode_u64(&k[1..])).unwrap_or(0))
    }

    fn compact_revision(&self) -> Result<Revision> {
        self.meta_u64(META_COMPACT)
    }

    fn get_at(&self, key: &str, revision: Revision) -> Result<Option<Record>> {
        let lo = key_bound(key, &[0]);
        let hi = version_key(key, revision.saturating_add(1));
        match self.tree.range(lo..hi).next_back().transpose().map_err(|e| self.err(e))? {
            Some((k, v)) => {
                let (_, rev) = self.split_version_key(&k)?;
                Ok(Some(self.decode_version(key, rev, &v)?))
            }
            None => Ok(None),
        }
    }

    fn range(
        &self,
        range: &KeyRange,
        revision: Revision,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<Record>, bool)> {
        let lo = match after {
            Some(a) if a >= range.start.as_str() => key_bound(a, &[1]),
            _ => key_bound(&range.start, &[]),
        };
        let hi: Vec<u8> =
            if range.end.is_empty() { vec![b'l'] } else { key_bound(&range.end, &[]) };
        let mut out = Vec::new();
        // The newest version at or below `revision` of the key being scanned.
        let mut current: Option<(String, Revision, IVec)> = None;
        let flush =
            |cur: Option<(String, Revision, IVec)>, out: &mut Vec<Record>| -> Result<bool> {
                if let Some((key, rev, bytes)) = cur {
                    let rec = self.decode_version(&key, rev, &bytes)?;
                    if !rec.deleted {
                        if limit != 0 && out.len() == limit {
                            return Ok(true);
                        }
                        out.push(rec);
                    }
                }
                Ok(false)
            };
        for entry in self.tree.range(lo..hi) {
            let (k, v) = entry.map_err(|e| self.err(e))?;
            let (key, rev) = self.split_version_key(&k)?;
            let same_key = current.as_ref().is_some_and(|(ck, _, _)| ck == key);
            if !same_key && flush(current.take(), &mut out)? {
                return Ok((out, true));
            }
            if rev <= revision {
                current = Some((key.to_owned(), rev, v));
            } else if !same_key {
                current = None;
            }
        }
        let more = flush(current.take(), &mut out)?;
        Ok((out, more))
    }

    fn history(&self, range: &KeyRange, after: Revision, limit: usize) -> Result<Vec<Record>> {
        let mut out = Vec::new();
        for entry in self.tree.range(log_key(after.saturating_add(1))..log_key(u64::MAX)) {
            let (k, key) = entry.map_err(|e| self.err(e))?;
            let revision = decode_u64(&k[1..]).unwrap_or(0);
            let key = std::str::from_utf8(&key).map_err(|_| BackendError::Decode {
                path: self.path.clone(),
                what: format!("log entry {revision}"),
            })?;
            if !range.contains(key) {
                continue;
            }
            let bytes = self
                .tree
                .get(version_key(key, revision))
                .map_err(|e| self.err(e))?
                .ok_or_else(|| {
                    corrupt(&self.path, &format!("log entry {revision} names a missing version"))
                })?;
            out.push(self.decode_version(key, revision, &bytes)?);
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }

    fn commit(&self, records: &[Record]) -> Result<()> {
        let mut batch = Batch::default();
        for r in records {
            let v = Version {
                create_revision: r.create_revision,
                prev_revision: r.prev_revision,
                deleted: r.deleted,
                value: r.value.clone(),
            };
            let bytes =
                bincode::serde::encode_to_vec(&v, bincode::config::standard()).map_err(|_| {
                    BackendError::Decode { path: self.path.clone(), what: r.key.clone() }
                })?;
            batch.insert(version_key(&r.key, r.revision), bytes);
            batch.insert(&log_key(r.revision), r.key.as_bytes());
        }
        self.tree.apply_batch(batch).map_err(|e| self.err(e))?;
        self.db.flush().map_err(|e| self.err(e))?;
        match records.last() {
            Some(last) => self.marker.record_now_and_then(last.revision),
            None => Ok(()),
        }
    }

    fn compact(&self, target: Revision) -> Result<()> {
        let from = self.compact_revision()?;
        if target <= from {
            return Ok(());
        }
        let mut batch = Batch::default();
        for entry in self.tree.range(log_key(from)..log_key(target)) {
            let (k, key) = entry.map_err(|e| self.err(e))?;
            let revision = decode_u64(&k[1..]).unwrap_or(0);
            let key = String::from_utf8_lossy(&key).into_owned();
            // Everything older than this version is superseded below the target.
            for old in self.tree.range(key_bound(&key, &[0])..version_key(&key, revision)) {
                let (old_key, _) = old.map_err(|e| self.err(e))?;
                batch.remove(old_key);
            }
            let vk = version_key(&key, revision);
            if let Some(bytes) = self.tree.get(&vk).map_err(|e| self.err(e))?
                && self.decode_version(&key, revision, &bytes)?.deleted
            {
                batch.remove(vk);
            }
            batch.remove(&k);
        }
        batch.insert(META_COMPACT, &target.to_be_bytes());
        self.tree.apply_batch(batch).map_err(|e| self.err(e))?;
        self.db.flush().map_err(|e| self.err(e))?;
        Ok(())
    }
}
