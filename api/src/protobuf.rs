//! Kubernetes protobuf request bodies (`application/vnd.kubernetes.protobuf`), which kubectl
//! 1.32's `create namespace|configmap|secret|serviceaccount|deployment` send: the `k8s\0`
//! envelope around a `runtime.Unknown`, decoded by a table per message type into the JSON the
//! object would have had. A field the tables do not know is refused (415 naming it), never
//! dropped.

use base64::Engine;
use serde_json::{Map, Value, json};

/// The media type.
pub const CONTENT_TYPE: &str = "application/vnd.kubernetes.protobuf";
const MAGIC: &[u8] = b"k8s\0";

/// Why a body could not be decoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProtobufError {
    #[error("protobuf body does not start with the kubernetes magic number")]
    Magic,
    #[error("protobuf body is truncated in {message}")]
    Truncated { message: &'static str },
    #[error("unsupported protobuf field {field} in {message}")]
    UnknownField { message: &'static str, field: u64 },
    #[error("protobuf field {field} in {message} has the wrong wire type {wire}")]
    WireType { message: &'static str, field: u64, wire: u64 },
    #[error("protobuf string in {message} is not UTF-8")]
    Utf8 { message: &'static str },
    #[error("protobuf decoding of {kind} ({api_version}) is not supported")]
    Kind { api_version: String, kind: String },
}

type Result<T> = std::result::Result<T, ProtobufError>;

/// A field's type.
#[derive(Clone, Copy)]
enum Ty {
    Str,
    Bytes,
    Int,
    Bool,
    Msg(&'static Message),
    MapStr,
    MapBytes,
    MapQuantity,
    Time,
    Quantity,
    IntOrString,
}

/// A field: number, JSON name, type, repeated, and whether a zero value is kept (Go pointers).
#[derive(Clone, Copy)]
struct Field(u32, &'static str, Ty, bool, bool);

struct Message {
    name: &'static str,
    fields: &'static [Field],
}

const fn f(n: u32, name: &'static str, ty: Ty) -> Field {
    Field(n, name, ty, false, false)
}
const fn rep(n: u32, name: &'static str, ty: Ty) -> Field {
    Field(n, name, ty, true, false)
}
const fn ptr(n: u32, name: &'static str, ty: Ty) -> Field {
    Field(n, name, ty, false, true)
}

use Ty::*;

static OWNER_REF: Message = Message {
    name: "v1.OwnerReference",
    fields: &[
        f(1, "kind", Str),
        f(3, "name", Str),
        f(4, "uid", Str),
        f(5, "apiVersion", Str),
        ptr(6, "controller", Bool),
        ptr(7, "blockOwnerDeletion", Bool),
    ],
};
static OBJECT_META: Message = Message {
    name: "v1.ObjectMeta",
    fields: &[
        f(1, "name", Str),
        f(2, "generateName", Str),
        f(3, "namespace", Str),
        f(4, "selfLink", Str),
        f(5, "uid", Str),
        f(6, "resourceVersion", Str),
        f(7, "generation", Int),
        f(8, "creationTimestamp", Time),
        f(9, "deletionTimestamp", Time),
        ptr(10, "deletionGracePeriodSeconds", Int),
        f(11, "labels", MapStr),
        f(12, "annotations", MapStr),
        rep(13, "ownerReferences", Msg(&OWNER_REF)),
        rep(14, "finalizers", Str),
    ],
};
static NAMESPACE_SPEC: Message =
    Message { name: "v1.NamespaceSpec", fields: &[rep(1, "finalizers", Str)] };
static NAMESPACE_STATUS: Message =
    Message { name: "v1.NamespaceStatus", fields: &[f(1, "phase", Str)] };
static NAMESPACE: Message = Message {
    name: "v1.Namespace",
    fields: &[
        f(1, "metadata", Msg(&OBJECT_META)),
        f(2, "spec", Msg(&NAMESPACE_SPEC)),
        f(3, "status", Msg(&NAMESPACE_STATUS)),
    ],
};
static CONFIG_MAP: Message = Message {
    name: "v1.ConfigMap",
    fields: &[
        f(1, "metadata", Msg(&OBJECT_META)),
        f(2, "data", MapStr),
        f(3, "binaryData", MapBytes),
        ptr(4, "immutable", Bool),
    ],
};
static SECRET: Message = Message {
    name: "v1.Secret",
    fields: &[
        f(1, "metadata", Msg(&OBJECT_META)),
        f(2, "data", MapBytes),
        f(3, "type", Str),
        f(4, "stringData", MapStr),
        ptr(5, "immutable", Bool),
    ],
};
static OBJECT_REF: Message = Message {
    name: "v1.ObjectReference",
    fields: &[
        f(1, "kind", Str),
        f(2, "namespace", Str),
        f(3, "name", Str),
        f(4, "uid", Str),
        f(5, "apiVersion", Str),
        f(6, "resourceVersion", Str),
        f(7, "fieldPath", Str),
    ],
};
static LOCAL_REF: Message =
    Message { name: "v1.LocalObjectReference", fields: &[f(1, "name", Str)] };
static SERVICE_ACCOUNT: Message = Message {
    name: "v1.ServiceAccount",
    fields: &[
        f(1, "metadata", Msg(&OBJECT_META)),
        rep(2, "secrets", Msg(&OBJECT_REF)),
        rep(3, "imagePullSecrets", Msg(&LOCAL_REF)),
        ptr(4, "automountServiceAccountToken", Bool),
    ],
};
static REQUIREMENT: Message = Message {
    name: "v1.LabelSelectorRequirement",
    fields: &[f(1, "key", Str), f(2, "operator", Str), rep(3, "values", Str)],
};
static LABEL_SELECTOR: Message = Message {
    name: "v1.LabelSelector",
    fields: &[f(1, "matchLabels", MapStr), rep(2, "matchExpressions", Msg(&REQUIREMENT))],
};
static CONTAINER_PORT: Message = Message {
    name: "v1.ContainerPort",
    fields: &[
        f(1, "name", Str),
        f(2, "hostPort", Int),
        ptr(3, "containerPort", Int),
        f(4, "protocol", Str),
        f(5, "hostIP", Str),
    ],
};
static KEY_SELECTOR: Message = Message {
    name: "v1.KeySelector",
    fields: &[
        f(1, "localObjectReference", Msg(&LOCAL_REF)),
        f(2, "key", Str),
        ptr(3, "optional", Bool),
    ],
};
static FIELD_SELECTOR: Message = Message {
    name: "v1.ObjectFieldSelector",
    fields: &[f(1, "apiVersion", Str), f(2, "fieldPath", Str)],
};
static ENV_SOURCE: Message = Message {
    name: "v1.EnvVarSource",
    fields: &[
        f(1, "fieldRef", Msg(&FIELD_SELECTOR)),
        f(3, "configMapKeyRef", Msg(&KEY_SELECTOR)),
        f(4, "secretKeyRef", Msg(&KEY_SELECTOR)),
    ],
};
static ENV_VAR: Message = Message {
    name: "v1.EnvVar",
    fields: &[f(1, "name", Str), f(2, "value", Str), f(3, "valueFrom", Msg(&ENV_SOURCE))],
};
static RESOURCES: Message = Message {
    name: "v1.ResourceRequirements",
    fields: &[f(1, "limits", MapQuantity), f(2, "requests", MapQuantity)],
};
static VOLUME_MOUNT: Message = Message {
    name: "v1.VolumeMount",
    fields: &[
        f(1, "name", Str),
        f(2, "readOnly", Bool),
        f(3, "mountPath", Str),
        f(4, "subPath", Str),
    ],
};
static CONTAINER: Message = Message {
    name: "v1.Container",
    fields: &[
        f(1, "name", Str),
        f(2, "image", Str),
        rep(3, "command", Str),
        rep(4, "args", Str),
        f(5, "workingDir", Str),
        rep(6, "ports", Msg(&CONTAINER_PORT)),
        rep(7, "env", Msg(&ENV_VAR)),
        f(8, "resources", Msg(&RESOURCES)),
        rep(9, "volumeMounts", Msg(&VOLUME_MOUNT)),
        f(13, "terminationMessagePath", Str),
        f(14, "imagePullPolicy", Str),
        f(16, "stdin", Bool),
        f(17, "stdinOnce", Bool),
        f(18, "tty", Bool),
        f(20, "terminationMessagePolicy", Str),
    ],
};
static POD_SECURITY: Message = Message { name: "v1.PodSecurityContext", fields: &[] };
static POD_SPEC: Message = Message {
    name: "v1.PodSpec",
    fields: &[
        rep(2, "containers", Msg(&CONTAINER)),
        f(3, "restartPolicy", Str),
        ptr(4, "terminationGracePeriodSeconds", Int),
        f(6, "dnsPolicy", Str),
        f(7, "nodeSelector", MapStr),
        f(8, "serviceAccountName", Str),
        f(9, "serviceAccount", Str),
        f(10, "nodeName", Str),
        f(11, "hostNetwork", Bool),
        f(12, "hostPID", Bool),
        f(13, "hostIPC", Bool),
        f(14, "securityContext", Msg(&POD_SECURITY)),
        rep(15, "imagePullSecrets", Msg(&LOCAL_REF)),
        f(16, "hostname", Str),
        f(17, "subdomain", Str),
        f(19, "schedulerName", Str),
        f(24, "priorityClassName", Str),
        rep(20, "initContainers", Msg(&CONTAINER)),
    ],
};
static POD_TEMPLATE: Message = Message {
    name: "v1.PodTemplateSpec",
    fields: &[f(1, "metadata", Msg(&OBJECT_META)), f(2, "spec", Msg(&POD_SPEC))],
};
static ROLLING_UPDATE: Message = Message {
    name: "v1.RollingUpdateDeployment",
    fields: &[f(1, "maxUnavailable", IntOrString), f(2, "maxSurge", IntOrString)],
};
static STRATEGY: Message = Message {
    name: "v1.DeploymentStrategy",
    fields: &[f(1, "type", Str), f(2, "rollingUpdate", Msg(&ROLLING_UPDATE))],
};
static DEPLOYMENT_SPEC: Message = Message {
    name: "v1.DeploymentSpec",
    fields: &[
        ptr(1, "replicas", Int),
        f(2, "selector", Msg(&LABEL_SELECTOR)),
        f(3, "template", Msg(&POD_TEMPLATE)),
        f(4, "strategy", Msg(&STRATEGY)),
        f(5, "minReadySeconds", Int),
        ptr(6, "revisionHistoryLimit", Int),
        f(7, "paused", Bool),
        ptr(9, "progressDeadlineSeconds", Int),
    ],
};
static DEPLOYMENT_STATUS: Message = Message {
    name: "v1.DeploymentStatus",
    fields: &[
        f(1, "observedGeneration", Int),
        f(2, "replicas", Int),
        f(3, "updatedReplicas", Int),
        f(4, "availableReplicas", Int),
        f(5, "unavailableReplicas", Int),
        f(7, "readyReplicas", Int),
        ptr(8, "collisionCount", Int),
    ],
};
static DEPLOYMENT: Message = Message {
    name: "v1.Deployment",
    fields: &[
        f(1, "metadata", Msg(&OBJECT_META)),
        f(2, "spec", Msg(&DEPLOYMENT_SPEC)),
        f(3, "status", Msg(&DEPLOYMENT_STATUS)),
    ],
};
static TYPE_META: Message =
    Message { name: "runtime.TypeMeta", fields: &[f(1, "apiVersion", Str), f(2, "kind", Str)] };
static UNKNOWN: Message = Message {
    name: "runtime.Unknown",
    fields: &[
        f(1, "typeMeta", Msg(&TYPE_META)),
        f(2, "raw", Bytes),
        f(3, "contentEncoding", Str),
        f(4, "contentType", Str),
    ],
};
static TIME: Message =
    Message { name: "v1.Time", fields: &[f(1, "seconds", Int), f(2, "nanos", Int)] };
static QUANTITY: Message = Message { name: "resource.Quantity", fields: &[f(1, "string", Str)] };
static INT_OR_STRING: Message = Message {
    name: "intstr.IntOrString",
    fields: &[f(1, "type", Int), f(2, "intVal", Int), f(3, "strVal", Str)],
};
static MAP_ENTRY_STR: Message =
    Message { name: "map entry", fields: &[f(1, "key", Str), f(2, "value", Str)] };
static MAP_ENTRY_BYTES: Message =
    Message { name: "map entry", fields: &[f(1, "key", Str), f(2, "value", Bytes)] };
static MAP_ENTRY_QUANTITY: Message =
    Message { name: "map entry", fields: &[f(1, "key", Str), f(2, "value", Quantity)] };

/// The message of each kind the decoder knows.
fn message_for(api_version: &str, kind: &str) -> Option<&'static Message> {
    Some(match (api_version, kind) {
        ("v1", "Namespace") => &NAMESPACE,
        ("v1", "ConfigMap") => &CONFIG_MAP,
        ("v1", "Secret") => &SECRET,
        ("v1", "ServiceAccount") => &SERVICE_ACCOUNT,
        ("apps/v1", "Deployment") => &DEPLOYMENT,
        _ => return None,
    })
}

struct Reader<'a> {
    buf: &'a [u8],
    at: usize,
    message: &'static str,
}

impl<'a> Reader<'a> {
    fn varint(&mut self) -> Result<u64> {
        let mut v: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b =
                *self.buf.get(self.at).ok_or(ProtobufError::Truncated { message: self.message })?;
            self.at += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(ProtobufError::Truncated { message: self.message })
    }

    fn bytes(&mut self) -> Result<&'a [u8]> {
        let len = usize::try_from(self.varint()?)
            .map_err(|_| ProtobufError::Truncated { message: self.message })?;
        let end = self.at.checked_add(len).filter(|e| *e <= self.buf.len());
        let end = end.ok_or(ProtobufError::Truncated { message: self.message })?;
        let out = &self.buf[self.at..end];
        self.at = end;
        Ok(out)
    }
}

fn utf8(bytes: &[u8], message: &'static str) -> Result<String> {
    String::from_utf8(bytes.to_vec()).map_err(|_| ProtobufError::Utf8 { message })
}

/// Decode one message into a JSON object.
fn decode_message(buf: &[u8], msg: &'static Message) -> Result<Map<String, Value>> {
    let mut r = Reader { buf, at: 0, message: msg.name };
    let mut out = Map::new();
    while r.at < buf.len() {
        let tag = r.varint()?;
        let (num, wire) = (tag >> 3, tag & 7);
        let Some(field) = msg.fields.iter().find(|fl| u64::from(fl.0) == num) else {
            return Err(ProtobufError::UnknownField { message: msg.name, field: num });
        };
        let Field(_, name, ty, repeated, keep_zero) = *field;
        let want_wire = match ty {
            Int | Bool => 0,
            _ => 2,
        };
        if wire != want_wire {
            return Err(ProtobufError::WireType { message: msg.name, field: num, wire });
        }
        let value = match ty {
            Int => {
                let v = r.varint()? as i64;
                (keep_zero || v != 0).then(|| json!(v))
            }
            Bool => {
                let v = r.varint()? != 0;
                (keep_zero || v).then(|| json!(v))
            }
            Str => {
                let s = utf8(r.bytes()?, msg.name)?;
                (repeated || !s.is_empty()).then(|| json!(s))
            }
            Bytes => Some(json!(base64::engine::general_purpose::STANDARD.encode(r.bytes()?))),
            Msg(m) => Some(Value::Object(decode_message(r.bytes()?, m)?)),
            Time => time(&decode_message(r.bytes()?, &TIME)?),
            Quantity => decode_message(r.bytes()?, &QUANTITY)?.remove("string"),
            IntOrString => {
                let m = decode_message(r.bytes()?, &INT_OR_STRING)?;
                Some(if m.get("type").and_then(Value::as_i64) == Some(1) {
                    m.get("strVal").cloned().unwrap_or_else(|| json!(""))
                } else {
                    m.get("intVal").cloned().unwrap_or_else(|| json!(0))
                })
            }
            MapStr | MapBytes | MapQuantity => {
                let entry = match ty {
                    MapStr => &MAP_ENTRY_STR,
                    MapBytes => &MAP_ENTRY_BYTES,
                    _ => &MAP_ENTRY_QUANTITY,
                };
                let e = decode_message(r.bytes()?, entry)?;
                let key = e.get("key").and_then(Value::as_str).unwrap_or("").to_owned();
                let value = e.get("value").cloned().unwrap_or_else(|| json!(""));
                let map = out.entry(name).or_insert_with(|| json!({}));
                if let Some(m) = map.as_object_mut() {
                    m.insert(key, value);
                }
                continue;
            }
        };
        let Some(value) = value else { continue };
        if repeated {
            let list = out.entry(name).or_insert_with(|| json!([]));
            if let Some(l) = list.as_array_mut() {
                l.push(value);
            }
        } else {
            out.insert(name.to_owned(), value);
        }
    }
    Ok(out)
}

/// A `Time` as RFC 3339 (none when unset, as Go's JSON writes a zero time as null).
fn time(m: &Map<String, Value>) -> Option<Value> {
    let secs = m.get("seconds").and_then(Value::as_i64)?;
    let t = time::OffsetDateTime::from_unix_timestamp(secs).ok()?;
    Some(json!(crate::objects::timestamp(t)))
}

/// Decode a protobuf request body into the object's JSON.
pub fn decode(body: &[u8]) -> Result<Value> {
    let inner = body.strip_prefix(MAGIC).ok_or(ProtobufError::Magic)?;
    let unknown = decode_message(inner, &UNKNOWN)?;
    let api_version = unknown["typeMeta"]["apiVersion"].as_str().unwrap_or("").to_owned();
    let kind = unknown["typeMeta"]["kind"].as_str().unwrap_or("").to_owned();
    let Some(msg) = message_for(&api_version, &kind) else {
        return Err(ProtobufError::Kind { api_version, kind });
    };
    // `raw` was base64-encoded by the generic decoder; decode it back to its bytes.
    let raw = unknown.get("raw").and_then(Value::as_str).unwrap_or("");
    let raw = base64::engine::general_purpose::STANDARD
        .decode(raw)
        .map_err(|_| ProtobufError::Truncated { message: UNKNOWN.name })?;
    let mut obj = decode_message(&raw, msg)?;
    obj.insert("apiVersion".into(), json!(api_version));
    obj.insert("kind".into(), json!(kind));
    Ok(Value::Object(obj))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn varint(mut v: u64, out: &mut Vec<u8>) {
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(b);
                return;
            }
            out.push(b | 0x80);
        }
    }
    fn bytes_field(n: u64, b: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        varint(n << 3 | 2, &mut out);
        varint(b.len() as u64, &mut out);
        out.extend_from_slice(b);
        out
    }
    fn int_field(n: u64, v: u64) -> Vec<u8> {
        let mut out = Vec::new();
        varint(n << 3, &mut out);
        varint(v, &mut out);
        out
    }
    fn envelope(api_version: &str, kind: &str, raw: &[u8]) -> Vec<u8> {
        let tm = [bytes_field(1, api_version.as_bytes()), bytes_field(2, kind.as_bytes())].concat();
        let unknown =
            [bytes_field(1, &tm), bytes_field(2, raw), bytes_field(3, b""), bytes_field(4, b"")]
                .concat();
        [MAGIC.to_vec(), unknown].concat()
    }
    fn entry(k: &str, v: &[u8]) -> Vec<u8> {
        [bytes_field(1, k.as_bytes()), bytes_field(2, v)].concat()
    }

    #[test]
    fn a_namespace_decodes_as_its_json() {
        let meta = [
            bytes_field(1, b"demo"),
            bytes_field(2, b""),
            bytes_field(11, &entry("a", b"b")),
            bytes_field(8, b""),
        ]
        .concat();
        let raw = [bytes_field(1, &meta), bytes_field(2, b""), bytes_field(3, b"")].concat();
        let obj = decode(&envelope("v1", "Namespace", &raw)).unwrap();
        assert_eq!(
            obj,
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "demo", "labels": {"a": "b"}}, "spec": {}, "status": {}})
        );
    }

    #[test]
    fn a_deployment_as_kubectl_create_sends_it() {
        let labels = bytes_field(11, &entry("app", b"web"));
        let meta = [bytes_field(1, b"web"), labels.clone()].concat();
        let port = int_field(3, 80);
        let resources = [bytes_field(2, &entry("cpu", &bytes_field(1, b"100m")))].concat();
        let container = [
            bytes_field(1, b"nginx"),
            bytes_field(2, b"nginx"),
            bytes_field(6, &port),
            bytes_field(8, &resources),
        ]
        .concat();
        let pod_spec = bytes_field(2, &container);
        let template = [bytes_field(1, &labels), bytes_field(2, &pod_spec)].concat();
        let selector = bytes_field(1, &entry("app", b"web"));
        let spec = [
            int_field(1, 0),
            bytes_field(2, &selector),
            bytes_field(3, &template),
            bytes_field(4, b""),
        ]
        .concat();
        let raw = [bytes_field(1, &meta), bytes_field(2, &spec), bytes_field(3, b"")].concat();
        let obj = decode(&envelope("apps/v1", "Deployment", &raw)).unwrap();
        assert_eq!(obj["spec"]["replicas"], 0);
        assert_eq!(obj["spec"]["selector"], json!({"matchLabels": {"app": "web"}}));
        assert_eq!(
            obj["spec"]["template"]["spec"]["containers"],
            json!([{"name": "nginx", "image": "nginx", "ports": [{"containerPort": 80}], "resources": {"requests": {"cpu": "100m"}}}])
        );
        assert_eq!(
            (obj["spec"]["strategy"].clone(), obj["status"].clone()),
            (json!({}), json!({}))
        );
    }

    #[test]
    fn secrets_carry_bytes_as_base64() {
        let raw = [
            bytes_field(1, &bytes_field(1, b"s")),
            bytes_field(2, &entry("k", b"\x00\x01")),
            bytes_field(3, b"Opaque"),
        ]
        .concat();
        let obj = decode(&envelope("v1", "Secret", &raw)).unwrap();
        assert_eq!(obj["data"]["k"], "AAE=");
        assert_eq!(obj["type"], "Opaque");
    }

    #[test]
    fn bad_bodies_are_refused_not_guessed() {
        assert_eq!(decode(b"json").unwrap_err(), ProtobufError::Magic);
        let unknown_field = [bytes_field(1, &bytes_field(1, b"x")), bytes_field(99, b"")].concat();
        assert_eq!(
            decode(&envelope("v1", "ConfigMap", &unknown_field)).unwrap_err().to_string(),
            "unsupported protobuf field 99 in v1.ConfigMap"
        );
        assert!(matches!(
            decode(&envelope("v1", "Pod", b"")).unwrap_err(),
            ProtobufError::Kind { .. }
        ));
        let mut truncated = envelope("v1", "ConfigMap", &bytes_field(1, b"abc"));
        truncated.truncate(truncated.len() - 2);
        assert!(decode(&truncated).is_err());
        assert!(matches!(
            decode(&envelope("v1", "ConfigMap", &int_field(1, 5))).unwrap_err(),
            ProtobufError::WireType { .. }
        ));
    }
}
