//! Who this node is: its name (`--node-name`, else the host name; lower-cased, checked as a DNS
//! subdomain; `--with-node-id` appends `-<8 hex>` kept in the id file) and its password (random,
//! created once, mode 0600), as K3s keeps them. The files' paths come from the caller, so
//! several agents can share a machine.

use std::path::{Path, PathBuf};

use crate::AgentError;

/// The node name, with the id suffix when asked.
pub fn node_name(
    flag: Option<&str>,
    hostname: &str,
    with_node_id: bool,
    id_file: &Path,
) -> Result<String, AgentError> {
    let mut name = flag.unwrap_or(hostname).trim().to_ascii_lowercase();
    if with_node_id {
        let id = read_or_create(id_file, 4, 0o600)?;
        name = format!("{name}-{id}");
    }
    if !is_dns_subdomain(&name) {
        return Err(AgentError::NodeName(name));
    }
    Ok(name)
}

/// The node password, created on first use.
pub fn node_password(file: &Path) -> Result<String, AgentError> {
    read_or_create(file, 16, 0o600)
}

/// The id file next to the password file (`/etc/rancher/node/id`).
pub fn id_file(password_file: &Path) -> PathBuf {
    password_file.with_file_name("id")
}

fn read_or_create(path: &Path, random_bytes: usize, mode: u32) -> Result<String, AgentError> {
    let io = |source| AgentError::Io { path: path.to_owned(), source };
    match std::fs::read_to_string(path) {
        Ok(s) if !s.trim().is_empty() => return Ok(s.trim().to_owned()),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(e)),
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let value = random_hex(random_bytes)?;
    // Atomically: a crash never leaves an empty password behind.
    k3rs_net::server_certs::write_file(path, format!("{value}\n").as_bytes(), mode)?;
    Ok(value)
}

fn random_hex(n: usize) -> Result<String, AgentError> {
    let mut bytes = vec![0u8; n];
    rustix::rand::getrandom(&mut bytes, rustix::rand::GetRandomFlags::empty())
        .map_err(|e| AgentError::Random(e.to_string()))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

fn is_dns_subdomain(name: &str) -> bool {
    let label = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    !name.is_empty() && name.len() <= 253 && name.split('.').all(label)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn names_are_lower_cased_checked_and_optionally_suffixed() {
        let dir = tempfile::tempdir().unwrap();
        let id = dir.path().join("node/id");
        assert_eq!(node_name(Some("Node-A"), "host", false, &id).unwrap(), "node-a");
        assert_eq!(node_name(None, "Host", false, &id).unwrap(), "host");
        assert!(matches!(
            node_name(Some("bad_name"), "h", false, &id),
            Err(AgentError::NodeName(_))
        ));
        let a = node_name(Some("n"), "h", true, &id).unwrap();
        assert!(a.starts_with("n-") && a.len() == 2 + 8, "{a}");
        assert_eq!(node_name(Some("n"), "h", true, &id).unwrap(), a, "the id is kept");
    }

    #[test]
    fn passwords_are_created_once_with_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("rancher/node/password");
        let pw = node_password(&file).unwrap();
        assert_eq!(pw.len(), 32);
        assert_eq!(node_password(&file).unwrap(), pw);
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(id_file(&file), dir.path().join("rancher/node/id"));
    }
}
