//! `check`: validate a spec without touching AWS.

use super::Context;
use crate::core::show::{Draw, Text};
use crate::spec::{self, Warning};
use crate::Result;
use schemars::JsonSchema;
use serde::Serialize;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(default_value = spec::DEFAULT_PATH, value_name = "SPEC")]
    pub spec: PathBuf,
}

/// A spec that loaded: where, and what it should still fix.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Checked {
    pub spec: String,
    pub valid: bool,
    pub warnings: Vec<Warning>,
}

/// What `--output json` prints.
pub type Report = Checked;
pub const JSON: super::Json = super::Json::of::<Report>();

/// None: this command calls no AWS API.
pub const IAM: &[&[crate::core::iam::Permission]] = &[];

pub async fn run(args: Args, ctx: &Context<'_>) -> Result<()> {
    let loaded = spec::load(&args.spec)?;
    let checked = Checked { spec: loaded.path.display().to_string(), valid: true, warnings: loaded.warnings };
    Ok(ctx.ui.show(&checked)?)
}

impl Text for Checked {
    fn text(&self, _: &dyn Draw) -> String {
        let mut text = format!("{}: valid\n", self.spec);
        for w in &self.warnings {
            text.push_str(&format!("warning: {}: {}\n", w.key, w.message));
        }
        text
    }
}
