//! `packer render`: the spec as a Packer template teams can keep running with `packer`. The
//! template is `engines::packer`'s.

use super::line::choice;
use super::{write, Context};
use crate::core::show::{Draw, Text};
use crate::engines::{
    self,
    packer::{self, TemplateFormat},
};
use crate::spec;
use crate::{Aws, Error, Result};
use schemars::JsonSchema;
use serde::Serialize;
use std::path::PathBuf;

#[derive(Debug, clap::Subcommand)]
pub enum Args {
    /// Write a Packer template (amazon-ebs builder) from the spec; prints its path.
    ///
    /// The template has the spec's instance type, base (a source_ami_filter on the
    /// EKS-optimized AMIs, or the pinned id with --resolve or base.ami), root and extra disks
    /// in launch_block_device_mappings and ami_block_device_mappings, gio-ami:* tags on the
    /// AMI and its snapshots, the provisioning scripts as shell provisioners (paths as seen
    /// from the current directory) and a manifest post-processor. AMI names end in a
    /// timestamp and a random part, so two builds never collide.
    ///
    /// Variables: region, instance_type, ami_name, author, ssh_username, and source_ami (or
    /// source_ami_name for the filter), e.g.
    ///   gio-ami packer render -o packer/
    ///   packer build -var region=eu-west-1 -var instance_type=m5.large packer/template.json
    ///   gio-ami packer render --format hcl --resolve -o packer/
    ///
    /// With AWS_ENDPOINT_URL (or --endpoint) set, the template targets that endpoint (an
    /// emulator): custom_endpoint_ec2, skipped credential/region/metadata checks, and no
    /// communicator, so it cannot run provisioning scripts.
    #[command(verbatim_doc_comment)]
    Render {
        #[arg(default_value = spec::DEFAULT_PATH, value_name = "SPEC")]
        spec: PathBuf,
        /// json (template.json) or hcl (template.pkr.hcl).
        #[arg(long, value_parser = choice::<TemplateFormat>(), default_value = "json")]
        format: TemplateFormat,
        /// Directory to write the template in.
        #[arg(short = 'o', long = "out", value_name = "DIR", default_value = ".")]
        out: PathBuf,
        /// Pin the base AMI resolved now (SSM) instead of letting Packer search by name.
        #[arg(long)]
        resolve: bool,
        /// A non-AWS EC2 endpoint (an emulator) for the template to use.
        #[arg(long, env = "AWS_ENDPOINT_URL", value_name = "URL")]
        endpoint: Option<String>,
    },
}

/// A template written by `packer render`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Rendered {
    pub path: String,
    pub format: TemplateFormat,
}

/// What `packer render`: where the template went (`--output json`).
pub type Report = Rendered;
pub const JSON: super::Json = super::Json::Subcommands(&[("render", super::Json::of::<Report>())]);

/// The IAM permissions this command's AWS calls need (`gio-ami iam-policy packer`).
pub const IAM: &[&[crate::core::iam::Permission]] = &[&crate::aws::base::IAM];

pub async fn run(args: Args, ctx: &Context<'_>) -> Result<()> {
    let Args::Render { spec: path, format, out, resolve, endpoint } = args;
    let loaded = spec::load(&path)?;
    let target = if resolve {
        let aws = Aws::connect(&ctx.options).await?;
        let base = engines::resolve_base(&aws, &loaded.spec).await?;
        packer::Target::offline(&loaded, Some(aws.region().to_string()), endpoint).pinned(&base)
    } else {
        packer::Target::offline(&loaded, ctx.options.region.clone(), endpoint)
    };
    let template = packer::render(&loaded, &target, format)?;
    let failed = |e: std::io::Error| Error::Write { path: out.display().to_string(), detail: e.to_string() };
    std::fs::create_dir_all(&out).map_err(failed)?;
    let file = out.join(format.file_name());
    write(&file, &template)?;
    Ok(ctx.ui.show(&Rendered { path: file.display().to_string(), format })?)
}

impl Text for Rendered {
    fn text(&self, _: &dyn Draw) -> String {
        format!("{}\n", self.path)
    }
}
