//! Model-checked guards: generated account inventories (AMIs sharing snapshots, disk chains,
//! disabled AMIs, instances in every state, launch templates with many versions, Auto Scaling
//! groups with mixed-instances overrides and launch configurations, nodegroups, SSM parameters,
//! failed look-ups) and random `wipe`, `wipe --chain`, `prune` and `gc` requests, fed to the pure
//! planners. No server: the planners take facts, and an oracle written here, from AWS's rules and
//! the invariants of ARCHITECTURE.md (never from the planners' own helpers), says what may go.
//! Both directions are checked: nothing that must stay is removed, and everything free that the
//! request covers is.

use gio_ami::aws::inventory::{Boot, Image, ImageState, InstanceState, Mapping, Snapshot};
use gio_ami::aws::nodegroups::{Nodegroup, TemplateRef};
use gio_ami::aws::usage::{Group, Instance, Observed, Reference, Template, Usage, User};
use gio_ami::change::retire::{self, Facts, Request};
use gio_ami::change::{Action, Kind};
use gio_ami::commands::prune::{self, Family, Policy, Stage};
use gio_ami::core::ids::SnapshotId;
use gio_ami::core::{clock, tags};
use gio_ami::engines::leftovers::{self, Builder, Leftovers, Liveness, Process};
use gio_ami::Error;
use proptest::prelude::*;
use proptest::sample::Index;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// Thousands of cases a run over the properties, each under a millisecond in debug.
const CASES: u32 = 2000;
/// Enough AMIs for chains three deep, shared snapshots and families with several releases.
const AMIS_MAX: usize = 7;
/// Fewer snapshots than mapping slots, so AMIs share them often.
const SNAPSHOT_POOL: usize = 8;
const TEMPLATES_MAX: usize = 2;
const LAUNCH_CONFIGURATIONS_MAX: usize = 2;
/// Build ids a gc world draws from: few, so builds own several resources.
const BUILDS: usize = 3;
/// AMIs deregistered before this run: parents of chain members, and a wipe may name them again.
const GONE: [&str; 2] = ["ami-000000f0", "ami-000000f1"];
/// An EKS-optimized base outside the account: a parent, and something instances run.
const BASE: &str = "ami-0e500000";
const DAY: i64 = 86_400;
/// 2026-11-25T00:00:00Z
const NOW: i64 = 1_795_564_800;
const FAMILY_PREFIX: &str = "gio-node-";
const TEAM: (&str, &str) = ("team", "platform");
/// The host gc runs on, and the one builder process alive there.
const HERE: &str = "this-host";
const ALIVE_PID: u32 = 42;
/// How a group names a template, as `usage` reads it from DescribeAutoScalingGroups.
const HOW: [&str; 3] = [
    "launch template",
    "mixed-instances policy, launch template",
    "mixed-instances override, launch template",
];
const INSTANCE_STATES: [InstanceState; 6] = [
    InstanceState::Pending,
    InstanceState::Running,
    InstanceState::ShuttingDown,
    InstanceState::Terminated,
    InstanceState::Stopping,
    InstanceState::Stopped,
];

// ---- what is generated -------------------------------------------------------------------

#[derive(Clone, Debug)]
enum Parent {
    None,
    /// An AMI generated before this one: a chain.
    Earlier(Index),
    /// Any AMI of the account, itself included: hand-edited tags that may loop.
    Any(Index),
    Base,
    Gone(usize),
}

#[derive(Clone, Debug)]
struct AmiSpec {
    snapshots: Vec<Index>,
    parent: Parent,
    /// A disk chain member: it maps every snapshot of its parent, then its own.
    extends_parent: bool,
    in_prefix_family: bool,
    in_team_family: bool,
    /// None: AWS gave no creation date.
    age_days: Option<i64>,
    disabled: bool,
    build: Option<usize>,
    release: bool,
}

#[derive(Clone, Debug)]
struct SnapshotSpec {
    /// Not deleted yet (an earlier run may have deleted some).
    exists: bool,
    size_gib: i32,
    build: Option<usize>,
}

#[derive(Clone, Debug)]
enum AmiRef {
    Account(Index),
    Gone(usize),
    Base,
}

#[derive(Clone, Debug)]
enum VersionRef {
    Absent,
    Default,
    Latest,
    Number(i64),
}

#[derive(Clone, Debug)]
struct RefSpec {
    /// May name a template that does not exist (deleted under the group).
    template: usize,
    by_name: bool,
    version: VersionRef,
}

#[derive(Clone, Debug)]
struct TemplateSpec {
    /// Version n + 1 launches `versions[n]` (None: the version names no AMI).
    versions: Vec<Option<AmiRef>>,
    default: Index,
}

#[derive(Clone, Debug)]
struct GroupSpec {
    templates: Vec<(RefSpec, usize)>,
    /// May name a launch configuration that does not exist.
    launch_configuration: Option<usize>,
}

#[derive(Clone, Debug)]
enum ParameterValue {
    /// The id, with whitespace around it as hand-written values have.
    Ami(AmiRef, &'static str),
    /// A 17-digit id that starts with an 8-digit one: a different AMI.
    Longer(AmiRef),
    Text,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Lookup {
    Instances,
    Templates,
    Groups,
    LaunchConfigurations,
    Nodegroups,
    Parameters,
    Sharing,
    /// DescribeImageReferences: its failure is a skipped cross-check, never a refusal.
    References,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum UserKind {
    Instance,
    LaunchTemplate,
    AutoScalingGroup,
    LaunchConfiguration,
    Nodegroup,
    SsmParameter,
    /// Only EC2's own reference list sees it (an Image Builder recipe).
    Referenced,
    /// An image usage report's count in an account gio-ami cannot enter.
    Counted,
}

impl From<&User> for UserKind {
    fn from(user: &User) -> Self {
        match user {
            User::Instance { .. } => UserKind::Instance,
            User::LaunchTemplate { .. } => UserKind::LaunchTemplate,
            User::AutoScalingGroup { .. } => UserKind::AutoScalingGroup,
            User::LaunchConfiguration { .. } => UserKind::LaunchConfiguration,
            User::Nodegroup { .. } => UserKind::Nodegroup,
            User::SsmParameter { .. } => UserKind::SsmParameter,
            User::Referenced { .. } => UserKind::Referenced,
            User::Counted { .. } => UserKind::Counted,
        }
    }
}

#[derive(Clone, Debug)]
struct UsageSpec {
    instances: Vec<(AmiRef, usize)>,
    templates: Vec<TemplateSpec>,
    groups: Vec<GroupSpec>,
    launch_configurations: Vec<AmiRef>,
    nodegroups: Vec<Option<RefSpec>>,
    parameters: Vec<ParameterValue>,
    shared: Vec<AmiRef>,
    /// Image Builder recipes, which only DescribeImageReferences reports.
    recipes: Vec<AmiRef>,
    failed: BTreeSet<Lookup>,
}

#[derive(Clone, Debug)]
struct World {
    amis: Vec<AmiSpec>,
    snapshots: Vec<SnapshotSpec>,
    /// Per gone AMI, the snapshots an interrupted wipe marked for it.
    marks: Vec<Vec<Index>>,
    usage: UsageSpec,
}

#[derive(Clone, Debug)]
enum Asked {
    Account(Index),
    Gone(usize),
}

#[derive(Clone, Debug)]
struct WipeSpec {
    asked: Vec<Asked>,
    chain: bool,
    force: bool,
}

#[derive(Clone, Debug)]
struct PruneSpec {
    prefix: bool,
    team: bool,
    keep: usize,
    older_than_days: Option<u64>,
    stage: Stage,
}

#[derive(Clone, Debug)]
enum Host {
    Here,
    Elsewhere,
    Unknown,
}

#[derive(Clone, Debug)]
struct BuilderSpec {
    build: usize,
    state: usize,
    host: Host,
    /// Some(alive)
    pid: Option<bool>,
    /// Some(in the future)
    deadline: Option<bool>,
}

fn parent() -> impl Strategy<Value = Parent> {
    prop_oneof![
        3 => Just(Parent::None),
        4 => any::<Index>().prop_map(Parent::Earlier),
        1 => any::<Index>().prop_map(Parent::Any),
        1 => Just(Parent::Base),
        1 => (0..GONE.len()).prop_map(Parent::Gone),
    ]
}

fn ami_spec() -> impl Strategy<Value = AmiSpec> {
    (
        prop::collection::vec(any::<Index>(), 1..=3),
        parent(),
        any::<bool>(),
        prop::bool::weighted(0.7),
        prop::bool::weighted(0.3),
        prop::option::weighted(0.9, 0..400i64),
        prop::bool::weighted(0.2),
        prop::option::weighted(0.5, 0..BUILDS),
        any::<bool>(),
    )
        .prop_map(
            |(
                snapshots,
                parent,
                extends_parent,
                in_prefix_family,
                in_team_family,
                age_days,
                disabled,
                build,
                release,
            )| AmiSpec {
                snapshots,
                parent,
                extends_parent,
                in_prefix_family,
                in_team_family,
                age_days,
                disabled,
                build,
                release,
            },
        )
}

fn snapshot_spec() -> impl Strategy<Value = SnapshotSpec> {
    (prop::bool::weighted(0.9), 1..100i32, prop::option::weighted(0.5, 0..BUILDS))
        .prop_map(|(exists, size_gib, build)| SnapshotSpec { exists, size_gib, build })
}

fn ami_ref() -> impl Strategy<Value = AmiRef> {
    prop_oneof![
        8 => any::<Index>().prop_map(AmiRef::Account),
        1 => (0..GONE.len()).prop_map(AmiRef::Gone),
        1 => Just(AmiRef::Base),
    ]
}

fn ref_spec() -> impl Strategy<Value = RefSpec> {
    let version = prop_oneof![
        Just(VersionRef::Absent),
        Just(VersionRef::Default),
        Just(VersionRef::Latest),
        (1..=5i64).prop_map(VersionRef::Number),
    ];
    // One past the last template: a reference to a template deleted under the group.
    (0..=TEMPLATES_MAX, any::<bool>(), version).prop_map(|(template, by_name, version)| RefSpec {
        template,
        by_name,
        version,
    })
}

fn usage_spec() -> impl Strategy<Value = UsageSpec> {
    let template = (prop::collection::vec(prop::option::weighted(0.7, ami_ref()), 1..=3), any::<Index>())
        .prop_map(|(versions, default)| TemplateSpec { versions, default });
    let group = (
        prop::collection::vec((ref_spec(), 0..HOW.len()), 0..=3),
        prop::option::weighted(0.3, 0..=LAUNCH_CONFIGURATIONS_MAX),
    )
        .prop_map(|(templates, launch_configuration)| GroupSpec { templates, launch_configuration });
    let parameter = prop_oneof![
        4 => (ami_ref(), prop::sample::select(vec!["", "\n", " ", "\t\n"])).prop_map(|(ami, pad)| ParameterValue::Ami(ami, pad)),
        1 => ami_ref().prop_map(ParameterValue::Longer),
        1 => Just(ParameterValue::Text),
    ];
    let lookups = [
        Lookup::Instances,
        Lookup::Templates,
        Lookup::Groups,
        Lookup::LaunchConfigurations,
        Lookup::Nodegroups,
        Lookup::Parameters,
        Lookup::Sharing,
        Lookup::References,
    ];
    // One in about five accounts has a look-up that fails.
    let failed = prop::collection::vec(prop::bool::weighted(0.03), lookups.len())
        .prop_map(move |fails| lookups.iter().zip(fails).filter(|(_, f)| *f).map(|(l, _)| *l).collect());
    (
        prop::collection::vec((ami_ref(), 0..INSTANCE_STATES.len()), 0..=2),
        prop::collection::vec(template, 0..=TEMPLATES_MAX),
        prop::collection::vec(group, 0..=2),
        prop::collection::vec(ami_ref(), 0..=LAUNCH_CONFIGURATIONS_MAX),
        prop::collection::vec(prop::option::weighted(0.8, ref_spec()), 0..=2),
        prop::collection::vec(parameter, 0..=2),
        prop::collection::vec(ami_ref(), 0..=2),
        (prop::collection::vec(ami_ref(), 0..=1), failed),
    )
        .prop_map(
            |(
                instances,
                templates,
                groups,
                launch_configurations,
                nodegroups,
                parameters,
                shared,
                (recipes, failed),
            )| UsageSpec {
                instances,
                templates,
                groups,
                launch_configurations,
                nodegroups,
                parameters,
                shared,
                recipes,
                failed,
            },
        )
}

fn world() -> impl Strategy<Value = World> {
    (
        prop::collection::vec(ami_spec(), 1..=AMIS_MAX),
        prop::collection::vec(snapshot_spec(), SNAPSHOT_POOL),
        prop::collection::vec(prop::collection::vec(any::<Index>(), 0..=2), GONE.len()),
        usage_spec(),
    )
        .prop_map(|(amis, snapshots, marks, usage)| World { amis, snapshots, marks, usage })
}

fn wipe_spec() -> impl Strategy<Value = WipeSpec> {
    let asked =
        prop_oneof![4 => any::<Index>().prop_map(Asked::Account), 1 => (0..GONE.len()).prop_map(Asked::Gone)];
    (prop::collection::vec(asked, 1..=3), any::<bool>(), prop::bool::weighted(0.15))
        .prop_map(|(asked, chain, force)| WipeSpec { asked, chain, force })
}

fn prune_spec() -> impl Strategy<Value = PruneSpec> {
    let families = prop_oneof![Just((true, false)), Just((false, true)), Just((true, true))];
    let stage = prop_oneof![2 => Just(Stage::Delete), 1 => Just(Stage::Disable), 1 => Just(Stage::Deprecate)];
    (families, 0..=3usize, prop::option::weighted(0.7, 0..=200u64), stage).prop_map(
        |((prefix, team), keep, older_than_days, stage)| PruneSpec {
            prefix,
            team,
            keep,
            older_than_days,
            stage,
        },
    )
}

fn builder_spec() -> impl Strategy<Value = BuilderSpec> {
    let host = prop_oneof![Just(Host::Here), Just(Host::Elsewhere), Just(Host::Unknown)];
    (
        0..BUILDS,
        0..INSTANCE_STATES.len(),
        host,
        prop::option::weighted(0.8, any::<bool>()),
        prop::option::weighted(0.8, any::<bool>()),
    )
        .prop_map(|(build, state, host, pid, deadline)| BuilderSpec {
            build,
            state,
            host,
            pid,
            deadline,
        })
}

// ---- the account it stands for ---------------------------------------------------------

/// The facts as the read phase hands them over: images newest first (as `own_images` returns
/// them), the snapshots that still exist, marks of earlier wipes, and every look-up's answer.
struct Account {
    images: Vec<Image>,
    snapshots: Vec<Snapshot>,
    marks: BTreeMap<String, Vec<String>>,
    observed: Observed,
    ids: Vec<String>,
}

fn ami_id(i: usize) -> String {
    format!("ami-{:08x}", i + 1)
}

fn snapshot_id(k: usize) -> String {
    format!("snap-{:08x}", k + 1)
}

fn build_id(b: usize) -> String {
    format!("build-{b}")
}

impl AmiRef {
    fn id(&self, ids: &[String]) -> String {
        match self {
            AmiRef::Account(index) => ids[index.index(ids.len())].clone(),
            AmiRef::Gone(g) => GONE[*g].to_string(),
            AmiRef::Base => BASE.to_string(),
        }
    }
}

impl RefSpec {
    fn reference(&self) -> TemplateRef {
        TemplateRef {
            id: (!self.by_name).then(|| format!("lt-{:017x}", self.template)),
            name: self.by_name.then(|| format!("nodes-{}", self.template)),
            version: match self.version {
                VersionRef::Absent => None,
                VersionRef::Default => Some("$Default".into()),
                VersionRef::Latest => Some("$Latest".into()),
                VersionRef::Number(n) => Some(n.to_string()),
            },
        }
    }
}

fn answer<T>(
    failed: &BTreeSet<Lookup>,
    lookup: Lookup,
    operation: &'static str,
    value: impl FnOnce() -> T,
) -> Result<T, Error> {
    if failed.contains(&lookup) {
        Err(Error::AccessDenied {
            service: gio_ami::core::error::Service::Ec2,
            operation,
            code: "AccessDenied".into(),
            message: "generated denial".into(),
        })
    } else {
        Ok(value())
    }
}

fn observed(spec: &UsageSpec, ids: &[String]) -> Observed {
    let failed = &spec.failed;
    Observed {
        instances: answer(failed, Lookup::Instances, "DescribeInstances", || {
            spec.instances
                .iter()
                .enumerate()
                .map(|(k, (ami, state))| Instance {
                    id: format!("i-{k:08x}"),
                    image: ami.id(ids),
                    state: INSTANCE_STATES[*state].into(),
                })
                .collect()
        }),
        templates: answer(failed, Lookup::Templates, "DescribeLaunchTemplates", || {
            spec.templates
                .iter()
                .enumerate()
                .map(|(t, template)| Template {
                    id: format!("lt-{t:017x}"),
                    name: format!("nodes-{t}"),
                    default_version: template.default.index(template.versions.len()) as i64 + 1,
                    latest_version: template.versions.len() as i64,
                    versions: template
                        .versions
                        .iter()
                        .enumerate()
                        .map(|(n, ami)| (n as i64 + 1, ami.as_ref().map(|a| a.id(ids))))
                        .collect(),
                })
                .collect()
        }),
        groups: answer(failed, Lookup::Groups, "DescribeAutoScalingGroups", || {
            spec.groups
                .iter()
                .enumerate()
                .map(|(g, group)| Group {
                    name: format!("asg-{g}"),
                    templates: group.templates.iter().map(|(r, how)| (r.reference(), HOW[*how])).collect(),
                    launch_configuration: group.launch_configuration.map(|c| format!("lc-{c}")),
                })
                .collect()
        }),
        launch_configurations: answer(
            failed,
            Lookup::LaunchConfigurations,
            "DescribeLaunchConfigurations",
            || {
                spec.launch_configurations
                    .iter()
                    .enumerate()
                    .map(|(c, ami)| (format!("lc-{c}"), ami.id(ids)))
                    .collect()
            },
        ),
        nodegroups: answer(failed, Lookup::Nodegroups, "ListClusters", || {
            spec.nodegroups
                .iter()
                .enumerate()
                .map(|(n, template)| Nodegroup {
                    cluster: "prod".into(),
                    name: format!("ng-{n}"),
                    template: template.as_ref().map(RefSpec::reference),
                })
                .collect()
        }),
        parameters: answer(failed, Lookup::Parameters, "DescribeParameters", || {
            spec.parameters
                .iter()
                .enumerate()
                .map(|(p, value)| {
                    let value = match value {
                        ParameterValue::Ami(ami, pad) => format!("{pad}{}{pad}", ami.id(ids)),
                        ParameterValue::Longer(ami) => format!("{}123456789", ami.id(ids)),
                        ParameterValue::Text => "al2023".to_string(),
                    };
                    (format!("/gio/p{p}"), value)
                })
                .collect()
        }),
        sharing: answer(failed, Lookup::Sharing, "DescribeImageAttribute", || {
            spec.shared.iter().map(|ami| (ami.id(ids), vec!["111122223333".to_string()])).collect()
        }),
        // EC2 also reports the instances and parameters the own scans find; only recipes are
        // its alone, and the guards must name each resource once.
        references: answer(failed, Lookup::References, "DescribeImageReferences", || {
            let recipes = spec.recipes.iter().enumerate().map(|(r, ami)| Reference {
                ami: ami.id(ids),
                resource_type: "imagebuilder:ImageRecipe".into(),
                arn: format!("arn:aws:imagebuilder:eu-west-1:123456789012:image-recipe/nodes-{r}/1.0.0"),
            });
            let instances = spec
                .instances
                .iter()
                .enumerate()
                .filter(|(_, (_, state))| INSTANCE_STATES[*state] != InstanceState::Terminated)
                .map(|(k, (ami, _))| Reference {
                    ami: ami.id(ids),
                    resource_type: "ec2:Instance".into(),
                    arn: format!("arn:aws:ec2:eu-west-1:123456789012:instance/i-{k:08x}"),
                });
            recipes.chain(instances).collect()
        }),
    }
}

fn account(world: &World) -> Account {
    let ids: Vec<String> = (0..world.amis.len()).map(ami_id).collect();
    let pool = &world.snapshots;
    let mut mapped: Vec<Vec<usize>> = Vec::new();
    let mut images = Vec::new();
    for (i, spec) in world.amis.iter().enumerate() {
        let earlier = match &spec.parent {
            Parent::Earlier(index) if i > 0 => Some(index.index(i)),
            _ => None,
        };
        let parent = match &spec.parent {
            Parent::None => None,
            Parent::Earlier(_) => earlier.map(|j| ids[j].clone()),
            Parent::Any(index) => Some(ids[index.index(ids.len())].clone()),
            Parent::Base => Some(BASE.to_string()),
            Parent::Gone(g) => Some(GONE[*g].to_string()),
        };
        let mut snapshots: Vec<usize> = match earlier {
            Some(j) if spec.extends_parent => mapped[j].clone(),
            _ => Vec::new(),
        };
        for index in &spec.snapshots {
            let k = index.index(pool.len());
            if !snapshots.contains(&k) {
                snapshots.push(k);
            }
        }
        let mut tags = BTreeMap::new();
        tags.extend(parent.map(|p| (tags::PARENT_AMI.to_string(), p)));
        tags.extend(spec.build.map(|b| (tags::BUILD_ID.to_string(), build_id(b))));
        if spec.release {
            tags.insert(tags::RELEASE.to_string(), format!("r{i}"));
        }
        if spec.in_team_family {
            tags.insert(TEAM.0.to_string(), TEAM.1.to_string());
        }
        images.push(Image {
            id: gio_ami::core::ids::AmiId::from_aws(ids[i].clone()),
            name: if spec.in_prefix_family { format!("{FAMILY_PREFIX}{i}") } else { format!("other-{i}") },
            state: if spec.disabled { ImageState::Disabled.into() } else { ImageState::Available.into() },
            created: spec.age_days.and_then(|d| clock::rfc3339(NOW - d * DAY).parse().ok()),
            owner: "123456789012".into(),
            description: None,
            root_device: Some("/dev/xvda".into()),
            architecture: None,
            boot: Boot::default(),
            mappings: snapshots
                .iter()
                .enumerate()
                .map(|(slot, k)| Mapping {
                    device: format!("/dev/xvd{}", (b'a' + slot as u8) as char),
                    snapshot_id: Some(snapshot_id(*k)),
                    size_gib: Some(pool[*k].size_gib),
                    ..Mapping::default()
                })
                .collect(),
            tags,
            last_launched: None,
            protection: Default::default(),
            deprecation_time: None,
            watermarks: Vec::new(),
            scan_results: None,
        });
        mapped.push(snapshots);
    }
    // As `own_images` returns them: newest first, ties by id.
    images.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| a.id.cmp(&b.id)));
    let snapshots: Vec<Snapshot> = pool
        .iter()
        .enumerate()
        .filter(|(_, s)| s.exists)
        .map(|(k, s)| Snapshot {
            id: SnapshotId::from_aws(snapshot_id(k)),
            size_gib: s.size_gib,
            state: "completed".into(),
            started: None,
            description: String::new(),
            owner: String::new(),
            volume_id: None,
            encrypted: false,
            archived: false,
            tags: s.build.map(|b| (tags::BUILD_ID.to_string(), build_id(b))).into_iter().collect(),
        })
        .collect();
    // A mark is found by listing snapshots, so only snapshots that still exist carry one.
    let marks = GONE
        .iter()
        .zip(&world.marks)
        .map(|(gone, marked)| {
            let mut found: Vec<String> = Vec::new();
            for k in marked.iter().map(|i| i.index(pool.len())).filter(|k| pool[*k].exists) {
                if !found.contains(&snapshot_id(k)) {
                    found.push(snapshot_id(k));
                }
            }
            (gone.to_string(), found)
        })
        .filter(|(_, found)| !found.is_empty())
        .collect();
    Account { observed: observed(&world.usage, &ids), images, snapshots, marks, ids }
}

// ---- the oracle --------------------------------------------------------------------------

impl Account {
    fn image(&self, id: &str) -> Option<&Image> {
        self.images.iter().find(|i| i.id == id)
    }

    fn parent_of(&self, id: &str) -> Option<&str> {
        self.image(id)?.tags.get(tags::PARENT_AMI).map(String::as_str)
    }

    fn maps(image: &Image, snapshot: &str) -> bool {
        image.mappings.iter().any(|m| m.snapshot_id.as_deref() == Some(snapshot))
    }

    /// Some look-up failed: nobody can say the AMI is unused.
    fn unknowable(&self) -> bool {
        let o = &self.observed;
        o.instances.is_err()
            || o.templates.is_err()
            || o.groups.is_err()
            || o.launch_configurations.is_err()
            || o.nodegroups.is_err()
            || o.parameters.is_err()
            || o.sharing.is_err()
    }

    /// The AMI a launch template reference launches: by id or by name; no version or
    /// `$Default` is the default version, `$Latest` the latest, a number that version.
    fn launches(&self, reference: &TemplateRef) -> Option<String> {
        let templates = self.observed.templates.as_ref().ok()?;
        let template = templates.iter().find(|t| match (&reference.id, &reference.name) {
            (Some(id), _) => &t.id == id,
            (None, Some(name)) => &t.name == name,
            (None, None) => false,
        })?;
        let version = match reference.version.as_deref() {
            None | Some("$Default") => template.default_version,
            Some("$Latest") => template.latest_version,
            Some(number) => number.parse().ok()?,
        };
        template.versions.iter().find(|(n, _)| *n == version)?.1.clone()
    }

    /// Every kind of user that launches (or holds) the AMI. Use in accounts it is shared with
    /// is invisible, and not a use from here.
    fn users(&self, ami: &str) -> BTreeSet<UserKind> {
        let o = &self.observed;
        let is = |id: &str| id == ami;
        let launches = |r: &TemplateRef| self.launches(r).as_deref().is_some_and(is);
        let mut users = BTreeSet::new();
        if o.instances.iter().flatten().any(|i| is(&i.image) && i.state != InstanceState::Terminated) {
            users.insert(UserKind::Instance);
        }
        if o.templates
            .iter()
            .flatten()
            .flat_map(|t| &t.versions)
            .any(|(_, image)| image.as_deref().is_some_and(is))
        {
            users.insert(UserKind::LaunchTemplate);
        }
        if o.launch_configurations.iter().flatten().any(|(_, image)| is(image)) {
            users.insert(UserKind::LaunchConfiguration);
        }
        let attached = |g: &Group| {
            o.launch_configurations
                .iter()
                .flatten()
                .any(|(name, image)| g.launch_configuration.as_ref() == Some(name) && is(image))
        };
        if o.groups.iter().flatten().any(|g| g.templates.iter().any(|(r, _)| launches(r)) || attached(g)) {
            users.insert(UserKind::AutoScalingGroup);
        }
        if o.nodegroups.iter().flatten().filter_map(|n| n.template.as_ref()).any(launches) {
            users.insert(UserKind::Nodegroup);
        }
        if o.parameters.iter().flatten().any(|(_, value)| is(value.trim())) {
            users.insert(UserKind::SsmParameter);
        }
        // EC2's list names what no own scan saw: recipes always, instances when their scan failed.
        let unseen = |r: &Reference| r.resource_type.starts_with("imagebuilder:") || o.instances.is_err();
        if o.references.iter().flatten().any(|r| is(&r.ami) && unseen(r)) {
            users.insert(UserKind::Referenced);
        }
        users
    }

    fn in_use(&self, ami: &str) -> bool {
        !self.users(ami).is_empty()
    }

    /// The AMIs a wipe covers: those asked, and for a chain everything whose parent tag leads
    /// to one of them.
    fn covered(&self, asked: &[String], chain: bool) -> BTreeSet<String> {
        let mut covered: BTreeSet<String> = asked.iter().cloned().collect();
        if !chain {
            return covered;
        }
        loop {
            let more: Vec<String> = self
                .images
                .iter()
                .filter(|i| {
                    !covered.contains(i.id.as_str())
                        && i.tags.get(tags::PARENT_AMI).is_some_and(|p| covered.contains(p))
                })
                .map(|i| i.id.to_string())
                .collect();
            if more.is_empty() {
                break;
            }
            covered.extend(more);
        }
        covered
    }

    /// The AMIs a prune policy lets go, each family counted on its own: the newest `keep` stay,
    /// and so does anything younger than the age (or of unknown age); kept by one family is kept.
    fn let_go(&self, spec: &PruneSpec) -> BTreeSet<String> {
        let mut by_age: Vec<&Image> = self.images.iter().collect();
        by_age.sort_by_key(|i| (std::cmp::Reverse(i.created.clone()), i.id.clone()));
        let prefix = |i: &Image| i.name.starts_with(FAMILY_PREFIX);
        let team = |i: &Image| i.tags.get(TEAM.0).map(String::as_str) == Some(TEAM.1);
        let families: Vec<&dyn Fn(&Image) -> bool> =
            [(spec.prefix, &prefix as &dyn Fn(&Image) -> bool), (spec.team, &team)]
                .into_iter()
                .filter(|(on, _)| *on)
                .map(|(_, f)| f)
                .collect();
        let old = |image: &Image| match (spec.older_than_days, &image.created) {
            (None, _) => true,
            (Some(days), Some(created)) => {
                let created = humantime::parse_rfc3339(created.as_str()).unwrap();
                let cutoff = std::time::UNIX_EPOCH + Duration::from_secs(NOW as u64)
                    - Duration::from_secs(days * DAY as u64);
                created <= cutoff
            }
            (Some(_), None) => false,
        };
        let mut kept = BTreeSet::new();
        let mut chosen = BTreeSet::new();
        for family in &families {
            for (rank, image) in by_age.iter().filter(|i| family(i)).enumerate() {
                if rank < spec.keep || !old(image) {
                    kept.insert(image.id.to_string());
                } else {
                    chosen.insert(image.id.to_string());
                }
            }
        }
        let disabled = |id: &String| self.image(id).is_some_and(|i| i.state == ImageState::Disabled);
        chosen
            .into_iter()
            .filter(|id| !kept.contains(id))
            .filter(|id| !(spec.stage == Stage::Disable && disabled(id)))
            .collect()
    }
}

/// What a wipe of `covered` must do.
#[derive(Debug, Default)]
struct Verdict {
    /// Deregistered (or, for an earlier prune stage, disabled or deprecated).
    remove: BTreeSet<String>,
    refuse: BTreeSet<String>,
    delete: BTreeSet<String>,
    /// Survivor → its nearest surviving ancestor.
    relink: BTreeMap<String, String>,
}

fn verdict(account: &Account, covered: &BTreeSet<String>, force: bool) -> Verdict {
    let mut v = Verdict::default();
    for id in covered.iter().filter(|id| account.image(id).is_some()) {
        if force || (!account.unknowable() && !account.in_use(id)) {
            v.remove.insert(id.clone());
        } else {
            v.refuse.insert(id.clone());
        }
    }
    let survivors: Vec<&Image> =
        account.images.iter().filter(|i| !v.remove.contains(i.id.as_str())).collect();
    let left: BTreeSet<&str> = account
        .images
        .iter()
        .filter(|i| v.remove.contains(i.id.as_str()))
        .flat_map(|i| i.mappings.iter().filter_map(|m| m.snapshot_id.as_deref()))
        .chain(
            account
                .marks
                .iter()
                .filter(|(ami, _)| covered.contains(*ami))
                .flat_map(|(_, s)| s.iter().map(String::as_str)),
        )
        .collect();
    v.delete = left
        .into_iter()
        .filter(|s| account.snapshots.iter().any(|e| e.id == *s))
        .filter(|s| !survivors.iter().any(|i| Account::maps(i, s)))
        .map(str::to_string)
        .collect();
    for survivor in &survivors {
        let Some(mut ancestor) = survivor.tags.get(tags::PARENT_AMI).map(String::as_str) else { continue };
        if !v.remove.contains(ancestor) {
            continue;
        }
        // Up through what goes; a loop of tags (back to the survivor itself, or among what
        // goes) has no surviving ancestor.
        let mut found = None;
        let mut walked = BTreeSet::new();
        while walked.insert(ancestor) && ancestor != survivor.id {
            if !v.remove.contains(ancestor) {
                found = Some(ancestor);
                break;
            }
            match account.parent_of(ancestor) {
                Some(p) => ancestor = p,
                None => break,
            }
        }
        if let Some(parent) = found {
            v.relink.insert(survivor.id.to_string(), parent.to_string());
        }
    }
    v
}

// ---- the checks --------------------------------------------------------------------------

fn ids_of(actions: &[Action], pick: fn(&Action) -> bool) -> Result<BTreeSet<String>, TestCaseError> {
    let ids: Vec<String> = actions.iter().filter(|a| pick(a)).map(|a| a.id().to_string()).collect();
    let unique: BTreeSet<String> = ids.iter().cloned().collect();
    prop_assert_eq!(unique.len(), ids.len(), "an action twice: {:?}", ids);
    Ok(unique)
}

fn check(account: &Account, v: &Verdict, plan: &retire::Plan, stage: Stage) -> Result<(), TestCaseError> {
    let removing: fn(&Action) -> bool = match stage {
        Stage::Delete => |a| matches!(a, Action::DeregisterImage { .. }),
        Stage::Disable => |a| matches!(a, Action::DisableImage { .. }),
        Stage::Deprecate => |a| matches!(a, Action::DeprecateImage { .. }),
    };
    let removed = ids_of(&plan.actions, removing)?;
    let refused = ids_of(&plan.actions, |a| matches!(a, Action::Refuse { kind: Kind::Image, .. }))?;
    let deleted = ids_of(&plan.actions, |a| matches!(a, Action::DeleteSnapshot { .. }))?;
    let relinked: BTreeMap<String, String> = plan
        .actions
        .iter()
        .filter_map(|a| match a {
            Action::Relink { id, parent, .. } => Some((id.to_string(), parent.to_string())),
            _ => None,
        })
        .collect();

    // Never more than the oracle allows.
    for id in removed.difference(&v.remove) {
        let why = if account.unknowable() {
            "a look-up failed"
        } else if account.in_use(id) {
            "it is in use"
        } else {
            "it was not asked for"
        };
        prop_assert!(false, "{} goes although {}", id, why);
    }
    let survivors: Vec<&Image> = account.images.iter().filter(|i| !removed.contains(i.id.as_str())).collect();
    for snapshot in &deleted {
        let keepers: Vec<&str> =
            survivors.iter().filter(|i| Account::maps(i, snapshot)).map(|i| i.id.as_str()).collect();
        prop_assert!(keepers.is_empty(), "{} deleted although {:?} still map it", snapshot, keepers);
        prop_assert!(v.delete.contains(snapshot), "{} deleted although nothing covered left it", snapshot);
    }
    // Never less: everything free that the request covers goes.
    for id in v.remove.difference(&removed) {
        prop_assert!(false, "{} is free and covered, but stays", id);
    }
    prop_assert_eq!(&refused, &v.refuse, "refused AMIs");
    // Every user of an AMI the plan is about is named, by its kind.
    for id in v.remove.iter().chain(&v.refuse) {
        let named: BTreeSet<UserKind> =
            plan.facts.uses.iter().filter(|u| &u.ami == id).map(|u| UserKind::from(&u.user)).collect();
        prop_assert_eq!(&named, &account.users(id), "the users of {} named in the plan", id);
    }
    // Looked up only when some covered AMI still exists.
    let looked_up = !(v.remove.is_empty() && v.refuse.is_empty());
    prop_assert_eq!(
        !plan.facts.unchecked.is_empty(),
        looked_up && account.unknowable(),
        "failed look-ups are reported: {:?}",
        plan.facts.unchecked
    );
    match stage {
        Stage::Delete => {
            for snapshot in v.delete.difference(&deleted) {
                prop_assert!(
                    false,
                    "{} is left by a removed AMI, mapped by no survivor, but stays",
                    snapshot
                );
            }
            prop_assert_eq!(&relinked, &v.relink, "chains stay linked to the nearest surviving ancestor");
            // Re-runnable: a snapshot is marked for each AMI behind it before they are
            // deregistered, so a re-run naming any one of them finds it.
            for snapshot in &deleted {
                for ami in
                    removed.iter().filter(|a| account.image(a).is_some_and(|i| Account::maps(i, snapshot)))
                {
                    let marked = plan.facts.marks.get(ami).is_some_and(|s| s.contains(snapshot));
                    prop_assert!(marked, "{} is orphaned by {} without a mark for it", snapshot, ami);
                }
            }
        }
        // Disabled and deprecated AMIs stay, and so do their snapshots and links.
        Stage::Disable | Stage::Deprecate => {
            prop_assert!(deleted.is_empty() && relinked.is_empty(), "{:?}", plan.actions);
            prop_assert!(
                !plan.actions.iter().any(|a| matches!(a, Action::DeregisterImage { .. })),
                "{:?}",
                plan.actions
            );
        }
    }
    Ok(())
}

/// The wipe guards on the facts `prepare_targets` would have read for these targets.
fn plan_wipe(account: &Account, targets: &[String], force: bool) -> retire::Plan {
    let present: std::collections::HashSet<&str> =
        targets.iter().map(String::as_str).filter(|t| account.image(t).is_some()).collect();
    let usage = if present.is_empty() { Default::default() } else { account.observed.usage(&present) };
    let marked: BTreeMap<String, Vec<String>> = account
        .marks
        .iter()
        .filter(|(ami, _)| targets.contains(ami))
        .map(|(a, s)| (a.clone(), s.clone()))
        .collect();
    retire::plan(&Facts {
        targets,
        images: &account.images,
        snapshots: &account.snapshots,
        marked: &marked,
        usage: &usage,
        locks: &Ok(vec![]),
        bin: None,
        now: 0,
        force,
    })
}

fn wipe_case(world: &World, spec: &WipeSpec) -> Result<(), TestCaseError> {
    let account = account(world);
    let asked: Vec<String> = spec
        .asked
        .iter()
        .map(|a| match a {
            Asked::Account(index) => account.ids[index.index(account.ids.len())].clone(),
            Asked::Gone(g) => GONE[*g].to_string(),
        })
        .collect();
    let request = Request {
        amis: asked.iter().map(|a| a.parse().unwrap()).collect(),
        chain: spec.chain,
        force: spec.force,
    };
    let targets = retire::targets(&account.images, &request);
    let covered = account.covered(&asked, spec.chain);
    prop_assert_eq!(
        &targets.iter().cloned().collect::<BTreeSet<_>>(),
        &covered,
        "the AMIs the request covers"
    );
    let plan = plan_wipe(&account, &targets, spec.force);
    check(&account, &verdict(&account, &covered, spec.force), &plan, Stage::Delete)
}

fn prune_case(world: &World, spec: &PruneSpec) -> Result<(), TestCaseError> {
    let account = account(world);
    let mut families = Vec::new();
    if spec.prefix {
        families.push(Family::Prefix(FAMILY_PREFIX.into()));
    }
    if spec.team {
        families.push(Family::Tag { key: TEAM.0.into(), value: TEAM.1.into() });
    }
    let policy = Policy {
        families,
        keep: spec.keep,
        older_than: spec.older_than_days.map(|d| Duration::from_secs(d * DAY as u64)),
        unused_for: None,
        stage: spec.stage,
    };
    let chosen = prune::select(&account.images, &policy, NOW);
    let let_go = account.let_go(spec);
    prop_assert_eq!(&chosen.iter().cloned().collect::<BTreeSet<_>>(), &let_go, "the AMIs the policy lets go");
    let plan = plan_wipe(&account, &chosen, false);
    let plan = match spec.stage {
        Stage::Delete => plan,
        stage => prune::earlier_stage(plan, stage, NOW),
    };
    check(&account, &verdict(&account, &let_go, false), &plan, spec.stage)
}

fn alive(pid: u32) -> bool {
    pid == ALIVE_PID
}

fn gc_case(world: &World, builders: &[BuilderSpec], only: Option<usize>) -> Result<(), TestCaseError> {
    let account = account(world);
    let only = only.map(build_id);
    let builders: Vec<Builder> = builders
        .iter()
        .enumerate()
        .map(|(k, b)| Builder {
            id: format!("i-{:08x}", 0x100 + k),
            state: INSTANCE_STATES[b.state].into(),
            build_id: build_id(b.build),
            host: match b.host {
                Host::Here => Some(HERE.into()),
                Host::Elsewhere => Some("another-host".into()),
                Host::Unknown => None,
            },
            pid: b.pid.map(|alive| if alive { ALIVE_PID } else { ALIVE_PID + 1 }),
            deadline: b.deadline.map(|future| if future { NOW + 600 } else { NOW - 600 }),
        })
        .collect();
    // As `leftovers` reads them: resources carrying a build id (that build's, when one is named),
    // and every AMI of the account.
    let tagged = |tags: &BTreeMap<String, String>| {
        tags.get(tags::BUILD_ID).is_some_and(|b| only.as_ref().is_none_or(|o| o == b))
    };
    let leftovers = Leftovers {
        builders: builders
            .iter()
            .filter(|b| only.as_ref().is_none_or(|o| *o == b.build_id))
            .cloned()
            .collect(),
        images: account.images.clone(),
        snapshots: account.snapshots.iter().filter(|s| tagged(&s.tags)).cloned().collect(),
    };
    let process = |pid| if alive(pid) { Process::Alive } else { Process::Gone };
    let actions = leftovers::plan(
        &leftovers,
        &Liveness { host: Some(HERE), now: NOW, process: &process },
        only.as_deref(),
        &Usage::default(),
    );

    // The oracle: a build runs while a builder that has not begun to end is vouched for, by the
    // process table on this host, or else by a deadline still ahead. The named build is the
    // caller's own, cleaning up after itself.
    let running = |b: &Builder| {
        let ending = b.state == InstanceState::Terminated || b.state == InstanceState::ShuttingDown;
        let vouched = if b.host.as_deref() == Some(HERE) && b.pid.is_some() {
            b.pid.is_some_and(alive)
        } else {
            b.deadline.is_some_and(|d| NOW < d)
        };
        !ending && vouched
    };
    let live: BTreeSet<&str> = builders
        .iter()
        .filter(|b| Some(&b.build_id) != only.as_ref() && running(b))
        .map(|b| b.build_id.as_str())
        .collect();
    let dead = |build: Option<&String>| {
        build.is_some_and(|b| only.as_ref().is_none_or(|o| o == b) && !live.contains(b.as_str()))
    };
    let want_terminated: BTreeSet<String> = leftovers
        .builders
        .iter()
        .filter(|b| {
            dead(Some(&b.build_id))
                && b.state != InstanceState::Terminated
                && b.state != InstanceState::ShuttingDown
        })
        .map(|b| b.id.clone())
        .collect();
    let want_refused: BTreeSet<String> = leftovers
        .builders
        .iter()
        .filter(|b| live.contains(b.build_id.as_str()) && b.state != InstanceState::Terminated)
        .map(|b| b.id.clone())
        .collect();
    // A release tag is what a build writes last: without it the AMI is unfinished.
    let want_deregistered: BTreeSet<String> = account
        .images
        .iter()
        .filter(|i| dead(i.tags.get(tags::BUILD_ID)) && !i.tags.contains_key(tags::RELEASE))
        .map(|i| i.id.to_string())
        .collect();
    let want_deleted: BTreeSet<String> = leftovers
        .snapshots
        .iter()
        .filter(|s| dead(s.tags.get(tags::BUILD_ID)))
        .filter(|s| {
            !account
                .images
                .iter()
                .any(|i| !want_deregistered.contains(i.id.as_str()) && Account::maps(i, s.id.as_str()))
        })
        .map(|s| s.id.to_string())
        .collect();

    let terminated = ids_of(&actions, |a| matches!(a, Action::TerminateInstance { .. }))?;
    let refused = ids_of(&actions, |a| matches!(a, Action::Refuse { .. }))?;
    let deregistered = ids_of(&actions, |a| matches!(a, Action::DeregisterImage { .. }))?;
    let deleted = ids_of(&actions, |a| matches!(a, Action::DeleteSnapshot { .. }))?;
    for id in &deregistered {
        let image = account.image(id).unwrap();
        prop_assert!(!image.tags.contains_key(tags::RELEASE), "release {} collected", id);
        prop_assert!(
            !image.tags.get(tags::BUILD_ID).is_some_and(|b| live.contains(b.as_str())),
            "{} of a live build collected",
            id
        );
    }
    for id in &deleted {
        let keepers: Vec<&str> = account
            .images
            .iter()
            .filter(|i| !deregistered.contains(i.id.as_str()) && Account::maps(i, id))
            .map(|i| i.id.as_str())
            .collect();
        prop_assert!(keepers.is_empty(), "{} deleted although {:?} still map it", id, keepers);
    }
    prop_assert_eq!(&terminated, &want_terminated, "builders of dead builds");
    prop_assert_eq!(&refused, &want_refused, "builders of live builds");
    prop_assert_eq!(&deregistered, &want_deregistered, "unfinished AMIs of dead builds");
    prop_assert_eq!(&deleted, &want_deleted, "snapshots of dead builds that nothing maps");
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: CASES, ..ProptestConfig::default() })]

    #[test]
    fn wipe_removes_exactly_what_is_free(world in world(), spec in wipe_spec()) {
        wipe_case(&world, &spec)?;
    }

    #[test]
    fn prune_stages_exactly_what_the_policy_lets_go_and_is_free(world in world(), spec in prune_spec()) {
        prune_case(&world, &spec)?;
    }

    #[test]
    fn gc_collects_exactly_what_dead_builds_left(
        world in world(),
        builders in prop::collection::vec(builder_spec(), 0..=4),
        only in prop::option::weighted(0.25, 0..BUILDS),
    ) {
        gc_case(&world, &builders, only)?;
    }
}
