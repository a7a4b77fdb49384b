//! `schema`: the JSON Schema of gio-ami.toml, for editors; with `--report VERB`, the one of what
//! VERB prints with `--output json`, for scripts.

use super::json::{self, Json};
use super::Context;
use crate::spec;
use crate::Result;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print the JSON Schema of what VERB prints with --output json instead (e.g. `wipe`,
    /// `recycle-bin`, `disks add`).
    #[arg(long, value_name = "VERB", num_args = 1..=2)]
    pub report: Vec<String>,
}

/// It prints a schema, not a report.
pub const JSON: Json = Json::Not("it prints a JSON Schema");

/// None: this command calls no AWS API.
pub const IAM: &[&[crate::core::iam::Permission]] = &[];

pub async fn run(args: Args, ctx: &Context<'_>) -> Result<()> {
    let text = match args.report.is_empty() {
        true => spec::schema_text()?,
        false => serde_json::to_string_pretty(&json::find(&super::reports(), &args.report.join(" "))?)?,
    };
    Ok(ctx.ui.print(format!("{text}\n").as_bytes())?)
}
