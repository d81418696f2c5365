//! End to end: changing objects the ways kubectl users do, through the real kubectl: client-side
//! `apply` (create, change, unchanged), `diff`, `patch --type strategic`, `edit` with a scripted
//! editor, server-side `apply` with field managers and conflicts, `wait` for a condition and
//! for deletion, `describe` and `cluster-info`.

#![allow(clippy::unwrap_used)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::process::Stdio;
use std::time::Duration;

use common::{Server, eventually, require_tool, text};

const DEPLOYMENT: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 1
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: nginx
        image: nginx:1.25
        ports: [{containerPort: 80}]
        env: [{name: A, value: \"1\"}]
      - name: sidecar
        image: busybox
";

/// Write `content` to `name` in the server's test directory; returns the path.
fn file(server: &Server, name: &str, content: &str) -> String {
    let path = server.dir.path().join(name);
    std::fs::write(&path, content).unwrap();
    path.to_str().unwrap().to_owned()
}

fn jsonpath(server: &Server, what: &str, path: &str) -> String {
    let (code, out) = server.k(&["get", what, "-o", &format!("jsonpath={path}")]);
    assert_eq!(code, Some(0), "{out}");
    out
}

#[test]
fn client_side_apply_creates_changes_and_leaves_unchanged_and_diff_shows_changes() {
    if !require_tool("kubectl") {
        return;
    }
    let server = Server::start(&[]);
    let k = |args: &[&str]| server.k(args);
    let first = file(&server, "web.yaml", DEPLOYMENT);
    assert_eq!(k(&["apply", "-f", &first]), (Some(0), "deployment.apps/web created".into()));
    assert_eq!(k(&["apply", "-f", &first]), (Some(0), "deployment.apps/web unchanged".into()));
    assert_eq!(k(&["diff", "-f", &first]).0, Some(0), "no difference to show");

    let changed = DEPLOYMENT.replace("replicas: 1", "replicas: 2").replace("1.25", "1.26");
    let second = file(&server, "web2.yaml", &changed);
    let (code, diff) = k(&["diff", "-f", &second]);
    assert_eq!(code, Some(1), "diff exits 1 when there are changes: {diff}");
    assert!(diff.contains("-  replicas: 1") && diff.contains("+  replicas: 2"), "{diff}");
    assert!(diff.contains("+        image: nginx:1.26"), "{diff}");
    assert_eq!(jsonpath(&server, "deploy/web", "{.spec.replicas}"), "1", "diff changes nothing");

    assert_eq!(k(&["apply", "-f", &second]), (Some(0), "deployment.apps/web configured".into()));
    let containers = "{.spec.template.spec.containers[*].name}";
    assert_eq!(jsonpath(&server, "deploy/web", "{.spec.replicas}"), "2");
    assert_eq!(jsonpath(&server, "deploy/web", containers), "nginx sidecar");
    assert_eq!(
        jsonpath(&server, "deploy/web", "{.spec.template.spec.containers[0].image}"),
        "nginx:1.26"
    );
    assert_eq!(k(&["apply", "-f", &second]), (Some(0), "deployment.apps/web unchanged".into()));

    // Removing a container from the manifest removes it from the object (a `$patch: delete`
    // or a list without it, with `$setElementOrder`).
    let without_sidecar = changed.replace("      - name: sidecar\n        image: busybox\n", "");
    let third = file(&server, "web3.yaml", &without_sidecar);
    assert_eq!(k(&["apply", "-f", &third]), (Some(0), "deployment.apps/web configured".into()));
    assert_eq!(jsonpath(&server, "deploy/web", containers), "nginx");
}

#[test]
fn strategic_patches_merge_lists_by_key_and_edit_saves_the_editors_change() {
    if !require_tool("kubectl") {
        return;
    }
    let server = Server::start(&[]);
    let k = |args: &[&str]| server.k(args);
    let manifest = file(&server, "web.yaml", DEPLOYMENT);
    assert_eq!(k(&["create", "-f", &manifest]).0, Some(0));

    let patch = r#"{"spec":{"template":{"spec":{"containers":[{"name":"nginx","env":[{"name":"B","value":"2"}]}]}}}}"#;
    assert_eq!(
        k(&["patch", "deploy/web", "--type", "strategic", "-p", patch]),
        (Some(0), "deployment.apps/web patched".into())
    );
    let env = jsonpath(&server, "deploy/web", "{.spec.template.spec.containers[0].env[*].name}");
    assert_eq!(env, "A B", "env merged by name, not replaced");
    assert_eq!(
        jsonpath(&server, "deploy/web", "{.spec.template.spec.containers[*].name}"),
        "nginx sidecar",
        "containers merged by name"
    );
    // The default patch type of `kubectl patch` is strategic, too.
    let delete =
        r#"{"spec":{"template":{"spec":{"containers":[{"name":"sidecar","$patch":"delete"}]}}}}"#;
    assert_eq!(k(&["patch", "deploy/web", "-p", delete]).0, Some(0));
    assert_eq!(
        jsonpath(&server, "deploy/web", "{.spec.template.spec.containers[*].name}"),
        "nginx"
    );

    let editor = server.dir.path().join("editor.sh");
    std::fs::write(&editor, "#!/bin/sh\nsed -i 's/replicas: 1/replicas: 4/' \"$1\"\n").unwrap();
    std::fs::set_permissions(&editor, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = server.kubectl_command(&["edit", "deploy/web"]).env("EDITOR", &editor).output();
    let out = out.unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(text(&out).trim(), "deployment.apps/web edited");
    assert_eq!(jsonpath(&server, "deploy/web", "{.spec.replicas}"), "4");
}

#[test]
fn server_side_apply_creates_updates_and_reports_conflicts_between_managers() {
    if !require_tool("kubectl") {
        return;
    }
    let server = Server::start(&[]);
    let k = |args: &[&str]| server.k(args);
    let manifest = file(&server, "web.yaml", DEPLOYMENT);
    let applied = (Some(0), "deployment.apps/web serverside-applied".into());
    assert_eq!(k(&["apply", "--server-side", "-f", &manifest]), applied);
    assert_eq!(k(&["apply", "--server-side", "-f", &manifest]), applied);
    let managers = "{.metadata.managedFields[*].manager}";
    assert_eq!(jsonpath(&server, "deploy/web", "{.metadata.managedFields[0].operation}"), "Apply");

    let scaled = file(&server, "web3.yaml", &DEPLOYMENT.replace("replicas: 1", "replicas: 3"));
    let (code, out) = k(&["apply", "--server-side", "--field-manager", "ops", "-f", &scaled]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains(r#"Apply failed with 1 conflict: conflict with "kubectl": .spec.replicas"#),
        "{out}"
    );
    assert_eq!(jsonpath(&server, "deploy/web", "{.spec.replicas}"), "1", "nothing written");

    let forced = ["apply", "--server-side", "--field-manager", "ops", "--force-conflicts"];
    assert_eq!(k(&[&forced[..], &["-f", &scaled]].concat()).0, Some(0));
    assert_eq!(jsonpath(&server, "deploy/web", "{.spec.replicas}"), "3");
    assert_eq!(jsonpath(&server, "deploy/web", managers), "kubectl ops");

    // A field the manager stops stating goes away when nobody else owns it.
    let trimmed = DEPLOYMENT.replace("        env: [{name: A, value: \"1\"}]\n", "");
    let trimmed = file(&server, "web-trimmed.yaml", &trimmed.replace("replicas: 1", "replicas: 3"));
    assert_eq!(k(&[&forced[..], &["-f", &trimmed]].concat()).0, Some(0));
    assert_eq!(
        jsonpath(&server, "deploy/web", "{.spec.template.spec.containers[0].env}"),
        r#"[{"name":"A","value":"1"}]"#,
        "still stated by the manager kubectl"
    );
    assert_eq!(k(&["apply", "--server-side", "-f", &trimmed]).0, Some(0));
    assert_eq!(jsonpath(&server, "deploy/web", "{.spec.template.spec.containers[0].env}"), "");
}

#[test]
fn wait_describe_and_cluster_info_work() {
    if !require_tool("kubectl") {
        return;
    }
    let server = Server::start(&[]);
    let k = |args: &[&str]| server.k(args);
    let manifest = file(&server, "web.yaml", DEPLOYMENT);
    assert_eq!(k(&["apply", "-f", &manifest]).0, Some(0));
    assert_eq!(
        k(&["wait", "--for=condition=Progressing", "deploy/web", "--timeout=30s"]),
        (Some(0), "deployment.apps/web condition met".into())
    );
    let (code, described) = k(&["describe", "deploy/web"]);
    assert_eq!(code, Some(0), "{described}");
    for line in ["Name:                   web", "Namespace:              default", "nginx:1.25"] {
        assert!(described.contains(line), "{line:?} in {described}");
    }
    assert!(described.contains("Replicas:               1 desired"), "{described}");
    // The controllers' events show under the object, as upstream's do.
    eventually("the scaling event", Duration::from_secs(20), || {
        let (_, d) = k(&["describe", "deploy/web"]);
        (d.contains("ScalingReplicaSet") && d.contains("deployment-controller")).then_some(())
    });
    let (_, events) =
        k(&["get", "events", "--field-selector", "reason=SuccessfulCreate", "-o", "name"]);
    assert!(!events.is_empty(), "the ReplicaSet's pod creation is recorded");

    let (code, info) = k(&["cluster-info"]);
    assert_eq!(code, Some(0), "{info}");
    assert!(info.contains("Kubernetes control plane is running at https://127.0.0.1:"), "{info}");

    // wait --for=delete returns once a finalizer-held object is finally gone.
    assert_eq!(k(&["create", "configmap", "held"]).0, Some(0));
    let finalizer = r#"{"metadata":{"finalizers":["example.com/hold"]}}"#;
    assert_eq!(k(&["patch", "cm/held", "--type", "merge", "-p", finalizer]).0, Some(0));
    assert_eq!(k(&["delete", "cm/held", "--wait=false"]).0, Some(0));
    let waiter = server
        .kubectl_command(&["wait", "--for=delete", "cm/held", "--timeout=60s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    eventually("the configmap to be terminating", Duration::from_secs(10), || {
        (!jsonpath(&server, "cm/held", "{.metadata.deletionTimestamp}").is_empty()).then_some(())
    });
    let release = r#"{"metadata":{"finalizers":null}}"#;
    assert_eq!(k(&["patch", "cm/held", "--type", "merge", "-p", release]).0, Some(0));
    let out = waiter.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(text(&out).trim(), "configmap/held condition met");
}
