//! k3rs-dns: the cluster DNS server. Kubernetes service and pod records (the DNS
//! specification's schema, CoreDNS's TTL and pod names) built from snapshots of API objects,
//! answered over UDP and TCP; every other name forwarded to upstream resolvers.
//!
//! Owns: the records and how a query is answered, the server's sockets. Does not: watch the
//! API (callers build `Records` from objects they hold and swap them in), read configuration
//! (callers pass the address, the domain and the resolv.conf path), know actix, or choose
//! where it listens in the node's network (the agent does).
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use k3rs_dns::{Dns, Records, Upstreams};
//! let listen = "10.43.0.10:53".parse()?;
//! let upstreams = Upstreams::from_resolv_conf("/etc/resolv.conf".as_ref(), listen)?;
//! let dns = Dns::bind(listen, upstreams).await?;
//! dns.set_records(Records::build(&[], &[], None, "cluster.local")?);
//! let records = dns.records(); // keep to swap in new records as objects change
//! dns.serve(std::future::pending()).await?;
//! # drop(records); Ok(()) }
//! ```

mod objects;
pub mod records;
pub mod resolver;
pub mod server;
pub mod upstream;

pub use records::{Answer, Records, RecordsError};
pub use resolver::{Resolver, SharedRecords, Transport};
pub use server::{Dns, DnsError};
pub use upstream::{UpstreamError, Upstreams};
