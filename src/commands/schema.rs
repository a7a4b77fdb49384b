//! `schema`: the JSON Schema of gio-ami.toml, for editors.

use super::Context;
use crate::spec;
use crate::Result;

#[derive(Debug, clap::Args)]
pub struct Args {}

pub async fn run(_: Args, ctx: &Context<'_>) -> Result<()> {
    Ok(ctx.ui.print(format!("{}\n", spec::schema_text()?).as_bytes())?)
}
