//! PXEless images: a disk image built on a workstation or a CI runner becomes an EBS snapshot
//! through the EBS direct APIs (no builder instance, no S3 bucket, no VM import), then
//! optionally an AMI. The blocks are `transfer::upload`'s; this is the plan and the order.
//! Once StartSnapshot has answered, any failure or Ctrl-C deletes the unfinished snapshot, so
//! nothing billable is left behind.

use super::line::{choice, Workers};
use super::shown::{mappings_table, Made};
use super::{execute, parse_all, Context, Mode, Own};
use crate::aws::inventory::{self, Boot, Image, Mapping, Snapshot, SnapshotState};
use crate::aws::provenance::Provenance;
use crate::aws::Aws;
use crate::change::{self, Action, Applied, Kind, Outcome, Procedure, Status};
use crate::core::ids::{AmiId, SnapshotId};
use crate::core::kinds::{Arch, BootMode, Reported, VolumeType};
use crate::core::progress::Progress;
use crate::core::show::Draw;
use crate::core::tags::{self, Tags};
use crate::engines::register::{self, Step};
use crate::error::{Error, Result};
use crate::spec::disk::Disk;
use crate::transfer;
use crate::transfer::blocks;
use crate::transfer::image_file::{Format, ImageFile};
use crate::transfer::manifest::{self, Digests, Manifest};
use crate::transfer::upload::{Sent, Target};
use aws_sdk_ec2::types::Filter;
use schemars::JsonSchema;
use serde::Serialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The disk image: a raw file or block device, or qcow2/vmdk/vhd/vhdx (needs qemu-img).
    #[arg(value_name = "IMAGE")]
    pub image: PathBuf,

    /// The release name (gio-ami:release tag) and, with --register, the AMI's name
    /// (default: the file name without its extension).
    #[arg(long)]
    pub name: Option<String>,

    /// Register an AMI with the snapshot as its root (/dev/xvda, ENA on). An AMI of that name
    /// already registered is reported, and nothing is uploaded.
    #[arg(long)]
    pub register: bool,

    /// The AMI's architecture.
    #[arg(long, value_parser = choice::<Arch>(), default_value = "x86_64")]
    pub arch: Arch,

    /// How the AMI boots (arm64 needs uefi).
    #[arg(long, value_parser = choice::<BootMode>(), default_value = "uefi")]
    pub boot_mode: BootMode,

    /// An extra disk of the AMI, with --register; the syntax of `disks add --disk`:
    /// DEVICE=SIZE[:TYPE][:iops=N][:throughput=N] or DEVICE=snap-ID[:SIZE].
    #[arg(long = "disk", value_name = "SPEC")]
    pub disks: Vec<String>,

    #[command(flatten)]
    pub workers: Workers,

    /// A tag of your own on the snapshot and the AMI: KEY=VALUE (several allowed).
    #[arg(long = "tag", value_name = "KEY=VALUE")]
    pub tags: Vec<String>,

    /// Encrypt the snapshot with this KMS key, given by its ARN (StartSnapshot takes no alias).
    /// Every block of the volume is then sent, zeros too: an encrypted snapshot's unwritten
    /// blocks read as random data, not zeros. The same holds with an encrypted parent, or when
    /// the account encrypts new snapshots by default.
    #[arg(long, value_name = "ARN")]
    pub kms_key: Option<String>,

    /// Start from this snapshot (an earlier upload of the same disk) and send only the blocks
    /// that differ from it; EBS then bills only those. What it holds is read from the manifest
    /// its upload wrote, or from --parent-image.
    #[arg(long, value_name = "SNAPSHOT_ID", group = "parents")]
    pub parent: Option<String>,

    /// With --register: start from this AMI's root snapshot, as --parent does, and name the
    /// AMI as the new one's parent (gio-ami:parent-ami), so `lineage` shows the upload chain.
    #[arg(long, value_name = "AMI_ID", requires = "register", group = "parents")]
    pub parent_ami: Option<String>,

    /// With --parent or --parent-ami: the image the parent was uploaded from, when its manifest
    /// is not at hand. Without either, the parent's blocks are read back from EBS (a full read).
    #[arg(long, value_name = "IMAGE", requires = "parents")]
    pub parent_image: Option<PathBuf>,

    /// Where uploads write the block manifests that later uploads start from (default: the
    /// user cache, e.g. ~/.cache/gio-ami/manifests): share one between CI runs.
    #[arg(long, value_name = "DIR")]
    pub manifest_dir: Option<PathBuf>,

    /// Print what would be uploaded and registered, and do nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// What `--output json` prints: the plan, and once uploaded its counts at the top.
pub type Report = super::Mutation<Plan, Option<Uploaded>, change::Step>;
pub const JSON: super::Json = super::Json::of::<Report>();

/// The IAM permissions this command's AWS calls need (`gio-ami iam-policy upload`).
pub const IAM: &[&[crate::core::iam::Permission]] = &[
    crate::transfer::upload::IAM,
    &[
        crate::aws::inventory::DESCRIBE_IMAGES,
        crate::aws::inventory::DESCRIBE_SNAPSHOTS,
        crate::transfer::upload::ENCRYPTION_BY_DEFAULT.optional("skipping of zero blocks"),
        crate::engines::register::IAM,
        crate::aws::tagging::CREATE_TAGS,
    ],
];

pub async fn run(args: Args, ctx: &Context<'_>) -> Result<()> {
    let request = Request {
        name: args.name,
        register: args.register,
        arch: args.arch,
        boot_mode: args.boot_mode,
        disks: parse_all::<Disk>(&args.disks)?,
        workers: args.workers.workers,
        tags: args.tags.iter().map(|t| parse_tag(t)).collect::<Result<_>>()?,
        kms_key: args.kms_key,
        parent: match (args.parent, args.parent_ami) {
            (Some(snapshot), _) => Some(Parent::Snapshot(snapshot.parse()?)),
            (None, Some(ami)) => Some(Parent::Ami(ami.parse()?)),
            (None, None) => None,
        },
        manifest_dir: args.manifest_dir.or_else(manifest::default_dir),
    };
    let progress = ctx.ui.progress();
    let image = ImageFile::open(&args.image, |step| progress.phase(step))?;
    let parent_image =
        args.parent_image.map(|path| ImageFile::open(&path, |step| progress.phase(step))).transpose()?;
    let aws = Aws::connect(&ctx.options).await?;
    let sizes = register::snapshot_sizes(&aws, &request.disks).await?;
    let provenance = Provenance::current(&aws).await;
    let file = (image.path.as_path(), image.format, image.size);
    let plan = prepare(&aws, &request, file, &sizes, &provenance, parent_image.as_ref()).await?;
    let own = Own { before: intro(&plan.facts, ctx.ui.drawing()), ..Own::default() };
    let mode = Mode::adding("upload", args.dry_run, "uploaded");
    let uploaded =
        execute(ctx, &aws, &plan, &mode, own, || apply(&aws, &plan, &image, progress.as_ref())).await;
    progress.finish();
    uploaded
}

/// The root device of every uploaded AMI: what Nitro instances and EKS node images expect.
pub const ROOT_DEVICE: &str = "/dev/xvda";

#[derive(Debug, Clone)]
pub struct Request {
    /// The snapshot's release name, and the AMI's name with `register`; default: the file's stem.
    pub name: Option<String>,
    pub register: bool,
    pub arch: Arch,
    pub boot_mode: BootMode,
    /// Extra disks of the AMI, beside the uploaded root.
    pub disks: Vec<Disk>,
    pub workers: usize,
    /// The user's own tags, on the snapshot and the AMI.
    pub tags: Tags,
    pub kms_key: Option<String>,
    /// The snapshot to start from: only blocks that differ from it are sent.
    pub parent: Option<Parent>,
    /// Where block manifests are read (the parent's) and written (this upload's); none when the
    /// machine has no cache directory and none was given.
    pub manifest_dir: Option<PathBuf>,
}

/// What the upload starts from.
#[derive(Debug, Clone)]
pub enum Parent {
    Snapshot(SnapshotId),
    /// The root snapshot of this AMI, which the new AMI names as its parent (`lineage`).
    Ami(AmiId),
}

/// Where the parent's blocks are known from, when not from its manifest: the image it was
/// uploaded from (`--parent-image`).
pub type ParentImage<'a> = Option<&'a ImageFile>;

/// Parses `--tag KEY=VALUE`; the `gio-ami:` and `aws:` prefixes are not the user's to set.
pub fn parse_tag(input: &str) -> Result<(String, String)> {
    match input.split_once('=') {
        Some((key, value))
            if !key.is_empty() && !key.starts_with(tags::PREFIX) && !key.starts_with("aws:") =>
        {
            Ok((key.to_string(), value.to_string()))
        }
        _ => Err(Error::InvalidTag { input: input.to_string() }),
    }
}

/// StartSnapshot's KmsKeyArn pattern, `arn:aws[a-z-]*:kms:.*:[0-9]{12}:key/.*`: checked here so
/// that an alias fails before anything is read. Pure.
fn is_key_arn(key: &str) -> bool {
    let Some(rest) = key.strip_prefix("arn:aws") else { return false };
    let Some((partition_tail, rest)) = rest.split_once(":kms:") else { return false };
    let Some((_region, rest)) = rest.split_once(':') else { return false };
    let Some((account, id)) = rest.split_once(":key/") else { return false };
    partition_tail.bytes().all(|b| b.is_ascii_lowercase() || b == b'-')
        && account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit())
        && !id.is_empty()
}

/// Everything the upload will do, computed before any call.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Plan {
    /// The snapshot: the image, its size, blocks and workers, and the tags.
    #[serde(flatten)]
    pub target: Target,
    pub format: Format,
    pub name: String,
    /// Where the parent's blocks were known from (its manifest, or its image), with a parent.
    pub parent_blocks_from: Option<String>,
    /// The parent's blocks are known only by reading them back from EBS, before the upload.
    #[serde(skip)]
    pub read_parent: bool,
    /// Where this upload's manifest goes.
    pub manifest_dir: Option<PathBuf>,
    /// The RegisterImage to make, its root mapping waiting for the snapshot id.
    pub register: Option<Step>,
    /// How the AMI boots (architecture, boot mode, ENA), in the shape RegisterImage repeats.
    #[serde(skip)]
    shape: Image,
    /// The AMI already holding the name to register, found by `prepare`: nothing is uploaded.
    #[serde(skip)]
    existing: Option<Image>,
    /// A completed snapshot of this very upload (same release, same file) that an earlier run
    /// made and did not get to register or report: reused, nothing is uploaded.
    #[serde(skip)]
    earlier: Option<Snapshot>,
}

/// Plans the upload of `size` bytes read from `path`. `snapshot_sizes` holds the size of every
/// snapshot an extra disk is made from.
pub fn plan(
    request: &Request,
    (path, format, size): (&Path, Format, u64),
    snapshot_sizes: &HashMap<String, i32>,
    provenance: &Provenance,
) -> Result<Plan> {
    if request.boot_mode == BootMode::LegacyBios && request.arch == Arch::Arm64 {
        return Err(crate::spec::disk::DiskError(
            "arm64 (Graviton) instances boot only with UEFI: drop --boot-mode legacy-bios".into(),
        )
        .into());
    }
    if let Some(key) = request.kms_key.as_deref().filter(|key| !is_key_arn(key)) {
        return Err(Error::NotAKeyArn { input: key.to_string() });
    }
    let file = path.file_name().unwrap_or_default().to_string_lossy().into_owned();
    let name = request
        .name
        .clone()
        .unwrap_or_else(|| path.file_stem().unwrap_or_default().to_string_lossy().into_owned());
    let volume_gib = blocks::volume_gib(size);
    let description = format!("{name}: uploaded by gio-ami from {file} ({})", format.qemu_name());
    let mut tags = request.tags.clone();
    tags.insert(tags::RELEASE.into(), name.clone());
    tags.insert(tags::AUTHOR.into(), provenance.author.clone());
    tags.insert(tags::CREATED_AT.into(), provenance.created_at.clone());
    tags.insert(tags::DESCRIPTION.into(), description.clone());
    let shape = ami_shape(request, &name, &description, volume_gib);
    let register = match (request.register, request.disks.is_empty()) {
        (false, true) => None,
        (false, false) => {
            return Err(crate::spec::disk::DiskError("--disk only makes sense with --register".into()).into())
        }
        (true, true) => {
            register::check_name(&name)?;
            Some(Step {
                name: name.clone(),
                release: name.clone(),
                description,
                adds: vec![],
                mappings: shape.mappings.clone(),
            })
        }
        (true, false) => {
            let with_disks =
                register::Request { disks: request.disks.clone(), name: Some(name.clone()), chain: false };
            Some(register::plan(&shape, &with_disks, snapshot_sizes)?.steps.remove(0))
        }
    };
    Ok(Plan {
        target: Target::new(path.display().to_string(), size, request.workers, request.kms_key.clone(), tags),
        format,
        name,
        parent_blocks_from: None,
        read_parent: false,
        manifest_dir: request.manifest_dir.clone(),
        register,
        shape,
        existing: None,
        earlier: None,
    })
}

/// Plans the upload and looks up whether an AMI already holds the name to register, and the
/// parent's state and blocks (one read phase: the dry run shows what a run would reuse, and a
/// parent that cannot be one is refused before anything is sent).
pub async fn prepare(
    aws: &Aws,
    request: &Request,
    file: (&Path, Format, u64),
    snapshot_sizes: &HashMap<String, i32>,
    provenance: &Provenance,
    parent_image: ParentImage<'_>,
) -> Result<change::Plan<Plan, change::Step>> {
    let mut plan = plan(request, file, snapshot_sizes, provenance)?;
    if let Some(step) = &plan.register {
        plan.existing = register::holder(aws, &step.name).await?;
    }
    // What identifies the upload on its snapshot; a file that cannot say when it changed is
    // uploaded every time.
    if let Some(of) = upload_of(file.0) {
        plan.target.tags.insert(tags::UPLOAD_OF.into(), of);
        plan.earlier = earlier_upload(aws, &plan.target.tags).await?;
    }
    let mut by_default = None;
    if let Some(parent) = &request.parent {
        let parent = parent_snapshot(aws, parent, &mut plan.target.tags).await?;
        let snapshot = inventory::snapshots_by_id(aws, &[parent.to_string()]).await?.pop();
        // Only an unencrypted parent cares whether the account encrypts by default.
        if snapshot.as_ref().is_some_and(|s| !s.encrypted) {
            by_default = transfer::upload::encrypted_by_default(aws).await;
        }
        let account = aws.account_id().await?;
        check_parent(
            &parent,
            snapshot.as_ref(),
            &account,
            &plan.target,
            request.kms_key.is_some(),
            by_default,
        )?;
        let (inherits, from) = parent_blocks(&parent, request.manifest_dir.as_deref(), parent_image)?;
        plan.target.tags.insert(tags::PARENT_SNAPSHOT.into(), parent.to_string());
        // A snapshot started from an encrypted parent is encrypted with the parent's key.
        plan.target.encrypted |= snapshot.is_some_and(|s| s.encrypted);
        plan.read_parent = inherits.is_none();
        plan.target = plan.target.on(parent.to_string(), inherits.unwrap_or_default());
        plan.parent_blocks_from = Some(from);
    }
    if !plan.target.encrypted {
        let by_default = match by_default {
            Some(known) => Some(known),
            None => transfer::upload::encrypted_by_default(aws).await,
        };
        // Unknown counts as yes: sending the zero blocks costs time, leaving them out could
        // corrupt the disk.
        plan.target.encrypted = by_default.unwrap_or(true);
    }
    Ok(actions(plan))
}

/// The parent snapshot: the one named, or the root of the AMI named, which then goes in the new
/// AMI's `gio-ami:parent-ami` tag.
async fn parent_snapshot(aws: &Aws, parent: &Parent, tags: &mut Tags) -> Result<SnapshotId> {
    let ami = match parent {
        Parent::Snapshot(snapshot) => return Ok(snapshot.clone()),
        Parent::Ami(ami) => ami,
    };
    let image = inventory::own_images_by_id(aws, std::slice::from_ref(ami)).await?.remove(0);
    let root =
        image.root_mapping().and_then(|m| m.snapshot_id.clone()).ok_or_else(|| Error::ParentUnusable {
            parent: ami.to_string(),
            why: "its root device maps no snapshot: pass --parent with the snapshot to start from".into(),
        })?;
    tags.insert(tags::PARENT_AMI.into(), ami.to_string());
    root.parse()
}

/// The file as its upload's snapshot names it: file name, size and modification time (to the
/// nanosecond where the file system keeps it), which change whenever the image is rebuilt.
fn upload_of(path: &Path) -> Option<String> {
    let metadata = std::fs::metadata(path).ok()?;
    let modified = metadata.modified().ok()?.duration_since(std::time::UNIX_EPOCH).ok()?;
    let file = path.file_name()?.to_string_lossy();
    Some(format!(
        "{file} {} bytes modified {}.{:09}",
        metadata.len(),
        modified.as_secs(),
        modified.subsec_nanos()
    ))
}

/// A completed snapshot an earlier run of this upload made: same release, same file.
async fn earlier_upload(aws: &Aws, tags: &Tags) -> Result<Option<Snapshot>> {
    let tagged = |key: &str| Filter::builder().name(format!("tag:{key}")).values(tags[key].clone()).build();
    let found =
        inventory::own_snapshots_matching(aws, vec![tagged(tags::RELEASE), tagged(tags::UPLOAD_OF)]).await?;
    Ok(found.into_iter().find(|s| s.state == SnapshotState::Completed))
}

/// What the parent holds, block by block, and where that was read; none when only reading it
/// back from EBS can tell (done by `apply`, so that a dry run reads nothing).
fn parent_blocks(
    parent: &SnapshotId,
    dir: Option<&Path>,
    image: ParentImage<'_>,
) -> Result<(Option<Digests>, String)> {
    if let Some(image) = image {
        return Ok((Some(manifest::of_image(image)?), format!("the image {}", image.path.display())));
    }
    let loaded = match dir {
        Some(dir) => Manifest::load(dir, parent.as_str())?.map(|m| (m, Manifest::path(dir, parent.as_str()))),
        None => None,
    };
    match loaded {
        Some((manifest, path)) => Ok((Some(manifest.digests()?), format!("its manifest {}", path.display()))),
        None => Ok((
            None,
            format!(
                "reading it back through GetSnapshotBlock: a full read of the parent (one request per \
                 block it holds), since no manifest of it is in {} and no --parent-image was given",
                dir.map_or("this machine's cache (it has none)".into(), |d| d.display().to_string())
            ),
        )),
    }
}

/// A parent must be a completed snapshot no larger than the new one (a volume only grows), and
/// a snapshot started from one takes its encryption (StartSnapshot refuses ParentSnapshotId
/// with Encrypted), so under EBS encryption by default (`by_default`, when known) it must be
/// encrypted: "you cannot start a new snapshot using an unencrypted parent snapshot" (the
/// encryption outcomes table of the EBS direct APIs,
/// https://docs.aws.amazon.com/ebs/latest/userguide/ebsapis-using-encryption.html). Pure.
fn check_parent(
    parent: &SnapshotId,
    found: Option<&Snapshot>,
    account: &str,
    target: &Target,
    kms_key: bool,
    by_default: Option<bool>,
) -> Result<()> {
    let refuse = |why: String| Err(Error::ParentUnusable { parent: parent.to_string(), why });
    let Some(snapshot) = found else {
        return refuse("no such snapshot in this region (or it is not visible to this account)".into());
    };
    if snapshot.owner != account {
        // "Public snapshots are not supported" (EBS direct APIs FAQ), and no other account's.
        return refuse(format!(
            "it belongs to account {}, and the EBS direct APIs read only this account's own snapshots. \
             Copy it here first (`aws ec2 copy-snapshot --source-snapshot-id {parent} --source-region \
             REGION`, or `gio-ami copy` of its AMI) and pass the copy as --parent",
            snapshot.owner
        ));
    }
    if kms_key {
        return refuse(
            "a snapshot started from a parent takes the parent's encryption: drop --kms-key".into(),
        );
    }
    if snapshot.state != SnapshotState::Completed {
        return refuse(format!("it is {}, not completed", snapshot.state));
    }
    if !snapshot.encrypted && by_default == Some(true) {
        return refuse(format!(
            "it is unencrypted, and this account encrypts new EBS snapshots by default, so EBS refuses to \
             start a snapshot from it. Upload without --parent (the whole image is sent, encrypted), or \
             make an encrypted copy (`aws ec2 copy-snapshot --source-snapshot-id {parent} --source-region \
             REGION --encrypted`) and pass that as --parent (with --parent-image, or it is read back)"
        ));
    }
    if snapshot.size_gib as u64 > target.volume_gib {
        return refuse(format!(
            "it is {} GiB and this image makes a {} GiB snapshot: a snapshot can only grow from its parent",
            snapshot.size_gib, target.volume_gib
        ));
    }
    Ok(())
}

/// The plan as actions: the snapshot to upload and the AMI to register, or the AMI that
/// already holds the name, reused with its snapshot.
pub fn actions(plan: Plan) -> change::Plan<Plan, change::Step> {
    let register = |parent: &str| -> Vec<change::Step> {
        let on = |step: &Step| -> change::Step {
            Procedure::RegisterImage {
                id: change::Target::Planned(step.name.clone()),
                name: step.name.clone(),
                parent: parent.to_string(),
                why: step.description.clone(),
            }
            .into()
        };
        plan.register.iter().map(on).collect()
    };
    let actions = match (&plan.existing, &plan.earlier) {
        (Some(existing), _) => vec![Action::Reuse {
            id: existing.id.to_string(),
            kind: Kind::Image,
            why: format!("name `{}` taken by {}: nothing is uploaded", plan.name, existing.id),
        }
        .into()],
        (None, Some(earlier)) => std::iter::once(
            Action::Reuse {
                id: earlier.id.to_string(),
                kind: Kind::Snapshot,
                why: "completed upload of this same file by an earlier run: nothing is uploaded".into(),
            }
            .into(),
        )
        .chain(register(earlier.id.as_str()))
        .collect(),
        (None, None) => std::iter::once(
            Procedure::UploadSnapshot {
                id: change::Target::Planned(plan.name.clone()),
                name: plan.name.clone(),
                size_gib: plan.target.volume_gib as i32,
                why: format!("{} blocks of 512 KiB from {}", plan.target.blocks, plan.target.image),
            }
            .into(),
        )
        .chain(register("the uploaded snapshot"))
        .collect(),
    };
    change::Plan { actions, warnings: Vec::new(), facts: plan }
}

/// The AMI the upload becomes, as an `Image` value so that the disks code can extend it and
/// register it like any other.
fn ami_shape(request: &Request, name: &str, description: &str, volume_gib: u64) -> Image {
    Image {
        id: AmiId::from_aws("the uploaded image"),
        name: name.to_string(),
        state: Reported::default(),
        created: None,
        owner: String::new(),
        description: Some(description.to_string()),
        root_device: Some(ROOT_DEVICE.into()),
        architecture: Some(request.arch.into()),
        boot: Boot {
            virtualization_type: Some("hvm".into()),
            ena_support: Some(true),
            boot_mode: Some(request.boot_mode.into()),
            ..Boot::default()
        },
        mappings: vec![Mapping {
            device: ROOT_DEVICE.into(),
            size_gib: Some(volume_gib as i32),
            volume_type: Some(VolumeType::Gp3.into()),
            delete_on_termination: Some(true),
            ..Mapping::default()
        }],
        tags: Tags::new(),
        last_launched: None,
        protection: Default::default(),
        deprecation_time: None,
        watermarks: Vec::new(),
        scan_results: None,
    }
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Uploaded {
    pub name: String,
    pub snapshot_id: String,
    pub image_id: Option<String>,
    pub volume_gib: u64,
    pub bytes: u64,
    /// PutSnapshotBlock calls that succeeded: the blocks holding data (or, with a parent, the
    /// blocks that differ from it).
    pub blocks_sent: u64,
    /// Blocks the parent already held as they are: not sent.
    pub blocks_inherited: u64,
    /// Blocks of zeros (where no parent held data), never sent.
    pub blocks_skipped: u64,
    pub parent: Option<String>,
    /// The manifest this upload wrote, for the next one to start from.
    pub manifest: Option<String>,
    pub seconds: f64,
    /// Image bytes per second of the whole command (holes included: what the user waits for).
    pub mib_per_second: f64,
    /// True when nothing was uploaded: an AMI of that name, or a finished upload of this same
    /// file, existed already.
    pub existed: bool,
}

/// Uploads the image, then registers the AMI if the plan says so: one outcome for the snapshot
/// and one for the AMI, with their ids. The run's interruption (Ctrl-C) stops the upload and
/// deletes the unfinished snapshot.
pub async fn apply(
    aws: &Aws,
    plan: &change::Plan<Plan, change::Step>,
    image: &ImageFile,
    progress: &dyn Progress,
) -> Result<Applied<Uploaded, change::Step>> {
    if let Some(existing) = &plan.facts.existing {
        let outcomes = plan
            .actions
            .iter()
            .map(|action| Outcome { action: action.clone(), status: Status::Reused })
            .collect();
        return Ok(Applied { outcomes, made: already_registered(&plan.facts, existing) });
    }
    let started = Instant::now();
    let read_back;
    // Only an upload compares with the parent: a finished earlier upload is reused as it is.
    let facts = match (&plan.facts.target.parent, plan.facts.read_parent && plan.facts.earlier.is_none()) {
        (Some(parent), true) => {
            let inherits =
                transfer::download::digests(aws, parent, plan.facts.target.workers, progress).await?;
            read_back =
                Plan { target: plan.facts.target.clone().on(parent.clone(), inherits), ..plan.facts.clone() };
            &read_back
        }
        _ => &plan.facts,
    };
    let target = &facts.target;
    // `record`: what the snapshot holds, for a manifest still to write (none when an earlier
    // run wrote it).
    let (snapshot, sent, registered, record) = match &facts.earlier {
        // An earlier run uploaded this file and died before it registered or reported: that
        // snapshot is finished work, kept whatever happens next.
        Some(earlier) => {
            let registered = register_on(aws, facts, earlier.id.as_str(), progress).await?;
            let recorded = facts
                .manifest_dir
                .as_deref()
                .is_none_or(|dir| Manifest::path(dir, earlier.id.as_str()).exists());
            let record = if recorded { None } else { Some(manifest::of_image(image)?) };
            (earlier.id.to_string(), Sent::default(), registered, record)
        }
        None => {
            let (snapshot, (mut sent, registered)) =
                transfer::upload::guarded(aws, target, |snapshot| async move {
                    progress.phase(&format!(
                        "uploading {} to {snapshot} ({} GiB, {} blocks, {} workers)",
                        target.image, target.volume_gib, target.blocks, target.workers
                    ));
                    finish(aws, facts, image, &snapshot, progress).await
                })
                .await?;
            let record = Some(std::mem::take(&mut sent.holds));
            (snapshot, sent, registered, record)
        }
    };
    if let Some((id, _)) = &registered {
        register::wait_available(aws, std::slice::from_ref(id)).await?;
    }
    let seconds = started.elapsed().as_secs_f64();
    // The upload is done whatever becomes of its manifest: without one, the next upload against
    // this snapshot reads it back in full (or takes --parent-image), and the warning says so.
    let manifest = facts.manifest_dir.as_deref().and_then(|dir| match &record {
        None => Some(Manifest::path(dir, &snapshot)),
        Some(holds) => {
            let written = Manifest::new(&snapshot, target.volume_gib, holds).save(dir);
            written
                .map_err(|e| {
                    tracing::warn!(
                        "{e}: an upload against {snapshot} will read it back in full, or take --parent-image"
                    )
                })
                .ok()
        }
    });
    let outcomes = outcomes(&plan.actions, &snapshot, registered.as_ref());
    let made = Uploaded {
        name: facts.name.clone(),
        snapshot_id: snapshot,
        image_id: registered.map(|(id, _)| id),
        volume_gib: target.volume_gib,
        bytes: target.bytes,
        blocks_sent: sent.sent,
        blocks_inherited: sent.inherited,
        blocks_skipped: sent.zero,
        parent: target.parent.clone(),
        manifest: manifest.map(|path| path.display().to_string()),
        seconds,
        mib_per_second: target.bytes as f64 / (1024.0 * 1024.0) / seconds.max(f64::EPSILON),
        existed: facts.earlier.is_some(),
    };
    Ok(Applied { outcomes, made })
}

/// The plan's steps as they ended: the upload made `snapshot`, the registration (if any) made or
/// found `registered`; anything else was already there.
fn outcomes(
    steps: &[change::Step],
    snapshot: &str,
    registered: Option<&(String, bool)>,
) -> Vec<Outcome<change::Step>> {
    steps
        .iter()
        .map(|action| match action {
            change::Step::Procedure(Procedure::UploadSnapshot { name, size_gib, why, .. }) => Outcome {
                action: Procedure::UploadSnapshot {
                    id: change::Target::Made(SnapshotId::from_aws(snapshot)),
                    name: name.clone(),
                    size_gib: *size_gib,
                    why: why.clone(),
                }
                .into(),
                status: Status::Done,
            },
            change::Step::Procedure(Procedure::RegisterImage { name, why, .. }) => {
                let (id, existed) = registered.cloned().unwrap_or_default();
                let action = Procedure::RegisterImage {
                    id: change::Target::Made(AmiId::from_aws(id)),
                    name: name.clone(),
                    parent: snapshot.to_string(),
                    why: why.clone(),
                }
                .into();
                Outcome { action, status: if existed { Status::Reused } else { Status::Done } }
            }
            other => Outcome { action: other.clone(), status: Status::Reused },
        })
        .collect()
}

fn already_registered(plan: &Plan, existing: &Image) -> Uploaded {
    let root = existing.root_mapping();
    Uploaded {
        name: plan.name.clone(),
        snapshot_id: root.and_then(|m| m.snapshot_id.clone()).unwrap_or_default(),
        image_id: Some(existing.id.to_string()),
        volume_gib: root.and_then(|m| m.size_gib).unwrap_or_default() as u64,
        bytes: 0,
        blocks_sent: 0,
        blocks_inherited: 0,
        blocks_skipped: 0,
        parent: None,
        manifest: None,
        seconds: 0.0,
        mib_per_second: 0.0,
        existed: true,
    }
}

/// Sends the blocks, completes the snapshot, and registers the AMI: everything after which an
/// error must delete the snapshot. Returns what became of the blocks and the new AMI's id (true
/// when the AMI existed: a registration retried after its answer was lost).
async fn finish(
    aws: &Aws,
    plan: &Plan,
    image: &ImageFile,
    snapshot: &str,
    progress: &dyn Progress,
) -> Result<(Sent, Option<(String, bool)>)> {
    let sent = transfer::upload::send(aws, &plan.target, image, snapshot, progress).await?;
    Ok((sent, register_on(aws, plan, snapshot, progress).await?))
}

/// Registers the plan's AMI (if it has one) on the uploaded `snapshot`, once it is completed.
async fn register_on(
    aws: &Aws,
    plan: &Plan,
    snapshot: &str,
    progress: &dyn Progress,
) -> Result<Option<(String, bool)>> {
    let Some(step) = &plan.register else {
        return Ok(None);
    };
    progress.phase(&format!("waiting for {snapshot} to complete, then registering `{}`", step.name));
    transfer::upload::wait_completed(aws, snapshot).await?;
    let mut step = step.clone();
    step.mappings[0].snapshot_id = Some(snapshot.to_string());
    // The name taken by an AMI on this very snapshot is this registration's, retried.
    let on_this_snapshot =
        |image: &Image| image.root_mapping().and_then(|m| m.snapshot_id.as_deref()) == Some(snapshot);
    Ok(Some(register::register_once(aws, &plan.shape, &step, &plan.target.tags, on_this_snapshot).await?))
}

/// The counts scripts read at the top (`snapshot_id`, `blocks_sent`), and the throughput.
impl Made for Uploaded {
    fn own(&self, own: Own) -> serde_json::Result<Own> {
        let mut own = own.with_top(self)?;
        own.after.push_str(&figures(self));
        Ok(own)
    }
}

/// What `upload` sends, for people: the image and its snapshot, then the AMI's mappings.
fn intro(upload: &Plan, draw: &dyn Draw) -> String {
    let target = &upload.target;
    let mut text = format!(
        "upload {} ({}, {} bytes) as a {} GiB snapshot `{}`: {} blocks of 512 KiB, {} workers{}\n",
        target.image,
        upload.format.qemu_name(),
        target.bytes,
        target.volume_gib,
        upload.name,
        target.blocks,
        target.workers,
        match (&target.kms_key, target.encrypted) {
            (Some(key), _) => format!(", encrypted with {key}: every block is sent"),
            (None, true) =>
                ", encrypted (its parent's key, or the account's default): every block is sent".into(),
            (None, false) => String::new(),
        },
    );
    if let (Some(parent), Some(from)) = (&target.parent, &upload.parent_blocks_from) {
        let known =
            if upload.read_parent { String::new() } else { format!("{} blocks, ", target.inherits.len()) };
        text.push_str(&format!(
            "starting from {parent} ({known}known from {from}): only the blocks that differ are sent\n"
        ));
    }
    if let Some(step) = &upload.register {
        text.push_str(&format!(
            "then register `{}` ({}):\n{}\n",
            step.name,
            step.description,
            draw.table(&mappings_table(&step.mappings))
        ));
    }
    text
}

/// How an upload went, for people.
fn figures(uploaded: &Uploaded) -> String {
    if uploaded.existed {
        return format!(
            "{} already exists as {} (root snapshot {}): nothing uploaded.\n",
            uploaded.name,
            uploaded.image_id.as_deref().unwrap_or("-"),
            uploaded.snapshot_id
        );
    }
    let inherited = match &uploaded.parent {
        Some(parent) => format!(", {} inherited from {parent}", uploaded.blocks_inherited),
        None => String::new(),
    };
    format!(
        "{} GiB snapshot {}: {} blocks sent{inherited}, {} zero blocks skipped, {:.1} MiB/s ({:.1} s)\n",
        uploaded.volume_gib,
        uploaded.snapshot_id,
        uploaded.blocks_sent,
        uploaded.blocks_skipped,
        uploaded.mib_per_second,
        uploaded.seconds
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::change::Planned;
    use crate::transfer::blocks::GIB;

    fn request() -> Request {
        Request {
            name: None,
            register: true,
            arch: Arch::X86_64,
            boot_mode: BootMode::Uefi,
            disks: vec![],
            workers: 64,
            tags: Tags::from([("team".to_string(), "platform".to_string())]),
            kms_key: None,
            parent: None,
            manifest_dir: None,
        }
    }

    fn who() -> Provenance {
        Provenance { author: "Ada".into(), created_at: "2026-11-25T00:00:00Z".into() }
    }

    fn plan_for(request: &Request, bytes: u64) -> Result<Plan> {
        plan(request, (Path::new("/tmp/gio-node.raw"), Format::Raw, bytes), &HashMap::new(), &who())
    }

    #[test]
    fn an_image_becomes_a_whole_gib_snapshot_and_an_hvm_ena_ami_rooted_on_it() {
        let plan = plan_for(&request(), GIB + 1).unwrap();
        assert_eq!((plan.name.as_str(), plan.target.volume_gib, plan.target.blocks), ("gio-node", 2, 2049));
        let step = plan.register.as_ref().unwrap();
        assert_eq!(step.name, "gio-node");
        assert_eq!(step.mappings.len(), 1);
        let root = &step.mappings[0];
        assert_eq!(
            (root.device.as_str(), root.size_gib, root.snapshot_id.as_deref()),
            (ROOT_DEVICE, Some(2), None)
        );
        assert_eq!(plan.shape.boot.ena_support, Some(true));
        assert_eq!(plan.shape.boot.boot_mode.as_deref(), Some("uefi"));
        assert_eq!(plan.shape.architecture.as_deref(), Some("x86_64"));
        assert_eq!(plan.target.tags[tags::RELEASE], "gio-node");
        assert_eq!(plan.target.tags[tags::AUTHOR], "Ada");
        assert_eq!(plan.target.tags["team"], "platform", "the user's tags ride along");
    }

    #[test]
    fn extra_disks_follow_the_disks_add_rules() {
        let mut with_disks = request();
        with_disks.name = Some("gio-node-custom".into());
        with_disks.disks = vec!["/dev/xvdb=50".parse().unwrap()];
        let step = plan_for(&with_disks, GIB).unwrap().register.unwrap();
        assert_eq!(step.name, "gio-node-custom", "the name is exact, not suffixed");
        let devices: Vec<&str> = step.mappings.iter().map(|m| m.device.as_str()).collect();
        assert_eq!(devices, [ROOT_DEVICE, "/dev/xvdb"]);
        with_disks.disks = vec!["/dev/xvdb=50".parse().unwrap(), "/dev/xvdb=60".parse().unwrap()];
        let err = plan_for(&with_disks, GIB).unwrap_err().to_string();
        assert!(err.contains("/dev/xvdb is already used by the uploaded image (or named twice)"), "{err}");
    }

    #[test]
    fn refusals_come_before_any_call() {
        let mut arm_bios = request();
        arm_bios.arch = Arch::Arm64;
        arm_bios.boot_mode = BootMode::LegacyBios;
        assert!(plan_for(&arm_bios, GIB).unwrap_err().to_string().contains("only with UEFI"));
        let mut disks_alone = request();
        disks_alone.register = false;
        disks_alone.disks = vec!["/dev/xvdb=50".parse().unwrap()];
        assert!(plan_for(&disks_alone, GIB).unwrap_err().to_string().contains("--register"));
        let mut bad_name = request();
        bad_name.name = Some("a+b".into());
        assert!(plan_for(&bad_name, GIB).unwrap_err().to_string().contains("not a valid AMI name"));
        let mut snapshot_only = bad_name.clone();
        snapshot_only.register = false;
        assert!(plan_for(&snapshot_only, GIB).unwrap().register.is_none(), "AMI names do not bind snapshots");
    }

    #[test]
    fn an_upload_plans_the_snapshot_and_the_ami_or_reuses_the_holder_of_the_name() {
        let fresh = actions(plan_for(&request(), GIB).unwrap());
        let verbs: Vec<(&str, &str)> = fresh.actions.iter().map(|a| (a.verb(), a.id())).collect();
        assert_eq!(verbs, [("upload", "gio-node"), ("register", "gio-node")]);
        let mut taken = plan_for(&request(), GIB).unwrap();
        taken.existing = Some(crate::aws::inventory::tests::image("ami-00000007", "2026-01-01", &[]));
        let reused = actions(taken);
        assert_eq!(reused.actions.len(), 1);
        assert_eq!(reused.actions[0].why(), "name `gio-node` taken by ami-00000007: nothing is uploaded");
        assert!(!reused.has_work());
        let mut finished = plan_for(&request(), GIB).unwrap();
        finished.earlier = Some(crate::aws::inventory::tests::snapshot("snap-0000000e", 1));
        let resumed = actions(finished);
        let verbs: Vec<(&str, &str, String)> =
            resumed.actions.iter().map(|a| (a.verb(), a.id(), a.detail())).collect();
        assert_eq!(
            verbs,
            [
                ("reuse", "snap-0000000e", String::new()),
                ("register", "gio-node", "from snap-0000000e".into())
            ]
        );
    }

    #[test]
    fn only_a_key_arn_is_a_kms_key() {
        for arn in [
            "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab",
            "arn:aws-us-gov:kms:us-gov-west-1:123456789012:key/k",
        ] {
            assert!(is_key_arn(arn), "{arn}");
        }
        for not in [
            "alias/ebs",
            "1234abcd-12ab",
            "arn:aws:kms:eu-west-1:123456789012:alias/ebs",
            "arn:aws:kms:eu-west-1:1234:key/k",
            "arn:aws:kms:eu-west-1:123456789012:key/",
        ] {
            assert!(!is_key_arn(not), "{not}");
        }
    }

    #[test]
    fn a_parent_is_a_completed_snapshot_no_larger_than_the_upload_and_brings_its_own_key() {
        // The account `inventory::tests::snapshot` is owned by.
        const OWNER: &str = "123456789012";
        let parent: SnapshotId = "snap-0123456789abcdef0".parse().unwrap();
        let target = plan_for(&request(), 2 * GIB).unwrap().target;
        let snapshot = |state: &str, size_gib| Snapshot {
            state: Reported::from(state),
            ..inventory::tests::snapshot("snap-0123456789abcdef0", size_gib)
        };
        assert!(check_parent(&parent, Some(&snapshot("completed", 2)), OWNER, &target, false, None).is_ok());
        assert!(
            check_parent(&parent, Some(&snapshot("completed", 1)), OWNER, &target, false, Some(false))
                .is_ok(),
            "a snapshot can grow"
        );
        let refused = |found: Option<&Snapshot>, kms| {
            check_parent(&parent, found, OWNER, &target, kms, None).unwrap_err().to_string()
        };
        assert!(refused(Some(&snapshot("completed", 3)), false)
            .contains("it is 3 GiB and this image makes a 2 GiB snapshot"));
        assert!(refused(Some(&snapshot("pending", 2)), false).contains("it is pending, not completed"));
        assert!(refused(Some(&snapshot("completed", 2)), true).contains("drop --kms-key"));
        assert!(refused(None, false).contains("no such snapshot"));
        let unencrypted = snapshot("completed", 2);
        let err = check_parent(&parent, Some(&unencrypted), OWNER, &target, false, Some(true))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("encrypts new EBS snapshots by default") && err.contains("--encrypted"),
            "{err}"
        );
        let encrypted = Snapshot { encrypted: true, ..unencrypted };
        assert!(
            check_parent(&parent, Some(&encrypted), OWNER, &target, false, Some(true)).is_ok(),
            "an encrypted parent hands its key on"
        );
        let foreign = Snapshot { owner: "602401143452".into(), ..snapshot("completed", 2) };
        let err = refused(Some(&foreign), false);
        assert!(err.contains("belongs to account 602401143452") && err.contains("copy-snapshot"), "{err}");
    }

    #[test]
    fn tags_are_key_value_and_not_ours() {
        assert_eq!(parse_tag("team=platform").unwrap(), ("team".into(), "platform".into()));
        assert_eq!(parse_tag("empty=").unwrap(), ("empty".into(), String::new()));
        for bad in ["team", "=x", "gio-ami:release=x", "aws:x=y"] {
            assert!(parse_tag(bad).is_err(), "{bad}");
        }
    }
}
