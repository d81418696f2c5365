//! The kubelet protocol: how a server asks a node's agent for what the Kubernetes API proxies
//! to kubelets (health, logs, exec, port-forward, stats), over one tunnel stream per request
//! ([ADR 011](../../docs/adr/011-kubelet-protocol.md)).
//!
//! The server opens a stream to the target [`TARGET`] and writes one [`Request`] as a message
//! (a 4-byte big-endian length, then the bincode encoding, at most [`MAX_MESSAGE`] bytes). The
//! agent answers one [`Reply`] message the same way; after `Reply::Ok` the stream carries the
//! request's data (what each request carries is on its variant) until either side closes.

use serde::{Deserialize, Serialize};
use thiserror::Error;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The tunnel target a node's kubelet service answers on.
pub const TARGET: &str = "kubelet";

/// The largest request or reply message.
pub const MAX_MESSAGE: usize = 1 << 20;

/// What the server asks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// `/healthz`: the reply is followed by the text `ok`.
    Healthz,
    /// The reply is followed by the log's bytes, as `kubectl logs` shows them.
    Logs(LogRequest),
    /// The agent process's actor tree: the reply is followed by its JSON.
    Actors,
    /// Run a command in a container: after the reply both sides exchange channel frames
    /// ([`write_frame`]): stdin, resize and close from the server; stdout, stderr and, last,
    /// the status on [`channel::ERROR`] from the agent, which then closes the stream.
    Exec(ExecRequest),
    /// Forward connections to the pod's ports: after the reply the stream carries the
    /// client's SPDY/3.1 session (`k3rs_net::spdy`) as it came, both ways.
    PortForward(PodRef),
    /// Resource usage: the reply is followed by one [`Stats`] message.
    Stats,
    /// Attach to a running container's output (its `command` is empty): channel frames as for
    /// `Exec`, the container's new stdout and stderr until it ends, then the status.
    Attach(ExecRequest),
}

/// CPU and memory in use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub cpu_nanocores: u64,
    pub memory_bytes: u64,
}

/// One container's usage.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerUsage {
    pub pod_uid: String,
    pub name: String,
    pub usage: Usage,
}

/// The node's and its containers' usage over the last `window_ms`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    pub window_ms: u64,
    pub node: Usage,
    pub containers: Vec<ContainerUsage>,
}

/// A pod instance.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodRef {
    pub namespace: String,
    pub pod: String,
    pub uid: String,
}

/// `pods/exec`'s options.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecRequest {
    pub namespace: String,
    pub pod: String,
    pub uid: String,
    pub container: String,
    pub command: Vec<String>,
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub tty: bool,
}

/// The channels of Kubernetes' remote command protocol (`v5.channel.k8s.io`), which exec
/// frames carry unchanged.
pub mod channel {
    pub const STDIN: u8 = 0;
    pub const STDOUT: u8 = 1;
    pub const STDERR: u8 = 2;
    /// The command's end, as a `Status` JSON.
    pub const ERROR: u8 = 3;
    /// `{"Width":W,"Height":H}` for a terminal.
    pub const RESIZE: u8 = 4;
    /// Closes the channel named by the payload's first byte (stdin's EOF).
    pub const CLOSE: u8 = 255;
}

/// The largest channel frame payload.
pub const MAX_FRAME: usize = 1 << 20;

/// Writes a channel frame: the channel, a 4-byte big-endian length, the payload.
pub async fn write_frame<W>(w: &mut W, channel: u8, payload: &[u8]) -> Result<(), ProtocolError>
where
    W: AsyncWrite + Unpin,
{
    if payload.len() > MAX_FRAME {
        return Err(ProtocolError::TooLarge { len: payload.len() });
    }
    let mut head = [0u8; 5];
    head[0] = channel;
    head[1..].copy_from_slice(&(payload.len() as u32).to_be_bytes());
    w.write_all(&head).await?;
    w.write_all(payload).await?;
    w.flush().await?;
    Ok(())
}

/// Reads a channel frame; `None` at a clean end of the stream.
pub async fn read_frame<R>(r: &mut R) -> Result<Option<(u8, Vec<u8>)>, ProtocolError>
where
    R: AsyncRead + Unpin,
{
    let mut head = [0u8; 5];
    match r.read_exact(&mut head).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
    if len > MAX_FRAME {
        return Err(ProtocolError::TooLarge { len });
    }
    let mut payload = vec![0u8; len];
    r.read_exact(&mut payload).await?;
    Ok(Some((head[0], payload)))
}

/// `pods/log`'s options, as the API received them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogRequest {
    pub namespace: String,
    pub pod: String,
    /// The pod's uid: logs are kept per pod instance.
    pub uid: String,
    pub container: String,
    pub follow: bool,
    pub previous: bool,
    pub timestamps: bool,
    pub tail_lines: Option<u64>,
    pub since_seconds: Option<u64>,
    /// RFC 3339 (`sinceTime`); `since_seconds` wins when both are given.
    pub since_time: Option<String>,
    pub limit_bytes: Option<u64>,
}

/// The agent's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reply {
    Ok,
    /// Refused, with the HTTP code and message the API should answer (404 for a missing pod
    /// or container, 400 for a request that cannot be served).
    Refused {
        code: u16,
        message: String,
    },
}

/// Why a message could not be read or written.
#[derive(Debug, Error)]
pub enum ProtocolError {
    #[error("kubelet message of {len} bytes exceeds {MAX_MESSAGE}")]
    TooLarge { len: usize },
    #[error("kubelet stream I/O")]
    Io(#[from] std::io::Error),
    #[error("decoding a kubelet message")]
    Decode(#[from] bincode::error::DecodeError),
    #[error("encoding a kubelet message")]
    Encode(#[from] bincode::error::EncodeError),
}

/// Writes one message.
pub async fn write_message<W, T>(w: &mut W, message: &T) -> Result<(), ProtocolError>
where
    W: AsyncWrite + Unpin,
    T: Serialize,
{
    let bytes = bincode::serde::encode_to_vec(message, bincode::config::standard())?;
    if bytes.len() > MAX_MESSAGE {
        return Err(ProtocolError::TooLarge { len: bytes.len() });
    }
    let len =
        u32::try_from(bytes.len()).map_err(|_| ProtocolError::TooLarge { len: bytes.len() })?;
    w.write_all(&len.to_be_bytes()).await?;
    w.write_all(&bytes).await?;
    w.flush().await?;
    Ok(())
}

/// Reads one message.
pub async fn read_message<R, T>(r: &mut R) -> Result<T, ProtocolError>
where
    R: AsyncRead + Unpin,
    T: for<'de> Deserialize<'de>,
{
    let mut len = [0u8; 4];
    r.read_exact(&mut len).await?;
    let len = u32::from_be_bytes(len) as usize;
    if len > MAX_MESSAGE {
        return Err(ProtocolError::TooLarge { len });
    }
    let mut bytes = vec![0u8; len];
    r.read_exact(&mut bytes).await?;
    let (message, _) = bincode::serde::decode_from_slice(&bytes, bincode::config::standard())?;
    Ok(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn messages_round_trip() {
        let (mut a, mut b) = tokio::io::duplex(4096);
        let request = Request::Logs(LogRequest {
            namespace: "default".into(),
            pod: "web".into(),
            container: "web".into(),
            follow: true,
            tail_lines: Some(10),
            ..LogRequest::default()
        });
        write_message(&mut a, &request).await.expect("write");
        write_message(&mut a, &Reply::Refused { code: 404, message: "no".into() })
            .await
            .expect("write");
        assert_eq!(read_message::<_, Request>(&mut b).await.expect("read"), request);
        let reply: Reply = read_message(&mut b).await.expect("read");
        assert_eq!(reply, Reply::Refused { code: 404, message: "no".into() });
    }

    #[tokio::test]
    async fn channel_frames_round_trip_and_end_cleanly() {
        let (mut a, mut b) = tokio::io::duplex(4096);
        write_frame(&mut a, channel::STDOUT, b"hello").await.expect("write");
        write_frame(&mut a, channel::CLOSE, &[channel::STDIN]).await.expect("write");
        drop(a);
        assert_eq!(read_frame(&mut b).await.expect("read"), Some((1, b"hello".to_vec())));
        assert_eq!(read_frame(&mut b).await.expect("read"), Some((255, vec![0])));
        assert_eq!(read_frame(&mut b).await.expect("end"), None);
    }

    #[tokio::test]
    async fn an_oversized_length_is_refused_before_reading_it() {
        let (mut a, mut b) = tokio::io::duplex(64);
        a.write_all(&u32::MAX.to_be_bytes()).await.expect("write");
        let err = read_message::<_, Request>(&mut b).await.expect_err("too large");
        assert!(matches!(err, ProtocolError::TooLarge { .. }), "{err}");
    }
}
