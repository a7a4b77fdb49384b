//! Copying a release to other regions (a cluster can only launch AMIs of its own region):
//! CopyImage into every region at once, each copy tagged like its source, then a wait until
//! all are available. Every step looks before it creates, so a re-run finds its earlier copies.

use crate::aws::tagging;
use crate::aws::{Aws, AwsOptions};
use crate::core::error::{Error, Result};
use crate::core::ids::AmiId;
use crate::core::poll;
use crate::aws::inventory::{self, Image};
use crate::core::progress::{Counter, Progress, Unit};
use crate::core::tags;
use aws_sdk_ec2::types::ResourceType;
use futures::future::try_join_all;
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;

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

/// The same token for the same source and destination, so AWS answers a retried CopyImage with
/// the copy it already started instead of starting another.
pub fn client_token(source: &str, region: &str) -> String {
    let token = format!("gio-ami-copy-{source}-{region}");
    token.chars().take(CLIENT_TOKEN_MAX).collect()
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
        return Ok(Copied { region: aws.region().to_string(), id: existing.id, existed: true });
    }
    // Publication marks are per region (a cluster runs the copy, not the source): not copied.
    let tags = tags::inherited(&image.tags);
    let output = aws
        .ec2()
        .copy_image()
        .source_image_id(&image.id)
        .source_region(source_region)
        .name(&image.name)
        .set_description(image.description.clone())
        .client_token(client_token(&image.id, aws.region()))
        .set_encrypted(kms_key.map(|_| true))
        .set_kms_key_id(kms_key.cloned())
        .tag_specifications(tagging::specification(ResourceType::Image, &tags))
        .tag_specifications(tagging::specification(ResourceType::Snapshot, &tags))
        .send()
        .await
        .map_err(|e| aws.error("CopyImage", "ec2", e))?;
    let id = output.image_id().unwrap_or_default().to_string();
    tracing::info!(%id, region = aws.region(), source = %image.id, "copy started");
    Ok(Copied { region: aws.region().to_string(), id, existed: false })
}

async fn wait_available(aws: &Aws, id: &str) -> Result<()> {
    let what = format!("the copy {id} in {} to become available", aws.region());
    poll::until(&what, poll::REGION_COPY, WAIT_TIMEOUT, || async {
        let states = inventory::image_states(aws, &[id.to_string()]).await?;
        match states.first().map(|(_, state)| state.as_str()) {
            Some("available") => Ok(Some(())),
            Some("failed" | "invalid") => Err(Error::ImageFailed { id: id.to_string() }),
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
            Some((region, key)) if !region.is_empty() && !key.is_empty() => Ok((region.to_string(), key.to_string())),
            _ => Err(Error::InvalidKmsKey(pair.clone())),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_stable_and_within_the_limit() {
        let token = client_token("ami-0123456789abcdef0", "ap-southeast-5");
        assert_eq!(token, client_token("ami-0123456789abcdef0", "ap-southeast-5"));
        assert_ne!(token, client_token("ami-0123456789abcdef0", "eu-west-1"));
        assert!(token.len() <= CLIENT_TOKEN_MAX);
    }

    #[test]
    fn kms_keys_are_region_equals_key() {
        let keys = parse_kms_keys(&["us-east-1=alias/ami".into()]).unwrap();
        assert_eq!(keys.get("us-east-1").map(String::as_str), Some("alias/ami"));
        assert!(parse_kms_keys(&["alias/ami".into()]).is_err());
    }
}
