//! Unpacking a layer (an uncompressed tar) into its own directory for overlayfs: entries are
//! kept inside the directory (no `..`, no absolute escapes, links resolved within it), owners
//! and modes preserved, and OCI whiteouts turned into overlayfs's: `.wh.<name>` becomes a 0/0
//! character device `<name>`, `.wh..wh..opq` marks its directory opaque
//! (`trusted.overlay.opaque=y`).

use std::io::Read;
use std::path::{Component, Path, PathBuf};

use crate::{ImageError, InvalidReason, io};

const WHITEOUT: &str = ".wh.";
const OPAQUE: &str = ".wh..wh..opq";

/// The entry's path made relative and checked: `None` for the root itself.
fn clean(path: &Path) -> Result<Option<PathBuf>, InvalidReason> {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(p) => out.push(p),
            Component::CurDir | Component::RootDir => {}
            Component::ParentDir | Component::Prefix(_) => {
                return Err(InvalidReason::Escape(path.display().to_string()));
            }
        }
    }
    Ok((!out.as_os_str().is_empty()).then_some(out))
}

/// Unpack `tar` into `dir` (which must exist); returns the bytes of file content written.
pub fn unpack(tar: impl Read, dir: &Path, archive: &Path) -> Result<u64, ImageError> {
    let invalid = |reason| ImageError::Invalid { archive: archive.to_owned(), reason };
    let mut ar = tar::Archive::new(tar);
    ar.set_preserve_permissions(true);
    ar.set_preserve_ownerships(true);
    ar.set_preserve_mtime(true);
    ar.set_overwrite(true);
    ar.set_unpack_xattrs(false);
    let mut size = 0u64;
    let entries = ar.entries().map_err(io(archive))?;
    for entry in entries {
        let mut entry = entry.map_err(io(archive))?;
        let raw = entry.path().map_err(io(archive))?.into_owned();
        let Some(rel) = clean(&raw).map_err(invalid)? else { continue };
        let name = rel.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let parent = dir.join(rel.parent().unwrap_or(Path::new("")));
        if name == OPAQUE {
            std::fs::create_dir_all(&parent).map_err(io(&parent))?;
            rustix::fs::setxattr(
                &parent,
                "trusted.overlay.opaque",
                b"y",
                rustix::fs::XattrFlags::empty(),
            )
            .map_err(|e| ImageError::Io { path: parent.clone(), source: e.into() })?;
            continue;
        }
        if let Some(hidden) = name.strip_prefix(WHITEOUT) {
            std::fs::create_dir_all(&parent).map_err(io(&parent))?;
            let target = parent.join(hidden);
            let _ = std::fs::remove_file(&target);
            rustix::fs::mknodat(
                rustix::fs::CWD,
                &target,
                rustix::fs::FileType::CharacterDevice,
                rustix::fs::Mode::empty(),
                rustix::fs::makedev(0, 0),
            )
            .map_err(|e| ImageError::Io { path: target.clone(), source: e.into() })?;
            continue;
        }
        size += entry.header().size().unwrap_or(0);
        let inside = entry.unpack_in(dir).map_err(io(&dir.join(&rel)))?;
        if !inside {
            return Err(invalid(InvalidReason::Escape(raw.display().to_string())));
        }
    }
    Ok(size)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::os::unix::fs::FileTypeExt;

    use super::*;

    #[test]
    fn files_unpack_and_whiteouts_become_overlay_ones() {
        let dir = tempfile::tempdir().unwrap();
        let bytes = crate::testing::layer(&[
            ("bin/hello", "hi"),
            ("etc/.wh.old", ""),
            ("var/.wh..wh..opq", ""),
        ]);
        let size = unpack(&bytes[..], dir.path(), Path::new("t.tar")).unwrap();
        assert_eq!(size, 2);
        assert_eq!(std::fs::read(dir.path().join("bin/hello")).unwrap(), b"hi");
        let ft = std::fs::symlink_metadata(dir.path().join("etc/old")).unwrap().file_type();
        assert!(ft.is_char_device());
        let mut buf = [0u8; 4];
        let n = rustix::fs::getxattr(dir.path().join("var"), "trusted.overlay.opaque", &mut buf)
            .unwrap();
        assert_eq!(&buf[..n], b"y");
    }

    #[test]
    fn entries_that_leave_the_layer_are_refused() {
        assert!(matches!(clean(Path::new("../etc/passwd")), Err(InvalidReason::Escape(_))));
        assert_eq!(clean(Path::new("./a/b")).unwrap(), Some(PathBuf::from("a/b")));
        assert_eq!(clean(Path::new("/")).unwrap(), None);
    }
}
