//! Publishing a release to a cluster (`change::publication` plans it), or rolling the cluster
//! back: SSM keeps every earlier value, so a rollback is the parameter's history read backwards.

use super::{execute, reach, Context, Mode, Own};
use crate::aws::allowed;
use crate::aws::inventory::{self, Image};
use crate::aws::parameters::{self, Held};
use crate::aws::Aws;
use crate::change;
use crate::change::publication::{self, actions, plan, rollback_target, Publication};
use crate::change::{OneOrSet, Plan};
use crate::core::ids::AmiId;
use crate::core::kinds::Member;
use crate::error::{Error, Result};
use crate::spec::clusters::Cluster;
use crate::spec::{self, clusters};
use crate::AwsOptions;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The AMI to publish (ami-…), in the current --region. An AMI of a release set publishes
    /// the whole set, each variant to its own parameter.
    #[arg(
        value_name = "AMI_ID",
        required_unless_present_any = ["rollback", "release"],
        conflicts_with_all = ["rollback", "release"]
    )]
    pub ami: Option<String>,

    /// Publish every AMI of this release (`gio-ami history` lists them), in the current --region.
    #[arg(long, value_name = "NAME", conflicts_with = "rollback")]
    pub release: Option<String>,

    /// The cluster, as named in gio-ami.toml ([clusters.NAME]).
    #[arg(long, value_name = "NAME")]
    pub cluster: String,

    /// Publish the parameter's previous AMI again (every variant's parameter, for a set).
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
pub type Report = super::Mutation<OneOrSet<Publication>, OneOrSet<Publication>>;
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
    let caller = match args.rollback {
        false => Aws::connect(&ctx.options).await?,
        true => {
            Aws::connect(&AwsOptions { region: Some(cluster.region.clone()), ..ctx.options.clone() }).await?
        }
    };
    let (aws, target) = reach::cluster_context(&caller, spec.as_ref(), &cluster, caller.region()).await?;
    let consumer = target.is_some().then_some(&aws);
    let images = match (&args.ami, &args.release) {
        (Some(ami), _) => Some(inventory::own_set_of(&caller, &ami.parse()?).await?),
        (None, Some(release)) => Some(inventory::own_release(&caller, release).await?),
        (None, None) => None,
    };
    // Judged from the owner's view first: an AMI the setting refuses is not even visible from
    // the cluster's account.
    let mut warnings = Vec::new();
    if let (Some(account), Some(images)) = (target, &images) {
        let home = caller.elsewhere(&cluster.region, None);
        let ids: Vec<String> = images.iter().map(|i| i.id.to_string()).collect();
        let owned = inventory::any_images_by_id(&home, &ids).await?;
        if let Some(why) = allowed::gate(&home, vec![account], &owned, &mut warnings, args.force).await {
            return Err(why);
        }
    }
    let mut plan = match images {
        Some(images) => prepare(&caller, consumer, &cluster, spec.as_ref(), images).await?,
        None => prepare_rollback(&caller, consumer, &cluster, spec.as_ref()).await?,
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

/// Reads each AMI where it is owned (`owner`, in its region) and its parameter where the
/// cluster runs: `consumer` when that is another account (configured in `[accounts]`), which
/// must be able to launch the AMI. A release set is published whole: every variant the spec
/// makes, each to its own parameter.
pub async fn prepare(
    owner: &Aws,
    consumer: Option<&Aws>,
    cluster: &Cluster,
    spec: Option<&spec::Spec>,
    images: Vec<Image>,
) -> Result<Plan<OneOrSet<Publication>>> {
    let set = images.iter().any(|i| i.member().is_some());
    if let (Some(spec), true) = (spec, set) {
        let missing: Vec<String> = spec
            .variants
            .iter()
            .filter(|v| !images.iter().any(|i| i.member() == Some(v.member)))
            .map(|v| v.member.to_string())
            .collect();
        if !missing.is_empty() {
            let release = images.iter().find_map(|i| i.release()).unwrap_or_default().to_string();
            return Err(Error::SetIncomplete { release, missing });
        }
    }
    let count = images.len();
    let publications = futures::future::try_join_all(images.into_iter().map(|image| async move {
        let cluster = publication::for_member(cluster, image.member(), count)?;
        publish_one(owner, consumer, &cluster, image).await
    }))
    .await?;
    Ok(match set {
        true => publication::set_actions(publications),
        false => one(publications),
    })
}

/// One AMI's publication as the plan of `publish`.
fn one(mut publications: Vec<Publication>) -> Plan<OneOrSet<Publication>> {
    actions(publications.remove(0)).one()
}

async fn publish_one(
    owner: &Aws,
    consumer: Option<&Aws>,
    cluster: &Cluster,
    image: Image,
) -> Result<Publication> {
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
    plan(cluster, &image, owner.region(), current)
}

/// Plans publishing the parameter's previous AMI again (both in the cluster's region; the
/// parameter is `consumer`'s when the cluster runs in another account): for a release set,
/// each variant's parameter goes back to its own previous AMI.
pub async fn prepare_rollback(
    owner: &Aws,
    consumer: Option<&Aws>,
    cluster: &Cluster,
    spec: Option<&spec::Spec>,
) -> Result<Plan<OneOrSet<Publication>>> {
    let members = Member::each(&spec.map(spec::Spec::set).unwrap_or_default());
    let set = members.len();
    let publications = futures::future::try_join_all(members.iter().map(|member| async move {
        let cluster = publication::for_member(cluster, *member, set)?;
        rollback_one(owner, consumer, &cluster).await
    }))
    .await?;
    Ok(match members[0] {
        Some(_) => publication::set_actions(publications),
        None => one(publications),
    })
}

async fn rollback_one(owner: &Aws, consumer: Option<&Aws>, cluster: &Cluster) -> Result<Publication> {
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
    plan(cluster, &image, owner.region(), current)
}
