//! The reverse of an upload: a snapshot's blocks written into a local file, for round-trip
//! checks and for looking inside an AMI's disk. Only the blocks the snapshot holds are fetched
//! and only non-zero ones are written, so the file stays as sparse as the snapshot.

use crate::aws::inventory;
use crate::aws::Aws;
use crate::core::error::Service;
use crate::core::iam::Permission;
use crate::core::ids::SnapshotId;
use crate::core::progress::{Counter, Progress, Unit};
use crate::error::{Error, Result};
use crate::transfer::blocks::{self, BLOCK_SIZE, GIB};
use crate::transfer::image_file::local_error;
use crate::transfer::manifest::Digests;
use futures::stream::{self, StreamExt, TryStreamExt};
use schemars::JsonSchema;
use serde::Serialize;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::Instant;

/// Reading a snapshot's blocks through the EBS direct APIs.
pub const IAM: &[Permission] =
    &[Permission::new(Service::Ebs, "ListSnapshotBlocks"), Permission::new(Service::Ebs, "GetSnapshotBlock")];

/// ListSnapshotBlocks and ListChangedBlocks return at most 10,000 blocks a page (5 GiB of data).
const PAGE_SIZE: i32 = 10_000;

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Downloaded {
    pub snapshot_id: String,
    pub path: String,
    pub volume_gib: u64,
    pub blocks_written: u64,
    /// Blocks the snapshot holds as zeros, or does not hold at all: left as holes.
    pub blocks_sparse: u64,
    pub seconds: f64,
    pub mib_per_second: f64,
    /// What the file holds, block by block (its manifest).
    #[serde(skip)]
    pub holds: Digests,
}

/// Writes the snapshot into `path` (created; an existing file is replaced only with `force`).
pub async fn download(
    aws: &Aws,
    snapshot: &SnapshotId,
    path: &Path,
    workers: usize,
    force: bool,
    progress: &dyn Progress,
) -> Result<Downloaded> {
    let started = Instant::now();
    // The EBS direct APIs answer an unknown id less clearly than EC2 does.
    if inventory::snapshots_by_id(aws, &[snapshot.to_string()]).await?.is_empty() {
        return Err(Error::SnapshotNotFound { id: snapshot.to_string(), region: aws.region().to_string() });
    }
    let (volume_gib, listed) = list_blocks(aws, snapshot.as_str()).await?;
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .create_new(!force)
        .truncate(true)
        .open(path)
        .map_err(|e| local_error("create", path, e))?;
    let written = async {
        // The full length first, so every block not written reads as zeros (a hole).
        file.set_len(volume_gib * GIB).map_err(|e| local_error("size", path, e))?;
        progress.phase(&format!("downloading {} blocks of {snapshot} ({volume_gib} GiB)", listed.len()));
        let transfer = Counter::start(progress, listed.len() as u64 * BLOCK_SIZE as u64, Unit::Bytes);
        let written: Vec<Option<(u64, [u8; 32])>> = stream::iter(&listed)
            .map(|(index, token)| {
                fetch_block(aws, snapshot.as_str(), (&file, path), *index, token, &transfer)
            })
            .buffer_unordered(workers)
            .try_collect()
            .await?;
        Ok::<_, Error>(written.into_iter().flatten().collect::<Digests>())
    }
    .await
    .inspect_err(|_| {
        // A partial image would pass for a whole one later.
        let _ = std::fs::remove_file(path);
    })?;
    let seconds = started.elapsed().as_secs_f64();
    let total_blocks = volume_gib * GIB / BLOCK_SIZE as u64;
    Ok(Downloaded {
        snapshot_id: snapshot.to_string(),
        path: path.display().to_string(),
        volume_gib,
        blocks_written: written.len() as u64,
        blocks_sparse: total_blocks - written.len() as u64,
        seconds,
        mib_per_second: (volume_gib * GIB) as f64 / (1024.0 * 1024.0) / seconds.max(f64::EPSILON),
        holds: written,
    })
}

/// Every block the snapshot holds, with the token GetSnapshotBlock needs, following pages.
pub(crate) async fn list_blocks(aws: &Aws, snapshot: &str) -> Result<(u64, Vec<(i32, String)>)> {
    let pages: Vec<_> = aws
        .ebs()
        .list_snapshot_blocks()
        .snapshot_id(snapshot)
        .max_results(PAGE_SIZE)
        .into_paginator()
        .send()
        .try_collect()
        .await
        .map_err(|e| aws.error("ListSnapshotBlocks", Service::Ebs, e))?;
    let volume_gib = pages.last().and_then(|page| page.volume_size()).unwrap_or_default() as u64;
    let blocks = pages.iter().flat_map(|page| page.blocks());
    Ok((volume_gib, blocks.filter_map(|b| Some((b.block_index()?, b.block_token()?.to_string()))).collect()))
}

/// The blocks of `second` that differ from `first`'s (two snapshots of one lineage), each with
/// the token that reads it from `second`, none where `second` holds no block there (it reads as
/// zeros), following pages.
pub(crate) async fn changed_blocks(
    aws: &Aws,
    first: &str,
    second: &str,
) -> Result<Vec<(i32, Option<String>)>> {
    let pages: Vec<_> = aws
        .ebs()
        .list_changed_blocks()
        .first_snapshot_id(first)
        .second_snapshot_id(second)
        .max_results(PAGE_SIZE)
        .into_paginator()
        .send()
        .try_collect()
        .await
        .map_err(|e| aws.error("ListChangedBlocks", Service::Ebs, e))?;
    Ok(pages
        .iter()
        .flat_map(|page| page.changed_blocks())
        .filter_map(|b| Some((b.block_index()?, b.second_block_token().map(str::to_string))))
        .collect())
}

/// What `snapshot` holds, block by block, read back whole through GetSnapshotBlock: for an
/// upload against a parent whose manifest and image are both out of reach.
pub async fn digests(aws: &Aws, snapshot: &str, workers: usize, progress: &dyn Progress) -> Result<Digests> {
    let (_, listed) = list_blocks(aws, snapshot).await?;
    progress.phase(&format!(
        "reading the {} blocks of {snapshot} back to compare (a full read: keep its manifest, or pass \
         --parent-image, to skip it next time)",
        listed.len()
    ));
    let transfer = Counter::start(progress, listed.len() as u64 * BLOCK_SIZE as u64, Unit::Bytes);
    stream::iter(&listed)
        .map(|(index, token)| async {
            let data = read_block(aws, snapshot, *index, token).await?;
            transfer.add(BLOCK_SIZE as u64);
            Ok::<_, Error>((*index as u64, blocks::digest(&data)))
        })
        .buffer_unordered(workers)
        .try_collect()
        .await
}

/// Fetches one block, checks its SHA-256, and writes it unless it is all zeros: its digest when
/// written.
pub(crate) async fn fetch_block(
    aws: &Aws,
    snapshot: &str,
    (file, path): (&File, &Path),
    index: i32,
    token: &str,
    transfer: &Counter<'_>,
) -> Result<Option<(u64, [u8; 32])>> {
    let data = read_block(aws, snapshot, index, token).await?;
    transfer.add(BLOCK_SIZE as u64);
    if blocks::is_zero(&data) {
        return Ok(None);
    }
    file.write_all_at(&data, index as u64 * BLOCK_SIZE as u64).map_err(|e| local_error("write", path, e))?;
    Ok(Some((index as u64, blocks::digest(&data))))
}

/// One block's data, its SHA-256 checked against the checksum EBS sent with it.
async fn read_block(aws: &Aws, snapshot: &str, index: i32, token: &str) -> Result<Vec<u8>> {
    let output = aws
        .ebs()
        .get_snapshot_block()
        .snapshot_id(snapshot)
        .block_index(index)
        .block_token(token)
        .send()
        .await
        .map_err(|e| aws.error("GetSnapshotBlock", Service::Ebs, e))?;
    let checksum = output.checksum().map(str::to_string);
    let data = output
        .block_data
        .collect()
        .await
        .map_err(|e| Error::Sdk { operation: "GetSnapshotBlock", detail: e.to_string() })?
        .into_bytes();
    if checksum.is_some_and(|c| c != blocks::checksum(&data)) {
        return Err(Error::ChecksumMismatch { snapshot: snapshot.to_string(), block: index });
    }
    Ok(data.into())
}
