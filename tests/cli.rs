//! The command line as a user meets it: version, help, flag > env > file > default, and one-line
//! errors for bad configuration.

#![allow(clippy::unwrap_used)]

mod common;

use std::process::{Command, Output};

use common::{K3RS, text};

fn k3rs(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(K3RS);
    cmd.args(args);
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("K3RS_")) {
        cmd.env_remove(k);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn stderr_line(out: &Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "expected one line on stderr, got:\n{err}");
    lines[0].to_owned()
}

#[test]
fn version_and_help() {
    let out = k3rs(&["--version"], &[]);
    assert!(out.status.success());
    assert!(text(&out).starts_with("k3rs version v0.1.0+k3rs ("), "{}", text(&out));
    let help = text(&k3rs(&["--help"], &[]));
    assert!(
        help.contains("server") && help.contains("agent") && help.contains("--data-dir"),
        "{help}"
    );
    let server_help = text(&k3rs(&["server", "--help"], &[]));
    for flag in [
        "--datastore-endpoint",
        "--cluster-cidr",
        "--tls-san",
        "--write-kubeconfig-mode",
        "--node-label",
    ] {
        assert!(server_help.contains(flag), "server --help lacks {flag}");
    }
}

#[test]
fn unknown_flags_fail() {
    let out = k3rs(&["server", "--no-such-flag"], &[]);
    assert!(!out.status.success());
    assert!(text(&out).contains("--no-such-flag"));
}

#[test]
fn flag_beats_env_beats_file_beats_default() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config.yaml");
    std::fs::write(&cfg, "https-listen-port: 7443\ncluster-domain: file.local\nnode-name: from-file\ntls-san: [san.example]\n")
        .unwrap();
    let cfg = cfg.to_str().unwrap();
    let print = |extra: &[&str], env: &[(&str, &str)]| {
        let mut args = vec!["server", "--config", cfg, "--print-config"];
        args.extend_from_slice(extra);
        let out = k3rs(&args, env);
        assert!(out.status.success(), "{}", text(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let from_file = print(&[], &[]);
    assert!(from_file.contains("https_listen_port: 7443"), "{from_file}");
    assert!(from_file.contains("\"san.example\""), "{from_file}");
    assert!(from_file.contains("cluster_domain: \"file.local\""));
    assert!(
        from_file.contains("addr: 10.42.0.0,"),
        "the cluster CIDR default is kept: {from_file}"
    );
    let env = print(&[], &[("K3RS_NODE_NAME", "from-env")]);
    assert!(env.contains("node_name: Some(\n") && env.contains("\"from-env\""), "{env}");
    let flag = print(&["--node-name", "from-flag"], &[("K3RS_NODE_NAME", "from-env")]);
    assert!(flag.contains("\"from-flag\"") && !flag.contains("from-env"), "{flag}");
    // The config file itself can come from the environment.
    let out = k3rs(&["server", "--print-config"], &[("K3RS_CONFIG_FILE", cfg)]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("https_listen_port: 7443"));
    // Data dir from the environment.
    let out =
        k3rs(&["server", "--config", cfg, "--print-config"], &[("K3RS_DATA_DIR", "/srv/k3rs")]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("data_dir: /srv/k3rs"));
}

#[test]
fn bad_configuration_is_one_line_naming_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config.yaml");
    let path = cfg.to_str().unwrap();
    std::fs::write(&cfg, "tls-sans: [x]\n").unwrap();
    let out = k3rs(&["server", "--config", path], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stderr_line(&out), format!("k3rs: config file {path}: unknown key \"tls-sans\""));

    std::fs::write(&cfg, "token: [unclosed\n").unwrap();
    let out = k3rs(&["server", "--config", path], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr_line(&out).starts_with(&format!("k3rs: config file {path}: ")));

    std::fs::write(&cfg, "https-listen-port: seventy\n").unwrap();
    let out = k3rs(&["server", "--config", path], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr_line(&out)
            .starts_with(&format!("k3rs: config file {path}: key \"https-listen-port\": "))
    );

    let missing = dir.path().join("missing.yaml");
    let out = k3rs(&["server", "--config", missing.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr_line(&out).contains("missing.yaml"));
}

#[test]
fn bad_datastore_endpoints_are_refused_before_anything_starts() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = k3rs(
        &["server", "--data-dir", data.to_str().unwrap(), "--datastore-endpoint", "mysql://db/k3s"],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr_line(&out).starts_with("k3rs: invalid datastore endpoint \"mysql://db/k3s\""));
    assert!(!data.join("server/tls").exists(), "nothing should be created");
    let out = k3rs(
        &[
            "server",
            "--data-dir",
            data.to_str().unwrap(),
            "--datastore-endpoint",
            "postgres://db/k3rs",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stderr_line(&out), "k3rs: datastore postgres is not supported yet");
}

#[test]
fn the_agent_names_what_it_is_missing() {
    let out = k3rs(&["agent"], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stderr_line(&out), "k3rs: --server (K3RS_URL) is required");
    let out = k3rs(&["agent", "--server", "https://127.0.0.1:1"], &[]);
    assert_eq!(stderr_line(&out), "k3rs: --token (K3RS_TOKEN) or --token-file is required");
    let out = k3rs(&["agent", "--server", "http://x", "--token", "t"], &[]);
    assert_eq!(stderr_line(&out), "k3rs: --server must be an https:// URL, not \"http://x\"");
    let out = k3rs(&["agent", "--server", "https://127.0.0.1:1", "--token", "K10abc::x:y"], &[]);
    assert_eq!(stderr_line(&out), "k3rs: reading the token: invalid token CA hash length");
}
