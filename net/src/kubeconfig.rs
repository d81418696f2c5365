//! The admin kubeconfig `k3rs server` writes (K3s's `/etc/rancher/k3s/k3s.yaml`): cluster,
//! user and context all named `default`, credentials embedded as base64 data.

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::pki::{Issued, Result};
use crate::server_certs::write_file;

/// Render a kubeconfig for `server` (an `https://` URL) trusting `ca_pem`, authenticating with
/// the client certificate `client`.
pub fn render(server: &str, ca_pem: &str, client: &Issued) -> String {
    format!(
        "apiVersion: v1\n\
         clusters:\n\
         - cluster:\n    certificate-authority-data: {ca}\n    server: {server}\n  name: default\n\
         contexts:\n\
         - context:\n    cluster: default\n    user: default\n  name: default\n\
         current-context: default\n\
         kind: Config\n\
         preferences: {{}}\n\
         users:\n\
         - name: default\n  user:\n    client-certificate-data: {cert}\n    client-key-data: {key}\n",
        ca = STANDARD.encode(ca_pem),
        cert = STANDARD.encode(&client.cert_pem),
        key = STANDARD.encode(&client.key_pem),
    )
}

/// Write the kubeconfig atomically with `mode`, creating its directory.
pub fn write(path: &Path, contents: &str, mode: u32) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|source| crate::pki::PkiError::Io { path: dir.to_owned(), source })?;
    }
    write_file(path, contents.as_bytes(), mode)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn embeds_credentials_and_is_written_with_the_mode() {
        let client = Issued { cert_pem: "CERT".into(), key_pem: "KEY".into() };
        let text = render("https://127.0.0.1:6443", "CA", &client);
        assert!(text.contains("server: https://127.0.0.1:6443\n"));
        assert!(text.contains(&format!("certificate-authority-data: {}\n", STANDARD.encode("CA"))));
        assert!(text.contains(&format!("client-key-data: {}\n", STANDARD.encode("KEY"))));
        assert!(text.contains("current-context: default\n"));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("etc/k3rs.yaml");
        write(&path, &text, 0o644).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o644);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
    }
}
