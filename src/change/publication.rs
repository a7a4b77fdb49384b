//! A publication: the AMI id goes into a cluster's SSM parameter with DataType `aws:ec2:image`
//! (which Karpenter `amiSelectorTerms`, Terraform `aws_ssm_parameter` and Pulumi
//! `ssm.getParameter` read), and the cluster into the AMI's `gio-ami:clusters` tag, the history's
//! mark. Planned here, purely, for the commands that publish (`publish`, `promote`).

use crate::aws::inventory::{Image, ImageState};
use crate::aws::parameters::Held;
use crate::change::{Action, Kind, Needs, OneOrSet, Plan};
use crate::core::ids::AmiId;
use crate::core::kinds::{DataType, Member};
use crate::core::tags;
use crate::error::{Error, Result};
use crate::spec::clusters::Cluster;
use schemars::JsonSchema;
use serde::Serialize;

/// What publishing changes; computed before anything is written, printed by `--dry-run`.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Publication {
    pub cluster: String,
    pub region: String,
    pub parameter: String,
    /// Which AMI of a release set this is (each writes its own parameter).
    #[serde(flatten)]
    pub member: Option<Member>,
    pub ami: String,
    pub release: Option<String>,
    /// The parameter's value before, if it had one.
    pub previous: Option<String>,
    /// False when the parameter already holds this AMI: nothing to write there.
    pub changes_parameter: bool,
    /// The AMI's `gio-ami:clusters` tag after publishing, when it changes.
    pub clusters_tag: Option<String>,
}

/// Checks that the cluster can launch nodes from `image` (found in `region`) and that its
/// parameter (`current`, if it exists) can hold an AMI, and says what changes. Pure: the inputs
/// were read beforehand.
pub fn plan(cluster: &Cluster, image: &Image, region: &str, current: Option<Held>) -> Result<Publication> {
    if image.state != ImageState::Available {
        return Err(Error::NotAvailable { id: image.id.to_string(), state: image.state.to_string() });
    }
    if region != cluster.region {
        return Err(Error::WrongRegion {
            id: image.id.to_string(),
            region: region.to_string(),
            cluster: cluster.name.clone(),
            cluster_region: cluster.region.clone(),
        });
    }
    let parameter = cluster
        .ssm_parameter
        .clone()
        .ok_or_else(|| crate::spec::Error::ClusterWithoutParameter { cluster: cluster.name.clone() })?;
    // SSM changes no parameter's data type to aws:ec2:image: every write would fail.
    if let Some(held) = current.as_ref().filter(|held| held.data_type != DataType::Image) {
        return Err(Error::ParameterNotAmiTyped { parameter, data_type: held.data_type.to_string() });
    }
    let current = current.map(|held| held.value);
    let mut clusters: Vec<&str> = image.published_to().collect();
    let clusters_tag = (!clusters.contains(&cluster.name.as_str())).then(|| {
        clusters.push(&cluster.name);
        clusters.join(",")
    });
    Ok(Publication {
        cluster: cluster.name.clone(),
        region: region.to_string(),
        parameter,
        member: image.member(),
        ami: image.id.to_string(),
        release: image.release().map(str::to_string),
        changes_parameter: current.as_deref() != Some(image.id.as_str()),
        previous: current,
        clusters_tag,
    })
}

/// The writes a publication makes: the parameter's new version (or, when it holds the AMI
/// already, nothing), then the AMI's `gio-ami:clusters` tag when it changes, only once the
/// parameter holds the AMI: the mark records a publication that happened.
pub fn actions(publication: Publication) -> Plan<Publication> {
    let p = &publication;
    let parameter = if p.changes_parameter {
        Action::PutParameter {
            id: p.parameter.clone(),
            value: AmiId::from_aws(&p.ami),
            previous: p.previous.clone(),
            description: format!(
                "AMI of cluster {} published by gio-ami{}",
                p.cluster,
                p.release.as_deref().map(|r| format!(" (release {r})")).unwrap_or_default()
            ),
            why: format!("cluster {} ({}) launches its nodes from it", p.cluster, p.region),
        }
    } else {
        Action::Reuse {
            id: p.parameter.clone(),
            kind: Kind::Parameter,
            why: format!("already holds {}", p.ami),
        }
    };
    let mark = p.clusters_tag.as_ref().map(|clusters| Action::TagImage {
        id: AmiId::from_aws(&p.ami),
        snapshots: Vec::new(),
        tags: tags::Tags::from([(tags::CLUSTERS.to_string(), clusters.clone())]),
        why: format!("published to {}: the history marks it", p.cluster),
        after: vec![Needs::action(&parameter)],
    });
    let actions = std::iter::once(parameter).chain(mark).collect();
    Plan { actions, warnings: Vec::new(), facts: publication }
}

/// A release set's publications as one plan: every variant's writes, so none is written unless
/// every variant could be planned.
pub fn set_actions(publications: Vec<Publication>) -> Plan<OneOrSet<Publication>> {
    let release = publications.iter().find_map(|p| p.release.clone()).unwrap_or_default();
    Plan::set(release, publications.into_iter().map(actions).collect())
}

/// The cluster as one AMI of a set publishes to it: its parameter filled in for `member`.
/// One AMI and a plain parameter need nothing; a set's AMIs need a parameter per variant, and
/// one AMI (not of a set) cannot fill a template.
pub fn for_member(cluster: &Cluster, member: Option<Member>, set: usize) -> Result<Cluster> {
    let Some(template) = &cluster.ssm_parameter else { return Ok(cluster.clone()) };
    let templated = template.contains('{');
    let refuse = |why: String| {
        Err(Error::ParameterNotPerVariant { cluster: cluster.name.clone(), parameter: template.clone(), why })
    };
    match member {
        Some(member) if templated => {
            Ok(Cluster { ssm_parameter: Some(member.fill(template)), ..cluster.clone() })
        }
        Some(_) if set > 1 => refuse(format!(
            "one parameter, and the release is a set of {set} AMIs: each would overwrite the other"
        )),
        Some(_) => Ok(cluster.clone()),
        None if templated => {
            refuse("a template of [[variants]], and the AMI is no AMI of a release set".into())
        }
        None => Ok(cluster.clone()),
    }
}

/// The value to roll back to: the newest one in the history (oldest first) that differs from
/// the current value, so publishing the same AMI twice does not make it its own predecessor.
pub fn rollback_target(history: &[String]) -> Option<&str> {
    let (current, earlier) = history.split_last()?;
    earlier.iter().rev().find(|value| *value != current).map(String::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::inventory::tests::image;

    fn held(value: &str) -> Option<Held> {
        Some(Held { value: value.into(), data_type: DataType::Image.into() })
    }

    fn prod() -> Cluster {
        Cluster {
            name: "prod".into(),
            region: "eu-west-1".into(),
            ssm_parameter: Some("/gio/prod".into()),
            ..Cluster::default()
        }
    }

    #[test]
    fn publishing_writes_the_parameter_and_adds_the_cluster_to_the_tag() {
        let mut ami = image("ami-0000000a", "2026-01-01", &[]);
        ami.tags.insert(tags::CLUSTERS.into(), "dev".into());
        let p = plan(&prod(), &ami, "eu-west-1", held("ami-00000009")).unwrap();
        assert!(p.changes_parameter);
        assert_eq!(p.previous.as_deref(), Some("ami-00000009"));
        assert_eq!(p.clusters_tag.as_deref(), Some("dev,prod"));
    }

    #[test]
    fn publishing_again_changes_nothing() {
        let mut ami = image("ami-0000000a", "2026-01-01", &[]);
        ami.tags.insert(tags::CLUSTERS.into(), "prod".into());
        let p = plan(&prod(), &ami, "eu-west-1", held("ami-0000000a")).unwrap();
        assert!(!p.changes_parameter);
        assert_eq!(p.clusters_tag, None);
    }

    #[test]
    fn a_publication_puts_the_parameter_then_tags_the_ami_or_reuses_what_holds() {
        let ami = image("ami-0000000a", "2026-01-01", &[]);
        let first = actions(plan(&prod(), &ami, "eu-west-1", held("ami-00000009")).unwrap());
        let verbs: Vec<(&str, &str)> = first.actions.iter().map(|a| (a.verb(), a.id())).collect();
        assert_eq!(verbs, [("put", "/gio/prod"), ("tag", "ami-0000000a")]);
        assert_eq!(
            first.actions[1].after(),
            [Needs { kind: Kind::Parameter, id: "/gio/prod".into() }],
            "marked only once the parameter holds it"
        );
        assert_eq!(first.actions[0].resource(), "/gio/prod ami-00000009 -> ami-0000000a");
        let mut published = ami.clone();
        published.tags.insert(tags::CLUSTERS.into(), "prod".into());
        let again = actions(plan(&prod(), &published, "eu-west-1", held("ami-0000000a")).unwrap());
        assert!(!again.has_work());
        assert_eq!(again.actions[0].verb(), "reuse");
    }

    #[test]
    fn refuses_unavailable_amis_and_other_regions() {
        let mut pending = image("ami-0000000a", "2026-01-01", &[]);
        pending.state = "pending".into();
        let err = plan(&prod(), &pending, "eu-west-1", None).unwrap_err();
        assert!(err.to_string().contains("is `pending`, not `available`"), "{err}");
        let ami = image("ami-0000000a", "2026-01-01", &[]);
        let err = plan(&prod(), &ami, "us-east-1", None).unwrap_err().to_string();
        assert!(err.contains("gio-ami copy ami-0000000a --to eu-west-1"), "{err}");
    }

    #[test]
    fn a_parameter_of_another_data_type_is_refused_with_the_fix() {
        let ami = image("ami-0000000a", "2026-01-01", &[]);
        let text = Held { value: "ami-00000009".into(), data_type: DataType::Text.into() };
        let err = plan(&prod(), &ami, "eu-west-1", Some(text)).unwrap_err().to_string();
        assert!(err.contains("/gio/prod has data type `text`"), "{err}");
        assert!(err.contains("aws ssm delete-parameter --name /gio/prod"), "{err}");
        assert!(err.contains("data_type = \"aws:ec2:image\""), "{err}");
        let unknown = Held { value: "x".into(), data_type: "aws:ssm:something-new".into() };
        assert!(plan(&prod(), &ami, "eu-west-1", Some(unknown)).is_err(), "only aws:ec2:image takes an AMI");
    }

    #[test]
    fn each_variant_of_a_set_publishes_to_its_own_parameter() {
        use crate::core::kinds::{Arch, Variant};
        let arm = Some(Member { arch: Arch::Arm64, variant: Variant::Standard });
        let templated = Cluster { ssm_parameter: Some("/gio/prod/{arch}/{variant}".into()), ..prod() };
        let filled = for_member(&templated, arm, 2).unwrap();
        assert_eq!(filled.ssm_parameter.as_deref(), Some("/gio/prod/arm64/standard"));
        assert_eq!(for_member(&prod(), None, 1).unwrap(), prod(), "one AMI, one parameter: unchanged");
        let err = for_member(&prod(), arm, 2).unwrap_err().to_string();
        assert!(err.contains("one parameter, and the release is a set of 2 AMIs"), "{err}");
        let err = for_member(&templated, None, 1).unwrap_err().to_string();
        assert!(err.contains("the AMI is no AMI of a release set"), "{err}");

        let mut a = image("ami-0000000a", "2026-01-01", &[]);
        a.tags.insert(tags::RELEASE.into(), "r1".into());
        let first = plan(&prod(), &a, "eu-west-1", None).unwrap();
        let second = Publication { parameter: "/gio/prod/b".into(), ..first.clone() };
        let set = set_actions(vec![first, second]);
        assert_eq!(set.actions.iter().filter(|a| a.verb() == "put").count(), 2);
        assert!(
            matches!(set.facts, OneOrSet::Set { ref release, ref variants } if release == "r1" && variants.len() == 2)
        );
    }

    #[test]
    fn rollback_skips_republications_of_the_current_value() {
        let history = |values: &[&str]| values.iter().map(|v| v.to_string()).collect::<Vec<_>>();
        assert_eq!(rollback_target(&history(&["a", "b", "c"])), Some("b"));
        assert_eq!(rollback_target(&history(&["a", "b", "b"])), Some("a"));
        assert_eq!(rollback_target(&history(&["a", "a"])), None);
        assert_eq!(rollback_target(&[]), None);
    }
}
