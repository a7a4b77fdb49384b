//! Snapshots no AMI maps any more, and where each came from, read from the description EC2
//! wrote when it made the snapshot.

use crate::aws::inventory::{self, Image, Snapshot};
use crate::aws::Aws;
use crate::core::tags;
use crate::error::Result;
use schemars::JsonSchema;
use serde::Serialize;
use std::collections::HashSet;

/// Where an orphan came from, read from the description EC2 wrote when it made the snapshot.
#[derive(Debug, Clone, Serialize, JsonSchema, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Origin {
    /// `Created by CreateImage(i-…) for ami-… [from vol-…]`
    CreateImage { ami: String, instance: String, volume: Option<String> },
    /// `Copied for DestinationAmi ami-… from SourceAmi ami-… for SourceSnapshot snap-…`
    CopyImage { ami: String, source_ami: String },
    /// Anything else: a hand-made snapshot, or one registered into an AMI later.
    Unknown,
}

impl Origin {
    pub fn parse(description: &str) -> Origin {
        parse_create_image(description).or_else(|| parse_copy_image(description)).unwrap_or(Origin::Unknown)
    }

    /// The AMI the snapshot was made for, if the description names one.
    pub fn ami(&self) -> Option<&str> {
        match self {
            Origin::CreateImage { ami, .. } | Origin::CopyImage { ami, .. } => Some(ami),
            Origin::Unknown => None,
        }
    }
}

fn parse_create_image(description: &str) -> Option<Origin> {
    let rest = description.strip_prefix("Created by CreateImage(")?;
    let (instance, rest) = rest.split_once(") for ")?;
    let (ami, volume) = match rest.split_once(" from ") {
        Some((ami, volume)) => (ami, Some(volume)),
        None => (rest, None),
    };
    let ami = ami.split_whitespace().next()?;
    (instance.starts_with("i-") && ami.starts_with("ami-")).then(|| Origin::CreateImage {
        ami: ami.to_string(),
        instance: instance.to_string(),
        volume: volume
            .and_then(|v| v.split_whitespace().next())
            .filter(|v| v.starts_with("vol-"))
            .map(str::to_string),
    })
}

fn parse_copy_image(description: &str) -> Option<Origin> {
    let rest = description.strip_prefix("Copied for DestinationAmi ")?;
    let (ami, rest) = rest.split_once(" from SourceAmi ")?;
    let source_ami = rest.split_whitespace().next()?;
    Some(Origin::CopyImage { ami: ami.to_string(), source_ami: source_ami.to_string() })
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Orphan {
    pub snapshot: Snapshot,
    pub origin: Origin,
}

/// Self-owned snapshots that no self-owned AMI maps: two paginated listings, joined here.
pub async fn orphans(aws: &Aws) -> Result<Vec<Orphan>> {
    let (images, snapshots) = futures::try_join!(inventory::own_images(aws), inventory::own_snapshots(aws))?;
    Ok(find_orphans(&images, snapshots))
}

/// Snapshots no AMI maps, but for those of archived releases (`gio-ami:archived-ami`): their
/// AMI comes back with `unarchive`.
pub fn find_orphans(images: &[Image], snapshots: Vec<Snapshot>) -> Vec<Orphan> {
    let used: HashSet<&str> = images.iter().flat_map(Image::snapshot_ids).collect();
    let mut orphans: Vec<Orphan> = snapshots
        .into_iter()
        .filter(|s| !used.contains(s.id.as_str()) && !s.tags.contains_key(tags::ARCHIVED_AMI))
        .map(|snapshot| Orphan { origin: Origin::parse(&snapshot.description), snapshot })
        .collect();
    orphans.sort_by(|a, b| b.snapshot.started.cmp(&a.snapshot.started));
    orphans
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::inventory::tests::image;

    fn snapshot(id: &str, description: &str) -> Snapshot {
        let mut snapshot = inventory::tests::snapshot(id, 8);
        snapshot.description = description.into();
        snapshot
    }

    #[test]
    fn origin_of_create_image_snapshots() {
        assert_eq!(
            Origin::parse("Created by CreateImage(i-0123456789abcdef0) for ami-0fedcba9876543210"),
            Origin::CreateImage {
                ami: "ami-0fedcba9876543210".into(),
                instance: "i-0123456789abcdef0".into(),
                volume: None,
            }
        );
        assert_eq!(
            Origin::parse(
                "Created by CreateImage(i-0123456789abcdef0) for ami-0fedcba9876543210 from vol-0aaaabbbbccccdddd"
            ),
            Origin::CreateImage {
                ami: "ami-0fedcba9876543210".into(),
                instance: "i-0123456789abcdef0".into(),
                volume: Some("vol-0aaaabbbbccccdddd".into()),
            }
        );
    }

    #[test]
    fn origin_of_copies_and_the_rest() {
        let copy = Origin::parse(
            "Copied for DestinationAmi ami-11111111 from SourceAmi ami-22222222 for SourceSnapshot snap-33333333. Task created on 1,700,000,000.",
        );
        assert_eq!(copy, Origin::CopyImage { ami: "ami-11111111".into(), source_ami: "ami-22222222".into() });
        assert_eq!(copy.ami(), Some("ami-11111111"));
        for other in
            ["", "nightly backup", "Created by CreateImage(broken", "Created by CreateImage(x) for y"]
        {
            assert_eq!(Origin::parse(other), Origin::Unknown, "{other}");
        }
    }

    #[test]
    fn orphans_are_snapshots_no_image_maps() {
        let images =
            vec![image("ami-00000001", "2026-01-01T00:00:00.000Z", &[("/dev/xvda", "snap-00000001", 8)])];
        let snapshots = vec![
            snapshot("snap-00000001", "in use"),
            snapshot(
                "snap-00000002",
                "Created by CreateImage(i-00000009) for ami-00000008 from vol-00000007",
            ),
        ];
        let orphans = find_orphans(&images, snapshots);
        assert_eq!(orphans.len(), 1);
        assert_eq!(orphans[0].snapshot.id, "snap-00000002");
        assert_eq!(orphans[0].origin.ami(), Some("ami-00000008"));
    }
}
