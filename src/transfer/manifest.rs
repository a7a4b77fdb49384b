//! What a snapshot holds, block by block: the SHA-256 of every 512 KiB block it stores (those
//! with data; an encrypted snapshot stores its zero blocks too). Each upload writes one beside it
//! (keyed by the snapshot's id), so that the next upload against that snapshot as its parent sends
//! only the blocks whose content changed, without reading anything back from AWS.

use crate::error::{Error, Result};
use crate::transfer::blocks;
use crate::transfer::image_file::{local_error, ImageFile};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The digests of a snapshot's blocks that hold data, by block index; a block absent reads as
/// zeros.
pub type Digests = BTreeMap<u64, [u8; 32]>;

/// Written as JSON, the digests in base64 as the EBS direct APIs spell checksums.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub snapshot_id: String,
    pub volume_gib: u64,
    pub blocks: BTreeMap<u64, String>,
}

/// Where manifests live unless `--manifest-dir` says otherwise: the platform's user cache
/// (`~/.cache/gio-ami/manifests` on Linux, `~/Library/Caches/gio-ami/manifests` on macOS).
pub fn default_dir() -> Option<PathBuf> {
    dirs::cache_dir().map(|cache| cache.join("gio-ami").join("manifests"))
}

impl Manifest {
    pub fn new(snapshot_id: &str, volume_gib: u64, digests: &Digests) -> Manifest {
        let blocks = digests.iter().map(|(index, digest)| (*index, blocks::encode(digest))).collect();
        Manifest { snapshot_id: snapshot_id.to_string(), volume_gib, blocks }
    }

    pub fn path(dir: &Path, snapshot_id: &str) -> PathBuf {
        dir.join(format!("{snapshot_id}.json"))
    }

    /// The manifest of `snapshot_id` in `dir`, if one was written there.
    pub fn load(dir: &Path, snapshot_id: &str) -> Result<Option<Manifest>> {
        let path = Manifest::path(dir, snapshot_id);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(local_error("read", &path, e)),
        };
        let manifest: Manifest = serde_json::from_str(&text)
            .map_err(|e| Error::BadManifest { path: path.display().to_string(), why: e.to_string() })?;
        if manifest.snapshot_id != snapshot_id {
            let why = format!("it describes {}", manifest.snapshot_id);
            return Err(Error::BadManifest { path: path.display().to_string(), why });
        }
        Ok(Some(manifest))
    }

    /// Writes the manifest into `dir` (created if missing), whole or not at all.
    pub fn save(&self, dir: &Path) -> Result<PathBuf> {
        std::fs::create_dir_all(dir).map_err(|e| local_error("create", dir, e))?;
        let path = Manifest::path(dir, &self.snapshot_id);
        let partial = path.with_extension("json.partial");
        let text = serde_json::to_string(self)
            .map_err(|e| Error::BadManifest { path: path.display().to_string(), why: e.to_string() })?;
        std::fs::write(&partial, text).map_err(|e| local_error("write", &partial, e))?;
        std::fs::rename(&partial, &path).map_err(|e| local_error("write", &path, e))?;
        Ok(path)
    }

    pub fn digests(&self) -> Result<Digests> {
        self.blocks
            .iter()
            .map(|(index, encoded)| Ok((*index, blocks::decode(encoded).ok_or_else(|| self.bad(*index))?)))
            .collect()
    }

    fn bad(&self, index: u64) -> Error {
        Error::BadManifest {
            path: format!("the manifest of {}", self.snapshot_id),
            why: format!("block {index} has no valid SHA-256"),
        }
    }
}

/// The digests of an image file's blocks with data: what a snapshot uploaded from it holds.
pub fn of_image(image: &ImageFile) -> Result<Digests> {
    let mut digests = Digests::new();
    for index in 0..blocks::block_count(image.size) {
        let block = image.block(index)?;
        if !blocks::is_zero(&block) {
            digests.insert(index, blocks::digest(&block));
        }
    }
    Ok(digests)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manifest_round_trips_and_names_its_snapshot() {
        let dir = std::env::temp_dir().join(format!("gio-ami-manifest-{}", std::process::id()));
        let digests = Digests::from([(0, [1; 32]), (7, [2; 32])]);
        let written = Manifest::new("snap-0123456789abcdef0", 2, &digests).save(&dir).unwrap();
        let read = Manifest::load(&dir, "snap-0123456789abcdef0").unwrap().unwrap();
        assert_eq!(read.digests().unwrap(), digests);
        assert_eq!(Manifest::load(&dir, "snap-0123456789abcdef1").unwrap(), None);
        std::fs::copy(&written, Manifest::path(&dir, "snap-0123456789abcdef1")).unwrap();
        let err = Manifest::load(&dir, "snap-0123456789abcdef1").unwrap_err().to_string();
        assert!(err.contains("it describes snap-0123456789abcdef0"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
