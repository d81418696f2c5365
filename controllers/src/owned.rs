//! What the workload controllers share: creating and deleting the pods an owner controls,
//! with the events upstream records for each, and writing an owner's status.

use k3rs_api::Status;
use k3rs_api::delete::DeleteOptions;
use k3rs_api::event::{EventSpec, EventType};
use k3rs_api::registry::ResourceDef;
use k3rs_api::selector::Selectors;
use k3rs_api::service::Objects;
use k3rs_api::subresource::{self, Sub};
use serde_json::Value;

use crate::events;
use crate::manager::unless_gone;
use crate::work::controller_of;

/// Who acts, for events (`replicaset-controller`, ...).
#[derive(Debug, Clone, Copy)]
pub struct Controller<'a> {
    pub component: &'a str,
    pub owner: &'a Value,
}

impl Controller<'_> {
    async fn note(&self, objects: &Objects<'_>, reason: &str, message: String) {
        let spec = EventSpec {
            kind: EventType::Normal,
            reason,
            message,
            component: self.component,
            host: None,
        };
        events::record(objects, self.owner, spec).await;
    }

    /// Creates `pods` in `namespace`; false when the namespace refuses them (terminating).
    pub async fn create_pods(
        &self,
        objects: &Objects<'_>,
        pod_def: &ResourceDef,
        namespace: &str,
        pods: impl IntoIterator<Item = Value>,
    ) -> Result<bool, Status> {
        for pod in pods {
            match objects.create(pod_def, Some(namespace), pod, false).await {
                Ok(made) => {
                    let name = made["metadata"]["name"].as_str().unwrap_or_default();
                    self.note(objects, "SuccessfulCreate", format!("Created pod: {name}")).await;
                }
                Err(s) if s.code == 403 => return Ok(false),
                Err(s) => return Err(s),
            }
        }
        Ok(true)
    }

    /// Deletes the pods named (gone already is fine).
    pub async fn delete_pods(
        &self,
        objects: &Objects<'_>,
        pod_def: &ResourceDef,
        namespace: &str,
        names: &[String],
    ) -> Result<(), Status> {
        for name in names {
            let deleted = objects
                .delete(pod_def, Some(namespace), name, &DeleteOptions::default(), false)
                .await;
            if unless_gone(deleted)?.is_some() {
                self.note(objects, "SuccessfulDelete", format!("Deleted pod: {name}")).await;
            }
        }
        Ok(())
    }
}

/// The objects of `def` in `namespace` whose controller is the owner with `uid`.
pub fn controlled(
    objects: &Objects<'_>,
    def: &ResourceDef,
    namespace: &str,
    uid: &str,
) -> Result<Vec<Value>, Status> {
    let (all, _) = objects.list(def, Some(namespace), &Selectors::default())?;
    Ok(all.into_iter().filter(|o| controller_of(o).is_some_and(|c| c.uid == uid)).collect())
}

/// Writes `status` as the status of `def` `namespace/name` (gone meanwhile is fine).
pub async fn write_status(
    objects: &Objects<'_>,
    def: &ResourceDef,
    namespace: &str,
    name: &str,
    status: &Value,
) -> Result<(), Status> {
    let result = objects
        .update_with(def, Some(namespace), name, Sub::Status, false, |existing| {
            let mut wanted = existing.clone();
            wanted["status"] = status.clone();
            Ok((subresource::merge_write(def, Sub::Status, existing, wanted)?, false))
        })
        .await;
    unless_gone(result)?;
    Ok(())
}
