//! `completions`: a shell completion script for the whole command line.

use super::line::Cli;
use super::Context;
use crate::Result;
use clap::CommandFactory;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// No JSON: it prints a shell completion script.
pub const JSON: super::Json = super::Json::Not("it prints a shell completion script");

/// None: this command calls no AWS API.
pub const IAM: &[&[crate::core::iam::Permission]] = &[];

pub async fn run(args: Args, ctx: &Context<'_>) -> Result<()> {
    Ok(ctx.ui.print(&script(args.shell))?)
}

/// The completion script of `shell`. clap_complete's bash script completes no flag of any
/// subcommand for a binary named with a hyphen: its loop and its case arms spell the states of
/// `gio-ami wipe` differently (clap-rs/clap#6421, open in clap_complete 4.6). Generated for
/// `gio_ami`, the two agree; its `complete` lines then register it for the real name (the loop
/// matches whatever command word bash passes). zsh and fish have no such bug. Into a buffer,
/// since clap_complete panics on a failed write (`| head`).
fn script(shell: clap_complete::Shell) -> Vec<u8> {
    let mut script = Vec::new();
    if shell == clap_complete::Shell::Bash {
        clap_complete::generate(shell, &mut Cli::command(), "gio_ami", &mut script);
        let text = String::from_utf8_lossy(&script)
            .lines()
            .map(|line| match line.trim_start().starts_with("complete -F") {
                true => line.replace(" gio_ami", " gio-ami"),
                false => line.to_string(),
            })
            .collect::<Vec<_>>()
            .join("\n");
        return format!("{text}\n").into_bytes();
    }
    clap_complete::generate(shell, &mut Cli::command(), "gio-ami", &mut script);
    script
}
