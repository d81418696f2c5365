//! Two muxes joined in memory: a server and an agent whose frames go through encode and decode
//! as on a websocket, for tests and the benchmark.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::frame::Frame;
use super::mux::{Mux, MuxConfig, Outgoing, Side};
use super::target::Acceptor;

/// A server mux and an agent mux, joined.
#[derive(Debug)]
pub struct MemoryTunnel {
    /// Opens streams to the agent's acceptor.
    pub server: Mux,
    pub agent: Mux,
    cut: CancellationToken,
}

impl MemoryTunnel {
    /// Joins two muxes; the agent accepts inbound streams through `acceptor`. Needs a tokio
    /// runtime: one task pumps each direction.
    pub fn new(config: MuxConfig, acceptor: Arc<dyn Acceptor>) -> Self {
        let (server, server_out) = Mux::new(Side::Server, config.clone(), None);
        let (agent, agent_out) = Mux::new(Side::Agent, config, Some(acceptor));
        let cut = CancellationToken::new();
        pump(server_out, server.clone(), agent.clone(), cut.clone());
        pump(agent_out, agent.clone(), server.clone(), cut.clone());
        MemoryTunnel { server, agent, cut }
    }

    /// Loses the transport, as a dropped websocket would: both muxes close.
    pub fn cut(&self) {
        self.cut.cancel();
    }
}

fn pump(mut out: Outgoing, from: Mux, to: Mux, cut: CancellationToken) {
    tokio::spawn(async move {
        let reason = loop {
            let frame = tokio::select! {
                () = cut.cancelled() => break "transport cut".to_owned(),
                frame = out.next() => frame,
            };
            let Some(frame) = frame else {
                break "mux closed".to_owned();
            };
            let decoded = match frame.encode().and_then(Frame::decode) {
                Ok(frame) => frame,
                Err(err) => break err.to_string(),
            };
            if let Err(err) = to.receive(decoded) {
                break err.to_string();
            }
        };
        from.close(&reason);
        to.close(&reason);
    });
}

/// Benchmark support: send `bytes` on `stream` in 64 KiB writes, half-close, and wait for the
/// far side to answer how many it read (a u64), which must be all of them.
pub async fn send_counted(mut stream: super::Stream, bytes: usize) -> std::io::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let chunk = vec![0xa5u8; 64 * 1024];
    let mut left = bytes;
    while left > 0 {
        let n = left.min(chunk.len());
        stream.write_all(&chunk[..n]).await?;
        left -= n;
    }
    stream.shutdown().await?;
    let got = stream.read_u64().await?;
    if got != bytes as u64 {
        return Err(std::io::Error::other(format!("sent {bytes}, far side read {got}")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    //! Two muxes end to end: echo, parallel streams, half-close, refusals, flow control and
    //! transport loss.
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;
    use crate::tunnel::target::{AcceptError, AcceptFuture, BoxIo};

    /// Accepts `tcp/127.0.0.1:7` as an echo service (answers then ends when the input ends);
    /// refuses everything else.
    struct Echo;

    impl Acceptor for Echo {
        fn accept(&self, target: &str) -> AcceptFuture {
            let allowed = target == "tcp/127.0.0.1:7";
            let target = target.parse();
            Box::pin(async move {
                let target = target
                    .map_err(|source| AcceptError::Invalid { target: String::new(), source })?;
                if !allowed {
                    return Err(AcceptError::NotAllowed { target });
                }
                let (ours, theirs) = tokio::io::duplex(64 * 1024);
                tokio::spawn(async move {
                    let (mut read, mut write) = tokio::io::split(theirs);
                    let _ = tokio::io::copy(&mut read, &mut write).await;
                    let _ = write.shutdown().await;
                });
                Ok(Box::new(ours) as BoxIo)
            })
        }
    }

    const ECHO: &str = "tcp/127.0.0.1:7";

    fn tunnel() -> MemoryTunnel {
        MemoryTunnel::new(MuxConfig::default(), Arc::new(Echo))
    }

    async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
        match tokio::time::timeout(Duration::from_secs(20), fut).await {
            Ok(value) => value,
            Err(_) => panic!("{what} did not finish within 20 s"),
        }
    }

    /// Polls `condition` every few milliseconds until it holds, failing after 20 s.
    async fn eventually(what: &str, condition: impl Fn() -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while !condition() {
            assert!(tokio::time::Instant::now() < deadline, "{what}: not within 20 s");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    fn pattern(len: usize, seed: u8) -> Vec<u8> {
        (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
    }

    /// Writes `data`, half-closes, and reads everything back.
    async fn echo_round_trip(tunnel: &MemoryTunnel, data: Vec<u8>) -> Vec<u8> {
        let stream = tunnel.server.open(ECHO).await.expect("open");
        let (mut read, mut write) = tokio::io::split(stream);
        let writer = tokio::spawn(async move {
            write.write_all(&data).await.expect("write");
            write.shutdown().await.expect("shutdown");
            write
        });
        let mut back = Vec::new();
        read.read_to_end(&mut back).await.expect("read");
        drop(writer.await.expect("writer"));
        back
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn bytes_echo_through_the_tunnel() {
        let tunnel = tunnel();
        let data = pattern(1024 * 1024 + 17, 1);
        let back = within("echo", echo_round_trip(&tunnel, data.clone())).await;
        assert_eq!(back, data);
        let stats = tunnel.server.stats();
        assert_eq!((stats.bytes_out, stats.bytes_in), (1024 * 1024 + 17, 1024 * 1024 + 17));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn many_parallel_streams_keep_their_bytes_apart() {
        let tunnel = Arc::new(tunnel());
        let mut tasks = Vec::new();
        for i in 0..100u8 {
            let tunnel = tunnel.clone();
            tasks.push(tokio::spawn(async move {
                let data = pattern(50_000 + usize::from(i) * 100, i);
                let back = echo_round_trip(&tunnel, data.clone()).await;
                assert_eq!(back, data, "stream {i}");
            }));
        }
        within("100 streams", async {
            for task in tasks {
                task.await.expect("stream task");
            }
        })
        .await;
        // Every stream ended cleanly on both sides and was released.
        eventually("every stream to be released", || {
            tunnel.server.stats().open_streams + tunnel.agent.stats().open_streams == 0
        })
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn half_close_delivers_eof_and_keeps_the_other_direction() {
        let tunnel = tunnel();
        let mut stream = tunnel.server.open(ECHO).await.expect("open");
        stream.write_all(b"ping").await.expect("write");
        stream.shutdown().await.expect("shutdown");
        // The echo sees EOF only after reading our bytes, then answers and ends: reading on
        // our side still works after our shutdown.
        let mut back = Vec::new();
        within("read to eof", stream.read_to_end(&mut back)).await.expect("read");
        assert_eq!(back, b"ping");
        let err = stream.write_all(b"more").await.expect_err("write after shutdown");
        assert_eq!(err.kind(), std::io::ErrorKind::BrokenPipe);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_refused_target_fails_the_stream_with_the_reason() {
        let tunnel = tunnel();
        let mut stream = tunnel.server.open("tcp/127.0.0.1:22").await.expect("open");
        let err = within("refusal", stream.read_u8()).await.expect_err("refused");
        assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset);
        assert!(err.to_string().contains("tunnel target tcp/127.0.0.1:22 is not allowed"), "{err}");
        // The agent refuses streams; the server refuses streams opened by the agent.
        let mut back = tunnel.agent.open(ECHO).await.expect("open");
        let err = within("refusal", back.read_u8()).await.expect_err("refused");
        assert!(err.to_string().contains("accepts no streams"), "{err}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_slow_reader_does_not_stall_other_streams() {
        let tunnel = tunnel();
        // Stream A: 64 MiB written, echoes never read until the end. Its buffers fill, the
        // receivers pause it, and its writer stops.
        let total = 64 * 1024 * 1024;
        let slow = tunnel.server.open(ECHO).await.expect("open");
        let (mut slow_read, mut slow_write) = tokio::io::split(slow);
        let writer = tokio::spawn(async move {
            let chunk = vec![5u8; 64 * 1024];
            for _ in 0..total / chunk.len() {
                slow_write.write_all(&chunk).await.expect("write");
            }
            slow_write.shutdown().await.expect("shutdown");
            slow_write
        });
        // The receivers pause A (the agent's buffer fills behind the echo, which cannot send
        // back because the server's buffer for A is full and unread).
        eventually("stream A to be paused", || tunnel.server.stats().paused_streams == 1).await;
        // Stream B still round-trips, many times.
        for round in 0..20u8 {
            let data = pattern(256 * 1024, round);
            let back = within("stream B", echo_round_trip(&tunnel, data.clone())).await;
            assert_eq!(back, data);
        }
        // A stayed paused all along, its buffered bytes bounded by the pause mark plus what
        // was in flight.
        let stats = tunnel.server.stats();
        assert_eq!(stats.paused_streams, 1);
        assert!(!writer.is_finished());
        // At most: each side's receive buffer (pause mark plus one send queue in flight, 4 MiB)
        // and each side's send queue (2 MiB), about 12 MiB; 4 to 11 MiB in practice.
        let sent_on_a = stats.bytes_out - 20 * 256 * 1024;
        assert!(sent_on_a < 16 * 1024 * 1024, "A sent {sent_on_a} bytes while unread");
        // Now read A: everything arrives.
        let mut received = 0usize;
        let mut buf = vec![0u8; 256 * 1024];
        within("stream A to drain", async {
            loop {
                let n = slow_read.read(&mut buf).await.expect("read");
                if n == 0 {
                    break;
                }
                received += n;
            }
        })
        .await;
        assert_eq!(received, total);
        drop(writer.await.expect("writer"));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn losing_the_transport_fails_open_streams() {
        let tunnel = tunnel();
        let mut stream = tunnel.server.open(ECHO).await.expect("open");
        stream.write_all(b"x").await.expect("write");
        let mut one = [0u8; 1];
        within("echo", stream.read_exact(&mut one)).await.expect("read");
        tunnel.cut();
        let err = within("failure", stream.read_u8()).await.expect_err("failed");
        assert!(err.to_string().contains("tunnel closed: transport cut"), "{err}");
        assert!(stream.write_all(b"y").await.is_err());
        assert!(matches!(
            tunnel.server.open(ECHO).await,
            Err(crate::tunnel::MuxError::Closed { .. })
        ));
    }
}
