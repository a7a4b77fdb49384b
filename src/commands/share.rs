//! Sharing AMIs with other accounts: the AMI's launch permission, and the createVolumePermission
//! of each of its snapshots (without which the other account can launch but not copy it, nor
//! restore its volumes). Adding a present permission or removing an absent one is a no-op in
//! AWS, so applying the same plan twice is safe.

use crate::aws::inventory::Image;
use crate::change::{Action, Plan};
use crate::core::error::{Error, Result};
use serde::Serialize;

/// Who the plan shares with, and whether it grants or revokes.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Sharing {
    pub accounts: Vec<String>,
    pub grant: bool,
}

/// Checks an account id as AWS would, before any call.
pub fn account(input: &str) -> Result<String> {
    if input.len() == 12 && input.bytes().all(|b| b.is_ascii_digit()) {
        Ok(input.to_string())
    } else {
        Err(Error::InvalidAccount(input.to_string()))
    }
}

/// The permission changes: one per AMI and one per snapshot of it. Sharing lists (and
/// `change::apply` grants) the snapshots first, so that an account that sees the AMI can use it
/// at once; unsharing revokes the AMI first, so that nobody is left with an AMI they cannot use.
pub fn plan(images: &[Image], accounts: &[String], add: bool) -> Plan<Sharing> {
    let (launch_why, volume_why) = if add {
        ("the accounts can launch it", "the accounts can copy the AMI and restore its disks")
    } else {
        ("--unshare: the accounts can no longer launch it", "--unshare: the accounts can no longer use the AMI's disks")
    };
    let launch = images.iter().map(|image| Action::ModifyLaunchPermission {
        id: image.id.clone(),
        accounts: accounts.to_vec(),
        add,
        why: launch_why.to_string(),
    });
    let volumes = images.iter().flat_map(|image| image.snapshot_ids()).map(|snapshot| Action::ModifyCreateVolumePermission {
        id: snapshot.to_string(),
        accounts: accounts.to_vec(),
        add,
        why: volume_why.to_string(),
    });
    let actions = if add { volumes.chain(launch).collect() } else { launch.chain(volumes).collect() };
    Plan { actions, warnings: Vec::new(), facts: Sharing { accounts: accounts.to_vec(), grant: add } }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::inventory::tests::image;

    #[test]
    fn snapshots_are_granted_first_and_revoked_last() {
        let images = [image("ami-0000000a", "2026-01-01", &[("/dev/xvda", "snap-0000000a", 8), ("/dev/xvdb", "snap-0000000b", 50)])];
        let accounts = vec!["111122223333".to_string()];
        let order = |plan: Plan<Sharing>| -> Vec<String> { plan.actions.iter().map(|a| a.id().to_string()).collect() };
        assert_eq!(order(plan(&images, &accounts, true)), ["snap-0000000a", "snap-0000000b", "ami-0000000a"]);
        assert_eq!(order(plan(&images, &accounts, false)), ["ami-0000000a", "snap-0000000a", "snap-0000000b"]);
    }

    #[test]
    fn a_share_plan_names_every_account_and_grants_or_revokes() {
        let images = [image("ami-0000000a", "2026-01-01", &[("/dev/xvda", "snap-0000000a", 8)])];
        let accounts = vec!["111122223333".to_string(), "444455556666".to_string()];
        let grant = plan(&images, &accounts, true);
        assert!(grant.actions.iter().all(|a| a.verb() == "grant" && a.detail().ends_with("111122223333 444455556666")), "{:?}", grant.actions);
        assert!(grant.facts.grant);
        let revoke = plan(&images, &accounts, false);
        assert!(revoke.actions.iter().all(|a| a.verb() == "revoke" && a.why().starts_with("--unshare")), "{:?}", revoke.actions);
    }

    #[test]
    fn account_ids_are_twelve_digits() {
        assert!(account("111122223333").is_ok());
        for bad in ["11112222333", "1111-2222-3333", "alice"] {
            assert!(account(bad).unwrap_err().to_string().contains("12 digits"), "{bad}");
        }
    }
}
