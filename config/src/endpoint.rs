//! `--datastore-endpoint`: which datastore the server uses.

use std::path::{Path, PathBuf};

/// A datastore the server can run on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatastoreEndpoint {
    /// The embedded default.
    Sled {
        path: PathBuf,
    },
    Sqlite {
        path: PathBuf,
    },
    /// External PostgreSQL, shared by several servers (not yet supported).
    Postgres {
        url: String,
    },
    /// External etcd (not yet supported).
    Etcd {
        endpoints: Vec<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid datastore endpoint {endpoint:?}: {why} (supported: sled:///path, sqlite://, sqlite:///path/state.db, postgres://..., http(s)://host:port)"
)]
pub struct EndpointError {
    pub endpoint: String,
    pub why: &'static str,
}

impl DatastoreEndpoint {
    /// Parse `--datastore-endpoint`; `db_dir` is `<data-dir>/server/db` for the defaults.
    pub fn parse(endpoint: Option<&str>, db_dir: &Path) -> Result<Self, EndpointError> {
        let text = endpoint.map(str::trim).unwrap_or("");
        let err = |why| EndpointError { endpoint: text.to_owned(), why };
        if text.is_empty() {
            return Ok(DatastoreEndpoint::Sled { path: db_dir.join("sled") });
        }
        let (scheme, rest) = text.split_once("://").ok_or_else(|| err("missing scheme"))?;
        let path_of = |rest: &str, default: PathBuf| -> Result<PathBuf, EndpointError> {
            let path = rest.split('?').next().unwrap_or("");
            if path.is_empty() {
                Ok(default)
            } else if path.starts_with('/') {
                Ok(PathBuf::from(path))
            } else {
                Err(err("the path must be absolute (three slashes: sqlite:///var/lib/...)"))
            }
        };
        match scheme {
            "sled" => Ok(DatastoreEndpoint::Sled { path: path_of(rest, db_dir.join("sled"))? }),
            "sqlite" => {
                Ok(DatastoreEndpoint::Sqlite { path: path_of(rest, db_dir.join("state.db"))? })
            }
            "postgres" | "postgresql" => {
                if rest.is_empty() {
                    return Err(err("missing host"));
                }
                Ok(DatastoreEndpoint::Postgres { url: text.to_owned() })
            }
            "http" | "https" => {
                let endpoints: Vec<String> = text.split(',').map(|e| e.trim().to_owned()).collect();
                if endpoints.iter().any(|e| {
                    !(e.starts_with("http://") || e.starts_with("https://")) || e.ends_with("//")
                }) {
                    return Err(err("every etcd endpoint must be http(s)://host:port"));
                }
                Ok(DatastoreEndpoint::Etcd { endpoints })
            }
            "mysql" => Err(err("MySQL is not supported")),
            _ => Err(err("unknown scheme")),
        }
    }

    /// The backend's name for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            DatastoreEndpoint::Sled { .. } => "sled",
            DatastoreEndpoint::Sqlite { .. } => "sqlite",
            DatastoreEndpoint::Postgres { .. } => "postgres",
            DatastoreEndpoint::Etcd { .. } => "etcd",
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn parse(s: Option<&str>) -> Result<DatastoreEndpoint, EndpointError> {
        DatastoreEndpoint::parse(s, Path::new("/d/server/db"))
    }

    #[test]
    fn embedded_defaults_live_in_the_data_dir() {
        assert_eq!(parse(None), Ok(DatastoreEndpoint::Sled { path: "/d/server/db/sled".into() }));
        assert_eq!(
            parse(Some("")),
            Ok(DatastoreEndpoint::Sled { path: "/d/server/db/sled".into() })
        );
        assert_eq!(
            parse(Some("sqlite://")),
            Ok(DatastoreEndpoint::Sqlite { path: "/d/server/db/state.db".into() })
        );
        assert_eq!(
            parse(Some("sqlite:///var/k/state.db?_journal=WAL")),
            Ok(DatastoreEndpoint::Sqlite { path: "/var/k/state.db".into() })
        );
        assert_eq!(
            parse(Some("sled:///srv/s")),
            Ok(DatastoreEndpoint::Sled { path: "/srv/s".into() })
        );
    }

    #[test]
    fn external_databases_parse() {
        assert!(matches!(
            parse(Some("postgres://u:p@db:5432/k3rs")),
            Ok(DatastoreEndpoint::Postgres { .. })
        ));
        assert_eq!(
            parse(Some("https://a:2379,https://b:2379")).unwrap(),
            DatastoreEndpoint::Etcd {
                endpoints: vec!["https://a:2379".into(), "https://b:2379".into()]
            }
        );
    }

    #[test]
    fn malformed_endpoints_say_why() {
        for bad in [
            "foo",
            "sqlite:relative",
            "sqlite://relative/path",
            "mysql://x",
            "redis://x",
            "postgres://",
        ] {
            let e = parse(Some(bad)).unwrap_err();
            assert!(
                e.to_string().starts_with(&format!("invalid datastore endpoint {bad:?}")),
                "{e}"
            );
        }
    }
}
