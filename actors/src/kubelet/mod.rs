//! The agent's kubelet service: answers the kubelet protocol (`k3rs_net::kubelet`: health,
//! logs in `logs.rs`, exec in `exec.rs`, port-forward in `portforward.rs`, usage in
//! `stats.rs`, the actor tree) on the streams servers open through the node's tunnels. It
//! listens on no port: the tunnel's acceptor hands each stream to it in process, so only
//! servers holding the node's tunnel can reach it, and several agents on one machine never
//! compete for 10250.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use k3rs_agent::runtime::Runtime;
use k3rs_net::kubelet::{self, Reply, Request};
use k3rs_net::tunnel::{AcceptFuture, Acceptor, BoxIo, TcpAllowList};
use tokio::io::{AsyncWriteExt, DuplexStream};
use tracing::{Instrument, debug, info_span};

use crate::tree::ActorTree;

mod attach;
mod exec;
mod logs;
mod portforward;
mod stats;

pub use stats::Sampler;

/// Buffer between the tunnel stream and the service, each way.
const PIPE: usize = 256 * 1024;
/// How long a finished stream waits for the server to close its side.
const LINGER: Duration = Duration::from_secs(10);

/// What the service reads from.
#[derive(Debug)]
pub struct KubeletService {
    pub node: String,
    /// `<data-dir>/agent/logs`, where container logs are.
    pub logs_dir: PathBuf,
    /// The OCI runtime the containers run under (for exec).
    pub runtime: Runtime,
    /// Usage snapshots for the metrics API.
    pub sampler: stats::Sampler,
    /// The agent process's actors, for `/admin/actors?node=<node>` on a server.
    pub actors: ActorTree,
    /// Containers' stdin ends, for `attach -i`.
    pub stdin: crate::stdin::StdinHolders,
}

impl KubeletService {
    /// Serve one stream: read the request, answer it.
    pub async fn serve(self: Arc<Self>, mut io: DuplexStream) {
        let request: Request = match kubelet::read_message(&mut io).await {
            Ok(r) => r,
            Err(e) => {
                debug!(error = %e, "unreadable kubelet request");
                return;
            }
        };
        let span = info_span!("kubelet", actor = "KubeletService", node = %self.node, ?request);
        async move {
            let result = match request {
                Request::Healthz => healthz(&mut io).await,
                Request::Actors => {
                    let report = self.actors.report().to_string();
                    reply_with(&mut io, report.as_bytes()).await
                }
                Request::Logs(request) => logs::logs(&self.logs_dir, &mut io, request).await,
                Request::Exec(request) => exec::exec(&self.runtime, &mut io, request).await,
                Request::PortForward(pod) => portforward::port_forward(&mut io, pod).await,
                Request::Stats => stats::stats(&self.sampler, &mut io).await,
                Request::Attach(request) => {
                    attach::attach(&self.logs_dir, &self.stdin, &mut io, request).await
                }
            };
            if let Err(e) = result {
                debug!(error = %e, "kubelet stream ended early");
            }
            let _ = io.shutdown().await;
            // Linger: read (and drop) what the server still sends until it closes, so a late
            // write of its (a resize, stdin) does not meet a closed pipe, which would reset
            // the stream before the server has read our last bytes.
            let _ = tokio::time::timeout(LINGER, tokio::io::copy(&mut io, &mut tokio::io::sink()))
                .await;
        }
        .instrument(span)
        .await;
    }
}

async fn healthz(io: &mut DuplexStream) -> Result<(), kubelet::ProtocolError> {
    reply_with(io, b"ok").await
}

/// `Reply::Ok`, then `body`.
async fn reply_with(io: &mut DuplexStream, body: &[u8]) -> Result<(), kubelet::ProtocolError> {
    kubelet::write_message(io, &Reply::Ok).await?;
    io.write_all(body).await?;
    Ok(())
}

pub(super) async fn refuse(
    io: &mut DuplexStream,
    code: u16,
    message: String,
) -> Result<(), kubelet::ProtocolError> {
    kubelet::write_message(io, &Reply::Refused { code, message }).await
}

/// The agent's tunnel acceptor: the `kubelet` target is served in process; no other target
/// is allowed.
pub struct KubeletAcceptor {
    service: Arc<KubeletService>,
    others: TcpAllowList,
}

impl KubeletAcceptor {
    pub fn new(service: KubeletService) -> Self {
        KubeletAcceptor {
            service: Arc::new(service),
            others: TcpAllowList::new(Vec::new(), Duration::from_secs(5)),
        }
    }
}

impl Acceptor for KubeletAcceptor {
    fn accept(&self, target: &str) -> AcceptFuture {
        if target != kubelet::TARGET {
            let refused = self.others.accept(target);
            return refused;
        }
        let (ours, theirs) = tokio::io::duplex(PIPE);
        tokio::spawn(self.service.clone().serve(ours));
        Box::pin(async move { Ok(Box::new(theirs) as BoxIo) })
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncReadExt;

    use super::*;

    #[tokio::test]
    async fn healthz_answers_ok_and_other_targets_are_refused() {
        let acceptor = KubeletAcceptor::new(KubeletService {
            node: "n".into(),
            logs_dir: PathBuf::from("/nonexistent"),
            runtime: Runtime { binary: "runc".into(), root: "/nonexistent".into() },
            sampler: stats::Sampler::default(),
            actors: ActorTree::new(),
            stdin: crate::stdin::StdinHolders::default(),
        });
        let mut io = acceptor.accept(kubelet::TARGET).await.expect("kubelet target");
        kubelet::write_message(&mut io, &Request::Healthz).await.expect("request");
        let reply: Reply = kubelet::read_message(&mut io).await.expect("reply");
        assert_eq!(reply, Reply::Ok);
        let mut body = String::new();
        io.read_to_string(&mut body).await.expect("body");
        assert_eq!(body, "ok");

        let refused = acceptor.accept("tcp/127.0.0.1:22").await.err().expect("not allowed");
        assert_eq!(refused.to_string(), "tunnel target tcp/127.0.0.1:22 is not allowed");
    }
}
