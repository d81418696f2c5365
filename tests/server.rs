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

#[test]
fn kubectl_creates_replaces_and_deletes_objects() {
    if !require_tool("kubectl") {
        return;
    }
    let server = Server::start(&[]);
    let file = |name: &str, body: &str| {
        let p = server.dir.path().join(name);
        std::fs::write(&p, body).unwrap();
        p.to_str().unwrap().to_owned()
    };
    let k = |args: &[&str]| server.k(args);
    // OpenAPI validation is not served yet, so files go in with --validate=false.
    let ns = file("ns.yaml", "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team\n");
    assert_eq!(
        k(&["create", "-f", &ns, "--validate=false"]),
        (Some(0), "namespace/team created".into())
    );
    let cm = file(
        "cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: demo\n  namespace: team\ndata:\n  a: one\n",
    );
    assert_eq!(
        k(&["create", "-f", &cm, "--validate=false"]),
        (Some(0), "configmap/demo created".into())
    );
    assert_eq!(
        k(&["create", "-f", &cm, "--validate=false"]),
        (
            Some(1),
            "Error from server (AlreadyExists): error when creating \"".to_owned()
                + &cm
                + "\": configmaps \"demo\" already exists"
        )
    );
    assert_eq!(
        k(&["get", "cm", "demo", "-n", "team", "-o", "jsonpath={.data.a}"]),
        (Some(0), "one".into())
    );
    let rv =
        k(&["get", "cm", "demo", "-n", "team", "-o", "jsonpath={.metadata.resourceVersion}"]).1;
    let cm2 = file(
        "cm2.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: demo\n  namespace: team\ndata:\n  a: two\n",
    );
    assert_eq!(
        k(&["replace", "-f", &cm2, "--validate=false"]),
        (Some(0), "configmap/demo replaced".into())
    );
    assert_eq!(
        k(&["get", "cm", "demo", "-n", "team", "-o", "jsonpath={.data.a}"]),
        (Some(0), "two".into())
    );
    // A replace carrying the old resourceVersion loses the compare-and-swap.
    let stale = file(
        "stale.yaml",
        &format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: demo\n  namespace: team\n  resourceVersion: \"{rv}\"\ndata:\n  a: three\n"
        ),
    );
    let (code, out) = k(&["replace", "-f", &stale, "--validate=false"]);
    assert_eq!(code, Some(1));
    assert!(
        out.contains("Error from server (Conflict)")
            && out.contains(
                "Operation cannot be fulfilled on configmaps \"demo\": the object has been modified"
            ),
        "{out}"
    );
    let bad = file(
        "bad.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Bad_Name\n  namespace: team\n",
    );
    let (code, out) = k(&["create", "-f", &bad, "--validate=false"]);
    assert_eq!(code, Some(1));
    assert!(
        out.contains(
            "The ConfigMap \"Bad_Name\" is invalid: metadata.name: Invalid value: \"Bad_Name\""
        ),
        "{out}"
    );
    let lost = file(
        "lost.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  namespace: nowhere\n",
    );
    let (code, out) = k(&["create", "-f", &lost, "--validate=false"]);
    assert_eq!(code, Some(1));
    assert!(
        out.contains("Error from server (NotFound)")
            && out.contains("namespaces \"nowhere\" not found"),
        "{out}"
    );
    assert_eq!(
        k(&["delete", "cm", "demo", "-n", "team"]),
        (Some(0), "configmap \"demo\" deleted".into())
    );
    let (code, out) = k(&["get", "cm", "demo", "-n", "team"]);
    assert_eq!(
        (code, out.as_str()),
        (Some(1), "Error from server (NotFound): configmaps \"demo\" not found")
    );
    // Deleting a namespace deletes what is in it.
    assert_eq!(k(&["create", "-f", &cm, "--validate=false"]).0, Some(0));
    assert_eq!(k(&["delete", "ns", "team"]), (Some(0), "namespace \"team\" deleted".into()));
    assert_eq!(k(&["get", "ns", "team"]).0, Some(1));
    assert_eq!(k(&["create", "-f", &ns, "--validate=false"]).0, Some(0));
    let (_, out) = k(&["get", "cm", "-n", "team"]);
    assert_eq!(out, "No resources found in team namespace.");
}

#[test]
fn kubectl_validates_against_the_openapi_documents() {
    if !require_tool("kubectl") {
        return;
    }
    let server = Server::start(&[]);
    let path = server.dir.path().join("cm.yaml");
    std::fs::write(
        &path,
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: checked\ndata:\n  a: one\n",
    )
    .unwrap();
    let out = server.kubectl(&["create", "-f", path.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(text(&out).trim(), "configmap/checked created");
    let deploy = server.dir.path().join("deploy.yaml");
    std::fs::write(
        &deploy,
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n      - name: web\n        image: busybox\n",
    )
    .unwrap();
    let out = server.kubectl(&["apply", "-f", deploy.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(text(&out).trim(), "deployment.apps/web created");
    let out = server.kubectl(&[
        "get",
        "deploy",
        "web",
        "-o",
        "jsonpath={.metadata.generation} {.metadata.annotations}",
    ]);
    let shown = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        shown.starts_with("1 ")
            && shown.contains("kubectl.kubernetes.io/last-applied-configuration"),
        "{shown}"
    );
}

#[test]
fn kubectl_get_watch_prints_changes_as_they_happen() {
    use std::io::{BufRead, BufReader};
    use std::time::Duration;
    if !require_tool("kubectl") {
        return;
    }
    let server = Server::start(&[]);
    let mut watcher = std::process::Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(&server.kubeconfig)
        .arg("--cache-dir")
        .arg(server.dir.path().join("kube-cache"))
        .args(["get", "namespaces", "-w"])
        .env("HOME", server.dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = watcher.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let next_line =
        || rx.recv_timeout(Duration::from_secs(20)).expect("kubectl printed nothing in time");
    // The initial list: a header and the four system namespaces.
    assert!(next_line().starts_with("NAME"));
    let mut seen: Vec<String> =
        (0..4).map(|_| next_line().split_whitespace().next().unwrap().to_owned()).collect();
    seen.sort();
    assert_eq!(seen, ["default", "kube-node-lease", "kube-public", "kube-system"]);
    // A namespace created now shows up on the open watch.
    let ns = server.dir.path().join("ns.yaml");
    std::fs::write(&ns, "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: watched\n").unwrap();
    let out = server.kubectl(&["create", "-f", ns.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let line = next_line();
    assert!(line.starts_with("watched ") && line.contains("Active"), "{line}");
    let out = server.kubectl(&["delete", "ns", "watched"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(next_line().starts_with("watched "), "the deletion is printed too");
    watcher.kill().unwrap();
    watcher.wait().unwrap();
}

#[test]
fn kubectl_label_annotate_and_patch_use_merge_and_json_patches() {
    if !require_tool("kubectl") {
        return;
    }
    let server = Server::start(&[]);
    let k = |args: &[&str]| server.k(args);
    let cm = server.dir.path().join("cm.yaml");
    std::fs::write(&cm, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: p\ndata:\n  a: one\n")
        .unwrap();
    assert_eq!(k(&["create", "-f", cm.to_str().unwrap()]).0, Some(0));
    assert_eq!(k(&["label", "cm", "p", "tier=web"]), (Some(0), "configmap/p labeled".into()));
    assert_eq!(k(&["annotate", "cm", "p", "note=hi"]), (Some(0), "configmap/p annotated".into()));
    assert_eq!(
        k(&[
            "get",
            "cm",
            "p",
            "-o",
            "jsonpath={.metadata.labels.tier} {.metadata.annotations.note}"
        ])
        .1,
        "web hi"
    );
    assert_eq!(k(&["get", "cm", "-l", "tier=web", "-o", "name"]), (Some(0), "configmap/p".into()));
    assert_eq!(k(&["get", "cm", "-l", "tier=db"]).1, "No resources found in default namespace.");
    assert_eq!(
        k(&["get", "ns", "--field-selector", "metadata.name=kube-system", "-o", "name"]).1,
        "namespace/kube-system"
    );
    assert_eq!(k(&["label", "cm", "p", "tier-"]), (Some(0), "configmap/p unlabeled".into()));
    assert_eq!(
        k(&["patch", "cm", "p", "--type", "merge", "-p", r#"{"data":{"b":"two"}}"#]),
        (Some(0), "configmap/p patched".into())
    );
    assert_eq!(
        k(&[
            "patch",
            "cm",
            "p",
            "--type",
            "json",
            "-p",
            r#"[{"op":"replace","path":"/data/a","value":"uno"}]"#
        ]),
        (Some(0), "configmap/p patched".into())
    );
    assert_eq!(
        k(&["get", "cm", "p", "-o", "jsonpath={.data.a} {.data.b} {.metadata.labels}"]).1,
        "uno two {}"
    );
    let (code, out) =
        k(&["patch", "cm", "p", "--type", "json", "-p", r#"[{"op":"remove","path":"/data/zzz"}]"#]);
    assert_eq!(code, Some(1));
    assert!(out.starts_with("The request is invalid: the patch could not be applied"), "{out}");
    let (code, out) = k(&["patch", "cm", "nope", "--type", "merge", "-p", "{}"]);
    assert_eq!(
        (code, out.as_str()),
        (Some(1), "Error from server (NotFound): configmaps \"nope\" not found")
    );
}

#[test]
fn metrics_count_requests_in_prometheus_text() {
    if !require_tool("kubectl") {
        return;
    }
    let server = Server::start(&[]);
    assert!(server.kubectl(&["get", "ns"]).status.success());
    let out = server.kubectl(&["get", "--raw", "/metrics"]);
    assert!(out.status.success(), "{}", text(&out));
    let body = text(&out);
    assert!(
        body.contains(
            "apiserver_request_total{verb=\"list\",resource=\"namespaces\",code=\"200\"}"
        ),
        "{body}"
    );
    assert!(body.contains("# TYPE apiserver_request_duration_seconds histogram"), "{body}");
    assert!(body.contains("k3rs_datastore_revision "), "{body}");
}

#[test]
fn kubectl_create_generators_send_protobuf_that_the_server_decodes() {
    if !require_tool("kubectl") {
        return;
    }
    let server = Server::start(&[]);
    let k = |args: &[&str]| server.k(args);
    assert_eq!(k(&["create", "namespace", "demo"]), (Some(0), "namespace/demo created".into()));
    assert_eq!(
        k(&["create", "configmap", "cm", "--from-literal=a=b", "-n", "demo"]),
        (Some(0), "configmap/cm created".into())
    );
    assert_eq!(
        k(&["create", "secret", "generic", "s", "--from-literal=k=v", "-n", "demo"]),
        (Some(0), "secret/s created".into())
    );
    assert_eq!(
        k(&["create", "serviceaccount", "sa", "-n", "demo"]),
        (Some(0), "serviceaccount/sa created".into())
    );
    assert_eq!(
        k(&[
            "create",
            "deployment",
            "web",
            "--image=nginx:1.25",
            "--replicas=2",
            "--port=80",
            "-n",
            "demo"
        ]),
        (Some(0), "deployment.apps/web created".into())
    );
    assert_eq!(k(&["get", "cm", "cm", "-n", "demo", "-o", "jsonpath={.data.a}"]).1, "b");
    assert_eq!(k(&["get", "secret", "s", "-n", "demo", "-o", "jsonpath={.data.k}"]).1, "dg==");
    assert_eq!(
        k(&["get", "deploy", "web", "-n", "demo", "-o", "jsonpath={.spec.replicas} {.spec.template.spec.containers[0].ports[0].containerPort} {.spec.strategy.type}"]).1,
        "2 80 RollingUpdate"
    );
    assert_eq!(k(&["get", "ns", "demo", "-o", "jsonpath={.status.phase}"]).1, "Active");
    for (args, want) in [
        (vec!["create", "job", "j", "--image=busybox", "-n", "demo"], "job.batch/j created"),
        (
            vec!["create", "service", "clusterip", "svc", "--tcp=80:8080", "-n", "demo"],
            "service/svc created",
        ),
        (
            vec!["create", "role", "r", "--verb=get", "--resource=pods", "-n", "demo"],
            "role.rbac.authorization.k8s.io/r created",
        ),
    ] {
        assert_eq!(k(&args), (Some(0), want.to_owned()), "{args:?}");
    }
    assert_eq!(
        k(&["get", "svc", "svc", "-n", "demo", "-o", "jsonpath={.spec.ports[0].targetPort}"]).1,
        "8080"
    );
}
