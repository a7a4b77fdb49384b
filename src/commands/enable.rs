//! `enable`: disabled AMIs launchable again, with the launch grants their disabling took away.
//! The plan is `change::access`'s.

use super::{on_own_images, Apply, Context, Mode};
use crate::change::access;
use crate::Result;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// AMIs of this account (ami-…).
    #[arg(value_name = "AMI_ID", required = true)]
    pub amis: Vec<String>,

    #[command(flatten)]
    pub apply: Apply,
}

pub async fn run(args: Args, ctx: &Context<'_>) -> Result<()> {
    // Nothing is taken away: it never asks.
    let mode = Mode { destructive: false, ..Mode::taking("enable", &args.apply, "changed") };
    on_own_images(ctx, &args.amis, &mode, access::plan).await
}
