//! Watch fan-out: every committed event goes to each subscriber whose range covers it, through a
//! bounded channel per subscriber. A subscriber that lets its channel fill is dropped and told so
//! (it relists), so a slow watcher never stalls the writer or other watchers.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::mpsc;

use crate::types::{Event, KeyRange, Revision};

/// What a subscription receives from the hub.
#[derive(Debug, Clone)]
pub enum HubItem {
    Event(Arc<Event>),
    /// Every event up to this revision has been sent.
    Progress(Revision),
}

struct Slot {
    range: KeyRange,
    tx: mpsc::Sender<HubItem>,
    lagged: Arc<AtomicBool>,
}

struct Inner {
    slots: Vec<Slot>,
    /// The last revision handed to `publish`.
    published: Revision,
}

/// The registry of live subscribers.
pub struct WatchHub {
    inner: Mutex<Inner>,
    capacity: usize,
}

/// One subscriber's end: live events after the revision returned by `subscribe`.
pub struct Subscription {
    pub(crate) rx: mpsc::Receiver<HubItem>,
    pub(crate) lagged: Arc<AtomicBool>,
}

impl Subscription {
    /// True once the hub dropped this subscriber for falling behind.
    pub fn lagged(&self) -> bool {
        self.lagged.load(Ordering::Acquire)
    }
}

impl WatchHub {
    /// A hub whose subscribers may each have `capacity` undelivered items.
    pub fn new(published: Revision, capacity: usize) -> Self {
        WatchHub {
            inner: Mutex::new(Inner { slots: Vec::new(), published }),
            capacity: capacity.max(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding this lock cannot leave the slot list inconsistent.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Register a subscriber for `range`. It will receive every event published after the
    /// returned revision; events up to it are already committed and readable from the backend.
    pub fn subscribe(&self, range: KeyRange) -> (Subscription, Revision) {
        let (tx, rx) = mpsc::channel(self.capacity);
        let lagged = Arc::new(AtomicBool::new(false));
        let mut inner = self.lock();
        inner.slots.push(Slot { range, tx, lagged: lagged.clone() });
        (Subscription { rx, lagged }, inner.published)
    }

    /// Hand out the events of one committed batch, whose last revision is `upto`.
    pub fn publish(&self, events: &[Arc<Event>], upto: Revision) {
        let mut inner = self.lock();
        inner.published = upto;
        inner.slots.retain(|slot| {
            for ev in events {
                if slot.range.contains(&ev.kv.key) && !offer(slot, HubItem::Event(ev.clone())) {
                    return false;
                }
            }
            true
        });
    }

    /// Tell every subscriber how far the store has got, so idle watchers can report progress.
    pub fn progress(&self) {
        let mut inner = self.lock();
        let rev = inner.published;
        inner.slots.retain(|slot| match slot.tx.try_send(HubItem::Progress(rev)) {
            // A full channel will carry newer information soon anyway.
            Ok(()) | Err(mpsc::error::TrySendError::Full(_)) => true,
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        });
    }

    /// How many subscribers are registered (closed ones are counted until the next publish).
    pub fn len(&self) -> usize {
        self.lock().slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Try to deliver; false means the subscriber is gone (closed, or dropped for lagging).
fn offer(slot: &Slot, item: HubItem) -> bool {
    match slot.tx.try_send(item) {
        Ok(()) => true,
        Err(mpsc::error::TrySendError::Full(_)) => {
            slot.lagged.store(true, Ordering::Release);
            false
        }
        Err(mpsc::error::TrySendError::Closed(_)) => false,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::types::{EventKind, KeyValue};

    fn ev(key: &str, rev: Revision) -> Arc<Event> {
        Arc::new(Event {
            kind: EventKind::Create,
            kv: KeyValue {
                key: key.into(),
                value: vec![],
                create_revision: rev,
                mod_revision: rev,
            },
            prev: None,
        })
    }

    #[test]
    fn events_go_only_to_matching_ranges() {
        let hub = WatchHub::new(0, 8);
        let (mut a, start) = hub.subscribe(KeyRange::prefix("/a/"));
        let (mut b, _) = hub.subscribe(KeyRange::prefix("/b/"));
        assert_eq!(start, 0);
        hub.publish(&[ev("/a/1", 1), ev("/b/1", 2)], 2);
        match a.rx.try_recv().unwrap() {
            HubItem::Event(e) => assert_eq!(e.kv.key, "/a/1"),
            other => panic!("unexpected {other:?}"),
        }
        assert!(a.rx.try_recv().is_err());
        assert!(matches!(b.rx.try_recv().unwrap(), HubItem::Event(e) if e.kv.key == "/b/1"));
        let (_c, start) = hub.subscribe(KeyRange::prefix("/"));
        assert_eq!(start, 2);
    }

    #[test]
    fn a_full_subscriber_is_dropped_and_marked_lagged_without_affecting_others() {
        let hub = WatchHub::new(0, 2);
        let (slow, _) = hub.subscribe(KeyRange::prefix("/"));
        let (mut fast, _) = hub.subscribe(KeyRange::prefix("/"));
        for rev in 1..=5 {
            hub.publish(&[ev("/k", rev)], rev);
            assert!(matches!(fast.rx.try_recv().unwrap(), HubItem::Event(_)));
        }
        assert!(slow.lagged());
        assert!(!fast.lagged());
        assert_eq!(hub.len(), 1);
    }

    #[test]
    fn closed_subscribers_are_forgotten() {
        let hub = WatchHub::new(0, 2);
        let (sub, _) = hub.subscribe(KeyRange::prefix("/"));
        drop(sub);
        hub.publish(&[ev("/k", 1)], 1);
        assert!(hub.is_empty());
    }

    #[test]
    fn progress_reports_the_published_revision() {
        let hub = WatchHub::new(7, 2);
        let (mut sub, _) = hub.subscribe(KeyRange::prefix("/"));
        hub.progress();
        assert!(matches!(sub.rx.try_recv().unwrap(), HubItem::Progress(7)));
    }
}
