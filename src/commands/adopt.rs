//! Bringing AMIs gio-ami did not build (earlier Packer runs, hand-made images) into the
//! history: they get the release tags of DESIGN §3 on the AMI and its snapshots. A plan first
//! (pure, printable with `--dry-run`), then one CreateTags per AMI through `change::apply`.

use super::{execute, parse_all, Context, Mode, Own};
use crate::aws::base::{self, Base};
use crate::aws::inventory::{self, Image};
use crate::aws::provenance::Provenance;
use crate::aws::Aws;
use crate::change;
use crate::change::{Action, Kind, Plan};
use crate::core::ids::{AmiId, SnapshotId};
use crate::core::tags::{self, Tags};
use crate::error::{Error, Result};
use aws_smithy_types::date_time::{DateTime, Format};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// AMI ids (ami-…) of this account and region.
    #[arg(value_name = "AMI_ID", required_unless_present = "packer_manifest")]
    pub amis: Vec<String>,

    /// A manifest written by Packer's `manifest` post-processor: adopts every AMI it lists
    /// in this region.
    #[arg(long, value_name = "FILE")]
    pub packer_manifest: Option<PathBuf>,

    /// Release name (default: the AMI's name).
    #[arg(long)]
    pub release: Option<String>,

    /// Who built them (default: GIO_AMI_AUTHOR, the git user, else the AWS caller).
    #[arg(long)]
    pub author: Option<String>,

    /// Support contact shown in the history.
    #[arg(long)]
    pub contact: Option<String>,

    /// What the release is (default: the AMI's own description).
    #[arg(long)]
    pub description: Option<String>,

    /// The AMI they were built on (Packer's source AMI), recorded so `outdated` can tell how
    /// far behind the recommended EKS-optimized base they are.
    #[arg(long, value_name = "AMI_ID")]
    pub base: Option<String>,

    /// Print the tags that would be written, and write none.
    #[arg(long)]
    pub dry_run: bool,
}

/// What `--output json` prints: the plan, its facts (`adopted`) also at the top.
pub type Report = super::Mutation<Adopted, Adopted>;
pub const JSON: super::Json = super::Json::of::<Report>();

/// The IAM permissions this command's AWS calls need (`gio-ami iam-policy adopt`).
pub const IAM: &[&[crate::core::iam::Permission]] =
    &[&[crate::aws::inventory::DESCRIBE_IMAGES, crate::aws::tagging::CREATE_TAGS]];

pub async fn run(args: Args, ctx: &Context<'_>) -> Result<()> {
    let mut requests: Vec<Request> =
        parse_all::<AmiId>(&args.amis)?.into_iter().map(|ami| Request { ami, built_at: None }).collect();
    let base: Option<AmiId> = args.base.as_deref().map(str::parse).transpose()?;
    let artifacts = match &args.packer_manifest {
        Some(file) => {
            let text = std::fs::read_to_string(file).map_err(|e| Error::File {
                action: "read",
                file: file.display().to_string(),
                detail: e.to_string(),
            })?;
            manifest(&file.display().to_string(), &text)?
        }
        None => Vec::new(),
    };
    let aws = Aws::connect(&ctx.options).await?;
    let (from_manifest, skipped) = in_region(&artifacts, aws.region())?;
    requests.extend(from_manifest);
    if requests.is_empty() {
        return Err(Error::NothingToAdopt { region: aws.region().to_string(), skipped: skipped.join("; ") });
    }
    let author = match &args.author {
        Some(author) => author.clone(),
        None => Provenance::current(&aws).await.author,
    };
    let metadata = Metadata {
        release: args.release,
        author: args.author,
        contact: args.contact,
        description: args.description,
        base: match &base {
            Some(id) => Some(base::explicit(&aws, id.as_str()).await?),
            None => None,
        },
    };
    let plan = prepare(&aws, &requests, &metadata, &author, skipped).await?;
    let mode = Mode::adding("adopt", args.dry_run, "tagged").facts_on_top();
    execute(ctx, &aws, &plan, &mode, Own::default(), || async {
        Ok(change::apply(&aws, &plan.actions).await.into())
    })
    .await
}

/// Who and what the adopted releases are; unset fields keep what the AMI already says.
#[derive(Debug, Clone, Default)]
pub struct Metadata {
    pub release: Option<String>,
    pub author: Option<String>,
    pub contact: Option<String>,
    pub description: Option<String>,
    /// The base they were built on (`--base`), recorded so `outdated` can compare it.
    pub base: Option<Base>,
}

/// One AMI to adopt, and when it was built if something better than its CreationDate says so.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub ami: AmiId,
    pub built_at: Option<String>,
}

#[derive(Debug, Clone, Serialize, JsonSchema, PartialEq)]
pub struct Adoption {
    pub ami: String,
    pub name: String,
    pub snapshots: Vec<String>,
    /// The tags to write: only those missing or different, so a re-run writes nothing.
    pub tags: Tags,
}

/// The plan's facts: every AMI asked about, with the tags it gets (none when adopted already).
#[derive(Debug, Clone, Default, Serialize, JsonSchema)]
pub struct Adopted {
    pub adopted: Vec<Adoption>,
}

/// The tags each image needs. The release is the AMI's name (Packer names are unique); the
/// date is the build's, else the AMI's creation; existing gio-ami tags win over defaults but
/// not over what the caller gives explicitly.
pub fn plan(images: &[Image], requests: &[Request], metadata: &Metadata, author: &str) -> Vec<Adoption> {
    images
        .iter()
        .map(|image| {
            let built_at =
                requests.iter().find(|r| r.ami.as_str() == image.id).and_then(|r| r.built_at.clone());
            let defaults = [
                (tags::RELEASE, Some(image.name.clone())),
                (tags::CREATED_AT, built_at.or_else(|| image.created.as_ref().map(ToString::to_string))),
                (tags::AUTHOR, Some(author.to_string())),
                (tags::DESCRIPTION, image.description.clone().filter(|d| !d.is_empty())),
            ];
            let given = [
                (tags::RELEASE, &metadata.release),
                (tags::AUTHOR, &metadata.author),
                (tags::CONTACT, &metadata.contact),
                (tags::DESCRIPTION, &metadata.description),
            ];
            let mut wanted = Tags::new();
            for (key, value) in defaults {
                if let (Some(value), false) = (value, image.tags.contains_key(key)) {
                    wanted.insert(key.to_string(), value);
                }
            }
            for (key, value) in given {
                if let Some(value) = value {
                    wanted.insert(key.to_string(), value.clone());
                }
            }
            if let Some(base) = &metadata.base {
                // The base is the caller's word; what the release says it is stays.
                wanted.extend(base::recorded(&image.tags, base));
            }
            wanted.retain(|key, value| image.tags.get(key) != Some(value));
            Adoption {
                ami: image.id.to_string(),
                name: image.name.clone(),
                snapshots: image.snapshot_ids().map(str::to_string).collect(),
                tags: wanted,
            }
        })
        .collect()
}

/// One CreateTags per AMI (with its snapshots) that misses tags; an AMI adopted already is
/// reused as it is. `skipped` (manifest artifacts of other regions) become warnings.
pub fn actions(adoptions: Vec<Adoption>, skipped: Vec<String>) -> Plan<Adopted> {
    let actions = adoptions
        .iter()
        .map(|a| match a.tags.is_empty() {
            true => Action::Reuse { id: a.ami.clone(), kind: Kind::Image, why: "already adopted".into() },
            false => Action::TagImage {
                id: AmiId::from_aws(&a.ami),
                snapshots: a.snapshots.iter().map(SnapshotId::from_aws).collect(),
                tags: a.tags.clone(),
                why: format!("adopt `{}` as a release", a.name),
                after: Vec::new(),
            },
        })
        .collect();
    Plan {
        actions,
        warnings: skipped.into_iter().map(|s| format!("skipped: {s}")).collect(),
        facts: Adopted { adopted: adoptions },
    }
}

/// Reads the AMIs (all must be this account's, in this region) in one call, and plans.
pub async fn prepare(
    aws: &Aws,
    requests: &[Request],
    metadata: &Metadata,
    author: &str,
    skipped: Vec<String>,
) -> Result<Plan<Adopted>> {
    let ids: Vec<AmiId> = requests.iter().map(|r| r.ami.clone()).collect();
    let images = inventory::own_images_by_id(aws, &ids).await?;
    Ok(actions(plan(&images, requests, metadata, author), skipped))
}

/// One build of Packer's manifest post-processor output.
#[derive(Debug, Clone, PartialEq)]
pub struct ManifestArtifact {
    pub region: String,
    pub ami: String,
    pub built_at: Option<String>,
}

#[derive(Deserialize)]
struct Manifest {
    builds: Vec<ManifestBuild>,
}

#[derive(Deserialize)]
struct ManifestBuild {
    artifact_id: String,
    #[serde(default)]
    build_time: Option<i64>,
}

/// Reads a manifest: `builds[].artifact_id` is `region:ami-…`, comma-separated when the build
/// copied the AMI to more regions.
pub fn manifest(file: &str, text: &str) -> Result<Vec<ManifestArtifact>> {
    let invalid = |why: String| crate::engines::packer::PackerError::Refused {
        message: format!(
            "{file} is not a Packer manifest ({why}); it is what the `manifest` post-processor \
             writes: {{\"builds\": [{{\"artifact_id\": \"eu-west-1:ami-…\", …}}]}}"
        ),
    };
    let manifest: Manifest = serde_json::from_str(text).map_err(|e| invalid(e.to_string()))?;
    let mut artifacts = Vec::new();
    for build in manifest.builds {
        let built_at = build.build_time.and_then(|t| DateTime::from_secs(t).fmt(Format::DateTime).ok());
        for artifact in build.artifact_id.split(',').filter(|a| !a.is_empty()) {
            let (region, ami) = artifact
                .split_once(':')
                .ok_or_else(|| invalid(format!("artifact `{artifact}` is not region:ami-…")))?;
            artifacts.push(ManifestArtifact {
                region: region.into(),
                ami: ami.into(),
                built_at: built_at.clone(),
            });
        }
    }
    Ok(artifacts)
}

/// The manifest's AMIs in `region` as requests, and a note for each one elsewhere.
pub fn in_region(artifacts: &[ManifestArtifact], region: &str) -> Result<(Vec<Request>, Vec<String>)> {
    let mut requests = Vec::new();
    let mut skipped = Vec::new();
    for artifact in artifacts {
        if artifact.region == region {
            requests.push(Request { ami: artifact.ami.parse()?, built_at: artifact.built_at.clone() });
        } else {
            skipped.push(format!(
                "{} is in {}: run again with --region {}",
                artifact.ami, artifact.region, artifact.region
            ));
        }
    }
    Ok((requests, skipped))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::inventory::tests::image;

    const MANIFEST: &str = r#"{"builds": [
        {"name": "amazon-ebs", "builder_type": "amazon-ebs", "build_time": 1795619534,
         "artifact_id": "eu-west-1:ami-30e8e8e735585d10f,us-east-1:ami-0123456789abcdef0"}],
        "last_run_uuid": "x"}"#;

    #[test]
    fn manifests_list_every_region_with_the_build_time() {
        let artifacts = manifest("manifest.json", MANIFEST).unwrap();
        assert_eq!(artifacts.len(), 2);
        assert_eq!(artifacts[0].ami, "ami-30e8e8e735585d10f");
        assert_eq!(artifacts[0].built_at.as_deref(), Some("2026-11-25T15:12:14Z"));
        let (requests, skipped) = in_region(&artifacts, "eu-west-1").unwrap();
        assert_eq!(requests.len(), 1);
        assert!(skipped[0].contains("--region us-east-1"), "{skipped:?}");
        let err = manifest("m.json", "{\"builds\": [{\"artifact_id\": \"ami-1\"}]}").unwrap_err();
        assert!(err.to_string().contains("region:ami-"), "{err}");
    }

    #[test]
    fn a_plan_tags_release_date_author_and_keeps_what_is_there() {
        let mut img = image("ami-11111111", "2026-01-02T03:04:05.000Z", &[("/dev/xvda", "snap-1", 8)]);
        img.name = "packer-node-1".into();
        img.tags.insert(tags::AUTHOR.into(), "Grace".into());
        let request = Request { ami: "ami-11111111".parse().unwrap(), built_at: None };
        let metadata = Metadata { contact: Some("ops@example.org".into()), ..Metadata::default() };
        let adoption = &plan(std::slice::from_ref(&img), std::slice::from_ref(&request), &metadata, "Ada")[0];
        assert_eq!(adoption.tags.get(tags::RELEASE).map(String::as_str), Some("packer-node-1"));
        assert_eq!(adoption.tags.get(tags::CREATED_AT).map(String::as_str), Some("2026-01-02T03:04:05.000Z"));
        assert_eq!(adoption.tags.get(tags::CONTACT).map(String::as_str), Some("ops@example.org"));
        assert!(!adoption.tags.contains_key(tags::AUTHOR), "the recorded author stays");
        assert_eq!(adoption.snapshots, ["snap-1"]);
        img.tags.extend(adoption.tags.clone());
        assert!(plan(&[img], &[request], &metadata, "Ada")[0].tags.is_empty(), "a re-run writes nothing");
    }

    #[test]
    fn adopting_tags_each_ami_with_its_snapshots_and_reuses_adopted_ones() {
        let adoption = |ami: &str, tags: Tags| Adoption {
            ami: ami.into(),
            name: "n".into(),
            snapshots: vec!["snap-1".into()],
            tags,
        };
        let fresh = adoption("ami-1", Tags::from([(tags::RELEASE.to_string(), "n".to_string())]));
        let plan = actions(vec![fresh, adoption("ami-2", Tags::new())], vec!["ami-3 is in us-east-1".into()]);
        let verbs: Vec<(&str, &str)> = plan.actions.iter().map(|a| (a.verb(), a.id())).collect();
        assert_eq!(verbs, [("tag", "ami-1"), ("reuse", "ami-2")]);
        assert!(matches!(&plan.actions[0], Action::TagImage { snapshots, .. } if snapshots == &["snap-1"]));
        assert_eq!(plan.warnings, ["skipped: ami-3 is in us-east-1"]);
        assert_eq!(plan.facts.adopted.len(), 2);
    }
}
