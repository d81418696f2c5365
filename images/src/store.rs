//! The store on disk (`<data-dir>/agent/image-store/`): `layers/<diff-id hex>/` holds each
//! unpacked layer (with `<hex>.size` beside it), `images.json` the index, `tmp/` the staging
//! area of imports in progress. An import stages and verifies everything, unpacks new layers
//! into staging, renames them into place and only then writes the index; a failure at any
//! point leaves the store as it was (staging is removed). Imports are serialised by a lock.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::archive::{Compression, StagedImage, stage};
use crate::index::{ImageRecord, Index};
use crate::{ImageError, io, layer, reference};

/// A node's image store.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

/// A staging directory, removed however the import or pull ends.
#[derive(Debug)]
pub struct Staging(PathBuf);

impl Staging {
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Tarball names the air-gap directory imports.
fn is_tarball(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    [".tar", ".tar.gz", ".tgz", ".tar.zst", ".tar.zstd"].iter().any(|ext| name.ends_with(ext))
}

impl Store {
    /// Open (creating) the store at `root`.
    pub fn open(root: &Path) -> Result<Self, ImageError> {
        for dir in [root.join("layers"), root.join("tmp")] {
            std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        }
        Ok(Store { root: root.to_owned() })
    }

    fn index_path(&self) -> PathBuf {
        self.root.join("images.json")
    }

    /// The directory of an unpacked layer.
    pub fn layer_dir(&self, diff_id: &str) -> PathBuf {
        self.root.join("layers").join(diff_id.trim_start_matches("sha256:"))
    }

    /// Every image.
    pub fn list(&self) -> Result<Vec<ImageRecord>, ImageError> {
        Ok(Index::read(&self.index_path())?.images)
    }

    /// The image a pod names (`nginx:1.25`, a full name, or an id).
    pub fn find(&self, name: &str) -> Result<Option<ImageRecord>, ImageError> {
        let full = reference::normalize(name);
        Ok(self.list()?.into_iter().find(|i| i.id == name || i.names.contains(&full)))
    }

    /// Import every tarball in `dir` (K3s's air-gap images directory); each result separately.
    pub fn import_dir(&self, dir: &Path) -> Vec<(PathBuf, Result<Vec<ImageRecord>, ImageError>)> {
        let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
        let mut files: Vec<PathBuf> =
            entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| is_tarball(p)).collect();
        files.sort();
        files
            .into_iter()
            .map(|f| {
                let r = self.import(&f);
                (f, r)
            })
            .collect()
    }

    /// Take the store's lock until the returned file is dropped: imports are serialised.
    fn lock(&self) -> Result<std::fs::File, ImageError> {
        let lock_path = self.root.join("lock");
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io(&lock_path))?;
        rustix::fs::flock(&lock, rustix::fs::FlockOperation::LockExclusive)
            .map_err(|e| ImageError::Io { path: lock_path.clone(), source: e.into() })?;
        Ok(lock)
    }

    /// A new, empty staging directory under the store's `tmp/`.
    pub fn staging(&self, what: &str) -> Result<Staging, ImageError> {
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let unique =
            format!("{what}-{}-{}", std::process::id(), SEQ.fetch_add(1, Ordering::Relaxed));
        let staging = Staging(self.root.join("tmp").join(unique));
        std::fs::create_dir_all(&staging.0).map_err(io(&staging.0))?;
        Ok(staging)
    }

    /// Import the archive at `path`; returns the images it holds, as stored.
    pub fn import(&self, path: &Path) -> Result<Vec<ImageRecord>, ImageError> {
        let _lock = self.lock()?;
        let staging = self.staging("import")?;
        let extract = staging.0.join("archive");
        std::fs::create_dir_all(&extract).map_err(io(&extract))?;
        let images = stage(path, &extract)?;
        self.commit(images, &staging, path)
    }

    /// Import the OCI layout a pull wrote into `staging` (`oci-layout`, `index.json`,
    /// `blobs/sha256/`), verified as an archive's would be; `source` names it in errors.
    pub fn import_layout(
        &self,
        staging: &Staging,
        source: &Path,
    ) -> Result<Vec<ImageRecord>, ImageError> {
        let _lock = self.lock()?;
        let images = crate::archive::oci(source, &staging.0)?;
        self.commit(images, staging, source)
    }

    /// Add `names` to the image `id` (they leave any other image); false if there is none.
    pub fn tag(&self, id: &str, names: &[String]) -> Result<bool, ImageError> {
        let _lock = self.lock()?;
        let mut index = Index::read(&self.index_path())?;
        let Some(record) = index.images.iter().find(|i| i.id == id).cloned() else {
            return Ok(false);
        };
        index.add(ImageRecord { names: names.to_vec(), ..record });
        index.write(&self.index_path())?;
        Ok(true)
    }

    /// Unpack the staged images' new layers, move them into place, then write the index.
    fn commit(
        &self,
        images: Vec<StagedImage>,
        staging: &Staging,
        path: &Path,
    ) -> Result<Vec<ImageRecord>, ImageError> {
        let mut new_layers = Vec::new();
        for image in &images {
            for l in &image.layers {
                let target = self.layer_dir(&l.diff_id);
                if target.exists() || new_layers.iter().any(|(_, t, _)| *t == target) {
                    continue;
                }
                let dir = staging.0.join("layers").join(l.diff_id.trim_start_matches("sha256:"));
                std::fs::create_dir_all(&dir).map_err(io(&dir))?;
                let size = layer::unpack(Compression::open(&l.file)?, &dir, path)?;
                new_layers.push((dir, target, size));
            }
        }
        for (dir, target, size) in &new_layers {
            std::fs::write(target.with_extension("size"), size.to_string())
                .map_err(io(&target.with_extension("size")))?;
            std::fs::rename(dir, target).map_err(io(target))?;
        }
        let mut index = Index::read(&self.index_path())?;
        let records: Vec<ImageRecord> = images.into_iter().map(|i| self.record(i)).collect();
        for r in &records {
            index.add(r.clone());
        }
        index.write(&self.index_path())?;
        tracing::info!(source = %path.display(), images = records.len(), "imported images");
        Ok(records)
    }

    fn record(&self, image: StagedImage) -> ImageRecord {
        let layers: Vec<String> = image.layers.iter().map(|l| l.diff_id.clone()).collect();
        let size = layers
            .iter()
            .filter_map(|d| std::fs::read_to_string(self.layer_dir(d).with_extension("size")).ok())
            .filter_map(|s| s.trim().parse::<u64>().ok())
            .sum();
        ImageRecord {
            id: image.id,
            names: image.names,
            layers,
            size,
            config: image.config["config"].clone(),
        }
    }
}
