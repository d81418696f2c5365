//! A container's output into its CRI log file. The container writes to two FIFOs it holds
//! open read-write (so it never meets a pipe without readers, even while no agent runs); the
//! pump reads them and appends CRI lines through `k3rs_agent::logs::Writer`. It ends when told
//! the container exited, after draining what the pipes still hold, and then marks the log
//! complete so `kubectl logs -f` stops.

use std::fs::File;
use std::path::PathBuf;

use k3rs_agent::logs::{self, Lines, Stream, Writer};
use tokio::io::AsyncReadExt;
use tokio::net::unix::pipe::Receiver;
use tokio::sync::oneshot;

/// Stops a running pump (dropping it stops it too, without draining).
#[derive(Debug)]
pub struct LogPump {
    stop: Option<oneshot::Sender<()>>,
}

impl LogPump {
    /// The container ended: drain the pipes, then finish the log.
    pub fn exited(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Start pumping `readers` (stdout, stderr FIFOs opened read-write) into start `restart`'s log
/// in `dir`. Must run inside the actor system (tokio reactor).
pub fn start(readers: (File, File), dir: PathBuf, restart: u32) -> std::io::Result<LogPump> {
    let out = Receiver::from_file(readers.0)?;
    let err = Receiver::from_file(readers.1)?;
    let writer = Writer::open(&dir, restart).map_err(std::io::Error::other)?;
    let (stop, stopped) = oneshot::channel();
    let marker = logs::done_marker(&dir, restart);
    let _ = std::fs::remove_file(&marker);
    actix::spawn(async move {
        if !pump(out, err, writer, stopped).await {
            return;
        }
        if let Err(e) = std::fs::write(&marker, b"") {
            tracing::debug!(path = %marker.display(), error = %e, "cannot mark the log complete");
        }
    });
    Ok(LogPump { stop: Some(stop) })
}

/// Opens a FIFO read-write (creating it if missing): the container's end and the pump's.
pub fn open_fifo(path: &std::path::Path) -> std::io::Result<File> {
    if !path.exists() {
        rustix::fs::mknodat(
            rustix::fs::CWD,
            path,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )?;
    }
    std::fs::OpenOptions::new().read(true).write(true).open(path)
}

struct Side {
    pipe: Receiver,
    stream: Stream,
    lines: Lines,
    buf: Vec<u8>,
}

impl Side {
    fn new(pipe: Receiver, stream: Stream) -> Self {
        Side { pipe, stream, lines: Lines::default(), buf: vec![0; 64 * 1024] }
    }

    fn write(&mut self, writer: &mut Writer, n: usize) {
        for (partial, line) in self.lines.push(&self.buf[..n]) {
            if let Err(e) = writer.write(self.stream, partial, &line) {
                tracing::warn!(error = %e, "container log not written");
            }
        }
    }

    /// Reads what is buffered now, without waiting.
    fn drain(&mut self, writer: &mut Writer) {
        loop {
            match self.pipe.try_read(&mut self.buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => self.write(writer, n),
            }
        }
        if let Some((partial, line)) = self.lines.finish() {
            let _ = writer.write(self.stream, partial, &line);
        }
    }
}

/// Pumps until the container ends (true) or the pump is dropped (false).
async fn pump(
    out: Receiver,
    err: Receiver,
    mut writer: Writer,
    mut stopped: oneshot::Receiver<()>,
) -> bool {
    let (mut out, mut err) = (Side::new(out, Stream::Stdout), Side::new(err, Stream::Stderr));
    loop {
        tokio::select! {
            r = out.pipe.read(&mut out.buf) => match r {
                Ok(n) if n > 0 => out.write(&mut writer, n),
                _ => break,
            },
            r = err.pipe.read(&mut err.buf) => match r {
                Ok(n) if n > 0 => err.write(&mut writer, n),
                _ => break,
            },
            stop = &mut stopped => {
                if stop.is_err() {
                    return false; // dropped: the agent is going away; the pipes keep the rest
                }
                break;
            }
        }
    }
    out.drain(&mut writer);
    err.drain(&mut writer);
    true
}
