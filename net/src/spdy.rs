//! SPDY/3.1 framing, as much as `kubectl port-forward` speaks (it tunnels SPDY through a
//! websocket, subprotocol `SPDY/3.1+portforward.k8s.io`): control frames SYN_STREAM,
//! SYN_REPLY, RST_STREAM, SETTINGS, PING, GOAWAY, HEADERS, WINDOW_UPDATE, and data frames.
//!
//! Header blocks are one zlib stream per direction, flushed at each frame. The client
//! compresses with SPDY/3's preset dictionary; miniz has no preset dictionaries, so the
//! decoder keeps the dictionary as the start of its output history, which is exactly what a
//! preset dictionary is to inflate. The encoder writes without a dictionary (allowed: the zlib
//! header then carries no dictionary id).

use std::sync::OnceLock;

use miniz_oxide::deflate::core::{
    CompressorOxide, TDEFLFlush, TDEFLStatus, compress, create_comp_flags_from_zip_params,
};
use miniz_oxide::inflate::TINFLStatus;
use miniz_oxide::inflate::core::inflate_flags::{
    TINFL_FLAG_HAS_MORE_INPUT, TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF,
};
use miniz_oxide::inflate::core::{DecompressorOxide, decompress};
use thiserror::Error;

/// Data frames carry at most this much (the framer accepts 24-bit lengths).
pub const MAX_DATA: usize = 64 * 1024;
/// Decompressed header history a session may accumulate before it is refused.
const MAX_HISTORY: usize = 8 << 20;

pub const FLAG_FIN: u8 = 0x01;

/// RST_STREAM status codes used here.
pub const RST_PROTOCOL_ERROR: u32 = 1;
pub const RST_INVALID_STREAM: u32 = 2;
pub const RST_CANCEL: u32 = 5;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum SpdyError {
    #[error("SPDY frame of version {0}, expected 3")]
    Version(u16),
    #[error("SPDY frame too short for its type")]
    Short,
    #[error("SPDY header block does not decompress: {0}")]
    Compression(String),
    #[error("SPDY header block is malformed")]
    HeaderBlock,
    #[error("SPDY header history exceeds {MAX_HISTORY} bytes")]
    TooMuchHistory,
}

/// The header words of SPDY/3's dictionary, each stored as a 4-byte length and the word.
const DICTIONARY_WORDS: [&str; 65] = [
    "options",
    "head",
    "post",
    "put",
    "delete",
    "trace",
    "accept",
    "accept-charset",
    "accept-encoding",
    "accept-language",
    "accept-ranges",
    "age",
    "allow",
    "authorization",
    "cache-control",
    "connection",
    "content-base",
    "content-encoding",
    "content-language",
    "content-length",
    "content-location",
    "content-md5",
    "content-range",
    "content-type",
    "date",
    "etag",
    "expect",
    "expires",
    "from",
    "host",
    "if-match",
    "if-modified-since",
    "if-none-match",
    "if-range",
    "if-unmodified-since",
    "last-modified",
    "location",
    "max-forwards",
    "pragma",
    "proxy-authenticate",
    "proxy-authorization",
    "range",
    "referer",
    "retry-after",
    "server",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "user-agent",
    "vary",
    "via",
    "warning",
    "www-authenticate",
    "method",
    "get",
    "status",
    "200 OK",
    "version",
    "HTTP/1.1",
    "url",
    "public",
    "set-cookie",
    "keep-alive",
    "origin",
];

/// The dictionary's raw tail: status codes and phrases, dates, content types.
const DICTIONARY_TAIL: &str = "100101201202205206300302303304305306307402405406407408409410411\
412413414415416417502504505203 Non-Authoritative Information204 No Content301 Moved Permanently\
400 Bad Request401 Unauthorized403 Forbidden404 Not Found500 Internal Server Error501 Not \
Implemented503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, \
Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,image/jpg,image/gif,\
application/xml,application/xhtml+xml,text/plain,text/javascript,publicprivatemax-age=gzip,\
deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.";

/// SPDY/3's zlib dictionary (1,423 bytes).
pub fn dictionary() -> &'static [u8] {
    static DICT: OnceLock<Vec<u8>> = OnceLock::new();
    DICT.get_or_init(|| {
        let mut d = Vec::with_capacity(1423);
        for word in DICTIONARY_WORDS {
            d.extend_from_slice(&(word.len() as u32).to_be_bytes());
            d.extend_from_slice(word.as_bytes());
        }
        d.extend_from_slice(DICTIONARY_TAIL.as_bytes());
        d
    })
}

fn adler32(data: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for &byte in data {
        a = (a + u32::from(byte)) % 65521;
        b = (b + a) % 65521;
    }
    (b << 16) | a
}

/// Name/value pairs of a header block, in order.
pub type Headers = Vec<(String, String)>;

/// A frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    SynStream {
        stream_id: u32,
        fin: bool,
        headers: Headers,
    },
    SynReply {
        stream_id: u32,
        fin: bool,
        headers: Headers,
    },
    RstStream {
        stream_id: u32,
        status: u32,
    },
    Settings,
    Ping(u32),
    GoAway {
        last_good: u32,
        status: u32,
    },
    Headers {
        stream_id: u32,
        headers: Headers,
    },
    WindowUpdate {
        stream_id: u32,
        delta: u32,
    },
    Data {
        stream_id: u32,
        fin: bool,
        data: Vec<u8>,
    },
    /// A control frame of a type not listed (ignored, as the spec asks).
    Unknown(u16),
}

/// Decodes the peer's frames from bytes as they arrive (frames may span websocket messages).
#[derive(Default)]
pub struct Decoder {
    buf: Vec<u8>,
    inflate: HeaderInflater,
}

impl Decoder {
    pub fn new() -> Self {
        Decoder::default()
    }

    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next whole frame, if buffered.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, SpdyError> {
        if self.buf.len() < 8 {
            return Ok(None);
        }
        let length = (usize::from(self.buf[5]) << 16)
            | (usize::from(self.buf[6]) << 8)
            | usize::from(self.buf[7]);
        if self.buf.len() < 8 + length {
            return Ok(None);
        }
        let frame: Vec<u8> = self.buf.drain(..8 + length).collect();
        let (head, body) = frame.split_at(8);
        let flags = head[4];
        let word = |b: &[u8], at: usize| -> Result<u32, SpdyError> {
            let s = b.get(at..at + 4).ok_or(SpdyError::Short)?;
            Ok(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
        };
        if head[0] & 0x80 == 0 {
            let stream_id = word(head, 0)? & 0x7fff_ffff;
            return Ok(Some(Frame::Data {
                stream_id,
                fin: flags & FLAG_FIN != 0,
                data: body.to_vec(),
            }));
        }
        let version = u16::from_be_bytes([head[0] & 0x7f, head[1]]);
        if version != 3 {
            return Err(SpdyError::Version(version));
        }
        let kind = u16::from_be_bytes([head[2], head[3]]);
        let fin = flags & FLAG_FIN != 0;
        Ok(Some(match kind {
            1 => {
                let stream_id = word(body, 0)? & 0x7fff_ffff;
                let block = body.get(10..).ok_or(SpdyError::Short)?;
                Frame::SynStream { stream_id, fin, headers: self.inflate.headers(block)? }
            }
            2 => {
                let stream_id = word(body, 0)? & 0x7fff_ffff;
                let block = body.get(4..).ok_or(SpdyError::Short)?;
                Frame::SynReply { stream_id, fin, headers: self.inflate.headers(block)? }
            }
            3 => {
                Frame::RstStream { stream_id: word(body, 0)? & 0x7fff_ffff, status: word(body, 4)? }
            }
            4 => Frame::Settings,
            6 => Frame::Ping(word(body, 0)?),
            7 => Frame::GoAway { last_good: word(body, 0)? & 0x7fff_ffff, status: word(body, 4)? },
            8 => {
                let stream_id = word(body, 0)? & 0x7fff_ffff;
                let block = body.get(4..).ok_or(SpdyError::Short)?;
                Frame::Headers { stream_id, headers: self.inflate.headers(block)? }
            }
            9 => Frame::WindowUpdate {
                stream_id: word(body, 0)? & 0x7fff_ffff,
                delta: word(body, 4)? & 0x7fff_ffff,
            },
            other => Frame::Unknown(other),
        }))
    }
}

/// The peer's header stream: its zlib header, then one raw deflate stream whose history starts
/// with the dictionary.
struct HeaderInflater {
    state: Box<DecompressorOxide>,
    /// The dictionary, then everything decompressed so far; `len` bytes of it are valid.
    history: Vec<u8>,
    len: usize,
    /// zlib header bytes still to skip (2, plus 4 when it names a dictionary).
    header: Vec<u8>,
    started: bool,
}

impl Default for HeaderInflater {
    fn default() -> Self {
        let dict = dictionary();
        let mut history = dict.to_vec();
        history.resize(dict.len() + 4096, 0);
        HeaderInflater {
            state: Box::default(),
            history,
            len: dict.len(),
            header: Vec::new(),
            started: false,
        }
    }
}

impl HeaderInflater {
    fn headers(&mut self, block: &[u8]) -> Result<Headers, SpdyError> {
        let plain = self.inflate(block)?;
        parse_block(&plain)
    }

    fn inflate(&mut self, mut input: &[u8]) -> Result<Vec<u8>, SpdyError> {
        if !self.started {
            // The zlib header: CMF, FLG, and a dictionary id when FLG.FDICT is set.
            while self.header.len() < 2 && !input.is_empty() {
                self.header.push(input[0]);
                input = &input[1..];
            }
            let needed = if self.header.len() >= 2 && self.header[1] & 0x20 != 0 { 6 } else { 2 };
            while self.header.len() < needed && !input.is_empty() {
                self.header.push(input[0]);
                input = &input[1..];
            }
            if self.header.len() < needed.max(2) {
                return Ok(Vec::new());
            }
            if needed == 6 {
                let id = u32::from_be_bytes([
                    self.header[2],
                    self.header[3],
                    self.header[4],
                    self.header[5],
                ]);
                if id != adler32(dictionary()) {
                    return Err(SpdyError::Compression(format!("unknown dictionary id {id:#x}")));
                }
            }
            self.started = true;
        }
        let start = self.len;
        let flags = TINFL_FLAG_HAS_MORE_INPUT | TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF;
        loop {
            let (status, read, written) =
                decompress(&mut self.state, input, &mut self.history, self.len, flags);
            self.len += written;
            input = &input[read..];
            match status {
                TINFLStatus::HasMoreOutput => {
                    if self.history.len() >= MAX_HISTORY {
                        return Err(SpdyError::TooMuchHistory);
                    }
                    let grown = self.history.len() * 2;
                    self.history.resize(grown, 0);
                }
                TINFLStatus::NeedsMoreInput | TINFLStatus::Done if input.is_empty() => break,
                TINFLStatus::NeedsMoreInput | TINFLStatus::Done => {}
                other => return Err(SpdyError::Compression(format!("{other:?}"))),
            }
            if self.len == self.history.len() {
                let grown = self.history.len() * 2;
                self.history.resize(grown.min(MAX_HISTORY.max(self.len + 1)), 0);
            }
        }
        Ok(self.history[start..self.len].to_vec())
    }
}

/// `count, (len, name, len, value)*`, all lengths 4-byte big-endian.
fn parse_block(plain: &[u8]) -> Result<Headers, SpdyError> {
    struct Cursor<'a> {
        data: &'a [u8],
        at: usize,
    }
    impl<'a> Cursor<'a> {
        fn take(&mut self, n: usize) -> Result<&'a [u8], SpdyError> {
            let s = self.data.get(self.at..self.at + n).ok_or(SpdyError::HeaderBlock)?;
            self.at += n;
            Ok(s)
        }
        fn len(&mut self) -> Result<usize, SpdyError> {
            let s = self.take(4)?;
            Ok(u32::from_be_bytes([s[0], s[1], s[2], s[3]]) as usize)
        }
        fn text(&mut self) -> Result<String, SpdyError> {
            let n = self.len()?;
            Ok(String::from_utf8_lossy(self.take(n)?).into_owned())
        }
    }
    let mut cursor = Cursor { data: plain, at: 0 };
    let count = cursor.len()?;
    let mut headers = Vec::with_capacity(count.min(64));
    for _ in 0..count {
        let name = cursor.text()?;
        let value = cursor.text()?;
        headers.push((name, value));
    }
    Ok(headers)
}

/// Encodes this side's frames; header blocks share one zlib stream.
pub struct Encoder {
    deflate: Box<CompressorOxide>,
}

impl Default for Encoder {
    fn default() -> Self {
        let flags = create_comp_flags_from_zip_params(6, 15, 0);
        Encoder { deflate: Box::new(CompressorOxide::new(flags)) }
    }
}

impl Encoder {
    pub fn new() -> Self {
        Encoder::default()
    }

    pub fn encode(&mut self, frame: &Frame) -> Vec<u8> {
        match frame {
            Frame::Data { stream_id, fin, data } => {
                let mut out = Vec::with_capacity(8 + data.len());
                out.extend_from_slice(&(stream_id & 0x7fff_ffff).to_be_bytes());
                out.push(if *fin { FLAG_FIN } else { 0 });
                out.extend_from_slice(&(data.len() as u32).to_be_bytes()[1..]);
                out.extend_from_slice(data);
                out
            }
            Frame::SynReply { stream_id, fin, headers } => {
                let mut body = (stream_id & 0x7fff_ffff).to_be_bytes().to_vec();
                body.extend_from_slice(&self.block(headers));
                control(2, u8::from(*fin), &body)
            }
            Frame::SynStream { stream_id, fin, headers } => {
                let mut body = (stream_id & 0x7fff_ffff).to_be_bytes().to_vec();
                body.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
                body.extend_from_slice(&self.block(headers));
                control(1, u8::from(*fin), &body)
            }
            Frame::Headers { stream_id, headers } => {
                let mut body = (stream_id & 0x7fff_ffff).to_be_bytes().to_vec();
                body.extend_from_slice(&self.block(headers));
                control(8, 0, &body)
            }
            Frame::RstStream { stream_id, status } => {
                let mut body = (stream_id & 0x7fff_ffff).to_be_bytes().to_vec();
                body.extend_from_slice(&status.to_be_bytes());
                control(3, 0, &body)
            }
            Frame::Settings => control(4, 0, &0u32.to_be_bytes()),
            Frame::Ping(id) => control(6, 0, &id.to_be_bytes()),
            Frame::GoAway { last_good, status } => {
                let mut body = (last_good & 0x7fff_ffff).to_be_bytes().to_vec();
                body.extend_from_slice(&status.to_be_bytes());
                control(7, 0, &body)
            }
            Frame::WindowUpdate { stream_id, delta } => {
                let mut body = (stream_id & 0x7fff_ffff).to_be_bytes().to_vec();
                body.extend_from_slice(&(delta & 0x7fff_ffff).to_be_bytes());
                control(9, 0, &body)
            }
            Frame::Unknown(_) => Vec::new(),
        }
    }

    /// A header block, compressed and flushed so the peer can read it at once.
    fn block(&mut self, headers: &Headers) -> Vec<u8> {
        let mut plain = (headers.len() as u32).to_be_bytes().to_vec();
        for (name, value) in headers {
            plain.extend_from_slice(&(name.len() as u32).to_be_bytes());
            plain.extend_from_slice(name.as_bytes());
            plain.extend_from_slice(&(value.len() as u32).to_be_bytes());
            plain.extend_from_slice(value.as_bytes());
        }
        let mut out = Vec::new();
        let mut input = plain.as_slice();
        let mut chunk = vec![0u8; plain.len() + 64];
        loop {
            let (status, read, written) =
                compress(&mut self.deflate, input, &mut chunk, TDEFLFlush::Sync);
            out.extend_from_slice(&chunk[..written]);
            input = &input[read..];
            if input.is_empty() && written < chunk.len() || status != TDEFLStatus::Okay {
                break;
            }
        }
        out
    }
}

fn control(kind: u16, flags: u8, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + body.len());
    out.extend_from_slice(&(0x8003u16).to_be_bytes());
    out.extend_from_slice(&kind.to_be_bytes());
    out.push(flags);
    out.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    out.extend_from_slice(body);
    out
}

/// A header's value by name (names are lower case in SPDY/3).
pub fn header<'a>(headers: &'a Headers, name: &str) -> Option<&'a str> {
    headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// A compressor using the SPDY dictionary, standing in for the Go client's.
    fn client_block(deflate: &mut CompressorOxide, first: bool, headers: &Headers) -> Vec<u8> {
        let mut plain = (headers.len() as u32).to_be_bytes().to_vec();
        for (n, v) in headers {
            plain.extend_from_slice(&(n.len() as u32).to_be_bytes());
            plain.extend_from_slice(n.as_bytes());
            plain.extend_from_slice(&(v.len() as u32).to_be_bytes());
            plain.extend_from_slice(v.as_bytes());
        }
        let mut out = Vec::new();
        if first {
            // A zlib header naming the dictionary: CMF 0x78, FLG with FDICT, then the id.
            let cmf = 0x78u16;
            let mut flg = 0x20u16 | 0x80;
            flg += 31 - ((cmf * 256 + flg) % 31);
            out.push(cmf as u8);
            out.push(flg as u8);
            out.extend_from_slice(&adler32(dictionary()).to_be_bytes());
        }
        let mut chunk = vec![0u8; 4096];
        let (_, _, n) = compress(deflate, &plain, &mut chunk, TDEFLFlush::Sync);
        out.extend_from_slice(&chunk[..n]);
        out
    }

    #[test]
    fn the_dictionary_is_spdy3s() {
        assert_eq!(dictionary().len(), 1423);
        assert_eq!(&dictionary()[..11], b"\0\0\0\x07options");
        assert!(dictionary().ends_with(b"enq=0."));
    }

    #[test]
    fn syn_streams_from_a_client_decode_across_split_messages() {
        // A raw deflate stream (no zlib header from miniz: level flags only), primed with the
        // dictionary the way a preset dictionary primes zlib: compress dictionary + data and
        // drop the dictionary's output is not possible, so prime by compressing with the
        // dictionary as earlier input that the decoder also has as history.
        let mut deflate = CompressorOxide::new(create_comp_flags_from_zip_params(6, -15, 0));
        // Feed the dictionary first (flushed), then discard that output: the decoder starts
        // from the dictionary as history, so later back references into it resolve.
        let mut sink = vec![0u8; 8192];
        let _ = compress(&mut deflate, dictionary(), &mut sink, TDEFLFlush::Sync);
        let headers: Headers = vec![
            ("streamtype".into(), "error".into()),
            ("port".into(), "80".into()),
            ("requestid".into(), "0".into()),
        ];
        let block = client_block(&mut deflate, true, &headers);
        let mut frame = vec![0x80, 3, 0, 1, 0];
        let body_len = 10 + block.len();
        frame.extend_from_slice(&(body_len as u32).to_be_bytes()[1..]);
        frame.extend_from_slice(&1u32.to_be_bytes());
        frame.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
        frame.extend_from_slice(&block);
        let mut decoder = Decoder::new();
        let (a, b) = frame.split_at(7);
        decoder.push(a);
        assert_eq!(decoder.next_frame().unwrap(), None, "not whole yet");
        decoder.push(b);
        let Some(Frame::SynStream { stream_id, headers: got, .. }) = decoder.next_frame().unwrap()
        else {
            panic!("a SYN_STREAM")
        };
        assert_eq!((stream_id, got), (1, headers.clone()));
        // The second block continues the same stream.
        let headers2: Headers =
            vec![("streamtype".into(), "data".into()), ("port".into(), "80".into())];
        let block = client_block(&mut deflate, false, &headers2);
        let mut frame = vec![0x80, 3, 0, 1, 0];
        frame.extend_from_slice(&((10 + block.len()) as u32).to_be_bytes()[1..]);
        frame.extend_from_slice(&3u32.to_be_bytes());
        frame.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
        frame.extend_from_slice(&block);
        decoder.push(&frame);
        let Some(Frame::SynStream { stream_id: 3, headers: got, .. }) =
            decoder.next_frame().unwrap()
        else {
            panic!("a second SYN_STREAM")
        };
        assert_eq!(got, headers2);
    }

    #[test]
    fn our_frames_decode_with_our_own_decoder() {
        let mut encoder = Encoder::new();
        let mut decoder = Decoder::new();
        let reply =
            Frame::SynReply { stream_id: 1, fin: false, headers: vec![("a".into(), "b".into())] };
        for frame in [
            reply.clone(),
            Frame::Data { stream_id: 3, fin: true, data: b"hello".to_vec() },
            Frame::RstStream { stream_id: 5, status: RST_CANCEL },
            Frame::Ping(7),
            reply,
            Frame::WindowUpdate { stream_id: 1, delta: 100 },
            Frame::GoAway { last_good: 9, status: 0 },
        ] {
            decoder.push(&encoder.encode(&frame));
            assert_eq!(decoder.next_frame().unwrap(), Some(frame));
        }
    }
}
