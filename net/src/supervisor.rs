//! Names of the supervisor protocol that agents and servers both speak: the node headers on
//! `/v1-k3rs/...` requests (K3s's `k3s-Node-*`, renamed).

pub const HEADER_NODE_NAME: &str = "k3rs-Node-Name";
pub const HEADER_NODE_PASSWORD: &str = "k3rs-Node-Password";
/// Comma-separated addresses, for the serving certificate.
pub const HEADER_NODE_IP: &str = "k3rs-Node-IP";
