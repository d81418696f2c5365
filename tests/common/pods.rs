//! What tests that run pods share: the busybox test image, the check that this machine can
//! run pods, and a guard deleting the test's pods at its end.

use super::{Server, require_tool};

/// A `docker save` archive of `busybox:test` made from the host's static busybox.
pub fn busybox_archive() -> Vec<u8> {
    let applets = [
        "sh", "sleep", "echo", "cat", "true", "false", "ls", "httpd", "wget", "hostname", "mkdir",
        "dd", "ip", "nslookup",
    ];
    k3rs_images::testing::busybox_archive("busybox:test", &applets).unwrap()
}

/// Deletes the test's workloads and pods when the test ends, passing or not, so their containers, mounts and
/// network namespaces go with them (the agent removes them; the server is still up then).
pub struct DeletePods {
    kubeconfig: std::path::PathBuf,
    home: std::path::PathBuf,
    netns: Option<String>,
}

impl DeletePods {
    pub fn of(server: &Server) -> DeletePods {
        DeletePods {
            kubeconfig: server.kubeconfig.clone(),
            home: server.dir.path().to_owned(),
            netns: server.netns.clone(),
        }
    }
}

impl Drop for DeletePods {
    fn drop(&mut self) {
        let kubectl = |args: &[&str]| {
            let mut c = super::kubectl_command_in(
                self.netns.as_deref(),
                &self.kubeconfig,
                &self.home,
                args,
            );
            let _ = c.output();
        };
        // Workloads first (their pods left alone), or they would make new pods.
        let workloads = "cronjobs,deployments,replicasets,daemonsets,statefulsets,jobs";
        kubectl(&["delete", workloads, "--all", "--cascade=orphan"]);
        kubectl(&["delete", "pods", "--all", "--grace-period=1", "--timeout=60s"]);
    }
}

/// Whether this machine can run pods: root, runc, iproute2, kubectl (under CI=true a missing
/// one fails the test).
pub fn can_run_pods() -> bool {
    if !require_tool("kubectl")
        || !require_tool("runc")
        || !require_tool("ip")
        || !require_tool("nsenter")
        || !require_tool("nft")
    {
        return false;
    }
    if !rustix::process::geteuid().is_root() {
        assert_ne!(std::env::var("CI").as_deref(), Ok("true"), "running pods needs root");
        eprintln!("SKIPPED: running pods needs root");
        return false;
    }
    true
}
