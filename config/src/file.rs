//! The config file, as K3s reads it: `config.yaml` plus `config.yaml.d/*.yaml` beside it in
//! lexical order; keys are long flag names; later files override scalars, and `key+:` appends to
//! a list instead of replacing it.

use std::path::{Path, PathBuf};

use serde_yaml_ng::Value;

/// Why a config file could not be used. Each names the file.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("config file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Yaml { path: PathBuf, message: String },
    #[error("config file {path}: unknown key {key:?}")]
    UnknownKey { path: PathBuf, key: String },
    #[error("config file {path}: key {key:?}: {message}")]
    BadValue { path: PathBuf, key: String, message: String },
}

/// One setting from a file: the flag's long name, its values (one for a scalar), and the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    pub key: String,
    pub values: Vec<String>,
    pub path: PathBuf,
}

/// The files to read for `config`: itself, then `<config>.d/*.yaml|yml` sorted. A missing main
/// file is fine when it was not named explicitly.
pub fn load(config: &Path, explicit: bool) -> Result<Vec<Setting>, FileError> {
    let mut files = Vec::new();
    match std::fs::metadata(config) {
        Ok(_) => files.push(config.to_owned()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => {}
        Err(source) => return Err(FileError::Read { path: config.to_owned(), source }),
    }
    let mut dropins = config.as_os_str().to_owned();
    dropins.push(".d");
    if let Ok(entries) = std::fs::read_dir(PathBuf::from(dropins)) {
        let mut extra: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
            .collect();
        extra.sort();
        files.extend(extra);
    }
    let mut merged: Vec<Setting> = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(&path)
            .map_err(|source| FileError::Read { path: path.clone(), source })?;
        for (key, append, values) in parse(&path, &text)? {
            match merged.iter_mut().find(|s| s.key == key) {
                Some(s) if append => {
                    s.values.extend(values);
                    s.path = path.clone();
                }
                Some(s) => {
                    s.values = values;
                    s.path = path.clone();
                }
                None => merged.push(Setting { key, values, path: path.clone() }),
            }
        }
    }
    Ok(merged)
}

/// The `(key, append, values)` entries of one file.
fn parse(path: &Path, text: &str) -> Result<Vec<(String, bool, Vec<String>)>, FileError> {
    let doc: Value = serde_yaml_ng::from_str(text)
        .map_err(|e| FileError::Yaml { path: path.to_owned(), message: e.to_string() })?;
    let map = match doc {
        Value::Null => return Ok(Vec::new()),
        Value::Mapping(m) => m,
        _ => {
            return Err(FileError::Yaml {
                path: path.to_owned(),
                message: "expected a mapping of flag names to values".into(),
            });
        }
    };
    let mut out = Vec::new();
    for (k, v) in map {
        let Value::String(key) = k else {
            return Err(FileError::Yaml {
                path: path.to_owned(),
                message: format!("key {k:?} is not a string"),
            });
        };
        let (key, append) = match key.strip_suffix('+') {
            Some(k) => (k.to_owned(), true),
            None => (key, false),
        };
        let bad = |message: String| FileError::BadValue {
            path: path.to_owned(),
            key: key.clone(),
            message,
        };
        let values = match v {
            Value::Sequence(items) => {
                items.into_iter().map(|i| scalar(i).map_err(bad)).collect::<Result<_, _>>()?
            }
            other => vec![scalar(other).map_err(bad)?],
        };
        out.push((key, append, values));
    }
    Ok(out)
}

fn scalar(v: Value) -> Result<String, String> {
    match v {
        Value::String(s) => Ok(s),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Number(n) => Ok(n.to_string()),
        other => Err(format!("expected a string, number or boolean, got {other:?}")),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn dropins_override_scalars_and_plus_keys_append() {
        let dir = tempfile::tempdir().unwrap();
        let main = dir.path().join("config.yaml");
        std::fs::write(
            &main,
            "token: a\nnode-label: [x=1]\ntls-san:\n  - one\nhttps-listen-port: 7443\n",
        )
        .unwrap();
        std::fs::create_dir(dir.path().join("config.yaml.d")).unwrap();
        std::fs::write(dir.path().join("config.yaml.d/20-b.yaml"), "token: c\n").unwrap();
        std::fs::write(
            dir.path().join("config.yaml.d/10-a.yaml"),
            "token: b\nnode-label+: [y=2]\ntls-san: [two]\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("config.yaml.d/ignored.txt"), "token: z\n").unwrap();
        let s = load(&main, true).unwrap();
        let get = |k: &str| s.iter().find(|x| x.key == k).unwrap().values.clone();
        assert_eq!(get("token"), ["c"]);
        assert_eq!(get("node-label"), ["x=1", "y=2"]);
        assert_eq!(get("tls-san"), ["two"]);
        assert_eq!(get("https-listen-port"), ["7443"]);
    }

    #[test]
    fn missing_files_are_fine_only_when_not_named() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("nope.yaml");
        assert!(load(&p, false).unwrap().is_empty());
        let e = load(&p, true).unwrap_err().to_string();
        assert!(e.starts_with(&format!("config file {}", p.display())), "{e}");
    }

    #[test]
    fn malformed_yaml_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("config.yaml");
        std::fs::write(&p, "token: [unclosed\n").unwrap();
        let e = load(&p, true).unwrap_err().to_string();
        assert!(e.starts_with(&format!("config file {}: ", p.display())), "{e}");
        std::fs::write(&p, "- a\n- b\n").unwrap();
        assert!(load(&p, true).unwrap_err().to_string().contains("expected a mapping"));
    }
}
