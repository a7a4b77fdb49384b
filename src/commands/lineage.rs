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
    #[arg(value_name = "AMI_ID")]
    pub ami: String,
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
    let ami: AmiId = args.ami.parse()?;
    let aws = Aws::connect(&ctx.options).await?;
    Ok(ctx.ui.show(&Lineage(of(&aws, &ami).await?))?)
}

/// One listing of the account's AMIs, then the tree is computed locally.
pub async fn of(aws: &Aws, target: &AmiId) -> Result<Vec<Node>> {
    let images = inventory::own_images(aws).await?;
    if !images.iter().any(|i| i.id == target.as_str()) {
        // Names the reason (not found, someone else's) the way every command does.
        inventory::own_images_by_id(aws, std::slice::from_ref(target)).await?;
    }
    Ok(lineage(&images, target.as_str()))
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
