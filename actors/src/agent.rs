//! NodeAgentActor: the node agent's lifecycle. Join the server (retried every 5 s while the
//! failure is one that can pass, such as an unreachable server or a rejected node password;
//! a refused token stops the agent), keep the credentials under the data dir, register the
//! Node, then every 10 s renew the Lease and write the Node's status when it changed (and at
//! least every minute). The steps are `k3rs_agent`'s; this is the timing around them.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use ipnetwork::Ipv4Network;
use k3rs_agent::client::Https;
use k3rs_agent::flannel::{self, Backend};
use k3rs_agent::host::HostFacts;
use k3rs_agent::join::{JoinRequest, Joined};
use k3rs_agent::node::NodeSpec;
use k3rs_agent::{AgentError, kube, node};
use serde_json::Value;

use crate::flannel::{FlannelActor, Overlay};
use crate::kubelet::KubeletAcceptor;
use crate::tree::{ActorState, Member, Tracked};
use crate::tunnel::{StopTunnel, TunnelClient, TunnelClientConfig};

const RETRY: Duration = Duration::from_secs(5);
const HEARTBEAT: Duration = Duration::from_secs(10);
const REPORT: Duration = Duration::from_secs(60);
const POD_RANGE_POLL: Duration = Duration::from_secs(1);

/// Everything the agent is told at start.
#[derive(Debug, Clone)]
pub struct AgentSettings {
    pub join: JoinRequest,
    pub node: NodeSpec,
    /// `<data-dir>/agent`: certificates and `kubelet.kubeconfig` go here.
    pub agent_dir: PathBuf,
    /// The OCI runtime binary (`--runtime`).
    pub runtime: PathBuf,
    /// The node's image store.
    pub image_store: PathBuf,
    /// `registries.yaml`, read at start.
    pub registries: k3rs_images::registry::Registries,
    /// Pull from a registry's own endpoint after its mirrors.
    pub default_registry_endpoint: bool,
    /// Run the ServiceProxy (`--disable-kube-proxy` off).
    pub kube_proxy: bool,
    /// Enforce network policies (`--disable-network-policy` off).
    pub network_policy: bool,
    /// `--flannel-iface`: the overlay's interface (else the one holding the node address).
    pub flannel_iface: Option<String>,
    /// The resolvers the cluster DNS forwards to (`--resolv-conf`, else `/etc/resolv.conf`).
    pub resolv_conf: PathBuf,
    pub facts: HostFacts,
    /// Stop the actor system when the agent cannot go on (a standalone `k3rs agent`).
    pub exit_on_fatal: bool,
}

/// The actor.
pub struct NodeAgentActor {
    settings: AgentSettings,
    api: Option<Https>,
    node_uid: String,
    reported: Value,
    last_report: Option<Instant>,
    busy: bool,
    /// `/v1-k3rs/config` from joining.
    cluster: Value,
    pods: Option<Tracked<crate::pods::PodSupervisor>>,
    proxy: Option<Tracked<crate::proxy::ServiceProxy>>,
    policy: Option<Tracked<crate::policy::PolicyActor>>,
    overlay: Option<Tracked<FlannelActor>>,
    /// The node's pod range as last told to the pod supervisor.
    pod_range: Option<String>,
    /// The load balancer the agent reaches servers through, told of every server found.
    lb: Option<Tracked<crate::loadbalancer::LoadBalancerActor>>,
    /// The servers known (`host:port`), from joining and then the `kubernetes` endpoints.
    servers: Vec<String>,
    /// One tunnel per known server, by `host:port`.
    tunnels: HashMap<String, Addr<TunnelClient>>,
    /// TLS with the node's client certificate, for the tunnels.
    tunnel_tls: Option<Arc<rustls::ClientConfig>>,
    acceptor: Option<Arc<KubeletAcceptor>>,
    /// Containers' stdin ends, shared by the pod supervisor and the kubelet service.
    stdin: crate::stdin::StdinHolders,
    member: Member,
}

impl NodeAgentActor {
    pub fn new(settings: AgentSettings) -> Self {
        NodeAgentActor {
            settings,
            api: None,
            node_uid: String::new(),
            reported: Value::Null,
            last_report: None,
            busy: false,
            cluster: Value::Null,
            pods: None,
            proxy: None,
            policy: None,
            overlay: None,
            pod_range: None,
            lb: None,
            servers: Vec::new(),
            tunnels: HashMap::new(),
            tunnel_tls: None,
            acceptor: None,
            stdin: crate::stdin::StdinHolders::default(),
            member: Member::detached("NodeAgentActor", ""),
        }
    }

    /// Report to the actor tree through `member`; the pod supervisor and tunnels go under it.
    pub fn with_member(mut self, member: Member) -> Self {
        self.member = member;
        self
    }

    /// Send the servers the agent learns to this load balancer.
    pub fn with_load_balancer(
        mut self,
        lb: Tracked<crate::loadbalancer::LoadBalancerActor>,
    ) -> Self {
        self.lb = Some(lb);
        self
    }

    fn join(&mut self, ctx: &mut Context<Self>) {
        let request = self.settings.join.clone();
        let fut = async move { k3rs_agent::join::join(&request).await };
        ctx.spawn(fut.into_actor(self).map(|result, act, ctx| match result {
            Ok(joined) => act.joined(joined, ctx),
            Err(e) => act.failed("joining", e, ctx, |act, ctx| act.join(ctx)),
        }));
    }

    fn joined(&mut self, joined: Joined, ctx: &mut Context<Self>) {
        let node = &self.settings.node.name;
        tracing::info!(actor = "NodeAgentActor", node = %node, apiservers = ?joined.apiservers, "joined the cluster");
        if let Err(e) = self.keep_credentials(&joined) {
            tracing::warn!(actor = "NodeAgentActor", node = %node, error = %e, "cannot keep the node credentials");
        }
        let tls = match k3rs_net::tls::client_config(
            &joined.ca_pem,
            Some((&joined.client.cert_pem, &joined.client.key_pem)),
        ) {
            Ok(tls) => tls,
            Err(e) => {
                return self
                    .failed("loading the node certificate", e.into(), ctx, |a, c| a.join(c));
            }
        };
        self.tunnel_tls = Some(Arc::new(tls.clone()));
        self.api = Some(Https::new(&self.settings.join.server, tls, Vec::new()));
        self.cluster = joined.config.clone();
        self.acceptor = Some(Arc::new(KubeletAcceptor::new(crate::kubelet::KubeletService {
            node: self.settings.node.name.clone(),
            logs_dir: self.settings.agent_dir.join("logs"),
            runtime: k3rs_agent::runtime::Runtime {
                binary: self.settings.runtime.clone(),
                root: self.settings.agent_dir.join("runc"),
            },
            sampler: crate::kubelet::Sampler::default(),
            actors: self.member.tree().clone(),
            stdin: self.stdin.clone(),
        })));
        let servers = if joined.apiservers.is_empty() {
            vec![self.settings.join.server.trim_start_matches("https://").to_owned()]
        } else {
            joined.apiservers.clone()
        };
        self.set_servers(servers);
        self.register(ctx);
    }

    /// The servers changed: tell the load balancer, and keep one tunnel to each.
    fn set_servers(&mut self, servers: Vec<String>) {
        if servers.is_empty() || servers == self.servers {
            return;
        }
        tracing::info!(actor = "NodeAgentActor", node = %self.settings.node.name, ?servers, "servers");
        self.servers = servers.clone();
        let gone: Vec<String> =
            self.tunnels.keys().filter(|a| !servers.contains(a)).cloned().collect();
        for address in gone {
            if let Some(client) = self.tunnels.remove(&address) {
                client.do_send(StopTunnel);
            }
        }
        let (Some(tls), Some(acceptor)) = (self.tunnel_tls.clone(), self.acceptor.clone()) else {
            return;
        };
        for address in &servers {
            if self.tunnels.contains_key(address) {
                continue;
            }
            let url = format!("wss://{address}{}", crate::tunnel::CONNECT_PATH);
            let client = TunnelClient::new(TunnelClientConfig::new(
                url,
                Some(tls.clone()),
                acceptor.clone(),
            ))
            .with_member(self.member.child("TunnelClient", address.clone()));
            let status = client.status();
            let addr = client.start();
            if let Some(lb) = &self.lb {
                lb.do_send(crate::loadbalancer::TunnelHealth(address.clone(), status));
            }
            self.tunnels.insert(address.clone(), addr);
        }
        if let Some(lb) = &self.lb {
            lb.do_send(crate::loadbalancer::SetServers(servers));
        }
    }

    /// Write what joining gave: certificates and `kubelet.kubeconfig`.
    fn keep_credentials(&self, joined: &Joined) -> Result<(), AgentError> {
        let dir = &self.settings.agent_dir;
        let io = |path: &PathBuf| {
            let path = path.clone();
            move |source| AgentError::Io { path, source }
        };
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let files = [
            ("server-ca.crt", joined.ca_pem.as_str(), 0o644),
            ("client-kubelet.crt", joined.client.cert_pem.as_str(), 0o644),
            ("client-kubelet.key", joined.client.key_pem.as_str(), 0o600),
            ("serving-kubelet.crt", joined.serving.cert_pem.as_str(), 0o644),
            ("serving-kubelet.key", joined.serving.key_pem.as_str(), 0o600),
        ];
        for (name, contents, mode) in files {
            let path = dir.join(name);
            k3rs_net::server_certs::write_file(&path, contents.as_bytes(), mode)
                .map_err(|e| AgentError::Transport(e.to_string()))?;
        }
        let kubeconfig = k3rs_net::kubeconfig::render(
            &self.settings.join.server,
            &joined.ca_pem,
            &joined.client,
        );
        k3rs_net::kubeconfig::write(&dir.join("kubelet.kubeconfig"), &kubeconfig, 0o600)
            .map_err(|e| AgentError::Transport(e.to_string()))
    }

    fn register(&mut self, ctx: &mut Context<Self>) {
        let Some(api) = self.api.clone() else { return };
        let wanted = node::node(&self.settings.node, &self.settings.facts);
        let fut = async move { kube::ensure_node(&api, &wanted).await };
        ctx.spawn(fut.into_actor(self).map(|result, act, ctx| match result {
            Ok(stored) => {
                act.node_uid = stored["metadata"]["uid"].as_str().unwrap_or_default().to_owned();
                act.reported = stored["status"].clone();
                tracing::info!(actor = "NodeAgentActor", node = %act.settings.node.name, "node registered");
                act.member.set_state(ActorState::Running);
                act.heartbeat(ctx);
                ctx.run_interval(HEARTBEAT, |act, ctx| act.heartbeat(ctx));
                act.start_pods();
                act.start_proxy();
                act.start_policy();
                act.follow_pod_range(&stored, ctx);
            }
            Err(e) => act.failed("registering the node", e, ctx, |act, ctx| act.register(ctx)),
        }));
    }

    /// Start the PodSupervisor (once): pods bound to this node run from here on.
    fn start_pods(&mut self) {
        let Some(api) = self.api.clone() else { return };
        if self.pods.is_some() {
            return;
        }
        let images = match k3rs_images::Store::open(&self.settings.image_store) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(actor = "NodeAgentActor", error = %e, "no image store: pods will not run");
                return;
            }
        };
        let dir = &self.settings.agent_dir;
        let text = |k: &str, default: &str| self.cluster[k].as_str().unwrap_or(default).to_owned();
        let settings = crate::pods::PodSettings {
            node: self.settings.node.name.clone(),
            api,
            runtime: k3rs_agent::runtime::Runtime {
                binary: self.settings.runtime.clone(),
                root: dir.join("runc"),
            },
            pods_dir: dir.join("pods"),
            logs_dir: dir.join("logs"),
            leases_dir: dir.join("pod-ips"),
            network: std::cell::RefCell::new(None),
            sandbox_waiting: std::cell::Cell::new(false),
            stdin: self.stdin.clone(),
            puller: k3rs_agent::pull::Puller {
                registries: self.settings.registries.clone(),
                store: images.clone(),
                default_endpoint: self.settings.default_registry_endpoint,
            },
            images,
            cluster_dns: text("clusterDNS", "10.43.0.10"),
            cluster_domain: text("clusterDomain", "cluster.local"),
            resolv_conf: self.settings.resolv_conf.clone(),
            host_ip: self
                .settings
                .node
                .internal_ips
                .first()
                .map(ToString::to_string)
                .unwrap_or_default(),
        };
        let member = self.member.child("PodSupervisor", self.settings.node.name.clone());
        let mailbox = member.mailbox().clone();
        let pods = crate::pods::PodSupervisor::new(settings, member).start();
        self.pods = Some(Tracked::new(pods, mailbox));
    }

    /// Start the FlannelActor (once) for `backend`, unless it is `none`.
    fn start_overlay(
        &mut self,
        backend: Backend,
        subnet: Ipv4Network,
        network: Ipv4Network,
        public_ip: Option<Ipv4Addr>,
        link: Option<(String, u32)>,
        mtu: u32,
    ) {
        let Some(api) = self.api.clone() else { return };
        if self.overlay.is_some() || matches!(backend, Backend::None) {
            return;
        }
        let (Some(public_ip), Some((iface, _))) = (public_ip, link) else { return };
        let overlay = Overlay {
            node: self.settings.node.name.clone(),
            backend,
            subnet,
            network,
            public_ip,
            iface,
            mtu,
            subnet_env: self.settings.agent_dir.join("etc/flannel/subnet.env"),
        };
        let member = self.member.child("FlannelActor", self.settings.node.name.clone());
        let mailbox = member.mailbox().clone();
        let actor = FlannelActor::new(api, overlay, member).start();
        self.overlay = Some(Tracked::new(actor, mailbox));
    }

    /// Start the PolicyActor (once) unless `--disable-network-policy`.
    fn start_policy(&mut self) {
        let Some(api) = self.api.clone() else { return };
        if self.policy.is_some() || !self.settings.network_policy {
            return;
        }
        let member = self.member.child("PolicyActor", self.settings.node.name.clone());
        let mailbox = member.mailbox().clone();
        let node = self.settings.node.name.clone();
        let actor = crate::policy::PolicyActor::new(api, node, member).start();
        self.policy = Some(Tracked::new(actor, mailbox));
    }

    /// Start the ServiceProxy (once) unless `--disable-kube-proxy`.
    fn start_proxy(&mut self) {
        let Some(api) = self.api.clone() else { return };
        if self.proxy.is_some() || !self.settings.kube_proxy {
            return;
        }
        let member = self.member.child("ServiceProxy", self.settings.node.name.clone());
        let mailbox = member.mailbox().clone();
        let dns = self.cluster["clusterDNS"].as_str().unwrap_or("10.43.0.10").to_owned();
        let node = self.settings.node.name.clone();
        let cluster = self.cluster["clusterCIDR"].as_str().unwrap_or("10.42.0.0/16").to_owned();
        let proxy = crate::proxy::ServiceProxy::new(api, node, vec![dns], cluster, member).start();
        self.proxy = Some(Tracked::new(proxy, mailbox));
    }

    /// Renew the Lease; write the status when it changed or a minute has passed.
    fn heartbeat(&mut self, ctx: &mut Context<Self>) {
        let Some(api) = self.api.clone() else { return };
        if self.busy {
            return;
        }
        self.busy = true;
        let now = now();
        let name = self.settings.node.name.clone();
        let lease = node::lease(&name, &self.node_uid, &micro_now());
        let (spec, facts) = (self.settings.node.clone(), self.settings.facts.clone());
        let due = self.last_report.is_none_or(|t| t.elapsed() >= REPORT);
        let records: Vec<(Vec<String>, u64)> = k3rs_images::Store::open(&self.settings.image_store)
            .and_then(|store| store.list())
            .map(|list| list.into_iter().map(|i| (i.names, i.size)).collect())
            .unwrap_or_default();
        let images = node::images(&records);
        let servers_api = api.clone();
        ctx.spawn(
            async move { kube::apiservers(&servers_api).await }.into_actor(self).map(
                |found, act, _| match found {
                    Ok(servers) => act.set_servers(servers),
                    Err(e) => tracing::debug!(actor = "NodeAgentActor", error = %e, "cannot read the kubernetes endpoints"),
                },
            ),
        );
        let fut = async move {
            kube::renew_lease(&api, &lease).await?;
            let stored = kube::node(&api, &name).await?.unwrap_or(Value::Null);
            let mut status = node::status(&spec, &facts, &now, &stored["status"]);
            status["images"] = images;
            if due || node::status_changed(&stored["status"], &status) {
                return kube::write_status(&api, &name, &status).await.map(|n| (Some(n), stored));
            }
            Ok((None, stored))
        };
        ctx.spawn(fut.into_actor(self).map(|result, act, ctx| {
            act.busy = false;
            match result {
                Ok((written, stored)) => {
                    if let Some(node) = written {
                        act.reported = node["status"].clone();
                        act.last_report = Some(Instant::now());
                    }
                    act.follow_pod_range(&stored, ctx);
                }
                Err(e) => {
                    tracing::warn!(actor = "NodeAgentActor", node = %act.settings.node.name, error = %e, "heartbeat failed");
                    act.member.error(format!("heartbeat failed: {e}"));
                }
            }
        }));
    }

    /// Tell the pod supervisor the node's pod range (`spec.podCIDR`) when it is new; until the
    /// server has assigned one, look again each second.
    fn follow_pod_range(&mut self, stored: &Value, ctx: &mut Context<Self>) {
        let Some(range) = stored["spec"]["podCIDR"].as_str().filter(|r| !r.is_empty()) else {
            let Some(api) = self.api.clone() else { return };
            let name = self.settings.node.name.clone();
            ctx.run_later(POD_RANGE_POLL, move |act, ctx| {
                let fut = async move { kube::node(&api, &name).await };
                ctx.spawn(fut.into_actor(act).map(|found, act, ctx| {
                    let stored = found.ok().flatten().unwrap_or(Value::Null);
                    act.follow_pod_range(&stored, ctx);
                }));
            });
            return;
        };
        if self.pod_range.as_deref() == Some(range) {
            return;
        }
        let cluster = self.cluster["clusterCIDR"].as_str().unwrap_or("10.42.0.0/16");
        let (Ok(range_net), Ok(cluster)) = (range.parse(), cluster.parse()) else {
            tracing::warn!(actor = "NodeAgentActor", range, cluster, "unusable pod range");
            return;
        };
        let backend = self.cluster["flannelBackend"]
            .as_str()
            .and_then(Backend::parse)
            .unwrap_or(Backend::Vxlan);
        let public_ip = self.settings.node.internal_ips.iter().find_map(|ip| match ip {
            std::net::IpAddr::V4(v4) => Some(*v4),
            std::net::IpAddr::V6(_) => None,
        });
        let link = public_ip.and_then(|ip| {
            flannel::link_of(ip, self.settings.flannel_iface.as_deref())
                .map_err(|e| tracing::warn!(actor = "NodeAgentActor", error = %e, "no link for the overlay"))
                .ok()
        });
        let mtu = link.as_ref().map_or(1500, |(_, mtu)| mtu - backend.overhead());
        if let Some(pods) = &self.pods {
            self.pod_range = Some(range.to_owned());
            pods.do_send(crate::pods::SetPodRange { range: range_net, cluster, mtu });
        }
        self.start_overlay(backend, range_net, cluster, public_ip, link, mtu);
    }

    /// Log a failure; retry `again` later when it can pass, else stop.
    fn failed(
        &mut self,
        what: &str,
        error: AgentError,
        ctx: &mut Context<Self>,
        again: fn(&mut Self, &mut Context<Self>),
    ) {
        let node = &self.settings.node.name;
        self.member.error(format!("{what} failed: {error}"));
        if error.retryable() {
            self.member.set_state(ActorState::Backoff);
            self.member.restarted();
            tracing::error!(actor = "NodeAgentActor", node = %node, "{error}");
            tracing::info!(actor = "NodeAgentActor", node = %node, "{what} failed; retrying in {}s", RETRY.as_secs());
            ctx.run_later(RETRY, again);
        } else {
            self.member.set_state(ActorState::Stopping);
            tracing::error!(actor = "NodeAgentActor", node = %node, "{what} failed: {error}");
            if self.settings.exit_on_fatal {
                eprintln!("k3rs: {what} failed: {error}");
                System::current().stop_with_code(1);
            }
            ctx.stop();
        }
    }
}

impl Actor for NodeAgentActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        tracing::info!(actor = "NodeAgentActor", node = %self.settings.node.name, server = %self.settings.join.server, "joining");
        self.join(ctx);
    }
}

fn now() -> String {
    k3rs_api::objects::timestamp(time::OffsetDateTime::now_utc())
}

fn micro_now() -> String {
    k3rs_api::objects::micro_timestamp(time::OffsetDateTime::now_utc())
}
