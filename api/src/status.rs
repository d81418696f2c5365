//! `metav1.Status`: the one place where errors become what Kubernetes clients read. Messages
//! follow the upstream API server's wording, because kubectl prints them verbatim
//! (`Error from server (NotFound): pods "x" not found`).

use k3rs_store::StoreError;
use serde::Serialize;

use crate::identity::Identity;

/// A failure as the API reports it. Kept small (it is the error type of many functions); the
/// constant fields (`kind`, `apiVersion`, `metadata`, `status`) are added when it is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub message: String,
    pub reason: &'static str,
    pub details: Option<Box<StatusDetails>>,
    pub code: u16,
}

impl Serialize for Status {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = serializer.serialize_struct("Status", 8)?;
        st.serialize_field("kind", "Status")?;
        st.serialize_field("apiVersion", "v1")?;
        st.serialize_field("metadata", &serde_json::Map::new())?;
        st.serialize_field("status", "Failure")?;
        st.serialize_field("message", &self.message)?;
        st.serialize_field("reason", self.reason)?;
        if let Some(details) = &self.details {
            st.serialize_field("details", details)?;
        }
        st.serialize_field("code", &self.code)?;
        st.end()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusDetails {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub causes: Vec<Cause>,
}

/// One invalid field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cause {
    /// `FieldValueRequired`, `FieldValueInvalid`, `FieldValueNotSupported`, ...
    pub reason: String,
    pub message: String,
    pub field: String,
}

/// The object a request was about, for messages: resource plural, API group, object name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target<'a> {
    pub resource: &'a str,
    pub group: &'a str,
    pub name: &'a str,
}

impl Target<'_> {
    /// `pods`, or `deployments.apps`: how upstream names a resource in messages.
    fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.resource.to_owned()
        } else {
            format!("{}.{}", self.resource, self.group)
        }
    }

    fn details(&self) -> Option<StatusDetails> {
        Some(StatusDetails {
            name: (!self.name.is_empty()).then(|| self.name.to_owned()),
            group: (!self.group.is_empty()).then(|| self.group.to_owned()),
            kind: Some(self.resource.to_owned()),
            causes: Vec::new(),
        })
    }
}

/// Upper bound of a request body, as upstream's.
pub const MAX_BODY_BYTES: usize = 3 * 1024 * 1024;

impl Status {
    fn new(
        code: u16,
        reason: &'static str,
        message: String,
        details: Option<StatusDetails>,
    ) -> Self {
        Status { message, reason, details: details.map(Box::new), code }
    }

    pub fn not_found(t: Target<'_>) -> Self {
        Status::new(
            404,
            "NotFound",
            format!("{} \"{}\" not found", t.qualified(), t.name),
            t.details(),
        )
    }

    /// A path that names no resource.
    pub fn no_such_path() -> Self {
        Status::new(
            404,
            "NotFound",
            "the server could not find the requested resource".into(),
            Some(StatusDetails::default()),
        )
    }

    pub fn already_exists(t: Target<'_>) -> Self {
        Status::new(
            409,
            "AlreadyExists",
            format!("{} \"{}\" already exists", t.qualified(), t.name),
            t.details(),
        )
    }

    pub fn conflict(t: Target<'_>) -> Self {
        Status::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{}\": the object has been modified; please apply your changes to the latest version and try again",
                t.qualified(),
                t.name
            ),
            t.details(),
        )
    }

    /// Server-side apply found fields other managers own (409, a `FieldManagerConflict` cause
    /// per field); `message` lists them as upstream does.
    pub fn apply_conflict(t: Target<'_>, message: String, causes: Vec<Cause>) -> Self {
        let details = t.details().map(|d| StatusDetails { causes, ..d });
        Status::new(409, "Conflict", message, details)
    }

    /// A create in a namespace that is being deleted (403, as upstream).
    pub fn namespace_terminating(ns: &str) -> Self {
        Status::new(
            403,
            "Forbidden",
            format!(
                "unable to create new content in namespace {ns} because it is being terminated"
            ),
            None,
        )
    }

    /// A delete precondition (uid or resourceVersion) does not hold (409).
    pub fn precondition_failed(t: Target<'_>, detail: &str) -> Self {
        Status::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{}\": Precondition failed: {detail}",
                t.qualified(),
                t.name
            ),
            t.details(),
        )
    }

    /// History the client asked for is gone (410); it must relist.
    pub fn expired(message: String) -> Self {
        Status::new(410, "Expired", message, None)
    }

    pub fn unauthorized() -> Self {
        Status::new(401, "Unauthorized", "Unauthorized".into(), None)
    }

    /// `verb` on `t` (in `namespace`, if any) is not allowed for `who`.
    pub fn forbidden(who: &Identity, verb: &str, t: Target<'_>, namespace: Option<&str>) -> Self {
        let object = if t.name.is_empty() {
            t.qualified()
        } else {
            format!("{} \"{}\"", t.qualified(), t.name)
        };
        let scope = match namespace {
            Some(ns) => format!(" in the namespace \"{ns}\""),
            None => " at the cluster scope".to_owned(),
        };
        Status::new(
            403,
            "Forbidden",
            format!(
                "{object} is forbidden: User \"{}\" cannot {verb} resource \"{}\" in API group \"{}\"{scope}",
                who.user, t.resource, t.group
            ),
            t.details(),
        )
    }

    /// A refusal with its own message (the supervisor's node-password check).
    pub fn forbidden_message(message: String) -> Self {
        Status::new(403, "Forbidden", message, None)
    }

    /// A non-resource path (`/metrics`, `/admin/...`) the caller may not read.
    pub fn forbidden_path(who: &Identity, verb: &str, path: &str) -> Self {
        Status::new(
            403,
            "Forbidden",
            format!("forbidden: User \"{}\" cannot {verb} path \"{path}\"", who.user),
            Some(StatusDetails::default()),
        )
    }

    /// Validation failed: `kind` is the object's kind (`Pod`), as upstream puts it.
    pub fn invalid(kind: &str, group: &str, name: &str, causes: Vec<Cause>) -> Self {
        let summary: Vec<String> =
            causes.iter().map(|c| format!("{}: {}", c.field, c.message)).collect();
        let what = if group.is_empty() { kind.to_owned() } else { format!("{kind}.{group}") };
        Status::new(
            422,
            "Invalid",
            format!("{what} \"{name}\" is invalid: {}", summary.join(", ")),
            Some(StatusDetails {
                name: Some(name.to_owned()),
                group: (!group.is_empty()).then(|| group.to_owned()),
                kind: Some(kind.to_owned()),
                causes,
            }),
        )
    }

    /// A request that is well-formed but cannot be carried out (a patch that does not apply).
    pub fn unprocessable(message: String) -> Self {
        Status::new(422, "Invalid", message, None)
    }

    pub fn bad_request(message: String) -> Self {
        Status::new(400, "BadRequest", message, None)
    }

    pub fn method_not_allowed() -> Self {
        Status::new(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource".into(),
            Some(StatusDetails::default()),
        )
    }

    /// A protobuf body this server cannot decode faithfully (415, naming what).
    pub fn unsupported_protobuf(what: &str) -> Self {
        Status::new(
            415,
            "UnsupportedMediaType",
            format!("{what}; send this object as application/json instead"),
            None,
        )
    }

    pub fn unsupported_media_type(content_type: &str) -> Self {
        Status::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf (got {content_type:?})"
            ),
            None,
        )
    }

    pub fn too_large() -> Self {
        Status::new(
            413,
            "RequestEntityTooLarge",
            format!("Request entity too large: limit is {MAX_BODY_BYTES}"),
            None,
        )
    }

    pub fn internal(message: &str) -> Self {
        Status::new(500, "InternalError", format!("Internal error occurred: {message}"), None)
    }

    /// A refusal relayed from elsewhere (a node's kubelet) with its HTTP code.
    pub fn relayed(code: u16, message: String) -> Self {
        let reason = match code {
            400 => "BadRequest",
            403 => "Forbidden",
            404 => "NotFound",
            409 => "Conflict",
            503 => "ServiceUnavailable",
            _ => "InternalError",
        };
        Status::new(code, reason, message, None)
    }

    pub fn unavailable(message: &str) -> Self {
        Status::new(503, "ServiceUnavailable", message.to_owned(), None)
    }

    /// The datastore's answer about `t`, as the client should see it.
    pub fn from_store(err: &StoreError, t: Target<'_>) -> Self {
        match err {
            StoreError::NotFound { .. } => Status::not_found(t),
            StoreError::AlreadyExists { .. } => Status::already_exists(t),
            StoreError::Conflict { .. } => Status::conflict(t),
            StoreError::Compacted { requested, compacted } => {
                Status::expired(format!("too old resource version: {requested} ({compacted})"))
            }
            StoreError::WatchLagged { .. } => {
                Status::expired("The resourceVersion for the provided watch is too old.".into())
            }
            StoreError::FutureRevision { requested, current } => Status::new(
                504,
                "Timeout",
                format!("Too large resource version: {requested}, current: {current}"),
                None,
            ),
            StoreError::InvalidKey { .. } => Status::bad_request(err.to_string()),
            StoreError::Closed | StoreError::Corrupt { .. } | StoreError::Backend(_) => {
                Status::internal(&err.to_string())
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const POD: Target<'static> = Target { resource: "pods", group: "", name: "nope" };
    const DEPLOY: Target<'static> = Target { resource: "deployments", group: "apps", name: "web" };

    #[test]
    fn not_found_reads_as_upstream() {
        let s = Status::not_found(POD);
        assert_eq!(s.message, "pods \"nope\" not found");
        assert_eq!(Status::not_found(DEPLOY).message, "deployments.apps \"web\" not found");
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
                "message":"pods \"nope\" not found","reason":"NotFound",
                "details":{"name":"nope","kind":"pods"},"code":404})
        );
    }

    #[test]
    fn store_errors_map_to_their_codes() {
        let nf = StoreError::NotFound { key: "k".into() };
        let ae = StoreError::AlreadyExists { key: "k".into() };
        let cf = StoreError::Conflict { key: "k".into(), expected: 1, current: None };
        let gone = StoreError::Compacted { requested: 3, compacted: 9 };
        assert_eq!(Status::from_store(&nf, POD).code, 404);
        assert_eq!(Status::from_store(&ae, POD).code, 409);
        let c = Status::from_store(&cf, POD);
        assert_eq!((c.code, c.reason), (409, "Conflict"));
        assert!(c.message.starts_with(
            "Operation cannot be fulfilled on pods \"nope\": the object has been modified"
        ));
        let g = Status::from_store(&gone, POD);
        assert_eq!((g.code, g.reason), (410, "Expired"));
        assert_eq!(Status::from_store(&StoreError::Closed, POD).code, 500);
    }

    #[test]
    fn forbidden_and_invalid_name_the_user_and_fields() {
        let bob = Identity { user: "bob".into(), groups: vec![] };
        let s = Status::forbidden(&bob, "get", Target { name: "x", ..POD }, Some("default"));
        assert_eq!(
            s.message,
            "pods \"x\" is forbidden: User \"bob\" cannot get resource \"pods\" in API group \"\" in the namespace \"default\""
        );
        let inv = Status::invalid(
            "Pod",
            "",
            "err-422",
            vec![Cause {
                reason: "FieldValueRequired".into(),
                message: "Required value".into(),
                field: "spec.containers[0].image".into(),
            }],
        );
        assert_eq!(inv.code, 422);
        assert_eq!(
            inv.message,
            "Pod \"err-422\" is invalid: spec.containers[0].image: Required value"
        );
    }
}
