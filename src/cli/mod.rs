//! `ldk-server-cli`: the operator's client for every RPC, the event stream and the metrics.
//!
//! Subcommands and their arguments follow upstream's `ldk-server-cli`, so scripts written for
//! it keep working; `subscribe-events`, `metrics` and `--output json-lines` are ours.

pub mod args;
pub mod commands;
pub mod connection;
pub mod events;
pub mod keys;
pub mod output;

use std::process::ExitCode;

use clap::{CommandFactory, Parser};

use commands::Command;
use connection::ConnectionArgs;
use output::{CliError, OutputFormat};

/// Drive an ldk-server node over its gRPC API. Prints JSON; errors go to stderr as
/// `error: <gRPC code>: <message>` with exit codes 3 invalid argument, 4 authentication,
/// 5 Lightning failure, 6 unavailable, 7 internal, 8 connection, 9 local setup (2: bad usage).
#[derive(Debug, Parser)]
#[command(name = "ldk-server-cli", version, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    connection: ConnectionArgs,
    /// Output format
    #[arg(short = 'o', long, value_enum, default_value = "pretty")]
    output: OutputFormat,
    #[command(subcommand)]
    command: Command,
}

/// Runs the CLI with the process's arguments.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Completions { shell } = cli.command {
        clap_complete::generate(
            shell,
            &mut Cli::command(),
            "ldk-server-cli",
            &mut std::io::stdout(),
        );
        return ExitCode::SUCCESS;
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            return CliError::setup(format!("cannot start the async runtime: {error}")).report()
        }
    };
    match runtime.block_on(commands::run(cli.command, &cli.connection, cli.output)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => error.report(),
    }
}

/// The clap command tree (for completions and for tests that walk every subcommand).
pub fn command() -> clap::Command {
    Cli::command()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_command_tree_is_consistent() {
        super::command().debug_assert();
    }
}
