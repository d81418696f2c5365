//! What every server keeps in the datastore about itself: the `kubernetes` Service in `default`
//! (the first service IP, port 443 to the API port) and its Endpoints listing every server's
//! advertised address, which agents read (`/v1-k3rs/apiservers`) to learn all servers; and the
//! `kube-dns` Service in `kube-system` at the cluster DNS address, which every agent answers
//! on its own node (so it has no selector and no endpoints).

use serde_json::{Value, json};

use crate::Status;
use crate::service::Objects;
use crate::subresource::Sub;

/// The `kubernetes` Service.
pub fn kubernetes_service(cluster_ip: &str, port: u16) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": "kubernetes",
            "namespace": "default",
            "labels": {"component": "apiserver", "provider": "kubernetes"},
        },
        "spec": {
            "type": "ClusterIP",
            "clusterIP": cluster_ip,
            "clusterIPs": [cluster_ip],
            "sessionAffinity": "None",
            "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": port}],
        },
    })
}

/// The `kube-dns` Service, labelled as K3s's CoreDNS is (`kubectl cluster-info` lists it).
pub fn kube_dns_service(cluster_ip: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": "kube-dns",
            "namespace": "kube-system",
            "labels": {
                "k8s-app": "kube-dns",
                "kubernetes.io/cluster-service": "true",
                "kubernetes.io/name": "CoreDNS",
            },
            "annotations": {"prometheus.io/port": "9153", "prometheus.io/scrape": "true"},
        },
        "spec": {
            "type": "ClusterIP",
            "clusterIP": cluster_ip,
            "clusterIPs": [cluster_ip],
            "ports": [
                {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
                {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53},
            ],
        },
    })
}

/// Create the `kube-dns` Service unless it exists.
pub async fn ensure_kube_dns_service(
    objects: &Objects<'_>,
    cluster_ip: &str,
) -> Result<(), Status> {
    let Some(svc) = objects.registry.get("", "v1", "services") else { return Ok(()) };
    match objects.create(svc, Some("kube-system"), kube_dns_service(cluster_ip), false).await {
        Ok(_) => Ok(()),
        Err(e) if e.code == 409 => Ok(()),
        Err(e) => Err(e),
    }
}

/// The `kubernetes` Endpoints with `address` added (kept sorted, no duplicates).
pub fn with_address(existing: Option<&Value>, address: &str, port: u16) -> Value {
    let mut addresses: Vec<String> = existing
        .map(|e| {
            e["subsets"][0]["addresses"]
                .as_array()
                .map(|a| a.iter().filter_map(|x| x["ip"].as_str().map(str::to_owned)).collect())
                .unwrap_or_default()
        })
        .unwrap_or_default();
    if !addresses.iter().any(|a| a == address) {
        addresses.push(address.to_owned());
    }
    addresses.sort();
    let mut obj = existing.cloned().unwrap_or_else(|| {
        json!({
            "apiVersion": "v1",
            "kind": "Endpoints",
            "metadata": {"name": "kubernetes", "namespace": "default",
                         "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
        })
    });
    obj["subsets"] = json!([{
        "addresses": addresses.iter().map(|ip| json!({"ip": ip})).collect::<Vec<_>>(),
        "ports": [{"name": "https", "port": port, "protocol": "TCP"}],
    }]);
    obj
}

/// `host:port` of every API server in the `kubernetes` Endpoints.
pub fn apiserver_addresses(endpoints: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for subset in endpoints["subsets"].as_array().into_iter().flatten() {
        let port = subset["ports"][0]["port"].as_u64().unwrap_or(6443);
        for a in subset["addresses"].as_array().into_iter().flatten() {
            if let Some(ip) = a["ip"].as_str() {
                let host = if ip.contains(':') { format!("[{ip}]") } else { ip.to_owned() };
                out.push(format!("{host}:{port}"));
            }
        }
    }
    out
}

/// Create the Service if missing and add this server to its Endpoints.
pub async fn ensure_kubernetes_service(
    objects: &Objects<'_>,
    cluster_ip: &str,
    address: &str,
    port: u16,
) -> Result<(), Status> {
    let registry = objects.registry;
    let (Some(svc), Some(eps)) =
        (registry.get("", "v1", "services"), registry.get("", "v1", "endpoints"))
    else {
        return Ok(());
    };
    match objects.create(svc, Some("default"), kubernetes_service(cluster_ip, port), false).await {
        Ok(_) => {}
        Err(e) if e.code == 409 => {
            // Made by an earlier server, perhaps before its address was claimed.
            let existing = objects.get(svc, Some("default"), "kubernetes")?;
            crate::svcalloc::adopt(objects, &existing).await?;
        }
        Err(e) => return Err(e),
    }
    match objects.get(eps, Some("default"), "kubernetes") {
        Err(e) if e.code == 404 => {
            let obj = with_address(None, address, port);
            match objects.create(eps, Some("default"), obj, false).await {
                Ok(_) => return ensure_slice(objects, port).await,
                Err(e) if e.code == 409 => {}
                Err(e) => return Err(e),
            }
        }
        Err(e) => return Err(e),
        Ok(_) => {}
    }
    objects
        .update_with(eps, Some("default"), "kubernetes", Sub::Main, false, |existing| {
            Ok((with_address(Some(existing), address, port), false))
        })
        .await?;
    ensure_slice(objects, port).await
}

/// The `kubernetes` EndpointSlice, as the API server keeps it beside the Endpoints (service
/// proxies read slices).
pub fn slice_of(endpoints: &Value, port: u16) -> Value {
    let addresses: Vec<Value> = endpoints["subsets"][0]["addresses"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a["ip"].as_str())
        .map(|ip| json!({"addresses": [ip], "conditions": {"ready": true}}))
        .collect();
    json!({
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"name": "kubernetes", "namespace": "default",
                     "labels": {"kubernetes.io/service-name": "kubernetes"}},
        "addressType": "IPv4",
        "endpoints": addresses,
        "ports": [{"name": "https", "port": port, "protocol": "TCP"}],
    })
}

/// Write the `kubernetes` EndpointSlice from the stored Endpoints.
async fn ensure_slice(objects: &Objects<'_>, port: u16) -> Result<(), Status> {
    let registry = objects.registry;
    let (Some(eps), Some(slices)) = (
        registry.get("", "v1", "endpoints"),
        registry.get("discovery.k8s.io", "v1", "endpointslices"),
    ) else {
        return Ok(());
    };
    let endpoints = objects.get(eps, Some("default"), "kubernetes")?;
    let wanted = slice_of(&endpoints, port);
    match objects.create(slices, Some("default"), wanted.clone(), false).await {
        Ok(_) => Ok(()),
        Err(e) if e.code == 409 => objects
            .update_with(slices, Some("default"), "kubernetes", Sub::Main, false, |existing| {
                let mut next = existing.clone();
                next["endpoints"] = wanted["endpoints"].clone();
                next["ports"] = wanted["ports"].clone();
                Ok((next, false))
            })
            .await
            .map(|_| ()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_collect_every_servers_address_once() {
        let one = with_address(None, "10.0.0.2", 6443);
        let two = with_address(Some(&one), "10.0.0.1", 6443);
        let again = with_address(Some(&two), "10.0.0.2", 6443);
        assert_eq!(apiserver_addresses(&again), ["10.0.0.1:6443", "10.0.0.2:6443"]);
        assert_eq!(apiserver_addresses(&with_address(None, "::1", 1)), ["[::1]:1"]);
        assert_eq!(kubernetes_service("10.43.0.1", 6443)["spec"]["ports"][0]["port"], 443);
    }
}
