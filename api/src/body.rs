//! Request bodies: the media types the API accepts (JSON, YAML and Kubernetes protobuf)
//! decoded into one JSON value, with upstream's errors for anything else.

use serde_json::Value;

use crate::Status;
use crate::protobuf::ProtobufError;

/// The encodings a body may come in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Json,
    Yaml,
    Protobuf,
}

impl Encoding {
    /// The encoding a `Content-Type` names; a missing header means JSON (as upstream assumes).
    /// Patch media types (`application/merge-patch+json`, `application/apply-patch+yaml`, ...)
    /// carry their encoding in the suffix.
    pub fn from_content_type(content_type: Option<&str>) -> Result<Self, Status> {
        let Some(raw) = content_type else { return Ok(Encoding::Json) };
        let media = raw.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        match media.as_str() {
            "" | "application/json" | "*/*" => Ok(Encoding::Json),
            "application/yaml" | "application/apply-patch+yaml" => Ok(Encoding::Yaml),
            "application/vnd.kubernetes.protobuf" => Ok(Encoding::Protobuf),
            m if m.ends_with("+json") => Ok(Encoding::Json),
            _ => Err(Status::unsupported_media_type(raw)),
        }
    }
}

/// Decode `bytes` as `encoding`. Malformed input is 400 (BadRequest), as upstream answers.
pub fn decode(encoding: Encoding, bytes: &[u8]) -> Result<Value, Status> {
    match encoding {
        Encoding::Json => serde_json::from_slice(bytes)
            .map_err(|e| Status::bad_request(format!("the request body is not valid JSON: {e}"))),
        Encoding::Yaml => {
            let value: Value = serde_yaml_ng::from_slice(bytes).map_err(|e| {
                Status::bad_request(format!("the request body is not valid YAML: {e}"))
            })?;
            Ok(value)
        }
        Encoding::Protobuf => crate::protobuf::decode(bytes).map_err(|e| match e {
            ProtobufError::UnknownKind { .. } | ProtobufError::UnknownField { .. } => {
                Status::unsupported_protobuf(&e.to_string())
            }
            _ => Status::bad_request(format!("the request body is not valid protobuf: {e}")),
        }),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn content_types_pick_the_decoder() {
        let e = |c| Encoding::from_content_type(Some(c)).unwrap();
        assert_eq!(Encoding::from_content_type(None).unwrap(), Encoding::Json);
        assert_eq!(e("application/json; charset=utf-8"), Encoding::Json);
        assert_eq!(e("application/strategic-merge-patch+json"), Encoding::Json);
        assert_eq!(e("application/apply-patch+yaml"), Encoding::Yaml);
        assert_eq!(e("application/yaml"), Encoding::Yaml);
        assert_eq!(e("application/vnd.kubernetes.protobuf"), Encoding::Protobuf);
        assert_eq!(Encoding::from_content_type(Some("text/plain")).unwrap_err().code, 415);
    }

    #[test]
    fn yaml_and_json_decode_to_the_same_value() {
        let y = decode(
            Encoding::Yaml,
            b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  k: \"1\"\n",
        )
        .unwrap();
        let j = decode(
            Encoding::Json,
            br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"},"data":{"k":"1"}}"#,
        )
        .unwrap();
        assert_eq!(y, j);
        assert_eq!(y["data"]["k"], json!("1"));
        assert_eq!(decode(Encoding::Json, b"{").unwrap_err().code, 400);
        assert_eq!(decode(Encoding::Yaml, b"a: [").unwrap_err().code, 400);
    }
}
