//! End to end: agents join a server (real `k3rs server` and `k3rs agent` processes, the real
//! kubectl): three nodes Ready with roles and versions; wrong tokens refused; a changed node
//! password rejected until its Secret is deleted; a killed agent's node goes NotReady and comes
//! back; a node's credentials cannot touch other nodes or list secrets.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{Agent, Server, eventually, kubectl, require_tool};

/// `name ready-status` per node.
fn readiness(server: &Server) -> Vec<String> {
    let path = r#"{range .items[*]}{.metadata.name} {.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}"#;
    let (code, out) = server.k(&["get", "nodes", "-o", &format!("jsonpath={path}")]);
    assert_eq!(code, Some(0), "{out}");
    out.lines().map(str::to_owned).collect()
}

fn ready(server: &Server, node: &str) -> bool {
    readiness(server).iter().any(|l| *l == format!("{node} True"))
}

#[test]
fn a_server_and_two_agents_are_ready_nodes_with_roles_and_versions() {
    if !require_tool("kubectl") {
        return;
    }
    let bridge = || {
        std::process::Command::new("ip")
            .args(["link", "show", "cni0"])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    let proxy_table = || {
        std::process::Command::new("nft")
            .args(["list", "table", "ip", "k3rs-proxy"])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    let (had_bridge, had_table) = (bridge(), proxy_table());
    let (server, dirs, mut agents) = common::three_nodes();
    let a2 = agents.pop().unwrap();
    // Agents reach the server through their load balancer, which keeps the server list.
    let lb = std::fs::read_to_string(
        dirs.path().join("a1/data/agent/etc/k3rs-agent-load-balancer.json"),
    )
    .unwrap();
    assert!(lb.contains(&format!("\"ServerURL\":\"https://127.0.0.1:{}\"", server.port)), "{lb}");
    assert_eq!(readiness(&server), ["agent-1 True", "agent-2 True", "server-0 True"]);
    let labels =
        |node: &str| server.k(&["get", "node", node, "-o", "jsonpath={.metadata.labels}"]).1;
    assert!(labels("server-0").contains(r#""node-role.kubernetes.io/control-plane":"true""#));
    assert!(labels("server-0").contains(r#""node-role.kubernetes.io/master":"true""#));
    assert!(!labels("agent-1").contains("node-role"));
    let (_, version) =
        server.k(&["get", "node", "agent-1", "-o", "jsonpath={.status.nodeInfo.kubeletVersion}"]);
    assert!(version.starts_with("v1.32."), "{version}");
    let (_, ip) = server.k(&[
        "get",
        "node",
        "agent-2",
        "-o",
        r#"jsonpath={.status.addresses[?(@.type=="InternalIP")].address}"#,
    ]);
    assert_eq!(ip, "127.0.0.3");
    // Each node gets its own pod range from the cluster CIDR.
    let ranges = eventually("pod ranges for the three nodes", Duration::from_secs(20), || {
        let (_, out) = server.k(&["get", "nodes", "-o", "jsonpath={.items[*].spec.podCIDR}"]);
        let mut r: Vec<String> = out.split_whitespace().map(str::to_owned).collect();
        r.sort();
        (r.len() == 3).then_some(r)
    });
    assert_eq!(ranges, ["10.42.0.0/24", "10.42.1.0/24", "10.42.2.0/24"]);
    // The admin summary counts them.
    let (code, status) = server.k(&["get", "--raw", "/admin/status"]);
    assert_eq!(code, Some(0), "{status}");
    let status: serde_json::Value = serde_json::from_str(&status).unwrap();
    assert_eq!(status["nodes"]["ready"], serde_json::json!(["agent-1", "agent-2", "server-0"]));
    assert_eq!(status["servers"][0], format!("127.0.0.1:{}", server.port));
    assert_eq!(status["datastore"]["backend"], "sled");
    // Every node keeps a tunnel to the server; the server reaches each kubelet through it.
    let tunnels = || {
        let (code, out) = server.k(&["get", "--raw", "/admin/tunnels"]);
        assert_eq!(code, Some(0), "{out}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        v["tunnels"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["node"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    eventually("three tunnels", Duration::from_secs(20), || {
        (tunnels() == ["agent-1", "agent-2", "server-0"]).then_some(())
    });
    for node in ["server-0", "agent-1", "agent-2"] {
        let (code, out) =
            server.k(&["get", "--raw", &format!("/api/v1/nodes/{node}/proxy/healthz")]);
        assert_eq!((code, out.as_str()), (Some(0), "ok"), "{node}");
    }
    // The actor trees: the server's, and an agent's asked through its tunnel.
    let actors = |query: &str| {
        let (code, out) = server.k(&["get", "--raw", &format!("/admin/actors{query}")]);
        assert_eq!(code, Some(0), "{out}");
        serde_json::from_str::<serde_json::Value>(&out).unwrap()["actors"].clone()
    };
    let kinds = |tree: &serde_json::Value| {
        tree.as_array()
            .unwrap()
            .iter()
            .map(|a| a["kind"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    let here = actors("");
    assert_eq!(kinds(&here), ["DatastoreActor", "ControllerActor", "ApiActor", "NodeAgentActor"]);
    let sessions: Vec<&str> = here[2]["children"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(sessions.len(), 3, "{here}");
    let agent = actors("?node=agent-1");
    assert_eq!(kinds(&agent), ["LoadBalancerActor", "NodeAgentActor"]);
    assert_eq!(agent[1]["state"], "running", "{agent}");
    let tunnel = agent[1]["children"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["kind"] == "TunnelClient")
        .unwrap();
    assert_eq!(
        (&tunnel["state"], &tunnel["name"]),
        (&serde_json::json!("running"), &serde_json::json!(format!("127.0.0.1:{}", server.port)))
    );
    assert!(
        agent[1]["children"].as_array().unwrap().iter().any(|c| c["kind"] == "PodSupervisor"),
        "{agent}"
    );
    // Each node renews its Lease.
    let (_, leases) = server.k(&["get", "leases", "-n", "kube-node-lease", "-o", "name"]);
    assert_eq!(
        leases,
        "lease.coordination.k8s.io/agent-1\nlease.coordination.k8s.io/agent-2\nlease.coordination.k8s.io/server-0"
    );

    // A removed node takes its password Secret and Lease with it.
    let secrets = || server.k(&["get", "secrets", "-n", "kube-system", "-o", "name"]).1;
    eventually("the password secret owned by its node", Duration::from_secs(20), || {
        let (_, owner) = server.k(&[
            "get",
            "secret",
            "-n",
            "kube-system",
            "agent-2.node-password.k3rs",
            "-o",
            "jsonpath={.metadata.ownerReferences[0].kind}",
        ]);
        (owner == "Node").then_some(())
    });
    // Nodes that run no pods leave this machine's network alone (no bridge, no addresses).
    assert!(had_bridge || !bridge(), "a node without pods made cni0 in the root namespace");
    // Nodes in this machine's namespace run without the service proxy (the tests' rule).
    assert!(had_table || !proxy_table(), "service rules were made in the root namespace");
    a2.kill();
    eventually("agent-2's tunnel gone", Duration::from_secs(70), || {
        (tunnels() == ["agent-1", "server-0"]).then_some(())
    });
    let (code, out) = server.k(&["get", "--raw", "/api/v1/nodes/agent-2/proxy/healthz"]);
    assert_ne!(code, Some(0), "{out}");
    assert!(out.contains("ServiceUnavailable") || out.contains("not reachable"), "{out}");
    assert_eq!(server.k(&["delete", "node", "agent-2"]).0, Some(0));
    eventually("agent-2's secret and lease gone", Duration::from_secs(20), || {
        let (_, leases) = server.k(&["get", "leases", "-n", "kube-node-lease", "-o", "name"]);
        (!secrets().contains("agent-2") && !leases.contains("agent-2")).then_some(())
    });
    assert!(secrets().contains("agent-1.node-password.k3rs"));
}

#[test]
fn wrong_tokens_are_refused_and_the_node_never_appears() {
    if !require_tool("kubectl") {
        return;
    }
    let server = Server::start(&[]);
    let dirs = tempfile::tempdir().unwrap();
    let token = server.token();
    let (hash_part, _) = token.split_once("::").unwrap();
    let wrong_secret = format!("{hash_part}::server:not-the-secret");
    let agent =
        Agent::start(&dirs.path().join("a"), "intruder", "127.0.0.2", &server.url(), &wrong_secret);
    eventually("the agent to give up", Duration::from_secs(30), || {
        agent.log().contains("refused the token").then_some(())
    });
    assert_eq!(agent.wait(Duration::from_secs(30)), Some(1));

    let zeros = format!("K10{}::server:whatever", "0".repeat(64));
    let agent =
        Agent::start(&dirs.path().join("b"), "intruder", "127.0.0.2", &server.url(), &zeros);
    eventually("the CA mismatch", Duration::from_secs(30), || {
        agent
            .log()
            .contains("token CA hash does not match the Cluster CA certificate hash")
            .then_some(())
    });
    assert_eq!(agent.wait(Duration::from_secs(30)), Some(1));
    let (_, nodes) = server.k(&["get", "nodes", "-o", "name"]);
    assert_eq!(nodes, "", "no node joined");
    let (_, secrets) = server.k(&["get", "secrets", "-n", "kube-system", "-o", "name"]);
    assert!(!secrets.contains("intruder"), "no credentials stored: {secrets}");
}

#[test]
fn a_killed_agent_goes_not_ready_and_a_changed_password_waits_for_its_secret() {
    if !require_tool("kubectl") {
        return;
    }
    let server = Server::start(&[]);
    let dirs = tempfile::tempdir().unwrap();
    let dir = dirs.path().join("a1");
    let token = server.token();
    let agent = Agent::start(&dir, "agent-1", "127.0.0.2", &server.url(), &token);
    eventually("agent-1 ready", Duration::from_secs(30), || {
        ready(&server, "agent-1").then_some(())
    });

    // A node's credentials reach only what the node needs.
    let as_node = |args: &[&str]| {
        let out = kubectl(&agent.kubeconfig(), dirs.path(), args);
        common::text(&out)
    };
    let denied = as_node(&["get", "secrets", "-A"]);
    assert!(denied.contains("Error from server (Forbidden)"), "{denied}");
    let denied = as_node(&["label", "node", "agent-1", "by-node=yes", "--dry-run=server"]);
    assert!(!denied.contains("Forbidden"), "its own node: {denied}");
    let other = as_node(&["annotate", "ns", "default", "x=y"]);
    assert!(other.contains("Error from server (Forbidden)"), "{other}");
    let proxy = as_node(&["get", "--raw", "/api/v1/nodes/agent-1/proxy/healthz"]);
    assert!(proxy.contains(r#"cannot get resource "nodes/proxy""#), "{proxy}");
    let admin = as_node(&["get", "--raw", "/admin/tunnels"]);
    assert!(admin.contains("Error from server (Forbidden)"), "{admin}");

    agent.kill();
    eventually("agent-1 not ready", Duration::from_secs(70), || {
        readiness(&server).contains(&"agent-1 Unknown".to_owned()).then_some(())
    });
    let (_, taints) = server.k(&["get", "node", "agent-1", "-o", "jsonpath={.spec.taints[*].key}"]);
    assert!(taints.contains("node.kubernetes.io/unreachable"), "{taints}");

    std::fs::write(dir.join("node/password"), "0123456789abcdef0123456789abcdef\n").unwrap();
    let agent = Agent::start(&dir, "agent-1", "127.0.0.2", &server.url(), &token);
    let rejected = "Node password rejected, duplicate hostname or contents of";
    eventually("the password rejection", Duration::from_secs(30), || {
        agent.log().contains(rejected).then_some(())
    });
    assert!(agent.log().contains("try enabling a unique node name with the --with-node-id flag"));
    assert!(!ready(&server, "agent-1"));

    let secret = ["delete", "secret", "-n", "kube-system", "agent-1.node-password.k3rs"];
    assert_eq!(server.k(&secret).0, Some(0));
    eventually("agent-1 ready again", Duration::from_secs(60), || {
        ready(&server, "agent-1").then_some(())
    });
    eventually("the unreachable taint removed", Duration::from_secs(30), || {
        let (_, t) = server.k(&["get", "node", "agent-1", "-o", "jsonpath={.spec.taints}"]);
        (!t.contains("unreachable")).then_some(())
    });
}
