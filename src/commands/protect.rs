//! `protect`: deregistration protection on AMIs, or with --unprotect its lifting. The plan is
//! `change::protection`'s, shared with `promote`.

use super::{on_own_images, Context, Mode, Targets};
use crate::change::protection::{self, Want};
use crate::Result;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Lift the protection instead (an AMI protected with a cooldown stays protected 24 more
    /// hours); it asks on a terminal, unless --yes.
    #[arg(long, conflicts_with = "cooldown")]
    pub unprotect: bool,

    /// Keep the AMI protected for 24 hours after the protection is lifted: time for someone
    /// to notice before it can go.
    #[arg(long)]
    pub cooldown: bool,

    #[command(flatten)]
    pub targets: Targets,
}

/// What `--output json` prints.
pub type Report = super::Mutation<()>;
pub const JSON: super::Json = super::Json::of::<Report>();

/// The IAM permissions this command's AWS calls need (`gio-ami iam-policy protect`).
pub const IAM: &[&[crate::core::iam::Permission]] = &[&[
    crate::aws::inventory::DESCRIBE_IMAGES,
    crate::change::execute::PROTECT,
    crate::change::execute::UNPROTECT,
]];

pub async fn run(args: Args, ctx: &Context<'_>) -> Result<()> {
    let want = match args.unprotect {
        true => Want::Unprotect,
        false => Want::Protect { cooldown: args.cooldown },
    };
    let mode =
        Mode { destructive: args.unprotect, ..Mode::taking("protect", &args.targets.apply, "changed") };
    on_own_images(ctx, &args.targets, &mode, |images| protection::plan(images, want)).await
}
