//! k3rs-images: the node's image store, as K3s's air-gap images work: tarballs (`docker save`
//! archives or OCI image layouts, optionally gzip- or zstd-compressed) are imported into a
//! content-addressed store and each layer is unpacked once into its own directory, ready to be
//! the lower layers of a container's overlayfs root.
//!
//! Owns: reading and verifying archives (`archive`: every blob against its digest, every layer
//! against its config's diff ID), unpacking layers with overlayfs whiteouts (`layer`), image
//! names (`reference`), and the store's files (`store`, `index`).
//! Registries: the pull protocol's logic (`registry`: endpoints from `registries.yaml`,
//! authentication, manifests); a pull's blobs are imported as an OCI layout.
//! Does not: speak HTTP (the agent does), run containers, or know about actors.
//! Invariant: an import either completes or leaves the store as it was; nothing unverified is
//! ever visible in it.

pub mod archive;
pub mod index;
pub mod layer;
pub mod reference;
pub mod registry;
pub mod store;
pub mod testing;

pub use index::ImageRecord;
pub use store::Store;

use std::path::PathBuf;

/// Why an import or a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("{}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{}: not an image archive (no manifest.json or oci-layout)", .0.display())]
    NotAnArchive(PathBuf),
    #[error("{}: {what} is missing from the archive", archive.display())]
    Missing { archive: PathBuf, what: String },
    #[error("{}: {what} does not match its digest (expected {expected}, found {found})", archive.display())]
    Digest { archive: PathBuf, what: String, expected: String, found: String },
    #[error("{}: {what} is not valid JSON", archive.display())]
    Json { archive: PathBuf, what: String, source: serde_json::Error },
    #[error("{}: {reason}", archive.display())]
    Invalid { archive: PathBuf, reason: InvalidReason },
    #[error("{}: {reason}", path.display())]
    Registries { path: PathBuf, reason: String },
    #[error("the image store index {} is damaged", .0.display())]
    Index(PathBuf, #[source] serde_json::Error),
}

/// What is wrong inside an archive.
#[derive(Debug, thiserror::Error)]
pub enum InvalidReason {
    #[error("layer entry {0:?} leaves the layer")]
    Escape(String),
    #[error("{0}")]
    Other(String),
}

pub(crate) fn io(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> ImageError + '_ {
    move |source| ImageError::Io { path: path.to_owned(), source }
}

/// `sha256:<hex>` of `bytes`.
pub fn sha256(bytes: &[u8]) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, bytes);
    format!("sha256:{}", hex(d.as_ref()))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
