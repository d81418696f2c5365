//! k3rs-net: tunnel framing, the client load balancer's server pool, overlay backends, pod
//! network setup and TLS helpers, all as plain logic.
//!
//! Owns: wire formats and network state machines. Does not: spawn actors or know about actix.
