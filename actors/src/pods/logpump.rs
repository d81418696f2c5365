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

/// How long a pump waits for its feeder after the container exits.
const FEEDER_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Stops a running pump (dropping it stops it too, without draining).
#[derive(Debug)]
pub struct LogPump {
    stop: Option<oneshot::Sender<()>>,
    drained: Option<oneshot::Receiver<()>>,
}

/// Resolves when a pump has drained its pipes (or stopped): the next start of the container
/// writes into the same FIFOs, so it waits for this, lest its first lines land in the last
/// start's log.
pub type Drained = oneshot::Receiver<()>;

impl LogPump {
    /// The container ended: drain the pipes, then finish the log.
    pub fn exited(mut self) -> Option<Drained> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.drained.take()
    }
}

/// Start pumping `readers` (stdout, stderr FIFOs opened read-write) into start `restart`'s log
/// in `dir`. `feeder`: something else writing into them (a terminal's copier) ends when this
/// resolves; after the container exits, the pump reads on until it does (at most `FEEDER_WAIT`).
/// Must run inside the actor system (tokio reactor).
pub fn start(
    readers: (File, File),
    dir: PathBuf,
    restart: u32,
    feeder: Option<oneshot::Receiver<()>>,
) -> std::io::Result<LogPump> {
    let out = Receiver::from_file(readers.0)?;
    let err = Receiver::from_file(readers.1)?;
    let writer = Writer::open(&dir, restart).map_err(std::io::Error::other)?;
    let (stop, stopped) = oneshot::channel();
    let (drained_tx, drained) = oneshot::channel();
    let marker = logs::done_marker(&dir, restart);
    let _ = std::fs::remove_file(&marker);
    actix::spawn(async move {
        let _drained = drained_tx; // dropped, so resolving `drained`, when this ends
        if !pump(out, err, writer, stopped, feeder).await {
            return;
        }
        if let Err(e) = std::fs::write(&marker, b"") {
            tracing::debug!(path = %marker.display(), error = %e, "cannot mark the log complete");
        }
    });
    Ok(LogPump { stop: Some(stop), drained: Some(drained) })
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
    feeder: Option<oneshot::Receiver<()>>,
) -> bool {
    let (mut out, mut err) = (Side::new(out, Stream::Stdout), Side::new(err, Stream::Stderr));
    let mut exited = false;
    let feeding = feeder.is_some();
    let fed = async {
        match feeder {
            Some(f) => {
                let _ = f.await;
            }
            None => std::future::pending::<()>().await,
        }
    };
    tokio::pin!(fed);
    let deadline = tokio::time::sleep(FEEDER_WAIT);
    tokio::pin!(deadline);
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
            stop = &mut stopped, if !exited => {
                if stop.is_err() {
                    return false; // dropped: the agent is going away; the pipes keep the rest
                }
                if !feeding {
                    break;
                }
                exited = true;
                deadline.as_mut().reset(tokio::time::Instant::now() + FEEDER_WAIT);
            }
            _ = &mut fed, if exited => break,
            _ = &mut deadline, if exited => break,
        }
    }
    out.drain(&mut writer);
    err.drain(&mut writer);
    true
}
