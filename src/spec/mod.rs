//! `gio-ami.toml`: what to build. Parsed with spans so every error points at file:line:column
//! and the key, and names the allowed values.

pub mod clusters;
pub mod disk;
mod error;
pub mod file;

use crate::core::choice::{self, Choice};
use crate::core::ids::AmiId;
use crate::core::kinds::{Arch, Engine, Family, Member, ProvisionVia, Variant};
use crate::spec::clusters::Cluster;
use crate::spec::disk::{Disk, MAX_VOLUMES};
pub use crate::spec::file::{schema, schema_text, AccountSpec};
use crate::spec::file::{BaseSpec, BuildSpec, ClusterSpec, FileSpec, SpecFile, VariantSpec};
use schemars::JsonSchema;
use serde::Serialize;
use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;
use toml::Spanned;

pub const DEFAULT_PATH: &str = "gio-ami.toml";
/// Where `init` writes the schema, beside the spec; the template's `#:schema` line names it.
pub const SCHEMA_FILE: &str = "gio-ami.schema.json";

/// A checked gio-ami.toml: each value in the type it stands for, made once by `parse` from the
/// text (`file::SpecFile`), so nothing downstream reads a key's text again.
#[derive(Debug, Clone)]
pub struct Spec {
    pub image: Image,
    pub base: Base,
    pub build: Build,
    /// Extra EBS disks of the AMI, each checked against the EBS limits.
    pub disks: Vec<Disk>,
    /// The AMIs of a release set (`[[variants]]`), in order; empty for one AMI of `[base]`.
    pub variants: Vec<SetVariant>,
    /// Which AMI of its set this spec makes: set on the specs `members` makes of a set.
    pub member: Option<Member>,
    /// The `[clusters]`, in name order, each with its account settled.
    pub clusters: Vec<Cluster>,
    /// The `[accounts]` as written (their values are checked; no type of ours stands for them).
    pub accounts: BTreeMap<String, AccountSpec>,
}

/// One `[[variants]]` table, checked: `[base]` and `[build]` as it overrides them.
#[derive(Debug, Clone)]
pub struct SetVariant {
    pub member: Member,
    pub base: Base,
    pub build: Build,
}

/// The AMI to make.
#[derive(Debug, Clone)]
pub struct Image {
    /// The name template (`render_name` fills it in).
    pub name: String,
    pub description: Option<String>,
    pub contact: Option<String>,
    pub tags: BTreeMap<String, String>,
}

/// Where the build starts from.
#[derive(Debug, Clone, PartialEq)]
pub enum BaseSource {
    /// An explicit AMI.
    Ami(AmiId),
    /// The EKS-optimized AMI of a family for a Kubernetes minor version (e.g. "1.31").
    Eks { family: Family, kubernetes: String },
}

#[derive(Debug, Clone)]
pub struct Base {
    pub source: BaseSource,
    /// `family` as written: with an explicit AMI nothing checks it, it only becomes a tag.
    pub family_label: Option<String>,
    /// `kubernetes` as written (with an explicit AMI, a label like `family_label`).
    pub kubernetes: Option<String>,
    pub arch: Arch,
    pub variant: Variant,
}

/// How the AMI is built.
#[derive(Debug, Clone, PartialEq)]
pub struct Build {
    pub engine: Engine,
    pub instance_type: String,
    pub subnet: Option<String>,
    pub security_group: Option<String>,
    pub iam_instance_profile: Option<String>,
    /// Script paths, relative to the spec's directory.
    pub provision: Vec<String>,
    pub provision_via: ProvisionVia,
    pub pre_snapshot: bool,
    pub timeout: Duration,
    pub root_size_gib: Option<i32>,
    /// Files the offline engine copies into the image, in order.
    pub files: Vec<File>,
    /// Whether the offline engine's provisioning scripts reach the network.
    pub network: bool,
}

/// A `[[build.files]]` table, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct File {
    /// As written: relative to the spec's directory (`Loaded::source` resolves it).
    pub source: PathBuf,
    /// Absolute, in the image.
    pub destination: String,
    pub mode: u32,
    pub owner: Option<Owner>,
    /// Where the table stands in the spec, for an error about its source.
    pub span: Range<usize>,
}

/// A file's owner as written: names are looked up in the image's own passwd and group files.
#[derive(Debug, Clone, PartialEq)]
pub struct Owner {
    pub user: String,
    pub group: Option<String>,
}

/// Why the offline engine refuses Bottlerocket, from the spec or from the base it resolves to.
pub const BOTTLEROCKET_OFFLINE: &str = "Bottlerocket's root filesystem is read-only and verified by \
    dm-verity, so the offline engine cannot change it: customize it with its settings (user data) and \
    extra [[disks]] instead, or pick family al2023";

/// Permission bits of a file copied without `mode`: what a umask of 022 gives.
const DEFAULT_FILE_MODE: u32 = 0o644;

pub use crate::spec::error::{Error, SpecError};

/// Not wrong, but worth knowing before spending a build on it.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Warning {
    pub key: String,
    pub message: String,
}

/// A checked spec and where it came from.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub path: PathBuf,
    pub spec: Spec,
    pub warnings: Vec<Warning>,
}

impl Spec {
    pub fn timeout(&self) -> Duration {
        self.build.timeout
    }

    /// The Kubernetes version as written, if any (always there for an EKS-optimized base).
    pub fn kubernetes(&self) -> Option<&str> {
        self.base.kubernetes.as_deref()
    }

    pub fn arch(&self) -> Arch {
        self.base.arch
    }

    pub fn variant(&self) -> Variant {
        self.base.variant
    }

    pub fn engine(&self) -> Engine {
        self.build.engine
    }

    pub fn provision_via(&self) -> ProvisionVia {
        self.build.provision_via
    }

    /// One spec per AMI to make: each variant's (its `[base]` and `[build]`, its `member` set),
    /// or this one alone without `[[variants]]`.
    pub fn members(&self) -> Vec<Spec> {
        if self.variants.is_empty() {
            return vec![self.clone()];
        }
        self.variants
            .iter()
            .map(|v| Spec {
                base: v.base.clone(),
                build: v.build.clone(),
                variants: Vec::new(),
                member: Some(v.member),
                ..self.clone()
            })
            .collect()
    }

    /// The release set's members (`[[variants]]`), in order; empty for one AMI (`check` holds
    /// their parameters apart: `Cluster::parameters`).
    pub fn set(&self) -> Vec<Member> {
        self.variants.iter().map(|v| v.member).collect()
    }
}

pub fn load(path: &Path) -> Result<Loaded, SpecError> {
    let text = std::fs::read_to_string(path).map_err(|e| SpecError {
        file: path.display().to_string(),
        line: 0,
        column: 0,
        key: "file".into(),
        message: format!(
            "cannot read it ({e}); write a commented one with `gio-ami init`, or name another \
             with the SPEC argument"
        ),
    })?;
    let (spec, warnings) = parse(&path.display().to_string(), &text)?;
    let loaded = Loaded { path: path.to_path_buf(), spec, warnings };
    let builds = std::iter::once(("build".to_string(), &loaded.spec.build))
        .chain(loaded.spec.variants.iter().enumerate().map(|(n, v)| (format!("variants[{n}]"), &v.build)));
    for (table, build) in builds {
        let Some((n, file, source)) = build
            .files
            .iter()
            .enumerate()
            .map(|(n, file)| (n, file, loaded.source(&file.source)))
            .find(|(_, _, source)| !source.is_file())
        else {
            continue;
        };
        let (line, column) = line_column(&text, file.span.start);
        return Err(SpecError {
            file: path.display().to_string(),
            line,
            column,
            key: format!("{table}.files[{n}].source"),
            message: format!(
                "{} is not a file on this machine: `source` is relative to the spec's directory \
                 ({}); fix the path or add the file",
                source.display(),
                loaded.dir().display()
            ),
        });
    }
    Ok(loaded)
}

impl Loaded {
    /// The spec's directory, which its relative paths start from.
    pub fn dir(&self) -> &Path {
        self.path.parent().filter(|dir| !dir.as_os_str().is_empty()).unwrap_or(Path::new("."))
    }

    /// A path of the spec (a script, a file's source) as this machine finds it: beside the spec,
    /// as written when the spec is in the working directory.
    pub fn source(&self, written: &Path) -> PathBuf {
        self.path.parent().unwrap_or(Path::new("")).join(written)
    }
}

/// Parses and validates; `file` only labels the errors.
pub fn parse(file: &str, text: &str) -> Result<(Spec, Vec<Warning>), SpecError> {
    let at = |span: Option<Range<usize>>, key: &str, message: String| {
        let (line, column) = span.map_or((0, 0), |s| line_column(text, s.start));
        SpecError { file: file.to_string(), line, column, key: key.to_string(), message }
    };
    // Parsed first as plain TOML, so that what remains are errors of a key's value or name,
    // which then point at that key.
    text.parse::<toml::Table>().map_err(|e| {
        let message = e.message().trim().to_string();
        at(e.span(), "syntax", message)
    })?;
    let written: SpecFile = toml::from_str(text).map_err(|e| {
        let message = e.message().trim().to_string();
        // An empty span at the start is the top level (a missing section), not the first key.
        let whole_file =
            e.span().is_some_and(|s| s.start == 0 && (s.is_empty() || s.end >= text.trim_end().len()));
        let key = e.span().filter(|_| !whole_file).map(|s| key_at(text, s.start)).filter(|k| !k.is_empty());
        match key {
            Some(key) => at(e.span(), &key, message),
            None => at(e.span(), "spec", format!("{message} (`gio-ami init` writes a commented example)")),
        }
    })?;
    let spec = validate(written).map_err(|(span, key, message)| {
        // A rule about a whole section (no value to point at) points at its header.
        let span = if span.is_empty() { header_span(text, &key).unwrap_or(span) } else { span };
        at(Some(span), &key, message)
    })?;
    let warnings = warnings(&spec);
    Ok((spec, warnings))
}

type Invalid = (Range<usize>, String, String);

/// Where the `[section]` header stands in the text.
fn header_span(text: &str, section: &str) -> Option<Range<usize>> {
    let header = format!("[{section}]");
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        if line.trim() == header {
            let start = offset + line.len() - line.trim_start().len();
            return Some(start..start + header.len());
        }
        offset += line.len();
    }
    None
}

fn one_of<T: Choice>(value: &Spanned<String>, key: &str) -> Result<T, Invalid> {
    T::from_name(value.get_ref()).ok_or_else(|| {
        (
            value.span(),
            key.to_string(),
            format!("unknown value `{}` (allowed: {})", value.get_ref(), choice::allowed::<T>()),
        )
    })
}

/// Checks the spec as written, in the order its tables come, and makes the typed spec of it.
fn validate(written: SpecFile) -> Result<Spec, Invalid> {
    let name = &written.image.name;
    if let Some(bad) = unknown_placeholder(name.get_ref()) {
        return Err((
            name.span(),
            "image.name".into(),
            format!("unknown placeholder `{{{bad}}}` (allowed: {{k8s}}, {{date}}, {{git_sha}}, {{n}})"),
        ));
    }
    let base = validate_base(&written.base)?;
    // The family as written, checked or not: an explicit Bottlerocket base has no shell either.
    let family = written.base.family.as_ref().and_then(|f| Family::from_name(f.get_ref()));
    let build = validate_build(written.build.clone(), family)?;
    let variants = validate_variants(&written, family)?;
    if variants.is_empty() {
        // The builder's type as written, or (the default) where the architecture is.
        let typed = &written.build.instance_type;
        let span = if typed.span().is_empty() { written.base.arch.span() } else { typed.span() };
        builder_fits(&build, base.arch, span, "build.instance_type", "[build]")?;
    }
    let members: Vec<Member> = match variants.is_empty() {
        true => vec![Member { arch: base.arch, variant: base.variant }],
        false => variants.iter().map(|v| v.member).collect(),
    };
    validate_parameters(&written.clusters, &members)?;
    let disks = validate_disks(written.disks)?;
    let mut soaks = validate_promotions(&written.clusters)?;
    let own = validate_accounts(&written.accounts, &written.clusters)?;
    let clusters = written
        .clusters
        .into_iter()
        .map(|(name, c)| Cluster {
            soak: soaks.remove(&name),
            region: c.region,
            ssm_parameter: c.ssm_parameter.map(Spanned::into_inner),
            promote_from: c.promote_from.map(Spanned::into_inner),
            protect: c.protect,
            account: c.account.map(Spanned::into_inner).or_else(|| own.clone()),
            name,
        })
        .collect();
    let image = written.image;
    Ok(Spec {
        image: Image {
            name: image.name.into_inner(),
            description: image.description,
            contact: image.contact,
            tags: image.tags,
        },
        base,
        build,
        disks,
        variants,
        member: None,
        clusters,
        accounts: written.accounts,
    })
}

/// Each `[[variants]]` table over `[base]` and `[build]`, checked as they are (an error in a
/// value the table sets names the table), then as a set: one AMI per architecture and variant,
/// each built on an instance type of its architecture.
fn validate_variants(written: &SpecFile, family: Option<Family>) -> Result<Vec<SetVariant>, Invalid> {
    let mut variants: Vec<SetVariant> = Vec::new();
    for (n, table) in written.variants.iter().enumerate() {
        let key = format!("variants[{n}]");
        let span = table.span();
        // [base] and [build] passed on their own: what fails now is a value this table sets.
        let in_table = |(at, wrong, message): Invalid| {
            let wrong = match wrong.split_once('.') {
                Some(("base" | "build", rest)) => format!("{key}.{rest}"),
                _ => wrong,
            };
            (at, wrong, message)
        };
        let v: &VariantSpec = table.get_ref();
        let base = validate_base(&v.base(&written.base)).map_err(in_table)?;
        let build = validate_build(v.build(&written.build), family).map_err(in_table)?;
        let member = Member { arch: base.arch, variant: base.variant };
        if let Some(earlier) = variants.iter().position(|other| other.member == member) {
            return Err((
                span,
                key,
                format!(
                    "variants[{earlier}] is {member} too: a release has one AMI per architecture and \
                     variant; remove one of the two tables or change its arch or variant"
                ),
            ));
        }
        let typed = v.instance_type.as_ref().map_or(span.clone(), Spanned::span);
        builder_fits(&build, member.arch, typed, &format!("{key}.instance_type"), "this [[variants]] table")?;
        variants.push(SetVariant { member, base, build });
    }
    Ok(variants)
}

/// A builder of another architecture than its base cannot launch it (RunInstances refuses the
/// pair), so a build would fail minutes in; the offline engine launches nothing.
fn builder_fits(
    build: &Build,
    arch: Arch,
    span: Range<usize>,
    key: &str,
    table: &str,
) -> Result<(), Invalid> {
    let typed = instance_arch(&build.instance_type);
    match typed {
        Some(typed) if typed != arch && build.engine != Engine::Offline => Err((
            span,
            key.to_string(),
            format!(
                "{} is an {} instance type, but the AMI is {}: RunInstances refuses a builder of \
                 another architecture than its base; set instance_type in {table} to an {} type \
                 ({})",
                build.instance_type,
                typed.name(),
                arch.name(),
                arch.name(),
                match arch {
                    Arch::Arm64 => "Graviton: t4g.medium, m7g.large, c7g.large, g5g.xlarge, …",
                    Arch::X86_64 => "t3.medium, m7i.large, c7i.large, g5.xlarge, …",
                }
            ),
        )),
        _ => Ok(()),
    }
}

/// The architecture an instance type's name tells, where it tells one. EC2 marks AWS Graviton
/// families with a `g` among the attributes after the generation (t4g, m7gd, c6gn, g5g, is4gen)
/// and names the first Graviton a1; every other family is x86_64 (g5 is a GPU, not a Graviton),
/// except Mac instances, which EKS does not run, and shapes like u-6tb1 that are not told apart
/// here. <https://docs.aws.amazon.com/ec2/latest/instancetypes/instance-type-names.html>
pub fn instance_arch(instance_type: &str) -> Option<Arch> {
    let family = instance_type.split('.').next()?;
    let letters = family.find(|c: char| c.is_ascii_digit())?;
    let (prefix, rest) = family.split_at(letters);
    let generation = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
    let attributes = &rest[generation..];
    if prefix.is_empty() || prefix == "mac" || family.contains('-') {
        return None;
    }
    Some(if family == "a1" || attributes.contains('g') { Arch::Arm64 } else { Arch::X86_64 })
}

/// Each cluster's parameter: the placeholders it takes, each standing for something the AMIs
/// vary, and one parameter per AMI (two AMIs writing one parameter would overwrite each other).
fn validate_parameters(clusters: &BTreeMap<String, ClusterSpec>, members: &[Member]) -> Result<(), Invalid> {
    for (name, cluster) in clusters {
        let Some(parameter) = &cluster.ssm_parameter else { continue };
        let key = format!("clusters.{name}.ssm_parameter");
        let refuse = |message: String| Err((parameter.span(), key.clone(), message));
        let template = parameter.get_ref();
        for placeholder in placeholders(template) {
            let Some(varies) = Member::differ(members, placeholder) else {
                return refuse(format!(
                    "unknown placeholder `{{{placeholder}}}` (allowed: {{arch}}, {{variant}})"
                ));
            };
            // Without a set there is nothing to fill it from; a set's variants all fill it (a
            // placeholder no variant varies is only worth a warning: `warnings`).
            if !varies && members.len() < 2 {
                let value = members[0].fill(&format!("{{{placeholder}}}"));
                return refuse(format!(
                    "`{{{placeholder}}}` tells the AMIs of a release set apart, but this spec makes one \
                     AMI ({placeholder} {value}): write {value} in the name, or add [[variants]] tables"
                ));
            }
        }
        let mut written: Vec<(String, Member)> = Vec::new();
        for member in members {
            let filled = member.fill(template);
            if let Some((_, other)) = written.iter().find(|(p, _)| *p == filled) {
                let differs = if other.arch != member.arch { "arch" } else { "variant" };
                return refuse(format!(
                    "the {other} and {member} AMIs would both write {filled}, each overwriting the \
                     other: put `{{{differs}}}` in the name (e.g. \"/gio/eks/{name}/{{arch}}/{{variant}}/node-ami\")"
                ));
            }
            written.push((filled, *member));
        }
    }
    Ok(())
}

/// The `{…}` names of a template, in order.
fn placeholders(template: &str) -> impl Iterator<Item = &str> {
    template.split('{').skip(1).filter_map(|part| part.split_once('}').map(|(name, _)| name))
}

fn validate_base(base: &BaseSpec) -> Result<Base, Invalid> {
    let source = match (&base.ami, &base.family, &base.kubernetes) {
        (Some(ami), _, _) => BaseSource::Ami(ami.get_ref().parse::<AmiId>().map_err(|_| {
            (ami.span(), "base.ami".into(), format!("`{}` is not an AMI id (ami-…)", ami.get_ref()))
        })?),
        (None, Some(family), Some(k8s)) => {
            let family = one_of::<Family>(family, "base.family")?;
            if !is_kubernetes_version(k8s.get_ref()) {
                return Err((
                    k8s.span(),
                    "base.kubernetes".into(),
                    format!("`{}` is not a Kubernetes minor version (e.g. \"1.31\")", k8s.get_ref()),
                ));
            }
            BaseSource::Eks { family, kubernetes: k8s.get_ref().clone() }
        }
        (None, _, _) => {
            return Err((
                0..0,
                "base".into(),
                format!(
                    "set either `ami = \"ami-…\"`, or `family` ({}) and `kubernetes` (e.g. \"1.31\")",
                    choice::allowed::<Family>()
                ),
            ))
        }
    };
    Ok(Base {
        source,
        family_label: base.family.as_ref().map(|f| f.get_ref().clone()),
        kubernetes: base.kubernetes.as_ref().map(|k| k.get_ref().clone()),
        arch: one_of(&base.arch, "base.arch")?,
        variant: one_of(&base.variant, "base.variant")?,
    })
}

fn validate_build(build: BuildSpec, family: Option<Family>) -> Result<Build, Invalid> {
    let engine = one_of::<Engine>(&build.engine, "build.engine")?;
    let provision_via = one_of::<ProvisionVia>(&build.provision_via, "build.provision_via")?;
    let timeout = humantime::parse_duration(build.timeout.get_ref()).map_err(|_| {
        (
            build.timeout.span(),
            "build.timeout".into(),
            format!("`{}` is not a duration (e.g. \"30m\", \"1h 30m\")", build.timeout.get_ref()),
        )
    })?;
    if provision_via == ProvisionVia::Ssm && build.iam_instance_profile.is_none() {
        return Err((
            build.provision_via.span(),
            "build.provision_via".into(),
            "SSM Run Command needs the builder to have an instance profile with \
             AmazonSSMManagedInstanceCore: set build.iam_instance_profile"
                .into(),
        ));
    }
    if family == Some(Family::Bottlerocket) && engine == Engine::Offline {
        return Err((build.engine.span(), "build.engine".into(), crate::spec::BOTTLEROCKET_OFFLINE.into()));
    }
    if let (Some(Family::Bottlerocket), Some(script)) = (family, build.provision.first()) {
        return Err((
            script.span(),
            "build.provision".into(),
            "Bottlerocket has no shell to run provisioning scripts; customize it through its \
             settings API or its own build, or pick family al2023"
                .into(),
        ));
    }
    Ok(Build {
        engine,
        instance_type: build.instance_type.into_inner(),
        subnet: build.subnet,
        security_group: build.security_group,
        iam_instance_profile: build.iam_instance_profile,
        provision: build.provision.into_iter().map(Spanned::into_inner).collect(),
        provision_via,
        pre_snapshot: build.pre_snapshot,
        timeout,
        root_size_gib: build.root_size_gib,
        files: build
            .files
            .iter()
            .enumerate()
            .map(|(n, file)| validate_file(n, file))
            .collect::<Result<_, _>>()?,
        network: build.network,
    })
}

fn validate_file(n: usize, written: &Spanned<FileSpec>) -> Result<File, Invalid> {
    let file = written.get_ref();
    let refuse =
        |field: &str, message: String| (written.span(), format!("build.files[{n}].{field}"), message);
    if !file.destination.starts_with('/') || file.destination.trim_end_matches('/').is_empty() {
        return Err(refuse(
            "destination",
            format!("`{}` is not an absolute path of a file in the image (e.g. /etc/motd)", file.destination),
        ));
    }
    let mode = match &file.mode {
        None => DEFAULT_FILE_MODE,
        Some(text) => u32::from_str_radix(text, 8).ok().filter(|m| *m <= 0o7777).ok_or_else(|| {
            refuse("mode", format!("`{text}` is not an octal mode (e.g. \"0644\", \"0755\")"))
        })?,
    };
    let owner = match file.owner.as_deref() {
        None => None,
        Some(text) => {
            let (user, group) = match text.split_once(':') {
                Some((user, group)) => (user, Some(group)),
                None => (text, None),
            };
            let name = |part: &str| !part.is_empty() && !part.contains([':', ' ', '/']);
            if !name(user) || group.is_some_and(|g| !name(g)) {
                return Err(refuse(
                    "owner",
                    format!("`{text}` is not `user[:group]` (e.g. \"root:root\", \"1000\")"),
                ));
            }
            Some(Owner { user: user.to_string(), group: group.map(str::to_string) })
        }
    };
    Ok(File {
        source: PathBuf::from(&file.source),
        destination: file.destination.clone(),
        mode,
        owner,
        span: written.span(),
    })
}

fn validate_disks(disks: Vec<Spanned<Disk>>) -> Result<Vec<Disk>, Invalid> {
    let mut devices: Vec<&str> = Vec::new();
    for (n, disk) in disks.iter().enumerate() {
        let key = format!("disks[{n}]");
        let d = disk.get_ref();
        d.validate().map_err(|e| (disk.span(), key.clone(), e.0))?;
        if devices.contains(&d.device.as_str()) {
            return Err((disk.span(), key, format!("{} is listed twice", d.device)));
        }
        devices.push(&d.device);
    }
    if disks.len() + 1 > MAX_VOLUMES {
        return Err((0..0, "disks".into(), format!("at most {} extra disks", MAX_VOLUMES - 1)));
    }
    Ok(disks.into_iter().map(Spanned::into_inner).collect())
}

/// Role ARNs, regions, external ids and session names as STS and EC2 take them, one account at
/// most acting with the caller's own credentials, and clusters in configured accounts. Returns
/// that account, the one of clusters that name none.
fn validate_accounts(
    accounts: &BTreeMap<String, AccountSpec>,
    clusters: &BTreeMap<String, ClusterSpec>,
) -> Result<Option<String>, Invalid> {
    let mut own: Option<&str> = None;
    for (name, account) in accounts {
        match &account.role_arn {
            Some(role) if !is_role_arn(role.get_ref()) => {
                return Err((
                    role.span(),
                    format!("accounts.{name}.role_arn"),
                    format!(
                        "`{}` is not an IAM role ARN (arn:aws:iam::123456789012:role/NAME, or \
                         role/PATH/NAME): a role's name is 1 to {ROLE_NAME_MAX} letters, digits and \
                         _+=,.@- (no spaces), its path at most {ROLE_PATH_MAX} printable ASCII \
                         characters, so no account can have this role",
                        role.get_ref()
                    ),
                ));
            }
            Some(_) => {}
            None => match own {
                Some(other) => {
                    return Err((0..0, format!("accounts.{name}"), format!("accounts `{other}` and `{name}` both have no role_arn, so both would be the caller's own account: give one of them the role gio-ami assumes there")));
                }
                None => own = Some(name),
            },
        }
        for region in &account.regions {
            if crate::core::ids::check_region(region.get_ref()).is_err() {
                return Err((
                    region.span(),
                    format!("accounts.{name}.regions"),
                    format!("`{}` is not an AWS region name (e.g. eu-west-1)", region.get_ref()),
                ));
            }
        }
        // STS's patterns: external ids [\w+=,.@:/-]{2,1224}, session names [\w+=,.@-]{2,64}.
        let fields = [
            (&account.external_id, "external_id", ":/", 1224),
            (&account.session_name, "session_name", "", 64),
        ];
        for (value, field, extra, max) in fields {
            if let Some(value) = value {
                let text = value.get_ref();
                let allowed =
                    |c: char| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c) || extra.contains(c);
                if !(2..=max).contains(&text.len()) || !text.chars().all(allowed) {
                    return Err((value.span(), format!("accounts.{name}.{field}"), format!("`{text}` is not a valid {field}: 2 to {max} of letters, digits and _+=,.@-{extra}")));
                }
            }
        }
    }
    for (name, cluster) in clusters {
        let key = format!("clusters.{name}.account");
        match &cluster.account {
            Some(account) if !accounts.contains_key(account.get_ref()) => {
                let known = accounts.keys().map(String::as_str).collect::<Vec<_>>().join(", ");
                return Err((
                    account.span(),
                    key,
                    format!(
                        "`{}` names no [accounts] table of this spec (accounts: {})",
                        account.get_ref(),
                        if known.is_empty() { "none" } else { &known }
                    ),
                ));
            }
            None if !accounts.is_empty() && own.is_none() => {
                return Err((0..0, format!("clusters.{name}"), format!("every configured account has a role_arn, so none is the caller's own: set clusters.{name}.account to the account the cluster runs in")));
            }
            _ => {}
        }
    }
    Ok(own.map(str::to_string))
}

/// IAM's limits on a role (CreateRole, https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateRole.html,
/// and IAM quotas, https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html):
/// a name of 1 to 64 of `[\w+=,.@-]`, a path of at most 512 characters that is `/` or begins
/// and ends with `/` around printable ASCII (`\u0021`-`\u007E`). A role ARN outside them names a
/// role no account can have: AssumeRole could only fail, so `check` says so at its line.
const ROLE_NAME_MAX: usize = 64;
const ROLE_PATH_MAX: usize = 512;

/// The JSON Schema's spelling of `is_role_arn` (the lengths aside: `check` counts them).
const ROLE_ARN_PATTERN: &str = r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/([!-~]*/)?[A-Za-z0-9_+=,.@-]+$";

fn is_role_arn(arn: &str) -> bool {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    matches!(parts.as_slice(), ["arn", partition, "iam", "", account, resource]
        if partition.starts_with("aws")
            && account.len() == 12
            && account.bytes().all(|b| b.is_ascii_digit())
            && resource.strip_prefix("role/").is_some_and(is_role_path_and_name))
}

/// `path/name` as a role ARN spells them after `role/`: the path without its leading `/`.
fn is_role_path_and_name(path_and_name: &str) -> bool {
    let (path, name) = match path_and_name.rsplit_once('/') {
        Some((inner, name)) => (format!("/{inner}/"), name),
        None => ("/".to_string(), path_and_name),
    };
    let name_ok = (1..=ROLE_NAME_MAX).contains(&name.len())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c));
    let path_ok = path.len() <= ROLE_PATH_MAX && path.bytes().all(|b| (0x21..=0x7e).contains(&b));
    name_ok && path_ok
}

/// `promote_from` names another configured cluster, the chain of them never comes back to where
/// it started, and a soak is a duration of a cluster that is promoted to. Returns the soaks, by
/// cluster.
fn validate_promotions(
    clusters: &BTreeMap<String, ClusterSpec>,
) -> Result<BTreeMap<String, Duration>, Invalid> {
    let names = || clusters.keys().map(String::as_str).collect::<Vec<_>>().join(", ");
    let mut soaks = BTreeMap::new();
    for (name, cluster) in clusters {
        if let Some(from) = &cluster.promote_from {
            let key = format!("clusters.{name}.promote_from");
            if from.get_ref() == name {
                return Err((from.span(), key, format!("cluster `{name}` cannot take its releases from itself; name another cluster, or remove the key")));
            }
            if !clusters.contains_key(from.get_ref()) {
                return Err((
                    from.span(),
                    key,
                    format!("`{}` names no cluster of this spec (clusters: {})", from.get_ref(), names()),
                ));
            }
        }
        if let Some(soak) = &cluster.soak {
            let key = format!("clusters.{name}.soak");
            let Ok(duration) = humantime::parse_duration(soak.get_ref()) else {
                return Err((
                    soak.span(),
                    key,
                    format!("`{}` is not a duration (e.g. \"48h\", \"2d\", \"90m\")", soak.get_ref()),
                ));
            };
            if cluster.promote_from.is_none() {
                return Err((soak.span(), key, format!("a soak is how long the cluster promoted from had a release; set clusters.{name}.promote_from too")));
            }
            soaks.insert(name.clone(), duration);
        }
    }
    for (start, cluster) in clusters {
        let Some(from) = &cluster.promote_from else { continue };
        let mut path = vec![start.as_str()];
        let mut next = Some(from.get_ref().as_str());
        while let Some(name) = next {
            path.push(name);
            if name == start {
                return Err((
                    from.span(),
                    format!("clusters.{start}.promote_from"),
                    format!("promotions go round in a cycle ({}): one of these clusters must get its releases from `publish`, not from another cluster", path.join(" <- ")),
                ));
            }
            if path[..path.len() - 1].contains(&name) {
                break; // a cycle that does not pass through `start`: reported from one of its own
            }
            next = clusters.get(name).and_then(|c| c.promote_from.as_ref()).map(|f| f.get_ref().as_str());
        }
    }
    Ok(soaks)
}

fn unknown_placeholder(template: &str) -> Option<String> {
    placeholders(template).find(|name| !["k8s", "date", "git_sha", "n"].contains(name)).map(str::to_string)
}

fn is_kubernetes_version(v: &str) -> bool {
    matches!(v.split_once('.'), Some((major, minor))
        if major == "1" && !minor.is_empty() && minor.len() <= 2 && minor.bytes().all(|b| b.is_ascii_digit()))
}

fn warnings(spec: &Spec) -> Vec<Warning> {
    let mut warnings = Vec::new();
    let instance_type = &spec.build.instance_type;
    let size = instance_type.split('.').nth(1).unwrap_or_default();
    if matches!(size, "nano" | "micro" | "small") {
        warnings.push(Warning {
            key: "build.instance_type".into(),
            message: format!(
                "{instance_type} has 2 GiB of memory or less: kubelet, containerd and the system \
                 pods leave no room for workloads, and nodes go NotReady under memory pressure. \
                 t2.medium / t3.medium (4 GiB) is the smallest that works"
            ),
        });
    }
    warnings.extend(files_ignored(spec, spec.engine()));
    warnings.extend(unvaried_placeholders(spec));
    if spec.image.contact.is_none() {
        warnings.push(Warning {
            key: "image.contact".into(),
            message: "no support contact: the history's contact column will be empty".into(),
        });
    }
    warnings
}

/// A set's parameter placeholder no variant varies: every variant writes the same there, which
/// is fine (a path shaped like AWS's own, ready for a variant to come) but may be a slip.
fn unvaried_placeholders(spec: &Spec) -> Vec<Warning> {
    let set = spec.set();
    let Some(first) = set.first() else { return Vec::new() };
    let mut warnings = Vec::new();
    for cluster in &spec.clusters {
        let Some(template) = &cluster.ssm_parameter else { continue };
        for placeholder in placeholders(template).filter(|p| Member::differ(&set, p) == Some(false)) {
            warnings.push(Warning {
                key: format!("clusters.{}.ssm_parameter", cluster.name),
                message: format!(
                    "every variant has {placeholder} {}, so `{{{placeholder}}}` tells none apart",
                    first.fill(&format!("{{{placeholder}}}"))
                ),
            });
        }
    }
    warnings
}

/// The spec's `[[build.files]]` left out by a build with `engine` (only offline copies them): what
/// `check` warns of for the spec's engine, and `build` for the one it runs.
pub fn files_ignored(spec: &Spec, engine: Engine) -> Option<Warning> {
    (!spec.build.files.is_empty() && engine != Engine::Offline).then(|| Warning {
        key: FILES_KEY.into(),
        message: format!(
            "only the offline engine copies build.files; a {} build ignores them (build with \
             --engine offline, or copy them from a provisioning script)",
            engine.name()
        ),
    })
}

const FILES_KEY: &str = "build.files";

/// The dotted key whose line holds `offset` (`build.timeout`, `disks[1].size_gib`), or the table
/// when the offset is on a header line.
fn key_at(text: &str, offset: usize) -> String {
    let mut table = String::new();
    let mut arrays: BTreeMap<String, usize> = BTreeMap::new();
    let mut start = 0;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim();
        let is_header = trimmed.starts_with('[');
        if is_header {
            let name =
                trimmed.trim_start_matches('[').split(']').next().unwrap_or_default().trim().to_string();
            table = if trimmed.starts_with("[[") {
                let n = arrays.entry(name.clone()).and_modify(|n| *n += 1).or_insert(0);
                format!("{name}[{n}]")
            } else {
                name
            };
        }
        if offset < start + line.len() {
            return match trimmed.split_once('=') {
                Some((key, _)) if !is_header => {
                    let key = key.trim().trim_matches('"');
                    if table.is_empty() {
                        key.to_string()
                    } else {
                        format!("{table}.{key}")
                    }
                }
                _ => table,
            };
        }
        start += line.len();
    }
    table
}

fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    (line, column)
}

/// Fills the name template. `n` tells apart several builds of one day.
pub fn render_name(template: &str, k8s: Option<&str>, date: &str, git_sha: Option<&str>, n: &str) -> String {
    template
        .replace("{k8s}", k8s.unwrap_or("custom"))
        .replace("{date}", date)
        .replace("{git_sha}", git_sha.unwrap_or("nogit"))
        .replace("{n}", n)
}

/// The commented spec `gio-ami init` writes.
pub const TEMPLATE: &str = r#"#:schema ./gio-ami.schema.json
# gio-ami.toml: what `gio-ami build` makes. `gio-ami check` validates it without AWS.

[image]
# AMI name; {k8s}, {date} (YYYYMMDD), {git_sha} (short commit of this directory) and {n}
# (1, 2, … for several builds of a day) are filled in.
name = "gio-node-{k8s}-{date}-{n}"
description = "EKS worker node"
contact = "ops@example.org"          # support contact, shown in `gio-ami history`
tags = { team = "platform" }         # added to the AMI and its snapshots

[base]
family = "al2023"                    # al2 | al2023 | bottlerocket
kubernetes = "1.31"
arch = "x86_64"                      # x86_64 | arm64
variant = "standard"                 # standard | nvidia
# ami = "ami-0123456789abcdef0"      # an explicit base instead of the EKS-optimized one

[build]
engine = "native"                    # native (no SSH: the builder provisions itself) | packer | offline (no instance: libguestfs here)
instance_type = "t3.medium"          # 4 GiB is the least an EKS node runs well with
# subnet = "subnet-0123456789abcdef0"
# security_group = "sg-0123456789abcdef0"
# iam_instance_profile = "gio-ami-builder"   # needed for provision_via = "ssm"
provision = []                       # scripts run in order on the builder, e.g. ["scripts/provision.sh"]
provision_via = "user-data"          # user-data | ssm
pre_snapshot = true                  # snapshot first: CreateImage then copies less
timeout = "30m"                      # how long the guest may take before the build gives up
# network = false                    # offline: whether provisioning scripts reach the network
# [[build.files]]                    # offline: a file copied into the image, one table each
# source = "files/motd"              # relative to this file
# destination = "/etc/motd"
# mode = "0644"
# owner = "root:root"

# Extra EBS disks, one table each.
# [[disks]]
# device = "/dev/xvdb"               # /dev/sd[b-z] or /dev/xvd[b-z]
# size_gib = 50
# type = "gp3"                       # gp2 | gp3 | io1 | io2 | st1 | sc1 | standard
# iops = 3000                        # gp3: 3000-80000; io1/io2: required
# throughput = 125                   # gp3 only, MiB/s
# encrypted = true
# delete_on_termination = true

# One release of several AMIs, one per table: [base] arch/variant and any [build] key overridden.
# Each cluster's ssm_parameter then names {arch} and {variant}: one parameter per variant.
# [[variants]]
# arch = "x86_64"
# [[variants]]
# arch = "arm64"
# instance_type = "t4g.medium"        # a builder of the variant's architecture (Graviton: t4g, m7g, c7g)

# Clusters that run this image: columns of `gio-ami history`, targets of `gio-ami publish`.
# [clusters.staging]
# region = "eu-west-1"
# ssm_parameter = "/gio/eks/staging/node-ami"
# [clusters.prod]
# region = "eu-west-1"
# ssm_parameter = "/gio/eks/prod/node-ami"
# promote_from = "staging"           # `gio-ami promote --to prod` takes what staging runs
# soak = "48h"                       # once staging has had it this long
# protect = true                     # and protects it from deregistration
# account = "prod"                   # the [accounts.prod] it runs in (default: the caller's)

# Accounts `images`, `history`, `cost`, `outdated` read, and `wipe` / `prune` guard.
# [accounts.build]                   # no role_arn: the caller's own account
# regions = ["eu-west-1", "us-east-1"]
# [accounts.prod]
# role_arn = "arn:aws:iam::222233334444:role/gio-ami-reader"
# regions = ["eu-west-1"]
# external_id = "gio-ami"            # when the role's trust policy asks for one
"#;

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str) -> Result<(Spec, Vec<Warning>), String> {
        parse("gio-ami.toml", text).map_err(|e| e.to_string())
    }

    const MINIMAL: &str = "[image]\nname = \"n-{k8s}\"\ncontact = \"ops@x\"\n[base]\nfamily = \"al2023\"\nkubernetes = \"1.31\"\n";

    #[test]
    fn the_template_is_valid_and_quiet() {
        let (spec, warnings) = check(TEMPLATE).unwrap();
        assert_eq!(warnings, []);
        assert_eq!(spec.build.instance_type, "t3.medium");
        assert_eq!(spec.timeout(), Duration::from_secs(1800));
        assert!(spec.build.pre_snapshot);
    }

    #[test]
    fn defaults_fill_what_is_left_out() {
        let (spec, _) = check(MINIMAL).unwrap();
        assert_eq!(spec.base.arch, Arch::X86_64);
        assert_eq!(spec.build.engine, Engine::Native);
        assert!(spec.disks.is_empty());
    }

    #[test]
    fn checked_keys_read_as_kinds() {
        let (spec, _) = check(MINIMAL).unwrap();
        assert_eq!(
            (&spec.base.source, spec.arch(), spec.variant()),
            (
                &BaseSource::Eks { family: Family::Al2023, kubernetes: "1.31".into() },
                Arch::X86_64,
                Variant::Standard
            )
        );
        assert_eq!((spec.engine(), spec.provision_via()), (Engine::Native, ProvisionVia::UserData));
        let text = format!(
            "{MINIMAL}[build]\nengine = \"packer\"\nprovision_via = \"ssm\"\niam_instance_profile = \"p\"\n"
        );
        let (spec, _) = check(&text).unwrap();
        assert_eq!((spec.engine(), spec.provision_via()), (Engine::Packer, ProvisionVia::Ssm));
    }

    #[test]
    fn an_explicit_ami_keeps_family_and_kubernetes_as_labels() {
        let text = "[image]\nname = \"n\"\n[base]\nami = \"ami-12345678\"\nfamily = \"custom\"\nkubernetes = \"1.30\"\n";
        let (spec, _) = check(text).unwrap();
        assert_eq!(spec.base.source, BaseSource::Ami("ami-12345678".parse().unwrap()));
        assert_eq!(spec.base.family_label.as_deref(), Some("custom"));
        assert_eq!(spec.kubernetes(), Some("1.30"));
    }

    #[test]
    fn durations_and_accounts_are_settled_once() {
        let text = format!(
            "{MINIMAL}[build]\ntimeout = \"1h 30m\"\n[clusters.a]\nregion = \"r\"\n\
             [clusters.b]\nregion = \"r\"\npromote_from = \"a\"\nsoak = \"2days\"\n[accounts.own]\n"
        );
        let (spec, _) = check(&text).unwrap();
        assert_eq!(spec.timeout(), Duration::from_secs(5400));
        let b = &spec.clusters[1];
        assert_eq!((b.name.as_str(), b.soak), ("b", Some(Duration::from_secs(2 * 86_400))));
        assert_eq!(b.account.as_deref(), Some("own"), "a cluster naming no account runs in the caller's");
        assert_eq!(spec.clusters[0].soak, None);
    }

    #[test]
    fn an_absent_build_table_is_an_empty_one() {
        let (absent, _) = check(MINIMAL).unwrap();
        let (empty, _) = check(&format!("{MINIMAL}[build]\n")).unwrap();
        assert_eq!(absent.build, empty.build);
    }

    #[test]
    fn errors_point_at_line_column_and_key_with_allowed_values() {
        let cases = [
            (MINIMAL.replace("al2023", "al2025"), "gio-ami.toml:5:10: base.family: unknown value `al2025` (allowed: al2, al2023, bottlerocket)"),
            (format!("{MINIMAL}arch = \"sparc\"\n"), "gio-ami.toml:7:8: base.arch: unknown value `sparc` (allowed: x86_64, arm64)"),
            (MINIMAL.replace("1.31", "131"), "gio-ami.toml:6:14: base.kubernetes: `131` is not a Kubernetes minor version"),
            (format!("{MINIMAL}[[disks]]\ndevice = \"/dev/sda\"\nsize_gib = 5\n"), "gio-ami.toml:7:1: disks[0]: `/dev/sda` is not a data disk device name"),
            (format!("{MINIMAL}[[disks]]\ndevice = \"/dev/xvdb\"\nsize_gib = 50\niops = 100\n"), "disks[0]: /dev/xvdb: iops=100 is outside 3000..80000"),
            (format!("{MINIMAL}[[disks]]\ndevice = \"/dev/xvdb\"\nsize_gib = 5\n[[disks]]\ndevice = \"/dev/xvdb\"\nsize_gib = 5\n"), "disks[1]: /dev/xvdb is listed twice"),
            (format!("{MINIMAL}[build]\ntimeout = \"soon\"\n"), "build.timeout: `soon` is not a duration"),
            (format!("{MINIMAL}[build]\nengine = \"docker\"\n"), "build.engine: unknown value `docker` (allowed: native, packer, offline)"),
            (format!("{MINIMAL}[build]\nprovision_via = \"ssm\"\n"), "build.provision_via: SSM Run Command needs"),
            (MINIMAL.replace("n-{k8s}", "n-{version}"), "gio-ami.toml:2:8: image.name: unknown placeholder `{version}`"),
            (format!("{MINIMAL}colour = \"red\"\n"), "gio-ami.toml:7:1: base.colour: unknown field `colour`"),
            (format!("{MINIMAL}[build]\nroot_size_gib = \"30\"\n"), "gio-ami.toml:8:17: build.root_size_gib: invalid type: string"),
            ("[image]\nname = \"x\"\n[base]\narch = \"arm64\"\n".to_string(), "gio-ami.toml:3:1: base: set either `ami"),
            ("[image\n".to_string(), "gio-ami.toml:1:"),
            ("[image]\nname = \"x\"\n".to_string(), "gio-ami.toml:1:1: spec: missing field `base` (`gio-ami init`"),
            (format!("{MINIMAL}[clusters.prod]\nregion = \"r\"\npromote_from = \"stagin\"\n"), "gio-ami.toml:9:16: clusters.prod.promote_from: `stagin` names no cluster of this spec (clusters: prod)"),
            (format!("{MINIMAL}[clusters.prod]\nregion = \"r\"\npromote_from = \"prod\"\n"), "clusters.prod.promote_from: cluster `prod` cannot take its releases from itself"),
            (
                format!("{MINIMAL}[clusters.a]\nregion = \"r\"\npromote_from = \"b\"\n[clusters.b]\nregion = \"r\"\npromote_from = \"a\"\n"),
                "gio-ami.toml:9:16: clusters.a.promote_from: promotions go round in a cycle (a <- b <- a)",
            ),
            (format!("{MINIMAL}[clusters.a]\nregion = \"r\"\n[clusters.b]\nregion = \"r\"\npromote_from = \"a\"\nsoak = \"two days\"\n"), "clusters.b.soak: `two days` is not a duration"),
            (format!("{MINIMAL}[clusters.a]\nregion = \"r\"\nsoak = \"2d\"\n"), "clusters.a.soak: a soak is how long the cluster promoted from had a release; set clusters.a.promote_from"),
            (format!("{MINIMAL}[accounts.prod]\nrole_arn = \"arn:aws:iam::2222:role/r\"\n"), "gio-ami.toml:8:12: accounts.prod.role_arn: `arn:aws:iam::2222:role/r` is not an IAM role ARN"),
            (format!("{MINIMAL}[accounts.prod]\nrole_arn = \"arn:aws:iam::222222222222:role/gio ami reader\"\n"), "gio-ami.toml:8:12: accounts.prod.role_arn: `arn:aws:iam::222222222222:role/gio ami reader` is not an IAM role ARN"),
            (format!("{MINIMAL}[accounts.a]\n[accounts.b]\n"), "accounts.b: accounts `a` and `b` both have no role_arn"),
            (format!("{MINIMAL}[accounts.a]\nregions = [\"eu-west\"]\n"), "accounts.a.regions: `eu-west` is not an AWS region name"),
            (format!("{MINIMAL}[accounts.a]\nexternal_id = \"x\"\n"), "accounts.a.external_id: `x` is not a valid external_id"),
            (format!("{MINIMAL}[clusters.c]\nregion = \"r\"\naccount = \"prd\"\n[accounts.prod]\n"), "clusters.c.account: `prd` names no [accounts] table of this spec (accounts: prod)"),
            (format!("{MINIMAL}[clusters.c]\nregion = \"r\"\n[accounts.prod]\nrole_arn = \"arn:aws:iam::222233334444:role/r\"\n"), "clusters.c: every configured account has a role_arn"),
            ("[image]\n[base]\nami = \"ami-12345678\"\n".to_string(), "gio-ami.toml:1:1: image: missing field `name`"),
        ];
        for (text, expected) in cases {
            let err = check(&text).unwrap_err();
            assert!(err.contains(expected), "expected `{expected}` in `{err}`");
        }
    }

    #[test]
    fn a_role_arn_names_a_role_iam_could_create() {
        let name_64 = "r".repeat(64);
        let path_510 = "p".repeat(510); // with its two slashes: 512
        for arn in [
            "arn:aws:iam::222222222222:role/gio-ami-reader",
            "arn:aws:iam::222222222222:role/a_b+c=d,e.f@g-h",
            "arn:aws:iam::222222222222:role/ops/eks/gio-ami-reader",
            "arn:aws-cn:iam::222222222222:role/r",
            &format!("arn:aws:iam::222222222222:role/{name_64}"),
            &format!("arn:aws:iam::222222222222:role/{path_510}/r"),
        ] {
            assert!(is_role_arn(arn), "{arn}");
        }
        for arn in [
            "arn:aws:iam::222222222222:role/gio ami reader",
            "arn:aws:iam::222222222222:role/",
            "arn:aws:iam::222222222222:role/ops/",
            "arn:aws:iam::222222222222:role/ops team/r",
            "arn:aws:iam::222222222222:role/r\u{e9}le",
            "arn:aws:iam::222222222222:role/r#1",
            &format!("arn:aws:iam::222222222222:role/{name_64}r"),
            &format!("arn:aws:iam::222222222222:role/{path_510}p/r"),
            "arn:aws:iam::222222222222:user/r",
        ] {
            assert!(!is_role_arn(arn), "{arn}");
        }
    }

    #[test]
    fn key_at_names_the_dotted_key_of_a_line() {
        let text =
            "top = 1\n[build]\ntimeout = 3\n[[disks]]\ntype = 1\n[[disks]]\n\"type\" = 2\n[clusters.prod]\n";
        let at = |needle: &str| key_at(text, text.find(needle).unwrap());
        assert_eq!(at("1\n["), "top");
        assert_eq!(at("3"), "build.timeout");
        assert_eq!(at("type = 1"), "disks[0].type");
        assert_eq!(at("2"), "disks[1].type");
        assert_eq!(at("[clusters"), "clusters.prod");
    }

    #[test]
    fn build_files_are_checked_where_they_are_written() {
        let files =
            |table: &str| check(&format!("{MINIMAL}[build]\nengine = \"offline\"\n[[build.files]]\n{table}"));
        let (spec, warnings) = files(
            "source = \"motd\"\ndestination = \"/etc/motd\"\nmode = \"0600\"\nowner = \"ec2-user:wheel\"\n",
        )
        .unwrap();
        let file = &spec.build.files[0];
        assert_eq!((file.destination.as_str(), file.mode), ("/etc/motd", 0o600));
        assert_eq!(file.owner, Some(Owner { user: "ec2-user".into(), group: Some("wheel".into()) }));
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(files("source = \"a\"\ndestination = \"/a\"\n").unwrap().0.build.files[0].mode, 0o644);
        let err = files("source = \"a\"\ndestination = \"etc/a\"\n").unwrap_err();
        assert!(
            err.starts_with("gio-ami.toml:9:1: build.files[0].destination: `etc/a` is not an absolute path"),
            "{err}"
        );
        let err = files("source = \"a\"\ndestination = \"/a\"\nmode = \"rw\"\n").unwrap_err();
        assert!(err.contains("build.files[0].mode: `rw` is not an octal mode"), "{err}");
        let err = files("source = \"a\"\ndestination = \"/a\"\nowner = \"a:b:c\"\n").unwrap_err();
        assert!(err.contains("build.files[0].owner: `a:b:c` is not `user[:group]`"), "{err}");
    }

    #[test]
    fn files_with_another_engine_warn_and_bottlerocket_is_refused_offline() {
        let text = format!("{MINIMAL}[[build.files]]\nsource = \"a\"\ndestination = \"/a\"\n");
        let (_, warnings) = check(&text).unwrap();
        assert_eq!(warnings.len(), 1);
        assert!(
            warnings[0].message.starts_with("only the offline engine copies build.files"),
            "{warnings:?}"
        );
        let (spec, _) = check(&text).unwrap();
        assert_eq!(
            files_ignored(&spec, Engine::Offline),
            None,
            "built with --engine offline, they are copied"
        );
        let offline =
            check(&text.replace("[[build.files]]", "[build]\nengine = \"offline\"\n[[build.files]]"))
                .unwrap()
                .0;
        let ignored =
            files_ignored(&offline, Engine::Packer).expect("built with --engine packer, they are not");
        assert!(ignored.message.contains("a packer build ignores them"), "{ignored:?}");
        let bottlerocket = MINIMAL.replace("al2023", "bottlerocket");
        let err = check(&format!("{bottlerocket}[build]\nengine = \"offline\"\n")).unwrap_err();
        assert!(
            err.contains(
                "build.engine: Bottlerocket's root filesystem is read-only and verified by dm-verity"
            ),
            "{err}"
        );
    }

    #[test]
    fn a_missing_file_source_is_named_at_its_table() {
        let dir = std::env::temp_dir().join(format!("gio-ami-spec-files-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("gio-ami.toml");
        std::fs::write(&path, format!("{MINIMAL}[build]\nengine = \"offline\"\n[[build.files]]\nsource = \"nope\"\ndestination = \"/a\"\n")).unwrap();
        let err = load(&path).unwrap_err().to_string();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(err.contains("gio-ami.toml:9:1: build.files[0].source:"), "{err}");
        assert!(err.contains("nope is not a file on this machine"), "{err}");
    }

    #[test]
    fn small_instance_types_warn_and_say_why() {
        let (_, warnings) = check(&format!("{MINIMAL}[build]\ninstance_type = \"t2.small\"\n")).unwrap();
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].message.contains("t2.medium / t3.medium (4 GiB) is the smallest that works"));
        let (_, none) = check(&format!("{MINIMAL}[build]\ninstance_type = \"t2.medium\"\n")).unwrap();
        assert_eq!(none, []);
    }

    #[test]
    fn bottlerocket_takes_no_scripts() {
        let text = MINIMAL.replace("al2023", "bottlerocket") + "[build]\nprovision = [\"a.sh\"]\n";
        assert!(check(&text).unwrap_err().contains("Bottlerocket has no shell"));
    }

    #[test]
    fn names_fill_every_placeholder() {
        assert_eq!(
            render_name(
                "gio-node-{k8s}-{date}-{git_sha}-{n}",
                Some("1.31"),
                "20261125",
                Some("abc1234"),
                "2"
            ),
            "gio-node-1.31-20261125-abc1234-2"
        );
    }

    const SET: &str = "[build]\ninstance_type = \"t3.medium\"\n\
                       [[variants]]\narch = \"x86_64\"\n\
                       [[variants]]\narch = \"arm64\"\ninstance_type = \"t4g.medium\"\n\
                       [[variants]]\narch = \"x86_64\"\nvariant = \"nvidia\"\ninstance_type = \"g5.xlarge\"\n\
                       [clusters.staging]\nregion = \"eu-west-1\"\n\
                       ssm_parameter = \"/gio/eks/staging/{arch}/{variant}/node-ami\"\n";

    #[test]
    fn variants_override_base_and_build_and_each_gets_its_parameter() {
        let (spec, _) = check(&format!("{MINIMAL}{SET}")).unwrap();
        let members = spec.members();
        let shown: Vec<(String, &str)> =
            members.iter().map(|m| (m.member.unwrap().to_string(), m.build.instance_type.as_str())).collect();
        assert_eq!(
            shown,
            [
                ("x86_64/standard".to_string(), "t3.medium"),
                ("arm64/standard".to_string(), "t4g.medium"),
                ("x86_64/nvidia".to_string(), "g5.xlarge")
            ]
        );
        assert_eq!((members[1].arch(), members[2].variant()), (Arch::Arm64, Variant::Nvidia));
        assert!(members.iter().all(|m| m.variants.is_empty()), "a member is one AMI");
        let parameters: Vec<String> =
            spec.clusters[0].parameters(&spec.set()).into_iter().map(|(_, p)| p).collect();
        assert_eq!(
            parameters,
            [
                "/gio/eks/staging/x86_64/standard/node-ami",
                "/gio/eks/staging/arm64/standard/node-ami",
                "/gio/eks/staging/x86_64/nvidia/node-ami"
            ]
        );
        let (single, _) = check(MINIMAL).unwrap();
        assert_eq!(single.members().len(), 1);
        assert_eq!(single.members()[0].member, None, "without [[variants]] nothing changes");
    }

    #[test]
    fn a_bad_set_is_refused_at_its_line() {
        let refused = |extra: &str| check(&format!("{MINIMAL}{extra}")).unwrap_err();
        // MINIMAL has 6 lines; [build] is line 7, the first [[variants]] line 9.
        let twice = refused("[build]\ninstance_type = \"t3.medium\"\n[[variants]]\narch = \"x86_64\"\n[[variants]]\narch = \"arm64\"\ninstance_type = \"t4g.medium\"\n[[variants]]\nvariant = \"standard\"\n");
        assert!(
            twice.starts_with("gio-ami.toml:14:1: variants[2]: variants[0] is x86_64/standard too"),
            "{twice}"
        );
        let wrong_arch = refused("[[variants]]\narch = \"x86_64\"\n[[variants]]\narch = \"arm64\"\n[[variants]]\narch = \"arm64\"\nvariant = \"nvidia\"\ninstance_type = \"g5.xlarge\"\n");
        assert!(wrong_arch.starts_with("gio-ami.toml:9:1: variants[1].instance_type: t3.medium is an x86_64 instance type, but the AMI is arm64"), "{wrong_arch}");
        assert!(wrong_arch.contains("t4g.medium"), "{wrong_arch}");
        let written =
            refused("[[variants]]\n[[variants]]\narch = \"arm64\"\ninstance_type = \"m7i.large\"\n");
        assert!(written.starts_with("gio-ami.toml:10:17: variants[1].instance_type: m7i.large"), "{written}");
        let same_parameter = SET.replace("/{arch}/{variant}/", "/{arch}/");
        let collide = refused(&same_parameter);
        assert!(collide.starts_with("gio-ami.toml:20:17: clusters.staging.ssm_parameter: the x86_64/standard and x86_64/nvidia AMIs would both write /gio/eks/staging/x86_64/node-ami"), "{collide}");
        assert!(collide.contains("put `{variant}` in the name"), "{collide}");
        let one = refused("[clusters.a]\nregion = \"eu-west-1\"\nssm_parameter = \"/a/{arch}\"\n");
        assert!(
            one.starts_with("gio-ami.toml:9:17: clusters.a.ssm_parameter: `{arch}` tells the AMIs"),
            "{one}"
        );
        assert!(one.contains("this spec makes one AMI (arch x86_64)"), "{one}");
        let unvaried = "[[variants]]\n[[variants]]\nvariant = \"nvidia\"\n[clusters.a]\nregion = \"eu-west-1\"\nssm_parameter = \"/a/{arch}/{variant}\"\n";
        let (_, warnings) = check(&format!("{MINIMAL}{unvaried}")).unwrap();
        let warned: Vec<&str> = warnings.iter().map(|w| w.message.as_str()).collect();
        assert_eq!(warned, ["every variant has arch x86_64, so `{arch}` tells none apart"]);
        let unknown = refused("[clusters.a]\nregion = \"eu-west-1\"\nssm_parameter = \"/a/{flavour}\"\n");
        assert!(unknown.contains("unknown placeholder `{flavour}`"), "{unknown}");
        let in_table = refused("[[variants]]\narch = \"sparc\"\n");
        assert!(
            in_table.starts_with("gio-ami.toml:8:8: variants[0].arch: unknown value `sparc`"),
            "{in_table}"
        );
    }

    #[test]
    fn one_ami_of_another_architecture_than_its_builder_is_refused_unless_offline() {
        let arm = format!("{MINIMAL}arch = \"arm64\"\n");
        let err = check(&arm).unwrap_err();
        assert!(
            err.starts_with("gio-ami.toml:7:8: build.instance_type: t3.medium is an x86_64 instance type"),
            "{err}"
        );
        check(&format!("{arm}[build]\nengine = \"offline\"\n")).unwrap();
        check(&format!("{arm}[build]\ninstance_type = \"c7gd.large\"\n")).unwrap();
    }

    #[test]
    fn instance_type_names_tell_graviton_apart() {
        for (name, arch) in [
            ("t4g.medium", Some(Arch::Arm64)),
            ("m7gd.xlarge", Some(Arch::Arm64)),
            ("g5g.xlarge", Some(Arch::Arm64)),
            ("is4gen.large", Some(Arch::Arm64)),
            ("a1.large", Some(Arch::Arm64)),
            ("g5.xlarge", Some(Arch::X86_64)),
            ("t3.medium", Some(Arch::X86_64)),
            ("m6idn.large", Some(Arch::X86_64)),
            ("gr6.4xlarge", Some(Arch::X86_64)),
            ("mac2.metal", None),
            ("u-6tb1.metal", None),
            ("weird", None),
        ] {
            assert_eq!(instance_arch(name), arch, "{name}");
        }
    }
}
