//! k3rs-config: command-line flags, `K3RS_*` environment variables, the config file, defaults,
//! validation, and the data-dir layout.
//!
//! Owns: what the operator can set and where each setting comes from: flag > env > file >
//! default (ADR 001); every path k3rs keeps state in (`DataDir`).
//! Does not: depend on actix, start anything, or do I/O beyond reading configuration files.

pub mod cli;
pub mod endpoint;
pub mod file;
pub mod layout;
pub mod values;

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches};

pub use cli::{
    AgentArgs, Cli, Command, GlobalArgs, ImagesArgs, ImagesCommand, LogFormat, NodeArgs, ServerArgs,
};
pub use endpoint::{DatastoreEndpoint, EndpointError};
pub use file::FileError;
pub use layout::{DataDir, default_data_dir};

/// The git commit this binary was built from.
pub const GIT_COMMIT: &str = env!("K3RS_GIT_COMMIT");
/// What `--version` prints after the program name, K3s style.
pub const VERSION_LINE: &str =
    concat!("version v", env!("CARGO_PKG_VERSION"), "+k3rs (", env!("K3RS_GIT_COMMIT"), ")");
/// The config file read when `--config` is not given.
pub const DEFAULT_CONFIG: &str = "/etc/rancher/k3rs/config.yaml";

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A usage error, or `--help`/`--version`: clap prints it and picks the exit code.
    #[error(transparent)]
    Usage(#[from] clap::Error),
    #[error(transparent)]
    File(#[from] FileError),
}

/// Parse `args` (program name first) with the environment and the config file.
pub fn load<I, T>(args: I) -> Result<Cli, LoadError>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString>,
{
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    let command = Cli::command();
    let matches = command.clone().try_get_matches_from(&args)?;
    let Some((sub_name, sub_matches)) = matches.subcommand() else {
        return Ok(Cli::from_arg_matches(&matches)?);
    };
    // The config file configures `server` and `agent`; other commands take flags only.
    if !matches!(sub_name, "server" | "agent") {
        return Ok(Cli::from_arg_matches(&matches)?);
    }
    let explicit = matches!(
        sub_matches.value_source("config"),
        Some(ValueSource::CommandLine | ValueSource::EnvVariable)
    );
    let config: PathBuf = sub_matches
        .get_one::<PathBuf>("config")
        .cloned()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG));
    let settings = file::load(&config, explicit)?;
    if settings.is_empty() {
        return Ok(Cli::from_arg_matches(&matches)?);
    }
    let sub = command.find_subcommand(sub_name).cloned().unwrap_or_else(|| command.clone());
    let mut extra: Vec<OsString> = Vec::new();
    for s in &settings {
        let arg = sub
            .get_arguments()
            .chain(command.get_arguments())
            .find(|a| a.get_long() == Some(s.key.as_str()) && !a.is_hide_set())
            .ok_or_else(|| FileError::UnknownKey { path: s.path.clone(), key: s.key.clone() })?;
        if s.key == "config" {
            continue;
        }
        if matches!(
            sub_matches.value_source(arg.get_id().as_str()),
            Some(ValueSource::CommandLine | ValueSource::EnvVariable)
        ) {
            continue;
        }
        if arg.get_action().takes_values() {
            extra.extend(s.values.iter().map(|v| OsString::from(format!("--{}={v}", s.key))));
        } else {
            for v in &s.values {
                match v.as_str() {
                    "true" => extra.push(OsString::from(format!("--{}", s.key))),
                    "false" => {}
                    other => {
                        return Err(FileError::BadValue {
                            path: s.path.clone(),
                            key: s.key.clone(),
                            message: format!("expected true or false, got {other:?}"),
                        }
                        .into());
                    }
                }
            }
        }
    }
    let mut all = args.clone();
    all.extend(extra);
    let matches = command.try_get_matches_from(&all).map_err(|e| from_file_error(e, &settings))?;
    Ok(Cli::from_arg_matches(&matches)?)
}

/// A parse error caused by a file value: name the key and the file.
fn from_file_error(e: clap::Error, settings: &[file::Setting]) -> LoadError {
    let arg = match e.get(clap::error::ContextKind::InvalidArg) {
        Some(clap::error::ContextValue::String(s)) => s.clone(),
        _ => String::new(),
    };
    let long = arg.trim_start_matches('-').split([' ', '=']).next().unwrap_or("");
    match settings.iter().find(|s| s.key == long) {
        Some(s) => {
            let rendered = e.to_string();
            let first = rendered.lines().next().unwrap_or("").trim_start_matches("error: ");
            FileError::BadValue {
                path: s.path.clone(),
                key: s.key.clone(),
                message: first.to_owned(),
            }
            .into()
        }
        None => e.into(),
    }
}

impl Cli {
    /// The data directory: `--data-dir`, or the default for this user.
    pub fn data_dir(&self, is_root: bool, home: Option<&Path>) -> DataDir {
        DataDir::new(
            self.global.data_dir.clone().unwrap_or_else(|| default_data_dir(is_root, home)),
        )
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn server(cli: &Cli) -> &ServerArgs {
        match &cli.command {
            Command::Server(s) => s,
            _ => panic!("expected server"),
        }
    }

    fn with_file(yaml: &str) -> (tempfile::TempDir, String) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("config.yaml");
        std::fs::write(&p, yaml).unwrap();
        let path = p.display().to_string();
        (dir, path)
    }

    #[test]
    fn defaults_are_k3s_defaults() {
        let cli = load(["k3rs", "server", "--config", "/nonexistent-but-default-ok"]);
        // An explicitly named missing file is an error.
        assert!(matches!(cli, Err(LoadError::File(FileError::Read { .. }))));
        let (_d, path) = with_file("");
        let cli = load(["k3rs", "server", "--config", &path]).unwrap();
        let s = server(&cli);
        assert_eq!(s.https_listen_port, 6443);
        assert_eq!(s.cluster_cidr.to_string(), "10.42.0.0/16");
        assert_eq!(s.service_cidr.to_string(), "10.43.0.0/16");
        assert_eq!(s.cluster_dns().to_string(), "10.43.0.10");
        assert_eq!(s.node.lb_server_port, 6444);
        // The cluster DNS follows a changed service range unless it is given.
        let cli = load(["k3rs", "server", "--service-cidr", "10.96.0.0/24"]).unwrap();
        assert_eq!(server(&cli).cluster_dns().to_string(), "10.96.0.10");
        let cli = load(["k3rs", "server", "--cluster-dns", "10.43.0.53"]).unwrap();
        assert_eq!(server(&cli).cluster_dns().to_string(), "10.43.0.53");
    }

    #[test]
    fn the_file_fills_in_what_flags_do_not_set() {
        let (_d, path) = with_file(
            "https-listen-port: 7443\ntls-san: [a.example, b.example]\ndisable-agent: true\ncluster-domain: k.local\ndebug: true\n",
        );
        let cli =
            load(["k3rs", "server", "--config", &path, "--cluster-domain", "flag.local"]).unwrap();
        let s = server(&cli);
        assert_eq!(s.https_listen_port, 7443);
        assert_eq!(s.tls_san, ["a.example", "b.example"]);
        assert!(s.disable_agent);
        assert_eq!(s.cluster_domain, "flag.local");
        assert!(cli.global.debug);
    }

    #[test]
    fn unknown_keys_and_bad_values_name_the_key_and_file() {
        let (_d, path) = with_file("tls-sans: [x]\n");
        let e = load(["k3rs", "server", "--config", &path]).unwrap_err().to_string();
        assert_eq!(e, format!("config file {path}: unknown key \"tls-sans\""));
        let (_d, path) = with_file("cluster-cidr: not-a-cidr\n");
        let e = load(["k3rs", "server", "--config", &path]).unwrap_err().to_string();
        assert!(e.starts_with(&format!("config file {path}: key \"cluster-cidr\": ")), "{e}");
        assert_eq!(e.lines().count(), 1, "{e}");
        // Server-only keys are unknown to the agent.
        let (_d, path) = with_file("cluster-cidr: 10.0.0.0/8\n");
        let e = load(["k3rs", "agent", "--config", &path]).unwrap_err().to_string();
        assert!(e.contains("unknown key \"cluster-cidr\""), "{e}");
    }

    #[test]
    fn version_and_help_are_clap_errors_with_their_own_exit() {
        let e = load(["k3rs", "--version"]).unwrap_err();
        match e {
            LoadError::Usage(e) => {
                assert_eq!(e.kind(), clap::error::ErrorKind::DisplayVersion);
                assert!(e.to_string().starts_with("k3rs version v"));
            }
            other => panic!("{other}"),
        }
    }
}
