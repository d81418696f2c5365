//! Importing archives into a real store on disk: `docker save` archives (plain, gzip, zstd),
//! OCI layouts with gzip layers, shared layers, re-imports, and damaged archives that must
//! leave the store untouched.

#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::path::Path;

use k3rs_images::testing::{config, docker_archive, layer, tar_of};
use k3rs_images::{ImageError, Store, sha256};
use serde_json::json;

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn store(dir: &Path) -> Store {
    Store::open(&dir.join("store")).unwrap()
}

fn entries(dir: &Path) -> usize {
    std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

#[test]
fn docker_archives_import_with_their_tags_and_unpacked_layers() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    let base = layer(&[("bin/hello", "#!/bin/sh\necho hello\n")]);
    let top = layer(&[("etc/motd", "hi")]);
    let archive = write(dir.path(), "hello.tar", &docker_archive(&["hello:1"], &[&base, &top]));
    let imported = s.import(&archive).unwrap();
    assert_eq!(imported.len(), 1);
    assert_eq!(imported[0].names, ["docker.io/library/hello:1"]);
    assert_eq!(imported[0].layers, [sha256(&base), sha256(&top)]);
    assert_eq!(imported[0].config["Cmd"], json!(["/bin/hello"]));
    assert!(imported[0].size > 0);
    let found = s.find("hello:1").unwrap().unwrap();
    assert_eq!(found.id, imported[0].id);
    assert_eq!(
        std::fs::read_to_string(s.layer_dir(&found.layers[0]).join("bin/hello")).unwrap(),
        "#!/bin/sh\necho hello\n"
    );
    // Re-importing changes nothing; a second image shares the base layer.
    s.import(&archive).unwrap();
    let other = write(dir.path(), "other.tar", &docker_archive(&["other:2"], &[&base]));
    s.import(&other).unwrap();
    assert_eq!(s.list().unwrap().len(), 2);
    assert_eq!(entries(&dir.path().join("store/layers")), 4, "two layers and their size files");
    assert_eq!(entries(&dir.path().join("store/tmp")), 0, "staging is cleaned up");
}

#[test]
fn compressed_archives_and_oci_layouts_import() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    let l = layer(&[("app", "1")]);
    let plain = docker_archive(&["zipped:1"], &[&l]);
    s.import(&write(dir.path(), "a.tar.gz", &gzip(&plain))).unwrap();
    let plain2 = docker_archive(&["zstd:1"], &[&l]);
    let zst2 =
        ruzstd::encoding::compress_to_vec(&plain2[..], ruzstd::encoding::CompressionLevel::Fastest);
    s.import(&write(dir.path(), "b.tar.zst", &zst2)).unwrap();

    // An OCI layout with a gzip layer, named by containerd's annotation.
    let gz = gzip(&l);
    let cfg = config(&[&l]);
    let manifest = serde_json::to_vec(&json!({"schemaVersion": 2,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha256(&cfg), "size": cfg.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": sha256(&gz), "size": gz.len()}]}))
    .unwrap();
    let index = json!({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": sha256(&manifest), "size": manifest.len(),
        "annotations": {"io.containerd.image.name": "registry.local/team/app:3"}}]});
    let blob = |b: &Vec<u8>| {
        (format!("blobs/sha256/{}", sha256(b).trim_start_matches("sha256:")), b.clone())
    };
    let layout = tar_of(&[
        ("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec()),
        ("index.json", serde_json::to_vec(&index).unwrap()),
        (blob(&manifest).0.as_str(), manifest.clone()),
        (blob(&cfg).0.as_str(), cfg.clone()),
        (blob(&gz).0.as_str(), gz.clone()),
    ]);
    let imported = s.import(&write(dir.path(), "oci.tar", &layout)).unwrap();
    assert_eq!(imported[0].names, ["registry.local/team/app:3"]);
    let names: Vec<String> = s.list().unwrap().into_iter().flat_map(|i| i.names).collect();
    assert!(names.contains(&"docker.io/library/zipped:1".to_owned()));
    assert!(names.contains(&"docker.io/library/zstd:1".to_owned()));
    // The air-gap directory imports every tarball in it.
    let results = s.import_dir(dir.path());
    assert_eq!(results.len(), 3, "a.tar.gz, b.tar.zst, oci.tar");
    assert!(results.iter().all(|(_, r)| r.is_ok()));
}

#[test]
fn damaged_archives_are_refused_and_leave_the_store_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    let l = layer(&[("bin/x", "x")]);
    let good = docker_archive(&["good:1"], &[&l]);
    let truncated = write(dir.path(), "cut.tar", &good[..good.len() / 2]);
    assert!(s.import(&truncated).is_err());
    let gz = gzip(&good);
    let cut_gz = write(dir.path(), "cut.tar.gz", &gz[..gz.len() - 20]);
    assert!(s.import(&cut_gz).is_err());
    // A layer whose content does not match the config's diff ID.
    let evil = layer(&[("bin/x", "y")]);
    let cfg = config(&[&l]);
    let cfg_name = format!("{}.json", sha256(&cfg).trim_start_matches("sha256:"));
    let manifest = json!([{"Config": cfg_name, "RepoTags": ["bad:1"], "Layers": ["0/layer.tar"]}]);
    let tampered = tar_of(&[
        (cfg_name.as_str(), cfg.clone()),
        ("0/layer.tar", evil),
        ("manifest.json", serde_json::to_vec(&manifest).unwrap()),
    ]);
    let err = s.import(&write(dir.path(), "bad.tar", &tampered)).unwrap_err();
    assert!(matches!(err, ImageError::Digest { .. }), "{err}");
    assert!(err.to_string().contains("layer 0/layer.tar does not match its digest"), "{err}");
    let not_image = write(dir.path(), "junk.tar", &tar_of(&[("readme", b"hi".to_vec())]));
    assert!(matches!(s.import(&not_image), Err(ImageError::NotAnArchive(_))));
    assert!(s.list().unwrap().is_empty());
    assert_eq!(entries(&dir.path().join("store/layers")), 0);
    assert_eq!(entries(&dir.path().join("store/tmp")), 0);
}
