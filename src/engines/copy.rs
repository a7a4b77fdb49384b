//! Copying a release to other regions (a cluster can only launch AMIs of its own region):
//! CopyImage into every region at once, each copy tagged like its source, then a wait until
//! all are available. Every step looks before it creates, so a re-run finds its earlier copies.

use crate::aws::inventory::{self, Image, ImageState};
use crate::aws::tagging;
use crate::aws::{Aws, AwsOptions};
use crate::change::{self, Action, Applied, Kind, Outcome, Procedure, Status, Step, Target};
use crate::core::error::Service;
use crate::core::iam::Permission;
use crate::core::ids::AmiId;
use crate::core::poll;
use crate::core::progress::{Counter, Progress, Unit};
use crate::core::tags::{self, Tags};
use crate::engines::register;
use crate::error::{Error, Result};
use aws_sdk_ec2::types::ResourceType;
use futures::future::{join_all, try_join_all};
use schemars::JsonSchema;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::time::Duration;

pub const IAM: Permission = Permission::new(Service::Ec2, "CopyImage");

/// Copying a large AMI across the world can take over an hour; two bound a stuck copy.
const WAIT_TIMEOUT: Duration = Duration::from_secs(2 * 3600);
/// CopyImage caps ClientToken at 64 ASCII characters.
const CLIENT_TOKEN_MAX: usize = 64;

/// The token of one copy: AWS answers a retried CopyImage that carries an earlier token with the
/// copy that one started, and refuses the token with other parameters (IdempotentParameterMismatch).
/// So it is a digest of every parameter that shapes the copy (source, destination, name,
/// description, encryption, tags): a retry gets the same token, another copy another one.
pub fn client_token(
    image: &Image,
    source_region: &str,
    region: &str,
    kms_key: Option<&str>,
    tags: &Tags,
) -> String {
    let parameters =
        serde_json::json!([image.id, source_region, region, image.name, image.description, kms_key, tags]);
    let digest: String = Sha256::digest(parameters.to_string()).iter().map(|b| format!("{b:02x}")).collect();
    format!("gio-ami-copy-{digest}").chars().take(CLIENT_TOKEN_MAX).collect()
}

/// What a copy starts from: the source, and in each destination region the AMI already
/// holding its name there (an earlier run's copy, or the source itself in its own region).
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Copying {
    pub source: Image,
    pub source_region: String,
    pub destinations: Vec<Destination>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Destination {
    pub region: String,
    /// The copy there already, reused.
    pub existing: Option<String>,
    pub kms_key: Option<String>,
}

/// One CopyImage per region without a copy; an earlier copy (same name and release) is
/// reused, and a name taken there by another release is refused before any call. Pure.
pub fn plan(
    source: Image,
    source_region: &str,
    holders: Vec<(String, Option<Image>)>,
    kms_keys: &BTreeMap<String, String>,
) -> Result<change::Plan<Copying, Step>> {
    let mut actions = Vec::new();
    let mut destinations = Vec::new();
    for (region, holder) in holders {
        let existing = match holder {
            _ if region == source_region => Some(source.id.clone()),
            Some(held) if held.release() != source.release() => {
                return Err(Error::NameTaken { name: source.name.clone(), id: held.id.into() })
            }
            held => held.map(|h| h.id),
        };
        actions.push(match &existing {
            Some(id) if id == &source.id => Step::Action(Action::Reuse {
                id: id.to_string(),
                kind: Kind::Image,
                why: format!("the source itself, in {region}"),
            }),
            Some(id) => Step::Action(Action::Reuse {
                id: id.to_string(),
                kind: Kind::Image,
                why: format!("earlier copy {id} in {region}: reused"),
            }),
            None => Step::Procedure(Procedure::CopyImage {
                id: Target::Planned(source.id.clone()),
                source: source.id.clone(),
                region: region.clone(),
                why: format!("`{}` is not in {region} yet", source.name),
            }),
        });
        destinations.push(Destination {
            kms_key: kms_keys.get(&region).cloned(),
            region,
            existing: existing.map(String::from),
        });
    }
    let facts = Copying { source, source_region: source_region.to_string(), destinations };
    Ok(change::Plan { actions, warnings: Vec::new(), facts })
}

/// Reads the source (in `source`'s region) and, in every region of `to`, the AMI holding its
/// name (AMI names are unique per region), then plans.
pub async fn prepare(
    source: &Aws,
    options: &AwsOptions,
    ami: &AmiId,
    to: &[String],
    kms_keys: &BTreeMap<String, String>,
) -> Result<change::Plan<Copying, Step>> {
    let image = inventory::own_images_by_id(source, std::slice::from_ref(ami)).await?.remove(0);
    let holders = to.iter().map(|region| {
        let name = &image.name;
        async move {
            if region == source.region() {
                return Ok((region.clone(), None));
            }
            let aws = connect(options, region).await?;
            Ok::<_, Error>((region.clone(), register::holder(&aws, name).await?))
        }
    });
    let holders = try_join_all(holders).await?;
    plan(image, source.region(), holders, kms_keys)
}

async fn connect(options: &AwsOptions, region: &str) -> Result<Aws> {
    Aws::connect(&AwsOptions { region: Some(region.to_string()), ..options.clone() }).await
}

/// Copies to every region the plan says, all at once, and waits until all copies are
/// available: one outcome per region, a new copy's carrying its id; a region that fails does
/// not stop the others. `progress` counts regions done.
pub async fn copy(
    options: &AwsOptions,
    plan: &change::Plan<Copying, Step>,
    progress: &dyn Progress,
) -> Applied<(), Step> {
    let facts = &plan.facts;
    let done = Counter::start(progress, facts.destinations.len() as u64, Unit::Items);
    let copies = plan.actions.iter().zip(&facts.destinations).map(|(action, destination)| {
        let done = &done;
        async move {
            let outcome = match action {
                Step::Procedure(Procedure::CopyImage { source, region, why, .. }) => {
                    match copy_into(options, facts, destination).await {
                        Ok(id) => Outcome {
                            action: Step::Procedure(Procedure::CopyImage {
                                id: Target::Made(AmiId::from_aws(id)),
                                source: source.clone(),
                                region: region.clone(),
                                why: why.clone(),
                            }),
                            status: Status::Done,
                        },
                        Err(e) => Outcome { action: action.clone(), status: Status::Failed((&e).into()) },
                    }
                }
                reused => Outcome { action: reused.clone(), status: Status::Reused },
            };
            done.add(1);
            outcome
        }
    });
    join_all(copies).await.into()
}

/// One copy, started and waited for; its id.
async fn copy_into(options: &AwsOptions, facts: &Copying, destination: &Destination) -> Result<String> {
    let aws = connect(options, &destination.region).await?;
    let id = copy_one(&aws, &facts.source_region, &facts.source, destination.kms_key.as_ref()).await?;
    wait_available(&aws, &id).await?;
    Ok(id)
}

async fn copy_one(aws: &Aws, source_region: &str, image: &Image, kms_key: Option<&String>) -> Result<String> {
    // Publication marks are per region (a cluster runs the copy, not the source): not copied.
    let tags = tags::inherited(&image.tags);
    let copy = Copy {
        name: &image.name,
        description: image.description.clone(),
        tags: &tags,
        kms_key: kms_key.map(String::as_str),
    };
    let id = start(aws, image, source_region, &copy).await?;
    tracing::info!(%id, region = aws.region(), source = %image.id, "copy started");
    Ok(id)
}

/// What one CopyImage makes of its source.
pub(super) struct Copy<'a> {
    pub name: &'a str,
    pub description: Option<String>,
    /// On the copy and its snapshots.
    pub tags: &'a Tags,
    pub kms_key: Option<&'a str>,
}

/// Starts one CopyImage of `source` (in `source_region`) into `aws`'s region: the copy's id,
/// available later (`wait_available`). Its ClientToken (`client_token`) makes a retry find the
/// copy the first attempt started.
pub(super) async fn start(aws: &Aws, source: &Image, source_region: &str, copy: &Copy<'_>) -> Result<String> {
    let token = client_token(source, source_region, aws.region(), copy.kms_key, copy.tags);
    let output = aws
        .ec2()
        .copy_image()
        .source_image_id(&source.id)
        .source_region(source_region)
        .name(copy.name)
        .set_description(copy.description.clone())
        .client_token(&token)
        .set_encrypted(copy.kms_key.map(|_| true))
        .set_kms_key_id(copy.kms_key.map(str::to_string))
        .tag_specifications(tagging::specification(ResourceType::Image, copy.tags))
        .tag_specifications(tagging::specification(ResourceType::Snapshot, copy.tags))
        .send()
        .await
        .map_err(|e| match aws.error("CopyImage", Service::Ec2, e) {
            e if e.code() == Some("IdempotentParameterMismatch") => {
                Error::TokenReused { operation: "CopyImage", token: token.clone() }
            }
            e => e,
        })?;
    Ok(output.image_id().unwrap_or_default().to_string())
}

/// Waits until the copy `id` is available: the copy as it then is. Right after CopyImage EC2 may
/// not list it yet (eventual consistency): absent is "not yet".
pub(super) async fn wait_available(aws: &Aws, id: &str) -> Result<Image> {
    let what = format!("the copy {id} in {} to become available", aws.region());
    poll::until(aws.interruption(), &what, poll::REGION_COPY, WAIT_TIMEOUT, || async {
        match inventory::any_images_by_id(aws, &[id.to_string()]).await?.into_iter().next() {
            Some(image) if image.state == ImageState::Available => Ok(Some(image)),
            Some(image) if image.state.failed() => Err(Error::ImageFailed { id: id.to_string() }),
            _ => Ok(None),
        }
    })
    .await
}

/// `REGION=KEY` pairs of `--kms-key`.
pub fn parse_kms_keys(pairs: &[String]) -> Result<BTreeMap<String, String>> {
    pairs
        .iter()
        .map(|pair| match pair.split_once('=') {
            Some((region, key)) if !region.is_empty() && !key.is_empty() => {
                Ok((region.to_string(), key.to_string()))
            }
            _ => Err(Error::InvalidKmsKey(pair.clone())),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::change::Planned;

    #[test]
    fn tokens_follow_every_parameter_of_the_copy_and_stay_within_the_limit() {
        let image = crate::aws::inventory::tests::image("ami-0123456789abcdef0", "2026-11-25", &[]);
        let tags = Tags::from([(tags::RELEASE.to_string(), "gio-node-7".to_string())]);
        let token = client_token(&image, "eu-west-1", "ap-southeast-5", None, &tags);
        assert_eq!(
            token,
            client_token(&image, "eu-west-1", "ap-southeast-5", None, &tags),
            "a retry sends the same"
        );
        assert!(token.len() <= CLIENT_TOKEN_MAX && token.is_ascii(), "{token}");
        let renamed = Image { name: "gio-node-8".into(), ..image.clone() };
        let others = [
            client_token(&image, "eu-west-1", "eu-west-2", None, &tags),
            client_token(&image, "eu-west-3", "ap-southeast-5", None, &tags),
            client_token(&image, "eu-west-1", "ap-southeast-5", Some("alias/a"), &tags),
            client_token(&image, "eu-west-1", "ap-southeast-5", Some("alias/b"), &tags),
            client_token(&image, "eu-west-1", "ap-southeast-5", None, &Tags::new()),
            client_token(&renamed, "eu-west-1", "ap-southeast-5", None, &tags),
        ];
        for (n, other) in others.iter().enumerate() {
            assert_ne!(&token, other, "parameter set {n}");
            assert!(!others[..n].contains(other), "parameter set {n}");
        }
    }

    #[test]
    fn a_copy_plan_copies_where_missing_and_reuses_earlier_copies_and_the_source() {
        let mut source = crate::aws::inventory::tests::image("ami-0000000a", "2026-01-01", &[]);
        source.tags.insert(tags::RELEASE.into(), "r1".into());
        let mut earlier = crate::aws::inventory::tests::image("ami-0000000b", "2026-01-01", &[]);
        earlier.tags.insert(tags::RELEASE.into(), "r1".into());
        let holders = vec![
            ("eu-west-1".to_string(), None),
            ("us-east-1".to_string(), Some(earlier.clone())),
            ("ap-southeast-2".to_string(), None),
        ];
        let keys = BTreeMap::from([("ap-southeast-2".to_string(), "alias/k".to_string())]);
        let plan = plan(source.clone(), "eu-west-1", holders, &keys).unwrap();
        let verbs: Vec<(&str, &str)> = plan.actions.iter().map(|a| (a.verb(), a.id())).collect();
        assert_eq!(verbs, [("reuse", "ami-0000000a"), ("reuse", "ami-0000000b"), ("copy", "ami-0000000a")]);
        assert_eq!(plan.actions[1].why(), "earlier copy ami-0000000b in us-east-1: reused");
        assert_eq!(plan.facts.destinations[2].kms_key.as_deref(), Some("alias/k"));

        earlier.tags.insert(tags::RELEASE.into(), "r0".into());
        let err = super::plan(source, "eu-west-1", vec![("us-east-1".to_string(), Some(earlier))], &keys)
            .unwrap_err();
        assert!(err.to_string().contains("ami-0000000b"), "{err}");
    }

    #[test]
    fn kms_keys_are_region_equals_key() {
        let keys = parse_kms_keys(&["us-east-1=alias/ami".into()]).unwrap();
        assert_eq!(keys.get("us-east-1").map(String::as_str), Some("alias/ami"));
        assert!(parse_kms_keys(&["alias/ami".into()]).is_err());
    }
}
