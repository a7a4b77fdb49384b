//! Wiping AMIs: deregister them and delete the snapshots behind them, without ever touching an
//! AMI in use or a snapshot another AMI still maps.
//!
//! `prepare` reads the inventory and every kind of use; `plan` (pure) turns that into typed
//! actions; `apply` marks the snapshots it is about to orphan, then runs the shared
//! `change::apply`. The mark is what makes a re-run finish the job: once an AMI is deregistered,
//! AWS no longer says which snapshots were behind it, but the snapshots say it themselves.

use crate::aws::inventory::{self, Image, Snapshot};
use crate::aws::locks::{self, Lock};
use crate::aws::org::Org;
use crate::aws::orphans;
use crate::aws::recycle_bin::{self, Binned, Fate, Rule};
use crate::aws::usage::{self, Usage, Use};
use crate::aws::{usage_report, Aws};
use crate::change::{self, Action, Kind, Outcome};
use crate::core::clock::{self, Timestamp};
use crate::core::error::Service;
use crate::core::iam::{optional, Permission};
use crate::core::ids::{AmiId, SnapshotId};
use crate::core::progress::Progress;
use crate::core::tags;
use crate::error::Result;
use aws_sdk_ec2::types::{Filter, Tag};
use futures::stream::{self, StreamExt, TryStreamExt};
use schemars::JsonSchema;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};

/// Prefix of the tag key set on each snapshot a wipe is about to orphan; the AMI id completes
/// it (one key per AMI, so a snapshot shared by two wiped AMIs remembers both).
pub const WIPED_AMI_TAG: &str = "gio-ami:wiped-ami:";

#[derive(Debug, Clone)]
pub struct Request {
    pub amis: Vec<AmiId>,
    /// Also wipe every AMI derived from them (`gio-ami:parent-ami`, any depth).
    pub chain: bool,
    /// Wipe AMIs even when in use (or when a look-up failed). Never deletes a snapshot another
    /// AMI maps.
    pub force: bool,
}

/// What a wipe found besides its actions: who uses the AMIs, what it frees, what it could not
/// check.
#[derive(Debug, Clone, Default, Serialize, JsonSchema)]
pub struct Findings {
    /// Every user found of the AMIs asked about.
    pub uses: Vec<Use>,
    /// The usage look-ups that failed: every AMI of the plan is refused for want of them.
    pub unchecked: Vec<String>,
    /// AMI → the snapshots it leaves to delete: marked before it is deregistered.
    #[serde(skip)]
    pub marks: BTreeMap<String, Vec<String>>,
    /// The AMIs refused only for their deregistration protection, which forbids deregistering
    /// and nothing else: a prune that disables or deprecates still may.
    #[serde(skip)]
    pub protected: Vec<(String, String)>,
    /// For each AMI deregistered and snapshot deleted: kept by the Recycle Bin until when, or
    /// gone for good.
    pub recycle_bin: Vec<Undo>,
}

/// Whether one deletion of the plan can be undone with `restore`.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Undo {
    pub id: String,
    pub kind: Kind,
    #[serde(flatten)]
    pub fate: Fate,
}

/// What a wipe will do and why, printable before anything happens.
pub type Plan = change::Plan<Findings>;

/// An AMI asked about is refused: the wipe must not start.
/// The error that stops a plan refusing any AMI (a wipe, an archive), naming each and why.
pub fn refusal<F>(plan: &change::Plan<F>) -> Option<crate::Error> {
    let refused: Vec<String> = refused_amis(plan).map(|(id, why)| format!("{id}: {why}")).collect();
    (!refused.is_empty()).then(|| crate::Error::InUse(refused.join("; ")))
}

/// The AMIs a plan refuses, with why: any one stops a wipe (or an archive).
fn refused_amis<F>(plan: &change::Plan<F>) -> impl Iterator<Item = (&str, &str)> {
    plan.actions.iter().filter_map(|a| match a {
        Action::Refuse { id, kind: Kind::Image, why } => Some((id.as_str(), why.as_str())),
        _ => None,
    })
}

/// Why taking `image` away alone (a wipe, an archive) would break a published release set: it is
/// one variant of a set whose other AMIs stay (not among `targets`), and a parameter holds one
/// of the set (a cluster's nodes of every variant came from that release, and a rollback would
/// find a variant gone).
pub fn breaks_published_set(
    image: &Image,
    images: &[Image],
    usage: &Usage,
    targets: &HashSet<&str>,
) -> Option<String> {
    let (member, release) = (image.member()?, image.release()?);
    let set: Vec<&Image> = images.iter().filter(|i| i.set() == Some(release)).collect();
    if set.iter().all(|i| targets.contains(i.id.as_str())) {
        return None;
    }
    let held: Vec<String> = usage
        .parameters
        .iter()
        .filter(|(_, value)| set.iter().any(|i| i.id == value.trim()))
        .map(|(name, value)| format!("{name} ({})", value.trim()))
        .collect();
    (!held.is_empty()).then(|| {
        format!(
            "it is the {member} AMI of release set {release}, published through {}: taking one variant \
             away leaves the set broken; publish another release (or roll back) first, then act on \
             the whole set (`--release {release}`)",
            held.join(", ")
        )
    })
}

/// Everything `plan` decides from, as read from AWS.
pub struct Facts<'a> {
    /// The AMIs to wipe, in order (descendants included for a chain).
    pub targets: &'a [String],
    /// Every AMI of the account: any of them may map a target's snapshot.
    pub images: &'a [Image],
    /// The candidate snapshots that still exist.
    pub snapshots: &'a [Snapshot],
    /// Gone target → the snapshots it left behind (marked by an earlier wipe, or made for it).
    pub marked: &'a BTreeMap<String, Vec<String>>,
    pub usage: &'a Usage,
    /// The locks in force on the candidate snapshots; an error when they could not be read.
    pub locks: &'a std::result::Result<Vec<Lock>, String>,
    /// The Recycle Bin's retention rules; an error when they could not be read; None when the
    /// plan is only the start of one that deletes nothing (an earlier prune stage).
    pub bin: Option<&'a std::result::Result<Vec<Rule>, String>>,
    pub now: i64,
    pub force: bool,
}

pub fn plan(facts: &Facts<'_>) -> Plan {
    let by_id: HashMap<&str, &Image> = facts.images.iter().map(|i| (i.id.as_str(), i)).collect();
    let targets: HashSet<&str> = facts.targets.iter().map(String::as_str).collect();
    let mut plan = Plan {
        facts: Findings {
            uses: facts.usage.uses.clone(),
            unchecked: facts.usage.failures.clone(),
            ..Findings::default()
        },
        ..Plan::default()
    };
    if let Err(why) = facts.locks {
        plan.warnings.push(format!(
            "snapshot locks could not be read ({why}): deleting a locked snapshot fails, and is reported"
        ));
    }
    let locks: HashMap<&str, &Lock> =
        facts.locks.iter().flatten().map(|l| (l.snapshot.as_str(), l)).collect();
    plan.warnings.extend(usage_warnings(facts.usage));

    let mut wiped: Vec<&str> = Vec::new();
    for target in facts.targets {
        let Some(image) = by_id.get(target.as_str()) else {
            plan.warnings.push(match facts.marked.get(target) {
                Some(_) => format!("{target} is already deregistered: deleting the snapshots it left behind"),
                None => {
                    format!("{target} is not in this account any more (already wiped?): nothing to do for it")
                }
            });
            continue;
        };
        let mut reasons = facts.usage.reasons(target);
        reasons.extend(unproven_zero(image, facts.usage.unseen.get(target), facts.now));
        if let Some(with) = facts.usage.shared.get(target) {
            plan.warnings.push(format!(
                "{target} is shared with {}: use in those accounts is invisible from here",
                with.join(", ")
            ));
        }
        for child in facts
            .images
            .iter()
            .filter(|i| i.tags.get(tags::PARENT_AMI) == Some(target) && !targets.contains(i.id.as_str()))
        {
            plan.warnings.push(format!(
                "{} is derived from {target} and keeps the snapshots they share: `wipe --chain {target}` wipes both",
                child.id
            ));
        }
        if !reasons.is_empty() && !facts.force {
            plan.actions.push(Action::Refuse {
                id: target.clone(),
                kind: Kind::Image,
                why: reasons.join("; "),
            });
            continue;
        }
        // A set's clusters would be left with variants of a release partly gone: --force is
        // about use of this AMI, not about breaking what its siblings were published with.
        if let Some(why) = breaks_published_set(image, facts.images, facts.usage, &targets) {
            plan.actions.push(Action::Refuse { id: target.clone(), kind: Kind::Image, why });
            continue;
        }
        // AWS itself would refuse the deregistration: --force cannot get around it.
        if let Some(protected) = image.protection.refusal(target) {
            plan.actions.push(Action::Refuse { id: target.clone(), kind: Kind::Image, why: protected });
            plan.facts.protected.push((target.clone(), image.name.clone()));
            continue;
        }
        let why = if reasons.is_empty() {
            "asked".to_string()
        } else {
            format!("--force, although {}", reasons.join("; "))
        };
        let id = AmiId::from_aws(target);
        plan.actions.push(Action::DeregisterImage { id, name: image.name.clone(), why });
        wiped.push(target);
    }

    let wiped_set: HashSet<&str> = wiped.iter().copied().collect();
    plan.actions.extend(relinks(facts.images, &by_id, &wiped_set));
    delete_behind(&mut plan, facts, &by_id, &wiped, &locks);
    match facts.bin {
        None => {}
        Some(Ok(rules)) => undo(&mut plan, facts, rules),
        Some(Err(why)) => plan.warnings.push(format!(
            "the Recycle Bin's rules could not be read ({why}): whether these deletions can be undone is unknown"
        )),
    }
    plan
}

/// The snapshots the wiped AMIs (and the marked ones, deregistered by an earlier run) leave
/// behind: deleted, unless another AMI still maps one or a lock holds it.
fn delete_behind(
    plan: &mut Plan,
    facts: &Facts<'_>,
    by_id: &HashMap<&str, &Image>,
    wiped: &[&str],
    locks: &HashMap<&str, &Lock>,
) {
    let wiped_set: HashSet<&str> = wiped.iter().copied().collect();
    let sizes: HashMap<&str, i32> = facts.snapshots.iter().map(|s| (s.id.as_str(), s.size_gib)).collect();
    let behind = wiped.iter().flat_map(|ami| by_id[ami].snapshot_ids().map(move |s| (*ami, s))).chain(
        facts.marked.iter().flat_map(|(ami, snaps)| snaps.iter().map(move |s| (ami.as_str(), s.as_str()))),
    );
    let mut seen = HashSet::new();
    for (ami, snapshot) in behind {
        if !seen.insert(snapshot) {
            continue;
        }
        let keepers: Vec<&str> = facts
            .images
            .iter()
            .filter(|i| !wiped_set.contains(i.id.as_str()) && i.snapshot_ids().any(|s| s == snapshot))
            .map(|i| i.id.as_str())
            .collect();
        if !keepers.is_empty() {
            plan.actions.push(Action::Refuse {
                id: snapshot.to_string(),
                kind: Kind::Snapshot,
                why: format!("kept: still used by {}", keepers.join(", ")),
            });
        } else if let Some(lock) = locks.get(snapshot) {
            plan.actions.push(Action::Refuse {
                id: snapshot.to_string(),
                kind: Kind::Snapshot,
                why: lock.reason(),
            });
        } else if let Some(size) = sizes.get(snapshot) {
            plan.actions.push(Action::DeleteSnapshot {
                id: SnapshotId::from_aws(snapshot),
                size_gib: *size,
                why: format!("behind {ami}"),
            });
            // Marked for every AMI behind it, so a re-run that names any one of them finds it.
            for behind in wiped.iter().filter(|w| by_id[*w].snapshot_ids().any(|s| s == snapshot)) {
                plan.facts.marks.entry(behind.to_string()).or_default().push(snapshot.to_string());
            }
        }
    }
}

/// Why an image usage report's zero for these grantees (`unseen`) does not show the AMI unused:
/// the report may miss the last 24 hours of instances and the last few days of launch
/// templates (`usage_report::LAG`), and the AMI was launched (lastLaunchedTime) or created, so
/// shared, within that time. An AMI older than that, and not launched since, keeps its zero.
fn unproven_zero(image: &Image, unseen: Option<&Vec<String>>, now: i64) -> Option<String> {
    let unseen = unseen.filter(|u| !u.is_empty())?;
    let lag = usage_report::LAG.as_secs() as i64;
    let recent = |time: &Option<Timestamp>| time.as_ref().map(Timestamp::epoch).filter(|t| now - t < lag);
    let (what, when) = match (recent(&image.last_launched), recent(&image.created)) {
        (Some(launched), _) => ("was last launched", launched),
        (None, Some(created)) => ("was created (so shared)", created),
        (None, None) => return None,
    };
    Some(format!(
        "an image usage report counted nothing in {}, which it is shared with and gio-ami has no role \
         for, but such a report may miss instances launched in the last 24 hours and launch templates \
         created or changed in the last few days \
         (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/your-ec2-ami-usage.html), and {} {what} \
         at {}: that zero is no proof it is unused. Give gio-ami a role in that account ([accounts]) so \
         it looks there itself, or run again after {}",
        unseen.join(", "),
        image.id,
        clock::rfc3339(when),
        clock::rfc3339(when + lag)
    ))
}

/// Ends the reason of each deletion with what the Recycle Bin will do with it, and warns of an
/// AMI the bin keeps without one of its snapshots: AWS cannot restore it.
fn undo(plan: &mut Plan, facts: &Facts<'_>, rules: &[Rule]) {
    let tags_of = |id: &str, kind: Kind| -> tags::Tags {
        match kind {
            Kind::Image => {
                facts.images.iter().find(|i| i.id == id).map(|i| i.tags.clone()).unwrap_or_default()
            }
            _ => {
                let mut tags =
                    facts.snapshots.iter().find(|s| s.id == id).map(|s| s.tags.clone()).unwrap_or_default();
                // The marks go on before the deletion, so the rules see them too.
                for (ami, snaps) in &plan.facts.marks {
                    if snaps.iter().any(|s| s == id) {
                        tags.insert(format!("{WIPED_AMI_TAG}{ami}"), String::new());
                    }
                }
                tags
            }
        }
    };
    let mut undos = Vec::new();
    for action in &mut plan.actions {
        let (id, kind) = (action.id().to_string(), action.kind());
        let (why, binned) = match action {
            Action::DeregisterImage { why, .. } => (why, Binned::Image),
            Action::DeleteSnapshot { why, .. } => (why, Binned::Snapshot),
            _ => continue,
        };
        let fate = Fate::of(rules, binned, &tags_of(&id, kind), facts.now);
        why.push_str(&format!("; {}", fate.clause()));
        undos.push(Undo { id, kind, fate });
    }
    for (ami, snapshots) in &plan.facts.marks {
        let kept = |id: &str| undos.iter().any(|u| u.id == id && u.fate.kept());
        let lost: Vec<&str> = snapshots.iter().map(String::as_str).filter(|s| !kept(s)).collect();
        if kept(ami) && !lost.is_empty() {
            plan.warnings.push(format!(
                "the Recycle Bin keeps {ami} but not its snapshot(s) {}: AWS restores an AMI only with all its snapshots, so it could not come back",
                lost.join(", ")
            ));
        }
    }
    let unsure = undos.iter().filter_map(|u| match &u.fate {
        Fate::Unsure { rule, active_by, .. } => Some((rule, active_by)),
        _ => None,
    });
    if let Some((rule, active_by)) = unsure.max_by_key(|(_, active_by)| *active_by) {
        plan.warnings.push(format!(
            "Recycle Bin rule {rule} may not retain anything before {active_by}: what is deleted sooner may be gone for good (run this after then to be able to undo it)"
        ));
    }
    plan.facts.recycle_bin = undos;
}

/// The surviving children of deregistered AMIs, each re-linked to its nearest surviving
/// ancestor. Without one, the link to the gone AMI stays: `wipe --chain` on that id still finds
/// the chain, and `lineage` shows where it came from.
fn relinks(images: &[Image], by_id: &HashMap<&str, &Image>, wiped: &HashSet<&str>) -> Vec<Action> {
    let parent_of = |id: &str| by_id.get(id).and_then(|i| i.tags.get(tags::PARENT_AMI)).map(String::as_str);
    images
        .iter()
        .filter(|image| !wiped.contains(image.id.as_str()))
        .filter_map(|image| {
            let gone = image.tags.get(tags::PARENT_AMI).map(String::as_str).filter(|p| wiped.contains(p))?;
            // Bounded: a loop of hand-edited tags ends after as many steps as there are AMIs,
            // and one that leads back to the image itself names no ancestor of it.
            let survivor = std::iter::successors(parent_of(gone), |a| parent_of(a))
                .take(wiped.len() + 1)
                .take_while(|a| *a != image.id)
                .find(|a| !wiped.contains(a))?;
            Some(Action::Relink {
                id: image.id.clone(),
                parent: AmiId::from_aws(survivor),
                why: format!("its parent {gone} goes: the chain continues from {survivor}"),
            })
        })
        .collect()
}

/// The targets, then every AMI derived from them, each once: depth first, siblings oldest
/// first, as `lineage` lists them. Unlike a lineage, which shows each AMI once, an ancestor that
/// a loop of hand-edited tags also makes a descendant is wiped with the rest.
pub fn with_descendants(images: &[Image], targets: &[String]) -> Vec<String> {
    let mut all: Vec<String> = Vec::new();
    let mut stack: Vec<String> = targets.iter().rev().cloned().collect();
    while let Some(id) = stack.pop() {
        if all.contains(&id) {
            continue;
        }
        let mut children: Vec<&Image> =
            images.iter().filter(|i| i.tags.get(tags::PARENT_AMI) == Some(&id)).collect();
        children.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| b.id.cmp(&a.id)));
        stack.extend(children.into_iter().map(|c| c.id.to_string()));
        all.push(id);
    }
    all
}

/// Reads what the plan needs: the account's AMIs, the candidate snapshots, marks left by an
/// earlier run, and every kind of use.
pub async fn prepare(aws: &Aws, consumers: &Org, request: &Request, progress: &dyn Progress) -> Result<Plan> {
    let images = inventory::own_images(aws).await?;
    let unknown: Vec<String> = request
        .amis
        .iter()
        .map(ToString::to_string)
        .filter(|id| !images.iter().any(|i| &i.id == id))
        .collect();
    if let Some(foreign) = inventory::any_images_by_id(aws, &unknown).await?.into_iter().next() {
        return Err(crate::Error::AmiNotOwned { id: foreign.id.into(), owner: foreign.owner });
    }
    prepare_targets(aws, consumers, &images, &targets(&images, request), request.force, true, progress).await
}

/// The AMIs a request wipes, each once, in order: those asked, then for a chain every AMI
/// derived from them.
pub fn targets(images: &[Image], request: &Request) -> Vec<String> {
    let asked = crate::core::ids::distinct(&request.amis);
    if request.chain {
        with_descendants(images, &asked)
    } else {
        asked
    }
}

/// The plan for wiping `targets`, given every AMI of the account. `deletes`: the plan is carried
/// out as a wipe, so what the Recycle Bin keeps of it is worth reading (not for a prune that
/// only disables or deprecates).
/// `consumers`: the configured accounts (`[accounts]`, with their roles) where use of an AMI
/// shared with them is checked too; empty without `[accounts]`.
pub async fn prepare_targets(
    aws: &Aws,
    consumers: &Org,
    images: &[Image],
    targets: &[String],
    force: bool,
    deletes: bool,
    progress: &dyn Progress,
) -> Result<Plan> {
    let (present, gone): (Vec<String>, Vec<String>) =
        targets.iter().cloned().partition(|t| images.iter().any(|i| &i.id == t));
    let candidates: Vec<String> = images
        .iter()
        .filter(|i| present.iter().any(|p| i.id == *p))
        .flat_map(|i| i.snapshot_ids().map(str::to_string))
        .collect();
    let ids: HashSet<&str> = present.iter().map(String::as_str).collect();
    let (snapshots, marked, observed) = futures::join!(
        inventory::snapshots_by_id(aws, &candidates),
        left_behind(aws, &gone),
        usage::observe_any(aws, &present)
    );
    let (marked, marked_snapshots) = marked?;
    let mut snapshots = snapshots?;
    snapshots.extend(marked_snapshots);
    let ids_to_delete: Vec<String> = snapshots.iter().map(|s| s.id.to_string()).collect();
    let locks = async {
        if ids_to_delete.is_empty() {
            Ok(Vec::new())
        } else {
            locks::of(aws, &ids_to_delete).await.map_err(|e| e.to_string())
        }
    };
    let bin = async {
        match deletes {
            true => Some(recycle_bin::rules(aws).await.map_err(|e| e.to_string())),
            false => None,
        }
    };
    let mut usage = observed.map(|o| o.usage(&ids)).unwrap_or_default();
    let elsewhere = async {
        match consumers.configured() && !usage.shared.is_empty() {
            true => Some(usage::elsewhere(consumers, aws.region(), &usage.shared).await),
            false => None,
        }
    };
    let (locks, bin, elsewhere) = futures::join!(locks, bin, elsewhere);
    if let Some(elsewhere) = elsewhere {
        usage.uses.extend(elsewhere.uses);
        usage.failures.extend(elsewhere.failures);
        usage.shared = elsewhere.shared;
    }
    if !usage.shared.is_empty() {
        usage::count_elsewhere(aws, &mut usage, progress).await;
    }
    Ok(plan(&Facts {
        targets,
        images,
        snapshots: &snapshots,
        marked: &marked,
        usage: &usage,
        locks: &locks,
        bin: bin.as_ref(),
        now: crate::core::clock::now_epoch(),
        force,
    }))
}

/// The snapshots these (now gone) AMIs left behind: those an earlier wipe marked (one call
/// for all), and for AMIs nobody marked (deregistered by another tool), those EC2 made for them
/// (CreateImage / CopyImage descriptions name the AMI; one listing of the account's snapshots).
async fn left_behind(aws: &Aws, gone: &[String]) -> Result<(BTreeMap<String, Vec<String>>, Vec<Snapshot>)> {
    if gone.is_empty() {
        return Ok(Default::default());
    }
    let keys: Vec<String> = gone.iter().map(|ami| format!("{WIPED_AMI_TAG}{ami}")).collect();
    let filter = Filter::builder().name("tag-key").set_values(Some(keys)).build();
    let mut snapshots = inventory::own_snapshots_matching(aws, vec![filter]).await?;
    if gone.iter().any(|ami| owners(&snapshots, gone).all(|(owner, _)| owner != ami)) {
        snapshots.extend(inventory::own_snapshots(aws).await?);
    }
    let mut by_ami: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (ami, snapshot) in owners(&snapshots, gone) {
        let list = by_ami.entry(ami.to_string()).or_default();
        if !list.iter().any(|s| snapshot.id == *s.as_str()) {
            list.push(snapshot.id.to_string());
        }
    }
    Ok((by_ami, snapshots))
}

/// (gone AMI, snapshot) for each snapshot marked for a gone AMI, or else made for one by EC2.
fn owners<'a>(
    snapshots: &'a [Snapshot],
    gone: &'a [String],
) -> impl Iterator<Item = (&'a str, &'a Snapshot)> + 'a {
    let marked =
        |s: &'a Snapshot| s.tags.keys().filter_map(|k| k.strip_prefix(WIPED_AMI_TAG)).collect::<Vec<_>>();
    snapshots.iter().flat_map(move |s| {
        let mut amis = marked(s);
        if amis.is_empty() {
            let origin = orphans::Origin::parse(&s.description);
            amis.extend(origin.ami().and_then(|a| gone.iter().find(|g| *g == a)).map(String::as_str));
        }
        amis.into_iter().filter(|a| gone.iter().any(|g| g == a)).map(move |a| (a, s))
    })
}

/// AMIs an earlier wipe or prune deregistered but did not finish: gone, yet named by the marks
/// on snapshots. A re-run of prune must finish them, and its policy can no longer select an AMI
/// that is gone (one call: EC2 filters take wildcards).
pub async fn unfinished(aws: &Aws, images: &[Image]) -> Result<Vec<String>> {
    let filter = Filter::builder().name("tag-key").values(format!("{WIPED_AMI_TAG}*")).build();
    let marked = inventory::own_snapshots_matching(aws, vec![filter]).await?;
    Ok(gone_marked(images, &marked))
}

/// The AMIs the marks on `snapshots` name that are not among `images`, once each.
fn gone_marked(images: &[Image], snapshots: &[Snapshot]) -> Vec<String> {
    let present: HashSet<&str> = images.iter().map(|i| i.id.as_str()).collect();
    let mut gone: Vec<String> = snapshots
        .iter()
        .flat_map(|s| s.tags.keys().filter_map(|k| k.strip_prefix(WIPED_AMI_TAG)))
        .filter(|ami| !present.contains(ami))
        .map(str::to_string)
        .collect();
    gone.sort();
    gone.dedup();
    gone
}

/// Marks the snapshots each AMI leaves behind, then deregisters and deletes. Nothing is
/// deregistered unless every mark is set, so no run can leave a snapshot nobody can find.
pub async fn apply(aws: &Aws, plan: &Plan) -> Result<Vec<Outcome>> {
    stream::iter(&plan.facts.marks)
        .map(|(ami, snapshots)| mark(aws, ami, snapshots))
        .buffer_unordered(change::CONCURRENCY)
        .try_collect::<Vec<_>>()
        .await?;
    Ok(change::apply(aws, &plan.actions).await)
}

/// Marks the snapshots `ami` leaves behind. A snapshot already gone (another wipe of the same
/// AMI got there first) needs no mark: EC2 refuses the whole CreateTags for it, so the rest are
/// then marked one by one, and the gone ones count as done, as their deletion will.
async fn mark(aws: &Aws, ami: &str, snapshots: &[String]) -> Result<()> {
    let tag = |resources: &[String]| {
        aws.ec2()
            .create_tags()
            .set_resources(Some(resources.to_vec()))
            .tags(Tag::builder().key(format!("{WIPED_AMI_TAG}{ami}")).value("").build())
            .send()
    };
    match tag(snapshots).await.map_err(|e| aws.error("CreateTags", Service::Ec2, e)) {
        Err(e) if change::is_gone(&e) => {
            for snapshot in snapshots {
                match tag(std::slice::from_ref(snapshot))
                    .await
                    .map_err(|e| aws.error("CreateTags", Service::Ec2, e))
                {
                    Err(e) if !change::is_gone(&e) => return Err(e),
                    _ => {}
                }
            }
            Ok(())
        }
        marked => marked.map(|_| ()),
    }
}

/// What `prepare_targets` reads beside each kind of use (`aws::usage::IAM`), and what retiring a
/// release calls: the marks on its snapshots, then its deregistration and their deletion.
pub const IAM: [Permission; 7] = [
    crate::aws::inventory::DESCRIBE_IMAGES,
    crate::aws::inventory::DESCRIBE_SNAPSHOTS,
    crate::aws::inventory::DESCRIBE_IMAGE_ATTRIBUTE,
    crate::aws::locks::IAM.optional("snapshot locks check"),
    crate::aws::tagging::CREATE_TAGS,
    super::execute::DEREGISTER_RELEASE,
    super::execute::DELETE_RELEASE_SNAPSHOT,
];
/// The Recycle Bin's rules, which the plan reads to say what a deletion leaves restorable.
pub const RECYCLE_BIN: [Permission; 3] =
    optional(crate::aws::recycle_bin::RULES, "recycle bin retention check");

/// What a guard's plan says of its look-ups of use: their notes, and a cross-check with EC2's
/// own references that could not be made.
pub fn usage_warnings(usage: &Usage) -> Vec<String> {
    let mut warnings = usage.notes.clone();
    if let Some(skipped) = &usage.cross_check_skipped {
        warnings.push(format!(
            "the cross-check with the references EC2 reports was skipped ({skipped}); gio-ami's own scans decided"
        ));
    }
    warnings
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::inventory::tests::{image, snapshot};
    use crate::aws::usage::User;

    fn child(id: &str, parent: &str, snapshots: &[(&str, &str, i32)]) -> Image {
        let mut image = image(id, "2026-02-01", snapshots);
        image.tags.insert(tags::PARENT_AMI.into(), parent.into());
        image
    }

    struct Scene {
        images: Vec<Image>,
        snapshots: Vec<Snapshot>,
        marked: BTreeMap<String, Vec<String>>,
        usage: Usage,
        locks: std::result::Result<Vec<Lock>, String>,
        bin: std::result::Result<Vec<Rule>, String>,
    }

    impl Scene {
        /// ami-a (root snap-a 8 GiB, data snap-d 50 GiB) and ami-b sharing snap-a.
        fn new() -> Scene {
            Scene {
                images: vec![
                    image("ami-a", "2026-01-01", &[("/dev/xvda", "snap-a", 8), ("/dev/xvdb", "snap-d", 50)]),
                    image("ami-b", "2026-01-02", &[("/dev/xvda", "snap-a", 8)]),
                ],
                snapshots: vec![snapshot("snap-a", 8), snapshot("snap-d", 50)],
                marked: BTreeMap::new(),
                usage: Usage::default(),
                locks: Ok(vec![]),
                bin: Err("not read".into()),
            }
        }

        fn plan(&self, targets: &[&str], force: bool) -> Plan {
            let targets: Vec<String> = targets.iter().map(|t| t.to_string()).collect();
            plan(&Facts {
                targets: &targets,
                images: &self.images,
                snapshots: &self.snapshots,
                marked: &self.marked,
                usage: &self.usage,
                locks: &self.locks,
                bin: Some(&self.bin),
                now: 0,
                force,
            })
        }

        fn used_by(mut self, ami: &str, user: User) -> Scene {
            self.usage.uses.push(Use { account: None, ami: ami.into(), user });
            self
        }
    }

    #[test]
    fn one_variant_of_a_published_set_is_refused_naming_the_parameter_even_forced() {
        let mut scene = Scene::new();
        for (image, arch) in scene.images.iter_mut().zip(["x86_64", "arm64"]) {
            image.tags.insert(tags::RELEASE.into(), "r1".into());
            image.tags.insert(tags::ARCH.into(), arch.into());
            image.tags.insert(tags::VARIANT.into(), "standard".into());
        }
        scene.usage.parameters = vec![("/gio/prod/arm64".into(), "ami-b".into())];
        for force in [false, true] {
            let plan = scene.plan(&["ami-a"], force);
            let refused = refused_amis(&plan).map(|(id, why)| format!("{id}: {why}")).collect::<Vec<_>>();
            assert_eq!(refused.len(), 1, "{refused:?}");
            assert!(
                refused[0].starts_with("ami-a: it is the x86_64/standard AMI of release set r1, published through /gio/prod/arm64 (ami-b): taking one variant away"),
                "{refused:?}"
            );
            assert!(!plan.actions.iter().any(|a| matches!(a, Action::DeregisterImage { .. })));
        }
        let whole = scene.plan(&["ami-a", "ami-b"], true);
        assert_eq!(
            whole.actions.iter().filter(|a| matches!(a, Action::DeregisterImage { .. })).count(),
            2,
            "the whole set may go"
        );
        scene.usage.parameters.clear();
        assert!(
            refusal(&scene.plan(&["ami-a"], false)).is_none(),
            "an unpublished set's variant may go alone"
        );
    }

    fn summary(plan: &Plan) -> Vec<String> {
        plan.actions
            .iter()
            .map(|a| match a {
                Action::DeregisterImage { id, .. } => format!("deregister {id}"),
                Action::DisableImage { id, .. } => format!("disable {id}"),
                Action::DeprecateImage { id, .. } => format!("deprecate {id}"),
                Action::DeleteSnapshot { id, size_gib, .. } => format!("delete {id} {size_gib}"),
                Action::Refuse { id, why, .. } => format!("refuse {id}: {why}"),
                Action::Relink { id, parent, .. } => format!("relink {id} to {parent}"),
                other => format!("{} {}", other.verb(), other.id()),
            })
            .collect()
    }

    #[test]
    fn each_deletion_says_until_when_the_recycle_bin_keeps_it_or_that_it_is_final() {
        let mut scene = Scene::new();
        let rule = Rule {
            id: "r-images".into(),
            binned: Binned::Image,
            days: 7,
            description: String::new(),
            include: vec![],
            exclude: vec![],
            available: true,
            created: None,
            locked: false,
        };
        scene.bin = Ok(vec![rule.clone()]);
        let plan = scene.plan(&["ami-a"], false);
        let why = |id: &str| {
            plan.actions.iter().find(|a| a.id() == id && !a.is_noop()).map(|a| a.why().to_string()).unwrap()
        };
        assert!(
            why("ami-a")
                .ends_with("the Recycle Bin keeps it until 1970-01-08T00:00:00Z (rule r-images, 7 days)"),
            "{}",
            why("ami-a")
        );
        assert!(why("snap-d").ends_with("final: no Recycle Bin rule keeps it"), "{}", why("snap-d"));
        assert_eq!(plan.facts.recycle_bin.len(), 2);
        assert!(
            plan.warnings.iter().any(|w| w.contains("keeps ami-a but not its snapshot(s) snap-d")),
            "{:?}",
            plan.warnings
        );

        // With a Region-level snapshot rule beside it, the whole AMI can come back.
        let marked = Rule { id: "r-snaps".into(), binned: Binned::Snapshot, days: 30, ..rule.clone() };
        scene.bin = Ok(vec![rule, marked]);
        let plan = scene.plan(&["ami-a"], false);
        assert!(plan.facts.recycle_bin.iter().all(|u| u.fate.kept()), "{:?}", plan.facts.recycle_bin);
        assert!(plan.warnings.iter().all(|w| !w.contains("could not come back")));

        scene.bin = Err("AccessDeniedException".into());
        let unread = scene.plan(&["ami-a"], false);
        assert!(unread
            .warnings
            .iter()
            .any(|w| w.contains("Recycle Bin's rules could not be read (AccessDeniedException)")));
    }

    #[test]
    fn a_locked_snapshot_is_kept_and_named_with_its_mode_and_end() {
        let mut scene = Scene::new();
        let lock = Lock {
            snapshot: "snap-d".into(),
            mode: locks::Mode::Compliance,
            until: "2027-01-01T00:00:00Z".parse().ok(),
        };
        scene.locks = Ok(vec![lock]);
        let plan = scene.plan(&["ami-a"], false);
        assert!(plan.actions.contains(&Action::Refuse {
            id: "snap-d".into(),
            kind: Kind::Snapshot,
            why: "kept: locked in compliance mode (nobody can lift it) until 2027-01-01T00:00:00Z".into()
        }));
        assert_eq!(
            plan.count(|a| matches!(a, Action::DeregisterImage { .. })),
            1,
            "the AMI itself still goes"
        );
        assert_eq!(plan.count(|a| matches!(a, Action::DeleteSnapshot { .. })), 0);

        scene.locks = Err("UnauthorizedOperation".into());
        let unread = scene.plan(&["ami-a"], false);
        assert!(
            unread.warnings.iter().any(|w| w.contains("snapshot locks could not be read")),
            "{:?}",
            unread.warnings
        );
    }

    #[test]
    fn an_unused_ami_goes_with_its_own_snapshots_but_not_shared_ones() {
        let plan = Scene::new().plan(&["ami-a"], false);
        assert_eq!(
            summary(&plan),
            ["deregister ami-a", "refuse snap-a: kept: still used by ami-b", "delete snap-d 50"]
        );
        assert_eq!(plan.freed_gib(), 50);
        assert!(refusal(&plan).is_none());
        assert_eq!(plan.facts.marks, BTreeMap::from([("ami-a".to_string(), vec!["snap-d".to_string()])]));
    }

    #[test]
    fn wiping_both_sharers_deletes_the_shared_snapshot_once() {
        let plan = Scene::new().plan(&["ami-a", "ami-b"], false);
        assert_eq!(
            summary(&plan),
            ["deregister ami-a", "deregister ami-b", "delete snap-a 8", "delete snap-d 50"]
        );
        assert_eq!(plan.freed_gib(), 58);
        let marks = BTreeMap::from([
            ("ami-a".to_string(), vec!["snap-a".to_string(), "snap-d".to_string()]),
            ("ami-b".to_string(), vec!["snap-a".to_string()]),
        ]);
        assert_eq!(plan.facts.marks, marks, "a re-run of `wipe ami-b` alone still finds snap-a");
    }

    #[test]
    fn every_kind_of_user_refuses_and_is_named() {
        let users = [
            User::Instance { id: "i-1".into(), state: "stopped".into() },
            User::LaunchTemplate { id: "lt-1".into(), name: "nodes".into(), version: 4 },
            User::AutoScalingGroup { name: "asg".into(), via: "launch configuration lc".into() },
            User::LaunchConfiguration { name: "lc".into() },
            User::Nodegroup {
                cluster: "prod".into(),
                name: "ng".into(),
                launch_template: "nodes (lt-1)".into(),
                version: 2,
            },
            User::SsmParameter { name: "/gio/prod/ami".into() },
        ];
        for user in users {
            let named = user.to_string();
            let plan = Scene::new().used_by("ami-a", user).plan(&["ami-a"], false);
            assert!(refusal(&plan).is_some(), "{named}");
            assert_eq!(summary(&plan), [format!("refuse ami-a: in use by {named}")]);
            assert_eq!(plan.freed_gib(), 0);
        }
    }

    #[test]
    fn force_wipes_a_used_ami_but_still_keeps_a_shared_snapshot() {
        let plan =
            Scene::new().used_by("ami-a", User::SsmParameter { name: "/p".into() }).plan(&["ami-a"], true);
        assert!(refusal(&plan).is_none());
        assert_eq!(
            summary(&plan),
            ["deregister ami-a", "refuse snap-a: kept: still used by ami-b", "delete snap-d 50"]
        );
        assert!(
            matches!(&plan.actions[0], Action::DeregisterImage { why, .. } if why.contains("SSM parameter /p"))
        );
    }

    #[test]
    fn a_failed_lookup_refuses_rather_than_guessing() {
        let mut scene = Scene::new();
        scene.usage.failures.push("EKS nodegroups: access denied".into());
        let plan = scene.plan(&["ami-b"], false);
        assert_eq!(
            summary(&plan),
            ["refuse ami-b: could not check whether it is in use (EKS nodegroups: access denied)"]
        );
        assert_eq!(plan.facts.unchecked, ["EKS nodegroups: access denied"], "prune fails on this");
    }

    #[test]
    fn a_shared_ami_is_wiped_with_a_warning() {
        let mut scene = Scene::new();
        scene.usage.shared.insert("ami-a".into(), vec!["111122223333".into()]);
        let plan = scene.plan(&["ami-a"], false);
        assert!(refusal(&plan).is_none());
        assert!(
            plan.warnings.iter().any(|w| w.contains("shared with 111122223333") && w.contains("invisible")),
            "{:?}",
            plan.warnings
        );
    }

    #[test]
    fn a_rerun_finishes_the_snapshots_of_an_already_deregistered_ami() {
        let mut scene = Scene::new();
        scene.images.remove(0); // ami-a deregistered by the interrupted run
        scene.snapshots.retain(|s| s.id == "snap-d");
        scene.marked.insert("ami-a".into(), vec!["snap-d".into()]);
        let plan = scene.plan(&["ami-a"], false);
        assert_eq!(summary(&plan), ["delete snap-d 50"]);
        assert!(plan.facts.marks.is_empty(), "nothing left to mark");
        assert!(plan.warnings[0].contains("already deregistered"));
    }

    #[test]
    fn a_gone_ami_left_what_is_marked_for_it_or_else_what_ec2_made_for_it() {
        let gone = ["ami-11111111".to_string(), "ami-22222222".to_string()];
        let mut marked = snapshot("snap-m", 8);
        marked.tags.insert(format!("{WIPED_AMI_TAG}ami-11111111"), String::new());
        let mut made = snapshot("snap-c", 8);
        made.description = "Created by CreateImage(i-1234abcd) for ami-22222222 from vol-1234abcd".into();
        let mut other = snapshot("snap-o", 8);
        other.description = "Created by CreateImage(i-1234abcd) for ami-33333333 from vol-1234abcd".into();
        let snapshots = [marked, made, other, snapshot("snap-x", 8)];
        let found: Vec<(&str, &str)> =
            owners(&snapshots, &gone).map(|(ami, s)| (ami, s.id.as_str())).collect();
        assert_eq!(found, [("ami-11111111", "snap-m"), ("ami-22222222", "snap-c")]);
    }

    #[test]
    fn marks_naming_a_gone_ami_are_an_unfinished_wipe() {
        let mut left = snapshot("snap-l", 8);
        left.tags.insert(format!("{WIPED_AMI_TAG}ami-gone"), String::new());
        let mut again = snapshot("snap-m", 8);
        again.tags.insert(format!("{WIPED_AMI_TAG}ami-gone"), String::new());
        // Marked, but its AMI is still there: a wipe under way, or one refused after marking.
        let mut pending = snapshot("snap-p", 8);
        pending.tags.insert(format!("{WIPED_AMI_TAG}ami-here"), String::new());
        let images = [image("ami-here", "2026-01-01T00:00:00.000Z", &[("/dev/xvda", "snap-p", 8)])];
        assert_eq!(gone_marked(&images, &[left, again, pending, snapshot("snap-x", 8)]), ["ami-gone"]);
    }

    #[test]
    fn a_gone_ami_without_marks_is_nothing_to_do() {
        let plan = Scene::new().plan(&["ami-gone"], false);
        assert!(plan.actions.is_empty() && !plan.has_work());
        assert!(plan.warnings[0].contains("not in this account"));
    }

    #[test]
    fn a_chain_is_wiped_whole_and_each_shared_snapshot_deleted_once() {
        let images = vec![
            image("ami-root", "2026-01-01", &[("/dev/xvda", "snap-r", 8)]),
            child("ami-1", "ami-root", &[("/dev/xvda", "snap-r", 8), ("/dev/xvdb", "snap-1", 5)]),
            child(
                "ami-2",
                "ami-1",
                &[("/dev/xvda", "snap-r", 8), ("/dev/xvdb", "snap-1", 5), ("/dev/xvdc", "snap-2", 5)],
            ),
        ];
        let targets = with_descendants(&images, &["ami-1".to_string()]);
        assert_eq!(targets, ["ami-1", "ami-2"]);
        let scene = Scene {
            images,
            snapshots: vec![snapshot("snap-r", 8), snapshot("snap-1", 5), snapshot("snap-2", 5)],
            marked: BTreeMap::new(),
            usage: Usage::default(),
            locks: Ok(vec![]),
            bin: Err("not read".into()),
        };
        let targets: Vec<&str> = targets.iter().map(String::as_str).collect();
        let plan = scene.plan(&targets, false);
        assert_eq!(
            summary(&plan),
            [
                "deregister ami-1",
                "deregister ami-2",
                "refuse snap-r: kept: still used by ami-root",
                "delete snap-1 5",
                "delete snap-2 5"
            ]
        );
        let partial = scene.plan(&["ami-1"], false);
        assert!(
            partial.warnings.iter().any(|w| w.contains("ami-2 is derived from ami-1")),
            "{:?}",
            partial.warnings
        );
        assert_eq!(
            summary(&partial),
            [
                "deregister ami-1",
                "relink ami-2 to ami-root",
                "refuse snap-r: kept: still used by ami-root, ami-2",
                "refuse snap-1: kept: still used by ami-2"
            ]
        );
        // No ancestor survives: ami-2 keeps pointing at the gone ami-1, where `wipe --chain` finds it.
        let from_the_root = scene.plan(&["ami-root", "ami-1"], false);
        assert!(
            !summary(&from_the_root).iter().any(|a| a.starts_with("relink")),
            "{:?}",
            summary(&from_the_root)
        );
    }

    #[test]
    fn a_loop_of_hand_edited_tags_is_wiped_whole_and_never_relinks_an_ami_to_itself() {
        let images = vec![
            child("ami-a", "ami-b", &[("/dev/xvda", "snap-a", 8)]),
            child("ami-b", "ami-a", &[("/dev/xvda", "snap-b", 8)]),
        ];
        assert_eq!(
            with_descendants(&images, &["ami-a".to_string()]),
            ["ami-a", "ami-b"],
            "ami-b is derived from ami-a"
        );
        let scene = Scene {
            images,
            snapshots: vec![snapshot("snap-a", 8), snapshot("snap-b", 8)],
            marked: BTreeMap::new(),
            usage: Usage::default(),
            locks: Ok(vec![]),
            bin: Err("not read".into()),
        };
        assert_eq!(
            summary(&scene.plan(&["ami-a"], false)),
            ["deregister ami-a", "delete snap-a 8"],
            "ami-b's only ancestor is itself"
        );
    }

    /// Issue 34: a usage report's zero from an account it is shared with, for an AMI made or
    /// launched inside the report's lag, is no proof: refused, unless --force.
    #[test]
    fn a_usage_reports_zero_inside_its_lag_refuses_unless_forced() {
        const NOW: &str = "2026-12-07T12:00:00Z";
        let now = clock::parse(NOW).unwrap();
        let plan_at = |created: &str, launched: Option<&str>, force: bool| {
            let mut scene = Scene::new();
            scene.images[0].created = created.parse().ok();
            scene.images[0].last_launched = launched.and_then(|l| l.parse().ok());
            scene.usage.unseen.insert("ami-a".into(), vec!["999988887777".into()]);
            let targets = vec!["ami-a".to_string()];
            plan(&Facts {
                targets: &targets,
                images: &scene.images,
                snapshots: &scene.snapshots,
                marked: &scene.marked,
                usage: &scene.usage,
                locks: &scene.locks,
                bin: None,
                now,
                force,
            })
        };
        let made_today = plan_at("2026-12-07T09:00:00.000Z", None, false);
        let refused = summary(&made_today);
        assert_eq!(refused.len(), 1, "{refused:?}");
        assert!(refused[0].starts_with("refuse ami-a: an image usage report counted nothing in 999988887777"));
        assert!(refused[0].contains("was created (so shared) at 2026-12-07T09:00:00Z"), "{refused:?}");
        assert!(refused[0].contains("run again after 2026-12-10T09:00:00Z"), "{refused:?}");
        assert!(refusal(&made_today).is_some());

        let launched = summary(&plan_at("2026-01-01T00:00:00.000Z", Some("2026-12-05T18:00:00.000Z"), false));
        assert!(launched[0].contains("was last launched at 2026-12-05T18:00:00Z"), "{launched:?}");

        let forced = plan_at("2026-12-07T09:00:00.000Z", None, true);
        assert!(
            matches!(&forced.actions[0], Action::DeregisterImage { why, .. } if why.starts_with("--force, although an image usage report"))
        );

        let quiet = summary(&plan_at("2026-01-01T00:00:00.000Z", Some("2026-11-01T00:00:00.000Z"), false));
        assert_eq!(quiet[0], "deregister ami-a", "old and not launched lately: the zero holds: {quiet:?}");
    }
}
