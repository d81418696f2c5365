//! `k3rs server` as a process, with the real kubectl: it comes up on the embedded datastore,
//! serves TLS that kubectl trusts through the kubeconfig it wrote, keeps its identity across
//! restarts, and stops cleanly on SIGTERM.

#![allow(clippy::unwrap_used)]

mod common;

use std::os::unix::fs::PermissionsExt;

use common::{Server, require_tool, text};

#[test]
fn kubectl_talks_to_a_fresh_server() {
    if !require_tool("kubectl") {
        return;
    }
    let server = Server::start(&[]);
    let out = server.kubectl(&["version"]);
    assert!(out.status.success(), "{}\n{}", text(&out), server.log());
    assert!(text(&out).contains("Server Version: v1.32.0+k3rs-"), "{}", text(&out));
    let out = server.kubectl(&["get", "--raw", "/healthz"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ok");
    let out = server.kubectl(&["get", "--raw", "/readyz?verbose"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("[+]datastore ok"), "{}", text(&out));
    // Files K3s users expect.
    let data = server.data_dir();
    let token = std::fs::read_to_string(data.join("server/token")).unwrap();
    assert!(token.starts_with("K10") && token.contains("::server:"), "{token}");
    assert_eq!(std::fs::read_to_string(data.join("server/node-token")).unwrap(), token);
    let mode = std::fs::metadata(&server.kubeconfig).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert!(data.join("server/db/sled").is_dir());
}

#[test]
fn the_server_keeps_its_ca_and_token_across_restarts_and_stops_on_sigterm() {
    if !require_tool("kubectl") {
        return;
    }
    let server = Server::start(&["--write-kubeconfig-mode", "0644", "--token", "sekret"]);
    let mode = std::fs::metadata(&server.kubeconfig).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o644);
    let data = server.data_dir();
    let ca = std::fs::read(data.join("server/tls/server-ca.crt")).unwrap();
    let token = std::fs::read_to_string(data.join("server/token")).unwrap();
    assert!(token.trim_end().ends_with("::server:sekret"), "{token}");
    let (status, dir) = server.terminate();
    assert!(status.success(), "SIGTERM should stop the server cleanly: {status}");
    // A SIGKILLed server restarts on the same data too.
    let server = Server::start_in(dir, &[]);
    assert_eq!(std::fs::read(server.data_dir().join("server/tls/server-ca.crt")).unwrap(), ca);
    assert_eq!(std::fs::read_to_string(server.data_dir().join("server/token")).unwrap(), token);
    let dir = server.kill();
    let server = Server::start_in(dir, &["--datastore-endpoint", "sqlite://"]);
    let out = server.kubectl(&["get", "--raw", "/readyz"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ok", "{}", server.log());
    assert!(server.data_dir().join("server/db/state.db").is_file());
}

#[test]
fn a_wrong_token_for_an_existing_cluster_is_refused() {
    let server = Server::start(&["--token", "first"]);
    let dir = server.kill();
    let data = dir.path().join("data");
    let out = std::process::Command::new(common::K3RS)
        .args([
            "server",
            "--data-dir",
            data.to_str().unwrap(),
            "--token",
            "second",
            "--https-listen-port",
        ])
        .arg(common::free_port().to_string())
        .arg("--write-kubeconfig")
        .arg(dir.path().join("kc"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not match"), "{}", text(&out));
}

#[test]
fn json_logs_are_one_object_per_line() {
    let server = Server::start(&["--log-format", "json"]);
    let log = server.log();
    let up = log.lines().find(|l| l.contains("k3rs server is up")).unwrap();
    assert!(up.starts_with('{') && up.ends_with('}'), "{up}");
    assert!(
        up.contains("\"level\":\"INFO\"") && up.contains("\"message\":\"k3rs server is up\""),
        "{up}"
    );
    for line in log.lines() {
        assert!(line.starts_with('{'), "not JSON: {line}");
    }
}

#[test]
fn kubectl_discovers_the_built_in_resources() {
    if !require_tool("kubectl") {
        return;
    }
    let server = Server::start(&[]);
    let out = server.kubectl(&["api-resources"]);
    assert!(out.status.success(), "{}\n{}", text(&out), server.log());
    let listing = String::from_utf8_lossy(&out.stdout).into_owned();
    let row = |name: &str| -> Vec<String> {
        listing
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("{name} missing from:\n{listing}"))
            .split_whitespace()
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(row("deployments"), ["deployments", "deploy", "apps/v1", "true", "Deployment"]);
    assert_eq!(row("namespaces"), ["namespaces", "ns", "v1", "false", "Namespace"]);
    assert_eq!(row("leases"), ["leases", "coordination.k8s.io/v1", "true", "Lease"]);
    assert_eq!(
        row("customresourcedefinitions"),
        [
            "customresourcedefinitions",
            "crd,crds",
            "apiextensions.k8s.io/v1",
            "false",
            "CustomResourceDefinition"
        ]
    );
    let out = server.kubectl(&["api-resources", "--api-group=batch", "-o", "name"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "cronjobs.batch\njobs.batch\n");
}

#[test]
fn kubectl_reads_the_system_namespaces() {
    if !require_tool("kubectl") {
        return;
    }
    let server = Server::start(&[]);
    let out = server.kubectl(&["get", "namespaces"]);
    assert!(out.status.success(), "{}\n{}", text(&out), server.log());
    let listing = String::from_utf8_lossy(&out.stdout).into_owned();
    let lines: Vec<Vec<&str>> = listing.lines().map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(lines[0], ["NAME", "STATUS", "AGE"], "{listing}");
    let names: Vec<&str> = lines[1..].iter().map(|l| l[0]).collect();
    assert_eq!(names, ["default", "kube-node-lease", "kube-public", "kube-system"]);
    assert!(lines[1..].iter().all(|l| l[1] == "Active"), "{listing}");
    // Pages of two, followed with continue tokens, give the same list.
    let out = server.kubectl(&["get", "ns", "--chunk-size=2", "-o", "name"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "namespace/default\nnamespace/kube-node-lease\nnamespace/kube-public\nnamespace/kube-system\n"
    );
    let out = server.kubectl(&["get", "ns", "kube-system", "-o", "yaml"]);
    let yaml = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        yaml.contains("name: kube-system")
            && yaml.contains("resourceVersion: \"")
            && yaml.contains("uid: "),
        "{yaml}"
    );
    let out = server.kubectl(&["get", "ns", "nope"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        "Error from server (NotFound): namespaces \"nope\" not found"
    );
    let out = server.kubectl(&["get", "pods", "-A"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("No resources found"), "{}", text(&out));
    let out = server.kubectl(&["get", "deployments", "-n", "kube-system"]);
    assert!(text(&out).contains("No resources found in kube-system namespace."), "{}", text(&out));
    // The namespaces are created once: a restart keeps their uids.
    let uid = |s: &Server| {
        String::from_utf8_lossy(
            &s.kubectl(&["get", "ns", "default", "-o", "jsonpath={.metadata.uid}"]).stdout,
        )
        .into_owned()
    };
    let before = uid(&server);
    let (_, dir) = server.terminate();
    let server = Server::start_in(dir, &[]);
    assert_eq!(uid(&server), before);
}
