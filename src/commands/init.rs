//! `init`: a commented gio-ami.toml to start from, and its JSON Schema beside it.

use super::{write, Context};
use crate::spec;
use crate::{Error, Result};
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where to write it.
    #[arg(default_value = spec::DEFAULT_PATH)]
    pub path: PathBuf,
    /// Overwrite an existing file.
    #[arg(long)]
    pub force: bool,
}

/// No JSON: it writes gio-ami.toml and its schema.
pub const JSON: super::Json = super::Json::Not("it writes gio-ami.toml and its schema");

/// None: this command calls no AWS API.
pub const IAM: &[&[crate::core::iam::Permission]] = &[];

pub async fn run(args: Args, ctx: &Context<'_>) -> Result<()> {
    let path = &args.path;
    if path.exists() && !args.force {
        return Err(Error::Exists { path: path.display().to_string() });
    }
    let schema = path.with_file_name(spec::SCHEMA_FILE);
    write(path, spec::TEMPLATE)?;
    write(&schema, &spec::schema_text()?)?;
    ctx.ui.note(&format!(
        "wrote {} and {}: edit the spec, then `gio-ami check` and `gio-ami build`",
        path.display(),
        schema.display()
    ));
    Ok(())
}
