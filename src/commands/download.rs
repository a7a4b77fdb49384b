//! `download`: a snapshot's blocks into a local sparse file, the reverse of `upload`. The
//! transfer is `transfer::download`'s.

use super::line::Workers;
use super::Context;
use crate::core::ids::SnapshotId;
use crate::core::show::{Draw, Text};
use crate::transfer::download::{self, Downloaded};
use crate::{Aws, Result};
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The snapshot (snap-…).
    #[arg(value_name = "SNAPSHOT_ID")]
    pub snapshot: String,

    /// The file to write; it must not exist yet unless --force is given.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,

    /// Replace FILE if it exists.
    #[arg(long)]
    pub force: bool,

    #[command(flatten)]
    pub workers: Workers,
}

/// What `--output json` prints.
pub type Report = Downloaded;
pub const JSON: super::Json = super::Json::of::<Report>();

/// The IAM permissions this command's AWS calls need (`gio-ami iam-policy download`).
pub const IAM: &[&[crate::core::iam::Permission]] =
    &[crate::transfer::download::IAM, &[crate::aws::inventory::DESCRIBE_SNAPSHOTS]];

pub async fn run(args: Args, ctx: &Context<'_>) -> Result<()> {
    let snapshot: SnapshotId = args.snapshot.parse()?;
    let aws = Aws::connect(&ctx.options).await?;
    let progress = ctx.ui.progress();
    let downloaded =
        download::download(&aws, &snapshot, &args.file, args.workers.workers, args.force, progress.as_ref())
            .await;
    progress.finish();
    Ok(ctx.ui.show(&downloaded?)?)
}

impl Text for Downloaded {
    fn text(&self, _: &dyn Draw) -> String {
        format!(
            "{} -> {}: {} GiB, {} blocks written ({} holes left sparse), {:.1} MiB/s\n",
            self.snapshot_id,
            self.path,
            self.volume_gib,
            self.blocks_written,
            self.blocks_sparse,
            self.mib_per_second
        )
    }
}
