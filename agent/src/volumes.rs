//! The data a pod's volumes and environment draw from the API: which ConfigMaps and Secrets it
//! references, and the files `configMap`, `secret`, `downwardAPI` and `projected` volumes
//! hold (keys or `items`, modes, `optional`), as the kubelet writes them.

use std::collections::HashMap;
use std::path::PathBuf;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;

use crate::oci::{Downward, field};

/// The ConfigMaps and Secrets a pod's containers may read, by name (`None`: does not exist).
#[derive(Debug, Clone, Default)]
pub struct Sources {
    pub config_maps: HashMap<String, Option<Value>>,
    pub secrets: HashMap<String, Option<Value>>,
}

/// A file of a volume: path inside the volume, content, mode.
pub type File = (PathBuf, Vec<u8>, u32);

/// Names of the ConfigMaps and Secrets the pod references (volumes, projections, env,
/// envFrom), sorted and without repeats.
pub fn referenced(pod: &Value) -> (Vec<String>, Vec<String>) {
    let (mut cms, mut secrets) = (Vec::new(), Vec::new());
    let spec = &pod["spec"];
    for v in spec["volumes"].as_array().into_iter().flatten() {
        cms.extend(v["configMap"]["name"].as_str().map(str::to_owned));
        secrets.extend(v["secret"]["secretName"].as_str().map(str::to_owned));
        for s in v["projected"]["sources"].as_array().into_iter().flatten() {
            cms.extend(s["configMap"]["name"].as_str().map(str::to_owned));
            secrets.extend(s["secret"]["name"].as_str().map(str::to_owned));
        }
    }
    for key in ["initContainers", "containers"] {
        for c in spec[key].as_array().into_iter().flatten() {
            for e in c["env"].as_array().into_iter().flatten() {
                cms.extend(e["valueFrom"]["configMapKeyRef"]["name"].as_str().map(str::to_owned));
                secrets.extend(e["valueFrom"]["secretKeyRef"]["name"].as_str().map(str::to_owned));
            }
            for e in c["envFrom"].as_array().into_iter().flatten() {
                cms.extend(e["configMapRef"]["name"].as_str().map(str::to_owned));
                secrets.extend(e["secretRef"]["name"].as_str().map(str::to_owned));
            }
        }
    }
    for list in [&mut cms, &mut secrets] {
        list.sort();
        list.dedup();
    }
    (cms, secrets)
}

/// The key-value data of a ConfigMap (`data` and `binaryData`) or a Secret (`data`, decoded).
pub fn data(obj: &Value, secret: bool) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for (k, v) in obj["data"].as_object().into_iter().flatten() {
        let text = v.as_str().unwrap_or_default();
        let bytes = if secret {
            STANDARD.decode(text).unwrap_or_default()
        } else {
            text.as_bytes().to_vec()
        };
        out.push((k.clone(), bytes));
    }
    if !secret {
        for (k, v) in obj["binaryData"].as_object().into_iter().flatten() {
            out.push((
                k.clone(),
                STANDARD.decode(v.as_str().unwrap_or_default()).unwrap_or_default(),
            ));
        }
    }
    out
}

fn mode(v: &Value, default: u32) -> u32 {
    v.as_u64().and_then(|m| u32::try_from(m).ok()).unwrap_or(default)
}

/// Files of one source (a ConfigMap or Secret), with `items` selecting and renaming keys.
fn keyed(
    kind: &str,
    name: &str,
    obj: Option<&Value>,
    secret: bool,
    source: &Value,
    default_mode: u32,
) -> Result<Vec<File>, String> {
    let optional = source["optional"] == true;
    let Some(obj) = obj else {
        return if optional { Ok(Vec::new()) } else { Err(format!("{kind} \"{name}\" not found")) };
    };
    let entries = data(obj, secret);
    let items = source["items"].as_array();
    let mut files = Vec::new();
    match items {
        Some(items) if !items.is_empty() => {
            for item in items {
                let key = item["key"].as_str().unwrap_or_default();
                let path = item["path"].as_str().unwrap_or(key);
                match entries.iter().find(|(k, _)| k == key) {
                    Some((_, bytes)) => files.push((
                        PathBuf::from(path),
                        bytes.clone(),
                        mode(&item["mode"], default_mode),
                    )),
                    None if optional => {}
                    None => {
                        return Err(format!("configmap references non-existent config key: {key}"));
                    }
                }
            }
        }
        _ => files.extend(entries.into_iter().map(|(k, b)| (PathBuf::from(k), b, default_mode))),
    }
    Ok(files)
}

/// Files of a `downwardAPI` projection.
fn downward_files(items: &Value, pod: &Value, d: &Downward, default_mode: u32) -> Vec<File> {
    let mut files = Vec::new();
    for item in items.as_array().into_iter().flatten() {
        let Some(path) = item["path"].as_str() else { continue };
        let Some(field_path) = item["fieldRef"]["fieldPath"].as_str() else { continue };
        let content = match field_path {
            "metadata.labels" | "metadata.annotations" => {
                let key = field_path.trim_start_matches("metadata.");
                let mut lines: Vec<String> = pod["metadata"][key]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(k, v)| format!("{k}=\"{}\"", v.as_str().unwrap_or_default()))
                    .collect();
                lines.sort();
                lines.join("\n")
            }
            other => field(pod, other, d),
        };
        files.push((PathBuf::from(path), content.into_bytes(), mode(&item["mode"], default_mode)));
    }
    files
}

/// The files of `volume` (a pod volume), or the reason it cannot be made (the kubelet's
/// `FailedMount` message). Volumes backed by a node directory (`emptyDir`, `hostPath`) have
/// no files.
pub fn files(
    volume: &Value,
    pod: &Value,
    sources: &Sources,
    d: &Downward,
) -> Result<Vec<File>, String> {
    let cm = |name: &str| sources.config_maps.get(name).cloned().flatten();
    let secret = |name: &str| sources.secrets.get(name).cloned().flatten();
    if let Some(c) = volume.get("configMap") {
        let name = c["name"].as_str().unwrap_or_default();
        return keyed(
            "configmap",
            name,
            cm(name).as_ref(),
            false,
            c,
            mode(&c["defaultMode"], 0o644),
        );
    }
    if let Some(s) = volume.get("secret") {
        let name = s["secretName"].as_str().unwrap_or_default();
        return keyed(
            "secret",
            name,
            secret(name).as_ref(),
            true,
            s,
            mode(&s["defaultMode"], 0o644),
        );
    }
    if let Some(dw) = volume.get("downwardAPI") {
        return Ok(downward_files(&dw["items"], pod, d, mode(&dw["defaultMode"], 0o644)));
    }
    if let Some(p) = volume.get("projected") {
        let default_mode = mode(&p["defaultMode"], 0o644);
        let mut all = Vec::new();
        for s in p["sources"].as_array().into_iter().flatten() {
            if let Some(c) = s.get("configMap") {
                let name = c["name"].as_str().unwrap_or_default();
                all.extend(keyed("configmap", name, cm(name).as_ref(), false, c, default_mode)?);
            } else if let Some(c) = s.get("secret") {
                let name = c["name"].as_str().unwrap_or_default();
                all.extend(keyed("secret", name, secret(name).as_ref(), true, c, default_mode)?);
            } else if let Some(dw) = s.get("downwardAPI") {
                all.extend(downward_files(&dw["items"], pod, d, default_mode));
            }
        }
        return Ok(all);
    }
    Ok(Vec::new())
}

/// What a container's environment takes from ConfigMaps and Secrets: the `envFrom` pairs (in
/// order) and each `valueFrom` key reference's value by variable name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourcedEnv {
    pub from: Vec<(String, String)>,
    pub keys: HashMap<String, String>,
}

/// The container's [`SourcedEnv`]; a missing non-optional source or key is the kubelet's
/// `CreateContainerConfigError` message.
pub fn env_from_sources(
    container: &Value,
    namespace: &str,
    sources: &Sources,
) -> Result<SourcedEnv, String> {
    let ns_lookup = |secret: bool, name: &str| {
        if secret {
            sources.secrets.get(name).cloned().flatten()
        } else {
            sources.config_maps.get(name).cloned().flatten()
        }
    };
    let mut out = SourcedEnv::default();
    for e in container["envFrom"].as_array().into_iter().flatten() {
        let (secret, r) = match (e.get("configMapRef"), e.get("secretRef")) {
            (Some(r), _) => (false, r),
            (_, Some(r)) => (true, r),
            _ => continue,
        };
        let name = r["name"].as_str().unwrap_or_default();
        let prefix = e["prefix"].as_str().unwrap_or_default();
        match ns_lookup(secret, name) {
            Some(obj) => {
                for (k, v) in data(&obj, secret) {
                    out.from
                        .push((format!("{prefix}{k}"), String::from_utf8_lossy(&v).into_owned()));
                }
            }
            None if r["optional"] == true => {}
            None => {
                return Err(format!(
                    "{} \"{name}\" not found",
                    if secret { "secret" } else { "configmap" }
                ));
            }
        }
    }
    for e in container["env"].as_array().into_iter().flatten() {
        let Some(var) = e["name"].as_str() else { continue };
        let (secret, r) =
            match (e["valueFrom"].get("configMapKeyRef"), e["valueFrom"].get("secretKeyRef")) {
                (Some(r), _) => (false, r),
                (_, Some(r)) => (true, r),
                _ => continue,
            };
        let name = r["name"].as_str().unwrap_or_default();
        let key = r["key"].as_str().unwrap_or_default();
        let kind = if secret { "Secret" } else { "ConfigMap" };
        let value = ns_lookup(secret, name)
            .and_then(|obj| data(&obj, secret).into_iter().find(|(k, _)| k == key));
        match value {
            Some((_, v)) => {
                out.keys.insert(var.to_owned(), String::from_utf8_lossy(&v).into_owned());
            }
            None if r["optional"] == true => {}
            None => return Err(format!("couldn't find key {key} in {kind} {namespace}/{name}")),
        }
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    fn sources() -> Sources {
        let mut s = Sources::default();
        s.config_maps.insert(
            "settings".into(),
            Some(json!({"data": {"a": "1", "b": "2"}, "binaryData": {"bin": "AAE="}})),
        );
        s.config_maps.insert("gone".into(), None);
        s.secrets.insert("creds".into(), Some(json!({"data": {"key": "dmFsdWU="}})));
        s
    }

    #[test]
    fn pods_reference_their_sources() {
        let pod = json!({"spec": {
            "volumes": [{"name": "v", "configMap": {"name": "settings"}},
                        {"name": "p", "projected": {"sources": [{"secret": {"name": "creds"}}]}}],
            "containers": [{"name": "c", "envFrom": [{"configMapRef": {"name": "more"}}],
                            "env": [{"name": "K", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "key"}}}]}]}});
        assert_eq!(
            referenced(&pod),
            (vec!["more".to_owned(), "settings".to_owned()], vec!["creds".to_owned()])
        );
    }

    #[test]
    fn volumes_hold_keys_items_and_decoded_secrets() {
        let pod = json!({"metadata": {"name": "p", "labels": {"b": "2", "a": "1"}}});
        let d = Downward::default();
        let all = files(&json!({"configMap": {"name": "settings"}}), &pod, &sources(), &d).unwrap();
        assert_eq!(all.len(), 3);
        let items = files(&json!({"configMap": {"name": "settings", "items": [{"key": "b", "path": "conf/b.txt", "mode": 0o600}]}}), &pod, &sources(), &d).unwrap();
        assert_eq!(items, [(PathBuf::from("conf/b.txt"), b"2".to_vec(), 0o600)]);
        let secret =
            files(&json!({"secret": {"secretName": "creds"}}), &pod, &sources(), &d).unwrap();
        assert_eq!(secret[0].1, b"value");
        assert_eq!(
            files(&json!({"configMap": {"name": "gone"}}), &pod, &sources(), &d).unwrap_err(),
            "configmap \"gone\" not found"
        );
        assert!(
            files(&json!({"configMap": {"name": "gone", "optional": true}}), &pod, &sources(), &d)
                .unwrap()
                .is_empty()
        );
        let labels = files(&json!({"downwardAPI": {"items": [{"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}}]}}), &pod, &sources(), &d).unwrap();
        assert_eq!(labels[0].1, b"a=\"1\"\nb=\"2\"");
    }

    #[test]
    fn env_comes_from_keys_and_whole_sources() {
        let c = json!({"envFrom": [{"configMapRef": {"name": "settings"}, "prefix": "CFG_"}],
                       "env": [{"name": "KEY", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "key"}}}]});
        let env = env_from_sources(&c, "prod", &sources()).unwrap();
        assert!(env.from.contains(&("CFG_a".into(), "1".into())));
        assert_eq!(env.keys["KEY"], "value");
        let missing = json!({"env": [{"name": "X", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "nope"}}}]});
        assert_eq!(
            env_from_sources(&missing, "prod", &sources()).unwrap_err(),
            "couldn't find key nope in Secret prod/creds"
        );
    }
}
