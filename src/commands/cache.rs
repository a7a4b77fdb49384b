//! `cache list` and `cache prune`: the base images the offline engine and `diff` keep on this
//! machine (`transfer::cache`). No AWS call.

use super::Context;
use crate::core::show::{Cell, Draw, Table, Text};
use crate::transfer::cache::{self, Cache, Listed};
use crate::Result;
use schemars::JsonSchema;
use serde::Serialize;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, clap::Subcommand)]
pub enum Args {
    /// List the cached snapshots: size, blocks, space taken, how long unused.
    List(Dir),

    /// Remove cached snapshots unused for --idle (and what killed runs left: unfinished
    /// downloads, scratch copies). The next build on a removed base reads it from EBS again.
    ///
    /// Examples:
    ///   gio-ami cache prune                 # unused for 30 days
    ///   gio-ami cache prune --idle 7d --dry-run
    ///   gio-ami cache prune --all
    #[command(verbatim_doc_comment)]
    Prune(PruneArgs),
}

#[derive(Debug, clap::Args)]
pub struct Dir {
    /// The cache (default: the user cache, ~/.cache/gio-ami/images).
    #[arg(long, env = "GIO_AMI_CACHE_DIR", value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct PruneArgs {
    #[command(flatten)]
    pub dir: Dir,
    /// Remove what no build or diff used for this long (e.g. 7d, 12h).
    #[arg(long, default_value = "30d", value_parser = humantime::parse_duration, conflicts_with = "all")]
    pub idle: Duration,
    /// Remove everything.
    #[arg(long)]
    pub all: bool,
    /// Print what would be removed, and remove nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// What `cache list` prints.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Listing {
    pub cache_dir: String,
    pub snapshots: Vec<Listed>,
}

/// What `cache prune` prints: what it removed (or would, with --dry-run).
#[derive(Debug, Serialize, JsonSchema)]
pub struct Pruned {
    pub cache_dir: String,
    pub dry_run: bool,
    pub snapshots: Vec<Listed>,
    /// Unfinished downloads and scratch copies of runs that died.
    pub leftovers: Vec<String>,
    pub bytes_freed: u64,
}

pub const JSON: super::Json = super::Json::Subcommands(&[
    ("list", super::Json::of::<Listing>()),
    ("prune", super::Json::of::<Pruned>()),
]);

/// None: this command calls no AWS API.
pub const IAM: &[&[crate::core::iam::Permission]] = &[];

pub async fn run(args: Args, ctx: &Context<'_>) -> Result<()> {
    match args {
        Args::List(dir) => {
            let cache = Cache::at(dir.cache_dir)?;
            let listing = Listing { snapshots: cache.list()?, cache_dir: cache.dir.display().to_string() };
            Ok(ctx.ui.show(&listing)?)
        }
        Args::Prune(args) => {
            let cache = Cache::at(args.dir.cache_dir)?;
            let idle = if args.all { Duration::ZERO } else { args.idle };
            let snapshots: Vec<Listed> =
                cache.list()?.into_iter().filter(|l| Duration::from_secs(l.idle_seconds) >= idle).collect();
            let leftovers = cache.leftovers(idle);
            let bytes_freed = snapshots.iter().map(|l| l.disk_bytes).sum::<u64>()
                + leftovers.iter().map(|p| cache::on_disk(p)).sum::<u64>();
            if !args.dry_run {
                for listed in &snapshots {
                    cache.remove(&listed.snapshot_id);
                }
                for path in &leftovers {
                    let _ = std::fs::remove_file(path);
                }
            }
            let pruned = Pruned {
                cache_dir: cache.dir.display().to_string(),
                dry_run: args.dry_run,
                snapshots,
                leftovers: leftovers.iter().map(|p| p.display().to_string()).collect(),
                bytes_freed,
            };
            Ok(ctx.ui.show(&pruned)?)
        }
    }
}

fn table(snapshots: &[Listed]) -> Table {
    let mut table = Table::new(&["SNAPSHOT", "VOLUME GIB", "BLOCKS", "ON DISK MIB", "UNUSED FOR"]);
    for l in snapshots {
        table.row(vec![
            Cell::new(&l.snapshot_id),
            Cell::number(l.volume_gib),
            Cell::number(l.blocks),
            Cell::number(l.disk_bytes / (1024 * 1024)),
            Cell::new(humantime::format_duration(Duration::from_secs(l.idle_seconds / 60 * 60))),
        ]);
    }
    table
}

impl Text for Listing {
    fn text(&self, draw: &dyn Draw) -> String {
        if self.snapshots.is_empty() {
            return format!("{}: empty\n", self.cache_dir);
        }
        format!("{}:\n{}\n", self.cache_dir, draw.table(&table(&self.snapshots)))
    }
}

impl Text for Pruned {
    fn text(&self, draw: &dyn Draw) -> String {
        let verb = if self.dry_run { "would free" } else { "freed" };
        let mut text = String::new();
        if !self.snapshots.is_empty() {
            text.push_str(&format!("{}\n", draw.table(&table(&self.snapshots))));
        }
        for path in &self.leftovers {
            text.push_str(&format!("leftover {path}\n"));
        }
        text.push_str(&format!(
            "{} snapshot(s) and {} leftover(s) in {}: {verb} {} MiB\n",
            self.snapshots.len(),
            self.leftovers.len(),
            self.cache_dir,
            self.bytes_freed / (1024 * 1024)
        ));
        text
    }
}
