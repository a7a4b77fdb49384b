//! `restore`: undoes a wipe while the Recycle Bin still holds what it deleted. AWS restores an
//! AMI only once all its snapshots are back, and lists binned snapshots without saying whose
//! they were: the `gio-ami:wiped-ami:<AMI>` marks a wipe sets before it deletes do (or else the
//! description EC2 gave a snapshot it made for the AMI).

use super::{execute, parse_all, Context, DryRun, Mode, Own};
use crate::aws::inventory::{self, SnapshotState};
use crate::aws::orphans::Origin;
use crate::aws::recycle_bin::{self, InBin};
use crate::aws::Aws;
use crate::change::retire::WIPED_AMI_TAG;
use crate::change::{self, Action, Kind, Needs, Outcome, Status};
use crate::core::error::Service;
use crate::core::ids::{AmiId, SnapshotId};
use crate::core::kinds::Reported;
use crate::core::poll;
use crate::core::progress::Progress;
use crate::error::{Error, Result};
use aws_sdk_ec2::types::Tag;
use schemars::JsonSchema;
use serde::Serialize;
use std::cell::RefCell;
use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The ids of wiped AMIs (ami-…), several allowed.
    #[arg(value_name = "AMI_ID", required = true)]
    pub amis: Vec<String>,

    #[command(flatten)]
    pub dry_run: DryRun,
}

/// What `--output json` prints.
pub type Report = super::Mutation<Findings>;
pub const JSON: super::Json = super::Json::of::<Report>();

/// The IAM permissions this command's AWS calls need (`gio-ami iam-policy restore`).
pub const IAM: &[&[crate::core::iam::Permission]] = &[
    crate::aws::recycle_bin::RESTORE,
    &[
        crate::aws::inventory::DESCRIBE_IMAGES,
        crate::aws::inventory::DESCRIBE_SNAPSHOTS,
        crate::aws::tagging::DELETE_TAGS,
    ],
];

pub async fn run(args: Args, ctx: &Context<'_>) -> Result<()> {
    let amis = parse_all::<AmiId>(&args.amis)?;
    let aws = Aws::connect(&ctx.options).await?;
    let plan = prepare(&aws, &amis).await?;
    let mode = Mode::adding("restore", args.dry_run.dry_run, "restored");
    let progress = ctx.ui.progress();
    let found_gone = RefCell::new(Vec::new());
    let restored = execute(ctx, &aws, &plan, &mode, Own::default(), || async {
        let restored = apply(&aws, &plan, progress.as_ref()).await?;
        found_gone.borrow_mut().extend(restored.gone);
        Ok(restored.outcomes.into())
    })
    .await;
    progress.finish();
    restored?;
    let gone: Vec<String> = plan.facts.gone.iter().cloned().chain(found_gone.into_inner()).collect();
    match gone.is_empty() {
        true => Ok(()),
        false => Err(Error::GoneForGood(gone.join(", "))),
    }
}

/// What a restore found besides its actions.
#[derive(Debug, Clone, Default, Serialize, JsonSchema)]
pub struct Findings {
    /// AMI → the snapshots it brings back (or finds still there) and unmarks once it is back.
    pub snapshots: BTreeMap<String, Vec<String>>,
    /// The AMIs asked about that nothing can bring back.
    pub gone: Vec<String>,
}

pub type Plan = change::Plan<Findings>;

/// Everything `plan` decides from, as read from AWS.
pub struct Facts<'a> {
    pub asked: &'a [String],
    /// The asked AMIs that are in the account (restored already, or never wiped).
    pub present: &'a HashSet<String>,
    pub images_in_bin: &'a [InBin],
    pub snapshots_in_bin: &'a [InBin],
    /// AMI → the snapshots marked as deleted with it.
    pub marked: &'a BTreeMap<String, Vec<String>>,
    /// Marked snapshots that still exist outside the bin (a wipe that did not delete them).
    pub existing: &'a HashSet<String>,
}

pub fn plan(facts: &Facts<'_>) -> Plan {
    let mut plan = Plan::default();
    let mut restoring = HashSet::new();
    for ami in facts.asked {
        if facts.present.contains(ami) {
            plan.actions.push(Action::Reuse {
                id: ami.clone(),
                kind: Kind::Image,
                why: "available: nothing to restore".into(),
            });
            // Restored by a run that stopped before taking the wipe's marks off: this one does.
            if let Some(marked) = facts.marked.get(ami) {
                plan.facts.snapshots.insert(ami.clone(), marked.clone());
            }
            continue;
        }
        let Some(image) = facts.images_in_bin.iter().find(|i| &i.id == ami) else {
            plan.actions.push(Action::Refuse {
                id: ami.clone(),
                kind: Kind::Image,
                why: "gone for good: neither in this account nor in the Recycle Bin (no rule kept it, or its retention ended)".into(),
            });
            plan.facts.gone.push(ami.clone());
            continue;
        };
        let snapshots: Vec<String> = match facts.marked.get(ami) {
            Some(marked) => marked.clone(),
            None => facts
                .snapshots_in_bin
                .iter()
                .filter(|s| Origin::parse(&s.name).ami() == Some(ami.as_str()))
                .map(|s| s.id.clone())
                .collect(),
        };
        let lost: Vec<&String> = snapshots
            .iter()
            .filter(|s| !facts.existing.contains(*s) && !facts.snapshots_in_bin.iter().any(|b| &b.id == *s))
            .collect();
        if !lost.is_empty() {
            let lost: Vec<&str> = lost.iter().map(|s| s.as_str()).collect();
            plan.actions.push(Action::Refuse {
                id: ami.clone(),
                kind: Kind::Image,
                why: format!(
                    "cannot come back: its snapshot(s) {} are gone for good, and AWS restores an AMI only with all its snapshots",
                    lost.join(", ")
                ),
            });
            plan.facts.gone.push(ami.clone());
            continue;
        }
        let mut after = Vec::new();
        for binned in facts.snapshots_in_bin.iter().filter(|b| snapshots.contains(&b.id)) {
            let restore = Action::RestoreSnapshot {
                id: SnapshotId::from_aws(&binned.id),
                why: format!("deleted with {ami}{}", until(binned)),
            };
            after.push(Needs::action(&restore));
            if restoring.insert(binned.id.clone()) {
                plan.actions.push(restore);
            }
        }
        plan.actions.push(Action::RestoreImage {
            id: AmiId::from_aws(ami),
            name: image.name.clone(),
            why: format!("wiped{}", until(image)),
            after,
        });
        plan.facts.snapshots.insert(ami.clone(), snapshots);
    }
    plan
}

fn until(binned: &InBin) -> String {
    binned.exit.as_ref().map_or(String::new(), |exit| format!("; in the Recycle Bin until {exit}"))
}

pub async fn prepare(aws: &Aws, amis: &[AmiId]) -> Result<Plan> {
    let asked = crate::core::ids::distinct(amis);
    let present: HashSet<String> =
        inventory::any_images_by_id(aws, &asked).await?.into_iter().map(|i| i.id.into()).collect();
    let missing: Vec<String> = asked.iter().filter(|a| !present.contains(*a)).cloned().collect();
    let (images_in_bin, snapshots_in_bin) = if missing.is_empty() {
        (Vec::new(), Vec::new())
    } else {
        futures::try_join!(recycle_bin::images_in_bin(aws, &missing), recycle_bin::snapshots_in_bin(aws))?
    };
    let keys: Vec<String> = asked.iter().map(|ami| format!("{WIPED_AMI_TAG}{ami}")).collect();
    let marked: BTreeMap<String, Vec<String>> = recycle_bin::snapshots_tagged(aws, &keys)
        .await?
        .into_iter()
        .filter_map(|(key, ids)| Some((key.strip_prefix(WIPED_AMI_TAG)?.to_string(), ids)))
        .collect();
    let out_of_bin: Vec<String> = marked
        .values()
        .flatten()
        .filter(|s| !snapshots_in_bin.iter().any(|b| &b.id == *s))
        .cloned()
        .collect();
    let existing: HashSet<String> =
        inventory::snapshots_by_id(aws, &out_of_bin).await?.into_iter().map(|s| s.id.to_string()).collect();
    Ok(plan(&Facts {
        asked: &asked,
        present: &present,
        images_in_bin: &images_in_bin,
        snapshots_in_bin: &snapshots_in_bin,
        marked: &marked,
        existing: &existing,
    }))
}

/// How long a restore waits for the snapshots it brought back to leave `recovering`, which they
/// pass through before their AMI can be restored (RestoreSnapshotFromRecycleBin's State). AWS
/// gives no figure; a snapshot is only being taken back out of the bin, so minutes at most, and a
/// run should not hang on one: past this, the AMI is left for a re-run, which waits again.
pub const RECOVERY_WAIT: Duration = Duration::from_secs(15 * 60);

/// What a restore did: one outcome per action, and the AMIs found gone for good on the way (out
/// of the bin between the plan's listing and their restore: an expired entry can still be listed
/// for a while).
pub struct Restored {
    pub outcomes: Vec<Outcome>,
    pub gone: Vec<String>,
}

/// Restores snapshots, waits until they have recovered (bounded, RECOVERY_WAIT), then restores
/// the AMIs whose snapshots are all back: "Before you can restore an AMI from the Recycle Bin, you
/// must first restore all of its associated snapshots"
/// (https://docs.aws.amazon.com/ebs/latest/userguide/recycle-bin-factors.html). Then takes the
/// wipe's marks off the snapshots of each AMI that is back (now, or by a run that stopped before
/// this step), so nothing reads them as a wipe to finish.
pub async fn apply(aws: &Aws, plan: &Plan, progress: &dyn Progress) -> Result<Restored> {
    let (snapshot_restores, rest): (Vec<Action>, Vec<Action>) =
        plan.actions.iter().cloned().partition(|a| matches!(a, Action::RestoreSnapshot { .. }));
    let mut outcomes = change::apply(aws, &snapshot_restores).await;
    let unrestored: HashSet<String> = outcomes
        .iter()
        .filter(|o| matches!(o.status, Status::Failed(_)))
        .map(|o| o.action.id().to_string())
        .collect();
    let snapshots_of = |ami: &str| plan.facts.snapshots.get(ami).map(Vec::as_slice).unwrap_or_default();
    let awaited: Vec<String> = rest
        .iter()
        .filter(|a| matches!(a, Action::RestoreImage { .. }))
        .flat_map(|a| snapshots_of(a.id()).iter().filter(|s| !unrestored.contains(*s)).cloned())
        .collect();
    let recovering = recovered(aws, &awaited, progress).await?;
    let mut ready = Vec::new();
    for action in rest {
        let snapshots = snapshots_of(action.id());
        let held = |set: &HashSet<String>| -> Vec<&str> {
            snapshots.iter().filter(|s| set.contains(*s)).map(String::as_str).collect()
        };
        let (failed, waiting) = (held(&unrestored), held(&recovering));
        let not_sent = match &action {
            Action::RestoreImage { .. } if !failed.is_empty() => {
                format!("not sent: its snapshot(s) {} did not come back (above)", failed.join(", "))
            }
            Action::RestoreImage { id, .. } if !waiting.is_empty() => format!(
                "not sent: its snapshot(s) {} still recovering from the Recycle Bin after {} minutes; \
                 `gio-ami restore {id}` again finishes it",
                waiting.join(", "),
                RECOVERY_WAIT.as_secs() / 60
            ),
            _ => {
                ready.push(action);
                continue;
            }
        };
        outcomes.push(Outcome { action, status: Status::Failed(not_sent.into()) });
    }
    outcomes.extend(change::apply(aws, &ready).await);
    let gone = settle_failures(aws, plan, &mut outcomes).await?;
    for outcome in &outcomes {
        let back = matches!(
            (&outcome.action, &outcome.status),
            (Action::RestoreImage { .. }, Status::Done)
                | (Action::Reuse { kind: Kind::Image, .. }, Status::Reused)
        );
        let id = outcome.action.id();
        let Some(snapshots) = plan.facts.snapshots.get(id).filter(|s| back && !s.is_empty()) else {
            continue;
        };
        aws.ec2()
            .delete_tags()
            .set_resources(Some(snapshots.clone()))
            .tags(Tag::builder().key(format!("{WIPED_AMI_TAG}{id}")).build())
            .send()
            .await
            .map_err(|e| aws.error("DeleteTags", Service::Ec2, e))?;
    }
    Ok(Restored { outcomes, gone })
}

/// Waits until none of these snapshots is still coming back (not yet listed, or `recovering`):
/// the ones still coming back when RECOVERY_WAIT is over, none when all are.
async fn recovered(aws: &Aws, snapshots: &[String], progress: &dyn Progress) -> Result<HashSet<String>> {
    if snapshots.is_empty() {
        return Ok(HashSet::new());
    }
    progress.phase(&format!("waiting for {} snapshot(s) to recover from the Recycle Bin", snapshots.len()));
    let last = RefCell::new(HashSet::new());
    let waited = poll::until(
        aws.interruption(),
        "snapshots to recover",
        poll::LOCAL_CHANGE,
        RECOVERY_WAIT,
        || async {
            let listed = inventory::snapshots_by_id(aws, snapshots).await?;
            let coming: HashSet<String> = snapshots
                .iter()
                .filter(|id| {
                    listed.iter().find(|s| s.id == id.as_str()).is_none_or(|s| {
                        matches!(
                            s.state,
                            Reported::Known(
                                SnapshotState::Recovering
                                    | SnapshotState::Recoverable
                                    | SnapshotState::Pending
                            )
                        )
                    })
                })
                .cloned()
                .collect();
            let done = coming.is_empty().then_some(());
            *last.borrow_mut() = coming;
            Ok(done)
        },
    )
    .await;
    match waited {
        Ok(()) => Ok(HashSet::new()),
        Err(Error::WaitTimeout { .. }) => Ok(last.into_inner()),
        Err(e) => Err(e),
    }
}

/// A restore that failed, looked at again: back in the account (another run restored it) counts
/// as reused; else it is asked once more, and the bin's NotFound means gone for good (an entry
/// can still be listed a while after its retention ended), and so is an AMI one of whose
/// snapshots is, since AWS restores an AMI only with all of them. Anything else stays failed,
/// for a re-run. Returns the AMIs gone for good.
async fn settle_failures(aws: &Aws, plan: &Plan, outcomes: &mut [Outcome]) -> Result<Vec<String>> {
    let failed = |kind: Kind| -> Vec<String> {
        outcomes
            .iter()
            .filter(|o| o.action.kind() == kind && matches!(o.status, Status::Failed(_)))
            .map(|o| o.action.id().to_string())
            .collect()
    };
    let (images, snapshots) = (failed(Kind::Image), failed(Kind::Snapshot));
    if images.is_empty() && snapshots.is_empty() {
        return Ok(Vec::new());
    }
    let (present_images, present_snapshots) = futures::try_join!(
        inventory::any_images_by_id(aws, &images),
        inventory::snapshots_by_id(aws, &snapshots),
    )?;
    let present: HashSet<String> = present_images
        .into_iter()
        .map(|i| i.id.into())
        .chain(present_snapshots.into_iter().map(|s| s.id.into()))
        .collect();
    let mut lost: HashSet<String> = HashSet::new();
    let mut gone = Vec::new();
    // The snapshot restores ran, and are listed, first: an AMI is gone for good with any of them.
    for outcome in outcomes.iter_mut().filter(|o| matches!(o.status, Status::Failed(_))) {
        let (id, kind) = (outcome.action.id().to_string(), outcome.action.kind());
        if present.contains(&id) {
            outcome.status = Status::Reused;
            continue;
        }
        let lost_snapshots: Vec<&str> = match kind {
            Kind::Image => plan
                .facts
                .snapshots
                .get(&id)
                .into_iter()
                .flatten()
                .filter(|s| lost.contains(*s))
                .map(String::as_str)
                .collect(),
            _ => Vec::new(),
        };
        let why = if !lost_snapshots.is_empty() {
            format!(
                "gone for good: its snapshot(s) {} left the Recycle Bin for good, and AWS restores an AMI only with all its snapshots",
                lost_snapshots.join(", ")
            )
        } else {
            let again = match &outcome.action {
                Action::RestoreSnapshot { .. } => recycle_bin::restore_snapshot(aws, &id).await,
                Action::RestoreImage { .. } => recycle_bin::restore_image(aws, &id).await,
                _ => continue,
            };
            match again {
                Ok(()) => {
                    outcome.status = Status::Done;
                    continue;
                }
                Err(e) if recycle_bin::not_in_bin(&e) => {
                    "gone for good: its Recycle Bin retention ended after this run listed it".to_string()
                }
                Err(e) => {
                    outcome.status = Status::Failed((&e).into());
                    continue;
                }
            }
        };
        lost.insert(id.clone());
        if kind == Kind::Image {
            gone.push(id.clone());
        }
        outcome.action = Action::Refuse { id, kind, why };
        outcome.status = Status::Refused;
    }
    Ok(gone)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binned(id: &str, name: &str) -> InBin {
        InBin { id: id.into(), name: name.into(), exit: "2026-12-09T00:00:00Z".parse().ok() }
    }

    fn lines(plan: &Plan) -> Vec<String> {
        plan.actions.iter().map(|a| format!("{} {}", a.verb(), a.id())).collect()
    }

    #[test]
    fn snapshots_come_back_before_their_ami_and_a_present_ami_is_left_alone() {
        let asked = ["ami-1".to_string(), "ami-2".to_string(), "ami-3".to_string()];
        let present = HashSet::from(["ami-3".to_string()]);
        let images = [binned("ami-1", "r1"), binned("ami-2", "r2")];
        // ami-2 was wiped by another tool: its snapshot is known by EC2's description alone.
        let snapshots =
            [binned("snap-a", "gio-ami r1"), binned("snap-b", "Created by CreateImage(i-1) for ami-2")];
        let marked =
            BTreeMap::from([("ami-1".to_string(), vec!["snap-a".to_string(), "snap-kept".to_string()])]);
        let existing = HashSet::from(["snap-kept".to_string()]);
        let plan = plan(&Facts {
            asked: &asked,
            present: &present,
            images_in_bin: &images,
            snapshots_in_bin: &snapshots,
            marked: &marked,
            existing: &existing,
        });
        assert_eq!(
            lines(&plan),
            ["restore snap-a", "restore ami-1", "restore snap-b", "restore ami-2", "reuse ami-3"]
        );
        assert!(plan.actions[1].why().contains("until 2026-12-09"));
        assert_eq!(plan.facts.snapshots["ami-1"], ["snap-a", "snap-kept"]);
    }

    #[test]
    fn an_ami_out_of_the_bin_or_missing_a_snapshot_is_named_gone_for_good() {
        let asked = ["ami-1".to_string(), "ami-gone".to_string()];
        let images = [binned("ami-1", "r1")];
        let marked = BTreeMap::from([("ami-1".to_string(), vec!["snap-expired".to_string()])]);
        let plan = plan(&Facts {
            asked: &asked,
            present: &HashSet::new(),
            images_in_bin: &images,
            snapshots_in_bin: &[],
            marked: &marked,
            existing: &HashSet::new(),
        });
        assert_eq!(lines(&plan), ["REFUSE ami-1", "REFUSE ami-gone"]);
        assert!(
            plan.actions[0].why().contains("snap-expired are gone for good"),
            "{}",
            plan.actions[0].why()
        );
        assert!(plan.actions[1].why().starts_with("gone for good"));
        assert_eq!(plan.facts.gone, ["ami-1", "ami-gone"]);
    }
}
