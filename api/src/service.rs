//! The object service: reads and writes of API objects on the datastore with every rule of the
//! API applied (create defaults, compare-and-swap updates, subresources, graceful deletion and
//! finalizers). The HTTP handlers and the controllers both write through it, so an object a
//! controller makes is exactly one a client could have made.

use k3rs_store::{Datastore, KeyRange, KeyValue, ListRequest, Revision, StoreError};
use serde_json::Value;

use crate::allocator::ServiceNetwork;
use crate::delete::{self, DeleteOptions, Plan};
use crate::registry::{Registry, ResourceDef};
use crate::selector::Selectors;
use crate::status::Target;
use crate::subresource::{self, Sub};
use crate::{Status, objects, svcalloc, write};

/// The characters upstream uses for `generateName` suffixes (no vowels, no look-alikes).
const SUFFIX_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
/// Times an update is recomputed when another write got in between.
const UPDATE_ATTEMPTS: usize = 5;

/// What a delete did.
#[derive(Debug, Clone, PartialEq)]
pub enum Deleted {
    /// The object is gone; this was its last state.
    Gone(Value),
    /// The object is terminating (finalizers or a grace period); this is its state now.
    Terminating(Value),
}

impl Deleted {
    pub fn object(&self) -> &Value {
        match self {
            Deleted::Gone(v) | Deleted::Terminating(v) => v,
        }
    }
}

/// Reads and writes of API objects.
#[derive(Clone, Copy)]
pub struct Objects<'a> {
    pub store: &'a Datastore,
    pub registry: &'a Registry,
    /// The Service ranges ClusterIPs and NodePorts come from; K3s's defaults unless set.
    pub network: &'a ServiceNetwork,
}

/// Services get addresses and node ports (`svcalloc`).
fn is_service(def: &ResourceDef) -> bool {
    def.group.is_empty() && def.plural == "services"
}

fn decode(kv: &KeyValue) -> Result<Value, Status> {
    objects::from_store(kv)
        .map_err(|e| Status::internal(&format!("stored object is unreadable: {e}")))
}

fn encode(obj: &Value) -> Result<Vec<u8>, Status> {
    serde_json::to_vec(obj).map_err(|e| Status::internal(&e.to_string()))
}

fn target<'a>(def: &'a ResourceDef, name: &'a str) -> Target<'a> {
    Target { resource: &def.plural, group: &def.group, name }
}

impl<'a> Objects<'a> {
    pub fn new(store: &'a Datastore, registry: &'a Registry) -> Self {
        Objects { store, registry, network: &ServiceNetwork::K3S_DEFAULT }
    }

    /// The same, allocating Service addresses and ports from `network`.
    pub fn with_network(self, network: &'a ServiceNetwork) -> Self {
        Objects { network, ..self }
    }

    fn current(&self, def: &ResourceDef, ns: Option<&str>, name: &str) -> Result<KeyValue, Status> {
        match self.store.get(&objects::key(def, ns, name)) {
            Ok(Some(kv)) => Ok(kv),
            Ok(None) => Err(Status::not_found(target(def, name))),
            Err(e) => Err(Status::from_store(&e, target(def, name))),
        }
    }

    /// One object, or 404.
    pub fn get(&self, def: &ResourceDef, ns: Option<&str>, name: &str) -> Result<Value, Status> {
        decode(&self.current(def, ns, name)?)
    }

    /// Every object of `def` (in `ns`, or all namespaces) the selectors match, and the revision
    /// the list was read at.
    pub fn list(
        &self,
        def: &ResourceDef,
        ns: Option<&str>,
        selectors: &Selectors,
    ) -> Result<(Vec<Value>, Revision), Status> {
        let range = KeyRange::prefix(&objects::prefix(def, ns));
        let page = self
            .store
            .list(&ListRequest { range, revision: 0, after: None, limit: 0 })
            .map_err(|e| Status::from_store(&e, target(def, "")))?;
        let mut items = Vec::new();
        for kv in &page.items {
            let obj = decode(kv)?;
            if selectors.matches(&obj) {
                items.push(obj);
            }
        }
        Ok((items, page.revision))
    }

    /// Create `obj` (defaults, name from `generateName`, uid, timestamps) in `ns`, which must
    /// exist and not be terminating.
    pub async fn create(
        &self,
        def: &ResourceDef,
        ns: Option<&str>,
        obj: Value,
        dry_run: bool,
    ) -> Result<Value, Status> {
        let now = objects::timestamp(time::OffsetDateTime::now_utc());
        let (name, mut obj) =
            write::prepare_create(def, ns, obj, &objects::new_uid(), &now, &suffix())?;
        if let Some(ns) = ns {
            self.check_namespace_open(ns)?;
        }
        if is_service(def) {
            if self.store.get(&objects::key(def, ns, &name)).ok().flatten().is_some() {
                // Nothing is allocated for a create that is bound to fail.
                return Err(Status::already_exists(target(def, &name)));
            }
            let allocated = svcalloc::allocate(self, self.network, &mut obj, None, dry_run).await?;
            if dry_run {
                return Ok(obj);
            }
            return match self.store.create(&objects::key(def, ns, &name), encode(&obj)?).await {
                Ok(kv) => decode(&kv),
                Err(e) => {
                    svcalloc::release(self, &allocated.claimed, &obj).await;
                    Err(Status::from_store(&e, target(def, &name)))
                }
            };
        }
        if dry_run {
            return Ok(obj);
        }
        let kv = self
            .store
            .create(&objects::key(def, ns, &name), encode(&obj)?)
            .await
            .map_err(|e| Status::from_store(&e, target(def, &name)))?;
        decode(&kv)
    }

    /// Objects are created only in namespaces that exist and are not being deleted.
    fn check_namespace_open(&self, ns: &str) -> Result<(), Status> {
        let ns_target = Target { resource: "namespaces", group: "", name: ns };
        let ns_def = self
            .registry
            .get("", "v1", "namespaces")
            .ok_or_else(|| Status::not_found(ns_target))?;
        let namespace = self.get(ns_def, None, ns)?;
        if namespace["metadata"].get("deletionTimestamp").is_some_and(|t| !t.is_null()) {
            return Err(Status::namespace_terminating(ns));
        }
        Ok(())
    }

    /// Read the current object, compute the new one with `next` (given the stored object; it
    /// also says whether the result is pinned to a revision the client chose), check it, and
    /// store it with compare-and-swap. An unpinned update is recomputed and retried when another
    /// write got in between. A terminating object whose last finalizer the update removed is
    /// deleted. Returns the stored object as `sub` shows it.
    pub async fn update_with(
        &self,
        def: &ResourceDef,
        ns: Option<&str>,
        name: &str,
        sub: Sub,
        dry_run: bool,
        next: impl Fn(&Value) -> Result<(Value, bool), Status>,
    ) -> Result<Value, Status> {
        let key = objects::key(def, ns, name);
        for _ in 0..UPDATE_ATTEMPTS {
            let existing = decode(&self.current(def, ns, name)?)?;
            let (wanted, pinned) = next(&existing)?;
            let (mut obj, expected) = write::prepare_update(def, ns, name, wanted, &existing)?;
            let allocated = if is_service(def) {
                svcalloc::allocate(self, self.network, &mut obj, Some(&existing), dry_run).await?
            } else {
                svcalloc::Allocated::default()
            };
            if dry_run {
                // Nothing is stored: the answer keeps the revision it was computed against.
                obj["metadata"]["resourceVersion"] =
                    existing["metadata"]["resourceVersion"].clone();
                return Ok(subresource::view(sub, obj));
            }
            let kv = match self.store.update(&key, encode(&obj)?, expected).await {
                Ok(kv) => kv,
                Err(e) => {
                    svcalloc::release(self, &allocated.claimed, &obj).await;
                    match e {
                        StoreError::Conflict { .. } if !pinned => continue,
                        e => return Err(Status::from_store(&e, target(def, name))),
                    }
                }
            };
            let stored = decode(&kv)?;
            svcalloc::release(self, &allocated.freed, &stored).await;
            if delete::finished(def, &stored) {
                match self.store.delete(&key, Some(kv.mod_revision)).await {
                    Ok(_) => self.released(def, &stored).await,
                    Err(StoreError::NotFound { .. } | StoreError::Conflict { .. }) => {}
                    Err(e) => return Err(Status::from_store(&e, target(def, name))),
                }
            }
            return Ok(subresource::view(sub, stored));
        }
        Err(Status::conflict(target(def, name)))
    }

    /// Delete one object as `opts` asks: now, or by marking it terminating. Retried when another
    /// write got in between.
    pub async fn delete(
        &self,
        def: &ResourceDef,
        ns: Option<&str>,
        name: &str,
        opts: &DeleteOptions,
        dry_run: bool,
    ) -> Result<Deleted, Status> {
        let key = objects::key(def, ns, name);
        for _ in 0..UPDATE_ATTEMPTS {
            let kv = self.current(def, ns, name)?;
            let existing = decode(&kv)?;
            let plan = delete::plan(def, &existing, opts, time::OffsetDateTime::now_utc())?;
            if dry_run {
                return Ok(match plan {
                    Plan::Now => Deleted::Gone(existing),
                    Plan::Mark(obj) => Deleted::Terminating(obj),
                    Plan::Unchanged => Deleted::Terminating(existing),
                });
            }
            let result = match plan {
                Plan::Now => self
                    .store
                    .delete(&key, Some(kv.mod_revision))
                    .await
                    .map(|(_, prev)| (true, prev)),
                Plan::Mark(mut obj) => {
                    if let Some(meta) = obj["metadata"].as_object_mut() {
                        meta.remove("resourceVersion");
                    }
                    self.store
                        .update(&key, encode(&obj)?, Some(kv.mod_revision))
                        .await
                        .map(|kv| (false, kv))
                }
                Plan::Unchanged => Ok((false, kv)),
            };
            match result {
                Ok((true, kv)) => {
                    let gone = decode(&kv)?;
                    self.released(def, &gone).await;
                    return Ok(Deleted::Gone(gone));
                }
                Ok((false, kv)) => return Ok(Deleted::Terminating(decode(&kv)?)),
                Err(StoreError::Conflict { .. }) => continue,
                Err(e) => return Err(Status::from_store(&e, target(def, name))),
            }
        }
        Err(Status::conflict(target(def, name)))
    }

    /// A deleted object's allocations are given back (a Service's addresses and ports).
    async fn released(&self, def: &ResourceDef, gone: &Value) {
        if is_service(def) {
            let held: Vec<svcalloc::Held> = svcalloc::held(gone).into_iter().collect();
            svcalloc::release(self, &held, gone).await;
        }
    }

    /// `deletecollection`: delete every object the selectors match, each as a single delete
    /// would. Returns what was deleted or marked.
    pub async fn delete_collection(
        &self,
        def: &ResourceDef,
        ns: Option<&str>,
        selectors: &Selectors,
        opts: &DeleteOptions,
        dry_run: bool,
    ) -> Result<Vec<Value>, Status> {
        let (items, _) = self.list(def, ns, selectors)?;
        let mut out = Vec::with_capacity(items.len());
        for obj in items {
            let Some(name) = obj["metadata"]["name"].as_str() else { continue };
            let obj_ns = obj["metadata"]["namespace"].as_str();
            match self.delete(def, obj_ns.or(ns), name, opts, dry_run).await {
                Ok(d) => out.push(d.object().clone()),
                Err(s) if s.code == 404 => {}
                Err(s) => return Err(s),
            }
        }
        Ok(out)
    }
}

/// Five characters for `generateName`.
fn suffix() -> String {
    let uid = objects::new_uid();
    uid.bytes()
        .filter(u8::is_ascii_hexdigit)
        .take(5)
        .map(|b| SUFFIX_ALPHABET[usize::from(b) % SUFFIX_ALPHABET.len()] as char)
        .collect()
}
