//! `k3rs server`: the boot order. Open the datastore, make or load the certificates, token and
//! admin kubeconfig, bind the API port, start the actors, and stop cleanly on SIGINT or SIGTERM.

use std::net::{IpAddr, Ipv4Addr, TcpListener};
use std::sync::Arc;
use std::time::Instant;

use actix::prelude::*;
use anyhow::{Context, bail};
use k3rs_actors::api::supervisor::Supervisor;
use k3rs_actors::tree::Tracked;
use k3rs_actors::tunnel::TunnelRegistry;
use k3rs_actors::{ActorTree, ApiActor, ApiState, ControllerActor, DatastoreActor};
use k3rs_api::registry::{Registry, SharedRegistry};
use k3rs_api::supervisor::Secrets;
use k3rs_api::version::VersionInfo;
use k3rs_config::{DataDir, DatastoreEndpoint, ServerArgs};
use k3rs_net::server_certs::ServerCerts;
use k3rs_store::backend::Backend;
use k3rs_store::{CompactionPolicy, Datastore, Options};

pub fn run(args: &ServerArgs, data_dir: DataDir, is_root: bool) -> anyhow::Result<()> {
    let started = Instant::now();
    let endpoint =
        DatastoreEndpoint::parse(args.datastore_endpoint.as_deref(), &data_dir.db_dir())?;
    if args.print_config {
        println!("{args:#?}\ndata_dir: {}\ndatastore: {endpoint:?}", data_dir.root().display());
        return Ok(());
    }
    let backend = open_backend(&endpoint)?;
    let store = Datastore::open(backend, Options::default()).context("starting the datastore")?;

    let host = hostname();
    let bind = args.bind_address.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    let certs = ServerCerts::ensure(&data_dir.tls_dir(), &sans(args, &host))
        .with_context(|| format!("preparing certificates in {}", data_dir.tls_dir().display()))?;
    let secret = token_secret(args)?;
    let token = k3rs_net::token::ensure_token_file(
        &data_dir.token_file(),
        &data_dir.node_token_file(),
        certs.server_ca.cert_pem().as_bytes(),
        secret.as_deref(),
    )?;
    let kubeconfig =
        args.write_kubeconfig.clone().unwrap_or_else(|| data_dir.default_kubeconfig(is_root));
    let mode = args.write_kubeconfig_mode.map_or(0o600, |m| m.0);
    let server_url = format!("https://127.0.0.1:{}", args.https_listen_port);
    k3rs_net::kubeconfig::write(
        &kubeconfig,
        &k3rs_net::kubeconfig::render(&server_url, certs.server_ca.cert_pem(), &certs.admin),
        mode,
    )
    .with_context(|| format!("writing the admin kubeconfig {}", kubeconfig.display()))?;

    let listener = TcpListener::bind((bind, args.https_listen_port))
        .with_context(|| format!("listening on {bind}:{}", args.https_listen_port))?;
    let tls = k3rs_net::tls::server_config(
        &certs.serving.cert_pem,
        &certs.serving.key_pem,
        certs.client_ca.cert_pem(),
    )?;
    let policy = CompactionPolicy {
        window: args.datastore_compact_window.0,
        min_revisions: args.datastore_compact_min_revisions,
    };
    let network = k3rs_api::allocator::ServiceNetwork::parse(
        &args.service_cidr.to_string(),
        &format!("{}-{}", args.service_node_port_range.low, args.service_node_port_range.high),
    )?;
    let system = System::new();
    system.block_on(async {
        // Watch for signals before saying we are up, so an early SIGTERM is a clean stop.
        let stop = shutdown_signal()?;
        let registry = SharedRegistry::new(Registry::builtin());
        k3rs_api::objects::ensure_system_namespaces(&store, &registry.snapshot())
            .await
            .context("creating the system namespaces")?;
        let actors = ActorTree::new();
        let datastore = DatastoreActor::new(store.clone(), policy)
            .with_member(actors.root("DatastoreActor", endpoint.kind()));
        let mailbox = datastore.mailbox();
        let datastore = Tracked::new(datastore.start(), mailbox);
        ControllerActor::new(store.clone(), registry.clone(), args.cluster_cidr.to_string())
            .with_member(actors.root("ControllerActor", "controllers"))
            .start();
        let api_member =
            Arc::new(actors.root("ApiActor", format!("{bind}:{}", args.https_listen_port)));
        let state = ApiState {
            datastore,
            store,
            server_ca_pem: certs.server_ca.cert_pem().to_owned(),
            version: VersionInfo::current(k3rs_config::GIT_COMMIT),
            registry,
            metrics: Arc::default(),
            server_address: format!("{}:{}", advertise(args), args.https_listen_port),
            supervisor: Some(Arc::new(Supervisor {
                secrets: Secrets {
                    server: token.secret().to_owned(),
                    agent: args.agent_token.clone(),
                },
                client_ca: certs.client_ca,
                server_ca: certs.server_ca,
                config: agent_config(args),
            })),
            tunnels: TunnelRegistry::new().with_parent(api_member.clone()),
            actors: actors.clone(),
            network,
        };
        let registry = state.registry.snapshot();
        let objects =
            k3rs_api::service::Objects::new(&state.store, &registry).with_network(&state.network);
        k3rs_api::bootstrap::ensure_kubernetes_service(
            &objects,
            &network.cluster_ips.first().unwrap_or(args.service_cidr.ip()).to_string(),
            &advertise(args).to_string(),
            args.https_listen_port,
        )
        .await
        .map_err(|e| anyhow::anyhow!("creating the kubernetes service: {}", e.message))?;
        k3rs_api::bootstrap::ensure_kube_dns_service(&objects, &args.cluster_dns().to_string())
            .await
            .map_err(|e| anyhow::anyhow!("creating the kube-dns service: {}", e.message))?;
        ApiActor::new(listener, tls, state).with_member(api_member).start();
        if args.disable_agent {
            tracing::info!("--disable-agent: running the control plane only");
        } else if !is_root {
            tracing::info!("not running as root: running the control plane without its agent");
        } else {
            let url = format!("https://127.0.0.1:{}", args.https_listen_port);
            let mut node = args.node.clone();
            node.node_ip = node_ips(args);
            let agent =
                crate::agent::settings(&node, &url, &token.to_string(), &data_dir, is_root, true)?;
            crate::agent::import_airgap_images(&data_dir)?;
            let member = actors.root("NodeAgentActor", agent.node.name.clone());
            k3rs_actors::NodeAgentActor::new(agent).with_member(member).start();
        }
        tracing::info!(
            kubeconfig = %kubeconfig.display(),
            datastore = endpoint.kind(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "k3rs server is up"
        );
        actix::spawn(async {
            stop.await;
            tracing::info!("shutting down");
            System::current().stop();
        });
        anyhow::Ok(())
    })?;
    system.run().context("running the actor system")?;
    Ok(())
}

fn open_backend(endpoint: &DatastoreEndpoint) -> anyhow::Result<Arc<dyn Backend>> {
    Ok(match endpoint {
        DatastoreEndpoint::Sled { path } => {
            Arc::new(k3rs_store::backend::sled::SledBackend::open(path)?)
        }
        DatastoreEndpoint::Sqlite { path } => {
            Arc::new(k3rs_store::backend::sqlite::SqliteBackend::open(path)?)
        }
        other => bail!("datastore {} is not supported yet", other.kind()),
    })
}

/// The names the serving certificate covers, as K3s's: loopback, the host, the service names and
/// the first service IP, every `--tls-san`, and the advertised, node and bound addresses.
fn sans(args: &ServerArgs, host: &str) -> Vec<String> {
    let mut sans: Vec<String> = [
        "127.0.0.1",
        "::1",
        "localhost",
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    sans.push(format!("kubernetes.default.svc.{}", args.cluster_domain));
    if !host.is_empty() {
        sans.push(host.to_owned());
    }
    if let Some(first) = first_service_ip(args) {
        sans.push(first.to_string());
    }
    sans.push(advertise(args).to_string());
    sans.extend(node_ips(args).iter().chain(&args.node.node_external_ip).map(|a| a.to_string()));
    sans.extend(args.bind_address.iter().filter(|a| !a.is_unspecified()).map(|a| a.to_string()));
    sans.extend(args.tls_san.iter().cloned());
    sans
}

/// The `kubernetes` service's address: the first in the service CIDR (10.43.0.1).
fn first_service_ip(args: &ServerArgs) -> Option<IpAddr> {
    args.service_cidr.iter().nth(1)
}

/// The address other members reach this server at, as K3s chooses it: `--advertise-address`,
/// else the bound address, else the node's (`--node-external-ip`, `--node-ip`, else the address
/// this host's default route leaves from), else loopback.
fn advertise(args: &ServerArgs) -> IpAddr {
    args.advertise_address
        .or(args.bind_address.filter(|a| !a.is_unspecified()))
        .or(args.node.node_external_ip.first().copied())
        .or(args.node.node_ip.first().copied())
        .or_else(crate::agent::default_route_address)
        .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))
}

/// The server's node addresses: `--node-ip`, else the address the default route leaves from,
/// as K3s detects it (not loopback, where the server's own agent reaches its API).
fn node_ips(args: &ServerArgs) -> Vec<IpAddr> {
    if !args.node.node_ip.is_empty() {
        return args.node.node_ip.clone();
    }
    vec![crate::agent::default_route_address().unwrap_or_else(|| advertise(args))]
}

/// `/v1-k3rs/config`: what agents need to know about the cluster.
fn agent_config(args: &ServerArgs) -> serde_json::Value {
    serde_json::json!({
        "clusterCIDR": args.cluster_cidr.to_string(),
        "serviceCIDR": args.service_cidr.to_string(),
        "clusterDNS": args.cluster_dns().to_string(),
        "clusterDomain": args.cluster_domain,
        "flannelBackend": format!("{:?}", args.flannel_backend).to_ascii_lowercase(),
        "egressSelectorMode": format!("{:?}", args.egress_selector_mode).to_ascii_lowercase(),
        "supervisorPort": args.https_listen_port,
    })
}

fn hostname() -> String {
    rustix::system::uname().nodename().to_string_lossy().to_ascii_lowercase()
}

/// `--token`, or the contents of `--token-file`.
fn token_secret(args: &ServerArgs) -> anyhow::Result<Option<String>> {
    if let Some(t) = &args.token {
        return Ok(Some(t.clone()));
    }
    match &args.token_file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading --token-file {}", path.display()))?;
            Ok(Some(text.trim().to_owned()))
        }
        None => Ok(None),
    }
}

/// A future that resolves on SIGTERM or SIGINT; the handlers are installed when this returns.
pub fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("watching SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("watching SIGINT")?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    })
}
