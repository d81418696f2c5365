//! Node passwords as the server keeps them: a scrypt hash in K3s's string form
//! `$1:<salt hex>:<log2 N>:<r>:<p>:<base64 of the 64-byte key>` (N = 2^15, r = 8, p = 1, an
//! 8-byte salt), stored in the Secret `kube-system/<node>.node-password.k3rs`. Hashing costs
//! about 32 MiB and tens of milliseconds on purpose: callers run it off the event loop.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ring::rand::{SecureRandom, SystemRandom};
use thiserror::Error;

use crate::token::hex;

const LOG_N: u8 = 15;
const R: u32 = 8;
const P: u32 = 1;
const KEY_LEN: usize = 64;
const SALT_LEN: usize = 8;

/// The Secret's name for a node.
pub fn secret_name(node: &str) -> String {
    format!("{}.node-password.k3rs", node.to_ascii_lowercase())
}

/// The Secret's `type`.
pub const SECRET_TYPE: &str = "k3rs.cattle.io/node-password";

#[derive(Debug, Error, PartialEq, Eq)]
pub enum NodePassError {
    #[error("the stored node password hash is malformed")]
    Malformed,
    #[error("no randomness for the salt")]
    Random,
    #[error("invalid scrypt parameters")]
    Params,
}

/// Hash `password` with a fresh salt.
pub fn hash(password: &str) -> Result<String, NodePassError> {
    let mut salt = [0u8; SALT_LEN];
    SystemRandom::new().fill(&mut salt).map_err(|_| NodePassError::Random)?;
    let key = derive(password, &salt, LOG_N, R, P)?;
    Ok(format!("$1:{}:{LOG_N}:{R}:{P}:{}", hex(&salt), STANDARD.encode(key)))
}

/// Does `password` match the stored `hash`? A malformed hash is an error, not a mismatch.
pub fn verify(password: &str, stored: &str) -> Result<bool, NodePassError> {
    let parts: Vec<&str> = stored.split(':').collect();
    let ["$1", salt, log_n, r, p, key] = parts.as_slice() else {
        return Err(NodePassError::Malformed);
    };
    let salt = unhex(salt).ok_or(NodePassError::Malformed)?;
    let (log_n, r, p) = (
        log_n.parse().map_err(|_| NodePassError::Malformed)?,
        r.parse().map_err(|_| NodePassError::Malformed)?,
        p.parse().map_err(|_| NodePassError::Malformed)?,
    );
    let want = STANDARD.decode(key).map_err(|_| NodePassError::Malformed)?;
    let got = derive(password, &salt, log_n, r, p)?;
    // Compare in constant time: no early exit on the first differing byte.
    let differ = got.iter().zip(&want).fold(0u8, |acc, (a, b)| acc | (a ^ b));
    Ok(got.len() == want.len() && differ == 0)
}

fn derive(
    password: &str,
    salt: &[u8],
    log_n: u8,
    r: u32,
    p: u32,
) -> Result<Vec<u8>, NodePassError> {
    let params = scrypt::Params::new(log_n, r, p, KEY_LEN).map_err(|_| NodePassError::Params)?;
    let mut out = vec![0u8; KEY_LEN];
    scrypt::scrypt(password.as_bytes(), salt, &params, &mut out)
        .map_err(|_| NodePassError::Params)?;
    Ok(out)
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_their_password_only() {
        let h = hash("s3cret").unwrap();
        assert!(h.starts_with("$1:") && h.contains(":15:8:1:"), "{h}");
        assert!(verify("s3cret", &h).unwrap());
        assert!(!verify("other", &h).unwrap());
        assert_ne!(hash("s3cret").unwrap(), h, "salted");
        assert_eq!(verify("x", "$1:zz:15:8:1:AAAA"), Err(NodePassError::Malformed));
        assert_eq!(verify("x", "plain"), Err(NodePassError::Malformed));
    }

    #[test]
    fn secrets_are_named_after_the_lower_cased_node() {
        assert_eq!(secret_name("Node-A"), "node-a.node-password.k3rs");
    }
}
