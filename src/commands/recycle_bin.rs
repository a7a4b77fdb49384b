//! `recycle-bin --retain 7d`: one retention rule for AMIs and one for snapshots, each on
//! gio-ami's tag, so that every later wipe can be undone with `restore` for that long. Looks
//! before it writes: a rule already keeping gio-ami's resources that long is left alone.

use super::{execute, Context, DryRun, Mode, Own};
use crate::aws::recycle_bin::{self, Binned, Rule};
use crate::aws::Aws;
use crate::change::{self, Action, Kind};
use crate::core::clock;
use crate::error::Result;
use schemars::JsonSchema;
use serde::Serialize;
use std::time::Duration;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// How long the Recycle Bin keeps a wiped AMI and its snapshots, in whole days (7d, 2w).
    #[arg(long, value_name = "AGE", value_parser = humantime::parse_duration)]
    pub retain: Duration,

    #[command(flatten)]
    pub dry_run: DryRun,
}

/// What `--output json` prints.
pub type Report = super::Mutation<Findings>;
pub const JSON: super::Json = super::Json::of::<Report>();

/// The IAM permissions this command's AWS calls need (`gio-ami iam-policy recycle-bin`).
pub const IAM: &[&[crate::core::iam::Permission]] =
    &[&crate::aws::recycle_bin::RULES, crate::aws::recycle_bin::WRITE_RULES];

pub async fn run(args: Args, ctx: &Context<'_>) -> Result<()> {
    let days = days(args.retain)?;
    let aws = Aws::connect(&ctx.options).await?;
    let plan = prepare(&aws, days).await?;
    let mode = Mode::adding("recycle-bin", args.dry_run.dry_run, "changed");
    execute(ctx, &aws, &plan, &mode, Own::default(), || async {
        Ok(change::apply(&aws, &plan.actions).await.into())
    })
    .await
}

/// What AWS allows for EBS snapshots and EBS-backed AMIs: "1 - 365 days" (CreateRule).
pub const DAYS: std::ops::RangeInclusive<i32> = 1..=365;

#[derive(Debug, Clone, Default, Serialize, JsonSchema)]
pub struct Findings {
    /// Every rule of the Region for AMIs and snapshots, gio-ami's or not.
    pub rules: Vec<Rule>,
}

pub type Plan = change::Plan<Findings>;

/// The retention asked for, in whole days as the rules count it.
pub fn days(retain: Duration) -> Result<i32> {
    clock::whole_days(retain, DAYS, "a Recycle Bin retention", "--retain 7d")
}

pub fn plan(rules: Vec<Rule>, days: i32) -> Plan {
    let mut plan = Plan::default();
    for binned in Binned::ALL {
        let noun = binned.noun();
        let action = match rules.iter().find(|r| r.binned == binned && r.is_gio_amis()) {
            None => Action::RetainInRecycleBin {
                id: "(new)".into(),
                binned,
                days,
                previous: None,
                why: format!("a wipe of gio-ami's {noun} can be undone for {days} days"),
            },
            Some(rule) if rule.days == days => {
                Action::Reuse { id: rule.id.clone(), kind: Kind::RetentionRule, why: format!("already keeps gio-ami's {noun} {days} days") }
            }
            Some(rule) if rule.locked => Action::Refuse {
                id: rule.id.clone(),
                kind: Kind::RetentionRule,
                why: format!(
                    "locked at {} days: a locked rule cannot change until it is unlocked and its unlock delay is over (`aws rbin unlock-rule`)",
                    rule.days
                ),
            },
            Some(rule) => Action::RetainInRecycleBin {
                id: rule.id.clone(),
                binned,
                days,
                previous: Some(rule.days),
                why: format!("a wipe of gio-ami's {noun} can be undone for {days} days"),
            },
        };
        plan.actions.push(action);
        for longer in rules.iter().filter(|r| r.binned == binned && !r.is_gio_amis() && r.days > days) {
            plan.warnings.push(format!(
                "rule {} keeps {noun} it matches {} days: where it matches, the longest rule wins",
                longer.id, longer.days
            ));
        }
    }
    if rules.is_empty() {
        plan.warnings.push(format!(
            "the first Recycle Bin rule of a Region can take up to {} minutes to become active: a wipe before then may be final (its plan says until when)",
            recycle_bin::ACTIVATION_SECS / 60
        ));
    }
    plan.facts.rules = rules;
    plan
}

pub async fn prepare(aws: &Aws, days: i32) -> Result<Plan> {
    Ok(plan(recycle_bin::rules(aws).await?, days))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::recycle_bin::{TagMatch, SCOPE_TAG};

    fn rule(id: &str, binned: Binned, days: i32, ours: bool) -> Rule {
        let include = if ours { vec![TagMatch { key: SCOPE_TAG.into(), value: None }] } else { vec![] };
        Rule {
            id: id.into(),
            binned,
            days,
            description: String::new(),
            include,
            exclude: vec![],
            available: true,
            created: None,
            locked: false,
        }
    }

    fn lines(plan: &Plan) -> Vec<String> {
        plan.actions.iter().map(|a| format!("{} {} {}", a.verb(), a.resource(), a.detail())).collect()
    }

    #[test]
    fn makes_what_is_missing_changes_what_differs_and_leaves_what_matches() {
        let first = plan(vec![], 7);
        assert_eq!(lines(&first), ["retain new rule (AMIs) 7 days", "retain new rule (snapshots) 7 days"]);
        assert!(first.warnings[0].contains("up to 30 minutes to become active"), "{:?}", first.warnings);
        let rules = vec![
            rule("img", Binned::Image, 7, true),
            rule("snap", Binned::Snapshot, 30, true),
            rule("all", Binned::Snapshot, 90, false),
        ];
        let again = plan(rules, 7);
        assert_eq!(lines(&again), ["reuse img ", "retain snap (snapshots) 30 -> 7 days"]);
        assert_eq!(again.warnings.len(), 1, "{:?}", again.warnings);
    }

    #[test]
    fn a_locked_rule_is_refused_and_odd_retentions_are_errors() {
        let mut locked = rule("img", Binned::Image, 30, true);
        locked.locked = true;
        assert!(lines(&plan(vec![locked], 7))[0].starts_with("keep img"));
        assert_eq!(days(Duration::from_secs(7 * 86_400)).unwrap(), 7);
        for bad in [Duration::from_secs(36 * 3_600), Duration::ZERO, Duration::from_secs(400 * 86_400)] {
            assert!(days(bad).is_err(), "{bad:?}");
        }
    }
}
