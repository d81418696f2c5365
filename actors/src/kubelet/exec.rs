//! `Request::Exec`: a command run in a container through the runtime (`runc exec`), its stdio
//! carried as channel frames (`k3rs_net::kubelet::channel`). Without a terminal, runc runs in
//! the foreground with pipes; with one, runc detaches and hands the terminal's master over a
//! console socket, and the process (reparented to the agent) is waited for by pid.

use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use k3rs_agent::runtime::{Runtime, container_id};
use k3rs_api::podlog::{ExecEnd, exec_status};
use k3rs_net::kubelet::{self, ExecRequest, ProtocolError, Reply, channel};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream};
use tokio::sync::mpsc;

use super::refuse;

/// How long runc may take to hand over a terminal.
const CONSOLE_TIMEOUT: Duration = Duration::from_secs(10);

type Frames = mpsc::Sender<(u8, Vec<u8>)>;

/// A scratch directory for one exec (runc's log, the console socket), removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> std::io::Result<Scratch> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("k3rs-exec-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        Ok(Scratch(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub(super) async fn exec(
    runtime: &Runtime,
    io: &mut DuplexStream,
    req: ExecRequest,
) -> Result<(), ProtocolError> {
    if req.command.is_empty() {
        let message = "you must specify at least one command for the container".to_owned();
        return refuse(io, 400, message).await;
    }
    let id = container_id(&req.uid, &req.container);
    let running = {
        let (rt, id) = (runtime.clone(), id.clone());
        tokio::task::spawn_blocking(move || rt.running(&id)).await.ok().flatten()
    };
    if running.is_none() {
        return refuse(io, 404, format!("container not found ({:?})", req.container)).await;
    }
    let scratch = match Scratch::new() {
        Ok(s) => s,
        Err(e) => return refuse(io, 500, format!("preparing the exec: {e}")).await,
    };
    if req.tty {
        terminal(runtime, &id, &scratch.0, io, req).await
    } else {
        pipes(runtime, &id, &scratch.0, io, req).await
    }
}

/// Without a terminal: runc in the foreground, stdio piped.
async fn pipes(
    runtime: &Runtime,
    id: &str,
    scratch: &Path,
    io: &mut DuplexStream,
    req: ExecRequest,
) -> Result<(), ProtocolError> {
    let log = scratch.join("runc.log");
    let mut command =
        tokio::process::Command::from(runtime.exec_command(id, &req.command, &log, None));
    command
        .stdin(if req.stdin { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = match command.spawn() {
        Ok(c) => c,
        Err(e) => return refuse(io, 500, format!("{}: {e}", runtime.binary.display())).await,
    };
    kubelet::write_message(io, &Reply::Ok).await?;
    let (mut from_server, to_server) = tokio::io::split(io);
    let (tx, rx) = mpsc::channel(16);
    let _ = tx.send((channel::STDOUT, Vec::new())).await;
    let out = copy_out(child.stdout.take(), channel::STDOUT, tx.clone());
    let err = copy_out(child.stderr.take(), channel::STDERR, tx.clone());
    drop(tx);
    let mut stdin = child.stdin.take();
    let input = async {
        while let Ok(Some((ch, data))) = kubelet::read_frame(&mut from_server).await {
            match ch {
                channel::STDIN => {
                    if let Some(w) = stdin.as_mut()
                        && w.write_all(&data).await.is_err()
                    {
                        stdin = None;
                    }
                }
                channel::CLOSE if data.first() == Some(&channel::STDIN) => stdin = None,
                _ => {}
            }
        }
        stdin = None;
    };
    let output = async { tokio::join!(out, err, write_frames(rx, to_server)).2 };
    let mut to_server = run_until(output, input).await;
    let code = child.wait().await.ok().and_then(|s| s.code()).unwrap_or(255);
    finish(&mut to_server, &req.command, end(code, &log)).await
}

/// With a terminal: runc detaches and sends the terminal's master to a console socket.
async fn terminal(
    runtime: &Runtime,
    id: &str,
    scratch: &Path,
    io: &mut DuplexStream,
    req: ExecRequest,
) -> Result<(), ProtocolError> {
    let (log, socket, pid_file) =
        (scratch.join("runc.log"), scratch.join("console.sock"), scratch.join("exec.pid"));
    let listener = match tokio::net::UnixListener::bind(&socket) {
        Ok(l) => l,
        Err(e) => return refuse(io, 500, format!("console socket: {e}")).await,
    };
    let std_command = runtime.exec_command(id, &req.command, &log, Some((&socket, &pid_file)));
    let mut runc = tokio::process::Command::from(std_command);
    runc.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).kill_on_drop(true);
    let mut runc = match runc.spawn() {
        Ok(c) => c,
        Err(e) => return refuse(io, 500, format!("{}: {e}", runtime.binary.display())).await,
    };
    let accepted = tokio::time::timeout(CONSOLE_TIMEOUT, async {
        tokio::select! {
            accepted = listener.accept() => accepted.ok().map(|(s, _)| s),
            _ = runc.wait() => None,
        }
    })
    .await
    .ok()
    .flatten();
    let master = match accepted {
        Some(stream) => receive_fd(stream).await,
        None => None,
    };
    let Some(master) = master else {
        let _ = runc.wait().await;
        return match end(255, &log) {
            ExecEnd::Failed(message) => {
                refuse(io, 500, format!("OCI runtime exec failed: {message}")).await
            }
            ExecEnd::Exited(_) => refuse(io, 500, "the runtime gave no terminal".to_owned()).await,
        };
    };
    let _ = runc.wait().await;
    let pid = std::fs::read_to_string(&pid_file).ok().and_then(|p| p.trim().parse::<u32>().ok());
    kubelet::write_message(io, &Reply::Ok).await?;
    let (mut from_server, to_server) = tokio::io::split(io);
    let (tx, rx) = mpsc::channel(16);
    let _ = tx.send((channel::STDOUT, Vec::new())).await;
    let size_fd = master.try_clone().ok();
    let master = std::fs::File::from(master);
    let reader = master.try_clone().ok().map(tokio::fs::File::from_std);
    let mut writer = Some(tokio::fs::File::from_std(master));
    let out = copy_out(reader, channel::STDOUT, tx);
    let input = async {
        while let Ok(Some((ch, data))) = kubelet::read_frame(&mut from_server).await {
            match ch {
                channel::STDIN => {
                    if let Some(w) = writer.as_mut()
                        && (w.write_all(&data).await.is_err() || w.flush().await.is_err())
                    {
                        writer = None;
                    }
                }
                channel::RESIZE => {
                    if let (Some(fd), Some(size)) = (&size_fd, window(&data)) {
                        let _ = rustix::termios::tcsetwinsize(fd.as_fd(), size);
                    }
                }
                _ => {}
            }
        }
    };
    let output = async { tokio::join!(out, write_frames(rx, to_server)).1 };
    let mut to_server = run_until(output, input).await;
    let code = match pid {
        Some(pid) => crate::reap::wait_for_exit(pid).await.unwrap_or(255),
        None => 255,
    };
    finish(&mut to_server, &req.command, end(code, &log)).await
}

/// Drives `output` to its end while serving `input` alongside (input may end first: stdin
/// closed; or never: a client that keeps it open).
pub(super) async fn run_until<O: std::future::Future>(
    output: O,
    input: impl std::future::Future,
) -> O::Output {
    tokio::pin!(output, input);
    let mut input_done = false;
    loop {
        tokio::select! {
            out = &mut output => return out,
            _ = &mut input, if !input_done => input_done = true,
        }
    }
}

/// Copies a child's output into frames on `channel` until it ends.
async fn copy_out(source: Option<impl AsyncRead + Unpin>, ch: u8, frames: Frames) {
    let Some(mut source) = source else { return };
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        match source.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if frames.send((ch, buf[..n].to_vec())).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// Writes queued frames to the server until every sender is gone; returns the writer.
async fn write_frames<W: AsyncWrite + Unpin>(
    mut frames: mpsc::Receiver<(u8, Vec<u8>)>,
    mut w: W,
) -> W {
    while let Some((ch, data)) = frames.recv().await {
        if kubelet::write_frame(&mut w, ch, &data).await.is_err() {
            break;
        }
    }
    w
}

/// The status frame, then the end of the stream.
async fn finish<W: AsyncWrite + Unpin>(
    w: &mut W,
    command: &[String],
    end: ExecEnd,
) -> Result<(), ProtocolError> {
    let status = exec_status(command, &end).to_string();
    kubelet::write_frame(w, channel::ERROR, status.as_bytes()).await?;
    w.shutdown().await?;
    Ok(())
}

/// How the command ended: runc's own error (in its log) when it could not run it, else the
/// exit code.
fn end(code: i32, log: &Path) -> ExecEnd {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    match text.lines().rev().find(|l| l.contains("level=error")) {
        Some(line) => ExecEnd::Failed(k3rs_agent::runtime::runtime_message(line)),
        None => ExecEnd::Exited(code),
    }
}

/// `{"Width":W,"Height":H}` from the resize channel.
pub(super) fn window(data: &[u8]) -> Option<rustix::termios::Winsize> {
    let v: serde_json::Value = serde_json::from_slice(data).ok()?;
    Some(rustix::termios::Winsize {
        ws_col: u16::try_from(v["Width"].as_u64()?).ok()?,
        ws_row: u16::try_from(v["Height"].as_u64()?).ok()?,
        ws_xpixel: 0,
        ws_ypixel: 0,
    })
}

/// The file descriptor runc sends over the console socket (SCM_RIGHTS).
async fn receive_fd(stream: tokio::net::UnixStream) -> Option<OwnedFd> {
    let stream = stream.into_std().ok()?;
    stream.set_nonblocking(false).ok()?;
    let _ = stream.set_read_timeout(Some(CONSOLE_TIMEOUT));
    tokio::task::spawn_blocking(move || k3rs_agent::runtime::receive_console(&stream))
        .await
        .ok()
        .flatten()
}
