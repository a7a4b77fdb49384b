//! `iam-policy`: the least IAM policy the named commands need, from each verb's declaration
//! (`VERB::IAM`), scoped to what the spec names.

use super::reach::{self, optional_spec};
use super::Context;
use crate::aws::org::Account;
use crate::core::iam::{Permission, Policy, Scoping, MANAGED_POLICY_MAX};
use crate::core::show::{Draw, Text};
use crate::engines;
use crate::error::Error;
use crate::spec::{self, Spec};
use crate::Result;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The commands the policy is for (`wipe`, `publish`, `disks`...); every command's without.
    #[arg(value_name = "COMMAND")]
    pub commands: Vec<String>,

    /// The spec whose clusters' SSM parameters, archive records and [accounts] roles scope the
    /// resources; without it, those permissions cover every parameter and role.
    #[arg(long, value_name = "FILE", default_value = spec::DEFAULT_PATH)]
    pub spec: PathBuf,

    /// The policy of an [accounts] role in a consumer account instead: the reads history,
    /// the guards and outdated make there, and the parameter writes of publish and promote.
    #[arg(long, conflicts_with_all = ["commands", "trust"])]
    pub reader: bool,

    /// The trust policy of an [accounts] role instead: CALLER_ARN (the role or user gio-ami runs
    /// as) may assume it, with the spec's external id when it sets one.
    #[arg(long, value_name = "CALLER_ARN", conflicts_with = "commands")]
    pub trust: Option<String>,
}

/// What `--output json` prints: the policy document itself.
pub type Report = Policy;
pub const JSON: super::Json = super::Json::of::<Report>();

/// None: this command calls no AWS API.
pub const IAM: &[&[crate::core::iam::Permission]] = &[];

pub async fn run(args: Args, ctx: &Context<'_>) -> Result<()> {
    let spec = optional_spec(&args.spec)?;
    let accounts = reach::accounts(spec.as_ref(), &[], &[], "")?;
    let policy = match &args.trust {
        Some(caller) => Policy::trusting(caller, external_id(&accounts)?),
        None => {
            let permissions: Vec<&Permission> = match args.reader {
                true => reach::IAM.iter().flat_map(|group| group.iter()).collect(),
                false => needed(&args.commands, spec.as_ref(), &accounts)?,
            };
            Policy::granting(permissions, &scoping(spec.as_ref(), &accounts, &ctx.regions))
        }
    };
    let size = policy.size();
    if size > MANAGED_POLICY_MAX {
        ctx.ui.warn(&[format!(
            "this policy is {size} characters without whitespace, over the {MANAGED_POLICY_MAX} IAM allows a \
             managed policy: attach it as an inline role policy (10,240), or split it by command"
        )]);
    }
    Ok(ctx.ui.show(&policy)?)
}

/// The permissions of the named commands (every command's when none is named), less the groups
/// the spec never needs: those its build does not, and assuming roles when it names none.
fn needed(
    commands: &[String],
    spec: Option<&Spec>,
    accounts: &[Account],
) -> Result<Vec<&'static Permission>> {
    let all = super::permissions();
    if let Some(unknown) = commands.iter().find(|c| !all.iter().any(|(name, _)| name == *c)) {
        let known: Vec<_> =
            all.iter().filter(|(_, iam)| !iam.is_empty()).map(|(name, _)| name.as_str()).collect();
        return Err(Error::UnknownCommand { command: unknown.clone(), known: known.join(", ") });
    }
    let mut unneeded = spec.map(engines::unneeded).unwrap_or_default();
    if spec.is_some() && accounts.iter().all(|a| a.role.is_none()) {
        unneeded.push(reach::ASSUME);
    }
    let needed: Vec<_> = all
        .into_iter()
        .filter(|(name, _)| commands.is_empty() || commands.contains(name))
        .flat_map(|(_, groups)| groups.iter())
        // Compared by value: a constant's address is not unique.
        .filter(|group| !unneeded.contains(*group))
        .flat_map(|group| group.iter())
        .collect();
    if needed.is_empty() {
        // IAM takes no policy without a statement, and these commands need none.
        return Err(Error::NoPermissionNeeded(commands.join(" ")));
    }
    Ok(needed)
}

/// What the spec names, for the permissions that can be scoped: its clusters' parameters (in
/// the account of the role each runs under) and its accounts' roles.
fn scoping(spec: Option<&Spec>, accounts: &[Account], regions: &[String]) -> Scoping {
    let Some(spec) = spec else { return Scoping::default() };
    let region = regions.first().or_else(|| spec.clusters.first().map(|c| &c.region));
    let account_of = |name: &Option<String>| {
        accounts.iter().find(|a| Some(&a.name) == name.as_ref()).and_then(Account::id).map(str::to_string)
    };
    Scoping {
        partition: region.map_or("aws", |r| Scoping::partition_of(r)).to_string(),
        // A release set's clusters have one parameter per variant.
        parameters: spec
            .clusters
            .iter()
            .flat_map(|c| {
                let (region, account) = (Some(c.region.clone()), account_of(&c.account));
                c.parameters(&spec.set())
                    .into_iter()
                    .map(move |(_, name)| (region.clone(), account.clone(), name))
            })
            .collect(),
        roles: accounts.iter().filter_map(|a| Some(a.role.as_ref()?.arn.clone())).collect(),
    }
}

/// The external id the accounts ask of the caller: one, if every account that sets one sets the
/// same; several differ per role, so each role's trust policy needs its own run.
fn external_id(accounts: &[Account]) -> Result<Option<&str>> {
    let mut ids: Vec<&str> =
        accounts.iter().filter_map(|a| a.role.as_ref()?.external_id.as_deref()).collect();
    ids.sort_unstable();
    ids.dedup();
    match ids.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(one)),
        _ => Err(Error::ExternalIds(ids.iter().map(|id| id.to_string()).collect())),
    }
}

impl Text for Policy {
    fn text(&self, _: &dyn Draw) -> String {
        // The document is what people paste into a console or a Terraform file: JSON either way.
        serde_json::to_string_pretty(self).map_or_else(|e| e.to_string(), |json| json + "\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(text: &str) -> Spec {
        crate::spec::parse("gio-ami.toml", text).unwrap().0
    }

    #[test]
    fn every_declared_action_is_one_action_of_its_service() {
        for (verb, groups) in super::super::permissions() {
            for permission in groups.iter().flat_map(|group| group.iter()) {
                let action = permission.action;
                assert!(
                    !action.is_empty() && action.chars().all(|c| c.is_ascii_alphanumeric()),
                    "{verb}: `{}` is not one action",
                    permission.name()
                );
                assert!(
                    action.starts_with(|c: char| c.is_ascii_uppercase()),
                    "{verb}: {}",
                    permission.name()
                );
            }
        }
    }

    #[test]
    fn the_spec_scopes_parameters_to_its_clusters_and_roles_to_its_accounts() {
        let spec = spec(
            "[image]\nname = \"n\"\n[base]\nami = \"ami-12345678\"\n\
             [accounts.build]\n[accounts.prod]\nrole_arn = \"arn:aws:iam::222233334444:role/gio-ami-reader\"\n\
             [clusters.staging]\nregion = \"eu-west-1\"\nssm_parameter = \"/gio/staging/node-ami\"\n\
             [clusters.prod]\naccount = \"prod\"\nregion = \"cn-north-1\"\nssm_parameter = \"/gio/prod/node-ami\"\n",
        );
        let accounts = reach::accounts(Some(&spec), &[], &[], "").unwrap();
        let scoped = scoping(Some(&spec), &accounts, &[]);
        assert_eq!(
            scoped.parameters,
            [
                (Some("cn-north-1".into()), Some("222233334444".into()), "/gio/prod/node-ami".into()),
                (Some("eu-west-1".into()), None, "/gio/staging/node-ami".into()),
            ]
        );
        assert_eq!(scoped.roles, ["arn:aws:iam::222233334444:role/gio-ami-reader"]);
        assert_eq!(scoped.partition, "aws-cn", "the first cluster's region, without --region");
        assert_eq!(scoping(Some(&spec), &accounts, &["eu-west-1".into()]).partition, "aws");
        assert_eq!(scoping(None, &[], &[]), Scoping::default());
    }

    #[test]
    fn a_spec_without_roles_or_ssm_leaves_those_permissions_out() {
        let names = |spec: Option<&Spec>| -> Vec<String> {
            let accounts = reach::accounts(spec, &[], &[], "").unwrap();
            needed(&["build".into(), "images".into()], spec, &accounts)
                .unwrap()
                .iter()
                .map(|p| p.name())
                .collect()
        };
        let without = names(None);
        assert!(without.contains(&"sts:AssumeRole".into()) && without.contains(&"ec2:AttachVolume".into()));
        let native = spec("[image]\nname = \"n\"\n[base]\nami = \"ami-12345678\"\n");
        let with = names(Some(&native));
        assert!(!with.contains(&"sts:AssumeRole".into()), "no [accounts] role: {with:?}");
        assert!(!with.contains(&"ec2:AttachVolume".into()), "Packer's are not the native engine's");
        assert!(!with.contains(&"ssm:SendCommand".into()), "provisioned by user data");
        assert!(!with.contains(&"iam:PassRole".into()), "no instance profile");
        assert!(with.contains(&"ec2:RunInstances".into()));
    }

    #[test]
    fn a_command_without_aws_calls_or_unknown_is_refused() {
        assert!(matches!(needed(&["check".into()], None, &[]), Err(Error::NoPermissionNeeded(_))));
        assert!(matches!(needed(&["wipes".into()], None, &[]), Err(Error::UnknownCommand { .. })));
    }
}
