//! `Request::Logs`: a container's CRI log file read as `kubectl logs` asks, and followed.

use std::path::Path;
use std::time::Duration;

use k3rs_agent::logs::{self, ReadOptions};
use k3rs_net::kubelet::{self, LogRequest, Reply};
use time::OffsetDateTime;
use tokio::io::{AsyncWriteExt, DuplexStream};

use super::refuse;

/// How often a followed log is checked for more.
const FOLLOW_POLL: Duration = Duration::from_millis(250);

/// A container's log, as `kubectl logs` asks: the current start's file (or the previous
/// start's), then, when following, what is appended until the container ends.
pub(super) async fn logs(
    logs_dir: &Path,
    io: &mut DuplexStream,
    req: LogRequest,
) -> Result<(), kubelet::ProtocolError> {
    let dir = logs::container_dir(logs_dir, &req.namespace, &req.pod, &req.uid, &req.container);
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
        let (more, next) = logs::read_from(&path, offset, &options).unwrap_or((Vec::new(), offset));
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
