//! `enable`: disabled AMIs launchable again, with the launch grants their disabling took away.
//! The plan is `change::access`'s.

use super::{on_own_images, Context, Mode, Targets};
use crate::change::access;
use crate::Result;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub targets: Targets,
}

pub async fn run(args: Args, ctx: &Context<'_>) -> Result<()> {
    // Nothing is taken away: it never asks.
    let mode = Mode { destructive: false, ..Mode::taking("enable", &args.targets.apply, "changed") };
    on_own_images(ctx, &args.targets.amis, &mode, access::plan).await
}
