//! Registry authentication: the `WWW-Authenticate` challenge of a 401 (`Basic`, or `Bearer`
//! with a token service), the credentials for a host (from `registries.yaml`, or from a pod's
//! `imagePullSecrets`: `.dockerconfigjson` / `.dockercfg`), and the token request.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;

use super::config::Auth;

/// What a registry asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    Basic,
    Bearer { realm: String, service: Option<String>, scope: Option<String> },
}

/// Credentials for one host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    Basic {
        username: String,
        password: String,
    },
    /// An identity (refresh) token for the token service.
    IdentityToken(String),
}

impl Credentials {
    /// From a `registries.yaml` auth entry (`auth` is base64 of `user:password`).
    pub fn from_auth(auth: &Auth) -> Option<Credentials> {
        if let Some(token) = auth.identity_token.as_ref().filter(|t| !t.is_empty()) {
            return Some(Credentials::IdentityToken(token.clone()));
        }
        if let (Some(u), Some(p)) = (&auth.username, &auth.password) {
            return Some(Credentials::Basic { username: u.clone(), password: p.clone() });
        }
        auth.auth.as_deref().and_then(decode_auth)
    }

    /// The `Authorization` header value for `Basic` credentials.
    pub fn basic_header(&self) -> Option<String> {
        match self {
            Credentials::Basic { username, password } => {
                Some(format!("Basic {}", STANDARD.encode(format!("{username}:{password}"))))
            }
            Credentials::IdentityToken(_) => None,
        }
    }
}

fn decode_auth(b64: &str) -> Option<Credentials> {
    let bytes = STANDARD.decode(b64.trim()).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (u, p) = text.split_once(':')?;
    Some(Credentials::Basic { username: u.to_owned(), password: p.to_owned() })
}

/// Parse a `WWW-Authenticate` header.
pub fn parse_challenge(header: &str) -> Option<Challenge> {
    let header = header.trim();
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    if scheme.eq_ignore_ascii_case("basic") {
        return Some(Challenge::Basic);
    }
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let params = params(rest);
    let get =
        |k: &str| params.iter().find(|(key, _)| key.eq_ignore_ascii_case(k)).map(|p| p.1.clone());
    Some(Challenge::Bearer { realm: get("realm")?, service: get("service"), scope: get("scope") })
}

/// `key="value", key=value` pairs; quoted values may hold commas and escaped quotes.
fn params(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if key.is_empty() {
            return out;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            while let Some(c) = chars.peek().copied().filter(|c| *c != ',') {
                value.push(c);
                chars.next();
            }
        }
        out.push((key.trim().to_owned(), value.trim().to_owned()));
    }
}

/// The token request for `repository`: the URL (GET), or the URL and the form (POST, with an
/// identity token).
pub fn token_request(
    realm: &str,
    service: Option<&str>,
    scope: Option<&str>,
    repository: &str,
    credentials: Option<&Credentials>,
) -> (String, Option<String>) {
    let default_scope = format!("repository:{repository}:pull");
    let scope = scope.unwrap_or(&default_scope);
    let mut query = Vec::new();
    if let Some(s) = service {
        query.push(format!("service={}", encode(s)));
    }
    query.push(format!("scope={}", encode(scope)));
    if let Some(Credentials::IdentityToken(token)) = credentials {
        query.push("grant_type=refresh_token".into());
        query.push(format!("refresh_token={}", encode(token)));
        query.push("client_id=k3rs".into());
        return (realm.to_owned(), Some(query.join("&")));
    }
    let sep = if realm.contains('?') { '&' } else { '?' };
    (format!("{realm}{sep}{}", query.join("&")), None)
}

/// The token in a token service's answer (`token`, or OAuth2's `access_token`).
pub fn token_from(answer: &Value) -> Option<String> {
    answer["token"]
        .as_str()
        .or(answer["access_token"].as_str())
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
}

/// Percent-encoding of a query value.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            b => format!("%{b:02X}"),
        })
        .collect()
}

/// The host a docker config key names (`https://index.docker.io/v1/`, `registry:5000`).
fn key_host(key: &str) -> String {
    let rest = key.split_once("://").map_or(key, |(_, r)| r);
    let host = rest.split('/').next().unwrap_or(rest);
    match host {
        "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => "docker.io",
        h => h,
    }
    .to_owned()
}

/// Credentials for `host` in pull secrets' data (each a `.dockerconfigjson` or `.dockercfg`
/// document, decoded): the first secret with an entry for the host wins.
pub fn from_pull_secrets(secrets: &[Value], host: &str) -> Option<Credentials> {
    let want = key_host(host);
    for doc in secrets {
        let auths = doc.get("auths").unwrap_or(doc);
        let Some(map) = auths.as_object() else { continue };
        for (key, entry) in map {
            if key_host(key) != want {
                continue;
            }
            let text = |k: &str| entry[k].as_str().map(str::to_owned);
            let auth = Auth {
                username: text("username"),
                password: text("password"),
                auth: text("auth"),
                identity_token: text("identitytoken"),
            };
            if let Some(c) = Credentials::from_auth(&auth) {
                return Some(c);
            }
        }
    }
    None
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn challenges_parse_with_quoted_commas() {
        assert_eq!(parse_challenge("Basic realm=\"r\""), Some(Challenge::Basic));
        let c = parse_challenge(
            r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push""#,
        )
        .unwrap();
        assert_eq!(
            c,
            Challenge::Bearer {
                realm: "https://auth.example/token".into(),
                service: Some("registry.example".into()),
                scope: Some("repository:a/b:pull,push".into()),
            }
        );
        assert_eq!(parse_challenge("Negotiate x"), None);
        assert_eq!(parse_challenge("Bearer service=x"), None, "a realm is needed");
    }

    #[test]
    fn token_requests_carry_service_scope_and_identity_tokens() {
        let (url, form) =
            token_request("https://auth.example/token", Some("reg"), None, "library/busybox", None);
        assert_eq!(
            url,
            "https://auth.example/token?service=reg&scope=repository%3Alibrary%2Fbusybox%3Apull"
        );
        assert_eq!(form, None);
        let t = Credentials::IdentityToken("tok".into());
        let (url, form) = token_request("https://a/t", None, Some("s"), "r", Some(&t));
        assert_eq!(url, "https://a/t");
        assert_eq!(
            form.unwrap(),
            "scope=s&grant_type=refresh_token&refresh_token=tok&client_id=k3rs"
        );
        assert_eq!(token_from(&json!({"access_token": "x"})).as_deref(), Some("x"));
        assert_eq!(token_from(&json!({"token": ""})), None);
    }

    #[test]
    fn credentials_come_from_auth_entries_and_pull_secrets() {
        let auth = Auth { auth: Some(STANDARD.encode("u:p:q")), ..Auth::default() };
        let c = Credentials::from_auth(&auth).unwrap();
        assert_eq!(c, Credentials::Basic { username: "u".into(), password: "p:q".into() });
        assert_eq!(c.basic_header().unwrap(), format!("Basic {}", STANDARD.encode("u:p:q")));
        let secrets = [
            json!({"auths": {"other:5000": {"username": "o", "password": "x"}}}),
            json!({"auths": {"https://index.docker.io/v1/": {"auth": STANDARD.encode("d:pw")}}}),
            json!({"127.0.0.1:5000": {"username": "old", "password": "cfg"}}),
        ];
        assert_eq!(
            from_pull_secrets(&secrets, "docker.io"),
            Some(Credentials::Basic { username: "d".into(), password: "pw".into() })
        );
        assert_eq!(
            from_pull_secrets(&secrets, "127.0.0.1:5000"),
            Some(Credentials::Basic { username: "old".into(), password: "cfg".into() })
        );
        assert_eq!(from_pull_secrets(&secrets, "nowhere"), None);
    }
}
