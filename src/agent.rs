//! `k3rs agent` (and the agent a server runs in its own process): resolve the node's identity
//! and settings from the flags, then run the NodeAgentActor.

use std::net::IpAddr;

use actix::prelude::*;
use anyhow::{Context, bail};
use k3rs_actors::loadbalancer::{self, LoadBalancerActor};
use k3rs_actors::tree::Tracked;
use k3rs_actors::{ActorTree, AgentSettings, NodeAgentActor};
use k3rs_agent::host::HostFacts;
use k3rs_agent::identity;
use k3rs_agent::join::JoinRequest;
use k3rs_agent::node::{NodeSpec, parse_labels, parse_taints};
use k3rs_config::{AgentArgs, DataDir, NodeArgs};
use k3rs_net::token::Token;

/// The settings of an agent joining `server` with `token` as the node `node` describes.
pub fn settings(
    node: &NodeArgs,
    server: &str,
    token: &str,
    data_dir: &DataDir,
    is_root: bool,
    is_server: bool,
) -> anyhow::Result<AgentSettings> {
    let token = Token::parse(token.trim()).context("reading the token")?;
    let password_file =
        node.node_password_file.clone().unwrap_or_else(|| data_dir.node_password_file(is_root));
    let facts = HostFacts::gather(data_dir.root());
    let name = identity::node_name(
        node.node_name.as_deref(),
        &facts.hostname,
        node.with_node_id,
        &identity::id_file(&password_file),
    )?;
    let password = identity::node_password(&password_file)?;
    let internal_ips =
        if node.node_ip.is_empty() { vec![detect_ip(server)] } else { node.node_ip.clone() };
    Ok(AgentSettings {
        join: JoinRequest {
            server: server.trim_end_matches('/').to_owned(),
            token,
            node: name.clone(),
            password,
            password_file,
            node_ips: internal_ips.clone(),
        },
        node: NodeSpec {
            name,
            internal_ips,
            external_ips: node.node_external_ip.clone(),
            labels: parse_labels(&node.node_label)?,
            taints: parse_taints(&node.node_taint)?,
            server: is_server,
            kubelet_version: k3rs_api::version::GIT_VERSION.to_owned(),
        },
        agent_dir: data_dir.agent_dir(),
        runtime: node.runtime.clone(),
        image_store: data_dir.image_store_dir(),
        registries: k3rs_images::registry::Registries::load(&node.private_registry)
            .context("reading the private registry configuration")?,
        default_registry_endpoint: !node.disable_default_registry_endpoint,
        kube_proxy: !node.disable_kube_proxy,
        network_policy: !node.disable_network_policy,
        flannel_iface: node.flannel_iface.clone(),
        resolv_conf: node.resolv_conf.clone().unwrap_or_else(|| "/etc/resolv.conf".into()),
        facts,
        exit_on_fatal: !is_server,
    })
}

/// Import the air-gap tarballs in `<data-dir>/agent/images/`, as K3s does at start. A tarball
/// that cannot be imported is named in the log and skipped; the store is left as it was.
pub fn import_airgap_images(data_dir: &DataDir) -> anyhow::Result<()> {
    let store = k3rs_images::Store::open(&data_dir.image_store_dir()).with_context(|| {
        format!("opening the image store {}", data_dir.image_store_dir().display())
    })?;
    for (file, result) in store.import_dir(&data_dir.images_dir()) {
        match result {
            Ok(images) => {
                tracing::info!(file = %file.display(), images = images.len(), "imported air-gap images")
            }
            Err(e) => tracing::error!(file = %file.display(), "cannot import air-gap images: {e}"),
        }
    }
    Ok(())
}

/// The address this host sends to `target` (`host:port`) from: a UDP socket's local address
/// after `connect`, which is a route lookup (no packet is sent).
fn route_source(target: &str) -> Option<IpAddr> {
    let socket = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    socket.connect(target).ok()?;
    Some(socket.local_addr().ok()?.ip())
}

/// The address this host reaches `server` from, else loopback.
fn detect_ip(server: &str) -> IpAddr {
    let host_port = server.trim_start_matches("https://").split('/').next().unwrap_or("");
    route_source(host_port).unwrap_or(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST))
}

/// The address this host's default route leaves from, if it has one (the route to a
/// documentation address).
pub fn default_route_address() -> Option<IpAddr> {
    route_source("192.0.2.1:9").filter(|ip| !ip.is_unspecified() && !ip.is_loopback())
}

/// `k3rs agent`.
pub fn run(args: &AgentArgs, data_dir: DataDir, is_root: bool) -> anyhow::Result<()> {
    let Some(server) = args.server.as_deref() else {
        bail!("--server (K3RS_URL) is required");
    };
    if !server.starts_with("https://") {
        bail!("--server must be an https:// URL, not {server:?}");
    }
    let token = match (&args.token, &args.token_file) {
        (Some(t), _) => t.clone(),
        (None, Some(path)) => std::fs::read_to_string(path)
            .with_context(|| format!("reading --token-file {}", path.display()))?,
        (None, None) => bail!("--token (K3RS_TOKEN) or --token-file is required"),
    };
    let mut settings = settings(&args.node, server, &token, &data_dir, is_root, false)?;
    if args.print_config {
        println!("{settings:#?}");
        return Ok(());
    }
    import_airgap_images(&data_dir)?;
    // Everything the agent sends to servers goes through its load balancer.
    let default = server.trim_start_matches("https://").trim_end_matches('/');
    let default =
        if default.contains(':') { default.to_owned() } else { format!("{default}:6443") };
    let port = args.node.lb_server_port;
    let actors = ActorTree::new();
    let lb = LoadBalancerActor::bind(port, &default, data_dir.lb_state_file(loadbalancer::SERVICE))
        .with_context(|| {
            format!("listening on 127.0.0.1:{port} for the load balancer (--lb-server-port)")
        })?;
    let listen = lb.local_addr().to_string();
    let lb = lb.with_member(actors.root("LoadBalancerActor", listen));
    settings.join.server = format!("https://127.0.0.1:{}", lb.local_addr().port());
    let system = System::new();
    system.block_on(async {
        let stop = crate::server::shutdown_signal()?;
        let mailbox = lb.mailbox();
        let lb = Tracked::new(lb.start(), mailbox);
        let member = actors.root("NodeAgentActor", settings.node.name.clone());
        NodeAgentActor::new(settings).with_load_balancer(lb).with_member(member).start();
        actix::spawn(async {
            stop.await;
            tracing::info!("shutting down");
            System::current().stop();
        });
        anyhow::Ok(())
    })?;
    let code = system.run_with_code().context("running the actor system")?;
    if code != 0 {
        bail!("the agent stopped");
    }
    Ok(())
}
