//! `base`: the EKS-optimized AMI AWS recommends now for a Kubernetes version (the public SSM
//! parameters).

use super::line::choice;
use super::shown::short_time;
use super::Context;
use crate::aws::base::{self, Base};
use crate::core::clock::Timestamp;
use crate::core::kinds::{Arch, Family, Variant};
use crate::core::show::{Cell, Draw, Table, Text};
use crate::{Aws, Result};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The Kubernetes minor version, e.g. 1.31
    #[arg(long, value_name = "VERSION")]
    pub kubernetes: String,
    #[arg(long, value_parser = choice::<Family>(), default_value = "al2023")]
    pub family: Family,
    #[arg(long, value_parser = choice::<Arch>(), default_value = "x86_64")]
    pub arch: Arch,
    #[arg(long, value_parser = choice::<Variant>(), default_value = "standard")]
    pub variant: Variant,
}

/// What `--output json` prints.
pub type Report = Base;
pub const JSON: super::Json = super::Json::of::<Report>();

/// The IAM permissions this command's AWS calls need (`gio-ami iam-policy base`).
pub const IAM: &[&[crate::core::iam::Permission]] = &[&crate::aws::base::IAM];

pub async fn run(args: Args, ctx: &Context<'_>) -> Result<()> {
    let aws = Aws::connect(&ctx.options).await?;
    let query = base::Query {
        family: args.family,
        kubernetes: args.kubernetes,
        arch: args.arch,
        variant: args.variant,
    };
    Ok(ctx.ui.show(&base::resolve(&aws, &query).await?)?)
}

impl Text for Base {
    fn text(&self, draw: &dyn Draw) -> String {
        let image = &self.image;
        let mut table = Table::new(&["AMI", "NAME", "RELEASE", "CREATED", "PARAMETER"]);
        table.row(vec![
            Cell::new(&image.id),
            Cell::new(&image.name),
            Cell::new(self.release_version.as_deref().unwrap_or("-")),
            Cell::new(short_time(image.created.as_ref().map(Timestamp::as_str))),
            Cell::new(self.parameter.as_deref().unwrap_or("-")),
        ]);
        format!("{}\n", draw.table(&table))
    }
}
