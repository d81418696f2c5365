//! The store's index (`images.json`): each image's id (its config digest), names, layers
//! (diff IDs, bottom first) and size, written atomically.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::{ImageError, io};

/// One image in the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageRecord {
    /// `sha256:<config digest>`.
    pub id: String,
    /// Normalised names (`docker.io/library/nginx:1.25`).
    pub names: Vec<String>,
    /// Diff IDs of the layers, bottom first.
    pub layers: Vec<String>,
    /// Unpacked size in bytes.
    pub size: u64,
    /// The image config (entrypoint, cmd, env, working dir, user).
    pub config: serde_json::Value,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct Index {
    pub(crate) images: Vec<ImageRecord>,
}

impl Index {
    pub(crate) fn read(path: &Path) -> Result<Self, ImageError> {
        match std::fs::read(path) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes).map_err(|e| ImageError::Index(path.to_owned(), e))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Index::default()),
            Err(e) => Err(ImageError::Io { path: path.to_owned(), source: e }),
        }
    }

    /// Write to a temporary file, sync, rename: readers see the old or the new index.
    pub(crate) fn write(&self, path: &Path) -> Result<(), ImageError> {
        let tmp = path.with_extension("json.tmp");
        let bytes =
            serde_json::to_vec_pretty(self).map_err(|e| ImageError::Index(path.to_owned(), e))?;
        let file = std::fs::File::create(&tmp).map_err(io(&tmp))?;
        std::io::Write::write_all(&mut &file, &bytes).map_err(io(&tmp))?;
        file.sync_all().map_err(io(&tmp))?;
        std::fs::rename(&tmp, path).map_err(io(path))
    }

    /// Add `image`; its names leave any other image (a re-tag moves the name).
    pub(crate) fn add(&mut self, image: ImageRecord) {
        for other in &mut self.images {
            other.names.retain(|n| !image.names.contains(n));
        }
        match self.images.iter_mut().find(|i| i.id == image.id) {
            Some(existing) => {
                for n in image.names {
                    if !existing.names.contains(&n) {
                        existing.names.push(n);
                    }
                }
            }
            None => self.images.push(image),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn rec(id: &str, names: &[&str]) -> ImageRecord {
        ImageRecord {
            id: id.into(),
            names: names.iter().map(|s| (*s).into()).collect(),
            layers: vec![],
            size: 0,
            config: serde_json::Value::Null,
        }
    }

    #[test]
    fn names_move_to_the_newest_image_and_the_index_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("images.json");
        let mut idx = Index::read(&path).unwrap();
        idx.add(rec("sha256:a", &["x:1", "x:latest"]));
        idx.add(rec("sha256:b", &["x:latest"]));
        idx.add(rec("sha256:a", &["x:2"]));
        idx.write(&path).unwrap();
        let back = Index::read(&path).unwrap();
        assert_eq!(back.images[0].names, ["x:1", "x:2"]);
        assert_eq!(back.images[1].names, ["x:latest"]);
        std::fs::write(&path, b"{").unwrap();
        assert!(matches!(Index::read(&path), Err(ImageError::Index(..))));
    }
}
