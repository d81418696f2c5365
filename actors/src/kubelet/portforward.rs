//! `Request::PortForward`: the kubelet's end of `kubectl port-forward`. The client's SPDY/3.1
//! session arrives as it was sent; each forwarded connection is a pair of streams sharing a
//! `requestid` (an error stream, then a data stream naming the `port`). The data stream is
//! joined to a TCP connection made inside the pod's network namespace; a failure is written
//! on the error stream, as the kubelet words it. When one direction ends the other gets a
//! second, then both streams close.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use k3rs_net::kubelet::{self, PodRef, ProtocolError, Reply};
use k3rs_net::spdy::{self, Decoder, Encoder, Frame};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::sync::mpsc;

use super::refuse;

const DIAL_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one direction may go on after the other ended.
const GRACE: Duration = Duration::from_secs(1);

/// What the session does with a data stream's bytes: to the pod's socket, or its end.
enum ToPod {
    Data(Vec<u8>),
    Fin,
}

pub(super) async fn port_forward(io: &mut DuplexStream, pod: PodRef) -> Result<(), ProtocolError> {
    let netns = PathBuf::from("/run/netns").join(k3rs_agent::sandbox::netns_name(&pod.uid));
    if !netns.exists() {
        let message = format!("pod {:?} has no network namespace on this node", pod.pod);
        return refuse(io, 404, message).await;
    }
    kubelet::write_message(io, &Reply::Ok).await?;
    let (mut from_client, mut to_client) = tokio::io::split(io);
    let (frames, mut outgoing) = mpsc::channel::<Frame>(64);
    let writer = async move {
        let mut encoder = Encoder::new();
        while let Some(frame) = outgoing.recv().await {
            if to_client.write_all(&encoder.encode(&frame)).await.is_err() {
                break;
            }
        }
        let _ = to_client.shutdown().await;
    };
    let session = Session { pod, netns, frames, pairs: HashMap::new(), streams: HashMap::new() };
    let reader = session.run(&mut from_client);
    tokio::join!(reader, writer);
    Ok(())
}

/// One forwarded connection's streams.
#[derive(Default)]
struct Pair {
    error: Option<u32>,
    data: Option<u32>,
}

struct Session {
    pod: PodRef,
    netns: PathBuf,
    frames: mpsc::Sender<Frame>,
    /// By `requestid`.
    pairs: HashMap<String, Pair>,
    /// Data streams connected to the pod, by stream id.
    streams: HashMap<u32, mpsc::UnboundedSender<ToPod>>,
}

impl Session {
    async fn run(mut self, from_client: &mut (impl AsyncReadExt + Unpin)) {
        let mut decoder = Decoder::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match from_client.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            decoder.push(&buf[..n]);
            loop {
                match decoder.next_frame() {
                    Ok(Some(frame)) => self.handle(frame).await,
                    Ok(None) => break,
                    Err(e) => {
                        tracing::debug!(error = %e, "port-forward session ends on a bad frame");
                        return;
                    }
                }
            }
        }
        // The client is gone: every connection closes (dropping the senders ends them).
    }

    async fn handle(&mut self, frame: Frame) {
        match frame {
            Frame::SynStream { stream_id, headers, .. } => {
                let reply = Frame::SynReply { stream_id, fin: false, headers: Vec::new() };
                let _ = self.frames.send(reply).await;
                let kind = spdy::header(&headers, "streamtype").unwrap_or_default().to_owned();
                let request = spdy::header(&headers, "requestid").unwrap_or("0").to_owned();
                let port = spdy::header(&headers, "port").and_then(|p| p.parse::<u16>().ok());
                let pair = self.pairs.entry(request.clone()).or_default();
                match kind.as_str() {
                    "error" => pair.error = Some(stream_id),
                    "data" => pair.data = Some(stream_id),
                    _ => {
                        let rst = Frame::RstStream { stream_id, status: spdy::RST_PROTOCOL_ERROR };
                        let _ = self.frames.send(rst).await;
                        return;
                    }
                }
                if let (Some(error), Some(data)) = (pair.error, pair.data) {
                    self.pairs.remove(&request);
                    self.connect(error, data, port);
                }
            }
            Frame::Data { stream_id, fin, data } => {
                if let Some(to_pod) = self.streams.get(&stream_id) {
                    if !data.is_empty() {
                        let _ = to_pod.send(ToPod::Data(data));
                    }
                    if fin {
                        let _ = to_pod.send(ToPod::Fin);
                    }
                }
            }
            Frame::RstStream { stream_id, .. } => {
                self.streams.remove(&stream_id);
            }
            Frame::Ping(id) => {
                let _ = self.frames.send(Frame::Ping(id)).await;
            }
            _ => {}
        }
    }

    /// Joins a data stream to the pod's `port`.
    fn connect(&mut self, error: u32, data: u32, port: Option<u16>) {
        let (to_pod, from_session) = mpsc::unbounded_channel();
        self.streams.insert(data, to_pod);
        let (frames, netns, pod) = (self.frames.clone(), self.netns.clone(), self.pod.clone());
        tokio::spawn(async move {
            let result = match port {
                Some(port) => relay(&netns, port, data, from_session, &frames).await,
                None => Err("no port given".to_owned()),
            };
            if let Err(e) = result {
                let message = format!(
                    "error forwarding port {} to pod {}, uid : {e}",
                    port.unwrap_or(0),
                    pod.uid
                );
                let _ = frames
                    .send(Frame::Data { stream_id: error, fin: false, data: message.into_bytes() })
                    .await;
                let _ =
                    frames.send(Frame::Data { stream_id: data, fin: true, data: Vec::new() }).await;
            }
            let _ =
                frames.send(Frame::Data { stream_id: error, fin: true, data: Vec::new() }).await;
        });
    }
}

/// Copies between the data stream and a connection to the pod's port until both directions
/// end.
async fn relay(
    netns: &std::path::Path,
    port: u16,
    stream_id: u32,
    mut from_session: mpsc::UnboundedReceiver<ToPod>,
    frames: &mpsc::Sender<Frame>,
) -> Result<(), String> {
    let netns = netns.to_owned();
    let socket =
        tokio::task::spawn_blocking(move || k3rs_agent::sandbox::dial(&netns, port, DIAL_TIMEOUT))
            .await
            .map_err(|e| e.to_string())??;
    socket.set_nonblocking(true).map_err(|e| e.to_string())?;
    let socket = tokio::net::TcpStream::from_std(socket).map_err(|e| e.to_string())?;
    let (mut pod_read, mut pod_write) = socket.into_split();
    let to_pod = async move {
        while let Some(message) = from_session.recv().await {
            match message {
                ToPod::Data(bytes) => {
                    if pod_write.write_all(&bytes).await.is_err() {
                        break;
                    }
                }
                ToPod::Fin => break,
            }
        }
        let _ = pod_write.shutdown().await;
    };
    let from_pod = async {
        let mut buf = vec![0u8; spdy::MAX_DATA];
        loop {
            match pod_read.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let frame = Frame::Data { stream_id, fin: false, data: buf[..n].to_vec() };
                    if frames.send(frame).await.is_err() {
                        return;
                    }
                }
            }
        }
        let _ = frames.send(Frame::Data { stream_id, fin: true, data: Vec::new() }).await;
    };
    // As containerd forwards: when either direction ends, the other gets a second to finish.
    tokio::pin!(to_pod, from_pod);
    tokio::select! {
        _ = &mut to_pod => { let _ = tokio::time::timeout(GRACE, &mut from_pod).await; }
        _ = &mut from_pod => { let _ = tokio::time::timeout(GRACE, &mut to_pod).await; }
    }
    Ok(())
}
