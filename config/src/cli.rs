//! The command line: K3s's flags and environment variables, `k3s` renamed `k3rs`. Agent flags are
//! one group (`NodeArgs`) that both `server` and `agent` take.

use std::net::IpAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use ipnetwork::IpNetwork;

use crate::values::{Duration, FileMode, PortRange};

/// Lightweight Kubernetes in one binary.
#[derive(Debug, Parser)]
#[command(name = "k3rs", version = crate::VERSION_LINE, about, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Turn on debug logs
    #[arg(long, global = true, env = "K3RS_DEBUG")]
    pub debug: bool,
    /// Folder to hold state (default: /var/lib/rancher/k3rs, or ${HOME}/.rancher/k3rs if not root)
    #[arg(long, short = 'd', global = true, env = "K3RS_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Load configuration from FILE (default: /etc/rancher/k3rs/config.yaml)
    #[arg(long, short = 'c', global = true, env = "K3RS_CONFIG_FILE", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Log format
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "K3RS_LOG_FORMAT")]
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

// Parsed once per process: the size difference between the variants costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run management server
    Server(ServerArgs),
    /// Run node agent
    Agent(AgentArgs),
    /// Manage the node's images (air-gap tarballs)
    Images(ImagesArgs),
}

#[derive(Debug, Args)]
pub struct ImagesArgs {
    #[command(subcommand)]
    pub command: ImagesCommand,
}

#[derive(Debug, Subcommand)]
pub enum ImagesCommand {
    /// Import image tarballs (docker save archives or OCI layouts, optionally gzip or zstd)
    Import {
        /// Tarballs to import
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// List the images in the store
    #[command(alias = "list")]
    Ls,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FlannelBackend {
    Vxlan,
    Udp,
    #[value(name = "host-gw")]
    HostGw,
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EgressSelectorMode {
    Agent,
    Pod,
    Cluster,
    Disabled,
}

#[derive(Debug, Args)]
pub struct ServerArgs {
    /// Shared secret used to join a server or agent to a cluster
    #[arg(long, short = 't', env = "K3RS_TOKEN")]
    pub token: Option<String>,
    /// File containing the token
    #[arg(long, env = "K3RS_TOKEN_FILE", value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// Shared secret used to join agents to the cluster, but not servers
    #[arg(long, env = "K3RS_AGENT_TOKEN")]
    pub agent_token: Option<String>,
    /// File containing the agent secret
    #[arg(long, env = "K3RS_AGENT_TOKEN_FILE", value_name = "FILE")]
    pub agent_token_file: Option<PathBuf>,
    /// Datastore: sled (default, embedded), sqlite://[/path], postgres://..., http(s):// (etcd)
    #[arg(long, env = "K3RS_DATASTORE_ENDPOINT", value_name = "URL")]
    pub datastore_endpoint: Option<String>,
    /// TLS Certificate Authority file used to secure datastore backend communication
    #[arg(long, env = "K3RS_DATASTORE_CAFILE", value_name = "FILE")]
    pub datastore_cafile: Option<PathBuf>,
    /// TLS certification file used to secure datastore backend communication
    #[arg(long, env = "K3RS_DATASTORE_CERTFILE", value_name = "FILE")]
    pub datastore_certfile: Option<PathBuf>,
    /// TLS key file used to secure datastore backend communication
    #[arg(long, env = "K3RS_DATASTORE_KEYFILE", value_name = "FILE")]
    pub datastore_keyfile: Option<PathBuf>,
    /// Keep datastore history at least this long (e.g. 5m, 1h)
    #[arg(long, default_value = "5m")]
    pub datastore_compact_window: Duration,
    /// Keep at least this many of the newest datastore revisions
    #[arg(long, default_value_t = 10_000)]
    pub datastore_compact_min_revisions: u64,
    /// IPv4/IPv6 network CIDRs to use for pod IPs
    #[arg(long, default_value = "10.42.0.0/16")]
    pub cluster_cidr: IpNetwork,
    /// IPv4/IPv6 network CIDRs to use for service IPs
    #[arg(long, default_value = "10.43.0.0/16")]
    pub service_cidr: IpNetwork,
    /// Port range to reserve for services with NodePort visibility
    #[arg(long, default_value = "30000-32767")]
    pub service_node_port_range: PortRange,
    /// IPv4 Cluster IP for coredns service. Should be in your service-cidr range (default:
    /// the 10th address of the service CIDR, 10.43.0.10)
    #[arg(long)]
    pub cluster_dns: Option<IpAddr>,
    /// Cluster Domain
    #[arg(long, default_value = "cluster.local")]
    pub cluster_domain: String,
    /// HTTPS listen port
    #[arg(long, default_value_t = 6443)]
    pub https_listen_port: u16,
    /// k3rs bind address (default: 0.0.0.0)
    #[arg(long, value_name = "ADDRESS")]
    pub bind_address: Option<IpAddr>,
    /// IPv4/IPv6 address that the apiserver uses to advertise to members of the cluster
    /// (default: node-external-ip/node-ip)
    #[arg(long, value_name = "ADDRESS")]
    pub advertise_address: Option<IpAddr>,
    /// Add additional hostnames or IPv4/IPv6 addresses as Subject Alternative Names on the server TLS cert
    #[arg(long, value_name = "NAME")]
    pub tls_san: Vec<String>,
    /// Write kubeconfig for admin client to this file
    #[arg(long, short = 'o', env = "K3RS_KUBECONFIG_OUTPUT", value_name = "FILE")]
    pub write_kubeconfig: Option<PathBuf>,
    /// Write kubeconfig with this mode (default: 0600)
    #[arg(long, env = "K3RS_KUBECONFIG_MODE", value_name = "MODE")]
    pub write_kubeconfig_mode: Option<FileMode>,
    /// Do not run a local agent and register a local kubelet
    #[arg(long)]
    pub disable_agent: bool,
    /// Do not deploy packaged components and delete any deployed components
    #[arg(long, value_name = "NAME")]
    pub disable: Vec<String>,
    /// Backend for the pod network
    #[arg(long, value_enum, default_value_t = FlannelBackend::Vxlan)]
    pub flannel_backend: FlannelBackend,
    /// What the API server tunnels to agents
    #[arg(long, value_enum, default_value_t = EgressSelectorMode::Agent)]
    pub egress_selector_mode: EgressSelectorMode,
    /// Print the resolved configuration and exit
    #[arg(long, hide = true)]
    pub print_config: bool,
    #[command(flatten)]
    pub node: NodeArgs,
}

#[derive(Debug, Args)]
pub struct AgentArgs {
    /// Server to connect to
    #[arg(long, short = 's', env = "K3RS_URL", value_name = "URL")]
    pub server: Option<String>,
    /// Token to use for authentication
    #[arg(long, short = 't', env = "K3RS_TOKEN")]
    pub token: Option<String>,
    /// Token file to use for authentication
    #[arg(long, env = "K3RS_TOKEN_FILE", value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// Print the resolved configuration and exit
    #[arg(long, hide = true)]
    pub print_config: bool,
    #[command(flatten)]
    pub node: NodeArgs,
}

impl ServerArgs {
    /// `--cluster-dns`, else the service range's 10th address, as K3s derives it.
    pub fn cluster_dns(&self) -> IpAddr {
        self.cluster_dns.unwrap_or_else(|| match self.service_cidr {
            IpNetwork::V4(net) => {
                IpAddr::V4(std::net::Ipv4Addr::from(u32::from(net.network()) + 10))
            }
            IpNetwork::V6(net) => {
                IpAddr::V6(std::net::Ipv6Addr::from(u128::from(net.network()) + 10))
            }
        })
    }
}

/// Flags of the node agent, which every server runs too.
#[derive(Debug, Clone, Args)]
pub struct NodeArgs {
    /// Node name
    #[arg(long, env = "K3RS_NODE_NAME")]
    pub node_name: Option<String>,
    /// Append id to node name
    #[arg(long)]
    pub with_node_id: bool,
    /// (k3rs) Node password file, for several agents on one machine (default
    /// /etc/rancher/node/password as root, <data-dir>/agent/etc/rancher/node/password otherwise)
    #[arg(long, env = "K3RS_NODE_PASSWORD_FILE", value_name = "FILE")]
    pub node_password_file: Option<PathBuf>,
    /// IPv4/IPv6 addresses to advertise for node
    #[arg(long, short = 'i', value_name = "ADDRESS")]
    pub node_ip: Vec<IpAddr>,
    /// IPv4/IPv6 external IP addresses to advertise for node
    #[arg(long, value_name = "ADDRESS")]
    pub node_external_ip: Vec<IpAddr>,
    /// Registering and starting kubelet with set of labels
    #[arg(long, value_name = "KEY=VALUE")]
    pub node_label: Vec<String>,
    /// Registering kubelet with set of taints
    #[arg(long, value_name = "KEY=VALUE:EFFECT")]
    pub node_taint: Vec<String>,
    /// Local port for the client load balancer
    #[arg(long, default_value_t = 6444, env = "K3RS_LB_SERVER_PORT")]
    pub lb_server_port: u16,
    /// Override default flannel interface
    #[arg(long, value_name = "INTERFACE")]
    pub flannel_iface: Option<String>,
    /// Kubelet resolv.conf file
    #[arg(long, env = "K3RS_RESOLV_CONF", value_name = "FILE")]
    pub resolv_conf: Option<PathBuf>,
    /// Private registry configuration file
    #[arg(long, default_value = "/etc/rancher/k3rs/registries.yaml", value_name = "FILE")]
    pub private_registry: PathBuf,
    /// Disable the fallback to a registry's own endpoint when a mirror is configured for it
    #[arg(long)]
    pub disable_default_registry_endpoint: bool,
    /// Disable the service proxy (ClusterIP and NodePort rules) on this node
    #[arg(long)]
    pub disable_kube_proxy: bool,
    /// Disable the network policy controller on this node
    #[arg(long)]
    pub disable_network_policy: bool,
    /// OCI runtime binary (runc, crun, youki), found on PATH unless a path is given
    #[arg(long, default_value = "runc", value_name = "PATH")]
    pub runtime: PathBuf,
}
