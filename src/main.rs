//! The `k3rs` binary: command line and wiring only.

mod agent;
mod images;
mod logging;
mod server;

use std::process::ExitCode;

use k3rs_config::{Command, LoadError};

fn main() -> ExitCode {
    let cli = match k3rs_config::load(std::env::args_os()) {
        Ok(cli) => cli,
        // Help, version and usage errors: clap prints them and chooses the exit code.
        Err(LoadError::Usage(e)) => e.exit(),
        Err(e) => {
            eprintln!("k3rs: {e}");
            return ExitCode::FAILURE;
        }
    };
    logging::init(cli.global.log_format, cli.global.debug);
    let is_root = rustix::process::geteuid().is_root();
    let home = std::env::var_os("HOME").map(std::path::PathBuf::from);
    let data_dir = cli.data_dir(is_root, home.as_deref());
    let result = match &cli.command {
        Command::Server(args) => server::run(args, data_dir, is_root),
        Command::Agent(args) => agent::run(args, data_dir, is_root),
        Command::Images(args) => images::run(args, &data_dir),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // One line naming the problem; the log already has the details that led to it.
        Err(e) => {
            eprintln!("k3rs: {e:#}");
            ExitCode::FAILURE
        }
    }
}
