//! `Request::Attach`: a running container's output from now on, as remote-command channel
//! frames, until the container ends, and with `-i` its stdin. Output comes from its CRI log
//! (the container's stdio are pipes the agent drains, so the log is where it goes); stdin goes
//! into the FIFO the container reads (`crate::stdin`), for containers started with
//! `stdin: true`: a FIFO, or the master of the container's terminal (`tty: true`), whose size
//! then follows the client's.

use std::os::fd::AsFd;
use std::path::Path;

use k3rs_agent::logs::{self, Stream};
use k3rs_api::podlog::{ExecEnd, exec_status};
use k3rs_net::kubelet::{self, ExecRequest, ProtocolError, Reply, channel};
use tokio::io::{AsyncWriteExt, DuplexStream};

use super::exec::{run_until, window};
use super::logs::Tail;
use super::refuse;
use crate::stdin::StdinHolders;

/// Where an attach's stdin goes: a FIFO, written without blocking a thread (a container that
/// never reads cannot hold one up past the session), or a terminal's master.
enum Input {
    Fifo(tokio::net::unix::pipe::Sender),
    Terminal(tokio::fs::File),
}

impl Input {
    fn of(file: std::fs::File) -> Input {
        use std::os::unix::fs::FileTypeExt;
        let fifo = file.metadata().is_ok_and(|m| m.file_type().is_fifo());
        match fifo.then(|| file.try_clone().map(tokio::net::unix::pipe::Sender::from_file)) {
            Some(Ok(Ok(sender))) => Input::Fifo(sender),
            _ => Input::Terminal(tokio::fs::File::from_std(file)),
        }
    }

    async fn write(&mut self, data: &[u8]) -> std::io::Result<()> {
        match self {
            Input::Fifo(s) => s.write_all(data).await,
            Input::Terminal(f) => {
                f.write_all(data).await?;
                f.flush().await
            }
        }
    }

    fn terminal(&self) -> Option<&tokio::fs::File> {
        match self {
            Input::Terminal(f) => Some(f),
            Input::Fifo(_) => None,
        }
    }
}

pub(super) async fn attach(
    logs_dir: &Path,
    holders: &StdinHolders,
    io: &mut DuplexStream,
    req: ExecRequest,
) -> Result<(), ProtocolError> {
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
    // Asked only with -i: taking a stdinOnce container's stdin uses it up.
    let stdin = match req.stdin.then(|| holders.writer(&dir)) {
        None => None,
        Some(Some(w)) => Some(Input::of(w)),
        Some(None) => {
            let message = format!(
                "container {} takes no stdin: it was not started with stdin: true, or its one \
                 attach (stdinOnce) has been",
                req.container
            );
            return refuse(io, 400, message).await;
        }
    };
    // From the end: attach shows what comes next.
    let offset = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    kubelet::write_message(io, &Reply::Ok).await?;
    let (mut from_server, mut to_server) = tokio::io::split(io);
    kubelet::write_frame(&mut to_server, channel::STDOUT, &[]).await?;
    let input = async {
        let mut stdin = stdin;
        while let Ok(Some((ch, data))) = kubelet::read_frame(&mut from_server).await {
            match ch {
                channel::STDIN => {
                    if let Some(w) = stdin.as_mut()
                        && w.write(&data).await.is_err()
                    {
                        stdin = None;
                    }
                }
                // The client's stdin ended: so does the container's (under stdinOnce, this
                // was its last writer).
                channel::CLOSE if data.first() == Some(&channel::STDIN) => stdin = None,
                // A container with a terminal: its size follows the client's.
                channel::RESIZE => {
                    if let (Some(w), Some(size)) =
                        (stdin.as_ref().and_then(Input::terminal), window(&data))
                    {
                        let _ = rustix::termios::tcsetwinsize(w.as_fd(), size);
                    }
                }
                _ => {}
            }
        }
        drop(stdin);
    };
    let output = async {
        let mut tail = Tail { dir, start, path, offset };
        while let Some(pieces) = tail.next(logs::output_from).await {
            for (stream, bytes) in pieces {
                let ch = match stream {
                    Stream::Stderr if req.stderr && !req.tty => channel::STDERR,
                    _ if req.stdout => channel::STDOUT,
                    _ => continue,
                };
                kubelet::write_frame(&mut to_server, ch, &bytes).await?;
            }
        }
        let status = exec_status(&[], &ExecEnd::Exited(0)).to_string();
        kubelet::write_frame(&mut to_server, channel::ERROR, status.as_bytes()).await?;
        to_server.shutdown().await?;
        Ok::<(), ProtocolError>(())
    };
    run_until(output, input).await
}
