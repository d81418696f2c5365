//! k3rs-net: wire formats and network state as plain logic: join tokens, the PKI, tunnel
//! framing, the kubelet protocol spoken over the tunnel, the client load balancer's server
//! pool, TLS configuration, and (as they land) overlay backends and pod network setup.
//!
//! Owns: what goes over the wire and how network state changes. Does not: spawn actors or know
//! about actix; read configuration (callers pass values in).

pub mod kubeconfig;
pub mod kubelet;
pub mod lb;
pub mod nodepass;
pub mod overlay;
pub mod pki;
pub mod server_certs;
pub mod spdy;
pub mod supervisor;
pub mod tls;
pub mod token;
pub mod tunnel;
