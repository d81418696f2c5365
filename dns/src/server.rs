//! The DNS server's sockets: one UDP socket and one TCP listener on the same address, each
//! query answered on its own task by the `Resolver`, until the shutdown signal.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::task::JoinSet;

use crate::records::Records;
use crate::resolver::{Resolver, SharedRecords, Transport};
use crate::upstream::Upstreams;

/// Queries and connections in flight at once; past it, UDP queries are dropped (clients
/// retry) and TCP connections closed.
const MAX_IN_FLIGHT: usize = 1024;
/// How long a TCP connection may sit idle between queries.
const TCP_IDLE: Duration = Duration::from_secs(10);
/// The pause before accepting again when out of file descriptors.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// Tries at binding TCP on the port the kernel gave UDP, when asked for port 0.
const BIND_TRIES: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum DnsError {
    #[error("binding DNS on {addr}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: io::Error,
    },
    #[error("serving DNS on {addr}")]
    Serve {
        addr: SocketAddr,
        #[source]
        source: io::Error,
    },
}

pub type Result<T, E = DnsError> = std::result::Result<T, E>;

/// The cluster DNS server, bound and ready to serve.
#[derive(Debug)]
pub struct Dns {
    addr: SocketAddr,
    udp: Arc<UdpSocket>,
    tcp: TcpListener,
    records: SharedRecords,
    resolver: Resolver,
}

impl Dns {
    /// Binds UDP and TCP on `addr` (with port 0, one free port for both). Until the first
    /// `set_records`, every query gets SERVFAIL.
    pub async fn bind(addr: SocketAddr, upstreams: Upstreams) -> Result<Dns> {
        let (udp, tcp) = bind_both(addr).await?;
        let addr = udp.local_addr().map_err(|source| DnsError::Bind { addr, source })?;
        let records = SharedRecords::default();
        let resolver = Resolver::new(records.clone(), upstreams);
        tracing::info!(%addr, "cluster DNS bound");
        Ok(Dns { addr, udp: Arc::new(udp), tcp, records, resolver })
    }

    /// The address both sockets are bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Replaces the records served from now on.
    pub fn set_records(&self, records: Records) {
        self.records.set(records);
    }

    /// A handle to replace the records after `serve` has taken the server.
    pub fn records(&self) -> SharedRecords {
        self.records.clone()
    }

    /// Answers queries until `shutdown` completes; queries in flight then are abandoned.
    pub async fn serve(self, shutdown: impl Future<Output = ()>) -> Result<()> {
        let Dns { addr, udp, tcp, resolver, .. } = self;
        let mut tasks = JoinSet::new();
        let mut buf = vec![0u8; crate::resolver::UDP_LIMIT_EDNS];
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                received = udp.recv_from(&mut buf) => {
                    let (len, peer) = match received {
                        Ok(received) => received,
                        // ICMP errors from earlier replies surface here on some systems.
                        Err(err) if transient(&err) => continue,
                        Err(source) => return Err(DnsError::Serve { addr, source }),
                    };
                    if tasks.len() >= MAX_IN_FLIGHT {
                        tracing::debug!(%peer, "dropping a query: too many in flight");
                        continue;
                    }
                    let query = buf[..len].to_vec();
                    let (udp, resolver) = (udp.clone(), resolver.clone());
                    tasks.spawn(async move {
                        let Some(reply) = resolver.answer(&query, Transport::Udp).await else {
                            return;
                        };
                        if let Err(err) = udp.send_to(&reply, peer).await {
                            tracing::debug!(%peer, error = %err, "sending a reply failed");
                        }
                    });
                }
                accepted = tcp.accept() => {
                    let (stream, peer) = match accepted {
                        Ok(accepted) => accepted,
                        Err(err) if out_of_files(&err) => {
                            // Accepting again at once would fail again at once.
                            tracing::warn!(%addr, error = %err, "cannot accept DNS connections");
                            tokio::time::sleep(ACCEPT_BACKOFF).await;
                            continue;
                        }
                        Err(err) if transient(&err) => continue,
                        Err(source) => return Err(DnsError::Serve { addr, source }),
                    };
                    if tasks.len() >= MAX_IN_FLIGHT {
                        tracing::debug!(%peer, "closing a connection: too many in flight");
                        continue;
                    }
                    let resolver = resolver.clone();
                    tasks.spawn(async move {
                        if let Err(err) = serve_tcp(stream, &resolver).await {
                            tracing::debug!(%peer, error = %err, "TCP connection ended");
                        }
                    });
                }
                Some(done) = tasks.join_next(), if !tasks.is_empty() => {
                    if let Err(err) = done {
                        tracing::error!(%addr, error = %err, "a DNS query task failed");
                    }
                }
            }
        }
        tracing::info!(%addr, "cluster DNS stopped");
        Ok(())
    }
}

/// Errors of one peer or of a full system that the listener survives.
fn transient(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
    )
}

/// EMFILE or ENFILE: the process or the system is out of file descriptors.
fn out_of_files(err: &io::Error) -> bool {
    err.raw_os_error().is_some_and(|code| code == 24 || code == 23)
}

async fn bind_both(addr: SocketAddr) -> Result<(UdpSocket, TcpListener)> {
    let bind = |addr, source| DnsError::Bind { addr, source };
    let mut last = None;
    for _ in 0..BIND_TRIES {
        let udp = UdpSocket::bind(addr).await.map_err(|e| bind(addr, e))?;
        let udp_addr = udp.local_addr().map_err(|e| bind(addr, e))?;
        match TcpListener::bind(udp_addr).await {
            Ok(tcp) => return Ok((udp, tcp)),
            // With port 0, the kernel's UDP port may be taken for TCP: pick another.
            Err(err) if addr.port() == 0 && err.kind() == io::ErrorKind::AddrInUse => {
                last = Some(err)
            }
            Err(err) => return Err(bind(udp_addr, err)),
        }
    }
    Err(bind(addr, last.unwrap_or_else(|| io::Error::from(io::ErrorKind::AddrInUse))))
}

/// Queries on one TCP connection (two-byte length prefix), answered in order, until the peer
/// closes or stays idle for `TCP_IDLE`.
async fn serve_tcp(mut stream: TcpStream, resolver: &Resolver) -> io::Result<()> {
    loop {
        let len = match tokio::time::timeout(TCP_IDLE, stream.read_u16()).await {
            Err(_) => return Ok(()),
            Ok(Err(err)) if err.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
            Ok(result) => result?,
        };
        let mut query = vec![0u8; usize::from(len)];
        tokio::time::timeout(TCP_IDLE, stream.read_exact(&mut query))
            .await
            .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))??;
        let Some(reply) = resolver.answer(&query, Transport::Tcp).await else {
            continue;
        };
        let Ok(len) = u16::try_from(reply.len()) else { continue };
        let mut framed = Vec::with_capacity(reply.len() + 2);
        framed.extend_from_slice(&len.to_be_bytes());
        framed.extend_from_slice(&reply);
        stream.write_all(&framed).await?;
    }
}
