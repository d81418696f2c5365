//! Tunnel throughput through two muxes joined in memory (every frame encoded and decoded):
//! one stream of 256 MiB, then 100 parallel streams of 4 MiB each. The agent side sinks the
//! bytes (a discard service); the figure is payload MiB per second of wall time.
//!
//! `cargo bench -p k3rs-net --bench tunnel` (figures in docs/PERFORMANCE.md).

use std::sync::Arc;
use std::time::Instant;

use k3rs_net::tunnel::memory::MemoryTunnel;
use k3rs_net::tunnel::target::{AcceptFuture, BoxIo};
use k3rs_net::tunnel::{Acceptor, MuxConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const MIB: usize = 1024 * 1024;

/// Accepts every target as a discard service that answers with the byte count it read.
struct Discard;

impl Acceptor for Discard {
    fn accept(&self, _target: &str) -> AcceptFuture {
        Box::pin(async {
            let (ours, mut theirs) = tokio::io::duplex(256 * 1024);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                let mut total = 0u64;
                loop {
                    match theirs.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => total += n as u64,
                    }
                }
                let _ = theirs.write_u64(total).await;
                let _ = theirs.shutdown().await;
            });
            Ok(Box::new(ours) as BoxIo)
        })
    }
}

/// Sends `bytes` on a new stream and waits for the far side's count.
async fn send(tunnel: &MemoryTunnel, bytes: usize) -> std::io::Result<()> {
    let stream = tunnel.server.open("tcp/127.0.0.1:9").await.map_err(std::io::Error::other)?;
    k3rs_net::tunnel::memory::send_counted(stream, bytes).await
}

fn report(name: &str, bytes: usize, started: Instant) {
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{name:<40} {:>8.1} MiB in {secs:>6.3} s = {:>8.1} MiB/s",
        bytes as f64 / MIB as f64,
        bytes as f64 / MIB as f64 / secs
    );
}

fn main() -> std::io::Result<()> {
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    runtime.block_on(async {
        let tunnel = Arc::new(MemoryTunnel::new(MuxConfig::default(), Arc::new(Discard)));
        // Warm up allocations and the runtime.
        send(&tunnel, 16 * MIB).await?;

        let bytes = 256 * MIB;
        let started = Instant::now();
        send(&tunnel, bytes).await?;
        report("in-memory, 1 stream", bytes, started);

        let per_stream = 4 * MIB;
        let started = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..100 {
            let tunnel = tunnel.clone();
            tasks.push(tokio::spawn(async move { send(&tunnel, per_stream).await }));
        }
        for task in tasks {
            task.await.map_err(std::io::Error::other)??;
        }
        report("in-memory, 100 parallel streams", 100 * per_stream, started);
        Ok(())
    })
}
