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

/// What `--output json` prints.
pub type Report = super::Mutation<()>;
pub const JSON: super::Json = super::Json::of::<Report>();

/// The IAM permissions this command's AWS calls need (`gio-ami iam-policy enable`).
pub const IAM: &[&[crate::core::iam::Permission]] = &[&[
    crate::aws::inventory::DESCRIBE_IMAGES,
    crate::change::execute::ENABLE,
    crate::change::execute::SHARE_IMAGE,
    crate::aws::tagging::DELETE_TAGS,
]];

pub async fn run(args: Args, ctx: &Context<'_>) -> Result<()> {
    // Nothing is taken away: it never asks.
    let mode = Mode { destructive: false, ..Mode::taking("enable", &args.targets.apply, "changed") };
    on_own_images(ctx, &args.targets, &mode, access::plan).await
}
