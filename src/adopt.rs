//! Adopting AMIs built elsewhere (an old pipeline, the console, Packer): the `gio-ami:*` release
//! tags are written onto the AMI and its snapshots, after which history, publish and cost treat
//! it like a release gio-ami built.

use crate::aws::Aws;
use crate::error::Result;
use crate::ids::AmiId;
use crate::inventory::{self, Image};
use crate::tags::{self, Tags};
use serde::Serialize;

/// What the adopter says about the AMIs; anything left out keeps the AMI's own value.
#[derive(Debug, Clone, Default)]
pub struct Adoption {
    /// Release name; the AMI's name when absent.
    pub release: Option<String>,
    pub description: Option<String>,
    pub contact: Option<String>,
    pub author: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Adopted {
    pub id: String,
    pub release: String,
    /// The snapshots that got the same tags.
    pub snapshots: Vec<String>,
    pub tags: Tags,
}

/// The release tags for `image`. Tags it already carries win over defaults (re-adopting keeps
/// the first date) but not over what the adopter says now.
pub fn tags_for(image: &Image, adoption: &Adoption) -> Tags {
    let existing = |key: &str| image.tags.get(key).cloned();
    let mut tags = Tags::new();
    let mut set = |key: &str, value: Option<String>| {
        if let Some(value) = value.filter(|v| !v.is_empty()) {
            tags.insert(key.to_string(), value);
        }
    };
    set(tags::RELEASE, adoption.release.clone().or_else(|| existing(tags::RELEASE)).or_else(|| Some(image.name.clone())));
    set(tags::CREATED_AT, existing(tags::CREATED_AT).or_else(|| image.created.clone()));
    set(tags::AUTHOR, adoption.author.clone().or_else(|| existing(tags::AUTHOR)));
    set(tags::CONTACT, adoption.contact.clone().or_else(|| existing(tags::CONTACT)));
    set(
        tags::DESCRIPTION,
        adoption.description.clone().or_else(|| existing(tags::DESCRIPTION)).or_else(|| image.description.clone()),
    );
    tags
}

/// Tags each AMI and its snapshots, one CreateTags call per AMI (CreateTags is idempotent: a
/// re-run rewrites the same values).
pub async fn adopt(aws: &Aws, amis: &[AmiId], adoption: &Adoption) -> Result<Vec<Adopted>> {
    let images = inventory::own_images_by_id(aws, amis).await?;
    let mut adopted = Vec::new();
    for image in images {
        let tags = tags_for(&image, adoption);
        let snapshots: Vec<String> = image.snapshot_ids().map(str::to_string).collect();
        aws.ec2()
            .create_tags()
            .set_resources(Some(std::iter::once(image.id.clone()).chain(snapshots.iter().cloned()).collect()))
            .set_tags(Some(tags::to_sdk(&tags)))
            .send()
            .await
            .map_err(|e| aws.error("CreateTags", "ec2", e))?;
        adopted.push(Adopted {
            id: image.id,
            release: tags.get(tags::RELEASE).cloned().unwrap_or_default(),
            snapshots,
            tags,
        });
    }
    Ok(adopted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::tests::image;

    #[test]
    fn defaults_come_from_the_ami_itself() {
        let mut ami = image("ami-0000000a", "2026-01-05T10:00:00.000Z", &[]);
        ami.description = Some("built by hand".into());
        let tags = tags_for(&ami, &Adoption { contact: Some("ops@example.org".into()), ..Adoption::default() });
        assert_eq!(tags.get(tags::RELEASE).map(String::as_str), Some("name-of-ami-0000000a"));
        assert_eq!(tags.get(tags::CREATED_AT).map(String::as_str), Some("2026-01-05T10:00:00.000Z"));
        assert_eq!(tags.get(tags::DESCRIPTION).map(String::as_str), Some("built by hand"));
        assert_eq!(tags.get(tags::CONTACT).map(String::as_str), Some("ops@example.org"));
        assert!(!tags.contains_key(tags::AUTHOR), "no author is invented");
    }

    #[test]
    fn the_adopter_overrides_but_the_first_date_stays() {
        let mut ami = image("ami-0000000a", "2026-01-05T10:00:00.000Z", &[]);
        ami.tags.insert(tags::CREATED_AT.into(), "2025-12-31T00:00:00Z".into());
        ami.tags.insert(tags::AUTHOR.into(), "old".into());
        let tags = tags_for(&ami, &Adoption { author: Some("ana".into()), release: Some("r1".into()), ..Adoption::default() });
        assert_eq!(tags.get(tags::CREATED_AT).map(String::as_str), Some("2025-12-31T00:00:00Z"));
        assert_eq!(tags.get(tags::AUTHOR).map(String::as_str), Some("ana"));
        assert_eq!(tags.get(tags::RELEASE).map(String::as_str), Some("r1"));
    }
}
