//! End to end: `k3rs images import` and `k3rs images ls` on a data dir, and a damaged tarball
//! refused with one line naming the problem and the store left as it was.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;

use k3rs_images::testing::{docker_archive, layer};

const K3RS: &str = env!("CARGO_BIN_EXE_k3rs");

/// A `docker save` archive of `busybox:test` with one layer.
fn archive() -> Vec<u8> {
    let layer = layer(&[("bin/hello", "#!/bin/sh\necho hello\n")]);
    docker_archive(&["busybox:test"], &[&layer])
}

fn k3rs(data: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(K3RS).arg("--data-dir").arg(data).args(args).output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn images_import_and_list_and_damaged_tarballs_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let good = dir.path().join("busybox.tar");
    std::fs::write(&good, archive()).unwrap();
    let (code, out, err) = k3rs(&data, &["images", "import", good.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.starts_with("imported docker.io/library/busybox:test ("), "{out}");
    let (_, listed, _) = k3rs(&data, &["images", "ls"]);
    let lines: Vec<&str> = listed.lines().collect();
    assert!(lines[0].starts_with("IMAGE"), "{listed}");
    assert!(lines[1].starts_with("docker.io/library/busybox:test"), "{listed}");

    let bytes = archive();
    let cut = dir.path().join("cut.tar");
    std::fs::write(&cut, &bytes[..bytes.len() / 3]).unwrap();
    let (code, _, err) = k3rs(&data, &["images", "import", cut.to_str().unwrap()]);
    assert_eq!(code, Some(1));
    assert_eq!(err.lines().filter(|l| l.starts_with("k3rs: ")).count(), 1, "{err}");
    assert!(err.contains("cut.tar"), "names the file: {err}");
    let (_, again, _) = k3rs(&data, &["images", "ls"]);
    assert_eq!(again, listed, "the store is unchanged");
}
