//! Tunnel targets (`tcp/<ip>:<port>`, as in K3s's remotedialer) and the accepting side's
//! policy: which targets it dials for its peer, and how.

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::str::FromStr;
use std::time::Duration;

use thiserror::Error;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use super::frame::MAX_TARGET;

/// Where a stream goes on the accepting side. Only TCP to a literal address: the accepting
/// side never resolves names for its peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Target {
    pub addr: SocketAddr,
}

/// Why a target text is not a target.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum TargetError {
    #[error("tunnel target {target:?} is not \"tcp/<ip>:<port>\"")]
    Malformed { target: String },
    #[error("tunnel target of {len} bytes exceeds {MAX_TARGET}")]
    TooLong { len: usize },
}

impl Target {
    pub fn tcp(addr: SocketAddr) -> Self {
        Target { addr }
    }
}

impl FromStr for Target {
    type Err = TargetError;

    fn from_str(text: &str) -> Result<Self, TargetError> {
        if text.len() > MAX_TARGET {
            return Err(TargetError::TooLong { len: text.len() });
        }
        let malformed = || TargetError::Malformed { target: text.to_owned() };
        let addr = text.strip_prefix("tcp/").ok_or_else(malformed)?;
        let addr = addr.parse().map_err(|_| malformed())?;
        Ok(Target { addr })
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tcp/{}", self.addr)
    }
}

/// A byte stream the accepting side connected for its peer.
pub trait LocalIo: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> LocalIo for T {}

/// A connected local endpoint.
pub type BoxIo = Box<dyn LocalIo>;
/// What [`Acceptor::accept`] returns.
pub type AcceptFuture = Pin<Box<dyn Future<Output = Result<BoxIo, AcceptError>> + Send>>;

/// Why the accepting side did not connect a stream; the text goes back to the opener in the
/// stream's Close frame.
#[derive(Debug, Error)]
pub enum AcceptError {
    #[error("tunnel target {target:?} is invalid")]
    Invalid {
        target: String,
        #[source]
        source: TargetError,
    },
    #[error("tunnel target {target} is not allowed")]
    NotAllowed { target: Target },
    #[error("this side of the tunnel accepts no streams")]
    NoAcceptor,
    #[error("dialing tunnel target {target}")]
    Dial {
        target: Target,
        #[source]
        source: std::io::Error,
    },
    #[error("dialing tunnel target {target} timed out after {timeout:?}")]
    Timeout { target: Target, timeout: Duration },
}

impl AcceptError {
    /// The text sent to the opener: the error and its sources, one line.
    pub fn to_close_text(&self) -> String {
        let mut text = self.to_string();
        let mut source = std::error::Error::source(self);
        while let Some(err) = source {
            text.push_str(": ");
            text.push_str(&err.to_string());
            source = err.source();
        }
        text
    }
}

/// The accepting side's policy: given the target an inbound Connect names, connect it or say
/// why not.
pub trait Acceptor: Send + Sync + 'static {
    fn accept(&self, target: &str) -> AcceptFuture;
}

/// Dials TCP targets on an allow list and refuses everything else: the agent allows only its
/// own kubelet (`127.0.0.1:<kubelet port>`) and the few local endpoints the server may reach.
#[derive(Debug, Clone)]
pub struct TcpAllowList {
    allowed: Vec<SocketAddr>,
    timeout: Duration,
}

impl TcpAllowList {
    /// `timeout` bounds each dial (K3s waits up to a minute).
    pub fn new(allowed: Vec<SocketAddr>, timeout: Duration) -> Self {
        TcpAllowList { allowed, timeout }
    }

    /// Checks a target text against the list.
    pub fn check(&self, target: &str) -> Result<Target, AcceptError> {
        let parsed: Target = target
            .parse()
            .map_err(|source| AcceptError::Invalid { target: target.to_owned(), source })?;
        if self.allowed.contains(&parsed.addr) {
            Ok(parsed)
        } else {
            Err(AcceptError::NotAllowed { target: parsed })
        }
    }
}

impl Acceptor for TcpAllowList {
    fn accept(&self, target: &str) -> AcceptFuture {
        let checked = self.check(target);
        let timeout = self.timeout;
        Box::pin(async move {
            let target = checked?;
            match tokio::time::timeout(timeout, TcpStream::connect(target.addr)).await {
                Ok(Ok(tcp)) => {
                    // Interactive streams (exec, attach) want small writes to go out at once.
                    let _ = tcp.set_nodelay(true);
                    Ok(Box::new(tcp) as BoxIo)
                }
                Ok(Err(source)) => Err(AcceptError::Dial { target, source }),
                Err(_) => Err(AcceptError::Timeout { target, timeout }),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_and_print() {
        let target: Target = "tcp/127.0.0.1:10250".parse().expect("parse");
        assert_eq!(target.addr, SocketAddr::from(([127, 0, 0, 1], 10250)));
        assert_eq!(target.to_string(), "tcp/127.0.0.1:10250");
        let v6: Target = "tcp/[::1]:10010".parse().expect("parse");
        assert_eq!(v6.to_string(), "tcp/[::1]:10010");
        for bad in ["127.0.0.1:10250", "udp/127.0.0.1:1", "tcp/localhost:10250", "tcp/"] {
            assert!(matches!(bad.parse::<Target>(), Err(TargetError::Malformed { .. })));
        }
        assert_eq!("x".repeat(300).parse::<Target>(), Err(TargetError::TooLong { len: 300 }));
    }

    #[test]
    fn the_allow_list_refuses_other_targets() {
        let list = TcpAllowList::new(
            vec![SocketAddr::from(([127, 0, 0, 1], 10250))],
            Duration::from_secs(1),
        );
        assert!(list.check("tcp/127.0.0.1:10250").is_ok());
        let err = list.check("tcp/127.0.0.1:22").expect_err("refused");
        assert_eq!(err.to_close_text(), "tunnel target tcp/127.0.0.1:22 is not allowed");
        let err = list.check("http://x").expect_err("invalid");
        assert!(err.to_close_text().contains("is not \"tcp/<ip>:<port>\""));
    }

    #[tokio::test]
    async fn the_allow_list_dials_allowed_targets() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let list = TcpAllowList::new(vec![addr], Duration::from_secs(5));
        let io = list.accept(&format!("tcp/{addr}")).await;
        assert!(io.is_ok());
        drop(listener);
        let err = match list.accept(&format!("tcp/{addr}")).await {
            Ok(_) => panic!("dial to a closed port succeeded"),
            Err(err) => err,
        };
        assert!(matches!(err, AcceptError::Dial { .. }), "{err}");
    }
}
