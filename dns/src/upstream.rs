//! The upstream resolvers names outside the cluster go to: read from a resolv.conf, asked over
//! UDP with a timeout (over TCP when a TCP client's answer came back truncated).

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use hickory_proto::op::Message;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

/// How long one upstream has to answer before the next is tried.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);
/// The largest answer read from an upstream over UDP.
const MAX_UDP: usize = 65_535;

#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("reading resolver configuration {path}")]
    ResolvConf {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("no upstream resolvers configured")]
    None,
    #[error("upstream {server} did not answer within {timeout:?}")]
    Timeout { server: SocketAddr, timeout: Duration },
    #[error("asking upstream {server}")]
    Io {
        server: SocketAddr,
        #[source]
        source: io::Error,
    },
    #[error("upstream {server} sent an answer that does not match the question")]
    Mismatch { server: SocketAddr },
    #[error("the query is too short to forward")]
    ShortQuery,
}

pub type Result<T, E = UpstreamError> = std::result::Result<T, E>;

/// The upstream resolvers, asked in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Upstreams {
    servers: Vec<SocketAddr>,
    timeout: Duration,
}

impl Upstreams {
    pub fn new(servers: Vec<SocketAddr>) -> Upstreams {
        Upstreams { servers, timeout: DEFAULT_TIMEOUT }
    }

    pub fn with_timeout(mut self, timeout: Duration) -> Upstreams {
        self.timeout = timeout;
        self
    }

    pub fn servers(&self) -> &[SocketAddr] {
        &self.servers
    }

    /// The `nameserver` lines of a resolv.conf file, less any that would be this server itself
    /// (listening on `own`).
    pub fn from_resolv_conf(path: &Path, own: SocketAddr) -> Result<Upstreams> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| UpstreamError::ResolvConf { path: path.to_path_buf(), source })?;
        Ok(Upstreams::new(parse_resolv_conf(&text, own)))
    }

    /// Forwards a query (wire format, any id) and returns the upstream's answer with the
    /// query's id. `over_tcp_if_truncated`: ask again over TCP when the UDP answer is truncated.
    pub async fn forward(&self, query: &[u8], over_tcp_if_truncated: bool) -> Result<Vec<u8>> {
        if query.len() < 12 {
            return Err(UpstreamError::ShortQuery);
        }
        let question = Message::from_vec(query).map(|m| m.queries).ok();
        let mut last = UpstreamError::None;
        for &server in &self.servers {
            // A fresh id (and a fresh socket, so a fresh port) for every exchange.
            let id = Message::query().metadata.id.to_be_bytes();
            let mut ours = query.to_vec();
            ours[..2].copy_from_slice(&id);
            let mut reply = match self.exchange_udp(server, &ours, &question).await {
                Ok(reply) => reply,
                Err(err) => {
                    tracing::debug!(%server, error = %err, "upstream failed");
                    last = err;
                    continue;
                }
            };
            if over_tcp_if_truncated && reply.get(2).is_some_and(|flags| flags & 0x02 != 0) {
                match self.exchange_tcp(server, &ours, &question).await {
                    Ok(full) => reply = full,
                    Err(err) => tracing::debug!(%server, error = %err, "upstream failed over TCP"),
                }
            }
            reply[..2].copy_from_slice(&query[..2]);
            return Ok(reply);
        }
        Err(last)
    }

    async fn exchange_udp(
        &self,
        server: SocketAddr,
        query: &[u8],
        question: &Option<Vec<hickory_proto::op::Query>>,
    ) -> Result<Vec<u8>> {
        let io = |source| UpstreamError::Io { server, source };
        let local: SocketAddr = match server {
            SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
            SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
        };
        let socket = UdpSocket::bind(local).await.map_err(io)?;
        socket.connect(server).await.map_err(io)?;
        socket.send(query).await.map_err(io)?;
        let mut buf = vec![0u8; MAX_UDP];
        let deadline = tokio::time::Instant::now() + self.timeout;
        loop {
            let received = tokio::time::timeout_at(deadline, socket.recv(&mut buf)).await;
            let len = received
                .map_err(|_| UpstreamError::Timeout { server, timeout: self.timeout })?
                .map_err(io)?;
            // A connected socket only hears its server; a stray or spoofed id is ignored.
            if matches_query(&buf[..len], query, question) {
                buf.truncate(len);
                return Ok(buf);
            }
        }
    }

    async fn exchange_tcp(
        &self,
        server: SocketAddr,
        query: &[u8],
        question: &Option<Vec<hickory_proto::op::Query>>,
    ) -> Result<Vec<u8>> {
        let io = |source| UpstreamError::Io { server, source };
        let exchange = async {
            let mut stream = TcpStream::connect(server).await.map_err(io)?;
            let len = u16::try_from(query.len()).map_err(|_| UpstreamError::ShortQuery)?;
            let mut framed = len.to_be_bytes().to_vec();
            framed.extend_from_slice(query);
            stream.write_all(&framed).await.map_err(io)?;
            let len = stream.read_u16().await.map_err(io)?;
            let mut reply = vec![0u8; usize::from(len)];
            stream.read_exact(&mut reply).await.map_err(io)?;
            Ok(reply)
        };
        let reply = tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| UpstreamError::Timeout { server, timeout: self.timeout })??;
        if matches_query(&reply, query, question) {
            Ok(reply)
        } else {
            Err(UpstreamError::Mismatch { server })
        }
    }
}

/// A reply to `query`: same id, a response, and (when the query parsed) the same question.
fn matches_query(
    reply: &[u8],
    query: &[u8],
    question: &Option<Vec<hickory_proto::op::Query>>,
) -> bool {
    if reply.len() < 12 || reply[..2] != query[..2] || reply[2] & 0x80 == 0 {
        return false;
    }
    match question {
        None => true,
        // A truncated reply may come without its question; the id matched.
        Some(question) => {
            Message::from_vec(reply).is_ok_and(|m| m.queries.is_empty() || &m.queries == question)
        }
    }
}

/// Nameservers of a resolv.conf on port 53, in order, without the ones that are `own` (or,
/// when `own` is an unspecified address on port 53, without loopback ones, which would be us).
pub fn parse_resolv_conf(text: &str, own: SocketAddr) -> Vec<SocketAddr> {
    let mut servers = Vec::new();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        if words.next() != Some("nameserver") {
            continue;
        }
        let Some(word) = words.next() else { continue };
        // Link-local IPv6 servers need a scope (`fe80::1%eth0`), which is left out.
        let Ok(ip) = word.parse::<IpAddr>() else {
            tracing::debug!(nameserver = word, "skipping a nameserver that is not an address");
            continue;
        };
        let server = SocketAddr::new(ip, 53);
        let ours =
            own.port() == 53 && (own.ip() == ip || (own.ip().is_unspecified() && ip.is_loopback()));
        if ours {
            tracing::debug!(%server, "skipping a nameserver that is this DNS server");
            continue;
        }
        if !servers.contains(&server) {
            servers.push(server);
        }
    }
    servers
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().expect("address")
    }

    #[test]
    fn resolv_conf_nameservers() {
        let text = "# generated\nsearch example.org\nnameserver 10.0.0.2\nnameserver   127.0.0.53 \n\
                    nameserver fe80::1%eth0\nnameserver 2001:db8::53\nnameserver 10.0.0.2\noptions ndots:5\n";
        assert_eq!(
            parse_resolv_conf(text, addr("10.43.0.10:53")),
            vec![addr("10.0.0.2:53"), addr("127.0.0.53:53"), addr("[2001:db8::53]:53")]
        );
        // Listening on all addresses at port 53, loopback servers are ourselves.
        assert_eq!(
            parse_resolv_conf(text, addr("0.0.0.0:53")),
            vec![addr("10.0.0.2:53"), addr("[2001:db8::53]:53")]
        );
        // Our own address is left out.
        assert_eq!(parse_resolv_conf("nameserver 10.0.0.2\n", addr("10.0.0.2:53")), vec![]);
        // Another port is not us.
        assert_eq!(
            parse_resolv_conf("nameserver 127.0.0.53\n", addr("0.0.0.0:5353")),
            vec![addr("127.0.0.53:53")]
        );
    }

    #[test]
    fn resolv_conf_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("resolv.conf");
        std::fs::write(&path, "nameserver 192.0.2.1\n").expect("write");
        let upstreams = Upstreams::from_resolv_conf(&path, addr("10.43.0.10:53")).expect("read");
        assert_eq!(upstreams.servers(), &[addr("192.0.2.1:53")]);
        let missing = Upstreams::from_resolv_conf(&dir.path().join("nope"), addr("10.43.0.10:53"));
        assert!(matches!(missing, Err(UpstreamError::ResolvConf { .. })));
    }

    #[test]
    fn replies_must_match_the_query() {
        let mut query = Message::query();
        query.add_query(hickory_proto::op::Query::query(
            "example.org.".parse().expect("name"),
            hickory_proto::rr::RecordType::A,
        ));
        let bytes = query.to_vec().expect("encode");
        let question = Some(query.queries.clone());
        let mut reply = query.clone().into_response();
        let reply_bytes = reply.to_vec().expect("encode");
        assert!(matches_query(&reply_bytes, &bytes, &question));
        // Not a response.
        assert!(!matches_query(&bytes, &bytes, &question));
        // Another id.
        reply.metadata.id = reply.metadata.id.wrapping_add(1);
        assert!(!matches_query(&reply.to_vec().expect("encode"), &bytes, &question));
        // Another question.
        let mut other = query.into_response();
        other.queries[0].set_name("example.com.".parse().expect("name"));
        assert!(!matches_query(&other.to_vec().expect("encode"), &bytes, &question));
    }
}
