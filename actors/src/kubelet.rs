//! The agent's kubelet service: answers the kubelet protocol (`k3rs_net::kubelet`) on the
//! streams servers open through the node's tunnels. It listens on no port: the tunnel's
//! acceptor hands each stream to it in process, so only servers holding the node's tunnel can
//! reach it, and several agents on one machine never compete for 10250.

use std::sync::Arc;
use std::time::Duration;

use std::path::PathBuf;

use k3rs_agent::logs::{self, ReadOptions};
use k3rs_net::kubelet::{self, LogRequest, Reply, Request};
use k3rs_net::tunnel::{AcceptFuture, Acceptor, BoxIo, TcpAllowList};
use time::OffsetDateTime;
use tokio::io::{AsyncWriteExt, DuplexStream};
use tracing::{Instrument, debug, info_span};

use crate::tree::ActorTree;

/// Buffer between the tunnel stream and the service, each way.
const PIPE: usize = 256 * 1024;
/// How often a followed log is checked for more.
const FOLLOW_POLL: Duration = Duration::from_millis(250);

/// What the service reads from.
#[derive(Debug, Clone)]
pub struct KubeletService {
    pub node: String,
    /// `<data-dir>/agent/logs`, where container logs are.
    pub logs_dir: PathBuf,
    /// The agent process's actors, for `/admin/actors?node=<node>` on a server.
    pub actors: ActorTree,
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
                Request::Logs(request) => self.logs(&mut io, request).await,
            };
            if let Err(e) = result {
                debug!(error = %e, "kubelet stream ended early");
            }
            let _ = io.shutdown().await;
        }
        .instrument(span)
        .await;
    }
}

impl KubeletService {
    /// A container's log, as `kubectl logs` asks: the current start's file (or the previous
    /// start's), then, when following, what is appended until the container ends.
    async fn logs(
        &self,
        io: &mut DuplexStream,
        req: LogRequest,
    ) -> Result<(), kubelet::ProtocolError> {
        let dir =
            logs::container_dir(&self.logs_dir, &req.namespace, &req.pod, &req.uid, &req.container);
        let starts = logs::starts(&dir);
        let start = if req.previous { starts.iter().rev().nth(1) } else { starts.last() };
        let Some(&start) = start else {
            let message = if req.previous {
                format!(
                    "previous terminated container {:?} in pod {:?} not found",
                    req.container, req.pod
                )
            } else {
                format!(
                    "container {:?} in pod {:?} is waiting to start: ContainerCreating",
                    req.container, req.pod
                )
            };
            return refuse(io, 400, message).await;
        };
        let since = match (req.since_seconds, &req.since_time) {
            (Some(s), _) => Some(
                OffsetDateTime::now_utc()
                    - time::Duration::seconds(i64::try_from(s).unwrap_or(i64::MAX / 2)),
            ),
            (None, Some(t)) => {
                OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()
            }
            (None, None) => None,
        };
        let options = ReadOptions {
            timestamps: req.timestamps,
            tail_lines: req.tail_lines,
            since,
            limit_bytes: req.limit_bytes,
        };
        let path = logs::file(&dir, start);
        let read = {
            let (path, options) = (path.clone(), options.clone());
            tokio::task::spawn_blocking(move || logs::read(&path, &options)).await
        };
        let (text, mut offset) = match read {
            Ok(Ok(found)) => found,
            Ok(Err(e)) => return refuse(io, 500, e.to_string()).await,
            Err(e) => return refuse(io, 500, e.to_string()).await,
        };
        kubelet::write_message(io, &Reply::Ok).await?;
        let mut left = req.limit_bytes.unwrap_or(u64::MAX);
        left = left.saturating_sub(text.len() as u64);
        io.write_all(&text).await?;
        if !req.follow || req.previous {
            return Ok(());
        }
        // Follow: poll the file (a quarter second apart) until the container ends, a newer
        // start begins, or the reader goes away.
        let options = ReadOptions { tail_lines: None, limit_bytes: None, ..options };
        let done = logs::done_marker(&dir, start);
        while left > 0 {
            let finished = done.exists() || logs::starts(&dir).last().is_some_and(|s| *s > start);
            let (more, next) =
                logs::read_from(&path, offset, &options).unwrap_or((Vec::new(), offset));
            offset = next;
            if !more.is_empty() {
                let n = more.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                io.write_all(&more[..n]).await?;
                io.flush().await?;
                left -= n as u64;
            }
            if finished || !dir.exists() {
                break;
            }
            tokio::time::sleep(FOLLOW_POLL).await;
        }
        Ok(())
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

async fn refuse(
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
            actors: ActorTree::new(),
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
