//! `gio-ami.toml` as written: the text of each key with its span, so that `check` points at the
//! value it refuses. These types are also the JSON Schema `gio-ami schema` prints; the rest of
//! gio-ami reads the checked `Spec` made from them.

use super::ROLE_ARN_PATTERN;
use crate::core::choice::{self, Choice};
use crate::core::kinds::{Arch, Engine, Family, ProvisionVia, Variant};
use crate::spec::disk::Disk;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use toml::Spanned;

/// gio-ami.toml: what `gio-ami build` makes, from which base, and where it runs.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "gio-ami.toml")]
pub struct SpecFile {
    pub image: ImageSpec,
    pub base: BaseSpec,
    #[serde(default)]
    pub build: BuildSpec,
    /// Extra EBS disks of the AMI, one table each.
    #[serde(default)]
    #[schemars(with = "Vec<Disk>")]
    pub disks: Vec<Spanned<Disk>>,
    /// One release of several AMIs: one table per architecture and variant, each overriding
    /// `[base]` arch and variant and any key of `[build]`. Without any, one AMI of `[base]`.
    #[serde(default)]
    #[schemars(with = "Vec<VariantSpec>")]
    pub variants: Vec<Spanned<VariantSpec>>,
    /// Clusters that run this image: columns of `gio-ami history`, targets of `gio-ami publish`.
    #[serde(default)]
    pub clusters: BTreeMap<String, ClusterSpec>,
    /// The accounts `images`, `history`, `cost` and the guards read, each in its regions. Without
    /// any, gio-ami works in the caller's account alone.
    #[serde(default)]
    pub accounts: BTreeMap<String, AccountSpec>,
}

/// An AWS account gio-ami reads (and guards) beside the caller's.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountSpec {
    /// The role gio-ami assumes (STS AssumeRole, from the caller's credentials) to act there; an
    /// account without one is the caller's own.
    #[serde(default)]
    #[schemars(with = "Option<String>", regex(pattern = ROLE_ARN_PATTERN))]
    pub role_arn: Option<Spanned<String>>,
    /// Where its AMIs and clusters are; the caller's region when empty.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub regions: Vec<Spanned<String>>,
    /// The external id the role's trust policy asks for (sts:ExternalId).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub external_id: Option<Spanned<String>>,
    /// The role session's name, as CloudTrail shows it; `gio-ami` by default.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub session_name: Option<Spanned<String>>,
}

/// The AMI to make.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ImageSpec {
    /// Template of the AMI name: `{k8s}`, `{date}` (YYYYMMDD), `{git_sha}` (short commit of the
    /// spec's directory) and `{n}` (1, 2, … for several builds of a day) are filled in.
    #[schemars(with = "String")]
    pub name: Spanned<String>,
    #[serde(default)]
    pub description: Option<String>,
    /// Support contact, shown in `gio-ami history`.
    #[serde(default)]
    pub contact: Option<String>,
    /// Added to the AMI and its snapshots.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

/// What the build starts from: an EKS-optimized AMI (family and kubernetes), or `ami`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BaseSpec {
    #[serde(default)]
    #[schemars(schema_with = "choice::schema::<Family>")]
    pub family: Option<Spanned<String>>,
    /// The Kubernetes minor version, e.g. "1.31".
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub kubernetes: Option<Spanned<String>>,
    #[serde(default = "default_arch")]
    #[schemars(schema_with = "choice::schema::<Arch>")]
    pub arch: Spanned<String>,
    #[serde(default = "default_variant")]
    #[schemars(schema_with = "choice::schema::<Variant>")]
    pub variant: Spanned<String>,
    /// An explicit base AMI instead of the EKS-optimized one.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub ami: Option<Spanned<String>>,
}

/// How the AMI is built.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BuildSpec {
    /// native (no SSH: the builder provisions itself), packer (real `packer build`), or offline
    /// (no instance: the base's disk is changed on this machine with libguestfs).
    #[serde(default = "default_engine")]
    #[schemars(schema_with = "choice::schema::<Engine>")]
    pub engine: Spanned<String>,
    #[serde(default = "default_instance_type")]
    #[schemars(with = "String")]
    pub instance_type: Spanned<String>,
    #[serde(default)]
    pub subnet: Option<String>,
    #[serde(default)]
    pub security_group: Option<String>,
    /// Needed for provision_via = "ssm".
    #[serde(default)]
    pub iam_instance_profile: Option<String>,
    /// Scripts the builder runs, in order, before it powers off.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub provision: Vec<Spanned<String>>,
    #[serde(default = "default_provision_via")]
    #[schemars(schema_with = "choice::schema::<ProvisionVia>")]
    pub provision_via: Spanned<String>,
    /// Snapshot the volumes first: CreateImage then copies less.
    #[serde(default = "yes")]
    pub pre_snapshot: bool,
    /// How long the guest may take before the build gives up, e.g. "30m".
    #[serde(default = "default_timeout")]
    #[schemars(with = "String")]
    pub timeout: Spanned<String>,
    /// Root volume size in GiB; the base AMI's when absent.
    #[serde(default)]
    pub root_size_gib: Option<i32>,
    /// Files copied into the image, one table each (the offline engine).
    #[serde(default)]
    #[schemars(with = "Vec<FileSpec>")]
    pub files: Vec<Spanned<FileSpec>>,
    /// Whether provisioning scripts reach the network (the offline engine; off by default, so a
    /// build is what the spec and its files say).
    #[serde(default)]
    pub network: bool,
}

/// One AMI of a release set: `[base]`'s arch and variant, and `[build]`'s keys, as this variant
/// overrides them (a key left out keeps `[base]`'s or `[build]`'s value).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VariantSpec {
    #[serde(default)]
    #[schemars(schema_with = "choice::schema::<Arch>")]
    pub arch: Option<Spanned<String>>,
    #[serde(default)]
    #[schemars(schema_with = "choice::schema::<Variant>")]
    pub variant: Option<Spanned<String>>,
    /// An explicit base AMI for this variant instead of `[base]`'s.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub ami: Option<Spanned<String>>,
    #[serde(default)]
    #[schemars(schema_with = "choice::schema::<Engine>")]
    pub engine: Option<Spanned<String>>,
    /// The builder's type: one of this variant's architecture (t4g, m7g, … for arm64).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub instance_type: Option<Spanned<String>>,
    #[serde(default)]
    pub subnet: Option<String>,
    #[serde(default)]
    pub security_group: Option<String>,
    #[serde(default)]
    pub iam_instance_profile: Option<String>,
    #[serde(default)]
    #[schemars(with = "Option<Vec<String>>")]
    pub provision: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    #[schemars(schema_with = "choice::schema::<ProvisionVia>")]
    pub provision_via: Option<Spanned<String>>,
    #[serde(default)]
    pub pre_snapshot: Option<bool>,
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub timeout: Option<Spanned<String>>,
    #[serde(default)]
    pub root_size_gib: Option<i32>,
    #[serde(default)]
    #[schemars(with = "Option<Vec<FileSpec>>")]
    pub files: Option<Vec<Spanned<FileSpec>>>,
    #[serde(default)]
    pub network: Option<bool>,
}

impl VariantSpec {
    /// `[base]`'s arch and variant, as this variant overrides them.
    pub fn base(&self, base: &BaseSpec) -> BaseSpec {
        BaseSpec {
            arch: self.arch.clone().unwrap_or_else(|| base.arch.clone()),
            variant: self.variant.clone().unwrap_or_else(|| base.variant.clone()),
            ami: self.ami.clone().or_else(|| base.ami.clone()),
            ..base.clone()
        }
    }

    /// `[build]`, as this variant overrides it.
    pub fn build(&self, build: &BuildSpec) -> BuildSpec {
        let build = build.clone();
        BuildSpec {
            engine: self.engine.clone().unwrap_or(build.engine),
            instance_type: self.instance_type.clone().unwrap_or(build.instance_type),
            subnet: self.subnet.clone().or(build.subnet),
            security_group: self.security_group.clone().or(build.security_group),
            iam_instance_profile: self.iam_instance_profile.clone().or(build.iam_instance_profile),
            provision: self.provision.clone().unwrap_or(build.provision),
            provision_via: self.provision_via.clone().unwrap_or(build.provision_via),
            pre_snapshot: self.pre_snapshot.unwrap_or(build.pre_snapshot),
            timeout: self.timeout.clone().unwrap_or(build.timeout),
            root_size_gib: self.root_size_gib.or(build.root_size_gib),
            files: self.files.clone().unwrap_or(build.files),
            network: self.network.unwrap_or(build.network),
        }
    }
}

/// A file the offline engine copies into the image.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FileSpec {
    /// The file on this machine, relative to the spec's directory.
    pub source: String,
    /// Its absolute path in the image; missing directories are made.
    pub destination: String,
    /// Octal permission bits as a string, e.g. "0644" (default "0644").
    #[serde(default)]
    pub mode: Option<String>,
    /// `user[:group]`, names (looked up in the image) or numbers; root's by default.
    #[serde(default)]
    pub owner: Option<String>,
}

/// A cluster that runs this image.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClusterSpec {
    pub region: String,
    /// The `[accounts.NAME]` the cluster runs in; the caller's account by default.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub account: Option<Spanned<String>>,
    /// The SSM parameter `gio-ami publish` writes the AMI id into; with `[[variants]]`, a
    /// template whose `{arch}` and `{variant}` make one parameter per variant.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub ssm_parameter: Option<Spanned<String>>,
    /// The cluster this one takes its releases from: `gio-ami promote --to NAME` publishes here
    /// what that cluster's parameter holds.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub promote_from: Option<Spanned<String>>,
    /// How long `promote_from` must have held a release before it is promoted here, e.g. "48h".
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub soak: Option<Spanned<String>>,
    /// Turn on deregistration protection on every AMI promoted here, so nobody deregisters what
    /// this cluster runs.
    #[serde(default)]
    pub protect: bool,
}

/// The JSON Schema of gio-ami.toml (`gio-ami schema`), from these types: editors validate and
/// complete the file with it, offering the values `check` allows.
pub fn schema() -> schemars::Schema {
    schemars::schema_for!(SpecFile)
}

/// The schema as `schema` prints it and `init` writes it.
pub fn schema_text() -> serde_json::Result<String> {
    serde_json::to_string_pretty(&schema())
}

/// What a spec without `[build]` gets: each field's own default, as when the table is empty.
impl Default for BuildSpec {
    fn default() -> Self {
        BuildSpec {
            engine: default_engine(),
            instance_type: default_instance_type(),
            subnet: None,
            security_group: None,
            iam_instance_profile: None,
            provision: Vec::new(),
            provision_via: default_provision_via(),
            pre_snapshot: yes(),
            timeout: default_timeout(),
            root_size_gib: None,
            files: Vec::new(),
            network: false,
        }
    }
}

fn unspanned<T>(value: T) -> Spanned<T> {
    Spanned::new(0..0, value)
}
fn default_arch() -> Spanned<String> {
    unspanned(Arch::X86_64.name().into())
}
fn default_variant() -> Spanned<String> {
    unspanned(Variant::Standard.name().into())
}
fn default_engine() -> Spanned<String> {
    unspanned(Engine::Native.name().into())
}
/// The smallest general-purpose size with enough memory (4 GiB) for kubelet, containerd and a
/// few pods; the build itself needs less, but the image is tried where it will run.
fn default_instance_type() -> Spanned<String> {
    unspanned("t3.medium".into())
}
fn default_provision_via() -> Spanned<String> {
    unspanned(ProvisionVia::UserData.name().into())
}
/// Provisioning a node (packages, image pulls) takes minutes; half an hour catches a hung guest.
fn default_timeout() -> Spanned<String> {
    unspanned("30m".into())
}
fn yes() -> bool {
    true
}
