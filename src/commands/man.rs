//! `man`: one man page per command.

use super::line::Cli;
use super::Context;
use crate::{Error, Result};
use clap::CommandFactory;
use std::path::{Path, PathBuf};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The directory to write the pages into (created if missing).
    #[arg(long, default_value = ".")]
    pub out: PathBuf,
}

/// No JSON: it writes man pages.
pub const JSON: super::Json = super::Json::Not("it writes man pages");

/// None: this command calls no AWS API.
pub const IAM: &[&[crate::core::iam::Permission]] = &[];

pub async fn run(args: Args, ctx: &Context<'_>) -> Result<()> {
    let failed =
        |e: std::io::Error| Error::Write { path: args.out.display().to_string(), detail: e.to_string() };
    std::fs::create_dir_all(&args.out).map_err(failed)?;
    let written = pages(&Cli::command(), "", &args.out).map_err(failed)?;
    ctx.ui.note(&format!("wrote {written} pages into {}", args.out.display()));
    Ok(())
}

/// Writes `command`'s page and, below it, one per subcommand (`gio-ami-disks-add.1`): the
/// number written.
fn pages(command: &clap::Command, parent: &str, dir: &Path) -> std::io::Result<usize> {
    let (name, invoked) = match parent {
        "" => (command.get_name().to_string(), command.get_name().to_string()),
        _ => (
            format!("{parent}-{}", command.get_name()),
            format!("{} {}", parent.replace('-', " "), command.get_name()),
        ),
    };
    // A subcommand's page names it as typed (`gio-ami disks add`), not by its bare name.
    let named = command.clone().display_name(name.clone()).bin_name(invoked);
    let mut page = Vec::new();
    clap_mangen::Man::new(named).title(name.to_uppercase()).render(&mut page)?;
    std::fs::write(dir.join(format!("{name}.1")), page)?;
    let mut written = 1;
    for sub in command.get_subcommands().filter(|sub| sub.get_name() != "help") {
        written += pages(sub, &name, dir)?;
    }
    Ok(written)
}
