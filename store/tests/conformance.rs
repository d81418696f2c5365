//! The datastore contract, checked against every backend: ordering, compare-and-swap, list
//! consistency and pagination, watch from past revisions, compaction, restart, concurrency.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use k3rs_store::backend::Backend;
use k3rs_store::{
    Datastore, EventKind, KeyRange, ListRequest, Options, StoreError, Watch, WatchItem,
};

type Open = fn(&Path) -> Arc<dyn Backend>;

fn open_sled(dir: &Path) -> Arc<dyn Backend> {
    Arc::new(k3rs_store::backend::sled::SledBackend::open(&dir.join("sled")).unwrap())
}

fn open_sqlite(dir: &Path) -> Arc<dyn Backend> {
    Arc::new(k3rs_store::backend::sqlite::SqliteBackend::open(&dir.join("db/state.db")).unwrap())
}

fn store(open: Open, dir: &Path) -> Datastore {
    Datastore::open(open(dir), Options::default()).unwrap()
}

fn list(
    ds: &Datastore,
    prefix: &str,
    revision: u64,
    after: Option<&str>,
    limit: usize,
) -> k3rs_store::ListPage {
    ds.list(&ListRequest {
        range: KeyRange::prefix(prefix),
        revision,
        after: after.map(str::to_owned),
        limit,
    })
    .unwrap()
}

fn keys(page: &k3rs_store::ListPage) -> Vec<&str> {
    page.items.iter().map(|kv| kv.key.as_str()).collect()
}

/// The next event, failing the test if none arrives within the deadline.
async fn next_event(w: &mut Watch) -> Arc<k3rs_store::Event> {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), w.next()).await {
            Ok(Some(Ok(WatchItem::Event(ev)))) => return ev,
            Ok(Some(Ok(WatchItem::Progress(_)))) => continue,
            other => panic!("expected an event, got {other:?}"),
        }
    }
}

async fn revisions_are_consecutive_and_cas_is_enforced(open: Open) {
    let dir = tempfile::tempdir().unwrap();
    let ds = store(open, dir.path());
    assert_eq!(ds.current_revision(), 0);
    let a = ds.create("/r/a", b"1".to_vec()).await.unwrap();
    let b = ds.create("/r/b", b"1".to_vec()).await.unwrap();
    assert_eq!((a.mod_revision, b.mod_revision), (1, 2));
    assert!(matches!(
        ds.create("/r/a", b"x".to_vec()).await,
        Err(StoreError::AlreadyExists { .. })
    ));
    // A failed write does not take a revision.
    assert_eq!(ds.current_revision(), 2);
    let a2 = ds.update("/r/a", b"2".to_vec(), Some(1)).await.unwrap();
    assert_eq!((a2.mod_revision, a2.create_revision), (3, 1));
    match ds.update("/r/a", b"3".to_vec(), Some(1)).await {
        Err(StoreError::Conflict { expected: 1, current: Some(cur), .. }) => {
            assert_eq!(cur.mod_revision, 3);
            assert_eq!(cur.value, b"2");
        }
        other => panic!("expected conflict, got {other:?}"),
    }
    assert!(matches!(
        ds.update("/r/zz", b"1".to_vec(), None).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(ds.delete("/r/b", Some(1)).await, Err(StoreError::Conflict { .. })));
    let (rev, prev) = ds.delete("/r/b", Some(2)).await.unwrap();
    assert_eq!((rev, prev.value.as_slice()), (4, b"1".as_slice()));
    assert_eq!(ds.get("/r/b").unwrap(), None);
    assert!(matches!(ds.delete("/r/b", None).await, Err(StoreError::NotFound { .. })));
    let b2 = ds.create("/r/b", b"new".to_vec()).await.unwrap();
    assert_eq!((b2.create_revision, b2.mod_revision), (5, 5));
    // Unconditional update.
    assert_eq!(ds.update("/r/b", b"u".to_vec(), None).await.unwrap().mod_revision, 6);
    assert!(matches!(ds.create("", vec![]).await, Err(StoreError::InvalidKey { .. })));
    assert!(matches!(ds.create("/a\0b", vec![]).await, Err(StoreError::InvalidKey { .. })));
    assert_eq!(ds.current_revision(), 6);
}

async fn lists_are_consistent_at_one_revision_and_paginate(open: Open) {
    let dir = tempfile::tempdir().unwrap();
    let ds = store(open, dir.path());
    for i in 0..10 {
        ds.create(&format!("/p/{i:02}"), format!("v{i}").into_bytes()).await.unwrap();
    }
    // Keys sharing a prefix with the listed prefix but outside it.
    ds.create("/p0", b"x".to_vec()).await.unwrap();
    ds.create("/q/1", b"x".to_vec()).await.unwrap();
    let at = ds.current_revision();
    let first = list(&ds, "/p/", 0, None, 4);
    assert_eq!(keys(&first), ["/p/00", "/p/01", "/p/02", "/p/03"]);
    assert!(first.more);
    assert_eq!(first.revision, at);
    // Changes between pages do not show in later pages read at the same revision.
    ds.delete("/p/05", None).await.unwrap();
    ds.update("/p/06", b"changed".to_vec(), None).await.unwrap();
    ds.create("/p/055", b"new".to_vec()).await.unwrap();
    let second = list(&ds, "/p/", at, Some("/p/03"), 4);
    assert_eq!(keys(&second), ["/p/04", "/p/05", "/p/06", "/p/07"]);
    assert_eq!(second.items[2].value, b"v6");
    let third = list(&ds, "/p/", at, Some("/p/07"), 4);
    assert_eq!(keys(&third), ["/p/08", "/p/09"]);
    assert!(!third.more);
    // Exactly `limit` items left: no more.
    let exact = list(&ds, "/p/", at, Some("/p/05"), 4);
    assert!(!exact.more);
    // Now, the current state.
    let now = list(&ds, "/p/", 0, None, 0);
    assert_eq!(now.items.len(), 10);
    assert!(keys(&now).contains(&"/p/055"));
    assert!(!keys(&now).contains(&"/p/05"));
    // Reading at a revision in the future is refused.
    let future = ds.list(&ListRequest {
        range: KeyRange::prefix("/"),
        revision: 999,
        after: None,
        limit: 0,
    });
    assert!(matches!(future, Err(StoreError::FutureRevision { .. })));
    // get_at sees history.
    assert_eq!(ds.get_at("/p/06", at).unwrap().unwrap().value, b"v6");
    assert_eq!(ds.get_at("/p/05", at).unwrap().unwrap().value, b"v5");
    assert_eq!(ds.get("/p/05").unwrap(), None);
}

async fn watches_replay_history_then_follow_live_writes(open: Open) {
    let dir = tempfile::tempdir().unwrap();
    let ds = store(open, dir.path());
    ds.create("/w/a", b"1".to_vec()).await.unwrap(); // 1
    ds.create("/x/a", b"1".to_vec()).await.unwrap(); // 2
    ds.update("/w/a", b"2".to_vec(), None).await.unwrap(); // 3
    ds.delete("/w/a", None).await.unwrap(); // 4
    ds.create("/w/a", b"3".to_vec()).await.unwrap(); // 5
    let mut w = ds.watch(KeyRange::prefix("/w/"), 0).unwrap();
    let evs = [
        next_event(&mut w).await,
        next_event(&mut w).await,
        next_event(&mut w).await,
        next_event(&mut w).await,
    ];
    let seen: Vec<_> = evs.iter().map(|e| (e.kind, e.kv.mod_revision)).collect();
    assert_eq!(
        seen,
        [
            (EventKind::Create, 1),
            (EventKind::Update, 3),
            (EventKind::Delete, 4),
            (EventKind::Create, 5)
        ]
    );
    assert_eq!(evs[1].prev.as_ref().unwrap().value, b"1");
    assert_eq!(evs[2].prev.as_ref().unwrap().value, b"2");
    assert_eq!(evs[2].kv.create_revision, 1);
    assert!(evs[3].prev.is_none());
    // Live events follow, without gaps or repeats.
    ds.update("/w/a", b"4".to_vec(), None).await.unwrap(); // 6
    ds.create("/x/b", b"1".to_vec()).await.unwrap(); // 7
    ds.create("/w/b", b"1".to_vec()).await.unwrap(); // 8
    let live = next_event(&mut w).await;
    assert_eq!((live.kind, live.kv.mod_revision), (EventKind::Update, 6));
    assert_eq!(live.prev.as_ref().unwrap().value, b"3");
    assert_eq!(next_event(&mut w).await.kv.mod_revision, 8);
    // A watch from the middle of history starts strictly after that revision.
    let mut mid = ds.watch(KeyRange::prefix("/w/"), 4).unwrap();
    assert_eq!(next_event(&mut mid).await.kv.mod_revision, 5);
    assert_eq!(next_event(&mut mid).await.kv.mod_revision, 6);
    assert_eq!(next_event(&mut mid).await.kv.mod_revision, 8);
    // A single-key watch.
    let mut one = ds.watch(KeyRange::single("/x/a"), 0).unwrap();
    assert_eq!(next_event(&mut one).await.kv.mod_revision, 2);
    ds.notify_progress();
    match tokio::time::timeout(Duration::from_secs(10), one.next()).await.unwrap() {
        Some(Ok(WatchItem::Progress(rev))) => assert_eq!(rev, 8),
        other => panic!("expected progress, got {other:?}"),
    }
}

async fn many_history_pages_and_live_events_interleave_in_order(open: Open) {
    let dir = tempfile::tempdir().unwrap();
    let ds = store(open, dir.path());
    for i in 0..1500u32 {
        ds.create(&format!("/h/{i}"), vec![]).await.unwrap();
    }
    let mut w = ds.watch(KeyRange::prefix("/h/"), 0).unwrap();
    let writer = {
        let ds = ds.clone();
        tokio::spawn(async move {
            for i in 1500..1700u32 {
                ds.create(&format!("/h/{i}"), vec![]).await.unwrap();
            }
        })
    };
    for rev in 1..=1700u64 {
        assert_eq!(next_event(&mut w).await.kv.mod_revision, rev);
    }
    writer.await.unwrap();
}

async fn compaction_keeps_reads_above_the_point_and_refuses_below(open: Open) {
    let dir = tempfile::tempdir().unwrap();
    let ds = store(open, dir.path());
    for round in 0..5u32 {
        for k in 0..20u32 {
            let key = format!("/c/{k:02}");
            if round == 0 {
                ds.create(&key, vec![0]).await.unwrap();
            } else {
                ds.update(&key, vec![round as u8], None).await.unwrap();
            }
        }
    }
    for k in 0..5u32 {
        ds.delete(&format!("/c/{k:02}"), None).await.unwrap();
    }
    ds.create("/c/00", b"again".to_vec()).await.unwrap();
    let current = ds.current_revision();
    let point = 60;
    let before: Vec<_> = (point..=current).map(|r| list(&ds, "/c/", r, None, 0)).collect();
    ds.compact(point).await.unwrap();
    assert_eq!(ds.compact_revision().unwrap(), point);
    let after: Vec<_> = (point..=current).map(|r| list(&ds, "/c/", r, None, 0)).collect();
    assert_eq!(before, after);
    assert!(matches!(
        ds.list(&ListRequest {
            range: KeyRange::prefix("/c/"),
            revision: point - 1,
            after: None,
            limit: 0
        }),
        Err(StoreError::Compacted { .. })
    ));
    assert!(matches!(
        ds.watch(KeyRange::prefix("/c/"), point - 2),
        Err(StoreError::Compacted { .. })
    ));
    // Watching from just below the point still works: history after it is complete.
    let mut w = ds.watch(KeyRange::prefix("/c/"), point - 1).unwrap();
    let first = next_event(&mut w).await;
    assert_eq!(first.kv.mod_revision, point);
    assert!(first.prev.is_some(), "the previous version of an update survives compaction");
    // Compaction to everything, then everything still reads the same.
    let now = list(&ds, "/c/", 0, None, 0);
    ds.compact(current).await.unwrap();
    assert_eq!(list(&ds, "/c/", 0, None, 0), now);
    assert_eq!(ds.get("/c/01").unwrap(), None);
    assert_eq!(ds.get("/c/00").unwrap().unwrap().value, b"again");
    // Writes continue after compaction, and revisions keep counting.
    let kv = ds.create("/c/01", b"back".to_vec()).await.unwrap();
    assert_eq!(kv.mod_revision, current + 1);
}

async fn everything_survives_a_restart(open: Open) {
    let dir = tempfile::tempdir().unwrap();
    {
        let ds = store(open, dir.path());
        for i in 0..50u32 {
            ds.create(&format!("/s/{i:02}"), vec![i as u8]).await.unwrap();
        }
        ds.delete("/s/00", None).await.unwrap();
        ds.compact(10).await.unwrap();
        ds.close();
    }
    let ds = store(open, dir.path());
    assert_eq!(ds.current_revision(), 51);
    assert_eq!(ds.compact_revision().unwrap(), 10);
    let page = list(&ds, "/s/", 0, None, 0);
    assert_eq!(page.items.len(), 49);
    assert_eq!(ds.get("/s/49").unwrap().unwrap().value, vec![49]);
    assert_eq!(ds.create("/s/new", vec![]).await.unwrap().mod_revision, 52);
}

async fn concurrent_writers_get_unique_consecutive_revisions(open: Open) {
    let dir = tempfile::tempdir().unwrap();
    let ds = store(open, dir.path());
    let mut w = ds.watch(KeyRange::prefix("/cc/"), 0).unwrap();
    let mut tasks = Vec::new();
    for t in 0..16u32 {
        let ds = ds.clone();
        tasks.push(tokio::spawn(async move {
            let key = format!("/cc/{t}");
            let mut revs = vec![ds.create(&key, vec![]).await.unwrap().mod_revision];
            for i in 0..50u32 {
                let last = *revs.last().unwrap();
                revs.push(
                    ds.update(&key, i.to_le_bytes().to_vec(), Some(last))
                        .await
                        .unwrap()
                        .mod_revision,
                );
            }
            revs
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all.sort_unstable();
    let expected: Vec<u64> = (1..=16 * 51).collect();
    assert_eq!(all, expected);
    for rev in expected {
        assert_eq!(next_event(&mut w).await.kv.mod_revision, rev);
    }
    // Racing CAS updates on one key: exactly one wins per round.
    let base = ds.create("/cc/race", vec![]).await.unwrap().mod_revision;
    let racers: Vec<_> = (0..8u8)
        .map(|i| {
            let ds = ds.clone();
            tokio::spawn(async move { ds.update("/cc/race", vec![i], Some(base)).await })
        })
        .collect();
    let mut wins = 0;
    for r in racers {
        match r.await.unwrap() {
            Ok(_) => wins += 1,
            Err(StoreError::Conflict { .. }) => {}
            Err(e) => panic!("unexpected {e}"),
        }
    }
    assert_eq!(wins, 1);
}

async fn a_slow_watcher_is_ended_without_stalling_writers(open: Open) {
    let dir = tempfile::tempdir().unwrap();
    let ds = Datastore::open(open(dir.path()), Options { watch_buffer: 8, ..Options::default() })
        .unwrap();
    let mut slow = ds.watch(KeyRange::prefix("/l/"), 0).unwrap();
    let mut fast = ds.watch(KeyRange::prefix("/l/"), 0).unwrap();
    for i in 0..100u32 {
        ds.create(&format!("/l/{i:03}"), vec![]).await.unwrap();
        assert_eq!(next_event(&mut fast).await.kv.mod_revision, u64::from(i) + 1);
    }
    let mut delivered = 0;
    loop {
        match tokio::time::timeout(Duration::from_secs(10), slow.next()).await.unwrap() {
            Some(Ok(WatchItem::Event(_))) => delivered += 1,
            Some(Err(StoreError::WatchLagged { revision })) => {
                assert_eq!(revision, delivered);
                break;
            }
            other => panic!("expected lag, got {other:?}"),
        }
    }
    assert!(delivered < 100);
    // The slow watcher recovers by watching again from where it got to.
    let mut again = ds.watch(KeyRange::prefix("/l/"), delivered).unwrap();
    assert_eq!(next_event(&mut again).await.kv.mod_revision, delivered + 1);
}

macro_rules! conformance {
    ($backend:ident, $open:expr) => {
        mod $backend {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn revisions_and_cas() {
                revisions_are_consecutive_and_cas_is_enforced($open).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn list_consistency_and_pagination() {
                lists_are_consistent_at_one_revision_and_paginate($open).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn watch_history_then_live() {
                watches_replay_history_then_follow_live_writes($open).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn watch_many_pages() {
                many_history_pages_and_live_events_interleave_in_order($open).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn compaction() {
                compaction_keeps_reads_above_the_point_and_refuses_below($open).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn restart() {
                everything_survives_a_restart($open).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn concurrent_writers() {
                concurrent_writers_get_unique_consecutive_revisions($open).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn slow_watcher() {
                a_slow_watcher_is_ended_without_stalling_writers($open).await;
            }
        }
    };
}

conformance!(sled, open_sled);
conformance!(sqlite, open_sqlite);
