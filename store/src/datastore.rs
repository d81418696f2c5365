//! `Datastore`: the store as the rest of k3rs sees it. Reads go straight to the backend at a
//! revision; writes go through the writer thread (ordering, compare-and-swap, group commit);
//! watches replay history from the backend, then follow the live feed from the watch hub.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use tokio::sync::oneshot;

use crate::backend::Backend;
use crate::error::{BackendError, Result, StoreError};
use crate::types::{Event, EventKind, KeyRange, KeyValue, ListPage, ListRequest, Record, Revision};
use crate::watch::{HubItem, Subscription, WatchHub};
use crate::writer::{Job, Shared, WriteOp, Writer, WriterStats};

/// Longest key accepted (etcd-compatible stores cope with far longer; Kubernetes keys are short).
pub const MAX_KEY_BYTES: usize = 4096;
/// History records read per step while a watch catches up.
const CATCH_UP_PAGE: usize = 512;

/// Tuning knobs.
#[derive(Debug, Clone)]
pub struct Options {
    /// Items a watcher may have undelivered before it is dropped as too slow.
    pub watch_buffer: usize,
    /// Most writes committed in one batch.
    pub max_batch: usize,
    /// Writes waiting for the writer before callers are made to wait.
    pub queue_depth: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options { watch_buffer: 4096, max_batch: 1024, queue_depth: 16 * 1024 }
    }
}

struct Inner {
    shared: Arc<Shared>,
    jobs: Mutex<Option<SyncSender<Job>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl Inner {
    fn shutdown(&self) {
        // Dropping the sender ends the writer once it has finished what it holds.
        drop(self.jobs.lock().unwrap_or_else(|p| p.into_inner()).take());
        if let Some(t) = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take()
            && t.join().is_err()
        {
            tracing::error!("datastore writer thread panicked");
        }
    }
}

/// A handle to an open datastore; clones share it.
#[derive(Clone)]
pub struct Datastore {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Datastore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Datastore")
            .field("backend", &self.inner.shared.backend.name())
            .field("revision", &self.current_revision())
            .finish()
    }
}

impl Datastore {
    /// Start serving `backend`.
    pub fn open(backend: Arc<dyn Backend>, options: Options) -> Result<Self> {
        let current = backend.current_revision()?;
        let shared = Arc::new(Shared {
            hub: WatchHub::new(current, options.watch_buffer),
            current: AtomicU64::new(current),
            stats: WriterStats::default(),
            failed: Mutex::new(None),
            backend,
        });
        let writer = Writer::new(shared.clone(), options.max_batch);
        let (tx, rx) = mpsc::sync_channel(options.queue_depth.max(1));
        let thread = std::thread::Builder::new()
            .name(format!("{}-writer", shared.backend.name()))
            .spawn(move || writer.run(rx))
            .map_err(|source| BackendError::Io { path: "writer thread".into(), source })?;
        Ok(Datastore {
            inner: Arc::new(Inner {
                shared,
                jobs: Mutex::new(Some(tx)),
                thread: Mutex::new(Some(thread)),
            }),
        })
    }

    /// Stop accepting writes, finish the queued ones and stop the writer. Other clones then get
    /// `Closed`. Dropping the last clone does the same.
    pub fn close(&self) {
        self.inner.shutdown();
    }

    pub fn backend_name(&self) -> &'static str {
        self.inner.shared.backend.name()
    }

    /// The newest committed revision.
    pub fn current_revision(&self) -> Revision {
        self.inner.shared.current.load(Ordering::Acquire)
    }

    /// Reads below this revision are no longer possible.
    pub fn compact_revision(&self) -> Result<Revision> {
        self.inner.shared.backend.compact_revision()
    }

    pub fn writer_stats(&self) -> &WriterStats {
        &self.inner.shared.stats
    }

    /// Why the writer stopped accepting writes, if it did (the process should restart).
    pub fn failure(&self) -> Option<String> {
        self.inner.shared.failure()
    }

    pub fn watcher_count(&self) -> usize {
        self.inner.shared.hub.len()
    }

    /// Send each watcher a progress marker (the revision everything up to has been delivered).
    pub fn notify_progress(&self) {
        self.inner.shared.hub.progress();
    }

    /// The key's current value.
    pub fn get(&self, key: &str) -> Result<Option<KeyValue>> {
        self.get_at(key, 0)
    }

    /// The key's value as of `revision` (0 = current).
    pub fn get_at(&self, key: &str, revision: Revision) -> Result<Option<KeyValue>> {
        check_key(key)?;
        let rev = self.read_revision(revision)?;
        let found = self.inner.shared.backend.get_at(key, rev)?;
        self.check_not_compacted(rev)?;
        Ok(found.and_then(|r| r.live()))
    }

    /// A page of live keys, consistent at one revision.
    pub fn list(&self, req: &ListRequest) -> Result<ListPage> {
        let rev = self.read_revision(req.revision)?;
        let (records, more) =
            self.inner.shared.backend.range(&req.range, rev, req.after.as_deref(), req.limit)?;
        self.check_not_compacted(rev)?;
        Ok(ListPage { items: records.iter().map(Record::to_kv).collect(), revision: rev, more })
    }

    /// Create `key`; fails with `AlreadyExists` if it exists.
    pub async fn create(&self, key: &str, value: Vec<u8>) -> Result<KeyValue> {
        check_key(key)?;
        let ev = self.write(WriteOp::Create { key: key.to_owned(), value }).await?;
        Ok(ev.kv.clone())
    }

    /// Replace the value of existing `key`; with `expected`, only if its mod revision is that
    /// (`Conflict` otherwise). `NotFound` if it does not exist.
    pub async fn update(
        &self,
        key: &str,
        value: Vec<u8>,
        expected: Option<Revision>,
    ) -> Result<KeyValue> {
        check_key(key)?;
        let ev = self.write(WriteOp::Update { key: key.to_owned(), value, expected }).await?;
        Ok(ev.kv.clone())
    }

    /// Delete existing `key`, with the same conditions as `update`. Returns the delete's revision
    /// and the value deleted.
    pub async fn delete(
        &self,
        key: &str,
        expected: Option<Revision>,
    ) -> Result<(Revision, KeyValue)> {
        check_key(key)?;
        let ev = self.write(WriteOp::Delete { key: key.to_owned(), expected }).await?;
        let prev = ev.prev.clone().ok_or(StoreError::NotFound { key: key.to_owned() })?;
        Ok((ev.kv.mod_revision, prev))
    }

    /// Compact history to `target` (clamped to the current revision); returns once done.
    pub async fn compact(&self, target: Revision) -> Result<()> {
        let (reply, rx) = oneshot::channel();
        self.submit(Job::Compact { target, reply })?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    /// Every event for keys in `range` with a revision greater than `after`, in order, then live
    /// events. `Compacted` if that history is gone.
    pub fn watch(&self, range: KeyRange, after: Revision) -> Result<Watch> {
        let compacted = self.compact_revision()?;
        if after.saturating_add(1) < compacted {
            return Err(StoreError::Compacted { requested: after, compacted });
        }
        let (sub, published) = self.inner.shared.hub.subscribe(range.clone());
        Ok(Watch {
            backend: self.inner.shared.backend.clone(),
            range,
            catch_up_after: after,
            catch_up_until: published,
            last: after,
            buffered: VecDeque::new(),
            sub,
            ended: false,
        })
    }

    async fn write(&self, op: WriteOp) -> Result<Arc<Event>> {
        let (reply, rx) = oneshot::channel();
        self.submit(Job::Write { op, reply })?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    fn submit(&self, job: Job) -> Result<()> {
        let tx = self.inner.jobs.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let tx = tx.ok_or(StoreError::Closed)?;
        tx.send(job).map_err(|_| StoreError::Closed)
    }

    fn read_revision(&self, requested: Revision) -> Result<Revision> {
        let current = self.current_revision();
        match requested {
            0 => Ok(current),
            r if r > current => Err(StoreError::FutureRevision { requested: r, current }),
            r => Ok(r),
        }
    }

    /// After a read at `rev`: if compaction overtook it, the read may be incomplete.
    fn check_not_compacted(&self, rev: Revision) -> Result<()> {
        let compacted = self.compact_revision()?;
        if rev < compacted {
            return Err(StoreError::Compacted { requested: rev, compacted });
        }
        Ok(())
    }
}

fn check_key(key: &str) -> Result<()> {
    let reason = if key.is_empty() {
        "empty"
    } else if key.len() > MAX_KEY_BYTES {
        "longer than 4096 bytes"
    } else if key.contains('\0') {
        "contains a NUL character"
    } else {
        return Ok(());
    };
    Err(StoreError::InvalidKey { key: key.chars().take(100).collect(), reason })
}

/// What a watch yields.
#[derive(Debug, Clone)]
pub enum WatchItem {
    Event(Arc<Event>),
    /// Every event up to this revision has been delivered (for bookmarks).
    Progress(Revision),
}

/// A watch stream: history first, then live events, in revision order with no gaps or repeats.
pub struct Watch {
    backend: Arc<dyn Backend>,
    range: KeyRange,
    catch_up_after: Revision,
    catch_up_until: Revision,
    /// The revision of the last event delivered (or the start point).
    last: Revision,
    buffered: VecDeque<Arc<Event>>,
    sub: Subscription,
    ended: bool,
}

impl std::fmt::Debug for Watch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watch").field("range", &self.range).field("last", &self.last).finish()
    }
}

impl Watch {
    /// The next item; `None` once the store is closed. An `Err` ends the watch (`Compacted` or
    /// `WatchLagged`: relist and watch again).
    pub async fn next(&mut self) -> Option<Result<WatchItem>> {
        if self.ended {
            return None;
        }
        loop {
            if let Some(ev) = self.buffered.pop_front() {
                self.last = ev.revision();
                return Some(Ok(WatchItem::Event(ev)));
            }
            if self.catch_up_after < self.catch_up_until {
                if let Err(e) = self.catch_up() {
                    self.ended = true;
                    return Some(Err(e));
                }
                continue;
            }
            match self.sub.rx.recv().await {
                Some(HubItem::Event(ev)) if ev.revision() > self.last => {
                    self.last = ev.revision();
                    return Some(Ok(WatchItem::Event(ev)));
                }
                Some(HubItem::Event(_)) => continue,
                Some(HubItem::Progress(rev)) => {
                    if rev >= self.last {
                        return Some(Ok(WatchItem::Progress(rev)));
                    }
                }
                None => {
                    self.ended = true;
                    if self.sub.lagged() {
                        return Some(Err(StoreError::WatchLagged { revision: self.last }));
                    }
                    return None;
                }
            }
        }
    }

    /// Read the next page of history into the buffer.
    fn catch_up(&mut self) -> Result<()> {
        let records = self.backend.history(&self.range, self.catch_up_after, CATCH_UP_PAGE)?;
        let compacted = self.backend.compact_revision()?;
        if self.catch_up_after.saturating_add(1) < compacted {
            return Err(StoreError::Compacted { requested: self.catch_up_after, compacted });
        }
        let full_page = records.len() == CATCH_UP_PAGE;
        for rec in records {
            if rec.revision > self.catch_up_until {
                self.catch_up_after = self.catch_up_until;
                return Ok(());
            }
            self.catch_up_after = rec.revision;
            let event = self.event_of(rec)?;
            self.buffered.push_back(Arc::new(event));
        }
        if !full_page {
            self.catch_up_after = self.catch_up_until;
        }
        Ok(())
    }

    fn event_of(&self, rec: Record) -> Result<Event> {
        let prev = if rec.prev_revision == 0 || rec.create_revision == rec.revision {
            None
        } else {
            self.backend.get_at(&rec.key, rec.prev_revision)?.and_then(|r| r.live())
        };
        let kind = if rec.deleted {
            EventKind::Delete
        } else if rec.create_revision == rec.revision {
            EventKind::Create
        } else {
            EventKind::Update
        };
        Ok(Event { kind, kv: rec.to_kv(), prev })
    }
}
