//! Resource usage as the metrics API reports it: cumulative CPU time and the memory working
//! set, of the node (`/proc`) and of each container (its cgroup, `/k3rs/pod<uid>/<container>`,
//! on cgroup v1 or v2). Rates come from two samples; the caller keeps the earlier one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A point-in-time reading: CPU time used so far (ns) and memory working set (bytes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reading {
    pub cpu_ns: u64,
    pub memory: u64,
}

/// The node's and every container's readings, containers keyed by (pod uid, container).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub node: Reading,
    pub containers: BTreeMap<(String, String), Reading>,
}

/// Where readings come from (a test points these at a fake tree).
#[derive(Debug, Clone)]
pub struct Sources {
    pub proc_dir: PathBuf,
    pub cgroup_root: PathBuf,
    /// Nanoseconds per `/proc/stat` tick (USER_HZ 100 on Linux: 10 ms).
    pub tick_ns: u64,
}

impl Default for Sources {
    fn default() -> Self {
        Sources {
            proc_dir: "/proc".into(),
            cgroup_root: "/sys/fs/cgroup".into(),
            tick_ns: 10_000_000,
        }
    }
}

impl Sources {
    pub fn snapshot(&self) -> Snapshot {
        Snapshot { node: self.node(), containers: self.containers() }
    }

    /// The node: non-idle CPU time from `/proc/stat`; memory in use (total - available).
    fn node(&self) -> Reading {
        let stat = std::fs::read_to_string(self.proc_dir.join("stat")).unwrap_or_default();
        let ticks: Vec<u64> = stat
            .lines()
            .find(|l| l.starts_with("cpu "))
            .map(|l| l.split_whitespace().skip(1).filter_map(|n| n.parse().ok()).collect())
            .unwrap_or_default();
        // user nice system idle iowait irq softirq steal ...: busy = all - idle - iowait.
        let all: u64 = ticks.iter().take(8).sum();
        let idle = ticks.get(3).copied().unwrap_or(0) + ticks.get(4).copied().unwrap_or(0);
        let meminfo = std::fs::read_to_string(self.proc_dir.join("meminfo")).unwrap_or_default();
        let kib = |key: &str| -> u64 {
            meminfo
                .lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
                .unwrap_or(0)
        };
        Reading {
            cpu_ns: all.saturating_sub(idle).saturating_mul(self.tick_ns),
            memory: kib("MemTotal:").saturating_sub(kib("MemAvailable:")) * 1024,
        }
    }

    /// Every container under the `k3rs` cgroup, v1 (cpuacct + memory) or v2.
    fn containers(&self) -> BTreeMap<(String, String), Reading> {
        let mut found = BTreeMap::new();
        let v1 = self.cgroup_root.join("memory/k3rs");
        let (base, v2) =
            if v1.is_dir() { (v1, false) } else { (self.cgroup_root.join("k3rs"), true) };
        for pod in dirs(&base) {
            let Some(uid) =
                pod.file_name().and_then(|n| n.to_str()).and_then(|n| n.strip_prefix("pod"))
            else {
                continue;
            };
            for container in dirs(&pod) {
                let Some(name) = container.file_name().and_then(|n| n.to_str()) else { continue };
                let reading = if v2 {
                    self.v2(&container)
                } else {
                    let rel =
                        Path::new("k3rs").join(pod.file_name().unwrap_or_default()).join(name);
                    self.v1(&rel)
                };
                found.insert((uid.to_owned(), name.to_owned()), reading);
            }
        }
        found
    }

    fn v1(&self, rel: &Path) -> Reading {
        let read = |controller: &str, file: &str| -> Option<String> {
            std::fs::read_to_string(self.cgroup_root.join(controller).join(rel).join(file)).ok()
        };
        let cpu_ns = read("cpuacct", "cpuacct.usage")
            .or_else(|| read("cpu,cpuacct", "cpuacct.usage"))
            .and_then(|t| t.trim().parse().ok())
            .unwrap_or(0);
        let usage: u64 = read("memory", "memory.usage_in_bytes")
            .and_then(|t| t.trim().parse().ok())
            .unwrap_or(0);
        let inactive = read("memory", "memory.stat")
            .map(|s| stat_value(&s, "total_inactive_file"))
            .unwrap_or(0);
        Reading { cpu_ns, memory: usage.saturating_sub(inactive) }
    }

    fn v2(&self, dir: &Path) -> Reading {
        let read = |file: &str| std::fs::read_to_string(dir.join(file)).unwrap_or_default();
        let cpu_ns = stat_value(&read("cpu.stat"), "usage_usec").saturating_mul(1000);
        let usage: u64 = read("memory.current").trim().parse().unwrap_or(0);
        let inactive = stat_value(&read("memory.stat"), "inactive_file");
        Reading { cpu_ns, memory: usage.saturating_sub(inactive) }
    }
}

fn dirs(path: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(path)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    found.sort();
    found
}

/// `key value` lines (`memory.stat`, `cpu.stat`).
fn stat_value(text: &str, key: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(key).and_then(|rest| rest.strip_prefix(' ')))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// CPU in nanocores between two readings `elapsed_ns` apart.
pub fn nanocores(before: u64, after: u64, elapsed_ns: u64) -> u64 {
    if elapsed_ns == 0 {
        return 0;
    }
    let used = u128::from(after.saturating_sub(before));
    u64::try_from(used * 1_000_000_000 / u128::from(elapsed_ns)).unwrap_or(u64::MAX)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn write(path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn node_and_v1_containers_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(&root.join("proc/stat"), "cpu  100 0 50 1000 10 0 0 0 0 0\ncpu0 1 2 3\n");
        write(
            &root.join("proc/meminfo"),
            "MemTotal:  1000 kB\nMemFree: 10 kB\nMemAvailable:  400 kB\n",
        );
        let c = root.join("cg/memory/k3rs/podabc/web");
        write(&c.join("memory.usage_in_bytes"), "5000\n");
        write(&c.join("memory.stat"), "cache 1\ntotal_inactive_file 1000\n");
        write(&root.join("cg/cpuacct/k3rs/podabc/web/cpuacct.usage"), "123456\n");
        let sources = Sources {
            proc_dir: root.join("proc"),
            cgroup_root: root.join("cg"),
            tick_ns: 10_000_000,
        };
        let snap = sources.snapshot();
        assert_eq!(snap.node, Reading { cpu_ns: 150 * 10_000_000, memory: 600 * 1024 });
        assert_eq!(
            snap.containers[&("abc".to_owned(), "web".to_owned())],
            Reading { cpu_ns: 123_456, memory: 4000 }
        );
    }

    #[test]
    fn v2_containers_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let c = dir.path().join("k3rs/podxyz/app");
        write(&c.join("cpu.stat"), "usage_usec 2000\nuser_usec 1500\n");
        write(&c.join("memory.current"), "8192\n");
        write(&c.join("memory.stat"), "anon 1\ninactive_file 192\n");
        let sources = Sources { cgroup_root: dir.path().to_owned(), ..Sources::default() };
        let snap = sources.containers();
        assert_eq!(
            snap[&("xyz".to_owned(), "app".to_owned())],
            Reading { cpu_ns: 2_000_000, memory: 8000 }
        );
    }

    #[test]
    fn rates_are_per_second() {
        assert_eq!(nanocores(0, 500_000_000, 1_000_000_000), 500_000_000);
        assert_eq!(nanocores(10, 5, 1_000), 0);
        assert_eq!(nanocores(0, 1, 0), 0);
    }
}
