//! The `udp` backend's data path, as flannel's udp backend has it but without its one-packet-
//! per-syscall cost: packets the node routes to the TUN device `flannel0` go, inside UDP
//! datagrams on port 8285, to the node whose pod range holds their destination; datagrams from
//! known nodes go back into the TUN device. Each datagram carries one packet as the device
//! gave it, TCP super-packets (up to 64 KiB) included, behind a 12-byte header (`MAGIC`, the
//! version, and the device's `virtio_net_hdr`), so that segmentation and checksums are left to
//! the receiving kernel and one syscall on each side moves up to 64 KiB. One sender and one
//! receiver thread per TUN queue; the queues' sockets share the port (`SO_REUSEPORT`).

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::thread::JoinHandle;
use std::time::Duration;

use ipnetwork::Ipv4Network;

use super::tun::{self, VNET_HDR_LEN};

/// flannel's udp backend port.
pub const PORT: u16 = 8285;
/// flannel's udp backend device.
pub const DEVICE: &str = "flannel0";
/// Bytes before the packet in each datagram: magic, version, `virtio_net_hdr`.
pub const HEADER_LEN: usize = 2 + VNET_HDR_LEN;
/// The largest packet a datagram carries (the IPv4 UDP payload limit less the header); the
/// device's `gso_max_size` is set at or below it.
pub const MAX_PACKET: usize = 65_507 - HEADER_LEN;
/// The device's `gso_max_size`: super-packets stay under `MAX_PACKET`.
pub const GSO_MAX_SIZE: usize = 65_000;
const MAGIC: u8 = 0x6b;
const VERSION: u8 = 1;
/// How often blocked threads look at the stop flag.
const WAKE: Duration = Duration::from_millis(200);
/// A receiver's first pause after an unexpected socket error; it doubles while errors go on,
/// up to `WAKE`, and starts over after a datagram comes.
const ERROR_PAUSE: Duration = Duration::from_millis(10);

/// Where packets go: peers' pod ranges to their addresses, and what is accepted back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Routes {
    /// The node's own range: the only destinations accepted from peers.
    local: Option<Ipv4Network>,
    /// Per prefix length (longest first), range base to the peer's socket address.
    by_prefix: Vec<(u8, HashMap<u32, SocketAddrV4>)>,
    senders: HashSet<Ipv4Addr>,
}

impl Routes {
    /// `peers`: each other node's pod range and public address.
    pub fn new(local: Ipv4Network, peers: &[(Ipv4Network, Ipv4Addr)]) -> Routes {
        let mut by_prefix: Vec<(u8, HashMap<u32, SocketAddrV4>)> = Vec::new();
        for (range, addr) in peers {
            let base = u32::from(range.network());
            let target = SocketAddrV4::new(*addr, PORT);
            match by_prefix.iter_mut().find(|(p, _)| *p == range.prefix()) {
                Some((_, m)) => {
                    m.insert(base, target);
                }
                None => by_prefix.push((range.prefix(), HashMap::from([(base, target)]))),
            }
        }
        by_prefix.sort_by_key(|(prefix, _)| std::cmp::Reverse(*prefix));
        let senders = peers.iter().map(|(_, a)| *a).collect();
        Routes { local: Some(local), by_prefix, senders }
    }

    /// The peer whose range holds `dst`.
    pub fn next_hop(&self, dst: Ipv4Addr) -> Option<SocketAddrV4> {
        let dst = u32::from(dst);
        self.by_prefix.iter().find_map(|(prefix, m)| {
            let mask = u32::MAX.checked_shl(32 - u32::from(*prefix)).unwrap_or(0);
            m.get(&(dst & mask)).copied()
        })
    }

    /// Whether a packet for `dst` from the node at `from` is let in.
    pub fn accepts(&self, from: Ipv4Addr, dst: Ipv4Addr) -> bool {
        self.senders.contains(&from) && self.local.is_some_and(|l| l.contains(dst))
    }
}

/// The IPv4 destination of `packet`, if it is an IPv4 packet.
pub fn destination(packet: &[u8]) -> Option<Ipv4Addr> {
    if packet.len() < 20 || packet[0] >> 4 != 4 {
        return None;
    }
    Some(Ipv4Addr::new(packet[16], packet[17], packet[18], packet[19]))
}

/// Writes the datagram header into `buf[..2]` (the device's header and packet follow it).
pub fn stamp(buf: &mut [u8]) {
    buf[0] = MAGIC;
    buf[1] = VERSION;
}

/// The device header and packet in a datagram, if it is one of ours.
pub fn unwrap_datagram(datagram: &[u8]) -> Option<&[u8]> {
    if datagram.len() < HEADER_LEN + 20 || datagram[0] != MAGIC || datagram[1] != VERSION {
        return None;
    }
    Some(&datagram[2..])
}

/// What the relay has moved and dropped.
#[derive(Debug, Default)]
pub struct Stats {
    pub sent_packets: AtomicU64,
    pub sent_bytes: AtomicU64,
    pub received_packets: AtomicU64,
    pub received_bytes: AtomicU64,
    /// No peer for the destination, or the send failed.
    pub unroutable: AtomicU64,
    /// Not ours, not from a peer, or not for this node's range.
    pub refused: AtomicU64,
}

/// The running relay: its threads stop when it drops (the device stays, see `tun::set_persist`).
#[derive(Debug)]
pub struct Relay {
    routes: Arc<RwLock<Routes>>,
    stats: Arc<Stats>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Relay {
    /// Relay between `queues` of the device and sockets bound to `local:PORT`.
    pub fn start(local: Ipv4Addr, queues: Vec<File>, routes: Routes) -> io::Result<Relay> {
        let routes = Arc::new(RwLock::new(routes));
        let stats = Arc::new(Stats::default());
        let stop = Arc::new(AtomicBool::new(false));
        // Made first, so that a failure part-way drops it and stops the threads already started.
        let mut relay = Relay { routes, stats, stop, threads: Vec::new() };
        let (routes, stats, stop) = (relay.routes.clone(), relay.stats.clone(), relay.stop.clone());
        let threads = &mut relay.threads;
        for (i, queue) in queues.into_iter().enumerate() {
            let socket = bind(SocketAddrV4::new(local, PORT))?;
            let (tx_queue, tx_socket) = (queue.try_clone()?, socket.try_clone()?);
            let (r, s, halt) = (routes.clone(), stats.clone(), stop.clone());
            threads.push(
                std::thread::Builder::new()
                    .name(format!("overlay-tx-{i}"))
                    .spawn(move || send_loop(tx_queue, tx_socket, &r, &s, &halt))?,
            );
            let (r, s, halt) = (routes.clone(), stats.clone(), stop.clone());
            threads.push(
                std::thread::Builder::new()
                    .name(format!("overlay-rx-{i}"))
                    .spawn(move || receive_loop(queue, socket, &r, &s, &halt))?,
            );
        }
        Ok(relay)
    }

    /// Replace the routing table (peers came or went).
    pub fn set_routes(&self, routes: Routes) {
        if let Ok(mut r) = self.routes.write() {
            *r = routes;
        }
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// A socket on the shared port with large buffers.
fn bind(addr: SocketAddrV4) -> io::Result<UdpSocket> {
    let socket = socket2::Socket::new(
        socket2::Domain::IPV4,
        socket2::Type::DGRAM,
        Some(socket2::Protocol::UDP),
    )?;
    socket.set_reuse_port(true)?;
    // Room for a window's worth of super-packets; the kernel caps it at net.core.*mem_max.
    socket.set_recv_buffer_size(8 << 20)?;
    socket.set_send_buffer_size(8 << 20)?;
    socket.bind(&SocketAddr::V4(addr).into())?;
    let socket: UdpSocket = socket.into();
    socket.set_read_timeout(Some(WAKE))?;
    Ok(socket)
}

fn send_loop(
    mut queue: File,
    socket: UdpSocket,
    routes: &RwLock<Routes>,
    stats: &Stats,
    stop: &AtomicBool,
) {
    let mut buf = vec![0u8; 2 + VNET_HDR_LEN + 65_536];
    stamp(&mut buf);
    while !stop.load(Ordering::Relaxed) {
        match tun::readable(&queue, WAKE.as_millis() as i32) {
            Ok(true) => {}
            Ok(false) => continue,
            Err(e) => {
                tracing::warn!(error = %e, "overlay device: poll failed; sender stops");
                return;
            }
        }
        let n = match queue.read(&mut buf[2..]) {
            Ok(n) => n,
            Err(e)
                if e.kind() == io::ErrorKind::Interrupted
                    || e.kind() == io::ErrorKind::WouldBlock =>
            {
                continue;
            }
            Err(e) => {
                tracing::warn!(error = %e, "overlay device: read failed; sender stops");
                return;
            }
        };
        let packet = &buf[HEADER_LEN..2 + n];
        let hop = destination(packet)
            .filter(|_| packet.len() <= MAX_PACKET)
            .and_then(|dst| routes.read().ok()?.next_hop(dst));
        // A failed send (a full buffer, an unreachable peer) drops the packet, as a link
        // would; TCP resends.
        match hop.map(|to| socket.send_to(&buf[..2 + n], to)) {
            Some(Ok(_)) => {
                stats.sent_packets.fetch_add(1, Ordering::Relaxed);
                stats.sent_bytes.fetch_add(packet.len() as u64, Ordering::Relaxed);
            }
            _ => {
                stats.unroutable.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

fn receive_loop(
    mut queue: File,
    socket: UdpSocket,
    routes: &RwLock<Routes>,
    stats: &Stats,
    stop: &AtomicBool,
) {
    let mut buf = vec![0u8; 65_536];
    let mut pause = ERROR_PAUSE;
    while !stop.load(Ordering::Relaxed) {
        let (n, from) = match socket.recv_from(&mut buf) {
            Ok(got) => {
                pause = ERROR_PAUSE;
                got
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) =>
            {
                continue;
            }
            Err(e) => {
                // Not expected on an unconnected socket: back off rather than spin on it
                // (each pause at most `WAKE`, so a stop is still seen in time).
                tracing::warn!(error = %e, "overlay socket: receive failed");
                std::thread::sleep(pause);
                pause = (pause * 2).min(WAKE);
                continue;
            }
        };
        let SocketAddr::V4(from) = from else { continue };
        let accepted = unwrap_datagram(&buf[..n]).filter(|inner| {
            destination(&inner[VNET_HDR_LEN..])
                .is_some_and(|dst| routes.read().is_ok_and(|r| r.accepts(*from.ip(), dst)))
        });
        let Some(inner) = accepted else {
            stats.refused.fetch_add(1, Ordering::Relaxed);
            continue;
        };
        // A TUN write takes the whole packet or fails.
        match queue.write(inner) {
            Ok(n) if n == inner.len() => {
                stats.received_packets.fetch_add(1, Ordering::Relaxed);
                stats
                    .received_bytes
                    .fetch_add((inner.len() - VNET_HDR_LEN) as u64, Ordering::Relaxed);
            }
            _ => {
                stats.refused.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn net(s: &str) -> Ipv4Network {
        s.parse().unwrap()
    }

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    #[test]
    fn routes_find_the_peer_holding_the_destination() {
        let r = Routes::new(
            net("10.42.0.0/24"),
            &[(net("10.42.1.0/24"), ip("192.168.9.2")), (net("10.42.2.0/24"), ip("192.168.9.3"))],
        );
        assert_eq!(r.next_hop(ip("10.42.1.7")), Some(SocketAddrV4::new(ip("192.168.9.2"), PORT)));
        assert_eq!(r.next_hop(ip("10.42.2.255")), Some(SocketAddrV4::new(ip("192.168.9.3"), PORT)));
        assert_eq!(r.next_hop(ip("10.42.3.1")), None);
        assert_eq!(r.next_hop(ip("10.42.0.5")), None, "own range is not relayed");
    }

    #[test]
    fn the_longest_prefix_wins() {
        let r = Routes::new(
            net("10.42.0.0/24"),
            &[(net("10.44.0.0/16"), ip("192.168.9.2")), (net("10.44.7.0/24"), ip("192.168.9.3"))],
        );
        assert_eq!(r.next_hop(ip("10.44.7.1")).unwrap().ip(), &ip("192.168.9.3"));
        assert_eq!(r.next_hop(ip("10.44.8.1")).unwrap().ip(), &ip("192.168.9.2"));
    }

    #[test]
    fn only_peers_may_send_and_only_into_the_local_range() {
        let r = Routes::new(net("10.42.0.0/24"), &[(net("10.42.1.0/24"), ip("192.168.9.2"))]);
        assert!(r.accepts(ip("192.168.9.2"), ip("10.42.0.9")));
        assert!(!r.accepts(ip("192.168.9.7"), ip("10.42.0.9")), "unknown sender");
        assert!(!r.accepts(ip("192.168.9.2"), ip("10.42.1.9")), "not this node's range");
        assert!(!Routes::default().accepts(ip("192.168.9.2"), ip("10.42.0.9")));
    }

    #[test]
    fn datagrams_carry_the_header_then_the_packet() {
        let mut d = vec![0u8; HEADER_LEN + 20];
        stamp(&mut d);
        d[HEADER_LEN] = 0x45;
        d[HEADER_LEN + 16..HEADER_LEN + 20].copy_from_slice(&[10, 42, 0, 9]);
        let inner = unwrap_datagram(&d).unwrap();
        assert_eq!(inner.len(), VNET_HDR_LEN + 20);
        assert_eq!(destination(&inner[VNET_HDR_LEN..]), Some(ip("10.42.0.9")));
        d[1] = 9;
        assert!(unwrap_datagram(&d).is_none(), "another version");
        assert!(unwrap_datagram(&[MAGIC, VERSION, 0]).is_none(), "short");
        assert_eq!(destination(&[0x60; 40]), None, "IPv6 is not relayed");
    }
}
