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
pub async fn get(api: &Https, path: &str) -> Result<Option<Value>, AgentError> {
    let answer = api.get(path).await?;
    match answer.code {
        404 => Ok(None),
        _ if answer.ok() => Ok(Some(answer.json()?)),
        _ => Err(failed(&format!("GET {path}"), &answer)),
    }
}

/// Merge `patch` into the Node `name`.
pub async fn patch_node(api: &Https, name: &str, patch: &Value) -> Result<(), AgentError> {
    let answer = api
        .send(
            Method::PATCH,
            &format!("{}?fieldManager=k3rs-agent", node_path(name)),
            Some(("application/merge-patch+json", patch.to_string().into_bytes())),
        )
        .await?;
    if answer.ok() { Ok(()) } else { Err(failed("patching the Node", &answer)) }
}

/// The Node, created from `node` when missing (labels from flags are added to an existing
/// one). Returns the stored Node.
pub async fn ensure_node(api: &Https, node: &Value) -> Result<Value, AgentError> {
    let name = node["metadata"]["name"].as_str().unwrap_or_default();
    if let Some(existing) = get(api, &node_path(name)).await? {
        let patch = serde_json::json!({"metadata": {"labels": node["metadata"]["labels"], "annotations": node["metadata"]["annotations"]}});
        // A refused patch keeps the Node as it is (its labels are only added).
        if patch_node(api, name, &patch).await.is_err() {
            return Ok(existing);
        }
        return Ok(get(api, &node_path(name)).await?.unwrap_or(existing));
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

/// The servers (`host:port`) in the `kubernetes` Endpoints of `default`; empty when missing.
pub async fn apiservers(api: &Https) -> Result<Vec<String>, AgentError> {
    let endpoints = get(api, "/api/v1/namespaces/default/endpoints/kubernetes").await?;
    Ok(endpoints.map(|e| k3rs_api::bootstrap::apiserver_addresses(&e)).unwrap_or_default())
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

/// A collection (`/api/v1/services`, with any query) and the list's resourceVersion.
pub async fn list(api: &Https, path: &str) -> Result<(Vec<Value>, String), AgentError> {
    let answer = api.get(path).await?;
    if !answer.ok() {
        return Err(failed(&format!("listing {path}"), &answer));
    }
    let list = answer.json()?;
    let rv = list["metadata"]["resourceVersion"].as_str().unwrap_or("0").to_owned();
    Ok((list["items"].as_array().cloned().unwrap_or_default(), rv))
}

/// The watch of the collection `path` (with or without a query) after `rv`.
pub fn watch_of(path: &str, rv: &str) -> String {
    let sep = if path.contains('?') { '&' } else { '?' };
    format!(
        "{path}{sep}watch=true&allowWatchBookmarks=true&resourceVersion={rv}&timeoutSeconds=300"
    )
}

/// Splits a watch body into its events (`{"type": ..., "object": ...}` per line).
#[derive(Debug, Default)]
pub struct WatchLines {
    buf: Vec<u8>,
}

impl WatchLines {
    /// Add a chunk; returns the complete events in it.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<(String, Value)> {
        self.buf.extend_from_slice(chunk);
        let mut out = Vec::new();
        while let Some(i) = self.buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.buf.drain(..=i).collect();
            if let Ok(v) = serde_json::from_slice::<Value>(&line) {
                let kind = v["type"].as_str().unwrap_or_default().to_owned();
                out.push((kind, v["object"].clone()));
            }
        }
        out
    }
}

fn pod_path(namespace: &str, name: &str) -> String {
    format!("/api/v1/namespaces/{namespace}/pods/{name}")
}

/// Write a pod's status through `pods/status`.
pub async fn write_pod_status(
    api: &Https,
    namespace: &str,
    name: &str,
    status: &Value,
) -> Result<(), AgentError> {
    let patch = serde_json::json!({"status": status});
    let answer = api
        .send(
            Method::PATCH,
            &format!("{}/status?fieldManager=k3rs-agent", pod_path(namespace, name)),
            Some(("application/merge-patch+json", patch.to_string().into_bytes())),
        )
        .await?;
    match answer.code {
        404 => Ok(()),
        _ if answer.ok() => Ok(()),
        _ => Err(failed("writing a pod status", &answer)),
    }
}

/// Confirm a pod's deletion once its containers are gone (grace 0, only this pod's uid).
pub async fn confirm_deleted(
    api: &Https,
    namespace: &str,
    name: &str,
    uid: &str,
) -> Result<(), AgentError> {
    let body = serde_json::json!({"apiVersion": "v1", "kind": "DeleteOptions",
        "gracePeriodSeconds": 0, "preconditions": {"uid": uid}});
    let answer = api.json(Method::DELETE, &pod_path(namespace, name), &body).await?;
    match answer.code {
        404 | 409 => Ok(()),
        _ if answer.ok() => Ok(()),
        _ => Err(failed("confirming a pod's deletion", &answer)),
    }
}

/// Record an event.
pub async fn post_event(api: &Https, event: &Value) -> Result<(), AgentError> {
    let ns = event["metadata"]["namespace"].as_str().unwrap_or("default");
    let answer = api.json(Method::POST, &format!("/api/v1/namespaces/{ns}/events"), event).await?;
    if answer.ok() { Ok(()) } else { Err(failed("recording an event", &answer)) }
}

/// The ConfigMaps and Secrets `pod` references, as the node may read them.
pub async fn sources(api: &Https, pod: &Value) -> Result<crate::volumes::Sources, AgentError> {
    let ns = pod["metadata"]["namespace"].as_str().unwrap_or("default");
    let (cms, secrets) = crate::volumes::referenced(pod);
    let mut out = crate::volumes::Sources::default();
    for name in cms {
        let obj = get(api, &format!("/api/v1/namespaces/{ns}/configmaps/{name}")).await?;
        out.config_maps.insert(name, obj);
    }
    for name in secrets {
        let obj = get(api, &format!("/api/v1/namespaces/{ns}/secrets/{name}")).await?;
        out.secrets.insert(name, obj);
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn watch_bodies_split_into_events_across_chunks() {
        let mut w = WatchLines::default();
        assert!(w.push(br#"{"type":"ADDED","object":{"metadata":{"name""#).is_empty());
        let events = w.push(b":\"a\"}}}\n{\"type\":\"DELETED\",\"object\":{}}\n{\"type\"");
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].0, "ADDED");
        assert_eq!(events[0].1["metadata"]["name"], "a");
        assert_eq!(events[1].0, "DELETED");
        let pods = "/api/v1/pods?fieldSelector=spec.nodeName%3Dn1";
        assert!(watch_of(pods, "7").contains("fieldSelector=spec.nodeName%3Dn1&watch=true"));
        assert!(watch_of("/api/v1/services", "7").starts_with("/api/v1/services?watch=true"));
    }
}
