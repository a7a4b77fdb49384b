//! `diff OLD NEW`: what changed between two AMIs' roots. Both root snapshots come through the
//! local cache (`transfer::cache`: a cached one is not read again, one of a cached lineage only
//! in its changed blocks), then one libguestfs appliance reads both, read-only: each root's
//! package database (inspection) and its tree (a tar archive, hashed here). The comparison is
//! pure.

use super::Context;
use crate::aws::inventory::{self, Image};
use crate::core::ids::AmiId;
use crate::core::show::{Cell, Draw, Table, Text};
use crate::engines::guestfs::{Drive, GuestfsError, Session};
use crate::transfer::blocks::DEFAULT_WORKERS;
use crate::transfer::cache::{Cache, Source};
use crate::transfer::image_file::local_error;
use crate::{Aws, Error, Result};
use schemars::JsonSchema;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The AMI before (ami-…).
    #[arg(value_name = "OLD_AMI")]
    pub old: String,
    /// The AMI after (ami-…).
    #[arg(value_name = "NEW_AMI")]
    pub new: String,
    /// Where root images are cached (default: the user cache, ~/.cache/gio-ami/images).
    #[arg(long, env = "GIO_AMI_CACHE_DIR", value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
}

/// What `--output json` prints.
pub type Report = Diff;
pub const JSON: super::Json = super::Json::of::<Report>();

/// The IAM permissions this command's AWS calls need (`gio-ami iam-policy diff`).
pub const IAM: &[&[crate::core::iam::Permission]] = &[
    &[crate::aws::inventory::DESCRIBE_IMAGES, crate::aws::inventory::DESCRIBE_SNAPSHOTS],
    crate::transfer::download::IAM,
    &[crate::core::iam::Permission::new(crate::core::error::Service::Ebs, "ListChangedBlocks")
        .optional("reading only the blocks that differ from a cached root of the same lineage")],
];

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Diff {
    pub old: Side,
    pub new: Side,
    pub packages: Packages,
    /// Regular files, links and directories that differ, by path.
    pub files: Vec<FileChange>,
}

/// One AMI's root, and how it was read.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Side {
    pub ami: String,
    pub name: String,
    pub snapshot: String,
    pub read: Source,
}

#[derive(Debug, Clone, Default, Serialize, JsonSchema, PartialEq)]
pub struct Packages {
    pub added: Vec<Package>,
    pub removed: Vec<Package>,
    /// Packages whose version differs (see `Upgrade`).
    pub upgraded: Vec<Upgrade>,
}

#[derive(Debug, Clone, Serialize, JsonSchema, PartialEq)]
pub struct Package {
    pub name: String,
    pub version: String,
}

/// A package whose version differs (an upgrade or a downgrade: versions are shown as the
/// package database spells them, not ordered).
#[derive(Debug, Clone, Serialize, JsonSchema, PartialEq)]
pub struct Upgrade {
    pub name: String,
    pub from: String,
    pub to: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Change {
    Added,
    Removed,
    Modified,
}

#[derive(Debug, Clone, Serialize, JsonSchema, PartialEq)]
pub struct FileChange {
    pub path: String,
    pub change: Change,
    pub old_size: Option<u64>,
    pub new_size: Option<u64>,
    /// Permission bits in octal, e.g. "0644".
    pub old_mode: Option<String>,
    pub new_mode: Option<String>,
}

/// One entry of a tree: what makes two of them the same.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub size: u64,
    pub mode: u32,
    pub owner: (u64, u64),
    /// The content's SHA-256 for a file, the target for a link, nothing for a directory.
    pub content: String,
}

pub type Tree = BTreeMap<String, Entry>;

pub async fn run(args: Args, ctx: &Context<'_>) -> Result<()> {
    let ids: Vec<AmiId> = vec![args.old.parse()?, args.new.parse()?];
    let aws = Aws::connect(&ctx.options).await?;
    let cache = Cache::at(args.cache_dir)?;
    let images =
        inventory::any_images_by_id(&aws, &ids.iter().map(|i| i.to_string()).collect::<Vec<_>>()).await?;
    let find = |id: &AmiId| {
        images
            .iter()
            .find(|i| i.id == *id)
            .cloned()
            .ok_or_else(|| Error::AmiNotFound { ids: vec![id.to_string()], region: aws.region().to_string() })
    };
    let (old, new) = (find(&ids[0])?, find(&ids[1])?);
    let roots = [root_of(&old)?, root_of(&new)?];
    let parents: Vec<String> = inventory::snapshots_by_id(&aws, &roots)
        .await?
        .into_iter()
        .filter_map(|s| s.tags.get(crate::core::tags::PARENT_SNAPSHOT).cloned())
        .collect();
    let progress = ctx.ui.progress();
    let mut sides = Vec::new();
    for (image, root) in [(&old, &roots[0]), (&new, &roots[1])] {
        // Its lineage: the other root, and the snapshots either was uploaded against.
        let kin: Vec<String> = roots.iter().chain(&parents).filter(|s| *s != root).cloned().collect();
        let (entry, read) = cache.fetch(&aws, root, &kin, DEFAULT_WORKERS, progress.as_ref()).await?;
        sides.push((
            Side { ami: image.id.to_string(), name: image.name.clone(), snapshot: root.clone(), read },
            entry.image,
        ));
    }
    progress.phase("inspecting both roots with libguestfs");
    let work = (
        cache.work_path(&format!("diff-{}-old.tar", std::process::id()))?,
        cache.work_path(&format!("diff-{}-new.tar", std::process::id()))?,
    );
    let inspected = tokio::task::block_in_place(|| inspect(&sides[0].1, &sides[1].1, (&work.0, &work.1)));
    let trees = inspected.and_then(|packages| Ok((packages, read_tree(&work.0)?, read_tree(&work.1)?)));
    let _ = std::fs::remove_file(&work.0);
    let _ = std::fs::remove_file(&work.1);
    progress.finish();
    let ((old_packages, new_packages), old_tree, new_tree) = trees?;
    let mut sides = sides.into_iter().map(|(side, _)| side);
    let diff = Diff {
        old: sides.next().expect("two sides"),
        new: sides.next().expect("two sides"),
        packages: compare_packages(&old_packages, &new_packages),
        files: compare_trees(&old_tree, &new_tree),
    };
    Ok(ctx.ui.show(&diff)?)
}

fn root_of(image: &Image) -> Result<String> {
    image.root_mapping().and_then(|m| m.snapshot_id.clone()).ok_or_else(|| Error::Api {
        operation: "DescribeImages",
        code: "NoRootSnapshot".into(),
        message: format!("{} ({}) has no root EBS snapshot to read", image.id, image.name),
    })
}

type Versions = BTreeMap<String, String>;

/// Both images in one appliance run: each root's packages, and its tree into a tar archive.
fn inspect(old: &Path, new: &Path, (old_tar, new_tar): (&Path, &Path)) -> Result<(Versions, Versions)> {
    let drives = [Drive { path: old, writable: false }, Drive { path: new, writable: false }];
    let mut session = Session::launch(&drives, false)?;
    let roots = session.roots()?;
    let mut packages = Vec::new();
    for (drive, (image, tar)) in ["/dev/sda", "/dev/sdb"].iter().zip([(old, old_tar), (new, new_tar)]) {
        let root = roots
            .iter()
            .find(|r| r.starts_with(drive))
            .ok_or_else(|| GuestfsError::NoRoot { image: image.display().to_string() })?;
        session.mount_root_read_only(root)?;
        packages.push(session.packages(root)?);
        session.tar_out(tar)?;
        session.unmount_all()?;
    }
    session.finish()?;
    let new = packages.pop().unwrap_or_default();
    Ok((packages.pop().unwrap_or_default(), new))
}

/// The tree of a tar archive: every entry by its path (from /), its content hashed.
pub fn read_tree(path: &Path) -> Result<Tree> {
    let file = std::fs::File::open(path).map_err(|e| local_error("open", path, e))?;
    let bad = |e: std::io::Error| local_error("read", path, e);
    let mut archive = tar::Archive::new(file);
    let mut tree = Tree::new();
    for entry in archive.entries().map_err(bad)? {
        let mut entry = entry.map_err(bad)?;
        let name = entry
            .path()
            .map_err(bad)?
            .to_string_lossy()
            .trim_start_matches("./")
            .trim_end_matches('/')
            .to_string();
        let header = entry.header().clone();
        let content = match header.entry_type() {
            tar::EntryType::Symlink | tar::EntryType::Link => {
                format!("-> {}", entry.link_name().map_err(bad)?.unwrap_or_default().display())
            }
            tar::EntryType::Directory => String::new(),
            _ => {
                let mut hasher = Sha256::new();
                let mut buffer = vec![0; 1 << 16];
                loop {
                    let n = entry.read(&mut buffer).map_err(bad)?;
                    if n == 0 {
                        break;
                    }
                    hasher.update(&buffer[..n]);
                }
                hasher.finalize().iter().map(|b| format!("{b:02x}")).collect()
            }
        };
        tree.insert(
            format!("/{name}"),
            Entry {
                size: header.size().map_err(bad)?,
                mode: header.mode().map_err(bad)? & 0o7777,
                owner: (header.uid().map_err(bad)?, header.gid().map_err(bad)?),
                content,
            },
        );
    }
    Ok(tree)
}

/// Packages added, removed and upgraded between two package lists. Pure.
pub fn compare_packages(old: &Versions, new: &Versions) -> Packages {
    let mut packages = Packages::default();
    for (name, version) in new {
        match old.get(name) {
            None => packages.added.push(Package { name: name.clone(), version: version.clone() }),
            Some(before) if before != version => packages.upgraded.push(Upgrade {
                name: name.clone(),
                from: before.clone(),
                to: version.clone(),
            }),
            Some(_) => {}
        }
    }
    for (name, version) in old.iter().filter(|(name, _)| !new.contains_key(*name)) {
        packages.removed.push(Package { name: name.clone(), version: version.clone() });
    }
    packages
}

/// Entries added, removed and modified (content, size, mode or owner) between two trees. Pure.
pub fn compare_trees(old: &Tree, new: &Tree) -> Vec<FileChange> {
    let mode = |e: Option<&Entry>| e.map(|e| format!("{:04o}", e.mode));
    let mut changes = Vec::new();
    let paths: std::collections::BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    for path in paths {
        let (before, after) = (old.get(path), new.get(path));
        let change = match (before, after) {
            (None, Some(_)) => Change::Added,
            (Some(_), None) => Change::Removed,
            (Some(b), Some(a)) if b != a => Change::Modified,
            _ => continue,
        };
        // A directory whose entries changed is not news: its entries are.
        if change == Change::Modified
            && before.is_some_and(|b| b.content.is_empty() && b.mode == after.map_or(0, |a| a.mode))
        {
            continue;
        }
        changes.push(FileChange {
            path: path.clone(),
            change,
            old_size: before.map(|e| e.size),
            new_size: after.map(|e| e.size),
            old_mode: mode(before),
            new_mode: mode(after),
        });
    }
    changes
}

impl Text for Diff {
    fn text(&self, draw: &dyn Draw) -> String {
        let mut text =
            format!("{} ({}) -> {} ({})\n", self.old.ami, self.old.name, self.new.ami, self.new.name);
        let p = &self.packages;
        if p.added.is_empty() && p.removed.is_empty() && p.upgraded.is_empty() {
            text.push_str("packages: no change\n");
        } else {
            let mut table = Table::new(&["PACKAGE", "CHANGE", "OLD", "NEW"]);
            for a in &p.added {
                table.row(vec![Cell::new(&a.name), Cell::new("added"), Cell::new(""), Cell::new(&a.version)]);
            }
            for r in &p.removed {
                table.row(vec![
                    Cell::new(&r.name),
                    Cell::new("removed"),
                    Cell::new(&r.version),
                    Cell::new(""),
                ]);
            }
            for c in &p.upgraded {
                table.row(vec![
                    Cell::new(&c.name),
                    Cell::new("upgraded"),
                    Cell::new(&c.from),
                    Cell::new(&c.to),
                ]);
            }
            text.push_str(&format!("{}\n", draw.table(&table)));
        }
        if self.files.is_empty() {
            text.push_str("files: no change\n");
        } else {
            let mut table = Table::new(&["PATH", "CHANGE", "SIZE", "MODE"]);
            let pair = |a: Option<String>, b: Option<String>| match (a, b) {
                (Some(a), Some(b)) if a == b => a,
                (a, b) => {
                    format!("{} -> {}", a.unwrap_or_else(|| "-".into()), b.unwrap_or_else(|| "-".into()))
                }
            };
            for f in &self.files {
                let change = match f.change {
                    Change::Added => "added",
                    Change::Removed => "removed",
                    Change::Modified => "modified",
                };
                table.row(vec![
                    Cell::new(&f.path),
                    Cell::new(change),
                    Cell::new(pair(f.old_size.map(|s| s.to_string()), f.new_size.map(|s| s.to_string()))),
                    Cell::new(pair(f.old_mode.clone(), f.new_mode.clone())),
                ]);
            }
            text.push_str(&format!("{}\n", draw.table(&table)));
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(size: u64, mode: u32, content: &str) -> Entry {
        Entry { size, mode, owner: (0, 0), content: content.into() }
    }

    #[test]
    fn packages_are_added_removed_or_upgraded() {
        let old =
            Versions::from([("jq.x86_64".into(), "1.6-1".into()), ("curl.x86_64".into(), "8.0-1".into())]);
        let new =
            Versions::from([("curl.x86_64".into(), "8.5-1".into()), ("htop.x86_64".into(), "3.2-1".into())]);
        let p = compare_packages(&old, &new);
        assert_eq!(p.added, vec![Package { name: "htop.x86_64".into(), version: "3.2-1".into() }]);
        assert_eq!(p.removed, vec![Package { name: "jq.x86_64".into(), version: "1.6-1".into() }]);
        assert_eq!(
            p.upgraded,
            vec![Upgrade { name: "curl.x86_64".into(), from: "8.0-1".into(), to: "8.5-1".into() }]
        );
        assert_eq!(compare_packages(&old, &old), Packages::default());
    }

    #[test]
    fn files_differ_by_content_size_or_mode_and_directories_only_by_mode() {
        let old = Tree::from([
            ("/etc".into(), entry(0, 0o755, "")),
            ("/etc/motd".into(), entry(5, 0o644, "aa")),
            ("/etc/gone".into(), entry(1, 0o644, "bb")),
            ("/bin/sh".into(), entry(0, 0o777, "-> busybox")),
        ]);
        let mut new = old.clone();
        new.remove("/etc/gone");
        new.insert("/etc/motd".into(), entry(5, 0o600, "aa"));
        new.insert("/opt/new".into(), entry(3, 0o755, "cc"));
        let changes = compare_trees(&old, &new);
        let summary: Vec<(&str, Change)> = changes.iter().map(|c| (c.path.as_str(), c.change)).collect();
        assert_eq!(
            summary,
            vec![
                ("/etc/gone", Change::Removed),
                ("/etc/motd", Change::Modified),
                ("/opt/new", Change::Added)
            ]
        );
        let motd = &changes[1];
        assert_eq!((motd.old_mode.as_deref(), motd.new_mode.as_deref()), (Some("0644"), Some("0600")));
        assert!(compare_trees(&old, &old).is_empty());
    }
}
