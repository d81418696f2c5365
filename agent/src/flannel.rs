//! The overlay as plain logic, as flannel's kube subnet manager does it: each node publishes
//! its address and backend data as Node annotations (`flannel.alpha.coreos.com/*`); every node
//! reads the others' and keeps, per backend, what reaches their pod ranges:
//! - `vxlan`: a kernel VXLAN device `flannel.1` (VNI 1, UDP 8472, no learning) with, per peer,
//!   a route to its range via its VTEP address (onlink), a permanent neighbour entry for that
//!   address with the peer's VTEP MAC, and an FDB entry sending that MAC to the peer's address;
//! - `host-gw`: a route to each peer's range via its address on the shared link;
//! - `udp`: a TUN device `flannel0` (`k3rs_net::overlay`, relayed in UDP on port 8285 by the
//!   agent) with, per peer, a route to its range through the device.
//!
//! Routes this module makes carry protocol number `PROTO` so that stale ones (a removed node's)
//! can be found and deleted after a restart. The commands are iproute2's, over netlink.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use ipnetwork::Ipv4Network;
use serde_json::{Value, json};

use k3rs_net::overlay::{tun, udp};

use crate::AgentError;
use crate::podnet::run;

/// The VXLAN device.
pub const VXLAN_DEVICE: &str = "flannel.1";
/// flannel's VXLAN port and VNI.
pub const VXLAN_PORT: u16 = 8472;
pub const VNI: u32 = 1;
/// The route protocol number marking this module's routes (`ip route ... proto 76`).
pub const PROTO: &str = "76";

const ANNOTATION: &str = "flannel.alpha.coreos.com";

/// Which backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Vxlan,
    HostGw,
    Udp,
    None,
}

impl Backend {
    pub fn parse(name: &str) -> Option<Backend> {
        Some(match name {
            "vxlan" => Backend::Vxlan,
            "host-gw" | "hostgw" => Backend::HostGw,
            "udp" => Backend::Udp,
            "none" => Backend::None,
            _ => return None,
        })
    }

    /// flannel's `backend-type` annotation value.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Vxlan => "vxlan",
            Backend::HostGw => "host-gw",
            Backend::Udp => "udp",
            Backend::None => "none",
        }
    }

    /// Bytes each packet loses to encapsulation.
    pub fn overhead(self) -> u32 {
        match self {
            Backend::Vxlan => 50,
            // UDP and IPv4 headers, and the relay's own (`k3rs_net::overlay::udp::HEADER_LEN`).
            Backend::Udp => 28 + udp::HEADER_LEN as u32,
            Backend::HostGw | Backend::None => 0,
        }
    }
}

/// Another node, as its Node object shows it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Peer {
    pub node: String,
    pub subnet: Ipv4Network,
    pub public_ip: Ipv4Addr,
    pub vtep_mac: Option<String>,
}

/// The annotations a node publishes.
pub fn annotations(backend: Backend, public_ip: Ipv4Addr, vtep_mac: Option<&str>) -> Value {
    let data = match vtep_mac {
        Some(mac) => json!({"VNI": VNI, "VtepMAC": mac}).to_string(),
        None => "null".to_owned(),
    };
    json!({
        format!("{ANNOTATION}/backend-type"): backend.name(),
        format!("{ANNOTATION}/backend-data"): data,
        format!("{ANNOTATION}/public-ip"): public_ip.to_string(),
        format!("{ANNOTATION}/kube-subnet-manager"): "true",
    })
}

/// The peers among `nodes` (all but `own`) that have a range and have published an address
/// (and, for `vxlan`, a VTEP MAC).
pub fn peers(nodes: &[Value], own: &str, backend: Backend) -> Vec<Peer> {
    let mut out: Vec<Peer> = nodes
        .iter()
        .filter(|n| n["metadata"]["name"] != own)
        .filter_map(|n| {
            let a = &n["metadata"]["annotations"];
            let subnet = n["spec"]["podCIDR"].as_str()?.parse().ok()?;
            let public_ip = a[format!("{ANNOTATION}/public-ip")].as_str()?.parse().ok()?;
            let data: Value = a[format!("{ANNOTATION}/backend-data")]
                .as_str()
                .and_then(|d| serde_json::from_str(d).ok())
                .unwrap_or(Value::Null);
            let vtep_mac = data["VtepMAC"].as_str().map(str::to_owned);
            if backend == Backend::Vxlan && vtep_mac.is_none() {
                return None;
            }
            Some(Peer {
                node: n["metadata"]["name"].as_str()?.to_owned(),
                subnet,
                public_ip,
                vtep_mac,
            })
        })
        .collect();
    out.sort();
    out
}

/// `subnet.env` as flannel writes it (`/run/flannel/subnet.env`).
pub fn subnet_env(network: Ipv4Network, subnet: Ipv4Network, mtu: u32) -> String {
    let gateway = Ipv4Addr::from(u32::from(subnet.network()) + 1);
    format!(
        "FLANNEL_NETWORK={network}\nFLANNEL_SUBNET={gateway}/{}\nFLANNEL_MTU={mtu}\nFLANNEL_IPMASQ=true\n",
        subnet.prefix()
    )
}

/// The interface holding `ip` here, from `ip -o -4 addr show` output.
pub fn interface_with(ip_output: &str, ip: Ipv4Addr) -> Option<String> {
    ip_output.lines().find_map(|l| {
        let mut words = l.split_whitespace();
        let name = words.nth(1)?;
        let addr = words.skip_while(|w| *w != "inet").nth(1)?;
        (addr.split('/').next()? == ip.to_string()).then(|| name.trim_end_matches(':').to_owned())
    })
}

/// The interface the overlay uses (`iface`, else the one holding `ip`) and its MTU.
pub fn link_of(ip: Ipv4Addr, iface: Option<&str>) -> Result<(String, u32), AgentError> {
    let name =
        match iface {
            Some(i) => i.to_owned(),
            None => interface_with(&output("ip", &["-o", "-4", "addr", "show"])?, ip).ok_or_else(
                || AgentError::Runtime(format!("no interface has the node address {ip}")),
            )?,
        };
    let mtu = link_field(&name, "mtu")?
        .parse()
        .map_err(|_| AgentError::Runtime(format!("the MTU of {name} is not a number")))?;
    Ok((name, mtu))
}

/// The routes to peers' ranges for `backend`, as `ip route replace` arguments.
pub fn routes(backend: Backend, peers: &[Peer], iface: &str) -> Vec<Vec<String>> {
    peers
        .iter()
        .map(|p| {
            let s = |v: &str| v.to_owned();
            match backend {
                Backend::Vxlan => vec![
                    p.subnet.to_string(),
                    s("via"),
                    p.subnet.network().to_string(),
                    s("dev"),
                    s(VXLAN_DEVICE),
                    s("onlink"),
                    s("proto"),
                    s(PROTO),
                ],
                Backend::Udp => {
                    vec![p.subnet.to_string(), s("dev"), s(udp::DEVICE), s("proto"), s(PROTO)]
                }
                _ => vec![
                    p.subnet.to_string(),
                    s("via"),
                    p.public_ip.to_string(),
                    s("dev"),
                    iface.to_owned(),
                    s("proto"),
                    s(PROTO),
                ],
            }
        })
        .collect()
}

/// Make the VXLAN device over `iface` (idempotent); returns its MAC.
pub fn ensure_vxlan(
    local: Ipv4Addr,
    iface: &str,
    subnet: Ipv4Network,
    mtu: u32,
) -> Result<String, AgentError> {
    if run("ip", &["link", "show", VXLAN_DEVICE], None).is_err() {
        let (id, port, local) = (VNI.to_string(), VXLAN_PORT.to_string(), local.to_string());
        run(
            "ip",
            &[
                "link",
                "add",
                VXLAN_DEVICE,
                "type",
                "vxlan",
                "id",
                &id,
                "local",
                &local,
                "dev",
                iface,
                "dstport",
                &port,
                "nolearning",
            ],
            None,
        )?;
    }
    run("ip", &["link", "set", VXLAN_DEVICE, "mtu", &mtu.to_string(), "up"], None)?;
    let address = format!("{}/32", subnet.network());
    run("ip", &["addr", "replace", &address, "dev", VXLAN_DEVICE], None)?;
    link_field(VXLAN_DEVICE, "link/ether")
}

/// Make (or reattach to) the TUN device `flannel0` with one queue per core (at most 4) and
/// start relaying between it and UDP port 8285 on `local`; the device persists across agent
/// restarts, so routes through it stay. TCP super-packets are taken when the kernel lets the
/// device's `gso_max_size` be lowered to what one datagram carries, else packets up to the MTU.
pub fn ensure_udp(
    local: Ipv4Addr,
    subnet: Ipv4Network,
    mtu: u32,
) -> Result<udp::Relay, AgentError> {
    let io = |source| AgentError::Io { path: "/dev/net/tun".into(), source };
    let count = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
    let queues = (0..count)
        .map(|_| tun::open_queue(udp::DEVICE))
        .collect::<Result<Vec<_>, _>>()
        .map_err(io)?;
    let first = &queues[0];
    tun::set_persist(first, true).map_err(io)?;
    tun::set_offload(first, tun::Offload::Tso).map_err(io)?;
    let gso = udp::GSO_MAX_SIZE.to_string();
    if let Err(e) = run("ip", &["link", "set", udp::DEVICE, "gso_max_size", &gso], None) {
        tracing::warn!(error = %e, "cannot lower the overlay device's gso_max_size: no TCP super-packets");
        tun::set_offload(first, tun::Offload::Checksum).map_err(io)?;
    }
    run("ip", &["link", "set", udp::DEVICE, "mtu", &mtu.to_string(), "up"], None)?;
    let address = format!("{}/32", subnet.network());
    run("ip", &["addr", "replace", &address, "dev", udp::DEVICE], None)?;
    udp::Relay::start(local, queues, udp::Routes::new(subnet, &[])).map_err(io)
}

/// The `udp` relay's table for `peers`.
pub fn udp_routes(subnet: Ipv4Network, peers: &[Peer]) -> udp::Routes {
    let pairs: Vec<_> = peers.iter().map(|p| (p.subnet, p.public_ip)).collect();
    udp::Routes::new(subnet, &pairs)
}

/// A field of `ip -o link show dev` (`mtu`, `link/ether`): read through netlink, since
/// `/sys/class/net` shows the namespace sysfs was mounted in, not necessarily this one.
fn link_field(dev: &str, field: &str) -> Result<String, AgentError> {
    let out = output("ip", &["-o", "link", "show", "dev", dev])?;
    out.split_whitespace()
        .skip_while(|w| *w != field)
        .nth(1)
        .map(str::to_owned)
        .ok_or_else(|| AgentError::Runtime(format!("ip link show {dev}: no {field}")))
}

/// Bring the node's overlay state to `peers`: replace each peer's entries, then delete routes
/// (and, for vxlan, neighbour and FDB entries) of peers no longer there.
pub fn apply(backend: Backend, peers: &[Peer], iface: &str) -> Result<(), AgentError> {
    let wanted: BTreeSet<String> = peers.iter().map(|p| p.subnet.to_string()).collect();
    for (p, route) in peers.iter().zip(routes(backend, peers, iface)) {
        if backend == Backend::Vxlan
            && let Some(mac) = &p.vtep_mac
        {
            let vtep = p.subnet.network().to_string();
            run(
                "ip",
                &[
                    "neigh",
                    "replace",
                    &vtep,
                    "lladdr",
                    mac,
                    "dev",
                    VXLAN_DEVICE,
                    "nud",
                    "permanent",
                ],
                None,
            )?;
            let dst = p.public_ip.to_string();
            run("bridge", &["fdb", "replace", mac, "dev", VXLAN_DEVICE, "dst", &dst], None)?;
        }
        let mut args = vec!["route", "replace"];
        args.extend(route.iter().map(String::as_str));
        run("ip", &args, None)?;
    }
    // Stale routes: ours (by protocol) to ranges no peer has any more.
    let listed = output("ip", &["-o", "route", "show", "proto", PROTO])?;
    for line in listed.lines() {
        let Some(dest) = line.split_whitespace().next() else { continue };
        if !wanted.contains(dest) {
            let _ = run("ip", &["route", "del", dest, "proto", PROTO], None);
            if backend == Backend::Vxlan
                && let Ok(net) = dest.parse::<Ipv4Network>()
            {
                let _ = run(
                    "ip",
                    &["neigh", "del", &net.network().to_string(), "dev", VXLAN_DEVICE],
                    None,
                );
            }
        }
    }
    if backend == Backend::Vxlan {
        let macs: BTreeSet<&str> = peers.iter().filter_map(|p| p.vtep_mac.as_deref()).collect();
        let fdb = output("bridge", &["fdb", "show", "dev", VXLAN_DEVICE])?;
        for line in fdb.lines() {
            let Some(mac) = line.split_whitespace().next() else { continue };
            if line.contains(" dst ") && !macs.contains(mac) && mac != "00:00:00:00:00:00" {
                let _ = run("bridge", &["fdb", "del", mac, "dev", VXLAN_DEVICE], None);
            }
        }
    }
    Ok(())
}

/// A command's standard output.
fn output(program: &str, args: &[&str]) -> Result<String, AgentError> {
    let out = std::process::Command::new(program)
        .args(args)
        .output()
        .map_err(|source| AgentError::Io { path: program.into(), source })?;
    if !out.status.success() {
        return Err(AgentError::Runtime(format!(
            "{program} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn node(name: &str, cidr: &str, ip: &str, mac: Option<&str>) -> Value {
        json!({"metadata": {"name": name, "annotations": annotations(Backend::Vxlan, ip.parse().unwrap(), mac)},
               "spec": {"podCIDR": cidr}})
    }

    #[test]
    fn peers_come_from_annotated_nodes_with_ranges() {
        let nodes = [
            node("a", "10.42.0.0/24", "10.99.0.10", Some("aa:bb:cc:dd:ee:01")),
            node("b", "10.42.1.0/24", "10.99.0.11", Some("aa:bb:cc:dd:ee:02")),
            node("c", "10.42.2.0/24", "10.99.0.12", None),
            json!({"metadata": {"name": "d"}, "spec": {"podCIDR": "10.42.3.0/24"}}),
        ];
        let p = peers(&nodes, "a", Backend::Vxlan);
        assert_eq!(p.len(), 1, "no MAC, no vxlan peer; no annotations, no peer");
        assert_eq!(p[0].node, "b");
        assert_eq!(p[0].vtep_mac.as_deref(), Some("aa:bb:cc:dd:ee:02"));
        assert_eq!(peers(&nodes, "a", Backend::HostGw).len(), 2);
    }

    #[test]
    fn routes_per_backend_and_files() {
        let p = Peer {
            node: "b".into(),
            subnet: "10.42.1.0/24".parse().unwrap(),
            public_ip: "10.99.0.11".parse().unwrap(),
            vtep_mac: Some("m".into()),
        };
        let v = routes(Backend::Vxlan, std::slice::from_ref(&p), "eth0");
        assert_eq!(v[0].join(" "), "10.42.1.0/24 via 10.42.1.0 dev flannel.1 onlink proto 76");
        let h = routes(Backend::HostGw, &[p], "eth0");
        assert_eq!(h[0].join(" "), "10.42.1.0/24 via 10.99.0.11 dev eth0 proto 76");
        let env =
            subnet_env("10.42.0.0/16".parse().unwrap(), "10.42.1.0/24".parse().unwrap(), 1450);
        assert_eq!(
            env,
            "FLANNEL_NETWORK=10.42.0.0/16\nFLANNEL_SUBNET=10.42.1.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n"
        );
        let ip = "1: lo    inet 127.0.0.1/8 scope host lo\n2: eth0    inet 10.99.0.11/24 scope global eth0\n";
        assert_eq!(interface_with(ip, "10.99.0.11".parse().unwrap()).as_deref(), Some("eth0"));
        assert_eq!(Backend::parse("host-gw"), Some(Backend::HostGw));
        assert_eq!(Backend::Vxlan.overhead(), 50);
    }
}
