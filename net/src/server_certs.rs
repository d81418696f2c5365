//! The server's certificates on disk, under `<data-dir>/server/tls/` with K3s's file names:
//! created on first start, reused afterwards; the serving certificate is reissued when the
//! names it must cover change. Keys are written with mode 0600, atomically.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::pki::{CertificateAuthority, Issued, LeafSpec, PkiError, Result};

/// Everything the API server needs to serve TLS and to write an admin kubeconfig.
#[derive(Debug)]
pub struct ServerCerts {
    pub server_ca: CertificateAuthority,
    pub client_ca: CertificateAuthority,
    /// `serving-kube-apiserver.crt`: the HTTPS certificate of port 6443.
    pub serving: Issued,
    /// `client-admin.crt`: `system:admin` in `system:masters`.
    pub admin: Issued,
    pub server_ca_path: PathBuf,
}

impl ServerCerts {
    /// Load the certificates in `tls_dir`, creating what is missing. `sans` are the names and
    /// addresses the serving certificate must cover.
    pub fn ensure(tls_dir: &Path, sans: &[String]) -> Result<ServerCerts> {
        std::fs::create_dir_all(tls_dir).map_err(io(tls_dir))?;
        let server_ca = ensure_ca(tls_dir, "server-ca", "k3rs-server-ca")?;
        let client_ca = ensure_ca(tls_dir, "client-ca", "k3rs-client-ca")?;
        let mut wanted: Vec<String> = sans.to_vec();
        wanted.sort();
        wanted.dedup();
        let sans_file = tls_dir.join("serving-kube-apiserver.sans");
        let recorded = std::fs::read_to_string(&sans_file).ok();
        let serving = match (recorded, read_pair(tls_dir, "serving-kube-apiserver")?) {
            (Some(r), Some(pair)) if r == wanted.join("\n") => pair,
            _ => {
                let pair = server_ca.issue(&LeafSpec::server("kube-apiserver", &wanted))?;
                write_pair(tls_dir, "serving-kube-apiserver", &pair)?;
                write_file(&sans_file, wanted.join("\n").as_bytes(), 0o644)?;
                pair
            }
        };
        let admin = match read_pair(tls_dir, "client-admin")? {
            Some(pair) => pair,
            None => {
                let pair =
                    client_ca.issue(&LeafSpec::client("system:admin", &["system:masters"]))?;
                write_pair(tls_dir, "client-admin", &pair)?;
                pair
            }
        };
        Ok(ServerCerts {
            server_ca,
            client_ca,
            serving,
            admin,
            server_ca_path: tls_dir.join("server-ca.crt"),
        })
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> PkiError + '_ {
    move |source| PkiError::Io { path: path.to_owned(), source }
}

fn ensure_ca(dir: &Path, stem: &str, common_name: &str) -> Result<CertificateAuthority> {
    if let Some(pair) = read_pair(dir, stem)? {
        return CertificateAuthority::from_pem(&pair.cert_pem, &pair.key_pem);
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let ca = CertificateAuthority::generate(&format!("{common_name}@{now}"))?;
    write_pair(
        dir,
        stem,
        &Issued { cert_pem: ca.cert_pem().to_owned(), key_pem: ca.key_pem().to_owned() },
    )?;
    Ok(ca)
}

/// `<stem>.crt` and `<stem>.key`, if both exist.
fn read_pair(dir: &Path, stem: &str) -> Result<Option<Issued>> {
    let cert = dir.join(format!("{stem}.crt"));
    let key = dir.join(format!("{stem}.key"));
    match (std::fs::read_to_string(&cert), std::fs::read_to_string(&key)) {
        (Ok(cert_pem), Ok(key_pem)) => Ok(Some(Issued { cert_pem, key_pem })),
        (Err(e), _) if e.kind() != std::io::ErrorKind::NotFound => Err(io(&cert)(e)),
        (_, Err(e)) if e.kind() != std::io::ErrorKind::NotFound => Err(io(&key)(e)),
        _ => Ok(None),
    }
}

fn write_pair(dir: &Path, stem: &str, pair: &Issued) -> Result<()> {
    // The key first: a certificate without its key is never left behind.
    write_file(&dir.join(format!("{stem}.key")), pair.key_pem.as_bytes(), 0o600)?;
    write_file(&dir.join(format!("{stem}.crt")), pair.cert_pem.as_bytes(), 0o644)
}

/// Write a file atomically (temporary file, sync, rename) with the given mode.
pub fn write_file(path: &Path, contents: &[u8], mode: u32) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)
        .map_err(io(&tmp))?;
    f.write_all(contents).map_err(io(&tmp))?;
    // `mode` applies only to new files; a leftover temporary file keeps its old mode otherwise.
    f.set_permissions(std::fs::Permissions::from_mode(mode)).map_err(io(&tmp))?;
    f.sync_all().map_err(io(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io(path))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn sans(extra: &[&str]) -> Vec<String> {
        ["127.0.0.1", "localhost", "kubernetes"]
            .iter()
            .chain(extra)
            .map(|s| s.to_string())
            .collect()
    }

    #[test]
    fn certificates_are_created_once_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let first = ServerCerts::ensure(dir.path(), &sans(&[])).unwrap();
        let mode =
            std::fs::metadata(dir.path().join("server-ca.key")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let second = ServerCerts::ensure(dir.path(), &sans(&[])).unwrap();
        assert_eq!(first.server_ca.cert_pem(), second.server_ca.cert_pem());
        assert_eq!(first.serving, second.serving);
        assert_eq!(first.admin, second.admin);
        assert!(first.server_ca_path.exists());
    }

    #[test]
    fn the_serving_certificate_follows_its_names_but_the_cas_stay() {
        let dir = tempfile::tempdir().unwrap();
        let first = ServerCerts::ensure(dir.path(), &sans(&[])).unwrap();
        let more = ServerCerts::ensure(dir.path(), &sans(&["k3rs.example.com"])).unwrap();
        assert_ne!(first.serving, more.serving);
        assert_eq!(first.server_ca.cert_pem(), more.server_ca.cert_pem());
        assert_eq!(first.client_ca.cert_pem(), more.client_ca.cert_pem());
        assert_eq!(first.admin, more.admin);
    }
}
