//! `lineage`: where an AMI comes from and what was derived from it.

use super::Context;
use crate::aws::inventory;
use crate::aws::lineage::{lineage, Node};
use crate::aws::Aws;
use crate::core::ids::AmiId;
use crate::core::show::{Draw, Text};
use crate::error::Result;
use schemars::JsonSchema;
use serde::Serialize;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The AMI id (ami-…).
    #[arg(value_name = "AMI_ID", required_unless_present = "release", conflicts_with = "release")]
    pub ami: Option<String>,

    /// Every AMI of this release instead (a release set's variants, one tree each).
    #[arg(long, value_name = "NAME")]
    pub release: Option<String>,
}

/// The tree, oldest ancestor first, as `lineage` prints it.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(transparent)]
pub struct Lineage(pub Vec<Node>);

/// What `--output json` prints.
pub type Report = Lineage;
pub const JSON: super::Json = super::Json::of::<Report>();

/// The IAM permissions this command's AWS calls need (`gio-ami iam-policy lineage`).
pub const IAM: &[&[crate::core::iam::Permission]] = &[&[crate::aws::inventory::DESCRIBE_IMAGES]];

pub async fn run(args: Args, ctx: &Context<'_>) -> Result<()> {
    let ami: Option<AmiId> = args.ami.as_deref().map(str::parse).transpose()?;
    let aws = Aws::connect(&ctx.options).await?;
    let targets = inventory::own_ids(&aws, ami.into_iter().collect(), args.release.as_deref()).await?;
    Ok(ctx.ui.show(&Lineage(of(&aws, &targets).await?))?)
}

/// One listing of the account's AMIs, then each target's tree is computed locally.
pub async fn of(aws: &Aws, targets: &[AmiId]) -> Result<Vec<Node>> {
    let images = inventory::own_images(aws).await?;
    let unlisted: Vec<AmiId> =
        targets.iter().filter(|t| !images.iter().any(|i| i.id == t.as_str())).cloned().collect();
    if !unlisted.is_empty() {
        // Names the reason (not found, someone else's) the way every command does.
        inventory::own_images_by_id(aws, &unlisted).await?;
    }
    Ok(targets.iter().flat_map(|t| lineage(&images, t.as_str())).collect())
}

impl Text for Lineage {
    fn text(&self, _: &dyn Draw) -> String {
        self.0
            .iter()
            .map(|node| {
                let indent = match node.depth {
                    0 => String::new(),
                    depth => format!("{}└─ ", "   ".repeat(depth - 1)),
                };
                let name = node.name.as_deref().unwrap_or("(not in this account: the base)");
                let marker = if node.target { "   ◀" } else { "" };
                format!("{indent}{}  {name}{marker}\n", node.id)
            })
            .collect()
    }
}
