//! The writer: one thread that orders every write. It drains whatever requests are waiting,
//! checks each against the newest state (compare-and-swap), gives the successful ones consecutive
//! revisions, commits them to the backend in one durable batch (group commit), publishes their
//! events, and only then answers the callers. Compaction runs on the same thread, in steps,
//! between batches.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, TryRecvError};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::oneshot;

use crate::backend::Backend;
use crate::error::{BackendError, Result, StoreError};
use crate::types::{Event, EventKind, KeyValue, Record, Revision};
use crate::watch::WatchHub;

/// Revisions one compaction step may cover, so writes never wait long behind compaction.
pub(crate) const COMPACTION_STEP: Revision = 1000;

/// A write as the caller asks for it.
#[derive(Debug, Clone)]
pub(crate) enum WriteOp {
    Create {
        key: String,
        value: Vec<u8>,
    },
    /// Update an existing key; with `expected`, only if its mod revision is that.
    Update {
        key: String,
        value: Vec<u8>,
        expected: Option<Revision>,
    },
    /// Delete an existing key; with `expected`, only if its mod revision is that.
    Delete {
        key: String,
        expected: Option<Revision>,
    },
}

impl WriteOp {
    fn key(&self) -> &str {
        match self {
            WriteOp::Create { key, .. }
            | WriteOp::Update { key, .. }
            | WriteOp::Delete { key, .. } => key,
        }
    }
}

pub(crate) type Reply<T> = oneshot::Sender<Result<T>>;
/// A caller waiting for its write, and what the batch decided for it.
type Outcome = (Reply<Arc<Event>>, Result<Arc<Event>>);

pub(crate) enum Job {
    Write { op: WriteOp, reply: Reply<Arc<Event>> },
    Compact { target: Revision, reply: Reply<()> },
}

/// Counters the writer keeps for metrics and status pages.
#[derive(Debug, Default)]
pub struct WriterStats {
    pub batches: AtomicU64,
    pub writes: AtomicU64,
    /// Sum of commit durations, in microseconds.
    pub commit_micros: AtomicU64,
    pub last_commit_micros: AtomicU64,
}

/// What the writer and every `Datastore` handle share.
pub(crate) struct Shared {
    pub(crate) backend: Arc<dyn Backend>,
    pub(crate) hub: WatchHub,
    /// The newest committed (and published) revision.
    pub(crate) current: AtomicU64,
    pub(crate) stats: WriterStats,
    /// Set once a commit failed: the backend's state is unknown, so nothing more is written.
    pub(crate) failed: Mutex<Option<String>>,
}

impl Shared {
    pub(crate) fn failure(&self) -> Option<String> {
        self.failed.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

pub(crate) struct Writer {
    shared: Arc<Shared>,
    max_batch: usize,
    compaction: Option<(Revision, Vec<Reply<()>>)>,
}

impl Writer {
    pub(crate) fn new(shared: Arc<Shared>, max_batch: usize) -> Self {
        Writer { shared, max_batch: max_batch.max(1), compaction: None }
    }

    /// Serve jobs until every sender is gone.
    pub(crate) fn run(mut self, rx: Receiver<Job>) {
        loop {
            let mut jobs = Vec::new();
            if self.compaction.is_none() {
                match rx.recv() {
                    Ok(job) => jobs.push(job),
                    Err(_) => return,
                }
            }
            let mut disconnected = false;
            while jobs.len() < self.max_batch {
                match rx.try_recv() {
                    Ok(job) => jobs.push(job),
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => {
                        disconnected = true;
                        break;
                    }
                }
            }
            let mut writes = Vec::with_capacity(jobs.len());
            for job in jobs {
                match job {
                    Job::Write { op, reply } => writes.push((op, reply)),
                    Job::Compact { target, reply } => self.queue_compaction(target, reply),
                }
            }
            if !writes.is_empty() {
                self.write_batch(writes);
            }
            if self.compaction.is_some() {
                self.compaction_step();
            }
            if disconnected && self.compaction.is_none() {
                return;
            }
        }
    }

    fn queue_compaction(&mut self, target: Revision, reply: Reply<()>) {
        let target = target.min(self.shared.current.load(Ordering::Acquire));
        match &mut self.compaction {
            Some((t, replies)) => {
                *t = (*t).max(target);
                replies.push(reply);
            }
            None => self.compaction = Some((target, vec![reply])),
        }
    }

    fn compaction_step(&mut self) {
        let Some((target, _)) = &self.compaction else {
            return;
        };
        let target = *target;
        let result = self.shared.backend.compact_revision().and_then(|done| {
            if done >= target {
                return Ok(true);
            }
            let step = target.min(done.saturating_add(COMPACTION_STEP));
            self.shared.backend.compact(step)?;
            Ok(step >= target)
        });
        let finished = match result {
            Ok(done) => done,
            Err(e) => {
                tracing::warn!(error = %e, target, "compaction step failed");
                if let Some((_, replies)) = self.compaction.take() {
                    let msg = e.to_string();
                    for r in replies {
                        let _ =
                            r.send(Err(BackendError::WriterFailed { reason: msg.clone() }.into()));
                    }
                }
                return;
            }
        };
        if finished && let Some((_, replies)) = self.compaction.take() {
            tracing::debug!(target, "compaction finished");
            for r in replies {
                let _ = r.send(Ok(()));
            }
        }
    }

    fn write_batch(&mut self, writes: Vec<(WriteOp, Reply<Arc<Event>>)>) {
        if let Some(reason) = self.shared.failure() {
            for (_, reply) in writes {
                let _ =
                    reply.send(Err(BackendError::WriterFailed { reason: reason.clone() }.into()));
            }
            return;
        }
        let base = self.shared.current.load(Ordering::Acquire);
        let mut plan =
            Plan { backend: self.shared.backend.as_ref(), next: base + 1, touched: HashMap::new() };
        let mut records = Vec::with_capacity(writes.len());
        let mut outcomes: Vec<Outcome> = Vec::with_capacity(writes.len());
        for (op, reply) in writes {
            let outcome = plan.apply(&op).map(|(record, event)| {
                records.push(record);
                Arc::new(event)
            });
            outcomes.push((reply, outcome));
        }
        if !records.is_empty() {
            let started = Instant::now();
            if let Err(e) = self.shared.backend.commit(&records) {
                let reason = e.to_string();
                tracing::error!(error = %e, backend = self.shared.backend.name(), "datastore commit failed; refusing further writes");
                *self.shared.failed.lock().unwrap_or_else(|p| p.into_inner()) =
                    Some(reason.clone());
                for (reply, _) in outcomes {
                    let _ = reply
                        .send(Err(BackendError::WriterFailed { reason: reason.clone() }.into()));
                }
                return;
            }
            let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
            self.shared.stats.batches.fetch_add(1, Ordering::Relaxed);
            self.shared.stats.writes.fetch_add(records.len() as u64, Ordering::Relaxed);
            self.shared.stats.commit_micros.fetch_add(micros, Ordering::Relaxed);
            self.shared.stats.last_commit_micros.store(micros, Ordering::Relaxed);
            let upto = plan.next - 1;
            self.shared.current.store(upto, Ordering::Release);
            let events: Vec<Arc<Event>> =
                outcomes.iter().filter_map(|(_, o)| o.as_ref().ok().cloned()).collect();
            self.shared.hub.publish(&events, upto);
        }
        for (reply, outcome) in outcomes {
            let _ = reply.send(outcome);
        }
    }
}

/// One batch being planned: the newest state of each key touched so far in the batch.
struct Plan<'a> {
    backend: &'a dyn Backend,
    next: Revision,
    touched: HashMap<String, Option<KeyValue>>,
}

impl Plan<'_> {
    /// The key's live value as of everything planned so far.
    fn live(&mut self, key: &str) -> Result<Option<KeyValue>> {
        if let Some(kv) = self.touched.get(key) {
            return Ok(kv.clone());
        }
        let kv = self.backend.get_at(key, self.next - 1)?.and_then(|r| r.live());
        Ok(kv)
    }

    fn apply(&mut self, op: &WriteOp) -> Result<(Record, Event)> {
        let key = op.key();
        let prev = self.live(key)?;
        let revision = self.next;
        let check = |expected: &Option<Revision>, prev: &Option<KeyValue>| -> Result<KeyValue> {
            match (prev, expected) {
                (None, _) => Err(StoreError::NotFound { key: key.to_owned() }),
                (Some(p), Some(e)) if p.mod_revision != *e => Err(StoreError::Conflict {
                    key: key.to_owned(),
                    expected: *e,
                    current: Some(Box::new(p.clone())),
                }),
                (Some(p), _) => Ok(p.clone()),
            }
        };
        let (record, event) = match op {
            WriteOp::Create { value, .. } => {
                if prev.is_some() {
                    return Err(StoreError::AlreadyExists { key: key.to_owned() });
                }
                let kv = KeyValue {
                    key: key.to_owned(),
                    value: value.clone(),
                    create_revision: revision,
                    mod_revision: revision,
                };
                (record_of(&kv, 0, false), Event { kind: EventKind::Create, kv, prev: None })
            }
            WriteOp::Update { value, expected, .. } => {
                let p = check(expected, &prev)?;
                let kv = KeyValue {
                    key: key.to_owned(),
                    value: value.clone(),
                    create_revision: p.create_revision,
                    mod_revision: revision,
                };
                (
                    record_of(&kv, p.mod_revision, false),
                    Event { kind: EventKind::Update, kv, prev: Some(p) },
                )
            }
            WriteOp::Delete { expected, .. } => {
                let p = check(expected, &prev)?;
                let kv = KeyValue {
                    key: key.to_owned(),
                    value: Vec::new(),
                    create_revision: p.create_revision,
                    mod_revision: revision,
                };
                (
                    record_of(&kv, p.mod_revision, true),
                    Event { kind: EventKind::Delete, kv, prev: Some(p) },
                )
            }
        };
        self.next += 1;
        let now = (!record.deleted).then(|| event.kv.clone());
        self.touched.insert(key.to_owned(), now);
        Ok((record, event))
    }
}

fn record_of(kv: &KeyValue, prev_revision: Revision, deleted: bool) -> Record {
    Record {
        key: kv.key.clone(),
        revision: kv.mod_revision,
        create_revision: kv.create_revision,
        prev_revision,
        deleted,
        value: kv.value.clone(),
    }
}
