//! Which snapshots an AMI is made of, read exactly from its block device mappings (two calls,
//! whatever the account holds). Orphans are `aws::orphans`.

use crate::aws::inventory::{self, Image, Snapshot};
use crate::aws::Aws;
use crate::core::error::Result;
use crate::core::ids::AmiId;
use crate::core::kinds::{Reported, VolumeType};
use serde::Serialize;

/// One device of an AMI and the snapshot behind it, if that snapshot still exists.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DeviceSnapshot {
    pub device: String,
    pub snapshot_id: String,
    pub volume_type: Option<Reported<VolumeType>>,
    /// `None` when the snapshot was deleted while the AMI still maps it.
    pub snapshot: Option<Snapshot>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AmiSnapshots {
    pub image: Image,
    pub devices: Vec<DeviceSnapshot>,
}

/// The snapshots behind each AMI: DescribeImages, then DescribeSnapshots for all their ids at
/// once, so the cost does not grow with the account's snapshot count.
pub async fn behind(aws: &Aws, amis: &[AmiId]) -> Result<Vec<AmiSnapshots>> {
    let images = inventory::own_images_by_id(aws, amis).await?;
    let ids: Vec<String> = images.iter().flat_map(|image| image.snapshot_ids().map(str::to_string)).collect();
    let snapshots = inventory::snapshots_by_id(aws, &ids).await?;
    Ok(images.into_iter().map(|image| join_devices(image, &snapshots)).collect())
}

fn join_devices(image: Image, snapshots: &[Snapshot]) -> AmiSnapshots {
    let devices = image
        .mappings
        .iter()
        .filter_map(|m| {
            let snapshot_id = m.snapshot_id.clone()?;
            Some(DeviceSnapshot {
                device: m.device.clone(),
                snapshot: snapshots.iter().find(|s| s.id == snapshot_id.as_str()).cloned(),
                volume_type: m.volume_type.clone(),
                snapshot_id,
            })
        })
        .collect();
    AmiSnapshots { image, devices }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::inventory::tests::{image, snapshot};

    #[test]
    fn a_deleted_snapshot_still_shows_its_device() {
        let image = image(
            "ami-00000001",
            "2026-01-01T00:00:00.000Z",
            &[("/dev/xvda", "snap-00000001", 8), ("/dev/xvdb", "snap-00000002", 50)],
        );
        let joined = join_devices(image, &[snapshot("snap-00000002", 50)]);
        assert_eq!(joined.devices.len(), 2);
        assert!(joined.devices[0].snapshot.is_none());
        assert_eq!(joined.devices[1].snapshot.as_ref().unwrap().id, "snap-00000002");
    }
}
