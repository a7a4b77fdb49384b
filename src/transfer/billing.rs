//! What EBS bills a snapshot for: the blocks it adds to its lineage. The first snapshot of a
//! lineage is billed for every block it holds (ListSnapshotBlocks); a later one for the blocks
//! that changed since the previous one (ListChangedBlocks). Which snapshot came before is read
//! from what the account shows: the `gio-ami:parent-snapshot` tag of an upload chain, the
//! snapshots of one volume in the order they were taken (a build's pre-snapshot before its
//! AMI's), and the own base an AMI was built from.
//! https://docs.aws.amazon.com/ebs/latest/userguide/how_snapshots_work.html

use crate::aws::inventory::{Image, Snapshot};
use crate::aws::Aws;
use crate::core::error::Service;
use crate::core::iam::Permission;
use crate::core::tags;
use crate::error::Result;
use crate::transfer::blocks::{BLOCK_SIZE, GIB};
use crate::transfer::download;
use schemars::JsonSchema;
use serde::Serialize;
use std::collections::HashMap;

/// The blocks a snapshot adds to its lineage.
pub const IAM: [Permission; 2] =
    [Permission::new(Service::Ebs, "ListSnapshotBlocks"), Permission::new(Service::Ebs, "ListChangedBlocks")];

/// The volume id of snapshots no volume made (EBS direct uploads, copies): they share no lineage
/// through it.
const NO_VOLUME: &str = "vol-ffffffff";

/// One snapshot's bill.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Billed {
    pub snapshot: String,
    /// The snapshot it is billed against; none for the first of its lineage.
    pub previous: Option<String>,
    /// The blocks it adds: changed since `previous`, or all it holds.
    pub blocks: u64,
    pub gib: f64,
    /// Every block it holds, as GiB: what the archive tier bills for it, as archiving makes it a
    /// full snapshot. Counted for the first of a lineage (its `gib`), and for a later one when
    /// asked; `None` otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub held_gib: Option<f64>,
}

/// The snapshot before each one in its lineage, for the snapshots that have one. Pure.
pub fn previous(snapshots: &[Snapshot], images: &[Image]) -> HashMap<String, String> {
    let own: HashMap<&str, &Snapshot> = snapshots.iter().map(|s| (s.id.as_str(), s)).collect();
    let mut previous = HashMap::new();
    // One volume's snapshots, oldest first: each is incremental on the one before.
    let mut volumes: HashMap<&str, Vec<&Snapshot>> = HashMap::new();
    for snapshot in snapshots {
        if let Some(volume) = snapshot.volume_id.as_deref().filter(|v| *v != NO_VOLUME) {
            volumes.entry(volume).or_default().push(snapshot);
        }
    }
    for taken in volumes.values_mut() {
        taken.sort_by(|a, b| a.started.cmp(&b.started).then_with(|| a.id.cmp(&b.id)));
        for pair in taken.windows(2) {
            previous.insert(pair[1].id.to_string(), pair[0].id.to_string());
        }
    }
    // A volume made from an own snapshot continues its lineage (another account's starts a new
    // one): the first snapshot of a build's volume is billed against the base's snapshot of the
    // same device.
    let images_by_id: HashMap<&str, &Image> = images.iter().map(|i| (i.id.as_str(), i)).collect();
    for image in images {
        let Some(base) = image.tags.get(tags::BASE_AMI).and_then(|b| images_by_id.get(b.as_str())) else {
            continue;
        };
        for mapping in &image.mappings {
            let Some(first) =
                mapping.snapshot_id.as_deref().and_then(|s| own.get(s)).map(|s| first_of_volume(s, &volumes))
            else {
                continue;
            };
            let from =
                base.mappings.iter().find(|m| m.device == mapping.device).and_then(|m| m.snapshot_id.clone());
            if let Some(from) = from.filter(|f| own.contains_key(f.as_str()) && f.as_str() != first) {
                previous.entry(first.to_string()).or_insert(from);
            }
        }
    }
    // An upload started from a parent says so, whatever the rest suggests.
    for snapshot in snapshots {
        if let Some(parent) =
            snapshot.tags.get(tags::PARENT_SNAPSHOT).filter(|p| own.contains_key(p.as_str()))
        {
            previous.insert(snapshot.id.to_string(), parent.clone());
        }
    }
    previous
}

fn first_of_volume<'a>(snapshot: &'a Snapshot, volumes: &HashMap<&str, Vec<&'a Snapshot>>) -> &'a str {
    snapshot
        .volume_id
        .as_deref()
        .and_then(|v| volumes.get(v))
        .and_then(|taken| taken.first())
        .map_or(snapshot.id.as_str(), |first| first.id.as_str())
}

/// Counts the blocks `snapshot` adds, against `previous` when it has one, and with `held` every
/// block it holds too (one more listing for a snapshot that has a previous one).
pub async fn count(aws: &Aws, snapshot: &str, previous: Option<&str>, held: bool) -> Result<Billed> {
    let all = || async { Ok::<_, crate::Error>(download::list_blocks(aws, snapshot).await?.1.len() as u64) };
    let (blocks, held) = match previous {
        None => {
            let all = all().await?;
            (all, Some(all))
        }
        Some(previous) => {
            let changed = changed_blocks(aws, previous, snapshot).await?;
            (changed, if held { Some(all().await?) } else { None })
        }
    };
    Ok(Billed {
        snapshot: snapshot.to_string(),
        previous: previous.map(str::to_string),
        blocks,
        gib: gib(blocks),
        held_gib: held.map(gib),
    })
}

fn gib(blocks: u64) -> f64 {
    (blocks * BLOCK_SIZE as u64) as f64 / GIB as f64
}

/// The blocks `second` holds that differ from `first`'s.
async fn changed_blocks(aws: &Aws, first: &str, second: &str) -> Result<u64> {
    // A block only the first holds is not stored in the second.
    let changed = download::changed_blocks(aws, first, second).await?;
    Ok(changed.iter().filter(|(_, second)| second.is_some()).count() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::inventory::tests::{image, snapshot, time};

    fn taken(id: &str, volume: &str, started: &str) -> Snapshot {
        Snapshot { volume_id: Some(volume.into()), started: Some(time(started)), ..snapshot(id, 8) }
    }

    #[test]
    fn a_lineage_is_an_upload_chain_a_volume_in_order_and_an_own_base() {
        let mut child = taken("snap-0000000c", NO_VOLUME, "2026-01-03");
        child.tags.insert(tags::PARENT_SNAPSHOT.into(), "snap-0000000b".into());
        let mut orphaned = taken("snap-0000000d", NO_VOLUME, "2026-01-04");
        orphaned.tags.insert(tags::PARENT_SNAPSHOT.into(), "snap-00000099".into());
        let snapshots = vec![
            taken("snap-0000000b", NO_VOLUME, "2026-01-02"),
            child,
            orphaned,
            // A build: the pre-snapshot, then the AMI's snapshot, of one volume.
            taken("snap-000000a2", "vol-0000000a", "2026-01-06"),
            taken("snap-000000a1", "vol-0000000a", "2026-01-05"),
        ];
        let base = image("ami-00000001", "1", &[("/dev/xvda", "snap-0000000b", 8)]);
        let mut built = image("ami-00000002", "2", &[("/dev/xvda", "snap-000000a2", 8)]);
        built.tags.insert(tags::BASE_AMI.into(), "ami-00000001".into());
        let previous = previous(&snapshots, &[base, built]);
        assert_eq!(
            previous.get("snap-0000000c").map(String::as_str),
            Some("snap-0000000b"),
            "the upload's parent"
        );
        assert_eq!(
            previous.get("snap-000000a2").map(String::as_str),
            Some("snap-000000a1"),
            "the pre-snapshot"
        );
        assert_eq!(
            previous.get("snap-000000a1").map(String::as_str),
            Some("snap-0000000b"),
            "the own base's root"
        );
        assert!(!previous.contains_key("snap-0000000b"), "a first upload starts its lineage");
        assert!(!previous.contains_key("snap-0000000d"), "a deleted parent leaves its data to the child");
        assert_eq!(previous.len(), 3);
    }

    #[test]
    fn another_accounts_base_starts_a_new_lineage() {
        let snapshots = vec![taken("snap-000000a1", "vol-0000000a", "2026-01-05")];
        let mut built = image("ami-00000002", "2", &[("/dev/xvda", "snap-000000a1", 8)]);
        built.tags.insert(tags::BASE_AMI.into(), "ami-0amazon".into());
        assert!(previous(&snapshots, &[built]).is_empty());
    }
}
