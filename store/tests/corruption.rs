//! Damaged datastore files are found when the store opens: a clear error naming the file, never
//! a panic, and never a store that quietly serves wrong data.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use k3rs_store::backend::Backend;
use k3rs_store::{Datastore, KeyRange, ListRequest, Options, StoreError};

const KEYS: u32 = 2000;

type Open = fn(&Path) -> Result<Arc<dyn Backend>, StoreError>;

fn open_sled(dir: &Path) -> Result<Arc<dyn Backend>, StoreError> {
    Ok(Arc::new(k3rs_store::backend::sled::SledBackend::open(&dir.join("sled"))?))
}

fn open_sqlite(dir: &Path) -> Result<Arc<dyn Backend>, StoreError> {
    Ok(Arc::new(k3rs_store::backend::sqlite::SqliteBackend::open(&dir.join("state.db"))?))
}

fn value(i: u32) -> Vec<u8> {
    format!("value-{i}-").repeat(20).into_bytes()
}

fn fill(open: Open, dir: &Path) {
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let ds = Datastore::open(open(dir).unwrap(), Options::default()).unwrap();
    rt.block_on(async {
        for i in 0..KEYS {
            ds.create(&format!("/k/{i:05}"), value(i)).await.unwrap();
        }
    });
    ds.close();
}

/// Either the open fails with `Corrupt` naming a file under `dir`, or every value reads back intact.
fn check(open: Open, dir: &Path, what: &str) -> bool {
    match open(dir) {
        Err(StoreError::Corrupt { path, reason }) => {
            assert!(
                path.starts_with(dir),
                "{what}: error names {} outside the store",
                path.display()
            );
            let msg = StoreError::Corrupt { path: path.clone(), reason }.to_string();
            assert!(
                msg.contains(&path.display().to_string()),
                "{what}: message {msg:?} does not name the file"
            );
            true
        }
        Err(other) => panic!("{what}: expected a corruption error, got {other}"),
        Ok(backend) => {
            let ds = Datastore::open(backend, Options::default()).unwrap();
            let page = ds
                .list(&ListRequest {
                    range: KeyRange::prefix("/k/"),
                    revision: 0,
                    after: None,
                    limit: 0,
                })
                .unwrap_or_else(|e| panic!("{what}: opened, then failed to read: {e}"));
            assert_eq!(page.items.len(), KEYS as usize, "{what}: opened with keys missing");
            for (i, kv) in page.items.iter().enumerate() {
                assert_eq!(kv.value, value(i as u32), "{what}: opened with a wrong value");
            }
            false
        }
    }
}

fn damaged_copy(src: &Path, name: &str, damage: impl FnOnce(&Path)) -> tempfile::TempDir {
    let dst = tempfile::tempdir().unwrap();
    copy_dir(src, dst.path());
    damage(&dst.path().join(name));
    dst
}

fn copy_dir(src: &Path, dst: &Path) {
    for entry in std::fs::read_dir(src).unwrap() {
        let entry = entry.unwrap();
        let to: PathBuf = dst.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&to).unwrap();
            copy_dir(&entry.path(), &to);
        } else {
            std::fs::copy(entry.path(), &to).unwrap();
        }
    }
}

fn overwrite(path: &Path, offset: u64, bytes: &[u8]) {
    use std::io::{Seek, SeekFrom, Write};
    let mut f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    f.seek(SeekFrom::Start(offset)).unwrap();
    f.write_all(bytes).unwrap();
}

fn truncate(path: &Path, fraction: f64) {
    let len = std::fs::metadata(path).unwrap().len();
    let f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    f.set_len((len as f64 * fraction) as u64).unwrap();
}

/// Damage the main file in many ways; every one must be refused or harmless.
fn damaged_files_are_detected(open: Open, main_file: &str) {
    let good = tempfile::tempdir().unwrap();
    fill(open, good.path());
    let file_len = std::fs::metadata(good.path().join(main_file)).unwrap().len();
    let mut refused = 0;
    for fraction in [0.0, 0.01, 0.3, 0.5, 0.9] {
        let d = damaged_copy(good.path(), main_file, |p| truncate(p, fraction));
        let was_refused = check(open, d.path(), &format!("truncated to {fraction}"));
        assert!(was_refused, "a store truncated to {fraction} opened");
        refused += usize::from(was_refused);
    }
    let noise: Vec<u8> =
        (0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    for step in 0..16u64 {
        let offset = file_len * step / 16;
        let d = damaged_copy(good.path(), main_file, |p| overwrite(p, offset, &noise));
        refused += usize::from(check(open, d.path(), &format!("noise at {offset}")));
    }
    let d = damaged_copy(good.path(), main_file, |p| {
        std::fs::write(p, b"this is not a database").unwrap()
    });
    assert!(check(open, d.path(), "replaced by text"));
    assert!(refused > 0);
}

#[test]
fn sled_damage_is_detected_at_open() {
    damaged_files_are_detected(open_sled, "sled/db");
}

#[test]
fn sqlite_damage_is_detected_at_open() {
    damaged_files_are_detected(open_sqlite, "state.db");
}
