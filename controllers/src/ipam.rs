//! Node IPAM: each node gets a /24 of `--cluster-cidr` as its `spec.podCIDR` (and
//! `podCIDRs`), the lowest one no other node holds, as kube-controller-manager's range
//! allocator hands them out. IPv4 for now.

use std::net::Ipv4Addr;

/// The prefix length each node gets.
pub const NODE_MASK: u8 = 24;

fn parse(cidr: &str) -> Option<(u32, u8)> {
    let (ip, len) = cidr.split_once('/')?;
    let ip: Ipv4Addr = ip.parse().ok()?;
    let len: u8 = len.parse().ok().filter(|l| *l <= 32)?;
    Some((u32::from(ip), len))
}

/// The lowest /24 of `cluster` not in `used`, or `None` when all are taken (or the cluster
/// range is smaller than one node's).
pub fn next_pod_cidr(cluster: &str, used: &[String]) -> Option<String> {
    let (base, len) = parse(cluster)?;
    if len > NODE_MASK {
        return None;
    }
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    let base = base & mask;
    let taken: Vec<u32> = used.iter().filter_map(|c| parse(c)).map(|(ip, _)| ip).collect();
    let count = 1u64 << (NODE_MASK - len);
    (0..count)
        .map(|i| base + ((i as u32) << (32 - NODE_MASK)))
        .find(|net| !taken.contains(net))
        .map(|net| format!("{}/{NODE_MASK}", Ipv4Addr::from(net)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_get_the_lowest_free_slash_24() {
        assert_eq!(next_pod_cidr("10.42.0.0/16", &[]), Some("10.42.0.0/24".into()));
        let used = vec!["10.42.0.0/24".to_owned(), "10.42.2.0/24".to_owned()];
        assert_eq!(next_pod_cidr("10.42.0.0/16", &used), Some("10.42.1.0/24".into()));
        let full: Vec<String> = (0..256).map(|i| format!("10.42.{i}.0/24")).collect();
        assert_eq!(next_pod_cidr("10.42.0.0/16", &full), None);
        assert_eq!(next_pod_cidr("10.42.0.0/25", &[]), None);
        assert_eq!(next_pod_cidr("10.42.7.9/16", &[]), Some("10.42.0.0/24".into()));
    }
}
