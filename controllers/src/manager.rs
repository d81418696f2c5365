//! The controller loop: list everything once, then follow the datastore's watch; each change
//! becomes work items (`work::on_change`), reconciled one at a time. Work that is waiting on
//! something (a namespace still emptying, a failed write) is retried after a short delay. A
//! watch that lags or fails starts the loop over from a fresh list.

use std::collections::BTreeSet;
use std::time::Duration;

use k3rs_api::objects;
use k3rs_api::registry::SharedRegistry;
use k3rs_api::service::Objects;
use k3rs_store::{Datastore, EventKind, KeyRange, ListRequest, StoreError, WatchItem};
use tokio::time::Instant;

use crate::work::{OwnerIndex, Work, on_change};
use crate::{
    crd, cronjob, daemonset, deployment, endpoints, gc, job, namespace, replicaset, scheduler,
    statefulset,
};

/// Where every API object lives.
const OBJECTS_PREFIX: &str = "/registry/";
/// How long waiting work rests before it is tried again.
const RETRY: Duration = Duration::from_secs(1);
/// Objects read per page in the initial list.
const PAGE: usize = 1000;

/// What a reconcile asks of the loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Done,
    /// Try again after a while (waiting on something that events may not announce).
    Later,
}

/// A result in which "not found" means there is nothing left to do (the object went meanwhile).
pub(crate) fn unless_gone<T>(
    result: Result<T, k3rs_api::Status>,
) -> Result<Option<T>, k3rs_api::Status> {
    match result {
        Ok(v) => Ok(Some(v)),
        Err(s) if s.code == 404 => Ok(None),
        Err(s) => Err(s),
    }
}

/// Run the controllers until the datastore closes.
pub async fn run(store: Datastore, registry: SharedRegistry) {
    let mut backoff = Duration::from_millis(100);
    loop {
        match run_once(&store, &registry).await {
            Ok(()) => return,
            Err(e) => {
                tracing::warn!(actor = "ControllerActor", error = %e, "controllers: relisting");
                // The controllers run for the server's lifetime, so relisting has no deadline;
                // the backoff is capped at 5 s.
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// One list-then-watch pass; `Ok` when the store closed.
async fn run_once(store: &Datastore, shared: &SharedRegistry) -> Result<(), StoreError> {
    let mut index = OwnerIndex::default();
    let mut pending: BTreeSet<Work> = BTreeSet::new();
    let revision = store.current_revision();
    let range = KeyRange::prefix(OBJECTS_PREFIX);
    let mut after = None;
    loop {
        let page =
            store.list(&ListRequest { range: range.clone(), revision, after, limit: PAGE })?;
        for kv in &page.items {
            if let Ok(obj) = objects::from_store(kv) {
                pending.extend(on_change(&mut index, None, Some(&obj)));
            }
        }
        if !page.more {
            break;
        }
        after = page.items.last().map(|kv| kv.key.clone());
    }
    let mut watch = store.watch(range, revision)?;
    let mut later: BTreeSet<Work> = BTreeSet::new();
    let mut retry_at = Instant::now() + RETRY;
    loop {
        while let Some(work) = pending.pop_first() {
            // A fresh snapshot per item: a CRD reconciled just before may have changed it.
            let registry = shared.snapshot();
            let service = Objects::new(store, &registry);
            match reconcile(service, shared, &index, &work).await {
                Ok(Outcome::Done) => {}
                Ok(Outcome::Later) => {
                    later.insert(work);
                }
                Err(status) => {
                    tracing::warn!(actor = "ControllerActor", ?work, error = %status.message, "reconcile failed; retrying");
                    later.insert(work);
                }
            }
        }
        if later.is_empty() {
            retry_at = Instant::now() + RETRY;
        }
        let item = tokio::select! {
            item = watch.next() => item,
            () = tokio::time::sleep_until(retry_at), if !later.is_empty() => {
                pending.append(&mut later);
                retry_at = Instant::now() + RETRY;
                continue;
            }
        };
        let mut next = item;
        loop {
            match next {
                None => return Ok(()),
                Some(Err(e)) => return Err(e),
                Some(Ok(WatchItem::Progress(_))) => {}
                Some(Ok(WatchItem::Event(ev))) => {
                    let prev = ev.prev.as_ref().and_then(|kv| objects::from_store(kv).ok());
                    let obj = match ev.kind {
                        EventKind::Delete => None,
                        EventKind::Create | EventKind::Update => objects::from_store(&ev.kv).ok(),
                    };
                    pending.extend(on_change(&mut index, prev.as_ref(), obj.as_ref()));
                }
            }
            // Take whatever else is ready before reconciling, so bursts are coalesced.
            match tokio::time::timeout(Duration::ZERO, watch.next()).await {
                Ok(item) => next = item,
                Err(_) => break,
            }
        }
    }
}

async fn reconcile(
    objects: Objects<'_>,
    shared: &SharedRegistry,
    index: &OwnerIndex,
    work: &Work,
) -> Result<Outcome, k3rs_api::Status> {
    match work {
        Work::Crd(name) => crd::reconcile(objects, shared, name).await,
        Work::Namespace(name) => namespace::reconcile(objects, name).await,
        Work::Dependent(r) => gc::check_dependent(objects, r).await,
        Work::Owner(r) => gc::finalize_owner(objects, r, index).await,
        Work::Deployment { namespace, name } => {
            deployment::reconcile(objects, namespace, name).await
        }
        Work::Schedule { namespace, name } => scheduler::schedule(objects, namespace, name).await,
        Work::ScheduleAll => scheduler::schedule_all(objects).await,
        Work::ReplicaSet { namespace, name } => {
            replicaset::reconcile(objects, namespace, name).await
        }
        Work::DaemonSet { namespace, name } => daemonset::reconcile(objects, namespace, name).await,
        Work::AllDaemonSets => daemonset::reconcile_all(objects).await,
        Work::Job { namespace, name } => job::reconcile(objects, namespace, name).await,
        Work::CronJob { namespace, name } => cronjob::reconcile(objects, namespace, name).await,
        Work::StatefulSet { namespace, name } => {
            statefulset::reconcile(objects, namespace, name).await
        }
        Work::Endpoints { namespace, name } => endpoints::reconcile(objects, namespace, name).await,
        Work::EndpointsFor { namespace, labels } => {
            endpoints::reconcile_matching(objects, namespace, std::slice::from_ref(labels)).await
        }
    }
}
