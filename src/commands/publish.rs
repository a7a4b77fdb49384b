//! Publishing a release to a cluster (`change::publication` plans it), or rolling the cluster
//! back: SSM keeps every earlier value, so a rollback is the parameter's history read backwards.

use crate::aws::inventory;
use crate::aws::parameters;
use crate::aws::Aws;
use crate::change::publication::{actions, plan, rollback_target, Publication};
use crate::change::Plan;
use crate::core::error::{Error, Result};
use crate::core::ids::AmiId;
use crate::spec::clusters::Cluster;

/// Reads the AMI (in `aws`'s region) and the parameter, then plans.
pub async fn prepare(aws: &Aws, cluster: &Cluster, ami: &AmiId) -> Result<Plan<Publication>> {
    let image = inventory::own_images_by_id(aws, std::slice::from_ref(ami)).await?.remove(0);
    let current = match &cluster.ssm_parameter {
        Some(name) if aws.region() == cluster.region => parameters::current_value(aws, name).await?,
        _ => None,
    };
    plan(cluster, &image, aws.region(), current).map(actions)
}

/// Plans publishing the parameter's previous AMI again (`aws` is in the cluster's region).
pub async fn prepare_rollback(aws: &Aws, cluster: &Cluster) -> Result<Plan<Publication>> {
    let parameter = cluster.ssm_parameter.clone().ok_or_else(|| Error::ClusterWithoutParameter {
        cluster: cluster.name.clone(),
    })?;
    let history: Vec<String> = parameters::history(aws, &parameter).await?.into_iter().map(|v| v.value).collect();
    let nothing = || Error::NothingToRollBack { cluster: cluster.name.clone(), parameter: parameter.clone() };
    let target: AmiId = rollback_target(&history).ok_or_else(nothing)?.parse()?;
    let image = inventory::own_images_by_id(aws, std::slice::from_ref(&target)).await?.remove(0);
    plan(cluster, &image, aws.region(), history.last().cloned()).map(actions)
}
