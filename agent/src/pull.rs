//! Pulling an image over the OCI distribution API (awc): the endpoints `registries.yaml` gives
//! are tried in order; a 401's challenge is answered with the host's credentials (Basic, or a
//! Bearer token from the registry's token service); the manifest (an index resolves to this
//! platform's), the config and the layers are downloaded into a staging directory as an OCI
//! layout, which the store then verifies against every digest and imports. Containerd's words
//! for failures, so that `kubectl describe` reads as it does on K3s.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use k3rs_images::registry::auth::{self, Challenge, Credentials};
use k3rs_images::registry::manifest::{self, Descriptor, Manifest};
use k3rs_images::registry::{Endpoint, PullError, Reference, Registries};
use k3rs_images::{ImageRecord, Store};
use serde_json::Value;

/// Connecting to a registry.
const CONNECT: Duration = Duration::from_secs(10);
/// A manifest or token request, whole.
const REQUEST: Duration = Duration::from_secs(30);
/// A blob download, whole; stalls are caught sooner by `STALL`.
const BLOB: Duration = Duration::from_secs(3600);
/// A download that receives nothing for this long fails.
const STALL: Duration = Duration::from_secs(60);
/// The largest manifest or token answer read.
const SMALL: usize = 4 * 1024 * 1024;
/// Debian's CA bundle, trusted for registries besides a host's `ca_file`.
const SYSTEM_CAS: &str = "/etc/ssl/certs/ca-certificates.crt";

/// A finished pull: the stored image and the bytes its blobs took.
#[derive(Debug, Clone)]
pub struct Pulled {
    pub record: ImageRecord,
    pub size: u64,
}

/// Pulls images into a node's store.
#[derive(Debug, Clone)]
pub struct Puller {
    pub registries: Registries,
    pub store: Store,
    /// Try the registry itself after its mirrors (`--disable-default-registry-endpoint` off).
    pub default_endpoint: bool,
}

/// How one endpoint failed.
enum Failure {
    NotFound,
    Other(String),
}

impl From<String> for Failure {
    fn from(e: String) -> Self {
        Failure::Other(e)
    }
}

impl Puller {
    /// Pull `image`; `secrets` are the decoded documents of the pod's pull secrets.
    pub async fn pull(&self, image: &str, secrets: &[Value]) -> Result<Pulled, PullError> {
        let r = Reference::parse(image);
        let endpoints = self.registries.endpoints(&r, self.default_endpoint);
        let full = &r.full;
        // The first failure is reported, as containerd does; "not found" only when every
        // endpoint said so.
        let mut last = None;
        for (i, ep) in endpoints.iter().enumerate() {
            // HTTPS to a loopback registry falls back to plain HTTP, as containerd's does: the
            // HTTPS attempt's failure is not the pull's.
            let plain = ep.api.replacen("https://", "http://", 1);
            let has_fallback =
                endpoints.get(i + 1).is_some_and(|n| n.api == plain && plain != ep.api);
            let creds = ep
                .auth
                .as_ref()
                .and_then(Credentials::from_auth)
                .or_else(|| auth::from_pull_secrets(secrets, &ep.host))
                .or_else(|| auth::from_pull_secrets(secrets, &r.registry));
            match self.pull_from(ep, &r, creds).await {
                Ok(pulled) => return Ok(pulled),
                Err(Failure::NotFound) => {
                    tracing::debug!(image = %full, endpoint = %ep.api, "not found");
                }
                Err(Failure::Other(e)) => {
                    tracing::info!(image = %full, endpoint = %ep.api, error = %e, "pull failed");
                    if !has_fallback {
                        last.get_or_insert(e);
                    }
                }
            }
        }
        Err(match last {
            None => PullError {
                not_found: true,
                message: format!(
                    "failed to pull and unpack image \"{full}\": failed to resolve reference \"{full}\": {full}: not found"
                ),
            },
            Some(e) => PullError {
                not_found: false,
                message: format!("failed to pull and unpack image \"{full}\": {e}"),
            },
        })
    }

    async fn pull_from(
        &self,
        ep: &Endpoint,
        r: &Reference,
        creds: Option<Credentials>,
    ) -> Result<Pulled, Failure> {
        let mut s = Session::new(ep, creds).map_err(Failure::Other)?;
        let full = &r.full;
        let resolve = |e: String| format!("failed to resolve reference \"{full}\": {e}");
        let (bytes, media) = match s.manifest(&r.reference).await.map_err(resolve)? {
            Some(found) => found,
            None => return Err(Failure::NotFound),
        };
        let mut digest = k3rs_images::sha256(&bytes);
        if r.is_digest() && digest != r.reference {
            return Err(Failure::Other(resolve(format!(
                "the manifest's digest is {digest}, not {}",
                r.reference
            ))));
        }
        let mut desc =
            Descriptor { media_type: media.clone(), digest: digest.clone(), size: len(&bytes) };
        let mut bytes = bytes;
        let (config, layers) = match manifest::parse(&bytes, &media).map_err(resolve)? {
            Manifest::Image { config, layers } => (config, layers),
            Manifest::Index(index) => {
                let arch = manifest::host_arch();
                let pick = manifest::pick(&index, arch).ok_or_else(|| {
                    Failure::Other(format!(
                        "no match for platform in manifest {digest}: linux/{arch} not found"
                    ))
                })?;
                let (inner, media) =
                    s.manifest(&pick.digest).await.map_err(resolve)?.ok_or_else(|| {
                        Failure::Other(resolve(format!("{}: not found", pick.digest)))
                    })?;
                let found = k3rs_images::sha256(&inner);
                if found != pick.digest {
                    return Err(Failure::Other(format!(
                        "the manifest {} does not match its digest ({found})",
                        pick.digest
                    )));
                }
                digest = found;
                desc = Descriptor {
                    media_type: media.clone(),
                    digest: digest.clone(),
                    size: len(&inner),
                };
                bytes = inner;
                match manifest::parse(&bytes, &media).map_err(resolve)? {
                    Manifest::Image { config, layers } => (config, layers),
                    Manifest::Index(_) => {
                        return Err(Failure::Other("an index inside an index".into()));
                    }
                }
            }
        };
        let size = config.size + layers.iter().map(|l| l.size).sum::<u64>();
        let names = vec![r.full.clone(), r.by_digest(&digest)];
        // The image is here already (pulled by another name, or imported): only its names change.
        if let Ok(true) = self.store.tag(&config.digest, &names)
            && let Ok(Some(record)) = self.store.find(&r.full)
        {
            return Ok(Pulled { record, size });
        }
        let staging = self.store.staging("pull").map_err(|e| Failure::Other(e.to_string()))?;
        let blobs = staging.path().join("blobs").join("sha256");
        std::fs::create_dir_all(&blobs)
            .map_err(|e| Failure::Other(format!("{}: {e}", blobs.display())))?;
        let write = |name: &Path, data: &[u8]| {
            std::fs::write(name, data)
                .map_err(|e| Failure::Other(format!("{}: {e}", name.display())))
        };
        write(&blob_path(&blobs, &digest), &bytes)?;
        for d in std::iter::once(&config).chain(&layers) {
            s.blob(d, &blob_path(&blobs, &d.digest))
                .await
                .map_err(|e| Failure::Other(format!("failed to copy: {e}")))?;
        }
        write(&staging.path().join("oci-layout"), manifest::OCI_LAYOUT.as_bytes())?;
        write(&staging.path().join("index.json"), &manifest::layout_index(&desc, &r.full))?;
        let store = self.store.clone();
        let source = PathBuf::from(format!("{}/{}@{digest}", ep.api, ep.repository));
        let imported = tokio::task::spawn_blocking(move || {
            let records = store.import_layout(&staging, &source)?;
            drop(staging);
            Ok::<_, k3rs_images::ImageError>(records)
        })
        .await
        .map_err(|e| Failure::Other(format!("the import stopped: {e}")))?
        .map_err(|e| Failure::Other(format!("failed to extract layer: {e}")))?;
        let record = imported
            .into_iter()
            .next()
            .ok_or_else(|| Failure::Other("the pulled layout named no image".into()))?;
        let _ = self.store.tag(&record.id, &names);
        Ok(Pulled { record, size })
    }
}

fn len(bytes: &[u8]) -> u64 {
    u64::try_from(bytes.len()).unwrap_or(u64::MAX)
}

fn blob_path(blobs: &Path, digest: &str) -> PathBuf {
    blobs.join(digest.trim_start_matches("sha256:"))
}

/// The TLS a registry host gets: its `ca_file` and the system's CAs, its client certificate,
/// or no verification at all when `insecure_skip_verify` says so.
fn tls(ep: &Endpoint) -> Result<rustls::ClientConfig, String> {
    let t = ep.tls.clone().unwrap_or_default();
    if t.insecure_skip_verify {
        return k3rs_net::tls::unverified_client_config().map_err(|e| e.to_string());
    }
    let read = |p: &Path| std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()));
    let mut cas = std::fs::read_to_string(SYSTEM_CAS).unwrap_or_default();
    if let Some(ca) = &t.ca_file {
        cas.push('\n');
        cas.push_str(&read(ca)?);
    }
    let identity = match (&t.cert_file, &t.key_file) {
        (Some(c), Some(k)) => Some((read(c)?, read(k)?)),
        _ => None,
    };
    let identity = identity.as_ref().map(|(c, k)| (c.as_str(), k.as_str()));
    k3rs_net::tls::public_client_config(&cas, identity).map_err(|e| e.to_string())
}

/// Requests to one endpoint, with the authorization a challenge earned.
struct Session<'a> {
    client: awc::Client,
    ep: &'a Endpoint,
    creds: Option<Credentials>,
    authorization: Option<String>,
}

impl<'a> Session<'a> {
    fn new(ep: &'a Endpoint, creds: Option<Credentials>) -> Result<Self, String> {
        let connector = awc::Connector::new().rustls_0_23(Arc::new(tls(ep)?)).timeout(CONNECT);
        let client = awc::Client::builder()
            .connector(connector)
            .timeout(REQUEST)
            .add_default_header(("User-Agent", concat!("k3rs/", env!("CARGO_PKG_VERSION"))))
            .finish();
        Ok(Session { client, ep, creds, authorization: None })
    }

    /// GET `path` under the repository, answering one 401 challenge.
    async fn get(
        &mut self,
        path: &str,
        accept: &str,
        timeout: Duration,
    ) -> Result<awc::ClientResponse, String> {
        let url = format!("{}/{}/{path}", self.ep.api, self.ep.repository);
        let mut challenged = false;
        loop {
            let mut req = self.client.get(&url).timeout(timeout).insert_header(("Accept", accept));
            if let Some(a) = &self.authorization {
                req = req.insert_header(("Authorization", a.as_str()));
            }
            let res =
                req.send().await.map_err(|e| format!("failed to do request: GET {url}: {e}"))?;
            if res.status().as_u16() != 401 || challenged {
                return Ok(res);
            }
            challenged = true;
            let header = res
                .headers()
                .get("www-authenticate")
                .and_then(|h| h.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            self.authorization = Some(self.authorize(&header, &url).await?);
        }
    }

    /// The `Authorization` value that answers `challenge`.
    async fn authorize(&self, challenge: &str, url: &str) -> Result<String, String> {
        let unauthorized = || {
            format!(
                "pulling from host {} failed with status code [GET {url}]: 401 Unauthorized",
                self.ep.host
            )
        };
        match auth::parse_challenge(challenge) {
            Some(Challenge::Basic) => {
                self.creds.as_ref().and_then(Credentials::basic_header).ok_or_else(unauthorized)
            }
            Some(Challenge::Bearer { realm, service, scope }) => {
                let (token_url, form) = auth::token_request(
                    &realm,
                    service.as_deref(),
                    scope.as_deref(),
                    &self.ep.repository,
                    self.creds.as_ref(),
                );
                let mut req = self.client.request(
                    if form.is_some() { awc::http::Method::POST } else { awc::http::Method::GET },
                    &token_url,
                );
                if let Some(basic) = self.creds.as_ref().and_then(Credentials::basic_header) {
                    req = req.insert_header(("Authorization", basic));
                }
                let sent = match form {
                    Some(f) => {
                        req.insert_header(("Content-Type", "application/x-www-form-urlencoded"))
                            .send_body(f)
                            .await
                    }
                    None => req.send().await,
                };
                let mut res =
                    sent.map_err(|e| format!("failed to fetch a token: {token_url}: {e}"))?;
                let code = res.status().as_u16();
                let body = res
                    .body()
                    .limit(SMALL)
                    .await
                    .map_err(|e| format!("failed to fetch a token: {e}"))?;
                if !(200..300).contains(&code) {
                    return Err(format!("failed to fetch a token from {realm}: {}", res.status()));
                }
                let answer: Value = serde_json::from_slice(&body)
                    .map_err(|e| format!("the token answer is not JSON: {e}"))?;
                let token = auth::token_from(&answer).ok_or("the token answer has no token")?;
                Ok(format!("Bearer {token}"))
            }
            None => Err(unauthorized()),
        }
    }

    /// The manifest `reference` names: its bytes and media type, or None when not found.
    async fn manifest(&mut self, reference: &str) -> Result<Option<(Vec<u8>, String)>, String> {
        let mut res =
            self.get(&format!("manifests/{reference}"), manifest::ACCEPT, REQUEST).await?;
        let status = res.status();
        if status.as_u16() == 404 {
            return Ok(None);
        }
        if !status.is_success() {
            return Err(format!(
                "pulling from host {} failed with status code [manifests {reference}]: {status}",
                self.ep.host
            ));
        }
        let media = res
            .headers()
            .get("content-type")
            .and_then(|h| h.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let body =
            res.body().limit(SMALL).await.map_err(|e| format!("reading the manifest: {e}"))?;
        Ok(Some((body.to_vec(), media)))
    }

    /// Download blob `d` into `file` (the store checks its digest on import).
    async fn blob(&mut self, d: &Descriptor, file: &Path) -> Result<(), String> {
        let mut res = self.get(&format!("blobs/{}", d.digest), "*/*", BLOB).await?;
        if !res.status().is_success() {
            return Err(format!("GET blob {}: {}", d.digest, res.status()));
        }
        let mut out =
            std::fs::File::create(file).map_err(|e| format!("{}: {e}", file.display()))?;
        loop {
            match tokio::time::timeout(STALL, res.next()).await {
                Err(_) => {
                    return Err(format!("blob {}: no data for {}s", d.digest, STALL.as_secs()));
                }
                Ok(None) => break,
                Ok(Some(Err(e))) => return Err(format!("blob {}: {e}", d.digest)),
                Ok(Some(Ok(chunk))) => {
                    out.write_all(&chunk).map_err(|e| format!("{}: {e}", file.display()))?
                }
            }
        }
        Ok(())
    }
}

/// What a container's image needs before it can start, by its pull policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageAction {
    /// Use the stored image.
    Present,
    Pull,
    /// Missing, and the policy is `Never`.
    NeverPull,
}

/// The kubelet's rule: `Always` pulls; `IfNotPresent` pulls when missing; `Never` never does.
/// No policy means `Always` for `:latest` or untagged images, else `IfNotPresent`.
pub fn action(container: &Value, present: bool) -> ImageAction {
    let image = container["image"].as_str().unwrap_or("");
    let policy = match container["imagePullPolicy"].as_str() {
        Some(p) => p,
        None if Reference::parse(image).reference == "latest" => "Always",
        None => "IfNotPresent",
    };
    match (policy, present) {
        ("Always", _) => ImageAction::Pull,
        (_, true) => ImageAction::Present,
        ("Never", false) => ImageAction::NeverPull,
        (_, false) => ImageAction::Pull,
    }
}

/// The docker config documents in pull secrets (`.dockerconfigjson`, or the older
/// `.dockercfg`), decoded from the secrets' `data`; secrets without one are skipped.
pub fn secret_documents(secrets: &[Value]) -> Vec<Value> {
    use base64::Engine;
    secrets
        .iter()
        .filter_map(|s| {
            let data = &s["data"];
            let b64 = data[".dockerconfigjson"].as_str().or(data[".dockercfg"].as_str())?;
            let bytes = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
            serde_json::from_slice(&bytes).ok()
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use base64::Engine;
    use serde_json::json;

    #[test]
    fn pull_policies_decide_as_the_kubelet_does() {
        let c = |image: &str, policy: Option<&str>| {
            let mut c = json!({"image": image});
            if let Some(p) = policy {
                c["imagePullPolicy"] = json!(p);
            }
            c
        };
        assert_eq!(action(&c("a:1", Some("Always")), true), ImageAction::Pull);
        assert_eq!(action(&c("a:1", Some("IfNotPresent")), true), ImageAction::Present);
        assert_eq!(action(&c("a:1", Some("IfNotPresent")), false), ImageAction::Pull);
        assert_eq!(action(&c("a:1", Some("Never")), false), ImageAction::NeverPull);
        assert_eq!(action(&c("a:1", Some("Never")), true), ImageAction::Present);
        assert_eq!(action(&c("a", None), true), ImageAction::Pull, "untagged means Always");
        assert_eq!(action(&c("a:1", None), true), ImageAction::Present);
    }

    #[test]
    fn pull_secrets_decode_both_formats() {
        let enc = |v: Value| base64::engine::general_purpose::STANDARD.encode(v.to_string());
        let secrets = [
            json!({"data": {".dockerconfigjson": enc(json!({"auths": {"r:1": {"auth": "eA=="}}}))}}),
            json!({"data": {".dockercfg": enc(json!({"r:2": {"username": "u"}}))}}),
            json!({"data": {"other": "x"}}),
        ];
        let docs = secret_documents(&secrets);
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[1]["r:2"]["username"], "u");
    }
}
