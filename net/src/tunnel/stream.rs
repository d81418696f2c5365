//! [`Stream`]: one tunnel stream as a tokio `AsyncRead + AsyncWrite`.
//!
//! Reads drain the stream's receive buffer (sending Resume when it falls below the low mark);
//! writes send Data frames of at most [`MAX_DATA`] bytes and wait while the peer has paused the
//! stream; `shutdown` sends the clean Close (the peer reads EOF; reading here goes on); dropping
//! a stream that has not ended both ways resets it.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll, ready};

use bytes::{Buf, Bytes};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_util::sync::PollSender;

use super::frame::{Frame, MAX_DATA, StreamId};
use super::mux::{MuxError, Shared, Slot, data_sender};

/// One multiplexed byte stream.
pub struct Stream {
    id: StreamId,
    shared: Arc<Shared>,
    sender: PollSender<Frame>,
}

impl std::fmt::Debug for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stream").field("id", &self.id).finish()
    }
}

impl Stream {
    pub(super) fn new(id: StreamId, shared: Arc<Shared>) -> Self {
        let sender = data_sender(&shared);
        Stream { id, shared, sender }
    }

    pub fn id(&self) -> StreamId {
        self.id
    }

    /// Ends the stream both ways with an error the peer reads.
    pub fn abort(&mut self, reason: &str) {
        let mut state = self.shared.lock();
        if let Some(slot) = state.streams.get_mut(&self.id)
            && slot.failed.is_none()
        {
            slot.failed = Some(reason.to_owned());
            slot.recv.clear();
            slot.buffered = 0;
            self.shared
                .send_control(Frame::Close { stream: self.id, error: Some(reason.to_owned()) });
        }
    }

    /// Runs `f` on this stream's slot, or fails as a stream the mux no longer knows.
    fn with_slot<T>(&self, f: impl FnOnce(&mut Slot) -> io::Result<T>) -> io::Result<T> {
        let mut state = self.shared.lock();
        match state.streams.get_mut(&self.id) {
            Some(slot) => f(slot),
            None => Err(io::Error::new(io::ErrorKind::NotConnected, "tunnel stream is gone")),
        }
    }

    fn failure(&self, slot: &Slot, reason: &str) -> io::Error {
        io::Error::new(
            io::ErrorKind::ConnectionReset,
            MuxError::StreamFailed {
                stream: self.id,
                target: slot.target.clone(),
                reason: reason.to_owned(),
            },
        )
    }

    fn transport_gone(&self) -> io::Error {
        io::Error::new(
            io::ErrorKind::BrokenPipe,
            MuxError::Closed {
                reason: self.shared.closed_reason().unwrap_or_else(|| "transport gone".to_owned()),
            },
        )
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.into_ref().get_ref();
        let resume_below = this.shared.config.resume_below;
        this.with_slot(|slot| {
            if let Some(reason) = &slot.failed {
                return Err(this.failure(slot, reason));
            }
            if slot.recv.is_empty() {
                if slot.peer_eof {
                    return Ok(Poll::Ready(()));
                }
                slot.read_waker = Some(cx.waker().clone());
                return Ok(Poll::Pending);
            }
            while buf.remaining() > 0 {
                let Some(front) = slot.recv.front_mut() else {
                    break;
                };
                let n = front.len().min(buf.remaining());
                buf.put_slice(&front[..n]);
                front.advance(n);
                slot.buffered -= n;
                if front.is_empty() {
                    slot.recv.pop_front();
                }
            }
            if slot.paused_peer && slot.buffered < resume_below {
                slot.paused_peer = false;
                this.shared.send_control(Frame::Resume { stream: this.id });
            }
            Ok(Poll::Ready(()))
        })?
        .map(Ok)
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let paused = this.with_slot(|slot| {
            if let Some(reason) = &slot.failed {
                return Err(this.failure(slot, reason));
            }
            if slot.eof_sent {
                return Err(io::Error::new(
                    io::ErrorKind::BrokenPipe,
                    "tunnel stream write after shutdown",
                ));
            }
            if slot.write_paused {
                slot.write_waker = Some(cx.waker().clone());
            }
            Ok(slot.write_paused)
        })?;
        if paused {
            // Give back a reserved queue slot: a paused stream must not hold the shared queue.
            this.sender.abort_send();
            return Poll::Pending;
        }
        if ready!(this.sender.poll_reserve(cx)).is_err() {
            return Poll::Ready(Err(this.transport_gone()));
        }
        let n = buf.len().min(MAX_DATA);
        let frame = Frame::Data { stream: this.id, data: Bytes::copy_from_slice(&buf[..n]) };
        if this.sender.send_item(frame).is_err() {
            return Poll::Ready(Err(this.transport_gone()));
        }
        this.shared.bytes_out.fetch_add(n as u64, Ordering::Relaxed);
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Data is in the transport's queue once written; there is nothing to flush here.
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let done = this.with_slot(|slot| match &slot.failed {
            Some(reason) => Err(this.failure(slot, reason)),
            None => Ok(slot.eof_sent),
        })?;
        if done {
            return Poll::Ready(Ok(()));
        }
        // The clean Close goes in the data queue, after this stream's data.
        if ready!(this.sender.poll_reserve(cx)).is_err() {
            return Poll::Ready(Err(this.transport_gone()));
        }
        let frame = Frame::Close { stream: this.id, error: None };
        if this.sender.send_item(frame).is_err() {
            return Poll::Ready(Err(this.transport_gone()));
        }
        this.with_slot(|slot| {
            slot.eof_sent = true;
            Ok(())
        })?;
        Poll::Ready(Ok(()))
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        let Some(slot) = state.streams.remove(&self.id) else {
            return;
        };
        if slot.failed.is_none() && !(slot.eof_sent && slot.peer_eof) {
            self.shared.send_control(Frame::Close {
                stream: self.id,
                error: Some("tunnel stream dropped".to_owned()),
            });
        }
    }
}
