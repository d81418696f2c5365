//! PodWorker: one actor per pod bound to this node, driving it to its spec. The sandbox first
//! (network namespace, `/etc/hosts`, `resolv.conf`, volumes), then the init containers one by
//! one, then the containers; each from its image in the node's store, run by the OCI runtime,
//! its exit seen through a pidfd; restarts by `restartPolicy` with back-off (`CrashLoopBackOff`);
//! status and events reported to the API. When the pod is deleted: SIGTERM, SIGKILL after the
//! grace period, everything removed, then the deletion confirmed. Blocking work (the runtime,
//! mounts, `ip`) runs off the actor's thread. The decisions are `k3rs_agent`'s.

use std::rc::Rc;
use std::time::Duration;

use actix::prelude::*;
use k3rs_agent::podstatus::{self, ContainerState, State};
use k3rs_agent::probe::{Counter, Probe};
use k3rs_agent::{AgentError, kube, oci, runtime, sandbox};
use k3rs_api::event::{self, EventSpec, EventType};
use serde_json::Value;

use super::{PodSettings, logpump};
use crate::tree::{ActorState, Member};
use logpump::LogPump;
use std::fs::File;

/// How long a failed pull shows `ErrImagePull` before `ImagePullBackOff`.
const BACKOFF_SHOWN: Duration = Duration::from_secs(2);
/// The longest a postStart hook may run (the kubelet sets none; this bounds how long it can
/// hold up the pod's next containers and its deletion).
const POST_START_LIMIT: Duration = Duration::from_secs(60);

/// A newer version of the pod.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Update(pub Value);

/// The pod is gone from the API: stop everything, confirm nothing.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Gone;

/// A container's process ended.
#[derive(Message)]
#[rtype(result = "()")]
struct Exited {
    slot: usize,
    generation: u64,
    code: i32,
}

/// One container of the pod.
struct Run {
    spec: Value,
    init: bool,
    status: ContainerState,
    running: bool,
    generation: u64,
    /// Waiting for a back-off or an operation: do not start it now.
    held: bool,
    /// The probes' timers of the current start, cancelled when it ends.
    probe_timers: Vec<SpawnHandle>,
    /// Counters of the probes, by kind.
    probes: Vec<(ProbeKind, Probe, Counter)>,
    /// The startup probe passed (or there is none): liveness and readiness may run.
    started: bool,
    /// Its output into its log file while it runs.
    pump: Option<LogPump>,
    /// The last start's pump draining: the next start waits for it.
    drained: Option<logpump::Drained>,
    /// Its image is in the store (found, or pulled) for this pod.
    image_ready: bool,
    /// Failed pulls in a row: the back-off before the next.
    pull_failures: u32,
    /// Pulled for this start: its `Pulled` event is said.
    just_pulled: bool,
}

/// Which probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ProbeKind {
    Startup,
    Liveness,
    Readiness,
}

impl ProbeKind {
    fn name(self) -> &'static str {
        match self {
            ProbeKind::Startup => "Startup",
            ProbeKind::Liveness => "Liveness",
            ProbeKind::Readiness => "Readiness",
        }
    }
}

impl Run {
    fn id(&self, uid: &str) -> String {
        k3rs_agent::runtime::container_id(uid, self.spec["name"].as_str().unwrap_or("c"))
    }
}

/// A started (or adopted) container: its pid, image id, whether adopted, and the pump's ends
/// of its output pipes.
/// A started (or adopted) container: its pid, image id, whether it was adopted, the pump's
/// ends of its output, the agent's end of its stdin (with `stdin: true`) and, with a
/// terminal, the end of its copier.
type Started = (u32, String, bool, Option<(File, File)>, Option<File>, Option<TtyCopy>);

/// Ends when a terminal's output has all been copied.
type TtyCopy = tokio::sync::oneshot::Receiver<()>;

/// A short, fresh path for a console socket (socket paths are at most 107 bytes).
fn console_socket_path() -> std::path::PathBuf {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    std::env::temp_dir().join(format!("k3rs-tty-{}-{n}.sock", std::process::id()))
}

/// The terminal master runc sent to `listener` before it returned (a detached `runc run` has
/// connected and sent by then; nothing waiting means none came).
fn receive_master(listener: &std::os::unix::net::UnixListener) -> Option<File> {
    listener.set_nonblocking(true).ok()?;
    let (stream, _) = listener.accept().ok()?;
    stream.set_nonblocking(false).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    runtime::receive_console(&stream).map(File::from)
}

/// Copies what the terminal shows into `out` (the stdout FIFO) until the container ends (the
/// master then reads an error); the receiver resolves when it has.
fn copy_terminal(master: &File, mut out: File) -> Option<TtyCopy> {
    let mut reader = master.try_clone().ok()?;
    let (done, copied) = tokio::sync::oneshot::channel::<()>();
    // Blocking reads (the master may come non-blocking).
    if let Ok(flags) = rustix::fs::fcntl_getfl(&reader) {
        let _ = rustix::fs::fcntl_setfl(&reader, flags - rustix::fs::OFlags::NONBLOCK);
    }
    let spawned = std::thread::Builder::new().name("tty-output".into()).spawn(move || {
        let _done = done;
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            match std::io::Read::read(&mut reader, &mut buf) {
                Ok(0) => return,
                Ok(n) => {
                    if std::io::Write::write_all(&mut out, &buf[..n]).is_err() {
                        return;
                    }
                }
                // A signal (the agent reaps its children) interrupts the read: read on.
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                // The terminal's other side closed: the container ended.
                Err(_) => return,
            }
        }
    });
    spawned.ok().map(|_| copied)
}

/// The actor.
pub struct PodWorker {
    s: Rc<PodSettings>,
    pod: Value,
    uid: String,
    namespace: String,
    name: String,
    dir: sandbox::PodDir,
    netns: String,
    runs: Vec<Run>,
    sandbox_ready: bool,
    /// The ConfigMaps and Secrets the pod uses, read before its sandbox is made.
    sources: Option<k3rs_agent::volumes::Sources>,
    /// Waiting for an image: a pull, a pull's back-off, or a `Never` image to be imported;
    /// how many times a `Never` image was missing.
    image_hold: bool,
    image_checks: u32,
    busy: bool,
    terminating: bool,
    killed: bool,
    start_time: String,
    reported: Value,
    /// A status write is in flight; `write_again` asks for another when it ends.
    writing: bool,
    write_again: bool,
    /// Its place in the actor tree (restarts are its containers').
    member: Member,
    /// The pod's address: on the node's pod network, or the node's own with `hostNetwork`.
    pod_ip: Option<String>,
}

fn now() -> String {
    k3rs_api::objects::timestamp(time::OffsetDateTime::now_utc())
}

impl PodWorker {
    pub fn new(s: Rc<PodSettings>, pod: Value, member: Member) -> Self {
        let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
        let uid = text(&pod["metadata"]["uid"]);
        let mut runs = Vec::new();
        for (key, init) in [("initContainers", true), ("containers", false)] {
            let reported = if init { "initContainerStatuses" } else { "containerStatuses" };
            for c in pod["spec"][key].as_array().into_iter().flatten() {
                let name = c["name"].as_str().unwrap_or("c");
                let mut status = ContainerState::new(name, c["image"].as_str().unwrap_or(""));
                let mut generation = 0;
                // A container that already ran to its end (before an agent restart) keeps
                // that end: a completed pod is not run again.
                let before = pod["status"][reported]
                    .as_array()
                    .and_then(|list| list.iter().find(|s| s["name"] == name));
                if let Some(t) = before.map(|b| &b["state"]["terminated"]).filter(|t| t.is_object())
                {
                    let text = |k: &str| t[k].as_str().unwrap_or_default().to_owned();
                    status.state = State::Terminated {
                        exit_code: t["exitCode"]
                            .as_i64()
                            .and_then(|c| i32::try_from(c).ok())
                            .unwrap_or(0),
                        reason: text("reason"),
                        started_at: text("startedAt"),
                        finished_at: text("finishedAt"),
                    };
                    status.restarts = before
                        .and_then(|b| b["restartCount"].as_u64())
                        .and_then(|r| u32::try_from(r).ok())
                        .unwrap_or(0);
                    generation = 1;
                }
                runs.push(Run {
                    spec: c.clone(),
                    init,
                    status,
                    running: false,
                    generation,
                    held: false,
                    probe_timers: Vec::new(),
                    probes: Vec::new(),
                    started: true,
                    pump: None,
                    drained: None,
                    image_ready: false,
                    pull_failures: 0,
                    just_pulled: false,
                });
            }
        }
        PodWorker {
            dir: sandbox::PodDir::new(&s.pods_dir, &uid),
            netns: sandbox::netns_name(&uid),
            namespace: text(&pod["metadata"]["namespace"]),
            name: text(&pod["metadata"]["name"]),
            uid,
            s,
            pod,
            runs,
            sandbox_ready: false,
            sources: None,
            image_hold: false,
            image_checks: 0,
            busy: false,
            terminating: false,
            killed: false,
            start_time: now(),
            reported: Value::Null,
            writing: false,
            write_again: false,
            member,
            pod_ip: None,
        }
    }

    fn policy(&self) -> String {
        self.pod["spec"]["restartPolicy"].as_str().unwrap_or("Always").to_owned()
    }

    fn record(
        &self,
        ctx: &mut Context<Self>,
        kind: EventType,
        reason: &'static str,
        message: String,
    ) {
        let spec =
            EventSpec { kind, reason, message, component: "kubelet", host: Some(&self.s.node) };
        let stamp = now();
        let nanos =
            u128::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos()).unwrap_or(0);
        let ev = event::event(&self.pod, &spec, &stamp, nanos);
        let api = self.s.api.clone();
        ctx.spawn(
            async move {
                if let Err(e) = kube::post_event(&api, &ev).await {
                    tracing::debug!(error = %e, "event not recorded");
                }
            }
            .into_actor(self),
        );
    }

    /// Decide what to do next.
    fn step(&mut self, ctx: &mut Context<Self>) {
        if self.busy {
            return;
        }
        if self.terminating {
            return self.terminate(ctx);
        }
        // Nothing is set up on the node for a pod whose images are not here.
        if !self.sandbox_ready && (self.image_hold || self.hold_for_images(ctx)) {
            return self.report(ctx);
        }
        if self.sources.is_none() {
            return self.fetch_sources(ctx);
        }
        if !self.sandbox_ready {
            return self.setup(ctx);
        }
        // Init containers one at a time, in order; then every container.
        let first_pending_init = self.runs.iter().position(|r| {
            r.init && !matches!(r.status.state, State::Terminated { exit_code: 0, .. })
        });
        let candidates: Vec<usize> = match first_pending_init {
            Some(i) => vec![i],
            None => (0..self.runs.len()).filter(|i| !self.runs[*i].init).collect(),
        };
        for i in candidates {
            let r = &self.runs[i];
            let never_started = r.generation == 0;
            let may_restart = match &r.status.state {
                State::Terminated { exit_code, .. } => {
                    podstatus::restarts(&self.policy(), *exit_code)
                }
                _ => true,
            };
            if !r.running && !r.held && (never_started || may_restart) {
                return self.start(ctx, i);
            }
        }
        self.report(ctx);
    }

    /// Make sure every container's image is in the store, by its pull policy: a missing
    /// `Never` image is `ErrImageNeverPull` (looked for again later, as it may be imported);
    /// others are pulled one at a time (`Pulling`, `Pulled`; a failure is `ErrImagePull`,
    /// then `ImagePullBackOff` until the back-off ends). True while any is not ready.
    fn hold_for_images(&mut self, ctx: &mut Context<Self>) -> bool {
        use k3rs_agent::pull::{self, ImageAction};
        let Some(slot) = self.runs.iter().position(|r| !r.image_ready) else { return false };
        let r = &mut self.runs[slot];
        let image = r.spec["image"].as_str().unwrap_or("").to_owned();
        let present = matches!(self.s.images.find(&image), Ok(Some(_)));
        match pull::action(&r.spec, present) {
            ImageAction::Present => {
                r.image_ready = true;
                self.hold_for_images(ctx)
            }
            ImageAction::NeverPull => {
                let message =
                    format!("Container image \"{image}\" is not present with pull policy of Never");
                if !matches!(&r.status.state, State::Waiting { reason, .. } if reason == "ErrImageNeverPull")
                {
                    r.status.state = State::waiting("ErrImageNeverPull", &message);
                    self.record(ctx, EventType::Warning, "ErrImageNeverPull", message);
                }
                self.image_hold = true;
                let delay = podstatus::backoff(self.image_checks.min(10));
                self.image_checks += 1;
                ctx.run_later(delay, |act, ctx| {
                    act.image_hold = false;
                    act.step(ctx);
                });
                true
            }
            ImageAction::Pull => {
                self.pull(ctx, slot, image);
                true
            }
        }
    }

    /// Pull container `slot`'s image with the pod's pull secrets.
    fn pull(&mut self, ctx: &mut Context<Self>, slot: usize, image: String) {
        self.image_hold = true;
        self.record(ctx, EventType::Normal, "Pulling", format!("Pulling image \"{image}\""));
        let (api, puller) = (self.s.api.clone(), self.s.puller.clone());
        let names: Vec<String> = self.pod["spec"]["imagePullSecrets"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s["name"].as_str().map(str::to_owned))
            .collect();
        let namespace = self.namespace.clone();
        let started = std::time::Instant::now();
        let wanted = image.clone();
        let work = async move {
            let mut secrets = Vec::new();
            let mut missing = Vec::new();
            for name in names {
                match kube::get(&api, &format!("/api/v1/namespaces/{namespace}/secrets/{name}"))
                    .await
                {
                    Ok(Some(secret)) => secrets.push(secret),
                    _ => missing.push(name),
                }
            }
            let docs = k3rs_agent::pull::secret_documents(&secrets);
            (missing, puller.pull(&wanted, &docs).await)
        };
        ctx.spawn(work.into_actor(self).map(move |(missing, result), act, ctx| {
            if !missing.is_empty() {
                let text = format!(
                    "Unable to retrieve some image pull secrets ({}); attempting to pull the image may not succeed.",
                    missing.join(", ")
                );
                act.record(ctx, EventType::Warning, "FailedToRetrieveImagePullSecret", text);
            }
            let took = started.elapsed().as_secs_f64();
            match result {
                Ok(pulled) => {
                    let r = &mut act.runs[slot];
                    r.image_ready = true;
                    r.just_pulled = true;
                    r.pull_failures = 0;
                    r.status.state = State::waiting("ContainerCreating", "");
                    let text = format!(
                        "Successfully pulled image \"{image}\" in {took:.3}s ({took:.3}s including waiting). Image size: {} bytes.",
                        pulled.size
                    );
                    act.record(ctx, EventType::Normal, "Pulled", text);
                    act.image_hold = false;
                    act.step(ctx);
                }
                Err(e) => {
                    let message = e.kubelet_text();
                    tracing::warn!(actor = "PodWorker", pod = %act.name, image = %image, error = %message, "pull failed");
                    let r = &mut act.runs[slot];
                    r.status.state = State::waiting("ErrImagePull", &message);
                    let delay = podstatus::backoff(r.pull_failures);
                    r.pull_failures += 1;
                    act.record(ctx, EventType::Warning, "Failed", format!("Failed to pull image \"{image}\": {message}"));
                    act.record(ctx, EventType::Warning, "Failed", "Error: ErrImagePull".into());
                    act.report(ctx);
                    // The next look finds the back-off running: ImagePullBackOff until it ends.
                    ctx.run_later(BACKOFF_SHOWN, move |act, ctx| {
                        if act.terminating {
                            return;
                        }
                        let text = format!("Back-off pulling image \"{image}\"");
                        let waiting = format!("{text}: ErrImagePull: {message}");
                        act.runs[slot].status.state = State::waiting("ImagePullBackOff", &waiting);
                        act.record(ctx, EventType::Normal, "BackOff", text);
                        act.record(ctx, EventType::Warning, "Failed", "Error: ImagePullBackOff".into());
                        act.report(ctx);
                    });
                    ctx.run_later(delay, |act, ctx| {
                        act.image_hold = false;
                        act.step(ctx);
                    });
                }
            }
        }));
    }

    fn host_network(&self) -> bool {
        self.pod["spec"]["hostNetwork"] == true
    }

    /// Read the ConfigMaps and Secrets the pod uses (again on every sandbox attempt).
    fn fetch_sources(&mut self, ctx: &mut Context<Self>) {
        self.busy = true;
        let (api, pod) = (self.s.api.clone(), self.pod.clone());
        ctx.spawn(async move { kube::sources(&api, &pod).await }.into_actor(self).map(|result, act, ctx| {
            act.busy = false;
            match result {
                Ok(sources) => act.sources = Some(sources),
                Err(e) => {
                    tracing::warn!(actor = "PodWorker", pod = %act.name, error = %e, "cannot read the pod's configmaps and secrets");
                    ctx.run_later(Duration::from_secs(5), |act, ctx| act.step(ctx));
                    return;
                }
            }
            act.step(ctx);
        }));
    }

    fn setup(&mut self, ctx: &mut Context<Self>) {
        // The pod's address comes from the node's range, which the server assigns when the
        // node joins: until the bridge is up, wait.
        // A `hostNetwork` pod uses the node's network and address instead.
        let host_network = self.host_network();
        let network = self.s.network.borrow().clone();
        let (network, pod_ip) = match network {
            _ if host_network => (None, self.s.host_ip.clone()),
            None => {
                self.s.sandbox_waiting.set(true);
                ctx.run_later(Duration::from_millis(200), |act, ctx| act.step(ctx));
                return self.report(ctx);
            }
            Some(network) => match network.allocate(&self.uid) {
                Ok(ip) => (Some(network), ip.to_string()),
                Err(e) => {
                    let text = format!("Failed to create pod sandbox: {e}");
                    self.record(ctx, EventType::Warning, "FailedCreatePodSandBox", text);
                    ctx.run_later(Duration::from_secs(5), |act, ctx| act.step(ctx));
                    return self.report(ctx);
                }
            },
        };
        self.pod_ip = Some(pod_ip.clone());
        self.busy = true;
        let (dir, netns) = (self.dir.clone(), self.netns.clone());
        let hostname = self.pod["spec"]["hostname"].as_str().unwrap_or(&self.name).to_owned();
        let resolv =
            sandbox::resolv_conf(&self.s.cluster_dns, &self.namespace, &self.s.cluster_domain);
        let hosts = sandbox::hosts_file(&hostname, &pod_ip);
        let empty: Vec<String> = self.pod["spec"]["volumes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|v| v.get("emptyDir").is_some())
            .filter_map(|v| v["name"].as_str().map(str::to_owned))
            .collect();
        // Files of configMap, secret, downwardAPI and projected volumes; a missing source
        // fails the mount (the pod waits, as the kubelet's FailedMount).
        let sources = self.sources.clone().unwrap_or_default();
        let downward = oci::Downward {
            node_name: self.s.node.clone(),
            pod_ip: pod_ip.clone(),
            host_ip: self.s.host_ip.clone(),
        };
        let mut volume_files = Vec::new();
        for v in self.pod["spec"]["volumes"].as_array().into_iter().flatten() {
            let name = v["name"].as_str().unwrap_or_default().to_owned();
            if v.get("emptyDir").is_some() || v.get("hostPath").is_some() {
                continue;
            }
            match k3rs_agent::volumes::files(v, &self.pod, &sources, &downward) {
                Ok(files) => volume_files.push((name, files)),
                Err(message) => {
                    self.busy = false;
                    self.sources = None;
                    let text =
                        format!("MountVolume.SetUp failed for volume \"{name}\" : {message}");
                    tracing::warn!(actor = "PodWorker", pod = %self.name, "{text}");
                    self.record(ctx, EventType::Warning, "FailedMount", text);
                    ctx.run_later(Duration::from_secs(10), |act, ctx| act.step(ctx));
                    return self.report(ctx);
                }
            }
        }
        let runtime = self.s.runtime.clone();
        let ids: Vec<String> = self.runs.iter().map(|r| r.id(&self.uid)).collect();
        let uid = self.uid.clone();
        let work = tokio::task::spawn_blocking(move || -> Result<(), AgentError> {
            if let Some(network) = &network {
                sandbox::create_netns(&netns)?;
                let ip = pod_ip.parse().map_err(|_| {
                    AgentError::Runtime(format!("pod address {pod_ip:?} is not IPv4"))
                })?;
                network.attach(&netns, &uid, ip)?;
            }
            // Containers an earlier agent left running keep their sandbox as it is: their
            // volumes and files are in use.
            if ids.iter().any(|id| runtime.running(id).is_some()) {
                return Ok(());
            }
            let names: Vec<&str> = empty.iter().map(String::as_str).collect();
            dir.prepare(&hosts, &resolv, &format!("{hostname}\n"), &names)?;
            for (name, files) in &volume_files {
                dir.write_volume(name, files)?;
            }
            Ok(())
        });
        ctx.spawn(work.into_actor(self).map(|result, act, ctx| {
            act.busy = false;
            match result {
                Ok(Ok(())) => {
                    act.sandbox_ready = true;
                    tracing::info!(actor = "PodWorker", pod = %act.name, "sandbox ready");
                }
                Ok(Err(e)) => {
                    tracing::error!(actor = "PodWorker", pod = %act.name, error = %e, "sandbox failed");
                    act.member.error(format!("sandbox failed: {e}"));
                    act.record(ctx, EventType::Warning, "FailedCreatePodSandBox", format!("Failed to create pod sandbox: {e}"));
                    ctx.run_later(Duration::from_secs(5), |act, ctx| act.step(ctx));
                    return;
                }
                Err(e) => tracing::error!(actor = "PodWorker", pod = %act.name, error = %e, "sandbox task failed"),
            }
            act.step(ctx);
        }));
    }

    /// Start container `slot`: image, root, spec, runtime.
    fn start(&mut self, ctx: &mut Context<Self>, slot: usize) {
        self.busy = true;
        let r = &mut self.runs[slot];
        r.generation += 1;
        let generation = r.generation;
        let id = r.id(&self.uid);
        let spec = r.spec.clone();
        let name = spec["name"].as_str().unwrap_or("c").to_owned();
        let wants_stdin = spec["stdin"] == true;
        let tty = spec["tty"] == true;
        let drained = r.drained.take();
        let image_name = spec["image"].as_str().unwrap_or("").to_owned();
        let (images, runtime) = (self.s.images.clone(), self.s.runtime.clone());
        let (node, host_ip) = (self.s.node.clone(), self.s.host_ip.clone());
        let pod_ip = self.pod_ip.clone().unwrap_or_default();
        let (pod, dir) = (self.pod.clone(), self.dir.clone());
        let netns_path = std::path::PathBuf::from("/run/netns").join(&self.netns);
        let cgroup = format!("/k3rs/pod{}/{}", self.uid, name);
        let sourced = match k3rs_agent::volumes::env_from_sources(
            &spec,
            &self.namespace,
            &self.sources.clone().unwrap_or_default(),
        ) {
            Ok(s) => s,
            Err(message) => {
                self.busy = false;
                let r = &mut self.runs[slot];
                r.status.state = State::waiting("CreateContainerConfigError", &message);
                r.held = true;
                self.record(ctx, EventType::Warning, "Failed", format!("Error: {message}"));
                // The sources are read again before the next attempt.
                self.sources = None;
                ctx.run_later(Duration::from_secs(10), move |act, ctx| {
                    act.runs[slot].held = false;
                    act.step(ctx);
                });
                return self.report(ctx);
            }
        };
        let work = tokio::task::spawn_blocking(move || -> Result<Started, (String, String)> {
            // The last start's output is all in its log before this one writes.
            if let Some(drained) = drained {
                let _ = drained.blocking_recv();
            }
            let image = images
                .find(&image_name)
                .map_err(|e| ("ErrImagePull".to_owned(), e.to_string()))?
                .ok_or_else(|| {
                    ("ErrImageNeverPull".to_owned(), format!(
                        "Container image \"{image_name}\" is no longer in the node's image store"
                    ))
                })?;
            // The pump's ends of the container's output FIFOs, opened before it starts so
            // nothing it writes is lost; none if they cannot be made.
            let readers = |cdir: &std::path::Path| {
                let open = |n: &str| logpump::open_fifo(&cdir.join(n));
                match (open("stdout.fifo"), open("stderr.fifo")) {
                    (Ok(o), Ok(e)) => Some((o, e)),
                    (Err(e), _) | (_, Err(e)) => {
                        tracing::warn!(actor = "PodWorker", error = %e, "container output will not be logged");
                        None
                    }
                }
            };
            let cdir = dir.container(&name);
            // stdin: a FIFO whose writing end the agent holds (so the container's reads wait
            // for an attach); the container's end is read-only under `stdinOnce` (it reads
            // end-of-file once the attach lets go), else read-write (it never does).
            let stdin_fifo = cdir.join("stdin.fifo");
            let held = || match logpump::open_fifo(&stdin_fifo) {
                Ok(f) => Some(f),
                Err(e) => {
                    tracing::warn!(actor = "PodWorker", error = %e, "container stdin will not be attachable");
                    None
                }
            };
            // One an earlier agent started and left running is adopted, not replaced.
            if let Some(pid) = runtime.running(&id) {
                // (A terminal's master went with the agent that held it: no stdin then.)
                let stdin = if wants_stdin && !tty { held() } else { None };
                return Ok((pid, image.id, true, readers(&cdir), stdin, None));
            }
            let layers: Vec<_> = image.layers.iter().map(|l| images.layer_dir(l)).collect();
            let fail = |e: AgentError| ("CreateContainerError".to_owned(), e.to_string());
            let _ = runtime.delete(&id);
            let bundle = dir.mount_rootfs(&name, &layers).map_err(fail)?;
            let volume = |v: &str| -> Option<std::path::PathBuf> { volume_source(&pod, &dir, v) };
            let (hosts, resolv, hostname) =
                (dir.file("hosts"), dir.file("resolv.conf"), dir.file("hostname"));
            let log = dir.container(&name).join("termination-log");
            let paths = oci::Paths {
                netns: &netns_path,
                etc_hosts: &hosts,
                resolv_conf: &resolv,
                hostname: &hostname,
                termination_log: &log,
                volume: &volume,
            };
            let downward = oci::Downward { node_name: node, pod_ip, host_ip };
            let config =
                oci::spec(&pod, &spec, &image.config, &cgroup, &paths, &downward, &sourced);
            let config_path = bundle.join("config.json");
            std::fs::write(&config_path, config.to_string()).map_err(|e| {
                ("CreateContainerError".to_owned(), format!("{}: {e}", config_path.display()))
            })?;
            let stdio = readers(&cdir).ok_or_else(|| {
                ("CreateContainerError".to_owned(), "cannot make the output pipes".to_owned())
            })?;
            // The container's ends are opened on their own (not cloned from ours): the pump
            // makes its ends non-blocking, and that flag belongs to an open file, so a
            // shared one would make the container's writes fail when the pipe is full.
            let open = |n: &str| logpump::open_fifo(&cdir.join(n));
            let (Ok(out), Ok(err)) = (open("stdout.fifo"), open("stderr.fifo")) else {
                return Err((
                    "CreateContainerError".to_owned(),
                    "cannot open the output pipes".to_owned(),
                ));
            };
            let failed = |e: String| ("CreateContainerError".to_owned(), e);
            if tty {
                // The terminal's master: its output is copied into the stdout FIFO (so it is
                // logged as any output is) and it takes the attaches' input.
                let socket = console_socket_path();
                let listener = std::os::unix::net::UnixListener::bind(&socket)
                    .map_err(|e| failed(format!("console socket: {e}")))?;
                let console = runtime::ContainerStdio::Terminal { console_socket: &socket };
                let started = runtime.run(&id, &bundle, console);
                let master = receive_master(&listener);
                let _ = std::fs::remove_file(&socket);
                let pid = started.map_err(|e| failed(e.to_string()))?;
                let master =
                    master.ok_or_else(|| failed("the runtime gave no terminal".to_owned()))?;
                let copied = copy_terminal(&master, out);
                let held = if wants_stdin { Some(master) } else { None };
                return Ok((pid, image.id, false, Some(stdio), held, copied));
            }
            let held = if wants_stdin { held() } else { None };
            let container_stdin = held.as_ref().and_then(|_| {
                let once = spec["stdinOnce"] == true;
                std::fs::OpenOptions::new().read(true).write(!once).open(&stdin_fifo).ok()
            });
            let pipes =
                runtime::ContainerStdio::Pipes { stdin: container_stdin, stdout: out, stderr: err };
            let pid = runtime.run(&id, &bundle, pipes).map_err(|e| failed(e.to_string()))?;
            Ok((pid, image.id, false, Some(stdio), held, None))
        });
        ctx.spawn(work.into_actor(self).map(move |result, act, ctx| {
            act.busy = false;
            let container = act.runs[slot].spec["name"].as_str().unwrap_or("c").to_owned();
            match result {
                Ok(Ok((pid, image_id, adopted, readers, stdin, copied))) => {
                    let r = &mut act.runs[slot];
                    // A restart is a start after the container ran before (not a retry of a
                    // start that failed).
                    let ran_before = r.status.last.is_some() || matches!(r.status.state, State::Terminated { .. });
                    if ran_before {
                        r.status.restarts += 1;
                        act.member.restarted();
                    }
                    r.status.last = match &r.status.state {
                        State::Terminated { .. } => Some(r.status.state.clone()),
                        _ => r.status.last.clone(),
                    };
                    r.status.state = State::Running { started_at: now() };
                    r.status.image_id = image_id;
                    // Ready at once without a readiness probe; with one, when it passes.
                    r.probes = probes_of(&r.spec);
                    r.started = !r.probes.iter().any(|(k, _, _)| *k == ProbeKind::Startup);
                    r.status.ready = !r.init && !r.probes.iter().any(|(k, _, _)| *k == ProbeKind::Readiness);
                    r.running = true;
                    let logs = k3rs_agent::logs::container_dir(&act.s.logs_dir, &act.namespace, &act.name, &act.uid, &container);
                    if let Some(stdin) = stdin {
                        // A terminal's input never ends (upstream closes only a pipe's).
                        let spec = &act.runs[slot].spec;
                        let once = spec["stdinOnce"] == true && spec["tty"] != true;
                        act.s.stdin.hold(logs.clone(), stdin, once);
                    }
                    if let Some(readers) = readers {
                        let r = &mut act.runs[slot];
                        match logpump::start(readers, logs, r.status.restarts, copied) {
                            Ok(pump) => r.pump = Some(pump),
                            Err(e) => tracing::warn!(actor = "PodWorker", pod = %act.name, container = %container, error = %e, "container output will not be logged"),
                        }
                    }
                    let r = &mut act.runs[slot];
                    let image = r.status.image.clone();
                    if adopted {
                        tracing::info!(actor = "PodWorker", pod = %act.name, container = %container, pid, "adopted a running container");
                    } else {
                        // Right after a pull the pull's own `Pulled` event has said it.
                        if !std::mem::take(&mut r.just_pulled) {
                            act.record(ctx, EventType::Normal, "Pulled", format!("Container image \"{image}\" already present on machine"));
                        }
                        act.record(ctx, EventType::Normal, "Created", format!("Created container {container}"));
                        act.record(ctx, EventType::Normal, "Started", format!("Started container {container}"));
                    }
                    act.watch_exit(ctx, slot, generation, pid);
                    act.schedule_probes(ctx, slot, generation);
                    if !adopted {
                        act.post_start(ctx, slot);
                    }
                }
                Ok(Err((reason, message))) => {
                    tracing::warn!(actor = "PodWorker", pod = %act.name, container = %container, %reason, %message, "container not started");
                    act.member.error(format!("container {container} not started: {reason}: {message}"));
                    let r = &mut act.runs[slot];
                    r.status.state = State::waiting(&reason, &message);
                    r.held = true;
                    let delay = podstatus::backoff(r.generation.saturating_sub(1).min(10) as u32);
                    act.record(ctx, EventType::Warning, "Failed", format!("Error: {reason}"));
                    ctx.run_later(delay, move |act, ctx| {
                        act.runs[slot].held = false;
                        act.step(ctx);
                    });
                }
                Err(e) => tracing::error!(actor = "PodWorker", error = %e, "start task failed"),
            }
            act.step(ctx);
        }));
    }

    /// The container's postStart hook, if it has one: nothing else starts until it ends (as
    /// the kubelet waits for it); when it fails, a `FailedPostStartHook` event and the
    /// container is killed (and restarted by its policy).
    fn post_start(&mut self, ctx: &mut Context<Self>, slot: usize) {
        let r = &self.runs[slot];
        let Some(hook) = Probe::hook(&r.spec["lifecycle"]["postStart"], &r.spec, POST_START_LIMIT)
        else {
            return;
        };
        self.busy = true;
        let (rt, id) = (self.s.runtime.clone(), r.id(&self.uid));
        let name = r.spec["name"].as_str().unwrap_or("c").to_owned();
        let netns = std::path::PathBuf::from("/run/netns").join(&self.netns);
        let work = tokio::task::spawn_blocking(move || {
            let result = hook.run(&rt, &id, &netns);
            if result.is_err() {
                let _ = rt.kill(&id, "KILL");
            }
            result
        });
        ctx.spawn(work.into_actor(self).map(move |result, act, ctx| {
            act.busy = false;
            if let Ok(Err(e)) = result {
                let text = format!("PostStartHook failed: container {name}: {e}");
                tracing::warn!(actor = "PodWorker", pod = %act.name, "{text}");
                act.record(ctx, EventType::Warning, "FailedPostStartHook", text);
            }
            act.step(ctx);
        }));
    }

    /// Start the container's probes: each after its initial delay, then every period.
    fn schedule_probes(&mut self, ctx: &mut Context<Self>, slot: usize, generation: u64) {
        let kinds: Vec<(ProbeKind, Duration, Duration)> = self.runs[slot]
            .probes
            .iter()
            .map(|(k, p, _)| (*k, p.initial_delay, p.period))
            .collect();
        for (kind, delay, period) in kinds {
            let handle = ctx.run_later(delay, move |act, ctx| {
                act.probe(ctx, slot, generation, kind);
                let every = ctx
                    .run_interval(period, move |act, ctx| act.probe(ctx, slot, generation, kind));
                match act.runs.get_mut(slot).filter(|r| r.generation == generation && r.running) {
                    Some(r) => r.probe_timers.push(every),
                    None => {
                        ctx.cancel_future(every);
                    }
                }
            });
            self.runs[slot].probe_timers.push(handle);
        }
    }

    /// Run one probe of container `slot` and act on its verdict.
    fn probe(&mut self, ctx: &mut Context<Self>, slot: usize, generation: u64, kind: ProbeKind) {
        let Some(r) = self.runs.get(slot).filter(|r| r.generation == generation && r.running)
        else {
            return;
        };
        if kind != ProbeKind::Startup && !r.started {
            return;
        }
        let Some(probe) = r.probes.iter().find(|(k, _, _)| *k == kind).map(|(_, p, _)| p.clone())
        else {
            return;
        };
        let (runtime, id) = (self.s.runtime.clone(), r.id(&self.uid));
        let netns = if self.host_network() {
            // The agent's own network (the probe thread is already in it).
            std::path::PathBuf::from("/proc/self/ns/net")
        } else {
            std::path::PathBuf::from("/run/netns").join(&self.netns)
        };
        let check = tokio::task::spawn_blocking(move || probe.run(&runtime, &id, &netns));
        ctx.spawn(check.into_actor(self).map(move |result, act, ctx| {
            let outcome = result.unwrap_or_else(|e| Err(e.to_string()));
            let Some(r) =
                act.runs.get_mut(slot).filter(|r| r.generation == generation && r.running)
            else {
                return;
            };
            let name = r.spec["name"].as_str().unwrap_or("c").to_owned();
            let id = r.id(&act.uid);
            let Some((_, p, counter)) = r.probes.iter_mut().find(|(k, _, _)| *k == kind) else {
                return;
            };
            let verdict = counter.record(outcome.is_ok(), p);
            if let Err(message) = &outcome {
                act.record(
                    ctx,
                    EventType::Warning,
                    "Unhealthy",
                    format!("{} probe failed: {message}", kind.name()),
                );
            }
            match (kind, verdict) {
                (ProbeKind::Readiness, Some(ready)) => {
                    act.runs[slot].status.ready = ready;
                    act.report(ctx);
                }
                (ProbeKind::Startup, Some(true)) => act.runs[slot].started = true,
                (ProbeKind::Startup | ProbeKind::Liveness, Some(false)) => {
                    let what = kind.name().to_ascii_lowercase();
                    act.record(
                        ctx,
                        EventType::Normal,
                        "Killing",
                        format!("Container {name} failed {what} probe, will be restarted"),
                    );
                    let runtime = act.s.runtime.clone();
                    drop(tokio::task::spawn_blocking(move || runtime.kill(&id, "KILL")));
                }
                _ => {}
            }
        }));
    }

    /// Wait for the container's process to end (it is our child: we are its subreaper).
    fn watch_exit(&mut self, ctx: &mut Context<Self>, slot: usize, generation: u64, pid: u32) {
        let (addr, mailbox) = (ctx.address(), self.member.mailbox().clone());
        let wait = async move {
            let code = crate::reap::wait_for_exit(pid).await.unwrap_or(255);
            mailbox.post(&addr, Exited { slot, generation, code });
        };
        ctx.spawn(wait.into_actor(self));
    }

    fn report(&mut self, ctx: &mut Context<Self>) {
        let (init, main): (Vec<&Run>, Vec<&Run>) = self.runs.iter().partition(|r| r.init);
        let init: Vec<ContainerState> = init.iter().map(|r| r.status.clone()).collect();
        let main: Vec<ContainerState> = main.iter().map(|r| r.status.clone()).collect();
        let status = podstatus::status(
            &self.pod,
            &init,
            &main,
            &self.s.host_ip,
            &self.pod_ip.clone().unwrap_or_default(),
            &self.start_time,
            &now(),
        );
        let strip = |s: &Value| {
            let mut s = s.clone();
            if let Some(conds) = s["conditions"].as_array_mut() {
                for c in conds {
                    c["lastTransitionTime"] = Value::Null;
                }
            }
            s
        };
        if strip(&status) == strip(&self.reported) {
            return;
        }
        // One write at a time, in order: a newer status waits for the one in flight, so an
        // older one never lands last.
        if self.writing {
            self.write_again = true;
            return;
        }
        self.writing = true;
        self.reported = status.clone();
        let (api, ns, name) = (self.s.api.clone(), self.namespace.clone(), self.name.clone());
        ctx.spawn(
            async move {
                if let Err(e) = kube::write_pod_status(&api, &ns, &name, &status).await {
                    tracing::warn!(actor = "PodWorker", pod = %name, error = %e, "status not written");
                }
            }
            .into_actor(self)
            .map(|_, act, ctx| {
                act.writing = false;
                if std::mem::take(&mut act.write_again) {
                    act.report(ctx);
                }
            }),
        );
    }

    /// Stop the containers (SIGTERM, SIGKILL after the grace period), remove the sandbox,
    /// confirm the deletion, stop.
    fn terminate(&mut self, ctx: &mut Context<Self>) {
        let running: Vec<String> =
            self.runs.iter().filter(|r| r.running).map(|r| r.id(&self.uid)).collect();
        if !running.is_empty() {
            if self.killed {
                return;
            }
            self.killed = true;
            for r in self.runs.iter().filter(|r| r.running) {
                let name = r.spec["name"].as_str().unwrap_or("c").to_owned();
                self.record(
                    ctx,
                    EventType::Normal,
                    "Killing",
                    format!("Stopping container {name}"),
                );
            }
            let grace = self.pod["metadata"]["deletionGracePeriodSeconds"]
                .as_u64()
                .or(self.pod["spec"]["terminationGracePeriodSeconds"].as_u64())
                .unwrap_or(30);
            // Each container: its preStop hook (within the grace period), then SIGTERM; all
            // at once. SIGKILL when the grace period is over, or 2 s after hooks that used it
            // all up (the kubelet's minimum).
            let netns_path = std::path::PathBuf::from("/run/netns").join(&self.netns);
            let hooks: Vec<(String, String, Option<Probe>)> = self
                .runs
                .iter()
                .filter(|r| r.running)
                .map(|r| {
                    let hook = Probe::hook(
                        &r.spec["lifecycle"]["preStop"],
                        &r.spec,
                        Duration::from_secs(grace),
                    );
                    (r.id(&self.uid), r.spec["name"].as_str().unwrap_or("c").to_owned(), hook)
                })
                .collect();
            let rt = self.s.runtime.clone();
            let started = std::time::Instant::now();
            let stopping = tokio::task::spawn_blocking(move || {
                let threads: Vec<_> = hooks
                    .into_iter()
                    .map(|(id, name, hook)| {
                        let (rt, netns) = (rt.clone(), netns_path.clone());
                        std::thread::spawn(move || {
                            let failed =
                                hook.and_then(|h| h.run(&rt, &id, &netns).err()).map(|e| (name, e));
                            let _ = rt.kill(&id, "TERM");
                            failed
                        })
                    })
                    .collect();
                threads.into_iter().filter_map(|t| t.join().ok().flatten()).collect::<Vec<_>>()
            });
            let (rt, ids) = (self.s.runtime.clone(), running);
            ctx.spawn(stopping.into_actor(self).map(move |failed, act, ctx| {
                for (name, e) in failed.unwrap_or_default() {
                    let text = format!("PreStopHook failed: container {name}: {e}");
                    tracing::warn!(actor = "PodWorker", pod = %act.name, "{text}");
                    act.record(ctx, EventType::Warning, "FailedPreStopHook", text);
                }
                let rest = Duration::from_secs(grace).saturating_sub(started.elapsed());
                ctx.run_later(rest.max(Duration::from_secs(2)), move |_, _| {
                    drop(tokio::task::spawn_blocking(move || {
                        for id in &ids {
                            let _ = rt.kill(id, "KILL");
                        }
                    }));
                });
            }));
            return;
        }
        self.busy = true;
        let ids: Vec<(String, String)> = self
            .runs
            .iter()
            .map(|r| (r.id(&self.uid), r.spec["name"].as_str().unwrap_or("c").to_owned()))
            .collect();
        let (rt, dir, netns) = (self.s.runtime.clone(), self.dir.clone(), self.netns.clone());
        let uid = self.uid.clone();
        let network = self.s.network.borrow().clone();
        // A deleted pod's logs go with it (the kubelet's rule).
        let logs = k3rs_agent::logs::pod_dir(&self.s.logs_dir, &self.namespace, &self.name, &uid);
        let cleanup = tokio::task::spawn_blocking(move || -> Result<(), AgentError> {
            for (id, name) in &ids {
                rt.delete(id)?;
                dir.unmount_rootfs(name)?;
            }
            remove_pod_cgroups(&uid);
            let _ = std::fs::remove_dir_all(&logs);
            if let Some(network) = &network {
                network.release(&uid);
            }
            sandbox::delete_netns(&netns)?;
            dir.remove()
        });
        let (api, ns, name, uid, confirm) = (
            self.s.api.clone(),
            self.namespace.clone(),
            self.name.clone(),
            self.uid.clone(),
            self.pod["metadata"]["deletionTimestamp"].is_string(),
        );
        ctx.spawn(
            async move {
                match cleanup.await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => tracing::warn!(actor = "PodWorker", pod = %name, error = %e, "cleanup incomplete"),
                    Err(e) => tracing::warn!(actor = "PodWorker", pod = %name, error = %e, "cleanup task failed"),
                }
                if confirm && let Err(e) = kube::confirm_deleted(&api, &ns, &name, &uid).await {
                    tracing::warn!(actor = "PodWorker", pod = %name, error = %e, "deletion not confirmed");
                }
            }
            .into_actor(self)
            .map(|_, act, ctx| {
                tracing::info!(actor = "PodWorker", pod = %act.name, "pod removed");
                ctx.stop();
            }),
        );
    }
}

/// The probes a container declares, each with a fresh counter.
fn probes_of(spec: &Value) -> Vec<(ProbeKind, Probe, Counter)> {
    [
        ("startupProbe", ProbeKind::Startup),
        ("livenessProbe", ProbeKind::Liveness),
        ("readinessProbe", ProbeKind::Readiness),
    ]
    .into_iter()
    .filter_map(|(key, kind)| {
        let probe = spec.get(key).and_then(|p| Probe::parse(p, spec))?;
        Some((kind, probe, Counter::default()))
    })
    .collect()
}

/// The node directory behind a pod volume: `hostPath` as given, every other kind under the
/// pod's directory.
fn volume_source(pod: &Value, dir: &sandbox::PodDir, name: &str) -> Option<std::path::PathBuf> {
    let v = pod["spec"]["volumes"].as_array()?.iter().find(|v| v["name"] == name)?;
    match v["hostPath"]["path"].as_str() {
        Some(p) => Some(std::path::PathBuf::from(p)),
        None => Some(dir.volume(name)),
    }
}

/// Remove the pod's cgroup directories (cgroup v1 hierarchies and v2), best effort.
fn remove_pod_cgroups(uid: &str) {
    let Ok(entries) = std::fs::read_dir("/sys/fs/cgroup") else { return };
    for e in entries.flatten() {
        for base in [e.path(), std::path::PathBuf::from("/sys/fs/cgroup")] {
            let _ = std::fs::remove_dir(base.join("k3rs").join(format!("pod{uid}")));
        }
    }
}

impl Actor for PodWorker {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        tracing::info!(actor = "PodWorker", pod = %self.name, namespace = %self.namespace, "pod assigned to this node");
        self.terminating = self.pod["metadata"]["deletionTimestamp"].is_string();
        self.member.set_state(ActorState::Running);
        self.step(ctx);
    }
}

impl Handler<Update> for PodWorker {
    type Result = ();

    fn handle(&mut self, msg: Update, ctx: &mut Self::Context) {
        self.member.mailbox().taken();
        self.pod = msg.0;
        if self.pod["metadata"]["deletionTimestamp"].is_string() && !self.terminating {
            self.terminating = true;
        }
        self.step(ctx);
    }
}

impl Handler<Gone> for PodWorker {
    type Result = ();

    fn handle(&mut self, _: Gone, ctx: &mut Self::Context) {
        self.member.mailbox().taken();
        self.member.set_state(ActorState::Stopping);
        self.terminating = true;
        self.pod["metadata"]["deletionTimestamp"] = Value::Null;
        self.step(ctx);
    }
}

impl Handler<Exited> for PodWorker {
    type Result = ();

    fn handle(&mut self, msg: Exited, ctx: &mut Self::Context) {
        self.member.mailbox().taken();
        let Some(r) = self.runs.get_mut(msg.slot) else { return };
        if r.generation != msg.generation {
            return;
        }
        r.running = false;
        r.status.ready = false;
        if let Some(pump) = r.pump.take() {
            r.drained = pump.exited();
        }
        let container = r.spec["name"].as_str().unwrap_or("c");
        let logs = k3rs_agent::logs::container_dir(
            &self.s.logs_dir,
            &self.namespace,
            &self.name,
            &self.uid,
            container,
        );
        self.s.stdin.release(&logs);
        let Some(r) = self.runs.get_mut(msg.slot) else { return };
        for timer in std::mem::take(&mut r.probe_timers) {
            ctx.cancel_future(timer);
        }
        let started = match &r.status.state {
            State::Running { started_at } => started_at.clone(),
            _ => now(),
        };
        let name = r.spec["name"].as_str().unwrap_or("c").to_owned();
        // Asked before the container (and its cgroup) is deleted.
        let oom = k3rs_agent::runtime::oom_killed(&format!("/k3rs/pod{}/{}", self.uid, name));
        let r = &mut self.runs[msg.slot];
        r.status.state = State::exited(msg.code, oom, &started, &now());
        tracing::info!(actor = "PodWorker", pod = %self.name, container = %name, code = msg.code, "container exited");
        let (rt, id, dir) = (self.s.runtime.clone(), r.id(&self.uid), self.dir.clone());
        let cname = name.clone();
        drop(tokio::task::spawn_blocking(move || {
            let _ = rt.delete(&id);
            let _ = dir.unmount_rootfs(&cname);
        }));
        if !self.terminating && podstatus::restarts(&self.policy(), msg.code) {
            let r = &mut self.runs[msg.slot];
            let delay = if r.status.restarts == 0 {
                Duration::ZERO
            } else {
                podstatus::backoff(r.status.restarts - 1)
            };
            if !delay.is_zero() {
                r.status.last = Some(r.status.state.clone());
                let message = format!(
                    "back-off {}s restarting failed container={name} pod={}_{}({})",
                    delay.as_secs(),
                    self.name,
                    self.namespace,
                    self.uid
                );
                r.status.state = State::waiting("CrashLoopBackOff", &message);
                self.record(
                    ctx,
                    EventType::Warning,
                    "BackOff",
                    format!(
                        "Back-off restarting failed container {name} in pod {}_{}({})",
                        self.name, self.namespace, self.uid
                    ),
                );
            }
            let r = &mut self.runs[msg.slot];
            r.held = true;
            ctx.run_later(delay, move |act, ctx| {
                act.runs[msg.slot].held = false;
                act.step(ctx);
            });
        }
        self.report(ctx);
        self.step(ctx);
    }
}
