//! `images`: the account's own AMIs, newest first (every configured account and region with
//! `[accounts]`).

use super::line::OrgArgs;
use super::shown::{placed, short_time, where_read};
use super::{reach, Context};
use crate::aws::inventory::{self, Image, Protection};
use crate::aws::org::Located;
use crate::core::clock::Timestamp;
use crate::core::show::{Cell, Draw, Text};
use crate::Result;
use schemars::JsonSchema;
use serde::Serialize;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub org: OrgArgs,
}

/// The AMIs read, and where (`Org::scope`), for the line that says none is there.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(transparent)]
pub struct Images {
    pub images: Vec<Located<Image>>,
    #[serde(skip)]
    pub scope: String,
}

/// What `--output json` prints.
pub type Report = Images;
pub const JSON: super::Json = super::Json::of::<Report>();

/// The IAM permissions this command's AWS calls need (`gio-ami iam-policy images`).
pub const IAM: &[&[crate::core::iam::Permission]] =
    &[super::reach::ASSUME, &[crate::aws::inventory::DESCRIBE_IMAGES]];

pub async fn run(args: Args, ctx: &Context<'_>) -> Result<()> {
    let spec = reach::optional_spec(&args.org.spec)?;
    let org = reach::reach(&ctx.options, spec.as_ref(), &args.org, &ctx.regions).await?;
    let images = org.rows(|place| inventory::own_images(&place.aws)).await?;
    ctx.ui.warn(&images.warnings);
    Ok(ctx.ui.show(&Images { images: images.rows, scope: org.scope() })?)
}

impl Text for Images {
    fn text(&self, draw: &dyn Draw) -> String {
        if self.images.is_empty() {
            return format!("No AMIs owned by {}.\n", self.scope);
        }
        let mut table = placed(
            &self.images,
            &["NAME", "AMI", "STATE", "CREATED", "LAST LAUNCH", "RELEASE", "SNAPSHOTS", "GiB"],
        );
        for located in &self.images {
            let image = &located.item;
            table.row(where_read(
                located,
                vec![
                    Cell::new(&image.name),
                    Cell::new(&image.id),
                    Cell::new(match image.protection {
                        Protection::Disabled => image.state.to_string(),
                        _ => format!("{}\nprotected", image.state),
                    }),
                    Cell::new(short_time(image.created.as_ref().map(Timestamp::as_str))),
                    Cell::new(short_time(image.last_launched.as_ref().map(Timestamp::as_str))),
                    Cell::new(image.release().unwrap_or("-")),
                    Cell::new(image.snapshot_ids().collect::<Vec<_>>().join("\n")),
                    Cell::number(image.total_gib()),
                ],
            ));
        }
        format!("{}\n", draw.table(&table))
    }
}
