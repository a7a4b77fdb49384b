//! `unarchive`: brings an archived release back. Its snapshots return to the standard tier
//! first (RestoreSnapshotTier: up to 72 hours), so the first run starts the restores and says
//! when they should be done; a run once they are registers the AMI again from the record
//! `archive` kept, with its name, boot settings, mappings and tags, under a new id.

use super::{execute, parse_all, Context, DryRun, Mode, Own};
use crate::aws::archive::{self, Tier};
use crate::aws::inventory::{self, Image};
use crate::aws::Aws;
use crate::change::quota::Quota;
use crate::change::{self, Action, Kind, Outcome, Procedure, Status, Target};
use crate::core::clock::Timestamp;
use crate::core::error::Service;
use crate::core::ids::{AmiId, SnapshotId};
use crate::core::tags::{self, Tags};
use crate::engines::register::{self, Step};
use crate::error::Result;
use aws_sdk_ec2::types::Tag;
use schemars::JsonSchema;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The ids the AMIs had when they were archived (ami-…), several allowed.
    #[arg(value_name = "AMI_ID", required = true)]
    pub amis: Vec<String>,

    /// Restore the snapshots for this many days only (1d to 180d, whole days); default: for good.
    #[arg(long, value_name = "AGE", value_parser = humantime::parse_duration)]
    pub temporary: Option<std::time::Duration>,

    #[command(flatten)]
    pub dry_run: DryRun,
}

/// What `--output json` prints.
pub type Report = super::Mutation<Findings, (), change::Step>;
pub const JSON: super::Json = super::Json::of::<Report>();

/// The IAM permissions this command's AWS calls need (`gio-ami iam-policy unarchive`).
pub const IAM: &[&[crate::core::iam::Permission]] = &[&[
    crate::aws::inventory::DESCRIBE_IMAGES,
    crate::aws::inventory::DESCRIBE_SNAPSHOTS,
    crate::aws::archive::TIERS,
    crate::aws::archive::READ_RECORDS,
    crate::aws::archive::DELETE_RECORD,
    crate::change::execute::UNARCHIVE,
    crate::engines::register::IAM,
    crate::aws::tagging::CREATE_TAGS,
    crate::aws::tagging::DELETE_TAGS,
]];

pub async fn run(args: Args, ctx: &Context<'_>) -> Result<()> {
    let amis = parse_all::<AmiId>(&args.amis)?;
    let temporary = args.temporary.map(days).transpose()?;
    let aws = Aws::connect(&ctx.options).await?;
    let plan = prepare(&aws, &amis, temporary).await?;
    let mode = Mode::adding("unarchive", args.dry_run.dry_run, "restored");
    execute(ctx, &aws, &plan, &mode, Own::default(), || async { Ok(apply(&aws, &plan).await?.into()) }).await
}

/// What AWS says a restore takes: "up to 72 hours".
pub const RESTORE_HOURS: u32 = 72;
/// TemporaryRestoreDays: "The allowed range is 1 - 180".
pub const TEMPORARY_DAYS: std::ops::RangeInclusive<i32> = 1..=180;

/// The temporary restore asked for, in whole days as AWS counts it.
pub fn days(temporary: std::time::Duration) -> Result<i32> {
    crate::core::clock::whole_days(temporary, TEMPORARY_DAYS, "a temporary restore", "--temporary 7d")
}

#[derive(Debug, Clone, Default, Serialize, JsonSchema)]
pub struct Findings {
    /// Archived AMI → the AMI registered again from its record (this run or an earlier one).
    pub registered: BTreeMap<String, String>,
    /// Archived AMIs whose snapshots are still coming back.
    pub waiting: Vec<String>,
    /// The records to register from, by archived AMI.
    #[serde(skip)]
    pub records: BTreeMap<String, Image>,
}

pub type Plan = change::Plan<Findings, change::Step>;

pub struct Facts<'a> {
    pub asked: &'a [String],
    pub records: &'a BTreeMap<String, Image>,
    /// The tier of each record's snapshot that still exists.
    pub tiers: &'a HashMap<String, Tier>,
    /// Every AMI of the account.
    pub images: &'a [Image],
    pub temporary_days: Option<i32>,
    pub now: i64,
    /// Restores from the archive in progress in the account, this release's included: AWS's quota
    /// counts them all.
    pub restoring: usize,
}

pub fn plan(facts: &Facts<'_>) -> Plan {
    let mut plan = Plan::default();
    for ami in facts.asked {
        if let Some(again) = facts.images.iter().find(|i| i.tags.get(tags::UNARCHIVED_FROM) == Some(ami)) {
            plan.push(Action::Reuse {
                id: again.id.to_string(),
                kind: Kind::Image,
                why: format!("{ami} is registered again already"),
            });
            plan.facts.registered.insert(ami.clone(), again.id.to_string());
            if let Some(record) = facts.records.get(ami) {
                // An earlier run registered it and stopped before tidying up: this one does.
                plan.facts.records.insert(ami.clone(), record.clone());
            }
            continue;
        }
        let Some(record) = facts.records.get(ami) else {
            let (id, kind) = (ami.clone(), Kind::Image);
            plan.push(if facts.images.iter().any(|i| &i.id == ami) {
                Action::Reuse { id, kind, why: "registered, not archived: nothing to bring back".into() }
            } else {
                let why = "no archive record: gio-ami did not archive it (or it was unarchived and the new AMI deregistered)";
                Action::Refuse { id, kind, why: why.into() }
            });
            continue;
        };
        let snapshots: Vec<&str> = record.snapshot_ids().collect();
        let lost: Vec<&str> = snapshots.iter().copied().filter(|s| !facts.tiers.contains_key(*s)).collect();
        if !lost.is_empty() {
            plan.push(Action::Refuse {
                id: ami.clone(),
                kind: Kind::Image,
                why: format!("cannot come back: its snapshot(s) {} are gone", lost.join(", ")),
            });
            continue;
        }
        let mut ready = true;
        // The latest a restore under way (or started now) can end: what the user waits for.
        let mut back_by: Option<i64> = None;
        let restore_hours = i64::from(RESTORE_HOURS) * 3_600;
        for snapshot in snapshots {
            match &facts.tiers[snapshot] {
                Tier::Archived => {
                    ready = false;
                    back_by = back_by.max(Some(facts.now + restore_hours));
                    plan.push(Action::RestoreFromArchive {
                        id: SnapshotId::from_aws(snapshot),
                        temporary_days: facts.temporary_days,
                        why: format!("of {ami}; AWS takes 24 to {RESTORE_HOURS} hours"),
                    });
                }
                Tier::Archiving => {
                    ready = false;
                    plan.push(Action::Refuse {
                        id: snapshot.into(),
                        kind: Kind::Snapshot,
                        why: "still being archived: AWS restores it once that is done; run again later"
                            .into(),
                    });
                }
                Tier::Restoring { since } => {
                    ready = false;
                    let started = since.as_ref().map_or(facts.now, Timestamp::epoch);
                    back_by = back_by.max(Some(started + restore_hours));
                    let since = since.as_ref().map_or(String::new(), |s| format!(" since {s}"));
                    plan.push(Action::Reuse {
                        id: snapshot.into(),
                        kind: Kind::Snapshot,
                        why: format!("coming back from the archive{since} (up to {RESTORE_HOURS} hours)"),
                    });
                }
                Tier::Standard | Tier::Restored { .. } => {}
            }
        }
        if ready {
            plan.push(Procedure::RegisterImage {
                id: Target::Planned(record.name.clone()),
                name: record.name.clone(),
                parent: ami.clone(),
                why: format!("{ami} again, from {}: its snapshots are back", archive::record_name(ami)),
            });
            plan.facts.records.insert(ami.clone(), record.clone());
            if facts.tiers.values().any(|t| matches!(t, Tier::Restored { until: Some(_) })) {
                plan.warnings.push(format!("{ami}: its snapshots are restored for a while only; the AMI stops launching when they return to the archive"));
            }
        } else {
            plan.facts.waiting.push(ami.clone());
            let by = back_by
                .map_or(String::new(), |t| format!(", by {} at the latest", crate::core::clock::rfc3339(t)));
            plan.warnings.push(format!(
                "{ami}: its snapshots come back within {RESTORE_HOURS} hours{by}; run `gio-ami unarchive {ami}` again then to register it"
            ));
        }
    }
    plan.warnings.extend(change::quota::pace(
        &mut plan.actions,
        |a| matches!(a, change::Step::Action(Action::RestoreFromArchive { .. })),
        &Quota {
            what: "restores from the archive",
            most: archive::RESTORES_AT_ONCE,
            in_progress: facts.restoring,
        },
        "run `gio-ami unarchive` again once restores in progress complete, to start them",
    ));
    plan
}

pub async fn prepare(aws: &Aws, amis: &[AmiId], temporary_days: Option<i32>) -> Result<Plan> {
    let asked = crate::core::ids::distinct(amis);
    let (images, records) = futures::try_join!(inventory::own_images(aws), archive::records(aws, &asked))?;
    let snapshots: Vec<String> =
        records.values().flat_map(|r| r.snapshot_ids().map(str::to_string)).collect();
    let existing: HashSet<String> =
        inventory::snapshots_by_id(aws, &snapshots).await?.into_iter().map(|s| s.id.to_string()).collect();
    let (mut tiers, in_flight) =
        futures::try_join!(archive::tiers(aws, &snapshots), archive::in_flight(aws))?;
    tiers.retain(|id, _| existing.contains(id));
    Ok(plan(&Facts {
        asked: &asked,
        records: &records,
        tiers: &tiers,
        images: &images,
        temporary_days,
        now: crate::core::clock::now_epoch(),
        restoring: in_flight.restores,
    }))
}

/// Starts the restores, registers what is ready, then removes the snapshots' marks and, last,
/// the record of every AMI that is registered again: a run stopped in between still finds the
/// record, and finishes.
pub async fn apply(aws: &Aws, plan: &Plan) -> Result<Vec<Outcome<change::Step>>> {
    let (others, registrations) = change::split(&plan.actions);
    let mut outcomes: Vec<Outcome<change::Step>> =
        change::apply(aws, &others).await.into_iter().map(Outcome::into_step).collect();
    let mut done: Vec<String> =
        plan.facts.records.keys().filter(|ami| plan.facts.registered.contains_key(*ami)).cloned().collect();
    for procedure in registrations {
        let Procedure::RegisterImage { parent: ami, name, why, .. } = procedure else { continue };
        let record = &plan.facts.records[&ami];
        let mut tags: Tags = record
            .tags
            .iter()
            .filter(|(k, _)| !k.starts_with("aws:"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        tags.insert(tags::UNARCHIVED_FROM.to_string(), ami.clone());
        let step = Step {
            name: name.clone(),
            release: record.tags.get(tags::RELEASE).cloned().unwrap_or_else(|| name.clone()),
            description: record.description.clone().unwrap_or_default(),
            adds: vec![],
            mappings: record.mappings.clone(),
        };
        let registered = register::register_once(aws, record, &step, &tags, |i| {
            i.tags.get(tags::UNARCHIVED_FROM) == Some(&ami)
        })
        .await;
        let (id, status) = match registered {
            Ok((id, again)) => {
                done.push(ami.clone());
                (Target::Made(AmiId::from_aws(id)), if again { Status::Reused } else { Status::Done })
            }
            Err(e) => (Target::Planned(name.clone()), Status::Failed((&e).into())),
        };
        let action = Procedure::RegisterImage { id, name, parent: ami.clone(), why };
        outcomes.push(Outcome { action: action.into(), status });
    }
    for ami in &done {
        let record = &plan.facts.records[ami];
        let snapshots: Vec<String> = record.snapshot_ids().map(str::to_string).collect();
        aws.ec2()
            .delete_tags()
            .set_resources(Some(snapshots))
            .tags(Tag::builder().key(tags::ARCHIVED_AMI).build())
            .send()
            .await
            .map_err(|e| aws.error("DeleteTags", Service::Ec2, e))?;
        archive::delete_record(aws, ami).await?;
    }
    Ok(outcomes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::inventory::tests::image;
    use crate::change::Planned;

    fn lines(plan: &Plan) -> Vec<String> {
        plan.actions.iter().map(|a| format!("{} {} {}", a.verb(), a.id(), a.detail())).collect()
    }

    #[test]
    fn archived_snapshots_are_restored_first_and_the_ami_registered_once_they_are_back() {
        let record =
            image("ami-old", "2026-01-01", &[("/dev/xvda", "snap-r", 8), ("/dev/xvdb", "snap-d", 50)]);
        let records = BTreeMap::from([("ami-old".to_string(), record.clone())]);
        let asked = ["ami-old".to_string()];
        let tiers = HashMap::from([
            ("snap-r".to_string(), Tier::Archived),
            ("snap-d".to_string(), Tier::Restoring { since: None }),
        ]);
        let first = plan(&Facts {
            asked: &asked,
            records: &records,
            tiers: &tiers,
            images: &[],
            temporary_days: Some(7),
            now: 0,
            restoring: 0,
        });
        assert_eq!(lines(&first), ["unarchive snap-r for 7 days", "reuse snap-d "]);
        assert_eq!(first.facts.waiting, ["ami-old"]);
        assert!(
            first.warnings[0]
                .contains("by 1970-01-04T00:00:00Z at the latest; run `gio-ami unarchive ami-old` again"),
            "{:?}",
            first.warnings
        );

        let back =
            HashMap::from([("snap-r".to_string(), Tier::Standard), ("snap-d".to_string(), Tier::Standard)]);
        let second = plan(&Facts {
            asked: &asked,
            records: &records,
            tiers: &back,
            images: &[],
            temporary_days: None,
            now: 0,
            restoring: 0,
        });
        assert_eq!(lines(&second), [format!("register {} from ami-old", record.name)]);

        let mut again = image("ami-new", "2026-02-01", &[("/dev/xvda", "snap-r", 8)]);
        again.tags.insert(tags::UNARCHIVED_FROM.into(), "ami-old".into());
        let third = plan(&Facts {
            asked: &asked,
            records: &BTreeMap::new(),
            tiers: &back,
            images: &[again],
            temporary_days: None,
            now: 0,
            restoring: 0,
        });
        assert_eq!(lines(&third), ["reuse ami-new "]);
    }

    #[test]
    fn no_record_or_a_lost_snapshot_is_refused_and_a_registered_ami_is_left_alone() {
        let record = image("ami-old", "2026-01-01", &[("/dev/xvda", "snap-gone", 8)]);
        let records = BTreeMap::from([("ami-old".to_string(), record)]);
        let asked: Vec<String> = ["ami-old", "ami-never", "ami-live"].map(String::from).to_vec();
        let live = image("ami-live", "2026-01-01", &[("/dev/xvda", "snap-l", 8)]);
        let plan = plan(&Facts {
            asked: &asked,
            records: &records,
            tiers: &HashMap::new(),
            images: &[live],
            temporary_days: None,
            now: 0,
            restoring: 0,
        });
        assert_eq!(lines(&plan), ["REFUSE ami-old ", "REFUSE ami-never ", "reuse ami-live "]);
        assert!(plan.actions[0].why().contains("snap-gone are gone"));
    }

    #[test]
    fn past_the_quota_of_restores_in_progress_the_rest_is_queued_and_the_ami_waits() {
        let record =
            image("ami-old", "2026-01-01", &[("/dev/xvda", "snap-r", 8), ("/dev/xvdb", "snap-d", 50)]);
        let records = BTreeMap::from([("ami-old".to_string(), record)]);
        let asked = ["ami-old".to_string()];
        let tiers =
            HashMap::from([("snap-r".to_string(), Tier::Archived), ("snap-d".to_string(), Tier::Archived)]);
        let plan = plan(&Facts {
            asked: &asked,
            records: &records,
            tiers: &tiers,
            images: &[],
            temporary_days: None,
            now: 0,
            restoring: archive::RESTORES_AT_ONCE - 1,
        });
        assert_eq!(lines(&plan), ["unarchive snap-r for good", "keep snap-d "]);
        assert!(
            plan.actions[1]
                .why()
                .starts_with("queued: AWS allows 5 snapshot restores from the archive in progress"),
            "{}",
            plan.actions[1].why()
        );
        assert_eq!(plan.facts.waiting, ["ami-old"]);
        assert!(plan.warnings.iter().any(|w| w.contains("1 snapshot(s) queued")), "{:?}", plan.warnings);
    }
}
