//! Patches: JSON merge patch (RFC 7386: `kubectl label`, `annotate`, `patch --type merge`),
//! JSON patch (RFC 6902: `patch --type json`) and strategic merge patch (`apply`, `edit`,
//! `patch --type strategic`; the merging itself is `smp`). Server-side apply (`apply`) is its
//! own write path and not a patch of this kind.

use serde_json::Value;

use crate::Status;

/// A patch type, from the request's content type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    Merge,
    Json,
    Strategic,
    /// Server-side apply: the body is the caller's configuration, not a patch.
    Apply,
}

impl PatchType {
    pub fn from_content_type(content_type: &str) -> Result<Self, Status> {
        let media = content_type.split(';').next().unwrap_or("").trim();
        match media {
            "application/merge-patch+json" => Ok(PatchType::Merge),
            "application/json-patch+json" => Ok(PatchType::Json),
            "application/strategic-merge-patch+json" => Ok(PatchType::Strategic),
            "application/apply-patch+yaml" => Ok(PatchType::Apply),
            _ => Err(Status::unsupported_media_type(content_type)),
        }
    }
}

/// Apply `patch` to `doc`; a bad patch is 422 (as upstream reports patch failures). `Apply` is
/// not a patch: it is refused here (the caller routes it to server-side apply).
pub fn apply(kind: PatchType, doc: &Value, patch: &Value) -> Result<Value, Status> {
    let mut out = doc.clone();
    match kind {
        PatchType::Strategic => {
            return crate::smp::apply(doc["kind"].as_str().unwrap_or(""), doc, patch);
        }
        PatchType::Apply => {
            return Err(Status::unsupported_media_type("application/apply-patch+yaml"));
        }
        PatchType::Merge => {
            if !patch.is_object() {
                return Err(Status::bad_request("a merge patch must be a JSON object".into()));
            }
            json_patch::merge(&mut out, patch);
        }
        PatchType::Json => {
            let ops: json_patch::Patch = serde_json::from_value(patch.clone())
                .map_err(|e| Status::bad_request(format!("invalid JSON patch: {e}")))?;
            json_patch::patch(&mut out, &ops).map_err(|e| {
                Status::unprocessable(format!("the patch could not be applied: {e}"))
            })?;
        }
    }
    Ok(out)
}

/// A `metadata.resourceVersion` the patch sets: a precondition on the object's revision.
pub fn precondition(patched: &Value, original: &Value) -> Option<String> {
    let after = patched["metadata"]["resourceVersion"].as_str()?;
    (Some(after) != original["metadata"]["resourceVersion"].as_str()).then(|| after.to_owned())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn merge_patches_add_replace_and_remove() {
        let doc =
            json!({"metadata": {"name": "a", "labels": {"x": "1", "y": "2"}}, "data": {"k": "v"}});
        let out =
            apply(PatchType::Merge, &doc, &json!({"metadata": {"labels": {"x": null, "z": "3"}}}))
                .unwrap();
        assert_eq!(out["metadata"]["labels"], json!({"y": "2", "z": "3"}));
        assert_eq!(out["data"]["k"], "v");
        assert_eq!(apply(PatchType::Merge, &doc, &json!([1])).unwrap_err().code, 400);
    }

    #[test]
    fn json_patches_apply_or_fail_with_422() {
        let doc = json!({"spec": {"replicas": 1}});
        let ops = json!([{"op": "replace", "path": "/spec/replicas", "value": 3}]);
        assert_eq!(apply(PatchType::Json, &doc, &ops).unwrap()["spec"]["replicas"], 3);
        let bad = json!([{"op": "remove", "path": "/spec/missing"}]);
        assert_eq!(apply(PatchType::Json, &doc, &bad).unwrap_err().code, 422);
        assert_eq!(apply(PatchType::Json, &doc, &json!({"op": "x"})).unwrap_err().code, 400);
    }

    #[test]
    fn content_types_pick_the_patch_type() {
        assert_eq!(
            PatchType::from_content_type("application/merge-patch+json"),
            Ok(PatchType::Merge)
        );
        assert_eq!(
            PatchType::from_content_type("application/json-patch+json; charset=utf-8"),
            Ok(PatchType::Json)
        );
        assert_eq!(
            PatchType::from_content_type("application/strategic-merge-patch+json"),
            Ok(PatchType::Strategic)
        );
        assert_eq!(
            PatchType::from_content_type("application/apply-patch+yaml"),
            Ok(PatchType::Apply)
        );
        assert_eq!(PatchType::from_content_type("text/plain").unwrap_err().code, 415);
    }

    #[test]
    fn a_changed_resource_version_is_a_precondition() {
        let orig = json!({"metadata": {"resourceVersion": "5"}});
        assert_eq!(
            precondition(&json!({"metadata": {"resourceVersion": "4"}}), &orig),
            Some("4".into())
        );
        assert_eq!(precondition(&orig, &orig), None);
    }
}
