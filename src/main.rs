//! The `gio-ami` binary: parses the command line, sets up logging, and hands over to `cli`.

mod cli;

use clap::Parser;
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    // Before anything else, so that no Ctrl-C of the run comes before its handler.
    let interruption = cli::listen_for_signals();
    let args = gio_ami::commands::Cli::parse();
    cli::init_logging(&args);
    let verb = args.command.name();
    cli::exit_code(cli::run(args, interruption).await, &verb)
}
