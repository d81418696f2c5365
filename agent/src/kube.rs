//! The API calls the agent makes with its node certificate: register its Node (create, then
//! write the status through `nodes/status`), report status when it changes, and renew its
//! Lease.

use awc::http::Method;
use serde_json::Value;

use crate::AgentError;
use crate::client::{Answer, Https};

fn node_path(name: &str) -> String {
    format!("/api/v1/nodes/{name}")
}

fn lease_path(name: &str) -> String {
    format!("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{name}")
}

fn failed(what: &str, answer: &Answer) -> AgentError {
    AgentError::Status { what: what.to_owned(), code: answer.code, message: answer.message() }
}

/// Get an object; `None` when it does not exist.
async fn get(api: &Https, path: &str) -> Result<Option<Value>, AgentError> {
    let answer = api.get(path).await?;
    match answer.code {
        404 => Ok(None),
        _ if answer.ok() => Ok(Some(answer.json()?)),
        _ => Err(failed(&format!("GET {path}"), &answer)),
    }
}

/// The Node, created from `node` when missing (labels from flags are added to an existing
/// one). Returns the stored Node.
pub async fn ensure_node(api: &Https, node: &Value) -> Result<Value, AgentError> {
    let name = node["metadata"]["name"].as_str().unwrap_or_default();
    if let Some(existing) = get(api, &node_path(name)).await? {
        let patch = serde_json::json!({"metadata": {"labels": node["metadata"]["labels"], "annotations": node["metadata"]["annotations"]}});
        let answer = api
            .send(
                Method::PATCH,
                &format!("{}?fieldManager=k3rs-agent", node_path(name)),
                Some(("application/merge-patch+json", patch.to_string().into_bytes())),
            )
            .await?;
        return if answer.ok() { answer.json() } else { Err(failed("updating the Node", &answer)) }
            .or(Ok(existing));
    }
    let answer = api.json(Method::POST, "/api/v1/nodes?fieldManager=k3rs-agent", node).await?;
    match answer.code {
        409 => {
            get(api, &node_path(name)).await?.ok_or_else(|| failed("creating the Node", &answer))
        }
        _ if answer.ok() => answer.json(),
        _ => Err(failed("creating the Node", &answer)),
    }
}

/// Write `status` to the Node through `nodes/status` (merge patch: other fields are kept).
pub async fn write_status(api: &Https, name: &str, status: &Value) -> Result<Value, AgentError> {
    let patch = serde_json::json!({"status": status});
    let answer = api
        .send(
            Method::PATCH,
            &format!("{}/status?fieldManager=k3rs-agent", node_path(name)),
            Some(("application/merge-patch+json", patch.to_string().into_bytes())),
        )
        .await?;
    if answer.ok() { answer.json() } else { Err(failed("writing the Node status", &answer)) }
}

/// The stored Node.
pub async fn node(api: &Https, name: &str) -> Result<Option<Value>, AgentError> {
    get(api, &node_path(name)).await
}

/// Renew the Lease (created when missing).
pub async fn renew_lease(api: &Https, lease: &Value) -> Result<(), AgentError> {
    let name = lease["metadata"]["name"].as_str().unwrap_or_default();
    let patch = serde_json::json!({"spec": lease["spec"]});
    let answer = api
        .send(
            Method::PATCH,
            &format!("{}?fieldManager=k3rs-agent", lease_path(name)),
            Some(("application/merge-patch+json", patch.to_string().into_bytes())),
        )
        .await?;
    if answer.ok() {
        return Ok(());
    }
    if answer.code != 404 {
        return Err(failed("renewing the Lease", &answer));
    }
    let answer = api
        .json(
            Method::POST,
            "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases?fieldManager=k3rs-agent",
            lease,
        )
        .await?;
    if answer.ok() || answer.code == 409 {
        Ok(())
    } else {
        Err(failed("creating the Lease", &answer))
    }
}
