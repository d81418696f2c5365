//! Facts about this machine that the Node reports: kernel, OS image, architecture, CPUs,
//! memory, disk, machine and boot ids. Read from `uname`, `/proc` and `/etc`; a fact that
//! cannot be read is reported empty or zero, never an error.

use std::path::Path;

/// What the Node's capacity and `nodeInfo` say.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostFacts {
    pub hostname: String,
    pub kernel_version: String,
    pub os_image: String,
    /// Go's names: `amd64`, `arm64`, ...
    pub architecture: String,
    pub cpus: u32,
    pub memory_kib: u64,
    /// Size of the file system holding the data dir.
    pub ephemeral_storage_bytes: u64,
    pub machine_id: String,
    pub boot_id: String,
}

impl HostFacts {
    /// Read the facts; `data_dir` is measured for ephemeral storage.
    pub fn gather(data_dir: &Path) -> Self {
        let uname = rustix::system::uname();
        let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default().trim().to_owned();
        HostFacts {
            hostname: uname.nodename().to_string_lossy().to_ascii_lowercase(),
            kernel_version: uname.release().to_string_lossy().into_owned(),
            os_image: pretty_name(&read("/etc/os-release")),
            architecture: go_arch(&uname.machine().to_string_lossy()).to_owned(),
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get() as u32),
            memory_kib: mem_total_kib(&read("/proc/meminfo")),
            // The data dir may not exist yet: measure the file system it will be on.
            ephemeral_storage_bytes: data_dir
                .ancestors()
                .find_map(|d| rustix::fs::statvfs(d).ok())
                .map_or(0, |s| s.f_blocks * s.f_frsize),
            machine_id: read("/etc/machine-id"),
            boot_id: read("/proc/sys/kernel/random/boot_id"),
        }
    }
}

/// `PRETTY_NAME` from os-release, else "Linux".
fn pretty_name(os_release: &str) -> String {
    os_release
        .lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .map(|v| v.trim_matches('"').to_owned())
        .unwrap_or_else(|| "Linux".to_owned())
}

fn mem_total_kib(meminfo: &str) -> u64 {
    meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// The kernel's machine name as Go's `GOARCH`.
pub fn go_arch(machine: &str) -> &str {
    match machine {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "armv7l" | "armv6l" => "arm",
        "i686" | "i386" => "386",
        other => other,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn files_are_read_as_the_node_reports_them() {
        assert_eq!(
            pretty_name("ID=debian\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n"),
            "Debian GNU/Linux 12 (bookworm)"
        );
        assert_eq!(pretty_name(""), "Linux");
        assert_eq!(mem_total_kib("MemTotal:       16318216 kB\nMemFree: 1 kB\n"), 16318216);
        assert_eq!(go_arch("x86_64"), "amd64");
        assert_eq!(go_arch("aarch64"), "arm64");
        let here = HostFacts::gather(Path::new("/"));
        assert!(here.cpus >= 1 && here.memory_kib > 0 && !here.kernel_version.is_empty());
    }
}
