//! The committed-revision marker: a small file beside a backend's data recording a revision that
//! is known to be durable. It is written when a store is created, rewritten after a commit at most
//! once a second, and on close. Storage engines recover a truncated or wiped file without
//! complaint (sled drops its log's tail; SQLite takes an empty file for a new database); a store
//! that opens below the recorded revision, or empty while the marker exists, has lost committed
//! data and is refused.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::error::{BackendError, Result, StoreError};
use crate::types::Revision;

const EVERY: Duration = Duration::from_secs(1);

/// A backend's marker file.
#[derive(Debug)]
pub struct Marker {
    path: PathBuf,
    last: Mutex<Instant>,
}

impl Marker {
    pub fn new(path: PathBuf) -> Self {
        Marker { path, last: Mutex::new(Instant::now()) }
    }

    /// Check a store that opened holding `current`, described as `data` in errors. `fresh` says
    /// the store has just been created empty: that is only fine if no marker exists yet.
    pub fn check(&self, data: &Path, current: Revision, fresh: bool) -> Result<()> {
        let recorded =
            self.read().map_err(|source| BackendError::Io { path: self.path.clone(), source })?;
        match recorded {
            Some(_) if fresh => {
                Err(corrupt(data, "the store was initialised but its data is gone"))
            }
            Some(Some(committed)) if committed > current => Err(corrupt(
                data,
                &format!(
                    "it holds revision {current} but revision {committed} was committed \
                     (the file is truncated or damaged)"
                ),
            )),
            None if !fresh && current > 0 => self.record(current),
            _ if fresh => self.record(0),
            _ => Ok(()),
        }
    }

    /// Record `revision` as durable now.
    pub fn record(&self, revision: Revision) -> Result<()> {
        write(&self.path, revision)
            .map_err(|source| BackendError::Io { path: self.path.clone(), source }.into())
    }

    /// Record `revision` if the last record is more than a second old.
    pub fn record_now_and_then(&self, revision: Revision) -> Result<()> {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        if last.elapsed() < EVERY {
            return Ok(());
        }
        *last = Instant::now();
        self.record(revision)
    }

    /// `None`: no marker. `Some(None)`: a marker without a readable revision.
    fn read(&self) -> std::io::Result<Option<Option<Revision>>> {
        match std::fs::read_to_string(&self.path) {
            Ok(text) => Ok(Some(
                text.lines().find_map(|l| l.strip_prefix("committed ")?.trim().parse().ok()),
            )),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }
}

fn corrupt(path: &Path, reason: &str) -> StoreError {
    StoreError::Corrupt { path: path.to_owned(), reason: reason.to_owned() }
}

/// Replace the file durably: write a new one, sync it, rename it over, sync the directory.
fn write(path: &Path, revision: Revision) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(format!("k3rs datastore marker\ncommitted {revision}\n").as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_store_below_its_recorded_revision_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let m = Marker::new(dir.path().join("marker"));
        m.check(dir.path(), 0, true).unwrap();
        m.record(10).unwrap();
        m.check(dir.path(), 10, false).unwrap();
        m.check(dir.path(), 12, false).unwrap();
        assert!(matches!(m.check(dir.path(), 9, false), Err(StoreError::Corrupt { .. })));
        assert!(matches!(m.check(dir.path(), 0, true), Err(StoreError::Corrupt { .. })));
    }

    #[test]
    fn a_store_from_before_markers_gets_one() {
        let dir = tempfile::tempdir().unwrap();
        let m = Marker::new(dir.path().join("marker"));
        m.check(dir.path(), 5, false).unwrap();
        assert!(matches!(m.check(dir.path(), 4, false), Err(StoreError::Corrupt { .. })));
    }
}
