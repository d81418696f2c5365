//! FlannelActor: the node's overlay (`k3rs_agent::flannel`). Started by NodeAgentActor once the
//! node's range is known: makes the backend's device (vxlan, or udp's TUN device, whose relay
//! threads the actor owns and stop with it), publishes the node's address and
//! backend data as annotations on its Node, writes `subnet.env`, then follows the Nodes and
//! keeps routes (and VXLAN neighbour and FDB entries) to every other node's range, removing a
//! removed node's. Nothing here touches running pods: a restart replaces entries in place.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

use actix::prelude::*;
use ipnetwork::Ipv4Network;
use k3rs_agent::client::Https;
use k3rs_agent::flannel::{self, Backend, Peer};
use k3rs_agent::kube;
use k3rs_net::overlay::udp::Relay;
use serde_json::json;

use crate::follow::{self, Followed, Objects};
use crate::tree::{ActorState, Member};

const GATHER: Duration = Duration::from_millis(20);

/// What the overlay needs to know.
#[derive(Debug, Clone)]
pub struct Overlay {
    pub node: String,
    pub backend: Backend,
    pub subnet: Ipv4Network,
    pub network: Ipv4Network,
    pub public_ip: Ipv4Addr,
    pub iface: String,
    /// The pods' MTU (the interface's, less the backend's overhead).
    pub mtu: u32,
    /// `<data-dir>/agent/etc/flannel/subnet.env`.
    pub subnet_env: PathBuf,
}

/// The actor.
pub struct FlannelActor {
    api: Https,
    o: Overlay,
    nodes: Objects,
    ready: bool,
    applied: Option<Vec<Peer>>,
    scheduled: bool,
    applying: bool,
    /// The `udp` backend's relay.
    relay: Option<Relay>,
    member: Member,
}

/// The device is made (with the udp relay) and the node annotated.
#[derive(Message)]
#[rtype(result = "()")]
struct Ready(Option<Relay>);

impl FlannelActor {
    pub fn new(api: Https, overlay: Overlay, member: Member) -> Self {
        FlannelActor {
            api,
            o: overlay,
            nodes: Objects::default(),
            ready: false,
            applied: None,
            scheduled: false,
            applying: false,
            relay: None,
            member,
        }
    }

    fn schedule(&mut self, ctx: &mut Context<Self>) {
        if self.scheduled || !self.ready || !self.nodes.listed {
            return;
        }
        self.scheduled = true;
        ctx.run_later(GATHER, |act, ctx| {
            act.scheduled = false;
            act.apply(ctx);
        });
    }

    fn apply(&mut self, ctx: &mut Context<Self>) {
        if self.applying {
            return self.schedule(ctx);
        }
        let peers = flannel::peers(&self.nodes.values(), &self.o.node, self.o.backend);
        if self.applied.as_ref() == Some(&peers) {
            return;
        }
        if let Some(relay) = &self.relay {
            relay.set_routes(flannel::udp_routes(self.o.subnet, &peers));
        }
        self.applying = true;
        let (backend, iface, wanted) = (self.o.backend, self.o.iface.clone(), peers.clone());
        let work = tokio::task::spawn_blocking(move || flannel::apply(backend, &wanted, &iface));
        ctx.spawn(work.into_actor(self).map(move |result, act, ctx| {
            act.applying = false;
            match result.map_err(|e| e.to_string()).and_then(|r| r.map_err(|e| e.to_string())) {
                Ok(()) => {
                    tracing::info!(actor = "FlannelActor", node = %act.o.node, peers = peers.len(), "overlay routes in step");
                    act.applied = Some(peers);
                    act.member.set_state(ActorState::Running);
                }
                Err(e) => {
                    tracing::warn!(actor = "FlannelActor", node = %act.o.node, error = %e, "cannot program the overlay");
                    act.member.error(format!("overlay: {e}"));
                    ctx.run_later(Duration::from_secs(1), |act, ctx| act.apply(ctx));
                }
            }
        }));
    }

    /// Make the device, write `subnet.env`, annotate the Node; retried every 2 s.
    fn set_up(&mut self, ctx: &mut Context<Self>) {
        let o = self.o.clone();
        let api = self.api.clone();
        let fut = async move {
            let (device, o2) = (o.clone(), o.clone());
            let made = tokio::task::spawn_blocking(
                move || -> Result<(Option<String>, Option<Relay>), String> {
                    let env = flannel::subnet_env(device.network, device.subnet, device.mtu);
                    if let Some(dir) = device.subnet_env.parent() {
                        std::fs::create_dir_all(dir)
                            .map_err(|e| format!("{}: {e}", dir.display()))?;
                    }
                    std::fs::write(&device.subnet_env, env)
                        .map_err(|e| format!("{}: {e}", device.subnet_env.display()))?;
                    // The node forwards between the overlay and its pods.
                    std::fs::write("/proc/sys/net/ipv4/ip_forward", b"1")
                        .map_err(|e| format!("ip_forward: {e}"))?;
                    match device.backend {
                        Backend::Vxlan => flannel::ensure_vxlan(
                            device.public_ip,
                            &device.iface,
                            device.subnet,
                            device.mtu,
                        )
                        .map(|mac| (Some(mac), None))
                        .map_err(|e| e.to_string()),
                        Backend::Udp => {
                            flannel::ensure_udp(device.public_ip, device.subnet, device.mtu)
                                .map(|relay| (None, Some(relay)))
                                .map_err(|e| e.to_string())
                        }
                        _ => Ok((None, None)),
                    }
                },
            )
            .await
            .map_err(|e| e.to_string())??;
            let (mac, relay) = made;
            let patch = json!({"metadata": {"annotations":
                flannel::annotations(o2.backend, o2.public_ip, mac.as_deref())}});
            kube::patch_node(&api, &o2.node, &patch).await.map_err(|e| e.to_string())?;
            Ok::<_, String>(relay)
        };
        ctx.spawn(fut.into_actor(self).map(|result, act, ctx| match result {
            Ok(relay) => ctx.notify(Ready(relay)),
            Err(e) => {
                tracing::warn!(actor = "FlannelActor", node = %act.o.node, error = %e, "cannot set up the overlay; retrying");
                act.member.error(format!("set-up: {e}"));
                ctx.run_later(Duration::from_secs(2), |act, ctx| act.set_up(ctx));
            }
        }));
    }
}

impl Actor for FlannelActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        tracing::info!(actor = "FlannelActor", node = %self.o.node, backend = self.o.backend.name(), iface = %self.o.iface, mtu = self.o.mtu, "starting the overlay");
        let (api, mailbox) = (self.api.clone(), self.member.mailbox().clone());
        follow::spawn_all(ctx, &api, &mailbox, &[("/api/v1/nodes", "nodes")]);
        self.set_up(ctx);
    }
}

impl Handler<Ready> for FlannelActor {
    type Result = ();

    fn handle(&mut self, Ready(relay): Ready, ctx: &mut Self::Context) {
        self.relay = relay;
        self.applied = None;
        self.ready = true;
        self.schedule(ctx);
    }
}

impl Handler<Followed> for FlannelActor {
    type Result = ();

    fn handle(&mut self, msg: Followed, ctx: &mut Self::Context) {
        self.member.mailbox().taken();
        self.nodes.apply(msg.change);
        self.schedule(ctx);
    }
}
