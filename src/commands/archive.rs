//! `archive`: moves the snapshots of releases kept only for rollback to the archive tier, which
//! costs a fraction of the standard tier. AWS archives no snapshot an AMI maps, so the AMI's
//! registration is kept first (`aws::archive`), then it is deregistered and its snapshots
//! archived; `unarchive` brings it back. The AMI passes the guards of `wipe`: nothing may use it.

use super::{execute, refuse, Context, Mode, Own, Targets};
use crate::aws::archive::{self, Tier};
use crate::aws::inventory::{self, Image};
use crate::aws::tagging;
use crate::aws::usage::{self, Usage, Use};
use crate::aws::Aws;
use crate::change::quota::Quota;
use crate::change::retire;
use crate::change::{self, Action, Kind, Outcome};
use crate::core::ids::{AmiId, SnapshotId};
use crate::core::tags::{self, Tags};
use crate::error::Result;
use futures::stream::{self, StreamExt, TryStreamExt};
use schemars::JsonSchema;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub targets: Targets,
}

/// What `--output json` prints.
pub type Report = super::Mutation<Findings>;
pub const JSON: super::Json = super::Json::of::<Report>();

/// The IAM permissions this command's AWS calls need (`gio-ami iam-policy archive`).
pub const IAM: &[&[crate::core::iam::Permission]] = &[
    crate::aws::usage::IAM,
    &[
        crate::aws::inventory::DESCRIBE_IMAGES,
        crate::aws::inventory::DESCRIBE_SNAPSHOTS,
        crate::aws::inventory::DESCRIBE_IMAGE_ATTRIBUTE,
        crate::aws::archive::READ_RECORDS,
        crate::aws::archive::WRITE_RECORD,
        crate::aws::archive::TIERS,
        crate::aws::tagging::CREATE_TAGS,
        crate::change::execute::DEREGISTER_RELEASE,
        crate::change::execute::ARCHIVE,
    ],
];

pub async fn run(args: Args, ctx: &Context<'_>) -> Result<()> {
    let aws = Aws::connect(&ctx.options).await?;
    let amis = args.targets.resolve(&aws).await?;
    let plan = prepare(&aws, &amis).await?;
    if let Some(why) = retire::refusal(&plan) {
        return refuse(ctx, &plan, why, Own::default());
    }
    let mode = Mode::taking("archive", &args.targets.apply, "archived");
    execute(ctx, &aws, &plan, &mode, Own::default(), || async { Ok(apply(&aws, &plan).await?.into()) }).await
}

/// What AWS says of the archive tier, shown with every plan that archives: "Archived snapshots
/// have a minimum retention period of 90 days"; restoring one takes "up to 72 hours".
pub const TERMS: &str = "archived snapshots are billed for at least 90 days (deleting or restoring one sooner is billed the rest), \
and bringing one back takes 24 to 72 hours (`gio-ami unarchive`)";

#[derive(Debug, Clone, Default, Serialize, JsonSchema)]
pub struct Findings {
    pub uses: Vec<Use>,
    pub unchecked: Vec<String>,
    /// AMI → the SSM parameter keeping its registration.
    pub records: BTreeMap<String, String>,
    /// The registrations to keep before anything is deregistered (AMIs still registered).
    #[serde(skip)]
    pub to_record: Vec<Image>,
}

pub type Plan = change::Plan<Findings>;

pub struct Facts<'a> {
    pub targets: &'a [String],
    /// Every AMI of the account: another may map a target's snapshot.
    pub images: &'a [Image],
    /// Records already kept, for targets an earlier run deregistered.
    pub records: &'a BTreeMap<String, Image>,
    pub tiers: &'a HashMap<String, Tier>,
    pub usage: &'a Usage,
    /// Archives in progress in the account, this release's included: AWS's quota counts them all.
    pub archiving: usize,
}

pub fn plan(facts: &Facts<'_>) -> Plan {
    let mut plan = Plan {
        facts: Findings {
            uses: facts.usage.uses.clone(),
            unchecked: facts.usage.failures.clone(),
            ..Findings::default()
        },
        ..Plan::default()
    };
    let targets: std::collections::HashSet<&str> = facts.targets.iter().map(String::as_str).collect();
    for target in facts.targets {
        let refuse = |why: String| Action::Refuse { id: target.clone(), kind: Kind::Image, why };
        let registered = facts.images.iter().find(|i| &i.id == target);
        let Some(image) = registered.or_else(|| facts.records.get(target)) else {
            plan.actions.push(refuse("not in this account, and never archived by gio-ami".into()));
            continue;
        };
        let snapshots: Vec<(&str, i32)> = image
            .mappings
            .iter()
            .filter_map(|m| Some((m.snapshot_id.as_deref()?, m.size_gib.unwrap_or_default())))
            .collect();
        if let Some(image) = registered {
            let reasons = facts.usage.reasons(target);
            let shared: Vec<String> = snapshots
                .iter()
                .flat_map(|(s, _)| {
                    facts.images.iter().filter(move |i| i.id != *target && i.snapshot_ids().any(|o| o == *s))
                })
                .map(|i| i.id.to_string())
                .collect();
            let refusal = if !reasons.is_empty() {
                Some(reasons.join("; "))
            } else if let Some(why) = retire::breaks_published_set(image, facts.images, facts.usage, &targets)
            {
                Some(why)
            } else if let Some(protected) = image.protection.refusal(target) {
                Some(protected)
            } else if !shared.is_empty() {
                Some(format!(
                    "its snapshots are also mapped by {}: AWS archives no snapshot an AMI maps",
                    shared.join(", ")
                ))
            } else if snapshots.is_empty() {
                Some("it maps no EBS snapshot: nothing to archive".into())
            } else {
                None
            };
            if let Some(why) = refusal {
                plan.actions.push(refuse(why));
                continue;
            }
            if let Some(with) = facts.usage.shared.get(target) {
                plan.warnings.push(format!(
                    "{target} is shared with {}: the AMI `unarchive` registers again is not, until shared again",
                    with.join(", ")
                ));
            }
            plan.facts.to_record.push(image.clone());
            plan.actions.push(Action::DeregisterImage {
                id: AmiId::from_aws(target),
                name: image.name.clone(),
                why: format!(
                    "archived: kept in {}, its snapshots in the archive tier",
                    archive::record_name(target)
                ),
            });
        }
        plan.facts.records.insert(target.clone(), archive::record_name(target));
        for (snapshot, size_gib) in snapshots {
            let action = match facts.tiers.get(snapshot) {
                None => Action::Refuse {
                    id: snapshot.into(),
                    kind: Kind::Snapshot,
                    why: "gone: it cannot be archived".into(),
                },
                Some(Tier::Standard) => Action::ArchiveSnapshot {
                    id: SnapshotId::from_aws(snapshot),
                    size_gib,
                    why: format!("of {target}"),
                },
                Some(tier) => Action::Reuse {
                    id: snapshot.into(),
                    kind: Kind::Snapshot,
                    why: format!("already {}", tier_word(tier)),
                },
            };
            plan.actions.push(action);
        }
    }
    plan.warnings.extend(retire::usage_warnings(facts.usage));
    if plan.actions.iter().any(|a| matches!(a, Action::ArchiveSnapshot { .. })) {
        plan.warnings.push(TERMS.to_string());
    }
    plan.warnings.extend(change::quota::pace(
        &mut plan.actions,
        |a| matches!(a, Action::ArchiveSnapshot { .. }),
        &Quota { what: "archives", most: archive::ARCHIVES_AT_ONCE, in_progress: facts.archiving },
        "their AMIs are deregistered and recorded all the same; run `gio-ami archive` on them again once archives in progress complete",
    ));
    plan
}

fn tier_word(tier: &Tier) -> &'static str {
    match tier {
        Tier::Standard => "in the standard tier",
        Tier::Archiving => "being archived",
        Tier::Archived => "archived",
        Tier::Restoring { .. } => "being restored from the archive (`gio-ami unarchive` finishes it)",
        Tier::Restored { .. } => "restored from the archive for a while",
    }
}

pub async fn prepare(aws: &Aws, amis: &[AmiId]) -> Result<Plan> {
    let targets = crate::core::ids::distinct(amis);
    let images = inventory::own_images(aws).await?;
    let (present, gone): (Vec<String>, Vec<String>) =
        targets.iter().cloned().partition(|t| images.iter().any(|i| &i.id == t));
    let ids: HashSet<&str> = present.iter().map(String::as_str).collect();
    let (records, observed) = futures::join!(archive::records(aws, &gone), usage::observe_any(aws, &present));
    let records = records?;
    let snapshots: Vec<String> = images
        .iter()
        .filter(|i| ids.contains(i.id.as_str()))
        .chain(records.values())
        .flat_map(|i| i.snapshot_ids().map(str::to_string))
        .collect();
    // A snapshot DescribeSnapshots no longer lists has no tier: it is gone.
    let existing: HashSet<String> =
        inventory::snapshots_by_id(aws, &snapshots).await?.into_iter().map(|s| s.id.to_string()).collect();
    let (tiers, in_flight) = futures::try_join!(archive::tiers(aws, &snapshots), archive::in_flight(aws))?;
    let mut tiers = tiers;
    tiers.retain(|id, _| existing.contains(id));
    Ok(plan(&Facts {
        targets: &targets,
        images: &images,
        records: &records,
        tiers: &tiers,
        usage: &observed.map(|o| o.usage(&ids)).unwrap_or_default(),
        archiving: in_flight.archives,
    }))
}

/// Keeps every registration and tags each snapshot with its AMI before anything is
/// deregistered: a run stopped half-way leaves nothing `unarchive` cannot find.
pub async fn apply(aws: &Aws, plan: &Plan) -> Result<Vec<Outcome>> {
    stream::iter(&plan.facts.to_record)
        .map(|image| async move {
            archive::write_record(aws, image).await?;
            let mark = Tags::from([(tags::ARCHIVED_AMI.to_string(), image.id.to_string())]);
            tagging::create(aws, image.snapshot_ids().map(str::to_string).collect(), &mark).await
        })
        .buffer_unordered(change::CONCURRENCY)
        .try_collect::<Vec<()>>()
        .await?;
    Ok(change::apply(aws, &plan.actions).await)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::inventory::tests::image;
    use crate::aws::usage::User;
    use crate::change::retire;

    fn lines(plan: &Plan) -> Vec<String> {
        plan.actions.iter().map(|a| format!("{} {}", a.verb(), a.id())).collect()
    }

    fn tiers(pairs: &[(&str, Tier)]) -> HashMap<String, Tier> {
        pairs.iter().map(|(id, t)| (id.to_string(), t.clone())).collect()
    }

    #[test]
    fn an_unused_release_is_recorded_deregistered_and_its_snapshots_archived_with_the_terms() {
        let images =
            [image("ami-old", "2026-01-01", &[("/dev/xvda", "snap-r", 8), ("/dev/xvdb", "snap-d", 50)])];
        let tiers = tiers(&[("snap-r", Tier::Standard), ("snap-d", Tier::Standard)]);
        let targets = ["ami-old".to_string()];
        let plan = plan(&Facts {
            targets: &targets,
            images: &images,
            records: &BTreeMap::new(),
            tiers: &tiers,
            usage: &Usage::default(),
            archiving: 0,
        });
        assert_eq!(lines(&plan), ["deregister ami-old", "archive snap-r", "archive snap-d"]);
        assert_eq!(plan.facts.to_record.len(), 1);
        assert_eq!(plan.facts.records["ami-old"], "/gio-ami/archived/ami-old");
        assert!(
            plan.warnings.iter().any(|w| w.contains("90 days") && w.contains("72 hours")),
            "{:?}",
            plan.warnings
        );
    }

    #[test]
    fn one_variant_of_a_published_set_is_not_archived_alone() {
        let mut images = [
            image("ami-x", "2026-01-01", &[("/dev/xvda", "snap-x", 8)]),
            image("ami-y", "2026-01-01", &[("/dev/xvda", "snap-y", 8)]),
        ];
        for (image, arch) in images.iter_mut().zip(["x86_64", "arm64"]) {
            image.tags.insert(crate::core::tags::RELEASE.into(), "r1".into());
            image.tags.insert(crate::core::tags::ARCH.into(), arch.into());
            image.tags.insert(crate::core::tags::VARIANT.into(), "standard".into());
        }
        let tiers = tiers(&[("snap-x", Tier::Standard), ("snap-y", Tier::Standard)]);
        let usage =
            Usage { parameters: vec![("/gio/prod/arm64".into(), "ami-y".into())], ..Usage::default() };
        let facts = |targets: &[String]| {
            plan(&Facts {
                targets,
                images: &images,
                records: &BTreeMap::new(),
                tiers: &tiers,
                usage: &usage,
                archiving: 0,
            })
        };
        let alone = facts(&["ami-x".to_string()]);
        assert_eq!(lines(&alone), ["REFUSE ami-x"]);
        let why = retire::refusal(&alone).unwrap().to_string();
        assert!(why.contains("published through /gio/prod/arm64 (ami-y)"), "{why}");
    }

    #[test]
    fn in_use_or_sharing_a_snapshot_refuses_and_a_rerun_finishes_from_the_record() {
        let images = [
            image("ami-used", "2026-01-01", &[("/dev/xvda", "snap-u", 8)]),
            image("ami-a", "2026-01-02", &[("/dev/xvda", "snap-s", 8)]),
            image("ami-b", "2026-01-03", &[("/dev/xvda", "snap-s", 8)]),
        ];
        let usage = Usage {
            uses: vec![Use {
                account: None,
                ami: "ami-used".into(),
                user: User::SsmParameter { name: "/prod/ami".into() },
            }],
            ..Usage::default()
        };
        let record =
            image("ami-gone", "2025-12-01", &[("/dev/xvda", "snap-1", 8), ("/dev/xvdb", "snap-2", 8)]);
        let records = BTreeMap::from([("ami-gone".to_string(), record)]);
        let tiers = tiers(&[
            ("snap-u", Tier::Standard),
            ("snap-s", Tier::Standard),
            ("snap-1", Tier::Archiving),
            ("snap-2", Tier::Standard),
        ]);
        let targets: Vec<String> = ["ami-used", "ami-a", "ami-gone", "ami-never"].map(String::from).to_vec();
        let plan = plan(&Facts {
            targets: &targets,
            images: &images,
            records: &records,
            tiers: &tiers,
            usage: &usage,
            archiving: 1,
        });
        assert_eq!(
            lines(&plan),
            ["REFUSE ami-used", "REFUSE ami-a", "reuse snap-1", "archive snap-2", "REFUSE ami-never"]
        );
        assert!(plan.actions[0].why().contains("SSM parameter /prod/ami"));
        assert!(plan.actions[1].why().contains("also mapped by ami-b"));
        assert!(plan.facts.to_record.is_empty(), "nothing left to record: the gone AMI's record is kept");
    }

    #[test]
    fn past_the_quota_of_archives_in_progress_the_rest_is_queued_for_a_rerun() {
        let images =
            [image("ami-big", "2026-01-01", &[("/dev/xvda", "snap-1", 8), ("/dev/xvdb", "snap-2", 8)])];
        let tiers = tiers(&[("snap-1", Tier::Standard), ("snap-2", Tier::Standard)]);
        let targets = ["ami-big".to_string()];
        let plan = plan(&Facts {
            targets: &targets,
            images: &images,
            records: &BTreeMap::new(),
            tiers: &tiers,
            usage: &Usage::default(),
            archiving: archive::ARCHIVES_AT_ONCE - 1,
        });
        assert_eq!(lines(&plan), ["deregister ami-big", "archive snap-1", "keep snap-2"]);
        assert!(
            plan.actions[2].why().starts_with("queued: AWS allows 25 snapshot archives in progress"),
            "{}",
            plan.actions[2].why()
        );
        assert!(plan.warnings.iter().any(|w| w.contains("1 snapshot(s) queued")), "{:?}", plan.warnings);
        assert!(retire::refusal(&plan).is_none(), "a queued snapshot does not stop the archive");
    }
}
