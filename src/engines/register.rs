//! Adding disks to an AMI without any instance: RegisterImage with the source's snapshots and
//! attributes, plus new EBS mappings. A chain registers one AMI per added disk, each from the
//! previous one's mappings (the incremental pipeline: a 7-disk machine is 7 AMIs).

use crate::aws::inventory::{self, Image, ImageState, Mapping};
use crate::aws::provenance::Provenance;
use crate::aws::tagging;
use crate::aws::Aws;
use crate::change::{self, Action, Applied, Kind, Outcome, Planned, Procedure, Status, Target};
use crate::core::error::Service;
use crate::core::iam::Permission;
use crate::core::ids::AmiId;
use crate::core::poll;
use crate::core::tags::{self, Tags};
use crate::error::{Error, Result};
use crate::spec::disk::{Disk, DiskError, MAX_VOLUMES};
use aws_sdk_ec2::types::{
    ArchitectureValues, BootModeValues, ImdsSupportValues, ResourceType, TpmSupportValues,
};
use schemars::JsonSchema;
use serde::Serialize;
use std::collections::HashMap;
use std::time::Duration;

pub const IAM: Permission = Permission::new(Service::Ec2, "RegisterImage");

/// AMI names are at most 128 characters (RegisterImage).
const NAME_MAX: usize = 128;
/// AMI descriptions are at most 255 characters.
const DESCRIPTION_MAX: usize = 255;
/// An AMI registered from existing snapshots is available within seconds; a minute is generous.
const AVAILABLE_TIMEOUT: Duration = Duration::from_secs(300);

#[derive(Debug, Clone)]
pub struct Request {
    pub disks: Vec<Disk>,
    /// The new AMI's name; with a chain, the prefix of every member's name.
    pub name: Option<String>,
    pub chain: bool,
}

/// One RegisterImage the plan will make.
#[derive(Debug, Clone, Serialize, JsonSchema, PartialEq)]
pub struct Step {
    pub name: String,
    /// Its `gio-ami:release`: the name, or for an AMI of a release set the release its
    /// siblings' steps share (their names add each variant's arch and variant).
    pub release: String,
    pub description: String,
    /// The disks this step adds to its parent.
    pub adds: Vec<Disk>,
    /// Every mapping of the new AMI: the parent's, exactly, then the added disks.
    pub mappings: Vec<Mapping>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Plan {
    pub source: Image,
    pub steps: Vec<Step>,
    /// Per step, the AMI an earlier run registered for it (same name, same parent): reused.
    pub reused: Vec<Option<String>>,
}

/// Computes the AMIs to register, refusing before any call what AWS would refuse later.
/// `snapshot_sizes` holds the size of every snapshot a new disk is made from.
pub fn plan(
    source: &Image,
    request: &Request,
    snapshot_sizes: &HashMap<String, i32>,
) -> Result<Plan, DiskError> {
    if request.disks.is_empty() {
        return Err(DiskError("no disk to add: pass --disk DEVICE=SIZE (e.g. --disk /dev/xvdb=50)".into()));
    }
    let paravirtual = source.boot.virtualization_type.as_deref() == Some("paravirtual");
    let mut used: Vec<&str> = source.mappings.iter().map(|m| m.device.as_str()).collect();
    for disk in &request.disks {
        disk.validate()?;
        if used.contains(&disk.device.as_str()) {
            return Err(DiskError(format!(
                "{} is already used by {} (or named twice): pick a free device, e.g. {}",
                disk.device,
                source.id,
                free_device(&used)
            )));
        }
        if paravirtual && disk.device.starts_with("/dev/xvd") {
            return Err(DiskError(format!(
                "{} is a paravirtual AMI, which names disks /dev/sd[b-z]: use {} instead of {}",
                source.id,
                disk.device.replace("/dev/xvd", "/dev/sd"),
                disk.device
            )));
        }
        used.push(&disk.device);
    }
    let volumes = source.mappings.iter().filter(|m| m.virtual_name.is_none() && !m.no_device).count();
    if volumes + request.disks.len() > MAX_VOLUMES {
        return Err(DiskError(format!(
            "{} has {volumes} volumes; {} more would exceed {MAX_VOLUMES}, the most an instance can \
             attach next to its network interface",
            source.id,
            request.disks.len()
        )));
    }
    let added: Vec<Mapping> =
        request.disks.iter().map(|disk| new_mapping(disk, snapshot_sizes)).collect::<Result<_, _>>()?;

    let groups: Vec<usize> =
        if request.chain { (1..=request.disks.len()).collect() } else { vec![request.disks.len()] };
    // An AMI of a release set makes one of a new set: named after its release, so the same
    // disks added to each of its siblings make one release again.
    let member = source.member().zip(source.release());
    let prefix = request.name.clone().unwrap_or_else(|| match member {
        Some((_, release)) => release.to_string(),
        None => source.name.clone(),
    });
    let steps: Vec<Step> = groups
        .into_iter()
        .map(|upto| {
            let adds = &request.disks[..upto];
            let release = match (&request.name, request.chain) {
                (Some(name), false) => name.clone(),
                _ => format!("{prefix}-{}", short_devices(adds)),
            };
            let name = match member {
                Some((member, _)) => format!("{release}-{}", member.suffix()),
                None => release.clone(),
            };
            check_name(&name)?;
            let this_step = if request.chain { &adds[upto - 1..] } else { adds };
            Ok(Step {
                description: describe(source, this_step),
                name,
                release,
                adds: this_step.to_vec(),
                mappings: source.mappings.iter().cloned().chain(added[..upto].iter().cloned()).collect(),
            })
        })
        .collect::<Result<_, DiskError>>()?;
    Ok(Plan { source: source.clone(), reused: vec![None; steps.len()], steps })
}

/// Decides, from the AMIs holding each step's name (looked up beforehand), which steps an
/// earlier run already registered: a name held by an AMI of the same parent is that step's,
/// reused; held by anything else, it is a conflict the user must resolve, refused before any
/// call. A step after a new one has a parent not registered yet, so its name must be free.
pub fn reuse(plan: &mut Plan, holders: &[Option<Image>]) -> Result<()> {
    let mut parent = Some(plan.source.id.to_string());
    for ((step, holder), reused) in plan.steps.iter().zip(holders).zip(&mut plan.reused) {
        *reused = match holder {
            None => None,
            Some(image) if parent.is_some() && image.tags.get(tags::PARENT_AMI) == parent.as_ref() => {
                Some(image.id.to_string())
            }
            Some(image) => {
                return Err(Error::NameTaken { name: step.name.clone(), id: image.id.to_string() })
            }
        };
        parent = reused.clone();
    }
    Ok(())
}

/// The plan as actions: each step registered, or reused when an earlier run made it.
pub fn actions(plan: Plan) -> change::Plan<Plan, change::Step> {
    let actions = plan
        .steps
        .iter()
        .zip(&plan.reused)
        .enumerate()
        .map(|(n, (step, reused))| {
            let parent = match n.checked_sub(1) {
                None => plan.source.id.to_string(),
                Some(previous) => plan.reused[previous].clone().unwrap_or_else(|| format!("step {n}")),
            };
            match reused {
                Some(id) => change::Step::Action(Action::Reuse {
                    id: id.clone(),
                    kind: Kind::Image,
                    why: format!("name `{}` taken by {id} made by this step: reused", step.name),
                }),
                None => change::Step::Procedure(Procedure::RegisterImage {
                    id: Target::Planned(step.name.clone()),
                    name: step.name.clone(),
                    parent,
                    why: format!(
                        "adds {}",
                        step.adds.iter().map(|d| d.device.as_str()).collect::<Vec<_>>().join(" ")
                    ),
                }),
            }
        })
        .collect();
    change::Plan { actions, warnings: Vec::new(), facts: plan }
}

fn new_mapping(disk: &Disk, snapshot_sizes: &HashMap<String, i32>) -> Result<Mapping, DiskError> {
    if disk.kms_key_id.is_some() {
        return Err(DiskError(format!(
            "{}: RegisterImage cannot pin a KMS key on a mapping (AWS only allows it at launch); \
             drop kms= to use the account's default EBS key, or set the key in the launch template",
            disk.device
        )));
    }
    let size = match &disk.snapshot_id {
        None => disk.size_gib,
        Some(snapshot) => {
            if disk.encrypted {
                return Err(DiskError(format!(
                    "{}: a disk made from {snapshot} keeps that snapshot's encryption; drop `encrypted`",
                    disk.device
                )));
            }
            let actual = *snapshot_sizes.get(snapshot).ok_or_else(|| {
                DiskError(format!(
                    "{}: snapshot {snapshot} does not exist in this region (or is not visible to \
                     this account)",
                    disk.device
                ))
            })?;
            match disk.size_gib {
                Some(size) if size < actual => {
                    return Err(DiskError(format!(
                        "{}: {size} GiB is smaller than {snapshot} ({actual} GiB); a volume can only \
                         be as large as its snapshot or larger",
                        disk.device
                    )))
                }
                Some(size) => Some(size),
                None => Some(actual),
            }
        }
    };
    Ok(Mapping {
        device: disk.device.clone(),
        snapshot_id: disk.snapshot_id.clone(),
        size_gib: size,
        volume_type: Some(disk.volume_type.into()),
        iops: disk.iops,
        throughput: disk.throughput,
        encrypted: disk.encrypted.then_some(true),
        kms_key_id: None,
        delete_on_termination: Some(disk.delete_on_termination),
        virtual_name: None,
        no_device: false,
    })
}

fn free_device(used: &[&str]) -> String {
    let prefix = if used.iter().any(|d| d.starts_with("/dev/xvd")) { "/dev/xvd" } else { "/dev/sd" };
    ('b'..='z')
        .map(|c| format!("{prefix}{c}"))
        .find(|d| !used.contains(&d.as_str()))
        .unwrap_or_else(|| "(none left)".into())
}

fn short_devices(disks: &[Disk]) -> String {
    disks.iter().map(|d| d.device.trim_start_matches("/dev/")).collect::<Vec<_>>().join("-")
}

pub fn check_name(name: &str) -> Result<(), DiskError> {
    // RegisterImage: 3-128 characters of letters, digits, ( ) [ ] space . / - ' @ _
    let allowed = |c: char| c.is_ascii_alphanumeric() || "()[] ./-'@_".contains(c);
    if name.len() < 3 || name.len() > NAME_MAX || !name.chars().all(allowed) {
        return Err(DiskError(format!(
            "`{name}` is not a valid AMI name: 3 to {NAME_MAX} characters of letters, digits and \
             ( ) [ ] space . / - ' @ _ (pass a shorter one with --name)"
        )));
    }
    Ok(())
}

fn describe(source: &Image, adds: &[Disk]) -> String {
    let added = adds
        .iter()
        .map(|d| match (&d.snapshot_id, d.size_gib) {
            (Some(s), _) => format!("+{} from {s}", d.device),
            (None, size) => format!("+{} {} GiB {}", d.device, size.unwrap_or_default(), d.volume_type),
        })
        .collect::<Vec<_>>()
        .join(", ");
    let base = source.description.clone().unwrap_or_else(|| source.name.clone());
    // Keep what was added whole: it is the news; the inherited text gives way.
    let room = DESCRIPTION_MAX.saturating_sub(added.chars().count() + 2);
    let base: String = base.chars().take(room).collect();
    format!("{base}; {added}").chars().take(DESCRIPTION_MAX).collect()
}

/// Registers the plan's AMIs in order, each with its parent's id in its tags, and waits until
/// all are available: one outcome per step, carrying the AMI's id. A step whose parent failed
/// is not attempted (it has no parent to name).
pub async fn apply(
    aws: &Aws,
    plan: &change::Plan<Plan, change::Step>,
    provenance: &Provenance,
) -> Result<Applied<(), change::Step>> {
    let facts = &plan.facts;
    let mut parent = Some(facts.source.id.to_string());
    let mut outcomes = Vec::with_capacity(plan.actions.len());
    for ((step, reused), action) in facts.steps.iter().zip(&facts.reused).zip(&plan.actions) {
        let (status, id) = match (reused, &parent) {
            (Some(id), _) => (Status::Reused, Some(id.clone())),
            (None, None) => (Status::Skipped("not attempted: the step it adds to failed".into()), None),
            (None, Some(from)) => {
                let tags = step_tags(&facts.source, step, from, provenance);
                // The name taken by an AMI of this same step (same parent) is this call's own
                // first attempt, whose answer was lost.
                let same_step = |image: &Image| image.tags.get(tags::PARENT_AMI) == Some(from);
                match register_once(aws, &facts.source, step, &tags, same_step).await {
                    Ok((id, existed)) => (if existed { Status::Reused } else { Status::Done }, Some(id)),
                    Err(e) => (Status::Failed((&e).into()), None),
                }
            }
        };
        tracing::info!(?id, name = %step.name, ?parent, ?status, "registered");
        let action = match (action, &id, &parent) {
            (change::Step::Procedure(Procedure::RegisterImage { name, why, .. }), Some(id), Some(from)) => {
                change::Step::Procedure(Procedure::RegisterImage {
                    id: Target::Made(AmiId::from_aws(id)),
                    name: name.clone(),
                    parent: from.clone(),
                    why: why.clone(),
                })
            }
            (other, _, _) => other.clone(),
        };
        outcomes.push(Outcome { action, status });
        parent = id;
    }
    let made: Vec<String> = outcomes
        .iter()
        .filter(|o| matches!(o.status, Status::Done | Status::Reused))
        .map(|o| o.action.id().to_string())
        .collect();
    if !made.is_empty() {
        wait_available(aws, &made).await?;
    }
    Ok(outcomes.into())
}

fn step_tags(source: &Image, step: &Step, parent: &str, provenance: &Provenance) -> Tags {
    let mut tags = tags::inherited(&source.tags);
    tags.entry(tags::BASE_AMI.to_string()).or_insert_with(|| source.id.to_string());
    tags.insert(tags::RELEASE.to_string(), step.release.clone());
    tags.insert(tags::PARENT_AMI.to_string(), parent.to_string());
    tags.insert(tags::AUTHOR.to_string(), provenance.author.clone());
    tags.insert(tags::CREATED_AT.to_string(), provenance.created_at.clone());
    tags.insert(tags::DESCRIPTION.to_string(), step.description.clone());
    tags
}

async fn register(aws: &Aws, source: &Image, step: &Step, tags: &Tags) -> Result<String> {
    let boot = &source.boot;
    let output = aws
        .ec2()
        .register_image()
        .name(&step.name)
        .description(&step.description)
        .set_root_device_name(source.root_device.clone())
        .set_architecture(source.architecture.as_ref().map(ArchitectureValues::from))
        .set_virtualization_type(boot.virtualization_type.clone())
        .set_ena_support(boot.ena_support)
        .set_sriov_net_support(boot.sriov_net_support.clone())
        .set_boot_mode(boot.boot_mode.as_ref().map(BootModeValues::from))
        .set_tpm_support(boot.tpm_support.as_deref().map(TpmSupportValues::from))
        .set_imds_support(boot.imds_support.as_deref().map(ImdsSupportValues::from))
        .set_kernel_id(boot.kernel_id.clone())
        .set_ramdisk_id(boot.ramdisk_id.clone())
        .set_block_device_mappings(Some(step.mappings.iter().map(Mapping::to_sdk).collect()))
        .tag_specifications(tagging::specification(ResourceType::Image, tags))
        .send()
        .await
        .map_err(|e| aws.error("RegisterImage", Service::Ec2, e))?;
    Ok(output.image_id().unwrap_or_default().to_string())
}

/// Registers the step's AMI; true when it existed already. RegisterImage takes no ClientToken,
/// so a name that is taken is looked at: by an AMI `ours` recognises (an earlier run, or this
/// call's own first attempt whose answer was lost) it is that AMI; by anything else it is a
/// conflict the user must resolve.
pub(crate) async fn register_once(
    aws: &Aws,
    source: &Image,
    step: &Step,
    tags: &Tags,
    ours: impl Fn(&Image) -> bool,
) -> Result<(String, bool)> {
    let taken = match register(aws, source, step, tags).await {
        Ok(id) => return Ok((id, false)),
        Err(e) if e.code() == Some("InvalidAMIName.Duplicate") => e,
        Err(e) => return Err(e),
    };
    tracing::debug!(name = %step.name, %taken, "name taken: whose?");
    match inventory::own_images_named(aws, &step.name).await?.first() {
        Some(image) if image.state == ImageState::Disabled => {
            Err(Error::NameTakenByDisabled { name: step.name.clone(), id: image.id.to_string() })
        }
        Some(image) if ours(image) => Ok((image.id.to_string(), true)),
        Some(image) => Err(Error::NameTaken { name: step.name.clone(), id: image.id.to_string() }),
        None => Err(Error::NameTaken { name: step.name.clone(), id: "an AMI of another account".into() }),
    }
}

pub(crate) async fn wait_available(aws: &Aws, ids: &[String]) -> Result<()> {
    poll::until(
        aws.interruption(),
        &format!("{} to become available", ids.join(", ")),
        poll::LOCAL_CHANGE,
        AVAILABLE_TIMEOUT,
        || async {
            let states = inventory::image_states(aws, ids).await?;
            if let Some((id, _)) = states.iter().find(|(_, s)| s.failed()) {
                return Err(Error::ImageFailed { id: id.clone() });
            }
            Ok((states.len() == ids.len() && states.iter().all(|(_, s)| *s == ImageState::Available))
                .then_some(()))
        },
    )
    .await
}

/// The snapshots new disks are made from, with their sizes (one call for all of them).
pub async fn snapshot_sizes(aws: &Aws, disks: &[Disk]) -> Result<HashMap<String, i32>> {
    let ids: Vec<String> = disks.iter().filter_map(|d| d.snapshot_id.clone()).collect();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    Ok(inventory::snapshots_by_id(aws, &ids)
        .await?
        .into_iter()
        .map(|s| (s.id.to_string(), s.size_gib))
        .collect())
}

/// Looks up the source and the snapshots new disks come from, then plans. A dry run
/// (`dry_run`) also looks up who holds each step's name, to show what a run would reuse or
/// refuse; a run does not: RegisterImage answers `InvalidAMIName.Duplicate` for a taken name,
/// and only then is its holder looked up (`register_once`: an earlier run's AMI is reused,
/// anything else refused), which keeps a run to the floor of DescribeImages, RegisterImage and
/// DescribeImages until available.
pub async fn prepare(
    aws: &Aws,
    source: &AmiId,
    request: &Request,
    dry_run: bool,
) -> Result<change::Plan<Plan, change::Step>> {
    let image = inventory::own_images_by_id(aws, std::slice::from_ref(source)).await?.remove(0);
    let sizes = snapshot_sizes(aws, &request.disks).await?;
    let mut plan = plan(&image, request, &sizes)?;
    if dry_run {
        let holders =
            futures::future::try_join_all(plan.steps.iter().map(|step| holder(aws, &step.name))).await?;
        reuse(&mut plan, &holders)?;
    }
    Ok(actions(plan))
}

/// The AMI of this account holding `name`, if any (names are unique per account and region).
pub(crate) async fn holder(aws: &Aws, name: &str) -> Result<Option<Image>> {
    match inventory::own_images_named(aws, name).await?.into_iter().next() {
        // A disabled AMI keeps its name, but can be neither launched nor reused.
        Some(image) if image.state == ImageState::Disabled => {
            Err(Error::NameTakenByDisabled { name: name.to_string(), id: image.id.into() })
        }
        held => Ok(held),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::inventory::tests::image;

    fn source() -> Image {
        let mut image =
            image("ami-00000001", "2026-01-01T00:00:00.000Z", &[("/dev/xvda", "snap-00000001", 20)]);
        image.name = "gio-node-1.31-20261125".into();
        image.description = Some("EKS node".into());
        image
    }

    fn request(disks: &[&str], chain: bool) -> Request {
        Request { disks: disks.iter().map(|d| d.parse().unwrap()).collect(), name: None, chain }
    }

    #[test]
    fn an_ami_of_a_set_makes_one_of_a_new_set_its_siblings_join() {
        let mut member = source();
        member.name = "gio-node-1.31-20261125-arm64-standard".into();
        for (key, value) in
            [(tags::RELEASE, "gio-node-1.31-20261125"), (tags::ARCH, "arm64"), (tags::VARIANT, "standard")]
        {
            member.tags.insert(key.into(), value.into());
        }
        let planned = plan(&member, &request(&["/dev/xvdb=50"], false), &HashMap::new()).unwrap();
        let step = &planned.steps[0];
        assert_eq!(step.release, "gio-node-1.31-20261125-xvdb");
        assert_eq!(step.name, "gio-node-1.31-20261125-xvdb-arm64-standard");
        let tags = step_tags(
            &member,
            step,
            "ami-00000001",
            &Provenance { author: "a".into(), created_at: "t".into() },
        );
        assert_eq!(
            (tags[tags::RELEASE].as_str(), tags[tags::ARCH].as_str()),
            ("gio-node-1.31-20261125-xvdb", "arm64")
        );
        let plain = plan(&source(), &request(&["/dev/xvdb=50"], false), &HashMap::new()).unwrap();
        assert_eq!(plain.steps[0].release, plain.steps[0].name, "one AMI's release is its name");
    }

    #[test]
    fn one_step_keeps_every_source_mapping_and_adds_the_disks() {
        let plan = plan(
            &source(),
            &request(&["/dev/xvdb=50", "/dev/xvdc=100:io2:iops=4000"], false),
            &HashMap::new(),
        )
        .unwrap();
        assert_eq!(plan.steps.len(), 1);
        let step = &plan.steps[0];
        assert_eq!(step.name, "gio-node-1.31-20261125-xvdb-xvdc");
        assert_eq!(step.mappings[0], source().mappings[0], "the root is carried over exactly");
        let devices: Vec<&str> = step.mappings.iter().map(|m| m.device.as_str()).collect();
        assert_eq!(devices, ["/dev/xvda", "/dev/xvdb", "/dev/xvdc"]);
        assert_eq!(step.mappings[2].volume_type.as_deref(), Some("io2"));
        assert_eq!(step.mappings[2].iops, Some(4000));
        assert_eq!(step.mappings[1].snapshot_id, None, "a new empty volume");
        assert_eq!(step.description, "EKS node; +/dev/xvdb 50 GiB gp3, +/dev/xvdc 100 GiB io2");
    }

    #[test]
    fn a_chain_is_one_ami_per_disk_each_extending_the_previous() {
        let plan = plan(
            &source(),
            &request(&["/dev/xvdb=50", "/dev/xvdc=50", "/dev/xvdd=50"], true),
            &HashMap::new(),
        )
        .unwrap();
        let names: Vec<&str> = plan.steps.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "gio-node-1.31-20261125-xvdb",
                "gio-node-1.31-20261125-xvdb-xvdc",
                "gio-node-1.31-20261125-xvdb-xvdc-xvdd"
            ]
        );
        let mut parent = source().mappings;
        for step in &plan.steps {
            assert_eq!(step.mappings.len(), parent.len() + 1);
            assert_eq!(step.mappings[..parent.len()], parent[..], "the parent's mappings, exactly");
            assert_eq!(step.adds.len(), 1);
            parent = step.mappings.clone();
        }
    }

    #[test]
    fn a_name_is_exact_alone_and_a_prefix_in_a_chain() {
        let mut single = request(&["/dev/xvdb=50"], false);
        single.name = Some("custom".into());
        assert_eq!(plan(&source(), &single, &HashMap::new()).unwrap().steps[0].name, "custom");
        let mut chain = request(&["/dev/xvdb=50", "/dev/xvdc=50"], true);
        chain.name = Some("custom".into());
        let names: Vec<String> =
            plan(&source(), &chain, &HashMap::new()).unwrap().steps.into_iter().map(|s| s.name).collect();
        assert_eq!(names, ["custom-xvdb", "custom-xvdb-xvdc"]);
    }

    #[test]
    fn a_disk_from_a_snapshot_takes_its_size_or_grows() {
        let sizes = HashMap::from([("snap-0000000a".to_string(), 30)]);
        let kept = plan(&source(), &request(&["/dev/xvdd=snap-0000000a"], false), &sizes).unwrap();
        assert_eq!(kept.steps[0].mappings[1].size_gib, Some(30));
        assert_eq!(kept.steps[0].mappings[1].snapshot_id.as_deref(), Some("snap-0000000a"));
        let grown = plan(&source(), &request(&["/dev/xvdd=snap-0000000a:100"], false), &sizes).unwrap();
        assert_eq!(grown.steps[0].mappings[1].size_gib, Some(100));
    }

    #[test]
    fn refusals_name_the_problem() {
        let sizes = HashMap::from([("snap-0000000a".to_string(), 30)]);
        let cases: Vec<(Request, &str)> = vec![
            (request(&["/dev/xvdb=50", "/dev/xvdb=60"], false), "/dev/xvdb is already used by ami-00000001 (or named twice): pick a free device, e.g. /dev/xvdc"),
            (request(&["/dev/xvdd=snap-0000000a:10"], false), "10 GiB is smaller than snap-0000000a (30 GiB)"),
            (request(&["/dev/xvdd=snap-0000000b"], false), "snapshot snap-0000000b does not exist"),
            (request(&["/dev/xvdb=50:kms=alias/x"], false), "cannot pin a KMS key"),
            (request(&["/dev/xvdd=snap-0000000a:encrypted"], false), "keeps that snapshot's encryption"),
            (request(&[], false), "no disk to add"),
        ];
        for (req, expected) in cases {
            let err = plan(&source(), &req, &sizes).unwrap_err().0;
            assert!(err.contains(expected), "{err}");
        }
        let mut root_taken = source();
        root_taken.mappings[0].device = "/dev/xvdb".into();
        let err = plan(&root_taken, &request(&["/dev/xvdb=5"], false), &sizes).unwrap_err().0;
        assert!(err.contains("already used"), "{err}");
    }

    #[test]
    fn paravirtual_amis_take_sd_names() {
        let mut pv = source();
        pv.boot.virtualization_type = Some("paravirtual".into());
        let err = plan(&pv, &request(&["/dev/xvdb=5"], false), &HashMap::new()).unwrap_err().0;
        assert!(err.contains("use /dev/sdb instead of /dev/xvdb"), "{err}");
        assert!(plan(&pv, &request(&["/dev/sdb=5"], false), &HashMap::new()).is_ok());
    }

    #[test]
    fn too_many_volumes_are_refused() {
        let many: Vec<String> = ('b'..='z')
            .map(|c| format!("/dev/xvd{c}=1"))
            .chain(('b'..='c').map(|c| format!("/dev/sd{c}=1")))
            .collect();
        let refs: Vec<&str> = many.iter().map(String::as_str).collect();
        let err = plan(&source(), &request(&refs, false), &HashMap::new()).unwrap_err().0;
        assert!(err.contains("would exceed 27"), "{err}");
    }

    #[test]
    fn names_are_checked_before_any_call() {
        let mut long = request(&["/dev/xvdb=50"], false);
        long.name = Some("x".repeat(200));
        assert!(plan(&source(), &long, &HashMap::new()).unwrap_err().0.contains("not a valid AMI name"));
        let mut odd = request(&["/dev/xvdb=50"], false);
        odd.name = Some("node+disk".into());
        assert!(plan(&source(), &odd, &HashMap::new()).unwrap_err().0.contains("not a valid AMI name"));
    }

    #[test]
    fn a_rerun_reuses_the_steps_made_by_this_chain_and_refuses_foreign_names() {
        let mut chain = plan(
            &source(),
            &request(&["/dev/xvdb=50", "/dev/xvdc=50", "/dev/xvdd=50"], true),
            &HashMap::new(),
        )
        .unwrap();
        let mut first = image("ami-00000002", "2026-01-02", &[]);
        first.tags.insert(tags::PARENT_AMI.into(), "ami-00000001".into());
        reuse(&mut chain, &[Some(first.clone()), None, None]).unwrap();
        assert_eq!(chain.reused, [Some("ami-00000002".to_string()), None, None]);
        let planned = actions(chain.clone());
        let verbs: Vec<&str> = planned.actions.iter().map(|a| a.verb()).collect();
        assert_eq!(verbs, ["reuse", "register", "register"]);
        assert_eq!(
            planned.actions[0].why(),
            "name `gio-node-1.31-20261125-xvdb` taken by ami-00000002 made by this step: reused"
        );

        let mut foreign = first.clone();
        foreign.tags.insert(tags::PARENT_AMI.into(), "ami-0000000f".into());
        let err = reuse(&mut chain, &[Some(foreign), None, None]).unwrap_err().to_string();
        assert!(err.contains("ami-00000002"), "{err}");
        // After a new step, the parent does not exist yet: a taken name cannot be this run's.
        let err = reuse(&mut chain, &[None, Some(first), None]).unwrap_err().to_string();
        assert!(err.contains("gio-node-1.31-20261125-xvdb-xvdc"), "{err}");
    }

    #[test]
    fn tags_carry_the_source_and_name_the_parent() {
        let mut src = source();
        src.tags.insert(tags::CONTACT.into(), "ops@example.org".into());
        src.tags.insert(tags::CLUSTERS.into(), "prod".into());
        src.tags.insert("team".into(), "x".into());
        let plan = plan(&src, &request(&["/dev/xvdb=50"], false), &HashMap::new()).unwrap();
        let who = Provenance { author: "Ada".into(), created_at: "2026-11-25T00:00:00Z".into() };
        let tags = step_tags(&src, &plan.steps[0], "ami-00000001", &who);
        assert_eq!(tags[tags::PARENT_AMI], "ami-00000001");
        assert_eq!(tags[tags::BASE_AMI], "ami-00000001", "an untagged source is the base");
        assert_eq!(tags[tags::RELEASE], plan.steps[0].name);
        assert_eq!(tags[tags::CONTACT], "ops@example.org");
        assert_eq!(tags[tags::AUTHOR], "Ada");
        assert!(!tags.contains_key(tags::CLUSTERS), "a new AMI is published nowhere yet");
        assert!(!tags.contains_key("team"), "only gio-ami tags are inherited");
    }
}
