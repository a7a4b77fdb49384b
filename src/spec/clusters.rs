//! The clusters the spec names (`[clusters.NAME]`), or the command line: where each runs and
//! which SSM parameter publishes to it.

use super::{Error, Spec};
use crate::core::kinds::Member;
use serde::Serialize;
use std::time::Duration;

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Cluster {
    pub name: String,
    pub region: String,
    pub ssm_parameter: Option<String>,
    /// The cluster `promote` takes this one's releases from.
    pub promote_from: Option<String>,
    /// How long `promote_from` must have held a release before `promote` brings it here.
    #[serde(serialize_with = "humane")]
    pub soak: Option<Duration>,
    /// AMIs promoted here get deregistration protection.
    pub protect: bool,
    /// The `[accounts]` name it runs in; `None` without `[accounts]` (the caller's account).
    pub account: Option<String>,
}

/// A soak as the spec writes it (`2days`, `48h`), not a count of seconds.
fn humane<S: serde::Serializer>(
    soak: &Option<Duration>,
    serializer: S,
) -> std::result::Result<S::Ok, S::Error> {
    match soak {
        Some(soak) => serializer.collect_str(&humantime::format_duration(*soak)),
        None => serializer.serialize_none(),
    }
}

impl Cluster {
    /// Its parameter for each AMI of a release of `set` (`Member::each`): one per member, filled
    /// in; without a set, the name as written. None without `ssm_parameter`.
    pub fn parameters(&self, set: &[Member]) -> Vec<(Option<Member>, String)> {
        let Some(template) = &self.ssm_parameter else { return Vec::new() };
        Member::each(set)
            .into_iter()
            .map(|m| (m, m.map_or_else(|| template.clone(), |m| m.fill(template))))
            .collect()
    }
}

/// The clusters to show or act on: all of the spec's, or only those named. A name the spec does
/// not know is still a cluster (observed in `default_region`), so `history --cluster` works
/// without any spec file.
pub fn select(spec: Option<&Spec>, names: &[String], default_region: &str) -> Vec<Cluster> {
    let configured: &[Cluster] = spec.map_or(&[], |spec| &spec.clusters);
    if names.is_empty() {
        return configured.to_vec();
    }
    names
        .iter()
        .map(|name| {
            configured.iter().find(|c| &c.name == name).cloned().unwrap_or_else(|| Cluster {
                name: name.clone(),
                region: default_region.to_string(),
                ..Cluster::default()
            })
        })
        .collect()
}

/// The one configured cluster a command publishes to; publishing needs its region and
/// parameter, so only the spec can name it.
pub fn configured(spec: Option<&Spec>, name: &str) -> Result<Cluster, Error> {
    let known: Vec<String> =
        spec.map(|s| s.clusters.iter().map(|c| c.name.clone()).collect()).unwrap_or_default();
    let cluster =
        select(spec, &[name.to_string()], "").into_iter().next().filter(|c| known.contains(&c.name));
    match cluster {
        Some(cluster) if cluster.ssm_parameter.is_some() => Ok(cluster),
        Some(_) => Err(Error::ClusterWithoutParameter { cluster: name.to_string() }),
        None => Err(Error::UnknownCluster { cluster: name.to_string(), known }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> Spec {
        let text = "[image]\nname = \"n\"\n[base]\nami = \"ami-12345678\"\n\
                    [clusters.prod]\nregion = \"eu-west-1\"\nssm_parameter = \"/p\"\n\
                    [clusters.dev]\nregion = \"us-east-1\"\n";
        super::super::parse("gio-ami.toml", text).unwrap().0
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
}
