//! The supervisor protocol agents join with (`/v1-k3rs/...` on the API port), as K3s's: who the
//! caller is (token credentials by Basic auth, or a node certificate), the node headers, the
//! node-password Secret, and the certificates a node gets. HTTP glue is in the actors crate.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use k3rs_net::nodepass;
use k3rs_net::pki::LeafSpec;
use serde_json::{Value, json};

use crate::Status;
use crate::identity::Identity;

pub use k3rs_net::supervisor::{HEADER_NODE_IP, HEADER_NODE_NAME, HEADER_NODE_PASSWORD};
pub const GROUP_NODES: &str = "system:nodes";
pub const NODE_USER_PREFIX: &str = "system:node:";

/// The roles token credentials carry (K3s's `cred/passwd`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// `server:<secret>`: another server.
    Server,
    /// `node:<secret>` (or the agent token): an agent.
    Agent,
    /// A node's own client certificate (`system:node:<name>`, group `system:nodes`).
    Node,
}

/// The join secrets the server accepts.
#[derive(Clone)]
pub struct Secrets {
    pub server: String,
    /// `--agent-token`, when it differs from the server token.
    pub agent: Option<String>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secrets(..)")
    }
}

/// Who a supervisor request is from: a node certificate, or Basic credentials `user:secret`.
/// `None` is 401.
pub fn authenticate(
    identity: Option<&Identity>,
    authorization: Option<&str>,
    secrets: &Secrets,
) -> Option<Role> {
    if let Some(id) = identity
        && id.in_group(GROUP_NODES)
        && id.user.starts_with(NODE_USER_PREFIX)
    {
        return Some(Role::Node);
    }
    let encoded = authorization?.strip_prefix("Basic ")?;
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (user, secret) = decoded.split_once(':')?;
    let same = |a: &str, b: &str| {
        a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    };
    match user {
        "server" if same(secret, &secrets.server) => Some(Role::Server),
        "node" if same(secret, secrets.agent.as_deref().unwrap_or(&secrets.server)) => {
            Some(Role::Agent)
        }
        "node" if same(secret, &secrets.server) => Some(Role::Agent),
        _ => None,
    }
}

/// The node a request is about, from its headers; a node certificate must name the same node.
pub fn node_name(header: Option<&str>, identity: Option<&Identity>) -> Result<String, Status> {
    let name = header
        .map(str::to_ascii_lowercase)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| Status::bad_request("node name not set".into()))?;
    if let Some(problem) = crate::write::name_problem(&name, false) {
        return Err(Status::bad_request(format!("invalid node name {name:?}: {problem}")));
    }
    if let Some(id) = identity
        && let Some(cert_node) = id.user.strip_prefix(NODE_USER_PREFIX)
        && cert_node != name
    {
        return Err(Status::bad_request("header node name does not match auth node name".into()));
    }
    Ok(name)
}

/// The node password header.
pub fn node_password(header: Option<&str>) -> Result<&str, Status> {
    header
        .filter(|p| !p.is_empty())
        .ok_or_else(|| Status::bad_request("node password not set".into()))
}

/// What to do about a node's password, given its stored Secret (if any).
#[derive(Debug, PartialEq)]
pub enum PasswordCheck {
    /// First join: store this Secret.
    Create(Value),
    Verified,
    /// 403: another node with this name, or a changed password file.
    Rejected,
}

/// Check `password` for `node` against its stored Secret (`None` when there is none). Slow on
/// purpose (scrypt): run it off the event loop.
pub fn check_password(
    node: &str,
    password: &str,
    stored: Option<&Value>,
) -> Result<PasswordCheck, Status> {
    let Some(secret) = stored else {
        let hash = nodepass::hash(password).map_err(|e| Status::internal(&e.to_string()))?;
        return Ok(PasswordCheck::Create(password_secret(node, &hash)));
    };
    let hash = secret["data"]["hash"]
        .as_str()
        .and_then(|b| STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| Status::internal("the node password secret has no hash"))?;
    match nodepass::verify(password, &hash) {
        Ok(true) => Ok(PasswordCheck::Verified),
        Ok(false) => Ok(PasswordCheck::Rejected),
        Err(e) => Err(Status::internal(&e.to_string())),
    }
}

/// The 403 a rejected node password gets.
pub fn password_rejected(node: &str) -> Status {
    Status::forbidden_message(format!("unable to verify password for node {node}"))
}

/// `kube-system/<node>.node-password.k3rs`.
pub fn password_secret(node: &str, hash: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": nodepass::secret_name(node), "namespace": "kube-system"},
        "immutable": true,
        "type": nodepass::SECRET_TYPE,
        "data": {"hash": STANDARD.encode(hash)},
    })
}

/// The kubelet client certificate a node gets.
pub fn client_spec(node: &str) -> LeafSpec {
    LeafSpec::client(&format!("{NODE_USER_PREFIX}{node}"), &[GROUP_NODES])
}

/// The kubelet serving certificate: the node's name, localhost and its addresses.
pub fn serving_spec(node: &str, ips_header: Option<&str>) -> LeafSpec {
    let mut sans = vec![node.to_owned(), "localhost".to_owned(), "127.0.0.1".to_owned()];
    for ip in ips_header.unwrap_or("").split(',').map(str::trim) {
        if ip.parse::<std::net::IpAddr>().is_ok() && !sans.iter().any(|s| s == ip) {
            sans.push(ip.to_owned());
        }
    }
    LeafSpec::server(node, &sans)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn secrets() -> Secrets {
        Secrets { server: "s3cret".into(), agent: None }
    }

    fn basic(creds: &str) -> String {
        format!("Basic {}", STANDARD.encode(creds))
    }

    #[test]
    fn token_credentials_and_node_certificates_authenticate() {
        let s = secrets();
        assert_eq!(authenticate(None, Some(&basic("node:s3cret")), &s), Some(Role::Agent));
        assert_eq!(authenticate(None, Some(&basic("server:s3cret")), &s), Some(Role::Server));
        assert_eq!(authenticate(None, Some(&basic("node:wrong")), &s), None);
        assert_eq!(authenticate(None, Some(&basic("admin:s3cret")), &s), None);
        assert_eq!(authenticate(None, None, &s), None);
        let node = Identity { user: "system:node:a".into(), groups: vec![GROUP_NODES.into()] };
        assert_eq!(authenticate(Some(&node), None, &s), Some(Role::Node));
        let agent = Secrets { server: "s3cret".into(), agent: Some("agent".into()) };
        assert_eq!(authenticate(None, Some(&basic("node:agent")), &agent), Some(Role::Agent));
        assert_eq!(authenticate(None, Some(&basic("server:agent")), &agent), None);
    }

    #[test]
    fn node_headers_are_checked_with_k3s_messages() {
        assert_eq!(node_name(Some("Node-A"), None).unwrap(), "node-a");
        assert_eq!(node_name(None, None).unwrap_err().message, "node name not set");
        assert_eq!(node_password(Some("")).unwrap_err().message, "node password not set");
        let other = Identity { user: "system:node:b".into(), groups: vec![GROUP_NODES.into()] };
        assert_eq!(
            node_name(Some("a"), Some(&other)).unwrap_err().message,
            "header node name does not match auth node name"
        );
        assert_eq!(node_name(Some("bad_name"), None).unwrap_err().code, 400);
    }

    #[test]
    fn the_first_password_is_stored_and_later_ones_must_match() {
        let PasswordCheck::Create(secret) = check_password("a", "pw", None).unwrap() else {
            panic!("expected a new secret")
        };
        assert_eq!(secret["metadata"]["name"], "a.node-password.k3rs");
        assert_eq!(secret["type"], "k3rs.cattle.io/node-password");
        assert_eq!(check_password("a", "pw", Some(&secret)).unwrap(), PasswordCheck::Verified);
        assert_eq!(check_password("a", "other", Some(&secret)).unwrap(), PasswordCheck::Rejected);
    }

    #[test]
    fn serving_certificates_name_the_node_and_its_addresses() {
        let spec = serving_spec("a", Some("10.0.0.5, junk,127.0.0.1"));
        assert_eq!(spec.sans, ["a", "localhost", "127.0.0.1", "10.0.0.5"]);
        assert_eq!(client_spec("a").common_name, "system:node:a");
    }
}
