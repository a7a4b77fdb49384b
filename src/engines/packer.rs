//! The Packer engine and interop: renders the spec as an `amazon-ebs` template (JSON or HCL2)
//! that teams can keep running with `packer build`, runs real `packer` for `build --engine
//! packer`, and reads what Packer leaves behind (its machine-readable output, its manifest).

use crate::aws::base::Base;
use crate::aws::Aws;
use crate::core::choice::Choice;
use crate::core::error::Service;
use crate::core::iam::{Permission, Resource};
use crate::core::kinds::{Arch, Family, Variant};
use crate::core::progress::Progress;
use crate::core::tags::{self, Tags};
use crate::engines::leftovers;
use crate::engines::{self, Building, Built};
use crate::error::{Error, Result};
use crate::spec::disk::{Disk, VolumeType};
use crate::spec::{self, BaseSource, Loaded};
use hcl::edit;
use hcl::expr::{
    BinaryOp, BinaryOperator, Conditional, Expression, FuncCall, ObjectKey, TemplateExpr, Traversal, Variable,
};
use hcl::format::{Format, Formatter};
use hcl::{Attribute, Block, Body, Structure};
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use tokio::io::{AsyncBufReadExt, BufReader};

/// What `packer build` itself calls with gio-ami's credentials: the amazon-ebs builder's
/// documented minimum (Packer's Amazon plugin docs, "IAM Task or Instance Role"). Packer's own
/// clean-up of a failed AMI (DeregisterImage, DeleteSnapshot) has no gio-ami tag to go by yet, so
/// those stay on every resource.
pub const IAM: &[Permission] = &[
    Permission::new(Service::Ec2, "AttachVolume"),
    Permission::new(Service::Ec2, "AuthorizeSecurityGroupIngress"),
    Permission::new(Service::Ec2, "CopyImage"),
    Permission::new(Service::Ec2, "CreateImage"),
    Permission::new(Service::Ec2, "CreateKeyPair"),
    Permission::new(Service::Ec2, "CreateSecurityGroup"),
    Permission::new(Service::Ec2, "CreateSnapshot"),
    Permission::new(Service::Ec2, "CreateTags"),
    Permission::new(Service::Ec2, "CreateVolume"),
    Permission::new(Service::Ec2, "DeleteKeyPair"),
    Permission::new(Service::Ec2, "DeleteSecurityGroup"),
    Permission::new(Service::Ec2, "DeleteSnapshot"),
    Permission::new(Service::Ec2, "DeleteVolume"),
    Permission::new(Service::Ec2, "DeregisterImage"),
    Permission::new(Service::Ec2, "DescribeImageAttribute"),
    Permission::new(Service::Ec2, "DescribeImages"),
    Permission::new(Service::Ec2, "DescribeInstances"),
    Permission::new(Service::Ec2, "DescribeInstanceStatus"),
    Permission::new(Service::Ec2, "DescribeRegions"),
    Permission::new(Service::Ec2, "DescribeSecurityGroups"),
    Permission::new(Service::Ec2, "DescribeSnapshots"),
    Permission::new(Service::Ec2, "DescribeSubnets"),
    Permission::new(Service::Ec2, "DescribeTags"),
    Permission::new(Service::Ec2, "DescribeVolumes"),
    Permission::new(Service::Ec2, "DetachVolume"),
    Permission::new(Service::Ec2, "GetPasswordData"),
    Permission::new(Service::Ec2, "ModifyImageAttribute"),
    Permission::new(Service::Ec2, "ModifyInstanceAttribute"),
    Permission::new(Service::Ec2, "ModifySnapshotAttribute"),
    Permission::new(Service::Ec2, "RegisterImage"),
    Permission::new(Service::Ec2, "RunInstances"),
    Permission::new(Service::Ec2, "StopInstances"),
    // Its builder carries the template's run_tags, gio-ami:build-id among them.
    Permission::new(Service::Ec2, "TerminateInstances").tagged(Resource::Instance, tags::BUILD_ID),
];

/// What goes wrong with Packer: not installed, refused, failed or stopped.
#[derive(Debug, thiserror::Error)]
pub enum PackerError {
    #[error(
        "`packer` is not installed (not found on PATH), and `build --engine packer` runs it. \
         Install it with `apt-get install packer` (Debian, Ubuntu) or the official release from \
         https://developer.hashicorp.com/packer/install, or build with `--engine native`."
    )]
    Missing,

    /// A template, a run or a manifest it cannot go on with, said in a sentence.
    #[error("{message}")]
    Refused { message: String },

    #[error("packer build failed ({status}):\n{errors}\nPacker removes its own builder on failure; `gio-ami gc --dry-run` shows anything left.")]
    Failed { status: String, errors: String },

    #[error("interrupted by {signal}: packer was stopped; {remains}.")]
    Interrupted { signal: crate::core::signal::Stop, remains: String },
}

/// Owner of the EKS-optimized AMIs in the commercial regions (the account `aws ssm` parameters
/// point into); a few opt-in regions use another, where `--resolve` is the way.
const EKS_AMI_OWNER: &str = "602401143452";
/// Root device of every EKS-optimized AMI (AL2, AL2023, Bottlerocket).
const EKS_ROOT_DEVICE: &str = "/dev/xvda";
/// gp3's free baseline. Packer 1.6.6 rejects a gp3 mapping without explicit iops and
/// throughput, so the template spells out what AWS would apply anyway.
const GP3_BASELINE_IOPS: i32 = 3000;
const GP3_BASELINE_THROUGHPUT: i32 = 125;
/// The login of the EKS-optimized Amazon Linux AMIs; a variable, so `-var` changes it.
const DEFAULT_SSH_USERNAME: &str = "ec2-user";
/// Keys whose values HCL2 writes as blocks rather than as attributes.
const HCL_BLOCKS: &[&str] =
    &["source_ami_filter", "launch_block_device_mappings", "ami_block_device_mappings"];
/// Packer's manifest post-processor writes here, relative to where `packer` runs.
const MANIFEST: &str = "manifest.json";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TemplateFormat {
    Json,
    Hcl,
}

impl Choice for TemplateFormat {
    const ALL: &'static [Self] = &[TemplateFormat::Json, TemplateFormat::Hcl];

    fn name(self) -> &'static str {
        match self {
            TemplateFormat::Json => "json",
            TemplateFormat::Hcl => "hcl",
        }
    }

    fn help(self) -> &'static str {
        match self {
            TemplateFormat::Json => {
                "Legacy JSON templates (`packer build template.json`), what most existing repos hold"
            }
            TemplateFormat::Hcl => "HCL2 (`packer build template.pkr.hcl`), Packer's current format",
        }
    }
}

impl TemplateFormat {
    pub fn file_name(self) -> &'static str {
        match self {
            TemplateFormat::Json => "template.json",
            TemplateFormat::Hcl => "template.pkr.hcl",
        }
    }
}

/// Where the builder's source AMI comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// Pinned: a resolved EKS-optimized AMI, or the spec's explicit `base.ami`.
    Ami(String),
    /// Looked up by Packer at build time: the newest AMI of this name pattern and owner.
    Filter { name: String, owner: String },
}

impl Source {
    /// The spec's base as Packer can find it without gio-ami: its explicit AMI, or a name
    /// filter on the EKS-optimized images.
    pub fn of(spec: &spec::Spec) -> Source {
        let (family, k8s) = match &spec.base.source {
            BaseSource::Ami(ami) => return Source::Ami(ami.to_string()),
            BaseSource::Eks { family, kubernetes } => (*family, kubernetes),
        };
        let (arch, variant) = (spec.arch(), spec.variant());
        let nvidia = variant == Variant::Nvidia;
        let name = match family {
            Family::Al2 => match (arch, nvidia) {
                (_, true) => format!("amazon-eks-gpu-node-{k8s}-v*"),
                (Arch::Arm64, false) => format!("amazon-eks-arm64-node-{k8s}-v*"),
                (Arch::X86_64, false) => format!("amazon-eks-node-{k8s}-v*"),
            },
            Family::Bottlerocket => {
                let flavor = if nvidia { "-nvidia" } else { "" };
                // Bottlerocket names its arm64 images with the kernel's word for it.
                let arch = if arch == Arch::Arm64 { "aarch64" } else { arch.name() };
                format!("bottlerocket-aws-k8s-{k8s}{flavor}-{arch}-v*")
            }
            Family::Al2023 => {
                format!("amazon-eks-node-al2023-{}-{}-{k8s}-v*", arch.name(), variant.name())
            }
        };
        Source::Filter { name, owner: EKS_AMI_OWNER.to_string() }
    }
}

/// Everything a template depends on besides the spec.
#[derive(Debug, Clone)]
pub struct Target {
    pub source: Source,
    pub root_device: String,
    /// Baked in as the region variable's default; `None` reads AWS_REGION when packer runs.
    pub region: Option<String>,
    /// A non-AWS endpoint (an emulator): Packer then talks to it, skips the credential, region
    /// and metadata checks, and uses no communicator, since no guest really boots.
    pub endpoint: Option<String>,
    /// Where the provisioning scripts are, as the template will name them.
    pub scripts_dir: PathBuf,
    /// Tags for the builder instance and its volumes, and for the AMI (a build's id, so `gc`
    /// finds what a killed run left).
    pub run_tags: Tags,
}

impl Target {
    /// What `packer render` writes: nothing resolved, Packer finds the base itself.
    pub fn offline(loaded: &Loaded, region: Option<String>, endpoint: Option<String>) -> Target {
        Target {
            source: Source::of(&loaded.spec),
            root_device: EKS_ROOT_DEVICE.to_string(),
            region,
            endpoint,
            scripts_dir: loaded.path.parent().unwrap_or(Path::new("")).to_path_buf(),
            run_tags: Tags::new(),
        }
    }

    /// Pins the template on a resolved base.
    pub fn pinned(mut self, base: &Base) -> Target {
        self.source = Source::Ami(base.image.id.to_string());
        if let Some(root) = &base.image.root_device {
            self.root_device = root.clone();
        }
        self
    }
}

/// The format-specific spelling of the few dynamic values a template holds.
struct Dialect(TemplateFormat);

impl Dialect {
    fn var(&self, name: &str) -> String {
        match self.0 {
            TemplateFormat::Json => format!("{{{{user `{name}`}}}}"),
            TemplateFormat::Hcl => format!("${{var.{name}}}"),
        }
    }

    fn ami_name(&self) -> String {
        match self.0 {
            TemplateFormat::Json => self.var("ami_name"),
            TemplateFormat::Hcl => "${local.ami_name}".into(),
        }
    }

    fn date(&self) -> &'static str {
        match self.0 {
            TemplateFormat::Json => "{{isotime \"20060102\"}}",
            TemplateFormat::Hcl => "${formatdate(\"YYYYMMDD\", timestamp())}",
        }
    }

    /// A timestamp alone collides when two builds start in the same second; the random last
    /// group of a fresh UUID does not (Packer's `uuid` starts with the time, so the first
    /// group collides too).
    fn unique(&self) -> &'static str {
        match self.0 {
            TemplateFormat::Json => "{{timestamp}}-{{split uuid \"-\" 4}}",
            TemplateFormat::Hcl => {
                "${formatdate(\"YYYYMMDDhhmmss\", timestamp())}-${split(\"-\", uuidv4())[4]}"
            }
        }
    }

    fn now_rfc3339(&self) -> &'static str {
        match self.0 {
            TemplateFormat::Json => "{{isotime \"2006-01-02T15:04:05Z07:00\"}}",
            TemplateFormat::Hcl => "${timestamp()}",
        }
    }

    /// A user's text, kept literal: neither Go templates (JSON) nor HCL interpolation may see
    /// a `{{` or `${` in a description as code.
    fn literal(&self, text: &str) -> String {
        match self.0 {
            TemplateFormat::Json => text.replace("{{", "{{\"{{\"}}"),
            TemplateFormat::Hcl => text.replace("${", "$${").replace("%{", "%%{"),
        }
    }
}

/// A variable's default: a value, or an environment variable read when packer runs.
#[derive(Debug, Clone, PartialEq)]
enum VarDefault {
    Value(String),
    Env(&'static str),
}

/// The template, format-neutral: emitted as JSON or HCL2.
struct Template {
    variables: Vec<(&'static str, VarDefault)>,
    /// The AMI name used when no `-var ami_name=…` is given.
    name_pattern: String,
    builder: Map<String, Value>,
    scripts: Vec<String>,
}

/// Renders the spec as a Packer template. Refuses a remote shell without a communicator:
/// Packer 1.6.6 then waits forever for a connection that never comes.
pub fn render(loaded: &Loaded, target: &Target, format: TemplateFormat) -> Result<String> {
    let template = template(loaded, target, &Dialect(format))?;
    Ok(match format {
        TemplateFormat::Json => to_json(&template),
        TemplateFormat::Hcl => to_hcl(&template),
    })
}

fn template(loaded: &Loaded, target: &Target, d: &Dialect) -> Result<Template> {
    let spec = &loaded.spec;
    let scripts: Vec<String> =
        spec.build.provision.iter().map(|s| target.scripts_dir.join(s).display().to_string()).collect();
    if target.endpoint.is_some() && !scripts.is_empty() {
        return Err(PackerError::Refused {
            message: format!(
                "build.provision lists {} script(s), but against a non-AWS endpoint (an emulator) \
                 the template has no communicator (`communicator = \"none\"`: no guest boots there), \
                 and Packer would wait forever for the shell provisioner. Remove build.provision \
                 for emulator runs, or unset AWS_ENDPOINT_URL to build on AWS",
                scripts.len()
            ),
        }
        .into());
    }
    let mut variables = vec![
        ("region", target.region.clone().map_or(VarDefault::Env("AWS_REGION"), VarDefault::Value)),
        ("instance_type", VarDefault::Value(spec.build.instance_type.clone())),
        ("ami_name", VarDefault::Value(String::new())),
        ("author", VarDefault::Env("USER")),
    ];
    let mut b = Map::new();
    b.insert("type".into(), json!("amazon-ebs"));
    b.insert("region".into(), json!(d.var("region")));
    b.insert("instance_type".into(), json!(d.var("instance_type")));
    b.insert("ami_name".into(), json!(d.ami_name()));
    if let Some(description) = &spec.image.description {
        b.insert("ami_description".into(), json!(d.literal(description)));
    }
    match &target.source {
        Source::Ami(id) => {
            variables.push(("source_ami", VarDefault::Value(id.clone())));
            b.insert("source_ami".into(), json!(d.var("source_ami")));
        }
        Source::Filter { name, owner } => {
            variables.push(("source_ami_name", VarDefault::Value(name.clone())));
            b.insert(
                "source_ami_filter".into(),
                json!({"filters": {"name": d.var("source_ami_name")}, "owners": [owner], "most_recent": true}),
            );
        }
    }
    match &target.endpoint {
        Some(endpoint) => {
            b.insert("custom_endpoint_ec2".into(), json!(endpoint));
            b.insert("skip_credential_validation".into(), json!(true));
            b.insert("skip_metadata_api_check".into(), json!(true));
            b.insert("skip_region_validation".into(), json!(true));
            b.insert("communicator".into(), json!("none"));
        }
        None => {
            variables.push(("ssh_username", VarDefault::Value(DEFAULT_SSH_USERNAME.into())));
            b.insert("ssh_username".into(), json!(d.var("ssh_username")));
        }
    }
    let (launch, kept) = mappings(spec, &target.root_device);
    if !launch.is_empty() {
        b.insert("launch_block_device_mappings".into(), Value::Array(launch));
        b.insert("ami_block_device_mappings".into(), Value::Array(kept));
    }
    let mut image_tags: Tags =
        engines::spec_tags(spec).iter().map(|(k, v)| (k.clone(), d.literal(v))).collect();
    image_tags.insert(tags::RELEASE.into(), d.ami_name());
    image_tags.insert(tags::BASE_AMI.into(), "{{ .SourceAMI }}".into());
    image_tags.insert(tags::BASE_NAME.into(), "{{ .SourceAMIName }}".into());
    image_tags.insert(tags::CREATED_AT.into(), d.now_rfc3339().into());
    image_tags.insert(tags::AUTHOR.into(), d.var("author"));
    if let Some(build_id) = target.run_tags.get(tags::BUILD_ID) {
        image_tags.insert(tags::BUILD_ID.into(), build_id.clone());
    }
    b.insert("tags".into(), json!(image_tags));
    b.insert("snapshot_tags".into(), json!(image_tags));
    if !target.run_tags.is_empty() {
        b.insert("run_tags".into(), json!(target.run_tags));
        b.insert("run_volume_tags".into(), json!(target.run_tags));
    }
    let unique = d.unique();
    let pattern = &spec.image.name;
    let sha = engines::git_sha(&target.scripts_dir);
    let name_pattern = if pattern.contains("{n}") {
        spec::render_name(pattern, spec.kubernetes(), d.date(), sha.as_deref(), unique)
    } else {
        format!("{}-{unique}", spec::render_name(pattern, spec.kubernetes(), d.date(), sha.as_deref(), ""))
    };
    Ok(Template { variables, name_pattern, builder: b, scripts })
}

/// (launch mappings, AMI mappings): the builder's volumes always die with it, the AMI keeps
/// each disk's own choice, as the native engine does.
fn mappings(spec: &spec::Spec, root_device: &str) -> (Vec<Value>, Vec<Value>) {
    let mut disks: Vec<Disk> = Vec::new();
    if let Some(size) = spec.build.root_size_gib {
        // Built here, not parsed: the `--disk` syntax refuses root devices on purpose.
        disks.push(Disk { size_gib: Some(size), ..Disk::new(root_device) });
    }
    disks.extend(spec.disks.iter().cloned());
    let launch = disks.iter().map(|disk| mapping(disk, true)).collect();
    let kept = disks.iter().map(|disk| mapping(disk, disk.delete_on_termination)).collect();
    (launch, kept)
}

fn mapping(disk: &Disk, delete_on_termination: bool) -> Value {
    let mut m = Map::new();
    m.insert("device_name".into(), json!(disk.device));
    m.insert("volume_type".into(), json!(disk.volume_type.name()));
    m.insert("delete_on_termination".into(), json!(delete_on_termination));
    if let Some(size) = disk.size_gib {
        m.insert("volume_size".into(), json!(size));
    }
    let gp3 = disk.volume_type == VolumeType::Gp3;
    if let Some(iops) = disk.iops.or(gp3.then_some(GP3_BASELINE_IOPS)) {
        m.insert("iops".into(), json!(iops));
    }
    if let Some(throughput) = disk.throughput.or(gp3.then_some(GP3_BASELINE_THROUGHPUT)) {
        m.insert("throughput".into(), json!(throughput));
    }
    if disk.encrypted {
        m.insert("encrypted".into(), json!(true));
    }
    if let Some(key) = &disk.kms_key_id {
        m.insert("kms_key_id".into(), json!(key));
    }
    if let Some(snapshot) = &disk.snapshot_id {
        m.insert("snapshot_id".into(), json!(snapshot));
    }
    Value::Object(m)
}

/// Scripts run as root with Packer's variables in the environment, as the seed templates do.
const EXECUTE_COMMAND: &str = "chmod +x {{ .Path }}; sudo env {{ .Vars }} {{ .Path }}";

fn to_json(t: &Template) -> String {
    let variables: Map<String, Value> = t
        .variables
        .iter()
        .map(|(name, default)| {
            let value = match default {
                VarDefault::Value(v) if *name == "ami_name" && v.is_empty() => t.name_pattern.clone(),
                VarDefault::Value(v) => v.clone(),
                VarDefault::Env(var) => format!("{{{{env `{var}`}}}}"),
            };
            (name.to_string(), json!(value))
        })
        .collect();
    let mut doc = json!({
        "variables": variables,
        "builders": [t.builder],
        "post-processors": [{"type": "manifest", "output": MANIFEST, "strip_path": true}],
    });
    if !t.scripts.is_empty() {
        doc["provisioners"] =
            json!([{"type": "shell", "scripts": t.scripts, "execute_command": EXECUTE_COMMAND}]);
    }
    format!("{}\n", serde_json::to_string_pretty(&doc).expect("JSON values serialize"))
}

fn to_hcl(t: &Template) -> String {
    let mut body = Body::builder();
    for (name, default) in &t.variables {
        let default = match default {
            VarDefault::Value(v) => hcl_expression(&json!(v)),
            VarDefault::Env(var) => FuncCall::builder("env").arg(*var).build().into(),
        };
        body = body.add_block(
            Block::builder("variable")
                .add_label(*name)
                .add_attribute(("type", Variable::unchecked("string")))
                .add_attribute(("default", default))
                .build(),
        );
    }
    let ami_name = || Traversal::builder(Variable::unchecked("var")).attr("ami_name").build();
    let given = BinaryOp::new(ami_name(), BinaryOperator::NotEq, "");
    let ami_name = Conditional::new(given, ami_name(), hcl_expression(&json!(t.name_pattern)));
    body = body.add_block(Block::builder("locals").add_attribute(("ami_name", ami_name)).build());
    let mut builder = t.builder.clone();
    builder.remove("type");
    body = body.add_block(
        Block::builder("source")
            .add_labels(["amazon-ebs", "gio-ami"])
            .add_structures(hcl_body(&builder))
            .build(),
    );
    let mut build = Block::builder("build").add_attribute(("sources", vec!["source.amazon-ebs.gio-ami"]));
    if !t.scripts.is_empty() {
        build = build.add_block(
            Block::builder("provisioner")
                .add_label("shell")
                .add_attribute(("scripts", hcl_expression(&json!(t.scripts))))
                .add_attribute(("execute_command", hcl_expression(&json!(EXECUTE_COMMAND))))
                .build(),
        );
    }
    build = build.add_block(
        Block::builder("post-processor")
            .add_label("manifest")
            .add_attribute(("output", hcl_expression(&json!(MANIFEST))))
            .add_attribute(("strip_path", true))
            .build(),
    );
    let body = body.add_block(build.build()).build();
    // Compact: a map or list on one line, as the tags and filters read best.
    let mut formatter = Formatter::builder().compact(true).build_vec();
    body.format(&mut formatter).expect("formatting into memory does not fail");
    let text = String::from_utf8(formatter.into_inner()).expect("HCL is written as UTF-8");
    format!("# Rendered by `gio-ami packer render`; build with `packer build .`\n\n{text}")
}

/// Builder settings as the contents of an HCL block: the keys of `HCL_BLOCKS` as (repeated)
/// blocks, the rest as attributes.
fn hcl_body(settings: &Map<String, Value>) -> Vec<Structure> {
    let mut body = Vec::new();
    for (key, value) in settings {
        let blocks: Vec<&Map<String, Value>> = match value {
            Value::Object(block) if HCL_BLOCKS.contains(&key.as_str()) => vec![block],
            Value::Array(items) if HCL_BLOCKS.contains(&key.as_str()) => {
                items.iter().filter_map(Value::as_object).collect()
            }
            _ => {
                body.push(Attribute::new(key.as_str(), hcl_expression(value)).into());
                continue;
            }
        };
        for block in blocks {
            body.push(Block::builder(key.as_str()).add_structures(hcl_body(block)).build().into());
        }
    }
    body
}

fn hcl_expression(value: &Value) -> Expression {
    match value {
        Value::String(text) => {
            let quoted = hcl_string(text);
            let inner = quoted.strip_prefix('"').and_then(|q| q.strip_suffix('"')).unwrap_or(&quoted);
            // Written as is between quotes: `hcl_string` did the escaping.
            TemplateExpr::QuotedString(inner.to_string()).into()
        }
        Value::Array(items) => Expression::Array(items.iter().map(hcl_expression).collect()),
        Value::Object(map) => Expression::Object(
            map.iter().map(|(k, v)| (ObjectKey::from(k.as_str()), hcl_expression(v))).collect(),
        ),
        scalar => hcl::to_expression(scalar).expect("numbers, booleans and null are HCL values"),
    }
}

/// A quoted HCL string of `text`, which is HCL template source: the `${…}` the dialect wrote are
/// interpolations, user text had its `${` escaped to `$${` by the dialect. hcl-edit writes it
/// with its literal parts escaped (`\"`, `\\`, `\n`, `\uNNNN`, as JSON does); hcl-rs's
/// formatter would copy a template's literal parts unescaped, and a `"` in one would end the
/// string.
fn hcl_string(text: &str) -> String {
    // No text the dialect writes fails to parse; anything that did would stay literal, never code.
    let template = text
        .parse()
        .unwrap_or_else(|_| edit::template::Template::from(vec![edit::template::Element::from(text)]));
    edit::expr::Expression::from(edit::template::StringTemplate::from(template)).to_string()
}

/// What Packer's `-machine-readable` output says, line by line.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A `==> builder: …` line: Packer starts a step.
    Step(String),
    /// Detail under the current step.
    Message(String),
    Error(String),
    /// The AMI a build produced.
    Artifact {
        region: String,
        ami: String,
    },
    Other,
}

/// Parses one line: `timestamp,target,type,data…`, with commas in data written as
/// `%!(PACKER_COMMA)` and newlines as `\n`.
pub fn parse_line(line: &str) -> Event {
    let fields: Vec<String> =
        line.splitn(5, ',').map(|f| f.replace("%!(PACKER_COMMA)", ",").replace("\\n", "\n")).collect();
    let field = |n: usize| fields.get(n).map(String::as_str).unwrap_or_default();
    match (field(2), field(3)) {
        ("ui", "say") => {
            let text = field(4).trim();
            match text.strip_prefix("==> ") {
                Some(step) => Event::Step(strip_builder(step).to_string()),
                None if text.is_empty() => Event::Other,
                None => Event::Message(text.to_string()),
            }
        }
        ("ui", "message") => Event::Message(strip_builder(field(4).trim()).to_string()),
        ("ui", "error") => {
            Event::Error(strip_builder(field(4).trim().trim_start_matches("==> ")).to_string())
        }
        ("artifact", _) if field(3) == "0" => match field(4).split_once(',') {
            Some(("id", id)) => match id.split_once(':') {
                Some((region, ami)) => Event::Artifact { region: region.into(), ami: ami.into() },
                None => Event::Other,
            },
            _ => Event::Other,
        },
        _ => Event::Other,
    }
}

/// `amazon-ebs: Launching…` or `amazon-ebs.gio-ami: Launching…` → `Launching…`.
fn strip_builder(text: &str) -> &str {
    match text.split_once(": ") {
        Some((builder, rest)) if builder.starts_with("amazon-ebs") => rest,
        _ => text,
    }
}

/// Builds the spec's AMI with real `packer`: renders a JSON template pinned on the resolved
/// base, runs `packer build -machine-readable`, shows its steps as phases, then tags the AMI
/// and its snapshots as the native engine does.
pub async fn build(
    aws: &Aws,
    loaded: &Loaded,
    building: &Building,
    progress: &dyn Progress,
) -> Result<Built> {
    let Building { base, provenance, name, .. } = building;
    let build_id = engines::new_build_id();
    // gio-ami's own phases; Packer's API requests are its own and not counted.
    let mut phases = engines::Phases::new(aws, progress);
    let spec_dir = std::fs::canonicalize(loaded.path.parent().unwrap_or(Path::new("."))).unwrap_or_default();
    let target = Target {
        scripts_dir: spec_dir,
        run_tags: engines::builder_tags(&build_id, &format!("gio-ami packer builder: {name}"), &loaded.spec),
        ..Target::offline(loaded, Some(aws.region().to_string()), aws.endpoint_url().map(str::to_string))
    }
    .pinned(base);
    let template = render(loaded, &target, TemplateFormat::Json)?;
    let dir = std::env::temp_dir().join(format!("gio-ami-packer-{build_id}"));
    let write =
        std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(dir.join("template.json"), template));
    write.map_err(|e| PackerError::Refused {
        message: format!("cannot write the template in {} ({e})", dir.display()),
    })?;

    phases.start(&format!("packer build of {name} from {} ({})", base.image.id, base.image.name));
    let vars = [("ami_name", name.clone()), ("author", provenance.author.clone())];
    let ran = run(aws, &dir, &vars, progress, &build_id).await;
    // The template and manifest are only useful to this run; a failure's cause is in the error.
    let _ = std::fs::remove_dir_all(&dir);
    let ami = ran?;

    phases.start("tagging the release");
    let image = engines::wait_image(aws, &ami).await?;
    let snapshots: Vec<String> = image.snapshot_ids().map(str::to_string).collect();
    let mut release = engines::image_tags(&loaded.spec, &build_id, base, provenance);
    release.insert(tags::RELEASE.into(), building.release.clone());
    engines::tag_image(aws, &ami, &snapshots, &release).await?;
    Ok(Built::new(&mut phases, base.clone(), build_id, ami, name.clone(), snapshots))
}

/// Runs `packer build` in `dir` and returns the AMI id. On Ctrl-C or SIGTERM, Packer gets
/// SIGINT (it then removes its own instance, key pair and security group) and gio-ami waits
/// for it, then reports what the build still holds.
async fn run(
    aws: &Aws,
    dir: &Path,
    vars: &[(&str, String)],
    progress: &dyn Progress,
    build_id: &str,
) -> Result<String> {
    let mut command = tokio::process::Command::new("packer");
    command.arg("build").arg("-machine-readable").arg("-color=false");
    for (name, value) in vars {
        command.arg("-var").arg(format!("{name}={value}"));
    }
    if let Some(profile) = aws.profile() {
        command.env("AWS_PROFILE", profile);
    }
    command
        .arg("template.json")
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // Held until Packer has exited and what it left is listed: the binary waits for that.
    let handling = aws.interruption().handle();
    if let Some(signal) = handling.stop() {
        return Err(Error::Interrupted { signal });
    }
    let mut child = command.spawn().map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => PackerError::Missing,
        _ => PackerError::Refused { message: format!("cannot start packer ({e})") },
    })?;
    let stdout = child.stdout.take().expect("stdout is piped");
    let stderr = child.stderr.take().expect("stderr is piped");
    let stderr = tokio::spawn(async move {
        let mut lines = BufReader::new(stderr).lines();
        let mut text = Vec::new();
        while let Ok(Some(line)) = lines.next_line().await {
            text.push(line);
        }
        text.join("\n")
    });
    let mut lines = BufReader::new(stdout).lines();
    let mut step = String::from("starting");
    let mut errors: Vec<(String, String)> = Vec::new();
    let mut artifact = None;
    let mut signal = None;
    let interrupted = handling.interrupted();
    tokio::pin!(interrupted);
    loop {
        let line = tokio::select! {
            line = lines.next_line() => line,
            caught = &mut interrupted, if signal.is_none() => {
                signal = Some(caught);
                if let Some(pid) = child.id().and_then(|p| rustix::process::Pid::from_raw(p as i32)) {
                    // Already exited is fine: its clean-up is done.
                    let _ = rustix::process::kill_process(pid, rustix::process::Signal::INT);
                }
                progress.phase(&format!("{caught}: packer is stopping and removing its builder"));
                continue;
            }
        };
        let Ok(Some(line)) = line else { break };
        match parse_line(&line) {
            Event::Step(text) => {
                progress.phase(&format!("packer: {text}"));
                step = text;
            }
            Event::Message(text) => tracing::info!("packer: {text}"),
            Event::Error(text) => errors.push((step.clone(), text)),
            Event::Artifact { ami, .. } => artifact = artifact.or(Some(ami)),
            Event::Other => {}
        }
    }
    let status = child
        .wait()
        .await
        .map_err(|e| PackerError::Refused { message: format!("packer did not exit cleanly ({e})") })?;
    let stderr = stderr.await.unwrap_or_default();
    if let Some(signal) = signal {
        return Err(PackerError::Interrupted { signal, remains: remains(aws, build_id).await }.into());
    }
    match artifact {
        Some(ami) if status.success() => Ok(ami),
        _ => {
            Err(PackerError::Failed { status: status.to_string(), errors: failure_text(&errors, &stderr) }
                .into())
        }
    }
}

/// Each error with the step it belongs to, verbatim; Packer's stderr when it printed no error.
fn failure_text(errors: &[(String, String)], stderr: &str) -> String {
    if errors.is_empty() {
        return match stderr.trim() {
            "" => "packer printed no error".to_string(),
            text => text.to_string(),
        };
    }
    errors.iter().map(|(step, error)| format!("during `{step}`: {error}")).collect::<Vec<_>>().join("\n")
}

/// What an interrupted build still holds in AWS, by its build id.
async fn remains(aws: &Aws, build_id: &str) -> String {
    let leftovers = match leftovers::leftovers(aws, Some(build_id)).await {
        Ok(leftovers) => leftovers,
        Err(e) => return format!("could not list the build's resources ({e}); run `gio-ami gc --dry-run`"),
    };
    let mut held: Vec<String> = leftovers
        .builders
        .iter()
        .filter(|b| !b.state.is_ending())
        .map(|b| format!("instance {} ({})", b.id, b.state))
        .collect();
    held.extend(
        leftovers
            .images
            .iter()
            .filter(|i| i.tags.get(tags::BUILD_ID).map(String::as_str) == Some(build_id))
            .map(|i| format!("AMI {}", i.id)),
    );
    held.extend(leftovers.snapshots.iter().map(|s| format!("snapshot {}", s.id)));
    if held.is_empty() {
        "packer removed everything it had created".to_string()
    } else {
        format!("still there: {}; `gio-ami gc` removes them", held.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loaded(extra: &str) -> Loaded {
        let text = format!(
            "[image]\nname = \"gio-node-{{k8s}}-{{date}}-{{n}}\"\ndescription = \"node ${{x}} {{{{y}}}}\"\n\
             contact = \"ops@example.org\"\ntags = {{ team = \"platform\" }}\n\
             [base]\nfamily = \"al2023\"\nkubernetes = \"1.31\"\n{extra}"
        );
        let (spec, warnings) = spec::parse("gio-ami.toml", &text).unwrap();
        Loaded { path: PathBuf::from("specs/gio-ami.toml"), spec, warnings }
    }

    fn json_template(loaded: &Loaded, target: &Target) -> Value {
        serde_json::from_str(&render(loaded, target, TemplateFormat::Json).unwrap()).unwrap()
    }

    #[test]
    fn extra_disks_are_launched_and_kept_with_gp3_baselines() {
        let spec = loaded("[build]\nroot_size_gib = 30\n[[disks]]\ndevice = \"/dev/xvdb\"\nsize_gib = 50\ndelete_on_termination = false\n");
        let t = json_template(&spec, &Target::offline(&spec, None, None));
        let b = &t["builders"][0];
        let launch = b["launch_block_device_mappings"].as_array().unwrap();
        let kept = b["ami_block_device_mappings"].as_array().unwrap();
        assert_eq!(launch.len(), 2);
        assert_eq!(launch[0]["device_name"], "/dev/xvda");
        assert_eq!(launch[0]["volume_size"], 30);
        assert_eq!(launch[1]["iops"], GP3_BASELINE_IOPS);
        assert_eq!(launch[1]["throughput"], GP3_BASELINE_THROUGHPUT);
        assert_eq!(launch[1]["delete_on_termination"], true, "the builder never leaks a volume");
        assert_eq!(kept[1]["delete_on_termination"], false, "the AMI keeps the spec's choice");
    }

    #[test]
    fn family_bases_become_a_filter_and_pinned_ones_a_variable() {
        let spec = loaded("");
        let t = json_template(&spec, &Target::offline(&spec, None, None));
        assert_eq!(t["variables"]["source_ami_name"], "amazon-eks-node-al2023-x86_64-standard-1.31-v*");
        assert_eq!(t["builders"][0]["source_ami_filter"]["owners"][0], EKS_AMI_OWNER);
        assert_eq!(t["variables"]["region"], "{{env `AWS_REGION`}}");
        let mut explicit_spec = spec.clone();
        explicit_spec.spec.base.source = BaseSource::Ami("ami-0123456789abcdef0".parse().unwrap());
        let t =
            json_template(&explicit_spec, &Target::offline(&explicit_spec, Some("eu-west-1".into()), None));
        assert_eq!(t["variables"]["source_ami"], "ami-0123456789abcdef0");
        assert_eq!(t["builders"][0]["source_ami"], "{{user `source_ami`}}");
        assert_eq!(t["variables"]["region"], "eu-west-1");
    }

    #[test]
    fn default_names_are_unique_within_a_second() {
        let spec = loaded("");
        let t = json_template(&spec, &Target::offline(&spec, None, None));
        let name = t["variables"]["ami_name"].as_str().unwrap();
        assert!(
            name.starts_with("gio-node-1.31-{{isotime \"20060102\"}}-{{timestamp}}-{{split uuid"),
            "{name}"
        );
        let hcl = render(&spec, &Target::offline(&spec, None, None), TemplateFormat::Hcl).unwrap();
        assert!(hcl.contains("uuidv4()"), "{hcl}");
    }

    #[test]
    fn user_text_is_never_template_code() {
        let spec = loaded("");
        let t = json_template(&spec, &Target::offline(&spec, None, None));
        assert_eq!(t["builders"][0]["ami_description"], "node ${x} {{\"{{\"}}y}}");
        let hcl = render(&spec, &Target::offline(&spec, None, None), TemplateFormat::Hcl).unwrap();
        assert!(hcl.contains("node $${x}"), "{hcl}");
        assert_eq!(hcl_string("a\"${f(\"b\")}$${c}"), "\"a\\\"${f(\"b\")}$${c}\"");
    }

    #[test]
    fn an_emulator_endpoint_means_no_communicator_and_so_no_remote_scripts() {
        let spec = loaded("");
        let endpoint = Some("http://127.0.0.1:5000".to_string());
        let t = json_template(&spec, &Target::offline(&spec, None, endpoint.clone()));
        let b = &t["builders"][0];
        assert_eq!(b["communicator"], "none");
        assert_eq!(b["custom_endpoint_ec2"], "http://127.0.0.1:5000");
        assert_eq!(b["skip_credential_validation"], true);
        let scripted = loaded("[build]\nprovision = [\"provision.sh\"]\n");
        let err =
            render(&scripted, &Target::offline(&scripted, None, endpoint), TemplateFormat::Json).unwrap_err();
        assert!(err.to_string().contains("communicator = \"none\""), "{err}");
        let t = json_template(&scripted, &Target::offline(&scripted, None, None));
        assert_eq!(t["provisioners"][0]["scripts"][0], "specs/provision.sh");
        assert_eq!(t["builders"][0]["ssh_username"], "{{user `ssh_username`}}");
    }

    #[test]
    fn hcl_writes_blocks_for_mappings_and_maps_for_tags() {
        let spec = loaded("[[disks]]\ndevice = \"/dev/xvdb\"\nsize_gib = 50\n");
        let hcl = render(&spec, &Target::offline(&spec, None, None), TemplateFormat::Hcl).unwrap();
        assert!(
            hcl.contains("  launch_block_device_mappings {\n    delete_on_termination = true\n"),
            "{hcl}"
        );
        assert!(
            hcl.contains("  source_ami_filter {\n    filters = { \"name\" = \"${var.source_ami_name}\" }"),
            "{hcl}"
        );
        assert!(hcl.contains("\"gio-ami:release\" = \"${local.ami_name}\""), "{hcl}");
        assert!(hcl.contains("default = env(\"AWS_REGION\")"), "{hcl}");
    }

    #[test]
    fn machine_readable_lines() {
        assert_eq!(
            parse_line("1795619534,,ui,say,==> amazon-ebs: No volumes to clean up%!(PACKER_COMMA) skipping"),
            Event::Step("No volumes to clean up, skipping".into())
        );
        assert_eq!(
            parse_line("1795619534,,ui,say,==> amazon-ebs.gio-ami: Launching a source AWS instance..."),
            Event::Step("Launching a source AWS instance...".into())
        );
        assert_eq!(
            parse_line("1795619534,amazon-ebs,artifact,0,id,eu-west-1:ami-30e8e8e735585d10f"),
            Event::Artifact { region: "eu-west-1".into(), ami: "ami-30e8e8e735585d10f".into() }
        );
        assert_eq!(
            parse_line("1795619534,amazon-ebs.gio-ami,artifact,0,id,eu-west-1:ami-1"),
            Event::Artifact { region: "eu-west-1".into(), ami: "ami-1".into() }
        );
        assert_eq!(parse_line("1,amazon-ebs,artifact,1,id,eu-west-1:ami-1"), Event::Other);
        assert_eq!(
            parse_line("1,,ui,error,Build 'amazon-ebs' errored: UnauthorizedOperation"),
            Event::Error("Build 'amazon-ebs' errored: UnauthorizedOperation".into())
        );
    }

    #[test]
    fn failures_name_their_step() {
        let errors = vec![(
            "Launching a source AWS instance...".to_string(),
            "InsufficientInstanceCapacity".to_string(),
        )];
        assert_eq!(
            failure_text(&errors, ""),
            "during `Launching a source AWS instance...`: InsufficientInstanceCapacity"
        );
        assert_eq!(failure_text(&[], "  flag provided but not defined\n"), "flag provided but not defined");
    }
}
