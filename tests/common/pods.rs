//! What tests that run pods share: the busybox test image, the check that this machine can
//! run pods, and a guard deleting the test's pods at its end.

use super::{Server, require_tool};

/// A `docker save` archive of `busybox:test` made from the host's static busybox.
pub fn busybox_archive() -> Vec<u8> {
    let applets = [
        "sh", "sleep", "echo", "cat", "true", "false", "ls", "httpd", "wget", "hostname", "mkdir",
        "dd", "ip", "nslookup", "ping", "nc",
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

/// A server and two agents, each node in its own lab namespace (`node-0` at 10.99.0.10 is the
/// server), all with the busybox image; the pods are deleted before the nodes stop.
pub struct LabCluster {
    // Field order is drop order: pods first, then the agents, the server, the namespaces.
    pub cleanup: DeletePods,
    pub agents: Vec<super::Agent>,
    pub server: Server,
    pub nets: Vec<super::netlab::NodeNet>,
    pub dirs: tempfile::TempDir,
    pub lab: super::netlab::Lab,
}

impl LabCluster {
    /// Start it; `extra` goes to the server.
    pub fn start(extra: &[&str]) -> LabCluster {
        let mut lab = super::netlab::Lab::new();
        let nets = vec![lab.node(), lab.node(), lab.node()];
        let dirs = tempfile::tempdir().unwrap();
        let server_dir = tempfile::tempdir_in(dirs.path()).unwrap();
        for dir in [server_dir.path().to_owned(), dirs.path().join("a1"), dirs.path().join("a2")] {
            let airgap = dir.join("data/agent/images");
            std::fs::create_dir_all(&airgap).unwrap();
            std::fs::write(airgap.join("busybox.tar"), busybox_archive()).unwrap();
        }
        let password = server_dir.path().join("node/password");
        let mut args = vec![
            "--node-name",
            "node-0",
            // The advertised address follows the node's (K3s's default).
            "--node-ip",
            &nets[0].address,
            "--node-password-file",
            password.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let server = Server::start_in_netns(&nets[0], server_dir, &args);
        let token = server.token();
        let agents = vec![
            super::Agent::start_in_netns(
                &nets[1],
                &dirs.path().join("a1"),
                "node-1",
                &server.url(),
                &token,
            ),
            super::Agent::start_in_netns(
                &nets[2],
                &dirs.path().join("a2"),
                "node-2",
                &server.url(),
                &token,
            ),
        ];
        let cleanup = DeletePods::of(&server);
        LabCluster { cleanup, agents, server, nets, dirs, lab }
    }
}
