//! CustomResourceDefinitions: what makes one valid, the resources it defines (one per served
//! version), and the status conditions that say it is being served.

use serde_json::{Value, json};

use crate::registry::ResourceDef;
use crate::status::Cause;

/// The finalizer that makes a CRD's deletion delete its custom resources first.
pub const CLEANUP_FINALIZER: &str = "customresourcecleanup.apiextensions.k8s.io";

fn cause(field: &str, reason: &str, message: String) -> Cause {
    Cause { reason: reason.into(), message, field: field.into() }
}

fn lowercase_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// What is wrong with a CRD (empty when it is valid), with upstream's field paths.
pub fn validate(crd: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    let spec = &crd["spec"];
    let group = spec["group"].as_str().unwrap_or("");
    let plural = spec["names"]["plural"].as_str().unwrap_or("");
    let name = crd["metadata"]["name"].as_str().unwrap_or("");
    if group.is_empty() {
        causes.push(cause("spec.group", "FieldValueRequired", "Required value".into()));
    } else if !group.contains('.') {
        causes.push(cause(
            "spec.group",
            "FieldValueInvalid",
            format!("Invalid value: {group:?}: should be a domain with at least one dot"),
        ));
    }
    if plural.is_empty() {
        causes.push(cause("spec.names.plural", "FieldValueRequired", "Required value".into()));
    } else if !lowercase_dns_label(plural) {
        causes.push(cause(
            "spec.names.plural",
            "FieldValueInvalid",
            format!("Invalid value: {plural:?}: a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-'"),
        ));
    }
    if !group.is_empty() && !plural.is_empty() && name != format!("{plural}.{group}") {
        causes.push(cause(
            "metadata.name",
            "FieldValueInvalid",
            format!("Invalid value: {name:?}: must be spec.names.plural+\".\"+spec.group"),
        ));
    }
    if spec["names"]["kind"].as_str().unwrap_or("").is_empty() {
        causes.push(cause("spec.names.kind", "FieldValueRequired", "Required value".into()));
    }
    match spec["scope"].as_str() {
        Some("Namespaced" | "Cluster") => {}
        Some(other) => causes.push(cause(
            "spec.scope",
            "FieldValueNotSupported",
            format!("Unsupported value: {other:?}: supported values: \"Cluster\", \"Namespaced\""),
        )),
        None => causes.push(cause("spec.scope", "FieldValueRequired", "Required value".into())),
    }
    let versions = spec["versions"].as_array().map(Vec::as_slice).unwrap_or_default();
    if versions.is_empty() {
        causes.push(cause(
            "spec.versions",
            "FieldValueInvalid",
            "Invalid value: null: must have exactly one version marked as storage version".into(),
        ));
    } else {
        let storage = versions.iter().filter(|v| v["storage"] == true).count();
        if storage != 1 {
            causes.push(cause(
                "spec.versions",
                "FieldValueInvalid",
                format!(
                    "Invalid value: {}: must have exactly one version marked as storage version",
                    json!(versions)
                ),
            ));
        }
        for (i, v) in versions.iter().enumerate() {
            if !v["name"].as_str().is_some_and(lowercase_dns_label) {
                causes.push(cause(
                    &format!("spec.versions[{i}].name"),
                    "FieldValueInvalid",
                    format!("Invalid value: {}: must be a DNS-1035 label", v["name"]),
                ));
            }
        }
    }
    causes
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array().into_iter().flatten().filter_map(Value::as_str).map(str::to_owned).collect()
}

/// The resources a (valid) CRD defines: one per served version.
pub fn resources(crd: &Value) -> Vec<ResourceDef> {
    let spec = &crd["spec"];
    let names = &spec["names"];
    let (Some(group), Some(kind), Some(plural)) =
        (spec["group"].as_str(), names["kind"].as_str(), names["plural"].as_str())
    else {
        return Vec::new();
    };
    let singular = names["singular"]
        .as_str()
        .filter(|s| !s.is_empty())
        .map_or_else(|| kind.to_ascii_lowercase(), str::to_owned);
    let namespaced = spec["scope"] != "Cluster";
    spec["versions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|v| v["served"] != false)
        .filter_map(|v| {
            let version = v["name"].as_str()?;
            let mut def = ResourceDef::custom(group, version, kind, plural, &singular, namespaced)
                .with_names(strings(&names["shortNames"]), strings(&names["categories"]));
            if v["subresources"].get("status").is_some() {
                def = def.with_status();
            }
            if v["subresources"].get("scale").is_some() {
                def = def.with_scale();
            }
            def.printer_columns =
                v["additionalPrinterColumns"].as_array().cloned().unwrap_or_default();
            def.schema = v["schema"].get("openAPIV3Schema").cloned();
            Some(def)
        })
        .collect()
}

/// The status of a CRD whose names were accepted (or not, when `conflict` names the clash).
pub fn status(crd: &Value, conflict: Option<&str>, now: &str) -> Value {
    let old: Vec<Value> = crd["status"]["conditions"].as_array().cloned().unwrap_or_default();
    let cond = |kind: &str, ok: bool, reason: &str, message: &str| {
        let status = if ok { "True" } else { "False" };
        let since = old
            .iter()
            .find(|c| c["type"] == kind && c["status"] == status)
            .map_or_else(|| json!(now), |c| c["lastTransitionTime"].clone());
        json!({"type": kind, "status": status, "reason": reason, "message": message, "lastTransitionTime": since})
    };
    let accepted = conflict.is_none();
    let names_msg = conflict.map_or_else(|| "no conflicts found".to_owned(), str::to_owned);
    let storage: Vec<Value> = crd["spec"]["versions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|v| v["storage"] == true)
        .map(|v| v["name"].clone())
        .collect();
    json!({
        "conditions": [
            cond("NamesAccepted", accepted, if accepted { "NoConflicts" } else { "NameConflict" }, &names_msg),
            cond("Established", accepted, if accepted { "InitialNamesAccepted" } else { "NotAccepted" },
                if accepted { "the initial names have been accepted" } else { "not all names are accepted" }),
        ],
        "acceptedNames": if accepted { crd["spec"]["names"].clone() } else { json!({"plural": "", "kind": ""}) },
        "storedVersions": storage,
    })
}

/// Is the CRD established (served)?
pub fn established(crd: &Value) -> bool {
    crd["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "Established" && c["status"] == "True")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn crd() -> Value {
        json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "crontabs.stable.example.com"},
            "spec": {"group": "stable.example.com", "scope": "Namespaced",
                "names": {"plural": "crontabs", "singular": "crontab", "kind": "CronTab", "shortNames": ["ct"]},
                "versions": [
                    {"name": "v1", "served": true, "storage": true, "subresources": {"status": {}},
                     "additionalPrinterColumns": [{"name": "Spec", "type": "string", "jsonPath": ".spec.cronSpec"}]},
                    {"name": "v0", "served": false, "storage": false}]}})
    }

    #[test]
    fn a_valid_crd_defines_its_served_versions() {
        assert!(validate(&crd()).is_empty());
        let defs = resources(&crd());
        assert_eq!(defs.len(), 1);
        let d = &defs[0];
        assert_eq!(
            (d.group.as_str(), d.version.as_str(), d.kind.as_str(), d.plural.as_str()),
            ("stable.example.com", "v1", "CronTab", "crontabs")
        );
        assert!(d.namespaced);
        assert_eq!(d.short_names, ["ct"]);
        assert!(d.subresources.iter().any(|s| s.name == "status"));
        assert_eq!(d.printer_columns.len(), 1);
    }

    #[test]
    fn invalid_crds_name_their_fields() {
        let mut bad = crd();
        bad["metadata"]["name"] = json!("wrong");
        bad["spec"]["scope"] = json!("Galaxy");
        bad["spec"]["versions"][0]["storage"] = json!(false);
        let fields: Vec<String> = validate(&bad).into_iter().map(|c| c.field).collect();
        assert_eq!(fields, ["metadata.name", "spec.scope", "spec.versions"]);
    }

    #[test]
    fn status_says_established_and_keeps_transition_times() {
        let s = status(&crd(), None, "t1");
        let mut c = crd();
        c["status"] = s;
        assert!(established(&c));
        assert_eq!(c["status"]["storedVersions"], json!(["v1"]));
        assert_eq!(status(&c, None, "t2"), c["status"]);
        let refused = status(&crd(), Some("conflict"), "t1");
        c["status"] = refused;
        assert!(!established(&c));
    }
}
