//! End to end: the scheduler binds pods to Ready nodes (a server and two agents, real
//! processes): a Deployment's pods spread across the nodes, a `nodeSelector` picks its node, a
//! pod that fits nowhere says why in upstream's words, and a cordoned node gets no new pods.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{Server, eventually, require_tool};

fn node_of(server: &Server, pod: &str) -> String {
    server.k(&["get", "pod", pod, "-o", "jsonpath={.spec.nodeName}"]).1
}

#[test]
fn pods_are_bound_to_nodes_that_fit_and_spread() {
    if !require_tool("kubectl") {
        return;
    }
    let (server, _dirs, _agents) = common::three_nodes();
    let k = |args: &[&str]| server.k(args);

    let file = server.dir.path().join("web.yaml");
    std::fs::write(&file, common::deployment(3)).unwrap();
    assert_eq!(k(&["apply", "-f", file.to_str().unwrap()]).0, Some(0));
    let placed = eventually("three pods on three nodes", Duration::from_secs(30), || {
        let (_, out) =
            k(&["get", "pods", "-o", "jsonpath={range .items[*]}{.spec.nodeName}{\"\\n\"}{end}"]);
        let mut nodes: Vec<&str> = out.lines().filter(|l| !l.is_empty()).collect();
        nodes.sort();
        (nodes.len() == 3).then(|| nodes.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>())
    });
    assert_eq!(placed, ["agent-1", "agent-2", "server-0"], "spread one per node");
    let (_, events) = k(&[
        "get",
        "events",
        "--field-selector",
        "reason=Scheduled",
        "-o",
        "jsonpath={.items[0].message}",
    ]);
    assert!(events.starts_with("Successfully assigned default/web-"), "{events}");
    let (_, cond) = k(&[
        "get",
        "pods",
        "-o",
        r#"jsonpath={.items[0].status.conditions[?(@.type=="PodScheduled")].status}"#,
    ]);
    assert_eq!(cond, "True");

    // nodeSelector picks the node.
    assert_eq!(k(&["label", "node", "agent-2", "disk=ssd"]).0, Some(0));
    assert_eq!(
        k(&[
            "run",
            "picky",
            "--image=busybox",
            "--overrides",
            r#"{"spec":{"nodeSelector":{"disk":"ssd"}}}"#
        ])
        .0,
        Some(0)
    );
    eventually("picky on agent-2", Duration::from_secs(20), || {
        (node_of(&server, "picky") == "agent-2").then_some(())
    });

    // Nothing fits: upstream's message, as a condition and a FailedScheduling event.
    assert_eq!(
        k(&[
            "run",
            "nowhere",
            "--image=busybox",
            "--overrides",
            r#"{"spec":{"nodeSelector":{"disk":"nvme"}}}"#
        ])
        .0,
        Some(0)
    );
    let message = eventually("the unschedulable condition", Duration::from_secs(20), || {
        let (_, m) = k(&[
            "get",
            "pod",
            "nowhere",
            "-o",
            r#"jsonpath={.status.conditions[?(@.type=="PodScheduled")].message}"#,
        ]);
        (!m.is_empty()).then_some(m)
    });
    assert_eq!(
        message,
        "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."
    );
    let (_, described) = k(&["describe", "pod", "nowhere"]);
    assert!(described.contains("FailedScheduling"), "{described}");
    // When a node comes to fit, the waiting pod is bound.
    assert_eq!(k(&["label", "node", "agent-1", "disk=nvme"]).0, Some(0));
    eventually("nowhere on agent-1", Duration::from_secs(20), || {
        (node_of(&server, "nowhere") == "agent-1").then_some(())
    });

    // A cordoned node gets no new pods.
    assert_eq!(k(&["cordon", "server-0"]).0, Some(0));
    assert_eq!(k(&["cordon", "agent-1"]).0, Some(0));
    assert_eq!(k(&["run", "late", "--image=busybox"]).0, Some(0));
    eventually("late on agent-2", Duration::from_secs(20), || {
        (node_of(&server, "late") == "agent-2").then_some(())
    });
}
