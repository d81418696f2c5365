//! The namespace controller: a terminating namespace has its contents deleted, and once nothing
//! is left its `kubernetes` finalizer is removed, which lets it go.

use k3rs_api::Status;
use k3rs_api::delete::{DeleteOptions, NAMESPACE_FINALIZER};
use k3rs_api::selector::Selectors;
use k3rs_api::service::Objects;
use k3rs_api::subresource::Sub;
use serde_json::{Value, json};

use crate::manager::Outcome;
use crate::work::terminating;

/// Empty namespace `name` if it is terminating; finish it when empty.
pub async fn reconcile(objects: Objects<'_>, name: &str) -> Result<Outcome, Status> {
    let Some(ns_def) = objects.registry.get("", "v1", "namespaces") else {
        return Ok(Outcome::Done);
    };
    let ns = match objects.get(ns_def, None, name) {
        Ok(ns) => ns,
        Err(s) if s.code == 404 => return Ok(Outcome::Done),
        Err(s) => return Err(s),
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
            Ok((without_finalizer(existing), false))
        })
        .await?;
    tracing::info!(namespace = name, "namespace deleted");
    Ok(Outcome::Done)
}

fn without_finalizer(ns: &Value) -> Value {
    let mut out = ns.clone();
    let kept: Vec<Value> = ns["spec"]["finalizers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|f| *f != NAMESPACE_FINALIZER)
        .cloned()
        .collect();
    out["spec"]["finalizers"] = json!(kept);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_namespace_finalizer_is_removed() {
        let ns = json!({"spec": {"finalizers": ["kubernetes", "other"]}});
        assert_eq!(without_finalizer(&ns)["spec"]["finalizers"], json!(["other"]));
    }
}
