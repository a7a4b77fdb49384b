//! The EKS-optimized base AMI for a Kubernetes version, resolved through the SSM public
//! parameters AWS publishes (the same source eksctl and Karpenter read).

use crate::aws::inventory::{self, Image};
use crate::aws::Aws;
use crate::core::choice::Choice;
use crate::core::error::Service;
use crate::core::iam::{Permission, Scope};
use crate::core::kinds::{Arch, Family, Variant};
use crate::core::tags::{self, Tags};
use crate::error::{Error, Result};
use schemars::JsonSchema;
use serde::Serialize;

/// `resolve`: the EKS-optimized AMI behind AWS's public parameters, and the AMI itself.
pub const IAM: [Permission; 2] = [
    Permission::new(Service::Ssm, "GetParameters").on(Scope::PublicParameters),
    crate::aws::inventory::DESCRIBE_IMAGES,
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub family: Family,
    /// The minor version as EKS names it, e.g. `1.31`.
    pub kubernetes: String,
    pub arch: Arch,
    pub variant: Variant,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Base {
    pub parameter: Option<String>,
    pub image: Image,
    /// The EKS release version the parameters give for it (`1.31.7-20261101`; Bottlerocket: its
    /// image version); unknown for an explicit base.
    pub release_version: Option<String>,
}

/// Kubernetes minor versions probed when a version is unknown, to list the ones that exist.
/// EKS has shipped 1.23 onwards in the current parameter scheme; the range runs ahead of it.
const PROBE_MINORS: std::ops::RangeInclusive<u32> = 23..=42;
/// GetParameters takes at most 10 names a call.
const GET_PARAMETERS_MAX: usize = 10;

/// The SSM parameter that holds the recommended image id.
pub fn parameter(query: &Query) -> Result<String, String> {
    let Query { family, kubernetes: k8s, arch, variant } = query;
    let nvidia = *variant == Variant::Nvidia;
    let (arch, variant) = (arch.name(), variant.name());
    Ok(match family {
        Family::Al2023 => format!(
            "/aws/service/eks/optimized-ami/{k8s}/amazon-linux-2023/{arch}/{variant}/recommended/image_id"
        ),
        Family::Al2 => {
            let flavour = match (query.arch, nvidia) {
                (Arch::X86_64, false) => "amazon-linux-2",
                (Arch::Arm64, false) => "amazon-linux-2-arm64",
                (Arch::X86_64, true) => "amazon-linux-2-gpu",
                (Arch::Arm64, true) => {
                    return Err("al2 has no arm64 nvidia variant: use family al2023".into())
                }
            };
            format!("/aws/service/eks/optimized-ami/{k8s}/{flavour}/recommended/image_id")
        }
        Family::Bottlerocket => {
            let suffix = if nvidia { "-nvidia" } else { "" };
            format!("/aws/service/bottlerocket/aws-k8s-{k8s}{suffix}/{arch}/latest/image_id")
        }
    })
}

/// The family, Kubernetes version and variant an EKS-optimized AMI's name says it is
/// (`amazon-eks-node-al2023-x86_64-standard-1.31-v20261101`, `amazon-eks-gpu-node-1.30-v…`,
/// `bottlerocket-aws-k8s-1.31-nvidia-x86_64-v1.26.0-…`), so an adopted release built on one can
/// be compared with the base recommended now. `None` for any other name.
pub fn recognise(name: &str) -> Option<(Family, String, Variant)> {
    let k8s = |text: &str| {
        text.split('-').find(|part| part.starts_with("1.") && part.len() <= 5).map(str::to_string)
    };
    if let Some(rest) = name.strip_prefix("amazon-eks-node-al2023-") {
        let variant = if rest.contains("-nvidia-") { Variant::Nvidia } else { Variant::Standard };
        return Some((Family::Al2023, k8s(rest)?, variant));
    }
    if let Some(rest) = name.strip_prefix("bottlerocket-aws-k8s-") {
        let variant = if rest.contains("-nvidia-") { Variant::Nvidia } else { Variant::Standard };
        return Some((Family::Bottlerocket, k8s(rest)?, variant));
    }
    let rest = ["amazon-eks-node-", "amazon-eks-arm64-node-", "amazon-eks-gpu-node-"]
        .iter()
        .find_map(|p| name.strip_prefix(p))?;
    let variant = if name.starts_with("amazon-eks-gpu-node-") { Variant::Nvidia } else { Variant::Standard };
    Some((Family::Al2, k8s(rest)?, variant))
}

/// What a release with tags `existing` records of the base it was built on (DESIGN §3): its id,
/// name and release version always, and, for an EKS-optimized base, the family, Kubernetes
/// version and variant its name says where the release does not say them itself, so `outdated`
/// can find the base recommended now.
pub fn recorded(existing: &Tags, base: &Base) -> Tags {
    let mut t = Tags::from([
        (tags::BASE_AMI.to_string(), base.image.id.to_string()),
        (tags::BASE_NAME.to_string(), base.image.name.clone()),
    ]);
    if let Some(release) = &base.release_version {
        t.insert(tags::BASE_RELEASE.into(), release.clone());
    }
    if let Some((family, kubernetes, variant)) = recognise(&base.image.name) {
        t.insert(tags::FAMILY.into(), family.name().into());
        t.insert(tags::KUBERNETES.into(), kubernetes);
        t.insert(tags::VARIANT.into(), variant.name().into());
    }
    t.retain(|key, _| key.starts_with("gio-ami:base-") || !existing.contains_key(key));
    t
}

/// The parameter beside `image_id` that holds the release version of the same AMI.
pub fn release_parameter(image_id_parameter: &str) -> String {
    let stem = image_id_parameter.strip_suffix("/image_id").unwrap_or(image_id_parameter);
    match stem.starts_with("/aws/service/bottlerocket/") {
        true => format!("{stem}/image_version"),
        false => format!("{stem}/release_version"),
    }
}

/// Resolves the query: one GetParameters for the image id and its release version, then
/// DescribeImages for the name and date.
pub async fn resolve(aws: &Aws, query: &Query) -> Result<Base> {
    let name = parameter(query).map_err(|message| Error::Base { message })?;
    let release = release_parameter(&name);
    let output = aws
        .ssm()
        .get_parameters()
        .names(&name)
        .names(&release)
        .send()
        .await
        .map_err(|e| aws.error("GetParameters", Service::Ssm, e))?;
    let value_of = |wanted: &str| {
        output
            .parameters()
            .iter()
            .find(|p| p.name() == Some(wanted))
            .and_then(|p| p.value())
            .map(str::to_string)
    };
    let Some(value) = value_of(&name) else {
        let known = available_versions(aws, query).await?;
        return Err(Error::Base { message: unknown_version_message(query, &known, aws.region()) });
    };
    let image = describe(aws, &value).await?;
    Ok(Base { parameter: Some(name), image, release_version: value_of(&release) })
}

/// An explicit base AMI, by id: any owner, since bases are usually Amazon's or a vendor's.
pub async fn explicit(aws: &Aws, id: &str) -> Result<Base> {
    Ok(Base { parameter: None, image: describe(aws, id).await?, release_version: None })
}

async fn describe(aws: &Aws, id: &str) -> Result<Image> {
    inventory::any_images_by_id(aws, &[id.to_string()])
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| Error::AmiNotFound { ids: vec![id.to_string()], region: aws.region().to_string() })
}

/// The versions for which this family/arch/variant has a parameter: two GetParameters calls.
async fn available_versions(aws: &Aws, query: &Query) -> Result<Vec<String>> {
    let candidates: Vec<(u32, String, String)> = PROBE_MINORS
        .filter_map(|minor| {
            let version = format!("1.{minor}");
            let probe = Query { kubernetes: version.clone(), ..query.clone() };
            parameter(&probe).ok().map(|p| (minor, version, p))
        })
        .collect();
    let mut found: Vec<(u32, String)> = Vec::new();
    for chunk in candidates.chunks(GET_PARAMETERS_MAX) {
        let output = aws
            .ssm()
            .get_parameters()
            .set_names(Some(chunk.iter().map(|(_, _, p)| p.clone()).collect()))
            .send()
            .await
            .map_err(|e| aws.error("GetParameters", Service::Ssm, e))?;
        for p in output.parameters() {
            if let Some((minor, version, _)) =
                chunk.iter().find(|(_, _, name)| Some(name.as_str()) == p.name())
            {
                found.push((*minor, version.clone()));
            }
        }
    }
    found.sort();
    Ok(found.into_iter().map(|(_, version)| version).collect())
}

fn unknown_version_message(query: &Query, known: &[String], region: &str) -> String {
    let what = format!("{} {} {}", query.family.name(), query.arch.name(), query.variant.name());
    if known.is_empty() {
        format!(
            "there is no EKS-optimized {what} AMI for Kubernetes {} in {region}, nor for any other \
             version: check --family/--arch/--variant and --region",
            query.kubernetes
        )
    } else {
        format!(
            "there is no EKS-optimized {what} AMI for Kubernetes {} in {region}; versions that \
             have one: {}",
            query.kubernetes,
            known.join(", ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(family: &str, k8s: &str, arch: &str, variant: &str) -> Query {
        Query {
            family: Family::from_name(family).unwrap(),
            kubernetes: k8s.into(),
            arch: Arch::from_name(arch).unwrap(),
            variant: Variant::from_name(variant).unwrap(),
        }
    }

    #[test]
    fn parameters_follow_the_published_scheme() {
        assert_eq!(
            parameter(&q("al2023", "1.31", "x86_64", "standard")).unwrap(),
            "/aws/service/eks/optimized-ami/1.31/amazon-linux-2023/x86_64/standard/recommended/image_id"
        );
        assert_eq!(
            parameter(&q("al2023", "1.31", "arm64", "nvidia")).unwrap(),
            "/aws/service/eks/optimized-ami/1.31/amazon-linux-2023/arm64/nvidia/recommended/image_id"
        );
        assert_eq!(
            parameter(&q("al2", "1.30", "x86_64", "standard")).unwrap(),
            "/aws/service/eks/optimized-ami/1.30/amazon-linux-2/recommended/image_id"
        );
        assert_eq!(
            parameter(&q("al2", "1.30", "arm64", "standard")).unwrap(),
            "/aws/service/eks/optimized-ami/1.30/amazon-linux-2-arm64/recommended/image_id"
        );
        assert_eq!(
            parameter(&q("al2", "1.30", "x86_64", "nvidia")).unwrap(),
            "/aws/service/eks/optimized-ami/1.30/amazon-linux-2-gpu/recommended/image_id"
        );
        assert_eq!(
            parameter(&q("bottlerocket", "1.31", "x86_64", "standard")).unwrap(),
            "/aws/service/bottlerocket/aws-k8s-1.31/x86_64/latest/image_id"
        );
        assert_eq!(
            parameter(&q("bottlerocket", "1.31", "arm64", "nvidia")).unwrap(),
            "/aws/service/bottlerocket/aws-k8s-1.31-nvidia/arm64/latest/image_id"
        );
        assert!(parameter(&q("al2", "1.30", "arm64", "nvidia")).is_err());
    }

    #[test]
    fn eks_optimized_names_say_what_they_are() {
        let al2023 = recognise("amazon-eks-node-al2023-arm64-nvidia-1.31-v20261101").unwrap();
        assert_eq!(al2023, (Family::Al2023, "1.31".to_string(), Variant::Nvidia));
        assert_eq!(
            recognise("amazon-eks-gpu-node-1.30-v20261101").unwrap(),
            (Family::Al2, "1.30".to_string(), Variant::Nvidia)
        );
        assert_eq!(
            recognise("amazon-eks-arm64-node-1.29-v20261001").unwrap(),
            (Family::Al2, "1.29".to_string(), Variant::Standard)
        );
        assert_eq!(
            recognise("bottlerocket-aws-k8s-1.32-aarch64-v1.26.0").unwrap(),
            (Family::Bottlerocket, "1.32".to_string(), Variant::Standard)
        );
        assert_eq!(recognise("ubuntu-eks/k8s_1.31/images/hvm-ssd"), None);
    }

    #[test]
    fn a_release_records_its_base_and_keeps_what_it_says_it_is() {
        let mut image = inventory::tests::image("ami-000000b1", "2026-11-01", &[]);
        image.name = "amazon-eks-node-al2023-x86_64-standard-1.31-v20261101".into();
        let base = Base { parameter: None, image, release_version: Some("1.31.7-20261101".into()) };
        let existing = Tags::from([
            (tags::KUBERNETES.to_string(), "1.30".to_string()),
            (tags::BASE_AMI.to_string(), "ami-old".to_string()),
        ]);
        let recorded = recorded(&existing, &base);
        assert_eq!(
            recorded.get(tags::BASE_AMI).map(String::as_str),
            Some("ami-000000b1"),
            "the base is always the one given"
        );
        assert_eq!(recorded.get(tags::BASE_RELEASE).map(String::as_str), Some("1.31.7-20261101"));
        assert_eq!(recorded.get(tags::FAMILY).map(String::as_str), Some("al2023"));
        assert!(!recorded.contains_key(tags::KUBERNETES), "the release's own version stays");
    }

    #[test]
    fn the_release_version_sits_beside_the_image_id() {
        let al2023 = parameter(&q("al2023", "1.31", "x86_64", "standard")).unwrap();
        assert_eq!(release_parameter(&al2023), "/aws/service/eks/optimized-ami/1.31/amazon-linux-2023/x86_64/standard/recommended/release_version");
        let bottlerocket = parameter(&q("bottlerocket", "1.31", "x86_64", "standard")).unwrap();
        assert_eq!(
            release_parameter(&bottlerocket),
            "/aws/service/bottlerocket/aws-k8s-1.31/x86_64/latest/image_version"
        );
    }

    #[test]
    fn unknown_versions_list_the_known_ones() {
        let msg = unknown_version_message(
            &q("al2023", "1.99", "x86_64", "standard"),
            &["1.30".into(), "1.31".into()],
            "eu-west-1",
        );
        assert!(msg.contains("Kubernetes 1.99 in eu-west-1; versions that have one: 1.30, 1.31"), "{msg}");
    }
}
