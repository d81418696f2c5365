//! Overlay data paths that run in the agent's process (the kernel's VXLAN and plain routes
//! need none): the `udp` backend's TUN relay.

pub mod tun;
pub mod udp;
