//! The websocket tunnel's plain logic: how the server reaches an agent's local endpoints
//! (kubelet logs, exec, port-forward) over the websocket the agent opened
//! ([ADR 007](../../../docs/adr/007-tunnel.md)).
//!
//! - [`frame`]: the binary frame format, one frame per websocket message.
//! - [`target`]: `tcp/<ip>:<port>` targets and the accepting side's policy ([`Acceptor`],
//!   [`TcpAllowList`]).
//! - [`mux`]: [`Mux`], many streams over one frame sequence, with per-stream flow control;
//!   [`stream`]: [`Stream`], one stream as `AsyncRead + AsyncWrite`.
//! - [`memory`]: two muxes joined in memory, for tests and the benchmark.
//!
//! The transport (websocket, its keepalive, reconnects) is the caller's: it drains
//! [`Outgoing`], feeds received frames to [`Mux::receive`] and calls [`Mux::close`] when it
//! ends.

pub mod frame;
pub mod memory;
pub mod mux;
pub mod stream;
pub mod target;

pub use frame::{Frame, FrameError, StreamId};
pub use mux::{Mux, MuxConfig, MuxError, MuxStats, Outgoing, Side};
pub use stream::Stream;
pub use target::{AcceptError, AcceptFuture, Acceptor, BoxIo, Target, TcpAllowList};
