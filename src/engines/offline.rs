//! The offline engine: no instance at all. The base's root snapshot is read once into the local
//! cache (`transfer::cache`), a copy of it is changed on this machine with libguestfs (files,
//! scripts, SELinux labels, the blocks it frees discarded), only the blocks that differ are
//! uploaded as a child of the base's snapshot (StartSnapshot ParentSnapshotId), and the AMI is
//! registered with everything the base declares. The EBS direct APIs read only the account's own snapshots ("Public
//! snapshots are not supported", EBS direct APIs FAQ), so a base of another account (Amazon's
//! EKS-optimized AMIs) is copied into the account once, tagged, and that copy is reused.

use super::guestfs::{self, Customization, Customized, Placed};
use super::{copy, image_tags, new_build_id, register, Building, Built, Phases};
use crate::aws::base::Base;
use crate::aws::inventory::{self, Image, ImageState, Mapping};
use crate::aws::provenance::Provenance;
use crate::aws::Aws;
use crate::core::choice::Choice;
use crate::core::iam::Permission;
use crate::core::progress::Progress;
use crate::core::tags::{self, Tags};
use crate::error::{Error, Result};
use crate::spec::Loaded;
use crate::transfer::blocks::DEFAULT_WORKERS;
use crate::transfer::cache::{Cache, Entry, Source};
use crate::transfer::image_file::ImageFile;
use crate::transfer::{download, upload};
use schemars::JsonSchema;
use serde::Serialize;

/// An offline build: the base copied in, its root read, the new root written, the AMI registered.
pub const IAM: &[Permission] = &[
    copy::IAM,
    download::IAM[0],
    download::IAM[1],
    upload::IAM[0],
    upload::IAM[1],
    upload::IAM[2],
    upload::ENCRYPTION_BY_DEFAULT.optional("skipping of zero blocks"),
    register::IAM,
];

/// The AMI name a base copy gets (AMI names are unique per account and region): the base's id
/// makes it the one copy of that base.
const COPY_NAME_PREFIX: &str = "gio-ami-base-copy";

/// What an offline build will do, looked up before anything is made: what `--dry-run` shows.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Plan {
    /// The base's copy in this account that is reused (pending ones too: the build waits for
    /// it), or the base itself when it is the account's own; none when it is still to be copied.
    /// Printed as its id.
    #[serde(rename = "base_copy", serialize_with = "id_of")]
    #[schemars(with = "Option<String>")]
    pub copy: Option<Image>,
    pub copy_needed: bool,
    /// The root snapshot read (once known: the copy's), and whether it is cached already.
    pub root_snapshot: Option<String>,
    pub cached: bool,
    /// The root volume's size in GiB; a first build downloads only its blocks with data.
    pub root_gib: u64,
    pub files: Vec<String>,
    pub scripts: Vec<String>,
    pub network: bool,
    pub cache_dir: String,
    #[serde(skip)]
    cache: Cache,
}

fn id_of<S: serde::Serializer>(copy: &Option<Image>, to: S) -> std::result::Result<S::Ok, S::Error> {
    copy.as_ref().map(|c| c.id.as_str()).serialize(to)
}

/// Looks up the base's copy and the cache: the offline part of the build's plan.
pub async fn prepare(aws: &Aws, loaded: &Loaded, base: &Base, cache: Cache) -> Result<Plan> {
    refuse_bottlerocket(base)?;
    refuse_foreign_scripts(base, &loaded.spec.build.provision, std::env::consts::ARCH)?;
    let own = base.image.owner == aws.account_id().await?;
    // A copy another build is still making counts as there: the build waits for it, a plan does not.
    let copy = if own { Some(base.image.clone()) } else { existing_copy(aws, &base.image).await? };
    let root_snapshot = copy.as_ref().and_then(root_snapshot);
    let cached = match &root_snapshot {
        Some(snapshot) => cache.get(snapshot)?.is_some(),
        None => false,
    };
    let build = &loaded.spec.build;
    Ok(Plan {
        copy_needed: copy.is_none(),
        copy,
        root_snapshot,
        cached,
        root_gib: base.image.root_mapping().and_then(|m| m.size_gib).unwrap_or_default() as u64,
        files: build.files.iter().map(|f| format!("{} -> {}", f.source.display(), f.destination)).collect(),
        scripts: build.provision.clone(),
        network: build.network,
        cache_dir: cache.dir.display().to_string(),
        cache,
    })
}

/// Bottlerocket's root is dm-verity protected: changing it breaks its boot.
fn refuse_bottlerocket(base: &Base) -> Result<()> {
    if base.image.name.contains("bottlerocket") {
        return Err(Error::Offline(guestfs::GuestfsError::Unsupported {
            base: base.image.id.to_string(),
            why: crate::spec::BOTTLEROCKET_OFFLINE,
        }));
    }
    Ok(())
}

/// The scripts run chrooted in the image on this machine's processor: an image of another
/// architecture (an arm64 variant built on x86_64) cannot run them. Files alone need no CPU of
/// the image's. `host` is Rust's name of this machine's architecture.
fn refuse_foreign_scripts(base: &Base, scripts: &[String], host: &str) -> Result<()> {
    let image = match base.image.architecture.as_ref().map(|a| a.as_str()) {
        Some("x86_64") => "x86_64",
        Some("arm64") => "aarch64",
        _ => return Ok(()),
    };
    if scripts.is_empty() || image == host {
        return Ok(());
    }
    Err(Error::Offline(guestfs::GuestfsError::Unsupported {
        base: base.image.id.to_string(),
        why: "its provisioning scripts would run chrooted on this machine, whose processor is of \
              another architecture than the image's: build it offline on a machine of its \
              architecture, leave it only [[build.files]], or give its [[variants]] table \
              engine = \"native\"",
    }))
}

fn root_snapshot(image: &Image) -> Option<String> {
    image.root_mapping()?.snapshot_id.clone()
}

/// The account's copy of `base` made by an earlier build, available or still pending (a build
/// killed while it copied left one on its way).
async fn existing_copy(aws: &Aws, base: &Image) -> Result<Option<Image>> {
    let copies = inventory::own_images_tagged(aws, tags::BASE_COPY, base.id.as_str()).await?;
    Ok(copies.into_iter().find(|c| c.state == ImageState::Available || c.state == ImageState::Pending))
}

/// Copies `base` into the account, tagged as its copy, and waits until it is available.
async fn copy_base(aws: &Aws, base: &Image, region: &str) -> Result<Image> {
    let tags = Tags::from([
        (tags::BASE_COPY.to_string(), base.id.to_string()),
        (tags::BASE_NAME.to_string(), base.name.clone()),
        (tags::DESCRIPTION.to_string(), format!("the offline engine's copy of {} ({})", base.id, base.name)),
    ]);
    let name = format!("{COPY_NAME_PREFIX}-{}", base.id);
    let description =
        format!("Copy of {} for gio-ami's offline builds", base.name).chars().take(255).collect();
    let copy = copy::Copy { name: &name, description: Some(description), tags: &tags, kms_key: None };
    let id = match copy::start(aws, base, region, &copy).await {
        Ok(id) => id,
        // A copy of that name exists: an earlier build's, whose tag is not listed yet.
        Err(e) if e.code() == Some("InvalidAMIName.Duplicate") => {
            inventory::own_images_named(aws, &name).await?.first().map(|i| i.id.to_string()).ok_or(e)?
        }
        Err(e) => return Err(e),
    };
    copy::wait_available(aws, &id).await
}

/// Builds the spec's AMI as `plan` (its offline part) says.
pub async fn build(
    aws: &Aws,
    loaded: &Loaded,
    building: &Building,
    plan: &Plan,
    progress: &dyn Progress,
) -> Result<Built> {
    let cache = &plan.cache;
    let build_id = new_build_id();
    let mut phases = Phases::new(aws, progress);
    phases.start("copying the base into the account");
    let copy = match &plan.copy {
        Some(copy) if copy.state == ImageState::Pending => {
            copy::wait_available(aws, copy.id.as_str()).await?
        }
        Some(copy) => copy.clone(),
        None => copy_base(aws, &building.base.image, aws.region()).await?,
    };
    let root = root_snapshot(&copy).ok_or_else(|| Error::Api {
        operation: "DescribeImages",
        code: "NoRootSnapshot".into(),
        message: format!("{} has no root EBS snapshot to build from", copy.id),
    })?;
    phases.start("reading the base's root into the cache");
    let work = cache.work_path(&format!("{build_id}.raw"))?;
    let entry = checkout(aws, cache, &root, &work, progress).await?;
    let result = async {
        phases.start("customizing the image with libguestfs");
        let customized = customize(loaded, &work, progress).await?;
        phases.start("uploading the blocks that changed");
        let (snapshot, sent) =
            upload_root(aws, loaded, building, &build_id, (&root, &copy), &entry, &work, progress).await?;
        phases.start("registering the AMI");
        let ami = register_release(aws, loaded, building, &build_id, &copy, &snapshot).await?;
        Ok::<_, Error>((customized, snapshot, sent, ami))
    }
    .await;
    let _ = std::fs::remove_file(&work);
    let (customized, snapshot, sent, ami) = result?;
    tracing::info!(
        ?customized,
        blocks_sent = sent.sent,
        blocks_inherited = sent.inherited,
        "offline build done"
    );
    let root_device = copy.root_device.as_deref();
    let others = copy.mappings.iter().filter(|m| Some(m.device.as_str()) != root_device);
    let snapshots = std::iter::once(snapshot).chain(others.filter_map(|m| m.snapshot_id.clone())).collect();
    Ok(Built::new(&mut phases, building.base.clone(), build_id, ami, building.name.clone(), snapshots))
}

/// The root from the cache (read into it first if needed) copied to `work`; a cached image that
/// fails its manifest is read again once.
async fn checkout(
    aws: &Aws,
    cache: &Cache,
    root: &str,
    work: &std::path::Path,
    progress: &dyn Progress,
) -> Result<Entry> {
    for _ in 0..2 {
        let (entry, source) = cache.fetch(aws, root, &[], DEFAULT_WORKERS, progress).await?;
        tracing::info!(%root, ?source, "base root");
        match cache.checkout(&entry, work) {
            Ok(()) => return Ok(entry),
            Err(e @ Error::CacheCorrupt { .. }) if source == Source::Cached => {
                tracing::warn!("{e}: reading it again")
            }
            Err(e) => return Err(e),
        }
    }
    Err(Error::CacheCorrupt { path: cache.dir.display().to_string(), block: 0 })
}

async fn customize(loaded: &Loaded, work: &std::path::Path, progress: &dyn Progress) -> Result<Customized> {
    let spec = &loaded.spec;
    let files =
        spec.build.files.iter().map(|file| Placed { source: loaded.source(&file.source), file }).collect();
    let scripts =
        spec.build.provision.iter().map(|s| (loaded.source(std::path::Path::new(s)), s.clone())).collect();
    let customization =
        Customization { files, scripts, network: spec.build.network, timeout: spec.timeout() };
    let say = |step: &str| progress.phase(step);
    // libguestfs blocks on the appliance for seconds to minutes: off the runtime's threads.
    tokio::task::block_in_place(|| guestfs::customize(work, &customization, &say)).map_err(Error::Offline)
}

/// Uploads the blocks of `work` that differ from the base's root, as its child; abandons the
/// snapshot on any failure.
#[allow(clippy::too_many_arguments)]
async fn upload_root(
    aws: &Aws,
    loaded: &Loaded,
    building: &Building,
    build_id: &str,
    (root, copy): (&str, &Image),
    entry: &Entry,
    work: &std::path::Path,
    progress: &dyn Progress,
) -> Result<(String, upload::Sent)> {
    let image = ImageFile::open(work, |_| {})?;
    let mut tags = release_tags(loaded, building, build_id);
    tags.insert(tags::PARENT_SNAPSHOT.into(), root.to_string());
    // Until the AMI maps it, `gc` tells this build's snapshot from a dead build's by these.
    tags.extend(super::build_claim(build_id, &loaded.spec));
    let encrypted = copy.root_mapping().and_then(|m| m.encrypted).unwrap_or(false);
    let mut target = upload::Target::new(work.display().to_string(), image.size, DEFAULT_WORKERS, None, tags)
        .on(root.to_string(), entry.manifest.digests()?);
    // An unencrypted parent still gives an encrypted child where the account encrypts by default.
    target.encrypted = encrypted || upload::encrypted_by_default(aws).await.unwrap_or(true);
    let (target, image) = (&target, &image);
    upload::guarded(aws, target, |snapshot| async move {
        let sent = upload::send(aws, target, image, &snapshot, progress).await?;
        upload::wait_completed(aws, &snapshot).await?;
        Ok(sent)
    })
    .await
}

/// The release's tags: the build's own (spec, base, provenance) and the engine's.
fn release_tags(loaded: &Loaded, building: &Building, build_id: &str) -> Tags {
    let provenance: &Provenance = &building.provenance;
    let mut tags = image_tags(&loaded.spec, build_id, &building.base, provenance);
    tags.insert(tags::RELEASE.into(), building.release.clone());
    tags.insert(tags::ENGINE.into(), crate::core::kinds::Engine::Offline.name().into());
    tags.entry(tags::DESCRIPTION.into())
        .or_insert_with(|| format!("{}: built offline by gio-ami", building.name));
    tags
}

/// Registers the release: the copy's shape and mappings, its root now `snapshot`, plus the spec's
/// disks; tags the AMI and its new snapshot.
async fn register_release(
    aws: &Aws,
    loaded: &Loaded,
    building: &Building,
    build_id: &str,
    copy: &Image,
    snapshot: &str,
) -> Result<String> {
    let spec = &loaded.spec;
    let mut mappings: Vec<Mapping> = copy.mappings.clone();
    let root_device = copy.root_device.clone().unwrap_or_else(|| "/dev/xvda".into());
    for mapping in mappings.iter_mut().filter(|m| m.device == root_device) {
        mapping.snapshot_id = Some(snapshot.to_string());
        // The copy's encryption state is its snapshot's; the new snapshot has its own.
        mapping.encrypted = None;
        mapping.kms_key_id = None;
        if let Some(size) = spec.build.root_size_gib {
            mapping.size_gib = Some(size.max(mapping.size_gib.unwrap_or_default()));
        }
    }
    let disks =
        register::Request { disks: spec.disks.clone(), name: Some(building.name.clone()), chain: false };
    let mut source = copy.clone();
    source.mappings = mappings;
    source.description =
        spec.image.description.clone().or(Some(format!("{} built offline by gio-ami", building.name)));
    let step = if spec.disks.is_empty() {
        register::check_name(&building.name)?;
        register::Step {
            name: building.name.clone(),
            release: building.release.clone(),
            description: source.description.clone().unwrap_or_default(),
            adds: Vec::new(),
            mappings: source.mappings.clone(),
        }
    } else {
        let sizes = register::snapshot_sizes(aws, &spec.disks).await?;
        register::plan(&source, &disks, &sizes)?.steps.remove(0)
    };
    let tags = release_tags(loaded, building, build_id);
    let ours = |image: &Image| image.tags.get(tags::BUILD_ID).map(String::as_str) == Some(build_id);
    // The snapshot has carried the same tags since StartSnapshot.
    let (ami, _) = register::register_once(aws, &source, &step, &tags, ours).await?;
    register::wait_available(aws, std::slice::from_ref(&ami)).await?;
    Ok(ami)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base(arch: &str) -> Base {
        let mut image = crate::aws::inventory::tests::image("ami-0000000b", "2026-01-01", &[]);
        image.architecture = Some(arch.into());
        Base { parameter: None, image, release_version: None }
    }

    #[test]
    fn scripts_of_another_architecture_than_this_machine_are_refused() {
        let scripts = ["provision.sh".to_string()];
        let err = refuse_foreign_scripts(&base("arm64"), &scripts, "x86_64").unwrap_err().to_string();
        assert!(err.contains("another architecture than the image's"), "{err}");
        assert!(refuse_foreign_scripts(&base("arm64"), &[], "x86_64").is_ok(), "files only need no CPU");
        assert!(refuse_foreign_scripts(&base("arm64"), &scripts, "aarch64").is_ok());
        assert!(refuse_foreign_scripts(&base("x86_64"), &scripts, "x86_64").is_ok());
    }
}
