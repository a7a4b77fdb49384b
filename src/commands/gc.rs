//! `gc`: remove what killed builds left behind. The plan is `engines::leftovers`'.

use super::line::OrgArgs;
use super::{execute, reach, Apply, Context, Mode, Own, PlacedPlans, NOTHING_CHANGED};
use crate::aws::org::Located;
use crate::change;
use crate::engines::leftovers;
use crate::{Aws, Result};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print the plan, remove nothing. With [accounts], the plan covers every configured
    /// account and region; without --dry-run, gc removes only in the caller's.
    #[arg(long)]
    pub dry_run: bool,

    #[command(flatten)]
    pub org: OrgArgs,

    /// Do not ask for confirmation on a terminal.
    #[arg(long, short = 'y')]
    pub yes: bool,
}

/// What `--output json` prints: the plan (and outcomes), or with `[accounts]` a dry run's plan per account and region.
pub type Report = super::Either<super::Mutation<()>, Vec<Located<change::Report<'static, ()>>>>;
pub const JSON: super::Json = super::Json::of::<Report>();

/// The IAM permissions this command's AWS calls need (`gio-ami iam-policy gc`).
pub const IAM: &[&[crate::core::iam::Permission]] = &[
    super::reach::ASSUME,
    crate::aws::usage::IAM,
    &[
        crate::aws::inventory::DESCRIBE_IMAGES,
        crate::aws::inventory::DESCRIBE_SNAPSHOTS,
        crate::aws::inventory::DESCRIBE_IMAGE_ATTRIBUTE,
        crate::change::execute::TERMINATE_BUILDER,
        crate::change::execute::DEREGISTER_LEFTOVER,
        crate::change::execute::DELETE_LEFTOVER_SNAPSHOT,
    ],
];

pub async fn run(args: Args, ctx: &Context<'_>) -> Result<()> {
    let spec = reach::optional_spec(&args.org.spec)?;
    // Roles in [accounts] are for reading: removing is left to each account's own
    // credentials, and said so, since the dry run shows every account's leftovers.
    let roles: Vec<String> = reach::accounts(spec.as_ref(), &[], &[], "")?
        .into_iter()
        .filter(|a| a.role.is_some())
        .map(|a| a.name)
        .collect();
    let only_here = (!roles.is_empty()).then(|| {
        format!(
            "gc removes leftovers in the caller's account only: those of {} are shown by `gc --dry-run` and removed by gc run \
             with that account's own credentials (`--profile`)",
            roles.join(", ")
        )
    });
    if args.dry_run && spec.as_ref().is_some_and(|s| !s.accounts.is_empty()) {
        let org = reach::reach(&ctx.options, spec.as_ref(), &args.org, &ctx.regions).await?;
        let plans = org.rows(|place| async { Ok(vec![leftovers::prepare(&place.aws).await?]) }).await?;
        ctx.ui.warn(&plans.warnings);
        ctx.ui.warn(only_here.as_slice());
        let reports = plans
            .rows
            .iter()
            .map(|p| Located {
                account: p.account.clone(),
                region: p.region.clone(),
                item: change::Report::new(&p.item, None),
            })
            .collect();
        return Ok(ctx.ui.show(&PlacedPlans { reports, unapplied: NOTHING_CHANGED })?);
    }
    let aws = Aws::connect(&ctx.options).await?;
    let mut plan = leftovers::prepare(&aws).await?;
    plan.warnings.extend(only_here);
    let mode = Mode::taking("gc", &Apply { dry_run: args.dry_run, yes: args.yes }, "removed");
    execute(ctx, &aws, &plan, &mode, Own::default(), || async {
        Ok(change::apply(&aws, &plan.actions).await.into())
    })
    .await
}
