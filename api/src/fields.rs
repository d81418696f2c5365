//! Field validation (`?fieldValidation=Strict|Warn|Ignore`): fields a body sets that its kind
//! does not have. Strict refuses them (400, upstream's `strict decoding error` message); Warn
//! (the default) answers with a `Warning` per field; Ignore says nothing. Unknown fields are
//! never stored: built-ins drop them as upstream's Go types do, custom resources are pruned by
//! their CRD's structural schema (`properties`, unless `x-kubernetes-preserve-unknown-fields`).

use serde_json::Value;

use crate::Status;
use crate::registry::ResourceDef;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldValidation {
    Strict,
    Warn,
    Ignore,
}

impl FieldValidation {
    /// The query value of a request whose options are `options` (`CreateOptions`,
    /// `UpdateOptions`, `PatchOptions`); absent means Warn, as upstream. Another value is 422
    /// Invalid, in upstream's words.
    pub fn parse(value: Option<&str>, options: &str) -> Result<Self, Status> {
        match value {
            None | Some("") | Some("Warn") => Ok(FieldValidation::Warn),
            Some("Strict") => Ok(FieldValidation::Strict),
            Some("Ignore") => Ok(FieldValidation::Ignore),
            Some(other) => Err(Status::invalid(
                options,
                "",
                "",
                vec![crate::status::Cause {
                    reason: "FieldValueNotSupported".into(),
                    message: format!(
                        "Unsupported value: {other:?}: supported values: \"\", \"Ignore\", \"Strict\", \"Warn\""
                    ),
                    field: "fieldValidation".into(),
                }],
            )),
        }
    }
}

/// Check `obj` (an object of `def`) and drop its unknown fields. Returns the warnings to send
/// (`unknown field "spec.foo"`), or the Strict refusal.
pub fn check(
    def: &ResourceDef,
    obj: &mut Value,
    mode: FieldValidation,
) -> Result<Vec<String>, Status> {
    let unknown = if def.custom {
        let mut found = Vec::new();
        if let Some(schema) = &def.schema {
            prune(schema, obj, "", true, &mut found);
        }
        found
    } else {
        crate::protobuf::unknown_fields(&def.group_version(), &def.kind, obj, true)
            .unwrap_or_default()
    };
    let messages: Vec<String> = unknown.iter().map(|p| format!("unknown field {p:?}")).collect();
    match mode {
        _ if messages.is_empty() => Ok(Vec::new()),
        FieldValidation::Strict => Err(Status::bad_request(format!(
            "{kind} in version {version:?} cannot be handled as a {kind}: strict decoding error: {}",
            messages.join(", "),
            kind = def.kind,
            version = def.version
        ))),
        FieldValidation::Warn => Ok(messages),
        FieldValidation::Ignore => Ok(Vec::new()),
    }
}

/// Remove from `value` what `schema` does not allow, collecting the paths. At the top level,
/// `apiVersion`, `kind` and `metadata` are always allowed.
fn prune(schema: &Value, value: &mut Value, path: &str, top: bool, found: &mut Vec<String>) {
    if schema["x-kubernetes-preserve-unknown-fields"] == true && schema.get("properties").is_none()
    {
        return;
    }
    match value {
        Value::Object(map) => {
            let props = schema["properties"].as_object();
            let extra = &schema["additionalProperties"];
            let keys: Vec<String> = map.keys().cloned().collect();
            for key in keys {
                if top && matches!(key.as_str(), "apiVersion" | "kind" | "metadata") {
                    continue;
                }
                let child_path =
                    if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
                if let Some(sub) = props.and_then(|p| p.get(&key)) {
                    if let Some(v) = map.get_mut(&key) {
                        prune(sub, v, &child_path, false, found);
                    }
                } else if extra.is_object() {
                    if let Some(v) = map.get_mut(&key) {
                        prune(extra, v, &child_path, false, found);
                    }
                } else if extra == &Value::Bool(true)
                    || schema["x-kubernetes-preserve-unknown-fields"] == true
                {
                } else {
                    found.push(child_path);
                    map.remove(&key);
                }
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                prune(&schema["items"], item, &format!("{path}[{i}]"), false, found);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::registry::Registry;

    fn crontab() -> ResourceDef {
        let mut def =
            ResourceDef::custom("stable.example.com", "v1", "CronTab", "crontabs", "crontab", true);
        def.schema = Some(json!({"type": "object", "properties": {
            "spec": {"type": "object", "properties": {
                "cronSpec": {"type": "string"},
                "jobs": {"type": "array", "items": {"type": "object", "properties": {"name": {"type": "string"}}}},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}}}));
        def
    }

    #[test]
    fn modes_parse_with_warn_as_the_default() {
        let parse = |v| FieldValidation::parse(v, "CreateOptions");
        assert_eq!(parse(None).unwrap(), FieldValidation::Warn);
        assert_eq!(parse(Some("Strict")).unwrap(), FieldValidation::Strict);
        assert_eq!(parse(Some("Ignore")).unwrap(), FieldValidation::Ignore);
        let bad = parse(Some("strict")).unwrap_err();
        assert_eq!(bad.code, 422);
        assert_eq!(
            bad.message,
            "CreateOptions \"\" is invalid: fieldValidation: Unsupported value: \"strict\": supported values: \"\", \"Ignore\", \"Strict\", \"Warn\""
        );
    }

    #[test]
    fn strict_refuses_warn_warns_and_unknown_fields_are_never_kept() {
        let r = Registry::builtin();
        let def = r.get("apps", "v1", "deployments").unwrap();
        let bad = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "w"},
                         "spec": {"replicaz": 2}});
        let err = check(def, &mut bad.clone(), FieldValidation::Strict).unwrap_err();
        assert_eq!(err.code, 400);
        assert_eq!(
            err.message,
            "Deployment in version \"v1\" cannot be handled as a Deployment: strict decoding error: unknown field \"spec.replicaz\""
        );
        let mut warned = bad.clone();
        assert_eq!(
            check(def, &mut warned, FieldValidation::Warn).unwrap(),
            ["unknown field \"spec.replicaz\""]
        );
        assert_eq!(warned["spec"], json!({}), "dropped");
        assert!(check(def, &mut bad.clone(), FieldValidation::Ignore).unwrap().is_empty());
    }

    #[test]
    fn custom_resources_are_pruned_by_their_schema() {
        let def = crontab();
        let mut cr = json!({"apiVersion": "stable.example.com/v1", "kind": "CronTab",
            "metadata": {"name": "c", "labels": {"x": "y"}},
            "spec": {"cronSpec": "* * * * *", "bogus": 1, "jobs": [{"name": "a", "extra": true}],
                     "labels": {"any": "thing"}, "free": {"anything": {"goes": 1}}},
            "status": {"x": 1}});
        let warnings = check(&def, &mut cr, FieldValidation::Warn).unwrap();
        assert_eq!(
            warnings,
            [
                "unknown field \"spec.bogus\"",
                "unknown field \"spec.jobs[0].extra\"",
                "unknown field \"status\""
            ]
        );
        assert_eq!(cr["spec"]["jobs"], json!([{"name": "a"}]));
        assert_eq!(cr["spec"]["free"]["anything"]["goes"], 1);
        assert_eq!(cr["metadata"]["labels"]["x"], "y");
        let strict = check(&def, &mut json!({"spec": {"bogus": 1}}), FieldValidation::Strict);
        assert!(strict.unwrap_err().message.contains("unknown field \"spec.bogus\""));
    }
}
