//! `copy`: an AMI into other regions, all at once, tagged like the source. The copying is
//! `engines::copy`'s, shared with `promote --copy`.

use super::{execute, Context, Mode, Own};
use crate::core::ids::AmiId;
use crate::engines::copy;
use crate::{Aws, Result};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The AMI to copy (ami-…), in the current --region.
    #[arg(value_name = "AMI_ID")]
    pub ami: String,

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
pub type Report = super::Mutation<copy::Copying, (), crate::change::Step>;
pub const JSON: super::Json = super::Json::of::<Report>();

/// The IAM permissions this command's AWS calls need (`gio-ami iam-policy copy`).
pub const IAM: &[&[crate::core::iam::Permission]] =
    &[&[crate::aws::inventory::DESCRIBE_IMAGES, crate::engines::copy::IAM, crate::aws::tagging::CREATE_TAGS]];

pub async fn run(args: Args, ctx: &Context<'_>) -> Result<()> {
    let ami: AmiId = args.ami.parse()?;
    let kms_keys = copy::parse_kms_keys(&args.kms_keys)?;
    let aws = Aws::connect(&ctx.options).await?;
    let plan = copy::prepare(&aws, &ctx.options, &ami, &args.to, &kms_keys).await?;
    let progress = ctx.ui.progress();
    let mode = Mode::adding("copy", args.dry_run, "copied");
    let copied = execute(ctx, &aws, &plan, &mode, Own::default(), || async {
        progress.phase(&format!("copying {ami} to {}", args.to.join(", ")));
        Ok(copy::copy(&ctx.options, &plan, progress.as_ref()).await)
    })
    .await;
    progress.finish();
    copied
}
