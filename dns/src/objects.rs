//! The parts of Services, EndpointSlices, Endpoints and Pods that cluster DNS answers from,
//! read from their JSON as the API returns it. Objects missing what DNS needs are skipped.

use std::net::IpAddr;

use serde_json::Value;

/// The label an EndpointSlice names its Service with.
const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";
/// The old annotation that makes a Service publish endpoints that are not ready.
const TOLERATE_UNREADY: &str = "service.alpha.kubernetes.io/tolerate-unready-endpoints";

/// What a Service resolves to.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Kind {
    /// A virtual IP per family (`spec.clusterIPs`, else `spec.clusterIP`).
    ClusterIp(Vec<IpAddr>),
    /// `clusterIP: None`: the endpoints' addresses.
    Headless,
    /// `type: ExternalName`: an alias.
    ExternalName(String),
    /// No address allocated yet: the name exists with no data.
    Pending,
}

/// A Service port (or an endpoint port) as DNS sees it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Port {
    pub name: String,
    pub port: u16,
    /// Lower case, as it appears in an SRV name (`tcp`, `udp`, `sctp`).
    pub protocol: String,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Service {
    pub name: String,
    pub namespace: String,
    pub kind: Kind,
    pub ports: Vec<Port>,
    /// `spec.publishNotReadyAddresses` or the tolerate-unready annotation.
    pub publish_not_ready: bool,
}

/// One endpoint: its addresses, the hostname it was given, whether it is ready.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Endpoint {
    pub ips: Vec<IpAddr>,
    pub hostname: Option<String>,
    pub ready: bool,
}

/// Endpoints that share a port list (an EndpointSlice, or one subset of an Endpoints).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct EndpointGroup {
    pub namespace: String,
    pub service: String,
    pub ports: Vec<Port>,
    pub endpoints: Vec<Endpoint>,
}

/// A pod's namespace and addresses.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PodAddresses {
    pub namespace: String,
    pub ips: Vec<IpAddr>,
}

fn text<'a>(value: &'a Value, pointer: &str) -> Option<&'a str> {
    value.pointer(pointer).and_then(Value::as_str).filter(|s| !s.is_empty())
}

fn items<'a>(value: &'a Value, pointer: &str) -> impl Iterator<Item = &'a Value> {
    value.pointer(pointer).and_then(Value::as_array).into_iter().flatten()
}

fn ip(value: &Value) -> Option<IpAddr> {
    value.as_str().and_then(|s| s.parse().ok())
}

fn port(value: &Value) -> Option<Port> {
    let number = value.get("port")?.as_u64()?;
    Some(Port {
        name: value.get("name").and_then(Value::as_str).unwrap_or_default().to_string(),
        port: u16::try_from(number).ok()?,
        protocol: value
            .get("protocol")
            .and_then(Value::as_str)
            .unwrap_or("TCP")
            .to_ascii_lowercase(),
    })
}

/// A Service, or `None` when it has no name or namespace.
pub(crate) fn service(value: &Value) -> Option<Service> {
    let name = text(value, "/metadata/name")?.to_string();
    let namespace = text(value, "/metadata/namespace")?.to_string();
    let kind = if text(value, "/spec/type") == Some("ExternalName") {
        Kind::ExternalName(text(value, "/spec/externalName")?.to_string())
    } else if text(value, "/spec/clusterIP") == Some("None") {
        Kind::Headless
    } else {
        let mut ips: Vec<IpAddr> = items(value, "/spec/clusterIPs").filter_map(ip).collect();
        if ips.is_empty() {
            ips.extend(value.pointer("/spec/clusterIP").and_then(ip));
        }
        if ips.is_empty() { Kind::Pending } else { Kind::ClusterIp(ips) }
    };
    let tolerate =
        text(value, &format!("/metadata/annotations/{}", TOLERATE_UNREADY.replace('/', "~1")))
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let publish =
        value.pointer("/spec/publishNotReadyAddresses").and_then(Value::as_bool) == Some(true);
    Some(Service {
        name,
        namespace,
        kind,
        ports: items(value, "/spec/ports").filter_map(port).collect(),
        publish_not_ready: publish || tolerate,
    })
}

/// The endpoint groups of an EndpointSlice (`discovery.k8s.io/v1`) or an Endpoints
/// (`core/v1`), told apart by their shape since list items carry no kind.
pub(crate) fn endpoint_groups(value: &Value) -> Vec<EndpointGroup> {
    if value.get("subsets").is_some() {
        endpoints_groups(value)
    } else if value.get("addressType").is_some() || value.get("endpoints").is_some() {
        slice_group(value).into_iter().collect()
    } else {
        Vec::new()
    }
}

fn slice_group(value: &Value) -> Option<EndpointGroup> {
    let label = format!("/metadata/labels/{}", SERVICE_NAME_LABEL.replace('/', "~1"));
    let service = text(value, &label)?.to_string();
    let namespace = text(value, "/metadata/namespace")?.to_string();
    if !matches!(text(value, "/addressType"), None | Some("IPv4") | Some("IPv6")) {
        return None;
    }
    let endpoints = items(value, "/endpoints")
        .map(|e| Endpoint {
            ips: items(e, "/addresses").filter_map(ip).collect(),
            hostname: text(e, "/hostname").map(str::to_string),
            // An absent `ready` condition means unknown, which consumers take as ready.
            ready: e.pointer("/conditions/ready").and_then(Value::as_bool) != Some(false),
        })
        .filter(|e| !e.ips.is_empty())
        .collect();
    Some(EndpointGroup {
        namespace,
        service,
        ports: items(value, "/ports").filter_map(port).collect(),
        endpoints,
    })
}

fn endpoints_groups(value: &Value) -> Vec<EndpointGroup> {
    let (Some(service), Some(namespace)) =
        (text(value, "/metadata/name"), text(value, "/metadata/namespace"))
    else {
        return Vec::new();
    };
    let address = |a: &Value, ready: bool| {
        Some(Endpoint {
            ips: vec![a.get("ip").and_then(ip)?],
            hostname: text(a, "/hostname").map(str::to_string),
            ready,
        })
    };
    items(value, "/subsets")
        .map(|subset| EndpointGroup {
            namespace: namespace.to_string(),
            service: service.to_string(),
            ports: items(subset, "/ports").filter_map(port).collect(),
            endpoints: items(subset, "/addresses")
                .filter_map(|a| address(a, true))
                .chain(items(subset, "/notReadyAddresses").filter_map(|a| address(a, false)))
                .collect(),
        })
        .collect()
}

/// A pod's addresses (`status.podIPs`, else `status.podIP`); `None` without any.
pub(crate) fn pod(value: &Value) -> Option<PodAddresses> {
    let namespace = text(value, "/metadata/namespace")?.to_string();
    let mut ips: Vec<IpAddr> =
        items(value, "/status/podIPs").filter_map(|p| p.get("ip").and_then(ip)).collect();
    if ips.is_empty() {
        ips.extend(value.pointer("/status/podIP").and_then(ip));
    }
    (!ips.is_empty()).then_some(PodAddresses { namespace, ips })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn services_by_kind() {
        let normal = json!({"metadata": {"name": "web", "namespace": "default"},
            "spec": {"clusterIP": "10.43.0.20", "clusterIPs": ["10.43.0.20", "fd00:43::14"],
                     "ports": [{"name": "http", "port": 80}, {"port": 53, "protocol": "UDP"}]}});
        let s = service(&normal).expect("service");
        assert_eq!(
            s.kind,
            Kind::ClusterIp(vec![
                "10.43.0.20".parse().expect("ip"),
                "fd00:43::14".parse().expect("ip")
            ])
        );
        assert_eq!(s.ports[0], Port { name: "http".into(), port: 80, protocol: "tcp".into() });
        assert_eq!(s.ports[1].protocol, "udp");

        let headless = json!({"metadata": {"name": "db", "namespace": "x",
            "annotations": {TOLERATE_UNREADY: "true"}}, "spec": {"clusterIP": "None"}});
        let s = service(&headless).expect("service");
        assert_eq!(s.kind, Kind::Headless);
        assert!(s.publish_not_ready);

        let external = json!({"metadata": {"name": "ext", "namespace": "x"},
            "spec": {"type": "ExternalName", "externalName": "example.org"}});
        assert_eq!(
            service(&external).expect("service").kind,
            Kind::ExternalName("example.org".into())
        );

        let pending = json!({"metadata": {"name": "p", "namespace": "x"}, "spec": {}});
        assert_eq!(service(&pending).expect("service").kind, Kind::Pending);
        assert!(service(&json!({"metadata": {"name": "nons"}})).is_none());
    }

    #[test]
    fn slices_and_endpoints() {
        let slice = json!({"metadata": {"name": "db-abc", "namespace": "x",
                "labels": {SERVICE_NAME_LABEL: "db"}},
            "addressType": "IPv4",
            "endpoints": [
                {"addresses": ["10.42.0.5"], "hostname": "db-0", "conditions": {"ready": true}},
                {"addresses": ["10.42.0.6"], "conditions": {"ready": false}},
                {"addresses": ["10.42.0.7"]}],
            "ports": [{"name": "pg", "port": 5432, "protocol": "TCP"}]});
        let groups = endpoint_groups(&slice);
        assert_eq!(groups.len(), 1);
        let g = &groups[0];
        assert_eq!((g.service.as_str(), g.namespace.as_str()), ("db", "x"));
        assert_eq!(g.endpoints[0].hostname.as_deref(), Some("db-0"));
        assert_eq!(
            g.endpoints.iter().map(|e| e.ready).collect::<Vec<_>>(),
            vec![true, false, true]
        );

        let fqdn = json!({"metadata": {"namespace": "x", "labels": {SERVICE_NAME_LABEL: "db"}},
            "addressType": "FQDN", "endpoints": []});
        assert!(endpoint_groups(&fqdn).is_empty());

        let endpoints = json!({"metadata": {"name": "db", "namespace": "x"},
            "subsets": [{"addresses": [{"ip": "10.42.0.5", "hostname": "db-0"}],
                         "notReadyAddresses": [{"ip": "10.42.0.6"}],
                         "ports": [{"name": "pg", "port": 5432}]}]});
        let groups = endpoint_groups(&endpoints);
        assert_eq!(groups[0].endpoints.len(), 2);
        assert!(!groups[0].endpoints[1].ready);
        assert_eq!(groups[0].ports[0].protocol, "tcp");
    }

    #[test]
    fn pods_addresses() {
        let p = json!({"metadata": {"namespace": "x"}, "status": {"podIP": "10.42.1.2"}});
        assert_eq!(pod(&p).expect("pod").ips, vec!["10.42.1.2".parse::<IpAddr>().expect("ip")]);
        assert!(pod(&json!({"metadata": {"namespace": "x"}, "status": {}})).is_none());
    }
}
