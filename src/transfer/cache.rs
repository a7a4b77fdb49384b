//! Snapshots kept on this machine as sparse raw images, each beside its manifest (the SHA-256 of
//! every 512 KiB block it holds): a base is read from EBS once, and every later build on it, and
//! every `diff` of a release of its lineage, starts from the local copy. A file whose blocks no
//! longer match its manifest is never used: it is dropped and read again.

use crate::aws::Aws;
use crate::core::progress::{Counter, Progress, Unit};
use crate::error::{Error, Result};
use crate::transfer::blocks::{self, BLOCK_SIZE, GIB};
use crate::transfer::download;
use crate::transfer::image_file::local_error;
use crate::transfer::manifest::{Digests, Manifest};
use futures::stream::{self, StreamExt, TryStreamExt};
use schemars::JsonSchema;
use serde::Serialize;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// The subdirectory of the user cache (or of GIO_AMI_CACHE_DIR's parent choice) that holds images.
const IMAGES: &str = "images";
/// Where builds change their copy of a base: beside the cache, so the copy is on the same disk.
const WORK: &str = "work";
/// An unfinished download's suffix: never taken for a cached image.
const PARTIAL: &str = "partial";

/// The cache: `dir` holds `SNAPSHOT.raw` and `SNAPSHOT.json` pairs.
#[derive(Debug, Clone)]
pub struct Cache {
    pub dir: PathBuf,
}

/// One cached snapshot.
#[derive(Debug, Clone)]
pub struct Entry {
    pub snapshot: String,
    pub image: PathBuf,
    pub manifest: Manifest,
}

/// How a snapshot came to be in the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// It was there: no block read.
    Cached,
    /// Every block read (ListSnapshotBlocks, GetSnapshotBlock).
    Downloaded,
    /// A cached snapshot of its lineage plus the blocks that differ (ListChangedBlocks).
    Changed,
}

/// A cached snapshot, as `cache list` shows it.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Listed {
    pub snapshot_id: String,
    pub path: String,
    pub volume_gib: u64,
    /// Blocks with data, by its manifest.
    pub blocks: u64,
    /// What the sparse file takes on disk.
    pub disk_bytes: u64,
    /// Seconds since a build or diff last used it.
    pub idle_seconds: u64,
}

impl Cache {
    /// The cache in `dir` (GIO_AMI_CACHE_DIR, `--cache-dir`), else in the user cache directory
    /// (`~/.cache/gio-ami/images` on Linux).
    pub fn at(dir: Option<PathBuf>) -> Result<Cache> {
        let dir = match dir {
            Some(dir) => dir,
            None => dirs::cache_dir().map(|c| c.join("gio-ami").join(IMAGES)).ok_or(Error::NoCacheDir)?,
        };
        Ok(Cache { dir })
    }

    fn image_path(&self, snapshot: &str) -> PathBuf {
        self.dir.join(format!("{snapshot}.raw"))
    }

    /// A scratch file for one run (a build's customized copy, a diff's tree): `name` is unique
    /// to it; any earlier file of that name is replaced.
    pub fn work_path(&self, name: &str) -> Result<PathBuf> {
        let dir = self.dir.join(WORK);
        std::fs::create_dir_all(&dir).map_err(|e| local_error("create", &dir, e))?;
        Ok(dir.join(name))
    }

    /// The cached snapshot, if both its image and its manifest are there.
    pub fn get(&self, snapshot: &str) -> Result<Option<Entry>> {
        let image = self.image_path(snapshot);
        if !image.is_file() {
            return Ok(None);
        }
        let manifest = match Manifest::load(&self.dir, snapshot) {
            Ok(Some(manifest)) => manifest,
            // An unreadable manifest is a cache entry to read again, not an error to stop at.
            Ok(None) | Err(_) => return Ok(None),
        };
        Ok(Some(Entry { snapshot: snapshot.to_string(), image, manifest }))
    }

    /// The snapshot from the cache, else read: from a cached snapshot of its lineage plus its
    /// changed blocks when one of `kin` is cached, else whole.
    pub async fn fetch(
        &self,
        aws: &Aws,
        snapshot: &str,
        kin: &[String],
        workers: usize,
        progress: &dyn Progress,
    ) -> Result<(Entry, Source)> {
        if let Some(entry) = self.get(snapshot)? {
            touch(&entry);
            return Ok((entry, Source::Cached));
        }
        std::fs::create_dir_all(&self.dir).map_err(|e| local_error("create", &self.dir, e))?;
        // Its own per process: two builds on one base may read it at once.
        let partial =
            self.image_path(snapshot).with_extension(format!("raw.{}.{PARTIAL}", std::process::id()));
        for relative in kin {
            let Some(entry) = self.get(relative)? else { continue };
            // Two snapshots of different lineages are refused by ListChangedBlocks: then the next.
            let changed = match download::changed_blocks(aws, relative, snapshot).await {
                Ok(changed) => changed,
                Err(e @ Error::AccessDenied { .. }) => {
                    tracing::warn!("{e}: {snapshot} is read whole instead of as its changes from {relative}");
                    continue;
                }
                Err(_) => continue,
            };
            if self.checkout(&entry, &partial).is_err() {
                continue;
            }
            progress.phase(&format!(
                "reading the {} blocks of {snapshot} that differ from {relative}",
                changed.len()
            ));
            let digests = apply_changes(
                aws,
                snapshot,
                &partial,
                entry.manifest.digests()?,
                &changed,
                workers,
                progress,
            )
            .await
            .inspect_err(|_| {
                let _ = std::fs::remove_file(&partial);
            })?;
            return Ok((
                self.keep(snapshot, &partial, entry.manifest.volume_gib, &digests)?,
                Source::Changed,
            ));
        }
        let id = crate::core::ids::SnapshotId::from_aws(snapshot);
        let downloaded = download::download(aws, &id, &partial, workers, true, progress).await?;
        Ok((self.keep(snapshot, &partial, downloaded.volume_gib, &downloaded.holds)?, Source::Downloaded))
    }

    /// Makes a finished download the cached image, its manifest first.
    fn keep(&self, snapshot: &str, partial: &Path, volume_gib: u64, holds: &Digests) -> Result<Entry> {
        let manifest = Manifest::new(snapshot, volume_gib, holds);
        manifest.save(&self.dir)?;
        let image = self.image_path(snapshot);
        std::fs::rename(partial, &image).map_err(|e| local_error("write", &image, e))?;
        Ok(Entry { snapshot: snapshot.to_string(), image, manifest })
    }

    /// Copies the cached image into `to` (a sparse file of the snapshot's size), checking every
    /// block against the manifest. On a mismatch the entry is dropped from the cache and the
    /// error says which block.
    pub fn checkout(&self, entry: &Entry, to: &Path) -> Result<()> {
        let digests = entry.manifest.digests()?;
        let source = File::open(&entry.image).map_err(|e| local_error("open", &entry.image, e))?;
        let target = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(to)
            .map_err(|e| local_error("create", to, e))?;
        target.set_len(entry.manifest.volume_gib * GIB).map_err(|e| local_error("size", to, e))?;
        let mut block = vec![0; BLOCK_SIZE];
        for (index, digest) in &digests {
            let offset = index * BLOCK_SIZE as u64;
            let read = source.read_exact_at(&mut block, offset);
            if read.is_err() || blocks::digest(&block) != *digest {
                self.remove(&entry.snapshot);
                let _ = std::fs::remove_file(to);
                return Err(Error::CacheCorrupt { path: entry.image.display().to_string(), block: *index });
            }
            target.write_all_at(&block, offset).map_err(|e| local_error("write", to, e))?;
        }
        touch(entry);
        Ok(())
    }

    /// Drops a cached snapshot (image and manifest).
    pub fn remove(&self, snapshot: &str) {
        let _ = std::fs::remove_file(self.image_path(snapshot));
        let _ = std::fs::remove_file(Manifest::path(&self.dir, snapshot));
    }

    /// Every cached snapshot, the least recently used first.
    pub fn list(&self) -> Result<Vec<Listed>> {
        let read = match std::fs::read_dir(&self.dir) {
            Ok(read) => read,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(local_error("read", &self.dir, e)),
        };
        let mut listed = Vec::new();
        for item in read.flatten() {
            let path = item.path();
            let Some(snapshot) =
                path.file_name().and_then(|n| n.to_str()).and_then(|n| n.strip_suffix(".raw"))
            else {
                continue;
            };
            let Some(entry) = self.get(snapshot)? else { continue };
            let used = std::fs::metadata(Manifest::path(&self.dir, snapshot)).and_then(|m| m.modified());
            let idle = used.ok().and_then(|t| SystemTime::now().duration_since(t).ok()).unwrap_or_default();
            listed.push(Listed {
                snapshot_id: entry.snapshot,
                path: entry.image.display().to_string(),
                volume_gib: entry.manifest.volume_gib,
                blocks: entry.manifest.blocks.len() as u64,
                disk_bytes: on_disk(&entry.image),
                idle_seconds: idle.as_secs(),
            });
        }
        listed.sort_by(|a, b| {
            b.idle_seconds.cmp(&a.idle_seconds).then_with(|| a.snapshot_id.cmp(&b.snapshot_id))
        });
        Ok(listed)
    }

    /// Leftovers of runs that died (unfinished downloads, scratch copies) older than `idle`.
    pub fn leftovers(&self, idle: Duration) -> Vec<PathBuf> {
        let old = |path: &Path| {
            std::fs::metadata(path)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| SystemTime::now().duration_since(t).ok())
                .is_some_and(|age| age >= idle)
        };
        let partial = std::fs::read_dir(&self.dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == PARTIAL));
        let work = std::fs::read_dir(self.dir.join(WORK)).into_iter().flatten().flatten().map(|e| e.path());
        partial.chain(work).filter(|p| old(p)).collect()
    }
}

/// What a (sparse) file takes on disk; 0 for one gone meanwhile.
pub fn on_disk(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.blocks() * 512)
}

/// Marks the entry used now (its manifest's modification time), for `cache prune --idle`.
fn touch(entry: &Entry) {
    let manifest = entry.image.with_extension("json");
    if let Ok(file) = File::options().append(true).open(&manifest) {
        let _ = file.set_modified(SystemTime::now());
    }
}

/// A block written, with its digest.
type Held = (u64, [u8; 32]);

/// Writes into `image` (a checkout of the first snapshot) the blocks `changed` lists, read from
/// `snapshot`, and zeros where it holds none; what the file then holds.
async fn apply_changes(
    aws: &Aws,
    snapshot: &str,
    image: &Path,
    mut digests: Digests,
    changed: &[(i32, Option<String>)],
    workers: usize,
    progress: &dyn Progress,
) -> Result<Digests> {
    let file = OpenOptions::new().write(true).open(image).map_err(|e| local_error("open", image, e))?;
    let transfer = Counter::start(progress, changed.len() as u64 * BLOCK_SIZE as u64, Unit::Bytes);
    let zeros = vec![0; BLOCK_SIZE];
    let fetched: Vec<(i32, Option<Held>)> = stream::iter(changed)
        .map(|(index, token)| {
            let (file, transfer, zeros) = (&file, &transfer, &zeros);
            async move {
                let written = match token {
                    Some(token) => {
                        download::fetch_block(aws, snapshot, (file, image), *index, token, transfer).await?
                    }
                    None => None,
                };
                // Held as zeros, or not held at all: either reads as zeros.
                if written.is_none() {
                    file.write_all_at(zeros, *index as u64 * BLOCK_SIZE as u64)
                        .map_err(|e| local_error("write", image, e))?;
                }
                Ok::<_, Error>((*index, written))
            }
        })
        .buffer_unordered(workers)
        .try_collect()
        .await?;
    for (index, written) in fetched {
        match written {
            Some((index, digest)) => digests.insert(index, digest),
            None => digests.remove(&(index as u64)),
        };
    }
    Ok(digests)
}
