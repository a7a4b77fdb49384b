//! `share`: grant (or with --unshare revoke) launch permission on AMIs, and their snapshots'
//! createVolumePermission. The plan is `change::sharing`'s.

use super::{execute, reach, refuse, Context, Mode, Own, Targets};
use crate::aws::{allowed, inventory, org};
use crate::change::{self, sharing};
use crate::spec;
use crate::{Aws, Result};
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Account to share with: its id (12 digits) or an [accounts.NAME] of the spec (repeatable).
    #[arg(long = "account", value_name = "ID|NAME", required_unless_present_any = ["organizations", "units"])]
    pub accounts: Vec<String>,

    /// Organization to share with: its ARN (repeatable), e.g.
    /// arn:aws:organizations::111122223333:organization/o-exampleorg1.
    #[arg(long = "org", value_name = "ARN")]
    pub organizations: Vec<String>,

    /// Organizational unit to share with: its ARN (repeatable), e.g.
    /// arn:aws:organizations::111122223333:ou/o-exampleorg1/ou-ab12-example1.
    #[arg(long = "ou", value_name = "ARN")]
    pub units: Vec<String>,

    /// Revoke instead of grant (it asks on a terminal, unless --yes).
    #[arg(long)]
    pub unshare: bool,

    #[command(flatten)]
    pub targets: Targets,

    /// Go on although the Allowed AMIs setting of an account it goes to refuses the AMI.
    #[arg(long)]
    pub force: bool,

    /// The spec whose [accounts] may be named with --account, and whose Allowed AMIs settings
    /// are checked before sharing.
    #[arg(long, value_name = "FILE", default_value = spec::DEFAULT_PATH)]
    pub spec: PathBuf,
}

/// What `--output json` prints.
pub type Report = super::Mutation<sharing::Sharing>;
pub const JSON: super::Json = super::Json::of::<Report>();

/// The IAM permissions this command's AWS calls need (`gio-ami iam-policy share`).
pub const IAM: &[&[crate::core::iam::Permission]] = &[
    super::reach::ASSUME,
    &[
        crate::aws::inventory::DESCRIBE_IMAGES,
        crate::change::execute::SHARE_IMAGE,
        crate::change::execute::SHARE_SNAPSHOT,
    ],
];

pub async fn run(args: Args, ctx: &Context<'_>) -> Result<()> {
    let spec = reach::optional_spec(&args.spec)?;
    let configured = reach::accounts(spec.as_ref(), &[], &[], "")?;
    let named = |input: &String| match configured.iter().find(|a| &a.name == input) {
        Some(account) => {
            account.id().map(str::to_string).ok_or_else(|| spec::Error::OwnAccount(input.clone()).into())
        }
        None => sharing::account(input),
    };
    let with = sharing::Grantees {
        accounts: args.accounts.iter().map(named).collect::<Result<_>>()?,
        organizations: args.organizations.iter().map(|o| sharing::organization(o)).collect::<Result<_>>()?,
        units: args.units.iter().map(|u| sharing::unit(u)).collect::<Result<_>>()?,
        public: false,
    };
    let aws = Aws::connect(&ctx.options).await?;
    let amis = args.targets.resolve(&aws).await?;
    let images = inventory::own_images_by_id(&aws, &amis).await?;
    let mut plan = sharing::plan(&images, &with, !args.unshare);
    if !args.unshare {
        let anyone = !with.organizations.is_empty() || !with.units.is_empty();
        let targets: Vec<org::Account> = configured
            .into_iter()
            .filter(|a| a.id().is_some_and(|id| anyone || with.accounts.iter().any(|w| w == id)))
            .collect();
        if let Some(why) = allowed::gate(&aws, targets, &images, &mut plan.warnings, args.force).await {
            return refuse(ctx, &plan, why, Own::default());
        }
    }
    let mode = Mode { destructive: args.unshare, ..Mode::taking("share", &args.targets.apply, "changed") };
    execute(ctx, &aws, &plan, &mode, Own::default(), || async {
        Ok(change::apply(&aws, &plan.actions).await.into())
    })
    .await
}
