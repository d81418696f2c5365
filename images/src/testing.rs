//! Builders of small archives, for tests and benchmarks (here and in the end-to-end tests):
//! tarballs from in-memory entries, layers from files, and `docker save` archives.

use serde_json::json;

use crate::sha256;

/// A tar of `entries` (path, content), files owned by root, mode 0755.
pub fn tar_of(entries: &[(&str, Vec<u8>)]) -> Vec<u8> {
    layer_with_links(entries, &[])
}

/// A layer with `files` (path, content) and `links` (path, symlink target).
pub fn layer_with_links(files: &[(&str, Vec<u8>)], links: &[(&str, &str)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o755);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_cksum();
        let _ = b.append_data(&mut h, path, &data[..]);
    }
    for (path, target) in links {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        h.set_mode(0o777);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        let _ = b.append_link(&mut h, path, target);
    }
    b.into_inner().unwrap_or_default()
}

/// A layer holding `files` (path, text).
pub fn layer(files: &[(&str, &str)]) -> Vec<u8> {
    tar_of(&files.iter().map(|(p, c)| (*p, c.as_bytes().to_vec())).collect::<Vec<_>>())
}

/// An image config for `layers` (bottom first) that runs `/bin/hello`.
pub fn config(layers: &[&Vec<u8>]) -> Vec<u8> {
    let ids: Vec<String> = layers.iter().map(|l| sha256(l)).collect();
    serde_json::to_vec(&json!({"architecture": "amd64", "os": "linux",
        "config": {"Cmd": ["/bin/hello"], "Env": ["PATH=/bin"]},
        "rootfs": {"type": "layers", "diff_ids": ids}}))
    .unwrap_or_default()
}

/// A `docker save` archive of one image tagged `tags` with `layers`.
pub fn docker_archive(tags: &[&str], layers: &[&Vec<u8>]) -> Vec<u8> {
    let cfg = config(layers);
    let cfg_name = format!("{}.json", sha256(&cfg).trim_start_matches("sha256:"));
    let mut entries = vec![(cfg_name.clone(), cfg)];
    let mut names = Vec::new();
    for (i, l) in layers.iter().enumerate() {
        let name = format!("{i}/layer.tar");
        names.push(name.clone());
        entries.push((name, (*l).clone()));
    }
    let manifest = json!([{"Config": cfg_name, "RepoTags": tags, "Layers": names}]);
    entries.push(("manifest.json".into(), serde_json::to_vec(&manifest).unwrap_or_default()));
    tar_of(&entries.iter().map(|(p, d)| (p.as_str(), d.clone())).collect::<Vec<_>>())
}

/// A `docker save` archive tagged `tag` holding the host's static busybox (`/usr/bin/busybox`
/// or `/bin/busybox`) with a link in `bin/` for each of `applets`; `None` without busybox.
pub fn busybox_archive(tag: &str, applets: &[&str]) -> Option<Vec<u8>> {
    let binary =
        std::fs::read("/usr/bin/busybox").or_else(|_| std::fs::read("/bin/busybox")).ok()?;
    let paths: Vec<String> = applets.iter().map(|a| format!("bin/{a}")).collect();
    let links: Vec<(&str, &str)> = paths.iter().map(|p| (p.as_str(), "busybox")).collect();
    let layer = layer_with_links(&[("bin/busybox", binary)], &links);
    Some(docker_archive(&[tag], &[&layer]))
}
