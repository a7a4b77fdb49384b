//! EKS managed nodegroups with the launch templates they launch from: one read for both
//! questions asked of them, which AMIs a cluster runs (`clusters`) and who uses an AMI (`usage`).

use crate::aws::{Aws, LOOKUP_CONCURRENCY};
use crate::core::error::Service;
use crate::error::{Error, Result};
use futures::stream::{self, StreamExt, TryStreamExt};

/// A reference to a launch template as Auto Scaling and EKS hold it: by id or name, with a
/// version that may be `$Latest`, `$Default`, a number, or absent (= `$Default`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TemplateRef {
    pub id: Option<String>,
    pub name: Option<String>,
    pub version: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Nodegroup {
    pub cluster: String,
    pub name: String,
    /// None: EKS launches an EKS-optimized AMI of its choice.
    pub template: Option<TemplateRef>,
}

/// The managed nodegroups of `cluster` (in `aws`'s region), each described.
pub async fn of_cluster(aws: &Aws, cluster: &str) -> Result<Vec<Nodegroup>> {
    let mut pages = aws.eks().list_nodegroups().cluster_name(cluster).into_paginator().send();
    let mut names = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| aws.error("ListNodegroups", Service::Eks, e))?;
        names.extend(page.nodegroups().iter().cloned());
    }
    stream::iter(names)
        .map(|name| async move {
            let output = aws
                .eks()
                .describe_nodegroup()
                .cluster_name(cluster)
                .nodegroup_name(&name)
                .send()
                .await
                .map_err(|e| aws.error("DescribeNodegroup", Service::Eks, e))?;
            let template = output.nodegroup().and_then(|n| n.launch_template()).map(|t| TemplateRef {
                id: t.id().map(str::to_string),
                name: t.name().map(str::to_string),
                version: t.version().map(str::to_string),
            });
            Ok(Nodegroup { cluster: cluster.to_string(), name, template })
        })
        .buffered(LOOKUP_CONCURRENCY)
        .try_collect()
        .await
}

/// Whether `error` is `of_cluster` hearing that EKS knows no such cluster (not an EKS cluster,
/// or not in this region), rather than a failed look-up.
pub fn is_unknown_cluster(error: &Error) -> bool {
    matches!(error, Error::Api { operation: "ListNodegroups", code, .. } if code == "ResourceNotFoundException")
}
