//! The process's live actors as a supervision tree, for `/admin/actors`: each actor holds a
//! [`Member`] for as long as it lives (dropping it takes the actor out of the tree), reports its
//! state, restarts and last error through it, and counts its mailbox through a [`Mailbox`].
//!
//! A shared map rather than an actor, so a wedged actor cannot hide the report that should
//! show it. actix keeps its queue lengths private, so mailbox depth is counted here: senders
//! `post` through the [`Mailbox`], handlers call [`Mailbox::taken`] first.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use actix::prelude::*;
use serde_json::{Value, json};

/// What an actor is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActorState {
    /// Started, not yet doing its job (joining, connecting, opening).
    Starting,
    Running,
    /// Waiting to try again after a failure.
    Backoff,
    /// Its job is done or given up; it stays until the actor stops.
    Stopping,
}

impl ActorState {
    fn as_str(self) -> &'static str {
        match self {
            ActorState::Starting => "starting",
            ActorState::Running => "running",
            ActorState::Backoff => "backoff",
            ActorState::Stopping => "stopping",
        }
    }
}

/// Messages sent to an actor and not yet handled.
#[derive(Debug, Clone, Default)]
pub struct Mailbox(Arc<AtomicI64>);

impl Mailbox {
    /// Send `msg` to `addr`, counting it.
    pub fn post<A, M>(&self, addr: &Addr<A>, msg: M)
    where
        A: Actor + Handler<M>,
        A::Context: actix::dev::ToEnvelope<A, M>,
        M: Message + Send + 'static,
        M::Result: Send,
    {
        self.0.fetch_add(1, Ordering::Relaxed);
        addr.do_send(msg);
    }

    /// A handler took one message off the queue.
    pub fn taken(&self) {
        // Never below zero, so a message sent around the count cannot skew later depths.
        let _ =
            self.0.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| (n > 0).then(|| n - 1));
    }

    pub fn depth(&self) -> u64 {
        u64::try_from(self.0.load(Ordering::Relaxed)).unwrap_or(0)
    }
}

/// An actor's address with its mailbox count: every message sent through it is counted.
pub struct Tracked<A: Actor> {
    pub addr: Addr<A>,
    pub mailbox: Mailbox,
}

impl<A: Actor> Clone for Tracked<A> {
    fn clone(&self) -> Self {
        Tracked { addr: self.addr.clone(), mailbox: self.mailbox.clone() }
    }
}

impl<A: Actor> Tracked<A> {
    pub fn new(addr: Addr<A>, mailbox: Mailbox) -> Self {
        Tracked { addr, mailbox }
    }

    pub fn do_send<M>(&self, msg: M)
    where
        A: Handler<M>,
        A::Context: actix::dev::ToEnvelope<A, M>,
        M: Message + Send + 'static,
        M::Result: Send,
    {
        self.mailbox.post(&self.addr, msg);
    }

    /// Send and wait for the answer.
    pub fn send<M>(&self, msg: M) -> actix::dev::Request<A, M>
    where
        A: Handler<M>,
        A::Context: actix::dev::ToEnvelope<A, M>,
        M: Message + Send + 'static,
        M::Result: Send,
    {
        self.mailbox.0.fetch_add(1, Ordering::Relaxed);
        self.addr.send(msg)
    }

    pub fn connected(&self) -> bool {
        self.addr.connected()
    }
}

struct Entry {
    kind: &'static str,
    name: String,
    parent: Option<u64>,
    state: ActorState,
    since: Instant,
    restarts: u64,
    last_error: Option<String>,
    mailbox: Mailbox,
}

#[derive(Default)]
struct Inner {
    next: u64,
    entries: BTreeMap<u64, Entry>,
}

/// The tree; cheap to clone, one per process.
#[derive(Clone, Default)]
pub struct ActorTree {
    inner: Arc<Mutex<Inner>>,
}

impl std::fmt::Debug for ActorTree {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActorTree").field("actors", &self.lock().entries.len()).finish()
    }
}

impl ActorTree {
    pub fn new() -> Self {
        ActorTree::default()
    }

    /// A top-level actor.
    pub fn root(&self, kind: &'static str, name: impl Into<String>) -> Member {
        self.add(kind, name.into(), None)
    }

    fn add(&self, kind: &'static str, name: String, parent: Option<u64>) -> Member {
        let mailbox = Mailbox::default();
        let mut inner = self.lock();
        inner.next += 1;
        let id = inner.next;
        let entry = Entry {
            kind,
            name,
            parent,
            state: ActorState::Starting,
            since: Instant::now(),
            restarts: 0,
            last_error: None,
            mailbox: mailbox.clone(),
        };
        inner.entries.insert(id, entry);
        Member { tree: self.clone(), id, mailbox }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The tree as JSON: each actor with `kind`, `name`, `state`, `seconds` in that state,
    /// `mailbox`, `restarts`, `lastError` and its `children`. An actor whose parent is gone
    /// shows at the top.
    pub fn report(&self) -> Value {
        let inner = self.lock();
        let mut children: BTreeMap<Option<u64>, Vec<u64>> = BTreeMap::new();
        for (id, entry) in &inner.entries {
            let parent = entry.parent.filter(|p| inner.entries.contains_key(p));
            children.entry(parent).or_default().push(*id);
        }
        fn node(inner: &Inner, children: &BTreeMap<Option<u64>, Vec<u64>>, id: u64) -> Value {
            let entry = &inner.entries[&id];
            let kids: Vec<Value> = children
                .get(&Some(id))
                .map(|ids| ids.iter().map(|c| node(inner, children, *c)).collect())
                .unwrap_or_default();
            json!({
                "kind": entry.kind,
                "name": entry.name,
                "state": entry.state.as_str(),
                "seconds": entry.since.elapsed().as_secs(),
                "mailbox": entry.mailbox.depth(),
                "restarts": entry.restarts,
                "lastError": entry.last_error,
                "children": kids,
            })
        }
        let roots = children.get(&None).cloned().unwrap_or_default();
        Value::Array(roots.into_iter().map(|id| node(&inner, &children, id)).collect())
    }
}

/// An actor's place in the tree; dropping it removes the actor (and shows its children at the
/// top until they go too).
pub struct Member {
    tree: ActorTree,
    id: u64,
    mailbox: Mailbox,
}

impl std::fmt::Debug for Member {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Member").field("id", &self.id).finish()
    }
}

impl Member {
    /// An actor this one started.
    pub fn child(&self, kind: &'static str, name: impl Into<String>) -> Member {
        self.tree.add(kind, name.into(), Some(self.id))
    }

    /// A member of no tree (tests, and actors started without one).
    pub fn detached(kind: &'static str, name: impl Into<String>) -> Member {
        ActorTree::new().root(kind, name)
    }

    pub fn mailbox(&self) -> &Mailbox {
        &self.mailbox
    }

    /// The tree this member is in.
    pub fn tree(&self) -> &ActorTree {
        &self.tree
    }

    pub fn set_state(&self, state: ActorState) {
        self.update(|e| {
            if e.state != state {
                e.state = state;
                e.since = Instant::now();
            }
        });
    }

    /// A failure: remembered as the last error; the state is the caller's to set.
    pub fn error(&self, error: impl std::fmt::Display) {
        let text = error.to_string();
        self.update(|e| e.last_error = Some(text));
    }

    /// The actor starts its job over after a failure (a reconnect, a rejoin).
    pub fn restarted(&self) {
        self.update(|e| e.restarts += 1);
    }

    fn update(&self, f: impl FnOnce(&mut Entry)) {
        if let Some(entry) = self.tree.lock().entries.get_mut(&self.id) {
            f(entry);
        }
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        self.tree.lock().entries.remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_nests_children_and_forgets_dropped_actors() {
        let tree = ActorTree::new();
        let agent = tree.root("NodeAgentActor", "node-a");
        let pods = agent.child("PodSupervisor", "node-a");
        let worker = pods.child("PodWorker", "default/web");
        worker.set_state(ActorState::Running);
        worker.error("container web exited 1");
        worker.restarted();
        let report = tree.report();
        let w = &report[0]["children"][0]["children"][0];
        assert_eq!(w["kind"], "PodWorker");
        assert_eq!(w["state"], "running");
        assert_eq!(w["restarts"], 1);
        assert_eq!(w["lastError"], "container web exited 1");
        drop(worker);
        assert_eq!(tree.report()[0]["children"][0]["children"], json!([]));
        // An orphan shows at the top level.
        drop(agent);
        assert_eq!(tree.report()[0]["kind"], "PodSupervisor");
    }

    #[test]
    fn mailbox_depth_counts_posted_but_not_taken() {
        let mailbox = Mailbox::default();
        mailbox.0.fetch_add(3, Ordering::Relaxed);
        mailbox.taken();
        assert_eq!(mailbox.depth(), 2);
        mailbox.taken();
        mailbox.taken();
        mailbox.taken();
        assert_eq!(mailbox.depth(), 0, "never negative");
    }

    struct Echo(Mailbox);
    impl Actor for Echo {
        type Context = Context<Self>;
    }
    #[derive(Message)]
    #[rtype(result = "()")]
    struct Hello;
    impl Handler<Hello> for Echo {
        type Result = ();
        fn handle(&mut self, _: Hello, ctx: &mut Context<Self>) {
            self.0.taken();
            if self.0.depth() == 0 {
                ctx.stop();
            }
        }
    }

    #[actix::test]
    async fn posted_messages_drain_as_handled() {
        let member = Member::detached("Echo", "e");
        let mailbox = member.mailbox().clone();
        // Posted before the actor runs: all five wait in its mailbox.
        let addr = Echo(mailbox.clone()).start();
        for _ in 0..5 {
            mailbox.post(&addr, Hello);
        }
        assert_eq!(mailbox.depth(), 5);
        let deadline = Instant::now() + std::time::Duration::from_secs(5);
        while addr.connected() && Instant::now() < deadline {
            tokio::task::yield_now().await;
        }
        assert_eq!(mailbox.depth(), 0);
    }
}
