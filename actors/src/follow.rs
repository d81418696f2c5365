//! Following a collection on the API from an agent: list it, then watch from the list's
//! revision, and list again after any failure (capped back-off), telling an actor of every
//! change (PodSupervisor's pods, ServiceProxy's Services and EndpointSlices).

use std::time::Duration;

use actix::prelude::*;
use futures_util::StreamExt;
use k3rs_agent::client::Https;
use k3rs_agent::kube::{self, WatchLines};
use serde_json::Value;

use crate::tree::Mailbox;

/// What changed in a followed collection.
#[derive(Debug, Clone)]
pub enum Change {
    /// Everything there is (after a list).
    All(Vec<Value>),
    Upsert(Value),
    Deleted(Value),
}

/// A change of the collection `what`.
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub struct Followed {
    pub what: &'static str,
    pub change: Change,
}

/// Follow `path` forever, posting `Followed` messages named `what` to `to`.
pub async fn follow<A>(
    api: Https,
    path: impl Into<String>,
    what: &'static str,
    to: Addr<A>,
    mailbox: Mailbox,
) where
    A: Actor<Context = Context<A>> + Handler<Followed>,
{
    let path: String = path.into();
    let mut delay = Duration::from_millis(250);
    loop {
        match once(&api, &path, what, &to, &mailbox).await {
            Ok(()) => delay = Duration::from_millis(250),
            Err(e) => {
                tracing::warn!(collection = %path, error = %e, "watch failed; relisting");
                // Relisting has no deadline (the agent lives as long as the node); the
                // back-off is capped at 5 s.
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    }
}

async fn once<A>(
    api: &Https,
    path: &str,
    what: &'static str,
    to: &Addr<A>,
    mailbox: &Mailbox,
) -> Result<(), k3rs_agent::AgentError>
where
    A: Actor<Context = Context<A>> + Handler<Followed>,
{
    let (items, mut rv) = kube::list(api, path).await?;
    mailbox.post(to, Followed { what, change: Change::All(items) });
    loop {
        let (code, mut body) =
            api.stream(&kube::watch_of(path, &rv), Duration::from_secs(330)).await?;
        if code != 200 {
            return Err(k3rs_agent::AgentError::Transport(format!("watching {path}: {code}")));
        }
        let mut lines = WatchLines::default();
        while let Some(chunk) = body.next().await {
            for (kind, obj) in lines.push(&chunk?) {
                if let Some(v) = obj["metadata"]["resourceVersion"].as_str() {
                    rv = v.to_owned();
                }
                let change = match kind.as_str() {
                    "ADDED" | "MODIFIED" => Change::Upsert(obj),
                    "DELETED" => Change::Deleted(obj),
                    "ERROR" => {
                        return Err(k3rs_agent::AgentError::Transport(format!(
                            "the watch of {path} expired"
                        )));
                    }
                    _ => continue,
                };
                mailbox.post(to, Followed { what, change });
            }
        }
    }
}

/// `namespace/name` of an object: the key followers keep objects by.
pub fn key(obj: &Value) -> String {
    format!(
        "{}/{}",
        obj["metadata"]["namespace"].as_str().unwrap_or_default(),
        obj["metadata"]["name"].as_str().unwrap_or_default()
    )
}

/// Services and EndpointSlices (path, name), as ServiceProxy and ClusterDns follow them.
pub const SERVICES: [(&str, &str); 2] = [
    ("/api/v1/services", "services"),
    ("/apis/discovery.k8s.io/v1/endpointslices", "endpointslices"),
];

/// Follow each of `collections` (path, name) for the actor of `ctx`.
pub fn spawn_all<A>(
    ctx: &mut Context<A>,
    api: &Https,
    mailbox: &Mailbox,
    collections: &[(&'static str, &'static str)],
) where
    A: Actor<Context = Context<A>> + Handler<Followed>,
{
    for (path, what) in collections {
        let fut = follow(api.clone(), *path, what, ctx.address(), mailbox.clone());
        ctx.spawn(actix::fut::wrap_future::<_, A>(fut));
    }
}

/// A followed collection's objects by `namespace/name`.
#[derive(Debug, Default)]
pub struct Objects {
    pub by_key: std::collections::BTreeMap<String, Value>,
    /// Listed at least once.
    pub listed: bool,
}

impl Objects {
    pub fn apply(&mut self, change: Change) {
        match change {
            Change::All(items) => {
                self.listed = true;
                self.by_key = items.into_iter().map(|o| (key(&o), o)).collect();
            }
            Change::Upsert(o) => {
                self.by_key.insert(key(&o), o);
            }
            Change::Deleted(o) => {
                self.by_key.remove(&key(&o));
            }
        }
    }

    pub fn values(&self) -> Vec<Value> {
        self.by_key.values().cloned().collect()
    }
}
