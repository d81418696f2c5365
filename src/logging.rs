//! Tracing setup: human-readable lines by default, JSON lines with `--log-format json`;
//! `--debug` turns on debug level, otherwise `RUST_LOG` or info.

use std::io::IsTerminal;

use k3rs_config::LogFormat;
use tracing_subscriber::EnvFilter;

pub fn init(format: LogFormat, debug: bool) {
    let filter = if debug {
        EnvFilter::new("debug")
    } else {
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"))
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
