//! End to end: pods run on a node with real runc containers from an air-gap image (busybox,
//! built from the host's static busybox): a Deployment's pod comes up Running and Ready, a
//! failing container goes into CrashLoopBackOff, a one-shot pod completes, a missing image is
//! reported, and deleting pods stops their containers and removes their sandboxes. Images are
//! pulled from real registries (Debian's docker-registry on the node's loopback, filled by
//! skopeo) through mirrors, rewrites, registries.yaml credentials and pull secrets.
//! Needs root, runc, busybox-static, iproute2, docker-registry and skopeo (installed by
//! scripts/test.sh).

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::netlab::{Lab, NodeNet};
use common::pods::{DeletePods, busybox_archive, can_run_pods};
use common::registry::{HTPASSWD, Registry, can_run_registry};
use common::{Server, eventually, require_tool};

fn phase_and_reason(server: &Server, pod: &str) -> String {
    let path = "{.status.phase} {.status.containerStatuses[0].state.waiting.reason}{.status.containerStatuses[0].state.terminated.reason}";
    server.k(&["get", "pod", pod, "-o", &format!("jsonpath={path}")]).1
}

/// A server that is node `node-0` inside the lab namespace `net`, started in `dir` with the
/// busybox image in its air-gap directory (kept across restarts in the same `dir`).
fn node_with_busybox(net: &NodeNet, dir: tempfile::TempDir) -> Server {
    let airgap = dir.path().join("data/agent/images");
    std::fs::create_dir_all(&airgap).unwrap();
    std::fs::write(airgap.join("busybox.tar"), busybox_archive()).unwrap();
    let password = dir.path().join("node/password");
    let password = password.to_str().unwrap().to_owned();
    let args =
        ["--node-name", "node-0", "--node-ip", &net.address, "--node-password-file", &password];
    Server::start_in_netns(net, dir, &args)
}

/// Start `command` with its stdin to write and its output collected: the writer, and where
/// its output comes once it ends (wait on it with a deadline).
fn with_input(
    command: &mut std::process::Command,
) -> (std::process::ChildStdin, std::sync::mpsc::Receiver<std::io::Result<std::process::Output>>) {
    use std::process::Stdio;
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let input = child.stdin.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    (input, rx)
}

/// `kubectl apply` the manifest `yaml` (written to `<name>.yaml` in the server's directory).
fn apply_yaml(server: &Server, name: &str, yaml: &str) {
    let file = server.dir.path().join(format!("{name}.yaml"));
    std::fs::write(&file, yaml).unwrap();
    let (code, out) = server.k(&["apply", "-f", file.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{out}");
}

fn pod_manifest(name: &str, image: &str, command: &str, restart: &str) -> String {
    format!(
        "apiVersion: v1
kind: Pod
metadata: {{name: {name}}}
spec:
  restartPolicy: {restart}
  terminationGracePeriodSeconds: 2
  containers:
  - name: main
    image: {image}
    command: [sh, -c, '{command}']
"
    )
}

#[test]
fn pods_run_in_runc_containers_restart_complete_and_go() {
    if !can_run_pods() {
        return;
    }
    let mut lab = Lab::new();
    let net = lab.node();
    let server = node_with_busybox(&net, tempfile::tempdir().unwrap());
    let _cleanup = DeletePods::of(&server);
    let k = |args: &[&str]| server.k(args);
    let apply = |name: &str, yaml: &str| apply_yaml(&server, name, yaml);
    eventually("node-0 ready", Duration::from_secs(30), || {
        k(&["get", "node", "node-0"]).1.contains(" Ready ").then_some(())
    });

    // The node lists the images it holds.
    eventually("node images", Duration::from_secs(30), || {
        let (_, names) = k(&["get", "node", "node-0", "-o", "jsonpath={.status.images[*].names}"]);
        names.contains("docker.io/library/busybox:test").then_some(())
    });

    apply(
        "runner",
        &pod_manifest("runner", "busybox:test", "echo started; exec sleep 3600", "Always"),
    );
    apply("crasher", &pod_manifest("crasher", "busybox:test", "echo failing; exit 3", "Always"));
    apply("oneshot", &pod_manifest("oneshot", "busybox:test", "echo done", "Never"));
    let ghost = pod_manifest("ghost", "missing:1", "true", "Always")
        .replace("    image:", "    imagePullPolicy: Never\n    image:");
    apply("ghost", &ghost);

    eventually("runner running and ready", Duration::from_secs(30), || {
        let (_, out) = k(&["get", "pod", "runner", "--no-headers"]);
        (out.contains("1/1") && out.contains("Running")).then_some(())
    });
    let (_, uid) = k(&["get", "pod", "runner", "-o", "jsonpath={.metadata.uid}"]);
    let netns: String = uid.chars().filter(char::is_ascii_alphanumeric).take(16).collect();
    let netns = format!("/run/netns/k3rs-{netns}");
    assert!(std::path::Path::new(&netns).exists(), "the pod has its network namespace");
    // Logs come from the node through its tunnel, kept in the CRI format under agent/logs.
    assert_eq!(k(&["logs", "runner"]), (Some(0), "started".to_owned()));
    let cri = server.dir.path().join(format!("data/agent/logs/default_runner_{uid}/main/0.log"));
    let cri = std::fs::read_to_string(&cri).unwrap();
    assert!(cri.ends_with("Z stdout F started\n") && cri.len() == 48, "{cri:?}");
    let (code, stamped) = k(&["logs", "runner", "--timestamps", "--tail=1"]);
    assert_eq!(code, Some(0), "{stamped}");
    assert_eq!(&stamped[30..], " started", "{stamped}");
    let (code, none) = k(&["logs", "runner", "-p"]);
    assert!(code != Some(0) && none.contains("previous terminated container"), "{none}");
    // kubectl top: usage from the node's cgroups through the metrics API.
    let (code, top) = k(&["top", "pod", "runner"]);
    assert_eq!(code, Some(0), "{top}");
    let row: Vec<&str> = top.lines().nth(1).unwrap_or_default().split_whitespace().collect();
    assert!(row.len() == 3 && row[0] == "runner", "{top}");
    assert!(row[1].ends_with('m') && row[2].ends_with("Mi"), "{top}");
    let (code, top) = k(&["top", "node"]);
    assert_eq!(code, Some(0), "{top}");
    assert!(
        top.lines().nth(1).is_some_and(|l| l.starts_with("node-0 ") && l.contains('%')),
        "{top}"
    );
    // exec through the tunnel: output, exit codes, stdin, a terminal.
    assert_eq!(k(&["exec", "runner", "--", "echo", "hi"]), (Some(0), "hi".to_owned()));
    let (code, out) = k(&["exec", "runner", "--", "sh", "-c", "echo oops >&2; exit 3"]);
    assert_eq!(code, Some(3), "{out}");
    assert!(out.contains("oops") && out.contains("command terminated with exit code 3"), "{out}");
    let mut cat = server.kubectl_command(&["exec", "-i", "runner", "--", "cat"]);
    cat.stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped());
    let mut cat = cat.spawn().unwrap();
    std::io::Write::write_all(&mut cat.stdin.take().unwrap(), b"piped\n").unwrap();
    let out = cat.wait_with_output().unwrap();
    assert_eq!((out.status.code(), common::text(&out).as_str()), (Some(0), "piped\n"));
    let (code, out) = k(&["exec", "runner", "--", "no-such-command"]);
    assert!(code != Some(0) && out.contains("no-such-command"), "{out}");
    // port-forward through the tunnel to a busybox httpd in the pod.
    apply(
        "web",
        &pod_manifest(
            "web",
            "busybox:test",
            "mkdir -p /www && echo hello-from-pod > /www/index.html && exec httpd -f -p 8080 -h /www",
            "Always",
        ),
    );
    eventually("web running", Duration::from_secs(30), || {
        k(&["get", "pod", "web", "--no-headers"]).1.contains("Running").then_some(())
    });
    let mut forward = server.kubectl_command(&["port-forward", "pod/web", ":8080"]);
    forward.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    let mut forward = forward.spawn().unwrap();
    let mut stdout = std::io::BufReader::new(forward.stdout.take().unwrap());
    let mut first = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut first).unwrap();
    // kubectl says "Handling connection for 8080" per connection: keep reading its output.
    std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    // "Forwarding from 127.0.0.1:PORT -> 8080"
    let port: u16 = first
        .split("127.0.0.1:")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no local port in {first:?}"));
    for _ in 0..2 {
        let mut conn = common::netlab::connect_in(&net.netns, port);
        conn.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut page = String::new();
        let done = std::io::Write::write_all(&mut conn, b"GET /index.html HTTP/1.0\r\n\r\n")
            .and_then(|_| std::io::Read::read_to_string(&mut conn, &mut page));
        if let Err(e) = done {
            let _ = forward.kill();
            let out = forward.wait_with_output().unwrap();
            let log = server.log();
            let tail: Vec<&str> = log.lines().rev().take(30).collect();
            panic!("{e}: {}\n{}", common::text(&out), tail.join("\n"));
        }
        assert!(page.starts_with("HTTP/1.") && page.ends_with("hello-from-pod\n"), "{page}");
    }
    let _ = forward.kill();
    let _ = forward.wait();
    // attach: the container's output from now on.
    apply(
        "talker",
        &pod_manifest(
            "talker",
            "busybox:test",
            "while true; do echo hello; sleep 0.2; done",
            "Always",
        ),
    );
    eventually("talker running", Duration::from_secs(30), || {
        k(&["get", "pod", "talker", "--no-headers"]).1.contains("Running").then_some(())
    });
    let mut attach = server.kubectl_command(&["attach", "talker"]);
    attach.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    let mut attach = attach.spawn().unwrap();
    let mut heard = std::io::BufReader::new(attach.stdout.take().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut first = String::new();
        let _ = std::io::BufRead::read_line(&mut heard, &mut first);
        let _ = tx.send(first);
    });
    let first = rx.recv_timeout(Duration::from_secs(20)).unwrap_or_default();
    let _ = attach.kill();
    let _ = attach.wait();
    assert!(first.contains("hello"), "{first:?}");
    // With -i, stdin: `kubectl run -i` (stdin and stdinOnce) feeds `cat`, whose stdin ends
    // with kubectl's.
    let mut run = server.kubectl_command(&[
        "run",
        "catter",
        "-i",
        "--rm",
        "--restart=Never",
        "--image=busybox:test",
        "--",
        "cat",
    ]);
    let (mut input, ended) = with_input(&mut run);
    std::io::Write::write_all(&mut input, b"fed through stdin\n").unwrap();
    drop(input);
    let out = ended.recv_timeout(Duration::from_secs(90)).expect("kubectl run -i ended").unwrap();
    let said = common::text(&out);
    assert!(out.status.success() && said.contains("fed through stdin"), "{said}");
    // A container with a terminal: its output (logged through the terminal) shows it has one,
    // and an attach's input reaches it.
    apply(
        "ttyer",
        "apiVersion: v1
kind: Pod
metadata: {name: ttyer}
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: busybox:test
    command: [sh, -c, 'tty; read x; echo got-$x']
    stdin: true
    tty: true
",
    );
    eventually("ttyer has a terminal", Duration::from_secs(30), || {
        k(&["logs", "ttyer"]).1.contains("/dev/pts/").then_some(())
    });
    let mut attach = server.kubectl_command(&["attach", "-i", "ttyer"]);
    let (mut input, ended) = with_input(&mut attach);
    std::io::Write::write_all(&mut input, b"typed\n").unwrap();
    drop(input);
    let out = ended.recv_timeout(Duration::from_secs(60)).expect("attach ended").unwrap();
    let (_, logs) = k(&["logs", "ttyer"]);
    assert!(logs.contains("got-typed"), "{logs}\nattach: {}", common::text(&out));
    assert_eq!(k(&["delete", "pod", "ttyer"]).0, Some(0));
    // `kubectl run -it` from a terminal (`script`'s): a shell reads a typed line.
    let kubectl = format!(
        "nsenter --net=/run/netns/{} -- kubectl --kubeconfig {} run -it --rm --restart=Never shell --image=busybox:test -- sh -c 'read x; echo got-$x'",
        net.netns,
        server.kubeconfig.display()
    );
    let mut script = std::process::Command::new("script");
    script.args(["-qec", &kubectl, "/dev/null"]).env("HOME", server.dir.path());
    let (mut typing, ended) = with_input(&mut script);
    // Typed once the shell waits (kubectl attaches after the pod runs); a line typed early
    // waits in the terminal for kubectl to read it.
    eventually("shell running", Duration::from_secs(30), || {
        k(&["get", "pod", "shell", "--no-headers"]).1.contains("Running").then_some(())
    });
    std::io::Write::write_all(&mut typing, b"hi\r").unwrap();
    let out = ended.recv_timeout(Duration::from_secs(60)).expect("kubectl run -it ended").unwrap();
    drop(typing);
    let text = common::text(&out);
    assert!(text.contains("got-hi"), "{text}");

    // With a terminal (kubectl's own from `script`): the shell sees a tty and its exit code
    // comes back.
    let kubectl = format!(
        "nsenter --net=/run/netns/{} -- kubectl --kubeconfig {} exec -it runner -- sh -c 'tty; exit 4'",
        net.netns,
        server.kubeconfig.display()
    );
    let out = std::process::Command::new("script")
        .args(["-qec", &kubectl, "/dev/null"])
        .env("HOME", server.dir.path())
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let text = common::text(&out);
    assert_eq!(out.status.code(), Some(4), "{text}");
    assert!(text.contains("/dev/pts/"), "{text}");

    eventually("oneshot completed", Duration::from_secs(30), || {
        (phase_and_reason(&server, "oneshot") == "Succeeded Completed").then_some(())
    });
    eventually("crasher backing off", Duration::from_secs(60), || {
        let (_, out) = k(&[
            "get",
            "pod",
            "crasher",
            "-o",
            "jsonpath={.status.containerStatuses[0].restartCount} {.status.containerStatuses[0].lastState.terminated.exitCode}",
        ]);
        let restarts: u32 = out.split(' ').next().unwrap_or("0").parse().unwrap_or(0);
        (restarts >= 1 && out.ends_with(" 3")).then_some(())
    });
    eventually("crasher in CrashLoopBackOff", Duration::from_secs(60), || {
        phase_and_reason(&server, "crasher").contains("CrashLoopBackOff").then_some(())
    });
    assert_eq!(k(&["logs", "crasher", "-p"]), (Some(0), "failing".to_owned()));
    // Following ends when the container does.
    apply(
        "counter",
        &pod_manifest(
            "counter",
            "busybox:test",
            "for i in 1 2 3; do echo line $i; sleep 1; done; echo oops >&2",
            "Never",
        ),
    );
    eventually("counter running", Duration::from_secs(30), || {
        k(&["get", "pod", "counter", "--no-headers"]).1.contains("Running").then_some(())
    });
    assert_eq!(k(&["logs", "-f", "counter"]), (Some(0), "line 1\nline 2\nline 3\noops".to_owned()));
    assert_eq!(k(&["logs", "counter", "--limit-bytes=8"]), (Some(0), "line 1\nl".to_owned()));
    let (code, out) = k(&["logs", "counter", "-c", "nope"]);
    assert!(
        code != Some(0) && out.contains("container nope is not valid for pod counter"),
        "{out}"
    );
    eventually("ghost waits for its image", Duration::from_secs(20), || {
        (phase_and_reason(&server, "ghost") == "Pending ErrImageNeverPull").then_some(())
    });
    // ConfigMaps and Secrets reach containers as files and environment variables.
    assert_eq!(
        k(&["create", "configmap", "settings", "--from-literal=a=1", "--from-literal=b=2"]).0,
        Some(0)
    );
    assert_eq!(k(&["create", "secret", "generic", "creds", "--from-literal=key=value"]).0, Some(0));
    apply(
        "reader",
        "apiVersion: v1
kind: Pod
metadata: {name: reader}
spec:
  restartPolicy: Never
  containers:
  - name: main
    image: busybox:test
    command: [sh, -c, 'cat /etc/cfg/a; echo; cat /etc/creds/key; echo; echo $KEY $CFG_b $POD']
    env:
    - {name: KEY, valueFrom: {secretKeyRef: {name: creds, key: key}}}
    - {name: POD, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
    envFrom: [{configMapRef: {name: settings}, prefix: CFG_}]
    volumeMounts:
    - {name: cfg, mountPath: /etc/cfg}
    - {name: creds, mountPath: /etc/creds, readOnly: true}
  volumes:
  - {name: cfg, configMap: {name: settings}}
  - {name: creds, secret: {secretName: creds, defaultMode: 0400}}
",
    );
    eventually("reader completed", Duration::from_secs(30), || {
        (phase_and_reason(&server, "reader") == "Succeeded Completed").then_some(())
    });
    assert_eq!(k(&["logs", "reader"]), (Some(0), "1\nvalue\nvalue 2 reader".to_owned()));
    apply(
        "lost",
        "apiVersion: v1
kind: Pod
metadata: {name: lost}
spec:
  containers:
  - {name: main, image: busybox:test, command: [sleep, '1']}
  volumes:
  - {name: cfg, configMap: {name: no-such-config}}
",
    );
    eventually("the mount failure", Duration::from_secs(30), || {
        let (_, m) = k(&[
            "get",
            "events",
            "--field-selector",
            "involvedObject.name=lost,reason=FailedMount",
            "-o",
            "jsonpath={.items[0].message}",
        ]);
        (m == "MountVolume.SetUp failed for volume \"cfg\" : configmap \"no-such-config\" not found").then_some(())
    });
    assert_eq!(phase_and_reason(&server, "lost"), "Pending ContainerCreating");

    // A container over its memory limit is killed by the kernel and reported as OOMKilled.
    apply(
        "hungry",
        "apiVersion: v1
kind: Pod
metadata: {name: hungry}
spec:
  restartPolicy: Never
  containers:
  - name: main
    image: busybox:test
    command: [dd, if=/dev/zero, of=/dev/null, bs=64M, count=1]
    resources: {limits: {memory: 16Mi}}
",
    );
    eventually("hungry OOMKilled", Duration::from_secs(30), || {
        (phase_and_reason(&server, "hungry") == "Failed OOMKilled").then_some(())
    });
    let (_, code) = k(&[
        "get",
        "pod",
        "hungry",
        "-o",
        "jsonpath={.status.containerStatuses[0].state.terminated.exitCode}",
    ]);
    assert_eq!(code, "137");

    // Probes: readiness over HTTP in the pod's network, liveness by exec restarting the
    // container, a readiness that never passes keeping the pod unready.
    apply(
        "probed",
        "apiVersion: v1
kind: Pod
metadata: {name: probed}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: web
    image: busybox:test
    command: [sh, -c, 'mkdir -p /www && echo ok > /www/index.html && exec httpd -f -p 8080 -h /www']
    ports: [{name: http, containerPort: 8080}]
    readinessProbe: {httpGet: {path: /index.html, port: http}, periodSeconds: 1}
  - name: lively
    image: busybox:test
    command: [sleep, '3600']
    livenessProbe: {exec: {command: [cat, /tmp/healthy]}, periodSeconds: 1, failureThreshold: 1}
  - name: never
    image: busybox:test
    command: [sleep, '3600']
    readinessProbe: {tcpSocket: {port: 9999}, periodSeconds: 1}
",
    );
    let ready = |c: &str| {
        let path = format!("jsonpath={{.status.containerStatuses[?(@.name==\"{c}\")].ready}}");
        k(&["get", "pod", "probed", "-o", &path]).1
    };
    eventually("web ready through its HTTP probe", Duration::from_secs(30), || {
        (ready("web") == "true").then_some(())
    });
    assert_eq!(ready("never"), "false");
    eventually("lively restarted by its liveness probe", Duration::from_secs(30), || {
        let (_, out) = k(&[
            "get",
            "events",
            "--field-selector",
            "involvedObject.name=probed,reason=Killing",
            "-o",
            "jsonpath={.items[*].message}",
        ]);
        out.contains("Container lively failed liveness probe, will be restarted").then_some(())
    });
    let (_, unhealthy) = k(&[
        "get",
        "events",
        "--field-selector",
        "involvedObject.name=probed,reason=Unhealthy",
        "-o",
        "jsonpath={.items[*].message}",
    ]);
    assert!(unhealthy.contains("Readiness probe failed: dial tcp 127.0.0.1:9999"), "{unhealthy}");
    assert!(unhealthy.contains("Liveness probe failed:"), "{unhealthy}");
    let (_, row) = k(&["get", "pod", "probed", "--no-headers"]);
    assert!(!row.contains("3/3"), "never ready while a readiness probe fails: {row}");

    let (_, events) = k(&[
        "get",
        "events",
        "--field-selector",
        "involvedObject.name=runner",
        "-o",
        "jsonpath={.items[*].reason}",
    ]);
    for reason in ["Scheduled", "Pulled", "Created", "Started"] {
        assert!(events.contains(reason), "{reason} in {events}");
    }

    // The container's stdout blocks when full (the agent's non-blocking read end is a separate
    // open file, so its O_NONBLOCK is not the container's).
    let (_, uid) = k(&["get", "pod", "runner", "-o", "jsonpath={.metadata.uid}"]);
    let pid_file =
        server.dir.path().join(format!("data/agent/pods/{uid}/containers/main/bundle/init.pid"));
    let pid = std::fs::read_to_string(&pid_file).unwrap();
    let info = std::fs::read_to_string(format!("/proc/{}/fdinfo/1", pid.trim())).unwrap();
    let flags = info.lines().find_map(|l| l.strip_prefix("flags:")).unwrap_or_default();
    let flags = u32::from_str_radix(flags.trim(), 8).unwrap();
    assert_eq!(flags & 0o4000, 0, "stdout of the container is non-blocking: {info}");

    // A burst of output larger than a pipe holds: the container blocks while the agent
    // catches up, and every line arrives.
    apply(
        "chatty",
        &pod_manifest(
            "chatty",
            "busybox:test",
            "i=0; while [ $i -lt 20000 ]; do echo line-$i; i=$((i+1)); done",
            "Never",
        ),
    );
    eventually("chatty completed", Duration::from_secs(60), || {
        (phase_and_reason(&server, "chatty") == "Succeeded Completed").then_some(())
    });
    assert_eq!(k(&["logs", "chatty", "--tail=1"]), (Some(0), "line-19999".to_owned()));
    assert_eq!(k(&["logs", "chatty"]).1.lines().count(), 20000);

    // A RuntimeDefault seccomp profile confines the container (mode 2: filter).
    apply(
        "confined",
        "apiVersion: v1
kind: Pod
metadata: {name: confined}
spec:
  restartPolicy: Never
  securityContext: {seccompProfile: {type: RuntimeDefault}}
  containers:
  - {name: main, image: busybox:test, command: [cat, /proc/self/status]}
",
    );
    eventually("confined completed", Duration::from_secs(30), || {
        (phase_and_reason(&server, "confined") == "Succeeded Completed").then_some(())
    });
    let (_, status) = k(&["logs", "confined"]);
    let mode = status.lines().find(|l| l.starts_with("Seccomp:")).unwrap_or_default();
    assert_eq!(mode.split_whitespace().nth(1), Some("2"), "{status}");

    // A hostNetwork pod shares the node's network: the node's address and interfaces.
    apply(
        "hosted",
        "apiVersion: v1
kind: Pod
metadata: {name: hosted}
spec:
  hostNetwork: true
  restartPolicy: Never
  containers:
  - {name: main, image: busybox:test, command: [cat, /proc/net/dev]}
",
    );
    eventually("hosted completed", Duration::from_secs(30), || {
        (phase_and_reason(&server, "hosted") == "Succeeded Completed").then_some(())
    });
    let (_, ip) = k(&["get", "pod", "hosted", "-o", "jsonpath={.status.podIP}"]);
    assert_eq!(ip, net.address);
    let (_, devices) = k(&["logs", "hosted"]);
    assert!(devices.contains("cni0:") && devices.contains("eth0:"), "{devices}");

    // Deletion honours the grace period: a PID 1 that ignores SIGTERM is killed only after
    // it; one that exits on SIGTERM goes at once.
    apply("stubborn", &pod_manifest("stubborn", "busybox:test", "exec sleep 3600", "Always"));
    eventually("stubborn running", Duration::from_secs(30), || {
        k(&["get", "pod", "stubborn", "--no-headers"]).1.contains("Running").then_some(())
    });
    let started = std::time::Instant::now();
    let (code, out) = k(&["delete", "pod", "stubborn", "--timeout=60s"]);
    assert_eq!(code, Some(0), "{out}");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(2),
        "deleted after {waited:?}, before its 2 s grace period"
    );
    let (_, killing) = k(&[
        "get",
        "events",
        "--field-selector",
        "involvedObject.name=stubborn,reason=Killing",
        "-o",
        "jsonpath={.items[*].message}",
    ]);
    assert!(killing.contains("Stopping container main"), "{killing}");

    // postStart hooks run once the container is up; preStop hooks run before SIGTERM: one
    // writes into a host directory, one fails.
    let marks = server.dir.path().join("marks");
    std::fs::create_dir_all(&marks).unwrap();
    let hooked = format!(
        "apiVersion: v1
kind: Pod
metadata: {{name: hooked}}
spec:
  terminationGracePeriodSeconds: 10
  volumes: [{{name: marks, hostPath: {{path: {}}}}}]
  containers:
  - name: main
    image: busybox:test
    command: [sh, -c, 'trap \"exit 0\" TERM; sleep 3600 & wait']
    volumeMounts: [{{name: marks, mountPath: /marks}}]
    lifecycle:
      postStart: {{exec: {{command: [sh, -c, 'echo started > /marks/poststart']}}}}
      preStop: {{exec: {{command: [sh, -c, 'echo stopping > /marks/prestop']}}}}
  - name: broken
    image: busybox:test
    command: [sh, -c, 'trap \"exit 0\" TERM; sleep 3600 & wait']
    lifecycle: {{preStop: {{exec: {{command: [sh, -c, 'exit 7']}}}}}}
",
        marks.display()
    );
    apply("hooked", &hooked);
    eventually("hooked running", Duration::from_secs(30), || {
        k(&["get", "pod", "hooked", "--no-headers"]).1.contains("2/2").then_some(())
    });
    assert_eq!(std::fs::read_to_string(marks.join("poststart")).unwrap(), "started\n");
    // A failing postStart hook kills its container.
    apply(
        "badstart",
        "apiVersion: v1
kind: Pod
metadata: {name: badstart}
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: busybox:test
    command: [sleep, '3600']
    lifecycle: {postStart: {exec: {command: [sh, -c, 'exit 3']}}}
",
    );
    eventually("badstart killed", Duration::from_secs(30), || {
        let (_, phase) = k(&["get", "pod", "badstart", "-o", "jsonpath={.status.phase}"]);
        (phase == "Failed").then_some(())
    });
    let (_, failed) = k(&[
        "get",
        "events",
        "--field-selector",
        "involvedObject.name=badstart,reason=FailedPostStartHook",
        "-o",
        "jsonpath={.items[*].message}",
    ]);
    assert!(failed.contains("container main"), "{failed}");
    let (code, out) = k(&["delete", "pod", "hooked", "badstart", "--timeout=60s"]);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(std::fs::read_to_string(marks.join("prestop")).unwrap(), "stopping\n");
    let (_, failed) = k(&[
        "get",
        "events",
        "--field-selector",
        "involvedObject.name=hooked,reason=FailedPreStopHook",
        "-o",
        "jsonpath={.items[*].message}",
    ]);
    assert!(failed.contains("container broken"), "{failed}");

    let (code, out) = k(&[
        "delete",
        "pod",
        "runner",
        "crasher",
        "oneshot",
        "ghost",
        "reader",
        "lost",
        "probed",
        "hungry",
        "counter",
        "web",
        "confined",
        "hosted",
        "talker",
        "chatty",
        "--timeout=60s",
    ]);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(k(&["get", "pods", "-o", "name"]).1, "", "all gone");
    assert!(!std::path::Path::new(&netns).exists(), "the sandbox is removed");
    let logs = std::fs::read_dir(server.dir.path().join("data/agent/logs")).unwrap().count();
    assert_eq!(logs, 0, "deleted pods take their logs");
}

#[test]
fn running_containers_survive_an_agent_restart_and_are_adopted() {
    if !can_run_pods() {
        return;
    }
    let mut lab = Lab::new();
    let net = lab.node();
    let server = node_with_busybox(&net, tempfile::tempdir().unwrap());
    let cleanup = DeletePods::of(&server);
    let file = server.dir.path().join("keeper.yaml");
    let ticker = "while true; do echo tick; sleep 0.2; done";
    std::fs::write(&file, pod_manifest("keeper", "busybox:test", ticker, "Always")).unwrap();
    assert_eq!(server.k(&["apply", "-f", file.to_str().unwrap()]).0, Some(0));
    eventually("keeper running", Duration::from_secs(30), || {
        server.k(&["get", "pod", "keeper", "--no-headers"]).1.contains("Running").then_some(())
    });
    let (_, uid) = server.k(&["get", "pod", "keeper", "-o", "jsonpath={.metadata.uid}"]);
    let pid_file =
        server.dir.path().join(format!("data/agent/pods/{uid}/containers/main/bundle/init.pid"));
    let pid = std::fs::read_to_string(&pid_file).unwrap();
    let ticks = |server: &Server| server.k(&["logs", "keeper"]).1.lines().count();
    eventually("keeper logging", Duration::from_secs(10), || (ticks(&server) > 0).then_some(()));

    // Stop the server (and its agent); the container keeps running; a new agent adopts it.
    let (_, dir) = server.terminate();
    assert!(std::path::Path::new(&format!("/proc/{}", pid.trim())).exists(), "still running");
    let server = node_with_busybox(&net, dir);
    let _cleanup = cleanup;
    eventually("keeper adopted", Duration::from_secs(30), || {
        server.log().contains("adopted a running container").then_some(())
    });
    assert_eq!(std::fs::read_to_string(&pid_file).unwrap(), pid, "the same process");
    let (_, row) = server.k(&["get", "pod", "keeper", "--no-headers"]);
    assert!(row.contains("1/1") && row.contains("Running") && row.contains(" 0 "), "{row}");
    // Its output went on into the pipe while no agent ran, and goes on into its log now.
    let before = ticks(&server);
    eventually("more ticks", Duration::from_secs(10), || (ticks(&server) > before).then_some(()));
    let cri = server.dir.path().join(format!("data/agent/logs/default_keeper_{uid}/main/0.log"));
    assert!(std::fs::read_to_string(cri).unwrap().lines().all(|l| l.ends_with(" stdout F tick")));
}

/// The events of `pod`, as `reason: message` lines.
fn events_of(server: &Server, pod: &str) -> String {
    let selector = format!("involvedObject.name={pod}");
    let path = "{range .items[*]}{.reason}: {.message}{\"\\n\"}{end}";
    server.k(&["get", "events", "--field-selector", &selector, "-o", &format!("jsonpath={path}")]).1
}

#[test]
fn images_are_pulled_from_registries_through_mirrors_rewrites_and_credentials() {
    if !can_run_pods() || !can_run_registry() {
        return;
    }
    let mut lab = Lab::new();
    let net = lab.node();
    let dir = tempfile::tempdir().unwrap();
    // Three registries on the node's loopback: open, with credentials in registries.yaml,
    // and with credentials only a pull secret has.
    let open = Registry::start(&net.netns, dir.path(), 5000, None);
    let private = Registry::start(&net.netns, dir.path(), 5001, Some(HTPASSWD));
    let secret_only = Registry::start(&net.netns, dir.path(), 5002, Some(HTPASSWD));
    let archive = dir.path().join("busybox.tar");
    std::fs::write(&archive, busybox_archive()).unwrap();
    open.push(&archive, "mirrored/busybox:pulled", None);
    private.push(&archive, "team/busybox:1", Some("puller:s3cret"));
    secret_only.push(&archive, "team/busybox:2", Some("puller:s3cret"));
    // docker.io is mirrored by the open registry, its `library/` repositories renamed.
    let registries = dir.path().join("registries.yaml");
    std::fs::write(
        &registries,
        "mirrors:
  docker.io:
    endpoint: [\"http://127.0.0.1:5000\"]
    rewrite:
      \"^library/(.*)\": \"mirrored/$1\"
configs:
  \"127.0.0.1:5001\":
    auth: {username: puller, password: s3cret}
",
    )
    .unwrap();
    let password = dir.path().join("node/password");
    let args = [
        "--node-name",
        "node-0",
        "--node-ip",
        &net.address,
        "--node-password-file",
        password.to_str().unwrap(),
        "--private-registry",
        registries.to_str().unwrap(),
        "--disable-default-registry-endpoint",
    ];
    let server = Server::start_in_netns(&net, dir, &args);
    let _cleanup = DeletePods::of(&server);
    let k = |args: &[&str]| server.k(args);
    let apply = |name: &str, yaml: &str| apply_yaml(&server, name, yaml);
    let (code, out) = k(&[
        "create",
        "secret",
        "docker-registry",
        "regcred",
        "--docker-server=127.0.0.1:5002",
        "--docker-username=puller",
        "--docker-password=s3cret",
    ]);
    assert_eq!(code, Some(0), "{out}");
    let sleeper = "trap \"exit 0\" TERM; sleep 3600 & wait";
    apply("mirrored", &pod_manifest("mirrored", "busybox:pulled", sleeper, "Always"));
    apply("private", &pod_manifest("private", "127.0.0.1:5001/team/busybox:1", sleeper, "Always"));
    let with_secret = pod_manifest("secret", "127.0.0.1:5002/team/busybox:2", sleeper, "Always")
        + "  imagePullSecrets: [{name: regcred}]\n";
    apply("secret", &with_secret);
    // `Always` asks the registry even once the pod above has pulled the image to the node.
    let nosecret = pod_manifest("nosecret", "127.0.0.1:5002/team/busybox:2", sleeper, "Always")
        .replace("    image:", "    imagePullPolicy: Always\n    image:");
    apply("nosecret", &nosecret);
    apply("missing", &pod_manifest("missing", "127.0.0.1:5000/nosuch:1", sleeper, "Always"));

    for pod in ["mirrored", "private", "secret"] {
        eventually(&format!("{pod} running"), Duration::from_secs(60), || {
            (phase_and_reason(&server, pod) == "Running").then_some(())
        });
    }
    let events = events_of(&server, "mirrored");
    assert!(events.contains("Pulling: Pulling image \"busybox:pulled\""), "{events}");
    assert!(
        events.contains("Pulled: Successfully pulled image \"busybox:pulled\" in "),
        "{events}"
    );
    // The node lists the pulled images under their names and digests.
    for name in ["docker.io/library/busybox:pulled", "docker.io/library/busybox@sha256:"] {
        eventually(&format!("node lists {name}"), Duration::from_secs(30), || {
            let (_, images) =
                k(&["get", "node", "node-0", "-o", "jsonpath={.status.images[*].names}"]);
            images.contains(name).then_some(())
        });
    }

    // Without credentials the registry refuses; a missing image is not found: both back off.
    for (pod, words) in [("nosecret", "401 Unauthorized"), ("missing", "not found")] {
        // ErrImagePull shows for a moment, then ImagePullBackOff until the next try.
        eventually(&format!("{pod} backs off"), Duration::from_secs(30), || {
            (phase_and_reason(&server, pod) == "Pending ImagePullBackOff").then_some(())
        });
        let events = events_of(&server, pod);
        assert!(events.contains("Failed: Failed to pull image"), "{events}");
        assert!(events.contains(words), "{events}");
        assert!(events.contains("Failed: Error: ErrImagePull"), "{events}");
        assert!(events.contains("BackOff: Back-off pulling image"), "{events}");
        let (_, get) = k(&["get", "pod", pod, "--no-headers"]);
        assert!(get.contains("ErrImagePull") || get.contains("ImagePullBackOff"), "{get}");
    }
    let (_, message) = k(&[
        "get",
        "pod",
        "missing",
        "-o",
        "jsonpath={.status.containerStatuses[0].state.waiting.message}",
    ]);
    assert!(message.contains("127.0.0.1:5000/nosuch:1: not found"), "{message}");

    // `Never` does not pull; `Always` asks the registry again even when the image is here.
    let never = pod_manifest("never", "127.0.0.1:5001/team/busybox:9", sleeper, "Always")
        .replace("    image:", "    imagePullPolicy: Never\n    image:");
    apply("never", &never);
    eventually("never is not pulled", Duration::from_secs(30), || {
        (phase_and_reason(&server, "never") == "Pending ErrImageNeverPull").then_some(())
    });
    let always = pod_manifest("always", "busybox:pulled", sleeper, "Always")
        .replace("    image:", "    imagePullPolicy: Always\n    image:");
    apply("always", &always);
    eventually("always running", Duration::from_secs(60), || {
        (phase_and_reason(&server, "always") == "Running").then_some(())
    });
    assert!(events_of(&server, "always").contains("Pulling: Pulling image"));
    let (code, out) = k(&["delete", "pods", "--all", "--timeout=60s"]);
    assert_eq!(code, Some(0), "{out}");
    drop((open, private, secret_only));
}

#[test]
fn services_reach_ready_pods_through_cluster_ips_and_node_ports() {
    if !can_run_pods() || !require_tool("busybox") {
        return;
    }
    let mut lab = Lab::new();
    let net = lab.node();
    let server = node_with_busybox(&net, tempfile::tempdir().unwrap());
    let _cleanup = DeletePods::of(&server);
    let k = |args: &[&str]| server.k(args);
    let web = "apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: httpd
        image: busybox:test
        command: [sh, -c, 'mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 8080 -h /www']
        ports: [{containerPort: 8080, name: http}]
        readinessProbe: {tcpSocket: {port: 8080}, periodSeconds: 1}
";
    apply_yaml(&server, "web", web);
    let client =
        pod_manifest("client", "busybox:test", "trap \"exit 0\" TERM; sleep 3600 & wait", "Always");
    apply_yaml(&server, "client", &client);
    let (code, out) =
        k(&["expose", "deployment", "web", "--port=80", "--target-port=http", "--type=NodePort"]);
    assert_eq!(code, Some(0), "{out}");
    let (_, ip) = k(&["get", "svc", "web", "-o", "jsonpath={.spec.clusterIP}"]);
    let (_, node_port) = k(&["get", "svc", "web", "-o", "jsonpath={.spec.ports[0].nodePort}"]);
    eventually("two ready endpoints", Duration::from_secs(60), || {
        let (_, eps) =
            k(&["get", "endpoints", "web", "-o", "jsonpath={.subsets[*].addresses[*].ip}"]);
        (eps.split_whitespace().count() == 2).then_some(())
    });
    eventually("client running", Duration::from_secs(30), || {
        (phase_and_reason(&server, "client") == "Running").then_some(())
    });
    let (_, pods) =
        k(&["get", "pods", "-l", "app=web", "-o", "jsonpath={.items[*].metadata.name}"]);
    let want: std::collections::BTreeSet<String> =
        pods.split_whitespace().map(str::to_owned).collect();
    // From a pod, the ClusterIP reaches both endpoints (at random: bounded tries).
    let url = format!("http://{ip}/");
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..40 {
        let (code, page) = k(&["exec", "client", "--", "wget", "-q", "-O-", &url]);
        assert_eq!(code, Some(0), "{page}");
        seen.insert(page.trim().to_owned());
        if seen == want {
            break;
        }
    }
    assert_eq!(seen, want, "the service spreads requests over its endpoints");
    // The cluster DNS answers on the node at the kube-dns address.
    let (code, out) = k(&["exec", "client", "--", "nslookup", "web.default.svc.cluster.local"]);
    assert!(code == Some(0) && out.contains(&ip), "{out}");
    for name in ["web.default.svc.cluster.local", "web"] {
        let (code, page) =
            k(&["exec", "client", "--", "wget", "-q", "-O-", &format!("http://{name}/")]);
        assert!(code == Some(0) && want.contains(page.trim()), "{name}: {page}");
    }
    let (code, out) = k(&["exec", "client", "--", "nslookup", "nosuch.default.svc.cluster.local"]);
    assert!(code != Some(0) && out.contains("NXDOMAIN"), "{out}");
    let (code, out) = k(&["cluster-info"]);
    assert!(code == Some(0) && out.contains("CoreDNS is running at"), "{out}");
    // The NodePort answers on the node's address, from the node itself.
    let node_url = format!("http://{}:{node_port}/", net.address);
    let out = common::netlab::command_in(Some(&net.netns), "busybox")
        .args(["wget", "-q", "-O-", &node_url])
        .output()
        .unwrap();
    let page = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert!(
        want.contains(&page),
        "{page:?} from {node_url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A NetworkPolicy denying ingress to the web pods blocks the same request; removing it
    // restores it.
    let deny = "apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-web}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Ingress]
";
    apply_yaml(&server, "deny", deny);
    let (_, netpol) = k(&["get", "netpol", "--no-headers"]);
    assert!(netpol.starts_with("deny-web") && netpol.contains("app=web"), "{netpol}");
    let connects = || {
        let probe = format!("nc -w 2 {ip} 80 </dev/null && echo connected");
        k(&["exec", "client", "--", "sh", "-c", &probe]).1.contains("connected")
    };
    eventually("the policy blocks the service", Duration::from_secs(30), || {
        (!connects()).then_some(())
    });
    assert_eq!(k(&["delete", "networkpolicy", "deny-web"]).0, Some(0));
    eventually("the service answers again", Duration::from_secs(30), || connects().then_some(()));
    // Without endpoints the service refuses at once instead of timing out.
    let (code, out) = k(&["scale", "deployment", "web", "--replicas=0"]);
    assert_eq!(code, Some(0), "{out}");
    eventually("the service refuses", Duration::from_secs(30), || {
        let (code, out) = k(&["exec", "client", "--", "wget", "-q", "-O-", &url]);
        (code != Some(0) && out.contains("refused")).then_some(())
    });
}
