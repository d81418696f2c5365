//! `registries.yaml` (K3s's schema: `mirrors.<host>.endpoint[]`, `mirrors.<host>.rewrite`,
//! `configs.<host>.auth`, `configs.<host>.tls`; `"*"` for every registry) and the endpoints a
//! pull tries, in order: the mirror's endpoints with their rewrites, then the registry itself
//! without rewrites (unless the default endpoint is disabled).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::Reference;
use crate::ImageError;

/// The whole file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Registries {
    #[serde(default)]
    pub mirrors: BTreeMap<String, Mirror>,
    #[serde(default)]
    pub configs: BTreeMap<String, HostConfig>,
}

/// Where to pull a registry's images from instead.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mirror {
    #[serde(default)]
    pub endpoint: Vec<String>,
    /// Regular expression -> replacement, applied to the repository on mirror endpoints.
    #[serde(default)]
    pub rewrite: BTreeMap<String, String>,
}

/// Credentials and TLS for one host.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostConfig {
    pub auth: Option<Auth>,
    pub tls: Option<Tls>,
}

/// Credentials as `registries.yaml` gives them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Auth {
    pub username: Option<String>,
    pub password: Option<String>,
    /// base64 of `user:password`.
    pub auth: Option<String>,
    #[serde(alias = "identitytoken")]
    pub identity_token: Option<String>,
}

/// TLS settings of a host.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tls {
    pub ca_file: Option<PathBuf>,
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    #[serde(default)]
    pub insecure_skip_verify: bool,
}

/// One place to try.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The API root, `<scheme>://<host>/v2` (or the mirror's own path ending in `/v2`).
    pub api: String,
    /// `host[:port]` of the endpoint: the key of its `configs` entry.
    pub host: String,
    /// The repository to ask for here (rewritten on mirrors).
    pub repository: String,
    pub auth: Option<Auth>,
    pub tls: Option<Tls>,
    /// A mirror (true) or the registry itself.
    pub mirror: bool,
}

impl Registries {
    /// Read `path`; a missing file is an empty configuration.
    pub fn load(path: &Path) -> Result<Self, ImageError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Self::parse(&text)
                .map_err(|reason| ImageError::Registries { path: path.to_owned(), reason }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Registries::default()),
            Err(e) => Err(ImageError::Io { path: path.to_owned(), source: e }),
        }
    }

    /// Parse the file's text; the reason names what is wrong.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.trim().is_empty() {
            return Ok(Registries::default());
        }
        let r: Registries = serde_yaml_ng::from_str(text).map_err(|e| e.to_string())?;
        for (host, mirror) in &r.mirrors {
            for e in &mirror.endpoint {
                split_url(e).ok_or_else(|| {
                    format!("mirrors.{host}.endpoint: {e:?} is not an http:// or https:// URL")
                })?;
            }
            for pattern in mirror.rewrite.keys() {
                regex_lite::Regex::new(pattern)
                    .map_err(|e| format!("mirrors.{host}.rewrite: {pattern:?}: {e}"))?;
            }
        }
        Ok(r)
    }

    fn config(&self, host: &str) -> Option<&HostConfig> {
        self.configs.get(host).or_else(|| self.configs.get("*"))
    }

    /// The endpoints to try for `r`, in order.
    pub fn endpoints(&self, r: &Reference, default_endpoint: bool) -> Vec<Endpoint> {
        let mut out: Vec<Endpoint> = Vec::new();
        let mirror = self.mirrors.get(&r.registry).or_else(|| self.mirrors.get("*"));
        for url in mirror.map(|m| m.endpoint.as_slice()).unwrap_or_default() {
            let Some((scheme, host, path)) = split_url(url) else { continue };
            let repository = mirror.map_or(r.repository.clone(), |m| rewrite(m, &r.repository));
            let config = self.config(&host);
            out.push(Endpoint {
                api: format!("{scheme}://{host}{}", api_path(&path)),
                host,
                repository,
                auth: config.and_then(|c| c.auth.clone()),
                tls: config.and_then(|c| c.tls.clone()),
                mirror: true,
            });
        }
        // The registry itself comes last; `default_endpoint` false leaves it out only for a
        // registry that has mirrors, as K3s's flag does.
        if default_endpoint || out.is_empty() {
            let host = if r.registry == "docker.io" { "registry-1.docker.io" } else { &r.registry };
            // The registry's own configs entry is keyed by the name images use.
            let config = self.config(&r.registry);
            let mut schemes = vec!["https"];
            // A registry on this host may speak plain HTTP, as containerd allows for localhost.
            if is_loopback(host) {
                schemes.push("http");
            }
            for scheme in schemes {
                let api = format!("{scheme}://{host}/v2");
                if out.iter().any(|e| e.api == api) {
                    continue;
                }
                out.push(Endpoint {
                    api,
                    host: r.registry.clone(),
                    repository: r.repository.clone(),
                    auth: config.and_then(|c| c.auth.clone()),
                    tls: config.and_then(|c| c.tls.clone()),
                    mirror: false,
                });
            }
        }
        out
    }
}

/// `host` without its port is `localhost` or a loopback address.
fn is_loopback(host: &str) -> bool {
    let name = match host.rsplit_once(':') {
        Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) => h,
        _ => host,
    };
    let name = name.trim_start_matches('[').trim_end_matches(']');
    name == "localhost" || name.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The first rewrite (in the file's key order) whose pattern matches the repository.
fn rewrite(mirror: &Mirror, repository: &str) -> String {
    for (pattern, replacement) in &mirror.rewrite {
        if let Ok(re) = regex_lite::Regex::new(pattern)
            && re.is_match(repository)
        {
            return re.replace_all(repository, replacement.as_str()).into_owned();
        }
    }
    repository.to_owned()
}

/// `(scheme, host[:port], path)` of an endpoint URL; a bare host means https.
fn split_url(url: &str) -> Option<(String, String, String)> {
    let (scheme, rest) = match url.split_once("://") {
        Some((s, rest)) if s == "http" || s == "https" => (s, rest),
        Some(_) => return None,
        None => ("https", url),
    };
    let (host, path) = rest.split_once('/').map_or((rest, ""), |(h, p)| (h, p));
    if host.is_empty() {
        return None;
    }
    Some((scheme.to_owned(), host.to_owned(), path.trim_end_matches('/').to_owned()))
}

/// A mirror's API root: `/v2`, or its own path with `/v2` added unless it ends so.
fn api_path(path: &str) -> String {
    match path {
        "" => "/v2".to_owned(),
        p if p.ends_with("v2") => format!("/{p}"),
        p => format!("/{p}/v2"),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const FILE: &str = r#"
mirrors:
  docker.io:
    endpoint:
      - "http://127.0.0.1:5000"
      - "https://mirror.example:8443/cache"
    rewrite:
      "^library/(.*)": "mirrored/$1"
  "*":
    endpoint: ["https://all.example"]
configs:
  "127.0.0.1:5000":
    auth:
      username: puller
      password: s3cret
  registry.local:
    tls:
      ca_file: /etc/ssl/local.pem
      insecure_skip_verify: true
"#;

    #[test]
    fn mirrors_come_first_with_rewrites_then_the_registry_itself() {
        let r = Registries::parse(FILE).unwrap();
        let eps = r.endpoints(&Reference::parse("busybox:1"), true);
        let apis: Vec<&str> = eps.iter().map(|e| e.api.as_str()).collect();
        assert_eq!(
            apis,
            [
                "http://127.0.0.1:5000/v2",
                "https://mirror.example:8443/cache/v2",
                "https://registry-1.docker.io/v2"
            ]
        );
        assert_eq!(eps[0].repository, "mirrored/busybox");
        assert_eq!(eps[0].auth.as_ref().unwrap().username.as_deref(), Some("puller"));
        assert_eq!(eps[2].repository, "library/busybox", "no rewrite on the default endpoint");
        assert!(!eps[2].mirror);
        // Without the default endpoint only mirrors are tried (a registry without mirrors
        // still has itself).
        assert_eq!(r.endpoints(&Reference::parse("busybox"), false).len(), 2);
        let none = Registries::default().endpoints(&Reference::parse("reg.example/a"), false);
        assert_eq!(none.len(), 1);
    }

    #[test]
    fn the_wildcard_mirror_and_per_host_tls_apply() {
        let r = Registries::parse(FILE).unwrap();
        let eps = r.endpoints(&Reference::parse("registry.local/app:1"), true);
        assert_eq!(eps[0].api, "https://all.example/v2");
        assert_eq!(eps[1].api, "https://registry.local/v2");
        assert!(eps[1].tls.as_ref().unwrap().insecure_skip_verify);
        // A loopback registry is also tried over plain HTTP.
        let eps = Registries::default().endpoints(&Reference::parse("localhost:5000/a"), true);
        let apis: Vec<&str> = eps.iter().map(|e| e.api.as_str()).collect();
        assert_eq!(apis, ["https://localhost:5000/v2", "http://localhost:5000/v2"]);
    }

    #[test]
    fn bad_files_are_refused_naming_the_problem() {
        assert!(Registries::parse("mirrors: [").is_err());
        let e = Registries::parse("mirrors:\n  x:\n    endpoint: [\"ftp://a\"]\n").unwrap_err();
        assert!(e.contains("mirrors.x.endpoint"), "{e}");
        let e = Registries::parse("mirrors:\n  x:\n    rewrite: {\"(\": \"a\"}\n").unwrap_err();
        assert!(e.contains("mirrors.x.rewrite"), "{e}");
        assert!(Registries::parse("mirror: {}").unwrap_err().contains("unknown field"));
        assert_eq!(Registries::parse("").unwrap(), Registries::default());
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Registries::load(&dir.path().join("none")).unwrap(), Registries::default());
    }
}
