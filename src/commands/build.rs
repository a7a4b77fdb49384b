//! `build`: the spec's AMI, by the native engine, real Packer, or offline (no instance). The
//! engines are `engines`'.

use super::line::choice;
use super::shown::{Made, Own};
use super::{execute, Context, Mode};
use crate::core::kinds::Engine;
use crate::engines::{self, BuiltRelease};
use crate::spec;
use crate::{Aws, Result};
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(default_value = spec::DEFAULT_PATH, value_name = "SPEC")]
    pub spec: PathBuf,
    /// native | packer | offline (default: the spec's build.engine).
    #[arg(long, value_parser = choice::<Engine>())]
    pub engine: Option<Engine>,
    /// Where the offline engine keeps base images it read (shareable between CI runs; default:
    /// the user cache, ~/.cache/gio-ami/images).
    #[arg(long, env = "GIO_AMI_CACHE_DIR", value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Print the base and the name the build would use, and launch nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// What `--output json` prints: the plan, and once built the AMI, its name and phases at the top.
pub type Report = super::Mutation<engines::Builds, Option<BuiltRelease>, crate::change::Procedure>;
pub const JSON: super::Json = super::Json::of::<Report>();

/// The IAM permissions this command's AWS calls need (`gio-ami iam-policy build`).
pub const IAM: &[&[crate::core::iam::Permission]] = &[
    &crate::aws::base::IAM,
    crate::engines::native::IAM,
    &crate::engines::native::CLEAN_UP,
    crate::engines::native::SSM,
    crate::engines::native::PASS_ROLE,
    crate::engines::packer::IAM,
    crate::engines::offline::IAM,
    &[crate::aws::inventory::DESCRIBE_SNAPSHOTS, crate::aws::tagging::CREATE_TAGS],
];

pub async fn run(args: Args, ctx: &Context<'_>) -> Result<()> {
    let loaded = spec::load(&args.spec)?;
    let engine = args.engine.unwrap_or(loaded.spec.engine());
    // The spec's warning about its files is for its own engine; this build runs `engine`.
    let spec_files = spec::files_ignored(&loaded.spec, loaded.spec.engine());
    let warnings = loaded.warnings.iter().filter(|w| Some(*w) != spec_files.as_ref());
    for warning in warnings.chain(&spec::files_ignored(&loaded.spec, engine)) {
        tracing::warn!("{}: {}", warning.key, warning.message);
    }
    let aws = Aws::connect(&ctx.options).await?;
    let progress = ctx.ui.progress();
    let plan = engines::prepare(&aws, &loaded, args.engine, args.cache_dir, progress.as_ref()).await?;
    let mode = Mode::adding("build", args.dry_run, "built");
    let own = Own { before: before(&plan.facts), ..Own::default() };
    let built =
        execute(ctx, &aws, &plan, &mode, own, || engines::build(&aws, &loaded, &plan, progress.as_ref()))
            .await;
    progress.finish();
    built
}

/// What the plan's table leaves out, for people: a set's variants made already, and what each
/// offline build reuses and reads.
fn before(builds: &engines::Builds) -> String {
    let mut text = String::new();
    if let engines::Builds::Set(set) = builds {
        for made in &set.made {
            text.push_str(&format!(
                "{} {}: {} (made by an earlier run, kept)\n",
                set.release, made.member, made.ami
            ));
        }
    }
    for building in builds.buildings() {
        if let Some(offline) = &building.offline {
            if let Some(member) = building.member {
                text.push_str(&format!("{member}:\n"));
            }
            text.push_str(&intro(offline));
        }
    }
    text
}

/// What an offline build reuses, reads and applies, for people.
fn intro(offline: &crate::engines::offline::Plan) -> String {
    let copy = match &offline.copy {
        Some(copy) => format!("the base's copy {} in this account (reused)", copy.id),
        None => "a copy of the base into this account (CopyImage, once per base)".into(),
    };
    let root = match (&offline.root_snapshot, offline.cached) {
        (Some(root), true) => format!("{root}, cached in {}: no block read", offline.cache_dir),
        (Some(root), false) => format!(
            "{root}, read into {} ({} GiB volume, blocks with data only)",
            offline.cache_dir, offline.root_gib
        ),
        (None, _) => format!(
            "the copy's root, read into {} ({} GiB volume, blocks with data only)",
            offline.cache_dir, offline.root_gib
        ),
    };
    let list = |items: &[String]| if items.is_empty() { "none".to_string() } else { items.join(", ") };
    format!(
        "offline: {copy}\nroot: {root}\nfiles: {}\nscripts: {} ({})\n",
        list(&offline.files),
        list(&offline.scripts),
        if offline.network { "with network" } else { "no network" }
    )
}

/// The AMI, its name and the phases (a set's AMIs each with theirs), at the top where scripts
/// read them.
impl Made for BuiltRelease {
    fn own(&self, own: Own) -> serde_json::Result<Own> {
        own.with_top(self)
    }
}
