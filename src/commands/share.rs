//! Sharing AMIs with other accounts: the AMI's launch permission, and the createVolumePermission
//! of each of its snapshots (without which the other account can launch but not copy it, nor
//! restore its volumes). Adding a present permission or removing an absent one is a no-op in
//! AWS, so applying the same plan twice is safe.

use crate::aws::Aws;
use crate::core::error::{Error, Result};
use crate::aws::inventory::Image;
use aws_sdk_ec2::types::{LaunchPermission, LaunchPermissionModifications, OperationType};
use futures::stream::{self, TryStreamExt};
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "permission", rename_all = "snake_case")]
pub enum Change {
    Launch { ami: String, accounts: Vec<String>, add: bool },
    CreateVolume { snapshot: String, accounts: Vec<String>, add: bool },
}

/// Checks an account id as AWS would, before any call.
pub fn account(input: &str) -> Result<String> {
    if input.len() == 12 && input.bytes().all(|b| b.is_ascii_digit()) {
        Ok(input.to_string())
    } else {
        Err(Error::InvalidAccount(input.to_string()))
    }
}

/// Sharing grants the snapshots first, so that an account that sees the AMI can use it at
/// once; unsharing revokes the AMI first, so that nobody is left with an AMI they cannot use.
pub fn plan(images: &[Image], accounts: &[String], add: bool) -> Vec<Change> {
    let launch = images.iter().map(|image| Change::Launch {
        ami: image.id.clone(),
        accounts: accounts.to_vec(),
        add,
    });
    let volumes = images.iter().flat_map(|image| image.snapshot_ids()).map(|snapshot| Change::CreateVolume {
        snapshot: snapshot.to_string(),
        accounts: accounts.to_vec(),
        add,
    });
    if add {
        volumes.chain(launch).collect()
    } else {
        launch.chain(volumes).collect()
    }
}

/// Applies the changes in plan order: each run of changes of one kind side by side, the next
/// kind only once they all succeeded.
pub async fn apply(aws: &Aws, changes: &[Change]) -> Result<()> {
    let same_kind = |a: &Change, b: &Change| std::mem::discriminant(a) == std::mem::discriminant(b);
    for group in changes.chunk_by(same_kind) {
        stream::iter(group.iter().map(Ok))
            .try_for_each_concurrent(crate::change::CONCURRENCY, |change| execute(aws, change))
            .await?;
    }
    Ok(())
}

async fn execute(aws: &Aws, change: &Change) -> Result<()> {
    match change {
        Change::Launch { ami, accounts, add } => {
            let permissions: Vec<LaunchPermission> =
                accounts.iter().map(|a| LaunchPermission::builder().user_id(a).build()).collect();
            let modifications = if *add {
                LaunchPermissionModifications::builder().set_add(Some(permissions))
            } else {
                LaunchPermissionModifications::builder().set_remove(Some(permissions))
            };
            aws.ec2()
                .modify_image_attribute()
                .image_id(ami)
                .launch_permission(modifications.build())
                .send()
                .await
                .map_err(|e| aws.error("ModifyImageAttribute", "ec2", e))?;
        }
        Change::CreateVolume { snapshot, accounts, add } => {
            // OperationType + UserIds: the form of the API every EC2 implementation reads
            // (AWS takes it and the CreateVolumePermission structure alike).
            let operation = if *add { OperationType::Add } else { OperationType::Remove };
            aws.ec2()
                .modify_snapshot_attribute()
                .snapshot_id(snapshot)
                .attribute("createVolumePermission".into())
                .operation_type(operation)
                .set_user_ids(Some(accounts.clone()))
                .send()
                .await
                .map_err(|e| aws.error("ModifySnapshotAttribute", "ec2", e))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::inventory::tests::image;

    #[test]
    fn snapshots_are_granted_first_and_revoked_last() {
        let images = [image("ami-0000000a", "2026-01-01", &[("/dev/xvda", "snap-0000000a", 8), ("/dev/xvdb", "snap-0000000b", 50)])];
        let accounts = vec!["111122223333".to_string()];
        let order = |changes: Vec<Change>| -> Vec<String> {
            changes
                .into_iter()
                .map(|c| match c {
                    Change::Launch { ami, .. } => ami,
                    Change::CreateVolume { snapshot, .. } => snapshot,
                })
                .collect()
        };
        assert_eq!(order(plan(&images, &accounts, true)), ["snap-0000000a", "snap-0000000b", "ami-0000000a"]);
        assert_eq!(order(plan(&images, &accounts, false)), ["ami-0000000a", "snap-0000000a", "snap-0000000b"]);
    }

    #[test]
    fn account_ids_are_twelve_digits() {
        assert!(account("111122223333").is_ok());
        for bad in ["11112222333", "1111-2222-3333", "alice"] {
            assert!(account(bad).unwrap_err().to_string().contains("12 digits"), "{bad}");
        }
    }
}
