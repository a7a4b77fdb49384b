//! Where a verb acts: the accounts and regions of gio-ami.toml's `[accounts]` (each through its
//! role), the caller's own account without them, and the account a cluster lives in. `aws` and
//! `spec` do not know each other; this is where a spec's accounts become `org::Account`s.

use super::line::OrgArgs;
use crate::aws::org;
use crate::spec::{self, clusters};
use crate::{Aws, AwsOptions};
use std::path::Path;

/// Acting in a configured account: its role, assumed with the caller's credentials.
pub const ASSUME: &[crate::core::iam::Permission] =
    &[crate::core::iam::Permission::new(crate::core::error::Service::Sts, "AssumeRole")
        .on(crate::core::iam::Scope::AccountRoles)];

/// What gio-ami calls in a consumer account, through the role of its `[accounts]` entry
/// (`gio-ami iam-policy --reader`): the reads of history, cost and outdated, every use a guard
/// looks for, the Allowed AMIs check, and the parameter writes of publish and promote.
pub const IAM: &[&[crate::core::iam::Permission]] = &[
    crate::aws::usage::IAM,
    &crate::aws::clusters::IAM,
    &crate::aws::control_plane::IAM,
    &[
        crate::aws::inventory::DESCRIBE_IMAGES,
        crate::aws::allowed::IAM,
        crate::aws::parameters::CURRENT,
        crate::aws::parameters::HISTORY,
        crate::aws::parameters::WRITE,
    ],
];

/// The spec when the file exists; its absence is fine for commands that only read clusters
/// from it, and an unreadable or invalid spec is still an error.
pub fn optional_spec(path: &Path) -> crate::Result<Option<spec::Spec>> {
    if !path.exists() {
        return Ok(None);
    }
    Ok(Some(spec::load(path)?.spec))
}

/// The configured accounts a report reads (all, or those --account names), each in its
/// regions (or the ones --region names; `home`, the caller's, when it names none) and those of
/// its clusters.
pub fn accounts(
    spec: Option<&spec::Spec>,
    names: &[String],
    regions: &[String],
    home: &str,
) -> crate::Result<Vec<org::Account>> {
    let configured = spec.map(|s| &s.accounts);
    let known = || configured.map(|a| a.keys().cloned().collect()).unwrap_or_default();
    for name in names {
        if !configured.is_some_and(|a| a.contains_key(name)) {
            return Err(crate::spec::Error::UnknownAccount { account: name.clone(), known: known() }.into());
        }
    }
    let Some(spec) = spec else { return Ok(Vec::new()) };
    let clusters = clusters::select(Some(spec), &[], "");
    Ok(spec
        .accounts
        .iter()
        .filter(|(name, _)| names.is_empty() || names.contains(name))
        .map(|(name, account)| {
            let mut own: Vec<String> = match (regions.is_empty(), account.regions.is_empty()) {
                (false, _) => regions.to_vec(),
                (true, false) => account.regions.iter().map(|r| r.get_ref().clone()).collect(),
                (true, true) => vec![home.to_string()],
            };
            for cluster in clusters.iter().filter(|c| c.account.as_ref() == Some(name)) {
                if !own.contains(&cluster.region) {
                    own.push(cluster.region.clone());
                }
            }
            org::Account {
                name: name.clone(),
                role: account.role_arn.as_ref().map(|arn| org::Role {
                    arn: arn.get_ref().clone(),
                    external_id: account.external_id.as_ref().map(|e| e.get_ref().clone()),
                    session_name: account.session_name.as_ref().map(|s| s.get_ref().clone()),
                }),
                regions: own,
            }
        })
        .collect())
}

/// Where a report reads: every account of `[accounts]` (or those --account names), else the
/// caller's account in its region, as without any spec.
pub async fn reach(
    options: &AwsOptions,
    spec: Option<&spec::Spec>,
    args: &OrgArgs,
    regions: &[String],
) -> crate::Result<org::Org> {
    let caller = Aws::connect(options).await?;
    let accounts = accounts(spec, &args.accounts, regions, caller.region())?;
    enter(caller, &accounts, &[]).await
}

/// The configured accounts, or without them the caller's account in its region and `alone_in`.
pub async fn enter(caller: Aws, accounts: &[org::Account], alone_in: &[String]) -> crate::Result<org::Org> {
    match accounts.is_empty() {
        true => Ok(org::Org::alone(caller, alone_in)),
        false => org::Org::connect(&caller, accounts).await,
    }
}

/// The configured accounts with a role, in the region a guard acts in: where use of a shared
/// AMI is checked too. None without `[accounts]`.
pub async fn consumers(spec: &Path, aws: &Aws) -> crate::Result<org::Org> {
    let spec = optional_spec(spec)?;
    let mut accounts = accounts(spec.as_ref(), &[], &[aws.region().to_string()], aws.region())?;
    accounts.retain(|a| a.role.is_some());
    Ok(org::Org::connect_all(aws, &accounts).await)
}

/// Where a cluster is acted on: the caller's account in `region`, or for a cluster of another
/// configured account, that account (through its role) in the cluster's region, which is then
/// returned too.
pub async fn cluster_context(
    caller: &Aws,
    spec: Option<&spec::Spec>,
    cluster: &clusters::Cluster,
    region: &str,
) -> crate::Result<(Aws, Option<org::Account>)> {
    let account = accounts(spec, &[], std::slice::from_ref(&cluster.region), &cluster.region)?
        .into_iter()
        .find(|a| a.role.is_some() && cluster.account.as_ref() == Some(&a.name));
    match account {
        Some(account) => {
            let mut org = org::Org::connect(caller, std::slice::from_ref(&account)).await?;
            Ok((org.places.swap_remove(0).aws, Some(account)))
        }
        None => Ok((caller.elsewhere(region, None), None)),
    }
}

/// What a report over the configured accounts starts from: the spec (when there is one), the
/// caller in its region, and the accounts to read (all of `[accounts]`, or those --account names).
pub async fn configured(
    ctx: &super::Context<'_>,
    args: &OrgArgs,
) -> crate::Result<(Option<spec::Spec>, Aws, Vec<org::Account>)> {
    let spec = optional_spec(&args.spec)?;
    let caller = Aws::connect(&ctx.options).await?;
    let accounts = accounts(spec.as_ref(), &args.accounts, &ctx.regions, caller.region())?;
    Ok((spec, caller, accounts))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Error;

    const SPEC: &str = "[image]\nname = \"n-{k8s}\"\ncontact = \"ops@x\"\n[base]\nfamily = \"al2023\"\nkubernetes = \"1.31\"\n\
        [accounts.build]\n\
        [accounts.prod]\nrole_arn = \"arn:aws:iam::222233334444:role/gio-ami\"\nregions = [\"eu-west-1\"]\n\
        [clusters.prod-eu]\nregion = \"eu-central-1\"\naccount = \"prod\"\nssm_parameter = \"/prod/ami\"\n";

    fn spec() -> spec::Spec {
        spec::parse("gio-ami.toml", SPEC).expect("the test's spec is valid").0
    }

    #[test]
    fn each_account_reads_its_regions_and_those_of_its_clusters() {
        let accounts = accounts(Some(&spec()), &[], &[], "us-east-1").unwrap();
        let regions = |name: &str| accounts.iter().find(|a| a.name == name).map(|a| a.regions.clone());
        assert_eq!(regions("build"), Some(vec!["us-east-1".to_string()]), "no regions: the caller's");
        assert_eq!(regions("prod"), Some(vec!["eu-west-1".to_string(), "eu-central-1".to_string()]));
        let prod = accounts.iter().find(|a| a.name == "prod").unwrap();
        assert_eq!(
            prod.role.as_ref().map(|r| r.arn.as_str()),
            Some("arn:aws:iam::222233334444:role/gio-ami")
        );
    }

    #[test]
    fn region_flags_replace_the_configured_ones_and_names_narrow() {
        let asked = ["ap-south-1".to_string()];
        let accounts = accounts(Some(&spec()), &["prod".to_string()], &asked, "us-east-1").unwrap();
        assert_eq!(accounts.len(), 1);
        assert_eq!(accounts[0].regions, ["ap-south-1", "eu-central-1"]);
    }

    #[test]
    fn an_unknown_account_is_named_with_the_known_ones() {
        let err = accounts(Some(&spec()), &["staging".to_string()], &[], "us-east-1").unwrap_err();
        assert!(
            matches!(&err, Error::Spec(crate::spec::Error::UnknownAccount { account, known }) if account == "staging" && known.len() == 2),
            "{err}"
        );
        assert!(accounts(None, &["prod".to_string()], &[], "us-east-1").is_err(), "no spec knows no account");
        assert!(accounts(None, &[], &[], "us-east-1").unwrap().is_empty());
    }
}
