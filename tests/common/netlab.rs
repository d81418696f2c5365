//! Network namespaces a test creates for its nodes, so that pods and their networks never touch
//! the machine's own namespace: a switch namespace with a bridge, and one namespace per node
//! joined to the bridge by a veth (`eth0`, 10.99.0.<10+i>/24; the address lives only inside
//! it). Programs run inside with `nsenter --net` (only the network namespace: `ip netns exec`
//! would remount /sys and hide the cgroups). Everything is deleted on drop.

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The namespaces of one test.
pub struct Lab {
    prefix: String,
    switch: String,
    nodes: Vec<String>,
}

/// One node's namespace and address.
#[derive(Debug, Clone)]
pub struct NodeNet {
    pub netns: String,
    pub address: String,
}

impl Lab {
    pub fn new() -> Lab {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let prefix = format!("k3t{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        let switch = format!("{prefix}-sw");
        ip(&["netns", "add", &switch]);
        ip(&["-n", &switch, "link", "set", "lo", "up"]);
        ip(&["-n", &switch, "link", "add", "br0", "type", "bridge"]);
        ip(&["-n", &switch, "link", "set", "br0", "up"]);
        Lab { prefix, switch, nodes: Vec::new() }
    }

    /// A new node namespace on the switch.
    pub fn node(&mut self) -> NodeNet {
        let i = self.nodes.len();
        let netns = format!("{}-n{i}", self.prefix);
        ip(&["netns", "add", &netns]);
        self.nodes.push(netns.clone());
        ip(&["-n", &netns, "link", "set", "lo", "up"]);
        let port = format!("p{i}");
        ip(&[
            "-n",
            &self.switch,
            "link",
            "add",
            &port,
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "netns",
            &netns,
        ]);
        ip(&["-n", &self.switch, "link", "set", &port, "master", "br0", "up"]);
        let address = format!("10.99.0.{}", 10 + i);
        ip(&["-n", &netns, "addr", "add", &format!("{address}/24"), "dev", "eth0"]);
        ip(&["-n", &netns, "link", "set", "eth0", "up"]);
        NodeNet { netns, address }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for ns in self.nodes.iter().chain([&self.switch]) {
            let _ = Command::new("ip").args(["netns", "delete", ns]).output();
        }
    }
}

/// `program` run inside `netns` (or here when `None`).
pub fn command_in(netns: Option<&str>, program: &str) -> Command {
    match netns {
        Some(ns) => {
            let mut c = Command::new("nsenter");
            c.arg(format!("--net=/run/netns/{ns}")).arg("--").arg(program);
            c
        }
        None => Command::new(program),
    }
}

/// A TCP connection to `127.0.0.1:port` inside `netns`, made from a thread that joins it.
pub fn connect_in(netns: &str, port: u16) -> std::net::TcpStream {
    try_connect_in(netns, port).unwrap()
}

/// As `connect_in`, or the connection's error.
pub fn try_connect_in(netns: &str, port: u16) -> std::io::Result<std::net::TcpStream> {
    use std::os::fd::AsFd;
    let path = format!("/run/netns/{netns}");
    std::thread::spawn(move || {
        let file = std::fs::File::open(&path)?;
        rustix::thread::move_into_link_name_space(
            file.as_fd(),
            Some(rustix::thread::LinkNameSpaceType::Network),
        )?;
        std::net::TcpStream::connect(("127.0.0.1", port))
    })
    .join()
    .unwrap()
}
