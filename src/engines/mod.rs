//! The ways an AMI is made, siblings over one build core: `native` (a builder instance that
//! provisions itself, no SSH), `packer` (real `packer build`), and `register` (RegisterImage
//! from snapshots, no instance at all: `disks add` and `upload --register`). The core below
//! is what they share: build ids, phases, naming, tags and base resolution.

pub mod copy;
pub mod guestfs;
pub mod leftovers;
pub mod native;
pub mod offline;
pub mod packer;
pub mod register;

use crate::aws::base::{self, Base};
use crate::aws::inventory::{self, ImageState};
use crate::aws::provenance::Provenance;
use crate::aws::{tagging, Aws};
use crate::change::{self, Applied, Outcome, Procedure, Status, Target};
use crate::core::choice::Choice;
use crate::core::iam::Permission;
use crate::core::ids::AmiId;
use crate::core::kinds::{Engine, Member};
use crate::core::poll;
use crate::core::progress::{Prefixed, Progress};
use crate::core::tags::{self, Tags};
use crate::error::{Error, Result};
use crate::spec::{self, BaseSource, Loaded};
use crate::transfer::cache::Cache;
use schemars::JsonSchema;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Snapshots and CreateImage of a node's volumes take minutes on AWS; an hour means stuck.
const IMAGE_TIMEOUT: Duration = Duration::from_secs(3600);
/// A build on another machine is presumed dead this long after its own timeout.
const DEADLINE_MARGIN: Duration = Duration::from_secs(900);

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Built {
    pub ami: String,
    pub name: String,
    pub region: String,
    pub base_ami: String,
    pub base_name: String,
    pub build_id: String,
    pub snapshots: Vec<String>,
    pub phases: Vec<PhaseReport>,
}

impl Built {
    /// The release `ami` (`name`) made from `base` in the region the build's `phases` ran in;
    /// ends the last phase.
    pub fn new(
        phases: &mut Phases,
        base: Base,
        build_id: String,
        ami: String,
        name: String,
        snapshots: Vec<String>,
    ) -> Built {
        Built {
            ami,
            name,
            region: phases.aws.region().to_string(),
            base_ami: base.image.id.into(),
            base_name: base.image.name,
            build_id,
            snapshots,
            phases: phases.finish(),
        }
    }
}

/// How long a phase took and how many API requests it made (for the closing figures).
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct PhaseReport {
    pub phase: String,
    pub seconds: f64,
    pub api_calls: usize,
}

/// What a build will make, decided before anything is launched: what `build --dry-run` prints.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Building {
    pub engine: Engine,
    /// The AMI's name: the release's, with the variant's arch and variant after it in a set.
    pub name: String,
    /// The `gio-ami:release` the AMI carries.
    pub release: String,
    /// Which AMI of a release set this is; absent without `[[variants]]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub member: Option<Member>,
    pub base_ami: String,
    pub base_name: String,
    pub instance_type: String,
    /// What the offline engine reuses and reads (its base copy, the cache), for an offline build.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offline: Option<offline::Plan>,
    /// The base and the provenance as `prepare` read them: the engine builds from these, so
    /// what runs is what the plan showed.
    #[serde(skip)]
    pub base: Base,
    #[serde(skip)]
    pub provenance: Provenance,
}

/// The permission groups of `build` that a build of `spec` never needs: the other engine's,
/// SSM provisioning unless the spec provisions through SSM, passing a role unless it names an
/// instance profile (`iam-policy --spec` leaves them out).
pub fn unneeded(spec: &spec::Spec) -> Vec<&'static [Permission]> {
    // A release set needs what any of its variants needs.
    let each: Vec<Vec<&'static [Permission]>> = spec.members().iter().map(unneeded_by_one).collect();
    let mut unneeded = each[0].clone();
    unneeded.retain(|group| each.iter().all(|other| other.contains(group)));
    unneeded
}

fn unneeded_by_one(spec: &spec::Spec) -> Vec<&'static [Permission]> {
    let mut unneeded = match spec.engine() {
        Engine::Native => vec![packer::IAM, offline::IAM],
        Engine::Packer => vec![native::IAM, &native::CLEAN_UP, native::SSM, offline::IAM],
        Engine::Offline => vec![packer::IAM, native::IAM, &native::CLEAN_UP, native::SSM],
    };
    if spec.provision_via() != crate::core::kinds::ProvisionVia::Ssm {
        unneeded.push(native::SSM);
    }
    if spec.build.iam_instance_profile.is_none() || spec.engine() == Engine::Offline {
        unneeded.push(native::PASS_ROLE);
    }
    unneeded
}

/// What `build` makes: one AMI, or a release set of one AMI per variant, built concurrently.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum Builds {
    One(Box<Building>),
    Set(BuildingSet),
}

/// A release set's plan: the variants to build, and those an earlier run already made.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct BuildingSet {
    pub release: String,
    pub variants: Vec<Building>,
    /// Variants of this release that exist already: a re-run after a failure builds the rest.
    pub made: Vec<MadeVariant>,
}

/// An AMI of a release set.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct MadeVariant {
    #[serde(flatten)]
    pub member: Member,
    pub ami: String,
}

impl Builds {
    /// Every AMI to build, in the spec's order.
    pub fn buildings(&self) -> &[Building] {
        match self {
            Builds::One(building) => std::slice::from_ref(building),
            Builds::Set(set) => &set.variants,
        }
    }
}

/// What `build` made: the AMI, or the set's AMIs (those made earlier included).
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum BuiltRelease {
    One(Built),
    Set { release: String, variants: Vec<Built>, made: Vec<MadeVariant> },
}

/// The build as one action per AMI: the release AMI its engine makes (builder, provisioning,
/// image, clean-up are the engine's own steps, reported by its phases).
pub fn plan(builds: Builds) -> change::Plan<Builds, Procedure> {
    let actions = builds
        .buildings()
        .iter()
        .map(|building| Procedure::BuildImage {
            id: Target::Planned(building.name.clone()),
            name: building.name.clone(),
            base: AmiId::from_aws(&building.base_ami),
            why: match building.engine {
                Engine::Offline => {
                    format!("the offline engine on this machine (no instance) from {}", building.base_name)
                }
                engine => format!(
                    "the {} engine on a {} builder from {}",
                    engine.name(),
                    building.instance_type,
                    building.base_name
                ),
            },
        })
        .collect();
    change::Plan { actions, warnings: Vec::new(), facts: builds }
}

/// Reads what the build starts from (each AMI's base, the names taken, for an offline build its
/// base copy and the `cache`) and plans it. `engine` (`--engine`) overrides each variant's.
pub async fn prepare(
    aws: &Aws,
    loaded: &Loaded,
    engine: Option<Engine>,
    cache: Option<PathBuf>,
    progress: &dyn Progress,
) -> Result<change::Plan<Builds, Procedure>> {
    progress.phase("resolving the base AMI");
    let provenance = Provenance::current(aws).await;
    if loaded.spec.variants.is_empty() {
        let name = unique_name(aws, loaded, &provenance).await?;
        let engine = engine.unwrap_or(loaded.spec.engine());
        let building = prepare_one(aws, loaded, engine, cache, (name.clone(), name), provenance).await?;
        return Ok(plan(Builds::One(Box::new(building))));
    }
    let (release, made) = release_name(aws, loaded, &provenance).await?;
    let todo = loaded.spec.members().into_iter().filter(|m| !made.iter().any(|v| Some(v.member) == m.member));
    let variants = futures::future::try_join_all(todo.map(|spec| {
        let name = format!("{release}-{}", spec.member.map(Member::suffix).unwrap_or_default());
        let engine = engine.unwrap_or(spec.engine());
        let member = Loaded { spec, ..loaded.clone() };
        let (cache, provenance, release) = (cache.clone(), provenance.clone(), release.clone());
        async move { prepare_one(aws, &member, engine, cache, (name, release), provenance).await }
    }))
    .await?;
    Ok(plan(Builds::Set(BuildingSet { release, variants, made })))
}

/// One AMI's plan: its base, and an offline build's base copy and cache; `names` are the AMI's
/// and its release's.
async fn prepare_one(
    aws: &Aws,
    loaded: &Loaded,
    engine: Engine,
    cache: Option<PathBuf>,
    (name, release): (String, String),
    provenance: Provenance,
) -> Result<Building> {
    let base = resolve_base(aws, &loaded.spec).await?;
    let offline = match engine {
        Engine::Offline => Some(offline::prepare(aws, loaded, &base, Cache::at(cache)?).await?),
        _ => None,
    };
    Ok(Building {
        engine,
        name,
        release,
        member: loaded.spec.member,
        base_ami: base.image.id.to_string(),
        base_name: base.image.name.clone(),
        instance_type: loaded.spec.build.instance_type.clone(),
        offline,
        base,
        provenance,
    })
}

/// Builds as planned, each AMI with its engine, a set's concurrently: one outcome per AMI, with
/// its id once made. A variant that fails fails the release, and the others are kept (a re-run
/// of the release builds what is missing).
pub async fn build(
    aws: &Aws,
    loaded: &Loaded,
    plan: &change::Plan<Builds, Procedure>,
    progress: &dyn Progress,
) -> Result<Applied<BuiltRelease, Procedure>> {
    let set = match &plan.facts {
        Builds::One(building) => {
            let built = build_one(aws, loaded, building, progress).await?;
            return Ok(Applied {
                outcomes: vec![outcome(&plan.actions[0], Ok(&built))],
                made: BuiltRelease::One(built),
            });
        }
        Builds::Set(set) => set,
    };
    let members = loaded.spec.members();
    let results = futures::future::join_all(set.variants.iter().map(|building| {
        let spec = members
            .iter()
            .find(|m| m.member == building.member)
            .cloned()
            .unwrap_or_else(|| loaded.spec.clone());
        let member = Loaded { spec, ..loaded.clone() };
        let label = building.member.map(|m| m.to_string()).unwrap_or_default();
        async move {
            let progress = Prefixed { inner: progress, prefix: &label };
            build_one(aws, &member, building, &progress).await
        }
    }))
    .await;
    let outcomes =
        plan.actions.iter().zip(&results).map(|(action, result)| outcome(action, result.as_ref())).collect();
    let variants = results.into_iter().filter_map(Result::ok).collect();
    Ok(Applied {
        outcomes,
        made: BuiltRelease::Set { release: set.release.clone(), variants, made: set.made.clone() },
    })
}

async fn build_one(
    aws: &Aws,
    loaded: &Loaded,
    building: &Building,
    progress: &dyn Progress,
) -> Result<Built> {
    match building.engine {
        Engine::Packer => packer::build(aws, loaded, building, progress).await,
        Engine::Native => native::build(aws, loaded, building, progress).await,
        Engine::Offline => match &building.offline {
            Some(offline) => offline::build(aws, loaded, building, offline, progress).await,
            None => unreachable!("prepare plans an offline build's base copy and cache"),
        },
    }
}

/// A planned build's outcome: done with the AMI it made, or failed with why.
fn outcome(action: &Procedure, built: std::result::Result<&Built, &Error>) -> Outcome<Procedure> {
    match (action, built) {
        (Procedure::BuildImage { name, base, why, .. }, Ok(built)) => Outcome {
            action: Procedure::BuildImage {
                id: Target::Made(AmiId::from_aws(&built.ami)),
                name: name.clone(),
                base: base.clone(),
                why: why.clone(),
            },
            status: Status::Done,
        },
        (action, Err(error)) => Outcome { action: action.clone(), status: Status::Failed(error.into()) },
        (other, Ok(_)) => Outcome { action: other.clone(), status: Status::Reused },
    }
}

/// Unique per build and short enough for a ClientToken (64 characters at most). A release set's
/// builds start in one process within the same millisecond: a counter tells them apart, or they
/// would share a ClientToken (and EC2 answer the second launch with the first's instance) and
/// clean up each other's resources.
pub fn new_build_id() -> String {
    static STARTED: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let n = STARTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("b{:x}{:05x}{:02x}", now.as_millis(), std::process::id() & 0xfffff, n & 0xff)
}

/// Shows each phase of a build and records how long it took and how many API requests it made.
pub struct Phases<'a> {
    aws: &'a Aws,
    progress: &'a dyn Progress,
    done: Vec<PhaseReport>,
    current: Option<(String, Instant, usize)>,
}

impl<'a> Phases<'a> {
    pub fn new(aws: &'a Aws, progress: &'a dyn Progress) -> Self {
        Phases { aws, progress, done: Vec::new(), current: None }
    }

    /// Ends the current phase, if any, and starts this one.
    pub fn start(&mut self, name: &str) {
        self.end();
        self.progress.phase(name);
        self.current = Some((name.to_string(), Instant::now(), self.aws.calls()));
    }

    fn end(&mut self) {
        if let Some((phase, started, calls)) = self.current.take() {
            self.done.push(PhaseReport {
                phase,
                seconds: started.elapsed().as_secs_f64(),
                api_calls: self.aws.calls() - calls,
            });
        }
    }

    /// Ends the current phase and hands over the records.
    pub fn finish(&mut self) -> Vec<PhaseReport> {
        self.end();
        std::mem::take(&mut self.done)
    }
}

/// `{n}` counts builds of the same name pattern, so two builds a day get -1 and -2; a release
/// set's AMIs (its name and a variant's) count by their release.
pub async fn unique_name(aws: &Aws, loaded: &Loaded, provenance: &Provenance) -> Result<String> {
    let fill = name_filler(loaded, provenance);
    if !loaded.spec.image.name.contains("{n}") {
        let name = fill("");
        return match inventory::own_images_named(aws, &name).await?.first() {
            Some(existing) => Err(Error::NameTaken { name, id: existing.id.to_string() }),
            None => Ok(name),
        };
    }
    // One call: every name of this pattern (DescribeImages filters take `*` wildcards).
    let taken = inventory::own_images_named(aws, &fill("*")).await?;
    let highest = taken
        .iter()
        .filter_map(|i| counter(&fill, &i.name).or_else(|| counter(&fill, i.release()?)))
        .max()
        .unwrap_or(0);
    Ok(fill(&(highest + 1).to_string()))
}

/// A set's release name, and the variants an earlier run of it made: the newest release of
/// the name's pattern when it is a set missing some of the spec's variants (a variant failed;
/// this run builds the rest), else a new name (`{n}` counted on), or the name is taken.
pub async fn release_name(
    aws: &Aws,
    loaded: &Loaded,
    provenance: &Provenance,
) -> Result<(String, Vec<MadeVariant>)> {
    let fill = name_filler(loaded, provenance);
    let counted = loaded.spec.image.name.contains("{n}");
    let pattern = fill(if counted { "*" } else { "" });
    let mut releases: std::collections::BTreeMap<String, Vec<inventory::Image>> = Default::default();
    for image in inventory::own_images_tagged(aws, tags::RELEASE, &pattern).await? {
        if let Some(release) = image.release() {
            releases.entry(release.to_string()).or_default().push(image);
        }
    }
    let n_of = |release: &str| if counted { counter(&fill, release) } else { Some(0) };
    let newest = releases
        .iter()
        .filter_map(|(release, images)| Some((n_of(release)?, release, images)))
        .max_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
    let Some((n, release, images)) = newest else {
        return Ok((fill(if counted { "1" } else { "" }), Vec::new()));
    };
    let wanted: Vec<Member> = loaded.spec.variants.iter().map(|v| v.member).collect();
    let made: Vec<MadeVariant> = images
        .iter()
        .filter(|i| i.state != ImageState::Failed)
        .filter_map(|i| Some(MadeVariant { member: i.member()?, ami: i.id.to_string() }))
        .collect();
    // Only a set of this spec's variants is finished by a re-run: one AMI without a variant is
    // a release of its own.
    let resumable = images.iter().all(|i| i.member().is_some())
        && wanted.iter().any(|w| !made.iter().any(|m| m.member == *w));
    match (resumable, counted) {
        (true, _) => Ok((release.clone(), made.into_iter().filter(|m| wanted.contains(&m.member)).collect())),
        (false, true) => Ok((fill(&(n + 1).to_string()), Vec::new())),
        (false, false) => Err(Error::NameTaken { name: release.clone(), id: images[0].id.to_string() }),
    }
}

/// The name template filled in for this build but `{n}`, which the returned function takes.
fn name_filler<'a>(loaded: &'a Loaded, provenance: &Provenance) -> impl Fn(&str) -> String + 'a {
    let date: String = provenance.created_at[..10].replace('-', "");
    let sha = git_sha(loaded.dir());
    move |n: &str| {
        spec::render_name(&loaded.spec.image.name, loaded.spec.kubernetes(), &date, sha.as_deref(), n)
    }
}

/// The `{n}` of a name `fill` made, if it is one.
fn counter(fill: &impl Fn(&str) -> String, name: &str) -> Option<u32> {
    let sentinel = fill("\u{0}");
    let (prefix, suffix) = sentinel.split_once('\u{0}')?;
    name.strip_prefix(prefix)?.strip_suffix(suffix)?.parse().ok()
}

/// A builder instance's tags: its build id, and where and until when the build runs, so `gc`
/// tells a live build from a dead one, whichever engine launched it.
pub fn builder_tags(build_id: &str, label: &str, spec: &spec::Spec) -> Tags {
    let mut builder = build_claim(build_id, spec);
    builder.insert("Name".to_string(), label.to_string());
    builder
}

/// Which build owns a resource, where it runs and until when: on a builder instance, or on the
/// snapshot an offline build uploads (it has no instance).
pub fn build_claim(build_id: &str, spec: &spec::Spec) -> Tags {
    let deadline =
        crate::core::clock::now_epoch() + (spec.timeout() + IMAGE_TIMEOUT + DEADLINE_MARGIN).as_secs() as i64;
    let mut claim = Tags::from([
        (tags::BUILD_ID.to_string(), build_id.to_string()),
        (tags::BUILD_PID.to_string(), std::process::id().to_string()),
        (tags::BUILD_DEADLINE.to_string(), deadline.to_string()),
    ]);
    // Without a host name no machine can claim the build as its own; gc goes by the deadline.
    if let Some(host) = leftovers::this_host() {
        claim.insert(tags::BUILD_HOST.to_string(), host);
    }
    claim
}

/// What a release AMI and its snapshots carry (DESIGN §3), whichever engine made them.
pub fn image_tags(spec: &spec::Spec, build_id: &str, base: &Base, provenance: &Provenance) -> Tags {
    let mut t = spec_tags(spec);
    t.insert(tags::BUILD_ID.into(), build_id.to_string());
    t.insert(tags::CREATED_AT.into(), provenance.created_at.clone());
    t.insert(tags::AUTHOR.into(), provenance.author.clone());
    // What the spec says the image is wins over what the base's name says.
    let recorded = base::recorded(&t, base);
    t.extend(recorded);
    t
}

/// The tags the spec alone decides: known before any build, so a rendered template carries them.
pub fn spec_tags(spec: &spec::Spec) -> Tags {
    let mut t: Tags = spec.image.tags.clone();
    if let Some(contact) = &spec.image.contact {
        t.insert(tags::CONTACT.into(), contact.clone());
    }
    if let Some(description) = &spec.image.description {
        t.insert(tags::DESCRIPTION.into(), description.clone());
    }
    if let Some(k8s) = spec.kubernetes() {
        t.insert(tags::KUBERNETES.into(), k8s.to_string());
    }
    if let Some(family) = &spec.base.family_label {
        t.insert(tags::FAMILY.into(), family.clone());
        t.insert(tags::VARIANT.into(), spec.base.variant.name().into());
    }
    if let Some(member) = spec.member {
        t.insert(tags::ARCH.into(), member.arch.name().into());
        t.insert(tags::VARIANT.into(), member.variant.name().into());
    }
    t
}

/// Tags an AMI and its snapshots in one call.
/// Waits for a new AMI to be available. Right after CreateImage or Packer's run, EC2 may not
/// list it yet (eventual consistency:
/// <https://docs.aws.amazon.com/ec2/latest/devguide/eventual-consistency.html>): absent is "not
/// yet", never "not found".
pub(crate) async fn wait_image(aws: &Aws, ami: &str) -> Result<inventory::Image> {
    poll::until(
        aws.interruption(),
        &format!("{ami} to become available"),
        poll::LOCAL_CHANGE,
        IMAGE_TIMEOUT,
        || async {
            match inventory::any_images_by_id(aws, &[ami.to_string()]).await?.into_iter().next() {
                Some(image) if image.state == ImageState::Available => Ok(Some(image)),
                Some(image) if image.state == ImageState::Failed => {
                    Err(Error::ImageFailed { id: image.id.into() })
                }
                _ => Ok(None),
            }
        },
    )
    .await
}

pub async fn tag_image(aws: &Aws, ami: &str, snapshots: &[String], tags: &Tags) -> Result<()> {
    let mut resources = vec![ami.to_string()];
    resources.extend(snapshots.iter().cloned());
    tagging::create(aws, resources, tags).await
}

/// The spec's base AMI. A disabled one is refused here: AWS launches nothing from it, and the
/// build would otherwise learn it only from RunInstances (or Packer) after starting.
pub async fn resolve_base(aws: &Aws, spec: &spec::Spec) -> Result<Base> {
    let base = match &spec.base.source {
        BaseSource::Ami(ami) => base::explicit(aws, ami.as_str()).await,
        BaseSource::Eks { family, kubernetes } => {
            let query = base::Query {
                family: *family,
                kubernetes: kubernetes.clone(),
                arch: spec.arch(),
                variant: spec.variant(),
            };
            base::resolve(aws, &query).await
        }
    }?;
    if base.image.state == ImageState::Disabled {
        return Err(Error::BaseDisabled { id: base.image.id.into(), name: base.image.name });
    }
    Ok(base)
}

pub fn git_sha(dir: &Path) -> Option<String> {
    let out = std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(dir)
        .output()
        .ok()?;
    let sha = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && !sha.is_empty()).then_some(sha)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::change::Planned;

    #[test]
    fn a_build_plan_names_the_release_its_base_and_engine() {
        let building = Building {
            engine: Engine::Native,
            name: "gio-node-1.31-1".into(),
            release: "gio-node-1.31-1".into(),
            member: None,
            base_ami: "ami-0000000b".into(),
            base_name: "amazon-eks-node-al2023".into(),
            instance_type: "t3.medium".into(),
            offline: None,
            base: Base {
                parameter: None,
                image: inventory::tests::image("ami-0000000b", "2026-01-01", &[]),
                release_version: None,
            },
            provenance: Provenance { author: "Ada".into(), created_at: "2026-11-25T00:00:00Z".into() },
        };
        let plan = plan(Builds::One(Box::new(building)));
        let action = &plan.actions[0];
        assert_eq!(
            (action.verb(), action.id(), action.detail().as_str()),
            ("build", "gio-node-1.31-1", "from ami-0000000b")
        );
        assert_eq!(action.why(), "the native engine on a t3.medium builder from amazon-eks-node-al2023");
        assert!(plan.has_work());
    }
}
