//! Plan → apply for every mutating command: a plan is a list of typed actions with reasons,
//! computed purely from facts read beforehand (printable with `--dry-run`); apply carries it
//! out in safe order with bounded concurrency, one outcome per action, and counts "already
//! gone" (or "already done") as done so a re-run finishes a half-done job.

pub mod access;
pub mod execute;
mod procedure;
pub mod protection;
pub mod publication;
pub mod quota;
pub mod retire;
pub mod sharing;

pub(crate) use execute::is_gone;
pub use procedure::{split, Procedure, Step, Target};

use crate::aws::inventory::Grantees;
use crate::aws::recycle_bin::Binned;
use crate::aws::Aws;
use crate::core::clock;
use crate::core::ids::{AmiId, InstanceId, SnapshotId};
use crate::core::tags;
use crate::error::Error;
use futures::stream::{self, StreamExt};
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::Serialize;
use std::borrow::Cow;
use std::collections::HashSet;

/// Calls in flight at once: enough to finish a large plan quickly, few enough to stay under
/// EC2's mutating-call throttle (which also serves the account's other tools).
pub const CONCURRENCY: usize = 8;
/// EnableImageDeprecation refuses a DeprecateAt in the past, and rounds seconds to the nearest
/// minute (which can round a time just ahead of now into the past). "Deprecate from now" goes
/// out as the first whole minute at least this far ahead: room for the request to travel and for
/// this machine's clock to run a little behind AWS's.
const DEPRECATION_MARGIN_SECS: i64 = 60;

/// An action that another needs to have reached its goal first, named as the plan names it:
/// its resource's kind and id. Apply runs the dependent action only once every action it needs
/// is done (or reused, or already gone); otherwise its outcome is `Skipped`, naming which one
/// failed. Stages order the calls; this says which failure stops which call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Needs {
    pub kind: Kind,
    pub id: String,
}

impl Needs {
    pub fn action(action: &Action) -> Needs {
        Needs { kind: action.kind(), id: action.id().to_string() }
    }

    fn is(&self, action: &Action) -> bool {
        action.kind() == self.kind && action.id() == self.id
    }
}

/// The kind of resource an action is about, so no renderer guesses it from an id prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Instance,
    Image,
    Snapshot,
    Parameter,
    RetentionRule,
}

impl Kind {
    /// How a count of them reads in a summary line.
    pub fn plural(self) -> &'static str {
        match self {
            Kind::Instance => "instance(s)",
            Kind::Image => "AMI(s)",
            Kind::Snapshot => "snapshot(s)",
            Kind::Parameter => "SSM parameter(s)",
            Kind::RetentionRule => "Recycle Bin rule(s)",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    TerminateInstance {
        id: InstanceId,
        why: String,
    },
    DeregisterImage {
        id: AmiId,
        name: String,
        why: String,
    },
    /// The first lifecycle stage before deletion: the AMI stays but nothing can launch it, and
    /// AWS takes every launch permission away ("removes all launch permissions from the AMI",
    /// DisableImage), which re-enabling does not give back. Whom it takes them from is written
    /// on the AMI first (`record`, see `access`), so `gio-ami enable` can give them back.
    /// https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DisableImage.html
    DisableImage {
        id: AmiId,
        name: String,
        /// Who loses launch access.
        #[serde(skip_serializing_if = "Grantees::is_empty")]
        revoked: Grantees,
        #[serde(skip)]
        record: tags::Tags,
        why: String,
    },
    /// A disabled AMI launchable again (EnableImage, when `disabled`), with the launch
    /// permissions its disabling recorded granted again, then that record (`record`: its tag
    /// keys) removed. AWS: those who "lost access to the AMI when it was disabled do not regain
    /// access automatically" (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/disable-an-ami.html).
    EnableImage {
        id: AmiId,
        name: String,
        #[serde(skip)]
        disabled: bool,
        #[serde(skip_serializing_if = "Grantees::is_empty")]
        granted: Grantees,
        #[serde(skip)]
        record: Vec<String>,
        why: String,
    },
    /// The gentlest stage: the AMI is deprecated from `deprecate_at` (seconds since the epoch,
    /// shown as UTC): hidden from listings of other accounts, still launchable by id.
    DeprecateImage {
        id: AmiId,
        name: String,
        #[serde(serialize_with = "utc")]
        #[schemars(with = "String")]
        deprecate_at: i64,
        why: String,
    },
    DeleteSnapshot {
        id: SnapshotId,
        size_gib: i32,
        why: String,
    },
    /// An AMI derived from one the plan deregisters gets its nearest surviving ancestor as
    /// `gio-ami:parent-ami`, so its chain stays whole for `lineage` and `wipe --chain`.
    Relink {
        id: AmiId,
        parent: AmiId,
        why: String,
    },
    /// Deregistration protection on (`enable`, with the 24-hour `cooldown` or not) or off.
    ProtectImage {
        id: AmiId,
        name: String,
        enable: bool,
        cooldown: bool,
        why: String,
    },
    /// A snapshot brought back from the Recycle Bin: before the AMI that maps it, which AWS
    /// restores only once all its snapshots are back.
    RestoreSnapshot {
        id: SnapshotId,
        why: String,
    },
    /// An AMI brought back from the Recycle Bin, as it was: mappings, tags, launch permissions.
    /// `after`: the restores of its snapshots, which AWS needs done first.
    RestoreImage {
        id: AmiId,
        name: String,
        why: String,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        after: Vec<Needs>,
    },
    /// A snapshot moved to the archive tier (ModifySnapshotTier), once no AMI maps it.
    ArchiveSnapshot {
        id: SnapshotId,
        size_gib: i32,
        why: String,
    },
    /// An archived snapshot brought back to the standard tier (RestoreSnapshotTier), for
    /// `temporary_days` or (None) for good. AWS takes up to 72 hours.
    RestoreFromArchive {
        id: SnapshotId,
        temporary_days: Option<i32>,
        why: String,
    },
    /// A Recycle Bin retention rule on gio-ami's tag for AMIs or snapshots: made (`previous`
    /// None, `id` "(new)") or given a new retention.
    RetainInRecycleBin {
        id: String,
        binned: Binned,
        days: i32,
        previous: Option<i32>,
        why: String,
    },
    /// Something the plan will not touch, and why (in use, shared with another AMI, …).
    Refuse {
        id: String,
        /// Known to the plan, not printed: the JSON of a refusal predates it.
        #[serde(skip)]
        kind: Kind,
        why: String,
    },
    /// Tags written on an AMI and its snapshots in one call; values in place are overwritten.
    /// `after`: what the tags record, which must have happened first (a publication's mark
    /// after its parameter write).
    TagImage {
        id: AmiId,
        snapshots: Vec<SnapshotId>,
        tags: tags::Tags,
        why: String,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        after: Vec<Needs>,
    },
    /// Grants (or revokes) launching the AMI to these accounts, organizations and OUs (ARNs).
    ModifyLaunchPermission {
        id: AmiId,
        #[serde(flatten)]
        with: Grantees,
        add: bool,
        why: String,
    },
    /// Grants (or revokes) creating volumes from the snapshot (copying an AMI, restoring its
    /// disks) to these accounts.
    ModifyCreateVolumePermission {
        id: SnapshotId,
        accounts: Vec<String>,
        add: bool,
        why: String,
    },
    /// A new version of an SSM parameter (`id` is its name), of data type `aws:ec2:image`; done
    /// once SSM has validated and stored it. SSM keeps the earlier versions.
    PutParameter {
        id: String,
        value: AmiId,
        previous: Option<String>,
        description: String,
        why: String,
    },
    /// A resource that already is what the plan wants (an earlier run made it, or nothing is
    /// left to write): nothing to call, and its outcome says `reused`.
    Reuse {
        id: String,
        #[serde(skip)]
        kind: Kind,
        why: String,
    },
}

impl Action {
    pub fn id(&self) -> &str {
        match self {
            Action::TerminateInstance { id, .. } => id.as_str(),
            Action::DeregisterImage { id, .. }
            | Action::DisableImage { id, .. }
            | Action::EnableImage { id, .. }
            | Action::DeprecateImage { id, .. }
            | Action::Relink { id, .. }
            | Action::TagImage { id, .. }
            | Action::ModifyLaunchPermission { id, .. }
            | Action::ProtectImage { id, .. }
            | Action::RestoreImage { id, .. } => id.as_str(),
            Action::DeleteSnapshot { id, .. }
            | Action::ModifyCreateVolumePermission { id, .. }
            | Action::RestoreSnapshot { id, .. }
            | Action::ArchiveSnapshot { id, .. }
            | Action::RestoreFromArchive { id, .. } => id.as_str(),
            Action::Refuse { id, .. }
            | Action::PutParameter { id, .. }
            | Action::RetainInRecycleBin { id, .. }
            | Action::Reuse { id, .. } => id,
        }
    }

    pub fn kind(&self) -> Kind {
        match self {
            Action::TerminateInstance { .. } => Kind::Instance,
            Action::DeregisterImage { .. }
            | Action::DisableImage { .. }
            | Action::EnableImage { .. }
            | Action::DeprecateImage { .. }
            | Action::Relink { .. }
            | Action::TagImage { .. }
            | Action::ProtectImage { .. }
            | Action::RestoreImage { .. }
            | Action::ModifyLaunchPermission { .. } => Kind::Image,
            Action::DeleteSnapshot { .. }
            | Action::RestoreSnapshot { .. }
            | Action::ArchiveSnapshot { .. }
            | Action::RestoreFromArchive { .. }
            | Action::ModifyCreateVolumePermission { .. } => Kind::Snapshot,
            Action::PutParameter { .. } => Kind::Parameter,
            Action::RetainInRecycleBin { .. } => Kind::RetentionRule,
            Action::Refuse { kind, .. } | Action::Reuse { kind, .. } => *kind,
        }
    }

    /// What the action does, in one word: the only spelling every renderer uses.
    pub fn verb(&self) -> &'static str {
        match self {
            Action::TerminateInstance { .. } => "terminate",
            Action::DeregisterImage { .. } => "deregister",
            Action::DisableImage { .. } => "disable",
            Action::EnableImage { .. } => "enable",
            Action::DeprecateImage { .. } => "deprecate",
            Action::DeleteSnapshot { .. } => "delete",
            Action::Relink { .. } => "relink",
            // A refused AMI stops a wipe, so it shouts; anything else refused is simply kept.
            Action::Refuse { kind: Kind::Image, .. } => "REFUSE",
            Action::Refuse { .. } => "keep",
            Action::TagImage { .. } => "tag",
            Action::ModifyLaunchPermission { add: true, .. }
            | Action::ModifyCreateVolumePermission { add: true, .. } => "grant",
            Action::ModifyLaunchPermission { .. } | Action::ModifyCreateVolumePermission { .. } => "revoke",
            Action::PutParameter { .. } => "put",
            Action::ProtectImage { enable: true, .. } => "protect",
            Action::ProtectImage { .. } => "unprotect",
            Action::RestoreSnapshot { .. } | Action::RestoreImage { .. } => "restore",
            Action::RetainInRecycleBin { .. } => "retain",
            Action::ArchiveSnapshot { .. } => "archive",
            Action::RestoreFromArchive { .. } => "unarchive",
            Action::Reuse { .. } => "reuse",
        }
    }

    pub fn why(&self) -> &str {
        match self {
            Action::TerminateInstance { why, .. }
            | Action::DeregisterImage { why, .. }
            | Action::DisableImage { why, .. }
            | Action::EnableImage { why, .. }
            | Action::DeprecateImage { why, .. }
            | Action::DeleteSnapshot { why, .. }
            | Action::Relink { why, .. }
            | Action::Refuse { why, .. }
            | Action::TagImage { why, .. }
            | Action::ModifyLaunchPermission { why, .. }
            | Action::ModifyCreateVolumePermission { why, .. }
            | Action::PutParameter { why, .. }
            | Action::ProtectImage { why, .. }
            | Action::RestoreSnapshot { why, .. }
            | Action::ArchiveSnapshot { why, .. }
            | Action::RestoreFromArchive { why, .. }
            | Action::RestoreImage { why, .. }
            | Action::RetainInRecycleBin { why, .. }
            | Action::Reuse { why, .. } => why,
        }
    }

    /// The resource as people read it: an AMI with its name where the action knows it.
    pub fn resource(&self) -> String {
        match self {
            Action::DeregisterImage { id, name, .. }
            | Action::DisableImage { id, name, .. }
            | Action::EnableImage { id, name, .. }
            | Action::ProtectImage { id, name, .. }
            | Action::RestoreImage { id, name, .. } => {
                format!("{id} ({name})")
            }
            // When it takes effect is part of what is deprecated: AWS moves it to a whole minute.
            Action::DeprecateImage { id, name, deprecate_at, .. } => {
                format!("{id} ({name}) from {}", clock::rfc3339(*deprecate_at))
            }
            // The move from the old value to the new one is the news, read as one phrase.
            Action::PutParameter { id, value, previous, .. } => {
                format!("{id} {} -> {value}", previous.as_deref().unwrap_or("(new)"))
            }
            Action::RetainInRecycleBin { binned, previous: None, .. } => {
                format!("new rule ({})", binned.noun())
            }
            Action::RetainInRecycleBin { id, binned, .. } => format!("{id} ({})", binned.noun()),
            other => other.id().to_string(),
        }
    }

    /// The action as it goes out at `now`: a deprecation time that a long confirmation let come
    /// too close moves to the earliest one AWS still accepts, and the outcome shows the new one.
    fn as_sent(&self, now: i64) -> Action {
        match self {
            Action::DeprecateImage { id, name, deprecate_at, why } => Action::DeprecateImage {
                id: id.clone(),
                name: name.clone(),
                deprecate_at: (*deprecate_at).max(earliest_deprecation(now)),
                why: why.clone(),
            },
            other => other.clone(),
        }
    }

    /// The action's particulars for a table cell: size, new parent, tags, accounts.
    pub fn detail(&self) -> String {
        match self {
            Action::DeleteSnapshot { size_gib, .. } | Action::ArchiveSnapshot { size_gib, .. } => {
                format!("{size_gib} GiB")
            }
            Action::RestoreFromArchive { temporary_days: Some(days), .. } => format!("for {days} days"),
            Action::RestoreFromArchive { .. } => "for good".into(),
            Action::Relink { parent, .. } => format!("parent {parent}"),
            Action::ProtectImage { enable: true, cooldown: true, .. } => "with a 24 h cooldown".into(),
            Action::RetainInRecycleBin { days, previous: Some(before), .. } => {
                format!("{before} -> {days} days")
            }
            Action::RetainInRecycleBin { days, .. } => format!("{days} days"),
            Action::TagImage { snapshots, tags, .. } => {
                let written: Vec<String> = tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
                let also = if snapshots.is_empty() {
                    String::new()
                } else {
                    let names: Vec<&str> = snapshots.iter().map(SnapshotId::as_str).collect();
                    format!("\n(and {})", names.join(", "))
                };
                format!("{}{also}", written.join("\n"))
            }
            Action::ModifyLaunchPermission { with, .. } | Action::EnableImage { granted: with, .. }
                if !with.is_empty() =>
            {
                format!("launch: {}", with.names().join(" "))
            }
            Action::DisableImage { revoked, .. } if !revoked.is_empty() => {
                format!("launch lost: {}", revoked.names().join(" "))
            }
            Action::ModifyCreateVolumePermission { accounts, .. } => {
                format!("create volume: {}", accounts.join(" "))
            }
            _ => String::new(),
        }
    }

    /// The actions this one needs done first (see `Needs`).
    pub fn after(&self) -> &[Needs] {
        match self {
            Action::TagImage { after, .. } | Action::RestoreImage { after, .. } => after,
            _ => &[],
        }
    }

    /// Does nothing by design: a refusal or a reuse.
    pub fn is_noop(&self) -> bool {
        matches!(self, Action::Refuse { .. } | Action::Reuse { .. })
    }

    /// Whether EC2's "not found" means this action's goal is reached (a deletion's, a change's
    /// to something that no longer matters), or that it failed: a restore or an enable that
    /// finds nothing brought nothing back.
    fn gone_is_done(&self) -> bool {
        !matches!(
            self,
            Action::RestoreSnapshot { .. } | Action::RestoreImage { .. } | Action::EnableImage { .. }
        )
    }

    fn stage(&self) -> Stage {
        match self {
            Action::TerminateInstance { .. }
            | Action::Relink { .. }
            | Action::ModifyCreateVolumePermission { add: true, .. }
            | Action::RestoreSnapshot { .. }
            | Action::RestoreFromArchive { .. }
            | Action::RetainInRecycleBin { .. }
            | Action::ModifyLaunchPermission { add: false, .. } => Stage::Instances,
            Action::ModifyLaunchPermission { add: true, .. } => Stage::LaunchGrants,
            Action::PutParameter { .. } => Stage::Parameters,
            Action::DeregisterImage { .. }
            | Action::DisableImage { .. }
            | Action::EnableImage { .. }
            | Action::DeprecateImage { .. }
            | Action::TagImage { .. }
            | Action::ProtectImage { .. }
            | Action::RestoreImage { .. } => Stage::Images,
            // Archived only once its AMI is deregistered: AWS archives no snapshot an AMI maps.
            Action::DeleteSnapshot { .. }
            | Action::ArchiveSnapshot { .. }
            | Action::ModifyCreateVolumePermission { add: false, .. } => Stage::Snapshots,
            Action::Refuse { .. } | Action::Reuse { .. } => Stage::Unchanged,
        }
    }
}

/// When apply makes an action's call, in this order (the variants' order is `Ord`'s): each
/// stage starts once the one before it has finished. Instances go first (they hold volumes),
/// then images (they hold snapshots), then snapshots: AWS refuses each deletion while the
/// previous kind still holds it. Sharing grants a snapshot before its AMI, and unsharing
/// revokes the AMI first, so that no account is ever left with an AMI it sees but cannot use.
/// A parameter is written once its account may launch the AMI (SSM validates an
/// `aws:ec2:image` value), and names the AMI before the AMI's tag says it is published.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Stage {
    /// Instances terminated, and what must come before any image changes: links mended (so a
    /// wipe stopped half-way never leaves a chain cut), snapshots granted or brought back,
    /// launch permissions revoked, retention rules set.
    Instances,
    /// Launch permissions granted, once their snapshots' are.
    LaunchGrants,
    /// SSM parameters written, once their account may launch the AMI.
    Parameters,
    /// Images deregistered, disabled, enabled, deprecated, tagged, protected or restored.
    Images,
    /// Snapshots deleted or archived, or their volume permissions revoked, once no image holds
    /// them.
    Snapshots,
    /// Refusals and reuses: nothing to call; reported last.
    Unchanged,
}

/// What a plan holds, as reports and renderers read it: an `Action` apply carries out, a
/// `Procedure` its engine carries out, or a `Step` that is either.
pub trait Planned {
    fn id(&self) -> &str;
    fn kind(&self) -> Kind;
    fn verb(&self) -> &'static str;
    fn why(&self) -> &str;
    fn resource(&self) -> String;
    fn detail(&self) -> String;
    /// Does nothing by design: a refusal or a reuse.
    fn is_noop(&self) -> bool;
    /// Something the plan will not touch.
    fn is_refusal(&self) -> bool;
    /// The GiB of snapshot storage it frees, when it deletes a snapshot.
    fn frees_gib(&self) -> Option<i64>;
}

impl Planned for Action {
    fn id(&self) -> &str {
        Action::id(self)
    }

    fn kind(&self) -> Kind {
        Action::kind(self)
    }

    fn verb(&self) -> &'static str {
        Action::verb(self)
    }

    fn why(&self) -> &str {
        Action::why(self)
    }

    fn resource(&self) -> String {
        Action::resource(self)
    }

    fn detail(&self) -> String {
        Action::detail(self)
    }

    fn is_noop(&self) -> bool {
        Action::is_noop(self)
    }

    fn is_refusal(&self) -> bool {
        matches!(self, Action::Refuse { .. })
    }

    fn frees_gib(&self) -> Option<i64> {
        match self {
            Action::DeleteSnapshot { size_gib, .. } => Some(i64::from(*size_gib)),
            _ => None,
        }
    }
}

/// The earliest deprecation time to send at `now` (see DEPRECATION_MARGIN_SECS): what
/// "deprecate from now" means.
pub fn earliest_deprecation(now: i64) -> i64 {
    (now + DEPRECATION_MARGIN_SECS + 59).div_euclid(60) * 60
}

fn utc<S: serde::Serializer>(epoch: &i64, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&clock::rfc3339(*epoch))
}

/// What a command will do, and the facts it decided from (`F`, its own): what `--dry-run`
/// prints and what apply carries out. Its steps (`S`) are `Action`s, which `apply` carries
/// out, or, for a command whose engine makes something, `Step`s.
#[derive(Debug, Clone)]
pub struct Plan<F = (), S = Action> {
    pub actions: Vec<S>,
    pub warnings: Vec<String>,
    pub facts: F,
}

/// A plan's facts about one AMI, or about each AMI of a release set (`--release NAME`, or an AMI
/// of a set standing for all of it).
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum OneOrSet<T> {
    One(T),
    Set { release: String, variants: Vec<T> },
}

impl<F, S> Plan<F, S> {
    /// This plan as the one AMI it is about.
    pub fn one(self) -> Plan<OneOrSet<F>, S> {
        Plan { actions: self.actions, warnings: self.warnings, facts: OneOrSet::One(self.facts) }
    }

    /// The plans of a release set's AMIs as one: every action and warning, in order, so the
    /// set is shown, confirmed and applied as a whole.
    pub fn set(release: String, plans: Vec<Plan<F, S>>) -> Plan<OneOrSet<F>, S> {
        let (mut actions, mut warnings, mut variants) = (Vec::new(), Vec::new(), Vec::new());
        for plan in plans {
            actions.extend(plan.actions);
            warnings.extend(plan.warnings);
            variants.push(plan.facts);
        }
        Plan { actions, warnings, facts: OneOrSet::Set { release, variants } }
    }
}

impl<F: Clone, S: Clone> Plan<F, S> {
    /// The plans of a verb's AMIs as the one it shows and confirms: the release's (`--release`),
    /// or the one AMI's. The plans themselves stay, each applied by its own procedure.
    pub fn one_or_set(release: Option<&str>, plans: &[Plan<F, S>]) -> Plan<OneOrSet<F>, S> {
        match release {
            Some(release) => Plan::set(release.to_string(), plans.to_vec()),
            None => plans[0].clone().one(),
        }
    }
}

impl<F: Default, S> Default for Plan<F, S> {
    fn default() -> Self {
        Plan { actions: Vec::new(), warnings: Vec::new(), facts: F::default() }
    }
}

/// The actions, the warnings, what the plan frees (derived, so never out of step with the
/// actions), then the command's facts beside them.
impl<F: Serialize, S: Serialize + Planned> Serialize for Plan<F, S> {
    fn serialize<Ser: serde::Serializer>(&self, serializer: Ser) -> Result<Ser::Ok, Ser::Error> {
        PlanJson {
            actions: &self.actions,
            warnings: &self.warnings,
            freed_gib: self.freed_gib(),
            facts: &self.facts,
        }
        .serialize(serializer)
    }
}

impl<F, S> Plan<F, S> {
    /// Adds a step: an action, or in a plan of `Step`s a procedure too.
    pub fn push(&mut self, step: impl Into<S>) {
        self.actions.push(step.into());
    }
}

/// Its schema is the one of what it prints.
impl<F: JsonSchema + 'static, S: JsonSchema + 'static> JsonSchema for Plan<F, S> {
    fn schema_name() -> Cow<'static, str> {
        PlanJson::<'static, F, S>::schema_name()
    }

    fn schema_id() -> Cow<'static, str> {
        PlanJson::<'static, F, S>::schema_id()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        PlanJson::<'static, F, S>::json_schema(generator)
    }
}

/// A plan as JSON shows it: one type for what prints and for its schema.
#[derive(Serialize, JsonSchema)]
#[schemars(rename = "Plan_for_{F}")]
struct PlanJson<'a, F, S> {
    actions: &'a [S],
    warnings: &'a [String],
    freed_gib: i64,
    #[serde(flatten)]
    facts: &'a F,
}

impl<F, S: Planned> Plan<F, S> {
    /// How many actions of one kind: what the planners' unit tests assert on.
    #[cfg(test)]
    pub fn count(&self, kind: fn(&S) -> bool) -> usize {
        self.actions.iter().filter(|a| kind(a)).count()
    }

    /// Something to call AWS for.
    pub fn has_work(&self) -> bool {
        self.actions.iter().any(|a| !a.is_noop())
    }

    /// Something to apply: work, or something an earlier run made, whose outcome (`reused`)
    /// tells a re-run the job is done. Only refusals leave nothing to apply.
    pub fn applies(&self) -> bool {
        self.actions.iter().any(|a| !a.is_refusal())
    }

    /// The GiB of snapshot storage the plan deletes.
    pub fn freed_gib(&self) -> i64 {
        self.actions.iter().filter_map(Planned::frees_gib).sum()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Done,
    /// Already what the plan wants (an earlier run made it): nothing was called.
    Reused,
    /// Someone (or an earlier run) deleted it already: the goal is reached.
    AlreadyGone,
    Refused,
    Failed(Failure),
    /// Not attempted: an action it needs (`Action::after`) did not reach its goal; says which.
    Skipped(String),
}

/// Why a step failed, as its report says it; and when AWS denied it the IAM action it lacked,
/// which the command's error then names the policy of.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(transparent)]
pub struct Failure {
    why: String,
    #[serde(skip)]
    denied: Option<String>,
}

impl Failure {
    /// The IAM action AWS denied, when that is why the step failed.
    pub fn denied(&self) -> Option<&str> {
        self.denied.as_deref()
    }
}

impl From<&Error> for Failure {
    fn from(error: &Error) -> Self {
        let denied = match error {
            Error::AccessDenied { service, operation, .. } => Some(format!("{service}:{operation}")),
            _ => None,
        };
        Failure { why: error.to_string(), denied }
    }
}

impl From<String> for Failure {
    fn from(why: String) -> Self {
        Failure { why, denied: None }
    }
}

impl From<&str> for Failure {
    fn from(why: &str) -> Self {
        why.to_string().into()
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.why)
    }
}

impl Status {
    /// The goal is reached, by this run or an earlier one.
    pub fn reached(&self) -> bool {
        matches!(self, Status::Done | Status::Reused | Status::AlreadyGone)
    }
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Outcome<S = Action> {
    #[serde(flatten)]
    pub action: S,
    pub status: Status,
}

impl Outcome {
    /// The outcome of an action as a plan of `Step`s reports it.
    pub fn into_step(self) -> Outcome<Step> {
        Outcome { action: Step::Action(self.action), status: self.status }
    }
}

/// What an apply did: one outcome per step, and what the command made, for the fields its
/// JSON carried before the shared shape (an upload's counts, a build's phases; `()` for none).
#[derive(Debug, Clone, Serialize)]
pub struct Applied<R = (), S = Action> {
    pub outcomes: Vec<Outcome<S>>,
    #[serde(skip)]
    pub made: R,
}

impl<S> Applied<(), S> {
    /// Several applies' outcomes, in order, as one (a release set's AMIs, each applied apart).
    pub fn joined(parts: Vec<Applied<(), S>>) -> Self {
        parts.into_iter().flat_map(|applied| applied.outcomes).collect::<Vec<_>>().into()
    }
}

impl<S> From<Vec<Outcome<S>>> for Applied<(), S> {
    fn from(outcomes: Vec<Outcome<S>>) -> Self {
        Applied { outcomes, made: () }
    }
}

/// Carries out the plan stage by stage; one failure does not stop the others, and is reported.
/// Only actions: a procedure is its engine's to carry out.
pub async fn apply(aws: &Aws, actions: &[Action]) -> Vec<Outcome> {
    apply_in(|_| aws, actions).await
}

/// Carries out a plan that spans two accounts: parameters in `consumer` (the account a cluster
/// runs in), and what acts on the image (its marks, launch permissions and protection) in
/// `owner`, where it is owned; stage by stage across both, as `apply`.
pub async fn apply_across(owner: &Aws, consumer: &Aws, actions: &[Action]) -> Vec<Outcome> {
    apply_in(|action| if action.kind() == Kind::Parameter { consumer } else { owner }, actions).await
}

async fn apply_in<'a>(place: impl Fn(&Action) -> &'a Aws, actions: &[Action]) -> Vec<Outcome> {
    let mut stages: Vec<Stage> = actions.iter().map(Action::stage).collect();
    stages.sort();
    stages.dedup();
    let mut outcomes: Vec<Outcome> = Vec::with_capacity(actions.len());
    for stage in stages {
        let batch: Vec<&Action> = actions.iter().filter(|a| a.stage() == stage).collect();
        // What EC2 may still see holding a snapshot for a while (aws::consistency).
        let deregistered = deregistered(&outcomes);
        let (place, deregistered) = (&place, &deregistered);
        let earlier = &outcomes;
        let done: Vec<Outcome> = stream::iter(batch)
            .map(|action| async move {
                let aws = place(action);
                let action = action.as_sent(clock::now_epoch());
                let status = match blocked(&action, actions, earlier) {
                    Some(why) => Status::Skipped(why),
                    None => execute::execute(aws, &action, deregistered).await,
                };
                Outcome { status, action }
            })
            .buffered(CONCURRENCY)
            .collect()
            .await;
        outcomes.extend(done);
    }
    outcomes
}

/// Why `action` must not run, given the outcomes of the stages before: an action it needs
/// failed (or was kept, or skipped), or is planned no earlier than it, which would be a plan
/// this engine cannot order. An action it needs that the plan does not hold has nothing to
/// wait for.
fn blocked(action: &Action, actions: &[Action], earlier: &[Outcome]) -> Option<String> {
    let named = |a: &Action| format!("{} {}", a.verb(), a.id());
    action.after().iter().find_map(|needs| match earlier.iter().find(|o| needs.is(&o.action)) {
        Some(o) if o.status.reached() => None,
        Some(o @ Outcome { status: Status::Failed(_), .. }) => {
            Some(format!("not attempted: {} failed", named(&o.action)))
        }
        Some(o @ Outcome { status: Status::Skipped(_), .. }) => {
            Some(format!("not attempted: {} was not attempted", named(&o.action)))
        }
        Some(o) => Some(format!("not attempted: {} was kept as it is", o.action.id())),
        None => actions
            .iter()
            .find(|a| needs.is(a))
            .map(|a| format!("not attempted: {} is not planned before it", named(a))),
    })
}

/// The AMIs these outcomes deregistered (or found already gone).
fn deregistered(outcomes: &[Outcome]) -> HashSet<String> {
    outcomes
        .iter()
        .filter(|o| matches!(o.action, Action::DeregisterImage { .. }))
        .filter(|o| matches!(o.status, Status::Done | Status::AlreadyGone))
        .map(|o| o.action.id().to_string())
        .collect()
}

/// True when every action reached its goal (refusals are not failures: they were planned).
pub fn succeeded<S>(outcomes: &[Outcome<S>]) -> bool {
    outcomes.iter().all(|o| !matches!(o.status, Status::Failed(_) | Status::Skipped(_)))
}

/// How a plan went, in counts: what it meant to change, and what became of each action.
#[derive(Debug, Clone, Default, PartialEq, Serialize, JsonSchema)]
pub struct Summary {
    /// Actions that call AWS (refusals and reuses do not).
    pub planned: usize,
    pub changed: usize,
    pub reused: usize,
    pub already_gone: usize,
    pub kept: usize,
    pub failed: usize,
    /// Not attempted because an action they need failed.
    pub skipped: usize,
}

impl Summary {
    pub fn of<S: Planned>(actions: &[S], outcomes: &[Outcome<S>]) -> Summary {
        let count = |f: fn(&Status) -> bool| outcomes.iter().filter(|o| f(&o.status)).count();
        Summary {
            planned: actions.iter().filter(|a| !a.is_noop()).count(),
            changed: count(|s| *s == Status::Done),
            reused: count(|s| *s == Status::Reused),
            already_gone: count(|s| *s == Status::AlreadyGone),
            kept: count(|s| *s == Status::Refused),
            failed: count(|s| matches!(s, Status::Failed(_))),
            skipped: count(|s| matches!(s, Status::Skipped(_))),
        }
    }
}

/// What every mutating command reports, in one shape: the plan, whether it was applied, one
/// outcome per action, and the counts.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(bound(serialize = "F: Serialize, S: Serialize + Planned"))]
#[schemars(bound = "F: JsonSchema + 'static, S: JsonSchema + 'static", rename = "Report_for_{F}")]
pub struct Report<'a, F, S = Action> {
    pub plan: &'a Plan<F, S>,
    pub applied: bool,
    pub outcomes: &'a [Outcome<S>],
    pub summary: Summary,
}

impl<'a, F, S: Planned> Report<'a, F, S> {
    /// `outcomes` is `None` when nothing was applied (a dry run, or nothing to do).
    pub fn new(plan: &'a Plan<F, S>, outcomes: Option<&'a [Outcome<S>]>) -> Self {
        let applied = outcomes.is_some();
        let outcomes = outcomes.unwrap_or_default();
        Report { plan, applied, outcomes, summary: Summary::of(&plan.actions, outcomes) }
    }

    /// The error a command exits with when some action failed, naming the first failure (an
    /// action skipped for it counts too, but is named only when nothing else is).
    pub fn failure(&self, command: &'static str) -> Option<Error> {
        let failed: Vec<String> = self
            .outcomes
            .iter()
            .filter_map(|o| match &o.status {
                Status::Failed(why) => Some(format!("{}: {why}", o.action.id())),
                _ => None,
            })
            .chain(self.outcomes.iter().filter_map(|o| match &o.status {
                Status::Skipped(why) => Some(format!("{}: {why}", o.action.id())),
                _ => None,
            }))
            .collect();
        let first = failed.first()?.clone();
        let denied = self.outcomes.iter().find_map(|o| match &o.status {
            Status::Failed(failure) => failure.denied().map(str::to_string),
            _ => None,
        });
        Some(Error::Incomplete { command, failed: failed.len(), total: self.outcomes.len(), first, denied })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_order_instances_images_snapshots() {
        let snapshot = Action::DeleteSnapshot { id: "snap-1".into(), size_gib: 8, why: String::new() };
        let image = Action::DeregisterImage { id: "ami-1".into(), name: "n".into(), why: String::new() };
        let instance = Action::TerminateInstance { id: "i-1".into(), why: String::new() };
        assert!(instance.stage() < image.stage() && image.stage() < snapshot.stage());
    }

    #[test]
    fn gone_codes_count_as_done() {
        let gone = Error::Api {
            operation: "DeleteSnapshot",
            code: "InvalidSnapshot.NotFound".into(),
            message: String::new(),
        };
        assert!(is_gone(&gone));
        let in_use = Error::Api {
            operation: "DeleteSnapshot",
            code: "InvalidSnapshot.InUse".into(),
            message: String::new(),
        };
        assert!(!is_gone(&in_use));
    }

    #[test]
    fn not_found_is_a_deletions_goal_but_a_restores_failure() {
        let delete = Action::DeleteSnapshot { id: "snap-1".into(), size_gib: 8, why: String::new() };
        let restore = Action::RestoreSnapshot { id: "snap-1".into(), why: String::new() };
        let enable = Action::EnableImage {
            id: "ami-1".into(),
            name: "n".into(),
            disabled: true,
            granted: Grantees::default(),
            record: vec![],
            why: String::new(),
        };
        assert!(delete.gone_is_done());
        assert!(!restore.gone_is_done() && !enable.gone_is_done(), "nothing came back");
    }

    #[test]
    fn stages_run_in_the_order_they_are_declared() {
        let stages = [
            Stage::Instances,
            Stage::LaunchGrants,
            Stage::Parameters,
            Stage::Images,
            Stage::Snapshots,
            Stage::Unchanged,
        ];
        assert!(stages.windows(2).all(|w| w[0] < w[1]));
        let refuse = Action::Refuse { id: "ami-1".into(), kind: Kind::Image, why: String::new() };
        assert_eq!(refuse.stage(), Stage::Unchanged, "nothing to call: reported last");
    }

    #[test]
    fn deprecation_goes_out_on_a_whole_minute_at_least_the_margin_ahead() {
        // 2026-11-25T00:00:00Z, then 1 s and 59 s later.
        let now = 1_795_564_800;
        assert_eq!(earliest_deprecation(now), now + 60);
        assert_eq!(earliest_deprecation(now + 1), now + 120);
        assert_eq!(earliest_deprecation(now + 59), now + 120);
        let planned = Action::DeprecateImage {
            id: "ami-1".into(),
            name: "n".into(),
            deprecate_at: now + 120,
            why: String::new(),
        };
        assert_eq!(planned.as_sent(now + 30), planned, "still far enough ahead: sent as planned");
        let Action::DeprecateImage { deprecate_at, .. } = planned.as_sent(now + 600) else { unreachable!() };
        assert_eq!(deprecate_at, now + 660, "a long confirmation moves it to the earliest time AWS accepts");
        let json = serde_json::to_value(&planned).unwrap();
        assert_eq!(json["deprecate_at"], "2026-11-25T00:02:00Z");
    }

    #[test]
    fn actions_serialize_with_their_kind() {
        let json = serde_json::to_value(Action::Refuse {
            id: "ami-1".into(),
            kind: Kind::Image,
            why: "in use".into(),
        })
        .unwrap();
        assert_eq!(json, serde_json::json!({"action": "refuse", "id": "ami-1", "why": "in use"}));
    }

    #[test]
    fn refusals_read_by_their_typed_kind() {
        let refuse = |kind| Action::Refuse { id: "x".into(), kind, why: String::new() };
        assert_eq!(refuse(Kind::Image).verb(), "REFUSE");
        assert_eq!(refuse(Kind::Snapshot).verb(), "keep");
        assert_eq!(refuse(Kind::Instance).verb(), "keep");
    }

    #[test]
    fn a_report_counts_outcomes_and_names_the_first_failure() {
        let delete = |id: &str| Action::DeleteSnapshot { id: id.into(), size_gib: 8, why: String::new() };
        let keep = Action::Refuse { id: "snap-k".into(), kind: Kind::Snapshot, why: String::new() };
        let plan: Plan =
            Plan { actions: vec![delete("snap-1"), delete("snap-2"), keep.clone()], ..Plan::default() };
        let outcomes = [
            Outcome { action: delete("snap-1"), status: Status::Failed("InUse".into()) },
            Outcome { action: delete("snap-2"), status: Status::AlreadyGone },
            Outcome { action: keep, status: Status::Refused },
        ];
        let report = Report::new(&plan, Some(&outcomes));
        assert_eq!(
            report.summary,
            Summary { planned: 2, changed: 0, reused: 0, already_gone: 1, kept: 1, failed: 1, skipped: 0 }
        );
        let err = report.failure("wipe").unwrap().to_string();
        assert!(err.contains("1 of 3 steps failed (first: snap-1: InUse)"), "{err}");
        assert_eq!(plan.freed_gib(), 16);
        assert_eq!(
            serde_json::to_value(&plan).unwrap()["freed_gib"],
            16,
            "shown as derived from the actions"
        );
        let dry = Report::new(&plan, None);
        assert!(!dry.applied && dry.failure("wipe").is_none());
        assert_eq!(dry.summary.planned, 2);
    }

    fn put(id: &str) -> Action {
        Action::PutParameter {
            id: id.into(),
            value: "ami-1".into(),
            previous: None,
            description: String::new(),
            why: String::new(),
        }
    }

    fn mark_after(needed: &[&Action]) -> Action {
        Action::TagImage {
            id: "ami-1".into(),
            snapshots: vec![],
            tags: Default::default(),
            why: String::new(),
            after: needed.iter().map(|a| Needs::action(a)).collect(),
        }
    }

    fn outcome(action: &Action, status: Status) -> Outcome {
        Outcome { action: action.clone(), status }
    }

    #[test]
    fn an_action_runs_only_once_what_it_needs_reached_its_goal() {
        let parameter = put("/p");
        let mark = mark_after(&[&parameter]);
        let plan = [parameter.clone(), mark.clone()];
        for reached in [Status::Done, Status::Reused, Status::AlreadyGone] {
            assert_eq!(blocked(&mark, &plan, &[outcome(&parameter, reached)]), None);
        }
        assert_eq!(
            blocked(&mark, &plan, &[outcome(&parameter, Status::Failed("ThrottlingException".into()))])
                .as_deref(),
            Some("not attempted: put /p failed")
        );
        assert_eq!(
            blocked(&mark, &plan, &[outcome(&parameter, Status::Skipped("x".into()))]).as_deref(),
            Some("not attempted: put /p was not attempted"),
            "a skip passes down the chain"
        );
        let kept = Action::Refuse { id: "/p".into(), kind: Kind::Parameter, why: String::new() };
        assert_eq!(
            blocked(&mark, &[kept.clone(), mark.clone()], &[outcome(&kept, Status::Refused)]).as_deref(),
            Some("not attempted: /p was kept as it is")
        );
        let reused = Action::Reuse { id: "/p".into(), kind: Kind::Parameter, why: String::new() };
        assert_eq!(
            blocked(&mark, &[reused.clone(), mark.clone()], &[outcome(&reused, Status::Reused)]),
            None
        );
    }

    #[test]
    fn a_need_outside_the_plan_waits_for_nothing_and_one_not_run_yet_blocks() {
        let parameter = put("/p");
        let mark = mark_after(&[&parameter]);
        assert_eq!(blocked(&mark, std::slice::from_ref(&mark), &[]), None, "nothing to wait for");
        assert_eq!(
            blocked(&mark, &[parameter, mark.clone()], &[]).as_deref(),
            Some("not attempted: put /p is not planned before it"),
            "never run ahead of what it needs"
        );
    }

    #[test]
    fn an_ami_restore_needs_every_restore_of_its_snapshots() {
        let snapshot = |id: &str| Action::RestoreSnapshot { id: id.into(), why: String::new() };
        let (a, b) = (snapshot("snap-a"), snapshot("snap-b"));
        let image = Action::RestoreImage {
            id: "ami-1".into(),
            name: "n".into(),
            why: String::new(),
            after: vec![Needs::action(&a), Needs::action(&b)],
        };
        assert!(a.stage() < image.stage(), "the stages order them too");
        let plan = [a.clone(), b.clone(), image.clone()];
        let failed = Status::Failed("IncorrectState".into());
        assert_eq!(
            blocked(&image, &plan, &[outcome(&a, Status::Done), outcome(&b, failed)]).as_deref(),
            Some("not attempted: restore snap-b failed")
        );
        assert_eq!(blocked(&image, &plan, &[outcome(&a, Status::Done), outcome(&b, Status::Done)]), None);
    }

    #[test]
    fn a_skipped_action_fails_the_report_after_the_failure_it_follows() {
        let parameter = put("/p");
        let mark = mark_after(&[&parameter]);
        let plan: Plan = Plan { actions: vec![parameter.clone(), mark.clone()], ..Plan::default() };
        let outcomes = [
            outcome(&mark, Status::Skipped("not attempted: put /p failed".into())),
            outcome(&parameter, Status::Failed("dropped".into())),
        ];
        assert!(!succeeded(&outcomes));
        let report = Report::new(&plan, Some(&outcomes));
        assert_eq!((report.summary.failed, report.summary.skipped), (1, 1));
        let err = report.failure("publish").unwrap().to_string();
        assert!(err.contains("2 of 2 steps failed (first: /p: dropped)"), "{err}");
        let json = serde_json::to_value(&outcomes[0]).unwrap();
        assert_eq!(json["status"]["skipped"], "not attempted: put /p failed");
        assert_eq!(json["after"], serde_json::json!([{"kind": "parameter", "id": "/p"}]));
    }

    #[test]
    fn sharing_grants_snapshots_first_and_unsharing_revokes_the_ami_first() {
        let launch = |add| Action::ModifyLaunchPermission {
            id: "ami-1".into(),
            with: Grantees::default(),
            add,
            why: String::new(),
        };
        let volume = |add| Action::ModifyCreateVolumePermission {
            id: "snap-1".into(),
            accounts: vec![],
            add,
            why: String::new(),
        };
        assert!(volume(true).stage() < launch(true).stage());
        assert!(launch(false).stage() < volume(false).stage());
        let parameter = Action::PutParameter {
            id: "/p".into(),
            value: "ami-1".into(),
            previous: None,
            description: String::new(),
            why: String::new(),
        };
        let mark = Action::TagImage {
            id: "ami-1".into(),
            snapshots: vec![],
            tags: Default::default(),
            why: String::new(),
            after: vec![Needs::action(&parameter)],
        };
        assert!(
            launch(true).stage() < parameter.stage() && parameter.stage() < mark.stage(),
            "SSM validates that the account may launch it"
        );
    }
}
