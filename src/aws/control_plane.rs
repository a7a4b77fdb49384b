//! A cluster's control plane: its Kubernetes version (EKS DescribeCluster) and where that version
//! stands in EKS's support calendar (DescribeClusterVersions: standard support for 14 months,
//! then extended support, billed, for 12 more).
//! https://docs.aws.amazon.com/eks/latest/userguide/kubernetes-versions.html

use crate::aws::Aws;
use crate::core::clock;
use crate::core::error::Service;
use crate::core::iam::Permission;
use crate::error::Result;
use aws_sdk_eks::types::VersionStatus;
use schemars::JsonSchema;
use serde::Serialize;

/// `of_cluster`: the control plane's version and its support dates.
pub const IAM: [Permission; 2] = [
    Permission::new(Service::Eks, "DescribeCluster"),
    Permission::new(Service::Eks, "DescribeClusterVersions"),
];

#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct ControlPlane {
    /// The Kubernetes minor version, e.g. `1.31`.
    pub version: String,
    pub support: Support,
    /// UTC dates, when EKS lists them.
    pub end_of_standard_support: Option<String>,
    pub end_of_extended_support: Option<String>,
}

/// Where a Kubernetes version stands (DescribeClusterVersions `versionStatus`).
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Support {
    Standard,
    Extended,
    Unsupported,
    /// EKS did not list the version, or named a status newer than gio-ami.
    Unknown,
}

impl Support {
    pub fn label(&self) -> &'static str {
        match self {
            Support::Standard => "standard support",
            Support::Extended => "extended support",
            Support::Unsupported => "unsupported",
            Support::Unknown => "support unknown",
        }
    }
}

/// The control plane of `cluster` in `aws`'s region; `None` when EKS knows no such cluster there
/// (a self-managed cluster: its nodes are still found by their tags). Two calls.
pub async fn of_cluster(aws: &Aws, cluster: &str) -> Result<Option<ControlPlane>> {
    let described = match aws.eks().describe_cluster().name(cluster).send().await {
        Ok(output) => output,
        Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_not_found_exception()) => {
            return Ok(None)
        }
        Err(e) => return Err(aws.error("DescribeCluster", Service::Eks, e)),
    };
    let Some(version) = described.cluster().and_then(|c| c.version()).map(str::to_string) else {
        return Ok(None);
    };
    // includeAll: without it EKS leaves out the unsupported versions, the ones most worth naming.
    let versions = aws
        .eks()
        .describe_cluster_versions()
        .cluster_versions(&version)
        .include_all(true)
        .send()
        .await
        .map_err(|e| aws.error("DescribeClusterVersions", Service::Eks, e))?;
    let info = versions.cluster_versions().iter().find(|v| v.cluster_version() == Some(version.as_str()));
    let date = |d: Option<&aws_smithy_types::DateTime>| d.map(|d| clock::rfc3339(d.secs())[..10].to_string());
    Ok(Some(ControlPlane {
        support: match info.and_then(|i| i.version_status()) {
            Some(VersionStatus::StandardSupport) => Support::Standard,
            Some(VersionStatus::ExtendedSupport) => Support::Extended,
            Some(VersionStatus::Unsupported) => Support::Unsupported,
            _ => Support::Unknown,
        },
        end_of_standard_support: date(info.and_then(|i| i.end_of_standard_support_date())),
        end_of_extended_support: date(info.and_then(|i| i.end_of_extended_support_date())),
        version,
    }))
}

/// How many minor versions the nodes (`node`, e.g. `1.29`) trail the control plane; negative
/// when they are ahead, which Kubernetes does not allow. `None` if either is not `1.N`.
pub fn skew(control_plane: &str, node: &str) -> Option<i64> {
    let minor = |v: &str| v.strip_prefix("1.")?.split('.').next()?.parse::<i64>().ok();
    Some(minor(control_plane)? - minor(node)?)
}

#[cfg(test)]
mod tests {
    #[test]
    fn skew_counts_minor_versions() {
        assert_eq!(super::skew("1.31", "1.29"), Some(2));
        assert_eq!(super::skew("1.31", "1.32"), Some(-1));
        assert_eq!(super::skew("1.31", "custom"), None);
    }
}
