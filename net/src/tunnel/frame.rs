//! The tunnel's wire format: one [`Frame`] per websocket binary message.
//!
//! Every frame starts with a fixed 9-byte header, followed by a payload whose length is the rest
//! of the message (the websocket message carries the length, so the frame does not repeat it):
//!
//! ```text
//! offset 0   kind    u8      1 Connect, 2 Data, 3 Close, 4 Pause, 5 Resume, 6 Ping, 7 Pong
//! offset 1   id      u64 BE  the stream id (Connect, Data, Close, Pause, Resume)
//!                            or the keepalive nonce (Ping, Pong)
//! offset 9   payload         Connect: the target as UTF-8, "tcp/127.0.0.1:10250", at most
//!                                     MAX_TARGET bytes
//!                            Data:    1 to MAX_DATA bytes of stream data
//!                            Close:   empty for a clean end of stream (EOF), or the error
//!                                     text as UTF-8 (at most MAX_ERROR bytes): the stream
//!                                     failed or was refused
//!                            Pause, Resume, Ping, Pong: empty
//! ```
//!
//! Decoding checks everything: unknown kinds, short headers, oversize payloads, payloads where
//! none belong and invalid UTF-8 are typed [`FrameError`]s, never panics. Data payloads are
//! slices of the received buffer, not copies.

use bytes::{BufMut, Bytes, BytesMut};
use thiserror::Error;

/// Bytes in a frame header: kind (1) and id (8).
pub const HEADER_LEN: usize = 9;
/// Largest Data payload: writers split larger writes into several frames.
pub const MAX_DATA: usize = 64 * 1024;
/// Largest Connect target (`proto/address`), as in K3s's remotedialer.
pub const MAX_TARGET: usize = 266;
/// Largest Close error text; longer texts are cut at a character boundary when encoding.
pub const MAX_ERROR: usize = 1024;
/// Largest encoded frame: what a transport should accept as its message size limit.
pub const MAX_FRAME: usize = HEADER_LEN + MAX_DATA;

/// Identifies one stream within a tunnel; allocated by the side that opens the stream.
pub type StreamId = u64;

/// One tunnel message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// Opens `stream` to `target` (`tcp/<ip>:<port>`) on the receiving side.
    Connect { stream: StreamId, target: String },
    /// Stream data, 1 to [`MAX_DATA`] bytes.
    Data { stream: StreamId, data: Bytes },
    /// The sender will send nothing more on `stream`: `None` is a clean end of stream (the
    /// other direction stays open), `Some` an error that ends both directions.
    Close { stream: StreamId, error: Option<String> },
    /// The receiver's buffer for `stream` is full: stop sending Data on it.
    Pause { stream: StreamId },
    /// The receiver has drained `stream`'s buffer: sending may go on.
    Resume { stream: StreamId },
    /// Keepalive probe; answered with a Pong carrying the same nonce.
    Ping { nonce: u64 },
    /// Keepalive answer.
    Pong { nonce: u64 },
}

const CONNECT: u8 = 1;
const DATA: u8 = 2;
const CLOSE: u8 = 3;
const PAUSE: u8 = 4;
const RESUME: u8 = 5;
const PING: u8 = 6;
const PONG: u8 = 7;

/// Why a received message is not a valid frame.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum FrameError {
    #[error("tunnel frame of {len} bytes is shorter than the {HEADER_LEN}-byte header")]
    Short { len: usize },
    #[error("tunnel frame has unknown kind {kind}")]
    UnknownKind { kind: u8 },
    #[error("tunnel {kind} frame payload of {len} bytes exceeds the limit of {max}")]
    Oversize { kind: &'static str, len: usize, max: usize },
    #[error("tunnel {kind} frame carries a {len}-byte payload where none belongs")]
    UnexpectedPayload { kind: &'static str, len: usize },
    #[error("tunnel data frame for stream {stream} is empty")]
    EmptyData { stream: StreamId },
    #[error("tunnel {kind} frame text is not UTF-8")]
    NotUtf8 { kind: &'static str },
}

pub type Result<T, E = FrameError> = std::result::Result<T, E>;

impl Frame {
    /// The stream this frame belongs to, `None` for keepalives.
    pub fn stream(&self) -> Option<StreamId> {
        match self {
            Frame::Connect { stream, .. }
            | Frame::Data { stream, .. }
            | Frame::Close { stream, .. }
            | Frame::Pause { stream }
            | Frame::Resume { stream } => Some(*stream),
            Frame::Ping { .. } | Frame::Pong { .. } => None,
        }
    }

    /// Encodes the frame as one message. Oversize Data and Connect payloads are the caller's
    /// bug and are refused; error texts are cut to [`MAX_ERROR`].
    pub fn encode(&self) -> Result<Bytes> {
        let (kind, id, payload): (u8, u64, &[u8]) = match self {
            Frame::Connect { stream, target } => {
                check_len("connect", target.len(), MAX_TARGET)?;
                (CONNECT, *stream, target.as_bytes())
            }
            Frame::Data { stream, data } => {
                check_len("data", data.len(), MAX_DATA)?;
                if data.is_empty() {
                    return Err(FrameError::EmptyData { stream: *stream });
                }
                (DATA, *stream, data)
            }
            Frame::Close { stream, error } => {
                let text = error.as_deref().map(cut_error).unwrap_or_default();
                (CLOSE, *stream, text.as_bytes())
            }
            Frame::Pause { stream } => (PAUSE, *stream, &[]),
            Frame::Resume { stream } => (RESUME, *stream, &[]),
            Frame::Ping { nonce } => (PING, *nonce, &[]),
            Frame::Pong { nonce } => (PONG, *nonce, &[]),
        };
        let mut buf = BytesMut::with_capacity(HEADER_LEN + payload.len());
        buf.put_u8(kind);
        buf.put_u64(id);
        buf.put_slice(payload);
        Ok(buf.freeze())
    }

    /// Decodes one message. Data payloads share `message`'s memory.
    pub fn decode(message: Bytes) -> Result<Frame> {
        if message.len() < HEADER_LEN {
            return Err(FrameError::Short { len: message.len() });
        }
        let kind = message[0];
        let mut id_bytes = [0u8; 8];
        id_bytes.copy_from_slice(&message[1..HEADER_LEN]);
        let id = u64::from_be_bytes(id_bytes);
        let payload = message.slice(HEADER_LEN..);
        let empty = |name: &'static str| {
            if payload.is_empty() {
                Ok(())
            } else {
                Err(FrameError::UnexpectedPayload { kind: name, len: payload.len() })
            }
        };
        match kind {
            CONNECT => {
                check_len("connect", payload.len(), MAX_TARGET)?;
                Ok(Frame::Connect { stream: id, target: utf8("connect", &payload)? })
            }
            DATA => {
                check_len("data", payload.len(), MAX_DATA)?;
                if payload.is_empty() {
                    return Err(FrameError::EmptyData { stream: id });
                }
                Ok(Frame::Data { stream: id, data: payload })
            }
            CLOSE => {
                check_len("close", payload.len(), MAX_ERROR)?;
                let error = if payload.is_empty() { None } else { Some(utf8("close", &payload)?) };
                Ok(Frame::Close { stream: id, error })
            }
            PAUSE => empty("pause").map(|()| Frame::Pause { stream: id }),
            RESUME => empty("resume").map(|()| Frame::Resume { stream: id }),
            PING => empty("ping").map(|()| Frame::Ping { nonce: id }),
            PONG => empty("pong").map(|()| Frame::Pong { nonce: id }),
            kind => Err(FrameError::UnknownKind { kind }),
        }
    }
}

fn check_len(kind: &'static str, len: usize, max: usize) -> Result<()> {
    if len > max { Err(FrameError::Oversize { kind, len, max }) } else { Ok(()) }
}

fn utf8(kind: &'static str, payload: &[u8]) -> Result<String> {
    std::str::from_utf8(payload).map(str::to_owned).map_err(|_| FrameError::NotUtf8 { kind })
}

/// Cuts an error text to at most [`MAX_ERROR`] bytes on a character boundary; an empty text
/// (which would read as a clean EOF) becomes "error".
fn cut_error(text: &str) -> &str {
    if text.is_empty() {
        return "error";
    }
    let mut end = text.len().min(MAX_ERROR);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(frame: Frame) {
        let bytes = frame.encode().expect("encode");
        assert_eq!(Frame::decode(bytes).expect("decode"), frame);
    }

    #[test]
    fn every_kind_round_trips() {
        round_trip(Frame::Connect { stream: 7, target: "tcp/127.0.0.1:10250".into() });
        round_trip(Frame::Data { stream: u64::MAX, data: Bytes::from_static(b"hello") });
        round_trip(Frame::Data { stream: 1, data: Bytes::from(vec![9u8; MAX_DATA]) });
        round_trip(Frame::Close { stream: 3, error: None });
        round_trip(Frame::Close { stream: 3, error: Some("connection refused".into()) });
        round_trip(Frame::Pause { stream: 4 });
        round_trip(Frame::Resume { stream: 4 });
        round_trip(Frame::Ping { nonce: 42 });
        round_trip(Frame::Pong { nonce: 42 });
    }

    #[test]
    fn header_layout_is_kind_then_big_endian_id() {
        let bytes = Frame::Pause { stream: 0x0102 }.encode().expect("encode");
        assert_eq!(&bytes[..], &[4, 0, 0, 0, 0, 0, 0, 1, 2]);
        let bytes = Frame::Close { stream: 1, error: Some("no".into()) }.encode().expect("encode");
        assert_eq!(&bytes[..], &[3, 0, 0, 0, 0, 0, 0, 0, 1, b'n', b'o']);
    }

    #[test]
    fn malformed_messages_are_typed_errors() {
        assert_eq!(Frame::decode(Bytes::from_static(&[1, 2])), Err(FrameError::Short { len: 2 }));
        assert_eq!(
            Frame::decode(Bytes::from_static(&[99, 0, 0, 0, 0, 0, 0, 0, 1])),
            Err(FrameError::UnknownKind { kind: 99 })
        );
        assert_eq!(
            Frame::decode(Bytes::from_static(&[2, 0, 0, 0, 0, 0, 0, 0, 1])),
            Err(FrameError::EmptyData { stream: 1 })
        );
        assert_eq!(
            Frame::decode(Bytes::from_static(&[6, 0, 0, 0, 0, 0, 0, 0, 1, 0])),
            Err(FrameError::UnexpectedPayload { kind: "ping", len: 1 })
        );
        assert_eq!(
            Frame::decode(Bytes::from_static(&[1, 0, 0, 0, 0, 0, 0, 0, 1, 0xff])),
            Err(FrameError::NotUtf8 { kind: "connect" })
        );
    }

    #[test]
    fn oversize_frames_are_rejected_both_ways() {
        let mut big = vec![DATA, 0, 0, 0, 0, 0, 0, 0, 1];
        big.extend(std::iter::repeat_n(0u8, MAX_DATA + 1));
        assert_eq!(
            Frame::decode(Bytes::from(big)),
            Err(FrameError::Oversize { kind: "data", len: MAX_DATA + 1, max: MAX_DATA })
        );
        let frame = Frame::Connect { stream: 1, target: "x".repeat(MAX_TARGET + 1) };
        assert!(matches!(frame.encode(), Err(FrameError::Oversize { .. })));
    }

    #[test]
    fn long_and_empty_error_texts_stay_errors() {
        let frame = Frame::Close { stream: 1, error: Some("é".repeat(MAX_ERROR)) };
        let decoded = Frame::decode(frame.encode().expect("encode")).expect("decode");
        let Frame::Close { error: Some(text), .. } = decoded else {
            panic!("expected an error close, got {decoded:?}");
        };
        assert!(text.len() <= MAX_ERROR && text.chars().all(|c| c == 'é'));
        let frame = Frame::Close { stream: 1, error: Some(String::new()) };
        let decoded = Frame::decode(frame.encode().expect("encode")).expect("decode");
        assert_eq!(decoded, Frame::Close { stream: 1, error: Some("error".into()) });
    }
}
