//! End to end: the server's controllers through the real kubectl: Deployments make
//! ReplicaSets make Pods, `scale`, cascading deletes (background, foreground, orphan),
//! namespace deletion with contents, and `delete --all`.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{Server, eventually, require_tool};

fn lines(out: &str) -> Vec<String> {
    out.lines().filter(|l| !l.is_empty()).map(str::to_owned).collect()
}

#[test]
fn deployments_make_replicasets_make_pods_and_deletes_cascade() {
    if !require_tool("kubectl") {
        return;
    }
    let server = Server::start(&[]);
    let file = server.dir.path().join("deploy.yaml");
    std::fs::write(&file, common::deployment(3)).unwrap();
    let file = file.to_str().unwrap();
    let k = |args: &[&str]| server.k(args);
    let names = |what: &str| lines(&k(&["get", what, "-o", "name"]).1);
    assert_eq!(k(&["apply", "-f", file]), (Some(0), "deployment.apps/web created".into()));
    let pods = eventually("three pods", Duration::from_secs(20), || {
        let p = names("pods");
        (p.len() == 3).then_some(p)
    });
    let rs = names("rs");
    assert_eq!(rs.len(), 1, "{rs:?}");
    assert!(
        pods.iter().all(|p| p.starts_with(&format!("pod/{}-", &rs[0]["replicaset.apps/".len()..])))
    );
    let (_, owner) = k(&["get", &pods[0], "-o", "jsonpath={.metadata.ownerReferences[0].kind}"]);
    assert_eq!(owner, "ReplicaSet");
    // The Deployment reports its rollout; pods stay Pending until agents run them.
    eventually("deployment status", Duration::from_secs(20), || {
        let (_, s) = k(&[
            "get",
            "deploy",
            "web",
            "-o",
            "jsonpath={.status.replicas}/{.status.updatedReplicas}/{.status.observedGeneration}",
        ]);
        (s == "3/3/1").then_some(())
    });
    // scale goes through the scale subresource.
    assert_eq!(
        k(&["scale", "deploy", "web", "--replicas=1"]),
        (Some(0), "deployment.apps/web scaled".into())
    );
    eventually("one pod", Duration::from_secs(20), || (names("pods").len() == 1).then_some(()));
    let (code, scale) =
        k(&["get", "--raw", "/apis/apps/v1/namespaces/default/deployments/web/scale"]);
    assert_eq!(code, Some(0));
    let scale: serde_json::Value = serde_json::from_str(&scale).unwrap();
    assert_eq!(
        (scale["kind"].as_str(), scale["spec"]["replicas"].as_i64()),
        (Some("Scale"), Some(1))
    );
    assert_eq!(scale["status"]["selector"], "app=web");
    // Background (kubectl's default): the owner goes at once, the rest follow.
    assert_eq!(k(&["delete", "-f", file]), (Some(0), "deployment.apps \"web\" deleted".into()));
    eventually("everything gone", Duration::from_secs(20), || {
        (names("rs").is_empty() && names("pods").is_empty()).then_some(())
    });
    // Foreground: kubectl waits until the dependents and then the owner are gone.
    assert_eq!(k(&["apply", "-f", file]).0, Some(0));
    eventually("three pods", Duration::from_secs(20), || (names("pods").len() == 3).then_some(()));
    assert_eq!(
        k(&["delete", "deploy", "web", "--cascade=foreground"]),
        (Some(0), "deployment.apps \"web\" deleted".into())
    );
    assert!(names("deploy").is_empty() && names("rs").is_empty() && names("pods").is_empty());
    // Orphan: the ReplicaSet stays, released from its owner.
    assert_eq!(k(&["apply", "-f", file]).0, Some(0));
    eventually("a replicaset", Duration::from_secs(20), || (names("rs").len() == 1).then_some(()));
    assert_eq!(k(&["delete", "deploy", "web", "--cascade=orphan"]).0, Some(0));
    eventually("the deployment gone", Duration::from_secs(20), || {
        names("deploy").is_empty().then_some(())
    });
    let rs = names("rs");
    assert_eq!(rs.len(), 1);
    let (_, refs) = k(&["get", &rs[0], "-o", "jsonpath={.metadata.ownerReferences}"]);
    assert_eq!(refs, "");
    assert_eq!(names("pods").len(), 3);
    // delete --all removes every ReplicaSet; their pods follow.
    let (code, out) = k(&["delete", "rs", "--all"]);
    assert_eq!(code, Some(0), "{out}");
    eventually("pods gone", Duration::from_secs(20), || names("pods").is_empty().then_some(()));
}

#[test]
fn deleting_a_namespace_deletes_its_contents_first() {
    if !require_tool("kubectl") {
        return;
    }
    let server = Server::start(&[]);
    let k = |args: &[&str]| server.k(args);
    let file = server.dir.path().join("ns.yaml");
    std::fs::write(
        &file,
        format!(
            "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team\n---\n{}",
            common::deployment(3).replace("  name: web\n", "  name: web\n  namespace: team\n")
        ),
    )
    .unwrap();
    assert_eq!(k(&["apply", "-f", file.to_str().unwrap()]).0, Some(0));
    eventually("three pods", Duration::from_secs(20), || {
        (lines(&k(&["get", "pods", "-n", "team", "-o", "name"]).1).len() == 3).then_some(())
    });
    // kubectl waits for the namespace to be gone.
    assert_eq!(k(&["delete", "ns", "team"]), (Some(0), "namespace \"team\" deleted".into()));
    let (code, out) = k(&["get", "ns", "team"]);
    assert_eq!(
        (code, out.as_str()),
        (Some(1), "Error from server (NotFound): namespaces \"team\" not found")
    );
    assert_eq!(
        k(&["get", "pods,rs,deploy", "-n", "team"]).1,
        "No resources found in team namespace."
    );
}
