//! Kubernetes protobuf request bodies (`application/vnd.kubernetes.protobuf`), decoded into the
//! JSON the same object would have been sent as.
//!
//! A body is the magic `k8s\0` followed by a `runtime.Unknown` {typeMeta=1 {apiVersion=1,
//! kind=2}, raw=2, contentEncoding=3, contentType=4}; `raw` is the object's own protobuf
//! encoding, decoded here against a table of the object's messages (`schema`). Nothing is
//! dropped silently: a field the table does not know, a wire type that does not match it,
//! truncated input, bad UTF-8, a duplicated field or an object kind without a table is an error.
//!
//! JSON follows Go's encoding of the decoded object: a zero scalar whose Go field is a plain
//! `omitempty` value is dropped, a message present on the wire is emitted (an empty one as
//! `{}`), a zero `metav1.Time` is `null`, absent repeated and map fields are absent.

mod known;
mod schema;

pub use known::unknown_fields;

use base64::Engine as _;
use serde_json::{Map, Value};

use schema::{Card, Field, Kind, Message};

/// The content type of a Kubernetes protobuf body.
pub const CONTENT_TYPE: &str = "application/vnd.kubernetes.protobuf";

/// The four bytes every Kubernetes protobuf body starts with.
const MAGIC: &[u8; 4] = b"k8s\0";

const UNKNOWN: &str = "runtime.Unknown";
const TYPE_META: &str = "runtime.TypeMeta";

/// Why a protobuf body could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtobufError {
    #[error("protobuf body does not start with the kubernetes magic bytes")]
    Magic,
    #[error("truncated protobuf input in {message}")]
    Truncated { message: &'static str },
    #[error("malformed varint in {message}")]
    Varint { message: &'static str },
    #[error("unsupported protobuf field {field} in {message}")]
    UnknownField { message: &'static str, field: u64 },
    #[error("protobuf field {field} in {message} has wire type {found}, expected {expected}")]
    WireType { message: &'static str, field: u32, found: u8, expected: u8 },
    #[error("duplicate protobuf field {field} in {message}")]
    Duplicate { message: &'static str, field: u32 },
    #[error("duplicate key {key:?} in protobuf map field {field} of {message}")]
    DuplicateKey { message: &'static str, field: u32, key: String },
    #[error("invalid utf-8 in protobuf field {field} of {message}")]
    Utf8 { message: &'static str, field: u32 },
    #[error("protobuf field {field} in {message} is out of range")]
    Range { message: &'static str, field: u32 },
    #[error("unsupported protobuf content encoding {0:?}")]
    ContentEncoding(String),
    #[error("unsupported protobuf content type {0:?}")]
    ContentType(String),
    #[error("unsupported protobuf object kind {kind:?} in {api_version:?}")]
    UnknownKind { api_version: String, kind: String },
}

type Result<T> = std::result::Result<T, ProtobufError>;

/// Decode a protobuf request body into the object's JSON (`apiVersion`, `kind`, `metadata`, ...).
pub fn decode(body: &[u8]) -> Result<Value> {
    let rest = body.strip_prefix(MAGIC).ok_or(ProtobufError::Magic)?;
    let envelope = Envelope::read(rest)?;
    if !envelope.content_encoding.is_empty() {
        return Err(ProtobufError::ContentEncoding(envelope.content_encoding));
    }
    if !envelope.content_type.is_empty() && envelope.content_type != CONTENT_TYPE {
        return Err(ProtobufError::ContentType(envelope.content_type));
    }
    let Some(message) = schema::lookup(&envelope.api_version, &envelope.kind) else {
        return Err(ProtobufError::UnknownKind {
            api_version: envelope.api_version,
            kind: envelope.kind,
        });
    };
    let mut object = Map::new();
    object.insert("apiVersion".into(), Value::String(envelope.api_version));
    object.insert("kind".into(), Value::String(envelope.kind));
    decode_into(envelope.raw, message, &mut object)?;
    Ok(Value::Object(object))
}

/// The `runtime.Unknown` around the object.
struct Envelope<'a> {
    api_version: String,
    kind: String,
    raw: &'a [u8],
    content_encoding: String,
    content_type: String,
}

impl<'a> Envelope<'a> {
    fn read(buf: &'a [u8]) -> Result<Self> {
        let mut envelope = Envelope {
            api_version: String::new(),
            kind: String::new(),
            raw: &[],
            content_encoding: String::new(),
            content_type: String::new(),
        };
        for (number, part) in small_message(buf, UNKNOWN, &[], &[1, 2, 3, 4])? {
            let Part::Len(bytes) = part else { continue };
            match number {
                1 => {
                    for (number, part) in small_message(bytes, TYPE_META, &[], &[1, 2])? {
                        if let Part::Len(bytes) = part {
                            let text = utf8(bytes, TYPE_META, number)?.to_owned();
                            if number == 1 {
                                envelope.api_version = text;
                            } else {
                                envelope.kind = text;
                            }
                        }
                    }
                }
                2 => envelope.raw = bytes,
                3 => envelope.content_encoding = utf8(bytes, UNKNOWN, number)?.into(),
                _ => envelope.content_type = utf8(bytes, UNKNOWN, number)?.into(),
            }
        }
        Ok(envelope)
    }
}

/// The field numbers of a message read so far, to refuse a second occurrence of a single field.
#[derive(Default)]
struct Seen(Vec<u32>);

impl Seen {
    fn once(&mut self, message: &'static str, field: u32) -> Result<()> {
        if self.0.contains(&field) {
            return Err(ProtobufError::Duplicate { message, field });
        }
        self.0.push(field);
        Ok(())
    }
}

const WIRE_VARINT: u8 = 0;
const WIRE_LEN: u8 = 2;

/// A cursor over one message's bytes.
struct Reader<'a> {
    buf: &'a [u8],
    message: &'static str,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8], message: &'static str) -> Self {
        Reader { buf, message }
    }

    fn varint(&mut self) -> Result<u64> {
        let mut value = 0u64;
        for (i, &byte) in self.buf.iter().enumerate().take(10) {
            // The tenth byte may carry only the 64th bit.
            if i == 9 && byte > 1 {
                return Err(ProtobufError::Varint { message: self.message });
            }
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                self.buf = &self.buf[i + 1..];
                return Ok(value);
            }
        }
        if self.buf.len() >= 10 {
            Err(ProtobufError::Varint { message: self.message })
        } else {
            Err(ProtobufError::Truncated { message: self.message })
        }
    }

    /// The next field's number and wire type, or `None` at the end of the message.
    fn key(&mut self) -> Result<Option<(u32, u8)>> {
        if self.buf.is_empty() {
            return Ok(None);
        }
        let key = self.varint()?;
        let number = key >> 3;
        match u32::try_from(number) {
            Ok(n) if n > 0 && n < 1 << 29 => Ok(Some((n, (key & 7) as u8))),
            _ => Err(ProtobufError::UnknownField { message: self.message, field: number }),
        }
    }

    fn bytes(&mut self) -> Result<&'a [u8]> {
        let len = self.varint()?;
        let len = usize::try_from(len)
            .ok()
            .filter(|&len| len <= self.buf.len())
            .ok_or(ProtobufError::Truncated { message: self.message })?;
        let (bytes, rest) = self.buf.split_at(len);
        self.buf = rest;
        Ok(bytes)
    }

    fn expect(&self, field: u32, found: u8, expected: u8) -> Result<()> {
        if found == expected {
            Ok(())
        } else {
            Err(ProtobufError::WireType { message: self.message, field, found, expected })
        }
    }

    fn len_delimited(&mut self, field: u32, wire: u8) -> Result<&'a [u8]> {
        self.expect(field, wire, WIRE_LEN)?;
        self.bytes()
    }
}

fn utf8<'a>(bytes: &'a [u8], message: &'static str, field: u32) -> Result<&'a str> {
    std::str::from_utf8(bytes).map_err(|_| ProtobufError::Utf8 { message, field })
}

/// Decode `buf` as `message`, adding its fields to `out`.
fn decode_into(buf: &[u8], message: &'static Message, out: &mut Map<String, Value>) -> Result<()> {
    let mut reader = Reader::new(buf, message.name);
    let mut seen = Seen::default();
    while let Some((number, wire)) = reader.key()? {
        let field =
            message.fields.iter().find(|field| field.number == number).ok_or(
                ProtobufError::UnknownField { message: message.name, field: number.into() },
            )?;
        match field.card {
            Card::Rep => {
                let items = out
                    .entry(field.json)
                    .or_insert_with(|| Value::Array(Vec::new()))
                    .as_array_mut()
                    .ok_or(ProtobufError::Duplicate { message: message.name, field: number })?;
                if wire == WIRE_LEN && is_varint(field.kind) {
                    // A packed run of varints.
                    let mut packed = Reader::new(reader.bytes()?, message.name);
                    while !packed.buf.is_empty() {
                        items.push(scalar(field, packed.varint()?, message.name)?);
                    }
                } else {
                    items.push(value(&mut reader, field, wire, message.name)?);
                }
            }
            Card::Map => {
                let entry = reader.len_delimited(number, wire)?;
                let (key, value) = map_entry(entry, field, message.name)?;
                let entries = out
                    .entry(field.json)
                    .or_insert_with(|| Value::Object(Map::new()))
                    .as_object_mut()
                    .ok_or(ProtobufError::Duplicate { message: message.name, field: number })?;
                if entries.contains_key(&key) {
                    return Err(ProtobufError::DuplicateKey {
                        message: message.name,
                        field: number,
                        key,
                    });
                }
                entries.insert(key, value);
            }
            Card::Opt | Card::Omit => {
                seen.once(message.name, number)?;
                if let Kind::Inline(inner) = field.kind {
                    decode_into(reader.len_delimited(number, wire)?, inner, out)?;
                    continue;
                }
                let value = value(&mut reader, field, wire, message.name)?;
                if field.card == Card::Omit && is_zero(&value) {
                    continue;
                }
                if out.insert(field.json.into(), value).is_some() {
                    return Err(ProtobufError::Duplicate { message: message.name, field: number });
                }
            }
        }
    }
    Ok(())
}

fn is_varint(kind: Kind) -> bool {
    matches!(kind, Kind::I32 | Kind::I64 | Kind::Bool)
}

/// The zero values Go's `omitempty` drops.
fn is_zero(value: &Value) -> bool {
    match value {
        Value::String(s) => s.is_empty(),
        Value::Number(n) => n.as_i64() == Some(0),
        Value::Bool(b) => !b,
        _ => false,
    }
}

/// One value of `field` (one element, for a repeated field) read at the reader's position.
fn value(reader: &mut Reader<'_>, field: &Field, wire: u8, message: &'static str) -> Result<Value> {
    if is_varint(field.kind) {
        reader.expect(field.number, wire, WIRE_VARINT)?;
        let raw = reader.varint()?;
        return scalar(field, raw, message);
    }
    let bytes = reader.len_delimited(field.number, wire)?;
    bytes_value(bytes, field.kind, field.number, message)
}

/// A varint-encoded value of `field`.
fn scalar(field: &Field, raw: u64, message: &'static str) -> Result<Value> {
    // Negative numbers are sign-extended to 64 bits on the wire.
    let signed = raw as i64;
    Ok(match field.kind {
        Kind::I32 => i32::try_from(signed)
            .map_err(|_| ProtobufError::Range { message, field: field.number })?
            .into(),
        Kind::Bool => Value::Bool(raw != 0),
        _ => signed.into(),
    })
}

/// A length-delimited value of kind `kind`.
fn bytes_value(bytes: &[u8], kind: Kind, number: u32, message: &'static str) -> Result<Value> {
    Ok(match kind {
        Kind::Str => Value::String(utf8(bytes, message, number)?.into()),
        Kind::Bytes => Value::String(base64::engine::general_purpose::STANDARD.encode(bytes)),
        Kind::Msg(inner) | Kind::Inline(inner) => {
            let mut object = Map::new();
            decode_into(bytes, inner, &mut object)?;
            Value::Object(object)
        }
        Kind::Time => time(bytes, "meta.v1.Time", false)?,
        Kind::MicroTime => time(bytes, "meta.v1.MicroTime", true)?,
        Kind::Quantity => quantity(bytes)?,
        Kind::IntOrStr => int_or_string(bytes)?,
        Kind::I32 | Kind::I64 | Kind::Bool => {
            return Err(ProtobufError::WireType {
                message,
                field: number,
                found: WIRE_LEN,
                expected: WIRE_VARINT,
            });
        }
    })
}

/// A `map<string, kind>` entry {key=1, value=2}; an absent part is its zero value.
fn map_entry(entry: &[u8], field: &Field, message: &'static str) -> Result<(String, Value)> {
    let mut reader = Reader::new(entry, message);
    let (mut key, mut value) = (None, None);
    while let Some((number, wire)) = reader.key()? {
        match number {
            1 if key.is_none() => {
                key = Some(utf8(reader.len_delimited(field.number, wire)?, message, field.number)?)
            }
            2 if value.is_none() => value = Some(self::value(&mut reader, field, wire, message)?),
            1 | 2 => return Err(ProtobufError::Duplicate { message, field: field.number }),
            _ => return Err(ProtobufError::UnknownField { message, field: field.number.into() }),
        }
    }
    let value = match value {
        Some(value) => value,
        None if is_varint(field.kind) => scalar(field, 0, message)?,
        None => bytes_value(&[], field.kind, field.number, message)?,
    };
    Ok((key.unwrap_or_default().to_owned(), value))
}

/// The fields of a small fixed message (the envelope, the well-known types), in wire order:
/// `varints` and `lens` name the numbers that are varints and length-delimited.
fn small_message<'a>(
    bytes: &'a [u8],
    message: &'static str,
    varints: &[u32],
    lens: &[u32],
) -> Result<Vec<(u32, Part<'a>)>> {
    let mut reader = Reader::new(bytes, message);
    let mut seen = Seen::default();
    let mut parts = Vec::new();
    while let Some((number, wire)) = reader.key()? {
        let part = if varints.contains(&number) {
            reader.expect(number, wire, WIRE_VARINT)?;
            Part::Varint(reader.varint()?)
        } else if lens.contains(&number) {
            Part::Len(reader.len_delimited(number, wire)?)
        } else {
            return Err(ProtobufError::UnknownField { message, field: number.into() });
        };
        seen.once(message, number)?;
        parts.push((number, part));
    }
    Ok(parts)
}

enum Part<'a> {
    Varint(u64),
    Len(&'a [u8]),
}

/// `metav1.Time` / `metav1.MicroTime` {seconds=1, nanos=2} in UTC: `null` when the message is
/// empty (Go's zero time), else seconds (`Time`) or microseconds (`MicroTime`) precision.
fn time(bytes: &[u8], message: &'static str, micro: bool) -> Result<Value> {
    let parts = small_message(bytes, message, &[1, 2], &[])?;
    if parts.is_empty() {
        return Ok(Value::Null);
    }
    let (mut seconds, mut nanos) = (0i64, 0i64);
    for (number, part) in parts {
        if let Part::Varint(raw) = part {
            if number == 1 {
                seconds = raw as i64;
            } else {
                nanos = raw as i64;
            }
        }
    }
    if !(0..1_000_000_000).contains(&nanos) {
        return Err(ProtobufError::Range { message, field: 2 });
    }
    let at = time::OffsetDateTime::from_unix_timestamp(seconds)
        .ok()
        .filter(|at| (0..=9999).contains(&at.year()))
        .ok_or(ProtobufError::Range { message, field: 1 })?;
    let mut text = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    );
    if micro {
        text.push_str(&format!(".{:06}", nanos / 1000));
    }
    text.push('Z');
    Ok(Value::String(text))
}

/// `resource.Quantity` {string=1}: its string; an empty message is the zero quantity.
fn quantity(bytes: &[u8]) -> Result<Value> {
    const NAME: &str = "resource.Quantity";
    Ok(Value::String(match small_message(bytes, NAME, &[], &[1])?.first() {
        Some((number, Part::Len(text))) => utf8(text, NAME, *number)?.to_owned(),
        _ => "0".to_owned(),
    }))
}

/// `intstr.IntOrString` {type=1 (0 int, 1 string), intVal=2, strVal=3}.
fn int_or_string(bytes: &[u8]) -> Result<Value> {
    const NAME: &str = "intstr.IntOrString";
    let (mut kind, mut int, mut string) = (0u64, 0u64, "");
    for (number, part) in small_message(bytes, NAME, &[1, 2], &[3])? {
        match (number, part) {
            (1, Part::Varint(raw)) => kind = raw,
            (2, Part::Varint(raw)) => int = raw,
            (number, Part::Len(text)) => string = utf8(text, NAME, number)?,
            _ => {}
        }
    }
    match kind {
        0 => i32::try_from(int as i64)
            .map(Value::from)
            .map_err(|_| ProtobufError::Range { message: NAME, field: 2 }),
        1 => Ok(Value::String(string.to_owned())),
        _ => Err(ProtobufError::Range { message: NAME, field: 1 }),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A tiny protobuf encoder for test bodies.
    #[derive(Default)]
    struct Pb(Vec<u8>);

    impl Pb {
        fn new() -> Self {
            Pb::default()
        }

        fn raw_varint(mut self, mut v: u64) -> Self {
            while v >= 0x80 {
                self.0.push((v as u8) | 0x80);
                v >>= 7;
            }
            self.0.push(v as u8);
            self
        }

        fn key(self, field: u32, wire: u8) -> Self {
            self.raw_varint(u64::from(field) << 3 | u64::from(wire))
        }

        fn int(self, field: u32, v: i64) -> Self {
            self.key(field, 0).raw_varint(v as u64)
        }

        fn bytes(self, field: u32, b: &[u8]) -> Self {
            let mut pb = self.key(field, 2).raw_varint(b.len() as u64);
            pb.0.extend_from_slice(b);
            pb
        }

        fn str(self, field: u32, s: &str) -> Self {
            self.bytes(field, s.as_bytes())
        }

        fn msg(self, field: u32, inner: Pb) -> Self {
            self.bytes(field, &inner.0)
        }

        /// A `map<string, string>` entry.
        fn entry(self, field: u32, k: &str, v: &str) -> Self {
            self.msg(field, Pb::new().str(1, k).str(2, v))
        }
    }

    /// The envelope: magic, then `runtime.Unknown` {typeMeta, raw}.
    fn body(api_version: &str, kind: &str, raw: Pb) -> Vec<u8> {
        let type_meta = Pb::new().str(1, api_version).str(2, kind);
        let unknown = Pb::new().msg(1, type_meta).msg(2, raw);
        [MAGIC.as_slice(), &unknown.0].concat()
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    fn meta(name: &str) -> Pb {
        Pb::new().str(1, name)
    }

    #[test]
    fn namespace() {
        let raw =
            Pb::new().msg(1, meta("demo").entry(11, "a", "b")).msg(2, Pb::new()).msg(3, Pb::new());
        assert_eq!(
            decode(&body("v1", "Namespace", raw)).unwrap(),
            json!({"apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": "demo", "labels": {"a": "b"}}, "spec": {}, "status": {}})
        );
    }

    #[test]
    fn configmap_data_and_binary_data() {
        let raw = Pb::new()
            .msg(1, meta("cm").str(3, "default"))
            .entry(2, "a", "b")
            .entry(2, "c", "d")
            .msg(3, Pb::new().str(1, "bin").bytes(2, &[0, 1, 2, 255]));
        assert_eq!(
            decode(&body("v1", "ConfigMap", raw)).unwrap(),
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "cm", "namespace": "default"},
                "data": {"a": "b", "c": "d"}, "binaryData": {"bin": "AAEC/w=="}})
        );
    }

    #[test]
    fn secret_bytes_are_base64() {
        let raw = Pb::new()
            .msg(1, meta("s"))
            .msg(2, Pb::new().str(1, "k").bytes(2, b"v"))
            .msg(2, Pb::new().str(1, "empty").bytes(2, b""))
            .str(3, "Opaque")
            .entry(4, "plain", "text");
        assert_eq!(
            decode(&body("v1", "Secret", raw)).unwrap(),
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
                "data": {"k": "dg==", "empty": ""}, "type": "Opaque",
                "stringData": {"plain": "text"}})
        );
    }

    /// `kubectl create deployment web --image=nginx --replicas=2 --port=80`, as kubectl's
    /// generator builds it (empty strings and zero numbers included, as gogo writes them).
    #[test]
    fn deployment_as_kubectl_generates_it() {
        let labels = || Pb::new().str(2, "").str(3, "").int(7, 0).msg(8, Pb::new());
        let container = Pb::new()
            .str(1, "nginx")
            .str(2, "nginx")
            .msg(6, Pb::new().str(1, "").int(2, 0).int(3, 80).str(4, "").str(5, ""))
            .msg(8, Pb::new())
            .str(13, "")
            .str(14, "")
            .int(16, 0);
        let template = Pb::new()
            .msg(1, labels().entry(11, "app", "web"))
            .msg(2, Pb::new().msg(2, container).str(3, "").str(6, "").int(11, 0));
        let spec = Pb::new()
            .int(1, 2)
            .msg(2, Pb::new().entry(1, "app", "web"))
            .msg(3, template)
            .msg(4, Pb::new().str(1, ""))
            .int(5, 0);
        let raw = Pb::new()
            .msg(1, labels().str(1, "web").entry(11, "app", "web"))
            .msg(2, spec)
            .msg(3, Pb::new().int(1, 0).int(2, 0));
        assert_eq!(
            decode(&body("apps/v1", "Deployment", raw)).unwrap(),
            json!({"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "web", "labels": {"app": "web"}, "creationTimestamp": null},
                "spec": {
                    "replicas": 2,
                    "selector": {"matchLabels": {"app": "web"}},
                    "template": {
                        "metadata": {"labels": {"app": "web"}, "creationTimestamp": null},
                        "spec": {"containers": [{"name": "nginx", "image": "nginx",
                            "ports": [{"containerPort": 80}], "resources": {}}]}},
                    "strategy": {}},
                "status": {}})
        );
    }

    #[test]
    fn quantities_in_resources() {
        let quantity =
            |name: &str, value: &str| Pb::new().str(1, name).msg(2, Pb::new().str(1, value));
        let resources = Pb::new()
            .msg(1, quantity("cpu", "500m"))
            .msg(1, quantity("memory", "128Mi"))
            .msg(2, quantity("cpu", "100m"))
            .msg(2, Pb::new().str(1, "zero").msg(2, Pb::new()));
        let container = Pb::new().str(1, "c").str(2, "busybox").msg(8, resources);
        let raw = Pb::new().msg(1, meta("p")).msg(2, Pb::new().msg(2, container));
        let pod = decode(&body("v1", "Pod", raw)).unwrap();
        assert_eq!(
            pod["spec"]["containers"][0]["resources"],
            json!({"limits": {"cpu": "500m", "memory": "128Mi"},
                "requests": {"cpu": "100m", "zero": "0"}})
        );
    }

    #[test]
    fn int_or_string_target_port() {
        let port = |name: &str, target: Pb| {
            Pb::new().str(1, name).str(2, "TCP").int(3, 80).msg(4, target).int(5, 0)
        };
        let spec = Pb::new()
            .msg(1, port("by-number", Pb::new().int(1, 0).int(2, 8080).str(3, "")))
            .msg(1, port("by-name", Pb::new().int(1, 1).int(2, 0).str(3, "http")))
            .msg(1, port("unset", Pb::new()))
            .str(4, "ClusterIP");
        let raw = Pb::new().msg(1, meta("svc")).msg(2, spec);
        let service = decode(&body("v1", "Service", raw)).unwrap();
        assert_eq!(
            service["spec"],
            json!({"type": "ClusterIP", "ports": [
                {"name": "by-number", "protocol": "TCP", "port": 80, "targetPort": 8080},
                {"name": "by-name", "protocol": "TCP", "port": 80, "targetPort": "http"},
                {"name": "unset", "protocol": "TCP", "port": 80, "targetPort": 0}]})
        );
        let bad =
            Pb::new().msg(1, meta("svc")).msg(2, Pb::new().msg(1, port("x", Pb::new().int(1, 2))));
        assert_eq!(
            decode(&body("v1", "Service", bad)).unwrap_err().to_string(),
            "protobuf field 1 in intstr.IntOrString is out of range"
        );
    }

    #[test]
    fn times() {
        let raw = Pb::new().msg(1, meta("n").msg(8, Pb::new().int(1, 1_704_067_200).int(2, 5)));
        let namespace = decode(&body("v1", "Namespace", raw)).unwrap();
        assert_eq!(namespace["metadata"]["creationTimestamp"], "2024-01-01T00:00:00Z");

        let raw = Pb::new().msg(1, meta("n").msg(8, Pb::new()));
        let namespace = decode(&body("v1", "Namespace", raw)).unwrap();
        assert_eq!(namespace["metadata"], json!({"name": "n", "creationTimestamp": null}));

        let micro = Pb::new().int(1, 1_704_067_200).int(2, 123_456_789);
        let raw = Pb::new().msg(1, meta("l")).msg(2, Pb::new().str(1, "me").msg(4, micro));
        let lease = decode(&body("coordination.k8s.io/v1", "Lease", raw)).unwrap();
        assert_eq!(
            lease["spec"],
            json!({"holderIdentity": "me", "renewTime": "2024-01-01T00:00:00.123456Z"})
        );

        let raw = Pb::new().msg(1, meta("n").msg(8, Pb::new().int(1, 1).int(2, -1)));
        assert_eq!(
            decode(&body("v1", "Namespace", raw)).unwrap_err().to_string(),
            "protobuf field 2 in meta.v1.Time is out of range"
        );
    }

    #[test]
    fn omitempty_and_pointers() {
        // Empty plain `omitempty` strings go; a pointer `false` and a zero pointer stay.
        let raw = Pb::new()
            .msg(1, meta("sa").str(2, "").str(3, "").int(7, 0))
            .int(4, 0)
            .msg(3, Pb::new().str(1, "pull"));
        assert_eq!(
            decode(&body("v1", "ServiceAccount", raw)).unwrap(),
            json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "sa"},
                "automountServiceAccountToken": false, "imagePullSecrets": [{"name": "pull"}]})
        );
        let spec = Pb::new().int(1, 0).int(5, 0).int(6, 0).int(7, 0);
        let raw = Pb::new().msg(1, meta("d")).msg(2, spec);
        assert_eq!(
            decode(&body("apps/v1", "Deployment", raw)).unwrap()["spec"],
            json!({"replicas": 0, "revisionHistoryLimit": 0})
        );
    }

    #[test]
    fn inline_volume_source_and_packed_repeated() {
        let volume = Pb::new()
            .str(1, "config")
            .msg(2, Pb::new().msg(19, Pb::new().msg(1, Pb::new().str(1, "cm")).int(3, 420)));
        let security = Pb::new().int(4, 1).int(4, 2).bytes(4, &[3, 4]);
        let spec = Pb::new().msg(1, volume).msg(14, security);
        let raw = Pb::new().msg(1, meta("p")).msg(2, spec);
        let pod = decode(&body("v1", "Pod", raw)).unwrap();
        assert_eq!(
            pod["spec"],
            json!({"volumes": [{"name": "config", "configMap": {"name": "cm", "defaultMode": 420}}],
                "securityContext": {"supplementalGroups": [1, 2, 3, 4]}})
        );
    }

    #[test]
    fn rbac_and_priority_class() {
        let rule = Pb::new().str(1, "get").str(1, "list").str(2, "").str(3, "pods").str(4, "x");
        let raw = Pb::new().msg(1, meta("r")).msg(2, rule);
        assert_eq!(
            decode(&body("rbac.authorization.k8s.io/v1", "Role", raw)).unwrap()["rules"],
            json!([{"verbs": ["get", "list"], "apiGroups": [""], "resources": ["pods"],
                "resourceNames": ["x"]}])
        );
        let raw = Pb::new()
            .msg(1, meta("rb"))
            .msg(2, Pb::new().str(1, "User").str(2, "rbac.authorization.k8s.io").str(3, "alice"))
            .msg(3, Pb::new().str(1, "rbac.authorization.k8s.io").str(2, "Role").str(3, "r"));
        assert_eq!(
            decode(&body("rbac.authorization.k8s.io/v1", "RoleBinding", raw)).unwrap(),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                "metadata": {"name": "rb"},
                "subjects": [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io",
                    "name": "alice"}],
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                    "name": "r"}})
        );
        let raw = Pb::new().msg(1, meta("pc")).int(2, -5).int(3, 0).str(4, "hi").str(5, "Never");
        assert_eq!(
            decode(&body("scheduling.k8s.io/v1", "PriorityClass", raw)).unwrap(),
            json!({"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
                "metadata": {"name": "pc"}, "value": -5, "description": "hi",
                "preemptionPolicy": "Never"})
        );
    }

    #[test]
    fn eviction_with_delete_options() {
        let options = Pb::new()
            .int(1, 0)
            .msg(2, Pb::new().str(1, "uid-1"))
            .str(4, "Foreground")
            .str(5, "All");
        let raw = Pb::new().msg(1, meta("web-0").str(3, "default")).msg(2, options);
        assert_eq!(
            decode(&body("policy/v1", "Eviction", raw)).unwrap(),
            json!({"apiVersion": "policy/v1", "kind": "Eviction",
                "metadata": {"name": "web-0", "namespace": "default"},
                "deleteOptions": {"gracePeriodSeconds": 0, "preconditions": {"uid": "uid-1"},
                    "propagationPolicy": "Foreground", "dryRun": ["All"]}})
        );
    }

    /// Bodies captured from kubectl 1.32 against a stub server, checked against the JSON
    /// `kubectl ... --dry-run=client -o json` prints for the same command.
    #[test]
    fn real_kubectl_bodies() {
        let cases = [
            (
                // kubectl create namespace demo
                NAMESPACE_HEX,
                json!({"kind": "Namespace", "apiVersion": "v1",
                    "metadata": {"name": "demo", "creationTimestamp": null},
                    "spec": {}, "status": {}}),
            ),
            (
                // kubectl create deployment web --image=nginx --replicas=2 --port=80
                DEPLOYMENT_HEX,
                json!({"kind": "Deployment", "apiVersion": "apps/v1",
                    "metadata": {"name": "web", "creationTimestamp": null, "labels": {"app": "web"}},
                    "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                        "template": {
                            "metadata": {"creationTimestamp": null, "labels": {"app": "web"}},
                            "spec": {"containers": [{"name": "nginx", "image": "nginx",
                                "ports": [{"containerPort": 80}], "resources": {}}]}},
                        "strategy": {}},
                    "status": {}}),
            ),
            (
                // kubectl create service clusterip svc --tcp=80:8080 --tcp=443:https
                SERVICE_HEX,
                json!({"kind": "Service", "apiVersion": "v1",
                    "metadata": {"name": "svc", "creationTimestamp": null, "labels": {"app": "svc"}},
                    "spec": {"ports": [
                        {"name": "80-8080", "protocol": "TCP", "port": 80, "targetPort": 8080},
                        {"name": "443-https", "protocol": "TCP", "port": 443, "targetPort": "https"}],
                        "selector": {"app": "svc"}, "type": "ClusterIP"},
                    "status": {"loadBalancer": {}}}),
            ),
            (
                // kubectl create cronjob cj --image=busybox --schedule='*/1 * * * *'
                //   --restart=OnFailure -- date
                CRONJOB_HEX,
                json!({"kind": "CronJob", "apiVersion": "batch/v1",
                    "metadata": {"name": "cj", "creationTimestamp": null},
                    "spec": {"schedule": "*/1 * * * *", "jobTemplate": {
                        "metadata": {"name": "cj", "creationTimestamp": null},
                        "spec": {"template": {"metadata": {"creationTimestamp": null},
                            "spec": {"containers": [{"name": "cj", "image": "busybox",
                                "command": ["date"], "resources": {}}],
                                "restartPolicy": "OnFailure"}}}}},
                    "status": {}}),
            ),
            (
                // kubectl create ingress ing --class=nginx --default-backend=defsvc:http
                //   --rule="foo.com/bar*=svc1:8080,tls=my-cert" --annotation=a=b
                INGRESS_HEX,
                json!({"kind": "Ingress", "apiVersion": "networking.k8s.io/v1",
                    "metadata": {"name": "ing", "creationTimestamp": null,
                        "annotations": {"a": "b"}},
                    "spec": {"ingressClassName": "nginx",
                        "defaultBackend": {"service": {"name": "defsvc", "port": {"name": "http"}}},
                        "tls": [{"hosts": ["foo.com"], "secretName": "my-cert"}],
                        "rules": [{"host": "foo.com", "http": {"paths": [{"path": "/bar",
                            "pathType": "Prefix", "backend": {"service": {"name": "svc1",
                                "port": {"number": 8080}}}}]}}]},
                    "status": {"loadBalancer": {}}}),
            ),
            (
                // kubectl create token sa --duration=10m --audience=x
                TOKEN_REQUEST_HEX,
                json!({"kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1",
                    "metadata": {"creationTimestamp": null},
                    "spec": {"audiences": ["x"], "expirationSeconds": 600},
                    "status": {"token": "", "expirationTimestamp": null}}),
            ),
        ];
        for (body, want) in cases {
            assert_eq!(decode(&hex(body)).unwrap(), want);
        }
    }

    /// `kubectl create job fromcj --from=cronjob/cj` against a stub serving a CronJob whose pod
    /// template uses most of PodSpec and Container; the decoded body equals kubectl's
    /// `--dry-run=client -o json` output, spot-checked here.
    #[test]
    fn real_kubectl_job_from_rich_cronjob() {
        let job = decode(&hex(JOB_FROM_CRONJOB_HEX)).unwrap();
        assert_eq!(job["metadata"]["annotations"]["cronjob.kubernetes.io/instantiate"], "manual");
        assert_eq!(job["metadata"]["ownerReferences"][0]["controller"], true);
        assert_eq!(job["metadata"]["ownerReferences"][0]["kind"], "CronJob");
        let spec = &job["spec"];
        assert_eq!(spec["backoffLimit"], 6);
        assert_eq!(spec["manualSelector"], false);
        assert_eq!(
            spec["podFailurePolicy"]["rules"][0]["onExitCodes"]["values"],
            json!([1, 2, 42])
        );
        let pod = &spec["template"]["spec"];
        assert_eq!(pod["automountServiceAccountToken"], false);
        assert_eq!(pod["hostNetwork"], true);
        assert_eq!(pod["securityContext"]["supplementalGroups"], json!([4000, 5000]));
        assert_eq!(pod["tolerations"][0]["tolerationSeconds"], 300);
        assert_eq!(
            pod["volumes"][2],
            json!({"name": "tmp",
            "emptyDir": {"medium": "Memory", "sizeLimit": "64Mi"}})
        );
        assert_eq!(
            pod["volumes"][5]["projected"]["sources"][0]["serviceAccountToken"],
            json!({"audience": "api", "expirationSeconds": 3607, "path": "token"})
        );
        assert_eq!(
            pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"],
            json!({"nodeSelectorTerms": [{"matchExpressions": [
                {"key": "zone", "operator": "In", "values": ["a", "b"]}]}]})
        );
        let main = &pod["containers"][0];
        assert_eq!(
            main["resources"],
            json!({"limits": {"cpu": "1", "memory": "512Mi"},
            "requests": {"cpu": "250m", "memory": "128Mi"}})
        );
        assert_eq!(
            main["env"][2],
            json!({"name": "C",
            "valueFrom": {"secretKeyRef": {"name": "s", "key": "c", "optional": false}}})
        );
        assert_eq!(main["env"][4]["valueFrom"]["resourceFieldRef"]["divisor"], "1Mi");
        assert_eq!(main["livenessProbe"]["httpGet"]["port"], 8080);
        assert_eq!(main["readinessProbe"]["tcpSocket"]["port"], "http");
        assert_eq!(main["lifecycle"]["preStop"], json!({"sleep": {"seconds": 5}}));
        assert_eq!(
            main["securityContext"]["capabilities"],
            json!({"add": ["NET_ADMIN"], "drop": ["ALL"]})
        );
        assert_eq!(
            main["ports"][1],
            json!({"containerPort": 9090, "hostPort": 9090,
            "protocol": "UDP", "hostIP": "0.0.0.0"})
        );
    }

    const NAMESPACE_HEX: &str = concat!(
        "6b3873000a0f0a02763112094e616d657370616365121c0a140a0464656d6f12001a0022002a0032",
        "003800420012001a020a001a002200",
    );
    const DEPLOYMENT_HEX: &str = concat!(
        "6b3873000a150a07617070732f7631120a4465706c6f796d656e7412b8010a1f0a0377656212001a",
        "0022002a003200380042005a0a0a0361707012037765621286010802120c0a0a0a03617070120377",
        "65621a6c0a1c0a0012001a0022002a003200380042005a0a0a036170701203776562124c122e0a05",
        "6e67696e7812056e67696e782a00320a0a001000185022002a0042006a0072008001008801009001",
        "00a201001a00320042004a0052005800600068008201008a01009a0100c2010022020a0028003800",
        "1a0c0800100018002000280038001a002200",
    );
    const SERVICE_HEX: &str = concat!(
        "6b3873000a0d0a027631120753657276696365128d010a1f0a0373766312001a0022002a00320038",
        "0042005a0a0a03617070120373766312660a1b0a0738302d38303830120354435018502207080010",
        "903f1a0028000a220a093434332d6874747073120354435018bb03220b080110001a056874747073",
        "2800120a0a0361707012037376631a002209436c757374657249503a00420052005a00600068001a",
        "020a001a002200",
    );
    const CRONJOB_HEX: &str = concat!(
        "6b3873000a130a0862617463682f7631120743726f6e4a6f6212a4010a120a02636a12001a002200",
        "2a00320038004200128b010a0b2a2f31202a202a202a202a1a002a7a0a120a02636a12001a002200",
        "2a00320038004200126432620a100a0012001a0022002a00320038004200124e12270a02636a1207",
        "62757379626f781a04646174652a0042006a007200800100880100900100a201001a094f6e466169",
        "6c757265320042004a0052005800600068008201008a01009a0100c201001a001a002200",
    );
    const INGRESS_HEX: &str = concat!(
        "6b3873000a1f0a146e6574776f726b696e672e6b38732e696f2f76311207496e6772657373128401",
        "0a1b0a03696e6712001a0022002a0032003800420062060a016112016212610a1422120a06646566",
        "73766312080a0468747470100012120a07666f6f2e636f6d12076d792d636572741a2e0a07666f6f",
        "2e636f6d12230a210a1f0a042f626172120f220d0a047376633112050a0010903f1a065072656669",
        "7822056e67696e781a020a001a002200",
    );
    const TOKEN_REQUEST_HEX: &str = concat!(
        "6b3873000a280a1861757468656e7469636174696f6e2e6b38732e696f2f7631120c546f6b656e52",
        "65717565737412200a100a0012001a0022002a0032003800420012060a017820d8041a040a001200",
        "1a002200",
    );

    fn error(body: &[u8]) -> String {
        decode(body).unwrap_err().to_string()
    }

    #[test]
    fn errors() {
        let namespace = body("v1", "Namespace", Pb::new().msg(1, meta("n")));
        assert_eq!(
            error(b"{\"kind\":\"Namespace\"}"),
            "protobuf body does not start with the kubernetes magic bytes"
        );
        assert_eq!(
            error(&namespace[1..]),
            "protobuf body does not start with the kubernetes magic bytes"
        );

        // A varint cut off in the middle, and a length running past the end.
        let mut cut = Pb::new().key(1, 2);
        cut.0.push(0x80);
        assert_eq!(
            error(&body("v1", "Namespace", cut)),
            "truncated protobuf input in v1.Namespace"
        );
        assert_eq!(
            error(&namespace[..namespace.len() - 1]),
            "truncated protobuf input in runtime.Unknown"
        );
        let endless = body("v1", "Namespace", Pb::new());
        assert_eq!(
            error(&[endless.as_slice(), &[0x80; 11]].concat()),
            "malformed varint in runtime.Unknown"
        );
        let mut overflow = Pb::new().key(7, 0);
        overflow.0.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02]);
        assert_eq!(
            error(&body("v1", "Namespace", Pb::new().msg(1, overflow))),
            "malformed varint in meta.v1.ObjectMeta"
        );

        let unknown = body("v1", "Namespace", Pb::new().msg(1, meta("n").str(99, "x")));
        assert_eq!(error(&unknown), "unsupported protobuf field 99 in meta.v1.ObjectMeta");
        let ephemeral = Pb::new().msg(2, Pb::new().msg(34, Pb::new()));
        assert_eq!(
            error(&body("v1", "Pod", ephemeral)),
            "unsupported protobuf field 34 in v1.PodSpec"
        );
        let managed = Pb::new().msg(1, meta("n").msg(17, Pb::new()));
        assert_eq!(
            error(&body("v1", "Namespace", managed)),
            "unsupported protobuf field 17 in meta.v1.ObjectMeta"
        );

        let wire = body("v1", "Namespace", Pb::new().msg(1, Pb::new().int(1, 5)));
        assert_eq!(
            error(&wire),
            "protobuf field 1 in meta.v1.ObjectMeta has wire type 0, expected 2"
        );
        let fixed = body("v1", "Namespace", Pb::new().msg(1, meta("n").key(7, 1)));
        assert_eq!(
            error(&fixed),
            "protobuf field 7 in meta.v1.ObjectMeta has wire type 1, expected 0"
        );

        let twice = body("v1", "Namespace", Pb::new().msg(1, meta("a").str(1, "b")));
        assert_eq!(error(&twice), "duplicate protobuf field 1 in meta.v1.ObjectMeta");
        let key_twice = body(
            "v1",
            "Namespace",
            Pb::new().msg(1, meta("n").entry(11, "a", "1").entry(11, "a", "2")),
        );
        assert_eq!(
            error(&key_twice),
            r#"duplicate key "a" in protobuf map field 11 of meta.v1.ObjectMeta"#
        );

        let utf8 = body("v1", "Namespace", Pb::new().msg(1, Pb::new().bytes(1, &[0xff, 0xfe])));
        assert_eq!(error(&utf8), "invalid utf-8 in protobuf field 1 of meta.v1.ObjectMeta");
        let big = Pb::new().msg(1, meta("d")).msg(2, Pb::new().int(1, i64::from(i32::MAX) + 1));
        assert_eq!(
            error(&body("apps/v1", "Deployment", big)),
            "protobuf field 1 in apps.v1.DeploymentSpec is out of range"
        );

        assert_eq!(
            error(&body("example.com/v1", "Widget", Pb::new())),
            r#"unsupported protobuf object kind "Widget" in "example.com/v1""#
        );
        assert_eq!(
            error(&body("apps/v1", "Namespace", Pb::new())),
            r#"unsupported protobuf object kind "Namespace" in "apps/v1""#
        );
        assert_eq!(error(MAGIC), r#"unsupported protobuf object kind "" in """#);

        let gzip = Pb::new().msg(1, Pb::new().str(1, "v1").str(2, "Namespace")).str(3, "gzip");
        assert_eq!(
            error(&[MAGIC.as_slice(), &gzip.0].concat()),
            r#"unsupported protobuf content encoding "gzip""#
        );
        let extra = Pb::new().msg(1, Pb::new().str(1, "v1").str(2, "Namespace")).str(5, "x");
        assert_eq!(
            error(&[MAGIC.as_slice(), &extra.0].concat()),
            "unsupported protobuf field 5 in runtime.Unknown"
        );
    }

    const JOB_FROM_CRONJOB_HEX: &str = concat!(
        "6b3873000a0f0a0862617463682f763112034a6f6212fb0d0a96010a0666726f6d636a12001a0022",
        "002a003200380042005a080a036a6f62120178622b0a2163726f6e6a6f622e6b756265726e657465",
        "732e696f2f696e7374616e746961746512066d616e75616c62060a016a1201796a3f0a0743726f6e",
        "4a6f621a02636a222431623764376135652d313131312d323232322d333333332d34343434353535",
        "35363636362a0862617463682f7631300112d50c0801100118d804280032df0b0a1a0a0012001a00",
        "22002a003200380042005a080a036a6f6212017812c00b0a240a03636667121d9a011a0a040a0263",
        "6d120d0a01611205612e74787418800218a40320010a0f0a03736563120832060a01731880030a19",
        "0a03746d70121212100a064d656d6f727912060a0436344d690a1f0a04686f737412170a150a082f",
        "7661722f6c6f6712094469726563746f72790a110a03707663120a52080a046461746110010a760a",
        "0470726f6a126ed2016b0a11220f0a0361706910971c1a05746f6b656e0a281a260a120a106b7562",
        "652d726f6f742d63612e63727412100a0663612e637274120663612e6372740a2912270a250a096e",
        "616d65737061636512180a02763112126d657461646174612e6e616d65737061636510a40312ba04",
        "0a046d61696e120a6e67696e783a312e32351a082f62696e2f61707022052d2d763d322a052f776f",
        "726b32120a0468747470100018903f22035443502a0032160a0010824718824722035544502a0730",
        "2e302e302e303a060a01411201313a120a014212001a0b1a090a040a02636d1201623a130a014312",
        "001a0c220a0a030a017312016318003a1b0a014412001a140a120a027631120c7374617475732e70",
        "6f6449503a250a014512001a1e121c0a046d61696e120d6c696d6974732e6d656d6f72791a050a03",
        "314d6942410a0a0a0363707512030a01310a110a066d656d6f727912070a053531324d69120d0a03",
        "63707512060a043235306d12110a066d656d6f727912070a053132384d694a150a0363666710011a",
        "082f6574632f636667220032004a120a03746d7010001a042f746d70220178320052310a2512230a",
        "082f6865616c74687a1207080010903f1a001a002204485454502a060a015812017910051801200a",
        "280130035a1c0a101a0e0a0a080110001a0468747470120010001801200a2801300362100a080a06",
        "0a04747275651204220208056a142f6465762f7465726d696e6174696f6e2d6c6f677206416c7761",
        "79737a2f0a100a094e45545f41444d494e1203414c4c100020e8072801300138005a100a0e52756e",
        "74696d6544656661756c748001018801009001019a010d0a03434d5f12060a040a02636d9a010b0a",
        "001a070a030a01731001a2010446696c65b2011e0a100a0e0a036361740a072f746d702f6f6b1000",
        "1801200a2801301e380a1a094f6e4661696c757265201e28ac02320c436c75737465724669727374",
        "3a190a106b756265726e657465732e696f2f6f7312056c696e7578420273614a02736152066e6f64",
        "652d31580160006800722b10e80720a01f20882728d00f30b8173a1a0a126e65742e636f72652e73",
        "6f6d6178636f6e6e1204313032347a090a0772656763726564820101688a010373756292015f0a2b",
        "0a140a120a100a047a6f6e651202496e1a01611a01621213080a120f0a0d0a037373641206457869",
        "7374731a30122e0864122a0a10120e0a036170701202496e1a037765621a166b756265726e657465",
        "732e696f2f686f73746e616d659a011164656661756c742d7363686564756c6572a2015f0a04696e",
        "6974120c62757379626f783a312e33361a0273681a022d6322096563686f20696e69742a0042006a",
        "142f6465762f7465726d696e6174696f6e2d6c6f67720c49664e6f7450726573656e748001008801",
        "00900100a2010446696c65a80100b201360a1c6e6f64652e6b756265726e657465732e696f2f6e6f",
        "742d726561647912064578697374731a0022094e6f4578656375746528ac02b201230a0964656469",
        "63617465641205457175616c1a03677075220a4e6f5363686564756c65ba01150a0831302e302e30",
        "2e311209666f6f2e6c6f63616cc2010468696768c801e807d201200a07312e312e312e3112097376",
        "632e6c6f63616c1a0a0a056e646f7473120132d80101e2011b0a197777772e6578616d706c652e63",
        "6f6d2f666561747572652d31ea010472756e63f00101fa0114507265656d70744c6f776572507269",
        "6f726974798a0225080112047a6f6e651a0d446f4e6f745363686564756c65220c0a0a0a03617070",
        "1203776562a202070a056c696e7578380640644a0a4e6f6e496e646578656450005a410a1b0a0746",
        "61696c4a6f6212100a046d61696e1202496e18011802182a0a220a0649676e6f72651a180a104469",
        "7372757074696f6e54617267657412045472756572135465726d696e6174696e674f724661696c65",
        "641a082000280030003a001a002200",
    );
}
