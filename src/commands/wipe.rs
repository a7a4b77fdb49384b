//! `wipe`: deregister AMIs and delete the snapshots behind them, never touching one in use. The
//! guards and the plan are `change::retire`'s, shared with `prune`.

use super::{execute, reach, refuse, Context, Mode, Own, Targets};
use crate::change::retire;
use crate::spec;
use crate::{Aws, Result};
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub targets: Targets,

    /// Wipe AMIs that are in use (or whose use could not be checked). Snapshots other AMIs map
    /// are still kept.
    #[arg(long)]
    pub force: bool,

    /// Also wipe every AMI derived from these (gio-ami:parent-ami tags, any depth); each shared
    /// snapshot is deleted once, after its last AMI.
    #[arg(long)]
    pub chain: bool,

    /// The spec whose [accounts] are checked for use of AMIs shared with them.
    #[arg(long, value_name = "FILE", default_value = spec::DEFAULT_PATH)]
    pub spec: PathBuf,
}

/// What `--output json` prints.
pub type Report = super::Mutation<retire::Findings>;
pub const JSON: super::Json = super::Json::of::<Report>();

/// The IAM permissions this command's AWS calls need (`gio-ami iam-policy wipe`).
pub const IAM: &[&[crate::core::iam::Permission]] = &[
    super::reach::ASSUME,
    crate::aws::usage::IAM,
    crate::aws::usage_report::IAM,
    &crate::change::retire::RECYCLE_BIN,
    &crate::change::retire::IAM,
];

pub async fn run(args: Args, ctx: &Context<'_>) -> Result<()> {
    let aws = Aws::connect(&ctx.options).await?;
    let request =
        retire::Request { amis: args.targets.resolve(&aws).await?, chain: args.chain, force: args.force };
    let consumers = reach::consumers(&args.spec, &aws).await?;
    let progress = ctx.ui.progress();
    let plan = retire::prepare(&aws, &consumers, &request, progress.as_ref()).await;
    progress.finish();
    let plan = plan?;
    if let Some(why) = retire::refusal(&plan) {
        return refuse(ctx, &plan, why, Own::default());
    }
    let mode = Mode::taking("wipe", &args.targets.apply, "changed");
    execute(ctx, &aws, &plan, &mode, Own::default(), || async {
        Ok(retire::apply(&aws, &plan).await?.into())
    })
    .await
}
