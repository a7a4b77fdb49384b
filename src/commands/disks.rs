//! `disks add`: a new AMI from an existing one's snapshots plus new EBS volumes, no instance.
//! The plan and the registration are `engines::register`'s, shared with `upload --register`.

use super::shown::mappings_table;
use super::{execute, parse_all, Context, Mode, Own};
use crate::aws::inventory;
use crate::aws::provenance::Provenance;
use crate::change::{self, OneOrSet};
use crate::core::ids::AmiId;
use crate::core::show::Draw;
use crate::engines::register::{self, Plan};
use crate::spec::disk::Disk;
use crate::{Aws, Result};

#[derive(Debug, clap::Subcommand)]
pub enum Args {
    /// Register a new AMI: the source's root and disks (same snapshots, same boot settings)
    /// plus new EBS volumes. No instance is launched; it takes seconds.
    ///
    /// With --chain, each disk makes one more AMI, registered from the previous one (the
    /// incremental pipeline: 3 disks -> 3 AMIs, the last one with all three).
    ///
    /// Examples:
    ///   gio-ami disks add ami-0abc… --disk /dev/xvdb=50
    ///   gio-ami disks add ami-0abc… --disk /dev/xvdc=100:io2:iops=4000 --disk /dev/xvdd=snap-0123…:200
    ///   gio-ami disks add ami-0abc… --chain --disk /dev/xvdb=50 --disk /dev/xvdc=50
    #[command(verbatim_doc_comment)]
    Add(AddArgs),
}

#[derive(Debug, clap::Args)]
pub struct AddArgs {
    /// The AMI to extend (ami-…).
    #[arg(value_name = "SOURCE_AMI", required_unless_present = "release", conflicts_with = "release")]
    pub source: Option<String>,

    /// Extend every AMI of this release instead: a release set's variants make one new set.
    #[arg(long, value_name = "NAME")]
    pub release: Option<String>,

    /// A disk to add: DEVICE=SIZE[:TYPE][:iops=N][:throughput=N][:encrypted]
    /// [:delete-on-termination=false], or DEVICE=snap-ID[:SIZE] for a disk made from a
    /// snapshot. SIZE in GiB; TYPE gp3 (default), gp2, io1, io2, st1, sc1, standard.
    #[arg(long = "disk", value_name = "SPEC", required = true)]
    pub disks: Vec<String>,

    /// Name of the new AMI (default: the source's name and the added devices); with --chain,
    /// the prefix of each member's name.
    #[arg(long)]
    pub name: Option<String>,

    /// One AMI per disk, each registered from the previous one.
    #[arg(long)]
    pub chain: bool,

    /// Print what would be registered, and register nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// What `disks add`: the plan, and its outcomes once registered (`--output json`).
pub type Report = super::Mutation<OneOrSet<Plan>, (), crate::change::Step>;
pub const JSON: super::Json = super::Json::Subcommands(&[("add", super::Json::of::<Report>())]);

/// The IAM permissions this command's AWS calls need (`gio-ami iam-policy disks`).
pub const IAM: &[&[crate::core::iam::Permission]] = &[&[
    crate::aws::inventory::DESCRIBE_IMAGES,
    crate::engines::register::IAM,
    crate::aws::tagging::CREATE_TAGS,
]];

pub async fn run(args: Args, ctx: &Context<'_>) -> Result<()> {
    let Args::Add(args) = args;
    let source: Option<AmiId> = args.source.as_deref().map(str::parse).transpose()?;
    let request =
        register::Request { disks: parse_all::<Disk>(&args.disks)?, name: args.name, chain: args.chain };
    let aws = Aws::connect(&ctx.options).await?;
    let sources = inventory::own_ids(&aws, source.into_iter().collect(), args.release.as_deref()).await?;
    let plans = futures::future::try_join_all(
        sources.iter().map(|source| register::prepare(&aws, source, &request, args.dry_run)),
    )
    .await?;
    let provenance = Provenance::current(&aws).await;
    let before: String = plans.iter().map(|p| steps(&p.facts, ctx.ui.drawing())).collect();
    let plan = change::Plan::one_or_set(args.release.as_deref(), &plans);
    let own = Own { before, ..Own::default() };
    let mode = Mode::adding("disks add", args.dry_run, "registered");
    execute(ctx, &aws, &plan, &mode, own, || async {
        let registered =
            futures::future::try_join_all(plans.iter().map(|p| register::apply(&aws, p, &provenance)));
        Ok(change::Applied::joined(registered.await?))
    })
    .await
}

/// What `disks add` registers, for people: each step's mappings.
fn steps(plan: &Plan, draw: &dyn Draw) -> String {
    let mut text = String::new();
    for (n, step) in plan.steps.iter().enumerate() {
        let parent = if n == 0 { plan.source.id.to_string() } else { format!("step {n}") };
        text.push_str(&format!("step {}: register `{}` from {parent}\n", n + 1, step.name));
        text.push_str(&format!("{}\n", draw.table(&mappings_table(&step.mappings))));
    }
    text
}
