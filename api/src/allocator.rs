//! The Service ranges (`--service-cidr`, `--service-node-port-range`) as plain values: which
//! addresses and ports they hold, and the order a dynamic allocation tries free ones in. As
//! upstream's allocators: the network address (and, for IPv4, the broadcast address) is never
//! handed out, and dynamic allocations start at a random point of the range's upper band,
//! leaving the lower band to requested values until the upper one is full. Where an allocation
//! is recorded is `svcalloc`'s business ([ADR 013](../../docs/adr/013-service-allocation.md)).

use std::net::IpAddr;
use std::str::FromStr;

/// A range could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RangeError {
    #[error("invalid service CIDR {0:?}")]
    Cidr(String),
    #[error("invalid node port range {0:?}")]
    Ports(String),
}

/// A network in CIDR form (`10.43.0.0/16`), its address masked to the prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpRange {
    base: IpAddr,
    prefix: u8,
}

fn bits(ip: IpAddr) -> u32 {
    if ip.is_ipv4() { 32 } else { 128 }
}

fn to_u128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

impl IpRange {
    /// The network `ip/prefix` (host bits cleared).
    pub fn new(ip: IpAddr, prefix: u8) -> Option<Self> {
        let width = bits(ip);
        if u32::from(prefix) > width {
            return None;
        }
        let host_bits = width - u32::from(prefix);
        let mask = if host_bits >= 128 { 0 } else { u128::MAX << host_bits };
        let base = to_u128(ip) & mask;
        Some(IpRange { base: Self::addr(ip.is_ipv4(), base), prefix })
    }

    fn addr(v4: bool, value: u128) -> IpAddr {
        if v4 {
            IpAddr::V4(std::net::Ipv4Addr::from(value as u32))
        } else {
            IpAddr::V6(std::net::Ipv6Addr::from(value))
        }
    }

    fn host_bits(&self) -> u32 {
        bits(self.base) - u32::from(self.prefix)
    }

    /// Addresses in the network, saturating for IPv6 networks wider than 2^127.
    fn total(&self) -> u128 {
        1u128.checked_shl(self.host_bits()).unwrap_or(u128::MAX)
    }

    /// `IPv4` or `IPv6`, as `spec.ipFamilies` names them.
    pub fn family(&self) -> &'static str {
        if self.base.is_ipv4() { "IPv4" } else { "IPv6" }
    }

    /// Addresses that can be handed out: all but the network address and, for IPv4, the
    /// broadcast address.
    fn usable(&self) -> u128 {
        let reserved = if self.base.is_ipv4() { 2 } else { 1 };
        self.total().saturating_sub(reserved)
    }

    /// Can `ip` be allocated from this range?
    pub fn holds(&self, ip: IpAddr) -> bool {
        if ip.is_ipv4() != self.base.is_ipv4() {
            return false;
        }
        let offset = to_u128(ip).wrapping_sub(to_u128(self.base));
        to_u128(ip) >= to_u128(self.base) && offset >= 1 && offset <= self.usable()
    }

    /// The first address that can be handed out (`10.43.0.1`), the `kubernetes` Service's.
    pub fn first(&self) -> Option<IpAddr> {
        (self.usable() > 0).then(|| Self::addr(self.base.is_ipv4(), to_u128(self.base) + 1))
    }

    /// Every usable address once, in the order a dynamic allocation tries them; `seed` picks
    /// the starting point.
    pub fn candidates(&self, seed: u128) -> impl Iterator<Item = IpAddr> + '_ {
        let size = self.usable();
        let v4 = self.base.is_ipv4();
        let base = to_u128(self.base);
        // Upstream's static band: a sixteenth of the range, at least 16, at most 256.
        let band = (size / 16).clamp(16, 256).min(size);
        dynamic_order(size, band, seed).map(move |offset| Self::addr(v4, base + 1 + offset))
    }
}

impl std::fmt::Display for IpRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.base, self.prefix)
    }
}

impl FromStr for IpRange {
    type Err = RangeError;
    fn from_str(s: &str) -> Result<Self, RangeError> {
        let bad = || RangeError::Cidr(s.to_owned());
        let (ip, prefix) = s.split_once('/').ok_or_else(bad)?;
        let ip: IpAddr = ip.parse().map_err(|_| bad())?;
        let prefix: u8 = prefix.parse().map_err(|_| bad())?;
        IpRange::new(ip, prefix).ok_or_else(bad)
    }
}

/// A NodePort range, both ends included (`30000-32767`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRange {
    pub low: u16,
    pub high: u16,
}

impl PortRange {
    pub fn holds(&self, port: u16) -> bool {
        (self.low..=self.high).contains(&port)
    }

    /// Every port once, in the order a dynamic allocation tries them.
    pub fn candidates(&self, seed: u128) -> impl Iterator<Item = u16> + '_ {
        let size = u128::from(self.high - self.low) + 1;
        // Upstream's static band for ports: a thirty-second of the range, 16 to 128.
        let band = (size / 32).clamp(16, 128).min(size);
        let low = self.low;
        dynamic_order(size, band, seed).map(move |offset| low + offset as u16)
    }
}

impl std::fmt::Display for PortRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.low, self.high)
    }
}

/// The Service ranges of a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceNetwork {
    pub cluster_ips: IpRange,
    pub node_ports: PortRange,
}

impl ServiceNetwork {
    /// K3s's defaults: `10.43.0.0/16` and `30000-32767`.
    pub const K3S_DEFAULT: ServiceNetwork = ServiceNetwork {
        cluster_ips: IpRange {
            base: IpAddr::V4(std::net::Ipv4Addr::new(10, 43, 0, 0)),
            prefix: 16,
        },
        node_ports: PortRange { low: 30000, high: 32767 },
    };

    /// From the server's flags (`10.43.0.0/16`, `30000-32767`).
    pub fn parse(cidr: &str, node_ports: &str) -> Result<Self, RangeError> {
        let bad = || RangeError::Ports(node_ports.to_owned());
        let (low, high) = node_ports.split_once('-').ok_or_else(bad)?;
        let (low, high): (u16, u16) =
            (low.trim().parse().map_err(|_| bad())?, high.trim().parse().map_err(|_| bad())?);
        if low == 0 || low > high {
            return Err(bad());
        }
        Ok(ServiceNetwork { cluster_ips: cidr.parse()?, node_ports: PortRange { low, high } })
    }
}

/// Offsets `0..size` once each: the upper band `band..size` from a point `seed` picks,
/// wrapping, then the lower band `0..band` from its own point.
fn dynamic_order(size: u128, band: u128, seed: u128) -> impl Iterator<Item = u128> {
    let upper = size - band;
    let start_upper = if upper == 0 { 0 } else { seed % upper };
    let start_lower = if band == 0 { 0 } else { seed % band };
    (0..upper)
        .map(move |i| band + (start_upper + i) % upper)
        .chain((0..band).map(move |i| (start_lower + i) % band))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_network_and_broadcast_addresses_are_never_handed_out() {
        let r: IpRange = "10.43.0.0/16".parse().unwrap();
        assert_eq!(r.first(), Some(ip("10.43.0.1")));
        assert!(!r.holds(ip("10.43.0.0")));
        assert!(r.holds(ip("10.43.0.1")));
        assert!(r.holds(ip("10.43.255.254")));
        assert!(!r.holds(ip("10.43.255.255")));
        assert!(!r.holds(ip("10.44.0.1")));
        assert!(!r.holds(ip("10.42.255.1")));
        assert!(!r.holds(ip("fd00::1")));
        assert_eq!(r.to_string(), "10.43.0.0/16");
        // Host bits are cleared.
        assert_eq!("10.43.7.9/16".parse::<IpRange>().unwrap(), r);
        assert!("10.43.0.0/33".parse::<IpRange>().is_err());
        assert!("nonsense".parse::<IpRange>().is_err());
    }

    #[test]
    fn candidates_cover_the_range_once_upper_band_first() {
        let r: IpRange = "10.0.0.0/24".parse().unwrap();
        let all: Vec<IpAddr> = r.candidates(12345).collect();
        assert_eq!(all.len(), 254);
        let set: BTreeSet<IpAddr> = all.iter().copied().collect();
        assert_eq!(set.len(), 254);
        assert!(all.iter().all(|a| r.holds(*a)));
        // The first 16 addresses (the static band) come last.
        let low: BTreeSet<IpAddr> = (1..=16).map(|i| ip(&format!("10.0.0.{i}"))).collect();
        let tail: BTreeSet<IpAddr> = all[238..].iter().copied().collect();
        assert_eq!(tail, low);
        // Different seeds start elsewhere.
        assert_ne!(r.candidates(1).next(), r.candidates(2).next());
    }

    #[test]
    fn tiny_and_ipv6_ranges() {
        let r: IpRange = "10.0.0.0/30".parse().unwrap();
        let all: Vec<IpAddr> = r.candidates(7).collect();
        assert_eq!(all.len(), 2);
        assert!(all.contains(&ip("10.0.0.1")) && all.contains(&ip("10.0.0.2")));
        assert_eq!("10.0.0.0/32".parse::<IpRange>().unwrap().candidates(0).count(), 0);
        let v6: IpRange = "fd00:43::/112".parse().unwrap();
        assert_eq!(v6.family(), "IPv6");
        assert!(v6.holds(ip("fd00:43::ffff")));
        assert!(!v6.holds(ip("fd00:43::")));
        assert_eq!(v6.candidates(3).count(), 65535);
    }

    #[test]
    fn node_ports_cover_the_range_once() {
        let net = ServiceNetwork::parse("10.43.0.0/16", "30000-32767").unwrap();
        assert_eq!(net, ServiceNetwork::K3S_DEFAULT);
        let ports: Vec<u16> = net.node_ports.candidates(99).collect();
        assert_eq!(ports.len(), 2768);
        assert_eq!(ports.iter().copied().collect::<BTreeSet<u16>>().len(), 2768);
        assert!(ports[..2768 - 86].iter().all(|p| *p >= 30086));
        assert!(!net.node_ports.holds(29999) && net.node_ports.holds(32767));
        assert!(ServiceNetwork::parse("10.43.0.0/16", "3-1").is_err());
        let small = PortRange { low: 5, high: 7 };
        assert_eq!(small.candidates(1).collect::<BTreeSet<u16>>(), BTreeSet::from([5, 6, 7]));
    }
}
