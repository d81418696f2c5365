//! A real registry for pull tests: Debian's `docker-registry` serving on `127.0.0.1:<port>`
//! inside a lab node's namespace (so only that node reaches it), filled with `skopeo copy`.
//! Stopped when dropped.

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::Duration;

use super::netlab::{command_in, try_connect_in};
use super::{eventually, require_tool};

/// `puller` / `s3cret`, as a bcrypt htpasswd line (the registry takes only bcrypt).
pub const HTPASSWD: &str = "puller:$2b$04$PZYKYMTc04ezVNh74VQcIO/uLT7Iy5DB/Fm3aqBLPsByBuTHxas8y";

/// Whether the registry and skopeo are here (under CI=true a missing one fails the test).
pub fn can_run_registry() -> bool {
    require_tool("docker-registry") && require_tool("skopeo")
}

/// A running registry.
pub struct Registry {
    child: Child,
    netns: String,
    pub port: u16,
}

impl Registry {
    /// Start one inside `netns` on `port`, storing under `dir`; with `htpasswd` it asks for
    /// Basic credentials.
    pub fn start(netns: &str, dir: &Path, port: u16, htpasswd: Option<&str>) -> Registry {
        let root = dir.join(format!("registry-{port}"));
        std::fs::create_dir_all(&root).unwrap();
        let mut config = format!(
            "version: 0.1\nlog: {{level: warn}}\nstorage: {{filesystem: {{rootdirectory: {}}}}}\nhttp: {{addr: \"127.0.0.1:{port}\"}}\n",
            root.join("data").display()
        );
        if let Some(line) = htpasswd {
            let file = root.join("htpasswd");
            std::fs::write(&file, format!("{line}\n")).unwrap();
            config.push_str(&format!(
                "auth: {{htpasswd: {{realm: k3rs-test, path: {}}}}}\n",
                file.display()
            ));
        }
        let config_file = root.join("config.yml");
        std::fs::write(&config_file, config).unwrap();
        let child = command_in(Some(netns), "docker-registry")
            .arg("serve")
            .arg(&config_file)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(root.join("log")).unwrap())
            .spawn()
            .unwrap();
        let registry = Registry { child, netns: netns.to_owned(), port };
        eventually("the registry listens", Duration::from_secs(20), || {
            try_connect_in(netns, port).ok().map(|_| ())
        });
        registry
    }

    /// Copy the docker archive `archive` to `repository:tag` here (`creds`: `user:password`).
    pub fn push(&self, archive: &Path, reference: &str, creds: Option<&str>) {
        let mut c = command_in(Some(&self.netns), "skopeo");
        c.args(["copy", "--quiet", "--dest-tls-verify=false"]);
        if let Some(creds) = creds {
            c.args(["--dest-creds", creds]);
        }
        let source = format!("docker-archive:{}", archive.display());
        let dest = format!("docker://127.0.0.1:{}/{reference}", self.port);
        let out = c.args([&source, &dest]).output().unwrap();
        assert!(
            out.status.success(),
            "skopeo copy to {dest}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
