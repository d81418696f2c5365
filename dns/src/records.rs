//! The cluster's DNS records, built from a snapshot of Services, EndpointSlices (or
//! Endpoints) and Pods as the Kubernetes DNS specification (schema 1.0.1) lays them out, and
//! the lookup that answers one question from them.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{SystemTime, UNIX_EPOCH};

use hickory_proto::ProtoError;
use hickory_proto::rr::rdata::{A, AAAA, CNAME, PTR, SOA, SRV, TXT};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use serde_json::Value;

use crate::objects::{self, EndpointGroup, Kind, Service};

/// The TTL of every record, as the CoreDNS kubernetes plugin's default.
pub const TTL: u32 = 5;
/// The schema version `dns-version.<domain>` answers.
pub const SCHEMA_VERSION: &str = "1.0.1";

#[derive(Debug, thiserror::Error)]
pub enum RecordsError {
    #[error("invalid cluster domain {domain:?}")]
    Domain {
        domain: String,
        #[source]
        source: ProtoError,
    },
}

pub type Result<T, E = RecordsError> = std::result::Result<T, E>;

/// What the records say about one question.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// Records of the asked type (owned by the asked name), and for SRV the addresses of the
    /// targets.
    Records { answers: Vec<Record>, additionals: Vec<Record> },
    /// The name is an alias (an ExternalName Service): the CNAME, and where to go on asking.
    Alias { cname: Record, target: Name },
    /// The name exists, but not with that type (NOERROR, no answers, the SOA as authority).
    NoData { soa: Record },
    /// The name is in the cluster domain and does not exist (the SOA as authority).
    NxDomain { soa: Record },
    /// Not a name these records own: ask the upstream resolvers.
    Forward,
}

/// One snapshot of the cluster's records. Built whole and replaced whole when objects change.
#[derive(Debug, Clone)]
pub struct Records {
    domain: Name,
    soa: SOA,
    /// Record data by owner name (cluster names and reverse names); comparisons ignore case.
    data: HashMap<Name, Vec<RData>>,
    /// Every name in the cluster domain that exists, with data or as a parent of one.
    names: HashSet<Name>,
    /// Pod names come only from the pods given (CoreDNS `pods verified`); otherwise any
    /// `<dashed-ip>.<ns>.pod.<domain>` is answered (`pods insecure`, K3s's setting).
    pods_verified: bool,
}

fn domain_name(domain: &str) -> Result<Name> {
    let trimmed = domain.trim_end_matches('.').to_ascii_lowercase();
    let mut name = Name::from_ascii(&trimmed)
        .map_err(|source| RecordsError::Domain { domain: domain.to_string(), source })?;
    name.set_fqdn(true);
    Ok(name)
}

/// `a-b-c-d` for IPv4, the colons as dashes for IPv6 (CoreDNS's form).
fn dashed(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string().replace('.', "-"),
        IpAddr::V6(v6) => v6.to_string().replace(':', "-"),
    }
}

fn undashed(label: &str) -> Option<IpAddr> {
    let parts: Vec<&str> = label.split('-').collect();
    if parts.len() == 4
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()))
    {
        let octets: Vec<u8> = parts.iter().filter_map(|p| p.parse().ok()).collect();
        let octets: [u8; 4] = octets.try_into().ok()?;
        return Some(IpAddr::V4(Ipv4Addr::from(octets)));
    }
    if label.contains(':') || label.contains('.') {
        return None;
    }
    label.replace('-', ":").parse::<Ipv6Addr>().ok().map(IpAddr::V6)
}

fn address(ip: IpAddr) -> RData {
    match ip {
        IpAddr::V4(v4) => RData::A(A(v4)),
        IpAddr::V6(v6) => RData::AAAA(AAAA(v6)),
    }
}

fn matches(data: &RData, qtype: RecordType) -> bool {
    qtype == RecordType::ANY || data.record_type() == qtype
}

impl Records {
    /// Records with nothing but the zone itself (its SOA and schema version).
    pub fn empty(domain: &str) -> Result<Records> {
        let domain = domain_name(domain)?;
        let at = |label: &str| Name::from_ascii(label).and_then(|l| l.append_domain(&domain));
        let (Ok(mname), Ok(rname)) = (at("ns.dns"), at("hostmaster")) else {
            return Err(RecordsError::Domain {
                domain: domain.to_ascii(),
                source: ProtoError::from("the domain is too long for its SOA names"),
            });
        };
        // The serial only has to change when the data does; seconds since the epoch do.
        let serial =
            SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as u32).unwrap_or(1);
        let soa = SOA::new(mname, rname, serial, 7200, 1800, 86400, TTL);
        let mut records = Records {
            domain: domain.clone(),
            soa,
            data: HashMap::new(),
            names: HashSet::new(),
            pods_verified: false,
        };
        records.add(domain.clone(), RData::SOA(records.soa.clone()));
        for parent in ["svc", "pod"] {
            if let Ok(name) = at(parent) {
                records.names.insert(name);
            }
        }
        if let Ok(name) = at("dns-version") {
            records.add(name, RData::TXT(TXT::new(vec![SCHEMA_VERSION.to_string()])));
        }
        Ok(records)
    }

    /// The records for these objects (lists' items as the API returns them). `endpoints` may
    /// hold EndpointSlices, Endpoints, or both; `pods` set, only those pods get pod names.
    pub fn build(
        services: &[Value],
        endpoints: &[Value],
        pods: Option<&[Value]>,
        domain: &str,
    ) -> Result<Records> {
        let mut records = Records::empty(domain)?;
        let mut groups: HashMap<(String, String), Vec<EndpointGroup>> = HashMap::new();
        for group in endpoints.iter().flat_map(objects::endpoint_groups) {
            groups.entry((group.namespace.clone(), group.service.clone())).or_default().push(group);
        }
        for service in services.iter().filter_map(objects::service) {
            let key = (service.namespace.clone(), service.name.clone());
            records.add_service(&service, groups.get(&key).map(Vec::as_slice).unwrap_or_default());
        }
        if let Some(pods) = pods {
            records.pods_verified = true;
            for pod in pods.iter().filter_map(objects::pod) {
                for ip in pod.ips {
                    if let Some(name) = records.cluster_name(&[&dashed(ip), &pod.namespace, "pod"])
                    {
                        records.add(name, address(ip));
                    }
                }
            }
        }
        Ok(records)
    }

    /// The cluster domain, fully qualified.
    pub fn domain(&self) -> &Name {
        &self.domain
    }

    /// The zone's SOA record (the authority of negative answers).
    pub fn soa(&self) -> Record {
        Record::from_rdata(self.domain.clone(), TTL, RData::SOA(self.soa.clone()))
    }

    /// How many names carry data.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// `<labels...>.<domain>`, or `None` if the labels do not make a valid name.
    fn cluster_name(&self, labels: &[&str]) -> Option<Name> {
        let mut name = Name::from_ascii(labels.join(".")).ok()?.append_domain(&self.domain).ok()?;
        name.set_fqdn(true);
        Some(name)
    }

    fn add(&mut self, name: Name, rdata: RData) {
        if self.domain.zone_of(&name) {
            for labels in self.domain.num_labels()..=name.num_labels() {
                self.names.insert(name.trim_to(labels as usize));
            }
        }
        let data = self.data.entry(name).or_default();
        if !data.contains(&rdata) {
            data.push(rdata);
        }
    }

    fn add_service(&mut self, service: &Service, groups: &[EndpointGroup]) {
        let Some(base) = self.cluster_name(&[&service.name, &service.namespace, "svc"]) else {
            return;
        };
        match &service.kind {
            Kind::Pending => {
                self.names.insert(base);
            }
            Kind::ExternalName(target) => {
                let Ok(mut target) = Name::from_ascii(target.trim_end_matches('.')) else {
                    return;
                };
                target.set_fqdn(true);
                self.add(base, RData::CNAME(CNAME(target)));
            }
            Kind::ClusterIp(ips) => {
                for &ip in ips {
                    self.add(base.clone(), address(ip));
                    self.add(Name::from(ip), RData::PTR(PTR(base.clone())));
                }
                for port in service.ports.iter().filter(|p| !p.name.is_empty()) {
                    let srv = format!("_{}._{}", port.name, port.protocol);
                    if let Some(name) =
                        self.cluster_name(&[&srv, &service.name, &service.namespace, "svc"])
                    {
                        self.add(name, RData::SRV(SRV::new(0, 100, port.port, base.clone())));
                    }
                }
            }
            Kind::Headless => {
                for group in groups {
                    let endpoints =
                        group.endpoints.iter().filter(|e| e.ready || service.publish_not_ready);
                    for endpoint in endpoints {
                        self.add_headless_endpoint(service, &base, group, endpoint);
                    }
                }
            }
        }
    }

    /// An endpoint of a headless Service: its addresses under the Service's name and under its
    /// hostname (the endpoint's `hostname`, else its dashed address, as CoreDNS does), the PTR
    /// of each address, and an SRV per named port.
    fn add_headless_endpoint(
        &mut self,
        service: &Service,
        base: &Name,
        group: &EndpointGroup,
        endpoint: &objects::Endpoint,
    ) {
        let hosts: Vec<(String, Vec<IpAddr>)> = match &endpoint.hostname {
            Some(hostname) => vec![(hostname.clone(), endpoint.ips.clone())],
            None => endpoint.ips.iter().map(|&ip| (dashed(ip), vec![ip])).collect(),
        };
        for (host, ips) in hosts {
            let Some(host_name) =
                self.cluster_name(&[&host, &service.name, &service.namespace, "svc"])
            else {
                continue;
            };
            for ip in ips {
                self.add(base.clone(), address(ip));
                self.add(host_name.clone(), address(ip));
                self.add(Name::from(ip), RData::PTR(PTR(host_name.clone())));
            }
            for port in group.ports.iter().filter(|p| !p.name.is_empty()) {
                let srv = format!("_{}._{}", port.name, port.protocol);
                if let Some(name) =
                    self.cluster_name(&[&srv, &service.name, &service.namespace, "svc"])
                {
                    self.add(name, RData::SRV(SRV::new(0, 100, port.port, host_name.clone())));
                }
            }
        }
    }

    /// The answer to `name` of type `qtype` (class IN).
    pub fn lookup(&self, name: &Name, qtype: RecordType) -> Answer {
        let mut name = name.clone();
        name.set_fqdn(true);
        let data = self.data.get(&name).map(Vec::as_slice).unwrap_or_default();
        if !self.domain.zone_of(&name) {
            // Reverse names: PTRs of ClusterIPs and endpoints; all else falls through upstream.
            let answers = self.records(&name, data, qtype);
            return match qtype {
                RecordType::PTR | RecordType::ANY if !answers.is_empty() => {
                    Answer::Records { answers, additionals: Vec::new() }
                }
                _ => Answer::Forward,
            };
        }
        let alias = data.iter().find_map(|d| match d {
            RData::CNAME(target) if qtype != RecordType::CNAME && qtype != RecordType::ANY => {
                Some(target)
            }
            _ => None,
        });
        if let Some(target) = alias {
            return Answer::Alias {
                cname: Record::from_rdata(name.clone(), TTL, RData::CNAME(target.clone())),
                target: target.0.clone(),
            };
        }
        let mut answers = self.records(&name, data, qtype);
        if let (true, Some(ip)) = (answers.is_empty(), self.insecure_pod(&name)) {
            answers = self.records(&name, &[address(ip)], qtype);
        }
        if !answers.is_empty() {
            let additionals = self.additionals(&answers);
            return Answer::Records { answers, additionals };
        }
        if self.names.contains(&name)
            || self.insecure_pod_parent(&name)
            || self.insecure_pod(&name).is_some()
        {
            Answer::NoData { soa: self.soa() }
        } else {
            Answer::NxDomain { soa: self.soa() }
        }
    }

    fn records(&self, name: &Name, data: &[RData], qtype: RecordType) -> Vec<Record> {
        data.iter()
            .filter(|d| matches(d, qtype))
            .map(|d| Record::from_rdata(name.clone(), TTL, d.clone()))
            .collect()
    }

    /// The addresses of SRV targets, for the additional section.
    fn additionals(&self, answers: &[Record]) -> Vec<Record> {
        let mut out: Vec<Record> = Vec::new();
        for record in answers {
            let RData::SRV(srv) = &record.data else { continue };
            let target = &srv.target;
            for data in self.data.get(target).into_iter().flatten() {
                if matches!(data, RData::A(_) | RData::AAAA(_)) {
                    let r = Record::from_rdata(target.clone(), TTL, data.clone());
                    if !out.contains(&r) {
                        out.push(r);
                    }
                }
            }
        }
        out
    }

    /// `<dashed-ip>.<ns>.pod.<domain>` answered without looking at pods (`pods insecure`).
    fn insecure_pod(&self, name: &Name) -> Option<IpAddr> {
        if self.pods_verified || name.num_labels() != self.domain.num_labels() + 3 {
            return None;
        }
        let labels: Vec<&[u8]> = name.iter().collect();
        if !labels[2].eq_ignore_ascii_case(b"pod") {
            return None;
        }
        undashed(std::str::from_utf8(labels[0]).ok()?)
    }

    /// `<ns>.pod.<domain>` exists for every namespace under `pods insecure`.
    fn insecure_pod_parent(&self, name: &Name) -> bool {
        !self.pods_verified
            && name.num_labels() == self.domain.num_labels() + 2
            && name.iter().nth(1).is_some_and(|l| l.eq_ignore_ascii_case(b"pod"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn n(s: &str) -> Name {
        Name::from_ascii(s).expect("name")
    }

    fn records() -> Records {
        let services = vec![
            json!({"metadata": {"name": "web", "namespace": "default"},
                "spec": {"clusterIP": "10.43.0.20", "clusterIPs": ["10.43.0.20"],
                         "ports": [{"name": "http", "port": 80, "protocol": "TCP"}, {"port": 81}]}}),
            json!({"metadata": {"name": "v6", "namespace": "default"},
                "spec": {"clusterIP": "fd00:43::20", "clusterIPs": ["fd00:43::20"]}}),
            json!({"metadata": {"name": "db", "namespace": "data"},
                "spec": {"clusterIP": "None", "ports": [{"name": "pg", "port": 5432}]}}),
            json!({"metadata": {"name": "empty", "namespace": "data"}, "spec": {"clusterIP": "None"}}),
            json!({"metadata": {"name": "ext", "namespace": "default"},
                "spec": {"type": "ExternalName", "externalName": "www.example.org"}}),
        ];
        let slices = vec![json!({"metadata": {"name": "db-1", "namespace": "data",
                "labels": {"kubernetes.io/service-name": "db"}},
            "addressType": "IPv4",
            "endpoints": [
                {"addresses": ["10.42.0.5"], "hostname": "db-0", "conditions": {"ready": true}},
                {"addresses": ["10.42.0.6"], "conditions": {"ready": true}},
                {"addresses": ["10.42.0.7"], "hostname": "db-2", "conditions": {"ready": false}}],
            "ports": [{"name": "pg", "port": 5432, "protocol": "TCP"}]})];
        Records::build(&services, &slices, None, "cluster.local").expect("records")
    }

    fn answers(answer: Answer) -> Vec<RData> {
        match answer {
            Answer::Records { answers, .. } => answers.into_iter().map(|r| r.data).collect(),
            other => panic!("expected records, got {other:?}"),
        }
    }

    fn a(s: &str) -> RData {
        RData::A(A(s.parse().expect("ip")))
    }

    #[test]
    fn normal_service_has_its_cluster_ip() {
        let r = records();
        assert_eq!(
            answers(r.lookup(&n("web.default.svc.cluster.local."), RecordType::A)),
            vec![a("10.43.0.20")]
        );
        // Case does not matter, and the answer is owned by the name as asked.
        let Answer::Records { answers: got, .. } =
            r.lookup(&n("WEB.Default.svc.cluster.local."), RecordType::A)
        else {
            panic!("expected records");
        };
        assert_eq!(got[0].name.to_ascii(), "WEB.Default.svc.cluster.local.");
        assert_eq!(got[0].ttl, TTL);
        assert_eq!(
            answers(r.lookup(&n("v6.default.svc.cluster.local."), RecordType::AAAA)),
            vec![RData::AAAA(AAAA("fd00:43::20".parse().expect("ip")))]
        );
    }

    #[test]
    fn headless_service_has_ready_endpoints_and_hostnames() {
        let r = records();
        let mut got = answers(r.lookup(&n("db.data.svc.cluster.local."), RecordType::A));
        got.sort_by_key(|d| d.to_string());
        assert_eq!(got, vec![a("10.42.0.5"), a("10.42.0.6")]);
        assert_eq!(
            answers(r.lookup(&n("db-0.db.data.svc.cluster.local."), RecordType::A)),
            vec![a("10.42.0.5")]
        );
        assert_eq!(
            answers(r.lookup(&n("10-42-0-6.db.data.svc.cluster.local."), RecordType::A)),
            vec![a("10.42.0.6")]
        );
        // Not ready: no name.
        assert!(matches!(
            r.lookup(&n("db-2.db.data.svc.cluster.local."), RecordType::A),
            Answer::NxDomain { .. }
        ));
        // No ready endpoints at all: NXDOMAIN, as the specification says.
        assert!(matches!(
            r.lookup(&n("empty.data.svc.cluster.local."), RecordType::A),
            Answer::NxDomain { .. }
        ));
    }

    #[test]
    fn publish_not_ready_includes_unready_endpoints() {
        let services = [json!({"metadata": {"name": "db", "namespace": "data"},
            "spec": {"clusterIP": "None", "publishNotReadyAddresses": true}})];
        let endpoints = [json!({"metadata": {"name": "db", "namespace": "data"},
            "subsets": [{"notReadyAddresses": [{"ip": "10.42.0.9", "hostname": "db-0"}]}]})];
        let r = Records::build(&services, &endpoints, None, "cluster.local").expect("records");
        assert_eq!(
            answers(r.lookup(&n("db-0.db.data.svc.cluster.local."), RecordType::A)),
            vec![a("10.42.0.9")]
        );
    }

    #[test]
    fn srv_for_named_ports() {
        let r = records();
        let Answer::Records { answers: got, additionals } =
            r.lookup(&n("_http._tcp.web.default.svc.cluster.local."), RecordType::SRV)
        else {
            panic!("expected records");
        };
        assert_eq!(got.len(), 1);
        let RData::SRV(srv) = &got[0].data else { panic!("expected SRV") };
        assert_eq!(
            (srv.port, srv.target.to_ascii().as_str()),
            (80, "web.default.svc.cluster.local.")
        );
        assert_eq!(
            additionals.iter().map(|r| r.data.clone()).collect::<Vec<_>>(),
            vec![a("10.43.0.20")]
        );
        // The unnamed port has none; `_tcp.web...` is an empty non-terminal.
        assert!(matches!(
            r.lookup(&n("_tcp.web.default.svc.cluster.local."), RecordType::SRV),
            Answer::NoData { .. }
        ));

        let mut targets: Vec<String> =
            answers(r.lookup(&n("_pg._tcp.db.data.svc.cluster.local."), RecordType::SRV))
                .into_iter()
                .filter_map(|d| match d {
                    RData::SRV(srv) => Some(format!("{} {}", srv.port, srv.target)),
                    _ => None,
                })
                .collect();
        targets.sort();
        assert_eq!(
            targets,
            vec![
                "5432 10-42-0-6.db.data.svc.cluster.local.",
                "5432 db-0.db.data.svc.cluster.local."
            ]
        );
    }

    #[test]
    fn external_name_is_an_alias() {
        let r = records();
        let Answer::Alias { cname, target } =
            r.lookup(&n("ext.default.svc.cluster.local."), RecordType::A)
        else {
            panic!("expected an alias");
        };
        assert_eq!(target, n("www.example.org."));
        assert_eq!(cname.data, RData::CNAME(CNAME(n("www.example.org."))));
        assert_eq!(
            answers(r.lookup(&n("ext.default.svc.cluster.local."), RecordType::CNAME)),
            vec![RData::CNAME(CNAME(n("www.example.org.")))]
        );
    }

    #[test]
    fn pod_names_insecure_and_verified() {
        let r = records();
        assert_eq!(
            answers(r.lookup(&n("10-42-1-7.default.pod.cluster.local."), RecordType::A)),
            vec![a("10.42.1.7")]
        );
        assert_eq!(
            answers(r.lookup(&n("fd00-42--7.default.pod.cluster.local."), RecordType::AAAA)),
            vec![RData::AAAA(AAAA("fd00:42::7".parse().expect("ip")))]
        );
        assert!(matches!(
            r.lookup(&n("10-42-1-7.default.pod.cluster.local."), RecordType::AAAA),
            Answer::NoData { .. }
        ));
        assert!(matches!(
            r.lookup(&n("default.pod.cluster.local."), RecordType::A),
            Answer::NoData { .. }
        ));
        assert!(matches!(
            r.lookup(&n("10-42-1-999.default.pod.cluster.local."), RecordType::A),
            Answer::NxDomain { .. }
        ));

        let pods =
            [json!({"metadata": {"namespace": "default"}, "status": {"podIP": "10.42.1.8"}})];
        let v = Records::build(&[], &[], Some(&pods), "cluster.local").expect("records");
        assert_eq!(
            answers(v.lookup(&n("10-42-1-8.default.pod.cluster.local."), RecordType::A)),
            vec![a("10.42.1.8")]
        );
        assert!(matches!(
            v.lookup(&n("10-42-1-7.default.pod.cluster.local."), RecordType::A),
            Answer::NxDomain { .. }
        ));
        assert!(matches!(
            v.lookup(&n("10-42-1-8.other.pod.cluster.local."), RecordType::A),
            Answer::NxDomain { .. }
        ));
    }

    #[test]
    fn ptr_for_cluster_ips_and_endpoints() {
        let r = records();
        let ptr = |s: &str| RData::PTR(PTR(n(s)));
        assert_eq!(
            answers(r.lookup(&n("20.0.43.10.in-addr.arpa."), RecordType::PTR)),
            vec![ptr("web.default.svc.cluster.local.")]
        );
        assert_eq!(
            answers(r.lookup(&n("5.0.42.10.in-addr.arpa."), RecordType::PTR)),
            vec![ptr("db-0.db.data.svc.cluster.local.")]
        );
        let v6: Name = "fd00:43::20".parse::<IpAddr>().map(Name::from).expect("ip");
        assert_eq!(
            answers(r.lookup(&v6, RecordType::PTR)),
            vec![ptr("v6.default.svc.cluster.local.")]
        );
        // Reverse names the cluster does not own go upstream.
        assert_eq!(r.lookup(&n("1.1.168.192.in-addr.arpa."), RecordType::PTR), Answer::Forward);
    }

    #[test]
    fn nxdomain_and_nodata_carry_the_soa() {
        let r = records();
        let Answer::NxDomain { soa } =
            r.lookup(&n("nope.default.svc.cluster.local."), RecordType::A)
        else {
            panic!("expected NXDOMAIN");
        };
        assert_eq!(soa.name, n("cluster.local."));
        let RData::SOA(data) = &soa.data else { panic!("expected an SOA") };
        assert_eq!(data.minimum, TTL);
        assert!(matches!(
            r.lookup(&n("web.default.svc.cluster.local."), RecordType::AAAA),
            Answer::NoData { .. }
        ));
        assert!(matches!(
            r.lookup(&n("web.default.svc.cluster.local."), RecordType::MX),
            Answer::NoData { .. }
        ));
        // Parents of existing names exist (empty non-terminals), unknown namespaces do not.
        assert!(matches!(
            r.lookup(&n("default.svc.cluster.local."), RecordType::A),
            Answer::NoData { .. }
        ));
        assert!(matches!(r.lookup(&n("svc.cluster.local."), RecordType::A), Answer::NoData { .. }));
        assert!(matches!(
            r.lookup(&n("nons.svc.cluster.local."), RecordType::A),
            Answer::NxDomain { .. }
        ));
        assert_eq!(answers(r.lookup(&n("cluster.local."), RecordType::SOA)), vec![r.soa().data]);
        assert_eq!(r.lookup(&n("example.org."), RecordType::A), Answer::Forward);
        assert_eq!(
            answers(r.lookup(&n("dns-version.cluster.local."), RecordType::TXT)),
            vec![RData::TXT(TXT::new(vec![SCHEMA_VERSION.to_string()]))]
        );
    }

    #[test]
    fn dashed_addresses_round_trip() {
        for ip in ["10.42.0.1", "fd00:42::1", "2001:db8::a:b"] {
            let ip: IpAddr = ip.parse().expect("ip");
            assert_eq!(undashed(&dashed(ip)), Some(ip));
        }
        assert_eq!(undashed("1-2-3"), None);
        assert_eq!(undashed("+1-2-3-4"), None);
        assert!(Records::build(&[], &[], None, "bad..domain").is_err());
    }
}
