//! A pod's sandbox on the node: its directory (`<data-dir>/agent/pods/<uid>/`) with the
//! `hosts`, `resolv.conf` and `hostname` files its containers see, its volumes, each
//! container's bundle (an overlayfs root over the image layers, read-write on top) and log;
//! and its network namespace (`/run/netns/k3rs-<uid>`, loopback up, made with iproute2).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::AgentError;

/// Where a pod's files are.
#[derive(Debug, Clone)]
pub struct PodDir {
    pub root: PathBuf,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> AgentError + '_ {
    move |source| AgentError::Io { path: path.to_owned(), source }
}

/// The network namespace name of a pod.
pub fn netns_name(uid: &str) -> String {
    let short: String = uid.chars().filter(char::is_ascii_alphanumeric).take(16).collect();
    format!("k3rs-{short}")
}

fn ip(args: &[&str]) -> Result<(), AgentError> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|source| AgentError::Io { path: "ip".into(), source })?;
    if out.status.success() {
        return Ok(());
    }
    let err = String::from_utf8_lossy(&out.stderr);
    Err(AgentError::Runtime(format!("ip {}: {}", args.join(" "), err.trim())))
}

/// Create the pod's network namespace (kept if it exists) with loopback up.
pub fn create_netns(name: &str) -> Result<PathBuf, AgentError> {
    let path = PathBuf::from("/run/netns").join(name);
    if !path.exists() {
        ip(&["netns", "add", name])?;
    }
    ip(&["-n", name, "link", "set", "lo", "up"])?;
    Ok(path)
}

/// Remove the pod's network namespace (gone already is fine).
pub fn delete_netns(name: &str) -> Result<(), AgentError> {
    if !PathBuf::from("/run/netns").join(name).exists() {
        return Ok(());
    }
    ip(&["netns", "delete", name])
}

/// `/etc/hosts` of a pod, as the kubelet writes it.
/// Connects to `127.0.0.1:port` inside the network namespace `netns` (a short-lived thread
/// joins it; the socket stays in that namespace and is used from anywhere).
pub fn dial(
    netns: &Path,
    port: u16,
    timeout: std::time::Duration,
) -> Result<std::net::TcpStream, String> {
    use std::os::fd::AsFd;
    let netns = netns.to_owned();
    let worker = std::thread::spawn(move || -> Result<std::net::TcpStream, String> {
        let file = std::fs::File::open(&netns).map_err(|e| format!("{}: {e}", netns.display()))?;
        rustix::thread::move_into_link_name_space(
            file.as_fd(),
            Some(rustix::thread::LinkNameSpaceType::Network),
        )
        .map_err(|e| format!("entering the pod's network: {e}"))?;
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        std::net::TcpStream::connect_timeout(&addr, timeout)
            .map_err(|e| format!("dial tcp {addr}: connect: {e}"))
    });
    worker.join().unwrap_or_else(|_| Err("the dialing thread failed".into()))
}

pub fn hosts_file(hostname: &str, pod_ip: &str) -> String {
    let mut s = String::from(
        "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n",
    );
    if !pod_ip.is_empty() {
        s.push_str(&format!("{pod_ip}\t{hostname}\n"));
    }
    s
}

/// `/etc/resolv.conf` of a pod in `namespace` with the cluster DNS (`ClusterFirst`).
pub fn resolv_conf(dns: &str, namespace: &str, domain: &str) -> String {
    format!(
        "search {namespace}.svc.{domain} svc.{domain} {domain}\nnameserver {dns}\noptions ndots:5\n"
    )
}

impl PodDir {
    pub fn new(pods_dir: &Path, uid: &str) -> Self {
        PodDir { root: pods_dir.join(uid) }
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    pub fn volume(&self, name: &str) -> PathBuf {
        self.root.join("volumes").join(name)
    }

    pub fn container(&self, name: &str) -> PathBuf {
        self.root.join("containers").join(name)
    }

    /// Write the pod's files and create its `emptyDir` volumes.
    pub fn prepare(
        &self,
        hosts: &str,
        resolv: &str,
        hostname: &str,
        empty_dirs: &[&str],
    ) -> Result<(), AgentError> {
        std::fs::create_dir_all(&self.root).map_err(io(&self.root))?;
        for (name, text) in [("hosts", hosts), ("resolv.conf", resolv), ("hostname", hostname)] {
            let path = self.file(name);
            std::fs::write(&path, text).map_err(io(&path))?;
        }
        for v in empty_dirs {
            let dir = self.volume(v);
            std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        }
        Ok(())
    }

    /// Write a volume's files (`configMap`, `secret`, `downwardAPI`, `projected`), replacing
    /// what it held; paths stay inside the volume.
    pub fn write_volume(
        &self,
        name: &str,
        files: &[crate::volumes::File],
    ) -> Result<(), AgentError> {
        use std::os::unix::fs::PermissionsExt;
        let dir = self.volume(name);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        for (rel, content, mode) in files {
            if rel.components().any(|c| !matches!(c, std::path::Component::Normal(_))) {
                return Err(AgentError::Runtime(format!(
                    "volume {name}: path {} leaves the volume",
                    rel.display()
                )));
            }
            let path = dir.join(rel);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(io(parent))?;
            }
            std::fs::write(&path, content).map_err(io(&path))?;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(*mode))
                .map_err(io(&path))?;
        }
        Ok(())
    }

    /// A container's bundle with its root: overlayfs of `layers` (bottom first) under a fresh
    /// writable layer. Returns the bundle directory.
    pub fn mount_rootfs(&self, container: &str, layers: &[PathBuf]) -> Result<PathBuf, AgentError> {
        let base = self.container(container);
        let (bundle, upper, work) = (base.join("bundle"), base.join("upper"), base.join("work"));
        let rootfs = bundle.join("rootfs");
        let _ = self.unmount_rootfs(container);
        let _ = std::fs::remove_dir_all(&upper);
        let _ = std::fs::remove_dir_all(&work);
        for d in [&rootfs, &upper, &work] {
            std::fs::create_dir_all(d).map_err(io(d))?;
        }
        let log = base.join("termination-log");
        std::fs::write(&log, b"").map_err(io(&log))?;
        let lower: Vec<String> = layers.iter().rev().map(|p| p.display().to_string()).collect();
        let options = format!(
            "lowerdir={},upperdir={},workdir={}",
            lower.join(":"),
            upper.display(),
            work.display()
        );
        let data = std::ffi::CString::new(options)
            .map_err(|e| AgentError::Runtime(format!("overlay options for {container}: {e}")))?;
        rustix::mount::mount(
            "overlay",
            &rootfs,
            "overlay",
            rustix::mount::MountFlags::empty(),
            Some(data.as_c_str()),
        )
        .map_err(|e| AgentError::Runtime(format!("mounting the root of {container}: {e}")))?;
        Ok(bundle)
    }

    /// Unmount a container's root (not mounted is fine).
    pub fn unmount_rootfs(&self, container: &str) -> Result<(), AgentError> {
        let rootfs = self.container(container).join("bundle/rootfs");
        match rustix::mount::unmount(&rootfs, rustix::mount::UnmountFlags::DETACH) {
            Ok(()) | Err(rustix::io::Errno::INVAL | rustix::io::Errno::NOENT) => Ok(()),
            Err(e) => Err(AgentError::Runtime(format!("unmounting the root of {container}: {e}"))),
        }
    }

    /// Remove everything of the pod (its containers' roots must be unmounted).
    pub fn remove(&self) -> Result<(), AgentError> {
        match std::fs::remove_dir_all(&self.root) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(AgentError::Io { path: self.root.clone(), source: e })
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn files_read_as_the_kubelet_writes_them() {
        assert!(hosts_file("web-0", "10.42.0.5").ends_with("10.42.0.5\tweb-0\n"));
        assert!(!hosts_file("web-0", "").contains("web-0"));
        assert_eq!(
            resolv_conf("10.43.0.10", "prod", "cluster.local"),
            "search prod.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.43.0.10\noptions ndots:5\n"
        );
        assert_eq!(netns_name("1f2e-33aa-44bb-55cc-66dd77ee88ff"), "k3rs-1f2e33aa44bb55cc");
    }

    #[test]
    fn pod_dirs_hold_files_and_volumes() {
        let dir = tempfile::tempdir().unwrap();
        let p = PodDir::new(dir.path(), "u1");
        p.prepare("h", "r", "n", &["cache"]).unwrap();
        assert_eq!(std::fs::read_to_string(p.file("resolv.conf")).unwrap(), "r");
        assert!(p.volume("cache").is_dir());
        p.remove().unwrap();
        assert!(!p.root.exists());
        p.remove().unwrap();
    }
}
