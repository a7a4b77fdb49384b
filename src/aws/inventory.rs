//! The read model: the account's images and snapshots as plain values, fetched with as few calls
//! as AWS allows (whole pages, id filters in bulk, never one call per resource).

use crate::aws::{timestamp, Aws};
use crate::core::choice::choice_enum;
use crate::core::choice::Choice;
use crate::core::clock::Timestamp;
use crate::core::error::Service;
use crate::core::iam::Permission;
use crate::core::ids::{AmiId, SnapshotId};
use crate::core::kinds::{Arch, BootMode, Member, Reported, Severity, Variant, VolumeType};
use crate::core::tags;
use crate::error::{Error, Result};
use aws_sdk_ec2::error::ProvideErrorMetadata;
use aws_sdk_ec2::types::{self as ec2, Filter};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};

/// Every look-up of AMIs (by id, name, owner or tag).
pub const DESCRIBE_IMAGES: Permission = Permission::new(Service::Ec2, "DescribeImages");
/// Every look-up of snapshots.
pub const DESCRIBE_SNAPSHOTS: Permission = Permission::new(Service::Ec2, "DescribeSnapshots");
/// Launch permissions (`launch_permissions`): who else an AMI is shared with.
pub const DESCRIBE_IMAGE_ATTRIBUTE: Permission = Permission::new(Service::Ec2, "DescribeImageAttribute");

/// Whom an AMI is shared with (its launch permissions): account ids, organization ARNs, OU ARNs,
/// and everyone when it is public.
#[derive(Debug, Clone, Default, PartialEq, Serialize, JsonSchema)]
pub struct Grantees {
    pub accounts: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub organizations: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub units: Vec<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub public: bool,
}

impl Grantees {
    pub fn is_empty(&self) -> bool {
        self.accounts.is_empty() && self.organizations.is_empty() && self.units.is_empty() && !self.public
    }

    /// Each grantee as people read it: ids and ARNs as AWS spells them, `everyone (public)`.
    pub fn names(&self) -> Vec<String> {
        let public = self.public.then(|| PUBLIC.to_string());
        self.accounts.iter().chain(&self.organizations).chain(&self.units).cloned().chain(public).collect()
    }
}

/// How a public AMI's grantee reads.
pub const PUBLIC: &str = "everyone (public)";

/// The AMI's launch permissions, as DescribeImageAttribute lists them (the owner's view).
pub async fn launch_permissions(aws: &Aws, ami: &str) -> Result<Grantees> {
    let output = aws
        .ec2()
        .describe_image_attribute()
        .image_id(ami)
        .attribute(ec2::ImageAttributeName::LaunchPermission)
        .send()
        .await
        .map_err(|e| aws.error("DescribeImageAttribute", Service::Ec2, e))?;
    let mut with = Grantees::default();
    for permission in output.launch_permissions() {
        if permission.group() == Some(&ec2::PermissionGroup::All) {
            with.public = true;
        }
        with.accounts.extend(permission.user_id().map(str::to_string));
        with.organizations.extend(permission.organization_arn().map(str::to_string));
        with.units.extend(permission.organizational_unit_arn().map(str::to_string));
    }
    Ok(with)
}

/// DescribeImages and DescribeSnapshots both accept up to 1,000 results a page.
const PAGE_SIZE: i32 = 1000;
/// EC2 caps the values of one filter at 200.
const FILTER_VALUES_MAX: usize = 200;

choice_enum! {
    /// An AMI's state, as EC2 names it.
    pub enum ImageState {
        Pending = "pending",
        Available = "available",
        Invalid = "invalid",
        Deregistered = "deregistered",
        Transient = "transient",
        Failed = "failed",
        Error = "error",
        Disabled = "disabled",
    }
}

choice_enum! {
    /// A snapshot's state, as EC2 (and the EBS direct APIs) name it.
    pub enum SnapshotState {
        Pending = "pending",
        Completed = "completed",
        Error = "error",
        Recoverable = "recoverable",
        Recovering = "recovering",
    }
}

choice_enum! {
    /// An instance's state, as EC2 names it.
    pub enum InstanceState {
        Pending = "pending",
        Running = "running",
        ShuttingDown = "shutting-down",
        Terminated = "terminated",
        Stopping = "stopping",
        Stopped = "stopped",
    }
}

impl Reported<ImageState> {
    /// The AMI will never become available: waiting on it is pointless.
    pub fn failed(&self) -> bool {
        matches!(self, Reported::Known(ImageState::Failed | ImageState::Invalid))
    }
}

impl Reported<InstanceState> {
    /// Terminated or on its way: the instance holds nothing any more, and cannot be stopped.
    pub fn is_ending(&self) -> bool {
        matches!(self, Reported::Known(InstanceState::Terminated | InstanceState::ShuttingDown))
    }
}

#[derive(Debug, Clone, Serialize, JsonSchema, Deserialize, PartialEq)]
pub struct Image {
    pub id: AmiId,
    pub name: String,
    pub state: Reported<ImageState>,
    pub created: Option<Timestamp>,
    pub owner: String,
    pub description: Option<String>,
    pub root_device: Option<String>,
    pub architecture: Option<Reported<Arch>>,
    #[serde(flatten)]
    pub boot: Boot,
    pub mappings: Vec<Mapping>,
    pub tags: BTreeMap<String, String>,
    /// When an instance was last launched from it (ISO 8601), as EC2 reports it: up to a day
    /// late, and never for launches before April 2017.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_launched: Option<Timestamp>,
    pub protection: Protection,
    /// When it is (or was) deprecated (EnableImageDeprecation), ISO 8601.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deprecation_time: Option<Timestamp>,
    /// The watermarks it carries (AttachImageWatermark; images made or copied from it inherit
    /// them): what Allowed AMIs' ImageWatermarks criteria look for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub watermarks: Vec<Watermark>,
    /// Amazon Inspector's scan results, present only once Inspector scanned it: what Allowed
    /// AMIs' ScanResultCondition looks at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scan_results: Option<ScanResults>,
}

/// A watermark as DescribeImages reports it (ImageWatermark), times in ISO 8601.
/// https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_ImageWatermark.html
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema, Deserialize)]
pub struct Watermark {
    /// `accountId:watermarkName`.
    pub key: String,
    pub source_region: Option<String>,
    pub source_image_created: Option<Timestamp>,
    /// When it was attached.
    pub created: Option<Timestamp>,
}

/// Amazon Inspector's scan results of an AMI (ScanResults), times in ISO 8601.
/// https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_ScanResults.html
#[derive(Debug, Clone, PartialEq, Default, Serialize, JsonSchema, Deserialize)]
pub struct ScanResults {
    /// The most recent scan.
    pub scanned: Option<Timestamp>,
    /// The highest severity of its findings, fix or no fix; none when it has no finding.
    pub highest_severity: Option<Reported<Severity>>,
    /// For each severity that has a finding with a fix available, since when (the earliest).
    pub fix_available_since: BTreeMap<Severity, Timestamp>,
}

/// Deregistration protection (EnableImageDeregistrationProtection), as DescribeImages reports
/// it: `disabled`, `enabled-without-cooldown`, `enabled-with-cooldown`, or `disabled after TIME`
/// during the 24 hours a protection enabled with a cooldown still holds once disabled.
/// https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/ami-deregistration-protection.html
#[derive(Debug, Clone, PartialEq, Default, Serialize, JsonSchema, Deserialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum Protection {
    #[default]
    Disabled,
    Enabled {
        cooldown: bool,
    },
    /// Disabled, but still protecting until then.
    CoolingDown {
        until: Timestamp,
    },
    /// A value newer than gio-ami: treated as protecting.
    Other {
        value: String,
    },
}

impl Protection {
    pub fn parse(value: Option<&str>) -> Protection {
        match value {
            None | Some("disabled") => Protection::Disabled,
            Some("enabled-without-cooldown") => Protection::Enabled { cooldown: false },
            Some("enabled-with-cooldown") => Protection::Enabled { cooldown: true },
            Some(other) => {
                match other.strip_prefix("disabled after ").and_then(|t| Timestamp::parse(t.trim())) {
                    Some(until) => Protection::CoolingDown { until },
                    None => Protection::Other { value: other.to_string() },
                }
            }
        }
    }

    /// Why DeregisterImage would be refused, and what lifts it; none when it would not be.
    pub fn refusal(&self, ami: &str) -> Option<String> {
        match self {
            Protection::Disabled => None,
            Protection::Enabled { cooldown: false } => {
                Some(format!("protected from deregistration: `gio-ami protect --unprotect {ami}` lifts it"))
            }
            Protection::Enabled { cooldown: true } => Some(format!(
                "protected from deregistration with a cooldown: `gio-ami protect --unprotect {ami}` lifts it 24 hours later"
            )),
            Protection::CoolingDown { until } => Some(format!("protected from deregistration until {until} (the cooldown of a lifted protection)")),
            Protection::Other { value } => Some(format!("deregistration protection is `{value}`")),
        }
    }
}

/// How an AMI boots: what RegisterImage must repeat for a derived AMI to boot like its source.
#[derive(Debug, Clone, Serialize, JsonSchema, Deserialize, PartialEq, Default)]
pub struct Boot {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub virtualization_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ena_support: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sriov_net_support: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub boot_mode: Option<Reported<BootMode>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tpm_support: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub imds_support: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kernel_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ramdisk_id: Option<String>,
}

#[derive(Debug, Clone, Serialize, JsonSchema, Deserialize, PartialEq, Default)]
pub struct Mapping {
    pub device: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snapshot_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size_gib: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub volume_type: Option<Reported<VolumeType>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iops: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub throughput: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encrypted: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kms_key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delete_on_termination: Option<bool>,
    /// Instance-store volumes (`ephemeral0`…) have a virtual name and no EBS part.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub virtual_name: Option<String>,
    /// Suppresses a device the AMI would otherwise attach.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub no_device: bool,
}

#[derive(Debug, Clone, Serialize, JsonSchema, PartialEq)]
pub struct Snapshot {
    pub id: SnapshotId,
    pub size_gib: i32,
    pub state: Reported<SnapshotState>,
    pub started: Option<Timestamp>,
    pub description: String,
    pub owner: String,
    pub volume_id: Option<String>,
    pub encrypted: bool,
    /// In the archive tier (ModifySnapshotTier): billed at the archive price, unusable until
    /// restored.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub archived: bool,
    pub tags: BTreeMap<String, String>,
}

impl Image {
    /// The mapping of the device the AMI boots from.
    pub fn root_mapping(&self) -> Option<&Mapping> {
        self.mappings.iter().find(|m| Some(&m.device) == self.root_device.as_ref())
    }

    /// Deprecated at `now` (seconds since the epoch): its deprecation time has come.
    pub fn deprecated(&self, now: i64) -> bool {
        self.deprecation_time.as_ref().is_some_and(|at| at.epoch() <= now)
    }

    pub fn release(&self) -> Option<&str> {
        self.tags.get(tags::RELEASE).map(String::as_str)
    }

    /// Which AMI of its release set this is (`gio-ami:arch` and `gio-ami:variant`); `None` for the
    /// one AMI of a release without `[[variants]]`.
    pub fn member(&self) -> Option<Member> {
        let arch = Arch::from_name(self.tags.get(tags::ARCH)?)?;
        let variant = Variant::from_name(self.tags.get(tags::VARIANT)?)?;
        Some(Member { arch, variant })
    }

    /// The release set this AMI is one variant of: its release, when it has a `member`.
    pub fn set(&self) -> Option<&str> {
        self.member().and(self.release())
    }

    /// The clusters in the AMI's `gio-ami:clusters` tag (a comma list).
    pub fn published_to(&self) -> impl Iterator<Item = &str> {
        self.tags
            .get(tags::CLUSTERS)
            .map(String::as_str)
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|c| !c.is_empty())
    }

    pub fn snapshot_ids(&self) -> impl Iterator<Item = &str> {
        self.mappings.iter().filter_map(|m| m.snapshot_id.as_deref())
    }

    /// The provisioned size of every EBS volume the AMI launches with.
    pub fn total_gib(&self) -> i64 {
        self.mappings.iter().filter_map(|m| m.size_gib).map(i64::from).sum()
    }
}

impl From<&ec2::Image> for Image {
    fn from(image: &ec2::Image) -> Self {
        Image {
            id: AmiId::from_aws(image.image_id().unwrap_or_default()),
            name: image.name().unwrap_or_default().to_string(),
            state: image.state().map(Reported::from).unwrap_or_default(),
            created: image.creation_date().and_then(Timestamp::parse),
            owner: image.owner_id().unwrap_or_default().to_string(),
            description: image.description().map(str::to_string),
            root_device: image.root_device_name().map(str::to_string),
            architecture: image.architecture().map(Reported::from),
            boot: Boot {
                virtualization_type: image.virtualization_type().map(|v| v.as_str().to_string()),
                ena_support: image.ena_support(),
                sriov_net_support: image.sriov_net_support().map(str::to_string),
                boot_mode: image.boot_mode().map(Reported::from),
                tpm_support: image.tpm_support().map(|v| v.as_str().to_string()),
                imds_support: image.imds_support().map(|v| v.as_str().to_string()),
                kernel_id: image.kernel_id().map(str::to_string),
                ramdisk_id: image.ramdisk_id().map(str::to_string),
            },
            mappings: image.block_device_mappings().iter().map(Mapping::from).collect(),
            tags: tags(image.tags()),
            last_launched: image.last_launched_time().and_then(Timestamp::parse),
            protection: Protection::parse(image.deregistration_protection()),
            deprecation_time: image.deprecation_time().and_then(Timestamp::parse),
            watermarks: image.image_watermarks().iter().map(Watermark::from).collect(),
            scan_results: image.scan_results().map(ScanResults::from),
        }
    }
}

impl From<&ec2::ImageWatermark> for Watermark {
    fn from(w: &ec2::ImageWatermark) -> Self {
        Watermark {
            key: w.watermark_key().unwrap_or_default().to_string(),
            source_region: w.source_image_region().map(str::to_string),
            source_image_created: timestamp(w.source_image_creation_time()),
            created: timestamp(w.watermark_creation_time()),
        }
    }
}

impl From<&ec2::ScanResults> for ScanResults {
    fn from(r: &ec2::ScanResults) -> Self {
        let fixes = [
            (Severity::Informational, r.informational_fix_available_since()),
            (Severity::Low, r.low_fix_available_since()),
            (Severity::Medium, r.medium_fix_available_since()),
            (Severity::High, r.high_fix_available_since()),
            (Severity::Critical, r.critical_fix_available_since()),
        ];
        ScanResults {
            scanned: timestamp(r.finding_scan_date()),
            highest_severity: r.highest_finding_severity_label().map(|s| Reported::from(s.as_str())),
            fix_available_since: fixes
                .into_iter()
                .filter_map(|(severity, since)| Some((severity, timestamp(since)?)))
                .collect(),
        }
    }
}

impl From<&ec2::BlockDeviceMapping> for Mapping {
    fn from(m: &ec2::BlockDeviceMapping) -> Self {
        let ebs = m.ebs();
        Mapping {
            device: m.device_name().unwrap_or_default().to_string(),
            snapshot_id: ebs.and_then(|e| e.snapshot_id()).map(str::to_string),
            size_gib: ebs.and_then(|e| e.volume_size()),
            volume_type: ebs.and_then(|e| e.volume_type()).map(Reported::from),
            iops: ebs.and_then(|e| e.iops()),
            throughput: ebs.and_then(|e| e.throughput()),
            encrypted: ebs.and_then(|e| e.encrypted()),
            kms_key_id: ebs.and_then(|e| e.kms_key_id()).map(str::to_string),
            delete_on_termination: ebs.and_then(|e| e.delete_on_termination()),
            virtual_name: m.virtual_name().map(str::to_string),
            no_device: m.no_device().is_some(),
        }
    }
}

impl Mapping {
    /// The mapping as RegisterImage takes it. Encryption is left out for mappings with a
    /// snapshot: AWS refuses the parameter there (the volume inherits the snapshot's state).
    pub fn to_sdk(&self) -> ec2::BlockDeviceMapping {
        let ebs = (self.virtual_name.is_none() && !self.no_device).then(|| {
            ec2::EbsBlockDevice::builder()
                .set_snapshot_id(self.snapshot_id.clone())
                .set_volume_size(self.size_gib)
                .set_volume_type(self.volume_type.as_ref().map(ec2::VolumeType::from))
                .set_iops(self.iops)
                .set_throughput(self.throughput)
                .set_delete_on_termination(self.delete_on_termination)
                .set_encrypted(if self.snapshot_id.is_some() { None } else { self.encrypted })
                .build()
        });
        ec2::BlockDeviceMapping::builder()
            .device_name(&self.device)
            .set_ebs(ebs)
            .set_virtual_name(self.virtual_name.clone())
            .set_no_device(self.no_device.then(String::new))
            .build()
    }
}

impl From<&ec2::Snapshot> for Snapshot {
    fn from(s: &ec2::Snapshot) -> Self {
        Snapshot {
            id: SnapshotId::from_aws(s.snapshot_id().unwrap_or_default()),
            size_gib: s.volume_size().unwrap_or_default(),
            state: s.state().map(Reported::from).unwrap_or_default(),
            started: timestamp(s.start_time()),
            description: s.description().unwrap_or_default().to_string(),
            owner: s.owner_id().unwrap_or_default().to_string(),
            volume_id: s.volume_id().map(str::to_string),
            encrypted: s.encrypted().unwrap_or_default(),
            archived: s.storage_tier() == Some(&ec2::StorageTier::Archive),
            tags: tags(s.tags()),
        }
    }
}

fn tags(tags: &[ec2::Tag]) -> BTreeMap<String, String> {
    tags.iter()
        .filter_map(|t| Some((t.key()?.to_string(), t.value().unwrap_or_default().to_string())))
        .collect()
}

/// The account's own AMIs, newest first.
pub async fn own_images(aws: &Aws) -> Result<Vec<Image>> {
    let mut pages = aws
        .ec2()
        .describe_images()
        .owners("self")
        .include_deprecated(true)
        .include_disabled(true)
        .max_results(PAGE_SIZE)
        .into_paginator()
        .send();
    let mut images = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| aws.error("DescribeImages", Service::Ec2, e))?;
        images.extend(page.images().iter().map(Image::from));
    }
    newest_first(&mut images);
    Ok(images)
}

/// The named AMIs, in the order asked, all owned by this account. One call when they are; an
/// error naming the culprits when some are missing or someone else's.
pub async fn own_images_by_id(aws: &Aws, ids: &[AmiId]) -> Result<Vec<Image>> {
    let wanted: Vec<String> = ids.iter().map(|id| id.to_string()).collect();
    let found = describe_images_filtered(aws, &wanted, true).await?;
    let missing: Vec<String> =
        wanted.iter().filter(|id| !found.iter().any(|image| &image.id == *id)).cloned().collect();
    if !missing.is_empty() {
        // Only on this error path: tell "someone else's" apart from "does not exist here".
        let foreign = describe_images_filtered(aws, &missing, false).await?;
        if let Some(image) = foreign.first() {
            return Err(Error::AmiNotOwned { id: image.id.to_string(), owner: image.owner.clone() });
        }
        return Err(Error::AmiNotFound { ids: missing, region: aws.region().to_string() });
    }
    Ok(wanted.iter().filter_map(|id| found.iter().find(|image| &image.id == id).cloned()).collect())
}

/// AMIs by id whoever owns them (bases are Amazon's); the missing ones are simply absent.
pub async fn any_images_by_id(aws: &Aws, ids: &[String]) -> Result<Vec<Image>> {
    describe_images_filtered(aws, ids, false).await
}

/// Whether `aws`'s account sees the AMI (its own, shared with it, or public): what it may
/// launch, and so what its `aws:ec2:image` parameters may name.
pub async fn launchable(aws: &Aws, id: &str) -> Result<bool> {
    Ok(!any_images_by_id(aws, &[id.to_string()]).await?.is_empty())
}

/// Filtering on `image-id` instead of passing ImageIds: AWS fails the whole ImageIds call when
/// one id is unknown, and we want to say which ones are.
async fn describe_images_filtered(aws: &Aws, ids: &[String], own: bool) -> Result<Vec<Image>> {
    let mut images = Vec::new();
    for chunk in ids.chunks(FILTER_VALUES_MAX) {
        let mut request = aws
            .ec2()
            .describe_images()
            .include_deprecated(true)
            .include_disabled(true)
            .filters(id_filter("image-id", chunk));
        if own {
            request = request.owners("self");
        }
        let output = request.send().await.map_err(|e| aws.error("DescribeImages", Service::Ec2, e))?;
        images.extend(output.images().iter().map(Image::from));
    }
    Ok(images)
}

/// The account's own AMIs with this exact name (names are unique per account and region).
/// Disabled and deprecated ones too: DescribeImages leaves disabled AMIs out unless asked, and a
/// disabled AMI keeps its name taken.
pub async fn own_images_named(aws: &Aws, name: &str) -> Result<Vec<Image>> {
    own_images_where(aws, id_filter("name", &[name.to_string()])).await
}

/// The account's own AMIs carrying this tag with this value (`*` and `?` are wildcards, as in
/// every DescribeImages filter).
pub async fn own_images_tagged(aws: &Aws, key: &str, value: &str) -> Result<Vec<Image>> {
    own_images_where(aws, id_filter(&format!("tag:{key}"), &[value.to_string()])).await
}

/// The AMI and, when it is one of a release set, every AMI of its set (in this region).
pub async fn own_set_of(aws: &Aws, ami: &AmiId) -> Result<Vec<Image>> {
    let image = own_images_by_id(aws, std::slice::from_ref(ami)).await?.remove(0);
    match image.set() {
        Some(release) => own_release(aws, release).await,
        None => Ok(vec![image]),
    }
}

/// The AMIs a command acts on: those named, then every AMI of `release` here (each once).
pub async fn own_ids(aws: &Aws, mut amis: Vec<AmiId>, release: Option<&str>) -> Result<Vec<AmiId>> {
    if let Some(release) = release {
        let set = own_release(aws, release).await?;
        let more: Vec<AmiId> = set.into_iter().map(|i| i.id).filter(|id| !amis.contains(id)).collect();
        amis.extend(more);
    }
    Ok(amis)
}

/// Every AMI of a release in this region, in variant order; none is an error naming the fix.
pub async fn own_release(aws: &Aws, release: &str) -> Result<Vec<Image>> {
    let mut images = own_images_tagged(aws, tags::RELEASE, release).await?;
    if images.is_empty() {
        return Err(Error::ReleaseNotFound {
            release: release.to_string(),
            region: aws.region().to_string(),
        });
    }
    images.sort_by_key(Image::member);
    Ok(images)
}

async fn own_images_where(aws: &Aws, filter: Filter) -> Result<Vec<Image>> {
    let output = aws
        .ec2()
        .describe_images()
        .owners("self")
        .include_deprecated(true)
        .include_disabled(true)
        .filters(filter)
        .send()
        .await
        .map_err(|e| aws.error("DescribeImages", Service::Ec2, e))?;
    Ok(output.images().iter().map(Image::from).collect())
}

/// The state of each of these AMIs that exists, in one call.
pub async fn image_states(aws: &Aws, ids: &[String]) -> Result<Vec<(String, Reported<ImageState>)>> {
    Ok(describe_images_filtered(aws, ids, true)
        .await?
        .into_iter()
        .map(|image| (image.id.into(), image.state))
        .collect())
}

/// The account's own snapshots, in the order AWS returns them.
pub async fn own_snapshots(aws: &Aws) -> Result<Vec<Snapshot>> {
    own_snapshots_matching(aws, Vec::new()).await
}

/// The account's own snapshots that match every filter (e.g. `tag-key`). EC2 filters each page
/// after cutting it, so a page may come back short or empty: only the absence of a NextToken
/// ends the listing.
pub async fn own_snapshots_matching(aws: &Aws, filters: Vec<Filter>) -> Result<Vec<Snapshot>> {
    let mut pages = aws
        .ec2()
        .describe_snapshots()
        .owner_ids("self")
        .set_filters((!filters.is_empty()).then_some(filters))
        .max_results(PAGE_SIZE)
        .into_paginator()
        .send();
    let mut snapshots = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| aws.error("DescribeSnapshots", Service::Ec2, e))?;
        snapshots.extend(page.snapshots().iter().map(Snapshot::from));
    }
    Ok(snapshots)
}

/// Snapshots by id; the missing ones are simply absent. SnapshotIds is a direct look-up (of
/// any owner's snapshot the caller may see), but AWS fails the whole call when one id is
/// unknown, so only then is the chunk asked again with a `snapshot-id` filter, which answers
/// what exists. That scan covers the account's own snapshots only, page by page: without
/// OwnerIds, DescribeSnapshots "returns all snapshots available to you", every public
/// snapshot of every account included
/// (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeSnapshots.html), and
/// EC2 filters each page after cutting it, so an answer without its NextToken followed misses
/// what later pages hold.
pub async fn snapshots_by_id(aws: &Aws, ids: &[String]) -> Result<Vec<Snapshot>> {
    let unique: Vec<String> = {
        let mut seen = HashSet::new();
        ids.iter().filter(|id| seen.insert(*id)).cloned().collect()
    };
    let mut snapshots = Vec::new();
    for chunk in unique.chunks(FILTER_VALUES_MAX) {
        match aws.ec2().describe_snapshots().set_snapshot_ids(Some(chunk.to_vec())).send().await {
            Ok(output) => snapshots.extend(output.snapshots().iter().map(Snapshot::from)),
            Err(e)
                if matches!(e.code(), Some("InvalidSnapshot.NotFound" | "InvalidSnapshotID.Malformed")) =>
            {
                snapshots.extend(own_snapshots_matching(aws, vec![id_filter("snapshot-id", chunk)]).await?)
            }
            Err(e) => return Err(aws.error("DescribeSnapshots", Service::Ec2, e)),
        }
    }
    Ok(snapshots)
}

fn id_filter(name: &str, ids: &[String]) -> Filter {
    Filter::builder().name(name).set_values(Some(ids.to_vec())).build()
}

/// ISO-8601 timestamps of one format sort as text; ties break on id for a stable listing.
fn newest_first(images: &mut [Image]) {
    images.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| a.id.cmp(&b.id)));
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A test's time: RFC 3339, a date (its midnight UTC), or a day of January 2026 (`"2"`), so
    /// that short ones order as written.
    pub fn time(text: &str) -> Timestamp {
        let full = match text.len() {
            1 | 2 => format!("2026-01-{text:0>2}T00:00:00.000Z"),
            10 => format!("{text}T00:00:00.000Z"),
            _ => text.to_string(),
        };
        full.parse().unwrap()
    }

    pub fn image(id: &str, created: &str, snapshots: &[(&str, &str, i32)]) -> Image {
        Image {
            id: id.into(),
            name: format!("name-of-{id}"),
            state: "available".into(),
            created: Some(time(created)),
            owner: "123456789012".into(),
            description: None,
            root_device: Some("/dev/xvda".into()),
            architecture: Some("x86_64".into()),
            boot: Boot {
                virtualization_type: Some("hvm".into()),
                ena_support: Some(true),
                ..Boot::default()
            },
            mappings: snapshots
                .iter()
                .map(|(device, snap, size)| Mapping {
                    device: device.to_string(),
                    snapshot_id: Some(snap.to_string()),
                    size_gib: Some(*size),
                    volume_type: Some("gp3".into()),
                    ..Mapping::default()
                })
                .collect(),
            tags: BTreeMap::new(),
            last_launched: None,
            protection: Protection::Disabled,
            deprecation_time: None,
            watermarks: Vec::new(),
            scan_results: None,
        }
    }

    pub fn snapshot(id: &str, size_gib: i32) -> Snapshot {
        Snapshot {
            id: id.into(),
            size_gib,
            state: "completed".into(),
            started: None,
            description: String::new(),
            owner: "123456789012".into(),
            volume_id: None,
            encrypted: false,
            archived: false,
            tags: BTreeMap::new(),
        }
    }

    #[test]
    fn an_image_reads_typed_and_serializes_as_aws_spelled_it() {
        let described = ec2::Image::builder()
            .image_id("ami-00000001")
            .state(ec2::ImageState::Available)
            .architecture(ec2::ArchitectureValues::X8664Mac)
            .boot_mode(ec2::BootModeValues::Uefi)
            .block_device_mappings(
                ec2::BlockDeviceMapping::builder()
                    .device_name("/dev/xvda")
                    .ebs(ec2::EbsBlockDevice::builder().volume_type(ec2::VolumeType::Gp3).build())
                    .build(),
            )
            .build();
        let image = Image::from(&described);
        assert!(image.state == ImageState::Available);
        assert_eq!(image.boot.boot_mode, Some(Reported::Known(BootMode::Uefi)));
        assert_eq!(image.architecture, Some(Reported::Unknown("x86_64_mac".into())), "kept, not refused");
        let json = serde_json::to_value(&image).unwrap();
        assert_eq!(json["state"], "available");
        assert_eq!(json["architecture"], "x86_64_mac");
        assert_eq!(json["boot_mode"], "uefi");
        assert_eq!(json["mappings"][0]["volume_type"], "gp3");
        let sent = image.mappings[0].to_sdk();
        assert_eq!(sent.ebs().and_then(|e| e.volume_type()), Some(&ec2::VolumeType::Gp3));
        let archived =
            Snapshot::from(&ec2::Snapshot::builder().state(ec2::SnapshotState::from("archived")).build());
        assert_eq!(archived.state, Reported::Unknown("archived".into()));
    }

    #[test]
    fn images_sort_newest_first_with_stable_ties() {
        let mut images = vec![
            image("ami-00000001", "2026-01-01T00:00:00.000Z", &[]),
            image("ami-00000003", "2026-03-01T00:00:00.000Z", &[]),
            image("ami-00000002", "2026-03-01T00:00:00.000Z", &[]),
        ];
        newest_first(&mut images);
        let ids: Vec<&str> = images.iter().map(|i| i.id.as_str()).collect();
        assert_eq!(ids, ["ami-00000002", "ami-00000003", "ami-00000001"]);
    }

    #[test]
    fn totals_count_only_ebs_volumes() {
        let mut image = image(
            "ami-00000001",
            "2026-01-01T00:00:00.000Z",
            &[("/dev/xvda", "snap-00000001", 20), ("/dev/xvdb", "snap-00000002", 50)],
        );
        image.mappings.push(Mapping {
            device: "/dev/sdb".into(),
            virtual_name: Some("ephemeral0".into()),
            ..Mapping::default()
        });
        assert_eq!(image.total_gib(), 70);
        assert_eq!(image.snapshot_ids().collect::<Vec<_>>(), ["snap-00000001", "snap-00000002"]);
    }
}
