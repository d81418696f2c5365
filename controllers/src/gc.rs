//! The garbage collector for `ownerReferences`: a dependent whose owners are all gone is
//! deleted (background propagation); owners deleted in the foreground wait for their
//! dependents to go, and owners deleted with `orphan` first release their dependents.

use k3rs_api::Status;
use k3rs_api::delete::{
    DeleteOptions, FOREGROUND, ORPHAN, Propagation, has_finalizer, without_finalizer,
};
use k3rs_api::registry::ResourceDef;
use k3rs_api::service::Objects;
use k3rs_api::subresource::Sub;
use serde_json::{Value, json};

use crate::manager::{Outcome, unless_gone};
use crate::work::{ObjectRef, OwnerIndex, OwnerRef, owners, terminating};

/// What is known of one owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OwnerState {
    Present,
    /// Terminating with `foregroundDeletion`: its dependents must go first.
    Foreground,
    Absent,
}

fn lookup<'a>(objects: &Objects<'a>, r: &ObjectRef) -> Option<&'a ResourceDef> {
    objects.registry.by_kind(&r.api_version, &r.kind)
}

fn get(objects: &Objects<'_>, r: &ObjectRef) -> Result<Option<Value>, Status> {
    let Some(def) = lookup(objects, r) else { return Ok(None) };
    let ns = if def.namespaced { r.namespace.as_deref() } else { None };
    unless_gone(objects.get(def, ns, &r.name))
}

fn owner_state(
    objects: &Objects<'_>,
    dependent: &ObjectRef,
    o: &OwnerRef,
) -> Result<OwnerState, Status> {
    let r = ObjectRef {
        api_version: o.api_version.clone(),
        kind: o.kind.clone(),
        namespace: dependent.namespace.clone(),
        name: o.name.clone(),
    };
    if lookup(objects, &r).is_none() {
        // A kind this server does not know: never guess that the owner is gone.
        return Ok(OwnerState::Present);
    }
    Ok(match get(objects, &r)? {
        Some(owner) if owner["metadata"]["uid"] == o.uid.as_str() => {
            if terminating(&owner) && has_finalizer(&owner, FOREGROUND) {
                OwnerState::Foreground
            } else {
                OwnerState::Present
            }
        }
        _ => OwnerState::Absent,
    })
}

/// Check one dependent: delete it when all its owners are gone (or an owner is being deleted
/// in the foreground); drop references to owners that are gone while others remain.
pub async fn check_dependent(objects: Objects<'_>, r: &ObjectRef) -> Result<Outcome, Status> {
    let Some(def) = lookup(&objects, r) else { return Ok(Outcome::Done) };
    let ns = if def.namespaced { r.namespace.as_deref() } else { None };
    let Some(obj) = get(&objects, r)? else { return Ok(Outcome::Done) };
    let refs = owners(&obj);
    if refs.is_empty() {
        return Ok(Outcome::Done);
    }
    let mut states = Vec::with_capacity(refs.len());
    for o in &refs {
        states.push(owner_state(&objects, r, o)?);
    }
    let absent: Vec<&str> = refs
        .iter()
        .zip(&states)
        .filter(|(_, s)| **s == OwnerState::Absent)
        .map(|(o, _)| o.uid.as_str())
        .collect();
    let foreground = states.contains(&OwnerState::Foreground);
    if absent.len() == refs.len() || foreground {
        if terminating(&obj) {
            return Ok(Outcome::Done);
        }
        let propagation =
            if foreground { Propagation::Foreground } else { Propagation::Background };
        let opts = DeleteOptions { propagation, ..DeleteOptions::default() };
        tracing::debug!(object = %r.name, kind = %r.kind, "gc: deleting a dependent");
        unless_gone(objects.delete(def, ns, &r.name, &opts, false).await)?;
    } else if !absent.is_empty() {
        let gone: Vec<String> = absent.iter().map(|s| (*s).to_owned()).collect();
        objects
            .update_with(def, ns, &r.name, Sub::Main, false, |existing| {
                Ok((without_owners(existing, &gone), false))
            })
            .await?;
    }
    Ok(Outcome::Done)
}

/// Finish an owner deleted in the foreground (once its `dependents` are gone) or with
/// `orphan` (after removing itself from their owner references).
pub async fn finalize_owner(
    objects: Objects<'_>,
    r: &ObjectRef,
    index: &OwnerIndex,
) -> Result<Outcome, Status> {
    let Some(def) = lookup(&objects, r) else { return Ok(Outcome::Done) };
    let ns = if def.namespaced { r.namespace.as_deref() } else { None };
    let Some(owner) = get(&objects, r)? else { return Ok(Outcome::Done) };
    if !terminating(&owner) {
        return Ok(Outcome::Done);
    }
    let uid = owner["metadata"]["uid"].as_str().unwrap_or("").to_owned();
    let dependents = index.dependents(&uid);
    let finalizer = if has_finalizer(&owner, ORPHAN) {
        for d in &dependents {
            let Some(ddef) = lookup(&objects, d) else { continue };
            let dns = if ddef.namespaced { d.namespace.as_deref() } else { None };
            let gone = [uid.clone()];
            unless_gone(
                objects
                    .update_with(ddef, dns, &d.name, Sub::Main, false, |existing| {
                        Ok((without_owners(existing, &gone), false))
                    })
                    .await,
            )?;
        }
        ORPHAN
    } else if has_finalizer(&owner, FOREGROUND) {
        let mut waiting = 0;
        for d in &dependents {
            let Some(dep) = get(&objects, d)? else { continue };
            if !owners(&dep).iter().any(|o| o.uid == uid) {
                continue;
            }
            waiting += 1;
            if !terminating(&dep)
                && let Some(ddef) = lookup(&objects, d)
            {
                let dns = if ddef.namespaced { d.namespace.as_deref() } else { None };
                let opts =
                    DeleteOptions { propagation: Propagation::Foreground, ..Default::default() };
                unless_gone(objects.delete(ddef, dns, &d.name, &opts, false).await)?;
            }
        }
        if waiting > 0 {
            return Ok(Outcome::Later);
        }
        FOREGROUND
    } else {
        return Ok(Outcome::Done);
    };
    objects
        .update_with(def, ns, &r.name, Sub::Main, false, |existing| {
            Ok((without_finalizer(existing, "/metadata/finalizers", finalizer), false))
        })
        .await?;
    Ok(Outcome::Done)
}

/// The object without the owner references to `uids`.
fn without_owners(obj: &Value, uids: &[String]) -> Value {
    let mut out = obj.clone();
    let kept: Vec<Value> = obj["metadata"]["ownerReferences"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|o| !uids.iter().any(|u| o["uid"] == u.as_str()))
        .cloned()
        .collect();
    if kept.is_empty() {
        if let Some(m) = out["metadata"].as_object_mut() {
            m.remove("ownerReferences");
        }
    } else {
        out["metadata"]["ownerReferences"] = json!(kept);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_references_are_dropped_by_uid() {
        let obj = json!({"metadata": {"ownerReferences": [{"uid": "a"}, {"uid": "b"}]}});
        assert_eq!(
            without_owners(&obj, &["a".into()])["metadata"]["ownerReferences"],
            json!([{"uid": "b"}])
        );
        assert!(
            without_owners(&obj, &["a".into(), "b".into()])["metadata"]
                .get("ownerReferences")
                .is_none()
        );
    }
}
