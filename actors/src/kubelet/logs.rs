//! `Request::Logs`: a container's CRI log file read as `kubectl logs` asks, and followed.

use std::path::{Path, PathBuf};
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
    let (text, offset) = match read {
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
    // Follow until the container ends, a newer start begins, or the reader goes away.
    let options = ReadOptions { tail_lines: None, limit_bytes: None, ..options };
    let mut tail = Tail { dir, start, path, offset };
    while left > 0
        && let Some(more) = tail.next(|path, at| logs::read_from(path, at, &options)).await
    {
        let n = more.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        io.write_all(&more[..n]).await?;
        io.flush().await?;
        left -= n as u64;
    }
    Ok(())
}

/// A start's log followed from an offset: what `logs -f` and `attach` read.
pub(super) struct Tail {
    pub dir: PathBuf,
    pub start: u32,
    pub path: PathBuf,
    pub offset: u64,
}

impl Tail {
    /// The next non-empty piece `read` finds after the offset, looking again every
    /// `FOLLOW_POLL` (the pump gives no signal); `None` once the start has ended (its
    /// container stopped, a newer start began, or the pod's logs are gone) and all is read.
    pub async fn next<T>(
        &mut self,
        read: impl Fn(&Path, u64) -> Result<(Vec<T>, u64), k3rs_agent::AgentError>,
    ) -> Option<Vec<T>> {
        let done = logs::done_marker(&self.dir, self.start);
        loop {
            let ended = done.exists()
                || !self.dir.exists()
                || logs::starts(&self.dir).last().is_some_and(|s| *s > self.start);
            let (more, next) = read(&self.path, self.offset).unwrap_or((Vec::new(), self.offset));
            self.offset = next;
            if !more.is_empty() {
                return Some(more);
            }
            if ended {
                return None;
            }
            tokio::time::sleep(FOLLOW_POLL).await;
        }
    }
}
