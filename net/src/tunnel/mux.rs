//! The transport-agnostic stream multiplexer: many byte streams over one sequence of frames.
//!
//! A [`Mux`] is fed the frames its transport receives ([`Mux::receive`]) and hands the frames
//! to send through [`Outgoing`], which the transport drains. The opening side calls
//! [`Mux::open`] and gets a [`Stream`] (tokio `AsyncRead + AsyncWrite`); the other side answers
//! each Connect through its [`Acceptor`] and splices the stream to what the acceptor dialed, or
//! closes it with the acceptor's error text.
//!
//! Flow control is per stream. Received data waits in the stream's buffer until read; when a
//! buffer holds more than [`MuxConfig::pause_above`] bytes the receiver sends Pause, and when a
//! read drains it below [`MuxConfig::resume_below`] it sends Resume. A paused stream's writer
//! waits; other streams go on. Stream data shares one bounded send queue (backpressure from the
//! transport); control frames (Pause, Resume, resets, Pong) go in an unbounded queue that the
//! transport drains first, so they never wait behind data.
//!
//! Stream ids are allocated by the opener: odd on the [`Side::Server`], even on the
//! [`Side::Agent`], so both sides may open streams without colliding.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::Waker;

use bytes::Bytes;
use thiserror::Error;
use tokio::sync::mpsc;
use tokio_util::sync::{CancellationToken, PollSender};
use tracing::{debug, warn};

use super::frame::{Frame, MAX_TARGET, StreamId};
use super::stream::Stream;
use super::target::{AcceptError, Acceptor};

/// Which end of the tunnel a mux is; decides the parity of the stream ids it allocates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The server: opens streams with odd ids.
    Server,
    /// The agent: opens streams with even ids.
    Agent,
}

impl Side {
    fn first_id(self) -> StreamId {
        match self {
            Side::Server => 1,
            Side::Agent => 2,
        }
    }

    fn owns(self, id: StreamId) -> bool {
        (id % 2 == 1) == (self == Side::Server)
    }
}

/// Buffer limits.
#[derive(Debug, Clone)]
pub struct MuxConfig {
    /// Send Pause when a stream's unread bytes exceed this (2 MiB, as K3s).
    pub pause_above: usize,
    /// Send Resume when a paused stream's unread bytes drop below this (256 KiB, as K3s).
    pub resume_below: usize,
    /// Reset a stream whose peer keeps sending this far past a Pause.
    pub abort_above: usize,
    /// Data frames queued for the transport before writers wait.
    pub send_queue: usize,
}

impl Default for MuxConfig {
    fn default() -> Self {
        MuxConfig {
            pause_above: 2 * 1024 * 1024,
            resume_below: 256 * 1024,
            abort_above: 32 * 1024 * 1024,
            send_queue: 32,
        }
    }
}

/// Errors of the mux and its streams.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum MuxError {
    #[error("tunnel closed: {reason}")]
    Closed { reason: String },
    #[error("tunnel stream {stream} to {target:?} failed: {reason}")]
    StreamFailed { stream: StreamId, target: String, reason: String },
    #[error("tunnel target of {len} bytes exceeds {MAX_TARGET}")]
    TargetTooLong { len: usize },
    #[error("tunnel peer opened stream {stream}, whose id is not its to allocate or in use")]
    BadStreamId { stream: StreamId },
}

pub type Result<T, E = MuxError> = std::result::Result<T, E>;

/// Counters for `/admin/tunnels`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MuxStats {
    pub open_streams: usize,
    /// Streams whose writes the peer has paused.
    pub paused_streams: usize,
    pub bytes_in: u64,
    pub bytes_out: u64,
}

/// Handle on one tunnel's multiplexer; cheap to clone.
#[derive(Clone)]
pub struct Mux {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Mux {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mux")
            .field("side", &self.shared.side)
            .field("stats", &self.stats())
            .finish()
    }
}

/// The frames a mux wants sent, for its transport to drain.
#[derive(Debug)]
pub struct Outgoing {
    control: mpsc::UnboundedReceiver<Frame>,
    data: mpsc::Receiver<Frame>,
    closed: CancellationToken,
}

impl Outgoing {
    /// The next frame to send, control frames first; `None` once the mux is closed.
    pub async fn next(&mut self) -> Option<Frame> {
        tokio::select! {
            biased;
            () = self.closed.cancelled() => None,
            Some(frame) = self.control.recv() => Some(frame),
            Some(frame) = self.data.recv() => Some(frame),
            else => None,
        }
    }
}

pub(super) struct Shared {
    side: Side,
    pub(super) config: MuxConfig,
    state: Mutex<State>,
    pub(super) data_tx: mpsc::Sender<Frame>,
    control_tx: mpsc::UnboundedSender<Frame>,
    closed: CancellationToken,
    acceptor: Option<Arc<dyn Acceptor>>,
    pub(super) bytes_in: AtomicU64,
    pub(super) bytes_out: AtomicU64,
}

pub(super) struct State {
    next_id: StreamId,
    pub(super) streams: HashMap<StreamId, Slot>,
    closed: Option<String>,
}

/// One stream's state, shared by its [`Stream`] handle and the receiving path.
#[derive(Default)]
pub(super) struct Slot {
    pub(super) target: String,
    /// Received, unread data.
    pub(super) recv: VecDeque<Bytes>,
    pub(super) buffered: usize,
    /// We sent Pause and owe the peer a Resume.
    pub(super) paused_peer: bool,
    /// The peer sent its clean Close: reads end after the buffer.
    pub(super) peer_eof: bool,
    /// The peer sent Pause: our writes wait.
    pub(super) write_paused: bool,
    /// We sent our clean Close.
    pub(super) eof_sent: bool,
    /// The stream failed; reads and writes return this.
    pub(super) failed: Option<String>,
    pub(super) read_waker: Option<Waker>,
    pub(super) write_waker: Option<Waker>,
}

impl Slot {
    fn new(target: &str) -> Self {
        Slot { target: target.to_owned(), ..Slot::default() }
    }

    fn wake(&mut self) {
        if let Some(waker) = self.read_waker.take() {
            waker.wake();
        }
        if let Some(waker) = self.write_waker.take() {
            waker.wake();
        }
    }

    fn fail(&mut self, reason: String) {
        if self.failed.is_none() {
            self.failed = Some(reason);
        }
        self.recv.clear();
        self.buffered = 0;
        self.wake();
    }
}

impl Shared {
    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain data behind; the state stays usable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues a control frame; dropped silently once the transport is gone.
    pub(super) fn send_control(&self, frame: Frame) {
        let _ = self.control_tx.send(frame);
    }

    pub(super) fn closed_reason(&self) -> Option<String> {
        self.lock().closed.clone()
    }
}

impl Mux {
    /// A mux for `side`. `acceptor` answers inbound Connects; `None` refuses them all.
    pub fn new(
        side: Side,
        config: MuxConfig,
        acceptor: Option<Arc<dyn Acceptor>>,
    ) -> (Mux, Outgoing) {
        let (data_tx, data) = mpsc::channel(config.send_queue.max(1));
        let (control_tx, control) = mpsc::unbounded_channel();
        let closed = CancellationToken::new();
        let shared = Arc::new(Shared {
            side,
            config,
            state: Mutex::new(State {
                next_id: side.first_id(),
                streams: HashMap::new(),
                closed: None,
            }),
            data_tx,
            control_tx,
            closed: closed.clone(),
            acceptor,
            bytes_in: AtomicU64::new(0),
            bytes_out: AtomicU64::new(0),
        });
        let outgoing = Outgoing { control, data, closed };
        (Mux { shared }, outgoing)
    }

    pub fn side(&self) -> Side {
        self.shared.side
    }

    /// Opens a stream to `target` (`tcp/<ip>:<port>`) on the other side. The peer does not
    /// acknowledge: a refused or failed dial shows as an error on the stream's first read or
    /// write after the peer's Close arrives.
    pub async fn open(&self, target: &str) -> Result<Stream> {
        if target.len() > MAX_TARGET {
            return Err(MuxError::TargetTooLong { len: target.len() });
        }
        let id = {
            let mut state = self.shared.lock();
            if let Some(reason) = &state.closed {
                return Err(MuxError::Closed { reason: reason.clone() });
            }
            let id = state.next_id;
            state.next_id += 2;
            state.streams.insert(id, Slot::new(target));
            id
        };
        // From here on the handle owns the slot: dropping it (or this future) releases it.
        let stream = Stream::new(id, self.shared.clone());
        let connect = Frame::Connect { stream: id, target: target.to_owned() };
        if self.shared.data_tx.send(connect).await.is_err() {
            return Err(self.closed_error());
        }
        debug!(stream = id, target, "tunnel stream opened");
        Ok(stream)
    }

    /// Handles one frame from the transport. An error is a protocol violation: the transport
    /// should end, and then call [`Mux::close`].
    pub fn receive(&self, frame: Frame) -> Result<()> {
        match frame {
            Frame::Connect { stream, target } => self.accept(stream, target),
            Frame::Data { stream, data } => {
                self.shared.bytes_in.fetch_add(data.len() as u64, Ordering::Relaxed);
                self.on_data(stream, data);
                Ok(())
            }
            Frame::Close { stream, error } => {
                let mut state = self.shared.lock();
                if let Some(slot) = state.streams.get_mut(&stream) {
                    match error {
                        None => {
                            slot.peer_eof = true;
                            slot.wake();
                        }
                        Some(reason) => slot.fail(reason),
                    }
                }
                Ok(())
            }
            Frame::Pause { stream } => {
                if let Some(slot) = self.shared.lock().streams.get_mut(&stream) {
                    slot.write_paused = true;
                }
                Ok(())
            }
            Frame::Resume { stream } => {
                if let Some(slot) = self.shared.lock().streams.get_mut(&stream) {
                    slot.write_paused = false;
                    if let Some(waker) = slot.write_waker.take() {
                        waker.wake();
                    }
                }
                Ok(())
            }
            Frame::Ping { nonce } => {
                self.shared.send_control(Frame::Pong { nonce });
                Ok(())
            }
            Frame::Pong { .. } => Ok(()),
        }
    }

    /// Queues a keepalive Ping, for transports without their own.
    pub fn ping(&self, nonce: u64) {
        self.shared.send_control(Frame::Ping { nonce });
    }

    /// Ends the tunnel: every stream fails with `reason`, opens fail, [`Outgoing::next`] ends.
    /// Called by the transport when it ends; repeated calls keep the first reason.
    pub fn close(&self, reason: &str) {
        let mut state = self.shared.lock();
        if state.closed.is_none() {
            state.closed = Some(reason.to_owned());
            for slot in state.streams.values_mut() {
                slot.fail(format!("tunnel closed: {reason}"));
            }
            debug!(reason, streams = state.streams.len(), "tunnel mux closed");
        }
        drop(state);
        self.shared.closed.cancel();
    }

    pub fn is_closed(&self) -> bool {
        self.shared.closed.is_cancelled()
    }

    pub fn stats(&self) -> MuxStats {
        let state = self.shared.lock();
        MuxStats {
            open_streams: state.streams.len(),
            paused_streams: state.streams.values().filter(|s| s.write_paused).count(),
            bytes_in: self.shared.bytes_in.load(Ordering::Relaxed),
            bytes_out: self.shared.bytes_out.load(Ordering::Relaxed),
        }
    }

    fn closed_error(&self) -> MuxError {
        MuxError::Closed {
            reason: self.shared.closed_reason().unwrap_or_else(|| "transport gone".to_owned()),
        }
    }

    fn on_data(&self, stream: StreamId, data: Bytes) {
        let config = &self.shared.config;
        let mut state = self.shared.lock();
        // Data for a stream we already dropped or failed is discarded.
        let Some(slot) = state.streams.get_mut(&stream) else {
            return;
        };
        if slot.failed.is_some() || slot.peer_eof {
            return;
        }
        slot.buffered += data.len();
        slot.recv.push_back(data);
        if let Some(waker) = slot.read_waker.take() {
            waker.wake();
        }
        if slot.buffered > config.abort_above {
            let reason = format!(
                "peer sent {} bytes past a pause on tunnel stream {stream}",
                slot.buffered - config.pause_above
            );
            warn!(stream, "{reason}");
            slot.fail(reason.clone());
            self.shared.send_control(Frame::Close { stream, error: Some(reason) });
        } else if slot.buffered > config.pause_above && !slot.paused_peer {
            slot.paused_peer = true;
            self.shared.send_control(Frame::Pause { stream });
        }
    }

    fn accept(&self, stream: StreamId, target: String) -> Result<()> {
        {
            let mut state = self.shared.lock();
            if state.closed.is_some() {
                return Ok(());
            }
            if self.shared.side.owns(stream) || state.streams.contains_key(&stream) {
                return Err(MuxError::BadStreamId { stream });
            }
            state.streams.insert(stream, Slot::new(&target));
        }
        let mut local = Stream::new(stream, self.shared.clone());
        let Some(acceptor) = self.shared.acceptor.clone() else {
            local.abort(&AcceptError::NoAcceptor.to_close_text());
            return Ok(());
        };
        tokio::spawn(async move {
            match acceptor.accept(&target).await {
                Ok(mut io) => {
                    debug!(stream, target, "tunnel stream accepted");
                    if let Err(err) = tokio::io::copy_bidirectional_with_sizes(
                        &mut local,
                        &mut io,
                        super::frame::MAX_DATA,
                        super::frame::MAX_DATA,
                    )
                    .await
                    {
                        debug!(stream, target, error = %err, "tunnel stream ended with an error");
                        local.abort(&err.to_string());
                    }
                }
                Err(err) => {
                    let text = err.to_close_text();
                    debug!(stream, target, error = %text, "tunnel stream refused");
                    local.abort(&text);
                }
            }
        });
        Ok(())
    }
}

/// A sender for one stream's data frames.
pub(super) fn data_sender(shared: &Shared) -> PollSender<Frame> {
    PollSender::new(shared.data_tx.clone())
}

#[cfg(test)]
mod tests {
    //! The mux against a scripted peer: frames in, frames out, no transport.
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn config() -> MuxConfig {
        MuxConfig { pause_above: 100, resume_below: 20, abort_above: 1000, send_queue: 8 }
    }

    fn data(stream: StreamId, len: usize) -> Frame {
        Frame::Data { stream, data: Bytes::from(vec![7u8; len]) }
    }

    #[tokio::test]
    async fn open_allocates_ids_by_side_and_sends_connect() {
        let (server, mut out) = Mux::new(Side::Server, config(), None);
        let a = server.open("tcp/127.0.0.1:1").await.expect("open");
        let b = server.open("tcp/127.0.0.1:2").await.expect("open");
        assert_eq!((a.id(), b.id()), (1, 3));
        assert_eq!(
            out.next().await,
            Some(Frame::Connect { stream: 1, target: "tcp/127.0.0.1:1".into() })
        );
        let (agent, _out) = Mux::new(Side::Agent, config(), None);
        assert_eq!(agent.open("tcp/127.0.0.1:1").await.expect("open").id(), 2);
    }

    #[tokio::test]
    async fn a_peer_may_not_open_with_our_ids_or_reuse_one() {
        let (server, _out) = Mux::new(Side::Server, config(), None);
        let connect = |stream| Frame::Connect { stream, target: "tcp/127.0.0.1:1".into() };
        assert_eq!(server.receive(connect(1)), Err(MuxError::BadStreamId { stream: 1 }));
        let (agent, mut out) = Mux::new(Side::Agent, config(), None);
        agent.receive(connect(1)).expect("first connect");
        // No acceptor: refused with a Close carrying the reason.
        assert_eq!(
            out.next().await,
            Some(Frame::Close {
                stream: 1,
                error: Some("this side of the tunnel accepts no streams".into())
            })
        );
    }

    #[tokio::test]
    async fn the_receiver_pauses_above_the_high_mark_and_resumes_below_the_low_mark() {
        let (mux, mut out) = Mux::new(Side::Server, config(), None);
        let mut stream = mux.open("tcp/127.0.0.1:1").await.expect("open");
        assert!(matches!(out.next().await, Some(Frame::Connect { .. })));
        mux.receive(data(1, 60)).expect("data");
        mux.receive(data(1, 60)).expect("data");
        assert_eq!(out.next().await, Some(Frame::Pause { stream: 1 }));
        mux.receive(data(1, 60)).expect("data");
        let mut buf = vec![0u8; 100];
        stream.read_exact(&mut buf).await.expect("read");
        // 80 left: still above the low mark, so no Resume yet.
        assert!(out.control.try_recv().is_err());
        stream.read_exact(&mut buf[..70]).await.expect("read");
        assert_eq!(out.next().await, Some(Frame::Resume { stream: 1 }));
    }

    #[tokio::test]
    async fn a_paused_writer_waits_until_resume() {
        let (mux, mut out) = Mux::new(Side::Server, config(), None);
        let mut stream = mux.open("tcp/127.0.0.1:1").await.expect("open");
        assert!(matches!(out.next().await, Some(Frame::Connect { .. })));
        mux.receive(Frame::Pause { stream: 1 }).expect("pause");
        let writer = tokio::spawn(async move {
            stream.write_all(b"after resume").await.expect("write");
            stream
        });
        tokio::task::yield_now().await;
        assert!(out.data.try_recv().is_err(), "wrote while paused");
        mux.receive(Frame::Resume { stream: 1 }).expect("resume");
        assert_eq!(
            out.next().await,
            Some(Frame::Data { stream: 1, data: Bytes::from_static(b"after resume") })
        );
        drop(writer.await.expect("writer"));
    }

    #[tokio::test]
    async fn a_peer_ignoring_pause_gets_its_stream_reset() {
        let (mux, mut out) = Mux::new(Side::Server, config(), None);
        let mut stream = mux.open("tcp/127.0.0.1:1").await.expect("open");
        assert!(matches!(out.next().await, Some(Frame::Connect { .. })));
        for _ in 0..11 {
            mux.receive(data(1, 100)).expect("data");
        }
        assert_eq!(out.next().await, Some(Frame::Pause { stream: 1 }));
        assert!(matches!(out.next().await, Some(Frame::Close { stream: 1, error: Some(_) })));
        let err = stream.read_u8().await.expect_err("reset");
        assert!(err.to_string().contains("past a pause"), "{err}");
    }

    #[tokio::test]
    async fn dropping_an_unfinished_stream_resets_it_and_a_finished_one_does_not() {
        let (mux, mut out) = Mux::new(Side::Server, config(), None);
        let stream = mux.open("tcp/127.0.0.1:1").await.expect("open");
        assert!(matches!(out.next().await, Some(Frame::Connect { .. })));
        drop(stream);
        assert!(matches!(out.next().await, Some(Frame::Close { stream: 1, error: Some(_) })));
        let mut stream = mux.open("tcp/127.0.0.1:1").await.expect("open");
        assert!(matches!(out.next().await, Some(Frame::Connect { .. })));
        stream.shutdown().await.expect("shutdown");
        assert_eq!(out.next().await, Some(Frame::Close { stream: 3, error: None }));
        mux.receive(Frame::Close { stream: 3, error: None }).expect("close");
        let mut rest = Vec::new();
        stream.read_to_end(&mut rest).await.expect("eof");
        drop(stream);
        assert_eq!(mux.stats().open_streams, 0);
        assert!(out.control.try_recv().is_err(), "reset after a clean end");
    }

    #[tokio::test]
    async fn ping_is_answered_and_close_ends_outgoing() {
        let (mux, mut out) = Mux::new(Side::Agent, config(), None);
        mux.receive(Frame::Ping { nonce: 9 }).expect("ping");
        assert_eq!(out.next().await, Some(Frame::Pong { nonce: 9 }));
        mux.close("test over");
        assert_eq!(out.next().await, None);
        assert_eq!(
            mux.open("tcp/127.0.0.1:1").await.expect_err("closed"),
            MuxError::Closed { reason: "test over".into() }
        );
    }
}
