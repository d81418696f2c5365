//! Helpers for end-to-end tests: a real `k3rs server` process in a temporary data dir, and the
//! real `kubectl` pointed at it.

#![allow(dead_code, clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub mod netlab;
pub mod pods;
pub mod registry;

pub const K3RS: &str = env!("CARGO_BIN_EXE_k3rs");

/// For nodes in this machine's own network namespace: no service or policy rules and no overlay there
/// (only lab namespaces get them), and a server node at loopback. The overlay backend is the server's to choose (agents
/// learn it from the server).
pub fn root_namespace_flags(netns: Option<&str>, server: bool) -> Vec<&'static str> {
    match (netns, server) {
        (Some(_), _) => Vec::new(),
        // The node (and so the advertised address) at loopback, not at the machine's address.
        (None, true) => vec![
            "--disable-kube-proxy",
            "--disable-network-policy",
            "--flannel-backend=none",
            "--node-ip=127.0.0.1",
        ],
        (None, false) => vec!["--disable-kube-proxy", "--disable-network-policy"],
    }
}

/// Unless a test gives its own `--private-registry`: a registries.yaml in `dir` sending every
/// pull to a closed port on loopback, with the registries' own endpoints disabled, so no test
/// ever reaches for a registry outside this machine.
pub fn no_outside_registries(dir: &Path, extra: &[&str]) -> Vec<String> {
    if extra.contains(&"--private-registry") {
        return Vec::new();
    }
    std::fs::create_dir_all(dir).unwrap();
    let file = dir.join("no-outside-registries.yaml");
    std::fs::write(&file, "mirrors:\n  \"*\":\n    endpoint: [\"http://127.0.0.1:9\"]\n").unwrap();
    vec![
        "--private-registry".into(),
        file.display().to_string(),
        "--disable-default-registry-endpoint".into(),
    ]
}

/// Whether `tool` is on PATH. When it is not: under `CI=true` the test fails with a clear
/// message; elsewhere it prints why it is skipped and returns false.
pub fn require_tool(tool: &str) -> bool {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
        .unwrap_or(false);
    if !found {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!(
                "{tool} is not installed, and CI=true: install it (scripts/test.sh does) and run again"
            );
        }
        eprintln!("SKIPPED: {tool} is not on PATH");
    }
    found
}

/// A free port on loopback (the kernel picks; a tiny race with other processes is accepted).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A running `k3rs server`, stopped when dropped.
pub struct Server {
    pub dir: tempfile::TempDir,
    pub port: u16,
    pub kubeconfig: PathBuf,
    /// The network namespace it runs in (a test lab's), where its kubectl runs too.
    pub netns: Option<String>,
    /// Where other nodes reach it.
    pub address: String,
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
}

impl Server {
    /// Start a server in a new temporary data dir and wait until it says it is up.
    pub fn start(extra: &[&str]) -> Server {
        let dir = tempfile::tempdir().unwrap();
        Server::start_in(dir, extra)
    }

    /// Start a server that runs its own agent as node `node` (its password file in the test
    /// directory, address 127.0.0.1).
    pub fn start_with_agent(node: &str, extra: &[&str]) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let password = dir.path().join("node/password");
        let mut args = vec!["--node-name", node, "--node-ip", "127.0.0.1", "--node-password-file"];
        args.push(password.to_str().unwrap());
        args.extend_from_slice(extra);
        Server::start_in(dir, &args)
    }

    /// Start a server in `dir`; without `--node-name` in `extra` it runs no agent.
    pub fn start_in(dir: tempfile::TempDir, extra: &[&str]) -> Server {
        Server::start_on(None, dir, extra)
    }

    /// Start a server inside the lab node `net` (port 6443 there), in `dir`.
    pub fn start_in_netns(net: &netlab::NodeNet, dir: tempfile::TempDir, extra: &[&str]) -> Server {
        Server::start_on(Some(net), dir, extra)
    }

    fn start_on(net: Option<&netlab::NodeNet>, dir: tempfile::TempDir, extra: &[&str]) -> Server {
        let port = if net.is_some() { 6443 } else { free_port() };
        let netns = net.map(|n| n.netns.clone());
        let address = net.map_or_else(|| "127.0.0.1".to_owned(), |n| n.address.clone());
        let kubeconfig = dir.path().join("kubeconfig.yaml");
        let agent = extra.contains(&"--node-name");
        let mut child = netlab::command_in(netns.as_deref(), K3RS)
            .args(["server", "--data-dir"])
            .arg(dir.path().join("data"))
            .args(["--https-listen-port", &port.to_string(), "--write-kubeconfig"])
            .arg(&kubeconfig)
            .args(if agent { &[][..] } else { &["--disable-agent"][..] })
            .args(no_outside_registries(dir.path(), extra))
            .args(root_namespace_flags(netns.as_deref(), true))
            .args(extra)
            .env("RUST_LOG", "info")
            .env_remove("K3RS_TOKEN")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, rx) = mpsc::channel();
        let log = capture_log(&mut child, move |line| {
            if line.contains("k3rs server is up") {
                let _ = tx.send(());
            }
        });
        let server = Server { dir, port, kubeconfig, netns, address, child, log };
        if rx.recv_timeout(Duration::from_secs(60)).is_err() {
            panic!("k3rs server did not come up; its log:\n{}", server.log());
        }
        server
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Run the real kubectl against this server, with its own cache and home.
    pub fn kubectl(&self, args: &[&str]) -> Output {
        self.kubectl_command(args).output().unwrap()
    }

    /// The kubectl command `kubectl()` runs, for a test to add to (an `EDITOR`) or spawn.
    pub fn kubectl_command(&self, args: &[&str]) -> Command {
        kubectl_command_in(self.netns.as_deref(), &self.kubeconfig, self.dir.path(), args)
    }

    /// Run kubectl and return its exit code and its output (stdout then stderr), trimmed.
    pub fn k(&self, args: &[&str]) -> (Option<i32>, String) {
        let out = self.kubectl(args);
        (out.status.code(), text(&out).trim().to_owned())
    }

    /// Stop with SIGTERM and return the exit status.
    pub fn terminate(mut self) -> (std::process::ExitStatus, tempfile::TempDir) {
        let pid = rustix::process::Pid::from_child(&self.child);
        rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
        let status = wait_with_deadline(&mut self.child, Duration::from_secs(30));
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap());
        (status, dir)
    }

    /// Stop with SIGKILL.
    pub fn kill(mut self) -> tempfile::TempDir {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap())
    }
}

impl Server {
    pub fn url(&self) -> String {
        format!("https://{}:{}", self.address, self.port)
    }

    /// The join token.
    pub fn token(&self) -> String {
        std::fs::read_to_string(self.data_dir().join("server/token")).unwrap().trim().to_owned()
    }
}

/// A running `k3rs agent` with its own data dir and password file, stopped when dropped.
pub struct Agent {
    pub dir: PathBuf,
    pub name: String,
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
}

impl Agent {
    /// Start `k3rs agent --server URL --token TOKEN` as node `name` at address `ip`; `dir` holds
    /// its data dir and password file and survives restarts.
    pub fn start(dir: &Path, name: &str, ip: &str, server: &str, token: &str) -> Agent {
        Agent::start_on(None, dir, name, ip, server, token)
    }

    /// The same, inside the lab node `net` (its address is the node's).
    pub fn start_in_netns(
        net: &netlab::NodeNet,
        dir: &Path,
        name: &str,
        server: &str,
        token: &str,
    ) -> Agent {
        Agent::start_on(Some(&net.netns), dir, name, &net.address, server, token)
    }

    fn start_on(
        netns: Option<&str>,
        dir: &Path,
        name: &str,
        ip: &str,
        server: &str,
        token: &str,
    ) -> Agent {
        let lb_port = if netns.is_some() { 6444 } else { free_port() };
        let mut child = netlab::command_in(netns, K3RS)
            .args(["agent", "--data-dir"])
            .arg(dir.join("data"))
            .args(["--server", server, "--token", token, "--node-name", name, "--node-ip", ip])
            .args(["--lb-server-port", &lb_port.to_string()])
            .arg("--node-password-file")
            .arg(dir.join("node/password"))
            .args(no_outside_registries(dir, &[]))
            .args(root_namespace_flags(netns, false))
            .env("RUST_LOG", "info")
            .env_remove("K3RS_TOKEN")
            .env_remove("K3RS_URL")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let log = capture_log(&mut child, |_| {});
        Agent { dir: dir.to_owned(), name: name.to_owned(), child, log }
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// The kubeconfig the agent wrote for its node credentials.
    pub fn kubeconfig(&self) -> PathBuf {
        self.dir.join("data/agent/kubelet.kubeconfig")
    }

    pub fn password_file(&self) -> PathBuf {
        self.dir.join("node/password")
    }

    /// Wait for the process to end by itself; its exit code.
    pub fn wait(mut self, limit: Duration) -> Option<i32> {
        let status = wait_with_deadline(&mut self.child, limit);
        status.code()
    }

    /// Stop with SIGKILL.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_with_deadline(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let (tx, rx) = mpsc::channel();
    let pid = child.id();
    // Wait on another thread so the deadline holds without polling.
    let waiter = std::thread::spawn(move || {
        let _ = rx.recv_timeout(limit).map_err(|_| {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        });
    });
    let status = child.wait().unwrap();
    let _ = tx.send(());
    waiter.join().unwrap();
    status
}

/// Collect a child's stderr lines (for the test's messages), telling `seen` of each one after
/// it is kept, so a waiter woken by a line finds it in the log.
fn capture_log(child: &mut Child, seen: impl Fn(&str) + Send + 'static) -> Arc<Mutex<Vec<String>>> {
    let log = Arc::new(Mutex::new(Vec::new()));
    let stderr = child.stderr.take().unwrap();
    let sink = log.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            sink.lock().unwrap().push(line.clone());
            seen(&line);
        }
    });
    log
}

pub fn kubectl(kubeconfig: &Path, home: &Path, args: &[&str]) -> Output {
    kubectl_command(kubeconfig, home, args).output().unwrap()
}

pub fn kubectl_command(kubeconfig: &Path, home: &Path, args: &[&str]) -> Command {
    kubectl_command_in(None, kubeconfig, home, args)
}

/// kubectl run inside `netns` (a lab node's), or here.
pub fn kubectl_command_in(
    netns: Option<&str>,
    kubeconfig: &Path,
    home: &Path,
    args: &[&str],
) -> Command {
    let mut cmd = netlab::command_in(netns, "kubectl");
    cmd.arg("--kubeconfig")
        .arg(kubeconfig)
        .arg("--cache-dir")
        .arg(home.join("kube-cache"))
        .args(args)
        .env("HOME", home)
        .env_remove("KUBECONFIG")
        .stdin(Stdio::null());
    cmd
}

pub fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// Poll `check` until it returns `Some` or `limit` passes (then panic naming `what`). Each
/// attempt is a real request, so there is no fixed sleep; a short pause between attempts keeps
/// the loop from spinning.
pub fn eventually<T>(what: &str, limit: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(std::time::Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::park_timeout(Duration::from_millis(50));
    }
}

/// A Deployment `web` of `replicas` nginx pods, as YAML.
pub fn deployment(replicas: u32) -> String {
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: {replicas}
  selector:
    matchLabels: {{app: web}}
  template:
    metadata:
      labels: {{app: web}}
    spec:
      containers:
      - name: nginx
        image: nginx:1.25
"
    )
}

/// A server that is node `server-0` and agents `agent-1`, `agent-2` (127.0.0.2, 127.0.0.3), all
/// Ready. The agents' directories live in the returned temporary directory.
pub fn three_nodes() -> (Server, tempfile::TempDir, Vec<Agent>) {
    let server = Server::start_with_agent("server-0", &[]);
    let dirs = tempfile::tempdir().unwrap();
    let token = server.token();
    let agents = vec![
        Agent::start(&dirs.path().join("a1"), "agent-1", "127.0.0.2", &server.url(), &token),
        Agent::start(&dirs.path().join("a2"), "agent-2", "127.0.0.3", &server.url(), &token),
    ];
    eventually("three ready nodes", Duration::from_secs(60), || {
        let path = r#"{range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}"#;
        let (_, out) = server.k(&["get", "nodes", "-o", &format!("jsonpath={path}")]);
        (out.lines().filter(|l| *l == "True").count() == 3).then_some(())
    });
    (server, dirs, agents)
}
