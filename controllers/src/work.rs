//! Work items: what a change in the store asks the controllers to look at, and the index of
//! dependents by owner uid that garbage collection needs. Plain functions of store events.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use k3rs_api::delete::has_finalizer;
use serde_json::Value;

/// An object, by what its owner references and its store value name it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectRef {
    pub api_version: String,
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
}

impl ObjectRef {
    /// The reference of an object value (its `apiVersion`, `kind` and metadata).
    pub fn of(obj: &Value) -> Option<Self> {
        Some(ObjectRef {
            api_version: obj["apiVersion"].as_str()?.to_owned(),
            kind: obj["kind"].as_str()?.to_owned(),
            namespace: obj["metadata"]["namespace"].as_str().map(str::to_owned),
            name: obj["metadata"]["name"].as_str()?.to_owned(),
        })
    }
}

/// One thing for a controller to reconcile.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Work {
    /// A CustomResourceDefinition changed: accept it and refresh the registry.
    Crd(String),
    /// A terminating namespace: empty it, then let it go.
    Namespace(String),
    /// An object with owners, some of which may be gone.
    Dependent(ObjectRef),
    /// An owner that may be terminating with the `foregroundDeletion` or `orphan` finalizer.
    Owner(ObjectRef),
    /// A Deployment: its ReplicaSets and status.
    Deployment { namespace: String, name: String },
    /// A ReplicaSet: its Pods and status.
    ReplicaSet { namespace: String, name: String },
    /// A DaemonSet: a pod on each eligible node, and status.
    DaemonSet { namespace: String, name: String },
    /// Nodes changed: every DaemonSet.
    AllDaemonSets,
    /// A CronJob: its Jobs on schedule, and status.
    CronJob { namespace: String, name: String },
    /// A StatefulSet: its ordered pods, and status.
    StatefulSet { namespace: String, name: String },
    /// A Job: its pods until completion, and status.
    Job { namespace: String, name: String },
    /// A pod waiting for a node.
    Schedule { namespace: String, name: String },
    /// Nodes or bound pods changed: every waiting pod may fit now.
    ScheduleAll,
    /// A Service (or what was made for it): its Endpoints and EndpointSlices.
    Endpoints { namespace: String, name: String },
    /// A pod with these labels changed what endpoints show: the Services selecting it.
    EndpointsFor { namespace: String, labels: BTreeMap<String, String> },
}

/// An owner reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnerRef {
    pub api_version: String,
    pub kind: String,
    pub name: String,
    pub uid: String,
    pub controller: bool,
}

/// The owner references of an object.
pub fn owners(obj: &Value) -> Vec<OwnerRef> {
    obj["metadata"]["ownerReferences"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|o| {
            Some(OwnerRef {
                api_version: o["apiVersion"].as_str()?.to_owned(),
                kind: o["kind"].as_str()?.to_owned(),
                name: o["name"].as_str()?.to_owned(),
                uid: o["uid"].as_str()?.to_owned(),
                controller: o["controller"].as_bool().unwrap_or(false),
            })
        })
        .collect()
}

/// The owner that is this object's controller, if any.
pub fn controller_of(obj: &Value) -> Option<OwnerRef> {
    owners(obj).into_iter().find(|o| o.controller)
}

/// Is the object terminating (has a `deletionTimestamp`)?
pub fn terminating(obj: &Value) -> bool {
    obj["metadata"].get("deletionTimestamp").is_some_and(|t| !t.is_null())
}

/// Dependents by owner uid, kept from the store's events.
#[derive(Debug, Default)]
pub struct OwnerIndex {
    dependents: HashMap<String, BTreeSet<ObjectRef>>,
}

impl OwnerIndex {
    /// Record that `obj` now has the owners it has (and drop what `prev` had).
    pub fn update(&mut self, prev: Option<&Value>, obj: Option<&Value>) {
        let Some(r) = obj.or(prev).and_then(ObjectRef::of) else { return };
        if let Some(prev) = prev {
            for o in owners(prev) {
                if let Some(set) = self.dependents.get_mut(&o.uid) {
                    set.remove(&r);
                    if set.is_empty() {
                        self.dependents.remove(&o.uid);
                    }
                }
            }
        }
        if let Some(obj) = obj {
            for o in owners(obj) {
                self.dependents.entry(o.uid).or_default().insert(r.clone());
            }
        }
    }

    /// The objects that name `uid` as an owner.
    pub fn dependents(&self, uid: &str) -> Vec<ObjectRef> {
        self.dependents.get(uid).map(|s| s.iter().cloned().collect()).unwrap_or_default()
    }

    pub fn len(&self) -> usize {
        self.dependents.len()
    }

    pub fn is_empty(&self) -> bool {
        self.dependents.is_empty()
    }
}

/// Did a node's labels, taints or cordon change (what daemon placement depends on)?
fn node_placement_changed(prev: Option<&Value>, obj: Option<&Value>) -> bool {
    let key = |n: Option<&Value>| {
        n.map(|n| {
            (
                n["metadata"]["labels"].clone(),
                n["spec"]["taints"].clone(),
                n["spec"]["unschedulable"].clone(),
            )
        })
    };
    key(prev) != key(obj)
}

/// The work a change asks for: `prev` is the object before (none for a create), `obj` after
/// (none for a delete). Also keeps `index` up to date.
pub fn on_change(index: &mut OwnerIndex, prev: Option<&Value>, obj: Option<&Value>) -> Vec<Work> {
    let mut work = Vec::new();
    let Some(current) = obj.or(prev) else { return work };
    let Some(r) = ObjectRef::of(current) else { return work };
    match obj {
        Some(obj) => {
            if !owners(obj).is_empty() {
                work.push(Work::Dependent(r.clone()));
            }
            if terminating(obj)
                && (has_finalizer(obj, k3rs_api::delete::FOREGROUND)
                    || has_finalizer(obj, k3rs_api::delete::ORPHAN))
            {
                work.push(Work::Owner(r.clone()));
            }
        }
        None => {
            // The object is gone: its dependents may now be orphans.
            if let Some(uid) = current["metadata"]["uid"].as_str() {
                work.extend(index.dependents(uid).into_iter().map(Work::Dependent));
            }
        }
    }
    // An owner waiting on its dependents hears of each change among them.
    for o in owners(current) {
        work.push(Work::Owner(ObjectRef {
            api_version: o.api_version.clone(),
            kind: o.kind.clone(),
            namespace: if namespaced_owner(&o) { r.namespace.clone() } else { None },
            name: o.name.clone(),
        }));
    }
    let ns = r.namespace.clone().unwrap_or_default();
    match (r.api_version.as_str(), r.kind.as_str()) {
        ("v1", "Namespace") if obj.is_some_and(terminating) => {
            work.push(Work::Namespace(r.name.clone()));
        }
        ("apiextensions.k8s.io/v1", "CustomResourceDefinition") => {
            work.push(Work::Crd(r.name.clone()));
        }
        ("apps/v1", "Deployment") => {
            work.push(Work::Deployment { namespace: ns, name: r.name.clone() });
        }
        ("apps/v1", "ReplicaSet") => {
            work.push(Work::ReplicaSet { namespace: ns.clone(), name: r.name.clone() });
            if let Some(c) = controller_of(current).filter(|c| c.kind == "Deployment") {
                work.push(Work::Deployment { namespace: ns, name: c.name });
            }
        }
        ("apps/v1", "DaemonSet") => {
            work.push(Work::DaemonSet { namespace: ns, name: r.name.clone() });
        }
        ("apps/v1", "StatefulSet") => {
            work.push(Work::StatefulSet { namespace: ns, name: r.name.clone() });
        }
        ("batch/v1", "Job") => {
            work.push(Work::Job { namespace: ns.clone(), name: r.name.clone() });
            if let Some(c) = controller_of(current).filter(|c| c.kind == "CronJob") {
                work.push(Work::CronJob { namespace: ns, name: c.name });
            }
        }
        ("batch/v1", "CronJob") => {
            work.push(Work::CronJob { namespace: ns, name: r.name.clone() });
        }
        ("v1", "Service") => {
            work.push(Work::Endpoints { namespace: ns.clone(), name: r.name.clone() });
        }
        ("v1", "Endpoints") if obj.is_none() => {
            work.push(Work::Endpoints { namespace: ns.clone(), name: r.name.clone() });
        }
        ("discovery.k8s.io/v1", "EndpointSlice") => {
            if let Some(svc) = crate::endpoints::managed_slice_of(current) {
                work.push(Work::Endpoints { namespace: ns.clone(), name: svc.to_owned() });
            }
        }
        ("v1", "Pod") => {
            let seen = |p: Option<&Value>| p.map(crate::endpoints::pod_projection);
            if seen(prev) != seen(obj) {
                let mut sets: Vec<BTreeMap<String, String>> =
                    prev.iter().chain(obj.iter()).map(|p| crate::endpoints::labels_of(p)).collect();
                sets.dedup();
                work.extend(
                    sets.into_iter()
                        .map(|labels| Work::EndpointsFor { namespace: ns.clone(), labels }),
                );
            }
            match controller_of(current) {
                Some(c) if c.kind == "ReplicaSet" => {
                    work.push(Work::ReplicaSet { namespace: ns.clone(), name: c.name });
                }
                Some(c) if c.kind == "DaemonSet" => {
                    work.push(Work::DaemonSet { namespace: ns.clone(), name: c.name });
                }
                Some(c) if c.kind == "StatefulSet" => {
                    work.push(Work::StatefulSet { namespace: ns.clone(), name: c.name });
                }
                Some(c) if c.kind == "Job" => {
                    work.push(Work::Job { namespace: ns.clone(), name: c.name });
                }
                _ => {}
            }
            match obj {
                Some(pod) if crate::scheduler::wants_scheduling(pod) => {
                    work.push(Work::Schedule { namespace: ns, name: r.name.clone() });
                }
                None if current["spec"]["nodeName"].as_str().is_some_and(|n| !n.is_empty()) => {
                    work.push(Work::ScheduleAll);
                }
                _ => {}
            }
        }
        ("v1", "Node") => {
            work.push(Work::ScheduleAll);
            // A new or changed node may need (or no longer take) daemon pods; a heartbeat
            // alone changes nothing here.
            if prev.is_none() || obj.is_none() || node_placement_changed(prev, obj) {
                work.push(Work::AllDaemonSets);
            }
        }
        _ => {}
    }
    index.update(prev, obj);
    work
}

/// Owners of these kinds are cluster-scoped; others share their dependent's namespace.
fn namespaced_owner(o: &OwnerRef) -> bool {
    !matches!(
        o.kind.as_str(),
        "Node" | "Namespace" | "ClusterRole" | "ClusterRoleBinding" | "CustomResourceDefinition"
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    fn pod(owner_uid: &str) -> Value {
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "d", "uid": "pu",
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": owner_uid, "controller": true}]}})
    }

    #[test]
    fn pods_wake_their_replicaset_and_are_indexed_by_owner() {
        let mut index = OwnerIndex::default();
        let work = on_change(&mut index, None, Some(&pod("ru")));
        assert!(work.contains(&Work::ReplicaSet { namespace: "d".into(), name: "rs".into() }));
        assert!(work.contains(&Work::Dependent(ObjectRef::of(&pod("ru")).unwrap())));
        assert_eq!(index.dependents("ru").len(), 1);
        // The owner goes: its dependents are checked.
        let rs = json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "rs", "namespace": "d", "uid": "ru"}});
        let work = on_change(&mut index, Some(&rs), None);
        assert!(work.contains(&Work::Dependent(ObjectRef::of(&pod("ru")).unwrap())));
        // The dependent goes: the index forgets it.
        on_change(&mut index, Some(&pod("ru")), None);
        assert!(index.is_empty());
    }

    #[test]
    fn services_and_what_their_endpoints_show_are_work() {
        let mut index = OwnerIndex::default();
        let svc = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "d"}});
        assert!(
            on_change(&mut index, None, Some(&svc))
                .contains(&Work::Endpoints { namespace: "d".into(), name: "web".into() })
        );
        let p = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "d", "labels": {"app": "web"}},
            "status": {"podIP": "10.42.0.1"}});
        let labels = BTreeMap::from([("app".to_owned(), "web".to_owned())]);
        let wanted = Work::EndpointsFor { namespace: "d".into(), labels };
        assert!(on_change(&mut index, None, Some(&p)).contains(&wanted));
        // A status change endpoints do not show is no endpoints work.
        let mut q = p.clone();
        q["status"]["containerStatuses"] = json!([]);
        assert!(!on_change(&mut index, Some(&p), Some(&q)).contains(&wanted));
        assert!(on_change(&mut index, Some(&q), None).contains(&wanted));
    }

    #[test]
    fn terminating_namespaces_and_owners_are_work() {
        let mut index = OwnerIndex::default();
        let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x", "deletionTimestamp": "t"}});
        assert_eq!(on_change(&mut index, None, Some(&ns)), vec![Work::Namespace("x".into())]);
        let d = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "w", "namespace": "d", "deletionTimestamp": "t", "finalizers": ["foregroundDeletion"]}});
        let work = on_change(&mut index, None, Some(&d));
        assert!(work.contains(&Work::Owner(ObjectRef::of(&d).unwrap())));
        assert!(work.contains(&Work::Deployment { namespace: "d".into(), name: "w".into() }));
    }
}
