//! The CRD controller: accepts a CRD's names (or reports the clash), marks it Established, and
//! keeps the served registry in step with the CRDs in the store. A deleted CRD first has its
//! custom resources deleted, then its cleanup finalizer removed.

use k3rs_api::crd::{self, CLEANUP_FINALIZER};
use k3rs_api::delete::{DeleteOptions, without_finalizer};
use k3rs_api::registry::{Registry, SharedRegistry};
use k3rs_api::selector::Selectors;
use k3rs_api::service::Objects;
use k3rs_api::subresource::{self, Sub};
use k3rs_api::{Status, objects};
use serde_json::Value;

use crate::manager::{Outcome, unless_gone};
use crate::work::terminating;

const GROUP: &str = "apiextensions.k8s.io";

fn without_times(status: &Value) -> Value {
    let mut s = status.clone();
    if let Some(cs) = s["conditions"].as_array_mut() {
        for c in cs.iter_mut().filter_map(Value::as_object_mut) {
            c.remove("lastTransitionTime");
        }
    }
    s
}

/// Reconcile CRD `name` and refresh the registry.
pub async fn reconcile(
    objects: Objects<'_>,
    shared: &SharedRegistry,
    name: &str,
) -> Result<Outcome, Status> {
    let Some(crd_def) = objects.registry.get(GROUP, "v1", "customresourcedefinitions") else {
        return Ok(Outcome::Done);
    };
    let Some(crd) = unless_gone(objects.get(crd_def, None, name))? else {
        rebuild(objects, shared)?;
        return Ok(Outcome::Done);
    };
    if terminating(&crd) {
        let everything = Selectors::default();
        let mut remaining = 0;
        for def in crd::resources(&crd) {
            objects
                .delete_collection(&def, None, &everything, &DeleteOptions::default(), false)
                .await?;
            remaining += objects.list(&def, None, &everything)?.0.len();
        }
        if remaining > 0 {
            return Ok(Outcome::Later);
        }
        objects
            .update_with(crd_def, None, name, Sub::Main, false, |existing| {
                Ok((without_finalizer(existing, "/metadata/finalizers", CLEANUP_FINALIZER), false))
            })
            .await?;
        return Ok(Outcome::Done);
    }
    let builtin = Registry::builtin();
    let conflict = crd::resources(&crd)
        .iter()
        .find(|d| builtin.get(&d.group, &d.version, &d.plural).is_some())
        .map(|d| format!("{:?} is already in use", d.plural));
    let now = objects::timestamp(time::OffsetDateTime::now_utc());
    let wanted = crd::status(&crd, conflict.as_deref(), &now);
    if without_times(&wanted) != without_times(&crd["status"]) {
        objects
            .update_with(crd_def, None, name, Sub::Status, false, |existing| {
                let mut w = existing.clone();
                w["status"] = crd::status(existing, conflict.as_deref(), &now);
                Ok((subresource::merge_write(crd_def, Sub::Status, existing, w)?, false))
            })
            .await?;
    }
    rebuild(objects, shared)?;
    Ok(Outcome::Done)
}

/// Serve the built-ins plus every established CRD's resources.
fn rebuild(objects: Objects<'_>, shared: &SharedRegistry) -> Result<(), Status> {
    let Some(crd_def) = objects.registry.get(GROUP, "v1", "customresourcedefinitions") else {
        return Ok(());
    };
    let (crds, _) = objects.list(crd_def, None, &Selectors::default())?;
    let defs = crds.iter().filter(|c| crd::established(c)).flat_map(crd::resources).collect();
    shared.replace(Registry::builtin().with(defs));
    Ok(())
}
