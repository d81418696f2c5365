//! PodSupervisor: follows the pods bound to this node (a list, then a watch with
//! `fieldSelector=spec.nodeName=<node>`, relisting after any failure) and keeps one PodWorker
//! child per pod, telling it of every change. Workers stop themselves once their pod is gone.

pub(crate) mod logpump;
mod worker;

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Duration;

use actix::prelude::*;
use ipnetwork::Ipv4Network;
use k3rs_agent::client::Https;
use k3rs_agent::podnet::PodNetwork;
use k3rs_agent::runtime::Runtime;
use serde_json::Value;

use crate::follow::{Change, Followed};
use crate::tree::{ActorState, Member, Tracked};

pub use worker::PodWorker;
use worker::{Gone, Update};

/// What running pods on this node needs.
pub struct PodSettings {
    pub node: String,
    /// The API, with the node's credentials.
    pub api: Https,
    pub runtime: Runtime,
    /// `<data-dir>/agent/pods`.
    pub pods_dir: PathBuf,
    /// `<data-dir>/agent/logs`: container logs in the CRI format.
    pub logs_dir: PathBuf,
    pub images: k3rs_images::Store,
    /// Pulls missing images from registries into `images`.
    pub puller: k3rs_agent::pull::Puller,
    pub cluster_dns: String,
    pub cluster_domain: String,
    /// The node's resolvers, which the cluster DNS forwards other names to.
    pub resolv_conf: PathBuf,
    pub host_ip: String,
    /// `<data-dir>/agent/pod-ips`: the pod address leases.
    pub leases_dir: PathBuf,
    /// The node's pod network, once its range is known and its bridge made.
    pub network: RefCell<Option<PodNetwork>>,
    /// A pod's sandbox waits for the network: only then is it made (a node whose pods never
    /// got as far as a sandbox changes nothing in its network namespace).
    pub sandbox_waiting: std::cell::Cell<bool>,
    /// Containers' stdin ends, shared with the kubelet service's attach.
    pub stdin: crate::stdin::StdinHolders,
}

impl std::fmt::Debug for PodSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PodSettings").field("node", &self.node).finish_non_exhaustive()
    }
}

/// The node's pod range (and the cluster's): make the bridge, then let pods use it.
#[derive(Message)]
#[rtype(result = "()")]
pub struct SetPodRange {
    pub range: Ipv4Network,
    pub cluster: Ipv4Network,
    pub mtu: u32,
}

/// The actor.
pub struct PodSupervisor {
    s: Rc<PodSettings>,
    workers: HashMap<String, Tracked<PodWorker>>,
    member: Member,
    /// The node's pod network as the server assigned it; made on the node only once a pod's
    /// sandbox needs it (a node that runs no pods changes nothing in its network namespace).
    wanted: Option<PodNetwork>,
    /// The node's cluster DNS, started with the pod network.
    dns: Option<Tracked<crate::dns::ClusterDns>>,
    making: bool,
}

impl PodSupervisor {
    /// `member`: the supervisor's place in the actor tree; its workers go under it.
    pub fn new(s: PodSettings, member: Member) -> Self {
        PodSupervisor {
            s: Rc::new(s),
            workers: HashMap::new(),
            member,
            wanted: None,
            dns: None,
            making: false,
        }
    }

    /// Make the wanted pod network if a pod is here to use it and it is not made yet.
    fn network_needed(&mut self, ctx: &mut Context<Self>) {
        let Some(wanted) = self.wanted.clone() else { return };
        let made = self.s.network.borrow().as_ref() == Some(&wanted);
        if !made && !self.making && self.s.sandbox_waiting.get() {
            self.make_network(wanted, ctx);
        }
    }

    /// Start the node's cluster DNS (once), now that pods can reach the node.
    fn start_dns(&mut self) {
        if self.dns.is_some() {
            return;
        }
        let Ok(address) = self.s.cluster_dns.parse() else {
            tracing::warn!(actor = "PodSupervisor", address = %self.s.cluster_dns, "the cluster DNS address is not IPv4: no cluster DNS");
            return;
        };
        let member = self.member.child("ClusterDns", self.s.node.clone());
        let mailbox = member.mailbox().clone();
        let dns = crate::dns::ClusterDns::new(
            self.s.api.clone(),
            address,
            self.s.cluster_domain.clone(),
            self.s.resolv_conf.clone(),
            member,
        )
        .start();
        self.dns = Some(Tracked::new(dns, mailbox));
    }

    /// Make the node's side of `network` (bridge, forwarding, masquerade), retrying every
    /// 5 s on failure; pods get addresses once it is made.
    fn make_network(&mut self, network: PodNetwork, ctx: &mut Context<Self>) {
        self.making = true;
        let ready = network.clone();
        let made = tokio::task::spawn_blocking(move || network.ensure_node());
        ctx.spawn(made.into_actor(self).map(move |result, act, ctx| {
            act.making = false;
            match result {
                Ok(Ok(())) => {
                    tracing::info!(actor = "PodSupervisor", node = %act.s.node, range = %ready.range, bridge = k3rs_agent::podnet::BRIDGE, "pod network ready");
                    *act.s.network.borrow_mut() = Some(ready);
                    act.start_dns();
                    // The range may have changed meanwhile.
                    act.network_needed(ctx);
                }
                Ok(Err(e)) => {
                    tracing::error!(actor = "PodSupervisor", node = %act.s.node, error = %e, "cannot set up the pod network; retrying in 5s");
                    act.member.error(format!("pod network: {e}"));
                    ctx.run_later(Duration::from_secs(5), |act, ctx| act.network_needed(ctx));
                }
                Err(e) => tracing::error!(actor = "PodSupervisor", error = %e, "pod network task failed"),
            }
        }));
    }

    fn changed(&mut self, pod: Value) {
        let Some(uid) = pod["metadata"]["uid"].as_str().map(str::to_owned) else { return };
        match self.workers.get(&uid) {
            Some(w) if w.connected() => w.do_send(Update(pod)),
            _ => {
                let name = format!(
                    "{}/{}",
                    pod["metadata"]["namespace"].as_str().unwrap_or_default(),
                    pod["metadata"]["name"].as_str().unwrap_or_default()
                );
                let member = self.member.child("PodWorker", name);
                let mailbox = member.mailbox().clone();
                let addr = PodWorker::new(self.s.clone(), pod, member).start();
                self.workers.insert(uid, Tracked::new(addr, mailbox));
            }
        }
    }
}

/// List, then watch, sending what happens to the supervisor; returns when the watch ends.
impl Actor for PodSupervisor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        if let Err(e) = k3rs_agent::runtime::become_subreaper() {
            tracing::warn!(actor = "PodSupervisor", error = %e, "containers will not be reaped here");
        }
        tracing::info!(actor = "PodSupervisor", node = %self.s.node, "following the pods bound to this node");
        let path = format!("/api/v1/pods?fieldSelector=spec.nodeName%3D{}", self.s.node);
        let mailbox = self.member.mailbox().clone();
        self.member.set_state(ActorState::Running);
        let pods = crate::follow::follow(self.s.api.clone(), path, "pods", ctx.address(), mailbox);
        ctx.spawn(pods.into_actor(self));
        // A worker whose sandbox waits for the network says so through `sandbox_waiting`.
        ctx.run_interval(Duration::from_millis(100), |act, ctx| act.network_needed(ctx));
    }
}

impl Handler<SetPodRange> for PodSupervisor {
    type Result = ();

    fn handle(&mut self, msg: SetPodRange, ctx: &mut Self::Context) {
        self.member.mailbox().taken();
        self.wanted = Some(PodNetwork {
            range: msg.range,
            cluster: msg.cluster,
            leases: self.s.leases_dir.clone(),
            mtu: msg.mtu,
        });
        self.network_needed(ctx);
    }
}

impl Handler<Followed> for PodSupervisor {
    type Result = ();

    fn handle(&mut self, msg: Followed, ctx: &mut Self::Context) {
        self.member.mailbox().taken();
        match msg.change {
            Change::All(pods) => {
                let live: Vec<String> = pods
                    .iter()
                    .filter_map(|p| p["metadata"]["uid"].as_str().map(str::to_owned))
                    .collect();
                for (uid, w) in &self.workers {
                    if !live.contains(uid) {
                        w.do_send(Gone);
                    }
                }
                for p in pods {
                    self.changed(p);
                }
            }
            Change::Upsert(pod) => self.changed(pod),
            Change::Deleted(pod) => {
                if let Some(w) =
                    pod["metadata"]["uid"].as_str().and_then(|u| self.workers.remove(u))
                {
                    w.do_send(Gone);
                }
            }
        }
        self.workers.retain(|_, w| w.connected());
        self.network_needed(ctx);
    }
}
