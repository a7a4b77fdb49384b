//! Which AMIs a Kubernetes cluster runs right now, as observed in AWS rather than remembered:
//! its EKS managed nodegroups' launch templates and the instances tagged as its nodes.

use crate::aws::inventory::InstanceState;
use crate::aws::nodegroups;
use crate::aws::Aws;
use crate::core::choice::Choice;
use crate::core::error::Service;
use crate::core::iam::Permission;
use crate::error::Result;
use aws_sdk_ec2::types::Filter;
use futures::future::join_all;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

/// `running_amis`: the AMIs each cluster's nodes run (its nodegroups' launch templates, its
/// tagged instances).
pub const IAM: [Permission; 4] = [
    Permission::new(Service::Eks, "ListNodegroups"),
    Permission::new(Service::Eks, "DescribeNodegroup"),
    Permission::new(Service::Ec2, "DescribeLaunchTemplateVersions"),
    Permission::new(Service::Ec2, "DescribeInstances"),
];

/// EKS tags the instances of its managed nodegroups with this; self-managed nodes of any
/// Kubernetes distribution carry `kubernetes.io/cluster/NAME` instead.
const EKS_CLUSTER_TAG: &str = "eks:cluster-name";
const KUBERNETES_CLUSTER_TAG_PREFIX: &str = "kubernetes.io/cluster/";
/// DescribeInstances answers up to 1,000 instances a page.
const INSTANCES_PAGE_SIZE: i32 = 1000;

/// What clusters run now, as far as it could be read: reports show what was read and say what
/// was not, rather than failing as a whole for one cluster's failed look-up.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Observed {
    /// The AMIs each cluster that could be read runs.
    pub running: HashMap<String, HashSet<String>>,
    /// The clusters whose look-up failed, with the failure: what they run is unknown.
    pub unread: BTreeMap<String, String>,
}

impl Observed {
    /// Adds another region's clusters.
    pub fn merge(&mut self, other: Observed) {
        self.running.extend(other.running);
        self.unread.extend(other.unread);
    }

    /// One warning per unread cluster, naming it, what the report cannot tell (`unknown`), and
    /// the failed call.
    pub fn warnings(&self, unknown: &str) -> Vec<String> {
        self.unread
            .iter()
            .map(|(cluster, cause)| {
                format!("cluster `{cluster}`: what it runs could not be read, so {unknown}: {cause}")
            })
            .collect()
    }
}

/// Which AMIs each of these clusters (all in `aws`'s region) runs now: the AMIs of their EKS
/// managed nodegroups' launch templates, and of the running instances tagged as their nodes.
/// Calls grow with nodegroups and pages of instances, never with AMIs. A failed look-up makes
/// the clusters it concerns unread, never "runs nothing".
pub async fn running_amis(aws: &Aws, clusters: &[&str]) -> Observed {
    // Concurrent: on AWS each look-up is a round trip, and a config lists several clusters.
    let nodegroups = join_all(
        clusters
            .iter()
            .map(|cluster| async move { (cluster.to_string(), nodegroup_amis(aws, cluster).await) }),
    );
    let (nodegroups, instances) = tokio::join!(nodegroups, tagged_instances(aws, clusters));
    observe(nodegroups, instances)
}

/// Pure: the clusters' nodegroup AMIs and the region's tagged instances, joined.
fn observe(
    nodegroups: Vec<(String, Result<HashSet<String>>)>,
    instances: Result<Vec<(BTreeSet<String>, String)>>,
) -> Observed {
    let mut observed = Observed::default();
    for (cluster, amis) in nodegroups {
        match amis {
            Ok(amis) => {
                observed.running.insert(cluster, amis);
            }
            Err(e) => {
                observed.unread.insert(cluster, e.to_string());
            }
        }
    }
    match instances {
        Ok(instances) => {
            for (instance_clusters, ami) in instances {
                for name in instance_clusters {
                    if let Some(amis) = observed.running.get_mut(&name) {
                        amis.insert(ami.clone());
                    }
                }
            }
        }
        // One listing serves every cluster of the region: none of them is known without it.
        Err(e) => {
            let cause = e.to_string();
            for (cluster, _) in observed.running.drain() {
                observed.unread.insert(cluster, cause.clone());
            }
        }
    }
    observed
}

/// The AMIs of a cluster's managed nodegroups that use a launch template. Nodegroups without
/// one run an EKS-optimized AMI chosen by EKS, which is never one of ours.
async fn nodegroup_amis(aws: &Aws, cluster: &str) -> Result<HashSet<String>> {
    let nodegroups = match nodegroups::of_cluster(aws, cluster).await {
        Ok(nodegroups) => nodegroups,
        // Not an EKS cluster (or not in this region): its nodes are found by their tags.
        Err(e) if nodegroups::is_unknown_cluster(&e) => return Ok(HashSet::new()),
        Err(e) => return Err(e),
    };
    let mut amis = HashSet::new();
    for template in nodegroups.iter().filter_map(|n| n.template.as_ref()) {
        let request = aws.ec2().describe_launch_template_versions();
        let request = match (&template.id, &template.name) {
            (Some(id), _) => request.launch_template_id(id),
            (None, name) => request.set_launch_template_name(name.clone()),
        };
        let versions = request
            .versions(template.version.as_deref().unwrap_or("$Default"))
            .send()
            .await
            .map_err(|e| aws.error("DescribeLaunchTemplateVersions", Service::Ec2, e))?;
        amis.extend(
            versions
                .launch_template_versions()
                .iter()
                .filter_map(|v| v.launch_template_data()?.image_id().map(str::to_string)),
        );
    }
    Ok(amis)
}

/// Live instances carrying a cluster tag, with the clusters each belongs to and its AMI: one
/// paginated call for all the clusters of a region.
async fn tagged_instances(aws: &Aws, clusters: &[&str]) -> Result<Vec<(BTreeSet<String>, String)>> {
    let mut keys = vec![EKS_CLUSTER_TAG.to_string()];
    keys.extend(clusters.iter().map(|c| format!("{KUBERNETES_CLUSTER_TAG_PREFIX}{c}")));
    let mut pages = aws
        .ec2()
        .describe_instances()
        .filters(Filter::builder().name("tag-key").set_values(Some(keys)).build())
        .filters(
            Filter::builder()
                .name("instance-state-name")
                .values(InstanceState::Pending.name())
                .values(InstanceState::Running.name())
                .build(),
        )
        .max_results(INSTANCES_PAGE_SIZE)
        .into_paginator()
        .send();
    let mut found = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| aws.error("DescribeInstances", Service::Ec2, e))?;
        for instance in page.reservations().iter().flat_map(|r| r.instances()) {
            let Some(ami) = instance.image_id() else { continue };
            let tags = instance.tags().iter().filter_map(|t| Some((t.key()?, t.value().unwrap_or_default())));
            found.push((cluster_names(tags), ami.to_string()));
        }
    }
    Ok(found)
}

/// The clusters an instance's tags say it is a node of.
fn cluster_names<'a>(tags: impl Iterator<Item = (&'a str, &'a str)>) -> BTreeSet<String> {
    tags.filter_map(|(key, value)| match key {
        EKS_CLUSTER_TAG => Some(value.to_string()),
        _ => key.strip_prefix(KUBERNETES_CLUSTER_TAG_PREFIX).map(str::to_string),
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;

    fn failed(operation: &'static str) -> Error {
        Error::Api { operation, code: "InternalFailure".into(), message: "down".into() }
    }

    #[test]
    fn a_failed_look_up_leaves_its_cluster_unread_and_the_others_known() {
        let set = |ids: &[&str]| ids.iter().map(|id| id.to_string()).collect::<HashSet<_>>();
        let nodegroups = vec![
            ("prod".to_string(), Ok(set(&["ami-1"]))),
            ("dev".to_string(), Err(failed("ListNodegroups"))),
        ];
        let instances = vec![(BTreeSet::from(["prod".to_string(), "dev".to_string()]), "ami-2".to_string())];
        let observed = observe(nodegroups, Ok(instances));
        assert_eq!(observed.running, HashMap::from([("prod".to_string(), set(&["ami-1", "ami-2"]))]));
        assert_eq!(
            observed.unread,
            BTreeMap::from([("dev".to_string(), "ListNodegroups failed: InternalFailure: down".to_string())])
        );
        assert_eq!(
            observed.warnings("its cells show ?"),
            ["cluster `dev`: what it runs could not be read, so its cells show ?: ListNodegroups failed: InternalFailure: down"]
        );
    }

    #[test]
    fn without_the_instance_listing_no_cluster_of_the_region_is_known() {
        let nodegroups = vec![("prod".to_string(), Ok(HashSet::new()))];
        let observed = observe(nodegroups, Err(failed("DescribeInstances")));
        assert!(observed.running.is_empty());
        assert_eq!(observed.unread.keys().collect::<Vec<_>>(), ["prod"]);
    }

    #[test]
    fn both_tag_conventions_name_clusters() {
        let tags = [("eks:cluster-name", "prod"), ("kubernetes.io/cluster/dev", "owned"), ("Name", "node-1")];
        let names: Vec<String> = cluster_names(tags.into_iter()).into_iter().collect();
        assert_eq!(names, ["dev", "prod"]);
    }
}
