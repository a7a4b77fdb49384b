//! Sharing AMIs with other accounts: the AMI's launch permission, and the createVolumePermission
//! of each of its snapshots (without which the other account can launch but not copy it, nor
//! restore its volumes). Organizations and OUs get the launch permission only: snapshots have no
//! such permission, and AWS lets their members' launches read the snapshots. Adding a present
//! permission or removing an absent one is a no-op in AWS, so applying the same plan twice is
//! safe.

pub use crate::aws::inventory::Grantees;
use crate::aws::inventory::Image;
use crate::change::{Action, Plan};
use crate::core::ids::SnapshotId;
use crate::error::{Error, Result};
use schemars::JsonSchema;
use serde::Serialize;

/// Who the plan shares with, and whether it grants or revokes.
#[derive(Debug, Clone, Default, Serialize, JsonSchema)]
pub struct Sharing {
    #[serde(flatten)]
    pub with: Grantees,
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

/// Checks an organization ARN as EC2 takes it: "You'll get an error if you specify only the
/// ID" (the shapes EC2 Image Builder documents for the same launch permissions).
pub fn organization(input: &str) -> Result<String> {
    let id = org_arn_tail(input, "organization/").filter(|id| org_id(id));
    id.map(|_| input.to_string())
        .ok_or_else(|| Error::InvalidOrgArn { input: input.to_string(), kind: "organization" })
}

/// Checks an OU ARN: `arn:aws:organizations::ACCOUNT:ou/o-ID/ou-ROOT-ID`.
pub fn unit(input: &str) -> Result<String> {
    let ok = org_arn_tail(input, "ou/").and_then(|rest| rest.split_once('/')).is_some_and(|(org, ou)| {
        let parts: Vec<&str> = ou.strip_prefix("ou-").map(|p| p.split('-').collect()).unwrap_or_default();
        org_id(org)
            && matches!(parts.as_slice(), [root, id] if (4..=32).contains(&root.len()) && (8..=32).contains(&id.len())
                && [root, id].iter().all(|p| p.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())))
    });
    ok.then(|| input.to_string())
        .ok_or_else(|| Error::InvalidOrgArn { input: input.to_string(), kind: "organizational unit" })
}

/// What follows `arn:aws[-partition]:organizations::ACCOUNT:` and `resource`.
fn org_arn_tail<'a>(input: &'a str, resource: &str) -> Option<&'a str> {
    let rest = input.strip_prefix("arn:aws")?;
    let (partition, rest) = rest.split_once(":organizations::")?;
    let (account, rest) = rest.split_once(':')?;
    (partition.is_empty() || partition.starts_with('-')).then_some(())?;
    (account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit())).then_some(())?;
    rest.strip_prefix(resource)
}

/// `o-` then 10 to 32 lowercase letters or digits.
fn org_id(id: &str) -> bool {
    id.strip_prefix("o-").is_some_and(|s| {
        (10..=32).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    })
}

/// The permission changes: one per AMI and one per snapshot of it. Sharing lists (and
/// `change::apply` grants) the snapshots first, so that an account that sees the AMI can use it
/// at once; unsharing revokes the AMI first, so that nobody is left with an AMI they cannot use.
pub fn plan(images: &[Image], with: &Grantees, add: bool) -> Plan<Sharing> {
    let accounts = &with.accounts;
    let (launch_why, volume_why) = if add {
        ("the accounts can launch it", "the accounts can copy the AMI and restore its disks")
    } else {
        (
            "--unshare: the accounts can no longer launch it",
            "--unshare: the accounts can no longer use the AMI's disks",
        )
    };
    let launch = images.iter().map(|image| Action::ModifyLaunchPermission {
        id: image.id.clone(),
        with: with.clone(),
        add,
        why: launch_why.to_string(),
    });
    let volumes = images.iter().flat_map(|image| image.snapshot_ids()).filter(|_| !accounts.is_empty()).map(
        |snapshot| Action::ModifyCreateVolumePermission {
            id: SnapshotId::from_aws(snapshot),
            accounts: accounts.to_vec(),
            add,
            why: volume_why.to_string(),
        },
    );
    let actions = if add { volumes.chain(launch).collect() } else { launch.chain(volumes).collect() };
    let mut warnings = Vec::new();
    if add && !(with.organizations.is_empty() && with.units.is_empty()) {
        warnings.push(
            "organizations and OUs get the launch permission only (snapshots have none for them): their accounts launch the \
             AMI, and need --account to copy it or restore its disks"
                .to_string(),
        );
    }
    Plan { actions, warnings, facts: Sharing { with: with.clone(), grant: add } }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::inventory::tests::image;

    #[test]
    fn snapshots_are_granted_first_and_revoked_last() {
        let images = [image(
            "ami-0000000a",
            "2026-01-01",
            &[("/dev/xvda", "snap-0000000a", 8), ("/dev/xvdb", "snap-0000000b", 50)],
        )];
        let accounts = Grantees { accounts: vec!["111122223333".to_string()], ..Grantees::default() };
        let order = |plan: Plan<Sharing>| -> Vec<String> {
            plan.actions.iter().map(|a| a.id().to_string()).collect()
        };
        assert_eq!(order(plan(&images, &accounts, true)), ["snap-0000000a", "snap-0000000b", "ami-0000000a"]);
        assert_eq!(
            order(plan(&images, &accounts, false)),
            ["ami-0000000a", "snap-0000000a", "snap-0000000b"]
        );
    }

    #[test]
    fn a_share_plan_names_every_account_and_grants_or_revokes() {
        let images = [image("ami-0000000a", "2026-01-01", &[("/dev/xvda", "snap-0000000a", 8)])];
        let accounts = Grantees {
            accounts: vec!["111122223333".to_string(), "444455556666".to_string()],
            ..Grantees::default()
        };
        let grant = plan(&images, &accounts, true);
        assert!(
            grant
                .actions
                .iter()
                .all(|a| a.verb() == "grant" && a.detail().ends_with("111122223333 444455556666")),
            "{:?}",
            grant.actions
        );
        assert!(grant.facts.grant);
        let revoke = plan(&images, &accounts, false);
        assert!(
            revoke.actions.iter().all(|a| a.verb() == "revoke" && a.why().starts_with("--unshare")),
            "{:?}",
            revoke.actions
        );
    }

    #[test]
    fn an_organization_or_ou_gets_the_launch_permission_only() {
        let images = [image("ami-0000000a", "2026-01-01", &[("/dev/xvda", "snap-0000000a", 8)])];
        let org = "arn:aws:organizations::111122223333:organization/o-abcdefghij".to_string();
        let with = Grantees { organizations: vec![org.clone()], ..Grantees::default() };
        let grant = plan(&images, &with, true);
        assert_eq!(grant.actions.len(), 1, "{:?}", grant.actions);
        assert_eq!(grant.actions[0].detail(), format!("launch: {org}"));
        assert!(grant.warnings[0].contains("launch permission only"));
    }

    #[test]
    fn organization_and_ou_arns_are_checked_before_any_call() {
        assert!(organization("arn:aws:organizations::111122223333:organization/o-abcdefghij").is_ok());
        assert!(unit("arn:aws:organizations::111122223333:ou/o-abcdefghij/ou-ab12-cdefgh34").is_ok());
        assert!(unit("arn:aws-us-gov:organizations::111122223333:ou/o-abcdefghij/ou-ab12-cdefgh34").is_ok());
        for bad in [
            "o-abcdefghij",
            "arn:aws:organizations::111122223333:account/o-abcdefghij",
            "arn:aws:organizations::1111:organization/o-abcdefghij",
        ] {
            assert!(organization(bad).unwrap_err().to_string().contains("arn:aws:organizations::"), "{bad}");
        }
        for bad in ["ou-ab12-cdefgh34", "arn:aws:organizations::111122223333:ou/o-abcdefghij/ou-ab12"] {
            assert!(unit(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn account_ids_are_twelve_digits() {
        assert!(account("111122223333").is_ok());
        for bad in ["11112222333", "1111-2222-3333", "alice"] {
            assert!(account(bad).unwrap_err().to_string().contains("12 digits"), "{bad}");
        }
    }
}
