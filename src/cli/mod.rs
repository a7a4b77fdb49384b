//! The binary's side of gio-ami: the terminal (`console`: tables, JSON, the question before a
//! destructive apply; `progress`: spinners and phase lines), logging, signals and exit codes.
//! The verbs are the library's (`gio_ami::commands`); nothing below this module touches the
//! terminal.

mod console;
mod progress;

use console::Console;
use gio_ami::commands::Cli;
use gio_ami::core::signal::{Interruption, Stop};
use std::io::IsTerminal;
use std::process::ExitCode;
use tokio::signal::unix::{signal, SignalKind};
use tracing_subscriber::EnvFilter;

/// The exit status of a run: 0, 1 with the error on stderr, or SIGPIPE's when the reader left.
pub fn exit_code(result: anyhow::Result<()>, verb: &str) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // The reader went away (`| head`): end quietly, with the status a tool killed by
        // SIGPIPE has, as coreutils do (Rust ignores the signal, so the write failed instead).
        Err(err) if is_broken_pipe(&err) => ExitCode::from(128 + 13),
        // `outdated --fail-if-behind`: the report was printed; a scheduled job tells "behind"
        // (3) from "could not tell" (1).
        Err(err)
            if matches!(
                err.downcast_ref::<gio_ami::Error>(),
                Some(gio_ami::Error::Behind { .. } | gio_ami::Error::AmisBehind { .. })
            ) =>
        {
            eprintln!("error: {}", message(&err, verb));
            ExitCode::from(3)
        }
        Err(err) => {
            eprintln!("error: {}", message(&err, verb));
            ExitCode::FAILURE
        }
    }
}

/// An error of `verb` as printed: its chain of causes, then the flags that get past the last one.
fn message(err: &anyhow::Error, verb: &str) -> String {
    gio_ami::commands::advice::with_advice(format!("{err:#}"), err.root_cause(), verb)
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain()
        .filter_map(|cause| cause.downcast_ref::<std::io::Error>())
        .any(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
}

/// Installs the run's only Ctrl-C and SIGTERM handlers and returns the interruption they set;
/// call it first thing, so no signal of the run finds the process without them. The first
/// signal interrupts the run (each wait ends, each operation cleans up); a second one ends the
/// process at once, for a user who will not wait for a clean-up.
pub fn listen_for_signals() -> Interruption {
    let interruption = Interruption::default();
    let (Ok(mut ctrl_c), Ok(mut term)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate()))
    else {
        // Without handlers each signal keeps its default action: it ends the process, as it
        // would any program, and `gc` finds what a build left.
        eprintln!("warning: cannot install the Ctrl-C handler: an interrupted build leaves its builder to `gio-ami gc`");
        return interruption;
    };
    let run = interruption.clone();
    tokio::spawn(async move {
        loop {
            let stop = tokio::select! {
                Some(()) = ctrl_c.recv() => Stop::CtrlC,
                Some(()) = term.recv() => Stop::Term,
                else => return,
            };
            if let Some(first) = run.stop() {
                eprintln!(
                    "error: {stop} after {first}: stopping now, before the clean-up finished; \
                     `gio-ami gc` removes what a build left"
                );
                std::process::exit(
                    128 + if stop == Stop::CtrlC {
                        rustix::process::Signal::INT
                    } else {
                        rustix::process::Signal::TERM
                    }
                    .as_raw(),
                );
            }
            run.interrupt(stop);
        }
    });
    interruption
}

/// Runs the command until it ends, or until an interruption that came while no operation of it
/// that cleans up was running (nothing of it is then left to clean up: ending there is what the
/// signal's default action did).
pub async fn run(cli: Cli, interruption: Interruption) -> anyhow::Result<()> {
    let console = Console { format: cli.output, quiet: cli.quiet };
    let (verb, ctx) = cli.resolve(interruption.clone(), &console)?;
    tokio::select! {
        done = verb.run(&ctx) => Ok(done?),
        signal = interruption.unhandled() => Err(gio_ami::Error::Interrupted { signal }.into()),
    }
}

pub fn init_logging(cli: &Cli) {
    let level = match (cli.quiet, cli.verbose) {
        (true, _) => "error",
        // The SDK's own warnings (e.g. a missing ~/.aws/config) are noise next to our errors.
        (false, 0) => "gio_ami=warn,error",
        (false, 1) => "gio_ami=info,warn",
        (false, 2) => "gio_ami=debug,aws_smithy_runtime=debug,warn",
        (false, _) => "trace",
    };
    let filter = EnvFilter::try_from_env("GIO_AMI_LOG").unwrap_or_else(|_| EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(cli.color.wanted(std::io::stderr().is_terminal(), std::env::var_os("NO_COLOR").as_deref()))
        .with_target(false)
        .init();
}
