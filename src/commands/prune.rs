//! Retention in the manner of EC2 Image Builder lifecycle rules: per release family, keep the
//! newest N, and wipe (or first disable) the rest that are older than an age. Whatever is
//! chosen goes through the same guards as `wipe`, so an AMI in use is never touched.

use super::{execute, parse_all, reach, refuse, Apply, Context, Mode, Own};
use crate::aws::inventory::{self, Grantees, Image, ImageState};
use crate::aws::org::Org;
use crate::aws::{Aws, LOOKUP_CONCURRENCY};
use crate::change::retire::{self, Plan};
use crate::change::{self, access, Action, Kind};
use crate::core::ids::AmiId;
use crate::core::progress::Progress;
use crate::core::tags;
use crate::error::{Error, Result};
use crate::spec;
use futures::stream::{self, StreamExt};
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// How many of the newest releases of each family always stay (a release set's AMIs count
    /// as one release).
    #[arg(long, default_value_t = 3)]
    pub keep: usize,

    /// Only AMIs older than this go (e.g. 90d, 12w, 36h); default: any age.
    #[arg(long, value_name = "AGE", value_parser = humantime::parse_duration)]
    pub older_than: Option<Duration>,

    /// Keep any AMI an instance was launched from within this long (e.g. 90d), whatever its
    /// age. Read from EC2's lastLaunchedTime, which AWS records up to a day late: the usage
    /// guards still see instances that run now.
    #[arg(long, value_name = "AGE", value_parser = humantime::parse_duration)]
    pub unused_for: Option<Duration>,

    /// A family: the AMIs whose name starts with this (several allowed).
    #[arg(long, value_name = "PREFIX", required_unless_present = "tags")]
    pub release_prefix: Vec<String>,

    /// A family: the AMIs carrying this tag, KEY=VALUE (several allowed).
    #[arg(long = "tag", id = "tags", value_name = "KEY=VALUE")]
    pub tags: Vec<String>,

    /// Disable the AMIs instead of wiping them (their snapshots stay).
    #[arg(long, conflicts_with = "deprecate")]
    pub disable: bool,

    /// Deprecate the AMIs from now instead of wiping them (still launchable by id).
    #[arg(long)]
    pub deprecate: bool,

    #[command(flatten)]
    pub apply: Apply,

    /// The spec whose [accounts] are checked for use of AMIs shared with them.
    #[arg(long, value_name = "FILE", default_value = spec::DEFAULT_PATH)]
    pub spec: PathBuf,
}

/// What `--output json` prints.
pub type Report = super::Mutation<retire::Findings>;
pub const JSON: super::Json = super::Json::of::<Report>();

/// The IAM permissions this command's AWS calls need (`gio-ami iam-policy prune`).
pub const IAM: &[&[crate::core::iam::Permission]] = &[
    super::reach::ASSUME,
    crate::aws::usage::IAM,
    crate::aws::usage_report::IAM,
    &crate::change::retire::RECYCLE_BIN,
    &crate::change::retire::IAM,
    &[crate::change::execute::DISABLE, crate::change::execute::DEPRECATE],
];

pub async fn run(args: Args, ctx: &Context<'_>) -> Result<()> {
    let mut families: Vec<Family> = args.release_prefix.into_iter().map(Family::Prefix).collect();
    families.extend(parse_all::<Family>(&args.tags)?);
    let stage = match (args.disable, args.deprecate) {
        (true, _) => Stage::Disable,
        (_, true) => Stage::Deprecate,
        _ => Stage::Delete,
    };
    let policy =
        Policy { families, keep: args.keep, older_than: args.older_than, unused_for: args.unused_for, stage };
    let aws = Aws::connect(&ctx.options).await?;
    let consumers = reach::consumers(&args.spec, &aws).await?;
    let progress = ctx.ui.progress();
    let plan = prepare(&aws, &consumers, &policy, crate::core::clock::now_epoch(), progress.as_ref()).await;
    progress.finish();
    let mut plan = plan?;
    warn_deprecations(&aws, &consumers, &mut plan).await?;
    // Refusals of AMIs in use are the policy at work; refusals for want of a look-up mean the
    // prune did not happen, and scripts must hear it.
    if !plan.facts.unchecked.is_empty() {
        let why = Error::Unchecked(plan.facts.unchecked.join("; "));
        return refuse(ctx, &plan, why, Own::default());
    }
    let mode = Mode::taking("prune", &args.apply, "changed");
    execute(ctx, &aws, &plan, &mode, Own::default(), || async {
        Ok(retire::apply(&aws, &plan).await?.into())
    })
    .await
}

/// A deprecated AMI the Allowed AMIs setting of a configured account tolerates only so long
/// after its deprecation stops launching there then: said before it happens.
async fn warn_deprecations(aws: &Aws, consumers: &Org, plan: &mut Plan) -> Result<()> {
    let deprecated: Vec<String> = plan
        .actions
        .iter()
        .filter(|a| matches!(a, Action::DeprecateImage { .. }))
        .map(|a| a.id().to_string())
        .collect();
    if consumers.configured() && !deprecated.is_empty() {
        let images = inventory::any_images_by_id(aws, &deprecated).await?;
        let checked = crate::aws::allowed::check(consumers, &images).await;
        plan.warnings.extend(checked.refusals.into_iter().chain(checked.warnings));
    }
    Ok(())
}

/// A release family: the AMIs one retention rule counts together.
#[derive(Debug, Clone, PartialEq)]
pub enum Family {
    /// AMIs whose name starts with this.
    Prefix(String),
    /// AMIs carrying this tag with this value.
    Tag { key: String, value: String },
}

impl Family {
    fn contains(&self, image: &Image) -> bool {
        match self {
            Family::Prefix(prefix) => image.name.starts_with(prefix.as_str()),
            Family::Tag { key, value } => image.tags.get(key) == Some(value),
        }
    }
}

/// `KEY=VALUE`, as `--tag` takes it.
impl FromStr for Family {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s.split_once('=') {
            Some((key, value)) if !key.is_empty() => {
                Ok(Family::Tag { key: key.to_string(), value: value.to_string() })
            }
            _ => Err(Error::InvalidTagFilter(s.to_string())),
        }
    }
}

/// The lifecycle stage applied to what the policy selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Deregister, and delete the snapshots no other AMI maps.
    Delete,
    /// DisableImage: nothing can launch it any more, and AWS takes every launch permission
    /// away; gio-ami records them first, so `gio-ami enable` gives both back.
    Disable,
    /// EnableImageDeprecation from now (the next minute AWS accepts): still launchable, flagged
    /// as on its way out.
    Deprecate,
}

#[derive(Debug, Clone)]
pub struct Policy {
    pub families: Vec<Family>,
    pub keep: usize,
    /// Only AMIs older than this go (none: every AMI beyond the newest `keep`).
    pub older_than: Option<Duration>,
    /// An AMI launched within this long stays, whatever its age (EC2's lastLaunchedTime).
    pub unused_for: Option<Duration>,
    pub stage: Stage,
}

/// The AMIs the policy lets go, newest first. `images` come newest first (as `own_images`
/// returns them); an AMI kept by any family is kept, and an AMI whose age is unknown is young.
/// A release set's AMIs count as one release, ranked by its newest, and stay or go together.
pub fn select(images: &[Image], policy: &Policy, now: i64) -> Vec<String> {
    let mut kept: HashSet<&str> = HashSet::new();
    let mut candidates: Vec<&str> = Vec::new();
    for family in &policy.families {
        for (rank, release) in releases(images.iter().filter(|i| family.contains(i))).iter().enumerate() {
            let young = release.iter().any(|i| !old_enough(i, policy.older_than, now));
            for image in release {
                if rank < policy.keep || young {
                    kept.insert(image.id.as_str());
                } else if !candidates.contains(&image.id.as_str()) {
                    candidates.push(image.id.as_str());
                }
            }
        }
    }
    candidates
        .into_iter()
        .filter(|id| !kept.contains(id))
        .filter(|id| {
            policy.stage != Stage::Disable
                || images.iter().any(|i| i.id == *id && i.state != ImageState::Disabled)
        })
        .map(str::to_string)
        .collect()
}

/// The images grouped by release, in order of each release's first: a release set's AMIs
/// (`gio-ami:arch` and `gio-ami:variant`) together, any other AMI alone.
fn releases<'a>(images: impl Iterator<Item = &'a Image>) -> Vec<Vec<&'a Image>> {
    let mut releases: Vec<Vec<&Image>> = Vec::new();
    for image in images {
        let set = image.set();
        match releases.iter_mut().find(|r| set.is_some() && r[0].set() == set) {
            Some(release) => release.push(image),
            None => releases.push(vec![image]),
        }
    }
    releases
}

/// A release set goes whole or not at all: a chosen AMI of a set another AMI of which stays
/// (kept by the policy, launched lately, or `held` by the guards) stays too, said why. Pure.
pub fn whole_sets(
    images: &[Image],
    chosen: Vec<String>,
    held: &HashSet<String>,
) -> (Vec<String>, Vec<Action>) {
    let going = |id: &str| chosen.iter().any(|c| c == id) && !held.contains(id);
    let mut kept = Vec::new();
    let go = chosen
        .iter()
        .filter(|id| {
            let Some(image) = images.iter().find(|i| i.id == id.as_str()) else { return true };
            let Some(release) = image.set() else { return true };
            let staying: Vec<&str> = images
                .iter()
                .filter(|i| i.set() == Some(release) && !going(i.id.as_str()))
                .map(|i| i.id.as_str())
                .collect();
            if staying.is_empty() || held.contains(id.as_str()) {
                return true;
            }
            kept.push(Action::Refuse {
                id: id.to_string(),
                kind: Kind::Image,
                why: format!("kept: release set {release} goes whole, and {} stays", staying.join(", ")),
            });
            false
        })
        .cloned()
        .collect();
    (go, kept)
}

fn old_enough(image: &Image, older_than: Option<Duration>, now: i64) -> bool {
    let Some(age) = older_than else { return true };
    image.created.as_ref().is_some_and(|c| c.epoch() + age.as_secs() as i64 <= now)
}

/// Splits the chosen AMIs into those that go and refusals for those launched within `window`
/// (an AMI never launched, or last before April 2017 when EC2 began to record it, goes). Pure.
pub fn keep_launched(
    images: &[Image],
    chosen: Vec<String>,
    window: Duration,
    now: i64,
) -> (Vec<String>, Vec<Action>) {
    let mut kept = Vec::new();
    let go = chosen
        .into_iter()
        .filter(|id| {
            let last = images.iter().find(|i| &i.id == id).and_then(|i| i.last_launched.as_ref());
            let recent = last.filter(|l| l.epoch() + window.as_secs() as i64 > now);
            if let Some(last) = recent {
                // As the user wrote it: humantime turns 90d into months and hours.
                let window = match window.as_secs() % 86_400 {
                    0 => format!("{}d", window.as_secs() / 86_400),
                    _ => humantime::format_duration(window).to_string(),
                };
                kept.push(Action::Refuse {
                    id: id.clone(),
                    kind: Kind::Image,
                    why: format!("kept: last launched {last} (within --unused-for {window})"),
                });
            }
            recent.is_none()
        })
        .collect();
    (go, kept)
}

/// Turns a wipe plan into an earlier lifecycle stage: the same AMIs, refused for the same
/// reasons, disabled or deprecated (from the earliest time AWS accepts at `now`) instead of
/// deregistered, and no snapshot touched.
pub fn earlier_stage(mut plan: Plan, stage: Stage, now: i64) -> Plan {
    let deprecate_at = change::earliest_deprecation(now);
    let protected = std::mem::take(&mut plan.facts.protected);
    let actions = plan
        .actions
        .into_iter()
        .filter_map(|action| match (action, stage) {
            (Action::DeregisterImage { id, name, why }, Stage::Disable) => Some(disabling(id, name, why)),
            (Action::DeregisterImage { id, name, why }, Stage::Deprecate) => {
                Some(Action::DeprecateImage { id, name, deprecate_at, why })
            }
            // Deregistration protection forbids deregistering, not disabling or deprecating.
            (Action::Refuse { id, kind: Kind::Image, why }, stage) => {
                match protected.iter().find(|(p, _)| *p == id) {
                    None => Some(Action::Refuse { id, kind: Kind::Image, why }),
                    Some((_, name)) => {
                        let (id, name, why) = (
                            AmiId::from_aws(id),
                            name.clone(),
                            "asked (deregistration protection does not stop this stage)".to_string(),
                        );
                        Some(match stage {
                            Stage::Disable => disabling(id, name, why),
                            _ => Action::DeprecateImage { id, name, deprecate_at, why },
                        })
                    }
                }
            }
            // Disabled or deprecated AMIs stay, and so do the links to them.
            (Action::DeleteSnapshot { .. } | Action::Relink { .. }, _) => None,
            (Action::Refuse { kind: Kind::Snapshot, .. }, _) => None,
            (other, _) => Some(other),
        })
        .collect();
    let facts = retire::Findings { marks: Default::default(), ..plan.facts };
    Plan { actions, facts, ..plan }
}

/// A disable whose launch permissions are not read yet (`with_grants` adds them).
fn disabling(id: AmiId, name: String, why: String) -> Action {
    Action::DisableImage { id, name, revoked: Default::default(), record: Default::default(), why }
}

/// Names in each disable who loses launch access and records them on the AMI (`access::record`);
/// an AMI whose launch permissions could not be read, or cannot be recorded, is refused: AWS
/// takes them all away, and nothing would say who had them. Pure.
pub fn with_grants(mut plan: Plan, images: &[Image], grants: &HashMap<String, Result<Grantees>>) -> Plan {
    for action in &mut plan.actions {
        let Action::DisableImage { id, revoked, record, why, .. } = action else { continue };
        let tags = images.iter().find(|i| i.id == *id).map(|i| i.tags.clone()).unwrap_or_default();
        let recorded = match grants.get(id.as_str()) {
            Some(Ok(with)) => access::record(with, &tags).map(|tags| (with, tags)),
            Some(Err(e)) => Err(format!(
                "its launch permissions could not be read ({e}); disabling removes them all, so gio-ami records them first"
            )),
            None => Err("its launch permissions were not read".to_string()),
        };
        match recorded {
            Ok((with, tags)) => {
                if !with.is_empty() {
                    why.push_str(&format!(
                        "; AWS removes every launch permission: {} lose access ({} records them; `gio-ami enable {id}` gives them back)",
                        with.names().join(", "),
                        tags::LAUNCH_GRANTS
                    ));
                }
                *revoked = with.clone();
                *record = tags;
            }
            Err(refused) => {
                *action = Action::Refuse { id: id.to_string(), kind: Kind::Image, why: refused };
            }
        }
    }
    plan
}

/// Reads the account's AMIs, applies the policy, and plans the stage through the wipe guards.
pub async fn prepare(
    aws: &Aws,
    consumers: &Org,
    policy: &Policy,
    now: i64,
    progress: &dyn Progress,
) -> Result<Plan> {
    let images = inventory::own_images(aws).await?;
    let (mut chosen, launched) = match policy.unused_for {
        Some(window) => keep_launched(&images, select(&images, policy, now), window, now),
        None => (select(&images, policy, now), Vec::new()),
    };
    // A prune killed between a DeregisterImage and its DeleteSnapshots left marked snapshots
    // that the policy cannot see any more; deleting them is what finishes that run.
    if policy.stage == Stage::Delete {
        chosen.extend(retire::unfinished(aws, &images).await?);
    }
    let (chosen, mut whole) = whole_sets(&images, chosen, &HashSet::new());
    if chosen.is_empty() {
        return Ok(Plan { actions: launched.into_iter().chain(whole).collect(), ..Plan::default() });
    }
    let deletes = policy.stage == Stage::Delete;
    let mut plan =
        retire::prepare_targets(aws, consumers, &images, &chosen, false, deletes, progress).await?;
    // An AMI of a set the guards keep (in use) keeps its whole set: plan again without the rest.
    let held: HashSet<String> = plan
        .actions
        .iter()
        .filter(|a| matches!(a, Action::Refuse { kind: Kind::Image, .. }))
        .map(|a| a.id().to_string())
        .collect();
    let (again, more) = whole_sets(&images, chosen.clone(), &held);
    if again.len() < chosen.len() {
        plan = retire::prepare_targets(aws, consumers, &images, &again, false, deletes, progress).await?;
        whole.extend(more);
    }
    plan.actions.extend(launched);
    plan.actions.extend(whole);
    Ok(match policy.stage {
        Stage::Delete => plan,
        Stage::Disable => {
            let plan = earlier_stage(plan, Stage::Disable, now);
            let disabled: Vec<&str> = plan
                .actions
                .iter()
                .filter(|a| matches!(a, Action::DisableImage { .. }))
                .map(Action::id)
                .collect();
            let grants: HashMap<String, Result<Grantees>> = stream::iter(disabled)
                .map(|id| async move { (id.to_string(), inventory::launch_permissions(aws, id).await) })
                .buffered(LOOKUP_CONCURRENCY)
                .collect()
                .await;
            with_grants(plan, &images, &grants)
        }
        stage => earlier_stage(plan, stage, now),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::inventory::tests::{image, snapshot};
    use crate::aws::usage::{Usage, Use, User};
    use aws_smithy_types::date_time::{DateTime, Format};
    use std::collections::BTreeMap;

    const DAY: i64 = 86_400;
    /// 2026-11-25T00:00:00Z
    const NOW: i64 = 1_795_564_800;

    fn release(id: &str, name: &str, days_old: i64) -> Image {
        let created = DateTime::from_secs(NOW - days_old * DAY).fmt(Format::DateTime).unwrap();
        let mut image = image(id, &created, &[("/dev/xvda", &format!("snap-{id}"), 8)]);
        image.name = name.into();
        image
    }

    fn policy(families: Vec<Family>, keep: usize, days: Option<u64>) -> Policy {
        Policy {
            families,
            keep,
            older_than: days.map(|d| Duration::from_secs(d * DAY as u64)),
            unused_for: None,
            stage: Stage::Delete,
        }
    }

    /// Five nightly builds of one family, newest first, and one of another family.
    fn account() -> Vec<Image> {
        vec![
            release("ami-5", "gio-node-5", 1),
            release("ami-4", "gio-node-4", 30),
            release("ami-3", "gio-node-3", 100),
            release("ami-x", "other-1", 200),
            release("ami-2", "gio-node-2", 120),
            release("ami-1", "gio-node-1", 400),
        ]
    }

    #[test]
    fn an_ami_launched_within_the_window_stays_and_says_when() {
        let mut images = account();
        let at = |days: i64| DateTime::from_secs(NOW - days * DAY).fmt(Format::DateTime).unwrap();
        images[2].last_launched = at(10).parse().ok();
        images[4].last_launched = at(100).parse().ok();
        let chosen = vec!["ami-3".to_string(), "ami-2".to_string(), "ami-1".to_string()];
        let (go, kept) = keep_launched(&images, chosen, Duration::from_secs(90 * DAY as u64), NOW);
        assert_eq!(go, ["ami-2", "ami-1"], "launched 100 days ago, or never");
        assert_eq!(
            kept,
            [Action::Refuse {
                id: "ami-3".into(),
                kind: Kind::Image,
                why: format!("kept: last launched {} (within --unused-for 90d)", at(10))
            }]
        );
    }

    #[test]
    fn keeps_the_newest_n_and_lets_the_old_rest_go() {
        let chosen = select(&account(), &policy(vec![Family::Prefix("gio-node-".into())], 2, Some(90)), NOW);
        assert_eq!(chosen, ["ami-3", "ami-2", "ami-1"]);
    }

    #[test]
    fn younger_than_the_age_stays_even_beyond_n() {
        let chosen = select(&account(), &policy(vec![Family::Prefix("gio-node-".into())], 1, Some(110)), NOW);
        assert_eq!(chosen, ["ami-2", "ami-1"], "ami-4 (30 days) and ami-3 (100 days) are too young");
    }

    #[test]
    fn families_count_separately_and_a_keep_in_one_wins() {
        let mut images = account();
        images[5].tags.insert("team".into(), "platform".into());
        let families = vec![Family::Prefix("gio-node-".into()), "team=platform".parse().unwrap()];
        let chosen = select(&images, &policy(families, 1, None), NOW);
        // gio-node- keeps ami-5 and lets ami-1 go, but ami-1 is the newest of team=platform.
        assert_eq!(chosen, ["ami-4", "ami-3", "ami-2"]);
    }

    /// Three nightly release sets of two AMIs each (x86_64 and arm64), newest first.
    fn sets() -> Vec<Image> {
        let mut images = Vec::new();
        for (n, days) in [(3, 10), (2, 100), (1, 200)] {
            for arch in ["x86_64", "arm64"] {
                let mut image =
                    release(&format!("ami-{n}{arch}"), &format!("gio-node-{n}-{arch}-standard"), days);
                image.tags.insert(tags::RELEASE.into(), format!("gio-node-{n}"));
                image.tags.insert(tags::ARCH.into(), arch.into());
                image.tags.insert(tags::VARIANT.into(), "standard".into());
                images.push(image);
            }
        }
        images
    }

    #[test]
    fn keep_counts_releases_and_a_set_goes_whole() {
        let family = || vec![Family::Prefix("gio-node-".into())];
        let chosen = select(&sets(), &policy(family(), 2, None), NOW);
        assert_eq!(chosen, ["ami-1x86_64", "ami-1arm64"], "two releases stay: four AMIs");
        // A set with one AMI young enough stays whole.
        let mut images = sets();
        images[3].created = images[0].created.clone();
        assert_eq!(select(&images, &policy(family(), 1, Some(90)), NOW), ["ami-1x86_64", "ami-1arm64"]);
    }

    #[test]
    fn a_set_whose_one_ami_stays_keeps_the_others() {
        let images = sets();
        let chosen = vec!["ami-1x86_64".to_string(), "ami-1arm64".to_string(), "ami-2arm64".to_string()];
        let (go, kept) = whole_sets(&images, chosen.clone(), &HashSet::new());
        assert_eq!(go, ["ami-1x86_64", "ami-1arm64"]);
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].id(), "ami-2arm64");
        assert_eq!(kept[0].why(), "kept: release set gio-node-2 goes whole, and ami-2x86_64 stays");
        // The guards hold one (in use): its sibling stays, and it is still planned (refused).
        let held = HashSet::from(["ami-1arm64".to_string()]);
        let (go, kept) = whole_sets(&images, go, &held);
        assert_eq!(go, ["ami-1arm64"]);
        assert_eq!(kept[0].id(), "ami-1x86_64");
    }

    #[test]
    fn tag_filters_need_a_key_and_an_equals_sign() {
        assert_eq!(
            "team=".parse::<Family>().unwrap(),
            Family::Tag { key: "team".into(), value: String::new() }
        );
        assert!("team".parse::<Family>().is_err());
        assert!("=x".parse::<Family>().is_err());
    }

    #[test]
    fn an_ami_in_use_is_never_pruned_and_earlier_stages_touch_no_snapshot() {
        let images = account();
        let chosen = select(&images, &policy(vec![Family::Prefix("gio-node-".into())], 2, Some(90)), NOW);
        let usage = Usage {
            uses: vec![Use {
                account: None,
                ami: "ami-2".into(),
                user: User::SsmParameter { name: "/prod/ami".into() },
            }],
            ..Usage::default()
        };
        let snapshots: Vec<_> =
            images.iter().flat_map(|i| i.snapshot_ids()).map(|s| snapshot(s, 8)).collect();
        let plan = retire::plan(&retire::Facts {
            targets: &chosen,
            images: &images,
            snapshots: &snapshots,
            marked: &BTreeMap::new(),
            usage: &usage,
            locks: &Ok(vec![]),
            bin: None,
            now: 0,
            force: false,
        });
        assert!(plan.actions.contains(&Action::Refuse {
            id: "ami-2".into(),
            kind: Kind::Image,
            why: "in use by SSM parameter /prod/ami".into()
        }));
        assert_eq!(plan.count(|a| matches!(a, Action::DeregisterImage { .. })), 2);
        assert_eq!(plan.freed_gib(), 16);

        let deprecated = earlier_stage(plan.clone(), Stage::Deprecate, NOW);
        assert_eq!(
            deprecated.count(
                |a| matches!(a, Action::DeprecateImage { deprecate_at, .. } if *deprecate_at == NOW + 60)
            ),
            2
        );
        assert_eq!(deprecated.actions.len(), 3, "no snapshot action: {:?}", deprecated.actions);
        let disabled = earlier_stage(plan, Stage::Disable, NOW);
        let kinds: Vec<(&str, &str)> = disabled
            .actions
            .iter()
            .map(|a| {
                (
                    a.id(),
                    match a {
                        Action::DisableImage { .. } => "disable",
                        Action::Refuse { .. } => "refuse",
                        _ => "other",
                    },
                )
            })
            .collect();
        assert_eq!(kinds, [("ami-3", "disable"), ("ami-2", "refuse"), ("ami-1", "disable")]);
        assert_eq!(disabled.freed_gib(), 0);
    }

    #[test]
    fn protection_refuses_deletion_but_not_the_earlier_stages() {
        let mut images = account();
        let chosen = select(&images, &policy(vec![Family::Prefix("gio-node-".into())], 2, Some(90)), NOW);
        images
            .iter_mut()
            .filter(|i| i.id == "ami-2")
            .for_each(|i| i.protection = crate::aws::inventory::Protection::Enabled { cooldown: false });
        let snapshots: Vec<_> =
            images.iter().flat_map(|i| i.snapshot_ids()).map(|s| snapshot(s, 8)).collect();
        let facts = retire::Facts {
            targets: &chosen,
            images: &images,
            snapshots: &snapshots,
            marked: &BTreeMap::new(),
            usage: &Usage::default(),
            locks: &Ok(vec![]),
            bin: None,
            now: 0,
            force: false,
        };
        let plan = retire::plan(&facts);
        assert!(plan.actions.iter().any(|a| matches!(a, Action::Refuse { id, why, .. } if id == "ami-2" && why.contains("gio-ami protect --unprotect ami-2"))));
        let disabled = earlier_stage(plan.clone(), Stage::Disable, NOW);
        assert_eq!(disabled.count(|a| matches!(a, Action::DisableImage { .. })), 3, "{:?}", disabled.actions);
        let deprecated = earlier_stage(plan, Stage::Deprecate, NOW);
        assert!(deprecated
            .actions
            .iter()
            .any(|a| matches!(a, Action::DeprecateImage { id, .. } if id == "ami-2")));
    }

    #[test]
    fn a_disable_names_who_loses_launch_access_and_records_them_or_refuses() {
        let images = account();
        let disable = |id: &str| disabling(id.into(), format!("gio-node-{id}"), "asked".into());
        let plan =
            Plan { actions: vec![disable("ami-3"), disable("ami-2"), disable("ami-1")], ..Plan::default() };
        let org = "arn:aws:organizations::111122223333:organization/o-abc1234567";
        let shared = Grantees {
            accounts: vec!["222233334444".into()],
            organizations: vec![org.into()],
            ..Default::default()
        };
        let denied = Error::Api {
            operation: "DescribeImageAttribute",
            code: "UnauthorizedOperation".into(),
            message: "no".into(),
        };
        let grants = HashMap::from([
            ("ami-3".to_string(), Ok(shared.clone())),
            ("ami-2".to_string(), Ok(Grantees::default())),
            ("ami-1".to_string(), Err(denied)),
        ]);
        let plan = with_grants(plan, &images, &grants);
        let Action::DisableImage { revoked, record, why, .. } = &plan.actions[0] else {
            panic!("{:?}", plan.actions)
        };
        assert_eq!(revoked, &shared);
        assert_eq!(record[tags::LAUNCH_GRANTS], format!("222233334444 {org}"));
        assert!(
            why.contains(&format!("222233334444, {org} lose access")) && why.contains("gio-ami enable ami-3"),
            "{why}"
        );
        assert!(plan.actions[0].detail().contains("222233334444"), "the table names them");
        assert!(
            matches!(&plan.actions[1], Action::DisableImage { record, why, .. } if record.is_empty() && why == "asked")
        );
        assert!(
            matches!(&plan.actions[2], Action::Refuse { why, .. } if why.contains("could not be read")),
            "{:?}",
            plan.actions[2]
        );
    }

    #[test]
    fn disable_skips_what_is_already_disabled() {
        let mut images = account();
        images[5].state = "disabled".into();
        let mut p = policy(vec![Family::Prefix("gio-node-".into())], 2, Some(90));
        p.stage = Stage::Disable;
        assert_eq!(select(&images, &p, NOW), ["ami-3", "ami-2"]);
    }
}
