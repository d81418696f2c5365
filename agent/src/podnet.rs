//! Node-local pod networking, as K3s's bridge CNI sets it up: a bridge `cni0` in the node's
//! network namespace holding the first address of the node's pod range, one veth per pod (its
//! `eth0` in the pod's namespace with a /32 address and the bridge as its only route; the port
//! isolated, so even pods on one node reach each other through the node's routing, where
//! services and network policies apply), addresses from a persistent allocator (a file per
//! address, as host-local IPAM keeps them), forwarding on, and outbound masquerade for traffic
//! leaving the cluster range (nftables table `k3rs-nat`). The overlay (`flannel`) routes other
//! nodes' ranges; this makes the node's own range work.

use std::io::Write;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use ipnetwork::Ipv4Network;

use crate::AgentError;

pub const BRIDGE: &str = "cni0";

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> AgentError + '_ {
    move |source| AgentError::Io { path: path.to_owned(), source }
}

pub(crate) fn run(program: &str, args: &[&str], input: Option<&str>) -> Result<(), AgentError> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(if input.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| AgentError::Io { path: program.into(), source })?;
    if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
        stdin
            .write_all(text.as_bytes())
            .map_err(|source| AgentError::Io { path: program.into(), source })?;
    }
    let out = child
        .wait_with_output()
        .map_err(|source| AgentError::Io { path: program.into(), source })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(AgentError::Runtime(format!(
            "{program} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

/// The node's pod network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodNetwork {
    /// The node's pod range (`spec.podCIDR`).
    pub range: Ipv4Network,
    /// The whole cluster range (`--cluster-cidr`): traffic to it is not masqueraded.
    pub cluster: Ipv4Network,
    /// Where address leases are kept (`<data-dir>/agent/pod-ips`).
    pub leases: PathBuf,
    /// The pods' MTU: the node link's, less the overlay's overhead.
    pub mtu: u32,
}

/// Put `address` (/32) on this namespace's loopback, as a service address the node answers
/// itself (the cluster DNS).
pub fn add_local_address(address: Ipv4Addr) -> Result<(), AgentError> {
    run("ip", &["addr", "replace", &format!("{address}/32"), "dev", "lo"], None)
}

impl PodNetwork {
    /// The bridge's address, the pods' gateway: the range's first host address.
    pub fn gateway(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.range.network()) + 1)
    }

    /// The bridge, its address, forwarding and masquerade, made idempotently.
    pub fn ensure_node(&self) -> Result<(), AgentError> {
        let mtu = self.mtu.to_string();
        if run("ip", &["link", "show", BRIDGE], None).is_err() {
            run("ip", &["link", "add", BRIDGE, "mtu", &mtu, "type", "bridge"], None)?;
        }
        let address = format!("{}/{}", self.gateway(), self.range.prefix());
        run("ip", &["addr", "replace", &address, "dev", BRIDGE], None)?;
        run("ip", &["link", "set", BRIDGE, "up"], None)?;
        let forward = Path::new("/proc/sys/net/ipv4/ip_forward");
        std::fs::write(forward, b"1").map_err(io(forward))?;
        // Pods are routed, not bridged: bridge netfilter would hand DNAT'd pod-to-pod frames
        // back to the bridge, whose isolated ports drop them (the setting is per namespace).
        let bridge_nf = Path::new("/proc/sys/net/bridge/bridge-nf-call-iptables");
        match std::fs::write(bridge_nf, b"0") {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(bridge_nf)(e)),
            _ => {}
        }
        // Pod to pod on this node goes in and out of the bridge: no redirects for that.
        let redirects = Path::new("/proc/sys/net/ipv4/conf").join(BRIDGE).join("send_redirects");
        std::fs::write(&redirects, b"0").map_err(io(&redirects))?;
        let rules = format!(
            "table ip k3rs-nat\ndelete table ip k3rs-nat\ntable ip k3rs-nat {{\n  chain postrouting {{\n    type nat hook postrouting priority srcnat; policy accept;\n    ip saddr {} ip daddr != {} masquerade\n  }}\n}}\n",
            self.range, self.cluster
        );
        run("nft", &["-f", "-"], Some(&rules))
    }

    /// The pod's address: the one leased to it before, else the lowest free one.
    pub fn allocate(&self, uid: &str) -> Result<Ipv4Addr, AgentError> {
        std::fs::create_dir_all(&self.leases).map_err(io(&self.leases))?;
        if let Some(ip) = self.leased(uid) {
            return Ok(ip);
        }
        let gateway = self.gateway();
        for ip in self.range.iter() {
            if ip == self.range.network() || ip == gateway || ip == self.range.broadcast() {
                continue;
            }
            let path = self.leases.join(ip.to_string());
            match std::fs::OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(mut file) => {
                    file.write_all(uid.as_bytes()).map_err(io(&path))?;
                    file.sync_all().map_err(io(&path))?;
                    return Ok(ip);
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(io(&path)(e)),
            }
        }
        Err(AgentError::Runtime(format!("no free address left in {}", self.range)))
    }

    /// The address leased to `uid`, if any (inside the current range).
    pub fn leased(&self, uid: &str) -> Option<Ipv4Addr> {
        std::fs::read_dir(&self.leases).ok()?.flatten().find_map(|e| {
            let ip: Ipv4Addr = e.file_name().to_str()?.parse().ok()?;
            let owner = std::fs::read_to_string(e.path()).ok()?;
            (owner.trim() == uid && self.range.contains(ip)).then_some(ip)
        })
    }

    /// Gives `uid`'s address back.
    pub fn release(&self, uid: &str) {
        for entry in std::fs::read_dir(&self.leases).into_iter().flatten().flatten() {
            if std::fs::read_to_string(entry.path()).is_ok_and(|o| o.trim() == uid) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }

    /// Wires the pod's namespace `netns` to the bridge with `ip` (idempotent: an existing
    /// link is kept).
    pub fn attach(&self, netns: &str, uid: &str, ip: Ipv4Addr) -> Result<(), AgentError> {
        let host = host_veth(uid);
        if run("ip", &["link", "show", &host], None).is_err() {
            let mtu = self.mtu.to_string();
            run(
                "ip",
                &[
                    "link", "add", &host, "mtu", &mtu, "type", "veth", "peer", "name", "eth0",
                    "mtu", &mtu, "netns", netns,
                ],
                None,
            )?;
        }
        run("ip", &["link", "set", &host, "master", BRIDGE, "up"], None)?;
        // Pods talk only to the bridge, never to each other directly: their traffic is routed
        // by the node (conntrack, services, network policies apply to it all).
        run("bridge", &["link", "set", "dev", &host, "isolated", "on"], None)?;
        let address = format!("{ip}/32");
        let gateway = self.gateway().to_string();
        run("ip", &["-n", netns, "link", "set", "lo", "up"], None)?;
        // The MAC follows the address, so that a reused address keeps its neighbour entries
        // valid; an entry for an earlier holder of the address is dropped all the same.
        run("ip", &["-n", netns, "link", "set", "eth0", "address", &pod_mac(ip)], None)?;
        let _ = run("ip", &["neigh", "del", &ip.to_string(), "dev", BRIDGE], None);
        run("ip", &["-n", netns, "addr", "replace", &address, "dev", "eth0"], None)?;
        run("ip", &["-n", netns, "link", "set", "eth0", "up"], None)?;
        run(
            "ip",
            &["-n", netns, "route", "replace", &gateway, "dev", "eth0", "scope", "link"],
            None,
        )?;
        run(
            "ip",
            &["-n", netns, "route", "replace", "default", "via", &gateway, "dev", "eth0"],
            None,
        )
    }
}

/// A pod's MAC from its address: locally administered `0a:58` and the four address bytes.
pub fn pod_mac(ip: Ipv4Addr) -> String {
    let [a, b, c, d] = ip.octets();
    format!("0a:58:{a:02x}:{b:02x}:{c:02x}:{d:02x}")
}

/// The host end of a pod's veth: `veth` and 8 hex digits of its uid (interface names are at
/// most 15 bytes).
pub fn host_veth(uid: &str) -> String {
    let short: String = uid.chars().filter(char::is_ascii_hexdigit).take(8).collect();
    format!("veth{short}")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn net(dir: &Path) -> PodNetwork {
        PodNetwork {
            range: "10.42.1.0/29".parse().unwrap(),
            cluster: "10.42.0.0/16".parse().unwrap(),
            leases: dir.join("pod-ips"),
            mtu: 1500,
        }
    }

    #[test]
    fn addresses_are_leased_once_per_pod_and_come_back() {
        let dir = tempfile::tempdir().unwrap();
        let n = net(dir.path());
        assert_eq!(n.gateway(), Ipv4Addr::new(10, 42, 1, 1));
        let a = n.allocate("pod-a").unwrap();
        assert_eq!(a, Ipv4Addr::new(10, 42, 1, 2), "first host after the gateway");
        assert_eq!(n.allocate("pod-a").unwrap(), a, "the same pod keeps its address");
        let b = n.allocate("pod-b").unwrap();
        assert_eq!(b, Ipv4Addr::new(10, 42, 1, 3));
        n.release("pod-a");
        assert_eq!(n.leased("pod-a"), None);
        assert_eq!(n.allocate("pod-c").unwrap(), a, "a released address is reused");
        // A /29 has hosts .1-.6: the gateway and five pods.
        for p in ["d", "e", "f"] {
            n.allocate(p).unwrap();
        }
        let err = n.allocate("g").unwrap_err();
        assert_eq!(err.to_string(), "no free address left in 10.42.1.0/29");
    }

    #[test]
    fn macs_follow_addresses() {
        assert_eq!(pod_mac(Ipv4Addr::new(10, 42, 1, 200)), "0a:58:0a:2a:01:c8");
    }

    #[test]
    fn host_veth_names_fit_in_ifnamsiz() {
        let name = host_veth("5e661350-36cd-4ca2-81aa-a221349f8512");
        assert_eq!(name, "veth5e661350");
        assert!(name.len() <= 15);
    }
}
