//! Reading image archives: `docker save` archives (`manifest.json`, configs, layer tars) and
//! OCI image layouts (`oci-layout`, `index.json`, `blobs/sha256/...`), as plain or gzip/zstd
//! compressed files. The outer archive is extracted into a staging directory; then every blob
//! named by its digest is checked against it, and every layer's uncompressed content against
//! the diff ID its config lists. Nothing here touches the store.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::{ImageError, InvalidReason, hex, io, reference};

/// How a file is compressed, from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    pub fn detect(path: &Path) -> Result<Self, ImageError> {
        let mut head = [0u8; 4];
        let mut f = File::open(path).map_err(io(path))?;
        let n = f.read(&mut head).map_err(io(path))?;
        Ok(match &head[..n] {
            [0x1f, 0x8b, ..] => Compression::Gzip,
            [0x28, 0xb5, 0x2f, 0xfd] => Compression::Zstd,
            _ => Compression::None,
        })
    }

    /// A reader of `path`'s uncompressed content.
    pub fn open(path: &Path) -> Result<Box<dyn Read>, ImageError> {
        let file = BufReader::new(File::open(path).map_err(io(path))?);
        Ok(match Compression::detect(path)? {
            Compression::None => Box::new(file),
            Compression::Gzip => Box::new(flate2::read::GzDecoder::new(file)),
            Compression::Zstd => {
                Box::new(ruzstd::decoding::StreamingDecoder::new(file).map_err(|e| {
                    ImageError::Io {
                        path: path.to_owned(),
                        source: std::io::Error::other(e.to_string()),
                    }
                })?)
            }
        })
    }
}

/// One layer of a staged image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StagedLayer {
    /// `sha256:` of the uncompressed tar.
    pub diff_id: String,
    /// The (possibly compressed) layer file in the staging directory.
    pub file: PathBuf,
}

/// A verified image in the staging directory.
#[derive(Debug, Clone, PartialEq)]
pub struct StagedImage {
    pub names: Vec<String>,
    /// `sha256:` of the config: the image id.
    pub id: String,
    pub config: Value,
    pub layers: Vec<StagedLayer>,
}

/// `sha256:` of everything `reader` yields.
fn digest_of(mut reader: impl Read, path: &Path) -> Result<String, ImageError> {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = reader.read(&mut buf).map_err(io(path))?;
        if n == 0 {
            break;
        }
        ctx.update(&buf[..n]);
    }
    Ok(format!("sha256:{}", hex(ctx.finish().as_ref())))
}

/// Extract the archive at `path` into `staging` and verify the images in it.
pub fn stage(path: &Path, staging: &Path) -> Result<Vec<StagedImage>, ImageError> {
    let reader = Compression::open(path)?;
    let mut outer = tar::Archive::new(reader);
    outer.set_overwrite(true);
    let damaged = |e: std::io::Error| ImageError::Invalid {
        archive: path.to_owned(),
        reason: InvalidReason::Other(format!("the tarball is damaged or truncated ({e})")),
    };
    for entry in outer.entries().map_err(damaged)? {
        let mut entry = entry.map_err(damaged)?;
        let raw = entry.path().map_err(damaged)?.into_owned();
        if !entry.unpack_in(staging).map_err(damaged)? {
            return Err(ImageError::Invalid {
                archive: path.to_owned(),
                reason: InvalidReason::Escape(raw.display().to_string()),
            });
        }
    }
    if staging.join("manifest.json").exists() {
        docker(path, staging)
    } else if staging.join("oci-layout").exists() {
        oci(path, staging)
    } else {
        Err(ImageError::NotAnArchive(path.to_owned()))
    }
}

fn read_json(archive: &Path, file: &Path, what: &str) -> Result<(Vec<u8>, Value), ImageError> {
    let bytes = std::fs::read(file)
        .map_err(|_| ImageError::Missing { archive: archive.to_owned(), what: what.to_owned() })?;
    let value = serde_json::from_slice(&bytes).map_err(|source| ImageError::Json {
        archive: archive.to_owned(),
        what: what.to_owned(),
        source,
    })?;
    Ok((bytes, value))
}

/// The digest a file's name claims (`<hex>.json`, `blobs/sha256/<hex>`, `<hex>/layer.tar`).
fn claimed(name: &str) -> Option<String> {
    let stem = name.trim_end_matches(".json").trim_end_matches("/layer.tar");
    let hexpart = stem.rsplit('/').next()?;
    (hexpart.len() == 64 && hexpart.chars().all(|c| c.is_ascii_hexdigit()))
        .then(|| format!("sha256:{hexpart}"))
}

fn check(archive: &Path, what: &str, expected: &str, found: &str) -> Result<(), ImageError> {
    if expected == found {
        return Ok(());
    }
    Err(ImageError::Digest {
        archive: archive.to_owned(),
        what: what.to_owned(),
        expected: expected.to_owned(),
        found: found.to_owned(),
    })
}

fn diff_ids(config: &Value) -> Vec<String> {
    config["rootfs"]["diff_ids"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|d| d.as_str().map(str::to_owned))
        .collect()
}

/// Check `file`'s uncompressed content against `diff_id`.
fn verify_layer(
    archive: &Path,
    rel: &str,
    file: &Path,
    diff_id: Option<&String>,
) -> Result<String, ImageError> {
    let found = digest_of(Compression::open(file)?, file)?;
    let expected = diff_id.ok_or_else(|| ImageError::Invalid {
        archive: archive.to_owned(),
        reason: InvalidReason::Other("the config lists fewer layers than the manifest".into()),
    })?;
    check(archive, &format!("layer {rel}"), expected, &found)?;
    Ok(found)
}

/// `docker save`: `manifest.json` lists each image's config, tags and layer files.
fn docker(archive: &Path, staging: &Path) -> Result<Vec<StagedImage>, ImageError> {
    let (_, manifest) = read_json(archive, &staging.join("manifest.json"), "manifest.json")?;
    let mut images = Vec::new();
    for entry in manifest.as_array().into_iter().flatten() {
        let config_name = entry["Config"].as_str().unwrap_or_default();
        let (bytes, config) = read_json(archive, &staging.join(config_name), config_name)?;
        let id = crate::sha256(&bytes);
        if let Some(want) = claimed(config_name) {
            check(archive, config_name, &want, &id)?;
        }
        let ids = diff_ids(&config);
        let mut layers = Vec::new();
        for (i, l) in entry["Layers"].as_array().into_iter().flatten().enumerate() {
            let rel = l.as_str().unwrap_or_default();
            let file = staging.join(rel);
            if !file.is_file() {
                return Err(ImageError::Missing {
                    archive: archive.to_owned(),
                    what: format!("layer {rel}"),
                });
            }
            let diff_id = verify_layer(archive, rel, &file, ids.get(i))?;
            layers.push(StagedLayer { diff_id, file });
        }
        if layers.len() != ids.len() {
            return Err(ImageError::Invalid {
                archive: archive.to_owned(),
                reason: InvalidReason::Other(
                    "the manifest lists fewer layers than the config".into(),
                ),
            });
        }
        let names = entry["RepoTags"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t.as_str().map(reference::normalize))
            .collect();
        images.push(StagedImage { names, id, config, layers });
    }
    Ok(images)
}

/// A blob of an OCI layout, checked against its digest.
fn blob(archive: &Path, staging: &Path, digest: &str) -> Result<PathBuf, ImageError> {
    let (alg, hexpart) = digest.split_once(':').unwrap_or(("", digest));
    if alg != "sha256" || hexpart.len() != 64 || !hexpart.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(ImageError::Invalid {
            archive: archive.to_owned(),
            reason: InvalidReason::Other(format!("unsupported digest {digest:?}")),
        });
    }
    let file = staging.join("blobs").join(alg).join(hexpart);
    let f = File::open(&file).map_err(|_| ImageError::Missing {
        archive: archive.to_owned(),
        what: format!("blob {digest}"),
    })?;
    let found = digest_of(BufReader::new(f), &file)?;
    check(archive, &format!("blob {digest}"), digest, &found)?;
    Ok(file)
}

fn is_index(media: &str) -> bool {
    media.contains("image.index") || media.contains("manifest.list")
}

/// Go's `GOARCH` of this machine.
fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// An OCI layout: `index.json` names manifests (or nested indexes, of which this platform's
/// manifest is taken); each manifest names a config and layer blobs.
pub(crate) fn oci(archive: &Path, staging: &Path) -> Result<Vec<StagedImage>, ImageError> {
    let (_, index) = read_json(archive, &staging.join("index.json"), "index.json")?;
    let mut images = Vec::new();
    for desc in index["manifests"].as_array().into_iter().flatten() {
        let annotations = &desc["annotations"];
        let name = annotations["io.containerd.image.name"].as_str().or(
            annotations["org.opencontainers.image.ref.name"]
                .as_str()
                .filter(|n| n.contains('/') || n.contains(':')),
        );
        let mut desc = desc.clone();
        if is_index(desc["mediaType"].as_str().unwrap_or_default()) {
            let file = blob(archive, staging, desc["digest"].as_str().unwrap_or_default())?;
            let (_, nested) = read_json(archive, &file, "a nested index")?;
            let manifests = nested["manifests"].as_array().cloned().unwrap_or_default();
            let pick = manifests
                .iter()
                .find(|m| {
                    m["platform"]["os"] == "linux" && m["platform"]["architecture"] == host_arch()
                })
                .or(manifests.first())
                .cloned();
            desc = pick.ok_or_else(|| ImageError::Missing {
                archive: archive.to_owned(),
                what: "a manifest for this platform".into(),
            })?;
        }
        let file = blob(archive, staging, desc["digest"].as_str().unwrap_or_default())?;
        let (_, manifest) = read_json(archive, &file, "a manifest")?;
        let config_file =
            blob(archive, staging, manifest["config"]["digest"].as_str().unwrap_or_default())?;
        let (bytes, config) = read_json(archive, &config_file, "a config")?;
        let ids = diff_ids(&config);
        let mut layers = Vec::new();
        for (i, l) in manifest["layers"].as_array().into_iter().flatten().enumerate() {
            let digest = l["digest"].as_str().unwrap_or_default();
            let file = blob(archive, staging, digest)?;
            let diff_id = verify_layer(archive, digest, &file, ids.get(i))?;
            layers.push(StagedLayer { diff_id, file });
        }
        images.push(StagedImage {
            names: name.map(reference::normalize).into_iter().collect(),
            id: crate::sha256(&bytes),
            config,
            layers,
        });
    }
    Ok(images)
}
