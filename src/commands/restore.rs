//! `restore`: undoes a wipe while the Recycle Bin still holds what it deleted. AWS restores an
//! AMI only once all its snapshots are back, and lists binned snapshots without saying whose
//! they were: the `gio-ami:wiped-ami:<AMI>` marks a wipe sets before it deletes do (or else the
//! description EC2 gave a snapshot it made for the AMI).

use crate::aws::inventory;
use crate::aws::orphans::Origin;
use crate::aws::recycle_bin::{self, InBin};
use crate::aws::Aws;
use crate::change::retire::WIPED_AMI_TAG;
use crate::change::{self, Action, Kind, Needs, Outcome, Status};
use crate::core::error::{Result, Service};
use crate::core::ids::AmiId;
use aws_sdk_ec2::types::Tag;
use serde::Serialize;
use std::collections::{BTreeMap, HashSet};

/// What a restore found besides its actions.
#[derive(Debug, Clone, Default, Serialize)]
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
                id: binned.id.clone(),
                why: format!("deleted with {ami}{}", until(binned)),
            };
            after.push(Needs::action(&restore));
            if restoring.insert(binned.id.clone()) {
                plan.actions.push(restore);
            }
        }
        plan.actions.push(Action::RestoreImage {
            id: ami.clone(),
            name: image.name.clone(),
            why: format!("wiped{}", until(image)),
            after,
        });
        plan.facts.snapshots.insert(ami.clone(), snapshots);
    }
    plan
}

fn until(binned: &InBin) -> String {
    binned.exit.as_deref().map_or(String::new(), |exit| format!("; in the Recycle Bin until {exit}"))
}

pub async fn prepare(aws: &Aws, amis: &[AmiId]) -> Result<Plan> {
    let asked = crate::core::ids::distinct(amis);
    let present: HashSet<String> =
        inventory::any_images_by_id(aws, &asked).await?.into_iter().map(|i| i.id).collect();
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
        inventory::snapshots_by_id(aws, &out_of_bin).await?.into_iter().map(|s| s.id).collect();
    Ok(plan(&Facts {
        asked: &asked,
        present: &present,
        images_in_bin: &images_in_bin,
        snapshots_in_bin: &snapshots_in_bin,
        marked: &marked,
        existing: &existing,
    }))
}

/// Restores snapshots, then AMIs; then takes the wipe's marks off the snapshots of each AMI that
/// is back (now, or by a run that stopped before this step), so nothing reads them as a wipe to
/// finish.
pub async fn apply(aws: &Aws, plan: &Plan) -> Result<Vec<Outcome>> {
    let outcomes = change::apply(aws, &plan.actions).await;
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
    Ok(outcomes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binned(id: &str, name: &str) -> InBin {
        InBin { id: id.into(), name: name.into(), exit: Some("2026-12-09T00:00:00Z".into()) }
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
