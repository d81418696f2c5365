//! `Request::Attach`: a running container's output from now on, as remote-command channel
//! frames, until the container ends. Output comes from its CRI log (the container's stdio are
//! pipes the agent drains, so the log is where it goes); stdin is not offered, as containers
//! run with it closed.

use std::path::Path;

use k3rs_agent::logs::{self, Stream};
use k3rs_api::podlog::{ExecEnd, exec_status};
use k3rs_net::kubelet::{self, ExecRequest, ProtocolError, Reply, channel};
use tokio::io::{AsyncWriteExt, DuplexStream};

use super::logs::Tail;
use super::refuse;

pub(super) async fn attach(
    logs_dir: &Path,
    io: &mut DuplexStream,
    req: ExecRequest,
) -> Result<(), ProtocolError> {
    if req.stdin {
        let message = format!(
            "container {} does not accept stdin: k3rs containers run with it closed",
            req.container
        );
        return refuse(io, 400, message).await;
    }
    let dir = logs::container_dir(logs_dir, &req.namespace, &req.pod, &req.uid, &req.container);
    let Some(&start) = logs::starts(&dir).last() else {
        let message =
            format!("container {:?} in pod {:?} is waiting to start", req.container, req.pod);
        return refuse(io, 400, message).await;
    };
    let (path, done) = (logs::file(&dir, start), logs::done_marker(&dir, start));
    if done.exists() {
        return refuse(io, 400, "cannot attach to a container that has ended".to_owned()).await;
    }
    // From the end: attach shows what comes next.
    let offset = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    kubelet::write_message(io, &Reply::Ok).await?;
    kubelet::write_frame(io, channel::STDOUT, &[]).await?;
    let mut tail = Tail { dir, start, path, offset };
    while let Some(pieces) = tail.next(logs::output_from).await {
        for (stream, bytes) in pieces {
            let ch = match stream {
                Stream::Stderr if req.stderr && !req.tty => channel::STDERR,
                _ if req.stdout => channel::STDOUT,
                _ => continue,
            };
            kubelet::write_frame(io, ch, &bytes).await?;
        }
    }
    let status = exec_status(&[], &ExecEnd::Exited(0)).to_string();
    kubelet::write_frame(io, channel::ERROR, status.as_bytes()).await?;
    io.shutdown().await?;
    Ok(())
}
