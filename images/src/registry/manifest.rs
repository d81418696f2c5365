//! Manifests as registries serve them (OCI and Docker schema 2, images and indexes), the
//! platform's manifest picked from an index, and the OCI layout files (`oci-layout`,
//! `index.json`) that make a pull's downloaded blobs importable like an archive.

use serde_json::{Value, json};

/// The manifest types a pull accepts, most preferred first.
pub const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
application/vnd.docker.distribution.manifest.list.v2+json, \
application/vnd.oci.image.manifest.v1+json, \
application/vnd.docker.distribution.manifest.v2+json";

/// What a fetched manifest is.
#[derive(Debug, Clone, PartialEq)]
pub enum Manifest {
    /// A list of per-platform manifests.
    Index(Value),
    /// One image: a config and layers.
    Image { config: Descriptor, layers: Vec<Descriptor> },
}

/// A content descriptor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Descriptor {
    pub media_type: String,
    pub digest: String,
    pub size: u64,
}

impl Descriptor {
    fn of(v: &Value) -> Option<Descriptor> {
        let digest = v["digest"].as_str()?;
        if !valid_digest(digest) {
            return None;
        }
        Some(Descriptor {
            media_type: v["mediaType"].as_str().unwrap_or_default().to_owned(),
            digest: digest.to_owned(),
            size: v["size"].as_u64().unwrap_or(0),
        })
    }
}

/// `sha256:` and 64 lowercase hex digits: the only digests the store takes.
pub fn valid_digest(d: &str) -> bool {
    d.strip_prefix("sha256:").is_some_and(|h| {
        h.len() == 64 && h.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// Classify `bytes`, served as `content_type`.
pub fn parse(bytes: &[u8], content_type: &str) -> Result<Manifest, String> {
    let v: Value =
        serde_json::from_slice(bytes).map_err(|e| format!("the manifest is not JSON: {e}"))?;
    let media = v["mediaType"].as_str().unwrap_or(content_type);
    if v["schemaVersion"] == 1 || media.contains("manifest.v1+prettyjws") {
        return Err("schema 1 manifests are not supported".into());
    }
    if v.get("manifests").is_some() {
        return Ok(Manifest::Index(v));
    }
    let config = Descriptor::of(&v["config"]).ok_or("the manifest has no valid config")?;
    let mut layers = Vec::new();
    for l in v["layers"].as_array().into_iter().flatten() {
        if l.get("urls").is_some() && l["mediaType"].as_str().unwrap_or("").contains("foreign") {
            return Err("foreign layers are not supported".into());
        }
        layers.push(Descriptor::of(l).ok_or("a layer has no valid digest")?);
    }
    Ok(Manifest::Image { config, layers })
}

/// Go's `GOARCH` of this machine.
pub fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// The index entry for linux on this machine's architecture.
pub fn pick(index: &Value, arch: &str) -> Option<Descriptor> {
    index["manifests"]
        .as_array()?
        .iter()
        .find(|m| m["platform"]["os"] == "linux" && m["platform"]["architecture"] == arch)
        .and_then(Descriptor::of)
}

/// `oci-layout`'s content.
pub const OCI_LAYOUT: &str = r#"{"imageLayoutVersion":"1.0.0"}"#;

/// `index.json` naming one manifest as `name`.
pub fn layout_index(manifest: &Descriptor, name: &str) -> Vec<u8> {
    json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": manifest.media_type,
            "digest": manifest.digest,
            "size": manifest.size,
            "annotations": {"io.containerd.image.name": name},
        }],
    })
    .to_string()
    .into_bytes()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn d(c: char) -> String {
        format!("sha256:{}", c.to_string().repeat(64))
    }

    #[test]
    fn images_and_indexes_are_told_apart_and_the_platform_picked() {
        let image = json!({"schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {"mediaType": "c", "digest": d('a'), "size": 3},
            "layers": [{"mediaType": "l", "digest": d('b'), "size": 9}]});
        let Manifest::Image { config, layers } = parse(image.to_string().as_bytes(), "").unwrap()
        else {
            panic!("an image")
        };
        assert_eq!(config.digest, d('a'));
        assert_eq!(layers[0].size, 9);
        let index = json!({"schemaVersion": 2, "manifests": [
            {"digest": d('c'), "platform": {"os": "linux", "architecture": "arm64"}},
            {"digest": d('e'), "mediaType": "m", "platform": {"os": "linux", "architecture": "amd64"}}]});
        let Manifest::Index(v) = parse(index.to_string().as_bytes(), "").unwrap() else {
            panic!("an index")
        };
        assert_eq!(pick(&v, "amd64").unwrap().digest, d('e'));
        assert_eq!(pick(&v, "s390x"), None);
    }

    #[test]
    fn bad_manifests_are_refused_with_a_reason() {
        assert!(parse(b"{", "").unwrap_err().contains("not JSON"));
        assert!(parse(br#"{"schemaVersion":1}"#, "").unwrap_err().contains("schema 1"));
        let bad = json!({"config": {"digest": "md5:x"}, "layers": []});
        assert!(parse(bad.to_string().as_bytes(), "").unwrap_err().contains("config"));
        assert!(!valid_digest("sha256:ABC"));
        let idx = String::from_utf8(layout_index(
            &Descriptor { media_type: "m".into(), digest: d('a'), size: 1 },
            "x/y:1",
        ))
        .unwrap();
        assert!(idx.contains("io.containerd.image.name"));
    }
}
