//! Publishing a release to a cluster (`change::publication` plans it), or rolling the cluster
//! back: SSM keeps every earlier value, so a rollback is the parameter's history read backwards.

use super::{execute, reach, Context, Mode, Own};
use crate::aws::allowed;
use crate::aws::inventory;
use crate::aws::parameters::{self, Held};
use crate::aws::Aws;
use crate::change;
use crate::change::publication::{actions, plan, rollback_target, Publication};
use crate::change::Plan;
use crate::core::ids::AmiId;
use crate::error::{Error, Result};
use crate::spec::clusters::Cluster;
use crate::spec::{self, clusters};
use crate::AwsOptions;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The AMI to publish (ami-…), in the current --region.
    #[arg(value_name = "AMI_ID", required_unless_present = "rollback", conflicts_with = "rollback")]
    pub ami: Option<String>,

    /// The cluster, as named in gio-ami.toml ([clusters.NAME]).
    #[arg(long, value_name = "NAME")]
    pub cluster: String,

    /// Publish the parameter's previous AMI again.
    #[arg(long)]
    pub rollback: bool,

    /// Print the change, and write nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// The spec naming the clusters.
    #[arg(long, value_name = "FILE", default_value = spec::DEFAULT_PATH)]
    pub spec: PathBuf,

    /// Go on although the Allowed AMIs setting of an account it goes to refuses the AMI.
    #[arg(long)]
    pub force: bool,
}

/// What `--output json` prints: the plan, its facts also at the top.
pub type Report = super::Mutation<Publication, Publication>;
pub const JSON: super::Json = super::Json::of::<Report>();

/// The IAM permissions this command's AWS calls need (`gio-ami iam-policy publish`).
pub const IAM: &[&[crate::core::iam::Permission]] = &[
    super::reach::ASSUME,
    &[
        crate::aws::inventory::DESCRIBE_IMAGES,
        crate::aws::parameters::CURRENT,
        crate::aws::parameters::HISTORY,
        crate::aws::parameters::WRITE,
        crate::aws::tagging::CREATE_TAGS,
    ],
];

pub async fn run(args: Args, ctx: &Context<'_>) -> Result<()> {
    let spec = reach::optional_spec(&args.spec)?;
    let cluster = clusters::configured(spec.as_ref(), &args.cluster)?;
    // A rollback's AMI is wherever the cluster is; a new AMI is looked for where the user
    // works, so one in the wrong region is named as such.
    let caller = match &args.ami {
        Some(_) => Aws::connect(&ctx.options).await?,
        None => {
            Aws::connect(&AwsOptions { region: Some(cluster.region.clone()), ..ctx.options.clone() }).await?
        }
    };
    let (aws, target) = reach::cluster_context(&caller, spec.as_ref(), &cluster, caller.region()).await?;
    let consumer = target.is_some().then_some(&aws);
    // Judged from the owner's view first: an AMI the setting refuses is not even visible from
    // the cluster's account.
    let mut warnings = Vec::new();
    if let (Some(account), Some(ami)) = (target, &args.ami) {
        let home = caller.elsewhere(&cluster.region, None);
        let owned = inventory::any_images_by_id(&home, std::slice::from_ref(ami)).await?;
        if let Some(why) = allowed::gate(&home, vec![account], &owned, &mut warnings, args.force).await {
            return Err(why);
        }
    }
    let mut plan = match &args.ami {
        Some(ami) => prepare(&caller, consumer, &cluster, &ami.parse()?).await?,
        None => prepare_rollback(&caller, consumer, &cluster).await?,
    };
    plan.warnings.extend(warnings);
    // A rollback is one more version of the parameter: the value it replaces stays in the
    // history, so nothing is lost and no question is asked.
    let mode = Mode::adding("publish", args.dry_run, "written").facts_on_top();
    execute(ctx, &aws, &plan, &mode, Own::default(), || async {
        Ok(change::apply_across(&caller, &aws, &plan.actions).await.into())
    })
    .await
}

/// Reads the AMI where it is owned (`owner`, in its region) and the parameter where the
/// cluster runs: `consumer` when that is another account (configured in `[accounts]`), which
/// must be able to launch the AMI.
pub async fn prepare(
    owner: &Aws,
    consumer: Option<&Aws>,
    cluster: &Cluster,
    ami: &AmiId,
) -> Result<Plan<Publication>> {
    let image = inventory::own_images_by_id(owner, std::slice::from_ref(ami)).await?.remove(0);
    let writer = consumer.unwrap_or(owner);
    // In another region the plan names the wrong region; a look from the cluster's would not.
    if let Some(consumer) = consumer.filter(|_| owner.region() == cluster.region) {
        if !inventory::launchable(consumer, image.id.as_str()).await? {
            return Err(Error::NotSharedWithCluster {
                ami: image.id.to_string(),
                account: cluster.account.clone().unwrap_or_default(),
                cluster: cluster.name.clone(),
            });
        }
    }
    let current = match &cluster.ssm_parameter {
        Some(name) if writer.region() == cluster.region => parameters::current(writer, name).await?,
        _ => None,
    };
    plan(cluster, &image, owner.region(), current).map(actions)
}

/// Plans publishing the parameter's previous AMI again (both in the cluster's region; the
/// parameter is `consumer`'s when the cluster runs in another account).
pub async fn prepare_rollback(
    owner: &Aws,
    consumer: Option<&Aws>,
    cluster: &Cluster,
) -> Result<Plan<Publication>> {
    let parameter = cluster
        .ssm_parameter
        .clone()
        .ok_or_else(|| crate::spec::Error::ClusterWithoutParameter { cluster: cluster.name.clone() })?;
    let writer = consumer.unwrap_or(owner);
    let versions = parameters::history(writer, &parameter).await?;
    let history: Vec<String> = versions.iter().map(|v| v.value.clone()).collect();
    let nothing = || Error::NothingToRollBack { cluster: cluster.name.clone(), parameter: parameter.clone() };
    let target: AmiId = rollback_target(&history).ok_or_else(nothing)?.parse()?;
    let image = inventory::own_images_by_id(owner, std::slice::from_ref(&target)).await?.remove(0);
    let current = versions.last().map(|v| Held { value: v.value.clone(), data_type: v.data_type.clone() });
    plan(cluster, &image, owner.region(), current).map(actions)
}
