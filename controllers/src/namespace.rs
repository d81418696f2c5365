//! The namespace controller: a terminating namespace has its contents deleted, and once nothing
//! is left its `kubernetes` finalizer is removed, which lets it go.

use k3rs_api::Status;
use k3rs_api::delete::{DeleteOptions, NAMESPACE_FINALIZER, without_finalizer};
use k3rs_api::selector::Selectors;
use k3rs_api::service::Objects;
use k3rs_api::subresource::Sub;

use crate::manager::{Outcome, unless_gone};
use crate::work::terminating;

/// Empty namespace `name` if it is terminating; finish it when empty.
pub async fn reconcile(objects: Objects<'_>, name: &str) -> Result<Outcome, Status> {
    let Some(ns_def) = objects.registry.get("", "v1", "namespaces") else {
        return Ok(Outcome::Done);
    };
    let Some(ns) = unless_gone(objects.get(ns_def, None, name))? else {
        return Ok(Outcome::Done);
    };
    if !terminating(&ns) {
        return Ok(Outcome::Done);
    }
    let everything = Selectors::default();
    let mut remaining = 0;
    for def in objects.registry.resources().iter().filter(|d| d.namespaced) {
        objects
            .delete_collection(def, Some(name), &everything, &DeleteOptions::default(), false)
            .await?;
        remaining += objects.list(def, Some(name), &everything)?.0.len();
    }
    if remaining > 0 {
        tracing::debug!(namespace = name, remaining, "namespace: waiting for its contents to go");
        return Ok(Outcome::Later);
    }
    objects
        .update_with(ns_def, None, name, Sub::Main, false, |existing| {
            Ok((without_finalizer(existing, "/spec/finalizers", NAMESPACE_FINALIZER), false))
        })
        .await?;
    tracing::info!(namespace = name, "namespace deleted");
    Ok(Outcome::Done)
}
