//! DatastoreActor: owns the open `Datastore`, runs compaction and watch-progress ticks, and
//! answers data requests. Ordering and group commit happen in the store's writer thread; this
//! actor adds lifecycle. If the writer reports a failed commit the store's state on disk is in
//! doubt: the actor logs it and stops the system, so the process exits and is restarted by its
//! service manager, reopening (and re-verifying) the store.

use std::time::{Duration, Instant};

use actix::prelude::*;
use k3rs_store::{
    CompactionPolicy, Datastore, KeyRange, KeyValue, ListPage, ListRequest, Revision,
    RevisionClock, StoreError, Watch,
};
use tracing::{Instrument, info_span};

use crate::tree::{ActorState, Mailbox, Member};

/// How often the actor samples the revision and considers compacting.
pub const COMPACTION_TICK: Duration = Duration::from_secs(30);
/// How often idle watchers are told how far the store has got (for bookmarks).
pub const PROGRESS_TICK: Duration = Duration::from_secs(5);

/// The actor.
pub struct DatastoreActor {
    store: Datastore,
    policy: CompactionPolicy,
    clock: RevisionClock,
    compaction_tick: Duration,
    progress_tick: Duration,
    compacting: bool,
    last_error: Option<String>,
    member: Member,
}

impl DatastoreActor {
    pub fn new(store: Datastore, policy: CompactionPolicy) -> Self {
        DatastoreActor {
            store,
            policy,
            clock: RevisionClock::default(),
            compaction_tick: COMPACTION_TICK,
            progress_tick: PROGRESS_TICK,
            compacting: false,
            last_error: None,
            member: Member::detached("DatastoreActor", ""),
        }
    }

    /// Report to the actor tree through `member`.
    pub fn with_member(mut self, member: Member) -> Self {
        self.member = member;
        self
    }

    /// Count messages sent to the actor through this (see [`crate::tree`]).
    pub fn mailbox(&self) -> Mailbox {
        self.member.mailbox().clone()
    }

    /// Override the tick periods (tests).
    pub fn with_ticks(mut self, compaction: Duration, progress: Duration) -> Self {
        self.compaction_tick = compaction;
        self.progress_tick = progress;
        self
    }

    fn tick(&mut self, ctx: &mut Context<Self>) {
        if let Some(reason) = self.store.failure() {
            tracing::error!(%reason, "datastore writes failed; stopping so the process restarts");
            System::current().stop_with_code(1);
            ctx.stop();
            return;
        }
        let now = Instant::now();
        let current = self.store.current_revision();
        self.clock.record(now, current);
        let target = self.clock.target(&self.policy, now, current);
        let done = self.store.compact_revision().unwrap_or(0);
        if target > done && !self.compacting {
            self.compacting = true;
            let store = self.store.clone();
            let span = info_span!("compaction", actor = "DatastoreActor", target);
            async move { store.compact(target).await }
                .instrument(span)
                .into_actor(self)
                .map(move |res, act, _| {
                    act.compacting = false;
                    match res {
                        Ok(()) => tracing::debug!(target, "compacted"),
                        Err(e) => {
                            tracing::warn!(error = %e, target, "compaction failed");
                            act.member.error(format!("compaction failed: {e}"));
                            act.last_error = Some(e.to_string());
                        }
                    }
                })
                .spawn(ctx);
        }
    }
}

impl Actor for DatastoreActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        tracing::info!(
            actor = "DatastoreActor",
            backend = self.store.backend_name(),
            revision = self.store.current_revision(),
            "datastore ready"
        );
        self.member.set_state(ActorState::Running);
        ctx.run_interval(self.compaction_tick, |act, ctx| act.tick(ctx));
        ctx.run_interval(self.progress_tick, |act, _| act.store.notify_progress());
    }

    fn stopping(&mut self, _: &mut Self::Context) -> Running {
        tracing::info!(actor = "DatastoreActor", "datastore stopping");
        Running::Stop
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        self.store.close();
    }
}

/// Read one key (revision 0 = current).
#[derive(Message, Debug)]
#[rtype(result = "Result<Option<KeyValue>, StoreError>")]
pub struct GetKey {
    pub key: String,
    pub revision: Revision,
}

/// Read a page of keys.
#[derive(Message, Debug)]
#[rtype(result = "Result<ListPage, StoreError>")]
pub struct ListKeys {
    pub request: ListRequest,
}

/// Create a key that must not exist.
#[derive(Message, Debug)]
#[rtype(result = "Result<KeyValue, StoreError>")]
pub struct CreateKey {
    pub key: String,
    pub value: Vec<u8>,
}

/// Replace a key's value, optionally only at an expected mod revision.
#[derive(Message, Debug)]
#[rtype(result = "Result<KeyValue, StoreError>")]
pub struct UpdateKey {
    pub key: String,
    pub value: Vec<u8>,
    pub expected: Option<Revision>,
}

/// Delete a key, optionally only at an expected mod revision.
#[derive(Message, Debug)]
#[rtype(result = "Result<(Revision, KeyValue), StoreError>")]
pub struct DeleteKey {
    pub key: String,
    pub expected: Option<Revision>,
}

/// Watch a range for events after a revision.
#[derive(Message, Debug)]
#[rtype(result = "Result<Watch, StoreError>")]
pub struct WatchRange {
    pub range: KeyRange,
    pub after: Revision,
}

/// A handle for callers that read heavily on their own threads (the API server's workers).
#[derive(Message, Debug)]
#[rtype(result = "Datastore")]
pub struct GetHandle;

/// The datastore's state, for `/admin/status`, `/readyz` and metrics.
#[derive(Message, Debug)]
#[rtype(result = "DatastoreStatus")]
pub struct GetStatus;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatastoreStatus {
    pub backend: &'static str,
    pub revision: Revision,
    pub compact_revision: Revision,
    pub watchers: usize,
    pub writes: u64,
    pub batches: u64,
    /// Mean time of a durable commit, in microseconds.
    pub mean_commit_micros: u64,
    /// Set when the writer has stopped accepting writes.
    pub failure: Option<String>,
    /// The last compaction error, if any.
    pub last_error: Option<String>,
}

impl Handler<GetKey> for DatastoreActor {
    type Result = Result<Option<KeyValue>, StoreError>;
    fn handle(&mut self, msg: GetKey, _: &mut Self::Context) -> Self::Result {
        self.member.mailbox().taken();
        self.store.get_at(&msg.key, msg.revision)
    }
}

impl Handler<ListKeys> for DatastoreActor {
    type Result = Result<ListPage, StoreError>;
    fn handle(&mut self, msg: ListKeys, _: &mut Self::Context) -> Self::Result {
        self.member.mailbox().taken();
        self.store.list(&msg.request)
    }
}

impl Handler<CreateKey> for DatastoreActor {
    type Result = ResponseFuture<Result<KeyValue, StoreError>>;
    fn handle(&mut self, msg: CreateKey, _: &mut Self::Context) -> Self::Result {
        self.member.mailbox().taken();
        let store = self.store.clone();
        Box::pin(async move { store.create(&msg.key, msg.value).await })
    }
}

impl Handler<UpdateKey> for DatastoreActor {
    type Result = ResponseFuture<Result<KeyValue, StoreError>>;
    fn handle(&mut self, msg: UpdateKey, _: &mut Self::Context) -> Self::Result {
        self.member.mailbox().taken();
        let store = self.store.clone();
        Box::pin(async move { store.update(&msg.key, msg.value, msg.expected).await })
    }
}

impl Handler<DeleteKey> for DatastoreActor {
    type Result = ResponseFuture<Result<(Revision, KeyValue), StoreError>>;
    fn handle(&mut self, msg: DeleteKey, _: &mut Self::Context) -> Self::Result {
        self.member.mailbox().taken();
        let store = self.store.clone();
        Box::pin(async move { store.delete(&msg.key, msg.expected).await })
    }
}

impl Handler<WatchRange> for DatastoreActor {
    type Result = Result<Watch, StoreError>;
    fn handle(&mut self, msg: WatchRange, _: &mut Self::Context) -> Self::Result {
        self.member.mailbox().taken();
        self.store.watch(msg.range, msg.after)
    }
}

impl Handler<GetHandle> for DatastoreActor {
    type Result = MessageResult<GetHandle>;
    fn handle(&mut self, _: GetHandle, _: &mut Self::Context) -> Self::Result {
        self.member.mailbox().taken();
        MessageResult(self.store.clone())
    }
}

impl Handler<GetStatus> for DatastoreActor {
    type Result = MessageResult<GetStatus>;
    fn handle(&mut self, _: GetStatus, _: &mut Self::Context) -> Self::Result {
        self.member.mailbox().taken();
        use std::sync::atomic::Ordering::Relaxed;
        let stats = self.store.writer_stats();
        let batches = stats.batches.load(Relaxed);
        MessageResult(DatastoreStatus {
            backend: self.store.backend_name(),
            revision: self.store.current_revision(),
            compact_revision: self.store.compact_revision().unwrap_or(0),
            watchers: self.store.watcher_count(),
            writes: stats.writes.load(Relaxed),
            batches,
            mean_commit_micros: stats.commit_micros.load(Relaxed).checked_div(batches).unwrap_or(0),
            failure: self.store.failure(),
            last_error: self.last_error.clone(),
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::Arc;

    use k3rs_store::backend::sled::SledBackend;
    use k3rs_store::{Options, WatchItem};

    use super::*;

    fn open(dir: &std::path::Path) -> Datastore {
        let backend = Arc::new(SledBackend::open(&dir.join("sled")).unwrap());
        Datastore::open(backend, Options::default()).unwrap()
    }

    #[actix::test]
    async fn messages_in_replies_and_events_out() {
        let dir = tempfile::tempdir().unwrap();
        let addr = DatastoreActor::new(open(dir.path()), CompactionPolicy::default()).start();
        let mut watch = addr
            .send(WatchRange { range: KeyRange::prefix("/a/"), after: 0 })
            .await
            .unwrap()
            .unwrap();
        let kv = addr
            .send(CreateKey { key: "/a/1".into(), value: b"x".to_vec() })
            .await
            .unwrap()
            .unwrap();
        assert_eq!(kv.mod_revision, 1);
        let again = addr.send(CreateKey { key: "/a/1".into(), value: vec![] }).await.unwrap();
        assert!(matches!(again, Err(StoreError::AlreadyExists { .. })));
        let stale = addr
            .send(UpdateKey { key: "/a/1".into(), value: vec![], expected: Some(7) })
            .await
            .unwrap();
        assert!(matches!(stale, Err(StoreError::Conflict { .. })));
        addr.send(UpdateKey { key: "/a/1".into(), value: b"y".to_vec(), expected: Some(1) })
            .await
            .unwrap()
            .unwrap();
        let got = addr.send(GetKey { key: "/a/1".into(), revision: 0 }).await.unwrap().unwrap();
        assert_eq!(got.unwrap().value, b"y");
        let page = addr
            .send(ListKeys {
                request: ListRequest {
                    range: KeyRange::prefix("/a/"),
                    revision: 1,
                    after: None,
                    limit: 0,
                },
            })
            .await
            .unwrap()
            .unwrap();
        assert_eq!(page.items[0].value, b"x");
        addr.send(DeleteKey { key: "/a/1".into(), expected: None }).await.unwrap().unwrap();
        let mut revs = Vec::new();
        while revs.len() < 3 {
            if let Some(Ok(WatchItem::Event(ev))) = watch.next().await {
                revs.push(ev.kv.mod_revision);
            }
        }
        assert_eq!(revs, [1, 2, 3]);
        let status = addr.send(GetStatus).await.unwrap();
        assert_eq!((status.backend, status.revision, status.writes), ("sled", 3, 3));
        assert!(status.failure.is_none());
    }

    #[actix::test]
    async fn ticks_compact_by_policy_and_report_progress() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        for i in 0..30 {
            store.create(&format!("/k/{i}"), vec![]).await.unwrap();
        }
        let policy = CompactionPolicy { window: Duration::ZERO, min_revisions: 10 };
        let addr = DatastoreActor::new(store.clone(), policy)
            .with_ticks(Duration::from_millis(20), Duration::from_millis(20))
            .start();
        let mut watch = store.watch(KeyRange::prefix("/k/"), 30).unwrap();
        // Progress markers arrive for an idle watch.
        match tokio::time::timeout(Duration::from_secs(10), watch.next()).await.unwrap() {
            Some(Ok(WatchItem::Progress(30))) => {}
            other => panic!("expected progress, got {other:?}"),
        }
        // Compaction reaches current - min_revisions.
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut poll = tokio::time::interval(Duration::from_millis(20));
        loop {
            poll.tick().await;
            let status = addr.send(GetStatus).await.unwrap();
            if status.compact_revision == 20 {
                break;
            }
            assert!(Instant::now() < deadline, "compaction did not happen: {status:?}");
        }
    }
}
