//! The OCI runtime spec (`config.json`) a container runs with, built from its pod, its image's
//! config and where the agent keeps the pod's files: the process (command and args over the
//! image's entrypoint and cmd with `$(VAR)` expansion, environment, user, capabilities), the
//! root file system, the pod's namespaces (network joined from the sandbox), mounts (the
//! usual `/proc`, `/dev`, `/sys`, the pod's `/etc/hosts`, `/etc/resolv.conf`, `/etc/hostname`
//! and its volumes), the cgroup and resource limits.

use std::path::Path;

use serde_json::{Value, json};

use crate::volumes::SourcedEnv;

/// What the container runtime gives a container unless the pod asks otherwise (the default
/// capability set of containerd and CRI-O).
pub const DEFAULT_CAPABILITIES: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// The PATH a container gets when its image sets none.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

const MASKED: &[&str] = &[
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
];
const READONLY: &[&str] =
    &["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];

/// Where a container's pieces are.
#[derive(Clone)]
pub struct Paths<'a> {
    /// The pod's network namespace (`/run/netns/<name>`).
    pub netns: &'a Path,
    /// The pod's `hosts`, `resolv.conf` and `hostname` files.
    pub etc_hosts: &'a Path,
    pub resolv_conf: &'a Path,
    pub hostname: &'a Path,
    /// The container's termination message file.
    pub termination_log: &'a Path,
    /// A volume's directory on the node, by volume name (`None`: unknown volume).
    pub volume: &'a dyn Fn(&str) -> Option<std::path::PathBuf>,
}

impl std::fmt::Debug for Paths<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Paths").field("netns", &self.netns).finish_non_exhaustive()
    }
}

/// Values `fieldRef` environment variables read.
#[derive(Debug, Clone, Default)]
pub struct Downward {
    pub node_name: String,
    pub pod_ip: String,
    pub host_ip: String,
}

/// Expand `$(VAR)` from `env` (`$$` escapes a dollar; unknown references stay as written), as
/// the kubelet expands command, args and env values.
pub fn expand(text: &str, env: &[(String, String)]) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(stripped) = after.strip_prefix('$') {
            out.push('$');
            rest = stripped;
        } else if let Some(inner) = after.strip_prefix('(')
            && let Some(end) = inner.find(')')
        {
            let name = &inner[..end];
            match env.iter().rev().find(|(k, _)| k == name) {
                Some((_, v)) => out.push_str(v),
                None => out.push_str(&format!("$({name})")),
            }
            rest = &inner[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array().into_iter().flatten().filter_map(|s| s.as_str().map(str::to_owned)).collect()
}

/// The container's environment: the default PATH, the image's, `envFrom`, then the
/// container's own (`value`, `fieldRef`, ConfigMap/Secret keys; later entries may refer to
/// earlier ones).
pub fn environment(
    pod: &Value,
    container: &Value,
    image: &Value,
    d: &Downward,
    sourced: &SourcedEnv,
) -> Vec<(String, String)> {
    // containerd's default PATH, which an image's own replaces.
    let mut env: Vec<(String, String)> = vec![("PATH".into(), DEFAULT_PATH.into())];
    for (k, v) in strings(&image["Env"])
        .into_iter()
        .filter_map(|e| e.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())))
    {
        env.retain(|(name, _)| *name != k);
        env.push((k, v));
    }
    for (k, v) in &sourced.from {
        env.retain(|(name, _)| name != k);
        env.push((k.clone(), v.clone()));
    }
    for e in container["env"].as_array().into_iter().flatten() {
        let Some(name) = e["name"].as_str() else { continue };
        let value = if let Some(v) = e["value"].as_str() {
            expand(v, &env)
        } else if let Some(path) = e["valueFrom"]["fieldRef"]["fieldPath"].as_str() {
            field(pod, path, d)
        } else if let Some(v) = sourced.keys.get(name) {
            v.clone()
        } else if e["value"].is_null() && e["valueFrom"].is_null() {
            String::new()
        } else {
            continue;
        };
        env.retain(|(k, _)| k != name);
        env.push((name.to_owned(), value));
    }
    env
}

/// A downward-API field of the pod.
pub fn field(pod: &Value, path: &str, d: &Downward) -> String {
    let meta = &pod["metadata"];
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    if let Some(key) = path.strip_prefix("metadata.labels['").and_then(|k| k.strip_suffix("']")) {
        return text(&meta["labels"][key]);
    }
    if let Some(key) =
        path.strip_prefix("metadata.annotations['").and_then(|k| k.strip_suffix("']"))
    {
        return text(&meta["annotations"][key]);
    }
    match path {
        "metadata.name" => text(&meta["name"]),
        "metadata.namespace" => text(&meta["namespace"]),
        "metadata.uid" => text(&meta["uid"]),
        "spec.nodeName" => d.node_name.clone(),
        "spec.serviceAccountName" => text(&pod["spec"]["serviceAccountName"]),
        "status.podIP" | "status.podIPs" => d.pod_ip.clone(),
        "status.hostIP" | "status.hostIPs" => d.host_ip.clone(),
        _ => String::new(),
    }
}

/// What runs: the container's command (else the image's entrypoint) and its args (else the
/// image's cmd, when the command is the image's too), expanded against `env`.
pub fn argv(container: &Value, image: &Value, env: &[(String, String)]) -> Vec<String> {
    let command = strings(&container["command"]);
    let args = strings(&container["args"]);
    let mut argv = if command.is_empty() { strings(&image["Entrypoint"]) } else { command.clone() };
    if !args.is_empty() {
        argv.extend(args);
    } else if command.is_empty() {
        argv.extend(strings(&image["Cmd"]));
    }
    argv.iter().map(|a| expand(a, env)).collect()
}

/// uid and gid: the security context's (container over pod), else the image's numeric `User`.
pub fn user(pod: &Value, container: &Value, image: &Value) -> (u64, u64) {
    let sc = |k: &str| {
        container["securityContext"][k].as_u64().or(pod["spec"]["securityContext"][k].as_u64())
    };
    let image_user = image["User"].as_str().unwrap_or("");
    let (iu, ig) = image_user.split_once(':').unwrap_or((image_user, ""));
    let uid = sc("runAsUser").or(iu.parse().ok()).unwrap_or(0);
    let gid = sc("runAsGroup").or(ig.parse().ok()).unwrap_or(0);
    (uid, gid)
}

/// The capability set after the security context's `add` and `drop` (`ALL` drops all).
pub fn capabilities(container: &Value) -> Vec<String> {
    let sc = &container["securityContext"];
    let name = |c: &str| {
        let c = c.to_ascii_uppercase();
        if c.starts_with("CAP_") { c } else { format!("CAP_{c}") }
    };
    let drop: Vec<String> = strings(&sc["capabilities"]["drop"]).iter().map(|c| name(c)).collect();
    let mut caps: Vec<String> = if drop.iter().any(|d| d == "CAP_ALL") {
        Vec::new()
    } else {
        DEFAULT_CAPABILITIES.iter().map(|c| (*c).to_owned()).filter(|c| !drop.contains(c)).collect()
    };
    for add in strings(&sc["capabilities"]["add"]).iter().map(|c| name(c)) {
        if !caps.contains(&add) {
            caps.push(add);
        }
    }
    caps
}

/// cgroup limits from the container's `resources.limits` (and CPU shares from requests).
pub fn resources(container: &Value) -> Value {
    use k3rs_api::quantity::parse_milli as milli;
    let limits = &container["resources"]["limits"];
    let requests = &container["resources"]["requests"];
    let mut r = json!({});
    if let Some(mem) = limits["memory"].as_str().and_then(milli) {
        r["memory"] = json!({"limit": mem / 1000});
    }
    let cpu_request = requests["cpu"].as_str().or(limits["cpu"].as_str()).and_then(milli);
    let shares = cpu_request.map_or(2, |m| (m * 1024 / 1000).max(2));
    r["cpu"] = json!({"shares": shares});
    if let Some(cpu) = limits["cpu"].as_str().and_then(milli) {
        r["cpu"]["quota"] = json!((cpu * 100_000 / 1000).max(1000));
        r["cpu"]["period"] = json!(100_000);
    }
    r
}

fn bind(destination: &str, source: &Path, readonly: bool) -> Value {
    let mut options = vec!["rbind", "rprivate"];
    if readonly {
        options.push("ro");
    }
    json!({"destination": destination, "type": "bind", "source": source, "options": options})
}

/// The runtime spec of `container` in `pod`, its image config `image` (`config` of the image
/// index), its cgroup path and the pod's files.
/// Syscalls the runtime-default seccomp profile refuses (`EPERM`): what a container without
/// `CAP_SYS_ADMIN` and friends has no business calling (module and kexec loading, mounts and
/// namespaces, kernel keyrings, tracing other processes, clock and swap changes, BPF).
const DENIED_SYSCALLS: &[&str] = &[
    "acct",
    "add_key",
    "bpf",
    "clock_adjtime",
    "clock_settime",
    "create_module",
    "delete_module",
    "finit_module",
    "fsconfig",
    "fsmount",
    "fsopen",
    "fspick",
    "get_kernel_syms",
    "get_mempolicy",
    "init_module",
    "ioperm",
    "iopl",
    "kcmp",
    "kexec_file_load",
    "kexec_load",
    "keyctl",
    "lookup_dcookie",
    "mbind",
    "mount",
    "mount_setattr",
    "move_mount",
    "move_pages",
    "name_to_handle_at",
    "nfsservctl",
    "open_by_handle_at",
    "open_tree",
    "perf_event_open",
    "pivot_root",
    "process_vm_readv",
    "process_vm_writev",
    "ptrace",
    "query_module",
    "quotactl",
    "reboot",
    "request_key",
    "set_mempolicy",
    "setns",
    "settimeofday",
    "stime",
    "swapoff",
    "swapon",
    "sysfs",
    "_sysctl",
    "umount",
    "umount2",
    "unshare",
    "uselib",
    "userfaultfd",
    "ustat",
    "vm86",
    "vm86old",
];

/// The seccomp profile the pod asks for: `RuntimeDefault` (container or pod
/// `securityContext.seccompProfile`) gives the deny-list profile; `Unconfined`, no profile or
/// a privileged container gives none (the kubelet's default).
pub fn seccomp(pod: &Value, container: &Value) -> Option<Value> {
    let of = |sc: &Value| sc["seccompProfile"]["type"].as_str().map(str::to_owned);
    let kind = of(&container["securityContext"]).or_else(|| of(&pod["spec"]["securityContext"]))?;
    if kind != "RuntimeDefault" || container["securityContext"]["privileged"] == true {
        return None;
    }
    Some(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32", "SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"],
        "syscalls": [{"names": DENIED_SYSCALLS, "action": "SCMP_ACT_ERRNO", "errnoRet": 1}],
    }))
}

pub fn spec(
    pod: &Value,
    container: &Value,
    image: &Value,
    cgroup: &str,
    paths: &Paths<'_>,
    d: &Downward,
    sourced: &SourcedEnv,
) -> Value {
    let env = environment(pod, container, image, d, sourced);
    let (uid, gid) = user(pod, container, image);
    let caps = capabilities(container);
    let sc = &container["securityContext"];
    let privileged = sc["privileged"] == true;
    let caps = if privileged {
        let mut all = caps;
        for c in ["CAP_SYS_ADMIN", "CAP_NET_ADMIN", "CAP_SYS_PTRACE", "CAP_SYS_MODULE"] {
            if !all.iter().any(|x| x == c) {
                all.push(c.to_owned());
            }
        }
        all
    } else {
        caps
    };
    let cwd = container["workingDir"]
        .as_str()
        .or(image["WorkingDir"].as_str())
        .filter(|w| !w.is_empty())
        .unwrap_or("/");
    let mut mounts = vec![
        json!({"destination": "/proc", "type": "proc", "source": "proc"}),
        json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
               "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}),
        json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts",
               "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]}),
        json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
               "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]}),
        json!({"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
               "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/sys", "type": "sysfs", "source": "sysfs",
               "options": ["nosuid", "noexec", "nodev", "ro"]}),
        bind("/etc/hosts", paths.etc_hosts, false),
        bind("/etc/resolv.conf", paths.resolv_conf, false),
        bind("/etc/hostname", paths.hostname, false),
        bind(
            container["terminationMessagePath"].as_str().unwrap_or("/dev/termination-log"),
            paths.termination_log,
            false,
        ),
    ];
    for m in container["volumeMounts"].as_array().into_iter().flatten() {
        let (Some(name), Some(dest)) = (m["name"].as_str(), m["mountPath"].as_str()) else {
            continue;
        };
        if let Some(source) = (paths.volume)(name) {
            let source = match m["subPath"].as_str().filter(|s| !s.is_empty()) {
                Some(sub) => source.join(sub),
                None => source,
            };
            mounts.push(bind(dest, &source, m["readOnly"] == true));
        }
    }
    let hostname =
        pod["spec"]["hostname"].as_str().or(pod["metadata"]["name"].as_str()).unwrap_or("pod");
    let mut spec = json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": container["tty"] == true,
            "user": {"uid": uid, "gid": gid},
            "args": argv(container, image, &env),
            "env": env.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>(),
            "cwd": cwd,
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
            "noNewPrivileges": sc["allowPrivilegeEscalation"] == false,
        },
        "root": {"path": "rootfs", "readonly": sc["readOnlyRootFilesystem"] == true},
        "hostname": hostname,
        "mounts": mounts,
        "linux": {
            "namespaces": [
                {"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"},
                {"type": "network", "path": paths.netns},
            ],
            "cgroupsPath": cgroup,
            "resources": resources(container),
            "maskedPaths": if privileged { vec![] } else { MASKED.to_vec() },
            "readonlyPaths": if privileged { vec![] } else { READONLY.to_vec() },
        },
    });
    if let Some(profile) = seccomp(pod, container) {
        spec["linux"]["seccomp"] = profile;
    }
    if pod["spec"]["hostNetwork"] == true {
        // The node's network and host name: no network or UTS namespace of its own.
        spec["linux"]["namespaces"] = json!([{"type": "pid"}, {"type": "ipc"}, {"type": "mount"}]);
        if let Some(map) = spec.as_object_mut() {
            map.remove("hostname");
        }
    }
    spec
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn pod() -> Value {
        json!({"metadata": {"name": "web-0", "namespace": "prod", "uid": "u1", "labels": {"app": "web"}},
               "spec": {"securityContext": {"runAsUser": 1000}, "serviceAccountName": "default"}})
    }

    #[test]
    fn host_network_pods_keep_the_nodes_network_and_name() {
        let mut p = pod();
        p["spec"]["hostNetwork"] = json!(true);
        let netns = PathBuf::from("/run/netns/k3rs-u1");
        let none = |_: &str| None;
        let paths = Paths {
            netns: &netns,
            etc_hosts: Path::new("/h"),
            resolv_conf: Path::new("/r"),
            hostname: Path::new("/n"),
            termination_log: Path::new("/t"),
            volume: &none,
        };
        let d = Downward {
            node_name: "n".into(),
            pod_ip: "10.99.0.10".into(),
            host_ip: "10.99.0.10".into(),
        };
        let s = spec(
            &p,
            &json!({"name": "c"}),
            &json!({}),
            "/k3rs/x",
            &paths,
            &d,
            &SourcedEnv::default(),
        );
        let kinds: Vec<&str> = s["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|n| n["type"].as_str())
            .collect();
        assert_eq!(kinds, ["pid", "ipc", "mount"]);
        assert!(s.get("hostname").is_none());
    }

    #[test]
    fn runtime_default_seccomp_comes_from_the_container_or_the_pod() {
        let mut p = pod();
        let c = json!({"name": "c"});
        assert_eq!(seccomp(&p, &c), None, "unconfined by default");
        p["spec"]["securityContext"]["seccompProfile"] = json!({"type": "RuntimeDefault"});
        let profile = seccomp(&p, &c).unwrap();
        assert_eq!(profile["defaultAction"], "SCMP_ACT_ALLOW");
        assert!(profile["syscalls"][0]["names"].as_array().unwrap().iter().any(|n| n == "unshare"));
        let own =
            json!({"name": "c", "securityContext": {"seccompProfile": {"type": "Unconfined"}}});
        assert_eq!(seccomp(&p, &own), None, "the container's own choice wins");
        let privileged = json!({"name": "c", "securityContext": {"privileged": true}});
        assert_eq!(seccomp(&p, &privileged), None);
    }

    #[test]
    fn command_args_and_env_follow_the_kubelet_rules() {
        let image =
            json!({"Entrypoint": ["/entry"], "Cmd": ["serve"], "Env": ["PATH=/bin", "MODE=dev"]});
        let d = Downward {
            node_name: "n1".into(),
            pod_ip: "10.42.0.5".into(),
            host_ip: "10.0.0.1".into(),
        };
        let c = json!({"name": "c", "env": [
            {"name": "MODE", "value": "prod"},
            {"name": "GREETING", "value": "hi $(MODE) $$(MODE) $(NOPE)"},
            {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
            {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}]});
        let env = environment(&pod(), &c, &image, &d, &SourcedEnv::default());
        let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()).unwrap();
        assert_eq!(get("MODE"), "prod");
        assert_eq!(get("PATH"), "/bin", "the image's PATH replaces the default");
        let bare = environment(&pod(), &json!({}), &json!({}), &d, &SourcedEnv::default());
        assert_eq!(bare, [("PATH".to_owned(), DEFAULT_PATH.to_owned())]);
        assert_eq!(get("GREETING"), "hi prod $(MODE) $(NOPE)");
        assert_eq!(
            (get("POD"), get("APP"), get("IP")),
            ("web-0".into(), "web".into(), "10.42.0.5".into())
        );
        assert_eq!(argv(&c, &image, &env), ["/entry", "serve"]);
        let args = json!({"args": ["--mode=$(MODE)"]});
        assert_eq!(argv(&args, &image, &env), ["/entry", "--mode=prod"]);
        let cmd = json!({"command": ["/bin/sh", "-c"], "args": ["echo $(POD)"]});
        assert_eq!(argv(&cmd, &image, &env), ["/bin/sh", "-c", "echo web-0"]);
        assert_eq!(
            argv(&json!({"command": ["/x"]}), &image, &env),
            ["/x"],
            "a command drops the image's cmd"
        );
    }

    #[test]
    fn users_capabilities_and_limits() {
        assert_eq!(user(&pod(), &json!({}), &json!({"User": "5:6"})), (1000, 6));
        assert_eq!(
            user(&json!({}), &json!({"securityContext": {"runAsGroup": 3}}), &json!({})),
            (0, 3)
        );
        let dropped = capabilities(
            &json!({"securityContext": {"capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}}}),
        );
        assert_eq!(dropped, ["CAP_NET_BIND_SERVICE"]);
        assert!(capabilities(&json!({})).contains(&"CAP_CHOWN".to_owned()));
        let r = resources(&json!({"resources": {"limits": {"memory": "64Mi", "cpu": "500m"}}}));
        assert_eq!(r["memory"]["limit"], 64 * 1024 * 1024);
        assert_eq!(r["cpu"], json!({"shares": 512, "quota": 50000, "period": 100000}));
    }

    #[test]
    fn specs_join_the_pod_network_and_mount_its_files_and_volumes() {
        let netns = PathBuf::from("/run/netns/k3rs-u1");
        let f = PathBuf::from("/pod/f");
        let volume = |name: &str| (name == "data").then(|| PathBuf::from("/pod/volumes/data"));
        let paths = Paths {
            netns: &netns,
            etc_hosts: &f,
            resolv_conf: &f,
            hostname: &f,
            termination_log: &f,
            volume: &volume,
        };
        let c = json!({"name": "c", "image": "busybox", "command": ["sleep", "1"],
                       "volumeMounts": [{"name": "data", "mountPath": "/data", "readOnly": true}, {"name": "gone", "mountPath": "/x"}],
                       "securityContext": {"readOnlyRootFilesystem": true}});
        let s = spec(
            &pod(),
            &c,
            &json!({}),
            "/k3rs/podu1/c",
            &paths,
            &Downward::default(),
            &SourcedEnv::default(),
        );
        assert_eq!(
            s["linux"]["namespaces"][4],
            json!({"type": "network", "path": "/run/netns/k3rs-u1"})
        );
        assert_eq!(s["root"]["readonly"], true);
        assert_eq!(s["hostname"], "web-0");
        let dests: Vec<&str> = s["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["destination"].as_str().unwrap())
            .collect();
        assert!(
            dests.contains(&"/etc/resolv.conf")
                && dests.contains(&"/data")
                && !dests.contains(&"/x")
        );
        assert_eq!(s["process"]["args"], json!(["sleep", "1"]));
    }
}
