//! Publishing a release to a cluster (`change::publication` plans it), or rolling the cluster
//! back: SSM keeps every earlier value, so a rollback is the parameter's history read backwards.

use crate::aws::inventory;
use crate::aws::parameters::{self, Held};
use crate::aws::Aws;
use crate::change::publication::{actions, plan, rollback_target, Publication};
use crate::change::Plan;
use crate::core::error::{Error, Result};
use crate::core::ids::AmiId;
use crate::spec::clusters::Cluster;

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
        if !inventory::launchable(consumer, &image.id).await? {
            return Err(Error::NotSharedWithCluster {
                ami: image.id.clone(),
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
