//! The Kubernetes clusters an AMI is made for: which ones there are (`[clusters.NAME]` of
//! `gio-ami.toml`, or named on the command line) and which AMIs each one runs right now, as
//! observed in AWS rather than remembered.

use crate::aws::Aws;
use crate::error::{Error, Result};
use crate::spec::Spec;
use aws_sdk_ec2::types::Filter;
use futures::future::try_join_all;
use serde::Serialize;
use std::collections::{BTreeSet, HashMap, HashSet};

/// EKS tags the instances of its managed nodegroups with this; self-managed nodes of any
/// Kubernetes distribution carry `kubernetes.io/cluster/NAME` instead.
const EKS_CLUSTER_TAG: &str = "eks:cluster-name";
const KUBERNETES_CLUSTER_TAG_PREFIX: &str = "kubernetes.io/cluster/";
/// DescribeInstances answers up to 1,000 instances a page.
const INSTANCES_PAGE_SIZE: i32 = 1000;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cluster {
    pub name: String,
    pub region: String,
    pub ssm_parameter: Option<String>,
}

/// The clusters to show or act on: all of the spec's, or only those named. A name the spec does
/// not know is still a cluster (observed in `default_region`), so `history --cluster` works
/// without any spec file.
pub fn select(spec: Option<&Spec>, names: &[String], default_region: &str) -> Vec<Cluster> {
    let configured: Vec<Cluster> = spec
        .map(|spec| {
            spec.clusters
                .iter()
                .map(|(name, c)| Cluster {
                    name: name.clone(),
                    region: c.region.clone(),
                    ssm_parameter: c.ssm_parameter.clone(),
                })
                .collect()
        })
        .unwrap_or_default();
    if names.is_empty() {
        return configured;
    }
    names
        .iter()
        .map(|name| {
            configured.iter().find(|c| &c.name == name).cloned().unwrap_or_else(|| Cluster {
                name: name.clone(),
                region: default_region.to_string(),
                ssm_parameter: None,
            })
        })
        .collect()
}

/// The one configured cluster a command publishes to; publishing needs its region and
/// parameter, so only the spec can name it.
pub fn configured(spec: Option<&Spec>, name: &str) -> Result<Cluster> {
    let known: Vec<String> = spec.map(|s| s.clusters.keys().cloned().collect()).unwrap_or_default();
    let cluster = select(spec, &[name.to_string()], "")
        .into_iter()
        .next()
        .filter(|c| known.contains(&c.name));
    match cluster {
        Some(cluster) if cluster.ssm_parameter.is_some() => Ok(cluster),
        Some(_) => Err(Error::ClusterWithoutParameter { cluster: name.to_string() }),
        None => Err(Error::UnknownCluster { cluster: name.to_string(), known }),
    }
}

/// Which AMIs each of these clusters (all in `aws`'s region) runs now: the AMIs of their EKS
/// managed nodegroups' launch templates, and of the running instances tagged as their nodes.
/// Calls grow with nodegroups and pages of instances, never with AMIs.
pub async fn running_amis(aws: &Aws, clusters: &[&Cluster]) -> Result<HashMap<String, HashSet<String>>> {
    // Concurrent: on AWS each look-up is a round trip, and a config lists several clusters.
    let nodegroups = try_join_all(clusters.iter().map(|cluster| async move {
        Ok::<_, Error>((cluster.name.clone(), nodegroup_amis(aws, &cluster.name).await?))
    }));
    let (nodegroups, instances) = tokio::try_join!(nodegroups, tagged_instances(aws, clusters))?;
    let mut running: HashMap<String, HashSet<String>> = nodegroups.into_iter().collect();
    for (instance_clusters, ami) in instances {
        for name in instance_clusters {
            if let Some(amis) = running.get_mut(&name) {
                amis.insert(ami.clone());
            }
        }
    }
    Ok(running)
}

/// The AMIs of a cluster's managed nodegroups that use a launch template. Nodegroups without
/// one run an EKS-optimized AMI chosen by EKS, which is never one of ours.
async fn nodegroup_amis(aws: &Aws, cluster: &str) -> Result<HashSet<String>> {
    let mut names = Vec::new();
    let mut pages = aws.eks().list_nodegroups().cluster_name(cluster).into_paginator().send();
    while let Some(page) = pages.next().await {
        match page {
            Ok(page) => names.extend(page.nodegroups().iter().cloned()),
            // Not an EKS cluster (or not in this region): its nodes are found by their tags.
            Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_not_found_exception()) => {
                return Ok(HashSet::new())
            }
            Err(e) => return Err(aws.error("ListNodegroups", "eks", e)),
        }
    }
    let mut amis = HashSet::new();
    for name in names {
        let nodegroup = aws
            .eks()
            .describe_nodegroup()
            .cluster_name(cluster)
            .nodegroup_name(&name)
            .send()
            .await
            .map_err(|e| aws.error("DescribeNodegroup", "eks", e))?;
        let Some(template) = nodegroup.nodegroup().and_then(|n| n.launch_template()) else {
            continue;
        };
        let request = aws.ec2().describe_launch_template_versions();
        let request = match (template.id(), template.name()) {
            (Some(id), _) => request.launch_template_id(id),
            (None, name) => request.set_launch_template_name(name.map(str::to_string)),
        };
        let versions = request
            .versions(template.version().unwrap_or("$Default"))
            .send()
            .await
            .map_err(|e| aws.error("DescribeLaunchTemplateVersions", "ec2", e))?;
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
async fn tagged_instances(aws: &Aws, clusters: &[&Cluster]) -> Result<Vec<(BTreeSet<String>, String)>> {
    let mut keys = vec![EKS_CLUSTER_TAG.to_string()];
    keys.extend(clusters.iter().map(|c| format!("{KUBERNETES_CLUSTER_TAG_PREFIX}{}", c.name)));
    let mut pages = aws
        .ec2()
        .describe_instances()
        .filters(Filter::builder().name("tag-key").set_values(Some(keys)).build())
        .filters(Filter::builder().name("instance-state-name").values("pending").values("running").build())
        .max_results(INSTANCES_PAGE_SIZE)
        .into_paginator()
        .send();
    let mut found = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| aws.error("DescribeInstances", "ec2", e))?;
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

    fn spec() -> Spec {
        let text = "[image]\nname = \"n\"\n[base]\nami = \"ami-12345678\"\n\
                    [clusters.prod]\nregion = \"eu-west-1\"\nssm_parameter = \"/p\"\n\
                    [clusters.dev]\nregion = \"us-east-1\"\n";
        crate::spec::parse("gio-ami.toml", text).unwrap().0
    }

    #[test]
    fn all_configured_clusters_or_only_the_named_ones() {
        let spec = spec();
        let all: Vec<String> = select(Some(&spec), &[], "eu-west-1").into_iter().map(|c| c.name).collect();
        assert_eq!(all, ["dev", "prod"]);
        let named = select(Some(&spec), &["prod".into(), "lab".into()], "ap-south-1");
        assert_eq!(named[0].region, "eu-west-1");
        assert_eq!((named[1].name.as_str(), named[1].region.as_str()), ("lab", "ap-south-1"));
        assert!(select(None, &[], "eu-west-1").is_empty());
    }

    #[test]
    fn publishing_needs_a_configured_cluster_with_a_parameter() {
        let spec = spec();
        assert_eq!(configured(Some(&spec), "prod").unwrap().ssm_parameter.as_deref(), Some("/p"));
        assert!(matches!(configured(Some(&spec), "dev"), Err(Error::ClusterWithoutParameter { .. })));
        let unknown = configured(Some(&spec), "lab").unwrap_err().to_string();
        assert!(unknown.contains("dev, prod"), "{unknown}");
        assert!(matches!(configured(None, "prod"), Err(Error::UnknownCluster { .. })));
    }

    #[test]
    fn both_tag_conventions_name_clusters() {
        let tags = [
            ("eks:cluster-name", "prod"),
            ("kubernetes.io/cluster/dev", "owned"),
            ("Name", "node-1"),
        ];
        let names: Vec<String> = cluster_names(tags.into_iter()).into_iter().collect();
        assert_eq!(names, ["dev", "prod"]);
    }
}
