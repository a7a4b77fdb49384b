//! `copy`: an AMI into other regions, all at once, tagged like the source. The copying is
//! `engines::copy`'s, shared with `promote --copy`.

use super::{execute, Context, Mode, Own};
use crate::aws::inventory;
use crate::change::{Applied, OneOrSet, Plan};
use crate::core::ids::AmiId;
use crate::engines::copy;
use crate::{Aws, Result};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The AMI to copy (ami-…), in the current --region.
    #[arg(value_name = "AMI_ID", required_unless_present = "release", conflicts_with = "release")]
    pub ami: Option<String>,

    /// Copy every AMI of this release instead (a release set's every variant).
    #[arg(long, value_name = "NAME")]
    pub release: Option<String>,

    /// Destination region (repeatable).
    #[arg(long = "to", value_name = "REGION", required = true)]
    pub to: Vec<String>,

    /// Encrypt the copy in REGION with this KMS key (REGION=KEY, repeatable).
    #[arg(long = "kms-key", value_name = "REGION=KEY")]
    pub kms_keys: Vec<String>,

    /// Print which regions get a copy and which earlier copies are reused, and copy nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// What `--output json` prints.
pub type Report = super::Mutation<OneOrSet<copy::Copying>, (), crate::change::Step>;
pub const JSON: super::Json = super::Json::of::<Report>();

/// The IAM permissions this command's AWS calls need (`gio-ami iam-policy copy`).
pub const IAM: &[&[crate::core::iam::Permission]] =
    &[&[crate::aws::inventory::DESCRIBE_IMAGES, crate::engines::copy::IAM, crate::aws::tagging::CREATE_TAGS]];

pub async fn run(args: Args, ctx: &Context<'_>) -> Result<()> {
    let ami: Option<AmiId> = args.ami.as_deref().map(str::parse).transpose()?;
    let kms_keys = copy::parse_kms_keys(&args.kms_keys)?;
    let aws = Aws::connect(&ctx.options).await?;
    let sources = inventory::own_ids(&aws, ami.into_iter().collect(), args.release.as_deref()).await?;
    let plans = futures::future::try_join_all(
        sources.iter().map(|ami| copy::prepare(&aws, &ctx.options, ami, &args.to, &kms_keys)),
    )
    .await?;
    let plan = Plan::one_or_set(args.release.as_deref(), &plans);
    let progress = ctx.ui.progress();
    let mode = Mode::adding("copy", args.dry_run, "copied");
    let copied = execute(ctx, &aws, &plan, &mode, Own::default(), || async {
        let names: Vec<&str> = sources.iter().map(AmiId::as_str).collect();
        progress.phase(&format!("copying {} to {}", names.join(", "), args.to.join(", ")));
        let copied =
            futures::future::join_all(plans.iter().map(|p| copy::copy(&ctx.options, p, progress.as_ref())));
        Ok(Applied::joined(copied.await))
    })
    .await;
    progress.finish();
    copied
}
