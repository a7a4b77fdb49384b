//! Copying a release to other regions (a cluster can only launch AMIs of its own region):
//! CopyImage into every region at once, each copy tagged like its source, then a wait until
//! all are available. Every step looks before it creates, so a re-run finds its earlier copies.

use crate::aws::tagging;
use crate::aws::{Aws, AwsOptions};
use crate::core::error::{Error, Result};
use crate::core::ids::AmiId;
use crate::aws::inventory::{self, Image, ImageState};
use crate::core::progress::{Counter, Progress, Unit};
use crate::core::tags::{self, Tags};
use aws_sdk_ec2::types::ResourceType;
use futures::future::try_join_all;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// AWS's own `image_available` waiter polls every 15 s; copies take minutes, so faster polling
/// would only spend API calls.
const POLL_INTERVAL: Duration = Duration::from_secs(15);
/// Copying a large AMI across the world can take over an hour; two bound a stuck copy.
const WAIT_TIMEOUT: Duration = Duration::from_secs(2 * 3600);
/// CopyImage caps ClientToken at 64 ASCII characters.
const CLIENT_TOKEN_MAX: usize = 64;

#[derive(Debug, Clone, Serialize)]
pub struct Copied {
    pub region: String,
    pub id: String,
    /// True when an earlier run (or the source itself, for its own region) already had it.
    pub existed: bool,
}

/// The token of one copy: AWS answers a retried CopyImage that carries an earlier token with the
/// copy that one started, and refuses the token with other parameters (IdempotentParameterMismatch).
/// So it is a digest of every parameter that shapes the copy (source, destination, name,
/// description, encryption, tags): a retry gets the same token, another copy another one.
pub fn client_token(image: &Image, source_region: &str, region: &str, kms_key: Option<&str>, tags: &Tags) -> String {
    let parameters = serde_json::json!([image.id, source_region, region, image.name, image.description, kms_key, tags]);
    let digest: String = Sha256::digest(parameters.to_string()).iter().map(|b| format!("{b:02x}")).collect();
    format!("gio-ami-copy-{digest}").chars().take(CLIENT_TOKEN_MAX).collect()
}

/// Copies `ami` (in `source`'s region) to every region of `to`, with the KMS key given for a
/// region encrypting its copy, and waits until all copies are available. `progress` counts
/// regions done.
pub async fn copy(
    source: &Aws,
    options: &AwsOptions,
    ami: &AmiId,
    to: &[String],
    kms_keys: &BTreeMap<String, String>,
    progress: &dyn Progress,
) -> Result<Vec<Copied>> {
    let image = inventory::own_images_by_id(source, std::slice::from_ref(ami)).await?.remove(0);
    let done = Counter::start(progress, to.len() as u64, Unit::Items);
    let copies = to.iter().map(|region| {
        let (image, done) = (&image, &done);
        async move {
            if region == source.region() {
                done.add(1);
                return Ok(Copied { region: region.clone(), id: image.id.clone(), existed: true });
            }
            let aws = Aws::connect(&AwsOptions { region: Some(region.clone()), ..options.clone() }).await?;
            let copied = copy_one(&aws, source.region(), image, kms_keys.get(region)).await?;
            wait_available(&aws, &copied.id).await?;
            done.add(1);
            Ok::<_, Error>(copied)
        }
    });
    try_join_all(copies).await
}

async fn copy_one(aws: &Aws, source_region: &str, image: &Image, kms_key: Option<&String>) -> Result<Copied> {
    // AMI names are unique per region: a copy with this name and release is an earlier run's.
    if let Some(existing) = inventory::own_images_named(aws, &image.name).await?.into_iter().next() {
        if existing.release() != image.release() {
            return Err(Error::NameTaken { name: image.name.clone(), id: existing.id });
        }
        if existing.state == ImageState::Disabled {
            return Err(Error::NameTakenByDisabled { name: image.name.clone(), id: existing.id });
        }
        return Ok(Copied { region: aws.region().to_string(), id: existing.id, existed: true });
    }
    // Publication marks are per region (a cluster runs the copy, not the source): not copied.
    let tags = tags::inherited(&image.tags);
    let token = client_token(image, source_region, aws.region(), kms_key.map(String::as_str), &tags);
    let output = aws
        .ec2()
        .copy_image()
        .source_image_id(&image.id)
        .source_region(source_region)
        .name(&image.name)
        .set_description(image.description.clone())
        .client_token(&token)
        .set_encrypted(kms_key.map(|_| true))
        .set_kms_key_id(kms_key.cloned())
        .tag_specifications(tagging::specification(ResourceType::Image, &tags))
        .tag_specifications(tagging::specification(ResourceType::Snapshot, &tags))
        .send()
        .await
        .map_err(|e| match aws.error("CopyImage", "ec2", e) {
            e if e.code() == Some("IdempotentParameterMismatch") => Error::TokenReused { operation: "CopyImage", token: token.clone() },
            e => e,
        })?;
    let id = output.image_id().unwrap_or_default().to_string();
    tracing::info!(%id, region = aws.region(), source = %image.id, "copy started");
    Ok(Copied { region: aws.region().to_string(), id, existed: false })
}

async fn wait_available(aws: &Aws, id: &str) -> Result<()> {
    let started = Instant::now();
    loop {
        let states = inventory::image_states(aws, &[id.to_string()]).await?;
        match states.first().map(|(_, state)| state) {
            Some(state) if *state == ImageState::Available => return Ok(()),
            Some(state) if state.failed() => return Err(Error::ImageFailed { id: id.to_string() }),
            _ if started.elapsed() > WAIT_TIMEOUT => {
                return Err(Error::WaitTimeout {
                    what: format!("the copy {id} in {} to become available", aws.region()),
                    waited: WAIT_TIMEOUT,
                })
            }
            _ => tokio::time::sleep(POLL_INTERVAL).await,
        }
    }
}

/// `REGION=KEY` pairs of `--kms-key`.
pub fn parse_kms_keys(pairs: &[String]) -> Result<BTreeMap<String, String>> {
    pairs
        .iter()
        .map(|pair| match pair.split_once('=') {
            Some((region, key)) if !region.is_empty() && !key.is_empty() => Ok((region.to_string(), key.to_string())),
            _ => Err(Error::InvalidKmsKey(pair.clone())),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_follow_every_parameter_of_the_copy_and_stay_within_the_limit() {
        let image = crate::aws::inventory::tests::image("ami-0123456789abcdef0", "2026-11-25", &[]);
        let tags = Tags::from([(tags::RELEASE.to_string(), "gio-node-7".to_string())]);
        let token = client_token(&image, "eu-west-1", "ap-southeast-5", None, &tags);
        assert_eq!(token, client_token(&image, "eu-west-1", "ap-southeast-5", None, &tags), "a retry sends the same");
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
    fn kms_keys_are_region_equals_key() {
        let keys = parse_kms_keys(&["us-east-1=alias/ami".into()]).unwrap();
        assert_eq!(keys.get("us-east-1").map(String::as_str), Some("alias/ami"));
        assert!(parse_kms_keys(&["alias/ami".into()]).is_err());
    }
}
