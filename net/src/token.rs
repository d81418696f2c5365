//! Join tokens in K3s's format: `K10<sha256 of the cluster CA>::<user>:<password>`, a bare
//! password, or a bootstrap token `<6>.<16>`. The CA hash lets an agent pin the server's CA
//! before it trusts anything the server says.

use std::fmt;

use ring::digest::{SHA256, digest};
use ring::rand::{SecureRandom, SystemRandom};

/// Why a token could not be read. The messages are K3s's own.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("invalid token CA hash length")]
    HashLength,
    #[error("invalid token format")]
    Format,
    #[error("token CA hash does not match the Cluster CA certificate hash: {token} != {ca}")]
    HashMismatch { token: String, ca: String },
    #[error("no system randomness for a token secret")]
    Random,
}

pub type Result<T, E = TokenError> = std::result::Result<T, E>;

const PREFIX: &str = "K10";

/// The credential part of a token.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    /// `user:password`; the user is empty for a bare password (agents then use `node`).
    Password { username: String, password: String },
    /// A bootstrap token `id.secret`.
    Bootstrap { id: String, secret: String },
}

// Never print secrets in logs.
impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::Password { username, .. } => {
                f.debug_struct("Password").field("username", username).finish_non_exhaustive()
            }
            Credentials::Bootstrap { id, .. } => {
                f.debug_struct("Bootstrap").field("id", id).finish_non_exhaustive()
            }
        }
    }
}

/// A parsed join token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// Hex SHA-256 of the cluster CA, when the token carries one.
    pub ca_hash: Option<String>,
    pub credentials: Credentials,
}

impl Token {
    /// Parse any accepted form.
    pub fn parse(text: &str) -> Result<Token> {
        let text = text.trim();
        let full =
            if text.starts_with(PREFIX) { text.to_owned() } else { format!("{PREFIX}:::{text}") };
        let rest = &full[PREFIX.len()..];
        let (hash, creds) = rest.split_once("::").ok_or(TokenError::Format)?;
        let ca_hash = match hash.len() {
            0 => None,
            64 if hash.bytes().all(|b| b.is_ascii_hexdigit()) => Some(hash.to_ascii_lowercase()),
            _ => return Err(TokenError::HashLength),
        };
        let credentials = if let Some((id, secret)) = bootstrap_parts(creds) {
            Credentials::Bootstrap { id: id.to_owned(), secret: secret.to_owned() }
        } else {
            let (username, password) = creds.split_once(':').ok_or(TokenError::Format)?;
            if password.is_empty() {
                return Err(TokenError::Format);
            }
            Credentials::Password { username: username.to_owned(), password: password.to_owned() }
        };
        Ok(Token { ca_hash, credentials })
    }

    /// The server token for a CA and secret: `K10<hash>::server:<secret>`.
    pub fn server(ca_pem: &[u8], secret: &str) -> Token {
        Token {
            ca_hash: Some(ca_hash(ca_pem)),
            credentials: Credentials::Password {
                username: "server".into(),
                password: secret.to_owned(),
            },
        }
    }

    /// The password or bootstrap secret.
    pub fn secret(&self) -> &str {
        match &self.credentials {
            Credentials::Password { password, .. } => password,
            Credentials::Bootstrap { secret, .. } => secret,
        }
    }

    /// Check a CA bundle fetched from the server against the hash in the token (no hash: ok).
    pub fn verify_ca(&self, ca_pem: &[u8]) -> Result<()> {
        match &self.ca_hash {
            Some(expected) => {
                let actual = ca_hash(ca_pem);
                if &actual == expected {
                    Ok(())
                } else {
                    Err(TokenError::HashMismatch { token: expected.clone(), ca: actual })
                }
            }
            None => Ok(()),
        }
    }
}

impl fmt::Display for Token {
    /// The token as written to `server/token` (it contains the secret).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hash = self.ca_hash.as_deref().unwrap_or("");
        match &self.credentials {
            Credentials::Password { username, password } => {
                write!(f, "{PREFIX}{hash}::{username}:{password}")
            }
            Credentials::Bootstrap { id, secret } => write!(f, "{PREFIX}{hash}::{id}.{secret}"),
        }
    }
}

/// The server token file (`server/token`) and its `node-token` symlink: created on first start
/// from `secret` (or a random one), reused afterwards. A `secret` that differs from the stored
/// token's is refused, since agents that joined with the old one would be locked out.
pub fn ensure_token_file(
    token_file: &std::path::Path,
    node_token_file: &std::path::Path,
    ca_pem: &[u8],
    secret: Option<&str>,
) -> std::result::Result<Token, TokenFileError> {
    let io = |path: &std::path::Path| {
        let path = path.to_owned();
        move |source| TokenFileError::Io { path, source }
    };
    let token = match std::fs::read_to_string(token_file) {
        Ok(text) => {
            let stored = Token::parse(&text).map_err(|source| TokenFileError::Invalid {
                path: token_file.to_owned(),
                source,
            })?;
            if let Some(s) = secret
                && s != stored.secret()
                && Token::parse(s).map(|t| t.secret().to_owned()).ok().as_deref()
                    != Some(stored.secret())
            {
                return Err(TokenFileError::Mismatch { path: token_file.to_owned() });
            }
            stored
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let secret = match secret {
                Some(s) => {
                    Token::parse(s).map(|t| t.secret().to_owned()).unwrap_or_else(|_| s.to_owned())
                }
                None => generate_secret().map_err(|source| TokenFileError::Invalid {
                    path: token_file.to_owned(),
                    source,
                })?,
            };
            let token = Token::server(ca_pem, &secret);
            if let Some(dir) = token_file.parent() {
                std::fs::create_dir_all(dir).map_err(io(dir))?;
            }
            crate::server_certs::write_file(token_file, format!("{token}\n").as_bytes(), 0o600)
                .map_err(|e| TokenFileError::Write {
                    path: token_file.to_owned(),
                    source: Box::new(e),
                })?;
            token
        }
        Err(e) => return Err(io(token_file)(e)),
    };
    if std::fs::symlink_metadata(node_token_file).is_err() {
        let target =
            token_file.file_name().map_or_else(|| token_file.to_owned(), std::path::PathBuf::from);
        std::os::unix::fs::symlink(target, node_token_file).map_err(io(node_token_file))?;
    }
    Ok(token)
}

/// Why the token file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum TokenFileError {
    #[error("{path}")]
    Io {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("token file {path}")]
    Invalid {
        path: std::path::PathBuf,
        #[source]
        source: TokenError,
    },
    #[error("token file {path}")]
    Write {
        path: std::path::PathBuf,
        #[source]
        source: Box<crate::pki::PkiError>,
    },
    #[error(
        "the token given does not match the one in {path}; pass the original token, or remove the file to start a new cluster"
    )]
    Mismatch { path: std::path::PathBuf },
}

fn bootstrap_parts(creds: &str) -> Option<(&str, &str)> {
    let (id, secret) = creds.split_once('.')?;
    let ok = |s: &str, n: usize| {
        s.len() == n && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    };
    (ok(id, 6) && ok(secret, 16)).then_some((id, secret))
}

/// Hex SHA-256 of a CA file's bytes, as K3s hashes a single-certificate `server-ca.crt`.
pub fn ca_hash(ca_pem: &[u8]) -> String {
    hex(digest(&SHA256, ca_pem).as_ref())
}

/// A new random secret: hex of 16 random bytes, as K3s generates passwords.
pub fn generate_secret() -> Result<String> {
    let mut bytes = [0u8; 16];
    SystemRandom::new().fill(&mut bytes).map_err(|_| TokenError::Random)?;
    Ok(hex(&bytes))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const HASH: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    #[test]
    fn full_tokens_round_trip() {
        let t = Token::parse(&format!("K10{HASH}::server:s3cret")).unwrap();
        assert_eq!(t.ca_hash.as_deref(), Some(HASH));
        assert_eq!(
            t.credentials,
            Credentials::Password { username: "server".into(), password: "s3cret".into() }
        );
        assert_eq!(t.to_string(), format!("K10{HASH}::server:s3cret"));
    }

    #[test]
    fn a_bare_password_has_no_hash_and_no_user() {
        let t = Token::parse("just-a-password").unwrap();
        assert_eq!(t.ca_hash, None);
        assert_eq!(
            t.credentials,
            Credentials::Password { username: String::new(), password: "just-a-password".into() }
        );
        assert_eq!(t.secret(), "just-a-password");
    }

    #[test]
    fn bootstrap_tokens_are_recognised() {
        let t = Token::parse(&format!("K10{HASH}::abcdef.0123456789abcdef")).unwrap();
        assert_eq!(
            t.credentials,
            Credentials::Bootstrap { id: "abcdef".into(), secret: "0123456789abcdef".into() }
        );
        // A bare token is always a password, as in K3s.
        assert!(matches!(
            Token::parse("abcdef.0123456789abcdef").unwrap().credentials,
            Credentials::Password { .. }
        ));
    }

    #[test]
    fn malformed_tokens_give_k3s_errors() {
        assert_eq!(Token::parse("K10abc::server:x"), Err(TokenError::HashLength));
        assert_eq!(Token::parse(&format!("K10{HASH}::nocolon")), Err(TokenError::Format));
        assert_eq!(Token::parse(&format!("K10{HASH}server:x")), Err(TokenError::Format));
        assert_eq!(TokenError::HashLength.to_string(), "invalid token CA hash length");
        assert_eq!(TokenError::Format.to_string(), "invalid token format");
    }

    #[test]
    fn the_ca_is_pinned_by_its_hash() {
        let ca = b"-----BEGIN CERTIFICATE-----\nfake\n-----END CERTIFICATE-----\n";
        let t = Token::server(ca, "pw");
        assert!(t.verify_ca(ca).is_ok());
        let err = t.verify_ca(b"another").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("token CA hash does not match the Cluster CA certificate hash: ")
        );
        assert!(Token::parse("pw").unwrap().verify_ca(b"anything").is_ok());
    }

    #[test]
    fn secrets_are_32_hex_chars_and_not_repeated() {
        let a = generate_secret().unwrap();
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(a, generate_secret().unwrap());
    }

    #[test]
    fn the_token_file_is_created_once_with_a_node_token_link() {
        let dir = tempfile::tempdir().unwrap();
        let (file, link) = (dir.path().join("token"), dir.path().join("node-token"));
        let first = ensure_token_file(&file, &link, b"CA", None).unwrap();
        assert_eq!(first.ca_hash.as_deref(), Some(ca_hash(b"CA").as_str()));
        assert_eq!(std::fs::read_to_string(&link).unwrap().trim(), first.to_string());
        let again = ensure_token_file(&file, &link, b"CA", Some(first.secret())).unwrap();
        assert_eq!(again, first);
        // The full token form is accepted as --token too.
        assert_eq!(
            ensure_token_file(&file, &link, b"CA", Some(&first.to_string())).unwrap(),
            first
        );
        assert!(matches!(
            ensure_token_file(&file, &link, b"CA", Some("other")),
            Err(TokenFileError::Mismatch { .. })
        ));
        let chosen = dir.path().join("t2");
        let t =
            ensure_token_file(&chosen, &dir.path().join("n2"), b"CA", Some("mysecret")).unwrap();
        assert_eq!(t.secret(), "mysecret");
    }

    #[test]
    fn debug_output_hides_secrets() {
        let t = Token::parse(&format!("K10{HASH}::server:topsecret")).unwrap();
        assert!(!format!("{t:?}").contains("topsecret"));
    }
}
